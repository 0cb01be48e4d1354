//! Value types of the registry and their validation (spec/parameters.md, "Type" and "Range").
//!
//! Values arrive as byte strings (spec/script.md §1). A registry parameter's value is ASCII
//! printable text; a byte outside 0x20–0x7E makes it invalid (spec/script.md §1 [?]).
//! Validation returns the normalised form that the store keeps: integers in plain decimal
//! (`"080"` → `"80"`), enumeration words in their canonical spelling (`ALTERNATE` → `alternate`).

use alloc::string::{String, ToString};
use thiserror::Error;

use crate::controller::parse_controller_list;
use crate::store::shown;

/// The type and range of a registry parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// Printable ASCII text of `min..=max` characters.
    Str {
        /// Fewest characters.
        min: u16,
        /// Most characters.
        max: u16,
    },
    /// A secret: like [`ValueType::Str`] but `"` is not allowed (ADMIN_PASSWORD, L7369).
    Secret {
        /// Fewest characters.
        min: u16,
        /// Most characters.
        max: u16,
    },
    /// A decimal integer inside one of the inclusive ranges (e.g. REUSETIME: 0, 20–999).
    Int(&'static [(u32, u32)]),
    /// `0` or `1`.
    Bool,
    /// One of the words, compared ASCII case-insensitively, stored in the spelling given here.
    Enum(&'static [&'static str]),
    /// Decimal digits only, `min..=max` of them (PROCPSWD).
    Digits {
        /// Fewest digits.
        min: u16,
        /// Most digits.
        max: u16,
    },
    /// One dotted-decimal IPv4 address.
    Ipv4,
    /// Comma-separated dotted-decimal IPv4 addresses, no spaces, at most `max` characters.
    Ipv4List {
        /// Most characters, commas included.
        max: u16,
    },
    /// One host (IPv4, colon-hex IPv6 or DNS name), or empty.
    Host {
        /// Most characters.
        max: u16,
    },
    /// `host[:port]`, or empty (HTTPPROXY).
    HostPort {
        /// Most characters.
        max: u16,
    },
    /// Comma-separated hosts, no spaces (HTTPSRVR: "separated by commas without any intervening
    /// spaces", template L8591–L8594), or empty.
    HostList {
        /// Most characters, commas included.
        max: u16,
    },
    /// A path with no spaces (HTTPDIR, TLSDIR), or empty.
    Path {
        /// Most characters.
        max: u16,
    },
    /// A file name with no spaces, or empty.
    FileName {
        /// Most characters.
        max: u16,
    },
    /// Comma-separated file names or URLs with no spaces (TRUSTCERTS, LANGUAGES), or empty.
    FileList {
        /// Most characters, commas included.
        max: u16,
    },
    /// An `http://` or `https://` URL with no spaces, or empty.
    Url {
        /// Most characters.
        max: u16,
    },
    /// The SIP controller list (spec/sip.md §2), or empty.
    ControllerList {
        /// Most characters, commas included.
        max: u16,
    },
    /// A certificate distinguished name: empty, or beginning with `/` (MYCERTDN, L4903).
    Dn {
        /// Most characters.
        max: u16,
    },
    /// MYCERTCN: 8–255 characters that contain `$SERIALNO` or `$MACADDR` (L4876–L4901).
    CertCn,
    /// A MAC address: 12 hexadecimal digits, no separators.
    Mac,
}

/// Why a value is not valid for its parameter.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A byte outside printable ASCII (0x20–0x7E).
    #[error("value contains a byte that is not printable ASCII (0x{0:02x})")]
    NotAscii(u8),
    /// Too long.
    #[error("value is {len} characters, at most {max} allowed")]
    TooLong {
        /// Length of the value.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Too short.
    #[error("value is {len} characters, at least {min} required")]
    TooShort {
        /// Length of the value.
        len: usize,
        /// Limit.
        min: usize,
    },
    /// Not a decimal number.
    #[error("value is not a decimal number")]
    NotANumber,
    /// A number outside the allowed ranges.
    #[error("{value} is out of range ({allowed})")]
    OutOfRange {
        /// The number given.
        value: u64,
        /// The allowed ranges, e.g. `0, 20-999`.
        allowed: RangeList,
    },
    /// A word that is not one of the enumeration's.
    #[error("value is not one of {}", .0.join(", "))]
    NotInEnum(&'static [&'static str]),
    /// A space where none is allowed.
    #[error("value contains a space")]
    Space,
    /// `"` where it is not allowed.
    #[error("value contains a double quote")]
    Quote,
    /// A bad IPv4 address, host or list element (cut at [`MAX_SHOWN`](crate::store::MAX_SHOWN)
    /// bytes).
    #[error("bad address {0:?}")]
    BadAddress(String),
    /// An empty element in a comma-separated list.
    #[error("empty element in a comma-separated list")]
    EmptyElement,
    /// A bad SIP controller designator (cut at [`MAX_SHOWN`](crate::store::MAX_SHOWN) bytes).
    #[error("bad controller {0:?} (expected IPv4-or-name[:port][;transport=udp|tcp|tls])")]
    BadController(String),
    /// Not an `http://` or `https://` URL.
    #[error("not an http:// or https:// URL")]
    BadUrl,
    /// A distinguished name that does not begin with `/`.
    #[error("a distinguished name must begin with '/'")]
    BadDn,
    /// MYCERTCN without `$SERIALNO` or `$MACADDR`.
    #[error("value must contain $SERIALNO or $MACADDR")]
    MissingSubstitution,
    /// Not 12 hexadecimal digits.
    #[error("not a MAC address (12 hex digits)")]
    BadMac,
}

/// The ranges of a [`ValueType::Int`], printed like `0, 20-999`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeList(pub &'static [(u32, u32)]);

impl core::fmt::Display for RangeList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// Whether `s` is a dotted-decimal IPv4 address (four 1–3 digit octets, each at most 255).
#[must_use]
pub fn is_ipv4(s: &str) -> bool {
    let mut n = 0;
    for part in s.split('.') {
        n += 1;
        if n > 4 || part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if part.parse::<u16>().map_or(true, |v| v > 255) {
            return false;
        }
    }
    n == 4
}

/// Whether `s` looks like a host: an IPv4 or colon-hex IPv6 literal or a DNS name
/// (letters, digits, `.`, `-`, `_`, `:`), non-empty.
fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

fn check_len(s: &str, min: u16, max: u16) -> Result<(), ValueError> {
    if s.len() > usize::from(max) {
        return Err(ValueError::TooLong {
            len: s.len(),
            max: usize::from(max),
        });
    }
    if s.len() < usize::from(min) {
        return Err(ValueError::TooShort {
            len: s.len(),
            min: usize::from(min),
        });
    }
    Ok(())
}

fn no_space(s: &str) -> Result<(), ValueError> {
    if s.contains(' ') {
        Err(ValueError::Space)
    } else {
        Ok(())
    }
}

/// Split a non-empty comma list and check each element; the empty string is the empty list.
fn check_list(s: &str, elem: impl Fn(&str) -> bool) -> Result<(), ValueError> {
    if s.is_empty() {
        return Ok(());
    }
    for e in s.split(',') {
        if e.is_empty() {
            return Err(ValueError::EmptyElement);
        }
        if !elem(e) {
            return Err(ValueError::BadAddress(shown(e)));
        }
    }
    Ok(())
}

/// Parse a decimal integer of at most 10 digits (leading zeros allowed).
pub(crate) fn parse_decimal(s: &str) -> Result<u64, ValueError> {
    let digits = s.trim_start_matches('0');
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::NotANumber);
    }
    if digits.len() > 10 {
        return Err(ValueError::OutOfRange {
            value: u64::MAX,
            allowed: RangeList(&[]),
        });
    }
    if digits.is_empty() {
        return Ok(0);
    }
    digits.parse::<u64>().map_err(|_| ValueError::NotANumber)
}

impl ValueType {
    /// Validate `raw` for this type and return the normalised value the store keeps.
    ///
    /// # Errors
    /// A [`ValueError`] that says what is wrong.
    pub fn check(self, raw: &[u8]) -> Result<String, ValueError> {
        if let Some(&b) = raw.iter().find(|&&b| !(0x20..=0x7e).contains(&b)) {
            return Err(ValueError::NotAscii(b));
        }
        // All bytes are printable ASCII, so this cannot fail.
        let s = core::str::from_utf8(raw).map_err(|_| ValueError::NotAscii(0x80))?;
        match self {
            ValueType::Str { min, max } => check_len(s, min, max)?,
            ValueType::Secret { min, max } => {
                check_len(s, min, max)?;
                if s.contains('"') {
                    return Err(ValueError::Quote);
                }
            }
            ValueType::Int(ranges) => return check_int(s, ranges),
            ValueType::Bool => return check_int(s, &[(0, 1)]),
            ValueType::Enum(words) => {
                return words
                    .iter()
                    .find(|w| w.eq_ignore_ascii_case(s))
                    .map(|w| (*w).to_string())
                    .ok_or(ValueError::NotInEnum(words));
            }
            ValueType::Digits { min, max } => {
                check_len(s, min, max)?;
                if !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ValueError::NotANumber);
                }
            }
            ValueType::Ipv4 => {
                if !is_ipv4(s) {
                    return Err(ValueError::BadAddress(shown(s)));
                }
            }
            ValueType::Ipv4List { max } => {
                check_len(s, 0, max)?;
                check_list(s, is_ipv4)?;
            }
            ValueType::Host { max } => {
                check_len(s, 0, max)?;
                if !s.is_empty() && !is_host(s) {
                    return Err(ValueError::BadAddress(shown(s)));
                }
            }
            ValueType::HostPort { max } => {
                check_len(s, 0, max)?;
                if !s.is_empty() && !is_host_port(s) {
                    return Err(ValueError::BadAddress(shown(s)));
                }
            }
            ValueType::HostList { max } => {
                check_len(s, 0, max)?;
                check_list(s, is_host)?;
            }
            ValueType::Path { max } | ValueType::FileName { max } => {
                check_len(s, 0, max)?;
                no_space(s)?;
            }
            ValueType::FileList { max } => {
                check_len(s, 0, max)?;
                no_space(s)?;
                check_list(s, |_| true)?;
            }
            ValueType::Url { max } => {
                check_len(s, 0, max)?;
                no_space(s)?;
                if !s.is_empty() && !is_url(s) {
                    return Err(ValueError::BadUrl);
                }
            }
            ValueType::ControllerList { max } => {
                check_len(s, 0, max)?;
                parse_controller_list(s)?;
            }
            ValueType::Dn { max } => {
                check_len(s, 0, max)?;
                if !s.is_empty() && !s.starts_with('/') {
                    return Err(ValueError::BadDn);
                }
            }
            ValueType::CertCn => {
                check_len(s, 8, 255)?;
                if !s.contains("$SERIALNO") && !s.contains("$MACADDR") {
                    return Err(ValueError::MissingSubstitution);
                }
            }
            ValueType::Mac => {
                if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ValueError::BadMac);
                }
            }
        }
        Ok(String::from(s))
    }

    /// A short human description of the type and range, for diagnostics and `--help` texts.
    #[must_use]
    pub fn describe(self) -> alloc::string::String {
        use alloc::format;
        match self {
            ValueType::Str { min, max } | ValueType::Secret { min, max } => {
                format!("text, {min}-{max} characters")
            }
            ValueType::Int(r) => format!("integer {}", RangeList(r)),
            ValueType::Bool => String::from("0 or 1"),
            ValueType::Enum(w) => format!("one of {}", w.join(", ")),
            ValueType::Digits { min, max } => format!("{min}-{max} digits"),
            ValueType::Ipv4 => String::from("IPv4 address"),
            ValueType::Ipv4List { max } => format!("IPv4 address list, at most {max} characters"),
            ValueType::Host { max } => format!("host, at most {max} characters"),
            ValueType::HostPort { max } => format!("host[:port], at most {max} characters"),
            ValueType::HostList { max } => format!("host list, at most {max} characters"),
            ValueType::Path { max } => format!("path without spaces, at most {max} characters"),
            ValueType::FileName { max } => format!("file name, at most {max} characters"),
            ValueType::FileList { max } => format!("file/URL list, at most {max} characters"),
            ValueType::Url { max } => format!("http(s) URL, at most {max} characters"),
            ValueType::ControllerList { max } => {
                format!("host[:port][;transport=udp|tcp|tls] list, at most {max} characters")
            }
            ValueType::Dn { max } => format!("DN beginning with '/', at most {max} characters"),
            ValueType::CertCn => String::from("8-255 characters containing $SERIALNO or $MACADDR"),
            ValueType::Mac => String::from("12 hex digits"),
        }
    }
}

fn check_int(s: &str, ranges: &'static [(u32, u32)]) -> Result<String, ValueError> {
    let v = parse_decimal(s).map_err(|e| match e {
        ValueError::OutOfRange { value, .. } => ValueError::OutOfRange {
            value,
            allowed: RangeList(ranges),
        },
        other => other,
    })?;
    if ranges
        .iter()
        .any(|&(lo, hi)| (u64::from(lo)..=u64::from(hi)).contains(&v))
    {
        Ok(v.to_string())
    } else {
        Err(ValueError::OutOfRange {
            value: v,
            allowed: RangeList(ranges),
        })
    }
}

fn is_host_port(s: &str) -> bool {
    // An IPv6 literal has several colons and no port; `name:port` has exactly one.
    match s.split_once(':') {
        Some((h, p)) if !p.contains(':') => {
            is_host(h)
                && !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|v| v > 0)
        }
        _ => is_host(s),
    }
}

fn is_url(s: &str) -> bool {
    let lower_starts = |p: &str| s.len() > p.len() && s[..p.len()].eq_ignore_ascii_case(p);
    lower_starts("http://") || lower_starts("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: ValueType, v: &str) -> String {
        match t.check(v.as_bytes()) {
            Ok(s) => s,
            Err(e) => panic!("{v:?} should be valid for {t:?}: {e}"),
        }
    }
    fn bad(t: ValueType, v: &[u8]) -> ValueError {
        match t.check(v) {
            Ok(s) => panic!("{v:?} should be invalid for {t:?}, got {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn integers_normalise_and_respect_ranges() {
        let reuse = ValueType::Int(&[(0, 0), (20, 999)]);
        assert_eq!(ok(reuse, "0"), "0");
        assert_eq!(ok(reuse, "00"), "0");
        assert_eq!(ok(reuse, "020"), "20");
        assert_eq!(ok(reuse, "999"), "999");
        assert!(matches!(
            bad(reuse, b"19"),
            ValueError::OutOfRange { value: 19, .. }
        ));
        assert!(matches!(bad(reuse, b"1000"), ValueError::OutOfRange { .. }));
        assert_eq!(bad(reuse, b""), ValueError::NotANumber);
        assert_eq!(bad(reuse, b"-1"), ValueError::NotANumber);
        assert_eq!(bad(reuse, b" 20"), ValueError::NotANumber);
        assert!(matches!(
            bad(reuse, b"99999999999999999999"),
            ValueError::OutOfRange { .. }
        ));
        let e = bad(reuse, b"5");
        assert_eq!(alloc::format!("{e}"), "5 is out of range (0, 20-999)");
        assert_eq!(
            ok(ValueType::Int(&[(0, u32::MAX)]), "4294967295"),
            "4294967295"
        );
        assert!(
            bad(ValueType::Int(&[(0, u32::MAX)]), b"4294967296")
                .to_string()
                .contains("out")
        );
        assert_eq!(ok(ValueType::Bool, "1"), "1");
        assert!(matches!(
            bad(ValueType::Bool, b"2"),
            ValueError::OutOfRange { .. }
        ));
    }

    #[test]
    fn enums_are_case_insensitive_and_canonical() {
        let t = ValueType::Enum(&["alternate", "simultaneous"]);
        assert_eq!(ok(t, "SIMULTANEOUS"), "simultaneous");
        assert_eq!(
            bad(t, b"both"),
            ValueError::NotInEnum(&["alternate", "simultaneous"])
        );
    }

    #[test]
    fn text_rules() {
        let t = ValueType::Str { min: 0, max: 5 };
        assert_eq!(ok(t, "a b c"), "a b c");
        assert!(matches!(
            bad(t, b"abcdef"),
            ValueError::TooLong { len: 6, max: 5 }
        ));
        assert_eq!(bad(t, b"\xe9"), ValueError::NotAscii(0xe9));
        assert_eq!(bad(t, b"a\tb"), ValueError::NotAscii(9));
        let s = ValueType::Secret { min: 6, max: 31 };
        assert!(matches!(bad(s, b"12345"), ValueError::TooShort { .. }));
        assert_eq!(bad(s, b"abc\"defg"), ValueError::Quote);
        let d = ValueType::Digits { min: 4, max: 7 };
        assert_eq!(ok(d, "27238"), "27238");
        assert_eq!(bad(d, b"12a4"), ValueError::NotANumber);
        assert!(matches!(bad(d, b"12345678"), ValueError::TooLong { .. }));
    }

    #[test]
    fn addresses_and_lists() {
        assert!(is_ipv4("0.0.0.0") && is_ipv4("255.255.255.255") && is_ipv4("010.1.1.1"));
        for b in [
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.256",
            "1..3.4",
            "a.b.c.d",
            "1.2.3.1000",
            "",
        ] {
            assert!(!is_ipv4(b), "{b}");
        }
        let hl = ValueType::HostList { max: 255 };
        assert_eq!(ok(hl, ""), "");
        assert_eq!(
            ok(hl, "149.49.51.1,e9e4:35a:cef2::1,files.example.com"),
            "149.49.51.1,e9e4:35a:cef2::1,files.example.com"
        );
        assert_eq!(bad(hl, b"a,,b"), ValueError::EmptyElement);
        assert_eq!(bad(hl, b"a,"), ValueError::EmptyElement);
        assert_eq!(bad(hl, b"a, b"), ValueError::BadAddress(String::from(" b")));
        let il = ValueType::Ipv4List { max: 127 };
        assert_eq!(ok(il, "10.0.0.1,10.0.0.2"), "10.0.0.1,10.0.0.2");
        assert!(matches!(bad(il, b"10.0.0.1,gw"), ValueError::BadAddress(_)));
        let hp = ValueType::HostPort { max: 255 };
        assert_eq!(ok(hp, "proxy.example.com:3128"), "proxy.example.com:3128");
        assert_eq!(ok(hp, "proxy"), "proxy");
        assert!(matches!(bad(hp, b"proxy:"), ValueError::BadAddress(_)));
        assert!(matches!(bad(hp, b"proxy:99999"), ValueError::BadAddress(_)));
    }

    #[test]
    fn urls_dns_cn_mac_paths() {
        let u = ValueType::Url { max: 255 };
        assert_eq!(
            ok(u, "http://10.77.0.1:8080/scep"),
            "http://10.77.0.1:8080/scep"
        );
        assert_eq!(ok(u, "HTTPS://ca/x"), "HTTPS://ca/x");
        assert_eq!(ok(u, ""), "");
        assert_eq!(bad(u, b"ftp://x"), ValueError::BadUrl);
        assert_eq!(bad(u, b"http://"), ValueError::BadUrl);
        assert_eq!(bad(u, b"http://a b"), ValueError::Space);
        let dn = ValueType::Dn { max: 255 };
        assert_eq!(ok(dn, "/O=Example/OU=Phones"), "/O=Example/OU=Phones");
        assert_eq!(bad(dn, b"O=Example"), ValueError::BadDn);
        assert_eq!(ok(ValueType::CertCn, "$SERIALNO"), "$SERIALNO");
        assert_eq!(
            ok(
                ValueType::CertCn,
                "Avaya telephone with MAC address $MACADDR"
            ),
            "Avaya telephone with MAC address $MACADDR"
        );
        assert_eq!(
            bad(ValueType::CertCn, b"my phone cn"),
            ValueError::MissingSubstitution
        );
        assert!(matches!(
            bad(ValueType::CertCn, b"$MACADDR"[..7].as_ref()),
            ValueError::TooShort { .. }
        ));
        assert_eq!(ok(ValueType::Mac, "0024d7e42e98"), "0024d7e42e98");
        assert_eq!(
            bad(ValueType::Mac, b"00:24:d7:e4:2e:98"),
            ValueError::BadMac
        );
        assert_eq!(
            bad(ValueType::Path { max: 127 }, b"my dir"),
            ValueError::Space
        );
        assert!(matches!(
            ValueType::Path { max: 127 }.check(&[b'a'; 128]),
            Err(ValueError::TooLong { .. })
        ));
        assert_eq!(
            bad(ValueType::ControllerList { max: 255 }, b"proxy_1"),
            ValueError::BadController(String::from("proxy_1"))
        );
        // Names (Decision 12).
        assert_eq!(
            ok(
                ValueType::ControllerList { max: 255 },
                "sip.example.com:5060;transport=udp,proxy1"
            ),
            "sip.example.com:5060;transport=udp,proxy1"
        );
    }
}
