//! Prompt-line messages of the file and software stages (display.md rows 8–13).

use alloc::string::String;
use core::fmt;

/// One prompt-line message. `Display` renders the exact text of display.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayEvent {
    /// Row 8, `HTTP: n uri`: a GET; `n` counts the requests of this stage.
    Http {
        /// Request counter, from 1.
        n: u32,
        /// The URI requested.
        uri: String,
    },
    /// Row 10, `<app_filename>` / `n KB received`: a software download in progress.
    Received {
        /// The image being downloaded.
        name: String,
        /// Kilobytes received so far.
        kb: u64,
        /// Total kilobytes, when known (for a progress bar).
        total_kb: Option<u64>,
    },
    /// Row 11, `File Obtained; please wait... s secs`: a valid image, flash being erased.
    FileObtained {
        /// Seconds since the image was obtained.
        secs: u64,
    },
    /// Row 12 (96x1 text), `Saving to flash n%`.
    SavingToFlash {
        /// Percent written.
        percent: u8,
    },
    /// Row 13, then row 1: restart into the new image.
    Restarting,
}

impl fmt::Display for DisplayEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisplayEvent::Http { n, uri } => write!(f, "HTTP: {n} {uri}"),
            DisplayEvent::Received { name, kb, .. } => write!(f, "{name} / {kb} KB received"),
            DisplayEvent::FileObtained { secs } => {
                write!(f, "File Obtained; please wait... {secs} secs")
            }
            DisplayEvent::SavingToFlash { percent } => write!(f, "Saving to flash {percent}%"),
            DisplayEvent::Restarting => f.write_str("Restarting..."),
        }
    }
}
