//! The raw link-layer socket of the reference phone: ARP (RFC 5227 probes and
//! announcements, Decision 11), LLDP (driver/lldp.rs: another EtherType and a multicast
//! membership, same code), EAPOL later.
//!
//! An `AF_PACKET` / `SOCK_DGRAM` socket (packet(7)): the kernel adds and strips the Ethernet
//! header, so the phone sends and receives the 28-byte ARP payload the DHCP client builds and
//! parses. It is bound to one interface and one EtherType, non-blocking, and the driver
//! registers its descriptor ([`PacketSocket::raw_fd`]) with its mio poll like any socket. A packet socket bound to one protocol does not see the
//! frames it sends itself (only `ETH_P_ALL` taps do), so every frame read is another host's.
//!
//! Crates: `socket2` (already used for SO_BINDTODEVICE; its `all` feature has
//! `Domain::PACKET`, non-blocking mode and `send_to`) and `libc` for the `sockaddr_ll` layout.
//! Neither socket2, nix nor rustix builds a `sockaddr_ll` safely, so one small `unsafe` block
//! (below, with its SAFETY argument) copies it into socket2's address storage. The interface
//! index and MAC come from sysfs, not from an ioctl.

use std::io::{self, Read as _};
use std::os::fd::{AsRawFd as _, RawFd};

use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

use crate::cli::Iface;

/// The EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// The Ethernet broadcast address.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// A link-layer socket on one interface for one EtherType.
#[derive(Debug)]
pub struct PacketSocket {
    socket: Socket,
    ifindex: i32,
    protocol: u16,
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
        })
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

    /// Reads one frame's payload (without the Ethernet header) into `buf`. The reactor reads
    /// with `recvfrom` instead (`driver::eapol::recv_from`: EAPOL needs the sender).
    ///
    /// # Errors
    /// `WouldBlock` when nothing is queued.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.socket).read(buf)
    }

    /// Joins the link-layer multicast group `group` on the socket's interface
    /// (`PACKET_ADD_MEMBERSHIP`, `PACKET_MR_MULTICAST`, packet(7)), so a NIC that filters
    /// multicast in hardware passes it up (LLDP's 01:80:c2:00:00:0e). The membership goes with
    /// the socket. A veth delivers such frames without it; `ip maddr show dev IFACE` lists it.
    ///
    /// # Errors
    /// The kernel refused the membership.
    #[allow(unsafe_code)]
    pub fn join_multicast(&self, group: [u8; 6]) -> io::Result<()> {
        let [a, b, c, d, e, f] = group;
        let mreq = libc::packet_mreq {
            mr_ifindex: self.ifindex,
            mr_type: libc::PACKET_MR_MULTICAST as libc::c_ushort,
            mr_alen: 6,
            mr_address: [a, b, c, d, e, f, 0, 0],
        };
        let len = libc::socklen_t::try_from(std::mem::size_of::<libc::packet_mreq>())
            .unwrap_or(libc::socklen_t::MAX);
        // SAFETY: the descriptor is this socket's, open for the life of `self`; the option
        // value points to a live, initialised `packet_mreq` on the stack and `len` is its size,
        // which is what the kernel reads for SOL_PACKET / PACKET_ADD_MEMBERSHIP.
        let rc = unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                std::ptr::from_ref(&mreq).cast::<libc::c_void>(),
                len,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The file descriptor (for poll registration).
    #[must_use]
    pub fn raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::Ipv4Addr;

    use mio::unix::SourceFd;
    use mio::{Interest, Token};
    use phone_dhcp::{ArpMessage, ArpPacket};

    use crate::cli::Mac;

    use super::*;

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
        let a = PacketSocket::open(&pa, ETH_P_ARP).unwrap();
        let b = PacketSocket::open(&pb, ETH_P_ARP).unwrap();
        let (mac_a, mac_b) = (
            Mac::of_interface(&pa).unwrap(),
            Mac::of_interface(&pb).unwrap(),
        );
        assert_eq!(mac_a.to_string(), "02:00:00:00:00:0a");
        let mut poll = mio::Poll::new().unwrap();
        for (s, t) in [(&a, 1), (&b, 2)] {
            poll.registry()
                .register(&mut SourceFd(&s.raw_fd()), Token(t), Interest::READABLE)
                .unwrap();
        }
        let mut events = mio::Events::with_capacity(8);
        let mut buf = [0u8; 1600];
        // The next ARP message on `s` (registered as `token`), within 2 s.
        let mut next = |s: &PacketSocket, token: usize| loop {
            poll.poll(&mut events, Some(Duration::from_secs(2)))
                .unwrap();
            assert!(!events.is_empty(), "no frame within 2 s (token {token})");
            if events.iter().any(|e| e.token() == Token(token)) {
                let n = s.recv(&mut buf).unwrap();
                break ArpMessage::parse(&buf[..n]).unwrap();
            }
        };
        // tcpdump on pb, when present, must see the probe too: wait (at most 10 s, a loaded
        // machine is slow) until it says it is listening.
        let mut dump = std::process::Command::new("tcpdump")
            .args(["-i", "pb", "-n", "-l", "-c", "1", "arp"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .ok();
        if let Some(err) = dump.as_mut().and_then(|d| d.stderr.take()) {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                use std::io::BufRead as _;
                for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                    if line.contains("listening on pb") {
                        let _ = tx.send(());
                    }
                }
            });
            assert!(
                rx.recv_timeout(Duration::from_secs(10)).is_ok(),
                "tcpdump never listened on pb"
            );
        }
        let target: Ipv4Addr = "192.0.2.7".parse().unwrap();
        let probe = ArpPacket::probe(mac_a.octets(), target);
        a.send_to(&probe.to_bytes(), BROADCAST).unwrap();
        let got = next(&b, 2);
        assert!(got.is_probe(), "{got:?}");
        assert_eq!(got.to_bytes(), probe.to_bytes());
        assert_eq!(got.sender_ip, Ipv4Addr::UNSPECIFIED);
        // Nothing more queued on pb: the socket is non-blocking. And pa does not read its own
        // probe back.
        let mut scratch = [0u8; 64];
        for s in [&b, &a] {
            assert_eq!(
                s.recv(&mut scratch).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
        }
        // The other way: pb defends (a reply to pa's MAC), pa receives it.
        let reply = ArpMessage::reply(mac_b.octets(), target, &probe);
        b.send_to(&reply.to_bytes(), mac_a.octets()).unwrap();
        assert_eq!(next(&a, 1), reply);
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
