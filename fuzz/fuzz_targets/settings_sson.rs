//! SSON string (DHCP option 242) parsing and application: never panics, applies only names the
//! SSON may set, the accepted pairs re-format to a string that parses to the same pairs, and
//! every warning keeps a bounded number of bytes whatever the string holds (issue 12).
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_settings::{MAX_SHOWN, Source, Store, Warning, format_sson, parse_sson};

/// What one warning may keep: its size and two texts cut at MAX_SHOWN (+ `...`).
const WARNING_BOUND: usize = std::mem::size_of::<Warning>() + 2 * (MAX_SHOWN + 3);

fuzz_target!(|data: &[u8]| {
    let (pairs, _) = parse_sson(data);
    let again = format_sson(&pairs);
    let (back, warnings) = parse_sson(&again);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(back, pairs);

    let (_, warnings) = parse_sson(data);
    for w in &warnings {
        assert!(w.kept_bytes() <= WARNING_BOUND, "{w:?}");
    }

    let mut store = Store::new();
    for w in store.apply_sson(data) {
        assert!(w.kept_bytes() <= WARNING_BOUND, "{w:?}");
    }
    for e in store.effective() {
        assert_eq!(e.source, Source::Sson);
        assert!(e.param.is_some_and(phone_settings::Param::accepted_in_sson));
    }
});
