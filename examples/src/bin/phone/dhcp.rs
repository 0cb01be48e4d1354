//! `phone dhcp`: acquire a DHCP lease on one interface with the phone-dhcp machine, on the one
//! driver, and print it with its option 43 and SSON parameters.
//!
//! - [`DhcpPorts`], shared with `phone boot`: UDP port 68 bound to the interface of the current
//!   VLAN (SO_BINDTODEVICE, SO_BROADCAST, SO_REUSEADDR; the request's broadcast flag brings the
//!   server's reply to it while the phone has no address) and the raw ARP socket on the same
//!   interface ([`crate::arp`]). The client's `Transmit::Udp` goes to port 67, its
//!   `Transmit::Arp` (RFC 5227 probes and announcements, router checks) is broadcast on the raw
//!   socket, and every ARP packet heard there goes back to it as `Receive(now, Link::Arp, ..)`:
//!   the client decides what is a conflict (Decision 11, probe budget `--acd-ms`).
//! - The leased address is configured with [`crate::net::Interface`] (iproute2).
//! - Voice VLAN: the machine names the VLAN; the interface `IFACE.VID` is used if it exists (the
//!   lab creates it, its kernel has no 802.1Q), else created. Priority-tagged frames fall back
//!   to the untagged interface (switches treat VID 0 as untagged, spec §6).
//! - `--state FILE` keeps the address (`IPADD=`, `SERVER=`) for INIT-REBOOT at the next run.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use phone_dhcp::client::{L2q, LostReason, State, Vlan};
use phone_dhcp::options::SsonCode;
use phone_dhcp::{Client, Command, Config, Event, Link, PreviousLease, Transmit, VendorOptions};
use phone_sansio::{Input, Instant};
use phone_settings::{Source, Store, parse_sson};

use crate::cli::{Iface, Mac, SetArgs};
use crate::driver::{
    Adapter, Driven, Driver, Fact, Flow, LinkPort, PeerFact, Reactor, UdpPort, feed,
};
use crate::net::{Interface, Ipv4Config, SocketOptions, prefix_len};
use crate::term::Display;

/// Arguments of `phone dhcp`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Interface to run DHCP on.
    #[arg(long, value_parser = clap::value_parser!(Iface))]
    iface: Iface,
    /// MAC to put in chaddr and the client id (default: the interface's): aa:bb:cc:dd:ee:ff,
    /// aa-bb-cc-dd-ee-ff or aabbccddeeff.
    #[arg(long, value_parser = clap::value_parser!(Mac))]
    mac: Option<Mac>,
    /// Phone parameters for DHCP: SSON, DHCPSTD, L2Q, L2QVLAN, VLANTEST (repeatable).
    #[command(flatten)]
    sets: SetArgs,
    /// Send DHCPRELEASE (and remove the address) before exiting.
    #[arg(long)]
    release: bool,
    /// Give up when no lease is bound within this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Lease file: read at start (INIT-REBOOT with its address), written when bound.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Stay this many seconds after binding, renewing and rebinding (prints RENEWED/REBOUND).
    #[arg(long, default_value_t = 0)]
    hold: u64,
    /// ARP probe budget in milliseconds (Decision 11; RFC 5227 timing scaled to it; 9000 =
    /// RFC 5227's own timing).
    #[arg(long, default_value_t = 200)]
    acd_ms: u64,
    /// Do not probe the offered address with ARP (announcements and defence still run).
    #[arg(long)]
    no_probe: bool,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    log: String,
}

/// Runs `phone dhcp`.
pub fn run(args: Args) -> ExitCode {
    let display = Display::new();
    crate::term::init_tracing(&display, &args.log);
    match run_inner(args, &display) {
        Ok(code) => code,
        Err(e) => {
            display.log(&format!("phone dhcp: {e:#}"));
            ExitCode::from(1)
        }
    }
}

/// DHCP's transports on the interface of the current VLAN: UDP port 68 and the raw ARP
/// socket. Facts come back as the client's `Link::Udp` / `Link::Arp` inputs.
#[derive(Debug)]
pub struct DhcpPorts {
    base: Iface,
    link: Iface,
    udp: Option<UdpPort>,
    arp: Option<LinkPort>,
}

impl DhcpPorts {
    /// Opens both sockets on `base`.
    ///
    /// # Errors
    /// UDP port 68 cannot be bound on `base` (no such interface, no permission). A missing
    /// ARP socket is only logged: the client then uses addresses without a probe.
    pub fn open(io: &mut Reactor, base: &Iface) -> std::io::Result<DhcpPorts> {
        let mut p = DhcpPorts {
            base: base.clone(),
            link: base.clone(),
            udp: None,
            arp: None,
        };
        p.open_on(io, base.clone())?;
        Ok(p)
    }

    /// The interface DHCP runs on now (the base interface or a VLAN interface).
    #[must_use]
    pub fn link(&self) -> &Iface {
        &self.link
    }

    fn open_on(&mut self, io: &mut Reactor, link: Iface) -> std::io::Result<()> {
        if let Some(u) = self.udp.take() {
            u.close(io);
        }
        if let Some(a) = self.arp.take() {
            a.close(io);
        }
        let options = SocketOptions {
            device: Some(link.clone()),
            broadcast: true,
            reuse_address: true,
            ..SocketOptions::default()
        };
        let local = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68));
        self.link = link;
        self.udp = Some(UdpPort::open(io, local, &options).map_err(|e| {
            std::io::Error::new(e.kind(), format!("UDP port 68 on {}: {e}", self.link))
        })?);
        match LinkPort::open(io, &self.link, crate::arp::ETH_P_ARP) {
            Ok(a) => self.arp = Some(a),
            Err(e) => tracing::warn!("no ARP socket on {}: {e}", self.link),
        }
        Ok(())
    }

    /// Moves to the VLAN the client asks for: reopens both sockets on `IFACE.VID` (created
    /// when missing) or on the base interface; returns the interface now in use.
    pub fn use_vlan(&mut self, io: &mut Reactor, vlan: Vlan) -> Iface {
        let link = match vlan {
            Vlan::Untagged => self.base.clone(),
            Vlan::PriorityTagged => {
                tracing::info!(
                    "priority-tagged (VID 0): using {} untagged",
                    self.base.name()
                );
                self.base.clone()
            }
            Vlan::Tagged(vid) => match Interface::new(self.base.clone(), true).vlan(vid) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("{e:#}");
                    self.base.vlan(vid)
                }
            },
        };
        if (link != self.link || self.udp.is_none())
            && let Err(e) = self.open_on(io, link.clone())
        {
            tracing::warn!("{e}");
        }
        self.link.clone()
    }

    /// Sends one of the client's transmits; `Some` is a failure to feed back at once.
    pub fn transmit(&mut self, io: &mut Reactor, t: Transmit) -> Option<PeerFact<'static, Link>> {
        let (link, sent) = match t {
            Transmit::Udp {
                payload,
                destination,
                ..
            } => {
                let to = SocketAddr::V4(SocketAddrV4::new(destination, 67));
                let sent = self.udp.as_ref().map(|u| u.send(io, to, &payload));
                (Link::Udp, sent)
            }
            Transmit::Arp(p) => {
                tracing::debug!("ARP {p} on {}", self.link);
                let sent = self.arp.as_ref().map(|a| a.broadcast(io, &p.to_bytes()));
                (Link::Arp, sent)
            }
        };
        let error = match sent {
            Some(Ok(())) => return None,
            Some(Err(e)) => e.to_string(),
            None => "no socket".to_string(),
        };
        tracing::info!("{link:?} send on {}: {error}", self.link);
        Some(PeerFact::TransportFailed(link))
    }

    /// A datagram on port 68 or an ARP packet on the interface, as the client's input.
    #[must_use]
    pub fn fact<'a>(&self, fact: &Fact<'a>) -> Option<PeerFact<'a, Link>> {
        if let Some((_, bytes)) = self.udp.as_ref().and_then(|u| u.fact(fact)) {
            return Some(PeerFact::Receive(Link::Udp, bytes));
        }
        self.arp
            .as_ref()
            .and_then(|a| a.fact(fact))
            .map(|bytes| PeerFact::Receive(Link::Arp, bytes))
    }
}

/// The saved lease: the address (and the server), for INIT-REBOOT at the next run.
fn read_state(path: &PathBuf) -> Option<PreviousLease> {
    let text = std::fs::read_to_string(path).ok()?;
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse::<Ipv4Addr>().ok())
    };
    let mut p = PreviousLease::new(field("IPADD=")?);
    p.server_id = field("SERVER=").filter(|s| !s.is_unspecified());
    Some(p)
}

/// The client's configuration from the arguments.
fn config(args: &Args) -> anyhow::Result<Config> {
    let mac = match args.mac {
        Some(m) => m,
        None => Mac::of_interface(&args.iface)?,
    };
    let mut cfg = Config::for_mac(mac.octets());
    for s in &args.sets.sets {
        let n: u32 = s
            .value
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--set {s}: value is not a number"))?;
        match s.name.as_str() {
            "SSON" => {
                let code = u8::try_from(n).ok().and_then(SsonCode::new);
                cfg.sson = code.ok_or_else(|| anyhow::anyhow!("SSON must be 128-254"))?;
                cfg.parameter_request_list =
                    phone_dhcp::client::default_parameter_request_list(cfg.sson);
            }
            "DHCPSTD" if n <= 1 => cfg.dhcpstd = n == 1,
            "L2Q" => {
                cfg.l2q = u8::try_from(n)
                    .ok()
                    .and_then(L2q::from_value)
                    .ok_or_else(|| anyhow::anyhow!("L2Q must be 0-2"))?;
            }
            "L2QVLAN" if n <= 4094 => cfg.l2qvlan = u16::try_from(n)?,
            "VLANTEST" if n <= 999 => cfg.vlantest = u16::try_from(n)?,
            other => anyhow::bail!(
                "--set {other}: not a DHCP parameter or out of range (SSON, DHCPSTD, L2Q, L2QVLAN, VLANTEST)"
            ),
        }
    }
    cfg.probe_budget = if args.no_probe {
        Duration::ZERO
    } else {
        Duration::from_millis(args.acd_ms)
    };
    Ok(cfg)
}

/// The lease's option 43 and SSON, validated like SET values (spec §4, §5): the pairs in
/// order, and the resulting parameter store (with defaults) for the VLAN values.
fn dhcp_parameters(lease: &phone_dhcp::Lease, display: &Display) -> (Vec<(String, String)>, Store) {
    let mut store = Store::new();
    let mut out = Vec::new();
    let warn = |w: &dyn std::fmt::Display| display.log(&format!("warning: {w}"));
    if let Some(v) = &lease.vendor_specific {
        match VendorOptions::parse(v) {
            Ok(v) => {
                for s in &v.sub_options {
                    let Some(name) = s.parameter() else {
                        warn(&format_args!(
                            "option 43 sub-option {} unknown, ignored",
                            s.code
                        ));
                        continue;
                    };
                    match store.apply_set(name, s.value, Source::Option43, 0) {
                        Ok(()) => out.push((
                            name.to_string(),
                            String::from_utf8_lossy(s.value).into_owned(),
                        )),
                        Err(w) => warn(&w),
                    }
                }
            }
            Err(e) => warn(&format_args!("{e}; option 43 ignored")),
        }
    }
    if let Some(s) = &lease.sson {
        let (pairs, warnings) = parse_sson(s);
        for w in warnings {
            warn(&w);
        }
        for p in pairs {
            if let Err(w) = store.apply_set(&p.name, &p.value, Source::Sson, 0) {
                warn(&w);
                continue;
            }
            out.push((p.name, String::from_utf8_lossy(&p.value).into_owned()));
        }
    }
    (out, store)
}

/// The address configuration of a lease.
#[must_use]
pub fn lease_config(lease: &phone_dhcp::Lease) -> Ipv4Config {
    let mask = lease.subnet_mask.unwrap_or(Ipv4Addr::new(255, 255, 255, 0));
    Ipv4Config {
        address: lease.address,
        prefix: prefix_len(mask).unwrap_or(24),
        router: lease.routers.first().copied(),
    }
}

type Dhcp = Client<rand::rngs::ThreadRng>;

/// `phone dhcp`'s side of the driver: the ports, the interface, the output, and the run's
/// own times (give up, hold).
struct DhcpIo {
    ports: DhcpPorts,
    /// The interface of the current link, with the address this process configured.
    iface: Interface,
    display: Display,
    state: Option<PathBuf>,
    release: bool,
    timeout: Duration,
    hold: Duration,
    give_up: Instant,
    printed: bool,
    /// When the lease was first bound and kept: the hold counts from here.
    bound_at: Option<Instant>,
    /// DHCPRELEASE requested: end at the next turn (its datagram went out in between).
    released: bool,
    exit: ExitCode,
}

impl DhcpIo {
    fn configure(&mut self, client: &Dhcp) -> anyhow::Result<()> {
        let Some(lease) = client.lease() else {
            return Ok(());
        };
        self.iface.configure(lease_config(lease))?;
        if let Some(p) = &self.state {
            let text = format!("IPADD={}\nSERVER={}\n", lease.address, lease.server_id);
            crate::state_dir::write_atomic(p, text.as_bytes(), crate::state_dir::PUBLIC_MODE)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        }
        Ok(())
    }

    fn print_lease(&self, lease: &phone_dhcp::Lease, params: &[(String, String)]) {
        let join = |v: &[Ipv4Addr]| {
            v.iter()
                .map(Ipv4Addr::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut lines = vec![
            format!("IPADD={}", lease.address),
            format!(
                "NETMASK={}",
                lease.subnet_mask.map(|m| m.to_string()).unwrap_or_default()
            ),
            format!("ROUTER={}", join(&lease.routers)),
            format!("DNSSRVR={}", join(&lease.dns_servers)),
            format!(
                "DOMAIN={}",
                lease
                    .domain_name
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
            ),
            format!("LEASE={}", lease.timers.lease),
        ];
        lines.extend(params.iter().map(|(k, v)| format!("{k}={v}")));
        self.display.line(&lines.join("\n"));
    }

    /// On a bound lease: configure it, read option 43 and the SSON, and move to a voice VLAN
    /// they name (spec §6); prints the lease once the phone stays on it.
    fn on_bound(&mut self, client: &mut Dhcp, now: Instant) -> anyhow::Result<()> {
        self.configure(client)?;
        let Some(lease) = client.lease().cloned() else {
            return Ok(());
        };
        let (params, store) = dhcp_parameters(&lease, &self.display);
        let int = |n: &str| store.int(n).unwrap_or(0);
        let l2q = u8::try_from(int("L2Q"))
            .ok()
            .and_then(L2q::from_value)
            .unwrap_or_default();
        let vid = u16::try_from(int("L2QVLAN")).unwrap_or(0);
        let vlantest = u16::try_from(store.int("VLANTEST").unwrap_or(60)).unwrap_or(60);
        client.handle_input(Input::Command(
            now,
            Command::VoiceVlan {
                l2q,
                l2qvlan: vid,
                vlantest,
            },
        ));
        if client.state() != State::Bound {
            self.display.log(&format!(
                "phone dhcp: the lease names voice VLAN {vid}: releasing, DHCP again there"
            ));
            return Ok(());
        }
        if !self.printed {
            self.print_lease(&lease, &params);
            self.printed = true;
        }
        self.bound_at.get_or_insert(now);
        Ok(())
    }

    fn on_event(&mut self, client: &mut Dhcp, io: &mut Reactor, e: Event, now: Instant) -> Flow {
        let result = match e {
            Event::Vlan(v) => {
                let link = self.ports.use_vlan(io, v);
                if &link != self.iface.iface() {
                    self.iface.deconfigure();
                    self.iface = Interface::new(link, true);
                }
                let vid = match v {
                    Vlan::Tagged(v) => v,
                    _ => 0,
                };
                self.display.log(&format!("VLAN={vid}"));
                Ok(())
            }
            Event::VlanTestExpired(v) => {
                self.display.log(&format!(
                    "phone dhcp: no lease on VLAN {v} within VLANTEST, falling back"
                ));
                Ok(())
            }
            Event::Bound => {
                self.display.log("phone dhcp: bound");
                self.on_bound(client, now)
            }
            Event::Renewed | Event::Rebound => {
                let word = if e == Event::Renewed {
                    "RENEWED"
                } else {
                    "REBOUND"
                };
                let r = self.configure(client);
                if let Some(l) = client.lease() {
                    self.display.line(&format!(
                        "{word} IPADD={} LEASE={}",
                        l.address, l.timers.lease
                    ));
                }
                r
            }
            Event::Deconfigure(why) => {
                self.display
                    .log(&format!("phone dhcp: address dropped ({why})"));
                self.iface.deconfigure();
                if matches!(why, LostReason::Conflict | LostReason::Nak) {
                    self.printed = false;
                }
                Ok(())
            }
            Event::Conflict(a) => {
                self.display.line(&format!("CONFLICT={a}"));
                self.display.log(&format!(
                    "Address conflict: {a} is in use by another host; DHCPDECLINE sent"
                ));
                Ok(())
            }
            other => {
                self.display.log(&format!("phone dhcp: {other}"));
                Ok(())
            }
        };
        match result {
            Ok(()) => Flow::Continue,
            Err(e) => {
                self.display.log(&format!("phone dhcp: {e:#}"));
                self.exit = ExitCode::from(1);
                Flow::Stop
            }
        }
    }
}

impl Adapter<Dhcp> for DhcpIo {
    fn transmit(&mut self, io: &mut Reactor, client: &mut Dhcp, t: Transmit, now: Instant) {
        let f = self.ports.transmit(io, t);
        feed(client, f, now);
    }

    fn fact(
        &mut self,
        _io: &mut Reactor,
        client: &mut Dhcp,
        fact: &Fact<'_>,
        now: Instant,
    ) -> bool {
        let f = self.ports.fact(fact);
        feed(client, f, now)
    }

    fn tick(&mut self, _io: &mut Reactor, client: &mut Dhcp, now: Instant) -> Flow {
        if self.released {
            self.iface.deconfigure();
            self.display.log("phone dhcp: released");
            return Flow::Stop;
        }
        match self.bound_at {
            Some(b) if now >= b + self.hold => {
                if !self.release {
                    return Flow::Stop;
                }
                client.handle_input(Input::Command(now, Command::Release));
                self.released = true;
                Flow::Continue
            }
            Some(_) => Flow::Continue,
            None if now >= self.give_up => {
                self.iface.deconfigure();
                self.display.log(&format!(
                    "phone dhcp: no DHCP lease on {} within {} s (no server answered{})",
                    self.ports.link(),
                    self.timeout.as_secs(),
                    if client.state() == State::Selecting {
                        ""
                    } else {
                        " in time"
                    }
                ));
                self.exit = ExitCode::from(1);
                Flow::Stop
            }
            None => Flow::Continue,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        if self.released {
            return Some(Instant::ZERO);
        }
        Some(match self.bound_at {
            Some(b) => b + self.hold,
            None => self.give_up,
        })
    }
}

fn run_inner(args: Args, display: &Display) -> anyhow::Result<ExitCode> {
    let cfg = config(&args)?;
    let previous = args.state.as_ref().and_then(read_state);
    if let Some(p) = &previous {
        display.log(&format!(
            "phone dhcp: INIT-REBOOT with the stored address {}",
            p.address
        ));
    }
    let mut driver = Driver::new()?;
    let now = driver.io.now();
    let ports = DhcpPorts::open(&mut driver.io, &args.iface)?;
    let client = Client::new(cfg, previous, rand::rng(), now);
    let timeout = Duration::from_secs(args.timeout);
    let io = DhcpIo {
        ports,
        iface: Interface::new(args.iface.clone(), true),
        display: display.clone(),
        state: args.state.clone(),
        release: args.release,
        timeout,
        hold: Duration::from_secs(args.hold),
        give_up: now + timeout,
        printed: false,
        bound_at: None,
        released: false,
        exit: ExitCode::SUCCESS,
    };
    let mut task = Driven::new(
        client,
        io,
        |m: &mut Dhcp, a: &mut DhcpIo, io: &mut Reactor, e, now| a.on_event(m, io, e, now),
    );
    driver.run(&mut [&mut task])?;
    Ok(task.adapter.exit)
}
