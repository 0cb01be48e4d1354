//! phone-boot: the boot orchestrator of the deskphone. This part holds the file stage's
//! building blocks: a Sans-IO HTTP/1.1 client ([`http`]) for the file servers, signed firmware
//! images ([`firmware`], format in FIRMWARE.md), A/B flash slots ([`flash`]) and the prompt-line
//! messages ([`display`]).
//!
//! ```
//! use phone_boot::http::{GetRequest, HttpGet, HttpLimits, Input, Outcome, Output};
//! use phone_settings::Instant;
//!
//! let now = Instant::from_secs(1);
//! let req = GetRequest { host: "192.0.2.10", port: 80, default_port: 80, path: "/96x1Supgrade.txt" };
//! let mut get = HttpGet::new(now, &req, HttpLimits::default()).unwrap();
//! // The caller writes the request to its TCP connection ...
//! let Output::Transmit(bytes) = get.poll_output() else { panic!() };
//! assert!(bytes.starts_with(b"GET /96x1Supgrade.txt HTTP/1.1\r\nHost: 192.0.2.10\r\n"));
//! // ... and feeds back whatever it reads, in whatever pieces it reads it.
//! get.handle_input(Input::Received(now, b"HTTP/1.1 200 OK\r\nContent-Len"));
//! get.handle_input(Input::Received(now, b"gth: 9\r\n\r\nSET A \"1\""));
//! match get.poll_output() {
//!     Output::Done(Outcome::Obtained(file)) => assert_eq!(file.body, b"SET A \"1\""),
//!     other => panic!("{other:?}"),
//! }
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
// Tests unwrap on values they built themselves; production code never does (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

extern crate alloc;

pub mod boot;
pub mod files;
pub mod firmware;
pub mod flash;
pub mod http;
pub mod stage;
