//! Transcript tests of the enrollment machine in virtual time (`phone_sansio::harness`),
//! against the test CA behind a fake HTTP server (tests/common `CaServer`).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{
    Answer, CaServer, Gate, HttpReq, ReplyOpts, Status, TestCa, http_response, pki_answer, rng,
};
use der::Decode;
use phone_scep::algs::{ContentCipher, DigestAlg};
use phone_scep::backoff::{MIN_POLL, MIN_RETRY_DELAY, PollBackoff, RetryPolicy};
use phone_scep::http::Operation;
use phone_scep::key::{DeviceKey, SoftwareKey};
use phone_scep::machine::{
    Config, Enrollment, Event, Existing, KeySource, ScepError, State, Title,
};
use phone_scep::message::{CertRepError, FailInfo};
use phone_scep::phone_http::{Action, ConnId, Failure, Transmit};
use phone_scep::phone_sansio::harness::{Logged, Transcript};
use phone_scep::phone_sansio::{Input, Instant, Machine, Output};
use phone_scep::request::Substitutions;
use rand_chacha::ChaCha20Rng;
use x509_cert::request::CertReq;

type M = Enrollment<ChaCha20Rng>;
/// The machine behind a gate, for transcripts played against the CA (`common::Gate`).
type G = Gate<M>;

const SCEPSERVER_CAPS: &[u8] =
    b"Renewal\nSHA-1\nSHA-256\nAES\nDES3\nSCEPStandard\nPOSTPKIOperation\n";

fn config() -> Config {
    let mut c = Config::default();
    c.url = "http://10.77.0.1:8080/scep".into();
    c.dn = "/C=US/O=Phone Lab".into();
    c.key_bits = 1024;
    c.challenge = "secret123".into();
    c.subst = Substitutions {
        serial_no: "12AB34CD".into(),
        mac_addr: "00aabbccddee".into(),
    };
    c
}

fn device_key() -> SoftwareKey {
    SoftwareKey::generate(&mut rng(1000), 1024).unwrap()
}

fn start(cfg: Config, seed: u64) -> M {
    Enrollment::new(
        cfg,
        KeySource::Provided(Box::new(device_key())),
        None,
        rng(seed),
        Instant::ZERO,
        common::NOW_UNIX,
    )
    .unwrap()
}

/// A transcript to play against a peer: the first transmits go to it too.
fn transcript(m: M) -> Transcript<G> {
    Transcript::new(Gate::new(m, Instant::ZERO), Instant::ZERO)
}

/// A transcript fed by hand.
fn plain(m: M) -> Transcript<M> {
    Transcript::new(m, Instant::ZERO)
}

/// The events logged, without the title ticks.
fn events<X: Machine<Event = Event, Transmit = Transmit>>(t: &Transcript<X>) -> Vec<Event> {
    t.events()
        .into_iter()
        .filter(|e| !matches!(e, Event::Display(_)))
        .cloned()
        .collect()
}

/// Every logged event with its instant.
fn events_at<X: Machine<Event = Event, Transmit = Transmit>>(
    t: &Transcript<X>,
) -> Vec<(Instant, Event)> {
    t.log
        .iter()
        .filter_map(|l| match l {
            Logged::Event(at, e) => Some((*at, e.clone())),
            Logged::Transmit(..) => None,
        })
        .collect()
}

/// Every logged transmit with its instant.
fn transmits_at<X: Machine<Event = Event, Transmit = Transmit>>(
    t: &Transcript<X>,
) -> Vec<(Instant, Transmit)> {
    t.log
        .iter()
        .filter_map(|l| match l {
            Logged::Transmit(at, x) => Some((*at, x.clone())),
            Logged::Event(..) => None,
        })
        .collect()
}

fn connect_to(host: &str, port: u16) -> Action {
    Action::Connect {
        host: host.into(),
        port,
        tls: None,
    }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn secs(n: u64) -> Instant {
    Instant::from_secs(n)
}

#[test]
fn transcript_pkcsreq_success() {
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    let m = start(config(), 7);
    assert_eq!(m.state(), State::Discovering);
    assert!(m.blocks_boot());
    let tid = m.transaction_id().to_string();
    let mut t = transcript(m);
    t.run(&mut srv, secs(5));
    // MYCERTWAIT=1: the title is shown from the start; GetCACaps goes out on connection 1,
    // straight to the server (no HTTPPROXY).
    assert_eq!(
        t.log[..2],
        [
            Logged::Event(Instant::ZERO, Event::Display(Title { secs: 0 })),
            Logged::Transmit(
                Instant::ZERO,
                Transmit {
                    conn: 1,
                    action: connect_to("10.77.0.1", 8080)
                }
            ),
        ]
    );
    assert_eq!(srv.operations(), ["GetCACaps", "GetCACert", "PKIOperation"]);
    // One fresh connection per request: Connect, Send, Close on each.
    assert_eq!(srv.connects(), [1, 2, 3]);
    for conn in 1..=3 {
        let actions: Vec<&Action> = srv
            .transmits
            .iter()
            .filter(|(_, x)| x.conn == conn)
            .map(|(_, x)| &x.action)
            .collect();
        assert!(
            matches!(
                actions.as_slice(),
                [Action::Connect { .. }, Action::Send(_), Action::Close]
            ),
            "{conn}: {actions:?}"
        );
    }
    let reqs: Vec<&HttpReq> = srv.requests.iter().map(|(_, _, r)| r).collect();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].target.as_str()),
        ("GET", "/scep?operation=GetCACaps")
    );
    assert_eq!(reqs[0].header("Host"), Some("10.77.0.1:8080"));
    assert_eq!(
        reqs[1].target,
        "/scep?operation=GetCACert&message=CAIdentifier"
    );
    assert_eq!(
        (reqs[2].method.as_str(), reqs[2].target.as_str()),
        ("POST", "/scep?operation=PKIOperation")
    );
    assert_eq!(
        reqs[2].header("Content-Type"),
        Some("application/x-pki-message")
    );
    let seen = &srv.pki_seen[0].2;
    assert_eq!(seen.message_type, "19");
    assert_eq!(seen.transaction_id, tid);
    assert_eq!(
        (seen.cipher, seen.digest),
        (ContentCipher::Aes128Cbc, DigestAlg::Sha256)
    );
    let csr = CertReq::from_der(&seen.content).unwrap();
    assert_eq!(csr.info.subject.to_string(), "CN=12AB34CD,O=Phone Lab,C=US");
    let cert = srv.ca.issued.last().unwrap().clone();
    match events(&t).as_slice() {
        [Event::Caps(c), Event::Issued(e), Event::BootMayContinue] => {
            assert!(c.post_pki_operation && c.scep_standard);
            assert_eq!(e.certificate, cert);
            assert!(!e.renewal);
            assert_eq!(e.ca.ca_cert(), &srv.ca.ca.cert);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.machine.inner.state(), State::Issued);
    assert!(!t.machine.inner.blocks_boot());
    // Nothing more to do, ever.
    assert_eq!(t.deadline, Instant::MAX);
    assert_eq!(t.machine.inner.poll_timeout(), None);
}

#[test]
fn algorithms_follow_the_caps() {
    let cases: &[(&[u8], bool, ContentCipher, DigestAlg, &str)] = &[
        (
            SCEPSERVER_CAPS,
            false,
            ContentCipher::Aes128Cbc,
            DigestAlg::Sha256,
            "POST",
        ),
        (
            SCEPSERVER_CAPS,
            true,
            ContentCipher::Aes256Cbc,
            DigestAlg::Sha256,
            "POST",
        ),
        (
            b"DES3\nSHA-1\n",
            false,
            ContentCipher::DesEde3Cbc,
            DigestAlg::Sha1,
            "GET",
        ),
        (
            b"",
            false,
            ContentCipher::DesEde3Cbc,
            DigestAlg::Sha1,
            "GET",
        ),
        (
            b"AES\nPOSTPKIOperation",
            false,
            ContentCipher::Aes128Cbc,
            DigestAlg::Sha1,
            "POST",
        ),
        (
            b"SHA-256\nDES3",
            true,
            ContentCipher::Aes256Cbc,
            DigestAlg::Sha256,
            "GET",
        ),
    ];
    for (i, (caps, aes256, cipher, digest, method)) in cases.iter().enumerate() {
        let mut srv = CaServer::new(TestCa::new(1, false), caps);
        let mut cfg = config();
        cfg.aes256 = *aes256;
        let mut t = transcript(start(cfg, 10 + i as u64));
        t.run(&mut srv, secs(5));
        let req = &srv.requests[2].2;
        assert_eq!(req.method, *method, "case {i}");
        if *method == "GET" {
            assert!(
                req.target
                    .starts_with("/scep?operation=PKIOperation&message=")
            );
            assert!(req.body.is_empty());
        }
        let seen = &srv.pki_seen[0].2;
        assert_eq!((seen.cipher, seen.digest), (*cipher, *digest), "case {i}");
        // Whatever we sent, a DES/SHA-1 reply (scepserver's) is read.
        let cert = srv.ca.issued.last().unwrap();
        let ev = events(&t);
        assert!(
            matches!(&ev[1], Event::Issued(e) if e.certificate == *cert),
            "case {i}: {ev:?}"
        );
    }
}

/// A PKIOperation handler answering PENDING `pending` times, then SUCCESS for the first CSR.
fn pending_then_success(pending: usize) -> common::PkiHandler {
    let mut csr: Option<CertReq> = None;
    let mut n = 0;
    Box::new(move |ca, seen, r| {
        if seen.message_type == "19" {
            csr = Some(CertReq::from_der(&seen.content).unwrap());
        }
        n += 1;
        if n <= pending {
            return pki_answer(&ca.cert_rep(seen, Status::Pending, None, &ReplyOpts::default(), r));
        }
        let cert = ca.issue(csr.as_ref().unwrap(), None);
        pki_answer(&ca.cert_rep(seen, Status::Success, Some(&cert), &ReplyOpts::default(), r))
    })
}

#[test]
fn pending_then_success_after_polls_with_backoff() {
    for seed in 0..6u64 {
        let mut srv = CaServer::new(TestCa::new(1, seed % 2 == 0), SCEPSERVER_CAPS);
        srv.pki = pending_then_success(8);
        let mut t = transcript(start(config(), 100 + seed));
        t.run(&mut srv, secs(4 * 3600));
        let ev = events_at(&t);
        let pendings: Vec<(Instant, u32, Instant)> = ev
            .iter()
            .filter_map(|(at, e)| match e {
                Event::Pending { attempt, next_poll } => Some((*at, *attempt, *next_poll)),
                _ => None,
            })
            .collect();
        assert_eq!(pendings.len(), 8, "seed {seed}");
        let tx = transmits_at(&t);
        for (i, (at, attempt, next_poll)) in pendings.iter().enumerate() {
            assert_eq!(*attempt, i as u32);
            let wait = next_poll.saturating_duration_since(*at);
            let nominal = PollBackoff::default().nominal(*attempt);
            assert!(
                wait >= nominal && wait <= nominal * 5 / 4,
                "seed {seed} attempt {attempt}: {wait:?}"
            );
            assert!(wait >= Duration::from_secs(30) && wait <= Duration::from_secs(1800));
            // The title ticks (early timeouts) send nothing; the poll goes out at its instant.
            let next_tx = tx.iter().find(|(t, _)| t > at).unwrap();
            assert_eq!(next_tx.0, *next_poll, "seed {seed} attempt {attempt}");
            assert!(matches!(next_tx.1.action, Action::Connect { .. }));
            // The title kept counting while waiting.
            let ticks = ev
                .iter()
                .filter(|(t, e)| t > at && t < next_poll && matches!(e, Event::Display(_)))
                .count() as u64;
            assert!(ticks + 1 >= wait.as_secs(), "{ticks} ticks in {wait:?}");
        }
        let first = &srv.pki_seen[0].2;
        let mut nonces = vec![first.sender_nonce.clone()];
        for (_, _, poll) in &srv.pki_seen[1..] {
            // CertPoll: same transactionID, fresh nonce, IssuerAndSubject content.
            assert_eq!(poll.message_type, "20");
            assert_eq!(poll.transaction_id, first.transaction_id);
            assert!(!nonces.contains(&poll.sender_nonce));
            nonces.push(poll.sender_nonce.clone());
            let ias = phone_scep::request::IssuerAndSubject::from_der(&poll.content).unwrap();
            assert_eq!(&ias.issuer, srv.ca.ca.cert.tbs_certificate().subject());
            assert_eq!(ias.subject.to_string(), "CN=12AB34CD,O=Phone Lab,C=US");
        }
        assert_eq!(srv.pki_seen.len(), 9);
        assert_eq!(t.machine.inner.polls_sent(), 8);
        let cert = srv.ca.issued.last().unwrap();
        let last = events(&t);
        assert!(
            matches!(&last[last.len() - 2], Event::Issued(e) if e.certificate == *cert),
            "{last:?}"
        );
        assert_eq!(t.machine.inner.state(), State::Issued);
    }
}

#[test]
fn pending_gives_up_after_the_total_wait() {
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    srv.pki = pending_then_success(usize::MAX);
    let mut cfg = config();
    cfg.poll = PollBackoff::with_total_wait(Duration::from_secs(600));
    let mut t = transcript(start(cfg, 5));
    t.run(&mut srv, secs(3600));
    let ev = events(&t);
    assert_eq!(
        ev[ev.len() - 2..],
        [
            Event::Failed(ScepError::GaveUp(Duration::from_secs(600))),
            Event::BootMayContinue
        ]
    );
    // The total wait counts from the first PENDING.
    let pendings: Vec<(Instant, Instant)> = events_at(&t)
        .into_iter()
        .filter_map(|(at, e)| match e {
            Event::Pending { next_poll, .. } => Some((at, next_poll)),
            _ => None,
        })
        .collect();
    let first = pendings[0].0;
    assert!(first < secs(1));
    for (_, next_poll) in &pendings {
        assert!(*next_poll <= first + Duration::from_secs(600));
    }
    assert_eq!(t.machine.inner.state(), State::Failed);
    let polls = t.machine.inner.polls_sent();
    // 30 + 60 + 120 + 240 = 450 s nominal (at most 562.5 s with jitter), then the clamp at 600 s.
    assert!((4..=5).contains(&polls), "{polls}");
    assert_eq!(t.deadline, Instant::MAX);
}

#[test]
fn failure_is_a_typed_rejection() {
    for fi in FailInfo::ALL {
        let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
        srv.pki = Box::new(move |ca, seen, r| {
            pki_answer(&ca.cert_rep(seen, Status::Failure(fi), None, &ReplyOpts::default(), r))
        });
        let mut t = transcript(start(config(), 5));
        t.run(&mut srv, secs(5));
        assert_eq!(
            events(&t)[1..],
            [Event::Rejected(fi), Event::BootMayContinue]
        );
        assert_eq!(t.machine.inner.state(), State::Rejected(fi));
    }
}

#[test]
fn a_forged_reply_ends_without_certificate() {
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    srv.pki = Box::new(|ca, seen, r| {
        let opts = ReplyOpts {
            recipient_nonce: Some(vec![1; 16]),
            ..ReplyOpts::default()
        };
        let csr = CertReq::from_der(&seen.content).unwrap();
        let cert = ca.issue(&csr, None);
        pki_answer(&ca.cert_rep(seen, Status::Success, Some(&cert), &opts, r))
    });
    let mut t = transcript(start(config(), 5));
    t.run(&mut srv, secs(5));
    assert_eq!(
        events(&t)[1..],
        [
            Event::Failed(ScepError::CertRep(CertRepError::NonceMismatch)),
            Event::BootMayContinue
        ]
    );
    assert_eq!(t.machine.inner.state(), State::Failed);
}

#[test]
fn background_mode_lets_the_boot_go_on_and_shows_no_title() {
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    srv.pki = Box::new(|_, _, _| Answer::Silent);
    let mut cfg = config();
    cfg.wait = false;
    let m = start(cfg, 5);
    assert!(!m.blocks_boot());
    let mut t = transcript(m);
    t.run(&mut srv, secs(10));
    assert_eq!(
        t.log[0],
        Logged::Event(Instant::ZERO, Event::BootMayContinue)
    );
    let ev = t.events();
    assert!(!ev.iter().any(|e| matches!(e, Event::Display(_))), "{ev:?}");
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::BootMayContinue))
            .count(),
        1
    );
}

#[test]
fn title_counts_seconds_while_the_boot_waits() {
    let mut t = plain(start(config(), 5));
    assert_eq!(t.events(), [&Event::Display(Title { secs: 0 })]);
    assert_eq!(t.deadline, secs(1));
    assert!(t.input(Input::Timeout(ms(500))).is_empty());
    let logged = t.input(Input::Timeout(ms(3_200))).to_vec();
    assert_eq!(
        logged,
        [Logged::Event(ms(3_200), Event::Display(Title { secs: 3 }))]
    );
    assert_eq!(Title { secs: 3 }.to_string(), "SCEP: 3 secs");
    assert_eq!(
        Event::Display(Title { secs: 3 }).to_string(),
        "SCEP: 3 secs"
    );
    assert_eq!(t.deadline, secs(4));
}

#[test]
fn title_keeps_coming_while_a_slow_ca_thinks() {
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    // The CA takes 7.5 s over the PKCSReq (the HTTP timeout is 20 s).
    srv.pki_latency = Some(Duration::from_millis(7_500));
    let mut t = transcript(start(config(), 5));
    t.run(&mut srv, secs(10));
    let (send_at, _) = srv
        .transmits
        .iter()
        .rev()
        .find(|(_, x)| x.conn == 3 && matches!(x.action, Action::Send(_)))
        .unwrap()
        .clone();
    let answered = send_at + Duration::from_millis(7_500);
    // One title a second, at each whole second, driven by the machine's own deadline while the
    // request is outstanding; no transmit in between.
    let ticks: Vec<(Instant, Event)> = events_at(&t)
        .into_iter()
        .filter(|(at, e)| *at > send_at && *at < answered && matches!(e, Event::Display(_)))
        .collect();
    assert_eq!(ticks.len(), 7, "{ticks:?}");
    for (i, (at, e)) in ticks.iter().enumerate() {
        let s = i as u64 + 1;
        assert_eq!(*at, secs(s));
        assert_eq!(*e, Event::Display(Title { secs: s }));
    }
    assert!(
        !transmits_at(&t)
            .iter()
            .any(|(at, _)| *at > send_at && *at < answered)
    );
    assert!(matches!(events(&t)[1], Event::Issued(_)));
    // After the end, no more titles.
    let last = events_at(&t)
        .iter()
        .rev()
        .find(|(_, e)| matches!(e, Event::Display(_)))
        .unwrap()
        .0;
    assert!(last < answered);
}

#[test]
fn unreachable_server_fails_and_releases_the_boot() {
    let mut cfg = config();
    cfg.retry = RetryPolicy::none();
    let mut t = plain(start(cfg, 5));
    let logged = t.input(Input::TransportFailed(secs(2), 1)).to_vec();
    let failed = ScepError::Http {
        operation: Operation::GetCaCaps,
        failure: Failure::Connect,
    };
    assert_eq!(
        logged,
        [
            Logged::Event(secs(2), Event::Display(Title { secs: 2 })),
            Logged::Transmit(
                secs(2),
                Transmit {
                    conn: 1,
                    action: Action::Close
                }
            ),
            Logged::Event(secs(2), Event::Failed(failed.clone())),
            Logged::Event(secs(2), Event::BootMayContinue),
        ]
    );
    assert!(
        failed
            .to_string()
            .contains("cannot connect to the SCEP server")
    );
    assert_eq!(t.machine.state(), State::Failed);
    assert!(!t.machine.blocks_boot());
    // A late response is ignored.
    let late = http_response(200, Some("text/plain"), &[], b"AES");
    assert!(t.input(Input::Receive(secs(3), 1, &late)).is_empty());
    assert_eq!(t.deadline, Instant::MAX);
}

#[test]
fn unreachable_server_is_retried_then_given_up() {
    // The default policy: three exchanges, 2 s then 4 s apart, each on a new connection.
    let mut t = plain(start(config(), 5));
    let failed = ScepError::Http {
        operation: Operation::GetCaCaps,
        failure: Failure::Connect,
    };
    t.input(Input::TransportFailed(ms(100), 1));
    assert_eq!(
        events(&t),
        [Event::Retry {
            operation: Operation::GetCaCaps,
            retry: 1,
            at: ms(2_100),
            error: failed.clone()
        }]
    );
    t.advance(ms(2_099));
    assert!(transmits_at(&t).iter().all(|(at, _)| *at <= ms(100)));
    t.advance(ms(2_100));
    let tx = transmits_at(&t);
    let (at, last) = &tx[tx.len() - 2];
    assert_eq!((*at, last.conn), (ms(2_100), 2));
    assert!(matches!(last.action, Action::Connect { .. }));
    // A fact about the old connection is ignored.
    assert!(t.input(Input::TransportFailed(ms(2_200), 1)).is_empty());
    t.input(Input::TransportFailed(ms(2_300), 2));
    t.advance(ms(6_300));
    t.input(Input::TransportFailed(ms(6_400), 3));
    let ev = events(&t);
    assert_eq!(
        ev[1..],
        [
            Event::Retry {
                operation: Operation::GetCaCaps,
                retry: 2,
                at: ms(6_300),
                error: failed.clone()
            },
            Event::Failed(failed),
            Event::BootMayContinue
        ]
    );
    assert_eq!(t.machine.state(), State::Failed);
}

#[test]
fn http_error_on_pkioperation_is_typed() {
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    srv.pki =
        Box::new(|_, _, _| Answer::Http(http_response(500, Some("text/plain"), &[], b"oops")));
    let mut t = transcript(start(config(), 5));
    t.run(&mut srv, secs(5));
    assert_eq!(
        events(&t)[1],
        Event::Failed(ScepError::HttpStatus {
            operation: Operation::PkiOperation,
            status: 500
        })
    );
    // An HTML page served with 200 is not a CertRep.
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    srv.pki = Box::new(|_, _, _| {
        Answer::Http(http_response(
            200,
            Some("text/html"),
            &[],
            b"<html>login</html>",
        ))
    });
    let mut t = transcript(start(config(), 5));
    t.run(&mut srv, secs(5));
    assert_eq!(
        events(&t)[1..],
        [
            Event::Failed(ScepError::ContentType {
                operation: Operation::PkiOperation,
                content_type: Some("text/html".into())
            }),
            Event::BootMayContinue
        ]
    );
}

#[test]
fn renewal_req_is_signed_with_the_current_certificate() {
    let ca = TestCa::new(1, true);
    // The current certificate and its key, issued by the CA 300 days ago for a year.
    let old_key = SoftwareKey::generate(&mut rng(500), 1024).unwrap();
    let old_cert = common::issue_cert(
        "CN=12AB34CD".parse().unwrap(),
        common::spki(&old_key),
        ca.ca.cert.tbs_certificate().subject().clone(),
        &ca.ca.key,
        42,
        false,
        None,
        common::NOW_UNIX - Duration::from_secs(300 * 86400),
        365,
    );
    assert!(phone_scep::machine::renewal_due(
        &old_cert,
        80,
        common::NOW_UNIX
    ));
    assert!(!phone_scep::machine::renewal_due(
        &old_cert,
        90,
        common::NOW_UNIX
    ));
    let existing = Existing {
        certificate: old_cert.clone(),
        key: Box::new(old_key.clone()),
    };
    let new_key = device_key();
    let m = Enrollment::new(
        config(),
        KeySource::Provided(Box::new(new_key.clone())),
        Some(existing),
        rng(8),
        Instant::ZERO,
        common::NOW_UNIX,
    )
    .unwrap();
    let mut srv = CaServer::new(ca, SCEPSERVER_CAPS);
    let mut t = transcript(m);
    t.run(&mut srv, secs(5));
    let seen = &srv.pki_seen[0].2;
    assert_eq!(seen.message_type, "17");
    assert_eq!(seen.signer_cert, old_cert);
    let csr = CertReq::from_der(&seen.content).unwrap();
    assert_eq!(csr.info.public_key, common::spki(&new_key));
    // The reply is encrypted to the old certificate; the issued one carries the new key.
    let cert = srv.ca.issued.last().unwrap();
    let ev = events(&t);
    assert!(
        matches!(&ev[1], Event::Issued(e) if e.renewal && e.certificate == *cert),
        "{ev:?}"
    );
    assert_eq!(
        cert.tbs_certificate().subject_public_key_info(),
        &common::spki(&new_key)
    );
    assert_eq!(new_key.public_key(), new_key.public_key());
}

#[test]
fn renewal_without_the_cap_sends_pkcsreq() {
    let ca = TestCa::new(1, false);
    let old_key = SoftwareKey::generate(&mut rng(500), 1024).unwrap();
    let old_cert = common::issue_cert(
        "CN=x".parse().unwrap(),
        common::spki(&old_key),
        ca.ca.cert.tbs_certificate().subject().clone(),
        &ca.ca.key,
        42,
        false,
        None,
        common::NOW_UNIX - Duration::from_secs(86400),
        365,
    );
    let m = Enrollment::new(
        config(),
        KeySource::Provided(Box::new(device_key())),
        Some(Existing {
            certificate: old_cert,
            key: Box::new(old_key),
        }),
        rng(8),
        Instant::ZERO,
        common::NOW_UNIX,
    )
    .unwrap();
    let mut srv = CaServer::new(ca, b"SHA-256\nAES\nPOSTPKIOperation");
    let mut t = transcript(m);
    t.run(&mut srv, secs(5));
    assert_eq!(srv.pki_seen[0].2.message_type, "19");
}

#[test]
fn get_next_ca_cert_when_offered() {
    let mut srv = CaServer::new(
        TestCa::new(1, false),
        b"GetNextCACert\nPOSTPKIOperation\nSHA-256\nAES",
    );
    let next = common::stranger(61, "CN=Next CA");
    let sd = phone_scep::message::sign(
        &[],
        vec![],
        &srv.ca.ca.cert,
        &srv.ca.ca.key,
        DigestAlg::Sha256,
        std::slice::from_ref(&next.cert),
    )
    .unwrap();
    srv.hook = Some(Box::new(move |_, req| {
        (req.operation() == "GetNextCACert").then(|| {
            Answer::Http(http_response(
                200,
                Some("application/x-x509-next-ca-cert"),
                &[],
                &sd,
            ))
        })
    }));
    let mut t = transcript(start(config(), 5));
    t.run(&mut srv, secs(5));
    assert_eq!(
        srv.requests[2].2.target,
        "/scep?operation=GetNextCACert&message=CAIdentifier"
    );
    assert_eq!(srv.operations()[3], "PKIOperation");
    let ev = events(&t);
    assert!(
        matches!(&ev[1], Event::NextCaCerts(n) if n.certs == vec![next.cert.clone()]),
        "{ev:?}"
    );
    assert!(matches!(&ev[2], Event::Issued(_)));
    assert_eq!(t.machine.inner.state(), State::Issued);
}

#[test]
fn generated_key_has_the_configured_size() {
    let mut cfg = config();
    cfg.key_bits = 2048;
    let m = Enrollment::new(
        cfg.clone(),
        KeySource::Generate,
        None,
        rng(3),
        Instant::ZERO,
        common::NOW_UNIX,
    )
    .unwrap();
    assert_eq!(m.software_key().unwrap().bits(), 2048);
    cfg.key_bits = 4096;
    assert!(
        Enrollment::new(
            cfg,
            KeySource::Generate,
            None,
            rng(3),
            Instant::ZERO,
            common::NOW_UNIX
        )
        .is_err()
    );
}

#[test]
fn a_bad_url_is_a_typed_error() {
    let mut cfg = config();
    cfg.url = "ftp://ca/scep".into();
    assert!(matches!(
        Enrollment::new(
            cfg,
            KeySource::Provided(Box::new(device_key())),
            None,
            rng(3),
            Instant::ZERO,
            common::NOW_UNIX
        ),
        Err(ScepError::Url(phone_scep::phone_http::UrlError::Scheme))
    ));
}

/// Drains a machine by hand; returns what came out and the deadline.
fn drain(m: &mut M) -> (Vec<Event>, Vec<Transmit>, Instant) {
    let (mut ev, mut tx) = (Vec::new(), Vec::new());
    loop {
        match m.poll_output() {
            Output::Event(e) => ev.push(e),
            Output::Transmit(x) => tx.push(x),
            Output::Timeout(t) => return (ev, tx, t),
        }
    }
}

/// Answers the machine's request on `conn` with `bytes` and a close.
fn reply(m: &mut M, now: Instant, conn: ConnId, bytes: &[u8]) {
    m.handle_input(Input::Receive(now, conn, bytes));
    m.handle_input(Input::Closed(now, conn));
}

fn sent(tx: &[Transmit]) -> Vec<u8> {
    tx.iter()
        .find_map(|x| match &x.action {
            Action::Send(b) => Some(b.clone()),
            _ => None,
        })
        .unwrap()
}

/// Runs GetCACaps and GetCACert by hand; the PKCSReq is due but not taken.
fn discover_by_hand(m: &mut M, ca: &TestCa, now: Instant) {
    let _ = drain(m);
    reply(
        m,
        now,
        1,
        &http_response(200, Some("text/plain"), &[], SCEPSERVER_CAPS),
    );
    let (_, tx, _) = drain(m);
    assert_eq!(tx.last().unwrap().conn, 2);
    let (body, ct) = ca.get_ca_cert();
    reply(m, now, 2, &http_response(200, Some(ct), &[], &body));
}

#[test]
fn commit_on_take() {
    let mut ca = TestCa::new(1, false);
    // Polling nothing moves nothing: a machine fed only time, then drained, sends exactly
    // what its twin sends when drained at once — the same connection numbers, the same
    // senderNonce and message bytes (the RNG was not touched in between).
    let mut a = start(config(), 9);
    let mut b = start(config(), 9);
    for s in 1..30 {
        b.handle_input(Input::Timeout(secs(s)));
    }
    assert_eq!(b.conn(), None);
    let (_, tx_a, _) = drain(&mut a);
    let (_, tx_b, _) = drain(&mut b);
    assert_eq!(tx_a, tx_b);
    assert_eq!(tx_a[0].conn, 1);
    let t0 = ms(50);
    discover_by_hand(&mut a, &ca, t0);
    discover_by_hand(&mut b, &ca, t0);
    // The PKCSReq is due; only `a` is polled. `b` sees time pass for a minute first.
    let (_, tx_a, _) = drain(&mut a);
    for s in 1..60 {
        b.handle_input(Input::Timeout(secs(s)));
    }
    assert_eq!(
        b.conn(),
        Some(2),
        "the finished GetCACert exchange was not even collected"
    );
    let (_, tx_b, _) = drain(&mut b);
    let pki_a: Vec<&Transmit> = tx_a.iter().filter(|x| x.conn == 3).collect();
    let pki_b: Vec<&Transmit> = tx_b.iter().filter(|x| x.conn == 3).collect();
    assert_eq!(pki_a.len(), 2);
    assert_eq!(pki_a, pki_b);

    // A taken request reported failed is retried with the right counters: a new connection,
    // the same transactionID, a fresh senderNonce, and the reply checked against the new one.
    let first = ca.open(&HttpReq::parse(&sent(&tx_a)).pki_message());
    assert_eq!(first.message_type, "19");
    a.handle_input(Input::Completed(ms(60), 3));
    a.handle_input(Input::TransportFailed(ms(70), 3));
    let (ev, tx, deadline) = drain(&mut a);
    assert_eq!(
        tx,
        [Transmit {
            conn: 3,
            action: Action::Close
        }]
    );
    let at = ms(70) + Duration::from_secs(2);
    assert_eq!(
        ev,
        [Event::Retry {
            operation: Operation::PkiOperation,
            retry: 1,
            at,
            error: ScepError::Http {
                operation: Operation::PkiOperation,
                failure: Failure::Reset
            }
        }]
    );
    // Only the title ticks before the retry is due.
    assert_eq!(deadline, secs(1));
    a.handle_input(Input::Timeout(ms(2_069)));
    let (_, tx, _) = drain(&mut a);
    assert!(tx.is_empty());
    a.handle_input(Input::Timeout(at));
    let (_, tx, _) = drain(&mut a);
    assert_eq!(tx.len(), 2);
    assert_eq!(tx[0].conn, 4);
    assert_eq!(tx[0].action, connect_to("10.77.0.1", 8080));
    let again = ca.open(&HttpReq::parse(&sent(&tx)).pki_message());
    assert_eq!(again.message_type, "19");
    assert_eq!(again.transaction_id, first.transaction_id);
    assert_eq!(again.content, first.content, "the same CSR");
    assert_eq!(again.signer_cert, first.signer_cert, "the same signer");
    assert_ne!(again.sender_nonce, first.sender_nonce);
    // A CertRep for the first request arriving on its old connection is ignored; one for the
    // retry on the old connection too; the right one on the new connection is read.
    let csr = CertReq::from_der(&first.content).unwrap();
    let cert = ca.issue(&csr, None);
    let old = ca.cert_rep(
        &first,
        Status::Success,
        Some(&cert),
        &ReplyOpts::default(),
        &mut rng(1),
    );
    let new = ca.cert_rep(
        &again,
        Status::Success,
        Some(&cert),
        &ReplyOpts::default(),
        &mut rng(1),
    );
    let later = at + Duration::from_millis(30);
    reply(
        &mut a,
        later,
        3,
        &http_response(200, Some("application/x-pki-message"), &[], &old),
    );
    reply(
        &mut a,
        later,
        3,
        &http_response(200, Some("application/x-pki-message"), &[], &new),
    );
    let (ev, tx, _) = drain(&mut a);
    assert!(
        tx.is_empty() && ev.iter().all(|e| matches!(e, Event::Display(_))),
        "{ev:?}"
    );
    reply(
        &mut a,
        later,
        4,
        &http_response(200, Some("application/x-pki-message"), &[], &new),
    );
    let (ev, _, t) = drain(&mut a);
    assert!(
        matches!(&ev[..], [Event::Issued(e), Event::BootMayContinue] if e.certificate == cert),
        "{ev:?}"
    );
    assert_eq!(t, Instant::MAX);
}

#[test]
fn a_failed_cert_poll_is_retried_without_counting_a_pending_answer() {
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    // PENDING for the PKCSReq; the first CertPoll is read, then the connection resets; the
    // retried poll is PENDING again, the next one SUCCESS.
    let mut inner = pending_then_success(2);
    let mut n = 0;
    srv.pki = Box::new(move |ca, seen, r| {
        n += 1;
        if n == 2 {
            return Answer::Fail;
        }
        inner(ca, seen, r)
    });
    let mut t = transcript(start(config(), 21));
    t.run(&mut srv, secs(600));
    let ev = events(&t);
    let kinds: Vec<String> = ev
        .iter()
        .map(|e| match e {
            Event::Pending { attempt, .. } => format!("pending {attempt}"),
            Event::Retry {
                operation, retry, ..
            } => format!("retry {operation} {retry}"),
            Event::Issued(_) => "issued".into(),
            Event::Caps(_) => "caps".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "caps",
            "pending 0",
            "retry PKIOperation 1",
            "pending 1",
            "issued",
            "BootMayContinue"
        ]
    );
    // Three CertPolls were taken (the failed one counts), on connections 4, 5, 6; the PKCSReq
    // and every poll carry the same transactionID, each a fresh nonce.
    assert_eq!(t.machine.inner.polls_sent(), 3);
    assert_eq!(srv.connects(), [1, 2, 3, 4, 5, 6]);
    let tids: Vec<&str> = srv
        .pki_seen
        .iter()
        .map(|(_, _, s)| s.transaction_id.as_str())
        .collect();
    assert!(tids.iter().all(|x| *x == tids[0]));
    let types: Vec<&str> = srv
        .pki_seen
        .iter()
        .map(|(_, _, s)| s.message_type.as_str())
        .collect();
    // The reset poll was read by the server before it failed: four PKIOperations in all.
    assert_eq!(types, ["19", "20", "20", "20"]);
    let mut nonces: Vec<&Vec<u8>> = srv
        .pki_seen
        .iter()
        .map(|(_, _, s)| &s.sender_nonce)
        .collect();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 4);
}

#[test]
fn the_same_seed_and_inputs_give_the_same_transcript() {
    let run = || {
        let mut srv = CaServer::new(TestCa::new(1, true), SCEPSERVER_CAPS);
        srv.pki = pending_then_success(2);
        let mut t = transcript(start(config(), 33));
        t.run(&mut srv, secs(400));
        t.log
    };
    let a = run();
    assert!(
        a.iter()
            .any(|l| matches!(l, Logged::Event(_, Event::Issued(_))))
    );
    assert_eq!(a, run());
}

// ---------------------------------------------------------------------------------------------
// Issue 12: refuse what RFC 5280 refuses, and a floor under every delay.
// ---------------------------------------------------------------------------------------------

/// SUCCESS signed by party `signer` of the split CA (0: the CA certificate, 1: the
/// encryption-only RA).
fn signed_by(signer: usize) -> common::PkiHandler {
    Box::new(move |ca, seen, r| {
        let csr = CertReq::from_der(&seen.content).unwrap();
        let cert = ca.issue(&csr, None);
        let opts = ReplyOpts {
            signer: Some(signer),
            ..ReplyOpts::default()
        };
        pki_answer(&ca.cert_rep(seen, Status::Success, Some(&cert), &opts, r))
    })
}

#[test]
fn cert_rep_signed_without_digital_signature_is_refused() {
    // With an RA (CA + encryption RA + signing RA), the CA certificate (keyCertSign, cRLSign)
    // and the encryption RA (keyEncipherment) may not sign a CertRep (RFC 5280 §4.2.1.3).
    for signer in [0, 1] {
        let mut srv = CaServer::new(TestCa::new(1, true), SCEPSERVER_CAPS);
        srv.pki = signed_by(signer);
        let mut t = transcript(start(config(), 5));
        t.run(&mut srv, secs(5));
        assert_eq!(
            events(&t)[1..],
            [
                Event::Failed(ScepError::CertRep(CertRepError::SignerKeyUsage)),
                Event::BootMayContinue
            ],
            "signer {signer}"
        );
        assert_eq!(t.machine.inner.state(), State::Failed);
        assert!(!t.events().iter().any(|e| matches!(e, Event::Issued(_))));
    }
    // The signing RA (digitalSignature) is accepted.
    let mut srv = CaServer::new(TestCa::new(1, true), SCEPSERVER_CAPS);
    let mut t = transcript(start(config(), 5));
    t.run(&mut srv, secs(5));
    assert!(matches!(events(&t)[1], Event::Issued(_)));
}

#[test]
fn retry_after_zero_is_not_a_tight_loop() {
    // A CA that answers every PKIOperation with 503 and Retry-After: 0, against a policy
    // configured with no delay at all and 50 attempts: at least a second between requests.
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    srv.pki = Box::new(|_, _, _| {
        Answer::Http(http_response(
            503,
            Some("text/plain"),
            &[("Retry-After", "0")],
            b"",
        ))
    });
    let mut cfg = config();
    cfg.retry.attempts = 50;
    cfg.retry.initial = Duration::ZERO;
    cfg.retry.max_delay = Duration::ZERO;
    let mut t = transcript(start(cfg, 5));
    t.run(&mut srv, secs(3600));
    let times: Vec<Instant> = srv.pki_seen.iter().map(|(at, _, _)| *at).collect();
    assert_eq!(times.len(), 50);
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= MIN_RETRY_DELAY, "{w:?}");
    }
    let ev = events(&t);
    assert_eq!(
        ev[ev.len() - 2..],
        [
            Event::Failed(ScepError::HttpStatus {
                operation: Operation::PkiOperation,
                status: 503
            }),
            Event::BootMayContinue
        ]
    );
    // The default policy follows a longer Retry-After (up to its cap).
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    let mut n = 0;
    srv.hook = Some(Box::new(move |_, req| {
        n += 1;
        (req.operation() == "GetCACert" && n < 4)
            .then(|| Answer::Http(http_response(503, None, &[("Retry-After", "10")], b"")))
    }));
    let mut t = transcript(start(config(), 5));
    t.run(&mut srv, secs(60));
    let cacert: Vec<Instant> = srv
        .requests
        .iter()
        .filter(|(_, _, r)| r.operation() == "GetCACert")
        .map(|(at, _, _)| *at)
        .collect();
    assert_eq!(cacert.len(), 3, "{cacert:?}");
    assert!(cacert[1] - cacert[0] >= Duration::from_secs(10));
    assert!(cacert[2] - cacert[1] >= Duration::from_secs(10));
    assert!(matches!(events(&t).last(), Some(Event::BootMayContinue)));
    assert_eq!(t.machine.inner.state(), State::Issued);
}

#[test]
fn polling_has_a_floor_and_follows_a_longer_retry_after() {
    // A configuration asking for polls with no interval, and a CA saying Retry-After: 0 with
    // every PENDING: polls are still at least MIN_POLL apart.
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    srv.pki = Box::new(|ca, seen, r| {
        let rep = ca.cert_rep(seen, Status::Pending, None, &ReplyOpts::default(), r);
        Answer::Http(http_response(
            200,
            Some("application/x-pki-message"),
            &[("Retry-After", "0")],
            &rep,
        ))
    });
    let mut cfg = config();
    cfg.poll.initial = Duration::ZERO;
    cfg.poll.max_interval = Duration::ZERO;
    cfg.poll.total_wait = Duration::from_secs(120);
    let mut t = transcript(start(cfg, 5));
    t.run(&mut srv, secs(3600));
    let times: Vec<Instant> = srv.pki_seen.iter().map(|(at, _, _)| *at).collect();
    assert!(times.len() >= 3 && times.len() <= 26, "{}", times.len());
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= MIN_POLL, "{w:?}");
    }
    assert!(matches!(
        events(&t)[..],
        [
            ..,
            Event::Failed(ScepError::GaveUp(_)),
            Event::BootMayContinue
        ]
    ));
    // A PENDING with Retry-After: 600 moves the next poll out to 600 s (not 30 s).
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    srv.pki = Box::new(|ca, seen, r| {
        let rep = ca.cert_rep(seen, Status::Pending, None, &ReplyOpts::default(), r);
        Answer::Http(http_response(
            200,
            Some("application/x-pki-message"),
            &[("Retry-After", "600")],
            &rep,
        ))
    });
    let mut t = transcript(start(config(), 5));
    t.run(&mut srv, secs(700));
    let (at, next) = events_at(&t)
        .into_iter()
        .find_map(|(at, e)| match e {
            Event::Pending { next_poll, .. } => Some((at, next_poll)),
            _ => None,
        })
        .unwrap();
    assert_eq!(next - at, Duration::from_secs(600));
    assert_eq!(srv.pki_seen[1].0, next);
}

#[test]
fn http_through_the_proxy_uses_the_absolute_form() {
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    let mut cfg = config();
    cfg.http_proxy = "proxy.corp:3128".into();
    let mut t = transcript(start(cfg, 5));
    t.run(&mut srv, secs(5));
    assert!(matches!(events(&t)[1], Event::Issued(_)));
    assert!(srv.transmits.iter().all(|(_, x)| match &x.action {
        Action::Connect { host, port, tls } =>
            (host.as_str(), *port, tls) == ("proxy.corp", 3128, &None),
        _ => true,
    }));
    let targets: Vec<&str> = srv
        .requests
        .iter()
        .map(|(_, _, r)| r.target.as_str())
        .collect();
    assert_eq!(
        targets,
        [
            "http://10.77.0.1:8080/scep?operation=GetCACaps",
            "http://10.77.0.1:8080/scep?operation=GetCACert&message=CAIdentifier",
            "http://10.77.0.1:8080/scep?operation=PKIOperation"
        ]
    );
    // An exception domain goes direct.
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    let mut cfg = config();
    cfg.url = "http://ca.lab.test/scep".into();
    cfg.http_proxy = "proxy.corp:3128".into();
    cfg.exception_domains = "other.org,LAB.test".into();
    let mut t = transcript(start(cfg, 5));
    t.run(&mut srv, secs(5));
    assert!(matches!(events(&t)[1], Event::Issued(_)));
    assert_eq!(srv.transmits[0].1.action, connect_to("ca.lab.test", 80));
    assert_eq!(srv.requests[0].2.target, "/scep?operation=GetCACaps");
}

#[test]
fn https_through_the_proxy_tunnels_with_connect() {
    let mut srv = CaServer::new(TestCa::new(1, false), SCEPSERVER_CAPS);
    let mut cfg = config();
    cfg.url = "https://ca.lab.test/scep".into();
    cfg.http_proxy = "proxy.corp:3128".into();
    cfg.check_identity = false;
    let mut t = transcript(start(cfg, 5));
    t.run(&mut srv, secs(5));
    assert!(matches!(events(&t)[1], Event::Issued(_)));
    let conn1: Vec<&Action> = srv
        .transmits
        .iter()
        .filter(|(_, x)| x.conn == 1)
        .map(|(_, x)| &x.action)
        .collect();
    match conn1.as_slice() {
        [
            Action::Connect {
                host,
                port: 3128,
                tls: None,
            },
            Action::Send(connect),
            Action::StartTls(tls),
            Action::Send(get),
            Action::Close,
        ] => {
            assert_eq!(host, "proxy.corp");
            assert!(connect.starts_with(b"CONNECT ca.lab.test:443 HTTP/1.1\r\n"));
            assert_eq!(
                (tls.server_name.as_str(), tls.check_identity),
                ("ca.lab.test", false)
            );
            assert!(
                get.starts_with(b"GET /scep?operation=GetCACaps HTTP/1.1\r\nHost: ca.lab.test\r\n")
            );
        }
        other => panic!("{other:?}"),
    }
}
