//! `phone files`: the file stage alone (phone-boot's `FileStage`) on the one driver.
//!
//! The stage's GETs are phone-http connections carried by [`HttpAdapter`] (non-blocking connect
//! and TLS; TLSSRVRID as each connection's `Tls::check_identity`), its flash operations go to
//! the state directory's A/B slot writer through [`FlashPort`] (a slow emulated flash completes
//! by a driver timer, never a sleep). The state directory is the one of `phone boot`
//! ([`crate::state_dir`]): `record.bin` holds the settings of the last good run, TRUSTCERTS and
//! the slots; `trust/` the `--trust` anchors; `firmware-pub.pem` the firmware key.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use phone_boot::boot::record::Record;
use phone_boot::files::display::DisplayEvent;
use phone_boot::files::warning::{FileKind, FileWarning};
use phone_boot::files::{
    Event, FileStage, Peer, Scheme, Software, StageConfig, StageResult, Transmit,
};
use phone_boot::firmware::FirmwareKey;
use phone_sansio::Instant;
use phone_settings::{Source, Store};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::cli::{IdentityArgs, SetArgs, StateArgs, TrustArgs};
use crate::driver::{
    Adapter, Driven, Driver, Fact, FlashDone, FlashPort, Flow, HttpAdapter, PeerFact, Reactor, feed,
};
use crate::net::{SocketOptions, TlsPolicy, Trust};
use crate::state_dir::{PowerOn, StateDir};
use crate::term::Display;

/// Arguments of `phone files`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    state: StateArgs,
    /// MODEL, e.g. 9611G.
    #[arg(long)]
    model: String,
    #[command(flatten)]
    id: IdentityArgs,
    /// A parameter as DHCP/SSON would give it (repeatable), e.g. HTTPSRVR=10.0.0.5.
    #[command(flatten)]
    sets: SetArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// Install the trusted firmware public key (kept in the state directory).
    #[arg(long, value_name = "PUB.pem")]
    firmware_key: Option<std::path::PathBuf>,
    /// Walks of the server list before giving up.
    #[arg(long, default_value_t = 3)]
    walk_rounds: u32,
    /// Per-request timeout in seconds (scripts, settings, languages, certificates).
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Emulated flash speed: milliseconds per written chunk (0 = as fast as the disk).
    #[arg(long, default_value_t = 0)]
    flash_ms_per_chunk: u64,
    /// Bytes per flash write.
    #[arg(long, default_value_t = 64 * 1024)]
    flash_chunk: usize,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    log: String,
}

/// Runs `phone files`.
pub fn run(args: Args) -> ExitCode {
    let display = Display::new();
    crate::term::init_tracing(&display, &args.log);
    match run_stage(&args, &display) {
        Ok(code) => code,
        Err(e) => {
            display.log(&format!("phone files: {e:#}"));
            ExitCode::from(2)
        }
    }
}

/// The state directory as `phone files` and `phone boot` open it: created if missing, `--trust`
/// anchors and `--firmware-key` installed, the record loaded (a damaged one is logged and the
/// phone starts from the factory state), the firmware key read back.
///
/// # Errors
/// The directory cannot be created or written, or the firmware key does not parse.
pub fn open_state(
    dir: &Path,
    trust: &TrustArgs,
    firmware_key: Option<&Path>,
    display: &Display,
) -> Result<(StateDir, Record, Option<FirmwareKey>)> {
    let state = StateDir::open(dir).with_context(|| format!("creating {}", dir.display()))?;
    state
        .install_trust(&trust.trust)
        .context("installing the --trust anchors")?;
    if let Some(k) = firmware_key {
        crate::firmware::load_firmware_key(k)?;
        let pem = std::fs::read(k).with_context(|| format!("reading {}", k.display()))?;
        state
            .install_firmware_key(&pem)
            .context("installing the firmware key")?;
    }
    let key = match state.firmware_key().context("reading the firmware key")? {
        Some(pem) => Some(crate::firmware::parse_firmware_key(
            &String::from_utf8_lossy(&pem),
        )?),
        None => None,
    };
    let loaded = state.load_record().context("reading the record")?;
    for e in &loaded.damaged {
        display.log(&format!(
            "warning: record.bin damaged ({e}); what it lost starts from the factory state"
        ));
    }
    Ok((state, loaded.record, key))
}

/// The trust anchors of a record in a state directory: `--trust` anchors, TRUSTCERTS from
/// earlier boots, and the SCEP CA chain.
#[must_use]
pub fn trust_of(state: &StateDir, record: &Record) -> Trust {
    let pems = state.trust_pems();
    let mut t = Trust::new()
        .with_pems(pems.iter().map(Vec::as_slice))
        .with_pems(record.trust_certs.iter().map(|(_, p)| p.as_slice()));
    if let Some(id) = &record.identity {
        t = t.with_ders(id.ca.iter().map(Vec::as_slice));
    }
    if t.rejected() > 0 {
        tracing::warn!(
            "{} stored certificate(s) cannot be trust anchors; ignored",
            t.rejected()
        );
    }
    t
}

/// The power-on line: `boot: slot B new.bin`.
#[must_use]
pub fn power_on_line(p: &PowerOn) -> String {
    let fell = if p.fell_back { " (fell back)" } else { "" };
    format!("boot: slot {} {}{fell}", p.slot, p.app)
}

/// A file-stage warning as the log says it; a failed image download names its file and
/// attempt first (`new.bin (attempt 1) http://...: connection reset`).
#[must_use]
pub fn warning_line(w: &FileWarning) -> String {
    match w {
        FileWarning::Get {
            kind: FileKind::Image { attempt },
            uri,
            error,
        } => {
            let name = uri.rsplit('/').next().unwrap_or(uri);
            format!("warning: {name} (attempt {attempt}) {uri}: {error}")
        }
        other => format!("warning: {other}"),
    }
}

/// The file stage's prompt line in a terminal: each message on its own line, download and
/// flash progress thinned to every 10 % (every 256 KB when the size is unknown).
#[derive(Debug, Default)]
pub struct FileScreen {
    last_kb: Option<u64>,
    last_percent: Option<u8>,
}

impl FileScreen {
    /// The line to show for `e`; `None` when it is thinned out.
    pub fn line(&mut self, e: &DisplayEvent) -> Option<String> {
        match e {
            DisplayEvent::Received { kb, total_kb, .. } => {
                let step = total_kb.map_or(256, |t| (t / 10).max(1));
                let due = self
                    .last_kb
                    .is_none_or(|last| *kb >= last + step || Some(*kb) == *total_kb);
                if !due {
                    return None;
                }
                self.last_kb = Some(*kb);
            }
            DisplayEvent::SavingToFlash { percent } => {
                let due = self
                    .last_percent
                    .is_none_or(|last| *percent >= last.saturating_add(10) || *percent == 100);
                if !due {
                    return None;
                }
                self.last_percent = Some(*percent);
            }
            _ => {
                self.last_kb = None;
                self.last_percent = None;
            }
        }
        Some(e.to_string())
    }
}

/// Applies a `--set` the way DHCP would give it: the first source that admits the name, from
/// SSON (Decision 2) down; AUTH, a settings-file-only lock kept across boots, as stored.
fn apply_cli_set(store: &mut Store, name: &str, value: &str) -> Result<()> {
    let mut last = None;
    for source in [
        Source::Sson,
        Source::Option43,
        Source::DhcpStandard,
        Source::SettingsFile,
    ] {
        match store.apply_set(name, value.as_bytes(), source, 0) {
            Ok(()) => return Ok(()),
            Err(w) => last = Some(w),
        }
    }
    match last {
        Some(w) => anyhow::bail!("--set {name}={value}: {w}"),
        None => Ok(()),
    }
}

/// The stored settings of the last good boot, without its DHCP/SSON values.
#[must_use]
pub fn stored_settings(record: &Record, display: &Display) -> Store {
    let mut store = match record.settings.as_deref().map(Store::decode) {
        Some(Ok(d)) => d.store,
        Some(Err(e)) => {
            display.log(&format!(
                "warning: stored settings unreadable ({e}); starting from defaults"
            ));
            Store::new()
        }
        None => Store::new(),
    };
    for s in [Source::Sson, Source::Option43, Source::DhcpStandard] {
        store.clear_source(s);
    }
    store
}

/// The file stage's transports: its connections and the flash.
#[derive(Debug)]
pub struct FileIo {
    /// The file-server connections.
    pub http: HttpAdapter,
    /// The A/B slot writer.
    pub flash: FlashPort,
    /// The record a flash commit stored, until taken.
    committed: Option<Record>,
}

impl FileIo {
    /// The connections with `http`, the flash with `flash`.
    #[must_use]
    pub fn new(http: HttpAdapter, flash: FlashPort) -> FileIo {
        FileIo {
            http,
            flash,
            committed: None,
        }
    }

    /// Carries out one transmit of the stage (`record`: the phone's record as it stands, which
    /// a commit stores with the new slots); `Some` is the fact to feed back at once.
    pub fn transmit(
        &mut self,
        io: &mut Reactor,
        t: Transmit,
        record: &Record,
    ) -> Option<PeerFact<'static, Peer>> {
        match t {
            Transmit::Http(t) => self.http.carry_out(io, t).map(|f| f.map(Peer::Conn)),
            Transmit::Flash(op) => self
                .flash
                .apply(io, &op, record)
                .map(|done| self.flash_done(done)),
        }
    }

    /// The fact about the stage's connections or a paced flash write.
    pub fn fact<'a>(&mut self, fact: &Fact<'a>) -> Option<PeerFact<'a, Peer>> {
        if let Some(f) = self.http.fact(fact) {
            return Some(f.map(Peer::Conn));
        }
        let done = self.flash.fact(fact)?;
        Some(self.flash_done(done))
    }

    /// The record the last flash commit stored (the new slot active), once.
    pub fn take_committed(&mut self) -> Option<Record> {
        self.committed.take()
    }

    /// A finished flash operation as the stage's input.
    fn flash_done(&mut self, done: FlashDone) -> PeerFact<'static, Peer> {
        match done.result {
            Ok(new) => {
                if new.is_some() {
                    self.committed = new;
                }
                PeerFact::Completed(Peer::Flash)
            }
            Err(e) => {
                tracing::warn!("flash: {e}");
                PeerFact::TransportFailed(Peer::Flash)
            }
        }
    }
}

type Stage = FileStage<rand::rngs::ThreadRng>;

struct FilesIo {
    io: FileIo,
    record: Record,
    display: Display,
    screen: FileScreen,
    result: Option<Box<StageResult>>,
}

impl Adapter<Stage> for FilesIo {
    fn transmit(&mut self, io: &mut Reactor, stage: &mut Stage, t: Transmit, now: Instant) {
        let f = self.io.transmit(io, t, &self.record);
        if let Some(r) = self.io.take_committed() {
            self.record = r;
        }
        feed(stage, f, now);
    }

    fn fact(
        &mut self,
        _io: &mut Reactor,
        stage: &mut Stage,
        fact: &Fact<'_>,
        now: Instant,
    ) -> bool {
        let f = self.io.fact(fact);
        feed(stage, f, now)
    }
}

impl FilesIo {
    fn on_event(&mut self, e: Event) -> Flow {
        match e {
            Event::Display(d) => {
                if let Some(line) = self.screen.line(&d) {
                    self.display.line(&line);
                }
            }
            Event::Warning(w) => self.display.log(&warning_line(&w)),
            Event::Done(r) => {
                self.result = Some(r);
                return Flow::Stop;
            }
            other => self.display.log(&format!("{other:?}")),
        }
        Flow::Continue
    }
}

fn run_stage(args: &Args, display: &Display) -> Result<ExitCode> {
    let (state, record, firmware_key) = open_state(
        &args.state.state_dir,
        &args.trust,
        args.firmware_key.as_deref(),
        display,
    )?;
    let (record, on) = state.power_on(record)?;
    display.line(&power_on_line(&on));
    let mut store = stored_settings(&record, display);
    for s in &args.sets.sets {
        apply_cli_set(&mut store, &s.name, &s.value)?;
    }
    let tls = TlsPolicy::new(&trust_of(&state, &record), None)?;
    let slots = record
        .slots
        .clone()
        .context("the record has no slots after power-on")?;
    let mut config = StageConfig::new(&args.model, args.id.mac.octets(), &args.id.serial, slots);
    config.firmware_key = firmware_key;
    config.walk_rounds = args.walk_rounds.max(1);
    config.http.timeout = Duration::from_secs(args.timeout.max(1));
    config.flash.chunk = args.flash_chunk.max(1);

    let mut driver = Driver::new()?;
    let stage = FileStage::new(config, store, rand::rng(), driver.io.now());
    let pace = Duration::from_millis(args.flash_ms_per_chunk);
    let io = FilesIo {
        io: FileIo::new(
            HttpAdapter::new(tls, SocketOptions::default()),
            FlashPort::new(state.flash(pace)),
        ),
        record,
        display: display.clone(),
        screen: FileScreen::default(),
        result: None,
    };
    let mut task = Driven::new(
        stage,
        io,
        |_: &mut Stage, a: &mut FilesIo, _: &mut Reactor, e, _| a.on_event(e),
    );
    driver.run(&mut [&mut task])?;
    let FilesIo {
        mut record, result, ..
    } = task.adapter;
    let result = result.context("the file stage ended without a result")?;
    finish(&state, &mut record, *result, display)
}

/// Keeps what the stage obtained, prints the outcome, stores the record.
fn finish(
    state: &StateDir,
    record: &mut Record,
    result: StageResult,
    display: &Display,
) -> Result<ExitCode> {
    if result.warnings_dropped > 0 {
        display.log(&format!(
            "warning: {} more warnings not shown",
            result.warnings_dropped
        ));
    }
    let mut certs = Vec::new();
    for (name, bytes) in &result.certificates {
        if CertificateDer::pem_slice_iter(bytes)
            .flatten()
            .next()
            .is_some()
        {
            certs.push((name.clone(), bytes.clone()));
        } else {
            display.log(&format!("warning: {name}: no PEM certificate, not kept"));
        }
    }
    for (name, bytes) in &result.languages {
        state.save_language(name, bytes)?;
    }
    let mut lines: Vec<String> = result
        .store
        .effective()
        .map(|e| format!("{}={}", e.name, String::from_utf8_lossy(e.value)))
        .collect();
    let (mut http_used, mut tls_used) = ("0.0.0.0".to_string(), "0.0.0.0".to_string());
    match &result.server {
        Some(s) if s.scheme == Scheme::Https => tls_used.clone_from(&s.host),
        Some(s) => http_used.clone_from(&s.host),
        None => {}
    }
    lines.push(format!("HTTPUSED={http_used}"));
    lines.push(format!("TLSUSED={tls_used}"));
    lines.push(format!("UPGRADESTAT={}", result.upgrade_stat));
    lines.push(match &result.software {
        Software::Unchanged => "SOFTWARE=unchanged".to_string(),
        Software::Installed { name, slot, .. } => format!("SOFTWARE=installed {name} slot={slot}"),
        Software::Rejected { name, reason } => format!("SOFTWARE=rejected {name}: {reason}"),
    });
    display.line(&lines.join("\n"));
    if result.server.is_none() {
        display.log("phone files: no file server could be used; going on with the stored settings");
        return Ok(ExitCode::from(1));
    }
    record.settings = Some(result.store.encode());
    if !result.certificates.is_empty() || !certs.is_empty() {
        record.trust_certs = certs;
    }
    if !matches!(result.software, Software::Installed { .. })
        && let Some(slots) = record.slots.as_mut()
    {
        // This run came up and completed the file stage: confirm the running slot.
        *slots = slots.confirmed();
    }
    state.save_record(record).context("saving the record")?;
    Ok(ExitCode::SUCCESS)
}
