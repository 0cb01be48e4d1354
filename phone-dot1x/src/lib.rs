#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod config;
pub mod eap;
pub mod eapol;
pub mod event;
pub mod supplicant;
pub mod tls;

pub use config::{
    Config, MAX_CREDENTIAL_CHARS, Method, Mode, Secret, Substitution, Timers, TlsConfig, substitute,
};
pub use event::{Command, Event, Prompt};
pub use supplicant::{Link, PortState, Supplicant, Transmit};
pub use tls::TlsError;
