//! Against a real server: the resolver, driven over a std UDP socket, asks a dnsmasq started on
//! 127.0.0.1 at a free high port (no root needed, no other DNS touched). The first configured
//! server (127.0.0.2, where nothing listens) stays silent, so failover is exercised too.
//! Skipped (with a note) when dnsmasq is not installed.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use phone_dns::{Config, Error, Event, Message, Name, Resolver, ServerError};
use phone_sansio::{Input, Instant, Machine, Output};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const DNSMASQ: Ipv4Addr = Ipv4Addr::LOCALHOST;
const SILENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dnsmasq_binary() -> Option<&'static str> {
    ["dnsmasq", "/usr/sbin/dnsmasq"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// dnsmasq answering lab.test names with 10.1.2.3, sip.lab.test with two addresses, an alias,
/// and NXDOMAIN for nx.test; everything else refused (no upstream).
fn start(bin: &str, port: u16) -> Server {
    let child = Command::new(bin)
        .args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--pid-file=",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
            "--address=/lab.test/10.1.2.3",
            "--host-record=sip.lab.test,10.1.2.4",
            "--host-record=sip.lab.test,10.1.2.5",
            "--cname=alias.lab.test,sip.lab.test",
            "--address=/nx.test/",
            "--local-ttl=120",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    // Wait until it answers.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let q = Message::query(1, Name::from_text("probe.lab.test").unwrap())
        .encode()
        .unwrap();
    for _ in 0..50 {
        s.send_to(&q, (DNSMASQ, port)).unwrap();
        let mut buf = [0u8; 512];
        if s.recv_from(&mut buf).is_ok() {
            return server;
        }
    }
    panic!("dnsmasq did not answer on port {port}");
}

/// The driver loop of the reference phone, in small: one UDP socket, the machine's deadlines,
/// datagrams from port `port` of a configured server fed back. Returns the events.
fn drive(dns: &mut Resolver<ChaCha8Rng>, port: u16, names: &[&str]) -> Vec<Event> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = std::time::Instant::now();
    let now = || Instant::ZERO + start.elapsed();
    for name in names {
        dns.handle_input(Input::Command(now(), phone_dns::Command::Resolve { name }));
    }
    let mut events = Vec::new();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "stuck: {events:?}"
        );
        let deadline = loop {
            match dns.poll_output() {
                Output::Transmit(t) => {
                    if sock.send_to(&t.payload, (t.server, port)).is_err() {
                        dns.handle_input(Input::TransportFailed(now(), t.server));
                    }
                }
                Output::Event(e) => events.push(e),
                Output::Timeout(t) => break t,
            }
        };
        if dns.in_flight() == 0 {
            break;
        }
        let wait = deadline
            .saturating_duration_since(now())
            .max(Duration::from_millis(1));
        sock.set_read_timeout(Some(wait.min(Duration::from_secs(1))))
            .unwrap();
        let mut buf = [0u8; 1500];
        match sock.recv_from(&mut buf) {
            Ok((n, SocketAddr::V4(from))) if from.port() == port => {
                dns.handle_input(Input::Receive(now(), *from.ip(), &buf[..n]));
            }
            _ => dns.handle_input(Input::Timeout(now())),
        }
    }
    events
}

#[test]
fn resolves_against_dnsmasq() {
    let Some(bin) = dnsmasq_binary() else {
        eprintln!("dnsmasq not installed: skipped");
        return;
    };
    let port = free_port();
    let _server = start(bin, port);

    let mut cfg = Config::new(&[DNSMASQ], "lab.test");
    cfg.retry_interval = Duration::from_millis(300);
    let mut dns = Resolver::new(cfg, ChaCha8Rng::seed_from_u64(1), Instant::ZERO);
    let ev = drive(
        &mut dns,
        port,
        &[
            "files",
            "sip",
            "alias.lab.test",
            "nothing.nx.test",
            "other.example",
        ],
    );
    let find = |n: &str| {
        ev.iter().find(|e| matches!(e, Event::Resolved { name, .. } | Event::Failed { name, .. } if name == n)).cloned()
    };
    assert_eq!(
        find("files"),
        Some(Event::Resolved {
            name: "files".into(),
            addrs: vec![Ipv4Addr::new(10, 1, 2, 3)],
            ttl: Duration::from_secs(120),
        })
    );
    let Some(Event::Resolved { addrs, .. }) = find("sip") else {
        panic!("{ev:?}")
    };
    let mut sorted = addrs.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [Ipv4Addr::new(10, 1, 2, 4), Ipv4Addr::new(10, 1, 2, 5)]
    );
    let Some(Event::Resolved {
        addrs: via_alias, ..
    }) = find("alias.lab.test")
    else {
        panic!("{ev:?}")
    };
    assert_eq!(via_alias.len(), 2);
    assert_eq!(
        find("nothing.nx.test"),
        Some(Event::Failed {
            name: "nothing.nx.test".into(),
            error: Error::NotFound { server: DNSMASQ }
        })
    );
    // No upstream: dnsmasq refuses; with one server that fails the name.
    assert!(
        matches!(
            find("other.example"),
            Some(Event::Failed {
                error: Error::AllServersFailed(ServerError::Rcode(_)),
                ..
            })
        ),
        "{ev:?}"
    );
    assert_eq!(dns.stats().dropped, 0);
}

#[test]
fn a_silent_first_server_is_passed_over() {
    let Some(bin) = dnsmasq_binary() else {
        eprintln!("dnsmasq not installed: skipped");
        return;
    };
    let port = free_port();
    let _server = start(bin, port);
    let mut cfg = Config::new(&[SILENT, DNSMASQ], "lab.test");
    cfg.retry_interval = Duration::from_millis(200);
    let mut dns = Resolver::new(cfg, ChaCha8Rng::seed_from_u64(2), Instant::ZERO);
    let ev = drive(&mut dns, port, &["http"]);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(
        matches!(ev[0], Event::ServerFailed { server: SILENT, .. }),
        "{ev:?}"
    );
    assert!(
        matches!(&ev[1], Event::Resolved { addrs, .. } if addrs == &[Ipv4Addr::new(10, 1, 2, 3)]),
        "{ev:?}"
    );
    assert_eq!(dns.stats().sent, 3);
}
