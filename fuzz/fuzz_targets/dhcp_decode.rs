//! phone-dhcp codec: decode arbitrary datagrams; whatever decodes must encode, and decode again
//! to the same message (encode/decode idempotence). Option 43 goes through the Avaya parser.
//! The same bytes go through the ARP parser the client uses for `Link::Arp`: it never panics,
//! and what parses prints back to the same 28 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_dhcp::options::{DhcpOption, SsonCode};
use phone_dhcp::{ArpMessage, Message, VendorOptions};

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = ArpMessage::parse(data) {
        assert_eq!(&a.to_bytes()[..], &data[..28], "ARP parse/print round trip");
    }
    let (sson, data) = match data.split_first() {
        Some((s, rest)) => (SsonCode::new(*s).unwrap_or_default(), rest),
        None => return,
    };
    let Ok(m) = Message::decode_with(data, sson) else {
        return;
    };
    for o in &m.options {
        if let DhcpOption::VendorSpecific(v) = o {
            if let Ok(v) = VendorOptions::parse(v) {
                for (_name, _value) in v.parameters() {}
            }
        }
    }
    // Re-encoding can only grow by the RFC 3396 headers of split values and option 52.
    let mut buf = vec![0u8; data.len() * 2 + 600];
    let n = m.encode(&mut buf).expect("a decoded message encodes");
    let again = Message::decode_with(&buf[..n], sson).expect("an encoded message decodes");
    assert_eq!(again, m, "decode(encode(m)) == m");
});
