//! Script glue (script.md, files.md §5–§7): run the upgrade script and the files it hands over
//! to with the interpreter, apply its SETs to the store, fetch its GETs, then the LANGUAGES and
//! TRUSTCERTS lists.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use phone_settings::Source;
use phone_upgrade_script::{Run, Step};
use rand_core::Rng;

use super::fetch::Purpose;
use super::warning::{FileWarning, ScriptWarning};
use super::{FileStage, Phase};
use crate::files::server::Scheme;

/// A second guard on the steps of one stepping pass; the run's own bounds (executed lines,
/// bytes scanned) end it long before.
const MAX_STEPS_PER_PASS: u32 = 10_000_000;

impl<R: Rng> FileStage<R> {
    pub(super) fn start_script(&mut self, script: Vec<u8>) {
        // Each boot evaluates the scripts again from defaults (Decision 6); the AUTH lock
        // survives (only CLEAR undoes it, files.md §1).
        self.store.begin_boot();
        if self.auth_lock {
            let _ = self.store.apply_set("AUTH", "1", Source::SettingsFile, 0);
        }
        let running = self
            .config
            .record
            .running()
            .map(|i| i.app.clone())
            .unwrap_or_default();
        self.run = Some(Run::new(
            self.script_name().as_bytes(),
            script,
            running.as_bytes(),
            self.config.script,
        ));
        self.phase = Phase::Script;
        self.step_script();
    }

    fn variables(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut v = BTreeMap::new();
        let model = self.config.model.clone();
        v.insert(b"MODEL4".to_vec(), model.bytes().take(4).collect());
        v.insert(b"MODEL".to_vec(), model.into_bytes());
        v.insert(
            b"MACADDR".to_vec(),
            phone_settings::subst::mac_hex(self.config.mac, false).into_bytes(),
        );
        v.insert(
            b"SERIALNO".to_vec(),
            self.config.serial.clone().into_bytes(),
        );
        v.insert(
            b"SIG".to_vec(),
            self.store.int("SIG").unwrap_or(0).to_string().into_bytes(),
        );
        v.insert(
            b"GROUP".to_vec(),
            self.store
                .int("GROUP")
                .unwrap_or(0)
                .to_string()
                .into_bytes(),
        );
        v.insert(b"SHA2CAPABLE".to_vec(), b"1".to_vec());
        v
    }

    /// Steps the run until it needs a file that is being fetched, or ends.
    pub(super) fn step_script(&mut self) {
        let vars = self.variables();
        let over_https = self
            .server
            .as_ref()
            .is_some_and(|s| s.scheme == Scheme::Https);
        // The run is taken out while stepping so the stage can plan fetches meanwhile.
        let Some(mut run) = self.run.take() else {
            return;
        };
        for _ in 0..MAX_STEPS_PER_PASS {
            match run.step(&vars) {
                Step::Set(set) => {
                    let name = String::from_utf8_lossy(set.name).into_owned();
                    // AUTH=1 only from a file obtained over HTTPS (files.md §1).
                    if name.eq_ignore_ascii_case("AUTH") && set.value == b"1" && !over_https {
                        let (file, line) = (set.file, set.line);
                        self.warn(FileWarning::AuthNotOverHttps { file, line });
                        continue;
                    }
                    let (value, line) = (set.value.to_vec(), set.line);
                    if let Err(w) = self
                        .store
                        .apply_set(&name, value, Source::SettingsFile, line)
                    {
                        self.warn(FileWarning::set_refused(w));
                    }
                }
                Step::NeedFile { name, .. } => {
                    let name = String::from_utf8_lossy(name).into_owned();
                    if self.plan_entry(&name, Purpose::ScriptGet) {
                        self.run = Some(run);
                        return;
                    }
                    // Not attempted (bad URL, a bound): the GET falls through (Decision 5).
                    run.provide_file(None);
                }
                Step::Finished(result) => {
                    self.upgrade_stat = if result.is_ok() { 0 } else { 1 };
                    if let Err(e) = result {
                        self.warn(FileWarning::ScriptStopped(e));
                    }
                    for w in run.warnings() {
                        self.warn(FileWarning::Script(ScriptWarning::of(w)));
                    }
                    if run.dropped_warnings() > 0 {
                        self.warn(FileWarning::ScriptWarningsDropped(run.dropped_warnings()));
                    }
                    self.lang_list = self.list("LANGUAGES");
                    self.cert_list = self.list("TRUSTCERTS");
                    self.list_index = 0;
                    self.run = Some(run);
                    self.phase = Phase::Languages;
                    self.next_language();
                    return;
                }
            }
        }
        self.run = Some(run);
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.store
            .list(name)
            .into_iter()
            .take(self.config.max_list_files)
            .map(String::from)
            .collect()
    }

    /// Plans the next LANGUAGES entry, or moves on to TRUSTCERTS.
    pub(super) fn next_language(&mut self) {
        while let Some(entry) = self.lang_list.get(self.list_index).cloned() {
            if self.plan_entry(&entry, Purpose::Language) {
                return;
            }
            self.list_index += 1;
        }
        self.list_index = 0;
        self.phase = Phase::Certs;
        self.next_cert();
    }

    /// Plans the next TRUSTCERTS entry, or moves on to the software decision.
    pub(super) fn next_cert(&mut self) {
        while let Some(entry) = self.cert_list.get(self.list_index).cloned() {
            if self.plan_entry(&entry, Purpose::Cert) {
                return;
            }
            self.list_index += 1;
        }
        self.software();
    }
}
