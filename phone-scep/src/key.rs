//! The device key: generated from the caller's RNG, or handed in by the caller through
//! [`DeviceKey`] (a hardware key fits the trait: it only signs a digest and decrypts a key).

use alloc::boxed::Box;
use alloc::vec::Vec;

use der::asn1::AnyRef;
use rsa::RsaPrivateKey;
use rsa::RsaPublicKey;
use rsa::pkcs1v15::Pkcs1v15Encrypt;
use rsa::traits::PublicKeyParts;
use spki::{AlgorithmIdentifierRef, SignatureAlgorithmIdentifier};

use crate::algs::DigestAlg;
use crate::oid;

/// An RSA key operation failed (in software or in the hardware behind the trait).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Signing failed.
    #[error("the device key could not sign")]
    Sign,
    /// Decrypting the content-encryption key failed (wrong recipient or corrupted key).
    #[error("the device key could not decrypt the content-encryption key")]
    Decrypt,
    /// Key generation failed or the size is not allowed (MYCERTKEYLEN is 1024 or 2048).
    #[error("RSA key generation failed or key size not allowed")]
    Generate,
}

/// The private half of the phone's identity, wherever it lives.
pub trait DeviceKey {
    /// The RSA public key.
    fn public_key(&self) -> &RsaPublicKey;
    /// RSASSA-PKCS1-v1_5 signature over an already computed `digest` made with `alg`.
    ///
    /// # Errors
    /// [`KeyError::Sign`].
    fn sign_digest(&self, alg: DigestAlg, digest: &[u8]) -> Result<Vec<u8>, KeyError>;
    /// RSAES-PKCS1-v1_5 decryption of a CMS content-encryption key (RFC 8894 §3.2.2).
    ///
    /// # Errors
    /// [`KeyError::Decrypt`].
    fn decrypt_key(&self, ciphertext: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// A software RSA key.
#[derive(Clone, Debug)]
pub struct SoftwareKey {
    private: RsaPrivateKey,
    public: RsaPublicKey,
}

impl SoftwareKey {
    /// Key sizes MYCERTKEYLEN allows (spec/scep.md §2).
    pub const ALLOWED_BITS: [usize; 2] = [1024, 2048];

    /// Generates a key of `bits` (1024 or 2048) from the caller's RNG.
    ///
    /// # Errors
    /// [`KeyError::Generate`] for another size or a generation failure.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(
        rng: &mut R,
        bits: usize,
    ) -> Result<Self, KeyError> {
        if !Self::ALLOWED_BITS.contains(&bits) {
            return Err(KeyError::Generate);
        }
        let private = RsaPrivateKey::new(rng, bits).map_err(|_| KeyError::Generate)?;
        Ok(Self::from_private(private))
    }

    /// Wraps an existing private key.
    #[must_use]
    pub fn from_private(private: RsaPrivateKey) -> Self {
        let public = private.to_public_key();
        SoftwareKey { private, public }
    }

    /// Reads a PKCS#8 DER private key (RFC 5208), e.g. one stored after an earlier enrollment.
    ///
    /// # Errors
    /// [`KeyError::Generate`] when the bytes are not an RSA PKCS#8 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        use rsa::pkcs8::DecodePrivateKey as _;
        RsaPrivateKey::from_pkcs8_der(der)
            .map(Self::from_private)
            .map_err(|_| KeyError::Generate)
    }

    /// The private key as PKCS#8 DER (RFC 5208), to store it with the certificate.
    ///
    /// # Errors
    /// [`KeyError::Generate`] when encoding fails.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        use rsa::pkcs8::EncodePrivateKey as _;
        self.private
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| KeyError::Generate)
    }

    /// The private key.
    #[must_use]
    pub fn private_key(&self) -> &RsaPrivateKey {
        &self.private
    }

    /// Modulus size in bits.
    #[must_use]
    // crypto-bigint 0.7.11 renames `bits` to `bit_width`; the workspace locks 0.7.10, the fuzz
    // and no_std checks resolve 0.7.11: `bits` works with both.
    #[allow(deprecated)]
    pub fn bits(&self) -> usize {
        self.public.n().bits() as usize
    }
}

impl DeviceKey for SoftwareKey {
    fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }
    fn sign_digest(&self, alg: DigestAlg, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.private
            .sign(alg.pkcs1v15(), digest)
            .map_err(|_| KeyError::Sign)
    }
    fn decrypt_key(&self, ciphertext: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.private
            .decrypt(Pkcs1v15Encrypt, ciphertext)
            .map_err(|_| KeyError::Decrypt)
    }
}

impl<K: DeviceKey + ?Sized> DeviceKey for Box<K> {
    fn public_key(&self) -> &RsaPublicKey {
        (**self).public_key()
    }
    fn sign_digest(&self, alg: DigestAlg, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
        (**self).sign_digest(alg, digest)
    }
    fn decrypt_key(&self, ciphertext: &[u8]) -> Result<Vec<u8>, KeyError> {
        (**self).decrypt_key(ciphertext)
    }
}

/// Adapts a [`DeviceKey`] to the x509-cert builders (sha256WithRSAEncryption), so the CSR and
/// the self-signed certificate are built by `RequestBuilder`/`CertificateBuilder` even for a
/// hardware key.
pub(crate) struct BuilderSigner<'a>(pub(crate) &'a dyn DeviceKey);

impl signature::Signer<rsa::pkcs1v15::Signature> for BuilderSigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<rsa::pkcs1v15::Signature, signature::Error> {
        let digest = DigestAlg::Sha256.digest(msg);
        let sig = self
            .0
            .sign_digest(DigestAlg::Sha256, &digest)
            .map_err(|_| signature::Error::new())?;
        rsa::pkcs1v15::Signature::try_from(sig.as_slice())
    }
}

impl signature::Keypair for BuilderSigner<'_> {
    type VerifyingKey = rsa::pkcs1v15::VerifyingKey<sha2::Sha256>;
    fn verifying_key(&self) -> Self::VerifyingKey {
        rsa::pkcs1v15::VerifyingKey::new(self.0.public_key().clone())
    }
}

impl SignatureAlgorithmIdentifier for BuilderSigner<'_> {
    type Params = AnyRef<'static>;
    const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifierRef<'static> =
        AlgorithmIdentifierRef {
            oid: oid::SHA256_WITH_RSA,
            parameters: Some(AnyRef::NULL),
        };
}
