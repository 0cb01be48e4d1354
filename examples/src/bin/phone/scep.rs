//! `phone scep`: enroll a device certificate with a SCEP CA (RFC 8894), driving
//! `phone_scep::Enrollment` on the one driver. Its requests are phone-http connections
//! ([`HttpAdapter`]): direct, or through HTTPPROXY (absolute-form for http, CONNECT then TLS
//! for https, direct for HTTPEXCEPTIONDOMAINS: the machine decides, the driver carries it out).
//!
//! On SUCCESS it writes `DIR/key.pem` (PKCS#8, mode 0600), `DIR/cert.pem` and `DIR/ca.pem` and
//! prints `ISSUED subject=... serial=...`. On a FAILURE CertRep it prints
//! `REJECTED failInfo=<name>`, on any other error `ERROR: <cause>`; then it writes no
//! certificate and exits 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use phone_sansio::Instant;
use phone_scep::backoff::PollBackoff;
use phone_scep::der::Encode;
use phone_scep::machine::{Config, Enrollment, Event, KeySource};
use phone_scep::x509_cert::Certificate;

use crate::cli::{SetArgs, TrustArgs};
use crate::driver::{Driven, Driver, Flow, HttpAdapter, Reactor};
use crate::net::{SocketOptions, TlsPolicy, Trust};
use crate::state_dir::{PUBLIC_MODE, pem_encode, write_atomic, write_secret};
use crate::term::Display;

/// Arguments of `phone scep`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// SCEP server URL (MYCERTURL), http:// or https://.
    #[arg(long)]
    url: Option<String>,
    /// challengePassword (SCEPPASSWORD); $SERIALNO/$MACADDR are expanded.
    #[arg(long)]
    challenge: Option<String>,
    /// Subject CN (MYCERTCN); $SERIALNO/$MACADDR are expanded.
    #[arg(long)]
    cn: Option<String>,
    /// The rest of the subject (MYCERTDN), e.g. /C=US/O=Lab.
    #[arg(long)]
    dn: Option<String>,
    /// RSA key length (MYCERTKEYLEN): 1024 or 2048.
    #[arg(long)]
    key_len: Option<usize>,
    /// CA identifier for GetCACert (MYCERTCAID).
    #[arg(long)]
    ca_ident: Option<String>,
    /// The phone's serial number, for $SERIALNO.
    #[arg(long, default_value = "")]
    serialno: String,
    /// The phone's MAC (lower-case hex, no separators), for $MACADDR.
    #[arg(long, default_value = "")]
    macaddr: String,
    /// A SCEP parameter as a settings file would set it (MYCERTURL, MYCERTCN, MYCERTDN,
    /// MYCERTCAID, MYCERTKEYLEN, MYCERTWAIT, SCEPPASSWORD, SCEPENCALG, HTTPPROXY,
    /// HTTPEXCEPTIONDOMAINS, TLSSRVRID). Flags above win over these.
    #[command(flatten)]
    sets: SetArgs,
    /// Give up polling a PENDING request after this many seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    poll_total_secs: u64,
    /// Directory for key.pem, cert.pem and ca.pem.
    #[arg(long)]
    out: PathBuf,
    /// Trust anchors (PEM) for an https SCEP URL.
    #[command(flatten)]
    trust: TrustArgs,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    log: String,
}

fn apply_set(cfg: &mut Config, name: &str, value: &str) -> Result<(), String> {
    let value = value.trim_matches('"').to_string();
    let bad = || format!("--set {name}={value}: bad value");
    match name {
        "MYCERTURL" => cfg.url = value,
        "MYCERTCN" => cfg.cn = value,
        "MYCERTDN" => cfg.dn = value,
        "MYCERTCAID" => cfg.ca_ident = value,
        "MYCERTKEYLEN" => cfg.key_bits = value.parse().map_err(|_| bad())?,
        "MYCERTRENEW" => cfg.renew_percent = value.parse().map_err(|_| bad())?,
        "MYCERTWAIT" => cfg.wait = value != "0",
        "SCEPPASSWORD" => cfg.challenge = value,
        "SCEPENCALG" => cfg.aes256 = value == "1",
        "HTTPPROXY" => cfg.http_proxy = value,
        "HTTPEXCEPTIONDOMAINS" => cfg.exception_domains = value,
        "TLSSRVRID" => cfg.check_identity = value != "0",
        other => return Err(format!("--set {other}: not a SCEP parameter")),
    }
    Ok(())
}

fn config(args: &Args) -> Result<Config, String> {
    let mut cfg = Config::default();
    for s in &args.sets.sets {
        apply_set(&mut cfg, &s.name, &s.value)?;
    }
    if let Some(v) = &args.url {
        cfg.url.clone_from(v);
    }
    if let Some(v) = &args.challenge {
        cfg.challenge.clone_from(v);
    }
    if let Some(v) = &args.cn {
        cfg.cn.clone_from(v);
    }
    if let Some(v) = &args.dn {
        cfg.dn.clone_from(v);
    }
    if let Some(v) = args.key_len {
        cfg.key_bits = v;
    }
    if let Some(v) = &args.ca_ident {
        cfg.ca_ident.clone_from(v);
    }
    cfg.subst.serial_no.clone_from(&args.serialno);
    cfg.subst.mac_addr.clone_from(&args.macaddr);
    cfg.poll = PollBackoff::with_total_wait(Duration::from_secs(args.poll_total_secs));
    if cfg.url.is_empty() {
        return Err("no SCEP URL: give --url or --set MYCERTURL=...".into());
    }
    Ok(cfg)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Writes the enrolled identity: key first (0600), certificate last, so a `cert.pem` present
/// means the set is complete.
fn store(out: &Path, key_der: &[u8], cert: &Certificate, ca: &[Certificate]) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let der = |c: &Certificate| c.to_der().map_err(|e| e.to_string());
    let ca_pem: String = ca
        .iter()
        .map(|c| der(c).map(|d| pem_encode("CERTIFICATE", &d)))
        .collect::<Result<_, _>>()?;
    let io = |p: PathBuf, r: std::io::Result<()>| r.map_err(|e| format!("{}: {e}", p.display()));
    let key = out.join("key.pem");
    io(
        key.clone(),
        write_secret(&key, pem_encode("PRIVATE KEY", key_der).as_bytes()),
    )?;
    let ca_path = out.join("ca.pem");
    io(
        ca_path.clone(),
        write_atomic(&ca_path, ca_pem.as_bytes(), PUBLIC_MODE),
    )?;
    let cert_path = out.join("cert.pem");
    io(
        cert_path.clone(),
        write_atomic(
            &cert_path,
            pem_encode("CERTIFICATE", &der(cert)?).as_bytes(),
            PUBLIC_MODE,
        ),
    )
}

type Scep = Enrollment<rand::rngs::ThreadRng>;

/// Acts on one event; `Err` ends the run with that stdout line and exit 1.
fn on_event(m: &Scep, out: &Path, display: &Display, e: Event) -> Result<Flow, String> {
    match e {
        Event::Issued(e) => {
            let key = m.software_key().ok_or("ERROR: no key")?;
            let key_der = key.to_pkcs8_der().map_err(|e| format!("ERROR: {e}"))?;
            let ca_first: Vec<Certificate> = std::iter::once(e.ca.ca_cert().clone())
                .chain(e.ca.certs.iter().filter(|c| *c != e.ca.ca_cert()).cloned())
                .collect();
            store(out, &key_der, &e.certificate, &ca_first).map_err(|e| format!("ERROR: {e}"))?;
            let tbs = e.certificate.tbs_certificate();
            display.line(&format!(
                "ISSUED subject={} serial={}",
                tbs.subject(),
                hex(tbs.serial_number().as_bytes())
            ));
            Ok(Flow::Stop)
        }
        Event::Rejected(fi) => Err(format!("REJECTED failInfo={fi}")),
        Event::Failed(e) => Err(format!("ERROR: {e}")),
        other => {
            display.log(&other.to_string());
            Ok(Flow::Continue)
        }
    }
}

/// Runs `phone scep`.
pub fn run(args: Args) -> ExitCode {
    let display = Display::new();
    crate::term::init_tracing(&display, &args.log);
    match enroll(&args, &display) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            display.line(&msg);
            ExitCode::from(1)
        }
    }
}

fn enroll(args: &Args, display: &Display) -> Result<(), String> {
    let cfg = config(args).map_err(|e| format!("ERROR: {e}"))?;
    if cfg.url.to_ascii_lowercase().starts_with("https://") && args.trust.trust.is_empty() {
        return Err("ERROR: an https SCEP URL needs --trust CA.pem".into());
    }
    let trust = Trust::new().with_pems(args.trust.trust.iter().map(|t| t.pem.as_slice()));
    let tls = TlsPolicy::new(&trust, None).map_err(|e| format!("ERROR: {e}"))?;
    let err = |e: std::io::Error| format!("ERROR: {e}");
    let mut driver = Driver::new().map_err(err)?;
    let unix_now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let m = Enrollment::new(
        cfg,
        KeySource::Generate,
        None,
        rand::rng(),
        driver.io.now(),
        unix_now,
    )
    .map_err(|e| format!("ERROR: {e}"))?;
    let mut result: Result<(), String> = Err("ERROR: enrollment ended without a result".into());
    let out = args.out.clone();
    let shown = display.clone();
    let mut task = Driven::new(
        m,
        HttpAdapter::new(tls, SocketOptions::default()),
        |m: &mut Scep, _: &mut HttpAdapter, _: &mut Reactor, e: Event, _: Instant| match on_event(
            m, &out, &shown, e,
        ) {
            Ok(Flow::Stop) => {
                result = Ok(());
                Flow::Stop
            }
            Ok(Flow::Continue) => Flow::Continue,
            Err(msg) => {
                result = Err(msg);
                Flow::Stop
            }
        },
    );
    driver.run(&mut [&mut task]).map_err(err)?;
    drop(task);
    result
}
