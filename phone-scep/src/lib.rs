//! phone-scep: a Sans-IO SCEP client (RFC 8894) that enrolls the phone's device certificate
//! (spec/scep.md, Decision 7).
//!
//! The [`machine::Enrollment`] speaks [`phone_sansio::Machine`]. It keeps no HTTP code of its
//! own: each SCEP request (GetCACaps, GetCACert, GetNextCACert, PKCSReq/RenewalReq, CertPoll)
//! is one [`phone_http::HttpClient`] exchange on a fresh [`phone_http::ConnId`], direct or
//! through HTTPPROXY, and the machine's transmits are the same connection transmits as the file
//! stage's ([`phone_http::Transmit`]: `Connect`, `StartTls`, `Send`, `Close`). The caller owns
//! the sockets, TLS and the clock ([`phone_sansio::Instant`]) and hands in the RNG. The
//! messages are assembled on the `cms` types without the cms builder (no_std, 3DES, and
//! CertRep decryption by hand, CRATES.md §2).
//!
//! ```
//! use phone_scep::machine::{Config, Enrollment, Event, KeySource, Title};
//! use phone_scep::key::SoftwareKey;
//! use phone_scep::phone_http::{Action, Transmit};
//! use phone_scep::phone_sansio::{Input, Instant, Machine, Output};
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
//! // MYCERTWAIT=1: the boot waits and shows the title; then GetCACaps goes out on connection 1.
//! assert_eq!(scep.poll_output(), Output::Event(Event::Display(Title { secs: 0 })));
//! let Output::Transmit(Transmit { conn, action: Action::Connect { host, port, tls: None } }) =
//!     scep.poll_output() else { panic!() };
//! assert_eq!((conn, host.as_str(), port), (1, "10.77.0.1", 8080));
//! let Output::Transmit(Transmit { action: Action::Send(bytes), .. }) = scep.poll_output() else {
//!     panic!()
//! };
//! assert!(bytes.starts_with(b"GET /scep?operation=GetCACaps HTTP/1.1\r\n"));
//! // The CA answers; GetCACert follows on connection 2.
//! let later = Instant::from_millis(40);
//! scep.handle_input(Input::Receive(
//!     later,
//!     conn,
//!     b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\nPOSTPKIOperation\n",
//! ));
//! assert!(matches!(scep.poll_output(), Output::Transmit(Transmit { conn: 1, action: Action::Close })));
//! assert!(matches!(scep.poll_output(), Output::Event(Event::Caps(c)) if c.post_pki_operation));
//! assert!(matches!(scep.poll_output(), Output::Transmit(Transmit { conn: 2, action: Action::Connect { .. } })));
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
pub mod request;

// The crates whose types appear in this API, so callers name the same versions.
pub use {cms, der, phone_http, phone_sansio, rand_core, rsa, x509_cert};

pub use cacert::CaCerts;
pub use caps::Caps;
pub use key::{DeviceKey, SoftwareKey};
pub use machine::{Config, Enrollment, Event, ScepError};
pub use message::{CertRep, FailInfo};
