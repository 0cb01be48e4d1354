#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod message;
pub mod name;
pub mod resolver;

/// The RNG traits the resolver takes, re-exported so callers use the same version.
pub use rand_core;

pub use message::{DecodeError, EncodeError, Flags, Message, Question, RData, Rcode, Record};
pub use name::{Name, NameError, NameReadError};
pub use resolver::{Command, Config, Error, Event, Resolver, ServerError, Stats, Transmit};
