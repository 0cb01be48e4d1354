//! Hand-offs around the file stage (spec/README.md steps 3–5): the settings it starts from,
//! and what its result hands on — the settings of this boot (or the stored ones when no
//! server answered, Decision 4), the TRUSTCERTS files, a flashed slot (restart), the running
//! slot confirmed, and the VLAN re-check (dhcp.md §6).

use alloc::boxed::Box;

use phone_settings::Source;
use rand_core::{CryptoRng, SeedableRng};

use super::display::Screen;
use super::warning::Warning;
use super::{Boot, Event, Stage, Step};
use crate::files::{self, FileStage, Software, trust};

impl<R: CryptoRng + SeedableRng> Boot<R> {
    pub(super) fn start_files(&mut self) {
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
        self.dns.files_restarted();
        let stage = FileStage::new(cfg, store, self.rng.fork(), self.now);
        self.files = Some(Box::new(stage));
        self.step = Step::Files;
    }

    pub(super) fn on_files_event(&mut self, e: files::Event) {
        match e {
            files::Event::Display(d) => self.display(Screen::File(d)),
            files::Event::Warning(w) => self.warn(Warning::Files(w)),
            files::Event::Done(result) => {
                self.files = None;
                self.files_done(*result);
            }
        }
    }

    fn files_done(&mut self, result: files::StageResult) {
        self.keep_trust_certs(&result);
        if result.server.is_some() {
            self.settings = result.store;
            self.record.settings = Some(self.settings.encode());
        } else if self.record.settings.is_some() {
            // No file server: the stored settings of the last good boot, with this boot's
            // network values (Decision 4).
            let mut store = self.settings.clone();
            self.apply_network(&mut store);
            self.settings = store;
        } else {
            self.settings = result.store;
        }
        match result.software {
            Software::Installed { name, slot, record } => {
                self.record.slots = Some(record);
                self.event(Event::Installed { name, slot });
                self.event(Event::RecordChanged);
                self.restart();
                return;
            }
            Software::Rejected { name, reason } => {
                self.warn(Warning::SoftwareRejected { name, reason });
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
        if self.vlan_recheck() {
            return;
        }
        self.start_scep();
    }

    /// This boot's TRUSTCERTS files into the stored ones, at most MAX_TRUSTCERTS certificates
    /// (files.md §7): this boot's first, then the stored ones not obtained again; what is left
    /// out is logged.
    fn keep_trust_certs(&mut self, result: &files::StageResult) {
        let store = if result.server.is_some() {
            &result.store
        } else {
            &self.settings
        };
        let max = store
            .int("MAX_TRUSTCERTS")
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(trust::DEFAULT_MAX_TRUSTCERTS);
        let kept = trust::keep(&self.record.trust_certs, &result.certificates, max);
        let max = max.clamp(
            *trust::MAX_TRUSTCERTS_RANGE.start(),
            *trust::MAX_TRUSTCERTS_RANGE.end(),
        );
        for l in kept.left_out {
            self.warn(Warning::Files(
                files::warning::FileWarning::TrustCertsLimit {
                    name: files::warning::truncated(&l.name),
                    kept: l.kept,
                    dropped: l.dropped,
                    max,
                },
            ));
        }
        self.record.trust_certs = kept.files;
    }

    /// When the settings name another voice VLAN than the one DHCP runs on: move DHCP there
    /// (once per boot) and wait for the new lease. `true` when the move started.
    fn vlan_recheck(&mut self) -> bool {
        let want = self
            .settings
            .int("L2QVLAN")
            .and_then(|v| u16::try_from(v).ok())
            .unwrap_or(0);
        let l2q = self.settings.int("L2Q").unwrap_or(0);
        let vlantest = self
            .settings
            .int("VLANTEST")
            .and_then(|v| u16::try_from(v).ok())
            .unwrap_or(60);
        let Some(d) = self.network.dhcp.as_mut() else {
            return false;
        };
        if self.vlan_rechecked
            || want == 0
            || l2q == 2
            || d.vlan() == phone_dhcp::client::Vlan::Tagged(want)
        {
            return false;
        }
        self.vlan_rechecked = true;
        let l2q = phone_dhcp::client::L2q::from_value(u8::try_from(l2q).unwrap_or(0))
            .unwrap_or(phone_dhcp::client::L2q::Auto);
        d.handle_input(phone_sansio::Input::Command(
            self.now,
            phone_dhcp::Command::VoiceVlan {
                l2q,
                l2qvlan: want,
                vlantest,
            },
        ));
        self.step = Step::Network;
        true
    }
}
