//! Writes the fuzz seeds of `scep_certrep` and `scep_getcacert`, and the fixed context the
//! `scep_certrep` target checks against, from the RustCrypto test CA of the tests.
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
    for d in [&ctx, &rep_dir, &ca_dir] {
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
    std::fs::write(ca_dir.join("seed-bare"), &ca_body).unwrap();
    let split = TestCa::new(8, true);
    std::fs::write(ca_dir.join("seed-pkcs7-ca-ra"), split.get_ca_cert().0).unwrap();
    println!("seeds written under {}", dir.display());
}
