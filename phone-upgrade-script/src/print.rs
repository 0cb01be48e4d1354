//! The printer: statements back to bytes, so that `parse(print(script))` gives the same statements
//! on the same lines (proven by the proptest in `tests/roundtrip.rs`).
//!
//! Keywords are printed upper case, values are quoted only when the quoting rule needs it
//! (spec/script.md §4), and lines end in CRLF: a line end of CR LF loses exactly one CR on
//! reading (§1), so a token that itself ends in CR survives.

use alloc::vec::Vec;
use core::fmt;

use crate::parse::{Operator, Script, Statement};

/// Why a statement cannot be written so that it reads back the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrintError {
    /// A name, label, variable or operator is empty or holds a space, tab or LF.
    #[error("line {line}: a token is empty or holds a space, tab or line feed")]
    BadToken {
        /// Line of the statement.
        line: u32,
    },
    /// A value needs quotes (space, tab, empty, leading quote) but holds a quote, or holds a LF.
    #[error("line {line}: the value cannot be written (quote or line feed inside)")]
    BadValue {
        /// Line of the statement.
        line: u32,
    },
    /// An `Operator::Other` that reads back as `SEQ`.
    #[error("line {line}: operator `Other` spelled like SEQ")]
    AmbiguousOperator {
        /// Line of the statement.
        line: u32,
    },
    /// Statement lines must be 1-based and strictly increasing.
    #[error("line {line}: statements are not in increasing line order")]
    LineOrder {
        /// The offending line number.
        line: u32,
    },
}

fn token_ok(t: &[u8]) -> bool {
    !t.is_empty() && !t.iter().any(|b| matches!(b, b' ' | b'\t' | b'\n'))
}

/// How a value is written: bare, or inside quotes.
fn value_form(v: &[u8]) -> Option<bool> {
    if v.contains(&b'\n') {
        return None;
    }
    let needs_quotes = v.is_empty() || v[0] == b'"' || v.iter().any(|b| matches!(b, b' ' | b'\t'));
    if needs_quotes && v.contains(&b'"') {
        return None;
    }
    Some(needs_quotes)
}

fn push_value(out: &mut Vec<u8>, v: &[u8], line: u32) -> Result<(), PrintError> {
    match value_form(v) {
        None => Err(PrintError::BadValue { line }),
        Some(true) => {
            out.push(b'"');
            out.extend_from_slice(v);
            out.push(b'"');
            Ok(())
        }
        Some(false) => {
            out.extend_from_slice(v);
            Ok(())
        }
    }
}

fn push_token(out: &mut Vec<u8>, t: &[u8], line: u32) -> Result<(), PrintError> {
    if !token_ok(t) {
        return Err(PrintError::BadToken { line });
    }
    out.extend_from_slice(t);
    Ok(())
}

impl Statement<'_> {
    /// Append this statement as one line without its line end. `line` only labels errors.
    ///
    /// # Errors
    /// [`PrintError`] when the statement has no byte form that reads back the same.
    pub fn write_to(&self, out: &mut Vec<u8>, line: u32) -> Result<(), PrintError> {
        match *self {
            Statement::Set { name, value } => {
                out.extend_from_slice(b"SET ");
                push_token(out, name, line)?;
                out.push(b' ');
                push_value(out, value, line)
            }
            Statement::Get { file } => {
                out.extend_from_slice(b"GET ");
                push_value(out, file, line)
            }
            Statement::If {
                var,
                op,
                value,
                label,
            } => {
                out.extend_from_slice(b"IF $");
                push_token(out, var, line)?;
                out.push(b' ');
                match op {
                    Operator::Seq => out.extend_from_slice(b"SEQ"),
                    Operator::Other(o) if o.eq_ignore_ascii_case(b"SEQ") => {
                        return Err(PrintError::AmbiguousOperator { line });
                    }
                    Operator::Other(o) => push_token(out, o, line)?,
                }
                out.push(b' ');
                push_value(out, value, line)?;
                out.extend_from_slice(b" GOTO ");
                push_token(out, label, line)
            }
            Statement::Goto { label } => {
                out.extend_from_slice(b"GOTO ");
                push_token(out, label, line)
            }
            Statement::Label { name } => {
                out.extend_from_slice(b"# ");
                push_token(out, name, line)
            }
        }
    }
}

impl Script<'_> {
    /// The file's bytes: each statement on its own line number, empty lines in the gaps, CRLF
    /// line ends. Diagnostics are not printed.
    ///
    /// # Errors
    /// [`PrintError`] when a statement cannot be written or the lines are out of order.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PrintError> {
        let mut out = Vec::new();
        let mut at = 1u32;
        for s in &self.statements {
            if s.line < at {
                return Err(PrintError::LineOrder { line: s.line });
            }
            for _ in at..s.line {
                out.extend_from_slice(b"\r\n");
            }
            s.statement.write_to(&mut out, s.line)?;
            out.extend_from_slice(b"\r\n");
            at = s.line.saturating_add(1);
        }
        Ok(out)
    }
}

/// Lossy text form for messages (bytes ≥ 0x80 are shown as U+FFFD); use
/// [`Statement::write_to`] for the exact bytes.
impl fmt::Display for Statement<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        if self.write_to(&mut out, 0).is_err() {
            // Not representable exactly; show the parts anyway.
            return write!(f, "{self:?}");
        }
        f.write_str(&alloc::string::String::from_utf8_lossy(&out))
    }
}
