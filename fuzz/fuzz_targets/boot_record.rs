//! phone-boot's persistent record: decoding never panics, and what decodes re-encodes to a
//! record that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_boot::boot::record::Record;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Record::decode(data) {
        let again = Record::decode(&r.encode()).expect("re-encoded record decodes");
        assert_eq!(again, r);
    }
});
