//! Transcript tests of the client state machine in virtual time: inputs at given instants,
//! the exact outputs asserted. Every RFC 2131 state, every timer, and the spec's additions
//! (conflict, extended rebinding, voice VLAN).
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::time::Duration;

use phone_dhcp::acd::RFC_5227_BUDGET;
use phone_dhcp::arp::{ArpMessage, OP_REPLY};
use phone_dhcp::client::{
    AddressClass, ArpKind, ArpPacket, Client, Command, Config, Event, Input, L2q, Link, LostReason,
    Output, Refusal, State, Transmit, Vlan,
};
use phone_dhcp::lease::{INFINITE, PreviousLease, Timers};
use phone_dhcp::message::{BOOTREPLY, FLAG_BROADCAST};
use phone_dhcp::options::{DhcpOption, Ipv4List, MessageType, code};
use phone_dhcp::{Message, VendorOptions};
use phone_sansio::Instant;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const MAC: [u8; 6] = [0x00, 0x04, 0x0d, 0xaa, 0xbb, 0xcc];
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
const BCAST: Ipv4Addr = Ipv4Addr::BROADCAST;
const ZERO: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// A sent DHCP message, decoded and owned.
#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    kind: MessageType,
    xid: u32,
    secs: u16,
    flags: u16,
    ciaddr: Ipv4Addr,
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
    destination: Ipv4Addr,
    source: Ipv4Addr,
    codes: Vec<u8>,
    options: Vec<DhcpOption<'static>>,
}

#[derive(Debug, Clone)]
enum Out {
    Tx(Sent),
    Arp(ArpPacket),
    Ev(Event),
}

struct Phone {
    c: Client<ChaCha8Rng>,
    now: Instant,
}

fn owned(o: &DhcpOption<'_>) -> DhcpOption<'static> {
    match o {
        DhcpOption::HostName(v) => DhcpOption::HostName(Cow::Owned(v.to_vec())),
        DhcpOption::VendorClassIdentifier(v) => {
            DhcpOption::VendorClassIdentifier(Cow::Owned(v.to_vec()))
        }
        DhcpOption::ClientIdentifier(v) => DhcpOption::ClientIdentifier(Cow::Owned(v.to_vec())),
        DhcpOption::ParameterRequestList(v) => {
            DhcpOption::ParameterRequestList(Cow::Owned(v.to_vec()))
        }
        DhcpOption::MessageType(t) => DhcpOption::MessageType(*t),
        DhcpOption::RequestedIpAddress(a) => DhcpOption::RequestedIpAddress(*a),
        DhcpOption::ServerIdentifier(a) => DhcpOption::ServerIdentifier(*a),
        DhcpOption::MaxMessageSize(n) => DhcpOption::MaxMessageSize(*n),
        other => DhcpOption::Other {
            code: other.code(),
            value: Cow::Owned(vec![]),
        },
    }
}

/// An ARP reply from another host that owns `ip` (a conflict when `ip` is the phone's).
fn foreign_arp(ip: Ipv4Addr) -> [u8; 28] {
    ArpMessage {
        operation: OP_REPLY,
        sender_mac: [0x02, 0, 0, 0, 0, 0x99],
        sender_ip: ip,
        target_mac: MAC,
        target_ip: ZERO,
    }
    .to_bytes()
}

impl Phone {
    fn new(config: Config, seed: u64) -> Phone {
        Phone::with_previous(config, None, seed)
    }

    fn with_previous(config: Config, previous: Option<PreviousLease>, seed: u64) -> Phone {
        Phone {
            c: Client::new(
                config,
                previous,
                ChaCha8Rng::seed_from_u64(seed),
                Instant::ZERO,
            ),
            now: Instant::ZERO,
        }
    }

    /// The spec's defaults, without the router check: its ARP requests and timers have their
    /// own tests (tests/transcript.rs) and would interleave with every schedule asserted here.
    fn default_config() -> Config {
        let mut cfg = Config::for_mac(MAC);
        cfg.router_check = false;
        cfg
    }

    /// Drains outputs until the machine asks to wait; returns them and the deadline.
    fn drain(&mut self) -> (Vec<Out>, Instant) {
        let mut outs = Vec::new();
        for _ in 0..100 {
            match self.c.poll_output() {
                Output::Transmit(Transmit::Udp {
                    payload,
                    destination,
                    source,
                }) => {
                    let m = Message::decode(&payload).unwrap();
                    outs.push(Out::Tx(Sent {
                        at: self.now,
                        kind: m.message_type().unwrap(),
                        xid: m.xid,
                        secs: m.secs,
                        flags: m.flags,
                        ciaddr: m.ciaddr,
                        requested: m.options.iter().find_map(|o| match o {
                            DhcpOption::RequestedIpAddress(a) => Some(*a),
                            _ => None,
                        }),
                        server: m.server_identifier(),
                        destination,
                        source,
                        codes: m.options.iter().map(DhcpOption::code).collect(),
                        options: m.options.iter().map(owned).collect(),
                    }));
                }
                Output::Transmit(Transmit::Arp(a)) => outs.push(Out::Arp(a)),
                Output::Event(e) => outs.push(Out::Ev(e)),
                Output::Timeout(t) => {
                    assert!(t > self.now, "deadline {t:?} not after now {:?}", self.now);
                    return (outs, t);
                }
            }
        }
        panic!("machine never asked to wait");
    }

    fn input(&mut self, i: Input<'_>) -> (Vec<Out>, Instant) {
        self.c.handle_input(i);
        self.drain()
    }

    fn at(&mut self, t: Instant) -> (Vec<Out>, Instant) {
        self.now = t;
        self.input(Input::Timeout(t))
    }

    fn recv(&mut self, bytes: &[u8]) -> (Vec<Out>, Instant) {
        self.input(Input::Receive(self.now, Link::Udp, bytes))
    }

    /// Another host's ARP packet claiming `ip`.
    fn arp_from_other(&mut self, ip: Ipv4Addr) -> (Vec<Out>, Instant) {
        let b = foreign_arp(ip);
        self.input(Input::Receive(self.now, Link::Arp, &b))
    }

    /// Runs to the next deadline.
    fn next(&mut self) -> (Vec<Out>, Instant) {
        let (_, d) = self.drain();
        self.at(d)
    }
}

fn one_tx(outs: &[Out]) -> Sent {
    let txs: Vec<_> = outs
        .iter()
        .filter_map(|o| match o {
            Out::Tx(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(txs.len(), 1, "{outs:?}");
    txs[0].clone()
}

fn events(outs: &[Out]) -> Vec<Event> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Ev(e) => Some(*e),
            _ => None,
        })
        .collect()
}

/// A server reply to the phone.
struct Reply {
    kind: MessageType,
    xid: u32,
    yiaddr: Ipv4Addr,
    server: Option<Ipv4Addr>,
    lease: Option<u32>,
    t1: Option<u32>,
    t2: Option<u32>,
    extra: Vec<DhcpOption<'static>>,
}

impl Reply {
    fn new(kind: MessageType, xid: u32) -> Reply {
        Reply {
            kind,
            xid,
            yiaddr: ADDR,
            server: Some(SERVER),
            lease: Some(3600),
            t1: None,
            t2: None,
            extra: vec![
                DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
                DhcpOption::Router(Ipv4List::from_addrs(&[SERVER]).unwrap()),
            ],
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&MAC);
        let mut options = vec![DhcpOption::MessageType(self.kind)];
        if let Some(s) = self.server {
            options.push(DhcpOption::ServerIdentifier(s));
        }
        if let Some(l) = self.lease {
            options.push(DhcpOption::LeaseTime(l));
        }
        if let Some(t) = self.t1 {
            options.push(DhcpOption::RenewalTime(t));
        }
        if let Some(t) = self.t2 {
            options.push(DhcpOption::RebindingTime(t));
        }
        options.extend(self.extra.iter().cloned());
        let m = Message {
            op: BOOTREPLY,
            xid: self.xid,
            yiaddr: if self.kind == MessageType::Nak {
                ZERO
            } else {
                self.yiaddr
            },
            chaddr,
            options,
            ..Message::default()
        };
        let mut buf = vec![0u8; 1500];
        let n = m.encode(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }
}

fn dsecs(a: Instant, b: Instant) -> f64 {
    (b - a).as_secs_f64()
}

/// Runs DISCOVER → OFFER → REQUEST → ACK → probe → BOUND; returns the xid used and the time of
/// the REQUEST (the lease's start).
fn bind(p: &mut Phone, ack: impl FnOnce(&mut Reply)) -> Instant {
    let (outs, _) = p.drain();
    let discover = outs
        .iter()
        .find_map(|o| match o {
            Out::Tx(s) if s.kind == MessageType::Discover => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    let (outs, _) = p.recv(&Reply::new(MessageType::Offer, discover.xid).bytes());
    let request = one_tx(&outs);
    assert_eq!(request.kind, MessageType::Request);
    let mut r = Reply::new(MessageType::Ack, discover.xid);
    ack(&mut r);
    let (outs, _) = p.recv(&r.bytes());
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(p.c.state(), State::Probing);
    loop {
        let (outs, _) = p.next();
        if events(&outs).contains(&Event::Bound) {
            break;
        }
    }
    assert_eq!(p.c.state(), State::Bound);
    request.at
}

// ---- INIT / SELECTING ---------------------------------------------------------------------------

#[test]
fn discover_carries_decision_1_options() {
    let mut p = Phone::new(Phone::default_config(), 1);
    let (outs, deadline) = p.drain();
    assert!(matches!(outs[0], Out::Ev(Event::Vlan(Vlan::Untagged))));
    let d = one_tx(&outs);
    assert_eq!(d.kind, MessageType::Discover);
    assert_eq!((d.destination, d.source, d.ciaddr), (BCAST, ZERO, ZERO));
    assert_eq!(d.flags, FLAG_BROADCAST);
    assert_eq!(d.codes, vec![53, 61, 57, 12, 60, 55]);
    let mut cid = vec![1u8];
    cid.extend_from_slice(&MAC);
    assert!(
        d.options
            .contains(&DhcpOption::ClientIdentifier(cid.into()))
    );
    assert!(d.options.contains(&DhcpOption::MaxMessageSize(1000)));
    assert!(
        d.options
            .contains(&DhcpOption::HostName(b"AVAAABBCC".to_vec().into()))
    );
    assert!(d.options.contains(&DhcpOption::VendorClassIdentifier(
        b"ccp.avaya.com".to_vec().into()
    )));
    assert!(d.options.contains(&DhcpOption::ParameterRequestList(
        vec![1, 3, 6, 7, 15, 26, 42, 43, 51, 58, 59, 242].into()
    )));
    assert_eq!(p.c.state(), State::Selecting);
    assert!(dsecs(Instant::ZERO, deadline) >= 3.0 && dsecs(Instant::ZERO, deadline) <= 5.0);
}

#[test]
fn everything_in_the_request_is_configurable() {
    let mut cfg = Phone::default_config();
    cfg.host_name = None;
    cfg.vendor_class = Some(b"other".to_vec());
    cfg.client_id = None;
    cfg.parameter_request_list = vec![1, 3];
    cfg.max_message_size = 576;
    cfg.broadcast_flag = false;
    let mut p = Phone::new(cfg, 1);
    let d = one_tx(&p.drain().0);
    assert_eq!(d.codes, vec![53, 57, 60, 55]);
    assert_eq!(d.flags, 0);
    assert!(d.options.contains(&DhcpOption::MaxMessageSize(576)));
    assert!(
        d.options
            .contains(&DhcpOption::ParameterRequestList(vec![1, 3].into()))
    );
}

/// RFC 2131 §4.1 over many seeds: 4, 8, 16, 32, 64, 64 s, each ±1 s, spread over the range.
#[test]
fn retransmission_schedule_over_many_seeds() {
    let bases = [4.0, 8.0, 16.0, 32.0, 64.0, 64.0, 64.0];
    let mut min = [f64::MAX; 7];
    let mut max = [f64::MIN; 7];
    for seed in 0..400 {
        let mut p = Phone::new(Phone::default_config(), seed);
        let first = one_tx(&p.drain().0);
        let mut prev = first.clone();
        for k in 0..7 {
            let (outs, _) = p.next();
            let s = one_tx(&outs);
            assert_eq!(s.kind, MessageType::Discover);
            assert_eq!(s.xid, first.xid, "retransmissions keep the xid");
            let gap = dsecs(prev.at, s.at);
            min[k] = min[k].min(gap);
            max[k] = max[k].max(gap);
            assert_eq!(u64::from(s.secs), (s.at - first.at).as_secs());
            prev = s;
        }
    }
    for k in 0..7 {
        assert!(
            min[k] >= bases[k] - 1.0 && max[k] <= bases[k] + 1.0,
            "retry {k}: {} .. {}",
            min[k],
            max[k]
        );
        // The jitter is really drawn from the RNG: the spread covers most of ±1 s.
        assert!(
            min[k] < bases[k] - 0.9 && max[k] > bases[k] + 0.9,
            "retry {k}: {} .. {}",
            min[k],
            max[k]
        );
    }
}

#[test]
fn same_seed_same_transcript_other_seed_other_xid() {
    let run = |seed| {
        let mut p = Phone::new(Phone::default_config(), seed);
        let a = one_tx(&p.drain().0);
        let b = one_tx(&p.next().0);
        (a.xid, b.at)
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5).0, run(6).0);
}

#[test]
fn offers_without_lease_time_server_id_or_address_are_refused() {
    let mut p = Phone::new(Phone::default_config(), 2);
    let xid = one_tx(&p.drain().0).xid;
    let mut r = Reply::new(MessageType::Offer, xid);
    r.lease = None;
    let (outs, _) = p.recv(&r.bytes());
    assert_eq!(
        events(&outs),
        vec![Event::Refused(SERVER, Refusal::NoLeaseTime)]
    );
    assert_eq!(p.c.state(), State::Selecting);
    let mut r = Reply::new(MessageType::Offer, xid);
    r.server = None;
    let (outs, _) = p.recv(&r.bytes());
    assert_eq!(
        events(&outs),
        vec![Event::Refused(ZERO, Refusal::NoServerIdentifier)]
    );
    let mut r = Reply::new(MessageType::Offer, xid);
    r.yiaddr = ZERO;
    let (outs, _) = p.recv(&r.bytes());
    assert_eq!(
        events(&outs),
        vec![Event::Refused(
            SERVER,
            Refusal::BadAddress {
                address: ZERO,
                class: AddressClass::ThisNetwork
            }
        )]
    );
    assert_eq!(p.c.state(), State::Selecting);
    // Retransmission goes on, then a proper offer is taken.
    let d = one_tx(&p.next().0);
    assert_eq!(d.kind, MessageType::Discover);
    let (outs, _) = p.recv(&Reply::new(MessageType::Offer, xid).bytes());
    let req = one_tx(&outs);
    assert_eq!(req.kind, MessageType::Request);
    assert_eq!(p.c.state(), State::Requesting);
}

#[test]
fn foreign_replies_are_ignored() {
    let mut p = Phone::new(Phone::default_config(), 3);
    let xid = one_tx(&p.drain().0).xid;
    // Wrong xid.
    assert!(
        p.recv(&Reply::new(MessageType::Offer, xid ^ 1).bytes())
            .0
            .is_empty()
    );
    // Another client's chaddr.
    let mut b = Reply::new(MessageType::Offer, xid).bytes();
    b[33] ^= 0xff;
    assert!(p.recv(&b).0.is_empty());
    // A BOOTREQUEST (another client's broadcast) with our xid.
    let mut b = Reply::new(MessageType::Offer, xid).bytes();
    b[0] = 1;
    assert!(p.recv(&b).0.is_empty());
    // An ACK while selecting, garbage, a truncated datagram.
    assert!(
        p.recv(&Reply::new(MessageType::Ack, xid).bytes())
            .0
            .is_empty()
    );
    assert!(p.recv(&[0u8; 10]).0.is_empty());
    assert_eq!(p.c.state(), State::Selecting);
}

#[test]
fn early_timeout_is_a_no_op() {
    let mut p = Phone::new(Phone::default_config(), 4);
    let (_, d) = p.drain();
    let (outs, d2) = p.at(Instant::from_secs(1));
    assert!(outs.is_empty());
    assert_eq!(d, d2);
    // Time going backwards is ignored too.
    let (outs, d3) = p.input(Input::Timeout(Instant::ZERO));
    assert!(outs.is_empty());
    assert_eq!(d, d3);
}

// ---- REQUESTING ------------------------------------------------------------------------------

#[test]
fn request_in_selecting_names_offer_and_server() {
    let mut p = Phone::new(Phone::default_config(), 5);
    let d = one_tx(&p.drain().0);
    p.at(Instant::from_secs(1));
    let (outs, deadline) = p.recv(&Reply::new(MessageType::Offer, d.xid).bytes());
    let r = one_tx(&outs);
    assert_eq!(r.xid, d.xid);
    assert_eq!(
        (r.ciaddr, r.requested, r.server),
        (ZERO, Some(ADDR), Some(SERVER))
    );
    assert_eq!((r.destination, r.source), (BCAST, ZERO));
    assert_eq!(r.secs, 1);
    assert_eq!(r.codes, vec![53, 61, 50, 54, 57, 12, 60, 55]);
    let gap = dsecs(p.now, deadline);
    assert!((3.0..=5.0).contains(&gap));
}

#[test]
fn requesting_gives_up_after_four_retransmissions() {
    let mut p = Phone::new(Phone::default_config(), 6);
    let d = one_tx(&p.drain().0);
    p.recv(&Reply::new(MessageType::Offer, d.xid).bytes());
    let bases = [4.0, 8.0, 16.0, 32.0];
    let mut prev = Instant::ZERO;
    for base in bases {
        let (outs, _) = p.next();
        let s = one_tx(&outs);
        assert_eq!((s.kind, s.requested), (MessageType::Request, Some(ADDR)));
        assert!((dsecs(prev, s.at) - base).abs() <= 1.0);
        prev = s.at;
    }
    // After the fourth retransmission and its wait: back to INIT, a new DISCOVER, a new xid.
    let (outs, _) = p.next();
    let s = one_tx(&outs);
    assert!((dsecs(prev, s.at) - 64.0).abs() <= 1.0);
    assert_eq!(s.kind, MessageType::Discover);
    assert_ne!(s.xid, d.xid);
    assert_eq!(s.secs, 0);
    assert_eq!(p.c.state(), State::Selecting);
}

#[test]
fn ack_from_another_server_is_ignored_in_requesting() {
    let mut p = Phone::new(Phone::default_config(), 7);
    let d = one_tx(&p.drain().0);
    p.recv(&Reply::new(MessageType::Offer, d.xid).bytes());
    let mut other = Reply::new(MessageType::Ack, d.xid);
    other.server = Some(Ipv4Addr::new(10, 0, 0, 99));
    assert!(p.recv(&other.bytes()).0.is_empty());
    let mut nak = Reply::new(MessageType::Nak, d.xid);
    nak.server = Some(Ipv4Addr::new(10, 0, 0, 99));
    assert!(p.recv(&nak.bytes()).0.is_empty());
    assert_eq!(p.c.state(), State::Requesting);
}

/// NAK loops back off: the first NAK restarts at once, repeated ones wait 4, 8, 16 ... s ±1.
#[test]
fn nak_loop_backs_off() {
    let mut p = Phone::new(Phone::default_config(), 8);
    let mut d = one_tx(&p.drain().0);
    let expected = [0.0, 4.0, 8.0, 16.0, 32.0, 64.0, 64.0];
    for base in expected {
        p.recv(&Reply::new(MessageType::Offer, d.xid).bytes());
        let mut nak = Reply::new(MessageType::Nak, d.xid);
        nak.lease = None;
        let (outs, deadline) = p.recv(&nak.bytes());
        assert!(events(&outs).contains(&Event::Nak(Some(SERVER))));
        let nak_at = p.now;
        let outs = if base == 0.0 {
            outs
        } else {
            assert!(outs.iter().all(|o| !matches!(o, Out::Tx(_))), "{outs:?}");
            assert!((dsecs(nak_at, deadline) - base).abs() <= 1.0, "{base}");
            p.at(deadline).0
        };
        d = one_tx(&outs);
        assert_eq!(d.kind, MessageType::Discover);
    }
    // A successful bind resets the back-off.
    bind_from_discover(&mut p, d.xid);
    let (outs, _) = p.input(Input::Command(
        p.now,
        Command::VoiceVlan {
            l2q: L2q::Auto,
            l2qvlan: 7,
            vlantest: 0,
        },
    ));
    let d = outs.iter().rev().find_map(|o| match o {
        Out::Tx(s) if s.kind == MessageType::Discover => Some(s.clone()),
        _ => None,
    });
    let d = d.unwrap();
    p.recv(&Reply::new(MessageType::Offer, d.xid).bytes());
    let (outs, _) = p.recv(&Reply::new(MessageType::Nak, d.xid).bytes());
    assert_eq!(
        one_tx(&outs).kind,
        MessageType::Discover,
        "first NAK after a bind restarts at once"
    );
}

fn bind_from_discover(p: &mut Phone, xid: u32) {
    p.recv(&Reply::new(MessageType::Offer, xid).bytes());
    p.recv(&Reply::new(MessageType::Ack, xid).bytes());
    while p.c.state() != State::Bound {
        p.next();
    }
}

// ---- probing (RFC 5227) and BOUND ------------------------------------------------------------

#[test]
fn ack_is_probed_then_bound_then_announced() {
    // Decision 11 at 9 s is RFC 5227's own timing (tests/transcript.rs has the 200 ms default).
    let mut cfg = Phone::default_config();
    cfg.probe_budget = RFC_5227_BUDGET;
    for seed in 0..50 {
        let mut p = Phone::new(cfg.clone(), seed);
        let d = one_tx(&p.drain().0);
        p.recv(&Reply::new(MessageType::Offer, d.xid).bytes());
        let acked = p.now;
        p.recv(&Reply::new(MessageType::Ack, d.xid).bytes());
        assert_eq!(p.c.state(), State::Probing);
        assert_eq!(p.c.lease(), None, "not usable before the probe");
        let mut probes = vec![];
        let bound_at;
        loop {
            let (outs, _) = p.next();
            match outs.as_slice() {
                [
                    Out::Arp(ArpPacket {
                        kind: ArpKind::Probe,
                        sender_mac,
                        sender_ip,
                        target_ip,
                    }),
                ] => {
                    assert_eq!((*sender_mac, *sender_ip, *target_ip), (MAC, ZERO, ADDR));
                    probes.push(p.now);
                }
                [
                    Out::Ev(Event::Bound),
                    Out::Arp(ArpPacket {
                        kind: ArpKind::Announce,
                        sender_mac,
                        sender_ip,
                        target_ip,
                    }),
                ] => {
                    assert_eq!((*sender_mac, *sender_ip, *target_ip), (MAC, ADDR, ADDR));
                    bound_at = p.now;
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(probes.len(), 3);
        assert!(dsecs(acked, probes[0]) <= 1.0, "PROBE_WAIT");
        for w in probes.windows(2) {
            assert!(
                (1.0..=2.0).contains(&dsecs(w[0], w[1])),
                "PROBE_MIN..PROBE_MAX"
            );
        }
        assert_eq!(dsecs(probes[2], bound_at), 2.0, "ANNOUNCE_WAIT");
        let (outs, _) = p.next();
        assert!(matches!(
            outs.as_slice(),
            [Out::Arp(ArpPacket {
                kind: ArpKind::Announce,
                ..
            })]
        ));
        assert_eq!(dsecs(bound_at, p.now), 2.0, "ANNOUNCE_INTERVAL");
        assert_eq!(p.c.lease().unwrap().address, ADDR);
    }
}

#[test]
fn conflict_detection_can_be_off() {
    let mut cfg = Phone::default_config();
    cfg.probe_budget = Duration::ZERO;
    let mut p = Phone::new(cfg, 9);
    let d = one_tx(&p.drain().0);
    p.recv(&Reply::new(MessageType::Offer, d.xid).bytes());
    let (outs, _) = p.recv(&Reply::new(MessageType::Ack, d.xid).bytes());
    assert_eq!(events(&outs), vec![Event::Bound]);
    assert_eq!(p.c.state(), State::Bound);
}

#[test]
fn lease_carries_the_ack_values() {
    let mut p = Phone::new(Phone::default_config(), 10);
    let sson = b"HTTPSRVR=10.0.0.5,SIG=2\0".to_vec();
    let v43 = VendorOptions::encode(&[(2, b"10.0.0.6")]);
    bind(&mut p, |r| {
        r.extra.push(DhcpOption::DomainNameServer(
            Ipv4List::from_addrs(&[Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)])
                .unwrap(),
        ));
        r.extra
            .push(DhcpOption::DomainName(b"lab.example".to_vec().into()));
        r.extra.push(DhcpOption::InterfaceMtu(1496));
        r.extra.push(DhcpOption::VendorSpecific(v43.clone().into()));
        r.extra.push(DhcpOption::Sson {
            code: 242,
            value: sson.clone().into(),
        });
    });
    let l = p.c.lease().unwrap();
    assert_eq!(l.address, ADDR);
    assert_eq!(l.server_id, SERVER);
    assert_eq!(l.sson.as_deref(), Some(&sson[..]));
    assert_eq!(l.vendor_specific.as_deref(), Some(&v43[..]));
    let params: Vec<_> = l
        .parameters()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(
        params,
        vec![
            "IPADD=10.0.0.50",
            "NETMASK=255.255.255.0",
            "ROUTER=10.0.0.1",
            "DNSSRVR=10.0.0.2,10.0.0.3",
            "DOMAIN=lab.example",
            "MTU_SIZE=1496"
        ]
    );
}

// ---- RENEWING / REBINDING / expiry -----------------------------------------------------------

#[test]
fn renew_at_t1_unicast_and_ack_merged() {
    let mut p = Phone::new(Phone::default_config(), 11);
    let start = bind(&mut p, |r| {
        r.lease = Some(1000);
        r.extra.push(DhcpOption::DomainName(b"old".to_vec().into()));
    });
    let lease = p.c.lease().unwrap().clone();
    assert_eq!(lease.renew_at(), start + Duration::from_secs(500));
    assert_eq!(lease.rebind_at(), start + Duration::from_secs(875));
    // Two announcements, then T1.
    p.next();
    let (outs, _) = p.next();
    let r = one_tx(&outs);
    assert_eq!(p.now, start + Duration::from_secs(500));
    assert_eq!(p.c.state(), State::Renewing);
    assert_eq!(r.kind, MessageType::Request);
    assert_eq!((r.ciaddr, r.requested, r.server), (ADDR, None, None));
    assert_eq!((r.destination, r.source, r.flags), (SERVER, ADDR, 0));
    assert_eq!(p.c.lease(), Some(&lease), "still usable while renewing");
    // The renewal ACK omits router and netmask and domain: they stay.
    let mut ack = Reply::new(MessageType::Ack, r.xid);
    ack.extra = vec![DhcpOption::DomainNameServer(
        Ipv4List::from_addrs(&[Ipv4Addr::new(9, 9, 9, 9)]).unwrap(),
    )];
    ack.lease = Some(2000);
    p.at(p.now + Duration::from_secs(1));
    let (outs, _) = p.recv(&ack.bytes());
    assert_eq!(events(&outs), vec![Event::Renewed]);
    assert_eq!(p.c.state(), State::Bound);
    let l = p.c.lease().unwrap();
    assert_eq!(l.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(l.routers, vec![SERVER]);
    assert_eq!(l.domain_name.as_deref(), Some(&b"old"[..]));
    assert_eq!(l.dns_servers, vec![Ipv4Addr::new(9, 9, 9, 9)]);
    assert_eq!(l.timers.lease, 2000);
    // The new lease counts from the renewal request.
    assert_eq!(l.acquired, start + Duration::from_secs(500));
    assert_eq!(l.renew_at(), start + Duration::from_secs(1500));
}

#[test]
fn renewing_retransmits_then_rebinds_broadcast_then_rebound() {
    let mut p = Phone::new(Phone::default_config(), 12);
    let start = bind(&mut p, |r| r.lease = Some(1000));
    p.next();
    let r1 = one_tx(&p.next().0);
    assert_eq!(r1.at, start + Duration::from_secs(500));
    // RENEWING retransmits after half the time to T2 (187.5 s).
    let r2 = one_tx(&p.next().0);
    assert_eq!(dsecs(r1.at, r2.at), 187.5);
    assert_eq!((r2.destination, r2.xid), (SERVER, r1.xid));
    let r3 = one_tx(&p.next().0);
    assert_eq!(dsecs(r2.at, r3.at), 93.75);
    // 93.75 s left to T2: half would be 46.875, but not below the 60 s minimum.
    let r4 = one_tx(&p.next().0);
    assert_eq!(dsecs(r3.at, r4.at), 60.0);
    // T2 at 875 s comes before the next retransmission: REBINDING, broadcast.
    let b1 = one_tx(&p.next().0);
    assert_eq!(b1.at, start + Duration::from_secs(875));
    assert_eq!(p.c.state(), State::Rebinding);
    assert_eq!((b1.destination, b1.source, b1.ciaddr), (BCAST, ADDR, ADDR));
    assert_eq!((b1.requested, b1.server, b1.flags), (None, None, 0));
    // 125 s to expiry: half is 62.5 s.
    let b2 = one_tx(&p.next().0);
    assert_eq!(dsecs(b1.at, b2.at), 62.5);
    // Another server answers the broadcast.
    let mut ack = Reply::new(MessageType::Ack, b2.xid);
    ack.server = Some(Ipv4Addr::new(10, 0, 0, 2));
    let (outs, _) = p.recv(&ack.bytes());
    assert_eq!(events(&outs), vec![Event::Rebound]);
    assert_eq!(p.c.lease().unwrap().server_id, Ipv4Addr::new(10, 0, 0, 2));
}

#[test]
fn expiry_with_dhcpstd_1_drops_the_address() {
    let mut cfg = Phone::default_config();
    cfg.dhcpstd = true;
    let mut p = Phone::new(cfg, 13);
    let start = bind(&mut p, |r| r.lease = Some(100));
    let mut outs;
    loop {
        outs = p.next().0;
        if p.now >= start + Duration::from_secs(100) {
            break;
        }
    }
    assert_eq!(p.now, start + Duration::from_secs(100));
    assert_eq!(events(&outs), vec![Event::Deconfigure(LostReason::Expired)]);
    assert_eq!(one_tx(&outs).kind, MessageType::Discover);
    assert_eq!(p.c.lease(), None);
}

#[test]
fn expiry_with_dhcpstd_0_is_extended_rebinding() {
    let mut p = Phone::new(Phone::default_config(), 14);
    let start = bind(&mut p, |r| r.lease = Some(100));
    let mut outs;
    loop {
        outs = p.next().0;
        if p.now >= start + Duration::from_secs(100) {
            break;
        }
    }
    assert_eq!(events(&outs), vec![Event::ExtendedRebinding]);
    assert_eq!(p.c.state(), State::ExtendedRebinding);
    assert_eq!(p.c.lease().unwrap().address, ADDR, "address kept");
    let req = one_tx(&outs);
    assert_eq!(
        (req.kind, req.destination, req.ciaddr),
        (MessageType::Request, BCAST, ADDR)
    );
    assert!(outs.iter().any(|o| matches!(
        o,
        Out::Arp(ArpPacket {
            kind: ArpKind::Probe,
            sender_ip: ZERO,
            target_ip: ADDR,
            ..
        })
    )));
    // ARP check every 5 s, requests on the RFC back-off.
    let t0 = p.now;
    let mut arps = vec![];
    let mut reqs = vec![];
    while p.now < t0 + Duration::from_secs(40) {
        for o in p.next().0 {
            match o {
                Out::Arp(_) => arps.push(dsecs(t0, p.now)),
                Out::Tx(s) => reqs.push(dsecs(t0, s.at)),
                Out::Ev(e) => panic!("{e:?}"),
            }
        }
    }
    assert_eq!(&arps[..7], &[5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0]);
    assert!(
        (reqs[0] - 4.0).abs() <= 1.0 && (reqs[1] - reqs[0] - 8.0).abs() <= 1.0,
        "{reqs:?}"
    );
    // An ARP reply for the own address: conflict → DECLINE.
    let (outs, deadline) = p.arp_from_other(ADDR);
    assert_eq!(
        events(&outs),
        vec![
            Event::Deconfigure(LostReason::Conflict),
            Event::Conflict(ADDR)
        ]
    );
    let decline = one_tx(&outs);
    assert_eq!(decline.kind, MessageType::Decline);
    assert!(dsecs(p.now, deadline) >= 10.0);
}

#[test]
fn extended_rebinding_ends_on_ack_or_nak() {
    for nak in [false, true] {
        let mut p = Phone::new(Phone::default_config(), 15);
        let start = bind(&mut p, |r| r.lease = Some(100));
        while p.now < start + Duration::from_secs(100) {
            p.next();
        }
        let xid = loop {
            if let Some(s) = p.next().0.iter().find_map(|o| match o {
                Out::Tx(s) => Some(s.clone()),
                _ => None,
            }) {
                break s.xid;
            }
        };
        if nak {
            let (outs, _) = p.recv(&Reply::new(MessageType::Nak, xid).bytes());
            assert_eq!(
                events(&outs),
                vec![
                    Event::Deconfigure(LostReason::Nak),
                    Event::Nak(Some(SERVER))
                ]
            );
            assert_eq!(one_tx(&outs).kind, MessageType::Discover);
        } else {
            let (outs, _) = p.recv(&Reply::new(MessageType::Ack, xid).bytes());
            assert_eq!(events(&outs), vec![Event::Rebound]);
            assert_eq!(p.c.state(), State::Bound);
        }
    }
}

#[test]
fn nak_while_renewing_deconfigures() {
    let mut p = Phone::new(Phone::default_config(), 16);
    bind(&mut p, |r| r.lease = Some(100));
    let r = loop {
        if let Some(s) = p.next().0.iter().find_map(|o| match o {
            Out::Tx(s) => Some(s.clone()),
            _ => None,
        }) {
            break s;
        }
    };
    assert_eq!(p.c.state(), State::Renewing);
    let (outs, _) = p.recv(&Reply::new(MessageType::Nak, r.xid).bytes());
    assert_eq!(
        events(&outs),
        vec![
            Event::Deconfigure(LostReason::Nak),
            Event::Nak(Some(SERVER))
        ]
    );
    assert_eq!(one_tx(&outs).kind, MessageType::Discover);
    assert_eq!(p.c.lease(), None);
}

#[test]
fn infinite_lease_never_renews() {
    let mut p = Phone::new(Phone::default_config(), 17);
    bind(&mut p, |r| {
        r.lease = Some(INFINITE);
        r.t1 = Some(10);
        r.t2 = Some(20);
    });
    let (_, d) = p.next();
    assert_eq!(d, Instant::MAX);
    assert_eq!(p.c.lease().unwrap().expires_at(), Instant::MAX);
}

#[test]
fn t1_t2_nonsense_is_sanitised() {
    let t = |l, a, b| Timers::sanitise(l, a, b);
    assert_eq!(
        t(1000, None, None),
        Timers {
            lease: 1000,
            t1: Some(500),
            t2: Some(875)
        }
    );
    assert_eq!(
        t(1000, Some(100), Some(200)),
        Timers {
            lease: 1000,
            t1: Some(100),
            t2: Some(200)
        }
    );
    // Larger than the lease: defaults.
    assert_eq!(
        t(1000, Some(5000), Some(9000)),
        Timers {
            lease: 1000,
            t1: Some(500),
            t2: Some(875)
        }
    );
    // T1 after T2: T1 falls back, never past T2.
    assert_eq!(
        t(1000, Some(900), Some(800)),
        Timers {
            lease: 1000,
            t1: Some(500),
            t2: Some(800)
        }
    );
    assert_eq!(
        t(1000, None, Some(300)),
        Timers {
            lease: 1000,
            t1: Some(300),
            t2: Some(300)
        }
    );
    // Zero T1/T2 would renew at packet rate: defaults.
    assert_eq!(
        t(1000, Some(0), Some(0)),
        Timers {
            lease: 1000,
            t1: Some(500),
            t2: Some(875)
        }
    );
    // A lease of 0 counts as the 10 s minimum.
    assert_eq!(
        t(0, None, None),
        Timers {
            lease: 10,
            t1: Some(5),
            t2: Some(8)
        }
    );
    assert_eq!(
        t(INFINITE, Some(1), Some(2)),
        Timers {
            lease: INFINITE,
            t1: None,
            t2: None
        }
    );
    assert_eq!(t(u32::MAX - 1, None, None).t2, Some(3_758_096_382));

    // In a transcript: T1 > lease and T2 < T1 from the server, renewal at 0.5 × lease.
    let mut p = Phone::new(Phone::default_config(), 18);
    let start = bind(&mut p, |r| {
        r.lease = Some(400);
        r.t1 = Some(9999);
        r.t2 = Some(350);
    });
    p.next();
    let r = one_tx(&p.next().0);
    assert_eq!(r.at, start + Duration::from_secs(200));
}

// ---- conflicts (Decision 3) ------------------------------------------------------------------

#[test]
fn conflict_while_probing_declines_and_backs_off() {
    let mut p = Phone::new(Phone::default_config(), 19);
    let mut waits = vec![];
    let mut xid = one_tx(&p.drain().0).xid;
    for n in 1..=12 {
        p.recv(&Reply::new(MessageType::Offer, xid).bytes());
        p.recv(&Reply::new(MessageType::Ack, xid).bytes());
        let (outs, _) = p.next();
        assert!(matches!(
            outs.as_slice(),
            [Out::Arp(ArpPacket {
                kind: ArpKind::Probe,
                ..
            })]
        ));
        // A conflict for another address is not ours.
        assert!(p.arp_from_other(Ipv4Addr::new(10, 0, 0, 77)).0.is_empty());
        let (outs, deadline) = p.arp_from_other(ADDR);
        // The address was never configured: no deconfigure, just DECLINE and the prompt.
        assert_eq!(events(&outs), vec![Event::Conflict(ADDR)], "conflict {n}");
        let decline = one_tx(&outs);
        assert_eq!(decline.kind, MessageType::Decline);
        assert_eq!(
            (decline.ciaddr, decline.requested, decline.server),
            (ZERO, Some(ADDR), Some(SERVER))
        );
        assert_eq!(decline.codes, vec![53, 61, 50, 54], "RFC 2131 table 5");
        assert_eq!(decline.destination, BCAST);
        assert_eq!(p.c.state(), State::Init);
        waits.push(dsecs(p.now, deadline));
        let (outs, _) = p.at(deadline);
        let d = one_tx(&outs);
        assert_eq!(d.kind, MessageType::Discover);
        xid = d.xid;
    }
    for (k, w) in waits.iter().enumerate() {
        let floor = if k + 1 >= 10 { 60.0 } else { 10.0 };
        assert!(*w >= floor && *w <= floor + 1.0, "conflict {}: {w}", k + 1);
    }
}

#[test]
fn conflict_while_bound_is_defended_once_then_deconfigures_and_declines() {
    let mut p = Phone::new(Phone::default_config(), 20);
    bind(&mut p, |_| {});
    // RFC 5227 §2.4 (b): the first conflict is defended with one announcement.
    let (outs, _) = p.arp_from_other(ADDR);
    assert!(
        matches!(
            outs.as_slice(),
            [
                Out::Ev(Event::Defended(ADDR)),
                Out::Arp(ArpPacket {
                    kind: ArpKind::Announce,
                    sender_ip: ADDR,
                    target_ip: ADDR,
                    ..
                })
            ]
        ),
        "{outs:?}"
    );
    assert_eq!(p.c.state(), State::Bound);
    // A second one within DEFEND_INTERVAL gives the address up.
    p.at(p.now + Duration::from_secs(9));
    let (outs, _) = p.arp_from_other(ADDR);
    assert!(matches!(
        outs.as_slice(),
        [
            Out::Ev(Event::Deconfigure(LostReason::Conflict)),
            Out::Tx(Sent {
                kind: MessageType::Decline,
                ..
            }),
            Out::Ev(Event::Conflict(ADDR))
        ]
    ));
    assert_eq!(p.c.lease(), None);
}

// ---- INIT-REBOOT / REBOOTING -----------------------------------------------------------------

/// A phone that kept ADDR from an earlier run (expiry unknown).
fn rebooted(seed: u64) -> Phone {
    Phone::with_previous(
        Phone::default_config(),
        Some(PreviousLease::new(ADDR)),
        seed,
    )
}

#[test]
fn init_reboot_asks_for_the_previous_address() {
    let mut p = rebooted(21);
    assert_eq!(p.c.state(), State::InitReboot);
    let r = one_tx(&p.drain().0);
    assert_eq!(p.c.state(), State::Rebooting);
    assert_eq!(r.kind, MessageType::Request);
    assert_eq!((r.ciaddr, r.requested, r.server), (ZERO, Some(ADDR), None));
    assert_eq!((r.destination, r.flags), (BCAST, FLAG_BROADCAST));
    let (outs, _) = p.recv(&Reply::new(MessageType::Ack, r.xid).bytes());
    assert!(outs.is_empty());
    assert_eq!(p.c.state(), State::Probing);
    while p.c.state() != State::Bound {
        p.next();
    }
    assert_eq!(p.c.lease().unwrap().server_id, SERVER);
}

#[test]
fn init_reboot_nak_starts_over_with_discover() {
    let mut p = rebooted(22);
    let r = one_tx(&p.drain().0);
    let (outs, _) = p.recv(&Reply::new(MessageType::Nak, r.xid).bytes());
    assert_eq!(events(&outs), vec![Event::Nak(Some(SERVER))]);
    let d = one_tx(&outs);
    assert_eq!(d.kind, MessageType::Discover);
    assert_ne!(d.xid, r.xid);
}

#[test]
fn init_reboot_without_answer_falls_back_to_discover() {
    let mut p = rebooted(23);
    let first = one_tx(&p.drain().0);
    let mut at = vec![];
    for _ in 0..2 {
        let r = one_tx(&p.next().0);
        assert_eq!(r.kind, MessageType::Request);
        at.push(dsecs(first.at, r.at));
    }
    let d = one_tx(&p.next().0);
    assert_eq!(d.kind, MessageType::Discover);
    // 4 ± 1, then 8 ± 1 more, then 16 ± 1 more before giving the address up.
    assert!(
        (at[0] - 4.0).abs() <= 1.0 && (at[1] - at[0] - 8.0).abs() <= 1.0,
        "{at:?}"
    );
    assert!((dsecs(first.at, d.at) - at[1] - 16.0).abs() <= 1.0);
}

#[test]
fn init_reboot_ack_without_lease_time_is_refused() {
    let mut p = rebooted(24);
    let r = one_tx(&p.drain().0);
    let mut ack = Reply::new(MessageType::Ack, r.xid);
    ack.lease = None;
    let (outs, _) = p.recv(&ack.bytes());
    assert_eq!(
        events(&outs),
        vec![Event::Refused(SERVER, Refusal::NoLeaseTime)]
    );
    assert_eq!(p.c.state(), State::Rebooting);
}

// ---- RELEASE --------------------------------------------------------------------------------

#[test]
fn release_unicasts_then_deconfigures_then_stops() {
    let mut p = Phone::new(Phone::default_config(), 25);
    bind(&mut p, |_| {});
    let (outs, d) = p.input(Input::Command(p.now, Command::Release));
    let rel = one_tx(&outs);
    assert_eq!(rel.kind, MessageType::Release);
    assert_eq!(
        (rel.ciaddr, rel.server, rel.destination, rel.source),
        (ADDR, Some(SERVER), SERVER, ADDR)
    );
    assert_eq!(rel.codes, vec![53, 61, 54]);
    assert!(matches!(
        outs.last(),
        Some(Out::Ev(Event::Deconfigure(LostReason::Released)))
    ));
    assert_eq!(d, Instant::MAX);
    assert_eq!(p.c.state(), State::Released);
    // Nothing more happens.
    assert!(p.at(Instant::from_secs(100_000)).0.is_empty());
}

// ---- voice VLAN (spec §6) --------------------------------------------------------------------

fn vlan_config(l2q: L2q, vid: u16, test: u16) -> Config {
    let mut cfg = Phone::default_config();
    cfg.l2q = l2q;
    cfg.l2qvlan = vid;
    cfg.vlantest = test;
    cfg
}

#[test]
fn tagged_dhcp_falls_back_after_vlantest() {
    for (l2q, fallback) in [(L2q::Auto, Vlan::Untagged), (L2q::On, Vlan::PriorityTagged)] {
        let mut p = Phone::new(vlan_config(l2q, 100, 30), 26);
        let (outs, _) = p.drain();
        assert!(matches!(outs[0], Out::Ev(Event::Vlan(Vlan::Tagged(100)))));
        let first = one_tx(&outs);
        let mut last = first.clone();
        loop {
            let (outs, _) = p.next();
            if p.now >= Instant::from_secs(30) {
                assert_eq!(p.now, Instant::from_secs(30));
                assert_eq!(
                    events(&outs),
                    vec![Event::VlanTestExpired(100), Event::Vlan(fallback)]
                );
                let d = one_tx(&outs);
                assert_eq!(d.kind, MessageType::Discover);
                assert_ne!(d.xid, first.xid);
                break;
            }
            last = one_tx(&outs);
        }
        assert!(last.at < Instant::from_secs(30));
        assert_eq!(p.c.vlan(), fallback);
        // The expired VLAN is not tried again until reset.
        assert!(
            p.input(Input::Command(
                p.now,
                Command::VoiceVlan {
                    l2q,
                    l2qvlan: 100,
                    vlantest: 30
                }
            ))
            .0
            .is_empty()
        );
        // And the fallback is final: no second expiry.
        let mut p2 = p;
        for _ in 0..10 {
            assert!(events(&p2.next().0).is_empty());
        }
    }
}

#[test]
fn vlantest_0_never_gives_up_and_l2q_2_never_tags() {
    let mut p = Phone::new(vlan_config(L2q::Auto, 100, 0), 27);
    for _ in 0..12 {
        assert!(events(&p.next().0).is_empty());
    }
    assert_eq!(p.c.vlan(), Vlan::Tagged(100));
    let mut p = Phone::new(vlan_config(L2q::Off, 100, 10), 27);
    assert!(matches!(
        p.drain().0[0],
        Out::Ev(Event::Vlan(Vlan::Untagged))
    ));
}

#[test]
fn lease_on_the_tagged_vlan_stops_vlantest() {
    let mut p = Phone::new(vlan_config(L2q::Auto, 100, 30), 28);
    bind(&mut p, |_| {});
    for _ in 0..3 {
        assert!(
            events(&p.next().0)
                .iter()
                .all(|e| !matches!(e, Event::VlanTestExpired(_)))
        );
    }
    assert_eq!(p.c.vlan(), Vlan::Tagged(100));
}

#[test]
fn later_l2qvlan_releases_and_starts_again_there() {
    let mut p = Phone::new(Phone::default_config(), 29);
    bind(&mut p, |r| {
        r.extra.push(DhcpOption::Sson {
            code: 242,
            value: b"L2Q=1,L2QVLAN=200,VLANTEST=20".to_vec().into(),
        });
    });
    // Same VLAN or zero: nothing.
    assert!(
        p.input(Input::Command(
            p.now,
            Command::VoiceVlan {
                l2q: L2q::On,
                l2qvlan: 0,
                vlantest: 20
            }
        ))
        .0
        .is_empty()
    );
    let (outs, _) = p.input(Input::Command(
        p.now,
        Command::VoiceVlan {
            l2q: L2q::On,
            l2qvlan: 200,
            vlantest: 20,
        },
    ));
    let kinds: Vec<String> = outs
        .iter()
        .map(|o| match o {
            Out::Tx(s) => format!("{:?}", s.kind),
            Out::Ev(e) => format!("{e:?}"),
            Out::Arp(a) => format!("{a:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "Release",
            "Deconfigure(VlanChange)",
            "Vlan(Tagged(200))",
            "Discover"
        ],
        "RELEASE goes out on the old VLAN before the switch"
    );
    assert_eq!(p.c.vlan(), Vlan::Tagged(200));
    assert_eq!(p.c.state(), State::Selecting);
    // VLANTEST runs on the new VLAN; L2Q=1 falls back to priority tagging.
    let t0 = p.now;
    loop {
        let (outs, _) = p.next();
        if !events(&outs).is_empty() {
            assert_eq!(dsecs(t0, p.now), 20.0);
            assert_eq!(
                events(&outs),
                vec![
                    Event::VlanTestExpired(200),
                    Event::Vlan(Vlan::PriorityTagged)
                ]
            );
            break;
        }
    }
}

#[test]
fn option_codes_sent_never_include_overload() {
    let mut p = Phone::new(Phone::default_config(), 30);
    let d = one_tx(&p.drain().0);
    assert!(!d.codes.contains(&code::OVERLOAD));
}
