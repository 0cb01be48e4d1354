//! A stable, versioned byte encoding of a [`Store`], so a phone keeps its values across reboots
//! (spec/README.md: "kept across reboots: the last good settings, the craft values…").
//!
//! Version 1, all integers little-endian:
//!
//! ```text
//! magic    4  b"PHST"
//! version  1  1
//! count    4  number of records (at most MAX_PARAMS * 6)
//! records     count times:
//!   name_len  1   1..=64
//!   name      name_len bytes, printable ASCII without spaces (stored upper case)
//!   source    1   1..=6 (Source as u8; the default is never stored)
//!   line      4   SET line in its file, 0 if none
//!   value_len 2   0..=4096
//!   value     value_len bytes
//! crc32    4  CRC-32 (IEEE 802.3) of every byte before it
//! ```
//!
//! Records are written sorted by name, then source. Decoding checks every length against the
//! bytes left and the store's limits before it copies anything, and never reserves memory from
//! a count it read, so bad bytes give a [`DecodeError`], never a panic or a large allocation. A
//! value that a newer firmware's registry no longer accepts is not an error: it is dropped with
//! a [`Warning`] (the rest of the kept settings survive an upgrade).

use alloc::string::String;
use alloc::vec::Vec;
use thiserror::Error;

use crate::source::Source;
use crate::store::{
    Layer, MAX_NAME_LEN, MAX_PARAMS, MAX_VALUE_LEN, Store, Warning, WarningKind, check_name,
    validate,
};

/// The magic bytes at the start of an encoded store.
pub const MAGIC: [u8; 4] = *b"PHST";
/// The encoding version this crate writes and reads.
pub const VERSION: u8 = 1;
/// The most records an encoding may hold: every name with every storable source.
pub const MAX_RECORDS: usize = MAX_PARAMS * 6;

/// Why bytes are not an encoded store.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends inside the header, a record or the checksum.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// The first four bytes are not [`MAGIC`].
    #[error("not an encoded settings store (bad magic)")]
    BadMagic,
    /// A version this crate does not read.
    #[error("unsupported encoding version {0}")]
    UnsupportedVersion(u8),
    /// The checksum does not match (a torn or corrupted write).
    #[error("checksum mismatch")]
    BadChecksum,
    /// More records than [`MAX_RECORDS`].
    #[error("{0} records, at most {MAX_RECORDS}")]
    TooManyRecords(u32),
    /// A name that is empty, too long or not printable ASCII.
    #[error("bad parameter name at byte {0}")]
    BadName(usize),
    /// A source byte that is not 1–6.
    #[error("bad source {value} at byte {at}")]
    BadSource {
        /// Offset of the byte.
        at: usize,
        /// The byte.
        value: u8,
    },
    /// A value longer than [`MAX_VALUE_LEN`].
    #[error("value longer than {MAX_VALUE_LEN} bytes at byte {0}")]
    ValueTooLong(usize),
    /// More names or bytes than a store holds ([`MAX_PARAMS`], [`MAX_STORE_BYTES`](crate::store::MAX_STORE_BYTES)).
    #[error("more than a settings store holds")]
    TooLarge,
    /// The same name and source twice.
    #[error("duplicate record at byte {0}")]
    Duplicate(usize),
    /// Bytes left over between the last record and the checksum.
    #[error("{0} unexpected bytes after the records")]
    TrailingBytes(usize),
}

/// The result of [`Store::decode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The store.
    pub store: Store,
    /// Records dropped because this firmware's registry refuses them (e.g. a range narrowed).
    pub dropped: Vec<Warning>,
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320: the `crc` crate's `CRC_32_ISO_HDLC`),
/// the checksum of every stored record the phone keeps (this encoding and phone-boot's boot
/// record). The table is built at compile time.
#[must_use]
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// The one CRC-32 of stored state.
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError::Truncated(self.pos))?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.take(4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
}

impl Store {
    /// Encode every stored value (not the defaults) in the version-1 format.
    ///
    /// ```
    /// use phone_settings::{Source, Store};
    /// let mut store = Store::new();
    /// store.apply_set("SIPDOMAIN", "example.com", Source::Craft, 0).unwrap();
    /// let bytes = store.encode();
    /// assert_eq!(Store::decode(&bytes).unwrap().store, store);
    /// ```
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        let count = self
            .map
            .values()
            .flat_map(|s| s.layers.iter().flatten())
            .count();
        // The store's limits keep count under MAX_RECORDS, names under 64 and values under
        // 4096 bytes, so these conversions cannot saturate.
        out.extend_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_le_bytes());
        for (name, slot) in &self.map {
            for source in Source::ALL {
                let Some(layer) = &slot.layers[source.index()] else {
                    continue;
                };
                out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(name.as_bytes());
                out.push(source as u8);
                out.extend_from_slice(&layer.line.to_le_bytes());
                out.extend_from_slice(
                    &u16::try_from(layer.value.len())
                        .unwrap_or(u16::MAX)
                        .to_le_bytes(),
                );
                out.extend_from_slice(&layer.value);
            }
        }
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decode bytes written by [`Store::encode`].
    ///
    /// # Errors
    /// A [`DecodeError`] for bytes that are not a well-formed version-1 encoding.
    pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
        if bytes.len() < MAGIC.len() + 1 + 4 + 4 {
            return Err(DecodeError::Truncated(bytes.len()));
        }
        if bytes[..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(DecodeError::UnsupportedVersion(bytes[4]));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let want = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        if crc32(body) != want {
            return Err(DecodeError::BadChecksum);
        }
        let mut r = Reader {
            bytes: body,
            pos: 5,
        };
        let count = r.u32()?;
        if usize::try_from(count).map_or(true, |c| c > MAX_RECORDS) {
            return Err(DecodeError::TooManyRecords(count));
        }
        let mut store = Store::new();
        let mut dropped = Vec::new();
        for _ in 0..count {
            let at = r.pos;
            let name_len = usize::from(r.u8()?);
            if name_len == 0 || name_len > MAX_NAME_LEN {
                return Err(DecodeError::BadName(at));
            }
            let name =
                core::str::from_utf8(r.take(name_len)?).map_err(|_| DecodeError::BadName(at))?;
            check_name(name).map_err(|_| DecodeError::BadName(at))?;
            let src_at = r.pos;
            let src = r.u8()?;
            let source = match Source::from_u8(src) {
                Some(s) if s != Source::Default => s,
                _ => {
                    return Err(DecodeError::BadSource {
                        at: src_at,
                        value: src,
                    });
                }
            };
            let line = r.u32()?;
            let value_len = usize::from(r.u16()?);
            if value_len > MAX_VALUE_LEN {
                return Err(DecodeError::ValueTooLong(at));
            }
            let value = r.take(value_len)?;
            let key = name.to_ascii_uppercase();
            if store
                .map
                .get(&key)
                .is_some_and(|s| s.layers[source.index()].is_some())
            {
                return Err(DecodeError::Duplicate(at));
            }
            match validate(&key, value, source) {
                Ok((param, stored)) => {
                    let key = param.map_or(key, |p| String::from(p.name));
                    let layer = Layer {
                        value: stored,
                        line,
                    };
                    match store.put(key.clone(), source, layer) {
                        Ok(()) => {}
                        // Raw names past this firmware's cap: dropped like a value it refuses,
                        // the rest survive (an older writer may have kept more).
                        Err(kind @ WarningKind::TooManyUnknown) => dropped.push(Warning {
                            name: key,
                            source,
                            line,
                            kind,
                        }),
                        Err(_) => return Err(DecodeError::TooLarge),
                    }
                }
                Err(kind) => dropped.push(Warning {
                    name: key,
                    source,
                    line,
                    kind,
                }),
            }
        }
        if r.pos != body.len() {
            return Err(DecodeError::TrailingBytes(body.len() - r.pos));
        }
        Ok(Decoded { store, dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WarningKind;
    use alloc::vec;

    fn sample() -> Store {
        let mut st = Store::new();
        for (n, v, s, l) in [
            ("HTTPSRVR", &b"10.0.0.1"[..], Source::DhcpStandard, 0),
            ("HTTPSRVR", b"10.0.0.2,10.0.0.3", Source::SettingsFile, 17),
            ("L2QVLAN", b"12", Source::Lldp, 0),
            ("DIALPLAN", b"[2-4]xxx|\xe9\x00", Source::SettingsFile, 99),
            ("GROUP", b"7", Source::Craft, 0),
        ] {
            assert!(st.apply_set(n, v, s, l).is_ok());
        }
        st
    }

    #[test]
    fn round_trip_and_layout() {
        let st = sample();
        let bytes = st.encode();
        assert_eq!(&bytes[..5], b"PHST\x01");
        assert_eq!(&bytes[5..9], &5u32.to_le_bytes());
        // First record: DIALPLAN (sorted by name), source F.
        assert_eq!(bytes[9], 8);
        assert_eq!(&bytes[10..18], b"DIALPLAN");
        assert_eq!(bytes[18], Source::SettingsFile as u8);
        let d = Store::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.store, st);
        assert!(d.dropped.is_empty());
        assert_eq!(d.store.encode(), bytes, "canonical");
        let empty = Store::new().encode();
        assert_eq!(empty.len(), 13);
        assert_eq!(Store::decode(&empty).map(|d| d.store), Ok(Store::new()));
    }

    fn reseal(mut body: Vec<u8>) -> Vec<u8> {
        let crc = crc32(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    #[test]
    fn bad_bytes_are_typed_errors() {
        let good = sample().encode();
        let body = good[..good.len() - 4].to_vec();
        assert_eq!(Store::decode(&[]), Err(DecodeError::Truncated(0)));
        assert_eq!(
            Store::decode(b"XXXX\x01\0\0\0\0\0\0\0\0"),
            Err(DecodeError::BadMagic)
        );
        assert_eq!(
            Store::decode(b"PHST\x02\0\0\0\0\0\0\0\0"),
            Err(DecodeError::UnsupportedVersion(2))
        );
        let mut flipped = good.clone();
        flipped[12] ^= 1;
        assert_eq!(Store::decode(&flipped), Err(DecodeError::BadChecksum));
        // Lying counts and lengths, with a valid checksum.
        let mut b = body.clone();
        b[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            Store::decode(&reseal(b)),
            Err(DecodeError::TooManyRecords(u32::MAX))
        );
        let mut b = body.clone();
        b[5..9].copy_from_slice(&6u32.to_le_bytes());
        assert!(matches!(
            Store::decode(&reseal(b)),
            Err(DecodeError::Truncated(_))
        ));
        let mut b = body.clone();
        b[5..9].copy_from_slice(&4u32.to_le_bytes());
        assert!(matches!(
            Store::decode(&reseal(b)),
            Err(DecodeError::TrailingBytes(_))
        ));
        let mut b = body.clone();
        b[9] = 0;
        assert_eq!(Store::decode(&reseal(b)), Err(DecodeError::BadName(9)));
        let mut b = body.clone();
        b[10] = b' ';
        assert_eq!(Store::decode(&reseal(b)), Err(DecodeError::BadName(9)));
        let mut b = body.clone();
        b[18] = 0;
        assert_eq!(
            Store::decode(&reseal(b)),
            Err(DecodeError::BadSource { at: 18, value: 0 })
        );
        let mut b = body.clone();
        b[23..25].copy_from_slice(&5000u16.to_le_bytes());
        assert_eq!(Store::decode(&reseal(b)), Err(DecodeError::ValueTooLong(9)));
        // The same record twice.
        let rec_len = 1 + 8 + 1 + 4 + 2 + 11;
        let mut b = body[..9].to_vec();
        b[5..9].copy_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&body[9..9 + rec_len]);
        b.extend_from_slice(&body[9..9 + rec_len]);
        assert_eq!(
            Store::decode(&reseal(b)),
            Err(DecodeError::Duplicate(9 + rec_len))
        );
    }

    #[test]
    fn values_the_registry_refuses_are_dropped_not_fatal() {
        // A record written by a firmware with a wider range, and one with a forbidden source.
        let mut b = b"PHST\x01".to_vec();
        b.extend_from_slice(&3u32.to_le_bytes());
        for (name, src, value) in [
            (&b"L2QVLAN"[..], 4u8, &b"5000"[..]),
            (b"GROUP", 4, b"1"),
            (b"sipdomain", 6, b"x.example"),
        ] {
            b.push(u8::try_from(name.len()).unwrap_or(0));
            b.extend_from_slice(name);
            b.push(src);
            b.extend_from_slice(&3u32.to_le_bytes());
            b.extend_from_slice(&u16::try_from(value.len()).unwrap_or(0).to_le_bytes());
            b.extend_from_slice(value);
        }
        let d = Store::decode(&reseal(b)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.store.str("SIPDOMAIN"), Some("x.example"));
        assert_eq!(d.store.len(), 1);
        let kinds: Vec<(&str, bool)> = d
            .dropped
            .iter()
            .map(|w| {
                (
                    w.name.as_str(),
                    matches!(w.kind, WarningKind::SourceNotAllowed(_)),
                )
            })
            .collect();
        assert_eq!(kinds, vec![("L2QVLAN", false), ("GROUP", true)]);
    }

    /// A store written by a firmware that kept more raw names than this one does: the names past
    /// [`MAX_RAW_PARAMS`](crate::MAX_RAW_PARAMS) are dropped with a warning, registry values and
    /// the rest survive (not a fatal [`DecodeError::TooLarge`]).
    #[test]
    fn raw_names_past_the_cap_are_dropped_not_fatal() {
        let extra = 3usize;
        let n = crate::MAX_RAW_PARAMS + extra;
        let mut b = b"PHST\x01".to_vec();
        b.extend_from_slice(&u32::try_from(n + 1).unwrap_or(0).to_le_bytes());
        let mut names: Vec<alloc::string::String> =
            (0..n).map(|i| alloc::format!("R{i:05}")).collect();
        names.push(alloc::string::String::from("SIPDOMAIN"));
        names.sort();
        for name in &names {
            b.push(u8::try_from(name.len()).unwrap_or(0));
            b.extend_from_slice(name.as_bytes());
            b.push(Source::Craft as u8);
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.push(b'x');
        }
        let d = Store::decode(&reseal(b)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.dropped.len(), extra);
        assert!(
            d.dropped
                .iter()
                .all(|w| w.kind == WarningKind::TooManyUnknown)
        );
        assert_eq!(d.store.str("SIPDOMAIN"), Some("x"));
        assert_eq!(d.store.len(), crate::MAX_RAW_PARAMS + 1);
    }

    /// Format stability: a file written by an independent implementation of the layout above
    /// (Python `struct` + `zlib.crc32`, the fuzz seed) decodes, and re-encodes to the same bytes.
    #[test]
    fn version_1_file_from_another_writer() {
        let file = include_bytes!("../../fuzz/seeds/settings_decode/seed-typical");
        let d = Store::decode(file).unwrap_or_else(|e| panic!("{e}"));
        assert!(d.dropped.is_empty());
        assert_eq!(d.store.str("HTTPSRVR"), Some("10.0.0.2,10.0.0.3"));
        assert_eq!(d.store.get("L2QVLAN").map(|e| e.source), Some(Source::Lldp));
        assert_eq!(
            d.store.get("DIALPLAN").map(|e| (e.value, e.line)),
            Some((&b"[2-4]xxx|\xe9"[..], 99))
        );
        assert_eq!(d.store.controllers().len(), 1);
        assert_eq!(d.store.encode(), file.to_vec());
    }

    #[test]
    fn crc_known_answer() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
