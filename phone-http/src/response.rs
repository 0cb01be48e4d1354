//! Reading a response: the head (status line and header fields, interim 1xx heads skipped)
//! and the body (Content-Length, chunked, or until close), every size bounded.
//!
//! The head's header fields are parsed by `httparse` (a well-kept, fuzzed, allocation-free
//! parser that refuses control bytes in values and bare CRs); the status line is checked here
//! first so that each refusal has its own typed reason, and the end of the head is found by
//! scanning only the new bytes, so feeding a head one byte at a time costs linear work.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use crate::HttpLimits;
use crate::error::{ChunkError, Failure, FramingError, HeadError};

/// What a final (non-1xx) head says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FinalHead {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub status: u16,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub retry_after: Option<Duration>,
    content_length: Option<Result<u64, FramingError>>,
    /// `Transfer-Encoding` was present; `Ok` when it is exactly one final `chunked`.
    transfer_encoding: Option<Result<(), FramingError>>,
    content_coding_ok: bool,
}

/// How the body of a final response is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body is read: a 204 or 304, or a status whose body nobody needs (non-2xx).
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

impl FinalHead {
    /// The announced body length (for progress), when valid and not chunked.
    pub(crate) fn content_length(&self) -> Option<u64> {
        match (self.content_length, self.transfer_encoding) {
            (Some(Ok(n)), None) => Some(n),
            _ => None,
        }
    }

    /// The body framing of this response (RFC 9112 §6.1, §6.3), with the refusals the RFCs
    /// ask for. The framing fields are checked on every final response; the body is read only
    /// for a 2xx other than 204 (no other status's body is needed by a caller, and it never
    /// costs the body limit).
    pub(crate) fn framing(&self, limits: &HttpLimits) -> Result<Framing, Failure> {
        if let Some(te) = self.transfer_encoding {
            if self.minor == 0 {
                return Err(FramingError::TransferEncodingInHttp10.into());
            }
            if self.content_length.is_some() {
                return Err(FramingError::LengthAndTransferEncoding.into());
            }
            te?;
        }
        let length = self.content_length.transpose()?;
        let success = (200..300).contains(&self.status);
        if !success || self.status == 204 {
            return Ok(Framing::None);
        }
        if !self.content_coding_ok {
            return Err(FramingError::UnsupportedContentCoding.into());
        }
        if self.transfer_encoding.is_some() {
            return Ok(Framing::Chunked);
        }
        match length {
            Some(len) if len > limits.max_body as u64 => Err(Failure::BodyTooLarge {
                limit: limits.max_body,
            }),
            Some(len) => Ok(Framing::Length(len)),
            None => Ok(Framing::UntilClose),
        }
    }
}

/// What [`HeadReader::feed`] found.
#[derive(Debug)]
pub(crate) enum HeadStep {
    /// The head is not complete yet; every byte given was kept.
    Pending,
    /// The final head, the bytes buffered behind it, and how many bytes of the input were
    /// taken (the rest follow the buffered ones).
    Final {
        head: FinalHead,
        leftover: Vec<u8>,
        taken: usize,
    },
}

/// Collects a response head across reads, skipping interim (1xx) heads.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeadReader {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned for line ends.
    scanned: usize,
    /// The status line of the head in `buf` has been checked.
    line_checked: bool,
    interim_bytes: usize,
    interim_count: usize,
}

impl HeadReader {
    /// Feeds bytes; see [`HeadStep`].
    pub(crate) fn feed(&mut self, limits: &HttpLimits, data: &[u8]) -> Result<HeadStep, Failure> {
        let room = limits
            .max_head
            .saturating_sub(self.interim_bytes.saturating_add(self.buf.len()));
        let take = room.min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        while let Some(i) = self.buf[self.scanned..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| p + self.scanned)
        {
            self.scanned = i + 1;
            if !self.line_checked {
                self.line_checked = true;
                check_status_line(&self.buf[..i])?;
                continue;
            }
            let blank = self.buf[..i].ends_with(b"\n") || self.buf[..i].ends_with(b"\n\r");
            if !blank {
                continue;
            }
            let (head, len) = parse_head(&self.buf[..=i], limits)?;
            if (100..200).contains(&head.status) {
                if head.status == 101 {
                    return Err(HeadError::SwitchingProtocols.into());
                }
                // Interim response (RFC 9110 §15.2): skip it and read on for the final one.
                self.interim_count += 1;
                if self.interim_count > limits.max_interim {
                    return Err(HeadError::TooManyInterim.into());
                }
                self.interim_bytes += len;
                self.buf.drain(..len);
                self.scanned = 0;
                self.line_checked = false;
                continue;
            }
            let leftover = self.buf.split_off(len);
            self.buf = Vec::new();
            return Ok(HeadStep::Final {
                head,
                leftover,
                taken: take,
            });
        }
        if take < data.len() || self.interim_bytes + self.buf.len() >= limits.max_head {
            return Err(HeadError::TooLarge.into());
        }
        Ok(HeadStep::Pending)
    }
}

/// `HTTP/1.x SP 3DIGIT [SP reason-phrase]` (RFC 9112 §4), `line` without its LF.
fn check_status_line(line: &[u8]) -> Result<(), HeadError> {
    let line = match line {
        [rest @ .., b'\r'] => rest,
        _ => line,
    };
    let [
        b'H',
        b'T',
        b'T',
        b'P',
        b'/',
        b'1',
        b'.',
        b'0' | b'1',
        rest @ ..,
    ] = line
    else {
        return Err(HeadError::Version);
    };
    let (code, reason) = match rest {
        [b' ', a, b, c, reason @ ..]
            if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() =>
        {
            (
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
                reason,
            )
        }
        _ => return Err(HeadError::Status),
    };
    if !(100..=599).contains(&code) {
        return Err(HeadError::Status);
    }
    match reason {
        [] => Ok(()),
        [b' ', reason @ ..] => {
            if reason.contains(&b'\r') {
                Err(HeadError::Malformed)
            } else if reason.iter().any(|&b| is_control(b)) {
                Err(HeadError::HeaderValue)
            } else {
                Ok(())
            }
        }
        _ => Err(HeadError::Status),
    }
}

/// A control byte other than HTAB, or DEL.
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Parses one complete head (its status line already checked).
fn parse_head(bytes: &[u8], limits: &HttpLimits) -> Result<(FinalHead, usize), HeadError> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(HeadError::Malformed),
        Err(e) => {
            return Err(match e {
                httparse::Error::HeaderName => HeadError::HeaderName,
                httparse::Error::HeaderValue => HeadError::HeaderValue,
                httparse::Error::Status => HeadError::Status,
                httparse::Error::TooManyHeaders => HeadError::TooManyHeaders,
                httparse::Error::Version => HeadError::Version,
                _ => HeadError::Malformed,
            });
        }
    };
    let (Some(minor), Some(status)) = (resp.version, resp.code) else {
        return Err(HeadError::Malformed);
    };
    let mut head = FinalHead {
        minor,
        status,
        content_type: None,
        etag: None,
        retry_after: None,
        content_length: None,
        transfer_encoding: None,
        content_coding_ok: true,
    };
    for h in resp.headers.iter() {
        // httparse refuses these already; kept so the rule holds whatever its build does.
        if h.value.iter().any(|&b| is_control(b)) {
            return Err(HeadError::HeaderValue);
        }
        let value = trim_ows(h.value);
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = parse_content_length(value);
            head.content_length = Some(match (head.content_length, v) {
                (Some(Err(e)), _) | (_, Err(e)) => Err(e),
                (Some(Ok(a)), Ok(b)) if a != b => Err(FramingError::ConflictingContentLength),
                (_, Ok(b)) => Ok(b),
            });
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.transfer_encoding = Some(transfer_coding(head.transfer_encoding, value));
        } else if name.eq_ignore_ascii_case("content-encoding") {
            if !value.is_empty() && !value.eq_ignore_ascii_case(b"identity") {
                head.content_coding_ok = false;
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = head.content_type.or_else(|| text(value));
        } else if name.eq_ignore_ascii_case("etag") {
            head.etag = head.etag.or_else(|| text(value));
        } else if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = head.retry_after.or_else(|| delay_seconds(value));
        }
    }
    Ok((head, len))
}

fn text(value: &[u8]) -> Option<String> {
    core::str::from_utf8(value).ok().map(String::from)
}

/// `Retry-After: delay-seconds` (RFC 9110 §10.2.3); an HTTP-date is not interpreted (the
/// machine has no wall clock).
fn delay_seconds(value: &[u8]) -> Option<Duration> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in value {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(Duration::from_secs(n))
}

/// Adds one `Transfer-Encoding` field to what earlier ones said: codings are applied in
/// order, and only one final `chunked` is ours to undo (RFC 9112 §6.1, §7).
fn transfer_coding(
    before: Option<Result<(), FramingError>>,
    value: &[u8],
) -> Result<(), FramingError> {
    let mut chunked = matches!(before, Some(Ok(())));
    if let Some(Err(e)) = before {
        return Err(e);
    }
    let mut any = false;
    for coding in value.split(|&b| b == b',') {
        let coding = trim_ows(coding);
        if coding.is_empty() {
            continue;
        }
        any = true;
        if chunked || !coding.eq_ignore_ascii_case(b"chunked") {
            return Err(FramingError::UnsupportedTransferCoding);
        }
        chunked = true;
    }
    if any || chunked {
        Ok(())
    } else {
        Err(FramingError::UnsupportedTransferCoding)
    }
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

/// Content-Length = 1*DIGIT (RFC 9110 §8.6); a list of equal values is one value.
fn parse_content_length(value: &[u8]) -> Result<u64, FramingError> {
    let mut result: Option<u64> = None;
    for part in value.split(|&b| b == b',') {
        let part = trim_ows(part);
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(FramingError::BadContentLength);
        }
        let mut n: u64 = 0;
        for &d in part {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(FramingError::BadContentLength)?;
        }
        match result {
            Some(prev) if prev != n => return Err(FramingError::ConflictingContentLength),
            _ => result = Some(n),
        }
    }
    result.ok_or(FramingError::BadContentLength)
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1, §7.1.1). Extensions are checked for allowed
/// bytes and ignored.
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
    if ext[0] != b';' || ext.iter().any(|&b| is_control(b)) {
        return Err(ChunkError::BadSize);
    }
    Ok(size)
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
enum BodyState {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Complete,
}

/// Collects a body, de-chunked, up to the limits.
#[derive(Debug, Clone)]
pub(crate) struct BodyReader {
    state: BodyState,
    /// The current chunk-size or trailer line.
    line: Vec<u8>,
    trailer_bytes: usize,
    body: Vec<u8>,
    max_body: usize,
    max_chunk_line: usize,
    max_trailers: usize,
}

/// A complete line (CR stripped) and the bytes after it.
type Line<'d> = (Vec<u8>, &'d [u8]);

impl BodyReader {
    /// A reader for `framing` (not [`Framing::None`], which has no body to read).
    pub(crate) fn new(framing: Framing, limits: &HttpLimits) -> Self {
        let state = match framing {
            Framing::None | Framing::Length(0) => BodyState::Complete,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(Chunk::Size),
            Framing::UntilClose => BodyState::UntilClose,
        };
        let mut body = Vec::new();
        if let BodyState::Length(n) = state {
            // The announced length is within the limit (checked at the head).
            body.reserve_exact(usize::try_from(n).unwrap_or(0).min(limits.max_body));
        }
        BodyReader {
            state,
            line: Vec::new(),
            trailer_bytes: 0,
            body,
            max_body: limits.max_body,
            max_chunk_line: limits.max_chunk_line,
            max_trailers: limits.max_trailers,
        }
    }

    /// Body bytes so far.
    pub(crate) fn received(&self) -> u64 {
        self.body.len() as u64
    }

    /// True once the framing says the body is complete.
    pub(crate) fn is_complete(&self) -> bool {
        self.state == BodyState::Complete
    }

    /// The body, once complete.
    pub(crate) fn take_body(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.body)
    }

    /// The peer closed: an until-close body is complete; any other unfinished body is an
    /// early close.
    pub(crate) fn close(&mut self) -> Result<(), Failure> {
        match self.state {
            BodyState::UntilClose | BodyState::Complete => {
                self.state = BodyState::Complete;
                Ok(())
            }
            _ => Err(Failure::EarlyClose {
                received: self.received(),
            }),
        }
    }

    /// Feeds body bytes. Bytes after the end of the body are ignored (the connection closes
    /// anyway: every request says `Connection: close`).
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), Failure> {
        while !data.is_empty() {
            data = match self.state {
                BodyState::Complete => return Ok(()),
                BodyState::Length(remaining) => {
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    self.push(&data[..n])?;
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        BodyState::Complete
                    } else {
                        BodyState::Length(left)
                    };
                    &data[n..]
                }
                BodyState::UntilClose => {
                    self.push(data)?;
                    &[]
                }
                BodyState::Chunked(chunk) => self.chunked(chunk, data)?,
            };
        }
        Ok(())
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let needed = self.body.len().saturating_add(bytes.len());
        if needed > self.max_body {
            return Err(Failure::BodyTooLarge {
                limit: self.max_body,
            });
        }
        if needed > self.body.capacity() {
            // Amortised doubling, but never past the limit: the body's allocation stays
            // within `max_body`, not twice it.
            let target = self
                .body
                .capacity()
                .saturating_mul(2)
                .clamp(needed, self.max_body);
            self.body.reserve_exact(target - self.body.len());
        }
        self.body.extend_from_slice(bytes);
        Ok(())
    }

    fn chunked<'d>(&mut self, chunk: Chunk, data: &'d [u8]) -> Result<&'d [u8], Failure> {
        match chunk {
            Chunk::Size => {
                let Some((line, rest)) =
                    self.take_line(data, self.max_chunk_line, ChunkError::LineTooLong)?
                else {
                    return Ok(&[]);
                };
                let size = parse_chunk_size(&line)?;
                if size == 0 {
                    self.state = BodyState::Chunked(Chunk::Trailers);
                } else {
                    // A size past the limit is refused before any of its data.
                    if (self.body.len() as u64).saturating_add(size) > self.max_body as u64 {
                        return Err(Failure::BodyTooLarge {
                            limit: self.max_body,
                        });
                    }
                    self.state = BodyState::Chunked(Chunk::Data(size));
                }
                Ok(rest)
            }
            Chunk::Data(remaining) => {
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                self.push(&data[..n])?;
                let left = remaining - n as u64;
                self.state = BodyState::Chunked(if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                });
                Ok(&data[n..])
            }
            Chunk::DataEnd | Chunk::DataEndLf => {
                let (&b, rest) = data.split_first().ok_or(ChunkError::BadDataEnd)?;
                let next = match (chunk, b) {
                    (Chunk::DataEnd, b'\r') => Chunk::DataEndLf,
                    // A bare LF is accepted as a line end (RFC 9112 §2.2).
                    (_, b'\n') => Chunk::Size,
                    _ => return Err(ChunkError::BadDataEnd.into()),
                };
                self.state = BodyState::Chunked(next);
                Ok(rest)
            }
            Chunk::Trailers => {
                let room = self.max_trailers.saturating_sub(self.trailer_bytes);
                let before = self.line.len();
                let Some((line, rest)) =
                    self.take_line(data, room, ChunkError::TrailersTooLarge)?
                else {
                    return Ok(&[]);
                };
                self.trailer_bytes += data.len() - rest.len() + before;
                if line.is_empty() {
                    self.state = BodyState::Complete;
                    return Ok(&[]);
                }
                // A trailer is a header field (RFC 9112 §7.1.2): name ':' value, no leading
                // space, no control byte. Trailers are read and dropped.
                let valid = match line.iter().position(|&b| b == b':') {
                    Some(i) if i > 0 => {
                        line[..i].iter().all(|&b| is_tchar(b))
                            && !line[i + 1..].iter().any(|&b| is_control(b))
                    }
                    _ => false,
                };
                if !valid {
                    return Err(ChunkError::BadTrailer.into());
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
                if self.line.len() + i > max {
                    return Err(too_long.into());
                }
                let mut line = core::mem::take(&mut self.line);
                line.extend_from_slice(&data[..i]);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some((line, &data[i + 1..])))
            }
            None => {
                if self.line.len() + data.len() > max {
                    return Err(too_long.into());
                }
                self.line.extend_from_slice(data);
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> Result<FinalHead, Failure> {
        let mut r = HeadReader::default();
        match r.feed(&HttpLimits::default(), bytes)? {
            HeadStep::Final { head, .. } => Ok(head),
            HeadStep::Pending => panic!("pending"),
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(head(b"HTTP/1.1 200 OK\r\n\r\n").unwrap().status, 200);
        assert_eq!(head(b"HTTP/1.0 599\r\n\r\n").unwrap().minor, 0);
        assert_eq!(head(b"HTTP/1.1 404 \r\n\r\n").unwrap().status, 404);
        assert_eq!(head(b"HTTP/1.1 200 \xe9t\xe9\n\n").unwrap().status, 200);
        for (bytes, want) in [
            (&b"HTTP/1.1 2000 OK\r\n\r\n"[..], HeadError::Status),
            (b"HTTP/1.1 20 OK\r\n\r\n", HeadError::Status),
            (b"HTTP/1.1 099 Low\r\n\r\n", HeadError::Status),
            (b"HTTP/1.1 600 High\r\n\r\n", HeadError::Status),
            (b"HTTP/1.1  200 OK\r\n\r\n", HeadError::Status),
            (b"HTTP/1.1 2x0 OK\r\n\r\n", HeadError::Status),
            (b"HTTP/1.1 200 O\x01K\r\n\r\n", HeadError::HeaderValue),
            (b"HTTP/1.1 200 O\rK\r\n\r\n", HeadError::Malformed),
            (b"HTTP/1.2 200 OK\r\n\r\n", HeadError::Version),
            (b"HTTP/2 200\r\n\r\n", HeadError::Version),
            (b"\r\nHTTP/1.1 200 OK\r\n\r\n", HeadError::Version),
        ] {
            assert_eq!(head(bytes), Err(Failure::Head(want)), "{bytes:?}");
        }
    }

    #[test]
    fn header_values_refuse_control_bytes() {
        for bad in [
            &b"X: a\x00b"[..],
            b"X: a\x01b",
            b"X: a\x7fb",
            b"X: a\rb",
            b"X: a\x0bb",
        ] {
            let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
            resp.extend_from_slice(bad);
            resp.extend_from_slice(b"\r\n\r\n");
            let got = head(&resp);
            assert!(
                matches!(
                    got,
                    Err(Failure::Head(HeadError::HeaderValue | HeadError::Malformed))
                ),
                "{bad:?}: {got:?}"
            );
        }
        // HTAB and obs-text are allowed (RFC 9110 §5.5).
        assert!(head(b"HTTP/1.1 200 OK\r\nX: a\tb\xffc\r\n\r\n").is_ok());
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\nX : v\r\n\r\n"),
            Err(Failure::Head(HeadError::HeaderName))
        );
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\nX: v\r\n folded\r\n\r\n"),
            Err(Failure::Head(HeadError::HeaderName))
        );
    }

    #[test]
    fn fields() {
        let h = head(b"HTTP/1.1 503 Busy\r\nContent-Type: application/x-pki-message\r\nETag:  \"v1\" \r\nRetry-After: 120\r\n\r\n").unwrap();
        assert_eq!(h.content_type.as_deref(), Some("application/x-pki-message"));
        assert_eq!(h.etag.as_deref(), Some("\"v1\""));
        assert_eq!(h.retry_after, Some(Duration::from_secs(120)));
        let h = head(b"HTTP/1.1 503 Busy\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n\r\n")
            .unwrap();
        assert_eq!(h.retry_after, None);
        let h = head(b"HTTP/1.1 503 Busy\r\nRetry-After: 99999999999999999999999\r\n\r\n").unwrap();
        assert_eq!(h.retry_after, None);
    }

    #[test]
    fn body_allocation_stays_within_the_limit() {
        let limits = HttpLimits {
            max_body: 1000,
            ..HttpLimits::default()
        };
        for framing in [Framing::UntilClose, Framing::Chunked, Framing::Length(1000)] {
            let mut r = BodyReader::new(framing, &limits);
            for _ in 0..999 {
                let piece: &[u8] = if framing == Framing::Chunked {
                    b"1\r\nx\r\n"
                } else {
                    b"x"
                };
                r.feed(piece).unwrap();
                assert!(
                    r.body.capacity() <= 1000,
                    "{framing:?}: {}",
                    r.body.capacity()
                );
            }
            assert_eq!(r.received(), 999);
        }
    }

    #[test]
    fn head_fed_byte_by_byte() {
        // 16 KB of header fields fed byte by byte: the end of the head is found by scanning only
        // the new byte, and httparse runs on the status line and once on the whole head.
        let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
        while resp.len() < 16_000 {
            resp.extend_from_slice(b"X: v\r\n");
        }
        resp.extend_from_slice(b"\r\n");
        let limits = HttpLimits {
            max_head: 20_000,
            max_headers: 4000,
            ..HttpLimits::default()
        };
        let mut r = HeadReader::default();
        let mut done = false;
        for b in resp.chunks(1) {
            if let HeadStep::Final { head, .. } = r.feed(&limits, b).unwrap() {
                assert_eq!(head.status, 200);
                done = true;
            }
        }
        assert!(done);
    }
}
