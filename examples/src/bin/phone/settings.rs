//! `phone settings eval|lint`: run upgrade/settings scripts as a phone would, and lint them
//! (issue 2; spec/script.md, spec/parameters.md).
//!
//! - `eval` drives the Sans-IO interpreter of phone-upgrade-script, applies its SETs to a
//!   phone-settings store (Source::SettingsFile, after an optional SSON string), serves GETs from
//!   a directory (`ROOT/<HTTPDIR>/<name>`, spec/files.md §2), and prints the effective values.
//! - `lint` combines the script lint (phone-upgrade-script's `lint`) with the parameter checks of
//!   the phone-settings registry (unknown name with a suggestion, invalid value, source not
//!   allowed).
//!
//! Exit codes: eval 0 = completed (warnings allowed), 1 = stopped at a bound; lint 0 = no errors,
//! 1 = errors; both 2 = bad usage (including an unreadable input file).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use phone_settings::{Source, Store};
use phone_upgrade_script::lint::{self, Lint, LintKind, Severity};
use phone_upgrade_script::{Limits, Run, RunError, Statement, Step, Variables, WarningKind};

/// `phone settings ...`
#[derive(Subcommand, Debug)]
pub enum SettingsCommand {
    /// Run a script as a phone would and print the effective parameters.
    Eval(EvalArgs),
    /// Report problems in upgrade/settings files, with file:line.
    Lint(LintArgs),
}

/// Arguments of `phone settings eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A script variable, e.g. `MODEL4=9611`, `MACADDR=00:1b:4f:aa:bb:cc`, `APPNAME=<running app>`
    /// (repeatable). `MODEL4` defaults to the first 4 characters of `MODEL`.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// A DHCP SSON string (option 242), applied before the script, e.g. `HTTPDIR=phones`.
    #[arg(long, value_name = "STRING")]
    sson: Option<String>,
    /// Directory GETs are served from: `ROOT/<HTTPDIR>/<name>`, or `ROOT/<name>` without HTTPDIR.
    /// Defaults to FILE's directory.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Print the values as one JSON object instead of NAME=value lines.
    #[arg(long)]
    json: bool,
    /// The first script, e.g. 96x1Supgrade.txt.
    file: PathBuf,
}

/// Arguments of `phone settings lint`.
#[derive(Args, Debug)]
pub struct LintArgs {
    /// Files to lint; GETs are followed in each file's directory to find GET cycles.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    let name = name.trim().trim_start_matches('$');
    if name.is_empty() {
        return Err(format!("`{s}` has an empty name"));
    }
    Ok((name.to_ascii_uppercase(), value.to_owned()))
}

/// Run a `phone settings` subcommand.
pub fn run(cmd: SettingsCommand) -> ExitCode {
    match cmd {
        SettingsCommand::Eval(args) => eval(&args),
        SettingsCommand::Lint(args) => lint_files(&args),
    }
}

// ------------------------------------------------------------------------------------------
// eval

/// Variables for `IF`: `--var` first, then parameters the store holds that are also variables
/// (`$SIG`, `$GROUP`: spec/parameters.md "var"), so a SET or SSON value of SIG is visible.
struct EvalVars<'a> {
    given: &'a BTreeMap<String, String>,
    store: &'a Store,
}

impl Variables for EvalVars<'_> {
    fn lookup(&self, name: &[u8]) -> Option<Cow<'_, [u8]>> {
        let name = std::str::from_utf8(name).ok()?;
        if let Some(v) = self.given.get(name) {
            return Some(Cow::Borrowed(v.as_bytes()));
        }
        if name == "MODEL4"
            && let Some(model) = self.given.get("MODEL")
        {
            return Some(Cow::Owned(model.bytes().take(4).collect()));
        }
        if matches!(name, "SIG" | "GROUP") {
            return self.store.get(name).map(|e| Cow::Owned(e.value.to_vec()));
        }
        None
    }
}

/// A message for stderr, ordered by (file index, line).
struct Note {
    file: u8,
    line: u32,
    text: String,
}

fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// The file a GET names: `ROOT/<HTTPDIR>/<name>`. Names that climb out of ROOT are refused.
fn served_path(root: &Path, httpdir: Option<&str>, name: &[u8]) -> Option<PathBuf> {
    let name = std::str::from_utf8(name).ok()?;
    let mut path = root.to_path_buf();
    for part in [httpdir.unwrap_or(""), name] {
        for c in Path::new(part).components() {
            match c {
                Component::Normal(p) => path.push(p),
                Component::CurDir | Component::RootDir => {}
                Component::ParentDir | Component::Prefix(_) => return None,
            }
        }
    }
    Some(path)
}

fn eval(args: &EvalArgs) -> ExitCode {
    let script = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("phone settings eval: {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let root = args.root.clone().unwrap_or_else(|| {
        args.file
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    let given: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    let mut store = Store::new();
    if let Some(sson) = &args.sson {
        for w in store.apply_sson(sson.as_bytes()) {
            eprintln!("sson: {w}");
        }
    }

    let running_app = given.get("APPNAME").map_or("", String::as_str);
    let first_name = args
        .file
        .file_name()
        .map_or_else(|| args.file.to_string_lossy(), |n| n.to_string_lossy());
    let mut run = Run::new(
        first_name.as_bytes(),
        script,
        running_app.as_bytes(),
        Limits::default(),
    );
    let mut shown: Vec<String> = vec![args.file.display().to_string()];
    let mut notes: Vec<Note> = Vec::new();

    let result = loop {
        let vars = EvalVars {
            given: &given,
            store: &store,
        };
        match run.step(&vars) {
            Step::Set(set) => {
                let (name, value, file, line) = (
                    lossy(set.name).into_owned(),
                    set.value.to_vec(),
                    set.file,
                    set.line,
                );
                if let Err(w) = store.apply_set(&name, &value, Source::SettingsFile, line) {
                    notes.push(Note {
                        file,
                        line,
                        text: w.to_string(),
                    });
                }
            }
            Step::NeedFile { name, file, line } => {
                let name = name.to_vec();
                let path = served_path(&root, store.str("HTTPDIR"), &name);
                let body = path.as_ref().and_then(|p| std::fs::read(p).ok());
                if body.is_none() {
                    notes.push(Note {
                        file,
                        line,
                        text: format!("GET {}: not obtained, going on", lossy(&name)),
                    });
                }
                if let (Some(p), Some(_)) = (&path, &body) {
                    shown.push(p.display().to_string());
                }
                run.provide_file(body);
            }
            Step::Finished(r) => break r,
        }
    };

    for w in run.warnings() {
        let text = match &w.kind {
            WarningKind::Line(k) => k.to_string(),
            WarningKind::UnknownVariable(v) => {
                format!("IF on unknown variable ${}: no jump", lossy(v))
            }
            WarningKind::MissingLabel(l) => {
                format!(
                    "GOTO {}: no such label, the rest of the file is ignored",
                    lossy(l)
                )
            }
            WarningKind::UnknownMacAddr => "GET names $MACADDR but MACADDR is unknown".into(),
            WarningKind::FileTooLarge(n) => format!("file of {n} bytes is too large"),
            other => format!("{other:?}"),
        };
        notes.push(Note {
            file: w.file,
            line: w.line,
            text,
        });
    }
    if run.dropped_warnings() > 0 {
        eprintln!("({} more warnings not shown)", run.dropped_warnings());
    }
    notes.sort_by_key(|n| (n.file, n.line));
    let where_ = |file: u8, line: u32| {
        let f = shown.get(usize::from(file)).map_or("?", String::as_str);
        format!("{f}:{line}")
    };
    for n in &notes {
        eprintln!("{}: warning: {}", where_(n.file, n.line), n.text);
    }

    let mut out = String::new();
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = store
            .effective()
            .map(|e| (e.name.to_owned(), lossy(e.value).into_owned().into()))
            .collect();
        let _ = writeln!(out, "{}", serde_json::Value::Object(map));
    } else {
        for e in store.effective() {
            let _ = writeln!(out, "{}={}", e.name, lossy(e.value));
        }
    }
    print!("{out}");

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let (file, line, text) = match e {
                RunError::GetChainTooDeep { file, line, max } => (
                    file,
                    line,
                    format!("GET chain too deep (more than {max} hand-offs); the run stops here"),
                ),
                RunError::StepLimit { file, line, max } => (
                    file,
                    line,
                    format!("{max} executed lines reached (endless loop?); the run stops here"),
                ),
                other => (0, 0, other.to_string()),
            };
            eprintln!(
                "{}: error: {text}; values SET before stay",
                where_(file, line)
            );
            ExitCode::from(1)
        }
    }
}

// ------------------------------------------------------------------------------------------
// lint

/// One reported finding.
struct Finding {
    line: u32,
    severity: Severity,
    text: String,
}

/// Parameter checks of one SET against the phone-settings registry (spec/script.md §4, §12).
fn check_set(name: &[u8], value: &[u8], line: u32, out: &mut Vec<Finding>) {
    let Ok(name) = std::str::from_utf8(name) else {
        out.push(Finding {
            line,
            severity: Severity::Warning,
            text: "parameter name is not ASCII; the phone ignores it".into(),
        });
        return;
    };
    match phone_settings::lookup(name) {
        Some(p) => {
            if p.sources.is_read_only() {
                out.push(Finding {
                    line,
                    severity: Severity::Error,
                    text: format!("{} is read-only; a file cannot set it", p.name),
                });
            } else if !p.sources.contains(Source::SettingsFile) {
                out.push(Finding {
                    line,
                    severity: Severity::Error,
                    text: format!(
                        "{} cannot be set by a settings file (sources: {})",
                        p.name, p.sources
                    ),
                });
            } else if let Err(e) = p.check(value) {
                out.push(Finding {
                    line,
                    severity: Severity::Error,
                    text: format!(
                        "invalid value `{}` for {}: {e}; the SET is ignored",
                        lossy(value),
                        p.name
                    ),
                });
            }
        }
        None if phone_settings::is_vendor_name(name) => {}
        None => {
            let hint = phone_settings::suggest(name)
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
            out.push(Finding {
                line,
                severity: Severity::Warning,
                text: format!("unknown parameter {name}{hint}"),
            });
        }
    }
}

fn finding_of(l: &Lint) -> Finding {
    Finding {
        line: l.line,
        severity: l.severity(),
        text: l.kind.to_string(),
    }
}

/// Lint one file's bytes; `dir` is where its GETs are looked up.
fn lint_bytes(name: &str, bytes: &[u8], dir: &Path) -> Vec<Finding> {
    let script = phone_upgrade_script::parse(bytes);
    let mut out: Vec<Finding> = lint::lint_script(&script, &lint::is_known_variable)
        .iter()
        .map(finding_of)
        .collect();
    for s in &script.statements {
        if let Statement::Set { name, value } = s.statement {
            check_set(name, value, s.line, &mut out);
        }
    }
    let mut resolve = |get: &[u8]| served_path(dir, None, get).and_then(|p| std::fs::read(p).ok());
    for c in lint::get_cycles(
        name.as_bytes(),
        bytes,
        Limits::default().max_handoffs,
        &mut resolve,
    ) {
        // Findings in other files name that file in the text.
        let mut f = finding_of(&c.lint);
        if c.file != name.as_bytes() {
            f.text = format!("in {} line {}: {}", lossy(&c.file), c.lint.line, f.text);
            f.line = 0;
        }
        if matches!(
            c.lint.kind,
            LintKind::GetCycle(_) | LintKind::GetChainTooDeep { .. }
        ) {
            out.push(f);
        }
    }
    out.sort_by_key(|f| f.line);
    out
}

fn lint_files(args: &LintArgs) -> ExitCode {
    let mut errors = 0usize;
    let mut warnings = 0usize;
    let mut report = String::new();
    for path in &args.files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("phone settings lint: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let name = path
            .file_name()
            .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy());
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        for f in lint_bytes(&name, &bytes, dir) {
            match f.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            let _ = writeln!(
                report,
                "{}:{}: {}: {}",
                path.display(),
                f.line,
                f.severity,
                f.text
            );
        }
    }
    print!("{report}");
    eprintln!("{errors} error(s), {warnings} warning(s)");
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
