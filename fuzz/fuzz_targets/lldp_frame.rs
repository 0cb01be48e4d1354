//! phone-lldp codec: arbitrary LLDPDUs through `Lldpdu::decode` (every TLV bounded, unknown
//! TLVs bounded in count); whatever decodes re-encodes (unless the added End TLV makes it too
//! long) and decodes again to the same frame. The same bytes after valid mandatory TLVs always
//! decode: no optional TLV spoils a frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_lldp::frame::{EncodeError, MAX_MANAGEMENT_ADDRESSES, MAX_POLICIES, MAX_UNKNOWN};
use phone_lldp::{Id, Lldpdu};

fn check(data: &[u8]) -> Option<Lldpdu> {
    let f = Lldpdu::decode(data).ok()?;
    assert!(f.unknown.len() <= MAX_UNKNOWN);
    assert!(f.management_addresses.len() <= MAX_MANAGEMENT_ADDRESSES);
    assert!(f.network_policies.len() <= MAX_POLICIES);
    let mut clean = f.clone();
    clean.malformed = 0;
    clean.skipped = 0;
    match f.encode() {
        Ok(b) => assert_eq!(Lldpdu::decode(&b).expect("an encoded frame decodes"), clean),
        Err(EncodeError::TooLong(_)) => {}
        Err(e) => panic!("a decoded frame does not encode: {e}"),
    }
    Some(f)
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut b = Lldpdu::new(Id::chassis_mac([2, 0, 0, 0, 0, 1]), Id::port_mac([2, 0, 0, 0, 0, 1]), 120)
        .encode()
        .unwrap();
    b.truncate(b.len() - 2); // End
    b.extend_from_slice(&data[..data.len().min(1400)]);
    // A TLV running past the end is the only way optional bytes spoil the frame.
    if let Err(e) = Lldpdu::decode(&b) {
        assert!(matches!(e, phone_lldp::DecodeError::Truncated(_) | phone_lldp::DecodeError::Repeated(_)), "{e}");
    }
    check(&b);
});
