//! The enrollment machine (Sans-IO, ARCHITECTURE.md): GetCACaps → GetCACert (→ GetNextCACert)
//! → PKCSReq or RenewalReq → CertRep, with PENDING polled by CertPoll (spec/scep.md §4–§7).
//!
//! It speaks [`phone_sansio::Machine`]: its transmits are the connection transmits of
//! [`phone_http`] (`Connect`, `StartTls`, `Send`, `Close` on a [`ConnId`]), one
//! [`phone_http::HttpClient`] per SCEP request, each on a fresh connection, with HTTPPROXY and
//! HTTPEXCEPTIONDOMAINS applied by the client. Time comes in with every input, randomness
//! from the caller's RNG.
//!
//! # Commit on take
//!
//! A request is built when the caller takes its first transmit (the `Connect`): that is when
//! the connection number is used, the senderNonce drawn, the pkiMessage signed and encrypted,
//! the self-signed certificate made, the CertPoll counted and the poll timer consumed. A
//! caller that polls nothing moves none of them. A taken request that fails in transport
//! ([`Input::TransportFailed`], a reset, a timeout) is
//! retried per [`RetryPolicy`] on a new connection with the same transactionID and a fresh
//! senderNonce (RFC 8894 §3.2.1.1, §3.2.1.5); facts about the old connection are ignored.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::convert::Infallible;
use core::fmt;
use core::time::Duration;

use der::Encode;
use phone_http::{
    ConnId, Failure, HttpClient, HttpConfig, HttpLimits, Outcome, Response, Transmit, Url, UrlError,
};
use phone_sansio::{Input, Instant, Machine, Output};
use rand_core::CryptoRng;
use x509_cert::Certificate;
use x509_cert::name::Name;

use crate::backoff::{MIN_POLL, PollBackoff, RetryPolicy};
use crate::cacert::{CaCertError, CaCerts, MAX_CA_BODY};
use crate::caps::Caps;
use crate::http::{self, Message, Operation, ResponseError};
use crate::key::{DeviceKey, KeyError, SoftwareKey};
use crate::message::{
    self, BuildError, CertRep, CertRepError, Expectation, FailInfo, MAX_CERT_REP, MessageType,
    NONCE_LEN, RequestParams,
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
    /// HTTPPROXY (spec/scep.md §3), applied by [`phone_http::HttpClient`].
    pub http_proxy: String,
    /// HTTPEXCEPTIONDOMAINS.
    pub exception_domains: String,
    /// Whether an `https` SCEP server's certificate must match the URL's host (TLSSRVRID).
    pub check_identity: bool,
    /// Bounds on each HTTP exchange (default: [`Config::DEFAULT_HTTP_TIMEOUT`], bodies up to
    /// 64 KiB, the largest CA bundle or CertRep read).
    pub http_limits: HttpLimits,
    /// Retrying a request after a transport failure or a busy server.
    pub retry: RetryPolicy,
    /// `$SERIALNO` / `$MACADDR` values.
    pub subst: Substitutions,
    /// Polling of PENDING requests.
    pub poll: PollBackoff,
    /// Whether to ask GetNextCACert when the CA offers it.
    pub get_next_ca_cert: bool,
}

impl Config {
    /// The time one HTTP exchange may take, connect to last byte, before it counts as a
    /// transport failure.
    pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(20);
}

impl Default for Config {
    fn default() -> Self {
        let mut http_limits = HttpLimits::default();
        http_limits.max_body = MAX_CERT_REP.max(MAX_CA_BODY);
        http_limits.timeout = Self::DEFAULT_HTTP_TIMEOUT;
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
            check_identity: true,
            http_limits,
            retry: RetryPolicy::default(),
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

/// Why an enrollment ended without a certificate (other than a FAILURE CertRep), or why a
/// request is retried.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScepError {
    /// MYCERTURL unusable.
    #[error("SCEP URL: {0}")]
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
    /// The server answered with a status other than 200.
    #[error("{operation} answered HTTP {status}")]
    HttpStatus {
        /// The operation.
        operation: Operation,
        /// The status.
        status: u16,
    },
    /// The answer's `Content-Type` does not fit the operation ([`http::content_type_fits`]).
    #[error("{operation} answered with Content-Type {content_type:?}")]
    ContentType {
        /// The operation.
        operation: Operation,
        /// The field as received.
        content_type: Option<String>,
    },
    /// The HTTP exchange failed: the server could not be reached, the connection broke or
    /// timed out, or the answer was not acceptable HTTP.
    #[error("{}", http_message(*operation, failure))]
    Http {
        /// The operation.
        operation: Operation,
        /// Why, as `phone_http` saw it.
        failure: Failure,
    },
    /// The request stayed PENDING for the whole total wait.
    #[error("request still pending after the total wait of {0:?}")]
    GaveUp(Duration),
}

fn http_message(operation: Operation, failure: &Failure) -> String {
    match failure {
        Failure::Connect => alloc::format!("cannot connect to the SCEP server ({operation})"),
        f => alloc::format!("{operation} to the SCEP server failed: {f}"),
    }
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
    /// Show this title (only while the boot waits, MYCERTWAIT=1), once a second, driven by
    /// the machine's own deadline.
    Display(Title),
    /// The boot may go on to SIP: at once with MYCERTWAIT=0, at the end otherwise.
    BootMayContinue,
    /// The CA's capabilities.
    Caps(Caps),
    /// The CA certificates from GetNextCACert (rollover).
    NextCaCerts(Box<CaCerts>),
    /// The request is pending; the next CertPoll goes out at this instant.
    Pending {
        /// 0-based count of PENDING answers before this one.
        attempt: u32,
        /// When the poll is sent.
        next_poll: Instant,
    },
    /// A request failed in transport or met a busy server; it goes out again at `at`.
    Retry {
        /// The operation.
        operation: Operation,
        /// 1-based retry number.
        retry: u32,
        /// When the request goes out again.
        at: Instant,
        /// What went wrong ([`ScepError::Http`] or [`ScepError::HttpStatus`]).
        error: ScepError,
    },
    /// SUCCESS: install this certificate (spec/scep.md §4.5).
    Issued(Box<Enrolled>),
    /// FAILURE: the CA rejected the request (spec/scep.md §6).
    Rejected(FailInfo),
    /// Ended without a certificate for another reason.
    Failed(ScepError),
}

/// The log line.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |t: &Instant| t.since_origin().as_secs_f64();
        match self {
            Event::Display(t) => write!(f, "{t}"),
            Event::BootMayContinue => f.write_str("SCEP: the boot may continue"),
            Event::Caps(c) => write!(f, "SCEP: CA capabilities: {c}"),
            Event::NextCaCerts(n) => write!(
                f,
                "SCEP: GetNextCACert delivered {} certificate(s)",
                n.certs.len()
            ),
            Event::Pending { attempt, next_poll } => write!(
                f,
                "SCEP: request pending (answer {}), next poll at {:.3} s",
                attempt + 1,
                secs(next_poll)
            ),
            Event::Retry {
                operation,
                retry,
                at,
                error,
            } => write!(
                f,
                "SCEP: {error}; {operation} retry {retry} at {:.3} s",
                secs(at)
            ),
            Event::Issued(e) => write!(
                f,
                "SCEP: certificate issued for {}{}",
                e.certificate.tbs_certificate().subject(),
                if e.renewal { " (renewal)" } else { "" }
            ),
            Event::Rejected(fi) => write!(f, "SCEP: the CA rejected the request: {fi}"),
            Event::Failed(e) => write!(f, "SCEP: {e}"),
        }
    }
}

/// Where the enrollment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Asking GetCACaps / GetCACert / GetNextCACert.
    Discovering,
    /// PKCSReq/RenewalReq decided or sent, waiting for the CertRep.
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

/// One SCEP request of the enrollment, before it is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    GetCaCaps,
    GetCaCert,
    GetNextCaCert,
    /// PKCSReq or RenewalReq.
    Enroll,
    /// CertPoll.
    Poll,
}

impl Step {
    fn operation(self) -> Operation {
        match self {
            Step::GetCaCaps => Operation::GetCaCaps,
            Step::GetCaCert => Operation::GetCaCert,
            Step::GetNextCaCert => Operation::GetNextCaCert,
            Step::Enroll | Step::Poll => Operation::PkiOperation,
        }
    }
}

/// A request to make once `at` has come and the caller polls.
#[derive(Clone, Copy, Debug)]
struct Queued {
    step: Step,
    /// 0 for the first exchange, then the retry number.
    attempt: u32,
    at: Instant,
}

/// A request in flight on its own connection.
struct Exchange {
    step: Step,
    attempt: u32,
    client: HttpClient,
}

/// One SCEP enrollment, a [`phone_sansio::Machine`] (see the module docs).
pub struct Enrollment<R> {
    config: Config,
    http: HttpConfig,
    rng: R,
    url: Url,
    key: HeldKey,
    existing: Option<Existing>,
    subject: Name,
    transaction_id: String,
    started: Instant,
    /// The caller's latest time.
    now: Instant,
    state: State,
    caps: Caps,
    ca: Option<CaCerts>,
    /// Self-signed certificate of the request key (PKCSReq) or the existing one (RenewalReq);
    /// made when the first PKCSReq is taken.
    signer_cert: Option<Certificate>,
    /// The DER CSR, made with the signer certificate.
    csr: Option<Vec<u8>>,
    renewal: bool,
    /// The senderNonce of the last pkiMessage taken: the reply must carry it back.
    sender_nonce: [u8; NONCE_LEN],
    queued: Option<Queued>,
    exchange: Option<Exchange>,
    next_conn: ConnId,
    /// PENDING answers so far.
    pending_answers: u32,
    /// CertPolls taken so far.
    polls_sent: u32,
    pending_since: Option<Instant>,
    display_at: Option<Instant>,
    unix_at_start: Duration,
    events: VecDeque<Event>,
}

impl<R: CryptoRng> Enrollment<R> {
    /// Starts an enrollment at `now` (constructor order: configuration, what an earlier run
    /// kept — the key and the current certificate —, the RNG, the time). `unix_now` is the
    /// caller's wall-clock time (for the self-signed certificate and renewal checks). With
    /// [`KeySource::Generate`], the RSA key is generated here from `rng`. Nothing goes out
    /// until the caller polls: the first transmit is GetCACaps' `Connect`.
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
        let url = http::scep_url(&config.url)?;
        let subject = request::subject_name(&config.dn, &config.cn, &config.subst)?;
        let key = match key {
            KeySource::Generate => {
                HeldKey::Software(Box::new(SoftwareKey::generate(&mut rng, config.key_bits)?))
            }
            KeySource::Provided(k) => HeldKey::External(k),
        };
        let transaction_id = request::transaction_id(key.as_dyn())?;
        let mut http = HttpConfig::default();
        http.limits = config.http_limits.clone();
        http.http_proxy = config.http_proxy.clone();
        http.exception_domains = config.exception_domains.clone();
        http.check_identity = config.check_identity;
        let mut me = Enrollment {
            http,
            url,
            key,
            existing,
            subject,
            transaction_id,
            started: now,
            now,
            state: State::Discovering,
            caps: Caps::default(),
            ca: None,
            signer_cert: None,
            csr: None,
            renewal: false,
            sender_nonce: [0; NONCE_LEN],
            queued: Some(Queued {
                step: Step::GetCaCaps,
                attempt: 0,
                at: now,
            }),
            exchange: None,
            next_conn: 1,
            pending_answers: 0,
            polls_sent: 0,
            pending_since: None,
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
        Ok(me)
    }

    /// The state, which can be queried at any time.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// The transactionID of this enrollment (the same for every request of it).
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

    /// The connection of the request in flight, if any.
    #[must_use]
    pub fn conn(&self) -> Option<ConnId> {
        self.exchange.as_ref().map(|e| e.client.conn())
    }

    /// CertPolls taken so far.
    #[must_use]
    pub fn polls_sent(&self) -> u32 {
        self.polls_sent
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

    /// The title tick: once a second while the boot waits.
    fn tick(&mut self) {
        if let Some(at) = self.display_at
            && self.now >= at
            && self.blocks_boot()
        {
            let secs = self.now.saturating_duration_since(self.started).as_secs();
            self.events.push_back(Event::Display(Title { secs }));
            self.display_at = Some(self.started + Duration::from_secs(secs + 1));
        }
    }

    fn queue(&mut self, step: Step, attempt: u32, at: Instant) {
        self.queued = Some(Queued { step, attempt, at });
    }

    fn finish(&mut self, state: State, event: Event) {
        self.state = state;
        self.queued = None;
        self.display_at = None;
        self.events.push_back(event);
        if self.config.wait {
            self.events.push_back(Event::BootMayContinue);
        }
    }

    fn fail(&mut self, e: ScepError) {
        self.finish(State::Failed, Event::Failed(e));
    }

    /// Takes a due request: builds it and opens its exchange. This is the commit point.
    fn start(&mut self, q: Queued) -> Result<(), ScepError> {
        let op = q.step.operation();
        let request = match q.step {
            Step::GetCaCaps => http::request(&self.url, op, None, false),
            Step::GetCaCert | Step::GetNextCaCert => {
                let ident = &self.config.ca_ident;
                let msg = (!ident.is_empty()).then_some(Message::Text(ident));
                http::request(&self.url, op, msg, false)
            }
            Step::Enroll => {
                let (csr, mt) = self.prepare_enroll()?;
                let der = self.build_pki(mt, &csr)?;
                http::request(
                    &self.url,
                    op,
                    Some(Message::Binary(&der)),
                    self.caps.use_post(),
                )
            }
            Step::Poll => {
                let ca = self
                    .ca
                    .as_ref()
                    .ok_or(ScepError::Build(BuildError::RecipientKey))?;
                let ias = IssuerAndSubject {
                    issuer: ca.ca_cert().tbs_certificate().subject().clone(),
                    subject: self.subject.clone(),
                };
                let content = ias.to_der().map_err(BuildError::Der)?;
                let der = self.build_pki(MessageType::CertPoll, &content)?;
                self.polls_sent = self.polls_sent.saturating_add(1);
                http::request(
                    &self.url,
                    op,
                    Some(Message::Binary(&der)),
                    self.caps.use_post(),
                )
            }
        };
        let conn = self.next_conn;
        self.next_conn = self.next_conn.wrapping_add(1);
        self.exchange = Some(Exchange {
            step: q.step,
            attempt: q.attempt,
            client: HttpClient::new(&self.http, request, conn, self.now),
        });
        Ok(())
    }

    /// The signer certificate and the CSR, made once per enrollment (the first PKCSReq taken).
    fn prepare_enroll(&mut self) -> Result<(Vec<u8>, MessageType), ScepError> {
        let mt = if self.renewal {
            MessageType::RenewalReq
        } else {
            MessageType::PkcsReq
        };
        if let Some(csr) = &self.csr {
            return Ok((csr.clone(), mt));
        }
        let signer_cert = if self.renewal {
            self.existing.as_ref().map(|e| e.certificate.clone())
        } else {
            let mut serial = [0u8; 8];
            self.rng.fill_bytes(&mut serial);
            Some(request::self_signed_cert(
                self.subject.clone(),
                self.key.as_dyn(),
                &serial,
                self.unix_at_start,
            )?)
        };
        let challenge = self.config.subst.expand(&self.config.challenge);
        let csr = request::build_csr(self.subject.clone(), self.key.as_dyn(), &challenge)?
            .to_der()
            .map_err(|e| RequestError::Build(e.to_string()))?;
        self.signer_cert = signer_cert;
        self.csr = Some(csr.clone());
        Ok((csr, mt))
    }

    /// A pkiMessage with a fresh senderNonce (RFC 8894 §3.2.1.5).
    fn build_pki(&mut self, mt: MessageType, content: &[u8]) -> Result<Vec<u8>, ScepError> {
        let (Some(ca), Some(signer_cert)) = (&self.ca, &self.signer_cert) else {
            return Err(ScepError::Build(BuildError::RecipientKey));
        };
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
        Ok(message::build_request(&params, &mut self.rng)?)
    }

    /// Schedules another exchange for `step` if the policy allows; reports it.
    fn retry(
        &mut self,
        step: Step,
        attempt: u32,
        retry_after: Option<Duration>,
        error: ScepError,
    ) -> Result<(), ScepError> {
        let policy = self.config.retry;
        if !policy.allows_another(attempt) {
            return Err(error);
        }
        let retry = attempt.saturating_add(1);
        let at = self.now.saturating_add(policy.delay(retry, retry_after));
        self.queue(step, retry, at);
        self.events.push_back(Event::Retry {
            operation: step.operation(),
            retry,
            at,
            error,
        });
        Ok(())
    }

    fn on_outcome(&mut self, step: Step, attempt: u32, outcome: Outcome) {
        let operation = step.operation();
        if step == Step::GetNextCaCert {
            // GetNextCACert is optional: whatever happens, go on to enroll.
            if let Outcome::Response(r) = outcome
                && http::check_response(operation, &r).is_ok()
                && let Some(ca) = &self.ca
                && let Ok(next) = message::parse_next_ca_certs(&r.body, ca)
            {
                self.events.push_back(Event::NextCaCerts(Box::new(next)));
            }
            self.queue_enroll();
            return;
        }
        let result = match outcome {
            Outcome::Failed(failure) => {
                let error = ScepError::Http { operation, failure };
                let transient = matches!(
                    &error,
                    ScepError::Http {
                        failure: Failure::Connect
                            | Failure::Reset
                            | Failure::Timeout
                            | Failure::EarlyClose { .. },
                        ..
                    }
                );
                if transient {
                    self.retry(step, attempt, None, error)
                } else {
                    Err(error)
                }
            }
            Outcome::Response(r) if http::is_temporary(r.status) => {
                let error = ScepError::HttpStatus {
                    operation,
                    status: r.status,
                };
                match self.retry(step, attempt, r.retry_after, error) {
                    // RFC 8894 §3.5.2: a CA that cannot answer GetCACaps gets the defaults.
                    Err(_) if step == Step::GetCaCaps => self.on_response(step, &r),
                    other => other,
                }
            }
            Outcome::Response(r) => self.on_response(step, &r),
        };
        if let Err(e) = result {
            self.fail(e);
        }
    }

    fn on_response(&mut self, step: Step, r: &Response) -> Result<(), ScepError> {
        let operation = step.operation();
        let checked = http::check_response(operation, r).map_err(|e| match e {
            ResponseError::Status(status) => ScepError::HttpStatus { operation, status },
            ResponseError::ContentType(content_type) => ScepError::ContentType {
                operation,
                content_type,
            },
        });
        match step {
            Step::GetCaCaps => {
                // RFC 8894 §3.5.2: a CA that cannot answer GetCACaps gets the defaults.
                self.caps = if checked.is_ok() {
                    Caps::parse(&r.body)
                } else {
                    Caps::default()
                };
                self.events.push_back(Event::Caps(self.caps));
                self.queue(Step::GetCaCert, 0, self.now);
                Ok(())
            }
            Step::GetCaCert => {
                checked?;
                self.ca = Some(CaCerts::parse(&r.body)?);
                if self.caps.get_next_ca_cert && self.config.get_next_ca_cert {
                    self.queue(Step::GetNextCaCert, 0, self.now);
                } else {
                    self.queue_enroll();
                }
                Ok(())
            }
            // Read in on_outcome: optional, never an error.
            Step::GetNextCaCert => Ok(()),
            Step::Enroll | Step::Poll => {
                checked?;
                self.on_cert_rep(r)
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

    fn queue_enroll(&mut self) {
        self.state = State::Enrolling;
        self.renewal = self.renewal_possible();
        self.queue(Step::Enroll, 0, self.now);
    }

    fn on_cert_rep(&mut self, r: &Response) -> Result<(), ScepError> {
        let (Some(ca), Some(signer_cert)) = (&self.ca, &self.signer_cert) else {
            return Err(ScepError::Build(BuildError::RecipientKey));
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
        match message::parse_cert_rep(&r.body, &exp)? {
            CertRep::Success(issued) => {
                let enrolled = Enrolled {
                    certificate: issued.certificate,
                    chain: issued.chain,
                    ca: ca.clone(),
                    renewal: self.renewal,
                };
                self.finish(State::Issued, Event::Issued(Box::new(enrolled)));
            }
            CertRep::Failure(fi) => self.finish(State::Rejected(fi), Event::Rejected(fi)),
            CertRep::Pending => {
                let now = self.now;
                let since = *self.pending_since.get_or_insert(now);
                let deadline = since.saturating_add(self.config.poll.total_wait);
                if now >= deadline {
                    return Err(ScepError::GaveUp(self.config.poll.total_wait));
                }
                let interval = self.config.poll.interval_after(
                    self.pending_answers,
                    r.retry_after,
                    &mut self.rng,
                );
                let at = now.saturating_add(interval).min(deadline);
                // The last poll is clamped to the total wait, but never closer than the floor.
                if at.saturating_duration_since(now) < MIN_POLL {
                    return Err(ScepError::GaveUp(self.config.poll.total_wait));
                }
                self.events.push_back(Event::Pending {
                    attempt: self.pending_answers,
                    next_poll: at,
                });
                self.pending_answers = self.pending_answers.saturating_add(1);
                self.queue(Step::Poll, 0, at);
                self.state = State::Pending;
            }
        }
        Ok(())
    }
}

impl<R: CryptoRng> Machine for Enrollment<R> {
    type Peer = ConnId;
    type Command<'a> = Infallible;
    type Transmit = Transmit;
    type Event = Event;

    /// Feeds time, bytes, a close or a transport failure of the request's connection.
    /// Facts about any other connection (an earlier request's) are ignored.
    fn handle_input(&mut self, input: Input<'_, ConnId, Infallible>) {
        let now = input.now();
        if now > self.now {
            self.now = now;
        }
        self.tick();
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        let conn = ex.client.conn();
        match input {
            Input::Command(_, never) => match never {},
            Input::Receive(_, c, _)
            | Input::Completed(_, c)
            | Input::Closed(_, c)
            | Input::TransportFailed(_, c)
                if c == conn =>
            {
                ex.client.handle_input(input);
            }
            // Time passes for the exchange whatever the input (its deadline).
            _ => ex.client.handle_input(Input::Timeout(self.now)),
        }
    }

    /// The next output: events first, then the transmits of the request in flight, then a
    /// due request is taken (built, its connection opened); then the next deadline.
    fn poll_output(&mut self) -> Output<Transmit, Event> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Output::Event(e);
            }
            if let Some(ex) = self.exchange.as_mut() {
                match ex.client.poll_output() {
                    Output::Transmit(t) => return Output::Transmit(t),
                    Output::Event(phone_http::Event::Done(outcome)) => {
                        let (step, attempt) = (ex.step, ex.attempt);
                        self.exchange = None;
                        self.on_outcome(step, attempt, outcome);
                        continue;
                    }
                    Output::Event(_) => continue,
                    Output::Timeout(_) => {}
                }
            } else if let Some(q) = self.queued
                && q.at <= self.now
                && !self.is_finished()
            {
                self.queued = None;
                if let Err(e) = self.start(q) {
                    self.fail(e);
                }
                continue;
            }
            return Output::Timeout(self.poll_timeout().unwrap_or(Instant::MAX));
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.events.is_empty() {
            return Some(self.now);
        }
        let work = match (&self.exchange, &self.queued) {
            (Some(ex), _) => ex.client.poll_timeout(),
            (None, Some(q)) if !self.is_finished() => Some(q.at),
            (None, _) => None,
        };
        let display = self.display_at.filter(|_| self.blocks_boot());
        let next = match (work, display) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Anything due counts as now.
        next.map(|t| t.max(self.now))
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
