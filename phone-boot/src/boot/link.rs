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
//! **802.1X** (link.md §2): the supplicant of `phone-dot1x` joins this phase as a second
//! child next to [`LinkPhase::lldp`] (its own `Peer`/`Transmit` variants, EAPOL on the same
//! line interface), and DOT1XWAIT holds [`Boot::start_network`] until it reports.

use alloc::format;
use alloc::string::ToString;

use phone_lldp::{Agent, AgentConfig, Inventory, Mode, NetworkPolicy, VoicePolicy};
use phone_sansio::{Input, Machine, Output};
use phone_settings::Source;
use rand_core::{CryptoRng, SeedableRng};

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
    /// again), and the agent starts as the stored settings say.
    pub(super) fn start_link(&mut self) {
        apply_lldp(None, &mut self.settings);
        self.start_lldp();
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
    }

    /// The link-layer children's earliest deadline.
    pub(super) fn link_deadline(&self) -> Option<phone_sansio::Instant> {
        self.link.lldp.as_ref().and_then(Machine::poll_timeout)
    }

    /// The agent's next frame (taken now, as the caller polls) or event.
    pub(super) fn poll_link(&mut self) -> Polled {
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

    /// The LLDP agent, while it runs.
    #[must_use]
    pub fn lldp(&self) -> Option<&Agent> {
        self.link.lldp.as_ref()
    }
}
