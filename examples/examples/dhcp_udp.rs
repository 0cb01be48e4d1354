//! Embedding `phone_dhcp::Client` in a firmware's loop, here over a plain UDP socket.
//!
//! ```text
//! sudo cargo run -p phone-examples --example dhcp_udp -- IFACE [TIMEOUT_SECS]
//! ```
//!
//! Gets a lease on IFACE and prints it, then exits (like `udhcpc -q`). It configures nothing: a
//! firmware would configure the address on `Event::Bound` and keep running the same loop, which
//! then renews and rebinds the lease.
//!
//! The loop is the one every machine of the workspace needs: drain `poll_output` until
//! `Output::Timeout(deadline)`, carrying out each transmit; then wait for a datagram or the
//! deadline, whichever comes first, and feed it (`Input::Receive`) or say the time came
//! (`Input::Timeout`). The clock is the machine's only notion of time: a monotonic clock
//! converted to `phone_sansio::Instant`.
//!
//! No ARP here: the socket is UDP only. The probe budget is set to 0 (no RFC 5227 probe before
//! using the address) and the router check is off, and the announcements the client still asks
//! for are answered with `Input::TransportFailed(now, Link::Arp)` ("could not be sent"), which
//! the client takes as "no ARP on this link". A firmware with a link-layer socket sends them
//! instead (see the reference phone, `examples/src/bin/phone/dhcp.rs`).

use std::error::Error;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use phone_dhcp::{Client, Config, Event, Input, Link, Output, Transmit};
use phone_sansio::Instant;
use socket2::{Domain, Protocol, Socket, Type};

/// The machine's clock: microseconds since the program started, from the monotonic clock.
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

/// The interface's MAC from sysfs (`aa:bb:cc:dd:ee:ff`).
fn mac_of(iface: &str) -> Result<[u8; 6], Box<dyn Error>> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))?;
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next().ok_or("short MAC")?, 16)?;
    }
    Ok(mac)
}

/// UDP port 68 on IFACE only, allowed to send to 255.255.255.255.
fn dhcp_socket(iface: &str) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind_device(Some(iface.as_bytes()))?; // SO_BINDTODEVICE: needs CAP_NET_RAW
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)).into())?;
    Ok(s.into())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let iface = args.next().ok_or("usage: dhcp_udp IFACE [TIMEOUT_SECS]")?;
    let give_up = Instant::from_secs(args.next().map_or(Ok(60), |s| s.parse())?);
    let mac = mac_of(&iface)?;
    let socket = dhcp_socket(&iface)?;
    let clock = Clock(std::time::Instant::now());

    let mut config = Config::for_mac(mac);
    config.probe_budget = Duration::ZERO; // no ARP socket: no probe before use ...
    config.router_check = false; // ... and no ARP requests to the routers
    let mut client = Client::new(config, None, rand::rng(), clock.now());
    println!("DHCP on {iface} as {}", phone_dhcp::host_name(mac));

    let mut buf = [0u8; 1500];
    loop {
        // 1. Drain the machine.
        let deadline = loop {
            match client.poll_output() {
                Output::Transmit(Transmit::Udp {
                    payload,
                    destination,
                    ..
                }) => {
                    let to = SocketAddrV4::new(destination, 67);
                    if let Err(e) = socket.send_to(&payload, to) {
                        eprintln!("send to {to}: {e}");
                        client.handle_input(Input::TransportFailed(clock.now(), Link::Udp));
                    }
                }
                Output::Transmit(Transmit::Arp(packet)) => {
                    println!("(not sent: {:?} for {})", packet.kind, packet.target_ip);
                    client.handle_input(Input::TransportFailed(clock.now(), Link::Arp));
                }
                Output::Event(event) => {
                    println!(
                        "{:>8.3} s  {event}",
                        clock.now().since_origin().as_secs_f64()
                    );
                    if event == Event::Bound
                        && let Some(lease) = client.lease()
                    {
                        for (name, value) in lease.parameters() {
                            println!("    {name}={value}");
                        }
                        let t1 = lease.renew_at().saturating_duration_since(clock.now());
                        println!("    (a firmware configures this now; renewal in {t1:?})");
                        return Ok(());
                    }
                }
                Output::Timeout(deadline) => break deadline,
            }
        };
        if clock.now() >= give_up {
            return Err(format!("no lease within {give_up:?} (state {:?})", client.state()).into());
        }

        // 2. Wait for a datagram or the deadline (`Instant::MAX`: only a datagram wakes it; the
        //    wait is cut to 1 s so the give-up time is checked).
        let wait = deadline.min(give_up).saturating_duration_since(clock.now());
        socket.set_read_timeout(Some(
            wait.clamp(Duration::from_millis(1), Duration::from_secs(1)),
        ))?;
        match socket.recv_from(&mut buf) {
            Ok((n, _from)) => {
                client.handle_input(Input::Receive(clock.now(), Link::Udp, &buf[..n]));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                client.handle_input(Input::Timeout(clock.now()));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
