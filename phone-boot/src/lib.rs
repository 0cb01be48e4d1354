//! phone-boot: the boot orchestrator of the deskphone. [`boot::Boot`] composes the stages —
//! DHCP (`phone_dhcp`), the file stage ([`files::FileStage`], on `phone_http`), the firmware
//! slots and their [`flash::Flasher`], SCEP (`phone_scep`) and SIP registration
//! (`phone_sip_reg`) — and carries the hand-offs between them. Every machine speaks
//! [`phone_sansio::Machine`]; [`firmware`] holds the signed images (FIRMWARE.md), [`trace`]
//! records and replays a boot (TRACE.md). The crate documentation is its README, below.
#![doc = ""]
#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
// Tests unwrap on values they built themselves; production code never does (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

extern crate alloc;

pub mod boot;
pub mod files;
pub mod firmware;
pub mod flash;
pub mod trace;
