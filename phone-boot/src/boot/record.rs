//! What survives a reboot (spec/README.md "Kept across reboots"), as one versioned record the
//! caller stores: the lease address (INIT-REBOOT), the settings of the last good boot, the
//! TRUSTCERTS files, the SCEP key and certificate, the SIP credentials, the firmware slots (and
//! so the running application's name) and the craft values.
//!
//! Encoding: `PHBR`, a version byte, then fields `tag u8, length u32 BE, bytes`. Unknown tags
//! are skipped (a newer writer), every length is checked against what is left, and the number
//! of fields and list entries is bounded, so a damaged record gives a typed error, never a panic.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::flash::BootRecord;

const MAGIC: &[u8; 4] = b"PHBR";
/// The version this code writes.
pub const VERSION: u8 = 1;
/// Most fields (and list entries) a record may hold.
pub const MAX_FIELDS: usize = 64;

const T_LEASE: u8 = 1;
const T_SETTINGS: u8 = 2;
const T_TRUST: u8 = 3;
const T_SCEP_KEY: u8 = 4;
const T_SCEP_CERT: u8 = 5;
const T_SCEP_CA: u8 = 6;
const T_USER: u8 = 7;
const T_PASSWORD: u8 = 8;
const T_SLOTS: u8 = 9;
const T_STATIC: u8 = 10;
const T_SSON: u8 = 11;
const T_GROUP: u8 = 12;

/// A static address entered through craft (ADDR); it makes the boot skip DHCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticAddress {
    /// The phone's address.
    pub address: Ipv4Addr,
    /// The subnet mask.
    pub mask: Ipv4Addr,
    /// The router (gateway).
    pub router: Ipv4Addr,
    /// A file server (HTTPSRVR), or unspecified for none.
    pub file_server: Ipv4Addr,
}

/// Values entered through craft access; they outrank every other source (Decision 6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Craft {
    /// ADDR: a static address, `None` = DHCP.
    pub static_address: Option<StaticAddress>,
    /// The SSON option number, `None` = the default 242.
    pub sson: Option<u8>,
    /// GROUP, `None` = not entered.
    pub group: Option<u16>,
}

/// The SCEP identity kept across reboots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// The issued certificate, DER.
    pub certificate: Vec<u8>,
    /// The CA certificates, DER, the issuing CA first.
    pub ca: Vec<Vec<u8>>,
}

/// The persistent record of one phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The address of the last lease, for INIT-REBOOT (RFC 2131 §3.2).
    pub lease_address: Option<Ipv4Addr>,
    /// The settings store of the last boot that obtained its files (phone-settings encoding).
    pub settings: Option<Vec<u8>>,
    /// TRUSTCERTS files by name (PEM).
    pub trust_certs: Vec<(String, Vec<u8>)>,
    /// The SCEP key and certificate.
    pub identity: Option<Identity>,
    /// SIP credentials (extension, password) from the login prompt.
    pub credentials: Option<(String, String)>,
    /// The firmware slots; the active slot's application is the running one.
    pub slots: Option<BootRecord>,
    /// Craft values.
    pub craft: Craft,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The magic is missing.
    #[error("not a boot record")]
    Magic,
    /// A version this code does not read.
    #[error("boot record version {0} not supported")]
    Version(u8),
    /// A field runs past the end.
    #[error("boot record truncated at byte {0}")]
    Truncated(usize),
    /// A field's content is invalid.
    #[error("boot record field {tag} invalid")]
    Field {
        /// The field's tag.
        tag: u8,
    },
    /// More fields than [`MAX_FIELDS`].
    #[error("boot record has too many fields")]
    TooMany,
}

fn put(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_pair(out: &mut Vec<u8>, tag: u8, name: &[u8], value: &[u8]) {
    let mut inner = Vec::with_capacity(name.len() + value.len() + 4);
    inner.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes());
    inner.extend_from_slice(name);
    inner.extend_from_slice(value);
    put(out, tag, &inner);
}

fn ipv4(bytes: &[u8], tag: u8) -> Result<Ipv4Addr, RecordError> {
    let b: [u8; 4] = bytes.try_into().map_err(|_| RecordError::Field { tag })?;
    Ok(Ipv4Addr::from(b))
}

fn text(bytes: &[u8], tag: u8) -> Result<String, RecordError> {
    core::str::from_utf8(bytes)
        .map(ToString::to_string)
        .map_err(|_| RecordError::Field { tag })
}

impl Record {
    /// The running application's name (the active slot's), empty when no slot is known.
    #[must_use]
    pub fn running_app(&self) -> &str {
        self.slots
            .as_ref()
            .and_then(BootRecord::running)
            .map_or("", |s| s.app.as_str())
    }

    /// CLEAR (craft): forget everything but the firmware slots.
    pub fn clear(&mut self) {
        let slots = self.slots.take();
        *self = Record {
            slots,
            ..Record::default()
        };
    }

    /// The versioned byte encoding.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        if let Some(a) = self.lease_address {
            put(&mut out, T_LEASE, &a.octets());
        }
        if let Some(s) = &self.settings {
            put(&mut out, T_SETTINGS, s);
        }
        for (name, pem) in &self.trust_certs {
            put_pair(&mut out, T_TRUST, name.as_bytes(), pem);
        }
        if let Some(id) = &self.identity {
            put(&mut out, T_SCEP_KEY, &id.key_pkcs8);
            put(&mut out, T_SCEP_CERT, &id.certificate);
            for ca in &id.ca {
                put(&mut out, T_SCEP_CA, ca);
            }
        }
        if let Some((u, p)) = &self.credentials {
            put(&mut out, T_USER, u.as_bytes());
            put(&mut out, T_PASSWORD, p.as_bytes());
        }
        if let Some(s) = &self.slots {
            put(&mut out, T_SLOTS, s.encode().as_bytes());
        }
        if let Some(s) = &self.craft.static_address {
            let mut b = Vec::with_capacity(16);
            for a in [s.address, s.mask, s.router, s.file_server] {
                b.extend_from_slice(&a.octets());
            }
            put(&mut out, T_STATIC, &b);
        }
        if let Some(s) = self.craft.sson {
            put(&mut out, T_SSON, &[s]);
        }
        if let Some(g) = self.craft.group {
            put(&mut out, T_GROUP, &g.to_be_bytes());
        }
        out
    }

    /// Reads a record written by [`Record::encode`].
    ///
    /// # Errors
    /// [`RecordError`] for anything but a well-formed record.
    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(RecordError::Magic)?;
        let (&version, mut rest) = rest.split_first().ok_or(RecordError::Truncated(4))?;
        if version != VERSION {
            return Err(RecordError::Version(version));
        }
        let mut r = Record::default();
        let mut key = None;
        let mut cert = None;
        let mut ca = Vec::new();
        let mut user = None;
        let mut password = None;
        let mut fields = 0usize;
        while !rest.is_empty() {
            fields += 1;
            if fields > MAX_FIELDS {
                return Err(RecordError::TooMany);
            }
            let at = bytes.len() - rest.len();
            if rest.len() < 5 {
                return Err(RecordError::Truncated(at));
            }
            let tag = rest[0];
            let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            let body = rest
                .get(5..5usize.saturating_add(len))
                .ok_or(RecordError::Truncated(at))?;
            rest = &rest[5 + len..];
            match tag {
                T_LEASE => r.lease_address = Some(ipv4(body, tag)?),
                T_SETTINGS => r.settings = Some(body.to_vec()),
                T_TRUST => {
                    let bad = RecordError::Field { tag };
                    let (n, tail) = body.split_at_checked(4).ok_or(bad.clone())?;
                    let n = u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize;
                    let (name, pem) = tail.split_at_checked(n).ok_or(bad)?;
                    r.trust_certs.push((text(name, tag)?, pem.to_vec()));
                }
                T_SCEP_KEY => key = Some(body.to_vec()),
                T_SCEP_CERT => cert = Some(body.to_vec()),
                T_SCEP_CA => ca.push(body.to_vec()),
                T_USER => user = Some(text(body, tag)?),
                T_PASSWORD => password = Some(text(body, tag)?),
                T_SLOTS => {
                    let t = text(body, tag)?;
                    r.slots = Some(BootRecord::decode(&t).map_err(|_| RecordError::Field { tag })?);
                }
                T_STATIC => {
                    if body.len() != 16 {
                        return Err(RecordError::Field { tag });
                    }
                    r.craft.static_address = Some(StaticAddress {
                        address: ipv4(&body[0..4], tag)?,
                        mask: ipv4(&body[4..8], tag)?,
                        router: ipv4(&body[8..12], tag)?,
                        file_server: ipv4(&body[12..16], tag)?,
                    });
                }
                T_SSON => match body {
                    [s] => r.craft.sson = Some(*s),
                    _ => return Err(RecordError::Field { tag }),
                },
                T_GROUP => match body {
                    [a, b] => r.craft.group = Some(u16::from_be_bytes([*a, *b])),
                    _ => return Err(RecordError::Field { tag }),
                },
                // A field of a newer writer: skipped.
                _ => {}
            }
        }
        if let (Some(key_pkcs8), Some(certificate)) = (key, cert) {
            r.identity = Some(Identity {
                key_pkcs8,
                certificate,
                ca,
            });
        }
        if let (Some(u), Some(p)) = (user, password) {
            r.credentials = Some((u, p));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::SlotImage;
    use alloc::vec;
    use proptest::prelude::*;

    fn sample() -> Record {
        Record {
            lease_address: Some(Ipv4Addr::new(10, 0, 0, 100)),
            settings: Some(vec![1, 2, 3]),
            trust_certs: vec![("ca.pem".into(), b"-----BEGIN".to_vec())],
            identity: Some(Identity {
                key_pkcs8: vec![9; 40],
                certificate: vec![8; 30],
                ca: vec![vec![7; 20], vec![6; 10]],
            }),
            credentials: Some(("1001".into(), "1001pass".into())),
            slots: Some(BootRecord::factory(SlotImage::of("factory.bin", b"x"))),
            craft: Craft {
                static_address: Some(StaticAddress {
                    address: Ipv4Addr::new(10, 0, 0, 50),
                    mask: Ipv4Addr::new(255, 255, 255, 0),
                    router: Ipv4Addr::new(10, 0, 0, 1),
                    file_server: Ipv4Addr::UNSPECIFIED,
                }),
                sson: Some(243),
                group: Some(7),
            },
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(Record::decode(&r.encode()), Ok(r.clone()));
        assert_eq!(r.running_app(), "factory.bin");
        let empty = Record::default();
        assert_eq!(Record::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn clear_keeps_only_the_slots() {
        let mut r = sample();
        r.clear();
        assert_eq!(r.credentials, None);
        assert_eq!(r.craft, Craft::default());
        assert_eq!(r.running_app(), "factory.bin");
    }

    #[test]
    fn damaged_records_are_errors() {
        let bytes = sample().encode();
        assert_eq!(Record::decode(b"nope"), Err(RecordError::Magic));
        assert_eq!(Record::decode(b"PHBR\x02"), Err(RecordError::Version(2)));
        for cut in 5..bytes.len() {
            // Every strict prefix ends inside a field or right after one; never a panic.
            let _ = Record::decode(&bytes[..cut]);
        }
        assert!(Record::decode(&bytes[..bytes.len() - 1]).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut b = b"PHBR\x01".to_vec();
            b.extend_from_slice(&tail);
            let _ = Record::decode(&b);
        }

        #[test]
        fn credentials_round_trip(u in "[0-9]{1,8}", p in ".{0,20}", a in any::<u32>()) {
            let r = Record {
                lease_address: Some(Ipv4Addr::from(a)),
                credentials: Some((u, p)),
                ..Record::default()
            };
            prop_assert_eq!(Record::decode(&r.encode()), Ok(r));
        }
    }
}
