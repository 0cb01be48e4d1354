//! The file stage as one Sans-IO machine: server walk, upgrade script, settings, language and
//! certificate files, then the software decision, download and flash (files.md, Decision 4).
//!
//! The caller owns connections (TCP, and TLS for HTTPS, with the trust anchors and the
//! TLSSRVRID check), the flash and the clock. The machine asks for one connection at a time:
//! [`Output::Connect`], then [`Output::Transmit`]s, then [`Output::Close`]; the caller reports
//! [`Input::Connected`] or [`Input::ConnectFailed`] (refused, unreachable, TLS failure such as an
//! untrusted certificate), the bytes it reads, and the end of the stream.
//!
//! Order (files.md §8 "Order"): the upgrade script named by SIG from the first candidate server
//! that answers, run by the interpreter (its GETs fetch the settings file and what it chains
//! to), then LANGUAGES, then TRUSTCERTS, then the software decision. A server that answers is
//! kept for the rest of the stage (TLSUSED/HTTPUSED). Software comes over HTTP only, or over
//! HTTPS only with AUTH=1 (Decision 4).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use phone_settings::{Instant, Source, Store};
use phone_upgrade_script::{Limits, Run, SoftwareNames, Step, decide};
use rand_core::Rng;

use crate::files::display::DisplayEvent;
use crate::firmware::{FirmwareKey, Rejected, SignatureFile};
use crate::flash::{BootRecord, FlashConfig, FlashEvent, FlashOp, Flasher, Slot, VerifiedImage};
use crate::http::{self, Failure, GetRequest, HttpGet, HttpLimits, Outcome};
use phone_sansio::Machine as _;

/// HTTP or HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// Plain HTTP (HTTPSRVR, HTTPPORT, HTTPDIR).
    Http,
    /// HTTPS (TLSSRVR, TLSPORT, TLSDIR).
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A file server as the stage uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// HTTP or HTTPS.
    pub scheme: Scheme,
    /// Name or address as configured.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Directory prefix (no leading or trailing `/`), possibly empty.
    pub dir: String,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl Server {
    /// The path of `file` on this server: `/<dir>/<file>`, or `/<file>` when dir is empty
    /// (files.md §2).
    #[must_use]
    pub fn path_of(&self, file: &str) -> String {
        if self.dir.is_empty() {
            format!("/{file}")
        } else {
            format!("/{}/{file}", self.dir)
        }
    }
}

/// A connection id; inputs about an older connection are ignored.
pub type ConnId = u32;

/// What the caller reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// The clock reached the last [`Output::Timeout`] (early delivery is harmless).
    Timeout(Instant),
    /// The connection is up (for HTTPS: the TLS handshake and the certificate checks passed).
    Connected(Instant, ConnId),
    /// The connection could not be made: refused, unreachable, timed out, TLS failure.
    ConnectFailed(Instant, ConnId),
    /// Bytes read from the connection.
    Received(Instant, ConnId, &'a [u8]),
    /// The server closed the connection.
    Closed(Instant, ConnId),
    /// The connection broke.
    Reset(Instant, ConnId),
    /// The last [`Output::Flash`] operation completed.
    FlashDone(Instant),
    /// The last [`Output::Flash`] operation failed.
    FlashFailed(Instant),
}

/// What the machine asks of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a connection to `server`. For HTTPS, `check_identity` is TLSSRVRID: check the
    /// server's name or address against its certificate (RFC 2818 §3.1), else the chain only.
    Connect {
        /// Id of the new connection.
        conn: ConnId,
        /// Where to connect.
        server: Server,
        /// TLSSRVRID for HTTPS.
        check_identity: bool,
    },
    /// Write bytes to the connection.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Close the connection (the request on it is over).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Carry out a flash operation and report [`Input::FlashDone`]/[`Input::FlashFailed`].
    Flash(FlashOp),
    /// Show this.
    Event(DisplayEvent),
    /// The stage is over.
    Done(Box<StageResult>),
    /// Wait for input or until this instant.
    Timeout(Instant),
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
    /// Warnings from the script run and from SETs the store refused, for the log.
    pub warnings: Vec<String>,
    /// Language files obtained, by their LANGUAGES entry.
    pub languages: Vec<(String, Vec<u8>)>,
    /// Certificate files obtained, by their TRUSTCERTS entry (PEM; the caller keeps them).
    pub certificates: Vec<(String, Vec<u8>)>,
    /// The software outcome.
    pub software: Software,
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
            flash: FlashConfig::default(),
            script: Limits::default(),
        }
    }
}

/// The upgrade script's name for a model and SIG (files.md §4): 96x1 SIP `96x1Supgrade.txt`,
/// 96x1 H.323 (SIG=1) `96x1Hupgrade.txt`, 96x0 `96xxupgrade.txt` (one file, branches on `$SIG`).
#[must_use]
pub fn upgrade_script_name(model: &str, sig: u32) -> &'static str {
    let m = model.as_bytes();
    let is_96x0 = matches!(m, [b'9', b'6', b'1' | b'2' | b'3' | b'4' | b'5', b'0', ..]);
    if is_96x0 {
        "96xxupgrade.txt"
    } else if sig == 1 {
        "96x1Hupgrade.txt"
    } else {
        "96x1Supgrade.txt"
    }
}

/// A LANGUAGES/TRUSTCERTS entry that is a full URL (files.md §2).
fn parse_url(entry: &str) -> Option<(Server, String)> {
    let (scheme, rest) = if let Some(r) = entry.strip_prefix("http://") {
        (Scheme::Http, r)
    } else if let Some(r) = entry.strip_prefix("https://") {
        (Scheme::Https, r)
    } else {
        return None;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        let port = v6[end + 1..].strip_prefix(':');
        (&v6[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => scheme.default_port(),
    };
    if host.is_empty() {
        return None;
    }
    Some((
        Server {
            scheme,
            host: host.into(),
            port,
            dir: String::new(),
        },
        path.into(),
    ))
}

fn trim_dir(dir: &str) -> String {
    dir.trim_matches('/').into()
}

/// Candidates of the server walk (files.md §3 step 1).
fn candidates(store: &Store) -> Vec<Server> {
    let mut out = Vec::new();
    let tls_dir = match store.str("TLSDIR") {
        Some(d) if !d.is_empty() => trim_dir(d),
        _ => trim_dir(store.str("HTTPDIR").unwrap_or("")),
    };
    for host in store.tls_servers() {
        out.push(Server {
            scheme: Scheme::Https,
            host: host.into(),
            port: store.tls_port(),
            dir: tls_dir.clone(),
        });
    }
    if store.flag("AUTH") != Some(true) {
        let dir = trim_dir(store.str("HTTPDIR").unwrap_or(""));
        for host in store.http_servers() {
            out.push(Server {
                scheme: Scheme::Http,
                host: host.into(),
                port: store.http_port(),
                dir: dir.clone(),
            });
        }
    }
    out
}

/// What a fetch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Walk,
    ScriptGet,
    Language(usize),
    Cert(usize),
    Sig,
    Image,
}

#[derive(Debug)]
struct Fetch {
    conn: ConnId,
    purpose: Purpose,
    connected: bool,
    get: HttpGet,
    /// Display name for `n KB received`.
    name: String,
    kb_shown: u64,
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
        header: Box<crate::firmware::ImageHeader>,
        attempt: u32,
    },
    /// Waiting before the next image attempt.
    ImageBackoff {
        name: String,
        server: Server,
        header: Box<crate::firmware::ImageHeader>,
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
    store: Store,
    /// The store as given, returned when no server answers.
    stored: Store,
    candidates: Vec<Server>,
    server: Option<Server>,
    phase: Phase,
    fetch: Option<Fetch>,
    next_conn: ConnId,
    requests: u32,
    queue: VecDeque<Output>,
    run: Option<Run>,
    upgrade_stat: u8,
    warnings: Vec<String>,
    languages: Vec<(String, Vec<u8>)>,
    lang_list: Vec<String>,
    certificates: Vec<(String, Vec<u8>)>,
    cert_list: Vec<String>,
    list_index: usize,
    auth_lock: bool,
    /// A fetch that could not even be started (bad host or path), reported on the next poll.
    failed_start: Option<Outcome>,
}

impl<R: Rng> fmt::Debug for FileStage<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStage")
            .field("phase", &self.phase)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl<R: Rng> FileStage<R> {
    /// Starts the stage at `now` with the settings known so far (stored settings, DHCP, SSON,
    /// craft) and a caller-supplied RNG for the back-off jitter.
    pub fn new(now: Instant, store: Store, config: StageConfig, rng: R) -> Self {
        let candidates = candidates(&store);
        let auth_lock = store.flag("AUTH") == Some(true);
        let mut stage = FileStage {
            config,
            rng,
            stored: store.clone(),
            store,
            candidates,
            server: None,
            phase: Phase::Finished,
            fetch: None,
            next_conn: 0,
            requests: 0,
            queue: VecDeque::new(),
            run: None,
            upgrade_stat: 2,
            warnings: Vec::new(),
            languages: Vec::new(),
            lang_list: Vec::new(),
            certificates: Vec::new(),
            cert_list: Vec::new(),
            list_index: 0,
            auth_lock,
            failed_start: None,
        };
        stage.start_walk(now, 0);
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

    fn busy(&self) -> bool {
        self.fetch.is_some() || self.failed_start.is_some()
    }

    fn script_name(&self) -> &'static str {
        upgrade_script_name(&self.config.model, self.store.int("SIG").unwrap_or(0))
    }

    fn start_walk(&mut self, now: Instant, round: u32) {
        if self.candidates.is_empty() {
            // AUTH=1 with TLSSRVR empty, or no server at all: step 5 at once.
            self.warnings.push("no file server configured".into());
            self.finish_no_server();
            return;
        }
        self.phase = Phase::Walk { index: 0, round };
        let server = self.candidates[0].clone();
        let name = self.script_name();
        self.start_fetch(
            now,
            &server,
            &server.path_of(name),
            name,
            Purpose::Walk,
            self.config.http.clone(),
        );
    }

    fn finish_no_server(&mut self) {
        self.phase = Phase::Finished;
        self.queue.push_back(Output::Done(Box::new(StageResult {
            store: self.stored.clone(),
            server: None,
            upgrade_stat: 2,
            warnings: core::mem::take(&mut self.warnings),
            languages: Vec::new(),
            certificates: Vec::new(),
            software: Software::Unchanged,
        })));
    }

    fn finish(&mut self, software: Software) {
        self.phase = Phase::Finished;
        self.queue.push_back(Output::Done(Box::new(StageResult {
            store: self.store.clone(),
            server: self.server.clone(),
            upgrade_stat: self.upgrade_stat,
            warnings: core::mem::take(&mut self.warnings),
            languages: core::mem::take(&mut self.languages),
            certificates: core::mem::take(&mut self.certificates),
            software,
        })));
    }

    fn start_fetch(
        &mut self,
        now: Instant,
        server: &Server,
        path: &str,
        name: &str,
        purpose: Purpose,
        limits: HttpLimits,
    ) {
        let req = GetRequest {
            host: &server.host,
            port: server.port,
            default_port: server.scheme.default_port(),
            path,
        };
        let get = match HttpGet::new(now, &req, limits) {
            Ok(g) => g,
            Err(e) => {
                // Handled on the next poll, so no stepping happens inside a step.
                self.warnings.push(format!("{server}{path}: {e}"));
                self.failed_start = Some(Outcome::Failed(Failure::Connect));
                return;
            }
        };
        self.next_conn = self.next_conn.wrapping_add(1);
        self.requests = self.requests.saturating_add(1);
        let conn = self.next_conn;
        self.queue.push_back(Output::Event(DisplayEvent::Http {
            n: self.requests,
            uri: format!("{server}{path}"),
        }));
        self.queue.push_back(Output::Connect {
            conn,
            server: server.clone(),
            check_identity: self.store.flag("TLSSRVRID").unwrap_or(true),
        });
        self.fetch = Some(Fetch {
            conn,
            purpose,
            connected: false,
            get,
            name: name.into(),
            kb_shown: 0,
        });
    }

    /// A file of the stage (script, language, certificate) from the chosen server, or from the
    /// URL the entry names.
    fn fetch_file(&mut self, now: Instant, entry: &str, purpose: Purpose) {
        let (server, path) = match parse_url(entry) {
            Some((server, path)) => (server, path),
            None => match &self.server {
                Some(s) => (s.clone(), s.path_of(entry)),
                None => return,
            },
        };
        self.start_fetch(
            now,
            &server,
            &path,
            entry,
            purpose,
            self.config.http.clone(),
        );
    }

    /// Feeds what happened.
    pub fn handle_input(&mut self, input: Input<'_>) {
        match input {
            Input::Timeout(now) => {
                if let Some(f) = &mut self.fetch {
                    f.get.handle_input(http::Input::Timeout(now));
                }
                match &mut self.phase {
                    Phase::Backoff { until, round } if now >= *until => {
                        let round = *round;
                        self.start_walk(now, round);
                    }
                    Phase::ImageBackoff { until, .. } if now >= *until => {
                        if let Phase::ImageBackoff {
                            name,
                            server,
                            header,
                            attempt,
                            ..
                        } = core::mem::replace(&mut self.phase, Phase::Finished)
                        {
                            self.start_image(now, name, server, header, attempt);
                        }
                    }
                    Phase::Flashing { flasher, .. } => {
                        flasher.handle_input(phone_sansio::Input::Timeout(now));
                    }
                    _ => {}
                }
            }
            Input::Connected(_, conn) => {
                if let Some(f) = self.fetch.as_mut().filter(|f| f.conn == conn) {
                    f.connected = true;
                }
            }
            Input::ConnectFailed(now, conn) => {
                if self.fetch.as_ref().is_some_and(|f| f.conn == conn) {
                    self.fetch = None;
                    self.on_result(now, Outcome::Failed(Failure::Connect));
                }
            }
            Input::Received(now, conn, bytes) => {
                self.with_fetch(conn, http::Input::Received(now, bytes));
            }
            Input::Closed(now, conn) => self.with_fetch(conn, http::Input::Closed(now)),
            Input::Reset(now, conn) => self.with_fetch(conn, http::Input::Reset(now)),
            Input::FlashDone(now) => {
                if let Phase::Flashing { flasher, .. } = &mut self.phase {
                    flasher.handle_input(phone_sansio::Input::Completed(now, ()));
                }
            }
            Input::FlashFailed(now) => {
                if let Phase::Flashing { flasher, .. } = &mut self.phase {
                    flasher.handle_input(phone_sansio::Input::TransportFailed(now, ()));
                }
            }
        }
    }

    fn with_fetch(&mut self, conn: ConnId, input: http::Input<'_>) {
        let Some(f) = self.fetch.as_mut().filter(|f| f.conn == conn) else {
            return;
        };
        f.get.handle_input(input);
        if f.purpose == Purpose::Image {
            let kb = f.get.body_received() as u64 / 1024;
            if kb != f.kb_shown {
                f.kb_shown = kb;
                let total_kb = f.get.body_expected().map(|t| t / 1024);
                let name = f.name.clone();
                self.queue
                    .push_back(Output::Event(DisplayEvent::Received { name, kb, total_kb }));
            }
        }
    }

    /// The next thing for the caller to do.
    pub fn poll_output(&mut self, now: Instant) -> Output {
        for _ in 0..1_000 {
            if let Some(out) = self.queue.pop_front() {
                return out;
            }
            if let Some(outcome) = self.failed_start.take() {
                self.on_result(now, outcome);
                continue;
            }
            if let Some(f) = &mut self.fetch {
                if !f.connected {
                    // Connect and request share the request's deadline.
                    if f.get.deadline() <= now {
                        f.get.handle_input(http::Input::Timeout(now));
                    } else {
                        return Output::Timeout(f.get.deadline());
                    }
                }
                match f.get.poll_output() {
                    http::Output::Transmit(bytes) => {
                        return Output::Transmit {
                            conn: f.conn,
                            bytes,
                        };
                    }
                    http::Output::Timeout(t) => return Output::Timeout(t),
                    http::Output::Done(outcome) => {
                        let conn = f.conn;
                        self.fetch = None;
                        self.queue.push_back(Output::Close { conn });
                        self.on_result(now, outcome);
                        continue;
                    }
                }
            }
            match &mut self.phase {
                Phase::Backoff { until, .. } | Phase::ImageBackoff { until, .. } => {
                    return Output::Timeout(*until);
                }
                Phase::Flashing { flasher, name } => match flasher.poll_output() {
                    phone_sansio::Output::Transmit(op) => return Output::Flash(op),
                    phone_sansio::Output::Event(FlashEvent::Display(e)) => return Output::Event(e),
                    phone_sansio::Output::Timeout(t) => return Output::Timeout(t),
                    phone_sansio::Output::Event(FlashEvent::Done(result)) => {
                        let name = core::mem::take(name);
                        let software = match result {
                            Ok(slot) => Software::Installed { name, slot },
                            Err(reason) => Software::Rejected { name, reason },
                        };
                        self.finish(software);
                    }
                },
                // Script/lists/sig/image phases always have a fetch or move on in on_result.
                _ => return Output::Timeout(Instant::MAX),
            }
        }
        Output::Timeout(now)
    }

    /// A fetch ended: move the stage on.
    fn on_result(&mut self, now: Instant, outcome: Outcome) {
        let phase = core::mem::replace(&mut self.phase, Phase::Finished);
        match phase {
            Phase::Walk { index, round } => match outcome {
                Outcome::Obtained(file) => {
                    let server = self.candidates[index].clone();
                    self.server = Some(server);
                    self.upgrade_stat = 1;
                    self.start_script(now, file.body);
                }
                other => {
                    self.warnings
                        .push(format!("{}: {}", self.candidates[index], describe(&other)));
                    let next = index + 1;
                    if next < self.candidates.len() {
                        self.phase = Phase::Walk { index: next, round };
                        let server = self.candidates[next].clone();
                        let name = self.script_name();
                        self.start_fetch(
                            now,
                            &server,
                            &server.path_of(name),
                            name,
                            Purpose::Walk,
                            self.config.http.clone(),
                        );
                    } else if round + 1 < self.config.walk_rounds {
                        let delay = self.backoff(round);
                        self.phase = Phase::Backoff {
                            until: now + delay,
                            round: round + 1,
                        };
                    } else {
                        self.finish_no_server();
                    }
                }
            },
            Phase::Script => {
                let file = match outcome {
                    Outcome::Obtained(f) => Some(f.body),
                    other => {
                        self.warnings
                            .push(format!("script GET: {}", describe(&other)));
                        None
                    }
                };
                if let Some(run) = &mut self.run {
                    run.provide_file(file);
                }
                self.phase = Phase::Script;
                self.step_script(now);
            }
            Phase::Languages => {
                if let Outcome::Obtained(f) = outcome {
                    let name = self
                        .lang_list
                        .get(self.list_index)
                        .cloned()
                        .unwrap_or_default();
                    self.languages.push((name, f.body));
                } else {
                    self.warnings
                        .push(format!("language file: {}", describe(&outcome)));
                }
                self.list_index += 1;
                self.phase = Phase::Languages;
                self.next_language(now);
            }
            Phase::Certs => {
                if let Outcome::Obtained(f) = outcome {
                    let name = self
                        .cert_list
                        .get(self.list_index)
                        .cloned()
                        .unwrap_or_default();
                    self.certificates.push((name, f.body));
                } else {
                    self.warnings
                        .push(format!("certificate file: {}", describe(&outcome)));
                }
                self.list_index += 1;
                self.phase = Phase::Certs;
                self.next_cert(now);
            }
            Phase::Sig {
                name,
                servers,
                index,
            } => match outcome {
                Outcome::Obtained(f) => self.check_sig(now, name, servers[index].clone(), &f.body),
                other => {
                    self.warnings.push(format!(
                        "{}: {name}.sig: {}",
                        servers[index],
                        describe(&other)
                    ));
                    if index + 1 < servers.len() {
                        let server = servers[index + 1].clone();
                        self.phase = Phase::Sig {
                            name: name.clone(),
                            servers,
                            index: index + 1,
                        };
                        let sig_name = format!("{name}.sig");
                        self.start_fetch(
                            now,
                            &server,
                            &server.path_of(&sig_name),
                            &sig_name,
                            Purpose::Sig,
                            self.config.http.clone(),
                        );
                    } else {
                        self.finish(Software::Rejected {
                            name,
                            reason: Rejected::NoSignature,
                        });
                    }
                }
            },
            Phase::Image {
                name,
                server,
                header,
                attempt,
            } => match outcome {
                Outcome::Obtained(f) => match VerifiedImage::new(&header, f.body) {
                    Ok(image) => {
                        let flasher = Flasher::new(
                            self.config.flash.clone(),
                            &self.config.record,
                            image,
                            now,
                        );
                        self.phase = Phase::Flashing {
                            name,
                            flasher: Box::new(flasher),
                        };
                    }
                    Err(reason) => self.finish(Software::Rejected { name, reason }),
                },
                Outcome::NotFound(_) => self.finish(Software::Rejected {
                    name,
                    reason: Rejected::Download,
                }),
                other => {
                    self.warnings.push(format!(
                        "{server}: {name} (attempt {attempt}): {}",
                        describe(&other)
                    ));
                    if attempt < self.config.image_attempts {
                        let delay = self.backoff(attempt.saturating_sub(1));
                        self.phase = Phase::ImageBackoff {
                            name,
                            server,
                            header,
                            attempt: attempt + 1,
                            until: now + delay,
                        };
                    } else {
                        self.finish(Software::Rejected {
                            name,
                            reason: Rejected::Download,
                        });
                    }
                }
            },
            other => self.phase = other,
        }
    }

    /// Jittered exponential back-off for `round` (0-based): initial·2^round capped, times a
    /// uniform factor in [0.5, 1).
    fn backoff(&mut self, round: u32) -> Duration {
        let base = self
            .config
            .backoff_initial
            .saturating_mul(1u32 << round.min(16))
            .min(self.config.backoff_max);
        let micros = u64::try_from(base.as_micros()).unwrap_or(u64::MAX);
        let half = micros / 2;
        let jitter = if half == 0 {
            0
        } else {
            self.rng.next_u64() % half
        };
        Duration::from_micros(half + jitter)
    }

    fn start_script(&mut self, now: Instant, script: Vec<u8>) {
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
        self.step_script(now);
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

    fn step_script(&mut self, now: Instant) {
        let vars = self.variables();
        let over_https = self
            .server
            .as_ref()
            .is_some_and(|s| s.scheme == Scheme::Https);
        // The run is taken out while stepping so the stage can start fetches meanwhile.
        let Some(mut run) = self.run.take() else {
            return;
        };
        // Bounded by the run's own step limit; the loop count is a second guard.
        for _ in 0..10_000_000u32 {
            match run.step(&vars) {
                Step::Set(set) => {
                    let name = String::from_utf8_lossy(set.name).into_owned();
                    let line = set.line;
                    // AUTH=1 only from a file obtained over HTTPS (files.md §1).
                    if name.eq_ignore_ascii_case("AUTH") && set.value == b"1" && !over_https {
                        self.warnings.push(format!(
                            "line {line}: AUTH 1 ignored: file not obtained over HTTPS"
                        ));
                        continue;
                    }
                    if let Err(w) =
                        self.store
                            .apply_set(&name, set.value, Source::SettingsFile, line)
                    {
                        self.warnings.push(w.to_string());
                    }
                }
                Step::NeedFile { name, .. } => {
                    let name = String::from_utf8_lossy(name).into_owned();
                    self.fetch_file(now, &name, Purpose::ScriptGet);
                    if !self.busy() {
                        run.provide_file(None);
                        continue;
                    }
                    self.run = Some(run);
                    return;
                }
                Step::Finished(result) => {
                    self.upgrade_stat = if result.is_ok() { 0 } else { 1 };
                    if let Err(e) = result {
                        self.warnings.push(e.to_string());
                    }
                    for w in run.warnings() {
                        self.warnings
                            .push(format!("file {} line {}: {:?}", w.file, w.line, w.kind));
                    }
                    self.lang_list = self
                        .store
                        .list("LANGUAGES")
                        .into_iter()
                        .take(self.config.max_list_files)
                        .map(String::from)
                        .collect();
                    self.cert_list = self
                        .store
                        .list("TRUSTCERTS")
                        .into_iter()
                        .take(self.config.max_list_files)
                        .map(String::from)
                        .collect();
                    self.list_index = 0;
                    self.run = Some(run);
                    self.phase = Phase::Languages;
                    self.next_language(now);
                    return;
                }
            }
        }
        self.run = Some(run);
    }

    fn next_language(&mut self, now: Instant) {
        if let Some(entry) = self.lang_list.get(self.list_index).cloned() {
            self.fetch_file(now, &entry, Purpose::Language(self.list_index));
            if self.busy() {
                return;
            }
        }
        self.list_index = 0;
        self.phase = Phase::Certs;
        self.next_cert(now);
    }

    fn next_cert(&mut self, now: Instant) {
        if let Some(entry) = self.cert_list.get(self.list_index).cloned() {
            self.fetch_file(now, &entry, Purpose::Cert(self.list_index));
            if self.busy() {
                return;
            }
        }
        self.software(now);
    }

    /// The software decision (files.md §8) and, if needed, the signature fetch.
    fn software(&mut self, now: Instant) {
        let Some(run) = &self.run else {
            self.finish(Software::Unchanged);
            return;
        };
        let running = self
            .config
            .record
            .running()
            .map(|i| i.app.clone())
            .unwrap_or_default();
        let wanted = run.appname().to_vec();
        let fetch = decide(
            SoftwareNames {
                app: &wanted,
                rfs: b"",
            },
            SoftwareNames {
                app: running.as_bytes(),
                rfs: b"",
            },
        );
        let Some(app) = fetch.app else {
            self.finish(Software::Unchanged);
            return;
        };
        let name = String::from_utf8_lossy(&app).into_owned();
        if self.config.firmware_key.is_none() {
            self.finish(Software::Rejected {
                name,
                reason: Rejected::NoKey,
            });
            return;
        }
        // Software over HTTP only; with AUTH=1 over HTTPS only (Decision 4).
        let servers: Vec<Server> = match &self.server {
            Some(s) if s.scheme == Scheme::Http || self.store.flag("AUTH") == Some(true) => {
                alloc::vec![s.clone()]
            }
            _ => candidates(&self.store)
                .into_iter()
                .filter(|c| c.scheme == Scheme::Http)
                .collect(),
        };
        let Some(first) = servers.first().cloned() else {
            self.finish(Software::Rejected {
                name,
                reason: Rejected::Download,
            });
            return;
        };
        let sig_name = format!("{name}.sig");
        self.phase = Phase::Sig {
            name,
            servers,
            index: 0,
        };
        self.start_fetch(
            now,
            &first,
            &first.path_of(&sig_name),
            &sig_name,
            Purpose::Sig,
            self.config.http.clone(),
        );
    }

    fn check_sig(&mut self, now: Instant, name: String, server: Server, bytes: &[u8]) {
        let Some(key) = self.config.firmware_key else {
            self.finish(Software::Rejected {
                name,
                reason: Rejected::NoKey,
            });
            return;
        };
        let header = match SignatureFile::parse(bytes) {
            Err(e) => Err(Rejected::SigFile(e)),
            Ok(sig) => sig.check_for(&key, &self.config.model, &name).cloned(),
        };
        match header {
            Ok(h) if h.length > self.config.max_image as u64 => self.finish(Software::Rejected {
                name,
                reason: Rejected::WrongLength {
                    got: h.length,
                    signed: h.length,
                },
            }),
            Ok(h) => self.start_image(now, name, server, Box::new(h), 1),
            Err(reason) => self.finish(Software::Rejected { name, reason }),
        }
    }

    fn start_image(
        &mut self,
        now: Instant,
        name: String,
        server: Server,
        header: Box<crate::firmware::ImageHeader>,
        attempt: u32,
    ) {
        let path = server.path_of(&name);
        let mut limits = self.config.http.clone();
        // The signed length bounds the body: a longer answer fails, never buffers.
        limits.max_body = usize::try_from(header.length).unwrap_or(usize::MAX);
        limits.timeout = self.config.image_timeout;
        self.start_fetch(now, &server, &path, &name, Purpose::Image, limits);
        self.phase = Phase::Image {
            name,
            server,
            header,
            attempt,
        };
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Obtained(_) => "obtained".into(),
        Outcome::NotFound(code) => format!("not found ({code})"),
        Outcome::Failed(f) => f.to_string(),
    }
}

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
