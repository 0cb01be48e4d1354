//! `phone register`: register with SIP controllers (phone-sip-reg), with failover and refresh,
//! on the one driver.
//!
//! The Sans-IO [`Client`] decides; [`SipPorts`] carries its transmits: one UDP socket for every
//! UDP controller, one TCP or TLS connection per stream controller (non-blocking connect and
//! handshake, TLS trusting `--trust`). SIGINT/SIGTERM un-register first (a second one exits at
//! once). Output on stdout, one line per fact:
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

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use phone_sansio::Instant;
use phone_sip_reg::{
    Client, Command, Config, Controller, CredentialsReason, Event, Failure, Input,
    RegistrationState, Transmit, Transport, parse_controller_list,
};

use crate::cli::{SetArgs, TrustArgs};
use crate::driver::{Adapter, Driven, Driver, Fact, Flow, Reactor, SipPorts, SipTransport, feed};
use crate::net::{SocketOptions, TlsPolicy, Trust, resolve};
use crate::term::Display;

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
    #[command(flatten)]
    sets: SetArgs,
    /// Un-register and exit 0 right after the first successful registration.
    #[arg(long)]
    once: bool,
    /// CA certificates (PEM) trusted for TLS controllers (TRUSTCERTS).
    #[command(flatten)]
    trust: TrustArgs,
    /// The phone's address for Via and Contact (default: the source address towards the first
    /// controller).
    #[arg(long)]
    local_ip: Option<IpAddr>,
    /// Local UDP port (0 = any).
    #[arg(long, default_value_t = 0)]
    local_port: u16,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    log: String,
}

/// Runs `phone register`.
pub fn run(args: Args) -> ExitCode {
    let display = Display::new();
    crate::term::init_tracing(&display, &args.log);
    match run_inner(&args, &display) {
        Ok(code) => code,
        Err(e) => {
            display.log(&format!("phone register: {e:#}"));
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
    cfg.domain.clone_from(&args.domain);
    cfg.user.clone_from(&args.user);
    cfg.password.clone_from(&args.password);
    cfg.user_agent = Some(format!("phone-boot/{}", env!("CARGO_PKG_VERSION")));
    for s in &args.sets.sets {
        cfg.apply_setting(&s.name, &s.value)
            .with_context(|| format!("--set {s}"))?;
    }
    Ok(cfg)
}

/// How a controller is reached, in the driver's terms.
#[must_use]
pub fn sip_transport(t: Transport) -> SipTransport {
    match t {
        Transport::Udp => SipTransport::Udp,
        Transport::Tcp => SipTransport::Tcp,
        Transport::Tls => SipTransport::Tls,
    }
}

/// Carries out one SIP transmit on `ports`, feeding a failure known at once back to `client`.
pub fn send_sip(
    ports: &mut SipPorts,
    io: &mut Reactor,
    t: &Transmit,
) -> Option<crate::driver::PeerFact<'static, usize>> {
    ports.send(
        io,
        t.controller,
        &t.target.host,
        t.target.port,
        sip_transport(t.target.transport),
        &t.payload,
    )
}

/// `controller=HOST:PORT transport=T`, as the lab tests read it.
#[must_use]
pub fn show(c: &Controller) -> String {
    format!("controller={}:{} transport={}", c.host, c.port, c.transport)
}

/// A failure as the phone's log line says it.
#[must_use]
pub fn describe(f: &Failure) -> String {
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
        other => other.to_string(),
    }
}

type Sip = Client<rand::rngs::StdRng>;

/// `phone register`'s side of the driver.
struct RegisterIo {
    ports: SipPorts,
    controllers: Vec<Controller>,
    display: Display,
    once: bool,
    announced: Option<(usize, u32)>,
    unregistering: bool,
    exit: Option<ExitCode>,
}

impl RegisterIo {
    fn name(&self, i: usize) -> String {
        self.controllers
            .get(i)
            .map_or_else(|| format!("controller={i}"), show)
    }

    fn stop(&mut self, client: &mut Sip, code: ExitCode, now: Instant) {
        self.exit.get_or_insert(code);
        if !self.unregistering {
            self.unregistering = true;
            client.handle_input(Input::Command(now, Command::Unregister));
        }
    }

    fn on_event(&mut self, client: &mut Sip, io: &mut Reactor, e: Event, now: Instant) -> Flow {
        let code = match e {
            Event::Registering { controller } => {
                self.display
                    .log(&format!("Registering... {}", self.name(controller)));
                None
            }
            Event::Registered {
                controller,
                expires,
            } => {
                if !matches!(
                    client.state(controller),
                    Some(RegistrationState::Registered { .. })
                ) {
                    // A registration beyond the policy's count; it is being removed already.
                    self.display.log(&format!(
                        "registered with {} (not kept)",
                        self.name(controller)
                    ));
                    return Flow::Continue;
                }
                self.display.line(&format!(
                    "REGISTERED {} expires={expires}",
                    self.name(controller)
                ));
                self.announced = Some((controller, expires));
                (self.once && client.active() == Some(controller)).then_some(ExitCode::SUCCESS)
            }
            Event::ActiveController(Some(i)) => {
                self.display.line(&format!("ACTIVE {}", self.name(i)));
                (self.once && self.announced.is_some_and(|(c, _)| c == i))
                    .then_some(ExitCode::SUCCESS)
            }
            Event::ActiveController(None) => {
                self.display.line("ACTIVE none");
                None
            }
            Event::ControllerFailed { controller, cause } => {
                self.display
                    .log(&format!("{}: {}", self.name(controller), describe(&cause)));
                self.ports.close(io, controller);
                None
            }
            Event::CredentialsRequired {
                reason,
                controller,
                realm,
            } => {
                let who = controller.map(|c| self.name(c)).unwrap_or_default();
                match reason {
                    CredentialsReason::Rejected => self.display.log(&format!(
                        "Registration failed: credentials rejected by {who} (realm {}); check --user/--password",
                        realm.as_deref().unwrap_or("?")
                    )),
                    CredentialsReason::Missing => self.display.log(&format!(
                        "Registration failed: {who} asks for credentials; give --password"
                    )),
                }
                Some(ExitCode::from(3))
            }
            Event::RegistrationFailed { retry_at: Some(at) } => {
                let secs = at.saturating_duration_since(now).as_secs();
                self.display.log(&format!(
                    "Registration failed: no controller answered; retrying in {secs} s"
                ));
                self.once.then(|| ExitCode::from(1))
            }
            Event::RegistrationFailed { retry_at: None } => {
                self.display
                    .log("Registration failed: every controller refused");
                Some(ExitCode::from(1))
            }
            Event::Unregistered { controller } => {
                self.display
                    .line(&format!("UNREGISTERED {}", self.name(controller)));
                None
            }
            Event::Stopped => return Flow::Stop,
            other => {
                self.display.log(&format!("phone register: {other}"));
                None
            }
        };
        if let Some(code) = code {
            self.stop(client, code, now);
        }
        Flow::Continue
    }
}

impl Adapter<Sip> for RegisterIo {
    fn transmit(&mut self, io: &mut Reactor, client: &mut Sip, t: Transmit, now: Instant) {
        let f = send_sip(&mut self.ports, io, &t);
        if f.is_some() {
            self.display
                .log(&format!("send to {}: transport error", show(&t.target)));
        }
        feed(client, f, now);
    }

    fn fact(&mut self, _io: &mut Reactor, client: &mut Sip, fact: &Fact<'_>, now: Instant) -> bool {
        if let Fact::Signal(_) = fact {
            if self.unregistering {
                self.display
                    .log("phone register: interrupted again, exiting without waiting");
                self.exit = Some(ExitCode::from(130));
                // Ends at the next tick.
            } else {
                self.display
                    .log("phone register: interrupted, un-registering");
                self.stop(client, ExitCode::SUCCESS, now);
            }
            return true;
        }
        match self.ports.fact(fact) {
            // A datagram from an address no controller has: taken, dropped.
            Some(None) => true,
            Some(f) => feed(client, f, now),
            None => false,
        }
    }

    fn tick(&mut self, _io: &mut Reactor, _client: &mut Sip, _now: Instant) -> Flow {
        if self.unregistering && self.exit.is_some_and(|c| c == ExitCode::from(130)) {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// The source address the kernel would use towards `to` (a route lookup; nothing is sent).
///
/// # Errors
/// No route to `to`.
pub fn source_address(to: SocketAddr) -> std::io::Result<IpAddr> {
    let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    probe.connect(to)?;
    Ok(probe.local_addr()?.ip())
}

fn run_inner(args: &Args, display: &Display) -> Result<ExitCode> {
    let mut cfg = build_config(args)?;
    let first = &cfg.controllers[0];
    let first = resolve(&first.host, first.port)?;
    let local_ip = match args.local_ip {
        Some(ip) => ip,
        None => source_address(first).context("no route to the first controller")?,
    };
    let trust = Trust::new().with_pems(args.trust.trust.iter().map(|t| t.pem.as_slice()));
    if trust.is_empty()
        && cfg
            .controllers
            .iter()
            .any(|c| c.transport == Transport::Tls)
    {
        bail!("a TLS controller needs --trust CA.pem (TRUSTCERTS)");
    }
    let tls = TlsPolicy::new(&trust, None)?;
    let mut driver = Driver::new()?;
    driver.io.catch_signals(&[libc::SIGINT, libc::SIGTERM])?;
    let ports = SipPorts::open(
        &mut driver.io,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), args.local_port),
        SocketOptions::default(),
        tls,
    )
    .context("binding the UDP socket")?;
    cfg.local_host = local_ip.to_string();
    cfg.local_port = ports.local_addr(&driver.io)?.port();
    let controllers = cfg.controllers.clone();
    let rng: rand::rngs::StdRng = rand::make_rng();
    let client = Client::new(cfg, rng, driver.io.now());
    let io = RegisterIo {
        ports,
        controllers,
        display: display.clone(),
        once: args.once,
        announced: None,
        unregistering: false,
        exit: None,
    };
    let mut task = Driven::new(
        client,
        io,
        |m: &mut Sip, a: &mut RegisterIo, io: &mut Reactor, e, now| a.on_event(m, io, e, now),
    );
    driver.run(&mut [&mut task])?;
    Ok(task.adapter.exit.unwrap_or(ExitCode::SUCCESS))
}
