//! The supplicant machine: IEEE 802.1X-2004's supplicant PAE and backend (§8.2.11, §8.2.12)
//! reduced to what a wired phone needs, with the EAP peer (RFC 3748 §2) for Identity,
//! Notification, MD5-Challenge and EAP-TLS.
//!
//! ```text
//!            Start taken (startCount < maxStart, every startPeriod)
//!  CONNECTING ─────────────────────────────────────────┐
//!     │ Request              maxStart unanswered        │
//!     ▼                      ──────────────────▶ NO AUTHENTICATOR (taken as authorized)
//!  AUTHENTICATING ── Success ─▶ AUTHORIZED ── Request/Identity ─▶ AUTHENTICATING
//!     │  │ authPeriod without a Request ─▶ CONNECTING
//!     │  Failure
//!     ▼
//!  HELD ── heldPeriod ─▶ CONNECTING
//! ```
//!
//! Commit on take: the start count, the Start and auth timers and the response kept for a
//! retransmitted Request move when the caller takes the transmit.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use phone_sansio::{Input, Instant, Machine, Output};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use crate::config::{Config, MAX_CREDENTIAL_CHARS, Method, Mode, Secret};
use crate::eap::{self, EapType, Md5Challenge, Packet, TlsData};
use crate::eapol::{self, Eapol, PacketType};
use crate::event::{Command, Event, Prompt};
use crate::tls::{self, Answer, InputClock, Session, TlsError};

/// Events kept unpolled at most (older ones are dropped first).
const MAX_EVENTS: usize = 32;
/// Notification text kept at most (bytes).
const MAX_NOTIFICATION: usize = 128;

/// How a frame reached the phone: the `Peer` of every `Input::Receive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The sender's MAC (the authenticator's port).
    pub source: [u8; 6],
    /// Sent to a group address (the PAE group, broadcast) rather than the phone's own MAC.
    pub multicast: bool,
}

/// An EAPOL frame to send: the driver adds the Ethernet header (the phone's MAC as source,
/// EtherType [`eapol::ETHERTYPE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to: always the PAE group address (IEEE 802.1X-2004 §7.8).
    pub destination: [u8; 6],
    /// The EAPOL PDU.
    pub payload: Vec<u8>,
}

/// Where the supplicant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortState {
    /// DOT1XSTAT 0.
    Off,
    /// Sending EAPOL-Starts.
    Connecting,
    /// In an EAP conversation.
    Authenticating,
    /// After a failure, waiting for heldPeriod.
    Held,
    /// EAP-Success received.
    Authorized,
    /// maxStart Starts unanswered: taken as authorized.
    NoAuthenticator,
    /// After a Logoff.
    LoggedOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Off,
    Connecting { count: u8, next: Instant },
    Authenticating { deadline: Instant },
    Held { until: Instant },
    Authorized,
    NoAuthenticator,
    LoggedOff,
}

#[derive(Debug)]
enum Pending {
    Start,
    Logoff,
    Response { id: u8, eap: Vec<u8> },
}

#[derive(Debug)]
enum Awaiting {
    Identity { id: u8 },
    Password { id: u8, challenge: Vec<u8> },
}

#[derive(Debug)]
enum MethodState {
    None,
    Md5Answered,
    Tls(Box<Session>),
    TlsFailed,
}

/// The 802.1X supplicant of link.md §2 on the [`phone_sansio::Machine`] contract.
pub struct Supplicant {
    config: Config,
    now: Instant,
    state: State,
    pending: Option<Pending>,
    events: VecDeque<Event>,
    awaiting: Option<Awaiting>,
    /// The identifier and bytes of the last Response taken (answered again when the
    /// authenticator repeats its Request).
    last: Option<(u8, Vec<u8>)>,
    /// The authenticator this conversation is with.
    authenticator: Option<[u8; 6]>,
    method: MethodState,
    clock: Arc<InputClock>,
    tls_config: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    dropped: u64,
}

impl core::fmt::Debug for Supplicant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Supplicant")
            .field("config", &self.config)
            .field("state", &self.state)
            .field("awaiting", &self.awaiting.as_ref().map(|_| ".."))
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl Supplicant {
    /// A supplicant that starts at `now`: with DOT1XSTAT 1 or 2 its first output is an
    /// EAPOL-Start; with 0 it never sends.
    #[must_use]
    pub fn new(mut config: Config, now: Instant) -> Supplicant {
        config.timers = config.timers.floored();
        let clock = Arc::new(InputClock::new(
            config.tls.as_ref().map_or(0, |t| t.unix_time_at_origin),
            now,
        ));
        let (state, pending) = if config.mode == Mode::Off {
            (State::Off, None)
        } else {
            (
                State::Connecting {
                    count: 0,
                    next: now,
                },
                Some(Pending::Start),
            )
        };
        Supplicant {
            config,
            now,
            state,
            pending,
            events: VecDeque::new(),
            awaiting: None,
            last: None,
            authenticator: None,
            method: MethodState::None,
            clock,
            tls_config: None,
            dropped: 0,
        }
    }

    /// Where the supplicant is.
    #[must_use]
    pub fn state(&self) -> PortState {
        match self.state {
            State::Off => PortState::Off,
            State::Connecting { .. } => PortState::Connecting,
            State::Authenticating { .. } => PortState::Authenticating,
            State::Held { .. } => PortState::Held,
            State::Authorized => PortState::Authorized,
            State::NoAuthenticator => PortState::NoAuthenticator,
            State::LoggedOff => PortState::LoggedOff,
        }
    }

    /// The open prompt, if the supplicant waits for the user.
    #[must_use]
    pub fn prompt(&self) -> Option<Prompt> {
        match self.awaiting {
            Some(Awaiting::Identity { .. }) => Some(Prompt::Identity),
            Some(Awaiting::Password { .. }) => Some(Prompt::Password),
            None => None,
        }
    }

    /// The MD5 identity in use (configured or entered at the prompt): the boot keeps it across
    /// reboots.
    #[must_use]
    pub fn identity(&self) -> Option<&str> {
        self.config.identity.as_deref()
    }

    /// The MD5 password in use (configured or entered): the boot keeps it across reboots.
    #[must_use]
    pub fn password(&self) -> Option<&Secret> {
        self.config.password.as_ref()
    }

    /// Frames dropped as malformed, unexpected or not for this supplicant.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn push(&mut self, e: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    fn respond(&mut self, id: u8, method: EapType, data: &[u8]) {
        let eap = Packet::Response { id, method, data }.to_bytes();
        self.pending = Some(Pending::Response { id, eap });
    }

    fn start_over(&mut self) {
        self.state = State::Connecting {
            count: 0,
            next: self.now,
        };
        self.pending = Some(Pending::Start);
        self.reset_conversation();
    }

    fn reset_conversation(&mut self) {
        self.awaiting = None;
        self.last = None;
        self.authenticator = None;
        self.method = MethodState::None;
    }

    fn in_conversation(&self) -> bool {
        matches!(self.state, State::Authenticating { .. })
    }

    fn on_frame(&mut self, link: Link, bytes: &[u8]) {
        let accepted = match self.config.mode {
            Mode::Off => false,
            Mode::Unicast => !link.multicast,
            Mode::UnicastAndMulticast => true,
        };
        if !accepted || self.state == State::LoggedOff {
            self.dropped += 1;
            return;
        }
        let Ok(frame) = Eapol::parse(bytes) else {
            self.dropped += 1;
            return;
        };
        if frame.packet_type != PacketType::EapPacket {
            // EAPOL-Key and the rest mean nothing to a wired supplicant.
            self.dropped += 1;
            return;
        }
        let Ok(packet) = Packet::parse(frame.body) else {
            self.dropped += 1;
            return;
        };
        if self.in_conversation()
            && let Some(a) = self.authenticator
            && a != link.source
        {
            self.dropped += 1;
            return;
        }
        match packet {
            Packet::Request { id, method, data } => self.on_request(link, id, method, data),
            Packet::Success { id } => self.on_success(id),
            Packet::Failure { .. } => self.on_failure(),
            Packet::Response { .. } => self.dropped += 1,
        }
    }

    fn on_request(&mut self, link: Link, id: u8, method: EapType, data: &[u8]) {
        // A repeated Request (RFC 3748 §4.1): the same Response again, the method not re-run.
        if self.in_conversation()
            && let Some((last_id, eap)) = &self.last
            && *last_id == id
            && method != EapType::Identity
        {
            self.pending = Some(Pending::Response {
                id,
                eap: eap.clone(),
            });
            return;
        }
        if let Some(Awaiting::Identity { id: a } | Awaiting::Password { id: a, .. }) =
            &self.awaiting
            && *a == id
        {
            // Still waiting for the user: the authenticator's retransmission changes nothing.
            return;
        }
        if method == EapType::Identity || !matches!(self.state, State::Authenticating { .. }) {
            // A new conversation (also a method Request out of the blue: answer it).
            self.reset_conversation();
            self.authenticator = Some(link.source);
        }
        self.state = State::Authenticating {
            deadline: Instant::MAX,
        };
        match method {
            EapType::Identity => self.on_identity_request(id),
            EapType::Notification => {
                let text = data.get(..MAX_NOTIFICATION).unwrap_or(data);
                self.push(Event::Notification(
                    String::from_utf8_lossy(text).into_owned(),
                ));
                self.respond(id, EapType::Notification, &[]);
            }
            EapType::Md5Challenge => self.on_md5_request(id, data),
            EapType::Tls => self.on_tls_request(id, data),
            EapType::Nak => self.dropped += 1,
            EapType::Expanded => {
                // Expanded Nak (RFC 3748 §5.3.2): vendor 0, type 3, then our method expanded.
                let offered = self.offered_method();
                let mut d = alloc::vec![0, 0, 0, 0, 0, 0, 3];
                d.extend_from_slice(&[254, 0, 0, 0, 0, 0, 0, offered]);
                self.push(Event::Nak {
                    requested: 254,
                    offered,
                });
                self.respond(id, EapType::Expanded, &d);
            }
            EapType::Other(t) => self.nak(id, t),
        }
    }

    /// The method type this phone proposes in a Nak (0: none usable).
    fn offered_method(&self) -> u8 {
        match self.config.method {
            Method::Md5 => Method::Md5.eap_type(),
            Method::Tls if self.tls_usable() => Method::Tls.eap_type(),
            Method::Tls => 0,
        }
    }

    fn nak(&mut self, id: u8, requested: u8) {
        let offered = self.offered_method();
        self.push(Event::Nak { requested, offered });
        self.respond(id, EapType::Nak, &[offered]);
    }

    fn tls_usable(&self) -> bool {
        match &self.config.tls {
            None => false,
            Some(t) => {
                !t.trusted.is_empty() && (!self.config.tls_only_with_cert || t.has_identity())
            }
        }
    }

    fn on_identity_request(&mut self, id: u8) {
        let identity = match self.config.method {
            Method::Tls => Some(self.config.tls_identity.clone()),
            Method::Md5 => self.config.identity.clone(),
        };
        match identity {
            Some(i) => self.respond(id, EapType::Identity, i.as_bytes()),
            None => {
                self.awaiting = Some(Awaiting::Identity { id });
                self.push(Event::Prompt(Prompt::Identity));
            }
        }
    }

    fn on_md5_request(&mut self, id: u8, data: &[u8]) {
        if self.config.method != Method::Md5 {
            self.nak(id, Method::Md5.eap_type());
            return;
        }
        let Ok(challenge) = Md5Challenge::parse(data) else {
            self.dropped += 1;
            return;
        };
        match self.config.password.clone() {
            Some(p) => self.answer_md5(id, p.expose().as_bytes(), challenge.value),
            None => {
                self.awaiting = Some(Awaiting::Password {
                    id,
                    challenge: challenge.value.to_vec(),
                });
                self.push(Event::Prompt(Prompt::Password));
            }
        }
    }

    fn answer_md5(&mut self, id: u8, password: &[u8], challenge: &[u8]) {
        let value = eap::md5_response(id, password, challenge);
        let data = Md5Challenge {
            value: &value,
            name: &[],
        }
        .to_bytes();
        if !matches!(self.method, MethodState::Md5Answered) {
            self.push(Event::Authenticating {
                method: Method::Md5,
            });
        }
        self.method = MethodState::Md5Answered;
        self.respond(id, EapType::Md5Challenge, &data);
    }

    fn on_tls_request(&mut self, id: u8, data: &[u8]) {
        if self.config.method != Method::Tls || !self.tls_usable() {
            self.nak(id, Method::Tls.eap_type());
            return;
        }
        let Ok(req) = TlsData::parse(data) else {
            self.dropped += 1;
            return;
        };
        if req.flags.start {
            let (config, name) = match self.tls_client_config() {
                Ok(c) => c,
                Err(e) => {
                    self.push(Event::TlsFailed(e));
                    self.respond(id, EapType::Nak, &[0]);
                    return;
                }
            };
            match Session::new(
                config,
                name,
                self.config.tls_fragment_size,
                self.config.max_tls_message,
            ) {
                Ok(s) => {
                    self.push(Event::Authenticating {
                        method: Method::Tls,
                    });
                    self.method = MethodState::Tls(Box::new(s));
                }
                Err(e) => {
                    self.push(Event::TlsFailed(e));
                    self.method = MethodState::TlsFailed;
                    return;
                }
            }
        }
        let MethodState::Tls(session) = &mut self.method else {
            // TLS data without a start, or after a failure: nothing to answer with.
            self.dropped += 1;
            return;
        };
        match session.on_request(&req) {
            Ok(Answer::Send(d)) => self.respond(id, EapType::Tls, &d),
            Err(e) => {
                let alert = session.alert();
                self.method = MethodState::TlsFailed;
                self.push(Event::TlsFailed(e));
                // Our alert, or else an empty Response: the server's alert is acknowledged so
                // it sends its Failure (RFC 5216 §2.1.3).
                let data = alert.unwrap_or_else(tls::ack);
                self.respond(id, EapType::Tls, &data);
            }
        }
    }

    fn tls_client_config(&mut self) -> Result<(Arc<ClientConfig>, ServerName<'static>), TlsError> {
        if let Some(c) = &self.tls_config {
            return Ok(c.clone());
        }
        let tls = self.config.tls.as_ref().ok_or(TlsError::NoTrustAnchor)?;
        let built = tls::client_config(tls, self.clock.clone())?;
        self.tls_config = Some(built.clone());
        Ok(built)
    }

    fn on_success(&mut self, id: u8) {
        let Some((last_id, _)) = &self.last else {
            self.dropped += 1;
            return;
        };
        // The Response's identifier, or one more (hostapd and others; wpa_supplicant accepts
        // both).
        if !self.in_conversation() || (id != *last_id && id != last_id.wrapping_add(1)) {
            self.dropped += 1;
            return;
        }
        let method = match &self.method {
            MethodState::None => None,
            MethodState::Md5Answered => Some(Method::Md5),
            MethodState::Tls(s) if s.handshake_done() => Some(Method::Tls),
            // A Success in the middle of TLS, or after our TLS failed, is not believed
            // (RFC 3748 §4.2: a peer only accepts Success when its method allows it).
            MethodState::Tls(_) | MethodState::TlsFailed => {
                self.dropped += 1;
                return;
            }
        };
        self.state = State::Authorized;
        self.pending = None;
        self.reset_conversation();
        self.push(Event::Authorized { method });
    }

    fn on_failure(&mut self) {
        if !self.in_conversation() {
            self.dropped += 1;
            return;
        }
        let until = self.now + self.config.timers.held_period;
        self.state = State::Held { until };
        self.pending = None;
        self.reset_conversation();
        self.push(Event::Failed);
        self.push(Event::Held { until });
    }

    fn on_timeout(&mut self, now: Instant) {
        if self.pending.is_some() {
            return;
        }
        match self.state {
            State::Connecting { count, next } if next <= now => {
                if count < self.config.timers.max_start {
                    self.pending = Some(Pending::Start);
                } else {
                    self.state = State::NoAuthenticator;
                    self.push(Event::NoAuthenticator);
                }
            }
            State::Authenticating { deadline } if deadline <= now => {
                self.push(Event::TimedOut);
                self.start_over();
            }
            State::Held { until } if until <= now => self.start_over(),
            _ => {}
        }
    }

    fn on_command(&mut self, command: Command<'_>) {
        match command {
            Command::Identity(text) => {
                let n = text.chars().count();
                if n == 0 || n > MAX_CREDENTIAL_CHARS {
                    if matches!(self.awaiting, Some(Awaiting::Identity { .. })) {
                        self.push(Event::Prompt(Prompt::Identity));
                    }
                    return;
                }
                self.config.identity = Some(String::from(text));
                if let Some(Awaiting::Identity { id }) = self.awaiting {
                    self.awaiting = None;
                    self.on_identity_request(id);
                }
            }
            Command::Password(text) => {
                if text.chars().count() > MAX_CREDENTIAL_CHARS {
                    if matches!(self.awaiting, Some(Awaiting::Password { .. })) {
                        self.push(Event::Prompt(Prompt::Password));
                    }
                    return;
                }
                self.config.password = Some(Secret::new(text));
                if let Some(Awaiting::Password { id, challenge }) = self.awaiting.take() {
                    self.answer_md5(id, text.as_bytes(), &challenge);
                }
            }
            Command::Logoff => {
                if self.config.mode != Mode::Off {
                    self.reset_conversation();
                    self.pending = Some(Pending::Logoff);
                }
            }
            Command::Restart => {
                if self.config.mode != Mode::Off {
                    self.start_over();
                }
            }
        }
    }
}

impl Machine for Supplicant {
    type Peer = Link;
    type Command<'a> = Command<'a>;
    type Transmit = Transmit;
    type Event = Event;

    fn handle_input(&mut self, input: Input<'_, Link, Command<'_>>) {
        let now = input.now();
        if now > self.now {
            self.now = now;
        }
        self.clock.set(self.now);
        match input {
            Input::Timeout(t) => self.on_timeout(t.max(self.now)),
            Input::Receive(_, link, bytes) => self.on_frame(link, bytes),
            Input::Command(_, c) => self.on_command(c),
            // A frame that could not be sent is sent again by the timers (a Start after
            // startPeriod, a Response when the authenticator repeats its Request).
            Input::TransportFailed(..) | Input::Completed(..) | Input::Closed(..) => {}
        }
    }

    fn poll_output(&mut self) -> Output<Transmit, Event> {
        if let Some(e) = self.events.pop_front() {
            return Output::Event(e);
        }
        if let Some(p) = self.pending.take() {
            let now = self.now;
            let payload = match p {
                Pending::Start => {
                    let count = match self.state {
                        State::Connecting { count, .. } => count.saturating_add(1),
                        _ => 1,
                    };
                    self.state = State::Connecting {
                        count,
                        next: now + self.config.timers.start_period,
                    };
                    eapol::start()
                }
                Pending::Logoff => {
                    self.state = State::LoggedOff;
                    self.push(Event::LoggedOff);
                    eapol::logoff()
                }
                Pending::Response { id, eap } => {
                    if let State::Authenticating { deadline } = &mut self.state {
                        *deadline = now + self.config.timers.auth_period;
                    }
                    let payload = eapol::eap_packet(&eap);
                    self.last = Some((id, eap));
                    payload
                }
            };
            return Output::Transmit(Transmit {
                destination: eapol::PAE_GROUP,
                payload,
            });
        }
        Output::Timeout(self.poll_timeout().unwrap_or(Instant::MAX))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.events.is_empty() || self.pending.is_some() {
            return Some(self.now);
        }
        match self.state {
            State::Connecting { next, .. } => Some(next.max(self.now)),
            State::Authenticating { deadline } if deadline != Instant::MAX => {
                Some(deadline.max(self.now))
            }
            State::Held { until } => Some(until.max(self.now)),
            _ => None,
        }
    }
}
