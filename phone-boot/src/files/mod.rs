//! The file stage as one Sans-IO machine (files.md, Decision 4): the server walk, the upgrade
//! script and what it chains to, LANGUAGES, TRUSTCERTS, then the software decision, download
//! and flash. It speaks [`phone_sansio::Machine`].
//!
//! By concern: [`server`] (which servers, URLs, back-off) and the walk (`walk`), the script
//! glue (`script`), the software hand-off to the [`Flasher`] (`software`), one GET and
//! its bounds (`fetch`), the prompt-line messages ([`display`]) and the log's typed
//! warnings ([`warning`]).
//!
//! Transmits are [`Transmit::Http`] — one `phone_http` connection at a time, the caller
//! connects (TCP, and TLS for HTTPS with the trust anchors and `Tls::check_identity` =
//! TLSSRVRID), writes, closes, and reports on [`Peer::Conn`] — and [`Transmit::Flash`], one
//! flash operation at a time, reported on [`Peer::Flash`]. The stage ends with
//! [`Event::Done`]; after it the stage asks for nothing.
//!
//! Order (files.md §8 "Order"): the upgrade script named by SIG from the first candidate server
//! that answers, run by the interpreter (its GETs fetch the settings file and what it chains
//! to), then LANGUAGES, then TRUSTCERTS, then the software decision. A server that answers is
//! kept for the rest of the stage (TLSUSED/HTTPUSED). Software comes over HTTP only, or over
//! HTTPS only with AUTH=1 (Decision 4).
//!
//! Bounds (issue 12): GETs attempted per boot, obtained or not ([`StageConfig::max_gets`]),
//! GETs per host ([`StageConfig::max_gets_per_host`]), warnings in count
//! ([`StageConfig::max_warnings`]) and in bytes ([`warning::MAX_TEXT`]).

pub mod display;
mod fetch;
mod script;
pub mod server;
mod software;
#[cfg(test)]
mod tests;
pub mod trust;
mod walk;
pub mod warning;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::fmt;
use core::time::Duration;

use phone_http::{ConnId, HttpLimits};
use phone_sansio::{Input, Instant, Machine, Output};
use phone_settings::Store;
use phone_upgrade_script::{Limits, Run};
use rand_core::Rng;

use crate::firmware::{FirmwareKey, ImageHeader, Rejected};
use crate::flash::{BootRecord, FlashConfig, FlashEvent, FlashOp, Flasher, Slot};
use display::DisplayEvent;
use fetch::{Fetch, Gets, Purpose};
pub use server::{Scheme, Server, upgrade_script_name};
use warning::{FetchError, FileWarning};

/// Who a transport fact is about: a `phone_http` connection, or the flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A file-server connection (the `conn` of a [`Transmit::Http`]).
    Conn(ConnId),
    /// The flash channel ([`Transmit::Flash`]).
    Flash,
}

/// What the caller carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Connect, write, start TLS or close a file-server connection.
    Http(phone_http::Transmit),
    /// Carry out a flash operation, then report `Completed`/`TransportFailed` on
    /// [`Peer::Flash`].
    Flash(FlashOp),
}

/// What the stage reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Show this on the prompt line (display.md rows 8–13).
    Display(DisplayEvent),
    /// For the log.
    Warning(FileWarning),
    /// The stage is over: the last event.
    Done(Box<StageResult>),
}

/// What happened to the software.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Software {
    /// Nothing to install (names equal, or no APPNAME).
    Unchanged,
    /// The image was written and the switch committed; the phone restarts into `slot`.
    Installed {
        /// The application name.
        name: String,
        /// The slot now active.
        slot: Slot,
        /// The record the commit stored (the new slot active, on trial).
        record: BootRecord,
    },
    /// The image was refused or could not be obtained; the running slot stays.
    Rejected {
        /// The application name.
        name: String,
        /// Why.
        reason: Rejected,
    },
}

/// The result of the file stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageResult {
    /// The settings for the later stages. When no server answered, the store as it was given
    /// (the stored settings, Decision 4).
    pub store: Store,
    /// The server used (TLSUSED / HTTPUSED), `None` when no server answered.
    pub server: Option<Server>,
    /// UPGRADESTAT: 0 = obtained and interpreted, 1 = obtained, not interpreted, 2 = not obtained.
    pub upgrade_stat: u8,
    /// Language files obtained, by their LANGUAGES entry.
    pub languages: Vec<(String, Vec<u8>)>,
    /// Certificate files obtained, by their TRUSTCERTS entry (PEM; the caller keeps them).
    pub certificates: Vec<(String, Vec<u8>)>,
    /// The software outcome.
    pub software: Software,
    /// GETs attempted (obtained or not).
    pub gets: u32,
    /// Warnings not emitted past [`StageConfig::max_warnings`].
    pub warnings_dropped: u32,
}

/// The phone's identity and the stage's limits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StageConfig {
    /// MODEL, e.g. `9611G`.
    pub model: String,
    /// The MAC address.
    pub mac: [u8; 6],
    /// SERIALNO.
    pub serial: String,
    /// The boot record (the running application is its active slot's app).
    pub record: BootRecord,
    /// The firmware key the phone trusts; `None` refuses every image.
    pub firmware_key: Option<FirmwareKey>,
    /// Limits for scripts, settings, language and certificate files.
    pub http: HttpLimits,
    /// Time allowed for one firmware image download.
    pub image_timeout: Duration,
    /// Largest firmware image.
    pub max_image: usize,
    /// Tries of one image download (a cut download is retried after a back-off).
    pub image_attempts: u32,
    /// Walks of the whole server list before giving up (files.md §3 step 4).
    pub walk_rounds: u32,
    /// First back-off between walks; doubles each round, jittered to 50–100 %.
    pub backoff_initial: Duration,
    /// Largest back-off.
    pub backoff_max: Duration,
    /// Most LANGUAGES / TRUSTCERTS entries fetched (MAX_TRUSTCERTS is at most 10).
    pub max_list_files: usize,
    /// Most GETs attempted in one stage, obtained or not (issue 12).
    pub max_gets: u32,
    /// Most GETs to one host in one stage (issue 12: a script naming `http://victim/` in a
    /// loop).
    pub max_gets_per_host: u32,
    /// Most warnings emitted; the rest are counted in [`StageResult::warnings_dropped`].
    pub max_warnings: u32,
    /// Flash settings.
    pub flash: FlashConfig,
    /// Bounds of the script run.
    pub script: Limits,
}

impl StageConfig {
    /// A configuration with the project's defaults.
    #[must_use]
    pub fn new(model: &str, mac: [u8; 6], serial: &str, record: BootRecord) -> Self {
        StageConfig {
            model: model.into(),
            mac,
            serial: serial.into(),
            record,
            firmware_key: None,
            http: HttpLimits::default(),
            image_timeout: Duration::from_secs(600),
            max_image: 128 * 1024 * 1024,
            image_attempts: 5,
            walk_rounds: 3,
            backoff_initial: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
            max_list_files: 10,
            max_gets: 128,
            max_gets_per_host: 48,
            max_warnings: 64,
            flash: FlashConfig::default(),
            script: Limits::default(),
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// Fetching the upgrade script from `candidates[index]` in walk `round`.
    Walk { index: usize, round: u32 },
    /// Waiting before the next walk.
    Backoff { until: Instant, round: u32 },
    /// Running the script chain.
    Script,
    /// Fetching LANGUAGES entries.
    Languages,
    /// Fetching TRUSTCERTS entries.
    Certs,
    /// Fetching `name.sig` from `servers[index]`.
    Sig {
        name: String,
        servers: Vec<Server>,
        index: usize,
    },
    /// Downloading the image from `server`.
    Image {
        name: String,
        server: Server,
        header: Box<ImageHeader>,
    },
    /// Waiting before the next image attempt.
    ImageBackoff {
        name: String,
        server: Server,
        header: Box<ImageHeader>,
        attempt: u32,
        until: Instant,
    },
    /// Writing flash.
    Flashing { name: String, flasher: Box<Flasher> },
    /// Over.
    Finished,
}

/// The file stage machine. See the module docs.
pub struct FileStage<R: Rng> {
    config: StageConfig,
    rng: R,
    now: Instant,
    store: Store,
    /// The store as given, returned when no server answers.
    stored: Store,
    candidates: Vec<Server>,
    server: Option<Server>,
    phase: Phase,
    fetch: Option<Fetch>,
    gets: Gets,
    events: VecDeque<Event>,
    run: Option<Run>,
    upgrade_stat: u8,
    warnings: u32,
    warnings_dropped: u32,
    budget_reported: bool,
    /// RFSNAME to fetch once the application image is verified (files.md §8).
    rfs_pending: Option<String>,
    /// The verified application image, waiting for its RFS.
    app_image: Option<crate::flash::VerifiedImage>,
    languages: Vec<(String, Vec<u8>)>,
    lang_list: Vec<String>,
    certificates: Vec<(String, Vec<u8>)>,
    cert_list: Vec<String>,
    list_index: usize,
    auth_lock: bool,
}

impl<R: Rng> fmt::Debug for FileStage<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStage")
            .field("phase", &self.phase)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// A file the stage obtained.
struct Obtained {
    body: Vec<u8>,
}

impl<R: Rng> FileStage<R> {
    /// Starts the stage at `now` with the settings known so far (stored settings, DHCP, SSON,
    /// craft) and a caller-supplied RNG for the back-off jitter. The first GET is planned; it
    /// starts when the caller polls.
    pub fn new(config: StageConfig, store: Store, rng: R, now: Instant) -> Self {
        let candidates = server::candidates(&store);
        let auth_lock = store.flag("AUTH") == Some(true);
        let mut stage = FileStage {
            config,
            rng,
            now,
            stored: store.clone(),
            store,
            candidates,
            server: None,
            phase: Phase::Finished,
            fetch: None,
            gets: Gets::default(),
            events: VecDeque::new(),
            run: None,
            upgrade_stat: 2,
            warnings: 0,
            warnings_dropped: 0,
            budget_reported: false,
            rfs_pending: None,
            app_image: None,
            languages: Vec::new(),
            lang_list: Vec::new(),
            certificates: Vec::new(),
            cert_list: Vec::new(),
            list_index: 0,
            auth_lock,
        };
        stage.start_walk(0);
        stage
    }

    /// The settings as they stand now.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The server chosen by the walk, once one answered.
    #[must_use]
    pub fn server(&self) -> Option<&Server> {
        self.server.as_ref()
    }

    /// GETs started so far (obtained or not).
    #[must_use]
    pub fn gets(&self) -> u32 {
        self.gets.started
    }

    /// True once the stage is over ([`Event::Done`] may not have been polled yet).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished) && self.fetch.is_none()
    }

    /// The flasher, while the image is being written.
    #[must_use]
    pub fn flasher(&self) -> Option<&Flasher> {
        match &self.phase {
            Phase::Flashing { flasher, .. } => Some(flasher),
            _ => None,
        }
    }

    fn warn(&mut self, w: FileWarning) {
        if self.warnings < self.config.max_warnings {
            self.warnings += 1;
            self.events.push_back(Event::Warning(w));
        } else {
            self.warnings_dropped = self.warnings_dropped.saturating_add(1);
        }
    }

    /// Plans a GET of `path` on `server`; `Err` when a bound forbids it (reported once).
    fn plan(
        &mut self,
        server: &Server,
        path: &str,
        name: &str,
        purpose: Purpose,
        limits: HttpLimits,
    ) -> Result<(), FetchError> {
        if let Err(e) = self.gets.check(&self.config, &server.host) {
            if !self.budget_reported {
                self.budget_reported = true;
                self.warn(FileWarning::Get {
                    kind: purpose.kind(),
                    uri: warning::uri(server, path),
                    error: e.clone(),
                });
            }
            return Err(e);
        }
        self.fetch = Some(Gets::plan(server, path, name, purpose, limits));
        Ok(())
    }

    /// Plans the GET of a stage file (script GET, language, certificate): from the chosen
    /// server, or from the URL the entry names (files.md §2). `false` when nothing was planned
    /// (a bad URL, no server, a bound): the caller moves on at once.
    fn plan_entry(&mut self, entry: &str, purpose: Purpose) -> bool {
        let (server, path) = match server::entry_url(entry) {
            Some(Ok(sp)) => sp,
            Some(Err(error)) => {
                self.warn(FileWarning::BadUrl {
                    kind: purpose.kind(),
                    entry: warning::truncated(entry),
                    error,
                });
                return false;
            }
            None => match &self.server {
                Some(s) => (s.clone(), s.path_of(entry)),
                None => return false,
            },
        };
        let limits = self.config.http.clone();
        self.plan(&server, &path, entry, purpose, limits).is_ok()
    }

    fn finish_no_server(&mut self) {
        self.phase = Phase::Finished;
        self.warn(FileWarning::NoServerAnswered);
        let result = StageResult {
            store: self.stored.clone(),
            server: None,
            upgrade_stat: 2,
            languages: Vec::new(),
            certificates: Vec::new(),
            software: Software::Unchanged,
            gets: self.gets.started,
            warnings_dropped: self.warnings_dropped,
        };
        self.events.push_back(Event::Done(Box::new(result)));
    }

    fn finish(&mut self, software: Software) {
        self.phase = Phase::Finished;
        let result = StageResult {
            store: self.store.clone(),
            server: self.server.clone(),
            upgrade_stat: self.upgrade_stat,
            languages: core::mem::take(&mut self.languages),
            certificates: core::mem::take(&mut self.certificates),
            software,
            gets: self.gets.started,
            warnings_dropped: self.warnings_dropped,
        };
        self.events.push_back(Event::Done(Box::new(result)));
    }

    /// A fetch ended: move the stage on.
    fn on_result(&mut self, purpose: Purpose, uri: &str, result: Result<Obtained, FetchError>) {
        if let Err(error) = &result {
            self.warn(FileWarning::Get {
                kind: purpose.kind(),
                uri: uri.into(),
                error: error.clone(),
            });
        }
        let phase = core::mem::replace(&mut self.phase, Phase::Finished);
        match phase {
            Phase::Walk { index, round } => self.walk_result(index, round, result),
            Phase::Script => {
                if let Some(run) = &mut self.run {
                    run.provide_file(result.ok().map(|f| f.body));
                }
                self.phase = Phase::Script;
                self.step_script();
            }
            Phase::Languages => {
                if let Ok(f) = result {
                    let name = self.lang_list.get(self.list_index).cloned();
                    self.languages.push((name.unwrap_or_default(), f.body));
                }
                self.list_index += 1;
                self.phase = Phase::Languages;
                self.next_language();
            }
            Phase::Certs => {
                if let Ok(f) = result {
                    let name = self.cert_list.get(self.list_index).cloned();
                    self.certificates.push((name.unwrap_or_default(), f.body));
                }
                self.list_index += 1;
                self.phase = Phase::Certs;
                self.next_cert();
            }
            Phase::Sig {
                name,
                servers,
                index,
            } => self.sig_result(name, servers, index, result),
            Phase::Image {
                name,
                server,
                header,
            } => {
                let attempt = match purpose {
                    Purpose::Image { attempt } => attempt,
                    _ => 1,
                };
                self.image_result(name, server, header, attempt, result);
            }
            other => self.phase = other,
        }
    }

    /// Timers that are due at `self.now`: the walk's and the image's back-off.
    fn fire_timers(&mut self) {
        match &self.phase {
            Phase::Backoff { until, round } if self.now >= *until => {
                let round = *round;
                self.start_walk(round);
            }
            Phase::ImageBackoff { until, .. } if self.now >= *until => {
                if let Phase::ImageBackoff {
                    name,
                    server,
                    header,
                    attempt,
                    ..
                } = core::mem::replace(&mut self.phase, Phase::Finished)
                {
                    self.start_image(name, server, header, attempt);
                }
            }
            _ => {}
        }
    }

    /// Maps a finished exchange to what the stage wants: a 2xx body, or why not.
    fn outcome(outcome: phone_http::Outcome) -> Result<Obtained, FetchError> {
        match outcome {
            phone_http::Outcome::Response(r) if (200..300).contains(&r.status) => {
                Ok(Obtained { body: r.body })
            }
            phone_http::Outcome::Response(r) => Err(FetchError::Status(r.status)),
            phone_http::Outcome::Failed(f) => Err(FetchError::Http(f)),
        }
    }
}

/// An upper bound on the steps one `poll_output` takes internally (each step hands something
/// out or moves the stage on through a finite list).
const MAX_POLL_STEPS: usize = 4096;

impl<R: Rng> Machine for FileStage<R> {
    type Peer = Peer;
    type Command<'a> = Infallible;
    type Transmit = Transmit;
    type Event = Event;

    fn handle_input(&mut self, input: Input<'_, Peer, Infallible>) {
        let now = input.now();
        if now > self.now {
            self.now = now;
        }
        let peer = match input {
            Input::Command(_, c) => match c {},
            Input::Timeout(_) => None,
            Input::Receive(_, p, _)
            | Input::Completed(_, p)
            | Input::Closed(_, p)
            | Input::TransportFailed(_, p) => Some(p),
        };
        match peer {
            None => {
                if let Some(c) = self.fetch.as_mut().and_then(|f| f.client.as_mut()) {
                    c.handle_input(Input::Timeout(now));
                }
                if let Phase::Flashing { flasher, .. } = &mut self.phase {
                    flasher.handle_input(Input::Timeout(now));
                }
            }
            Some(Peer::Conn(conn)) => {
                // The client ignores facts about connections other than its own.
                if let Some(c) = self.fetch.as_mut().and_then(|f| f.client.as_mut()) {
                    c.handle_input(input.map(|_| conn, |c| c));
                }
            }
            Some(Peer::Flash) => {
                if let Phase::Flashing { flasher, .. } = &mut self.phase
                    && !matches!(input, Input::Receive(..))
                {
                    flasher.handle_input(input.map(|_| (), |c| c));
                }
            }
        }
        self.fire_timers();
    }

    fn poll_output(&mut self) -> Output<Transmit, Event> {
        for _ in 0..MAX_POLL_STEPS {
            if let Some(e) = self.events.pop_front() {
                return Output::Event(e);
            }
            if let Some(f) = &mut self.fetch {
                let Some(client) = f.client.as_mut() else {
                    // Start the planned GET now that the caller polls.
                    let check_identity = self.store.flag("TLSSRVRID").unwrap_or(true);
                    let row = self.gets.start(f, check_identity, self.now);
                    return Output::Event(Event::Display(row));
                };
                match client.poll_output() {
                    Output::Transmit(t) => return Output::Transmit(Transmit::Http(t)),
                    Output::Event(phone_http::Event::Progress { received, expected }) => {
                        // `n KB received` for images, only when body bytes arrived (issue 11).
                        if matches!(f.purpose, Purpose::Image { .. }) && received > 0 {
                            let row = DisplayEvent::Received {
                                name: f.name.clone(),
                                kb: received / 1024,
                                total_kb: expected.map(|t| t / 1024),
                            };
                            return Output::Event(Event::Display(row));
                        }
                        continue;
                    }
                    Output::Event(phone_http::Event::Done(outcome)) => {
                        let (purpose, uri) = (f.purpose, core::mem::take(&mut f.uri));
                        self.fetch = None;
                        self.on_result(purpose, &uri, Self::outcome(outcome));
                        continue;
                    }
                    Output::Event(_) => continue,
                    Output::Timeout(_) => break,
                }
            }
            if let Phase::Flashing { flasher, name } = &mut self.phase {
                match flasher.poll_output() {
                    Output::Transmit(op) => return Output::Transmit(Transmit::Flash(op)),
                    Output::Event(FlashEvent::Display(e)) => {
                        return Output::Event(Event::Display(e));
                    }
                    Output::Event(FlashEvent::Done(result)) => {
                        let name = core::mem::take(name);
                        let record = flasher.new_record();
                        let software = match result {
                            Ok(slot) => Software::Installed { name, slot, record },
                            Err(reason) => Software::Rejected { name, reason },
                        };
                        self.finish(software);
                        continue;
                    }
                    Output::Timeout(_) => break,
                }
            }
            break;
        }
        Output::Timeout(self.poll_timeout().unwrap_or(Instant::MAX))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.events.is_empty() {
            return Some(self.now);
        }
        let mut t: Option<Instant> = None;
        let mut at = |d: Option<Instant>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |t| t.min(d)));
            }
        };
        if let Some(f) = &self.fetch {
            at(match &f.client {
                // A planned GET starts on the next poll.
                None => Some(self.now),
                Some(c) => c.poll_timeout(),
            });
        }
        match &self.phase {
            Phase::Backoff { until, .. } | Phase::ImageBackoff { until, .. } => at(Some(*until)),
            Phase::Flashing { flasher, .. } => at(flasher.poll_timeout()),
            _ => {}
        }
        t.map(|d| d.max(self.now))
    }
}
