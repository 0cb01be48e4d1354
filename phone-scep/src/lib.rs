//! phone-scep: a Sans-IO SCEP client (RFC 8894) that enrolls the phone's device certificate
//! (spec/scep.md, Decision 7). The crate documentation is its README, below.
//!
//! The [`machine::Enrollment`] keeps no HTTP code of its own: each SCEP request (GetCACaps,
//! GetCACert, GetNextCACert, PKCSReq/RenewalReq, CertPoll) is one [`phone_http::HttpClient`]
//! exchange on a fresh [`phone_http::ConnId`], direct or through HTTPPROXY, so its transmits are
//! the same connection transmits as the file stage's. The messages are assembled on the `cms`
//! types without the cms builder (no_std, 3DES, and CertRep decryption by hand, CRATES.md §2).
#![doc = ""]
#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod algs;
pub mod backoff;
pub mod ber;
pub mod cacert;
pub mod caps;
pub mod http;
pub mod key;
pub mod machine;
pub mod message;
pub mod oid;
pub mod request;

// The crates whose types appear in this API, so callers name the same versions.
pub use {cms, der, phone_http, phone_sansio, rand_core, rsa, x509_cert};

pub use cacert::CaCerts;
pub use caps::Caps;
pub use key::{DeviceKey, SoftwareKey};
pub use machine::{Config, Enrollment, Event, ScepError};
pub use message::{CertRep, FailInfo};
