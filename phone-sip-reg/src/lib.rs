//! A Sans-IO SIP REGISTER client for a deskphone: the codec a registering phone needs, digest
//! authentication (RFC 7616/8760), the non-INVITE client transaction (RFC 3261 §17.1.2) and the
//! Avaya controller model (failover, failback, simultaneous registrations; spec/sip.md).
//!
//! The caller owns sockets, TLS, the clock and the RNG; the [`Client`] only sees bytes and
//! instants, and speaks the workspace's one contract, [`phone_sansio::Machine`]
//! (ARCHITECTURE.md). The peer of an input is the controller's index in the configuration:
//!
//! ```
//! use phone_sip_reg::{Client, Config, Event, Input, Instant, Output};
//! use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
//!
//! let mut cfg = Config::default();
//! cfg.apply_setting("SIP_CONTROLLER_LIST", "10.77.0.1;transport=udp").unwrap();
//! cfg.apply_setting("SIPDOMAIN", "lab.test").unwrap();
//! cfg.user = "1001".into();
//! cfg.password = Some("secret".into());
//! cfg.local_host = "10.77.0.100".into();
//! let mut phone = Client::new(cfg, ChaCha8Rng::seed_from_u64(1), Instant::ZERO);
//! // Nothing is built until it is taken: CSeq 1 is committed by this poll.
//! let Output::Transmit(t) = phone.poll_output() else { panic!() };
//! assert_eq!(t.controller, 0);
//! assert_eq!(t.target.port, 5060);
//! assert!(t.payload.starts_with(b"REGISTER sip:lab.test SIP/2.0\r\n"));
//! assert_eq!(phone.poll_output(), Output::Event(Event::Registering { controller: 0 }));
//! // Timer E (T1 = 500 ms over UDP) was armed when the REGISTER was taken.
//! assert_eq!(phone.poll_output(), Output::Timeout(Instant::from_millis(500)));
//! // ... send t.payload over UDP, feed the answer back as
//! // Input::Receive(now, t.controller, &datagram), report a failed send as
//! // Input::TransportFailed(now, t.controller), and poll until Output::Timeout(deadline).
//! phone.handle_input(Input::Timeout(Instant::from_millis(500)));
//! let Output::Transmit(again) = phone.poll_output() else { panic!() };
//! assert_eq!(again.payload, t.payload, "a retransmission is the same request");
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
    Client, Command, CredentialsReason, Event, Failure, Input, MIN_SERVER_DELAY_SECS, Output,
    RegistrationState, Transmit,
};
pub use config::{Config, FailbackPolicy, ProxyPolicy, SettingError};
/// The contract's clock and trait, re-exported so callers need no second import.
pub use phone_sansio::{Instant, Machine};
/// The RNG traits the [`Client`] takes (rand_core 0.10), re-exported for callers.
pub use rand_core;

pub use controller::{Controller, Transport, parse_controller_list};
