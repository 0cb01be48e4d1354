//! Avaya specifics: option 43 sub-options (spec dhcp.md §4), the host name rule (§2) and the
//! SSON string (§5).

use alloc::string::String;
use alloc::vec::Vec;

/// Avaya's IANA enterprise number, the value of the mandatory first sub-option 1 of option 43.
pub const ENTERPRISE_MARKER: &[u8] = b"6889";

/// The parameter each option 43 sub-option code sets (spec dhcp.md §4; 96x1 SIP admin guide,
/// 2014, p52). Code 1 is the `6889` marker; codes above 15 are unknown.
#[must_use]
pub fn parameter_name(code: u8) -> Option<&'static str> {
    Some(match code {
        2 => "HTTPSRVR",
        3 => "HTTPDIR",
        4 => "HTTPPORT",
        5 => "TLSSRVR",
        6 => "TLSDIR",
        7 => "TLSPORT",
        8 => "TLSSRVRID",
        9 => "L2Q",
        10 => "L2QVLAN",
        11 => "PHY1STAT",
        12 => "PHY2STAT",
        13 => "PROCSTAT",
        14 => "SIG",
        15 => "SIP_CONTROLLER_LIST",
        _ => return None,
    })
}

/// Why an option 43 value is not Avaya's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VendorOptionError {
    /// The first sub-option is not code 1 = `6889` (spec dhcp.md §4: ignore option 43, warn).
    #[error("option 43 does not start with sub-option 1 = \"6889\"")]
    NotAvaya,
    /// A sub-option's length runs past the end of option 43.
    #[error("option 43 sub-option {code} at byte {offset} runs past the end")]
    Truncated {
        /// Offset of the sub-option's code byte.
        offset: usize,
        /// The sub-option code.
        code: u8,
    },
}

/// One sub-option of Avaya's option 43.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubOption<'a> {
    /// The sub-option code.
    pub code: u8,
    /// The ASCII value, a trailing NUL stripped.
    pub value: &'a [u8],
}

impl SubOption<'_> {
    /// The parameter this sub-option sets, if the code is known (2–15).
    #[must_use]
    pub fn parameter(&self) -> Option<&'static str> {
        parameter_name(self.code)
    }
}

/// Avaya's option 43, split into sub-options (RFC 2132 §8.4 encapsulation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorOptions<'a> {
    /// The sub-options after the `6889` marker, in order. Unknown codes (> 15) are kept so the
    /// caller can warn about them.
    pub sub_options: Vec<SubOption<'a>>,
}

impl<'a> VendorOptions<'a> {
    /// Parses option 43. Pads (0) are skipped and End (255) stops, as in RFC 2132 §8.4.
    ///
    /// # Errors
    /// [`VendorOptionError::NotAvaya`] when sub-option 1 = `6889` does not come first,
    /// [`VendorOptionError::Truncated`] when a length runs past the end.
    pub fn parse(bytes: &'a [u8]) -> Result<VendorOptions<'a>, VendorOptionError> {
        let mut all = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let code = bytes[i];
            match code {
                0 => i += 1,
                255 => break,
                _ => {
                    let len = usize::from(
                        *bytes
                            .get(i + 1)
                            .ok_or(VendorOptionError::Truncated { offset: i, code })?,
                    );
                    let value = bytes
                        .get(i + 2..i + 2 + len)
                        .ok_or(VendorOptionError::Truncated { offset: i, code })?;
                    let value = value.strip_suffix(&[0]).unwrap_or(value);
                    all.push(SubOption { code, value });
                    i += 2 + len;
                }
            }
        }
        match all.first() {
            Some(first) if first.code == 1 && first.value == ENTERPRISE_MARKER => {
                all.remove(0);
                Ok(VendorOptions { sub_options: all })
            }
            _ => Err(VendorOptionError::NotAvaya),
        }
    }

    /// The known parameters as `(NAME, value)`, in order.
    pub fn parameters(&self) -> impl Iterator<Item = (&'static str, &'a [u8])> + '_ {
        self.sub_options
            .iter()
            .filter_map(|s| Some((s.parameter()?, s.value)))
    }

    /// Encodes sub-options after the `6889` marker (for servers and tests). Values longer than
    /// 255 bytes are cut.
    #[must_use]
    pub fn encode(params: &[(u8, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&[1, 4]);
        out.extend_from_slice(ENTERPRISE_MARKER);
        for (code, value) in params {
            let len = u8::try_from(value.len()).unwrap_or(u8::MAX);
            out.push(*code);
            out.push(len);
            out.extend_from_slice(&value[..usize::from(len)]);
        }
        out
    }
}

/// The SSON string of an SSON option value: a trailing NUL stripped (spec dhcp.md §5).
/// Turning it into parameters is phone-settings' job (Decision 2).
#[must_use]
pub fn sson_string(value: &[u8]) -> &[u8] {
    value.strip_suffix(&[0]).unwrap_or(value)
}

/// The host name the phone sends in option 12: `AV`, a letter chosen by the MAC's OUI, and the
/// last three MAC octets as six upper-case hex digits (spec dhcp.md §2).
///
/// ```
/// assert_eq!(phone_dhcp::host_name([0x50, 0xCD, 0x22, 0xB2, 0x73, 0x12]), "AVXB27312");
/// ```
#[must_use]
pub fn host_name(mac: [u8; 6]) -> String {
    let letter = match [mac[0], mac[1], mac[2]] {
        [0x00, 0x04, 0x0D] => 'A',
        [0x00, 0x1B, 0x4F] => 'B',
        [0x00, 0x09, 0x6E] => 'E',
        [0x00, 0x60, 0x1D] => 'L',
        [0x00, 0x07, 0x3B] => 'T',
        _ => 'X',
    };
    let mut s = String::with_capacity(9);
    s.push_str("AV");
    s.push(letter);
    for b in &mac[3..] {
        for nibble in [b >> 4, b & 0xF] {
            s.push(char::from_digit(u32::from(nibble), 16).map_or('0', |c| c.to_ascii_uppercase()));
        }
    }
    s
}
