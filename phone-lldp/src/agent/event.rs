//! What the agent reports: typed, with `Display` for the log.

use alloc::string::String;
use core::fmt;

use crate::frame::{Id, NetworkPolicy};

/// The voice policy learned from the switch (LLDP-MED Network Policy, application Voice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoicePolicy {
    /// L2QVLAN.
    pub vlan: u16,
    /// Tagged: L2Q 1 when true, 2 when false.
    pub tagged: bool,
    /// 802.1p priority.
    pub priority: u8,
    /// DSCP.
    pub dscp: u8,
}

impl VoicePolicy {
    /// L2Q for this policy (link.md §1: 1 tagged, 2 untagged).
    #[must_use]
    pub fn l2q(&self) -> u8 {
        if self.tagged { 1 } else { 2 }
    }
}

impl From<NetworkPolicy> for VoicePolicy {
    fn from(p: NetworkPolicy) -> VoicePolicy {
        VoicePolicy {
            vlan: p.vlan,
            tagged: p.tagged,
            priority: p.priority,
            dscp: p.dscp,
        }
    }
}

/// What the agent reports.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The switch gives a voice policy, or a different one: L2Q and L2QVLAN with source LLDP
    /// (Decision 6); a new VLAN starts the stage 5 re-check.
    VoicePolicy {
        /// L2QVLAN.
        vlan: u16,
        /// Tagged (L2Q 1) or untagged (L2Q 2).
        tagged: bool,
        /// 802.1p priority.
        priority: u8,
        /// DSCP.
        dscp: u8,
    },
    /// The voice policy is gone: the neighbour sent TTL 0, stopped sending it, or its
    /// information expired. The LLDP values are removed.
    PolicyWithdrawn,
    /// A neighbour not known before.
    Neighbour {
        /// Its Chassis ID.
        chassis_id: Id,
        /// Its Port ID.
        port_id: Id,
        /// Its System Name, when sent.
        system_name: Option<String>,
        /// Whether it speaks LLDP-MED.
        med: bool,
    },
}

impl Event {
    /// The policy of an [`Event::VoicePolicy`].
    #[must_use]
    pub fn voice_policy(&self) -> Option<VoicePolicy> {
        match *self {
            Event::VoicePolicy {
                vlan,
                tagged,
                priority,
                dscp,
            } => Some(VoicePolicy {
                vlan,
                tagged,
                priority,
                dscp,
            }),
            _ => None,
        }
    }
}

/// Text for the log: printable ASCII kept, everything else escaped, at most 64 characters.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == 64 {
                return f.write_str("…");
            }
            if c == ' ' || c.is_ascii_graphic() {
                write!(f, "{c}")?;
            } else {
                write!(f, "{}", c.escape_default())?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::VoicePolicy {
                vlan,
                tagged,
                priority,
                dscp,
            } => write!(
                f,
                "LLDP voice policy: VLAN {vlan} {}, priority {priority}, DSCP {dscp}",
                if *tagged { "tagged" } else { "untagged" }
            ),
            Event::PolicyWithdrawn => f.write_str("LLDP voice policy withdrawn"),
            Event::Neighbour {
                chassis_id,
                port_id,
                system_name,
                med,
            } => {
                f.write_str("LLDP neighbour ")?;
                match system_name {
                    Some(n) if !n.is_empty() => write!(f, "{} ({chassis_id})", Shown(n))?,
                    _ => write!(f, "{chassis_id}")?,
                }
                write!(f, " port {port_id}")?;
                if *med {
                    f.write_str(", LLDP-MED")?;
                }
                Ok(())
            }
        }
    }
}
