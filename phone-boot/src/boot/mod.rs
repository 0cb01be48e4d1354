//! The whole boot as one Sans-IO machine (spec/README.md "Boot sequence"): power-on →
//! network (DHCP, or a craft static address) → files → software (a flash ends the boot with
//! [`Event::Restart`]; the caller powers on again) → VLAN re-check → SCEP → SIP registration.
//! It speaks [`phone_sansio::Machine`].
//!
//! By concern: each phase owns its machine — `network` the `phone_dhcp::Client` (or the
//! craft static address) and the network layers of the settings, `handoff` the
//! [`FileStage`] and what its result hands on (settings, certificates, the flashed slot, the
//! VLAN re-check), `scep` the `phone_scep::Enrollment`, `sip` the `phone_sip_reg::Client`
//! and its credentials, `prompt` the prompts and craft access; [`display`] the prompt line,
//! [`warning`] the log, [`record`] what survives a reboot.
//!
//! **Forwarding commits on take.** [`Boot`] never drains a child into a queue of transmits: a
//! child's transmit is pulled from it at the moment the caller polls [`Boot`], and handed out
//! at once, so a child's counters (xid, CSeq, nonce count, connection id, flash offset) move
//! only when the caller takes the transmit. Events may be queued. [`Boot::poll_timeout`] is
//! the earliest of the children's own `poll_timeout`s and the `DHCP: s secs` tick; nothing is
//! cached.
//!
//! Transmits carry their stage: DHCP and ARP, file-server connections, SCEP connections (two
//! `phone_http` connection-id spaces, told apart by the variant), flash operations, SIP. Every
//! transport fact comes back on the matching [`Peer`].

pub mod display;
mod dns;
mod handoff;
mod link;
mod network;
mod prompt;
pub mod record;
mod scep;
mod sip;
#[cfg(test)]
mod tests;
pub mod warning;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_sansio::{Input, Instant, Machine, Output};
use phone_settings::Store;
use rand_core::{CryptoRng, SeedableRng};

use crate::files::{self, FileStage, StageConfig};
use crate::flash::FlashOp;
use display::Screen;
use network::NetworkPhase;
use prompt::Login;
pub use prompt::{CraftCommand, Prompt};
use record::Record;
use scep::ScepPhase;
use sip::SipPhase;
pub use warning::Warning;

/// The stages a caller can wait for (`phone boot --until`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// An address is configured (lease or static).
    Network,
    /// The file stage is over and no flash is pending.
    Files,
    /// The SCEP stage is over (a certificate is held, or the boot goes on without one).
    Certificate,
    /// Registered with a controller.
    Registered,
}

/// Where the boot is now ([`Boot::phase`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for an address (DHCP), or for DHCP again after the lease was lost or the VLAN
    /// changed.
    Network,
    /// The file stage runs (scripts, files, software download and flash).
    Files,
    /// SCEP enrollment with MYCERTWAIT=1.
    Certificate,
    /// A prompt is shown ([`Boot::prompt`]).
    Credentials,
    /// SIP registration runs (registered or trying).
    Registration,
    /// Craft access (the Program softkey stopped the automatic startup).
    Craft,
    /// Nothing more: a restart is due ([`Event::Restart`]), or registration cannot start.
    Stopped,
}

/// The phone's address for the caller to configure on its interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The address.
    pub address: Ipv4Addr,
    /// The subnet mask (255.255.255.0 when the server gave none).
    pub mask: Ipv4Addr,
    /// Routers in order.
    pub routers: Vec<Ipv4Addr>,
    /// The lease length in seconds (`u32::MAX` for a static address).
    pub lease_secs: u32,
}

/// Who a transport fact is about: one variant per stage, carrying that stage's own peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// DHCP's UDP socket or the interface's ARP traffic.
    Dhcp(phone_dhcp::Link),
    /// A file-server connection or the flash ([`Transmit::Files`], [`Transmit::Flash`]).
    Files(files::Peer),
    /// A SCEP connection ([`Transmit::Scep`]).
    Scep(phone_http::ConnId),
    /// A SIP controller, by index ([`Transmit::Sip`]).
    Sip(usize),
    /// A DNS server, by address: a datagram from its port 53, or a [`Transmit::Dns`] that
    /// could not be sent.
    Dns(Ipv4Addr),
    /// The line interface's LLDP frames (ethertype 0x88cc, untagged): a frame received (its
    /// LLDPDU, after the Ethernet header), or a [`Transmit::Lldp`] that could not be sent.
    Lldp,
    /// The line interface's EAPOL frames (ethertype 0x888e): a frame received (its EAPOL PDU,
    /// after the Ethernet header) with its sender and whether it came to a group address, or a
    /// [`Transmit::Eapol`] that could not be sent.
    Eapol(phone_dot1x::Link),
}

/// Something from the phone itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// The Program softkey (dhcp.md §9).
    Program,
    /// A craft-access entry, while [`Screen::Craft`] is shown.
    Craft(CraftCommand),
    /// The text typed at the current prompt (`Extension:` / `Password:`).
    Entry(&'a str),
}

/// What the caller carries out, one variant per stage, in the stage's own type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A DHCP datagram or an ARP packet; report on [`Peer::Dhcp`].
    Dhcp(phone_dhcp::Transmit),
    /// A file-server connection transmit (HTTPS: `Tls::check_identity` is TLSSRVRID); report
    /// on [`Peer::Files`]`(files::Peer::Conn(conn))`.
    Files(phone_http::Transmit),
    /// A flash operation; report on [`Peer::Files`]`(files::Peer::Flash)`.
    Flash(FlashOp),
    /// A SCEP connection transmit (its own connection ids); report on [`Peer::Scep`].
    Scep(phone_http::Transmit),
    /// SIP bytes for a controller (UDP, or a TCP/TLS stream; TLS trusts TRUSTCERTS and the
    /// SCEP CA and presents the SCEP certificate, both in [`Boot::record`]); report on
    /// [`Peer::Sip`].
    Sip(phone_sip_reg::Transmit),
    /// A DNS query (spec/link.md §3): one UDP datagram to `server` port 53 from a socket of
    /// the phone's; report answers and send failures on [`Peer::Dns`].
    Dns(phone_dns::Transmit),
    /// An LLDPDU: send it untagged on the line interface to `01:80:c2:00:00:0e` with
    /// ethertype 0x88cc (`phone_lldp::LLDP_MULTICAST`, `ETHERTYPE_LLDP`); report on
    /// [`Peer::Lldp`].
    Lldp(phone_lldp::Transmit),
    /// An EAPOL PDU: send it untagged on the line interface to `destination` (the PAE group
    /// address 01:80:c2:00:00:03) with ethertype 0x888e; report on [`Peer::Eapol`].
    Eapol(phone_dot1x::Transmit),
}

/// What the boot reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Show this on the prompt line.
    Display(Screen),
    /// Configure this address on the interface.
    Configure(Network),
    /// Remove the address (lease lost).
    Deconfigure,
    /// From now on send and receive DHCP and ARP on this VLAN.
    Vlan(phone_dhcp::client::Vlan),
    /// A stage was reached.
    Reached(Stage),
    /// [`Boot::record`] changed: store it ([`Record::encode`]).
    RecordChanged,
    /// New firmware was installed in `slot`; a [`Event::Restart`] follows.
    Installed {
        /// The application name.
        name: String,
        /// The slot now active.
        slot: crate::flash::Slot,
    },
    /// Restart: power on again (new [`Boot`] with the stored record). After a flash, after
    /// craft EXIT.
    Restart,
    /// Registered; `controller` is the active one.
    Registered {
        /// The controller.
        controller: phone_sip_reg::Controller,
        /// Granted expiry in seconds.
        expires: u32,
    },
    /// For the log: a stage's typed warning.
    Warning(Warning),
    /// Craft VIEW: the effective parameters.
    View(Vec<(String, String)>),
    /// For the log: what the LLDP agent learned (a neighbour, the voice policy and its
    /// withdrawal). The policy's L2Q/L2QVLAN are already applied when this is reported.
    Lldp(phone_lldp::Event),
    /// For the log: what the 802.1X supplicant reported (link.md §2). Credentials never
    /// appear in it.
    Dot1x(phone_dot1x::Event),
}

/// The boot's configuration: the phone's identity and what the operator forces.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BootConfig {
    /// The file stage's configuration (MODEL, MAC, SERIALNO, firmware key, limits). Its
    /// `record` is used when the [`Record`] holds no slots.
    pub files: StageConfig,
    /// The DHCP client's configuration; `None` = `phone_dhcp::Config::for_mac` with the craft
    /// SSON number.
    pub dhcp: Option<phone_dhcp::Config>,
    /// Parameters given as the network would (`--set`), applied over the SSON.
    pub sets: Vec<(String, String)>,
    /// Credentials given by the operator; they win over stored ones.
    pub credentials: Option<(String, String)>,
    /// The local SIP port (the caller's UDP socket).
    pub sip_port: u16,
    /// Wall-clock time at [`Instant::ZERO`] (for the SCEP self-signed certificate).
    pub unix_at_zero: Duration,
}

impl BootConfig {
    /// A configuration around a file-stage configuration.
    #[must_use]
    pub fn new(files: StageConfig) -> Self {
        BootConfig {
            files,
            dhcp: None,
            sets: Vec::new(),
            credentials: None,
            sip_port: 5060,
            unix_at_zero: Duration::from_secs(1_795_219_200),
        }
    }
}

/// The boot's own step (which phase leads); the children live in their phase structs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Network,
    Files,
    Scep,
    Prompt(Prompt),
    Sip,
    Craft,
    Halted,
}

/// An upper bound on the child events one `poll_output` handles before it answers (each is
/// handled in bounded work; children emit a bounded number per input).
const MAX_POLL_STEPS: usize = 4096;

/// The boot machine of one phone.
pub struct Boot<R: CryptoRng + SeedableRng> {
    config: BootConfig,
    record: Record,
    rng: R,
    now: Instant,
    step: Step,
    events: VecDeque<Event>,
    network: NetworkPhase<R>,
    link: link::LinkPhase,
    files: Option<Box<FileStage<R>>>,
    scep: Option<ScepPhase<R>>,
    sip: Option<SipPhase<R>>,
    dns: dns::DnsPhase<R>,
    settings: Store,
    vlan_rechecked: bool,
    reached: Vec<Stage>,
    login: Login,
}

impl<R: CryptoRng + SeedableRng> core::fmt::Debug for Boot<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Boot")
            .field("step", &self.step)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng + SeedableRng> Boot<R> {
    /// Powers on at `now` with the stored `record` (the caller has already chosen the slot to
    /// boot, `BootRecord::power_on`, and put the result in `record.slots`). Constructor order:
    /// configuration, the state kept from earlier boots, the RNG (forked per stage), the time.
    pub fn new(config: BootConfig, record: Record, rng: R, now: Instant) -> Self {
        let mut b = Boot {
            network: NetworkPhase::new(now),
            link: link::LinkPhase::default(),
            config,
            record,
            rng,
            now,
            step: Step::Network,
            events: VecDeque::new(),
            files: None,
            scep: None,
            sip: None,
            dns: dns::DnsPhase::new(),
            settings: Store::new(),
            vlan_rechecked: false,
            reached: Vec::new(),
            login: Login::default(),
        };
        if b.record.slots.is_none() {
            b.record.slots = Some(b.config.files.record.clone());
        }
        if let Some(Ok(d)) = b.record.settings.as_deref().map(Store::decode) {
            b.settings = d.store;
        }
        // Rows 1–4 of display.md.
        for s in [
            Screen::Restarting,
            Screen::Initializing,
            Screen::Loading,
            Screen::Starting,
        ] {
            b.display(s);
        }
        if b.settings.int("PROCSTAT").unwrap_or(0) == 0 {
            b.display(Screen::ProgramSoftkey);
        }
        // Stage 1 (link.md), then stage 2.
        b.start_link();
        if !b.link_holds_network() {
            b.start_network();
        }
        b
    }

    /// The persistent record as it stands (store it on [`Event::RecordChanged`]).
    #[must_use]
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The effective settings of this boot so far.
    #[must_use]
    pub fn settings(&self) -> &Store {
        &self.settings
    }

    /// The configured address, once the network stage is over.
    #[must_use]
    pub fn network(&self) -> Option<&Network> {
        self.network.configured.as_ref()
    }

    /// Where the boot is now.
    #[must_use]
    pub fn phase(&self) -> Phase {
        match self.step {
            Step::Network => Phase::Network,
            Step::Files => Phase::Files,
            Step::Scep => Phase::Certificate,
            Step::Prompt(_) => Phase::Credentials,
            Step::Sip => Phase::Registration,
            Step::Craft => Phase::Craft,
            Step::Halted => Phase::Stopped,
        }
    }

    /// The prompt shown now, if any: the caller answers with [`Command::Entry`].
    #[must_use]
    pub fn prompt(&self) -> Option<Prompt> {
        match self.step {
            Step::Prompt(p) => Some(p),
            _ => None,
        }
    }

    /// The DHCP client, while DHCP runs.
    #[must_use]
    pub fn dhcp(&self) -> Option<&phone_dhcp::Client<R>> {
        self.network.dhcp.as_ref()
    }

    /// The file stage, while it runs.
    #[must_use]
    pub fn file_stage(&self) -> Option<&FileStage<R>> {
        self.files.as_deref()
    }

    /// The SCEP enrollment, while it runs.
    #[must_use]
    pub fn enrollment(&self) -> Option<&phone_scep::Enrollment<R>> {
        self.scep.as_ref().map(|s| &s.enrollment)
    }

    /// The SIP client, once registration started.
    #[must_use]
    pub fn sip(&self) -> Option<&phone_sip_reg::Client<R>> {
        self.sip.as_ref().map(|s| &s.client)
    }

    fn display(&mut self, s: Screen) {
        self.events.push_back(Event::Display(s));
    }

    fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    fn warn(&mut self, w: Warning) {
        self.events.push_back(Event::Warning(w));
    }

    /// The boot is over until the caller powers on again: every child stops.
    fn restart(&mut self) {
        self.network.dhcp = None;
        self.network.acd = None;
        self.files = None;
        self.scep = None;
        self.sip = None;
        self.dns = dns::DnsPhase::new();
        self.link.lldp = None;
        self.link.dot1x = None;
        self.step = Step::Halted;
        self.event(Event::Restart);
    }

    fn reach(&mut self, s: Stage) {
        if !self.reached.contains(&s) {
            self.reached.push(s);
            self.event(Event::Reached(s));
        }
    }

    /// Routes one transport fact to the child it is about.
    fn route(&mut self, input: Input<'_, Peer, Command<'_>>, peer: Peer) {
        match peer {
            Peer::Dhcp(link) => {
                if link == phone_dhcp::Link::Arp {
                    self.route_arp(input);
                }
                if let Some(d) = self.network.dhcp.as_mut() {
                    d.handle_input(fact(input, link));
                }
            }
            Peer::Files(p) => {
                if let Some(f) = self.files.as_mut() {
                    f.handle_input(fact(input, p));
                }
            }
            Peer::Scep(conn) => {
                if let Some(s) = self.scep.as_mut() {
                    s.enrollment.handle_input(fact(input, conn));
                }
            }
            Peer::Sip(i) => {
                if let Some(s) = self.sip.as_mut() {
                    s.client.handle_input(fact(input, i));
                }
            }
            Peer::Dns(server) => self.route_dns(input, server),
            Peer::Lldp => self.route_link(input),
            Peer::Eapol(l) => self.route_eapol(input, l),
        }
    }

    /// Hands the next transmit of a child out (taken now, as the caller polls), or handles
    /// the child's next event.
    fn poll_children(&mut self) -> Polled {
        match self.poll_link() {
            Polled::Idle => {}
            p => return p,
        }
        match self.poll_acd() {
            Polled::Idle => {}
            p => return p,
        }
        if let Some(d) = self.network.dhcp.as_mut() {
            match d.poll_output() {
                Output::Transmit(t) => return Polled::Transmit(Transmit::Dhcp(t)),
                Output::Event(e) => {
                    self.on_dhcp_event(e);
                    return Polled::Handled;
                }
                Output::Timeout(_) => {}
            }
        }
        // Host names (link.md §3): the resolver, and the connects kept back for it.
        match self.poll_dns() {
            Polled::Idle => {}
            p => return p,
        }
        if !self.dns.files_waiting()
            && let Some(f) = self.files.as_mut()
        {
            match f.poll_output() {
                Output::Transmit(files::Transmit::Http(t)) => return self.files_transmit(t),
                Output::Transmit(files::Transmit::Flash(op)) => {
                    return Polled::Transmit(Transmit::Flash(op));
                }
                Output::Event(e) => {
                    let e = self.link_files_event(e);
                    self.on_files_event(e);
                    return Polled::Handled;
                }
                Output::Timeout(_) => {}
            }
        }
        if !self.dns.scep_waiting()
            && let Some(s) = self.scep.as_mut()
        {
            match s.enrollment.poll_output() {
                Output::Transmit(t) => return self.scep_transmit(t),
                Output::Event(e) => {
                    self.on_scep_event(e);
                    return Polled::Handled;
                }
                Output::Timeout(_) => {}
            }
        }
        if let Some(s) = self.sip.as_mut() {
            match s.client.poll_output() {
                Output::Transmit(t) => return Polled::Transmit(Transmit::Sip(t)),
                Output::Event(e) => {
                    self.on_sip_event(e);
                    return Polled::Handled;
                }
                Output::Timeout(_) => {}
            }
        }
        Polled::Idle
    }
}

/// What one look at the children gave.
enum Polled {
    /// A child's transmit, taken.
    Transmit(Transmit),
    /// A child's event was handled (it may have queued events or started a child).
    Handled,
    /// No child has anything now.
    Idle,
}

/// The same transport fact for a child, with the child's own peer. Commands are never
/// routed (they are handled by the boot); one would become a harmless timeout.
fn fact<'a, Q, C>(input: Input<'a, Peer, Command<'_>>, peer: Q) -> Input<'a, Q, C> {
    match input {
        Input::Receive(t, _, bytes) => Input::Receive(t, peer, bytes),
        Input::Completed(t, _) => Input::Completed(t, peer),
        Input::Closed(t, _) => Input::Closed(t, peer),
        Input::TransportFailed(t, _) => Input::TransportFailed(t, peer),
        Input::Timeout(t) | Input::Command(t, _) => Input::Timeout(t),
    }
}

impl<R: CryptoRng + SeedableRng> Machine for Boot<R> {
    type Peer = Peer;
    type Command<'a> = Command<'a>;
    type Transmit = Transmit;
    type Event = Event;

    fn handle_input(&mut self, input: Input<'_, Peer, Command<'_>>) {
        let now = input.now();
        if now > self.now {
            self.now = now;
        }
        match input {
            Input::Timeout(t) => {
                // Time reaches every child (each ignores an early timeout).
                self.link_timeout(t);
                self.acd_timeout(t);
                if let Some(d) = self.network.dhcp.as_mut() {
                    d.handle_input(Input::Timeout(t));
                }
                if let Some(f) = self.files.as_mut() {
                    f.handle_input(Input::Timeout(t));
                }
                if let Some(s) = self.scep.as_mut() {
                    s.enrollment.handle_input(Input::Timeout(t));
                }
                if let Some(s) = self.sip.as_mut() {
                    s.client.handle_input(Input::Timeout(t));
                }
                self.dns.timeout(t);
            }
            Input::Receive(_, p, _)
            | Input::Completed(_, p)
            | Input::Closed(_, p)
            | Input::TransportFailed(_, p) => self.route(input, p),
            Input::Command(_, Command::Program) => self.on_program(),
            Input::Command(_, Command::Craft(cmd)) => self.on_craft(cmd),
            Input::Command(_, Command::Entry(text)) => self.on_entry(text),
        }
        self.tick();
    }

    fn poll_output(&mut self) -> Output<Transmit, Event> {
        for _ in 0..MAX_POLL_STEPS {
            if let Some(e) = self.events.pop_front() {
                return Output::Event(e);
            }
            match self.poll_children() {
                Polled::Transmit(t) => return Output::Transmit(t),
                Polled::Handled => {}
                Polled::Idle => break,
            }
        }
        Output::Timeout(self.poll_timeout().unwrap_or(Instant::MAX))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.events.is_empty() {
            return Some(self.now);
        }
        let mut t = self.network.tick_at(self.step == Step::Network);
        let mut at = |d: Option<Instant>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |t| t.min(d)));
            }
        };
        at(self.network.dhcp.as_ref().and_then(Machine::poll_timeout));
        at(self.link_deadline());
        at(self.acd_deadline());
        at(self
            .files
            .as_ref()
            .filter(|_| !self.dns.files_waiting())
            .and_then(|f| f.poll_timeout()));
        at(self
            .scep
            .as_ref()
            .filter(|_| !self.dns.scep_waiting())
            .and_then(|s| s.enrollment.poll_timeout()));
        at(self.sip.as_ref().and_then(|s| s.client.poll_timeout()));
        at(self.dns.poll_timeout());
        // A child's "due now" is at its own latest input; never earlier than ours.
        t.map(|d| d.max(self.now))
    }
}
