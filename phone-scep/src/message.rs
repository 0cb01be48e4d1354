//! SCEP pkiMessages (RFC 8894 §3) assembled and taken apart on the cms types, without the cms
//! builder (which forces std and has no 3DES, CRATES.md §2 path (b)): the signed attributes are
//! signed here with RSASSA-PKCS1-v1_5, the content is encrypted here with the CBC cipher the
//! caps chose, and CertRep decryption is done here.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetString, PrintableStringRef, SetOfVec};
use der::{Decode, Encode, EncodingRules, Tag, Tagged};
use rand_core::CryptoRng;
use rsa::RsaPublicKey;
use rsa::pkcs1v15::Pkcs1v15Encrypt;
use spki::{AlgorithmIdentifierOwned, DecodePublicKey};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use crate::algs::{ContentCipher, DigestAlg};
use crate::cacert::{CaCerts, MAX_CA_CERTS, certs_of};
use crate::key::{DeviceKey, KeyError};
use crate::oid;

/// The largest CertRep body accepted (a reply with a chain is a few KB).
pub const MAX_CERT_REP: usize = 64 * 1024;
/// The most signer or recipient infos looked at.
pub const MAX_INFOS: usize = 8;
/// Length of our senderNonce (RFC 8894 §3.2.1.5: 16 bytes).
pub const NONCE_LEN: usize = 16;

/// SCEP message types (RFC 8894 §3.2.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageType {
    /// CertRep (3): the CA's answer.
    CertRep,
    /// RenewalReq (17): renewal, signed with the current certificate.
    RenewalReq,
    /// PKCSReq (19): initial enrollment.
    PkcsReq,
    /// CertPoll (20), formerly GetCertInitial: polling a pending request.
    CertPoll,
}

impl MessageType {
    /// The decimal code carried in the messageType attribute.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            MessageType::CertRep => "3",
            MessageType::RenewalReq => "17",
            MessageType::PkcsReq => "19",
            MessageType::CertPoll => "20",
        }
    }
}

/// failInfo values (RFC 8894 §3.2.1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailInfo {
    /// 0: unrecognized or unsupported algorithm.
    BadAlg,
    /// 1: integrity check (signature) failed.
    BadMessageCheck,
    /// 2: transaction not permitted or supported (e.g. a wrong challenge password).
    BadRequest,
    /// 3: the signingTime was not close enough to the CA's time.
    BadTime,
    /// 4: no certificate matched the criteria.
    BadCertId,
}

impl FailInfo {
    /// All values, in code order.
    pub const ALL: [FailInfo; 5] = [
        FailInfo::BadAlg,
        FailInfo::BadMessageCheck,
        FailInfo::BadRequest,
        FailInfo::BadTime,
        FailInfo::BadCertId,
    ];

    /// The decimal code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            FailInfo::BadAlg => 0,
            FailInfo::BadMessageCheck => 1,
            FailInfo::BadRequest => 2,
            FailInfo::BadTime => 3,
            FailInfo::BadCertId => 4,
        }
    }

    /// The value for a decimal code.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        FailInfo::ALL
            .into_iter()
            .find(|f| code.trim().parse::<u8>().ok() == Some(f.code()))
    }
}

impl fmt::Display for FailInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailInfo::BadAlg => "badAlg",
            FailInfo::BadMessageCheck => "badMessageCheck",
            FailInfo::BadRequest => "badRequest",
            FailInfo::BadTime => "badTime",
            FailInfo::BadCertId => "badCertId",
        })
    }
}

/// Building a request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The recipient (RA/CA) certificate's key is not a usable RSA key.
    #[error("the RA/CA certificate has no usable RSA key")]
    RecipientKey,
    /// RSA encryption of the content-encryption key failed.
    #[error("encrypting the content-encryption key failed")]
    KeyTransport,
    /// The device key failed to sign.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// DER encoding failed.
    #[error("DER encoding failed: {0}")]
    Der(der::Error),
    /// The transactionID is not a PrintableString.
    #[error("transactionID is not printable")]
    TransactionId,
}

impl From<der::Error> for BuildError {
    fn from(e: der::Error) -> Self {
        BuildError::Der(e)
    }
}

/// What a request message carries.
pub struct RequestParams<'a> {
    /// PKCSReq, RenewalReq or CertPoll.
    pub message_type: MessageType,
    /// The DER content: a CSR (PKCSReq/RenewalReq) or an IssuerAndSubject (CertPoll).
    pub content: &'a [u8],
    /// The certificate that signs (self-signed for PKCSReq, the current one for RenewalReq).
    pub signer_cert: &'a Certificate,
    /// Its private key.
    pub signer_key: &'a dyn DeviceKey,
    /// The RA/CA certificate the content is encrypted to.
    pub recipient: &'a Certificate,
    /// Content encryption.
    pub cipher: ContentCipher,
    /// Digest for the signature.
    pub digest: DigestAlg,
    /// transactionID (RFC 8894 §3.2.1.1).
    pub transaction_id: &'a str,
    /// senderNonce (RFC 8894 §3.2.1.5).
    pub sender_nonce: &'a [u8; NONCE_LEN],
}

fn rsa_public_key(cert: &Certificate) -> Option<RsaPublicKey> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid != oid::RSA_ENCRYPTION {
        return None;
    }
    let der = spki.to_der().ok()?;
    RsaPublicKey::from_public_key_der(&der).ok()
}

fn isn(cert: &Certificate) -> IssuerAndSerialNumber {
    IssuerAndSerialNumber {
        issuer: cert.tbs_certificate().issuer().clone(),
        serial_number: cert.tbs_certificate().serial_number().clone(),
    }
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, der::Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(alloc::vec![value])?,
    })
}

fn rsa_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid::RSA_ENCRYPTION,
        parameters: Some(Any::null()),
    }
}

/// EnvelopedData (RFC 5652 §6) of `content` for one RSA recipient (RFC 8894 §3.2.2).
///
/// # Errors
/// [`BuildError`].
pub fn envelope<R: CryptoRng + ?Sized>(
    content: &[u8],
    recipient: &Certificate,
    cipher: ContentCipher,
    rng: &mut R,
) -> Result<Vec<u8>, BuildError> {
    let public = rsa_public_key(recipient).ok_or(BuildError::RecipientKey)?;
    let mut cek = alloc::vec![0u8; cipher.key_len()];
    rng.fill_bytes(&mut cek);
    let mut iv = alloc::vec![0u8; cipher.iv_len()];
    rng.fill_bytes(&mut iv);
    let ciphertext = cipher
        .encrypt(&cek, &iv, content)
        .map_err(|_| BuildError::KeyTransport)?;
    let enc_key = public
        .encrypt(rng, Pkcs1v15Encrypt, &cek)
        .map_err(|_| BuildError::KeyTransport)?;
    let ktri = KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(isn(recipient)),
        key_enc_alg: rsa_alg(),
        enc_key: OctetString::new(enc_key)?,
    };
    let ed = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos::try_from(alloc::vec![RecipientInfo::Ktri(ktri)])?,
        encrypted_content: EncryptedContentInfo {
            content_type: oid::ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(Any::new(Tag::OctetString, iv)?),
            },
            encrypted_content: Some(OctetString::new(ciphertext)?),
        },
        unprotected_attrs: None,
    };
    let ci = ContentInfo {
        content_type: oid::ID_ENVELOPED_DATA,
        content: Any::encode_from(&ed)?,
    };
    Ok(ci.to_der()?)
}

/// A SignedData ContentInfo (RFC 5652 §5) over `econtent` (id-data) with the given signed
/// attributes plus contentType and messageDigest, signed by `signer_key`, carrying
/// `certificates` (the signer's certificate for a request).
///
/// # Errors
/// [`BuildError`].
pub fn sign(
    econtent: &[u8],
    mut attrs: Vec<Attribute>,
    signer_cert: &Certificate,
    signer_key: &dyn DeviceKey,
    digest: DigestAlg,
    certificates: &[Certificate],
) -> Result<Vec<u8>, BuildError> {
    let digest_alg = AlgorithmIdentifierOwned {
        oid: digest.oid(),
        parameters: None,
    };
    attrs.push(attribute(
        oid::CONTENT_TYPE,
        Any::encode_from(&oid::ID_DATA)?,
    )?);
    attrs.push(attribute(
        oid::MESSAGE_DIGEST,
        Any::new(Tag::OctetString, digest.digest(econtent))?,
    )?);
    let signed_attrs: SetOfVec<Attribute> = SetOfVec::try_from(attrs)?;
    // RFC 5652 §5.4: the signature covers the DER of the attributes as an explicit SET OF.
    let to_sign = signed_attrs.to_der()?;
    let signature = signer_key.sign_digest(digest, &digest.digest(&to_sign))?;
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(isn(signer_cert)),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: rsa_alg(),
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(alloc::vec![digest_alg])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::ID_DATA,
            econtent: Some(Any::new(Tag::OctetString, econtent)?),
        },
        certificates: Some(CertificateSet::try_from(
            certificates
                .iter()
                .cloned()
                .map(CertificateChoices::Certificate)
                .collect::<Vec<_>>(),
        )?),
        crls: None,
        signer_infos: SignerInfos::try_from(alloc::vec![si])?,
    };
    let ci = ContentInfo {
        content_type: oid::ID_SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    };
    Ok(ci.to_der()?)
}

/// Builds a PKCSReq / RenewalReq / CertPoll pkiMessage (RFC 8894 §3.2, §3.3).
///
/// # Errors
/// [`BuildError`].
pub fn build_request<R: CryptoRng + ?Sized>(
    p: &RequestParams<'_>,
    rng: &mut R,
) -> Result<Vec<u8>, BuildError> {
    let enveloped = envelope(p.content, p.recipient, p.cipher, rng)?;
    let tid = PrintableStringRef::new(p.transaction_id).map_err(|_| BuildError::TransactionId)?;
    let attrs = alloc::vec![
        attribute(
            oid::MESSAGE_TYPE,
            Any::new(Tag::PrintableString, p.message_type.code().as_bytes())?
        )?,
        attribute(oid::TRANSACTION_ID, Any::encode_from(&tid)?)?,
        attribute(
            oid::SENDER_NONCE,
            Any::new(Tag::OctetString, &p.sender_nonce[..])?
        )?,
    ];
    sign(
        &enveloped,
        attrs,
        p.signer_cert,
        p.signer_key,
        p.digest,
        core::slice::from_ref(p.signer_cert),
    )
}

/// Why a CertRep (or a signed GetNextCACert reply) was refused. Never a certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertRepError {
    /// Body larger than [`MAX_CERT_REP`].
    #[error("reply of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not DER/BER ContentInfo/SignedData/EnvelopedData as expected.
    #[error("malformed reply: {0}")]
    Malformed(der::Error),
    /// The outer ContentInfo is not SignedData, or the inner one not EnvelopedData.
    #[error("unexpected content type {0}")]
    ContentType(ObjectIdentifier),
    /// Not exactly one SignerInfo (or too many recipient infos).
    #[error("reply has {0} signers; exactly one is required")]
    SignerCount(usize),
    /// The signer is none of the RA/CA certificates from GetCACert.
    #[error("reply signed by a certificate that GetCACert did not deliver")]
    UnknownSigner,
    /// The signer's certificate does not allow `digitalSignature` (RFC 5280 §4.2.1.3): the CA
    /// certificate when an RA signs, or the encryption-only RA certificate
    /// ([`CaCerts::may_sign_replies`]).
    #[error("reply signed by a certificate whose keyUsage does not allow digitalSignature")]
    SignerKeyUsage,
    /// Digest or signature algorithm not supported.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(ObjectIdentifier),
    /// The signature does not verify.
    #[error("reply signature does not verify")]
    BadSignature,
    /// Signed attributes missing (RFC 8894 §3.2.1 requires them).
    #[error("reply has no signed attributes")]
    NoSignedAttributes,
    /// The messageDigest attribute does not match the content.
    #[error("messageDigest does not match the content")]
    DigestMismatch,
    /// A required attribute is absent.
    #[error("attribute {0} missing")]
    MissingAttribute(&'static str),
    /// An attribute has the wrong type, several values, or an unknown value.
    #[error("attribute {0} malformed")]
    BadAttribute(&'static str),
    /// messageType is not CertRep.
    #[error("messageType {0:?} is not CertRep (3)")]
    NotCertRep(String),
    /// transactionID differs from ours.
    #[error("transactionID {got:?} does not match ours")]
    TransactionIdMismatch {
        /// What the reply carried.
        got: String,
    },
    /// recipientNonce differs from our senderNonce.
    #[error("recipientNonce does not match our senderNonce")]
    NonceMismatch,
    /// A SUCCESS reply without encrypted content.
    #[error("SUCCESS reply carries no content")]
    NoContent,
    /// No recipient info addressed to us.
    #[error("the reply is not encrypted to our certificate")]
    NotForUs,
    /// Content encryption algorithm not supported.
    #[error("unsupported content encryption {0}")]
    UnsupportedCipher(ObjectIdentifier),
    /// Key transport or content decryption failed.
    #[error("decryption failed")]
    Decrypt,
    /// The decrypted degenerate SignedData holds no certificate for our key.
    #[error("the issued certificate's public key is not ours")]
    IssuedKeyMismatch,
    /// The decrypted degenerate SignedData holds too many certificates.
    #[error("the reply holds too many certificates")]
    TooManyCertificates,
}

impl From<der::Error> for CertRepError {
    fn from(e: der::Error) -> Self {
        CertRepError::Malformed(e)
    }
}

/// pkiStatus of a CertRep (RFC 8894 §3.2.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertRep {
    /// 0: the certificate was issued.
    Success(Box<Issued>),
    /// 2: rejected, with the reason.
    Failure(FailInfo),
    /// 3: waiting for manual approval; poll with CertPoll.
    Pending,
}

/// The result of a SUCCESS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    /// The certificate for our key.
    pub certificate: Certificate,
    /// Other certificates in the reply (chain), in the order received.
    pub chain: Vec<Certificate>,
}

/// What our request said, against which a CertRep is checked (RFC 8894 §3.3.2).
pub struct Expectation<'a> {
    /// Our transactionID.
    pub transaction_id: &'a str,
    /// Our senderNonce, which must come back as recipientNonce.
    pub sender_nonce: &'a [u8],
    /// The RA/CA certificates from GetCACert: the only acceptable signers.
    pub ca: &'a CaCerts,
    /// The certificate our request was signed with (the reply is encrypted to it).
    pub our_cert: &'a Certificate,
    /// The key of that certificate, to decrypt the reply.
    pub our_key: &'a dyn DeviceKey,
    /// The public key we asked a certificate for.
    pub requested_key: &'a RsaPublicKey,
}

/// A SignedData whose single signer was verified against trusted certificates.
pub struct VerifiedSignedData {
    /// The SignedData.
    pub signed_data: SignedData,
    /// The eContent octets, if present.
    pub econtent: Option<Vec<u8>>,
    /// The verified signed attributes.
    pub attrs: Vec<Attribute>,
    /// The index of the signer in the trusted certificates.
    pub signer: usize,
}

fn signer_matches(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(i) => {
            i.issuer == *cert.tbs_certificate().issuer()
                && i.serial_number == *cert.tbs_certificate().serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own == *ski),
    }
}

fn decode_content_info(body: &[u8], want: ObjectIdentifier) -> Result<ContentInfo, CertRepError> {
    let ci = ContentInfo::from_ber(body)?;
    if ci.content_type != want {
        return Err(CertRepError::ContentType(ci.content_type));
    }
    Ok(ci)
}

fn octets(any: &Any) -> Result<Vec<u8>, CertRepError> {
    let os: OctetString = any.decode_as_encoding(EncodingRules::Ber)?;
    Ok(os.into_bytes().into_vec())
}

/// Decodes a signed pkiMessage and verifies its one signer against `trusted` (RFC 5652 §5.6):
/// the signer must be one of the trusted certificates, messageDigest must match the content,
/// and the RSASSA-PKCS1-v1_5 signature (SHA-1, SHA-256 or SHA-512) must verify.
///
/// # Errors
/// [`CertRepError`].
pub fn verify_signed(
    body: &[u8],
    trusted: &[Certificate],
) -> Result<VerifiedSignedData, CertRepError> {
    if body.len() > MAX_CERT_REP {
        return Err(CertRepError::TooLarge(body.len()));
    }
    let ci = decode_content_info(body, oid::ID_SIGNED_DATA)?;
    let sd: SignedData = ci.content.decode_as_encoding(EncodingRules::Ber)?;
    let infos = sd.signer_infos.0.as_slice();
    let [si] = infos else {
        return Err(CertRepError::SignerCount(infos.len()));
    };
    let signer = trusted
        .iter()
        .position(|c| signer_matches(&si.sid, c))
        .ok_or(CertRepError::UnknownSigner)?;
    let cert = &trusted[signer];
    let digest = DigestAlg::from_oid(&si.digest_alg.oid)
        .ok_or(CertRepError::UnsupportedAlgorithm(si.digest_alg.oid))?;
    let sig_digest = match si.signature_algorithm.oid {
        oid::RSA_ENCRYPTION => digest,
        o => DigestAlg::from_rsa_signature_oid(&o).ok_or(CertRepError::UnsupportedAlgorithm(o))?,
    };
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or(CertRepError::NoSignedAttributes)?;
    let public = rsa_public_key(cert).ok_or(CertRepError::UnknownSigner)?;
    let signed = attrs.to_der()?;
    public
        .verify(
            sig_digest.pkcs1v15(),
            &sig_digest.digest(&signed),
            si.signature.as_bytes(),
        )
        .map_err(|_| CertRepError::BadSignature)?;
    let attrs: Vec<Attribute> = attrs.iter().cloned().collect();
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .map(octets)
        .transpose()?;
    // RFC 5652 §11.2: messageDigest over the eContent octets (empty when absent).
    let md = single_octets(&attrs, oid::MESSAGE_DIGEST, "messageDigest")?;
    if md != digest.digest(econtent.as_deref().unwrap_or_default()) {
        return Err(CertRepError::DigestMismatch);
    }
    Ok(VerifiedSignedData {
        signed_data: sd,
        econtent,
        attrs,
        signer,
    })
}

fn single<'a>(
    attrs: &'a [Attribute],
    oid: ObjectIdentifier,
    name: &'static str,
) -> Result<&'a Any, CertRepError> {
    let attr = attrs
        .iter()
        .find(|a| a.oid == oid)
        .ok_or(CertRepError::MissingAttribute(name))?;
    match attr.values.as_slice() {
        [v] => Ok(v),
        _ => Err(CertRepError::BadAttribute(name)),
    }
}

fn single_octets(
    attrs: &[Attribute],
    oid: ObjectIdentifier,
    name: &'static str,
) -> Result<Vec<u8>, CertRepError> {
    let v = single(attrs, oid, name)?;
    if v.tag() != Tag::OctetString {
        return Err(CertRepError::BadAttribute(name));
    }
    Ok(v.value().to_vec())
}

fn single_printable(
    attrs: &[Attribute],
    oid: ObjectIdentifier,
    name: &'static str,
) -> Result<String, CertRepError> {
    let v = single(attrs, oid, name)?;
    let s = PrintableStringRef::try_from(v).map_err(|_| CertRepError::BadAttribute(name))?;
    Ok(String::from(s.as_str()))
}

/// Parses and checks a CertRep (RFC 8894 §3.3.2): signer and signature, messageType,
/// transactionID, recipientNonce, pkiStatus; on SUCCESS decrypts the EnvelopedData, takes the
/// certificates from the degenerate SignedData and returns the one for our key. The signer
/// must be one of GetCACert's certificates that may sign replies
/// ([`CaCerts::may_sign_replies`]).
///
/// # Errors
/// [`CertRepError`]; nothing but a verified SUCCESS yields a certificate.
pub fn parse_cert_rep(body: &[u8], exp: &Expectation<'_>) -> Result<CertRep, CertRepError> {
    let v = verify_signed(body, &exp.ca.certs)?;
    if !exp.ca.may_sign_replies(v.signer) {
        return Err(CertRepError::SignerKeyUsage);
    }
    let mt = single_printable(&v.attrs, oid::MESSAGE_TYPE, "messageType")?;
    if mt.trim() != MessageType::CertRep.code() {
        return Err(CertRepError::NotCertRep(mt));
    }
    let tid = single_printable(&v.attrs, oid::TRANSACTION_ID, "transactionID")?;
    if tid != exp.transaction_id {
        return Err(CertRepError::TransactionIdMismatch { got: tid });
    }
    let rn = single_octets(&v.attrs, oid::RECIPIENT_NONCE, "recipientNonce")?;
    if rn != exp.sender_nonce {
        return Err(CertRepError::NonceMismatch);
    }
    let status = single_printable(&v.attrs, oid::PKI_STATUS, "pkiStatus")?;
    match status.trim() {
        "0" => {}
        "2" => {
            let fi = single_printable(&v.attrs, oid::FAIL_INFO, "failInfo")?;
            return FailInfo::from_code(&fi)
                .map(CertRep::Failure)
                .ok_or(CertRepError::BadAttribute("failInfo"));
        }
        "3" => return Ok(CertRep::Pending),
        _ => return Err(CertRepError::BadAttribute("pkiStatus")),
    }
    let enveloped = v.econtent.ok_or(CertRepError::NoContent)?;
    let plain = open_envelope(&enveloped, exp.our_cert, exp.our_key)?;
    let ci = decode_content_info(&plain, oid::ID_SIGNED_DATA)?;
    let sd: SignedData = ci.content.decode_as_encoding(EncodingRules::Ber)?;
    let certs = certs_of(&sd).map_err(|_| CertRepError::TooManyCertificates)?;
    if certs.len() > MAX_CA_CERTS {
        return Err(CertRepError::TooManyCertificates);
    }
    let ours = crate::request::spki_of_public(exp.requested_key)
        .map_err(|_| CertRepError::IssuedKeyMismatch)?;
    let pos = certs
        .iter()
        .position(|c| *c.tbs_certificate().subject_public_key_info() == ours)
        .ok_or(CertRepError::IssuedKeyMismatch)?;
    let mut chain = certs;
    let certificate = chain.remove(pos);
    Ok(CertRep::Success(Box::new(Issued { certificate, chain })))
}

/// Decrypts an EnvelopedData ContentInfo addressed to `our_cert` (RFC 5652 §6, RFC 8894 §3.2.2).
///
/// # Errors
/// [`CertRepError`].
pub fn open_envelope(
    body: &[u8],
    our_cert: &Certificate,
    our_key: &dyn DeviceKey,
) -> Result<Vec<u8>, CertRepError> {
    // Go's pkcs7 (scepserver) writes encryptedContent as a definite-length constructed
    // string, which der cannot read: rewrite that field first (ber.rs).
    let normalized = crate::ber::normalize_enveloped(body);
    let ci = decode_content_info(
        normalized.as_deref().unwrap_or(body),
        oid::ID_ENVELOPED_DATA,
    )?;
    let ed: EnvelopedData = ci.content.decode_as_encoding(EncodingRules::Ber)?;
    let ktris: Vec<&KeyTransRecipientInfo> = ed
        .recip_infos
        .0
        .iter()
        .filter_map(|ri| match ri {
            RecipientInfo::Ktri(k) => Some(k),
            _ => None,
        })
        .collect();
    if ed.recip_infos.0.len() > MAX_INFOS {
        return Err(CertRepError::SignerCount(ed.recip_infos.0.len()));
    }
    let mine = isn(our_cert);
    let ktri = ktris
        .iter()
        .find(|k| matches!(&k.rid, RecipientIdentifier::IssuerAndSerialNumber(i) if *i == mine))
        .or(match ktris.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .ok_or(CertRepError::NotForUs)?;
    if ktri.key_enc_alg.oid != oid::RSA_ENCRYPTION {
        return Err(CertRepError::UnsupportedAlgorithm(ktri.key_enc_alg.oid));
    }
    let eci = &ed.encrypted_content;
    let cipher = ContentCipher::from_oid(&eci.content_enc_alg.oid)
        .ok_or(CertRepError::UnsupportedCipher(eci.content_enc_alg.oid))?;
    let iv = eci
        .content_enc_alg
        .parameters
        .as_ref()
        .ok_or(CertRepError::Decrypt)
        .and_then(octets)?;
    let cek = our_key
        .decrypt_key(ktri.enc_key.as_bytes())
        .map_err(|_| CertRepError::Decrypt)?;
    let ct = eci
        .encrypted_content
        .as_ref()
        .ok_or(CertRepError::NoContent)?;
    cipher
        .decrypt(&cek, &iv, ct.as_bytes())
        .map_err(|_| CertRepError::Decrypt)
}

/// Parses a GetNextCACert reply (RFC 8894 §4.7): a SignedData signed by the current CA/RA
/// whose certificates are the next CA's. RFC 8894 §4.7.1 has the current CA sign it, so a CA
/// certificate may; any other signer must allow `digitalSignature`
/// ([`CaCerts::may_sign_replies`]).
///
/// # Errors
/// [`CertRepError`].
pub fn parse_next_ca_certs(body: &[u8], current: &CaCerts) -> Result<CaCerts, CertRepError> {
    let v = verify_signed(body, &current.certs)?;
    let by_ca = current
        .certs
        .get(v.signer)
        .is_some_and(crate::cacert::is_ca);
    if !by_ca && !current.may_sign_replies(v.signer) {
        return Err(CertRepError::SignerKeyUsage);
    }
    let certs = certs_of(&v.signed_data).map_err(|_| CertRepError::TooManyCertificates)?;
    CaCerts::from_certs(certs).map_err(|_| CertRepError::TooManyCertificates)
}
