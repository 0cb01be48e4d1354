//! phone-dot1x codec: any bytes as an EAPOL frame, its EAP packet and the MD5-Challenge and
//! EAP-TLS type data in it. Oracles: no panic; what parses lies within the input; re-encoding
//! gives back the input without its padding (Success/Failure: without data past the header), and parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_dot1x::eap::{Md5Challenge, Packet, TlsData};
use phone_dot1x::eapol::{Eapol, PacketType};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Eapol::parse(data) else {
        return;
    };
    let again = frame.to_bytes();
    assert_eq!(
        &data[..again.len()],
        &again[..],
        "EAPOL re-encodes to its input"
    );
    assert_eq!(Eapol::parse(&again), Ok(frame));
    if frame.packet_type != PacketType::EapPacket {
        return;
    }
    let Ok(packet) = Packet::parse(frame.body) else {
        return;
    };
    let bytes = packet.to_bytes();
    if let Packet::Request { .. } | Packet::Response { .. } = packet {
        assert_eq!(
            &frame.body[..bytes.len()],
            &bytes[..],
            "EAP re-encodes to its input"
        );
    } else {
        // Success and Failure are the header alone (RFC 3748 §4.2): type data past it is dropped.
        assert_eq!(bytes.len(), 4);
        assert_eq!(&frame.body[..2], &bytes[..2]);
    }
    assert_eq!(Packet::parse(&bytes), Ok(packet));
    if let Packet::Request { data, .. } | Packet::Response { data, .. } = packet {
        if let Ok(c) = Md5Challenge::parse(data) {
            assert!(!c.value.is_empty());
            assert_eq!(c.to_bytes(), data);
        }
        if let Ok(t) = TlsData::parse(data) {
            assert_eq!(t.flags.length_included, t.message_length.is_some());
            assert!(t.data.len() < data.len());
            assert_eq!(TlsData::parse(&t.to_bytes()).map(|x| x.data), Ok(t.data));
        }
    }
});
