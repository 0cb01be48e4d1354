//! The EAPOL/EAP codec: fixed vectors (the frames of the lab recipe's hostapd capture, MD5
//! responses computed with Python's hashlib) and properties (round trips, no panic on any
//! bytes, every length bounded by the bytes present).
#![allow(clippy::unwrap_used)]

use phone_dot1x::eap::{self, EapType, Md5Challenge, Packet, TlsData, TlsFlags};
use phone_dot1x::eapol::{self, Eapol, EapolError, PacketType};
use phone_dot1x::{Substitution, substitute};
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn start_and_logoff_frames() {
    assert_eq!(eapol::start(), [1, 1, 0, 0]);
    assert_eq!(eapol::logoff(), [1, 2, 0, 0]);
}

/// hostapd's Request/Identity as captured in the lab recipe (EAPOL v2, id 64), with the
/// Ethernet padding a 60-byte frame carries.
#[test]
fn hostapd_identity_request_with_padding() {
    let mut frame = vec![2, 0, 0, 5, 1, 64, 0, 5, 1];
    frame.resize(46, 0);
    let e = Eapol::parse(&frame).unwrap();
    assert_eq!(e.version, 2);
    assert_eq!(e.packet_type, PacketType::EapPacket);
    assert_eq!(e.body, [1, 64, 0, 5, 1]);
    assert_eq!(
        Packet::parse(e.body).unwrap(),
        Packet::Request {
            id: 64,
            method: EapType::Identity,
            data: &[]
        }
    );
}

#[test]
fn success_and_failure() {
    assert_eq!(
        Packet::parse(&[3, 65, 0, 4]).unwrap(),
        Packet::Success { id: 65 }
    );
    assert_eq!(
        Packet::parse(&[4, 7, 0, 4, 0xff]).unwrap(),
        Packet::Failure { id: 7 }
    );
    assert_eq!(Packet::Success { id: 9 }.to_bytes(), [3, 9, 0, 4]);
}

#[test]
fn bad_lengths_are_refused() {
    assert_eq!(Eapol::parse(&[1, 0, 0]), Err(EapolError::Short(3)));
    assert_eq!(
        Eapol::parse(&[1, 0, 0, 9, 1, 2]),
        Err(EapolError::Truncated {
            claimed: 9,
            present: 2
        })
    );
    assert!(Packet::parse(&[1, 1, 0, 3]).is_err()); // below the header
    assert!(Packet::parse(&[1, 1, 0, 4]).is_err()); // a Request without its type
    assert!(Packet::parse(&[1, 1, 0, 9, 1]).is_err()); // past the end
    assert!(Packet::parse(&[5, 1, 0, 4]).is_err()); // unknown code
    assert!(Md5Challenge::parse(&[]).is_err());
    assert!(Md5Challenge::parse(&[0]).is_err());
    assert!(Md5Challenge::parse(&[4, 1, 2, 3]).is_err());
    assert!(TlsData::parse(&[]).is_err());
    assert!(TlsData::parse(&[0x80, 0, 0]).is_err());
}

/// MD5(id || password || challenge), the vectors computed independently with Python's hashlib.
#[test]
fn md5_response_vectors() {
    let challenge: Vec<u8> = (0..16).collect();
    assert_eq!(
        eap::md5_response(65, b"secret1", &challenge).to_vec(),
        hex("334967ee4ec65fda7c2e0a25f6d34d62")
    );
    assert_eq!(
        eap::md5_response(1, b"", &[0xaa; 5]).to_vec(),
        hex("bbe2db17f5965a1f95d7a14511bf9852")
    );
}

#[test]
fn md5_challenge_data() {
    let c = Md5Challenge::parse(&[3, 9, 8, 7, b'h', b'a']).unwrap();
    assert_eq!(c.value, [9, 8, 7]);
    assert_eq!(c.name, b"ha");
    assert_eq!(c.to_bytes(), [3, 9, 8, 7, b'h', b'a']);
}

#[test]
fn tls_flags() {
    let start = TlsData::parse(&[0x20]).unwrap();
    assert!(start.flags.start && !start.flags.more_fragments);
    let first = TlsData::parse(&[0xc0, 0, 0, 0x10, 0, 0xaa]).unwrap();
    assert!(first.flags.length_included && first.flags.more_fragments);
    assert_eq!(first.message_length, Some(0x1000));
    assert_eq!(first.data, [0xaa]);
    assert_eq!(first.to_bytes(), [0xc0, 0, 0, 0x10, 0, 0xaa]);
}

#[test]
fn substitution() {
    let s = Substitution {
        mac: [0xd4, 0x78, 0x56, 0xb7, 0x12, 0x2c],
        serial: "ab12cd".into(),
    };
    assert_eq!(substitute("$MACADDR", &s), "d47856b7122c");
    assert_eq!(substitute("id-$MACADDR_UPPER", &s), "id-D47856B7122C");
    assert_eq!(substitute("$SERIALNO/$SERIALNO_UPPER", &s), "ab12cd/AB12CD");
    assert_eq!(substitute("$X$ $$MACADDR", &s), "$X$ $d47856b7122c");
}

fn eap_type() -> impl Strategy<Value = EapType> {
    any::<u8>().prop_map(EapType::from_u8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn eapol_round_trip(version: u8, kind: u8, body in proptest::collection::vec(any::<u8>(), 0..600), pad in 0usize..64) {
        let frame = Eapol { version, packet_type: PacketType::from_u8(kind), body: &body };
        let mut bytes = frame.to_bytes();
        bytes.extend(std::iter::repeat_n(0u8, pad));
        prop_assert_eq!(Eapol::parse(&bytes).unwrap(), frame);
    }

    #[test]
    fn eap_round_trip(code in 1u8..=4, id: u8, method in eap_type(), data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let p = match code {
            1 => Packet::Request { id, method, data: &data },
            2 => Packet::Response { id, method, data: &data },
            3 => Packet::Success { id },
            _ => Packet::Failure { id },
        };
        let bytes = p.to_bytes();
        prop_assert_eq!(usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), bytes.len());
        prop_assert_eq!(Packet::parse(&bytes).unwrap(), p);
    }

    #[test]
    fn md5_round_trip(value in proptest::collection::vec(any::<u8>(), 1..256), name in proptest::collection::vec(any::<u8>(), 0..64)) {
        let c = Md5Challenge { value: &value, name: &name };
        let bytes = c.to_bytes();
        prop_assert_eq!(Md5Challenge::parse(&bytes).unwrap(), c);
    }

    #[test]
    fn tls_round_trip(l: bool, m: bool, s: bool, len: u32, data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let t = TlsData {
            flags: TlsFlags { length_included: l, more_fragments: m, start: s },
            message_length: l.then_some(len),
            data: &data,
        };
        let bytes = t.to_bytes();
        prop_assert_eq!(TlsData::parse(&bytes).unwrap(), t);
    }

    /// Any bytes: no panic, and what parses lies within the input and re-encodes to a prefix of
    /// it (padding dropped).
    #[test]
    fn any_bytes_parse_within_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(e) = Eapol::parse(&bytes) {
            prop_assert!(e.body.len() + 4 <= bytes.len());
            let again = e.to_bytes();
            prop_assert_eq!(&bytes[..again.len()], &again[..]);
        }
        if let Ok(p) = Packet::parse(&bytes) {
            let again = p.to_bytes();
            prop_assert!(again.len() <= bytes.len());
            prop_assert_eq!(Packet::parse(&again).unwrap(), p);
        }
        let _ = Md5Challenge::parse(&bytes);
        let _ = TlsData::parse(&bytes);
    }
}
