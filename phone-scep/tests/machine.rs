//! Transcript tests of the enrollment machine in virtual time, against the test CA.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{ReplyOpts, Status, TestCa, rng};
use der::Decode;
use phone_scep::algs::{ContentCipher, DigestAlg};
use phone_scep::backoff::PollBackoff;
use phone_scep::http::{HttpRequest, HttpResponse, Method, Operation, TransportError};
use phone_scep::key::{DeviceKey, SoftwareKey};
use phone_scep::machine::{
    Config, Enrollment, Event, Existing, Input, KeySource, Output, ScepError, State, Title,
};
use phone_scep::message::{CertRepError, FailInfo};
use phone_scep::request::Substitutions;
use phone_settings::Instant;
use rand_chacha::ChaCha20Rng;
use x509_cert::request::CertReq;

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

fn start(cfg: Config, seed: u64) -> Enrollment<ChaCha20Rng> {
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

/// Drains outputs until a Timeout; returns the events, transmits and the timeout.
fn drain(m: &mut Enrollment<ChaCha20Rng>) -> (Vec<Event>, Vec<HttpRequest>, Instant) {
    let (mut ev, mut tx) = (Vec::new(), Vec::new());
    loop {
        match m.poll_output() {
            Output::Event(e) => ev.push(e),
            Output::Transmit(r) => tx.push(r),
            Output::Timeout(t) => return (ev, tx, t),
        }
    }
}

fn respond(m: &mut Enrollment<ChaCha20Rng>, now: Instant, status: u16, ct: &str, body: &[u8]) {
    m.handle_input(Input::Response(
        now,
        HttpResponse {
            status,
            content_type: Some(ct),
            body,
        },
    ));
}

/// The pkiMessage of a PKIOperation request, from the POST body or the GET `message=`.
fn pki_body(r: &HttpRequest) -> Vec<u8> {
    assert_eq!(r.operation, Operation::PkiOperation);
    match r.method {
        Method::Post => r.body.clone(),
        Method::Get => {
            let q = r.target.split("message=").nth(1).unwrap();
            let unescaped = q
                .replace("%2B", "+")
                .replace("%2F", "/")
                .replace("%3D", "=");
            base64::engine::general_purpose::STANDARD
                .decode(unescaped)
                .unwrap()
        }
    }
}

/// Runs discovery: GetCACaps and GetCACert. Returns the PKIOperation request.
fn discover(
    m: &mut Enrollment<ChaCha20Rng>,
    ca: &TestCa,
    caps: &[u8],
    now: Instant,
) -> HttpRequest {
    let (_, tx, _) = drain(m);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].target, "/scep?operation=GetCACaps");
    assert_eq!(tx[0].method, Method::Get);
    assert_eq!(tx[0].connect_host, "10.77.0.1");
    assert_eq!(tx[0].connect_port, 8080);
    respond(m, now, 200, "text/plain", caps);
    let (ev, tx, _) = drain(m);
    assert!(matches!(ev.as_slice(), [Event::Caps(_)]));
    assert_eq!(tx.len(), 1);
    assert_eq!(
        tx[0].target,
        "/scep?operation=GetCACert&message=CAIdentifier"
    );
    let (body, ct) = ca.get_ca_cert();
    respond(m, now, 200, ct, &body);
    let (_, mut tx, _) = drain(m);
    assert_eq!(tx.len(), 1);
    tx.remove(0)
}

#[test]
fn transcript_pkcsreq_success() {
    let mut ca = TestCa::new(1, false);
    let mut m = start(config(), 7);
    assert_eq!(m.state(), State::Discovering);
    assert!(m.blocks_boot());
    // MYCERTWAIT=1: the title is shown from the start.
    assert_eq!(
        m.poll_output(),
        Output::Event(Event::Display(Title { secs: 0 }))
    );
    let t = Instant::from_millis(200);
    let req = discover(&mut m, &ca, SCEPSERVER_CAPS, t);
    assert_eq!(m.state(), State::Enrolling);
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.target, "/scep?operation=PKIOperation");
    assert!(
        req.headers
            .contains(&("Content-Type".into(), "application/x-pki-message".into()))
    );
    let seen = ca.open(&req.body);
    assert_eq!(seen.message_type, "19");
    assert_eq!(seen.transaction_id, m.transaction_id());
    assert_eq!(
        (seen.cipher, seen.digest),
        (ContentCipher::Aes128Cbc, DigestAlg::Sha256)
    );
    let csr = CertReq::from_der(&seen.content).unwrap();
    assert_eq!(csr.info.subject.to_string(), "CN=12AB34CD,O=Phone Lab,C=US");
    let (rep, cert) = ca.answer_success(&req.body, &ReplyOpts::default(), &mut rng(3));
    respond(&mut m, t, 200, "application/x-pki-message", &rep);
    let (ev, tx, timeout) = drain(&mut m);
    assert!(tx.is_empty());
    assert_eq!(timeout, Instant::MAX);
    match ev.as_slice() {
        [Event::Issued(e), Event::BootMayContinue] => {
            assert_eq!(e.certificate, cert);
            assert!(!e.renewal);
            assert_eq!(e.ca.ca_cert(), &ca.ca.cert);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.state(), State::Issued);
    assert!(!m.blocks_boot());
}

#[test]
fn algorithms_follow_the_caps() {
    let cases: &[(&[u8], bool, ContentCipher, DigestAlg, Method)] = &[
        (
            SCEPSERVER_CAPS,
            false,
            ContentCipher::Aes128Cbc,
            DigestAlg::Sha256,
            Method::Post,
        ),
        (
            SCEPSERVER_CAPS,
            true,
            ContentCipher::Aes256Cbc,
            DigestAlg::Sha256,
            Method::Post,
        ),
        (
            b"DES3\nSHA-1\n",
            false,
            ContentCipher::DesEde3Cbc,
            DigestAlg::Sha1,
            Method::Get,
        ),
        (
            b"",
            false,
            ContentCipher::DesEde3Cbc,
            DigestAlg::Sha1,
            Method::Get,
        ),
        (
            b"AES\nPOSTPKIOperation",
            false,
            ContentCipher::Aes128Cbc,
            DigestAlg::Sha1,
            Method::Post,
        ),
        (
            b"SHA-256\nDES3",
            true,
            ContentCipher::Aes256Cbc,
            DigestAlg::Sha256,
            Method::Get,
        ),
    ];
    for (i, (caps, aes256, cipher, digest, method)) in cases.iter().enumerate() {
        let mut ca = TestCa::new(1, false);
        let mut cfg = config();
        cfg.aes256 = *aes256;
        let mut m = start(cfg, 10 + i as u64);
        let req = discover(&mut m, &ca, caps, Instant::ZERO);
        assert_eq!(req.method, *method, "case {i}");
        let body = pki_body(&req);
        let seen = ca.open(&body);
        assert_eq!((seen.cipher, seen.digest), (*cipher, *digest), "case {i}");
        // Whatever we sent, a DES/SHA-1 reply (scepserver's) is read.
        let (rep, cert) = ca.answer_success(&body, &ReplyOpts::default(), &mut rng(3));
        respond(
            &mut m,
            Instant::ZERO,
            200,
            "application/x-pki-message",
            &rep,
        );
        let (ev, _, _) = drain(&mut m);
        assert!(
            matches!(&ev[0], Event::Issued(e) if e.certificate == cert),
            "case {i}: {ev:?}"
        );
    }
}

#[test]
fn pending_then_success_after_polls_with_backoff() {
    for seed in 0..6u64 {
        let mut ca = TestCa::new(1, seed % 2 == 0);
        let mut m = start(config(), 100 + seed);
        let req = discover(&mut m, &ca, SCEPSERVER_CAPS, Instant::ZERO);
        let first = ca.open(&req.body);
        let mut now = Instant::from_secs(1);
        respond(
            &mut m,
            now,
            200,
            "application/x-pki-message",
            &ca.cert_rep(
                &first,
                Status::Pending,
                None,
                &ReplyOpts::default(),
                &mut rng(seed),
            ),
        );
        let mut nonces = vec![first.sender_nonce.clone()];
        for attempt in 0..8u32 {
            let (ev, tx, timeout) = drain(&mut m);
            assert!(tx.is_empty());
            let next = ev
                .iter()
                .find_map(|e| match e {
                    Event::Pending {
                        attempt: a,
                        next_poll,
                    } => Some((*a, *next_poll)),
                    _ => None,
                })
                .unwrap();
            assert_eq!(next.0, attempt);
            let wait = next.1.saturating_duration_since(now);
            let nominal = PollBackoff::default().nominal(attempt);
            assert!(
                wait >= nominal && wait <= nominal * 5 / 4,
                "seed {seed} attempt {attempt}: {wait:?}"
            );
            assert!(wait >= Duration::from_secs(30) && wait <= Duration::from_secs(1800));
            assert_eq!(m.state(), State::Pending);
            // The display tick comes first; an early timeout sends nothing.
            assert!(timeout <= next.1);
            m.handle_input(Input::Timeout(Instant::from_micros(next.1.as_micros() - 1)));
            let (_, tx, _) = drain(&mut m);
            assert!(tx.is_empty());
            now = next.1;
            m.handle_input(Input::Timeout(now));
            let (_, tx, _) = drain(&mut m);
            assert_eq!(tx.len(), 1);
            let poll = ca.open(&tx[0].body);
            // CertPoll: same transactionID, fresh nonce, IssuerAndSubject content.
            assert_eq!(poll.message_type, "20");
            assert_eq!(poll.transaction_id, first.transaction_id);
            assert!(!nonces.contains(&poll.sender_nonce));
            nonces.push(poll.sender_nonce.clone());
            let ias = phone_scep::request::IssuerAndSubject::from_der(&poll.content).unwrap();
            assert_eq!(&ias.issuer, ca.ca.cert.tbs_certificate().subject());
            assert_eq!(ias.subject.to_string(), "CN=12AB34CD,O=Phone Lab,C=US");
            if attempt == 7 {
                let csr = CertReq::from_der(&first.content).unwrap();
                let cert = ca.issue(&csr, None);
                let rep = ca.cert_rep(
                    &poll,
                    Status::Success,
                    Some(&cert),
                    &ReplyOpts::default(),
                    &mut rng(seed),
                );
                respond(&mut m, now, 200, "application/x-pki-message", &rep);
                let (ev, _, _) = drain(&mut m);
                assert!(
                    matches!(&ev[0], Event::Issued(e) if e.certificate == cert),
                    "{ev:?}"
                );
                assert_eq!(m.state(), State::Issued);
            } else {
                let rep = ca.cert_rep(
                    &poll,
                    Status::Pending,
                    None,
                    &ReplyOpts::default(),
                    &mut rng(seed),
                );
                respond(&mut m, now, 200, "application/x-pki-message", &rep);
            }
        }
    }
}

#[test]
fn pending_gives_up_after_the_total_wait() {
    let mut ca = TestCa::new(1, false);
    let mut cfg = config();
    cfg.poll = PollBackoff::with_total_wait(Duration::from_secs(600));
    let mut m = start(cfg, 5);
    let req = discover(&mut m, &ca, SCEPSERVER_CAPS, Instant::ZERO);
    let mut seen = ca.open(&req.body);
    let mut now = Instant::ZERO;
    let mut polls = 0;
    loop {
        respond(
            &mut m,
            now,
            200,
            "x",
            &ca.cert_rep(
                &seen,
                Status::Pending,
                None,
                &ReplyOpts::default(),
                &mut rng(1),
            ),
        );
        let (ev, _, _) = drain(&mut m);
        if let Some(Event::Failed(e)) = ev.iter().find(|e| matches!(e, Event::Failed(_))) {
            assert_eq!(e, &ScepError::GaveUp(Duration::from_secs(600)));
            assert!(ev.contains(&Event::BootMayContinue));
            break;
        }
        let Some(Event::Pending { next_poll, .. }) =
            ev.iter().find(|e| matches!(e, Event::Pending { .. }))
        else {
            panic!("{ev:?}")
        };
        assert!(*next_poll <= Instant::from_secs(600));
        now = *next_poll;
        m.handle_input(Input::Timeout(now));
        let (_, tx, _) = drain(&mut m);
        seen = ca.open(&tx[0].body);
        polls += 1;
        assert!(polls < 10);
    }
    assert_eq!(m.state(), State::Failed);
    // 30 + 60 + 120 + 240 = 450 s nominal (at most 562.5 s with jitter), then the clamp at 600 s.
    assert!((4..=5).contains(&polls), "{polls}");
}

#[test]
fn failure_is_a_typed_rejection() {
    for fi in FailInfo::ALL {
        let mut ca = TestCa::new(1, false);
        let mut m = start(config(), 5);
        let req = discover(&mut m, &ca, SCEPSERVER_CAPS, Instant::ZERO);
        let seen = ca.open(&req.body);
        respond(
            &mut m,
            Instant::ZERO,
            200,
            "x",
            &ca.cert_rep(
                &seen,
                Status::Failure(fi),
                None,
                &ReplyOpts::default(),
                &mut rng(1),
            ),
        );
        let (ev, _, _) = drain(&mut m);
        assert_eq!(ev, vec![Event::Rejected(fi), Event::BootMayContinue]);
        assert_eq!(m.state(), State::Rejected(fi));
    }
}

#[test]
fn a_forged_reply_ends_without_certificate() {
    let mut ca = TestCa::new(1, false);
    let mut m = start(config(), 5);
    let req = discover(&mut m, &ca, SCEPSERVER_CAPS, Instant::ZERO);
    let opts = ReplyOpts {
        recipient_nonce: Some(vec![1; 16]),
        ..ReplyOpts::default()
    };
    let (rep, _) = ca.answer_success(&req.body, &opts, &mut rng(3));
    respond(&mut m, Instant::ZERO, 200, "x", &rep);
    let (ev, _, _) = drain(&mut m);
    assert_eq!(
        ev,
        vec![
            Event::Failed(ScepError::CertRep(CertRepError::NonceMismatch)),
            Event::BootMayContinue
        ]
    );
    assert_eq!(m.state(), State::Failed);
}

#[test]
fn background_mode_lets_the_boot_go_on_and_shows_no_title() {
    let ca = TestCa::new(1, false);
    let mut cfg = config();
    cfg.wait = false;
    let mut m = start(cfg, 5);
    assert_eq!(m.poll_output(), Output::Event(Event::BootMayContinue));
    assert!(!m.blocks_boot());
    let _ = discover(&mut m, &ca, SCEPSERVER_CAPS, Instant::from_secs(5));
    m.handle_input(Input::Timeout(Instant::from_secs(10)));
    let (ev, _, _) = drain(&mut m);
    assert!(ev.is_empty(), "{ev:?}");
}

#[test]
fn title_counts_seconds_while_the_boot_waits() {
    let mut m = start(config(), 5);
    let (ev, _, t) = drain(&mut m);
    assert_eq!(ev, vec![Event::Display(Title { secs: 0 })]);
    assert_eq!(t, Instant::from_secs(1));
    m.handle_input(Input::Timeout(Instant::from_millis(500)));
    assert!(drain(&mut m).0.is_empty());
    m.handle_input(Input::Timeout(Instant::from_millis(3_200)));
    let (ev, _, t) = drain(&mut m);
    assert_eq!(ev, vec![Event::Display(Title { secs: 3 })]);
    assert_eq!(Title { secs: 3 }.to_string(), "SCEP: 3 secs");
    assert_eq!(t, Instant::from_secs(4));
}

#[test]
fn unreachable_server_fails_and_releases_the_boot() {
    let mut m = start(config(), 5);
    let _ = drain(&mut m);
    m.handle_input(Input::TransportFailed(
        Instant::from_secs(2),
        &TransportError::Connect("refused".into()),
    ));
    let (ev, tx, _) = drain(&mut m);
    assert!(tx.is_empty());
    assert_eq!(
        ev,
        vec![
            Event::Display(Title { secs: 2 }),
            Event::Failed(ScepError::Transport(TransportError::Connect(
                "refused".into()
            ))),
            Event::BootMayContinue
        ]
    );
    // A late response is ignored.
    respond(&mut m, Instant::from_secs(3), 200, "x", b"AES");
    assert!(drain(&mut m).0.is_empty());
}

#[test]
fn http_error_on_pkioperation_is_typed() {
    let ca = TestCa::new(1, false);
    let mut m = start(config(), 5);
    let _ = discover(&mut m, &ca, SCEPSERVER_CAPS, Instant::ZERO);
    respond(&mut m, Instant::ZERO, 500, "text/plain", b"oops");
    let (ev, _, _) = drain(&mut m);
    assert_eq!(
        ev[0],
        Event::Failed(ScepError::HttpStatus {
            operation: "PKIOperation",
            status: 500
        })
    );
}

#[test]
fn renewal_req_is_signed_with_the_current_certificate() {
    let mut ca = TestCa::new(1, true);
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
    let mut m = Enrollment::new(
        config(),
        KeySource::Provided(Box::new(new_key.clone())),
        Some(existing),
        rng(8),
        Instant::ZERO,
        common::NOW_UNIX,
    )
    .unwrap();
    let req = discover(&mut m, &ca, SCEPSERVER_CAPS, Instant::ZERO);
    let seen = ca.open(&req.body);
    assert_eq!(seen.message_type, "17");
    assert_eq!(seen.signer_cert, old_cert);
    let csr = CertReq::from_der(&seen.content).unwrap();
    assert_eq!(csr.info.public_key, common::spki(&new_key));
    // The reply is encrypted to the old certificate; the issued one carries the new key.
    let cert = ca.issue(&csr, None);
    let rep = ca.cert_rep(
        &seen,
        Status::Success,
        Some(&cert),
        &ReplyOpts::default(),
        &mut rng(2),
    );
    respond(&mut m, Instant::ZERO, 200, "x", &rep);
    let (ev, _, _) = drain(&mut m);
    assert!(
        matches!(&ev[0], Event::Issued(e) if e.renewal && e.certificate == cert),
        "{ev:?}"
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
    let mut m = Enrollment::new(
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
    let req = discover(
        &mut m,
        &ca,
        b"SHA-256\nAES\nPOSTPKIOperation",
        Instant::ZERO,
    );
    assert_eq!(ca.open(&req.body).message_type, "19");
}

#[test]
fn get_next_ca_cert_when_offered() {
    let mut ca = TestCa::new(1, false);
    let mut m = start(config(), 5);
    let (_, _, _) = drain(&mut m);
    respond(
        &mut m,
        Instant::ZERO,
        200,
        "text/plain",
        b"GetNextCACert\nPOSTPKIOperation\nSHA-256\nAES",
    );
    let _ = drain(&mut m);
    let (body, ct) = ca.get_ca_cert();
    respond(&mut m, Instant::ZERO, 200, ct, &body);
    let (_, tx, _) = drain(&mut m);
    assert_eq!(
        tx[0].target,
        "/scep?operation=GetNextCACert&message=CAIdentifier"
    );
    let next = common::stranger(61, "CN=Next CA");
    let sd = phone_scep::message::sign(
        &[],
        vec![],
        &ca.ca.cert,
        &ca.ca.key,
        DigestAlg::Sha256,
        std::slice::from_ref(&next.cert),
    )
    .unwrap();
    respond(
        &mut m,
        Instant::ZERO,
        200,
        "application/x-x509-next-ca-cert",
        &sd,
    );
    let (ev, tx, _) = drain(&mut m);
    assert!(
        matches!(&ev[0], Event::NextCaCerts(n) if n.certs == vec![next.cert.clone()]),
        "{ev:?}"
    );
    assert_eq!(tx[0].operation, Operation::PkiOperation);
    let (rep, _) = ca.answer_success(&tx[0].body, &ReplyOpts::default(), &mut rng(3));
    respond(&mut m, Instant::ZERO, 200, "x", &rep);
    assert_eq!(m.state(), State::Issued);
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
