//! A test CA built with RustCrypto: answers GetCACert and PKIOperation like a SCEP server, so
//! the client's messages are decrypted and its CertReps built independently of the machine.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::too_many_arguments,
    clippy::needless_pass_by_value,
    missing_docs
)]

use std::str::FromStr;
use std::time::Duration;

use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos};
use der::asn1::{Any, PrintableStringRef, SetOfVec};
use der::{Decode, Encode, Tag};
use phone_scep::algs::{ContentCipher, DigestAlg};
use phone_scep::key::SoftwareKey;
use phone_scep::message::{self, FailInfo};
use phone_scep::oid;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::request::CertReq;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

/// 2026-11-21T00:00:00Z.
pub const NOW_UNIX: Duration = Duration::from_secs(1_795_219_200);

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

struct Profile {
    subject: Name,
    issuer: Name,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        _: SubjectPublicKeyInfoRef<'_>,
        _: SubjectPublicKeyInfoRef<'_>,
        _: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

fn validity(from: Duration, days: u64) -> Validity {
    let t = |d: Duration| Time::from(der::DateTime::from_unix_duration(d).unwrap());
    Validity::new(t(from), t(from + Duration::from_secs(days * 86400)))
}

pub fn spki(key: &SoftwareKey) -> SubjectPublicKeyInfoOwned {
    phone_scep::request::spki_of(key).unwrap()
}

/// Issues a certificate for `spki` with `subject`, signed by `issuer_key`.
pub fn issue_cert(
    subject: Name,
    spki: SubjectPublicKeyInfoOwned,
    issuer: Name,
    issuer_key: &SoftwareKey,
    serial: u32,
    ca: bool,
    usage: Option<der::flagset::FlagSet<KeyUsages>>,
    not_before: Duration,
    days: u64,
) -> Certificate {
    let mut b = CertificateBuilder::new(
        Profile { subject, issuer },
        SerialNumber::from(serial),
        validity(not_before, days),
        spki,
    )
    .unwrap();
    b.add_extension(&BasicConstraints {
        ca,
        path_len_constraint: None,
    })
    .unwrap();
    if let Some(u) = usage {
        b.add_extension(&KeyUsage(u)).unwrap();
    }
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(issuer_key.private_key().clone());
    b.build::<_, rsa::pkcs1v15::Signature>(&signer).unwrap()
}

/// A degenerate SignedData ContentInfo carrying `certs` (RFC 8894 §3.4, §4.2.1.2).
pub fn degenerate(certs: &[Certificate]) -> Vec<u8> {
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::default(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::ID_DATA,
            econtent: None,
        },
        certificates: Some(
            CertificateSet::try_from(
                certs
                    .iter()
                    .cloned()
                    .map(CertificateChoices::Certificate)
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
        ),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::default()),
    };
    ContentInfo {
        content_type: oid::ID_SIGNED_DATA,
        content: Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

pub struct Party {
    pub key: SoftwareKey,
    pub cert: Certificate,
}

pub struct TestCa {
    pub ca: Party,
    /// RA certificates when split: (encryption RA, signing RA).
    pub ra: Option<(Party, Party)>,
    /// Every certificate issued, in order.
    pub issued: Vec<Certificate>,
    next_serial: u32,
}

/// A decoded request as the CA sees it.
pub struct SeenRequest {
    pub message_type: String,
    pub transaction_id: String,
    pub sender_nonce: Vec<u8>,
    pub content: Vec<u8>,
    pub signer_cert: Certificate,
    pub digest: DigestAlg,
    pub cipher: ContentCipher,
}

/// How to answer.
#[derive(Clone)]
pub struct ReplyOpts {
    pub cipher: ContentCipher,
    pub digest: DigestAlg,
    pub tid: Option<String>,
    pub recipient_nonce: Option<Vec<u8>>,
    /// Sign with this party instead of the proper signer.
    pub signer: Option<usize>,
    /// Issue the certificate for this key instead of the CSR's.
    pub issue_for: Option<SubjectPublicKeyInfoOwned>,
}

impl Default for ReplyOpts {
    fn default() -> Self {
        // scepserver's answer: single DES, SHA-1 (lab recipe §3).
        ReplyOpts {
            cipher: ContentCipher::DesCbc,
            digest: DigestAlg::Sha1,
            tid: None,
            recipient_nonce: None,
            signer: None,
            issue_for: None,
        }
    }
}

pub enum Status {
    Success,
    Failure(FailInfo),
    Pending,
}

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn printable(attrs: &[Attribute], o: der::asn1::ObjectIdentifier) -> String {
    let a = attrs.iter().find(|a| a.oid == o).unwrap();
    PrintableStringRef::try_from(&a.values.as_slice()[0])
        .unwrap()
        .as_str()
        .to_string()
}

fn octets(attrs: &[Attribute], o: der::asn1::ObjectIdentifier) -> Vec<u8> {
    let a = attrs.iter().find(|a| a.oid == o).unwrap();
    a.values.as_slice()[0].value().to_vec()
}

impl TestCa {
    pub fn new(seed: u64, split: bool) -> TestCa {
        let mut r = rng(seed);
        let ca_key = SoftwareKey::generate(&mut r, 1024).unwrap();
        let ca_name = name("CN=Test SCEP CA,O=Phone Lab,C=US");
        let ca_cert = issue_cert(
            ca_name.clone(),
            spki(&ca_key),
            ca_name.clone(),
            &ca_key,
            1,
            true,
            Some(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            NOW_UNIX - Duration::from_secs(86400),
            3650,
        );
        let ra = split.then(|| {
            let mk =
                |r: &mut ChaCha20Rng, cn: &str, serial, usage: der::flagset::FlagSet<KeyUsages>| {
                    let key = SoftwareKey::generate(r, 1024).unwrap();
                    let cert = issue_cert(
                        name(cn),
                        spki(&key),
                        ca_name.clone(),
                        &ca_key,
                        serial,
                        false,
                        Some(usage),
                        NOW_UNIX - Duration::from_secs(86400),
                        365,
                    );
                    Party { key, cert }
                };
            (
                mk(
                    &mut r,
                    "CN=Test RA encryption,O=Phone Lab",
                    2,
                    KeyUsages::KeyEncipherment.into(),
                ),
                mk(
                    &mut r,
                    "CN=Test RA signing,O=Phone Lab",
                    3,
                    KeyUsages::DigitalSignature.into(),
                ),
            )
        });
        TestCa {
            ca: Party {
                key: ca_key,
                cert: ca_cert,
            },
            ra,
            issued: Vec::new(),
            next_serial: 100,
        }
    }

    /// The GetCACert body: a bare certificate (one CA) or a degenerate PKCS#7 (CA + RAs).
    /// The RA order is signing first, so choosing by position would pick the wrong one.
    pub fn get_ca_cert(&self) -> (Vec<u8>, &'static str) {
        match &self.ra {
            None => (self.ca.cert.to_der().unwrap(), "application/x-x509-ca-cert"),
            Some((enc, sig)) => (
                degenerate(&[self.ca.cert.clone(), sig.cert.clone(), enc.cert.clone()]),
                "application/x-x509-ca-ra-cert",
            ),
        }
    }

    fn decrypter(&self) -> &Party {
        self.ra.as_ref().map_or(&self.ca, |(e, _)| e)
    }

    fn signer(&self) -> &Party {
        self.ra.as_ref().map_or(&self.ca, |(_, s)| s)
    }

    /// Verifies (with the certificate the request carries) and decrypts a request.
    pub fn open(&self, body: &[u8]) -> SeenRequest {
        let ci = ContentInfo::from_der(body).unwrap();
        let sd: SignedData = ci.content.decode_as().unwrap();
        let signer_cert = match &sd.certificates.as_ref().unwrap().0.as_slice()[0] {
            CertificateChoices::Certificate(c) => c.clone(),
            CertificateChoices::Other(_) => panic!("no signer certificate"),
        };
        let si = &sd.signer_infos.0.as_slice()[0];
        let digest = DigestAlg::from_oid(&si.digest_alg.oid).unwrap();
        let v = message::verify_signed(body, std::slice::from_ref(&signer_cert)).unwrap();
        let enveloped = v.econtent.clone().unwrap();
        let eci: ContentInfo = ContentInfo::from_der(&enveloped).unwrap();
        let ed: cms::enveloped_data::EnvelopedData = eci.content.decode_as().unwrap();
        let cipher = ContentCipher::from_oid(&ed.encrypted_content.content_enc_alg.oid).unwrap();
        let d = self.decrypter();
        let content = message::open_envelope(&enveloped, &d.cert, &d.key).unwrap();
        SeenRequest {
            message_type: printable(&v.attrs, oid::MESSAGE_TYPE),
            transaction_id: printable(&v.attrs, oid::TRANSACTION_ID),
            sender_nonce: octets(&v.attrs, oid::SENDER_NONCE),
            content,
            signer_cert,
            digest,
            cipher,
        }
    }

    /// Issues a certificate for a CSR.
    pub fn issue(
        &mut self,
        csr: &CertReq,
        spki_override: Option<SubjectPublicKeyInfoOwned>,
    ) -> Certificate {
        self.next_serial += 1;
        let cert = issue_cert(
            csr.info.subject.clone(),
            spki_override.unwrap_or_else(|| csr.info.public_key.clone()),
            self.ca.cert.tbs_certificate().subject().clone(),
            &self.ca.key,
            self.next_serial,
            false,
            Some(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment),
            NOW_UNIX - Duration::from_secs(3600),
            365,
        );
        self.issued.push(cert.clone());
        cert
    }

    /// A CertRep for `req`.
    pub fn cert_rep(
        &mut self,
        req: &SeenRequest,
        status: Status,
        issued: Option<&Certificate>,
        opts: &ReplyOpts,
        r: &mut ChaCha20Rng,
    ) -> Vec<u8> {
        let mut attrs = vec![
            attr(
                oid::MESSAGE_TYPE,
                Any::new(Tag::PrintableString, b"3".as_slice()).unwrap(),
            ),
            attr(
                oid::TRANSACTION_ID,
                Any::new(
                    Tag::PrintableString,
                    opts.tid
                        .clone()
                        .unwrap_or(req.transaction_id.clone())
                        .into_bytes(),
                )
                .unwrap(),
            ),
            attr(
                oid::RECIPIENT_NONCE,
                Any::new(
                    Tag::OctetString,
                    opts.recipient_nonce
                        .clone()
                        .unwrap_or(req.sender_nonce.clone()),
                )
                .unwrap(),
            ),
            attr(
                oid::SENDER_NONCE,
                Any::new(Tag::OctetString, vec![9u8; 16]).unwrap(),
            ),
        ];
        let mut econtent = Vec::new();
        match status {
            Status::Success => {
                attrs.push(attr(
                    oid::PKI_STATUS,
                    Any::new(Tag::PrintableString, b"0".as_slice()).unwrap(),
                ));
                let cert = issued.unwrap();
                let inner = degenerate(&[cert.clone(), self.ca.cert.clone()]);
                econtent = message::envelope(&inner, &req.signer_cert, opts.cipher, r).unwrap();
            }
            Status::Failure(fi) => {
                attrs.push(attr(
                    oid::PKI_STATUS,
                    Any::new(Tag::PrintableString, b"2".as_slice()).unwrap(),
                ));
                attrs.push(attr(
                    oid::FAIL_INFO,
                    Any::new(Tag::PrintableString, fi.code().to_string().into_bytes()).unwrap(),
                ));
            }
            Status::Pending => {
                attrs.push(attr(
                    oid::PKI_STATUS,
                    Any::new(Tag::PrintableString, b"3".as_slice()).unwrap(),
                ));
            }
        }
        let signer = match opts.signer {
            None => self.signer(),
            Some(0) => &self.ca,
            Some(_) => self.decrypter(),
        };
        message::sign(
            &econtent,
            attrs,
            &signer.cert,
            &signer.key,
            opts.digest,
            &[],
        )
        .unwrap()
    }

    /// Answers a request completely: SUCCESS with a certificate for its CSR.
    pub fn answer_success(
        &mut self,
        body: &[u8],
        opts: &ReplyOpts,
        r: &mut ChaCha20Rng,
    ) -> (Vec<u8>, Certificate) {
        let req = self.open(body);
        let csr = CertReq::from_der(&req.content).unwrap();
        let cert = self.issue(&csr, opts.issue_for.clone());
        (
            self.cert_rep(&req, Status::Success, Some(&cert), opts, r),
            cert,
        )
    }
}

pub fn attr(o: der::asn1::ObjectIdentifier, v: Any) -> Attribute {
    Attribute {
        oid: o,
        values: SetOfVec::try_from(vec![v]).unwrap(),
    }
}

/// A self-made signer unknown to the client.
pub fn stranger(seed: u64, subject: &str) -> Party {
    let mut r = rng(seed);
    let key = SoftwareKey::generate(&mut r, 1024).unwrap();
    let n = name(subject);
    let cert = issue_cert(n.clone(), spki(&key), n, &key, 1, true, None, NOW_UNIX, 10);
    Party { key, cert }
}

// ---------------------------------------------------------------------------------------------
// The test CA as an HTTP server: a `phone_sansio::harness::Peer` for transcript tests.
// ---------------------------------------------------------------------------------------------

use std::collections::BTreeMap;

use base64::Engine as _;
use phone_scep::phone_http::{Action, ConnId, Transmit};
use phone_scep::phone_sansio::harness::{Peer, Reply};
use phone_scep::phone_sansio::{Input, Instant, Machine, Output};

/// Holds a machine's outputs until its first input, so that `Transcript::run` hands the very
/// first transmits to the peer too (`Transcript::new` drains before a peer is attached, and
/// `run` answers only what it takes itself).
pub struct Gate<M> {
    pub inner: M,
    pub start: Instant,
    pub open: bool,
}

impl<M> Gate<M> {
    pub fn new(inner: M, start: Instant) -> Gate<M> {
        Gate {
            inner,
            start,
            open: false,
        }
    }
}

impl<M: Machine> Machine for Gate<M> {
    type Peer = M::Peer;
    type Command<'a> = M::Command<'a>;
    type Transmit = M::Transmit;
    type Event = M::Event;
    fn handle_input(&mut self, input: Input<'_, M::Peer, M::Command<'_>>) {
        self.open = true;
        self.inner.handle_input(input);
    }
    fn poll_output(&mut self) -> Output<M::Transmit, M::Event> {
        if self.open {
            self.inner.poll_output()
        } else {
            Output::Timeout(self.start)
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        if self.open {
            self.inner.poll_timeout()
        } else {
            Some(self.start)
        }
    }
}

/// An HTTP request as the fake server read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReq {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

impl HttpReq {
    /// Parses one complete request (head and Content-Length body).
    pub fn parse(bytes: &[u8]) -> HttpReq {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&bytes[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let method = first.next().unwrap().to_string();
        let target = first.next().unwrap().to_string();
        assert_eq!(first.next(), Some("HTTP/1.1"));
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.to_string(), v.trim().to_string())
            })
            .collect();
        let body = bytes[end + 4..].to_vec();
        let req = HttpReq {
            method,
            target,
            headers,
            body,
        };
        if let Some(n) = req.header("Content-Length") {
            assert_eq!(n.parse::<usize>().unwrap(), req.body.len());
        }
        req
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, percent-decoded.
    pub fn param(&self, name: &str) -> Option<Vec<u8>> {
        let q = self.target.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| percent_decode(v))
        })
    }

    /// The `operation=` value.
    pub fn operation(&self) -> String {
        String::from_utf8(self.param("operation").unwrap()).unwrap()
    }

    /// The pkiMessage of a PKIOperation: the POST body or the GET `message=` (standard base64).
    pub fn pki_message(&self) -> Vec<u8> {
        assert_eq!(self.operation(), "PKIOperation");
        match self.method.as_str() {
            "POST" => {
                assert_eq!(
                    self.header("Content-Type"),
                    Some("application/x-pki-message")
                );
                self.body.clone()
            }
            "GET" => base64::engine::general_purpose::STANDARD
                .decode(self.param("message").unwrap())
                .unwrap(),
            m => panic!("method {m}"),
        }
    }
}

/// An HTTP/1.1 response with Content-Length.
pub fn http_response(
    status: u16,
    content_type: Option<&str>,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
    if let Some(ct) = content_type {
        s.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    for (k, v) in extra {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    let mut out = s.into_bytes();
    out.extend_from_slice(body);
    out
}

/// What the server does with a request.
pub enum Answer {
    /// These response bytes (then the server closes).
    Http(Vec<u8>),
    /// The transport fails (reset) without an answer.
    Fail,
    /// Nothing at all.
    Silent,
}

/// What the CA does with a PKIOperation it decrypted.
pub type PkiHandler = Box<dyn FnMut(&mut TestCa, &SeenRequest, &mut ChaCha20Rng) -> Answer>;
/// A hook that answers any request first (`None`: the default handling).
pub type Hook = Box<dyn FnMut(usize, &HttpReq) -> Option<Answer>>;

/// The test CA behind HTTP, as a scripted peer of the enrollment machine: answers GetCACaps
/// with `caps`, GetCACert with its certificates, GetNextCACert with 404 and PKIOperation
/// through `pki` (SUCCESS by default), after `latency`; a proxy `CONNECT` gets a 200.
pub struct CaServer {
    pub ca: TestCa,
    pub caps: Vec<u8>,
    pub latency: Duration,
    /// Latency of PKIOperation answers (default: `latency`).
    pub pki_latency: Option<Duration>,
    pub pki: PkiHandler,
    pub hook: Option<Hook>,
    pub rng: ChaCha20Rng,
    /// Every transmit taken, in order.
    pub transmits: Vec<(Instant, Transmit)>,
    /// Every request read: (time, connection, request).
    pub requests: Vec<(Instant, ConnId, HttpReq)>,
    /// Decrypted PKIOperations: (time, connection, request).
    pub pki_seen: Vec<(Instant, ConnId, SeenRequest)>,
    /// Connections through a proxy tunnel, waiting for StartTls.
    tunnels: BTreeMap<ConnId, bool>,
}

/// The default PKIOperation answer: SUCCESS for a PKCSReq/RenewalReq.
pub fn success_handler() -> PkiHandler {
    Box::new(|ca, seen, r| {
        let csr = CertReq::from_der(&seen.content).unwrap();
        let cert = ca.issue(&csr, None);
        let rep = ca.cert_rep(seen, Status::Success, Some(&cert), &ReplyOpts::default(), r);
        Answer::Http(http_response(
            200,
            Some("application/x-pki-message"),
            &[],
            &rep,
        ))
    })
}

/// A CertRep answer in HTTP.
pub fn pki_answer(rep: &[u8]) -> Answer {
    Answer::Http(http_response(
        200,
        Some("application/x-pki-message"),
        &[],
        rep,
    ))
}

impl CaServer {
    pub fn new(ca: TestCa, caps: &[u8]) -> CaServer {
        CaServer {
            ca,
            caps: caps.to_vec(),
            latency: Duration::from_millis(10),
            pki_latency: None,
            pki: success_handler(),
            hook: None,
            rng: rng(99),
            transmits: Vec::new(),
            requests: Vec::new(),
            pki_seen: Vec::new(),
            tunnels: BTreeMap::new(),
        }
    }

    /// The operations requested, in order.
    pub fn operations(&self) -> Vec<String> {
        self.requests
            .iter()
            .map(|(_, _, r)| r.operation())
            .collect()
    }

    /// The connections of the `Connect`s taken, in order.
    pub fn connects(&self) -> Vec<ConnId> {
        self.transmits
            .iter()
            .filter(|(_, t)| matches!(t.action, Action::Connect { .. }))
            .map(|(_, t)| t.conn)
            .collect()
    }

    fn answer(&mut self, now: Instant, conn: ConnId, req: &HttpReq) -> (Answer, Duration) {
        let n = self.requests.len() - 1;
        if let Some(h) = self.hook.as_mut()
            && let Some(a) = h(n, req)
        {
            return (a, self.latency);
        }
        match req.operation().as_str() {
            "GetCACaps" => (
                Answer::Http(http_response(200, Some("text/plain"), &[], &self.caps)),
                self.latency,
            ),
            "GetCACert" => {
                let (body, ct) = self.ca.get_ca_cert();
                (
                    Answer::Http(http_response(200, Some(ct), &[], &body)),
                    self.latency,
                )
            }
            "GetNextCACert" => (
                Answer::Http(http_response(404, Some("text/plain"), &[], b"")),
                self.latency,
            ),
            "PKIOperation" => {
                let seen = self.ca.open(&req.pki_message());
                let a = (self.pki)(&mut self.ca, &seen, &mut self.rng);
                self.pki_seen.push((now, conn, seen));
                (a, self.pki_latency.unwrap_or(self.latency))
            }
            op => panic!("operation {op}"),
        }
    }
}

impl<M: Machine<Peer = ConnId, Transmit = Transmit>> Peer<M> for CaServer {
    fn on_transmit(&mut self, now: Instant, t: &Transmit) -> Vec<Reply<ConnId>> {
        self.transmits.push((now, t.clone()));
        let conn = t.conn;
        match &t.action {
            Action::Connect { .. } | Action::Close => Vec::new(),
            Action::StartTls(_) => {
                assert_eq!(
                    self.tunnels.insert(conn, true),
                    Some(false),
                    "StartTls before CONNECT 200"
                );
                Vec::new()
            }
            Action::Send(bytes) => {
                if bytes.starts_with(b"CONNECT ") {
                    assert_eq!(self.tunnels.insert(conn, false), None);
                    return vec![Reply::Receive {
                        after: self.latency,
                        peer: conn,
                        bytes: b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec(),
                    }];
                }
                if let Some(up) = self.tunnels.get(&conn) {
                    assert!(*up, "request before StartTls");
                }
                let req = HttpReq::parse(bytes);
                self.requests.push((now, conn, req.clone()));
                let (answer, after) = self.answer(now, conn, &req);
                match answer {
                    Answer::Http(bytes) => vec![
                        Reply::Receive {
                            after,
                            peer: conn,
                            bytes,
                        },
                        Reply::Closed { after, peer: conn },
                    ],
                    Answer::Fail => vec![Reply::Failed { after, peer: conn }],
                    Answer::Silent => Vec::new(),
                }
            }
        }
    }
}
