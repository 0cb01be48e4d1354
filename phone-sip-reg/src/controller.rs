//! SIP controllers: `host[:port][;transport=udp|tcp|tls]` (spec/sip.md §2).
//!
//! Default transport TLS; default port 5061 for TLS, 5060 for UDP and TCP; the transport value
//! compares without regard to case. The host is a dotted-decimal IPv4 address or a DNS name
//! (Decision 12; the boot expands a name into its A records before it builds the client). The grammar, the types and the merge of Decision 6 are phone-settings' (one
//! parser for the store and the machine); this module adds the list-length bound and the error
//! type of the registration configuration.

use alloc::string::String;
use alloc::vec::Vec;

use phone_settings::controller as settings;
pub use phone_settings::controller::{Controller, Transport};

/// Longest SIP_CONTROLLER_LIST value (spec/sip.md §1).
pub const MAX_CONTROLLER_LIST: usize = 255;

/// Why a controller list did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    /// Longer than [`MAX_CONTROLLER_LIST`].
    #[error("controller list longer than {MAX_CONTROLLER_LIST} characters")]
    TooLong,
    /// A designator is badly formed.
    #[error("bad controller {0:?} (expected IPv4-or-name[:port][;transport=udp|tcp|tls])")]
    Bad(String),
}

/// Parse a SIP_CONTROLLER_LIST value, dropping later duplicates (spec/sip.md §2, merge step 3).
/// A badly formed designator rejects the whole value (the script rule: a value that is not
/// valid as a whole is ignored as a whole). The designator grammar is phone-settings' one, so
/// the list the store validated is the list the machine registers with.
///
/// # Errors
/// [`ControllerError`].
pub fn parse_controller_list(list: &str) -> Result<Vec<Controller>, ControllerError> {
    if list.len() > MAX_CONTROLLER_LIST {
        return Err(ControllerError::TooLong);
    }
    let parsed = settings::parse_controller_list(list).map_err(|e| match e {
        phone_settings::ValueError::BadController(d) => ControllerError::Bad(d),
        other => ControllerError::Bad(alloc::format!("{other}")),
    })?;
    Ok(settings::merge_controllers([parsed.as_slice()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn designators() {
        let l = parse_controller_list(
            "10.8.61.20:5061;transport=tls,192.168.178.1;transport=UDP,10.0.0.1,10.0.0.1:5061",
        )
        .expect("parses");
        assert_eq!(l.len(), 3, "duplicate after defaults dropped");
        assert_eq!(
            l[1],
            Controller {
                host: "192.168.178.1".into(),
                port: 5060,
                transport: Transport::Udp
            }
        );
        assert_eq!(l[2].transport, Transport::Tls);
        assert_eq!(l[2].port, 5061);
        for bad in [
            "proxy_1:5555;transport=tls",
            "10.0.0.1:0",
            "10.0.0.256",
            "10.0.0.1;transport=sctp",
            "10.0.0.1,",
        ] {
            assert!(parse_controller_list(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_controller_list(""), Ok(Vec::new()));
    }
}
