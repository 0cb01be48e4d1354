//! Transcript tests of the whole boot in virtual time, with scripted peers: a DHCP server, an
//! HTTP file server (upgrade script, settings, signed firmware) and a SIP registrar.

use super::*;
use crate::files::warning::FileWarning;
use crate::firmware::{FirmwareKey, Models, SigningKey, sign};
use crate::flash::{BootRecord, Slot, SlotImage};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use phone_dhcp::{DhcpOption, Ipv4List, Link, Message, MessageType};
use phone_http::Action;
use phone_sansio::harness::{self, Logged};
use rand_chacha::ChaCha20Rng;
use record::StaticAddress;

const MAC: [u8; 6] = [0x00, 0x24, 0xd7, 0xe4, 0x2e, 0x98];
const SRV: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PHONE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const UPGRADE: &[u8] = b"SET APPNAME new.bin\nGET 46xxsettings.txt\n";
const SETTINGS: &[u8] = b"SET SIPDOMAIN lab.test\nSET GROUP 3\n";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// The peers and the phone's flash, as they stand between boots.
struct World {
    files: BTreeMap<String, Vec<u8>>,
    http_up: bool,
    slots: BTreeMap<&'static str, Vec<u8>>,
    /// REGISTERs answered 401 for a wrong password, else 200.
    password: &'static str,
    /// Another host on the link that answers ARP probes for any address.
    arp_owner: Option<[u8; 6]>,
    /// An 802.1X authenticator on the port (EAP-MD5), if any.
    dot1x: Option<Authenticator>,
}

impl World {
    fn new() -> Self {
        let image = b"new firmware image ".repeat(300);
        let sig = sign(&key(), "new.bin", Models::Any, &image).unwrap();
        let mut files = BTreeMap::new();
        files.insert("/96x1Supgrade.txt".into(), UPGRADE.to_vec());
        files.insert("/46xxsettings.txt".into(), SETTINGS.to_vec());
        files.insert("/new.bin".into(), image);
        files.insert("/new.bin.sig".into(), sig.into_bytes());
        let mut slots = BTreeMap::new();
        slots.insert("A", b"factory".to_vec());
        World {
            files,
            http_up: true,
            slots,
            password: "pw",
            arp_owner: None,
            dot1x: None,
        }
    }
}

/// What one boot did.
#[derive(Default)]
struct Transcript {
    screens: Vec<String>,
    events: Vec<Event>,
    dhcp: Vec<MessageType>,
    requested: Vec<Option<Ipv4Addr>>,
    gets: Vec<String>,
    registers: usize,
    /// ARP packets sent, each with the number of events seen before it.
    arps: Vec<(phone_dhcp::ArpKind, usize)>,
    /// LLDPDUs sent, each with the number of events seen before it.
    lldp: Vec<(Vec<u8>, usize)>,
    /// EAPOL PDUs sent, each with the number of events seen before it.
    eapol: Vec<(Vec<u8>, usize)>,
    /// DHCP messages sent, each with the number of events seen before it.
    dhcp_at: Vec<usize>,
    end: Instant,
}

fn reply(req: &Message<'_>, kind: MessageType) -> Vec<u8> {
    let m = Message {
        op: 2,
        xid: req.xid,
        flags: req.flags,
        yiaddr: PHONE,
        chaddr: req.chaddr,
        options: vec![
            DhcpOption::MessageType(kind),
            DhcpOption::ServerIdentifier(SRV),
            DhcpOption::LeaseTime(3600),
            DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
            DhcpOption::Router(Ipv4List::from_addrs(&[SRV]).unwrap()),
            DhcpOption::Sson {
                code: 242,
                value: b"HTTPSRVR=10.0.0.1,SIP_CONTROLLER_LIST=10.0.0.1:5060;transport=udp"
                    .as_slice()
                    .into(),
            },
        ],
        ..Message::default()
    };
    let mut buf = [0u8; 576];
    let n = m.encode(&mut buf).unwrap();
    buf[..n].to_vec()
}

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.split("\r\n")
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or("")
}

fn sip_answer(req: &str, password_ok: bool) -> String {
    let status = if password_ok {
        "200 OK"
    } else {
        "401 Unauthorized"
    };
    let mut r = format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=reg1\r\nCall-ID: {}\r\nCSeq: {}\r\n",
        header(req, "Via"),
        header(req, "From"),
        header(req, "To"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
    );
    if password_ok {
        r.push_str(&format!(
            "Contact: {};expires=600\r\nExpires: 600\r\n",
            header(req, "Contact")
        ));
    } else {
        r.push_str("WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"abc\", algorithm=MD5\r\n");
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r
}

fn power_on(world: &World, mut record: Record) -> Record {
    let slots = record
        .slots
        .take()
        .unwrap_or_else(|| BootRecord::factory(SlotImage::of("factory.bin", b"factory")));
    let choice = slots
        .power_on(|slot, img| {
            let name = if slot == Slot::A { "A" } else { "B" };
            world.slots.get(name).is_some_and(|c| img.matches(c))
        })
        .unwrap();
    record.slots = Some(choice.record);
    record
}

fn config() -> BootConfig {
    let mut files = StageConfig::new(
        "9611G",
        MAC,
        "SN1",
        BootRecord::factory(SlotImage::of("factory.bin", b"factory")),
    );
    files.firmware_key = Some(FirmwareKey::of(&key()));
    BootConfig::new(files)
}

/// An input the driver owes the boot.
enum Owed {
    Receive(Peer, Vec<u8>),
    Completed(Peer),
    Closed(Peer),
    Failed(Peer),
    Entry(String),
}

/// Runs one power-on until the boot restarts or registers, answering as the peers would, in
/// `phone_sansio::harness::Transcript` (its oracles checked on every drain). `entries` answer
/// the prompts in order; `input` may feed commands at any step.
fn run(
    world: &mut World,
    record: Record,
    start: Instant,
    config: BootConfig,
    entries: &[&str],
    input: &mut dyn FnMut(&mut harness::Transcript<Boot<ChaCha20Rng>>, &Transcript),
) -> (Transcript, Record) {
    let record = power_on(world, record);
    let boot = Boot::new(config, record, ChaCha20Rng::seed_from_u64(7), start);
    let mut h = harness::Transcript::new(boot, start);
    let mut t = Transcript::default();
    let mut entries = entries.iter();
    let mut conn: Option<phone_http::ConnId> = None;
    let mut writing: Option<Slot> = None;
    let mut seen = 0;
    let mut owed: VecDeque<Owed> = VecDeque::new();
    for _ in 0..200_000 {
        // Answer what the boot did since the last look, in order.
        while seen < h.log.len() {
            let logged = h.log[seen].clone();
            seen += 1;
            match logged {
                Logged::Transmit(_, Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. })) => {
                    let m = Message::decode(&payload).unwrap();
                    let kind = m.message_type().unwrap();
                    t.dhcp.push(kind);
                    t.dhcp_at.push(t.events.len());
                    if kind == MessageType::Request {
                        t.requested.push(m.options.iter().find_map(|o| match o {
                            DhcpOption::RequestedIpAddress(a) => Some(*a),
                            _ => None,
                        }));
                    }
                    let answer = match kind {
                        MessageType::Discover => Some(reply(&m, MessageType::Offer)),
                        MessageType::Request => Some(reply(&m, MessageType::Ack)),
                        _ => None,
                    };
                    if let Some(a) = answer {
                        owed.push_back(Owed::Receive(Peer::Dhcp(Link::Udp), a));
                    }
                }
                Logged::Transmit(_, Transmit::Dhcp(phone_dhcp::Transmit::Arp(p))) => {
                    t.arps.push((p.kind, t.events.len()));
                    if let Some(owner) = world.arp_owner
                        && p.kind == phone_dhcp::ArpKind::Probe
                    {
                        let answer = phone_dhcp::ArpMessage::reply(owner, p.target_ip, &p);
                        owed.push_back(Owed::Receive(
                            Peer::Dhcp(Link::Arp),
                            answer.to_bytes().to_vec(),
                        ));
                    }
                }
                Logged::Transmit(
                    _,
                    Transmit::Files(phone_http::Transmit {
                        conn: c,
                        action: Action::Connect { host, .. },
                    }),
                ) => {
                    let peer = Peer::Files(files::Peer::Conn(c));
                    if world.http_up && host == "10.0.0.1" {
                        conn = Some(c);
                        owed.push_back(Owed::Completed(peer));
                    } else {
                        owed.push_back(Owed::Failed(peer));
                    }
                }
                Logged::Transmit(
                    _,
                    Transmit::Files(phone_http::Transmit {
                        conn: c,
                        action: Action::Send(bytes),
                    }),
                ) => {
                    if conn != Some(c) {
                        // Sent on a connection that failed to open: the failure is owed.
                        continue;
                    }
                    let text = String::from_utf8(bytes).unwrap();
                    let path = text.split(' ').nth(1).unwrap().to_string();
                    t.gets.push(path.clone());
                    let reply = match world.files.get(&path) {
                        Some(body) => {
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(body);
                            r
                        }
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                    };
                    let peer = Peer::Files(files::Peer::Conn(c));
                    for chunk in reply.chunks(700) {
                        owed.push_back(Owed::Receive(peer, chunk.to_vec()));
                    }
                    owed.push_back(Owed::Closed(peer));
                }
                Logged::Transmit(
                    _,
                    Transmit::Files(phone_http::Transmit {
                        action: Action::Close,
                        ..
                    }),
                ) => conn = None,
                Logged::Transmit(_, Transmit::Files(x)) => panic!("unexpected {x:?}"),
                Logged::Transmit(_, Transmit::Scep(_)) => panic!("no SCEP configured"),
                Logged::Transmit(_, Transmit::Dns(_)) => panic!("no host names configured"),
                Logged::Transmit(_, Transmit::Sip(s)) => {
                    assert_eq!(s.target.host, "10.0.0.1");
                    let req = String::from_utf8(s.payload).unwrap();
                    assert!(
                        req.starts_with("REGISTER sip:lab.test SIP/2.0\r\n"),
                        "{req}"
                    );
                    t.registers += 1;
                    // A challenge first; then the password decides (the digest computation
                    // itself is phone-sip-reg's test).
                    let answer = if header(&req, "Authorization").contains("response=") {
                        sip_answer(&req, boot_password(&h.machine) == world.password)
                    } else {
                        sip_answer(&req, false)
                    };
                    owed.push_back(Owed::Receive(Peer::Sip(s.controller), answer.into_bytes()));
                }
                Logged::Transmit(_, Transmit::Lldp(l)) => t.lldp.push((l.payload, t.events.len())),
                Logged::Transmit(_, Transmit::Eapol(e)) => {
                    assert_eq!(e.destination, phone_dot1x::eapol::PAE_GROUP);
                    if let Some(answer) = world.dot1x.as_mut().and_then(|a| a.answer(&e.payload)) {
                        owed.push_back(Owed::Receive(Peer::Eapol(AUTHENTICATOR_LINK), answer));
                    }
                    t.eapol.push((e.payload, t.events.len()));
                }
                Logged::Transmit(_, Transmit::Flash(op)) => {
                    match &op {
                        FlashOp::Erase { slot, .. } => {
                            writing = Some(*slot);
                            world
                                .slots
                                .insert(if *slot == Slot::A { "A" } else { "B" }, Vec::new());
                        }
                        FlashOp::Write { slot, data, .. } => {
                            assert_eq!(writing, Some(*slot));
                            world
                                .slots
                                .get_mut(if *slot == Slot::A { "A" } else { "B" })
                                .unwrap()
                                .extend_from_slice(data);
                        }
                        FlashOp::Commit(_) => {}
                    }
                    owed.push_back(Owed::Completed(Peer::Files(files::Peer::Flash)));
                }
                Logged::Event(at, e) => {
                    if let Event::Display(s) = &e {
                        t.screens.push(s.to_string());
                        if matches!(s, Screen::Extension | Screen::Password) {
                            assert!(h.machine.prompt().is_some());
                            let text = entries.next().expect("an answer for the prompt");
                            owed.push_back(Owed::Entry((*text).to_string()));
                        }
                    }
                    let stop = matches!(e, Event::Restart | Event::Reached(Stage::Registered));
                    t.events.push(e);
                    if stop {
                        t.end = at;
                        let rec = h.machine.record().clone();
                        return (t, rec);
                    }
                }
            }
        }
        input(&mut h, &t);
        if seen < h.log.len() {
            continue;
        }
        let now = h.now;
        match owed.pop_front() {
            Some(Owed::Receive(p, bytes)) => {
                h.input(Input::Receive(now, p, &bytes));
            }
            Some(Owed::Completed(p)) => {
                h.input(Input::Completed(now, p));
            }
            Some(Owed::Closed(p)) => {
                h.input(Input::Closed(now, p));
            }
            Some(Owed::Failed(p)) => {
                h.input(Input::TransportFailed(now, p));
            }
            Some(Owed::Entry(text)) => {
                h.input(Input::Command(now, Command::Entry(&text)));
            }
            None => {
                let at = h.deadline;
                assert!(at != Instant::MAX, "boot stalled: {:?}", t.screens);
                h.input(Input::Timeout(at));
            }
        }
    }
    panic!("boot did not finish: {:?}", t.screens);
}

fn boot_password(boot: &Boot<ChaCha20Rng>) -> String {
    boot.login
        .credentials
        .clone()
        .map(|c| c.1)
        .unwrap_or_default()
}

fn no_input() -> impl FnMut(&mut harness::Transcript<Boot<ChaCha20Rng>>, &Transcript) {
    |_, _| {}
}

fn position(t: &Transcript, text: &str) -> usize {
    t.screens
        .iter()
        .position(|s| s == text)
        .unwrap_or_else(|| panic!("{text:?} not shown: {:?}", t.screens))
}

#[test]
fn first_boot_flashes_then_registers_and_second_boot_reuses_everything() {
    let mut world = World::new();
    // Power-on 1: DHCP from INIT, files, new firmware flashed, restart.
    let (t1, rec) = run(
        &mut world,
        Record::default(),
        Instant::from_secs(1),
        config(),
        &[],
        &mut no_input(),
    );
    assert_eq!(
        t1.screens[..6],
        [
            "Restarting...",
            "Initializing",
            "Loading...",
            "Starting...",
            "[Program]",
            "DHCP: 0 secs"
        ]
    );
    assert_eq!(t1.dhcp[..2], [MessageType::Discover, MessageType::Request]);
    assert_eq!(
        t1.gets,
        [
            "/96x1Supgrade.txt",
            "/46xxsettings.txt",
            "/new.bin.sig",
            "/new.bin"
        ]
    );
    let http = position(&t1, "HTTP: 1 http://10.0.0.1:80/96x1Supgrade.txt");
    let obtained = position(&t1, "File Obtained; please wait... 0 secs");
    let saved = position(&t1, "Saving to flash 100%");
    assert!(position(&t1, "DHCP: 0 secs") < http && http < obtained && obtained < saved);
    assert!(matches!(t1.events.last(), Some(Event::Restart)));
    assert_eq!(rec.running_app(), "new.bin");
    assert_eq!(rec.lease_address, Some(PHONE));
    assert!(!t1.events.contains(&Event::Reached(Stage::Files)));

    // Power-on 2 (the restart): INIT-REBOOT, no software download, prompts, registered.
    let (t2, rec) = run(
        &mut world,
        rec,
        t1.end + Duration::from_secs(5),
        config(),
        &["1001", "pw"],
        &mut no_input(),
    );
    assert_eq!(
        t2.dhcp[0],
        MessageType::Request,
        "INIT-REBOOT starts with a REQUEST"
    );
    assert_eq!(t2.requested[0], Some(PHONE));
    assert!(!t2.dhcp.contains(&MessageType::Discover));
    assert_eq!(t2.gets, ["/96x1Supgrade.txt", "/46xxsettings.txt"]);
    let order = [
        "Contacting Call Server...",
        "Extension:",
        "Password:",
        "Registering...",
        "1001",
    ]
    .map(|s| position(&t2, s));
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{:?}", t2.screens);
    let reached: Vec<&Event> = t2
        .events
        .iter()
        .filter(|e| matches!(e, Event::Reached(_)))
        .collect();
    assert_eq!(
        reached,
        [
            &Event::Reached(Stage::Network),
            &Event::Reached(Stage::Files),
            &Event::Reached(Stage::Certificate),
            &Event::Reached(Stage::Registered)
        ]
    );
    assert_eq!(rec.credentials, Some(("1001".into(), "pw".into())));
    assert_eq!(
        rec.slots.as_ref().map(|s| s.state),
        Some(crate::flash::SlotState::Confirmed)
    );

    // Power-on 3: the same state; nothing asked, nothing downloaded but the scripts.
    let (t3, rec3) = run(
        &mut world,
        rec.clone(),
        t2.end + Duration::from_secs(60),
        config(),
        &[],
        &mut no_input(),
    );
    assert_eq!(t3.dhcp[0], MessageType::Request);
    assert!(!t3.screens.iter().any(|s| s == "Extension:"));
    assert!(!t3.gets.iter().any(|g| g.starts_with("/new.bin")));
    assert_eq!(rec3.credentials, rec.credentials);
    // Second boot to registered in virtual time: the ARP probe dominates (RFC 5227).
    assert!(
        t3.end
            .saturating_duration_since(t2.end + Duration::from_secs(60))
            < Duration::from_secs(15)
    );
}

#[test]
fn wrong_password_prompts_again() {
    let mut world = World::new();
    world.slots.insert("A", b"factory".to_vec());
    world.files.insert(
        "/96x1Supgrade.txt".into(),
        b"GET 46xxsettings.txt\n".to_vec(),
    );
    let (t, rec) = run(
        &mut world,
        Record::default(),
        Instant::from_secs(1),
        config(),
        &["1001", "bad", "1001", "pw"],
        &mut no_input(),
    );
    let failed = position(&t, "Registration failed");
    let second_prompt = t
        .screens
        .iter()
        .enumerate()
        .filter(|(_, s)| *s == "Extension:")
        .map(|(i, _)| i)
        .nth(1)
        .expect("a second Extension: prompt");
    assert!(failed < second_prompt);
    assert_eq!(rec.credentials, Some(("1001".into(), "pw".into())));
}

#[test]
fn no_file_server_uses_the_stored_settings() {
    let mut world = World::new();
    world.files.insert(
        "/96x1Supgrade.txt".into(),
        b"GET 46xxsettings.txt\n".to_vec(),
    );
    let mut cfg = config();
    cfg.credentials = Some(("1001".into(), "pw".into()));
    let (_, rec) = run(
        &mut world,
        Record::default(),
        Instant::from_secs(1),
        cfg.clone(),
        &[],
        &mut no_input(),
    );
    world.http_up = false;
    cfg.files.walk_rounds = 1;
    let (t, _) = run(
        &mut world,
        rec,
        Instant::from_secs(100),
        cfg,
        &[],
        &mut no_input(),
    );
    assert!(t.gets.is_empty());
    assert!(t.events.iter().any(|e| matches!(
        e,
        Event::Warning(Warning::Files(FileWarning::NoServerAnswered))
    )));
    // SIPDOMAIN came from the stored settings file: the REGISTER went to sip:lab.test.
    assert!(t.events.contains(&Event::Reached(Stage::Registered)));
}

#[test]
fn craft_static_address_skips_dhcp() {
    let mut world = World::new();
    world.files.insert(
        "/96x1Supgrade.txt".into(),
        b"GET 46xxsettings.txt\n".to_vec(),
    );
    // No DHCP, so no SSON: the settings file names the controller.
    world.files.insert(
        "/46xxsettings.txt".into(),
        b"SET SIPDOMAIN lab.test\nSET SIP_CONTROLLER_LIST 10.0.0.1:5060;transport=udp\n".to_vec(),
    );
    let mut pressed = false;
    let mut craft = |h: &mut harness::Transcript<Boot<ChaCha20Rng>>, t: &Transcript| {
        if !pressed && t.screens.iter().any(|s| s == "DHCP: 0 secs") {
            pressed = true;
            let now = h.now;
            h.input(Input::Command(now, Command::Program));
            assert_eq!(h.machine.phase(), Phase::Craft);
            let addr = CraftCommand::Address(Some(StaticAddress {
                address: Ipv4Addr::new(10, 0, 0, 50),
                mask: Ipv4Addr::new(255, 255, 255, 0),
                router: SRV,
                file_server: SRV,
            }));
            h.input(Input::Command(now, Command::Craft(CraftCommand::Group(5))));
            h.input(Input::Command(now, Command::Craft(addr)));
            h.input(Input::Command(now, Command::Craft(CraftCommand::Exit)));
        }
    };
    let (t, rec) = run(
        &mut world,
        Record::default(),
        Instant::from_secs(1),
        config(),
        &[],
        &mut craft,
    );
    assert!(t.screens.iter().any(|s| s.starts_with("Craft")));
    assert!(matches!(t.events.last(), Some(Event::Restart)));
    assert_eq!(rec.craft.group, Some(5));
    let mut cfg = config();
    cfg.credentials = Some(("1001".into(), "pw".into()));
    let (t, _) = run(
        &mut world,
        rec,
        Instant::from_secs(50),
        cfg,
        &[],
        &mut no_input(),
    );
    assert!(t.dhcp.is_empty(), "static addressing sends no DHCP");
    assert!(
        t.events
            .iter()
            .any(|e| matches!(e, Event::Configure(n) if n.address == Ipv4Addr::new(10, 0, 0, 50)))
    );
    // Nobody answered the probes: the address was probed, then configured.
    let configured = t
        .events
        .iter()
        .position(|e| matches!(e, Event::Configure(_)))
        .unwrap();
    let probes: Vec<_> = t
        .arps
        .iter()
        .filter(|(k, _)| *k == phone_dhcp::ArpKind::Probe)
        .collect();
    assert_eq!(probes.len(), usize::from(phone_dhcp::acd::PROBE_NUM));
    assert!(probes.iter().all(|(_, before)| *before <= configured));
    assert_eq!(t.gets[0], "/96x1Supgrade.txt");
    assert!(t.events.contains(&Event::Reached(Stage::Registered)));
}

fn static_record() -> Record {
    let mut record = Record::default();
    record.craft.static_address = Some(StaticAddress {
        address: PHONE,
        mask: Ipv4Addr::new(255, 255, 255, 0),
        router: SRV,
        file_server: SRV,
    });
    record
}

/// Issue 11 item 3: a craft static address is probed (RFC 5227, the default 200 ms budget)
/// before it is configured; the probes and announcements go out as `Transmit::Dhcp(Arp)`.
#[test]
fn static_address_probed_then_configured() {
    let mut world = World::new();
    world.files.insert(
        "/96x1Supgrade.txt".into(),
        b"GET 46xxsettings.txt\n".to_vec(),
    );
    world.files.insert(
        "/46xxsettings.txt".into(),
        b"SET SIPDOMAIN lab.test\nSET SIP_CONTROLLER_LIST 10.0.0.1:5060;transport=udp\n".to_vec(),
    );
    let mut cfg = config();
    cfg.credentials = Some(("1001".into(), "pw".into()));
    let start = Instant::from_secs(1);
    let (t, _) = run(
        &mut world,
        static_record(),
        start,
        cfg,
        &[],
        &mut no_input(),
    );
    assert!(t.dhcp.is_empty());
    let configured = t
        .events
        .iter()
        .position(|e| matches!(e, Event::Configure(n) if n.address == PHONE))
        .expect("configured");
    let kinds: Vec<_> = t.arps.iter().map(|(k, _)| *k).collect();
    use phone_dhcp::ArpKind::{Announce, Probe};
    // The boot registers before the second announcement is due (ANNOUNCE_INTERVAL later).
    assert_eq!(kinds, [Probe, Probe, Probe, Announce]);
    // Every probe before Configure; the announcement after it.
    assert!(t.arps[..3].iter().all(|(_, n)| *n <= configured));
    assert!(t.arps[3..].iter().all(|(_, n)| *n > configured));
    assert!(t.events.contains(&Event::Reached(Stage::Registered)));
    assert!(
        !t.screens
            .iter()
            .any(|s| *s == Screen::AddressConflict.to_string())
    );
}

/// Another host answers the probe: `Address conflict` is shown and logged, the address is not
/// configured, and the boot goes no further.
#[test]
fn static_address_conflict_during_probe() {
    let other = [2, 0, 0, 0, 0, 9];
    let t0 = Instant::from_secs(1);
    let mut boot = Boot::new(config(), static_record(), ChaCha20Rng::seed_from_u64(7), t0);
    let mut now = t0;
    let mut out = Vec::new();
    let mut probe = None;
    for _ in 0..10 {
        for o in drain(&mut boot, now) {
            if let Output::Transmit(Transmit::Dhcp(phone_dhcp::Transmit::Arp(p))) = &o {
                probe.get_or_insert(*p);
            }
            out.push(o);
        }
        if probe.is_some() {
            break;
        }
        now = boot.poll_timeout().unwrap();
        boot.handle_input(Input::Timeout(now));
    }
    let probe = probe.expect("a probe");
    assert_eq!(probe.kind, phone_dhcp::ArpKind::Probe);
    assert_eq!(probe.target_ip, PHONE);
    let answer = phone_dhcp::ArpMessage::reply(other, PHONE, &probe).to_bytes();
    boot.handle_input(Input::Receive(now, Peer::Dhcp(Link::Arp), &answer));
    for _ in 0..10 {
        out.extend(drain(&mut boot, now));
        match boot.poll_timeout() {
            Some(t) => {
                now = t;
                boot.handle_input(Input::Timeout(now));
            }
            None => break,
        }
    }
    assert!(out.contains(&Output::Event(Event::Display(Screen::AddressConflict))));
    assert!(
        out.contains(&Output::Event(Event::Warning(Warning::AddressConflict(
            PHONE
        ))))
    );
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Event(Event::Configure(_)))),
        "a conflicting address is not configured"
    );
    let probes = out
        .iter()
        .filter(|o| matches!(o, Output::Transmit(Transmit::Dhcp(_))))
        .count();
    assert_eq!(probes, 1, "no probe after the conflict");
    assert_eq!(boot.phase(), Phase::Network);
    assert!(boot.network().is_none());
    assert_eq!(boot.poll_timeout(), None);
}

/// Polls until `Timeout`, checking the contract's oracles by hand.
fn drain(boot: &mut Boot<ChaCha20Rng>, now: Instant) -> Vec<Output<Transmit, Event>> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        match boot.poll_output() {
            Output::Timeout(t) => {
                assert!(t >= now, "deadline in the past");
                assert_eq!(boot.poll_timeout().unwrap_or(Instant::MAX), t);
                return out;
            }
            o => out.push(o),
        }
    }
    panic!("unbounded outputs");
}

fn xid_of(t: &Transmit) -> Option<u32> {
    match t {
        Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. }) => {
            Message::decode(payload).ok().map(|m| m.xid)
        }
        _ => None,
    }
}

fn cseq_of(payload: &[u8]) -> String {
    header(core::str::from_utf8(payload).unwrap(), "CSeq").to_string()
}

/// Commit on take, end to end (issue 10): a boot polled for nothing moves no child's counter;
/// a child's transmit is pulled from it only as the caller polls the boot; a transmit taken and
/// reported failed is retried with the right counters (DHCP: the same xid, the same
/// transaction; SIP: a new request with the next CSeq; files: the next server on a new
/// connection).
#[test]
fn commit_on_take() {
    let t0 = Instant::from_secs(1);
    let mut boot = Boot::new(
        config(),
        Record::default(),
        ChaCha20Rng::seed_from_u64(7),
        t0,
    );
    // Inputs without polls: the DHCP client stays in INIT, nothing drawn or sent.
    for i in 1..=30 {
        boot.handle_input(Input::Timeout(t0 + Duration::from_millis(100 * i)));
    }
    let now = t0 + Duration::from_secs(3);
    assert_eq!(
        boot.dhcp().unwrap().state(),
        phone_dhcp::client::State::Init
    );
    assert_eq!(
        boot.poll_timeout(),
        Some(now),
        "outputs pending count as now"
    );
    // One poll at a time: the DISCOVER is handed out only when polled to it.
    let mut first = None;
    for _ in 0..20 {
        match boot.poll_output() {
            Output::Transmit(t) => {
                first = Some(t);
                break;
            }
            Output::Event(_) => {
                assert_eq!(
                    boot.dhcp().unwrap().state(),
                    phone_dhcp::client::State::Init
                );
            }
            Output::Timeout(t) => panic!("no DISCOVER before {t:?}"),
        }
    }
    let first = first.unwrap();
    let xid = xid_of(&first).expect("a DHCP datagram");
    assert_eq!(
        boot.dhcp().unwrap().state(),
        phone_dhcp::client::State::Selecting
    );
    // The send failed: the retry is the same transmission (same xid).
    boot.handle_input(Input::TransportFailed(now, Peer::Dhcp(Link::Udp)));
    assert!(
        drain(&mut boot, now)
            .iter()
            .all(|o| !matches!(o, Output::Transmit(_)))
    );
    let later = boot.poll_timeout().unwrap();
    boot.handle_input(Input::Timeout(later));
    let retry: Vec<u32> = drain(&mut boot, later)
        .iter()
        .filter_map(|o| match o {
            Output::Transmit(t) => xid_of(t),
            _ => None,
        })
        .collect();
    assert_eq!(retry, [xid]);

    // SIP and files: a static address, a file server that refuses connections, the
    // controller and credentials from the operator.
    let mut cfg = config();
    cfg.credentials = Some(("1001".into(), "pw".into()));
    cfg.sets = vec![
        (
            "SIP_CONTROLLER_LIST".into(),
            "10.0.0.1:5060;transport=udp".into(),
        ),
        ("SIPDOMAIN".into(), "lab.test".into()),
    ];
    cfg.files.walk_rounds = 1;
    let mut record = Record::default();
    record.craft.static_address = Some(StaticAddress {
        address: PHONE,
        mask: Ipv4Addr::new(255, 255, 255, 0),
        router: SRV,
        file_server: SRV,
    });
    let mut boot = Boot::new(cfg, record, ChaCha20Rng::seed_from_u64(7), t0);
    assert!(boot.dhcp().is_none());
    let mut now = t0;
    let mut register = None;
    let mut conns = Vec::new();
    for _ in 0..100 {
        for o in drain(&mut boot, now) {
            match o {
                Output::Transmit(Transmit::Files(phone_http::Transmit {
                    conn,
                    action: Action::Connect { .. },
                })) => conns.push(conn),
                Output::Transmit(Transmit::Sip(s)) => register = Some(s),
                _ => {}
            }
        }
        if register.is_some() {
            break;
        }
        if let Some(&c) = conns.last()
            && boot.file_stage().is_some()
        {
            boot.handle_input(Input::TransportFailed(
                now,
                Peer::Files(files::Peer::Conn(c)),
            ));
            continue;
        }
        now = boot.poll_timeout().unwrap();
        boot.handle_input(Input::Timeout(now));
    }
    assert_eq!(conns, [1], "one server, one connection, refused");
    let register = register.expect("a REGISTER");
    assert_eq!(boot.phase(), Phase::Registration);
    assert_eq!(cseq_of(&register.payload), "1 REGISTER");
    assert_eq!(boot.sip().unwrap().cseq(0), Some(1));
    // The REGISTER could not be sent: a new request with the next CSeq.
    boot.handle_input(Input::TransportFailed(now, Peer::Sip(0)));
    let mut again = Vec::new();
    for _ in 0..5 {
        for o in drain(&mut boot, now) {
            if let Output::Transmit(Transmit::Sip(s)) = o {
                again.push(s);
            }
        }
        if !again.is_empty() {
            break;
        }
        now = boot.poll_timeout().unwrap();
        boot.handle_input(Input::Timeout(now));
    }
    assert_eq!(again.len(), 1);
    assert_eq!(cseq_of(&again[0].payload), "2 REGISTER");
    assert_eq!(boot.sip().unwrap().cseq(0), Some(2));
    // Time passes without polls: Timer E would retransmit, yet nothing is taken or counted.
    for s in 1..=40 {
        boot.handle_input(Input::Timeout(now + Duration::from_millis(250 * s)));
    }
    assert_eq!(boot.sip().unwrap().cseq(0), Some(2));
}

/// After `Configure` the detector keeps running: a first conflict is defended, a second within
/// DEFEND_INTERVAL gives the address up (`Deconfigure`, logged as a conflict).
#[test]
fn static_address_defended_then_lost() {
    let t0 = Instant::from_secs(1);
    let mut boot = Boot::new(config(), static_record(), ChaCha20Rng::seed_from_u64(7), t0);
    let mut now = t0;
    let mut configured = false;
    for _ in 0..20 {
        configured |= drain(&mut boot, now)
            .iter()
            .any(|o| matches!(o, Output::Event(Event::Configure(_))));
        if configured {
            break;
        }
        now = boot.poll_timeout().unwrap();
        boot.handle_input(Input::Timeout(now));
    }
    assert!(configured);
    assert!(
        now <= t0 + Duration::from_millis(200),
        "within the default budget"
    );
    let other = [2, 0, 0, 0, 0, 9];
    let claim = phone_dhcp::ArpPacket::announce(other, PHONE).to_bytes();
    boot.handle_input(Input::Receive(now, Peer::Dhcp(Link::Arp), &claim));
    let out = drain(&mut boot, now);
    assert!(out.contains(&Output::Event(Event::Warning(Warning::Dhcp(
        phone_dhcp::Event::Defended(PHONE)
    )))));
    assert!(!out.contains(&Output::Event(Event::Deconfigure)));
    let later = now + Duration::from_secs(1);
    boot.handle_input(Input::Receive(later, Peer::Dhcp(Link::Arp), &claim));
    let out = drain(&mut boot, later);
    assert!(out.contains(&Output::Event(Event::Deconfigure)));
    assert!(
        out.contains(&Output::Event(Event::Warning(Warning::LeaseLost(
            phone_dhcp::client::LostReason::Conflict
        ))))
    );
    assert!(boot.network().is_none());
}

// ---- Stage 1: the LLDP-MED agent composed by the boot (link.md §1, issue 14) ----

const SWITCH: [u8; 6] = [0x02, 0x5e, 0x00, 0x00, 0x00, 0x01];

/// The switch's LLDPDU (lldpd 1.0.16 as a Class IV network connectivity device): a voice
/// policy tagged on `vlan` with priority 5 and DSCP 46 (more-servers.md §2), or none; `ttl` 0
/// is its shutdown frame.
fn switch_frame(vlan: Option<u16>, ttl: u16) -> Vec<u8> {
    let mut f = phone_lldp::Lldpdu::new(
        phone_lldp::Id::chassis_mac(SWITCH),
        phone_lldp::Id::port_mac(SWITCH),
        ttl,
    );
    if ttl > 0 {
        f.system_name = Some("vr-switch".into());
        f.med_capabilities = Some(phone_lldp::MedCapabilities {
            capabilities: 0x003f,
            device_type: 4,
        });
        if let Some(v) = vlan {
            f.network_policies
                .push(phone_lldp::NetworkPolicy::voice(true, v, 5, 46));
        }
    }
    f.encode().unwrap()
}

/// A world whose upgrade script flashes nothing (the boot goes straight on to SIP).
fn world_without_firmware() -> World {
    let mut w = World::new();
    w.files.insert(
        "/96x1Supgrade.txt".into(),
        b"GET 46xxsettings.txt\n".to_vec(),
    );
    w
}

fn lldp_config() -> BootConfig {
    let mut cfg = config();
    cfg.credentials = Some(("1001".into(), "pw".into()));
    cfg
}

/// Feeds `frame` once, as soon as `when` holds.
fn feed_lldp_when(
    frame: Vec<u8>,
    when: impl Fn(&Transcript) -> bool,
) -> impl FnMut(&mut harness::Transcript<Boot<ChaCha20Rng>>, &Transcript) {
    let mut sent = false;
    move |h, t| {
        if !sent && when(t) {
            sent = true;
            let now = h.now;
            h.input(Input::Receive(now, Peer::Lldp, &frame));
        }
    }
}

fn lldp_events(t: &Transcript) -> Vec<phone_lldp::Event> {
    t.events
        .iter()
        .filter_map(|e| match e {
            Event::Lldp(l) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

fn l2qvlan(store: &phone_settings::Store) -> (Option<i64>, phone_settings::Source) {
    let source = store
        .get("L2QVLAN")
        .map_or(phone_settings::Source::Default, |e| e.source);
    (store.int("L2QVLAN").map(i64::from), source)
}

fn vlan_index(t: &Transcript, vid: u16) -> usize {
    t.events
        .iter()
        .position(|e| *e == Event::Vlan(phone_dhcp::client::Vlan::Tagged(vid)))
        .unwrap_or_else(|| panic!("no move to VLAN {vid}: {:?}", t.events))
}

/// LLDP_ENABLED 2 (the default): nothing is sent until the switch speaks; its voice policy,
/// learned while DHCP still looks for an address, moves DHCP to VLAN 30 at once (`VLAN ID =
/// 30`), L2Q/L2QVLAN come from LLDP, the phone answers with its MED inventory (fast start:
/// the switch is MED-capable) and its address once it has one, advertising the VLAN in use.
#[test]
fn lldp_policy_during_dhcp_moves_to_the_voice_vlan_and_registers_there() {
    let mut world = world_without_firmware();
    let (t, _) = run(
        &mut world,
        Record::default(),
        Instant::from_secs(1),
        lldp_config(),
        &[],
        &mut {
            let mut feed = feed_lldp_when(switch_frame(Some(30), 120), |t| !t.dhcp.is_empty());
            let mut waited = false;
            move |h: &mut harness::Transcript<Boot<ChaCha20Rng>>, t: &Transcript| {
                feed(h, t);
                // Once configured on the VLAN, let a second pass: the next frame carries the
                // address (frames are at least 1 s apart).
                let moved = t
                    .events
                    .iter()
                    .position(|e| matches!(e, Event::Vlan(phone_dhcp::client::Vlan::Tagged(_))));
                let configured = moved.is_some_and(|m| {
                    t.events[m..]
                        .iter()
                        .any(|e| matches!(e, Event::Configure(_)))
                });
                if !waited && configured {
                    waited = true;
                    let later = h.now + Duration::from_millis(1500);
                    h.input(Input::Timeout(later));
                }
            }
        },
    );
    assert!(
        matches!(t.events.last(), Some(Event::Reached(Stage::Registered))),
        "{:?}",
        t.events
    );
    let first_lldp = t.lldp.first().map(|(_, i)| *i).unwrap();
    let learned = t
        .events
        .iter()
        .position(|e| matches!(e, Event::Lldp(phone_lldp::Event::VoicePolicy { .. })))
        .unwrap();
    // Nothing sent before the switch's frame (LLDP_ENABLED 2).
    assert!(
        first_lldp > 0 && first_lldp >= learned.saturating_sub(1),
        "{first_lldp} {learned}"
    );
    assert_eq!(
        lldp_events(&t)
            .into_iter()
            .filter(|e| matches!(e, phone_lldp::Event::VoicePolicy { .. }))
            .collect::<Vec<_>>(),
        [phone_lldp::Event::VoicePolicy {
            vlan: 30,
            tagged: true,
            priority: 5,
            dscp: 46
        }]
    );
    let moved = vlan_index(&t, 30);
    assert!(moved > learned);
    assert!(
        t.screens.iter().any(|s| s == "VLAN ID = 30"),
        "{:?}",
        t.screens
    );
    // DHCP started again on the VLAN: a second DISCOVER after the move.
    assert!(
        t.dhcp
            .iter()
            .filter(|m| **m == MessageType::Discover)
            .count()
            >= 2,
        "{:?}",
        t.dhcp
    );
    // The phone's frames: MED Class III with its inventory; later ones carry its address and
    // the voice VLAN it is on.
    let frames: Vec<phone_lldp::Lldpdu> = t
        .lldp
        .iter()
        .map(|(b, _)| phone_lldp::Lldpdu::decode(b).unwrap())
        .collect();
    let f0 = &frames[0];
    assert_eq!(f0.chassis_id, phone_lldp::Id::chassis_mac(MAC));
    assert_eq!(f0.ttl, 120);
    assert_eq!(f0.med_capabilities.map(|m| m.device_type), Some(3));
    assert_eq!(f0.inventory.model.as_deref(), Some("9611G"));
    assert_eq!(f0.inventory.serial_number.as_deref(), Some("SN1"));
    assert_eq!(
        f0.inventory.firmware_revision.as_deref(),
        Some("factory.bin")
    );
    assert_eq!(
        f0.inventory.manufacturer.as_deref(),
        Some(link::MANUFACTURER)
    );
    assert_eq!(
        f0.system_name.as_deref(),
        Some(phone_dhcp::host_name(MAC).as_str())
    );
    let last = frames.last().unwrap();
    assert_eq!(
        last.management_addresses.first().map(|a| a.address.clone()),
        Some(PHONE.octets().to_vec()),
        "{frames:?}"
    );
    assert_eq!(
        last.voice_policy().map(|p| (p.tagged, p.vlan)),
        Some((true, 30))
    );
}

/// A policy learned while the file stage runs is laid over its result: the stage 5 re-check
/// (after `Contacting Call Server...`) moves DHCP to the VLAN, the files run again there, and
/// the boot registers; L2QVLAN is LLDP's even though the file stage began without it.
#[test]
fn lldp_policy_during_the_file_stage_moves_at_the_vlan_recheck() {
    let mut world = world_without_firmware();
    let mut boot_settings = None;
    let frame = switch_frame(Some(30), 120);
    let mut sent = false;
    let (t, _) = run(
        &mut world,
        Record::default(),
        Instant::from_secs(1),
        lldp_config(),
        &[],
        &mut |h, t| {
            if !sent && !t.gets.is_empty() {
                sent = true;
                assert_eq!(h.machine.phase(), Phase::Files);
                let now = h.now;
                h.input(Input::Receive(now, Peer::Lldp, &frame));
            }
            boot_settings = Some(h.machine.settings().clone());
        },
    );
    assert!(matches!(
        t.events.last(),
        Some(Event::Reached(Stage::Registered))
    ));
    let contacting = position(&t, "Contacting Call Server...");
    assert!(
        t.screens[contacting..].iter().any(|s| s == "VLAN ID = 30"),
        "{:?}",
        t.screens
    );
    // The files ran twice: on the data VLAN, then on the voice VLAN.
    assert_eq!(
        t.gets.iter().filter(|g| *g == "/46xxsettings.txt").count(),
        2,
        "{:?}",
        t.gets
    );
    let s = boot_settings.unwrap();
    assert_eq!(l2qvlan(&s), (Some(30), phone_settings::Source::Lldp));
    assert_eq!(s.int("L2Q"), Some(1));
}

/// A policy learned once registration runs restarts the boot from DHCP on the new VLAN (SIP
/// stops and runs again there).
#[test]
fn lldp_policy_during_registration_moves_and_registers_again() {
    let mut world = world_without_firmware();
    let (t, _) = run(
        &mut world,
        Record::default(),
        Instant::from_secs(1),
        lldp_config(),
        &[],
        &mut feed_lldp_when(switch_frame(Some(30), 120), |t| {
            t.screens.iter().any(|s| s == "Registering...")
        }),
    );
    assert!(matches!(
        t.events.last(),
        Some(Event::Reached(Stage::Registered))
    ));
    let moved = vlan_index(&t, 30);
    let registering = position(&t, "Registering...");
    assert!(
        t.events[moved..].contains(&Event::Deconfigure)
            || t.events[..moved].contains(&Event::Deconfigure)
    );
    assert!(
        t.screens[registering + 1..]
            .iter()
            .any(|s| s.starts_with("DHCP: ")),
        "back to DHCP after the move: {:?}",
        t.screens
    );
}

/// TTL 0 from the switch withdraws its values: L2Q/L2QVLAN no longer come from LLDP (the VLAN
/// in use stays), reported as `PolicyWithdrawn`.
#[test]
fn lldp_ttl_zero_withdraws_the_values() {
    let mut world = world_without_firmware();
    let learn = switch_frame(Some(30), 120);
    let bye = switch_frame(None, 0);
    let mut step = 0;
    let mut last = None;
    let (t, _) = run(
        &mut world,
        Record::default(),
        Instant::from_secs(1),
        lldp_config(),
        &[],
        &mut |h, t| {
            let now = h.now;
            if step == 0 && !t.dhcp.is_empty() {
                step = 1;
                h.input(Input::Receive(now, Peer::Lldp, &learn));
            } else if step == 1 && t.screens.iter().any(|s| s == "Registering...") {
                step = 2;
                assert_eq!(h.machine.lldp_policy().map(|p| p.vlan), Some(30));
                h.input(Input::Receive(now, Peer::Lldp, &bye));
                last = Some(h.machine.settings().clone());
                assert_eq!(h.machine.lldp_policy(), None);
            }
        },
    );
    assert_eq!(step, 2);
    assert!(matches!(
        t.events.last(),
        Some(Event::Reached(Stage::Registered))
    ));
    let ev = lldp_events(&t);
    assert!(ev.contains(&phone_lldp::Event::PolicyWithdrawn), "{ev:?}");
    let s = last.unwrap();
    assert_ne!(l2qvlan(&s).1, phone_settings::Source::Lldp);
    // Withdrawal does not move the phone back: one move only, none back to untagged.
    let moves: Vec<&Event> = t
        .events
        .iter()
        .filter(|e| matches!(e, Event::Vlan(_)))
        .collect();
    let tagged = moves
        .iter()
        .position(|e| **e == Event::Vlan(phone_dhcp::client::Vlan::Tagged(30)))
        .unwrap();
    assert_eq!(moves.len(), tagged + 1, "{moves:?}");
}

/// Stored settings with LLDP_ENABLED 0: the agent never sends, and a switch's policy is
/// ignored (no VLAN move, no LLDP values).
#[test]
fn lldp_disabled_sends_nothing_and_ignores_the_switch() {
    let mut world = world_without_firmware();
    let mut store = phone_settings::Store::new();
    store
        .apply_set("LLDP_ENABLED", "0", phone_settings::Source::SettingsFile, 1)
        .unwrap();
    let record = Record {
        settings: Some(store.encode()),
        ..Record::default()
    };
    let mut world_files = world.files.clone();
    world_files.insert(
        "/46xxsettings.txt".into(),
        b"SET SIPDOMAIN lab.test\nSET LLDP_ENABLED 0\n".to_vec(),
    );
    world.files = world_files;
    let frame = switch_frame(Some(30), 120);
    let mut fed_at = usize::MAX;
    let (t, _) = run(
        &mut world,
        record,
        Instant::from_secs(1),
        lldp_config(),
        &[],
        &mut |h, t| {
            // The switch speaks after every event of the boot.
            if t.events.len() != fed_at {
                fed_at = t.events.len();
                let now = h.now;
                h.input(Input::Receive(now, Peer::Lldp, &frame));
            }
        },
    );
    assert!(matches!(
        t.events.last(),
        Some(Event::Reached(Stage::Registered))
    ));
    assert!(t.lldp.is_empty(), "{} frames sent", t.lldp.len());
    assert!(lldp_events(&t).is_empty());
    assert!(
        !t.events
            .iter()
            .any(|e| matches!(e, Event::Vlan(phone_dhcp::client::Vlan::Tagged(_)))),
        "{:?}",
        t.events
    );
}

/// LLDP_ENABLED 1 in the stored settings: fast start at power-on (3 frames 1 s apart) before
/// any frame from a switch. The settings file then says 0: the agent shuts down with a TTL 0
/// frame once the file stage is over.
#[test]
fn lldp_enabled_fast_start_then_shutdown_by_the_settings_file() {
    let mut world = world_without_firmware();
    world.files.insert(
        "/46xxsettings.txt".into(),
        b"SET SIPDOMAIN lab.test\nSET LLDP_ENABLED 0\n".to_vec(),
    );
    let mut store = phone_settings::Store::new();
    store
        .apply_set("LLDP_ENABLED", "1", phone_settings::Source::SettingsFile, 1)
        .unwrap();
    let record = Record {
        settings: Some(store.encode()),
        ..Record::default()
    };
    let (t, _) = run(
        &mut world,
        record,
        Instant::from_secs(1),
        lldp_config(),
        &[],
        &mut no_input(),
    );
    assert!(matches!(
        t.events.last(),
        Some(Event::Reached(Stage::Registered))
    ));
    let frames: Vec<phone_lldp::Lldpdu> = t
        .lldp
        .iter()
        .map(|(b, _)| phone_lldp::Lldpdu::decode(b).unwrap())
        .collect();
    assert!(frames.len() >= 2, "{frames:?}");
    let configured = t
        .events
        .iter()
        .position(|e| matches!(e, Event::Configure(_)))
        .unwrap();
    assert!(
        t.lldp[0].1 < configured && t.dhcp.len() > 1,
        "sent at link-up, before DHCP is done"
    );
    assert!(frames[0].ttl > 0);
    assert_eq!(frames.last().map(|f| f.ttl), Some(0), "shutdown frame last");
}

/// Commit on take through the boot: the agent's fast-start count moves only when the caller
/// takes the frame; a frame reported failed on `Peer::Lldp` is sent again 1 s later with the
/// same fast-start position.
#[test]
fn lldp_commit_on_take() {
    let mut store = phone_settings::Store::new();
    store
        .apply_set("LLDP_ENABLED", "1", phone_settings::Source::SettingsFile, 1)
        .unwrap();
    let record = Record {
        settings: Some(store.encode()),
        ..Record::default()
    };
    let t0 = Instant::from_secs(5);
    let mut boot = Boot::new(lldp_config(), record, ChaCha20Rng::seed_from_u64(1), t0);
    assert_eq!(boot.lldp().map(phone_lldp::Agent::fast_start_left), Some(3));
    // Not polled: nothing moves, however often time is fed.
    boot.handle_input(Input::Timeout(t0));
    boot.handle_input(Input::Timeout(t0));
    assert_eq!(boot.lldp().map(phone_lldp::Agent::fast_start_left), Some(3));
    let mut taken = 0;
    loop {
        match boot.poll_output() {
            Output::Transmit(Transmit::Lldp(_)) => {
                taken += 1;
                break;
            }
            Output::Transmit(_) | Output::Event(_) => {}
            Output::Timeout(_) => break,
        }
    }
    assert_eq!(taken, 1);
    assert_eq!(boot.lldp().map(phone_lldp::Agent::fast_start_left), Some(2));
    // The frame could not be sent: retried 1 s later, still the second of three.
    boot.handle_input(Input::TransportFailed(t0, Peer::Lldp));
    assert_eq!(boot.lldp().map(phone_lldp::Agent::fast_start_left), Some(3));
    let retry = t0 + Duration::from_secs(1);
    assert!(boot.poll_timeout().is_some_and(|d| d <= retry));
    boot.handle_input(Input::Timeout(retry));
    let mut again = false;
    for _ in 0..64 {
        match boot.poll_output() {
            Output::Transmit(Transmit::Lldp(_)) => {
                again = true;
                break;
            }
            Output::Timeout(_) => break,
            _ => {}
        }
    }
    assert!(again);
    assert_eq!(boot.lldp().map(phone_lldp::Agent::fast_start_left), Some(2));
}

/// Stored LLDP_ENABLED 0 and no file server answering: the boot goes on with the stored
/// settings, so LLDP stays off after the file stage too (found by lab_lldp: the file stage's
/// own store had the default 2 back).
#[test]
fn lldp_disabled_in_the_stored_settings_stays_off_without_a_file_server() {
    let mut world = world_without_firmware();
    world.http_up = false;
    let mut store = phone_settings::Store::new();
    store
        .apply_set("LLDP_ENABLED", "0", phone_settings::Source::SettingsFile, 1)
        .unwrap();
    store
        .apply_set(
            "SIPDOMAIN",
            "lab.test",
            phone_settings::Source::SettingsFile,
            2,
        )
        .unwrap();
    let record = Record {
        settings: Some(store.encode()),
        ..Record::default()
    };
    let frame = switch_frame(Some(30), 120);
    let mut fed_at = usize::MAX;
    let (t, _) = run(
        &mut world,
        record,
        Instant::from_secs(1),
        lldp_config(),
        &[],
        &mut |h, t| {
            // The switch speaks after every event of the boot.
            if t.events.len() != fed_at {
                fed_at = t.events.len();
                let now = h.now;
                h.input(Input::Receive(now, Peer::Lldp, &frame));
            }
        },
    );
    assert!(matches!(
        t.events.last(),
        Some(Event::Reached(Stage::Registered))
    ));
    assert!(t.lldp.is_empty(), "{} frames sent", t.lldp.len());
    assert!(lldp_events(&t).is_empty());
}

fn pem_certs(tags: &[&str]) -> Vec<u8> {
    tags.iter()
        .map(|t| format!("-----BEGIN CERTIFICATE-----\n{t}\n-----END CERTIFICATE-----\n"))
        .collect::<String>()
        .into_bytes()
}

/// MAX_TRUSTCERTS (files.md §7) bounds the certificates kept, not the files: this boot's
/// TRUSTCERTS files first, in order, a file that does not fit whole keeps its first
/// certificates, a stored file beyond the bound is dropped; each is logged.
#[test]
fn max_trustcerts_bounds_the_certificates_kept() {
    let mut world = World::new();
    world.files.insert(
        "/96x1Supgrade.txt".into(),
        b"GET 46xxsettings.txt\n".to_vec(),
    );
    world.files.insert(
        "/46xxsettings.txt".into(),
        b"SET SIPDOMAIN lab.test\nSET TRUSTCERTS a.pem,b.pem\nSET MAX_TRUSTCERTS 2\n".to_vec(),
    );
    world.files.insert("/a.pem".into(), pem_certs(&["a1"]));
    world
        .files
        .insert("/b.pem".into(), pem_certs(&["b1", "b2"]));
    let mut cfg = config();
    cfg.credentials = Some(("1001".into(), "pw".into()));
    let stored = Record {
        trust_certs: vec![("old.pem".into(), pem_certs(&["o1"]))],
        ..Record::default()
    };
    let (t, rec) = run(
        &mut world,
        stored,
        Instant::from_secs(1),
        cfg,
        &[],
        &mut no_input(),
    );
    assert_eq!(
        rec.trust_certs,
        [
            ("a.pem".to_string(), pem_certs(&["a1"])),
            ("b.pem".to_string(), pem_certs(&["b1"])),
        ]
    );
    let limits: Vec<String> = t
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Warning(w @ Warning::Files(FileWarning::TrustCertsLimit { .. })) => {
                Some(w.to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(limits.len(), 2, "{limits:?}");
    assert!(limits[0].contains("b.pem: 1 certificate(s) not kept, 1 kept (MAX_TRUSTCERTS 2)"));
    assert!(limits[1].contains("old.pem: 1 certificate(s) not kept, 0 kept"));
    assert!(t.events.contains(&Event::Reached(Stage::Registered)));
}

/// The first boot stores the lease's terms with its address: the expiry as wall-clock time
/// (`unix_at_zero` + the clock of that power-on + the lease), the server, mask and routers.
#[test]
fn the_lease_expiry_is_stored_as_wall_clock_time() {
    let mut world = World::new();
    world.files.insert(
        "/96x1Supgrade.txt".into(),
        b"GET 46xxsettings.txt\n".to_vec(),
    );
    let mut cfg = config();
    cfg.credentials = Some(("1001".into(), "pw".into()));
    cfg.unix_at_zero = Duration::from_secs(1_800_000_000);
    let (t, rec) = run(
        &mut world,
        Record::default(),
        Instant::from_secs(1),
        cfg,
        &[],
        &mut no_input(),
    );
    assert!(t.events.contains(&Event::Reached(Stage::Registered)));
    assert_eq!(rec.lease_address, Some(PHONE));
    let terms = rec.lease_terms.expect("lease terms stored");
    assert_eq!(terms.lease_secs, 3600);
    // Bound within the first seconds of a clock that started at 1 s.
    let e = terms.expires_unix.unwrap();
    assert!(
        (1_800_000_000 + 3601..=1_800_000_000 + 3601 + 10).contains(&e),
        "{e}"
    );
    assert_eq!(terms.server_id, Some(SRV));
    assert_eq!(terms.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(terms.routers, [SRV]);
}

/// Powers on with a stored lease whose server is now silent; returns the addresses configured
/// in the first `secs` seconds, and the record then.
fn silent_server_boot(
    terms: record::LeaseTerms,
    unix_at_zero: u64,
    secs: u64,
) -> (Vec<Network>, Record) {
    let mut cfg = config();
    cfg.unix_at_zero = Duration::from_secs(unix_at_zero);
    let record = Record {
        lease_address: Some(PHONE),
        lease_terms: Some(terms),
        ..Record::default()
    };
    let start = Instant::from_secs(1);
    let boot = Boot::new(cfg, record, ChaCha20Rng::seed_from_u64(9), start);
    let mut h = harness::Transcript::new(boot, start);
    let end = start + Duration::from_secs(secs);
    while h.deadline < end {
        let at = h.deadline;
        h.input(Input::Timeout(at));
    }
    let configured = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Configure(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    let rec = h.machine.record().clone();
    (configured, rec)
}

/// RFC 2131 §3.2 across a reboot: REBOOTING with no answer keeps the stored address for the
/// rest of its lease (the expiry came through the record as wall-clock time); an expired
/// lease, or a wall clock behind the time of the grant (it cannot say what is left), is not
/// kept.
#[test]
fn rebooting_keeps_an_unexpired_stored_lease_when_the_server_is_silent() {
    let granted = 1_800_000_000u64;
    let terms = record::LeaseTerms {
        expires_unix: Some(granted + 3600),
        lease_secs: 3600,
        server_id: Some(SRV),
        subnet_mask: Some(Ipv4Addr::new(255, 255, 0, 0)),
        routers: vec![SRV],
        dns_servers: Vec::new(),
    };
    // 10 minutes after the grant: 50 minutes left.
    let (configured, rec) = silent_server_boot(terms.clone(), granted + 600, 60);
    assert_eq!(configured.len(), 1, "{configured:?}");
    let n = &configured[0];
    assert_eq!(n.address, PHONE);
    assert_eq!(n.mask, Ipv4Addr::new(255, 255, 0, 0));
    assert_eq!(n.routers, [SRV]);
    assert!((2900..=3000).contains(&n.lease_secs), "{}", n.lease_secs);
    // What is stored again is the same end of lease.
    let kept = rec.lease_terms.unwrap();
    assert!(kept.expires_unix.unwrap().abs_diff(granted + 3600) <= 1);

    // Expired an hour ago: not kept.
    let (configured, _) = silent_server_boot(terms.clone(), granted + 7200, 60);
    assert!(configured.is_empty(), "{configured:?}");
    // The wall clock reads before the grant (an RTC reset): unknown, not kept.
    let (configured, _) = silent_server_boot(terms, 1_000_000, 60);
    assert!(configured.is_empty(), "{configured:?}");
}

// --- 802.1X at stage 1 (link.md §2, Decision 14) ---------------------------------------------

/// The authenticator's port, sending to the phone's own MAC (hostapd `use_pae_group_addr=0`).
const AUTHENTICATOR_LINK: phone_dot1x::Link = phone_dot1x::Link {
    source: [0x02, 0xaa, 0, 0, 0, 1],
    multicast: false,
};
const CHALLENGE: [u8; 16] = *b"0123456789abcdef";

/// An EAP-MD5 authenticator with its internal EAP server: one user.
struct Authenticator {
    identity: &'static str,
    password: &'static str,
    /// EAPOL-Starts left unanswered first (a slow switch).
    ignore_starts: usize,
    /// Identities the phone sent.
    identities: Vec<String>,
    /// Successes and failures sent.
    results: Vec<bool>,
}

impl Authenticator {
    fn new(identity: &'static str, password: &'static str) -> Self {
        Authenticator {
            identity,
            password,
            ignore_starts: 0,
            identities: Vec::new(),
            results: Vec::new(),
        }
    }

    /// The EAPOL frame it answers `payload` with.
    fn answer(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        use phone_dot1x::eap::{EapType, Md5Challenge, Packet};
        use phone_dot1x::eapol::{self, Eapol, PacketType};
        let f = Eapol::parse(payload).unwrap();
        let eap = match f.packet_type {
            PacketType::Start if self.ignore_starts > 0 => {
                self.ignore_starts -= 1;
                return None;
            }
            PacketType::Start => Packet::Request {
                id: 1,
                method: EapType::Identity,
                data: b"",
            }
            .to_bytes(),
            PacketType::EapPacket => match Packet::parse(f.body).unwrap() {
                Packet::Response {
                    id,
                    method: EapType::Identity,
                    data,
                } => {
                    self.identities
                        .push(String::from_utf8(data.to_vec()).unwrap());
                    let c = Md5Challenge {
                        value: &CHALLENGE,
                        name: b"",
                    }
                    .to_bytes();
                    Packet::Request {
                        id: id + 1,
                        method: EapType::Md5Challenge,
                        data: &c,
                    }
                    .to_bytes()
                }
                Packet::Response {
                    id,
                    method: EapType::Md5Challenge,
                    data,
                } => {
                    let c = Md5Challenge::parse(data).unwrap();
                    let want =
                        phone_dot1x::eap::md5_response(id, self.password.as_bytes(), &CHALLENGE);
                    let ok = c.value == want
                        && self.identities.last().map(String::as_str) == Some(self.identity);
                    self.results.push(ok);
                    if ok {
                        Packet::Success { id }.to_bytes()
                    } else {
                        Packet::Failure { id }.to_bytes()
                    }
                }
                other => panic!("unexpected EAP {other:?}"),
            },
            other => panic!("unexpected EAPOL {other:?}"),
        };
        Some(eapol::eap_packet(&eap))
    }
}

/// A record whose stored settings turn 802.1X on (DOT1XSTAT 1, MD5) with these credentials.
fn dot1x_record(wait: u8, password: &str) -> Record {
    let mut store = phone_settings::Store::new();
    for (n, v) in [
        ("DOT1XSTAT", "1"),
        ("DOT1XWAIT", &*format!("{wait}")),
        ("FORCE_DOT1XID", "ph-$MACADDR"),
        ("FORCE_DOT1XPSWD", password),
    ] {
        store
            .apply_set(n, v, phone_settings::Source::SettingsFile, 1)
            .unwrap();
    }
    Record {
        settings: Some(store.encode()),
        ..Record::default()
    }
}

fn dot1x_events(t: &Transcript) -> Vec<(usize, phone_dot1x::Event)> {
    t.events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::Dot1x(d) => Some((i, d.clone())),
            _ => None,
        })
        .collect()
}

/// DOT1XWAIT=1: DHCP is held until EAP-Success, the display counts `802.1X: s secs` meanwhile
/// (the switch ignores the first EAPOL-Start, so the second one 30 s later is answered), the
/// identity has `$MACADDR` substituted, and the boot then goes on to registration.
#[test]
fn dot1xwait_1_holds_dhcp_until_eap_success() {
    let mut world = world_without_firmware();
    let mut auth = Authenticator::new("ph-0024d7e42e98", "s3cret");
    auth.ignore_starts = 1;
    world.dot1x = Some(auth);
    let (t, _) = run(
        &mut world,
        dot1x_record(1, "s3cret"),
        Instant::from_secs(1),
        config(),
        &["1001", "pw"],
        &mut no_input(),
    );
    assert!(matches!(
        t.events.last(),
        Some(Event::Reached(Stage::Registered))
    ));
    let auth = world.dot1x.as_ref().unwrap();
    assert_eq!(auth.identities, ["ph-0024d7e42e98"]);
    assert_eq!(auth.results, [true]);
    let (authorized, _) = dot1x_events(&t)
        .into_iter()
        .find(|(_, e)| matches!(e, phone_dot1x::Event::Authorized { .. }))
        .expect("authorized");
    assert!(!t.dhcp_at.is_empty());
    assert!(
        t.dhcp_at.iter().all(|&at| at > authorized),
        "DHCP at {:?}, authorized at {authorized}",
        t.dhcp_at
    );
    // Two EAPOL-Starts 30 s apart, with the seconds counted on the display.
    assert_eq!(
        t.eapol.iter().filter(|(p, _)| p == &[1, 1, 0, 0]).count(),
        2
    );
    let zero = position(&t, "802.1X: 0 secs");
    let thirty = position(&t, "802.1X: 30 secs");
    assert!(zero < thirty && thirty < position(&t, "DHCP: 0 secs"));
    assert!(!t.screens.iter().any(|s| s == "802.1X failed"));
}

/// DOT1XWAIT=1 and a wrong password: `802.1X failed` and no DHCP at all; after heldPeriod
/// (60 s) the supplicant tries again (and fails again), still without DHCP.
#[test]
fn dot1xwait_1_failure_shows_802_1x_failed_and_no_dhcp() {
    let start = Instant::from_secs(1);
    let record = power_on(&World::new(), dot1x_record(1, "wrong"));
    let boot = Boot::new(config(), record, ChaCha20Rng::seed_from_u64(7), start);
    let mut h = harness::Transcript::new(boot, start);
    let mut auth = Authenticator::new("ph-0024d7e42e98", "s3cret");
    let mut seen = 0;
    let mut screens = Vec::new();
    let mut starts = Vec::new();
    let end = start + Duration::from_secs(100);
    while h.now < end {
        let mut owed = Vec::new();
        while seen < h.log.len() {
            match h.log[seen].clone() {
                Logged::Transmit(at, Transmit::Eapol(e)) => {
                    if e.payload == [1, 1, 0, 0] {
                        starts.push(at);
                    }
                    owed.extend(auth.answer(&e.payload));
                }
                Logged::Transmit(_, Transmit::Lldp(_)) => {}
                Logged::Transmit(_, other) => panic!("sent before 802.1X succeeded: {other:?}"),
                Logged::Event(_, Event::Display(s)) => screens.push(s.to_string()),
                Logged::Event(_, e) => assert!(
                    !matches!(e, Event::Configure(_) | Event::Reached(_)),
                    "{e:?}"
                ),
            }
            seen += 1;
        }
        let now = h.now;
        if owed.is_empty() {
            let at = h.deadline;
            assert!(at != Instant::MAX, "stalled: {screens:?}");
            h.input(Input::Timeout(at));
        } else {
            for o in owed {
                h.input(Input::Receive(now, Peer::Eapol(AUTHENTICATOR_LINK), &o));
            }
        }
    }
    assert_eq!(auth.results, [false, false], "{screens:?}");
    assert_eq!(
        screens.iter().filter(|s| *s == "802.1X failed").count(),
        2,
        "{screens:?}"
    );
    assert!(
        !screens.iter().any(|s| s.starts_with("DHCP")),
        "{screens:?}"
    );
    assert!(
        screens.iter().any(|s| s == "802.1X: 59 secs"),
        "{screens:?}"
    );
    // The retry comes heldPeriod after the failure.
    assert_eq!(starts.len(), 2);
    assert_eq!(
        starts[1].saturating_duration_since(starts[0]),
        Duration::from_secs(60)
    );
    assert_eq!(h.machine.phase(), Phase::Network);
    assert!(h.machine.dhcp().is_none());
}

/// DOT1XWAIT=0: DHCP starts at once and 802.1X completes alongside; DOT1XSTAT 0 (the
/// default) sends no EAPOL at all.
#[test]
fn dot1xwait_0_runs_dhcp_alongside_and_dot1xstat_0_sends_nothing() {
    let mut world = world_without_firmware();
    world.dot1x = Some(Authenticator::new("ph-0024d7e42e98", "s3cret"));
    let (t, _) = run(
        &mut world,
        dot1x_record(0, "s3cret"),
        Instant::from_secs(1),
        config(),
        &["1001", "pw"],
        &mut no_input(),
    );
    assert!(matches!(
        t.events.last(),
        Some(Event::Reached(Stage::Registered))
    ));
    assert_eq!(world.dot1x.as_ref().unwrap().results, [true]);
    // The first DHCPDISCOVER goes out before the authenticator's answer is even delivered.
    let (authorized, _) = dot1x_events(&t)
        .into_iter()
        .find(|(_, e)| matches!(e, phone_dot1x::Event::Authorized { .. }))
        .expect("authorized");
    assert!(t.dhcp_at[0] <= authorized, "{:?} {authorized}", t.dhcp_at);
    assert!(!t.screens.iter().any(|s| s.starts_with("802.1X")));

    let mut world = world_without_firmware();
    world.dot1x = Some(Authenticator::new("x", "y"));
    let (t, _) = run(
        &mut world,
        Record::default(),
        Instant::from_secs(1),
        config(),
        &["1001", "pw"],
        &mut no_input(),
    );
    assert!(matches!(
        t.events.last(),
        Some(Event::Reached(Stage::Registered))
    ));
    assert!(t.eapol.is_empty());
}

/// Commit on take: the EAPOL-Start is the supplicant's until the caller takes it; a boot
/// polled for its deadline only sends nothing, and the 802.1X tick does not advance DHCP.
#[test]
fn dot1x_commit_on_take_and_no_secret_in_debug() {
    let t0 = Instant::from_secs(1);
    let record = power_on(&World::new(), dot1x_record(1, "s3cret"));
    let mut boot = Boot::new(config(), record, ChaCha20Rng::seed_from_u64(7), t0);
    assert_eq!(boot.poll_timeout(), Some(t0));
    let mut got = Vec::new();
    loop {
        match boot.poll_output() {
            Output::Transmit(Transmit::Eapol(e)) => got.push(e.payload),
            Output::Transmit(_) | Output::Event(_) => {}
            Output::Timeout(_) => break,
        }
    }
    assert_eq!(got, [vec![1, 1, 0, 0]]);
    // Nothing more until startPeriod; polling again gives no second Start.
    assert!(matches!(boot.poll_output(), Output::Timeout(_)));
    let s = boot.supplicant().unwrap();
    assert_eq!(s.state(), phone_dot1x::PortState::Connecting);
    assert!(!format!("{s:?}").contains("s3cret"));
    assert!(!format!("{boot:?}").contains("s3cret"));
}

// --- REUSETIME from the stored settings (dhcp.md §7) ------------------------------------------

/// Powers on with a stored address but no lease terms and a silent server; returns when (in
/// seconds after power-on) the stored address was configured, if it was within `secs`.
fn reuse_boot(settings: &[(&str, &str)], secs: u64) -> Option<u64> {
    let mut store = phone_settings::Store::new();
    for (n, v) in settings {
        store
            .apply_set(n, v, phone_settings::Source::SettingsFile, 1)
            .unwrap();
    }
    let record = Record {
        lease_address: Some(PHONE),
        settings: Some(store.encode()),
        ..Record::default()
    };
    let start = Instant::from_secs(1);
    let boot = Boot::new(config(), record, ChaCha20Rng::seed_from_u64(4), start);
    let mut h = harness::Transcript::new(boot, start);
    let end = start + Duration::from_secs(secs);
    while h.deadline < end {
        let at = h.deadline;
        h.input(Input::Timeout(at));
        let configured = h
            .events()
            .into_iter()
            .any(|e| matches!(e, Event::Configure(n) if n.address == PHONE));
        if configured {
            return Some(at.saturating_duration_since(start).as_secs());
        }
    }
    None
}

/// The settings file's REUSETIME reaches the boot's DHCP client: 20 s reuses the address of
/// the last boot after about 20 s of silence, the default after about 60 s, 0 never, and
/// DHCPSTD=1 turns reuse off.
#[test]
fn reusetime_from_the_stored_settings_reaches_dhcp() {
    let at = reuse_boot(&[("REUSETIME", "20")], 120).expect("reused with REUSETIME 20");
    assert!((20..=30).contains(&at), "reused at {at} s");
    let at = reuse_boot(&[], 120).expect("reused with the default");
    assert!((60..=70).contains(&at), "reused at {at} s");
    assert_eq!(reuse_boot(&[("REUSETIME", "0")], 120), None);
    assert_eq!(reuse_boot(&[("DHCPSTD", "1")], 120), None);
}
