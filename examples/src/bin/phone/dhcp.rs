//! `phone dhcp`: acquire a DHCP lease on one interface with the phone-dhcp machine and print it
//! with its option 43 and SSON parameters.
//!
//! I/O choices:
//! - A UDP socket on 0.0.0.0:68 bound to the interface (SO_BINDTODEVICE, SO_BROADCAST,
//!   SO_REUSEADDR), with the broadcast flag set in requests: the phone has no address yet, so
//!   the server's reply must be broadcast to reach this socket (lab-recipe `dhcp_udp_probe.py`).
//! - The leased address is configured with `ip addr` / `ip route` (iproute2).
//! - ARP probes and announcements are `arping -D` / `arping -U` (iputils-arping) child
//!   processes, one per packet the machine asks for, polled without blocking. A raw AF_PACKET
//!   socket would need `unsafe` sockaddr_ll handling in this binary; arping already sends
//!   RFC 5227 probes (sender IP 0.0.0.0) and reports any reply by its exit status.
//! - Voice VLAN: the machine names the VLAN; the interface `IFACE.VID` is used if it exists
//!   (the lab creates it, its kernel has no 802.1Q), else created with `ip link add ... type
//!   vlan`. Priority-tagged frames fall back to the untagged interface (switches treat VID 0 as
//!   untagged, spec §6).

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use phone_dhcp::VendorOptions;
use phone_dhcp::client::{
    ArpKind, Client, Config, Event, Input, L2q, LostReason, Output, State, Vlan,
};
use phone_dhcp::options::SsonCode;
use phone_settings::{Instant, Source, Store, parse_sson};
use socket2::{Domain, Protocol, Socket, Type};

/// Arguments of `phone dhcp`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Interface to run DHCP on.
    #[arg(long)]
    iface: String,
    /// MAC to put in chaddr and the client id (default: the interface's).
    #[arg(long)]
    mac: Option<String>,
    /// Phone parameters for DHCP: SSON, DHCPSTD, L2Q, L2QVLAN, VLANTEST (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
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
    /// Do not probe the offered address with ARP (no arping needed).
    #[arg(long)]
    no_probe: bool,
}

/// Runs `phone dhcp`.
pub fn run(args: Args) -> ExitCode {
    match Dhcp::new(args).and_then(|mut d| d.run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("phone dhcp: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn parse_mac(s: &str) -> anyhow::Result<[u8; 6]> {
    let parts: Vec<&str> = s.trim().split([':', '-']).collect();
    anyhow::ensure!(parts.len() == 6, "MAC {s:?} is not six hex octets");
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        *m =
            u8::from_str_radix(p, 16).map_err(|_| anyhow::anyhow!("MAC {s:?}: bad octet {p:?}"))?;
    }
    Ok(mac)
}

fn prefix_len(mask: Ipv4Addr) -> u32 {
    u32::from(mask).leading_ones()
}

/// Runs a command, reporting its failure as an error with its stderr.
fn sh(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", args[0]))?;
    anyhow::ensure!(
        out.status.success(),
        "`{}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// The saved lease: the address, for INIT-REBOOT at the next run.
fn read_state(path: &PathBuf) -> Option<Ipv4Addr> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("IPADD=")?.trim().parse().ok())
}

struct Probe {
    child: Child,
    address: Ipv4Addr,
}

struct Dhcp {
    args: Args,
    client: Client<rand::rngs::ThreadRng>,
    start: std::time::Instant,
    socket: Option<UdpSocket>,
    /// The interface DHCP runs on now (the base interface or a VLAN interface).
    link: String,
    /// Address configured by us: (interface, address, prefix).
    configured: Option<(String, Ipv4Addr, u32)>,
    probes: Vec<Probe>,
    /// Running `arping -U` announcements, reaped as they finish.
    announces: Vec<Child>,
    printed: bool,
    bound_at: Option<std::time::Instant>,
}

impl Dhcp {
    fn new(args: Args) -> anyhow::Result<Dhcp> {
        let mac = match &args.mac {
            Some(m) => parse_mac(m)?,
            None => {
                let p = format!("/sys/class/net/{}/address", args.iface);
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| anyhow::anyhow!("interface {}: {e}", args.iface))?;
                parse_mac(&text)?
            }
        };
        let mut cfg = Config::for_mac(mac);
        for s in &args.set {
            let (name, value) = s
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--set {s:?}: NAME=VALUE"))?;
            let n: u32 = value
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("--set {s:?}: value is not a number"))?;
            match name.trim().to_ascii_uppercase().as_str() {
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
                "L2QVLAN" if n <= 4094 => cfg.l2qvlan = n as u16,
                "VLANTEST" if n <= 999 => cfg.vlantest = n as u16,
                other => anyhow::bail!(
                    "--set {other}: not a DHCP parameter or out of range (SSON, DHCPSTD, L2Q, L2QVLAN, VLANTEST)"
                ),
            }
        }
        cfg.conflict_detection = !args.no_probe;
        if let Some(p) = &args.state {
            cfg.previous_address = read_state(p);
            if let Some(a) = cfg.previous_address {
                eprintln!("phone dhcp: INIT-REBOOT with the stored address {a}");
            }
        }
        let client = Client::new(cfg, rand::rng(), Instant::ZERO);
        Ok(Dhcp {
            link: args.iface.clone(),
            args,
            client,
            start: std::time::Instant::now(),
            socket: None,
            configured: None,
            probes: Vec::new(),
            announces: Vec::new(),
            printed: false,
            bound_at: None,
        })
    }

    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn open_socket(&mut self, link: &str) {
        self.socket = None;
        self.link = link.to_string();
        let open = || -> std::io::Result<UdpSocket> {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            s.set_reuse_address(true)?;
            s.set_broadcast(true)?;
            s.bind_device(Some(link.as_bytes()))?;
            s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68).into())?;
            Ok(s.into())
        };
        match open() {
            Ok(s) => self.socket = Some(s),
            Err(e) => eprintln!("phone dhcp: cannot open UDP port 68 on {link}: {e}"),
        }
    }

    /// Switches to the VLAN the machine asks for.
    fn use_vlan(&mut self, vlan: Vlan) {
        let link = match vlan {
            Vlan::Untagged => self.args.iface.clone(),
            Vlan::PriorityTagged => {
                eprintln!(
                    "phone dhcp: priority-tagged (VID 0): using {} untagged",
                    self.args.iface
                );
                self.args.iface.clone()
            }
            Vlan::Tagged(vid) => {
                let name = format!("{}.{vid}", self.args.iface);
                if !PathBuf::from(format!("/sys/class/net/{name}")).exists() {
                    let vid_s = vid.to_string();
                    let made = sh(&[
                        "ip",
                        "link",
                        "add",
                        "link",
                        &self.args.iface,
                        "name",
                        &name,
                        "type",
                        "vlan",
                        "id",
                        &vid_s,
                    ])
                    .and_then(|()| sh(&["ip", "link", "set", &name, "up"]));
                    if let Err(e) = made {
                        eprintln!("phone dhcp: cannot create VLAN interface {name}: {e}");
                    }
                }
                name
            }
        };
        eprintln!(
            "VLAN={}",
            match vlan {
                Vlan::Tagged(v) => v,
                _ => 0,
            }
        );
        self.open_socket(&link);
    }

    fn deconfigure(&mut self) {
        if let Some((link, addr, prefix)) = self.configured.take() {
            let a = format!("{addr}/{prefix}");
            if let Err(e) = sh(&["ip", "addr", "del", &a, "dev", &link]) {
                eprintln!("phone dhcp: {e}");
            }
        }
    }

    fn configure(&mut self) -> anyhow::Result<()> {
        let Some(lease) = self.client.lease().cloned() else {
            return Ok(());
        };
        let prefix = prefix_len(lease.subnet_mask.unwrap_or(Ipv4Addr::new(255, 255, 255, 0)));
        if self.configured == Some((self.link.clone(), lease.address, prefix)) {
            return Ok(());
        }
        self.deconfigure();
        let a = format!("{}/{prefix}", lease.address);
        sh(&["ip", "addr", "replace", &a, "dev", &self.link])?;
        self.configured = Some((self.link.clone(), lease.address, prefix));
        if let Some(r) = lease.routers.first() {
            let r = r.to_string();
            if let Err(e) = sh(&[
                "ip", "route", "replace", "default", "via", &r, "dev", &self.link,
            ]) {
                eprintln!("phone dhcp: default route: {e}");
            }
        }
        if let Some(p) = &self.args.state {
            let text = format!("IPADD={}\nSERVER={}\n", lease.address, lease.server_id);
            std::fs::write(p, text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        }
        Ok(())
    }

    /// The lease's option 43 and SSON, validated like SET values (spec §4, §5): the pairs in
    /// order, and the resulting parameter store (with defaults) for the VLAN values.
    fn dhcp_parameters(&self) -> (Vec<(String, String)>, Store) {
        let mut store = Store::new();
        let mut out = Vec::new();
        let Some(lease) = self.client.lease() else {
            return (out, store);
        };
        if let Some(v) = &lease.vendor_specific {
            match VendorOptions::parse(v) {
                Ok(v) => {
                    for s in &v.sub_options {
                        let Some(name) = s.parameter() else {
                            eprintln!("warning: option 43 sub-option {} unknown, ignored", s.code);
                            continue;
                        };
                        match store.apply_set(name, s.value, Source::Option43, 0) {
                            Ok(()) => out.push((
                                name.to_string(),
                                String::from_utf8_lossy(s.value).into_owned(),
                            )),
                            Err(w) => eprintln!("warning: {w}"),
                        }
                    }
                }
                Err(e) => eprintln!("warning: {e}; option 43 ignored"),
            }
        }
        if let Some(s) = &lease.sson {
            let (pairs, warnings) = parse_sson(s);
            for w in warnings {
                eprintln!("warning: {w}");
            }
            for p in pairs {
                if let Err(w) = store.apply_set(&p.name, &p.value, Source::Sson, 0) {
                    eprintln!("warning: {w}");
                    continue;
                }
                out.push((p.name, String::from_utf8_lossy(&p.value).into_owned()));
            }
        }
        (out, store)
    }

    fn print_lease(&self, params: &[(String, String)]) {
        let Some(l) = self.client.lease() else { return };
        let join = |v: &[Ipv4Addr]| {
            v.iter()
                .map(Ipv4Addr::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        println!("IPADD={}", l.address);
        println!(
            "NETMASK={}",
            l.subnet_mask.map(|m| m.to_string()).unwrap_or_default()
        );
        println!("ROUTER={}", join(&l.routers));
        println!("DNSSRVR={}", join(&l.dns_servers));
        println!(
            "DOMAIN={}",
            l.domain_name
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
        );
        println!("LEASE={}", l.timers.lease);
        for (k, v) in params {
            println!("{k}={v}");
        }
    }

    /// On a (re)bound lease: configure it, read option 43 and the SSON, and move to a voice
    /// VLAN they name (spec §6); returns true once the phone stays on this lease.
    fn on_bound(&mut self) -> anyhow::Result<bool> {
        self.configure()?;
        let (params, store) = self.dhcp_parameters();
        let int = |n: &str| store.int(n).unwrap_or(0);
        let l2q = u8::try_from(int("L2Q"))
            .ok()
            .and_then(L2q::from_value)
            .unwrap_or_default();
        let vid = u16::try_from(int("L2QVLAN")).unwrap_or(0);
        let vlantest = u16::try_from(store.int("VLANTEST").unwrap_or(60)).unwrap_or(60);
        let now = self.now();
        self.client.handle_input(Input::VoiceVlan {
            now,
            l2q,
            l2qvlan: vid,
            vlantest,
        });
        if self.client.state() != State::Bound {
            eprintln!("phone dhcp: the lease names voice VLAN {vid}: releasing, DHCP again there");
            return Ok(false);
        }
        if !self.printed {
            self.print_lease(&params);
            self.printed = true;
        }
        Ok(true)
    }

    /// Sends what the machine asks for and acts on its events; returns the next deadline.
    fn drain(&mut self) -> anyhow::Result<(Instant, bool)> {
        let mut bound_now = false;
        loop {
            match self.client.poll_output() {
                Output::Transmit(t) => {
                    let to = SocketAddrV4::new(t.destination, 67);
                    match &self.socket {
                        Some(s) => {
                            if let Err(e) = s.send_to(t.payload, to) {
                                eprintln!("phone dhcp: send to {to} on {}: {e}", self.link);
                            }
                        }
                        None => eprintln!("phone dhcp: no socket on {}, not sent", self.link),
                    }
                }
                Output::Arp(a) => {
                    let addr = a.address.to_string();
                    let mut cmd = Command::new("arping");
                    match a.kind {
                        // RFC 5227 probe: sender 0.0.0.0; exit 1 when someone answers.
                        ArpKind::Probe => {
                            cmd.args(["-D", "-c", "1", "-w", "1", "-I", &self.link, &addr])
                        }
                        ArpKind::Announce => cmd.args(["-U", "-c", "1", "-I", &self.link, &addr]),
                    };
                    let spawned = cmd
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn();
                    match spawned {
                        Ok(child) if a.kind == ArpKind::Probe => {
                            self.probes.push(Probe {
                                child,
                                address: a.address,
                            });
                        }
                        Ok(child) => self.announces.push(child),
                        Err(e) => eprintln!("phone dhcp: arping: {e}"),
                    }
                }
                Output::Event(e) => match e {
                    Event::Vlan(v) => self.use_vlan(v),
                    Event::Bound => {
                        eprintln!("phone dhcp: bound");
                        if self.on_bound()? {
                            bound_now = true;
                        }
                    }
                    Event::Renewed | Event::Rebound => {
                        let word = if e == Event::Renewed {
                            "RENEWED"
                        } else {
                            "REBOUND"
                        };
                        self.configure()?;
                        if let Some(l) = self.client.lease() {
                            println!("{word} IPADD={} LEASE={}", l.address, l.timers.lease);
                        }
                    }
                    Event::Deconfigure(why) => {
                        eprintln!("phone dhcp: address dropped ({why:?})");
                        self.deconfigure();
                        if why == LostReason::Conflict || why == LostReason::Nak {
                            self.printed = false;
                        }
                    }
                    Event::ExtendedRebinding => {
                        eprintln!("phone dhcp: lease expired, keeping the address (DHCPSTD=0)");
                    }
                    Event::Conflict(a) => {
                        println!("CONFLICT={a}");
                        eprintln!(
                            "Address conflict: {a} is in use by another host; DHCPDECLINE sent"
                        );
                    }
                    Event::Nak(s) => eprintln!("phone dhcp: DHCPNAK from {s:?}"),
                    Event::Refused(s, why) => {
                        eprintln!("phone dhcp: refused reply from {s}: {why:?}");
                    }
                    Event::VlanTestExpired(v) => {
                        eprintln!("phone dhcp: no lease on VLAN {v} within VLANTEST, falling back");
                    }
                },
                Output::Timeout(t) => return Ok((t, bound_now)),
            }
        }
    }

    fn run(&mut self) -> anyhow::Result<ExitCode> {
        let give_up = std::time::Duration::from_secs(self.args.timeout);
        let mut deadline;
        loop {
            let (d, bound_now) = self.drain()?;
            deadline = d;
            if bound_now && self.bound_at.is_none() {
                self.bound_at = Some(std::time::Instant::now());
            }
            if let Some(b) = self.bound_at {
                if b.elapsed() >= Duration::from_secs(self.args.hold) {
                    break;
                }
            } else if self.start.elapsed() >= give_up {
                self.deconfigure();
                anyhow::bail!(
                    "no DHCP lease on {} within {} s (no server answered{})",
                    self.link,
                    self.args.timeout,
                    if self.client.state() == State::Selecting {
                        ""
                    } else {
                        " in time"
                    }
                );
            }
            self.wait(deadline)?;
        }
        if self.args.release {
            let now = self.now();
            self.client.handle_input(Input::Release(now));
            self.drain()?;
            self.deconfigure();
            eprintln!("phone dhcp: released");
        }
        let _ = deadline;
        Ok(ExitCode::SUCCESS)
    }

    /// Waits for a datagram, a probe result or the deadline (at most 100 ms at a time, to poll
    /// the arping children and the overall timeout), and feeds what happened to the machine.
    fn wait(&mut self, deadline: Instant) -> anyhow::Result<()> {
        let now = self.now();
        let left = deadline
            .saturating_duration_since(now)
            .min(Duration::from_millis(100));
        let mut buf = [0u8; 2048];
        let got = match &self.socket {
            Some(s) => {
                s.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
                match s.recv(&mut buf) {
                    Ok(n) => Some(n),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        None
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => {
                std::thread::sleep(left);
                None
            }
        };
        let now = self.now();
        if let Some(n) = got {
            self.client.handle_input(Input::Receive(now, &buf[..n]));
        }
        self.announces
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        let mut conflicts = Vec::new();
        self.probes.retain_mut(|p| match p.child.try_wait() {
            Ok(Some(status)) => {
                if status.code() == Some(1) {
                    conflicts.push(p.address);
                }
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
        for a in conflicts {
            eprintln!("phone dhcp: ARP reply for {a}");
            self.client.handle_input(Input::ArpConflict(now, a));
        }
        self.client.handle_input(Input::Timeout(now));
        Ok(())
    }
}
