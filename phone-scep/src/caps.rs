//! GetCACaps (RFC 8894 §3.5.2): the CA's capabilities, and the algorithms they select
//! (spec/scep.md §4.4, Decision 7).

use crate::algs::{ContentCipher, DigestAlg};

/// The largest GetCACaps body read; anything past it is ignored (a CA lists ~10 short words).
pub const MAX_CAPS_BODY: usize = 4096;

/// Capabilities a CA announced. Unknown keywords are ignored (RFC 8894 §3.5.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Caps {
    /// `AES`: AES-CBC content encryption.
    pub aes: bool,
    /// `DES3`: triple-DES content encryption.
    pub des3: bool,
    /// `GetNextCACert`: CA rollover certificates are available.
    pub get_next_ca_cert: bool,
    /// `POSTPKIOperation`: PKIOperation by POST.
    pub post_pki_operation: bool,
    /// `Renewal`: RenewalReq is supported.
    pub renewal: bool,
    /// `SHA-1`.
    pub sha1: bool,
    /// `SHA-256`.
    pub sha256: bool,
    /// `SHA-512`.
    pub sha512: bool,
    /// `SCEPStandard`: implies AES, POSTPKIOperation and SHA-256 (RFC 8894 §3.5.2).
    pub scep_standard: bool,
}

impl Caps {
    /// Parses a GetCACaps body: keywords separated by line breaks (or other whitespace),
    /// compared without regard to case. Never fails: an empty or unreadable body means
    /// "no capabilities", which RFC 8894 §3.5.2 tells clients to assume on error.
    #[must_use]
    pub fn parse(body: &[u8]) -> Caps {
        let body = &body[..body.len().min(MAX_CAPS_BODY)];
        let mut caps = Caps::default();
        for word in body
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty())
        {
            let is = |k: &str| word.eq_ignore_ascii_case(k.as_bytes());
            if is("AES") {
                caps.aes = true;
            } else if is("DES3") {
                caps.des3 = true;
            } else if is("GetNextCACert") {
                caps.get_next_ca_cert = true;
            } else if is("POSTPKIOperation") {
                caps.post_pki_operation = true;
            } else if is("Renewal") {
                caps.renewal = true;
            } else if is("SHA-1") {
                caps.sha1 = true;
            } else if is("SHA-256") {
                caps.sha256 = true;
            } else if is("SHA-512") {
                caps.sha512 = true;
            } else if is("SCEPStandard") {
                caps.scep_standard = true;
            }
        }
        caps
    }

    /// Content encryption for our requests: AES-256 when SCEPENCALG=1, AES-128 when the CA
    /// offers AES, otherwise DES-EDE3 (Decision 7; RFC 8894 §3.5.2 deprecates single DES, so
    /// SCEPENCALG=0 "DES" is sent as triple DES).
    #[must_use]
    pub fn content_cipher(&self, scepencalg_aes256: bool) -> ContentCipher {
        if scepencalg_aes256 {
            ContentCipher::Aes256Cbc
        } else if self.aes || self.scep_standard {
            ContentCipher::Aes128Cbc
        } else {
            ContentCipher::DesEde3Cbc
        }
    }

    /// Digest for our signatures: SHA-256 when offered, otherwise SHA-1 (spec/scep.md §4.4).
    #[must_use]
    pub fn digest(&self) -> DigestAlg {
        if self.sha256 || self.scep_standard {
            DigestAlg::Sha256
        } else {
            DigestAlg::Sha1
        }
    }

    /// Whether PKIOperation goes by POST (RFC 8894 §4.1); otherwise by GET.
    #[must_use]
    pub fn use_post(&self) -> bool {
        self.post_pki_operation || self.scep_standard
    }
}

/// The keywords, as GetCACaps lists them, space-separated (`none` when there are none).
impl core::fmt::Display for Caps {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let words = [
            (self.aes, "AES"),
            (self.des3, "DES3"),
            (self.get_next_ca_cert, "GetNextCACert"),
            (self.post_pki_operation, "POSTPKIOperation"),
            (self.renewal, "Renewal"),
            (self.sha1, "SHA-1"),
            (self.sha256, "SHA-256"),
            (self.sha512, "SHA-512"),
            (self.scep_standard, "SCEPStandard"),
        ];
        let mut any = false;
        for (_, w) in words.iter().filter(|(on, _)| *on) {
            if any {
                f.write_str(" ")?;
            }
            f.write_str(w)?;
            any = true;
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scepserver_list_selects_aes_sha256_post() {
        // The fixed list of micromdm scepserver 2.1.0 (lab recipe §3).
        let caps =
            Caps::parse(b"Renewal\nSHA-1\nSHA-256\nAES\nDES3\nSCEPStandard\nPOSTPKIOperation");
        assert!(caps.renewal && caps.sha1 && caps.sha256 && caps.aes && caps.des3);
        assert!(!caps.get_next_ca_cert);
        assert_eq!(caps.content_cipher(false), ContentCipher::Aes128Cbc);
        assert_eq!(caps.content_cipher(true), ContentCipher::Aes256Cbc);
        assert_eq!(caps.digest(), DigestAlg::Sha256);
        assert!(caps.use_post());
        assert_eq!(
            caps.to_string(),
            "AES DES3 POSTPKIOperation Renewal SHA-1 SHA-256 SCEPStandard"
        );
    }

    #[test]
    fn empty_caps_fall_back_to_3des_sha1_get() {
        let caps = Caps::parse(b"");
        assert_eq!(caps.to_string(), "none");
        assert_eq!(caps.content_cipher(false), ContentCipher::DesEde3Cbc);
        assert_eq!(caps.digest(), DigestAlg::Sha1);
        assert!(!caps.use_post());
    }

    #[test]
    fn crlf_and_case_are_tolerated_and_scepstandard_implies() {
        let caps = Caps::parse(b"scepstandard\r\ngetnextcacert\r\n");
        assert!(caps.scep_standard && caps.get_next_ca_cert);
        assert_eq!(caps.digest(), DigestAlg::Sha256);
        assert_eq!(caps.content_cipher(false), ContentCipher::Aes128Cbc);
        assert!(caps.use_post());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_ignores_noise(body in proptest::collection::vec(proptest::num::u8::ANY, 0..8192)) {
            let caps = Caps::parse(&body);
            let mut with_aes = body.clone();
            with_aes.extend_from_slice(b"\nAES\n");
            // Adding a keyword only ever adds that capability (when it is within the bound).
            if with_aes.len() <= MAX_CAPS_BODY {
                let more = Caps::parse(&with_aes);
                proptest::prop_assert!(more.aes);
                proptest::prop_assert_eq!(Caps { aes: true, ..caps }, more);
            }
        }
    }
}
