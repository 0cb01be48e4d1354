//! The client's configuration (Decision 1, spec dhcp.md §2, §6, §7, Decision 11).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::acd::DEFAULT_PROBE_BUDGET;
use crate::avaya::host_name;
use crate::options::SsonCode;

/// L2Q: whether DHCP runs tagged (spec dhcp.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum L2q {
    /// 0: tag if L2QVLAN ≠ 0; fall back to untagged.
    #[default]
    Auto,
    /// 1: tag; fall back to priority-tagged frames (VID 0).
    On,
    /// 2: never tag.
    Off,
}

impl L2q {
    /// From the parameter's value 0/1/2.
    #[must_use]
    pub fn from_value(v: u8) -> Option<L2q> {
        match v {
            0 => Some(L2q::Auto),
            1 => Some(L2q::On),
            2 => Some(L2q::Off),
            _ => None,
        }
    }
}

/// How the caller must send and receive DHCP (and ARP) frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vlan {
    /// Plain untagged frames.
    Untagged,
    /// 802.1Q frames with VID 0 (priority tag only).
    PriorityTagged,
    /// 802.1Q frames in this VLAN.
    Tagged(u16),
}

impl fmt::Display for Vlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vlan::Untagged => f.write_str("untagged"),
            Vlan::PriorityTagged => f.write_str("priority-tagged (VID 0)"),
            Vlan::Tagged(v) => write!(f, "VLAN {v}"),
        }
    }
}

/// The parameter request list of Decision 1: 1, 3, 6, 7, 15, 26, 42, 43, 51, 58, 59 and the SSON.
#[must_use]
pub fn default_parameter_request_list(sson: SsonCode) -> Vec<u8> {
    vec![1, 3, 6, 7, 15, 26, 42, 43, 51, 58, 59, sson.get()]
}

/// REUSETIME's default, seconds (spec dhcp.md §7).
pub const DEFAULT_REUSE_TIME: u16 = 60;

/// Client configuration; `Default` and [`Config::for_mac`] give the spec's values.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The phone's MAC (chaddr, and the sender of its ARP packets).
    pub mac: [u8; 6],
    /// Option 12; `None` to send none. Default: [`host_name`] of the MAC (spec §2).
    pub host_name: Option<String>,
    /// Option 60; default `ccp.avaya.com` (Decision 1).
    pub vendor_class: Option<Vec<u8>>,
    /// Option 61; default type 1 + MAC (Decision 1).
    pub client_id: Option<Vec<u8>>,
    /// Option 55; default [`default_parameter_request_list`].
    pub parameter_request_list: Vec<u8>,
    /// Option 57; default 1000 (Decision 1).
    pub max_message_size: u16,
    /// The SSON option number (parameter SSON, default 242).
    pub sson: SsonCode,
    /// Set the broadcast flag while the phone has no address (default true: the reference
    /// socket cannot receive unicast to an address not yet configured).
    pub broadcast_flag: bool,
    /// DHCPSTD: `false` (0, default) = extended rebinding when the lease expires; `true` (1) =
    /// strict RFC 2131, drop the address at expiry (spec §7).
    pub dhcpstd: bool,
    /// L2Q (spec §6).
    pub l2q: L2q,
    /// L2QVLAN, 0–4094 (0 = untagged).
    pub l2qvlan: u16,
    /// VLANTEST seconds, 0 = try the tagged VLAN forever (default 60).
    pub vlantest: u16,
    /// Decision 11's probe budget for address conflict detection (RFC 5227 scaled): default
    /// 200 ms; zero = no probe (announcements and defence still run); 9 s = RFC 5227's own
    /// timing. Applies to leased, INIT-REBOOT and reused addresses alike.
    pub probe_budget: Duration,
    /// REUSETIME seconds (spec §7): after DHCP has run this long untagged or on VLAN 0 without
    /// a lease, reuse the previous address (from [`crate::PreviousLease`]) and enter extended
    /// rebinding. 0 = never; 1–19 count as 20, above 999 as 999 (the parameter's range).
    /// Only with DHCPSTD=0: strict RFC 2131 never uses an address without a lease. Default 60.
    pub reuse_time: u16,
    /// The router check (spec §8, ROUTERINUSE): once bound, ARP the option 3 routers in order
    /// until one answers. Default true.
    pub router_check: bool,
    /// DHCPREQUEST retransmissions in REQUESTING before going back to INIT (RFC 2131 §4.4.1
    /// suggests four). Default 4.
    pub request_retransmissions: u32,
    /// DHCPREQUEST retransmissions in REBOOTING before the client stops asking for the stored
    /// address. A server that does not know the lease stays silent (RFC 2131 §4.3.2), so this
    /// bounds the boot delay: default 2 (requests at about 0, 4 and 12 s, giving up at about
    /// 28 s). Then an unexpired stored lease is kept (RFC 2131 §3.2), else INIT.
    pub reboot_retransmissions: u32,
}

impl Config {
    /// The spec's defaults for a phone with this MAC.
    #[must_use]
    pub fn for_mac(mac: [u8; 6]) -> Config {
        let mut client_id = vec![1u8];
        client_id.extend_from_slice(&mac);
        Config {
            mac,
            host_name: Some(host_name(mac)),
            vendor_class: Some(b"ccp.avaya.com".to_vec()),
            client_id: Some(client_id),
            parameter_request_list: default_parameter_request_list(SsonCode::DEFAULT),
            max_message_size: 1000,
            sson: SsonCode::DEFAULT,
            broadcast_flag: true,
            dhcpstd: false,
            l2q: L2q::Auto,
            l2qvlan: 0,
            vlantest: 60,
            probe_budget: DEFAULT_PROBE_BUDGET,
            reuse_time: DEFAULT_REUSE_TIME,
            router_check: true,
            request_retransmissions: 4,
            reboot_retransmissions: 2,
        }
    }

    /// REUSETIME as a duration, `None` when off (0, or DHCPSTD=1).
    pub(crate) fn reuse_after(&self) -> Option<Duration> {
        if self.reuse_time == 0 || self.dhcpstd {
            return None;
        }
        Some(Duration::from_secs(u64::from(
            self.reuse_time.clamp(20, 999),
        )))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::for_mac([0; 6])
    }
}
