//! The LLDP side of the line interface (link.md §1): one raw socket for ethertype 0x88cc on
//! the base interface (never a VLAN interface: LLDP frames go untagged), frames sent to the
//! nearest-bridge group 01:80:c2:00:00:0e, whose multicast membership the socket holds.
//!
//! The same [`PacketSocket`] as ARP (`SOCK_DGRAM`: the kernel adds and strips the Ethernet
//! header, so the machine sends and receives the bare LLDPDU). A packet socket bound to one
//! protocol does not read back the frames it sends itself. On a veth the frames arrive
//! without the membership (checked: `pkttype` multicast, `promiscuity 0`); a real NIC filters
//! multicast in hardware, so the membership is taken all the same, and a refusal is only
//! logged.

use std::io;

use crate::arp::PacketSocket;
use crate::cli::Iface;

use super::{Fact, Handle, Reactor};

/// The LLDP ethertype (IEEE 802.1AB).
pub const ETH_P_LLDP: u16 = 0x88cc;
/// The nearest-bridge group address LLDP frames go to.
pub const LLDP_MULTICAST: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];

/// The LLDP agent's transport: report a failed send as `TransportFailed`, a frame read as
/// `Receive` with its LLDPDU.
#[derive(Debug)]
pub struct LldpPort {
    handle: Handle,
    iface: Iface,
}

impl LldpPort {
    /// Opens the socket on `iface`, joins the LLDP group, registers it.
    ///
    /// # Errors
    /// As [`PacketSocket::open`] (no such interface, no CAP_NET_RAW).
    pub fn open(io: &mut Reactor, iface: &Iface) -> io::Result<LldpPort> {
        let s = PacketSocket::open(iface, ETH_P_LLDP)?;
        if let Err(e) = s.join_multicast(LLDP_MULTICAST) {
            tracing::warn!("LLDP on {iface}: no membership of 01:80:c2:00:00:0e: {e}");
        }
        Ok(LldpPort {
            handle: io.packet(s)?,
            iface: iface.clone(),
        })
    }

    /// Sends an LLDPDU to the LLDP group.
    ///
    /// # Errors
    /// As [`Reactor::send_frame`].
    pub fn send(&self, io: &mut Reactor, lldpdu: &[u8]) -> io::Result<()> {
        io.send_frame(self.handle, lldpdu, LLDP_MULTICAST)
            .inspect_err(|e| tracing::info!("LLDP send on {}: {e}", self.iface))
    }

    /// An LLDPDU received on this socket.
    #[must_use]
    pub fn fact<'a>(&self, fact: &Fact<'a>) -> Option<&'a [u8]> {
        match *fact {
            Fact::Frame { handle, bytes } if handle == self.handle => Some(bytes),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use super::*;

    fn sh(args: &[&str]) -> String {
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(2) == Some("0"))
            })
            .unwrap_or(false)
    }

    /// An LLDPDU sent on one end of a veth pair arrives whole on the other end's port through
    /// the reactor, to the LLDP group from the sender's MAC (tcpdump, when installed, says so),
    /// and the sender holds the group membership. Run inside a network namespace the test
    /// creates; skips without root.
    #[test]
    fn lldpdu_crosses_a_veth_pair() {
        if !is_root() || Command::new("ip").arg("-V").output().is_err() {
            eprintln!("skipped: needs root and iproute2 (network namespaces)");
            return;
        }
        let ns = format!("pbt-lldp-{}", std::process::id());
        sh(&["ip", "netns", "add", &ns]);
        struct Cleanup(String);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
            }
        }
        let _cleanup = Cleanup(ns.clone());
        let exe = std::env::current_exe().unwrap();
        let out = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(exe)
            .args([
                "driver::lldp::tests::veth_inner",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
    }

    /// The inner half of [`lldpdu_crosses_a_veth_pair`] (in its namespace).
    #[test]
    #[ignore = "run by lldpdu_crosses_a_veth_pair inside its namespace"]
    fn veth_inner() {
        sh(&[
            "ip",
            "link",
            "add",
            "la",
            "address",
            "02:00:00:00:00:1a",
            "type",
            "veth",
            "peer",
            "name",
            "lb",
            "address",
            "02:00:00:00:00:1b",
        ]);
        sh(&["ip", "link", "set", "la", "up"]);
        sh(&["ip", "link", "set", "lb", "up"]);
        let (la, lb): (Iface, Iface) = ("la".parse().unwrap(), "lb".parse().unwrap());
        let mut io = Reactor::new(super::super::Clock::new()).unwrap();
        let a = LldpPort::open(&mut io, &la).unwrap();
        let b = LldpPort::open(&mut io, &lb).unwrap();
        let maddr = sh(&["ip", "maddr", "show", "dev", "la"]);
        assert!(maddr.contains("01:80:c2:00:00:0e"), "{maddr}");
        let dump = Command::new("tcpdump")
            .args([
                "-i", "lb", "-n", "-e", "-l", "-c", "1", "ether", "proto", "0x88cc",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok();
        if dump.is_some() {
            // tcpdump needs a moment to attach its filter; the frame is sent twice below.
            std::thread::sleep(Duration::from_millis(500));
        }
        // Chassis ID (MAC), Port ID (MAC), TTL 120, End.
        let mut lldpdu = vec![0x02, 0x07, 0x04, 2, 0, 0, 0, 0, 0x1a];
        lldpdu.extend_from_slice(&[0x04, 0x07, 0x03, 2, 0, 0, 0, 0, 0x1a]);
        lldpdu.extend_from_slice(&[0x06, 0x02, 0x00, 0x78, 0x00, 0x00]);
        a.send(&mut io, &lldpdu).unwrap();
        let mut got = None;
        let mut buf = vec![0u8; super::super::READ_BUFFER];
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while got.is_none() && std::time::Instant::now() < end {
            io.wait(Some(io.now() + Duration::from_millis(200)))
                .unwrap();
            while let Some(f) = io.next_fact(&mut buf) {
                assert!(a.fact(&f).is_none(), "the sender reads its own frame back");
                if let Some(bytes) = b.fact(&f) {
                    got = Some(bytes.to_vec());
                }
            }
        }
        assert_eq!(got.as_deref(), Some(lldpdu.as_slice()));
        if let Some(mut d) = dump {
            a.send(&mut io, &lldpdu).unwrap();
            let done = (0..30).any(|_| {
                std::thread::sleep(Duration::from_millis(100));
                matches!(d.try_wait(), Ok(Some(_)))
            });
            if !done {
                let _ = d.kill();
            }
            let mut text = String::new();
            if let Some(mut o) = d.stdout.take() {
                let _ = std::io::Read::read_to_string(&mut o, &mut text);
            }
            assert!(
                text.contains("02:00:00:00:00:1a > 01:80:c2:00:00:0e, ethertype LLDP"),
                "tcpdump saw: {text:?}"
            );
        }
    }
}
