//! Host names (spec/link.md §3, Decision 12): the boot's own stub resolver, a
//! [`phone_dns::Resolver`] over DNSSRVR (DHCP option 6, SSON or the settings file, Decision 6
//! precedence as the settings store keeps it) with DOMAIN (option 15) appended to dotless
//! names. Every host name the boot uses goes through it:
//!
//! - **File servers and SCEP** (HTTPSRVR/TLSSRVR, MYCERTURL, HTTPPROXY). When the file stage or
//!   the enrollment gives a `phone_http::Action::Connect` whose host is a name, the boot keeps
//!   that one transmit back, asks the resolver, and hands the `Connect` out with the address in
//!   `host` once the name resolved. The TLS `server_name` stays the name, so TLS verifies the
//!   name. Until then the stage is not polled (its later transmits are for the same connection).
//!   A name that does not resolve is reported to the stage as the connection's
//!   `TransportFailed`: it fails that server like an unreachable one (the stage goes on to the
//!   next server), with the resolver's [`Warning::Dns`] in the log.
//! - **SIP controllers.** Before the registration client is built, each named controller is
//!   expanded, in place, into its A records in the order the server returned them (same port
//!   and transport; repeats dropped, the first stays). A name that does not resolve drops that
//!   controller, with its [`Warning::Dns`]; when no controller is left, registration cannot
//!   start ([`Warning::NoController`], `Registration failed`). TLS to an expanded controller
//!   verifies the name it came from: [`Boot::controller_name`].
//!
//! The resolver is built at the first name and rebuilt when DNSSRVR or DOMAIN changed (a
//! settings file may set them); names still waiting are asked again of the new one. Its
//! datagrams are [`Transmit::Dns`] (UDP to port 53), answers come back on [`Peer::Dns`], and,
//! like every child, it is polled only when the caller polls the boot (commit on take).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr};

use phone_sansio::{Input, Machine, Output};
use phone_settings::Store;
use rand_core::{CryptoRng, SeedableRng};

use super::display::Screen;
use super::warning::Warning;
use super::{Boot, Peer, Polled, Step, Transmit};
use crate::files;

/// Where a name waits for its address.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// Asked, no answer yet.
    Waiting,
    /// Resolved: the addresses in the server's order.
    Addrs(Vec<Ipv4Addr>),
    /// Did not resolve (the warning was given).
    Failed,
}

/// A stage's `Connect` kept back until its host name resolved.
#[derive(Debug)]
pub(super) struct Parked {
    transmit: phone_http::Transmit,
    name: String,
    answer: Answer,
}

/// The boot's resolver and what waits for it.
pub(super) struct DnsPhase<R> {
    /// Built at the first name; `None` while every host is an address.
    resolver: Option<phone_dns::Resolver<R>>,
    /// The file stage's connect waiting for its name.
    files: Option<Parked>,
    /// The enrollment's connect waiting for its name.
    scep: Option<Parked>,
    /// The SIP configuration waiting for its controllers' names, and the answers so far.
    sip: Option<(phone_sip_reg::Config, Vec<(String, Answer)>)>,
    /// Each expanded controller and the name it came from.
    names: Vec<(phone_sip_reg::Controller, String)>,
}

impl<R> DnsPhase<R> {
    pub(super) fn new() -> Self {
        DnsPhase {
            resolver: None,
            files: None,
            scep: None,
            sip: None,
            names: Vec::new(),
        }
    }

    /// The file stage (re)starts: a connect kept back for an earlier one is void.
    pub(super) fn files_restarted(&mut self) {
        self.files = None;
    }

    /// Whether the file stage waits for a name (and is not polled).
    pub(super) fn files_waiting(&self) -> bool {
        self.files.is_some()
    }

    /// Whether the enrollment waits for a name (and is not polled).
    pub(super) fn scep_waiting(&self) -> bool {
        self.scep.is_some()
    }
}

impl<R: CryptoRng + SeedableRng> DnsPhase<R> {
    /// The resolver's deadline.
    pub(super) fn poll_timeout(&self) -> Option<phone_sansio::Instant> {
        self.resolver.as_ref().and_then(Machine::poll_timeout)
    }

    /// Time for the resolver.
    pub(super) fn timeout(&mut self, now: phone_sansio::Instant) {
        if let Some(r) = self.resolver.as_mut() {
            r.handle_input(Input::Timeout(now));
        }
    }

    /// A transport fact about a DNS server.
    pub(super) fn route(&mut self, input: Input<'_, Ipv4Addr, phone_dns::Command<'_>>) {
        if let Some(r) = self.resolver.as_mut() {
            r.handle_input(input);
        }
    }

    /// The resolver.
    pub(super) fn resolver(&self) -> Option<&phone_dns::Resolver<R>> {
        self.resolver.as_ref()
    }
}

/// Whether `host` needs the resolver (it is not an IPv4 or IPv6 address).
fn is_name(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_err()
}

/// DNSSRVR (its addresses in order; anything else in the list is skipped) and DOMAIN of `store`.
fn dns_settings(store: &Store) -> (Vec<Ipv4Addr>, String) {
    let servers = store
        .str("DNSSRVR")
        .unwrap_or("")
        .split(',')
        .filter_map(|s| s.trim().parse::<Ipv4Addr>().ok())
        .collect();
    let domain = store.str("DOMAIN").unwrap_or("").to_string();
    (servers, domain)
}

/// Where a resolved connect goes back to.
#[derive(Clone, Copy)]
enum Stage {
    Files,
    Scep,
}

impl<R: CryptoRng + SeedableRng> Boot<R> {
    /// The name a SIP controller address was expanded from (TLS to it verifies that name);
    /// `None` for a controller given by address.
    #[must_use]
    pub fn controller_name(&self, controller: &phone_sip_reg::Controller) -> Option<&str> {
        self.dns
            .names
            .iter()
            .find(|(c, _)| c == controller)
            .map(|(_, n)| n.as_str())
    }

    /// The stub resolver, once a name was asked.
    #[must_use]
    pub fn dns(&self) -> Option<&phone_dns::Resolver<R>> {
        self.dns.resolver()
    }

    /// Builds or rebuilds the resolver for the settings in force now (the file stage's while
    /// it runs: a settings file may have set DNSSRVR or DOMAIN); names still waiting are asked
    /// again of a new one.
    fn refresh_resolver(&mut self) {
        let store = match self.files.as_deref() {
            Some(f) => f.store(),
            None => &self.settings,
        };
        let (servers, domain) = dns_settings(store);
        let same = self
            .dns
            .resolver
            .as_ref()
            .is_some_and(|r| r.config().servers == servers && r.config().domain == domain);
        if same {
            return;
        }
        let config = phone_dns::Config::new(&servers, &domain);
        let mut r = phone_dns::Resolver::new(config, self.rng.fork(), self.now);
        let now = self.now;
        let mut waiting: Vec<&str> = Vec::new();
        for p in [self.dns.files.as_ref(), self.dns.scep.as_ref()]
            .into_iter()
            .flatten()
        {
            if p.answer == Answer::Waiting {
                waiting.push(&p.name);
            }
        }
        if let Some((_, answers)) = &self.dns.sip {
            for (name, a) in answers {
                if *a == Answer::Waiting {
                    waiting.push(name);
                }
            }
        }
        for name in waiting {
            r.handle_input(Input::Command(now, phone_dns::Command::Resolve { name }));
        }
        self.dns.resolver = Some(r);
    }

    /// Asks the resolver for `name` (its answer comes as an event, see `on_dns_event`).
    fn ask(&mut self, name: &str) {
        self.refresh_resolver();
        let now = self.now;
        if let Some(r) = self.dns.resolver.as_mut() {
            r.handle_input(Input::Command(now, phone_dns::Command::Resolve { name }));
        }
    }

    /// A stage's transmit on its way out: a `Connect` to a name is kept back and the name
    /// asked; anything else goes out as it is.
    fn connect_via_dns(&mut self, t: phone_http::Transmit, stage: Stage) -> Polled {
        let name = match &t.action {
            phone_http::Action::Connect { host, .. } if is_name(host) => host.clone(),
            _ => {
                return Polled::Transmit(match stage {
                    Stage::Files => Transmit::Files(t),
                    Stage::Scep => Transmit::Scep(t),
                });
            }
        };
        let parked = Parked {
            transmit: t,
            name: name.clone(),
            answer: Answer::Waiting,
        };
        match stage {
            Stage::Files => self.dns.files = Some(parked),
            Stage::Scep => self.dns.scep = Some(parked),
        }
        self.ask(&name);
        Polled::Handled
    }

    /// The file stage's transmit, through the resolver when it connects to a name.
    pub(super) fn files_transmit(&mut self, t: phone_http::Transmit) -> Polled {
        self.connect_via_dns(t, Stage::Files)
    }

    /// The enrollment's transmit, through the resolver when it connects to a name.
    pub(super) fn scep_transmit(&mut self, t: phone_http::Transmit) -> Polled {
        self.connect_via_dns(t, Stage::Scep)
    }

    /// A kept-back connect whose name has its answer: handed out with the address, or failed
    /// back to its stage.
    fn release(&mut self, stage: Stage) -> Polled {
        let slot = match stage {
            Stage::Files => &mut self.dns.files,
            Stage::Scep => &mut self.dns.scep,
        };
        if slot.as_ref().is_none_or(|p| p.answer == Answer::Waiting) {
            return Polled::Idle;
        }
        let Some(Parked {
            mut transmit,
            answer,
            ..
        }) = slot.take()
        else {
            return Polled::Idle;
        };
        let conn = transmit.conn;
        let now = self.now;
        match answer {
            Answer::Addrs(addrs) if !addrs.is_empty() => {
                if let phone_http::Action::Connect { host, .. } = &mut transmit.action {
                    *host = addrs[0].to_string();
                }
                Polled::Transmit(match stage {
                    Stage::Files => Transmit::Files(transmit),
                    Stage::Scep => Transmit::Scep(transmit),
                })
            }
            _ => {
                // Like an unreachable server: the connect could not be carried out.
                match stage {
                    Stage::Files => {
                        if let Some(f) = self.files.as_mut() {
                            f.handle_input(Input::TransportFailed(now, files::Peer::Conn(conn)));
                        }
                    }
                    Stage::Scep => {
                        if let Some(s) = self.scep.as_mut() {
                            s.enrollment.handle_input(Input::TransportFailed(now, conn));
                        }
                    }
                }
                Polled::Handled
            }
        }
    }

    /// The resolver's next datagram (taken now, as the caller polls) or event, and the
    /// connects whose names have their answers.
    pub(super) fn poll_dns(&mut self) -> Polled {
        // A stage that ended takes its kept-back connect with it.
        if self.files.is_none() {
            self.dns.files = None;
        }
        if self.scep.is_none() {
            self.dns.scep = None;
        }
        for stage in [Stage::Files, Stage::Scep] {
            match self.release(stage) {
                Polled::Idle => {}
                p => return p,
            }
        }
        let Some(r) = self.dns.resolver.as_mut() else {
            return Polled::Idle;
        };
        match r.poll_output() {
            Output::Transmit(t) => Polled::Transmit(Transmit::Dns(t)),
            Output::Event(e) => {
                self.on_dns_event(e);
                Polled::Handled
            }
            Output::Timeout(_) => Polled::Idle,
        }
    }

    fn on_dns_event(&mut self, e: phone_dns::Event) {
        let (name, answer) = match &e {
            phone_dns::Event::Resolved { name, addrs, .. } => {
                (name.clone(), Answer::Addrs(addrs.clone()))
            }
            phone_dns::Event::Failed { name, .. } => {
                self.warn(Warning::Dns(e.clone()));
                (name.clone(), Answer::Failed)
            }
            _ => {
                // A server that did not answer: a notice; the next server is asked.
                self.warn(Warning::Dns(e));
                return;
            }
        };
        for p in [self.dns.files.as_mut(), self.dns.scep.as_mut()]
            .into_iter()
            .flatten()
        {
            if p.answer == Answer::Waiting && p.name.eq_ignore_ascii_case(&name) {
                p.answer = answer.clone();
            }
        }
        let mut done = false;
        if let Some((_, answers)) = self.dns.sip.as_mut() {
            for (n, a) in answers.iter_mut() {
                if *a == Answer::Waiting && n.eq_ignore_ascii_case(&name) {
                    *a = answer.clone();
                }
            }
            done = answers.iter().all(|(_, a)| *a != Answer::Waiting);
        }
        if done && let Some((cfg, answers)) = self.dns.sip.take() {
            self.controllers_resolved(cfg, &answers);
        }
    }

    /// Before the SIP client is built: `Some(cfg)` when every controller is an address;
    /// otherwise the names are asked, `cfg` waits, and [`Boot::launch_sip`] is called again
    /// with the expanded list once every name has its answer.
    pub(super) fn expand_controllers(
        &mut self,
        cfg: phone_sip_reg::Config,
    ) -> Option<phone_sip_reg::Config> {
        let mut names: Vec<String> = Vec::new();
        for c in &cfg.controllers {
            if c.is_named() && !names.contains(&c.host) {
                names.push(c.host.clone());
            }
        }
        if names.is_empty() {
            return Some(cfg);
        }
        let answers = names.iter().map(|n| (n.clone(), Answer::Waiting)).collect();
        self.dns.sip = Some((cfg, answers));
        self.step = Step::Sip;
        for n in &names {
            self.ask(n);
        }
        None
    }

    /// Every controller name has its answer: expand in place and build the client.
    fn controllers_resolved(
        &mut self,
        mut cfg: phone_sip_reg::Config,
        answers: &[(String, Answer)],
    ) {
        let mut out: Vec<phone_sip_reg::Controller> = Vec::new();
        for c in cfg.controllers.drain(..) {
            if !c.is_named() {
                if !out.contains(&c) {
                    out.push(c);
                }
                continue;
            }
            let addrs = answers.iter().find_map(|(n, a)| match a {
                Answer::Addrs(addrs) if *n == c.host => Some(addrs.as_slice()),
                _ => None,
            });
            for a in addrs.unwrap_or(&[]) {
                let e = phone_sip_reg::Controller {
                    host: a.to_string(),
                    port: c.port,
                    transport: c.transport,
                };
                if !self.dns.names.iter().any(|(x, _)| *x == e) {
                    self.dns.names.push((e.clone(), c.host.clone()));
                }
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
        if out.is_empty() {
            self.warn(Warning::NoController);
            self.display(Screen::RegistrationFailed);
            self.step = Step::Halted;
            return;
        }
        cfg.controllers = out;
        self.launch_sip(cfg);
    }

    /// A transport fact for the resolver, from [`Peer::Dns`].
    pub(super) fn route_dns(
        &mut self,
        input: Input<'_, Peer, super::Command<'_>>,
        server: Ipv4Addr,
    ) {
        self.dns.route(super::fact(input, server));
    }
}

#[cfg(test)]
mod tests {
    //! Transcript tests: a boot whose file servers and controllers are names, against scripted
    //! DHCP (option 6 with a dead server first, option 15), DNS, HTTP and SIP servers.

    use alloc::collections::BTreeMap;
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec;
    use alloc::vec::Vec;
    use core::net::Ipv4Addr;
    use core::time::Duration;

    use phone_dhcp::{DhcpOption, Ipv4List, Link, Message, MessageType};
    use phone_http::Action;
    use phone_sansio::harness::{self, Logged, Reply};
    use phone_sansio::{Input, Instant, Machine, Output};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::super::record::Record;
    use super::super::{Boot, BootConfig, Event, Peer, Stage, Transmit, Warning};
    use crate::files::{self, StageConfig};
    use crate::flash::{BootRecord, SlotImage};

    type B = Boot<ChaCha20Rng>;

    const SRV: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const SIP2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const PHONE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const DEAD_DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);
    const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 54);
    const SSON: &str = "TLSSRVR=nowhere,files";
    const SETTINGS: &str = "SET SIPDOMAIN lab.test\n\
                            SET SIP_CONTROLLER_LIST \"missing:5060;transport=udp,sip:5060;transport=udp\"\n";

    /// The lab in virtual time: what each server answers.
    struct World {
        /// A records by fully qualified name (anything else: NXDOMAIN).
        zone: BTreeMap<&'static str, Vec<Ipv4Addr>>,
        sson: String,
        /// The settings file.
        settings: String,
        /// Every DNS query: (server, name asked).
        queries: Vec<(Ipv4Addr, String)>,
    }

    impl World {
        fn new() -> World {
            let mut zone = BTreeMap::new();
            zone.insert("files.lab.test", vec![SRV]);
            zone.insert("sip.lab.test", vec![SRV, SIP2, SRV]);
            World {
                zone,
                sson: SSON.to_string(),
                settings: SETTINGS.to_string(),
                queries: Vec::new(),
            }
        }

        fn dhcp(&self, req: &Message<'_>, kind: MessageType) -> Vec<u8> {
            let m = Message {
                op: 2,
                xid: req.xid,
                flags: req.flags,
                yiaddr: PHONE,
                chaddr: req.chaddr,
                options: vec![
                    DhcpOption::MessageType(kind),
                    DhcpOption::ServerIdentifier(SRV),
                    DhcpOption::LeaseTime(3600),
                    DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
                    DhcpOption::Router(Ipv4List::from_addrs(&[SRV]).unwrap()),
                    DhcpOption::DomainNameServer(Ipv4List::from_addrs(&[DEAD_DNS, DNS]).unwrap()),
                    DhcpOption::DomainName(b"lab.test".as_slice().into()),
                    DhcpOption::Sson {
                        code: 242,
                        value: self.sson.as_bytes().into(),
                    },
                ],
                ..Message::default()
            };
            let mut buf = [0u8; 576];
            let n = m.encode(&mut buf).unwrap();
            buf[..n].to_vec()
        }

        fn dns(&mut self, d: &phone_dns::Transmit) -> Vec<Reply<Peer>> {
            let q = phone_dns::Message::decode(&d.payload).unwrap();
            let name = q.questions[0].name.to_string();
            self.queries.push((d.server, name.clone()));
            if d.server == DEAD_DNS {
                return Vec::new();
            }
            let mut a = q.clone();
            a.flags.response = true;
            a.flags.recursion_available = true;
            let key = name.trim_end_matches('.').to_ascii_lowercase();
            match self.zone.get(key.as_str()) {
                Some(addrs) => {
                    for x in addrs {
                        let n = q.questions[0].name.clone();
                        a.answers.push(phone_dns::Record::a(n, 300, *x));
                    }
                }
                None => a.flags.rcode = phone_dns::Rcode::NxDomain,
            }
            vec![Reply::Receive {
                after: Duration::from_millis(2),
                peer: Peer::Dns(d.server),
                bytes: a.encode().unwrap(),
            }]
        }
    }

    fn header<'a>(msg: &'a str, name: &str) -> &'a str {
        msg.split("\r\n")
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
            .unwrap_or("")
    }

    impl harness::Peer<B> for World {
        fn on_transmit(&mut self, _now: Instant, t: &Transmit) -> Vec<Reply<Peer>> {
            let ms = Duration::from_millis;
            match t {
                Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. }) => {
                    let m = Message::decode(payload).unwrap();
                    let kind = match m.message_type() {
                        Some(MessageType::Discover) => MessageType::Offer,
                        Some(MessageType::Request) => MessageType::Ack,
                        _ => return Vec::new(),
                    };
                    vec![Reply::Receive {
                        after: ms(10),
                        peer: Peer::Dhcp(Link::Udp),
                        bytes: self.dhcp(&m, kind),
                    }]
                }
                Transmit::Dns(d) => self.dns(d),
                Transmit::Files(h) => {
                    let peer = Peer::Files(files::Peer::Conn(h.conn));
                    match &h.action {
                        Action::Connect { host, .. } => {
                            assert!(
                                host.parse::<Ipv4Addr>().is_ok(),
                                "a connect to a name went out: {host}"
                            );
                            let up = *host == SRV.to_string();
                            vec![if up {
                                Reply::Completed { after: ms(3), peer }
                            } else {
                                Reply::Failed { after: ms(3), peer }
                            }]
                        }
                        Action::Send(bytes) => {
                            let text = String::from_utf8_lossy(bytes);
                            let path = text.split(' ').nth(1).unwrap_or("");
                            let body: &[u8] = match path {
                                "/96x1Supgrade.txt" => b"GET 46xxsettings.txt\n",
                                "/46xxsettings.txt" => self.settings.as_bytes(),
                                _ => {
                                    return vec![
                                        Reply::Receive {
                                            after: ms(3),
                                            peer,
                                            bytes: b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                                                .to_vec(),
                                        },
                                        Reply::Closed { after: ms(4), peer },
                                    ];
                                }
                            };
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(body);
                            vec![
                                Reply::Receive {
                                    after: ms(3),
                                    peer,
                                    bytes: r,
                                },
                                Reply::Closed { after: ms(4), peer },
                            ]
                        }
                        Action::StartTls(_) | Action::Close => Vec::new(),
                    }
                }
                Transmit::Sip(s) => {
                    assert!(s.target.host.parse::<Ipv4Addr>().is_ok());
                    let req = String::from_utf8_lossy(&s.payload).into_owned();
                    if !req.starts_with("REGISTER ") {
                        return Vec::new();
                    }
                    let r = format!(
                        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=reg1\r\nCall-ID: {}\r\n\
                         CSeq: {}\r\nContact: {};expires=600\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n",
                        header(&req, "Via"),
                        header(&req, "From"),
                        header(&req, "To"),
                        header(&req, "Call-ID"),
                        header(&req, "CSeq"),
                        header(&req, "Contact"),
                    );
                    vec![Reply::Receive {
                        after: ms(5),
                        peer: Peer::Sip(s.controller),
                        bytes: r.into_bytes(),
                    }]
                }
                _ => Vec::new(),
            }
        }
    }

    fn parts() -> (BootConfig, Record) {
        let files = StageConfig::new(
            "9611G",
            [0x00, 0x24, 0xd7, 0xe4, 0x2e, 0x98],
            "SN1",
            BootRecord::factory(SlotImage::of("factory.bin", b"factory")),
        );
        let mut config = BootConfig::new(files);
        config.credentials = Some(("1001".into(), "1001pass".into()));
        let record = Record {
            slots: Some(BootRecord::factory(SlotImage::of(
                "factory.bin",
                b"factory",
            ))),
            ..Record::default()
        };
        (config, record)
    }

    fn boot() -> B {
        let (config, record) = parts();
        Boot::new(config, record, ChaCha20Rng::seed_from_u64(3), Instant::ZERO)
    }

    impl harness::Peer<crate::trace::Recorder<B>> for World {
        fn on_transmit(&mut self, now: Instant, t: &Transmit) -> Vec<Reply<Peer>> {
            harness::Peer::<B>::on_transmit(self, now, t)
        }
    }

    /// The trace codec knows the DNS peer, transmit and warning: a boot by names is recorded,
    /// goes through the file format unchanged and replays output for output.
    #[test]
    fn a_boot_by_names_records_and_replays() {
        use crate::trace::{EventKind, Recorder, Trace, WarningKind, replay};
        let mut world = World::new();
        let (config, record) = parts();
        let phone =
            Recorder::<B>::power_on(Some(Trace::new()), config, record, [3; 32], Instant::ZERO);
        let mut t = harness::Transcript::new(phone, Instant::ZERO);
        t.run(&mut world, Instant::from_secs(120));
        let trace = t.machine.into_trace().unwrap();
        let file = trace.encode();
        let back = Trace::decode(&file.trace, file.secrets.as_deref()).unwrap();
        assert_eq!(back.encode(), file);
        let text = alloc::format!("{back:?}");
        assert!(text.contains("Dns"), "no DNS entry recorded");
        let dns_warnings = back
            .power_ons
            .iter()
            .flat_map(|p| p.entries.iter())
            .filter(|e| {
                alloc::format!("{e:?}").contains(&alloc::format!(
                    "{:?}",
                    EventKind::Warning(WarningKind::Dns)
                ))
            })
            .count();
        assert!(dns_warnings >= 3, "{dns_warnings}");
        let done = replay::<ChaCha20Rng>(&back).unwrap();
        assert_eq!(done.inputs + done.outputs, back.entry_count());
    }

    fn warnings(t: &harness::Transcript<B>) -> Vec<Warning> {
        t.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Warning(w) => Some(w.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn names_resolve_through_dnssrvr_and_the_boot_registers() {
        let mut world = World::new();
        let mut t = harness::Transcript::new(boot(), Instant::ZERO);
        t.run(&mut world, Instant::from_secs(120));
        let events = t.events();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Reached(Stage::Registered))),
            "{:#?}",
            t.log
        );
        // DOMAIN appended to dotless names; the dead server of option 6 asked first, twice,
        // then the next one.
        let asked: Vec<&str> = world.queries.iter().map(|(_, n)| n.as_str()).collect();
        assert!(asked.contains(&"nowhere.lab.test"), "{asked:?}");
        assert!(asked.contains(&"files.lab.test"), "{asked:?}");
        assert!(asked.contains(&"sip.lab.test"), "{asked:?}");
        assert!(asked.contains(&"missing.lab.test"), "{asked:?}");
        assert_eq!(world.queries[0].0, DEAD_DNS);
        assert_eq!(world.queries[1].0, DEAD_DNS);
        assert_eq!(world.queries[2].0, DNS);
        let w = warnings(&t);
        assert!(w.iter().any(|w| matches!(
            w,
            Warning::Dns(phone_dns::Event::ServerFailed { server, error: phone_dns::ServerError::Timeout, .. })
                if *server == DEAD_DNS
        )));
        // A name that does not resolve: its own warning, and the next server is used.
        for missing in ["nowhere", "missing"] {
            assert!(
                w.iter().any(|w| matches!(
                    w,
                    Warning::Dns(phone_dns::Event::Failed { name, error: phone_dns::Error::NotFound { server } })
                        if name == missing && *server == DNS
                )),
                "{missing}: {w:#?}"
            );
        }
        // Every connect went to an address (the World checks it), TLS names the name.
        let connects: Vec<(String, Option<String>)> = t
            .transmits()
            .into_iter()
            .filter_map(|x| match x {
                Transmit::Files(phone_http::Transmit {
                    action: Action::Connect { host, tls, .. },
                    ..
                }) => Some((host.clone(), tls.as_ref().map(|t| t.server_name.clone()))),
                _ => None,
            })
            .collect();
        assert!(!connects.is_empty());
        assert!(
            connects
                .iter()
                .all(|(h, n)| *h == SRV.to_string() && n.as_deref() == Some("files")),
            "{connects:?}"
        );
        // The named controller expanded in place into its A records (repeat dropped); the
        // one that does not resolve is gone.
        let sip = t.machine.sip().unwrap();
        let controllers: Vec<String> = sip
            .config()
            .controllers
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            controllers,
            vec!["10.0.0.1:5060;transport=udp", "10.0.0.2:5060;transport=udp"]
        );
        let first = sip.config().controllers[0].clone();
        assert_eq!(t.machine.controller_name(&first), Some("sip"));
        assert!(events.iter().any(|e| matches!(
            e,
            Event::Registered { controller, .. } if controller.host == "10.0.0.1"
        )));
        // The answers are cached: each name asked of the live server once.
        let files_asked = world
            .queries
            .iter()
            .filter(|(s, n)| *s == DNS && n == "files.lab.test")
            .count();
        assert_eq!(files_asked, 1, "{:?}", world.queries);
    }

    #[test]
    fn no_controller_resolves() {
        let mut world = World::new();
        world.sson = "TLSSRVR=files".into();
        world.settings =
            "SET SIPDOMAIN lab.test\nSET SIP_CONTROLLER_LIST missing;transport=udp\n".into();
        let mut t = harness::Transcript::new(boot(), Instant::ZERO);
        t.run(&mut world, Instant::from_secs(120));
        let w = warnings(&t);
        assert!(w.contains(&Warning::NoController), "{w:#?}");
        assert!(t.machine.sip().is_none());
        assert!(
            t.events()
                .iter()
                .any(|e| matches!(e, Event::Display(super::Screen::RegistrationFailed)))
        );
    }

    #[test]
    fn addresses_never_ask_the_resolver() {
        // Without names nothing changes: no resolver, no DNS datagram.
        let mut world = World::new();
        world.sson = "TLSSRVR=10.0.0.1".into();
        world.settings =
            "SET SIPDOMAIN lab.test\nSET SIP_CONTROLLER_LIST 10.0.0.1:5060;transport=udp\n".into();
        let mut t = harness::Transcript::new(boot(), Instant::ZERO);
        t.run(&mut world, Instant::from_secs(60));
        assert!(t.machine.dns().is_none());
        assert!(world.queries.is_empty());
        assert!(
            t.events()
                .iter()
                .any(|e| matches!(e, Event::Reached(Stage::Registered)))
        );
    }

    #[test]
    fn dns_commits_on_take() {
        // Up to the first query to the dead server, with the world answering.
        let mut world = World::new();
        let mut t = harness::Transcript::new(boot(), Instant::ZERO);
        let mut until = Instant::ZERO;
        while !t
            .log
            .iter()
            .any(|l| matches!(l, Logged::Transmit(_, Transmit::Dns(_))))
        {
            until += Duration::from_millis(50);
            assert!(until < Instant::from_secs(30), "no DNS query");
            t.run(&mut world, until);
        }
        let mut boot = t.machine;
        let sent = boot.dns().unwrap().stats().sent;
        assert_eq!(sent, 1);
        // The retry is due: time passes, nobody polls, nothing is counted.
        let later = until + Duration::from_secs(3);
        boot.handle_input(Input::Timeout(later));
        assert_eq!(boot.dns().unwrap().stats().sent, sent);
        assert_eq!(boot.poll_timeout(), Some(later));
        // Taken now: counted now, to the same (dead) server.
        let mut got = None;
        for _ in 0..64 {
            match boot.poll_output() {
                Output::Transmit(Transmit::Dns(d)) => {
                    got = Some(d);
                    break;
                }
                // The address's ARP announcements, due as well.
                Output::Transmit(Transmit::Dhcp(_)) | Output::Event(_) => {}
                Output::Transmit(x) => panic!("unexpected {x:?}"),
                Output::Timeout(_) => break,
            }
        }
        assert_eq!(got.map(|d| d.server), Some(DEAD_DNS));
        assert_eq!(boot.dns().unwrap().stats().sent, sent + 1);
        // A send failure of it goes to the resolver (next server soon, not after 2 s).
        boot.handle_input(Input::TransportFailed(later, Peer::Dns(DEAD_DNS)));
        let next = boot.poll_timeout().unwrap();
        assert!(next <= later + phone_dns::resolver::SEND_RETRY, "{next:?}");
    }
}
