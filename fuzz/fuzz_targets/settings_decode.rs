//! Decoding a stored settings image: bad bytes give a typed error, never a panic or a large
//! allocation; whatever decodes re-encodes canonically and decodes to the same store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_settings::Store;
use phone_settings::encoding::crc32;

fn check(bytes: &[u8]) {
    if let Ok(d) = Store::decode(bytes) {
        let again = d.store.encode();
        let back = Store::decode(&again).map(|x| x.store);
        assert_eq!(back.as_ref(), Ok(&d.store));
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // Also with the checksum fixed up, so mutations reach the record parser.
    if data.len() >= 4 {
        let mut body = data[..data.len() - 4].to_vec();
        let crc = crc32(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        check(&body);
    }
});
