//! Transcript tests through the shared harness (`phone_sansio::harness::Transcript`): the client
//! against a scripted DHCP server and hosts on the link, in virtual time, with the contract's
//! oracles checked on every drain. Decision 11 (probe budget), Decision 3 (DECLINE), RFC 5227
//! §2.4 (defend, give up), RFC 2131 §3.2 (REBOOTING keeps an unexpired lease), REUSETIME, the
//! router check, RFC 1122/6890 refusals, and commit on take.
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use phone_dhcp::Message;
use phone_dhcp::acd::{Acd, AcdConfig, AcdEvent, ProbeTiming};
use phone_dhcp::arp::{ArpMessage, OP_REPLY, OP_REQUEST};
use phone_dhcp::client::{
    AddressClass, ArpKind, ArpPacket, Client, Command, Config, Event, L2q, Link, LostReason,
    ONE_SHOT_TRIES, Refusal, Reuse, SEND_RETRY, State, Transmit,
};
use phone_dhcp::lease::PreviousLease;
use phone_dhcp::message::BOOTREPLY;
use phone_dhcp::options::{DhcpOption, Ipv4List, MessageType};
use phone_sansio::harness::{Logged, Peer, Reply, Transcript};
use phone_sansio::{Input, Instant, Machine, Output};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const MAC: [u8; 6] = [0x00, 0x04, 0x0d, 0xaa, 0xbb, 0xcc];
const OTHER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const ROUTER2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
const ADDR2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 51);
const ZERO: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
const BCAST: Ipv4Addr = Ipv4Addr::BROADCAST;

type Phone = Client<ChaCha8Rng>;

fn config() -> Config {
    Config::for_mac(MAC)
}

fn phone(cfg: Config, previous: Option<PreviousLease>, seed: u64) -> Transcript<Phone> {
    let c = Client::new(
        cfg,
        previous,
        ChaCha8Rng::seed_from_u64(seed),
        Instant::ZERO,
    );
    Transcript::new(c, Instant::ZERO)
}

/// Plays `peer` until `until`, also handing it what the phone sent when the transcript started
/// and in answer to the replies delivered here: `Transcript::run` only answers transmits taken
/// while it runs itself, not those of `Transcript::new` or `Transcript::input`.
fn boot(t: &mut Transcript<Phone>, peer: &mut dyn Peer<Phone>, until: Instant) {
    let mut seen = 0;
    let mut queue: Vec<(Instant, Link, Vec<u8>)> = Vec::new();
    loop {
        for l in &t.log[seen..] {
            if let Logged::Transmit(at, tx) = l {
                for r in peer.on_transmit(*at, tx) {
                    if let Reply::Receive { after, peer, bytes } = r {
                        queue.push((*at + after, peer, bytes));
                    }
                }
            }
        }
        queue.sort_by_key(|(at, ..)| *at);
        if queue.first().is_none_or(|(at, ..)| *at > until) {
            t.run(peer, until);
            return;
        }
        let (at, link, bytes) = queue.remove(0);
        t.run(peer, at);
        seen = t.log.len();
        t.input(Input::Receive(at, link, &bytes));
    }
}

fn ms(t: Instant) -> f64 {
    t.since_origin().as_secs_f64() * 1000.0
}

fn secs(t: Instant) -> f64 {
    t.since_origin().as_secs_f64()
}

/// A DHCP message the phone sent, decoded.
#[derive(Debug, Clone)]
struct Sent {
    kind: MessageType,
    xid: u32,
    secs: u16,
    ciaddr: Ipv4Addr,
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
    destination: Ipv4Addr,
}

fn decode(t: &Transmit) -> Option<Sent> {
    let Transmit::Udp {
        payload,
        destination,
        ..
    } = t
    else {
        return None;
    };
    let m = Message::decode(payload).unwrap();
    Some(Sent {
        kind: m.message_type().unwrap(),
        xid: m.xid,
        secs: m.secs,
        ciaddr: m.ciaddr,
        requested: m.options.iter().find_map(|o| match o {
            DhcpOption::RequestedIpAddress(a) => Some(*a),
            _ => None,
        }),
        server: m.server_identifier(),
        destination: *destination,
    })
}

/// Every DHCP message in the log with its instant.
fn dhcp(log: &[Logged<Transmit, Event>]) -> Vec<(Instant, Sent)> {
    log.iter()
        .filter_map(|l| match l {
            Logged::Transmit(at, t) => decode(t).map(|s| (*at, s)),
            Logged::Event(..) => None,
        })
        .collect()
}

/// Every ARP packet in the log with its instant.
fn arps(log: &[Logged<Transmit, Event>]) -> Vec<(Instant, ArpPacket)> {
    log.iter()
        .filter_map(|l| match l {
            Logged::Transmit(at, Transmit::Arp(p)) => Some((*at, *p)),
            _ => None,
        })
        .collect()
}

fn events_at(log: &[Logged<Transmit, Event>]) -> Vec<(Instant, Event)> {
    log.iter()
        .filter_map(|l| match l {
            Logged::Event(at, e) => Some((*at, *e)),
            Logged::Transmit(..) => None,
        })
        .collect()
}

fn event_time(log: &[Logged<Transmit, Event>], e: Event) -> Option<Instant> {
    events_at(log)
        .into_iter()
        .find_map(|(at, x)| (x == e).then_some(at))
}

/// A server reply.
fn reply(kind: MessageType, xid: u32, yiaddr: Ipv4Addr, routers: &[Ipv4Addr]) -> Vec<u8> {
    let mut chaddr = [0u8; 16];
    chaddr[..6].copy_from_slice(&MAC);
    let mut options = vec![
        DhcpOption::MessageType(kind),
        DhcpOption::ServerIdentifier(SERVER),
        DhcpOption::LeaseTime(3600),
        DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
    ];
    if !routers.is_empty() {
        options.push(DhcpOption::Router(Ipv4List::from_addrs(routers).unwrap()));
    }
    let m = Message {
        op: BOOTREPLY,
        xid,
        yiaddr: if kind == MessageType::Nak {
            ZERO
        } else {
            yiaddr
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

fn arp_from(mac: [u8; 6], ip: Ipv4Addr, op: u16, target: Ipv4Addr) -> Vec<u8> {
    ArpMessage {
        operation: op,
        sender_mac: mac,
        sender_ip: ip,
        target_mac: MAC,
        target_ip: target,
    }
    .to_bytes()
    .to_vec()
}

/// The link the phone boots on: a DHCP server offering `offers` in turn, maybe a host that
/// already owns some address (it answers probes for it), routers that answer ARP requests.
struct Lab {
    /// Answer DHCP at all.
    dhcp: bool,
    offers: Vec<Ipv4Addr>,
    routers: Vec<Ipv4Addr>,
    answering_routers: Vec<Ipv4Addr>,
    owner: Option<Ipv4Addr>,
    declines: Vec<Sent>,
    offered: usize,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            dhcp: true,
            offers: vec![ADDR],
            routers: vec![SERVER],
            answering_routers: Vec::new(),
            owner: None,
            declines: Vec::new(),
            offered: 0,
        }
    }

    fn silent() -> Lab {
        Lab {
            dhcp: false,
            ..Lab::new()
        }
    }

    fn offer(&self) -> Ipv4Addr {
        let k = self.offered.min(self.offers.len() - 1);
        self.offers[k]
    }
}

impl Peer<Phone> for Lab {
    fn on_transmit(&mut self, _: Instant, t: &Transmit) -> Vec<Reply<Link>> {
        let udp = |bytes| Reply::Receive {
            after: Duration::from_millis(2),
            peer: Link::Udp,
            bytes,
        };
        match t {
            Transmit::Udp { .. } => {
                let s = decode(t).unwrap();
                match s.kind {
                    MessageType::Decline => {
                        self.declines.push(s);
                        self.offered += 1;
                        vec![]
                    }
                    _ if !self.dhcp => vec![],
                    MessageType::Discover => vec![udp(reply(
                        MessageType::Offer,
                        s.xid,
                        self.offer(),
                        &self.routers,
                    ))],
                    MessageType::Request => {
                        let a = s.requested.unwrap_or(s.ciaddr);
                        vec![udp(reply(MessageType::Ack, s.xid, a, &self.routers))]
                    }
                    _ => vec![],
                }
            }
            Transmit::Arp(p) => {
                let arp = |mac, ip| Reply::Receive {
                    after: Duration::from_millis(1),
                    peer: Link::Arp,
                    bytes: arp_from(mac, ip, OP_REPLY, p.sender_ip),
                };
                if p.kind == ArpKind::Probe && self.owner == Some(p.target_ip) {
                    vec![arp(OTHER_MAC, p.target_ip)]
                } else if p.kind == ArpKind::Request
                    && self.answering_routers.contains(&p.target_ip)
                {
                    vec![arp(ROUTER_MAC, p.target_ip)]
                } else {
                    vec![]
                }
            }
        }
    }
}

// ---- Decision 11: the probe budget -----------------------------------------------------------

#[test]
fn probe_budget_200_ms_three_probes_scaled_spacing() {
    let t = ProbeTiming::scaled(Duration::from_millis(200));
    // RFC 5227 × 200/9000: PROBE_WAIT 22.2 ms, PROBE_MIN 22.2 ms, PROBE_MAX 44.4 ms,
    // ANNOUNCE_WAIT 44.4 ms.
    assert_eq!(t.probe_wait, Duration::from_micros(22_222));
    assert_eq!(t.probe_min, Duration::from_micros(22_222));
    assert_eq!(t.probe_max, Duration::from_micros(44_444));
    assert_eq!(t.announce_wait, Duration::from_micros(44_444));
    let mut longest = 0.0f64;
    let (mut min_gap, mut max_gap) = (f64::MAX, 0.0f64);
    for seed in 0..200 {
        let mut lab = Lab::new();
        let mut t = phone(config(), None, seed);
        boot(&mut t, &mut lab, Instant::from_secs(1));
        let log = &t.log;
        let ack_at = dhcp(log)
            .iter()
            .find(|(_, s)| s.kind == MessageType::Request)
            .map(|(at, _)| *at + Duration::from_millis(2))
            .unwrap();
        let bound = event_time(log, Event::Bound).unwrap();
        let probes: Vec<Instant> = arps(log)
            .into_iter()
            .filter(|(_, p)| p.kind == ArpKind::Probe)
            .map(|(at, p)| {
                assert_eq!((p.sender_mac, p.sender_ip, p.target_ip), (MAC, ZERO, ADDR));
                at
            })
            .collect();
        assert_eq!(probes.len(), 3, "PROBE_NUM, seed {seed}");
        assert!(ms(probes[0]) - ms(ack_at) <= 22.223, "PROBE_WAIT");
        for w in probes.windows(2) {
            let gap = ms(w[1]) - ms(w[0]);
            assert!((22.221..=44.445).contains(&gap), "spacing {gap} ms");
            min_gap = min_gap.min(gap);
            max_gap = max_gap.max(gap);
        }
        assert!(
            (ms(bound) - ms(probes[2]) - 44.444).abs() < 0.001,
            "ANNOUNCE_WAIT"
        );
        let total = ms(bound) - ms(ack_at);
        assert!(
            total <= 200.0,
            "the whole probe fits the budget: {total} ms"
        );
        longest = longest.max(total);
        assert_eq!(t.machine.state(), State::Bound);
        // Two announcements, the first with the Bound event, the second 2 s later.
        t.run(&mut lab, Instant::from_secs(4));
        let ann: Vec<Instant> = arps(&t.log)
            .into_iter()
            .filter(|(_, p)| p.kind == ArpKind::Announce)
            .map(|(at, p)| {
                assert_eq!((p.sender_ip, p.target_ip), (ADDR, ADDR));
                at
            })
            .collect();
        assert_eq!(ann, vec![bound, bound + Duration::from_secs(2)]);
    }
    // The spacings really are drawn across the scaled PROBE_MIN..PROBE_MAX range.
    assert!(min_gap < 24.0 && max_gap > 42.0, "{min_gap} .. {max_gap}");
    assert!(longest <= 156.0, "at most 7/9 of the budget: {longest}");
}

#[test]
fn probe_budget_zero_binds_at_once_and_still_announces() {
    let mut cfg = config();
    cfg.probe_budget = Duration::ZERO;
    let mut lab = Lab::new();
    let mut t = phone(cfg, None, 1);
    boot(&mut t, &mut lab, Instant::from_secs(3));
    let log = &t.log;
    assert!(arps(log).iter().all(|(_, p)| p.kind != ArpKind::Probe));
    let ack_at = dhcp(log)[1].0 + Duration::from_millis(2);
    assert_eq!(event_time(log, Event::Bound), Some(ack_at));
    let ann = arps(log)
        .iter()
        .filter(|(_, p)| p.kind == ArpKind::Announce)
        .count();
    assert_eq!(ann, 2);
}

// ---- Decision 3: a conflict during the probe -> DHCPDECLINE -----------------------------------

#[test]
fn conflict_during_probe_declines_and_starts_over_after_10_s() {
    let mut lab = Lab::new();
    lab.owner = Some(ADDR);
    lab.offers = vec![ADDR, ADDR2];
    let mut t = phone(config(), None, 3);
    boot(&mut t, &mut lab, Instant::from_secs(30));
    let log = &t.log;
    let conflict_at = event_time(log, Event::Conflict(ADDR)).unwrap();
    // The owner answered the first probe: no more probes for ADDR, never bound to it.
    let probes_for_addr = arps(log)
        .iter()
        .filter(|(_, p)| p.kind == ArpKind::Probe && p.target_ip == ADDR)
        .count();
    assert_eq!(probes_for_addr, 1);
    assert!(
        !events_at(log)
            .iter()
            .any(|(at, e)| *e == Event::Bound && *at < conflict_at)
    );
    // The address was never configured: no deconfigure.
    assert!(
        !events_at(log)
            .iter()
            .any(|(_, e)| matches!(e, Event::Deconfigure(_)))
    );
    // DHCPDECLINE: option 50 = the address, 54 = the server, ciaddr 0, broadcast (RFC 2131
    // §3.1.5, §4.4.4).
    assert_eq!(lab.declines.len(), 1);
    let d = &lab.declines[0];
    assert_eq!(
        (d.ciaddr, d.requested, d.server, d.destination, d.secs),
        (ZERO, Some(ADDR), Some(SERVER), BCAST, 0)
    );
    // At least 10 s later (RFC 2131 §3.1.5), a new DISCOVER, then the other address is bound.
    let rediscover = dhcp(log)
        .into_iter()
        .find(|(at, s)| *at > conflict_at && s.kind == MessageType::Discover)
        .unwrap()
        .0;
    let wait = secs(rediscover) - secs(conflict_at);
    assert!((10.0..=11.0).contains(&wait), "{wait}");
    assert_eq!(t.machine.lease().unwrap().address, ADDR2);
    assert_eq!(t.machine.state(), State::Bound);
}

#[test]
fn another_hosts_probe_for_the_same_address_is_a_conflict_while_probing() {
    let mut cfg = config();
    cfg.probe_budget = Duration::from_secs(9);
    let mut lab = Lab::new();
    let mut t = phone(cfg, None, 4);
    boot(&mut t, &mut lab, Instant::ZERO);
    // Run until the ACK: the phone is probing ADDR.
    while t.machine.state() != State::Probing {
        let next = t.deadline.min(t.now + Duration::from_millis(1));
        t.run(&mut lab, next);
    }
    let probe = ArpMessage {
        operation: OP_REQUEST,
        sender_mac: OTHER_MAC,
        sender_ip: ZERO,
        target_mac: [0; 6],
        target_ip: ADDR,
    }
    .to_bytes();
    let now = t.now;
    let out = t.input(Input::Receive(now, Link::Arp, &probe)).to_vec();
    assert!(
        out.contains(&Logged::Event(now, Event::Conflict(ADDR))),
        "{out:?}"
    );
    assert_eq!(t.machine.state(), State::Init);
    // Its own probe echoed back by the switch is not a conflict.
    let mut lab = Lab::new();
    let mut t = phone(config(), None, 4);
    boot(&mut t, &mut lab, Instant::ZERO);
    while t.machine.state() != State::Probing {
        let next = t.deadline.min(t.now + Duration::from_millis(1));
        t.run(&mut lab, next);
    }
    let own = ArpPacket::probe(MAC, ADDR).to_bytes();
    let now = t.now;
    assert!(t.input(Input::Receive(now, Link::Arp, &own)).is_empty());
    assert_eq!(t.machine.state(), State::Probing);
}

// ---- RFC 5227 §2.4 (b): defend once, give up on a second conflict within 10 s ---------------

#[test]
fn conflict_after_bind_is_defended_then_given_up() {
    let mut lab = Lab::new();
    let mut t = phone(config(), None, 5);
    boot(&mut t, &mut lab, Instant::from_secs(10));
    assert_eq!(t.machine.state(), State::Bound);
    let claim = arp_from(OTHER_MAC, ADDR, OP_REPLY, ADDR);
    // First conflict at 10 s: one announcement defends the address.
    let out = t
        .input(Input::Receive(Instant::from_secs(10), Link::Arp, &claim))
        .to_vec();
    let at = Instant::from_secs(10);
    assert_eq!(
        out,
        vec![
            Logged::Event(at, Event::Defended(ADDR)),
            Logged::Transmit(at, Transmit::Arp(ArpPacket::announce(MAC, ADDR))),
        ]
    );
    assert_eq!(t.machine.lease().unwrap().address, ADDR);
    // Another host's probe for our address while it is in use is not a conflict (§2.4 looks at
    // the sender IP only).
    let probe = ArpMessage {
        operation: OP_REQUEST,
        sender_mac: OTHER_MAC,
        sender_ip: ZERO,
        target_mac: [0; 6],
        target_ip: ADDR,
    }
    .to_bytes();
    assert!(
        t.input(Input::Receive(Instant::from_secs(12), Link::Arp, &probe))
            .is_empty()
    );
    // A second conflict 15 s after the first is again only defended (more than DEFEND_INTERVAL).
    t.advance(Instant::from_secs(25));
    let out = t
        .input(Input::Receive(Instant::from_secs(25), Link::Arp, &claim))
        .to_vec();
    assert!(out.contains(&Logged::Event(
        Instant::from_secs(25),
        Event::Defended(ADDR)
    )));
    // A third 9 s later: given up. Deconfigure, DHCPDECLINE, the conflict prompt.
    t.advance(Instant::from_secs(34));
    let out = t
        .input(Input::Receive(Instant::from_secs(34), Link::Arp, &claim))
        .to_vec();
    let at = Instant::from_secs(34);
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(
        out[0],
        Logged::Event(at, Event::Deconfigure(LostReason::Conflict))
    );
    let Logged::Transmit(_, tx) = &out[1] else {
        panic!("{out:?}")
    };
    let d = decode(tx).unwrap();
    assert_eq!(
        (d.kind, d.requested, d.server),
        (MessageType::Decline, Some(ADDR), Some(SERVER))
    );
    assert_eq!(out[2], Logged::Event(at, Event::Conflict(ADDR)));
    assert_eq!(t.machine.lease(), None);
    assert_eq!(t.machine.state(), State::Init);
}

#[test]
fn static_address_acd_defends_and_gives_up() {
    // phone-boot's static address (craft ADDR) runs the same detector on its own.
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let acd = Acd::new(AcdConfig::for_mac(MAC), ADDR, &mut rng, Instant::ZERO);
    let mut t = Transcript::new(acd, Instant::ZERO);
    t.advance(Instant::from_secs(3));
    let probes = t
        .transmits()
        .iter()
        .filter(|p| p.kind == ArpKind::Probe)
        .count();
    assert_eq!(probes, 3);
    assert_eq!(t.events()[0], &AcdEvent::Ready(ADDR));
    let claim = arp_from(OTHER_MAC, ADDR, OP_REPLY, ADDR);
    t.input(Input::Receive(Instant::from_secs(4), (), &claim));
    t.input(Input::Receive(Instant::from_secs(5), (), &claim));
    assert_eq!(
        t.events()[1..],
        [
            &AcdEvent::Defended {
                address: ADDR,
                mac: OTHER_MAC
            },
            &AcdEvent::Lost {
                address: ADDR,
                mac: OTHER_MAC
            }
        ]
    );
    assert_eq!(t.machine.poll_timeout(), None);
    assert_eq!(
        format!("{}", t.events()[2]),
        "address 10.0.0.50 given up: second conflict with 02:00:00:00:00:99 within 10 s"
    );
}

// ---- RFC 2131 §3.2: REBOOTING keeps an unexpired lease when the server is silent -------------

fn stored(expires: Option<Instant>) -> PreviousLease {
    let mut p = PreviousLease::new(ADDR);
    p.expires = expires;
    p.server_id = Some(SERVER);
    p.subnet_mask = Some(Ipv4Addr::new(255, 255, 255, 0));
    p.routers = vec![SERVER];
    p
}

#[test]
fn rebooting_with_a_silent_server_keeps_the_address_until_expiry() {
    for dhcpstd in [false, true] {
        let mut cfg = config();
        cfg.dhcpstd = dhcpstd;
        let expiry = Instant::from_secs(3600);
        let mut t = phone(cfg, Some(stored(Some(expiry))), 7);
        let mut lab = Lab::silent();
        t.run(&mut lab, Instant::from_secs(40));
        let log = &t.log;
        // Three requests for the stored address (0, ~4, ~12 s), then it is kept.
        let reqs = dhcp(log);
        assert!(reqs.len() >= 3);
        for (_, s) in &reqs[..3] {
            assert_eq!(
                (s.kind, s.requested, s.ciaddr),
                (MessageType::Request, Some(ADDR), ZERO)
            );
        }
        let reusing = event_time(log, Event::Reusing(ADDR, Reuse::UnexpiredLease)).unwrap();
        assert!((27.0..=31.0).contains(&secs(reusing)), "{reusing:?}");
        // Probed first (Decision 11 applies to reused addresses), then bound.
        let bound = event_time(log, Event::Bound).unwrap();
        let probes = arps(log)
            .iter()
            .filter(|(at, p)| p.kind == ArpKind::Probe && *at >= reusing && *at <= bound)
            .count();
        assert_eq!(probes, 3);
        assert!(bound - reusing <= Duration::from_millis(200));
        let lease = t.machine.lease().unwrap().clone();
        assert_eq!(lease.address, ADDR);
        assert_eq!(lease.routers, vec![SERVER]);
        assert!(
            lease.expires_at() <= expiry && expiry - lease.expires_at() < Duration::from_secs(1)
        );
        // Rebinding meanwhile: broadcast requests from the address, no DISCOVER.
        assert_eq!(t.machine.state(), State::Rebinding);
        let after: Vec<Sent> = dhcp(log)
            .into_iter()
            .filter(|(at, _)| *at >= bound)
            .map(|(_, s)| s)
            .collect();
        assert!(!after.is_empty());
        for s in &after {
            assert_eq!(
                (s.kind, s.ciaddr, s.destination, s.requested),
                (MessageType::Request, ADDR, BCAST, None)
            );
        }
        assert!(
            dhcp(log)
                .iter()
                .all(|(_, s)| s.kind != MessageType::Discover)
        );
        // At expiry: DHCPSTD=0 keeps it (extended rebinding), DHCPSTD=1 drops it.
        t.run(&mut lab, Instant::from_secs(3601));
        let last: Vec<Event> = events_at(&t.log)
            .into_iter()
            .filter(|(at, _)| *at >= lease.expires_at())
            .map(|(_, e)| e)
            .collect();
        if dhcpstd {
            assert_eq!(last, vec![Event::Deconfigure(LostReason::Expired)]);
            assert_eq!(t.machine.lease(), None);
        } else {
            assert_eq!(last, vec![Event::ExtendedRebinding]);
            assert_eq!(t.machine.lease().unwrap().address, ADDR);
        }
    }
}

#[test]
fn rebooting_with_an_expired_or_unknown_lease_starts_over() {
    for expires in [
        None,
        Some(Instant::from_secs(20)),
        Some(Instant::from_secs(35)),
    ] {
        let mut cfg = config();
        cfg.reuse_time = 0;
        let mut t = phone(cfg, Some(stored(expires)), 8);
        t.run(&mut Lab::silent(), Instant::from_secs(40));
        assert!(
            t.events()
                .iter()
                .all(|e| !matches!(e, Event::Reusing(..) | Event::Bound)),
            "{expires:?}: {:?}",
            t.events()
        );
        assert!(
            dhcp(&t.log)
                .iter()
                .any(|(_, s)| s.kind == MessageType::Discover),
            "{expires:?}"
        );
    }
}

#[test]
fn rebooting_nak_forgets_the_stored_lease() {
    struct Naks;
    impl Peer<Phone> for Naks {
        fn on_transmit(&mut self, _: Instant, t: &Transmit) -> Vec<Reply<Link>> {
            match decode(t) {
                Some(s) if s.kind == MessageType::Request => vec![Reply::Receive {
                    after: Duration::from_millis(1),
                    peer: Link::Udp,
                    bytes: reply(MessageType::Nak, s.xid, ZERO, &[]),
                }],
                _ => vec![],
            }
        }
    }
    let mut t = phone(config(), Some(stored(Some(Instant::from_secs(3600)))), 9);
    t.run(&mut Naks, Instant::from_secs(200));
    assert!(t.events().contains(&&Event::Nak(Some(SERVER))));
    assert!(!t.events().iter().any(|e| matches!(e, Event::Reusing(..))));
    assert_eq!(t.machine.lease(), None);
}

// ---- REUSETIME (spec dhcp.md §7) -------------------------------------------------------------

#[test]
fn reusetime_reuses_the_previous_address_in_extended_rebinding() {
    let mut t = phone(config(), Some(PreviousLease::new(ADDR)), 10);
    t.run(&mut Lab::silent(), Instant::from_secs(75));
    let log = &t.log;
    let reusing = event_time(log, Event::Reusing(ADDR, Reuse::ReuseTime)).unwrap();
    assert_eq!(reusing, Instant::from_secs(60), "REUSETIME default 60 s");
    let bound = event_time(log, Event::Bound).unwrap();
    assert!(bound - reusing <= Duration::from_millis(200));
    assert_eq!(t.machine.state(), State::ExtendedRebinding);
    assert_eq!(t.machine.lease().unwrap().address, ADDR);
    // Broadcast DHCPREQUESTs for it and an ARP check every 5 s (spec §7).
    let reqs: Vec<Sent> = dhcp(log)
        .into_iter()
        .filter(|(at, _)| *at >= bound)
        .map(|(_, s)| s)
        .collect();
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter()
            .all(|s| (s.kind, s.ciaddr, s.destination) == (MessageType::Request, ADDR, BCAST))
    );
    let checks: Vec<f64> = arps(log)
        .iter()
        .filter(|(at, p)| p.kind == ArpKind::Probe && *at > bound)
        .map(|(at, _)| (secs(*at) - secs(bound)).round())
        .collect();
    assert_eq!(checks, vec![5.0, 10.0]);
    // An ARP reply for it in extended rebinding: a conflict at once, no defence (spec §7).
    let claim = arp_from(OTHER_MAC, ADDR, OP_REPLY, ZERO);
    let now = t.now;
    let out = t.input(Input::Receive(now, Link::Arp, &claim)).to_vec();
    let evs: Vec<Event> = out
        .iter()
        .filter_map(|l| match l {
            Logged::Event(_, e) => Some(*e),
            Logged::Transmit(..) => None,
        })
        .collect();
    assert_eq!(
        evs,
        vec![
            Event::Deconfigure(LostReason::Conflict),
            Event::Conflict(ADDR)
        ]
    );
}

#[test]
fn reusetime_is_off_with_0_or_dhcpstd_1_and_counts_after_the_vlan_fallback() {
    for (reuse, dhcpstd) in [(0, false), (60, true)] {
        let mut cfg = config();
        cfg.reuse_time = reuse;
        cfg.dhcpstd = dhcpstd;
        let mut t = phone(cfg, Some(PreviousLease::new(ADDR)), 11);
        t.run(&mut Lab::silent(), Instant::from_secs(300));
        assert!(!t.events().iter().any(|e| matches!(e, Event::Reusing(..))));
    }
    // Tagged first: REUSETIME counts from the fall-back to untagged (VLANTEST 30 s).
    let mut cfg = config();
    cfg.l2q = L2q::Auto;
    cfg.l2qvlan = 100;
    cfg.vlantest = 30;
    let mut t = phone(cfg, Some(PreviousLease::new(ADDR)), 12);
    t.run(&mut Lab::silent(), Instant::from_secs(100));
    assert_eq!(
        event_time(&t.log, Event::Reusing(ADDR, Reuse::ReuseTime)),
        Some(Instant::from_secs(90))
    );
}

// ---- the router check (spec dhcp.md §8, ROUTERINUSE) ----------------------------------------

#[test]
fn router_check_asks_routers_in_order_until_one_answers() {
    let mut lab = Lab::new();
    lab.routers = vec![SERVER, ROUTER2];
    lab.answering_routers = vec![ROUTER2];
    let mut t = phone(config(), None, 13);
    boot(&mut t, &mut lab, Instant::from_secs(10));
    let bound = event_time(&t.log, Event::Bound).unwrap();
    let reqs: Vec<(Instant, ArpPacket)> = arps(&t.log)
        .into_iter()
        .filter(|(_, p)| p.kind == ArpKind::Request)
        .collect();
    assert_eq!(
        reqs,
        vec![
            (bound, ArpPacket::request(MAC, ADDR, SERVER)),
            (
                bound + Duration::from_secs(1),
                ArpPacket::request(MAC, ADDR, ROUTER2)
            ),
        ]
    );
    let found = event_time(&t.log, Event::RouterInUse(ROUTER2)).unwrap();
    assert_eq!(found, bound + Duration::from_millis(1001));
    assert_eq!(t.machine.router_in_use(), Some(ROUTER2));
}

#[test]
fn silent_routers_are_asked_again_with_growing_waits() {
    let mut t = phone(config(), None, 14);
    boot(&mut t, &mut Lab::new(), Instant::from_secs(200));
    let bound = event_time(&t.log, Event::Bound).unwrap();
    let at: Vec<f64> = arps(&t.log)
        .iter()
        .filter(|(_, p)| p.kind == ArpKind::Request)
        .map(|(a, _)| (secs(*a) - secs(bound)).round())
        .collect();
    // One router: 0, then rounds 4, 8, 16, 32, 64, 64 s apart.
    assert_eq!(&at[..7], &[0.0, 4.0, 12.0, 28.0, 60.0, 124.0, 188.0]);
    assert_eq!(t.machine.router_in_use(), None);
}

// ---- RFC 1122 §3.2.1.3 / RFC 6890: what a server may not hand out ----------------------------

#[test]
fn special_purpose_yiaddrs_are_refused_with_their_class() {
    let cases = [
        (Ipv4Addr::new(0, 1, 2, 3), AddressClass::ThisNetwork),
        (Ipv4Addr::new(0, 0, 0, 0), AddressClass::ThisNetwork),
        (Ipv4Addr::new(127, 0, 0, 1), AddressClass::Loopback),
        (Ipv4Addr::new(127, 255, 0, 9), AddressClass::Loopback),
        (Ipv4Addr::new(224, 0, 0, 1), AddressClass::Multicast),
        (Ipv4Addr::new(239, 1, 2, 3), AddressClass::Multicast),
        (Ipv4Addr::new(240, 0, 0, 1), AddressClass::Reserved),
        (Ipv4Addr::new(255, 255, 255, 254), AddressClass::Reserved),
        (Ipv4Addr::BROADCAST, AddressClass::Broadcast),
    ];
    for (bad, class) in cases {
        assert_eq!(AddressClass::of(bad), Some(class));
        let mut lab = Lab::new();
        lab.offers = vec![bad];
        let mut t = phone(config(), None, 15);
        boot(&mut t, &mut lab, Instant::from_secs(20));
        let refusal = Refusal::BadAddress {
            address: bad,
            class,
        };
        assert!(
            t.events().contains(&&Event::Refused(SERVER, refusal)),
            "{bad}: {:?}",
            t.events()
        );
        assert!(!t.events().contains(&&Event::Bound), "{bad}");
        assert_eq!(t.machine.state(), State::Selecting);
        assert!(format!("{}", Event::Refused(SERVER, refusal)).contains(&bad.to_string()));
    }
    for ok in [
        Ipv4Addr::new(1, 0, 0, 0),
        Ipv4Addr::new(126, 255, 255, 255),
        Ipv4Addr::new(128, 0, 0, 0),
        Ipv4Addr::new(223, 255, 255, 255),
    ] {
        assert_eq!(AddressClass::of(ok), None, "{ok}");
    }
}

#[test]
fn special_purpose_addresses_are_refused_in_every_state_that_takes_an_ack() {
    // An ACK in REQUESTING naming 127.0.0.1 instead of the offer; a renewal ACK moving to
    // 240.0.0.1; a stored lease for 0.1.2.3 is never asked for.
    struct Bad {
        ack: Ipv4Addr,
    }
    impl Peer<Phone> for Bad {
        fn on_transmit(&mut self, _: Instant, t: &Transmit) -> Vec<Reply<Link>> {
            let Some(s) = decode(t) else { return vec![] };
            let r = |kind, a| {
                vec![Reply::Receive {
                    after: Duration::from_millis(1),
                    peer: Link::Udp,
                    bytes: reply(kind, s.xid, a, &[]),
                }]
            };
            match s.kind {
                MessageType::Discover => r(MessageType::Offer, ADDR),
                MessageType::Request => r(MessageType::Ack, self.ack),
                _ => vec![],
            }
        }
    }
    let mut t = phone(config(), None, 16);
    boot(
        &mut t,
        &mut Bad {
            ack: Ipv4Addr::LOCALHOST,
        },
        Instant::from_secs(2),
    );
    assert!(t.events().contains(&&Event::Refused(
        SERVER,
        Refusal::BadAddress {
            address: Ipv4Addr::LOCALHOST,
            class: AddressClass::Loopback
        }
    )));
    assert_eq!(t.machine.state(), State::Requesting);

    let mut lab = Lab::new();
    let mut t = phone(config(), None, 17);
    boot(&mut t, &mut lab, Instant::from_secs(5));
    assert_eq!(t.machine.state(), State::Bound);
    let moved = Ipv4Addr::new(240, 0, 0, 1);
    t.run(&mut Bad { ack: moved }, Instant::from_secs(1900));
    assert!(t.events().contains(&&Event::Refused(
        SERVER,
        Refusal::BadAddress {
            address: moved,
            class: AddressClass::Reserved
        }
    )));
    assert_eq!(t.machine.lease().unwrap().address, ADDR);

    let t = phone(
        config(),
        Some(PreviousLease::new(Ipv4Addr::new(0, 1, 2, 3))),
        18,
    );
    assert_eq!(
        t.machine.state(),
        State::Selecting,
        "no INIT-REBOOT for 0.1.2.3"
    );
}

#[test]
fn a_server_identifier_that_is_not_unicast_is_refused() {
    let mut chaddr = [0u8; 16];
    chaddr[..6].copy_from_slice(&MAC);
    let mut t = phone(config(), None, 19);
    let xid = decode(t.transmits()[0]).unwrap().xid;
    let m = Message {
        op: BOOTREPLY,
        xid,
        yiaddr: ADDR,
        chaddr,
        options: vec![
            DhcpOption::MessageType(MessageType::Offer),
            DhcpOption::ServerIdentifier(BCAST),
            DhcpOption::LeaseTime(3600),
        ],
        ..Message::default()
    };
    let mut buf = vec![0u8; 600];
    let n = m.encode(&mut buf).unwrap();
    let out = t
        .input(Input::Receive(Instant::ZERO, Link::Udp, &buf[..n]))
        .to_vec();
    assert_eq!(
        out,
        vec![Logged::Event(
            Instant::ZERO,
            Event::Refused(
                BCAST,
                Refusal::BadServerIdentifier {
                    address: BCAST,
                    class: AddressClass::Broadcast
                }
            )
        )]
    );
    assert_eq!(t.machine.state(), State::Selecting);
}

// ---- commit on take ------------------------------------------------------------------------

fn udp(o: Output<Transmit, Event>) -> Option<Sent> {
    match o {
        Output::Transmit(t) => decode(&t),
        _ => None,
    }
}

#[test]
fn commit_on_take_polling_nothing_moves_nothing() {
    // Two phones with the same seed; one is fed 100 s of timeouts and an OFFER without being
    // polled in between.
    let rng = || ChaCha8Rng::seed_from_u64(20);
    let mut idle = Client::new(config(), None, rng(), Instant::ZERO);
    for s in 1..=100 {
        idle.handle_input(Input::Timeout(Instant::from_secs(s)));
    }
    assert_eq!(idle.state(), State::Init, "nothing moved");
    assert_eq!(
        idle.poll_timeout(),
        Some(Instant::from_secs(100)),
        "due now"
    );
    // Taking it now: one DISCOVER (no retransmissions piled up), secs 0 (the clock starts at
    // the take), the same xid the other phone drew when it took its first DISCOVER.
    assert!(matches!(idle.poll_output(), Output::Event(Event::Vlan(_))));
    let d_idle = udp(idle.poll_output()).unwrap();
    let Output::Timeout(next) = idle.poll_output() else {
        panic!()
    };
    let wait = secs(next) - 100.0;
    assert!(
        (3.0..=5.0).contains(&wait),
        "first back-off, not a later one: {wait}"
    );
    let mut eager = Client::new(config(), None, rng(), Instant::ZERO);
    eager.poll_output();
    let d_eager = udp(eager.poll_output()).unwrap();
    assert_eq!((d_idle.kind, d_idle.secs), (MessageType::Discover, 0));
    assert_eq!(d_idle.xid, d_eager.xid);

    // An OFFER handled but not polled for 30 s: one REQUEST when taken, first retransmission
    // wait armed at the take, `secs` counted from the DISCOVER.
    let offer = reply(MessageType::Offer, d_idle.xid, ADDR, &[]);
    idle.handle_input(Input::Receive(Instant::from_secs(101), Link::Udp, &offer));
    for s in 102..=130 {
        idle.handle_input(Input::Timeout(Instant::from_secs(s)));
    }
    assert_eq!(idle.state(), State::Requesting);
    let r = udp(idle.poll_output()).unwrap();
    assert_eq!(
        (r.kind, r.xid, r.secs, r.requested),
        (MessageType::Request, d_idle.xid, 30, Some(ADDR))
    );
    let Output::Timeout(next) = idle.poll_output() else {
        panic!()
    };
    assert!((3.0..=5.0).contains(&(secs(next) - 130.0)));
}

#[test]
fn commit_on_take_a_failed_send_is_retried_as_the_same_transmission() {
    let mut t = phone(config(), None, 21);
    let first = decode(t.transmits()[0]).unwrap();
    // The DISCOVER taken at 0 could not be sent.
    let out = t.input(Input::TransportFailed(Instant::ZERO, Link::Udp));
    assert!(out.is_empty(), "no retry at once: {out:?}");
    assert_eq!(t.deadline, Instant::ZERO + SEND_RETRY);
    // A second report for the same take changes nothing.
    assert!(
        t.input(Input::TransportFailed(Instant::ZERO, Link::Udp))
            .is_empty()
    );
    assert_eq!(t.deadline, Instant::ZERO + SEND_RETRY);
    t.advance(SEND_RETRY_AT);
    let sent = dhcp(&t.log);
    assert_eq!(sent.len(), 2);
    let retry = &sent[1].1;
    // RFC 2131 §4.1: the same transaction (xid), `secs` since the exchange began, and the
    // retransmission count untouched: the next wait is the first one (4 ± 1 s), not 8 ± 1.
    assert_eq!(sent[1].0, Instant::from_secs(1));
    assert_eq!(
        (retry.kind, retry.xid, retry.secs),
        (MessageType::Discover, first.xid, 1)
    );
    let wait = secs(t.deadline) - 1.0;
    assert!((3.0..=5.0).contains(&wait), "{wait}");
    // The next retransmission then waits 8 ± 1 s.
    let d = t.deadline;
    t.advance(d);
    let third = dhcp(&t.log)[2].1.clone();
    assert_eq!(
        (third.xid, u64::from(third.secs)),
        (first.xid, d.since_origin().as_secs())
    );
    let wait = secs(t.deadline) - secs(d);
    assert!((7.0..=9.0).contains(&wait), "{wait}");

    // REQUESTING gives up after 4 retransmissions that left: a failed one does not count.
    let offer = reply(MessageType::Offer, first.xid, ADDR, &[]);
    let now = t.now;
    t.input(Input::Receive(now, Link::Udp, &offer));
    t.input(Input::TransportFailed(now, Link::Udp));
    t.advance(Instant::from_secs(400));
    let reqs: Vec<Sent> = dhcp(&t.log)
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| s.kind == MessageType::Request)
        .collect();
    assert_eq!(reqs.len(), 6, "1 failed + 5 on the wire");
    assert!(reqs.iter().all(|s| s.xid == first.xid));
    let after = dhcp(&t.log)
        .into_iter()
        .map(|(_, s)| s)
        .skip_while(|s| s.kind != MessageType::Request)
        .find(|s| s.kind == MessageType::Discover)
        .unwrap();
    assert_ne!(after.xid, first.xid, "a new exchange after giving up");
}

const SEND_RETRY_AT: Instant = Instant::from_secs(1);

#[test]
fn commit_on_take_failed_decline_and_probe() {
    // A DHCPDECLINE that cannot be sent is handed out again, ONE_SHOT_TRIES times in all.
    let mut lab = Lab::new();
    lab.owner = Some(ADDR);
    let mut t = phone(config(), None, 22);
    boot(&mut t, &mut lab, Instant::ZERO);
    while !t.events().iter().any(|e| matches!(e, Event::Conflict(_))) {
        let next = t.deadline.min(t.now + Duration::from_millis(1));
        t.run(&mut lab, next);
    }
    let declines = |t: &Transcript<Phone>| {
        dhcp(&t.log)
            .iter()
            .filter(|(_, s)| s.kind == MessageType::Decline)
            .count()
    };
    assert_eq!(declines(&t), 1);
    for k in 1..=5 {
        let now = t.now;
        t.input(Input::TransportFailed(now, Link::Udp));
        assert_eq!(declines(&t), usize::from(ONE_SHOT_TRIES).min(k + 1));
    }

    // A probe that cannot be sent does not count: three probes still go out, the failed one
    // is tried again a scaled PROBE_MIN later.
    let mut t = phone(config(), None, 23);
    let mut lab = Lab::new();
    boot(&mut t, &mut lab, Instant::ZERO);
    while t.machine.state() != State::Probing {
        let next = t.deadline.min(t.now + Duration::from_millis(1));
        t.run(&mut lab, next);
    }
    let d = t.deadline;
    t.advance(d);
    assert_eq!(arps(&t.log).len(), 1);
    let failed_at = t.now;
    t.input(Input::TransportFailed(failed_at, Link::Arp));
    assert_eq!(t.deadline - failed_at, Duration::from_micros(22_222));
    t.run(&mut lab, failed_at + Duration::from_secs(1));
    let probes: Vec<Instant> = arps(&t.log)
        .into_iter()
        .filter(|(_, p)| p.kind == ArpKind::Probe)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(probes.len(), 4, "1 failed + PROBE_NUM sent");
    assert_eq!(t.machine.state(), State::Bound);
    // ARP that never works: after 3 failures in a row the address is used without a probe,
    // and the log says so.
    let mut t = phone(config(), None, 24);
    let mut lab = Lab::new();
    boot(&mut t, &mut lab, Instant::ZERO);
    while t.machine.state() != State::Probing {
        let next = t.deadline.min(t.now + Duration::from_millis(1));
        t.run(&mut lab, next);
    }
    for _ in 0..3 {
        let d = t.deadline;
        t.advance(d);
        let now = t.now;
        t.input(Input::TransportFailed(now, Link::Arp));
    }
    assert!(t.events().contains(&&Event::ArpUnavailable(ADDR)));
    assert_eq!(t.machine.state(), State::Bound);
}

#[test]
fn commit_on_take_acd_probes_count_when_taken() {
    // Fed 1 s of timeouts without being polled, the detector has sent nothing and counted
    // nothing: the first poll gives one probe, not three, and the next is a spacing later.
    let mut rng = ChaCha8Rng::seed_from_u64(26);
    let mut acd = Acd::new(AcdConfig::for_mac(MAC), ADDR, &mut rng, Instant::ZERO);
    for ms in 1..=1000 {
        acd.handle_input(Input::Timeout(Instant::from_millis(ms)));
    }
    assert!(matches!(acd.poll_output(), Output::Transmit(p) if p.kind == ArpKind::Probe));
    let Output::Timeout(next) = acd.poll_output() else {
        panic!()
    };
    let gap = next - Instant::from_secs(1);
    assert!((Duration::from_micros(22_222)..=Duration::from_micros(44_444)).contains(&gap));
    assert_eq!(acd.state(), phone_dhcp::acd::AcdState::Probing);
}

// ---- VLAN commands through the contract ------------------------------------------------------

#[test]
fn commands_release_and_voice_vlan() {
    let mut lab = Lab::new();
    let mut t = phone(config(), None, 25);
    boot(&mut t, &mut lab, Instant::from_secs(5));
    let now = t.now;
    let out = t
        .input(Input::Command(
            now,
            Command::VoiceVlan {
                l2q: L2q::Auto,
                l2qvlan: 12,
                vlantest: 0,
            },
        ))
        .to_vec();
    let kinds: Vec<String> = out
        .iter()
        .map(|l| match l {
            Logged::Transmit(_, t) => match decode(t) {
                Some(s) => format!("{:?}", s.kind),
                None => "ARP".into(),
            },
            Logged::Event(_, e) => e.to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "Release",
            "address given up: moving to another VLAN",
            "DHCP VLAN 12",
            "Discover"
        ]
    );
    t.run(&mut lab, Instant::from_secs(10));
    let now = t.now;
    let out = t.input(Input::Command(now, Command::Release)).to_vec();
    assert_eq!(out.len(), 2);
    assert_eq!(t.machine.state(), State::Released);
    assert_eq!(t.machine.poll_timeout(), None);
}
