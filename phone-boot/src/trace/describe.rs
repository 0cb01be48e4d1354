//! One line per recorded input or output, for people (replay's divergence, `phone replay`),
//! and the small protocol readers the timeline shares: the DHCP message type, an HTTP or SIP
//! start line.

use alloc::format;
use alloc::string::String;

use phone_sansio::Instant;

use super::{CommandRecord, EventKind, InputRecord, OutputRecord};
use crate::boot::{Peer, Transmit};
use crate::files;
use crate::flash::FlashOp;

/// `12.345678 s`, or `never` for [`Instant::MAX`].
#[must_use]
pub fn instant(t: Instant) -> String {
    if t == Instant::MAX {
        return "never".into();
    }
    let us = t.as_micros();
    format!("{}.{:06} s", us / 1_000_000, us % 1_000_000)
}

/// The peer's name: `DHCP/UDP`, `file conn 3`, `SCEP conn 1`, `SIP controller 0`, ...
#[must_use]
pub fn peer(p: Peer) -> String {
    match p {
        Peer::Dhcp(phone_dhcp::Link::Udp) => "DHCP/UDP".into(),
        Peer::Dhcp(phone_dhcp::Link::Arp) => "ARP".into(),
        Peer::Files(files::Peer::Conn(c)) => format!("file conn {c}"),
        Peer::Files(files::Peer::Flash) => "flash".into(),
        Peer::Scep(c) => format!("SCEP conn {c}"),
        Peer::Sip(i) => format!("SIP controller {i}"),
        Peer::Dns(a) => format!("DNS {a}"),
        Peer::Lldp => "LLDP".into(),
        Peer::Eapol(_) => "EAPOL".into(),
    }
}

/// `DHCPDISCOVER` etc. for a DHCP message, with its xid.
#[must_use]
pub fn dhcp(payload: &[u8]) -> Option<(String, u32)> {
    let m = phone_dhcp::Message::decode(payload).ok()?;
    let name = match m.message_type()? {
        phone_dhcp::MessageType::Discover => "DHCPDISCOVER".into(),
        phone_dhcp::MessageType::Offer => "DHCPOFFER".into(),
        phone_dhcp::MessageType::Request => "DHCPREQUEST".into(),
        phone_dhcp::MessageType::Decline => "DHCPDECLINE".into(),
        phone_dhcp::MessageType::Ack => "DHCPACK".into(),
        phone_dhcp::MessageType::Nak => "DHCPNAK".into(),
        phone_dhcp::MessageType::Release => "DHCPRELEASE".into(),
        phone_dhcp::MessageType::Inform => "DHCPINFORM".into(),
        phone_dhcp::MessageType::Other(n) => format!("DHCP type {n}"),
    };
    Some((name, m.xid))
}

/// The first line of a text protocol message (HTTP or SIP), if the bytes start with one.
#[must_use]
pub fn first_line(bytes: &[u8]) -> Option<&str> {
    let head = &bytes[..bytes.len().min(512)];
    let end = head.windows(2).position(|w| w == b"\r\n")?;
    let line = core::str::from_utf8(&head[..end]).ok()?;
    (!line.is_empty() && line.chars().all(|c| !c.is_control())).then_some(line)
}

/// A short, printable excerpt of bytes: the first line when they are text, else a length.
fn excerpt(bytes: &[u8]) -> String {
    match first_line(bytes) {
        Some(l) => format!("{} bytes: {}", bytes.len(), cut(l, 100)),
        None => format!("{} bytes", bytes.len()),
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.into();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// One line for a recorded input.
#[must_use]
pub fn describe_input(i: &InputRecord) -> String {
    let at = instant(i.now());
    match i {
        InputRecord::Timeout(_) => format!("{at}: timeout"),
        InputRecord::Receive(_, p @ Peer::Dhcp(phone_dhcp::Link::Udp), b) => match dhcp(b) {
            Some((name, xid)) => format!(
                "{at}: receive from {}: {name} xid {xid:#010x}, {} bytes",
                peer(*p),
                b.len()
            ),
            None => format!("{at}: receive from {}: {} bytes", peer(*p), b.len()),
        },
        InputRecord::Receive(_, p, b) => format!("{at}: receive from {}, {}", peer(*p), excerpt(b)),
        InputRecord::Completed(_, p) => format!("{at}: completed on {}", peer(*p)),
        InputRecord::Closed(_, p) => format!("{at}: closed by {}", peer(*p)),
        InputRecord::TransportFailed(_, p) => format!("{at}: transport failed on {}", peer(*p)),
        InputRecord::Command(_, CommandRecord::Program) => format!("{at}: Program softkey"),
        InputRecord::Command(_, CommandRecord::Craft(c)) => format!("{at}: craft {c:?}"),
        InputRecord::Command(_, CommandRecord::Entry { text, secret }) => {
            if *secret {
                format!(
                    "{at}: entry at Password: ({} characters)",
                    text.chars().count()
                )
            } else {
                format!("{at}: entry {text:?}")
            }
        }
    }
}

fn http(stage: &str, h: &phone_http::Transmit) -> String {
    let c = h.conn;
    match &h.action {
        phone_http::Action::Connect { host, port, tls } => match tls {
            Some(t) => format!(
                "{stage} conn {c}: connect {host}:{port} with TLS to {} (identity check {})",
                t.server_name,
                if t.check_identity { "on" } else { "off" }
            ),
            None => format!("{stage} conn {c}: connect {host}:{port}"),
        },
        phone_http::Action::StartTls(t) => {
            format!("{stage} conn {c}: start TLS to {}", t.server_name)
        }
        phone_http::Action::Send(b) => format!("{stage} conn {c}: send {}", excerpt(b)),
        phone_http::Action::Close => format!("{stage} conn {c}: close"),
    }
}

/// One line for a transmit.
#[must_use]
pub fn transmit(t: &Transmit) -> String {
    match t {
        Transmit::Dhcp(phone_dhcp::Transmit::Udp {
            payload,
            destination,
            source,
        }) => match dhcp(payload) {
            Some((name, xid)) => format!(
                "DHCP {name} xid {xid:#010x} from {source} to {destination}, {} bytes",
                payload.len()
            ),
            None => format!("DHCP {} bytes to {destination}", payload.len()),
        },
        Transmit::Dhcp(phone_dhcp::Transmit::Arp(a)) => {
            format!("{} for {} from {}", a.kind, a.target_ip, a.sender_ip)
        }
        Transmit::Files(h) => http("file", h),
        Transmit::Scep(h) => http("SCEP", h),
        Transmit::Flash(FlashOp::Erase { slot, length }) => {
            format!("flash: erase slot {slot} for {length} bytes")
        }
        Transmit::Flash(FlashOp::Write { slot, offset, data }) => {
            format!(
                "flash: write {} bytes at {offset} in slot {slot}",
                data.len()
            )
        }
        Transmit::Flash(FlashOp::Commit(r)) => format!(
            "flash: commit, slot {} active ({})",
            r.active,
            r.running().map_or("-", |i| i.app.as_str())
        ),
        Transmit::Sip(s) => format!(
            "SIP to controller {} ({}): {}",
            s.controller,
            s.target,
            excerpt(&s.payload)
        ),
        Transmit::Lldp(l) => format!("LLDP frame, {} bytes", l.payload.len()),
        Transmit::Eapol(e) => format!("EAPOL frame, {} bytes", e.payload.len()),
        Transmit::Dns(d) => match phone_dns::Message::decode(&d.payload) {
            Ok(m) => match m.questions.first() {
                Some(q) => format!("DNS query {:#06x} for {} to {}", m.id, q.name, d.server),
                None => format!("DNS query {:#06x} to {}", m.id, d.server),
            },
            Err(_) => format!("DNS {} bytes to {}", d.payload.len(), d.server),
        },
    }
}

/// One line for a recorded output (events add their full form on a second line).
#[must_use]
pub fn describe_output(o: &OutputRecord) -> String {
    match o {
        OutputRecord::Transmit(t) => format!("transmit {}", transmit(t)),
        OutputRecord::Event(e) => {
            let kind = match e.kind {
                EventKind::Display(_) => "display",
                EventKind::Warning(_) => "warning",
                _ => "event",
            };
            format!("{kind} {}\n    {}", e.text, cut(&e.detail, 400))
        }
        OutputRecord::Timeout(t) => format!("timeout {}", instant(*t)),
    }
}
