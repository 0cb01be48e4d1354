//! `phone`: the reference deskphone. Each subcommand runs one stage of the boot (or the whole
//! boot) on std networking, driving the Sans-IO crates of this workspace.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod settings;

/// The reference SIP deskphone.
#[derive(Parser, Debug)]
#[command(name = "phone", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Evaluate and lint upgrade/settings scripts as a phone would.
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Settings(cmd) => settings::run(cmd),
    }
}
