//! Embedding `phone_lldp::Agent` in a firmware's loop, here on a Linux interface.
//!
//! ```text
//! sudo cargo run -p phone-examples --example lldp_agent -- IFACE [SECONDS]
//! cargo run -p phone-examples --example lldp_agent -- --decode HEX_OR_FILE
//! ```
//!
//! With IFACE: runs the agent for SECONDS (default 10) with LLDP_ENABLED 1 (fast start at
//! link-up). LLDP frames heard on IFACE (an `AF_PACKET` socket for ethertype 0x88cc) are fed to
//! the agent and its events printed. Each frame the agent asks to send is printed, decoded and in
//! hex (`text2pcap` reads the hex line), but not sent: sending on a packet socket needs a
//! `sockaddr_ll` naming the interface, which neither socket2 nor rustix builds without `unsafe`
//! (the workspace forbids it here; the reference phone's `examples/src/bin/phone/arp.rs` has the
//! one reviewed block it takes). A firmware with its own Ethernet driver queues the frame.
//!
//! With `--decode`: decodes one captured frame (hex digits only, any separators, e.g. from
//! `tcpdump -xx` without the offsets; with or without its 14-byte Ethernet header), given inline
//! or as a file, and shows what the agent makes of it.
//!
//! The loop is the one every machine of the workspace needs: drain `poll_output` until
//! `Output::Timeout(deadline)`, carrying out each transmit; then wait for a frame or the
//! deadline, whichever comes first, and feed it (`Input::Receive`) or say the time came
//! (`Input::Timeout`).

use std::error::Error;
use std::io::{ErrorKind, Read};
use std::time::Duration;

use phone_lldp::{
    Agent, AgentConfig, Command, ETHERTYPE_LLDP, LLDP_MULTICAST, Lldpdu, Mode, NetworkPolicy,
};
use phone_sansio::{Input, Instant, Machine, Output};
use socket2::{Domain, Protocol, Socket, Type};

/// The machine's clock: microseconds since the program started, from the monotonic clock.
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The LLDPDU of an Ethernet frame of ethertype 0x88cc, or the bytes themselves.
fn lldpdu(frame: &[u8]) -> &[u8] {
    match frame.get(12..14) {
        Some(t) if t == ETHERTYPE_LLDP.to_be_bytes() => &frame[14..],
        _ => frame,
    }
}

/// Drains the agent: prints what it would send and what it reports.
fn drain(agent: &mut Agent, mac: [u8; 6], now: Instant) -> Instant {
    loop {
        match agent.poll_output() {
            Output::Transmit(t) => {
                let mut frame = [
                    LLDP_MULTICAST.as_slice(),
                    &mac,
                    &ETHERTYPE_LLDP.to_be_bytes(),
                ]
                .concat();
                frame.extend_from_slice(&t.payload);
                let secs = now.since_origin().as_secs_f64();
                match Lldpdu::decode(&t.payload) {
                    Ok(f) => println!(
                        "{secs:>8.3} s  send: TTL {}, {:?}, {:?}",
                        f.ttl,
                        f.system_name,
                        f.voice_policy()
                    ),
                    Err(e) => println!("{secs:>8.3} s  send: undecodable ({e})"),
                }
                println!("           0000 {}", hex(&frame));
            }
            Output::Event(e) => {
                println!("{:>8.3} s  {e}", now.since_origin().as_secs_f64());
                if let Some(p) = e.voice_policy() {
                    // A firmware moves to the voice VLAN here (DHCP again on it) and then
                    // advertises the policy it uses.
                    let in_use = NetworkPolicy::voice(p.tagged, p.vlan, p.priority, p.dscp);
                    agent.handle_input(Input::Command(now, Command::VoicePolicy(in_use)));
                }
            }
            Output::Timeout(deadline) => return deadline,
        }
    }
}

fn decode(arg: &str) -> Result<(), Box<dyn Error>> {
    let text = std::fs::read_to_string(arg).unwrap_or_else(|_| arg.to_string());
    let digits: String = text.chars().filter(char::is_ascii_hexdigit).collect();
    let bytes = (0..digits.len() / 2)
        .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()?;
    let frame = Lldpdu::decode(lldpdu(&bytes))?;
    println!(
        "chassis {} port {} TTL {} name {:?} MED device type {:?}",
        frame.chassis_id,
        frame.port_id,
        frame.ttl,
        frame.system_name,
        frame.med_capabilities.map(|m| m.device_type)
    );
    for p in &frame.network_policies {
        println!("  network policy {p:?}");
    }
    println!(
        "  {} unknown TLVs kept, {} malformed dropped",
        frame.unknown.len(),
        frame.malformed
    );
    let mut agent = Agent::new(AgentConfig::for_mac([0, 4, 0x0d, 0, 0, 1]), Instant::ZERO);
    agent.handle_input(Input::Receive(Instant::ZERO, (), lldpdu(&bytes)));
    drain(&mut agent, [0, 4, 0x0d, 0, 0, 1], Instant::ZERO);
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: lldp_agent IFACE [SECONDS] | lldp_agent --decode HEX_OR_FILE";
    let iface = args.first().ok_or(usage)?;
    if iface == "--decode" {
        return decode(args.get(1).ok_or(usage)?);
    }
    let run_for = Instant::from_secs(args.get(1).map_or(Ok(10), |s| s.parse())?);
    let mut mac = [0u8; 6];
    let text = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))?;
    for (byte, part) in mac.iter_mut().zip(text.trim().split(':')) {
        *byte = u8::from_str_radix(part, 16)?;
    }

    // Receive only: frames of ethertype 0x88cc, Ethernet header included, on IFACE.
    let proto = i32::from(ETHERTYPE_LLDP.to_be());
    let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(proto)))?;
    socket.bind_device(Some(iface.as_bytes()))?;

    let clock = Clock(std::time::Instant::now());
    let mut config = AgentConfig::for_mac(mac);
    config.mode = Mode::On; // LLDP_ENABLED 1: fast start at link-up
    config.system_name = phone_dhcp::host_name(mac);
    let mut agent = Agent::new(config, clock.now());
    let mut frame = [0u8; 1514];
    while clock.now() < run_for {
        // 1. Drain the machine.
        let deadline = drain(&mut agent, mac, clock.now());
        // 2. Wait for a frame or the deadline, whichever comes first.
        let wait = deadline.min(run_for).saturating_duration_since(clock.now());
        socket.set_read_timeout(Some(
            wait.clamp(Duration::from_millis(1), Duration::from_secs(1)),
        ))?;
        match (&socket).read(&mut frame) {
            // Not our own frames (a packet socket sees outgoing ones too).
            Ok(n) if frame.get(6..12) != Some(mac.as_slice()) => {
                agent.handle_input(Input::Receive(clock.now(), (), lldpdu(&frame[..n])));
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                agent.handle_input(Input::Timeout(clock.now()));
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Link down or power-off: the last frame has TTL 0.
    agent.handle_input(Input::Command(clock.now(), Command::Shutdown));
    drain(&mut agent, mac, clock.now());
    Ok(())
}
