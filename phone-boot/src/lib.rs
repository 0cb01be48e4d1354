//! phone-boot: the boot orchestrator of the deskphone. [`boot::Boot`] composes the stages —
//! DHCP (`phone_dhcp`), the file stage ([`files::FileStage`], on `phone_http`), the firmware
//! slots and their [`flash::Flasher`], SCEP (`phone_scep`) and SIP registration
//! (`phone_sip_reg`) — and carries the hand-offs between them. Every machine speaks
//! [`phone_sansio::Machine`]; [`firmware`] holds the signed images (FIRMWARE.md).
//!
//! The caller drives [`boot::Boot`] like any machine: drain outputs until `Timeout`, carry out
//! each transmit (the variant names the stage and its transport), show the events, and feed
//! back what happened on the matching [`boot::Peer`]:
//!
//! ```
//! use phone_boot::boot::display::Screen;
//! use phone_boot::boot::record::Record;
//! use phone_boot::boot::{Boot, BootConfig, Event, Peer, Phase, Transmit};
//! use phone_boot::files::StageConfig;
//! use phone_boot::flash::{BootRecord, SlotImage};
//! use phone_dhcp::{Link, Message, MessageType};
//! use phone_sansio::{Input, Instant, Machine, Output};
//! use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//!
//! let slots = BootRecord::factory(SlotImage::of("factory.bin", b"image"));
//! let config = BootConfig::new(StageConfig::new("9611G", [2, 0, 0, 0, 0, 1], "SN1", slots));
//! let now = Instant::from_secs(1);
//! let mut boot = Boot::new(config, Record::default(), ChaCha20Rng::seed_from_u64(1), now);
//! let mut screens = Vec::new();
//! let discover = loop {
//!     match boot.poll_output() {
//!         Output::Event(Event::Display(s)) => screens.push(s.to_string()),
//!         Output::Event(_) => {}
//!         // Taken now: the DHCP client draws its xid and arms its timer at this moment.
//!         Output::Transmit(Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. })) => break payload,
//!         Output::Transmit(other) => panic!("{other:?}"),
//!         Output::Timeout(t) => panic!("nothing to send before {t:?}"),
//!     }
//! };
//! assert_eq!(screens, ["Restarting...", "Initializing", "Loading...", "Starting...", "[Program]", "DHCP: 0 secs"]);
//! assert_eq!(Message::decode(&discover)?.message_type(), Some(MessageType::Discover));
//! assert_eq!((boot.phase(), boot.prompt()), (Phase::Network, None));
//! // The caller could not send it: DHCP sends the same DISCOVER again a little later.
//! boot.handle_input(Input::TransportFailed(now, Peer::Dhcp(Link::Udp)));
//! let Output::Timeout(retry_at) = boot.poll_output() else { panic!() };
//! assert!(retry_at > now);
//! # Ok::<(), phone_dhcp::DecodeError>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
// Tests unwrap on values they built themselves; production code never does (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

extern crate alloc;

pub mod boot;
pub mod files;
pub mod firmware;
pub mod flash;
pub mod trace;
