//! The stub resolver (link.md §3, Decision 12) as a Sans-IO machine: [`Resolver`].
//!
//! **Driving it.** Ask with `Input::Command(now, Command::Resolve { name })`; the answer is one
//! [`Event::Resolved`] or [`Event::Failed`] carrying the name as asked (a name already being
//! resolved is not asked twice: one event answers both). Send every [`Transmit`] as one UDP
//! datagram to `transmit.server` port [`PORT`] from a socket of the phone's; feed every datagram
//! that comes back from port 53 as `Input::Receive(now, source_address, payload)`, and a send
//! that failed (or an ICMP error on the socket) as `Input::TransportFailed(now, server)`.
//!
//! **The rules** (link.md §3): a dotted-decimal name resolves at once; DOMAIN is appended to a
//! name without a dot; an answer still cached (for its TTL, capped at 1 h) is given at once;
//! otherwise the servers of DNSSRVR are asked in order, each [`TRIES_PER_SERVER`] times
//! [`RETRY_INTERVAL`] apart, moving on after the last wait ([`ServerError::Timeout`]) or at
//! once when a server answers SERVFAIL, REFUSED or another error RCODE, or a truncated answer.
//! NXDOMAIN and an answer without an address end the name there: the name does not resolve
//! ([`Error::NotFound`], [`Error::NoAddress`]). A CNAME chain inside the answer is followed
//! ([`MAX_CNAMES`] links at most).
//!
//! **Strict matching.** A datagram counts only if it decodes (every length bounded, see
//! [`crate::message`]), is a response (QR) to a standard query (OPCODE 0), carries the ID of a
//! query sent *to the address it came from* and still waiting, and repeats that query's
//! question exactly (name, A, IN). Anything else is dropped and changes nothing (counted in
//! [`Stats::dropped`]).
//!
//! **Commit on take.** Nothing is drawn or counted until the caller takes a transmit from
//! `poll_output`: the query ID is drawn from the RNG, the try is counted and the retry timer is
//! armed at that moment. A caller that polls nothing moves nothing. A try the caller reports as
//! failed (`TransportFailed(now, server)` after taking it) was still a try: its ID is forgotten
//! and the next try (a fresh ID) or the next server comes [`SEND_RETRY`] later instead of after
//! the full wait, so an unreachable server is passed over quickly while a broken socket cannot
//! make the machine spin (the tries per server bound it).

mod cache;
mod config;
mod event;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_sansio::{Input, Instant, Machine, Output};
use rand_core::Rng;

pub use config::{
    Config, DEFAULT_CACHE_ENTRIES, DEFAULT_MAX_ADDRS, DEFAULT_MAX_QUERIES, MAX_SERVERS, MAX_TTL,
    PORT, RETRY_INTERVAL, TRIES_PER_SERVER,
};
pub use event::{Error, Event, ServerError};

use crate::message::{CLASS_IN, Message, OPCODE_QUERY, RData, Rcode, TYPE_A, TYPE_CNAME};
use crate::name::{MAX_NAME_LEN, Name, NameError};
use cache::Cache;

/// After a failed send, the next try (or the next server) comes this much later.
pub const SEND_RETRY: Duration = Duration::from_millis(250);
/// Most CNAME links followed inside one answer.
pub const MAX_CNAMES: usize = 8;
/// Shortest retry interval accepted from the configuration.
pub const MIN_RETRY_INTERVAL: Duration = Duration::from_millis(10);
/// Tries of one name still awaiting an answer (older ones are forgotten).
pub const MAX_TRIES_IN_FLIGHT: usize = 8;

/// A datagram to send: from the phone's UDP socket to `server` port [`PORT`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The DNS server.
    pub server: Ipv4Addr,
    /// The query.
    pub payload: Vec<u8>,
}

/// What the phone asks of the resolver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Resolve `name` (a host name or a dotted-decimal address) to IPv4 addresses.
    Resolve {
        /// The name, as found in HTTPSRVR, MYCERTURL, HTTPPROXY or SIP_CONTROLLER_LIST.
        name: &'a str,
    },
    /// Forget every cached answer (queries in flight go on).
    FlushCache,
}

/// Counters for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Queries taken by the caller.
    pub sent: u64,
    /// Datagrams that matched a query.
    pub matched: u64,
    /// Datagrams dropped (malformed, not a response, unknown ID or source, other question).
    pub dropped: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Try {
    id: u16,
    server: Ipv4Addr,
}

#[derive(Clone, Debug)]
struct Query {
    /// The name as asked.
    name: String,
    /// The name asked of the servers.
    qname: Name,
    /// Index of the server being asked.
    server: usize,
    /// Tries taken on that server.
    tries: u8,
    /// When the next try is due, or the server's time is up.
    next: Instant,
    /// Tries sent and not answered.
    sent: Vec<Try>,
    /// A failed send on the current server, reported instead of a timeout.
    failure: Option<ServerError>,
}

/// The DNS stub resolver: [`Machine`] with `Peer` = the server's address, [`Command`],
/// [`Transmit`] and [`Event`].
///
/// ```
/// use core::net::Ipv4Addr;
/// use phone_dns::{Command, Config, Event, Message, Name, Resolver, Transmit};
/// use phone_dns::message::Record;
/// use phone_sansio::{Input, Instant, Machine, Output};
/// # use rand_core::SeedableRng;
///
/// let server = Ipv4Addr::new(10, 0, 0, 53);
/// let config = Config::new(&[server], "example.com");
/// let rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let mut dns = Resolver::new(config, rng, Instant::ZERO);
/// dns.handle_input(Input::Command(Instant::ZERO, Command::Resolve { name: "sip" }));
/// let Output::Transmit(Transmit { server: to, payload }) = dns.poll_output() else { panic!() };
/// assert_eq!(to, server);
///
/// // The server's answer.
/// let query = Message::decode(&payload)?;
/// let mut answer = query.clone();
/// answer.flags.response = true;
/// let name = Name::from_text("sip.example.com")?;
/// answer.answers.push(Record::a(name, 300, Ipv4Addr::new(10, 0, 0, 5)));
/// dns.handle_input(Input::Receive(Instant::from_millis(20), server, &answer.encode()?));
/// let Output::Event(Event::Resolved { name, addrs, .. }) = dns.poll_output() else { panic!() };
/// assert_eq!((name.as_str(), addrs), ("sip", vec![Ipv4Addr::new(10, 0, 0, 5)]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Resolver<R> {
    config: Config,
    servers: Vec<Ipv4Addr>,
    rng: R,
    now: Instant,
    queries: Vec<Query>,
    cache: Cache,
    events: VecDeque<Event>,
    /// The last datagram taken, until its fate is known: what `TransportFailed` refers to.
    last_take: Option<Try>,
    stats: Stats,
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    String::from(&s[..end])
}

/// The addresses answering `qname` (following CNAMEs in the answer) and the smallest TTL of
/// the records used, in seconds.
fn addresses(m: &Message, qname: &Name, max: usize) -> (Vec<Ipv4Addr>, u32) {
    // RFC 2181 §8: a TTL with the top bit set is 0.
    let ttl_of = |t: u32| if t & 0x8000_0000 != 0 { 0 } else { t };
    let mut target = qname;
    let mut ttl = u32::MAX;
    for _ in 0..MAX_CNAMES {
        let next = m.answers.iter().find_map(|r| match &r.data {
            RData::Cname(c)
                if r.rtype == TYPE_CNAME && r.class == CLASS_IN && r.name == *target =>
            {
                Some((c, r.ttl))
            }
            _ => None,
        });
        let Some((c, t)) = next else { break };
        target = c;
        ttl = ttl.min(ttl_of(t));
    }
    let mut addrs: Vec<Ipv4Addr> = Vec::new();
    for r in &m.answers {
        if let RData::A(a) = r.data
            && r.rtype == TYPE_A
            && r.class == CLASS_IN
            && r.name == *target
        {
            ttl = ttl.min(ttl_of(r.ttl));
            if addrs.len() < max && !addrs.contains(&a) {
                addrs.push(a);
            }
        }
    }
    let ttl = if addrs.is_empty() { 0 } else { ttl };
    (addrs, ttl)
}

impl<R: Rng> Resolver<R> {
    /// A resolver with these servers and DOMAIN, its RNG (for query IDs) and the time.
    pub fn new(mut config: Config, rng: R, now: Instant) -> Resolver<R> {
        config.tries = config.tries.max(1);
        config.retry_interval = config.retry_interval.max(MIN_RETRY_INTERVAL);
        config.max_queries = config.max_queries.max(1);
        config.max_addrs = config.max_addrs.max(1);
        Resolver {
            servers: config.usable_servers(),
            cache: Cache::new(config.cache_entries),
            config,
            rng,
            now,
            queries: Vec::new(),
            events: VecDeque::new(),
            last_take: None,
            stats: Stats::default(),
        }
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The servers asked, in order.
    #[must_use]
    pub fn servers(&self) -> &[Ipv4Addr] {
        &self.servers
    }

    /// Names being resolved.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.queries.len()
    }

    /// Names in the cache (expired ones included until they are replaced).
    #[must_use]
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The addresses `name` has now without asking anyone: a dotted-decimal name itself, or an
    /// answer still cached (DOMAIN appended as for a query). No side effects: a composing
    /// machine resolves the names a stage will use first ([`Command::Resolve`]), then rewrites
    /// the stage's connections with this when it pulls them.
    #[must_use]
    pub fn lookup(&self, name: &str, now: Instant) -> Option<Vec<Ipv4Addr>> {
        if let Ok(a) = name.parse::<Ipv4Addr>() {
            return Some(alloc::vec![a]);
        }
        if name.len() > MAX_NAME_LEN {
            return None;
        }
        let qname = Name::from_text(&self.config.qualify(name)).ok()?;
        self.cache.get(&qname, now).map(|(a, _)| a.to_vec())
    }

    fn resolve(&mut self, name: &str) {
        let now = self.now;
        if let Ok(a) = name.parse::<Ipv4Addr>() {
            self.events.push_back(Event::Resolved {
                name: String::from(name),
                addrs: alloc::vec![a],
                ttl: self.config.max_ttl,
            });
            return;
        }
        let fail = |error| Event::Failed {
            name: cut(name, MAX_NAME_LEN),
            error,
        };
        if name.len() > MAX_NAME_LEN {
            self.events
                .push_back(fail(Error::InvalidName(NameError::TooLong)));
            return;
        }
        let qname = match Name::from_text(&self.config.qualify(name)) {
            Ok(n) => n,
            Err(e) => {
                self.events.push_back(fail(Error::InvalidName(e)));
                return;
            }
        };
        if let Some((addrs, expires)) = self.cache.get(&qname, now) {
            self.events.push_back(Event::Resolved {
                name: String::from(name),
                addrs: addrs.to_vec(),
                ttl: expires.saturating_duration_since(now),
            });
            return;
        }
        if self
            .queries
            .iter()
            .any(|q| q.name.eq_ignore_ascii_case(name))
        {
            return;
        }
        if self.servers.is_empty() {
            self.events.push_back(fail(Error::NoServers));
            return;
        }
        if self.queries.len() >= self.config.max_queries {
            self.events.push_back(fail(Error::TooManyQueries));
            return;
        }
        self.queries.push(Query {
            name: String::from(name),
            qname,
            server: 0,
            tries: 0,
            next: now,
            sent: Vec::new(),
            failure: None,
        });
    }

    fn in_use(&self, id: u16) -> bool {
        self.queries
            .iter()
            .any(|q| q.sent.iter().any(|t| t.id == id))
    }

    fn fresh_id(&mut self) -> u16 {
        let mut id = 0;
        for _ in 0..8 {
            // The low 16 bits of a uniform u32 are uniform.
            id = self.rng.next_u32() as u16;
            if !self.in_use(id) {
                break;
            }
        }
        id
    }

    /// Server `i` of query `q` failed: report it and go on to the next, or fail the name.
    fn server_failed(&mut self, q: usize, error: ServerError) {
        let Some(query) = self.queries.get_mut(q) else {
            return;
        };
        let server = self
            .servers
            .get(query.server)
            .copied()
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        self.events.push_back(Event::ServerFailed {
            name: query.name.clone(),
            server,
            error,
        });
        query.server += 1;
        query.tries = 0;
        query.failure = None;
        query.next = self.now;
        if query.server >= self.servers.len() {
            let query = self.queries.remove(q);
            self.events.push_back(Event::Failed {
                name: query.name,
                error: Error::AllServersFailed(error),
            });
        }
    }

    fn finish(&mut self, q: usize, event: Event) {
        self.queries.remove(q);
        self.events.push_back(event);
    }

    fn on_datagram(&mut self, from: Ipv4Addr, bytes: &[u8]) {
        let Ok(m) = Message::decode(bytes) else {
            self.stats.dropped += 1;
            return;
        };
        let wanted = Try {
            id: m.id,
            server: from,
        };
        let found = self.queries.iter().position(|q| q.sent.contains(&wanted));
        let Some(q) = found.filter(|_| m.flags.response && m.flags.opcode == OPCODE_QUERY) else {
            self.stats.dropped += 1;
            return;
        };
        let query = &mut self.queries[q];
        let same_question = match m.questions.as_slice() {
            [one] => one.name == query.qname && one.qtype == TYPE_A && one.qclass == CLASS_IN,
            _ => false,
        };
        if !same_question {
            self.stats.dropped += 1;
            return;
        }
        self.stats.matched += 1;
        query.sent.retain(|t| *t != wanted);
        if self.last_take == Some(wanted) {
            // Answered: it was sent.
            self.last_take = None;
        }
        let current = self.servers.get(query.server) == Some(&from);
        let server_error = |e| if current { Some(e) } else { None };
        let error = if m.flags.truncated {
            server_error(ServerError::Truncated)
        } else {
            match m.flags.rcode {
                Rcode::NoError => {
                    let (addrs, ttl) = addresses(&m, &query.qname, self.config.max_addrs);
                    let name = query.name.clone();
                    if addrs.is_empty() {
                        self.finish(
                            q,
                            Event::Failed {
                                name,
                                error: Error::NoAddress { server: from },
                            },
                        );
                    } else {
                        let ttl = Duration::from_secs(u64::from(ttl)).min(self.config.max_ttl);
                        let qname = query.qname.clone();
                        self.cache
                            .insert(qname, addrs.clone(), self.now + ttl, self.now);
                        self.finish(q, Event::Resolved { name, addrs, ttl });
                    }
                    return;
                }
                Rcode::NxDomain => {
                    let name = query.name.clone();
                    self.finish(
                        q,
                        Event::Failed {
                            name,
                            error: Error::NotFound { server: from },
                        },
                    );
                    return;
                }
                r => server_error(ServerError::Rcode(r)),
            }
        };
        // An error from a server already given up is old news.
        if let Some(e) = error {
            self.server_failed(q, e);
        }
    }

    fn on_send_failed(&mut self, server: Ipv4Addr) {
        let Some(t) = self.last_take.take() else {
            return;
        };
        if t.server != server {
            self.last_take = Some(t);
            return;
        }
        let now = self.now;
        let Some(query) = self.queries.iter_mut().find(|q| q.sent.contains(&t)) else {
            return;
        };
        query.sent.retain(|x| *x != t);
        if self.servers.get(query.server) == Some(&server) {
            query.failure = Some(ServerError::SendFailed);
            query.next = query.next.min(now + SEND_RETRY);
        }
    }

    fn deadline(&self) -> Instant {
        self.queries
            .iter()
            .map(|q| q.next)
            .min()
            .unwrap_or(Instant::MAX)
    }

    /// Takes the next try of query `q`: the ID is drawn and the try counted now.
    fn take(&mut self, q: usize) -> Output<Transmit, Event> {
        let id = self.fresh_id();
        let now = self.now;
        let retry = self.config.retry_interval;
        let Some(query) = self.queries.get_mut(q) else {
            return Output::Timeout(self.deadline());
        };
        let Some(&server) = self.servers.get(query.server) else {
            return Output::Timeout(self.deadline());
        };
        let Ok(payload) = Message::query(id, query.qname.clone()).encode() else {
            // A name of at most 255 octets always fits; should it not, the name fails.
            let name = query.name.clone();
            self.finish(
                q,
                Event::Failed {
                    name,
                    error: Error::InvalidName(NameError::TooLong),
                },
            );
            return self.poll_output();
        };
        query.tries += 1;
        query.next = now + retry;
        query.failure = None;
        if query.sent.len() >= MAX_TRIES_IN_FLIGHT {
            query.sent.remove(0);
        }
        let t = Try { id, server };
        query.sent.push(t);
        self.last_take = Some(t);
        self.stats.sent += 1;
        Output::Transmit(Transmit { server, payload })
    }
}

impl<R: Rng> Machine for Resolver<R> {
    type Peer = Ipv4Addr;
    type Command<'a> = Command<'a>;
    type Transmit = Transmit;
    type Event = Event;

    fn handle_input(&mut self, input: Input<'_, Ipv4Addr, Command<'_>>) {
        self.now = self.now.max(input.now());
        match input {
            Input::Command(_, Command::Resolve { name }) => self.resolve(name),
            Input::Command(_, Command::FlushCache) => self.cache.clear(),
            Input::Receive(_, from, bytes) => self.on_datagram(from, bytes),
            Input::TransportFailed(_, server) => self.on_send_failed(server),
            Input::Timeout(_) | Input::Completed(..) | Input::Closed(..) => {}
        }
    }

    fn poll_output(&mut self) -> Output<Transmit, Event> {
        if let Some(e) = self.events.pop_front() {
            return Output::Event(e);
        }
        let now = self.now;
        let Some(q) = self.queries.iter().position(|q| q.next <= now) else {
            return Output::Timeout(self.deadline());
        };
        let query = &self.queries[q];
        if query.tries < self.config.tries {
            return self.take(q);
        }
        let error = query.failure.unwrap_or(ServerError::Timeout);
        self.server_failed(q, error);
        self.poll_output()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.events.is_empty() {
            phone_sansio::deadline(self.deadline())
        } else {
            Some(self.now)
        }
    }
}
