//! The phone's DHCPv4 client, Sans-IO: a borrowing codec for BOOTP/DHCP messages
//! ([`Message`]), Avaya's option 43 and host name rule ([`avaya`]), the RFC 2131 client state
//! machine with voice-VLAN handling, REUSETIME and the router check ([`Client`]), and RFC 5227
//! address conflict detection scaled to a probe budget ([`acd::Acd`], Decision 11) over a
//! bounded ARP codec ([`arp`]). [`Client`] and [`acd::Acd`] implement the shared contract
//! [`phone_sansio::Machine`].
//!
//! ```
//! use phone_dhcp::{DhcpOption, Message, MessageType};
//!
//! let discover = Message {
//!     xid: 0x1234_5678,
//!     options: vec![DhcpOption::MessageType(MessageType::Discover)],
//!     ..Message::default()
//! };
//! let mut buf = [0u8; 576];
//! let n = discover.encode(&mut buf)?;
//! let back = Message::decode(&buf[..n])?;
//! assert_eq!(back.message_type(), Some(MessageType::Discover));
//! assert_eq!(back, discover);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
