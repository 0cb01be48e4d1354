//! ARP for Ethernet/IPv4 (RFC 826) as address conflict detection uses it (RFC 5227): the
//! packets the phone sends ([`ArpPacket`]) and a bounded parser for the packets it receives
//! ([`ArpMessage`]). Both are the 28-byte ARP body without the Ethernet header: the driver adds
//! the header (broadcast destination, ethertype [`ETHERTYPE_ARP`]) on the way out and strips it
//! on the way in.

use core::fmt;
use core::net::Ipv4Addr;

/// Ethertype of ARP frames (the driver's Ethernet header).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;
/// `ar$hrd` for Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// `ar$pro` for IPv4.
pub const PTYPE_IPV4: u16 = 0x0800;
/// `ar$op` of a request.
pub const OP_REQUEST: u16 = 1;
/// `ar$op` of a reply.
pub const OP_REPLY: u16 = 2;

/// The kind of ARP packet the phone sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArpKind {
    /// An ARP probe (RFC 5227 §2.1.1): a request with sender IP 0.0.0.0 and the address being
    /// checked as target. Used before an address is used and in extended rebinding.
    Probe,
    /// An ARP announcement (RFC 5227 §2.3): a request with sender and target IP both the
    /// phone's address. Sent twice once the address is in use, and once to defend it (§2.4).
    Announce,
    /// An ordinary ARP request from the phone's address for another host's: the router check
    /// (spec dhcp.md §8, ROUTERINUSE).
    Request,
}

impl fmt::Display for ArpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArpKind::Probe => "ARP probe",
            ArpKind::Announce => "ARP announcement",
            ArpKind::Request => "ARP request",
        })
    }
}

/// An ARP packet the phone sends, always an ARP request with the phone's MAC as sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArpPacket {
    /// Probe, announcement or request.
    pub kind: ArpKind,
    /// The phone's MAC (`ar$sha`).
    pub sender_mac: [u8; 6],
    /// `ar$spa`: 0.0.0.0 in a probe, the phone's address otherwise.
    pub sender_ip: Ipv4Addr,
    /// `ar$tpa`: the address probed, announced or asked for.
    pub target_ip: Ipv4Addr,
}

impl ArpPacket {
    /// A probe for `address` (RFC 5227 §2.1.1).
    #[must_use]
    pub fn probe(mac: [u8; 6], address: Ipv4Addr) -> ArpPacket {
        ArpPacket {
            kind: ArpKind::Probe,
            sender_mac: mac,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_ip: address,
        }
    }

    /// An announcement of `address` (RFC 5227 §2.3).
    #[must_use]
    pub fn announce(mac: [u8; 6], address: Ipv4Addr) -> ArpPacket {
        ArpPacket {
            kind: ArpKind::Announce,
            sender_mac: mac,
            sender_ip: address,
            target_ip: address,
        }
    }

    /// A request from `from` for `target`'s MAC.
    #[must_use]
    pub fn request(mac: [u8; 6], from: Ipv4Addr, target: Ipv4Addr) -> ArpPacket {
        ArpPacket {
            kind: ArpKind::Request,
            sender_mac: mac,
            sender_ip: from,
            target_ip: target,
        }
    }

    /// The 28 bytes on the wire: Ethernet/IPv4, operation request, target MAC zero (RFC 5227
    /// §2.1.1: "the 'target hardware address' field is ignored and SHOULD be set to all
    /// zeroes").
    #[must_use]
    pub fn to_bytes(&self) -> [u8; ARP_LEN] {
        let mut b = [0u8; ARP_LEN];
        b[0..2].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        b[2..4].copy_from_slice(&PTYPE_IPV4.to_be_bytes());
        b[4] = 6;
        b[5] = 4;
        b[6..8].copy_from_slice(&OP_REQUEST.to_be_bytes());
        b[8..14].copy_from_slice(&self.sender_mac);
        b[14..18].copy_from_slice(&self.sender_ip.octets());
        // b[18..24]: target MAC, zero.
        b[24..28].copy_from_slice(&self.target_ip.octets());
        b
    }
}

impl fmt::Display for ArpPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ArpKind::Probe => write!(f, "ARP probe for {}", self.target_ip),
            ArpKind::Announce => write!(f, "ARP announcement of {}", self.target_ip),
            ArpKind::Request => write!(
                f,
                "ARP request for {} from {}",
                self.target_ip, self.sender_ip
            ),
        }
    }
}

/// Why received bytes are not an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArpError {
    /// Fewer than 28 bytes.
    #[error("{0} bytes is shorter than an Ethernet/IPv4 ARP packet ({ARP_LEN})")]
    TooShort(usize),
    /// Another hardware or protocol type, or other address lengths.
    #[error("not Ethernet/IPv4 ARP (hrd {hrd}, pro {pro:#06x}, hln {hln}, pln {pln})")]
    NotEthernetIpv4 {
        /// `ar$hrd`.
        hrd: u16,
        /// `ar$pro`.
        pro: u16,
        /// `ar$hln`.
        hln: u8,
        /// `ar$pln`.
        pln: u8,
    },
    /// Neither request nor reply (RARP, InARP, ...).
    #[error("ARP operation {0} is neither request nor reply")]
    Operation(u16),
}

/// A received Ethernet/IPv4 ARP request or reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpMessage {
    /// [`OP_REQUEST`] or [`OP_REPLY`].
    pub operation: u16,
    /// `ar$sha`.
    pub sender_mac: [u8; 6],
    /// `ar$spa`.
    pub sender_ip: Ipv4Addr,
    /// `ar$tha`.
    pub target_mac: [u8; 6],
    /// `ar$tpa`.
    pub target_ip: Ipv4Addr,
}

fn mac_at(b: &[u8; ARP_LEN], at: usize) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    m
}

fn ip_at(b: &[u8; ARP_LEN], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

impl ArpMessage {
    /// Parses the ARP body; bytes after the first 28 (Ethernet padding) are ignored. Reads
    /// exactly 28 bytes whatever the input: constant work, never panics.
    ///
    /// # Errors
    /// See [`ArpError`].
    pub fn parse(bytes: &[u8]) -> Result<ArpMessage, ArpError> {
        let b: &[u8; ARP_LEN] = bytes
            .get(..ARP_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(ArpError::TooShort(bytes.len()))?;
        let hrd = u16::from_be_bytes([b[0], b[1]]);
        let pro = u16::from_be_bytes([b[2], b[3]]);
        let (hln, pln) = (b[4], b[5]);
        if hrd != HTYPE_ETHERNET || pro != PTYPE_IPV4 || hln != 6 || pln != 4 {
            return Err(ArpError::NotEthernetIpv4 { hrd, pro, hln, pln });
        }
        let operation = u16::from_be_bytes([b[6], b[7]]);
        if operation != OP_REQUEST && operation != OP_REPLY {
            return Err(ArpError::Operation(operation));
        }
        Ok(ArpMessage {
            operation,
            sender_mac: mac_at(b, 8),
            sender_ip: ip_at(b, 14),
            target_mac: mac_at(b, 18),
            target_ip: ip_at(b, 24),
        })
    }

    /// A probe from another host (RFC 5227 §2.1.1): a request with sender IP 0.0.0.0.
    #[must_use]
    pub fn is_probe(&self) -> bool {
        self.operation == OP_REQUEST && self.sender_ip.is_unspecified()
    }

    /// The 28 bytes of this message (for tests and peers that answer the phone).
    #[must_use]
    pub fn to_bytes(&self) -> [u8; ARP_LEN] {
        let mut b = [0u8; ARP_LEN];
        b[0..2].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        b[2..4].copy_from_slice(&PTYPE_IPV4.to_be_bytes());
        b[4] = 6;
        b[5] = 4;
        b[6..8].copy_from_slice(&self.operation.to_be_bytes());
        b[8..14].copy_from_slice(&self.sender_mac);
        b[14..18].copy_from_slice(&self.sender_ip.octets());
        b[18..24].copy_from_slice(&self.target_mac);
        b[24..28].copy_from_slice(&self.target_ip.octets());
        b
    }

    /// A reply from `mac`/`ip` to the sender of `to` (what a host that owns `ip` answers).
    #[must_use]
    pub fn reply(mac: [u8; 6], ip: Ipv4Addr, to: &ArpPacket) -> ArpMessage {
        ArpMessage {
            operation: OP_REPLY,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: to.sender_mac,
            target_ip: to.sender_ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_bytes_round_trip() {
        let mac = [0, 4, 0x0d, 1, 2, 3];
        let p = ArpPacket::probe(mac, Ipv4Addr::new(10, 0, 0, 50));
        let b = p.to_bytes();
        assert_eq!(&b[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        let m = ArpMessage::parse(&b).unwrap_or_else(|e| panic!("{e}"));
        assert!(m.is_probe());
        assert_eq!(m.sender_mac, mac);
        assert_eq!(m.target_ip, Ipv4Addr::new(10, 0, 0, 50));
        assert_eq!(m.target_mac, [0; 6]);
        // Ethernet padding after the body is ignored.
        let mut padded = b.to_vec();
        padded.extend_from_slice(&[0xee; 18]);
        assert_eq!(ArpMessage::parse(&padded), Ok(m));
    }

    #[test]
    fn foreign_packets_are_refused() {
        let b = ArpPacket::announce([1; 6], Ipv4Addr::new(1, 2, 3, 4)).to_bytes();
        assert_eq!(ArpMessage::parse(&b[..27]), Err(ArpError::TooShort(27)));
        let mut x = b;
        x[3] = 0xdd;
        assert!(matches!(
            ArpMessage::parse(&x),
            Err(ArpError::NotEthernetIpv4 { pro: 0x08dd, .. })
        ));
        let mut x = b;
        x[7] = 3;
        assert_eq!(ArpMessage::parse(&x), Err(ArpError::Operation(3)));
    }
}
