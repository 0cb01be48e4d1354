//! phone-scep's enrollment machine through the transcript harness (phone_sansio): any setup
//! (MYCERTWAIT, caps, http/https, HTTPPROXY, retries, polling), then arbitrary HTTP answers on
//! the request's connection — raw bytes, or well-formed responses of any status, Content-Type,
//! Retry-After and body, chunked or not, cut in two reads — the real answers of a CA holding
//! the context's CA key (GetCACaps, GetCACert, and CertReps SUCCESS/FAILURE/PENDING built for
//! the pkiMessage actually sent, optionally with a flipped byte), closes, connects, transport
//! failures, facts about other connections, and time steps. The device key is the fixed
//! 1024-bit key of seeds/scep_context (KeySource::Provided: no key generation per run).
//!
//! Oracles: no panic; at most 64 outputs per input; the deadline never in the past and equal to
//! poll_timeout (the harness); the same setup and inputs give the same transcript; every retry
//! at least MIN_RETRY_DELAY and every poll at least MIN_POLL after it was scheduled, whatever the
//! server's Retry-After; no request that was not scheduled (Connects <= 4 + retries + polls),
//! on strictly increasing connections; at most one end (Issued/Rejected/Failed), nothing sent
//! after it; an issued certificate carries our key.
//!
//! Input format (hand-writable seeds, phone-scep/examples/gen_fuzz_seeds.rs): a setup of 15
//! bytes — seed u64 LE, flags (1 wait, 2 https, 4 proxy, 8 GetNextCACert, 16 AES-256), caps u16
//! LE (bits: AES, DES3, GetNextCACert, POSTPKIOperation, Renewal, SHA-1, SHA-256, SHA-512,
//! SCEPStandard), attempts-1 (mod 4), poll initial secs, total wait (u16 LE, x10 s) — then ops,
//! each a tag byte (mod 10) and its fields; a missing byte reads as 0.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use phone_scep::backoff::{MIN_POLL, MIN_RETRY_DELAY};
use phone_scep::cms::cert::CertificateChoices;
use phone_scep::cms::content_info::{CmsVersion, ContentInfo};
use phone_scep::cms::enveloped_data::EnvelopedData;
use phone_scep::cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos,
};
use phone_scep::der::asn1::{Any, PrintableStringRef, SetOfVec};
use phone_scep::der::{Decode, Encode, Tag};
use phone_scep::key::SoftwareKey;
use phone_scep::machine::{Config, Enrollment, Event, KeySource};
use phone_scep::message::{self, FailInfo};
use phone_scep::phone_http::{Action, ConnId, Transmit};
use phone_scep::phone_sansio::harness::{Logged, Transcript};
use phone_scep::phone_sansio::{Input, Instant};
use phone_scep::rand_core::{TryCryptoRng, TryRng};
use phone_scep::x509_cert::Certificate;
use phone_scep::x509_cert::attr::Attribute;
use phone_scep::{algs, oid, request};

/// 2026-11-21T00:00:00Z, the context's wall clock.
const NOW_UNIX: Duration = Duration::from_secs(1_795_219_200);

/// A deterministic RNG from the fuzz input (splitmix64).
struct Mix(u64);

impl TryRng for Mix {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}

impl TryCryptoRng for Mix {}

struct Ctx {
    ca_body: Vec<u8>,
    ca_cert: Certificate,
    ca_key: SoftwareKey,
    device: SoftwareKey,
}

fn ctx() -> &'static Ctx {
    static CTX: OnceLock<Ctx> = OnceLock::new();
    CTX.get_or_init(|| {
        let ca_body = include_bytes!("../seeds/scep_context/ca.der").to_vec();
        Ctx {
            ca_cert: Certificate::from_der(&ca_body).expect("context CA"),
            ca_body,
            ca_key: SoftwareKey::from_pkcs8_der(include_bytes!("../seeds/scep_context/ca-key.der"))
                .expect("context CA key"),
            device: SoftwareKey::from_pkcs8_der(include_bytes!("../seeds/scep_context/key.der"))
                .expect("context key"),
        }
    })
}

/// Reads the input front to back; a missing byte is 0.
struct Rd<'a>(&'a [u8]);

impl Rd<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

const CAPS: [&str; 9] = [
    "AES",
    "DES3",
    "GetNextCACert",
    "POSTPKIOperation",
    "Renewal",
    "SHA-1",
    "SHA-256",
    "SHA-512",
    "SCEPStandard",
];

const CONTENT_TYPES: [Option<&str>; 6] = [
    Some("application/x-pki-message"),
    Some("application/x-x509-ca-cert"),
    Some("application/x-x509-ca-ra-cert"),
    Some("text/plain"),
    Some("text/html; charset=utf-8"),
    None,
];

fn http(
    status: u16,
    ct: Option<&str>,
    retry_after: Option<u8>,
    body: &[u8],
    chunked: bool,
) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    if let Some(ct) = ct {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if let Some(r) = retry_after {
        head.push_str(&format!("Retry-After: {r}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        let mut out = head.into_bytes();
        for c in body.chunks(700) {
            out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        out
    }
}

fn b64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s: Vec<u8> = s.iter().copied().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = chunk.len().saturating_sub(1);
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&s[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// The request of the last `Send` on `conn`: (operation, pkiMessage if any), or a CONNECT.
enum Seen {
    Connect,
    Op(String, Option<Vec<u8>>),
}

fn last_request(log: &[Logged<Transmit, Event>], conn: ConnId) -> Option<Seen> {
    let bytes = log.iter().rev().find_map(|l| match l {
        Logged::Transmit(
            _,
            Transmit {
                conn: c,
                action: Action::Send(b),
            },
        ) if *c == conn => Some(b),
        _ => None,
    })?;
    if bytes.starts_with(b"CONNECT ") {
        return Some(Seen::Connect);
    }
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let line_end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let line = &bytes[..line_end];
    let target = line.split(|&b| b == b' ').nth(1)?;
    let query = target.splitn(2, |&b| b == b'?').nth(1)?;
    let param = |name: &[u8]| {
        query.split(|&b| b == b'&').find_map(|kv| {
            let mut it = kv.splitn(2, |&b| b == b'=');
            (it.next()? == name).then(|| percent_decode(it.next().unwrap_or_default()))
        })
    };
    let op = String::from_utf8(param(b"operation")?).ok()?;
    let body = &bytes[end + 4..];
    let msg = if line.starts_with(b"POST ") {
        Some(body.to_vec())
    } else {
        param(b"message").and_then(|m| b64_decode(&m))
    };
    Some(Seen::Op(op, msg))
}

fn attr(o: phone_scep::der::asn1::ObjectIdentifier, v: Any) -> Option<Attribute> {
    Some(Attribute {
        oid: o,
        values: SetOfVec::try_from(vec![v]).ok()?,
    })
}

fn degenerate(certs: &[Certificate]) -> Option<Vec<u8>> {
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
            .ok()?,
        ),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::default()),
    };
    ContentInfo {
        content_type: oid::ID_SIGNED_DATA,
        content: Any::encode_from(&sd).ok()?,
    }
    .to_der()
    .ok()
}

/// The CA's CertRep for a pkiMessage: status 0 SUCCESS (a certificate for the CSR's key),
/// 2 FAILURE, 3 PENDING. `None` when the message is not one the CA can read.
fn cert_rep(msg: &[u8], status: u8, fail: u8, rng: &mut Mix) -> Option<Vec<u8>> {
    let c = ctx();
    let ci = ContentInfo::from_der(msg).ok()?;
    let sd: SignedData = ci.content.decode_as().ok()?;
    let signer = match sd.certificates.as_ref()?.0.as_slice().first()? {
        CertificateChoices::Certificate(cert) => cert.clone(),
        CertificateChoices::Other(_) => return None,
    };
    let v = message::verify_signed(msg, std::slice::from_ref(&signer)).ok()?;
    let get = |o| {
        v.attrs
            .iter()
            .find(|a| a.oid == o)
            .map(|a| a.values.as_slice()[0].clone())
    };
    let tid = PrintableStringRef::try_from(&get(oid::TRANSACTION_ID)?)
        .ok()?
        .as_str()
        .to_string();
    let nonce = get(oid::SENDER_NONCE)?.value().to_vec();
    let env = v.econtent.clone()?;
    let ed: EnvelopedData = ContentInfo::from_der(&env).ok()?.content.decode_as().ok()?;
    let cipher = algs::ContentCipher::from_oid(&ed.encrypted_content.content_enc_alg.oid)?;
    let content = message::open_envelope(&env, &c.ca_cert, &c.ca_key).ok()?;
    let mut attrs = vec![
        attr(
            oid::MESSAGE_TYPE,
            Any::new(Tag::PrintableString, b"3".as_slice()).ok()?,
        )?,
        attr(
            oid::TRANSACTION_ID,
            Any::new(Tag::PrintableString, tid.into_bytes()).ok()?,
        )?,
        attr(
            oid::RECIPIENT_NONCE,
            Any::new(Tag::OctetString, nonce).ok()?,
        )?,
        attr(
            oid::SENDER_NONCE,
            Any::new(Tag::OctetString, vec![9u8; 16]).ok()?,
        )?,
    ];
    let code = |s: &str| Any::new(Tag::PrintableString, s.as_bytes());
    let mut econtent = Vec::new();
    match status % 3 {
        0 => {
            attrs.push(attr(oid::PKI_STATUS, code("0").ok()?)?);
            // A certificate for the CSR's key: the fuzz context holds the device key, so a
            // self-signed one with its key does (parse_cert_rep matches on the key).
            // The subject from the CSR (PKCSReq) or the IssuerAndSubject (CertPoll).
            let subject = match phone_scep::x509_cert::request::CertReq::from_der(&content) {
                Ok(csr) => csr.info.subject,
                Err(_) => request::IssuerAndSubject::from_der(&content).ok()?.subject,
            };
            let issued = request::self_signed_cert(subject, &c.device, &[7, 7], NOW_UNIX).ok()?;
            let inner = degenerate(&[issued, c.ca_cert.clone()])?;
            econtent = message::envelope(&inner, &signer, cipher, rng).ok()?;
        }
        1 => {
            attrs.push(attr(oid::PKI_STATUS, code("2").ok()?)?);
            let fi = FailInfo::ALL[usize::from(fail) % FailInfo::ALL.len()];
            attrs.push(attr(oid::FAIL_INFO, code(&fi.code().to_string()).ok()?)?);
        }
        _ => attrs.push(attr(oid::PKI_STATUS, code("3").ok()?)?),
    }
    message::sign(
        &econtent,
        attrs,
        &c.ca_cert,
        &c.ca_key,
        algs::DigestAlg::Sha1,
        &[],
    )
    .ok()
}

type Log = Vec<Logged<Transmit, Event>>;

/// The CA's answers by (request, status, failInfo): the second play of an input reuses the
/// first's (the RSA work of the fake CA is half the cost of a run). A second play that diverges
/// misses and is answered afresh, so the determinism oracle still sees the machine's own bytes.
type Memo = HashMap<(Vec<u8>, u8, u8), Option<Vec<u8>>>;

fn play(data: &[u8], memo: &mut Memo) -> Log {
    let c = ctx();
    let mut rd = Rd(data);
    let seed = rd.u64();
    let flags = rd.u8();
    let caps_bits = rd.u16();
    let attempts = u32::from(rd.u8() % 4) + 1;
    let poll_initial = rd.u8();
    let total_wait = rd.u16();

    let mut cfg = Config::default();
    cfg.url = if flags & 2 != 0 {
        "https://ca.lab.test:8443/scep".into()
    } else {
        "http://10.77.0.1:8080/scep".into()
    };
    if flags & 4 != 0 {
        cfg.http_proxy = "proxy.lab.test:3128".into();
    }
    cfg.wait = flags & 1 != 0;
    cfg.get_next_ca_cert = flags & 8 != 0;
    cfg.aes256 = flags & 16 != 0;
    cfg.key_bits = 1024;
    cfg.challenge = "pw".into();
    cfg.subst.serial_no = "F1".into();
    cfg.retry.attempts = attempts;
    cfg.poll.initial = Duration::from_secs(u64::from(poll_initial));
    cfg.poll.total_wait = Duration::from_secs(u64::from(total_wait) * 10);
    let caps: String = CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| caps_bits & (1 << i) != 0)
        .map(|(_, w)| format!("{w}\n"))
        .collect();

    let Ok(m) = Enrollment::new(
        cfg,
        KeySource::Provided(Box::new(c.device.clone())),
        None,
        Mix(seed),
        Instant::ZERO,
        NOW_UNIX,
    ) else {
        return Vec::new();
    };
    let mut ca_rng = Mix(seed ^ 0x5CE9);
    let mut t = Transcript::new(m, Instant::ZERO);
    t.max_outputs_per_input = 64;
    let mut last_conn: ConnId = 1;
    for _ in 0..64 {
        if rd.done() {
            break;
        }
        if let Some(cn) = t.machine.conn() {
            last_conn = cn;
        }
        let conn = last_conn;
        let now = t.now;
        match rd.u8() % 10 {
            0 => {
                let ms = rd.u32();
                t.input(Input::Timeout(now + Duration::from_millis(u64::from(ms))));
            }
            1 => {
                if t.deadline != Instant::MAX {
                    let d = t.deadline;
                    t.input(Input::Timeout(d));
                }
            }
            2 => {
                let n = usize::from(rd.u16());
                let bytes = rd.bytes(n);
                t.input(Input::Receive(now, conn, &bytes));
            }
            3 => {
                let status = rd.u16();
                let ct = CONTENT_TYPES[usize::from(rd.u8()) % CONTENT_TYPES.len()];
                let retry = rd.u8();
                let kind = rd.u8();
                let body = match kind % 4 {
                    0 => Vec::new(),
                    1 => {
                        let n = usize::from(rd.u16());
                        rd.bytes(n)
                    }
                    2 => c.ca_body.clone(),
                    _ => caps.clone().into_bytes(),
                };
                let split = usize::from(rd.u8());
                let bytes = http(
                    status,
                    ct,
                    (retry != 0xFF).then_some(retry),
                    &body,
                    kind & 4 != 0,
                );
                let cut = split.min(bytes.len());
                t.input(Input::Receive(now, conn, &bytes[..cut]));
                t.input(Input::Receive(now, conn, &bytes[cut..]));
                t.input(Input::Closed(now, conn));
            }
            4 => {
                let status = rd.u8();
                let fail = rd.u8();
                let retry = rd.u8();
                let pos = usize::from(rd.u16());
                let xor = rd.u8();
                let retry = (retry != 0xFF).then_some(retry);
                let answer = match last_request(&t.log, conn) {
                    None => continue,
                    Some(Seen::Connect) => b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec(),
                    Some(Seen::Op(op, msg)) => match op.as_str() {
                        "GetCACaps" => http(200, Some("text/plain"), retry, caps.as_bytes(), false),
                        "GetCACert" => http(
                            200,
                            Some("application/x-x509-ca-cert"),
                            retry,
                            &c.ca_body,
                            false,
                        ),
                        "PKIOperation" => {
                            let Some(msg) = msg else { continue };
                            let Some(mut rep) = memo
                                .entry((msg, status % 3, fail))
                                .or_insert_with_key(|(m, s, f)| cert_rep(m, *s, *f, &mut ca_rng))
                                .clone()
                            else {
                                continue;
                            };
                            if xor != 0 && !rep.is_empty() {
                                let i = pos % rep.len();
                                rep[i] ^= xor;
                            }
                            http(200, Some("application/x-pki-message"), retry, &rep, false)
                        }
                        _ => http(404, None, retry, b"", false),
                    },
                };
                t.input(Input::Receive(now, conn, &answer));
                if !answer.starts_with(b"HTTP/1.1 200 Connection") {
                    t.input(Input::Closed(now, conn));
                }
            }
            5 => {
                t.input(Input::Completed(now, conn));
            }
            6 => {
                t.input(Input::Closed(now, conn));
            }
            7 => {
                t.input(Input::TransportFailed(now, conn));
            }
            8 => {
                let other = conn.wrapping_sub(ConnId::from(rd.u8()) + 1);
                let bytes = http(200, Some("application/x-pki-message"), Some(0), b"x", false);
                match rd.u8() % 4 {
                    0 => t.input(Input::Receive(now, other, &bytes)),
                    1 => t.input(Input::Closed(now, other)),
                    2 => t.input(Input::TransportFailed(now, other)),
                    _ => t.input(Input::Completed(now, other)),
                };
            }
            _ => {
                // Fire the machine's own deadlines, up to n of them.
                for _ in 0..rd.u8() % 64 {
                    if t.deadline == Instant::MAX {
                        break;
                    }
                    let d = t.deadline;
                    t.input(Input::Timeout(d));
                }
            }
        }
    }
    check(&t.log);
    t.log
}

fn check(log: &Log) {
    let device_spki = request::spki_of(&ctx().device).expect("spki");
    let (mut connects, mut scheduled, mut ends, mut last_conn) = (0u32, 4u32, 0u32, 0);
    let mut ended = false;
    for l in log {
        match l {
            Logged::Transmit(at, x) => {
                assert!(!ended, "transmit after the end at {at:?}: {x:?}");
                if matches!(x.action, Action::Connect { .. }) {
                    connects += 1;
                    assert!(
                        x.conn > last_conn,
                        "connection {} after {last_conn}",
                        x.conn
                    );
                    last_conn = x.conn;
                }
            }
            Logged::Event(at, e) => match e {
                Event::Retry { at: when, .. } => {
                    scheduled += 1;
                    assert!(
                        *when >= *at + MIN_RETRY_DELAY,
                        "retry at {when:?} scheduled at {at:?}"
                    );
                }
                Event::Pending { next_poll, .. } => {
                    scheduled += 1;
                    assert!(
                        *next_poll >= *at + MIN_POLL,
                        "poll at {next_poll:?} scheduled at {at:?}"
                    );
                }
                Event::Issued(enrolled) => {
                    assert_eq!(
                        enrolled
                            .certificate
                            .tbs_certificate()
                            .subject_public_key_info(),
                        &device_spki
                    );
                    ends += 1;
                    ended = true;
                }
                Event::Rejected(_) | Event::Failed(_) => {
                    ends += 1;
                    ended = true;
                }
                _ => {}
            },
        }
    }
    assert!(ends <= 1, "{ends} ends");
    assert!(
        connects <= scheduled,
        "{connects} requests, {scheduled} scheduled"
    );
}

fuzz_target!(|data: &[u8]| {
    let mut memo = Memo::new();
    let a = play(data, &mut memo);
    let b = play(data, &mut memo);
    assert!(a == b, "the same inputs gave two transcripts");
});
