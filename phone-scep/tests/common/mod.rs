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
        issue_cert(
            csr.info.subject.clone(),
            spki_override.unwrap_or_else(|| csr.info.public_key.clone()),
            self.ca.cert.tbs_certificate().subject().clone(),
            &self.ca.key,
            self.next_serial,
            false,
            Some(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment),
            NOW_UNIX - Duration::from_secs(3600),
            365,
        )
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
