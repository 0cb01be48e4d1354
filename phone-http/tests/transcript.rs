//! Transcript tests: the client against a fake server (and a fake proxy) in virtual time,
//! through `phone_sansio::harness::Transcript` with its oracles (outputs per input bounded,
//! deadlines never in the past, `poll_timeout` agreeing with `poll_output`).

#![allow(clippy::unwrap_used, missing_docs)]

use core::time::Duration;

use phone_http::{
    Action, ConnId, Event, Failure, HttpClient, HttpConfig, Outcome, Request, Response, Tls,
    Transmit, Url,
};
use phone_sansio::harness::{Logged, Peer, Reply, Transcript};
use phone_sansio::{Input, Instant, Machine, Output};

const T0: Instant = Instant::from_secs(50);
const C: ConnId = 9;
const MS: Duration = Duration::from_millis(1);

/// Holds a machine's outputs until the first timer fires, so that `Transcript::run` hands the
/// very first transmits to the peer too (`Transcript::new` drains before a peer is attached).
struct Gate<M> {
    inner: M,
    start: Instant,
    open: bool,
}

impl<M: Machine> Machine for Gate<M> {
    type Peer = M::Peer;
    type Command<'a> = M::Command<'a>;
    type Transmit = M::Transmit;
    type Event = M::Event;
    fn handle_input(&mut self, input: Input<'_, M::Peer, M::Command<'_>>) {
        self.open = true;
        self.inner.handle_input(input);
    }
    fn poll_output(&mut self) -> Output<M::Transmit, M::Event> {
        if self.open {
            self.inner.poll_output()
        } else {
            Output::Timeout(self.start)
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        if self.open {
            self.inner.poll_timeout()
        } else {
            Some(self.start)
        }
    }
}

/// A fake origin server, proxy in front or not: it accepts the connection after 2 ms, answers
/// a `CONNECT` with `tunnel`, and answers the request (once its body is in) with `response`,
/// cut into `pieces` reads 1 ms apart, then closes.
struct Server {
    tunnel: &'static [u8],
    response: Vec<u8>,
    pieces: usize,
    /// Bytes of the request received so far (after the tunnel is up, inside it).
    request: Vec<u8>,
    /// Every request seen, whole.
    requests: Vec<Vec<u8>>,
    silent: bool,
}

impl Server {
    fn new(response: &[u8]) -> Self {
        Server {
            tunnel: b"HTTP/1.1 200 Connection established\r\n\r\n",
            response: response.to_vec(),
            pieces: 1,
            request: Vec::new(),
            requests: Vec::new(),
            silent: false,
        }
    }

    /// The request in `self.request` once it is complete (head and Content-Length body).
    fn complete_request(&mut self) -> Option<Vec<u8>> {
        let end = self.request.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = std::str::from_utf8(&self.request[..end]).unwrap();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |v| v.parse::<usize>().unwrap());
        if self.request.len() < end + len {
            return None;
        }
        Some(self.request.drain(..end + len).collect())
    }
}

impl Peer<Gate<HttpClient>> for Server {
    fn on_transmit(&mut self, _: Instant, t: &Transmit) -> Vec<Reply<ConnId>> {
        let peer = t.conn;
        match &t.action {
            Action::Connect { .. } => vec![Reply::Completed {
                after: 2 * MS,
                peer,
            }],
            Action::Send(bytes) => {
                self.request.extend_from_slice(bytes);
                let Some(req) = self.complete_request() else {
                    return Vec::new();
                };
                self.requests.push(req.clone());
                if self.silent {
                    return Vec::new();
                }
                if req.starts_with(b"CONNECT ") {
                    return vec![Reply::Receive {
                        after: 3 * MS,
                        peer,
                        bytes: self.tunnel.to_vec(),
                    }];
                }
                let size = self.response.len().div_ceil(self.pieces).max(1);
                let mut replies: Vec<Reply<ConnId>> = self
                    .response
                    .chunks(size)
                    .enumerate()
                    .map(|(i, c)| Reply::Receive {
                        after: (5 + i as u32) * MS,
                        peer,
                        bytes: c.to_vec(),
                    })
                    .collect();
                replies.push(Reply::Closed {
                    after: (6 + self.pieces as u32) * MS,
                    peer,
                });
                replies
            }
            Action::StartTls(_) | Action::Close => Vec::new(),
        }
    }
}

fn transcript(config: &HttpConfig, request: Request) -> Transcript<Gate<HttpClient>> {
    let gate = Gate {
        inner: HttpClient::new(config, request, C, T0),
        start: T0,
        open: false,
    };
    Transcript::new(gate, T0)
}

fn actions(t: &Transcript<Gate<HttpClient>>) -> Vec<Action> {
    t.transmits()
        .into_iter()
        .map(|tx| {
            assert_eq!(tx.conn, C);
            tx.action.clone()
        })
        .collect()
}

fn done(t: &Transcript<Gate<HttpClient>>) -> (Instant, Outcome) {
    let mut found = None;
    for l in &t.log {
        if let Logged::Event(at, Event::Done(o)) = l {
            assert!(found.is_none(), "two Done events");
            found = Some((*at, o.clone()));
        }
    }
    found.expect("no Done event")
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn send(bytes: &[u8]) -> Action {
    Action::Send(bytes.to_vec())
}

#[test]
fn direct_get() {
    let mut t = transcript(
        &HttpConfig::default(),
        Request::get(url("http://192.0.2.10/96x1Supgrade.txt")),
    );
    let mut server = Server::new(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nSET A 1\r\n");
    server.pieces = 3;
    t.run(&mut server, T0 + Duration::from_secs(60));
    assert_eq!(
        actions(&t),
        [
            Action::Connect {
                host: "192.0.2.10".into(),
                port: 80,
                tls: None
            },
            send(b"GET /96x1Supgrade.txt HTTP/1.1\r\nHost: 192.0.2.10\r\nUser-Agent: phone-boot\r\nAccept: */*\r\nConnection: close\r\n\r\n"),
            Action::Close,
        ]
    );
    let (at, outcome) = done(&t);
    // Connected at +2 ms, the three pieces at +5, +6, +7 ms: complete on the last one.
    assert_eq!(at, T0 + 7 * MS);
    assert_eq!(
        outcome,
        Outcome::Response(Response {
            status: 200,
            content_type: None,
            etag: None,
            retry_after: None,
            body: b"SET A 1\r\n".to_vec(),
        })
    );
    assert_eq!(t.deadline, Instant::MAX);
}

#[test]
fn direct_https_carries_the_identity_check() {
    let mut config = HttpConfig::default();
    config.check_identity = false;
    let mut t = transcript(&config, Request::get(url("https://files.example:8443/a")));
    let mut server = Server::new(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!");
    t.run(&mut server, T0 + Duration::from_secs(60));
    assert_eq!(
        actions(&t)[0],
        Action::Connect {
            host: "files.example".into(),
            port: 8443,
            tls: Some(Tls {
                server_name: "files.example".into(),
                check_identity: false
            })
        }
    );
    assert!(server.requests[0].starts_with(b"GET /a HTTP/1.1\r\nHost: files.example:8443\r\n"));
    match done(&t).1 {
        Outcome::Response(r) => assert_eq!((r.status, r.body.len()), (404, 0)),
        other => panic!("{other:?}"),
    }
}

fn proxied() -> HttpConfig {
    // Outside the crate, a #[non_exhaustive] config is set field by field.
    let mut config = HttpConfig::default();
    config.http_proxy = "proxy.corp:3128".into();
    config.exception_domains = "lan.example".into();
    config
}

#[test]
fn http_through_the_proxy_is_absolute_form() {
    let req = Request::post(
        url("http://ca.example:8080/scep?operation=PKIOperation"),
        "application/x-pki-message",
        b"\x30\x03\x02\x01\x00".to_vec(),
    );
    let mut t = transcript(&proxied(), req);
    let mut server = Server::new(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-pki-message\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    server.pieces = 5;
    t.run(&mut server, T0 + Duration::from_secs(60));
    assert_eq!(
        actions(&t),
        [
            Action::Connect {
                host: "proxy.corp".into(),
                port: 3128,
                tls: None
            },
            send(b"POST http://ca.example:8080/scep?operation=PKIOperation HTTP/1.1\r\nHost: ca.example:8080\r\nUser-Agent: phone-boot\r\nAccept: */*\r\nConnection: close\r\nContent-Type: application/x-pki-message\r\nContent-Length: 5\r\n\r\n\x30\x03\x02\x01\x00"),
            Action::Close,
        ]
    );
    match done(&t).1 {
        Outcome::Response(r) => {
            assert_eq!(r.body, b"abc");
            assert_eq!(r.content_type.as_deref(), Some("application/x-pki-message"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn https_through_the_proxy_tunnels_with_connect() {
    let mut t = transcript(
        &proxied(),
        Request::get(url("https://ca.example/scep?operation=GetCACaps")),
    );
    let mut server = Server::new(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nPOST");
    t.run(&mut server, T0 + Duration::from_secs(60));
    assert_eq!(
        actions(&t),
        [
            Action::Connect {
                host: "proxy.corp".into(),
                port: 3128,
                tls: None
            },
            send(b"CONNECT ca.example:443 HTTP/1.1\r\nHost: ca.example:443\r\nUser-Agent: phone-boot\r\n\r\n"),
            Action::StartTls(Tls {
                server_name: "ca.example".into(),
                check_identity: true
            }),
            send(b"GET /scep?operation=GetCACaps HTTP/1.1\r\nHost: ca.example\r\nUser-Agent: phone-boot\r\nAccept: */*\r\nConnection: close\r\n\r\n"),
            Action::Close,
        ]
    );
    // The StartTls and the request go out when the tunnel answer arrives (+3 ms after the
    // CONNECT was taken at T0).
    let starttls_at = t
        .log
        .iter()
        .find_map(|l| match l {
            Logged::Transmit(at, tx) if matches!(tx.action, Action::StartTls(_)) => Some(*at),
            _ => None,
        })
        .unwrap();
    assert_eq!(starttls_at, T0 + 3 * MS);
    match done(&t).1 {
        Outcome::Response(r) => assert_eq!(r.body, b"POST"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn proxy_refusing_the_tunnel_is_a_typed_failure() {
    let mut t = transcript(&proxied(), Request::get(url("https://ca.example/x")));
    let mut server = Server::new(b"unused");
    server.tunnel = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
    t.run(&mut server, T0 + Duration::from_secs(60));
    assert_eq!(
        actions(&t)[2..],
        [Action::Close],
        "no StartTls, no request after a refusal"
    );
    assert_eq!(
        done(&t).1,
        Outcome::Failed(Failure::ProxyRefused { status: 407 })
    );
    // Bytes after a 2xx CONNECT answer (before our TLS hello) are refused too.
    let mut t = transcript(&proxied(), Request::get(url("https://ca.example/x")));
    let mut server = Server::new(b"unused");
    server.tunnel = b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
    t.run(&mut server, T0 + Duration::from_secs(60));
    assert_eq!(done(&t).1, Outcome::Failed(Failure::ProxyTrailingData));
}

#[test]
fn exception_domains_go_direct() {
    let mut t = transcript(&proxied(), Request::get(url("https://ca.lan.example/x")));
    let mut server = Server::new(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    t.run(&mut server, T0 + Duration::from_secs(60));
    assert_eq!(
        actions(&t)[0],
        Action::Connect {
            host: "ca.lan.example".into(),
            port: 443,
            tls: Some(Tls {
                server_name: "ca.lan.example".into(),
                check_identity: true
            })
        }
    );
    assert!(matches!(done(&t).1, Outcome::Response(_)));
}

#[test]
fn a_silent_server_times_out_at_the_deadline() {
    let mut t = transcript(&HttpConfig::default(), Request::get(url("http://h/x")));
    let mut server = Server::new(b"");
    server.silent = true;
    t.run(&mut server, T0 + Duration::from_secs(60));
    // Connect, timer armed at T0 when it was taken: one deadline for connect and exchange.
    assert_eq!(
        done(&t),
        (
            T0 + Duration::from_secs(10),
            Outcome::Failed(Failure::Timeout)
        )
    );
    assert_eq!(actions(&t).last(), Some(&Action::Close));
    assert_eq!(t.machine.inner.poll_timeout(), None);
}

#[test]
fn progress_then_done() {
    let mut body = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n".to_vec();
    body.extend(std::iter::repeat_n(b'x', 3000));
    let mut server = Server::new(&body);
    server.pieces = 12;
    let mut t = transcript(
        &HttpConfig::default(),
        Request::get(url("http://h/image.bin")),
    );
    t.run(&mut server, T0 + Duration::from_secs(60));
    let events: Vec<&Event> = t.events();
    let progress: Vec<(u64, Option<u64>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Progress { received, expected } => Some((*received, *expected)),
            _ => None,
        })
        .collect();
    // One event per whole KiB crossed: 1 KiB and 2 KiB, with the announced length.
    assert_eq!(progress.len(), 2, "{progress:?}");
    assert!(progress.iter().all(|&(r, e)| r >= 1024 && e == Some(3000)));
    assert!(progress[0].0 < 2048 && progress[1].0 >= 2048);
    assert!(
        matches!(events.last(), Some(Event::Done(Outcome::Response(r))) if r.body.len() == 3000)
    );
}

#[test]
fn transport_failure_mid_body_is_a_reset() {
    struct Breaks;
    impl Peer<Gate<HttpClient>> for Breaks {
        fn on_transmit(&mut self, _: Instant, t: &Transmit) -> Vec<Reply<ConnId>> {
            match t.action {
                Action::Send(_) => vec![
                    Reply::Receive {
                        after: 4 * MS,
                        peer: t.conn,
                        bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec(),
                    },
                    Reply::Failed {
                        after: 5 * MS,
                        peer: t.conn,
                    },
                ],
                _ => Vec::new(),
            }
        }
    }
    let mut t = transcript(&HttpConfig::default(), Request::get(url("http://h/x")));
    t.run(&mut Breaks, T0 + Duration::from_secs(60));
    assert_eq!(done(&t), (T0 + 5 * MS, Outcome::Failed(Failure::Reset)));
}
