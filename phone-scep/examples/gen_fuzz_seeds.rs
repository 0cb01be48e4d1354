//! Writes the fuzz seeds of `scep_certrep`, `scep_getcacert` and `scep_enrollment`, and the
//! fixed context the targets check against (the test CA's certificate and key, a device key and
//! its self-signed certificate), from the RustCrypto test CA of the tests.
//!
//! `cargo run -p phone-scep --example gen_fuzz_seeds -- <fuzz dir>`
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use common::{ReplyOpts, Status, TestCa, rng};
use der::Encode;
use phone_scep::algs::{ContentCipher, DigestAlg};
use phone_scep::cacert::CaCerts;
use phone_scep::key::SoftwareKey;
use phone_scep::message::{self, FailInfo, MessageType, RequestParams};
use phone_scep::request::{self, Substitutions};

/// The transactionID and nonce the fuzz target expects.
const TID: &str = "FUZZ-TRANSACTION";
const NONCE: [u8; 16] = [7; 16];

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz".into()));
    let ctx = dir.join("seeds/scep_context");
    let rep_dir = dir.join("seeds/scep_certrep");
    let ca_dir = dir.join("seeds/scep_getcacert");
    let enr_dir = dir.join("seeds/scep_enrollment");
    for d in [&ctx, &rep_dir, &ca_dir, &enr_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut ca = TestCa::new(1, false);
    let key = SoftwareKey::generate(&mut rng(2), 1024).unwrap();
    let subject = request::subject_name(
        "/O=Fuzz",
        "$SERIALNO",
        &Substitutions {
            serial_no: "F1".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let cert = request::self_signed_cert(subject.clone(), &key, &[1], common::NOW_UNIX).unwrap();
    let csr = request::build_csr(subject, &key, "pw")
        .unwrap()
        .to_der()
        .unwrap();
    let (ca_body, _) = ca.get_ca_cert();
    std::fs::write(ctx.join("ca.der"), &ca_body).unwrap();
    std::fs::write(ctx.join("ca-key.der"), ca.ca.key.to_pkcs8_der().unwrap()).unwrap();
    std::fs::write(ctx.join("key.der"), key.to_pkcs8_der().unwrap()).unwrap();
    std::fs::write(ctx.join("cert.der"), cert.to_der().unwrap()).unwrap();
    let certs = CaCerts::parse(&ca_body).unwrap();
    let req = message::build_request(
        &RequestParams {
            message_type: MessageType::PkcsReq,
            content: &csr,
            signer_cert: &cert,
            signer_key: &key,
            recipient: certs.encryption_cert(),
            cipher: ContentCipher::Aes128Cbc,
            digest: DigestAlg::Sha256,
            transaction_id: TID,
            sender_nonce: &NONCE,
        },
        &mut rng(3),
    )
    .unwrap();
    let seen = ca.open(&req);
    let (ok, _) = ca.answer_success(&req, &ReplyOpts::default(), &mut rng(4));
    std::fs::write(rep_dir.join("seed-success-des-sha1"), ok).unwrap();
    let aes = ReplyOpts {
        cipher: ContentCipher::Aes256Cbc,
        digest: DigestAlg::Sha256,
        ..ReplyOpts::default()
    };
    let (ok, _) = ca.answer_success(&req, &aes, &mut rng(5));
    std::fs::write(rep_dir.join("seed-success-aes256-sha256"), ok).unwrap();
    let fail = ca.cert_rep(
        &seen,
        Status::Failure(FailInfo::BadRequest),
        None,
        &ReplyOpts::default(),
        &mut rng(6),
    );
    std::fs::write(rep_dir.join("seed-failure-badrequest"), fail).unwrap();
    let pending = ca.cert_rep(
        &seen,
        Status::Pending,
        None,
        &ReplyOpts::default(),
        &mut rng(7),
    );
    std::fs::write(rep_dir.join("seed-pending"), pending).unwrap();
    // The same CA with its two RAs (TestCa::new draws the CA key first: the same CA key and
    // certificate), and replies signed by each of the three: only the signing RA may sign
    // once an RA is delivered (issue 12, RFC 5280 §4.2.1.3).
    let mut split = TestCa::new(1, true);
    assert_eq!(split.ca.cert, ca.ca.cert);
    let (split_body, _) = split.get_ca_cert();
    std::fs::write(ctx.join("ca-split.der"), &split_body).unwrap();
    let split_certs = CaCerts::parse(&split_body).unwrap();
    let split_req = message::build_request(
        &RequestParams {
            message_type: MessageType::PkcsReq,
            content: &csr,
            signer_cert: &cert,
            signer_key: &key,
            recipient: split_certs.encryption_cert(),
            cipher: ContentCipher::Aes128Cbc,
            digest: DigestAlg::Sha256,
            transaction_id: TID,
            sender_nonce: &NONCE,
        },
        &mut rng(3),
    )
    .unwrap();
    for (name, signer) in [
        ("seed-split-signing-ra", None),
        ("seed-split-by-ca", Some(0)),
        ("seed-split-by-encryption-ra", Some(1)),
    ] {
        let opts = ReplyOpts {
            signer,
            ..ReplyOpts::default()
        };
        let (rep, _) = split.answer_success(&split_req, &opts, &mut rng(9));
        std::fs::write(rep_dir.join(name), rep).unwrap();
    }
    std::fs::write(ca_dir.join("seed-bare"), &ca_body).unwrap();
    let split = TestCa::new(8, true);
    std::fs::write(ca_dir.join("seed-pkcs7-ca-ra"), split.get_ca_cert().0).unwrap();
    for (name, seed) in enrollment_seeds() {
        std::fs::write(enr_dir.join(name), seed).unwrap();
    }
    println!("seeds written under {}", dir.display());
}

/// Inputs of `scep_enrollment` in its own format (see the target's docs): a 15-byte setup,
/// then ops.
fn enrollment_seeds() -> Vec<(&'static str, Vec<u8>)> {
    const WAIT: u8 = 1;
    const HTTPS: u8 = 2;
    const PROXY: u8 = 4;
    const NEXT: u8 = 8;
    // Caps bits: AES, DES3, GetNextCACert, POSTPKIOperation, Renewal, SHA-1, SHA-256, SHA-512,
    // SCEPStandard.
    const POST_AES_SHA256: u16 = 1 | 1 << 3 | 1 << 6;
    const DES3_SHA1: u16 = 1 << 1 | 1 << 5;
    let setup = |seed: u64, flags: u8, caps: u16| {
        let mut v = seed.to_le_bytes().to_vec();
        v.push(flags);
        v.extend_from_slice(&caps.to_le_bytes());
        v.push(2); // three attempts
        v.push(30); // first poll after 30 s
        v.extend_from_slice(&2880u16.to_le_bytes()); // 8 h total wait
        v
    };
    // The CA's real answer: status 0 SUCCESS, 1 FAILURE, 2 PENDING; no Retry-After, no flip.
    let ca = |status: u8| vec![4, status, 2, 0xFF, 0, 0, 0];
    let wait = |ms: u32| {
        let mut v = vec![0];
        v.extend_from_slice(&ms.to_le_bytes());
        v
    };
    let cat = |parts: Vec<Vec<u8>>| parts.concat();
    vec![
        (
            "seed-post-background",
            cat(vec![setup(1, 0, POST_AES_SHA256), ca(0), ca(0), ca(0)]),
        ),
        (
            "seed-get-wait-https-proxy",
            cat(vec![
                setup(2, WAIT | HTTPS | PROXY, DES3_SHA1),
                ca(0),
                ca(0),
                ca(0),
                ca(0),
                ca(0),
                ca(0),
            ]),
        ),
        (
            "seed-pending-poll-success",
            cat(vec![
                setup(3, WAIT, POST_AES_SHA256),
                ca(0),
                ca(0),
                ca(2),
                wait(40_000),
                ca(0),
            ]),
        ),
        (
            "seed-failure",
            cat(vec![setup(4, WAIT, POST_AES_SHA256), ca(0), ca(0), ca(1)]),
        ),
        (
            "seed-transport-retry",
            cat(vec![
                setup(5, 0, POST_AES_SHA256),
                // Connect refused; the retry is the next deadline.
                vec![7],
                vec![9, 1],
                ca(0),
                ca(0),
                // The PKCSReq's connection comes up, then resets; the retry, then SUCCESS.
                vec![5, 7],
                vec![9, 1],
                ca(0),
            ]),
        ),
        (
            "seed-busy-retry-after-0",
            cat(vec![
                setup(6, WAIT, POST_AES_SHA256),
                vec![3, 0xF7, 0x01, 3, 0, 0, 0],
                vec![9, 10],
                vec![3, 0xF7, 0x01, 3, 0, 0, 0],
                vec![9, 10],
                ca(0),
                ca(0),
                ca(0),
            ]),
        ),
        (
            "seed-get-next-ca-cert",
            cat(vec![
                setup(7, NEXT, POST_AES_SHA256 | 1 << 2),
                ca(0),
                ca(0),
                ca(0),
                ca(0),
            ]),
        ),
        (
            "seed-flipped-cert-rep",
            cat(vec![
                setup(8, WAIT, POST_AES_SHA256),
                ca(0),
                ca(0),
                vec![4, 0, 0, 0xFF, 200, 0, 0x40],
            ]),
        ),
    ]
}
