#![doc = include_str!("../README.md")]
//!
//! # In this crate
//!
//! [`HttpClient`] (built from [`HttpConfig`] with its [`HttpLimits`], a [`Request`] made of a
//! [`Method`] and a [`Url`], a [`ConnId`] and `now`) asks for [`Transmit`]s carrying an
//! [`Action`] (with [`Tls`] parameters) and reports [`Event`]s ending in [`Event::Done`] with an
//! [`Outcome`]: a [`Response`] or a [`Failure`] ([`RequestError`], [`HeadError`],
//! [`FramingError`], [`ChunkError`]). [`proxy::route`] is the HTTPPROXY rule; [`percent_encode`]
//! builds query strings.
//!
//! # The exchange
//!
//! Transmits, in order, on the one [`ConnId`] given to [`HttpClient::new`]:
//!
//! | route | transmits |
//! |---|---|
//! | direct `http` | `Connect { host, port, tls: None }`, `Send(request)` |
//! | direct `https` | `Connect { host, port, tls: Some(Tls { server_name: host, .. }) }`, `Send(request)` |
//! | `http` through the proxy | `Connect { proxy, port, tls: None }`, `Send(GET http://host:port/path HTTP/1.1 ...)` (absolute-form, RFC 9112 §3.2.2) |
//! | `https` through the proxy | `Connect { proxy, port, tls: None }`, `Send(CONNECT host:port HTTP/1.1 ...)`; on a 2xx answer `StartTls(Tls { server_name: host, .. })`, `Send(request)` (origin-form, inside TLS) |
//!
//! and at the end, once a `Connect` was taken, `Close`, followed by [`Event::Done`]. `Send`
//! may come before the connection is up: the caller buffers it until connected. Bytes of a
//! `Send` after a `StartTls` go inside TLS.
//!
//! A [`TransportFailed`](phone_sansio::Input::TransportFailed) before the caller reported
//! [`Completed`](phone_sansio::Input::Completed) (or any byte arrived) is [`Failure::Connect`];
//! after it, [`Failure::Reset`]. [`Event::Progress`] comes at most once per input.
//!
//! # Commit on take
//!
//! Nothing moves until the caller takes a transmit: the deadline ([`HttpLimits::timeout`],
//! connect included) is armed when the `Connect` is taken, and the request bytes are built
//! when their `Send` is taken. A caller that polls nothing starts nothing.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod client;
mod error;
pub mod proxy;
mod request;
mod response;
mod url;

#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

pub use client::{HttpClient, HttpConfig, HttpLimits};
pub use error::{ChunkError, Failure, FramingError, HeadError, RequestError};
pub use request::{Method, Request};
pub use url::{Scheme, Url, UrlError, percent_encode};

/// Names the connection an exchange uses; the caller maps it to its socket.
pub type ConnId = u32;

/// A transmit: do `action` on connection `conn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The connection.
    pub conn: ConnId,
    /// What to do on it.
    pub action: Action,
}

/// What the caller does on a connection. The order is the contract: bytes of a `Send` after a
/// `StartTls` go inside TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open TCP to `host:port`, then TLS when `tls` is given. Report
    /// [`Completed`](phone_sansio::Input::Completed) once up (optional) or
    /// [`TransportFailed`](phone_sansio::Input::TransportFailed).
    Connect {
        /// Host name or address (an IPv6 literal without brackets).
        host: String,
        /// TCP port.
        port: u16,
        /// TLS on top, with its server name and identity check.
        tls: Option<Tls>,
    },
    /// Start TLS on the open connection (after a proxy's 2xx to `CONNECT`).
    StartTls(Tls),
    /// Write these bytes (buffered until the connection is up).
    Send(Vec<u8>),
    /// Close the connection; the exchange is over.
    Close,
}

/// How to run TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// SNI and the name the server certificate is checked against: the URL's host.
    pub server_name: String,
    /// Whether the certificate must match `server_name` (RFC 2818 §3.1; TLSSRVRID). Trust in
    /// the certificate chain is always checked.
    pub check_identity: bool,
}

/// What the caller acts on or shows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// More body arrived (for `n KB received`): reported when `received / 1024` changes.
    Progress {
        /// Body bytes received so far.
        received: u64,
        /// The announced length (`Content-Length`), if any.
        expected: Option<u64>,
    },
    /// The exchange is over; the last output but for nothing.
    Done(Outcome),
}

/// How the exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with a final status (any: 2xx, 3xx, 4xx, 5xx).
    Response(Response),
    /// No (acceptable) answer.
    Failed(Failure),
}

/// A final response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, 200–599.
    pub status: u16,
    /// The `Content-Type` field (first one), if any and UTF-8.
    pub content_type: Option<String>,
    /// The `ETag` field (first one), if any and UTF-8, quotes kept.
    pub etag: Option<String>,
    /// `Retry-After` in delay-seconds (RFC 9110 §10.2.3); an HTTP-date gives `None`. Unbounded
    /// here: the owner puts its own floor and ceiling on it.
    pub retry_after: Option<Duration>,
    /// The body, de-chunked. Read for a 2xx only (other statuses: empty).
    pub body: Vec<u8>,
}
