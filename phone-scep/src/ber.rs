//! One BER form der 0.8 cannot read: a constructed OCTET STRING with a *definite* length
//! (der only reassembles indefinite-length ones, RustCrypto/formats#779). The Go pkcs7 package
//! behind micromdm's scepserver writes the EnvelopedData `encryptedContent [0] IMPLICIT OCTET
//! STRING` exactly that way (`A0 82 .. 04 82 ..`), so before the cms types decode a CertRep's
//! EnvelopedData, this rewrites that one field to its primitive DER form.
//!
//! The rewrite is schema-aware on purpose: an EXPLICIT `[0]` wrapping an OCTET STRING has the
//! same bytes, so a generic normalizer would corrupt other fields.

use alloc::vec::Vec;

/// Nesting bound for segments inside a constructed string.
const MAX_SEGMENT_DEPTH: usize = 4;

/// A definite-length TLV: (tag, header length, content length).
fn tlv(data: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *data.first()?;
    if tag & 0x1F == 0x1F {
        return None; // multi-byte tags do not occur here
    }
    let first = *data.get(1)?;
    if first < 0x80 {
        let len = usize::from(first);
        return (data.len() >= 2 + len).then_some((tag, 2, len));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 4 {
        return None; // indefinite (der handles it) or absurd
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | usize::from(*data.get(2 + i)?);
    }
    let hl = 2 + n;
    (data.len() >= hl.checked_add(len)?).then_some((tag, hl, len))
}

/// The children of a constructed TLV's content.
fn children(mut content: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (_, hl, len) = tlv(content)?;
        out.push(&content[..hl + len]);
        content = &content[hl + len..];
        if out.len() > 64 {
            return None;
        }
    }
    Some(out)
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn wrap(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    push_len(&mut out, len);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// Concatenates the OCTET STRING segments of a constructed string's content.
fn segments(content: &[u8], depth: usize, out: &mut Vec<u8>) -> Option<()> {
    if depth > MAX_SEGMENT_DEPTH {
        return None;
    }
    for child in children(content)? {
        let (tag, hl, len) = tlv(child)?;
        match tag {
            0x04 => out.extend_from_slice(&child[hl..hl + len]),
            0x24 => segments(&child[hl..hl + len], depth + 1, out)?,
            _ => return None,
        }
    }
    Some(())
}

/// Rewrites a ContentInfo(EnvelopedData) whose encryptedContent is a definite-length
/// constructed string into DER. Returns `None` when there is nothing to rewrite (or the
/// structure is not the expected one), in which case the caller decodes the original.
#[must_use]
pub fn normalize_enveloped(body: &[u8]) -> Option<Vec<u8>> {
    let (t, hl, len) = tlv(body)?;
    if t != 0x30 {
        return None;
    }
    let ci = children(&body[hl..hl + len])?;
    let [oid, explicit] = ci.as_slice() else {
        return None;
    };
    let (t, hl, len) = tlv(explicit)?;
    if t != 0xA0 {
        return None;
    }
    let inner = children(&explicit[hl..hl + len])?;
    let [ed] = inner.as_slice() else { return None };
    let (t, hl, len) = tlv(ed)?;
    if t != 0x30 {
        return None;
    }
    let mut fields = children(&ed[hl..hl + len])?;
    // version, [0] originatorInfo?, recipientInfos, encryptedContentInfo, [1] unprotectedAttrs?
    let eci_pos = fields.iter().position(|f| f.first() == Some(&0x30))?;
    let eci = fields[eci_pos];
    let (_, hl, len) = tlv(eci)?;
    let parts = children(&eci[hl..hl + len])?;
    let [ctype, alg, content] = parts.as_slice() else {
        return None;
    };
    let (t, chl, clen) = tlv(content)?;
    if t != 0xA0 {
        return None; // already primitive [0] (0x80), or absent
    }
    let mut data = Vec::new();
    segments(&content[chl..chl + clen], 0, &mut data)?;
    let prim = wrap(0x80, &[&data]);
    let new_eci = wrap(0x30, &[ctype, alg, &prim]);
    fields[eci_pos] = &new_eci;
    let new_ed = wrap(0x30, &fields);
    let new_explicit = wrap(0xA0, &[&new_ed]);
    Some(wrap(0x30, &[oid, &new_explicit]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn constructed_encrypted_content_becomes_primitive() {
        // ContentInfo { OID, [0] { SEQ { INT 0, SET {}, SEQ { OID, SEQ { OID }, [0] cons { 04 "ab" 04 "c" } } } } }
        let oid: &[u8] = &[0x06, 0x01, 0x2A];
        let eci = wrap(
            0x30,
            &[
                oid,
                &wrap(0x30, &[oid]),
                &wrap(0xA0, &[&[0x04, 2, b'a', b'b'], &[0x04, 1, b'c']]),
            ],
        );
        let ed = wrap(0x30, &[&[0x02, 1, 0], &[0x31, 0], &eci]);
        let ci = wrap(0x30, &[oid, &wrap(0xA0, &[&ed])]);
        let want_eci = wrap(
            0x30,
            &[oid, &wrap(0x30, &[oid]), &[0x80, 3, b'a', b'b', b'c']],
        );
        let want_ed = wrap(0x30, &[&[0x02, 1, 0], &[0x31, 0], &want_eci]);
        let want = wrap(0x30, &[oid, &wrap(0xA0, &[&want_ed])]);
        assert_eq!(normalize_enveloped(&ci).unwrap(), want);
        // Already DER: nothing to do.
        assert_eq!(normalize_enveloped(&want), None);
        // Long lengths survive.
        let big = alloc::vec![7u8; 300];
        let mut seg = alloc::vec![0x04, 0x82, 0x01, 0x2C];
        seg.extend_from_slice(&big);
        let eci = wrap(0x30, &[oid, &wrap(0x30, &[oid]), &wrap(0xA0, &[&seg])]);
        let ed = wrap(0x30, &[&[0x02, 1, 0], &[0x31, 0], &eci]);
        let out = normalize_enveloped(&wrap(0x30, &[oid, &wrap(0xA0, &[&ed])])).unwrap();
        assert!(out.windows(4).any(|w| w == [0x80, 0x82, 0x01, 0x2C]));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = normalize_enveloped(&data);
        }
    }
}
