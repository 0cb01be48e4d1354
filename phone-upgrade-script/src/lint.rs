//! Script-level lint (spec/script.md §12): what an admin can act on, with line numbers and a
//! severity. The linter never changes how the interpreter behaves; it reads the same parse.
//!
//! Parameter-level checks (unknown parameter, value out of range) need the parameter registry
//! and live in phone-settings; this module knows only the language.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use crate::parse::{self, DiagnosticKind, Operator, Script, Statement};

/// How bad a finding is. Errors make `phone settings lint` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Probably harmless or intended, but worth a look.
    Warning,
    /// The file does not do what it says.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// What a finding is about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LintKind {
    /// A parse diagnostic of the line (see [`DiagnosticKind`]).
    Line(DiagnosticKind),
    /// A label defined again; the first definition counts (Decision 9).
    DuplicateLabel {
        /// The label.
        label: Vec<u8>,
        /// Line of the definition that counts.
        first_line: u32,
    },
    /// `GOTO`/`IF … GOTO` to a label not in the file: the rest of the file is ignored (§8).
    MissingLabel(Vec<u8>),
    /// The target matches a label only when case is ignored (it still jumps, Decision 9).
    LabelCase {
        /// The label as written in the GOTO.
        label: Vec<u8>,
        /// Line of the label it matches.
        defined_line: u32,
    },
    /// `IF $VAR` on a variable the phone does not know: the line is a no-op (Decision 5, §7).
    UnknownVariable(Vec<u8>),
    /// A statement no path from the first line reaches.
    Unreachable,
    /// A `GET` that leads back to a file already in the chain (GET loop, §5).
    GetCycle(Vec<u8>),
    /// A chain of `GET`s deeper than the hand-off bound (Decision 5).
    GetChainTooDeep {
        /// The bound.
        max: u8,
    },
}

impl LintKind {
    /// The severity this finding has.
    #[must_use]
    pub fn severity(&self) -> Severity {
        match self {
            Self::Line(
                DiagnosticKind::MalformedIf
                | DiagnosticKind::MalformedSet
                | DiagnosticKind::MalformedGet
                | DiagnosticKind::MalformedGoto
                | DiagnosticKind::UnknownOperator,
            )
            | Self::MissingLabel(_)
            | Self::GetCycle(_)
            | Self::GetChainTooDeep { .. } => Severity::Error,
            _ => Severity::Warning,
        }
    }
}

fn lossy(b: &[u8]) -> alloc::string::String {
    alloc::string::String::from_utf8_lossy(b).into_owned()
}

impl fmt::Display for LintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line(k) => write!(f, "{k}"),
            Self::DuplicateLabel { label, first_line } => write!(
                f,
                "label `{}` defined again; the one on line {first_line} counts",
                lossy(label)
            ),
            Self::MissingLabel(l) => write!(
                f,
                "GOTO to missing label `{}`: the rest of the file is ignored",
                lossy(l)
            ),
            Self::LabelCase {
                label,
                defined_line,
            } => write!(
                f,
                "label `{}` matches the label on line {defined_line} only when case is ignored",
                lossy(label)
            ),
            Self::UnknownVariable(v) => write!(
                f,
                "IF on unknown variable `${}`: the line does nothing",
                lossy(v)
            ),
            Self::Unreachable => f.write_str("unreachable statement"),
            Self::GetCycle(name) => write!(
                f,
                "GET `{}` leads back to a file already in the chain",
                lossy(name)
            ),
            Self::GetChainTooDeep { max } => {
                write!(f, "GET chain deeper than {max} hand-offs")
            }
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    /// 1-based line.
    pub line: u32,
    /// What was found.
    pub kind: LintKind,
}

impl Lint {
    /// Shorthand for `self.kind.severity()`.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }
}

/// The variables a 96x1/96x0 SIP phone knows in `IF` (spec/script.md §7).
pub const KNOWN_VARIABLES: [&str; 11] = [
    "MODEL4",
    "MODEL",
    "GROUP",
    "SIG",
    "SIG_IN_USE",
    "MACADDR",
    "VPNACTIVE",
    "BOOTNAME",
    "APPNAME",
    "HWVERS",
    "SHA2CAPABLE",
];

/// Whether `name` (without `$`, any case) is in [`KNOWN_VARIABLES`].
#[must_use]
pub fn is_known_variable(name: &[u8]) -> bool {
    KNOWN_VARIABLES
        .iter()
        .any(|k| k.as_bytes().eq_ignore_ascii_case(name))
}

/// Lint one file. `known_variable` says which `$VAR` names exist (e.g. [`is_known_variable`]).
/// Findings are sorted by line.
#[must_use]
pub fn lint(bytes: &[u8], known_variable: &dyn Fn(&[u8]) -> bool) -> Vec<Lint> {
    let script = parse::parse(bytes);
    lint_script(&script, known_variable)
}

/// [`lint`] on an already parsed script.
#[must_use]
pub fn lint_script(script: &Script<'_>, known_variable: &dyn Fn(&[u8]) -> bool) -> Vec<Lint> {
    let mut out: Vec<Lint> = script
        .diagnostics
        .iter()
        .map(|d| Lint {
            line: d.line,
            kind: LintKind::Line(d.kind),
        })
        .collect();

    // Labels: first definition counts (Decision 9).
    let mut labels: BTreeMap<Vec<u8>, (usize, u32, &[u8])> = BTreeMap::new();
    for (i, s) in script.statements.iter().enumerate() {
        if let Statement::Label { name } = s.statement {
            let upper = name.to_ascii_uppercase();
            if let Some((_, first_line, _)) = labels.get(&upper) {
                out.push(Lint {
                    line: s.line,
                    kind: LintKind::DuplicateLabel {
                        label: name.to_vec(),
                        first_line: *first_line,
                    },
                });
            } else {
                labels.insert(upper, (i, s.line, name));
            }
        }
    }

    // Jump targets, and the control-flow successors of each statement.
    let n = script.statements.len();
    let mut target_of: Vec<Option<usize>> = alloc::vec![None; n];
    for (i, s) in script.statements.iter().enumerate() {
        let (Statement::Goto { label }
        | Statement::If {
            op: Operator::Seq,
            label,
            ..
        }) = s.statement
        else {
            continue;
        };
        match labels.get(&label.to_ascii_uppercase()) {
            Some(&(idx, defined_line, name)) => {
                target_of[i] = Some(idx);
                if name != label {
                    out.push(Lint {
                        line: s.line,
                        kind: LintKind::LabelCase {
                            label: label.to_vec(),
                            defined_line,
                        },
                    });
                }
            }
            None => out.push(Lint {
                line: s.line,
                kind: LintKind::MissingLabel(label.to_vec()),
            }),
        }
        if let Statement::If { var, .. } = s.statement
            && !known_variable(&var.to_ascii_uppercase())
        {
            out.push(Lint {
                line: s.line,
                kind: LintKind::UnknownVariable(var.to_vec()),
            });
        }
    }

    // Reachability from the first statement.
    let mut reached = alloc::vec![false; n];
    let mut stack = Vec::new();
    if n > 0 {
        stack.push(0usize);
    }
    while let Some(i) = stack.pop() {
        if reached[i] {
            continue;
        }
        reached[i] = true;
        let falls_through = match script.statements[i].statement {
            Statement::Goto { .. } => false,
            // A GET falls through when the file is not obtained (§5); IF when false.
            _ => true,
        };
        if let Some(t) = target_of[i] {
            // A jump goes on after the label, i.e. at the label's successor; marking the label
            // itself reached is equivalent for statements.
            stack.push(t);
        }
        if falls_through && i + 1 < n {
            stack.push(i + 1);
        }
    }
    for (i, s) in script.statements.iter().enumerate() {
        if !reached[i] && !matches!(s.statement, Statement::Label { .. }) {
            out.push(Lint {
                line: s.line,
                kind: LintKind::Unreachable,
            });
        }
    }

    out.sort_by_key(|l| l.line);
    out
}

/// A finding in one file of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainLint {
    /// The file's name as the GET (or the caller) named it.
    pub file: Vec<u8>,
    /// The finding.
    pub lint: Lint,
}

/// Follow the `GET`s of `first` through `resolve` (name → file bytes, `None` = not there) and
/// report GET cycles and chains deeper than `max_handoffs` (spec §5, §12). Every GET counts as a
/// possible hand-off, whatever IFs guard it. `$MACADDR` in names is left as written.
pub fn get_cycles(
    first_name: &[u8],
    first: &[u8],
    max_handoffs: u8,
    resolve: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Vec<ChainLint> {
    let mut out = Vec::new();
    let mut cache: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    let mut done: BTreeMap<Vec<u8>, ()> = BTreeMap::new();
    let mut path: Vec<Vec<u8>> = alloc::vec![first_name.to_vec()];
    walk(
        first_name,
        first,
        max_handoffs,
        resolve,
        &mut cache,
        &mut done,
        &mut path,
        &mut out,
    );
    out
}

#[allow(clippy::too_many_arguments)]
fn walk(
    name: &[u8],
    bytes: &[u8],
    max_handoffs: u8,
    resolve: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
    cache: &mut BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    done: &mut BTreeMap<Vec<u8>, ()>,
    path: &mut Vec<Vec<u8>>,
    out: &mut Vec<ChainLint>,
) {
    let script = parse::parse(bytes);
    for s in &script.statements {
        let Statement::Get { file } = s.statement else {
            continue;
        };
        let finding = |kind| ChainLint {
            file: name.to_vec(),
            lint: Lint { line: s.line, kind },
        };
        if path.iter().any(|p| p.as_slice() == file) {
            out.push(finding(LintKind::GetCycle(file.to_vec())));
            continue;
        }
        if done.contains_key(file) {
            continue;
        }
        let body = cache
            .entry(file.to_vec())
            .or_insert_with(|| resolve(file))
            .clone();
        let Some(body) = body else {
            continue;
        };
        // `path` holds the files so far; this GET would be hand-off number path.len().
        if path.len() > usize::from(max_handoffs) {
            out.push(finding(LintKind::GetChainTooDeep { max: max_handoffs }));
            continue;
        }
        path.push(file.to_vec());
        walk(file, &body, max_handoffs, resolve, cache, done, path, out);
        path.pop();
        done.insert(file.to_vec(), ());
    }
}
