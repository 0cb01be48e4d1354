//! SIP_CONTROLLER_LIST designators and the merge of Decision 6 (spec/sip.md §2).
//!
//! ```text
//! list       = "" / designator *( "," designator )      ; no spaces, <=255 chars
//! designator = host [ ":" port ] [ ";transport=" ( "tls" / "tcp" / "udp" ) ]
//! host       = dotted-decimal IPv4 address
//! ```
//! Default transport TLS; default port 5061 for TLS and 5060 for UDP/TCP. The transport value
//! compares without regard to case. DNS names are not supported on 96x1 [vendor template L1443].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::store::shown;
use crate::value::{ValueError, is_ipv4};

/// The transport of a SIP controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    /// `transport=udp`
    Udp,
    /// `transport=tcp`
    Tcp,
    /// `transport=tls`, the default when a designator names none (spec/sip.md §2).
    Tls,
}

impl Transport {
    /// The port used when a designator gives none: 5061 for TLS, 5060 otherwise.
    #[must_use]
    pub const fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            Transport::Udp | Transport::Tcp => 5060,
        }
    }

    /// The lower-case token used in a designator.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// The upper-case token of a SIP Via header (RFC 3261 §18.2.1).
    #[must_use]
    pub const fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Whether the transport is reliable, so SIP does not retransmit (RFC 3261 §17.1.2.2).
    #[must_use]
    pub const fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Parse a transport token case-insensitively (`udp`, `TCP`, `Tls`, ...).
    #[must_use]
    pub fn from_token(s: &str) -> Option<Self> {
        [Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One SIP controller, normalised: the defaults of spec/sip.md §2 are filled in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Controller {
    /// Dotted-decimal IPv4 address.
    pub host: String,
    /// Port, with the transport's default filled in.
    pub port: u16,
    /// Transport, TLS when the designator names none.
    pub transport: Transport,
}

impl fmt::Display for Controller {
    /// The fully spelled designator, e.g. `10.0.0.1:5061;transport=tls`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{};transport={}",
            self.host, self.port, self.transport
        )
    }
}

/// Parse one designator `host[:port][;transport=udp|tcp|tls]`.
///
/// # Errors
/// [`ValueError::BadController`] naming the designator when it is badly formed.
pub fn parse_controller(designator: &str) -> Result<Controller, ValueError> {
    let bad = || ValueError::BadController(shown(designator));
    let (hostport, transport) = match designator.split_once(';') {
        None => (designator, Transport::Tls),
        Some((hp, param)) => {
            let (key, val) = param.split_once('=').ok_or_else(bad)?;
            if !key.eq_ignore_ascii_case("transport") {
                return Err(bad());
            }
            (hp, Transport::from_token(val).ok_or_else(bad)?)
        }
    };
    let (host, port) = match hostport.split_once(':') {
        None => (hostport, transport.default_port()),
        Some((h, p)) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let port: u16 = p.parse().map_err(|_| bad())?;
            if port == 0 {
                return Err(bad());
            }
            (h, port)
        }
    };
    if !is_ipv4(host) {
        return Err(bad());
    }
    Ok(Controller {
        host: String::from(host),
        port,
        transport,
    })
}

/// Parse a whole SIP_CONTROLLER_LIST value. The empty string is the empty list. A value with any
/// bad designator is invalid as a whole (spec/sip.md §2: entry-level tolerance is not documented).
///
/// # Errors
/// [`ValueError::BadController`] for the first bad designator.
pub fn parse_controller_list(value: &str) -> Result<Vec<Controller>, ValueError> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    value.split(',').map(parse_controller).collect()
}

/// Concatenate lists given highest priority first and drop every entry equal to an earlier one
/// (spec/sip.md §2 merge steps 2–3: the first, highest-priority occurrence wins).
#[must_use]
pub fn merge_controllers<'a, I>(lists_highest_first: I) -> Vec<Controller>
where
    I: IntoIterator<Item = &'a [Controller]>,
{
    let mut out: Vec<Controller> = Vec::new();
    for list in lists_highest_first {
        for c in list {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn c(host: &str, port: u16, transport: Transport) -> Controller {
        Controller {
            host: host.to_string(),
            port,
            transport,
        }
    }

    #[test]
    fn defaults_follow_transport() {
        assert_eq!(
            parse_controller("10.0.0.1").ok(),
            Some(c("10.0.0.1", 5061, Transport::Tls))
        );
        assert_eq!(
            parse_controller("10.0.0.1;transport=udp").ok(),
            Some(c("10.0.0.1", 5060, Transport::Udp))
        );
        assert_eq!(
            parse_controller("10.0.0.1;transport=TCP").ok(),
            Some(c("10.0.0.1", 5060, Transport::Tcp))
        );
        assert_eq!(
            parse_controller("10.8.61.20:5061;transport=tls").ok(),
            Some(c("10.8.61.20", 5061, Transport::Tls))
        );
        assert_eq!(
            parse_controller("1.2.3.4:5555").ok(),
            Some(c("1.2.3.4", 5555, Transport::Tls))
        );
    }

    #[test]
    fn bad_designators() {
        for bad in [
            "",
            "proxy1:5555;transport=tls",
            "1.2.3.4:",
            "1.2.3.4:0",
            "1.2.3.4:65536",
            "1.2.3.4:+5",
            "1.2.3.4;transport=auto",
            "1.2.3.4;transport",
            "1.2.3.4;foo=udp",
            "1.2.3.256",
            "1.2.3.4 ",
        ] {
            assert!(parse_controller(bad).is_err(), "{bad:?} must be rejected");
        }
        assert!(parse_controller_list("1.2.3.4,").is_err());
        assert_eq!(parse_controller_list("").ok(), Some(vec![]));
    }

    #[test]
    fn display_round_trips() {
        let x = c("192.168.178.1", 5060, Transport::Udp);
        assert_eq!(x.to_string(), "192.168.178.1:5060;transport=udp");
        assert_eq!(parse_controller(&x.to_string()).ok(), Some(x));
    }

    #[test]
    fn merge_keeps_first_occurrence() {
        let a = parse_controller_list("10.0.0.1,10.0.0.2;transport=tcp").unwrap_or_default();
        // 10.0.0.1:5061 equals 10.0.0.1 with the TLS defaults filled in.
        let b = parse_controller_list("10.0.0.3,10.0.0.1:5061;transport=TLS").unwrap_or_default();
        let m = merge_controllers([a.as_slice(), b.as_slice()]);
        assert_eq!(
            m,
            vec![
                c("10.0.0.1", 5061, Transport::Tls),
                c("10.0.0.2", 5060, Transport::Tcp),
                c("10.0.0.3", 5061, Transport::Tls),
            ]
        );
    }
}
