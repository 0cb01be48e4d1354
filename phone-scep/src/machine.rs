//! The enrollment machine (Sans-IO, ARCHITECTURE.md): GetCACaps → GetCACert (→ GetNextCACert)
//! → PKCSReq or RenewalReq → CertRep, with PENDING polled by CertPoll (spec/scep.md §4–§7).
//!
//! It emits HTTP requests as data and consumes responses; time comes in as
//! [`phone_settings::Instant`], randomness from the caller's RNG.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use der::Encode;
use phone_settings::Instant;
use rand_core::CryptoRng;
use x509_cert::Certificate;
use x509_cert::name::Name;

use crate::backoff::PollBackoff;
use crate::cacert::{CaCertError, CaCerts};
use crate::caps::Caps;
use crate::http::{
    HttpRequest, HttpResponse, Message, Method, Operation, ScepUrl, TransportError, UrlError,
};
use crate::key::{DeviceKey, KeyError, SoftwareKey};
use crate::message::{
    self, BuildError, CertRep, CertRepError, Expectation, FailInfo, MessageType, NONCE_LEN,
    RequestParams,
};
use crate::request::{self, IssuerAndSubject, RequestError, Substitutions};

/// The SCEP parameters (spec/scep.md §2), with the spec's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// MYCERTURL.
    pub url: String,
    /// MYCERTCN (default `$SERIALNO`).
    pub cn: String,
    /// MYCERTDN (default empty).
    pub dn: String,
    /// MYCERTCAID (default `CAIdentifier`).
    pub ca_ident: String,
    /// MYCERTKEYLEN: 1024 or 2048 (default 2048, the only value of 96x1 SIP R7.1+).
    pub key_bits: usize,
    /// MYCERTRENEW: % of the validity after which renewal starts (default 90).
    pub renew_percent: u8,
    /// MYCERTWAIT: true = the boot waits (default), false = polling in the background.
    pub wait: bool,
    /// SCEPPASSWORD (default `$SERIALNO`); sent only when not empty after expansion.
    pub challenge: String,
    /// SCEPENCALG=1: AES-256 content encryption.
    pub aes256: bool,
    /// HTTPPROXY.
    pub http_proxy: String,
    /// HTTPEXCEPTIONDOMAINS.
    pub exception_domains: String,
    /// `$SERIALNO` / `$MACADDR` values.
    pub subst: Substitutions,
    /// Polling of PENDING requests.
    pub poll: PollBackoff,
    /// Whether to ask GetNextCACert when the CA offers it.
    pub get_next_ca_cert: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            url: String::new(),
            cn: String::from("$SERIALNO"),
            dn: String::new(),
            ca_ident: String::from("CAIdentifier"),
            key_bits: 2048,
            renew_percent: 90,
            wait: true,
            challenge: String::from("$SERIALNO"),
            aes256: false,
            http_proxy: String::new(),
            exception_domains: String::new(),
            subst: Substitutions::default(),
            poll: PollBackoff::default(),
            get_next_ca_cert: true,
        }
    }
}

/// Where the enrollment key comes from.
pub enum KeySource {
    /// Generate an RSA key of MYCERTKEYLEN bits from the caller's RNG.
    Generate,
    /// A key the caller holds (e.g. in hardware).
    Provided(Box<dyn DeviceKey>),
}

/// The current certificate, for a RenewalReq (spec/scep.md §7).
pub struct Existing {
    /// The certificate in use.
    pub certificate: Certificate,
    /// Its key.
    pub key: Box<dyn DeviceKey>,
}

/// Why an enrollment ended without a certificate (other than a FAILURE CertRep).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScepError {
    /// MYCERTURL unusable.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The request could not be built from the parameters.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The pkiMessage could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// GetCACert unusable.
    #[error("GetCACert: {0}")]
    CaCert(#[from] CaCertError),
    /// The CertRep was refused.
    #[error("CertRep: {0}")]
    CertRep(#[from] CertRepError),
    /// The server answered with a non-200 status.
    #[error("{operation} answered HTTP {status}")]
    HttpStatus {
        /// The operation.
        operation: &'static str,
        /// The status.
        status: u16,
    },
    /// The caller could not reach the server.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The request stayed PENDING for the whole total wait.
    #[error("request still pending after the total wait of {0:?}")]
    GaveUp(Duration),
}

/// A certificate the CA issued, with what is needed to install it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolled {
    /// The issued certificate.
    pub certificate: Certificate,
    /// Other certificates of the reply.
    pub chain: Vec<Certificate>,
    /// The CA/RA certificates from GetCACert.
    pub ca: CaCerts,
    /// Whether it came from a RenewalReq.
    pub renewal: bool,
}

/// The `SCEP: s secs` title line (Decision 8): seconds since SCEP started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Title {
    /// Seconds since the enrollment started.
    pub secs: u64,
}

impl fmt::Display for Title {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SCEP: {} secs", self.secs)
    }
}

/// What the machine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Show this title (only while the boot waits, MYCERTWAIT=1), once a second.
    Display(Title),
    /// The boot may go on to SIP: at once with MYCERTWAIT=0, at the end otherwise.
    BootMayContinue,
    /// The CA's capabilities.
    Caps(Caps),
    /// The CA certificates from GetNextCACert (rollover).
    NextCaCerts(Box<CaCerts>),
    /// The request is pending; the next CertPoll goes out at this instant.
    Pending {
        /// 0-based poll number.
        attempt: u32,
        /// When the poll is sent.
        next_poll: Instant,
    },
    /// SUCCESS: install this certificate (spec/scep.md §4.5).
    Issued(Box<Enrolled>),
    /// FAILURE: the CA rejected the request (spec/scep.md §6).
    Rejected(FailInfo),
    /// Ended without a certificate for another reason.
    Failed(ScepError),
}

/// Input to [`Enrollment::handle_input`].
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// Time has passed.
    Timeout(Instant),
    /// The response to the last transmitted request.
    Response(Instant, HttpResponse<'a>),
    /// The last transmitted request could not be completed.
    TransportFailed(Instant, &'a TransportError),
}

/// Output of [`Enrollment::poll_output`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this request and feed the response back.
    Transmit(HttpRequest),
    /// Something to report.
    Event(Event),
    /// Nothing to do until this instant (or until a response arrives).
    Timeout(Instant),
}

/// Where the enrollment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Asking GetCACaps / GetCACert / GetNextCACert.
    Discovering,
    /// PKCSReq/RenewalReq sent, waiting for the CertRep.
    Enrolling,
    /// PENDING; polling.
    Pending,
    /// Certificate issued.
    Issued,
    /// FAILURE CertRep.
    Rejected(FailInfo),
    /// Ended by an error.
    Failed,
}

enum HeldKey {
    Software(Box<SoftwareKey>),
    External(Box<dyn DeviceKey>),
}

impl HeldKey {
    fn as_dyn(&self) -> &dyn DeviceKey {
        match self {
            HeldKey::Software(k) => &**k,
            HeldKey::External(k) => &**k,
        }
    }
}

/// One SCEP enrollment.
pub struct Enrollment<R> {
    config: Config,
    rng: R,
    url: ScepUrl,
    key: HeldKey,
    existing: Option<Existing>,
    subject: Name,
    transaction_id: String,
    started: Instant,
    state: State,
    caps: Caps,
    ca: Option<CaCerts>,
    /// Self-signed certificate of the request key (PKCSReq); for RenewalReq the existing one.
    signer_cert: Option<Certificate>,
    renewal: bool,
    sender_nonce: [u8; NONCE_LEN],
    to_send: Option<HttpRequest>,
    awaiting: Option<Operation>,
    poll_attempt: u32,
    pending_since: Option<Instant>,
    poll_at: Option<Instant>,
    display_at: Option<Instant>,
    unix_at_start: Duration,
    events: VecDeque<Event>,
}

impl<R: CryptoRng> Enrollment<R> {
    /// Starts an enrollment at `now`. `unix_now` is the caller's wall-clock time (for the
    /// self-signed certificate and renewal checks). With [`KeySource::Generate`], the RSA key
    /// is generated here from `rng`.
    ///
    /// # Errors
    /// [`ScepError`] when the URL, the subject or the key is unusable.
    pub fn new(
        config: Config,
        key: KeySource,
        existing: Option<Existing>,
        mut rng: R,
        now: Instant,
        unix_now: Duration,
    ) -> Result<Self, ScepError> {
        let url = ScepUrl::parse(&config.url)?;
        let subject = request::subject_name(&config.dn, &config.cn, &config.subst)?;
        let key = match key {
            KeySource::Generate => {
                HeldKey::Software(Box::new(SoftwareKey::generate(&mut rng, config.key_bits)?))
            }
            KeySource::Provided(k) => HeldKey::External(k),
        };
        let transaction_id = request::transaction_id(key.as_dyn())?;
        let mut me = Enrollment {
            url,
            key,
            existing,
            subject,
            transaction_id,
            started: now,
            state: State::Discovering,
            caps: Caps::default(),
            ca: None,
            signer_cert: None,
            renewal: false,
            sender_nonce: [0; NONCE_LEN],
            to_send: None,
            awaiting: None,
            poll_attempt: 0,
            pending_since: None,
            poll_at: None,
            display_at: None,
            unix_at_start: unix_now,
            events: VecDeque::new(),
            rng,
            config,
        };
        if me.config.wait {
            me.events.push_back(Event::Display(Title { secs: 0 }));
            me.display_at = Some(now + Duration::from_secs(1));
        } else {
            me.events.push_back(Event::BootMayContinue);
        }
        me.queue(Operation::GetCaCaps, Method::Get, None);
        Ok(me)
    }

    /// The state, which can be queried at any time.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// The transactionID of this enrollment.
    #[must_use]
    pub fn transaction_id(&self) -> &str {
        &self.transaction_id
    }

    /// The requested subject.
    #[must_use]
    pub fn subject(&self) -> &Name {
        &self.subject
    }

    /// The generated key (to store with the certificate); `None` for a provided key.
    #[must_use]
    pub fn software_key(&self) -> Option<&SoftwareKey> {
        match &self.key {
            HeldKey::Software(k) => Some(&**k),
            HeldKey::External(_) => None,
        }
    }

    /// Whether the boot must still wait (MYCERTWAIT=1 and not finished).
    #[must_use]
    pub fn blocks_boot(&self) -> bool {
        self.config.wait && !self.is_finished()
    }

    /// Whether the enrollment has ended.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(
            self.state,
            State::Issued | State::Rejected(_) | State::Failed
        )
    }

    /// The next output. Drain until [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(e) = self.events.pop_front() {
            return Output::Event(e);
        }
        if let Some(req) = self.to_send.take() {
            // State changes only once the caller has taken the transmit.
            self.awaiting = Some(req.operation);
            return Output::Transmit(req);
        }
        let next = [self.poll_at, self.display_at].into_iter().flatten().min();
        Output::Timeout(next.unwrap_or(Instant::MAX))
    }

    /// Feeds time, a response, or a transport failure.
    pub fn handle_input(&mut self, input: Input<'_>) {
        match input {
            Input::Timeout(now) => self.on_timeout(now),
            Input::Response(now, resp) => {
                self.on_timeout(now);
                if let Some(op) = self.awaiting.take() {
                    self.on_response(now, op, resp);
                }
            }
            Input::TransportFailed(now, err) => {
                self.on_timeout(now);
                if let Some(op) = self.awaiting.take() {
                    match op {
                        // GetNextCACert is optional: go on to enroll.
                        Operation::GetNextCaCert => self.enroll(),
                        _ => self.fail(ScepError::Transport(err.clone())),
                    }
                }
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        if let Some(at) = self.display_at
            && now >= at
            && self.blocks_boot()
        {
            let secs = now.saturating_duration_since(self.started).as_secs();
            self.events.push_back(Event::Display(Title { secs }));
            self.display_at = Some(self.started + Duration::from_secs(secs + 1));
        }
        if let Some(at) = self.poll_at
            && now >= at
            && self.state == State::Pending
            && self.awaiting.is_none()
            && self.to_send.is_none()
        {
            self.poll_at = None;
            self.send_poll();
        }
    }

    fn queue(&mut self, op: Operation, method: Method, message: Option<Message<'_>>) {
        self.to_send = Some(HttpRequest::new(
            &self.url,
            op,
            method,
            message,
            &self.config.http_proxy,
            &self.config.exception_domains,
        ));
    }

    fn finish(&mut self, state: State, event: Event) {
        self.state = state;
        self.poll_at = None;
        self.display_at = None;
        self.to_send = None;
        self.events.push_back(event);
        if self.config.wait {
            self.events.push_back(Event::BootMayContinue);
        }
    }

    fn fail(&mut self, e: ScepError) {
        self.finish(State::Failed, Event::Failed(e));
    }

    fn on_response(&mut self, now: Instant, op: Operation, resp: HttpResponse<'_>) {
        match op {
            Operation::GetCaCaps => {
                // RFC 8894 §3.5.2: a CA that cannot answer GetCACaps gets the defaults.
                self.caps = if resp.status == 200 {
                    Caps::parse(resp.body)
                } else {
                    Caps::default()
                };
                self.events.push_back(Event::Caps(self.caps));
                let ident = self.config.ca_ident.clone();
                let msg = (!ident.is_empty()).then_some(Message::Text(&ident));
                self.queue(Operation::GetCaCert, Method::Get, msg);
            }
            Operation::GetCaCert => {
                if resp.status != 200 {
                    return self.fail(ScepError::HttpStatus {
                        operation: op.name(),
                        status: resp.status,
                    });
                }
                match CaCerts::parse(resp.body) {
                    Ok(ca) => {
                        self.ca = Some(ca);
                        if self.caps.get_next_ca_cert && self.config.get_next_ca_cert {
                            let ident = self.config.ca_ident.clone();
                            let msg = (!ident.is_empty()).then_some(Message::Text(&ident));
                            self.queue(Operation::GetNextCaCert, Method::Get, msg);
                        } else {
                            self.enroll();
                        }
                    }
                    Err(e) => self.fail(e.into()),
                }
            }
            Operation::GetNextCaCert => {
                if resp.status == 200
                    && let Some(ca) = &self.ca
                    && let Ok(next) = message::parse_next_ca_certs(resp.body, ca)
                {
                    self.events.push_back(Event::NextCaCerts(Box::new(next)));
                }
                self.enroll();
            }
            Operation::PkiOperation => {
                if resp.status != 200 {
                    return self.fail(ScepError::HttpStatus {
                        operation: op.name(),
                        status: resp.status,
                    });
                }
                self.on_cert_rep(now, resp.body);
            }
        }
    }

    /// The existing certificate is usable for a RenewalReq: the CA offers Renewal and the
    /// certificate is within its validity at the wall-clock time (spec/scep.md §7).
    fn renewal_possible(&self) -> bool {
        let Some(ex) = &self.existing else {
            return false;
        };
        let v = ex.certificate.tbs_certificate().validity();
        let now = self.unix_at_start;
        self.caps.renewal
            && v.not_before.to_unix_duration() <= now
            && now < v.not_after.to_unix_duration()
    }

    fn enroll(&mut self) {
        self.state = State::Enrolling;
        self.renewal = self.renewal_possible();
        let signer_cert = if self.renewal {
            self.existing.as_ref().map(|e| e.certificate.clone())
        } else {
            let mut serial = [0u8; 8];
            self.rng.fill_bytes(&mut serial);
            match request::self_signed_cert(
                self.subject.clone(),
                self.key.as_dyn(),
                &serial,
                self.unix_at_start,
            ) {
                Ok(c) => Some(c),
                Err(e) => return self.fail(e.into()),
            }
        };
        self.signer_cert = signer_cert;
        let challenge = self.config.subst.expand(&self.config.challenge);
        let csr =
            request::build_csr(self.subject.clone(), self.key.as_dyn(), &challenge).and_then(|c| {
                c.to_der()
                    .map_err(|e| RequestError::Build(alloc::string::ToString::to_string(&e)))
            });
        match csr {
            Ok(csr) => {
                let mt = if self.renewal {
                    MessageType::RenewalReq
                } else {
                    MessageType::PkcsReq
                };
                self.send_pki(mt, &csr);
            }
            Err(e) => self.fail(e.into()),
        }
    }

    fn send_poll(&mut self) {
        let Some(ca) = &self.ca else { return };
        let ias = IssuerAndSubject {
            issuer: ca.ca_cert().tbs_certificate().subject().clone(),
            subject: self.subject.clone(),
        };
        match ias.to_der() {
            Ok(der) => self.send_pki(MessageType::CertPoll, &der),
            Err(e) => self.fail(ScepError::Build(BuildError::Der(e))),
        }
    }

    fn send_pki(&mut self, mt: MessageType, content: &[u8]) {
        let (Some(ca), Some(signer_cert)) = (&self.ca, &self.signer_cert) else {
            return;
        };
        // RFC 8894 §3.2.1.5: a fresh senderNonce for every message.
        self.rng.fill_bytes(&mut self.sender_nonce);
        let signer_key: &dyn DeviceKey = match (&self.existing, self.renewal) {
            (Some(ex), true) => &*ex.key,
            _ => self.key.as_dyn(),
        };
        let params = RequestParams {
            message_type: mt,
            content,
            signer_cert,
            signer_key,
            recipient: ca.encryption_cert(),
            cipher: self.caps.content_cipher(self.config.aes256),
            digest: self.caps.digest(),
            transaction_id: &self.transaction_id,
            sender_nonce: &self.sender_nonce,
        };
        match message::build_request(&params, &mut self.rng) {
            Ok(der) => {
                let method = if self.caps.use_post() {
                    Method::Post
                } else {
                    Method::Get
                };
                self.queue(Operation::PkiOperation, method, Some(Message::Binary(&der)));
            }
            Err(e) => self.fail(e.into()),
        }
    }

    fn on_cert_rep(&mut self, now: Instant, body: &[u8]) {
        let (Some(ca), Some(signer_cert)) = (&self.ca, &self.signer_cert) else {
            return;
        };
        let our_key: &dyn DeviceKey = match (&self.existing, self.renewal) {
            (Some(ex), true) => &*ex.key,
            _ => self.key.as_dyn(),
        };
        let exp = Expectation {
            transaction_id: &self.transaction_id,
            sender_nonce: &self.sender_nonce,
            ca,
            our_cert: signer_cert,
            our_key,
            requested_key: self.key.as_dyn().public_key(),
        };
        match message::parse_cert_rep(body, &exp) {
            Ok(CertRep::Success(issued)) => {
                let enrolled = Enrolled {
                    certificate: issued.certificate,
                    chain: issued.chain,
                    ca: ca.clone(),
                    renewal: self.renewal,
                };
                self.finish(State::Issued, Event::Issued(Box::new(enrolled)));
            }
            Ok(CertRep::Failure(fi)) => self.finish(State::Rejected(fi), Event::Rejected(fi)),
            Ok(CertRep::Pending) => {
                let since = *self.pending_since.get_or_insert(now);
                let deadline = since + self.config.poll.total_wait;
                if now >= deadline {
                    return self.fail(ScepError::GaveUp(self.config.poll.total_wait));
                }
                let interval = self.config.poll.interval(self.poll_attempt, &mut self.rng);
                let at = (now + interval).min(deadline);
                self.events.push_back(Event::Pending {
                    attempt: self.poll_attempt,
                    next_poll: at,
                });
                self.poll_attempt = self.poll_attempt.saturating_add(1);
                self.poll_at = Some(at);
                self.state = State::Pending;
            }
            Err(e) => self.fail(e.into()),
        }
    }
}

/// When renewal starts: `notBefore + MYCERTRENEW/100 × (notAfter − notBefore)`, as a duration
/// since the Unix epoch (spec/scep.md §7). `percent` is clamped to 1–99.
#[must_use]
pub fn renewal_time(cert: &Certificate, percent: u8) -> Duration {
    let v = cert.tbs_certificate().validity();
    let nb = v.not_before.to_unix_duration();
    let na = v.not_after.to_unix_duration();
    let life = na.saturating_sub(nb);
    let pct = u128::from(percent.clamp(1, 99));
    let micros = life.as_micros() * pct / 100;
    nb + Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
}

/// Whether a certificate is due for renewal at wall-clock `unix_now` (spec/scep.md §7).
#[must_use]
pub fn renewal_due(cert: &Certificate, percent: u8, unix_now: Duration) -> bool {
    unix_now >= renewal_time(cert, percent)
}
