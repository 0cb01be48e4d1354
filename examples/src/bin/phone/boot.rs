//! `phone boot`: the whole boot from power-on to registered, on std networking, driving
//! phone-boot's Sans-IO [`Boot`] machine.
//!
//! State directory (the phone's non-volatile memory):
//! - `record.bin`: phone-boot's persistent record (lease, last good settings, TRUSTCERTS, SCEP
//!   key and certificate, credentials, firmware slots, craft values), written atomically;
//! - `slot-a.bin`, `slot-b.bin`: the two firmware slots;
//! - `trust/*.pem`: preinstalled trust anchors (`--trust`); `firmware-pub.pem` (`--firmware-key`).
//!
//! The display is a stub in the terminal: every prompt-line message is printed as `| TEXT`.
//! Keyboard (one line each): at `Extension:`/`Password:` the answer; `program` = the Program
//! softkey; in craft access `addr IP MASK ROUTER [FILESERVER]`, `addr dhcp`, `sson N`,
//! `group N`, `view`, `clear`, `exit`.
//!
//! Prints `REGISTERED controller=HOST:PORT` when registered. `--until STAGE` exits 0 when the
//! stage is reached. Exit codes: 0 reached/interrupted, 1 the boot cannot go on, 2 bad arguments.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use phone_boot::boot::display::Screen;
use phone_boot::boot::record::{Record, StaticAddress};
use phone_boot::boot::{Boot, BootConfig, CraftCommand, Event, Input, Output, Stage, Transmit};
use phone_boot::display::DisplayEvent;
use phone_boot::flash::{BootRecord, FlashOp, Slot, SlotImage};
use phone_boot::stage::{self, Scheme, StageConfig};
use phone_scep::http::{HttpResponse, TransportError};
use phone_settings::Instant;
use phone_sip_reg::Transport;
use rand::SeedableRng as _;
use tracing::{debug, info, warn};

use crate::io_stream::{self, StreamEvent};

/// The stage `--until` waits for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// An address is configured.
    Network,
    /// The file stage is over (after any firmware restart).
    Files,
    /// The SCEP stage is over.
    Certificate,
    /// Registered.
    Registered,
}

/// Arguments of `phone boot`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The network interface (DHCP and everything else go out of it).
    #[arg(long)]
    iface: String,
    /// MODEL, e.g. 9611G.
    #[arg(long)]
    model: String,
    /// MAC address (12 hex digits, separators allowed).
    #[arg(long)]
    mac: String,
    /// SERIALNO.
    #[arg(long)]
    serial: String,
    /// The phone's non-volatile state (created if missing).
    #[arg(long)]
    state_dir: PathBuf,
    /// A parameter as the network would give it (repeatable), e.g. TLSSRVR=10.0.0.5.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    sets: Vec<String>,
    /// SIP extension (with --password; else the stored one, else the prompt).
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// SIP password.
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// Preinstall a PEM trust anchor (repeatable; kept in the state directory).
    #[arg(long = "trust", value_name = "CA.pem")]
    trust: Vec<PathBuf>,
    /// Install the trusted firmware public key (kept in the state directory).
    #[arg(long, value_name = "PUB.pem")]
    firmware_key: Option<PathBuf>,
    /// Exit 0 as soon as this stage is reached.
    #[arg(long, value_enum)]
    until: Option<Until>,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    log: String,
    /// Per-request timeout of the file stage, seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Emulated flash speed: milliseconds per written chunk.
    #[arg(long, default_value_t = 0)]
    flash_ms_per_chunk: u64,
    /// Do not configure the interface address (it is already set up).
    #[arg(long)]
    no_configure: bool,
}

/// What the I/O threads tell the main loop.
enum Msg {
    Dhcp(Vec<u8>),
    File(u32, StreamEvent),
    SipDatagram(SocketAddr, Vec<u8>),
    Sip(usize, u64, StreamEvent),
    Line(String),
    Interrupt,
}

pub fn run(args: Args) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("phone boot: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let hex: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    if hex.len() != 12 {
        bail!("--mac {s:?}: expected 12 hex digits");
    }
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(mac)
}

/// The flash and the record of the reference phone, in the state directory.
struct State {
    dir: PathBuf,
    ms_per_chunk: u64,
}

impl State {
    fn slot_path(&self, slot: Slot) -> PathBuf {
        self.dir.join(match slot {
            Slot::A => "slot-a.bin",
            Slot::B => "slot-b.bin",
        })
    }

    fn load(&self) -> Record {
        match fs::read(self.dir.join("record.bin")) {
            Ok(b) => Record::decode(&b).unwrap_or_else(|e| {
                warn!("record.bin unreadable ({e}); starting from factory state");
                Record::default()
            }),
            Err(_) => Record::default(),
        }
    }

    /// Temporary file, fsync, rename, fsync the directory: one atomic step.
    fn save(&self, record: &Record) -> Result<()> {
        let tmp = self.dir.join("record.bin.tmp");
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&record.encode())?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join("record.bin"))?;
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Power-on: the boot loader's slot choice (a factory image on first use).
    fn power_on(&self, mut record: Record) -> Result<Record> {
        let slots = match record.slots.take() {
            Some(s) => s,
            None => {
                let factory = b"phone-boot factory image\n";
                fs::write(self.slot_path(Slot::A), factory)?;
                BootRecord::factory(SlotImage::of("factory.bin", factory))
            }
        };
        let choice = slots
            .power_on(|slot, img| fs::read(self.slot_path(slot)).is_ok_and(|c| img.matches(&c)))
            .map_err(|e| anyhow!("{e}"))?;
        info!(
            "power-on: slot {} {}{}",
            choice.slot,
            choice.record.running().map_or("", |i| i.app.as_str()),
            if choice.fell_back { " (fell back)" } else { "" }
        );
        record.slots = Some(choice.record);
        self.save(&record)?;
        Ok(record)
    }

    fn flash(&self, op: &FlashOp, record: &Record) -> Result<()> {
        use std::io::{Seek as _, SeekFrom};
        match op {
            FlashOp::Erase { slot, .. } => fs::File::create(self.slot_path(*slot))?.sync_all()?,
            FlashOp::Write { slot, offset, data } => {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .open(self.slot_path(*slot))?;
                f.seek(SeekFrom::Start(*offset))?;
                f.write_all(data)?;
                if self.ms_per_chunk > 0 {
                    f.sync_data()?;
                    std::thread::sleep(Duration::from_millis(self.ms_per_chunk));
                }
            }
            FlashOp::Commit(slots) => {
                fs::File::open(self.slot_path(slots.active))?.sync_all()?;
                let mut r = record.clone();
                r.slots = Some(slots.clone());
                self.save(&r)?;
            }
        }
        Ok(())
    }
}

fn prefix_len(mask: Ipv4Addr) -> u32 {
    u32::from(mask).count_ones()
}

fn ip(args: &[&str]) {
    match Command::new("ip").args(args).output() {
        Ok(o) if !o.status.success() => debug!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => warn!("ip {}: {e}", args.join(" ")),
        _ => {}
    }
}

/// The stub display: one line per message, progress lines thinned out.
struct Display {
    last_kb: u64,
    last_percent: u8,
}

impl Display {
    fn show(&mut self, s: &Screen) {
        match s {
            Screen::File(DisplayEvent::Received { kb, total_kb, .. }) => {
                let step = total_kb.map_or(256, |t| (t / 10).max(1));
                if *kb < self.last_kb + step && Some(*kb) != *total_kb && *kb != 0 {
                    return;
                }
                self.last_kb = *kb;
            }
            Screen::File(DisplayEvent::SavingToFlash { percent }) => {
                if *percent < self.last_percent.saturating_add(10) && *percent != 100 {
                    return;
                }
                self.last_percent = *percent;
                let bar = "#".repeat(usize::from(*percent / 5));
                println!("| {s}  [{bar:<20}]");
                return;
            }
            _ => {}
        }
        println!("| {s}");
        let _ = std::io::stdout().flush();
    }
}

fn run_inner(args: &Args) -> Result<ExitCode> {
    let dir = &args.state_dir;
    fs::create_dir_all(dir.join("trust")).with_context(|| format!("creating {}", dir.display()))?;
    let mac = parse_mac(&args.mac)?;
    for (i, ca) in args.trust.iter().enumerate() {
        let bytes = fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        fs::write(
            dir.join("trust").join(format!("preinstalled-{i}.pem")),
            bytes,
        )?;
    }
    let key_path = dir.join("firmware-pub.pem");
    if let Some(k) = &args.firmware_key {
        crate::firmware::load_firmware_key(k)?;
        fs::copy(k, &key_path).context("installing the firmware key")?;
    }
    let firmware_key = if key_path.exists() {
        Some(crate::firmware::load_firmware_key(&key_path)?)
    } else {
        None
    };
    let mut sets = Vec::new();
    for s in &args.sets {
        let (n, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {s:?}: expected NAME=VALUE"))?;
        sets.push((n.trim().to_string(), v.to_string()));
    }
    let state = State {
        dir: dir.clone(),
        ms_per_chunk: args.flash_ms_per_chunk,
    };

    let (tx, rx) = mpsc::channel::<Msg>();
    {
        let tx = tx.clone();
        ctrlc::set_handler(move || {
            let _ = tx.send(Msg::Interrupt);
        })
        .context("installing the signal handler")?;
    }
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if tx.send(Msg::Line(line)).is_err() {
                    return;
                }
            }
        });
    }
    let dhcp = dhcp_socket(&args.iface)?;
    {
        let s = dhcp.try_clone()?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1500];
            loop {
                match s.recv_from(&mut buf) {
                    Ok((n, _)) => {
                        if tx.send(Msg::Dhcp(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }
    let sip_udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).context("binding the SIP socket")?;
    {
        let s = sip_udp.try_clone()?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            loop {
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        if tx.send(Msg::SipDatagram(from, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }

    let origin = std::time::Instant::now();
    let now =
        || Instant::from_micros(u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX));
    let unix_at_zero = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut display = Display {
        last_kb: 0,
        last_percent: 0,
    };
    let mut boots = 0u32;
    // Each pass is one power-on; a flash (or craft EXIT) restarts in the same process.
    loop {
        boots += 1;
        if boots > 5 {
            bail!("restarted 5 times in a row");
        }
        let record = state.power_on(state.load())?;
        let mut files = StageConfig::new(
            &args.model,
            mac,
            &args.serial,
            record.slots.clone().unwrap_or_else(|| {
                BootRecord::factory(SlotImage::of("factory.bin", b"phone-boot factory image\n"))
            }),
        );
        files.firmware_key = firmware_key;
        files.http.timeout = Duration::from_secs(args.timeout.max(1));
        let mut config = BootConfig::new(files);
        config.sets = sets.clone();
        config.credentials = args.user.clone().zip(args.password.clone());
        config.sip_port = sip_udp.local_addr()?.port();
        config.unix_at_zero = unix_at_zero;
        let rng = rand_chacha::ChaCha20Rng::from_rng(&mut rand::rng());
        let mut boot = Boot::new(config, record, rng, now());
        let mut io = Io {
            args,
            state: &state,
            dhcp: &dhcp,
            sip_udp: &sip_udp,
            tx: tx.clone(),
            file_conn: None,
            sip_conns: HashMap::new(),
            generation: 0,
            restart: false,
            done: None,
            prompt: None,
            registered: None,
            udp_peers: HashMap::new(),
        };
        loop {
            let deadline = loop {
                match boot.poll_output() {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => io.transmit(&mut boot, t, now()),
                    Output::Flash(op) => {
                        let ok = state.flash(&op, boot.record());
                        let t = now();
                        match ok {
                            Ok(()) => boot.handle_input(Input::File(stage::Input::FlashDone(t))),
                            Err(e) => {
                                warn!("flash: {e:#}");
                                boot.handle_input(Input::File(stage::Input::FlashFailed(t)));
                            }
                        }
                    }
                    Output::Event(e) => io.event(&boot, e, &mut display)?,
                }
            };
            if let Some(code) = io.done.take() {
                return Ok(code);
            }
            if io.restart {
                break;
            }
            let wait = deadline
                .saturating_duration_since(now())
                .min(Duration::from_secs(3600));
            match rx.recv_timeout(wait) {
                Ok(Msg::Dhcp(d)) => boot.handle_input(Input::Dhcp(now(), &d)),
                Ok(Msg::File(id, ev)) => {
                    if io.file_conn.as_ref().is_some_and(|(c, _)| *c == id) {
                        let t = now();
                        match ev {
                            StreamEvent::Data(d) => {
                                boot.handle_input(Input::File(stage::Input::Received(t, id, &d)));
                            }
                            StreamEvent::Closed { broken } => {
                                io.file_conn = None;
                                let i = if broken {
                                    stage::Input::Reset(t, id)
                                } else {
                                    stage::Input::Closed(t, id)
                                };
                                boot.handle_input(Input::File(i));
                            }
                        }
                    }
                }
                Ok(Msg::SipDatagram(from, d)) => {
                    if let Some(i) = io.controller_of(from) {
                        boot.handle_input(Input::Sip(phone_sip_reg::Input::Datagram {
                            now: now(),
                            controller: i,
                            data: &d,
                        }));
                    }
                }
                Ok(Msg::Sip(controller, g, ev)) => {
                    if io
                        .sip_conns
                        .get(&controller)
                        .is_some_and(|(gen_, _, _)| *gen_ == g)
                    {
                        let t = now();
                        match ev {
                            StreamEvent::Data(d) => {
                                boot.handle_input(Input::Sip(phone_sip_reg::Input::Stream {
                                    now: t,
                                    controller,
                                    data: &d,
                                }));
                            }
                            StreamEvent::Closed { .. } => {
                                io.sip_conns.remove(&controller);
                                boot.handle_input(Input::Sip(
                                    phone_sip_reg::Input::TransportError { now: t, controller },
                                ));
                            }
                        }
                    }
                }
                Ok(Msg::Line(line)) => io.line(&mut boot, &line, now()),
                Ok(Msg::Interrupt) => {
                    info!("interrupted");
                    return Ok(ExitCode::from(130));
                }
                Err(RecvTimeoutError::Timeout) => boot.handle_input(Input::Timeout(now())),
                Err(RecvTimeoutError::Disconnected) => bail!("internal channel closed"),
            }
        }
        // Restart: the address goes with the power.
        if !args.no_configure {
            ip(&["addr", "flush", "dev", &args.iface]);
        }
    }
}

fn dhcp_socket(iface: &str) -> Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind_device(Some(iface.as_bytes()))
        .with_context(|| format!("binding to interface {iface}"))?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68).into())
        .context("binding UDP port 68")?;
    Ok(s.into())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Prompt {
    Extension,
    Password,
}

struct Io<'a> {
    args: &'a Args,
    state: &'a State,
    dhcp: &'a UdpSocket,
    sip_udp: &'a UdpSocket,
    tx: Sender<Msg>,
    file_conn: Option<(u32, Sender<Vec<u8>>)>,
    sip_conns: HashMap<usize, (u64, phone_sip_reg::Controller, Sender<Vec<u8>>)>,
    generation: u64,
    restart: bool,
    done: Option<ExitCode>,
    prompt: Option<Prompt>,
    registered: Option<String>,
    udp_peers: HashMap<SocketAddr, usize>,
}

type Phone = Boot<rand_chacha::ChaCha20Rng>;

impl Io<'_> {
    fn pems(&self, boot: &Phone) -> Vec<Vec<u8>> {
        let mut pems: Vec<Vec<u8>> = fs::read_dir(self.state.dir.join("trust"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| fs::read(e.path()).ok())
            .collect();
        pems.extend(boot.record().trust_certs.iter().map(|(_, p)| p.clone()));
        pems
    }

    fn transmit(&mut self, boot: &mut Phone, t: Transmit, now: Instant) {
        match t {
            Transmit::Dhcp {
                payload,
                destination,
                ..
            } => {
                debug!("DHCP {} bytes to {destination}", payload.len());
                if let Err(e) = self.dhcp.send_to(&payload, (destination, 67)) {
                    warn!("DHCP send: {e}");
                }
            }
            Transmit::Arp(a) => debug!(
                "ARP {:?} {} (not sent by the reference phone)",
                a.kind, a.address
            ),
            Transmit::FileConnect {
                conn,
                server,
                check_identity,
            } => {
                self.file_conn = None;
                let tls = match server.scheme {
                    Scheme::Http => None,
                    Scheme::Https => {
                        if !check_identity {
                            debug!("TLSSRVRID=0: the reference phone still checks the name");
                        }
                        match io_stream::tls_config(io_stream::roots(&self.pems(boot), &[]), None) {
                            Ok(c) => Some(c),
                            Err(e) => {
                                warn!("TLS: {e:#}");
                                boot.handle_input(Input::File(stage::Input::ConnectFailed(
                                    now, conn,
                                )));
                                return;
                            }
                        }
                    }
                };
                let started = std::time::Instant::now();
                let connected = io_stream::connect(
                    &server.host,
                    server.port,
                    tls,
                    Duration::from_secs(self.args.timeout.max(1)),
                );
                // The connect blocks (up to --timeout): report its outcome at the time it
                // ended, or the next request's deadline starts in the past and it times out
                // at once (seen with a dead first TLSSRVR: the live second one "timed out").
                let now = now.saturating_add(started.elapsed());
                match connected {
                    Ok(s) => {
                        info!("connected to {server}");
                        let w = io_stream::spawn(s, self.tx.clone(), move |ev| Msg::File(conn, ev));
                        self.file_conn = Some((conn, w));
                        boot.handle_input(Input::File(stage::Input::Connected(now, conn)));
                    }
                    Err(e) => {
                        warn!("{server}: {e:#}");
                        boot.handle_input(Input::File(stage::Input::ConnectFailed(now, conn)));
                    }
                }
            }
            Transmit::FileSend { conn, bytes } => {
                if let Some((_, w)) = self.file_conn.as_ref().filter(|(c, _)| *c == conn)
                    && w.send(bytes).is_err()
                {
                    self.file_conn = None;
                    boot.handle_input(Input::File(stage::Input::Reset(now, conn)));
                }
            }
            Transmit::FileClose { conn } => {
                if self.file_conn.as_ref().is_some_and(|(c, _)| *c == conn) {
                    self.file_conn = None;
                }
            }
            Transmit::Scep(req) => {
                info!(
                    "SCEP {} to {}:{}",
                    req.operation.name(),
                    req.connect_host,
                    req.connect_port
                );
                let mut wire = req.head().into_bytes();
                wire.extend_from_slice(&req.body);
                let tls = match req.url.scheme {
                    phone_scep::http::Scheme::Https => {
                        io_stream::tls_config(io_stream::roots(&self.pems(boot), &[]), None).ok()
                    }
                    phone_scep::http::Scheme::Http => None,
                };
                let result = io_stream::connect(
                    &req.connect_host,
                    req.connect_port,
                    tls,
                    Duration::from_secs(10),
                )
                .and_then(|s| io_stream::exchange(s, &wire, Duration::from_secs(30)));
                let t = now;
                match result {
                    Ok(r) => boot.handle_input(Input::ScepResponse(
                        t,
                        HttpResponse {
                            status: r.status,
                            content_type: r.content_type.as_deref(),
                            body: &r.body,
                        },
                    )),
                    Err(e) => {
                        let err = TransportError::Connect(format!("{e:#}"));
                        boot.handle_input(Input::ScepFailed(t, &err));
                    }
                }
            }
            Transmit::Sip(t) => {
                let target = t.target.clone();
                let sent: Result<()> = match target.transport {
                    Transport::Udp => io_stream::resolve(&target.host, target.port).and_then(|a| {
                        self.udp_peers.insert(a, t.controller);
                        Ok(self.sip_udp.send_to(&t.payload, a).map(|_| ())?)
                    }),
                    Transport::Tcp | Transport::Tls => {
                        let fresh = self
                            .sip_conns
                            .get(&t.controller)
                            .is_none_or(|(_, c, _)| *c != target);
                        if fresh {
                            self.sip_conns.remove(&t.controller);
                            match self.sip_connect(boot, &target, t.controller) {
                                Ok(()) => {}
                                Err(e) => warn!("connect {}:{}: {e:#}", target.host, target.port),
                            }
                        }
                        match self.sip_conns.get(&t.controller) {
                            Some((_, _, w)) => {
                                w.send(t.payload).map_err(|_| anyhow!("connection closed"))
                            }
                            None => Err(anyhow!("not connected")),
                        }
                    }
                };
                if let Err(e) = sent {
                    debug!("SIP send to {}:{}: {e:#}", target.host, target.port);
                    self.sip_conns.remove(&t.controller);
                    boot.handle_input(Input::Sip(phone_sip_reg::Input::TransportError {
                        now,
                        controller: t.controller,
                    }));
                }
            }
        }
    }

    fn sip_connect(
        &mut self,
        boot: &Phone,
        target: &phone_sip_reg::Controller,
        controller: usize,
    ) -> Result<()> {
        let tls = if target.transport == Transport::Tls {
            let id = boot.record().identity.as_ref();
            let ca: Vec<Vec<u8>> = id.map(|i| i.ca.clone()).unwrap_or_default();
            let client = id.map(|i| (vec![i.certificate.clone()], i.key_pkcs8.clone()));
            Some(io_stream::tls_config(
                io_stream::roots(&self.pems(boot), &ca),
                client,
            )?)
        } else {
            None
        };
        let s = io_stream::connect(&target.host, target.port, tls, Duration::from_secs(5))?;
        self.generation += 1;
        let g = self.generation;
        let w = io_stream::spawn(s, self.tx.clone(), move |ev| Msg::Sip(controller, g, ev));
        self.sip_conns.insert(controller, (g, target.clone(), w));
        Ok(())
    }

    /// UDP answers come from the address a controller's requests went to.
    fn controller_of(&self, from: SocketAddr) -> Option<usize> {
        self.udp_peers.get(&from).copied()
    }

    fn event(&mut self, boot: &Phone, e: Event, display: &mut Display) -> Result<()> {
        let reached = |u: Until| self.args.until == Some(u);
        match e {
            Event::Display(s) => {
                match s {
                    Screen::Extension => self.prompt = Some(Prompt::Extension),
                    Screen::Password => self.prompt = Some(Prompt::Password),
                    _ => {}
                }
                display.show(&s);
                if matches!(s, Screen::Extension | Screen::Password) {
                    print!("> ");
                    let _ = std::io::stdout().flush();
                }
            }
            Event::Configure(n) => {
                info!(
                    "address {}/{} routers {:?} lease {} s",
                    n.address,
                    prefix_len(n.mask),
                    n.routers,
                    n.lease_secs
                );
                if !self.args.no_configure {
                    let iface = &self.args.iface;
                    ip(&["addr", "flush", "dev", iface]);
                    let cidr = format!("{}/{}", n.address, prefix_len(n.mask));
                    ip(&["addr", "add", &cidr, "dev", iface]);
                    ip(&["link", "set", iface, "up"]);
                    if let Some(r) = n.routers.first() {
                        ip(&["route", "replace", "default", "via", &r.to_string()]);
                    }
                }
            }
            Event::Deconfigure => {
                if !self.args.no_configure {
                    ip(&["addr", "flush", "dev", &self.args.iface]);
                }
            }
            Event::Reached(stage) => {
                info!("reached {stage:?}");
                if stage == Stage::Certificate {
                    match &boot.record().identity {
                        Some(_) => println!("CERTIFICATE held"),
                        None => println!("CERTIFICATE none"),
                    }
                }
                let hit = match stage {
                    Stage::Network => reached(Until::Network),
                    Stage::Files => reached(Until::Files),
                    Stage::Certificate => reached(Until::Certificate),
                    Stage::Registered => reached(Until::Registered),
                };
                if hit {
                    self.done = Some(ExitCode::SUCCESS);
                }
            }
            Event::RecordChanged => self.state.save(boot.record())?,
            Event::Restart => {
                self.state.save(boot.record())?;
                self.restart = true;
            }
            Event::Registered {
                controller,
                expires,
            } => {
                let c = format!("{}:{}", controller.host, controller.port);
                if self.registered.as_deref() != Some(c.as_str()) {
                    println!("REGISTERED controller={c} expires={expires}");
                    let _ = std::io::stdout().flush();
                    self.registered = Some(c);
                }
            }
            Event::Warning(w) if w.starts_with("DHCP: Vlan(Untagged)") => debug!("{w}"),
            Event::Warning(w) => warn!("{w}"),
            Event::View(lines) => {
                for (n, v) in lines {
                    println!("{n}={v}");
                }
            }
        }
        Ok(())
    }

    fn line(&mut self, boot: &mut Phone, line: &str, now: Instant) {
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(p) = self.prompt.take() {
            let _ = p;
            boot.handle_input(Input::Entry(now, line));
            return;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let cmd = match words.as_slice() {
            ["program"] => {
                boot.handle_input(Input::Program(now));
                return;
            }
            ["addr", "dhcp"] => CraftCommand::Address(None),
            ["addr", a, m, r, rest @ ..] => {
                let parse = |s: &str| s.parse::<Ipv4Addr>().ok();
                match (parse(a), parse(m), parse(r)) {
                    (Some(address), Some(mask), Some(router)) => {
                        CraftCommand::Address(Some(StaticAddress {
                            address,
                            mask,
                            router,
                            file_server: rest
                                .first()
                                .and_then(|s| parse(s))
                                .unwrap_or(Ipv4Addr::UNSPECIFIED),
                        }))
                    }
                    _ => {
                        println!("addr IP MASK ROUTER [FILESERVER]");
                        return;
                    }
                }
            }
            ["sson", n] => match n.parse() {
                Ok(n) => CraftCommand::Sson(n),
                Err(_) => return,
            },
            ["group", n] => match n.parse() {
                Ok(n) => CraftCommand::Group(n),
                Err(_) => return,
            },
            ["view"] => CraftCommand::View,
            ["clear"] => CraftCommand::Clear,
            ["exit"] => CraftCommand::Exit,
            _ => return,
        };
        boot.handle_input(Input::Craft(now, &cmd));
    }
}
