//! The raw link-layer socket of the reference phone: ARP now (RFC 5227 probes and
//! announcements, Decision 11), LLDP and EAPOL later (another EtherType, same code).
//!
//! An `AF_PACKET` / `SOCK_DGRAM` socket (packet(7)): the kernel adds and strips the Ethernet
//! header, so the phone sends and receives the 28-byte ARP payload the DHCP client builds and
//! parses. It is bound to one interface and one EtherType, non-blocking, and registered with
//! the driver's mio poll like any socket. A packet socket bound to one protocol does not see the
//! frames it sends itself (only `ETH_P_ALL` taps do), so every frame read is another host's.
//!
//! Crates: `socket2` (already used for SO_BINDTODEVICE; its `all` feature has
//! `Domain::PACKET`, non-blocking mode and `send_to`) and `libc` for the `sockaddr_ll` layout.
//! Neither socket2, nix nor rustix builds a `sockaddr_ll` safely, so one small `unsafe` block
//! (below, with its SAFETY argument) copies it into socket2's address storage. The interface
//! index and MAC come from sysfs, not from an ioctl.

use std::io::{self, Read as _};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd as _, RawFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

use crate::cli::{Iface, Mac};

/// The EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// The length of an Ethernet/IPv4 ARP payload (RFC 826).
pub const ARP_LEN: usize = 28;
/// The Ethernet broadcast address.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// A link-layer socket on one interface for one EtherType.
#[derive(Debug)]
pub struct PacketSocket {
    socket: Socket,
    ifindex: i32,
    protocol: u16,
    mac: Mac,
    iface: Iface,
}

/// The index of an interface (`/sys/class/net/IFACE/ifindex`).
///
/// # Errors
/// No such interface.
pub fn ifindex(iface: &Iface) -> io::Result<i32> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{}/ifindex", iface.name()))
        .map_err(|e| io::Error::new(e.kind(), format!("interface {iface}: {e}")))?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::other(format!("interface {iface}: bad ifindex {text:?}")))
}

/// A `sockaddr_ll` for `ifindex`, `protocol` and (for sending) the destination `mac`.
#[allow(unsafe_code)]
fn link_addr(ifindex: i32, protocol: u16, mac: [u8; 6]) -> SockAddr {
    let [a, b, c, d, e, f] = mac;
    let ll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::c_ushort,
        sll_protocol: protocol.to_be(),
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: [a, b, c, d, e, f, 0, 0],
    };
    let mut storage = SockAddrStorage::zeroed();
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_ll>())
        .unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `SockAddrStorage` is a `sockaddr_storage` (128 bytes, aligned for every socket
    // address type); `sockaddr_ll` is 20 bytes of plain integers, so viewing the storage as one
    // is in bounds and aligned, and every bit pattern written is valid.
    unsafe {
        *storage.view_as::<libc::sockaddr_ll>() = ll;
    }
    // SAFETY: the first `len` bytes of `storage` are the initialised `sockaddr_ll` above, whose
    // family field says AF_PACKET; `len` is its size.
    unsafe { SockAddr::new(storage, len) }
}

impl PacketSocket {
    /// Opens a non-blocking packet socket on `iface` for `protocol` (an EtherType). Needs
    /// CAP_NET_RAW.
    ///
    /// # Errors
    /// No such interface, or no permission.
    pub fn open(iface: &Iface, protocol: u16) -> io::Result<PacketSocket> {
        let ifindex = ifindex(iface)?;
        let mac = Mac::of_interface(iface).map_err(|e| io::Error::other(format!("{e:#}")))?;
        let socket = Socket::new(
            Domain::PACKET,
            Type::DGRAM,
            Some(Protocol::from(i32::from(protocol.to_be()))),
        )?;
        socket.bind(&link_addr(ifindex, protocol, [0; 6]))?;
        socket.set_nonblocking(true)?;
        Ok(PacketSocket {
            socket,
            ifindex,
            protocol,
            mac,
            iface: iface.clone(),
        })
    }

    /// Opens the ARP socket of `iface`.
    ///
    /// # Errors
    /// As [`PacketSocket::open`].
    pub fn arp(iface: &Iface) -> io::Result<PacketSocket> {
        PacketSocket::open(iface, ETH_P_ARP)
    }

    /// The interface's own MAC (the sender hardware address of what the phone sends).
    #[must_use]
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// The interface.
    #[must_use]
    pub fn iface(&self) -> &Iface {
        &self.iface
    }

    /// Sends `payload` to `destination` (an ARP probe or announcement goes to [`BROADCAST`]).
    ///
    /// # Errors
    /// `WouldBlock` when the interface's queue is full; any other send error.
    pub fn send_to(&self, payload: &[u8], destination: [u8; 6]) -> io::Result<()> {
        let to = link_addr(self.ifindex, self.protocol, destination);
        let n = self.socket.send_to(payload, &to)?;
        if n == payload.len() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "short link-layer send: {n} of {} bytes",
                payload.len()
            )))
        }
    }

    /// Broadcasts `payload`.
    ///
    /// # Errors
    /// As [`PacketSocket::send_to`].
    pub fn broadcast(&self, payload: &[u8]) -> io::Result<()> {
        self.send_to(payload, BROADCAST)
    }

    /// Reads one frame's payload (without the Ethernet header) into `buf`.
    ///
    /// # Errors
    /// `WouldBlock` when nothing is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.socket).read(buf)
    }

    /// The file descriptor (for poll registration).
    #[must_use]
    pub fn raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl mio::event::Source for PacketSocket {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.raw_fd()).deregister(registry)
    }
}

/// An Ethernet/IPv4 ARP payload (RFC 826), for building probes in the binary's own uses
/// (static addresses, tests) and for logs. The DHCP client parses what it receives itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPayload {
    /// 1 request, 2 reply.
    pub operation: u16,
    /// Sender hardware address.
    pub sender_mac: [u8; 6],
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: [u8; 6],
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpPayload {
    /// An RFC 5227 §2.1.1 probe: a request with sender IP 0.0.0.0 and target IP the address.
    #[must_use]
    pub fn probe(mac: Mac, address: Ipv4Addr) -> ArpPayload {
        ArpPayload {
            operation: 1,
            sender_mac: mac.0,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_mac: [0; 6],
            target_ip: address,
        }
    }

    /// An RFC 5227 §2.3 announcement: a request with sender and target IP both the address.
    #[must_use]
    pub fn announcement(mac: Mac, address: Ipv4Addr) -> ArpPayload {
        ArpPayload {
            operation: 1,
            sender_mac: mac.0,
            sender_ip: address,
            target_mac: [0; 6],
            target_ip: address,
        }
    }

    /// The 28 bytes on the wire.
    #[must_use]
    pub fn encode(&self) -> [u8; ARP_LEN] {
        let mut b = [0u8; ARP_LEN];
        b[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
        b[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
        b[4] = 6;
        b[5] = 4;
        b[6..8].copy_from_slice(&self.operation.to_be_bytes());
        b[8..14].copy_from_slice(&self.sender_mac);
        b[14..18].copy_from_slice(&self.sender_ip.octets());
        b[18..24].copy_from_slice(&self.target_mac);
        b[24..28].copy_from_slice(&self.target_ip.octets());
        b
    }

    /// Parses an Ethernet/IPv4 ARP payload (trailing padding allowed); `None` for anything
    /// else.
    #[must_use]
    pub fn parse(b: &[u8]) -> Option<ArpPayload> {
        let b: &[u8; ARP_LEN] = b.get(..ARP_LEN)?.try_into().ok()?;
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        if u16_at(0) != 1 || u16_at(2) != 0x0800 || b[4] != 6 || b[5] != 4 {
            return None;
        }
        let mac_at =
            |i: usize| -> [u8; 6] { [b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5]] };
        let ip_at = |i: usize| Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3]);
        Some(ArpPayload {
            operation: u16_at(6),
            sender_mac: mac_at(8),
            sender_ip: ip_at(14),
            target_mac: mac_at(18),
            target_ip: ip_at(24),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let mac: Mac = "02:00:00:00:00:01".parse().unwrap();
        let a: Ipv4Addr = "10.0.0.7".parse().unwrap();
        let p = ArpPayload::probe(mac, a).encode();
        assert_eq!(p[..8], [0, 1, 8, 0, 6, 4, 0, 1], "Ethernet, IPv4, request");
        assert_eq!(&p[14..18], &[0, 0, 0, 0], "probe: sender IP 0.0.0.0");
        assert_eq!(ArpPayload::parse(&p), Some(ArpPayload::probe(mac, a)));
        let n = ArpPayload::announcement(mac, a);
        let mut padded = n.encode().to_vec();
        padded.extend_from_slice(&[0; 18]);
        assert_eq!(ArpPayload::parse(&padded), Some(n));
        assert_eq!(ArpPayload::parse(&p[..27]), None);
        let mut wrong = p;
        wrong[2] = 0x86;
        assert_eq!(ArpPayload::parse(&wrong), None);
    }

    /// Runs `ip ARGS`, panicking with its stderr.
    fn sh(args: &[&str]) {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
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

    /// A probe sent from one end of a veth pair is received on the other end's raw socket
    /// (and seen by tcpdump there when it is installed), and an announcement answered by the
    /// peer comes back: run inside a network namespace this test creates. Skips without root.
    #[test]
    fn probe_crosses_a_veth_pair_in_a_namespace() {
        if !is_root() || std::process::Command::new("ip").arg("-V").output().is_err() {
            eprintln!("skipped: needs root and iproute2 (network namespaces)");
            return;
        }
        let ns = format!("pbt-arp-{}", std::process::id());
        sh(&["netns", "add", &ns]);
        struct Cleanup(String);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::process::Command::new("ip")
                    .args(["netns", "del", &self.0])
                    .output();
            }
        }
        let _cleanup = Cleanup(ns.clone());
        let run = |args: &[&str]| {
            let mut full = vec!["netns", "exec", &ns, "ip"];
            full.extend_from_slice(args);
            sh(&full);
        };
        run(&[
            "link",
            "add",
            "pa",
            "address",
            "02:00:00:00:00:0a",
            "type",
            "veth",
            "peer",
            "name",
            "pb",
            "address",
            "02:00:00:00:00:0b",
        ]);
        run(&["link", "set", "pa", "up"]);
        run(&["link", "set", "pb", "up"]);
        // The check runs in the namespace: this same test binary, the inner test only.
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(exe)
            .args([
                "arp::tests::veth_inner",
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

    /// The inner half of [`probe_crosses_a_veth_pair_in_a_namespace`] (needs its veth pair).
    #[test]
    #[ignore = "run by probe_crosses_a_veth_pair_in_a_namespace inside its namespace"]
    fn veth_inner() {
        use std::time::Duration;

        let pa: Iface = "pa".parse().unwrap();
        let pb: Iface = "pb".parse().unwrap();
        let mut a = PacketSocket::arp(&pa).unwrap();
        let mut b = PacketSocket::arp(&pb).unwrap();
        assert_eq!(a.mac().to_string(), "02:00:00:00:00:0a");
        let mut poll = mio::Poll::new().unwrap();
        poll.registry()
            .register(&mut b, Token(2), Interest::READABLE)
            .unwrap();
        poll.registry()
            .register(&mut a, Token(1), Interest::READABLE)
            .unwrap();
        // tcpdump on pb, when present, must see the probe too.
        let dump = std::process::Command::new("tcpdump")
            .args(["-i", "pb", "-n", "-l", "-c", "1", "arp"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok();
        if dump.is_some() {
            std::thread::sleep(Duration::from_millis(500)); // tcpdump attaching
        }
        let target: Ipv4Addr = "192.0.2.7".parse().unwrap();
        let probe = ArpPayload::probe(a.mac(), target);
        a.broadcast(&probe.encode()).unwrap();
        let mut events = mio::Events::with_capacity(8);
        let mut buf = [0u8; 1600];
        let got = loop {
            poll.poll(&mut events, Some(Duration::from_secs(2)))
                .unwrap();
            assert!(!events.is_empty(), "no frame on pb within 2 s");
            if events.iter().any(|e| e.token() == Token(2)) {
                let n = b.recv(&mut buf).unwrap();
                break ArpPayload::parse(&buf[..n]).unwrap();
            }
        };
        assert_eq!(got, probe);
        assert_eq!(got.sender_ip, Ipv4Addr::UNSPECIFIED);
        // Nothing more queued on pb: the socket is non-blocking.
        assert_eq!(
            b.recv(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        // pa does not read its own probe back.
        assert_eq!(
            a.recv(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        // The other way: pb defends (a reply to pa's MAC), pa receives it.
        let reply = ArpPayload {
            operation: 2,
            sender_mac: b.mac().0,
            sender_ip: target,
            target_mac: a.mac().0,
            target_ip: Ipv4Addr::UNSPECIFIED,
        };
        b.send_to(&reply.encode(), a.mac().0).unwrap();
        let got = loop {
            poll.poll(&mut events, Some(Duration::from_secs(2)))
                .unwrap();
            assert!(!events.is_empty(), "no reply on pa within 2 s");
            if events.iter().any(|e| e.token() == Token(1)) {
                let n = a.recv(&mut buf).unwrap();
                break ArpPayload::parse(&buf[..n]).unwrap();
            }
        };
        assert_eq!(got, reply);
        if let Some(mut d) = dump {
            let mut text = String::new();
            let done = (0..30).any(|_| {
                std::thread::sleep(Duration::from_millis(100));
                matches!(d.try_wait(), Ok(Some(_)))
            });
            if !done {
                let _ = d.kill();
            }
            if let Some(mut o) = d.stdout.take() {
                let _ = std::io::Read::read_to_string(&mut o, &mut text);
            }
            assert!(
                text.contains("Request who-has 192.0.2.7"),
                "tcpdump saw: {text:?}"
            );
            eprintln!("tcpdump on pb: {}", text.trim());
        }
    }
}
