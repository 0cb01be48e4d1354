//! Embedding `phone_scep::Enrollment`: enroll a device certificate against a SCEP server over
//! plain HTTP, with blocking `std::net::TcpStream`s on one thread, and print the certificate.
//!
//! ```text
//! cargo run -p phone-examples --example scep_enroll -- http://10.77.N.1:8080/scep [CHALLENGE] [SERIALNO]
//! ```
//!
//! The loop is the shape of a firmware driver: drain `poll_output` until it says `Timeout`,
//! carrying out each transmit; then wait for I/O until that deadline and feed back what
//! happened. Left out, to stay short: `https` (a `Connect` with `tls: Some(..)` is refused
//! here, as a transport failure), HTTPPROXY, storing the key and certificate, and renewal.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, bail};
use phone_scep::machine::{Config, Enrollment, Event, KeySource};
use phone_scep::phone_http::{Action, ConnId, Transmit};
use phone_scep::phone_sansio::{Input, Instant, Machine, Output};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The machine's time: microseconds since the program started (any monotonic origin will do).
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        let micros = u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(micros)
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else {
        bail!("usage: scep_enroll URL [CHALLENGE] [SERIALNO]");
    };
    let mut config = Config::default();
    config.url = url.clone(); // MYCERTURL
    config.challenge = args.get(1).cloned().unwrap_or_else(|| "secret123".into()); // SCEPPASSWORD
    config.subst.serial_no = args.get(2).cloned().unwrap_or_else(|| "EXAMPLE0001".into());
    config.dn = "/O=phone-examples".into(); // MYCERTDN; MYCERTCN stays $SERIALNO

    let clock = Clock(std::time::Instant::now());
    // A CSPRNG seeded from the OS (a firmware seeds it from its TRNG).
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let rng = ChaCha20Rng::from_seed(seed);
    let unix_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    // Generates the RSA key (MYCERTKEYLEN, 2048 bits) from the RNG.
    let mut scep = Enrollment::new(
        config,
        KeySource::Generate,
        None,
        rng,
        clock.now(),
        unix_now,
    )?;

    let mut conns: BTreeMap<ConnId, TcpStream> = BTreeMap::new();
    let mut ok = false;
    loop {
        // 1. Drain: carry out every transmit, show every event, until the machine waits.
        let deadline = loop {
            match scep.poll_output() {
                Output::Transmit(Transmit { conn, action }) => {
                    if let Err(e) = carry_out(conn, action, &mut conns) {
                        println!("  conn {conn}: {e:#}");
                        conns.remove(&conn);
                        scep.handle_input(Input::TransportFailed(clock.now(), conn));
                    }
                }
                Output::Event(Event::Issued(enrolled)) => {
                    let tbs = enrolled.certificate.tbs_certificate();
                    println!("issued: subject {}", tbs.subject());
                    println!("        issuer  {}", tbs.issuer());
                    println!("        serial  {}", tbs.serial_number());
                    println!("        valid   {}", tbs.validity().not_after);
                    ok = true;
                }
                Output::Event(e) => println!("{e}"), // `SCEP: s secs`, Caps, Pending, Retry, ...
                Output::Timeout(t) => break t,
            }
        };
        if scep.is_finished() {
            break;
        }
        // 2. Wait for I/O until the deadline. SCEP has one connection open at a time, so a
        //    blocking read with a timeout is enough; a firmware would poll all its sockets.
        let now = clock.now();
        let wait = deadline
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        match conns.iter_mut().next() {
            Some((&conn, stream)) => {
                stream.set_read_timeout(Some(wait.min(Duration::from_secs(1))))?;
                let mut buf = [0u8; 4096];
                match stream.read(&mut buf) {
                    Ok(0) => {
                        conns.remove(&conn);
                        scep.handle_input(Input::Closed(clock.now(), conn));
                    }
                    Ok(n) => scep.handle_input(Input::Receive(clock.now(), conn, &buf[..n])),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        scep.handle_input(Input::Timeout(clock.now()));
                    }
                    Err(_) => {
                        conns.remove(&conn);
                        scep.handle_input(Input::TransportFailed(clock.now(), conn));
                    }
                }
            }
            None => {
                // Nothing to read: sleep until the deadline (a poll or a back-off timer).
                std::thread::sleep(wait.min(Duration::from_secs(1)));
                scep.handle_input(Input::Timeout(clock.now()));
            }
        }
    }
    if !ok {
        bail!("no certificate (state {:?})", scep.state());
    }
    Ok(())
}

/// Carries out one connection transmit on blocking sockets.
fn carry_out(
    conn: ConnId,
    action: Action,
    conns: &mut BTreeMap<ConnId, TcpStream>,
) -> anyhow::Result<()> {
    match action {
        Action::Connect { host, port, tls } => {
            if tls.is_some() {
                bail!("https: TLS is left out of this example");
            }
            let addr = (host.as_str(), port)
                .to_socket_addrs()?
                .next()
                .context("no address")?;
            println!("  conn {conn}: connect {addr}");
            let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            conns.insert(conn, stream);
        }
        Action::Send(bytes) => {
            let line = bytes.split(|&b| b == b'\r').next().unwrap_or_default();
            let shown: String = String::from_utf8_lossy(line).chars().take(100).collect();
            println!("  conn {conn}: {shown}");
            conns
                .get_mut(&conn)
                .context("not connected")?
                .write_all(&bytes)?;
        }
        Action::StartTls(_) => bail!("TLS is left out of this example"),
        Action::Close => {
            conns.remove(&conn);
        }
    }
    Ok(())
}
