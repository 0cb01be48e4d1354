//! The whole boot as one Sans-IO machine (spec/README.md "Boot sequence"): power-on →
//! network (DHCP, or a craft static address) → files → software (a flash ends the boot with
//! [`Event::Restart`]; the caller powers on again) → VLAN re-check → SCEP → SIP registration.
//!
//! [`Boot`] composes the stage machines — `phone_dhcp::Client`, [`FileStage`],
//! `phone_scep::Enrollment`, `phone_sip_reg::Client` — and carries the hand-offs: the lease and
//! SSON into the settings store (Decision 6), the store into the file stage, the settings into
//! SCEP and SIP, the issued certificate into the [`Record`] the caller's TLS reads. One
//! [`Input`]/[`Output`] surface covers every stage; display events come in display.md's order.
//!
//! ```
//! use phone_boot::boot::{Boot, BootConfig, Output, Event, Transmit, record::Record};
//! use phone_boot::boot::display::Screen;
//! use phone_boot::flash::{BootRecord, SlotImage};
//! use phone_boot::files::StageConfig;
//! use phone_settings::Instant;
//! use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//!
//! let slots = BootRecord::factory(SlotImage::of("factory.bin", b"image"));
//! let files = StageConfig::new("9611G", [2, 0, 0, 0, 0, 1], "SN1", slots);
//! let config = BootConfig::new(files);
//! let mut boot = Boot::new(config, Record::default(), ChaCha20Rng::seed_from_u64(1), Instant::ZERO);
//! assert_eq!(boot.poll_output(), Output::Event(Event::Display(Screen::Restarting)));
//! // ... Initializing, Loading..., Starting..., [Program], DHCP: 0 secs, then the DISCOVER:
//! let discover = loop {
//!     if let Output::Transmit(Transmit::Dhcp { payload, .. }) = boot.poll_output() {
//!         break payload;
//!     }
//! };
//! assert_eq!(phone_dhcp::Message::decode(&discover).unwrap().xid != 0, true);
//! ```

pub mod display;
pub mod record;
#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_dhcp::client::{Arp, Vlan, default_parameter_request_list};
use phone_dhcp::{SsonCode, VendorOptions};
use phone_scep::der::Encode as _;
use phone_scep::http::{HttpRequest, HttpResponse, TransportError};
use phone_scep::machine::KeySource;
use phone_settings::{Instant, Source, Store};
use rand_core::{CryptoRng, SeedableRng};

use crate::files::{self, FileStage, Software, StageConfig};
use crate::flash::FlashOp;
use display::Screen;
use phone_sansio::Machine as _;
use record::{Identity, Record, StaticAddress};

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

/// Something to send, one variant per transport and peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A DHCP datagram from UDP 68 to 67.
    Dhcp {
        /// The message.
        payload: Vec<u8>,
        /// 255.255.255.255 or the server.
        destination: Ipv4Addr,
        /// 0.0.0.0 or the leased address.
        source: Ipv4Addr,
    },
    /// An ARP probe or announcement (RFC 5227).
    Arp(Arp),
    /// A file-server connection transmit (HTTPS: `Tls::check_identity` is TLSSRVRID).
    File(phone_http::Transmit),
    /// A flash operation; report `Completed`/`TransportFailed` on `files::Peer::Flash`.
    Flash(FlashOp),
    /// One SCEP HTTP exchange; answer with [`Input::Scep`].
    Scep(HttpRequest),
    /// SIP bytes for a controller (UDP, or a TCP/TLS stream; TLS trusts TRUSTCERTS and the
    /// SCEP CA and presents the SCEP certificate, both in [`Boot::record`]).
    Sip(phone_sip_reg::Transmit),
}

/// What the boot reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Show this on the prompt line.
    Display(Screen),
    /// Configure this address on the interface.
    Configure(Network),
    /// Remove the address (lease lost).
    Deconfigure,
    /// A stage was reached.
    Reached(Stage),
    /// [`Boot::record`] changed: store it ([`Record::encode`]).
    RecordChanged,
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
    /// A warning for the log (script warnings, refused values, stage failures).
    Warning(String),
    /// Craft VIEW: the effective parameters.
    View(Vec<(String, String)>),
}

/// What the caller asks of the boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this.
    Transmit(Transmit),
    /// Act on or show this.
    Event(Event),
    /// Nothing more until this instant ([`Instant::MAX`]: until an input).
    Timeout(Instant),
}

/// A craft-access entry (dhcp.md §9), while [`Screen::Craft`] is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CraftCommand {
    /// ADDR: a static address, or `None` to go back to DHCP.
    Address(Option<StaticAddress>),
    /// SSON: the site-specific option number (128–254).
    Sson(u8),
    /// GROUP (0–999).
    Group(u16),
    /// VIEW: report the effective parameters.
    View,
    /// CLEAR: forget everything but the firmware.
    Clear,
    /// Leave craft access and restart.
    Exit,
}

/// What the caller reports.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// The clock reached the last [`Output::Timeout`] (early delivery is harmless).
    Timeout(Instant),
    /// A DHCP datagram received on UDP 68.
    Dhcp(Instant, &'a [u8]),
    /// ARP showed another host on this address.
    ArpConflict(Instant, Ipv4Addr),
    /// A file-server connection or flash event.
    File(phone_sansio::Input<'a, files::Peer, core::convert::Infallible>),
    /// The answer to the last [`Transmit::Scep`].
    ScepResponse(Instant, HttpResponse<'a>),
    /// The last [`Transmit::Scep`] could not be carried out.
    ScepFailed(Instant, &'a TransportError),
    /// A SIP datagram, stream bytes or transport error.
    Sip(phone_sip_reg::Input<'a>),
    /// The Program softkey.
    Program(Instant),
    /// A craft entry.
    Craft(Instant, &'a CraftCommand),
    /// The text typed at the current prompt (`Extension:` / `Password:`).
    Entry(Instant, &'a str),
}

/// The boot's configuration: the phone's identity and what the operator forces.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BootConfig {
    /// The file stage's configuration (MODEL, MAC, SERIALNO, firmware key, limits). Its
    /// `record` is used when the [`Record`] holds no slots.
    pub files: StageConfig,
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
            sets: Vec::new(),
            credentials: None,
            sip_port: 5060,
            unix_at_zero: Duration::from_secs(1_795_219_200),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompt {
    Extension,
    Password,
}

enum Phase<R: rand_core::Rng> {
    Network,
    Files(Box<FileStage<R>>),
    Scep,
    Prompt(Prompt),
    Sip,
    Craft,
    Halted,
}

/// Parameters the SIP client takes from the settings (spec/sip.md §1).
const SIP_PARAMETERS: &[&str] = &[
    "SIPDOMAIN",
    "SIPREGPROXYPOLICY",
    "SIMULTANEOUS_REGISTRATIONS",
    "FAILBACK_POLICY",
    "REGISTERWAIT",
    "WAIT_FOR_REGISTRATION_TIMER",
    "RECOVERYREGISTERWAIT",
    "FORCE_SIP_USERNAME",
    "FORCE_SIP_EXTENSION",
    "FORCE_SIP_PASSWORD",
];

/// The boot machine of one phone.
pub struct Boot<R: CryptoRng + SeedableRng> {
    config: BootConfig,
    record: Record,
    rng: R,
    now: Instant,
    phase: Phase<R>,
    out: VecDeque<Output>,
    dhcp: Option<phone_dhcp::Client<R>>,
    dhcp_started: Instant,
    tick: Option<Instant>,
    network: Option<Network>,
    net_params: Vec<(&'static str, String)>,
    option43: Vec<(&'static str, Vec<u8>)>,
    sson: Option<Vec<u8>>,
    settings: Store,
    vlan_rechecked: bool,
    scep: Option<phone_scep::Enrollment<R>>,
    scep_deadline: Instant,
    sip: Option<phone_sip_reg::Client<R>>,
    sip_deadline: Instant,
    sip_config: Option<phone_sip_reg::Config>,
    entered_user: String,
    credentials: Option<(String, String)>,
    reached: Vec<Stage>,
}

impl<R: CryptoRng + SeedableRng> Boot<R> {
    /// Powers on at `now` with the stored `record` (the caller has already chosen the slot to
    /// boot, `BootRecord::power_on`, and put the result in `record.slots`).
    pub fn new(config: BootConfig, record: Record, rng: R, now: Instant) -> Self {
        let mut b = Boot {
            config,
            record,
            rng,
            now,
            phase: Phase::Network,
            out: VecDeque::new(),
            dhcp: None,
            dhcp_started: now,
            tick: None,
            network: None,
            net_params: Vec::new(),
            option43: Vec::new(),
            sson: None,
            settings: Store::new(),
            vlan_rechecked: false,
            scep: None,
            scep_deadline: Instant::MAX,
            sip: None,
            sip_deadline: Instant::MAX,
            sip_config: None,
            entered_user: String::new(),
            credentials: None,
            reached: Vec::new(),
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
        b.start_network(now);
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
        self.network.as_ref()
    }

    fn display(&mut self, s: Screen) {
        self.out.push_back(Output::Event(Event::Display(s)));
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn reach(&mut self, s: Stage) {
        if !self.reached.contains(&s) {
            self.reached.push(s);
            self.event(Event::Reached(s));
        }
    }

    fn start_network(&mut self, now: Instant) {
        self.phase = Phase::Network;
        if let Some(s) = self.record.craft.static_address {
            // Static addressing skips DHCP (dhcp.md §9).
            let net = Network {
                address: s.address,
                mask: s.mask,
                routers: if s.router.is_unspecified() {
                    Vec::new()
                } else {
                    alloc::vec![s.router]
                },
                lease_secs: u32::MAX,
            };
            self.net_params = alloc::vec![("IPADD", s.address.to_string())];
            if !s.file_server.is_unspecified() {
                self.net_params
                    .push(("HTTPSRVR", s.file_server.to_string()));
            }
            self.network = Some(net.clone());
            self.event(Event::Configure(net));
            self.reach(Stage::Network);
            self.start_files(now);
            return;
        }
        let mut cfg = phone_dhcp::Config::for_mac(self.config.files.mac);
        if let Some(code) = self.record.craft.sson.and_then(SsonCode::new) {
            cfg.sson = code;
            cfg.parameter_request_list = default_parameter_request_list(code);
        }
        cfg.previous_address = self.record.lease_address;
        let mut client = phone_dhcp::Client::new(cfg, self.rng.fork(), now);
        client.handle_input(phone_dhcp::Input::Timeout(now));
        self.dhcp = Some(client);
        self.dhcp_started = now;
        self.display(Screen::Dhcp { secs: 0 });
        self.tick = Some(now + Duration::from_secs(1));
    }

    /// This boot's network layers (DHCP standard options, option 43, SSON), then the
    /// operator's `--set` values and the craft GROUP (Decision 6).
    fn apply_network(&mut self, store: &mut Store) {
        for s in [Source::DhcpStandard, Source::Option43, Source::Sson] {
            store.clear_source(s);
        }
        let mut warnings = Vec::new();
        for (n, v) in &self.net_params {
            if let Err(w) = store.apply_set(n, v, Source::DhcpStandard, 0) {
                warnings.push(format!("DHCP {n}: {w}"));
            }
        }
        for (n, v) in &self.option43 {
            if let Err(w) = store.apply_set(n, v, Source::Option43, 0) {
                warnings.push(format!("option 43 {n}: {w}"));
            }
        }
        if let Some(s) = &self.sson {
            for w in store.apply_sson(s) {
                warnings.push(format!("SSON: {w}"));
            }
        }
        for (n, v) in &self.config.sets {
            if let Err(w) = store.apply_set(n, v, Source::Sson, 0) {
                warnings.push(format!("--set {n}: {w}"));
            }
        }
        if let Some(g) = self.record.craft.group
            && let Err(w) = store.apply_set("GROUP", g.to_string(), Source::Craft, 0)
        {
            warnings.push(format!("craft GROUP: {w}"));
        }
        for w in warnings {
            self.event(Event::Warning(w));
        }
    }

    fn start_files(&mut self, now: Instant) {
        self.tick = None;
        // Each boot evaluates the scripts again from defaults (Decision 6), but the AUTH lock
        // survives (only CLEAR undoes it, files.md §1): the file stage reads it from the store
        // it is given, so it must still be there after `begin_boot`.
        let mut store = self.settings.clone();
        let auth_lock = store.flag("AUTH") == Some(true);
        store.begin_boot();
        if auth_lock {
            let _ = store.apply_set("AUTH", "1", Source::SettingsFile, 0);
        }
        self.apply_network(&mut store);
        let mut cfg = self.config.files.clone();
        if let Some(s) = &self.record.slots {
            cfg.record = s.clone();
        }
        let stage = FileStage::new(cfg, store, self.rng.fork(), now);
        self.phase = Phase::Files(Box::new(stage));
    }

    fn on_dhcp_event(&mut self, e: phone_dhcp::Event) {
        use phone_dhcp::Event as D;
        match e {
            D::Vlan(Vlan::Tagged(v)) => self.display(Screen::VlanId(v)),
            D::Bound => {
                let Some(lease) = self.dhcp.as_ref().and_then(|d| d.lease()).cloned() else {
                    return;
                };
                self.net_params = lease.parameters();
                self.option43 = lease
                    .vendor_specific
                    .as_deref()
                    .and_then(|v| VendorOptions::parse(v).ok())
                    .map(|o| o.parameters().map(|(n, v)| (n, v.to_vec())).collect())
                    .unwrap_or_default();
                self.sson = lease.sson.clone();
                let net = Network {
                    address: lease.address,
                    mask: lease.subnet_mask.unwrap_or(Ipv4Addr::new(255, 255, 255, 0)),
                    routers: lease.routers.clone(),
                    lease_secs: lease.timers.lease,
                };
                self.network = Some(net.clone());
                self.event(Event::Configure(net));
                if self.record.lease_address != Some(lease.address) {
                    self.record.lease_address = Some(lease.address);
                    self.event(Event::RecordChanged);
                }
                self.reach(Stage::Network);
                if matches!(self.phase, Phase::Network) {
                    self.start_files(self.now);
                }
            }
            D::Renewed | D::Rebound => {}
            D::Deconfigure(reason) => {
                self.event(Event::Deconfigure);
                self.event(Event::Warning(format!("lease lost: {reason:?}")));
                self.network = None;
                if !matches!(self.phase, Phase::Halted | Phase::Craft) {
                    // A new DHCP returns to row 6 (display.md notes).
                    self.phase = Phase::Network;
                    self.dhcp_started = self.now;
                    self.display(Screen::Dhcp { secs: 0 });
                    self.tick = Some(self.now + Duration::from_secs(1));
                }
            }
            D::Conflict(a) => {
                self.display(Screen::AddressConflict);
                self.event(Event::Warning(format!("address conflict on {a}")));
            }
            other => self.event(Event::Warning(format!("DHCP: {other:?}"))),
        }
    }

    fn files_done(&mut self, result: files::StageResult) {
        for (name, pem) in &result.certificates {
            self.record.trust_certs.retain(|(n, _)| n != name);
            self.record.trust_certs.push((name.clone(), pem.clone()));
        }
        if result.server.is_some() {
            self.settings = result.store;
            self.record.settings = Some(self.settings.encode());
        } else {
            // No file server: the stored settings of the last good boot, with this boot's
            // network values (Decision 4).
            if self.record.settings.is_some() {
                let mut store = self.settings.clone();
                self.apply_network(&mut store);
                self.settings = store;
            } else {
                self.settings = result.store;
            }
        }
        match result.software {
            Software::Installed { name, slot, record } => {
                self.record.slots = Some(record);
                self.event(Event::Warning(format!("installed {name} in slot {slot}")));
                self.event(Event::RecordChanged);
                self.phase = Phase::Halted;
                self.event(Event::Restart);
                return;
            }
            Software::Rejected { name, reason } => {
                self.event(Event::Warning(format!(
                    "software {name} rejected: {reason}"
                )));
            }
            Software::Unchanged => {}
        }
        // This boot came up and completed the file stage: confirm the running slot.
        if let Some(s) = &self.record.slots {
            self.record.slots = Some(s.confirmed());
        }
        self.event(Event::RecordChanged);
        self.reach(Stage::Files);
        // Row 14: the VLAN re-check (dhcp.md §6).
        self.display(Screen::ContactingCallServer);
        let want = self
            .settings
            .int("L2QVLAN")
            .and_then(|v| u16::try_from(v).ok())
            .unwrap_or(0);
        let l2q = self.settings.int("L2Q").unwrap_or(0);
        if let Some(d) = self.dhcp.as_mut()
            && !self.vlan_rechecked
            && want != 0
            && l2q != 2
            && d.vlan() != Vlan::Tagged(want)
        {
            self.vlan_rechecked = true;
            let vlantest = self
                .settings
                .int("VLANTEST")
                .and_then(|v| u16::try_from(v).ok())
                .unwrap_or(60);
            d.handle_input(phone_dhcp::Input::VoiceVlan {
                now: self.now,
                l2q: phone_dhcp::client::L2q::from_value(u8::try_from(l2q).unwrap_or(0))
                    .unwrap_or(phone_dhcp::client::L2q::Auto),
                l2qvlan: want,
                vlantest,
            });
            self.phase = Phase::Network;
            return;
        }
        self.start_scep();
    }

    fn start_scep(&mut self) {
        let s = &self.settings;
        let url = s.str("MYCERTURL").unwrap_or("").to_string();
        if url.is_empty() || self.record.identity.is_some() {
            self.reach(Stage::Certificate);
            self.start_sip();
            return;
        }
        let mut c = phone_scep::Config::default();
        c.url = url;
        if let Some(v) = s.str("MYCERTCN") {
            c.cn = v.into();
        }
        if let Some(v) = s.str("MYCERTDN") {
            c.dn = v.into();
        }
        if let Some(v) = s.str("MYCERTCAID") {
            c.ca_ident = v.into();
        }
        if let Some(v) = s.int("MYCERTKEYLEN") {
            c.key_bits = v as usize;
        }
        c.wait = s.flag("MYCERTWAIT").unwrap_or(true);
        if let Some(v) = s.str("SCEPPASSWORD") {
            c.challenge = v.into();
        }
        if let Some(v) = s.str("HTTPPROXY") {
            c.http_proxy = v.into();
        }
        c.subst.serial_no = self.config.files.serial.clone();
        c.subst.mac_addr = self
            .config
            .files
            .mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let unix = self.config.unix_at_zero + self.now.since_origin();
        match phone_scep::Enrollment::new(
            c.clone(),
            KeySource::Generate,
            None,
            self.rng.fork(),
            self.now,
            unix,
        ) {
            Ok(e) => {
                self.scep = Some(e);
                self.scep_deadline = self.now;
                if c.wait {
                    self.phase = Phase::Scep;
                } else {
                    // MYCERTWAIT=0: polling goes on in the background (Decision 7).
                    self.reach(Stage::Certificate);
                    self.start_sip();
                }
            }
            Err(e) => {
                self.event(Event::Warning(format!("SCEP: {e}")));
                self.reach(Stage::Certificate);
                self.start_sip();
            }
        }
    }

    fn on_scep_event(&mut self, e: phone_scep::Event) {
        use phone_scep::Event as S;
        let over = match e {
            S::Display(t) => {
                if matches!(self.phase, Phase::Scep) {
                    self.display(Screen::Scep { secs: t.secs });
                }
                false
            }
            S::Issued(enrolled) => {
                let key = self
                    .scep
                    .as_ref()
                    .and_then(|m| m.software_key())
                    .and_then(|k| k.to_pkcs8_der().ok());
                let cert = enrolled.certificate.to_der().ok();
                let mut ca: Vec<Vec<u8>> = Vec::new();
                let first = enrolled.ca.ca_cert();
                for c in core::iter::once(first).chain(enrolled.ca.certs.iter()) {
                    if let Ok(d) = c.to_der()
                        && !ca.contains(&d)
                    {
                        ca.push(d);
                    }
                }
                match (key, cert) {
                    (Some(key_pkcs8), Some(certificate)) => {
                        self.record.identity = Some(Identity {
                            key_pkcs8,
                            certificate,
                            ca,
                        });
                        self.event(Event::RecordChanged);
                    }
                    _ => self.event(Event::Warning("SCEP: certificate not storable".into())),
                }
                true
            }
            S::Rejected(fi) => {
                self.event(Event::Warning(format!("SCEP rejected: {fi}")));
                true
            }
            S::Failed(err) => {
                self.event(Event::Warning(format!("SCEP failed: {err}")));
                true
            }
            _ => false,
        };
        if over {
            self.scep = None;
            self.scep_deadline = Instant::MAX;
            if matches!(self.phase, Phase::Scep) {
                self.reach(Stage::Certificate);
                self.start_sip();
            }
        }
    }

    fn start_sip(&mut self) {
        let mut cfg = phone_sip_reg::Config::default();
        let mut warnings = Vec::new();
        for e in self.settings.effective() {
            if SIP_PARAMETERS.contains(&e.name) {
                let v = String::from_utf8_lossy(e.value);
                if let Err(err) = cfg.apply_setting(e.name, &v) {
                    warnings.push(format!("{}: {err}", e.name));
                }
            }
        }
        // The merged controller list of every source (Decision 6).
        let list: Vec<String> = self
            .settings
            .controllers()
            .iter()
            .map(ToString::to_string)
            .collect();
        if let Err(err) = cfg.apply_setting("SIP_CONTROLLER_LIST", &list.join(",")) {
            warnings.push(format!("SIP_CONTROLLER_LIST: {err}"));
        }
        for w in warnings {
            self.event(Event::Warning(w));
        }
        if cfg.controllers.is_empty() {
            self.event(Event::Warning("no SIP controller configured".into()));
            self.display(Screen::RegistrationFailed);
            self.phase = Phase::Halted;
            return;
        }
        if let Some(n) = &self.network {
            cfg.local_host = n.address.to_string();
        }
        cfg.local_port = self.config.sip_port;
        let creds = self
            .config
            .credentials
            .clone()
            .or_else(|| self.record.credentials.clone());
        if cfg.user.is_empty() {
            match creds {
                Some((u, p)) => {
                    cfg.user = u;
                    if cfg.password.is_none() {
                        cfg.password = Some(p);
                    }
                }
                None => {
                    self.sip_config = Some(cfg);
                    self.prompt(Prompt::Extension);
                    return;
                }
            }
        }
        self.launch_sip(cfg);
    }

    fn prompt(&mut self, p: Prompt) {
        self.phase = Phase::Prompt(p);
        self.display(match p {
            Prompt::Extension => Screen::Extension,
            Prompt::Password => Screen::Password,
        });
    }

    fn launch_sip(&mut self, cfg: phone_sip_reg::Config) {
        self.credentials = Some((cfg.user.clone(), cfg.password.clone().unwrap_or_default()));
        let mut c = phone_sip_reg::Client::new(cfg, self.rng.fork());
        c.handle_input(phone_sip_reg::Input::Timeout(self.now));
        self.sip = Some(c);
        self.sip_deadline = self.now;
        self.phase = Phase::Sip;
    }

    fn on_sip_event(&mut self, e: phone_sip_reg::Event) {
        use phone_sip_reg::Event as E;
        match e {
            E::Registering { .. } => self.display(Screen::Registering),
            E::Registered {
                controller,
                expires,
            } => {
                let Some(sip) = self.sip.as_ref() else { return };
                if !matches!(
                    sip.state(controller),
                    Some(phone_sip_reg::RegistrationState::Registered { .. })
                ) {
                    return;
                }
                let Some(target) = sip.config().controllers.get(controller).cloned() else {
                    return;
                };
                let forced = sip.config().credentials_forced;
                let extension = sip.config().user.clone();
                if !forced
                    && self.credentials.is_some()
                    && self.record.credentials != self.credentials
                {
                    self.record.credentials = self.credentials.clone();
                    self.event(Event::RecordChanged);
                }
                self.event(Event::Registered {
                    controller: target,
                    expires,
                });
                self.display(Screen::Idle { extension });
                self.reach(Stage::Registered);
            }
            E::CredentialsRequired { .. } => {
                // Rejected or missing: ask again (display.md rows 16, 17a).
                self.display(Screen::RegistrationFailed);
                if self.record.credentials.take().is_some() {
                    self.event(Event::RecordChanged);
                }
                self.prompt(Prompt::Extension);
            }
            E::RegistrationFailed { .. } => self.display(Screen::RegistrationFailed),
            E::ControllerFailed { controller, cause } => {
                self.event(Event::Warning(format!(
                    "controller {controller}: {cause:?}"
                )));
            }
            E::ActiveController(_) | E::Unregistered { .. } | E::Stopped => {}
        }
    }

    fn on_entry(&mut self, now: Instant, text: &str) {
        match self.phase {
            Phase::Prompt(Prompt::Extension) => {
                self.entered_user = text.trim().to_string();
                self.prompt(Prompt::Password);
            }
            Phase::Prompt(Prompt::Password) => {
                let user = core::mem::take(&mut self.entered_user);
                let password = text.to_string();
                if let Some(sip) = self.sip.as_mut() {
                    self.credentials = Some((user.clone(), password.clone()));
                    sip.handle_input(phone_sip_reg::Input::Credentials {
                        now,
                        user: &user,
                        password: &password,
                    });
                    self.phase = Phase::Sip;
                } else if let Some(mut cfg) = self.sip_config.take() {
                    cfg.user = user;
                    cfg.password = Some(password);
                    self.launch_sip(cfg);
                }
            }
            _ => {}
        }
    }

    fn on_craft(&mut self, cmd: &CraftCommand) {
        if !matches!(self.phase, Phase::Craft) {
            return;
        }
        match cmd {
            CraftCommand::Address(a) => self.record.craft.static_address = *a,
            CraftCommand::Sson(s) => {
                if SsonCode::new(*s).is_some() && (128..=254).contains(s) {
                    self.record.craft.sson = Some(*s);
                }
            }
            CraftCommand::Group(g) => {
                if *g <= 999 {
                    self.record.craft.group = Some(*g);
                }
            }
            CraftCommand::View => {
                let lines = self
                    .settings
                    .effective()
                    .map(|e| {
                        (
                            e.name.to_string(),
                            String::from_utf8_lossy(e.value).into_owned(),
                        )
                    })
                    .collect();
                self.event(Event::View(lines));
                return;
            }
            CraftCommand::Clear => self.record.clear(),
            CraftCommand::Exit => {
                self.phase = Phase::Halted;
                self.event(Event::Restart);
                return;
            }
        }
        self.event(Event::RecordChanged);
        self.display(Screen::Craft);
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, input: Input<'_>) {
        let now = match input {
            Input::Timeout(t)
            | Input::Dhcp(t, _)
            | Input::ArpConflict(t, _)
            | Input::ScepResponse(t, _)
            | Input::ScepFailed(t, _)
            | Input::Program(t)
            | Input::Craft(t, _)
            | Input::Entry(t, _)
            | Input::Sip(
                phone_sip_reg::Input::Timeout(t)
                | phone_sip_reg::Input::Unregister(t)
                | phone_sip_reg::Input::Datagram { now: t, .. }
                | phone_sip_reg::Input::Stream { now: t, .. }
                | phone_sip_reg::Input::TransportError { now: t, .. }
                | phone_sip_reg::Input::Credentials { now: t, .. },
            ) => t,
            Input::File(i) => i.now(),
        };
        if now > self.now {
            self.now = now;
        }
        match input {
            Input::Timeout(t) => {
                if let Some(d) = self.dhcp.as_mut() {
                    d.handle_input(phone_dhcp::Input::Timeout(t));
                }
                if let Phase::Files(f) = &mut self.phase {
                    f.handle_input(phone_sansio::Input::Timeout(t));
                }
                if let Some(s) = self.scep.as_mut() {
                    s.handle_input(phone_scep::Input::Timeout(t));
                }
                if let Some(s) = self.sip.as_mut() {
                    s.handle_input(phone_sip_reg::Input::Timeout(t));
                }
                if let Some(tick) = self.tick
                    && t >= tick
                    && matches!(self.phase, Phase::Network)
                {
                    let secs = t.saturating_duration_since(self.dhcp_started).as_secs();
                    self.display(Screen::Dhcp { secs });
                    self.tick = Some(tick + Duration::from_secs(1));
                }
            }
            Input::Dhcp(t, data) => {
                if let Some(d) = self.dhcp.as_mut() {
                    d.handle_input(phone_dhcp::Input::Receive(t, data));
                }
            }
            Input::ArpConflict(t, a) => {
                if let Some(d) = self.dhcp.as_mut() {
                    d.handle_input(phone_dhcp::Input::ArpConflict(t, a));
                }
            }
            Input::File(i) => {
                if let Phase::Files(f) = &mut self.phase {
                    f.handle_input(i);
                }
            }
            Input::ScepResponse(t, r) => {
                if let Some(s) = self.scep.as_mut() {
                    s.handle_input(phone_scep::Input::Response(t, r));
                }
            }
            Input::ScepFailed(t, e) => {
                if let Some(s) = self.scep.as_mut() {
                    s.handle_input(phone_scep::Input::TransportFailed(t, e));
                }
            }
            Input::Sip(i) => {
                if let Some(s) = self.sip.as_mut() {
                    s.handle_input(i);
                }
            }
            Input::Program(_) => {
                // PROCSTAT=0 lets the Program softkey stop the automatic startup (dhcp.md §9).
                let allowed = self.settings.int("PROCSTAT").unwrap_or(0) == 0;
                if allowed && !self.reached.contains(&Stage::Registered) {
                    self.dhcp = None;
                    self.scep = None;
                    self.sip = None;
                    self.tick = None;
                    self.phase = Phase::Craft;
                    self.display(Screen::Craft);
                }
            }
            Input::Craft(_, cmd) => self.on_craft(cmd),
            Input::Entry(t, text) => self.on_entry(t, text),
        }
    }

    /// The next output; drain until [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        loop {
            if let Some(o) = self.out.pop_front() {
                return o;
            }
            if !self.pump() {
                break;
            }
        }
        let mut t = Instant::MAX;
        if let Some(d) = self.dhcp.as_ref() {
            t = t.min(d.deadline());
        }
        if let Phase::Files(f) = &self.phase {
            t = t.min(f.poll_timeout().unwrap_or(Instant::MAX));
        }
        if self.scep.is_some() {
            t = t.min(self.scep_deadline);
        }
        if self.sip.is_some() {
            t = t.min(self.sip_deadline);
        }
        if let (Some(tick), Phase::Network) = (self.tick, &self.phase) {
            t = t.min(tick);
        }
        Output::Timeout(t)
    }

    /// Drains the stage machines into the queue; `true` when something was queued.
    fn pump(&mut self) -> bool {
        let before = self.out.len();
        // DHCP runs for the whole uptime (renewals).
        let mut dhcp_events = Vec::new();
        if let Some(d) = self.dhcp.as_mut() {
            loop {
                match d.poll_output() {
                    phone_dhcp::Output::Transmit(t) => {
                        self.out.push_back(Output::Transmit(Transmit::Dhcp {
                            payload: t.payload.to_vec(),
                            destination: t.destination,
                            source: t.source,
                        }));
                    }
                    phone_dhcp::Output::Arp(a) => {
                        self.out.push_back(Output::Transmit(Transmit::Arp(a)));
                    }
                    phone_dhcp::Output::Event(e) => dhcp_events.push(e),
                    phone_dhcp::Output::Timeout(_) => break,
                }
            }
        }
        for e in dhcp_events {
            self.on_dhcp_event(e);
        }
        if let Phase::Files(f) = &mut self.phase {
            // One output per pump: a transmit is forwarded when the caller polls.
            #[allow(clippy::never_loop)]
            loop {
                match f.poll_output() {
                    phone_sansio::Output::Transmit(files::Transmit::Http(t)) => {
                        self.out.push_back(Output::Transmit(Transmit::File(t)));
                        break;
                    }
                    phone_sansio::Output::Transmit(files::Transmit::Flash(op)) => {
                        self.out.push_back(Output::Transmit(Transmit::Flash(op)));
                        break;
                    }
                    phone_sansio::Output::Event(files::Event::Display(e)) => {
                        self.out
                            .push_back(Output::Event(Event::Display(Screen::File(e))));
                        break;
                    }
                    phone_sansio::Output::Event(files::Event::Warning(w)) => {
                        self.out
                            .push_back(Output::Event(Event::Warning(w.to_string())));
                        break;
                    }
                    phone_sansio::Output::Event(files::Event::Done(result)) => {
                        self.files_done(*result);
                        break;
                    }
                    phone_sansio::Output::Timeout(_) => break,
                }
            }
        }
        let mut scep_events = Vec::new();
        if let Some(s) = self.scep.as_mut() {
            loop {
                match s.poll_output() {
                    phone_scep::Output::Transmit(r) => {
                        self.out.push_back(Output::Transmit(Transmit::Scep(r)));
                    }
                    phone_scep::Output::Event(e) => scep_events.push(e),
                    phone_scep::Output::Timeout(t) => {
                        self.scep_deadline = t;
                        break;
                    }
                }
            }
        }
        for e in scep_events {
            self.on_scep_event(e);
        }
        let mut sip_events = Vec::new();
        if let Some(s) = self.sip.as_mut() {
            loop {
                match s.poll_output() {
                    phone_sip_reg::Output::Transmit(t) => {
                        self.out.push_back(Output::Transmit(Transmit::Sip(t)));
                    }
                    phone_sip_reg::Output::Event(e) => sip_events.push(e),
                    phone_sip_reg::Output::Timeout(t) => {
                        self.sip_deadline = t;
                        break;
                    }
                }
            }
        }
        for e in sip_events {
            self.on_sip_event(e);
        }
        self.out.len() > before
    }
}
