//! `phone replay FILE` and `phone timeline FILE`: what to do with a trace written by
//! `phone boot --record FILE` (phone-boot's `trace` module, format in phone-boot/TRACE.md).
//!
//! A trace is two files: `FILE` (every input with its instant and every output of each
//! power-on, secrets replaced by references) and `FILE.secrets` (the secrets, mode 0600; absent
//! when none was referred to). `phone replay` needs both; `phone timeline` only `FILE`.
//!
//! `phone replay FILE` runs the same `Boot` machine on the recorded inputs, with no network,
//! and compares every output. It prints `REPLAY OK power-ons=N inputs=N outputs=N` and exits
//! 0, or prints `REPLAY DIVERGED` with both sides of the first difference and exits 1. Exit 2:
//! the trace cannot be read or replayed (damaged, secrets file missing or not its own).
//!
//! `phone timeline FILE [--out OUT.svg]` draws the boot as one self-contained SVG (default
//! `FILE.svg`) and prints `TIMELINE OUT.svg`. Given a fleet report instead
//! (`phone fleet --report DIR` writes `DIR/fleet-report.json`), it draws the fleet's page:
//! phones per stage over time and the latency distribution of each stage, as one
//! self-contained HTML file (default `FILE.html`), the same page the fleet wrote.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use phone_boot::trace::{ReplayError, Trace, replay as replay_trace, timeline as draw};

use crate::fleet::report::{Drawn, html as fleet_page};
use crate::state_dir::{PUBLIC_MODE, write_atomic, write_secret};

/// The RNG `phone boot` runs the boot with.
type Rng = rand_chacha::ChaCha20Rng;

/// Arguments of `phone replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The trace (`phone boot --record FILE`).
    file: PathBuf,
    /// Its secrets file (default `FILE.secrets`).
    #[arg(long, value_name = "FILE.secrets")]
    secrets: Option<PathBuf>,
}

/// Arguments of `phone timeline`.
#[derive(clap::Args, Debug)]
pub struct TimelineArgs {
    /// The trace (`phone boot --record FILE`) or a fleet report (`fleet-report.json`).
    file: PathBuf,
    /// Where to write the picture (default `FILE.svg` for a trace, `FILE.html` for a report).
    #[arg(long, value_name = "OUT")]
    out: Option<PathBuf>,
}

/// The largest file `phone timeline` reads (a 10,000-phone report is about 6 MB).
const MAX_TIMELINE_INPUT: u64 = 256 << 20;

/// `FILE.secrets` next to `FILE`.
#[must_use]
pub fn secrets_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".secrets");
    PathBuf::from(name)
}

/// Writes `trace` to `path` and its secrets to `path.secrets` (0600), each atomically. The
/// trace itself is 0644, or 0600 when it may hold a secret in the clear; a stale secrets file
/// from an earlier recording is removed when this one refers to none. `phone boot --record`
/// calls this after every power-on, so a boot that is killed later keeps what it recorded.
///
/// # Errors
/// The file system's.
pub fn save(path: &Path, trace: &Trace) -> std::io::Result<()> {
    let encoded = trace.encode();
    let secrets = secrets_path(path);
    match &encoded.secrets {
        Some(s) => write_secret(&secrets, s)?,
        None => match fs::remove_file(&secrets) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        },
    }
    if encoded.secrets_in_clear {
        write_secret(path, &encoded.trace)
    } else {
        write_atomic(path, &encoded.trace, PUBLIC_MODE)
    }
}

fn load(file: &Path, secrets: Option<&Path>) -> Result<Trace, String> {
    let bytes = fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    decode(file, &bytes, secrets)
}

fn decode(file: &Path, bytes: &[u8], secrets: Option<&Path>) -> Result<Trace, String> {
    let secrets = match secrets {
        Some(p) => Some(fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    Trace::decode(bytes, secrets.as_deref()).map_err(|e| format!("{}: {e}", file.display()))
}

/// Runs `phone replay`.
#[must_use]
pub fn replay(args: ReplayArgs) -> ExitCode {
    let secrets = args.secrets.unwrap_or_else(|| secrets_path(&args.file));
    let secrets = secrets.exists().then_some(secrets);
    let trace = match load(&args.file, secrets.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("phone replay: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "trace {}: {} power-on(s), {} entries, recorded by {}",
        args.file.display(),
        trace.power_ons.len(),
        trace.entry_count(),
        trace.producer
    );
    match replay_trace::<Rng>(&trace) {
        Ok(done) => {
            println!(
                "REPLAY OK power-ons={} inputs={} outputs={}",
                done.power_ons, done.inputs, done.outputs
            );
            if let Some(l) = done.stopped {
                println!("note: the recording stopped early ({l}); what followed was not checked");
            }
            ExitCode::SUCCESS
        }
        Err(ReplayError::Diverged(d)) => {
            println!("REPLAY DIVERGED\n{d}");
            ExitCode::from(1)
        }
        Err(e @ ReplayError::SecretsMissing(_)) => {
            eprintln!(
                "phone replay: {e} ({} not found; give it with --secrets)",
                secrets_path(&args.file).display()
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("phone replay: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs `phone timeline`.
#[must_use]
pub fn timeline(args: TimelineArgs) -> ExitCode {
    let bytes = match read_bounded(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("phone timeline: {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    // A fleet report is JSON (an object); a trace starts with its binary magic.
    let report = bytes.trim_ascii_start().first() == Some(&b'{');
    let picture = if report {
        serde_json::from_slice(&bytes)
            .map_err(anyhow::Error::from)
            .and_then(|v| Drawn::from_json(&v))
            .map(|d| fleet_page(&d))
            .map_err(|e| format!("{}: {e:#}", args.file.display()))
    } else {
        decode(&args.file, &bytes, None).map(|t| draw(&t))
    };
    let picture = match picture {
        Ok(p) => p,
        Err(e) => {
            eprintln!("phone timeline: {e}");
            return ExitCode::from(2);
        }
    };
    let out = args.out.unwrap_or_else(|| {
        let mut name = args.file.as_os_str().to_owned();
        name.push(if report { ".html" } else { ".svg" });
        PathBuf::from(name)
    });
    if let Err(e) = write_atomic(&out, picture.as_bytes(), PUBLIC_MODE) {
        eprintln!("phone timeline: {}: {e}", out.display());
        return ExitCode::from(2);
    }
    println!("TIMELINE {}", out.display());
    ExitCode::SUCCESS
}

/// Reads `file`, refusing one larger than [`MAX_TIMELINE_INPUT`].
fn read_bounded(file: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    fs::File::open(file)?
        .take(MAX_TIMELINE_INPUT + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_TIMELINE_INPUT {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_TIMELINE_INPUT >> 20
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secrets_file_sits_next_to_the_trace() {
        assert_eq!(
            secrets_path(Path::new("/tmp/boot.trace")),
            PathBuf::from("/tmp/boot.trace.secrets")
        );
    }
}
