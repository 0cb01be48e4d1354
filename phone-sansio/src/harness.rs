//! The transcript harness: a machine and a scripted peer in virtual time (quinn's `Pair` is the
//! model), shared by the crates' tests and the fuzz targets.
//!
//! [`Transcript`] owns a machine and the caller's clock. Every input it feeds is followed by a
//! full drain of the machine's outputs, and every drain checks the contract's oracles:
//!
//! - at most [`Transcript::max_outputs_per_input`] outputs per input (work per input bounded);
//! - the `Timeout` that ends a drain is never in the past, and equals [`Machine::poll_timeout`];
//! - a second `poll_output` after the drain returns the same `Timeout` (draining is idempotent).
//!
//! A violation panics with the transcript so far: in a test that fails the test, in a fuzz
//! target it is the crash. [`Transcript::run`] plays a [`Peer`] against the machine: each
//! transmit goes to the peer, whose scheduled replies are delivered at their instants,
//! interleaved with the machine's own deadlines, until a given instant.
//!
//! ```
//! use core::time::Duration;
//! use phone_sansio::harness::{Peer, Reply, Transcript};
//! use phone_sansio::{Input, Instant, Machine, Output};
//!
//! /// Retransmits "hello" every 2 s until answered.
//! #[derive(Default)]
//! struct Hello { next: Option<Instant>, tries: u32, answered: bool, told: bool }
//! impl Machine for Hello {
//!     type Peer = ();
//!     type Command<'a> = ();
//!     type Transmit = u32;
//!     type Event = &'static str;
//!     fn handle_input(&mut self, input: Input<'_, (), ()>) {
//!         match input {
//!             Input::Receive(..) => { self.answered = true; self.next = None }
//!             Input::Timeout(now) if self.next.is_none() && !self.answered => self.next = Some(now),
//!             _ => {}
//!         }
//!     }
//!     fn poll_output(&mut self) -> Output<u32, &'static str> {
//!         if self.answered && !self.told { self.told = true; return Output::Event("answered") }
//!         match self.next {
//!             Some(t) if !self.answered => Output::Timeout(t),
//!             _ => Output::Timeout(Instant::MAX),
//!         }
//!     }
//!     fn poll_timeout(&self) -> Option<Instant> { self.next.filter(|_| !self.answered) }
//! }
//!
//! struct Silent;
//! impl Peer<Hello> for Silent {
//!     fn on_transmit(&mut self, _: Instant, _: &u32) -> Vec<Reply<()>> { Vec::new() }
//! }
//! let mut t = Transcript::new(Hello::default(), Instant::ZERO);
//! t.input(Input::Receive(Instant::from_secs(1), (), b"hi"));
//! assert_eq!(t.events(), [&"answered"]);
//! ```

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::fmt::Debug;
use core::time::Duration;

use crate::{Input, Instant, Machine, Output};

/// What the transcript recorded, with the instant it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged<T, E> {
    /// The machine asked for this transmit (and it was taken).
    Transmit(Instant, T),
    /// The machine reported this event.
    Event(Instant, E),
}

/// A reply a [`Peer`] schedules in answer to a transmit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<P> {
    /// Deliver these bytes after `after`.
    Receive {
        /// Delay from the transmit.
        after: Duration,
        /// From whom.
        peer: P,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Report the transmit completed after `after`.
    Completed {
        /// Delay from the transmit.
        after: Duration,
        /// Which peer.
        peer: P,
    },
    /// Report a clean close after `after`.
    Closed {
        /// Delay from the transmit.
        after: Duration,
        /// Which peer.
        peer: P,
    },
    /// Report a transport failure after `after`.
    Failed {
        /// Delay from the transmit.
        after: Duration,
        /// Which peer.
        peer: P,
    },
}

impl<P> Reply<P> {
    fn after(&self) -> Duration {
        match self {
            Reply::Receive { after, .. }
            | Reply::Completed { after, .. }
            | Reply::Closed { after, .. }
            | Reply::Failed { after, .. } => *after,
        }
    }
}

/// The other side of a transcript: a scripted server, link or user.
pub trait Peer<M: Machine> {
    /// The machine took `transmit` at `now`; answer with replies to deliver later.
    fn on_transmit(&mut self, now: Instant, transmit: &M::Transmit) -> Vec<Reply<M::Peer>>;
}

/// A machine, the caller's clock and everything that happened, with the contract's oracles
/// checked on every drain.
pub struct Transcript<M: Machine> {
    /// The machine under test.
    pub machine: M,
    /// The caller's clock: the instant of the last input.
    pub now: Instant,
    /// Everything the machine did, in order.
    pub log: Vec<Logged<M::Transmit, M::Event>>,
    /// The deadline the last drain ended with.
    pub deadline: Instant,
    /// The bound on outputs per input (default 256).
    pub max_outputs_per_input: usize,
    pending: BinaryHeap<Reverse<(Instant, u64)>>,
    replies: Vec<(u64, Reply<M::Peer>)>,
    seq: u64,
    /// Log indices of transmits taken while no peer was attached; the next [`Transcript::run`]
    /// hands them to its peer first.
    unanswered: Vec<usize>,
}

impl<M> Transcript<M>
where
    M: Machine,
    M::Transmit: Debug,
    M::Event: Debug,
{
    /// Starts at `now` and drains what the machine has to say at once.
    pub fn new(machine: M, now: Instant) -> Self {
        let mut t = Transcript {
            machine,
            now,
            log: Vec::new(),
            deadline: Instant::MAX,
            max_outputs_per_input: 256,
            pending: BinaryHeap::new(),
            replies: Vec::new(),
            seq: 0,
            unanswered: Vec::new(),
        };
        t.drain(None);
        t
    }

    /// Feeds one input (its instant becomes `now` when later) and drains; returns what the
    /// drain logged.
    pub fn input(
        &mut self,
        input: Input<'_, M::Peer, M::Command<'_>>,
    ) -> &[Logged<M::Transmit, M::Event>] {
        let at = input.now();
        if at > self.now {
            self.now = at;
        }
        let start = self.log.len();
        self.machine.handle_input(input);
        self.drain(None);
        &self.log[start..]
    }

    /// Fires every deadline up to `until` (each at its own instant) without a peer; transmits
    /// go unanswered.
    pub fn advance(&mut self, until: Instant) {
        let mut silent = Silent;
        self.run(&mut silent, until);
    }

    /// Plays `peer` against the machine until `until`: deadlines fire at their instants, each
    /// transmit goes to the peer, and the peer's replies arrive at theirs.
    pub fn run(&mut self, peer: &mut dyn Peer<M>, until: Instant) {
        // Transmits taken before the peer was attached (by `new` or `input`) are answered now,
        // at the instant they were taken.
        for i in core::mem::take(&mut self.unanswered) {
            if let Some(Logged::Transmit(at, t)) = self.log.get(i) {
                for r in peer.on_transmit(*at, t) {
                    let when = *at + r.after();
                    self.seq += 1;
                    self.pending.push(Reverse((when, self.seq)));
                    self.replies.push((self.seq, r));
                }
            }
        }
        self.drain(Some(peer));
        loop {
            let next_reply = self.pending.peek().map(|Reverse((t, _))| *t);
            let next = match next_reply {
                Some(r) if r <= self.deadline => r,
                _ => self.deadline,
            };
            if next > until || next == Instant::MAX {
                if until != Instant::MAX && until > self.now {
                    self.now = until;
                }
                return;
            }
            if next > self.now {
                self.now = next;
            }
            if next_reply == Some(next) {
                if let Some(Reverse((_, id))) = self.pending.pop()
                    && let Some(i) = self.replies.iter().position(|(n, _)| *n == id)
                {
                    let (_, reply) = self.replies.swap_remove(i);
                    let now = self.now;
                    match reply {
                        Reply::Receive { peer: p, bytes, .. } => {
                            self.machine.handle_input(Input::Receive(now, p, &bytes));
                        }
                        Reply::Completed { peer: p, .. } => {
                            self.machine.handle_input(Input::Completed(now, p));
                        }
                        Reply::Closed { peer: p, .. } => {
                            self.machine.handle_input(Input::Closed(now, p));
                        }
                        Reply::Failed { peer: p, .. } => {
                            self.machine.handle_input(Input::TransportFailed(now, p));
                        }
                    }
                }
            } else {
                self.machine.handle_input(Input::Timeout(self.now));
            }
            self.drain(Some(peer));
        }
    }

    /// The events logged so far.
    pub fn events(&self) -> Vec<&M::Event> {
        self.log
            .iter()
            .filter_map(|l| match l {
                Logged::Event(_, e) => Some(e),
                Logged::Transmit(..) => None,
            })
            .collect()
    }

    /// The transmits logged so far.
    pub fn transmits(&self) -> Vec<&M::Transmit> {
        self.log
            .iter()
            .filter_map(|l| match l {
                Logged::Transmit(_, t) => Some(t),
                Logged::Event(..) => None,
            })
            .collect()
    }

    fn drain(&mut self, mut peer: Option<&mut dyn Peer<M>>) {
        let mut n = 0usize;
        loop {
            match self.machine.poll_output() {
                Output::Transmit(t) => {
                    if peer.is_none() {
                        self.unanswered.push(self.log.len());
                    }
                    if let Some(p) = peer.as_deref_mut() {
                        for r in p.on_transmit(self.now, &t) {
                            let at = self.now + r.after();
                            self.seq += 1;
                            self.pending.push(Reverse((at, self.seq)));
                            self.replies.push((self.seq, r));
                        }
                    }
                    self.log.push(Logged::Transmit(self.now, t));
                }
                Output::Event(e) => self.log.push(Logged::Event(self.now, e)),
                Output::Timeout(t) => {
                    assert!(
                        t >= self.now,
                        "deadline {t:?} is in the past at {:?}; last outputs: {:?}",
                        self.now,
                        self.tail()
                    );
                    let q = self.machine.poll_timeout();
                    assert_eq!(
                        q.unwrap_or(Instant::MAX),
                        t,
                        "poll_timeout disagrees with poll_output's Timeout at {:?}",
                        self.now
                    );
                    match self.machine.poll_output() {
                        Output::Timeout(again) => {
                            assert_eq!(again, t, "a second poll moved the deadline");
                        }
                        other => panic!("a second poll after Timeout gave {other:?}"),
                    }
                    self.deadline = t;
                    return;
                }
            }
            n += 1;
            assert!(
                n <= self.max_outputs_per_input,
                "more than {} outputs for one input at {:?}; last outputs: {:?}",
                self.max_outputs_per_input,
                self.now,
                self.tail()
            );
        }
    }

    fn tail(&self) -> &[Logged<M::Transmit, M::Event>] {
        &self.log[self.log.len().saturating_sub(8)..]
    }
}

struct Silent;

impl<M: Machine> Peer<M> for Silent {
    fn on_transmit(&mut self, _: Instant, _: &M::Transmit) -> Vec<Reply<M::Peer>> {
        Vec::new()
    }
}
