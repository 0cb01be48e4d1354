//! CertRep parsing and verification (phone-scep message.rs) on arbitrary bytes, against the fixed
//! context the seeds were built for (phone-scep/examples/gen_fuzz_seeds.rs), so mutations of
//! real replies reach signature checking, decryption and certificate extraction.
//!
//! Each input is read against the CA alone and against the same CA with its two RAs. Oracle
//! (issue 12, RFC 5280 §4.2.1.3): a reply is only ever accepted when its signer's certificate
//! allows digitalSignature, or is the CA's own certificate when no RA was delivered.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use phone_scep::CaCerts;
use phone_scep::der::Decode;
use phone_scep::key::{DeviceKey, SoftwareKey};
use phone_scep::message::{self, Expectation};
use phone_scep::x509_cert::Certificate;
use phone_scep::x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

struct Ctx {
    ca: CaCerts,
    split: CaCerts,
    key: SoftwareKey,
    cert: Certificate,
}

fn ctx() -> &'static Ctx {
    static CTX: OnceLock<Ctx> = OnceLock::new();
    CTX.get_or_init(|| Ctx {
        ca: CaCerts::parse(include_bytes!("../seeds/scep_context/ca.der")).expect("context CA"),
        split: CaCerts::parse(include_bytes!("../seeds/scep_context/ca-split.der"))
            .expect("context CA with RAs"),
        key: SoftwareKey::from_pkcs8_der(include_bytes!("../seeds/scep_context/key.der"))
            .expect("context key"),
        cert: Certificate::from_der(include_bytes!("../seeds/scep_context/cert.der"))
            .expect("context cert"),
    })
}

/// Whether `cert` may sign a reply of a CA that delivered `certs`, computed from the
/// certificates themselves (not through `CaCerts::may_sign_replies`).
fn may_sign(cert: &Certificate, certs: &[Certificate]) -> bool {
    let ext = |c: &Certificate| {
        let tbs = c.tbs_certificate();
        let ku = tbs
            .get_extension::<KeyUsage>()
            .ok()
            .flatten()
            .map(|(_, k)| k);
        let ca = tbs
            .get_extension::<BasicConstraints>()
            .ok()
            .flatten()
            .is_some_and(|(_, b)| b.ca);
        (ku, ca)
    };
    let no_ra = certs.iter().all(|c| ext(c).1);
    match ext(cert) {
        (None, _) => true,
        (Some(ku), _) if ku.digital_signature() => true,
        (Some(_), is_ca) => is_ca && no_ra,
    }
}

fuzz_target!(|data: &[u8]| {
    let c = ctx();
    for ca in [&c.ca, &c.split] {
        let exp = Expectation {
            transaction_id: "FUZZ-TRANSACTION",
            sender_nonce: &[7; 16],
            ca,
            our_cert: &c.cert,
            our_key: &c.key,
            requested_key: c.key.public_key(),
        };
        if message::parse_cert_rep(data, &exp).is_ok() {
            let v = message::verify_signed(data, &ca.certs).expect("an accepted reply verifies");
            assert!(
                may_sign(&ca.certs[v.signer], &ca.certs),
                "accepted a reply signed by a certificate without digitalSignature"
            );
        }
    }
    let _ = message::open_envelope(data, &c.cert, &c.key);
});
