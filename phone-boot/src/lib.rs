//! phone-boot: the boot orchestrator of the deskphone. [`boot::Boot`] composes the stages;
//! [`files::FileStage`] is the file stage (server walk, scripts, software) on `phone_http`;
//! [`flash`] holds the A/B firmware slots and the [`flash::Flasher`]; [`firmware`] the signed
//! images (FIRMWARE.md). Every machine speaks [`phone_sansio::Machine`].
//!
//! ```
//! use phone_boot::files::{FileStage, Peer, StageConfig, Transmit};
//! use phone_boot::flash::{BootRecord, SlotImage};
//! use phone_http::Action;
//! use phone_sansio::{Input, Instant, Machine, Output};
//! use phone_settings::{Source, Store};
//! use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
//!
//! let mut store = Store::new();
//! store.apply_set("HTTPSRVR", "192.0.2.10", Source::Sson, 0).unwrap();
//! let slots = BootRecord::factory(SlotImage::of("factory.bin", b"image"));
//! let config = StageConfig::new("9611G", [2, 0, 0, 0, 0, 1], "SN1", slots);
//! let now = Instant::from_secs(1);
//! let mut stage = FileStage::new(config, store, ChaCha8Rng::seed_from_u64(1), now);
//! // `HTTP: 1 http://192.0.2.10:80/96x1Supgrade.txt`, then the connection.
//! assert!(matches!(stage.poll_output(), Output::Event(_)));
//! let Output::Transmit(Transmit::Http(t)) = stage.poll_output() else { panic!() };
//! assert!(matches!(t.action, Action::Connect { ref host, port: 80, tls: None } if host == "192.0.2.10"));
//! stage.handle_input(Input::TransportFailed(now, Peer::Conn(t.conn)));
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
// Tests unwrap on values they built themselves; production code never does (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

extern crate alloc;

pub mod boot;
pub mod files;
pub mod firmware;
pub mod flash;
#[cfg(test)]
mod testing;
