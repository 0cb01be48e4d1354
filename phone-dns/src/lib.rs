//! The phone's DNS stub resolver, Sans-IO (link.md §3, Decision 12): a bounded RFC 1035 codec
//! ([`Message`], [`Name`]) and the resolver machine ([`Resolver`]) that asks the DNSSRVR servers
//! in order for A records, appends DOMAIN to dotless names, retries per the spec, caches
//! answers for their TTL and matches replies strictly. [`Resolver`] implements the shared
//! contract [`phone_sansio::Machine`].
//!
//! The codec is this crate's own rather than `simple-dns` or `domain`: `simple-dns` (0.11)
//! builds without std, but it stops compression loops only by requiring each pointer to point
//! before the previous one (no bound on the pointers of one name, so a 512-byte message full of
//! names costs quadratic work), parses every record type it knows eagerly (one malformed record
//! of a type the phone never asks for fails the message) and allocates per label; `domain`
//! needs `octseq` buffers and a large feature matrix for what is a 300-line job here. A stub
//! resolver that asks for A records reads a header, one question, and A and CNAME records; this
//! codec bounds every length and count explicitly ([`message`], [`name`]) and keeps the rest as
//! raw RDATA. `simple-dns` is kept as a test oracle (tests/codec.rs).
//!
//! ```
//! use phone_dns::{Message, Name};
//!
//! let query = Message::query(0x1234, Name::from_text("Sip.Example.com")?);
//! let bytes = query.encode()?;
//! assert_eq!(&bytes[12..], b"\x03sip\x07example\x03com\x00\x00\x01\x00\x01");
//! assert_eq!(Message::decode(&bytes)?, query);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
