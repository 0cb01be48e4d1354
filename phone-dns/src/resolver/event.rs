//! What the resolver reports: typed, with `Display` for the log.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;
use core::time::Duration;

use crate::message::Rcode;
use crate::name::NameError;

/// Why one server did not give an answer; the resolver goes on to the next server.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerError {
    /// No matching answer to any try.
    Timeout,
    /// The last try could not be sent (the caller reported `TransportFailed`).
    SendFailed,
    /// The server answered with this error RCODE (SERVFAIL, REFUSED, FORMERR, NOTIMP, …).
    Rcode(Rcode),
    /// The answer had TC set: this resolver does not retry over TCP.
    Truncated,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Timeout => f.write_str("no answer"),
            ServerError::SendFailed => f.write_str("query could not be sent"),
            ServerError::Rcode(r) => write!(f, "answered {r}"),
            ServerError::Truncated => f.write_str("answer truncated"),
        }
    }
}

/// Why a name did not resolve.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The name (with DOMAIN appended) is not a host name.
    InvalidName(NameError),
    /// DNSSRVR holds no usable address.
    NoServers,
    /// [`Config::max_queries`](crate::Config::max_queries) names are being resolved already.
    TooManyQueries,
    /// The server says the name does not exist (NXDOMAIN).
    NotFound {
        /// The server that said so.
        server: Ipv4Addr,
    },
    /// The name exists but has no A record (NOERROR without an address).
    NoAddress {
        /// The server that said so.
        server: Ipv4Addr,
    },
    /// Every server failed; this is how the last one did.
    AllServersFailed(ServerError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName(e) => write!(f, "not a host name: {e}"),
            Error::NoServers => f.write_str("no DNS server"),
            Error::TooManyQueries => f.write_str("too many names being resolved"),
            Error::NotFound { server } => write!(f, "no such name (DNS server {server})"),
            Error::NoAddress { server } => {
                write!(f, "no IPv4 address for the name (DNS server {server})")
            }
            Error::AllServersFailed(e) => write!(f, "no DNS server answered (last: {e})"),
        }
    }
}

/// What the resolver reports.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `name` (as asked) resolved: its A records in the server's order, and how long they may be
    /// used (the smallest TTL of the answer, capped; the remaining time for a cached answer).
    Resolved {
        /// The name as the caller asked it.
        name: String,
        /// The addresses, in the order the server returned them, without repeats.
        addrs: Vec<Ipv4Addr>,
        /// How long the addresses may be used.
        ttl: Duration,
    },
    /// `name` did not resolve.
    Failed {
        /// The name as the caller asked it.
        name: String,
        /// Why.
        error: Error,
    },
    /// A server failed for `name`; the next server is asked (or, after the last,
    /// [`Event::Failed`] follows).
    ServerFailed {
        /// The name as the caller asked it.
        name: String,
        /// The server.
        server: Ipv4Addr,
        /// How it failed.
        error: ServerError,
    },
}

/// A name for the log: printable ASCII kept, everything else escaped, at most 80 characters.
pub(crate) struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == 80 {
                return f.write_str("…");
            }
            if c.is_ascii_graphic() {
                write!(f, "{c}")?;
            } else {
                write!(f, "{}", c.escape_default())?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Resolved { name, addrs, ttl } => {
                write!(f, "DNS: {} is ", Shown(name))?;
                for (i, a) in addrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, " (ttl {} s)", ttl.as_secs())
            }
            Event::Failed { name, error } => write!(f, "DNS: {} failed: {error}", Shown(name)),
            Event::ServerFailed {
                name,
                server,
                error,
            } => write!(f, "DNS server {server} for {}: {error}", Shown(name)),
        }
    }
}
