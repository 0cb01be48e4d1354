//! `phone firmware` — placeholder until its issue lands; it refuses to run rather than pretend.

use std::process::ExitCode;

/// `phone firmware ...`
#[derive(clap::Subcommand, Debug)]
pub enum FirmwareCommand {
    /// Generate a firmware signing key pair.
    Keygen,
}

pub fn run(_cmd: FirmwareCommand) -> ExitCode {
    eprintln!("phone firmware: not built yet");
    ExitCode::from(2)
}
