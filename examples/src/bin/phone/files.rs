//! `phone files`: the file stage alone on std networking (phone-boot's `FileStage`).
//!
//! State directory (kept across runs, like a phone's non-volatile memory):
//! - `settings.bin`: the settings store of the last boot (phone-settings encoding);
//! - `trust/*.pem`: preinstalled HTTPS trust anchors (`--trust`), `trust/certs/*`: TRUSTCERTS
//!   files downloaded by earlier boots;
//! - `firmware-pub.pem`: the trusted firmware key (`--firmware-key`);
//! - `slot-a.bin`, `slot-b.bin`, `boot-record.txt`: the A/B flash (phone-boot/FIRMWARE.md);
//! - `languages/`: downloaded language files.

use std::fs;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use phone_boot::display::DisplayEvent;
use phone_boot::flash::{BootRecord, FlashOp, Slot, SlotImage};
use phone_boot::stage::{FileStage, Input, Output, Scheme, Server, Software, StageConfig};
use phone_settings::{Instant, Source, Store};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned,
};

/// Arguments of `phone files`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The phone's non-volatile state (created if missing).
    #[arg(long)]
    state_dir: PathBuf,
    /// MODEL, e.g. 9611G.
    #[arg(long)]
    model: String,
    /// MAC address (12 hex digits, separators allowed).
    #[arg(long)]
    mac: String,
    /// SERIALNO.
    #[arg(long, default_value = "SN0000000001")]
    serial: String,
    /// A parameter as DHCP/SSON would give it (repeatable), e.g. HTTPSRVR=10.0.0.5.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    sets: Vec<String>,
    /// Preinstall a PEM trust anchor for HTTPS (repeatable; kept in the state directory).
    #[arg(long = "trust", value_name = "CA.pem")]
    trust: Vec<PathBuf>,
    /// Install the trusted firmware public key (kept in the state directory).
    #[arg(long, value_name = "PUB.pem")]
    firmware_key: Option<PathBuf>,
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
}

pub fn run(args: Args) -> ExitCode {
    match run_stage(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("phone files: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let hex: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    if hex.len() != 12
        || s.chars()
            .any(|c| !c.is_ascii_hexdigit() && !":-.".contains(c))
    {
        bail!("--mac {s:?}: expected 12 hex digits");
    }
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(mac)
}

/// The flash of the reference phone: two slot files and the boot record in the state dir.
struct FileFlash {
    dir: PathBuf,
    ms_per_chunk: u64,
}

impl FileFlash {
    fn slot_path(&self, slot: Slot) -> PathBuf {
        self.dir.join(match slot {
            Slot::A => "slot-a.bin",
            Slot::B => "slot-b.bin",
        })
    }

    fn record_path(&self) -> PathBuf {
        self.dir.join("boot-record.txt")
    }

    fn read_record(&self) -> Result<Option<BootRecord>> {
        match fs::read_to_string(self.record_path()) {
            Ok(text) => Ok(Some(
                BootRecord::decode(&text).map_err(|e| anyhow::anyhow!("boot-record.txt: {e}"))?,
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context("reading boot-record.txt"),
        }
    }

    /// Stores the record in one atomic step: temporary file, fsync, rename, fsync the directory.
    fn write_record(&self, record: &BootRecord) -> Result<()> {
        let tmp = self.dir.join("boot-record.txt.tmp");
        let mut f = fs::File::create(&tmp).context("writing boot-record.txt.tmp")?;
        f.write_all(record.encode().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, self.record_path()).context("renaming the boot record")?;
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    fn apply(&self, op: &FlashOp) -> Result<()> {
        match op {
            FlashOp::Erase { slot, .. } => {
                fs::File::create(self.slot_path(*slot))?.sync_all()?;
            }
            FlashOp::Write { slot, offset, data } => {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .open(self.slot_path(*slot))?;
                f.seek(SeekFrom::Start(*offset))?;
                f.write_all(data)?;
                if self.ms_per_chunk > 0 {
                    f.sync_data()?;
                    std::thread::sleep(Duration::from_millis(self.ms_per_chunk));
                }
            }
            FlashOp::Commit(record) => {
                // The slot's data is durable before the switch names it.
                fs::File::open(self.slot_path(record.active))?.sync_all()?;
                self.write_record(record)?;
            }
        }
        Ok(())
    }

    /// Power-on: the boot loader's choice (FIRMWARE.md §5), a factory image on first use.
    fn power_on(&self) -> Result<BootRecord> {
        let record = match self.read_record()? {
            Some(r) => r,
            None => {
                let factory = b"phone-boot factory image\n";
                fs::write(self.slot_path(Slot::A), factory).context("writing slot-a.bin")?;
                let r = BootRecord::factory(SlotImage::of("factory.bin", factory));
                self.write_record(&r)?;
                r
            }
        };
        let choice = record
            .power_on(|slot, img| fs::read(self.slot_path(slot)).is_ok_and(|c| img.matches(&c)))
            .context("no bootable firmware slot")?;
        if choice.record != record {
            self.write_record(&choice.record)?;
        }
        let app = choice
            .record
            .running()
            .map(|i| i.app.clone())
            .unwrap_or_default();
        let fell = if choice.fell_back { " (fell back)" } else { "" };
        println!("boot: slot {} {app}{fell}", choice.slot);
        Ok(choice.record)
    }
}

/// A chain check without the name check: TLSSRVRID=0 (files.md §1).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The trust anchors: preinstalled ones and TRUSTCERTS from earlier boots.
fn load_roots(state: &Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for dir in [state.join("trust"), state.join("trust").join("certs")] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(bytes) = fs::read(entry.path()) else {
                continue;
            };
            for cert in CertificateDer::pem_slice_iter(&bytes).flatten() {
                let _ = roots.add(cert);
            }
        }
    }
    roots
}

fn tls_configs(state: &Path) -> Result<(Arc<ClientConfig>, Arc<ClientConfig>)> {
    let roots = Arc::new(load_roots(state));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = || {
        ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()
    };
    let strict = builder()?
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let verifier = if roots.is_empty() {
        None
    } else {
        Some(WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?)
    };
    let chain_only = match verifier {
        Some(v) => builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(v)))
            .with_no_client_auth(),
        None => builder()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    };
    Ok((Arc::new(strict), Arc::new(chain_only)))
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(bytes),
            Conn::Tls(s) => {
                s.write_all(bytes)?;
                s.flush()
            }
        }
    }
}

fn connect(
    server: &Server,
    check_identity: bool,
    tls: &(Arc<ClientConfig>, Arc<ClientConfig>),
    timeout: Duration,
) -> Result<Conn> {
    let addr = (server.host.as_str(), server.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", server.host))?
        .next()
        .with_context(|| format!("{} has no address", server.host))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_nodelay(true)?;
    match server.scheme {
        Scheme::Http => Ok(Conn::Plain(tcp)),
        Scheme::Https => {
            let config = if check_identity {
                tls.0.clone()
            } else {
                tls.1.clone()
            };
            let name = ServerName::try_from(server.host.clone()).context("server name")?;
            let mut conn = ClientConnection::new(config, name)?;
            let mut tcp = tcp;
            tcp.set_read_timeout(Some(timeout))?;
            tcp.set_write_timeout(Some(timeout))?;
            while conn.is_handshaking() {
                conn.complete_io(&mut tcp).context("TLS handshake")?;
            }
            Ok(Conn::Tls(Box::new(StreamOwned::new(conn, tcp))))
        }
    }
}

/// Applies a `--set` the way DHCP would give it: the first source that admits the name, from
/// SSON (Decision 2) down; AUTH, a settings-file-only lock kept across boots, as stored.
fn apply_cli_set(store: &mut Store, spec: &str) -> Result<()> {
    let (name, value) = spec
        .split_once('=')
        .with_context(|| format!("--set {spec:?}: expected NAME=VALUE"))?;
    let mut last = None;
    for source in [
        Source::Sson,
        Source::Option43,
        Source::DhcpStandard,
        Source::SettingsFile,
    ] {
        match store.apply_set(name, value, source, 0) {
            Ok(()) => return Ok(()),
            Err(w) => last = Some(w),
        }
    }
    match last {
        Some(w) => bail!("--set {spec}: {w}"),
        None => Ok(()),
    }
}

fn safe_name(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

fn run_stage(args: &Args) -> Result<ExitCode> {
    let state = &args.state_dir;
    fs::create_dir_all(state.join("trust").join("certs"))
        .with_context(|| format!("creating {}", state.display()))?;
    fs::create_dir_all(state.join("languages"))?;
    let mac = parse_mac(&args.mac)?;
    for (i, ca) in args.trust.iter().enumerate() {
        let bytes = fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        if CertificateDer::pem_slice_iter(&bytes)
            .flatten()
            .next()
            .is_none()
        {
            bail!("{}: no PEM certificate", ca.display());
        }
        fs::write(
            state.join("trust").join(format!(
                "preinstalled-{i}-{}",
                safe_name(&ca.to_string_lossy())
            )),
            bytes,
        )?;
    }
    let key_path = state.join("firmware-pub.pem");
    if let Some(k) = &args.firmware_key {
        crate::firmware::load_firmware_key(k)?;
        fs::copy(k, &key_path).context("installing the firmware key")?;
    }
    let firmware_key = if key_path.exists() {
        Some(crate::firmware::load_firmware_key(&key_path)?)
    } else {
        None
    };

    let flash = FileFlash {
        dir: state.clone(),
        ms_per_chunk: args.flash_ms_per_chunk,
    };
    let record = flash.power_on()?;

    let settings_path = state.join("settings.bin");
    let mut store = match fs::read(&settings_path) {
        Ok(bytes) => match Store::decode(&bytes) {
            Ok(d) => d.store,
            Err(e) => {
                eprintln!("settings.bin unreadable ({e}); starting from defaults");
                Store::new()
            }
        },
        Err(_) => Store::new(),
    };
    // This boot's DHCP/SSON values replace the last boot's.
    for s in [Source::Sson, Source::Option43, Source::DhcpStandard] {
        store.clear_source(s);
    }
    for spec in &args.sets {
        apply_cli_set(&mut store, spec)?;
    }

    let tls = tls_configs(state)?;
    let mut config = StageConfig::new(&args.model, mac, &args.serial, record.clone());
    config.firmware_key = firmware_key;
    config.walk_rounds = args.walk_rounds.max(1);
    config.http.timeout = Duration::from_secs(args.timeout.max(1));
    config.flash.chunk = args.flash_chunk.max(1);

    let clock = std::time::Instant::now();
    let now =
        || Instant::from_micros(u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX));
    let mut stage = FileStage::new(now(), store, config, rand::rng());
    let mut conn: Option<(u32, Conn)> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut bar: Option<ProgressBar> = None;
    let mut last_printed_kb = 0u64;
    let result = loop {
        match stage.poll_output(now()) {
            Output::Connect {
                conn: id,
                server,
                check_identity,
            } => {
                conn = None;
                match connect(
                    &server,
                    check_identity,
                    &tls,
                    Duration::from_secs(args.timeout.max(1)),
                ) {
                    Ok(c) => {
                        conn = Some((id, c));
                        stage.handle_input(Input::Connected(now(), id));
                    }
                    Err(e) => {
                        println!("{server}: {e:#}");
                        stage.handle_input(Input::ConnectFailed(now(), id));
                    }
                }
            }
            Output::Transmit { conn: id, bytes } => {
                if let Some((cid, c)) = conn.as_mut().filter(|(cid, _)| *cid == id)
                    && c.write_all(&bytes).is_err()
                {
                    let cid = *cid;
                    stage.handle_input(Input::Reset(now(), cid));
                }
            }
            Output::Close { conn: id } => {
                if conn.as_ref().is_some_and(|(cid, _)| *cid == id) {
                    conn = None;
                }
            }
            Output::Flash(op) => match flash.apply(&op) {
                Ok(()) => stage.handle_input(Input::FlashDone(now())),
                Err(e) => {
                    eprintln!("flash: {e:#}");
                    stage.handle_input(Input::FlashFailed(now()));
                }
            },
            Output::Event(event) => show(&event, &mut bar, &mut last_printed_kb),
            Output::Done(result) => break *result,
            Output::Timeout(deadline) => {
                let t = now();
                if deadline <= t {
                    stage.handle_input(Input::Timeout(t));
                    continue;
                }
                let wait = (deadline - t)
                    .min(Duration::from_millis(500))
                    .max(Duration::from_millis(1));
                match conn.as_mut() {
                    Some((id, c)) => {
                        let id = *id;
                        let _ = c.tcp().set_read_timeout(Some(wait));
                        match c.read(&mut buf) {
                            Ok(0) => stage.handle_input(Input::Closed(now(), id)),
                            Ok(n) => stage.handle_input(Input::Received(now(), id, &buf[..n])),
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    io::ErrorKind::WouldBlock
                                        | io::ErrorKind::TimedOut
                                        | io::ErrorKind::Interrupted
                                ) =>
                            {
                                stage.handle_input(Input::Timeout(now()));
                            }
                            Err(_) => stage.handle_input(Input::Reset(now(), id)),
                        }
                    }
                    None => {
                        if deadline == Instant::MAX {
                            bail!("file stage stalled");
                        }
                        std::thread::sleep(wait);
                        stage.handle_input(Input::Timeout(now()));
                    }
                }
            }
        }
    };
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }

    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    for (name, bytes) in &result.certificates {
        if CertificateDer::pem_slice_iter(bytes)
            .flatten()
            .next()
            .is_some()
        {
            fs::write(
                state.join("trust").join("certs").join(safe_name(name)),
                bytes,
            )?;
        } else {
            eprintln!("warning: {name}: no PEM certificate, not kept");
        }
    }
    for (name, bytes) in &result.languages {
        fs::write(state.join("languages").join(safe_name(name)), bytes)?;
    }
    for e in result.store.effective() {
        println!("{}={}", e.name, String::from_utf8_lossy(e.value));
    }
    let (mut http_used, mut tls_used) = ("0.0.0.0".to_string(), "0.0.0.0".to_string());
    match &result.server {
        Some(s) if s.scheme == Scheme::Https => tls_used = s.host.clone(),
        Some(s) => http_used = s.host.clone(),
        None => {}
    }
    println!("HTTPUSED={http_used}");
    println!("TLSUSED={tls_used}");
    println!("UPGRADESTAT={}", result.upgrade_stat);
    match &result.software {
        Software::Unchanged => println!("SOFTWARE=unchanged"),
        Software::Installed { name, slot } => println!("SOFTWARE=installed {name} slot={slot}"),
        Software::Rejected { name, reason } => println!("SOFTWARE=rejected {name}: {reason}"),
    }
    if result.server.is_none() {
        eprintln!("phone files: no file server could be used; going on with the stored settings");
        return Ok(ExitCode::from(1));
    }
    fs::write(&settings_path, result.store.encode()).context("saving settings.bin")?;
    if !matches!(result.software, Software::Installed { .. }) {
        // This boot came up and completed the file stage: confirm the running slot.
        let confirmed = record.confirmed();
        if confirmed != record {
            flash.write_record(&confirmed)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(event: &DisplayEvent, bar: &mut Option<ProgressBar>, last_kb: &mut u64) {
    match event {
        DisplayEvent::Received { name, kb, total_kb } => {
            let b = bar.get_or_insert_with(|| {
                println!("{name}");
                let b = ProgressBar::new(total_kb.unwrap_or(0));
                b.set_style(
                    ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} KB")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_message(name.clone());
                b
            });
            b.set_position(*kb);
            // The display line, every 10 % (or 256 KB when the size is unknown).
            let step = total_kb.map_or(256, |t| (t / 10).max(1));
            if *kb >= *last_kb + step || Some(*kb) == *total_kb {
                *last_kb = *kb;
                b.suspend(|| println!("{kb} KB received"));
            }
        }
        DisplayEvent::SavingToFlash { percent } => {
            let b = bar.get_or_insert_with(|| ProgressBar::new(100));
            if b.length() != Some(100) {
                b.set_length(100);
                b.set_style(
                    ProgressStyle::with_template("Saving to flash [{bar:30}] {pos}%")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
            }
            b.set_position(u64::from(*percent));
            b.suspend(|| println!("{event}"));
        }
        DisplayEvent::FileObtained { .. } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            *bar = Some(ProgressBar::new(100));
            if let Some(b) = bar {
                b.set_style(
                    ProgressStyle::with_template("Saving to flash [{bar:30}] {pos}%")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.suspend(|| println!("{event}"));
            }
        }
        _ => match bar {
            Some(b) => b.suspend(|| println!("{event}")),
            None => println!("{event}"),
        },
    }
}
