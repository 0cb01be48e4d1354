//! The DNS adapter (spec/link.md §3): one UDP socket of the phone's for its stub resolver
//! (`phone_dns::Resolver`, composed by `Boot`). A transmit is one datagram to the server's port
//! 53; a datagram from port 53 of an IPv4 address comes back as `Receive(server, bytes)`
//! (the resolver matches it strictly: ID, question and source); a send that fails at once is
//! `TransportFailed(server)`. The socket binds an ephemeral port (the kernel's random choice,
//! RFC 5452 §9.2) on any address, so the replies follow the interface address DHCP configures.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{Fact, PeerFact, Reactor, UdpPort};
use crate::net::SocketOptions;

/// The resolver's UDP socket.
#[derive(Debug)]
pub struct DnsPort {
    udp: UdpPort,
}

impl DnsPort {
    /// Binds the socket (`0.0.0.0`, an ephemeral port).
    ///
    /// # Errors
    /// As [`Reactor::udp`].
    pub fn open(io: &mut Reactor, options: &SocketOptions) -> io::Result<DnsPort> {
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        Ok(DnsPort {
            udp: UdpPort::open(io, any, options)?,
        })
    }

    /// Sends one query; `Some` is a failure known at once, to feed back.
    pub fn transmit(
        &self,
        io: &mut Reactor,
        t: &phone_dns::Transmit,
    ) -> Option<PeerFact<'static, Ipv4Addr>> {
        let to = SocketAddr::new(IpAddr::V4(t.server), phone_dns::resolver::PORT);
        match self.udp.send(io, to, &t.payload) {
            Ok(()) => None,
            Err(e) => {
                tracing::debug!("DNS query to {to}: {e}");
                Some(PeerFact::TransportFailed(t.server))
            }
        }
    }

    /// A datagram for this socket: `Some(None)` when it is not from port 53 of an IPv4
    /// address (taken, and dropped), `None` when the fact is not about this socket.
    pub fn fact<'a>(&self, fact: &Fact<'a>) -> Option<Option<PeerFact<'a, Ipv4Addr>>> {
        let (from, bytes) = self.udp.fact(fact)?;
        match from {
            SocketAddr::V4(a) if a.port() == phone_dns::resolver::PORT => {
                Some(Some(PeerFact::Receive(*a.ip(), bytes)))
            }
            other => {
                tracing::debug!("DNS socket: datagram from {other} dropped");
                Some(None)
            }
        }
    }

    /// The local address.
    ///
    /// # Errors
    /// As [`Reactor::local_addr`].
    #[cfg(test)]
    pub fn local_addr(&self, io: &Reactor) -> io::Result<SocketAddr> {
        self.udp.local_addr(io)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::driver::{Clock, Fact};

    /// A query goes to port 53 of the server; the answer from port 53 comes back as the
    /// server's `Receive`; a datagram from another port is dropped.
    #[test]
    fn datagrams_to_and_from_port_53() {
        // A stand-in server on loopback port 53 needs root; bind a high port and check the
        // source filter with it, and the send path against an unbound loopback port.
        let mut io = Reactor::new(Clock::new()).unwrap();
        let port = DnsPort::open(&mut io, &SocketOptions::default()).unwrap();
        let local = port.local_addr(&io).unwrap();
        let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        other
            .send_to(b"not from 53", ("127.0.0.1", local.port()))
            .unwrap();
        let mut buf = vec![0u8; 2048];
        let mut seen = false;
        for _ in 0..50 {
            io.wait(Some(io.now() + std::time::Duration::from_millis(20)))
                .unwrap();
            while let Some(f) = io.next_fact(&mut buf) {
                if matches!(f, Fact::Datagram { .. }) {
                    assert_eq!(port.fact(&f), Some(None));
                    seen = true;
                }
            }
            if seen {
                break;
            }
        }
        assert!(seen);
        let t = phone_dns::Transmit {
            server: Ipv4Addr::LOCALHOST,
            payload: vec![0; 12],
        };
        // Loopback always accepts the send (an ICMP error may come later).
        assert_eq!(port.transmit(&mut io, &t), None);
    }
}
