//! The timeline: one self-contained SVG of a trace (no script, no external resource).
//!
//! Read from the trace alone (no secrets needed): the stages as bars per power-on (network
//! from power-on to `Reached(Network)`, files to `Reached(Files)`, software from the image
//! download to the restart, certificate to `Reached(Certificate)`, registration to
//! `Reached(Registered)`); DHCP messages from the DHCP transmits and receives (decoded with
//! `phone_dhcp`); HTTP requests and SCEP operations from the file and SCEP connections
//! (request line from the `Send`, status line and bytes from the `Receive`s, failure from
//! `TransportFailed` or a status of 400 and above); the flash from its operations; REGISTERs
//! and their answers from the SIP transmits and receives; warnings; the display line. Retries
//! (a DHCP or SIP retransmission, a request repeated after a failure) and failures are red.
//! Every mark carries a `<title>` with its details (hover in a browser).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use phone_sansio::Instant;

use super::describe::{self, first_line};
use super::{
    CommandRecord, Entry, EventKind, InputRecord, OutputRecord, ScreenKind, Trace, stage_name,
};
use crate::boot::{Peer, Stage, Transmit};
use crate::files;
use crate::flash::FlashOp;

const WIDTH: f64 = 1600.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 30.0;
const ROW: f64 = 22.0;
const MAX_ROWS: usize = 14;
const CHAR_W: f64 = 6.3;

/// How a mark is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Ok,
    /// A notice (a SIP challenge, a settings warning): amber.
    Note,
    /// A retry or a failure: red.
    Bad,
    /// Minor (ARP, a close): grey.
    Minor,
}

impl Tone {
    fn color(self) -> &'static str {
        match self {
            Tone::Ok => "#2f6f9f",
            Tone::Note => "#d98c00",
            Tone::Bad => "#d62728",
            Tone::Minor => "#9a9a9a",
        }
    }
    fn class(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Note => "note",
            Tone::Bad => "bad",
            Tone::Minor => "minor",
        }
    }
}

/// One thing drawn in a lane: a tick (`end == start`) or a bar, with a label and a tooltip.
#[derive(Debug, Clone)]
struct Mark {
    start: Instant,
    end: Instant,
    label: String,
    detail: String,
    tone: Tone,
    kind: &'static str,
}

/// The lanes, top to bottom.
const LANES: [&str; 8] = [
    "display", "DHCP", "HTTP", "flash", "SCEP", "SIP", "warnings", "events",
];

#[derive(Debug, Clone)]
struct StageBar {
    stage: &'static str,
    start: Instant,
    end: Instant,
    power_on: usize,
}

#[derive(Debug, Default)]
struct Model {
    lanes: BTreeMap<&'static str, Vec<Mark>>,
    stages: Vec<StageBar>,
    power_ons: Vec<Instant>,
    start: Option<Instant>,
    end: Instant,
    /// When the last power-on registered: the picture ends there (what follows is the phone
    /// at work, not its boot).
    registered_at: Option<Instant>,
}

impl Model {
    fn mark(&mut self, lane: &'static str, m: Mark) {
        self.see(m.end);
        let marks = self.lanes.entry(lane).or_default();
        // A minor mark repeated (ARP probes): one mark, `×n`.
        if m.tone == Tone::Minor
            && let Some(last) = marks.last_mut()
            && last.tone == Tone::Minor
            && last.kind == m.kind
            && (last.label == m.label || last.label.starts_with(&format!("{} ×", m.label)))
        {
            let n = last
                .label
                .rsplit_once(" ×")
                .and_then(|(_, n)| n.parse::<u32>().ok())
                .unwrap_or(1);
            last.label = format!("{} ×{}", m.label, n + 1);
            last.end = m.end;
            last.detail.push('\n');
            last.detail.push_str(&m.detail);
            return;
        }
        marks.push(m);
    }
    fn see(&mut self, t: Instant) {
        if t != Instant::MAX && t > self.end {
            self.end = t;
        }
    }
}

/// An HTTP exchange on one connection (a file GET or a SCEP operation).
#[derive(Debug)]
struct Exchange {
    start: Instant,
    scheme: &'static str,
    host: String,
    port: u16,
    request: Option<String>,
    status: Option<String>,
    bytes: u64,
    failed: bool,
}

impl Exchange {
    fn target(&self) -> &str {
        self.request
            .as_deref()
            .and_then(|r| r.split(' ').nth(1))
            .unwrap_or("")
    }

    fn uri(&self) -> String {
        let t = self.target();
        if t.starts_with("http://") || t.starts_with("https://") {
            return t.into();
        }
        format!("{}://{}:{}{}", self.scheme, self.host, self.port, t)
    }

    fn code(&self) -> Option<u16> {
        self.status
            .as_deref()
            .and_then(|s| s.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
    }
}

fn bytes(n: u64) -> String {
    if n >= 10 * 1024 {
        format!("{} KB", n / 1024)
    } else {
        format!("{n} B")
    }
}

fn secs(d: core::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{}.{:02} s", ms / 1000, (ms % 1000) / 10)
    }
}

/// The SCEP operation of a request line (`operation=GetCACaps`, or a POST's PKIOperation).
fn scep_operation(request: &str) -> String {
    request
        .split(['?', '&', ' '])
        .find_map(|p| p.strip_prefix("operation="))
        .map_or_else(|| "SCEP".into(), String::from)
}

/// A SIP request and what became of it.
#[derive(Debug)]
struct SipTx {
    start: Instant,
    request: String,
    sent: u32,
    provisional: Option<String>,
}

/// The CSeq number of a SIP message.
fn cseq(msg: &[u8]) -> String {
    String::from_utf8_lossy(&msg[..msg.len().min(4096)])
        .split("\r\n")
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case("CSeq")
                .then(|| v.split_whitespace().next().unwrap_or("").to_string())
        })
        .unwrap_or_default()
}

fn close_sip(m: &mut Model, tx: &SipTx, now: Instant, status: Option<&str>, end: End) {
    let code: Option<u16> = status
        .and_then(|r| r.split(' ').next())
        .and_then(|c| c.parse().ok());
    let (outcome, tone) = match (status, end) {
        (Some(st), _) => (
            st.to_string(),
            match code {
                Some(200..=299) => Tone::Ok,
                Some(401 | 407) => Tone::Note,
                _ => Tone::Bad,
            },
        ),
        (None, End::Failed) => ("transport failed".into(), Tone::Bad),
        (None, End::Open) => ("open when the trace ends".into(), Tone::Minor),
        (None, End::Closed) => ("no answer".into(), Tone::Bad),
    };
    let mut label = format!("{} → {outcome}", tx.request);
    let tone = if tx.sent > 1 {
        label.push_str(&format!(" (sent {} times)", tx.sent));
        Tone::Bad
    } else {
        tone
    };
    let detail = format!(
        "{}\n{}{}\n{} → {} ({})",
        tx.request,
        tx.provisional
            .as_deref()
            .map(|p| format!("provisional: {p}\n"))
            .unwrap_or_default(),
        status.unwrap_or(&outcome),
        describe::instant(tx.start),
        describe::instant(now),
        secs(now.saturating_duration_since(tx.start))
    );
    m.mark(
        "SIP",
        Mark {
            start: tx.start,
            end: now,
            label,
            detail,
            tone,
            kind: "sip",
        },
    );
}

/// Per power-on state of the walk.
#[derive(Default)]
struct Walk {
    http: BTreeMap<(bool, u32), Exchange>,
    failed_uris: Vec<String>,
    last_dhcp_out: Option<(String, u32)>,
    dhcp_answered: bool,
    /// Open SIP transactions by (controller, CSeq number).
    sip: BTreeMap<(usize, String), SipTx>,
    flash: Option<(Instant, u64, u32, bool)>,
    display: Option<(Instant, ScreenKind, String, String)>,
    stage: Option<(&'static str, Instant)>,
    /// The power-on, from 1.
    power_on: usize,
}

/// How an exchange or a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Closed (by either side).
    Closed,
    /// The transport failed.
    Failed,
    /// Still open when the trace ends.
    Open,
}

fn close_exchange(m: &mut Model, w: &mut Walk, scep: bool, conn: u32, now: Instant, end: End) {
    let Some(mut x) = w.http.remove(&(scep, conn)) else {
        return;
    };
    x.failed |= end == End::Failed;
    let code = x.code();
    let open = end == End::Open && x.status.is_none();
    let bad = !open && (x.failed || code.is_none_or(|c| c >= 400));
    let uri = x.uri();
    let retry = w.failed_uris.contains(&uri);
    if bad {
        w.failed_uris.push(uri.clone());
    }
    let outcome = match (&x.status, x.failed) {
        (Some(_), _) => format!(
            "{} {}",
            code.map_or("?".into(), |c| c.to_string()),
            bytes(x.bytes)
        ),
        (None, true) => "failed".into(),
        (None, false) if open => "open when the trace ends".into(),
        (None, false) => "no answer".into(),
    };
    let method = x
        .request
        .as_deref()
        .and_then(|r| r.split(' ').next())
        .unwrap_or("connect")
        .to_string();
    let (lane, label) = if scep {
        let op = x
            .request
            .as_deref()
            .map_or_else(|| "SCEP".into(), scep_operation);
        ("SCEP", format!("{op} → {outcome}"))
    } else {
        ("HTTP", format!("{method} {uri} → {outcome}"))
    };
    let label = if retry {
        format!("{label} (retry)")
    } else {
        label
    };
    let detail = format!(
        "{method} {uri}\nstatus: {}\nbytes received: {}\n{} → {} ({})",
        x.status.as_deref().unwrap_or("none"),
        x.bytes,
        describe::instant(x.start),
        describe::instant(now),
        secs(now.saturating_duration_since(x.start))
    );
    m.mark(
        lane,
        Mark {
            start: x.start,
            end: now,
            label,
            detail,
            tone: if bad || retry {
                Tone::Bad
            } else if open {
                Tone::Minor
            } else {
                Tone::Ok
            },
            kind: if scep { "scep" } else { "http" },
        },
    );
}

fn set_stage(m: &mut Model, w: &mut Walk, stage: Option<&'static str>, now: Instant, n: usize) {
    if let Some((s, start)) = w.stage.take() {
        m.stages.push(StageBar {
            stage: s,
            start,
            end: now,
            power_on: n,
        });
    }
    w.stage = stage.map(|s| (s, now));
}

fn close_display(m: &mut Model, w: &mut Walk, now: Instant) {
    if let Some((start, _, first, last)) = w.display.take() {
        let label = if first == last {
            first.clone()
        } else {
            format!("{first} … {last}")
        };
        m.mark(
            "display",
            Mark {
                start,
                end: now,
                label,
                detail: format!("{first}\n… {last}\nfrom {}", describe::instant(start)),
                tone: Tone::Ok,
                kind: "display",
            },
        );
    }
}

fn input(m: &mut Model, w: &mut Walk, i: &InputRecord, now: Instant) {
    match i {
        InputRecord::Receive(_, Peer::Dhcp(phone_dhcp::Link::Udp), b) => {
            let (label, tone) = match describe::dhcp(b) {
                Some((name, xid)) => {
                    let tone = if name == "DHCPNAK" {
                        Tone::Bad
                    } else {
                        Tone::Ok
                    };
                    (format!("← {name} {xid:#x}"), tone)
                }
                None => (format!("← {} bytes", b.len()), Tone::Minor),
            };
            w.dhcp_answered = true;
            m.mark(
                "DHCP",
                tick(now, label, describe::describe_input(i), tone, "dhcp"),
            );
        }
        InputRecord::Receive(_, Peer::Dhcp(phone_dhcp::Link::Arp), _) => {
            m.mark(
                "DHCP",
                tick(
                    now,
                    "← ARP".into(),
                    describe::describe_input(i),
                    Tone::Minor,
                    "arp",
                ),
            );
        }
        InputRecord::Receive(_, Peer::Files(files::Peer::Conn(c)), b)
        | InputRecord::Receive(_, Peer::Scep(c), b) => {
            let scep = matches!(i, InputRecord::Receive(_, Peer::Scep(_), _));
            if let Some(x) = w.http.get_mut(&(scep, *c)) {
                if x.status.is_none() {
                    x.status = first_line(b)
                        .filter(|l| l.starts_with("HTTP/"))
                        .map(String::from);
                }
                x.bytes += b.len() as u64;
            }
        }
        InputRecord::Closed(_, Peer::Files(files::Peer::Conn(c))) => {
            close_exchange(m, w, false, *c, now, End::Closed);
        }
        InputRecord::Closed(_, Peer::Scep(c)) => close_exchange(m, w, true, *c, now, End::Closed),
        InputRecord::TransportFailed(_, Peer::Files(files::Peer::Conn(c))) => {
            close_exchange(m, w, false, *c, now, End::Failed);
        }
        InputRecord::TransportFailed(_, Peer::Scep(c)) => {
            close_exchange(m, w, true, *c, now, End::Failed);
        }
        InputRecord::TransportFailed(_, Peer::Files(files::Peer::Flash)) => {
            if let Some(f) = w.flash.as_mut() {
                f.3 = true;
            }
            m.mark(
                "flash",
                tick(
                    now,
                    "flash failed".into(),
                    describe::describe_input(i),
                    Tone::Bad,
                    "flash",
                ),
            );
        }
        InputRecord::Receive(_, Peer::Sip(c), b) => {
            let status = first_line(b).and_then(|l| l.strip_prefix("SIP/2.0 "));
            let key = (*c, cseq(b));
            match (status, w.sip.remove(&key)) {
                (Some(st), Some(mut tx)) if st.starts_with('1') => {
                    tx.provisional = Some(st.into());
                    w.sip.insert(key, tx);
                }
                (Some(st), Some(tx)) => close_sip(m, &tx, now, Some(st), End::Closed),
                (other, tx) => {
                    if let Some(tx) = tx {
                        w.sip.insert(key, tx);
                    }
                    let label = match other {
                        Some(st) => format!("← {st}"),
                        None => format!("← {} bytes", b.len()),
                    };
                    m.mark(
                        "SIP",
                        tick(now, label, describe::describe_input(i), Tone::Minor, "sip"),
                    );
                }
            }
        }
        InputRecord::TransportFailed(_, Peer::Sip(c)) | InputRecord::Closed(_, Peer::Sip(c)) => {
            let keys: Vec<(usize, String)> =
                w.sip.keys().filter(|(k, _)| k == c).cloned().collect();
            for k in keys {
                if let Some(tx) = w.sip.remove(&k) {
                    close_sip(m, &tx, now, None, End::Failed);
                }
            }
            if matches!(i, InputRecord::TransportFailed(..)) {
                m.mark(
                    "SIP",
                    tick(
                        now,
                        format!("controller {c}: transport failed"),
                        describe::describe_input(i),
                        Tone::Bad,
                        "sip",
                    ),
                );
            }
        }
        InputRecord::Command(_, c) => {
            let label = match c {
                CommandRecord::Program => "Program softkey".into(),
                CommandRecord::Craft(c) => format!("craft {c:?}"),
                CommandRecord::Entry { secret: true, .. } => "password typed".into(),
                CommandRecord::Entry { text, .. } => format!("typed {text:?}"),
            };
            m.mark(
                "events",
                tick(now, label, describe::describe_input(i), Tone::Ok, "command"),
            );
        }
        _ => {}
    }
}

fn tick(t: Instant, label: String, detail: String, tone: Tone, kind: &'static str) -> Mark {
    Mark {
        start: t,
        end: t,
        label,
        detail,
        tone,
        kind,
    }
}

fn transmit(m: &mut Model, w: &mut Walk, now: Instant, t: &Transmit) {
    let detail = describe::transmit(t);
    match t {
        Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. }) => {
            let d = describe::dhcp(payload);
            let retry = d.is_some() && w.last_dhcp_out == d && !w.dhcp_answered;
            let label = match &d {
                Some((name, xid)) => format!("→ {name} {xid:#x}"),
                None => format!("→ {} bytes", payload.len()),
            };
            w.last_dhcp_out = d;
            w.dhcp_answered = false;
            let (label, tone) = if retry {
                (format!("{label} (retry)"), Tone::Bad)
            } else {
                (label, Tone::Ok)
            };
            m.mark("DHCP", tick(now, label, detail, tone, "dhcp"));
        }
        Transmit::Dhcp(phone_dhcp::Transmit::Arp(a)) => {
            m.mark(
                "DHCP",
                tick(
                    now,
                    format!("{} {}", a.kind, a.target_ip),
                    detail,
                    Tone::Minor,
                    "arp",
                ),
            );
        }
        Transmit::Eapol(_) => {
            // 802.1X frames share the network lane like LLDP's.
            m.mark(
                "DHCP",
                tick(now, "EAPOL".into(), detail, Tone::Minor, "eapol"),
            );
        }
        Transmit::Lldp(_) => {
            // Stage 1 frames share the network lane, repeated ones as one mark `×n`.
            m.mark(
                "DHCP",
                tick(now, "LLDPDU".into(), detail, Tone::Minor, "lldp"),
            );
        }
        Transmit::Dns(_) => {
            // Host names are looked up on the network lane, repeated queries as one mark.
            m.mark("DHCP", tick(now, "DNS".into(), detail, Tone::Minor, "dns"));
        }
        Transmit::Files(h) | Transmit::Scep(h) => {
            let scep = matches!(t, Transmit::Scep(_));
            match &h.action {
                phone_http::Action::Connect { host, port, tls } => {
                    close_exchange(m, w, scep, h.conn, now, End::Closed);
                    w.http.insert(
                        (scep, h.conn),
                        Exchange {
                            start: now,
                            scheme: if tls.is_some() { "https" } else { "http" },
                            host: host.clone(),
                            port: *port,
                            request: None,
                            status: None,
                            bytes: 0,
                            failed: false,
                        },
                    );
                }
                phone_http::Action::StartTls(_) => {
                    if let Some(x) = w.http.get_mut(&(scep, h.conn)) {
                        x.scheme = "https";
                        // A proxy's answer to CONNECT is not the response.
                        x.status = None;
                        x.bytes = 0;
                    }
                }
                phone_http::Action::Send(b) => {
                    let mut software = None;
                    if let Some(x) = w.http.get_mut(&(scep, h.conn))
                        && let Some(l) = first_line(b)
                        && !l.starts_with("CONNECT ")
                    {
                        x.request = Some(l.into());
                        // The software stage starts with the image's signature file (`APP.sig`,
                        // FIRMWARE.md), fetched only when APPNAME names other software.
                        if !scep && x.target().ends_with(".sig") {
                            software = Some(x.start);
                        }
                    }
                    if let Some(at) = software
                        && w.stage.is_some_and(|(s, _)| s == "files")
                    {
                        let n = w.power_on;
                        set_stage(m, w, Some("software"), at, n);
                    }
                }
                phone_http::Action::Close => close_exchange(m, w, scep, h.conn, now, End::Closed),
            }
        }
        Transmit::Flash(op) => match op {
            FlashOp::Erase { .. } => w.flash = Some((now, 0, 0, false)),
            FlashOp::Write { data, .. } => {
                if let Some(f) = w.flash.as_mut() {
                    f.1 += data.len() as u64;
                    f.2 += 1;
                }
            }
            FlashOp::Commit(r) => {
                if let Some((start, written, writes, failed)) = w.flash.take() {
                    m.mark(
                        "flash",
                        Mark {
                            start,
                            end: now,
                            label: format!(
                                "flash slot {}: {} in {writes} writes, commit",
                                r.active,
                                bytes(written)
                            ),
                            detail,
                            tone: if failed { Tone::Bad } else { Tone::Ok },
                            kind: "flash",
                        },
                    );
                }
            }
        },
        Transmit::Sip(s) => {
            let line = first_line(&s.payload).unwrap_or("");
            let method = line.split(' ').next().unwrap_or("SIP");
            if line.starts_with("SIP/2.0") {
                return;
            }
            let n = cseq(&s.payload);
            let request = format!("{method} to {} (CSeq {n})", s.target.host);
            w.sip
                .entry((s.controller, n))
                .and_modify(|tx| tx.sent += 1)
                .or_insert(SipTx {
                    start: now,
                    request,
                    sent: 1,
                    provisional: None,
                });
        }
    }
}

fn event(m: &mut Model, w: &mut Walk, now: Instant, e: &super::EventRecord, n: usize) {
    match e.kind {
        EventKind::Display(kind) => {
            match w.display.as_mut() {
                Some((_, k, _, last))
                    if *k == kind
                        && matches!(
                            kind,
                            ScreenKind::Dhcp
                                | ScreenKind::Scep
                                | ScreenKind::FileReceived
                                | ScreenKind::FileObtained
                                | ScreenKind::FileSaving
                        ) =>
                {
                    last.clone_from(&e.text);
                }
                // Screens shown at the same instant: one mark, `A › B › C`.
                Some((start, _, _, last)) if *start == now && *last == e.text => {}
                Some((start, k, first, last)) if *start == now => {
                    if first == last {
                        first.push_str(" › ");
                        first.push_str(&e.text);
                        last.clone_from(first);
                    } else {
                        *first = format!("{last} › {}", e.text);
                        last.clone_from(first);
                    }
                    *k = kind;
                }
                _ => {
                    close_display(m, w, now);
                    w.display = Some((now, kind, e.text.clone(), e.text.clone()));
                }
            }
            if kind == ScreenKind::FileReceived && w.stage.is_some_and(|(s, _)| s == "files") {
                set_stage(m, w, Some("software"), now, n);
            }
        }
        EventKind::Reached(s) => {
            let next = match s {
                Stage::Network => Some("files"),
                Stage::Files => Some("certificate"),
                Stage::Certificate => Some("registration"),
                Stage::Registered => {
                    m.registered_at = Some(now);
                    None
                }
            };
            set_stage(m, w, next, now, n);
            m.mark(
                "events",
                tick(
                    now,
                    format!("reached {}", stage_name(s)),
                    e.detail.clone(),
                    Tone::Ok,
                    "reached",
                ),
            );
        }
        EventKind::Restart => {
            set_stage(m, w, None, now, n);
            m.mark(
                "events",
                tick(
                    now,
                    "restart".into(),
                    e.detail.clone(),
                    Tone::Note,
                    "restart",
                ),
            );
        }
        EventKind::Configure
        | EventKind::Deconfigure
        | EventKind::Vlan
        | EventKind::Lldp
        | EventKind::Dot1x
        | EventKind::Installed
        | EventKind::Registered => {
            let tone = if e.kind == EventKind::Deconfigure {
                Tone::Bad
            } else {
                Tone::Ok
            };
            m.mark(
                "events",
                tick(now, e.text.clone(), e.detail.clone(), tone, "event"),
            );
        }
        EventKind::Warning(k) => {
            let tone = if k.is_failure() {
                Tone::Bad
            } else {
                Tone::Note
            };
            m.mark(
                "warnings",
                tick(now, cut(&e.text, 90), e.text.clone(), tone, "warning"),
            );
        }
        EventKind::RecordChanged | EventKind::View => {}
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.into();
    }
    let mut out: String = s.chars().take(n).collect();
    out.push('…');
    out
}

fn model(trace: &Trace) -> Model {
    let mut m = Model::default();
    // A caller may start each power-on's clock again (a new process, a new driver): such a
    // power-on is drawn right after the one before.
    let mut shift = core::time::Duration::ZERO;
    for (n, p) in trace.power_ons.iter().enumerate() {
        let n = n + 1;
        if n > 1 && p.at.saturating_add(shift) < m.end {
            shift += m.end.saturating_duration_since(p.at.saturating_add(shift));
        }
        let at = p.at.saturating_add(shift);
        m.power_ons.push(at);
        m.registered_at = None;
        m.start.get_or_insert(at);
        m.see(at);
        let mut w = Walk {
            power_on: n,
            ..Walk::default()
        };
        set_stage(&mut m, &mut w, Some("network"), at, n);
        let mut now = at;
        for e in &p.entries {
            match e {
                Entry::Input(i) => {
                    now = i.now().saturating_add(shift).max(now);
                    if !matches!(i, InputRecord::Timeout(_)) {
                        m.see(now);
                    }
                    input(&mut m, &mut w, i, now);
                }
                Entry::Output(OutputRecord::Transmit(t)) => {
                    m.see(now);
                    transmit(&mut m, &mut w, now, t);
                }
                Entry::Output(OutputRecord::Event(e)) => {
                    m.see(now);
                    event(&mut m, &mut w, now, e, n);
                }
                Entry::Output(OutputRecord::Timeout(_)) => {}
            }
        }
        // What is still open ends with the power-on's last activity.
        let end = m.end;
        let open: Vec<(bool, u32)> = w.http.keys().copied().collect();
        for (scep, c) in open {
            close_exchange(&mut m, &mut w, scep, c, end, End::Open);
        }
        for tx in core::mem::take(&mut w.sip).into_values() {
            close_sip(&mut m, &tx, end, None, End::Open);
        }
        close_display(&mut m, &mut w, end);
        set_stage(&mut m, &mut w, None, end, n);
    }
    m
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c if c.is_control() && c != '\n' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// A tick step for the axis: the smallest "nice" step giving at least `min_px` between ticks.
fn step(span_us: f64, plot: f64, min_px: f64) -> f64 {
    const NICE: [f64; 22] = [
        1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 3e7, 6e7, 1.2e8, 3e8,
        6e8, 1.2e9, 3.6e9, 7.2e9,
    ];
    // Past the nice steps (a trace of days, or hostile instants): whatever gives the spacing.
    NICE.iter()
        .copied()
        .find(|s| s / span_us * plot >= min_px)
        .unwrap_or(span_us * min_px / plot)
}

fn tick_label(us: f64) -> String {
    if us >= 1e6 {
        let s = us / 1e6;
        if (s - round(s)).abs() < 1e-9 {
            format!("{s:.0} s")
        } else {
            format!("{s:.1} s")
        }
    } else {
        format!("{:.0} ms", us / 1e3)
    }
}

fn round(x: f64) -> f64 {
    // core has no f64::round in no_std.
    let t = x as i64 as f64;
    if x - t >= 0.5 { t + 1.0 } else { t }
}

const STAGE_COLORS: [(&str, &str); 5] = [
    ("network", "#4e79a7"),
    ("files", "#59a14f"),
    ("software", "#e8a33d"),
    ("certificate", "#9c6fb0"),
    ("registration", "#3f9f9a"),
];

fn stage_color(s: &str) -> &'static str {
    STAGE_COLORS
        .iter()
        .find(|(n, _)| *n == s)
        .map_or("#888", |(_, c)| c)
}

/// The trace as one self-contained SVG document: stages as bars on a time axis, every DHCP
/// message, HTTP request, SCEP operation, flash and SIP message as marks (failures and
/// retries red), warnings, and the display line at each moment.
#[must_use]
pub fn timeline(trace: &Trace) -> String {
    let mut m = model(trace);
    let t0 = m.start.unwrap_or(Instant::ZERO);
    // The picture ends when the boot registered (plus a margin), or at the last activity.
    let boot_end = m.registered_at.unwrap_or(m.end);
    let margin = boot_end.saturating_duration_since(t0) / 25;
    let end = (boot_end + margin).min(m.end.max(boot_end));
    let mut later = 0usize;
    for marks in m.lanes.values_mut() {
        let before = marks.len();
        marks.retain(|mk| mk.start <= end);
        later += before - marks.len();
        for mk in marks.iter_mut() {
            mk.end = mk.end.min(end);
        }
    }
    for b in &mut m.stages {
        b.end = b.end.min(end);
    }
    let span = (end.saturating_duration_since(t0).as_micros() as f64).max(1000.0);
    let plot = WIDTH - LEFT - RIGHT;
    let x = |t: Instant| LEFT + t.saturating_duration_since(t0).as_micros() as f64 / span * plot;

    // Lay out every lane: each mark in the first row where its label fits.
    struct Placed<'a> {
        mark: &'a Mark,
        row: usize,
        x0: f64,
        x1: f64,
        anchor_end: bool,
    }
    let mut lanes: Vec<(&str, Vec<Placed<'_>>, usize)> = Vec::new();
    for lane in LANES {
        let marks = m.lanes.get(lane).map(Vec::as_slice).unwrap_or(&[]);
        let mut rows: Vec<f64> = Vec::new();
        let mut placed = Vec::new();
        for mk in marks {
            let (x0, x1) = (x(mk.start), x(mk.end).max(x(mk.start) + 2.0));
            let w = mk.label.chars().count() as f64 * CHAR_W + 8.0;
            let anchor_end = x0 + w > WIDTH - 4.0;
            let (lo, hi) = if anchor_end {
                ((x1 - w).min(x0), x1)
            } else {
                (x0, (x0 + w).max(x1))
            };
            let row = match rows.iter().position(|&r| r <= lo) {
                Some(r) => r,
                None if rows.len() < MAX_ROWS => {
                    rows.push(0.0);
                    rows.len() - 1
                }
                None => rows
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i),
            };
            rows[row] = hi + 6.0;
            placed.push(Placed {
                mark: mk,
                row,
                x0,
                x1,
                anchor_end,
            });
        }
        lanes.push((lane, placed, rows.len().max(1)));
    }

    let header = 96.0;
    let stage_h = 34.0;
    let lanes_h: f64 = lanes.iter().map(|(_, _, r)| *r as f64 * ROW + 14.0).sum();
    let height = header + 30.0 + stage_h + lanes_h + 40.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">
<style>
text {{ fill: #222; }}
.lane {{ font-weight: bold; fill: #444; font-size: 12px; }}
.axis {{ fill: #666; font-size: 10px; }}
.bad text, text.bad {{ fill: #b3141b; font-weight: bold; }}
.minor text {{ fill: #888; }}
.stage text {{ fill: #fff; font-weight: bold; }}
</style>
<rect width="100%" height="100%" fill="#fff"/>
"##
    );
    // Header: what, how long, each stage's duration per power-on.
    let total = boot_end.saturating_duration_since(t0);
    let _ = write!(
        s,
        r#"<text x="16" y="26" font-size="18" font-weight="bold">phone boot timeline</text>
<text x="16" y="46" class="axis">{} · {} power-on(s) · {} entries · {} from first power-on to {}{}{}</text>
"#,
        esc(&trace.producer),
        trace.power_ons.len(),
        trace.entry_count(),
        secs(total),
        if m.registered_at.is_some() {
            format!("registered ({later} later marks not drawn)")
        } else {
            "last activity (not registered)".into()
        },
        trace
            .stopped
            .map(|l| format!(" · recording stopped: {l}"))
            .unwrap_or_default(),
        if trace.unresolved.is_empty() {
            ""
        } else {
            " · secrets shown as references"
        }
    );
    // Per power-on: each stage's colour and duration.
    let mut y_sum = 64.0;
    for n in 1..=trace.power_ons.len() {
        if y_sum > header - 4.0 {
            break;
        }
        let head = format!("power-on {n}:");
        let _ = write!(s, r#"<text x="16" y="{y_sum:.0}">{head}</text>"#);
        let mut cx = 16.0 + head.chars().count() as f64 * CHAR_W + 10.0;
        for b in m.stages.iter().filter(|b| b.power_on == n) {
            let label = format!(
                "{} {}",
                b.stage,
                secs(b.end.saturating_duration_since(b.start))
            );
            let _ = write!(
                s,
                r#"<rect x="{cx:.1}" y="{:.0}" width="10" height="10" rx="2" fill="{}"/><text x="{:.1}" y="{y_sum:.0}">{}</text>"#,
                y_sum - 9.0,
                stage_color(b.stage),
                cx + 14.0,
                esc(&label)
            );
            cx += 14.0 + label.chars().count() as f64 * CHAR_W + 16.0;
        }
        s.push('\n');
        y_sum += 15.0;
    }

    // Axis with grid lines.
    let axis_y = header + 18.0;
    let st = step(span, plot, 90.0);
    let mut t = 0.0;
    let bottom = height - 30.0;
    // At most one tick per `min_px` of the plot, whatever the span.
    for _ in 0..64 {
        if t > span + 1.0 {
            break;
        }
        let gx = LEFT + t / span * plot;
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{:.0}" x2="{gx:.1}" y2="{bottom:.0}" stroke="#e6e6e6"/><text x="{gx:.1}" y="{axis_y:.0}" class="axis" text-anchor="middle">{}</text>"##,
            axis_y + 4.0,
            tick_label(t)
        );
        t += st;
    }

    // Power-on boundaries.
    for (i, p) in m.power_ons.iter().enumerate() {
        let px = x(*p);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{:.0}" x2="{px:.1}" y2="{bottom:.0}" stroke="#333" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.0}" font-weight="bold">power-on {}</text>"##,
            axis_y + 4.0,
            px + 3.0,
            axis_y + 16.0,
            i + 1
        );
    }

    // Stages.
    let sy = axis_y + 24.0;
    let _ = writeln!(
        s,
        r#"<text x="12" y="{:.0}" class="lane">stages</text>"#,
        sy + 15.0
    );
    for b in &m.stages {
        let (x0, x1) = (x(b.start), x(b.end).max(x(b.start) + 2.0));
        let w = x1 - x0;
        let label = format!(
            "{} {}",
            b.stage,
            secs(b.end.saturating_duration_since(b.start))
        );
        let fits = label.chars().count() as f64 * CHAR_W + 8.0 <= w;
        let _ = write!(
            s,
            r#"<g class="stage" data-stage="{}"><title>{} (power-on {}): {} → {}</title><rect x="{x0:.1}" y="{sy:.0}" width="{w:.1}" height="22" rx="3" fill="{}"/>"#,
            b.stage,
            b.stage,
            b.power_on,
            describe::instant(b.start),
            describe::instant(b.end),
            stage_color(b.stage)
        );
        if fits {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.0}">{}</text>"#,
                x0 + 4.0,
                sy + 15.0,
                esc(&label)
            );
        }
        s.push_str("</g>\n");
    }

    // Lanes.
    let mut ly = sy + stage_h;
    for (i, (lane, placed, rows)) in lanes.iter().enumerate() {
        let lh = *rows as f64 * ROW + 14.0;
        if i % 2 == 0 {
            let _ = writeln!(
                s,
                r##"<rect x="0" y="{ly:.0}" width="{WIDTH}" height="{lh:.0}" fill="#f6f7f9"/>"##
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="12" y="{:.0}" class="lane">{lane}</text>"#,
            ly + 18.0
        );
        for p in placed {
            let mk = p.mark;
            let ry = ly + 6.0 + p.row as f64 * ROW;
            let color = mk.tone.color();
            let _ = write!(
                s,
                r#"<g class="mark {} {}"><title>{}</title>"#,
                mk.kind,
                mk.tone.class(),
                esc(&mk.detail)
            );
            if mk.end > mk.start && p.x1 - p.x0 > 2.5 {
                let _ = write!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="6" rx="2" fill="{color}" fill-opacity="0.75"/>"#,
                    p.x0,
                    ry + 13.0,
                    p.x1 - p.x0
                );
            } else {
                let _ = write!(
                    s,
                    r#"<path d="M{:.1} {:.1} l4 7 l-8 0 z" fill="{color}"/>"#,
                    p.x0,
                    ry + 12.0
                );
            }
            let (tx, anchor) = if p.anchor_end {
                (p.x1, "end")
            } else {
                (p.x0, "start")
            };
            let _ = write!(
                s,
                r#"<text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}">{}</text></g>"#,
                ry + 10.0,
                esc(&mk.label)
            );
            s.push('\n');
        }
        ly += lh;
    }

    // Legend.
    let _ = write!(
        s,
        r##"<g font-size="11"><rect x="16" y="{:.0}" width="10" height="10" fill="#2f6f9f"/><text x="30" y="{:.0}">ok</text><rect x="60" y="{:.0}" width="10" height="10" fill="#d98c00"/><text x="74" y="{:.0}">notice (challenge, setting)</text><rect x="236" y="{:.0}" width="10" height="10" fill="#d62728"/><text x="250" y="{:.0}">failure or retry</text><text x="360" y="{:.0}" class="axis">▲ an instant, ▬ a span (request to close, first to last flash operation); hover a mark for details</text></g>"##,
        height - 22.0,
        height - 13.0,
        height - 22.0,
        height - 13.0,
        height - 22.0,
        height - 13.0,
        height - 13.0
    );
    s.push_str("</svg>\n");
    s
}
