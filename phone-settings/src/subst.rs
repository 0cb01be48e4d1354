//! `$SERIALNO` / `$MACADDR` substitution inside values (spec/script.md §9).
//!
//! Values keep the tokens literally in the store (the MIB returns `$SERIALNO` for MYCERTCN,
//! `endptMYCERTCN` L891). They are expanded only where the value is used, and only in:
//!
//! | Where | `$SERIALNO` | `$MACADDR` |
//! |---|---|---|
//! | MYCERTCN, SCEPPASSWORD | serial, upper case | 12 hex digits, lower case |
//! | PKCS12URL | serial, upper case | 12 hex digits, **upper** case (template L5113–L5117) |
//! | `GET` file name | — | lower case (Decision 10) |
//!
//! No other parameter is expanded on 96x1 (HTTPDIR expansion is J100 only, L8616).

use alloc::string::String;

/// The phone's identity used by substitutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceIds<'a> {
    /// Serial number (`endptPHONESN`, at most 18 characters). Substituted in upper case.
    pub serial: &'a str,
    /// MAC address of the phone.
    pub mac: [u8; 6],
}

/// Where a value is about to be used, which decides the substitution rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rules {
    None,
    SerialAndMacLower,
    SerialAndMacUpper,
}

fn rules_for(name: &str) -> Rules {
    if name.eq_ignore_ascii_case("MYCERTCN") || name.eq_ignore_ascii_case("SCEPPASSWORD") {
        Rules::SerialAndMacLower
    } else if name.eq_ignore_ascii_case("PKCS12URL") {
        Rules::SerialAndMacUpper
    } else {
        Rules::None
    }
}

/// The MAC as 12 hex digits without separators.
#[must_use]
pub fn mac_hex(mac: [u8; 6], upper: bool) -> String {
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let digits = if upper { UPPER } else { LOWER };
    let mut s = String::with_capacity(12);
    for b in mac {
        s.push(char::from(digits[usize::from(b >> 4)]));
        s.push(char::from(digits[usize::from(b & 0x0f)]));
    }
    s
}

fn replace_all(value: &str, token: &str, with: &str) -> String {
    // `str::replace` is in alloc and scans once; tokens never overlap their replacements' effect
    // because every replacement is done on the original occurrences of one token.
    value.replace(token, with)
}

/// Expand `$SERIALNO` and `$MACADDR` in the value of parameter `name`, by the rules of
/// spec/script.md §9. For a parameter without substitutions the value comes back unchanged.
///
/// ```
/// use phone_settings::{substitute, DeviceIds};
/// let ids = DeviceIds { serial: "13wz12345678", mac: [0x00, 0x24, 0xd7, 0xe4, 0x2e, 0x98] };
/// assert_eq!(substitute("MYCERTCN", "$SERIALNO", &ids), "13WZ12345678");
/// assert_eq!(substitute("SCEPPASSWORD", "p-$MACADDR", &ids), "p-0024d7e42e98");
/// assert_eq!(
///     substitute("PKCS12URL", "http://ca/pkc12file_$MACADDR.cer", &ids),
///     "http://ca/pkc12file_0024D7E42E98.cer"
/// );
/// assert_eq!(substitute("HTTPDIR", "$MACADDR", &ids), "$MACADDR");
/// ```
#[must_use]
pub fn substitute(name: &str, value: &str, ids: &DeviceIds<'_>) -> String {
    let mac_upper = match rules_for(name) {
        Rules::None => return String::from(value),
        Rules::SerialAndMacLower => false,
        Rules::SerialAndMacUpper => true,
    };
    // Expand $MACADDR first: the hex digits cannot form "$SERIALNO", and a serial number is
    // ASCII letters and digits, so neither expansion creates a token for the other.
    let v = replace_all(value, "$MACADDR", &mac_hex(ids.mac, mac_upper));
    replace_all(&v, "$SERIALNO", &ids.serial.to_ascii_uppercase())
}

/// Expand `$MACADDR` (lower-case hex, Decision 10) in a `GET` file name, e.g. `$MACADDR.txt`.
///
/// ```
/// let mac = [0x00, 0x24, 0xd7, 0xe4, 0x2e, 0x98];
/// assert_eq!(phone_settings::substitute_get_name("$MACADDR.txt", mac), "0024d7e42e98.txt");
/// ```
#[must_use]
pub fn substitute_get_name(file: &str, mac: [u8; 6]) -> String {
    replace_all(file, "$MACADDR", &mac_hex(mac, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: DeviceIds<'static> = DeviceIds {
        serial: "abc123",
        mac: [0xde, 0xad, 0xbe, 0xef, 0x00, 0x01],
    };

    #[test]
    fn which_parameters_expand() {
        assert_eq!(
            substitute("mycertcn", "$SERIALNO-$MACADDR", &IDS),
            "ABC123-deadbeef0001"
        );
        assert_eq!(substitute("SCEPPASSWORD", "$SERIALNO", &IDS), "ABC123");
        assert_eq!(
            substitute("PKCS12URL", "u/$SERIALNO/$MACADDR", &IDS),
            "u/ABC123/DEADBEEF0001"
        );
        for other in ["HTTPDIR", "MYCERTURL", "APPNAME", "PHONEKEY"] {
            assert_eq!(
                substitute(other, "$SERIALNO$MACADDR", &IDS),
                "$SERIALNO$MACADDR"
            );
        }
    }

    #[test]
    fn repeated_and_adjacent_tokens() {
        assert_eq!(
            substitute("MYCERTCN", "$MACADDR$MACADDR", &IDS),
            "deadbeef0001deadbeef0001"
        );
        assert_eq!(substitute("MYCERTCN", "$MACADD", &IDS), "$MACADD");
        assert_eq!(
            substitute_get_name("$MACADDR.txt", IDS.mac),
            "deadbeef0001.txt"
        );
        assert_eq!(
            substitute_get_name("46xxsettings.txt", IDS.mac),
            "46xxsettings.txt"
        );
        assert_eq!(mac_hex([0, 1, 2, 0xa, 0xb, 0xff], true), "0001020A0BFF");
    }
}
