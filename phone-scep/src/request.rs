//! What the phone asks for: the subject (MYCERTDN + MYCERTCN with substitutions), the PKCS#10
//! request with its challengePassword, the self-signed signer certificate and the
//! transactionID (spec/scep.md §4, RFC 8894 §3.2.1.1, §3.3.1).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::time::Duration;

use const_oid::ObjectIdentifier;
use der::asn1::{Any, PrintableString};
use der::{Encode, Tag};
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::DirectoryString;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::request::attributes::ChallengePassword;
use x509_cert::request::{CertReq, RequestBuilder};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::algs::DigestAlg;
use crate::key::{BuilderSigner, DeviceKey};

/// A request could not be assembled from the parameters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// MYCERTDN is not `/K=V/K=V...` or names an unknown attribute.
    #[error("MYCERTDN component {0:?} is not KEY=VALUE with a known key")]
    BadDn(String),
    /// The subject would be empty.
    #[error("the certificate subject is empty")]
    EmptySubject,
    /// A value cannot be encoded (e.g. C is not two printable characters).
    #[error("subject or challenge value {0:?} cannot be encoded")]
    BadValue(String),
    /// The x509-cert builder or DER encoder failed.
    #[error("building the request failed: {0}")]
    Build(String),
    /// The device key refused to sign.
    #[error(transparent)]
    Key(#[from] crate::key::KeyError),
}

/// Values substituted into MYCERTCN and SCEPPASSWORD (spec/scep.md §2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Substitutions {
    /// The phone's serial number, for `$SERIALNO`.
    pub serial_no: String,
    /// The MAC in lower-case hex without separators, for `$MACADDR` (Decision 10).
    pub mac_addr: String,
}

impl Substitutions {
    /// Expands `$SERIALNO` and `$MACADDR` (case-sensitive, spec/scep.md §2) in `s`.
    #[must_use]
    pub fn expand(&self, s: &str) -> String {
        s.replace("$SERIALNO", &self.serial_no)
            .replace("$MACADDR", &self.mac_addr)
    }
}

/// Attribute keys MYCERTDN may use, with their OIDs (RFC 4519).
const DN_KEYS: &[(&str, &str)] = &[
    ("C", "2.5.4.6"),
    ("ST", "2.5.4.8"),
    ("L", "2.5.4.7"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("CN", "2.5.4.3"),
    ("STREET", "2.5.4.9"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
    ("E", "1.2.840.113549.1.9.1"),
];

fn dn_oid(key: &str) -> Option<ObjectIdentifier> {
    let upper = key.trim().to_ascii_uppercase();
    DN_KEYS
        .iter()
        .find(|(k, _)| *k == upper)
        .and_then(|(_, o)| ObjectIdentifier::new(o).ok())
}

fn is_printable(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

fn directory_string(value: &str) -> Result<DirectoryString, RequestError> {
    if is_printable(value) {
        PrintableString::new(value)
            .map(DirectoryString::PrintableString)
            .map_err(|_| RequestError::BadValue(value.to_string()))
    } else {
        Ok(DirectoryString::Utf8String(value.to_string()))
    }
}

fn atv(oid: ObjectIdentifier, value: &str) -> Result<AttributeTypeAndValue, RequestError> {
    let bad = || RequestError::BadValue(value.to_string());
    let any = if oid == ObjectIdentifier::new_unwrap("2.5.4.6") {
        // countryName is a two-letter PrintableString (RFC 5280 A.1).
        if value.len() != 2 || !is_printable(value) {
            return Err(bad());
        }
        Any::new(Tag::PrintableString, value.as_bytes()).map_err(|_| bad())?
    } else if oid == ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1")
        || oid == ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.25")
    {
        if !value.is_ascii() {
            return Err(bad());
        }
        Any::new(Tag::Ia5String, value.as_bytes()).map_err(|_| bad())?
    } else {
        Any::encode_from(&directory_string(value)?).map_err(|_| bad())?
    };
    Ok(AttributeTypeAndValue { oid, value: any })
}

/// The certificate subject: MYCERTDN (`/C=US/O=X`, `/` separated, spec/scep.md §2) followed by
/// `CN=` MYCERTCN, with `$SERIALNO`/`$MACADDR` expanded in the CN (spec/scep.md §4.3 [?]).
///
/// An empty MYCERTDN gives a CN-only subject. Values may contain `,` (only `/` separates).
///
/// # Errors
/// [`RequestError::BadDn`] for a component without `=` or with an unknown key,
/// [`RequestError::BadValue`] for an unencodable value, [`RequestError::EmptySubject`].
pub fn subject_name(dn: &str, cn: &str, subst: &Substitutions) -> Result<Name, RequestError> {
    let mut rdns = RdnSequence::default();
    let dn = dn.trim();
    let dn = dn.strip_prefix('/').unwrap_or(dn);
    for part in dn.split('/').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| RequestError::BadDn(part.to_string()))?;
        let oid = dn_oid(k).ok_or_else(|| RequestError::BadDn(part.to_string()))?;
        let rdn = RelativeDistinguishedName::try_from(alloc::vec![atv(oid, v.trim())?])
            .map_err(|e| RequestError::Build(e.to_string()))?;
        rdns.push(rdn);
    }
    let cn = subst.expand(cn);
    if !cn.is_empty() {
        let rdn = RelativeDistinguishedName::try_from(alloc::vec![atv(
            ObjectIdentifier::new_unwrap("2.5.4.3"),
            &cn
        )?])
        .map_err(|e| RequestError::Build(e.to_string()))?;
        rdns.push(rdn);
    }
    if rdns.is_empty() {
        return Err(RequestError::EmptySubject);
    }
    // Name and RdnSequence share one encoding; going through DER avoids x509-cert's `hazmat`.
    let der = rdns
        .to_der()
        .map_err(|e| RequestError::Build(e.to_string()))?;
    der::Decode::from_der(&der).map_err(|e: der::Error| RequestError::Build(e.to_string()))
}

/// Builds the PKCS#10 request (RFC 2986) for `key` with the challengePassword attribute when
/// `challenge` is not empty (RFC 8894 §2.3, spec/scep.md §4.3).
///
/// # Errors
/// [`RequestError`] when the builder or the key fails.
pub fn build_csr(
    subject: Name,
    key: &dyn DeviceKey,
    challenge: &str,
) -> Result<CertReq, RequestError> {
    let mut builder =
        RequestBuilder::new(subject).map_err(|e| RequestError::Build(e.to_string()))?;
    if !challenge.is_empty() {
        builder
            .add_attribute(&ChallengePassword(directory_string(challenge)?))
            .map_err(|e| RequestError::Build(e.to_string()))?;
    }
    builder
        .build::<_, rsa::pkcs1v15::Signature>(&BuilderSigner(key))
        .map_err(|e| RequestError::Build(e.to_string()))
}

/// A certificate profile for the self-signed request signer: any subject (CN-only included,
/// which `cabf::Root` rejects, CRATES.md §2), no extensions.
struct SelfSignedProfile(Name);

impl BuilderProfile for SelfSignedProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }
    fn get_subject(&self) -> Name {
        self.0.clone()
    }
    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

/// How long the self-signed signer certificate is valid (RFC 8894 §2.3 leaves it open; it is
/// only used to sign and receive this transaction).
pub const SELF_SIGNED_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The self-signed certificate that signs a PKCSReq and receives the CertRep (RFC 8894 §2.3).
///
/// `unix_now` is the caller's wall-clock time (Sans-IO: no clock is read here); the certificate
/// is valid from an hour before it, to tolerate clock skew, for [`SELF_SIGNED_LIFETIME`].
///
/// # Errors
/// [`RequestError`] when the builder or the key fails.
pub fn self_signed_cert(
    subject: Name,
    key: &dyn DeviceKey,
    serial: &[u8],
    unix_now: Duration,
) -> Result<Certificate, RequestError> {
    let build = |e: &dyn core::fmt::Display| RequestError::Build(e.to_string());
    let start = unix_now.saturating_sub(Duration::from_secs(3600));
    let end = unix_now.saturating_add(SELF_SIGNED_LIFETIME);
    let time = |d: Duration| -> Result<Time, RequestError> {
        Ok(Time::from(
            der::DateTime::from_unix_duration(d).map_err(|e| build(&e))?,
        ))
    };
    let validity = Validity::new(time(start)?, time(end)?);
    // A positive serial: clear the top bit of the first byte (RFC 5280 §4.1.2.2).
    let mut serial = serial.iter().copied().take(16).collect::<Vec<u8>>();
    if let Some(first) = serial.first_mut() {
        *first &= 0x7F;
        *first |= 0x01;
    } else {
        serial.push(1);
    }
    let serial = SerialNumber::new(&serial).map_err(|e| build(&e))?;
    let spki = spki_of(key)?;
    let builder = CertificateBuilder::new(SelfSignedProfile(subject), serial, validity, spki)
        .map_err(|e| build(&e))?;
    builder
        .build::<_, rsa::pkcs1v15::Signature>(&BuilderSigner(key))
        .map_err(|e| build(&e))
}

/// The SubjectPublicKeyInfo of a device key.
///
/// # Errors
/// [`RequestError::Build`] when the key cannot be encoded.
pub fn spki_of(key: &dyn DeviceKey) -> Result<SubjectPublicKeyInfoOwned, RequestError> {
    spki_of_public(key.public_key())
}

/// The SubjectPublicKeyInfo of an RSA public key.
///
/// # Errors
/// [`RequestError::Build`] when the key cannot be encoded.
pub fn spki_of_public(key: &rsa::RsaPublicKey) -> Result<SubjectPublicKeyInfoOwned, RequestError> {
    let der = key
        .to_public_key_der()
        .map_err(|e| RequestError::Build(e.to_string()))?;
    der::Decode::from_der(der.as_bytes())
        .map_err(|e: der::Error| RequestError::Build(e.to_string()))
}

/// The transactionID: upper-case hex of the SHA-256 of the DER SubjectPublicKeyInfo.
///
/// RFC 8894 §3.2.1.1: a PrintableString, unique per enrollment, and the same for the
/// PKCSReq and every CertPoll of it; a hash of the public key is the suggested choice, which
/// also lets the CA tie a poll to its request.
///
/// # Errors
/// [`RequestError::Build`] when the key cannot be encoded.
pub fn transaction_id(key: &dyn DeviceKey) -> Result<String, RequestError> {
    let spki = spki_of(key)?
        .to_der()
        .map_err(|e| RequestError::Build(e.to_string()))?;
    let hash = DigestAlg::Sha256.digest(&spki);
    let mut out = String::with_capacity(hash.len() * 2);
    for b in hash {
        let _ = write!(out, "{b:02X}");
    }
    Ok(out)
}

/// `IssuerAndSubject` (RFC 8894 §3.3.3), the content of a CertPoll.
#[derive(Clone, Debug, PartialEq, Eq, der::Sequence)]
pub struct IssuerAndSubject {
    /// The CA's name.
    pub issuer: Name,
    /// The requested subject.
    pub subject: Name,
}
