//! phone-boot (being built).
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;
