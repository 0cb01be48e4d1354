//! What the boot reports for the log: each stage's typed errors, refusals and notices, wrapped
//! as they are (issue 10: nothing on the way up is formatted into a string to be matched).
//! `Display` gives the log line.

use alloc::string::String;
use core::fmt;
use core::net::Ipv4Addr;

use crate::files::warning::FileWarning;
use crate::firmware::Rejected;

/// One warning of the boot, by stage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A network value (DHCP standard option, option 43, SSON, craft GROUP) the settings store
    /// refused; its `source` says which layer.
    Setting(phone_settings::Warning),
    /// A `--set` value the operator gave, refused by the settings store.
    OperatorSetting(phone_settings::Warning),
    /// The phone stopped using its address.
    LeaseLost(phone_dhcp::client::LostReason),
    /// Another host has the address (DHCPDECLINE sent, `Address conflict` shown).
    AddressConflict(Ipv4Addr),
    /// Another DHCP notice worth a log line (NAK, refused reply, VLANTEST expiry, reuse, ...).
    Dhcp(phone_dhcp::Event),
    /// A file-stage warning.
    Files(FileWarning),
    /// The software named by APPNAME was not installed; the running slot stays.
    SoftwareRejected {
        /// The application name.
        name: String,
        /// Why.
        reason: Rejected,
    },
    /// SCEP could not start (MYCERTURL, subject or key unusable).
    ScepStart(phone_scep::ScepError),
    /// A SCEP request is retried after a transport failure or a busy server.
    ScepRetry {
        /// The operation.
        operation: phone_scep::http::Operation,
        /// 1-based retry number.
        retry: u32,
        /// What went wrong.
        error: phone_scep::ScepError,
    },
    /// The CA rejected the request (FAILURE CertRep).
    ScepRejected(phone_scep::FailInfo),
    /// The enrollment ended without a certificate.
    ScepFailed(phone_scep::ScepError),
    /// The issued certificate or its key could not be encoded for the record.
    IdentityNotStored,
    /// A SIP parameter from the settings was refused.
    SipSetting {
        /// The parameter.
        name: String,
        /// Why.
        error: phone_sip_reg::SettingError,
    },
    /// No SIP controller is configured: registration cannot start.
    NoController,
    /// A registration attempt with a controller failed.
    ControllerFailed {
        /// The controller.
        controller: phone_sip_reg::Controller,
        /// Why.
        cause: phone_sip_reg::Failure,
    },
    /// A host name did not resolve ([`phone_dns::Event::Failed`]: the server or controller it
    /// names fails like an unreachable one), or a DNS server did not answer for it
    /// ([`phone_dns::Event::ServerFailed`]: the next DNS server is asked).
    Dns(phone_dns::Event),
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Setting(w) => write!(f, "{w}"),
            Warning::OperatorSetting(w) => write!(f, "--set: {w}"),
            Warning::LeaseLost(r) => write!(f, "lease lost: {r}"),
            Warning::AddressConflict(a) => write!(f, "address conflict on {a}"),
            Warning::Dhcp(e) => write!(f, "DHCP: {e}"),
            Warning::Files(w) => write!(f, "files: {w}"),
            Warning::SoftwareRejected { name, reason } => {
                write!(f, "software {name} rejected: {reason}")
            }
            Warning::ScepStart(e) => write!(f, "SCEP not started: {e}"),
            Warning::ScepRetry {
                operation,
                retry,
                error,
            } => write!(f, "SCEP: {error}; {operation} retry {retry}"),
            Warning::ScepRejected(fi) => write!(f, "SCEP rejected: {fi}"),
            Warning::ScepFailed(e) => write!(f, "SCEP failed: {e}"),
            Warning::IdentityNotStored => f.write_str("SCEP: certificate not storable"),
            Warning::SipSetting { name, error } => write!(f, "{name}: {error}"),
            Warning::NoController => f.write_str("no SIP controller configured"),
            Warning::ControllerFailed { controller, cause } => {
                write!(f, "controller {controller}: {cause}")
            }
            Warning::Dns(e) => write!(f, "{e}"),
        }
    }
}
