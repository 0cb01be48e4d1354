//! SSON string (DHCP option 242) parsing and application: never panics, applies only names the
//! SSON may set, and the accepted pairs re-format to a string that parses to the same pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_settings::{Source, Store, format_sson, parse_sson};

fuzz_target!(|data: &[u8]| {
    let (pairs, _) = parse_sson(data);
    let again = format_sson(&pairs);
    let (back, warnings) = parse_sson(&again);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(back, pairs);

    let mut store = Store::new();
    let _ = store.apply_sson(data);
    for e in store.effective() {
        assert_eq!(e.source, Source::Sson);
        assert!(e.param.is_some_and(phone_settings::Param::accepted_in_sson));
    }
});
