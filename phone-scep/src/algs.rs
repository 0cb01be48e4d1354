//! The digest and content-encryption algorithms SCEP messages use, chosen from GetCACaps
//! (RFC 8894 §3.5.2) and Decision 7, and the symmetric crypto done by hand because the cms
//! crate's builder has no 3DES/DES and no decryption (CRATES.md §2).

use alloc::vec::Vec;

use cipher::block_padding::Pkcs7;
use cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use const_oid::ObjectIdentifier;
use sha2::Digest as _;

use crate::oid;

/// A message digest algorithm for CMS signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestAlg {
    /// SHA-1: the fallback when GetCACaps does not list SHA-256, and what scepserver signs with.
    Sha1,
    /// SHA-256: preferred whenever the CA offers it (Decision 7).
    Sha256,
    /// SHA-512: accepted on replies.
    Sha512,
}

impl DigestAlg {
    /// The algorithm's OID.
    #[must_use]
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            DigestAlg::Sha1 => oid::SHA1,
            DigestAlg::Sha256 => oid::SHA256,
            DigestAlg::Sha512 => oid::SHA512,
        }
    }

    /// The digest algorithm for an OID, if supported.
    #[must_use]
    pub fn from_oid(o: &ObjectIdentifier) -> Option<Self> {
        match *o {
            oid::SHA1 => Some(DigestAlg::Sha1),
            oid::SHA256 => Some(DigestAlg::Sha256),
            oid::SHA512 => Some(DigestAlg::Sha512),
            _ => None,
        }
    }

    /// Hashes `data`.
    #[must_use]
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            DigestAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            DigestAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The RSASSA-PKCS1-v1_5 scheme for this digest (RFC 8017 §9.2).
    #[must_use]
    pub fn pkcs1v15(self) -> rsa::pkcs1v15::Pkcs1v15Sign {
        match self {
            DigestAlg::Sha1 => rsa::pkcs1v15::Pkcs1v15Sign::new::<sha1::Sha1>(),
            DigestAlg::Sha256 => rsa::pkcs1v15::Pkcs1v15Sign::new::<sha2::Sha256>(),
            DigestAlg::Sha512 => rsa::pkcs1v15::Pkcs1v15Sign::new::<sha2::Sha512>(),
        }
    }

    /// The digest bound to a `shaXWithRSAEncryption` signature OID, if it is one.
    #[must_use]
    pub fn from_rsa_signature_oid(o: &ObjectIdentifier) -> Option<Self> {
        match *o {
            oid::SHA1_WITH_RSA => Some(DigestAlg::Sha1),
            oid::SHA256_WITH_RSA => Some(DigestAlg::Sha256),
            oid::SHA512_WITH_RSA => Some(DigestAlg::Sha512),
            _ => None,
        }
    }
}

/// A CBC content-encryption algorithm for EnvelopedData.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentCipher {
    /// Single DES-CBC: never sent by us, but scepserver replies with it (CRATES.md / lab recipe).
    DesCbc,
    /// DES-EDE3-CBC: sent when the CA does not offer AES.
    DesEde3Cbc,
    /// AES-128-CBC: sent when the CA offers AES.
    Aes128Cbc,
    /// AES-192-CBC: accepted on replies.
    Aes192Cbc,
    /// AES-256-CBC: sent when the CA offers AES and SCEPENCALG=1.
    Aes256Cbc,
}

/// The ciphertext or its padding is malformed, or the key/IV has the wrong length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("content decryption failed (wrong key or corrupted ciphertext)")]
pub struct DecryptError;

impl ContentCipher {
    /// The algorithm's OID.
    #[must_use]
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            ContentCipher::DesCbc => oid::DES_CBC,
            ContentCipher::DesEde3Cbc => oid::DES_EDE3_CBC,
            ContentCipher::Aes128Cbc => oid::AES128_CBC,
            ContentCipher::Aes192Cbc => oid::AES192_CBC,
            ContentCipher::Aes256Cbc => oid::AES256_CBC,
        }
    }

    /// The cipher for an OID, if supported.
    #[must_use]
    pub fn from_oid(o: &ObjectIdentifier) -> Option<Self> {
        match *o {
            oid::DES_CBC => Some(ContentCipher::DesCbc),
            oid::DES_EDE3_CBC => Some(ContentCipher::DesEde3Cbc),
            oid::AES128_CBC => Some(ContentCipher::Aes128Cbc),
            oid::AES192_CBC => Some(ContentCipher::Aes192Cbc),
            oid::AES256_CBC => Some(ContentCipher::Aes256Cbc),
            _ => None,
        }
    }

    /// Key length in bytes.
    #[must_use]
    pub fn key_len(self) -> usize {
        match self {
            ContentCipher::DesCbc => 8,
            ContentCipher::DesEde3Cbc | ContentCipher::Aes192Cbc => 24,
            ContentCipher::Aes128Cbc => 16,
            ContentCipher::Aes256Cbc => 32,
        }
    }

    /// IV (= block) length in bytes.
    #[must_use]
    pub fn iv_len(self) -> usize {
        match self {
            ContentCipher::DesCbc | ContentCipher::DesEde3Cbc => 8,
            _ => 16,
        }
    }

    /// CBC-encrypts `plaintext` with PKCS#7 padding (RFC 5652 §6.3).
    ///
    /// # Errors
    /// [`DecryptError`] when `key` or `iv` has the wrong length.
    pub fn encrypt(self, key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, DecryptError> {
        fn run<C: BlockModeEncrypt + KeyIvInit>(
            k: &[u8],
            iv: &[u8],
            p: &[u8],
        ) -> Result<Vec<u8>, DecryptError> {
            Ok(C::new_from_slices(k, iv)
                .map_err(|_| DecryptError)?
                .encrypt_padded_vec::<Pkcs7>(p))
        }
        match self {
            ContentCipher::DesCbc => run::<cbc::Encryptor<des::Des>>(key, iv, plaintext),
            ContentCipher::DesEde3Cbc => run::<cbc::Encryptor<des::TdesEde3>>(key, iv, plaintext),
            ContentCipher::Aes128Cbc => run::<cbc::Encryptor<aes::Aes128>>(key, iv, plaintext),
            ContentCipher::Aes192Cbc => run::<cbc::Encryptor<aes::Aes192>>(key, iv, plaintext),
            ContentCipher::Aes256Cbc => run::<cbc::Encryptor<aes::Aes256>>(key, iv, plaintext),
        }
    }

    /// CBC-decrypts `ciphertext` and removes the PKCS#7 padding.
    ///
    /// # Errors
    /// [`DecryptError`] on a wrong key/IV length, a ciphertext that is not whole blocks, or bad padding.
    pub fn decrypt(
        self,
        key: &[u8],
        iv: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, DecryptError> {
        fn run<C: BlockModeDecrypt + KeyIvInit>(
            k: &[u8],
            iv: &[u8],
            c: &[u8],
        ) -> Result<Vec<u8>, DecryptError> {
            C::new_from_slices(k, iv)
                .map_err(|_| DecryptError)?
                .decrypt_padded_vec::<Pkcs7>(c)
                .map_err(|_| DecryptError)
        }
        match self {
            ContentCipher::DesCbc => run::<cbc::Decryptor<des::Des>>(key, iv, ciphertext),
            ContentCipher::DesEde3Cbc => run::<cbc::Decryptor<des::TdesEde3>>(key, iv, ciphertext),
            ContentCipher::Aes128Cbc => run::<cbc::Decryptor<aes::Aes128>>(key, iv, ciphertext),
            ContentCipher::Aes192Cbc => run::<cbc::Decryptor<aes::Aes192>>(key, iv, ciphertext),
            ContentCipher::Aes256Cbc => run::<cbc::Decryptor<aes::Aes256>>(key, iv, ciphertext),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_cipher_round_trips_and_rejects_a_wrong_key() {
        for c in [
            ContentCipher::DesCbc,
            ContentCipher::DesEde3Cbc,
            ContentCipher::Aes128Cbc,
            ContentCipher::Aes192Cbc,
            ContentCipher::Aes256Cbc,
        ] {
            let key: Vec<u8> = (0..c.key_len() as u8)
                .map(|b| b.wrapping_mul(37).wrapping_add(1))
                .collect();
            let iv = alloc::vec![7u8; c.iv_len()];
            let msg = b"a certificate request of some length";
            let ct = c.encrypt(&key, &iv, msg).unwrap();
            assert_eq!(ct.len() % c.iv_len(), 0);
            assert_eq!(c.decrypt(&key, &iv, &ct).unwrap(), msg);
            assert_eq!(ContentCipher::from_oid(&c.oid()), Some(c));
            let mut wrong = key.clone();
            wrong[0] ^= 0xF0;
            wrong[c.key_len() - 1] ^= 0x0F;
            assert_ne!(c.decrypt(&wrong, &iv, &ct).ok().as_deref(), Some(&msg[..]));
            assert_eq!(c.decrypt(&key[1..], &iv, &ct), Err(DecryptError));
        }
    }
}
