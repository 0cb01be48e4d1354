//! `phone files` — placeholder until its issue lands; it refuses to run rather than pretend.

use std::process::ExitCode;

/// Arguments of `phone files`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("phone files: not built yet");
    ExitCode::from(2)
}
