//! CertRep handling against replies built by a RustCrypto test CA (tests/common).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{ReplyOpts, Status, TestCa, rng, stranger};
use der::{Decode, Encode};
use phone_scep::algs::{ContentCipher, DigestAlg};
use phone_scep::cacert::CaCerts;
use phone_scep::key::{DeviceKey, SoftwareKey};
use phone_scep::message::{
    self, CertRep, CertRepError, Expectation, FailInfo, MessageType, RequestParams,
};
use phone_scep::request::{self, Substitutions};
use x509_cert::Certificate;
use x509_cert::request::CertReq;

struct Client {
    key: SoftwareKey,
    cert: Certificate,
    csr: Vec<u8>,
    tid: String,
    nonce: [u8; 16],
}

fn client(seed: u64) -> Client {
    let mut r = rng(seed);
    let key = SoftwareKey::generate(&mut r, 1024).unwrap();
    let subst = Substitutions {
        serial_no: "12AB34CD".into(),
        mac_addr: "00aabbccddee".into(),
    };
    let subject = request::subject_name("/C=US/O=Phone Lab", "$SERIALNO", &subst).unwrap();
    let cert =
        request::self_signed_cert(subject.clone(), &key, &[5, 6, 7], common::NOW_UNIX).unwrap();
    let csr = request::build_csr(subject, &key, "secret123")
        .unwrap()
        .to_der()
        .unwrap();
    let tid = request::transaction_id(&key).unwrap();
    Client {
        key,
        cert,
        csr,
        tid,
        nonce: [seed as u8; 16],
    }
}

fn request(
    c: &Client,
    ca: &CaCerts,
    cipher: ContentCipher,
    digest: DigestAlg,
    seed: u64,
) -> Vec<u8> {
    let p = RequestParams {
        message_type: MessageType::PkcsReq,
        content: &c.csr,
        signer_cert: &c.cert,
        signer_key: &c.key,
        recipient: ca.encryption_cert(),
        cipher,
        digest,
        transaction_id: &c.tid,
        sender_nonce: &c.nonce,
    };
    message::build_request(&p, &mut rng(seed)).unwrap()
}

fn parse(c: &Client, ca: &CaCerts, body: &[u8]) -> Result<CertRep, CertRepError> {
    let exp = Expectation {
        transaction_id: &c.tid,
        sender_nonce: &c.nonce,
        ca,
        our_cert: &c.cert,
        our_key: &c.key,
        requested_key: c.key.public_key(),
    };
    message::parse_cert_rep(body, &exp)
}

fn setup(split: bool) -> (TestCa, CaCerts, Client) {
    let ca = TestCa::new(1, split);
    let certs = CaCerts::parse(&ca.get_ca_cert().0).unwrap();
    (ca, certs, client(2))
}

#[test]
fn request_carries_what_rfc8894_asks() {
    let (ca, certs, c) = setup(false);
    let body = request(&c, &certs, ContentCipher::Aes128Cbc, DigestAlg::Sha256, 3);
    let seen = ca.open(&body);
    assert_eq!(seen.message_type, "19");
    assert_eq!(seen.transaction_id, c.tid);
    assert_eq!(seen.transaction_id.len(), 64);
    assert_eq!(seen.sender_nonce, c.nonce);
    assert_eq!(seen.content, c.csr);
    assert_eq!(seen.signer_cert, c.cert);
    assert_eq!(
        (seen.cipher, seen.digest),
        (ContentCipher::Aes128Cbc, DigestAlg::Sha256)
    );
    // The CSR carries the challenge and the subject, and is self-consistent.
    let csr = CertReq::from_der(&seen.content).unwrap();
    assert_eq!(csr.info.subject.to_string(), "CN=12AB34CD,O=Phone Lab,C=US");
    assert!(
        csr.info
            .attributes
            .iter()
            .any(|a| a.oid == const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7"))
    );
}

#[test]
fn success_with_every_reply_cipher_and_digest() {
    let (mut ca, certs, c) = setup(false);
    let body = request(&c, &certs, ContentCipher::DesEde3Cbc, DigestAlg::Sha1, 3);
    for cipher in [
        ContentCipher::DesCbc,
        ContentCipher::DesEde3Cbc,
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
    ] {
        for digest in [DigestAlg::Sha1, DigestAlg::Sha256, DigestAlg::Sha512] {
            let opts = ReplyOpts {
                cipher,
                digest,
                ..ReplyOpts::default()
            };
            let (rep, cert) = ca.answer_success(&body, &opts, &mut rng(4));
            match parse(&c, &certs, &rep) {
                Ok(CertRep::Success(issued)) => {
                    assert_eq!(issued.certificate, cert, "{cipher:?} {digest:?}");
                    assert_eq!(issued.chain, vec![ca.ca.cert.clone()]);
                }
                other => panic!("{cipher:?} {digest:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn every_request_cipher_and_digest_is_readable_by_the_ca() {
    let (ca, certs, c) = setup(false);
    for cipher in [
        ContentCipher::DesEde3Cbc,
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes256Cbc,
    ] {
        for digest in [DigestAlg::Sha1, DigestAlg::Sha256] {
            let seen = ca.open(&request(&c, &certs, cipher, digest, 9));
            assert_eq!((seen.cipher, seen.digest), (cipher, digest));
            assert_eq!(seen.content, c.csr);
        }
    }
}

#[test]
fn failure_for_each_fail_info() {
    let (mut ca, certs, c) = setup(false);
    let seen = ca.open(&request(
        &c,
        &certs,
        ContentCipher::Aes128Cbc,
        DigestAlg::Sha256,
        3,
    ));
    for fi in FailInfo::ALL {
        let rep = ca.cert_rep(
            &seen,
            Status::Failure(fi),
            None,
            &ReplyOpts::default(),
            &mut rng(5),
        );
        assert_eq!(parse(&c, &certs, &rep), Ok(CertRep::Failure(fi)));
    }
    assert_eq!(FailInfo::BadRequest.to_string(), "badRequest");
    assert_eq!(FailInfo::BadCertId.to_string(), "badCertId");
}

#[test]
fn pending() {
    let (mut ca, certs, c) = setup(false);
    let seen = ca.open(&request(
        &c,
        &certs,
        ContentCipher::Aes128Cbc,
        DigestAlg::Sha256,
        3,
    ));
    let rep = ca.cert_rep(
        &seen,
        Status::Pending,
        None,
        &ReplyOpts::default(),
        &mut rng(5),
    );
    assert_eq!(parse(&c, &certs, &rep), Ok(CertRep::Pending));
}

#[test]
fn wrong_nonce_and_wrong_transaction_id_are_refused() {
    let (mut ca, certs, c) = setup(false);
    let body = request(&c, &certs, ContentCipher::Aes128Cbc, DigestAlg::Sha256, 3);
    let seen = ca.open(&body);
    let csr = CertReq::from_der(&seen.content).unwrap();
    let cert = ca.issue(&csr, None);
    let opts = ReplyOpts {
        recipient_nonce: Some(vec![0xEE; 16]),
        ..ReplyOpts::default()
    };
    let rep = ca.cert_rep(&seen, Status::Success, Some(&cert), &opts, &mut rng(5));
    assert_eq!(parse(&c, &certs, &rep), Err(CertRepError::NonceMismatch));
    let opts = ReplyOpts {
        tid: Some("OTHER".into()),
        ..ReplyOpts::default()
    };
    let rep = ca.cert_rep(&seen, Status::Success, Some(&cert), &opts, &mut rng(5));
    assert_eq!(
        parse(&c, &certs, &rep),
        Err(CertRepError::TransactionIdMismatch {
            got: "OTHER".into()
        })
    );
}

#[test]
fn wrong_signer_is_refused() {
    let (mut ca, certs, c) = setup(false);
    let seen = ca.open(&request(
        &c,
        &certs,
        ContentCipher::Aes128Cbc,
        DigestAlg::Sha256,
        3,
    ));
    let rep = ca.cert_rep(
        &seen,
        Status::Failure(FailInfo::BadRequest),
        None,
        &ReplyOpts::default(),
        &mut rng(5),
    );
    // The same reply re-signed by a stranger with another name: unknown signer.
    let v = message::verify_signed(&rep, &certs.certs).unwrap();
    let other = stranger(77, "CN=Evil CA");
    let forged = message::sign(
        &v.econtent.clone().unwrap_or_default(),
        v.attrs
            .iter()
            .filter(|a| {
                a.oid != phone_scep::oid::CONTENT_TYPE && a.oid != phone_scep::oid::MESSAGE_DIGEST
            })
            .cloned()
            .collect(),
        &other.cert,
        &other.key,
        DigestAlg::Sha256,
        &[],
    )
    .unwrap();
    assert_eq!(parse(&c, &certs, &forged), Err(CertRepError::UnknownSigner));
    // A stranger claiming the CA's issuer and serial: the signature does not verify.
    let imposter = stranger(78, "CN=Test SCEP CA,O=Phone Lab,C=US");
    let forged = message::sign(
        &[],
        v.attrs
            .iter()
            .filter(|a| {
                a.oid != phone_scep::oid::CONTENT_TYPE && a.oid != phone_scep::oid::MESSAGE_DIGEST
            })
            .cloned()
            .collect(),
        &imposter.cert,
        &imposter.key,
        DigestAlg::Sha256,
        &[],
    )
    .unwrap();
    assert_eq!(parse(&c, &certs, &forged), Err(CertRepError::BadSignature));
    // Any flipped byte in a genuine reply is refused, never a panic.
    for i in (0..rep.len()).step_by(7) {
        let mut bad = rep.clone();
        bad[i] ^= 0x55;
        assert!(!matches!(
            parse(&c, &certs, &bad),
            Ok(CertRep::Failure(FailInfo::BadAlg))
        ));
        if let Ok(r) = parse(&c, &certs, &bad) {
            assert_eq!(r, CertRep::Failure(FailInfo::BadRequest), "byte {i}");
        }
    }
}

#[test]
fn issued_key_mismatch_is_refused() {
    let (mut ca, certs, c) = setup(false);
    let body = request(&c, &certs, ContentCipher::Aes128Cbc, DigestAlg::Sha256, 3);
    let other = SoftwareKey::generate(&mut rng(50), 1024).unwrap();
    let opts = ReplyOpts {
        issue_for: Some(common::spki(&other)),
        ..ReplyOpts::default()
    };
    let (rep, _) = ca.answer_success(&body, &opts, &mut rng(4));
    assert_eq!(
        parse(&c, &certs, &rep),
        Err(CertRepError::IssuedKeyMismatch)
    );
}

#[test]
fn reply_not_encrypted_to_us_is_refused() {
    let (mut ca, certs, c) = setup(false);
    let body = request(&c, &certs, ContentCipher::Aes128Cbc, DigestAlg::Sha256, 3);
    let (rep, _) = ca.answer_success(&body, &ReplyOpts::default(), &mut rng(4));
    let other = client(9);
    let exp = Expectation {
        transaction_id: &c.tid,
        sender_nonce: &c.nonce,
        ca: &certs,
        our_cert: &c.cert,
        our_key: &other.key,
        requested_key: c.key.public_key(),
    };
    assert_eq!(
        message::parse_cert_rep(&rep, &exp),
        Err(CertRepError::Decrypt)
    );
}

#[test]
fn ra_ca_split_encrypts_to_the_ra_and_accepts_the_signing_ra() {
    let (mut ca, certs, c) = setup(true);
    let (enc, sig) = ca
        .ra
        .as_ref()
        .map(|(e, s)| (e.cert.clone(), s.cert.clone()))
        .unwrap();
    assert_eq!(certs.certs.len(), 3);
    assert_eq!(certs.encryption_cert(), &enc);
    assert_eq!(certs.verification_cert(), &sig);
    assert_eq!(certs.ca_cert(), &ca.ca.cert);
    let body = request(&c, &certs, ContentCipher::Aes256Cbc, DigestAlg::Sha256, 3);
    // TestCa::open decrypts with the encryption RA's key only.
    let (rep, cert) = ca.answer_success(&body, &ReplyOpts::default(), &mut rng(4));
    match parse(&c, &certs, &rep) {
        Ok(CertRep::Success(i)) => assert_eq!(i.certificate, cert),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bare_and_pkcs7_getcacert() {
    let ca = TestCa::new(1, false);
    let bare = CaCerts::parse(&ca.get_ca_cert().0).unwrap();
    assert_eq!((bare.encrypt, bare.verify, bare.ca), (0, 0, 0));
    let wrapped = CaCerts::parse(&common::degenerate(std::slice::from_ref(&ca.ca.cert))).unwrap();
    assert_eq!(wrapped, bare);
    assert!(CaCerts::parse(b"").is_err());
    assert!(CaCerts::parse(&common::degenerate(&[])).is_err());
    assert!(CaCerts::parse(&vec![0x30; 70_000]).is_err());
}

#[test]
fn get_next_ca_cert_reply_is_verified() {
    let ca = TestCa::new(1, false);
    let certs = CaCerts::parse(&ca.get_ca_cert().0).unwrap();
    let next = stranger(60, "CN=Next CA");
    // RFC 8894 §4.7: a SignedData signed by the current CA whose certificates are the next CA's.
    let sd = message::sign(
        &[],
        vec![],
        &ca.ca.cert,
        &ca.ca.key,
        DigestAlg::Sha256,
        std::slice::from_ref(&next.cert),
    )
    .unwrap();
    assert_eq!(
        message::parse_next_ca_certs(&sd, &certs).unwrap().certs,
        vec![next.cert.clone()]
    );
    let empty =
        message::sign(&[], vec![], &ca.ca.cert, &ca.ca.key, DigestAlg::Sha256, &[]).unwrap();
    assert!(message::parse_next_ca_certs(&empty, &certs).is_err());
    let forged = message::sign(
        &[],
        vec![],
        &next.cert,
        &next.key,
        DigestAlg::Sha256,
        std::slice::from_ref(&next.cert),
    )
    .unwrap();
    assert_eq!(
        message::parse_next_ca_certs(&forged, &certs),
        Err(CertRepError::UnknownSigner)
    );
}

/// Issue 12, RFC 5280 §4.2.1.3: a CertRep is signed with a key whose certificate allows
/// `digitalSignature`. With an RA, the CA certificate (keyCertSign, cRLSign) and the
/// encryption-only RA (keyEncipherment) are refused as signers, SUCCESS or not; the signing RA
/// is accepted. A CA without an RA signs its own replies (scepserver, tests/scepserver_replies).
#[test]
fn signer_must_allow_digital_signature() {
    let (mut ca, certs, c) = setup(true);
    assert!(certs.has_ra());
    let body = request(&c, &certs, ContentCipher::Aes128Cbc, DigestAlg::Sha256, 3);
    let seen = ca.open(&body);
    let csr = CertReq::from_der(&seen.content).unwrap();
    let cert = ca.issue(&csr, None);
    for (signer, accepted) in [(Some(0), false), (Some(1), false), (None, true)] {
        let opts = ReplyOpts {
            signer,
            ..ReplyOpts::default()
        };
        let fail = ca.cert_rep(
            &seen,
            Status::Failure(FailInfo::BadRequest),
            None,
            &opts,
            &mut rng(5),
        );
        let success = ca.cert_rep(&seen, Status::Success, Some(&cert), &opts, &mut rng(6));
        let pending = ca.cert_rep(&seen, Status::Pending, None, &opts, &mut rng(7));
        // The signature itself verifies: only the key usage is wrong.
        assert!(message::verify_signed(&success, &certs.certs).is_ok());
        if accepted {
            assert_eq!(
                parse(&c, &certs, &fail),
                Ok(CertRep::Failure(FailInfo::BadRequest))
            );
            assert!(
                matches!(parse(&c, &certs, &success), Ok(CertRep::Success(i)) if i.certificate == cert)
            );
            assert_eq!(parse(&c, &certs, &pending), Ok(CertRep::Pending));
        } else {
            for rep in [&fail, &success, &pending] {
                assert_eq!(
                    parse(&c, &certs, rep),
                    Err(CertRepError::SignerKeyUsage),
                    "{signer:?}"
                );
            }
        }
    }
    // Which certificates may sign, by role.
    let (enc, sig) = ca.ra.as_ref().map(|(e, s)| (&e.cert, &s.cert)).unwrap();
    let index = |want: &x509_cert::Certificate| certs.certs.iter().position(|c| c == want).unwrap();
    assert!(!certs.may_sign_replies(index(&ca.ca.cert)));
    assert!(!certs.may_sign_replies(index(enc)));
    assert!(certs.may_sign_replies(index(sig)));
    assert!(!certs.may_sign_replies(certs.certs.len()));
    // CA + an encryption-only RA, no signing RA: nobody may sign.
    let only_enc = CaCerts::from_certs(vec![ca.ca.cert.clone(), enc.clone()]).unwrap();
    assert!(!only_enc.may_sign_replies(0) && !only_enc.may_sign_replies(1));
    // The CA alone may, without digitalSignature (it is its own RA).
    let (_, lone, _) = setup(false);
    assert!(!lone.has_ra() && lone.may_sign_replies(0));
}

#[test]
fn get_next_ca_cert_signed_by_the_encryption_ra_is_refused() {
    let ca = TestCa::new(1, true);
    let certs = CaCerts::parse(&ca.get_ca_cert().0).unwrap();
    let next = stranger(60, "CN=Next CA");
    let (enc, _) = ca.ra.as_ref().unwrap();
    let by_enc = message::sign(
        &[],
        vec![],
        &enc.cert,
        &enc.key,
        DigestAlg::Sha256,
        std::slice::from_ref(&next.cert),
    )
    .unwrap();
    assert_eq!(
        message::parse_next_ca_certs(&by_enc, &certs),
        Err(CertRepError::SignerKeyUsage)
    );
    // RFC 8894 §4.7.1: the current CA signs it.
    let by_ca = message::sign(
        &[],
        vec![],
        &ca.ca.cert,
        &ca.ca.key,
        DigestAlg::Sha256,
        std::slice::from_ref(&next.cert),
    )
    .unwrap();
    assert!(message::parse_next_ca_certs(&by_ca, &certs).is_ok());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Invariant: whatever is changed in a genuine SUCCESS reply, the result is an error or the
    /// very certificate the CA issued; never another certificate, never a panic.
    #[test]
    fn a_mutated_reply_never_yields_another_certificate(
        edits in proptest::collection::vec((proptest::num::usize::ANY, 1u8..=255), 1..4),
        cut in proptest::option::of(proptest::num::usize::ANY),
    ) {
        use std::sync::OnceLock;
        static FIXTURE: OnceLock<(CaCerts, Client, Vec<u8>, Certificate)> = OnceLock::new();
        let (certs, c, rep, cert) = FIXTURE.get_or_init(|| {
            let (mut ca, certs, c) = setup(false);
            let body = request(&c, &certs, ContentCipher::Aes128Cbc, DigestAlg::Sha256, 3);
            let (rep, cert) = ca.answer_success(&body, &ReplyOpts::default(), &mut rng(4));
            (certs, c, rep, cert)
        });
        let mut bad = rep.clone();
        for (i, x) in edits {
            let i = i % bad.len();
            bad[i] ^= x;
        }
        if let Some(n) = cut {
            bad.truncate(n % (bad.len() + 1));
        }
        if let Ok(CertRep::Success(i)) = parse(c, certs, &bad) {
            proptest::prop_assert_eq!(&i.certificate, cert);
        }
    }

    /// Invariant: GetCACert parsing never panics and its choices always index the list.
    #[test]
    fn getcacert_choices_are_in_range(body in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
        if let Ok(ca) = CaCerts::parse(&body) {
            proptest::prop_assert!(ca.encrypt < ca.certs.len() && ca.verify < ca.certs.len() && ca.ca < ca.certs.len());
        }
    }
}
