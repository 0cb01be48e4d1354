//! Domain names (RFC 1035 §3.1, §4.1.4): a validated name in uncompressed wire form, read from
//! text or from a message with compression pointers.
//!
//! Every bound is explicit: a label is 1–63 octets, a name at most [`MAX_NAME_LEN`] octets in
//! wire form, and reading a name follows at most [`MAX_POINTERS`] compression pointers, each of
//! which must point strictly before the labels that contain it, so a pointer loop cannot exist.
//! Names are kept in lower case: DNS compares names without regard to ASCII case (RFC 4343).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Longest name in wire form, length octets and the root's zero included (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Most compression pointers followed while reading one name. Real servers need one or two.
pub const MAX_POINTERS: usize = 16;
/// The header is 12 bytes; a pointer into it is not a name.
const HEADER_LEN: usize = 12;

/// Why a text is not a host name the resolver asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing to resolve.
    #[error("empty name")]
    Empty,
    /// Two dots in a row, or a leading dot.
    #[error("empty label")]
    EmptyLabel,
    /// A label of more than 63 octets.
    #[error("a label is longer than {MAX_LABEL_LEN} octets")]
    LabelTooLong,
    /// More than 255 octets in wire form.
    #[error("longer than {MAX_NAME_LEN} octets")]
    TooLong,
    /// A character other than a letter, digit, hyphen or underscore in a label.
    #[error("character {0:?} is not allowed in a host name")]
    BadCharacter(char),
}

/// Why a name in a message could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameReadError {
    /// The message ends inside the name.
    #[error("the message ends inside a name")]
    Truncated,
    /// A length octet with the reserved top bits 01 or 10 (RFC 1035 §4.1.4, RFC 6891 §5).
    #[error("label type 0x{0:02x} is not supported")]
    BadLabelType(u8),
    /// More than [`MAX_NAME_LEN`] octets once expanded.
    #[error("a name is longer than {MAX_NAME_LEN} octets")]
    TooLong,
    /// More than [`MAX_POINTERS`] pointers in one name.
    #[error("more than {MAX_POINTERS} compression pointers in one name")]
    TooManyPointers,
    /// A pointer to itself, to later bytes or into the header: a loop or garbage.
    #[error("a compression pointer to offset {0} does not point back into the message")]
    BadPointer(usize),
}

/// A domain name in uncompressed wire form, lower case, at most [`MAX_NAME_LEN`] octets:
/// `len label len label ... 0`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name {
    wire: Vec<u8>,
}

impl Name {
    /// The root name (`.`).
    #[must_use]
    pub fn root() -> Name {
        Name {
            wire: alloc::vec![0],
        }
    }

    /// A host name from text: labels of letters, digits, `-` and `_` separated by dots, an
    /// optional final dot. Upper case is folded to lower case.
    pub fn from_text(text: &str) -> Result<Name, NameError> {
        let body = text.strip_suffix('.').unwrap_or(text);
        if body.is_empty() {
            return Err(NameError::Empty);
        }
        let mut wire = Vec::with_capacity(body.len().saturating_add(2).min(MAX_NAME_LEN));
        for label in body.split('.') {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            if wire.len() + 1 + label.len() + 1 > MAX_NAME_LEN {
                return Err(NameError::TooLong);
            }
            if let Some(c) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(NameError::BadCharacter(c));
            }
            // A label of at most 63 octets: the cast cannot truncate.
            wire.push(label.len() as u8);
            wire.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
        wire.push(0);
        Ok(Name { wire })
    }

    /// A name from labels (any octets; upper case folded), for tests and builders.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a [u8]>) -> Result<Name, NameError> {
        let mut wire = Vec::new();
        for label in labels {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            if wire.len() + 1 + label.len() + 1 > MAX_NAME_LEN {
                return Err(NameError::TooLong);
            }
            wire.push(label.len() as u8);
            wire.extend(label.iter().map(u8::to_ascii_lowercase));
        }
        wire.push(0);
        Ok(Name { wire })
    }

    /// The uncompressed wire form, ending with the root's zero octet.
    #[must_use]
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// The labels, root excluded.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        Labels {
            wire: &self.wire,
            pos: 0,
        }
    }

    /// Whether this is the root name.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.wire.len() <= 1
    }

    /// Reads the name at `pos` of `msg`, following compression pointers; returns it and the
    /// offset just after it (after the first pointer, when there is one).
    pub fn read(msg: &[u8], pos: usize) -> Result<(Name, usize), NameReadError> {
        let mut wire = Vec::new();
        let mut p = pos;
        // Start of the label sequence being read: a pointer must point strictly before it.
        let mut start = pos;
        let mut end = None;
        let mut pointers = 0usize;
        loop {
            let len = *msg.get(p).ok_or(NameReadError::Truncated)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    wire.push(0);
                    return Ok((Name { wire }, end.unwrap_or(p + 1)));
                }
                0x00 => {
                    let n = usize::from(len);
                    let label = msg.get(p + 1..p + 1 + n).ok_or(NameReadError::Truncated)?;
                    if wire.len() + 1 + n + 1 > MAX_NAME_LEN {
                        return Err(NameReadError::TooLong);
                    }
                    wire.push(len);
                    wire.extend(label.iter().map(u8::to_ascii_lowercase));
                    p += 1 + n;
                }
                0xc0 => {
                    let low = *msg.get(p + 1).ok_or(NameReadError::Truncated)?;
                    let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                    if end.is_none() {
                        end = Some(p + 2);
                    }
                    pointers += 1;
                    if pointers > MAX_POINTERS {
                        return Err(NameReadError::TooManyPointers);
                    }
                    if target >= start || target < HEADER_LEN {
                        return Err(NameReadError::BadPointer(target));
                    }
                    start = target;
                    p = target;
                }
                _ => return Err(NameReadError::BadLabelType(len)),
            }
        }
    }
}

struct Labels<'a> {
    wire: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(*self.wire.get(self.pos)?);
        if n == 0 {
            return None;
        }
        let label = self.wire.get(self.pos + 1..self.pos + 1 + n)?;
        self.pos += 1 + n;
        Some(label)
    }
}

impl fmt::Display for Name {
    /// Dotted text without the final dot (`.` for the root); octets other than letters, digits,
    /// `-` and `_` are written `\DDD` (RFC 1035 §5.1), so a hostile name cannot forge a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in label {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    write!(f, "{}", char::from(b))?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl From<&Name> for String {
    fn from(n: &Name) -> String {
        alloc::format!("{n}")
    }
}
