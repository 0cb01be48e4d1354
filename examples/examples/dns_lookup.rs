//! Embedding `phone_dns::Resolver` in a firmware's loop, here over one UDP socket.
//!
//! ```text
//! cargo run -p phone-examples --example dns_lookup -- SERVER_IP[,SERVER_IP...] NAME [DOMAIN]
//! ```
//!
//! Resolves NAME (DOMAIN appended when NAME has no dot) by asking the servers in order, prints
//! every event (a server that fails, the addresses and their TTL), then asks again to show the
//! answer coming from the cache.
//!
//! The loop is the one every machine of the workspace needs: drain `poll_output` until
//! `Output::Timeout(deadline)`, carrying out each transmit; then wait for a datagram or the
//! deadline, whichever comes first, and feed it (`Input::Receive`, with the address it came
//! from) or say the time came (`Input::Timeout`).

use std::error::Error;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use phone_dns::{Command, Config, Event, Resolver, Transmit};
use phone_sansio::{Input, Instant, Machine, Output};

/// The machine's clock: microseconds since the program started, from the monotonic clock.
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

/// Drives the resolver until `name` resolves or fails; true when it resolved.
fn resolve(
    dns: &mut Resolver<rand::rngs::ThreadRng>,
    socket: &UdpSocket,
    clock: &Clock,
    name: &str,
) -> Result<bool, Box<dyn Error>> {
    dns.handle_input(Input::Command(clock.now(), Command::Resolve { name }));
    let mut buf = [0u8; 512];
    loop {
        // 1. Drain the machine.
        let deadline = loop {
            match dns.poll_output() {
                Output::Transmit(Transmit { server, payload }) => {
                    if let Err(e) = socket.send_to(&payload, (server, phone_dns::resolver::PORT)) {
                        eprintln!("send to {server}: {e}");
                        dns.handle_input(Input::TransportFailed(clock.now(), server));
                    }
                }
                Output::Event(event) => {
                    println!(
                        "{:>8.3} s  {event}",
                        clock.now().since_origin().as_secs_f64()
                    );
                    match event {
                        Event::Resolved { .. } => return Ok(true),
                        Event::Failed { .. } => return Ok(false),
                        _ => {}
                    }
                }
                Output::Timeout(deadline) => break deadline,
            }
        };

        // 2. Wait for a datagram or the deadline, whichever comes first.
        let wait = deadline.saturating_duration_since(clock.now());
        socket.set_read_timeout(Some(
            wait.clamp(Duration::from_millis(1), Duration::from_secs(1)),
        ))?;
        match socket.recv_from(&mut buf) {
            Ok((n, SocketAddr::V4(from))) if from.port() == phone_dns::resolver::PORT => {
                dns.handle_input(Input::Receive(clock.now(), *from.ip(), &buf[..n]));
            }
            Ok(_) => {} // not from a DNS server's port
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                dns.handle_input(Input::Timeout(clock.now()));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: dns_lookup SERVER_IP[,SERVER_IP...] NAME [DOMAIN]";
    let servers = args
        .next()
        .ok_or(usage)?
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<Ipv4Addr>, _>>()?;
    let name = args.next().ok_or(usage)?;
    let domain = args.next().unwrap_or_default();

    // One unconnected socket: the answers of every server arrive on it.
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    let clock = Clock(std::time::Instant::now());
    let mut dns = Resolver::new(Config::new(&servers, &domain), rand::rng(), clock.now());

    if !resolve(&mut dns, &socket, &clock, &name)? {
        std::process::exit(1);
    }
    std::thread::sleep(Duration::from_secs(1));
    println!("again, a second later (from the cache, no datagram):");
    let sent = dns.stats().sent;
    resolve(&mut dns, &socket, &clock, &name)?;
    println!(
        "queries sent: {} (the second look-up sent {})",
        dns.stats().sent,
        dns.stats().sent - sent
    );
    Ok(())
}
