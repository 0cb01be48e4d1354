//! GetCACert parsing (phone-scep cacert.rs): bare certificates and degenerate PKCS#7, DER or BER,
//! plus the GetCACaps parser on the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ca) = phone_scep::CaCerts::parse(data) {
        // The chosen indices are always valid.
        let _ = (ca.encryption_cert(), ca.verification_cert(), ca.ca_cert());
    }
    let _ = phone_scep::Caps::parse(data);
});
