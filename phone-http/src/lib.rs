//! The Sans-IO HTTP/1.1 client of phone-boot (RFC 9110, RFC 9112), shared by the file stage
//! and SCEP.
//!
//! An [`HttpClient`] makes one request — GET, or POST with a body and its content type — on
//! one connection it asks its caller to open, directly or through HTTPPROXY
//! ([`proxy::route`]). It speaks [`phone_sansio::Machine`]; the caller owns the sockets and
//! TLS, carries out each [`Transmit`] and feeds back what happened. Here it runs against a
//! fake server:
//!
//! ```
//! use phone_http::{Action, Event, HttpClient, HttpConfig, Outcome, Request, Url};
//! use phone_sansio::{Input, Instant, Machine, Output};
//!
//! let url = Url::parse("http://192.0.2.10/96x1Supgrade.txt")?;
//! let mut client = HttpClient::new(&HttpConfig::default(), Request::get(url), 7, Instant::ZERO);
//! let later = Instant::from_millis(30);
//! let mut outcome = None;
//! loop {
//!     match client.poll_output() {
//!         // Taking a transmit commits it: the deadline is armed when `Connect` is taken.
//!         Output::Transmit(t) => match t.action {
//!             Action::Connect { host, port, tls } => {
//!                 assert_eq!((host.as_str(), port, tls), ("192.0.2.10", 80, None));
//!                 client.handle_input(Input::Completed(later, t.conn));
//!             }
//!             Action::Send(bytes) => {
//!                 assert!(bytes.starts_with(b"GET /96x1Supgrade.txt HTTP/1.1\r\nHost: 192.0.2.10\r\n"));
//!                 // The server answers in two reads.
//!                 client.handle_input(Input::Receive(later, t.conn, b"HTTP/1.1 200 OK\r\nETag: \"7\"\r\n"));
//!                 client.handle_input(Input::Receive(later, t.conn, b"Content-Length: 9\r\n\r\nSET A 1\r\n"));
//!             }
//!             Action::StartTls(_) => unreachable!("no proxy, no https"),
//!             Action::Close => {} // the exchange is over: close the socket
//!         },
//!         Output::Event(Event::Done(o)) => outcome = Some(o),
//!         Output::Event(_) => {}
//!         // Nothing more until an input or this instant (`Instant::MAX`: only an input).
//!         Output::Timeout(t) => {
//!             assert_eq!(t, Instant::MAX);
//!             break;
//!         }
//!     }
//! }
//! let Some(Outcome::Response(r)) = outcome else { panic!("{outcome:?}") };
//! assert_eq!((r.status, r.etag.as_deref(), &r.body[..]), (200, Some("\"7\""), &b"SET A 1\r\n"[..]));
//! # Ok::<(), phone_http::UrlError>(())
//! ```
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
//! Inputs (peer = [`ConnId`]; facts about another connection are ignored):
//! [`Receive`](phone_sansio::Input::Receive) (plaintext bytes read),
//! [`Completed`](phone_sansio::Input::Completed) (optional: connected, TLS included — it
//! tells a failed connect, [`Failure::Connect`], from a broken connection, [`Failure::Reset`]),
//! [`Closed`](phone_sansio::Input::Closed) (EOF or close_notify),
//! [`TransportFailed`](phone_sansio::Input::TransportFailed) (could not connect, TLS failed,
//! reset, a `Send` could not be written), [`Timeout`](phone_sansio::Input::Timeout).
//!
//! Events: [`Event::Progress`] when the count of whole KiB of body received changes (at most
//! once per input), then exactly one [`Event::Done`]: [`Outcome::Response`] for any final
//! status (the body is read for a 2xx only), or [`Outcome::Failed`] with a typed [`Failure`].
//! The client makes one exchange and never retries: another attempt is its owner's decision.
//!
//! # Commit on take
//!
//! Nothing moves until the caller takes a transmit: the deadline ([`HttpLimits::timeout`],
//! connect included) is armed when the `Connect` is taken, and the request bytes are built
//! when their `Send` is taken. A caller that polls nothing starts nothing.
//!
//! # What is refused
//!
//! Every size is bounded by [`HttpLimits`]. Refused with a typed reason ([`HeadError`],
//! [`FramingError`], [`ChunkError`]): a status that is not three digits 100–599, a control
//! byte in a header value or reason phrase, a bare CR, `101`, too many interim responses,
//! `Content-Length` together with `Transfer-Encoding` (RFC 9112 §6.3), differing
//! `Content-Length` values, `Transfer-Encoding` in an HTTP/1.0 response (never de-chunked,
//! RFC 9112 §6.1), codings other than `chunked`/`identity`.
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
