//! The registry of boot parameters (spec/parameters.md): a static table, no allocation to build.
//!
//! Every row of spec/parameters.md is here, with its type and range, its default and the sources
//! that may set it. Lookup is by name, ASCII case-insensitive (spec/script.md §4: names are
//! case-insensitive and stored upper-case). A name outside the registry is not an error: the
//! store keeps it as a raw string for the firmware that embeds this crate (PHONEKEY, DIALPLAN…).
//!
//! Choices where spec/parameters.md gives several values (the target is 96x1 SIP R7.1):
//! - PHY1STAT 1–6 and PHY2STAT 0–6 (the older, wider ranges; R6.2+ narrows them to 1–5 / 0–5).
//! - MYCERTKEYLEN range 1024–2048, default 2048 (R6.5+).
//! - PROCPSWD 4–7 digits (R6.3+).
//! - ADMIN_PASSWORD's default `27238` means "use PROCPSWD" and is outside its own 6–31 range.
//! - FORCE_SIP_PASSWORD up to 255 characters (the 13-character limit is an unconfirmed report).
//! - Read-only status (MODEL, MACADDR, APPINUSE…) admits no source: the phone keeps it itself.

use alloc::string::String;

use crate::source::{Source, Sources};
use crate::store::shown;
use crate::value::{ValueError, ValueType};
use crate::vendor_names::VENDOR_NAMES;

/// One boot parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Upper-case name, e.g. `HTTPSRVR`.
    pub name: &'static str,
    /// Type and range.
    pub ty: ValueType,
    /// Built-in default; `""` where the parameter has none or it comes from the hardware.
    pub default: &'static str,
    /// Which sources may set it (empty: read-only status).
    pub sources: Sources,
    /// Avaya option 43 sub-option code (2–15), or 0 (spec/dhcp.md §4).
    pub option43: u8,
    /// DHCP standard option number that sets it, or 0 (spec/dhcp.md §3).
    pub dhcp_option: u8,
}

impl Param {
    /// Validate and normalise a value for this parameter (see [`ValueType::check`]).
    ///
    /// # Errors
    /// The [`ValueError`] of the type.
    pub fn check(&self, value: &[u8]) -> Result<String, ValueError> {
        self.ty.check(value)
    }

    /// Whether the SSON string may set this parameter (Decision 2: option 43 names 2–15 plus
    /// VLANTEST, ICMPDU, ICMPRED, LOGSRVR, DOMAIN, DNSSRVR, PHY2VLAN, SSON, MCIPADD).
    #[must_use]
    pub const fn accepted_in_sson(&self) -> bool {
        self.sources.contains(Source::Sson)
    }

    /// Whether `source` may set this parameter.
    #[must_use]
    pub const fn admits(&self, source: Source) -> bool {
        self.sources.contains(source)
    }
}

const D: Sources = Sources::D;
const O: Sources = Sources::O;
const S: Sources = Sources::S;
const F: Sources = Sources::F;
const L: Sources = Sources::L;
const C: Sources = Sources::C;
const RO: Sources = Sources::NONE;
const R0_1: &[(u32, u32)] = &[(0, 1)];
const R0_2: &[(u32, u32)] = &[(0, 2)];
const R0_7: &[(u32, u32)] = &[(0, 7)];
const R_VLAN: &[(u32, u32)] = &[(0, 4094)];
const R_PORT: &[(u32, u32)] = &[(0, 65535)];
const R_HIGH_PORT: &[(u32, u32)] = &[(1024, 65535)];

const fn p(
    name: &'static str,
    ty: ValueType,
    default: &'static str,
    sources: Sources,
    option43: u8,
    dhcp_option: u8,
) -> Param {
    Param {
        name,
        ty,
        default,
        sources,
        option43,
        dhcp_option,
    }
}

use ValueType::{
    Bool, CertCn, ControllerList, Digits, Dn, Enum, FileList, FileName, Host, HostList, HostPort,
    Int, Ipv4, Ipv4List, Mac, Path, Secret, Str, Url,
};

/// The registry, sorted by name (bytewise) for binary search.
pub static REGISTRY: &[Param] = &[
    p(
        "ADMIN_PASSWORD",
        Secret { min: 6, max: 31 },
        "27238",
        F,
        0,
        0,
    ),
    p("APPINUSE", FileName { max: 255 }, "", RO, 0, 0),
    p("APPNAME", FileName { max: 255 }, "", F, 0, 0),
    p("APPSTAT", Int(R0_2), "", RO, 0, 0),
    p("AUTH", Bool, "0", F, 0, 0),
    p("BOOTNAME", FileName { max: 255 }, "", RO, 0, 0),
    p("CONFIG_SERVER_SECURE_MODE", Int(R0_2), "1", F, 0, 0),
    p("CONNECTION_REUSE", Bool, "1", F, 0, 0),
    p(
        "CONTROLLER_SEARCH_INTERVAL",
        Int(&[(4, 3600)]),
        "16",
        F,
        0,
        0,
    ),
    p("DHCPLEASEREBIND", Int(&[(0, u32::MAX)]), "", D, 0, 59),
    p("DHCPLEASERENEW", Int(&[(0, u32::MAX)]), "", D, 0, 58),
    p("DHCPLEASETIME", Int(&[(0, u32::MAX)]), "", D, 0, 51),
    p("DHCPSTD", Int(R0_1), "0", F, 0, 0),
    p("DISCOVER_AVAYA_ENVIRONMENT", Bool, "1", F, 0, 0),
    p("DNSSRVR", HostList { max: 255 }, "", D.or(S).or(F), 0, 6),
    p("DOMAIN", Str { min: 0, max: 255 }, "", D.or(S).or(F), 0, 15),
    p("DOT1X", Int(R0_2), "0", F, 0, 0),
    p("DOT1XEAPS", Enum(&["MD5", "TLS", "PEAP"]), "MD5", F, 0, 0),
    p("DOT1XSTAT", Int(R0_2), "0", F, 0, 0),
    p("ENABLE_AVAYA_ENVIRONMENT", Bool, "1", F, 0, 0),
    p("ENABLE_PPM_SOURCED_SIPPROXYSRVR", Bool, "1", F, 0, 0),
    p("FAILBACK_POLICY", Enum(&["auto", "admin"]), "auto", F, 0, 0),
    p("FAST_RESPONSE_TIMEOUT", Int(&[(0, 32)]), "4", F, 0, 0),
    p("FORCE_SIP_EXTENSION", Str { min: 0, max: 255 }, "", F, 0, 0),
    p("FORCE_SIP_PASSWORD", Str { min: 0, max: 255 }, "", F, 0, 0),
    p("FORCE_SIP_USERNAME", Str { min: 0, max: 255 }, "", F, 0, 0),
    p("GROUP", Int(&[(0, 999)]), "0", C, 0, 0),
    p("HTTPDIR", Path { max: 127 }, "", O.or(S).or(F), 3, 0),
    p("HTTPEXCEPTIONDOMAINS", FileList { max: 255 }, "", F, 0, 0),
    p("HTTPPORT", Int(R_PORT), "80", O.or(S).or(F), 4, 0),
    p("HTTPPROXY", HostPort { max: 255 }, "", F, 0, 0),
    p(
        "HTTPSRVR",
        HostList { max: 255 },
        "",
        D.or(O).or(S).or(F).or(C),
        2,
        0,
    ),
    p("HTTPUSED", Ipv4, "0.0.0.0", RO, 0, 0),
    p("HWVERS", Str { min: 0, max: 255 }, "", RO, 0, 0),
    p("ICMPDU", Int(R0_2), "1", F.or(S), 0, 0),
    p("ICMPRED", Bool, "0", F.or(S), 0, 0),
    p("IPADD", Ipv4, "0.0.0.0", D.or(C), 0, 0),
    p("L2Q", Int(R0_2), "0", F.or(O).or(S).or(L).or(C), 9, 0),
    p("L2QAUD", Int(R0_7), "6", F, 0, 0),
    p("L2QSIG", Int(R0_7), "6", F, 0, 0),
    p(
        "L2QVLAN",
        Int(R_VLAN),
        "0",
        F.or(O).or(S).or(L).or(C),
        10,
        0,
    ),
    p("LANGLARGEFONT", FileName { max: 32 }, "", F, 0, 0),
    p("LANGUAGES", FileList { max: 1096 }, "", F, 0, 0),
    p("LLDP_ENABLED", Int(R0_2), "2", F, 0, 0),
    // link.md §1: transmit interval 1–3600 s, default 30 (vendor template L7475–L7484).
    p("LLDP_XMIT_SECS", Int(&[(1, 3600)]), "30", F, 0, 0),
    p("LOGSRVR", Host { max: 255 }, "", D.or(S).or(F), 0, 7),
    p("MACADDR", Mac, "", RO, 0, 0),
    p("MAX_TRUSTCERTS", Int(&[(1, 10)]), "6", F, 0, 0),
    p("MCIPADD", HostList { max: 255 }, "", S.or(F), 0, 0),
    p("MODEL", Str { min: 0, max: 8 }, "", RO, 0, 0),
    p("MODEL4", Str { min: 0, max: 4 }, "", RO, 0, 0),
    p(
        "MTU_SIZE",
        Int(&[(1496, 1496), (1500, 1500)]),
        "1500",
        D.or(F),
        0,
        26,
    ),
    p(
        "MYCERTCAID",
        Str { min: 0, max: 255 },
        "CAIdentifier",
        F,
        0,
        0,
    ),
    p("MYCERTCN", CertCn, "$SERIALNO", F, 0, 0),
    p("MYCERTDN", Dn { max: 255 }, "", F, 0, 0),
    p("MYCERTKEYLEN", Int(&[(1024, 2048)]), "2048", F, 0, 0),
    p("MYCERTRENEW", Int(&[(1, 99)]), "90", F, 0, 0),
    p("MYCERTURL", Url { max: 255 }, "", F, 0, 0),
    p("MYCERTWAIT", Bool, "1", F, 0, 0),
    p("NETMASK", Ipv4, "0.0.0.0", D.or(C), 0, 1),
    p("PHY1STAT", Int(&[(1, 6)]), "1", F.or(O).or(S), 11, 0),
    p("PHY2STAT", Int(&[(0, 6)]), "1", F.or(O).or(S), 12, 0),
    p("PHY2VLAN", Int(R_VLAN), "0", F.or(S).or(L), 0, 0),
    p("PKCS12URL", Url { max: 255 }, "", F, 0, 0),
    p("PROCPSWD", Digits { min: 4, max: 7 }, "27238", F, 0, 0),
    p("PROCSTAT", Bool, "0", F.or(O).or(S), 13, 0),
    p("QKLOGINSTAT", Bool, "1", F, 0, 0),
    p("RDS_INITIAL_RETRY_ATTEMPTS", Int(&[(1, 30)]), "15", F, 0, 0),
    p("RDS_INITIAL_RETRY_TIME", Int(&[(2, 60)]), "2", F, 0, 0),
    p("RDS_MAX_RETRY_TIME", Int(&[(2, 3600)]), "600", F, 0, 0),
    p("RECOVERYREGISTERWAIT", Int(&[(10, 36000)]), "60", F, 0, 0),
    p("REGISTERWAIT", Int(&[(30, 86400)]), "900", F, 0, 0),
    p("REUSETIME", Int(&[(0, 0), (20, 999)]), "60", F, 0, 0),
    p("RFSNAME", FileName { max: 255 }, "", F, 0, 0),
    p("ROUTER", Ipv4List { max: 127 }, "", D.or(C), 0, 3),
    p("SCEPENCALG", Int(R0_1), "0", F, 0, 0),
    p(
        "SCEPPASSWORD",
        Str { min: 0, max: 32 },
        "$SERIALNO",
        F,
        0,
        0,
    ),
    p("SERIALNO", Str { min: 0, max: 18 }, "", RO, 0, 0),
    p("SHA2CAPABLE", Str { min: 0, max: 255 }, "", RO, 0, 0),
    p("SIG", Int(R0_2), "0", F.or(O).or(S).or(C), 14, 0),
    p("SIG_IN_USE", Str { min: 0, max: 255 }, "", RO, 0, 0),
    p("SIMULTANEOUS_REGISTRATIONS", Int(&[(1, 3)]), "3", F, 0, 0),
    p("SIPDOMAIN", Str { min: 0, max: 255 }, "", F.or(C), 0, 0),
    p("SIPPORT", Int(R_HIGH_PORT), "5060", F, 0, 0),
    p("SIPPROXYSRVR", HostList { max: 255 }, "", F, 0, 0),
    p("SIPPROXYSRVR_IN_USE", Ipv4, "0.0.0.0", RO, 0, 0),
    p(
        "SIPREGPROXYPOLICY",
        Enum(&["alternate", "simultaneous"]),
        "alternate",
        F,
        0,
        0,
    ),
    p("SIPSIGNAL", Int(R0_2), "2", F, 0, 0),
    p("SIPUSERIDENABLED", Bool, "0", F, 0, 0),
    p(
        "SIP_CONTROLLER_LIST",
        ControllerList { max: 255 },
        "",
        F.or(O).or(S).or(C),
        15,
        0,
    ),
    p("SIP_PORT_SECURE", Int(R_HIGH_PORT), "5061", F, 0, 0),
    p("SNTPSRVR", HostList { max: 255 }, "", D.or(F), 0, 42),
    p("SSON", Int(&[(128, 254)]), "242", C.or(S), 0, 0),
    p("SYSTEM_LANGUAGE", FileName { max: 32 }, "", F, 0, 0),
    p("TCP_KEEP_ALIVE_INTERVAL", Int(&[(5, 60)]), "10", F, 0, 0),
    p("TCP_KEEP_ALIVE_STATUS", Bool, "1", F, 0, 0),
    p("TCP_KEEP_ALIVE_TIME", Int(&[(10, 3600)]), "60", F, 0, 0),
    p("TLSDIR", Path { max: 127 }, "", O.or(S).or(F), 6, 0),
    p("TLSPORT", Int(R_PORT), "443", O.or(S).or(F), 7, 0),
    p("TLSSRVR", HostList { max: 255 }, "", O.or(S).or(F), 5, 0),
    p("TLSSRVRID", Bool, "1", O.or(S).or(F), 8, 0),
    p("TLSUSED", Ipv4, "0.0.0.0", RO, 0, 0),
    p("TRUSTCERTS", FileList { max: 255 }, "", F, 0, 0),
    p("UPGRADESTAT", Int(R0_2), "", RO, 0, 0),
    p("USEDHCP", Bool, "1", C, 0, 0),
    p("VLANSEP", Bool, "1", F, 0, 0),
    p("VLANTEST", Int(&[(0, 999)]), "60", F.or(S), 0, 0),
    p("VPNACTIVE", Str { min: 0, max: 255 }, "", RO, 0, 0),
    p(
        "WAIT_FOR_REGISTRATION_TIMER",
        Int(&[(4, 3600)]),
        "32",
        F,
        0,
        0,
    ),
];

/// Compare an upper-case table name with a query, ignoring the query's ASCII case.
fn cmp_upper(table: &str, query: &str) -> core::cmp::Ordering {
    table
        .bytes()
        .cmp(query.bytes().map(|b| b.to_ascii_uppercase()))
}

/// The registry entry for `name` (ASCII case-insensitive).
///
/// ```
/// let p = phone_settings::lookup("httpPort").expect("in the registry");
/// assert_eq!((p.name, p.default, p.option43), ("HTTPPORT", "80", 4));
/// assert!(phone_settings::lookup("PHONEKEY").is_none());
/// ```
#[must_use]
pub fn lookup(name: &str) -> Option<&'static Param> {
    REGISTRY
        .binary_search_by(|p| cmp_upper(p.name, name))
        .ok()
        .and_then(|i| REGISTRY.get(i))
}

/// The position of `name` in [`REGISTRY`].
#[must_use]
pub fn index_of(name: &str) -> Option<usize> {
    REGISTRY.binary_search_by(|p| cmp_upper(p.name, name)).ok()
}

/// The parameter that Avaya option 43 sub-option `code` sets (spec/dhcp.md §4: codes 2–15).
#[must_use]
pub fn option43_parameter(code: u8) -> Option<&'static Param> {
    if code == 0 {
        return None;
    }
    REGISTRY.iter().find(|p| p.option43 == code)
}

/// The parameter that DHCP standard option `option` sets (spec/dhcp.md §3), if any.
#[must_use]
pub fn dhcp_option_parameter(option: u8) -> Option<&'static Param> {
    if option == 0 {
        return None;
    }
    REGISTRY.iter().find(|p| p.dhcp_option == option)
}

/// Whether the vendor template mentions `name` (ASCII case-insensitive), registry or not.
#[must_use]
pub fn is_vendor_name(name: &str) -> bool {
    VENDOR_NAMES
        .binary_search_by(|n| cmp_upper(n, name))
        .is_ok()
}

/// Why [`check`] rejected a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The name is not in the registry (it would be kept as a raw string).
    #[error("{name} is not a registry parameter")]
    Unknown {
        /// The name as given, cut at [`MAX_SHOWN`](crate::store::MAX_SHOWN) bytes.
        name: String,
    },
    /// The value is invalid for the parameter.
    #[error("invalid value for {name}: {error}")]
    Invalid {
        /// Registry name.
        name: &'static str,
        /// What is wrong.
        error: ValueError,
    },
}

/// Validate and normalise `value` for the registry parameter `name`.
///
/// ```
/// use phone_settings::{check, CheckError};
/// assert_eq!(check("l2qvlan", b"0042").ok().as_deref(), Some("42"));
/// assert!(matches!(check("L2QVLAN", b"5000"), Err(CheckError::Invalid { .. })));
/// assert!(matches!(check("PHONEKEY", b"x"), Err(CheckError::Unknown { .. })));
/// ```
///
/// # Errors
/// [`CheckError::Unknown`] for a name outside the registry, [`CheckError::Invalid`] otherwise.
pub fn check(name: &str, value: &[u8]) -> Result<String, CheckError> {
    let p = lookup(name).ok_or_else(|| CheckError::Unknown { name: shown(name) })?;
    p.check(value).map_err(|error| CheckError::Invalid {
        name: p.name,
        error,
    })
}

/// Longest name [`suggest`] compares (longer names get no suggestion).
pub const MAX_SUGGEST_LEN: usize = 64;

/// ASCII case-insensitive Levenshtein distance, stopping early above `limit`.
/// Both strings are at most [`MAX_SUGGEST_LEN`] bytes, so the row fits on the stack.
fn distance(a: &[u8], b: &[u8], limit: usize) -> Option<usize> {
    if a.len() > MAX_SUGGEST_LEN || b.len() > MAX_SUGGEST_LEN || a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut row = [0usize; MAX_SUGGEST_LEN + 1];
    for (j, r) in row.iter_mut().enumerate().take(b.len() + 1) {
        *r = j;
    }
    for (i, &ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        let mut best = row[0];
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(!ca.eq_ignore_ascii_case(&cb));
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diag + cost);
            diag = row[j + 1];
            row[j + 1] = next;
            best = best.min(next);
        }
        if best > limit {
            return None;
        }
    }
    Some(row[b.len()]).filter(|&d| d <= limit)
}

/// A "did you mean" for an unknown name: the closest registry name (or, failing that, vendor
/// template name) within an edit distance of a quarter of the name's length (at least 1, at most
/// 3). Ties go to the registry, then to the alphabetically first.
///
/// ```
/// assert_eq!(phone_settings::suggest("HTTPSRVER"), Some("HTTPSRVR"));
/// assert_eq!(phone_settings::suggest("sip_controler_list"), Some("SIP_CONTROLLER_LIST"));
/// assert_eq!(phone_settings::suggest("HTTPSRVR"), None); // known: nothing to suggest
/// assert_eq!(phone_settings::suggest("QQQQQQQQ"), None);
/// ```
#[must_use]
pub fn suggest(name: &str) -> Option<&'static str> {
    if lookup(name).is_some() || is_vendor_name(name) {
        return None;
    }
    let limit = (name.len() / 4).clamp(1, 3);
    let mut best: Option<(usize, &'static str)> = None;
    let candidates = REGISTRY
        .iter()
        .map(|p| p.name)
        .chain(VENDOR_NAMES.iter().copied());
    for cand in candidates {
        let lim = best.map_or(limit, |(d, _)| d.saturating_sub(1));
        if let Some(d) = distance(name.as_bytes(), cand.as_bytes(), lim)
            && best.is_none_or(|(bd, _)| d < bd)
        {
            best = Some((d, cand));
        }
    }
    best.map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_upper_case() {
        for w in REGISTRY.windows(2) {
            assert!(
                w[0].name < w[1].name,
                "{} must sort before {}",
                w[0].name,
                w[1].name
            );
        }
        for p in REGISTRY {
            assert!(
                p.name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            );
            assert_eq!(lookup(p.name), Some(p));
            assert_eq!(lookup(&p.name.to_ascii_lowercase()), Some(p));
        }
        for w in VENDOR_NAMES.windows(2) {
            assert!(w[0] < w[1]);
        }
        assert!(
            REGISTRY.len() >= 100,
            "all of spec/parameters.md: {}",
            REGISTRY.len()
        );
    }

    #[test]
    fn defaults_are_valid_values() {
        for p in REGISTRY {
            // ADMIN_PASSWORD's default is the "use PROCPSWD" marker (L7369-L7385).
            if p.default.is_empty() || p.name == "ADMIN_PASSWORD" {
                continue;
            }
            assert_eq!(
                p.check(p.default.as_bytes()).as_deref(),
                Ok(p.default),
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn spec_rows_spot_check() {
        let l = |n| lookup(n).copied().ok_or(n);
        let reuse = l("REUSETIME").unwrap_or_else(|n| panic!("{n}"));
        assert_eq!(reuse.default, "60");
        assert!(reuse.check(b"0").is_ok() && reuse.check(b"10").is_err());
        let vlan = l("L2QVLAN").unwrap_or_else(|n| panic!("{n}"));
        assert!(vlan.check(b"4094").is_ok() && vlan.check(b"4095").is_err());
        assert!(vlan.admits(Source::Lldp) && vlan.admits(Source::Option43));
        let group = l("GROUP").unwrap_or_else(|n| panic!("{n}"));
        assert!(group.admits(Source::Craft) && !group.admits(Source::SettingsFile));
        assert_eq!(
            lookup("MTU_SIZE").map(|p| p.check(b"1498").is_err()),
            Some(true)
        );
        assert_eq!(
            lookup("SSON").map(|p| (p.default, p.check(b"127").is_err())),
            Some(("242", true))
        );
        assert!(lookup("MACADDR").is_some_and(|p| p.sources.is_read_only()));
        assert_eq!(
            lookup("lldp_xmit_secs").map(|p| (
                p.default,
                p.check(b"0").is_err(),
                p.check(b"3600").is_ok()
            )),
            Some(("30", true, true))
        );
    }

    #[test]
    fn sson_names_are_decision_2() {
        let mut got: alloc::vec::Vec<&str> = REGISTRY
            .iter()
            .filter(|p| p.accepted_in_sson())
            .map(|p| p.name)
            .collect();
        let mut want = alloc::vec![
            "HTTPSRVR",
            "HTTPDIR",
            "HTTPPORT",
            "TLSSRVR",
            "TLSDIR",
            "TLSPORT",
            "TLSSRVRID",
            "L2Q",
            "L2QVLAN",
            "PHY1STAT",
            "PHY2STAT",
            "PROCSTAT",
            "SIG",
            "SIP_CONTROLLER_LIST",
            "VLANTEST",
            "ICMPDU",
            "ICMPRED",
            "LOGSRVR",
            "DOMAIN",
            "DNSSRVR",
            "PHY2VLAN",
            "SSON",
            "MCIPADD",
        ];
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn option43_codes_are_spec_dhcp_4() {
        let want = [
            "HTTPSRVR",
            "HTTPDIR",
            "HTTPPORT",
            "TLSSRVR",
            "TLSDIR",
            "TLSPORT",
            "TLSSRVRID",
            "L2Q",
            "L2QVLAN",
            "PHY1STAT",
            "PHY2STAT",
            "PROCSTAT",
            "SIG",
            "SIP_CONTROLLER_LIST",
        ];
        for (code, name) in (2u8..=15).zip(want) {
            assert_eq!(
                option43_parameter(code).map(|p| p.name),
                Some(name),
                "code {code}"
            );
        }
        assert_eq!(option43_parameter(1), None);
        assert_eq!(option43_parameter(16), None);
        assert_eq!(option43_parameter(0), None);
        assert_eq!(dhcp_option_parameter(6).map(|p| p.name), Some("DNSSRVR"));
        assert_eq!(dhcp_option_parameter(26).map(|p| p.name), Some("MTU_SIZE"));
        assert_eq!(dhcp_option_parameter(99), None);
    }

    #[test]
    fn check_and_suggest() {
        assert_eq!(check("HTTPPORT", b"080"), Ok(String::from("80")));
        assert!(matches!(
            check("httpport", b"70000"),
            Err(CheckError::Invalid {
                name: "HTTPPORT",
                error: ValueError::OutOfRange { .. }
            })
        ));
        assert_eq!(suggest("L2QVLN"), Some("L2QVLAN"));
        assert_eq!(suggest("MYCERTULR"), Some("MYCERTURL"));
        // A vendor name outside the registry is known: no suggestion.
        assert!(is_vendor_name("phonekey") || is_vendor_name("DIALPLAN"));
        assert_eq!(suggest("DIALPLAN"), None);
        assert_eq!(suggest(""), None);
        assert_eq!(suggest(&"A".repeat(200)), None);
        assert_eq!(distance(b"kitten", b"sitting", 5), Some(3));
        assert_eq!(distance(b"abc", b"ABC", 0), Some(0));
        assert_eq!(distance(b"abc", b"xyz", 2), None);
    }
}
