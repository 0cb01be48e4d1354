//! phone-boot's trace file and its secrets file (issue 15, phone-boot/TRACE.md). Input: a first
//! byte whose low bit says whether a secrets file follows (then a 16-bit length and its bytes),
//! the rest is the trace. Oracles:
//! - the decoder never panics and stays within its limits, whatever the bytes;
//! - what it accepts re-encodes to a file that decodes again and re-encodes to the same bytes
//!   (the encoding is a fixed point after one round), with the same secrets file;
//! - the timeline draws any trace it accepts (one SVG document), and replay of it ends with a
//!   result, never a panic (short traces only, so each run stays fast).
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_boot::trace::{Limits, Trace, replay, timeline};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (secrets, trace) = if mode & 1 == 1 && rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        (Some(&rest[2..2 + n]), &rest[2 + n..])
    } else {
        (None, rest)
    };
    let limits = Limits {
        max_entries: 4096,
        max_entry_bytes: 1 << 20,
        max_total_bytes: 4 << 20,
        max_power_ons: 8,
        max_secrets: 64,
        max_secret_bytes: 4096,
    };
    let Ok(t) = Trace::decode_with(trace, secrets, &limits) else {
        return;
    };
    assert!(t.entry_count() <= limits.max_entries);
    assert!(t.power_ons.len() <= limits.max_power_ons);
    let once = t.encode();
    let again = Trace::decode_with(&once.trace, once.secrets.as_deref(), &limits)
        .expect("a re-encoded trace decodes");
    let twice = again.encode();
    assert_eq!(once, twice, "the encoding is a fixed point after one round");
    assert_eq!(again.entry_count(), t.entry_count());
    let svg = timeline(&t);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    if t.entry_count() <= 64 {
        let _ = replay::<rand_chacha::ChaCha20Rng>(&t);
    }
});
