//! The timeline picture.

use alloc::string::String;

use super::Trace;

/// The trace as one self-contained SVG.
#[must_use]
pub fn timeline(_trace: &Trace) -> String {
    String::new()
}
