//! What the agent is told: LLDP_ENABLED, LLDP_XMIT_SECS and what the phone says about itself.

use alloc::string::String;
use core::net::Ipv4Addr;
use core::time::Duration;

use crate::frame::{Inventory, NetworkPolicy};

/// LLDP_XMIT_SECS default (link.md §1).
pub const DEFAULT_XMIT_INTERVAL: Duration = Duration::from_secs(30);
/// LLDP_XMIT_SECS bounds: 1–3600 s.
pub const MIN_XMIT_INTERVAL: Duration = Duration::from_secs(1);
/// Upper bound of LLDP_XMIT_SECS.
pub const MAX_XMIT_INTERVAL: Duration = Duration::from_secs(3600);
/// medFastStartRepeatCount default (TIA-1057 §11.2.1); switches allow 1–10.
pub const DEFAULT_FAST_START_COUNT: u8 = 3;
/// Largest medFastStartRepeatCount.
pub const MAX_FAST_START_COUNT: u8 = 10;
/// Spacing of fast-start frames, and the shortest spacing of any two frames (802.1AB's
/// transmit credit, simplified to one frame per second).
pub const FAST_INTERVAL: Duration = Duration::from_secs(1);
/// TTL = this × the transmit interval, at most 65535 s (802.1AB msgTxHold).
pub const TX_HOLD: u32 = 4;
/// L2 priority the phone advertises for voice by default (L2QAUD).
pub const DEFAULT_VOICE_PRIORITY: u8 = 6;
/// DSCP the phone advertises for voice by default (DSCPAUD).
pub const DEFAULT_VOICE_DSCP: u8 = 46;

/// LLDP_ENABLED (link.md §1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// 0: off: nothing sent, frames ignored.
    Off,
    /// 1: on: fast start at link-up.
    On,
    /// 2 (the default): on, but frames are sent only once an LLDP frame was received.
    #[default]
    AfterReceive,
}

impl Mode {
    /// From the parameter's value; `None` outside 0–2.
    #[must_use]
    pub fn from_value(v: u8) -> Option<Mode> {
        match v {
            0 => Some(Mode::Off),
            1 => Some(Mode::On),
            2 => Some(Mode::AfterReceive),
            _ => None,
        }
    }
}

/// The agent's configuration.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// The phone's MAC: Chassis ID and Port ID (subtype MAC address), and how its own frames
    /// are told apart.
    pub mac: [u8; 6],
    /// LLDP_ENABLED.
    pub mode: Mode,
    /// LLDP_XMIT_SECS, clamped to 1–3600 s.
    pub xmit_interval: Duration,
    /// medFastStartRepeatCount, clamped to 1–10.
    pub fast_start_count: u8,
    /// System Name: the DHCP host name of Decision 1 (empty: not sent).
    pub system_name: String,
    /// System Description (empty: not sent).
    pub system_description: String,
    /// LLDP-MED Inventory: hardware revision, firmware revision (the running application's
    /// name), software revision, serial number (SERIALNO), manufacturer, model (MODEL). Longer
    /// strings are cut to 32 octets.
    pub inventory: Inventory,
    /// Management Address: the phone's IPv4 address once known.
    pub management_address: Option<Ipv4Addr>,
    /// The voice Network Policy advertised: the VLAN in use, tagged flag, priority, DSCP.
    pub voice_policy: NetworkPolicy,
}

impl AgentConfig {
    /// The defaults for a phone with this MAC: LLDP_ENABLED 2, 30 s, fast start 3, voice
    /// untagged with priority 6 and DSCP 46.
    #[must_use]
    pub fn for_mac(mac: [u8; 6]) -> AgentConfig {
        AgentConfig {
            mac,
            mode: Mode::default(),
            xmit_interval: DEFAULT_XMIT_INTERVAL,
            fast_start_count: DEFAULT_FAST_START_COUNT,
            system_name: String::new(),
            system_description: String::new(),
            inventory: Inventory::default(),
            management_address: None,
            voice_policy: NetworkPolicy::voice(
                false,
                0,
                DEFAULT_VOICE_PRIORITY,
                DEFAULT_VOICE_DSCP,
            ),
        }
    }

    /// LLDP_XMIT_SECS in seconds (clamped).
    #[must_use]
    pub fn with_xmit_secs(mut self, secs: u16) -> AgentConfig {
        self.xmit_interval = Duration::from_secs(u64::from(secs));
        self
    }

    /// The TTL sent: 4 × the interval, at most 65535 s.
    #[must_use]
    pub fn ttl(&self) -> u16 {
        let secs = self
            .xmit_interval
            .clamp(MIN_XMIT_INTERVAL, MAX_XMIT_INTERVAL)
            .as_secs();
        u16::try_from(secs.saturating_mul(u64::from(TX_HOLD))).unwrap_or(u16::MAX)
    }
}
