//! GetCACert (RFC 8894 §4.2): a bare CA certificate, or a degenerate PKCS#7 SignedData with
//! the CA and RA certificates, and the choice of which one to encrypt to and which one signs
//! replies (the commonest interop failure with NDES is encrypting to the wrong RA certificate).

use alloc::vec::Vec;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, EncodingRules};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

use crate::oid;

/// The largest GetCACert/GetNextCACert body accepted.
pub const MAX_CA_BODY: usize = 64 * 1024;
/// The most certificates taken from a degenerate PKCS#7.
pub const MAX_CA_CERTS: usize = 16;

/// A GetCACert response could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaCertError {
    /// The body is larger than [`MAX_CA_BODY`].
    #[error("GetCACert body of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Neither a DER certificate nor a PKCS#7 SignedData.
    #[error("GetCACert body is neither a certificate nor a PKCS#7 certificate bag: {0}")]
    Malformed(der::Error),
    /// The PKCS#7 holds no certificate (or more than [`MAX_CA_CERTS`]).
    #[error("GetCACert PKCS#7 holds {0} certificates")]
    BadCount(usize),
    /// No certificate carries a usable RSA key.
    #[error("no CA/RA certificate with an RSA key")]
    NoRsaKey,
}

/// The CA's certificates as GetCACert delivered them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaCerts {
    /// All certificates, in the order received.
    pub certs: Vec<Certificate>,
    /// Index of the certificate requests are encrypted to (keyEncipherment).
    pub encrypt: usize,
    /// Index of the certificate expected to sign CertReps (digitalSignature).
    pub verify: usize,
    /// Index of the issuing CA certificate (cA=TRUE, else self-issued, else the first).
    pub ca: usize,
}

fn key_usage(cert: &Certificate) -> Option<KeyUsage> {
    cert.tbs_certificate()
        .get_extension::<KeyUsage>()
        .ok()
        .flatten()
        .map(|(_, ku)| ku)
}

pub(crate) fn is_ca(cert: &Certificate) -> bool {
    cert.tbs_certificate()
        .get_extension::<BasicConstraints>()
        .ok()
        .flatten()
        .is_some_and(|(_, bc)| bc.ca)
}

fn is_rsa(cert: &Certificate) -> bool {
    cert.tbs_certificate()
        .subject_public_key_info()
        .algorithm
        .oid
        == oid::RSA_ENCRYPTION
}

/// Picks the certificate for a purpose: an RSA RA (non-CA) certificate with the key usage,
/// then any RSA certificate with it, then the CA certificate (one CA that is its own RA, as
/// scepserver and RFC 8894 §2.2 allow). A certificate without a keyUsage extension permits
/// every usage (RFC 5280 §4.2.1.3).
fn pick(certs: &[Certificate], usage: KeyUsages, ca: usize) -> usize {
    let allows = |c: &Certificate| key_usage(c).is_none_or(|ku| ku.0.contains(usage));
    let explicit = |c: &Certificate| key_usage(c).is_some_and(|ku| ku.0.contains(usage));
    certs
        .iter()
        .position(|c| is_rsa(c) && !is_ca(c) && explicit(c))
        .or_else(|| {
            certs
                .iter()
                .position(|c| is_rsa(c) && !is_ca(c) && allows(c))
        })
        .or_else(|| certs.iter().position(|c| is_rsa(c) && allows(c)))
        .unwrap_or(ca)
}

impl CaCerts {
    /// Parses a GetCACert (or GetNextCACert inner) body. `content_type` is a hint only:
    /// servers mislabel, so the body is sniffed (a ContentInfo starts with an OID, a
    /// certificate with a SEQUENCE).
    ///
    /// # Errors
    /// [`CaCertError`].
    pub fn parse(body: &[u8]) -> Result<CaCerts, CaCertError> {
        if body.len() > MAX_CA_BODY {
            return Err(CaCertError::TooLarge(body.len()));
        }
        let certs = match Certificate::from_der(body) {
            Ok(cert) => alloc::vec![cert],
            Err(cert_err) => match certs_from_pkcs7(body) {
                Ok(certs) => certs,
                Err(CaCertError::Malformed(_)) => return Err(CaCertError::Malformed(cert_err)),
                Err(e) => return Err(e),
            },
        };
        Self::from_certs(certs)
    }

    /// Classifies a list of certificates.
    ///
    /// # Errors
    /// [`CaCertError::BadCount`], [`CaCertError::NoRsaKey`].
    pub fn from_certs(certs: Vec<Certificate>) -> Result<CaCerts, CaCertError> {
        if certs.is_empty() || certs.len() > MAX_CA_CERTS {
            return Err(CaCertError::BadCount(certs.len()));
        }
        if !certs.iter().any(is_rsa) {
            return Err(CaCertError::NoRsaKey);
        }
        let ca = certs
            .iter()
            .position(is_ca)
            .or_else(|| {
                certs
                    .iter()
                    .position(|c| c.tbs_certificate().issuer() == c.tbs_certificate().subject())
            })
            .unwrap_or(0);
        let encrypt = pick(&certs, KeyUsages::KeyEncipherment, ca);
        let verify = pick(&certs, KeyUsages::DigitalSignature, ca);
        Ok(CaCerts {
            certs,
            encrypt,
            verify,
            ca,
        })
    }

    /// The certificate requests are encrypted to.
    #[must_use]
    pub fn encryption_cert(&self) -> &Certificate {
        &self.certs[self.encrypt]
    }

    /// The certificate expected to sign replies.
    #[must_use]
    pub fn verification_cert(&self) -> &Certificate {
        &self.certs[self.verify]
    }

    /// The issuing CA certificate.
    #[must_use]
    pub fn ca_cert(&self) -> &Certificate {
        &self.certs[self.ca]
    }

    /// Whether GetCACert delivered an RA: a certificate that is not a CA certificate.
    #[must_use]
    pub fn has_ra(&self) -> bool {
        self.certs.iter().any(|c| !is_ca(c))
    }

    /// Whether certificate `index` may sign a CertRep (RFC 5280 §4.2.1.3: verifying a
    /// signature on anything but a certificate or a CRL needs `digitalSignature`): a
    /// certificate whose keyUsage is absent or asserts `digitalSignature`.
    ///
    /// One exception: a CA that runs without an RA (GetCACert delivered CA certificates only,
    /// RFC 8894 §2.2 and §4.2.1.1) signs its replies with its CA certificate, whatever its
    /// keyUsage. micromdm scepserver does so with `keyCertSign, cRLSign` only; refusing it
    /// would refuse every such server. Once an RA is delivered, the RA signs: a CA certificate
    /// or an encryption-only RA certificate without `digitalSignature` is refused.
    #[must_use]
    pub fn may_sign_replies(&self, index: usize) -> bool {
        let Some(cert) = self.certs.get(index) else {
            return false;
        };
        match key_usage(cert) {
            None => true,
            Some(ku) if ku.digital_signature() => true,
            Some(_) => is_ca(cert) && !self.has_ra(),
        }
    }
}

/// Certificates from a (degenerate) PKCS#7 SignedData ContentInfo, DER or BER.
///
/// # Errors
/// [`CaCertError::Malformed`], [`CaCertError::BadCount`].
pub fn certs_from_pkcs7(body: &[u8]) -> Result<Vec<Certificate>, CaCertError> {
    let ci = ContentInfo::from_ber(body).map_err(CaCertError::Malformed)?;
    if ci.content_type != oid::ID_SIGNED_DATA {
        return Err(CaCertError::Malformed(
            der::ErrorKind::OidUnknown {
                oid: ci.content_type,
            }
            .into(),
        ));
    }
    let sd: SignedData = ci
        .content
        .decode_as_encoding(EncodingRules::Ber)
        .map_err(CaCertError::Malformed)?;
    certs_of(&sd)
}

/// The X.509 certificates of a SignedData, bounded by [`MAX_CA_CERTS`].
pub(crate) fn certs_of(sd: &SignedData) -> Result<Vec<Certificate>, CaCertError> {
    let set = sd
        .certificates
        .as_ref()
        .map(|c| c.0.as_slice())
        .unwrap_or_default();
    if set.len() > MAX_CA_CERTS {
        return Err(CaCertError::BadCount(set.len()));
    }
    Ok(set
        .iter()
        .filter_map(|c| match c {
            CertificateChoices::Certificate(cert) => Some(cert.clone()),
            CertificateChoices::Other(_) => None,
        })
        .collect())
}
