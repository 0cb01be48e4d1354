//! `phone scep`: enroll a device certificate with a SCEP CA (RFC 8894) by driving the Sans-IO
//! `phone_scep::Enrollment` over std TCP (and rustls with the ring provider for https URLs).
//!
//! On SUCCESS it writes `DIR/key.pem` (PKCS#8), `DIR/cert.pem` and `DIR/ca.pem` and prints
//! `ISSUED subject=... serial=...`. On a FAILURE CertRep it prints `REJECTED failInfo=<name>`, on
//! any other error `ERROR: <cause>`; then it writes no certificate and exits 1.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use phone_scep::backoff::PollBackoff;
use phone_scep::der::Encode;
use phone_scep::http::{HttpRequest, HttpResponse, Scheme, TransportError};
use phone_scep::machine::{Config, Enrollment, Event, Input, KeySource, Output};
use phone_scep::x509_cert::Certificate;
use phone_settings::Instant;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

/// The largest HTTP response read (a CertRep with a chain is a few KB).
const MAX_RESPONSE: usize = 256 * 1024;
/// Connect and read timeout per exchange.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

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
    /// HTTPEXCEPTIONDOMAINS). Flags above win over these.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Give up polling a PENDING request after this many seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    poll_total_secs: u64,
    /// Directory for key.pem, cert.pem and ca.pem.
    #[arg(long)]
    out: PathBuf,
    /// Trust anchors (PEM) for an https SCEP URL.
    #[arg(long)]
    trust: Vec<PathBuf>,
}

fn apply_set(cfg: &mut Config, s: &str) -> Result<(), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("--set {s}: expected NAME=VALUE"))?;
    let value = value.trim_matches('"').to_string();
    let bad = || format!("--set {s}: bad value");
    match name.trim().to_ascii_uppercase().as_str() {
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
        other => return Err(format!("--set {other}: not a SCEP parameter")),
    }
    Ok(())
}

fn config(args: &Args) -> Result<Config, String> {
    let mut cfg = Config::default();
    for s in &args.set {
        apply_set(&mut cfg, s)?;
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

fn tls_config(trust: &[PathBuf]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for path in trust {
        let iter = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("--trust {}: {e}", path.display()))?;
        for cert in iter {
            let cert = cert.map_err(|e| format!("--trust {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("--trust {}: {e}", path.display()))?;
        }
    }
    if roots.is_empty() {
        return Err("an https SCEP URL needs --trust CA.pem".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

fn connect(host: &str, port: u16) -> Result<TcpStream, TransportError> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| TransportError::Connect(format!("{host}: {e}")))?;
    let mut last = TransportError::Connect(format!("{host}: no address"));
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(IO_TIMEOUT));
                let _ = s.set_write_timeout(Some(IO_TIMEOUT));
                return Ok(s);
            }
            Err(e) => last = TransportError::Connect(format!("{addr}: {e}")),
        }
    }
    Err(last)
}

fn io_err(e: &std::io::Error) -> TransportError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => TransportError::Timeout,
        _ => TransportError::Protocol(e.to_string()),
    }
}

/// Reads until EOF (we send `Connection: close`), bounded by [`MAX_RESPONSE`].
fn read_all(r: &mut dyn Read) -> Result<Vec<u8>, TransportError> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > MAX_RESPONSE {
                    return Err(TransportError::Protocol(format!(
                        "response over {MAX_RESPONSE} bytes"
                    )));
                }
            }
            // A TLS peer closing without close_notify after a complete response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                return Ok(out);
            }
            Err(e) => return Err(io_err(&e)),
        }
    }
}

/// A parsed response: status, Content-Type, body.
struct Parsed {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// Parses an HTTP/1.1 response with httparse; the body is taken by Content-Length, chunked
/// transfer coding, or up to EOF.
fn parse_response(raw: &[u8]) -> Result<Parsed, TransportError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(TransportError::Protocol("truncated response head".into()));
        }
        Err(e) => return Err(TransportError::Protocol(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(|v| v.trim().to_string())
    };
    let content_type = header("Content-Type");
    let rest = &raw[head_len..];
    let body = if header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = header("Content-Length") {
        let len: usize = len
            .parse()
            .map_err(|_| TransportError::Protocol("bad Content-Length".into()))?;
        rest.get(..len)
            .ok_or_else(|| TransportError::Protocol("body shorter than Content-Length".into()))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Parsed {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, TransportError> {
    let bad = || TransportError::Protocol("bad chunked body".into());
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size_str = std::str::from_utf8(&data[..line_end]).map_err(|_| bad())?;
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad())?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or_else(bad)?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or_else(bad)?;
    }
}

/// One HTTP exchange as the machine asked for it.
fn exchange(
    req: &HttpRequest,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Parsed, TransportError> {
    let mut tcp = connect(&req.connect_host, req.connect_port)?;
    let mut wire = req.head().into_bytes();
    wire.extend_from_slice(&req.body);
    let raw = match req.url.scheme {
        Scheme::Http => {
            tcp.write_all(&wire).map_err(|e| io_err(&e))?;
            read_all(&mut tcp)?
        }
        Scheme::Https => {
            let tls = tls.ok_or_else(|| TransportError::Tls("no trust anchors".into()))?;
            if req.via_proxy {
                // RFC 9110 §9.3.6: a tunnel through HTTPPROXY.
                let connect = format!(
                    "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\n",
                    format_args!("{}:{}", req.url.host, req.url.port)
                );
                tcp.write_all(connect.as_bytes()).map_err(|e| io_err(&e))?;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    tcp.read_exact(&mut byte).map_err(|e| io_err(&e))?;
                    head.push(byte[0]);
                }
                let p = parse_response(&head)?;
                if p.status != 200 {
                    return Err(TransportError::Connect(format!(
                        "proxy CONNECT answered {}",
                        p.status
                    )));
                }
            }
            let name = ServerName::try_from(req.url.host.clone())
                .map_err(|e| TransportError::Tls(e.to_string()))?;
            let conn = rustls::ClientConnection::new(tls.clone(), name)
                .map_err(|e| TransportError::Tls(e.to_string()))?;
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            stream
                .write_all(&wire)
                .map_err(|e| TransportError::Tls(e.to_string()))?;
            read_all(&mut stream)?
        }
    };
    parse_response(&raw)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(line));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(contents.as_bytes())
    }
    #[cfg(not(unix))]
    std::fs::write(path, contents)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn store(out: &Path, key_der: &[u8], cert: &Certificate, ca: &[Certificate]) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let der = |c: &Certificate| c.to_der().map_err(|e| e.to_string());
    let ca_pem: String = ca
        .iter()
        .map(|c| der(c).map(|d| pem("CERTIFICATE", &d)))
        .collect::<Result<_, _>>()?;
    // Key first, certificate last: a cert.pem present means the set is complete.
    write_private(&out.join("key.pem"), &pem("PRIVATE KEY", key_der)).map_err(|e| e.to_string())?;
    std::fs::write(out.join("ca.pem"), ca_pem).map_err(|e| e.to_string())?;
    std::fs::write(out.join("cert.pem"), pem("CERTIFICATE", &der(cert)?))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Runs `phone scep`.
pub fn run(args: Args) -> ExitCode {
    match enroll(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            println!("{msg}");
            ExitCode::from(1)
        }
    }
}

fn enroll(args: &Args) -> Result<(), String> {
    let cfg = config(args).map_err(|e| format!("ERROR: {e}"))?;
    let tls = if cfg.url.to_ascii_lowercase().starts_with("https://") {
        Some(tls_config(&args.trust).map_err(|e| format!("ERROR: {e}"))?)
    } else {
        None
    };
    let origin = std::time::Instant::now();
    let now =
        || Instant::from_micros(u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX));
    let unix_now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut m = Enrollment::new(cfg, KeySource::Generate, None, rand::rng(), now(), unix_now)
        .map_err(|e| format!("ERROR: {e}"))?;
    loop {
        match m.poll_output() {
            Output::Transmit(req) => {
                eprintln!(
                    "scep: {} {} via {}:{}",
                    req.operation.name(),
                    req.target.chars().take(100).collect::<String>(),
                    req.connect_host,
                    req.connect_port
                );
                match exchange(&req, tls.as_ref()) {
                    Ok(p) => {
                        // Debug aid: keep every response body (PHONE_SCEP_DUMP=DIR).
                        if let Some(dir) = std::env::var_os("PHONE_SCEP_DUMP") {
                            let name =
                                format!("{}-{}.bin", req.operation.name(), now().as_micros());
                            let _ = std::fs::write(Path::new(&dir).join(name), &p.body);
                        }
                        eprintln!(
                            "scep: HTTP {} {} ({} bytes)",
                            p.status,
                            p.content_type.as_deref().unwrap_or("-"),
                            p.body.len()
                        );
                        let resp = HttpResponse {
                            status: p.status,
                            content_type: p.content_type.as_deref(),
                            body: &p.body,
                        };
                        m.handle_input(Input::Response(now(), resp));
                    }
                    Err(e) => m.handle_input(Input::TransportFailed(now(), &e)),
                }
            }
            Output::Event(Event::Display(title)) => eprintln!("{title}"),
            Output::Event(Event::Caps(caps)) => eprintln!("scep: caps {caps:?}"),
            Output::Event(Event::Pending { attempt, next_poll }) => {
                let secs = next_poll.saturating_duration_since(now()).as_secs();
                eprintln!("scep: PENDING (poll {attempt}), next poll in {secs} s");
            }
            Output::Event(Event::Issued(e)) => {
                let key = m.software_key().ok_or("ERROR: no key")?;
                let key_der = key.to_pkcs8_der().map_err(|e| format!("ERROR: {e}"))?;
                let ca_first: Vec<Certificate> = std::iter::once(e.ca.ca_cert().clone())
                    .chain(e.ca.certs.iter().filter(|c| *c != e.ca.ca_cert()).cloned())
                    .collect();
                store(&args.out, &key_der, &e.certificate, &ca_first)
                    .map_err(|e| format!("ERROR: {e}"))?;
                let tbs = e.certificate.tbs_certificate();
                println!(
                    "ISSUED subject={} serial={}",
                    tbs.subject(),
                    hex(tbs.serial_number().as_bytes())
                );
                return Ok(());
            }
            Output::Event(Event::Rejected(fi)) => return Err(format!("REJECTED failInfo={fi}")),
            Output::Event(Event::Failed(e)) => return Err(format!("ERROR: {e}")),
            Output::Event(other) => eprintln!("scep: {other:?}"),
            Output::Timeout(t) => {
                if m.is_finished() {
                    return Err("ERROR: enrollment ended without a result".into());
                }
                if t == Instant::MAX {
                    return Err("ERROR: enrollment stalled".into());
                }
                let wait = t.saturating_duration_since(now());
                std::thread::sleep(wait.min(Duration::from_secs(60)));
                m.handle_input(Input::Timeout(now()));
            }
        }
    }
}
