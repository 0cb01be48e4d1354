//! The Sans-IO interpreter (spec/script.md §3–§9, Decisions 5, 9, 10).
//!
//! A [`Run`] executes one script chain: the upgrade script, then each file it hands over to with
//! `GET`. It never does I/O. [`Run::step`] runs until it needs the caller:
//! - [`Step::Set`]: apply this SET to the parameter store (the caller validates it);
//! - [`Step::NeedFile`]: fetch this file, then answer with [`Run::provide_file`];
//! - [`Step::Finished`]: the run is over, completed or stopped at a bound.
//!
//! Why a pull-style iterator and not a `phone_sansio::Machine`: the interpreter has
//! no peer, no clock and no transmit; its only caller is phone-boot's file stage, which *is* the
//! Sans-IO machine (it owns the HTTP exchanges and the timers) and pulls the next [`Step`] when it
//! is ready for one: after it applied a SET to its store (so a later `IF $SIG` sees it), or once a
//! GET's file is in. Each call does bounded work: at most [`Limits::max_steps`] lines and
//! [`Limits::max_scan_bytes`] bytes per run, whatever the lines' length, and the warnings kept are
//! bounded in count ([`Limits::max_warnings`]) and bytes ([`Limits::max_warning_bytes`], names
//! shown at most [`MAX_SHOWN`] bytes) (issue 12).
//!
//! Variables in `IF` come from the caller's [`Variables`], asked each time an `IF` is executed, so
//! a caller that applied an earlier [`Step::Set`] to its store and answers from that store makes
//! the SET visible to later `IF`s (e.g. `$SIG`). `$APPNAME` is held by the run itself: it starts
//! as the running application's name and follows every `SET APPNAME` of the run (Decision 10).

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::parse::{self, DiagnosticKind, FileFormat, Operator, Statement};

/// Most bytes of a name (variable, label) a [`Warning`] keeps; a longer one is cut there and
/// `...` appended. Diagnostics stay small whatever a hostile file names (issue 12).
pub const MAX_SHOWN: usize = 64;

/// `bytes` for a diagnostic: at most [`MAX_SHOWN`] bytes, then `...` if cut. Exact capacity.
fn shown(bytes: &[u8]) -> Vec<u8> {
    if bytes.len() <= MAX_SHOWN {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(MAX_SHOWN + 3);
    out.extend_from_slice(&bytes[..MAX_SHOWN]);
    out.extend_from_slice(b"...");
    out
}

/// The bounds of one run (Decision 5). Hitting one ends the run with a [`RunError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Most `GET` hand-offs in one run (so at most this + 1 files). Spec: 8.
    pub max_handoffs: u8,
    /// Most lines stepped on in one run, comments included. Spec: 1,000,000.
    pub max_steps: u32,
    /// A handed-over file longer than this is treated as not obtained (spec §5 "body too large").
    /// The vendor template is 972,412 bytes; the default admits 16 times that.
    pub max_file_bytes: usize,
    /// Most bytes read in one run: every file once when it is loaded (its labels are found), every
    /// line each time it is stepped on (a GOTO loop reads its lines again), and the label
    /// comparisons of each jump. Reaching it ends the run with [`RunError::ScanLimit`]. This bounds
    /// the work of a run whatever its lines' length: `max_steps` alone let a 1 MB line in a GOTO
    /// loop cost minutes (issue 12). Default 32 MiB, twice [`Limits::max_file_bytes`] (a file of
    /// that size is read once to load and once to run); a 1 MB line in a loop then stops after
    /// 31 readings, in well under 100 ms. The vendor template takes 2 MB of it.
    pub max_scan_bytes: u64,
    /// Most warnings kept; later ones are counted in [`Run::dropped_warnings`].
    pub max_warnings: usize,
    /// Most bytes the kept warnings take ([`Warning::kept_bytes`] summed); later ones are dropped
    /// and counted in [`Run::dropped_warnings`]. Default 128 KiB: 1000 warnings with names cut at
    /// [`MAX_SHOWN`] fit.
    pub max_warning_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_handoffs: 8,
            max_steps: 1_000_000,
            max_file_bytes: 16 * 1024 * 1024,
            max_scan_bytes: 32 * 1024 * 1024,
            max_warnings: 1000,
            max_warning_bytes: 128 * 1024,
        }
    }
}

/// The values of `$VARIABLES` (spec §7), answered by the caller.
///
/// `name` is upper case without the `$` (`MODEL4`, `MACADDR`, …). `None` means the variable is
/// unknown, which makes the `IF` a no-op (Decision 5).
pub trait Variables {
    /// The value of `$name`, or `None` if unknown.
    fn lookup(&self, name: &[u8]) -> Option<Cow<'_, [u8]>>;
}

impl<F> Variables for F
where
    F: Fn(&[u8]) -> Option<Vec<u8>>,
{
    fn lookup(&self, name: &[u8]) -> Option<Cow<'_, [u8]>> {
        self(name).map(Cow::Owned)
    }
}

impl<K: AsRef<[u8]> + Ord, V: AsRef<[u8]>> Variables for BTreeMap<K, V>
where
    K: core::borrow::Borrow<[u8]>,
{
    fn lookup(&self, name: &[u8]) -> Option<Cow<'_, [u8]>> {
        self.get(name).map(|v| Cow::Borrowed(v.as_ref()))
    }
}

/// Why a run stopped early (Decision 5). SETs made before stay in effect (Decision 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A `GET` would have been a hand-off beyond [`Limits::max_handoffs`] (spec §5).
    #[error("file {file} line {line}: GET chain too deep (more than {max} hand-offs)")]
    GetChainTooDeep {
        /// Index of the file (0 = the first script) holding the GET.
        file: u8,
        /// Line of the GET.
        line: u32,
        /// The bound.
        max: u8,
    },
    /// [`Limits::max_steps`] lines were executed (spec §8).
    #[error("file {file} line {line}: step limit of {max} executed lines reached")]
    StepLimit {
        /// Index of the file where the run stopped.
        file: u8,
        /// The line that would have been the next step.
        line: u32,
        /// The bound.
        max: u32,
    },
    /// [`Limits::max_scan_bytes`] bytes were read (issue 12: long lines in a loop).
    #[error("file {file} line {line}: scan limit of {max} bytes read reached")]
    ScanLimit {
        /// Index of the file where the run stopped (for a file too large to load within the
        /// bound: the file holding its GET).
        file: u8,
        /// The line that would have been read next, or the jump or GET that needed more (0:
        /// the first file itself was too large).
        line: u32,
        /// The bound.
        max: u64,
    },
}

/// Something the interpreter noticed while running (not a bound).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// A parse diagnostic of a line that was executed.
    Line(DiagnosticKind),
    /// `IF $VAR` with an unknown variable: the line was a no-op (Decision 5). The name upper
    /// case, cut at [`MAX_SHOWN`] bytes (then `...` appended).
    UnknownVariable(Vec<u8>),
    /// `GOTO` or `IF … GOTO` to a label not in the file: the rest of the file is ignored (§8).
    /// The label cut at [`MAX_SHOWN`] bytes (then `...` appended).
    MissingLabel(Vec<u8>),
    /// `GET` named `$MACADDR` but the MAC is unknown; the name was used as written.
    UnknownMacAddr,
    /// A handed-over file was longer than [`Limits::max_file_bytes`]; treated as not obtained.
    FileTooLarge(usize),
}

/// A warning with where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Index of the file (0 = the first script); see [`Run::file_name`].
    pub file: u8,
    /// 1-based line.
    pub line: u32,
    /// What happened.
    pub kind: WarningKind,
}

impl Warning {
    /// The memory this warning keeps: its own size and the bytes of the name it holds (at most
    /// [`MAX_SHOWN`] + 3). What [`Limits::max_warning_bytes`] counts.
    #[must_use]
    pub fn kept_bytes(&self) -> usize {
        let heap = match &self.kind {
            WarningKind::UnknownVariable(v) | WarningKind::MissingLabel(v) => v.capacity(),
            _ => 0,
        };
        core::mem::size_of::<Warning>() + heap
    }
}

/// A SET to apply to the parameter store, in execution order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetStep<'r> {
    /// The name as written (case-insensitive; stored upper case, spec §4).
    pub name: &'r [u8],
    /// The value, quotes removed, `$SERIALNO`/`$MACADDR` not expanded (§4).
    pub value: &'r [u8],
    /// Index of the file (0 = the first script).
    pub file: u8,
    /// 1-based line.
    pub line: u32,
}

/// What the run needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'r> {
    /// Apply a SET, then call [`Run::step`] again.
    Set(SetStep<'r>),
    /// Fetch `name` (with HTTPDIR/TLSDIR in front, spec/files.md §2) and answer with
    /// [`Run::provide_file`]. `$MACADDR` is already expanded (Decision 10).
    NeedFile {
        /// The file name.
        name: &'r [u8],
        /// Index of the file holding the GET.
        file: u8,
        /// Line of the GET.
        line: u32,
    },
    /// The run is over. `Ok` when it completed (end of the last file, or a missing label), `Err`
    /// when it stopped at a bound. Calling [`Run::step`] again returns the same.
    Finished(Result<(), RunError>),
}

#[derive(Clone, Debug)]
struct LabelTarget {
    /// Label name upper-cased (labels compare ASCII case-insensitively, Decision 9).
    upper: Vec<u8>,
    /// Where the line after the label starts.
    next: usize,
    /// The label's line number.
    line: u32,
}

/// What [`Run::execute`] stopped for; slices are offsets into the file buffer.
enum Next {
    Set {
        name: (usize, usize),
        value: (usize, usize),
        line: u32,
    },
    /// A GET or the end: see `state`.
    Other,
}

#[derive(Clone, Debug)]
enum State {
    Running,
    NeedFile { name: Vec<u8>, line: u32 },
    Finished(Result<(), RunError>),
}

/// One run of a script chain. See the module docs.
#[derive(Clone, Debug)]
pub struct Run {
    limits: Limits,
    buf: Vec<u8>,
    /// How the current file's lines end, found once when it was loaded.
    format: FileFormat,
    pos: usize,
    /// Number of the last line read in the current file.
    line: u32,
    labels: Vec<LabelTarget>,
    steps: u32,
    handoffs: u8,
    file_names: Vec<Vec<u8>>,
    appname: Vec<u8>,
    rfsname: Option<Vec<u8>>,
    state: State,
    /// Bytes read so far (see [`Limits::max_scan_bytes`]).
    scanned: u64,
    warnings: Vec<Warning>,
    /// Sum of [`Warning::kept_bytes`] over `warnings`.
    warning_bytes: usize,
    dropped_warnings: usize,
}

impl Run {
    /// Start a run of `script` (named `name`, e.g. `96x1Supgrade.txt`) on a phone running the
    /// application `running_app` (the initial `$APPNAME`, Decision 10).
    #[must_use]
    pub fn new(name: &[u8], script: Vec<u8>, running_app: &[u8], limits: Limits) -> Self {
        let mut run = Self {
            limits,
            buf: Vec::new(),
            format: FileFormat::default(),
            pos: 0,
            line: 0,
            labels: Vec::new(),
            steps: 0,
            handoffs: 0,
            file_names: Vec::new(),
            appname: running_app.to_vec(),
            rfsname: None,
            state: State::Running,
            scanned: 0,
            warnings: Vec::new(),
            warning_bytes: 0,
            dropped_warnings: 0,
        };
        run.load(name.to_vec(), script, 0);
        run
    }

    /// Count `n` more bytes read; `false` (nothing counted) when that would pass the bound.
    fn charge(&mut self, n: u64) -> bool {
        match self.scanned.checked_add(n) {
            Some(total) if total <= self.limits.max_scan_bytes => {
                self.scanned = total;
                true
            }
            _ => false,
        }
    }

    /// End the run at the scan bound, at `line` of the current file.
    fn scan_limit(&mut self, line: u32) {
        self.state = State::Finished(Err(RunError::ScanLimit {
            file: self.file_index(),
            line,
            max: self.limits.max_scan_bytes,
        }));
    }

    /// Make `bytes` the current file. Finding its labels reads it once, and sorting them costs
    /// about their bytes times log2 of their number; both count against
    /// [`Limits::max_scan_bytes`]: a file that does not fit ends the run at `at_line` (the GET)
    /// and does not become the current file.
    fn load(&mut self, name: Vec<u8>, bytes: Vec<u8>, at_line: u32) {
        if !self.charge(u64::try_from(bytes.len()).unwrap_or(u64::MAX)) {
            self.scan_limit(at_line);
            return;
        }
        let format = FileFormat::detect(&bytes);
        let mut labels = Vec::new();
        let mut label_bytes = 0u64;
        for l in format.lines(&bytes) {
            if l.text.first() != Some(&b'#') {
                continue;
            }
            if let Some(Statement::Label { name }) = parse::parse_line(l.text).statement {
                label_bytes += u64::try_from(name.len()).unwrap_or(u64::MAX);
                labels.push(LabelTarget {
                    upper: name.to_ascii_uppercase(),
                    next: l.next,
                    line: l.number,
                });
            }
        }
        // A sort compares each label about log2(n) times, each compare up to its length.
        let depth = u64::from(usize::BITS - labels.len().leading_zeros());
        if !self.charge(label_bytes.saturating_add(1).saturating_mul(depth)) {
            self.scan_limit(at_line);
            return;
        }
        // Stable sort: among equal names the first definition stays first and counts (Decision 9).
        labels.sort_by(|a, b| a.upper.cmp(&b.upper));
        self.file_names.push(name);
        self.buf = bytes;
        self.format = format;
        self.pos = format.start();
        self.line = 0;
        self.labels = labels;
        for kind in format.diagnostics() {
            self.warn(1, WarningKind::Line(kind));
        }
    }

    /// Index of the file being run (0 = the first script).
    #[must_use]
    pub fn file_index(&self) -> u8 {
        u8::try_from(self.file_names.len().saturating_sub(1)).unwrap_or(u8::MAX)
    }

    /// The name of file `index` (0 = the name given to [`Run::new`], then each obtained GET).
    #[must_use]
    pub fn file_name(&self, index: u8) -> Option<&[u8]> {
        self.file_names.get(usize::from(index)).map(Vec::as_slice)
    }

    /// `$APPNAME` now: the running application's name until a SET APPNAME (Decision 10).
    #[must_use]
    pub fn appname(&self) -> &[u8] {
        &self.appname
    }

    /// The last RFSNAME this run SET, if any (spec/files.md §8).
    #[must_use]
    pub fn rfsname(&self) -> Option<&[u8]> {
        self.rfsname.as_deref()
    }

    /// Lines executed so far (comments included).
    #[must_use]
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// Hand-offs performed so far.
    #[must_use]
    pub fn handoffs(&self) -> u8 {
        self.handoffs
    }

    /// Warnings so far, in order (at most [`Limits::max_warnings`]).
    #[must_use]
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Warnings not kept because [`Limits::max_warnings`] or [`Limits::max_warning_bytes`] was
    /// reached.
    #[must_use]
    pub fn dropped_warnings(&self) -> usize {
        self.dropped_warnings
    }

    /// Bytes read so far: what [`Limits::max_scan_bytes`] bounds.
    #[must_use]
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    /// Memory the kept warnings take ([`Warning::kept_bytes`] summed): what
    /// [`Limits::max_warning_bytes`] bounds.
    #[must_use]
    pub fn warning_bytes(&self) -> usize {
        self.warning_bytes
    }

    fn warn(&mut self, line: u32, kind: WarningKind) {
        let warning = Warning {
            file: self.file_index(),
            line,
            kind,
        };
        let cost = warning.kept_bytes();
        let total = self.warning_bytes.saturating_add(cost);
        if self.warnings.len() < self.limits.max_warnings && total <= self.limits.max_warning_bytes
        {
            self.warnings.push(warning);
            self.warning_bytes = total;
        } else {
            self.dropped_warnings = self.dropped_warnings.saturating_add(1);
        }
    }

    /// Answer the last [`Step::NeedFile`]: `Some(bytes)` = obtained (the run goes on at the new
    /// file's first line; the current file never resumes), `None` = not obtained (the run goes on
    /// at the line after the GET) (spec §5). Ignored when no file was asked for.
    pub fn provide_file(&mut self, file: Option<Vec<u8>>) {
        let State::NeedFile { name, line } = core::mem::replace(&mut self.state, State::Running)
        else {
            return;
        };
        match file {
            Some(bytes) if bytes.len() > self.limits.max_file_bytes => {
                self.warn(line, WarningKind::FileTooLarge(bytes.len()));
            }
            Some(bytes) => {
                self.load(name, bytes, line);
                if let State::Running = self.state {
                    self.handoffs = self.handoffs.saturating_add(1);
                }
            }
            None => {}
        }
    }

    /// Go on after `label`. `Ok(false)`: no such label (warned). The comparisons count against
    /// [`Limits::max_scan_bytes`]; `Err` when they do not fit.
    fn jump(&mut self, label: &[u8], line: u32) -> Result<bool, RunError> {
        // The first of equal names: labels are stably sorted, so the first definition (Decision 9).
        // A partition point, not a walk back over duplicates: O(log n) comparisons per jump.
        let mut compares = 0u64;
        let i = self.labels.partition_point(|t| {
            compares += 1;
            cmp_upper(&t.upper, label).is_lt()
        });
        let found = self
            .labels
            .get(i)
            .filter(|t| cmp_upper(&t.upper, label).is_eq())
            .map(|t| (t.next, t.line));
        let per_compare = u64::try_from(label.len())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if !self.charge(compares.saturating_add(1).saturating_mul(per_compare)) {
            return Err(RunError::ScanLimit {
                file: self.file_index(),
                line,
                max: self.limits.max_scan_bytes,
            });
        }
        if let Some((next, label_line)) = found {
            self.pos = next;
            self.line = label_line;
            Ok(true)
        } else {
            self.warn(line, WarningKind::MissingLabel(shown(label)));
            Ok(false)
        }
    }

    /// Run until the caller is needed. See [`Step`].
    pub fn step(&mut self, vars: &(impl Variables + ?Sized)) -> Step<'_> {
        if let State::Running = self.state {
            // The buffer is taken out while executing so the rest of `self` can change freely;
            // slices handed out are re-borrowed from it by offset.
            let buf = core::mem::take(&mut self.buf);
            let next = self.execute(&buf, vars);
            self.buf = buf;
            if let Next::Set { name, value, line } = next {
                return Step::Set(SetStep {
                    name: self.buf.get(name.0..name.1).unwrap_or_default(),
                    value: self.buf.get(value.0..value.1).unwrap_or_default(),
                    file: self.file_index(),
                    line,
                });
            }
        }
        match &self.state {
            State::NeedFile { name, line } => Step::NeedFile {
                name,
                file: self.file_index(),
                line: *line,
            },
            State::Finished(r) => Step::Finished(*r),
            State::Running => Step::Finished(Ok(())),
        }
    }

    /// Execute lines of `buf` (the current file) until a SET, a GET, the end or a bound.
    fn execute(&mut self, buf: &[u8], vars: &(impl Variables + ?Sized)) -> Next {
        loop {
            // Look for the next line end only as far as the scan bound allows, so even finding
            // a line never reads past it.
            let remaining = self.limits.max_scan_bytes.saturating_sub(self.scanned);
            let window_end = self
                .pos
                .saturating_add(usize::try_from(remaining).unwrap_or(usize::MAX))
                .min(buf.len());
            let window = &buf[..window_end];
            let Some(raw) = self.format.lines_from(window, self.pos, self.line).next() else {
                if window_end < buf.len() {
                    self.scan_limit(self.line.saturating_add(1));
                } else {
                    // End of this file; a GET never returns, so the run is over (§5).
                    self.state = State::Finished(Ok(()));
                }
                return Next::Other;
            };
            if self.steps >= self.limits.max_steps {
                let err = RunError::StepLimit {
                    file: self.file_index(),
                    line: raw.number,
                    max: self.limits.max_steps,
                };
                self.state = State::Finished(Err(err));
                return Next::Other;
            }
            // A line that runs past the window does not fit in what is left of the bound.
            let cut = raw.next == window_end
                && window_end < buf.len()
                && window.last() != Some(&self.format.line_end());
            if cut || !self.charge(u64::try_from(raw.next - self.pos).unwrap_or(u64::MAX)) {
                self.scan_limit(raw.number);
                return Next::Other;
            }
            self.steps += 1;
            self.pos = raw.next;
            self.line = raw.number;
            let line = raw.number;
            let parsed = parse::parse_line(raw.text);
            for kind in parsed.diagnostics.iter() {
                self.warn(line, WarningKind::Line(kind));
            }
            let Some(statement) = parsed.statement else {
                continue;
            };
            match statement {
                Statement::Label { .. } => {}
                Statement::Goto { label } => match self.jump(label, line) {
                    Ok(true) => {}
                    // Missing label: the rest of the file is ignored, and the run ends (§8).
                    Ok(false) => {
                        self.state = State::Finished(Ok(()));
                        return Next::Other;
                    }
                    Err(e) => {
                        self.state = State::Finished(Err(e));
                        return Next::Other;
                    }
                },
                Statement::If {
                    var,
                    op,
                    value,
                    label,
                } => {
                    let Operator::Seq = op else {
                        continue; // other operators: no-op (Decision 5)
                    };
                    let upper = var.to_ascii_uppercase();
                    let hit = match self.variable(&upper, vars) {
                        Some(v) => v.eq_ignore_ascii_case(value),
                        None => {
                            self.warn(line, WarningKind::UnknownVariable(shown(&upper)));
                            continue;
                        }
                    };
                    if !hit {
                        continue;
                    }
                    match self.jump(label, line) {
                        Ok(true) => {}
                        Ok(false) => {
                            self.state = State::Finished(Ok(()));
                            return Next::Other;
                        }
                        Err(e) => {
                            self.state = State::Finished(Err(e));
                            return Next::Other;
                        }
                    }
                }
                Statement::Set { name, value } => {
                    // Decision 10: `$APPNAME` follows the run's SETs.
                    if name.eq_ignore_ascii_case(b"APPNAME") {
                        self.appname = value.to_vec();
                    } else if name.eq_ignore_ascii_case(b"RFSNAME") {
                        self.rfsname = Some(value.to_vec());
                    }
                    return Next::Set {
                        name: span(buf, name),
                        value: span(buf, value),
                        line,
                    };
                }
                Statement::Get { file } => {
                    if self.handoffs >= self.limits.max_handoffs {
                        let err = RunError::GetChainTooDeep {
                            file: self.file_index(),
                            line,
                            max: self.limits.max_handoffs,
                        };
                        self.state = State::Finished(Err(err));
                        return Next::Other;
                    }
                    let name = self.expand_macaddr(file, line, vars);
                    self.state = State::NeedFile { name, line };
                    return Next::Other;
                }
            }
        }
    }

    /// `$VAR` for an IF: APPNAME from the run (Decision 10), GROUP defaulting to `0` (spec §7,
    /// edge case 27), everything else from the caller.
    fn variable<'v>(
        &'v self,
        upper: &[u8],
        vars: &'v (impl Variables + ?Sized),
    ) -> Option<Cow<'v, [u8]>> {
        if upper == b"APPNAME" {
            return Some(Cow::Borrowed(&self.appname));
        }
        match vars.lookup(upper) {
            Some(v) => Some(v),
            None if upper == b"GROUP" => Some(Cow::Borrowed(b"0")),
            None => None,
        }
    }

    /// `$MACADDR` in a GET name becomes the MAC as 12 lower-case hex digits (Decision 10, §9).
    fn expand_macaddr(
        &mut self,
        file: &[u8],
        line: u32,
        vars: &(impl Variables + ?Sized),
    ) -> Vec<u8> {
        const TOKEN: &[u8] = b"$MACADDR";
        if memchr::memmem::find(file, TOKEN).is_none() {
            return file.to_vec();
        }
        let Some(mac) = vars.lookup(b"MACADDR") else {
            self.warn(line, WarningKind::UnknownMacAddr);
            return file.to_vec();
        };
        let mac = normalize_mac(&mac);
        let mut out = Vec::with_capacity(file.len() + mac.len());
        let mut rest = file;
        while let Some(i) = memchr::memmem::find(rest, TOKEN) {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(&mac);
            rest = &rest[i + TOKEN.len()..];
        }
        out.extend_from_slice(rest);
        out
    }
}

/// The MAC in the form of Decision 10: lower-case hex, no `:`/`-`/`.` separators.
#[must_use]
pub fn normalize_mac(mac: &[u8]) -> Vec<u8> {
    mac.iter()
        .filter(|b| !matches!(b, b':' | b'-' | b'.'))
        .map(u8::to_ascii_lowercase)
        .collect()
}

fn cmp_upper(upper: &[u8], other: &[u8]) -> core::cmp::Ordering {
    let a = upper.iter().copied();
    let b = other.iter().map(u8::to_ascii_uppercase);
    a.cmp(b)
}

/// Where `part` (a sub-slice of `buf`) lies in `buf`; computed from addresses, no `unsafe`.
fn span(buf: &[u8], part: &[u8]) -> (usize, usize) {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    if start <= buf.len() && part.len() <= buf.len() - start {
        (start, start + part.len())
    } else {
        (0, 0)
    }
}
