//! phone-dns codec: arbitrary datagrams through `Message::decode` (every length, count and
//! compression pointer bounded); whatever decodes re-encodes (when it fits the 512-byte UDP
//! limit) and decodes again to the same message. Names read at every offset stay within 255
//! octets, and arbitrary text through `Name::from_text` never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_dns::name::MAX_NAME_LEN;
use phone_dns::{Message, Name};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        for q in &m.questions {
            assert!(q.name.wire().len() <= MAX_NAME_LEN);
        }
        if let Ok(b) = m.encode() {
            let again = Message::decode(&b).expect("an encoded message decodes");
            assert_eq!(again, m, "decode(encode(m)) == m");
        }
    }
    for at in 0..data.len().min(64) {
        if let Ok((n, end)) = Name::read(data, at) {
            assert!(n.wire().len() <= MAX_NAME_LEN);
            assert!(end > at && end <= data.len());
            // What was read prints and reads back as the same labels.
            let _ = n.to_string();
        }
    }
    if let Ok(s) = core::str::from_utf8(data)
        && let Ok(n) = Name::from_text(s)
    {
        assert!(n.wire().len() <= MAX_NAME_LEN);
        assert_eq!(Name::from_text(&n.to_string()).ok(), Some(n));
    }
});
