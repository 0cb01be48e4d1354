//! Embedding `phone_sip_reg::Client` in a firmware's loop, here over one UDP socket.
//!
//! ```text
//! cargo run -p phone-examples --example sip_register -- REGISTRAR_IP[:PORT] DOMAIN USER PASSWORD [HOLD_SECS]
//! ```
//!
//! Registers USER with the registrar (digest authentication when challenged), prints every
//! event, holds the registration HOLD_SECS seconds (default 5; refreshes happen on their own),
//! then un-registers and exits.
//!
//! The loop is the one every machine of the workspace needs: drain `poll_output` until
//! `Output::Timeout(deadline)`, carrying out each transmit; then wait for a datagram or the
//! deadline, whichever comes first, and feed it (`Input::Receive`) or say the time came
//! (`Input::Timeout`). Commands (here the un-REGISTER) are inputs like any other. A firmware with
//! several controllers keeps one socket (or connection) per controller index.

use std::error::Error;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use phone_sip_reg::{Client, Command, Config, Event, Input, Instant, Output};

/// The machine's clock: microseconds since the program started, from the monotonic clock.
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [registrar, domain, user, password, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: sip_register REGISTRAR_IP[:PORT] DOMAIN USER PASSWORD [HOLD_SECS]".into(),
        );
    };
    let hold = Duration::from_secs(rest.first().map_or(Ok(5), |s| s.parse())?);
    let registrar: SocketAddrV4 = match registrar.parse() {
        Ok(a) => a,
        Err(_) => SocketAddrV4::new(registrar.parse()?, 5060),
    };

    // One UDP socket; connecting it tells us the local address for Via and Contact.
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.connect(registrar)?;
    let local = socket.local_addr()?;

    let mut config = Config::default();
    config.apply_setting("SIP_CONTROLLER_LIST", &format!("{registrar};transport=udp"))?;
    config.apply_setting("SIPDOMAIN", domain)?;
    config.user.clone_from(user);
    config.password = Some(password.clone());
    config.local_host = local.ip().to_string();
    config.local_port = local.port();
    config.user_agent = Some("phone-sip-reg example".into());

    let clock = Clock(std::time::Instant::now());
    let mut phone = Client::new(config, rand::rng(), clock.now());
    let mut unregister_at: Option<Instant> = None;
    let mut buf = vec![0u8; 65_535];
    loop {
        // 1. Drain the machine.
        let deadline = loop {
            match phone.poll_output() {
                Output::Transmit(t) => {
                    // One controller here, so `t.controller` is 0 and `t.target` the registrar.
                    let to: SocketAddr = format!("{}:{}", t.target.host, t.target.port).parse()?;
                    if let Err(e) = socket.send_to(&t.payload, to) {
                        eprintln!("send to {to}: {e}");
                        phone.handle_input(Input::TransportFailed(clock.now(), t.controller));
                    }
                }
                Output::Event(event) => {
                    println!(
                        "{:>8.3} s  {event}",
                        clock.now().since_origin().as_secs_f64()
                    );
                    match event {
                        Event::Registered { .. } if unregister_at.is_none() => {
                            unregister_at = Some(clock.now() + hold);
                        }
                        Event::Stopped => return Ok(()),
                        Event::RegistrationFailed { retry_at: None } => {
                            return Err("every controller failed for good".into());
                        }
                        Event::CredentialsRequired { .. } => {
                            return Err("the registrar wants other credentials".into());
                        }
                        _ => {}
                    }
                }
                Output::Timeout(deadline) => break deadline,
            }
        };
        if let Some(at) = unregister_at
            && clock.now() >= at
        {
            unregister_at = Some(Instant::MAX);
            phone.handle_input(Input::Command(clock.now(), Command::Unregister));
            continue;
        }

        // 2. Wait for a datagram or the deadline, whichever comes first.
        let wake = deadline.min(unregister_at.unwrap_or(Instant::MAX));
        let wait = wake.saturating_duration_since(clock.now());
        socket.set_read_timeout(Some(
            wait.clamp(Duration::from_millis(1), Duration::from_secs(1)),
        ))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == SocketAddr::V4(registrar) => {
                phone.handle_input(Input::Receive(clock.now(), 0, &buf[..n]));
            }
            Ok(_) => {} // not from the registrar
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                phone.handle_input(Input::Timeout(clock.now()));
            }
            // ICMP port unreachable on a connected socket: the send did not arrive.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                eprintln!("{registrar}: {e}");
                phone.handle_input(Input::TransportFailed(clock.now(), 0));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
