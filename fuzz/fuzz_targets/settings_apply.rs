//! A hostile settings file's SETs applied to the store (issue 12): any sequence of names, values,
//! sources, unsets and clears. Oracles: nothing panics; the store stays within its caps (names
//! and bytes outside the registry, names and bytes in all) measured through the public API; a
//! registry parameter can always still be set; every warning keeps a bounded number of bytes;
//! and what is stored survives its encoding unchanged.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use phone_settings::store::{MAX_PARAMS, MAX_STORE_BYTES};
use phone_settings::{MAX_RAW_BYTES, MAX_RAW_PARAMS, MAX_SHOWN, REGISTRY, Source, Store, Warning};

const WARNING_BOUND: usize = std::mem::size_of::<Warning>() + 2 * (MAX_SHOWN + 3);

#[derive(Arbitrary, Debug)]
enum Op<'a> {
    Set {
        name: &'a str,
        value: &'a [u8],
        source: u8,
    },
    /// A registry name (by index) with a value.
    Registry {
        index: u8,
        value: &'a [u8],
        source: u8,
    },
    /// `count` distinct raw names `<prefix><i>`, value repeated `len` times.
    Many {
        prefix: &'a str,
        count: u16,
        len: u16,
    },
    /// A name this long.
    Long {
        len: u32,
    },
    Unset {
        name: &'a str,
        source: u8,
    },
    Clear {
        source: u8,
    },
}

fn source(b: u8) -> Source {
    Source::ALL[usize::from(b) % Source::ALL.len()]
}

fuzz_target!(|data: &[u8]| {
    let Ok(ops) = Vec::<Op>::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let mut st = Store::new();
    let check = |r: Result<(), Warning>| {
        if let Err(w) = r {
            assert!(
                w.kept_bytes() <= WARNING_BOUND,
                "{} bytes: {w:?}",
                w.kept_bytes()
            );
        }
    };
    for op in ops.iter().take(64) {
        match *op {
            Op::Set {
                name,
                value,
                source: s,
            } => check(st.apply_set(name, value, source(s), 1)),
            Op::Registry {
                index,
                value,
                source: s,
            } => {
                let p = &REGISTRY[usize::from(index) % REGISTRY.len()];
                check(st.apply_set(p.name, value, source(s), 2));
            }
            Op::Many { prefix, count, len } => {
                let value = vec![b'v'; usize::from(len % 8192)];
                for i in 0..count % 4096 {
                    check(st.apply_set(&format!("{prefix}{i}"), &value, Source::SettingsFile, 3));
                }
            }
            Op::Long { len } => {
                let name = "N".repeat((len % (1 << 20)) as usize);
                check(st.apply_set(&name, "1", Source::SettingsFile, 4));
            }
            Op::Unset { name, source: s } => st.unset(name, source(s)),
            Op::Clear { source: s } => st.clear_source(source(s)),
        }
    }
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
    assert!(raw_names <= MAX_RAW_PARAMS && raw_bytes <= MAX_RAW_BYTES);
    assert!(bytes <= MAX_STORE_BYTES && st.len() <= MAX_PARAMS);
    assert!(
        st.apply_set("SIPDOMAIN", "x.example", Source::Craft, 0)
            .is_ok()
    );
    let d = Store::decode(&st.encode()).expect("an encoded store decodes");
    assert!(d.dropped.is_empty());
    assert_eq!(d.store, st);
});
