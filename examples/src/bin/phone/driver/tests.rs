//! The driver against real sockets on loopback: UDP, TCP with a non-blocking connect, TLS with
//! rustls' non-blocking API (TLSSRVRID both ways), a proxy CONNECT then StartTls, refused
//! connects, timers without spinning, many machines at once, signals, a paced flash.
//! The servers are plain blocking threads: they stand for the world, not for the phone.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::rc::Rc;

use phone_http::{Action, ConnId, Tls, Transmit};

use super::*;
use crate::net::Trust;
use crate::net::test_pki::{Pki, pki};

/// A toy phone-http machine: one request on one connection, optionally through a proxy
/// tunnel (plain CONNECT, then StartTls).
struct Fetch {
    conn: ConnId,
    out: VecDeque<Transmit>,
    events: VecDeque<FetchEvent>,
    /// Waiting for the proxy's answer; then StartTls with this and send the request.
    tunnel: Option<Tls>,
    request: Vec<u8>,
    body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FetchEvent {
    Connected,
    Done(Vec<u8>),
    Failed,
}

impl Fetch {
    fn new(conn: ConnId, port: u16, tls: Option<Tls>) -> Fetch {
        let request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec();
        let out = VecDeque::from([
            Transmit {
                conn,
                action: Action::Connect {
                    host: "127.0.0.1".into(),
                    port,
                    tls,
                },
            },
            // Sent before the connection is up: the driver queues it.
            Transmit {
                conn,
                action: Action::Send(request.clone()),
            },
        ]);
        Fetch {
            conn,
            out,
            events: VecDeque::new(),
            tunnel: None,
            request,
            body: Vec::new(),
        }
    }

    fn through_proxy(conn: ConnId, port: u16, tls: Tls) -> Fetch {
        let mut f = Fetch::new(conn, port, None);
        f.out[1] = Transmit {
            conn,
            action: Action::Send(
                b"CONNECT files.lab:443 HTTP/1.1\r\nHost: files.lab:443\r\n\r\n".to_vec(),
            ),
        };
        f.tunnel = Some(tls);
        f
    }
}

impl Machine for Fetch {
    type Peer = ConnId;
    type Command<'a> = ();
    type Transmit = Transmit;
    type Event = FetchEvent;

    fn handle_input(&mut self, input: Input<'_, ConnId, ()>) {
        match input {
            Input::Completed(_, c) if c == self.conn => {
                self.events.push_back(FetchEvent::Connected);
            }
            Input::Receive(_, c, b) if c == self.conn => {
                self.body.extend_from_slice(b);
                if self.tunnel.is_some() && self.body.ends_with(b"\r\n\r\n") {
                    assert!(self.body.starts_with(b"HTTP/1.1 200"));
                    let tls = self.tunnel.take().unwrap();
                    self.body.clear();
                    self.out.push_back(Transmit {
                        conn: self.conn,
                        action: Action::StartTls(tls),
                    });
                    self.out.push_back(Transmit {
                        conn: self.conn,
                        action: Action::Send(self.request.clone()),
                    });
                }
            }
            Input::Closed(_, c) if c == self.conn => {
                self.events
                    .push_back(FetchEvent::Done(std::mem::take(&mut self.body)));
            }
            Input::TransportFailed(_, c) if c == self.conn => {
                self.events.push_back(FetchEvent::Failed);
            }
            _ => {}
        }
    }

    fn poll_output(&mut self) -> Output<Transmit, FetchEvent> {
        if let Some(t) = self.out.pop_front() {
            return Output::Transmit(t);
        }
        if let Some(e) = self.events.pop_front() {
            return Output::Event(e);
        }
        Output::Timeout(Instant::MAX)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.out.is_empty() || !self.events.is_empty()).then_some(Instant::ZERO)
    }
}

type Log = Rc<RefCell<Vec<(ConnId, FetchEvent)>>>;

/// A task driving `m` with an `HttpAdapter`, logging its events, stopping at the end.
fn fetch_task(
    m: Fetch,
    tls: TlsPolicy,
    log: &Log,
) -> Driven<
    Fetch,
    HttpAdapter,
    impl FnMut(&mut Fetch, &mut HttpAdapter, &mut Reactor, FetchEvent, Instant) -> Flow,
> {
    let log = log.clone();
    Driven::new(
        m,
        HttpAdapter::new(tls, SocketOptions::default()),
        move |m: &mut Fetch, _: &mut HttpAdapter, _: &mut Reactor, e: FetchEvent, _| {
            let stop = !matches!(e, FetchEvent::Connected);
            log.borrow_mut().push((m.conn, e));
            if stop { Flow::Stop } else { Flow::Continue }
        },
    )
}

fn read_head(s: &mut impl Read) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap_or(0) == 0 {
            break;
        }
        head.push(b[0]);
    }
    head
}

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/// Serves `n` plain HTTP connections.
fn plain_server(n: usize) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        for _ in 0..n {
            let (mut s, _) = l.accept().unwrap();
            let head = read_head(&mut s);
            assert!(head.starts_with(b"GET / HTTP/1.1"), "{head:?}");
            s.write_all(RESPONSE).unwrap();
        }
    });
    (port, t)
}

/// Serves `n` HTTPS connections (after a proxy CONNECT when `proxy`).
fn tls_server(p: &Pki, n: usize, proxy: bool) -> (u16, std::thread::JoinHandle<()>) {
    let cfg = p.server_config();
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        for _ in 0..n {
            let (mut tcp, _) = l.accept().unwrap();
            if proxy {
                let head = read_head(&mut tcp);
                assert!(head.starts_with(b"CONNECT files.lab:443"), "{head:?}");
                tcp.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
            }
            let mut conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
            let mut s = rustls::Stream::new(&mut conn, &mut tcp);
            let head = read_head(&mut s);
            if head.is_empty() {
                continue; // the client refused our certificate
            }
            s.write_all(RESPONSE).unwrap();
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(s.sock);
        }
    });
    (port, t)
}

fn driver() -> Driver {
    Driver::new().unwrap()
}

#[test]
fn udp_datagrams_both_ways() {
    let mut io = Reactor::new(Clock::new()).unwrap();
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let a = UdpPort::open(&mut io, any, &SocketOptions::default()).unwrap();
    let b = UdpPort::open(&mut io, any, &SocketOptions::default()).unwrap();
    let b_addr = b.local_addr(&io).unwrap();
    a.send(&mut io, b_addr, b"one").unwrap();
    a.send(&mut io, b_addr, b"two").unwrap();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut got = Vec::new();
    let start = std::time::Instant::now();
    while got.len() < 2 && start.elapsed() < Duration::from_secs(2) {
        io.wait(Some(io.now() + Duration::from_millis(100)))
            .unwrap();
        while let Some(f) = io.next_fact(&mut buf) {
            assert!(a.fact(&f).is_none());
            let (from, bytes) = b.fact(&f).unwrap();
            assert_eq!(from, a.local_addr(&io).unwrap());
            got.push(bytes.to_vec());
        }
    }
    assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
}

#[test]
fn http_over_tcp_with_send_before_connected() {
    let (port, server) = plain_server(1);
    let log = Log::default();
    let mut task = fetch_task(
        Fetch::new(7, port, None),
        TlsPolicy::new(&Trust::new(), None).unwrap(),
        &log,
    );
    assert_eq!(driver().run(&mut [&mut task]).unwrap(), Ended::Finished);
    server.join().unwrap();
    assert_eq!(
        *log.borrow(),
        vec![
            (7, FetchEvent::Connected),
            (7, FetchEvent::Done(RESPONSE.to_vec()))
        ]
    );
}

#[test]
fn refused_connect_is_transport_failed() {
    let port = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let log = Log::default();
    let mut task = fetch_task(
        Fetch::new(1, port, None),
        TlsPolicy::new(&Trust::new(), None).unwrap(),
        &log,
    );
    driver().run(&mut [&mut task]).unwrap();
    assert_eq!(*log.borrow(), vec![(1, FetchEvent::Failed)]);
}

#[test]
fn https_checks_the_chain_and_tlssrvrid() {
    let p = pki("Lab CA", &["files.lab"]);
    let trust = Trust::new().with_pems([p.ca_pem.as_bytes()]);
    let policy = TlsPolicy::new(&trust, None).unwrap();
    let (port, server) = tls_server(&p, 3, false);
    let log = Log::default();
    let tls = |name: &str, check: bool| {
        Some(Tls {
            server_name: name.into(),
            check_identity: check,
        })
    };
    // The right name; another name with TLSSRVRID=0; another name with TLSSRVRID=1.
    let mut ok = fetch_task(
        Fetch::new(1, port, tls("files.lab", true)),
        policy.clone(),
        &log,
    );
    let mut lax = fetch_task(
        Fetch::new(2, port, tls("other.lab", false)),
        policy.clone(),
        &log,
    );
    let mut strict = fetch_task(Fetch::new(3, port, tls("other.lab", true)), policy, &log);
    let mut d = driver();
    d.run(&mut [&mut ok]).unwrap();
    d.run(&mut [&mut lax]).unwrap();
    d.run(&mut [&mut strict]).unwrap();
    server.join().unwrap();
    assert_eq!(
        *log.borrow(),
        vec![
            (1, FetchEvent::Connected),
            (1, FetchEvent::Done(RESPONSE.to_vec())),
            (2, FetchEvent::Connected),
            (2, FetchEvent::Done(RESPONSE.to_vec())),
            (3, FetchEvent::Failed),
        ]
    );
}

#[test]
fn proxy_connect_then_start_tls() {
    let p = pki("Lab CA", &["files.lab"]);
    let policy = TlsPolicy::new(&Trust::new().with_pems([p.ca_pem.as_bytes()]), None).unwrap();
    let (port, server) = tls_server(&p, 1, true);
    let log = Log::default();
    let tls = Tls {
        server_name: "files.lab".into(),
        check_identity: true,
    };
    let mut task = fetch_task(Fetch::through_proxy(4, port, tls), policy, &log);
    driver().run(&mut [&mut task]).unwrap();
    server.join().unwrap();
    assert_eq!(
        *log.borrow(),
        vec![
            (4, FetchEvent::Connected),
            (4, FetchEvent::Done(RESPONSE.to_vec()))
        ]
    );
}

/// A machine with a deadline every `period`, finished after `n` ticks.
struct Ticker {
    next: Instant,
    period: Duration,
    ticks: u32,
    n: u32,
    /// Timeouts fed (early ones included).
    fed: u32,
}

impl Machine for Ticker {
    type Peer = ();
    type Command<'a> = ();
    type Transmit = ();
    type Event = u32;

    fn handle_input(&mut self, input: Input<'_, (), ()>) {
        if let Input::Timeout(now) = input {
            self.fed += 1;
            if now >= self.next {
                self.ticks += 1;
                self.next = now + self.period;
            }
        }
    }

    fn poll_output(&mut self) -> Output<(), u32> {
        if self.ticks >= self.n {
            return Output::Event(self.ticks);
        }
        Output::Timeout(self.next)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next)
    }
}

/// No transport.
struct Nothing;

impl<M: Machine<Transmit = ()>> Adapter<M> for Nothing {
    fn transmit(&mut self, _: &mut Reactor, _: &mut M, (): (), _: Instant) {}
    fn fact(&mut self, _: &mut Reactor, _: &mut M, _: &Fact<'_>, _: Instant) -> bool {
        false
    }
}

fn ticker(period_ms: u64, n: u32) -> Ticker {
    Ticker {
        next: Instant::ZERO + Duration::from_millis(period_ms),
        period: Duration::from_millis(period_ms),
        ticks: 0,
        n,
        fed: 0,
    }
}

fn ticker_task(
    t: Ticker,
) -> Driven<
    Ticker,
    Nothing,
    impl FnMut(&mut Ticker, &mut Nothing, &mut Reactor, u32, Instant) -> Flow,
> {
    Driven::new(
        t,
        Nothing,
        |_: &mut Ticker, _: &mut Nothing, _: &mut Reactor, _, _| Flow::Stop,
    )
}

#[test]
fn timers_wake_on_time_without_spinning() {
    let mut d = driver();
    let mut t = ticker_task(ticker(20, 5));
    let start = std::time::Instant::now();
    d.run(&mut [&mut t]).unwrap();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_millis(400), "{took:?}");
    // One timeout per deadline: the wait rounds up, so no early wake-ups spin the loop.
    assert_eq!(t.machine.ticks, 5);
    assert!(t.machine.fed <= 6, "fed {} timeouts", t.machine.fed);
}

#[test]
fn many_machines_at_once() {
    const N: u32 = 40;
    let (port, server) = plain_server(N as usize);
    let log = Log::default();
    let policy = TlsPolicy::new(&Trust::new(), None).unwrap();
    let mut fetches: Vec<_> = (0..N)
        .map(|i| fetch_task(Fetch::new(i, port, None), policy.clone(), &log))
        .collect();
    let mut slow = ticker_task(ticker(10, 10));
    let mut fast = ticker_task(ticker(3, 20));
    let mut tasks: Vec<&mut dyn Task> = fetches.iter_mut().map(|t| t as &mut dyn Task).collect();
    tasks.push(&mut slow);
    tasks.push(&mut fast);
    let start = std::time::Instant::now();
    assert_eq!(driver().run(&mut tasks).unwrap(), Ended::Finished);
    drop(tasks);
    server.join().unwrap();
    let log = log.borrow();
    for i in 0..N {
        assert!(
            log.contains(&(i, FetchEvent::Done(RESPONSE.to_vec()))),
            "conn {i}: {log:?}"
        );
    }
    assert_eq!(slow.machine.ticks, 10);
    assert_eq!(fast.machine.ticks, 20);
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_signal_no_task_takes_ends_the_loop() {
    let mut d = driver();
    d.io.catch_signals(&[signal_hook::consts::SIGUSR2]).unwrap();
    // A ticker that would run for a minute.
    let mut t = ticker_task(ticker(60_000, 1));
    let t0 = std::time::Instant::now();
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        signal_hook::low_level::raise(signal_hook::consts::SIGUSR2).unwrap();
    });
    let ended = d.run(&mut [&mut t]).unwrap();
    assert_eq!(ended, Ended::Signal(signal_hook::consts::SIGUSR2));
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_paced_flash_completes_by_timer() {
    use phone_boot::flash::{FlashOp, Slot};

    let dir = tempfile::tempdir().unwrap();
    let state = crate::state_dir::StateDir::open(dir.path()).unwrap();
    let (record, _) = state
        .power_on(phone_boot::boot::record::Record::default())
        .unwrap();
    let mut io = Reactor::new(Clock::new()).unwrap();
    let mut port = FlashPort::new(state.flash(Duration::from_millis(30)));
    let erase = FlashOp::Erase {
        slot: Slot::B,
        length: 4,
    };
    assert!(port.apply(&mut io, &erase, &record).unwrap().result.is_ok());
    let write = FlashOp::Write {
        slot: Slot::B,
        offset: 0,
        data: b"data".to_vec(),
    };
    let t0 = std::time::Instant::now();
    assert!(port.apply(&mut io, &write, &record).is_none(), "paced");
    let mut buf = vec![0u8; 64];
    let done = loop {
        io.wait(None).unwrap();
        if let Some(f) = io.next_fact(&mut buf)
            && let Some(done) = port.fact(&f)
        {
            break done;
        }
    };
    assert!(done.result.is_ok());
    assert!(t0.elapsed() >= Duration::from_millis(30));
}

/// phone-http's real `HttpClient` on the driver through `HttpAdapter`: its outcome.
fn http_get(
    url: &str,
    configure: impl FnOnce(&mut phone_http::HttpConfig),
    policy: TlsPolicy,
) -> phone_http::Outcome {
    let mut config = phone_http::HttpConfig::default();
    configure(&mut config);
    let mut d = driver();
    let request = phone_http::Request::get(phone_http::Url::parse(url).unwrap());
    let client = phone_http::HttpClient::new(&config, request, 9, d.io.now());
    let outcome = Rc::new(RefCell::new(None));
    let out = outcome.clone();
    let mut task = Driven::new(
        client,
        HttpAdapter::new(policy, SocketOptions::default()),
        move |_: &mut phone_http::HttpClient,
              _: &mut HttpAdapter,
              _: &mut Reactor,
              e: phone_http::Event,
              _| match e {
            phone_http::Event::Done(o) => {
                *out.borrow_mut() = Some(o);
                Flow::Stop
            }
            _ => Flow::Continue,
        },
    );
    assert_eq!(d.run(&mut [&mut task]).unwrap(), Ended::Finished);
    outcome.borrow_mut().take().unwrap()
}

fn body_of(o: &phone_http::Outcome) -> &[u8] {
    match o {
        phone_http::Outcome::Response(r) => &r.body,
        phone_http::Outcome::Failed(f) => panic!("failed: {f:?}"),
    }
}

#[test]
fn phone_http_client_direct_tlssrvrid_and_proxy() {
    let none = || TlsPolicy::new(&Trust::new(), None).unwrap();
    // http, direct.
    let (port, server) = plain_server(1);
    let o = http_get(&format!("http://127.0.0.1:{port}/"), |_| {}, none());
    server.join().unwrap();
    assert_eq!(body_of(&o), b"hello");

    // https to an address the certificate does not name: TLSSRVRID=0 accepts, =1 refuses.
    let p = pki("Lab CA", &["files.lab"]);
    let policy = TlsPolicy::new(&Trust::new().with_pems([p.ca_pem.as_bytes()]), None).unwrap();
    let (port, server) = tls_server(&p, 2, false);
    let url = format!("https://127.0.0.1:{port}/");
    let o = http_get(&url, |c| c.check_identity = false, policy.clone());
    assert_eq!(body_of(&o), b"hello");
    let o = http_get(&url, |c| c.check_identity = true, policy.clone());
    assert!(
        matches!(o, phone_http::Outcome::Failed(_)),
        "TLSSRVRID=1 must refuse: {o:?}"
    );
    server.join().unwrap();

    // https through HTTPPROXY: CONNECT files.lab:443 to the proxy, then TLS inside the tunnel
    // (files.lab itself has no address here: only the proxy is connected to).
    let (port, server) = tls_server(&p, 1, true);
    let o = http_get(
        "https://files.lab/",
        |c| c.http_proxy = format!("127.0.0.1:{port}"),
        policy,
    );
    server.join().unwrap();
    assert_eq!(body_of(&o), b"hello");
}

#[test]
fn sip_ports_udp_and_tcp_by_controller() {
    let mut io = Reactor::new(Clock::new()).unwrap();
    let none = TlsPolicy::new(&Trust::new(), None).unwrap();
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut sip = SipPorts::open(&mut io, any, SocketOptions::default(), none).unwrap();
    // Controller 0 over UDP: a registrar that answers each datagram.
    let registrar = std::net::UdpSocket::bind(any).unwrap();
    let reg_port = registrar.local_addr().unwrap().port();
    // Controller 1 over TCP: a registrar that answers, then closes.
    let l = TcpListener::bind(any).unwrap();
    let tcp_port = l.local_addr().unwrap().port();
    let tcp_server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with(b"REGISTER"));
        s.write_all(b"SIP/2.0 200 OK\r\n\r\n").unwrap();
    });
    let udp_server = std::thread::spawn(move || {
        let mut b = [0u8; 100];
        let (n, from) = registrar.recv_from(&mut b).unwrap();
        registrar.send_to(&b[..n], from).unwrap();
    });
    assert!(
        sip.send(
            &mut io,
            0,
            "127.0.0.1",
            reg_port,
            SipTransport::Udp,
            b"REGISTER u\r\n\r\n"
        )
        .is_none()
    );
    assert!(
        sip.send(
            &mut io,
            1,
            "127.0.0.1",
            tcp_port,
            SipTransport::Tcp,
            b"REGISTER t\r\n\r\n"
        )
        .is_none()
    );
    // A controller whose name has no address fails at once.
    assert_eq!(
        sip.send(&mut io, 2, "no-such.invalid", 5060, SipTransport::Tcp, b"x"),
        Some(PeerFact::TransportFailed(2))
    );
    let mut buf = vec![0u8; READ_BUFFER];
    let mut seen = Vec::new();
    let start = std::time::Instant::now();
    while seen.len() < 4 && start.elapsed() < Duration::from_secs(3) {
        io.wait(Some(io.now() + Duration::from_millis(100)))
            .unwrap();
        while let Some(f) = io.next_fact(&mut buf) {
            if let Some(Some(pf)) = sip.fact(&f) {
                seen.push(match pf {
                    PeerFact::Receive(c, b) => format!("{c} {}", String::from_utf8_lossy(b)),
                    other => format!("{other:?}"),
                });
            }
        }
    }
    udp_server.join().unwrap();
    tcp_server.join().unwrap();
    assert!(
        seen.contains(&"0 REGISTER u\r\n\r\n".to_string()),
        "{seen:?}"
    );
    assert!(seen.contains(&"Completed(1)".to_string()), "{seen:?}");
    assert!(
        seen.contains(&"1 SIP/2.0 200 OK\r\n\r\n".to_string()),
        "{seen:?}"
    );
    assert!(seen.contains(&"Closed(1)".to_string()), "{seen:?}");
}
