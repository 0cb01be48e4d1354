//! phone-dhcp client through the shared transcript harness: arbitrary replies (built with the
//! client's current xid so they reach deep states, or raw), ARP packets from other hosts and
//! routers (conflicts, probes, raw bytes), failed sends on either link, releases, VLAN changes,
//! time jumps, a stored lease, any probe budget and REUSETIME. Oracles: no panic, at most 64
//! outputs per input, the deadline never in the past and equal to `poll_timeout` (the
//! harness), every datagram decodes, every ARP packet is the phone's, T1 <= T2 <= expiry, and
//! the same seed and inputs give the same transcript.
#![no_main]

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use phone_dhcp::Message;
use phone_dhcp::arp::ArpMessage;
use phone_dhcp::client::{Client, Command, Config, Event, L2q, Link, Transmit};
use phone_dhcp::lease::PreviousLease;
use phone_dhcp::message::BOOTREPLY;
use phone_dhcp::options::{DhcpOption, Ipv4List, MessageType};
use phone_dhcp::rand_core::TryRng;
use phone_sansio::harness::{Logged, Transcript};
use phone_sansio::{Input, Instant};

const MAC: [u8; 6] = [0, 4, 0x0d, 1, 2, 3];

/// A deterministic RNG from the fuzz input (splitmix64).
struct Mix(u64);

impl TryRng for Mix {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}

/// An address: the one the phone probes or uses (so conflicts and renewals are reached),
/// mostly in 10.0.0.0/24, sometimes one a server must not hand out.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr {
    Current,
    Lan(u8),
    Raw([u8; 4]),
}

impl Addr {
    fn ip(self, log: &Log) -> Ipv4Addr {
        match self {
            Addr::Current => current(log),
            Addr::Lan(b) => Ipv4Addr::new(10, 0, 0, b),
            Addr::Raw(o) => Ipv4Addr::from(o),
        }
    }
}

/// The address of the phone's last ARP packet (probe, announcement or the sender of a request).
fn current(log: &Log) -> Ipv4Addr {
    log.iter()
        .rev()
        .find_map(|l| match l {
            Logged::Transmit(_, Transmit::Arp(p)) if p.sender_ip.is_unspecified() => {
                Some(p.target_ip)
            }
            Logged::Transmit(_, Transmit::Arp(p)) => Some(p.sender_ip),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::new(10, 0, 0, 50))
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Time jumps this many milliseconds.
    Wait(u32),
    /// Time jumps to the machine's deadline.
    WaitToDeadline,
    Reply {
        kind: u8,
        yiaddr: Addr,
        server: Option<Addr>,
        lease: Option<u32>,
        t1: Option<u32>,
        t2: Option<u32>,
        right_xid: bool,
        routers: Vec<u8>,
        sson: Option<Vec<u8>>,
    },
    Raw(Vec<u8>),
    /// An ARP packet from another host (or echoed from the phone itself).
    Arp {
        reply: bool,
        own_mac: bool,
        sender_ip: Addr,
        target_ip: Addr,
    },
    RawArp(Vec<u8>),
    UdpFailed,
    ArpFailed,
    Release,
    Vlan {
        l2q: u8,
        vid: u16,
        test: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Run {
    seed: u64,
    previous: Option<(Addr, Option<u32>)>,
    dhcpstd: bool,
    l2q: u8,
    vid: u16,
    vlantest: u16,
    budget_ms: u16,
    reuse_time: u16,
    router_check: bool,
    ops: Vec<Op>,
}

type Log = Vec<Logged<Transmit, Event>>;

fn play(run: &Run) -> Log {
    let mut cfg = Config::for_mac(MAC);
    cfg.dhcpstd = run.dhcpstd;
    cfg.l2q = L2q::from_value(run.l2q % 3).unwrap_or_default();
    cfg.l2qvlan = run.vid;
    cfg.vlantest = run.vlantest;
    cfg.probe_budget = Duration::from_millis(u64::from(run.budget_ms % 10_000));
    cfg.reuse_time = run.reuse_time;
    cfg.router_check = run.router_check;
    let previous = run.previous.map(|(a, expires)| {
        let mut p = PreviousLease::new(a.ip(&Vec::new()));
        p.expires = expires.map(|s| Instant::from_secs(u64::from(s)));
        p.routers = vec![Ipv4Addr::new(10, 0, 0, 1)];
        p
    });
    let client = Client::new(cfg, previous, Mix(run.seed), Instant::ZERO);
    let mut t = Transcript::new(client, Instant::ZERO);
    t.max_outputs_per_input = 64;
    check(&t, 0);
    for op in run.ops.iter().take(200) {
        let start = t.log.len();
        let now = t.now;
        let bytes;
        let input = match op {
            Op::Wait(ms) => Input::Timeout(now + Duration::from_millis(u64::from(*ms))),
            Op::WaitToDeadline => Input::Timeout(if t.deadline == Instant::MAX {
                now
            } else {
                t.deadline
            }),
            Op::Reply {
                kind,
                yiaddr,
                server,
                lease,
                t1,
                t2,
                right_xid,
                routers,
                sson,
            } => {
                let xid = last_xid(&t.log);
                let mut chaddr = [0u8; 16];
                chaddr[..6].copy_from_slice(&MAC);
                let mut options = vec![DhcpOption::MessageType(MessageType::from(*kind % 9))];
                if let Some(s) = server {
                    options.push(DhcpOption::ServerIdentifier(s.ip(&t.log)));
                }
                if let Some(l) = lease {
                    options.push(DhcpOption::LeaseTime(*l));
                }
                if let Some(v) = t1 {
                    options.push(DhcpOption::RenewalTime(*v));
                }
                if let Some(v) = t2 {
                    options.push(DhcpOption::RebindingTime(*v));
                }
                let rs: Vec<Ipv4Addr> = routers
                    .iter()
                    .take(20)
                    .map(|b| Ipv4Addr::new(10, 0, 0, *b))
                    .collect();
                if let Some(l) = Ipv4List::from_addrs(&rs) {
                    options.push(DhcpOption::Router(l));
                }
                if let Some(s) = sson {
                    options.push(DhcpOption::Sson {
                        code: 242,
                        value: s.as_slice().into(),
                    });
                }
                let m = Message {
                    op: BOOTREPLY,
                    xid: if *right_xid { xid } else { xid ^ 1 },
                    yiaddr: yiaddr.ip(&t.log),
                    chaddr,
                    options,
                    ..Message::default()
                };
                let mut buf = vec![0u8; 4096];
                let Ok(n) = m.encode(&mut buf) else { continue };
                buf.truncate(n);
                bytes = buf;
                Input::Receive(now, Link::Udp, &bytes)
            }
            Op::Raw(b) => Input::Receive(now, Link::Udp, b),
            Op::Arp {
                reply,
                own_mac,
                sender_ip,
                target_ip,
            } => {
                bytes = ArpMessage {
                    operation: if *reply { 2 } else { 1 },
                    sender_mac: if *own_mac { MAC } else { [2, 0, 0, 0, 0, 9] },
                    sender_ip: sender_ip.ip(&t.log),
                    target_mac: MAC,
                    target_ip: target_ip.ip(&t.log),
                }
                .to_bytes()
                .to_vec();
                Input::Receive(now, Link::Arp, &bytes)
            }
            Op::RawArp(b) => Input::Receive(now, Link::Arp, b),
            Op::UdpFailed => Input::TransportFailed(now, Link::Udp),
            Op::ArpFailed => Input::TransportFailed(now, Link::Arp),
            Op::Release => Input::Command(now, Command::Release),
            Op::Vlan { l2q, vid, test } => Input::Command(
                now,
                Command::VoiceVlan {
                    l2q: L2q::from_value(l2q % 3).unwrap_or_default(),
                    l2qvlan: *vid,
                    vlantest: *test,
                },
            ),
        };
        t.input(input);
        check(&t, start);
    }
    t.log
}

/// The xid of the last DHCP message the phone sent.
fn last_xid(log: &Log) -> u32 {
    log.iter()
        .rev()
        .find_map(|l| match l {
            Logged::Transmit(_, Transmit::Udp { payload, .. }) => {
                Message::decode(payload).ok().map(|m| m.xid)
            }
            _ => None,
        })
        .unwrap_or(0)
}

fn check(t: &Transcript<Client<Mix>>, from: usize) {
    for l in &t.log[from..] {
        match l {
            Logged::Transmit(_, Transmit::Udp { payload, .. }) => {
                let m = Message::decode(payload).expect("the client sends valid messages");
                assert!(m.message_type().is_some());
            }
            Logged::Transmit(_, Transmit::Arp(p)) => {
                assert_eq!(p.sender_mac, MAC);
                let back = ArpMessage::parse(&p.to_bytes()).expect("own ARP parses");
                assert_eq!((back.sender_ip, back.target_ip), (p.sender_ip, p.target_ip));
            }
            Logged::Event(..) => {}
        }
    }
    if let Some(l) = t.machine.lease() {
        assert!(l.renew_at() <= l.rebind_at() && l.rebind_at() <= l.expires_at());
        assert!(phone_dhcp::client::AddressClass::of(l.address).is_none());
    }
}

fuzz_target!(|run: Run| {
    let a = play(&run);
    let b = play(&run);
    assert!(a == b, "same seed and inputs, different transcripts");
});
