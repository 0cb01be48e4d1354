//! EAP-TLS (RFC 5216; TLS 1.3 per RFC 9190) on rustls' unbuffered client API, which needs no
//! std: the supplicant hands the reassembled TLS bytes of each server flight to rustls and
//! fragments what rustls gives back. No TLS or crypto of our own: ring through rustls.
//!
//! Fragments (RFC 5216 §2.1.5): a server message with M set is acknowledged by an empty
//! EAP-TLS Response; ours longer than the fragment size go out with L on the first fragment and
//! M on all but the last, each after the server's empty Request acknowledging the one before.
//! Reassembly is bounded by `Config::max_tls_message`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use phone_sansio::Instant;
use rustls::client::UnbufferedClientConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::unbuffered::{AppDataRecord, ConnectionState, EncodeError, UnbufferedStatus};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::config::TlsConfig;
use crate::eap::{TlsData, TlsFlags};

/// The name given to rustls when no server name is configured (never matched: see
/// [`ChainOnly`]).
const ANY_SERVER: &str = "eap-server.invalid";
/// rustls state changes handled per server flight (a flight takes a handful).
const MAX_STEPS: usize = 64;
/// The largest TLS output rustls may ask a buffer for at once.
const MAX_ENCODE: usize = 64 * 1024;

/// Why EAP-TLS failed on the phone's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The TLS configuration could not be built (a key rustls cannot use, a bad certificate).
    #[error("EAP-TLS configuration: {0}")]
    Config(String),
    /// No trusted certificate to verify the server with.
    #[error("EAP-TLS: no trusted certificate installed")]
    NoTrustAnchor,
    /// rustls refused the handshake (the server's certificate, an alert, a protocol error).
    #[error("TLS: {0}")]
    Handshake(String),
    /// The server's fragments break RFC 5216 (too long, data where an acknowledgement belongs).
    #[error("EAP-TLS fragmentation: {0}")]
    Fragmentation(&'static str),
}

/// The wall clock rustls checks certificates at: the configured time at the origin plus the
/// latest input's instant (set by the machine on every input).
#[derive(Debug)]
pub(crate) struct InputClock {
    origin_unix: u64,
    micros: AtomicU64,
}

impl InputClock {
    pub(crate) fn new(origin_unix: u64, now: Instant) -> InputClock {
        InputClock {
            origin_unix,
            micros: AtomicU64::new(now.as_micros()),
        }
    }

    pub(crate) fn set(&self, now: Instant) {
        self.micros.store(now.as_micros(), Ordering::Relaxed);
    }
}

impl TimeProvider for InputClock {
    fn current_time(&self) -> Option<UnixTime> {
        let since = Duration::from_secs(self.origin_unix)
            .checked_add(Duration::from_micros(self.micros.load(Ordering::Relaxed)))?;
        Some(UnixTime::since_unix_epoch(since))
    }
}

/// The WebPKI verifier with the name check waived: used when no server name is configured, so
/// the chain to a trusted certificate (and its validity, key usage, signatures) decides.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Builds the rustls client configuration of `tls` (TLS 1.2 and 1.3, ring, the time of
/// `clock`).
pub(crate) fn client_config(
    tls: &TlsConfig,
    clock: Arc<InputClock>,
) -> Result<(Arc<ClientConfig>, ServerName<'static>), TlsError> {
    if tls.trusted.is_empty() {
        return Err(TlsError::NoTrustAnchor);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for der in &tls.trusted {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| TlsError::Config(alloc::format!("trusted certificate: {e}")))?;
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| TlsError::Config(alloc::format!("verifier: {e}")))?;
    let (verifier, name): (Arc<dyn ServerCertVerifier>, String) = match &tls.server_name {
        Some(n) => (webpki, n.clone()),
        None => (Arc::new(ChainOnly(webpki)), String::from(ANY_SERVER)),
    };
    let name = ServerName::try_from(name)
        .map_err(|e| TlsError::Config(alloc::format!("server name: {e}")))?;
    let builder = ClientConfig::builder_with_details(provider, clock)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(alloc::format!("{e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = if tls.has_identity() {
        let chain = tls
            .certificate_chain
            .iter()
            .map(|d| CertificateDer::from(d.clone()))
            .collect();
        let key = PrivateKeyDer::try_from(tls.private_key.clone())
            .map_err(|e| TlsError::Config(alloc::format!("private key: {e}")))?;
        builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| TlsError::Config(alloc::format!("client certificate: {e}")))?
    } else {
        builder.with_no_client_auth()
    };
    // EAP-TLS has no use for resumption across authentications here, nor for SNI of a name that
    // is not a host's.
    config.resumption = rustls::client::Resumption::disabled();
    config.enable_sni = tls.server_name.is_some();
    Ok((Arc::new(config), name))
}

/// What to answer a server's EAP-TLS Request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// An EAP-TLS Response carrying this type data (a fragment or an acknowledgement).
    Send(Vec<u8>),
}

/// One EAP-TLS conversation.
pub(crate) struct Session {
    conn: UnbufferedClientConnection,
    /// TLS bytes received and not yet consumed by rustls.
    incoming: Vec<u8>,
    /// The server message being reassembled.
    reassembly: Vec<u8>,
    /// The total length announced by the L flag of its first fragment.
    announced: Option<usize>,
    /// TLS bytes to send, and how many went out.
    outgoing: Vec<u8>,
    sent: usize,
    fragment: usize,
    max_message: usize,
    handshake_done: bool,
    /// Application data received after the handshake (RFC 9190's one-byte 0x00 commitment).
    app_data_seen: bool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("incoming", &self.incoming.len())
            .field("reassembly", &self.reassembly.len())
            .field("outgoing", &(self.sent, self.outgoing.len()))
            .field("handshake_done", &self.handshake_done)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        fragment: u16,
        max_message: u32,
    ) -> Result<Session, TlsError> {
        let conn = UnbufferedClientConnection::new(config, name)
            .map_err(|e| TlsError::Config(alloc::format!("{e}")))?;
        Ok(Session {
            conn,
            incoming: Vec::new(),
            reassembly: Vec::new(),
            announced: None,
            outgoing: Vec::new(),
            sent: 0,
            fragment: usize::from(fragment.clamp(64, 1486)),
            max_message: usize::try_from(max_message).unwrap_or(usize::MAX).max(1024),
            handshake_done: false,
            app_data_seen: false,
        })
    }

    /// Whether the TLS handshake completed (the phone's Finished went out and was acknowledged
    /// or the server's was verified).
    pub(crate) fn handshake_done(&self) -> bool {
        self.handshake_done
    }

    /// Answers one EAP-TLS Request's type data.
    pub(crate) fn on_request(&mut self, req: &TlsData<'_>) -> Result<Answer, TlsError> {
        if req.flags.start {
            // The start: a new conversation; the ClientHello is our first flight.
            if self.sent > 0 || self.handshake_done {
                return Err(TlsError::Fragmentation(
                    "EAP-TLS start in the middle of a conversation",
                ));
            }
            self.advance()?;
            return Ok(self.next_fragment());
        }
        if self.sent < self.outgoing.len() {
            // We are sending fragments: this Request acknowledges the last one.
            if !req.data.is_empty() {
                return Err(TlsError::Fragmentation(
                    "data where an acknowledgement belongs",
                ));
            }
            return Ok(self.next_fragment());
        }
        if self.reassembly.is_empty() {
            self.announced = match req.message_length {
                Some(n) => {
                    let n = usize::try_from(n).unwrap_or(usize::MAX);
                    if n > self.max_message {
                        return Err(TlsError::Fragmentation("announced message too long"));
                    }
                    Some(n)
                }
                None => None,
            };
        }
        if self.reassembly.len().saturating_add(req.data.len()) > self.max_message {
            return Err(TlsError::Fragmentation("reassembled message too long"));
        }
        self.reassembly.extend_from_slice(req.data);
        if let Some(n) = self.announced
            && self.reassembly.len() > n
        {
            return Err(TlsError::Fragmentation(
                "more data than the L field announced",
            ));
        }
        if req.flags.more_fragments {
            return Ok(Answer::Send(ack()));
        }
        let message = core::mem::take(&mut self.reassembly);
        self.announced = None;
        self.incoming.extend_from_slice(&message);
        self.outgoing.clear();
        self.sent = 0;
        self.advance()?;
        Ok(self.next_fragment())
    }

    /// The next fragment of `outgoing`, or an acknowledgement when there is nothing to send.
    fn next_fragment(&mut self) -> Answer {
        let total = self.outgoing.len();
        if self.sent >= total {
            return Answer::Send(ack());
        }
        let end = total.min(self.sent.saturating_add(self.fragment));
        let first = self.sent == 0;
        let more = end < total;
        let data = TlsData {
            flags: TlsFlags {
                length_included: first && more,
                more_fragments: more,
                start: false,
            },
            message_length: (first && more).then(|| u32::try_from(total).unwrap_or(u32::MAX)),
            data: &self.outgoing[self.sent..end],
        }
        .to_bytes();
        self.sent = end;
        Answer::Send(data)
    }

    /// Runs rustls over `incoming` until it needs more from the server; what it wants sent is
    /// appended to `outgoing`.
    fn advance(&mut self) -> Result<(), TlsError> {
        let mut failure: Option<TlsError> = None;
        for _ in 0..MAX_STEPS {
            let UnbufferedStatus { mut discard, state } =
                self.conn.process_tls_records(&mut self.incoming);
            let mut stop = false;
            match state {
                Err(e) => {
                    if failure.is_some() {
                        stop = true;
                    } else {
                        // Once more: rustls hands out the alert it queued for the server.
                        failure = Some(TlsError::Handshake(alloc::format!("{e}")));
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut s)) => {
                    let mut buf = alloc::vec![0u8; 4096];
                    loop {
                        match s.encode(&mut buf) {
                            Ok(n) => {
                                self.outgoing.extend_from_slice(&buf[..n]);
                                break;
                            }
                            Err(EncodeError::InsufficientSize(e))
                                if e.required_size <= MAX_ENCODE =>
                            {
                                buf.resize(e.required_size, 0);
                            }
                            Err(e) => {
                                failure.get_or_insert(TlsError::Handshake(alloc::format!("{e}")));
                                stop = true;
                                break;
                            }
                        }
                    }
                }
                Ok(ConnectionState::TransmitTlsData(s)) => s.done(),
                Ok(ConnectionState::WriteTraffic(_)) => {
                    self.handshake_done = true;
                    stop = true;
                }
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    while let Some(record) = r.next_record() {
                        match record {
                            Ok(AppDataRecord { discard: more, .. }) => {
                                discard = discard.saturating_add(more);
                                self.app_data_seen = true;
                            }
                            Err(e) => {
                                failure.get_or_insert(TlsError::Handshake(alloc::format!("{e}")));
                                break;
                            }
                        }
                    }
                }
                // BlockedHandshake (the server's next flight is needed), PeerClosed, Closed.
                Ok(_) => stop = true,
            }
            let discard = discard.min(self.incoming.len());
            self.incoming.drain(..discard);
            if stop {
                break;
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// TLS bytes rustls queued after a failure (the alert), as the type data of the phone's
    /// last Response; `None` when there are none.
    pub(crate) fn alert(&mut self) -> Option<Vec<u8>> {
        match self.next_fragment() {
            Answer::Send(d) if self.sent > 0 => Some(d),
            Answer::Send(_) => None,
        }
    }
}

/// An empty EAP-TLS Response's type data: flags 0, no data (an acknowledgement).
#[must_use]
pub(crate) fn ack() -> Vec<u8> {
    alloc::vec![0]
}
