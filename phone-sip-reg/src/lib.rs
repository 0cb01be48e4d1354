//! A Sans-IO SIP REGISTER client for a deskphone: the codec a registering phone needs, digest
//! authentication (RFC 7616/8760), the non-INVITE client transaction (RFC 3261 §17.1.2) and the
//! Avaya controller model (failover, failback, simultaneous registrations; spec/sip.md).
//!
//! The caller owns sockets, TLS, the clock and the RNG; the [`Client`] only sees bytes and
//! instants (ARCHITECTURE.md):
//!
//! ```
//! use phone_settings::Instant;
//! use phone_sip_reg::{Client, Config, Input, Output};
//! use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
//!
//! let mut cfg = Config::default();
//! cfg.apply_setting("SIP_CONTROLLER_LIST", "10.77.0.1;transport=udp").unwrap();
//! cfg.apply_setting("SIPDOMAIN", "lab.test").unwrap();
//! cfg.user = "1001".into();
//! cfg.password = Some("secret".into());
//! cfg.local_host = "10.77.0.100".into();
//! let mut phone = Client::new(cfg, ChaCha8Rng::seed_from_u64(1));
//! phone.handle_input(Input::Timeout(Instant::ZERO));
//! let Output::Transmit(t) = phone.poll_output() else { panic!() };
//! assert_eq!(t.target.port, 5060);
//! assert!(t.payload.starts_with(b"REGISTER sip:lab.test SIP/2.0\r\n"));
//! // ... send t.payload over UDP, feed the answer back as Input::Datagram, and so on until
//! // poll_output() returns Output::Timeout(deadline).
//! ```
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod client;
pub mod config;
pub mod controller;
pub mod digest;
pub mod framing;
pub mod message;

pub use client::{
    Client, CredentialsReason, Event, Failure, Input, Output, RegistrationState, Transmit,
};
pub use config::{Config, FailbackPolicy, ProxyPolicy, SettingError};
/// The RNG traits the [`Client`] takes (rand_core 0.10), re-exported for callers.
pub use rand_core;

pub use controller::{Controller, Transport, parse_controller_list};
