//! phone-boot's `Boot` through the transcript harness, every stage at once: DHCP answers built
//! on the boot's last datagram (OFFER, ACK, NAK with an SSON the input chooses) or raw,
//! ARP packets, file-server answers on the connection the boot opened last (scripts the
//! fuzzer writes, raw bytes, 404s), flash acknowledgements and failures, SIP answers built on
//! the last REGISTER (any status, a challenge) or raw, SCEP bytes, transport failures and
//! closes on any stage, the Program softkey, craft entries, prompt answers and time steps.
//!
//! Oracles: no panic; at most 256 outputs per input and the deadline never in the past, equal
//! to `poll_timeout` (the harness); every transmit's peer is the stage it came from (DHCP
//! datagrams decode); nothing after `Restart`; warnings' log lines free of raw CR/LF; the
//! same seed and inputs give the same transcript.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use phone_boot::boot::record::{Record, StaticAddress};
use phone_boot::boot::{Boot, BootConfig, Command, CraftCommand, Event, Peer, Transmit};
use phone_boot::files::{self, StageConfig};
use phone_boot::firmware::{FirmwareKey, SigningKey};
use phone_boot::flash::{BootRecord, SlotImage};
use phone_dhcp::client::Link;
use phone_dhcp::{DhcpOption, Ipv4List, Message, MessageType};
use phone_http::Action;
use phone_sansio::harness::{self, Logged, Reply, Transcript};
use phone_sansio::{Input, Instant};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const SRV: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    /// Answer the last DHCP datagram: 0 OFFER, 1 ACK, 2 NAK; `addr` is the last octet.
    Dhcp {
        kind: u8,
        addr: u8,
        sson: Vec<u8>,
    },
    DhcpRaw(Vec<u8>),
    Arp(Vec<u8>),
    DhcpFailed {
        arp: bool,
    },
    /// A 200 with this body on the last file connection.
    File {
        body: Vec<u8>,
    },
    FileRaw {
        data: Vec<u8>,
        cut: u16,
    },
    FileConnected,
    FileFailed,
    FlashDone,
    FlashFailed,
    /// Answer the last REGISTER with this status (401 carries a challenge).
    Sip {
        status: u16,
    },
    SipRaw(Vec<u8>),
    SipFailed,
    ScepRaw(Vec<u8>),
    ScepFailed,
    Program,
    Craft(u8),
    Entry(String),
    Wait(u16),
    WaitToDeadline,
    /// Friendly servers answer everything for this many tenths of a second (deep states).
    Auto(u8),
    /// Stage 1: a switch's LLDPDU with a voice policy (tagged on `vlan`, or TTL 0 when `ttl`
    /// is 0), or raw bytes, or a failed send of the phone's frame.
    LldpPolicy {
        vlan: u16,
        ttl: u16,
    },
    LldpRaw(Vec<u8>),
    LldpFailed,
    /// Stage 1: an authenticator's EAP packet (code, id, type, MD5 challenge or type data),
    /// to the phone's MAC or to a group; raw EAPOL bytes; a failed send of the phone's frame.
    Eap {
        code: u8,
        id: u8,
        method: u8,
        data: Vec<u8>,
        multicast: bool,
    },
    EapolRaw(Vec<u8>, bool),
    EapolFailed,
}

#[derive(Arbitrary, Debug)]
struct Case {
    seed: u64,
    stored_lease: bool,
    static_address: bool,
    credentials: bool,
    /// Stored 802.1X settings: 0 none (DOT1XSTAT 0), 1 DOT1XSTAT 1 + DOT1XWAIT 1 + MD5
    /// credentials, 2 DOT1XSTAT 2 + DOT1XWAIT 0, 3 DOT1XSTAT 2 + DOT1XWAIT 1 + TLS.
    dot1x: u8,
    ops: Vec<Op>,
}

fn boot(case: &Case) -> Boot<ChaCha20Rng> {
    let slots = BootRecord::factory(SlotImage::of("factory.bin", b"factory"));
    let mut files = StageConfig::new("9611G", [0, 0x24, 0xd7, 1, 2, 3], "SN1", slots);
    files.firmware_key = Some(FirmwareKey::of(&SigningKey::from_bytes(&[42; 32])));
    files.walk_rounds = 2;
    files.max_gets = 16;
    files.script.max_steps = 20_000;
    let mut config = BootConfig::new(files);
    if case.credentials {
        config.credentials = Some(("1001".into(), "pw".into()));
    }
    let mut record = Record::default();
    let dot1x: &[(&str, &str)] = match case.dot1x % 4 {
        0 => &[],
        1 => &[
            ("DOT1XSTAT", "1"),
            ("DOT1XWAIT", "1"),
            ("FORCE_DOT1XID", "id-$MACADDR"),
            ("FORCE_DOT1XPSWD", "pw"),
        ],
        2 => &[("DOT1XSTAT", "2"), ("DOT1XWAIT", "0")],
        _ => &[("DOT1XSTAT", "2"), ("DOT1XWAIT", "1"), ("DOT1XEAPS", "TLS")],
    };
    if !dot1x.is_empty() {
        let mut store = phone_settings::Store::new();
        for (n, v) in dot1x {
            let _ = store.apply_set(n, v, phone_settings::Source::SettingsFile, 1);
        }
        record.settings = Some(store.encode());
    }
    if case.stored_lease {
        record.lease_address = Some(Ipv4Addr::new(10, 0, 0, 100));
    }
    if case.static_address {
        record.craft.static_address = Some(StaticAddress {
            address: Ipv4Addr::new(10, 0, 0, 50),
            mask: Ipv4Addr::new(255, 255, 255, 0),
            router: SRV,
            file_server: SRV,
        });
    }
    Boot::new(
        config,
        record,
        ChaCha20Rng::seed_from_u64(case.seed),
        Instant::from_secs(1),
    )
}

fn dhcp_answer(req: &Message<'_>, kind: u8, addr: u8, sson: &[u8]) -> Vec<u8> {
    let kind = match kind % 3 {
        0 => MessageType::Offer,
        1 => MessageType::Ack,
        _ => MessageType::Nak,
    };
    let mut options = vec![
        DhcpOption::MessageType(kind),
        DhcpOption::ServerIdentifier(SRV),
        DhcpOption::LeaseTime(3600),
        DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
    ];
    if let Some(r) = Ipv4List::from_addrs(&[SRV]) {
        options.push(DhcpOption::Router(r));
    }
    let sson = if sson.is_empty() {
        &b"HTTPSRVR=10.0.0.1,SIP_CONTROLLER_LIST=10.0.0.1:5060;transport=udp"[..]
    } else {
        &sson[..sson.len().min(200)]
    };
    options.push(DhcpOption::Sson {
        code: 242,
        value: sson.into(),
    });
    let m = Message {
        op: 2,
        xid: req.xid,
        flags: req.flags,
        yiaddr: Ipv4Addr::new(10, 0, 0, addr),
        chaddr: req.chaddr,
        options,
        ..Message::default()
    };
    let mut buf = [0u8; 576];
    match m.encode(&mut buf) {
        Ok(n) => buf[..n].to_vec(),
        Err(_) => Vec::new(),
    }
}

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.split("\r\n")
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or("")
}

fn sip_answer(req: &str, status: u16) -> String {
    let status = 100 + status % 600;
    let mut r = format!(
        "SIP/2.0 {status} X\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=r\r\nCall-ID: {}\r\nCSeq: {}\r\n",
        header(req, "Via"),
        header(req, "From"),
        header(req, "To"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
    );
    match status {
        200..=299 => r.push_str(&format!(
            "Contact: {};expires=600\r\nExpires: 600\r\n",
            header(req, "Contact")
        )),
        401 => r.push_str("WWW-Authenticate: Digest realm=\"lab\", nonce=\"n\", algorithm=MD5\r\n"),
        _ => {}
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r
}

/// Servers that answer as the lab's would: DHCP offers and acks, an upgrade script and a
/// settings file, flash that works, a registrar that accepts.
struct Friendly;

impl harness::Peer<Boot<ChaCha20Rng>> for Friendly {
    fn on_transmit(&mut self, _: Instant, x: &Transmit) -> Vec<Reply<Peer>> {
        let after = Duration::from_millis(5);
        let receive = |peer, bytes: Vec<u8>| Reply::Receive { after, peer, bytes };
        match x {
            Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. }) => {
                let Ok(m) = Message::decode(payload) else {
                    return Vec::new();
                };
                let kind = match m.message_type() {
                    Some(MessageType::Discover) => 0,
                    Some(MessageType::Request) => 1,
                    _ => return Vec::new(),
                };
                vec![receive(
                    Peer::Dhcp(Link::Udp),
                    dhcp_answer(&m, kind, 100, &[]),
                )]
            }
            Transmit::Dhcp(_) | Transmit::Dns(_) => Vec::new(),
            Transmit::Files(h) => {
                let peer = Peer::Files(files::Peer::Conn(h.conn));
                match &h.action {
                    Action::Connect { .. } => vec![Reply::Completed { after, peer }],
                    Action::Send(req) => {
                        let req = String::from_utf8_lossy(req);
                        let body: &[u8] = if req.contains("upgrade.txt") {
                            b"SET APPNAME factory.bin\nGET 46xxsettings.txt\n"
                        } else if req.contains("46xxsettings.txt") {
                            b"SET SIPDOMAIN lab.test\nSET L2QVLAN 0\n"
                        } else {
                            return vec![
                                receive(
                                    peer,
                                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                                ),
                                Reply::Closed { after, peer },
                            ];
                        };
                        let mut r =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                                .into_bytes();
                        r.extend_from_slice(body);
                        vec![receive(peer, r), Reply::Closed { after, peer }]
                    }
                    Action::StartTls(_) | Action::Close => Vec::new(),
                }
            }
            Transmit::Flash(_) => vec![Reply::Completed {
                after,
                peer: Peer::Files(files::Peer::Flash),
            }],
            Transmit::Scep(h) => vec![Reply::Failed {
                after,
                peer: Peer::Scep(h.conn),
            }],
            Transmit::Sip(s) => {
                let a = sip_answer(&String::from_utf8_lossy(&s.payload), 100);
                vec![receive(Peer::Sip(s.controller), a.into_bytes())]
            }
            Transmit::Lldp(_) => Vec::new(),
            // A friendly authenticator lets the port open at once.
            Transmit::Eapol(_) => vec![receive(
                Peer::Eapol(AUTHENTICATOR),
                phone_dot1x::eapol::eap_packet(
                    &phone_dot1x::eap::Packet::Success { id: 0 }.to_bytes(),
                ),
            )],
        }
    }
}

/// The last transmit of a kind the boot handed out.
fn last<T>(t: &Transcript<Boot<ChaCha20Rng>>, f: impl Fn(&Transmit) -> Option<T>) -> Option<T> {
    t.log.iter().rev().find_map(|l| match l {
        Logged::Transmit(_, x) => f(x),
        Logged::Event(..) => None,
    })
}

fn play(case: &Case) -> Transcript<Boot<ChaCha20Rng>> {
    let mut t = Transcript::new(boot(case), Instant::from_secs(1));
    t.max_outputs_per_input = 256;
    for op in case.ops.iter().take(128) {
        let now = t.now;
        let file_conn = last(&t, |x| match x {
            Transmit::Files(h) => Some(h.conn),
            _ => None,
        })
        .unwrap_or(0);
        let file = Peer::Files(files::Peer::Conn(file_conn));
        let scep = Peer::Scep(
            last(&t, |x| match x {
                Transmit::Scep(h) => Some(h.conn),
                _ => None,
            })
            .unwrap_or(0),
        );
        let sip = last(&t, |x| match x {
            Transmit::Sip(s) => Some((s.controller, s.payload.clone())),
            _ => None,
        });
        match op {
            Op::Dhcp { kind, addr, sson } => {
                let req = last(&t, |x| match x {
                    Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. }) => {
                        Some(payload.clone())
                    }
                    _ => None,
                });
                if let Some(req) = req
                    && let Ok(m) = Message::decode(&req)
                {
                    let a = dhcp_answer(&m, *kind, *addr, sson);
                    t.input(Input::Receive(now, Peer::Dhcp(Link::Udp), &a));
                }
            }
            Op::DhcpRaw(b) => {
                t.input(Input::Receive(now, Peer::Dhcp(Link::Udp), b));
            }
            Op::Arp(b) => {
                t.input(Input::Receive(now, Peer::Dhcp(Link::Arp), b));
            }
            Op::DhcpFailed { arp } => {
                let link = if *arp { Link::Arp } else { Link::Udp };
                t.input(Input::TransportFailed(now, Peer::Dhcp(link)));
            }
            Op::File { body } => {
                let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                    .into_bytes();
                r.extend_from_slice(body);
                t.input(Input::Receive(now, file, &r));
                t.input(Input::Closed(now, file));
            }
            Op::FileRaw { data, cut } => {
                let c = usize::from(*cut) % (data.len() + 1);
                t.input(Input::Receive(now, file, &data[..c]));
                t.input(Input::Receive(now, file, &data[c..]));
                t.input(Input::Closed(now, file));
            }
            Op::FileConnected => {
                t.input(Input::Completed(now, file));
            }
            Op::FileFailed => {
                t.input(Input::TransportFailed(now, file));
            }
            Op::FlashDone => {
                t.input(Input::Completed(now, Peer::Files(files::Peer::Flash)));
            }
            Op::FlashFailed => {
                t.input(Input::TransportFailed(now, Peer::Files(files::Peer::Flash)));
            }
            Op::Sip { status } => {
                if let Some((c, req)) = sip {
                    let a = sip_answer(&String::from_utf8_lossy(&req), *status);
                    t.input(Input::Receive(now, Peer::Sip(c), a.as_bytes()));
                }
            }
            Op::SipRaw(b) => {
                let c = sip.map_or(0, |s| s.0);
                t.input(Input::Receive(now, Peer::Sip(c), b));
            }
            Op::SipFailed => {
                let c = sip.map_or(0, |s| s.0);
                t.input(Input::TransportFailed(now, Peer::Sip(c)));
            }
            Op::ScepRaw(b) => {
                t.input(Input::Receive(now, scep, b));
            }
            Op::ScepFailed => {
                t.input(Input::TransportFailed(now, scep));
            }
            Op::Program => {
                t.input(Input::Command(now, Command::Program));
            }
            Op::Craft(k) => {
                let cmd = match k % 6 {
                    0 => CraftCommand::Address(None),
                    1 => CraftCommand::Sson(128 + k % 127),
                    2 => CraftCommand::Group(u16::from(*k) * 5),
                    3 => CraftCommand::View,
                    4 => CraftCommand::Clear,
                    _ => CraftCommand::Exit,
                };
                t.input(Input::Command(now, Command::Craft(cmd)));
            }
            Op::Entry(text) => {
                t.input(Input::Command(now, Command::Entry(text)));
            }
            Op::Wait(ms) => {
                t.input(Input::Timeout(
                    now + Duration::from_millis(u64::from(*ms) * 4),
                ));
            }
            Op::WaitToDeadline => {
                if t.deadline != Instant::MAX {
                    let d = t.deadline;
                    t.input(Input::Timeout(d));
                }
            }
            Op::Auto(tenths) => {
                let until = now + Duration::from_millis(100 * u64::from(*tenths));
                t.run(&mut Friendly, until);
            }
            Op::LldpPolicy { vlan, ttl } => {
                let sw = [2, 0x5e, 0, 0, 0, 1];
                let mut f = phone_lldp::Lldpdu::new(
                    phone_lldp::Id::chassis_mac(sw),
                    phone_lldp::Id::port_mac(sw),
                    *ttl,
                );
                f.med_capabilities = Some(phone_lldp::MedCapabilities {
                    capabilities: 0x3f,
                    device_type: 4,
                });
                f.network_policies
                    .push(phone_lldp::NetworkPolicy::voice(true, *vlan, 5, 46));
                if let Ok(b) = f.encode() {
                    t.input(Input::Receive(now, Peer::Lldp, &b));
                }
            }
            Op::LldpRaw(b) => {
                t.input(Input::Receive(now, Peer::Lldp, b));
            }
            Op::LldpFailed => {
                t.input(Input::TransportFailed(now, Peer::Lldp));
            }
            Op::Eap {
                code,
                id,
                method,
                data,
                multicast,
            } => {
                let link = phone_dot1x::Link {
                    multicast: *multicast,
                    ..AUTHENTICATOR
                };
                let method = phone_dot1x::eap::EapType::from_u8(*method);
                let p = match code % 4 {
                    0 => phone_dot1x::eap::Packet::Request {
                        id: *id,
                        method,
                        data,
                    },
                    1 => phone_dot1x::eap::Packet::Success { id: *id },
                    2 => phone_dot1x::eap::Packet::Failure { id: *id },
                    _ => phone_dot1x::eap::Packet::Request {
                        id: *id,
                        method: phone_dot1x::eap::EapType::Md5Challenge,
                        data: &phone_dot1x::eap::Md5Challenge { value: &[7; 16], name: data }
                            .to_bytes(),
                    },
                };
                let b = phone_dot1x::eapol::eap_packet(&p.to_bytes());
                t.input(Input::Receive(now, Peer::Eapol(link), &b));
            }
            Op::EapolRaw(b, multicast) => {
                let link = phone_dot1x::Link {
                    multicast: *multicast,
                    ..AUTHENTICATOR
                };
                t.input(Input::Receive(now, Peer::Eapol(link), b));
            }
            Op::EapolFailed => {
                t.input(Input::TransportFailed(now, Peer::Eapol(AUTHENTICATOR)));
            }
        }
    }
    t
}

/// The switch port's MAC.
const AUTHENTICATOR: phone_dot1x::Link = phone_dot1x::Link {
    source: [2, 0xaa, 0, 0, 0, 1],
    multicast: false,
};

fn check(t: &Transcript<Boot<ChaCha20Rng>>, case: &Case) {
    // DOT1XWAIT=1 (stored settings 1 and 3): no DHCP before 802.1X reported success; with
    // DOT1XSTAT 0 no EAPOL at all.
    let mut held = matches!(case.dot1x % 4, 1 | 3);
    for l in &t.log {
        match l {
            Logged::Transmit(_, Transmit::Dhcp(phone_dhcp::Transmit::Udp { .. })) => {
                assert!(!held, "DHCP before 802.1X succeeded (DOT1XWAIT=1)");
            }
            Logged::Transmit(_, Transmit::Eapol(e)) => {
                assert!(case.dot1x % 4 != 0, "EAPOL with DOT1XSTAT 0");
                assert_eq!(e.destination, phone_dot1x::eapol::PAE_GROUP);
                let f = phone_dot1x::eapol::Eapol::parse(&e.payload);
                assert!(f.is_ok_and(|f| f.version == 1), "undecodable EAPOL");
            }
            Logged::Event(
                _,
                Event::Dot1x(
                    phone_dot1x::Event::Authorized { .. } | phone_dot1x::Event::NoAuthenticator,
                ),
            ) => held = false,
            _ => {}
        }
    }
    let mut restarted = false;
    for l in &t.log {
        match l {
            Logged::Transmit(_, x) => {
                assert!(!restarted, "transmit after Restart: {x:?}");
                match x {
                    Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. }) => {
                        assert!(Message::decode(payload).is_ok(), "undecodable datagram");
                    }
                    Transmit::Files(h) | Transmit::Scep(h) => {
                        if let Action::Connect { host, .. } = &h.action {
                            assert!(!host.is_empty());
                        }
                    }
                    Transmit::Lldp(l) => {
                        assert!(
                            phone_lldp::Lldpdu::decode(&l.payload).is_ok(),
                            "undecodable LLDPDU"
                        );
                    }
                    _ => {}
                }
            }
            Logged::Event(_, Event::Restart) => restarted = true,
            Logged::Event(_, Event::Warning(w)) => {
                let line = w.to_string();
                assert!(!line.contains('\r') && !line.contains('\n'), "{line:?}");
            }
            Logged::Event(..) => {}
        }
    }
}

fuzz_target!(|case: Case| {
    let t = play(&case);
    check(&t, &case);
    // Determinism: the same seed and inputs give the same transcript.
    let again = play(&case);
    assert_eq!(t.log, again.log);
});
