//! CertRep parsing and verification (phone-scep message.rs) on arbitrary bytes, against the fixed
//! context the seeds were built for (phone-scep/examples/gen_fuzz_seeds.rs), so mutations of
//! real replies reach signature checking, decryption and certificate extraction.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use phone_scep::CaCerts;
use phone_scep::der::Decode;
use phone_scep::key::{DeviceKey, SoftwareKey};
use phone_scep::message::{self, Expectation};
use phone_scep::x509_cert::Certificate;

struct Ctx {
    ca: CaCerts,
    key: SoftwareKey,
    cert: Certificate,
}

fn ctx() -> &'static Ctx {
    static CTX: OnceLock<Ctx> = OnceLock::new();
    CTX.get_or_init(|| Ctx {
        ca: CaCerts::parse(include_bytes!("../seeds/scep_context/ca.der")).expect("context CA"),
        key: SoftwareKey::from_pkcs8_der(include_bytes!("../seeds/scep_context/key.der"))
            .expect("context key"),
        cert: Certificate::from_der(include_bytes!("../seeds/scep_context/cert.der"))
            .expect("context cert"),
    })
}

fuzz_target!(|data: &[u8]| {
    let c = ctx();
    let exp = Expectation {
        transaction_id: "FUZZ-TRANSACTION",
        sender_nonce: &[7; 16],
        ca: &c.ca,
        our_cert: &c.cert,
        our_key: &c.key,
        requested_key: c.key.public_key(),
    };
    let _ = message::parse_cert_rep(data, &exp);
    let _ = message::open_envelope(data, &c.cert, &c.key);
});
