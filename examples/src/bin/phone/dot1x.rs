//! `phone dot1x`: the 802.1X supplicant (phone-dot1x, link.md §2) on one interface, against a
//! real authenticator (the lab's hostapd), until the port is authorized or refused.
//!
//! EAPOL goes over the raw link-layer socket of [`crate::arp`] bound to EtherType 0x888e. Frames
//! are read with `recvfrom` through nix's `LinkAddr` (safe), because the supplicant needs what
//! the payload alone does not say: who sent the frame and whether it came to the phone's MAC or
//! to a group address (DOT1XSTAT 1 answers only the former). The driver's `Fact::Frame` carries
//! neither yet, so this subcommand runs its own small mio loop on the driver's [`Clock`] (one
//! socket, one machine); the boot will need the two fields in `Fact::Frame` (see the report of
//! issue 14).
//!
//! Exit: 0 authorized, 1 EAP-Failure (`802.1X failed`), 2 no answer in time, 3 no authenticator
//! (maxStart EAPOL-Starts unanswered).

use std::io::{self, BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::socket::{LinkAddr, recvfrom};
use phone_dot1x::{
    Command, Config, Event, Link, Method, Mode, Secret, Substitution, Supplicant, TlsConfig,
    substitute,
};
use phone_sansio::{Input, Machine, Output};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::arp::PacketSocket;
use crate::cli::{Iface, Mac};
use crate::driver::Clock;

/// `phone dot1x` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The interface plugged into the authenticator's port.
    #[arg(long, value_parser = clap::value_parser!(Iface))]
    iface: Iface,
    /// The EAP identity (FORCE_DOT1XID / FORCE_DOT1XID_TLS; `$MACADDR`, `$SERIALNO` and their
    /// `_UPPER` forms substituted). MD5 without it prompts `802.1X ID:`; TLS defaults to
    /// `$MACADDR`.
    #[arg(long)]
    identity: Option<String>,
    /// The MD5 password (FORCE_DOT1XPSWD); without it the phone prompts `802.1X Password:` on
    /// stdin.
    #[arg(long)]
    password: Option<String>,
    /// EAP-TLS: the phone's certificate (PEM, leaf first). Selects DOT1XEAPS=TLS.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// EAP-TLS: the certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// EAP-TLS: a trusted certificate the server must chain to (PEM; repeatable).
    #[arg(long)]
    ca: Vec<PathBuf>,
    /// EAP-TLS: the name the server's certificate must carry (default: any; the chain decides).
    #[arg(long)]
    server_name: Option<String>,
    /// DOT1XSTAT: 1 answers EAPOL sent to the phone's MAC only, 2 also to group addresses.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    dot1xstat: u8,
    /// SERIALNO for `$SERIALNO`.
    #[arg(long, default_value = "SN0000000001")]
    serial: String,
    /// Give up after this many seconds without a result.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

const SOCKET: Token = Token(0);
/// Frames read per readiness (a flood cannot starve the timers).
const FRAMES_PER_WAKE: usize = 64;

/// Runs `phone dot1x`.
pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("phone dot1x: {e:#}");
            ExitCode::from(4)
        }
    }
}

fn read_pem_certs(path: &PathBuf) -> anyhow::Result<Vec<Vec<u8>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{}", path.display()))?
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{}: no certificate", path.display());
    Ok(certs)
}

fn config(args: &Args, mac: Mac) -> anyhow::Result<Config> {
    let subst = Substitution {
        mac: mac.octets(),
        serial: args.serial.clone(),
    };
    let mut c = Config::new(mac.octets());
    c.mode = Mode::from_setting(args.dot1xstat).unwrap_or(Mode::UnicastAndMulticast);
    c.identity = args.identity.as_deref().map(|i| substitute(i, &subst));
    c.password = args
        .password
        .as_deref()
        .map(|p| Secret::new(substitute(p, &subst)));
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        c.method = Method::Tls;
        if let Some(i) = &args.identity {
            c.tls_identity = substitute(i, &subst);
        }
        let key =
            PrivateKeyDer::from_pem_file(key).with_context(|| format!("{}", key.display()))?;
        let mut trusted = Vec::new();
        for ca in &args.ca {
            trusted.extend(read_pem_certs(ca)?);
        }
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        c.tls = Some(TlsConfig {
            certificate_chain: read_pem_certs(cert)?,
            private_key: key.secret_der().to_vec(),
            trusted,
            server_name: args.server_name.clone(),
            unix_time_at_origin: unix,
        });
    }
    Ok(c)
}

/// One line from stdin after `prompt` (the supplicant asked the user).
fn ask(prompt: &str) -> Option<String> {
    eprint!("{prompt} ");
    let _ = io::stderr().flush();
    let mut line = String::new();
    match io::stdin().lock().read_line(&mut line) {
        Ok(n) if n > 0 => Some(line.trim_end_matches(['\r', '\n']).to_string()),
        _ => None,
    }
}

fn run_inner(args: &Args) -> anyhow::Result<ExitCode> {
    let mac = Mac::of_interface(&args.iface)?;
    let config = config(args, mac)?;
    let socket = PacketSocket::open(&args.iface, phone_dot1x::eapol::ETHERTYPE)
        .with_context(|| format!("EAPOL socket on {}", args.iface))?;
    let mut poll = Poll::new()?;
    let fd = socket.raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), SOCKET, Interest::READABLE)?;
    let clock = Clock::new();
    let give_up = clock.now() + Duration::from_secs(args.timeout);
    let mut m = Supplicant::new(config, clock.now());
    let mut events = Events::with_capacity(8);
    let mut buf = vec![0u8; 4096];
    println!(
        "802.1X: {} ({mac}), DOT1XSTAT={}",
        args.iface, args.dot1xstat
    );
    loop {
        // Drain the machine.
        let deadline = loop {
            match m.poll_output() {
                Output::Transmit(t) => {
                    if let Err(e) = socket.send_to(&t.payload, t.destination) {
                        tracing::warn!("EAPOL send: {e}");
                        m.handle_input(Input::TransportFailed(clock.now(), link_none()));
                    }
                }
                Output::Event(e) => {
                    println!("{e}");
                    match e {
                        Event::Authorized { .. } => return Ok(ExitCode::SUCCESS),
                        Event::Failed => return Ok(ExitCode::from(1)),
                        Event::NoAuthenticator => return Ok(ExitCode::from(3)),
                        Event::Prompt(p) => {
                            let Some(answer) = ask(&p.to_string()) else {
                                eprintln!("phone dot1x: no answer to {p} (stdin closed)");
                                return Ok(ExitCode::from(4));
                            };
                            let cmd = match p {
                                phone_dot1x::Prompt::Identity => Command::Identity(&answer),
                                _ => Command::Password(&answer),
                            };
                            m.handle_input(Input::Command(clock.now(), cmd));
                        }
                        _ => {}
                    }
                }
                Output::Timeout(t) => break t,
            }
        };
        let now = clock.now();
        if now >= give_up {
            println!("802.1X: no result within {} s", args.timeout);
            return Ok(ExitCode::from(2));
        }
        let wait = deadline.min(give_up);
        poll.poll(&mut events, clock.until(wait))?;
        let now = clock.now();
        if events.is_empty() {
            m.handle_input(Input::Timeout(now));
            continue;
        }
        for _ in 0..FRAMES_PER_WAKE {
            match recvfrom::<LinkAddr>(fd, &mut buf) {
                Ok((n, addr)) => {
                    let Some(addr) = addr else { continue };
                    // packet(7): PACKET_HOST 0, BROADCAST 1, MULTICAST 2; others are not ours.
                    let multicast = match addr.pkttype() {
                        0 => false,
                        1 | 2 => true,
                        _ => continue,
                    };
                    let link = Link {
                        source: addr.addr().unwrap_or([0; 6]),
                        multicast,
                    };
                    m.handle_input(Input::Receive(now, link, &buf[..n.min(buf.len())]));
                }
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(e) => {
                    tracing::debug!("EAPOL receive: {e}");
                    break;
                }
            }
        }
        m.handle_input(Input::Timeout(now));
    }
}

fn link_none() -> Link {
    Link {
        source: [0; 6],
        multicast: false,
    }
}
