//! The parameter model of the phone: names, types, defaults, sources and precedence.
//!
//! ```
//! use phone_settings::{Source, Store};
//!
//! let mut store = Store::new();
//! // DHCP gave a file server and an SSON string (Decision 2).
//! store.apply_set("HTTPSRVR", "10.0.0.5", Source::DhcpStandard, 0).unwrap();
//! let warnings = store.apply_sson(b"HTTPDIR=phones,L2QVLAN=5000");
//! assert_eq!(warnings.len(), 1); // L2QVLAN out of range: that pair only is ignored
//!
//! // The SETs of a script run, with their line numbers (spec/script.md §4).
//! store.apply_set("httpsrvr", "10.0.0.6", Source::SettingsFile, 12).unwrap();
//! assert!(store.apply_set("HTTPPORT", "99999", Source::SettingsFile, 13).is_err());
//! store.apply_set("PHONEKEY", "Line1", Source::SettingsFile, 14).unwrap(); // raw, kept
//!
//! // The settings file outranks DHCP (Decision 6); an invalid SET left the default.
//! assert_eq!(store.http_servers(), ["10.0.0.6"]);
//! assert_eq!(store.http_port(), 80);
//! let lines: Vec<String> = store
//!     .effective()
//!     .map(|e| format!("{}={}", e.name, String::from_utf8_lossy(e.value)))
//!     .collect();
//! assert_eq!(lines, ["HTTPDIR=phones", "HTTPSRVR=10.0.0.6", "PHONEKEY=Line1"]);
//!
//! // Kept across reboots: a stable byte encoding.
//! let restored = Store::decode(&store.encode()).unwrap().store;
//! assert_eq!(restored, store);
//! ```
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
