//! SIP_CONTROLLER_LIST designators and the merge of Decision 6 (spec/sip.md §2).
//!
//! ```text
//! list       = "" / designator *( "," designator )      ; no spaces, <=255 chars
//! designator = host [ ":" port ] [ ";transport=" ( "tls" / "tcp" / "udp" ) ]
//! host       = dotted-decimal IPv4 address / DNS name      ; names: Decision 12
//! ```
//! Default transport TLS; default port 5061 for TLS and 5060 for UDP/TCP. The transport value
//! compares without regard to case. DNS names are not supported on 96x1 [vendor template L1443];
//! the newer models accept them (L1453–L1471) and so does this project (Decision 12): a name is
//! an RFC 1123 host name ([`is_dns_name`]), kept in lower case so that `SIP.example.com` and
//! `sip.example.com` merge as one controller. The boot resolves it and expands it, in place,
//! into its A records (spec/link.md §3).

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
    /// Dotted-decimal IPv4 address, or a DNS name in lower case ([`Controller::is_named`]).
    pub host: String,
    /// Port, with the transport's default filled in.
    pub port: u16,
    /// Transport, TLS when the designator names none.
    pub transport: Transport,
}

impl Controller {
    /// Whether the host is a DNS name (to be resolved) rather than an IPv4 address.
    #[must_use]
    pub fn is_named(&self) -> bool {
        !is_ipv4(&self.host)
    }
}

/// Longest DNS name (RFC 1035 §2.3.4: 255 octets on the wire, 253 characters as text).
pub const MAX_DNS_NAME: usize = 253;

/// Whether `s` is a DNS host name (RFC 1123 §2.1): dot-separated labels of 1–63 letters, digits
/// and hyphens, no hyphen at either end of a label, at most [`MAX_DNS_NAME`] characters, no
/// trailing dot, and a last label that is not all digits (so `1.2.3.256` is a bad address,
/// never a name).
#[must_use]
pub fn is_dns_name(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_DNS_NAME {
        return false;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    s.split('.').all(label_ok)
        && s.rsplit('.')
            .next()
            .is_some_and(|top| !top.bytes().all(|b| b.is_ascii_digit()))
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

/// Parse one designator `host[:port][;transport=udp|tcp|tls]`; the host is an IPv4 address or
/// a DNS name (Decision 12).
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
    let host = if is_ipv4(host) {
        String::from(host)
    } else if is_dns_name(host) {
        host.to_ascii_lowercase()
    } else {
        return Err(bad());
    };
    Ok(Controller {
        host,
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
            "proxy1:5555;transport=auto",
            "-proxy1",
            "proxy1-.example.com",
            "sip..example.com",
            "sip.example.com.",
            "sip_1.example.com",
            "10.0.0",
            "1.2.3.4.5",
            "[::1]:5060",
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
    fn names_per_decision_12() {
        // The template's own example (L1475).
        let l = parse_controller_list("proxy1:5555;transport=tls,proxy2:5556;transport=tls")
            .unwrap_or_default();
        assert_eq!(
            l,
            vec![
                c("proxy1", 5555, Transport::Tls),
                c("proxy2", 5556, Transport::Tls)
            ]
        );
        assert!(l.iter().all(Controller::is_named));
        assert_eq!(
            parse_controller("SIP.Example.COM:5060;transport=udp").ok(),
            Some(c("sip.example.com", 5060, Transport::Udp))
        );
        assert_eq!(
            parse_controller("sip-1.example.com").ok(),
            Some(c("sip-1.example.com", 5061, Transport::Tls))
        );
        assert!(!c("10.0.0.1", 5060, Transport::Udp).is_named());
        // A name of 253 characters is the longest.
        let label = "a".repeat(63);
        let long = alloc::format!("{label}.{label}.{label}.{}", "b".repeat(61));
        assert_eq!(long.len(), MAX_DNS_NAME);
        assert!(is_dns_name(&long));
        assert!(!is_dns_name(&alloc::format!("{long}c")));
        assert!(!is_dns_name(&alloc::format!("{}.com", "a".repeat(64))));
        // Names merge without regard to case.
        let a = parse_controller_list("sip.example.com;transport=udp").unwrap_or_default();
        let b = parse_controller_list("SIP.EXAMPLE.com:5060;transport=UDP").unwrap_or_default();
        assert_eq!(merge_controllers([a.as_slice(), b.as_slice()]).len(), 1);
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

    proptest::proptest! {
        /// Every well-formed name designator parses, its display parses to the same
        /// controller, and an all-digit last label is never taken for a name.
        #[test]
        fn name_designators_round_trip(
            labels in proptest::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", 1..5),
            top in "[a-zA-Z][a-zA-Z0-9]{0,5}",
            port in proptest::option::of(1u16..),
            transport in proptest::option::of(proptest::sample::select(vec!["udp", "TCP", "Tls"])),
        ) {
            let name = alloc::format!("{}.{top}", labels.join("."));
            let mut d = name.clone();
            if let Some(p) = port {
                d = alloc::format!("{d}:{p}");
            }
            if let Some(t) = transport {
                d = alloc::format!("{d};transport={t}");
            }
            let parsed = parse_controller(&d);
            proptest::prop_assert!(parsed.is_ok(), "{d}");
            let parsed = parsed.unwrap_or_else(|_| c("", 0, Transport::Tls));
            proptest::prop_assert_eq!(&parsed.host, &name.to_ascii_lowercase());
            proptest::prop_assert!(parsed.is_named());
            proptest::prop_assert_eq!(parse_controller(&parsed.to_string()).ok(), Some(parsed));
            let numeric = alloc::format!("{}.{}", labels.join("."), port.unwrap_or(7));
            proptest::prop_assert!(!is_dns_name(&numeric));
        }
    }
}
