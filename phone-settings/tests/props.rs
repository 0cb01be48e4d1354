//! Property tests: SSON strings round-trip, the store's encoding round-trips, decoding never
//! panics, and precedence always picks the highest source's latest value.

use phone_settings::encoding::crc32;
use phone_settings::store::{MAX_PARAMS, MAX_STORE_BYTES};
use phone_settings::{
    MAX_RAW_BYTES, MAX_RAW_PARAMS, MAX_SHOWN, REGISTRY, Source, SsonPair, Store, Warning,
    WarningKind, format_sson, parse_sson, split_sson,
};
use proptest::prelude::*;

/// A pair whose formatting splits back to itself: list elements after the first have no `=`.
fn sson_pair() -> impl Strategy<Value = SsonPair> {
    (
        "[A-Z0-9_]{1,24}",
        "[ -+\\--~]{0,12}",                                // first element: no ','
        prop::collection::vec("[ -+\\--<>-~]{0,8}", 0..4), // later elements: no ',' and no '='
    )
        .prop_map(|(name, first, rest)| {
            let mut value = first.into_bytes();
            for e in rest {
                value.push(b',');
                value.extend_from_slice(e.as_bytes());
            }
            SsonPair { name, value }
        })
}

/// SSON strings that mix accepted names with plausible and implausible values and noise.
fn sson_string() -> impl Strategy<Value = Vec<u8>> {
    let accepted: Vec<&'static str> = REGISTRY
        .iter()
        .filter(|p| p.accepted_in_sson())
        .map(|p| p.name)
        .collect();
    let pair = (prop::sample::select(accepted), value()).prop_map(|(n, v)| {
        let mut b = n.to_ascii_lowercase().into_bytes();
        b.push(b'=');
        b.extend_from_slice(&v);
        b
    });
    prop_oneof![
        "[ -~]{0,120}".prop_map(String::into_bytes),
        prop::collection::vec(pair, 0..8).prop_map(|ps| ps.join(&b',')),
    ]
}

fn source() -> impl Strategy<Value = Source> {
    prop::sample::select(&Source::ALL[1..])
}

/// Names from the registry (valid and invalid values both happen) and raw names.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(REGISTRY).prop_map(|p| p.name.to_string()),
        prop::sample::select(REGISTRY).prop_map(|p| p.name.to_ascii_lowercase()),
        "[A-Z][A-Z0-9_]{0,10}",
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[0-9]{1,5}".prop_map(String::into_bytes),
        "(10\\.0\\.0\\.[0-9]{1,2})(,10\\.0\\.0\\.[0-9]{1,2}){0,2}".prop_map(String::into_bytes),
        "[ -~]{0,20}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..20),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sson_format_then_split_is_identity(pairs in prop::collection::vec(sson_pair(), 0..8)) {
        let s = format_sson(&pairs);
        let (back, warnings) = split_sson(&s);
        prop_assert!(warnings.is_empty(), "{warnings:?}");
        prop_assert_eq!(back, pairs);
    }

    #[test]
    fn sson_accepted_pairs_reparse_unchanged(s in sson_string()) {
        let (pairs, _) = parse_sson(&s);
        let again = format_sson(&pairs);
        let (back, warnings) = parse_sson(&again);
        prop_assert!(warnings.is_empty(), "{warnings:?}");
        prop_assert_eq!(back, pairs);
    }

    #[test]
    fn sson_never_panics_and_applies_only_accepted_names(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut st = Store::new();
        let _ = st.apply_sson(&bytes);
        for e in st.effective() {
            prop_assert_eq!(e.source, Source::Sson);
            prop_assert!(e.param.is_some_and(phone_settings::Param::accepted_in_sson), "{}", e.name);
        }
    }

    #[test]
    fn encode_decode_round_trip(ops in prop::collection::vec((name(), value(), source(), any::<u32>()), 0..40)) {
        let mut st = Store::new();
        for (n, v, s, l) in &ops {
            let _ = st.apply_set(n, v, *s, *l);
        }
        let bytes = st.encode();
        let d = Store::decode(&bytes);
        prop_assert!(d.is_ok(), "{d:?}");
        if let Ok(d) = d {
            prop_assert!(d.dropped.is_empty());
            prop_assert_eq!(&d.store, &st);
            prop_assert_eq!(d.store.encode(), bytes);
        }
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Store::decode(&bytes);
        // The same bytes behind a valid header and checksum reach the record parser.
        let mut b = b"PHST\x01".to_vec();
        b.extend_from_slice(&bytes);
        let crc = crc32(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        let _ = Store::decode(&b);
    }

    #[test]
    fn decode_of_mutated_encoding_never_panics(
        ops in prop::collection::vec((name(), value(), source(), any::<u32>()), 1..10),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut st = Store::new();
        for (n, v, s, l) in &ops {
            let _ = st.apply_set(n, v, *s, *l);
        }
        let mut body = st.encode();
        body.truncate(body.len() - 4);
        for (i, x) in &flips {
            let at = i.index(body.len());
            body[at] ^= *x;
        }
        let crc = crc32(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        if let Ok(d) = Store::decode(&body) {
            // Whatever decodes re-encodes and decodes to the same store.
            prop_assert_eq!(Store::decode(&d.store.encode()).map(|x| x.store), Ok(d.store));
        }
    }

    /// Decision 6: after any sequence of SETs, a parameter's effective value is the latest
    /// accepted value of the highest source that set it.
    #[test]
    fn precedence_is_highest_source_latest_value(ops in prop::collection::vec((name(), value(), source()), 0..60)) {
        let mut st = Store::new();
        let mut accepted: Vec<(String, Source, Vec<u8>)> = Vec::new();
        for (n, v, s) in &ops {
            if st.apply_set(n, v, *s, 0).is_ok() {
                accepted.push((n.to_ascii_uppercase(), *s, v.clone()));
            }
        }
        for e in st.effective() {
            let best = accepted.iter().filter(|(n, _, _)| n == e.name).map(|(_, s, _)| *s).max();
            prop_assert_eq!(Some(e.source), best);
            let last = accepted.iter().rev().find(|(n, s, _)| n == e.name && *s == e.source);
            if let Some((_, _, v)) = last {
                // Registry values are normalised; compare through check.
                let want = match e.param {
                    Some(p) => p.check(v).map(String::into_bytes).unwrap_or_default(),
                    None => v.clone(),
                };
                prop_assert_eq!(e.value, want.as_slice());
            }
        }
    }
}

/// One hostile operation on a store.
#[derive(Clone, Debug)]
enum Op {
    /// SET of a distinct unknown name (`U<n>`), with a value of this length.
    Unknown(u32, usize),
    /// SET of a name of this length (valid characters), value `1`.
    LongName(usize),
    /// SET of a registry or raw name to a value of this length.
    LongValue(String, usize),
    Unset(String, Source),
    Clear(Source),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<u32>(), 0usize..600).prop_map(|(n, l)| Op::Unknown(n, l)),
        1 => (1usize..300_000).prop_map(Op::LongName),
        1 => (name(), 0usize..6000).prop_map(|(n, l)| Op::LongValue(n, l)),
        1 => (name(), source()).prop_map(|(n, s)| Op::Unset(n, s)),
        1 => source().prop_map(Op::Clear),
    ]
}

/// What a store holds, measured through its public API only.
fn measure(st: &Store) -> (usize, usize, usize) {
    let (mut raw_names, mut bytes, mut raw_bytes) = (0, 0, 0);
    for e in st.effective() {
        let cost: usize = st
            .layers(e.name)
            .map(|(_, v, _)| e.name.len() + v.len())
            .sum();
        bytes += cost;
        if e.param.is_none() {
            raw_names += 1;
            raw_bytes += cost;
        }
    }
    (raw_names, bytes, raw_bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Issue 12: a loop of SETs of distinct unknown names, huge names and huge values. The store
    /// stays within its caps (raw names and bytes, total names and bytes), every refusal past a
    /// cap is the typed error, a registry parameter can always still be set, and every warning
    /// keeps a bounded number of bytes.
    #[test]
    fn store_and_warnings_stay_bounded(
        unknown_first in 0usize..2600,
        ops in prop::collection::vec((op(), source()), 0..100),
    ) {
        let mut st = Store::new();
        let bound = std::mem::size_of::<Warning>() + 2 * (MAX_SHOWN + 3);
        let check = |w: &Warning| {
            assert!(w.kept_bytes() <= bound, "{} bytes: {w:?}", w.kept_bytes());
            assert!(w.to_string().len() < 400, "{w}");
        };
        let first = (0..unknown_first)
            .map(|i| (Op::Unknown(u32::try_from(i).unwrap_or(0), 1), Source::SettingsFile));
        let mut refused_for_cap = 0usize;
        for (i, (op, src)) in first.chain(ops).enumerate() {
            let r = match op {
                Op::Unknown(n, l) => st.apply_set(&format!("U{n}"), vec![b'v'; l], src, 1),
                Op::LongName(l) => st.apply_set(&"N".repeat(l), "1", src, 2),
                Op::LongValue(n, l) => st.apply_set(&n, vec![b'9'; l], src, 3),
                Op::Unset(n, s) => { st.unset(&n, s); Ok(()) }
                Op::Clear(s) => { st.clear_source(s); Ok(()) }
            };
            if let Err(w) = &r {
                check(w);
                refused_for_cap += usize::from(w.kind == WarningKind::TooManyUnknown);
                prop_assert!(w.kind != WarningKind::StoreFull, "raw names never fill the store");
            }
            // Measuring walks the whole store: after the first phase, then every 8th op (and at
            // the end, below).
            if i + 1 == unknown_first || (i >= unknown_first && i % 8 == 0) {
                let (raw_names, bytes, raw_bytes) = measure(&st);
                prop_assert!(raw_names <= MAX_RAW_PARAMS);
                prop_assert!(raw_bytes <= MAX_RAW_BYTES);
                prop_assert!(bytes <= MAX_STORE_BYTES);
                prop_assert!(st.len() <= MAX_PARAMS);
            }
        }
        let (raw_names, bytes, raw_bytes) = measure(&st);
        prop_assert!(raw_names <= MAX_RAW_PARAMS && raw_bytes <= MAX_RAW_BYTES);
        prop_assert!(bytes <= MAX_STORE_BYTES && st.len() <= MAX_PARAMS);
        if unknown_first > MAX_RAW_PARAMS {
            prop_assert!(refused_for_cap > 0);
        }
        // Registry parameters are never crowded out.
        prop_assert!(st.apply_set("HTTPSRVR", "10.0.0.1", Source::Craft, 0).is_ok());
        prop_assert!(st.apply_set("SIPDOMAIN", "x.example", Source::Craft, 0).is_ok());
        // What is kept survives a reboot unchanged.
        let d = Store::decode(&st.encode());
        prop_assert!(d.as_ref().is_ok_and(|d| d.store == st && d.dropped.is_empty()), "{d:?}");
    }
}

#[test]
fn structured_sson_strings_do_apply_values() {
    // Guard against a vacuous property: the structured generator's shape yields accepted pairs.
    let (pairs, w) = parse_sson(b"httpport=8080,tlssrvr=10.0.0.1,10.0.0.2,sig=2");
    assert!(w.is_empty());
    assert_eq!(pairs.len(), 3);
}
