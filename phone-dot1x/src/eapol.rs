//! EAPOL frames (IEEE 802.1X-2004 §11.3): the PDU after the Ethernet header, EtherType 0x888e.
//!
//! ```text
//! | version (1) | packet type (1) | packet body length (2, big endian) | body (length) | padding |
//! ```
//!
//! Every length is checked against the bytes present; bytes after the body are Ethernet padding
//! (a frame is at least 60 bytes) and ignored. The parser never allocates.

use alloc::vec::Vec;

/// The EtherType of EAPOL (IEEE 802.1X-2004 §7.5.2).
pub const ETHERTYPE: u16 = 0x888e;
/// The PAE group address, where a supplicant sends its EAPOL frames (IEEE 802.1X-2004 §7.8).
pub const PAE_GROUP: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x03];
/// The protocol version the supplicant sends: 802.1X-2001's 1, as wpa_supplicant does, so old
/// authenticators accept it; any received version is accepted (§11.3.1: a higher version is
/// parsed as this one).
pub const VERSION: u8 = 1;
/// The EAPOL header: version, type, body length.
pub const HEADER_LEN: usize = 4;

/// The EAPOL packet types (IEEE 802.1X-2004 §11.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// EAP-Packet (0): the body is one EAP packet.
    EapPacket,
    /// EAPOL-Start (1).
    Start,
    /// EAPOL-Logoff (2).
    Logoff,
    /// EAPOL-Key (3).
    Key,
    /// EAPOL-Encapsulated-ASF-Alert (4).
    AsfAlert,
    /// Any other type (later revisions' MKA and announcements): kept, ignored by the supplicant.
    Other(u8),
}

impl PacketType {
    /// The type octet.
    #[must_use]
    pub fn to_u8(self) -> u8 {
        match self {
            PacketType::EapPacket => 0,
            PacketType::Start => 1,
            PacketType::Logoff => 2,
            PacketType::Key => 3,
            PacketType::AsfAlert => 4,
            PacketType::Other(n) => n,
        }
    }

    /// The type of an octet.
    #[must_use]
    pub fn from_u8(n: u8) -> PacketType {
        match n {
            0 => PacketType::EapPacket,
            1 => PacketType::Start,
            2 => PacketType::Logoff,
            3 => PacketType::Key,
            4 => PacketType::AsfAlert,
            n => PacketType::Other(n),
        }
    }
}

/// Why bytes are not an EAPOL frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EapolError {
    /// Fewer than the 4 header bytes.
    #[error("EAPOL frame shorter than its header ({0} bytes)")]
    Short(usize),
    /// The body length says more than the frame holds.
    #[error("EAPOL body length {claimed} exceeds the {present} bytes present")]
    Truncated {
        /// What the header says.
        claimed: usize,
        /// What is there.
        present: usize,
    },
}

/// One EAPOL frame, borrowing its body from the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eapol<'a> {
    /// The protocol version.
    pub version: u8,
    /// The packet type.
    pub packet_type: PacketType,
    /// The body (exactly the header's body length; padding dropped).
    pub body: &'a [u8],
}

impl<'a> Eapol<'a> {
    /// Parses one frame. Bytes after the body (Ethernet padding) are ignored.
    ///
    /// # Errors
    /// Too short for the header, or the body length runs past the end.
    pub fn parse(bytes: &'a [u8]) -> Result<Eapol<'a>, EapolError> {
        let [version, kind, hi, lo, rest @ ..] = bytes else {
            return Err(EapolError::Short(bytes.len()));
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let body = rest.get(..len).ok_or(EapolError::Truncated {
            claimed: len,
            present: rest.len(),
        })?;
        Ok(Eapol {
            version: *version,
            packet_type: PacketType::from_u8(*kind),
            body,
        })
    }

    /// The frame's bytes (header and body; no padding: the link layer pads). A body longer than
    /// 65535 bytes is cut there (the length field's limit); nothing the supplicant builds comes
    /// near it.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = self.body.get(..usize::from(u16::MAX)).unwrap_or(self.body);
        let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.push(self.version);
        out.push(self.packet_type.to_u8());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(body);
        out
    }
}

/// An EAPOL-Start frame of version [`VERSION`].
#[must_use]
pub fn start() -> Vec<u8> {
    Eapol {
        version: VERSION,
        packet_type: PacketType::Start,
        body: &[],
    }
    .to_bytes()
}

/// An EAPOL-Logoff frame of version [`VERSION`].
#[must_use]
pub fn logoff() -> Vec<u8> {
    Eapol {
        version: VERSION,
        packet_type: PacketType::Logoff,
        body: &[],
    }
    .to_bytes()
}

/// An EAP-Packet frame of version [`VERSION`] carrying `eap`.
#[must_use]
pub fn eap_packet(eap: &[u8]) -> Vec<u8> {
    Eapol {
        version: VERSION,
        packet_type: PacketType::EapPacket,
        body: eap,
    }
    .to_bytes()
}
