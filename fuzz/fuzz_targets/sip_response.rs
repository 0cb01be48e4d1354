//! Arbitrary bytes into the registration machine: raw datagrams and stream reads, timeouts,
//! transport failures, and responses that match the phone's last request (so the fuzzer
//! reaches the challenge, 423, 3xx, 503 and refresh paths) with arbitrary status lines and
//! headers. Invariants: no panic, every input yields a finite number of outputs, and every
//! chunk that parses as a response keeps the parser's promises (a 3-digit status within
//! 100–699, no control character in any header value, agreeing Content-Lengths).
//! (`sip_client` drives the same machine through the transcript harness with more oracles.)
#![no_main]

use core::convert::Infallible;

use libfuzzer_sys::fuzz_target;
use phone_sip_reg::message::{self, HeaderName, Message};
use phone_sip_reg::rand_core::TryRng;
use phone_sip_reg::{Client, Command, Config, Input, Instant, Output, Transmit};

/// A small deterministic generator (the machine only needs rand_core's traits).
struct XorShift(u64);

impl TryRng for XorShift {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.try_next_u32()? as u8;
        }
        Ok(())
    }
}

/// The parser's promises for any bytes that parse as a response.
fn check_parse(data: &[u8]) {
    if let Ok(Message::Response(r)) = message::parse(data) {
        assert!((100..=699).contains(&r.status));
        for h in &r.headers.0 {
            assert!(
                !h.value.chars().any(|c| c.is_ascii_control() && c != '\t'),
                "control character kept in {:?}",
                h.value
            );
        }
        let lengths: Vec<&str> = r.headers.all(&HeaderName::ContentLength).collect();
        if let Some(first) = lengths.first() {
            let n: Option<usize> = first.trim().parse().ok();
            assert!(lengths.iter().all(|l| l.trim().parse::<usize>().ok() == n));
            assert_eq!(Some(r.body.len()), n);
        }
    }
}

fn drain(c: &mut Client<XorShift>, last: &mut [Option<Transmit>]) -> Instant {
    for _ in 0..10_000 {
        match c.poll_output() {
            Output::Transmit(t) => {
                if let Some(slot) = last.get_mut(t.controller) {
                    *slot = Some(t);
                }
            }
            Output::Event(_) => {}
            Output::Timeout(t) => return t,
        }
    }
    panic!("unbounded outputs");
}

/// A response to `t`'s request: its Via/From/To/Call-ID/CSeq, then the fuzzer's start-line
/// tail and headers.
fn matching_response(t: &Transmit, tail: &[u8]) -> Option<Vec<u8>> {
    let Ok(Message::Request(r)) = message::parse(&t.payload) else {
        return None;
    };
    let mut out = b"SIP/2.0 ".to_vec();
    let (status, rest) = match tail.iter().position(|b| *b == b'\n') {
        Some(p) => (&tail[..p], &tail[p + 1..]),
        None => (tail, &[][..]),
    };
    out.extend_from_slice(status);
    out.extend_from_slice(b"\r\n");
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        for v in r.headers.all(&name) {
            out.extend_from_slice(format!("{}: {v}\r\n", name.as_str()).as_bytes());
        }
    }
    out.extend_from_slice(rest);
    out.extend_from_slice(b"\r\n\r\n");
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let mut cfg = Config::default();
    if cfg
        .apply_setting(
            "SIP_CONTROLLER_LIST",
            "10.0.0.1;transport=udp,10.0.0.2;transport=tcp,10.0.0.3",
        )
        .is_err()
    {
        return;
    }
    cfg.domain = "lab.test".into();
    cfg.user = "1001".into();
    cfg.password = Some("pw".into());
    cfg.local_host = "10.0.0.100".into();
    if data.first().is_some_and(|b| b & 1 == 1) {
        let _ = cfg.apply_setting("SIPREGPROXYPOLICY", "simultaneous");
    }
    let mut now = Instant::ZERO;
    let mut c = Client::new(cfg, XorShift(0x9E37_79B9_7F4A_7C15), now);
    let mut last: Vec<Option<Transmit>> = vec![None, None, None];
    let mut deadline = drain(&mut c, &mut last);
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut steps = 0;
    while rest.len() >= 3 && steps < 64 {
        steps += 1;
        let op = rest[0];
        let len = usize::from(rest[1]).min(rest.len() - 2);
        let chunk = &rest[2..2 + len];
        rest = &rest[2 + len..];
        let ctl = usize::from(op >> 4) % 4; // 3 = out of range on purpose
        match op & 0x7 {
            0 => {
                // Jump to the machine's deadline (or a bit past it).
                if deadline != Instant::MAX {
                    now = now.max(deadline);
                }
                c.handle_input(Input::Timeout(now));
            }
            1 | 2 => {
                check_parse(chunk);
                c.handle_input(Input::Receive(now, ctl, chunk));
            }
            3 => c.handle_input(Input::TransportFailed(now, ctl)),
            4 | 5 | 6 => {
                if let Some(Some(t)) = last.get(ctl).cloned() {
                    if let Some(resp) = matching_response(&t, chunk) {
                        check_parse(&resp);
                        c.handle_input(Input::Receive(now, ctl, &resp));
                    }
                }
            }
            _ => {
                if chunk.first().is_some_and(|b| *b == 0) {
                    c.handle_input(Input::Command(now, Command::Unregister));
                } else {
                    let pw = String::from_utf8_lossy(chunk);
                    c.handle_input(Input::Command(
                        now,
                        Command::Credentials {
                            user: "1001",
                            password: &pw,
                        },
                    ));
                }
            }
        }
        deadline = drain(&mut c, &mut last);
    }
});
