//! Firmware signature files: the parser never panics, whatever parses is in canonical form
//! (its header re-encodes to exactly the signed bytes), and nothing forged verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_boot::firmware::{FirmwareKey, SignatureFile, SigningKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(sig) = SignatureFile::parse(data) {
        assert_eq!(sig.header().signed_text().as_bytes(), sig.signed_bytes());
        // The seed files are signed with the key from seed [7; 32]; any other key must fail.
        let other = FirmwareKey::of(&SigningKey::from_bytes(&[8; 32]));
        assert!(sig.verify(&other).is_err());
    }
});
