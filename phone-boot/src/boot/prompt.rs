//! What the user does at the phone: the login prompts (`Extension:`, `Password:`, display.md
//! row 16) and craft access (the Program softkey and its entries, dhcp.md §9).

use alloc::string::{String, ToString};

use phone_dhcp::SsonCode;
use rand_core::{CryptoRng, SeedableRng};

use super::display::Screen;
use super::record::StaticAddress;
use super::{Boot, Event, Stage, Step};

/// A prompt the boot shows and waits on ([`super::Boot::prompt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// `Extension:`.
    Extension,
    /// `Password:` (the caller masks what is typed).
    Password,
}

/// A craft-access entry (dhcp.md §9), while [`Screen::Craft`] is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The credentials being entered or used.
#[derive(Debug, Default)]
pub(super) struct Login {
    /// The SIP configuration waiting for credentials (no client yet).
    pub(super) pending: Option<phone_sip_reg::Config>,
    /// The extension typed at `Extension:`.
    entered_user: String,
    /// The credentials the client uses (stored in the record once registered).
    pub(super) credentials: Option<(String, String)>,
}

impl<R: CryptoRng + SeedableRng> Boot<R> {
    pub(super) fn show_prompt(&mut self, p: Prompt) {
        self.step = Step::Prompt(p);
        self.display(match p {
            Prompt::Extension => Screen::Extension,
            Prompt::Password => Screen::Password,
        });
    }

    /// The text typed at the prompt shown.
    pub(super) fn on_entry(&mut self, text: &str) {
        match self.step {
            Step::Prompt(Prompt::Extension) => {
                self.login.entered_user = text.trim().to_string();
                self.show_prompt(Prompt::Password);
            }
            Step::Prompt(Prompt::Password) => {
                let user = core::mem::take(&mut self.login.entered_user);
                let password = text.to_string();
                if let Some(sip) = self.sip.as_mut() {
                    sip.client.handle_input(phone_sansio::Input::Command(
                        self.now,
                        phone_sip_reg::Command::Credentials {
                            user: &user,
                            password: &password,
                        },
                    ));
                    self.login.credentials = Some((user, password));
                    self.step = Step::Sip;
                } else if let Some(mut cfg) = self.login.pending.take() {
                    cfg.user = user;
                    cfg.password = Some(password);
                    self.launch_sip(cfg);
                }
            }
            _ => {}
        }
    }

    /// The Program softkey: with PROCSTAT=0 it stops the automatic startup (dhcp.md §9).
    pub(super) fn on_program(&mut self) {
        let allowed = self.settings.int("PROCSTAT").unwrap_or(0) == 0;
        if allowed && !self.reached.contains(&Stage::Registered) && self.step != Step::Craft {
            self.network.dhcp = None;
            self.files = None;
            self.scep = None;
            self.sip = None;
            self.step = Step::Craft;
            self.display(Screen::Craft);
        }
    }

    pub(super) fn on_craft(&mut self, cmd: CraftCommand) {
        if self.step != Step::Craft {
            return;
        }
        match cmd {
            CraftCommand::Address(a) => self.record.craft.static_address = a,
            CraftCommand::Sson(s) => {
                if SsonCode::new(s).is_some() && (128..=254).contains(&s) {
                    self.record.craft.sson = Some(s);
                }
            }
            CraftCommand::Group(g) => {
                if g <= 999 {
                    self.record.craft.group = Some(g);
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
                self.restart();
                return;
            }
        }
        self.event(Event::RecordChanged);
        self.display(Screen::Craft);
    }
}
