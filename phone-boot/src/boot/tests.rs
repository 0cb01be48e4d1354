//! Transcript tests of the whole boot in virtual time, with scripted peers: a DHCP server, an
//! HTTP file server (upgrade script, settings, signed firmware) and a SIP registrar.

use super::*;
use crate::firmware::{FirmwareKey, Models, SigningKey, sign};
use crate::flash::{BootRecord, Slot, SlotImage};
use alloc::collections::BTreeMap;
use alloc::vec;
use phone_dhcp::{DhcpOption, Ipv4List, Message, MessageType};
use phone_http::Action;
use rand_chacha::ChaCha20Rng;

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

/// Runs one power-on until `stop` says so (or the boot halts), answering as the peers would.
/// `entries` answer the prompts in order.
fn run(
    world: &mut World,
    record: Record,
    start: Instant,
    config: BootConfig,
    entries: &[&str],
    input: &mut dyn FnMut(&mut Boot<ChaCha20Rng>, &Transcript, Instant),
) -> (Transcript, Record) {
    let record = power_on(world, record);
    let mut boot = Boot::new(config, record, ChaCha20Rng::seed_from_u64(7), start);
    let mut t = Transcript::default();
    let mut now = start;
    let mut entries = entries.iter();
    let mut conn: Option<phone_http::ConnId> = None;
    let mut writing: Option<Slot> = None;
    for _ in 0..200_000 {
        input(&mut boot, &t, now);
        match boot.poll_output() {
            Output::Transmit(Transmit::Dhcp { payload, .. }) => {
                let m = Message::decode(&payload).unwrap();
                let kind = m.message_type().unwrap();
                t.dhcp.push(kind);
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
                    boot.handle_input(Input::Dhcp(now, &a));
                }
            }
            Output::Transmit(Transmit::Arp(_)) => {}
            Output::Transmit(Transmit::File(phone_http::Transmit {
                conn: c,
                action: Action::Connect { host, .. },
            })) => {
                if world.http_up && host == "10.0.0.1" {
                    conn = Some(c);
                    boot.handle_input(Input::File(phone_sansio::Input::Completed(
                        now,
                        files::Peer::Conn(c),
                    )));
                } else {
                    boot.handle_input(Input::File(phone_sansio::Input::TransportFailed(
                        now,
                        files::Peer::Conn(c),
                    )));
                }
            }
            Output::Transmit(Transmit::File(phone_http::Transmit {
                conn: c,
                action: Action::Send(bytes),
            })) => {
                assert_eq!(conn, Some(c));
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
                for chunk in reply.chunks(700) {
                    boot.handle_input(Input::File(phone_sansio::Input::Receive(
                        now,
                        files::Peer::Conn(c),
                        chunk,
                    )));
                }
                boot.handle_input(Input::File(phone_sansio::Input::Closed(
                    now,
                    files::Peer::Conn(c),
                )));
            }
            Output::Transmit(Transmit::File(phone_http::Transmit {
                action: Action::Close,
                ..
            })) => conn = None,
            Output::Transmit(Transmit::File(t)) => panic!("unexpected {t:?}"),
            Output::Transmit(Transmit::Scep(_)) => panic!("no SCEP configured"),
            Output::Transmit(Transmit::Sip(s)) => {
                assert_eq!(s.target.host, "10.0.0.1");
                let req = String::from_utf8(s.payload).unwrap();
                assert!(
                    req.starts_with("REGISTER sip:lab.test SIP/2.0\r\n"),
                    "{req}"
                );
                t.registers += 1;
                // A challenge first; then the password decides (the digest computation itself
                // is phone-sip-reg's test).
                let answer = if header(&req, "Authorization").contains("response=") {
                    sip_answer(&req, boot_password(&boot) == world.password)
                } else {
                    sip_answer(&req, false)
                };
                boot.handle_input(Input::Sip(phone_sip_reg::Input::Datagram {
                    now,
                    controller: s.controller,
                    data: answer.as_bytes(),
                }));
            }
            Output::Transmit(Transmit::Flash(op)) => {
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
                boot.handle_input(Input::File(phone_sansio::Input::Completed(
                    now,
                    files::Peer::Flash,
                )));
            }
            Output::Event(e) => {
                if let Event::Display(s) = &e {
                    t.screens.push(s.to_string());
                    if matches!(s, Screen::Extension | Screen::Password) {
                        let text = entries.next().expect("an answer for the prompt");
                        boot.handle_input(Input::Entry(now, text));
                    }
                }
                let stop = matches!(e, Event::Restart | Event::Reached(Stage::Registered));
                t.events.push(e);
                if stop {
                    t.end = now;
                    let rec = boot.record().clone();
                    return (t, rec);
                }
            }
            Output::Timeout(at) => {
                assert!(at != Instant::MAX, "boot stalled: {:?}", t.screens);
                now = now.max(at);
                boot.handle_input(Input::Timeout(now));
            }
        }
    }
    panic!("boot did not finish: {:?}", t.screens);
}

fn boot_password(boot: &Boot<ChaCha20Rng>) -> String {
    boot.credentials.clone().map(|c| c.1).unwrap_or_default()
}

fn no_input() -> impl FnMut(&mut Boot<ChaCha20Rng>, &Transcript, Instant) {
    |_, _, _| {}
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
    assert!(
        t.events
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("stored settings")))
    );
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
    let mut craft = |boot: &mut Boot<ChaCha20Rng>, t: &Transcript, now: Instant| {
        if !pressed && t.screens.iter().any(|s| s == "DHCP: 0 secs") {
            pressed = true;
            boot.handle_input(Input::Program(now));
            let addr = CraftCommand::Address(Some(StaticAddress {
                address: Ipv4Addr::new(10, 0, 0, 50),
                mask: Ipv4Addr::new(255, 255, 255, 0),
                router: SRV,
                file_server: SRV,
            }));
            boot.handle_input(Input::Craft(now, &CraftCommand::Group(5)));
            boot.handle_input(Input::Craft(now, &addr));
            boot.handle_input(Input::Craft(now, &CraftCommand::Exit));
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
    assert_eq!(t.gets[0], "/96x1Supgrade.txt");
    assert!(t.events.contains(&Event::Reached(Stage::Registered)));
}
