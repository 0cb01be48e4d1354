#![doc = include_str!("../README.md")]
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
