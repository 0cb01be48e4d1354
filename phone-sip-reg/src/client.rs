//! The registration machine: REGISTER per RFC 3261 §10 over the non-INVITE client transaction
//! (§17.1.2), digest authentication (§22), and the Avaya controller model (spec/sip.md §4).
//!
//! Sans-IO, speaking the workspace contract ([`phone_sansio::Machine`]): the caller feeds
//! [`Input`]s and drains [`Output`]s until [`phone_sansio::Output::Timeout`].
//!
//! - The peer of an input is a controller, named by its index in [`Config::controllers`].
//!   [`phone_sansio::Input::Receive`] carries a UDP datagram from that controller, or bytes read
//!   from the TCP/TLS connection the caller keeps for it: which one is decided by the transport
//!   of the last [`Transmit`]'s `target` for that index (the configured controller's transport,
//!   unless a 3xx redirected to another). The caller opens a connection on the first transmit
//!   for an index, and a new one when a transmit names another target.
//! - [`phone_sansio::Input::TransportFailed`] says the connection broke or could not be opened,
//!   or that the last transmit for that index could not be sent;
//!   [`phone_sansio::Input::Closed`] that the peer closed the stream. A REGISTER that was taken
//!   and then failed is sent again once as a new request (new CSeq, the next nonce count, new
//!   Timer E/F); a second failure fails the controller over (spec/sip.md §4.4).
//! - [`Command`] carries the user's answer to the credential prompt and the order to
//!   un-register.
//!
//! **State is committed when the caller takes a transmit.** Inputs only record *that* a
//! REGISTER is due, and why (a search, a refresh, an answer to a challenge, a 423 or a 3xx, a
//! retry after a failed send, an un-REGISTER). The request is built, the CSeq and digest nonce
//! count are bumped, the branch and cnonce are drawn from the RNG, and Timer E/F are armed in
//! [`Client::poll_output`] when it hands the [`Transmit`] out; a Timer E retransmission likewise
//! doubles its interval when taken. A caller that polls nothing moves no counter (a due request
//! shows as a deadline of "now" in [`Client::poll_timeout`]).
//!
//! How the controllers are used (spec/sip.md §4):
//! - A **search** sends REGISTER to every usable controller at once (§4.2, §4.4). It runs at the
//!   start, when a registration is lost, and when nothing answered, after a random 50–90 % of
//!   RECOVERYREGISTERWAIT (§4.5).
//! - The **active controller** is the highest-priority registered one (with FAILBACK_POLICY
//!   `admin`, the current one stays active while it stays registered). With `alternate` only it
//!   stays registered; with `simultaneous` up to SIMULTANEOUS_REGISTRATIONS do. Extra
//!   registrations are removed with an un-REGISTER.
//! - **Monitoring** (§4.6): each refresh of the active controller also probes, with a REGISTER,
//!   the unregistered controllers that would rank above the kept ones (`auto`), or fill the
//!   kept set when it is short.
//!
//! Every delay a server dictates has a floor of [`MIN_SERVER_DELAY_SECS`] (Retry-After, the
//! refresh interval derived from a granted expiry), so no answer can make the phone send
//! REGISTERs without time passing.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use phone_sansio::{Instant, Machine};
use rand_core::Rng;

use crate::config::{Config, FailbackPolicy};
use crate::controller::{Controller, Transport};
use crate::digest::{self, Answer, AuthError, Challenge};
use crate::framing::StreamFramer;
use crate::message::{self, Contacts, HeaderName, Headers, Message, Request, Response};

/// Most seconds of Retry-After honoured (longer values are capped).
pub const MAX_RETRY_AFTER: u32 = 86_400;
/// Most seconds an Expires or Min-Expires may ask for.
pub const MAX_EXPIRES: u32 = 86_400 * 7;
/// Most 423 answers followed per registration attempt.
pub const MAX_INTERVAL_ROUNDS: u8 = 3;
/// Most challenges (realms) remembered per controller.
pub const MAX_AUTH_STATES: usize = 4;
/// Most times one request is sent again after the caller reported that it could not be sent
/// (or that the connection broke while it waited for an answer), before the controller is
/// given up for this attempt.
pub const MAX_TRANSPORT_RETRIES: u8 = 1;

/// The floor, in seconds, under every delay a server dictates: a Retry-After (RFC 3261 §20.33)
/// and the refresh interval that follows from the expiry a registrar grants (the Contact
/// `expires`, the Expires header, or a Min-Expires we adopted, §10.2.4, §10.2.8).
///
/// One second, because it is the unit of every SIP delay header (delta-seconds): the smallest
/// wait a registrar can ask for other than 0, so the floor delays no registrar that asked for a
/// real wait, while 0 can no longer mean "at once". Without it a registrar answering every
/// REGISTER with `503` and `Retry-After: 0` made the client send REGISTERs without time passing
/// (issue 12: 100,001 of them); with it the client sends at most one new request per controller
/// per second on that path.
pub const MIN_SERVER_DELAY_SECS: u32 = 1;

/// The floor under the configured retransmission interval T1 (a T1 of zero would retransmit
/// without time passing).
const MIN_T1: Duration = Duration::from_millis(10);

/// Something from the phone itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// The user answered the credential prompt (spec/sip.md §3). An empty user, or one holding
    /// a control character, is ignored: the prompt stays.
    Credentials {
        /// The extension or SM handle.
        user: &'a str,
        /// The password.
        password: &'a str,
    },
    /// Remove every registration (REGISTER with Expires: 0), then stop
    /// ([`Event::Stopped`]).
    Unregister,
}

/// What the caller feeds the [`Client`]: the contract's input, the peer a controller index.
pub type Input<'a> = phone_sansio::Input<'a, usize, Command<'a>>;

/// What the [`Client`] asks of its caller.
pub type Output = phone_sansio::Output<Transmit, Event>;

/// Bytes to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The controller index the bytes belong to.
    pub controller: usize,
    /// Where to send them (the controller, or a 3xx target).
    pub target: Controller,
    /// The message.
    pub payload: Vec<u8>,
}

/// Why a registration with a controller failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// No final response within WAIT_FOR_REGISTRATION_TIMER (Timer F).
    Timeout,
    /// The transport failed (twice for one request), or a stream could not be framed.
    Transport,
    /// 503; retry not before the Retry-After seconds, when given.
    ServiceUnavailable {
        /// The Retry-After honoured: the registrar's value within [`MIN_SERVER_DELAY_SECS`] and
        /// [`MAX_RETRY_AFTER`].
        retry_after: Option<u32>,
    },
    /// 408.
    RequestTimeout,
    /// 403: terminal for this controller.
    Forbidden,
    /// 404: terminal for this controller.
    NotFound,
    /// A second challenge for credentials already sent, without `stale=true`.
    CredentialsRejected {
        /// The realm of the challenge.
        realm: String,
    },
    /// Challenged, and no password is known.
    CredentialsMissing,
    /// The challenge cannot be answered (algorithm, qop, or malformed): no REGISTER without
    /// credentials is sent in its place.
    UnsupportedChallenge(AuthError),
    /// More challenges in a row than `max_auth_rounds`.
    TooManyChallenges,
    /// 423 without a usable Min-Expires, or too many in a row.
    IntervalTooBrief,
    /// A 3xx without a usable Contact, or more than `max_redirects`.
    Redirect,
    /// Any other final status.
    Status(u16),
}

impl Failure {
    /// Whether the controller is given up for good (until new credentials or a restart).
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        match self {
            Failure::Forbidden
            | Failure::NotFound
            | Failure::CredentialsRejected { .. }
            | Failure::CredentialsMissing
            | Failure::UnsupportedChallenge(_)
            | Failure::TooManyChallenges
            | Failure::IntervalTooBrief
            | Failure::Redirect => true,
            Failure::Status(s) => *s < 500 || *s >= 600,
            Failure::Timeout
            | Failure::Transport
            | Failure::ServiceUnavailable { .. }
            | Failure::RequestTimeout => false,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("no final response within WAIT_FOR_REGISTRATION_TIMER"),
            Failure::Transport => f.write_str("transport failed"),
            Failure::ServiceUnavailable {
                retry_after: Some(s),
            } => write!(f, "503 service unavailable, retry after {s} s"),
            Failure::ServiceUnavailable { retry_after: None } => {
                f.write_str("503 service unavailable")
            }
            Failure::RequestTimeout => f.write_str("408 request timeout"),
            Failure::Forbidden => f.write_str("403 forbidden"),
            Failure::NotFound => f.write_str("404 not found"),
            Failure::CredentialsRejected { realm } => {
                write!(f, "credentials rejected for realm {realm:?}")
            }
            Failure::CredentialsMissing => f.write_str("challenged and no password is known"),
            Failure::UnsupportedChallenge(e) => write!(f, "challenge cannot be answered: {e}"),
            Failure::TooManyChallenges => f.write_str("too many challenges in a row"),
            Failure::IntervalTooBrief => {
                f.write_str("423 interval too brief without a usable Min-Expires")
            }
            Failure::Redirect => f.write_str("redirect without a usable Contact, or too many"),
            Failure::Status(s) => write!(f, "final status {s}"),
        }
    }
}

impl core::error::Error for Failure {}

/// Why credentials are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialsReason {
    /// None are known.
    Missing,
    /// The controller rejected them.
    Rejected,
}

impl fmt::Display for CredentialsReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialsReason::Missing => "none known",
            CredentialsReason::Rejected => "rejected",
        })
    }
}

/// Something the phone shows or records.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A first REGISTER went to a controller (display `Registering...`, Decision 8).
    Registering {
        /// The controller index.
        controller: usize,
    },
    /// A registration succeeded or was refreshed.
    Registered {
        /// The controller index.
        controller: usize,
        /// The granted expiry, seconds.
        expires: u32,
    },
    /// The active controller changed (SIPPROXYSRVR_IN_USE); `None` = none.
    ActiveController(Option<usize>),
    /// A registration attempt with a controller failed.
    ControllerFailed {
        /// The controller index.
        controller: usize,
        /// Why.
        cause: Failure,
    },
    /// Ask the user for credentials (`Extension:` / `Password:`, Decision 8), then feed
    /// [`Command::Credentials`].
    CredentialsRequired {
        /// Why.
        reason: CredentialsReason,
        /// The controller that challenged, if any.
        controller: Option<usize>,
        /// The realm of the challenge, if any.
        realm: Option<String>,
    },
    /// No controller is registered and none is being tried (display `Registration failed`).
    RegistrationFailed {
        /// When the next search starts; `None` when every controller failed for good.
        retry_at: Option<Instant>,
    },
    /// A registration was removed.
    Unregistered {
        /// The controller index.
        controller: usize,
    },
    /// After [`Command::Unregister`]: nothing is registered or in flight any more.
    Stopped,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Registering { controller } => {
                write!(f, "registering with controller {controller}")
            }
            Event::Registered {
                controller,
                expires,
            } => write!(f, "registered with controller {controller} for {expires} s"),
            Event::ActiveController(Some(c)) => write!(f, "active controller {c}"),
            Event::ActiveController(None) => f.write_str("no active controller"),
            Event::ControllerFailed { controller, cause } => {
                write!(f, "controller {controller} failed: {cause}")
            }
            Event::CredentialsRequired {
                reason,
                controller,
                realm,
            } => {
                write!(f, "credentials required ({reason})")?;
                if let Some(c) = controller {
                    write!(f, " by controller {c}")?;
                }
                if let Some(r) = realm {
                    write!(f, " for realm {r:?}")?;
                }
                Ok(())
            }
            Event::RegistrationFailed { retry_at: Some(t) } => {
                write!(f, "registration failed; next search at {t:?}")
            }
            Event::RegistrationFailed { retry_at: None } => {
                f.write_str("registration failed with every controller")
            }
            Event::Unregistered { controller } => {
                write!(f, "unregistered from controller {controller}")
            }
            Event::Stopped => f.write_str("stopped"),
        }
    }
}

/// The state of one controller's registration, for queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not registered, nothing in flight.
    Idle,
    /// A REGISTER is due or in flight and no registration exists yet.
    Registering,
    /// Registered until this instant (a refresh may be in flight).
    Registered {
        /// The end of the granted expiry.
        until: Instant,
    },
    /// An un-REGISTER is due or in flight.
    Unregistering,
    /// Failed; terminal failures stay until new credentials arrive.
    Failed(Failure),
}

#[derive(Clone, Debug)]
struct AuthState {
    proxy: bool,
    challenge: Challenge,
    nc: u32,
}

/// Why a request is due: decides the `Registering` event when it is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    /// The first request of an attempt: a search, a probe, a refresh, a retry after 503, an
    /// un-REGISTER.
    Attempt,
    /// The answer to a 401/407.
    Challenge,
    /// The answer to a 423 with the registrar's Min-Expires.
    IntervalTooBrief,
    /// The request sent to a 3xx target.
    Redirect,
    /// The same request sent again after the caller reported its transmit failed.
    TransportRetry,
}

/// What exists once the caller took the request.
#[derive(Clone, Debug)]
struct Sent {
    branch: String,
    cseq: u32,
    bytes: Vec<u8>,
    interval: Duration,
    timer_e: Option<Instant>,
    /// Timer E fired; the retransmission waits to be taken.
    retransmit_due: bool,
    timer_f: Instant,
    proceeding: bool,
    /// (proxy, realm) of the credentials this request carried.
    sent_auth: Vec<(bool, String)>,
}

/// One REGISTER transaction: due until taken, then sent.
#[derive(Clone, Debug)]
struct Transaction {
    unregister: bool,
    reason: Reason,
    sent: Option<Sent>,
}

impl Transaction {
    fn sent_auth(&self) -> &[(bool, String)] {
        self.sent.as_ref().map_or(&[], |s| s.sent_auth.as_slice())
    }
}

#[derive(Clone, Debug)]
struct Binding {
    controller: Controller,
    target: Controller,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    tx: Option<Transaction>,
    registered_until: Option<Instant>,
    refresh_at: Option<Instant>,
    /// A retry that is due on its own (503 Retry-After).
    retry_at: Option<Instant>,
    failed: Option<Failure>,
    auth: Vec<AuthState>,
    framer: StreamFramer,
    redirects: u8,
    auth_rounds: u8,
    interval_rounds: u8,
    transport_retries: u8,
}

impl Binding {
    fn is_registered(&self) -> bool {
        self.registered_until.is_some()
    }
    fn is_terminal(&self) -> bool {
        self.failed.as_ref().is_some_and(Failure::is_terminal)
    }
    fn in_flight(&self) -> bool {
        self.tx.is_some()
    }
    fn registering(&self) -> bool {
        self.tx.as_ref().is_some_and(|t| !t.unregister)
    }
    fn transmit_due(&self) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|t| t.sent.as_ref().is_none_or(|s| s.retransmit_due))
    }
    /// Forget the attempt's counters (a final answer or a failure ends the attempt).
    fn end_attempt(&mut self) {
        self.auth_rounds = 0;
        self.interval_rounds = 0;
        self.redirects = 0;
        self.transport_retries = 0;
    }
}

/// The registration client: one per phone (per line), driving all controllers.
///
/// Nothing is built until it is taken, and a Timer E retransmission is the same request:
///
/// ```
/// use phone_sip_reg::{Client, Config, Event, Input, Instant, Output};
/// use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
///
/// let mut cfg = Config::default();
/// cfg.apply_setting("SIP_CONTROLLER_LIST", "10.77.0.1;transport=udp").unwrap();
/// cfg.apply_setting("SIPDOMAIN", "lab.test").unwrap();
/// cfg.user = "1001".into();
/// cfg.password = Some("secret".into());
/// cfg.local_host = "10.77.0.100".into();
/// let mut phone = Client::new(cfg, ChaCha8Rng::seed_from_u64(1), Instant::ZERO);
/// // CSeq 1 is committed by this poll.
/// let Output::Transmit(t) = phone.poll_output() else { panic!() };
/// assert_eq!(t.controller, 0);
/// assert_eq!(t.target.port, 5060);
/// assert!(t.payload.starts_with(b"REGISTER sip:lab.test SIP/2.0\r\n"));
/// assert_eq!(phone.poll_output(), Output::Event(Event::Registering { controller: 0 }));
/// // Timer E (T1 = 500 ms over UDP) was armed when the REGISTER was taken.
/// assert_eq!(phone.poll_output(), Output::Timeout(Instant::from_millis(500)));
/// phone.handle_input(Input::Timeout(Instant::from_millis(500)));
/// let Output::Transmit(again) = phone.poll_output() else { panic!() };
/// assert_eq!(again.payload, t.payload, "a retransmission is the same request");
/// ```
#[derive(Debug)]
pub struct Client<R> {
    cfg: Config,
    rng: R,
    bindings: Vec<Binding>,
    events: VecDeque<Event>,
    /// The latest instant an input carried: transmits taken are stamped with it.
    now: Instant,
    active: Option<usize>,
    awaiting_credentials: bool,
    shutting_down: bool,
    stopped: bool,
    recovery_at: Option<Instant>,
    gave_up: bool,
}

fn random_hex<R: Rng>(rng: &mut R, bytes: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let b = (rng.next_u32() & 0xff) as usize;
        s.push(char::from(HEX[b >> 4]));
        s.push(char::from(HEX[b & 0xf]));
    }
    s
}

/// `base` scaled by a uniformly random fraction between `lo` and `hi` per mille.
fn jitter<R: Rng>(rng: &mut R, base: Duration, lo: u16, hi: u16) -> Duration {
    let (lo, hi) = (u128::from(lo.min(hi)), u128::from(hi.max(lo)));
    let span = hi - lo + 1;
    let pick = lo + u128::from(rng.next_u32()) % span;
    let micros = base.as_micros().saturating_mul(pick) / 1000;
    Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// The floor under server-dictated delays, as a duration.
fn min_server_delay() -> Duration {
    secs(MIN_SERVER_DELAY_SECS)
}

impl<R: Rng> Client<R> {
    /// A client for `cfg`, drawing Call-IDs, tags, branches, cnonces and jitter from `rng`,
    /// started at `now`: the first search (or the credential prompt, when no user is known) is
    /// due at once, and nothing moves until the caller polls.
    pub fn new(cfg: Config, mut rng: R, now: Instant) -> Self {
        let host = if cfg.local_host.is_empty() {
            "phone".to_string()
        } else {
            cfg.local_host.clone()
        };
        // An Expires of 0 would be an un-REGISTER (RFC 3261 §10.2.2).
        let expires = cfg.register_wait.clamp(1, MAX_EXPIRES);
        let bindings = cfg
            .controllers
            .iter()
            .map(|c| Binding {
                controller: c.clone(),
                target: c.clone(),
                // RFC 3261 §10.2: one Call-ID for all registrations with one registrar.
                call_id: format!("{}@{host}", random_hex(&mut rng, 12)),
                from_tag: random_hex(&mut rng, 6),
                cseq: 0,
                expires,
                tx: None,
                registered_until: None,
                refresh_at: None,
                retry_at: None,
                failed: None,
                auth: Vec::new(),
                framer: StreamFramer::new(),
                redirects: 0,
                auth_rounds: 0,
                interval_rounds: 0,
                transport_retries: 0,
            })
            .collect();
        let mut c = Client {
            cfg,
            rng,
            bindings,
            events: VecDeque::new(),
            now,
            active: None,
            awaiting_credentials: false,
            shutting_down: false,
            stopped: false,
            recovery_at: None,
            gave_up: false,
        };
        c.start(now);
        c
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The active controller (SIPPROXYSRVR_IN_USE).
    #[must_use]
    pub fn active(&self) -> Option<usize> {
        self.active
    }

    /// The active controller's address.
    #[must_use]
    pub fn active_controller(&self) -> Option<&Controller> {
        self.active
            .and_then(|i| self.bindings.get(i))
            .map(|b| &b.target)
    }

    /// The state of controller `i`'s registration (`None` when out of range).
    #[must_use]
    pub fn state(&self, i: usize) -> Option<RegistrationState> {
        let b = self.bindings.get(i)?;
        Some(match (&b.tx, b.registered_until, &b.failed) {
            (Some(t), _, _) if t.unregister => RegistrationState::Unregistering,
            (_, Some(until), _) => RegistrationState::Registered { until },
            (Some(_), None, _) => RegistrationState::Registering,
            (None, None, Some(f)) => RegistrationState::Failed(f.clone()),
            (None, None, None) => RegistrationState::Idle,
        })
    }

    /// The CSeq of the last REGISTER taken for controller `i` (0 before the first); `None` when
    /// out of range.
    #[must_use]
    pub fn cseq(&self, i: usize) -> Option<u32> {
        self.bindings.get(i).map(|b| b.cseq)
    }

    /// Whether the machine stopped after [`Command::Unregister`].
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Feed one input. Deadlines that passed by the input's instant are handled first, so an
    /// input that arrives late finds the machine as it would be at that instant.
    pub fn handle_input(&mut self, input: phone_sansio::Input<'_, usize, Command<'_>>) {
        use phone_sansio::Input as I;
        let now = input.now().max(self.now);
        self.now = now;
        if self.stopped {
            return;
        }
        if !matches!(input, I::Timeout(_)) && self.timer_deadline() <= now {
            self.on_timeout(now);
        }
        match input {
            I::Timeout(_) => self.on_timeout(now),
            I::Receive(_, i, data) => {
                let Some(b) = self.bindings.get(i) else {
                    return;
                };
                if b.target.transport.is_reliable() {
                    self.on_stream(now, i, data);
                } else if let Ok(Message::Response(r)) = message::parse(data) {
                    // RFC 3261 §18.1.2: malformed messages are discarded silently; requests are
                    // not served by this client.
                    self.on_response(now, i, &r);
                }
            }
            I::TransportFailed(_, i) => self.on_transport_failed(now, i),
            I::Closed(_, i) => {
                if self
                    .bindings
                    .get(i)
                    .is_some_and(|b| b.target.transport.is_reliable())
                {
                    self.on_transport_failed(now, i);
                }
            }
            I::Completed(..) => {}
            I::Command(_, Command::Credentials { user, password }) => {
                self.on_credentials(now, user, password);
            }
            I::Command(_, Command::Unregister) => self.shutdown(),
        }
    }

    /// The next output. Drain until [`phone_sansio::Output::Timeout`]. Taking a
    /// [`phone_sansio::Output::Transmit`] commits it: CSeq, nonce count, Timer E/F.
    pub fn poll_output(&mut self) -> Output {
        if let Some(e) = self.events.pop_front() {
            return Output::Event(e);
        }
        for i in 0..self.bindings.len() {
            if let Some(t) = self.take_transmit(i) {
                return Output::Transmit(t);
            }
        }
        Output::Timeout(self.poll_timeout().unwrap_or(Instant::MAX))
    }

    /// The next deadline, without side effects: the instant of the last input while outputs
    /// wait to be polled; `None` when only an input can wake the machine.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.events.is_empty() || self.bindings.iter().any(Binding::transmit_due) {
            return Some(self.now);
        }
        phone_sansio::deadline(self.timer_deadline().max(self.now))
    }

    /// The earliest timer (Timer E/F of requests taken, refreshes, retries, recovery).
    fn timer_deadline(&self) -> Instant {
        let mut t = Instant::MAX;
        if self.stopped {
            return t;
        }
        for b in &self.bindings {
            if let Some(tx) = &b.tx {
                if let Some(s) = &tx.sent {
                    t = t.min(s.timer_f);
                    if let Some(e) = s.timer_e {
                        t = t.min(e);
                    }
                }
            } else if !self.shutting_down {
                if let Some(r) = b.refresh_at {
                    t = t.min(r);
                }
                if let Some(r) = b.retry_at {
                    t = t.min(r);
                }
            }
        }
        if let Some(r) = self.recovery_at
            && !self.shutting_down
        {
            t = t.min(r);
        }
        t
    }

    fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    /// T1, floored.
    fn t1(&self) -> Duration {
        self.cfg.t1.max(MIN_T1)
    }

    /// T2, at least T1.
    fn t2(&self) -> Duration {
        self.cfg.t2.max(self.t1())
    }

    fn start(&mut self, now: Instant) {
        if self.cfg.user.is_empty() {
            self.ask_credentials(CredentialsReason::Missing, None, None);
            return;
        }
        self.search(now);
        self.reconcile(now);
    }

    fn on_credentials(&mut self, now: Instant, user: &str, password: &str) {
        if user.is_empty() || user.chars().any(digest::is_control) || self.shutting_down {
            return;
        }
        self.cfg.user = user.to_string();
        self.cfg.password = Some(password.to_string());
        self.awaiting_credentials = false;
        self.gave_up = false;
        for b in &mut self.bindings {
            b.auth.clear();
            if matches!(
                b.failed,
                Some(Failure::CredentialsRejected { .. } | Failure::CredentialsMissing)
            ) {
                b.failed = None;
            }
        }
        self.search(now);
        self.reconcile(now);
    }

    fn ask_credentials(
        &mut self,
        reason: CredentialsReason,
        controller: Option<usize>,
        realm: Option<String>,
    ) {
        if !self.awaiting_credentials {
            self.awaiting_credentials = true;
            self.event(Event::CredentialsRequired {
                reason,
                controller,
                realm,
            });
        }
    }

    /// Record that a REGISTER (or un-REGISTER) is due on binding `i`, as a new transaction;
    /// it is built when taken.
    fn schedule(&mut self, i: usize, unregister: bool, reason: Reason) {
        let b = &mut self.bindings[i];
        b.tx = Some(Transaction {
            unregister,
            reason,
            sent: None,
        });
        if !unregister {
            b.failed = None;
        }
    }

    /// §4.2/§4.4: REGISTER in parallel to every usable controller not registered.
    fn search(&mut self, now: Instant) {
        if self.awaiting_credentials || self.shutting_down {
            return;
        }
        for i in 0..self.bindings.len() {
            let b = &self.bindings[i];
            if b.is_terminal() || b.in_flight() || b.is_registered() {
                continue;
            }
            if b.retry_at.is_some_and(|r| r > now) {
                continue; // 503 Retry-After: not before then.
            }
            self.schedule(i, false, Reason::Attempt);
        }
    }

    fn registered_indexes(&self) -> Vec<usize> {
        (0..self.bindings.len())
            .filter(|&i| self.bindings[i].is_registered())
            .collect()
    }

    /// The registrations to keep, best first.
    fn kept(&self) -> Vec<usize> {
        let n = self.cfg.wanted_registrations();
        let mut reg = self.registered_indexes();
        if self.cfg.failback == FailbackPolicy::Admin
            && let Some(a) = self.active
            && let Some(pos) = reg.iter().position(|&i| i == a)
        {
            reg.remove(pos);
            reg.insert(0, a);
        }
        reg.truncate(n);
        reg
    }

    /// Whether an unregistered controller is worth a REGISTER now (monitoring, §4.6–§4.7).
    fn useful(&self, i: usize, kept: &[usize]) -> bool {
        let b = &self.bindings[i];
        if b.is_terminal() || b.in_flight() || b.is_registered() {
            return false;
        }
        if kept.len() < self.cfg.wanted_registrations() {
            return true;
        }
        self.cfg.failback == FailbackPolicy::Auto && kept.iter().any(|&k| i < k)
    }

    /// Bring the set of registrations in line with the policy, and note the active controller.
    fn reconcile(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        let kept = self.kept();
        for i in self.registered_indexes() {
            if !kept.contains(&i) && !self.bindings[i].in_flight() {
                self.schedule(i, true, Reason::Attempt);
            }
        }
        let active = kept.first().copied();
        if active != self.active {
            self.active = active;
            self.event(Event::ActiveController(active));
        }
        if !kept.is_empty() {
            self.recovery_at = None;
            self.gave_up = false;
            return;
        }
        let trying = self.bindings.iter().any(Binding::registering);
        if trying || self.awaiting_credentials {
            return;
        }
        if self.bindings.iter().all(Binding::is_terminal) {
            if !self.gave_up {
                self.gave_up = true;
                self.event(Event::RegistrationFailed { retry_at: None });
            }
            return;
        }
        if self.recovery_at.is_none() {
            // §4.5: nothing answered: retry after a random 50–90 % of RECOVERYREGISTERWAIT
            // (never sooner than the floor, whatever the configuration says).
            let wait = jitter(
                &mut self.rng,
                secs(self.cfg.recovery_register_wait),
                500,
                900,
            )
            .max(min_server_delay());
            let at = now + wait;
            self.recovery_at = Some(at);
            self.event(Event::RegistrationFailed { retry_at: Some(at) });
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        for i in 0..self.bindings.len() {
            let Some(s) = self.bindings[i].tx.as_mut().and_then(|t| t.sent.as_mut()) else {
                continue;
            };
            if s.timer_f <= now {
                // §17.1.2.2 Timer F: the transaction times out.
                self.fail(now, i, Failure::Timeout);
                continue;
            }
            if let Some(e) = s.timer_e
                && e <= now
            {
                // §17.1.2.2 Timer E: a retransmission is due; it is re-armed when taken.
                s.timer_e = None;
                s.retransmit_due = true;
            }
        }
        if self.shutting_down {
            return;
        }
        let mut refreshed_active = false;
        for i in 0..self.bindings.len() {
            let b = &self.bindings[i];
            if b.in_flight() {
                continue;
            }
            if b.refresh_at.is_some_and(|r| r <= now) {
                self.bindings[i].refresh_at = None;
                if Some(i) == self.active {
                    refreshed_active = true;
                }
                self.schedule(i, false, Reason::Attempt);
            } else if b.registered_until.is_some_and(|u| u <= now) {
                // The granted expiry passed without a successful refresh.
                self.bindings[i].registered_until = None;
            }
        }
        for i in 0..self.bindings.len() {
            if self.bindings[i].retry_at.is_some_and(|r| r <= now) {
                self.bindings[i].retry_at = None;
                let kept = self.kept();
                let b = &self.bindings[i];
                let idle = !b.in_flight() && !b.is_registered() && !b.is_terminal();
                if idle && (self.useful(i, &kept) || kept.is_empty()) {
                    self.schedule(i, false, Reason::Attempt);
                }
            }
        }
        if self.recovery_at.is_some_and(|r| r <= now) {
            self.recovery_at = None;
            for b in &mut self.bindings {
                if !b.is_terminal() {
                    b.failed = None;
                }
            }
            self.search(now);
        }
        if refreshed_active {
            // §4.6: re-check the controllers each REGISTERWAIT, with the active's refresh.
            let kept = self.kept();
            for i in 0..self.bindings.len() {
                if self.useful(i, &kept) && self.bindings[i].retry_at.is_none() {
                    self.schedule(i, false, Reason::Attempt);
                }
            }
        }
        self.reconcile(now);
    }

    fn on_stream(&mut self, now: Instant, i: usize, data: &[u8]) {
        let mut rest = data;
        loop {
            let Some(b) = self.bindings.get_mut(i) else {
                return;
            };
            let generation = b.framer.generation();
            match b.framer.next_from(&mut rest) {
                Ok(Some(bytes)) => {
                    if let Ok(Message::Response(r)) = message::parse(&bytes) {
                        self.on_response(now, i, &r);
                    }
                    // A failure or a redirect abandoned the stream: the rest of this read
                    // belongs to the old connection.
                    if self
                        .bindings
                        .get(i)
                        .is_none_or(|b| b.framer.generation() != generation)
                    {
                        return;
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    b.framer.reset();
                    if b.in_flight() || b.is_registered() {
                        self.fail(now, i, Failure::Transport);
                    }
                    return;
                }
            }
        }
    }

    /// The connection to controller `i` broke or could not be opened, or the last transmit for
    /// it could not be sent.
    fn on_transport_failed(&mut self, now: Instant, i: usize) {
        let Some(b) = self.bindings.get_mut(i) else {
            return;
        };
        b.framer.reset();
        let taken = b.tx.as_ref().filter(|t| t.sent.is_some());
        if let Some(tx) = taken
            && b.transport_retries < MAX_TRANSPORT_RETRIES
        {
            // The request may or may not have reached the registrar: send it again as a new
            // request (RFC 3261 §10.2.4: a new CSeq; RFC 7616 §3.4: the next nonce count), to
            // the same target, on a new connection for streams.
            b.transport_retries += 1;
            let unregister = tx.unregister;
            self.schedule(i, unregister, Reason::TransportRetry);
            return;
        }
        if b.in_flight() || b.is_registered() {
            self.fail(now, i, Failure::Transport);
        }
    }

    /// Build the transmit due on binding `i`, if any, and commit it: this is where CSeq, the
    /// nonce counts, the branch and cnonces, and Timer E/F move.
    fn take_transmit(&mut self, i: usize) -> Option<Transmit> {
        let now = self.now;
        let (t1, t2) = (self.t1(), self.t2());
        let Client {
            cfg,
            rng,
            bindings,
            events,
            ..
        } = self;
        let b = bindings.get_mut(i)?;
        let tx = b.tx.as_mut()?;
        if let Some(s) = tx.sent.as_mut() {
            if !s.retransmit_due {
                return None;
            }
            // §17.1.2.2 Timer E: retransmit, doubling up to T2 (T2 once proceeding).
            s.retransmit_due = false;
            s.interval = if s.proceeding {
                t2
            } else {
                (s.interval * 2).min(t2).max(t1)
            };
            s.timer_e = Some(now + s.interval);
            return Some(Transmit {
                controller: i,
                target: b.target.clone(),
                payload: s.bytes.clone(),
            });
        }
        let (unregister, reason) = (tx.unregister, tx.reason);
        let domain = if cfg.domain.is_empty() {
            b.controller.host.as_str()
        } else {
            cfg.domain.as_str()
        };
        let user = escape_user(&cfg.user);
        let auth_user = cfg.auth_user.as_deref().unwrap_or(&cfg.user);
        let branch = format!("z9hG4bK{}", random_hex(rng, 10));
        // RFC 3261 §10.2.4: every REGISTER within the Call-ID carries the next CSeq.
        b.cseq = b.cseq.wrapping_add(1).max(1);
        let uri = format!("sip:{domain}");
        let transport = b.target.transport;
        let aor = format!("<sip:{user}@{domain}>");
        let contact = contact_uri(&user, &cfg.local_host, cfg.local_port, transport);
        let mut h = Headers::default();
        h.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {}:{};rport;branch={branch}",
                transport.via_token(),
                cfg.local_host,
                cfg.local_port
            ),
        );
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, format!("{aor};tag={}", b.from_tag));
        h.push(HeaderName::To, aor);
        h.push(HeaderName::CallId, b.call_id.clone());
        h.push(HeaderName::CSeq, format!("{} REGISTER", b.cseq));
        h.push(HeaderName::Contact, format!("<{contact}>"));
        h.push(
            HeaderName::Expires,
            if unregister {
                "0".to_string()
            } else {
                b.expires.to_string()
            },
        );
        let mut sent_auth = Vec::new();
        if let Some(pw) = &cfg.password {
            for a in &mut b.auth {
                let cnonce = random_hex(rng, 12);
                // RFC 7616 §3.4: nc counts the requests sent with this nonce.
                a.nc = a.nc.saturating_add(1);
                let answer = Answer {
                    username: auth_user,
                    password: pw,
                    method: "REGISTER",
                    uri: &uri,
                    body: b"",
                    cnonce: &cnonce,
                    nc: a.nc,
                };
                // Only answerable challenges are kept (on_challenge), so this cannot fail.
                if let Ok(c) = digest::respond(&a.challenge, &answer) {
                    let name = if a.proxy {
                        HeaderName::ProxyAuthorization
                    } else {
                        HeaderName::Authorization
                    };
                    h.push(name, c.to_string());
                    sent_auth.push((a.proxy, a.challenge.realm.clone()));
                }
            }
        }
        if let Some(ua) = &cfg.user_agent {
            h.push(HeaderName::UserAgent, ua.clone());
        }
        let bytes = Request {
            method: "REGISTER".into(),
            uri,
            headers: h,
            body: Vec::new(),
        }
        .to_bytes();
        tx.sent = Some(Sent {
            branch,
            cseq: b.cseq,
            bytes: bytes.clone(),
            interval: t1,
            timer_e: (!transport.is_reliable()).then(|| now + t1),
            retransmit_due: false,
            timer_f: now + cfg.wait_for_registration.max(min_server_delay()),
            proceeding: false,
            sent_auth,
        });
        if reason == Reason::Attempt && !unregister && !b.is_registered() {
            events.push_back(Event::Registering { controller: i });
        }
        Some(Transmit {
            controller: i,
            target: b.target.clone(),
            payload: bytes,
        })
    }

    fn on_response(&mut self, now: Instant, i: usize, r: &Response) {
        let Some(b) = self.bindings.get_mut(i) else {
            return;
        };
        let Some(s) = b.tx.as_mut().and_then(|t| t.sent.as_mut()) else {
            return;
        };
        // §17.1.3: the response belongs to the transaction with the top Via's branch and the
        // CSeq method; the CSeq number must match too (responses to older requests are late).
        let (Ok(via), Ok(cseq)) = (r.headers.top_via(), r.headers.cseq()) else {
            return;
        };
        if via.branch.as_deref() != Some(s.branch.as_str())
            || !cseq.method.eq_ignore_ascii_case("REGISTER")
            || cseq.seq != s.cseq
        {
            return;
        }
        if r.status < 200 {
            s.proceeding = true;
            return;
        }
        let Some(tx) = b.tx.take() else { return };
        match r.status {
            200..=299 => self.on_success(now, i, &tx, r),
            401 | 407 => self.on_challenge(now, i, &tx, r),
            423 => {
                let b = &mut self.bindings[i];
                match r.headers.min_expires() {
                    Ok(Some(min))
                        if min > b.expires
                            && b.interval_rounds < MAX_INTERVAL_ROUNDS
                            && !tx.unregister =>
                    {
                        // RFC 3261 §10.2.8: retry with the registrar's Min-Expires (only ever
                        // longer than what was asked, so never below the floor).
                        b.interval_rounds += 1;
                        b.expires = min.min(MAX_EXPIRES);
                        self.schedule(i, false, Reason::IntervalTooBrief);
                    }
                    _ => self.fail_tx(now, i, &tx, Failure::IntervalTooBrief),
                }
            }
            300..=399 => self.on_redirect(now, i, &tx, r),
            503 => {
                // RFC 3261 §21.5.4: not before Retry-After; 0 is floored (MIN_SERVER_DELAY_SECS).
                let ra = r
                    .headers
                    .retry_after()
                    .ok()
                    .flatten()
                    .map(|s| s.clamp(MIN_SERVER_DELAY_SECS, MAX_RETRY_AFTER));
                self.fail_tx(now, i, &tx, Failure::ServiceUnavailable { retry_after: ra });
            }
            408 => self.fail_tx(now, i, &tx, Failure::RequestTimeout),
            403 => self.fail_tx(now, i, &tx, Failure::Forbidden),
            404 => self.fail_tx(now, i, &tx, Failure::NotFound),
            s => self.fail_tx(now, i, &tx, Failure::Status(s)),
        }
    }

    fn on_success(&mut self, now: Instant, i: usize, tx: &Transaction, r: &Response) {
        let b = &mut self.bindings[i];
        b.end_attempt();
        b.failed = None;
        b.retry_at = None;
        if tx.unregister {
            b.registered_until = None;
            b.refresh_at = None;
            self.event(Event::Unregistered { controller: i });
            self.after_shutdown_step();
            self.reconcile(now);
            return;
        }
        // RFC 3261 §10.2.4: the granted expiry is our Contact's expires parameter, else the
        // Expires header, else what we asked for.
        let ours = contact_uri(
            &escape_user(&self.cfg.user),
            &self.cfg.local_host,
            self.cfg.local_port,
            b.target.transport,
        );
        let from_contact = match r.headers.contacts() {
            Ok(Some(Contacts::List(list))) => list
                .iter()
                .find(|c| same_contact(&c.uri, &ours))
                .and_then(|c| c.param("expires"))
                .and_then(|e| e.trim().parse::<u32>().ok()),
            _ => None,
        };
        let granted = from_contact
            .or_else(|| r.headers.expires().ok().flatten())
            .unwrap_or(b.expires)
            .min(MAX_EXPIRES);
        if granted == 0 {
            self.fail_tx(now, i, tx, Failure::Status(r.status));
            return;
        }
        let g = secs(granted);
        b.registered_until = Some(now + g);
        let (lo, hi) = (self.cfg.refresh_min_permille, self.cfg.refresh_max_permille);
        // Refresh at 60–90 % of the grant, but never sooner than the floor: a registrar
        // granting 1 s cannot make the phone refresh without time passing.
        let wait = jitter(&mut self.rng, g, lo, hi).max(min_server_delay());
        let b = &mut self.bindings[i];
        b.refresh_at = Some(now + wait);
        self.event(Event::Registered {
            controller: i,
            expires: granted,
        });
        if self.shutting_down {
            // A REGISTER that was in flight when the un-REGISTER was asked for.
            self.schedule(i, true, Reason::Attempt);
            return;
        }
        self.reconcile(now);
    }

    fn on_challenge(&mut self, now: Instant, i: usize, tx: &Transaction, r: &Response) {
        let proxy = r.status == 407;
        let challenges = match r.headers.challenges(proxy) {
            Ok(c) => c,
            Err(message::ParseError::Auth(e)) => {
                return self.fail_tx(now, i, tx, Failure::UnsupportedChallenge(e));
            }
            Err(_) => {
                return self.fail_tx(
                    now,
                    i,
                    tx,
                    Failure::UnsupportedChallenge(AuthError::Missing("challenge")),
                );
            }
        };
        // RFC 8760 §2.4: answer the strongest challenge this client can answer (algorithm and
        // qop). None answerable is a failure: a REGISTER without credentials would only be
        // challenged again.
        let Some(ch) = challenges
            .iter()
            .filter(|c| c.answerable().is_ok())
            .max_by_key(|c| c.algorithm.strength())
            .cloned()
        else {
            let why = match challenges.first() {
                None => AuthError::Missing("challenge"),
                Some(_) if challenges.iter().any(|c| c.algorithm.is_supported()) => {
                    AuthError::UnsupportedQop
                }
                Some(c) => AuthError::UnsupportedAlgorithm(c.algorithm.as_str().to_string()),
            };
            return self.fail_tx(now, i, tx, Failure::UnsupportedChallenge(why));
        };
        let b = &mut self.bindings[i];
        let answered_before = tx
            .sent_auth()
            .iter()
            .any(|(p, realm)| *p == proxy && *realm == ch.realm);
        if answered_before && !ch.stale {
            // §4 of the spec: a second challenge for credentials already sent = wrong credentials.
            b.auth
                .retain(|a| !(a.proxy == proxy && a.challenge.realm == ch.realm));
            let realm = ch.realm.clone();
            if self.cfg.credentials_forced || tx.unregister {
                return self.fail_tx(now, i, tx, Failure::CredentialsRejected { realm });
            }
            self.cfg.password = None;
            for b in &mut self.bindings {
                b.auth.clear();
            }
            self.ask_credentials(CredentialsReason::Rejected, Some(i), Some(realm.clone()));
            self.fail_tx(now, i, tx, Failure::CredentialsRejected { realm });
            return;
        }
        if b.auth_rounds >= self.cfg.max_auth_rounds {
            return self.fail_tx(now, i, tx, Failure::TooManyChallenges);
        }
        b.auth_rounds += 1;
        // Pinned to this controller: the state lives in this binding only (nc restarts with
        // each new nonce, RFC 7616 §3.4).
        b.auth
            .retain(|a| !(a.proxy == proxy && a.challenge.realm == ch.realm));
        let realm = ch.realm.clone();
        if b.auth.len() >= MAX_AUTH_STATES {
            // A registrar inventing new realms cannot grow this without bound.
            b.auth.remove(0);
        }
        b.auth.push(AuthState {
            proxy,
            challenge: ch,
            nc: 0,
        });
        if self.cfg.password.is_none() {
            self.ask_credentials(CredentialsReason::Missing, Some(i), Some(realm));
            self.fail_tx(now, i, tx, Failure::CredentialsMissing);
            return;
        }
        self.schedule(i, tx.unregister, Reason::Challenge);
    }

    fn on_redirect(&mut self, now: Instant, i: usize, tx: &Transaction, r: &Response) {
        let b = &mut self.bindings[i];
        if b.redirects >= self.cfg.max_redirects || tx.unregister {
            return self.fail_tx(now, i, tx, Failure::Redirect);
        }
        let target = match r.headers.contacts() {
            Ok(Some(Contacts::List(list))) => list
                .iter()
                .find_map(|c| redirect_target(&c.uri, b.target.transport)),
            _ => None,
        };
        let Some(target) = target else {
            return self.fail_tx(now, i, tx, Failure::Redirect);
        };
        b.redirects += 1;
        b.target = target;
        b.framer.reset();
        self.schedule(i, false, Reason::Redirect);
    }

    fn fail_tx(&mut self, now: Instant, i: usize, tx: &Transaction, cause: Failure) {
        if tx.unregister {
            let b = &mut self.bindings[i];
            b.registered_until = None;
            b.refresh_at = None;
            b.target = b.controller.clone();
            b.end_attempt();
            self.event(Event::ControllerFailed {
                controller: i,
                cause,
            });
            self.after_shutdown_step();
            self.reconcile(now);
            return;
        }
        self.fail(now, i, cause);
    }

    /// Registration with controller `i` failed (the transaction is over or abandoned).
    fn fail(&mut self, now: Instant, i: usize, cause: Failure) {
        let b = &mut self.bindings[i];
        let was_registered = b.is_registered();
        let was_unregister = b.tx.as_ref().is_some_and(|t| t.unregister);
        b.tx = None;
        b.registered_until = None;
        b.refresh_at = None;
        b.end_attempt();
        b.target = b.controller.clone();
        b.framer.reset();
        b.retry_at = match &cause {
            Failure::ServiceUnavailable {
                retry_after: Some(s),
            } => Some(now + secs((*s).max(MIN_SERVER_DELAY_SECS))),
            _ => None,
        };
        b.failed = Some(cause.clone());
        self.event(Event::ControllerFailed {
            controller: i,
            cause,
        });
        if self.shutting_down || was_unregister {
            self.after_shutdown_step();
            return;
        }
        if was_registered {
            // §4.4: losing a registration starts a new search of every controller.
            self.search(now);
        }
        self.reconcile(now);
    }

    fn shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.recovery_at = None;
        for i in 0..self.bindings.len() {
            let b = &mut self.bindings[i];
            b.retry_at = None;
            b.refresh_at = None;
            let unregistering = b.tx.as_ref().is_some_and(|t| t.unregister);
            let taken = b.tx.as_ref().is_some_and(|t| t.sent.is_some());
            if unregistering {
                // Already removing this registration.
            } else if b.is_registered() || taken {
                // Remove the registration, or whatever the REGISTER in flight may create.
                self.schedule(i, true, Reason::Attempt);
            } else {
                // A REGISTER never taken reached nobody: nothing to remove.
                b.tx = None;
            }
        }
        if self.active.is_some() {
            self.active = None;
            self.event(Event::ActiveController(None));
        }
        self.after_shutdown_step();
    }

    fn after_shutdown_step(&mut self) {
        if self.shutting_down && !self.stopped && self.bindings.iter().all(|b| !b.in_flight()) {
            self.stopped = true;
            self.event(Event::Stopped);
        }
    }
}

impl<R: Rng> Machine for Client<R> {
    type Peer = usize;
    type Command<'a> = Command<'a>;
    type Transmit = Transmit;
    type Event = Event;

    fn handle_input(&mut self, input: phone_sansio::Input<'_, usize, Command<'_>>) {
        Client::handle_input(self, input);
    }

    fn poll_output(&mut self) -> Output {
        Client::poll_output(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Client::poll_timeout(self)
    }
}

/// The user part of a SIP URI (RFC 3261 §25.1 `user`): unreserved and user-unreserved
/// characters as they are, every other byte `%`-escaped, so no character of the user can end
/// the URI or the header early.
fn escape_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for b in user.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Contact URI this phone registers (RFC 3261 §10.2.1).
fn contact_uri(user: &str, host: &str, port: u16, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("sip:{user}@{host}:{port}"),
        t => format!("sip:{user}@{host}:{port};transport={}", t.as_str()),
    }
}

/// Compare contact URIs by scheme, user, host and port (the registrar may reorder parameters).
fn same_contact(a: &str, b: &str) -> bool {
    let base = |s: &str| s.split(';').next().unwrap_or(s).to_ascii_lowercase();
    base(a) == base(b)
}

/// A 3xx Contact turned into a target (`sip:`/`sips:` host[:port][;transport=]).
fn redirect_target(uri: &str, current: Transport) -> Option<Controller> {
    let (scheme, rest) = uri.split_once(':')?;
    let sips = scheme.eq_ignore_ascii_case("sips");
    if !sips && !scheme.eq_ignore_ascii_case("sip") {
        return None;
    }
    let mut parts = rest.split(';');
    let hostport = parts.next()?;
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    let mut transport = if sips { Transport::Tls } else { current };
    for p in parts {
        if let Some((k, v)) = p.split_once('=')
            && k.eq_ignore_ascii_case("transport")
        {
            transport = Transport::from_token(v)?;
        }
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => (hostport, transport.default_port()),
    };
    if host.is_empty()
        || host.len() > 255
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return None;
    }
    Some(Controller {
        host: host.to_string(),
        port,
        transport,
    })
}
