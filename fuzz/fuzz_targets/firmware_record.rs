//! The A/B boot record: decoding never panics, and whatever decodes encodes back to a text
//! that decodes to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_boot::flash::BootRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(record) = BootRecord::decode(text) {
            assert_eq!(BootRecord::decode(&record.encode()), Ok(record));
        }
    }
});
