//! The prompt-line messages of the whole boot, in display.md's order (rows 1–18).

use alloc::string::String;
use core::fmt;

use crate::files::display::DisplayEvent;

/// One message of the boot's display. `Display` renders display.md's exact text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Row 1.
    Restarting,
    /// Row 2.
    Initializing,
    /// Row 3.
    Loading,
    /// Row 4.
    Starting,
    /// Row 6, `DHCP: s secs`.
    Dhcp {
        /// Seconds since DHCP started.
        secs: u64,
    },
    /// Stage 1 with DOT1XWAIT=1 (link.md §2, Decision 14), `802.1X: s secs`.
    Dot1x {
        /// Seconds since the supplicant started.
        secs: u64,
    },
    /// Stage 1: EAP-Failure (Decision 14), `802.1X failed`.
    Dot1xFailed,
    /// Row 6a: the Program softkey is offered (PROCSTAT=0).
    ProgramSoftkey,
    /// Row 6b, `VLAN ID = n`.
    VlanId(u16),
    /// Row 6c (Decision 8).
    AddressConflict,
    /// Rows 8–13: the file and software stages.
    File(DisplayEvent),
    /// Row 14.
    ContactingCallServer,
    /// Row 15 (Decision 8), `SCEP: s secs`.
    Scep {
        /// Seconds since SCEP started.
        secs: u64,
    },
    /// Row 16, `Extension:`.
    Extension,
    /// Row 16, `Password:`.
    Password,
    /// Row 17 (Decision 8).
    Registering,
    /// Row 17a (Decision 8).
    RegistrationFailed,
    /// Row 18: idle with the extension shown.
    Idle {
        /// The registered extension.
        extension: String,
    },
    /// Craft access menu (dhcp.md §9).
    Craft,
}

impl fmt::Display for Screen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Screen::Restarting => f.write_str("Restarting..."),
            Screen::Initializing => f.write_str("Initializing"),
            Screen::Loading => f.write_str("Loading..."),
            Screen::Starting => f.write_str("Starting..."),
            Screen::Dhcp { secs } => write!(f, "DHCP: {secs} secs"),
            Screen::Dot1x { secs } => write!(f, "802.1X: {secs} secs"),
            Screen::Dot1xFailed => f.write_str("802.1X failed"),
            Screen::ProgramSoftkey => f.write_str("[Program]"),
            Screen::VlanId(v) => write!(f, "VLAN ID = {v}"),
            Screen::AddressConflict => f.write_str("Address conflict"),
            Screen::File(e) => write!(f, "{e}"),
            Screen::ContactingCallServer => f.write_str("Contacting Call Server..."),
            Screen::Scep { secs } => write!(f, "SCEP: {secs} secs"),
            Screen::Extension => f.write_str("Extension:"),
            Screen::Password => f.write_str("Password:"),
            Screen::Registering => f.write_str("Registering..."),
            Screen::RegistrationFailed => f.write_str("Registration failed"),
            Screen::Idle { extension } => write!(f, "{extension}"),
            Screen::Craft => f.write_str("Craft: ADDR SSON GROUP VIEW CLEAR EXIT"),
        }
    }
}
