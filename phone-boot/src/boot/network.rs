//! The network phase (dhcp.md, Decision 6): the DHCP client — or the craft static address,
//! which skips DHCP (dhcp.md §9) — the `DHCP: s secs` counter, and the network layers of the
//! settings (DHCP standard options, option 43, SSON, `--set`, craft GROUP).

use alloc::string::ToString;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_dhcp::client::{Vlan, default_parameter_request_list};
use phone_dhcp::{PreviousLease, SsonCode, VendorOptions};
use phone_sansio::Instant;
use phone_settings::{Source, Store};
use rand_core::{CryptoRng, SeedableRng};

use super::display::Screen;
use super::warning::Warning;
use super::{Boot, Event, Network, Stage, Step};
use crate::files::warning::clean_setting;

/// The DHCP client and what the network gave this boot.
pub(super) struct NetworkPhase<R> {
    /// The DHCP client; it runs for the whole uptime (renewals). `None` with a static address
    /// and in craft access.
    pub(super) dhcp: Option<phone_dhcp::Client<R>>,
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
            self.network.configured = Some(net.clone());
            self.event(Event::Configure(net));
            self.reach(Stage::Network);
            self.start_files();
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
        let previous = self.record.lease_address.map(PreviousLease::new);
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
            D::Renewed | D::Rebound | D::RouterInUse(_) => {}
            D::Deconfigure(reason) => {
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
        if self.record.lease_address != Some(lease.address) {
            self.record.lease_address = Some(lease.address);
            self.event(Event::RecordChanged);
        }
        self.reach(Stage::Network);
        if self.step == Step::Network {
            self.start_files();
        }
    }
}
