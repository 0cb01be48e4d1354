//! The SIP phase (sip.md): the registration client from the settings and the merged
//! controller list (Decision 6), the credentials (operator, stored, or prompted), and what its
//! events mean for the display and the record.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use rand_core::{CryptoRng, SeedableRng};

use super::display::Screen;
use super::prompt::Prompt;
use super::warning::Warning;
use super::{Boot, Event, Stage, Step};

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

/// The registration client, owned by the boot once registration started.
pub(super) struct SipPhase<R> {
    pub(super) client: phone_sip_reg::Client<R>,
}

impl<R: CryptoRng + SeedableRng> Boot<R> {
    /// Builds the SIP configuration; registers with known credentials or prompts for them.
    pub(super) fn start_sip(&mut self) {
        let mut cfg = phone_sip_reg::Config::default();
        let mut warnings = Vec::new();
        for e in self.settings.effective() {
            if SIP_PARAMETERS.contains(&e.name) {
                let v = String::from_utf8_lossy(e.value);
                if let Err(error) = cfg.apply_setting(e.name, &v) {
                    warnings.push(Warning::SipSetting {
                        name: e.name.into(),
                        error,
                    });
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
        if let Err(error) = cfg.apply_setting("SIP_CONTROLLER_LIST", &list.join(",")) {
            warnings.push(Warning::SipSetting {
                name: "SIP_CONTROLLER_LIST".into(),
                error,
            });
        }
        for w in warnings {
            self.warn(w);
        }
        if cfg.controllers.is_empty() {
            self.warn(Warning::NoController);
            self.display(Screen::RegistrationFailed);
            self.step = Step::Halted;
            return;
        }
        if let Some(n) = &self.network.configured {
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
                    self.login.pending = Some(cfg);
                    self.show_prompt(Prompt::Extension);
                    return;
                }
            }
        }
        self.launch_sip(cfg);
    }

    pub(super) fn launch_sip(&mut self, cfg: phone_sip_reg::Config) {
        // Named controllers expand into their A records first (link.md §3).
        let Some(cfg) = self.expand_controllers(cfg) else {
            return;
        };
        self.login.credentials = Some((cfg.user.clone(), cfg.password.clone().unwrap_or_default()));
        let client = phone_sip_reg::Client::new(cfg, self.rng.fork(), self.now);
        self.sip = Some(SipPhase { client });
        self.step = Step::Sip;
    }

    pub(super) fn on_sip_event(&mut self, e: phone_sip_reg::Event) {
        use phone_sip_reg::Event as E;
        match e {
            E::Registering { .. } => self.display(Screen::Registering),
            E::Registered {
                controller,
                expires,
            } => self.registered(controller, expires),
            E::CredentialsRequired { .. } => {
                // Rejected or missing: ask again (display.md rows 16, 17a).
                self.display(Screen::RegistrationFailed);
                if self.record.credentials.take().is_some() {
                    self.event(Event::RecordChanged);
                }
                self.show_prompt(Prompt::Extension);
            }
            E::RegistrationFailed { .. } => self.display(Screen::RegistrationFailed),
            E::ControllerFailed { controller, cause } => {
                let controller = self
                    .sip
                    .as_ref()
                    .and_then(|s| s.client.config().controllers.get(controller).cloned());
                if let Some(controller) = controller {
                    self.warn(Warning::ControllerFailed { controller, cause });
                }
            }
            _ => {}
        }
    }

    fn registered(&mut self, controller: usize, expires: u32) {
        let Some(sip) = self.sip.as_ref().map(|s| &s.client) else {
            return;
        };
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
            && self.login.credentials.is_some()
            && self.record.credentials != self.login.credentials
        {
            self.record.credentials = self.login.credentials.clone();
            self.event(Event::RecordChanged);
        }
        self.event(Event::Registered {
            controller: target,
            expires,
        });
        self.display(Screen::Idle { extension });
        self.reach(Stage::Registered);
    }
}
