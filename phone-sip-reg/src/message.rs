//! SIP messages: start lines, header fields and bodies (RFC 3261 §7, §20, §25).
//!
//! [`parse`] reads one complete message (a UDP datagram, or one frame cut by
//! [`crate::framing::StreamFramer`]); [`Request::to_bytes`] writes one. Header values are kept as
//! text and parsed into typed values on demand ([`Headers::top_via`], [`Headers::cseq`], ...), so a
//! header this client never reads cannot make a message unusable.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use nom::bytes::complete::{tag, tag_no_case, take_while, take_while1};
use nom::character::complete::{char, digit1, space0, space1};
use nom::combinator::{opt, rest};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::digest::{AuthError, Challenge, Credentials};

/// Largest message accepted (the UDP datagram limit).
pub const MAX_MESSAGE: usize = 65_535;
/// Most header fields (after unfolding) one message may carry.
pub const MAX_HEADERS: usize = 128;
/// Most continuation lines one header field may be folded over (RFC 3261 §7.3.1).
pub const MAX_FOLDS: usize = 16;
/// Most entries accepted in one comma-separated header (Via, Contact).
pub const MAX_LIST: usize = 32;

/// Why a SIP message or header did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Longer than [`MAX_MESSAGE`].
    #[error("message longer than {MAX_MESSAGE} bytes")]
    TooLong,
    /// No blank line ends the header section.
    #[error("header section not terminated")]
    Incomplete,
    /// The header section is not UTF-8.
    #[error("header section is not UTF-8")]
    NotUtf8,
    /// The first line is neither a request line nor a status line.
    #[error("bad start line")]
    StartLine,
    /// A header line has no `name:`, at this line number (0 = start line).
    #[error("bad header line {0}")]
    HeaderLine(usize),
    /// More than [`MAX_HEADERS`] headers, or a header folded over more than [`MAX_FOLDS`] lines.
    #[error("too many header lines")]
    TooManyHeaders,
    /// Content-Length is not a number, exceeds the bytes present, or two Content-Length
    /// headers disagree (RFC 3261 §20.14 allows one value; the stream framer refuses the same).
    #[error("bad Content-Length")]
    ContentLength,
    /// A header line (0 = start line) holds a control character other than HTAB, such as a
    /// bare CR, a NUL or a form feed (RFC 3261 §25.1: header text is printable UTF-8 and LWS).
    #[error("control character in line {0}")]
    ControlCharacter(usize),
    /// A header this client needs is absent.
    #[error("missing header {0}")]
    Missing(&'static str),
    /// A header's value does not follow its grammar.
    #[error("bad {0} header")]
    Header(&'static str),
    /// An authentication header is malformed.
    #[error("authentication header: {0}")]
    Auth(#[from] AuthError),
}

/// The header names this client reads or writes; others are kept as [`HeaderName::Other`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderName {
    /// `Via` / `v`.
    Via,
    /// `From` / `f`.
    From,
    /// `To` / `t`.
    To,
    /// `Call-ID` / `i`.
    CallId,
    /// `CSeq`.
    CSeq,
    /// `Contact` / `m`.
    Contact,
    /// `Expires`.
    Expires,
    /// `Min-Expires`.
    MinExpires,
    /// `Retry-After`.
    RetryAfter,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `Authorization`.
    Authorization,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `Content-Length` / `l`.
    ContentLength,
    /// `Max-Forwards`.
    MaxForwards,
    /// `User-Agent`.
    UserAgent,
    /// Anything else, as written.
    Other(String),
}

impl HeaderName {
    /// Recognise a header name case-insensitively, including the compact forms (RFC 3261 §7.3.3).
    #[must_use]
    pub fn parse(s: &str) -> Self {
        const TABLE: [(&str, &str, HeaderName); 16] = [
            ("Via", "v", HeaderName::Via),
            ("From", "f", HeaderName::From),
            ("To", "t", HeaderName::To),
            ("Call-ID", "i", HeaderName::CallId),
            ("CSeq", "", HeaderName::CSeq),
            ("Contact", "m", HeaderName::Contact),
            ("Expires", "", HeaderName::Expires),
            ("Min-Expires", "", HeaderName::MinExpires),
            ("Retry-After", "", HeaderName::RetryAfter),
            ("WWW-Authenticate", "", HeaderName::WwwAuthenticate),
            ("Proxy-Authenticate", "", HeaderName::ProxyAuthenticate),
            ("Authorization", "", HeaderName::Authorization),
            ("Proxy-Authorization", "", HeaderName::ProxyAuthorization),
            ("Content-Length", "l", HeaderName::ContentLength),
            ("Max-Forwards", "", HeaderName::MaxForwards),
            ("User-Agent", "", HeaderName::UserAgent),
        ];
        for (long, short, name) in TABLE {
            if long.eq_ignore_ascii_case(s) || (!short.is_empty() && short.eq_ignore_ascii_case(s))
            {
                return name;
            }
        }
        HeaderName::Other(s.to_string())
    }

    /// The long form of the name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::Via => "Via",
            HeaderName::From => "From",
            HeaderName::To => "To",
            HeaderName::CallId => "Call-ID",
            HeaderName::CSeq => "CSeq",
            HeaderName::Contact => "Contact",
            HeaderName::Expires => "Expires",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::Authorization => "Authorization",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Other(s) => s,
        }
    }
}

/// One header field, unfolded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The name.
    pub name: HeaderName,
    /// The value, trimmed, continuation lines joined with one space.
    pub value: String,
}

/// The header fields of a message, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

/// A `Via` entry (RFC 3261 §20.42).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, ... upper-cased.
    pub transport: String,
    /// The sent-by host.
    pub host: String,
    /// The sent-by port.
    pub port: Option<u16>,
    /// The branch parameter.
    pub branch: Option<String>,
    /// The received parameter.
    pub received: Option<String>,
    /// The rport parameter (RFC 3581); `Some(None)` when present without a value.
    pub rport: Option<Option<u16>>,
}

/// A `CSeq` value (RFC 3261 §20.16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number.
    pub seq: u32,
    /// The method.
    pub method: String,
}

/// A name-addr or addr-spec with header parameters: From, To, Contact entries (RFC 3261 §20.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, if any.
    pub display: Option<String>,
    /// The URI, as written.
    pub uri: String,
    /// The header parameters (after the URI), names lower-cased; a valueless one maps to `""`.
    pub params: Vec<(String, String)>,
}

impl NameAddr {
    /// The value of a header parameter.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A Contact header value (RFC 3261 §20.10): `*` or a list of addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *` (un-register all).
    Star,
    /// The listed contacts.
    List(Vec<NameAddr>),
}

impl Headers {
    /// Every value of headers with this name, in order.
    pub fn all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| &h.name == name)
            .map(|h| h.value.as_str())
    }

    /// The first value of the header with this name.
    #[must_use]
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .find(|h| &h.name == name)
            .map(|h| h.value.as_str())
    }

    /// Append a header.
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.push(Header {
            name,
            value: value.into(),
        });
    }

    /// The Via entries, topmost first, across all Via headers.
    ///
    /// # Errors
    /// [`ParseError::Header`] when a Via entry is malformed or there are more than [`MAX_LIST`].
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        let mut out = Vec::new();
        for v in self.all(&HeaderName::Via) {
            for item in split_list(v) {
                if out.len() >= MAX_LIST {
                    return Err(ParseError::Header("Via"));
                }
                out.push(parse_via(item)?);
            }
        }
        Ok(out)
    }

    /// The topmost Via.
    ///
    /// # Errors
    /// [`ParseError::Missing`] or [`ParseError::Header`].
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let v = self
            .get(&HeaderName::Via)
            .ok_or(ParseError::Missing("Via"))?;
        let first = split_list(v).next().ok_or(ParseError::Header("Via"))?;
        parse_via(first)
    }

    /// The CSeq.
    ///
    /// # Errors
    /// [`ParseError::Missing`] or [`ParseError::Header`].
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        let v = self
            .get(&HeaderName::CSeq)
            .ok_or(ParseError::Missing("CSeq"))?;
        let r: IResult<&str, (&str, &str, &str)> =
            (digit1, space1, take_while1(is_token_char)).parse(v.trim());
        match r {
            Ok(("", (n, _, m))) => Ok(CSeq {
                seq: n.parse().map_err(|_| ParseError::Header("CSeq"))?,
                method: m.to_string(),
            }),
            _ => Err(ParseError::Header("CSeq")),
        }
    }

    /// The Call-ID.
    ///
    /// # Errors
    /// [`ParseError::Missing`].
    pub fn call_id(&self) -> Result<&str, ParseError> {
        self.get(&HeaderName::CallId)
            .ok_or(ParseError::Missing("Call-ID"))
    }

    /// The From header.
    ///
    /// # Errors
    /// [`ParseError::Missing`] or [`ParseError::Header`].
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        let v = self
            .get(&HeaderName::From)
            .ok_or(ParseError::Missing("From"))?;
        parse_name_addr(v).ok_or(ParseError::Header("From"))
    }

    /// The To header.
    ///
    /// # Errors
    /// [`ParseError::Missing`] or [`ParseError::Header`].
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        let v = self.get(&HeaderName::To).ok_or(ParseError::Missing("To"))?;
        parse_name_addr(v).ok_or(ParseError::Header("To"))
    }

    /// All Contact entries across all Contact headers; `None` when there is no Contact header.
    ///
    /// # Errors
    /// [`ParseError::Header`] when an entry is malformed or there are more than [`MAX_LIST`].
    pub fn contacts(&self) -> Result<Option<Contacts>, ParseError> {
        let mut list = Vec::new();
        let mut any = false;
        for v in self.all(&HeaderName::Contact) {
            any = true;
            if v.trim() == "*" {
                return Ok(Some(Contacts::Star));
            }
            for item in split_list(v) {
                if list.len() >= MAX_LIST {
                    return Err(ParseError::Header("Contact"));
                }
                list.push(parse_name_addr(item).ok_or(ParseError::Header("Contact"))?);
            }
        }
        Ok(any.then_some(Contacts::List(list)))
    }

    fn delta_seconds(
        &self,
        name: &HeaderName,
        what: &'static str,
    ) -> Result<Option<u32>, ParseError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse_delta_seconds(v)
                .map(Some)
                .ok_or(ParseError::Header(what)),
        }
    }

    /// The Expires header (delta-seconds; larger values saturate, RFC 3261 §20.19).
    ///
    /// # Errors
    /// [`ParseError::Header`].
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.delta_seconds(&HeaderName::Expires, "Expires")
    }

    /// The Min-Expires header (RFC 3261 §20.23).
    ///
    /// # Errors
    /// [`ParseError::Header`].
    pub fn min_expires(&self) -> Result<Option<u32>, ParseError> {
        self.delta_seconds(&HeaderName::MinExpires, "Min-Expires")
    }

    /// The Retry-After delta-seconds, ignoring a comment and parameters (RFC 3261 §20.33).
    ///
    /// # Errors
    /// [`ParseError::Header`].
    pub fn retry_after(&self) -> Result<Option<u32>, ParseError> {
        match self.get(&HeaderName::RetryAfter) {
            None => Ok(None),
            Some(v) => {
                let r: IResult<&str, &str> = preceded(space0, digit1).parse(v);
                match r {
                    Ok((_, d)) => parse_delta_seconds(d)
                        .map(Some)
                        .ok_or(ParseError::Header("Retry-After")),
                    Err(_) => Err(ParseError::Header("Retry-After")),
                }
            }
        }
    }

    /// The Content-Length. Repeated Content-Length headers must agree (a message with two
    /// different lengths has no one body: request smuggling's classic).
    ///
    /// # Errors
    /// [`ParseError::ContentLength`].
    pub fn content_length(&self) -> Result<Option<usize>, ParseError> {
        let mut found = None;
        for v in self.all(&HeaderName::ContentLength) {
            let v = v.trim();
            if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::ContentLength);
            }
            let n: usize = v.parse().map_err(|_| ParseError::ContentLength)?;
            if found.is_some_and(|f| f != n) {
                return Err(ParseError::ContentLength);
            }
            found = Some(n);
        }
        Ok(found)
    }

    /// The digest challenges of the `WWW-Authenticate` (`proxy = false`) or `Proxy-Authenticate`
    /// headers. A header with another scheme is skipped; a malformed Digest one is an error.
    ///
    /// # Errors
    /// [`ParseError::Auth`].
    pub fn challenges(&self, proxy: bool) -> Result<Vec<Challenge>, ParseError> {
        let name = if proxy {
            HeaderName::ProxyAuthenticate
        } else {
            HeaderName::WwwAuthenticate
        };
        let mut out = Vec::new();
        for v in self.all(&name).take(MAX_LIST) {
            match Challenge::parse(v) {
                Ok(c) => out.push(c),
                Err(AuthError::NotDigest(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// The digest credentials of the `Authorization` (`proxy = false`) or `Proxy-Authorization`
    /// headers.
    ///
    /// # Errors
    /// [`ParseError::Auth`].
    pub fn credentials(&self, proxy: bool) -> Result<Vec<Credentials>, ParseError> {
        let name = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        let mut out = Vec::new();
        for v in self.all(&name).take(MAX_LIST) {
            out.push(Credentials::parse(v)?);
        }
        Ok(out)
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// delta-seconds: digits; a value beyond 2³²−1 saturates (RFC 3261 §20.19, §20.23).
fn parse_delta_seconds(v: &str) -> Option<u32> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: u64 = 0;
    for b in v.bytes() {
        n = (n * 10 + u64::from(b - b'0')).min(u64::from(u32::MAX));
    }
    u32::try_from(n).ok()
}

/// Split a comma-separated header value at top-level commas (not inside quotes or `<...>`).
pub(crate) fn split_list(v: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut depth_angle = false;
    let mut in_quote = false;
    let mut escaped = false;
    let mut pieces = Vec::new();
    for (i, c) in v.char_indices() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
            }
            continue;
        }
        match c {
            '"' => in_quote = true,
            '<' => depth_angle = true,
            '>' => depth_angle = false,
            ',' if !depth_angle => {
                pieces.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&v[start..]);
    pieces.into_iter().map(str::trim).filter(|p| !p.is_empty())
}

fn parse_via(v: &str) -> Result<Via, ParseError> {
    fn inner(i: &str) -> IResult<&str, (&str, &str, Option<&str>, &str)> {
        let (i, _) = (
            tag_no_case("SIP"),
            space0,
            char('/'),
            space0,
            tag("2.0"),
            space0,
            char('/'),
            space0,
        )
            .parse(i)?;
        let (i, transport) = take_while1(is_token_char)(i)?;
        let (i, _) = space1(i)?;
        let (i, host) = host(i)?;
        let (i, port) = opt(preceded((space0, char(':'), space0), digit1)).parse(i)?;
        let (i, params) = rest(i)?;
        Ok((i, (transport, host, port, params)))
    }
    let (_, (transport, host, port, params)) =
        inner(v.trim()).map_err(|_| ParseError::Header("Via"))?;
    let port = match port {
        Some(p) => Some(p.parse().map_err(|_| ParseError::Header("Via"))?),
        None => None,
    };
    let params = parse_params(params).ok_or(ParseError::Header("Via"))?;
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let rport = match get("rport") {
        None => None,
        Some(v) if v.is_empty() => Some(None),
        Some(v) => Some(Some(v.parse().map_err(|_| ParseError::Header("Via"))?)),
    };
    Ok(Via {
        transport: transport.to_ascii_uppercase(),
        host: host.to_string(),
        port,
        branch: get("branch"),
        received: get("received"),
        rport,
    })
}

fn host(i: &str) -> IResult<&str, &str> {
    let bracketed: IResult<&str, &str> = nom::combinator::recognize((
        char('['),
        take_while1(|c: char| c.is_ascii_hexdigit() || c == ':' || c == '.'),
        char(']'),
    ))
    .parse(i);
    match bracketed {
        Ok(r) => Ok(r),
        Err(_) => take_while1(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.')(i),
    }
}

/// `;name[=value]` parameters (RFC 3261 §25.1 generic-param), names lower-cased. `None` if malformed.
fn parse_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if out.len() >= MAX_LIST {
            return None;
        }
        let r: IResult<&str, (&str, Option<&str>)> = preceded(
            (space0, char(';'), space0),
            (
                take_while1(is_token_char),
                opt(preceded(
                    (space0, char('='), space0),
                    take_while(|c: char| is_token_char(c) || ":[]\"".contains(c)),
                )),
            ),
        )
        .parse(rest);
        let (r, (name, value)) = r.ok()?;
        let value = match value {
            Some(v) if v.starts_with('"') => {
                let (_, q) = crate::digest::quoted_string(v).ok()?;
                q
            }
            Some(v) => v.to_string(),
            None => String::new(),
        };
        out.push((name.to_ascii_lowercase(), value));
        rest = r.trim_start();
    }
    Some(out)
}

/// Parse a name-addr (`"Name" <uri>;params`) or addr-spec (`uri;params`).
pub(crate) fn parse_name_addr(v: &str) -> Option<NameAddr> {
    let v = v.trim();
    let (display, uri, params) = if let Some(lt) = find_unquoted(v, '<') {
        let disp = v[..lt].trim();
        let display = if disp.is_empty() {
            None
        } else if disp.starts_with('"') {
            let (r, q) = crate::digest::quoted_string(disp).ok()?;
            if !r.trim().is_empty() {
                return None;
            }
            Some(q)
        } else {
            Some(disp.to_string())
        };
        let after = &v[lt + 1..];
        let gt = after.find('>')?;
        (display, after[..gt].trim(), &after[gt + 1..])
    } else {
        // addr-spec: parameters after the URI belong to the header (RFC 3261 §20.10).
        let end = v.find(';').unwrap_or(v.len());
        (None, v[..end].trim(), &v[end..])
    };
    if uri.is_empty() || uri.chars().any(char::is_whitespace) || !uri.contains(':') {
        return None;
    }
    Some(NameAddr {
        display,
        uri: uri.to_string(),
        params: parse_params(params)?,
    })
}

fn find_unquoted(v: &str, want: char) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in v.char_indices() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
            }
        } else if c == '"' {
            in_quote = true;
        } else if c == want {
            return Some(i);
        }
    }
    None
}

/// A SIP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, e.g. `REGISTER`.
    pub method: String,
    /// The Request-URI.
    pub uri: String,
    /// The headers (Content-Length is written by [`Request::to_bytes`]).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code, 100–699.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A parsed SIP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// Writes `text` with every control character except HTAB replaced by a space, so no value can
/// end a header line early or inject one (the parser already refuses such values; this is the
/// last line of defence for values from the configuration).
fn push_line_text(s: &mut String, text: &str) {
    for c in text.chars() {
        s.push(if crate::digest::is_control(c) { ' ' } else { c });
    }
}

fn write_message(start: &str, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut s = String::with_capacity(512);
    push_line_text(&mut s, start);
    s.push_str("\r\n");
    for h in &headers.0 {
        if h.name == HeaderName::ContentLength {
            continue;
        }
        push_line_text(&mut s, h.name.as_str());
        s.push_str(": ");
        push_line_text(&mut s, &h.value);
        s.push_str("\r\n");
    }
    let _ = write!(s, "Content-Length: {}\r\n\r\n", body.len());
    let mut out = s.into_bytes();
    out.extend_from_slice(body);
    out
}

impl Request {
    /// Serialise with a Content-Length matching the body.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        write_message(
            &alloc::format!("{} {} SIP/2.0", self.method, self.uri),
            &self.headers,
            &self.body,
        )
    }
}

impl Response {
    /// Serialise with a Content-Length matching the body.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        write_message(
            &alloc::format!("SIP/2.0 {} {}", self.status, self.reason),
            &self.headers,
            &self.body,
        )
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        match self.rport {
            Some(Some(p)) => write!(f, ";rport={p}")?,
            Some(None) => f.write_str(";rport")?,
            None => {}
        }
        if let Some(r) = &self.received {
            write!(f, ";received={r}")?;
        }
        if let Some(b) = &self.branch {
            write!(f, ";branch={b}")?;
        }
        Ok(())
    }
}

/// Where the header section ends: the offset just past the blank line, if present.
pub(crate) fn header_end(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'\n' {
            if bytes[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if bytes[i + 1] == b'\r' && bytes.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

enum StartLine {
    Request(String, String),
    Status(u16, String),
}

fn start_line(line: &str) -> Result<StartLine, ParseError> {
    fn status(i: &str) -> IResult<&str, (&str, &str)> {
        let (i, _) = (tag("SIP/2.0"), space1).parse(i)?;
        let (i, code) = take_while_m_n3(i)?;
        // Status-Code is exactly 3 digits, then SP (RFC 3261 §7.2): `2000 OK` is no 200. An
        // empty reason phrase without its SP is tolerated.
        if !(i.is_empty() || i.starts_with([' ', '\t'])) {
            return Err(nom::Err::Error(nom::error::Error::new(
                i,
                nom::error::ErrorKind::Digit,
            )));
        }
        let (i, _) = space0(i)?;
        Ok(("", (code, i)))
    }
    fn take_while_m_n3(i: &str) -> IResult<&str, &str> {
        nom::bytes::complete::take_while_m_n(3, 3, |c: char| c.is_ascii_digit())(i)
    }
    fn request(i: &str) -> IResult<&str, (&str, &str)> {
        let (i, method) = take_while1(is_token_char)(i)?;
        let (i, _) = space1(i)?;
        let (i, uri) = take_while1(|c: char| !c.is_whitespace())(i)?;
        let (i, _) = (space1, tag("SIP/2.0"), space0).parse(i)?;
        if !i.is_empty() {
            return Err(nom::Err::Error(nom::error::Error::new(
                i,
                nom::error::ErrorKind::Eof,
            )));
        }
        Ok((i, (method, uri)))
    }
    if let Ok((_, (code, reason))) = status(line) {
        let code: u16 = code.parse().map_err(|_| ParseError::StartLine)?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::StartLine);
        }
        return Ok(StartLine::Status(code, reason.trim_end().to_string()));
    }
    match request(line) {
        Ok((_, (m, u))) => Ok(StartLine::Request(m.to_string(), u.to_string())),
        Err(_) => Err(ParseError::StartLine),
    }
}

/// Parse one complete SIP message.
///
/// With a Content-Length, the body is that many bytes and anything after it is ignored
/// (RFC 3261 §18.3); without one, the body is the rest of `bytes` (allowed over UDP only;
/// [`crate::framing::StreamFramer`] insists on it for streams).
///
/// # Errors
/// [`ParseError`] naming what is wrong.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(ParseError::TooLong);
    }
    // RFC 5626 §3.5.1 keep-alives and stray CRLFs before a message are skipped.
    let skip = bytes
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    let bytes = &bytes[skip..];
    let end = header_end(bytes).ok_or(ParseError::Incomplete)?;
    let text = core::str::from_utf8(&bytes[..end]).map_err(|_| ParseError::NotUtf8)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().ok_or(ParseError::StartLine)?;
    if first.chars().any(crate::digest::is_control) {
        return Err(ParseError::ControlCharacter(0));
    }
    let start = start_line(first)?;
    let mut headers = Headers::default();
    let mut folds = 0;
    for (n, line) in lines.enumerate() {
        if line.is_empty() {
            break;
        }
        if line.chars().any(crate::digest::is_control) {
            // A bare CR, NUL or form feed inside a value must never reach a header we write.
            return Err(ParseError::ControlCharacter(n + 1));
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            // RFC 3261 §7.3.1: a continuation line joins the previous header with one space.
            let last = headers.0.last_mut().ok_or(ParseError::HeaderLine(n + 1))?;
            folds += 1;
            if folds > MAX_FOLDS {
                return Err(ParseError::TooManyHeaders);
            }
            last.value.push(' ');
            last.value.push_str(line.trim());
            continue;
        }
        folds = 0;
        if headers.0.len() >= MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        let colon = line.find(':').ok_or(ParseError::HeaderLine(n + 1))?;
        let name = line[..colon].trim();
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(ParseError::HeaderLine(n + 1));
        }
        headers.push(HeaderName::parse(name), line[colon + 1..].trim());
    }
    let after = &bytes[end..];
    let body = match headers.content_length()? {
        Some(len) => after.get(..len).ok_or(ParseError::ContentLength)?.to_vec(),
        None => after.to_vec(),
    };
    Ok(match start {
        StartLine::Request(method, uri) => Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
        StartLine::Status(status, reason) => Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    const REG_200: &str = "SIP/2.0 200 OK\r\n\
v: SIP/2.0/UDP 10.77.0.100:5060;rport=5060;received=10.77.0.100;branch=z9hG4bKabc, SIP/2.0/TCP proxy.example:5070\r\n\
f: <sip:1001@lab.test>;tag=f1\r\n\
t: \"Bob, the phone\" <sip:1001@lab.test>;tag=t9\r\n\
i: callid@10.77.0.100\r\n\
CSeq: 2 REGISTER\r\n\
m: <sip:1001@10.77.0.100:5060;transport=udp>;expires=60, <sip:1001@10.77.0.9>;expires=3600\r\n\
Retry-After: 18000 (in maintenance);duration=3600\r\n\
WWW-Authenticate: Digest realm=\"lab.test\",\r\n nonce=\"abc\", algorithm=SHA-256,\r\n\tqop=\"auth\"\r\n\
l: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn parses_compact_and_folded_response() {
        let Ok(Message::Response(r)) = parse(REG_200.as_bytes()) else {
            panic!("parses")
        };
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"body");
        let vias = r.headers.vias().expect("vias");
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].branch.as_deref(), Some("z9hG4bKabc"));
        assert_eq!(vias[0].rport, Some(Some(5060)));
        assert_eq!(vias[1].port, Some(5070));
        assert_eq!(
            r.headers.cseq().expect("cseq"),
            CSeq {
                seq: 2,
                method: "REGISTER".into()
            }
        );
        assert_eq!(
            r.headers.to().expect("to").display.as_deref(),
            Some("Bob, the phone")
        );
        assert_eq!(r.headers.from().expect("from").param("tag"), Some("f1"));
        let Some(Contacts::List(c)) = r.headers.contacts().expect("contacts") else {
            panic!("list")
        };
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].uri, "sip:1001@10.77.0.100:5060;transport=udp");
        assert_eq!(c[0].param("expires"), Some("60"));
        assert_eq!(r.headers.retry_after(), Ok(Some(18000)));
        let ch = r.headers.challenges(false).expect("challenge");
        assert_eq!(ch[0].nonce, "abc");
        assert_eq!(ch[0].algorithm, crate::digest::Algorithm::Sha256);
        assert_eq!(r.headers.call_id(), Ok("callid@10.77.0.100"));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            parse(b"SIP/2.0 200 OK\r\nVia: x\r\n"),
            Err(ParseError::Incomplete)
        );
        assert_eq!(parse(b"HELLO\r\n\r\n"), Err(ParseError::StartLine));
        assert_eq!(
            parse(b"SIP/2.0 099 Low\r\n\r\n"),
            Err(ParseError::StartLine)
        );
        assert_eq!(
            parse(b"SIP/2.0 200 OK\r\nbad line\r\n\r\n"),
            Err(ParseError::HeaderLine(1))
        );
        assert_eq!(
            parse(b"SIP/2.0 200 OK\r\nl: 10\r\n\r\nabc"),
            Err(ParseError::ContentLength)
        );
        assert_eq!(
            parse(b"SIP/2.0 200 OK\r\n folded\r\n\r\n"),
            Err(ParseError::HeaderLine(1))
        );
        let mut many = String::from("SIP/2.0 200 OK\r\nX: a\r\n");
        for _ in 0..=MAX_FOLDS {
            many.push_str(" more\r\n");
        }
        many.push_str("\r\n");
        assert_eq!(parse(many.as_bytes()), Err(ParseError::TooManyHeaders));
        let Ok(Message::Response(r)) = parse(
            b"SIP/2.0 423 Interval Too Brief\r\nMin-Expires: 99999999999\r\nExpires: x\r\n\r\n",
        ) else {
            panic!("parses")
        };
        assert_eq!(r.headers.min_expires(), Ok(Some(u32::MAX)));
        assert_eq!(r.headers.expires(), Err(ParseError::Header("Expires")));
    }

    /// Issue 12: `SIP/2.0 2000 OK` parsed as 200. Status-Code is exactly 3 digits then SP.
    #[test]
    fn status_code_is_exactly_three_digits() {
        for bad in [
            "SIP/2.0 2000 OK",
            "SIP/2.0 20 OK",
            "SIP/2.0 200OK",
            "SIP/2.0 2001",
            "SIP/2.0 700 X",
            "SIP/2.0 +20 OK",
        ] {
            assert_eq!(
                parse(format!("{bad}\r\n\r\n").as_bytes()),
                Err(ParseError::StartLine),
                "{bad}"
            );
        }
        for (good, status) in [
            ("SIP/2.0 200 OK", 200),
            ("SIP/2.0 200", 200),
            ("SIP/2.0 183 ", 183),
            ("SIP/2.0 699 Whatever 2000", 699),
        ] {
            let Ok(Message::Response(r)) = parse(format!("{good}\r\n\r\n").as_bytes()) else {
                panic!("{good}")
            };
            assert_eq!(r.status, status);
        }
    }

    /// Issue 12: a bare CR (or NUL, FF, ...) inside a header value reached the next request.
    /// The header section admits no control character but HTAB.
    #[test]
    fn control_characters_in_headers_are_refused() {
        for (msg, line) in [
            (
                "SIP/2.0 401 X\r\nWWW-Authenticate: Digest realm=\"a\rb\", nonce=n\r\n\r\n",
                1,
            ),
            ("SIP/2.0 401 X\r\nVia: x\r\nX: a\0b\r\n\r\n", 2),
            ("SIP/2.0 401 X\x0c\r\n\r\n", 0),
            ("SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\x7f\r\n\r\n", 1),
        ] {
            assert_eq!(
                parse(msg.as_bytes()),
                Err(ParseError::ControlCharacter(line)),
                "{msg:?}"
            );
        }
        let Ok(Message::Response(r)) = parse(b"SIP/2.0 200 OK\r\nX: a\tb\r\n\r\n\x00\r\x01") else {
            panic!("HTAB in a value and control bytes in the body are fine")
        };
        assert_eq!(r.body, b"\x00\r\x01");
    }

    /// Issue 12: over UDP two different Content-Length headers were accepted (the stream
    /// framer refuses them). Equal repeats stay acceptable, as in the framer.
    #[test]
    fn conflicting_content_lengths_are_refused() {
        assert_eq!(
            parse(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\nl: 4\r\n\r\nbody"),
            Err(ParseError::ContentLength)
        );
        assert_eq!(
            parse(b"SIP/2.0 200 OK\r\nContent-Length: 4\r\nContent-Length: 0\r\n\r\nbody"),
            Err(ParseError::ContentLength)
        );
        let Ok(Message::Response(r)) =
            parse(b"SIP/2.0 200 OK\r\nContent-Length: 4\r\nl: 4\r\n\r\nbodyX")
        else {
            panic!("equal lengths")
        };
        assert_eq!(r.body, b"body");
    }

    /// Whatever a value holds, the writer never emits a control character but CRLF line ends.
    #[test]
    fn writer_neutralises_control_characters() {
        let mut h = Headers::default();
        h.push(HeaderName::Other("X".into()), "a\r\nInjected: 1\0");
        let req = Request {
            method: "REGISTER".into(),
            uri: "sip:d".into(),
            headers: h,
            body: Vec::new(),
        };
        let text = String::from_utf8(req.to_bytes()).expect("utf-8");
        assert!(text.contains("X: a  Injected: 1 \r\n"), "{text:?}");
        assert!(!text.contains("\r\nInjected"));
    }

    #[test]
    fn request_round_trip() {
        let mut h = Headers::default();
        h.push(
            HeaderName::Via,
            "SIP/2.0/TLS 10.0.0.5:5061;rport;branch=z9hG4bK1",
        );
        h.push(HeaderName::CSeq, "7 REGISTER");
        let req = Request {
            method: "REGISTER".into(),
            uri: "sip:lab.test".into(),
            headers: h,
            body: Vec::new(),
        };
        let bytes = req.to_bytes();
        let Ok(Message::Request(back)) = parse(&bytes) else {
            panic!("parses")
        };
        assert_eq!(back.method, "REGISTER");
        assert_eq!(back.headers.top_via().expect("via").rport, Some(None));
        assert_eq!(back.headers.content_length(), Ok(Some(0)));
    }
}
