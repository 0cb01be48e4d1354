//! Stage 1, the link layer (spec/README.md "Boot sequence" row 1, link.md): what runs on the
//! line interface below IP, from power-on for the whole uptime.
//!
//! **LLDP-MED** (link.md §1, Decisions 6 and 13): the `phone_lldp::Agent` is made at power-on
//! (link-up) from the stored settings (LLDP_ENABLED, LLDP_XMIT_SECS; the last good settings,
//! as for everything else before the file stage) and the phone's identity: Chassis and Port ID
//! = the MAC, System Name = the DHCP host name (Decision 1), the LLDP-MED inventory (model =
//! MODEL, serial = SERIALNO, firmware revision = the running application's name, software
//! revision = this crate, manufacturer [`MANUFACTURER`]), the voice Network Policy of the VLAN
//! DHCP runs on (L2QAUD priority, DSCP 46) and the Management Address once an address is
//! configured. DHCP does not wait for LLDP: with LLDP_ENABLED 2 and no switch speaking it,
//! nothing would ever come.
//!
//! A voice Network Policy from the switch sets L2Q (1 tagged, 2 untagged) and L2QVLAN with
//! source [`Source::Lldp`], which outranks DHCP, option 43, the SSON and the settings file
//! (Decision 6); its withdrawal (TTL 0, expiry, a frame without it) removes them again. A
//! tagged VLAN other than the one DHCP runs on moves DHCP there (dhcp.md §6, "DHCP again on the
//! new VLAN"), at the point of the boot where it is learned:
//! - while DHCP looks for an address (stage 2): at once;
//! - while the file stage runs: at its end, by the stage 5 re-check (the values are laid over
//!   the file stage's result, so the re-check sees them even when the file stage began before
//!   they were learned);
//! - later (SCEP, prompts, registration): at once, the way a lost lease restarts the boot from
//!   DHCP; the SCEP and SIP phases stop and run again on the new address.
//!
//! A withdrawal does not move the phone back: the VLAN in use stays until the next power-on
//! or re-check (the sources do not say; this keeps a call path up when a switch reboots).
//! LLDP-sourced values do not survive a power-on: each boot learns them again.
//!
//! Settings from the file stage that change LLDP_ENABLED or LLDP_XMIT_SECS apply at its end:
//! 0 shuts the agent down (a last frame with TTL 0 when it had sent any), another value or
//! interval starts a new agent.
//!
//! **802.1X** (link.md §2, Decision 14): the `phone_dot1x::Supplicant` is made at power-on
//! next to the LLDP agent, from the stored settings: DOT1XSTAT (0 off, 1 unicast EAPOL only, 2
//! unicast and multicast), DOT1XEAPS (MD5, TLS; PEAP is out of scope and runs as MD5),
//! DOT1XEAPTLSONLYWITHCERT, FORCE_DOT1XID / FORCE_DOT1XPSWD / FORCE_DOT1XID_TLS with
//! `$MACADDR`, `$MACADDR_UPPER`, `$SERIALNO`, `$SERIALNO_UPPER` substituted. EAP-TLS presents
//! the SCEP identity of an earlier boot ([`super::record::Identity`]: certificate and key) and
//! verifies the server against the SCEP CA and the TRUSTCERTS files of the record.
//!
//! DOT1XWAIT=1 holds stage 2: DHCP starts only when the supplicant reports EAP-Success (or no
//! authenticator after maxStart EAPOL-Starts, which IEEE 802.1X-2004 treats as authorized);
//! meanwhile the display shows `802.1X: s secs`, once a second. An EAP-Failure shows
//! `802.1X failed` and DHCP stays held; the supplicant tries again after heldPeriod (60 s).
//! DOT1XWAIT 0 and 2 start DHCP at once; 802.1X completes alongside. Settings of the file
//! stage that change DOT1X* apply at the next power-on.
//!
//! Not done yet: the prompts `802.1X ID:` / `802.1X Password:` when no credentials are set
//! (the supplicant reports [`phone_dot1x::Event::Prompt`], which the boot only logs; the
//! supplicant starts over after authPeriod), and keeping prompt answers in the record.
//! Credentials come from the stored settings only, and never appear in an event, `Debug` or
//! the trace (EAPOL frames carry the MD5 response, a hash, never the password).

use alloc::format;
use alloc::string::ToString;

use alloc::vec::Vec;
use core::time::Duration;

use phone_dot1x::{Substitution, Supplicant};
use phone_lldp::{Agent, AgentConfig, Inventory, Mode, NetworkPolicy, VoicePolicy};
use phone_sansio::{Input, Machine, Output};
use phone_settings::Source;
use rand_core::{CryptoRng, SeedableRng};

use super::display::Screen;
use super::{Boot, Event, Peer, Polled, Step, Transmit, fact};

/// The LLDP-MED inventory's manufacturer (the DHCP vendor class is `ccp.avaya.com`, Decision 1).
pub const MANUFACTURER: &str = "Avaya";
/// The LLDP-MED inventory's software revision: the boot software itself.
pub const SOFTWARE_REVISION: &str = concat!("phone-boot ", env!("CARGO_PKG_VERSION"));

/// The link-layer children and what they gave this boot.
#[derive(Default)]
pub(super) struct LinkPhase {
    /// The LLDP-MED agent; `None` with LLDP_ENABLED 0 (or before power-on completes).
    pub(super) lldp: Option<Agent>,
    /// LLDP_ENABLED and LLDP_XMIT_SECS the agent was made with.
    lldp_params: Option<(Mode, u16)>,
    /// The voice policy in force from LLDP (applied as [`Source::Lldp`]).
    policy: Option<VoicePolicy>,
    /// A VLAN learned while the file stage ran: the stage 5 re-check must run for it even if
    /// it ran this boot already.
    recheck: bool,
    /// The 802.1X supplicant; `None` with DOT1XSTAT 0.
    pub(super) dot1x: Option<Supplicant>,
    /// DOT1XWAIT=1 and 802.1X has not reported success yet: DHCP is held.
    dot1x_hold: bool,
    /// When the supplicant started and the next `802.1X: s secs` row, while DHCP is held.
    dot1x_started: phone_sansio::Instant,
    dot1x_tick: Option<phone_sansio::Instant>,
}

/// Base64 body of every PEM certificate block in `pem`, decoded (DER); bounded by the input.
fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(b) = find(rest, BEGIN) {
        let body = &rest[b + BEGIN.len()..];
        let Some(e) = find(body, END) else { break };
        let text: Vec<u8> = body[..e]
            .iter()
            .copied()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&text) {
            out.push(der);
        }
        rest = &body[e + END.len()..];
    }
    out
}

/// LLDP_ENABLED and LLDP_XMIT_SECS in `settings` (defaults 2 and 30).
fn lldp_params(settings: &phone_settings::Store) -> (Mode, u16) {
    let mode = settings
        .int("LLDP_ENABLED")
        .and_then(|v| u8::try_from(v).ok())
        .and_then(Mode::from_value)
        .unwrap_or_default();
    let secs = settings
        .int("LLDP_XMIT_SECS")
        .and_then(|v| u16::try_from(v).ok())
        .unwrap_or(30);
    (mode, secs)
}

/// Lays the LLDP values (L2Q, L2QVLAN) over `store`, or removes them.
fn apply_lldp(policy: Option<VoicePolicy>, store: &mut phone_settings::Store) {
    match policy {
        Some(p) => {
            let _ = store.apply_set("L2Q", format!("{}", p.l2q()), Source::Lldp, 0);
            let _ = store.apply_set("L2QVLAN", format!("{}", p.vlan), Source::Lldp, 0);
        }
        None => {
            store.unset("L2Q", Source::Lldp);
            store.unset("L2QVLAN", Source::Lldp);
        }
    }
}

impl<R: CryptoRng + SeedableRng> Boot<R> {
    /// Link-up at power-on: LLDP values of an earlier boot are dropped (they are learned
    /// again), and the agent and the supplicant start as the stored settings say.
    pub(super) fn start_link(&mut self) {
        apply_lldp(None, &mut self.settings);
        self.start_lldp();
        self.start_dot1x();
    }

    /// Whether stage 1 holds DHCP back (DOT1XWAIT=1 until EAP-Success).
    pub(super) fn link_holds_network(&self) -> bool {
        self.link.dot1x_hold
    }

    /// The supplicant's configuration from the settings in force and the record.
    fn dot1x_config(&self) -> phone_dot1x::Config {
        let files = &self.config.files;
        let s = &self.settings;
        let mut c = phone_dot1x::Config::new(files.mac);
        c.mode = s
            .int("DOT1XSTAT")
            .and_then(|v| u8::try_from(v).ok())
            .and_then(phone_dot1x::Mode::from_setting)
            .unwrap_or_default();
        c.method = match s.str("DOT1XEAPS") {
            Some(m) if m.eq_ignore_ascii_case("TLS") => phone_dot1x::Method::Tls,
            _ => phone_dot1x::Method::Md5,
        };
        c.tls_only_with_cert = s.int("DOT1XEAPTLSONLYWITHCERT") != Some(0);
        let with = Substitution {
            mac: files.mac,
            serial: files.serial.clone(),
        };
        let text = |name: &str| {
            s.str(name)
                .filter(|v| !v.is_empty())
                .map(|v| phone_dot1x::substitute(v, &with))
        };
        c.identity = text("FORCE_DOT1XID");
        c.password = text("FORCE_DOT1XPSWD").map(phone_dot1x::Secret::new);
        if let Some(id) = text("FORCE_DOT1XID_TLS") {
            c.tls_identity = id;
        }
        let mut tls = phone_dot1x::TlsConfig {
            unix_time_at_origin: self.config.unix_at_zero.as_secs(),
            ..phone_dot1x::TlsConfig::default()
        };
        if let Some(id) = &self.record.identity {
            tls.certificate_chain = alloc::vec![id.certificate.clone()];
            tls.private_key = id.key_pkcs8.clone();
            tls.trusted.extend(id.ca.iter().cloned());
        }
        for (_, pem) in &self.record.trust_certs {
            tls.trusted.extend(pem_certificates(pem));
        }
        if tls.has_identity() || !tls.trusted.is_empty() {
            c.tls = Some(tls);
        }
        c
    }

    /// Makes the supplicant for the settings in force (none with DOT1XSTAT 0); DOT1XWAIT=1
    /// holds DHCP until it reports.
    fn start_dot1x(&mut self) {
        let cfg = self.dot1x_config();
        if cfg.mode == phone_dot1x::Mode::Off {
            self.link.dot1x = None;
            self.link.dot1x_hold = false;
            return;
        }
        self.link.dot1x_hold = self.settings.int("DOT1XWAIT") == Some(1);
        self.link.dot1x_started = self.now;
        self.link.dot1x_tick = self.link.dot1x_hold.then_some(self.now);
        self.link.dot1x = Some(Supplicant::new(cfg, self.now));
    }

    /// An EAPOL fact (`Peer::Eapol`).
    pub(super) fn route_eapol(
        &mut self,
        input: Input<'_, Peer, super::Command<'_>>,
        link: phone_dot1x::Link,
    ) {
        if let Some(s) = self.link.dot1x.as_mut() {
            s.handle_input(fact(input, link));
        }
    }

    /// The supplicant's next frame (taken now) or event, and the `802.1X: s secs` row while
    /// DHCP is held.
    fn poll_dot1x(&mut self) -> Polled {
        if self.link.dot1x_hold
            && let Some(tick) = self.link.dot1x_tick
            && self.now >= tick
        {
            let secs = self
                .now
                .saturating_duration_since(self.link.dot1x_started)
                .as_secs();
            self.link.dot1x_tick = Some(
                self.link
                    .dot1x_started
                    .saturating_add(Duration::from_secs(secs.saturating_add(1))),
            );
            self.display(Screen::Dot1x { secs });
            return Polled::Handled;
        }
        let Some(s) = self.link.dot1x.as_mut() else {
            return Polled::Idle;
        };
        match s.poll_output() {
            Output::Transmit(t) => Polled::Transmit(Transmit::Eapol(t)),
            Output::Event(e) => {
                self.on_dot1x_event(e);
                Polled::Handled
            }
            Output::Timeout(_) => Polled::Idle,
        }
    }

    fn on_dot1x_event(&mut self, e: phone_dot1x::Event) {
        match &e {
            phone_dot1x::Event::Authorized { .. } | phone_dot1x::Event::NoAuthenticator => {
                self.event(Event::Dot1x(e));
                if core::mem::take(&mut self.link.dot1x_hold) {
                    self.link.dot1x_tick = None;
                    self.start_network();
                }
            }
            phone_dot1x::Event::Failed => {
                self.display(Screen::Dot1xFailed);
                self.event(Event::Dot1x(e));
            }
            _ => self.event(Event::Dot1x(e)),
        }
    }

    /// Makes the agent for the settings in force (none with LLDP_ENABLED 0).
    fn start_lldp(&mut self) {
        let (mode, secs) = lldp_params(&self.settings);
        self.link.lldp_params = Some((mode, secs));
        self.link.lldp =
            (mode != Mode::Off).then(|| Agent::new(self.lldp_config(mode, secs), self.now));
    }

    /// What the phone says about itself in LLDP (Decision 13).
    fn lldp_config(&self, mode: Mode, secs: u16) -> AgentConfig {
        let files = &self.config.files;
        let mut c = AgentConfig::for_mac(files.mac).with_xmit_secs(secs);
        c.mode = mode;
        c.system_name = self
            .config
            .dhcp
            .as_ref()
            .and_then(|d| d.host_name.clone())
            .unwrap_or_else(|| phone_dhcp::host_name(files.mac));
        let running = self
            .record
            .slots
            .as_ref()
            .and_then(|s| s.running())
            .map(|s| s.app.clone())
            .filter(|a| !a.is_empty());
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        c.inventory = Inventory {
            firmware_revision: running,
            software_revision: Some(SOFTWARE_REVISION.to_string()),
            serial_number: text(&files.serial),
            manufacturer: Some(MANUFACTURER.to_string()),
            model: text(&files.model),
            ..Inventory::default()
        };
        c.management_address = self.network.configured.as_ref().map(|n| n.address);
        c.voice_policy = self.advertised_policy();
        c
    }

    /// The voice policy the phone advertises: the VLAN DHCP runs on, L2QAUD, DSCP 46.
    fn advertised_policy(&self) -> NetworkPolicy {
        let vlan = self
            .network
            .dhcp
            .as_ref()
            .map_or(phone_dhcp::client::Vlan::Untagged, phone_dhcp::Client::vlan);
        let (tagged, vid) = match vlan {
            phone_dhcp::client::Vlan::Tagged(v) => (true, v),
            phone_dhcp::client::Vlan::PriorityTagged => (true, 0),
            _ => (false, 0),
        };
        let priority = self
            .settings
            .int("L2QAUD")
            .and_then(|v| u8::try_from(v).ok())
            .unwrap_or(phone_lldp::agent::DEFAULT_VOICE_PRIORITY);
        NetworkPolicy::voice(tagged, vid, priority, phone_lldp::agent::DEFAULT_VOICE_DSCP)
    }

    /// Tells the agent what changed since it last heard: the address, the VLAN in use.
    fn sync_lldp(&mut self) {
        let address = self.network.configured.as_ref().map(|n| n.address);
        let policy = self.advertised_policy();
        let now = self.now;
        let Some(a) = self.link.lldp.as_mut() else {
            return;
        };
        if a.config().management_address != address {
            a.handle_input(Input::Command(
                now,
                phone_lldp::Command::ManagementAddress(address),
            ));
        }
        if a.config().voice_policy != policy {
            a.handle_input(Input::Command(
                now,
                phone_lldp::Command::VoicePolicy(policy),
            ));
        }
    }

    /// A link-layer fact (`Peer::Lldp`).
    pub(super) fn route_link(&mut self, input: Input<'_, Peer, super::Command<'_>>) {
        if let Some(a) = self.link.lldp.as_mut() {
            a.handle_input(fact(input, ()));
        }
    }

    /// Time for the link-layer children.
    pub(super) fn link_timeout(&mut self, now: phone_sansio::Instant) {
        if let Some(a) = self.link.lldp.as_mut() {
            a.handle_input(Input::Timeout(now));
        }
        if let Some(s) = self.link.dot1x.as_mut() {
            s.handle_input(Input::Timeout(now));
        }
    }

    /// The link-layer children's earliest deadline.
    pub(super) fn link_deadline(&self) -> Option<phone_sansio::Instant> {
        [
            self.link.lldp.as_ref().and_then(Machine::poll_timeout),
            self.link.dot1x.as_ref().and_then(Machine::poll_timeout),
            self.link.dot1x_tick.filter(|_| self.link.dot1x_hold),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The agent's next frame (taken now, as the caller polls) or event.
    pub(super) fn poll_link(&mut self) -> Polled {
        match self.poll_dot1x() {
            Polled::Idle => {}
            p => return p,
        }
        self.sync_lldp();
        let Some(a) = self.link.lldp.as_mut() else {
            return Polled::Idle;
        };
        match a.poll_output() {
            Output::Transmit(t) => Polled::Transmit(Transmit::Lldp(t)),
            Output::Event(e) => {
                self.on_lldp_event(e);
                Polled::Handled
            }
            Output::Timeout(_) => Polled::Idle,
        }
    }

    fn on_lldp_event(&mut self, e: phone_lldp::Event) {
        match &e {
            phone_lldp::Event::VoicePolicy { .. } => {
                if let Some(p) = e.voice_policy() {
                    self.link.policy = Some(p);
                    self.event(Event::Lldp(e));
                    self.lldp_values_changed();
                    return;
                }
            }
            phone_lldp::Event::PolicyWithdrawn => {
                self.link.policy = None;
                self.event(Event::Lldp(e));
                self.lldp_values_changed();
                return;
            }
            _ => {}
        }
        self.event(Event::Lldp(e));
    }

    /// The LLDP values changed: into the settings, and DHCP onto the new VLAN when the boot
    /// is at a point where it moves (see the module docs).
    fn lldp_values_changed(&mut self) {
        apply_lldp(self.link.policy, &mut self.settings);
        let Some(p) = self.link.policy.filter(|p| p.tagged && p.vlan != 0) else {
            return;
        };
        let Some(d) = self.network.dhcp.as_ref() else {
            return;
        };
        if d.vlan() == phone_dhcp::client::Vlan::Tagged(p.vlan) {
            return;
        }
        match self.step {
            Step::Files => self.link.recheck = true,
            Step::Network => self.move_vlan(p.vlan),
            Step::Scep | Step::Prompt(_) | Step::Sip => {
                self.scep = None;
                self.sip = None;
                self.move_vlan(p.vlan);
            }
            Step::Craft | Step::Halted => {}
        }
    }

    /// DHCP again on `vid` (it releases the lease and reports `Deconfigure`, then `Vlan`).
    fn move_vlan(&mut self, vid: u16) {
        let vlantest = self
            .settings
            .int("VLANTEST")
            .and_then(|v| u16::try_from(v).ok())
            .unwrap_or(60);
        let now = self.now;
        if let Some(d) = self.network.dhcp.as_mut() {
            d.handle_input(Input::Command(
                now,
                phone_dhcp::Command::VoiceVlan {
                    l2q: phone_dhcp::client::L2q::On,
                    l2qvlan: vid,
                    vlantest,
                },
            ));
        }
        self.step = Step::Network;
    }

    /// The file stage's event on its way to the boot: its result gets the LLDP values (learned
    /// before or while it ran), so the stage 5 re-check sees them; then LLDP_ENABLED and
    /// LLDP_XMIT_SECS of the new settings apply.
    pub(super) fn link_files_event(&mut self, mut e: crate::files::Event) -> crate::files::Event {
        if let crate::files::Event::Done(result) = &mut e {
            apply_lldp(self.link.policy, &mut result.store);
            if core::mem::take(&mut self.link.recheck) {
                self.vlan_rechecked = false;
            }
            // The settings the boot goes on with (as `files_done` picks them): this boot's
            // when a file server answered, else the stored ones (Decision 4).
            let params = if result.server.is_none() && self.record.settings.is_some() {
                lldp_params(&self.settings)
            } else {
                lldp_params(&result.store)
            };
            if self.link.lldp_params != Some(params) {
                self.link.lldp_params = Some(params);
                match (self.link.lldp.as_mut(), params.0) {
                    (Some(a), Mode::Off) => {
                        a.handle_input(Input::Command(self.now, phone_lldp::Command::Shutdown));
                    }
                    (_, Mode::Off) => {}
                    (_, mode) => {
                        let cfg = self.lldp_config(mode, params.1);
                        self.link.lldp = Some(Agent::new(cfg, self.now));
                    }
                }
            }
        }
        e
    }

    /// The voice policy LLDP gives now, if any.
    #[must_use]
    pub fn lldp_policy(&self) -> Option<VoicePolicy> {
        self.link.policy
    }

    /// The 802.1X supplicant, while it runs (DOT1XSTAT 1 or 2).
    #[must_use]
    pub fn supplicant(&self) -> Option<&Supplicant> {
        self.link.dot1x.as_ref()
    }

    /// The LLDP agent, while it runs.
    #[must_use]
    pub fn lldp(&self) -> Option<&Agent> {
        self.link.lldp.as_ref()
    }
}
