//! `phone settings eval|lint` (being built; issue 2).

use std::process::ExitCode;

use clap::Subcommand;

/// `phone settings ...`
#[derive(Subcommand, Debug)]
pub enum SettingsCommand {
    /// Run a script as a phone would and print the effective parameters.
    Eval,
}

pub fn run(_cmd: SettingsCommand) -> ExitCode {
    ExitCode::from(2)
}
