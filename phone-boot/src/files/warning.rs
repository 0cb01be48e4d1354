//! What the file stage reports for the log: typed, bounded in count and in bytes (issue 12).
//!
//! Every text a server or a script controls (a URI, a file or parameter name) is cut to
//! [`MAX_TEXT`] bytes before it is kept, so one warning is small whatever the input; the
//! stage emits at most [`super::StageConfig::max_warnings`] of them and counts the rest
//! ([`super::StageResult::warnings_dropped`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use phone_upgrade_script::{RunError, Warning as RunWarning, WarningKind as RunWarningKind};

use super::server::Server;

/// Longest text (URI, name) a warning keeps, in bytes; longer ones end in `...`.
pub const MAX_TEXT: usize = 160;

/// `s` for a log line: control characters escaped (no raw CR or LF reaches a log, issue 12),
/// cut to [`MAX_TEXT`] bytes at a character boundary, `...` appended when cut.
#[must_use]
pub fn truncated(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() >= MAX_TEXT {
            out.push_str("...");
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn truncated_bytes(b: &[u8]) -> Vec<u8> {
    let mut v = b[..b.len().min(MAX_TEXT)].to_vec();
    if b.len() > MAX_TEXT {
        v.extend_from_slice(b"...");
    }
    v
}

/// Why a GET did not obtain its file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// The server answered with a status other than 2xx (404 and 410 included: the server
    /// answered, the file is not there, files.md §3).
    Status(u16),
    /// The exchange failed (connect, TLS, timeout, reset, malformed or oversized response).
    Http(phone_http::Failure),
    /// The GET was not attempted: [`super::StageConfig::max_gets`] reached this boot.
    GetBudget,
    /// The GET was not attempted: [`super::StageConfig::max_gets_per_host`] reached for this
    /// host.
    HostBudget,
}

impl FetchError {
    /// True when the server answered (a status), false when it failed or was not asked.
    #[must_use]
    pub fn server_answered(&self) -> bool {
        matches!(self, FetchError::Status(_))
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Status(404 | 410) => f.write_str("not found"),
            FetchError::Status(s) => write!(f, "HTTP status {s}"),
            FetchError::Http(e) => write!(f, "{e}"),
            FetchError::GetBudget => f.write_str("not attempted: GET limit of this boot reached"),
            FetchError::HostBudget => {
                f.write_str("not attempted: request limit for this host reached")
            }
        }
    }
}

/// What a fetched file was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// The upgrade script, during the server walk.
    UpgradeScript,
    /// A file a script's `GET` names.
    ScriptGet,
    /// A LANGUAGES entry.
    Language,
    /// A TRUSTCERTS entry.
    Certificate,
    /// A firmware signature file (`<APPNAME>.sig`).
    Signature,
    /// A firmware image; `attempt` counts from 1.
    Image {
        /// Which attempt failed.
        attempt: u32,
    },
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileKind::UpgradeScript => f.write_str("upgrade script"),
            FileKind::ScriptGet => f.write_str("script GET"),
            FileKind::Language => f.write_str("language file"),
            FileKind::Certificate => f.write_str("certificate file"),
            FileKind::Signature => f.write_str("signature file"),
            FileKind::Image { attempt } => write!(f, "image (attempt {attempt})"),
        }
    }
}

/// A script warning with its names cut to [`MAX_TEXT`] (the run's own record of it may be
/// larger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptWarning(pub RunWarning);

impl ScriptWarning {
    /// Keeps `w` with its names cut.
    #[must_use]
    pub fn of(w: &RunWarning) -> Self {
        let kind = match &w.kind {
            RunWarningKind::UnknownVariable(n) => {
                RunWarningKind::UnknownVariable(truncated_bytes(n))
            }
            RunWarningKind::MissingLabel(n) => RunWarningKind::MissingLabel(truncated_bytes(n)),
            other => other.clone(),
        };
        ScriptWarning(RunWarning {
            file: w.file,
            line: w.line,
            kind,
        })
    }
}

impl fmt::Display for ScriptWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.0;
        write!(f, "file {} line {}: ", w.file, w.line)?;
        match &w.kind {
            RunWarningKind::Line(d) => write!(f, "{d}"),
            RunWarningKind::UnknownVariable(n) => {
                write!(
                    f,
                    "unknown variable ${}: IF ignored",
                    String::from_utf8_lossy(n)
                )
            }
            RunWarningKind::MissingLabel(n) => write!(
                f,
                "no label {}: rest of the file ignored",
                String::from_utf8_lossy(n)
            ),
            RunWarningKind::UnknownMacAddr => f.write_str("$MACADDR unknown: name used as written"),
            RunWarningKind::FileTooLarge(n) => {
                write!(f, "file of {n} bytes too large: treated as not obtained")
            }
            _ => f.write_str("script warning"),
        }
    }
}

/// One warning of the file stage. `Display` gives the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileWarning {
    /// No candidate server (no TLSSRVR/HTTPSRVR, or AUTH=1 with TLSSRVR empty).
    NoServer,
    /// The stored settings stay: no server answered the upgrade script (files.md §3 step 5).
    NoServerAnswered,
    /// A GET did not obtain its file.
    Get {
        /// What the file was for.
        kind: FileKind,
        /// The URI (cut to [`MAX_TEXT`]).
        uri: String,
        /// Why.
        error: FetchError,
    },
    /// A list entry or `GET` that looks like a URL but is not a usable one.
    BadUrl {
        /// What the entry was for.
        kind: FileKind,
        /// The entry (cut to [`MAX_TEXT`]).
        entry: String,
        /// Why.
        error: phone_http::UrlError,
    },
    /// `SET AUTH 1` from a file not obtained over HTTPS is ignored (files.md §1).
    AuthNotOverHttps {
        /// Index of the script file (0 = the upgrade script).
        file: u8,
        /// Its line.
        line: u32,
    },
    /// The settings store refused a SET (the earlier value stays).
    SetRefused(phone_settings::Warning),
    /// A script diagnostic of an executed line.
    Script(ScriptWarning),
    /// The script run stopped at a bound (its SETs so far stay, Decision 9).
    ScriptStopped(RunError),
    /// The script run dropped this many warnings past its own bound.
    ScriptWarningsDropped(usize),
    /// A TRUSTCERTS file not kept, or kept in part: MAX_TRUSTCERTS certificates are kept at
    /// most (files.md §7, [`super::trust::keep`]).
    TrustCertsLimit {
        /// The TRUSTCERTS entry (cut to [`MAX_TEXT`]).
        name: String,
        /// Its certificates kept.
        kept: usize,
        /// Its certificates left out.
        dropped: usize,
        /// MAX_TRUSTCERTS.
        max: usize,
    },
}

impl FileWarning {
    /// A refused SET with its texts made safe for a log line.
    pub(crate) fn set_refused(w: phone_settings::Warning) -> Self {
        FileWarning::SetRefused(clean_setting(w))
    }
}

/// A settings warning with the texts its input controls (the parameter name, a dangling list
/// element) escaped and cut to [`MAX_TEXT`].
#[must_use]
pub fn clean_setting(mut w: phone_settings::Warning) -> phone_settings::Warning {
    w.name = truncated(&w.name);
    if let phone_settings::WarningKind::DanglingElement(e) = &mut w.kind {
        *e = truncated(e);
    }
    w
}

impl fmt::Display for FileWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileWarning::NoServer => f.write_str("no file server configured"),
            FileWarning::NoServerAnswered => {
                f.write_str("no file server answered; using the stored settings")
            }
            FileWarning::Get { kind, uri, error } => write!(f, "{kind} {uri}: {error}"),
            FileWarning::BadUrl { kind, entry, error } => {
                write!(f, "{kind} \"{entry}\": {error}")
            }
            FileWarning::AuthNotOverHttps { file, line } => write!(
                f,
                "file {file} line {line}: AUTH 1 ignored: file not obtained over HTTPS"
            ),
            FileWarning::SetRefused(w) => write!(f, "{w}"),
            FileWarning::Script(w) => write!(f, "{w}"),
            FileWarning::ScriptStopped(e) => write!(f, "{e}"),
            FileWarning::ScriptWarningsDropped(n) => {
                write!(f, "{n} more script warnings not kept")
            }
            FileWarning::TrustCertsLimit {
                name,
                kept,
                dropped,
                max,
            } => write!(
                f,
                "certificate file {name}: {dropped} certificate(s) not kept, {kept} kept \
                 (MAX_TRUSTCERTS {max})"
            ),
        }
    }
}

/// The URI shown for a GET: `http://host:port/path`, cut to [`MAX_TEXT`].
pub(crate) fn uri(server: &Server, path: &str) -> String {
    truncated(&alloc::format!("{server}{path}"))
}
