//! The registration machine: REGISTER per RFC 3261 §10 over the non-INVITE client transaction
//! (§17.1.2), digest authentication (§22), and the Avaya controller model (spec/sip.md §4).
//!
//! Sans-IO (ARCHITECTURE.md): the caller feeds [`Input`]s and drains [`Output`]s. Controllers are
//! named by their index in [`Config::controllers`]. For UDP the caller hands over datagrams from
//! that controller; for TCP/TLS the stream bytes of the connection it keeps for that controller
//! (opened on the first [`Transmit`] for it, and reopened when a transmit names another target
//! after a redirect). When a stream breaks, the caller reports [`Input::TransportError`].
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

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use phone_settings::Instant;
use rand_core::Rng;

use crate::config::{Config, FailbackPolicy};
use crate::controller::{Controller, Transport};
use crate::digest::{self, Answer, AuthError, Challenge};
use crate::framing::{FramingError, StreamFramer};
use crate::message::{self, Contacts, HeaderName, Headers, Message, Request, Response};

/// Most seconds of Retry-After honoured (longer values are capped).
pub const MAX_RETRY_AFTER: u32 = 86_400;
/// Most seconds an Expires or Min-Expires may ask for.
pub const MAX_EXPIRES: u32 = 86_400 * 7;
/// Most 423 answers followed per registration attempt.
pub const MAX_INTERVAL_ROUNDS: u8 = 3;
/// Most challenges (realms) remembered per controller.
pub const MAX_AUTH_STATES: usize = 4;

/// What the caller feeds the machine.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// Time passed (a deadline from [`Output::Timeout`] was reached; early is harmless).
    Timeout(Instant),
    /// A UDP datagram from controller `controller`.
    Datagram {
        /// The time of arrival.
        now: Instant,
        /// The controller index.
        controller: usize,
        /// The datagram.
        data: &'a [u8],
    },
    /// Bytes from the TCP/TLS connection of controller `controller`.
    Stream {
        /// The time of arrival.
        now: Instant,
        /// The controller index.
        controller: usize,
        /// The bytes.
        data: &'a [u8],
    },
    /// Sending to, connecting to, or reading from controller `controller` failed, or its
    /// connection closed.
    TransportError {
        /// When.
        now: Instant,
        /// The controller index.
        controller: usize,
    },
    /// The user answered the credential prompt (spec/sip.md §3).
    Credentials {
        /// When.
        now: Instant,
        /// The extension or SM handle.
        user: &'a str,
        /// The password.
        password: &'a str,
    },
    /// Remove every registration (REGISTER with Expires: 0) and stop.
    Unregister(Instant),
}

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
pub enum Failure {
    /// No final response within WAIT_FOR_REGISTRATION_TIMER (Timer F).
    Timeout,
    /// The transport failed, or a stream could not be framed.
    Transport,
    /// 503; retry not before the Retry-After seconds, when given.
    ServiceUnavailable {
        /// The Retry-After value.
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
    /// The challenge cannot be answered (algorithm, qop, or malformed).
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

/// Why credentials are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialsReason {
    /// None are known.
    Missing,
    /// The controller rejected them.
    Rejected,
}

/// Something the phone shows or records.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// [`Input::Credentials`].
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
    /// After [`Input::Unregister`]: nothing is registered or in flight any more.
    Stopped,
}

/// What the caller must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send bytes.
    Transmit(Transmit),
    /// Note an event.
    Event(Event),
    /// Nothing more now; call [`Client::handle_input`] with [`Input::Timeout`] at this instant
    /// (or earlier, with other input). [`Instant::MAX`] = no deadline.
    Timeout(Instant),
}

/// The state of one controller's registration, for queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not registered, nothing in flight.
    Idle,
    /// A REGISTER is in flight and no registration exists yet.
    Registering,
    /// Registered until this instant (a refresh may be in flight).
    Registered {
        /// The end of the granted expiry.
        until: Instant,
    },
    /// An un-REGISTER is in flight.
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

#[derive(Clone, Debug)]
struct Transaction {
    branch: String,
    cseq: u32,
    bytes: Vec<u8>,
    unregister: bool,
    interval: Duration,
    timer_e: Option<Instant>,
    timer_f: Instant,
    proceeding: bool,
    /// (proxy, realm) of the credentials this request carried.
    sent_auth: Vec<(bool, String)>,
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
}

/// The registration client: one per phone (per line), driving all controllers.
#[derive(Debug)]
pub struct Client<R> {
    cfg: Config,
    rng: R,
    bindings: Vec<Binding>,
    out: VecDeque<Output>,
    active: Option<usize>,
    started: bool,
    awaiting_credentials: bool,
    shutting_down: bool,
    stopped: bool,
    recovery_at: Option<Instant>,
    gave_up: bool,
}

fn random_hex<R: Rng>(rng: &mut R, bytes: usize) -> String {
    let mut s = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let b = rng.next_u32() & 0xff;
        s.push_str(&format!("{b:02x}"));
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

impl<R: Rng> Client<R> {
    /// A client for `cfg`, drawing Call-IDs, tags, branches, cnonces and jitter from `rng`.
    /// Nothing is sent before the first [`Client::handle_input`].
    pub fn new(cfg: Config, mut rng: R) -> Self {
        let host = if cfg.local_host.is_empty() {
            "phone".to_string()
        } else {
            cfg.local_host.clone()
        };
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
                expires: cfg.register_wait,
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
            })
            .collect();
        Client {
            cfg,
            rng,
            bindings,
            out: VecDeque::new(),
            active: None,
            started: false,
            awaiting_credentials: false,
            shutting_down: false,
            stopped: false,
            recovery_at: None,
            gave_up: false,
        }
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

    /// Whether the machine stopped after [`Input::Unregister`].
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Feed one input.
    pub fn handle_input(&mut self, input: Input<'_>) {
        match input {
            Input::Timeout(now) => {
                self.start(now);
                self.on_timeout(now);
            }
            Input::Datagram {
                now,
                controller,
                data,
            } => {
                self.start(now);
                if controller < self.bindings.len()
                    && let Ok(Message::Response(r)) = message::parse(data)
                {
                    // RFC 3261 §18.1.2: malformed messages are discarded silently; requests are
                    // not served by this client.
                    self.on_response(now, controller, &r);
                }
            }
            Input::Stream {
                now,
                controller,
                data,
            } => {
                self.start(now);
                self.on_stream(now, controller, data);
            }
            Input::TransportError { now, controller } => {
                self.start(now);
                if let Some(b) = self.bindings.get_mut(controller) {
                    b.framer.reset();
                    if b.in_flight() || b.is_registered() {
                        self.fail(now, controller, Failure::Transport);
                    }
                }
            }
            Input::Credentials {
                now,
                user,
                password,
            } => {
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
                if self.started && !self.shutting_down {
                    self.search(now);
                    self.reconcile(now);
                } else {
                    self.start(now);
                }
            }
            Input::Unregister(now) => {
                self.started = true;
                self.shutdown(now);
            }
        }
    }

    /// The next output. Drain until [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        Output::Timeout(self.next_deadline())
    }

    fn next_deadline(&self) -> Instant {
        let mut t = Instant::MAX;
        if self.stopped {
            return t;
        }
        for b in &self.bindings {
            if let Some(tx) = &b.tx {
                t = t.min(tx.timer_f);
                if let Some(e) = tx.timer_e {
                    t = t.min(e);
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
        self.out.push_back(Output::Event(e));
    }

    fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        if self.cfg.user.is_empty() {
            self.ask_credentials(CredentialsReason::Missing, None, None);
            return;
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
            self.send_register(now, i, false);
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
                self.send_register(now, i, true);
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
            // §4.5: nothing answered: retry after a random 50–90 % of RECOVERYREGISTERWAIT.
            let wait = jitter(
                &mut self.rng,
                secs(self.cfg.recovery_register_wait),
                500,
                900,
            );
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
            let Some(tx) = &self.bindings[i].tx else {
                continue;
            };
            if tx.timer_f <= now {
                // §17.1.2.2 Timer F: the transaction times out.
                self.fail(now, i, Failure::Timeout);
                continue;
            }
            if let Some(e) = tx.timer_e
                && e <= now
            {
                // §17.1.2.2 Timer E: retransmit, doubling up to T2 (T2 once proceeding).
                let (t1, t2) = (self.cfg.t1, self.cfg.t2);
                let b = &mut self.bindings[i];
                let Some(tx) = b.tx.as_mut() else { continue };
                tx.interval = if tx.proceeding {
                    t2
                } else {
                    (tx.interval * 2).min(t2).max(t1)
                };
                tx.timer_e = Some(now + tx.interval);
                let t = Transmit {
                    controller: i,
                    target: b.target.clone(),
                    payload: tx.bytes.clone(),
                };
                self.out.push_back(Output::Transmit(t));
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
                self.send_register(now, i, false);
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
                    self.send_register(now, i, false);
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
                    self.send_register(now, i, false);
                }
            }
        }
        self.reconcile(now);
    }

    fn on_stream(&mut self, now: Instant, i: usize, data: &[u8]) {
        let Some(b) = self.bindings.get_mut(i) else {
            return;
        };
        if b.framer.push(data).is_err() {
            b.framer.reset();
            self.fail(now, i, Failure::Transport);
            return;
        }
        loop {
            let Some(b) = self.bindings.get_mut(i) else {
                return;
            };
            match b.framer.next_message() {
                Ok(Some(bytes)) => {
                    if let Ok(Message::Response(r)) = message::parse(&bytes) {
                        self.on_response(now, i, &r);
                    }
                }
                Ok(None) => return,
                Err(
                    FramingError::HeaderTooLong
                    | FramingError::BodyTooLong
                    | FramingError::ContentLength,
                ) => {
                    b.framer.reset();
                    if b.in_flight() || b.is_registered() {
                        self.fail(now, i, Failure::Transport);
                    }
                    return;
                }
            }
        }
    }

    /// Build and send a REGISTER (RFC 3261 §10.2) on binding `i`, as a new transaction.
    fn send_register(&mut self, now: Instant, i: usize, unregister: bool) {
        let domain = if self.cfg.domain.is_empty() {
            self.bindings[i].controller.host.clone()
        } else {
            self.cfg.domain.clone()
        };
        let user = self.cfg.user.clone();
        let auth_user = self.cfg.auth_user.clone().unwrap_or_else(|| user.clone());
        let password = self.cfg.password.clone();
        let branch = format!("z9hG4bK{}", random_hex(&mut self.rng, 10));
        let mut cnonces = Vec::new();
        for _ in 0..self.bindings[i].auth.len() {
            cnonces.push(random_hex(&mut self.rng, 12));
        }
        let first = !self.bindings[i].is_registered() && !unregister;
        let (local_host, local_port) = (self.cfg.local_host.clone(), self.cfg.local_port);
        let b = &mut self.bindings[i];
        b.cseq = b.cseq.wrapping_add(1).max(1);
        let uri = format!("sip:{domain}");
        let transport = b.target.transport;
        let aor = format!("<sip:{user}@{domain}>");
        let contact = contact_uri(&user, &local_host, local_port, transport);
        let mut h = Headers::default();
        h.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {local_host}:{local_port};rport;branch={branch}",
                transport.via_token()
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
        if let Some(pw) = &password {
            for (a, cnonce) in b.auth.iter_mut().zip(cnonces.iter()) {
                // RFC 7616 §3.4: nc counts the requests sent with this nonce.
                a.nc = a.nc.saturating_add(1);
                let answer = Answer {
                    username: &auth_user,
                    password: pw,
                    method: "REGISTER",
                    uri: &uri,
                    body: b"",
                    cnonce,
                    nc: a.nc,
                };
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
        if let Some(ua) = &self.cfg.user_agent {
            h.push(HeaderName::UserAgent, ua.clone());
        }
        let req = Request {
            method: "REGISTER".into(),
            uri,
            headers: h,
            body: Vec::new(),
        };
        let bytes = req.to_bytes();
        let reliable = transport.is_reliable();
        b.tx = Some(Transaction {
            branch,
            cseq: b.cseq,
            bytes: bytes.clone(),
            unregister,
            interval: self.cfg.t1,
            timer_e: (!reliable).then(|| now + self.cfg.t1),
            timer_f: now + self.cfg.wait_for_registration,
            proceeding: false,
            sent_auth,
        });
        if !unregister {
            b.failed = None;
        }
        let t = Transmit {
            controller: i,
            target: b.target.clone(),
            payload: bytes,
        };
        self.out.push_back(Output::Transmit(t));
        if first && b.auth_rounds == 0 && b.interval_rounds == 0 && b.redirects == 0 {
            self.event(Event::Registering { controller: i });
        }
    }

    fn on_response(&mut self, now: Instant, i: usize, r: &Response) {
        let Some(b) = self.bindings.get_mut(i) else {
            return;
        };
        let Some(tx) = b.tx.as_mut() else { return };
        // §17.1.3: the response belongs to the transaction with the top Via's branch and the
        // CSeq method; the CSeq number must match too (responses to older requests are late).
        let (Ok(via), Ok(cseq)) = (r.headers.top_via(), r.headers.cseq()) else {
            return;
        };
        if via.branch.as_deref() != Some(tx.branch.as_str())
            || !cseq.method.eq_ignore_ascii_case("REGISTER")
            || cseq.seq != tx.cseq
        {
            return;
        }
        if r.status < 200 {
            tx.proceeding = true;
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
                        // RFC 3261 §10.2.8: retry with the registrar's Min-Expires.
                        b.interval_rounds += 1;
                        b.expires = min.min(MAX_EXPIRES);
                        self.send_register(now, i, false);
                    }
                    _ => self.fail_tx(now, i, &tx, Failure::IntervalTooBrief),
                }
            }
            300..=399 => self.on_redirect(now, i, &tx, r),
            503 => {
                let ra = r
                    .headers
                    .retry_after()
                    .ok()
                    .flatten()
                    .map(|s| s.min(MAX_RETRY_AFTER));
                self.fail_tx(now, i, &tx, Failure::ServiceUnavailable { retry_after: ra });
            }
            408 => self.fail_tx(now, i, &tx, Failure::RequestTimeout),
            403 => self.fail_tx(now, i, &tx, Failure::Forbidden),
            404 => self.fail_tx(now, i, &tx, Failure::NotFound),
            s => self.fail_tx(now, i, &tx, Failure::Status(s)),
        }
    }

    fn on_success(&mut self, now: Instant, i: usize, tx: &Transaction, r: &Response) {
        let (user, host, port) = (
            self.cfg.user.clone(),
            self.cfg.local_host.clone(),
            self.cfg.local_port,
        );
        let b = &mut self.bindings[i];
        b.auth_rounds = 0;
        b.interval_rounds = 0;
        b.redirects = 0;
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
        let ours = contact_uri(&user, &host, port, b.target.transport);
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
        let wait = jitter(&mut self.rng, g, lo, hi);
        let b = &mut self.bindings[i];
        b.refresh_at = Some(now + wait);
        self.event(Event::Registered {
            controller: i,
            expires: granted,
        });
        if self.shutting_down {
            // A REGISTER that was in flight when the un-REGISTER was asked for.
            self.send_register(now, i, true);
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
        // RFC 8760 §2.4: answer the strongest challenge this client supports.
        let Some(ch) = challenges
            .into_iter()
            .filter(|c| c.algorithm.is_supported())
            .max_by_key(|c| c.algorithm.strength())
        else {
            return self.fail_tx(
                now,
                i,
                tx,
                Failure::UnsupportedChallenge(AuthError::UnsupportedAlgorithm(String::new())),
            );
        };
        let b = &mut self.bindings[i];
        let answered_before = tx
            .sent_auth
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
        self.send_register(now, i, tx.unregister);
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
        self.send_register(now, i, false);
    }

    fn fail_tx(&mut self, now: Instant, i: usize, tx: &Transaction, cause: Failure) {
        if tx.unregister {
            let b = &mut self.bindings[i];
            b.registered_until = None;
            b.refresh_at = None;
            b.target = b.controller.clone();
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
        b.auth_rounds = 0;
        b.interval_rounds = 0;
        b.redirects = 0;
        b.target = b.controller.clone();
        b.framer.reset();
        b.retry_at = match &cause {
            Failure::ServiceUnavailable {
                retry_after: Some(s),
            } => Some(now + secs(*s)),
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

    fn shutdown(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.recovery_at = None;
        for i in 0..self.bindings.len() {
            let b = &mut self.bindings[i];
            b.retry_at = None;
            b.refresh_at = None;
            if b.is_registered() {
                self.send_register(now, i, true);
            } else if b.registering() {
                // Abandon the pending REGISTER but remove whatever it may have created.
                self.send_register(now, i, true);
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
