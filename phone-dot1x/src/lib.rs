//! The 802.1X supplicant of a deskphone (link.md §2, issue 14): IEEE 802.1X-2004 EAPOL with the
//! EAP peer of RFC 3748, EAP-MD5-Challenge and EAP-TLS (RFC 5216; TLS 1.3 per RFC 9190) over
//! rustls, as a Sans-IO [`phone_sansio::Machine`].
//!
//! A crate of its own because EAPOL/EAP is its own protocol family: firmware embeds it at
//! stage 1 without the rest of the boot, and the codec is useful alone.
//!
//! - [`eapol`] and [`eap`]: the bounded codec (every length checked, padding ignored, parsing
//!   borrows).
//! - [`Supplicant`]: the machine. `Peer` is [`Link`] (the frame's sender and whether it came to
//!   a group address, for DOT1XSTAT 1), `Command` is [`Command`] (prompt answers, Logoff,
//!   Restart), `Transmit` is [`Transmit`] (an EAPOL PDU for the PAE group address), `Event` is
//!   [`Event`].
//! - [`Config`]: DOT1XSTAT, DOT1XEAPS, DOT1XEAPTLSONLYWITHCERT, FORCE_DOT1X* ([`substitute`]),
//!   the SCEP identity and trusted certificates ([`TlsConfig`]).
//!
//! TLS is rustls (ring provider) through its unbuffered client API, which works without std.
//! Credentials never appear in `Debug` or `Display` output.
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
