#![doc = include_str!("../README.md")]
//!
//! # In this crate
//!
//! Map of the crate:
//! - [`registry`]: the static table of boot parameters ([`lookup`], [`check`], [`suggest`]).
//! - [`Store`]: values by [`Source`] with Decision 6 precedence, [`Store::apply_set`],
//!   [`Store::apply_sson`], [`Store::effective`], typed accessors, [`Store::controllers`].
//! - [`sson`]: the SSON string (option 242): [`parse_sson`], [`split_sson`], [`format_sson`].
//! - [`controller`]: SIP_CONTROLLER_LIST designators and the merge.
//! - [`subst`]: `$SERIALNO` / `$MACADDR` expansion where a value is used.
//! - [`encoding`]: [`Store::encode`] / [`Store::decode`].
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod controller;
pub mod encoding;
pub mod registry;
pub mod source;
pub mod sson;
pub mod store;
pub mod subst;
/// The shared clock type, defined once in `phone-sansio` (re-exported for existing callers).
pub mod time {
    pub use phone_sansio::Instant;
}
pub mod value;
pub mod vendor_names;

pub use controller::{
    Controller, Transport, merge_controllers, parse_controller, parse_controller_list,
};
pub use encoding::{DecodeError, Decoded};
pub use registry::{
    CheckError, Param, REGISTRY, check, dhcp_option_parameter, is_vendor_name, lookup,
    option43_parameter, suggest,
};
pub use source::{Source, Sources};
pub use sson::{SsonPair, format_sson, parse_sson, split_sson};
pub use store::{
    Effective, MAX_RAW_BYTES, MAX_RAW_PARAMS, MAX_SHOWN, Store, Warning, WarningKind, shown,
    shown_bytes,
};
pub use subst::{DeviceIds, substitute, substitute_get_name};
pub use time::Instant;
pub use value::{ValueError, ValueType};
