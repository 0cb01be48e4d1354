#![doc = include_str!("../README.md")]
//!
//! # In this crate
//!
//! - [`Machine`]: the three verbs. [`Machine::handle_input`] takes one [`Input`] (every input
//!   carries the caller's [`Instant`] first: [`Input::Timeout`], [`Input::Receive`],
//!   [`Input::Completed`], [`Input::Closed`], [`Input::TransportFailed`], [`Input::Command`]);
//!   [`Machine::poll_output`] returns an [`Output`] ([`Output::Transmit`], [`Output::Event`],
//!   [`Output::Timeout`]); [`Machine::poll_timeout`] answers "when next?" without side effects.
//! - [`Instant`] ([`time`]): the caller's monotonic clock in microseconds, saturating.
//! - [`deadline`]: `Some(t)` unless `t` is [`Instant::MAX`].
//! - [`harness`]: [`harness::Transcript`], [`harness::Peer`], [`harness::Reply`],
//!   [`harness::Logged`] for transcript tests and fuzz targets.
//! - [`Input::map`] and [`Output::map`]: what a composing machine uses to forward a child's
//!   facts and outputs.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod harness;
pub mod time;

pub use time::Instant;

/// What a caller reports to a machine: one name per fact, the time always first.
///
/// `P` names the peer or channel the fact is about (a controller index, a connection, a link
/// layer); machines with a single channel use `()`. `C` is the machine's own command type (a
/// user's answer, a release, a new VLAN); machines without commands use
/// [`core::convert::Infallible`] or `()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a, P, C> {
    /// The timer fired: the caller's clock reached the instant of the last
    /// [`Output::Timeout`]. Delivered early, it is a harmless no-op.
    Timeout(Instant),
    /// Bytes arrived from `P`: a datagram, a frame, or bytes read from a stream.
    Receive(Instant, P, &'a [u8]),
    /// A transmit to `P` that asks for completion was carried out (a connection is up, a flash
    /// operation is done).
    Completed(Instant, P),
    /// `P` closed its side cleanly (EOF, TLS close_notify).
    Closed(Instant, P),
    /// The transport to `P` failed: it could not be opened, it broke, or the last transmit to
    /// `P` could not be sent. The machine retries with the right counters or gives `P` up.
    TransportFailed(Instant, P),
    /// Something from the phone itself: a user's answer, an operator's command.
    Command(Instant, C),
}

impl<'a, P, C> Input<'a, P, C> {
    /// The caller's time carried by this input.
    #[must_use]
    pub fn now(&self) -> Instant {
        match self {
            Input::Timeout(t)
            | Input::Receive(t, ..)
            | Input::Completed(t, _)
            | Input::Closed(t, _)
            | Input::TransportFailed(t, _)
            | Input::Command(t, _) => *t,
        }
    }

    /// The same fact about another peer and command type (a composing machine forwarding an
    /// input to a child).
    #[must_use]
    pub fn map<Q, D>(
        self,
        peer: impl FnOnce(P) -> Q,
        command: impl FnOnce(C) -> D,
    ) -> Input<'a, Q, D> {
        match self {
            Input::Timeout(t) => Input::Timeout(t),
            Input::Receive(t, p, b) => Input::Receive(t, peer(p), b),
            Input::Completed(t, p) => Input::Completed(t, peer(p)),
            Input::Closed(t, p) => Input::Closed(t, peer(p)),
            Input::TransportFailed(t, p) => Input::TransportFailed(t, peer(p)),
            Input::Command(t, c) => Input::Command(t, command(c)),
        }
    }
}

/// What a machine asks of its caller. Drain until [`Output::Timeout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<T, E> {
    /// Carry this out now (send a datagram or a frame, open or write or close a connection,
    /// write flash). Taking it is what commits the machine's state.
    Transmit(T),
    /// Act on or show this.
    Event(E),
    /// Nothing more until this instant or until an input ([`Instant::MAX`]: until an input).
    Timeout(Instant),
}

impl<T, E> Output<T, E> {
    /// The same output with the transmit and event mapped (a composing machine wrapping its
    /// child's output).
    pub fn map<U, F>(
        self,
        transmit: impl FnOnce(T) -> U,
        event: impl FnOnce(E) -> F,
    ) -> Output<U, F> {
        match self {
            Output::Transmit(t) => Output::Transmit(transmit(t)),
            Output::Event(e) => Output::Event(event(e)),
            Output::Timeout(t) => Output::Timeout(t),
        }
    }
}

/// The verbs every machine has.
pub trait Machine {
    /// Who a transport fact is about.
    type Peer: Copy;
    /// The machine's own commands.
    type Command<'a>;
    /// What the caller carries out.
    type Transmit;
    /// What the caller acts on or shows.
    type Event;

    /// Feeds one fact. Never panics, whatever the bytes.
    fn handle_input(&mut self, input: Input<'_, Self::Peer, Self::Command<'_>>);

    /// The next thing to do. A [`Output::Transmit`] returned here is taken: the machine's
    /// counters and timers move now.
    fn poll_output(&mut self) -> Output<Self::Transmit, Self::Event>;

    /// The next deadline, without side effects; `None` when only an input can wake the
    /// machine. Outputs not yet polled count as due now.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// `Some(t)` unless `t` is [`Instant::MAX`] ("never").
#[must_use]
pub fn deadline(t: Instant) -> Option<Instant> {
    (t != Instant::MAX).then_some(t)
}
