#![doc = include_str!("../README.md")]
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
