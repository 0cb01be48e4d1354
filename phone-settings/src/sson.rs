//! The SSON string (DHCP option 242 by default): `NAME=value,...` (spec/dhcp.md §5, Decision 2).
//!
//! 1. A trailing NUL is stripped; the string is split on `,` into tokens.
//! 2. A token containing `=` starts a new pair: name = text before the first `=`, value = rest.
//! 3. A token without `=` continues the previous value as another list element (joined with
//!    `,`), so `HTTPSRVR=a,b,c` works. Before any pair it is ignored with a warning.
//! 4. Names are case-insensitive (normalised to upper case).
//! 5. A name the SSON may not set, or an invalid value, is ignored for that pair only, with a
//!    warning; all other pairs still apply.

use alloc::string::String;
use alloc::vec::Vec;

use crate::registry::lookup;
use crate::source::Source;
use crate::store::{Store, Warning, WarningKind, shown, shown_bytes, validate};

/// Most pairs one SSON string yields; more are ignored with a warning. An SSON string is at
/// most a few hundred bytes (RFC 3396 concatenation of option instances), so this never bites
/// a real server.
pub const MAX_SSON_PAIRS: usize = 256;

/// One `NAME=value` pair as split from the string, before validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsonPair {
    /// The name, upper case.
    pub name: String,
    /// The value with its list continuations, as raw bytes.
    pub value: Vec<u8>,
}

/// Split an SSON string into pairs (steps 1–4), without judging names or values.
/// Returns the pairs in order and the warnings for list elements before any pair.
#[must_use]
pub fn split_sson(input: &[u8]) -> (Vec<SsonPair>, Vec<Warning>) {
    let input = input.strip_suffix(b"\0").unwrap_or(input);
    let mut pairs: Vec<SsonPair> = Vec::new();
    let mut warnings = Vec::new();
    if input.is_empty() {
        return (pairs, warnings);
    }
    let mut overflow = false;
    for token in input.split(|&b| b == b',') {
        match token.iter().position(|&b| b == b'=') {
            Some(eq) => {
                if pairs.len() >= MAX_SSON_PAIRS {
                    overflow = true;
                    continue;
                }
                let name = String::from_utf8_lossy(&token[..eq]).to_ascii_uppercase();
                pairs.push(SsonPair {
                    name,
                    value: token[eq + 1..].to_vec(),
                });
            }
            None if overflow => {}
            None => match pairs.last_mut() {
                Some(p) => {
                    p.value.push(b',');
                    p.value.extend_from_slice(token);
                }
                None => warnings.push(Warning {
                    name: String::new(),
                    source: Source::Sson,
                    line: 0,
                    kind: WarningKind::DanglingElement(shown_bytes(token)),
                }),
            },
        }
    }
    if overflow {
        warnings.push(Warning {
            name: String::new(),
            source: Source::Sson,
            line: 0,
            kind: WarningKind::TooManySsonPairs,
        });
    }
    (pairs, warnings)
}

/// Parse an SSON string fully: split it, then keep only the pairs the SSON may set with a
/// valid value (normalised), warning about the rest (step 5).
///
/// ```
/// let (pairs, warnings) = phone_settings::parse_sson(b"httpsrvr=a,b,FOO=1,VLANTEST=5000");
/// assert_eq!(pairs.len(), 1);
/// assert_eq!((pairs[0].name.as_str(), pairs[0].value.as_slice()), ("HTTPSRVR", &b"a,b"[..]));
/// assert_eq!(warnings.len(), 2); // FOO unknown, VLANTEST out of range
/// ```
#[must_use]
pub fn parse_sson(input: &[u8]) -> (Vec<SsonPair>, Vec<Warning>) {
    let (pairs, mut warnings) = split_sson(input);
    let mut ok = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let warn = |kind| Warning {
            name: shown(&pair.name),
            source: Source::Sson,
            line: 0,
            kind,
        };
        match lookup(&pair.name) {
            Some(p) if p.accepted_in_sson() => match validate(p.name, &pair.value, Source::Sson) {
                Ok((_, value)) => ok.push(SsonPair {
                    name: String::from(p.name),
                    value,
                }),
                Err(kind) => warnings.push(warn(kind)),
            },
            _ => warnings.push(warn(WarningKind::NotAcceptedInSson)),
        }
    }
    (ok, warnings)
}

/// Write pairs as an SSON string, `NAME=value` joined with `,` (the inverse of [`split_sson`]
/// for values whose list elements after the first contain no `=`).
#[must_use]
pub fn format_sson(pairs: &[SsonPair]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(p.name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(&p.value);
    }
    out
}

impl Store {
    /// Apply an SSON string as [`Source::Sson`]: the SSON layer is replaced by the string's valid
    /// pairs (a new lease's SSON replaces the old one). Returns the warnings for the pairs that
    /// were ignored.
    ///
    /// ```
    /// let mut store = phone_settings::Store::new();
    /// let warnings = store.apply_sson(b"HTTPSRVR=10.0.0.5,10.0.0.6,HTTPDIR=phones,SIG=SIP");
    /// assert_eq!(store.str("HTTPSRVR"), Some("10.0.0.5,10.0.0.6"));
    /// assert_eq!(store.str("HTTPDIR"), Some("phones"));
    /// assert_eq!(warnings.len(), 1); // SIG=SIP is not 0-2
    /// ```
    pub fn apply_sson(&mut self, input: &[u8]) -> Vec<Warning> {
        let (pairs, mut warnings) = parse_sson(input);
        self.clear_source(Source::Sson);
        for p in pairs {
            if let Err(w) = self.apply_set(&p.name, &p.value, Source::Sson, 0) {
                warnings.push(w);
            }
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn pairs(v: &[(&str, &str)]) -> Vec<SsonPair> {
        v.iter()
            .map(|(n, v)| SsonPair {
                name: String::from(*n),
                value: v.as_bytes().to_vec(),
            })
            .collect()
    }

    /// The example table of spec/dhcp.md §5.
    #[test]
    fn spec_examples() {
        let (p, w) = parse_sson(b"L2Q=1,L2QVLAN=1212,HTTPSRVR=192.168.0.100");
        assert_eq!(
            p,
            pairs(&[
                ("L2Q", "1"),
                ("L2QVLAN", "1212"),
                ("HTTPSRVR", "192.168.0.100")
            ])
        );
        assert!(w.is_empty());

        let (p, w) = parse_sson(b"HTTPSRVR=10.0.0.5,HTTPPORT=8611,SIG=2");
        assert_eq!(
            p,
            pairs(&[("HTTPSRVR", "10.0.0.5"), ("HTTPPORT", "8611"), ("SIG", "2")])
        );
        assert!(w.is_empty());

        let (p, _) = parse_sson(b"HTTPSRVR=10.0.0.5,10.0.0.6,HTTPDIR=phones");
        assert_eq!(
            p,
            pairs(&[("HTTPSRVR", "10.0.0.5,10.0.0.6"), ("HTTPDIR", "phones")])
        );

        let (p, w) = parse_sson(b"httpsrvr=a,FOO=1,VLANTEST=5000");
        assert_eq!(p, pairs(&[("HTTPSRVR", "a")]));
        let kinds: Vec<(&str, bool)> = w
            .iter()
            .map(|w| (w.name.as_str(), matches!(w.kind, WarningKind::Invalid(_))))
            .collect();
        assert_eq!(kinds, vec![("FOO", false), ("VLANTEST", true)]);

        let (p, w) = parse_sson(b"MCIPADD=1.2.3.4,1.2.3.5,HTTPSRVR=x,SIG=SIP");
        assert_eq!(
            p,
            pairs(&[("MCIPADD", "1.2.3.4,1.2.3.5"), ("HTTPSRVR", "x")])
        );
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].name, "SIG");
    }

    #[test]
    fn splitting_edge_cases() {
        let (p, w) = split_sson(b"a,B=1=2,c,,D=\0");
        assert_eq!(p, pairs(&[("B", "1=2,c,"), ("D", "")]));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, WarningKind::DanglingElement(String::from("a")));
        assert_eq!(split_sson(b""), (vec![], vec![]));
        assert_eq!(split_sson(b"\0"), (vec![], vec![]));
        let (p, w) = split_sson(b",");
        assert!(p.is_empty() && w.len() == 2);
        // Names accepted elsewhere but not in the SSON (Decision 2; third-party report).
        let (p, w) = parse_sson(b"SIPDOMAIN=x,CONFIG_SERVER_SECURE_MODE=1,SSON=176,TLSSRVRID=0");
        assert_eq!(p, pairs(&[("SSON", "176"), ("TLSSRVRID", "0")]));
        assert!(w.iter().all(|w| w.kind == WarningKind::NotAcceptedInSson) && w.len() == 2);
        // An empty value is valid only where the range admits 0 characters.
        let (p, w) = parse_sson(b"HTTPDIR=,HTTPPORT=");
        assert_eq!(p, pairs(&[("HTTPDIR", "")]));
        assert_eq!(w.len(), 1);
        // A huge element keeps a bounded warning (issue 12).
        let mut huge = vec![b'e'; 100_000];
        huge.extend_from_slice(b",HTTPDIR=x");
        let (_, w) = split_sson(&huge);
        assert!(
            matches!(&w[0].kind, WarningKind::DanglingElement(e) if e.len() == crate::MAX_SHOWN + 3)
        );
        // A pair with a huge name: the warning's name is cut.
        let mut huge = vec![b'N'; 100_000];
        huge.extend_from_slice(b"=1");
        let (_, w) = parse_sson(&huge);
        assert_eq!(w[0].name.len(), crate::MAX_SHOWN + 3);
    }

    #[test]
    fn pair_count_is_bounded() {
        let mut s = Vec::new();
        for _ in 0..(MAX_SSON_PAIRS + 10) {
            s.extend_from_slice(b"SIG=1,x,");
        }
        let (p, w) = split_sson(&s);
        assert_eq!(p.len(), MAX_SSON_PAIRS);
        assert_eq!(
            w.last().map(|w| &w.kind),
            Some(&WarningKind::TooManySsonPairs)
        );
    }

    #[test]
    fn apply_replaces_the_sson_layer_only() {
        let mut st = Store::new();
        assert!(
            st.apply_set("HTTPSRVR", "10.9.9.9", Source::DhcpStandard, 0)
                .is_ok()
        );
        assert!(
            st.apply_set("HTTPPORT", "8080", Source::SettingsFile, 4)
                .is_ok()
        );
        let w = st.apply_sson(b"HTTPSRVR=10.0.0.5,HTTPPORT=81,L2QVLAN=12");
        assert!(w.is_empty());
        assert_eq!(st.str("HTTPSRVR"), Some("10.0.0.5"));
        // The settings file outranks the SSON (Decision 6).
        assert_eq!(st.http_port(), 8080);
        // A new lease's SSON without L2QVLAN drops the old SSON value.
        let w = st.apply_sson(b"HTTPSRVR=10.0.0.6");
        assert!(w.is_empty());
        assert_eq!(st.str("HTTPSRVR"), Some("10.0.0.6"));
        assert_eq!(st.get("L2QVLAN").map(|e| e.source), Some(Source::Default));
        // LLDP already set the VLAN: the SSON value is stored but not effective (spec/dhcp.md §3).
        assert!(st.apply_set("L2QVLAN", "100", Source::Lldp, 0).is_ok());
        let _ = st.apply_sson(b"L2QVLAN=12");
        assert_eq!(st.int("L2QVLAN"), Some(100));
    }

    #[test]
    fn format_then_split() {
        let p = pairs(&[("HTTPSRVR", "a,b"), ("X", "1=2"), ("E", "")]);
        let s = format_sson(&p);
        assert_eq!(s, b"HTTPSRVR=a,b,X=1=2,E=".to_vec());
        assert_eq!(split_sson(&s), (p, vec![]));
    }
}
