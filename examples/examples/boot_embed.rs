//! Embedding `phone_boot::boot::Boot`: a whole boot on std sockets, one thread, printing the
//! phone's display until it is registered.
//!
//! ```text
//! cargo run -p phone-examples --example boot_embed -- ADDRESS/PREFIX SERVER [USER PASSWORD]
//! # in the lab: lab client-ip --id ID; lab exec --id ID -- target/debug/examples/boot_embed 10.77.N.50/24 10.77.N.1 1001 1001pass
//! ```
//!
//! The phone has a static address (craft ADDR): `ADDRESS` must already be on the interface, and
//! `SERVER` is the file server (HTTPSRVR). The settings file it serves names the SIP controllers,
//! and maybe a SCEP server (MYCERTURL). Without `USER PASSWORD` the boot prompts for them on
//! stdin (`Extension:`, `Password:`).
//!
//! What it carries out: file-server and SCEP connections over plain HTTP (`std::net::TcpStream`),
//! SIP over UDP (`std::net::UdpSocket`). What it leaves out, and how the boot takes that:
//! - **DHCP**: not needed with a static address (a DHCP boot needs UDP port 68 and broadcast).
//! - **ARP**: the static address is probed before use (RFC 5227), which needs a raw socket
//!   (`AF_PACKET`, root). Here every ARP transmit is reported `TransportFailed`: after three, the
//!   boot uses the address unprobed and logs `ArpUnavailable`.
//! - **TLS** (HTTPS servers, SIP over TLS), SIP over TCP, flash writes: reported
//!   `TransportFailed`, so the boot moves on to the next server, controller or gives up the
//!   software update, as it would after any such failure.
//! - **Waiting**: the sockets are non-blocking and the wait sleeps in slices of up to 10 ms;
//!   a firmware blocks in its poll/epoll or RTOS event wait on every socket and the deadline.
//! - **The record** is kept in memory; a firmware writes it to flash on `RecordChanged`.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use anyhow::{Context, bail};
use phone_boot::boot::display::Screen;
use phone_boot::boot::record::{Record, StaticAddress};
use phone_boot::boot::{Boot, BootConfig, Command, Event, Peer, Stage, Transmit};
use phone_boot::files::{self, StageConfig};
use phone_boot::flash::{BootRecord, SlotImage};
use phone_http::Action;
use phone_sansio::{Input, Instant, Machine, Output};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// How long the example waits for the registration before it gives up.
const GIVE_UP: Duration = Duration::from_secs(90);

/// The machine's time: microseconds since the program started (any monotonic origin will do).
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

/// The phone's sockets.
struct Io {
    /// SIP over UDP, bound to the phone's address and SIP port.
    sip: UdpSocket,
    /// Where each controller index was last sent to (to tell who an answer is from).
    controllers: Vec<(SocketAddr, usize)>,
    /// Open file-server and SCEP connections, by the peer the boot knows them as.
    conns: Vec<(Peer, TcpStream)>,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(address), Some(server)) = (args.first(), args.get(1)) else {
        bail!("usage: boot_embed ADDRESS/PREFIX SERVER [USER PASSWORD]");
    };
    let (address, prefix) = address.split_once('/').unwrap_or((address, "24"));
    let address: Ipv4Addr = address.parse()?;
    let server: Ipv4Addr = server.parse()?;
    let mask = Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - prefix.parse::<u32>()?.min(32))
            .unwrap_or(0),
    );

    // The phone: model, MAC, serial number, the running firmware; the craft static address as
    // the stored record would hold it (a firmware reads the record from flash: Record::decode).
    let slots = BootRecord::factory(SlotImage::of("factory.bin", b"factory image"));
    let mut config = BootConfig::new(StageConfig::new(
        "9611G",
        [2, 0, 0, 0, 0, 0x50],
        "EMBED01",
        slots,
    ));
    config.credentials = args.get(2).cloned().zip(args.get(3).cloned());
    let mut record = Record::default();
    record.craft.static_address = Some(StaticAddress {
        address,
        mask,
        router: server,
        file_server: server,
    });

    let sip =
        UdpSocket::bind((address, config.sip_port)).context("bind the SIP port on ADDRESS")?;
    sip.set_nonblocking(true)?;
    let mut io = Io {
        sip,
        controllers: Vec::new(),
        conns: Vec::new(),
    };
    let clock = Clock(std::time::Instant::now());
    let mut seed = [0u8; 32];
    rand::fill(&mut seed); // a firmware seeds from its TRNG
    let mut boot = Boot::new(config, record, ChaCha20Rng::from_seed(seed), clock.now());
    let mut stored = Vec::new();
    let stdin = std::io::stdin();

    loop {
        // 1. Drain: carry out every transmit and act on every event until the boot waits.
        let deadline = loop {
            match boot.poll_output() {
                Output::Transmit(t) => {
                    if let Err((peer, why)) = io.carry_out(t) {
                        println!("    {peer:?}: {why}");
                        boot.handle_input(Input::TransportFailed(clock.now(), peer));
                    }
                }
                Output::Event(Event::Display(screen)) => {
                    println!("[display] {screen}");
                    if matches!(screen, Screen::Extension | Screen::Password) {
                        let mut line = String::new();
                        stdin.lock().read_line(&mut line)?;
                        let entry = line.trim_end_matches(['\r', '\n']);
                        boot.handle_input(Input::Command(clock.now(), Command::Entry(entry)));
                    }
                }
                Output::Event(Event::Configure(n)) => {
                    println!(
                        "[network] {} mask {} routers {:?} (already configured here)",
                        n.address, n.mask, n.routers
                    );
                }
                Output::Event(Event::RecordChanged) => stored = boot.record().encode(), // to flash
                Output::Event(Event::Warning(w)) => println!("[warning] {w}"),
                Output::Event(Event::Reached(Stage::Registered)) => {
                    println!(
                        "registered; record of {} bytes to keep for the next boot",
                        stored.len()
                    );
                    return Ok(());
                }
                Output::Event(Event::Restart) => {
                    bail!("the boot asks for a restart (new firmware or craft EXIT)")
                }
                Output::Event(e) => println!("[event] {e:?}"),
                Output::Timeout(t) => break t,
            }
        };
        if clock.0.elapsed() > GIVE_UP {
            bail!(
                "not registered after {GIVE_UP:?} (phase {:?})",
                boot.phase()
            );
        }
        // 2. Wait for I/O until the deadline, then feed back what happened.
        io.wait(&mut boot, &clock, deadline);
    }
}

impl Io {
    /// Carries out one transmit; `Err` names the peer to report `TransportFailed` on.
    fn carry_out(&mut self, t: Transmit) -> Result<(), (Peer, String)> {
        match t {
            Transmit::Dhcp(phone_dhcp::Transmit::Arp(_)) => Err((
                Peer::Dhcp(phone_dhcp::Link::Arp),
                "no raw socket: ARP not sent".into(),
            )),
            Transmit::Dhcp(phone_dhcp::Transmit::Udp { .. }) => {
                Err((Peer::Dhcp(phone_dhcp::Link::Udp), "no DHCP socket".into()))
            }
            Transmit::Files(t) => self.connection(Peer::Files(files::Peer::Conn(t.conn)), t.action),
            Transmit::Scep(t) => self.connection(Peer::Scep(t.conn), t.action),
            Transmit::Flash(_) => Err((Peer::Files(files::Peer::Flash), "no flash here".into())),
            Transmit::Sip(t) => {
                let peer = Peer::Sip(t.controller);
                if t.target.transport != phone_sip_reg::Transport::Udp {
                    return Err((
                        peer,
                        format!("SIP over {:?} is left out", t.target.transport),
                    ));
                }
                let to = (t.target.host.as_str(), t.target.port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or((peer, "no address".to_string()))?;
                self.controllers.retain(|&(_, c)| c != t.controller);
                self.controllers.push((to, t.controller));
                let first = String::from_utf8_lossy(&t.payload)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                println!("    sip {to}: {first}");
                self.sip
                    .send_to(&t.payload, to)
                    .map(drop)
                    .map_err(|e| (peer, e.to_string()))
            }
            // Stages added to the boot after this example was written (LLDP, DNS, ...): not
            // carried out here, and nothing reported; their own timers take it from there.
            #[allow(unreachable_patterns)]
            other => {
                println!("    not carried out by this example: {other:?}");
                Ok(())
            }
        }
    }

    /// A connection transmit of the file stage or SCEP (plain HTTP only).
    fn connection(&mut self, peer: Peer, action: Action) -> Result<(), (Peer, String)> {
        let fail = |e: &dyn std::fmt::Display| (peer, e.to_string());
        match action {
            Action::Connect { host, port, tls } => {
                if tls.is_some() {
                    return Err((peer, format!("https://{host}: TLS is left out")));
                }
                let addr = (host.as_str(), port)
                    .to_socket_addrs()
                    .map_err(|e| fail(&e))?
                    .next();
                let addr = addr.ok_or_else(|| fail(&"no address"))?;
                // Blocking connect (a firmware connects non-blocking and reports Completed).
                let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                    .map_err(|e| fail(&e))?;
                s.set_nonblocking(true).map_err(|e| fail(&e))?;
                self.conns.push((peer, s));
            }
            Action::Send(bytes) => {
                let first = String::from_utf8_lossy(&bytes)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(90)
                    .collect::<String>();
                println!("    {peer:?}: {first}");
                let s = self
                    .conns
                    .iter_mut()
                    .find(|(p, _)| *p == peer)
                    .ok_or_else(|| fail(&"not connected"))?;
                // Requests are small; a full socket buffer would be a transport failure here.
                s.1.write_all(&bytes).map_err(|e| fail(&e))?;
            }
            Action::StartTls(_) => return Err((peer, "TLS is left out".into())),
            Action::Close => self.conns.retain(|(p, _)| *p != peer),
        }
        Ok(())
    }

    /// Waits until something arrives or the deadline comes, and tells the boot.
    fn wait<R: rand::CryptoRng + SeedableRng>(
        &mut self,
        boot: &mut Boot<R>,
        clock: &Clock,
        deadline: Instant,
    ) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let mut got = false;
            let mut i = 0;
            while i < self.conns.len() {
                let peer = self.conns[i].0;
                match self.conns[i].1.read(&mut buf) {
                    Ok(0) => {
                        self.conns.remove(i);
                        boot.handle_input(Input::Closed(clock.now(), peer));
                        got = true;
                        continue;
                    }
                    Ok(n) => {
                        boot.handle_input(Input::Receive(clock.now(), peer, &buf[..n]));
                        got = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => {
                        self.conns.remove(i);
                        boot.handle_input(Input::TransportFailed(clock.now(), peer));
                        got = true;
                        continue;
                    }
                }
                i += 1;
            }
            while let Ok((n, from)) = self.sip.recv_from(&mut buf) {
                // An answer from a controller we sent to; anything else is dropped.
                if let Some(&(_, c)) = self.controllers.iter().find(|(a, _)| *a == from) {
                    boot.handle_input(Input::Receive(clock.now(), Peer::Sip(c), &buf[..n]));
                    got = true;
                }
            }
            let now = clock.now();
            if got {
                return;
            }
            if now >= deadline {
                boot.handle_input(Input::Timeout(now));
                return;
            }
            std::thread::sleep(
                deadline
                    .saturating_duration_since(now)
                    .min(Duration::from_millis(10)),
            );
        }
    }
}
