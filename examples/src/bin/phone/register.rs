//! `phone register`: register with SIP controllers (phone-sip-reg), with failover and refresh.
//!
//! The Sans-IO [`Client`] decides; this module owns the sockets. UDP uses one socket; each
//! TCP/TLS controller gets a connection run by a thread that owns the stream (rustls with the
//! ring provider, trusting the `--trust` PEM certificates), writes what the main loop hands it and
//! reports what it reads. The main loop waits on one channel until the machine's next deadline.
//! Output on stdout, one line per fact:
//!
//! ```text
//! REGISTERED controller=10.77.3.1:5060 transport=udp expires=60
//! ACTIVE controller=10.77.3.2:5060 transport=udp
//! UNREGISTERED controller=10.77.3.1:5060 transport=udp
//! ```
//!
//! Exit codes: 0 after a clean un-REGISTER (`--once`, or interrupted); 1 when no controller
//! answered (`--once`) or all failed for good; 2 on bad arguments; 3 when the credentials were
//! rejected or are missing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use phone_settings::Instant;
use phone_sip_reg::{
    Client, Config, Controller, CredentialsReason, Event, Failure, Input, Output,
    RegistrationState, Transport, parse_controller_list,
};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

/// Arguments of `phone register`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// SIP_CONTROLLER_LIST: `host[:port][;transport=udp|tcp|tls],...` in priority order.
    #[arg(long)]
    controllers: String,
    /// SIPDOMAIN (Request-URI `sip:D`, AOR `sip:U@D`).
    #[arg(long)]
    domain: String,
    /// The extension or SM handle.
    #[arg(long)]
    user: String,
    /// The password (omit to see the credential prompt event and exit 3).
    #[arg(long)]
    password: Option<String>,
    /// Further parameters as NAME=VALUE, e.g. REGISTERWAIT=60, FAILBACK_POLICY=auto,
    /// SIPREGPROXYPOLICY=simultaneous, WAIT_FOR_REGISTRATION_TIMER=8, FORCE_SIP_PASSWORD=...
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Un-register and exit 0 right after the first successful registration.
    #[arg(long)]
    once: bool,
    /// CA certificates (PEM) trusted for TLS controllers (TRUSTCERTS).
    #[arg(long = "trust", value_name = "CA.pem")]
    trust: Vec<PathBuf>,
    /// The phone's address for Via and Contact (default: the source address towards the first
    /// controller).
    #[arg(long)]
    local_ip: Option<IpAddr>,
    /// Local UDP port (0 = any).
    #[arg(long, default_value_t = 0)]
    local_port: u16,
}

/// What the socket threads and the signal handler tell the main loop.
enum Msg {
    Datagram(SocketAddr, Vec<u8>),
    Stream {
        controller: usize,
        generation: u64,
        data: Vec<u8>,
    },
    Closed {
        controller: usize,
        generation: u64,
    },
    Interrupt,
}

struct Conn {
    target: Controller,
    generation: u64,
    writer: Sender<Vec<u8>>,
}

pub fn run(args: Args) -> ExitCode {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("phone register: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn build_config(args: &Args) -> Result<Config> {
    let mut cfg = Config::default();
    cfg.controllers = parse_controller_list(&args.controllers).context("--controllers")?;
    if cfg.controllers.is_empty() {
        bail!("--controllers is empty");
    }
    cfg.domain = args.domain.clone();
    cfg.user = args.user.clone();
    cfg.password = args.password.clone();
    cfg.user_agent = Some(format!("phone-boot/{}", env!("CARGO_PKG_VERSION")));
    for s in &args.set {
        let (name, value) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {s:?}: expected NAME=VALUE"))?;
        cfg.apply_setting(name, value)
            .with_context(|| format!("--set {s}"))?;
    }
    Ok(cfg)
}

fn tls_config(trust: &[PathBuf]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for path in trust {
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("--trust {}", path.display()))?
        {
            let cert = cert.with_context(|| format!("--trust {}", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("--trust {}", path.display()))?;
        }
    }
    if roots.is_empty() {
        bail!("a TLS controller needs --trust CA.pem (TRUSTCERTS)");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

fn addr(c: &Controller) -> Result<SocketAddr> {
    let ip: IpAddr = c
        .host
        .parse()
        .with_context(|| format!("controller host {}", c.host))?;
    Ok(SocketAddr::new(ip, c.port))
}

fn show(c: &Controller) -> String {
    format!("controller={}:{} transport={}", c.host, c.port, c.transport)
}

fn describe(f: &Failure) -> String {
    match f {
        Failure::Timeout => "no answer (WAIT_FOR_REGISTRATION_TIMER)".into(),
        Failure::Transport => "transport error".into(),
        Failure::ServiceUnavailable {
            retry_after: Some(s),
        } => format!("503 Service Unavailable, Retry-After {s} s"),
        Failure::ServiceUnavailable { retry_after: None } => "503 Service Unavailable".into(),
        Failure::RequestTimeout => "408 Request Timeout".into(),
        Failure::Forbidden => "403 Forbidden".into(),
        Failure::NotFound => "404 Not Found".into(),
        Failure::CredentialsRejected { realm } => format!("credentials rejected (realm {realm})"),
        Failure::CredentialsMissing => "credentials missing".into(),
        Failure::UnsupportedChallenge(e) => format!("unsupported challenge: {e}"),
        Failure::TooManyChallenges => "too many challenges".into(),
        Failure::IntervalTooBrief => "423 Interval Too Brief without a usable Min-Expires".into(),
        Failure::Redirect => "unusable redirect".into(),
        Failure::Status(s) => format!("status {s}"),
    }
}

fn run_inner(args: Args) -> Result<ExitCode> {
    let mut cfg = build_config(&args)?;
    let first = addr(&cfg.controllers[0])?;
    let local_ip = match args.local_ip {
        Some(ip) => ip,
        None => {
            let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            probe
                .connect(first)
                .context("no route to the first controller")?;
            probe.local_addr()?.ip()
        }
    };
    let udp = UdpSocket::bind(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        args.local_port,
    ))
    .context("binding the UDP socket")?;
    cfg.local_host = local_ip.to_string();
    cfg.local_port = udp.local_addr()?.port();
    let needs_tls = cfg
        .controllers
        .iter()
        .any(|c| c.transport == Transport::Tls);
    let tls = if needs_tls {
        Some(tls_config(&args.trust)?)
    } else {
        None
    };
    let controllers = cfg.controllers.clone();

    let (tx, rx) = mpsc::channel::<Msg>();
    {
        let tx = tx.clone();
        ctrlc::set_handler(move || {
            let _ = tx.send(Msg::Interrupt);
        })
        .context("installing the signal handler")?;
    }
    {
        let udp = udp.try_clone()?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            loop {
                match udp.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        if tx.send(Msg::Datagram(from, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }

    let rng: rand::rngs::StdRng = rand::make_rng();
    let mut client = Client::new(cfg, rng);
    let origin = std::time::Instant::now();
    let now =
        || Instant::from_micros(u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX));
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut generation = 0u64;
    let mut exit: Option<ExitCode> = None;
    let mut unregistering = false;
    let mut announced: Option<(usize, u32)> = None;
    client.handle_input(Input::Timeout(now()));
    loop {
        // Drain the machine.
        let deadline = loop {
            match client.poll_output() {
                Output::Transmit(t) => {
                    let target = t.target.clone();
                    let sent = match target.transport {
                        Transport::Udp => addr(&target)
                            .and_then(|a| Ok(udp.send_to(&t.payload, a)?))
                            .map(|_| ()),
                        Transport::Tcp | Transport::Tls => {
                            let fresh = conns.get(&t.controller).is_none_or(|c| c.target != target);
                            if fresh {
                                generation += 1;
                                match connect(
                                    &target,
                                    tls.clone(),
                                    t.controller,
                                    generation,
                                    tx.clone(),
                                ) {
                                    Ok(writer) => {
                                        conns.insert(
                                            t.controller,
                                            Conn {
                                                target: target.clone(),
                                                generation,
                                                writer,
                                            },
                                        );
                                    }
                                    Err(e) => {
                                        conns.remove(&t.controller);
                                        eprintln!("connect {}: {e:#}", show(&target));
                                    }
                                }
                            }
                            match conns.get(&t.controller) {
                                Some(c) => c
                                    .writer
                                    .send(t.payload)
                                    .map_err(|_| anyhow!("connection closed")),
                                None => Err(anyhow!("not connected")),
                            }
                        }
                    };
                    if let Err(e) = sent {
                        eprintln!("send to {}: {e:#}", show(&target));
                        conns.remove(&t.controller);
                        client.handle_input(Input::TransportError {
                            now: now(),
                            controller: t.controller,
                        });
                    }
                }
                Output::Event(e) => {
                    if let Some(code) = on_event(
                        &mut client,
                        &controllers,
                        &e,
                        &mut conns,
                        &args,
                        &mut announced,
                        now(),
                    ) {
                        exit = Some(code);
                        if !unregistering {
                            unregistering = true;
                            client.handle_input(Input::Unregister(now()));
                        }
                    }
                    if e == Event::Stopped {
                        return Ok(exit.unwrap_or(ExitCode::SUCCESS));
                    }
                }
                Output::Timeout(t) => break t,
            }
        };
        let wait = deadline
            .saturating_duration_since(now())
            .min(Duration::from_secs(3600));
        match rx.recv_timeout(wait) {
            Ok(Msg::Datagram(from, data)) => {
                if let Some(i) = controller_of(&controllers, from) {
                    client.handle_input(Input::Datagram {
                        now: now(),
                        controller: i,
                        data: &data,
                    });
                }
            }
            Ok(Msg::Stream {
                controller,
                generation: g,
                data,
            }) => {
                if conns.get(&controller).is_some_and(|c| c.generation == g) {
                    client.handle_input(Input::Stream {
                        now: now(),
                        controller,
                        data: &data,
                    });
                }
            }
            Ok(Msg::Closed {
                controller,
                generation: g,
            }) => {
                if conns.get(&controller).is_some_and(|c| c.generation == g) {
                    conns.remove(&controller);
                    client.handle_input(Input::TransportError {
                        now: now(),
                        controller,
                    });
                }
            }
            Ok(Msg::Interrupt) => {
                if unregistering {
                    eprintln!("phone register: interrupted again, exiting without waiting");
                    return Ok(ExitCode::from(130));
                }
                eprintln!("phone register: interrupted, un-registering");
                unregistering = true;
                client.handle_input(Input::Unregister(now()));
            }
            Err(RecvTimeoutError::Timeout) => client.handle_input(Input::Timeout(now())),
            Err(RecvTimeoutError::Disconnected) => bail!("internal channel closed"),
        }
    }
}

/// Which controller a datagram came from (by its configured address).
fn controller_of(controllers: &[Controller], from: SocketAddr) -> Option<usize> {
    controllers
        .iter()
        .position(|c| c.transport == Transport::Udp && addr(c).is_ok_and(|a| a == from))
}

/// Print an event; `Some(code)` = stop (un-register, then exit with `code`).
fn on_event(
    client: &mut Client<rand::rngs::StdRng>,
    controllers: &[Controller],
    e: &Event,
    conns: &mut HashMap<usize, Conn>,
    args: &Args,
    announced: &mut Option<(usize, u32)>,
    now: Instant,
) -> Option<ExitCode> {
    let name = |i: usize| {
        controllers
            .get(i)
            .map_or_else(|| format!("controller={i}"), show)
    };
    match e {
        Event::Registering { controller } => {
            eprintln!("Registering... {}", name(*controller));
            None
        }
        Event::Registered {
            controller,
            expires,
        } => {
            if !matches!(
                client.state(*controller),
                Some(RegistrationState::Registered { .. })
            ) {
                // A registration beyond the policy's count; it is being removed already.
                eprintln!("registered with {} (not kept)", name(*controller));
                return None;
            }
            println!("REGISTERED {} expires={expires}", name(*controller));
            *announced = Some((*controller, *expires));
            if args.once && client.active() == Some(*controller) {
                return Some(ExitCode::SUCCESS);
            }
            None
        }
        Event::ActiveController(Some(i)) => {
            println!("ACTIVE {}", name(*i));
            if args.once && announced.is_some_and(|(c, _)| c == *i) {
                return Some(ExitCode::SUCCESS);
            }
            None
        }
        Event::ActiveController(None) => {
            println!("ACTIVE none");
            None
        }
        Event::ControllerFailed { controller, cause } => {
            eprintln!("{}: {}", name(*controller), describe(cause));
            conns.remove(controller);
            None
        }
        Event::CredentialsRequired {
            reason,
            controller,
            realm,
        } => {
            let who = controller.map(name).unwrap_or_default();
            match reason {
                CredentialsReason::Rejected => eprintln!(
                    "Registration failed: credentials rejected by {who} (realm {}); check --user/--password",
                    realm.as_deref().unwrap_or("?")
                ),
                CredentialsReason::Missing => {
                    eprintln!("Registration failed: {who} asks for credentials; give --password");
                }
            }
            Some(ExitCode::from(3))
        }
        Event::RegistrationFailed { retry_at } => {
            match retry_at {
                Some(at) => {
                    let secs = at.saturating_duration_since(now).as_secs();
                    eprintln!("Registration failed: no controller answered; retrying in {secs} s");
                    if args.once {
                        return Some(ExitCode::from(1));
                    }
                }
                None => {
                    eprintln!("Registration failed: every controller refused");
                    return Some(ExitCode::from(1));
                }
            }
            None
        }
        Event::Unregistered { controller } => {
            println!("UNREGISTERED {}", name(*controller));
            None
        }
        Event::Stopped => None,
    }
}

/// Open a TCP (and TLS) connection to `target` and run it on a thread that owns the stream:
/// it writes what arrives on the returned sender and reports reads and the close to `to_main`.
fn connect(
    target: &Controller,
    tls: Option<Arc<rustls::ClientConfig>>,
    controller: usize,
    generation: u64,
    to_main: Sender<Msg>,
) -> Result<Sender<Vec<u8>>> {
    let a = addr(target)?;
    let tcp = TcpStream::connect_timeout(&a, Duration::from_secs(5))?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_millis(20)))?;
    let (wtx, wrx) = mpsc::channel::<Vec<u8>>();
    let stream: Box<dyn ReadWrite> = match target.transport {
        Transport::Tls => {
            let cfg = tls.ok_or_else(|| anyhow!("TLS not configured"))?;
            let name = ServerName::IpAddress(a.ip().into());
            let conn = rustls::ClientConnection::new(cfg, name)?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
        _ => Box::new(tcp),
    };
    std::thread::spawn(move || pump(stream, &wrx, &to_main, controller, generation));
    Ok(wtx)
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

fn pump(
    mut s: Box<dyn ReadWrite>,
    writes: &Receiver<Vec<u8>>,
    to_main: &Sender<Msg>,
    controller: usize,
    generation: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        loop {
            match writes.try_recv() {
                Ok(data) => {
                    if s.write_all(&data).and_then(|()| s.flush()).is_err() {
                        let _ = to_main.send(Msg::Closed {
                            controller,
                            generation,
                        });
                        return;
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
                // The main loop dropped this connection.
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
        }
        match s.read(&mut buf) {
            Ok(0) => {
                let _ = to_main.send(Msg::Closed {
                    controller,
                    generation,
                });
                return;
            }
            Ok(n) => {
                if to_main
                    .send(Msg::Stream {
                        controller,
                        generation,
                        data: buf[..n].to_vec(),
                    })
                    .is_err()
                {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                let _ = to_main.send(Msg::Closed {
                    controller,
                    generation,
                });
                return;
            }
        }
    }
}
