//! Cutting a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3): the header section ends at
//! the first blank line, and Content-Length (mandatory on streams) gives the body length.
//! Sizes are bounded, so a peer can neither make the buffer grow without end nor stall it.
//!
//! [`StreamFramer::next_from`] is the way to feed a read of any size: it appends only what fits
//! and hands out each complete message before taking more, so a read holding several complete
//! messages never trips the bound (only a single message larger than the bound does).

use alloc::vec::Vec;

use crate::message::{self, MAX_MESSAGE};

/// Longest header section accepted on a stream.
pub const MAX_STREAM_HEADER: usize = 16 * 1024;
/// Longest body accepted on a stream.
pub const MAX_STREAM_BODY: usize = 16 * 1024;

/// Why a stream can no longer be framed; the connection should be closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// No blank line within [`MAX_STREAM_HEADER`] bytes.
    #[error("header section longer than {MAX_STREAM_HEADER} bytes")]
    HeaderTooLong,
    /// Content-Length absent or unreadable.
    #[error("stream message without a valid Content-Length")]
    ContentLength,
    /// Content-Length larger than [`MAX_STREAM_BODY`].
    #[error("body longer than {MAX_STREAM_BODY} bytes")]
    BodyTooLong,
}

/// Most bytes held at once: one header section and one body at their bounds.
pub const MAX_BUFFERED: usize = MAX_STREAM_HEADER + MAX_STREAM_BODY + 4;

/// Accumulates stream bytes and yields whole messages.
#[derive(Clone, Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for the blank line without finding it.
    scanned: usize,
    failed: bool,
    resets: u32,
}

impl StreamFramer {
    /// An empty framer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget buffered bytes (after the connection was replaced).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.scanned = 0;
        self.failed = false;
        self.resets = self.resets.wrapping_add(1);
    }

    /// How many times [`StreamFramer::reset`] was called: a caller that hands messages on can
    /// tell whether the stream it was reading from was abandoned meanwhile.
    #[must_use]
    pub fn generation(&self) -> u32 {
        self.resets
    }

    /// Bytes held waiting for the rest of a message.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Append received bytes. Call [`StreamFramer::next_message`] until it returns `Ok(None)`.
    /// Prefer [`StreamFramer::next_from`], which takes a read of any size.
    ///
    /// # Errors
    /// [`FramingError::HeaderTooLong`] when the buffer would grow past [`MAX_BUFFERED`]
    /// (nothing is appended then, and the framer stays usable: drain and push again).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FramingError> {
        if self.failed {
            return Err(FramingError::HeaderTooLong);
        }
        if self.buf.len().saturating_add(bytes.len()) > MAX_BUFFERED {
            return Err(FramingError::HeaderTooLong);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next complete message, taking from `input` only as many bytes as fit in the buffer
    /// and advancing `input` past them. Call until it returns `Ok(None)` (then `input` is empty
    /// and the buffer holds the start of a message). Complete messages are handed out before
    /// more bytes are taken, so only a message larger than the bounds is an error.
    ///
    /// # Errors
    /// [`FramingError`]; the stream is then unusable until [`StreamFramer::reset`].
    pub fn next_from(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, FramingError> {
        loop {
            if let Some(m) = self.next_message()? {
                return Ok(Some(m));
            }
            if input.is_empty() {
                return Ok(None);
            }
            let room = MAX_BUFFERED.saturating_sub(self.buf.len());
            if room == 0 {
                // Unreachable with the bounds above (a full buffer holds a complete message or
                // fails next_message), kept so no input can loop here.
                self.failed = true;
                return Err(FramingError::HeaderTooLong);
            }
            let n = room.min(input.len());
            self.buf.extend_from_slice(&input[..n]);
            *input = &input[n..];
        }
    }

    /// The next complete message's bytes, if one is buffered.
    ///
    /// # Errors
    /// [`FramingError`]; the stream is then unusable until [`StreamFramer::reset`].
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        if self.failed {
            return Err(FramingError::HeaderTooLong);
        }
        // RFC 5626 §4.4.1 keep-alive CRLFs between messages.
        let skip = self
            .buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        if skip > 0 {
            self.buf.drain(..skip);
            self.scanned = 0;
        }
        // Resume the search for the blank line where the last one stopped (its last 3 bytes may
        // begin the terminator), so a peer trickling bytes costs linear work, not quadratic.
        let from = self.scanned.saturating_sub(3);
        let Some(end) = message::header_end(&self.buf[from..]).map(|e| e + from) else {
            self.scanned = self.buf.len();
            if self.buf.len() > MAX_STREAM_HEADER {
                self.failed = true;
                return Err(FramingError::HeaderTooLong);
            }
            return Ok(None);
        };
        self.scanned = end;
        if end > MAX_STREAM_HEADER {
            self.failed = true;
            return Err(FramingError::HeaderTooLong);
        }
        let Some(len) = content_length(&self.buf[..end]) else {
            self.failed = true;
            return Err(FramingError::ContentLength);
        };
        if len > MAX_STREAM_BODY || end + len > MAX_MESSAGE {
            self.failed = true;
            return Err(FramingError::BodyTooLong);
        }
        if self.buf.len() < end + len {
            return Ok(None);
        }
        let msg: Vec<u8> = self.buf.drain(..end + len).collect();
        self.scanned = 0;
        Ok(Some(msg))
    }
}

/// Find Content-Length (or `l`) in a header section without a full parse.
fn content_length(head: &[u8]) -> Option<usize> {
    let text = core::str::from_utf8(head).ok()?;
    let mut found = None;
    for line in text.split('\n').skip(1) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some(colon) = line.find(':') else {
            continue;
        };
        let name = line[..colon].trim();
        if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
            let v = line[colon + 1..].trim();
            if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: usize = v.parse().ok()?;
            if found.is_some_and(|f| f != n) {
                return None;
            }
            found = Some(n);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_joined_messages() {
        let a = b"SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\nContent-Length: 3\r\n\r\nabc";
        let b = b"SIP/2.0 401 Unauthorized\r\nl: 0\r\n\r\n";
        let mut all = Vec::new();
        all.extend_from_slice(b"\r\n\r\n");
        all.extend_from_slice(a);
        all.extend_from_slice(b);
        for split in 0..all.len() {
            let mut f = StreamFramer::new();
            let mut got = Vec::new();
            for part in [&all[..split], &all[split..]] {
                f.push(part).expect("fits");
                while let Some(m) = f.next_message().expect("frames") {
                    got.push(m);
                }
            }
            assert_eq!(got, [a.to_vec(), b.to_vec()], "split at {split}");
            assert_eq!(f.buffered(), 0);
        }
    }

    /// Issue 12: one read of 33 KB holding two complete, valid messages tore the registration
    /// down, because the bound was checked before complete messages were drained.
    #[test]
    fn one_large_read_of_complete_messages_is_drained() {
        let big = |seq: u32, body: usize| {
            let mut m = alloc::format!(
                "SIP/2.0 200 OK\r\nCSeq: {seq} REGISTER\r\nContent-Length: {body}\r\n\r\n"
            )
            .into_bytes();
            m.resize(m.len() + body, b'x');
            m
        };
        let (a, b) = (big(1, MAX_STREAM_BODY), big(2, MAX_STREAM_BODY));
        let mut read = a.clone();
        read.extend_from_slice(&b);
        read.extend_from_slice(b"SIP/2.0 100 Trying\r\n");
        assert!(
            read.len() > MAX_BUFFERED,
            "{} bytes in one read",
            read.len()
        );
        let mut f = StreamFramer::new();
        assert_eq!(
            f.push(&read),
            Err(FramingError::HeaderTooLong),
            "push alone is bounded"
        );
        let mut rest = read.as_slice();
        assert_eq!(f.next_from(&mut rest), Ok(Some(a)));
        assert_eq!(f.next_from(&mut rest), Ok(Some(b)));
        assert_eq!(f.next_from(&mut rest), Ok(None));
        assert!(rest.is_empty());
        assert_eq!(f.buffered(), b"SIP/2.0 100 Trying\r\n".len());
        // A single message over the bounds still fails.
        let mut f = StreamFramer::new();
        let huge = [b'a'; MAX_BUFFERED + 10];
        let mut rest = &huge[..];
        assert_eq!(f.next_from(&mut rest), Err(FramingError::HeaderTooLong));
    }

    #[test]
    fn bounds() {
        let mut f = StreamFramer::new();
        f.push(b"SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\n\r\n")
            .expect("fits");
        assert_eq!(f.next_message(), Err(FramingError::ContentLength));
        let mut f = StreamFramer::new();
        f.push(b"SIP/2.0 200 OK\r\nContent-Length: 99999\r\n\r\n")
            .expect("fits");
        assert_eq!(f.next_message(), Err(FramingError::BodyTooLong));
        let mut f = StreamFramer::new();
        let junk = [b'a'; MAX_STREAM_HEADER + 1];
        f.push(&junk).expect("fits");
        assert_eq!(f.next_message(), Err(FramingError::HeaderTooLong));
        f.reset();
        assert_eq!(f.next_message(), Ok(None));
    }
}
