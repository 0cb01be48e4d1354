//! `phone`: the reference deskphone. Each subcommand runs one stage of the boot (or the whole
//! boot) on std networking, driving the Sans-IO crates of this workspace on one non-blocking
//! event loop ([`driver`]).
//!
//! One module per subcommand; each exposes its clap arguments and a `run` returning the exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod boot;
mod dhcp;
mod dot1x;
mod files;
mod firmware;
mod fleet;
mod register;
mod scep;
mod settings;
mod trace_cmd;

// The one driver and the modules every subcommand shares (issue 11): the event loop, the raw
// link-layer socket, the arguments, the networking policy, the state directory, the terminal.
mod arp;
mod cli;
mod driver;
mod net;
mod state_dir;
mod term;

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
    /// Acquire a DHCP lease on an interface and print it with its SSON parameters.
    Dhcp(dhcp::Args),
    /// Enroll a device certificate with a SCEP CA.
    Scep(scep::Args),
    /// Register with SIP controllers, with failover and refresh.
    Register(register::Args),
    /// Authenticate the port with 802.1X (EAP-MD5 or EAP-TLS) against the switch.
    Dot1x(dot1x::Args),
    /// Run the file stage: fetch the upgrade script, settings and software.
    Files(files::Args),
    /// Firmware image signing tools for admins and the lab.
    #[command(subcommand)]
    Firmware(firmware::FirmwareCommand),
    /// Boot the phone from power-on.
    Boot(boot::Args),
    /// A boot storm: N virtual phones against real servers, with a report and a picture.
    Fleet(fleet::Args),
    /// Replay a recorded boot (`phone boot --record FILE`) with no network; exit 1 at the
    /// first divergence.
    Replay(trace_cmd::ReplayArgs),
    /// Draw a recorded boot as one SVG timeline, or a fleet report as one HTML page.
    Timeline(trace_cmd::TimelineArgs),
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
        Command::Dhcp(args) => dhcp::run(args),
        Command::Dot1x(args) => dot1x::run(args),
        Command::Scep(args) => scep::run(args),
        Command::Register(args) => register::run(args),
        Command::Files(args) => files::run(args),
        Command::Firmware(cmd) => firmware::run(cmd),
        Command::Boot(args) => boot::run(args),
        Command::Fleet(args) => fleet::run(args),
        Command::Replay(args) => trace_cmd::replay(args),
        Command::Timeline(args) => trace_cmd::timeline(args),
    }
}
