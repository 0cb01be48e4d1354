//! The language of Avaya-style upgrade and settings files (`96x1Supgrade.txt`,
//! `46xxsettings.txt`, …): a byte-level parser, a Sans-IO interpreter, the software decision and
//! a [linter](lint). The rules are those of `spec/script.md` and Decisions 5, 9 and 10.
//!
//! ```
//! use std::collections::BTreeMap;
//! use phone_upgrade_script::{Limits, Run, Step};
//!
//! let upgrade = b"IF $MODEL4 SEQ 9611 GOTO 9611SW\r\nGOTO GETSET\r\n# 9611SW\r\n\
//!                 SET APPNAME S96x1_SALBR7_1_4_0r11_V4r83.tar\r\n# GETSET\r\nGET 46xxsettings.txt\r\n";
//! let mut vars = BTreeMap::new();
//! vars.insert(b"MODEL4".to_vec(), b"9611".to_vec());
//!
//! let mut run = Run::new(b"96x1Supgrade.txt", upgrade.to_vec(), b"old.tar", Limits::default());
//! let mut sets = Vec::new();
//! let result = loop {
//!     match run.step(&vars) {
//!         Step::Set(s) => sets.push((s.name.to_vec(), s.value.to_vec())),
//!         Step::NeedFile { name, .. } => {
//!             assert_eq!(name, b"46xxsettings.txt");
//!             run.provide_file(Some(b"SET SIPDOMAIN example.com\n".to_vec()));
//!         }
//!         Step::Finished(result) => break result,
//!     }
//! };
//! assert!(result.is_ok());
//! assert_eq!(sets.len(), 2);
//! assert_eq!(run.appname(), b"S96x1_SALBR7_1_4_0r11_V4r83.tar");
//! ```
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
