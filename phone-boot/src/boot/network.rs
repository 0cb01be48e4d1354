//! The network phase (dhcp.md, Decision 6): the DHCP client — or the craft static address,
//! which skips DHCP (dhcp.md §9) but is probed first (issue 11 item 3: conflict detection for
//! leases, INIT-REBOOT and static addresses) — the `DHCP: s secs` counter, and the network
//! layers of the settings (DHCP standard options, option 43, SSON, `--set`, craft GROUP).

use alloc::string::ToString;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_dhcp::client::LostReason;
use phone_dhcp::client::{Vlan, default_parameter_request_list};
use phone_dhcp::{Acd, AcdConfig, AcdEvent, PreviousLease, SsonCode, VendorOptions};
use phone_sansio::{Input, Instant, Machine, Output};
use phone_settings::{Source, Store};
use rand_core::{CryptoRng, SeedableRng};

use super::display::Screen;
use super::record::LeaseTerms;
use super::warning::Warning;
use super::{Boot, Event, Network, Peer, Polled, Stage, Step, Transmit, fact};
use crate::files::warning::clean_setting;

/// The DHCP client and what the network gave this boot.
pub(super) struct NetworkPhase<R> {
    /// The DHCP client; it runs for the whole uptime (renewals). `None` with a static address
    /// and in craft access.
    pub(super) dhcp: Option<phone_dhcp::Client<R>>,
    /// The conflict detector of the craft static address: it probes the address before it is
    /// configured, then announces and defends it. `None` with DHCP (the client runs its own),
    /// after a conflict, and in craft access.
    pub(super) acd: Option<Acd>,
    /// The craft static address, waiting for its probe to end.
    pending: Option<Network>,
    /// The address configured, once there is one.
    pub(super) configured: Option<Network>,
    /// When `DHCP: s secs` started counting.
    started: Instant,
    /// The next `DHCP: s secs` tick, while DHCP runs without an address.
    tick: Option<Instant>,
    /// DHCP standard options as parameters (IPADD, NETMASK, ROUTER, ...).
    net_params: Vec<(&'static str, alloc::string::String)>,
    /// Option 43 parameters.
    option43: Vec<(&'static str, Vec<u8>)>,
    /// The SSON string.
    sson: Option<Vec<u8>>,
}

impl<R> NetworkPhase<R> {
    pub(super) fn new(now: Instant) -> Self {
        NetworkPhase {
            dhcp: None,
            acd: None,
            pending: None,
            configured: None,
            started: now,
            tick: None,
            net_params: Vec::new(),
            option43: Vec::new(),
            sson: None,
        }
    }

    /// The `DHCP: s secs` deadline, while it counts.
    pub(super) fn tick_at(&self, counting: bool) -> Option<Instant> {
        self.tick.filter(|_| counting)
    }

    fn restart_counter(&mut self, now: Instant) {
        self.started = now;
        self.tick = Some(now + Duration::from_secs(1));
    }
}

impl<R: CryptoRng + SeedableRng> Boot<R> {
    /// Static address (craft ADDR) or DHCP from INIT-REBOOT (a stored lease) or INIT.
    pub(super) fn start_network(&mut self) {
        self.step = Step::Network;
        if let Some(s) = self.record.craft.static_address {
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
            self.network.net_params = alloc::vec![("IPADD", s.address.to_string())];
            if !s.file_server.is_unspecified() {
                self.network
                    .net_params
                    .push(("HTTPSRVR", s.file_server.to_string()));
            }
            // Probed before it is configured (RFC 5227), with the DHCP client's probe budget.
            let mut acd_cfg = AcdConfig::for_mac(self.config.files.mac);
            if let Some(d) = &self.config.dhcp {
                acd_cfg.probe_budget = d.probe_budget;
            }
            self.network.acd = Some(Acd::new(acd_cfg, s.address, &mut self.rng, self.now));
            self.network.pending = Some(net);
            return;
        }
        let mut cfg = self
            .config
            .dhcp
            .clone()
            .unwrap_or_else(|| phone_dhcp::Config::for_mac(self.config.files.mac));
        if let Some(code) = self.record.craft.sson.and_then(SsonCode::new) {
            cfg.sson = code;
            cfg.parameter_request_list = default_parameter_request_list(code);
        }
        // REUSETIME and DHCPSTD (dhcp.md §7) as the settings kept from the last boot say; the
        // client's defaults (60 s, 0) when no file set them.
        if let Some(v) = self
            .settings
            .int("REUSETIME")
            .and_then(|v| u16::try_from(v).ok())
        {
            cfg.reuse_time = v;
        }
        if let Some(v) = self.settings.flag("DHCPSTD") {
            cfg.dhcpstd = v;
        }
        // INIT-REBOOT with the stored lease: its expiry turned back into this power-on's clock
        // (record.rs, "Time in the record"), so a silent server lets the phone keep it.
        let unix_now = self.unix_now();
        let previous = self
            .record
            .lease_address
            .map(|a| match &self.record.lease_terms {
                Some(t) => t.previous(a, self.now, unix_now),
                None => PreviousLease::new(a),
            });
        let client = phone_dhcp::Client::new(cfg, previous, self.rng.fork(), self.now);
        self.network.dhcp = Some(client);
        self.network.restart_counter(self.now);
        self.display(Screen::Dhcp { secs: 0 });
    }

    /// `DHCP: s secs` once a second while DHCP runs without an address (display.md row 6).
    pub(super) fn tick(&mut self) {
        if self.step != Step::Network {
            return;
        }
        if let Some(tick) = self.network.tick
            && self.now >= tick
        {
            let secs = self
                .now
                .saturating_duration_since(self.network.started)
                .as_secs();
            self.display(Screen::Dhcp { secs });
            // The next whole second after now: one row per input, however late it comes.
            self.network.tick = Some(
                self.network
                    .started
                    .saturating_add(Duration::from_secs(secs.saturating_add(1))),
            );
        }
    }

    /// This boot's network layers (DHCP standard options, option 43, SSON), then the
    /// operator's `--set` values and the craft GROUP (Decision 6).
    pub(super) fn apply_network(&mut self, store: &mut Store) {
        for s in [Source::DhcpStandard, Source::Option43, Source::Sson] {
            store.clear_source(s);
        }
        let mut warnings = Vec::new();
        for (n, v) in &self.network.net_params {
            if let Err(w) = store.apply_set(n, v, Source::DhcpStandard, 0) {
                warnings.push(Warning::Setting(clean_setting(w)));
            }
        }
        for (n, v) in &self.network.option43 {
            if let Err(w) = store.apply_set(n, v, Source::Option43, 0) {
                warnings.push(Warning::Setting(clean_setting(w)));
            }
        }
        if let Some(s) = &self.network.sson {
            warnings.extend(
                store
                    .apply_sson(s)
                    .into_iter()
                    .map(|w| Warning::Setting(clean_setting(w))),
            );
        }
        for (n, v) in &self.config.sets {
            if let Err(w) = store.apply_set(n, v, Source::Sson, 0) {
                warnings.push(Warning::OperatorSetting(clean_setting(w)));
            }
        }
        if let Some(g) = self.record.craft.group
            && let Err(w) = store.apply_set("GROUP", g.to_string(), Source::Craft, 0)
        {
            warnings.push(Warning::Setting(clean_setting(w)));
        }
        for w in warnings {
            self.warn(w);
        }
    }

    pub(super) fn on_dhcp_event(&mut self, e: phone_dhcp::Event) {
        use phone_dhcp::Event as D;
        match e {
            D::Vlan(v) => {
                if let Vlan::Tagged(id) = v {
                    self.display(Screen::VlanId(id));
                }
                self.event(Event::Vlan(v));
            }
            D::Bound => self.bound(),
            D::Renewed | D::Rebound => self.store_lease(),
            D::RouterInUse(_) => {}
            D::Deconfigure(reason) => {
                // The lease is over (expired, refused, given up): nothing of it to keep.
                if self.record.lease_terms.take().is_some() {
                    self.event(Event::RecordChanged);
                }
                self.event(Event::Deconfigure);
                self.warn(Warning::LeaseLost(reason));
                self.network.configured = None;
                if !matches!(self.step, Step::Halted | Step::Craft) {
                    // A new DHCP returns to row 6 (display.md notes); the file stage, if it
                    // ran, starts again once an address is bound.
                    self.files = None;
                    self.step = Step::Network;
                    self.network.restart_counter(self.now);
                    self.display(Screen::Dhcp { secs: 0 });
                }
            }
            D::Conflict(a) => {
                self.display(Screen::AddressConflict);
                self.warn(Warning::AddressConflict(a));
            }
            other => self.warn(Warning::Dhcp(other)),
        }
    }

    /// The static address's conflict detector, while it runs; dropped in craft access (as
    /// the DHCP client is).
    fn static_acd(&mut self) -> Option<&mut Acd> {
        if self.step == Step::Craft {
            self.network.acd = None;
            self.network.pending = None;
        }
        self.network.acd.as_mut()
    }

    /// An ARP fact (`Peer::Dhcp(Link::Arp)`) for the static address's detector.
    pub(super) fn route_arp(&mut self, input: Input<'_, Peer, super::Command<'_>>) {
        if let Some(a) = self.static_acd() {
            a.handle_input(fact(input, ()));
        }
    }

    /// Time for the static address's detector.
    pub(super) fn acd_timeout(&mut self, now: Instant) {
        if let Some(a) = self.static_acd() {
            a.handle_input(Input::Timeout(now));
        }
    }

    /// The detector's deadline, while it runs.
    pub(super) fn acd_deadline(&self) -> Option<Instant> {
        self.network
            .acd
            .as_ref()
            .filter(|_| self.step != Step::Craft)
            .and_then(Machine::poll_timeout)
    }

    /// The detector's next packet (taken now, as the caller polls) or event.
    pub(super) fn poll_acd(&mut self) -> Polled {
        let Some(a) = self.static_acd() else {
            return Polled::Idle;
        };
        match a.poll_output() {
            Output::Transmit(p) => Polled::Transmit(Transmit::Dhcp(phone_dhcp::Transmit::Arp(p))),
            Output::Event(e) => {
                self.on_acd_event(e);
                Polled::Handled
            }
            Output::Timeout(_) => Polled::Idle,
        }
    }

    fn on_acd_event(&mut self, e: AcdEvent) {
        match e {
            AcdEvent::Ready(_) => {
                let Some(net) = self.network.pending.take() else {
                    return;
                };
                self.network.configured = Some(net.clone());
                self.event(Event::Configure(net));
                self.reach(Stage::Network);
                if self.step == Step::Network {
                    self.start_files();
                }
            }
            AcdEvent::Conflict { address, .. } => {
                self.network.acd = None;
                self.network.pending = None;
                self.display(Screen::AddressConflict);
                self.warn(Warning::AddressConflict(address));
            }
            AcdEvent::Defended { address, .. } => {
                self.warn(Warning::Dhcp(phone_dhcp::Event::Defended(address)));
            }
            AcdEvent::ArpUnavailable(a) => {
                self.warn(Warning::Dhcp(phone_dhcp::Event::ArpUnavailable(a)));
            }
            AcdEvent::Lost { address, .. } => {
                self.network.acd = None;
                self.network.configured = None;
                self.event(Event::Deconfigure);
                self.warn(Warning::LeaseLost(LostReason::Conflict));
                self.display(Screen::AddressConflict);
                self.warn(Warning::AddressConflict(address));
                if !matches!(self.step, Step::Halted | Step::Craft) {
                    // No address any more: the file stage, if it runs, stops (as when a lease
                    // is lost); a static address is not retried until the next power-on.
                    self.files = None;
                    self.step = Step::Network;
                }
            }
            _ => {}
        }
    }

    /// Wall-clock time now ([`super::BootConfig::unix_at_zero`] + this power-on's clock).
    pub(super) fn unix_now(&self) -> Duration {
        self.config
            .unix_at_zero
            .saturating_add(self.now.since_origin())
    }

    /// Keeps the lease held now (address and terms) in the record, if it changed.
    fn store_lease(&mut self) {
        let Some(lease) = self.network.dhcp.as_ref().and_then(|d| d.lease()) else {
            return;
        };
        let terms = Some(LeaseTerms::of(lease, self.config.unix_at_zero));
        let address = Some(lease.address);
        if self.record.lease_address != address || self.record.lease_terms != terms {
            self.record.lease_address = address;
            self.record.lease_terms = terms;
            self.event(Event::RecordChanged);
        }
    }

    /// An address is ready: configure it, remember it, and go on to the files.
    fn bound(&mut self) {
        let Some(lease) = self.network.dhcp.as_ref().and_then(|d| d.lease()).cloned() else {
            return;
        };
        self.network.net_params = lease.parameters();
        self.network.option43 = lease
            .vendor_specific
            .as_deref()
            .and_then(|v| VendorOptions::parse(v).ok())
            .map(|o| o.parameters().map(|(n, v)| (n, v.to_vec())).collect())
            .unwrap_or_default();
        self.network.sson = lease.sson.clone();
        let net = Network {
            address: lease.address,
            mask: lease.subnet_mask.unwrap_or(Ipv4Addr::new(255, 255, 255, 0)),
            routers: lease.routers.clone(),
            lease_secs: lease.timers.lease,
        };
        self.network.configured = Some(net.clone());
        self.network.tick = None;
        self.event(Event::Configure(net));
        self.store_lease();
        self.reach(Stage::Network);
        if self.step == Step::Network {
            self.start_files();
        }
    }
}
