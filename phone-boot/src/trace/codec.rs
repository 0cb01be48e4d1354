//! The trace file and its secrets file (TRACE.md): a framed, versioned binary encoding in
//! which every length is checked against the bytes left and against [`Limits`] before
//! anything is allocated, and every secret is written as a reference into the side file.

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_sansio::Instant;
use sha2::{Digest as _, Sha256};

use super::{
    CommandRecord, Entry, EventKind, EventRecord, InputRecord, LimitHit, Limits,
    MIN_SCANNED_SECRET, OutputRecord, PowerOn, ScreenKind, Trace, VERSION, WarningKind,
};
use crate::boot::record::{Craft, Identity, LeaseTerms, Record, StaticAddress};
use crate::boot::{BootConfig, CraftCommand, Peer, Stage, Transmit};
use crate::files::{self, StageConfig};
use crate::firmware::FirmwareKey;
use crate::flash::{BootRecord, FlashConfig, FlashOp, Slot, SlotImage};

const MAGIC: &[u8; 4] = b"PHTR";
const SECRETS_MAGIC: &[u8; 4] = b"PHTS";
/// The secrets file's own version.
const SECRETS_VERSION: u8 = 1;

const T_META: u8 = 1;
const T_POWER_ON: u8 = 2;
const T_INPUT: u8 = 3;
const T_OUTPUT: u8 = 4;
const T_END: u8 = 15;

/// magic + version.
const HEAD: usize = 5;
/// tag + len.
const FRAME: usize = 5;

/// An encoded trace: the trace file, and the secrets file it refers to (if any secret was
/// referred to). Write the secrets file readable by its owner only (0600).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The trace file.
    pub trace: Vec<u8>,
    /// The secrets file `FILE.secrets`, `None` when the trace refers to no secret.
    pub secrets: Option<Vec<u8>>,
    /// The trace itself may hold a secret in the clear ([`Trace::secrets_in_clear`]): keep it
    /// like the secrets file.
    pub secrets_in_clear: bool,
}

/// Why a trace or secrets file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The file does not start with `PHTR`.
    #[error("not a phone-boot trace (bad magic)")]
    BadMagic,
    /// A format version this build does not read.
    #[error("trace format version {0} (this build reads version {VERSION})")]
    Version(u8),
    /// The bytes end inside a record or value.
    #[error("trace cut short at byte {0}")]
    Truncated(usize),
    /// A size past the [`Limits`].
    #[error("{what} too large at byte {offset}")]
    TooLarge {
        /// What.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// A value that is not one the format allows.
    #[error("bad {what} at byte {offset}")]
    Bad {
        /// What.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// A record tag the format does not define, or a record out of order.
    #[error("unexpected record tag {tag} at byte {offset}")]
    Tag {
        /// The tag.
        tag: u8,
        /// Where.
        offset: usize,
    },
    /// A configuration or record field this build does not know (a newer writer).
    #[error("unknown field {0:?}")]
    UnknownField(String),
    /// The end record is missing (the file was cut at a record boundary).
    #[error("no end record: the trace is incomplete")]
    NoEnd,
    /// The end record does not match what precedes it.
    #[error("the end record does not match the trace")]
    BadEnd,
    /// Bytes after the end record.
    #[error("{0} bytes after the end record")]
    Trailing(usize),
    /// The secrets file is not the one written with this trace.
    #[error("the secrets file does not belong to this trace")]
    SecretsMismatch,
    /// The secrets file is damaged.
    #[error("bad secrets file: {0}")]
    BadSecrets(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// The secrets of one encode: the known values searched for in every blob, and the ones
/// actually referred to (the side file), numbered from 1 in order of first reference.
struct Table {
    known: Vec<Vec<u8>>,
    /// Known values of at least [`MIN_SCANNED_SECRET`] bytes, by first byte, longest first.
    by_first: Vec<Vec<usize>>,
    known_id: Vec<Option<u32>>,
    used: Vec<Vec<u8>>,
}

impl Table {
    fn new(known: &[Vec<u8>]) -> Self {
        let mut by_first: Vec<Vec<usize>> = (0..256).map(|_| Vec::new()).collect();
        for (i, s) in known.iter().enumerate() {
            if s.len() >= MIN_SCANNED_SECRET {
                by_first[usize::from(s[0])].push(i);
            }
        }
        for v in &mut by_first {
            v.sort_by_key(|&i| core::cmp::Reverse(known[i].len()));
        }
        Table {
            known: known.to_vec(),
            by_first,
            known_id: alloc::vec![None; known.len()],
            used: Vec::new(),
        }
    }

    fn id_of_known(&mut self, k: usize) -> u32 {
        if let Some(id) = self.known_id[k] {
            return id;
        }
        let id = self.explicit(&self.known[k].clone());
        self.known_id[k] = Some(id);
        id
    }

    fn explicit(&mut self, value: &[u8]) -> u32 {
        if let Some(i) = self.used.iter().position(|u| u == value) {
            return u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        self.used.push(value.to_vec());
        u32::try_from(self.used.len()).unwrap_or(u32::MAX)
    }

    /// The known secret starting at `data[i..]`, longest first.
    fn match_at(&self, data: &[u8], i: usize) -> Option<usize> {
        self.by_first[usize::from(data[i])]
            .iter()
            .copied()
            .find(|&k| data[i..].starts_with(&self.known[k]))
    }
}

enum Segment<'a> {
    Literal(&'a [u8]),
    Ref(u32),
}

struct Writer<'t> {
    out: Vec<u8>,
    table: &'t mut Table,
}

impl<'t> Writer<'t> {
    fn new(table: &'t mut Table) -> Self {
        Writer {
            out: Vec::new(),
            table,
        }
    }

    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn usize(&mut self, v: usize) {
        self.u64(v as u64);
    }
    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    fn instant(&mut self, t: Instant) {
        self.u64(t.as_micros());
    }
    fn duration(&mut self, d: Duration) {
        self.u64(d.as_secs());
        self.u32(d.subsec_nanos());
    }
    fn addr(&mut self, a: Ipv4Addr) {
        self.out.extend_from_slice(&a.octets());
    }

    /// A blob never searched for secrets (names, fixed-size values).
    fn plain(&mut self, b: &[u8]) {
        self.u8(0);
        self.len(b.len());
        self.out.extend_from_slice(b);
    }

    /// A blob in which every known secret is written as a reference.
    fn bytes(&mut self, b: &[u8]) {
        let mut segs: Vec<Segment<'_>> = Vec::new();
        let (mut i, mut lit) = (0, 0);
        while i < b.len() {
            match self.table.match_at(b, i) {
                Some(k) => {
                    if lit < i {
                        segs.push(Segment::Literal(&b[lit..i]));
                    }
                    segs.push(Segment::Ref(self.table.id_of_known(k)));
                    i += self.table.known[k].len();
                    lit = i;
                }
                None => i += 1,
            }
        }
        if segs.is_empty() {
            self.plain(b);
            return;
        }
        if lit < b.len() {
            segs.push(Segment::Literal(&b[lit..]));
        }
        self.segments(&segs);
    }

    /// A blob that is a secret as a whole.
    fn secret(&mut self, b: &[u8]) {
        if b.is_empty() {
            self.plain(b);
            return;
        }
        let id = self.table.explicit(b);
        self.segments(&[Segment::Ref(id)]);
    }

    fn segments(&mut self, segs: &[Segment<'_>]) {
        self.u8(1);
        self.len(segs.len());
        for s in segs {
            match s {
                Segment::Literal(l) => {
                    self.u8(0);
                    self.len(l.len());
                    self.out.extend_from_slice(l);
                }
                Segment::Ref(id) => {
                    self.u8(1);
                    self.u32(*id);
                }
            }
        }
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// A named field: name, then the value's length and bytes.
    fn field(&mut self, count: &mut u16, name: &str, f: impl FnOnce(&mut Writer<'_>)) {
        let mut sub = Writer::new(self.table);
        f(&mut sub);
        let value = sub.out;
        self.plain(name.as_bytes());
        self.len(value.len());
        self.out.extend_from_slice(&value);
        *count = count.saturating_add(1);
    }

    /// Fields written by `f`, preceded by their count.
    fn fields(&mut self, f: impl FnOnce(&mut Writer<'_>, &mut u16)) {
        let at = self.out.len();
        self.u16(0);
        let mut n = 0u16;
        f(self, &mut n);
        self.out[at..at + 2].copy_from_slice(&n.to_be_bytes());
    }

    fn record(&mut self, tag: u8, f: impl FnOnce(&mut Writer<'_>)) {
        let mut sub = Writer::new(self.table);
        f(&mut sub);
        let body = sub.out;
        self.u8(tag);
        self.len(body.len());
        self.out.extend_from_slice(&body);
    }
}

fn write_config(w: &mut Writer<'_>, c: &BootConfig) {
    // Destructured whole: a new field fails to compile here until the trace records it.
    let BootConfig {
        files,
        dhcp,
        sets,
        credentials,
        sip_port,
        unix_at_zero,
    } = c;
    let StageConfig {
        model,
        mac,
        serial,
        record,
        firmware_key,
        http,
        image_timeout,
        max_image,
        image_attempts,
        walk_rounds,
        backoff_initial,
        backoff_max,
        max_list_files,
        max_gets,
        max_gets_per_host,
        max_warnings,
        flash,
        script,
    } = files;
    let FlashConfig {
        chunk,
        trial_boots,
        retries,
    } = flash;
    w.fields(|w, n| {
        w.field(n, "files.model", |w| w.str(model));
        w.field(n, "files.mac", |w| w.plain(mac));
        w.field(n, "files.serial", |w| w.str(serial));
        w.field(n, "files.record", |w| w.str(&record.encode()));
        if let Some(k) = firmware_key {
            w.field(n, "files.firmware_key", |w| w.plain(&k.to_bytes()));
        }
        w.field(n, "files.http.max_head", |w| w.usize(http.max_head));
        w.field(n, "files.http.max_headers", |w| w.usize(http.max_headers));
        w.field(n, "files.http.max_interim", |w| w.usize(http.max_interim));
        w.field(n, "files.http.max_body", |w| w.usize(http.max_body));
        w.field(n, "files.http.max_chunk_line", |w| {
            w.usize(http.max_chunk_line);
        });
        w.field(n, "files.http.max_trailers", |w| w.usize(http.max_trailers));
        w.field(n, "files.http.timeout", |w| w.duration(http.timeout));
        w.field(n, "files.image_timeout", |w| w.duration(*image_timeout));
        w.field(n, "files.max_image", |w| w.usize(*max_image));
        w.field(n, "files.image_attempts", |w| w.u32(*image_attempts));
        w.field(n, "files.walk_rounds", |w| w.u32(*walk_rounds));
        w.field(n, "files.backoff_initial", |w| w.duration(*backoff_initial));
        w.field(n, "files.backoff_max", |w| w.duration(*backoff_max));
        w.field(n, "files.max_list_files", |w| w.usize(*max_list_files));
        w.field(n, "files.max_gets", |w| w.u32(*max_gets));
        w.field(n, "files.max_gets_per_host", |w| w.u32(*max_gets_per_host));
        w.field(n, "files.max_warnings", |w| w.u32(*max_warnings));
        w.field(n, "files.flash.chunk", |w| w.usize(*chunk));
        w.field(n, "files.flash.trial_boots", |w| w.u8(*trial_boots));
        w.field(n, "files.flash.retries", |w| w.u32(*retries));
        w.field(n, "files.script.max_handoffs", |w| {
            w.u8(script.max_handoffs);
        });
        w.field(n, "files.script.max_steps", |w| w.u32(script.max_steps));
        w.field(n, "files.script.max_file_bytes", |w| {
            w.usize(script.max_file_bytes);
        });
        w.field(n, "files.script.max_scan_bytes", |w| {
            w.u64(script.max_scan_bytes);
        });
        w.field(n, "files.script.max_warnings", |w| {
            w.usize(script.max_warnings);
        });
        w.field(n, "files.script.max_warning_bytes", |w| {
            w.usize(script.max_warning_bytes);
        });
        if let Some(d) = dhcp {
            w.field(n, "dhcp", |_| {});
            w.field(n, "dhcp.mac", |w| w.plain(&d.mac));
            w.field(n, "dhcp.host_name", |w| {
                w.opt(d.host_name.as_deref(), Writer::str);
            });
            w.field(n, "dhcp.vendor_class", |w| {
                w.opt(d.vendor_class.as_deref(), Writer::bytes);
            });
            w.field(n, "dhcp.client_id", |w| {
                w.opt(d.client_id.as_deref(), Writer::bytes);
            });
            w.field(n, "dhcp.parameter_request_list", |w| {
                w.bytes(&d.parameter_request_list);
            });
            w.field(n, "dhcp.max_message_size", |w| w.u16(d.max_message_size));
            w.field(n, "dhcp.sson", |w| w.u8(d.sson.get()));
            w.field(n, "dhcp.broadcast_flag", |w| w.bool(d.broadcast_flag));
            w.field(n, "dhcp.dhcpstd", |w| w.bool(d.dhcpstd));
            w.field(n, "dhcp.l2q", |w| {
                w.u8(match d.l2q {
                    phone_dhcp::client::L2q::Auto => 0,
                    phone_dhcp::client::L2q::On => 1,
                    phone_dhcp::client::L2q::Off => 2,
                });
            });
            w.field(n, "dhcp.l2qvlan", |w| w.u16(d.l2qvlan));
            w.field(n, "dhcp.vlantest", |w| w.u16(d.vlantest));
            w.field(n, "dhcp.probe_budget", |w| w.duration(d.probe_budget));
            w.field(n, "dhcp.reuse_time", |w| w.u16(d.reuse_time));
            w.field(n, "dhcp.router_check", |w| w.bool(d.router_check));
            w.field(n, "dhcp.request_retransmissions", |w| {
                w.u32(d.request_retransmissions);
            });
            w.field(n, "dhcp.reboot_retransmissions", |w| {
                w.u32(d.reboot_retransmissions);
            });
        }
        for (name, value) in sets {
            w.field(n, "set", |w| {
                w.str(name);
                if super::is_secret_name(name) {
                    w.secret(value.as_bytes());
                } else {
                    w.str(value);
                }
            });
        }
        if let Some((user, password)) = credentials {
            w.field(n, "credentials", |w| {
                w.str(user);
                w.secret(password.as_bytes());
            });
        }
        w.field(n, "sip_port", |w| w.u16(*sip_port));
        w.field(n, "unix_at_zero", |w| w.duration(*unix_at_zero));
    });
}

impl Writer<'_> {
    fn opt<T: ?Sized>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                f(self, v);
            }
        }
    }
}

fn write_record(w: &mut Writer<'_>, r: &Record) {
    let Record {
        lease_address,
        lease_terms,
        settings,
        trust_certs,
        identity,
        credentials,
        slots,
        craft,
    } = r;
    let Craft {
        static_address,
        sson,
        group,
    } = craft;
    w.fields(|w, n| {
        if let Some(a) = lease_address {
            w.field(n, "lease", |w| w.addr(*a));
        }
        if let Some(t) = lease_terms {
            w.field(n, "lease.terms", |w| w.bytes(&t.to_bytes()));
        }
        if let Some(s) = settings {
            w.field(n, "settings", |w| w.bytes(s));
        }
        for (name, pem) in trust_certs {
            w.field(n, "trust", |w| {
                w.str(name);
                w.bytes(pem);
            });
        }
        if let Some(Identity {
            key_pkcs8,
            certificate,
            ca,
        }) = identity
        {
            w.field(n, "identity", |w| {
                w.secret(key_pkcs8);
                w.bytes(certificate);
                w.len(ca.len());
                for c in ca {
                    w.bytes(c);
                }
            });
        }
        if let Some((user, password)) = credentials {
            w.field(n, "credentials", |w| {
                w.str(user);
                w.secret(password.as_bytes());
            });
        }
        if let Some(s) = slots {
            w.field(n, "slots", |w| w.str(&s.encode()));
        }
        if let Some(s) = static_address {
            w.field(n, "craft.static", |w| write_static(w, s));
        }
        if let Some(s) = sson {
            w.field(n, "craft.sson", |w| w.u8(*s));
        }
        if let Some(g) = group {
            w.field(n, "craft.group", |w| w.u16(*g));
        }
    });
}

fn write_static(w: &mut Writer<'_>, s: &StaticAddress) {
    for a in [s.address, s.mask, s.router, s.file_server] {
        w.addr(a);
    }
}

fn write_power_on(w: &mut Writer<'_>, p: &PowerOn) {
    w.instant(p.at);
    if p.made_identity {
        w.secret(&p.seed);
    } else {
        w.plain(&p.seed);
    }
    w.bool(p.faithful);
    w.bool(p.made_identity);
    write_config(w, &p.config);
    write_record(w, &p.record);
}

fn write_peer(w: &mut Writer<'_>, p: Peer) {
    match p {
        Peer::Dhcp(phone_dhcp::Link::Udp) => w.u8(0),
        Peer::Dhcp(phone_dhcp::Link::Arp) => w.u8(1),
        Peer::Files(files::Peer::Conn(c)) => {
            w.u8(2);
            w.u32(c);
        }
        Peer::Files(files::Peer::Flash) => w.u8(3),
        Peer::Scep(c) => {
            w.u8(4);
            w.u32(c);
        }
        Peer::Sip(i) => {
            w.u8(5);
            w.usize(i);
        }
        Peer::Dns(a) => {
            w.u8(7);
            w.addr(a);
        }
        Peer::Lldp => w.u8(6),
        Peer::Eapol(l) => {
            w.u8(8);
            w.out.extend_from_slice(&l.source);
            w.u8(u8::from(l.multicast));
        }
    }
}

fn write_craft(w: &mut Writer<'_>, c: &CraftCommand) {
    match c {
        CraftCommand::Address(None) => w.u8(0),
        CraftCommand::Address(Some(s)) => {
            w.u8(1);
            write_static(w, s);
        }
        CraftCommand::Sson(s) => {
            w.u8(2);
            w.u8(*s);
        }
        CraftCommand::Group(g) => {
            w.u8(3);
            w.u16(*g);
        }
        CraftCommand::View => w.u8(4),
        CraftCommand::Clear => w.u8(5),
        CraftCommand::Exit => w.u8(6),
    }
}

fn write_input(w: &mut Writer<'_>, i: &InputRecord) {
    let (kind, t) = match i {
        InputRecord::Timeout(t) => (0, t),
        InputRecord::Receive(t, ..) => (1, t),
        InputRecord::Completed(t, _) => (2, t),
        InputRecord::Closed(t, _) => (3, t),
        InputRecord::TransportFailed(t, _) => (4, t),
        InputRecord::Command(t, _) => (5, t),
    };
    w.u8(kind);
    w.instant(*t);
    match i {
        InputRecord::Timeout(_) => {}
        InputRecord::Receive(_, p, b) => {
            write_peer(w, *p);
            w.bytes(b);
        }
        InputRecord::Completed(_, p)
        | InputRecord::Closed(_, p)
        | InputRecord::TransportFailed(_, p) => write_peer(w, *p),
        InputRecord::Command(_, c) => match c {
            CommandRecord::Program => w.u8(0),
            CommandRecord::Craft(c) => {
                w.u8(1);
                write_craft(w, c);
            }
            CommandRecord::Entry { text, secret } => {
                w.u8(2);
                w.bool(*secret);
                if *secret {
                    w.secret(text.as_bytes());
                } else {
                    w.str(text);
                }
            }
        },
    }
}

fn write_tls(w: &mut Writer<'_>, t: &phone_http::Tls) {
    w.str(&t.server_name);
    w.bool(t.check_identity);
}

fn write_http(w: &mut Writer<'_>, h: &phone_http::Transmit) {
    w.u32(h.conn);
    match &h.action {
        phone_http::Action::Connect { host, port, tls } => {
            w.u8(0);
            w.str(host);
            w.u16(*port);
            w.opt(tls.as_ref(), write_tls);
        }
        phone_http::Action::StartTls(t) => {
            w.u8(1);
            write_tls(w, t);
        }
        phone_http::Action::Send(b) => {
            w.u8(2);
            w.bytes(b);
        }
        phone_http::Action::Close => w.u8(3),
    }
}

fn slot_code(s: Slot) -> u8 {
    match s {
        Slot::A => 0,
        Slot::B => 1,
    }
}

fn write_transmit(w: &mut Writer<'_>, t: &Transmit) {
    match t {
        Transmit::Dhcp(phone_dhcp::Transmit::Udp {
            payload,
            destination,
            source,
        }) => {
            w.u8(0);
            w.bytes(payload);
            w.addr(*destination);
            w.addr(*source);
        }
        Transmit::Dhcp(phone_dhcp::Transmit::Arp(a)) => {
            w.u8(1);
            w.u8(match a.kind {
                phone_dhcp::ArpKind::Probe => 0,
                phone_dhcp::ArpKind::Announce => 1,
                phone_dhcp::ArpKind::Request => 2,
            });
            w.out.extend_from_slice(&a.sender_mac);
            w.addr(a.sender_ip);
            w.addr(a.target_ip);
        }
        Transmit::Files(h) => {
            w.u8(2);
            write_http(w, h);
        }
        Transmit::Flash(op) => {
            w.u8(3);
            match op {
                FlashOp::Erase { slot, length } => {
                    w.u8(0);
                    w.u8(slot_code(*slot));
                    w.u64(*length);
                }
                FlashOp::Write { slot, offset, data } => {
                    w.u8(1);
                    w.u8(slot_code(*slot));
                    w.u64(*offset);
                    w.bytes(data);
                }
                FlashOp::Commit(r) => {
                    w.u8(2);
                    w.str(&r.encode());
                }
            }
        }
        Transmit::Scep(h) => {
            w.u8(4);
            write_http(w, h);
        }
        Transmit::Sip(s) => {
            w.u8(5);
            w.usize(s.controller);
            w.str(&s.target.host);
            w.u16(s.target.port);
            w.u8(match s.target.transport {
                phone_sip_reg::Transport::Udp => 0,
                phone_sip_reg::Transport::Tcp => 1,
                phone_sip_reg::Transport::Tls => 2,
            });
            w.bytes(&s.payload);
        }
        Transmit::Dns(d) => {
            w.u8(7);
            w.addr(d.server);
            w.bytes(&d.payload);
        }
        Transmit::Lldp(l) => {
            w.u8(6);
            w.bytes(&l.payload);
        }
        Transmit::Eapol(e) => {
            w.u8(8);
            w.out.extend_from_slice(&e.destination);
            w.bytes(&e.payload);
        }
    }
}

fn stage_code(s: Stage) -> u8 {
    match s {
        Stage::Network => 0,
        Stage::Files => 1,
        Stage::Certificate => 2,
        Stage::Registered => 3,
    }
}

const WARNING_KINDS: [WarningKind; 16] = [
    WarningKind::Setting,
    WarningKind::OperatorSetting,
    WarningKind::LeaseLost,
    WarningKind::AddressConflict,
    WarningKind::Dhcp,
    WarningKind::Files,
    WarningKind::SoftwareRejected,
    WarningKind::ScepStart,
    WarningKind::ScepRetry,
    WarningKind::ScepRejected,
    WarningKind::ScepFailed,
    WarningKind::IdentityNotStored,
    WarningKind::SipSetting,
    WarningKind::NoController,
    WarningKind::ControllerFailed,
    WarningKind::Dns,
];

fn write_event(w: &mut Writer<'_>, e: &EventRecord) {
    match e.kind {
        EventKind::Display(k) => {
            w.u8(0);
            let code = ScreenKind::ALL.iter().position(|x| *x == k).unwrap_or(0);
            w.u8(u8::try_from(code).unwrap_or(0));
        }
        EventKind::Configure => w.u8(1),
        EventKind::Deconfigure => w.u8(2),
        EventKind::Vlan => w.u8(3),
        EventKind::Reached(s) => {
            w.u8(4);
            w.u8(stage_code(s));
        }
        EventKind::RecordChanged => w.u8(5),
        EventKind::Installed => w.u8(6),
        EventKind::Restart => w.u8(7),
        EventKind::Registered => w.u8(8),
        EventKind::Warning(k) => {
            w.u8(9);
            let code = WARNING_KINDS.iter().position(|x| *x == k).unwrap_or(0);
            w.u8(u8::try_from(code).unwrap_or(0));
        }
        EventKind::View => w.u8(10),
        EventKind::Lldp => w.u8(11),
        EventKind::Dot1x => w.u8(12),
    }
    w.str(&e.text);
    w.str(&e.detail);
}

fn write_output(w: &mut Writer<'_>, o: &OutputRecord) {
    match o {
        OutputRecord::Transmit(t) => {
            w.u8(0);
            write_transmit(w, t);
        }
        OutputRecord::Event(e) => {
            w.u8(1);
            write_event(w, e);
        }
        OutputRecord::Timeout(t) => {
            w.u8(2);
            w.instant(*t);
        }
    }
}

fn limit_code(l: Option<LimitHit>) -> u8 {
    match l {
        None => 0,
        Some(LimitHit::Entries) => 1,
        Some(LimitHit::EntryBytes) => 2,
        Some(LimitHit::TotalBytes) => 3,
        Some(LimitHit::PowerOns) => 4,
    }
}

impl Trace {
    /// The trace file and its secrets file (TRACE.md).
    #[must_use]
    pub fn encode(&self) -> Encoded {
        let mut table = Table::new(&self.secrets);
        let mut w = Writer::new(&mut table);
        let mut entries = 0u64;
        for p in &self.power_ons {
            w.record(T_POWER_ON, |w| write_power_on(w, p));
            for e in &p.entries {
                entries += 1;
                match e {
                    Entry::Input(i) => w.record(T_INPUT, |w| write_input(w, i)),
                    Entry::Output(o) => w.record(T_OUTPUT, |w| write_output(w, o)),
                }
            }
        }
        w.record(T_END, |w| {
            w.len(self.power_ons.len());
            w.u64(entries);
            w.u8(limit_code(self.stopped));
        });
        let body = w.out;
        let secrets = (!table.used.is_empty()).then(|| encode_secrets(&table.used));
        let digest: [u8; 32] = secrets
            .as_deref()
            .map(|s| Sha256::digest(s).into())
            .unwrap_or([0; 32]);
        let mut empty = Table::new(&[]);
        let mut out = Writer::new(&mut empty);
        out.out.extend_from_slice(MAGIC);
        out.u8(VERSION);
        out.record(T_META, |w| {
            w.plain(self.producer.as_bytes());
            w.plain(self.rng.as_bytes());
            w.u8(u8::from(self.secrets_in_clear) | (u8::from(secrets.is_some()) << 1));
            w.out.extend_from_slice(&digest);
            w.len(table.used.len());
        });
        let mut trace = out.out;
        trace.extend_from_slice(&body);
        Encoded {
            trace,
            secrets,
            secrets_in_clear: self.secrets_in_clear,
        }
    }
}

fn encode_secrets(values: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(SECRETS_MAGIC);
    out.push(SECRETS_VERSION);
    out.extend_from_slice(
        &u32::try_from(values.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for v in values {
        out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(v);
    }
    out
}

/// Whether `config` comes back from the encoding with every field equal (compared through
/// `Debug`, which shows every field of every nested configuration, ours and other crates').
pub(super) fn config_round_trips(config: &BootConfig) -> bool {
    let mut table = Table::new(&[]);
    let mut w = Writer::new(&mut table);
    write_config(&mut w, config);
    let bytes = w.out;
    let used = table.used;
    let mut ctx = Ctx::new(Limits::default(), Some(&used));
    let mut r = Reader::new(&bytes, 0, &mut ctx);
    let Ok(mut back) = read_config(&mut r) else {
        return false;
    };
    if !r.at_end() {
        return false;
    }
    // An Ed25519 key's `Debug` shows its point in projective coordinates, which differ between
    // equal keys: compare its bytes, and the rest through `Debug`.
    let mut config = config.clone();
    let keys = (
        back.files.firmware_key.take().map(|k| k.to_bytes()),
        config.files.firmware_key.take().map(|k| k.to_bytes()),
    );
    keys.0 == keys.1 && alloc::format!("{back:?}") == alloc::format!("{config:?}")
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// What one decode shares across records: the bounds, the secrets, what was produced.
struct Ctx<'s> {
    limits: Limits,
    secrets: Option<&'s [Vec<u8>]>,
    unresolved: BTreeSet<u32>,
    produced: u64,
}

impl<'s> Ctx<'s> {
    fn new(limits: Limits, secrets: Option<&'s [Vec<u8>]>) -> Self {
        Ctx {
            limits,
            secrets,
            unresolved: BTreeSet::new(),
            produced: 0,
        }
    }
}

struct Reader<'a, 'c, 's> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the file (for errors).
    base: usize,
    ctx: &'c mut Ctx<'s>,
}

type Result<T> = core::result::Result<T, TraceError>;

impl<'a, 'c, 's> Reader<'a, 'c, 's> {
    fn new(buf: &'a [u8], base: usize, ctx: &'c mut Ctx<'s>) -> Self {
        Reader {
            buf,
            pos: 0,
            base,
            ctx,
        }
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn bad(&self, what: &'static str) -> TraceError {
        TraceError::Bad {
            what,
            offset: self.offset(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(TraceError::Truncated(self.base + self.buf.len()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn len(&mut self) -> Result<usize> {
        let n = self.u32()?;
        usize::try_from(n).map_err(|_| self.bad("length"))
    }
    fn usize(&mut self) -> Result<usize> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| self.bad("size"))
    }
    fn u32v(&mut self) -> Result<u32> {
        self.u32()
    }
    fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.bad("flag")),
        }
    }
    fn instant(&mut self) -> Result<Instant> {
        Ok(Instant::from_micros(self.u64()?))
    }
    fn duration(&mut self) -> Result<Duration> {
        let secs = self.u64()?;
        let nanos = self.u32()?;
        if nanos >= 1_000_000_000 {
            return Err(self.bad("duration"));
        }
        Ok(Duration::new(secs, nanos))
    }
    fn addr(&mut self) -> Result<Ipv4Addr> {
        Ok(Ipv4Addr::from(self.array::<4>()?))
    }

    /// Counts `n` produced bytes against the bounds.
    fn produce(&mut self, total: usize, n: usize) -> Result<()> {
        if total > self.ctx.limits.max_entry_bytes {
            return Err(TraceError::TooLarge {
                what: "value",
                offset: self.offset(),
            });
        }
        self.ctx.produced = self.ctx.produced.saturating_add(n as u64);
        if self.ctx.produced > self.ctx.limits.max_total_bytes {
            return Err(TraceError::TooLarge {
                what: "decoded trace",
                offset: self.offset(),
            });
        }
        Ok(())
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        match self.u8()? {
            0 => {
                let n = self.len()?;
                let b = self.take(n)?;
                self.produce(n, n)?;
                Ok(b.to_vec())
            }
            1 => {
                let count = self.len()?;
                // Every segment takes at least 5 bytes: a count past that is a lie.
                if count > (self.buf.len() - self.pos) / 5 {
                    return Err(TraceError::Truncated(self.base + self.buf.len()));
                }
                let mut out = Vec::new();
                for _ in 0..count {
                    match self.u8()? {
                        0 => {
                            let n = self.len()?;
                            let b = self.take(n)?;
                            self.produce(out.len() + n, n)?;
                            out.extend_from_slice(b);
                        }
                        1 => {
                            let id = self.u32()?;
                            let secrets = self.ctx.secrets;
                            match secrets {
                                Some(s) => {
                                    let v = usize::try_from(id)
                                        .ok()
                                        .and_then(|i| i.checked_sub(1))
                                        .and_then(|i| s.get(i))
                                        .ok_or_else(|| self.bad("secret reference"))?;
                                    self.produce(out.len() + v.len(), v.len())?;
                                    out.extend_from_slice(v);
                                }
                                None => {
                                    if id == 0 {
                                        return Err(self.bad("secret reference"));
                                    }
                                    let p = alloc::format!("<secret#{id}>");
                                    self.produce(out.len() + p.len(), p.len())?;
                                    out.extend_from_slice(p.as_bytes());
                                    self.ctx.unresolved.insert(id);
                                }
                            }
                        }
                        _ => return Err(self.bad("segment")),
                    }
                }
                Ok(out)
            }
            _ => Err(self.bad("blob form")),
        }
    }

    fn string(&mut self) -> Result<String> {
        let at = self.offset();
        String::from_utf8(self.bytes()?).map_err(|_| TraceError::Bad {
            what: "UTF-8 text",
            offset: at,
        })
    }

    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => f(self).map(Some),
            _ => Err(self.bad("option")),
        }
    }

    /// A sub-reader over the next `n` bytes.
    fn sub<T>(
        &mut self,
        n: usize,
        f: impl FnOnce(&mut Reader<'a, '_, 's>) -> Result<T>,
    ) -> Result<T> {
        let base = self.offset();
        let buf = self.take(n)?;
        let mut r = Reader::new(buf, base, self.ctx);
        let v = f(&mut r)?;
        if !r.at_end() {
            return Err(r.bad("trailing bytes in a value"));
        }
        Ok(v)
    }

    /// Named fields: `f(name, reader)` for each.
    fn fields(
        &mut self,
        mut f: impl FnMut(&str, &mut Reader<'a, '_, 's>) -> Result<()>,
    ) -> Result<()> {
        let n = self.u16()?;
        for _ in 0..n {
            let at = self.offset();
            let name = self.string()?;
            if name.len() > 64 {
                return Err(TraceError::TooLarge {
                    what: "field name",
                    offset: at,
                });
            }
            let len = self.len()?;
            self.sub(len, |r| f(&name, r))?;
        }
        Ok(())
    }
}

fn read_config(r: &mut Reader<'_, '_, '_>) -> Result<BootConfig> {
    let mut c = BootConfig::new(StageConfig::new(
        "",
        [0; 6],
        "",
        BootRecord::factory(SlotImage::of("-", b"")),
    ));
    c.files.firmware_key = None;
    r.fields(|name, r| {
        let f = &mut c.files;
        match name {
            "files.model" => f.model = r.string()?,
            "files.mac" => f.mac = fixed(r)?,
            "files.serial" => f.serial = r.string()?,
            "files.record" => f.record = boot_record(r)?,
            "files.firmware_key" => {
                let b: [u8; 32] = fixed(r)?;
                f.firmware_key =
                    Some(FirmwareKey::from_bytes(&b).map_err(|_| r.bad("firmware key"))?);
            }
            "files.http.max_head" => f.http.max_head = r.usize()?,
            "files.http.max_headers" => f.http.max_headers = r.usize()?,
            "files.http.max_interim" => f.http.max_interim = r.usize()?,
            "files.http.max_body" => f.http.max_body = r.usize()?,
            "files.http.max_chunk_line" => f.http.max_chunk_line = r.usize()?,
            "files.http.max_trailers" => f.http.max_trailers = r.usize()?,
            "files.http.timeout" => f.http.timeout = r.duration()?,
            "files.image_timeout" => f.image_timeout = r.duration()?,
            "files.max_image" => f.max_image = r.usize()?,
            "files.image_attempts" => f.image_attempts = r.u32v()?,
            "files.walk_rounds" => f.walk_rounds = r.u32v()?,
            "files.backoff_initial" => f.backoff_initial = r.duration()?,
            "files.backoff_max" => f.backoff_max = r.duration()?,
            "files.max_list_files" => f.max_list_files = r.usize()?,
            "files.max_gets" => f.max_gets = r.u32v()?,
            "files.max_gets_per_host" => f.max_gets_per_host = r.u32v()?,
            "files.max_warnings" => f.max_warnings = r.u32v()?,
            "files.flash.chunk" => f.flash.chunk = r.usize()?,
            "files.flash.trial_boots" => f.flash.trial_boots = r.u8()?,
            "files.flash.retries" => f.flash.retries = r.u32v()?,
            "files.script.max_handoffs" => f.script.max_handoffs = r.u8()?,
            "files.script.max_steps" => f.script.max_steps = r.u32v()?,
            "files.script.max_file_bytes" => f.script.max_file_bytes = r.usize()?,
            "files.script.max_scan_bytes" => f.script.max_scan_bytes = r.u64()?,
            "files.script.max_warnings" => f.script.max_warnings = r.usize()?,
            "files.script.max_warning_bytes" => f.script.max_warning_bytes = r.usize()?,
            "dhcp" => c.dhcp = Some(phone_dhcp::Config::for_mac([0; 6])),
            "set" => {
                let n = r.string()?;
                let v = r.string()?;
                if c.sets.len() >= 1024 {
                    return Err(r.bad("too many sets"));
                }
                c.sets.push((n, v));
            }
            "credentials" => {
                let u = r.string()?;
                let p = r.string()?;
                c.credentials = Some((u, p));
            }
            "sip_port" => c.sip_port = r.u16()?,
            "unix_at_zero" => c.unix_at_zero = r.duration()?,
            other => {
                let Some(field) = other.strip_prefix("dhcp.") else {
                    return Err(TraceError::UnknownField(other.into()));
                };
                let d = c
                    .dhcp
                    .as_mut()
                    .ok_or_else(|| r.bad("dhcp field before dhcp"))?;
                match field {
                    "mac" => d.mac = fixed(r)?,
                    "host_name" => d.host_name = r.opt(Reader::string)?,
                    "vendor_class" => d.vendor_class = r.opt(Reader::bytes)?,
                    "client_id" => d.client_id = r.opt(Reader::bytes)?,
                    "parameter_request_list" => d.parameter_request_list = r.bytes()?,
                    "max_message_size" => d.max_message_size = r.u16()?,
                    "sson" => {
                        d.sson = phone_dhcp::SsonCode::new(r.u8()?).ok_or_else(|| r.bad("SSON"))?;
                    }
                    "broadcast_flag" => d.broadcast_flag = r.bool()?,
                    "dhcpstd" => d.dhcpstd = r.bool()?,
                    "l2q" => {
                        d.l2q = phone_dhcp::client::L2q::from_value(r.u8()?)
                            .ok_or_else(|| r.bad("L2Q"))?;
                    }
                    "l2qvlan" => d.l2qvlan = r.u16()?,
                    "vlantest" => d.vlantest = r.u16()?,
                    "probe_budget" => d.probe_budget = r.duration()?,
                    "reuse_time" => d.reuse_time = r.u16()?,
                    "router_check" => d.router_check = r.bool()?,
                    "request_retransmissions" => d.request_retransmissions = r.u32v()?,
                    "reboot_retransmissions" => d.reboot_retransmissions = r.u32v()?,
                    _ => return Err(TraceError::UnknownField(other.into())),
                }
            }
        }
        Ok(())
    })?;
    Ok(c)
}

fn fixed<const N: usize>(r: &mut Reader<'_, '_, '_>) -> Result<[u8; N]> {
    let b = r.bytes()?;
    <[u8; N]>::try_from(b.as_slice()).map_err(|_| r.bad("fixed-size value"))
}

fn boot_record(r: &mut Reader<'_, '_, '_>) -> Result<BootRecord> {
    let s = r.string()?;
    BootRecord::decode(&s).map_err(|_| r.bad("slot record"))
}

fn read_static(r: &mut Reader<'_, '_, '_>) -> Result<StaticAddress> {
    Ok(StaticAddress {
        address: r.addr()?,
        mask: r.addr()?,
        router: r.addr()?,
        file_server: r.addr()?,
    })
}

fn read_record(r: &mut Reader<'_, '_, '_>) -> Result<Record> {
    let mut rec = Record::default();
    r.fields(|name, r| {
        match name {
            "lease" => rec.lease_address = Some(r.addr()?),
            "lease.terms" => {
                let b = r.bytes()?;
                rec.lease_terms =
                    Some(LeaseTerms::from_bytes(&b).map_err(|_| r.bad("lease terms"))?);
            }
            "settings" => rec.settings = Some(r.bytes()?),
            "trust" => {
                if rec.trust_certs.len() >= 1024 {
                    return Err(r.bad("too many trusted certificates"));
                }
                let n = r.string()?;
                let p = r.bytes()?;
                rec.trust_certs.push((n, p));
            }
            "identity" => {
                let key_pkcs8 = r.bytes()?;
                let certificate = r.bytes()?;
                let n = r.len()?;
                if n > 64 {
                    return Err(r.bad("CA count"));
                }
                let mut ca = Vec::new();
                for _ in 0..n {
                    ca.push(r.bytes()?);
                }
                rec.identity = Some(Identity {
                    key_pkcs8,
                    certificate,
                    ca,
                });
            }
            "credentials" => {
                let u = r.string()?;
                let p = r.string()?;
                rec.credentials = Some((u, p));
            }
            "slots" => rec.slots = Some(boot_record(r)?),
            "craft.static" => rec.craft.static_address = Some(read_static(r)?),
            "craft.sson" => rec.craft.sson = Some(r.u8()?),
            "craft.group" => rec.craft.group = Some(r.u16()?),
            other => return Err(TraceError::UnknownField(other.into())),
        }
        Ok(())
    })?;
    Ok(rec)
}

fn read_power_on(r: &mut Reader<'_, '_, '_>) -> Result<PowerOn> {
    let at = r.instant()?;
    let seed = r.bytes()?;
    if seed.len() > 1024 {
        return Err(r.bad("seed"));
    }
    let faithful = r.bool()?;
    let made_identity = r.bool()?;
    let config = read_config(r)?;
    let record = read_record(r)?;
    Ok(PowerOn {
        at,
        seed,
        config,
        record,
        faithful,
        made_identity,
        entries: Vec::new(),
    })
}

fn read_peer(r: &mut Reader<'_, '_, '_>) -> Result<Peer> {
    Ok(match r.u8()? {
        0 => Peer::Dhcp(phone_dhcp::Link::Udp),
        1 => Peer::Dhcp(phone_dhcp::Link::Arp),
        2 => Peer::Files(files::Peer::Conn(r.u32()?)),
        3 => Peer::Files(files::Peer::Flash),
        4 => Peer::Scep(r.u32()?),
        5 => Peer::Sip(r.usize()?),
        7 => Peer::Dns(r.addr()?),
        6 => Peer::Lldp,
        8 => Peer::Eapol(phone_dot1x::Link {
            source: r.array::<6>()?,
            multicast: match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(r.bad("EAPOL peer")),
            },
        }),
        _ => return Err(r.bad("peer")),
    })
}

fn read_input(r: &mut Reader<'_, '_, '_>) -> Result<InputRecord> {
    let kind = r.u8()?;
    let t = r.instant()?;
    Ok(match kind {
        0 => InputRecord::Timeout(t),
        1 => {
            let p = read_peer(r)?;
            InputRecord::Receive(t, p, r.bytes()?)
        }
        2 => InputRecord::Completed(t, read_peer(r)?),
        3 => InputRecord::Closed(t, read_peer(r)?),
        4 => InputRecord::TransportFailed(t, read_peer(r)?),
        5 => InputRecord::Command(
            t,
            match r.u8()? {
                0 => CommandRecord::Program,
                1 => CommandRecord::Craft(match r.u8()? {
                    0 => CraftCommand::Address(None),
                    1 => CraftCommand::Address(Some(read_static(r)?)),
                    2 => CraftCommand::Sson(r.u8()?),
                    3 => CraftCommand::Group(r.u16()?),
                    4 => CraftCommand::View,
                    5 => CraftCommand::Clear,
                    6 => CraftCommand::Exit,
                    _ => return Err(r.bad("craft command")),
                }),
                2 => {
                    let secret = r.bool()?;
                    CommandRecord::Entry {
                        secret,
                        text: r.string()?,
                    }
                }
                _ => return Err(r.bad("command")),
            },
        ),
        _ => return Err(r.bad("input kind")),
    })
}

fn read_tls(r: &mut Reader<'_, '_, '_>) -> Result<phone_http::Tls> {
    Ok(phone_http::Tls {
        server_name: r.string()?,
        check_identity: r.bool()?,
    })
}

fn read_http(r: &mut Reader<'_, '_, '_>) -> Result<phone_http::Transmit> {
    let conn = r.u32()?;
    let action = match r.u8()? {
        0 => phone_http::Action::Connect {
            host: r.string()?,
            port: r.u16()?,
            tls: r.opt(read_tls)?,
        },
        1 => phone_http::Action::StartTls(read_tls(r)?),
        2 => phone_http::Action::Send(r.bytes()?),
        3 => phone_http::Action::Close,
        _ => return Err(r.bad("HTTP action")),
    };
    Ok(phone_http::Transmit { conn, action })
}

fn read_slot(r: &mut Reader<'_, '_, '_>) -> Result<Slot> {
    match r.u8()? {
        0 => Ok(Slot::A),
        1 => Ok(Slot::B),
        _ => Err(r.bad("slot")),
    }
}

fn read_transmit(r: &mut Reader<'_, '_, '_>) -> Result<Transmit> {
    Ok(match r.u8()? {
        0 => Transmit::Dhcp(phone_dhcp::Transmit::Udp {
            payload: r.bytes()?,
            destination: r.addr()?,
            source: r.addr()?,
        }),
        1 => {
            let kind = match r.u8()? {
                0 => phone_dhcp::ArpKind::Probe,
                1 => phone_dhcp::ArpKind::Announce,
                2 => phone_dhcp::ArpKind::Request,
                _ => return Err(r.bad("ARP kind")),
            };
            Transmit::Dhcp(phone_dhcp::Transmit::Arp(phone_dhcp::ArpPacket {
                kind,
                sender_mac: r.array()?,
                sender_ip: r.addr()?,
                target_ip: r.addr()?,
            }))
        }
        2 => Transmit::Files(read_http(r)?),
        3 => Transmit::Flash(match r.u8()? {
            0 => FlashOp::Erase {
                slot: read_slot(r)?,
                length: r.u64()?,
            },
            1 => FlashOp::Write {
                slot: read_slot(r)?,
                offset: r.u64()?,
                data: r.bytes()?,
            },
            2 => FlashOp::Commit(boot_record(r)?),
            _ => return Err(r.bad("flash operation")),
        }),
        4 => Transmit::Scep(read_http(r)?),
        5 => {
            let controller = r.usize()?;
            let host = r.string()?;
            let port = r.u16()?;
            let transport = match r.u8()? {
                0 => phone_sip_reg::Transport::Udp,
                1 => phone_sip_reg::Transport::Tcp,
                2 => phone_sip_reg::Transport::Tls,
                _ => return Err(r.bad("SIP transport")),
            };
            Transmit::Sip(phone_sip_reg::Transmit {
                controller,
                target: phone_sip_reg::Controller {
                    host,
                    port,
                    transport,
                },
                payload: r.bytes()?,
            })
        }
        7 => Transmit::Dns(phone_dns::Transmit {
            server: r.addr()?,
            payload: r.bytes()?,
        }),
        6 => Transmit::Lldp(phone_lldp::Transmit {
            payload: r.bytes()?,
        }),
        8 => Transmit::Eapol(phone_dot1x::Transmit {
            destination: r.array::<6>()?,
            payload: r.bytes()?,
        }),
        _ => return Err(r.bad("transmit")),
    })
}

fn read_event(r: &mut Reader<'_, '_, '_>) -> Result<EventRecord> {
    let kind = match r.u8()? {
        0 => {
            let code = r.u8()?;
            EventKind::Display(
                *ScreenKind::ALL
                    .get(usize::from(code))
                    .ok_or_else(|| r.bad("screen kind"))?,
            )
        }
        1 => EventKind::Configure,
        2 => EventKind::Deconfigure,
        3 => EventKind::Vlan,
        4 => EventKind::Reached(match r.u8()? {
            0 => Stage::Network,
            1 => Stage::Files,
            2 => Stage::Certificate,
            3 => Stage::Registered,
            _ => return Err(r.bad("stage")),
        }),
        5 => EventKind::RecordChanged,
        6 => EventKind::Installed,
        7 => EventKind::Restart,
        8 => EventKind::Registered,
        9 => {
            let code = r.u8()?;
            EventKind::Warning(
                *WARNING_KINDS
                    .get(usize::from(code))
                    .ok_or_else(|| r.bad("warning kind"))?,
            )
        }
        10 => EventKind::View,
        11 => EventKind::Lldp,
        12 => EventKind::Dot1x,
        _ => return Err(r.bad("event kind")),
    };
    Ok(EventRecord {
        kind,
        text: r.string()?,
        detail: r.string()?,
    })
}

fn read_output(r: &mut Reader<'_, '_, '_>) -> Result<OutputRecord> {
    Ok(match r.u8()? {
        0 => OutputRecord::Transmit(read_transmit(r)?),
        1 => OutputRecord::Event(read_event(r)?),
        2 => OutputRecord::Timeout(r.instant()?),
        _ => return Err(r.bad("output kind")),
    })
}

fn decode_secrets(bytes: &[u8], limits: &Limits) -> Result<Vec<Vec<u8>>> {
    let mut ctx = Ctx::new(*limits, None);
    let mut r = Reader::new(bytes, 0, &mut ctx);
    let bad = TraceError::BadSecrets;
    if r.take(4).map_err(|_| bad("cut short"))? != SECRETS_MAGIC {
        return Err(bad("bad magic"));
    }
    if r.u8().map_err(|_| bad("cut short"))? != SECRETS_VERSION {
        return Err(bad("unknown version"));
    }
    let n = r.len().map_err(|_| bad("cut short"))?;
    if n > limits.max_secrets {
        return Err(bad("too many secrets"));
    }
    let mut out = Vec::new();
    for _ in 0..n {
        let len = r.len().map_err(|_| bad("cut short"))?;
        if len > limits.max_secret_bytes {
            return Err(bad("secret too large"));
        }
        out.push(r.take(len).map_err(|_| bad("cut short"))?.to_vec());
    }
    if !r.at_end() {
        return Err(bad("trailing bytes"));
    }
    Ok(out)
}

fn limit_of(code: u8) -> Option<Option<LimitHit>> {
    Some(match code {
        0 => None,
        1 => Some(LimitHit::Entries),
        2 => Some(LimitHit::EntryBytes),
        3 => Some(LimitHit::TotalBytes),
        4 => Some(LimitHit::PowerOns),
        _ => return None,
    })
}

impl Trace {
    /// Reads a trace file with the default [`Limits`]; `secrets` is its secrets file. Without
    /// it every secret reads `<secret#n>` and [`Trace::unresolved`] lists them (enough for the
    /// timeline, not for replay).
    ///
    /// # Errors
    /// [`TraceError`] for anything but a complete, well-formed trace within the limits, or a
    /// secrets file that is not the trace's own.
    pub fn decode(trace: &[u8], secrets: Option<&[u8]>) -> Result<Trace> {
        Trace::decode_with(trace, secrets, &Limits::default())
    }

    /// [`Trace::decode`] with other bounds.
    ///
    /// # Errors
    /// As [`Trace::decode`].
    pub fn decode_with(bytes: &[u8], secrets: Option<&[u8]>, limits: &Limits) -> Result<Trace> {
        if bytes.len() as u64 > limits.max_total_bytes {
            return Err(TraceError::TooLarge {
                what: "trace file",
                offset: 0,
            });
        }
        if bytes.len() < HEAD || &bytes[..4] != MAGIC {
            return Err(if bytes.len() < 4 {
                TraceError::Truncated(bytes.len())
            } else {
                TraceError::BadMagic
            });
        }
        if bytes[4] != VERSION {
            return Err(TraceError::Version(bytes[4]));
        }
        let table = secrets.map(|s| decode_secrets(s, limits)).transpose()?;
        let mut ctx = Ctx::new(*limits, table.as_deref());
        let mut trace = Trace::with_limits(*limits);
        let mut pos = HEAD;
        let mut first = true;
        let mut ended = false;
        while pos < bytes.len() {
            if ended {
                return Err(TraceError::Trailing(bytes.len() - pos));
            }
            let at = pos;
            if bytes.len() - pos < FRAME {
                return Err(TraceError::Truncated(bytes.len()));
            }
            let tag = bytes[pos];
            let len = u32::from_be_bytes([
                bytes[pos + 1],
                bytes[pos + 2],
                bytes[pos + 3],
                bytes[pos + 4],
            ]);
            let len = usize::try_from(len).map_err(|_| TraceError::TooLarge {
                what: "record",
                offset: at,
            })?;
            if len > limits.max_entry_bytes {
                return Err(TraceError::TooLarge {
                    what: "record",
                    offset: at,
                });
            }
            let body_at = pos + FRAME;
            let body = bytes
                .get(body_at..body_at.saturating_add(len))
                .ok_or(TraceError::Truncated(bytes.len()))?;
            pos = body_at + len;
            let mut r = Reader::new(body, body_at, &mut ctx);
            if first != (tag == T_META) {
                return Err(TraceError::Tag { tag, offset: at });
            }
            first = false;
            match tag {
                T_META => {
                    trace.producer = r.string()?;
                    trace.rng = r.string()?;
                    if trace.producer.len() > 256 || trace.rng.len() > 256 {
                        return Err(TraceError::TooLarge {
                            what: "name",
                            offset: at,
                        });
                    }
                    let flags = r.u8()?;
                    if flags > 3 {
                        return Err(r.bad("flags"));
                    }
                    trace.secrets_in_clear = flags & 1 != 0;
                    let digest: [u8; 32] = r.array()?;
                    let _count = r.len()?;
                    if let Some(s) = secrets
                        && (flags & 2 == 0 || <[u8; 32]>::from(Sha256::digest(s)) != digest)
                    {
                        return Err(TraceError::SecretsMismatch);
                    }
                }
                T_POWER_ON => {
                    if trace.power_ons.len() >= limits.max_power_ons {
                        return Err(TraceError::TooLarge {
                            what: "power-on count",
                            offset: at,
                        });
                    }
                    let p = read_power_on(&mut r)?;
                    trace.power_ons.push(p);
                }
                T_INPUT | T_OUTPUT => {
                    if trace.entries >= limits.max_entries {
                        return Err(TraceError::TooLarge {
                            what: "entry count",
                            offset: at,
                        });
                    }
                    let e = if tag == T_INPUT {
                        Entry::Input(read_input(&mut r)?)
                    } else {
                        Entry::Output(read_output(&mut r)?)
                    };
                    let p = trace
                        .power_ons
                        .last_mut()
                        .ok_or(TraceError::Tag { tag, offset: at })?;
                    p.entries.push(e);
                    trace.entries += 1;
                }
                T_END => {
                    let n = r.len()?;
                    let entries = r.u64()?;
                    let stopped = limit_of(r.u8()?).ok_or_else(|| r.bad("limit"))?;
                    if n != trace.power_ons.len() || entries != trace.entries {
                        return Err(TraceError::BadEnd);
                    }
                    trace.stopped = stopped;
                    ended = true;
                }
                _ => return Err(TraceError::Tag { tag, offset: at }),
            }
            if !r.at_end() {
                return Err(r.bad("trailing bytes in a record"));
            }
        }
        if !ended {
            return Err(TraceError::NoEnd);
        }
        trace.bytes = bytes.len() as u64;
        trace.unresolved = ctx.unresolved.into_iter().collect();
        if let Some(t) = table {
            trace.secrets = t;
        }
        Ok(trace)
    }
}
