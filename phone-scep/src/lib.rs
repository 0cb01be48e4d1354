//! phone-scep: a Sans-IO SCEP client (RFC 8894) that enrolls the phone's device certificate
//! (spec/scep.md, Decision 7).
//!
//! The [`machine::Enrollment`] emits HTTP requests as data and consumes the responses; the
//! caller does the HTTP, owns the clock ([`phone_settings::Instant`]) and hands in the RNG.
//! The messages are assembled on the `cms` types without the cms builder (no_std, 3DES, and
//! CertRep decryption by hand, CRATES.md §2).
//!
//! ```
//! use phone_scep::machine::{Config, Enrollment, Event, KeySource, Output};
//! use phone_scep::key::SoftwareKey;
//! use phone_settings::Instant;
//! use rand_core::SeedableRng;
//!
//! let mut config = Config::default();
//! config.url = "http://10.77.0.1:8080/scep".into();
//! config.cn = "$SERIALNO".into();
//! config.subst.serial_no = "12AB34CD".into();
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let key = SoftwareKey::generate(&mut rng, 1024).unwrap();
//! let mut scep = Enrollment::new(
//!     config,
//!     KeySource::Provided(Box::new(key)),
//!     None,
//!     rng,
//!     Instant::ZERO,
//!     core::time::Duration::from_secs(1_795_219_200), // wall clock, for the self-signed cert
//! )
//! .unwrap();
//! // MYCERTWAIT=1: the boot waits and shows the title; then GetCACaps goes out.
//! assert!(matches!(scep.poll_output(), Output::Event(Event::Display(_))));
//! match scep.poll_output() {
//!     Output::Transmit(req) => assert_eq!(req.target, "/scep?operation=GetCACaps"),
//!     other => panic!("{other:?}"),
//! }
//! ```
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
pub mod proxy;
pub mod request;

// The crates whose types appear in this API, so callers name the same versions.
pub use {cms, der, rsa, x509_cert};

pub use cacert::CaCerts;
pub use caps::Caps;
pub use key::{DeviceKey, SoftwareKey};
pub use machine::{Config, Enrollment, Event, Input, Output};
pub use message::{CertRep, FailInfo};
