//! phone-http's HttpClient through the transcript harness: any route (direct or proxied, http
//! or https), then arbitrary response bytes split at arbitrary points, interleaved with
//! connects, closes, transport failures, other connections' bytes and time steps.
//!
//! Oracles: no panic; at most 8 outputs per input and the deadline never in the past (the
//! harness); at most one Done, nothing after it, Close only once, just before Done; a body
//! and every Progress within the body limit, Progress rising; the same inputs give the same
//! transcript (determinism); and the outcome does not depend on how the bytes were split
//! (but for bytes behind a proxy's CONNECT answer, see below).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use phone_http::{
    Action, ConnId, Event, Failure, HttpClient, HttpConfig, HttpLimits, Outcome, Request, Transmit,
    Url,
};
use phone_sansio::harness::{Logged, Transcript};
use phone_sansio::{Input, Instant};

const C: ConnId = 4;
const MAX_BODY: usize = 4096;

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    /// Response bytes, read in pieces cut at these offsets.
    Bytes {
        data: Vec<u8>,
        cuts: Vec<u16>,
    },
    /// A plausible head first (to reach the body states), then `data`.
    Head {
        kind: u8,
        data: Vec<u8>,
    },
    /// The proxy's answer to CONNECT.
    Tunnel {
        ok: bool,
    },
    Connected,
    Closed,
    Failed,
    /// Bytes on a connection that is not ours.
    Stray(Vec<u8>),
    Wait(u16),
    WaitToDeadline,
}

#[derive(Arbitrary, Debug)]
struct Case {
    route: u8,
    post: bool,
    ops: Vec<Op>,
}

fn config(route: u8) -> HttpConfig {
    let mut c = HttpConfig::default();
    let mut l = HttpLimits::default();
    l.max_head = 1024;
    l.max_headers = 16;
    l.max_body = MAX_BODY;
    l.max_trailers = 256;
    l.max_chunk_line = 64;
    c.limits = l;
    if route & 2 != 0 {
        c.http_proxy = "proxy.test:3128".into();
    }
    c
}

fn head(kind: u8) -> &'static [u8] {
    match kind % 6 {
        0 => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        1 => b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n",
        2 => b"HTTP/1.1 200 OK\r\n\r\n",
        3 => b"HTTP/1.1 100 Continue\r\n\r\n",
        4 => b"HTTP/1.0 200 OK\r\n",
        _ => b"HTTP/1.1 503 Busy\r\nRetry-After: 5\r\n",
    }
}

/// Plays the case; `split` false feeds each op's bytes in one read.
fn play(case: &Case, split: bool) -> Transcript<HttpClient> {
    let scheme = if case.route & 1 != 0 { "https" } else { "http" };
    let url = Url::parse(&format!("{scheme}://origin.test:8080/f?x=1")).expect("url");
    let request = if case.post {
        Request::post(url, "application/x-pki-message", vec![0x30, 0x00])
    } else {
        Request::get(url)
    };
    let start = Instant::from_secs(1);
    let client = HttpClient::new(&config(case.route), request, C, start);
    let mut t = Transcript::new(client, start);
    t.max_outputs_per_input = 8;
    for op in &case.ops {
        let now = t.now;
        match op {
            Op::Bytes { data, cuts } => {
                let mut cuts: Vec<usize> = if split {
                    cuts.iter()
                        .map(|&c| usize::from(c) % (data.len() + 1))
                        .collect()
                } else {
                    Vec::new()
                };
                cuts.sort_unstable();
                let mut last = 0;
                for c in cuts.into_iter().chain([data.len()]) {
                    t.input(Input::Receive(now, C, &data[last..c]));
                    last = c;
                }
            }
            Op::Head { kind, data } => {
                let mut bytes = head(*kind).to_vec();
                bytes.extend_from_slice(data);
                if split {
                    for piece in bytes.chunks(7) {
                        t.input(Input::Receive(now, C, piece));
                    }
                } else {
                    t.input(Input::Receive(now, C, &bytes));
                }
            }
            Op::Tunnel { ok } => {
                let answer: &[u8] = if *ok {
                    b"HTTP/1.1 200 Connection established\r\n\r\n"
                } else {
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"
                };
                t.input(Input::Receive(now, C, answer));
            }
            Op::Connected => {
                t.input(Input::Completed(now, C));
            }
            Op::Closed => {
                t.input(Input::Closed(now, C));
            }
            Op::Failed => {
                t.input(Input::TransportFailed(now, C));
            }
            Op::Stray(data) => {
                t.input(Input::Receive(now, C + 1, data));
            }
            Op::Wait(ms) => {
                t.input(Input::Timeout(
                    now + core::time::Duration::from_millis(u64::from(*ms)),
                ));
            }
            Op::WaitToDeadline => {
                if t.deadline != Instant::MAX {
                    let d = t.deadline;
                    t.input(Input::Timeout(d));
                }
            }
        }
    }
    t
}

fn done(t: &Transcript<HttpClient>) -> Option<Outcome> {
    t.events().into_iter().find_map(|e| match e {
        Event::Done(o) => Some(o.clone()),
        _ => None,
    })
}

fn check(t: &Transcript<HttpClient>) {
    let mut closed = false;
    let mut finished = false;
    let mut received = 0u64;
    for l in &t.log {
        assert!(!finished, "output after Done: {l:?}");
        match l {
            Logged::Transmit(_, Transmit { conn, action }) => {
                assert_eq!(*conn, C);
                assert!(!closed, "transmit after Close: {action:?}");
                if let Action::Close = action {
                    closed = true;
                }
            }
            Logged::Event(_, Event::Progress { received: r, .. }) => {
                assert!(*r as usize <= MAX_BODY);
                assert!(*r > received, "progress went backwards");
                received = *r;
            }
            Logged::Event(_, Event::Done(o)) => {
                finished = true;
                assert!(closed, "Done without Close");
                if let Outcome::Response(r) = o {
                    assert!(r.body.len() <= MAX_BODY);
                    assert!((100..=599).contains(&r.status));
                }
            }
            Logged::Event(_, e) => panic!("unknown event {e:?}"),
        }
    }
}

fuzz_target!(|case: Case| {
    let split = play(&case, true);
    check(&split);
    // Determinism: the same inputs give the same transcript.
    let again = play(&case, true);
    assert_eq!(split.log, again.log);
    // Split invariance: the outcome does not depend on how reads were cut. One exception is
    // real, not a split artefact: bytes read together with a proxy's 2xx CONNECT answer are
    // refused (ProxyTrailingData), while the same bytes read after the caller took the
    // StartTls are TLS plaintext from the origin.
    let whole = play(&case, false);
    check(&whole);
    if done(&whole) != Some(Outcome::Failed(Failure::ProxyTrailingData)) {
        assert_eq!(done(&split), done(&whole));
    }
});
