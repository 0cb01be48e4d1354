//! What the resolver is told: DNSSRVR, DOMAIN and the spec's timing (link.md §3).

use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

/// Tries per server (link.md §3: "2 tries, 2 s apart, then the next server").
pub const TRIES_PER_SERVER: u8 = 2;
/// Wait after each try before the next try or the next server.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);
/// Answers are cached for their TTL, capped at this (link.md §3: 1 h).
pub const MAX_TTL: Duration = Duration::from_secs(3600);
/// Most servers used from DNSSRVR (255 characters hold at most 16 addresses).
pub const MAX_SERVERS: usize = 16;
/// Default number of cached names.
pub const DEFAULT_CACHE_ENTRIES: usize = 32;
/// Default number of names being resolved at once.
pub const DEFAULT_MAX_QUERIES: usize = 16;
/// Default number of addresses kept from one answer.
pub const DEFAULT_MAX_ADDRS: usize = 16;
/// The UDP port the driver sends to.
pub const PORT: u16 = 53;

/// The resolver's configuration.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// DNSSRVR, in order (DHCP option 6, SSON or the settings file; Decision 6 precedence is
    /// the caller's). Unspecified, broadcast and repeated addresses are dropped, and only the
    /// first [`MAX_SERVERS`] kept.
    pub servers: Vec<Ipv4Addr>,
    /// DOMAIN (option 15): appended to a name without a dot. Empty: nothing appended.
    pub domain: String,
    /// Tries per server ([`TRIES_PER_SERVER`]; at least 1).
    pub tries: u8,
    /// Wait after each try ([`RETRY_INTERVAL`]; at least 10 ms).
    pub retry_interval: Duration,
    /// Cap on the TTL an answer is cached and reported for ([`MAX_TTL`]).
    pub max_ttl: Duration,
    /// Names kept in the cache ([`DEFAULT_CACHE_ENTRIES`]; 0 turns caching off).
    pub cache_entries: usize,
    /// Names resolved at once (at least 1); a further name fails with
    /// [`Error::TooManyQueries`](crate::Error::TooManyQueries) ([`DEFAULT_MAX_QUERIES`]).
    pub max_queries: usize,
    /// Addresses kept from one answer, in the server's order (at least 1;
    /// [`DEFAULT_MAX_ADDRS`]).
    pub max_addrs: usize,
}

impl Config {
    /// The spec's defaults for these servers and DOMAIN.
    #[must_use]
    pub fn new(servers: &[Ipv4Addr], domain: &str) -> Config {
        Config {
            servers: servers.to_vec(),
            domain: String::from(domain),
            tries: TRIES_PER_SERVER,
            retry_interval: RETRY_INTERVAL,
            max_ttl: MAX_TTL,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            max_queries: DEFAULT_MAX_QUERIES,
            max_addrs: DEFAULT_MAX_ADDRS,
        }
    }

    /// The servers actually asked: in order, without unspecified, broadcast or repeated
    /// addresses, at most [`MAX_SERVERS`].
    #[must_use]
    pub fn usable_servers(&self) -> Vec<Ipv4Addr> {
        let mut out: Vec<Ipv4Addr> = Vec::new();
        for s in &self.servers {
            if out.len() == MAX_SERVERS {
                break;
            }
            if !s.is_unspecified() && !s.is_broadcast() && !out.contains(s) {
                out.push(*s);
            }
        }
        out
    }

    /// The name asked for `name`: DOMAIN appended when `name` has no dot and DOMAIN is set
    /// (link.md §3).
    #[must_use]
    pub fn qualify(&self, name: &str) -> String {
        let domain = self.domain.trim_matches('.');
        if name.contains('.') || domain.is_empty() {
            String::from(name)
        } else {
            alloc::format!("{name}.{domain}")
        }
    }
}
