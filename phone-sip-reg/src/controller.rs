//! SIP controllers: `host[:port][;transport=udp|tcp|tls]` (spec/sip.md §2).
//!
//! Default transport TLS; default port 5061 for TLS, 5060 for UDP and TCP; the transport value
//! compares without regard to case. The host is a dotted-decimal IPv4 address (96x1 does not
//! resolve names). phone-settings owns the merge of Decision 6; this module parses the merged
//! list it hands over, so the registration machine does not depend on the settings store.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Longest SIP_CONTROLLER_LIST value (spec/sip.md §1).
pub const MAX_CONTROLLER_LIST: usize = 255;

/// A SIP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams: the machine retransmits (RFC 3261 §17.1.2.2 Timer E).
    Udp,
    /// A TCP byte stream.
    Tcp,
    /// A TLS byte stream (the default).
    Tls,
}

impl Transport {
    /// The default port: 5061 for TLS, 5060 otherwise.
    #[must_use]
    pub const fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            Transport::Udp | Transport::Tcp => 5060,
        }
    }

    /// Whether the transport is reliable (no retransmissions, RFC 3261 §17.1.2.2).
    #[must_use]
    pub const fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Lower-case token, as in `transport=tls`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// Upper-case token, as in a Via header.
    #[must_use]
    pub const fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Parse a transport token case-insensitively.
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

/// One controller (or a redirect target), defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Controller {
    /// The host: a dotted-decimal IPv4 address for configured controllers.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The transport.
    pub transport: Transport,
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{};transport={}",
            self.host, self.port, self.transport
        )
    }
}

/// Why a controller list did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    /// Longer than [`MAX_CONTROLLER_LIST`].
    #[error("controller list longer than {MAX_CONTROLLER_LIST} characters")]
    TooLong,
    /// A designator is badly formed.
    #[error("bad controller {0:?} (expected IPv4[:port][;transport=udp|tcp|tls])")]
    Bad(String),
}

fn is_ipv4(s: &str) -> bool {
    let mut n = 0;
    for part in s.split('.') {
        n += 1;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if part.parse::<u16>().map_or(true, |v| v > 255) {
            return false;
        }
    }
    n == 4
}

impl Controller {
    /// Parse one designator.
    ///
    /// # Errors
    /// [`ControllerError::Bad`].
    pub fn parse(designator: &str) -> Result<Self, ControllerError> {
        let bad = || ControllerError::Bad(designator.to_string());
        let (hostport, transport) = match designator.split_once(';') {
            None => (designator, Transport::Tls),
            Some((hp, param)) => {
                let (k, v) = param.split_once('=').ok_or_else(bad)?;
                if !k.eq_ignore_ascii_case("transport") {
                    return Err(bad());
                }
                (hp, Transport::from_token(v).ok_or_else(bad)?)
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
            host: host.to_string(),
            port,
            transport,
        })
    }
}

/// Parse a SIP_CONTROLLER_LIST value, dropping later duplicates (spec/sip.md §2, merge step 3).
/// A badly formed designator rejects the whole value (the script rule: a value that is not
/// valid as a whole is ignored as a whole).
///
/// # Errors
/// [`ControllerError`].
pub fn parse_controller_list(list: &str) -> Result<Vec<Controller>, ControllerError> {
    if list.len() > MAX_CONTROLLER_LIST {
        return Err(ControllerError::TooLong);
    }
    let mut out: Vec<Controller> = Vec::new();
    if list.is_empty() {
        return Ok(out);
    }
    for d in list.split(',') {
        let c = Controller::parse(d)?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
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
            "proxy1:5555;transport=tls",
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
