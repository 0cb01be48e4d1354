//! `phone boot`: the whole boot from power-on to registered, phone-boot's Sans-IO [`Boot`]
//! machine on the one driver.
//!
//! Every transmit of the boot is carried out by the shared components: DHCP and the RFC 5227
//! probes and announcements by [`DhcpPorts`] (UDP :68 and the raw ARP socket; every ARP packet
//! heard goes back to the DHCP client), the file stage's and SCEP's phone-http connections by
//! two [`HttpAdapter`]s (TLSSRVRID from each connection's `Tls::check_identity`; HTTPPROXY with
//! CONNECT as the machine routes it), flash operations by [`FlashPort`] on the state directory
//! shared with `phone files`, SIP by [`SipPorts`] (TLS presenting the SCEP certificate). Nothing
//! blocks: while a server is slow the `DHCP:`/`SCEP: s secs` counters, DHCP renewals, SIP
//! refreshes and the keyboard keep running.
//!
//! The display is the terminal: every prompt-line message is printed as `| TEXT`; the
//! `Extension:`/`Password:` prompts sit on the input line (the password shows as `*`), log lines
//! are written above it. Keyboard (one line each): at a prompt the answer; `program` (or F1) =
//! the Program softkey; in craft access `addr IP MASK ROUTER [FILESERVER]`, `addr dhcp`,
//! `sson N`, `group N`, `view`, `clear`, `exit`.
//!
//! Prints `REGISTERED controller=HOST:PORT` when registered. `--until STAGE` exits 0 when the
//! stage is reached. Exit codes: 0 reached, 1 the boot cannot go on, 2 bad arguments, 130
//! interrupted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use phone_boot::boot::display::Screen;
use phone_boot::boot::record::{Record, StaticAddress};
use phone_boot::boot::{Boot, BootConfig, Command, CraftCommand, Event, Peer, Stage, Transmit};
use phone_boot::files::StageConfig;
use phone_sansio::{Input, Instant, Machine as _};
use tracing::{debug, info, warn};

use crate::cli::{IdentityArgs, IfaceArgs, SetArgs, StateArgs, TrustArgs};
use crate::dhcp::DhcpPorts;
use crate::driver::dns::DnsPort;
use crate::driver::eapol::EapolPort;
use crate::driver::lldp::LldpPort;
use crate::driver::{
    Adapter, Driven, Driver, Fact, FlashPort, Flow, HttpAdapter, PeerFact, Reactor, SipPorts, feed,
};
use crate::files::{FileIo, FileScreen, open_state, power_on_line, trust_of};
use crate::net::{ClientIdentity, Interface, Ipv4Config, SocketOptions, TlsPolicy, prefix_len};
use crate::state_dir::StateDir;
use crate::term::{Display, Echo, KeyEvent, Keyboard};

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
    #[command(flatten)]
    iface: IfaceArgs,
    /// MODEL, e.g. 9611G.
    #[arg(long)]
    model: String,
    #[command(flatten)]
    id: IdentityArgs,
    #[command(flatten)]
    state: StateArgs,
    /// A parameter as the network would give it (repeatable), e.g. TLSSRVR=10.0.0.5.
    #[command(flatten)]
    sets: SetArgs,
    /// SIP extension (with --password; else the stored one, else the prompt).
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// SIP password.
    #[arg(long, requires = "user")]
    password: Option<String>,
    #[command(flatten)]
    trust: TrustArgs,
    /// Install the trusted firmware public key (kept in the state directory).
    #[arg(long, value_name = "PUB.pem")]
    firmware_key: Option<std::path::PathBuf>,
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
    /// ARP probe budget for address conflict detection, milliseconds (Decision 11; 0 = no
    /// probe, 9000 = RFC 5227's own timing).
    #[arg(long, default_value_t = 200)]
    acd_ms: u64,
    /// Do not configure the interface address (it is already set up).
    #[arg(long)]
    no_configure: bool,
    /// Record the whole boot (every power-on) into FILE for `phone replay` and `phone
    /// timeline`; secrets go to FILE.secrets (0600).
    #[arg(long, value_name = "FILE")]
    record: Option<std::path::PathBuf>,
    /// The phone's wall clock runs this many seconds ahead of the host's (negative: behind),
    /// as an RTC set wrong would; the lab uses it to reach a certificate's MYCERTRENEW point
    /// or a lease's end without waiting. Only the boot's wall clock moves (certificate
    /// renewal, the stored lease expiry, the SCEP self-signed certificate), not TLS checks.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    clock_offset: i64,
}

/// Runs `phone boot`.
pub fn run(args: Args) -> ExitCode {
    let display = Display::new();
    crate::term::init_tracing(&display, &args.log);
    let code = match run_inner(&args, &display) {
        Ok(code) => code,
        Err(e) => {
            display.log(&format!("phone boot: {e:#}"));
            ExitCode::from(2)
        }
    };
    display.close();
    code
}

type Phone = phone_boot::trace::Recorder<Boot<rand_chacha::ChaCha20Rng>>;

/// How one power-on ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Exit the process with this code.
    Exit(u8),
    /// Power on again (a flash, craft EXIT).
    Restart,
}

/// The TLS policies of a record: files and SCEP trust the anchors; SIP also presents the SCEP
/// certificate.
fn policies(state: &StateDir, record: &Record) -> Result<(TlsPolicy, TlsPolicy)> {
    let trust = trust_of(state, record);
    let http = TlsPolicy::new(&trust, None)?;
    debug!("TLS: {} trust anchors", http.anchors());
    let identity = record
        .identity
        .as_ref()
        .map(|i| ClientIdentity::from_der(&i.certificate, &i.key_pkcs8, &i.ca));
    let sip = match TlsPolicy::new(&trust, identity) {
        Ok(p) => p,
        Err(e) => {
            warn!("the SCEP certificate cannot be presented ({e}); SIP TLS without it");
            http.clone()
        }
    };
    Ok((http, sip))
}

/// What a record's TLS policies are built from: TRUSTCERTS and the SCEP certificate.
type TlsSource = (Vec<(String, Vec<u8>)>, Option<Vec<u8>>);

/// What the TLS policies of `record` are built from.
fn tls_source(record: &Record) -> TlsSource {
    (
        record.trust_certs.clone(),
        record.identity.as_ref().map(|i| i.certificate.clone()),
    )
}

/// `phone boot`'s side of the driver for one power-on.
struct BootIo {
    dhcp: DhcpPorts,
    /// LLDP on the line interface (untagged, whatever VLAN DHCP runs on); `None` when the raw
    /// socket cannot be opened (no CAP_NET_RAW): the agent's frames are then reported failed.
    lldp: Option<LldpPort>,
    /// 802.1X's EAPOL on the line interface, like [`BootIo::lldp`].
    eapol: Option<EapolPort>,
    /// The interface DHCP runs on now, with the address this process configured.
    iface: Interface,
    manage: bool,
    files: FileIo,
    scep: HttpAdapter,
    sip: SipPorts,
    /// The stub resolver's socket: every host name goes through the boot's resolver.
    dns: DnsPort,
    state: StateDir,
    display: Display,
    screen: FileScreen,
    until: Option<Until>,
    outcome: Option<Outcome>,
    registered: Option<String>,
    /// The trust and identity the TLS policies were built from.
    tls_from: TlsSource,
}

impl BootIo {
    fn stop(&mut self, o: Outcome) -> Flow {
        self.outcome.get_or_insert(o);
        Flow::Stop
    }

    /// Stores the record, and rebuilds the TLS policies when its trust or identity changed.
    fn record_changed(&mut self, boot: &Phone) {
        let record = boot.record();
        if let Err(e) = self.state.save_record(record) {
            warn!("saving the record: {e}");
        }
        let from = tls_source(record);
        if from != self.tls_from {
            if self.tls_from.1.is_some() && from.1.is_some() && from.1 != self.tls_from.1 {
                self.display.line("CERTIFICATE renewed");
            }
            match policies(&self.state, record) {
                Ok((http, sip)) => {
                    self.files.http.set_tls(http.clone());
                    self.scep.set_tls(http);
                    self.sip.set_tls(sip);
                    self.tls_from = from;
                }
                Err(e) => warn!("TLS: {e:#}"),
            }
        }
    }

    fn show(&mut self, s: &Screen, prompting: bool) {
        let text = match s {
            Screen::File(d) => match self.screen.line(d) {
                Some(t) => t,
                None => return,
            },
            other => other.to_string(),
        };
        self.display.line(&format!("| {text}"));
        match s {
            Screen::Extension => self.display.prompt("Extension: ", Echo::Clear),
            Screen::Password => self.display.prompt("Password: ", Echo::Masked),
            // The boot left the prompt without an answer (craft access, a new DHCP).
            _ if !prompting => self.display.end_prompt(),
            _ => {}
        }
    }

    fn on_event(&mut self, boot: &mut Phone, io: &mut Reactor, e: Event) -> Flow {
        let reached = |u: Until| self.until == Some(u);
        match e {
            Event::Display(s) => self.show(&s, boot.prompt().is_some()),
            Event::Configure(n) => {
                let prefix = prefix_len(n.mask).unwrap_or(24);
                info!(
                    "address {}/{prefix} routers {:?} lease {} s",
                    n.address, n.routers, n.lease_secs
                );
                let config = Ipv4Config {
                    address: n.address,
                    prefix,
                    router: n.routers.first().copied(),
                };
                if let Err(e) = self.iface.configure(config) {
                    warn!("{e:#}");
                }
            }
            Event::Deconfigure => self.iface.deconfigure(),
            Event::Vlan(v) => {
                let link = self.dhcp.use_vlan(io, v);
                if &link != self.iface.iface() {
                    self.iface.deconfigure();
                    self.iface = Interface::new(link, self.manage);
                }
                debug!("DHCP on {v}");
            }
            Event::Reached(stage) => {
                info!("reached {stage:?}");
                if stage == Stage::Certificate {
                    let held = if boot.record().identity.is_some() {
                        "held"
                    } else {
                        "none"
                    };
                    self.display.line(&format!("CERTIFICATE {held}"));
                }
                let hit = match stage {
                    Stage::Network => reached(Until::Network),
                    Stage::Files => reached(Until::Files),
                    Stage::Certificate => reached(Until::Certificate),
                    Stage::Registered => reached(Until::Registered),
                };
                if hit {
                    return self.stop(Outcome::Exit(0));
                }
            }
            Event::RecordChanged => self.record_changed(boot),
            Event::Installed { name, slot } => info!("installed {name} in slot {slot}"),
            Event::Restart => {
                self.record_changed(boot);
                return self.stop(Outcome::Restart);
            }
            Event::Registered {
                controller,
                expires,
            } => {
                let c = format!("{}:{}", controller.host, controller.port);
                if self.registered.as_deref() != Some(c.as_str()) {
                    self.display
                        .line(&format!("REGISTERED controller={c} expires={expires}"));
                    self.registered = Some(c);
                }
            }
            Event::Warning(w) => warn!("{w}"),
            Event::Lldp(e) => info!("{e}"),
            Event::Dot1x(e) => info!("{e}"),
            Event::View(lines) => {
                let text: Vec<String> = lines.iter().map(|(n, v)| format!("{n}={v}")).collect();
                self.display.line(&text.join("\n"));
            }
            other => debug!("{other:?}"),
        }
        Flow::Continue
    }

    /// A line typed at the keyboard: the answer to the prompt shown, else a softkey or a
    /// craft entry.
    fn line(&mut self, boot: &mut Phone, line: &str, now: Instant) {
        if boot.prompt().is_some() {
            boot.handle_input(Input::Command(now, Command::Entry(line)));
            return;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let cmd = match words.as_slice() {
            ["program"] => {
                boot.handle_input(Input::Command(now, Command::Program));
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
                        self.display.line("addr IP MASK ROUTER [FILESERVER]");
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
        boot.handle_input(Input::Command(now, Command::Craft(cmd)));
    }
}

impl Adapter<Phone> for BootIo {
    fn transmit(&mut self, io: &mut Reactor, boot: &mut Phone, t: Transmit, now: Instant) {
        let failed = match t {
            Transmit::Dhcp(t) => self.dhcp.transmit(io, t).map(|f| f.map(Peer::Dhcp)),
            Transmit::Files(t) => self
                .files
                .http
                .carry_out(io, t)
                .map(|f| f.map(|c| Peer::Files(phone_boot::files::Peer::Conn(c)))),
            Transmit::Flash(op) => {
                let f =
                    self.files
                        .transmit(io, phone_boot::files::Transmit::Flash(op), boot.record());
                // The boot keeps its own record (Software::Installed carries the slots).
                let _ = self.files.take_committed();
                f.map(|f| f.map(Peer::Files))
            }
            Transmit::Scep(t) => self.scep.carry_out(io, t).map(|f| f.map(Peer::Scep)),
            Transmit::Dns(t) => self.dns.transmit(io, &t).map(|f| f.map(Peer::Dns)),
            Transmit::Sip(t) => {
                // A controller expanded from a DNS name: TLS verifies the name.
                let name = boot.controller_name(&t.target);
                self.sip.set_tls_name(t.controller, name);
                crate::register::send_sip(&mut self.sip, io, &t).map(|f| {
                    debug!("SIP to {}: send failed", crate::register::show(&t.target));
                    f.map(Peer::Sip)
                })
            }
            Transmit::Lldp(t) => match &self.lldp {
                Some(l) if l.send(io, &t.payload).is_ok() => None,
                _ => Some(PeerFact::TransportFailed(Peer::Lldp)),
            },
            Transmit::Eapol(t) => match &self.eapol {
                Some(e) if e.send(io, &t).is_ok() => None,
                _ => Some(PeerFact::TransportFailed(Peer::Eapol(
                    crate::driver::eapol::no_link(),
                ))),
            },
        };
        feed(boot, failed, now);
    }

    fn fact(&mut self, io: &mut Reactor, boot: &mut Phone, fact: &Fact<'_>, now: Instant) -> bool {
        match fact {
            Fact::Keys(bytes) => {
                for k in self.display.keys(bytes) {
                    match k {
                        KeyEvent::Line(l) => self.line(boot, &l, now),
                        KeyEvent::Softkey(1) => {
                            boot.handle_input(Input::Command(now, Command::Program));
                        }
                        KeyEvent::Softkey(_) | KeyEvent::Eof => {}
                    }
                }
                return true;
            }
            Fact::KeyboardClosed => return true,
            Fact::Signal(s) => {
                info!("interrupted (signal {s})");
                self.outcome.get_or_insert(Outcome::Exit(130));
                return true;
            }
            _ => {}
        }
        match self.eapol.as_ref().and_then(|e| e.fact(io, fact)) {
            // A frame not for this host (another's unicast): taken, dropped.
            Some(None) => return true,
            Some(Some((link, bytes))) => {
                return feed(boot, Some(PeerFact::Receive(Peer::Eapol(link), bytes)), now);
            }
            None => {}
        }
        match self.dns.fact(fact) {
            // A datagram on the resolver's socket not from a DNS port: taken, dropped.
            Some(None) => return true,
            Some(Some(f)) => return feed(boot, Some(f.map(Peer::Dns)), now),
            None => {}
        }
        let f: Option<PeerFact<'_, Peer>> = match self.sip.fact(fact) {
            // A SIP datagram from an address no controller has: taken, dropped.
            Some(None) => return true,
            Some(Some(f)) => Some(f.map(Peer::Sip)),
            None => (self.dhcp.fact(fact).map(|f| f.map(Peer::Dhcp)))
                .or_else(|| self.files.fact(fact).map(|f| f.map(Peer::Files)))
                .or_else(|| {
                    let l = self.lldp.as_ref()?;
                    l.fact(fact).map(|b| PeerFact::Receive(Peer::Lldp, b))
                })
                .or_else(|| self.scep.fact(fact).map(|f| f.map(Peer::Scep))),
        };
        feed(boot, f, now)
    }

    fn tick(&mut self, _io: &mut Reactor, _boot: &mut Phone, _now: Instant) -> Flow {
        if self.outcome.is_some() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

fn run_inner(args: &Args, display: &Display) -> Result<ExitCode> {
    let (state, _, firmware_key) = open_state(
        &args.state.state_dir,
        &args.trust,
        args.firmware_key.as_deref(),
        display,
    )?;
    let sets: Vec<(String, String)> = args
        .sets
        .sets
        .iter()
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();
    let mac = args.id.mac;
    let mut dhcp_config = phone_dhcp::Config::for_mac(mac.octets());
    dhcp_config.probe_budget = Duration::from_millis(args.acd_ms);
    let mut keyboard = Some(Keyboard::open().context("the keyboard (stdin)")?);
    let manage = !args.no_configure;
    let mut trace = args
        .record
        .as_ref()
        .map(|_| phone_boot::trace::Trace::new());
    let mut boots = 0u32;
    // Each pass is one power-on; a flash (or craft EXIT) restarts in the same process.
    loop {
        boots += 1;
        if boots > 5 {
            bail!("restarted 5 times in a row");
        }
        let loaded = state.load_record()?;
        for e in &loaded.damaged {
            warn!("record.bin damaged ({e}); what it lost starts from the factory state");
        }
        let (record, on) = state.power_on(loaded.record)?;
        info!(
            "power-on: {}",
            power_on_line(&on).trim_start_matches("boot: ")
        );
        let mut iface = Interface::new(args.iface.iface.clone(), manage);
        // The address goes with the power.
        iface.flush();

        let mut driver = Driver::new()?;
        driver.io.catch_signals(&[libc::SIGINT, libc::SIGTERM])?;
        if let Some(kb) = keyboard.take() {
            driver.io.keyboard(kb)?;
        }
        let (http_tls, sip_tls) = policies(&state, &record)?;
        let sip = SipPorts::open(
            &mut driver.io,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            SocketOptions::default(),
            sip_tls,
        )
        .context("binding the SIP socket")?;
        let dhcp = DhcpPorts::open(&mut driver.io, &args.iface.iface)?;
        let dns = DnsPort::open(&mut driver.io, &SocketOptions::default())
            .context("binding the DNS socket")?;
        let lldp = LldpPort::open(&mut driver.io, &args.iface.iface)
            .inspect_err(|e| warn!("no LLDP socket on {}: {e}", args.iface.iface))
            .ok();
        let eapol = EapolPort::open(&mut driver.io, &args.iface.iface)
            .inspect_err(|e| warn!("no EAPOL socket on {}: {e}", args.iface.iface))
            .ok();
        let slots = record
            .slots
            .clone()
            .context("the record has no slots after power-on")?;
        let mut files = StageConfig::new(&args.model, mac.octets(), &args.id.serial, slots);
        files.firmware_key = firmware_key;
        files.http.timeout = Duration::from_secs(args.timeout.max(1));
        let mut config = BootConfig::new(files);
        config.dhcp = Some(dhcp_config.clone());
        config.sets.clone_from(&sets);
        config.credentials = args.user.clone().zip(args.password.clone());
        config.sip_port = sip.local_addr(&driver.io)?.port();
        // Wall-clock time at this power-on's clock origin (each Driver's clock starts at 0).
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let wall = if args.clock_offset >= 0 {
            wall.saturating_add(Duration::from_secs(args.clock_offset.unsigned_abs()))
        } else {
            wall.saturating_sub(Duration::from_secs(args.clock_offset.unsigned_abs()))
        };
        config.unix_at_zero = wall.saturating_sub(driver.io.now().since_origin());
        // The recorder keeps the seed so `phone replay` can rebuild the same RNG.
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        let tls_from = tls_source(&record);
        let boot = Phone::power_on(trace.take(), config, record, seed, driver.io.now());
        let io = BootIo {
            dhcp,
            lldp,
            eapol,
            iface,
            manage,
            files: FileIo::new(
                HttpAdapter::new(http_tls.clone(), SocketOptions::default()),
                FlashPort::new(state.flash(Duration::from_millis(args.flash_ms_per_chunk))),
            ),
            scep: HttpAdapter::new(http_tls, SocketOptions::default()),
            sip,
            dns,
            state: state.clone(),
            display: display.clone(),
            screen: FileScreen::default(),
            until: args.until,
            outcome: None,
            registered: None,
            tls_from,
        };
        let mut task = Driven::new(
            boot,
            io,
            |m: &mut Phone, a: &mut BootIo, io: &mut Reactor, e, _now| a.on_event(m, io, e),
        );
        let ended = driver.run(&mut [&mut task])?;
        keyboard = driver.io.take_keyboard();
        let outcome = match ended {
            crate::driver::Ended::Signal(s) => {
                info!("interrupted (signal {s})");
                Outcome::Exit(130)
            }
            crate::driver::Ended::Finished => task.adapter.outcome.unwrap_or(Outcome::Exit(1)),
        };
        // Written after every power-on: a boot killed later keeps what it recorded.
        trace = task.machine.into_trace();
        if let (Some(path), Some(t)) = (&args.record, &trace) {
            crate::trace_cmd::save(path, t)
                .with_context(|| format!("writing the trace {}", path.display()))?;
            info!("trace written to {}", path.display());
        }
        match outcome {
            Outcome::Exit(code) => return Ok(ExitCode::from(code)),
            Outcome::Restart => info!("restarting"),
        }
    }
}
