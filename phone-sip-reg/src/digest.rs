//! HTTP Digest authentication for SIP: RFC 3261 §22.4, RFC 7616 (algorithms, `-sess`, qop) and
//! RFC 8760 (SHA-256 and SHA-512/256 in SIP).
//!
//! [`Challenge`] is what a `WWW-Authenticate` (401) or `Proxy-Authenticate` (407) header carries;
//! [`Credentials`] is what an `Authorization` / `Proxy-Authorization` header answers with.
//! [`respond`] computes the answer; the caller supplies the client nonce (from its RNG) and the
//! nonce count (RFC 7616 §3.4: `nc` counts the requests sent with one nonce).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use md5::Md5;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, space0};
use nom::combinator::opt;
use nom::{IResult, Parser};
use sha2::{Digest, Sha256, Sha512_256};

/// Most parameters one authentication header may carry (bounds the parse).
pub const MAX_AUTH_PARAMS: usize = 32;
/// Longest authentication header value accepted.
pub const MAX_AUTH_HEADER: usize = 8192;
/// Longest single parameter value accepted (after unquoting). Realms, nonces and opaque values
/// seen in practice are under 100 bytes; a Request-URI `sip:<SIPDOMAIN>` is at most 259.
pub const MAX_AUTH_VALUE: usize = 260;

/// The longest header [`Credentials`]' or [`Challenge`]'s `Display` can print from values within
/// [`MAX_AUTH_VALUE`]: at most ten values, each quoted and every byte escaped, plus the names
/// and separators. It stays below [`MAX_AUTH_HEADER`], so whatever parses prints back in a form
/// that parses again (the round-trip the sip_auth_header fuzz target checks).
const MAX_PRINTED: usize = 10 * (2 * MAX_AUTH_VALUE + 2 + 16) + 64;
const _: () = assert!(MAX_PRINTED <= MAX_AUTH_HEADER);

/// The hash algorithm of a digest challenge (RFC 7616 §3.3, RFC 8760 §2.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (the default when the challenge names none).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256` (SHA-512/256, FIPS 180-4).
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
    /// Any other token; never answered.
    Other(String),
}

impl Algorithm {
    /// Parse the token case-insensitively (RFC 7616 §3.3: "algorithm" values are tokens).
    #[must_use]
    pub fn from_token(s: &str) -> Self {
        const TABLE: [(&str, Algorithm); 6] = [
            ("MD5", Algorithm::Md5),
            ("MD5-sess", Algorithm::Md5Sess),
            ("SHA-256", Algorithm::Sha256),
            ("SHA-256-sess", Algorithm::Sha256Sess),
            ("SHA-512-256", Algorithm::Sha512_256),
            ("SHA-512-256-sess", Algorithm::Sha512_256Sess),
        ];
        for (name, alg) in TABLE {
            if name.eq_ignore_ascii_case(s) {
                return alg;
            }
        }
        Algorithm::Other(s.to_string())
    }

    /// The token as RFC 7616 spells it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
            Algorithm::Other(s) => s,
        }
    }

    /// Whether this is a `-sess` variant (RFC 7616 §3.4.2: HA1 mixes in nonce and cnonce).
    #[must_use]
    pub fn is_session(&self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }

    /// Whether [`respond`] can answer this algorithm.
    #[must_use]
    pub fn is_supported(&self) -> bool {
        !matches!(self, Algorithm::Other(_))
    }

    /// Preference among several challenges (RFC 8760 §2.4: use the strongest one understood).
    #[must_use]
    pub fn strength(&self) -> u8 {
        match self {
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => 3,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 2,
            Algorithm::Md5 | Algorithm::Md5Sess => 1,
            Algorithm::Other(_) => 0,
        }
    }

    fn hash_hex(&self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex(&d.finalize())
        }
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess | Algorithm::Other(_) => run::<Md5>(parts),
            Algorithm::Sha256 | Algorithm::Sha256Sess => run::<Sha256>(parts),
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => run::<Sha512_256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A quality-of-protection value (RFC 7616 §3.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`.
    Auth,
    /// `auth-int` (the body is hashed too).
    AuthInt,
    /// Any other token.
    Other(String),
}

impl Qop {
    /// Parse a qop token case-insensitively.
    #[must_use]
    pub fn from_token(s: &str) -> Self {
        if s.eq_ignore_ascii_case("auth") {
            Qop::Auth
        } else if s.eq_ignore_ascii_case("auth-int") {
            Qop::AuthInt
        } else {
            Qop::Other(s.to_string())
        }
    }

    /// The token.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
            Qop::Other(s) => s,
        }
    }
}

/// Why an authentication header did not parse, or a challenge cannot be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The header is longer than [`MAX_AUTH_HEADER`].
    #[error("authentication header longer than {MAX_AUTH_HEADER} bytes")]
    TooLong,
    /// The header does not follow `scheme param=value, ...` at this byte offset.
    #[error("malformed authentication header at byte {0}")]
    Syntax(usize),
    /// More than [`MAX_AUTH_PARAMS`] parameters.
    #[error("more than {MAX_AUTH_PARAMS} authentication parameters")]
    TooManyParams,
    /// A parameter appears twice (RFC 7235 §2.1: each parameter name only once per challenge
    /// or credentials).
    #[error("authentication parameter {0:?} given twice")]
    Duplicate(String),
    /// A parameter value is longer than [`MAX_AUTH_VALUE`].
    #[error("authentication parameter value longer than {MAX_AUTH_VALUE} bytes")]
    ValueTooLong,
    /// A quoted value holds a control character (CR, LF, NUL, ...; raw or as a quoted-pair):
    /// it would be copied into the header this client sends back (header injection).
    #[error("control character in a quoted authentication value")]
    ControlCharacter,
    /// The scheme is not `Digest`.
    #[error("authentication scheme {0:?} is not Digest")]
    NotDigest(String),
    /// A required parameter is absent.
    #[error("digest parameter {0} missing")]
    Missing(&'static str),
    /// A parameter has a value that cannot be used.
    #[error("digest parameter {0} invalid")]
    Invalid(&'static str),
    /// The algorithm is not one of RFC 7616's.
    #[error("digest algorithm {0:?} not supported")]
    UnsupportedAlgorithm(String),
    /// The challenge offers only qop values this client does not implement.
    #[error("no supported qop offered")]
    UnsupportedQop,
}

/// One `name=value` pair of an authentication header, value unquoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthParam {
    /// The parameter name, lower-cased.
    pub name: String,
    /// The value with quotes and quoted-pairs removed.
    pub value: String,
    /// Whether the value was a quoted-string.
    pub quoted: bool,
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

fn lws(i: &str) -> IResult<&str, &str> {
    take_while(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n')(i)
}

fn token(i: &str) -> IResult<&str, &str> {
    take_while1(is_token_char)(i)
}

/// Whether `c` is a control character other than HTAB (RFC 5234 CTL minus HTAB): never part of
/// a value this client copies into a header it sends.
pub(crate) fn is_control(c: char) -> bool {
    c.is_ascii_control() && c != '\t'
}

/// RFC 3261 §25.1 quoted-string, returned unescaped. A control character other than HTAB, raw
/// or escaped as a quoted-pair, is a [`nom::Err::Failure`] with [`nom::error::ErrorKind::Verify`]
/// (see [`AuthError::ControlCharacter`]): a realm, nonce or opaque value is echoed into the
/// next Authorization header, so a bare CR or LF there would inject a header.
pub(crate) fn quoted_string(i: &str) -> IResult<&str, String> {
    let (mut rest, _) = char('"')(i)?;
    let mut out = String::new();
    loop {
        let mut chars = rest.chars();
        match chars.next() {
            None => {
                return Err(nom::Err::Error(nom::error::Error::new(
                    rest,
                    nom::error::ErrorKind::Char,
                )));
            }
            Some(c) if is_control(c) => {
                return Err(nom::Err::Failure(nom::error::Error::new(
                    rest,
                    nom::error::ErrorKind::Verify,
                )));
            }
            Some('"') => return Ok((chars.as_str(), out)),
            Some('\\') => match chars.next() {
                Some(c) if is_control(c) => {
                    return Err(nom::Err::Failure(nom::error::Error::new(
                        rest,
                        nom::error::ErrorKind::Verify,
                    )));
                }
                Some(c) => {
                    out.push(c);
                    rest = chars.as_str();
                }
                None => {
                    return Err(nom::Err::Error(nom::error::Error::new(
                        rest,
                        nom::error::ErrorKind::Escaped,
                    )));
                }
            },
            Some(c) => {
                out.push(c);
                rest = chars.as_str();
            }
        }
    }
}

fn auth_param(i: &str) -> IResult<&str, AuthParam> {
    let (i, name) = token(i)?;
    let (i, _) = (lws, tag("="), lws).parse(i)?;
    let (i, value) = alt((
        quoted_string.map(|v| (v, true)),
        take_while1(|c: char| is_token_char(c) || c == '/' || c == ':' || c == '=' || c == '@')
            .map(|v: &str| (v.to_string(), false)),
    ))
    .parse(i)?;
    Ok((
        i,
        AuthParam {
            name: name.to_ascii_lowercase(),
            value: value.0,
            quoted: value.1,
        },
    ))
}

/// Parse `scheme param=value, param="value", ...` (RFC 3261 §25.1 `challenge` / `credentials`).
///
/// Each parameter name may appear once (RFC 7235 §2.1); every value is at most
/// [`MAX_AUTH_VALUE`] bytes; a quoted value holds no control character.
///
/// # Errors
/// [`AuthError`] when the text is too long, has too many or repeated parameters, a value too
/// long or with a control character, or is otherwise malformed.
pub fn parse_auth_params(s: &str) -> Result<(String, Vec<AuthParam>), AuthError> {
    if s.len() > MAX_AUTH_HEADER {
        return Err(AuthError::TooLong);
    }
    let at = |rest: &str| s.len() - rest.len();
    let (rest, _) = lws(s).map_err(|_| AuthError::Syntax(0))?;
    let (rest, scheme) = token(rest).map_err(|_| AuthError::Syntax(at(rest)))?;
    let (mut rest, _) = take_while1::<_, _, nom::error::Error<&str>>(|c: char| {
        c == ' ' || c == '\t' || c == '\r' || c == '\n'
    })(rest)
    .map_err(|_| AuthError::Syntax(at(rest)))?;
    let mut params: Vec<AuthParam> = Vec::new();
    loop {
        if params.len() >= MAX_AUTH_PARAMS {
            return Err(AuthError::TooManyParams);
        }
        let (r, p) = auth_param(rest).map_err(|e| match e {
            nom::Err::Failure(_) => AuthError::ControlCharacter,
            _ => AuthError::Syntax(at(rest)),
        })?;
        if p.value.len() > MAX_AUTH_VALUE {
            return Err(AuthError::ValueTooLong);
        }
        if params.iter().any(|q| q.name == p.name) {
            return Err(AuthError::Duplicate(p.name));
        }
        params.push(p);
        let (r, _) = lws(r).map_err(|_| AuthError::Syntax(at(r)))?;
        let (r, comma) = opt(char::<_, nom::error::Error<&str>>(','))
            .parse(r)
            .map_err(|_| AuthError::Syntax(at(r)))?;
        let (r, _) = lws(r).map_err(|_| AuthError::Syntax(at(r)))?;
        let (r, _) =
            space0::<_, nom::error::Error<&str>>(r).map_err(|_| AuthError::Syntax(at(r)))?;
        rest = r;
        if comma.is_none() {
            break;
        }
        if rest.is_empty() {
            // A trailing comma is tolerated.
            break;
        }
    }
    if !rest.is_empty() {
        return Err(AuthError::Syntax(at(rest)));
    }
    Ok((scheme.to_string(), params))
}

fn find<'a>(params: &'a [AuthParam], name: &str) -> Option<&'a AuthParam> {
    params.iter().find(|p| p.name == name)
}

/// A digest challenge from `WWW-Authenticate` or `Proxy-Authenticate` (RFC 7616 §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space.
    pub realm: String,
    /// The server nonce.
    pub nonce: String,
    /// Returned unchanged in the answer.
    pub opaque: Option<String>,
    /// The hash algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// The offered qop values; empty = RFC 2069 compatibility mode.
    pub qop: Vec<Qop>,
    /// `stale=true`: the nonce expired but the credentials were right (RFC 7616 §3.3).
    pub stale: bool,
    /// The `domain` list, unparsed.
    pub domain: Option<String>,
}

impl Challenge {
    /// Parse the value of a `WWW-Authenticate` or `Proxy-Authenticate` header.
    ///
    /// # Errors
    /// [`AuthError`] when malformed, not `Digest`, or lacking realm or nonce.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let (scheme, params) = parse_auth_params(s)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::NotDigest(scheme));
        }
        let realm = find(&params, "realm")
            .ok_or(AuthError::Missing("realm"))?
            .value
            .clone();
        let nonce = find(&params, "nonce")
            .ok_or(AuthError::Missing("nonce"))?
            .value
            .clone();
        let algorithm =
            find(&params, "algorithm").map_or(Algorithm::Md5, |p| Algorithm::from_token(&p.value));
        let qop = find(&params, "qop")
            .map(|p| {
                p.value
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .take(MAX_AUTH_PARAMS)
                    .map(Qop::from_token)
                    .collect()
            })
            .unwrap_or_default();
        let stale = find(&params, "stale").is_some_and(|p| p.value.eq_ignore_ascii_case("true"));
        Ok(Challenge {
            realm,
            nonce,
            opaque: find(&params, "opaque").map(|p| p.value.clone()),
            algorithm,
            qop,
            stale,
            domain: find(&params, "domain").map(|p| p.value.clone()),
        })
    }
}

impl Challenge {
    /// The qop [`respond`] answers with: `auth` when offered, else `auth-int`; `None` for a
    /// challenge without qop (RFC 2069 compatibility).
    ///
    /// # Errors
    /// [`AuthError::UnsupportedAlgorithm`] when the algorithm is not one of RFC 7616's, and
    /// [`AuthError::UnsupportedQop`] when qop is offered but names neither `auth` nor
    /// `auth-int`: such a challenge cannot be answered, and a request re-sent without an answer
    /// would only be challenged again.
    pub fn answerable(&self) -> Result<Option<Qop>, AuthError> {
        if !self.algorithm.is_supported() {
            return Err(AuthError::UnsupportedAlgorithm(
                self.algorithm.as_str().to_string(),
            ));
        }
        if self.qop.is_empty() {
            Ok(None)
        } else if self.qop.contains(&Qop::Auth) {
            Ok(Some(Qop::Auth))
        } else if self.qop.contains(&Qop::AuthInt) {
            Ok(Some(Qop::AuthInt))
        } else {
            Err(AuthError::UnsupportedQop)
        }
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest realm={}", Quoted(&self.realm))?;
        if let Some(d) = &self.domain {
            write!(f, ", domain={}", Quoted(d))?;
        }
        write!(f, ", nonce={}", Quoted(&self.nonce))?;
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", Quoted(o))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        write!(f, ", algorithm={}", TokenOrQuoted(self.algorithm.as_str()))?;
        if !self.qop.is_empty() {
            let mut list = String::new();
            for (i, q) in self.qop.iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                list.push_str(q.as_str());
            }
            write!(f, ", qop={}", Quoted(&list))?;
        }
        Ok(())
    }
}

/// Writes a token as is, anything else as a quoted-string (so every value prints back parseably).
pub(crate) struct TokenOrQuoted<'a>(pub &'a str);

impl fmt::Display for TokenOrQuoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_empty() && self.0.chars().all(is_token_char) {
            f.write_str(self.0)
        } else {
            Quoted(self.0).fmt(f)
        }
    }
}

/// Writes a quoted-string, escaping `"` and `\` (RFC 3261 §25.1 quoted-pair).
pub(crate) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        f.write_char('"')
    }
}

/// The digest answer carried in `Authorization` / `Proxy-Authorization` (RFC 7616 §3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The realm of the challenge.
    pub realm: String,
    /// The nonce of the challenge.
    pub nonce: String,
    /// The digest-uri (the Request-URI).
    pub uri: String,
    /// The hex response.
    pub response: String,
    /// The algorithm of the challenge.
    pub algorithm: Algorithm,
    /// The client nonce (present with a qop, or a `-sess` algorithm).
    pub cnonce: Option<String>,
    /// The opaque value of the challenge.
    pub opaque: Option<String>,
    /// The chosen qop.
    pub qop: Option<Qop>,
    /// The nonce count (sent as 8 hex digits).
    pub nc: Option<u32>,
}

impl Credentials {
    /// Parse the value of an `Authorization` or `Proxy-Authorization` header.
    ///
    /// # Errors
    /// [`AuthError`] when malformed, not `Digest`, or lacking a required parameter.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let (scheme, params) = parse_auth_params(s)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::NotDigest(scheme));
        }
        let req = |n: &'static str| {
            find(&params, n)
                .map(|p| p.value.clone())
                .ok_or(AuthError::Missing(n))
        };
        // RFC 7616 §3.4: nc-value = 8LHEX (no sign, no other length).
        let nc = match find(&params, "nc") {
            Some(p) if p.value.len() == 8 && p.value.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(u32::from_str_radix(&p.value, 16).map_err(|_| AuthError::Invalid("nc"))?)
            }
            Some(_) => return Err(AuthError::Invalid("nc")),
            None => None,
        };
        Ok(Credentials {
            username: req("username")?,
            realm: req("realm")?,
            nonce: req("nonce")?,
            uri: req("uri")?,
            response: req("response")?,
            algorithm: find(&params, "algorithm")
                .map_or(Algorithm::Md5, |p| Algorithm::from_token(&p.value)),
            cnonce: find(&params, "cnonce").map(|p| p.value.clone()),
            opaque: find(&params, "opaque").map(|p| p.value.clone()),
            qop: find(&params, "qop").map(|p| Qop::from_token(&p.value)),
            nc,
        })
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            Quoted(&self.username),
            Quoted(&self.realm),
            Quoted(&self.nonce),
            Quoted(&self.uri),
            Quoted(&self.response),
            TokenOrQuoted(self.algorithm.as_str())
        )?;
        if let Some(c) = &self.cnonce {
            write!(f, ", cnonce={}", Quoted(c))?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", Quoted(o))?;
        }
        if let Some(q) = &self.qop {
            write!(f, ", qop={}", TokenOrQuoted(q.as_str()))?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={nc:08x}")?;
        }
        Ok(())
    }
}

/// What the client knows when it answers a challenge.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    /// The user name (the extension or SM handle, or the separate authorisation user ID).
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
    /// The request method (`REGISTER`).
    pub method: &'a str,
    /// The digest-uri: the Request-URI of the request.
    pub uri: &'a str,
    /// The request body (hashed for `auth-int`).
    pub body: &'a [u8],
    /// The client nonce, from the caller's RNG.
    pub cnonce: &'a str,
    /// The nonce count: 1 for the first request with this nonce, then 2, 3, ...
    pub nc: u32,
}

/// Compute the digest answer to `challenge` (RFC 7616 §3.4.1–§3.4.3).
///
/// qop `auth` is preferred when offered, then `auth-int`; with no qop the RFC 2069 form is used.
///
/// # Errors
/// [`AuthError::UnsupportedAlgorithm`] or [`AuthError::UnsupportedQop`].
pub fn respond(challenge: &Challenge, a: &Answer<'_>) -> Result<Credentials, AuthError> {
    let alg = &challenge.algorithm;
    let qop = challenge.answerable()?;
    // §3.4.2: A1 = user:realm:password, and for -sess H(user:realm:password):nonce:cnonce.
    let mut ha1 = alg.hash_hex(&[
        a.username.as_bytes(),
        challenge.realm.as_bytes(),
        a.password.as_bytes(),
    ]);
    if alg.is_session() {
        ha1 = alg.hash_hex(&[
            ha1.as_bytes(),
            challenge.nonce.as_bytes(),
            a.cnonce.as_bytes(),
        ]);
    }
    // §3.4.3: A2 = method:uri, and for auth-int method:uri:H(body).
    let ha2 = if qop == Some(Qop::AuthInt) {
        let hb = alg.hash_hex(&[a.body]);
        alg.hash_hex(&[a.method.as_bytes(), a.uri.as_bytes(), hb.as_bytes()])
    } else {
        alg.hash_hex(&[a.method.as_bytes(), a.uri.as_bytes()])
    };
    let nc_hex = alloc::format!("{:08x}", a.nc);
    let response = match &qop {
        Some(q) => alg.hash_hex(&[
            ha1.as_bytes(),
            challenge.nonce.as_bytes(),
            nc_hex.as_bytes(),
            a.cnonce.as_bytes(),
            q.as_str().as_bytes(),
            ha2.as_bytes(),
        ]),
        None => alg.hash_hex(&[ha1.as_bytes(), challenge.nonce.as_bytes(), ha2.as_bytes()]),
    };
    let with_cnonce = qop.is_some() || alg.is_session();
    Ok(Credentials {
        username: a.username.to_string(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: a.uri.to_string(),
        response,
        algorithm: alg.clone(),
        cnonce: with_cnonce.then(|| a.cnonce.to_string()),
        opaque: challenge.opaque.clone(),
        nc: qop.is_some().then_some(a.nc),
        qop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7616 §3.9.1: the same request answered with MD5 and SHA-256.
    const NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    const OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

    fn rfc7616_answer(alg: &str) -> Credentials {
        let header = alloc::format!(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={alg}, \
             nonce=\"{NONCE}\", opaque=\"{OPAQUE}\""
        );
        let ch = Challenge::parse(&header).expect("RFC example parses");
        assert_eq!(ch.qop, [Qop::Auth, Qop::AuthInt]);
        respond(
            &ch,
            &Answer {
                username: "Mufasa",
                password: "Circle of Life",
                method: "GET",
                uri: "/dir/index.html",
                body: b"",
                cnonce: CNONCE,
                nc: 1,
            },
        )
        .expect("answerable")
    }

    #[test]
    fn rfc7616_3_9_1_md5() {
        let c = rfc7616_answer("MD5");
        assert_eq!(c.response, "8ca523f5e9506fed4657c9700eebdbec");
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.nc, Some(1));
        assert_eq!(c.opaque.as_deref(), Some(OPAQUE));
    }

    #[test]
    fn rfc7616_3_9_1_sha256() {
        let c = rfc7616_answer("SHA-256");
        assert_eq!(
            c.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let text = c.to_string();
        assert!(text.contains("algorithm=SHA-256"), "{text}");
        assert!(text.contains("nc=00000001"), "{text}");
        assert_eq!(Credentials::parse(&text), Ok(c));
    }

    /// Other algorithms and variants on the RFC 7616 §3.9.1 request; reference values computed
    /// independently with Python's hashlib (`md5`, `sha256`, `sha512_256`).
    #[test]
    fn sess_and_sha512_256_variants() {
        for (alg, want) in [
            ("MD5-sess", "e783283f46242139c486a698fec7211d"),
            (
                "SHA-256-sess",
                "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7",
            ),
            (
                "SHA-512-256",
                "430d05014cecc49cab6fbe03176d41a1da86cbfe24a16580e22aaad928d960d0",
            ),
            (
                "sha-512-256-SESS",
                "3f2a34f923c38b0fb26dce2fdfc2ce326c23cecf86fbb1444f3e51fbbc2cb92e",
            ),
        ] {
            assert_eq!(rfc7616_answer(alg).response, want, "{alg}");
        }
    }

    #[test]
    fn auth_int_with_nonce_count() {
        let ch = Challenge::parse(&alloc::format!(
            "Digest realm=\"http-auth@example.org\",qop=\"auth-int\",algorithm=SHA-256,nonce=\"{NONCE}\""
        ))
        .expect("parses");
        let c = respond(
            &ch,
            &Answer {
                username: "Mufasa",
                password: "Circle of Life",
                method: "GET",
                uri: "/dir/index.html",
                body: b"",
                cnonce: CNONCE,
                nc: 2,
            },
        )
        .expect("answerable");
        assert_eq!(
            c.response,
            "d9b423d0a53af9d8808c612fb7dcb97b741fe3025e5c195df6b4b7483d48c771"
        );
        assert!(c.to_string().contains("nc=00000002"));
    }

    #[test]
    fn rfc2069_no_qop_md5() {
        // No qop: response = MD5(HA1:nonce:HA2), no cnonce or nc sent.
        let ch = Challenge::parse(
            "Digest realm=\"atlanta.com\", nonce=\"84a4cc6f3082121f32b42a2187831a9e\"",
        )
        .expect("parses");
        let c = respond(
            &ch,
            &Answer {
                username: "bob",
                password: "zanzibar",
                method: "REGISTER",
                uri: "sip:atlanta.com",
                body: b"",
                cnonce: "x",
                nc: 1,
            },
        )
        .expect("answerable");
        assert_eq!(c.qop, None);
        assert_eq!(c.cnonce, None);
        assert_eq!(c.nc, None);
        assert_eq!(c.response, "2f19e4d5ef90a612be07956ef97ba105");
    }

    /// Found by the sip_auth_header fuzz target: odd qop and algorithm tokens must print back
    /// in a form that parses to the same challenge. (The original finding also held a NUL and
    /// a U+0019 in the qop list: control characters are refused now, see below.)
    #[test]
    fn odd_tokens_round_trip() {
        let s = "Digest realm=\"r\", qop=\"auth, aut*-int\\\\\", algorithm=\"x y\", nonce=\"n\"";
        let c = Challenge::parse(s).expect("parses");
        assert_eq!(c.qop.len(), 2);
        assert_eq!(Challenge::parse(&c.to_string()), Ok(c));
        let with_controls = "Digest realm=\"r\", qop=\"auth, aut\0*-int\\\\\u{19}\", algorithm=\"x y\", nonce=\"n\"";
        assert_eq!(
            Challenge::parse(with_controls),
            Err(AuthError::ControlCharacter)
        );
    }

    /// Issue 12: a bare CR inside a quoted realm was copied raw into the next Authorization
    /// header; 3 minutes of sip_auth_header found a realm of NUL, form feed and LF that parsed
    /// and then failed the round trip. Every control character but HTAB, raw or escaped, in
    /// any quoted value is refused with a typed error.
    #[test]
    fn control_characters_in_quoted_values_are_refused() {
        for bad in [
            "\r", "\n", "\0", "\x0c", "\x7f", "\x1b", "\\\r", "\\\0", "\0\x0c\n",
        ] {
            for param in ["realm", "nonce", "opaque", "domain", "qop", "algorithm"] {
                let mut h = String::from("Digest ");
                for (name, v) in [("realm", "r"), ("nonce", "n"), ("opaque", "o")] {
                    if name != param {
                        h.push_str(&alloc::format!("{name}=\"{v}\", "));
                    }
                }
                h.push_str(&alloc::format!("{param}=\"a{bad}b\""));
                assert_eq!(
                    Challenge::parse(&h),
                    Err(AuthError::ControlCharacter),
                    "{h:?}"
                );
                assert_eq!(
                    Credentials::parse(&h.replace("Digest ", "Digest username=\"u\", ")),
                    Err(AuthError::ControlCharacter),
                    "{h:?}"
                );
            }
        }
        // HTAB is linear white space, allowed in a quoted-string and harmless.
        let c = Challenge::parse("Digest realm=\"a\tb\", nonce=\"n\"").expect("HTAB");
        assert_eq!(c.realm, "a\tb");
        assert_eq!(Challenge::parse(&c.to_string()), Ok(c));
    }

    /// Issue 12: duplicate parameters were accepted (the second realm or nonce silently lost).
    /// RFC 7235 §2.1: each parameter name only once.
    #[test]
    fn duplicate_parameters_are_refused() {
        for (h, dup) in [
            ("Digest realm=\"a\", nonce=\"n\", realm=\"b\"", "realm"),
            ("Digest realm=a, nonce=n, NONCE=m", "nonce"),
            ("Digest realm=a, nonce=n, opaque=x, opaque=x", "opaque"),
            ("Digest realm=a, nonce=n, qop=auth, qop=auth-int", "qop"),
            (
                "Digest realm=a, nonce=n, algorithm=MD5, algorithm=SHA-256",
                "algorithm",
            ),
            ("Digest realm=a, nonce=n, stale=true, stale=false", "stale"),
            ("Digest realm=a, nonce=n, x=1, x=2", "x"),
        ] {
            assert_eq!(
                Challenge::parse(h),
                Err(AuthError::Duplicate(dup.into())),
                "{h}"
            );
        }
        assert_eq!(
            Credentials::parse(
                "Digest username=u, username=v, realm=r, nonce=n, uri=\"sip:d\", response=x"
            ),
            Err(AuthError::Duplicate("username".into()))
        );
    }

    #[test]
    fn value_length_and_nonce_count_are_bounded() {
        let long = "n".repeat(MAX_AUTH_VALUE + 1);
        assert_eq!(
            Challenge::parse(&alloc::format!("Digest realm=r, nonce=\"{long}\"")),
            Err(AuthError::ValueTooLong)
        );
        let max = "n".repeat(MAX_AUTH_VALUE);
        let c = Challenge::parse(&alloc::format!("Digest realm=r, nonce=\"{max}\""))
            .expect("at the bound");
        assert_eq!(Challenge::parse(&c.to_string()), Ok(c));
        let creds = |nc: &str| {
            Credentials::parse(&alloc::format!(
                "Digest username=u, realm=r, nonce=n, uri=\"sip:d\", response=x, qop=auth, nc={nc}"
            ))
            .map(|c| c.nc)
        };
        assert_eq!(creds("0000000a"), Ok(Some(10)));
        assert_eq!(creds("0000000A"), Ok(Some(10)));
        for bad in ["+0000005", "5", "000000001", "-0000001", "0000000g"] {
            assert_eq!(creds(bad), Err(AuthError::Invalid("nc")), "{bad}");
        }
    }

    /// Issue 12: a challenge whose qop offers nothing usable cannot be answered (the client
    /// used to re-send REGISTER without credentials).
    #[test]
    fn answerable_names_the_reason() {
        let ch = |s: &str| Challenge::parse(s).expect("parses");
        assert_eq!(
            ch("Digest realm=r, nonce=n, qop=\"auth-conf, x\"").answerable(),
            Err(AuthError::UnsupportedQop)
        );
        assert_eq!(
            ch("Digest realm=r, nonce=n, qop=\",\"").answerable(),
            Ok(None),
            "an empty qop list is no qop (RFC 2069 form)"
        );
        assert_eq!(
            ch("Digest realm=r, nonce=n, qop=\"auth-int, auth\"").answerable(),
            Ok(Some(Qop::Auth))
        );
        assert_eq!(
            ch("Digest realm=r, nonce=n, qop=auth-int").answerable(),
            Ok(Some(Qop::AuthInt))
        );
        assert_eq!(
            ch("Digest realm=r, nonce=n, algorithm=SHA-1, qop=auth").answerable(),
            Err(AuthError::UnsupportedAlgorithm("SHA-1".into()))
        );
    }

    #[test]
    fn challenge_details() {
        let ch = Challenge::parse(
            "digest  realm=\"a\\\"b\" ,nonce=abc, stale=TRUE, algorithm=sha-256, qop=\"auth-int,auth\",",
        )
        .expect("parses");
        assert_eq!(ch.realm, "a\"b");
        assert!(ch.stale);
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        assert_eq!(Challenge::parse(&ch.to_string()), Ok(ch));
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(AuthError::NotDigest("Basic".into()))
        );
        assert_eq!(
            Challenge::parse("Digest nonce=\"x\""),
            Err(AuthError::Missing("realm"))
        );
        assert!(matches!(
            Challenge::parse("Digest realm=\"x"),
            Err(AuthError::Syntax(_))
        ));
        let only_int_unknown =
            Challenge::parse("Digest realm=r, nonce=n, qop=\"foo\"").expect("parses");
        let a = Answer {
            username: "u",
            password: "p",
            method: "REGISTER",
            uri: "sip:d",
            body: b"",
            cnonce: "c",
            nc: 1,
        };
        assert_eq!(
            respond(&only_int_unknown, &a),
            Err(AuthError::UnsupportedQop)
        );
        let unknown = Challenge::parse("Digest realm=r, nonce=n, algorithm=SHA-1").expect("parses");
        assert_eq!(
            respond(&unknown, &a),
            Err(AuthError::UnsupportedAlgorithm("SHA-1".into()))
        );
    }
}
