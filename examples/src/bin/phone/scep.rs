//! `phone scep` — placeholder until its issue lands; it refuses to run rather than pretend.

use std::process::ExitCode;

/// Arguments of `phone scep`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("phone scep: not built yet");
    ExitCode::from(2)
}
