#![doc = include_str!("../README.md")]
//!
//! # In this crate
//!
//! - [`mod@parse`]: the byte-level parser ([`parse()`], [`parse_line`], [`Script`], [`Statement`],
//!   [`Diagnostic`]); [`FileFormat`] finds how lines end.
//! - [`run`]: the interpreter ([`Run`], [`Step`], [`SetStep`], [`Variables`], [`Limits`],
//!   [`RunError`], [`Warning`]).
//! - [`upgrade`]: the software decision ([`decide`], [`SoftwareNames`], [`SoftwareFetch`]).
//! - [`lint`]: findings for administrators, with severities.
//! - [`mod@print`]: writes statements back as script lines.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod lint;
pub mod parse;
pub mod print;
pub mod run;
pub mod upgrade;

pub use parse::{
    Diagnostic, DiagnosticKind, FileFormat, Located, Operator, ParsedLine, Script, Statement,
    parse, parse_line,
};
pub use print::PrintError;
pub use run::{Limits, MAX_SHOWN, Run, RunError, SetStep, Step, Variables, Warning, WarningKind};
pub use upgrade::{SoftwareFetch, SoftwareNames, decide};
