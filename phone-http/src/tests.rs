//! Unit tests of the machine, ported from phone-boot's `HttpGet` (phone-boot/src/http.rs) and
//! extended with the RFC refusals of issue 12.

#![allow(clippy::unwrap_used)]

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use phone_sansio::{Input, Instant, Machine, Output};

use crate::*;

const T0: Instant = Instant::from_secs(100);
const C: ConnId = 3;

fn url() -> Url {
    Url::parse("http://192.0.2.10/96x1Supgrade.txt").unwrap()
}

fn config(limits: HttpLimits) -> HttpConfig {
    HttpConfig {
        limits,
        ..HttpConfig::default()
    }
}

/// A GET with the `Connect` and the request taken at `T0`.
fn start(limits: HttpLimits) -> HttpClient {
    let mut get = HttpClient::new(&config(limits), Request::get(url()), C, T0);
    match get.poll_output() {
        Output::Transmit(Transmit {
            conn: C,
            action: Action::Connect { host, port, tls },
        }) => assert_eq!((host.as_str(), port, tls), ("192.0.2.10", 80, None)),
        other => panic!("expected the connect, got {other:?}"),
    }
    match get.poll_output() {
        Output::Transmit(Transmit {
            conn: C,
            action: Action::Send(bytes),
        }) => assert!(bytes.starts_with(b"GET /96x1Supgrade.txt HTTP/1.1\r\n")),
        other => panic!("expected the request, got {other:?}"),
    }
    get
}

/// Drains: the outcome (after the `Close`), or `None` while the exchange goes on.
fn outcome(get: &mut HttpClient) -> Option<Outcome> {
    let mut closed = false;
    loop {
        match get.poll_output() {
            Output::Transmit(Transmit {
                action: Action::Close,
                ..
            }) => closed = true,
            Output::Transmit(t) => panic!("unexpected transmit {t:?}"),
            Output::Event(Event::Progress { .. }) => {}
            Output::Event(Event::Done(o)) => {
                assert!(closed, "Done before Close");
                assert_eq!(get.poll_output(), Output::Timeout(Instant::MAX));
                assert_eq!(get.poll_timeout(), None);
                return Some(o);
            }
            Output::Timeout(t) => {
                assert!(!closed);
                assert_eq!(t, T0 + Duration::from_secs(10));
                return None;
            }
        }
    }
}

/// Feeds `chunks` then, if `close`, a clean close; returns the outcome.
fn run(limits: HttpLimits, chunks: &[&[u8]], close: bool) -> Option<Outcome> {
    let mut get = start(limits);
    for c in chunks {
        get.handle_input(Input::Receive(T0, C, c));
    }
    if close {
        get.handle_input(Input::Closed(T0, C));
    }
    outcome(&mut get)
}

fn bytewise(resp: &[u8], close: bool) -> Option<Outcome> {
    let pieces: Vec<&[u8]> = resp.chunks(1).collect();
    run(HttpLimits::default(), &pieces, close)
}

fn response(o: Option<Outcome>) -> Response {
    match o {
        Some(Outcome::Response(r)) => r,
        other => panic!("no response: {other:?}"),
    }
}

fn body(o: Option<Outcome>) -> Vec<u8> {
    let r = response(o);
    assert_eq!(r.status, 200);
    r.body
}

fn failed(f: impl Into<Failure>) -> Option<Outcome> {
    Some(Outcome::Failed(f.into()))
}

fn status_only(status: u16) -> Option<Outcome> {
    Some(Outcome::Response(Response {
        status,
        content_type: None,
        etag: None,
        retry_after: None,
        body: Vec::new(),
    }))
}

#[test]
fn content_length_byte_at_a_time() {
    let resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nETag: \"abc\"\r\nConnection: close\r\n\r\nSET A 1\r\n\r\n";
    let r = response(bytewise(resp, false));
    assert_eq!(r.body, b"SET A 1\r\n\r\n");
    assert_eq!(r.etag.as_deref(), Some("\"abc\""));
    assert_eq!(r.content_type.as_deref(), Some("text/plain"));
    // Done as soon as Content-Length bytes are in: no close needed.
    assert_eq!(
        body(run(HttpLimits::default(), &[resp], false)),
        b"SET A 1\r\n\r\n"
    );
}

#[test]
fn progress_is_reported_per_kib() {
    let mut get = start(HttpLimits::default());
    get.handle_input(Input::Receive(
        T0,
        C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n1234",
    ));
    // Under one KiB: nothing to show.
    assert_eq!(
        get.poll_output(),
        Output::Timeout(T0 + Duration::from_secs(10))
    );
    get.handle_input(Input::Receive(T0, C, &[b'x'; 2000]));
    assert_eq!(
        get.poll_output(),
        Output::Event(Event::Progress {
            received: 2004,
            expected: Some(4096)
        })
    );
    assert_eq!(get.poll_timeout(), Some(T0 + Duration::from_secs(10)));
    // Same KiB: no event.
    get.handle_input(Input::Receive(T0, C, b"y"));
    assert_eq!(
        get.poll_output(),
        Output::Timeout(T0 + Duration::from_secs(10))
    );
    assert!(!get.is_finished());
    // The last bytes complete the body: Done, no Progress.
    get.handle_input(Input::Receive(T0, C, &[b'z'; 2091]));
    assert_eq!(body(outcome(&mut get)).len(), 4096);
}

#[test]
fn until_close_body() {
    let resp = b"HTTP/1.1 200 OK\r\n\r\nhello";
    assert_eq!(bytewise(resp, false), None);
    assert_eq!(body(bytewise(resp, true)), b"hello");
    // HTTP/1.0 without a length: until close as well.
    assert_eq!(body(bytewise(b"HTTP/1.0 200 OK\r\n\r\nhi", true)), b"hi");
}

#[test]
fn statuses() {
    // Any final status is a response; a non-2xx body is not read.
    assert_eq!(
        bytewise(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n",
            false
        ),
        status_only(404)
    );
    assert_eq!(
        run(
            HttpLimits::default(),
            &[b"HTTP/1.1 410 Gone\r\n\r\n"],
            false
        ),
        status_only(410)
    );
    let r = response(run(
        HttpLimits::default(),
        &[b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 5\r\n\r\nbusy!"],
        false,
    ));
    assert_eq!(
        (r.status, r.retry_after, r.body.len()),
        (503, Some(Duration::from_secs(30)), 0)
    );
    assert_eq!(
        run(
            HttpLimits::default(),
            &[b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n"],
            false
        ),
        status_only(302)
    );
    assert_eq!(
        run(
            HttpLimits::default(),
            &[b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"],
            false
        ),
        status_only(200)
    );
    assert_eq!(
        run(
            HttpLimits::default(),
            &[b"HTTP/1.1 204 No Content\r\n\r\n"],
            false
        ),
        status_only(204)
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
        failed(HeadError::SwitchingProtocols)
    );
    // Bounded by count as well as by bytes.
    let many = "HTTP/1.1 100 Continue\r\n\r\n".repeat(9);
    assert_eq!(
        run(HttpLimits::default(), &[many.as_bytes()], false),
        failed(HeadError::TooManyInterim)
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

/// RFC 9112 §6.3 item 3: both fields are an error (phone-boot's `HttpGet` let
/// Transfer-Encoding win; issue 12).
#[test]
fn content_length_with_transfer_encoding_is_refused() {
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    assert_eq!(
        bytewise(resp, false),
        failed(FramingError::LengthAndTransferEncoding)
    );
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    assert_eq!(
        run(HttpLimits::default(), &[resp], false),
        failed(FramingError::LengthAndTransferEncoding)
    );
    // Whatever the status.
    let resp = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        run(HttpLimits::default(), &[resp], false),
        failed(FramingError::LengthAndTransferEncoding)
    );
}

/// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; it is never
/// de-chunked (issue 12).
#[test]
fn http10_is_never_dechunked() {
    let resp = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    assert_eq!(
        bytewise(resp, true),
        failed(FramingError::TransferEncodingInHttp10)
    );
    let resp = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 12\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    assert_eq!(
        bytewise(resp, true),
        failed(FramingError::TransferEncodingInHttp10)
    );
}

fn chunk_fail(rest: &[u8]) -> Option<Outcome> {
    let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    resp.extend_from_slice(rest);
    bytewise(&resp, true)
}

#[test]
fn chunked_errors() {
    let bad = |e: ChunkError| failed(e);
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
    assert_eq!(
        chunk_fail(b"0\r\nT: a\x01b\r\n\r\n"),
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
        failed(Failure::BodyTooLarge {
            limit: HttpLimits::default().max_body
        })
    );
    // Unfinished chunked body at close.
    assert_eq!(
        chunk_fail(b"5\r\nab"),
        failed(Failure::EarlyClose { received: 2 })
    );
    assert_eq!(
        chunk_fail(b"0\r\n"),
        failed(Failure::EarlyClose { received: 0 })
    );
}

#[test]
fn unsupported_codings() {
    for te in [
        "gzip, chunked",
        "chunked, gzip",
        "chunked, chunked",
        "",
        "identity",
    ] {
        let resp = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert_eq!(
            bytewise(resp.as_bytes(), true),
            failed(FramingError::UnsupportedTransferCoding),
            "{te}"
        );
    }
    // Across two fields, too.
    let resp =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        bytewise(resp, true),
        failed(FramingError::UnsupportedTransferCoding)
    );
    let resp = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx";
    assert_eq!(
        bytewise(resp, true),
        failed(FramingError::UnsupportedContentCoding)
    );
    // A content coding does not matter when the body is not read.
    let resp = b"HTTP/1.1 500 Oops\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx";
    assert_eq!(bytewise(resp, true), status_only(500));
}

#[test]
fn content_length_errors() {
    for cl in ["abc", "-1", "", "+5", "0x10", "99999999999999999999999"] {
        let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\n");
        assert_eq!(
            bytewise(resp.as_bytes(), true),
            failed(FramingError::BadContentLength),
            "{cl:?}"
        );
    }
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab";
    assert_eq!(
        bytewise(resp, true),
        failed(FramingError::ConflictingContentLength)
    );
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
    assert_eq!(
        bytewise(resp, true),
        failed(FramingError::ConflictingContentLength)
    );
    // Equal duplicates are one value (RFC 9110 §8.6).
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc";
    assert_eq!(body(bytewise(resp, false)), b"abc");
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc";
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
        failed(HeadError::TooLarge)
    );
    let pieces: Vec<&[u8]> = resp.as_bytes().chunks(7).collect();
    assert_eq!(
        run(limits.clone(), &pieces, true),
        failed(HeadError::TooLarge)
    );
    // Interim heads count against the same limit.
    let many = "HTTP/1.1 100 Continue\r\n\r\n".repeat(4);
    assert_eq!(
        run(limits, &[many.as_bytes()], true),
        failed(HeadError::TooLarge)
    );
    let fields: String = (0..80).map(|i| format!("X{i}: v\r\n")).collect();
    let resp = format!("HTTP/1.1 200 OK\r\n{fields}\r\n");
    assert_eq!(
        bytewise(resp.as_bytes(), true),
        failed(HeadError::TooManyHeaders)
    );
}

#[test]
fn oversize_body() {
    let limits = HttpLimits {
        max_body: 8,
        ..HttpLimits::default()
    };
    let big = failed(Failure::BodyTooLarge { limit: 8 });
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
        body(run(
            limits,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n3\r\n678\r\n0\r\n\r\n"],
            false
        )),
        b"12345678"
    );
}

#[test]
fn early_close_and_reset() {
    assert_eq!(
        bytewise(b"HTTP/1.1 200 OK\r\nContent-Le", true),
        failed(Failure::EarlyClose { received: 0 })
    );
    assert_eq!(
        bytewise(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", true),
        failed(Failure::EarlyClose { received: 4 })
    );
    assert_eq!(
        bytewise(b"", true),
        failed(Failure::EarlyClose { received: 0 })
    );
    let mut get = start(HttpLimits::default());
    get.handle_input(Input::Receive(T0, C, b"HTTP/1.1 200 OK\r\n\r\npartial"));
    get.handle_input(Input::TransportFailed(T0, C));
    assert_eq!(outcome(&mut get), failed(Failure::Reset));
    // A failure before the caller said "connected" and before any byte: could not connect.
    let mut get = start(HttpLimits::default());
    get.handle_input(Input::TransportFailed(T0, C));
    assert_eq!(outcome(&mut get), failed(Failure::Connect));
    let mut get = start(HttpLimits::default());
    get.handle_input(Input::Completed(T0, C));
    get.handle_input(Input::TransportFailed(T0, C));
    assert_eq!(outcome(&mut get), failed(Failure::Reset));
}

#[test]
fn malformed_heads() {
    for (resp, want) in [
        (&b"HTTX/1.1 200 OK\r\n\r\n"[..], HeadError::Version),
        (b"HTTP/1.1 2000 OK\r\n\r\n", HeadError::Status),
        (b"HTTP/1.1 20 OK\r\n\r\n", HeadError::Status),
        (b"HTTP/1.1 099 OK\r\n\r\n", HeadError::Status),
        (b"\x00\x01\x02\r\n\r\n", HeadError::Version),
        (b"HTTP/2 200\r\n\r\n", HeadError::Version),
        (
            b"HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
            HeadError::HeaderValue,
        ),
        (
            b"HTTP/1.1 200 OK\r\nX: a\x7fb\r\n\r\n",
            HeadError::HeaderValue,
        ),
        (
            b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
            HeadError::HeaderValue,
        ),
        (b"HTTP/1.1 200 O\x1bK\r\n\r\n", HeadError::HeaderValue),
    ] {
        assert_eq!(bytewise(resp, true), failed(want), "{resp:?}");
        assert_eq!(
            run(HttpLimits::default(), &[resp], true),
            failed(want),
            "{resp:?}"
        );
    }
    // A bad status line is refused as soon as it is complete, before the rest of the head.
    let mut get = start(HttpLimits::default());
    get.handle_input(Input::Receive(T0, C, b"HTTP/1.1 20000 OK\r\n"));
    assert_eq!(outcome(&mut get), failed(HeadError::Status));
    // A bare CR in a header value never reaches a caller (header injection).
    let got = bytewise(b"HTTP/1.1 200 OK\r\nETag: a\rInjected: 1\r\n\r\n", true);
    assert!(
        matches!(
            got,
            Some(Outcome::Failed(Failure::Head(
                HeadError::HeaderValue | HeadError::Malformed
            )))
        ),
        "{got:?}"
    );
}

#[test]
fn deadline() {
    let mut get = start(HttpLimits::default());
    let deadline = T0 + Duration::from_secs(10);
    assert_eq!(get.poll_output(), Output::Timeout(deadline));
    assert_eq!(get.poll_timeout(), Some(deadline));
    // Early timeouts are no-ops.
    get.handle_input(Input::Timeout(T0 + Duration::from_secs(9)));
    get.handle_input(Input::Receive(
        T0 + Duration::from_secs(9),
        C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
    ));
    assert_eq!(get.poll_output(), Output::Timeout(deadline));
    get.handle_input(Input::Timeout(deadline));
    assert_eq!(
        get.poll_output(),
        Output::Transmit(Transmit {
            conn: C,
            action: Action::Close
        })
    );
    assert_eq!(
        get.poll_output(),
        Output::Event(Event::Done(Outcome::Failed(Failure::Timeout)))
    );
    // Nothing after the outcome changes it.
    get.handle_input(Input::Receive(deadline, C, b"cde"));
    assert_eq!(get.poll_output(), Output::Timeout(Instant::MAX));
    // Bytes that arrive after the deadline do not count.
    let mut get = start(HttpLimits::default());
    get.handle_input(Input::Receive(
        deadline,
        C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ));
    assert_eq!(outcome(&mut get), failed(Failure::Timeout));
    // Another connection's input at a late time still fires the deadline (no stale deadline).
    let mut get = start(HttpLimits::default());
    get.handle_input(Input::Receive(deadline, C + 1, b"x"));
    assert_eq!(outcome(&mut get), failed(Failure::Timeout));
}

#[test]
fn other_connections_are_ignored() {
    let mut get = start(HttpLimits::default());
    get.handle_input(Input::Receive(T0, C + 1, b"HTTP/1.1 200 OK\r\n\r\n"));
    get.handle_input(Input::Closed(T0, C + 1));
    get.handle_input(Input::TransportFailed(T0, C + 1));
    assert_eq!(outcome(&mut get), None);
    get.handle_input(Input::Receive(
        T0,
        C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ));
    assert_eq!(body(outcome(&mut get)), b"ok");
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

/// Commit on take (issue 10): polling nothing moves nothing; the deadline is armed and the
/// request built when the caller takes them; a transport failure after the take ends the
/// exchange with a typed failure (retrying is the owner's job).
#[test]
fn commit_on_take() {
    let mut get = HttpClient::new(&HttpConfig::default(), Request::get(url()), C, T0);
    // Pending output counts as due now; no deadline is armed yet.
    assert_eq!(get.poll_timeout(), Some(T0));
    // Time passes without the caller taking anything: no timeout, no failure.
    let late = T0 + Duration::from_secs(3600);
    get.handle_input(Input::Timeout(late));
    // Facts about a connection that was never opened are ignored.
    get.handle_input(Input::TransportFailed(late, C));
    get.handle_input(Input::Receive(late, C, b"HTTP/1.1 200 OK\r\n\r\n"));
    assert!(!get.is_finished());
    assert_eq!(get.poll_timeout(), Some(late));
    // Taking the connect arms the deadline from the time of the take.
    assert!(matches!(
        get.poll_output(),
        Output::Transmit(Transmit {
            action: Action::Connect { .. },
            ..
        })
    ));
    // The request is not taken yet: still due now.
    assert_eq!(get.poll_timeout(), Some(late));
    assert!(matches!(
        get.poll_output(),
        Output::Transmit(Transmit {
            action: Action::Send(_),
            ..
        })
    ));
    assert_eq!(get.poll_timeout(), Some(late + Duration::from_secs(10)));
    assert_eq!(
        get.poll_output(),
        Output::Timeout(late + Duration::from_secs(10))
    );
    // The transmit could not be carried out: a typed failure, then nothing more.
    get.handle_input(Input::TransportFailed(late, C));
    assert_eq!(
        get.poll_output(),
        Output::Transmit(Transmit {
            conn: C,
            action: Action::Close
        })
    );
    assert_eq!(
        get.poll_output(),
        Output::Event(Event::Done(Outcome::Failed(Failure::Connect)))
    );
    assert_eq!(get.poll_timeout(), None);
}

#[test]
fn invalid_requests_end_at_once() {
    let mut u = url();
    u.host = "a\r\nX: y".into();
    let mut get = HttpClient::new(&HttpConfig::default(), Request::get(u), C, T0);
    assert_eq!(get.poll_timeout(), Some(T0));
    assert_eq!(
        get.poll_output(),
        Output::Event(Event::Done(Outcome::Failed(Failure::Request(
            RequestError::Host
        ))))
    );
    assert_eq!(get.poll_output(), Output::Timeout(Instant::MAX));
    let cfg = HttpConfig {
        http_proxy: "bad proxy:3128".into(),
        ..HttpConfig::default()
    };
    let mut get = HttpClient::new(&cfg, Request::get(url()), C, T0);
    assert_eq!(
        get.poll_output(),
        Output::Event(Event::Done(Outcome::Failed(Failure::Request(
            RequestError::Proxy(UrlError::Host)
        ))))
    );
    let r = Request::post(url(), "a\nb", Vec::new());
    let mut get = HttpClient::new(&HttpConfig::default(), r, C, T0);
    assert_eq!(
        get.poll_output(),
        Output::Event(Event::Done(Outcome::Failed(Failure::Request(
            RequestError::ContentType
        ))))
    );
}

#[test]
fn failures_display() {
    assert_eq!(
        Failure::from(FramingError::LengthAndTransferEncoding).to_string(),
        "bad response framing: both Content-Length and Transfer-Encoding"
    );
    assert_eq!(
        Failure::ProxyRefused { status: 407 }.to_string(),
        "proxy refused the tunnel: HTTP status 407"
    );
    assert_eq!(
        Failure::from(ChunkError::BadSize).to_string(),
        "chunked body: bad chunk size line"
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> HttpLimits {
        HttpLimits {
            max_body: 4096,
            max_head: 512,
            ..HttpLimits::default()
        }
    }

    /// Feeds `bytes` cut at `cuts`; returns the outcome and the largest number of outputs
    /// one input gave.
    fn feed(bytes: &[u8], cuts: &[usize], close: bool) -> (Option<Outcome>, usize) {
        let mut get = start(limits());
        let mut last = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut most = 0;
        let mut result = None;
        let mut drain = |get: &mut HttpClient| {
            let mut n = 0;
            loop {
                n += 1;
                match get.poll_output() {
                    Output::Event(Event::Done(o)) => result = Some(o),
                    Output::Timeout(t) => {
                        assert!(t == Instant::MAX || t == T0 + Duration::from_secs(10));
                        break;
                    }
                    Output::Event(Event::Progress { received, .. }) => {
                        assert!(received <= 4096);
                    }
                    Output::Transmit(t) => assert_eq!(t.action, Action::Close),
                }
            }
            most = most.max(n);
        };
        for c in cuts.into_iter().chain([bytes.len()]) {
            get.handle_input(Input::Receive(T0, C, &bytes[last..c]));
            drain(&mut get);
            last = c;
        }
        if close {
            get.handle_input(Input::Closed(T0, C));
            drain(&mut get);
        }
        (result, most)
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
            let (got, _) = feed(&resp, &cuts, true);
            prop_assert_eq!(got, Some(Outcome::Response(Response {
                status: 200, content_type: None, etag: None, retry_after: None, body,
            })));
        }

        /// Arbitrary bytes: never a panic, at most a few outputs per input, and the outcome
        /// does not depend on how the stream is split.
        #[test]
        fn split_invariance(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                            cuts in proptest::collection::vec(any::<usize>(), 0..10),
                            close: bool) {
            let (whole, most) = feed(&bytes, &[], close);
            prop_assert!(most <= 4);
            let (split, most) = feed(&bytes, &cuts, close);
            prop_assert!(most <= 4);
            prop_assert_eq!(split, whole);
        }

        /// A valid head followed by arbitrary bytes: same outcome whatever the split, the body
        /// never past the limit.
        #[test]
        fn head_then_noise(head in 0u8..4, noise in proptest::collection::vec(any::<u8>(), 0..5000),
                           cuts in proptest::collection::vec(any::<usize>(), 0..10), close: bool) {
            let mut resp = match head {
                0 => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                1 => b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n".to_vec(),
                2 => b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
                _ => b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
            };
            resp.extend_from_slice(&noise);
            let (whole, _) = feed(&resp, &[], close);
            if let Some(Outcome::Response(r)) = &whole {
                prop_assert!(r.body.len() <= 4096);
            }
            let (split, _) = feed(&resp, &cuts, close);
            prop_assert_eq!(split, whole);
        }
    }
}
