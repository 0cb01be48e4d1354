//! A first boot recorded in virtual time against scripted servers (DHCP, an HTTP file server
//! with a signed image, a SCEP CA that is busy then has no CA certificate, a SIP registrar that
//! challenges), replayed, damaged, encoded, decoded, and drawn.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_dhcp::{DhcpOption, Ipv4List, Link, Message, MessageType};
use phone_http::Action;
use phone_sansio::harness::{self, Reply};
use phone_sansio::{Input, Instant};
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::boot::{Boot, BootConfig, Command, Event, Peer, Stage, Transmit};
use crate::files::{self, StageConfig};
use crate::firmware::{FirmwareKey, Models, SigningKey, sign};
use crate::flash::{BootRecord, FlashOp, Slot, SlotImage};

type Phone = Recorder<Boot<ChaCha20Rng>>;

const MAC: [u8; 6] = [0x00, 0x24, 0xd7, 0xe4, 0x2e, 0x98];
const SRV: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PHONE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const CHALLENGE: &str = "chall-7f3e9a";
const PASSWORD: &str = "1001pass";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// The servers and the phone's flash.
struct World {
    files: BTreeMap<String, Vec<u8>>,
    /// Slots A and B.
    slots: [Option<Vec<u8>>; 2],
    caps_asked: u32,
}

impl World {
    fn new() -> Self {
        let image = b"new firmware image ".repeat(4000);
        let sig = sign(&key(), "new.bin", Models::Any, &image).unwrap();
        let mut files = BTreeMap::new();
        files.insert(
            "/96x1Supgrade.txt".into(),
            b"SET APPNAME new.bin\nGET 46xxsettings.txt\n".to_vec(),
        );
        files.insert(
            "/46xxsettings.txt".into(),
            format!(
                "SET SIPDOMAIN lab.test\nSET MYCERTURL http://10.0.0.1/cgi-bin/pkiclient.exe\n\
                 SET SCEPPASSWORD {CHALLENGE}\nSET MYCERTKEYLEN 1024\nSET TRUSTCERTS lab-ca.pem\n"
            )
            .into_bytes(),
        );
        files.insert("/new.bin".into(), image);
        files.insert("/new.bin.sig".into(), sig.into_bytes());
        World {
            files,
            slots: [Some(b"factory".to_vec()), None],
            caps_asked: 0,
        }
    }

    fn power_on(&self, mut record: Record) -> Record {
        let slots = record
            .slots
            .take()
            .unwrap_or_else(|| BootRecord::factory(SlotImage::of("factory.bin", b"factory")));
        let choice = slots
            .power_on(|slot, img| {
                self.slots[idx(slot)]
                    .as_ref()
                    .is_some_and(|c| img.matches(c))
            })
            .unwrap();
        record.slots = Some(choice.record);
        record
    }

    fn http(&mut self, peer: Peer, h: &phone_http::Transmit, scep: bool) -> Vec<Reply<Peer>> {
        let ms = Duration::from_millis;
        match &h.action {
            Action::Connect { host, .. } => {
                if host == "10.0.0.1" {
                    vec![Reply::Completed { after: ms(3), peer }]
                } else {
                    vec![Reply::Failed { after: ms(3), peer }]
                }
            }
            Action::Send(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                let target = text.split(' ').nth(1).unwrap_or("").to_string();
                let response = if scep {
                    self.scep(&target)
                } else {
                    match self.files.get(&target) {
                        Some(body) => ok(body),
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                    }
                };
                let mut out: Vec<Reply<Peer>> = response
                    .chunks(1400)
                    .enumerate()
                    .map(|(i, c)| Reply::Receive {
                        after: ms(5 + i as u64 / 4),
                        peer,
                        bytes: c.to_vec(),
                    })
                    .collect();
                out.push(Reply::Closed {
                    after: ms(6 + response.len() as u64 / 5600),
                    peer,
                });
                out
            }
            Action::StartTls(_) | Action::Close => Vec::new(),
        }
    }

    fn scep(&mut self, target: &str) -> Vec<u8> {
        if target.contains("GetCACaps") {
            self.caps_asked += 1;
            if self.caps_asked == 1 {
                return b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec();
            }
            let mut r = ok(b"POSTPKIOperation\nSHA-256\nAES\n");
            r.splice(17..17, b"Content-Type: text/plain\r\n".iter().copied());
            return r;
        }
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
    }
}

fn idx(s: Slot) -> usize {
    match s {
        Slot::A => 0,
        Slot::B => 1,
    }
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
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

fn sip_answer(req: &str) -> String {
    let ok = header(req, "Authorization").contains("response=");
    let status = if ok { "200 OK" } else { "401 Unauthorized" };
    let mut r = format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=reg1\r\nCall-ID: {}\r\nCSeq: {}\r\n",
        header(req, "Via"),
        header(req, "From"),
        header(req, "To"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
    );
    if ok {
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

impl harness::Peer<Phone> for World {
    fn on_transmit(&mut self, _now: Instant, t: &Transmit) -> Vec<Reply<Peer>> {
        let ms = Duration::from_millis;
        match t {
            Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. }) => {
                let m = Message::decode(payload).unwrap();
                let answer = match m.message_type() {
                    Some(MessageType::Discover) => reply(&m, MessageType::Offer),
                    Some(MessageType::Request) => reply(&m, MessageType::Ack),
                    _ => return Vec::new(),
                };
                vec![Reply::Receive {
                    after: ms(20),
                    peer: Peer::Dhcp(Link::Udp),
                    bytes: answer,
                }]
            }
            Transmit::Dhcp(phone_dhcp::Transmit::Arp(_))
            | Transmit::Dns(_)
            | Transmit::Lldp(_)
            | Transmit::Eapol(_) => Vec::new(),
            Transmit::Files(h) => self.http(Peer::Files(files::Peer::Conn(h.conn)), h, false),
            Transmit::Scep(h) => self.http(Peer::Scep(h.conn), h, true),
            Transmit::Flash(op) => {
                match op {
                    FlashOp::Erase { slot, .. } => {
                        self.slots[idx(*slot)] = Some(Vec::new());
                    }
                    FlashOp::Write { slot, data, .. } => {
                        self.slots[idx(*slot)]
                            .get_or_insert_with(Vec::new)
                            .extend_from_slice(data);
                    }
                    FlashOp::Commit(_) => {}
                }
                vec![Reply::Completed {
                    after: ms(2),
                    peer: Peer::Files(files::Peer::Flash),
                }]
            }
            Transmit::Sip(s) => {
                let req = String::from_utf8_lossy(&s.payload).into_owned();
                if !req.starts_with("REGISTER ") {
                    return Vec::new();
                }
                vec![Reply::Receive {
                    after: ms(15),
                    peer: Peer::Sip(s.controller),
                    bytes: sip_answer(&req).into_bytes(),
                }]
            }
        }
    }
}

fn config(credentials: bool) -> BootConfig {
    let mut files = StageConfig::new(
        "9611G",
        MAC,
        "SN1",
        BootRecord::factory(SlotImage::of("factory.bin", b"factory")),
    );
    files.firmware_key = Some(FirmwareKey::of(&key()));
    let mut c = BootConfig::new(files);
    if credentials {
        c.credentials = Some(("1001".into(), PASSWORD.into()));
    }
    c
}

fn events(t: &Trace) -> Vec<&EventRecord> {
    t.power_ons
        .iter()
        .flat_map(|p| &p.entries)
        .filter_map(|e| match e {
            Entry::Output(OutputRecord::Event(e)) => Some(e),
            _ => None,
        })
        .collect()
}

/// Power-on 1 (DHCP, files, flash, restart) and power-on 2 (INIT-REBOOT, files, SCEP busy then
/// failing, REGISTER challenged then accepted), recorded.
fn record_first_boot(limits: Limits) -> (Trace, World) {
    record_boots(limits, false)
}

/// With `new_clock`, power-on 2's clock starts again from 1 s (a caller with a clock per
/// power-on).
fn record_boots(limits: Limits, new_clock: bool) -> (Trace, World) {
    let mut world = World::new();
    let start = Instant::from_secs(1);
    let phone = Phone::power_on(
        Some(Trace::with_limits(limits)),
        config(true),
        world.power_on(Record::default()),
        [7; 32],
        start,
    );
    let mut t = harness::Transcript::new(phone, start);
    t.run(&mut world, Instant::from_secs(60));
    assert_eq!(t.machine.phase(), crate::boot::Phase::Stopped);
    let record = t.machine.record().clone();
    // Powered on again a second after the last thing that happened.
    let last = match t.log.last() {
        Some(harness::Logged::Event(at, _) | harness::Logged::Transmit(at, _)) => *at,
        None => start,
    };
    let restart_at = if new_clock {
        Instant::from_secs(1)
    } else {
        last + Duration::from_secs(1)
    };
    let trace = t.machine.into_trace().unwrap();
    let phone = Phone::power_on(
        Some(trace),
        config(true),
        world.power_on(record),
        [8; 32],
        restart_at,
    );
    let mut t = harness::Transcript::new(phone, restart_at);
    t.run(&mut world, restart_at + Duration::from_secs(60));
    (t.machine.into_trace().unwrap(), world)
}

#[test]
fn a_recorded_first_boot_replays_output_for_output() {
    let (trace, _) = record_first_boot(Limits::default());
    assert_eq!(trace.power_ons.len(), 2);
    assert_eq!(trace.stopped, None);
    let ev = events(&trace);
    for s in [
        Stage::Network,
        Stage::Files,
        Stage::Certificate,
        Stage::Registered,
    ] {
        assert!(
            ev.iter().any(|e| e.kind == EventKind::Reached(s)),
            "{s:?} not reached"
        );
    }
    assert!(ev.iter().any(|e| e.kind == EventKind::Restart));
    assert!(
        ev.iter()
            .any(|e| e.kind == EventKind::Warning(WarningKind::ScepRetry))
    );
    assert!(
        ev.iter()
            .any(|e| e.kind == EventKind::Warning(WarningKind::ScepFailed))
    );
    let done = replay::<ChaCha20Rng>(&trace).unwrap();
    assert_eq!(done.power_ons, 2);
    assert_eq!(done.inputs + done.outputs, trace.entry_count());

    // Through the file format, with its secrets file: the same, byte for byte.
    let file = trace.encode();
    let back = Trace::decode(&file.trace, file.secrets.as_deref()).unwrap();
    assert!(back.unresolved.is_empty());
    assert_eq!(replay::<ChaCha20Rng>(&back).unwrap(), done);
    assert_eq!(back.encode(), file);
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn secrets_stay_out_of_the_trace_file() {
    let (trace, _) = record_first_boot(Limits::default());
    let file = trace.encode();
    assert!(!file.secrets_in_clear);
    let secrets = file.secrets.clone().unwrap();
    for s in [PASSWORD, CHALLENGE] {
        assert!(!contains(&file.trace, s.as_bytes()), "{s} in the trace");
        assert!(contains(&secrets, s.as_bytes()), "{s} not in the secrets");
    }
    // Without the secrets file: readable (the timeline works), not replayable.
    let bare = Trace::decode(&file.trace, None).unwrap();
    assert!(!bare.unresolved.is_empty());
    assert!(matches!(
        replay::<ChaCha20Rng>(&bare),
        Err(ReplayError::SecretsMissing(_))
    ));
    let (_, cfg_password) = bare.power_ons[0].config.credentials.clone().unwrap();
    assert!(cfg_password.starts_with("<secret#"), "{cfg_password}");
    assert!(timeline(&bare).contains("<svg"));
    // Someone else's secrets file is refused.
    let mut other = secrets.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    assert_eq!(
        Trace::decode(&file.trace, Some(&other)).unwrap_err(),
        TraceError::SecretsMismatch
    );
}

/// The first DHCP answer of the trace (the OFFER), as an index.
fn first_dhcp_receive(t: &Trace) -> usize {
    t.power_ons[0]
        .entries
        .iter()
        .position(|e| {
            matches!(
                e,
                Entry::Input(InputRecord::Receive(_, Peer::Dhcp(Link::Udp), _))
            )
        })
        .unwrap()
}

#[test]
fn one_changed_byte_of_one_input_is_the_first_divergence() {
    let (mut trace, _) = record_first_boot(Limits::default());
    let i = first_dhcp_receive(&trace);
    if let Entry::Input(InputRecord::Receive(_, _, bytes)) = &mut trace.power_ons[0].entries[i] {
        // The xid: the OFFER is no longer an answer to our DISCOVER.
        bytes[4] ^= 0x01;
    }
    let Err(ReplayError::Diverged(d)) = replay::<ChaCha20Rng>(&trace) else {
        panic!("no divergence");
    };
    assert_eq!(d.power_on, 1);
    assert!(d.index > i + 1, "{d}");
    assert!(matches!(
        d.after,
        Some(InputRecord::Receive(_, Peer::Dhcp(Link::Udp), _))
    ));
    // The recording took a REQUEST here; the replay has nothing to send.
    let OutputRecord::Transmit(Transmit::Dhcp(_)) = &d.expected else {
        panic!("{d}");
    };
    let shown = d.to_string();
    assert!(
        shown.contains("recorded:") && shown.contains("replayed:"),
        "{shown}"
    );
    assert!(shown.contains("DHCPREQUEST"), "{shown}");

    // A payload difference is shown byte for byte.
    let (mut trace, _) = record_first_boot(Limits::default());
    let send = trace.power_ons[0]
        .entries
        .iter()
        .position(|e| {
            matches!(
                e,
                Entry::Output(OutputRecord::Transmit(Transmit::Files(
                    phone_http::Transmit {
                        action: Action::Send(_),
                        ..
                    }
                )))
            )
        })
        .unwrap();
    if let Entry::Output(OutputRecord::Transmit(Transmit::Files(h))) =
        &mut trace.power_ons[0].entries[send]
        && let Action::Send(b) = &mut h.action
    {
        b[5] = b'X';
    }
    let Err(ReplayError::Diverged(d)) = replay::<ChaCha20Rng>(&trace) else {
        panic!("no divergence");
    };
    assert_eq!(d.index, send + 1);
    assert!(d.to_string().contains("first difference at byte 5"), "{d}");
}

#[test]
fn limits_stop_the_recording_not_the_boot() {
    let limits = Limits {
        max_entries: 200,
        ..Limits::default()
    };
    let (trace, _) = record_first_boot(limits);
    assert_eq!(trace.stopped, Some(LimitHit::Entries));
    assert_eq!(trace.entry_count(), 200);
    let file = trace.encode();
    let back = Trace::decode_with(&file.trace, file.secrets.as_deref(), &limits).unwrap();
    assert_eq!(back.stopped, Some(LimitHit::Entries));
    let done = replay::<ChaCha20Rng>(&back).unwrap();
    assert_eq!(done.inputs + done.outputs, 200);
    // A decoder with smaller bounds refuses it.
    let small = Limits {
        max_entries: 100,
        ..limits
    };
    assert!(matches!(
        Trace::decode_with(&file.trace, file.secrets.as_deref(), &small),
        Err(TraceError::TooLarge { .. })
    ));
    let tiny = Limits {
        max_total_bytes: 1000,
        ..limits
    };
    assert!(matches!(
        Trace::decode_with(&file.trace, file.secrets.as_deref(), &tiny),
        Err(TraceError::TooLarge { .. })
    ));
}

#[test]
fn damaged_files_are_typed_errors() {
    let (trace, _) = record_first_boot(Limits {
        max_entries: 400,
        ..Limits::default()
    });
    let file = trace.encode();
    let s = file.secrets.as_deref();
    // Every cut is refused (no end record, or cut inside one): the head byte by byte, then
    // 300 cuts spread over the file.
    let step = (file.trace.len() / 300).max(1);
    for n in (0..200).chain((200..file.trace.len()).step_by(step)) {
        assert!(Trace::decode(&file.trace[..n], s).is_err(), "prefix {n}");
    }
    assert_eq!(
        Trace::decode(b"PHTX\x01", None).unwrap_err(),
        TraceError::BadMagic
    );
    assert_eq!(
        Trace::decode(b"PHTR\x09", None).unwrap_err(),
        TraceError::Version(9)
    );
    let mut extra = file.trace.clone();
    extra.push(0);
    assert!(matches!(
        Trace::decode(&extra, s),
        Err(TraceError::Trailing(1))
    ));
    // Any flipped byte: an error or another trace, never a panic.
    for i in (0..file.trace.len()).step_by(step) {
        let mut b = file.trace.clone();
        b[i] ^= 0x55;
        let _ = Trace::decode(&b, s);
        let _ = Trace::decode(&b, None);
    }
}

#[test]
fn a_password_typed_at_the_prompt_is_a_secret() {
    let mut world = World::new();
    world.files.insert(
        "/96x1Supgrade.txt".into(),
        b"GET 46xxsettings.txt\n".to_vec(),
    );
    world.files.insert(
        "/46xxsettings.txt".into(),
        b"SET SIPDOMAIN lab.test\n".to_vec(),
    );
    let start = Instant::from_secs(1);
    let phone = Phone::power_on(
        Some(Trace::new()),
        config(false),
        world.power_on(Record::default()),
        [9; 32],
        start,
    );
    let mut t = harness::Transcript::new(phone, start);
    t.run(&mut world, Instant::from_secs(30));
    assert_eq!(t.machine.prompt(), Some(crate::boot::Prompt::Extension));
    let now = t.now;
    t.input(Input::Command(now, Command::Entry("1001")));
    assert_eq!(t.machine.prompt(), Some(crate::boot::Prompt::Password));
    t.input(Input::Command(now, Command::Entry("typed-s3cret")));
    t.run(&mut world, Instant::from_secs(60));
    assert!(
        t.events()
            .iter()
            .any(|e| matches!(e, Event::Reached(Stage::Registered)))
    );
    let trace = t.machine.into_trace().unwrap();
    let file = trace.encode();
    assert!(!contains(&file.trace, b"typed-s3cret"));
    assert!(contains(file.secrets.as_deref().unwrap(), b"typed-s3cret"));
    // The extension is not a secret.
    assert!(contains(&file.trace, b"1001"));
    let back = Trace::decode(&file.trace, file.secrets.as_deref()).unwrap();
    replay::<ChaCha20Rng>(&back).unwrap();
}

#[test]
fn every_configuration_field_is_recorded() {
    let mut c = config(true);
    let f = &mut c.files;
    f.http.max_head = 1;
    f.http.max_headers = 2;
    f.http.max_interim = 3;
    f.http.max_body = 4;
    f.http.max_chunk_line = 5;
    f.http.max_trailers = 6;
    f.http.timeout = Duration::from_millis(7);
    f.image_timeout = Duration::from_millis(8);
    f.max_image = 9;
    f.image_attempts = 10;
    f.walk_rounds = 11;
    f.backoff_initial = Duration::from_micros(12);
    f.backoff_max = Duration::from_nanos(13);
    f.max_list_files = 14;
    f.max_gets = 15;
    f.max_gets_per_host = 16;
    f.max_warnings = 17;
    f.flash.chunk = 18;
    f.flash.trial_boots = 19;
    f.flash.retries = 20;
    f.script.max_handoffs = 21;
    f.script.max_steps = 22;
    f.script.max_file_bytes = 23;
    f.script.max_scan_bytes = 24;
    f.script.max_warnings = 25;
    f.script.max_warning_bytes = 26;
    let mut d = phone_dhcp::Config::for_mac([1, 2, 3, 4, 5, 6]);
    d.host_name = None;
    d.vendor_class = Some(b"vc".to_vec());
    d.client_id = None;
    d.parameter_request_list = vec![1, 3];
    d.max_message_size = 1400;
    d.sson = phone_dhcp::SsonCode::new(200).unwrap();
    d.broadcast_flag = false;
    d.dhcpstd = true;
    d.l2q = phone_dhcp::client::L2q::On;
    d.l2qvlan = 12;
    d.vlantest = 13;
    d.probe_budget = Duration::from_millis(14);
    d.reuse_time = 15;
    d.router_check = false;
    d.request_retransmissions = 16;
    d.reboot_retransmissions = 17;
    c.dhcp = Some(d);
    c.sets = vec![
        ("SIPDOMAIN".into(), "x".into()),
        ("SCEPPASSWORD".into(), "y".into()),
    ];
    c.sip_port = 5070;
    c.unix_at_zero = Duration::from_secs(99);
    assert!(codec::config_round_trips(&c));
    assert!(codec::config_round_trips(&config(false)));
}

#[test]
fn the_timeline_shows_every_stage_and_every_request() {
    let (trace, _) = record_first_boot(Limits::default());
    let svg = timeline(&trace);
    if let Ok(path) = std::env::var("PHONE_TIMELINE_OUT") {
        std::fs::write(path, &svg).unwrap();
    }
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for stage in [
        "network",
        "files",
        "software",
        "certificate",
        "registration",
    ] {
        assert!(
            svg.contains(&format!("data-stage=\"{stage}\"")),
            "no {stage} bar"
        );
    }
    // Every request the trace made is a mark, with its URI (or SCEP operation) and outcome.
    for get in [
        "GET http://10.0.0.1:80/96x1Supgrade.txt → 200",
        "GET http://10.0.0.1:80/46xxsettings.txt → 200",
        "GET http://10.0.0.1:80/new.bin.sig → 200",
        "GET http://10.0.0.1:80/new.bin → 200 74 KB",
        "GET http://10.0.0.1:80/lab-ca.pem → 404",
        "GetCACaps → 503",
        "GetCACaps → 200",
        "GetCACert → 404",
        "→ DHCPDISCOVER",
        "← DHCPOFFER",
        "→ DHCPREQUEST",
        "← DHCPACK",
        "REGISTER to 10.0.0.1 (CSeq 1) → 401 Unauthorized",
        "REGISTER to 10.0.0.1 (CSeq 2) → 200 OK",
        "flash slot B",
        "reached registered",
        "SCEP failed",
    ] {
        assert!(svg.contains(get), "{get} missing");
    }
    let connects = trace
        .power_ons
        .iter()
        .flat_map(|p| &p.entries)
        .filter(|e| {
            matches!(
                e,
                Entry::Output(OutputRecord::Transmit(
                    Transmit::Files(phone_http::Transmit {
                        action: Action::Connect { .. },
                        ..
                    }) | Transmit::Scep(phone_http::Transmit {
                        action: Action::Connect { .. },
                        ..
                    })
                ))
            )
        })
        .count();
    assert_eq!(
        svg.matches("class=\"mark http").count() + svg.matches("class=\"mark scep").count(),
        connects
    );
    // Failures are red: the 404, the busy CA, the CA certificate that is not there.
    assert!(svg.contains("class=\"mark http bad\""));
    assert!(svg.matches("class=\"mark scep bad\"").count() >= 2);
    // The display line: the first screen and the idle screen with the extension.
    assert!(svg.contains(">Restarting..."));
    assert!(svg.contains(">1001<"));
}

/// The x of the dashed line that starts power-on `n`.
fn power_on_x(svg: &str, n: usize) -> f64 {
    let line = svg
        .lines()
        .find(|l| l.contains(&format!(">power-on {n}</text>")))
        .unwrap();
    let v = line.split("x1=\"").nth(1).unwrap();
    v[..v.find('"').unwrap()].parse().unwrap()
}

#[test]
fn a_clock_that_starts_again_at_power_on_still_draws_power_ons_in_order() {
    let (trace, _) = record_boots(Limits::default(), true);
    assert!(trace.power_ons[1].at < trace.power_ons[0].at + Duration::from_millis(100));
    replay::<ChaCha20Rng>(&trace).unwrap();
    let svg = timeline(&trace);
    let (x1, x2) = (power_on_x(&svg, 1), power_on_x(&svg, 2));
    assert!(x2 > x1 + 100.0, "{x1} {x2}");
    let (same, _) = record_first_boot(Limits::default());
    assert!((power_on_x(&timeline(&same), 2) - x2).abs() < 400.0);
}

/// Writes the fuzz target's seeds (`fuzz/seeds/trace_decode/`) when `PHONE_TRACE_SEEDS` names
/// a directory: traces cut at a few sizes, with and without their secrets file.
#[test]
fn fuzz_seeds() {
    let Ok(dir) = std::env::var("PHONE_TRACE_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    for n in [40u64, 150] {
        let (trace, _) = record_first_boot(Limits {
            max_entries: n,
            ..Limits::default()
        });
        let file = trace.encode();
        let mut bare = vec![0u8];
        bare.extend_from_slice(&file.trace);
        std::fs::write(dir.join(format!("seed-first-boot-{n}")), bare).unwrap();
        let s = file.secrets.unwrap_or_default();
        let mut with = vec![1u8];
        with.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
        with.extend_from_slice(&s);
        with.extend_from_slice(&file.trace);
        std::fs::write(dir.join(format!("seed-first-boot-{n}-secrets")), with).unwrap();
    }
}

/// Stage 1 in the trace: a switch's LLDPDU (`Peer::Lldp`), the phone's answers
/// (`Transmit::Lldp`) and the LLDP events are recorded, survive the file format byte for byte
/// and replay output for output.
#[test]
fn lldp_frames_and_events_are_recorded_and_replayed() {
    let mut world = World::new();
    let start = Instant::from_secs(1);
    let phone = Phone::power_on(
        Some(Trace::new()),
        config(true),
        world.power_on(Record::default()),
        [7; 32],
        start,
    );
    let mut switch = phone_lldp::Lldpdu::new(
        phone_lldp::Id::chassis_mac([2, 0x5e, 0, 0, 0, 1]),
        phone_lldp::Id::port_mac([2, 0x5e, 0, 0, 0, 1]),
        120,
    );
    switch.med_capabilities = Some(phone_lldp::MedCapabilities {
        capabilities: 0x3f,
        device_type: 4,
    });
    switch
        .network_policies
        .push(phone_lldp::NetworkPolicy::voice(false, 0, 5, 46));
    let frame = switch.encode().unwrap();
    let mut t = harness::Transcript::new(phone, start);
    t.input(Input::Receive(start, Peer::Lldp, &frame));
    t.run(&mut world, Instant::from_secs(60));
    let trace = t.machine.into_trace().unwrap();
    let entries: Vec<&Entry> = trace.power_ons.iter().flat_map(|p| &p.entries).collect();
    assert!(entries.iter().any(|e| matches!(
        e,
        Entry::Input(InputRecord::Receive(_, Peer::Lldp, b)) if *b == frame
    )));
    assert!(
        entries
            .iter()
            .any(|e| matches!(e, Entry::Output(OutputRecord::Transmit(Transmit::Lldp(_)))))
    );
    let ev = events(&trace);
    assert!(
        ev.iter()
            .any(|e| e.kind == EventKind::Lldp && e.text.starts_with("LLDP voice policy")),
        "{ev:?}"
    );
    let done = replay::<ChaCha20Rng>(&trace).unwrap();
    let file = trace.encode();
    let back = Trace::decode(&file.trace, file.secrets.as_deref()).unwrap();
    assert_eq!(back.encode(), file);
    assert_eq!(replay::<ChaCha20Rng>(&back).unwrap(), done);
    assert!(describe::peer(Peer::Lldp) == "LLDP");
}

/// Stage 1's 802.1X in the trace: the authenticator's frames (`Peer::Eapol` with its sender
/// and group flag), the phone's EAPOL (`Transmit::Eapol`), the `802.1X: s secs` screens and
/// the 802.1X events are recorded, survive the file format byte for byte and replay output for
/// output; the stored FORCE_DOT1XPSWD is written to the secrets file only.
#[test]
fn eapol_frames_and_events_are_recorded_and_replayed() {
    use phone_dot1x::eap::{EapType, Md5Challenge, Packet};
    let mut store = phone_settings::Store::new();
    for (n, v) in [
        ("DOT1XSTAT", "2"),
        ("DOT1XWAIT", "1"),
        ("FORCE_DOT1XID", "phone1"),
        ("FORCE_DOT1XPSWD", "dot1x-secret-pw"),
    ] {
        store
            .apply_set(n, v, phone_settings::Source::SettingsFile, 1)
            .unwrap();
    }
    let record = crate::boot::record::Record {
        settings: Some(store.encode()),
        ..crate::boot::record::Record::default()
    };
    let mut world = World::new();
    let start = Instant::from_secs(1);
    let phone = Phone::power_on(
        Some(Trace::new()),
        config(true),
        world.power_on(record),
        [7; 32],
        start,
    );
    let link = phone_dot1x::Link {
        source: [2, 0xaa, 0, 0, 0, 1],
        multicast: true,
    };
    let challenge = Md5Challenge {
        value: b"0123456789abcdef",
        name: b"",
    }
    .to_bytes();
    let frames = [
        Packet::Request {
            id: 1,
            method: EapType::Identity,
            data: b"",
        }
        .to_bytes(),
        Packet::Request {
            id: 2,
            method: EapType::Md5Challenge,
            data: &challenge,
        }
        .to_bytes(),
        Packet::Success { id: 2 }.to_bytes(),
    ]
    .map(|eap| phone_dot1x::eapol::eap_packet(&eap));
    let mut t = harness::Transcript::new(phone, start);
    let mut now = start;
    for f in &frames {
        now += Duration::from_millis(1500);
        t.input(Input::Timeout(now));
        t.input(Input::Receive(now, Peer::Eapol(link), f));
    }
    t.run(&mut world, Instant::from_secs(60));
    let trace = t.machine.into_trace().unwrap();
    let entries: Vec<&Entry> = trace.power_ons.iter().flat_map(|p| &p.entries).collect();
    assert!(entries.iter().any(|e| matches!(
        e,
        Entry::Input(InputRecord::Receive(_, Peer::Eapol(l), b)) if *l == link && *b == frames[2]
    )));
    assert_eq!(
        entries
            .iter()
            .filter(|e| matches!(e, Entry::Output(OutputRecord::Transmit(Transmit::Eapol(_)))))
            .count(),
        3,
        "Start, Identity, MD5"
    );
    let ev = events(&trace);
    assert!(
        ev.iter()
            .any(|e| e.kind == EventKind::Dot1x && e.text == "802.1X authorized (MD5)"),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| e.kind == EventKind::Display(ScreenKind::Dot1x) && e.text == "802.1X: 3 secs"),
        "{ev:?}"
    );
    let done = replay::<ChaCha20Rng>(&trace).unwrap();
    let file = trace.encode();
    let needle = b"dot1x-secret-pw";
    assert!(!file.trace.windows(needle.len()).any(|w| w == needle));
    let back = Trace::decode(&file.trace, file.secrets.as_deref()).unwrap();
    assert_eq!(back.encode(), file);
    assert_eq!(replay::<ChaCha20Rng>(&back).unwrap(), done);
    assert!(describe::peer(Peer::Eapol(link)) == "EAPOL");
}
