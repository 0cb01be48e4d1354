//! Transcript tests in virtual time: inputs at given instants, the exact outputs asserted.
//! The registrar side is a few lines of test code answering the phone's REGISTERs; digest
//! answers are verified by recomputing them from the challenge the test sent. Every drain runs
//! through `phone_sansio::harness::Transcript`, so the contract's oracles (outputs per input
//! bounded, deadline never in the past, `poll_timeout` agreeing with `poll_output`) hold in
//! every test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use core::time::Duration;

use phone_sansio::harness::{Logged, Transcript};
use phone_sip_reg::digest::{self, Answer, Challenge, Credentials};
use phone_sip_reg::message::{self, HeaderName, Headers, Message, Request, Response};
use phone_sip_reg::{
    Client, Command, Config, CredentialsReason, Event, FailbackPolicy, Failure, Input, Instant,
    ProxyPolicy, RegistrationState, Transmit,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

struct Phone {
    t: Transcript<Client<ChaCha8Rng>>,
    seen: usize,
    tx: Vec<Transmit>,
    ev: Vec<Event>,
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
        let c = Client::new(cfg, ChaCha8Rng::seed_from_u64(seed), Instant::ZERO);
        let mut p = Phone {
            t: Transcript::new(c, Instant::ZERO),
            seen: 0,
            tx: Vec::new(),
            ev: Vec::new(),
        };
        p.sync();
        if p.ev.iter().all(|e| matches!(e, Event::Registering { .. })) {
            p.ev.clear();
        }
        p
    }

    fn c(&self) -> &Client<ChaCha8Rng> {
        &self.t.machine
    }

    fn now(&self) -> Instant {
        self.t.now
    }

    /// Move the caller's clock forward without an input (the next input carries it).
    fn set_now(&mut self, t: Instant) {
        assert!(t >= self.t.now);
        self.t.now = t;
    }

    fn deadline(&self) -> Instant {
        self.t.deadline
    }

    /// Collect what the transcript logged since the last look.
    fn sync(&mut self) {
        for l in &self.t.log[self.seen..] {
            match l {
                Logged::Transmit(_, t) => self.tx.push(t.clone()),
                Logged::Event(_, e) => self.ev.push(e.clone()),
            }
        }
        self.seen = self.t.log.len();
    }

    fn input(&mut self, i: Input<'_>) {
        self.t.input(i);
        self.sync();
    }

    /// Advance to `t`, firing every deadline on the way.
    fn run_until(&mut self, t: Instant) {
        self.t.advance(t);
        self.sync();
    }

    fn take_tx(&mut self) -> Vec<Transmit> {
        std::mem::take(&mut self.tx)
    }

    fn take_ev(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.ev)
    }

    /// Answer a request from controller `t.controller` (a datagram or stream bytes, by the
    /// transport of the target; the client knows which).
    fn answer(&mut self, t: &Transmit, resp: &Response) {
        let bytes = resp.to_bytes();
        let now = self.now();
        self.input(Input::Receive(now, t.controller, &bytes));
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
    while p.deadline() < secs(32) {
        p.run_until(p.deadline());
        for t in p.take_tx() {
            times.push(p.now().as_micros() as f64 / 1e6);
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
    assert_eq!(p.deadline(), at);
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
    assert_eq!(p.deadline(), secs(8));
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
                assert_eq!(p.c().active(), Some(0));
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
        p.run_until(p.deadline());
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
    assert_eq!(p.deadline(), Instant::MAX);
    p.set_now(secs(100));
    p.input(Input::Command(
        secs(100),
        Command::Credentials {
            user: "1001",
            password: "secret",
        },
    ));
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
    p.run_until(p.deadline());
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
    p.set_now(secs(1));
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
    assert_eq!(p.now(), secs(121));
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
    let refresh = p.deadline();
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
    assert_eq!(p.c().state(1), Some(RegistrationState::Idle));
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
    assert_eq!(p.deadline(), Instant::MAX);
    assert_eq!(
        p.c().state(0),
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
    p.set_now(secs(0) + Duration::from_millis(20));
    for t in &tx {
        p.answer(t, &ok(&req(t), 120));
    }
    assert_eq!(p.c().active(), Some(0));
    let un = p.take_tx();
    assert_eq!(un.iter().map(|t| t.controller).collect::<Vec<_>>(), [1, 2]);
    for t in &un {
        assert_eq!(expires_of(&req(t)), 0);
        p.answer(t, &ok(&req(t), 0));
    }
    p.take_ev();
    // Controller 0 stops answering at its refresh: Timer F, then a parallel search.
    let refresh = p.deadline();
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
    let lost = p.now();
    p.answer(t2, &ok(&req(t2), 120));
    assert_eq!(p.c().active(), Some(2));
    assert_eq!(p.c().active_controller().unwrap().host, "10.0.0.3");
    assert!(p.now() - lost < Duration::from_secs(32));
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
    let refresh = p.deadline();
    p.run_until(refresh);
    let tx = p.take_tx();
    let mut ctls: Vec<_> = tx.iter().map(|t| t.controller).collect();
    ctls.sort_unstable();
    assert_eq!(ctls, [0, 1, 2]);
    let t0 = tx.iter().find(|t| t.controller == 0).unwrap();
    p.answer(t0, &ok(&req(t0), 120));
    assert_eq!(p.c().active(), Some(0));
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
    assert_eq!(p.c().active(), Some(0));
    let un = p.take_tx();
    assert_eq!(un.len(), 1);
    assert_eq!(un[0].controller, 2);
    assert!(matches!(
        p.c().state(1),
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
    assert_eq!(p.c().active(), Some(1));
    p.answer(&tx[0], &ok(&req(&tx[0]), 600));
    assert_eq!(p.c().active(), Some(1), "admin: no failback");
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
    p.run_until(p.deadline());
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
        let d = p.deadline().as_micros() / 1_000_000;
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
    p.set_now(secs(10));
    p.input(Input::Command(secs(10), Command::Unregister));
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
    p.input(Input::Receive(secs(10), 0, a));
    assert!(!p.c().is_stopped());
    p.input(Input::Receive(secs(10), 0, b));
    assert_eq!(
        p.take_ev(),
        [
            Event::ActiveController(None),
            Event::Unregistered { controller: 0 },
            Event::Stopped
        ]
    );
    assert!(p.c().is_stopped());
    assert_eq!(p.deadline(), Instant::MAX);
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
    p.set_now(secs(5));
    p.input(Input::TransportFailed(secs(5), 0));
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
    assert_eq!(p.c().active(), Some(1));
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
    let now = p.now();
    p.input(Input::Receive(now, 0, b"\x00\xffgarbage"));
    p.input(Input::Receive(now, 7, &ok(&r0, 600).to_bytes()));
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

// ---------------------------------------------------------------------------------------------
// Commit on take (issue 10) and the SIP items of issue 12, each as a regression.
// ---------------------------------------------------------------------------------------------

use phone_sansio::harness::{Peer, Reply};
use phone_sansio::{Machine, Output};
use phone_sip_reg::digest::{AuthError, Qop};

/// Takes the next output, which must be a transmit.
fn take(c: &mut Client<ChaCha8Rng>) -> Transmit {
    match c.poll_output() {
        Output::Transmit(t) => t,
        other => panic!("expected a transmit, got {other:?}"),
    }
}

/// Drains the rest: (transmits, events, deadline).
fn drain(c: &mut Client<ChaCha8Rng>) -> (Vec<Transmit>, Vec<Event>, Instant) {
    let (mut tx, mut ev) = (Vec::new(), Vec::new());
    for _ in 0..256 {
        match c.poll_output() {
            Output::Transmit(t) => tx.push(t),
            Output::Event(e) => ev.push(e),
            Output::Timeout(t) => return (tx, ev, t),
        }
    }
    panic!("unbounded outputs");
}

fn cseq_of(t: &Transmit) -> u32 {
    req(t).headers.cseq().unwrap().seq
}

fn branch_of(t: &Transmit) -> String {
    req(t).headers.top_via().unwrap().branch.unwrap()
}

/// Commit on take, with CSeq and nc: polling nothing moves no counter (and arms no timer); a
/// transmit taken and reported failed is retried as a new request with the next CSeq and the
/// next nonce count; a second failure fails the controller over, and the next attempt still
/// counts on (RFC 3261 §10.2.4, RFC 7616 §3.4).
#[test]
fn commit_on_take_cseq_nc_and_timers() {
    let mut c = Client::new(
        config("10.0.0.1;transport=udp"),
        ChaCha8Rng::seed_from_u64(30),
        Instant::ZERO,
    );
    // Due, not taken: no counter moved, and the deadline is "now".
    assert_eq!(c.cseq(0), Some(0));
    assert_eq!(c.poll_timeout(), Some(Instant::ZERO));
    assert_eq!(c.state(0), Some(RegistrationState::Registering));
    // Inputs without polling move nothing, however much time passes: no Timer F runs for a
    // request nobody took.
    c.handle_input(Input::Timeout(secs(100)));
    c.handle_input(Input::Timeout(secs(200)));
    assert_eq!(c.cseq(0), Some(0));
    assert_eq!(c.poll_timeout(), Some(secs(200)));
    let t0 = take(&mut c);
    assert_eq!((cseq_of(&t0), c.cseq(0)), (1, Some(1)));
    let (tx, ev, deadline) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(ev, [Event::Registering { controller: 0 }]);
    // Timer E armed at the take (200 s + T1), not at the decision (0 s).
    assert_eq!(deadline, secs(200) + Duration::from_millis(500));

    // 401: the answer is due but not built.
    let ch = challenge("SHA-256", "n1", false);
    let r401 = response(
        &req(&t0),
        401,
        &[(HeaderName::WwwAuthenticate, ch.to_string())],
    );
    c.handle_input(Input::Receive(secs(200), 0, &r401.to_bytes()));
    c.handle_input(Input::Timeout(secs(300)));
    assert_eq!(c.cseq(0), Some(1));
    let t1 = take(&mut c);
    let c1 = verify(&req(&t1), false, &ch, "secret");
    assert_eq!((cseq_of(&t1), c1.nc), (2, Some(1)));
    assert_eq!(drain(&mut c).2, secs(300) + Duration::from_millis(500));

    // The caller could not send t1: the retry is due, and again nothing moves until taken.
    c.handle_input(Input::TransportFailed(secs(301), 0));
    assert_eq!(c.cseq(0), Some(2));
    assert_eq!(c.poll_timeout(), Some(secs(301)));
    let t2 = take(&mut c);
    let c2 = verify(&req(&t2), false, &ch, "secret");
    assert_eq!(
        (cseq_of(&t2), c2.nc),
        (3, Some(2)),
        "a new request: next CSeq, next nc"
    );
    assert_ne!(branch_of(&t2), branch_of(&t1), "a new transaction");
    assert_ne!(c2.cnonce, c1.cnonce);
    assert_eq!(req(&t2).headers.call_id(), req(&t0).headers.call_id());
    let (tx, ev, deadline) = drain(&mut c);
    assert!(tx.is_empty() && ev.is_empty(), "{tx:?} {ev:?}");
    assert_eq!(deadline, secs(301) + Duration::from_millis(500));

    // A second failure of the same attempt fails the controller over: no endless retry.
    c.handle_input(Input::TransportFailed(secs(302), 0));
    let (tx, ev, deadline) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(
        ev[0],
        Event::ControllerFailed {
            controller: 0,
            cause: Failure::Transport
        }
    );
    let Event::RegistrationFailed { retry_at: Some(at) } = ev[1] else {
        panic!("{ev:?}")
    };
    assert_eq!(deadline, at);
    // The next attempt counts on: CSeq 4, nc 3 with the nonce still held.
    c.handle_input(Input::Timeout(at));
    let t3 = take(&mut c);
    let c3 = verify(&req(&t3), false, &ch, "secret");
    assert_eq!((cseq_of(&t3), c3.nc), (4, Some(3)));
    // The registrar accepts it: registered, and the retransmission timer stops.
    c.handle_input(Input::Receive(at, 0, &ok(&req(&t3), 600).to_bytes()));
    let (_, ev, _) = drain(&mut c);
    assert!(ev.contains(&Event::Registered {
        controller: 0,
        expires: 600
    }));
}

/// A retransmission is committed when taken too: Timer E doubles from the take.
#[test]
fn commit_on_take_retransmissions() {
    let mut c = Client::new(
        config("10.0.0.1;transport=udp"),
        ChaCha8Rng::seed_from_u64(31),
        Instant::ZERO,
    );
    let t0 = take(&mut c);
    assert_eq!(drain(&mut c).2, Instant::from_millis(500));
    // Timer E fires; the caller polls only at 2 s: the interval (1 s) counts from there.
    c.handle_input(Input::Timeout(Instant::from_millis(500)));
    c.handle_input(Input::Timeout(secs(2)));
    assert_eq!(c.poll_timeout(), Some(secs(2)));
    let t1 = take(&mut c);
    assert_eq!(t1.payload, t0.payload);
    assert_eq!(drain(&mut c).2, secs(3));
    // Unpolled retransmissions do not pile up: one is due however often Timer E was passed.
    c.handle_input(Input::Timeout(secs(3)));
    c.handle_input(Input::Timeout(secs(9)));
    let (tx, _, deadline) = drain(&mut c);
    assert_eq!(tx.len(), 1);
    assert_eq!(deadline, secs(9) + Duration::from_secs(2));
    // Timer F counts from the first take: 32 s.
    c.handle_input(Input::Timeout(secs(32)));
    let (tx, ev, _) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(
        ev[0],
        Event::ControllerFailed {
            controller: 0,
            cause: Failure::Timeout
        }
    );
}

/// Shutdown with requests never taken: nothing reached anyone, so nothing is un-registered.
#[test]
fn unregister_before_anything_was_taken_sends_nothing() {
    let mut c = Client::new(
        config("10.0.0.1;transport=udp,10.0.0.2;transport=tcp"),
        ChaCha8Rng::seed_from_u64(32),
        Instant::ZERO,
    );
    c.handle_input(Input::Command(Instant::ZERO, Command::Unregister));
    let (tx, ev, deadline) = drain(&mut c);
    assert!(tx.is_empty(), "{tx:?}");
    assert_eq!(ev, [Event::Stopped]);
    assert_eq!(deadline, Instant::MAX);
    assert_eq!(c.cseq(0), Some(0));
}

/// A registrar scripted by a closure, answering each transmit after `after`.
struct Registrar<F> {
    after: Duration,
    answer: F,
}

impl<F: FnMut(&Transmit, &Request) -> Option<Response>> Peer<Client<ChaCha8Rng>> for Registrar<F> {
    fn on_transmit(&mut self, _now: Instant, t: &Transmit) -> Vec<Reply<usize>> {
        match (self.answer)(t, &req(t)) {
            Some(r) => vec![Reply::Receive {
                after: self.after,
                peer: t.controller,
                bytes: r.to_bytes(),
            }],
            None => Vec::new(),
        }
    }
}

/// The new requests (distinct CSeq) per controller, with the instant each was taken.
fn new_requests(p: &Phone) -> Vec<(usize, Instant, u32)> {
    let mut last: Vec<Option<u32>> = vec![None; 8];
    let mut out = Vec::new();
    for l in &p.t.log {
        if let Logged::Transmit(at, t) = l {
            let seq = cseq_of(t);
            if last[t.controller] != Some(seq) {
                last[t.controller] = Some(seq);
                out.push((t.controller, *at, seq));
            }
        }
    }
    out
}

/// Issue 12: `503` with `Retry-After: 0` on every answer made the client send 100,001
/// REGISTERs without time passing. The floor (1 s) makes it at most one per second.
#[test]
fn retry_after_zero_is_floored() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 33);
    let mut reg = Registrar {
        after: Duration::ZERO,
        answer: |_: &Transmit, r: &Request| {
            Some(response(r, 503, &[(HeaderName::RetryAfter, "0".into())]))
        },
    };
    p.t.run(&mut reg, secs(10));
    p.sync();
    let sent = new_requests(&p);
    assert!(
        (9..=11).contains(&sent.len()),
        "{} REGISTERs in 10 s",
        sent.len()
    );
    for w in sent.windows(2) {
        assert!(w[1].1 - w[0].1 >= Duration::from_secs(1), "{w:?}");
    }
    assert!(p.take_ev().contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::ServiceUnavailable {
            retry_after: Some(1)
        }
    }));
}

/// Issue 12, the floor under Min-Expires and the granted expiry: a 423 with Min-Expires 0 is
/// a failure, not a loop; a registrar granting 1 s (or 0 in the Contact but 1 in Expires)
/// gets refreshed at most once a second, never without time passing.
#[test]
fn min_expires_and_tiny_grants_are_floored() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 34);
    let t0 = p.take_tx().remove(0);
    p.answer(
        &t0,
        &response(&req(&t0), 423, &[(HeaderName::MinExpires, "0".into())]),
    );
    assert!(p.take_tx().is_empty());
    assert!(p.take_ev().contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::IntervalTooBrief
    }));

    for (contact_expires, header) in [(Some(1), None), (None, Some(1)), (Some(0), Some(1))] {
        let mut p = Phone::new(config("10.0.0.1;transport=udp"), 35);
        let mut reg = Registrar {
            after: Duration::ZERO,
            answer: move |_: &Transmit, r: &Request| {
                let contact = r.headers.get(&HeaderName::Contact).unwrap().to_string();
                let mut extra = Vec::new();
                if let Some(e) = contact_expires {
                    extra.push((HeaderName::Contact, format!("{contact};expires={e}")));
                }
                if let Some(e) = header {
                    extra.push((HeaderName::Expires, format!("{e}")));
                }
                Some(response(r, 200, &extra))
            },
        };
        p.t.run(&mut reg, secs(10));
        p.sync();
        let sent = new_requests(&p);
        assert!(sent.len() <= 11, "{} REGISTERs in 10 s", sent.len());
        for w in sent.windows(2) {
            assert!(w[1].1 - w[0].1 >= Duration::from_secs(1), "{w:?}");
        }
    }
}

/// True when every CR is followed by LF, every LF preceded by CR, and no other control byte
/// (HTAB aside) appears in the header section.
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

/// Issue 12: a bare CR inside a quoted realm was copied raw into the next Authorization
/// header. Such a response is now malformed and dropped; what the phone sends stays clean.
#[test]
fn control_bytes_in_a_challenge_never_reach_a_request() {
    for realm in ["lab\rInjected: 1", "a\nb", "a\0b", "a\x0cb", "\0\x0c\n"] {
        let mut p = Phone::new(config("10.0.0.1;transport=udp"), 36);
        let t0 = p.take_tx().remove(0);
        let mut r = response(&req(&t0), 401, &[]);
        r.headers.push(
            HeaderName::WwwAuthenticate,
            format!("Digest realm=\"{realm}\", nonce=\"n\", qop=\"auth\""),
        );
        // Written by hand: our own writer would neutralise the control bytes.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"SIP/2.0 401 Unauthorized\r\n");
        for h in &r.headers.0 {
            bytes.extend_from_slice(format!("{}: {}\r\n", h.name.as_str(), h.value).as_bytes());
        }
        bytes.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let now = p.now();
        p.input(Input::Receive(now, 0, &bytes));
        assert!(
            p.take_tx().is_empty(),
            "{realm:?}: no answer to a malformed 401"
        );
        assert!(p.take_ev().is_empty());
        p.run_until(secs(40));
        for t in p.take_tx() {
            assert!(clean_header_section(&t.payload), "{realm:?}");
            assert!(req(&t).headers.credentials(false).unwrap().is_empty());
        }
    }
}

/// Issue 12: `SIP/2.0 2000 OK` parsed as 200 (and registered the phone).
#[test]
fn four_digit_status_does_not_register() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 37);
    let t0 = p.take_tx().remove(0);
    let text = String::from_utf8(ok(&req(&t0), 600).to_bytes()).unwrap();
    let bad = text.replacen("SIP/2.0 200 Test", "SIP/2.0 2000 OK", 1);
    assert_ne!(bad, text);
    let now = p.now();
    p.input(Input::Receive(now, 0, bad.as_bytes()));
    assert!(p.take_ev().is_empty());
    assert_eq!(p.c().state(0), Some(RegistrationState::Registering));
}

/// Issue 12: over UDP two different Content-Length headers were accepted.
#[test]
fn conflicting_content_lengths_are_dropped_over_udp() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 38);
    let t0 = p.take_tx().remove(0);
    let mut r = ok(&req(&t0), 600);
    r.body = b"abcd".to_vec();
    let text = String::from_utf8(r.to_bytes()).unwrap();
    let bad = text.replacen("Content-Length: 4\r\n", "Content-Length: 4\r\nl: 0\r\n", 1);
    assert_ne!(bad, text);
    let now = p.now();
    p.input(Input::Receive(now, 0, bad.as_bytes()));
    assert!(p.take_ev().is_empty());
    // The same response with one length registers.
    p.input(Input::Receive(now, 0, text.as_bytes()));
    assert!(p.take_ev().contains(&Event::Registered {
        controller: 0,
        expires: 600
    }));
}

/// Issue 12: duplicate `realm`/`nonce` parameters were accepted; now the challenge is a typed
/// failure and no REGISTER answers it.
#[test]
fn duplicate_challenge_parameters_fail_typed() {
    for (hdr, dup) in [
        ("Digest realm=\"a\", realm=\"b\", nonce=\"n\"", "realm"),
        ("Digest realm=\"a\", nonce=\"n\", nonce=\"m\"", "nonce"),
    ] {
        let mut p = Phone::new(config("10.0.0.1;transport=udp"), 39);
        let t0 = p.take_tx().remove(0);
        p.answer(
            &t0,
            &response(&req(&t0), 401, &[(HeaderName::WwwAuthenticate, hdr.into())]),
        );
        assert!(p.take_tx().is_empty());
        assert!(p.take_ev().contains(&Event::ControllerFailed {
            controller: 0,
            cause: Failure::UnsupportedChallenge(AuthError::Duplicate(dup.into()))
        }));
    }
}

/// Issue 12: a challenge whose qop offers nothing usable made the client re-send REGISTER
/// without credentials. It is a typed failure now; a usable challenge next to it still wins.
#[test]
fn unusable_qop_is_a_typed_failure_never_a_bare_register() {
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 40);
    let t0 = p.take_tx().remove(0);
    let hdr = "Digest realm=\"lab.test\", nonce=\"n\", qop=\"auth-conf\"";
    p.answer(
        &t0,
        &response(&req(&t0), 401, &[(HeaderName::WwwAuthenticate, hdr.into())]),
    );
    assert!(p.take_tx().is_empty(), "no REGISTER without credentials");
    assert!(p.take_ev().contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::UnsupportedChallenge(AuthError::UnsupportedQop)
    }));
    assert!(matches!(
        p.c().state(0),
        Some(RegistrationState::Failed(Failure::UnsupportedChallenge(_)))
    ));
    // An unusable SHA-512-256 challenge next to a usable MD5 one: MD5 is answered.
    let mut p = Phone::new(config("10.0.0.1;transport=udp"), 41);
    let t0 = p.take_tx().remove(0);
    let md5 = challenge("MD5", "n1", false);
    let strong = "Digest realm=\"lab.test\", nonce=\"n2\", algorithm=SHA-512-256, qop=\"x\"";
    p.answer(
        &t0,
        &response(
            &req(&t0),
            401,
            &[
                (HeaderName::WwwAuthenticate, strong.into()),
                (HeaderName::WwwAuthenticate, md5.to_string()),
            ],
        ),
    );
    let t1 = p.take_tx().remove(0);
    let c = verify(&req(&t1), false, &md5, "secret");
    assert_eq!(c.qop, Some(Qop::Auth));
}

/// Issue 12: one TCP read of 33 KB holding two complete, valid messages tore the
/// registration down (the framer checked its bound before draining).
#[test]
fn one_large_tcp_read_with_two_messages_registers() {
    let mut p = Phone::new(config("10.0.0.1;transport=tcp"), 42);
    let t0 = p.take_tx().remove(0);
    let mut trying = response(&req(&t0), 100, &[]);
    trying.body = vec![b'x'; 16 * 1024];
    let mut okr = ok(&req(&t0), 600);
    okr.body = vec![b'y'; 16 * 1024];
    let mut read = trying.to_bytes();
    read.extend_from_slice(&okr.to_bytes());
    assert!(read.len() > 33_000, "{}", read.len());
    let now = p.now();
    p.input(Input::Receive(now, 0, &read));
    let ev = p.take_ev();
    assert!(
        ev.contains(&Event::Registered {
            controller: 0,
            expires: 600
        }),
        "{ev:?}"
    );
    assert!(!ev.iter().any(|e| matches!(
        e,
        Event::ControllerFailed {
            cause: Failure::Transport,
            ..
        }
    )));
}

/// `Closed` on a stream is a broken transport; on UDP it means nothing.
#[test]
fn closed_stream_retries_once_then_fails_over() {
    let mut p = Phone::new(config("10.0.0.1;transport=tcp,10.0.0.2;transport=udp"), 43);
    let tx = p.take_tx();
    assert_eq!(tx.len(), 2);
    p.input(Input::Closed(Instant::ZERO, 1));
    assert!(p.take_tx().is_empty(), "Closed means nothing for UDP");
    p.input(Input::Closed(Instant::ZERO, 0));
    let retry = p.take_tx();
    assert_eq!(retry.len(), 1);
    assert_eq!(cseq_of(&retry[0]), cseq_of(&tx[0]) + 1);
    p.input(Input::Closed(Instant::ZERO, 0));
    assert!(p.take_tx().is_empty());
    assert!(p.take_ev().contains(&Event::ControllerFailed {
        controller: 0,
        cause: Failure::Transport
    }));
    // The trait is what generic callers use: same machine, same answers.
    assert_eq!(
        Machine::poll_timeout(p.c()),
        Some(Instant::from_millis(500))
    );
}

#[test]
fn events_display_for_the_log() {
    let e = Event::ControllerFailed {
        controller: 1,
        cause: Failure::ServiceUnavailable {
            retry_after: Some(5),
        },
    };
    assert_eq!(
        e.to_string(),
        "controller 1 failed: 503 service unavailable, retry after 5 s"
    );
    let e = Event::CredentialsRequired {
        reason: CredentialsReason::Rejected,
        controller: Some(0),
        realm: Some("lab\"test".into()),
    };
    assert_eq!(
        e.to_string(),
        "credentials required (rejected) by controller 0 for realm \"lab\\\"test\""
    );
}
