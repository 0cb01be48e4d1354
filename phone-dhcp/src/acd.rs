//! IPv4 address conflict detection (RFC 5227) scaled to a probe budget (Decision 11, spec
//! link.md §4), as its own Sans-IO machine: [`Acd`].
//!
//! The DHCP [`Client`](crate::Client) runs one for every leased, INIT-REBOOT or reused address.
//! A caller with a static address (phone-boot, craft ADDR) runs one directly:
//!
//! ```
//! use core::time::Duration;
//! use core::net::Ipv4Addr;
//! use phone_dhcp::acd::{Acd, AcdConfig, AcdEvent};
//! use phone_dhcp::arp::ArpKind;
//! use phone_sansio::{Instant, Machine, Output};
//! # use rand_core::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
//! let address = Ipv4Addr::new(10, 0, 0, 9);
//! let mut acd = Acd::new(AcdConfig::for_mac([0, 4, 0x0d, 1, 2, 3]), address, &mut rng, Instant::ZERO);
//! let mut now = Instant::ZERO;
//! let mut probes = 0;
//! loop {
//!     match acd.poll_output() {
//!         Output::Transmit(p) => { assert_eq!(p.kind, ArpKind::Probe); probes += 1 }
//!         Output::Event(e) => { assert_eq!(e, AcdEvent::Ready(address)); break }
//!         Output::Timeout(t) => { now = t; acd.handle_input(phone_sansio::Input::Timeout(t)) }
//!     }
//! }
//! assert_eq!(probes, 3);
//! assert!(now <= Instant::ZERO + Duration::from_millis(200), "within the default budget");
//! ```
//!
//! The caller sends each [`ArpPacket`] in an Ethernet frame to the broadcast address
//! (ethertype [`crate::arp::ETHERTYPE_ARP`]) and feeds every ARP packet it receives on the
//! interface as `Input::Receive(now, (), body)`. `Input::TransportFailed(now, ())` says the last
//! packet taken could not be sent: it is sent again later and does not count.

use alloc::collections::VecDeque;
use core::convert::Infallible;
use core::fmt;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_sansio::{Input, Instant, Machine, Output};
use rand_core::Rng;

use crate::arp::{ArpMessage, ArpPacket};

/// RFC 5227 PROBE_WAIT: random delay before the first probe, at the RFC's own timing.
pub const PROBE_WAIT: Duration = Duration::from_secs(1);
/// RFC 5227 PROBE_NUM.
pub const PROBE_NUM: u8 = 3;
/// RFC 5227 PROBE_MIN.
pub const PROBE_MIN: Duration = Duration::from_secs(1);
/// RFC 5227 PROBE_MAX.
pub const PROBE_MAX: Duration = Duration::from_secs(2);
/// RFC 5227 ANNOUNCE_WAIT: quiet time after the last probe.
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);
/// RFC 5227 ANNOUNCE_NUM.
pub const ANNOUNCE_NUM: u8 = 2;
/// RFC 5227 ANNOUNCE_INTERVAL (not scaled: the announcements do not delay the boot).
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);
/// RFC 5227 DEFEND_INTERVAL: a second conflict within this time gives the address up (§2.4 (b)).
pub const DEFEND_INTERVAL: Duration = Duration::from_secs(10);
/// RFC 5227 MAX_CONFLICTS: after this many conflicts, new attempts are rate-limited.
pub const MAX_CONFLICTS: u32 = 10;
/// RFC 5227 RATE_LIMIT_INTERVAL.
pub const RATE_LIMIT_INTERVAL: Duration = Duration::from_secs(60);
/// The budget that gives RFC 5227's own timing (Decision 11: "9000 = RFC 5227's own timing").
pub const RFC_5227_BUDGET: Duration = Duration::from_secs(9);
/// Decision 11's default probe budget.
pub const DEFAULT_PROBE_BUDGET: Duration = Duration::from_millis(200);
/// ARP sends that may fail in a row before the machine stops waiting for them: the probe is
/// skipped ([`AcdEvent::ArpUnavailable`]) or the announcements are dropped.
pub const MAX_SEND_FAILURES: u8 = 3;
/// Shortest wait before a failed ARP send is tried again.
pub const MIN_SEND_RETRY: Duration = Duration::from_millis(1);

/// The RFC 5227 §2.1.1 intervals scaled to a probe budget (Decision 11): each is the RFC value
/// × `budget / 9 s`. The probe then takes at most 7/9 of the budget (PROBE_WAIT + 2 × PROBE_MAX
/// + ANNOUNCE_WAIT = 7 s of the 9 s the spec counts), at least 4/9.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTiming {
    /// Scaled PROBE_WAIT (upper bound of the random first delay).
    pub probe_wait: Duration,
    /// Scaled PROBE_MIN.
    pub probe_min: Duration,
    /// Scaled PROBE_MAX.
    pub probe_max: Duration,
    /// Scaled ANNOUNCE_WAIT.
    pub announce_wait: Duration,
}

fn scale(d: Duration, budget: Duration) -> Duration {
    let us = d.as_micros().saturating_mul(budget.as_micros()) / RFC_5227_BUDGET.as_micros();
    Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
}

impl ProbeTiming {
    /// The intervals for `budget` ([`RFC_5227_BUDGET`] gives the RFC's values exactly).
    #[must_use]
    pub fn scaled(budget: Duration) -> ProbeTiming {
        ProbeTiming {
            probe_wait: scale(PROBE_WAIT, budget),
            probe_min: scale(PROBE_MIN, budget),
            probe_max: scale(PROBE_MAX, budget),
            announce_wait: scale(ANNOUNCE_WAIT, budget),
        }
    }
}

/// What the conflict detector needs to know.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcdConfig {
    /// The phone's MAC: the sender of its ARP packets, and how its own packets are told apart.
    pub mac: [u8; 6],
    /// Decision 11's probe budget: default 200 ms; zero skips the probe (the address is usable
    /// at once; announcements and defence still happen); [`RFC_5227_BUDGET`] gives RFC 5227's
    /// own timing.
    pub probe_budget: Duration,
}

impl AcdConfig {
    /// The defaults for a phone with this MAC.
    #[must_use]
    pub fn for_mac(mac: [u8; 6]) -> AcdConfig {
        AcdConfig {
            mac,
            probe_budget: DEFAULT_PROBE_BUDGET,
        }
    }
}

/// What the conflict detector reports.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcdEvent {
    /// No conflict by the end of the probe: use the address now. Two announcements follow.
    Ready(Ipv4Addr),
    /// During the probe another host answered for the address or probed for it too (RFC 5227
    /// §2.1.1): do not use it. The machine has stopped.
    Conflict {
        /// The address probed.
        address: Ipv4Addr,
        /// The other host's MAC.
        mac: [u8; 6],
    },
    /// A conflicting ARP while the address is in use, the first within [`DEFEND_INTERVAL`]: one
    /// announcement defends the address (RFC 5227 §2.4 (b)).
    Defended {
        /// The address in use.
        address: Ipv4Addr,
        /// The other host's MAC.
        mac: [u8; 6],
    },
    /// A second conflict within [`DEFEND_INTERVAL`]: stop using the address at once (RFC 5227
    /// §2.4 (b)). The machine has stopped.
    Lost {
        /// The address given up.
        address: Ipv4Addr,
        /// The other host's MAC.
        mac: [u8; 6],
    },
    /// [`MAX_SEND_FAILURES`] probes in a row could not be sent: the address is used without a
    /// probe ([`AcdEvent::Ready`] follows). Conflicts are still watched for.
    ArpUnavailable(Ipv4Addr),
}

struct Mac<'a>(&'a [u8; 6]);

impl fmt::Display for Mac<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Display for AcdEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcdEvent::Ready(a) => write!(f, "no conflict for {a}: address in use"),
            AcdEvent::Conflict { address, mac } => {
                write!(f, "address conflict on {address} with {}", Mac(mac))
            }
            AcdEvent::Defended { address, mac } => {
                write!(f, "address {address} defended against {}", Mac(mac))
            }
            AcdEvent::Lost { address, mac } => write!(
                f,
                "address {address} given up: second conflict with {} within {} s",
                Mac(mac),
                DEFEND_INTERVAL.as_secs()
            ),
            AcdEvent::ArpUnavailable(a) => {
                write!(f, "ARP could not be sent: {a} used without a probe")
            }
        }
    }
}

/// Where the detector is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcdState {
    /// Probing: the address must not be used yet.
    Probing,
    /// The address is in use; announcing, watching and defending.
    InUse,
    /// A conflict ended it.
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Probing {
        /// Probes taken by the caller.
        sent: u8,
        /// The next probe, or the end of ANNOUNCE_WAIT after the last.
        next: Instant,
    },
    InUse {
        /// Announcements still to send.
        announces: u8,
        next_announce: Instant,
        /// A defending announcement is due at this instant.
        defend_at: Option<Instant>,
        /// The last conflict seen (RFC 5227 §2.4 (b)).
        last_conflict: Option<Instant>,
    },
    Stopped,
}

/// RFC 5227 conflict detection for one address: probe, announce, watch and defend.
#[derive(Clone, Debug)]
pub struct Acd {
    mac: [u8; 6],
    address: Ipv4Addr,
    timing: ProbeTiming,
    /// Probe spacings drawn at the start, so the machine needs no RNG of its own.
    spacing: [Duration; 2],
    now: Instant,
    phase: Phase,
    events: VecDeque<AcdEvent>,
    /// The phase before and after the last take, for a send failure.
    undo: Option<(Phase, Phase)>,
    failures: u8,
}

/// Uniform in `[lo, hi]` microseconds.
pub(crate) fn rand_between<R: Rng + ?Sized>(rng: &mut R, lo: Duration, hi: Duration) -> Duration {
    let lo_us = u64::try_from(lo.as_micros()).unwrap_or(u64::MAX);
    let hi_us = u64::try_from(hi.as_micros()).unwrap_or(u64::MAX);
    let span = hi_us.saturating_sub(lo_us).saturating_add(1);
    Duration::from_micros(lo_us.saturating_add(rng.next_u64() % span.max(1)))
}

impl Acd {
    /// Starts probing `address` at `now` (RFC 5227 §2.1.1): a random wait of up to the scaled
    /// PROBE_WAIT, then [`PROBE_NUM`] probes the scaled PROBE_MIN–PROBE_MAX apart, then the
    /// scaled ANNOUNCE_WAIT. With a zero budget the address is ready at once.
    pub fn new<R: Rng + ?Sized>(
        config: AcdConfig,
        address: Ipv4Addr,
        rng: &mut R,
        now: Instant,
    ) -> Acd {
        let timing = ProbeTiming::scaled(config.probe_budget);
        let mut acd = Acd {
            mac: config.mac,
            address,
            timing,
            spacing: [Duration::ZERO; 2],
            now,
            phase: Phase::Stopped,
            events: VecDeque::new(),
            undo: None,
            failures: 0,
        };
        if config.probe_budget.is_zero() {
            acd.ready();
        } else {
            let wait = rand_between(rng, Duration::ZERO, timing.probe_wait);
            for s in &mut acd.spacing {
                *s = rand_between(rng, timing.probe_min, timing.probe_max);
            }
            acd.phase = Phase::Probing {
                sent: 0,
                next: now + wait,
            };
        }
        acd
    }

    /// The address this machine guards.
    #[must_use]
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// Where the detector is.
    #[must_use]
    pub fn state(&self) -> AcdState {
        match self.phase {
            Phase::Probing { .. } => AcdState::Probing,
            Phase::InUse { .. } => AcdState::InUse,
            Phase::Stopped => AcdState::Stopped,
        }
    }

    /// The scaled intervals in use.
    #[must_use]
    pub fn timing(&self) -> ProbeTiming {
        self.timing
    }

    /// Whether `m` conflicts with the address in the current phase (RFC 5227): from another
    /// MAC, with our address as sender IP; while probing, also another host's probe for it.
    #[must_use]
    pub fn is_conflict(&self, m: &ArpMessage) -> bool {
        if m.sender_mac == self.mac {
            return false;
        }
        match self.phase {
            Phase::Probing { .. } => {
                m.sender_ip == self.address || (m.is_probe() && m.target_ip == self.address)
            }
            Phase::InUse { .. } => m.sender_ip == self.address,
            Phase::Stopped => false,
        }
    }

    fn ready(&mut self) {
        self.phase = Phase::InUse {
            announces: ANNOUNCE_NUM,
            next_announce: self.now,
            defend_at: None,
            last_conflict: None,
        };
        self.events.push_back(AcdEvent::Ready(self.address));
    }

    fn on_arp(&mut self, bytes: &[u8]) {
        let Ok(m) = ArpMessage::parse(bytes) else {
            return;
        };
        if !self.is_conflict(&m) {
            return;
        }
        let (address, mac, now) = (self.address, m.sender_mac, self.now);
        match &mut self.phase {
            Phase::Probing { .. } => {
                self.phase = Phase::Stopped;
                self.events.push_back(AcdEvent::Conflict { address, mac });
            }
            Phase::InUse {
                defend_at,
                last_conflict,
                ..
            } => {
                if last_conflict.is_some_and(|t| now.saturating_duration_since(t) < DEFEND_INTERVAL)
                {
                    self.phase = Phase::Stopped;
                    self.events.push_back(AcdEvent::Lost { address, mac });
                } else {
                    *last_conflict = Some(now);
                    *defend_at = Some(now);
                    self.events.push_back(AcdEvent::Defended { address, mac });
                }
            }
            Phase::Stopped => {}
        }
        self.undo = None;
    }

    /// The caller could not send the last packet it took: it does not count, and is sent again
    /// after a short wait; after [`MAX_SEND_FAILURES`] in a row the machine stops waiting.
    fn send_failed(&mut self) {
        let Some((before, after)) = self.undo.take() else {
            return;
        };
        if self.phase != after {
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let now = self.now;
        let probe_retry = self.timing.probe_min.max(MIN_SEND_RETRY);
        self.phase = match before {
            Phase::Probing { .. } if self.failures >= MAX_SEND_FAILURES => {
                self.events
                    .push_back(AcdEvent::ArpUnavailable(self.address));
                self.ready();
                return;
            }
            Phase::Probing { sent, .. } => Phase::Probing {
                sent,
                next: now + probe_retry,
            },
            Phase::InUse { last_conflict, .. } if self.failures >= MAX_SEND_FAILURES => {
                Phase::InUse {
                    announces: 0,
                    next_announce: now,
                    defend_at: None,
                    last_conflict,
                }
            }
            Phase::InUse {
                announces,
                defend_at,
                last_conflict,
                ..
            } => Phase::InUse {
                announces,
                next_announce: now + ANNOUNCE_INTERVAL,
                defend_at: defend_at.map(|_| now + ANNOUNCE_INTERVAL),
                last_conflict,
            },
            Phase::Stopped => Phase::Stopped,
        };
    }

    fn deadline(&self) -> Instant {
        match &self.phase {
            Phase::Probing { next, .. } => *next,
            Phase::InUse {
                announces,
                next_announce,
                defend_at,
                ..
            } => {
                let a = if *announces > 0 {
                    *next_announce
                } else {
                    Instant::MAX
                };
                defend_at.map_or(a, |d| d.min(a))
            }
            Phase::Stopped => Instant::MAX,
        }
    }

    /// Takes a packet: the phase moves now (commit on take).
    fn take(&mut self, before: Phase, packet: ArpPacket) -> Output<ArpPacket, AcdEvent> {
        if self.undo.is_some() {
            // The previous take was not reported failed: the run of failures is over.
            self.failures = 0;
        }
        self.undo = Some((before, self.phase.clone()));
        Output::Transmit(packet)
    }
}

impl Machine for Acd {
    type Peer = ();
    type Command<'a> = Infallible;
    type Transmit = ArpPacket;
    type Event = AcdEvent;

    fn handle_input(&mut self, input: Input<'_, (), Infallible>) {
        self.now = self.now.max(input.now());
        match input {
            Input::Receive(_, (), bytes) => self.on_arp(bytes),
            Input::TransportFailed(..) => self.send_failed(),
            Input::Timeout(_) | Input::Completed(..) | Input::Closed(..) => {}
            Input::Command(_, never) => match never {},
        }
    }

    fn poll_output(&mut self) -> Output<ArpPacket, AcdEvent> {
        if let Some(e) = self.events.pop_front() {
            return Output::Event(e);
        }
        let now = self.now;
        if self.deadline() > now {
            return Output::Timeout(self.deadline());
        }
        let before = self.phase.clone();
        match &mut self.phase {
            Phase::Probing { sent, next } => {
                if *sent < PROBE_NUM {
                    let k = usize::from(*sent);
                    *sent += 1;
                    *next = now
                        + if *sent < PROBE_NUM {
                            self.spacing
                                .get(k)
                                .copied()
                                .unwrap_or(self.timing.probe_min)
                        } else {
                            self.timing.announce_wait
                        };
                    let p = ArpPacket::probe(self.mac, self.address);
                    self.take(before, p)
                } else {
                    // ANNOUNCE_WAIT passed without a conflict: the address is ours.
                    self.ready();
                    self.poll_output()
                }
            }
            Phase::InUse {
                announces,
                next_announce,
                defend_at,
                ..
            } => {
                if defend_at.is_some_and(|d| d <= now) {
                    *defend_at = None;
                } else {
                    *announces = announces.saturating_sub(1);
                    *next_announce = now + ANNOUNCE_INTERVAL;
                }
                let p = ArpPacket::announce(self.mac, self.address);
                self.take(before, p)
            }
            Phase::Stopped => Output::Timeout(Instant::MAX),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.events.is_empty() {
            phone_sansio::deadline(self.deadline())
        } else {
            Some(self.now)
        }
    }
}
