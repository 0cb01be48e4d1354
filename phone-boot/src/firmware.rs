//! Signed firmware images: the detached signature file (`<image>.sig`) and its checks.
//!
//! The format is this project's own; [FIRMWARE.md](../FIRMWARE.md) documents it. In short, a
//! signature file is seven LF-terminated ASCII lines:
//!
//! ```text
//! phone-boot firmware signature v1
//! app: S96x1_SALBR7_1_4_0r11_V4r83.tar
//! models: 9608 9611G
//! length: 1048576
//! sha256: <64 lower-case hex digits: SHA-256 of the image>
//! key: <16 lower-case hex digits: the first 8 bytes of SHA-256 of the public key>
//! signature: <base64 of the 64-byte Ed25519 signature (RFC 8032) over all lines above>
//! ```
//!
//! The signature covers the exact bytes of the first six lines (final LF included), so there is
//! nothing to canonicalise. The phone checks, in order: the file parses; the key id names the
//! trusted firmware key; the signature verifies (strict RFC 8032 §5.1.7 checks); the image is for
//! this model (its `models` line names MODEL or MODEL4, [`Models::allows`]); its app name is the file the script asked for. Only then does it download the image,
//! with the signed length as the body limit, and check length and SHA-256 before flashing.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use base64::Engine as _;
/// The Ed25519 signing key type used by [`sign`] (from ed25519-dalek).
pub use ed25519_dalek::SigningKey;
use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// The first line of every signature file.
pub const MAGIC: &str = "phone-boot firmware signature v1";
/// Largest signature file accepted.
pub const MAX_SIG_FILE: usize = 4096;
/// Most models one image may name.
pub const MAX_MODELS: usize = 32;
/// Longest app or model name.
pub const MAX_NAME: usize = 96;

/// Why a signature file does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigFileError {
    /// Larger than [`MAX_SIG_FILE`].
    #[error("signature file larger than {MAX_SIG_FILE} bytes")]
    TooLarge,
    /// The first line is not [`MAGIC`].
    #[error("not a phone-boot firmware signature (bad first line)")]
    BadMagic,
    /// A line is missing, out of order, has the wrong name, or there are extra lines.
    #[error("line {line}: expected `{expected}:`")]
    MissingField {
        /// 1-based line number.
        line: usize,
        /// The field name expected there.
        expected: &'static str,
    },
    /// A field's value is malformed.
    #[error("line {line}: invalid {field}")]
    BadValue {
        /// 1-based line number.
        line: usize,
        /// The field name.
        field: &'static str,
    },
    /// The file does not end with the LF of the signature line, or has bytes after it.
    #[error("signature file must end after the signature line")]
    TrailingData,
}

/// Why a firmware image is refused (reported as `SOFTWARE=rejected <name>: <reason>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// No signature file could be obtained.
    #[error("no signature file")]
    NoSignature,
    /// The signature file does not parse.
    #[error("bad signature file: {0}")]
    SigFile(SigFileError),
    /// Signed with a key this phone does not trust.
    #[error("signed with an untrusted key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The image is not for this model.
    #[error("image is not for model {0}")]
    WrongModel(String),
    /// The signature is for another file name.
    #[error("signature is for {signed}, not {requested}")]
    WrongApp {
        /// The app name in the signature.
        signed: String,
        /// The name the script asked for.
        requested: String,
    },
    /// The image length differs from the signed length.
    #[error("image length {got} differs from signed length {signed}")]
    WrongLength {
        /// Bytes received.
        got: u64,
        /// Bytes signed.
        signed: u64,
    },
    /// The image's SHA-256 differs from the signed digest.
    #[error("image digest does not match the signature")]
    WrongDigest,
    /// The image could not be downloaded.
    #[error("image download failed")]
    Download,
    /// The flash refused a write.
    #[error("flash write failed")]
    Flash,
    /// No firmware key is installed, so no image can be trusted.
    #[error("no trusted firmware key installed")]
    NoKey,
}

/// The models an image is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Models {
    /// `*`: any model.
    Any,
    /// These models (compared ASCII case-insensitively).
    List(Vec<String>),
}

/// MODEL4 of a MODEL: its first 4 characters (spec/script.md: `$MODEL4`), the whole model when
/// it is shorter.
#[must_use]
pub fn model4(model: &str) -> &str {
    model
        .char_indices()
        .nth(4)
        .map_or(model, |(end, _)| &model[..end])
}

impl Models {
    /// Whether a phone of `model` (MODEL) may run this image: an entry names its MODEL or its
    /// MODEL4, ASCII case-insensitively. An image signed for `9611` is for every 9611 (the
    /// 9611G's MODEL4, as the vendor's `IF $MODEL4 SEQ 9611` branches pick images); one signed
    /// for `9611G` is not for a `9611` nor a `9611GX`.
    #[must_use]
    pub fn allows(&self, model: &str) -> bool {
        let four = model4(model);
        match self {
            Models::Any => true,
            Models::List(list) => list
                .iter()
                .any(|m| m.eq_ignore_ascii_case(model) || m.eq_ignore_ascii_case(four)),
        }
    }
}

/// The signed facts about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageHeader {
    /// The application (file) name, as APPNAME names it.
    pub app: String,
    /// The models it runs on.
    pub models: Models,
    /// Its exact length in bytes.
    pub length: u64,
    /// SHA-256 of the image.
    pub sha256: [u8; 32],
    /// The first 8 bytes of SHA-256 of the signing public key.
    pub key_id: [u8; 8],
}

/// A parsed signature file; [`SignatureFile::verify`] before trusting [`SignatureFile::header`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFile {
    header: ImageHeader,
    signed: Vec<u8>,
    signature: [u8; 64],
}

/// A public key the phone trusts for firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareKey(VerifyingKey);

impl FirmwareKey {
    /// The key from its 32 raw bytes (RFC 8032 §5.1.5 encoding).
    ///
    /// # Errors
    /// When the bytes are not a valid Ed25519 point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Rejected> {
        VerifyingKey::from_bytes(bytes)
            .map(FirmwareKey)
            .map_err(|_| Rejected::UnknownKey)
    }

    /// The public half of a signing key.
    #[must_use]
    pub fn of(key: &SigningKey) -> Self {
        FirmwareKey(key.verifying_key())
    }

    /// The raw 32 bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key id written into signature files.
    #[must_use]
    pub fn key_id(&self) -> [u8; 8] {
        key_id(&self.0)
    }
}

fn key_id(key: &VerifyingKey) -> [u8; 8] {
    let digest = Sha256::digest(key.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    id
}

fn hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

fn unhex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let d = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[i] = d(pair[0])? << 4 | d(pair[1])?;
    }
    Some(out)
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

impl ImageHeader {
    /// The header describing `image`, to be signed by `key`.
    #[must_use]
    pub fn for_image(app: &str, models: Models, image: &[u8], key: &FirmwareKey) -> Self {
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&Sha256::digest(image));
        ImageHeader {
            app: app.into(),
            models,
            length: image.len() as u64,
            sha256,
            key_id: key.key_id(),
        }
    }

    /// The six signed lines, as they appear in the file: the exact bytes the signature covers.
    #[must_use]
    pub fn signed_text(&self) -> String {
        let mut s = String::new();
        s.push_str(MAGIC);
        let _ = write!(s, "\napp: {}\nmodels: ", self.app);
        match &self.models {
            Models::Any => s.push('*'),
            Models::List(list) => {
                for (i, m) in list.iter().enumerate() {
                    if i > 0 {
                        s.push(' ');
                    }
                    s.push_str(m);
                }
            }
        }
        let _ = write!(s, "\nlength: {}\nsha256: ", self.length);
        hex(&mut s, &self.sha256);
        s.push_str("\nkey: ");
        hex(&mut s, &self.key_id);
        s.push('\n');
        s
    }

    /// Checks a received image against the signed length and digest.
    ///
    /// # Errors
    /// [`Rejected::WrongLength`] or [`Rejected::WrongDigest`].
    pub fn check_image(&self, image: &[u8]) -> Result<(), Rejected> {
        if image.len() as u64 != self.length {
            return Err(Rejected::WrongLength {
                got: image.len() as u64,
                signed: self.length,
            });
        }
        if Sha256::digest(image)[..] != self.sha256[..] {
            return Err(Rejected::WrongDigest);
        }
        Ok(())
    }
}

/// Why a header cannot be signed (names that the parser would refuse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {0} for a signature file")]
pub struct SignError(&'static str);

/// Signs `image` as `app` for `models` and returns the signature file's text.
///
/// # Errors
/// [`SignError`] when the app or a model name contains characters the format does not allow.
pub fn sign(
    key: &SigningKey,
    app: &str,
    models: Models,
    image: &[u8],
) -> Result<String, SignError> {
    if !name_ok(app) {
        return Err(SignError("app name"));
    }
    if let Models::List(list) = &models
        && (list.is_empty() || list.len() > MAX_MODELS || !list.iter().all(|m| name_ok(m)))
    {
        return Err(SignError("model list"));
    }
    let header = ImageHeader::for_image(app, models, image, &FirmwareKey(key.verifying_key()));
    let mut text = header.signed_text();
    let sig: Signature = key.sign(text.as_bytes());
    text.push_str("signature: ");
    text.push_str(&base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()));
    text.push('\n');
    Ok(text)
}

/// Splits `field: value` for the expected field name.
fn field<'a>(line: &'a [u8], name: &'static str, number: usize) -> Result<&'a [u8], SigFileError> {
    line.strip_prefix(name.as_bytes())
        .and_then(|r| r.strip_prefix(b": "))
        .ok_or(SigFileError::MissingField {
            line: number,
            expected: name,
        })
}

impl SignatureFile {
    /// Parses a signature file. Strict: exact line order, LF line ends, no extra bytes.
    ///
    /// # Errors
    /// [`SigFileError`] saying which line is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, SigFileError> {
        if bytes.len() > MAX_SIG_FILE {
            return Err(SigFileError::TooLarge);
        }
        let mut lines = bytes.split_inclusive(|&b| b == b'\n');
        let mut signed_len = 0usize;
        let mut next = |number: usize, name: &'static str| -> Result<&[u8], SigFileError> {
            let line = lines.next().ok_or(SigFileError::MissingField {
                line: number,
                expected: name,
            })?;
            let body = line.strip_suffix(b"\n").ok_or(if number == 7 {
                SigFileError::TrailingData
            } else {
                SigFileError::MissingField {
                    line: number,
                    expected: name,
                }
            })?;
            if body.iter().any(|&b| !(0x20..0x7f).contains(&b)) {
                return Err(SigFileError::BadValue {
                    line: number,
                    field: name,
                });
            }
            if number < 7 {
                signed_len += line.len();
            }
            Ok(body)
        };
        if next(1, "magic")? != MAGIC.as_bytes() {
            return Err(SigFileError::BadMagic);
        }
        let bad = |line, field| SigFileError::BadValue { line, field };
        let app =
            core::str::from_utf8(field(next(2, "app")?, "app", 2)?).map_err(|_| bad(2, "app"))?;
        if !name_ok(app) {
            return Err(bad(2, "app"));
        }
        let models_raw = core::str::from_utf8(field(next(3, "models")?, "models", 3)?)
            .map_err(|_| bad(3, "models"))?;
        let models = if models_raw == "*" {
            Models::Any
        } else {
            let list: Vec<String> = models_raw.split(' ').map(String::from).collect();
            if list.len() > MAX_MODELS || !list.iter().all(|m| name_ok(m)) {
                return Err(bad(3, "models"));
            }
            Models::List(list)
        };
        let length_raw = field(next(4, "length")?, "length", 4)?;
        let length = parse_decimal(length_raw).ok_or(bad(4, "length"))?;
        let sha256 =
            unhex::<32>(field(next(5, "sha256")?, "sha256", 5)?).ok_or(bad(5, "sha256"))?;
        let key_id = unhex::<8>(field(next(6, "key")?, "key", 6)?).ok_or(bad(6, "key"))?;
        let sig_b64 = field(next(7, "signature")?, "signature", 7)?;
        let mut signature = [0u8; 64];
        match base64::engine::general_purpose::STANDARD.decode_slice(sig_b64, &mut signature) {
            Ok(64) => {}
            _ => return Err(bad(7, "signature")),
        }
        // Canonical base64 only: re-encoding must give the same text.
        if base64::engine::general_purpose::STANDARD
            .encode(signature)
            .as_bytes()
            != sig_b64
        {
            return Err(bad(7, "signature"));
        }
        if lines.next().is_some() {
            return Err(SigFileError::TrailingData);
        }
        let header = ImageHeader {
            app: app.into(),
            models,
            length,
            sha256,
            key_id,
        };
        Ok(SignatureFile {
            header,
            signed: bytes[..signed_len].to_vec(),
            signature,
        })
    }

    /// The bytes the signature covers (always equal to `header().signed_text()`).
    #[must_use]
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed
    }

    /// The header. Not to be trusted before [`SignatureFile::verify`] succeeded.
    #[must_use]
    pub fn header(&self) -> &ImageHeader {
        &self.header
    }

    /// Checks the key id and the Ed25519 signature (strict verification).
    ///
    /// # Errors
    /// [`Rejected::UnknownKey`] or [`Rejected::BadSignature`].
    pub fn verify(&self, key: &FirmwareKey) -> Result<&ImageHeader, Rejected> {
        if self.header.key_id != key.key_id() {
            return Err(Rejected::UnknownKey);
        }
        key.0
            .verify_strict(&self.signed, &Signature::from_bytes(&self.signature))
            .map_err(|_| Rejected::BadSignature)?;
        Ok(&self.header)
    }

    /// Everything the phone checks before it downloads the image: signature, model, app name.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn check_for(
        &self,
        key: &FirmwareKey,
        model: &str,
        requested: &str,
    ) -> Result<&ImageHeader, Rejected> {
        let header = self.verify(key)?;
        if !header.models.allows(model) {
            return Err(Rejected::WrongModel(model.into()));
        }
        if header.app != requested {
            return Err(Rejected::WrongApp {
                signed: header.app.clone(),
                requested: requested.into(),
            });
        }
        Ok(header)
    }
}

/// `0` or a decimal without leading zeros, fitting in u64.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

impl fmt::Display for ImageHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bytes)", self.app, self.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn keys(seed: u8) -> (SigningKey, FirmwareKey) {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let pk = FirmwareKey(sk.verifying_key());
        (sk, pk)
    }

    fn models(list: &[&str]) -> Models {
        Models::List(list.iter().map(|s| String::from(*s)).collect())
    }

    #[test]
    fn sign_parse_verify() {
        let (sk, pk) = keys(1);
        let image = vec![0x5a; 3000];
        let text = sign(
            &sk,
            "S96x1_SALBR7_1_4_0r11_V4r83.tar",
            models(&["9608", "9611G"]),
            &image,
        )
        .unwrap();
        assert!(text.starts_with("phone-boot firmware signature v1\napp: S96x1_SALBR7_1_4_0r11_V4r83.tar\nmodels: 9608 9611G\nlength: 3000\nsha256: "));
        let sig = SignatureFile::parse(text.as_bytes()).unwrap();
        let h = sig
            .check_for(&pk, "9611g", "S96x1_SALBR7_1_4_0r11_V4r83.tar")
            .unwrap();
        h.check_image(&image).unwrap();
        assert_eq!(h.length, 3000);
        assert_eq!(
            sig.check_for(&pk, "9641G", "S96x1_SALBR7_1_4_0r11_V4r83.tar"),
            Err(Rejected::WrongModel("9641G".into()))
        );
        assert!(matches!(
            sig.check_for(&pk, "9608", "other.bin"),
            Err(Rejected::WrongApp { .. })
        ));
        let (_, other) = keys(2);
        assert_eq!(sig.verify(&other), Err(Rejected::UnknownKey));
        let mut bad = image.clone();
        bad[7] ^= 1;
        assert_eq!(h.check_image(&bad), Err(Rejected::WrongDigest));
        assert_eq!(
            h.check_image(&image[1..]),
            Err(Rejected::WrongLength {
                got: 2999,
                signed: 3000
            })
        );
        let any = sign(&sk, "a.bin", Models::Any, b"x").unwrap();
        assert!(
            SignatureFile::parse(any.as_bytes())
                .unwrap()
                .check_for(&pk, "J179", "a.bin")
                .is_ok()
        );
    }

    #[test]
    fn a_model_list_matches_model_or_model4() {
        assert_eq!(model4("9611G"), "9611");
        assert_eq!(model4("J179"), "J179");
        assert_eq!(model4("96"), "96");
        assert_eq!(model4("é9611G"), "é961");
        let four = models(&["9611"]);
        assert!(four.allows("9611G"));
        assert!(four.allows("9611g"));
        assert!(four.allows("9611"));
        assert!(!four.allows("9608G"));
        assert!(!four.allows("961"));
        let full = models(&["9611G"]);
        assert!(full.allows("9611G"));
        assert!(!full.allows("9611"));
        assert!(!full.allows("9611GX"));
        assert!(!full.allows("9608G"));
        // Through the whole check: an image signed for `9611` is accepted by a 9611G.
        let (sk, pk) = keys(4);
        let text = sign(&sk, "app.bin", models(&["9608", "9611"]), b"image").unwrap();
        let sig = SignatureFile::parse(text.as_bytes()).unwrap();
        assert!(sig.check_for(&pk, "9611G", "app.bin").is_ok());
        assert!(sig.check_for(&pk, "9608G", "app.bin").is_ok());
        assert_eq!(
            sig.check_for(&pk, "9641G", "app.bin"),
            Err(Rejected::WrongModel("9641G".into()))
        );
    }

    #[test]
    fn any_edit_of_the_signed_lines_breaks_the_signature() {
        let (sk, pk) = keys(3);
        let text = sign(&sk, "app.bin", models(&["9608"]), b"image").unwrap();
        // Change the models line to claim another model: still parses, no longer verifies.
        let forged = text.replace("models: 9608", "models: 9641");
        let sig = SignatureFile::parse(forged.as_bytes()).unwrap();
        assert_eq!(sig.verify(&pk), Err(Rejected::BadSignature));
        let forged = text.replace("length: 5", "length: 6");
        assert_eq!(
            SignatureFile::parse(forged.as_bytes()).unwrap().verify(&pk),
            Err(Rejected::BadSignature)
        );
        // A key id copied from the trusted key does not help a foreign signer.
        let (evil, _) = keys(4);
        let evil_text = sign(&evil, "app.bin", models(&["9608"]), b"image").unwrap();
        let own_id = text.lines().nth(5).unwrap();
        let evil_id = evil_text.lines().nth(5).unwrap();
        let forged = evil_text.replace(evil_id, own_id);
        assert_eq!(
            SignatureFile::parse(forged.as_bytes()).unwrap().verify(&pk),
            Err(Rejected::BadSignature)
        );
    }

    #[test]
    fn strict_parsing() {
        let (sk, _) = keys(5);
        let text = sign(&sk, "app.bin", models(&["9608"]), b"image").unwrap();
        let e = |s: &str| SignatureFile::parse(s.as_bytes()).unwrap_err();
        assert_eq!(e(&text.replace("v1", "v2")), SigFileError::BadMagic);
        assert_eq!(
            e(&text.replace('\n', "\r\n")),
            SigFileError::BadValue {
                line: 1,
                field: "magic"
            }
        );
        assert_eq!(
            e(&text.replace("app: ", "app:")),
            SigFileError::MissingField {
                line: 2,
                expected: "app"
            }
        );
        assert_eq!(
            e(&text.replace("app.bin", "app/../x")),
            SigFileError::BadValue {
                line: 2,
                field: "app"
            }
        );
        assert_eq!(
            e(&text.replace("9608", "96  08")),
            SigFileError::BadValue {
                line: 3,
                field: "models"
            }
        );
        assert_eq!(
            e(&text.replace("9608", "")),
            SigFileError::BadValue {
                line: 3,
                field: "models"
            }
        );
        assert_eq!(
            e(&text.replace("length: 5", "length: 05")),
            SigFileError::BadValue {
                line: 4,
                field: "length"
            }
        );
        assert_eq!(
            e(&text.replace("length: 5", "length: 99999999999999999999")),
            SigFileError::BadValue {
                line: 4,
                field: "length"
            }
        );
        let sha_line = text.lines().nth(4).unwrap();
        // Upper-case hex is not the canonical form.
        let upper = format!("sha256: {}", sha_line["sha256: ".len()..].to_uppercase());
        assert_eq!(
            e(&text.replace(sha_line, &upper)),
            SigFileError::BadValue {
                line: 5,
                field: "sha256"
            }
        );
        assert_eq!(e(text.trim_end()), SigFileError::TrailingData);
        assert_eq!(e(&format!("{text}extra\n")), SigFileError::TrailingData);
        let lines: Vec<&str> = text.lines().collect();
        let swapped = [
            lines[0], lines[2], lines[1], lines[3], lines[4], lines[5], lines[6],
        ]
        .join("\n")
            + "\n";
        assert_eq!(
            e(&swapped),
            SigFileError::MissingField {
                line: 2,
                expected: "app"
            }
        );
        assert_eq!(
            e(&lines[..6].join("\n")),
            SigFileError::MissingField {
                line: 6,
                expected: "key"
            }
        );
        let sig_line = lines[6];
        assert_eq!(
            e(&text.replace(sig_line, "signature: AAAA")),
            SigFileError::BadValue {
                line: 7,
                field: "signature"
            }
        );
        assert_eq!(e(&"x".repeat(MAX_SIG_FILE + 1)), SigFileError::TooLarge);
        assert_eq!(
            e(""),
            SigFileError::MissingField {
                line: 1,
                expected: "magic"
            }
        );
        assert!(sign(&sk, "a b", Models::Any, b"").is_err());
        assert!(sign(&sk, "a", Models::List(vec![]), b"").is_err());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever is signed parses back to the same header and verifies.
            #[test]
            fn round_trip(app in "[A-Za-z0-9._+-]{1,40}", list in proptest::collection::vec("[A-Za-z0-9_-]{1,12}", 1..5),
                          any_model: bool, image in proptest::collection::vec(any::<u8>(), 0..200), seed: u8) {
                let (sk, pk) = keys(seed);
                let m = if any_model { Models::Any } else { Models::List(list) };
                let text = sign(&sk, &app, m.clone(), &image).unwrap();
                let sig = SignatureFile::parse(text.as_bytes()).unwrap();
                let canonical = sig.header().signed_text();
                prop_assert_eq!(canonical.as_bytes(), sig.signed_bytes());
                let h = sig.verify(&pk).unwrap();
                prop_assert_eq!(&h.app, &app);
                prop_assert_eq!(&h.models, &m);
                prop_assert!(h.check_image(&image).is_ok());
            }

            /// Flipping any byte of a valid file never yields a file that verifies with another header.
            #[test]
            fn tamper(pos: usize, bit in 0u8..8) {
                let (sk, pk) = keys(9);
                let text = sign(&sk, "app.bin", Models::Any, b"img").unwrap();
                let mut bytes = text.into_bytes();
                let i = pos % bytes.len();
                bytes[i] ^= 1 << bit;
                if let Ok(sig) = SignatureFile::parse(&bytes) {
                    prop_assert!(sig.verify(&pk).is_err());
                }
            }
        }
    }
}
