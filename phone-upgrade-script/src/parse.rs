//! The parser: bytes in, statements with line numbers and per-line diagnostics out.
//!
//! The grammar is the vendor rule [vendor template L40]: a line that does not begin with `SET `,
//! `IF `, `GOTO `, `# ` or `GET ` is a comment (spec/script.md §2). Keywords are ASCII
//! case-insensitive (Decision 5); tokens are separated by spaces or tabs (Decision 9); a line ends
//! at LF and one trailing CR is removed (§1). Two file-level repairs, each reported on line 1
//! (issue 12): a UTF-8 byte order mark at the start is removed ([`DiagnosticKind::ByteOrderMark`]),
//! and a file with CRs but no LF at all has CR line ends ([`DiagnosticKind::CrLineEnds`]); see
//! [`FileFormat`]. Nothing here fails a file: a malformed line is a no-op with a [`Diagnostic`].

use alloc::vec::Vec;
use core::fmt;

use nom::IResult;
use nom::bytes::complete::{tag_no_case, take_till1};
use nom::character::complete::space1;

/// One statement of a script (spec/script.md §3). Byte strings borrow from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statement<'a> {
    /// `SET NAME value`: assign a parameter (§4). `value` has its quotes removed.
    Set {
        /// The parameter name as written (case-insensitive; the store upper-cases it).
        name: &'a [u8],
        /// The value, quotes removed; empty for `SET NAME` (§4, [?]).
        value: &'a [u8],
    },
    /// `GET filename`: hand over to another file (§5). `$MACADDR` is not yet expanded.
    Get {
        /// The file name, quotes removed.
        file: &'a [u8],
    },
    /// `IF $VAR op value GOTO label` (§6).
    If {
        /// The variable name without the `$`, as written.
        var: &'a [u8],
        /// The comparison operator; only [`Operator::Seq`] is defined.
        op: Operator<'a>,
        /// The value compared with, quotes removed.
        value: &'a [u8],
        /// The label jumped to when the test is true.
        label: &'a [u8],
    },
    /// `GOTO label` (§8).
    Goto {
        /// The label to go on after.
        label: &'a [u8],
    },
    /// `# label` (§8): the first token after `# `.
    Label {
        /// The label's name.
        name: &'a [u8],
    },
}

/// The operator of an `IF` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator<'a> {
    /// `SEQ`: ASCII case-insensitive string equality (Decision 5).
    Seq,
    /// Any other operator (e.g. `SNE`): the line is a no-op, and the linter reports it (Decision 5).
    Other(&'a [u8]),
}

/// What can be wrong with one line. None of these fails the file (spec/script.md §2–§6, Decision 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// The line starts with whitespace and would be a statement once trimmed; it is a comment (§2, Decision 9).
    LeadingWhitespace,
    /// Text after the statement's last token is ignored (§4, template L12105).
    TrailingText,
    /// A quoted value without its closing quote runs to the end of the line (§4, Decision 9).
    UnterminatedQuote,
    /// `SET NAME` without a value sets the empty value (§4, spec edge case 11).
    MissingValue,
    /// A value holds curly quotes (U+201C/U+201D or cp1252 0x93/0x94), which are not quotes (§4).
    CurlyQuote,
    /// `SET ` without a name: the line is a no-op.
    MalformedSet,
    /// `GET ` without a file name: the line is a no-op.
    MalformedGet,
    /// `GOTO ` without a label: the line is a no-op.
    MalformedGoto,
    /// An `IF` line without the shape `IF $VAR op value GOTO label`: a no-op (§6).
    MalformedIf,
    /// An `IF` operator other than `SEQ`: the line is a no-op (Decision 5).
    UnknownOperator,
    /// The file starts with a UTF-8 byte order mark (EF BB BF, an editor's "UTF-8 with BOM"):
    /// it is removed, so the first line reads as written. Reported on line 1.
    ByteOrderMark,
    /// The file has CRs but no LF (classic Mac line ends): each CR is read as a line end
    /// rather than the whole file being one line. Reported on line 1.
    CrLineEnds,
}

impl DiagnosticKind {
    /// All kinds, in declaration order.
    pub const ALL: [DiagnosticKind; 12] = [
        Self::LeadingWhitespace,
        Self::TrailingText,
        Self::UnterminatedQuote,
        Self::MissingValue,
        Self::CurlyQuote,
        Self::MalformedSet,
        Self::MalformedGet,
        Self::MalformedGoto,
        Self::MalformedIf,
        Self::UnknownOperator,
        Self::ByteOrderMark,
        Self::CrLineEnds,
    ];

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// A one-line English description for diagnostics.
    #[must_use]
    pub const fn message(self) -> &'static str {
        match self {
            Self::LeadingWhitespace => {
                "line starts with whitespace, so it is a comment, not a statement"
            }
            Self::TrailingText => "text after the statement is ignored",
            Self::UnterminatedQuote => "unterminated quote: the value runs to the end of the line",
            Self::MissingValue => "SET without a value sets the empty value",
            Self::CurlyQuote => "curly quotes are not quotes; they become part of the value",
            Self::MalformedSet => "SET without a parameter name is ignored",
            Self::MalformedGet => "GET without a file name is ignored",
            Self::MalformedGoto => "GOTO without a label is ignored",
            Self::MalformedIf => "IF line is not `IF $VAR SEQ value GOTO label`; it is ignored",
            Self::UnknownOperator => "IF operator is not SEQ; the line is ignored",
            Self::ByteOrderMark => {
                "the file starts with a UTF-8 byte order mark; it is removed (save without BOM)"
            }
            Self::CrLineEnds => {
                "lines end in CR alone (no LF in the file); each CR is read as a line end"
            }
        }
    }
}

impl fmt::Display for DiagnosticKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// A diagnostic about one line (1-based line number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Diagnostic {
    /// 1-based line number.
    pub line: u32,
    /// What is wrong.
    pub kind: DiagnosticKind,
}

/// The set of diagnostics of one line (a small bit set: no allocation per line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineDiagnostics(u16);

impl LineDiagnostics {
    fn add(&mut self, kind: DiagnosticKind) {
        self.0 |= kind.bit();
    }

    /// Whether `kind` was found on the line.
    #[must_use]
    pub const fn contains(self, kind: DiagnosticKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Whether the line is clean.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds found, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = DiagnosticKind> {
        DiagnosticKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

/// One parsed line: its statement (if it is one) and its diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedLine<'a> {
    /// The statement, or `None` for a comment or a malformed (no-op) line.
    pub statement: Option<Statement<'a>>,
    /// What the linter should say about the line.
    pub diagnostics: LineDiagnostics,
}

/// A statement with its 1-based line number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located<'a> {
    /// 1-based line number in the file.
    pub line: u32,
    /// The statement.
    pub statement: Statement<'a>,
}

/// A parsed file: its statements in order, and the diagnostics of all its lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script<'a> {
    /// Statements in file order; comments and no-op lines are left out.
    pub statements: Vec<Located<'a>>,
    /// Per-line diagnostics in line order.
    pub diagnostics: Vec<Diagnostic>,
    /// Number of lines in the file (a final line without a line end counts).
    pub line_count: u32,
}

/// Parse a whole file. Never fails; see [`Script::diagnostics`].
#[must_use]
pub fn parse(input: &[u8]) -> Script<'_> {
    let mut script = Script::default();
    let format = FileFormat::detect(input);
    for kind in format.diagnostics() {
        script.diagnostics.push(Diagnostic { line: 1, kind });
    }
    for line in format.lines(input) {
        let parsed = parse_line(line.text);
        if let Some(statement) = parsed.statement {
            script.statements.push(Located {
                line: line.number,
                statement,
            });
        }
        for kind in parsed.diagnostics.iter() {
            script.diagnostics.push(Diagnostic {
                line: line.number,
                kind,
            });
        }
        script.line_count = line.number;
    }
    script
}

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a file's lines are laid out: found once per file by [`FileFormat::detect`] (one pass),
/// then used for every line, so stepping through a file never rescans it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileFormat {
    /// The file starts with a UTF-8 BOM, which is skipped.
    pub bom: bool,
    /// The file has at least one CR and no LF: CR ends a line (no CR is then stripped).
    pub cr_line_ends: bool,
}

impl FileFormat {
    /// Look at `input` once: a leading BOM, and whether it has CRs but no LF.
    #[must_use]
    pub fn detect(input: &[u8]) -> FileFormat {
        let bom = input.starts_with(BOM);
        let body = if bom { &input[BOM.len()..] } else { input };
        // A lone CR as the very last byte is a one-line file with one trailing CR, read the
        // same either way: not worth a warning.
        let cr_line_ends = memchr::memchr(b'\n', body).is_none()
            && memchr::memchr(b'\r', body).is_some_and(|i| i + 1 < body.len());
        FileFormat { bom, cr_line_ends }
    }

    /// The file-level diagnostics (reported on line 1), in [`DiagnosticKind`] order.
    pub fn diagnostics(self) -> impl Iterator<Item = DiagnosticKind> {
        [
            self.bom.then_some(DiagnosticKind::ByteOrderMark),
            self.cr_line_ends.then_some(DiagnosticKind::CrLineEnds),
        ]
        .into_iter()
        .flatten()
    }

    /// The byte that ends a line: LF, or CR in a [`FileFormat::cr_line_ends`] file.
    #[must_use]
    pub const fn line_end(self) -> u8 {
        if self.cr_line_ends { b'\r' } else { b'\n' }
    }

    /// Where the first line starts (after the BOM).
    #[must_use]
    pub const fn start(self) -> usize {
        if self.bom { BOM.len() } else { 0 }
    }

    /// The lines of `input` (which this format was detected on), from line 1.
    #[must_use]
    pub fn lines(self, input: &[u8]) -> Lines<'_> {
        self.lines_from(input, self.start(), 0)
    }

    /// The lines of `input` from byte `pos`, numbering the first one `previous + 1`. A `pos`
    /// inside the BOM starts after it.
    #[must_use]
    pub fn lines_from(self, input: &[u8], pos: usize, previous: u32) -> Lines<'_> {
        Lines {
            input,
            pos: pos.max(self.start()),
            number: previous,
            end: self.line_end(),
        }
    }
}

/// One physical line of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLine<'a> {
    /// 1-based line number (saturates at `u32::MAX`).
    pub number: u32,
    /// The line without its LF and without one trailing CR (§1).
    pub text: &'a [u8],
    /// Byte offset just past this line's end (where the next line starts).
    pub next: usize,
}

/// The lines of a file, split at LF with one trailing CR removed from each (§1), or split at CR
/// for a file with CR line ends (see [`FileFormat`]).
#[derive(Clone, Debug)]
pub struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
    number: u32,
    /// The line end byte: LF, or CR for a [`FileFormat::cr_line_ends`] file.
    end: u8,
}

/// Iterate over the physical lines of `input`, starting at line 1 (format detected, BOM skipped).
#[must_use]
pub fn lines(input: &[u8]) -> Lines<'_> {
    FileFormat::detect(input).lines(input)
}

/// Iterate over the lines of `input` from byte `pos`, numbering the first one `previous + 1`.
///
/// This detects the [`FileFormat`] of the whole input first (one pass); a caller that steps
/// through the same file many times detects once and uses [`FileFormat::lines_from`].
#[must_use]
pub fn lines_from(input: &[u8], pos: usize, previous: u32) -> Lines<'_> {
    FileFormat::detect(input).lines_from(input, pos, previous)
}

impl<'a> Iterator for Lines<'a> {
    type Item = RawLine<'a>;

    fn next(&mut self) -> Option<RawLine<'a>> {
        let rest = self.input.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let (mut text, next) = match memchr::memchr(self.end, rest) {
            Some(i) => (&rest[..i], self.pos + i + 1),
            None => (rest, self.input.len()),
        };
        if self.end == b'\n'
            && let [head @ .., b'\r'] = text
        {
            text = head;
        }
        self.pos = next;
        self.number = self.number.saturating_add(1);
        Some(RawLine {
            number: self.number,
            text,
            next,
        })
    }
}

const fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [head @ .., last] = s {
        if is_space(*last) {
            s = head;
        } else {
            break;
        }
    }
    s
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [first, tail @ ..] = s {
        if is_space(*first) {
            s = tail;
        } else {
            break;
        }
    }
    s
}

type Res<'a, O> = IResult<&'a [u8], O, ()>;

/// One token: bytes up to a space or tab.
fn token(i: &[u8]) -> Res<'_, &[u8]> {
    take_till1(is_space)(i)
}

/// A keyword followed by at least one space or tab.
fn keyword<'a>(kw: &'static str, i: &'a [u8]) -> Res<'a, ()> {
    let (i, _) = tag_no_case(kw)(i)?;
    let (i, _) = space1(i)?;
    Ok((i, ()))
}

/// A value by the SET quoting rule (§4): `"…"` runs to the next quote, else one token.
/// Returns the value and the rest of the line; records quote diagnostics.
fn value<'a>(i: &'a [u8], diags: &mut LineDiagnostics) -> (&'a [u8], &'a [u8]) {
    let v = if let Some(inner) = i.strip_prefix(b"\"") {
        if let Some(end) = memchr::memchr(b'"', inner) {
            (&inner[..end], &inner[end + 1..])
        } else {
            diags.add(DiagnosticKind::UnterminatedQuote);
            (inner, &inner[inner.len()..])
        }
    } else {
        let end = i.iter().position(|b| is_space(*b)).unwrap_or(i.len());
        (&i[..end], &i[end..])
    };
    if has_curly_quote(v.0) {
        diags.add(DiagnosticKind::CurlyQuote);
    }
    v
}

/// cp1252 0x93/0x94, or UTF-8 U+201C/U+201D (§4: not quotes, only bytes).
fn has_curly_quote(v: &[u8]) -> bool {
    memchr::memchr2(0x93, 0x94, v).is_some()
        || memchr::memmem::find(v, b"\xE2\x80\x9C").is_some()
        || memchr::memmem::find(v, b"\xE2\x80\x9D").is_some()
}

/// Records trailing text if anything but whitespace is left.
fn end_of_line(rest: &[u8], diags: &mut LineDiagnostics) {
    if !trim_start(rest).is_empty() {
        diags.add(DiagnosticKind::TrailingText);
    }
}

/// Parse one line (already without its line end). Never fails.
#[must_use]
pub fn parse_line(line: &[u8]) -> ParsedLine<'_> {
    let mut diagnostics = LineDiagnostics::default();
    let statement = match line.first() {
        Some(b' ' | b'\t') => {
            // A comment by the vendor rule (§2); the linter reports a would-be statement.
            let trimmed = trim_start(line);
            let mut would_be = LineDiagnostics::default();
            if statement(trimmed, &mut would_be).is_some() || !would_be.is_empty() {
                diagnostics.add(DiagnosticKind::LeadingWhitespace);
            }
            None
        }
        Some(b'#' | b's' | b'S' | b'i' | b'I' | b'g' | b'G') => statement(line, &mut diagnostics),
        _ => None,
    };
    ParsedLine {
        statement,
        diagnostics,
    }
}

/// A line that starts with a keyword (no leading whitespace). Each statement trims trailing
/// whitespace after its keyword, so `GOTO ` alone is a malformed GOTO, not a comment.
fn statement<'a>(line: &'a [u8], diags: &mut LineDiagnostics) -> Option<Statement<'a>> {
    match line.first()? {
        b'#' => label(line, diags),
        b's' | b'S' => set(line, diags),
        b'i' | b'I' => if_(line, diags),
        b'g' | b'G' => goto(line, diags).or_else(|| get(line, diags)),
        _ => None,
    }
}

fn label<'a>(line: &'a [u8], diags: &mut LineDiagnostics) -> Option<Statement<'a>> {
    // `#` then a space or tab; `##…`, `#PBX` are comments (§2).
    let rest = line.strip_prefix(b"#")?;
    let (rest, _) = space1::<_, ()>(rest).ok()?;
    let (rest, name) = token(rest).ok()?;
    // Text after the first token is ignored [?] (§8).
    end_of_line(rest, diags);
    Some(Statement::Label { name })
}

fn set<'a>(line: &'a [u8], diags: &mut LineDiagnostics) -> Option<Statement<'a>> {
    let (rest, ()) = keyword("SET", line).ok()?;
    let rest = trim_end(rest);
    let Ok((rest, name)) = token(rest) else {
        diags.add(DiagnosticKind::MalformedSet);
        return None;
    };
    let rest = trim_start(rest);
    if rest.is_empty() {
        diags.add(DiagnosticKind::MissingValue);
        return Some(Statement::Set { name, value: b"" });
    }
    let (value, rest) = value(rest, diags);
    end_of_line(rest, diags);
    Some(Statement::Set { name, value })
}

fn get<'a>(line: &'a [u8], diags: &mut LineDiagnostics) -> Option<Statement<'a>> {
    let (rest, ()) = keyword("GET", line).ok()?;
    let rest = trim_end(rest);
    if rest.is_empty() {
        diags.add(DiagnosticKind::MalformedGet);
        return None;
    }
    let (file, rest) = value(rest, diags);
    end_of_line(rest, diags);
    Some(Statement::Get { file })
}

fn goto<'a>(line: &'a [u8], diags: &mut LineDiagnostics) -> Option<Statement<'a>> {
    let (rest, ()) = keyword("GOTO", line).ok()?;
    let Ok((rest, label)) = token(rest) else {
        diags.add(DiagnosticKind::MalformedGoto);
        return None;
    };
    end_of_line(rest, diags);
    Some(Statement::Goto { label })
}

fn if_<'a>(line: &'a [u8], diags: &mut LineDiagnostics) -> Option<Statement<'a>> {
    let (rest, ()) = keyword("IF", line).ok()?;
    let parsed = if_body(trim_end(rest), diags);
    if parsed.is_none() {
        diags.add(DiagnosticKind::MalformedIf);
    }
    parsed
}

/// `$VAR op value GOTO label` (§6: six tokens with `IF`).
fn if_body<'a>(i: &'a [u8], diags: &mut LineDiagnostics) -> Option<Statement<'a>> {
    let (i, var) = token(i).ok()?;
    let var = var.strip_prefix(b"$").filter(|v| !v.is_empty())?;
    let (i, _) = space1::<_, ()>(i).ok()?;
    let (i, op) = token(i).ok()?;
    let (i, _) = space1::<_, ()>(i).ok()?;
    if i.is_empty() {
        return None;
    }
    let (value, i) = value(i, diags);
    let (i, _) = space1::<_, ()>(i).ok()?;
    let (i, _) = tag_no_case::<_, _, ()>("GOTO")(i).ok()?;
    let (i, _) = space1::<_, ()>(i).ok()?;
    let (i, label) = token(i).ok()?;
    end_of_line(i, diags);
    let op = if op.eq_ignore_ascii_case(b"SEQ") {
        Operator::Seq
    } else {
        diags.add(DiagnosticKind::UnknownOperator);
        Operator::Other(op)
    };
    Some(Statement::If {
        var,
        op,
        value,
        label,
    })
}
