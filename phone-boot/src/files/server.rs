//! The server walk's vocabulary (files.md §1–§4, Decision 4): which servers, in which order,
//! which upgrade script, where a file lives on a server, and the back-off between walks.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use phone_http::{Url, UrlError};
use phone_settings::Store;
use rand_core::Rng;

/// HTTP or HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// Plain HTTP (HTTPSRVR, HTTPPORT, HTTPDIR).
    Http,
    /// HTTPS (TLSSRVR, TLSPORT, TLSDIR).
    Https,
}

impl Scheme {
    /// 80 or 443.
    #[must_use]
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    fn http(self) -> phone_http::Scheme {
        match self {
            Scheme::Http => phone_http::Scheme::Http,
            Scheme::Https => phone_http::Scheme::Https,
        }
    }

    fn of(s: phone_http::Scheme) -> Scheme {
        match s {
            phone_http::Scheme::Http => Scheme::Http,
            phone_http::Scheme::Https => Scheme::Https,
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
    /// `http://host:port` (the port always shown, an IPv6 literal bracketed).
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

    /// The URL of `path` (from [`Server::path_of`]) on this server.
    #[must_use]
    pub fn url(&self, path: &str) -> Url {
        Url {
            scheme: self.scheme.http(),
            host: self.host.clone(),
            port: self.port,
            path_and_query: path.into(),
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

/// A LANGUAGES/TRUSTCERTS/GET entry that is a full URL (files.md §2): `None` for a plain
/// file name, else the server (no directory) and the path, or why the URL is unusable.
pub(crate) fn entry_url(entry: &str) -> Option<Result<(Server, String), UrlError>> {
    let lower = entry.get(..8).unwrap_or(entry).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return None;
    }
    Some(Url::parse(entry).map(|url| {
        (
            Server {
                scheme: Scheme::of(url.scheme),
                host: url.host,
                port: url.port,
                dir: String::new(),
            },
            url.path_and_query,
        )
    }))
}

fn trim_dir(dir: &str) -> String {
    dir.trim_matches('/').into()
}

/// Candidates of the server walk (files.md §3 step 1): every TLSSRVR entry over HTTPS, then,
/// unless AUTH=1, every HTTPSRVR entry over HTTP. HTTPS uses TLSDIR, or HTTPDIR when TLSDIR
/// is empty (Decision 4).
pub(crate) fn candidates(store: &Store) -> Vec<Server> {
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

/// Jittered exponential back-off for `round` (0-based): `initial·2^round` capped at `max`,
/// times a uniform factor in [0.5, 1) (files.md §3 step 4).
pub(crate) fn backoff(
    rng: &mut impl Rng,
    initial: Duration,
    max: Duration,
    round: u32,
) -> Duration {
    let base = initial.saturating_mul(1u32 << round.min(16)).min(max);
    let micros = u64::try_from(base.as_micros()).unwrap_or(u64::MAX);
    let half = micros / 2;
    let jitter = if half == 0 { 0 } else { rng.next_u64() % half };
    Duration::from_micros(half + jitter)
}
