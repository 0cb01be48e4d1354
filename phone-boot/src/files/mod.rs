//! The file stage (files.md): server walk, script glue, software, display events.

pub mod display;
