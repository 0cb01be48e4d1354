//! The phone's LLDP-MED agent, Sans-IO (link.md §1, Decision 13): a bounded IEEE 802.1AB /
//! ANSI/TIA-1057 codec ([`Lldpdu`]) and the agent machine ([`Agent`]) that sends the frames of
//! an Endpoint Class III device with fast start, honours LLDP_ENABLED and LLDP_XMIT_SECS, and
//! reports the voice Network Policy the switch gives ([`Event::VoicePolicy`]) and its
//! withdrawal ([`Event::PolicyWithdrawn`]). [`Agent`] implements the shared contract
//! [`phone_sansio::Machine`].
//!
//! The driver frames each [`Transmit`] for [`LLDP_MULTICAST`] with ethertype
//! [`ETHERTYPE_LLDP`] and feeds back the payload of the LLDP frames it receives.
//!
//! ```
//! use phone_lldp::{Id, Lldpdu, NetworkPolicy};
//!
//! let mut f = Lldpdu::new(Id::chassis_mac([2, 0, 0, 0, 0, 1]), Id::port_mac([2, 0, 0, 0, 0, 1]), 120);
//! f.network_policies.push(NetworkPolicy::voice(true, 30, 5, 46));
//! let bytes = f.encode()?;
//! assert_eq!(Lldpdu::decode(&bytes)?, f);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod agent;
pub mod frame;

pub use agent::{
    Agent, AgentConfig, Command, ETHERTYPE_LLDP, Event, LLDP_MULTICAST, Mode, Stats, Transmit,
    VoicePolicy,
};
pub use frame::{
    Capabilities, DecodeError, EncodeError, Id, Inventory, Lldpdu, ManagementAddress,
    MedCapabilities, NetworkPolicy, UnknownTlv,
};
