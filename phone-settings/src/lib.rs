//! The parameter model of the phone: names, types, defaults, sources and precedence.
//!
//! (Being built; see issue 2.)
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod time;

pub use time::Instant;
