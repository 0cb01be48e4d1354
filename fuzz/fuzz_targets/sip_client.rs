//! phone-sip-reg's Client through the shared transcript harness: three controllers (UDP, TCP,
//! TLS), answers built on the last request sent to a controller (its Via, From, To, Call-ID
//! and CSeq, so challenges, 423s, 3xx, 503s and refreshes are reached) with an arbitrary status
//! line and arbitrary header lines (challenges whose quoted values hold any byte, Contact
//! expiries, Retry-After, Min-Expires), raw bytes split at arbitrary points, failed sends,
//! closes, time steps, credentials and un-REGISTER.
//!
//! Oracles: no panic; at most 64 outputs per input, the deadline never in the past and equal
//! to `poll_timeout` (the harness); every request parses as a REGISTER whose header section
//! holds no control byte but CRLF line ends, one Call-ID per controller and a CSeq that never
//! goes back; a REGISTER sent in answer to a 401/407 carries (Proxy-)Authorization; requests
//! started by timers (refresh, Retry-After, recovery) come at most 8 per controller per second
//! (the floor under server-dictated delays); and the same seed and inputs give the same
//! transcript.
#![no_main]

use std::convert::Infallible;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use phone_sansio::harness::{Logged, Transcript};
use phone_sansio::{Input, Instant};
use phone_sip_reg::message::{self, HeaderName, Message, Request};
use phone_sip_reg::rand_core::TryRng;
use phone_sip_reg::{Client, Command, Config, Event, Transmit};

const CONTROLLERS: usize = 3;
/// Timer-started new requests allowed per controller in any one second.
const MAX_TIMED_PER_SECOND: usize = 8;

/// A deterministic RNG (splitmix64).
struct Mix(u64);

impl TryRng for Mix {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}

/// A status line after `SIP/2.0 `.
#[derive(Arbitrary, Debug, Clone)]
enum Status {
    Ok,
    Challenge,
    ProxyChallenge,
    IntervalTooBrief,
    Redirect,
    Unavailable,
    Code(u16),
    Raw(Vec<u8>),
}

/// One header line of an answer.
#[derive(Arbitrary, Debug, Clone)]
enum Hdr {
    /// A digest challenge; `realm` and `nonce` are put between quotes as they are.
    Challenge {
        proxy: bool,
        algorithm: u8,
        qop: u8,
        stale: bool,
        realm: Vec<u8>,
        nonce: Vec<u8>,
    },
    /// Our Contact with an expires parameter.
    Contact(u32),
    /// A 3xx target.
    Target { tcp: bool, host: u8 },
    Expires(u32),
    MinExpires(u32),
    RetryAfter(u32),
    ContentLength(u8),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    /// An answer to the last request sent to controller `ctl`.
    Answer {
        ctl: u8,
        status: Status,
        headers: Vec<Hdr>,
        no_length: bool,
    },
    /// Raw bytes from `ctl`, in two reads cut at `cut`.
    Raw { ctl: u8, data: Vec<u8>, cut: u16 },
    Failed(u8),
    Closed(u8),
    Connected(u8),
    Wait(u16),
    WaitToDeadline,
    Credentials { good_user: bool, password: String },
    Unregister,
}

#[derive(Arbitrary, Debug)]
struct Case {
    seed: u64,
    simultaneous: bool,
    ops: Vec<Op>,
}

fn req(t: &Transmit) -> Request {
    match message::parse(&t.payload) {
        Ok(Message::Request(r)) => r,
        other => panic!("the phone sent something that is no request: {other:?}"),
    }
}

fn clean_header_section(payload: &[u8]) -> bool {
    let end = payload
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(payload.len(), |p| p + 4);
    let head = &payload[..end];
    head.iter().enumerate().all(|(i, &b)| match b {
        b'\r' => head.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && head[i - 1] == b'\r',
        b'\t' => true,
        b => !b.is_ascii_control(),
    })
}

fn answer(last: &Transmit, status: &Status, headers: &[Hdr], no_length: bool) -> Vec<u8> {
    let r = req(last);
    let mut out = b"SIP/2.0 ".to_vec();
    match status {
        Status::Ok => out.extend_from_slice(b"200 OK"),
        Status::Challenge => out.extend_from_slice(b"401 Unauthorized"),
        Status::ProxyChallenge => out.extend_from_slice(b"407 Proxy Authentication Required"),
        Status::IntervalTooBrief => out.extend_from_slice(b"423 Interval Too Brief"),
        Status::Redirect => out.extend_from_slice(b"302 Moved Temporarily"),
        Status::Unavailable => out.extend_from_slice(b"503 Service Unavailable"),
        Status::Code(c) => out.extend_from_slice(format!("{} X", c % 1000).as_bytes()),
        Status::Raw(b) => out.extend_from_slice(b),
    }
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
    for h in headers.iter().take(8) {
        match h {
            Hdr::Challenge {
                proxy,
                algorithm,
                qop,
                stale,
                realm,
                nonce,
            } => {
                let name: &[u8] = if *proxy {
                    b"Proxy-Authenticate"
                } else {
                    b"WWW-Authenticate"
                };
                let alg = ["MD5", "SHA-256", "SHA-512-256-sess", "MD5-sess", "SHA-1"]
                    [usize::from(*algorithm % 5)];
                let qop = ["", ", qop=\"auth\"", ", qop=\"auth-int\"", ", qop=\"x\""]
                    [usize::from(*qop % 4)];
                out.extend_from_slice(name);
                out.extend_from_slice(b": Digest realm=\"");
                out.extend_from_slice(&realm[..realm.len().min(40)]);
                out.extend_from_slice(b"\", nonce=\"");
                out.extend_from_slice(&nonce[..nonce.len().min(40)]);
                out.extend_from_slice(format!("\", algorithm={alg}{qop}").as_bytes());
                if *stale {
                    out.extend_from_slice(b", stale=true");
                }
            }
            Hdr::Contact(e) => {
                let c = r.headers.get(&HeaderName::Contact).unwrap_or("<sip:x@y>");
                out.extend_from_slice(format!("Contact: {c};expires={e}").as_bytes());
            }
            Hdr::Target { tcp, host } => {
                let t = if *tcp { ";transport=tcp" } else { "" };
                out.extend_from_slice(format!("Contact: <sip:10.9.0.{host}{t}>").as_bytes());
            }
            Hdr::Expires(e) => out.extend_from_slice(format!("Expires: {e}").as_bytes()),
            Hdr::MinExpires(e) => out.extend_from_slice(format!("Min-Expires: {e}").as_bytes()),
            Hdr::RetryAfter(e) => out.extend_from_slice(format!("Retry-After: {e}").as_bytes()),
            Hdr::ContentLength(n) => {
                out.extend_from_slice(format!("Content-Length: {n}").as_bytes());
            }
            Hdr::Raw(b) => out.extend_from_slice(&b[..b.len().min(200)]),
        }
        out.extend_from_slice(b"\r\n");
    }
    if !no_length {
        out.extend_from_slice(b"Content-Length: 0\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What the oracles keep per controller.
#[derive(Default, Clone)]
struct Seen {
    last: Option<Transmit>,
    call_id: Option<String>,
    cseq: u32,
    timed: Vec<Instant>,
}

/// Checks the transmits logged since `from`; `timed` says whether a Timeout started them,
/// `challenged` names a UDP controller just sent a 401/407 (proxy or not).
fn check(
    t: &Transcript<Client<Mix>>,
    from: usize,
    seen: &mut [Seen],
    timed: bool,
    challenged: Option<(usize, bool)>,
) {
    for l in &t.log[from..] {
        let Logged::Transmit(at, x) = l else { continue };
        assert!(
            clean_header_section(&x.payload),
            "{:?}",
            String::from_utf8_lossy(&x.payload)
        );
        let r = req(x);
        assert_eq!(r.method, "REGISTER");
        let s = &mut seen[x.controller];
        let call_id = r.headers.call_id().expect("Call-ID").to_string();
        assert_eq!(s.call_id.get_or_insert(call_id.clone()), &call_id);
        let cseq = r.headers.cseq().expect("CSeq").seq;
        assert!(cseq >= s.cseq, "CSeq went back: {} after {}", cseq, s.cseq);
        let new = cseq > s.cseq;
        s.cseq = cseq;
        s.last = Some(x.clone());
        if !new {
            continue;
        }
        if let Some((ctl, proxy)) = challenged
            && ctl == x.controller
        {
            assert!(
                !r.headers.credentials(proxy).unwrap_or_default().is_empty(),
                "REGISTER without credentials after a challenge: {:?}",
                String::from_utf8_lossy(&x.payload)
            );
        }
        if timed {
            s.timed.push(*at);
            let recent = s
                .timed
                .iter()
                .rev()
                .take_while(|a| *at - **a < Duration::from_secs(1))
                .count();
            assert!(
                recent <= MAX_TIMED_PER_SECOND,
                "controller {}: {recent} timer-started requests within 1 s at {at:?}",
                x.controller
            );
        }
    }
}

fn play(case: &Case) -> Transcript<Client<Mix>> {
    let mut cfg = Config::default();
    cfg.apply_setting(
        "SIP_CONTROLLER_LIST",
        "10.0.0.1;transport=udp,10.0.0.2;transport=tcp,10.0.0.3",
    )
    .expect("list");
    cfg.apply_setting("SIPDOMAIN", "lab.test").expect("domain");
    if case.simultaneous {
        cfg.apply_setting("SIPREGPROXYPOLICY", "simultaneous")
            .expect("policy");
    }
    cfg.user = "1001".into();
    cfg.password = Some("pw".into());
    cfg.local_host = "10.0.0.100".into();
    let start = Instant::from_secs(1);
    let client = Client::new(cfg, Mix(case.seed), start);
    let mut t = Transcript::new(client, start);
    t.max_outputs_per_input = 64;
    let mut seen = vec![Seen::default(); CONTROLLERS];
    check(&t, 0, &mut seen, false, None);
    for op in case.ops.iter().take(96) {
        let now = t.now;
        let from = t.log.len();
        let mut timed = false;
        let mut challenged = None;
        match op {
            Op::Answer {
                ctl,
                status,
                headers,
                no_length,
            } => {
                let ctl = usize::from(*ctl) % CONTROLLERS;
                let Some(last) = seen[ctl].last.clone() else {
                    continue;
                };
                let bytes = answer(&last, status, headers, *no_length);
                // The challenge oracle where the machine surely sees this answer alone: a
                // datagram that parses as a 401/407.
                if !last.target.transport.is_reliable()
                    && let Ok(Message::Response(r)) = message::parse(&bytes)
                    && (r.status == 401 || r.status == 407)
                {
                    challenged = Some((ctl, r.status == 407));
                }
                t.input(Input::Receive(now, ctl, &bytes));
            }
            Op::Raw { ctl, data, cut } => {
                let ctl = usize::from(*ctl) % (CONTROLLERS + 1);
                let cut = usize::from(*cut) % (data.len() + 1);
                t.input(Input::Receive(now, ctl, &data[..cut]));
                check(&t, from, &mut seen, false, None);
                let from = t.log.len();
                t.input(Input::Receive(now, ctl, &data[cut..]));
                check(&t, from, &mut seen, false, None);
                continue;
            }
            Op::Failed(ctl) => {
                t.input(Input::TransportFailed(now, usize::from(*ctl) % 4));
            }
            Op::Closed(ctl) => {
                t.input(Input::Closed(now, usize::from(*ctl) % 4));
            }
            Op::Connected(ctl) => {
                t.input(Input::Completed(now, usize::from(*ctl) % 4));
            }
            Op::Wait(ms) => {
                timed = true;
                t.input(Input::Timeout(now + Duration::from_millis(u64::from(*ms))));
            }
            Op::WaitToDeadline => {
                timed = true;
                if t.deadline != Instant::MAX {
                    t.input(Input::Timeout(t.deadline));
                }
            }
            Op::Credentials {
                good_user,
                password,
            } => {
                let user = if *good_user { "1001" } else { "10\r\n01" };
                t.input(Input::Command(
                    now,
                    Command::Credentials {
                        user,
                        password: password.as_str(),
                    },
                ));
            }
            Op::Unregister => {
                t.input(Input::Command(now, Command::Unregister));
            }
        }
        check(&t, from, &mut seen, timed, challenged);
    }
    // Stopped is for good: said once, and no deadline after it.
    if t.machine.is_stopped() {
        assert_eq!(t.deadline, Instant::MAX);
        let stops = t
            .events()
            .iter()
            .filter(|e| matches!(e, Event::Stopped))
            .count();
        assert_eq!(stops, 1);
    }
    t
}

fuzz_target!(|case: Case| {
    let a = play(&case);
    let b = play(&case);
    assert!(a.log == b.log, "same seed and inputs, different transcript");
});
