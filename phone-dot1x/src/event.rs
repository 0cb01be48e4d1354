//! What the supplicant reports and what it is told.

use alloc::string::String;
use core::fmt;

use phone_sansio::Instant;

use crate::config::Method;
use crate::tls::TlsError;

/// A question for the user (Decision 14): shown as the prompt line, answered with
/// [`Command::Identity`] or [`Command::Password`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// `802.1X ID:`
    Identity,
    /// `802.1X Password:`
    Password,
}

impl fmt::Display for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Prompt::Identity => "802.1X ID:",
            Prompt::Password => "802.1X Password:",
        })
    }
}

/// What the supplicant reports. Credentials never appear in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The authenticator asked for something only the user knows: show the prompt.
    Prompt(Prompt),
    /// The authenticator started a method the phone does (its first Request was answered).
    Authenticating {
        /// The method.
        method: Method,
    },
    /// EAP-Success: the port is authorized.
    Authorized {
        /// The method that succeeded (`None`: the authenticator accepted the identity alone).
        method: Option<Method>,
    },
    /// EAP-Failure: authentication failed (`802.1X failed`); [`Event::Held`] follows.
    Failed,
    /// The phone waits until `until` (heldPeriod) before trying again.
    Held {
        /// When it tries again.
        until: Instant,
    },
    /// maxStart EAPOL-Starts went unanswered: no authenticator on the port, which IEEE
    /// 802.1X-2004 treats as authorized (§8.2.11: CONNECTING → AUTHENTICATED).
    NoAuthenticator,
    /// The authenticator went quiet for authPeriod in the middle of a conversation: the phone
    /// starts over with an EAPOL-Start.
    TimedOut,
    /// The authenticator asked for a method the phone does not do (or may not use): it
    /// answered with a Nak.
    Nak {
        /// The type the authenticator asked for.
        requested: u8,
        /// The type the phone proposed (0: none).
        offered: u8,
    },
    /// EAP-TLS failed on the phone's side (the server's certificate refused, a TLS alert, bad
    /// fragments); the authenticator's Failure or a timeout follows.
    TlsFailed(TlsError),
    /// An EAP Notification's text (at most 128 bytes, lossily decoded).
    Notification(String),
    /// An EAPOL-Logoff went out.
    LoggedOff,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Prompt(p) => write!(f, "{p}"),
            Event::Authenticating { method } => write!(f, "802.1X: authenticating ({method})"),
            Event::Authorized { method: Some(m) } => write!(f, "802.1X authorized ({m})"),
            Event::Authorized { method: None } => f.write_str("802.1X authorized"),
            Event::Failed => f.write_str("802.1X failed"),
            Event::Held { until } => write!(f, "802.1X: held until {until:?}"),
            Event::NoAuthenticator => {
                f.write_str("802.1X: no authenticator answered; port taken as authorized")
            }
            Event::TimedOut => f.write_str("802.1X: authenticator timed out; starting over"),
            Event::Nak { requested, offered } => {
                write!(f, "802.1X: method {requested} refused, proposed {offered}")
            }
            Event::TlsFailed(e) => write!(f, "802.1X: {e}"),
            Event::Notification(text) => write!(f, "802.1X notification: {text}"),
            Event::LoggedOff => f.write_str("802.1X: logged off"),
        }
    }
}

/// What the phone tells the supplicant.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// The user's answer to `802.1X ID:` (1–31 characters; otherwise the prompt comes again).
    Identity(&'a str),
    /// The user's answer to `802.1X Password:` (0–31 characters; otherwise the prompt comes
    /// again).
    Password(&'a str),
    /// Send an EAPOL-Logoff and stay quiet until [`Command::Restart`].
    Logoff,
    /// Start over with an EAPOL-Start (link up again, settings changed).
    Restart,
}

impl fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Identity(_) => f.write_str("Identity(..)"),
            Command::Password(_) => f.write_str("Password(..)"),
            Command::Logoff => f.write_str("Logoff"),
            Command::Restart => f.write_str("Restart"),
        }
    }
}
