#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod acd;
pub mod arp;
pub mod avaya;
pub mod client;
pub mod lease;
pub mod message;
pub mod options;

pub use avaya::{VendorOptions, host_name, sson_string};
/// The RNG traits the client takes, re-exported so callers use the same version.
pub use rand_core;

pub use acd::{Acd, AcdConfig, AcdEvent};
pub use arp::{ArpKind, ArpMessage, ArpPacket};
pub use client::{Client, Command, Config, Event, Input, Link, Output, Transmit};
pub use lease::{Lease, PreviousLease};
pub use message::{DecodeError, EncodeError, Message};
pub use options::{DhcpOption, Ipv4List, MessageType, Overload, SsonCode};
