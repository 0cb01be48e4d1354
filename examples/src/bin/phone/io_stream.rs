//! Shared std I/O for `phone boot`: a byte stream (TCP or TLS) owned by one thread, TLS client
//! configurations from PEM files, and one-shot HTTP exchanges.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs as _};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// A stream the owning thread reads and writes.
pub trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// What a stream thread reports.
pub enum StreamEvent {
    /// Bytes read.
    Data(Vec<u8>),
    /// The peer closed (or the stream broke: `broken`).
    Closed { broken: bool },
}

/// Roots from PEM bytes (every certificate found).
pub fn roots(pems: &[Vec<u8>], ders: &[Vec<u8>]) -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore::empty();
    for pem in pems {
        for c in CertificateDer::pem_slice_iter(pem).flatten() {
            let _ = store.add(c);
        }
    }
    for d in ders {
        let _ = store.add(CertificateDer::from(d.clone()));
    }
    store
}

/// A TLS client configuration (ring provider) trusting `roots`, presenting `client` (a DER
/// certificate chain and a PKCS#8 key) when given.
pub fn tls_config(
    roots: rustls::RootCertStore,
    client: Option<(Vec<Vec<u8>>, Vec<u8>)>,
) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let cfg = match client {
        Some((chain, key)) => b
            .with_client_auth_cert(
                chain.into_iter().map(CertificateDer::from).collect(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
            .context("client certificate")?,
        None => b.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// The TLS server name of a host: its address, or its DNS name.
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(host.to_string()).map_err(|e| anyhow!("{host}: {e}")),
    }
}

/// The first address of `host:port`.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow!("{host}: no address"))
}

/// Connects (TCP, then TLS when `tls` is given; the handshake completes here so a bad
/// certificate is a connect failure).
pub fn connect(
    host: &str,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<Box<dyn ReadWrite>> {
    let addr = resolve(host, port)?;
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    match tls {
        Some(cfg) => {
            let conn = rustls::ClientConnection::new(cfg, server_name(host)?)?;
            let mut s = rustls::StreamOwned::new(conn, tcp);
            while s.conn.is_handshaking() {
                s.conn.complete_io(&mut s.sock)?;
            }
            s.sock.set_read_timeout(Some(Duration::from_millis(20)))?;
            Ok(Box::new(s))
        }
        None => {
            tcp.set_read_timeout(Some(Duration::from_millis(20)))?;
            Ok(Box::new(tcp))
        }
    }
}

/// Runs `stream` on a thread: writes what arrives on the returned sender (dropping the sender
/// closes the stream), reports reads and the close through `report`.
pub fn spawn<M: Send + 'static>(
    stream: Box<dyn ReadWrite>,
    to_main: Sender<M>,
    report: impl Fn(StreamEvent) -> M + Send + 'static,
) -> Sender<Vec<u8>> {
    let (wtx, wrx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || pump(stream, &wrx, &to_main, &report));
    wtx
}

fn pump<M>(
    mut s: Box<dyn ReadWrite>,
    writes: &Receiver<Vec<u8>>,
    to_main: &Sender<M>,
    report: &dyn Fn(StreamEvent) -> M,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        loop {
            match writes.try_recv() {
                Ok(data) => {
                    if s.write_all(&data).and_then(|()| s.flush()).is_err() {
                        let _ = to_main.send(report(StreamEvent::Closed { broken: true }));
                        return;
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
        }
        match s.read(&mut buf) {
            Ok(0) => {
                let _ = to_main.send(report(StreamEvent::Closed { broken: false }));
                return;
            }
            Ok(n) => {
                if to_main
                    .send(report(StreamEvent::Data(buf[..n].to_vec())))
                    .is_err()
                {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // A TLS peer closing without close_notify.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                let _ = to_main.send(report(StreamEvent::Closed { broken: false }));
                return;
            }
            Err(_) => {
                let _ = to_main.send(report(StreamEvent::Closed { broken: true }));
                return;
            }
        }
    }
}

/// A parsed HTTP response.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content-Type.
    pub content_type: Option<String>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// One HTTP/1.1 exchange with `Connection: close`: writes `request`, reads to EOF (bounded).
pub fn exchange(mut s: Box<dyn ReadWrite>, request: &[u8], timeout: Duration) -> Result<Response> {
    s.write_all(request)?;
    s.flush()?;
    let start = std::time::Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > MAX_RESPONSE {
                    return Err(anyhow!("response too large"));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if start.elapsed() > timeout {
                    return Err(anyhow!("timed out"));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => break,
            Err(e) => return Err(e.into()),
        }
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<Response> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let n = match r.parse(raw)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Err(anyhow!("incomplete response")),
    };
    let status = r.code.ok_or_else(|| anyhow!("no status"))?;
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let content_type = header("content-type");
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut body = raw[n..].to_vec();
    if let Some(len) = header("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
        body.truncate(len);
    } else if chunked {
        body = dechunk(&body)?;
    }
    Ok(Response {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("bad chunk"))?;
        let size_text = std::str::from_utf8(&data[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or_else(|| anyhow!("bad chunk"))?);
        data = data.get(size + 2..).ok_or_else(|| anyhow!("bad chunk"))?;
    }
}
