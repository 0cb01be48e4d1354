//! Parse and run arbitrary bytes with an arbitrary file provider and arbitrary limits. Oracles:
//! - nothing panics, and printing what parsed reads back the same;
//! - the run ends within its bounds (Decision 5): steps, hand-offs, and `step()` calls;
//! - work and memory are bounded by the limits whatever the lines' length (issue 12): bytes read
//!   <= `max_scan_bytes` and at least the files taken on plus one byte per line stepped on;
//!   warnings kept <= `max_warnings`, their bytes (summed here) <= `max_warning_bytes`, every name
//!   in a warning cut at `MAX_SHOWN` (+ `...`).
//! - a long line repeated through a `GOTO` (the input can ask for one) stops at the scan bound.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use phone_upgrade_script::{Limits, MAX_SHOWN, Run, Step, Warning, WarningKind, lint, parse};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    script: &'a [u8],
    /// Answers to successive GETs: `Some` = obtained with these bytes, `None` = not obtained.
    files: Vec<Option<&'a [u8]>>,
    max_steps: u16,
    max_handoffs: u8,
    max_scan_bytes: u32,
    max_warnings: u8,
    max_warning_bytes: u16,
    model: &'a [u8],
    /// Pad the script's first line with this many copies of its last byte (a long line).
    pad: u16,
    bom: bool,
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };

    let mut script = Vec::new();
    if input.bom {
        script.extend_from_slice(b"\xEF\xBB\xBF");
    }
    script.extend_from_slice(input.script);
    if let Some(&last) = input.script.last() {
        let at = script
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(script.len());
        // Up to 64 KB: long enough that a loop over it meets the scan bound, short enough for
        // hundreds of runs a second.
        let pad = usize::from(input.pad);
        script.splice(at..at, std::iter::repeat_n(last, pad));
    }

    let parsed = parse(&script);
    if let Ok(bytes) = parsed.to_bytes() {
        assert_eq!(parse(&bytes).statements, parsed.statements);
    }
    let _ = lint::lint(&script, &lint::is_known_variable);

    let mut limits = Limits::default();
    limits.max_steps = u32::from(input.max_steps % 8192) + 1;
    limits.max_handoffs = input.max_handoffs % 10;
    limits.max_scan_bytes = u64::from(input.max_scan_bytes % (1 << 20));
    limits.max_warnings = usize::from(input.max_warnings);
    limits.max_warning_bytes = usize::from(input.max_warning_bytes);
    let mut vars = BTreeMap::new();
    vars.insert(b"MODEL4".to_vec(), input.model.to_vec());
    vars.insert(b"MACADDR".to_vec(), b"00:11:22:33:44:55".to_vec());

    let mut run = Run::new(b"fuzz.txt", script.clone(), b"app.bin", limits);
    let mut loaded = if run.file_name(0).is_some() {
        script.len() as u64
    } else {
        0
    };
    let mut files = input.files.iter().cycle();
    let mut calls = 0u32;
    loop {
        calls += 1;
        assert!(calls <= limits.max_steps + 2, "run did not end");
        match run.step(&vars) {
            Step::Set(_) => {}
            Step::NeedFile { .. } => {
                let file = files.next().copied().flatten().map(<[u8]>::to_vec);
                let len = file.as_ref().map_or(0, Vec::len) as u64;
                let before = run.handoffs();
                run.provide_file(file);
                if run.handoffs() > before {
                    loaded += len;
                }
            }
            Step::Finished(_) => break,
        }
    }
    assert!(run.steps() <= limits.max_steps);
    assert!(run.handoffs() <= limits.max_handoffs);
    assert!(run.scanned() <= limits.max_scan_bytes);
    assert!(loaded + u64::from(run.steps()) <= run.scanned());
    assert!(run.warnings().len() <= limits.max_warnings);
    let kept: usize = run.warnings().iter().map(Warning::kept_bytes).sum();
    assert_eq!(kept, run.warning_bytes());
    assert!(kept <= limits.max_warning_bytes);
    for w in run.warnings() {
        if let WarningKind::UnknownVariable(n) | WarningKind::MissingLabel(n) = &w.kind {
            assert!(n.len() <= MAX_SHOWN + 3);
        }
    }
});
