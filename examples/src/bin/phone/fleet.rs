//! `phone fleet` (issue 13): a boot storm of N virtual phones from one process, on the one
//! driver, in one thread.
//!
//! Every phone is the unchanged `phone_boot::boot::Boot` machine with its own MAC, serial, RNG
//! seed, address, TLS sessions, SCEP key and SIP registration. The fleet is one [`Task`] on the
//! [`Driver`]: it owns every phone and routes each reactor fact to its phone by handle (a map,
//! not a walk over the phones), and it turns only the phones that a fact or their own deadline
//! woke, so a turn costs what happened, not N.
//!
//! Transports (`shared/lab-recipe/more-servers.md` §5, the lab's `--fleet` profile):
//! - DHCP on the wire for every MAC: one UDP socket on port 68 of `--iface` (SO_BROADCAST,
//!   SO_BINDTODEVICE) carries every phone's DISCOVER/REQUEST (the broadcast flag is set, the
//!   client's default), and replies are handed to the phone whose `chaddr` they carry (the
//!   phone's client checks the xid itself). One raw ARP socket carries the RFC 5227 probes and
//!   announcements; an ARP packet goes to the phone whose offered address it names.
//! - HTTP(S), SCEP and SIP from the phone's own leased address: the client namespace holds the
//!   DHCP pool as an AnyIP local route (`ip route add local POOL dev lo`), so every pool
//!   address is local and a socket bound to it sends and receives as that phone. TCP
//!   connections are bound with `SocketOptions::source`; SIP has a UDP socket per phone on
//!   `ADDRESS:5060`, opened at its first SIP transmit.
//! - The flash is in memory: a phone that installs firmware acknowledges each operation at once
//!   and powers on again from its record (the images are not kept).
//!
//! `--mode register` runs N `phone_sip_reg::Client`s alone (the machine `Boot` composes for
//! registration) from `--addr-base` on: the REGISTER-only load `bench-fleet` compares with SIPp.
//!
//! Output: a progress line per `--progress-secs` (phones per stage, failures) on stderr; at the
//! end `fleet-report.json` (each phone's stage times and failure causes, percentiles, CPU and
//! memory) and `fleet.html` (phones per stage over time, latency distribution per stage) in
//! `--report DIR`, and a `RESULT ...` summary line on stdout. Exit 0 when every phone reached
//! `--until`, 1 when any did not, 2 for bad arguments, 130 when interrupted.

pub mod report;

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash as _, Hasher as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use phone_boot::boot::record::Record;
use phone_boot::boot::{Boot, BootConfig, Event, Peer, Phase, Stage, Transmit};
use phone_boot::files::StageConfig;
use phone_boot::flash::{BootRecord, SlotImage};
use phone_dhcp::Link;
use phone_sansio::{Input, Instant, Machine as _, Output};
use rand::SeedableRng as _;

use crate::cli::{IfaceArgs, Mac, SetArgs, TrustArgs};
use crate::driver::{Driver, Ended, Fact, Handle, OUTPUTS_PER_TURN, Reactor, Task};
use crate::net::{ClientIdentity, SocketOptions, TlsPolicy, Trust, resolve, server_name};

type Rng = rand_chacha::ChaCha20Rng;
type PhoneBoot = Boot<Rng>;
type SipClient = phone_sip_reg::client::Client<Rng>;

/// The stage every phone must reach.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Until {
    /// An address is configured (DHCP done).
    Network,
    /// The file stage is over.
    Files,
    /// The SCEP stage is over.
    Certificate,
    /// Registered.
    Registered,
}

/// What each virtual phone runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The whole boot (`phone_boot::boot::Boot`).
    Boot,
    /// Registration alone (`phone_sip_reg::Client`) from `--addr-base` on.
    Register,
}

/// Arguments of `phone fleet`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    iface: IfaceArgs,
    /// Number of phones.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    count: u32,
    /// Phones started per second (0: all at once).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// MODEL of every phone.
    #[arg(long, default_value = "9611G")]
    model: String,
    /// MAC of phone 0; phone k has this MAC plus k (in its low 24 bits).
    #[arg(long, default_value = "02:f1:00:00:00:00", value_parser = clap::value_parser!(Mac))]
    mac_base: Mac,
    /// Serial number prefix; phone k is PREFIX + k in 8 digits.
    #[arg(long, default_value = "FL")]
    serial_prefix: String,
    /// RNG seed of the fleet; phone k's RNG is seeded from it and k.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    sets: SetArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// The stage every phone must reach (the run ends when each did or failed).
    #[arg(long, value_enum, default_value = "registered")]
    until: Until,
    /// Directory for fleet-report.json and fleet.html.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// SIP user of phone 0; phone k is USER_FIRST + k, password USER + --password-suffix.
    #[arg(long, default_value_t = 200_000)]
    user_first: u64,
    /// Password suffix (the lab's `--sip-user-range` users have USERpass).
    #[arg(long, default_value = "pass")]
    password_suffix: String,
    /// DHCP through a relay agent (RFC 1542 §4), as perfdhcp does: every phone's message goes
    /// unicast to SERVER:67 from port 67 of this host's address towards it, which is put in
    /// giaddr (hops counted), and the server answers there. Without it, DHCP is broadcast on
    /// `--iface` like a phone's own.
    #[arg(long, value_name = "SERVER")]
    dhcp_relay: Option<Ipv4Addr>,
    /// ARP probe budget of address conflict detection, milliseconds (0: no probe).
    #[arg(long, default_value_t = 200)]
    acd_ms: u64,
    /// Per-request timeout of the file stage, seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Give up on phones still running after this many seconds.
    #[arg(long, default_value_t = 900)]
    deadline: u64,
    /// What each phone runs.
    #[arg(long, value_enum, default_value = "boot")]
    mode: Mode,
    /// --mode register: SIP_CONTROLLER_LIST (e.g. 10.77.5.1:5060;transport=udp).
    #[arg(long)]
    registrar: Option<String>,
    /// --mode register: address of phone 0 (AnyIP pool); phone k has it plus k.
    #[arg(long)]
    addr_base: Option<Ipv4Addr>,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 1.0)]
    progress_secs: f64,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, default_value = "warn")]
    log: String,
}

/// Runs `phone fleet`.
pub fn run(args: Args) -> ExitCode {
    let display = crate::term::Display::new();
    crate::term::init_tracing(&display, &args.log);
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            display.log(&format!("phone fleet: {e:#}"));
            ExitCode::from(2)
        }
    }
}

/// Where a phone is, for the progress line and the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    /// Not started yet.
    Waiting,
    /// DHCP.
    Network,
    /// The file stage.
    Files,
    /// SCEP.
    Certificate,
    /// Registration (or credentials).
    Registration,
    /// Reached `--until`.
    Done,
    /// Gave up.
    Failed,
}

impl Where {
    /// Every place, in order.
    pub const ALL: [Where; 7] = [
        Where::Waiting,
        Where::Network,
        Where::Files,
        Where::Certificate,
        Where::Registration,
        Where::Done,
        Where::Failed,
    ];

    /// The short name of the progress line and the report.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Where::Waiting => "waiting",
            Where::Network => "dhcp",
            Where::Files => "files",
            Where::Certificate => "scep",
            Where::Registration => "sip",
            Where::Done => "done",
            Where::Failed => "failed",
        }
    }
}

/// The stage names of the report, in order (index 0 is the start).
pub const STAGES: [&str; 5] = ["start", "network", "files", "certificate", "registered"];

/// One connection or socket of a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Route {
    Files(phone_http::ConnId),
    Scep(phone_http::ConnId),
    SipConn(usize),
    SipUdp,
}

enum Machine {
    Boot(Box<PhoneBoot>),
    Sip(Box<SipClient>),
}

/// One virtual phone.
struct Phone {
    machine: Option<Machine>,
    mac: [u8; 6],
    address: Option<Ipv4Addr>,
    /// The last address it had (for the report).
    leased: Option<Ipv4Addr>,
    /// The controller it registered with.
    controller: Option<String>,
    /// Connections it opened (orders the file stage's phones, see [`Fleet::turn`]).
    connects: u16,
    /// Its TLS configurations (HTTPS, SIP with its identity), with the key of what they were
    /// built from.
    tls: [Option<(u64, TlsPolicy)>; 2],
    sip_udp: Option<Handle>,
    /// UDP controllers by address (answers come from where requests went).
    sip_peers: Vec<(SocketAddr, usize)>,
    /// Stream controllers' current targets.
    sip_targets: Vec<(usize, SocketAddr)>,
    conns: Vec<(Route, Handle)>,
    deadline: Option<Instant>,
    dirty: bool,
    /// Time each of [`STAGES`] was reached.
    times: [Option<Instant>; 5],
    place: Where,
    failure: Option<String>,
    warnings: Vec<String>,
    warnings_total: u32,
    restarts: u8,
    /// A fresh boot must be built (after a restart).
    restart_due: bool,
}

/// Warnings kept per phone for the report (the count is kept in full).
const WARNINGS_KEPT: usize = 4;
/// Bytes of one kept warning.
const WARNING_BYTES: usize = 200;
/// Power-ons of one phone before it is given up.
const MAX_RESTARTS: u8 = 3;
/// Wall time the fleet spends turning phones before the driver reads the sockets again.
const TURN_BUDGET: Duration = Duration::from_millis(10);
/// A phone's turn this long generated a key (or did other heavy work).
const HEAVY_TURN: Duration = Duration::from_millis(20);

impl Phone {
    fn new(mac: [u8; 6]) -> Phone {
        Phone {
            machine: None,
            mac,
            address: None,
            leased: None,
            controller: None,
            tls: [None, None],
            connects: 0,
            sip_udp: None,
            sip_peers: Vec::new(),
            sip_targets: Vec::new(),
            conns: Vec::new(),
            deadline: None,
            dirty: false,
            times: [None; 5],
            place: Where::Waiting,
            failure: None,
            warnings: Vec::new(),
            warnings_total: 0,
            restarts: 0,
            restart_due: false,
        }
    }

    fn warn(&mut self, text: String) {
        self.warnings_total += 1;
        if self.warnings.len() < WARNINGS_KEPT {
            let mut t = text;
            if t.len() > WARNING_BYTES {
                let mut cut = WARNING_BYTES;
                while !t.is_char_boundary(cut) {
                    cut -= 1;
                }
                t.truncate(cut);
            }
            self.warnings.push(t);
        } else if let Some(last) = self.warnings.last_mut() {
            // keep the latest cause too: it usually explains a failure
            *last = text.chars().take(WARNING_BYTES).collect();
        }
    }

    fn conn(&self, r: Route) -> Option<Handle> {
        self.conns.iter().find(|(x, _)| *x == r).map(|(_, h)| *h)
    }
}

/// What every phone of the fleet shares.
struct Template {
    mode: Mode,
    count: u32,
    rate: f64,
    model: String,
    mac_base: [u8; 6],
    serial_prefix: String,
    seed: u64,
    sets: Vec<(String, String)>,
    user_first: u64,
    password_suffix: String,
    acd: Duration,
    timeout: Duration,
    unix_at_zero: Duration,
    until: Until,
    sip: Option<phone_sip_reg::Config>,
    addr_base: Option<Ipv4Addr>,
}

impl Template {
    fn mac(&self, k: u32) -> [u8; 6] {
        let [a, b, c, d, e, f] = self.mac_base;
        let low =
            (u32::from(d) << 16 | u32::from(e) << 8 | u32::from(f)).wrapping_add(k) & 0xff_ffff;
        let [_, x, y, z] = low.to_be_bytes();
        [a, b, c, x, y, z]
    }

    fn user(&self, k: u32) -> (String, String) {
        let user = (self.user_first + u64::from(k)).to_string();
        let password = format!("{user}{}", self.password_suffix);
        (user, password)
    }

    fn rng(&self, k: u32, power_on: u8) -> Rng {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.seed, k, power_on).hash(&mut h);
        Rng::seed_from_u64(h.finish())
    }

    /// The boot of phone `k` at power-on `record`.
    fn boot(&self, k: u32, record: Record, power_on: u8, now: Instant) -> PhoneBoot {
        let mac = self.mac(k);
        let serial = format!("{}{k:08}", self.serial_prefix);
        let slots = record.slots.clone().unwrap_or_else(factory_slots);
        let mut files = StageConfig::new(&self.model, mac, &serial, slots);
        files.http.timeout = self.timeout;
        let mut config = BootConfig::new(files);
        let mut dhcp = phone_dhcp::Config::for_mac(mac);
        dhcp.probe_budget = self.acd;
        config.dhcp = Some(dhcp);
        config.sets.clone_from(&self.sets);
        config.credentials = Some(self.user(k));
        config.sip_port = 5060;
        config.unix_at_zero = self.unix_at_zero;
        Boot::new(config, record, self.rng(k, power_on), now)
    }

    fn address(&self, k: u32) -> Option<Ipv4Addr> {
        self.addr_base
            .map(|a| Ipv4Addr::from(u32::from(a).wrapping_add(k)))
    }
}

/// The relay agent's part of a message on its way to the server (RFC 1542 §4.1.1): giaddr is
/// set when the message carries none, and hops counted.
fn relay_out(payload: &mut [u8], giaddr: Ipv4Addr) {
    if payload.len() < 240 {
        return;
    }
    payload[3] = payload[3].saturating_add(1);
    if payload[24..28] == [0; 4] {
        payload[24..28].copy_from_slice(&giaddr.octets());
    }
}

/// This host's address on the route to `server` (what a relay agent puts in giaddr): the
/// source address the kernel picks for a UDP socket connected there (nothing is sent).
fn address_towards(server: Ipv4Addr) -> Result<Ipv4Addr> {
    let s = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    s.connect((server, 67))
        .with_context(|| format!("no route to the DHCP server {server}"))?;
    match s.local_addr()? {
        SocketAddr::V4(a) => Ok(*a.ip()),
        SocketAddr::V6(a) => bail!("no IPv4 address towards {server} ({a})"),
    }
}

/// The factory flash of a new phone (what `phone boot`'s state directory starts with).
fn factory_slots() -> BootRecord {
    BootRecord::factory(SlotImage::of(
        crate::state_dir::FACTORY_APP,
        crate::state_dir::FACTORY_IMAGE,
    ))
}

/// The fleet: every phone, as one task of the driver.
struct Fleet {
    t: Template,
    phones: Vec<Phone>,
    handles: HashMap<Handle, (u32, Route)>,
    dhcp: Option<Handle>,
    /// `--dhcp-relay`: the server, and this host's address towards it (giaddr).
    relay: Option<(Ipv4Addr, Ipv4Addr)>,
    arp: Option<Handle>,
    by_mac: HashMap<[u8; 6], u32>,
    by_addr: HashMap<Ipv4Addr, u32>,
    timers: BTreeSet<(Instant, u32)>,
    dirty: Vec<u32>,
    started: u32,
    t0: Instant,
    end: Instant,
    base_trust: Vec<Vec<u8>>,
    progress_every: Duration,
    next_progress: Instant,
    timeline: Vec<(Instant, [u32; 7])>,
    settled: u32,
    over: bool,
    counters: Counters,
    tty: bool,
    /// Until then, phones of the file stage wait (see [`HEAVY_TURN`]).
    heavy_until: Instant,
}

/// Packets and connections, for the report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    /// DHCP datagrams sent.
    pub dhcp_out: u64,
    /// DHCP replies handed to a phone.
    pub dhcp_in: u64,
    /// DHCP replies for no phone of ours.
    pub dhcp_foreign: u64,
    /// ARP packets sent.
    pub arp_out: u64,
    /// TCP connections opened.
    pub connects: u64,
    /// SIP messages sent.
    pub sip_out: u64,
    /// SIP messages received.
    pub sip_in: u64,
    /// Sends or connects that failed at once.
    pub send_errors: u64,
}

fn peer_of(route: Route) -> Peer {
    match route {
        Route::Files(c) => Peer::Files(phone_boot::files::Peer::Conn(c)),
        Route::Scep(c) => Peer::Scep(c),
        Route::SipConn(c) => Peer::Sip(c),
        Route::SipUdp => Peer::Sip(0),
    }
}

/// A fact about one phone's transport, before it becomes an input.
#[derive(Clone, Copy)]
enum PhoneFact<'a> {
    Receive(&'a [u8]),
    Completed,
    Closed,
    Failed,
}

impl Fleet {
    fn mark(&mut self, i: u32) {
        if let Some(p) = self.phones.get_mut(i as usize)
            && !p.dirty
        {
            p.dirty = true;
            self.dirty.push(i);
        }
    }

    fn start_time(&self, k: u32) -> Instant {
        if self.t.rate <= 0.0 {
            self.t0
        } else {
            self.t0 + Duration::from_secs_f64(f64::from(k) / self.t.rate)
        }
    }

    fn start_due(&mut self, io: &mut Reactor, now: Instant) {
        while self.started < self.t.count && self.start_time(self.started) <= now {
            let k = self.started;
            self.started += 1;
            self.start(io, k, now);
        }
    }

    fn start(&mut self, io: &mut Reactor, k: u32, now: Instant) {
        let i = k as usize;
        self.phones[i].times[0] = Some(now);
        match self.t.mode {
            Mode::Boot => {
                let record = Record {
                    slots: Some(factory_slots()),
                    ..Record::default()
                };
                let boot = self.t.boot(k, record, 0, now);
                self.phones[i].machine = Some(Machine::Boot(Box::new(boot)));
                self.phones[i].place = Where::Network;
            }
            Mode::Register => {
                let Some(addr) = self.t.address(k) else {
                    self.fail(io, k, "--mode register needs --addr-base".into());
                    return;
                };
                self.phones[i].address = Some(addr);
                self.phones[i].leased = Some(addr);
                if let Err(e) = self.open_sip_udp(io, k) {
                    self.fail(io, k, e);
                    return;
                }
                let Some(mut cfg) = self.t.sip.clone() else {
                    self.fail(io, k, "no SIP configuration".into());
                    return;
                };
                let (user, password) = self.t.user(k);
                cfg.user = user;
                cfg.password = Some(password);
                cfg.local_host = addr.to_string();
                cfg.local_port = 5060;
                let client = SipClient::new(cfg, self.t.rng(k, 0), now);
                self.phones[i].machine = Some(Machine::Sip(Box::new(client)));
                self.phones[i].place = Where::Registration;
                self.phones[i].times[1] = Some(now);
            }
        }
        self.mark(k);
    }

    /// Opens phone `k`'s SIP socket on ADDRESS:5060.
    fn open_sip_udp(&mut self, io: &mut Reactor, k: u32) -> Result<(), String> {
        let p = &self.phones[k as usize];
        if p.sip_udp.is_some() {
            return Ok(());
        }
        let Some(addr) = p.address else {
            return Err("SIP before an address".into());
        };
        let local = SocketAddr::V4(SocketAddrV4::new(addr, 5060));
        let h = io.udp(local, &SocketOptions::default()).map_err(|e| {
            format!("SIP socket on {local}: {e} (is the pool an AnyIP local route? lab up --fleet)")
        })?;
        self.phones[k as usize].sip_udp = Some(h);
        self.handles.insert(h, (k, Route::SipUdp));
        Ok(())
    }

    /// Closes every socket of a phone.
    fn close_all(&mut self, io: &mut Reactor, k: u32) {
        let p = &mut self.phones[k as usize];
        for (_, h) in p.conns.drain(..) {
            io.close(h);
            self.handles.remove(&h);
        }
        if let Some(h) = p.sip_udp.take() {
            io.close(h);
            self.handles.remove(&h);
        }
        p.sip_peers.clear();
        p.sip_targets.clear();
        if let Some(d) = p.deadline.take() {
            self.timers.remove(&(d, k));
        }
    }

    fn settle(&mut self, io: &mut Reactor, k: u32, place: Where) {
        self.close_all(io, k);
        let p = &mut self.phones[k as usize];
        if matches!(p.place, Where::Done | Where::Failed) {
            return;
        }
        p.place = place;
        p.machine = None;
        p.tls = [None, None];
        p.address = None;
        p.sip_peers = Vec::new();
        p.sip_targets = Vec::new();
        p.conns = Vec::new();
        self.by_mac.remove(&p.mac);
        self.settled += 1;
    }

    fn fail(&mut self, io: &mut Reactor, k: u32, cause: String) {
        let p = &mut self.phones[k as usize];
        if p.failure.is_none() {
            p.failure = Some(cause);
        }
        self.settle(io, k, Where::Failed);
    }

    fn reached(&mut self, io: &mut Reactor, k: u32, stage: usize, now: Instant) {
        let p = &mut self.phones[k as usize];
        if p.times[stage].is_none() {
            p.times[stage] = Some(now);
        }
        if stage > self.t.until as usize {
            self.settle(io, k, Where::Done);
        }
    }

    // --- TLS ----------------------------------------------------------------------------------

    /// The TLS policy of a phone's record: the --trust anchors, its TRUSTCERTS and SCEP CA,
    /// presenting its SCEP identity when `identity`. Each phone has its own configurations
    /// (so its own TLS session cache: phones never resume each other's sessions), rebuilt
    /// when its trust or identity changes.
    fn policy(
        &mut self,
        k: u32,
        record: Option<&Record>,
        identity: bool,
    ) -> Result<TlsPolicy, String> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let id = record.and_then(|r| r.identity.as_ref());
        if let Some(r) = record {
            r.trust_certs.hash(&mut h);
            if let Some(i) = id {
                i.ca.hash(&mut h);
            }
        }
        if identity && let Some(i) = id {
            i.certificate.hash(&mut h);
        }
        let key = h.finish();
        let slot = usize::from(identity);
        if let Some((kk, p)) = &self.phones[k as usize].tls[slot]
            && *kk == key
        {
            return Ok(p.clone());
        }
        let mut trust = Trust::new().with_pems(self.base_trust.iter().map(Vec::as_slice));
        if let Some(r) = record {
            trust = trust.with_pems(r.trust_certs.iter().map(|(_, p)| p.as_slice()));
        }
        if let Some(i) = id {
            trust = trust.with_ders(i.ca.iter().map(Vec::as_slice));
        }
        let client = match (identity, id) {
            (true, Some(i)) => Some(ClientIdentity::from_der(
                &i.certificate,
                &i.key_pkcs8,
                &i.ca,
            )),
            _ => None,
        };
        let p = TlsPolicy::new(&trust, client).map_err(|e| format!("TLS: {e}"))?;
        self.phones[k as usize].tls[slot] = Some((key, p.clone()));
        Ok(p)
    }

    // --- transports ----------------------------------------------------------------------------

    /// Carries out a phone-http transmit of phone `k` on `route`; `Err` = report
    /// TransportFailed.
    fn http(
        &mut self,
        io: &mut Reactor,
        k: u32,
        record: Option<&Record>,
        route: Route,
        action: phone_http::Action,
    ) -> Result<(), String> {
        use phone_http::Action;
        match action {
            Action::Connect { host, port, tls } => {
                self.close_route(io, k, route);
                let addr = self.phones[k as usize]
                    .address
                    .ok_or_else(|| "connect before an address".to_string())?;
                let to = resolve(&host, port).map_err(|e| e.to_string())?;
                let options = SocketOptions {
                    source: Some(IpAddr::V4(addr)),
                    ..SocketOptions::default()
                };
                self.counters.connects += 1;
                let p = &mut self.phones[k as usize];
                p.connects = p.connects.saturating_add(1);
                let h = io
                    .connect(to, &options)
                    .map_err(|e| format!("connect {to} from {addr}: {e}"))?;
                if let Some(tls) = tls {
                    let started = self.policy(k, record, false).and_then(|p| {
                        let name = server_name(&tls.server_name)?;
                        io.start_tls(h, p.config(tls.check_identity), name)
                            .map_err(|e| e.to_string())
                    });
                    if let Err(e) = started {
                        io.close(h);
                        return Err(e);
                    }
                }
                self.phones[k as usize].conns.push((route, h));
                self.handles.insert(h, (k, route));
                Ok(())
            }
            Action::StartTls(tls) => {
                let h = self.phones[k as usize]
                    .conn(route)
                    .ok_or_else(|| "StartTls without a connection".to_string())?;
                let p = self.policy(k, record, false)?;
                let name = server_name(&tls.server_name)?;
                io.start_tls(h, p.config(tls.check_identity), name)
                    .map_err(|e| {
                        self.forget(h);
                        e.to_string()
                    })
            }
            Action::Send(bytes) => {
                let h = self.phones[k as usize]
                    .conn(route)
                    .ok_or_else(|| "send without a connection".to_string())?;
                io.send(h, &bytes).map_err(|e| {
                    self.forget(h);
                    e.to_string()
                })
            }
            Action::Close => {
                self.close_route(io, k, route);
                Ok(())
            }
        }
    }

    fn close_route(&mut self, io: &mut Reactor, k: u32, route: Route) {
        let p = &mut self.phones[k as usize];
        if let Some(pos) = p.conns.iter().position(|(r, _)| *r == route) {
            let (_, h) = p.conns.swap_remove(pos);
            io.close(h);
            self.handles.remove(&h);
        }
    }

    /// Drops a handle the reactor already closed.
    fn forget(&mut self, h: Handle) {
        if let Some((k, _)) = self.handles.remove(&h) {
            let p = &mut self.phones[k as usize];
            p.conns.retain(|(_, x)| *x != h);
            if p.sip_udp == Some(h) {
                p.sip_udp = None;
            }
        }
    }

    /// Sends SIP bytes of phone `k`; `Err` = report TransportFailed on the controller.
    fn sip(
        &mut self,
        io: &mut Reactor,
        k: u32,
        record: Option<&Record>,
        t: &phone_sip_reg::Transmit,
    ) -> Result<(), String> {
        use phone_sip_reg::Transport;
        let to = resolve(&t.target.host, t.target.port).map_err(|e| e.to_string())?;
        self.counters.sip_out += 1;
        if t.target.transport == Transport::Udp {
            self.open_sip_udp(io, k)?;
            let p = &mut self.phones[k as usize];
            if let Some(e) = p.sip_peers.iter_mut().find(|(a, _)| *a == to) {
                e.1 = t.controller;
            } else {
                p.sip_peers.push((to, t.controller));
            }
            let h = p.sip_udp.ok_or_else(|| "no SIP socket".to_string())?;
            return io.send_to(h, to, &t.payload).map_err(|e| e.to_string());
        }
        let route = Route::SipConn(t.controller);
        let p = &self.phones[k as usize];
        let same = p
            .sip_targets
            .iter()
            .any(|(c, a)| *c == t.controller && *a == to);
        if !same || p.conn(route).is_none() {
            let tls = (t.target.transport == Transport::Tls).then(|| phone_http::Tls {
                server_name: t.target.host.clone(),
                check_identity: true,
            });
            self.close_route(io, k, route);
            let addr = self.phones[k as usize]
                .address
                .ok_or_else(|| "SIP before an address".to_string())?;
            let options = SocketOptions {
                source: Some(IpAddr::V4(addr)),
                ..SocketOptions::default()
            };
            self.counters.connects += 1;
            let h = io
                .connect(to, &options)
                .map_err(|e| format!("connect {to}: {e}"))?;
            if let Some(tls) = tls {
                let started = self.policy(k, record, true).and_then(|p| {
                    let name = server_name(&tls.server_name)?;
                    io.start_tls(h, p.config(true), name)
                        .map_err(|e| e.to_string())
                });
                if let Err(e) = started {
                    io.close(h);
                    return Err(e);
                }
            }
            let p = &mut self.phones[k as usize];
            p.sip_targets.retain(|(c, _)| *c != t.controller);
            p.sip_targets.push((t.controller, to));
            p.conns.push((route, h));
            self.handles.insert(h, (k, route));
        }
        let h = self.phones[k as usize]
            .conn(route)
            .ok_or_else(|| "no SIP connection".to_string())?;
        io.send(h, &t.payload).map_err(|e| {
            self.forget(h);
            e.to_string()
        })
    }

    /// Carries out one transmit of a boot; a failure known at once is fed back.
    fn boot_transmit(
        &mut self,
        io: &mut Reactor,
        k: u32,
        boot: &mut PhoneBoot,
        t: Transmit,
        now: Instant,
    ) {
        let failed: Option<(Peer, String)> = match t {
            Transmit::Dhcp(phone_dhcp::Transmit::Udp {
                mut payload,
                destination,
                ..
            }) => {
                self.counters.dhcp_out += 1;
                let to = match self.relay {
                    Some((server, giaddr)) => {
                        relay_out(&mut payload, giaddr);
                        SocketAddr::V4(SocketAddrV4::new(server, 67))
                    }
                    None => SocketAddr::V4(SocketAddrV4::new(destination, 67)),
                };
                let r = match self.dhcp {
                    Some(h) => io.send_to(h, to, &payload).map_err(|e| e.to_string()),
                    None => Err("no DHCP socket".into()),
                };
                r.err().map(|e| (Peer::Dhcp(Link::Udp), e))
            }
            Transmit::Dhcp(phone_dhcp::Transmit::Arp(p)) => {
                self.counters.arp_out += 1;
                let r = match self.arp {
                    Some(h) => io
                        .send_frame(h, &p.to_bytes(), crate::arp::BROADCAST)
                        .map_err(|e| e.to_string()),
                    None => Err("no ARP socket".into()),
                };
                r.err().map(|e| (Peer::Dhcp(Link::Arp), e))
            }
            Transmit::Files(t) => {
                let route = Route::Files(t.conn);
                self.http(io, k, Some(boot.record()), route, t.action)
                    .err()
                    .map(|e| (peer_of(route), e))
            }
            Transmit::Scep(t) => {
                let route = Route::Scep(t.conn);
                self.http(io, k, Some(boot.record()), route, t.action)
                    .err()
                    .map(|e| (peer_of(route), e))
            }
            Transmit::Flash(_) => {
                // The flash is in memory: every operation is done at once.
                boot.handle_input(Input::Completed(
                    now,
                    Peer::Files(phone_boot::files::Peer::Flash),
                ));
                None
            }
            Transmit::Sip(t) => self
                .sip(io, k, Some(boot.record()), &t)
                .err()
                .map(|e| (Peer::Sip(t.controller), e)),
            // The fleet's settings give addresses; a phone whose settings name a host has no
            // DNS socket here: the name fails like an unreachable server.
            Transmit::Dns(t) => Some((Peer::Dns(t.server), "no DNS in the fleet".to_string())),
            // The fleet's phones share one line and are fed no LLDP frame, so with the default
            // LLDP_ENABLED 2 their agents never send; a frame they do send (LLDP_ENABLED 1)
            // is not put on the wire (one switch port cannot tell them apart).
            Transmit::Lldp(_) => None,
            // Likewise no authenticator speaks to the fleet: DOT1XSTAT 0 (the default) sends
            // nothing; a phone with 802.1X on keeps its EAPOL-Starts off the shared line.
            Transmit::Eapol(_) => None,
        };
        if let Some((peer, e)) = failed {
            self.counters.send_errors += 1;
            tracing::debug!("phone {k}: {e}");
            self.phones[k as usize].warn(format!("transport: {e}"));
            boot.handle_input(Input::TransportFailed(now, peer));
        }
    }

    fn boot_event(&mut self, io: &mut Reactor, k: u32, boot: &PhoneBoot, e: Event, now: Instant) {
        match e {
            Event::Configure(n) => {
                let p = &mut self.phones[k as usize];
                if p.address != Some(n.address) {
                    if let Some(h) = p.sip_udp.take() {
                        io.close(h);
                        self.handles.remove(&h);
                    }
                    p.address = Some(n.address);
                    p.leased = Some(n.address);
                }
            }
            Event::Deconfigure => {
                let p = &mut self.phones[k as usize];
                p.address = None;
                if let Some(h) = p.sip_udp.take() {
                    io.close(h);
                    self.handles.remove(&h);
                }
            }
            Event::Reached(stage) => {
                let s = match stage {
                    Stage::Network => 1,
                    Stage::Files => 2,
                    Stage::Certificate => 3,
                    Stage::Registered => 4,
                };
                self.reached(io, k, s, now);
            }
            Event::Registered { controller, .. } => {
                self.phones[k as usize].controller =
                    Some(format!("{}:{}", controller.host, controller.port));
            }
            Event::Restart => {
                self.phones[k as usize].restart_due = true;
            }
            Event::Warning(w) => self.phones[k as usize].warn(w.to_string()),
            Event::Vlan(v @ phone_dhcp::client::Vlan::Tagged(_)) => {
                self.phones[k as usize]
                    .warn(format!("asked for {v}: not emulated, stays untagged"));
            }
            _ => {}
        }
        let _ = boot;
    }

    fn sip_event(&mut self, io: &mut Reactor, k: u32, e: phone_sip_reg::Event, now: Instant) {
        use phone_sip_reg::Event as E;
        match e {
            E::Registered { controller, .. } => {
                let c = self
                    .t
                    .sip
                    .as_ref()
                    .and_then(|s| s.controllers.get(controller));
                self.phones[k as usize].controller = c.map(|c| format!("{}:{}", c.host, c.port));
                self.reached(io, k, 4, now);
            }
            E::CredentialsRequired { reason, .. } => {
                self.fail(io, k, format!("credentials {reason:?}"));
            }
            E::RegistrationFailed { retry_at: None } => {
                self.fail(
                    io,
                    k,
                    "registration failed: every controller refused".into(),
                );
            }
            E::ControllerFailed { controller, cause } => {
                self.phones[k as usize].warn(format!(
                    "controller {controller}: {}",
                    crate::register::describe(&cause)
                ));
            }
            _ => {}
        }
    }

    /// Drains phone `k` until it waits; sets its timer.
    fn drive(&mut self, io: &mut Reactor, k: u32, now: Instant) {
        let i = k as usize;
        let Some(mut m) = self.phones[i].machine.take() else {
            return;
        };
        let mut fed = 0;
        let next: Option<Instant>;
        let mut steps = 0;
        loop {
            steps += 1;
            if steps > OUTPUTS_PER_TURN {
                next = Some(now + Duration::from_millis(1));
                break;
            }
            let timeout = match &mut m {
                Machine::Boot(b) => match b.poll_output() {
                    Output::Transmit(t) => {
                        self.boot_transmit(io, k, b, t, now);
                        continue;
                    }
                    Output::Event(e) => {
                        self.boot_event(io, k, b, e, now);
                        if self.phones[i].place == Where::Done
                            || self.phones[i].place == Where::Failed
                        {
                            return;
                        }
                        continue;
                    }
                    Output::Timeout(t) => t,
                },
                Machine::Sip(s) => match s.poll_output() {
                    Output::Transmit(t) => {
                        if let Err(e) = self.sip(io, k, None, &t) {
                            self.counters.send_errors += 1;
                            self.phones[i].warn(format!("transport: {e}"));
                            s.handle_input(Input::TransportFailed(now, t.controller));
                        }
                        continue;
                    }
                    Output::Event(e) => {
                        self.sip_event(io, k, e, now);
                        if matches!(self.phones[i].place, Where::Done | Where::Failed) {
                            return;
                        }
                        continue;
                    }
                    Output::Timeout(t) => t,
                },
            };
            if timeout <= now {
                fed += 1;
                if fed > 8 {
                    next = Some(now + Duration::from_millis(1));
                    break;
                }
                match &mut m {
                    Machine::Boot(b) => b.handle_input(Input::Timeout(now)),
                    Machine::Sip(s) => s.handle_input(Input::Timeout(now)),
                }
                continue;
            }
            next = phone_sansio::deadline(timeout);
            break;
        }
        // where the phone is, and whether it can go on
        if let Machine::Boot(b) = &m {
            let place = match b.phase() {
                Phase::Network => Where::Network,
                Phase::Files => Where::Files,
                Phase::Certificate => Where::Certificate,
                Phase::Credentials | Phase::Registration => Where::Registration,
                Phase::Craft | Phase::Stopped => Where::Failed,
            };
            if self.phones[i].restart_due {
                self.phones[i].restart_due = false;
                self.restart(io, k, b.record().clone(), now);
                return;
            }
            if b.prompt().is_some() {
                self.fail(io, k, "the boot asks for credentials".into());
                return;
            }
            if place == Where::Failed {
                let why = format!("the boot stopped in phase {:?}", b.phase());
                self.fail(io, k, why);
                return;
            }
            self.phones[i].place = place;
        }
        self.phones[i].machine = Some(m);
        let p = &mut self.phones[i];
        if p.deadline != next {
            if let Some(d) = p.deadline {
                self.timers.remove(&(d, k));
            }
            p.deadline = next;
            if let Some(d) = next {
                self.timers.insert((d, k));
            }
        }
    }

    /// Powers phone `k` on again from `record` (after a flash): the in-memory flash holds
    /// whatever the record says.
    fn restart(&mut self, io: &mut Reactor, k: u32, mut record: Record, now: Instant) {
        self.close_all(io, k);
        let p = &mut self.phones[k as usize];
        p.restarts += 1;
        p.address = None;
        if p.restarts > MAX_RESTARTS {
            self.fail(io, k, format!("restarted {MAX_RESTARTS} times"));
            return;
        }
        let slots = record.slots.take().unwrap_or_else(factory_slots);
        match slots.power_on(|_, _| true) {
            Ok(choice) => record.slots = Some(choice.record),
            Err(e) => {
                self.fail(io, k, format!("no bootable slot: {e}"));
                return;
            }
        }
        let restarts = self.phones[k as usize].restarts;
        let boot = self.t.boot(k, record, restarts, now);
        let p = &mut self.phones[k as usize];
        p.machine = Some(Machine::Boot(Box::new(boot)));
        p.place = Where::Network;
        self.mark(k);
    }

    /// Feeds a transport fact to phone `k`.
    fn feed(
        &mut self,
        k: u32,
        route: Route,
        f: PhoneFact<'_>,
        from: Option<SocketAddr>,
        now: Instant,
    ) {
        let p = &mut self.phones[k as usize];
        let Some(m) = p.machine.as_mut() else {
            return;
        };
        match m {
            Machine::Boot(b) => {
                let peer = match (route, from) {
                    (Route::SipUdp, Some(from)) => {
                        match p.sip_peers.iter().find(|(a, _)| *a == from) {
                            Some((_, c)) => Peer::Sip(*c),
                            None => return,
                        }
                    }
                    (r, _) => peer_of(r),
                };
                b.handle_input(match f {
                    PhoneFact::Receive(bytes) => Input::Receive(now, peer, bytes),
                    PhoneFact::Completed => Input::Completed(now, peer),
                    PhoneFact::Closed => Input::Closed(now, peer),
                    PhoneFact::Failed => Input::TransportFailed(now, peer),
                });
            }
            Machine::Sip(s) => {
                let c = match (route, from) {
                    (Route::SipUdp, Some(from)) => {
                        match p.sip_peers.iter().find(|(a, _)| *a == from) {
                            Some((_, c)) => *c,
                            None => return,
                        }
                    }
                    (Route::SipConn(c), _) => c,
                    _ => return,
                };
                s.handle_input(match f {
                    PhoneFact::Receive(bytes) => Input::Receive(now, c, bytes),
                    PhoneFact::Completed => Input::Completed(now, c),
                    PhoneFact::Closed => Input::Closed(now, c),
                    PhoneFact::Failed => Input::TransportFailed(now, c),
                });
            }
        }
        if matches!(route, Route::SipUdp | Route::SipConn(_)) {
            self.counters.sip_in += u64::from(matches!(f, PhoneFact::Receive(_)));
        }
        self.mark(k);
    }

    /// A DHCP reply: to the phone whose chaddr it carries.
    fn dhcp_in(&mut self, bytes: &[u8], now: Instant) {
        if bytes.len() < 240 || bytes[0] != 2 {
            return;
        }
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&bytes[28..34]);
        let Some(&k) = self.by_mac.get(&mac) else {
            self.counters.dhcp_foreign += 1;
            return;
        };
        self.counters.dhcp_in += 1;
        let yiaddr = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
        if !yiaddr.is_unspecified() {
            self.by_addr.insert(yiaddr, k);
        }
        let p = &mut self.phones[k as usize];
        if let Some(Machine::Boot(b)) = p.machine.as_mut() {
            b.handle_input(Input::Receive(now, Peer::Dhcp(Link::Udp), bytes));
            self.mark(k);
        }
    }

    /// An ARP packet: to the phones whose (offered) address it names as sender or target.
    fn arp_in(&mut self, bytes: &[u8], now: Instant) {
        if bytes.len() < 28 {
            return;
        }
        let spa = Ipv4Addr::new(bytes[14], bytes[15], bytes[16], bytes[17]);
        let tpa = Ipv4Addr::new(bytes[24], bytes[25], bytes[26], bytes[27]);
        let a = self.by_addr.get(&spa).copied();
        let b = self.by_addr.get(&tpa).copied().filter(|b| Some(*b) != a);
        for k in [a, b].into_iter().flatten() {
            let p = &mut self.phones[k as usize];
            if let Some(Machine::Boot(boot)) = p.machine.as_mut()
                && boot.phase() == Phase::Network
            {
                boot.handle_input(Input::Receive(now, Peer::Dhcp(Link::Arp), bytes));
                self.mark(k);
            }
        }
    }

    fn counts(&self) -> [u32; 7] {
        let mut c = [0u32; 7];
        for p in &self.phones {
            let i = Where::ALL.iter().position(|w| *w == p.place).unwrap_or(0);
            c[i] += 1;
        }
        c
    }

    fn progress(&mut self, now: Instant, last: bool) {
        if !last && now < self.next_progress {
            return;
        }
        self.next_progress = now + self.progress_every;
        let c = self.counts();
        self.timeline.push((now, c));
        let secs = now.saturating_duration_since(self.t0).as_secs_f64();
        let mut line = format!(
            "fleet {secs:7.1}s  started {}/{}",
            self.started, self.t.count
        );
        for (w, n) in Where::ALL.iter().zip(c).skip(1) {
            line.push_str(&format!("  {} {n}", w.name()));
        }
        if self.tty && !last {
            eprint!("\r{line}\x1b[K");
        } else if self.tty {
            eprintln!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
    }
}

impl Task for Fleet {
    fn turn(&mut self, io: &mut Reactor, now: Instant) -> Option<Instant> {
        if self.over {
            return None;
        }
        self.start_due(io, now);
        while let Some(&(t, k)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            self.phones[k as usize].deadline = None;
            self.mark(k);
        }
        // Phones woken, in order, within a time budget: one phone's turn can take long (a
        // SCEP key is generated in it), and the sockets must be read in between, or the other
        // phones' DHCP and SIP answers wait in the kernel while their timers run out.
        // DHCP and SIP first: a phone of the file stage may be about to generate its SCEP key
        // (the file stage's end starts the enrollment), which must not hold back the others'
        // retransmissions and answers.
        let began = std::time::Instant::now();
        let mut dirty = std::mem::take(&mut self.dirty);
        // Among the file stage's phones, those with fewer connections opened so far go first:
        // they are early in the stage (cheap turns); the one that fetched the most is the one
        // whose next turn may end the stage and generate the key.
        dirty.sort_by_key(|k| {
            let p = &self.phones[*k as usize];
            let lane = match p.place {
                Where::Network | Where::Registration => 0u8,
                Where::Certificate => 1,
                _ => 2,
            };
            (lane, p.connects)
        });
        let mut rest = dirty.into_iter();
        let mut held: Vec<u32> = Vec::new();
        for k in rest.by_ref() {
            let now = io.now();
            // After a long turn of one phone (a key generated), phones of the file stage (the
            // ones that may generate next) wait a while: the sockets get their share of the CPU.
            if now < self.heavy_until && self.phones[k as usize].place == Where::Files {
                held.push(k);
                continue;
            }
            self.phones[k as usize].dirty = false;
            let t = std::time::Instant::now();
            self.drive(io, k, now);
            let took = t.elapsed();
            if took > HEAVY_TURN {
                self.heavy_until = io.now() + took / 2;
            }
            if began.elapsed() > TURN_BUDGET {
                break;
            }
        }
        let mut left: Vec<u32> = held;
        left.extend(rest);
        if !left.is_empty() {
            let newer = std::mem::replace(&mut self.dirty, left);
            self.dirty.extend(newer);
        }
        let now = io.now();
        self.progress(now, false);
        if self.settled >= self.t.count || now >= self.end {
            self.over = true;
            return None;
        }
        let mut next = [
            self.timers.first().map(|(t, _)| *t),
            (self.started < self.t.count).then(|| self.start_time(self.started)),
            Some(self.next_progress),
            Some(self.end),
        ]
        .into_iter()
        .flatten()
        .min();
        if self
            .dirty
            .iter()
            .any(|k| self.phones[*k as usize].place != Where::Files)
        {
            next = Some(now);
        } else if !self.dirty.is_empty() {
            next = Some(now.max(self.heavy_until));
        }
        next
    }

    fn offer(&mut self, _io: &mut Reactor, fact: &Fact<'_>, now: Instant) -> bool {
        let h = match fact {
            Fact::Datagram { handle, .. }
            | Fact::Received { handle, .. }
            | Fact::Failed { handle, .. }
            | Fact::Frame { handle, .. } => *handle,
            Fact::Connected(h) | Fact::Closed(h) | Fact::Timer(h) => *h,
            _ => return false,
        };
        if Some(h) == self.dhcp {
            if let Fact::Datagram { bytes, .. } = fact {
                self.dhcp_in(bytes, now);
            }
            return true;
        }
        if Some(h) == self.arp {
            if let Fact::Frame { bytes, .. } = fact {
                self.arp_in(bytes, now);
            }
            return true;
        }
        let Some(&(k, route)) = self.handles.get(&h) else {
            return false;
        };
        match fact {
            Fact::Datagram { from, bytes, .. } => {
                self.feed(k, route, PhoneFact::Receive(bytes), Some(*from), now);
            }
            Fact::Connected(_) => self.feed(k, route, PhoneFact::Completed, None, now),
            Fact::Received { bytes, .. } => {
                self.feed(k, route, PhoneFact::Receive(bytes), None, now);
            }
            Fact::Closed(_) => {
                self.forget(h);
                self.feed(k, route, PhoneFact::Closed, None, now);
            }
            Fact::Failed { error, .. } => {
                self.forget(h);
                self.phones[k as usize].warn(format!("{route:?}: {error}"));
                self.feed(k, route, PhoneFact::Failed, None, now);
            }
            _ => {}
        }
        true
    }

    fn finished(&self) -> bool {
        self.over
    }
}

/// Memory and CPU of this process: (peak RSS KiB, current RSS KiB, user+system CPU seconds).
#[must_use]
pub fn self_usage() -> (u64, u64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // fields 14 and 15 of stat(5) (utime, stime), in USER_HZ (100 on Linux)
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (kb("VmHWM:"), kb("VmRSS:"), (ticks(11) + ticks(12)) / 100.0)
}

fn run_inner(args: &Args) -> Result<ExitCode> {
    let mut driver = Driver::new()?;
    driver.io.catch_signals(&[libc::SIGINT, libc::SIGTERM])?;
    let unix_at_zero = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let sets: Vec<(String, String)> = args
        .sets
        .sets
        .iter()
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();
    let sip = match args.mode {
        Mode::Boot => None,
        Mode::Register => {
            let list = args
                .registrar
                .as_deref()
                .context("--mode register needs --registrar HOST:PORT;transport=udp")?;
            if args.addr_base.is_none() {
                bail!("--mode register needs --addr-base (the first address of the AnyIP pool)");
            }
            let mut cfg = phone_sip_reg::Config::default();
            cfg.controllers = phone_sip_reg::parse_controller_list(list)
                .map_err(|e| anyhow::anyhow!("--registrar: {e:?}"))?;
            cfg.domain = "lab.test".into();
            cfg.user_agent = Some(format!("phone-fleet/{}", env!("CARGO_PKG_VERSION")));
            for (n, v) in &sets {
                cfg.apply_setting(n, v)
                    .map_err(|e| anyhow::anyhow!("--set {n}={v}: {e:?}"))?;
            }
            Some(cfg)
        }
    };
    let t = Template {
        mode: args.mode,
        count: args.count,
        rate: args.rate,
        model: args.model.clone(),
        mac_base: args.mac_base.octets(),
        serial_prefix: args.serial_prefix.clone(),
        seed: args.seed,
        sets,
        user_first: args.user_first,
        password_suffix: args.password_suffix.clone(),
        acd: Duration::from_millis(args.acd_ms),
        timeout: Duration::from_secs(args.timeout.max(1)),
        unix_at_zero,
        until: if args.mode == Mode::Register {
            Until::Registered
        } else {
            args.until
        },
        sip,
        addr_base: args.addr_base,
    };
    let relay = match args.dhcp_relay {
        Some(server) if args.mode == Mode::Boot => Some((server, address_towards(server)?)),
        _ => None,
    };
    let (dhcp, arp) = if args.mode == Mode::Boot {
        let options = SocketOptions {
            device: Some(args.iface.iface.clone()),
            broadcast: true,
            reuse_address: true,
            ..SocketOptions::default()
        };
        let local = match relay {
            Some((_, giaddr)) => SocketAddrV4::new(giaddr, 67),
            None => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        };
        let dhcp = driver
            .io
            .udp(SocketAddr::V4(local), &options)
            .with_context(|| format!("UDP {local} on {}", args.iface.iface))?;
        let arp = match crate::arp::PacketSocket::open(&args.iface.iface, crate::arp::ETH_P_ARP) {
            Ok(s) => Some(driver.io.packet(s)?),
            Err(e) => {
                tracing::warn!("no ARP socket on {}: {e}", args.iface.iface);
                None
            }
        };
        (Some(dhcp), arp)
    } else {
        (None, None)
    };
    let now = driver.io.now();
    let mut phones = Vec::with_capacity(args.count as usize);
    let mut by_mac = HashMap::with_capacity(args.count as usize);
    for k in 0..args.count {
        let mac = t.mac(k);
        by_mac.insert(mac, k);
        phones.push(Phone::new(mac));
    }
    let tty = rustix::termios::isatty(std::io::stderr());
    let progress_every = Duration::from_secs_f64(args.progress_secs.max(0.05));
    let mut fleet = Fleet {
        t,
        phones,
        handles: HashMap::new(),
        dhcp,
        relay,
        arp,
        by_mac,
        by_addr: HashMap::new(),
        timers: BTreeSet::new(),
        dirty: Vec::new(),
        started: 0,
        t0: now,
        end: now + Duration::from_secs(args.deadline),
        base_trust: args.trust.trust.iter().map(|t| t.pem.clone()).collect(),
        progress_every,
        next_progress: now,
        timeline: Vec::new(),
        settled: 0,
        over: false,
        counters: Counters::default(),
        tty,
        heavy_until: now,
    };
    let ended = driver.run(&mut [&mut fleet])?;
    let now = driver.io.now();
    let interrupted = matches!(ended, Ended::Signal(_));
    // whoever is still running missed --until
    for k in 0..fleet.t.count {
        let p = &fleet.phones[k as usize];
        if matches!(p.place, Where::Done | Where::Failed) {
            continue;
        }
        let why = if interrupted {
            "interrupted".to_string()
        } else if p.place == Where::Waiting {
            "never started (deadline)".to_string()
        } else {
            format!("deadline: still in {}", p.place.name())
        };
        fleet.fail(&mut driver.io, k, why);
    }
    fleet.progress(now, true);
    let usage = self_usage();
    let summary = report::write(&fleet_view(&fleet), now, usage, args.report.as_deref())?;
    println!("{summary}");
    let failed = fleet
        .phones
        .iter()
        .filter(|p| p.place != Where::Done)
        .count();
    Ok(if interrupted {
        ExitCode::from(130)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What the report needs of the fleet.
fn fleet_view(f: &Fleet) -> report::View<'_> {
    report::View {
        mode: match f.t.mode {
            Mode::Boot => "boot",
            Mode::Register => "register",
        },
        until: STAGES[f.t.until as usize + 1],
        until_index: f.t.until as usize + 1,
        count: f.t.count,
        rate: f.t.rate,
        t0: f.t0,
        phones: f
            .phones
            .iter()
            .enumerate()
            .map(|(k, p)| report::PhoneView {
                index: k,
                mac: p.mac,
                serial: format!("{}{k:08}", f.t.serial_prefix),
                user: f.t.user(u32::try_from(k).unwrap_or(u32::MAX)).0,
                address: p.leased,
                controller: p.controller.as_deref(),
                times: p.times,
                done: p.place == Where::Done,
                failure: p.failure.as_deref(),
                warnings: &p.warnings,
                warnings_total: p.warnings_total,
                restarts: p.restarts,
            })
            .collect(),
        timeline: &f.timeline,
        counters: f.counters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_sets_giaddr_once_and_counts_hops() {
        let mut m = vec![0u8; 300];
        m[0] = 1;
        let ours = Ipv4Addr::new(10, 77, 98, 100);
        relay_out(&mut m, ours);
        assert_eq!(m[3], 1);
        assert_eq!(&m[24..28], &ours.octets());
        // A message another relay already stamped keeps its giaddr.
        let mut m2 = vec![0u8; 300];
        m2[3] = 2;
        m2[24..28].copy_from_slice(&[192, 0, 2, 1]);
        relay_out(&mut m2, ours);
        assert_eq!(m2[3], 3);
        assert_eq!(&m2[24..28], &[192, 0, 2, 1]);
        // A runt is left alone.
        let mut short = vec![0u8; 10];
        relay_out(&mut short, ours);
        assert_eq!(short, vec![0u8; 10]);
    }
}
