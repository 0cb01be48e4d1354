//! Cutting a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3): the header section ends at
//! the first blank line, and Content-Length (mandatory on streams) gives the body length.
//! Sizes are bounded, so a peer can neither make the buffer grow without end nor stall it.

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

/// Accumulates stream bytes and yields whole messages.
#[derive(Clone, Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    failed: bool,
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
        self.failed = false;
    }

    /// Bytes held waiting for the rest of a message.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Append received bytes. Call [`StreamFramer::next_message`] until it returns `Ok(None)`.
    ///
    /// # Errors
    /// [`FramingError::HeaderTooLong`] when the buffer would grow past any possible message.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FramingError> {
        if self.failed {
            return Err(FramingError::HeaderTooLong);
        }
        if self.buf.len().saturating_add(bytes.len()) > MAX_STREAM_HEADER + MAX_STREAM_BODY + 4 {
            // Accept only what can still belong to a bounded message; the rest waits for the
            // caller to drain. A caller that pushes without draining hits this bound.
            let room = (MAX_STREAM_HEADER + MAX_STREAM_BODY + 4).saturating_sub(self.buf.len());
            if room < bytes.len() {
                self.failed = true;
                return Err(FramingError::HeaderTooLong);
            }
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
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
        self.buf.drain(..skip);
        let Some(end) = message::header_end(&self.buf) else {
            if self.buf.len() > MAX_STREAM_HEADER {
                self.failed = true;
                return Err(FramingError::HeaderTooLong);
            }
            return Ok(None);
        };
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
