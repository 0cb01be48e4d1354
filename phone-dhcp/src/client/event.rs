//! What the client reports: typed events with `Display` for the log line, and the reasons they
//! carry.

use core::fmt;
use core::net::Ipv4Addr;

use super::config::Vlan;

/// The RFC 2131 state, plus the RFC 5227 probe and the spec's extended rebinding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// INIT: about to send DHCPDISCOVER (possibly after a back-off).
    Init,
    /// SELECTING: DHCPDISCOVER sent, waiting for an OFFER.
    Selecting,
    /// REQUESTING: DHCPREQUEST for an offer sent, waiting for ACK/NAK.
    Requesting,
    /// INIT-REBOOT: about to ask for the previous address.
    InitReboot,
    /// REBOOTING: DHCPREQUEST for the previous address sent.
    Rebooting,
    /// ACKed (or reused), probing the address with ARP before use (RFC 5227 §2.1).
    Probing,
    /// BOUND.
    Bound,
    /// RENEWING (after T1, unicast to the server).
    Renewing,
    /// REBINDING (after T2, broadcast).
    Rebinding,
    /// Lease expired with DHCPSTD=0, or an address reused by REUSETIME: address kept, still
    /// asking (spec §7).
    ExtendedRebinding,
    /// Released, or stopped: nothing more will happen.
    Released,
}

/// Why the phone must stop using its address.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostReason {
    /// The server answered DHCPNAK while renewing, rebinding or in extended rebinding.
    Nak,
    /// The lease expired with DHCPSTD=1.
    Expired,
    /// The caller asked for a release.
    Released,
    /// Another host uses the address.
    Conflict,
    /// Moving to another VLAN (spec §6).
    VlanChange,
}

impl fmt::Display for LostReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LostReason::Nak => "DHCPNAK",
            LostReason::Expired => "lease expired",
            LostReason::Released => "released",
            LostReason::Conflict => "address conflict",
            LostReason::VlanChange => "moving to another VLAN",
        })
    }
}

/// The special-purpose IPv4 blocks a server may not hand out as a host address (RFC 1122
/// §3.2.1.3, RFC 6890).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// 0.0.0.0/8, "this host on this network" (RFC 1122 §3.2.1.3 (a), (b)).
    ThisNetwork,
    /// 127.0.0.0/8, loopback (RFC 1122 §3.2.1.3 (g)).
    Loopback,
    /// 224.0.0.0/4, multicast (RFC 1112, RFC 6890).
    Multicast,
    /// 240.0.0.0/4 below the broadcast address, reserved (RFC 6890 §2.2.2).
    Reserved,
    /// 255.255.255.255, limited broadcast (RFC 1122 §3.2.1.3 (c)).
    Broadcast,
}

impl AddressClass {
    /// The class of `a` when it is not a unicast host address; `None` when it is usable.
    #[must_use]
    pub fn of(a: Ipv4Addr) -> Option<AddressClass> {
        match a.octets()[0] {
            0 => Some(AddressClass::ThisNetwork),
            127 => Some(AddressClass::Loopback),
            224..=239 => Some(AddressClass::Multicast),
            _ if a.is_broadcast() => Some(AddressClass::Broadcast),
            240..=255 => Some(AddressClass::Reserved),
            _ => None,
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::ThisNetwork => "0.0.0.0/8 (this network)",
            AddressClass::Loopback => "127.0.0.0/8 (loopback)",
            AddressClass::Multicast => "224.0.0.0/4 (multicast)",
            AddressClass::Reserved => "240.0.0.0/4 (reserved)",
            AddressClass::Broadcast => "255.255.255.255 (broadcast)",
        })
    }
}

/// Why an OFFER or ACK was not accepted.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No option 51 (spec §3: an OFFER without it is not accepted).
    NoLeaseTime,
    /// No option 54, so the phone could not name the server.
    NoServerIdentifier,
    /// yiaddr is not a unicast host address (RFC 1122 §3.2.1.3, RFC 6890).
    BadAddress {
        /// The yiaddr offered.
        address: Ipv4Addr,
        /// Its special-purpose block.
        class: AddressClass,
    },
    /// Option 54 is not a unicast host address: renewals could not be sent to it.
    BadServerIdentifier {
        /// The option 54 value.
        address: Ipv4Addr,
        /// Its special-purpose block.
        class: AddressClass,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoLeaseTime => f.write_str("no lease time (option 51)"),
            Refusal::NoServerIdentifier => f.write_str("no server identifier (option 54)"),
            Refusal::BadAddress { address, class } => {
                write!(f, "yiaddr {address} is in {class}")
            }
            Refusal::BadServerIdentifier { address, class } => {
                write!(f, "server identifier {address} is in {class}")
            }
        }
    }
}

/// Why an address is used without a DHCPACK for it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// INIT-REBOOT got no answer and the stored lease has not expired: keep it for the rest of
    /// the lease (RFC 2131 §3.2), rebinding meanwhile.
    UnexpiredLease,
    /// DHCP ran REUSETIME seconds untagged or on VLAN 0 without a lease: reuse the previous
    /// address in extended rebinding (spec §7).
    ReuseTime,
}

impl fmt::Display for Reuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reuse::UnexpiredLease => "the server is silent and the stored lease has not expired",
            Reuse::ReuseTime => "REUSETIME ran out without a lease",
        })
    }
}

/// Something the caller acts on or displays.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// From now on send and receive DHCP and ARP on this VLAN (create the VLAN interface if
    /// needed).
    Vlan(Vlan),
    /// VLANTEST ran out on this VLAN ID without a lease; it is not tried again until reset.
    VlanTestExpired(u16),
    /// An address is ready for use: configure [`crate::Client::lease`]. Sent after the probe,
    /// for a new lease, an INIT-REBOOT lease, a moved address and a reused one.
    Bound,
    /// The lease was renewed (RENEWING); [`crate::Client::lease`] has the merged values.
    Renewed,
    /// The lease was extended by a broadcast request (REBINDING or extended rebinding).
    Rebound,
    /// Stop using the address at once.
    Deconfigure(LostReason),
    /// The lease expired but DHCPSTD=0 keeps the address (spec §7).
    ExtendedRebinding,
    /// Another host has this address: DHCPDECLINE sent (when the server is known), show
    /// `Address conflict` (Decision 8).
    Conflict(Ipv4Addr),
    /// Another host claimed the address in use; one announcement defended it (RFC 5227 §2.4
    /// (b)). A second claim within 10 s gives it up.
    Defended(Ipv4Addr),
    /// A DHCPNAK arrived from this server (if it named itself).
    Nak(Option<Ipv4Addr>),
    /// An OFFER or ACK from this server was refused.
    Refused(Ipv4Addr, Refusal),
    /// This address is used without a DHCPACK for it (probed first; [`Event::Bound`] follows).
    Reusing(Ipv4Addr, Reuse),
    /// The router check found this router answering (ROUTERINUSE, spec §8).
    RouterInUse(Ipv4Addr),
    /// ARP could not be sent: the address is used without a probe.
    ArpUnavailable(Ipv4Addr),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Vlan(v) => write!(f, "DHCP {v}"),
            Event::VlanTestExpired(v) => write!(f, "VLANTEST expired on VLAN {v}"),
            Event::Bound => f.write_str("address bound"),
            Event::Renewed => f.write_str("lease renewed"),
            Event::Rebound => f.write_str("lease rebound"),
            Event::Deconfigure(r) => write!(f, "address given up: {r}"),
            Event::ExtendedRebinding => {
                f.write_str("lease expired; address kept (extended rebinding)")
            }
            Event::Conflict(a) => write!(f, "address conflict on {a}"),
            Event::Defended(a) => write!(f, "address conflict on {a} defended"),
            Event::Nak(Some(s)) => write!(f, "DHCPNAK from {s}"),
            Event::Nak(None) => f.write_str("DHCPNAK"),
            Event::Refused(s, r) => write!(f, "reply from {s} refused: {r}"),
            Event::Reusing(a, r) => write!(f, "reusing {a}: {r}"),
            Event::RouterInUse(a) => write!(f, "router {a} answers (ROUTERINUSE)"),
            Event::ArpUnavailable(a) => {
                write!(f, "ARP could not be sent: {a} used without a probe")
            }
        }
    }
}
