//! A Sans-IO HTTP/1.1 client for one GET (RFC 9110, RFC 9112).
//!
//! The caller owns the TCP connection and, for HTTPS, the TLS session. It makes an [`HttpGet`]
//! once the connection is up, sends what [`HttpGet::poll_output`] hands it, feeds every byte it
//! reads into [`HttpGet::handle_input`], and reports the end of the stream. The machine answers
//! with one [`Outcome`]:
//!
//! - `200` with a complete body: [`Outcome::Obtained`];
//! - `404`/`410`: [`Outcome::NotFound`] (the server answered; the file is not there, files.md §3);
//! - anything else (5xx and other statuses, timeout, reset, a close before the body is complete,
//!   a malformed or oversized response): [`Outcome::Failed`], "this server failed".
//!
//! Every request carries `Host` and `Connection: close` (the 96x1 shape, files.md §3), so a
//! response without a length ends at the close (RFC 9112 §6.3 item 8). All sizes are bounded by
//! [`HttpLimits`], and the whole request has one deadline, reported as [`Output::Timeout`].

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use phone_settings::Instant;

/// Bounds on one request. Network bytes never allocate past these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpLimits {
    /// Largest response head (status line + header fields + blank line), interim 1xx heads included.
    pub max_head: usize,
    /// Most header fields in one head.
    pub max_headers: usize,
    /// Largest body this request accepts.
    pub max_body: usize,
    /// Longest chunk-size line, extensions included (RFC 9112 §7.1.1).
    pub max_chunk_line: usize,
    /// Largest chunked trailer section (RFC 9112 §7.1.2).
    pub max_trailers: usize,
    /// Time from the start of the request to the end of the body.
    pub timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head: 16 * 1024,
            max_headers: 64,
            max_body: 1024 * 1024,
            max_chunk_line: 1024,
            max_trailers: 8 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What to GET and from where (the `Host` header is built from `host` and `port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetRequest<'a> {
    /// Server name or address as configured (dotted decimal, DNS name, or an IPv6 literal).
    pub host: &'a str,
    /// TCP port of the server.
    pub port: u16,
    /// The scheme's default port (80 or 443): the `Host` header names the port only when it differs.
    pub default_port: u16,
    /// Absolute path, starting with `/`. Bytes outside RFC 3986 `pchar` / `/` are percent-encoded.
    pub path: &'a str,
}

/// A request that cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The host is empty or contains characters a `Host` header cannot carry (RFC 9110 §7.2).
    #[error("invalid server name {0:?}")]
    InvalidHost(String),
    /// The path does not start with `/`.
    #[error("path must start with '/': {0:?}")]
    InvalidPath(String),
}

/// Why a server failed this request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// A final status other than 200/404/410 (5xx, 3xx, 401, ...).
    #[error("HTTP status {0}")]
    Status(u16),
    /// The request deadline passed.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made (refused, unreachable, TLS handshake or trust failure);
    /// reported by the caller, never by [`HttpGet`] itself.
    #[error("could not connect")]
    Connect,
    /// The connection was reset or broke.
    #[error("connection reset")]
    Reset,
    /// The server closed the connection before the response was complete.
    #[error("connection closed early ({received} body bytes received)")]
    EarlyClose {
        /// Body bytes received before the close.
        received: usize,
    },
    /// The response head is not valid HTTP/1.x.
    #[error("malformed response head")]
    MalformedHead,
    /// The response head (with interim responses) is larger than [`HttpLimits::max_head`]
    /// or has more than [`HttpLimits::max_headers`] fields.
    #[error("response head too large")]
    HeadTooLarge,
    /// The body is larger than [`HttpLimits::max_body`].
    #[error("body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// `Content-Length` is not a number, or several of them disagree (RFC 9112 §6.3 item 5).
    #[error("invalid Content-Length")]
    BadContentLength,
    /// A transfer or content coding other than `chunked`/`identity` (we asked for none).
    #[error("unsupported coding")]
    UnsupportedCoding,
    /// Broken chunked framing.
    #[error("chunked body: {0}")]
    Chunked(ChunkError),
}

/// Broken chunked framing (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A chunk-size line without hex digits, or with bytes that are not allowed there.
    #[error("bad chunk size line")]
    BadSize,
    /// A chunk size that does not fit in 64 bits.
    #[error("chunk size overflows")]
    SizeOverflow,
    /// A chunk-size line longer than [`HttpLimits::max_chunk_line`].
    #[error("chunk size line too long")]
    LineTooLong,
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    BadDataEnd,
    /// A trailer line that is not a header field.
    #[error("bad trailer field")]
    BadTrailer,
    /// A trailer section larger than [`HttpLimits::max_trailers`].
    #[error("trailer section too large")]
    TrailersTooLarge,
}

/// A complete `200` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obtained {
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// The `ETag` field, if any (shown as `HTTP:n sc etag`, display.md row 9).
    pub etag: Option<String>,
}

/// The result of one GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `200` and the whole body.
    Obtained(Obtained),
    /// `404` or `410`: the server answered but has no such file.
    NotFound(u16),
    /// This server failed the request.
    Failed(Failure),
}

/// What the caller reports about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// The caller's clock reached a deadline (early delivery is a no-op).
    Timeout(Instant),
    /// Bytes read from the connection (TLS plaintext for HTTPS).
    Received(Instant, &'a [u8]),
    /// The server closed its side cleanly (EOF; TLS close_notify).
    Closed(Instant),
    /// The connection broke (reset, TLS alert, I/O error).
    Reset(Instant),
}

/// What the machine asks of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes to the connection.
    Transmit(Vec<u8>),
    /// The request is over; the caller closes the connection.
    Done(Outcome),
    /// Nothing to do until input arrives or the clock reaches this instant
    /// ([`Instant::MAX`] once the outcome has been taken).
    Timeout(Instant),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside chunk data.
    Data(u64),
    /// After chunk data: expecting CR or LF.
    DataEnd,
    /// After chunk data and CR: expecting LF.
    DataEndLf,
    /// Reading trailer lines after the last chunk.
    Trailers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Head,
    Body(Body),
    Finished(Option<Outcome>),
}

/// One HTTP/1.1 GET over a connection the caller owns.
#[derive(Debug, Clone)]
pub struct HttpGet {
    limits: HttpLimits,
    request: Option<Vec<u8>>,
    deadline: Instant,
    state: State,
    /// Unparsed head bytes, or the current chunk-size/trailer line.
    buf: Vec<u8>,
    /// Head bytes consumed by interim (1xx) responses so far.
    interim_head: usize,
    /// Bytes behind an interim head wait in `buf` to be parsed.
    reparse: bool,
    trailer_bytes: usize,
    body: Vec<u8>,
    expected: Option<u64>,
    status: Option<u16>,
    etag: Option<String>,
}

/// The RFC 3986 characters that go into a path unencoded: unreserved, sub-delims, ':' '@' '/'.
fn path_char_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

fn host_ok(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
}

/// The request bytes of a GET with `Host` and `Connection: close` (RFC 9112 §3, RFC 9110 §7.2).
///
/// # Errors
/// [`RequestError`] when the host or path cannot be put on the wire.
pub fn encode_request(req: &GetRequest<'_>) -> Result<Vec<u8>, RequestError> {
    if !host_ok(req.host) {
        return Err(RequestError::InvalidHost(req.host.into()));
    }
    if !req.path.starts_with('/') {
        return Err(RequestError::InvalidPath(req.path.into()));
    }
    let mut out = Vec::with_capacity(64 + req.host.len() + req.path.len() * 3);
    out.extend_from_slice(b"GET ");
    for &b in req.path.as_bytes() {
        if path_char_ok(b) {
            out.push(b);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    // An IPv6 literal is bracketed in Host (RFC 9110 §7.2 via RFC 3986 §3.2.2).
    let v6 = req.host.contains(':') && !req.host.starts_with('[');
    if v6 {
        out.push(b'[');
    }
    out.extend_from_slice(req.host.as_bytes());
    if v6 {
        out.push(b']');
    }
    if req.port != req.default_port {
        out.push(b':');
        out.extend_from_slice(alloc::format!("{}", req.port).as_bytes());
    }
    out.extend_from_slice(
        b"\r\nUser-Agent: phone-boot\r\nAccept: */*\r\nConnection: close\r\n\r\n",
    );
    Ok(out)
}

impl HttpGet {
    /// Starts a GET at `now`; the first output is the request bytes.
    ///
    /// # Errors
    /// [`RequestError`] when the host or path cannot be put on the wire.
    pub fn new(
        now: Instant,
        req: &GetRequest<'_>,
        limits: HttpLimits,
    ) -> Result<Self, RequestError> {
        let request = encode_request(req)?;
        Ok(HttpGet {
            deadline: now + limits.timeout,
            limits,
            request: Some(request),
            state: State::Head,
            buf: Vec::new(),
            interim_head: 0,
            reparse: false,
            trailer_bytes: 0,
            body: Vec::new(),
            expected: None,
            status: None,
            etag: None,
        })
    }

    /// The deadline of this request.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Body bytes received so far (for `n KB received`, display.md row 10).
    #[must_use]
    pub fn body_received(&self) -> usize {
        self.body.len()
    }

    /// The announced body length, once the head is in and names one.
    #[must_use]
    pub fn body_expected(&self) -> Option<u64> {
        self.expected
    }

    /// The final status, once the head is in.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The `ETag` of the response, once the head is in.
    #[must_use]
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// True once the outcome is known (it may not have been taken yet).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished(_))
    }

    /// Feeds what happened on the connection.
    pub fn handle_input(&mut self, input: Input<'_>) {
        if self.is_finished() {
            return;
        }
        let now = match input {
            Input::Timeout(now)
            | Input::Received(now, _)
            | Input::Closed(now)
            | Input::Reset(now) => now,
        };
        if now >= self.deadline {
            self.finish(Outcome::Failed(Failure::Timeout));
            return;
        }
        match input {
            Input::Timeout(_) => {}
            Input::Received(_, data) => {
                if let Err(f) = self.receive(data) {
                    self.finish(Outcome::Failed(f));
                }
            }
            Input::Closed(_) => {
                let outcome = match self.state {
                    State::Body(Body::UntilClose) => self.obtained(),
                    _ => Outcome::Failed(Failure::EarlyClose {
                        received: self.body.len(),
                    }),
                };
                self.finish(outcome);
            }
            Input::Reset(_) => self.finish(Outcome::Failed(Failure::Reset)),
        }
    }

    /// The next thing for the caller to do.
    pub fn poll_output(&mut self) -> Output {
        if let Some(req) = self.request.take() {
            return Output::Transmit(req);
        }
        match &mut self.state {
            State::Finished(outcome) => match outcome.take() {
                Some(o) => Output::Done(o),
                None => Output::Timeout(Instant::MAX),
            },
            _ => Output::Timeout(self.deadline),
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        // A request that never went out (e.g. the connect timed out) is not sent any more.
        self.request = None;
        self.buf = Vec::new();
        self.state = State::Finished(Some(outcome));
    }

    fn obtained(&mut self) -> Outcome {
        Outcome::Obtained(Obtained {
            body: core::mem::take(&mut self.body),
            etag: self.etag.take(),
        })
    }

    fn receive(&mut self, mut data: &[u8]) -> Result<(), Failure> {
        loop {
            match self.state {
                State::Head if !data.is_empty() || self.reparse => {
                    data = self.receive_head(data)?;
                }
                State::Body(body) if !data.is_empty() => data = self.receive_body(body, data)?,
                _ => return Ok(()),
            }
        }
    }

    /// Buffers head bytes up to the limit and parses; returns the bytes after the head.
    fn receive_head<'d>(&mut self, data: &'d [u8]) -> Result<&'d [u8], Failure> {
        self.reparse = false;
        let room = self
            .limits
            .max_head
            .saturating_sub(self.interim_head + self.buf.len());
        let take = room.min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        let mut headers = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if take < data.len() || self.interim_head + self.buf.len() >= self.limits.max_head {
                    return Err(Failure::HeadTooLarge);
                }
                return Ok(&[]);
            }
            Err(httparse::Error::TooManyHeaders) => return Err(Failure::HeadTooLarge),
            Err(_) => return Err(Failure::MalformedHead),
        };
        let code = resp.code.ok_or(Failure::MalformedHead)?;
        // Head bytes past the end of the head (only possible from what we buffered).
        let rest_buf: Vec<u8> = self
            .buf
            .get(head_len..)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let rest_data = &data[take..];
        if (100..200).contains(&code) {
            if code == 101 {
                // We never asked to switch protocols (RFC 9110 §15.2.2).
                return Err(Failure::MalformedHead);
            }
            // Interim response (RFC 9110 §15.2): skip it and read on for the final one. What was
            // buffered behind it is parsed on the next turn of `receive`, without recursion.
            self.interim_head += head_len;
            self.reparse = !rest_buf.is_empty();
            self.buf = rest_buf;
            return Ok(rest_data);
        }
        let head = head_info(resp.headers);
        let framing = self.final_head(code, head)?;
        self.buf = Vec::new();
        match framing {
            None => Ok(&[]),
            Some(body) => {
                self.state = State::Body(body);
                if let Body::Length(0) = body {
                    let o = self.obtained();
                    self.finish(o);
                    return Ok(&[]);
                }
                if !rest_buf.is_empty() {
                    // One level only: body states never come back to the head.
                    self.receive(&rest_buf)?;
                }
                Ok(if self.is_finished() { &[] } else { rest_data })
            }
        }
    }

    /// Reads the final head: records status and ETag, and picks the body framing
    /// (RFC 9112 §6.3). `None` when the outcome is known without a body.
    fn final_head(
        &mut self,
        code: u16,
        head: Result<HeadInfo, Failure>,
    ) -> Result<Option<Body>, Failure> {
        self.status = Some(code);
        if code == 404 || code == 410 {
            self.finish(Outcome::NotFound(code));
            return Ok(None);
        }
        if code != 200 {
            self.finish(Outcome::Failed(Failure::Status(code)));
            return Ok(None);
        }
        let head = head?;
        self.etag = head.etag;
        // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3 item 3).
        if head.chunked {
            return Ok(Some(Body::Chunked(Chunk::Size)));
        }
        match head.content_length {
            Some(len) => {
                if len > self.limits.max_body as u64 {
                    return Err(Failure::BodyTooLarge {
                        limit: self.limits.max_body,
                    });
                }
                self.expected = Some(len);
                Ok(Some(Body::Length(len)))
            }
            None => Ok(Some(Body::UntilClose)),
        }
    }

    fn push_body(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        if self.body.len().saturating_add(bytes.len()) > self.limits.max_body {
            return Err(Failure::BodyTooLarge {
                limit: self.limits.max_body,
            });
        }
        self.body.extend_from_slice(bytes);
        Ok(())
    }

    fn receive_body<'d>(&mut self, body: Body, data: &'d [u8]) -> Result<&'d [u8], Failure> {
        match body {
            Body::Length(remaining) => {
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                self.push_body(&data[..n])?;
                let left = remaining - n as u64;
                if left == 0 {
                    let o = self.obtained();
                    self.finish(o);
                    // Bytes past Content-Length are ignored: the connection closes anyway.
                    return Ok(&[]);
                }
                self.state = State::Body(Body::Length(left));
                Ok(&data[n..])
            }
            Body::UntilClose => {
                self.push_body(data)?;
                Ok(&[])
            }
            Body::Chunked(chunk) => self.receive_chunked(chunk, data),
        }
    }

    fn receive_chunked<'d>(&mut self, chunk: Chunk, data: &'d [u8]) -> Result<&'d [u8], Failure> {
        match chunk {
            Chunk::Size => {
                let Some((line, rest)) =
                    self.take_line(data, self.limits.max_chunk_line, ChunkError::LineTooLong)?
                else {
                    return Ok(&[]);
                };
                let size = parse_chunk_size(&line).map_err(Failure::Chunked)?;
                if size == 0 {
                    self.state = State::Body(Body::Chunked(Chunk::Trailers));
                } else {
                    if (self.body.len() as u64).saturating_add(size) > self.limits.max_body as u64 {
                        return Err(Failure::BodyTooLarge {
                            limit: self.limits.max_body,
                        });
                    }
                    self.state = State::Body(Body::Chunked(Chunk::Data(size)));
                }
                Ok(rest)
            }
            Chunk::Data(remaining) => {
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                self.push_body(&data[..n])?;
                let left = remaining - n as u64;
                self.state = State::Body(Body::Chunked(if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                }));
                Ok(&data[n..])
            }
            Chunk::DataEnd | Chunk::DataEndLf => {
                let (&b, rest) = data
                    .split_first()
                    .ok_or(Failure::Chunked(ChunkError::BadDataEnd))?;
                let next = match (chunk, b) {
                    (Chunk::DataEnd, b'\r') => Chunk::DataEndLf,
                    // A bare LF is accepted as a line end (RFC 9112 §2.2).
                    (_, b'\n') => Chunk::Size,
                    _ => return Err(Failure::Chunked(ChunkError::BadDataEnd)),
                };
                self.state = State::Body(Body::Chunked(next));
                Ok(rest)
            }
            Chunk::Trailers => {
                let room = self.limits.max_trailers.saturating_sub(self.trailer_bytes);
                let before = self.buf.len();
                let Some((line, rest)) =
                    self.take_line(data, room, ChunkError::TrailersTooLarge)?
                else {
                    return Ok(&[]);
                };
                self.trailer_bytes += data.len() - rest.len() + before;
                if line.is_empty() {
                    let o = self.obtained();
                    self.finish(o);
                    return Ok(&[]);
                }
                // A trailer is a header field (RFC 9112 §7.1.2): name ':' value, no leading space.
                let colon = line.iter().position(|&b| b == b':');
                let valid = match colon {
                    Some(i) if i > 0 => line[..i].iter().all(|&b| is_tchar(b)),
                    _ => false,
                };
                if !valid {
                    return Err(Failure::Chunked(ChunkError::BadTrailer));
                }
                Ok(rest)
            }
        }
    }

    /// Collects one line (ending in LF, CR stripped) across reads, at most `max` bytes long.
    /// `None` when the line is not complete yet.
    fn take_line<'d>(
        &mut self,
        data: &'d [u8],
        max: usize,
        too_long: ChunkError,
    ) -> Result<Option<Line<'d>>, Failure> {
        match data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                if self.buf.len() + i > max {
                    return Err(Failure::Chunked(too_long));
                }
                let mut line = core::mem::take(&mut self.buf);
                line.extend_from_slice(&data[..i]);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some((line, &data[i + 1..])))
            }
            None => {
                if self.buf.len() + data.len() > max {
                    return Err(Failure::Chunked(too_long));
                }
                self.buf.extend_from_slice(data);
                Ok(None)
            }
        }
    }
}

/// A complete line (CR stripped) and the bytes after it.
type Line<'d> = (Vec<u8>, &'d [u8]);

/// What the final head says about the body.
struct HeadInfo {
    content_length: Option<u64>,
    chunked: bool,
    etag: Option<String>,
}

fn head_info(headers: &[httparse::Header<'_>]) -> Result<HeadInfo, Failure> {
    let mut info = HeadInfo {
        content_length: None,
        chunked: false,
        etag: None,
    };
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = parse_content_length(h.value)?;
            match info.content_length {
                Some(prev) if prev != v => return Err(Failure::BadContentLength),
                _ => info.content_length = Some(v),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Codings are applied in order; only `chunked` (last, once) is ours to undo.
            for coding in h.value.split(|&b| b == b',') {
                let coding = trim_ows(coding);
                if coding.is_empty() {
                    continue;
                }
                if info.chunked || !coding.eq_ignore_ascii_case(b"chunked") {
                    return Err(Failure::UnsupportedCoding);
                }
                info.chunked = true;
            }
        } else if h.name.eq_ignore_ascii_case("content-encoding") {
            // We send no Accept-Encoding, so only identity is acceptable (RFC 9110 §12.5.3).
            let v = trim_ows(h.value);
            if !v.is_empty() && !v.eq_ignore_ascii_case(b"identity") {
                return Err(Failure::UnsupportedCoding);
            }
        } else if h.name.eq_ignore_ascii_case("etag") {
            info.etag = core::str::from_utf8(trim_ows(h.value))
                .ok()
                .map(String::from);
        }
    }
    Ok(info)
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Content-Length = 1*DIGIT (RFC 9110 §8.6); a list of equal values is accepted (§8.6 note).
fn parse_content_length(value: &[u8]) -> Result<u64, Failure> {
    let mut result: Option<u64> = None;
    for part in value.split(|&b| b == b',') {
        let part = trim_ows(part);
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(Failure::BadContentLength);
        }
        let mut n: u64 = 0;
        for &d in part {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(Failure::BadContentLength)?;
        }
        match result {
            Some(prev) if prev != n => return Err(Failure::BadContentLength),
            _ => result = Some(n),
        }
    }
    result.ok_or(Failure::BadContentLength)
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1, §7.1.1). Extensions are checked for allowed bytes
/// and ignored.
fn parse_chunk_size(line: &[u8]) -> Result<u64, ChunkError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ChunkError::BadSize);
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(d)))
            .ok_or(ChunkError::SizeOverflow)?;
    }
    let ext = trim_ows(&line[digits..]);
    if ext.is_empty() {
        return Ok(size);
    }
    // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    if ext[0] != b';' || ext.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(ChunkError::BadSize);
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    const T0: Instant = Instant::from_secs(100);

    fn req() -> GetRequest<'static> {
        GetRequest {
            host: "192.0.2.10",
            port: 80,
            default_port: 80,
            path: "/96x1Supgrade.txt",
        }
    }

    fn start(limits: HttpLimits) -> HttpGet {
        let mut get = HttpGet::new(T0, &req(), limits).unwrap();
        match get.poll_output() {
            Output::Transmit(bytes) => {
                assert!(bytes.starts_with(b"GET /96x1Supgrade.txt HTTP/1.1\r\n"));
            }
            other => panic!("expected the request, got {other:?}"),
        }
        get
    }

    /// Feeds `chunks` then, if `close`, a clean close; returns the outcome.
    fn run(limits: HttpLimits, chunks: &[&[u8]], close: bool) -> Option<Outcome> {
        let mut get = start(limits);
        for c in chunks {
            get.handle_input(Input::Received(T0, c));
        }
        if close {
            get.handle_input(Input::Closed(T0));
        }
        match get.poll_output() {
            Output::Done(o) => Some(o),
            Output::Timeout(t) => {
                assert_eq!(t, T0 + Duration::from_secs(10));
                None
            }
            Output::Transmit(_) => panic!("second transmit"),
        }
    }

    fn bytewise(resp: &[u8], close: bool) -> Option<Outcome> {
        let pieces: Vec<&[u8]> = resp.chunks(1).collect();
        run(HttpLimits::default(), &pieces, close)
    }

    fn body(o: Option<Outcome>) -> Vec<u8> {
        match o {
            Some(Outcome::Obtained(ob)) => ob.body,
            other => panic!("not obtained: {other:?}"),
        }
    }

    #[test]
    fn request_shape() {
        let r = encode_request(&GetRequest {
            host: "files.example",
            port: 8080,
            default_port: 80,
            path: "/dir/a b.txt",
        })
        .unwrap();
        assert_eq!(
            r,
            b"GET /dir/a%20b.txt HTTP/1.1\r\nHost: files.example:8080\r\nUser-Agent: phone-boot\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let r = encode_request(&GetRequest {
            host: "2001:db8::1",
            port: 443,
            default_port: 443,
            path: "/x",
        })
        .unwrap();
        assert!(r.windows(19).any(|w| w == b"Host: [2001:db8::1]"));
        assert!(matches!(
            encode_request(&GetRequest {
                host: "a\r\nX: y",
                port: 80,
                default_port: 80,
                path: "/"
            }),
            Err(RequestError::InvalidHost(_))
        ));
        assert!(matches!(
            encode_request(&GetRequest {
                host: "a",
                port: 80,
                default_port: 80,
                path: "x"
            }),
            Err(RequestError::InvalidPath(_))
        ));
    }

    #[test]
    fn content_length_byte_at_a_time() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nETag: \"abc\"\r\nConnection: close\r\n\r\nSET A 1\r\n\r\n";
        let o = bytewise(resp, false);
        match o {
            Some(Outcome::Obtained(ob)) => {
                assert_eq!(ob.body, b"SET A 1\r\n\r\n");
                assert_eq!(ob.etag.as_deref(), Some("\"abc\""));
            }
            other => panic!("{other:?}"),
        }
        // Done as soon as Content-Length bytes are in: no close needed.
        assert_eq!(
            body(run(HttpLimits::default(), &[resp], false)),
            b"SET A 1\r\n\r\n"
        );
    }

    #[test]
    fn progress_is_visible() {
        let mut get = start(HttpLimits::default());
        get.handle_input(Input::Received(
            T0,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n1234",
        ));
        assert_eq!(get.status(), Some(200));
        assert_eq!(get.body_expected(), Some(10));
        assert_eq!(get.body_received(), 4);
        assert!(!get.is_finished());
    }

    #[test]
    fn until_close_body() {
        let resp = b"HTTP/1.1 200 OK\r\n\r\nhello";
        assert_eq!(bytewise(resp, false), None);
        assert_eq!(body(bytewise(resp, true)), b"hello");
    }

    #[test]
    fn statuses() {
        assert_eq!(
            bytewise(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n",
                false
            ),
            Some(Outcome::NotFound(404))
        );
        assert_eq!(
            run(
                HttpLimits::default(),
                &[b"HTTP/1.1 410 Gone\r\n\r\n"],
                false
            ),
            Some(Outcome::NotFound(410))
        );
        assert_eq!(
            run(
                HttpLimits::default(),
                &[b"HTTP/1.1 503 Service Unavailable\r\n\r\n"],
                false
            ),
            Some(Outcome::Failed(Failure::Status(503)))
        );
        assert_eq!(
            run(
                HttpLimits::default(),
                &[b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n"],
                false
            ),
            Some(Outcome::Failed(Failure::Status(302)))
        );
        assert_eq!(
            run(
                HttpLimits::default(),
                &[b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"],
                false
            ),
            Some(Outcome::Obtained(Obtained {
                body: Vec::new(),
                etag: None
            }))
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(body(bytewise(resp, false)), b"ok");
        assert_eq!(body(run(HttpLimits::default(), &[resp], false)), b"ok");
        assert_eq!(
            run(
                HttpLimits::default(),
                &[b"HTTP/1.1 101 Switching\r\n\r\n"],
                false
            ),
            Some(Outcome::Failed(Failure::MalformedHead))
        );
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;name=\"quoted;value\"\r\nSET \r\nA ; ext\r\nA 1\r\n\r\nxyz\r\n0\r\nX-Checksum: 1\r\nOther: 2\r\n\r\n";
        assert_eq!(body(bytewise(resp, false)), b"SET A 1\r\n\r\nxyz");
        assert_eq!(
            body(run(HttpLimits::default(), &[resp], false)),
            b"SET A 1\r\n\r\nxyz"
        );
    }

    #[test]
    fn chunked_bare_lf_and_upper_hex() {
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\nabcdefghij\n0\n\n";
        assert_eq!(body(bytewise(resp, false)), b"abcdefghij");
    }

    #[test]
    fn transfer_encoding_overrides_content_length() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(body(bytewise(resp, false)), b"ok");
    }

    fn chunk_fail(rest: &[u8]) -> Option<Outcome> {
        let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        resp.extend_from_slice(rest);
        bytewise(&resp, true)
    }

    #[test]
    fn chunked_errors() {
        let bad = |e| Some(Outcome::Failed(Failure::Chunked(e)));
        assert_eq!(chunk_fail(b"\r\n"), bad(ChunkError::BadSize));
        assert_eq!(chunk_fail(b"zz\r\n"), bad(ChunkError::BadSize));
        assert_eq!(chunk_fail(b" 5\r\n"), bad(ChunkError::BadSize));
        assert_eq!(chunk_fail(b"-5\r\n"), bad(ChunkError::BadSize));
        assert_eq!(chunk_fail(b"5 x\r\n"), bad(ChunkError::BadSize));
        assert_eq!(chunk_fail(b"5;a\x01b\r\n"), bad(ChunkError::BadSize));
        assert_eq!(
            chunk_fail(b"1ffffffffffffffff\r\n"),
            bad(ChunkError::SizeOverflow)
        );
        assert_eq!(chunk_fail(b"2\r\nokX\r\n"), bad(ChunkError::BadDataEnd));
        assert_eq!(chunk_fail(b"2\r\nok\rX"), bad(ChunkError::BadDataEnd));
        assert_eq!(
            chunk_fail(b"0\r\n no-name\r\n\r\n"),
            bad(ChunkError::BadTrailer)
        );
        assert_eq!(
            chunk_fail(b"0\r\nnocolon\r\n\r\n"),
            bad(ChunkError::BadTrailer)
        );
        let long = format!("1;{}\r\n", "x".repeat(2000));
        assert_eq!(chunk_fail(long.as_bytes()), bad(ChunkError::LineTooLong));
        let trailers = "T: v\r\n".repeat(2000);
        assert_eq!(
            chunk_fail(format!("0\r\n{trailers}\r\n").as_bytes()),
            bad(ChunkError::TrailersTooLarge)
        );
        // A huge but representable size is refused against the body limit before any data.
        assert_eq!(
            chunk_fail(b"ffffffffffff\r\n"),
            Some(Outcome::Failed(Failure::BodyTooLarge {
                limit: HttpLimits::default().max_body
            }))
        );
        // Unfinished chunked body at close.
        assert_eq!(
            chunk_fail(b"5\r\nab"),
            Some(Outcome::Failed(Failure::EarlyClose { received: 2 }))
        );
        assert_eq!(
            chunk_fail(b"0\r\n"),
            Some(Outcome::Failed(Failure::EarlyClose { received: 0 }))
        );
    }

    #[test]
    fn unsupported_codings() {
        for te in ["gzip, chunked", "chunked, gzip", "chunked, chunked"] {
            let resp = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n");
            assert_eq!(
                bytewise(resp.as_bytes(), true),
                Some(Outcome::Failed(Failure::UnsupportedCoding)),
                "{te}"
            );
        }
        let resp = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(
            bytewise(resp, true),
            Some(Outcome::Failed(Failure::UnsupportedCoding))
        );
    }

    #[test]
    fn content_length_errors() {
        for cl in ["abc", "-1", "1, 2", "", "99999999999999999999999"] {
            let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\n");
            assert_eq!(
                bytewise(resp.as_bytes(), true),
                Some(Outcome::Failed(Failure::BadContentLength)),
                "{cl:?}"
            );
        }
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
        assert_eq!(
            bytewise(resp, true),
            Some(Outcome::Failed(Failure::BadContentLength))
        );
        // Equal duplicates are one value (RFC 9110 §8.6).
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc";
        assert_eq!(body(bytewise(resp, false)), b"abc");
    }

    #[test]
    fn oversize_head() {
        let limits = HttpLimits {
            max_head: 64,
            ..HttpLimits::default()
        };
        let resp = format!("HTTP/1.1 200 OK\r\nX-Pad: {}\r\n\r\n", "p".repeat(100));
        assert_eq!(
            run(limits.clone(), &[resp.as_bytes()], true),
            Some(Outcome::Failed(Failure::HeadTooLarge))
        );
        let pieces: Vec<&[u8]> = resp.as_bytes().chunks(7).collect();
        assert_eq!(
            run(limits.clone(), &pieces, true),
            Some(Outcome::Failed(Failure::HeadTooLarge))
        );
        // Interim heads count against the same limit.
        let many = "HTTP/1.1 100 Continue\r\n\r\n".repeat(4);
        assert_eq!(
            run(limits, &[many.as_bytes()], true),
            Some(Outcome::Failed(Failure::HeadTooLarge))
        );
        let fields: String = (0..80).map(|i| format!("X{i}: v\r\n")).collect();
        let resp = format!("HTTP/1.1 200 OK\r\n{fields}\r\n");
        assert_eq!(
            bytewise(resp.as_bytes(), true),
            Some(Outcome::Failed(Failure::HeadTooLarge))
        );
    }

    #[test]
    fn oversize_body() {
        let limits = HttpLimits {
            max_body: 8,
            ..HttpLimits::default()
        };
        let big = Some(Outcome::Failed(Failure::BodyTooLarge { limit: 8 }));
        // Refused at the head, before any body byte.
        assert_eq!(
            run(
                limits.clone(),
                &[b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"],
                false
            ),
            big
        );
        assert_eq!(
            run(
                limits.clone(),
                &[b"HTTP/1.1 200 OK\r\n\r\n123456789"],
                false
            ),
            big
        );
        assert_eq!(
            run(
                limits.clone(),
                &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n4\r\n"],
                false
            ),
            big
        );
        assert_eq!(
            body(run(limits, &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n3\r\n678\r\n0\r\n\r\n"], false)),
            b"12345678"
        );
    }

    #[test]
    fn early_close_and_reset() {
        assert_eq!(
            bytewise(b"HTTP/1.1 200 OK\r\nContent-Le", true),
            Some(Outcome::Failed(Failure::EarlyClose { received: 0 }))
        );
        assert_eq!(
            bytewise(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", true),
            Some(Outcome::Failed(Failure::EarlyClose { received: 4 }))
        );
        assert_eq!(
            bytewise(b"", true),
            Some(Outcome::Failed(Failure::EarlyClose { received: 0 }))
        );
        let mut get = start(HttpLimits::default());
        get.handle_input(Input::Received(T0, b"HTTP/1.1 200 OK\r\n\r\npartial"));
        get.handle_input(Input::Reset(T0));
        assert_eq!(
            get.poll_output(),
            Output::Done(Outcome::Failed(Failure::Reset))
        );
        assert_eq!(get.poll_output(), Output::Timeout(Instant::MAX));
    }

    #[test]
    fn malformed_heads() {
        for resp in [
            &b"HTTX/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"\x00\x01\x02\r\n\r\n",
            b"HTTP/2 200\r\n\r\n",
        ] {
            assert_eq!(
                bytewise(resp, true),
                Some(Outcome::Failed(Failure::MalformedHead)),
                "{resp:?}"
            );
        }
    }

    #[test]
    fn deadline() {
        let mut get = start(HttpLimits::default());
        let deadline = T0 + Duration::from_secs(10);
        assert_eq!(get.poll_output(), Output::Timeout(deadline));
        // Early timeouts are no-ops.
        get.handle_input(Input::Timeout(T0 + Duration::from_secs(9)));
        get.handle_input(Input::Received(
            T0 + Duration::from_secs(9),
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
        ));
        assert_eq!(get.poll_output(), Output::Timeout(deadline));
        get.handle_input(Input::Timeout(deadline));
        assert_eq!(
            get.poll_output(),
            Output::Done(Outcome::Failed(Failure::Timeout))
        );
        // Nothing after the outcome changes it.
        get.handle_input(Input::Received(deadline, b"cde"));
        assert_eq!(get.poll_output(), Output::Timeout(Instant::MAX));
        // Bytes that arrive after the deadline do not count.
        let mut get = start(HttpLimits::default());
        get.handle_input(Input::Received(
            deadline,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ));
        assert_eq!(
            get.poll_output(),
            Output::Done(Outcome::Failed(Failure::Timeout))
        );
    }

    #[test]
    fn bytes_after_the_body_are_ignored() {
        let o = run(
            HttpLimits::default(),
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"],
            true,
        );
        assert_eq!(body(o), b"ok");
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn feed(bytes: &[u8], cuts: &[usize], close: bool) -> Option<Outcome> {
            let mut get = start(HttpLimits {
                max_body: 4096,
                max_head: 512,
                ..HttpLimits::default()
            });
            let mut last = 0;
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            for c in cuts.into_iter().chain([bytes.len()]) {
                get.handle_input(Input::Received(T0, &bytes[last..c]));
                last = c;
            }
            if close {
                get.handle_input(Input::Closed(T0));
            }
            match get.poll_output() {
                Output::Done(o) => Some(o),
                _ => None,
            }
        }

        fn chunked(body: &[u8], sizes: &[usize], ext: bool) -> Vec<u8> {
            let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let mut rest = body;
            let mut i = 0;
            while !rest.is_empty() {
                let n = (sizes.get(i).copied().unwrap_or(7) % 50 + 1).min(rest.len());
                out.extend_from_slice(format!("{n:x}").as_bytes());
                if ext {
                    out.extend_from_slice(b";e=\"v\"");
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&rest[..n]);
                out.extend_from_slice(b"\r\n");
                rest = &rest[n..];
                i += 1;
            }
            out.extend_from_slice(b"0\r\nT: x\r\n\r\n");
            out
        }

        proptest! {
            /// Any framing, any split: the body comes out as it went in.
            #[test]
            fn round_trip(body in proptest::collection::vec(any::<u8>(), 0..600),
                          sizes in proptest::collection::vec(any::<usize>(), 0..20),
                          cuts in proptest::collection::vec(any::<usize>(), 0..30),
                          ext: bool, framing in 0u8..3) {
                let resp = match framing {
                    0 => chunked(&body, &sizes, ext),
                    1 => { let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes(); r.extend_from_slice(&body); r }
                    _ => { let mut r = b"HTTP/1.1 200 OK\r\n\r\n".to_vec(); r.extend_from_slice(&body); r }
                };
                let got = feed(&resp, &cuts, true);
                prop_assert_eq!(got, Some(Outcome::Obtained(Obtained { body, etag: None })));
            }

            /// Arbitrary bytes: the outcome does not depend on how the stream is split.
            #[test]
            fn split_invariance(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                cuts in proptest::collection::vec(any::<usize>(), 0..10),
                                close: bool) {
                prop_assert_eq!(feed(&bytes, &cuts, close), feed(&bytes, &[], close));
            }
        }
    }
}
