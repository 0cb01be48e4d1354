//! Transcript tests in virtual time: inputs at given instants, the exact outputs asserted.
//! The registrar side is a few lines of test code answering the phone's REGISTERs; digest
//! answers are verified by recomputing them from the challenge the test sent.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use core::time::Duration;

use phone_settings::Instant;
use phone_sip_reg::digest::{self, Answer, Challenge, Credentials};
use phone_sip_reg::message::{self, HeaderName, Headers, Message, Request, Response};
use phone_sip_reg::{
    Client, Config, CredentialsReason, Event, FailbackPolicy, Failure, Input, Output, ProxyPolicy,
    RegistrationState, Transmit,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

struct Phone {
    c: Client<ChaCha8Rng>,
    now: Instant,
    tx: Vec<Transmit>,
    ev: Vec<Event>,
    deadline: Instant,
}

fn config(list: &str) -> Config {
    let mut cfg = Config::default();
    cfg.apply_setting("SIP_CONTROLLER_LIST", list).unwrap();
    cfg.apply_setting("SIPDOMAIN", "lab.test").unwrap();
    cfg.user = "1001".into();
    cfg.password = Some("secret".into());
    cfg.local_host = "10.77.0.100".into();
    cfg
}

impl Phone {
    fn new(cfg: Config, seed: u64) -> Self {
        let mut p = Phone {
            c: Client::new(cfg, ChaCha8Rng::seed_from_u64(seed)),
            now: Instant::ZERO,
            tx: Vec::new(),
            ev: Vec::new(),
            deadline: Instant::MAX,
        };
        p.input(Input::Timeout(Instant::ZERO));
        if p.ev.iter().all(|e| matches!(e, Event::Registering { .. })) {
            p.ev.clear();
        }
        p
    }

    fn drain(&mut self) {
        loop {
            match self.c.poll_output() {
                Output::Transmit(t) => self.tx.push(t),
                Output::Event(e) => self.ev.push(e),
                Output::Timeout(t) => {
                    self.deadline = t;
                    return;
                }
            }
        }
    }

    fn input(&mut self, i: Input<'_>) {
        self.c.handle_input(i);
        self.drain();
    }

    /// Advance to `t`, firing every deadline on the way.
    fn run_until(&mut self, t: Instant) {
        while self.deadline <= t {
            self.now = self.deadline;
            self.input(Input::Timeout(self.now));
        }
        self.now = t;
    }

    fn take_tx(&mut self) -> Vec<Transmit> {
        std::mem::take(&mut self.tx)
    }

    fn take_ev(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.ev)
    }

    /// Answer a request from controller `ctl` (datagram or stream by its transport).
    fn answer(&mut self, t: &Transmit, resp: &Response) {
        let bytes = resp.to_bytes();
        let now = self.now;
        if t.target.transport.is_reliable() {
            self.input(Input::Stream {
                now,
                controller: t.controller,
                data: &bytes,
            });
        } else {
            self.input(Input::Datagram {
                now,
                controller: t.controller,
                data: &bytes,
            });
        }
    }
}

fn req(t: &Transmit) -> Request {
    match message::parse(&t.payload).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("phone sent a response"),
    }
}

/// A response to `r` copying Via, From, To (with a tag), Call-ID and CSeq (RFC 3261 §8.2.6.2).
fn response(r: &Request, status: u16, extra: &[(HeaderName, String)]) -> Response {
    let mut h = Headers::default();
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        for v in r.headers.all(&name) {
            let v = if name == HeaderName::To {
                format!("{v};tag=reg1")
            } else {
                v.to_string()
            };
            h.push(name.clone(), v);
        }
    }
    for (n, v) in extra {
        h.push(n.clone(), v.clone());
    }
    Response {
        status,
        reason: "Test".into(),
        headers: h,
        body: Vec::new(),
    }
}

fn ok(r: &Request, expires: u32) -> Response {
    let contact = r.headers.get(&HeaderName::Contact).unwrap().to_string();
    response(
        r,
        200,
        &[(HeaderName::Contact, format!("{contact};expires={expires}"))],
    )
}

fn expires_of(r: &Request) -> u32 {
    r.headers.expires().unwrap().unwrap()
}

/// Verify the digest answer in `r` against `ch` and the password, and return it.
fn verify(r: &Request, proxy: bool, ch: &Challenge, password: &str) -> Credentials {
    let creds = r.headers.credentials(proxy).unwrap();
    assert_eq!(creds.len(), 1, "one answer");
    let c = creds.into_iter().next().unwrap();
    assert_eq!(c.realm, ch.realm);
    assert_eq!(c.nonce, ch.nonce);
    assert_eq!(c.algorithm, ch.algorithm);
    assert_eq!(c.uri, r.uri);
    let want = digest::respond(
        ch,
        &Answer {
            username: &c.username,
            password,
            method: "REGISTER",
            uri: &r.uri,
            body: b"",
            cnonce: c.cnonce.as_deref().unwrap_or(""),
            nc: c.nc.unwrap_or(1),
        },
    )
    .unwrap();
    assert_eq!(c.response, want.response, "digest response");
    c
}

fn challenge(alg: &str, nonce: &str, stale: bool) -> Challenge {
    let s = format!(
        "Digest realm=\"lab.test\", nonce=\"{nonce}\", algorithm={alg}, qop=\"auth,auth-int\"{}",
        if stale { ", stale=true" } else { "" }
    );
    Challenge::parse(&s).unwrap()
}

fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

#[test]
fn udp_retransmissions_then_timer_f_then_recovery() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 1);
    let first = p.take_tx();
    assert_eq!(first.len(), 1);
    let mut times = vec![0.0];
    let mut all = first.clone();
    while p.deadline < secs(32) {
        p.run_until(p.deadline);
        for t in p.take_tx() {
            times.push(p.now.as_micros() as f64 / 1e6);
            all.push(t);
        }
    }
    // §17.1.2.2: T1 doubling to T2 = 4 s: 0, 0.5, 1.5, 3.5, 7.5, then every 4 s.
    assert_eq!(
        times,
        [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    );
    assert!(
        all.iter().all(|t| t.payload == first[0].payload),
        "retransmissions are identical"
    );
    assert!(p.take_ev().is_empty());
    p.run_until(secs(32));
    let ev = p.take_ev();
    assert_eq!(
        ev[0],
        Event::ControllerFailed {
            controller: 0,
            cause: Failure::Timeout
        }
    );
    let Event::RegistrationFailed { retry_at: Some(at) } = ev[1] else {
        panic!("{ev:?}")
    };
    // §4.5: a random 50–90 % of RECOVERYREGISTERWAIT (60 s).
    assert!(at >= secs(32 + 30) && at <= secs(32 + 54), "{at:?}");
    assert_eq!(p.deadline, at);
    p.run_until(at);
    let again = p.take_tx();
    assert_eq!(again.len(), 1);
    let (r0, r1) = (req(&first[0]), req(&again[0]));
    assert_eq!(r0.headers.call_id(), r1.headers.call_id(), "same Call-ID");
    assert_eq!(
        r1.headers.cseq().unwrap().seq,
        r0.headers.cseq().unwrap().seq + 1
    );
    assert_ne!(
        r0.headers.top_via().unwrap().branch,
        r1.headers.top_via().unwrap().branch
    );
}

#[test]
fn tcp_has_no_retransmissions_and_timer_f_is_wait_for_registration_timer() {
    let mut cfg = config("10.0.0.1;transport=tcp");
    cfg.apply_setting("WAIT_FOR_REGISTRATION_TIMER", "8")
        .unwrap();
    let mut p = Phone::new(cfg, 2);
    assert_eq!(p.take_tx().len(), 1);
    assert_eq!(p.deadline, secs(8));
    p.run_until(secs(8));
    assert!(p.take_tx().is_empty());
    assert_eq!(
        p.take_ev()[0],
        Event::ControllerFailed {
            controller: 0,
            cause: Failure::Timeout
        }
    );
}

/// 401 (WWW-Authenticate → Authorization) and 407 (Proxy-Authenticate → Proxy-Authorization)
/// for every algorithm, over UDP and a TCP stream.
#[test]
fn challenges_per_algorithm() {
    for alg in [
        "MD5",
        "MD5-sess",
        "SHA-256",
        "SHA-256-sess",
        "SHA-512-256",
        "SHA-512-256-sess",
    ] {
        for (status, proxy) in [(401, false), (407, true)] {
            for list in ["10.0.0.1;transport=udp", "10.0.0.1:5070;transport=tcp"] {
                let mut p = Phone::new(config(list), 3);
                let t0 = p.take_tx().remove(0);
                let r0 = req(&t0);
                assert!(r0.headers.credentials(false).unwrap().is_empty());
                let ch = challenge(alg, "n1", false);
                let hdr = if proxy {
                    HeaderName::ProxyAuthenticate
                } else {
                    HeaderName::WwwAuthenticate
                };
                p.answer(&t0, &response(&r0, status, &[(hdr, ch.to_string())]));
                let t1 = p.take_tx().remove(0);
                let r1 = req(&t1);
                let c = verify(&r1, proxy, &ch, "secret");
                assert!(
                    r1.headers.credentials(!proxy).unwrap().is_empty(),
                    "{alg} other header absent"
                );
                assert_eq!(c.nc, Some(1));
                assert_eq!(c.username, "1001");
                assert_eq!(r1.headers.call_id(), r0.headers.call_id());
                assert_eq!(r1.headers.cseq().unwrap().seq, 2);
                p.answer(&t1, &ok(&r1, 900));
                let ev = p.take_ev();
                assert!(
                    ev.contains(&Event::Registered {
                        controller: 0,
                        expires: 900
                    }),
                    "{alg}: {ev:?}"
                );
                assert!(ev.contains(&Event::ActiveController(Some(0))));
                assert_eq!(p.c.active(), Some(0));
            }
        }
    }
}

#[test]
fn strongest_challenge_wins_and_nc_counts_then_stale_nonce() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 4);
    let t0 = p.take_tx().remove(0);
    let r0 = req(&t0);
    let md5 = challenge("MD5", "n1", false);
    let sha = challenge("SHA-256", "n1", false);
    p.answer(
        &t0,
        &response(
            &r0,
            401,
            &[
                (HeaderName::WwwAuthenticate, md5.to_string()),
                (HeaderName::WwwAuthenticate, sha.to_string()),
            ],
        ),
    );
    let t1 = p.take_tx().remove(0);
    let r1 = req(&t1);
    let c1 = verify(&r1, false, &sha, "secret");
    assert_eq!(c1.nc, Some(1));
    p.answer(&t1, &ok(&r1, 100));
    // Refreshes reuse the nonce: nc 2, 3 with fresh cnonces (RFC 7616 §3.4).
    let mut cnonces = vec![c1.cnonce.clone().unwrap()];
    for want_nc in [2, 3] {
        p.run_until(p.deadline);
        let t = p.take_tx().remove(0);
        let r = req(&t);
        let c = verify(&r, false, &sha, "secret");
        assert_eq!(c.nc, Some(want_nc));
        assert!(!cnonces.contains(c.cnonce.as_ref().unwrap()));
        cnonces.push(c.cnonce.unwrap());
        assert!(String::from_utf8_lossy(&t.payload).contains(&format!("nc={want_nc:08x}")));
        if want_nc == 3 {
            // The registrar expired the nonce: stale=true is no rejection; the phone answers the
            // new nonce at once with nc=1 and asks nobody for credentials.
            let stale = challenge("SHA-256", "n2", true);
            p.answer(
                &t,
                &response(&r, 401, &[(HeaderName::WwwAuthenticate, stale.to_string())]),
            );
            let t2 = p.take_tx().remove(0);
            let r2 = req(&t2);
            let c2 = verify(&r2, false, &stale, "secret");
            assert_eq!(c2.nc, Some(1));
            p.answer(&t2, &ok(&r2, 100));
            let ev = p.take_ev();
            assert!(
                !ev.iter()
                    .any(|e| matches!(e, Event::CredentialsRequired { .. })),
                "{ev:?}"
            );
            assert!(ev.contains(&Event::Registered {
                controller: 0,
                expires: 100
            }));
        } else {
            p.answer(&t, &ok(&r, 100));
        }
    }
}

#[test]
fn wrong_password_asks_for_credentials_then_registers() {
    let mut cfg = config("10.0.0.1;transport=udp");
    cfg.password = Some("wrong".into());
    let mut p = Phone::new(cfg, 5);
    let t0 = p.take_tx().remove(0);
    let ch = challenge("SHA-256", "n1", false);
    p.answer(
        &t0,
        &response(
            &req(&t0),
            401,
            &[(HeaderName::WwwAuthenticate, ch.to_string())],
        ),
    );
    let t1 = p.take_tx().remove(0);
    verify(&req(&t1), false, &ch, "wrong");
    let ch2 = challenge("SHA-256", "n2", false);
    p.answer(
        &t1,
        &response(
            &req(&t1),
            401,
            &[(HeaderName::WwwAuthenticate, ch2.to_string())],
        ),
    );
    assert!(
        p.take_tx().is_empty(),
        "no third try with the same password"
    );
    let ev = p.take_ev();
    assert_eq!(
        ev[..2],
        [
            Event::CredentialsRequired {
                reason: CredentialsReason::Rejected,
                controller: Some(0),
                realm: Some("lab.test".into())
            },
            Event::ControllerFailed {
                controller: 0,
                cause: Failure::CredentialsRejected {
                    realm: "lab.test".into()
                }
            },
        ]
    );
    // Nothing happens until the user answers the prompt, however long it takes.
    assert_eq!(p.deadline, Instant::MAX);
    p.now = secs(100);
    p.input(Input::Credentials {
        now: secs(100),
        user: "1001",
        password: "secret",
    });
    let t2 = p.take_tx().remove(0);
    let r2 = req(&t2);
    assert!(
        r2.headers.credentials(false).unwrap().is_empty(),
        "old challenge forgotten"
    );
    p.answer(
        &t2,
        &response(&r2, 401, &[(HeaderName::WwwAuthenticate, ch2.to_string())]),
    );
    let t3 = p.take_tx().remove(0);
    verify(&req(&t3), false, &ch2, "secret");
    p.answer(&t3, &ok(&req(&t3), 900));
    assert!(p.take_ev().contains(&Event::Registered {
        controller: 0,
        expires: 900
    }));
}

#[test]
fn forced_credentials_rejected_fail_without_prompt() {
    let mut cfg = config("10.0.0.1;transport=udp");
    cfg.password = None;
    cfg.apply_setting("FORCE_SIP_PASSWORD", "bad").unwrap();
    cfg.apply_setting("FORCE_SIP_USERNAME", "authuser").unwrap();
    let mut p = Phone::new(cfg, 6);
    let t0 = p.take_tx().remove(0);
    let ch = challenge("MD5", "n1", false);
    p.answer(
        &t0,
        &response(
            &req(&t0),
            401,
            &[(HeaderName::WwwAuthenticate, ch.to_string())],
        ),
    );
    let t1 = p.take_tx().remove(0);
    assert_eq!(verify(&req(&t1), false, &ch, "bad").username, "authuser");
    p.answer(
        &t1,
        &response(
            &req(&t1),
            401,
            &[(HeaderName::WwwAuthenticate, ch.to_string())],
        ),
    );
    let ev = p.take_ev();
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::CredentialsRequired { .. }))
    );
    assert_eq!(
        ev.last(),
        Some(&Event::RegistrationFailed { retry_at: None })
    );
}

#[test]
fn missing_password_asks_when_challenged() {
    let mut cfg = config("10.0.0.1;transport=udp");
    cfg.password = None;
    let mut p = Phone::new(cfg, 7);
    let t0 = p.take_tx().remove(0);
    let ch = challenge("MD5", "n1", false);
    p.answer(
        &t0,
        &response(
            &req(&t0),
            401,
            &[(HeaderName::WwwAuthenticate, ch.to_string())],
        ),
    );
    assert!(p.take_ev().contains(&Event::CredentialsRequired {
        reason: CredentialsReason::Missing,
        controller: Some(0),
        realm: Some("lab.test".into())
    }));
    assert!(p.take_tx().is_empty());
}

#[test]
fn interval_too_brief_adopts_min_expires() {
    let mut cfg = config("10.0.0.1;transport=udp");
    cfg.apply_setting("REGISTERWAIT", "60").unwrap();
    let mut p = Phone::new(cfg, 8);
    let t0 = p.take_tx().remove(0);
    assert_eq!(expires_of(&req(&t0)), 60);
    p.answer(
        &t0,
        &response(&req(&t0), 423, &[(HeaderName::MinExpires, "3600".into())]),
    );
    let t1 = p.take_tx().remove(0);
    assert_eq!(expires_of(&req(&t1)), 3600);
    assert_eq!(req(&t1).headers.cseq().unwrap().seq, 2);
    p.answer(&t1, &ok(&req(&t1), 3600));
    // The refresh keeps asking for Min-Expires.
    p.run_until(p.deadline);
    assert_eq!(expires_of(&req(&p.take_tx()[0])), 3600);
    // 423 without a larger Min-Expires is a failure, not a loop.
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 8);
    let t0 = p.take_tx().remove(0);
    p.answer(&t0, &response(&req(&t0), 423, &[]));
    assert!(p.take_tx().is_empty());
    assert!(p.take_ev().contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::IntervalTooBrief
    }));
}

#[test]
fn service_unavailable_with_retry_after_is_honoured() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 9);
    let t0 = p.take_tx().remove(0);
    p.now = secs(1);
    p.answer(
        &t0,
        &response(
            &req(&t0),
            503,
            &[(HeaderName::RetryAfter, "120 (maintenance)".into())],
        ),
    );
    let ev = p.take_ev();
    assert_eq!(
        ev[0],
        Event::ControllerFailed {
            controller: 0,
            cause: Failure::ServiceUnavailable {
                retry_after: Some(120)
            }
        }
    );
    // The recovery search (50–90 % of 60 s) comes first but skips this controller.
    p.run_until(secs(120));
    assert!(p.take_tx().is_empty(), "not before Retry-After");
    p.run_until(secs(121));
    let t1 = p.take_tx();
    assert_eq!(t1.len(), 1);
    assert_eq!(p.now, secs(121));
    p.answer(&t1[0], &ok(&req(&t1[0]), 900));
    assert!(p.take_ev().contains(&Event::Registered {
        controller: 0,
        expires: 900
    }));
}

#[test]
fn service_unavailable_without_retry_after_moves_on_and_fails_back() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp,10.0.0.2;transport=udp"), 10);
    let tx = p.take_tx();
    assert_eq!(
        tx.len(),
        2,
        "§4.2: REGISTER to every controller in parallel"
    );
    p.answer(&tx[0], &response(&req(&tx[0]), 503, &[]));
    p.answer(&tx[1], &ok(&req(&tx[1]), 300));
    let ev = p.take_ev();
    assert!(ev.contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::ServiceUnavailable { retry_after: None }
    }));
    assert!(ev.contains(&Event::ActiveController(Some(1))));
    // At the active controller's refresh, the better controller is probed (§4.6, auto failback).
    let refresh = p.deadline;
    assert!(refresh >= secs(180) && refresh <= secs(270), "{refresh:?}");
    p.run_until(refresh);
    let tx = p.take_tx();
    let mut by_ctl: Vec<_> = tx.iter().map(|t| t.controller).collect();
    by_ctl.sort_unstable();
    assert_eq!(by_ctl, [0, 1]);
    for t in &tx {
        p.answer(t, &ok(&req(t), 300));
    }
    let ev = p.take_ev();
    assert!(ev.contains(&Event::ActiveController(Some(0))), "{ev:?}");
    // The lower registration is removed (alternate policy).
    let un = p.take_tx();
    assert_eq!(un.len(), 1);
    assert_eq!(un[0].controller, 1);
    assert_eq!(expires_of(&req(&un[0])), 0);
    p.answer(&un[0], &ok(&req(&un[0]), 0));
    assert!(p.take_ev().contains(&Event::Unregistered { controller: 1 }));
    assert_eq!(p.c.state(1), Some(RegistrationState::Idle));
}

#[test]
fn forbidden_is_terminal_for_that_controller() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp,10.0.0.2;transport=udp"), 11);
    let tx = p.take_tx();
    p.answer(&tx[0], &response(&req(&tx[0]), 403, &[]));
    p.answer(&tx[1], &response(&req(&tx[1]), 404, &[]));
    let ev = p.take_ev();
    assert!(ev.contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::Forbidden
    }));
    assert!(ev.contains(&Event::ControllerFailed {
        controller: 1,
        cause: Failure::NotFound
    }));
    assert_eq!(
        ev.last(),
        Some(&Event::RegistrationFailed { retry_at: None })
    );
    assert_eq!(p.deadline, Instant::MAX);
    assert_eq!(
        p.c.state(0),
        Some(RegistrationState::Failed(Failure::Forbidden))
    );
}

#[test]
fn failover_over_three_controllers_and_failback() {
    let list = "10.0.0.1;transport=udp,10.0.0.2;transport=udp,10.0.0.3;transport=udp";
    let mut p = Phone::new(config(list), 12);
    let tx = p.take_tx();
    assert_eq!(tx.len(), 3);
    // All three answer: the first is active, the others are removed (alternate).
    p.now = secs(0) + Duration::from_millis(20);
    for t in &tx {
        p.answer(t, &ok(&req(t), 120));
    }
    assert_eq!(p.c.active(), Some(0));
    let un = p.take_tx();
    assert_eq!(un.iter().map(|t| t.controller).collect::<Vec<_>>(), [1, 2]);
    for t in &un {
        assert_eq!(expires_of(&req(t)), 0);
        p.answer(t, &ok(&req(t), 0));
    }
    p.take_ev();
    // Controller 0 stops answering at its refresh: Timer F, then a parallel search.
    let refresh = p.deadline;
    p.run_until(refresh);
    let r = p.take_tx();
    assert_eq!(r.len(), 1);
    p.run_until(refresh + Duration::from_secs(32));
    let tx = p.take_tx();
    let search: Vec<_> = tx
        .iter()
        .filter(|t| t.payload != r[0].payload)
        .map(|t| t.controller)
        .collect();
    let retrans = tx
        .iter()
        .filter(|t| t.controller == 0 && t.payload == r[0].payload)
        .count();
    assert_eq!(retrans, 10, "retransmissions of the refresh");
    assert_eq!(search, [0, 1, 2]);
    let ev = p.take_ev();
    assert!(ev.contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::Timeout
    }));
    assert!(ev.contains(&Event::ActiveController(None)));
    // Controller 1 is dead too; controller 2 answers at once.
    let search: Vec<_> = tx.iter().rev().take(3).cloned().collect();
    let t2 = search.iter().find(|t| t.controller == 2).unwrap();
    let lost = p.now;
    p.answer(t2, &ok(&req(t2), 120));
    assert_eq!(p.c.active(), Some(2));
    assert_eq!(p.c.active_controller().unwrap().host, "10.0.0.3");
    assert!(p.now - lost < Duration::from_secs(32));
    // The dead controllers time out.
    p.run_until(lost + Duration::from_secs(32));
    let ev = p.take_ev();
    assert!(ev.contains(&Event::ControllerFailed {
        controller: 1,
        cause: Failure::Timeout
    }));
    assert!(ev.contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::Timeout
    }));
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::RegistrationFailed { .. }))
    );
    p.take_tx();
    // Controller 0 is back: at 2's refresh it is probed (with 1) and becomes active again.
    let refresh = p.deadline;
    p.run_until(refresh);
    let tx = p.take_tx();
    let mut ctls: Vec<_> = tx.iter().map(|t| t.controller).collect();
    ctls.sort_unstable();
    assert_eq!(ctls, [0, 1, 2]);
    let t0 = tx.iter().find(|t| t.controller == 0).unwrap();
    p.answer(t0, &ok(&req(t0), 120));
    assert_eq!(p.c.active(), Some(0));
    assert!(p.take_ev().contains(&Event::ActiveController(Some(0))));
}

#[test]
fn simultaneous_keeps_two() {
    let mut cfg = config("10.0.0.1;transport=udp,10.0.0.2;transport=udp,10.0.0.3;transport=udp");
    cfg.apply_setting("SIPREGPROXYPOLICY", "simultaneous")
        .unwrap();
    cfg.apply_setting("SIMULTANEOUS_REGISTRATIONS", "2")
        .unwrap();
    assert_eq!(cfg.proxy_policy, ProxyPolicy::Simultaneous);
    let mut p = Phone::new(cfg, 13);
    let tx = p.take_tx();
    for t in tx.iter().rev() {
        p.answer(t, &ok(&req(t), 600));
    }
    assert_eq!(p.c.active(), Some(0));
    let un = p.take_tx();
    assert_eq!(un.len(), 1);
    assert_eq!(un[0].controller, 2);
    assert!(matches!(
        p.c.state(1),
        Some(RegistrationState::Registered { .. })
    ));
}

#[test]
fn admin_failback_stays_with_the_current_controller() {
    let mut cfg = config("10.0.0.1;transport=udp,10.0.0.2;transport=udp");
    cfg.failback = FailbackPolicy::Admin;
    let mut p = Phone::new(cfg, 14);
    let tx = p.take_tx();
    p.answer(&tx[1], &ok(&req(&tx[1]), 600));
    assert_eq!(p.c.active(), Some(1));
    p.answer(&tx[0], &ok(&req(&tx[0]), 600));
    assert_eq!(p.c.active(), Some(1), "admin: no failback");
    let un = p.take_tx();
    assert_eq!(un[0].controller, 0);
    assert_eq!(expires_of(&req(&un[0])), 0);
}

#[test]
fn credentials_are_pinned_to_the_controller_that_challenged() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp,10.0.0.2;transport=udp"), 15);
    let tx = p.take_tx();
    let ch = challenge("SHA-256", "n1", false);
    p.answer(
        &tx[0],
        &response(
            &req(&tx[0]),
            401,
            &[(HeaderName::WwwAuthenticate, ch.to_string())],
        ),
    );
    let retry = p.take_tx().remove(0);
    assert_eq!(retry.controller, 0);
    verify(&req(&retry), false, &ch, "secret");
    // Controller 1 never challenged: its requests carry no credentials.
    p.answer(&tx[1], &response(&req(&tx[1]), 503, &[]));
    p.answer(&retry, &ok(&req(&retry), 120));
    p.run_until(p.deadline);
    for t in p.take_tx() {
        let has = !req(&t).headers.credentials(false).unwrap().is_empty();
        assert_eq!(has, t.controller == 0, "controller {}", t.controller);
    }
}

#[test]
fn refresh_is_spread_over_seeds() {
    let mut at = Vec::new();
    for seed in 0..300 {
        let mut p = Phone::new(config("10.0.0.1;transport=udp"), seed);
        let t = p.take_tx().remove(0);
        p.answer(&t, &ok(&req(&t), 1000));
        let d = p.deadline.as_micros() / 1_000_000;
        assert!((600..=900).contains(&d), "refresh at {d} s of 1000 s");
        at.push(d);
    }
    at.sort_unstable();
    at.dedup();
    assert!(
        at.len() > 150,
        "only {} distinct refresh instants",
        at.len()
    );
    assert!(
        at[0] < 620 && at[at.len() - 1] > 880,
        "{} .. {}",
        at[0],
        at[at.len() - 1]
    );
}

#[test]
fn unregister_removes_the_binding_and_stops() {
    let mut p = Phone::new(config("10.0.0.1:5070;transport=tcp"), 16);
    let t0 = p.take_tx().remove(0);
    p.answer(&t0, &ok(&req(&t0), 600));
    p.take_ev();
    p.now = secs(10);
    p.input(Input::Unregister(secs(10)));
    let un = p.take_tx().remove(0);
    let (r0, r1) = (req(&t0), req(&un));
    assert_eq!(expires_of(&r1), 0);
    assert_eq!(r1.headers.call_id(), r0.headers.call_id());
    assert_eq!(
        r1.headers.cseq().unwrap().seq,
        r0.headers.cseq().unwrap().seq + 1
    );
    assert_eq!(
        r1.headers.get(&HeaderName::Contact),
        r0.headers.get(&HeaderName::Contact)
    );
    assert!(
        r1.headers
            .get(&HeaderName::Contact)
            .unwrap()
            .contains("transport=tcp")
    );
    // The 200 arrives split over two reads of the stream.
    let bytes = ok(&r1, 0).to_bytes();
    let (a, b) = bytes.split_at(bytes.len() / 2);
    p.input(Input::Stream {
        now: secs(10),
        controller: 0,
        data: a,
    });
    assert!(!p.c.is_stopped());
    p.input(Input::Stream {
        now: secs(10),
        controller: 0,
        data: b,
    });
    assert_eq!(
        p.take_ev(),
        [
            Event::ActiveController(None),
            Event::Unregistered { controller: 0 },
            Event::Stopped
        ]
    );
    assert!(p.c.is_stopped());
    assert_eq!(p.deadline, Instant::MAX);
}

#[test]
fn tcp_connection_loss_starts_a_search() {
    let mut p = Phone::new(config("10.0.0.1;transport=tcp,10.0.0.2;transport=tcp"), 17);
    let tx = p.take_tx();
    p.answer(&tx[0], &ok(&req(&tx[0]), 600));
    p.answer(&tx[1], &ok(&req(&tx[1]), 600));
    let un = p.take_tx();
    p.answer(&un[0], &ok(&req(&un[0]), 0));
    p.take_ev();
    p.now = secs(5);
    p.input(Input::TransportError {
        now: secs(5),
        controller: 0,
    });
    let ev = p.take_ev();
    assert_eq!(
        ev[0],
        Event::ControllerFailed {
            controller: 0,
            cause: Failure::Transport
        }
    );
    let tx = p.take_tx();
    assert_eq!(tx.iter().map(|t| t.controller).collect::<Vec<_>>(), [0, 1]);
    p.answer(&tx[1], &ok(&req(&tx[1]), 600));
    assert_eq!(p.c.active(), Some(1));
}

#[test]
fn redirect_is_followed_within_bounds() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 18);
    let t0 = p.take_tx().remove(0);
    let to = [(
        HeaderName::Contact,
        "<sip:10.0.0.9:5070;transport=tcp>".to_string(),
    )];
    p.answer(&t0, &response(&req(&t0), 302, &to));
    let t1 = p.take_tx().remove(0);
    assert_eq!(
        (t1.target.host.as_str(), t1.target.port),
        ("10.0.0.9", 5070)
    );
    let mut last = t1;
    for _ in 0..3 {
        p.answer(&last, &response(&req(&last), 302, &to));
        let next = p.take_tx();
        if next.is_empty() {
            break;
        }
        last = next[0].clone();
    }
    assert!(p.take_ev().contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::Redirect
    }));
}

#[test]
fn stray_and_garbage_input_is_ignored() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 19);
    let t0 = p.take_tx().remove(0);
    let r0 = req(&t0);
    // A response with another branch, another CSeq, and junk: all ignored.
    let mut other = ok(&r0, 600);
    other.headers.0.retain(|h| h.name != HeaderName::Via);
    other.headers.push(
        HeaderName::Via,
        "SIP/2.0/UDP 10.77.0.100:5060;branch=z9hG4bKother",
    );
    p.answer(&t0, &other);
    p.input(Input::Datagram {
        now: p.now,
        controller: 0,
        data: b"\x00\xffgarbage",
    });
    p.input(Input::Datagram {
        now: p.now,
        controller: 7,
        data: &ok(&r0, 600).to_bytes(),
    });
    assert!(p.take_ev().is_empty());
    assert!(p.take_tx().is_empty());
    // A provisional response stops nothing; the final one registers.
    p.answer(&t0, &response(&r0, 100, &[]));
    p.answer(&t0, &ok(&r0, 600));
    assert!(p.take_ev().contains(&Event::Registered {
        controller: 0,
        expires: 600
    }));
}

#[test]
fn endless_challenges_are_bounded() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 20);
    let mut t = p.take_tx().remove(0);
    let mut rounds = 0;
    loop {
        let realm = format!("realm{rounds}");
        let ch = format!("Digest realm=\"{realm}\", nonce=\"n{rounds}\", qop=\"auth\"");
        p.answer(
            &t,
            &response(&req(&t), 401, &[(HeaderName::WwwAuthenticate, ch)]),
        );
        let next = p.take_tx();
        if next.is_empty() {
            break;
        }
        rounds += 1;
        assert!(rounds <= 4, "unbounded challenge loop");
        t = next[0].clone();
        // Every remembered challenge is answered, but no more than the bound.
        assert!(req(&t).headers.credentials(false).unwrap().len() <= 4);
    }
    assert_eq!(rounds, 4);
    assert!(p.take_ev().contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::TooManyChallenges
    }));
}
