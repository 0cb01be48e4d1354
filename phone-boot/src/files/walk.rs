//! The server walk (files.md §3, Decision 4): GET the upgrade script from each candidate in
//! turn; the first that answers is kept for the boot; when none does, back off (jittered,
//! exponential) and walk again, up to [`super::StageConfig::walk_rounds`] walks; then the
//! stored settings stay.

use rand_core::Rng;

use super::fetch::Purpose;
use super::server::backoff;
use super::warning::{FetchError, FileWarning};
use super::{FileStage, Obtained, Phase};

impl<R: Rng> FileStage<R> {
    pub(super) fn script_name(&self) -> &'static str {
        super::upgrade_script_name(&self.config.model, self.store.int("SIG").unwrap_or(0))
    }

    /// Walk `round` (0-based) from the first candidate.
    pub(super) fn start_walk(&mut self, round: u32) {
        if self.candidates.is_empty() {
            // AUTH=1 with TLSSRVR empty, or no server at all: step 5 at once.
            self.warn(FileWarning::NoServer);
            self.finish_no_server();
            return;
        }
        self.walk_from(0, round);
    }

    /// Plans the upgrade-script GET on `candidates[index..]`, skipping those a bound forbids.
    fn walk_from(&mut self, index: usize, round: u32) {
        let name = self.script_name();
        for i in index..self.candidates.len() {
            let server = self.candidates[i].clone();
            let limits = self.config.http.clone();
            match self.plan(&server, &server.path_of(name), name, Purpose::Walk, limits) {
                Ok(()) => {
                    self.phase = Phase::Walk { index: i, round };
                    return;
                }
                // The GET budget is spent: no later walk can do better.
                Err(FetchError::GetBudget) => {
                    self.finish_no_server();
                    return;
                }
                Err(_) => {}
            }
        }
        self.end_of_walk(round);
    }

    fn end_of_walk(&mut self, round: u32) {
        if round + 1 < self.config.walk_rounds {
            let delay = backoff(
                &mut self.rng,
                self.config.backoff_initial,
                self.config.backoff_max,
                round,
            );
            self.phase = Phase::Backoff {
                until: self.now + delay,
                round: round + 1,
            };
        } else {
            self.finish_no_server();
        }
    }

    pub(super) fn walk_result(
        &mut self,
        index: usize,
        round: u32,
        result: Result<Obtained, FetchError>,
    ) {
        match result {
            Ok(file) => {
                self.server = self.candidates.get(index).cloned();
                self.upgrade_stat = 1;
                self.start_script(file.body);
            }
            Err(_) => self.walk_from(index + 1, round),
        }
    }
}
