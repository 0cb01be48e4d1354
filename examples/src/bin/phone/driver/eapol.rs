//! The 802.1X side of the line interface (link.md §2): one raw socket for ethertype 0x888e on
//! the base interface (EAPOL goes untagged), frames sent to the PAE group 01:80:c2:00:00:03,
//! whose multicast membership the socket holds (a veth delivers without it, a NIC may not).
//!
//! The same [`PacketSocket`] as ARP and LLDP (`SOCK_DGRAM`: the kernel adds and strips the
//! Ethernet header). The supplicant needs each frame's sender and whether it came to a group
//! address (DOT1XSTAT 1 answers unicast EAPOL only): the reactor reads packet sockets with
//! `recvfrom` ([`recv_from`]) and keeps both for the last frame ([`Reactor::frame_from`]).

use std::io;

use nix::sys::socket::{LinkAddr, recvfrom};

use crate::arp::PacketSocket;
use crate::cli::Iface;

use super::{Fact, Handle, Reactor};

/// The EAPOL ethertype (IEEE 802.1X-2004 §7.8).
pub const ETH_P_PAE: u16 = phone_dot1x::eapol::ETHERTYPE;
/// The PAE group address EAPOL frames go to.
pub const PAE_GROUP: [u8; 6] = phone_dot1x::eapol::PAE_GROUP;

/// A frame's sender MAC and packet(7) `pkttype`.
pub type FrameFrom = ([u8; 6], u8);

/// Reads one frame's payload from `s` into `buf`, with its sender MAC and packet(7)
/// `pkttype` (0 PACKET_HOST, 1 BROADCAST, 2 MULTICAST, 3 OTHERHOST, 4 OUTGOING).
///
/// # Errors
/// `WouldBlock` when nothing is queued.
pub fn recv_from(s: &PacketSocket, buf: &mut [u8]) -> io::Result<(usize, Option<FrameFrom>)> {
    let (n, addr) = recvfrom::<LinkAddr>(s.raw_fd(), buf).map_err(io::Error::from)?;
    Ok((
        n.min(buf.len()),
        addr.map(|a| (a.addr().unwrap_or([0; 6]), a.pkttype())),
    ))
}

/// The supplicant's transport: a failed send is reported as `TransportFailed`, a frame read
/// as `Receive` with its EAPOL PDU and [`phone_dot1x::Link`].
#[derive(Debug)]
pub struct EapolPort {
    handle: Handle,
    iface: Iface,
}

impl EapolPort {
    /// Opens the socket on `iface`, joins the PAE group, registers it.
    ///
    /// # Errors
    /// As [`PacketSocket::open`] (no such interface, no CAP_NET_RAW).
    pub fn open(io: &mut Reactor, iface: &Iface) -> io::Result<EapolPort> {
        let s = PacketSocket::open(iface, ETH_P_PAE)?;
        if let Err(e) = s.join_multicast(PAE_GROUP) {
            tracing::warn!("802.1X on {iface}: no membership of 01:80:c2:00:00:03: {e}");
        }
        Ok(EapolPort {
            handle: io.packet(s)?,
            iface: iface.clone(),
        })
    }

    /// Sends an EAPOL PDU to `destination` (the PAE group).
    ///
    /// # Errors
    /// As [`Reactor::send_frame`].
    pub fn send(&self, io: &mut Reactor, t: &phone_dot1x::Transmit) -> io::Result<()> {
        io.send_frame(self.handle, &t.payload, t.destination)
            .inspect_err(|e| tracing::info!("EAPOL send on {}: {e}", self.iface))
    }

    /// An EAPOL PDU received on this socket, with its sender; frames the kernel marks as not
    /// for this host (another host's unicast, our own outgoing) are not the supplicant's.
    #[must_use]
    pub fn fact<'a>(
        &self,
        io: &Reactor,
        fact: &Fact<'a>,
    ) -> Option<Option<(phone_dot1x::Link, &'a [u8])>> {
        match *fact {
            Fact::Frame { handle, bytes } if handle == self.handle => {
                Some(io.frame_from().and_then(|(source, pkttype)| {
                    let multicast = match pkttype {
                        0 => false,
                        1 | 2 => true,
                        _ => return None,
                    };
                    Some((phone_dot1x::Link { source, multicast }, bytes))
                }))
            }
            _ => None,
        }
    }
}

/// The supplicant's peer for a failed send (the sender is not known then).
#[must_use]
pub fn no_link() -> phone_dot1x::Link {
    phone_dot1x::Link {
        source: [0; 6],
        multicast: false,
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

    /// An EAPOL-Start to the PAE group crosses a veth pair through the reactor with the
    /// sender's MAC and the group flag; a frame to the receiver's own MAC arrives as unicast.
    /// Run inside a namespace the test creates; skips without root.
    #[test]
    fn eapol_crosses_a_veth_pair_with_sender_and_group_flag() {
        if !is_root() || Command::new("ip").arg("-V").output().is_err() {
            eprintln!("skipped: needs root and iproute2 (network namespaces)");
            return;
        }
        let ns = format!("pbt-eapol-{}", std::process::id());
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
                "driver::eapol::tests::veth_inner",
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

    /// The inner half (in its namespace).
    #[test]
    #[ignore = "run by eapol_crosses_a_veth_pair_with_sender_and_group_flag in its namespace"]
    fn veth_inner() {
        sh(&[
            "ip",
            "link",
            "add",
            "ea",
            "address",
            "02:00:00:00:00:ea",
            "type",
            "veth",
            "peer",
            "name",
            "eb",
            "address",
            "02:00:00:00:00:eb",
        ]);
        sh(&["ip", "link", "set", "ea", "up"]);
        sh(&["ip", "link", "set", "eb", "up"]);
        let (ea, eb): (Iface, Iface) = ("ea".parse().unwrap(), "eb".parse().unwrap());
        let mut io = Reactor::new(super::super::Clock::new()).unwrap();
        let a = EapolPort::open(&mut io, &ea).unwrap();
        let b = EapolPort::open(&mut io, &eb).unwrap();
        let maddr = sh(&["ip", "maddr", "show", "dev", "ea"]);
        assert!(maddr.contains("01:80:c2:00:00:03"), "{maddr}");
        let mut buf = vec![0u8; super::super::READ_BUFFER];
        let mut got = Vec::new();
        let start = phone_dot1x::Transmit {
            destination: PAE_GROUP,
            payload: phone_dot1x::eapol::start(),
        };
        let unicast = phone_dot1x::Transmit {
            destination: [0x02, 0, 0, 0, 0, 0xeb],
            payload: phone_dot1x::eapol::logoff(),
        };
        a.send(&mut io, &start).unwrap();
        a.send(&mut io, &unicast).unwrap();
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while got.len() < 2 && std::time::Instant::now() < end {
            io.wait(Some(io.now() + Duration::from_millis(200)))
                .unwrap();
            while let Some(f) = io.next_fact(&mut buf) {
                assert!(
                    a.fact(&io, &f).is_none(),
                    "the sender reads its own frame back"
                );
                if let Some(Some((link, bytes))) = b.fact(&io, &f) {
                    got.push((link, bytes.to_vec()));
                }
            }
        }
        let from = [0x02, 0, 0, 0, 0, 0xea];
        assert_eq!(
            got,
            [
                (
                    phone_dot1x::Link {
                        source: from,
                        multicast: true
                    },
                    start.payload
                ),
                (
                    phone_dot1x::Link {
                        source: from,
                        multicast: false
                    },
                    unicast.payload
                ),
            ]
        );
    }
}
