//! Why an exchange failed: one typed reason per thing the RFCs refuse.

use crate::url::UrlError;

/// Why [`crate::HttpClient`] ended without a response. The client does one exchange; whether
/// to try again (another server, later) is its owner's decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The request cannot be put on the wire; nothing was sent.
    #[error("request not sent: {0}")]
    Request(#[from] RequestError),
    /// The connection (or its TLS handshake) could not be made: the transport failed before
    /// the caller reported it connected ([`phone_sansio::Input::Completed`]) or any byte
    /// arrived.
    #[error("could not connect")]
    Connect,
    /// The connection broke after it was up (reset, TLS alert, write failed).
    #[error("connection reset")]
    Reset,
    /// The exchange's deadline ([`crate::HttpLimits::timeout`], connect included) passed.
    #[error("timed out")]
    Timeout,
    /// The server closed before the response was complete.
    #[error("connection closed early ({received} body bytes received)")]
    EarlyClose {
        /// Body bytes received before the close.
        received: u64,
    },
    /// The proxy answered `CONNECT` with a status other than 2xx.
    #[error("proxy refused the tunnel: HTTP status {status}")]
    ProxyRefused {
        /// The proxy's status.
        status: u16,
    },
    /// The proxy sent bytes after its 2xx `CONNECT` answer, before the client's TLS hello.
    #[error("proxy sent data after its CONNECT answer")]
    ProxyTrailingData,
    /// The response head is not acceptable.
    #[error("bad response head: {0}")]
    Head(#[from] HeadError),
    /// The response's framing fields are not acceptable (RFC 9112 §6).
    #[error("bad response framing: {0}")]
    Framing(#[from] FramingError),
    /// The body is larger than [`crate::HttpLimits::max_body`].
    #[error("body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Broken chunked framing.
    #[error("chunked body: {0}")]
    Chunked(#[from] ChunkError),
}

/// A request that cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The URL's host is empty or has characters a `Host` field cannot carry (RFC 9110 §7.2).
    #[error("invalid server name")]
    Host,
    /// The URL's port is 0.
    #[error("invalid port")]
    Port,
    /// The path does not start with `/`.
    #[error("path must start with '/'")]
    Path,
    /// The proxy named by HTTPPROXY is not a usable host.
    #[error("invalid proxy: {0}")]
    Proxy(UrlError),
    /// The POST's content type has a control byte or is empty.
    #[error("invalid content type")]
    ContentType,
}

/// A response head that is not acceptable (RFC 9112 §2–§5, RFC 9110 §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// Not `HTTP/1.0` or `HTTP/1.1`.
    #[error("not an HTTP/1.x response")]
    Version,
    /// The status is not exactly three digits, or not 100–599 (RFC 9110 §15).
    #[error("status is not a three-digit code 100-599")]
    Status,
    /// `101 Switching Protocols`, which was never asked for (RFC 9110 §15.2.2).
    #[error("unrequested protocol switch")]
    SwitchingProtocols,
    /// A header name with a byte that is not a token character (RFC 9110 §5.1), including a
    /// space before the colon or an obsolete line folding.
    #[error("bad header name")]
    HeaderName,
    /// A control byte (other than HTAB) or DEL in a header value or the reason phrase
    /// (RFC 9110 §5.5).
    #[error("control byte in a header value")]
    HeaderValue,
    /// A line end that is not CRLF or LF (a bare CR), or other broken syntax.
    #[error("malformed head")]
    Malformed,
    /// The heads (interim ones included) are larger than [`crate::HttpLimits::max_head`].
    #[error("head too large")]
    TooLarge,
    /// More header fields than [`crate::HttpLimits::max_headers`].
    #[error("too many header fields")]
    TooManyHeaders,
    /// More interim (1xx) responses than [`crate::HttpLimits::max_interim`].
    #[error("too many interim responses")]
    TooManyInterim,
}

/// Framing fields that are not acceptable (RFC 9112 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.3 item 3: "ought to be
    /// handled as an error"; a response-splitting sign).
    #[error("both Content-Length and Transfer-Encoding")]
    LengthAndTransferEncoding,
    /// `Content-Length` is not `1*DIGIT` (or fits no 64-bit number).
    #[error("invalid Content-Length")]
    BadContentLength,
    /// `Content-Length` given twice (or as a list) with different values (RFC 9112 §6.3
    /// item 5).
    #[error("differing Content-Length values")]
    ConflictingContentLength,
    /// `Transfer-Encoding` in an HTTP/1.0 response: "the framing is faulty" (RFC 9112 §6.1);
    /// such a body is never de-chunked.
    #[error("Transfer-Encoding in an HTTP/1.0 response")]
    TransferEncodingInHttp10,
    /// A transfer coding other than one final `chunked`.
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// A content coding other than `identity`: we sent no `Accept-Encoding` (RFC 9110 §12.5.3).
    #[error("unsupported content coding")]
    UnsupportedContentCoding,
}

/// Broken chunked framing (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// A chunk-size line without hex digits, or with bytes that are not allowed there.
    #[error("bad chunk size line")]
    BadSize,
    /// A chunk size that does not fit in 64 bits.
    #[error("chunk size overflows")]
    SizeOverflow,
    /// A chunk-size line longer than [`crate::HttpLimits::max_chunk_line`].
    #[error("chunk size line too long")]
    LineTooLong,
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    BadDataEnd,
    /// A trailer line that is not a header field.
    #[error("bad trailer field")]
    BadTrailer,
    /// A trailer section larger than [`crate::HttpLimits::max_trailers`].
    #[error("trailer section too large")]
    TrailersTooLarge,
}
