//! One GET of the file stage on `phone_http`, and the bounds on GETs (issue 12): every GET
//! attempted this boot counts, obtained or not, in total ([`StageConfig::max_gets`]) and per
//! host ([`StageConfig::max_gets_per_host`]).
//!
//! A GET is *planned* when the stage decides it and *started* — connection id, request
//! counter, `HTTP: n uri` on the display, the [`HttpClient`] — only when the caller polls, so
//! a caller that polls nothing moves no counter (commit on take).

use alloc::collections::BTreeMap;
use alloc::string::String;

use phone_http::{ConnId, HttpClient, HttpConfig, HttpLimits, Request, Url};
use phone_sansio::Instant;

use super::StageConfig;
use super::display::DisplayEvent;
use super::server::Server;
use super::warning::{FetchError, FileKind, truncated, uri};

/// What a fetch is for; it decides what its outcome does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Walk,
    ScriptGet,
    Language,
    Cert,
    Sig,
    Image { attempt: u32 },
}

impl Purpose {
    pub(crate) fn kind(self) -> FileKind {
        match self {
            Purpose::Walk => FileKind::UpgradeScript,
            Purpose::ScriptGet => FileKind::ScriptGet,
            Purpose::Language => FileKind::Language,
            Purpose::Cert => FileKind::Certificate,
            Purpose::Sig => FileKind::Signature,
            Purpose::Image { attempt } => FileKind::Image { attempt },
        }
    }
}

/// A GET planned or running.
#[derive(Debug)]
pub(crate) struct Fetch {
    pub(crate) purpose: Purpose,
    /// `http://host:port/path` for the display and the log (cut).
    pub(crate) uri: String,
    /// The file's name for `n KB received` (images only).
    pub(crate) name: String,
    url: Url,
    limits: HttpLimits,
    /// `None` until started (on a poll).
    pub(crate) client: Option<HttpClient>,
}

/// The counters of GETs and connections; they move when a GET starts.
#[derive(Debug, Default)]
pub(crate) struct Gets {
    next_conn: ConnId,
    /// GETs started this boot (the `n` of `HTTP: n uri`).
    pub(crate) started: u32,
    per_host: BTreeMap<String, u32>,
}

impl Gets {
    /// Whether one more GET to `host` is within the bounds.
    pub(crate) fn check(&self, config: &StageConfig, host: &str) -> Result<(), FetchError> {
        if self.started >= config.max_gets {
            return Err(FetchError::GetBudget);
        }
        let key = host.to_ascii_lowercase();
        if self.per_host.get(&key).copied().unwrap_or(0) >= config.max_gets_per_host {
            return Err(FetchError::HostBudget);
        }
        Ok(())
    }

    /// Plans a GET of `path` on `server` (not started, nothing counted yet).
    pub(crate) fn plan(
        server: &Server,
        path: &str,
        name: &str,
        purpose: Purpose,
        limits: HttpLimits,
    ) -> Fetch {
        Fetch {
            purpose,
            uri: uri(server, path),
            name: truncated(name),
            url: server.url(path),
            limits,
            client: None,
        }
    }

    /// Starts `fetch` at `now`: counts it, opens its client, and returns the display row.
    pub(crate) fn start(
        &mut self,
        fetch: &mut Fetch,
        check_identity: bool,
        now: Instant,
    ) -> DisplayEvent {
        self.next_conn = self.next_conn.wrapping_add(1);
        self.started = self.started.saturating_add(1);
        let host = fetch.url.host.to_ascii_lowercase();
        // One entry per host, and at most `max_gets` hosts: bounded by the GET budget.
        let count = self.per_host.entry(host).or_insert(0);
        *count = count.saturating_add(1);
        let mut config = HttpConfig::default();
        config.limits = fetch.limits.clone();
        // TLSSRVRID reaches the transmit: `Tls { check_identity }` (files.md §1).
        config.check_identity = check_identity;
        let request = Request::get(fetch.url.clone());
        fetch.client = Some(HttpClient::new(&config, request, self.next_conn, now));
        DisplayEvent::Http {
            n: self.started,
            uri: fetch.uri.clone(),
        }
    }
}
