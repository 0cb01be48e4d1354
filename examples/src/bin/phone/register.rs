//! `phone register` — placeholder until its issue lands; it refuses to run rather than pretend.

use std::process::ExitCode;

/// Arguments of `phone register`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("phone register: not built yet");
    ExitCode::from(2)
}
