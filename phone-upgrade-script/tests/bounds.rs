//! Work and memory bounds of a run (issue 12): bytes read per run, bytes and count of warnings
//! kept, whatever the lines' length. Regression tests for the reported inputs, and a property
//! test for the class: for arbitrary scripts, the bytes read and the warning bytes kept stay
//! within the [`Limits`].

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::run_with;
use phone_upgrade_script::{Limits, MAX_SHOWN, Run, RunError, Step, Warning, WarningKind};
use proptest::prelude::*;

/// The issue's input: `# L` / `GOTO L` + 1 MB of spaces + `x` spent minutes in one `step` call
/// (the step bound counts lines, and each step read the 1 MB line again).
#[test]
fn long_line_in_a_goto_loop_stops_at_the_scan_bound() {
    let mut script = b"# L\nGOTO L".to_vec();
    script.extend(std::iter::repeat_n(b' ', 1 << 20));
    script.extend_from_slice(b"x\n");
    let limits = Limits::default();
    let started = Instant::now();
    let o = run_with(&script, &[], &[], "r", limits);
    let took = started.elapsed();
    assert_eq!(
        o.result,
        Err(RunError::ScanLimit {
            file: 0,
            line: 2,
            max: limits.max_scan_bytes
        })
    );
    assert!(o.run.scanned() <= limits.max_scan_bytes);
    // 32 MiB / 1 MiB: the line is read about 31 times, not a million.
    assert!(o.run.steps() < 35, "{} steps", o.run.steps());
    // Generous for an unoptimised test build on a shared machine; release takes ~60 ms.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    eprintln!(
        "1 MB line in a GOTO loop: {took:?}, {} steps, {} bytes read",
        o.run.steps(),
        o.run.scanned()
    );
}

/// The issue's other input: `IF $<400 KB name> SEQ 1 GOTO L` in a loop kept ~400 MB of warnings
/// (their count was capped, their size was not).
#[test]
fn long_variable_name_in_a_loop_keeps_bounded_warnings() {
    let mut script = b"# L\nIF $".to_vec();
    script.extend(std::iter::repeat_n(b'N', 400 * 1024));
    script.extend_from_slice(b" SEQ 1 GOTO L\nGOTO L\n");
    let limits = Limits::default();
    let o = run_with(&script, &[], &[], "r", limits);
    assert!(matches!(o.result, Err(RunError::ScanLimit { .. })));
    assert!(!o.warnings.is_empty());
    for w in &o.warnings {
        let WarningKind::UnknownVariable(name) = &w.kind else {
            panic!("unexpected {w:?}");
        };
        assert_eq!(name.len(), MAX_SHOWN + 3);
        assert!(name.ends_with(b"..."));
    }
    let kept: usize = o.warnings.iter().map(Warning::kept_bytes).sum();
    assert_eq!(kept, o.run.warning_bytes());
    assert!(kept <= limits.max_warning_bytes, "{kept} bytes of warnings");
}

#[test]
fn long_missing_label_is_cut_in_the_warning() {
    let mut script = b"GOTO ".to_vec();
    script.extend(std::iter::repeat_n(b'q', 10_000));
    let o = run_with(&script, &[], &[], "r", Limits::default());
    assert_eq!(o.result, Ok(()));
    let [w] = o.warnings.as_slice() else {
        panic!("{:?}", o.warnings.len());
    };
    let WarningKind::MissingLabel(l) = &w.kind else {
        panic!("{w:?}");
    };
    assert_eq!(&l[..MAX_SHOWN], &[b'q'; MAX_SHOWN][..]);
    assert_eq!(&l[MAX_SHOWN..], b"...");
}

/// Warnings are bounded in bytes as well as in count: a tight byte bound drops the rest and
/// counts them.
#[test]
fn warning_bytes_bound_drops_and_counts() {
    let mut limits = Limits::default();
    limits.max_warning_bytes = 3 * (std::mem::size_of::<Warning>() + 4);
    let o = run_with(
        b"# L\nIF $ABCD SEQ 1 GOTO L\nGOTO L\n",
        &[],
        &[],
        "r",
        limits,
    );
    assert_eq!(o.warnings.len(), 3);
    assert!(o.run.warning_bytes() <= limits.max_warning_bytes);
    assert!(o.run.dropped_warnings() > 0);
}

/// A jump finds the first of many equal labels in O(log n) comparisons, not by walking back over
/// every duplicate (which made each GOTO proportional to the file).
#[test]
fn jump_to_a_label_defined_many_times_is_logarithmic() {
    let mut script = Vec::new();
    for _ in 0..100_000 {
        script.extend_from_slice(b"# L\n");
    }
    script.extend_from_slice(b"GOTO L\n");
    let mut limits = Limits::default();
    limits.max_steps = 2_000_000;
    let started = Instant::now();
    let o = run_with(&script, &[], &[], "r", limits);
    // The first `# L` counts: the loop runs through all the labels again each time.
    assert!(matches!(o.result, Err(RunError::StepLimit { .. })));
    assert!(started.elapsed() < Duration::from_secs(20));
    // Bytes read: the file once, then ~4 bytes per label line and the GOTO's compares.
    assert!(o.run.scanned() < 12 * 1024 * 1024, "{}", o.run.scanned());
}

/// A handed-over file that does not fit in what is left of the scan bound ends the run at the GET
/// (it is not a hand-off), and SETs before stay.
#[test]
fn file_beyond_the_scan_bound_stops_at_the_get() {
    let mut limits = Limits::default();
    limits.max_scan_bytes = 64;
    let big = vec![b'#'; 100];
    let o = run_with(
        b"SET A 1\nGET big\nSET B 2\n",
        &[],
        &[("big", &big)],
        "r",
        limits,
    );
    assert_eq!(o.pairs(), [("A", "1")]);
    assert_eq!(
        o.result,
        Err(RunError::ScanLimit {
            file: 0,
            line: 2,
            max: 64
        })
    );
    assert_eq!(o.run.handoffs(), 0);
    // The first file itself too large: the run ends before its first line.
    limits.max_scan_bytes = 3;
    let o = run_with(b"SET A 1\n", &[], &[], "r", limits);
    assert!(o.sets.is_empty());
    assert_eq!(
        o.result,
        Err(RunError::ScanLimit {
            file: 0,
            line: 0,
            max: 3
        })
    );
}

/// Sorting a file's labels counts too (about their bytes times log2 of their number): many long
/// labels with a common prefix cost more than reading the file once.
#[test]
fn sorting_long_labels_counts_against_the_scan_bound() {
    let mut script = Vec::new();
    for i in 0..1000 {
        script.extend_from_slice(b"# ");
        script.extend(std::iter::repeat_n(b'A', 1000));
        script.extend_from_slice(format!("{i}\n").as_bytes());
    }
    let mut limits = Limits::default();
    limits.max_scan_bytes = 2 * script.len() as u64;
    let o = run_with(&script, &[], &[], "r", limits);
    assert_eq!(
        o.result,
        Err(RunError::ScanLimit {
            file: 0,
            line: 0,
            max: limits.max_scan_bytes
        })
    );
    assert!(o.run.scanned() <= limits.max_scan_bytes);
    // With room for the sort (~1 MB of labels x 10), it runs.
    limits.max_scan_bytes = 16 * script.len() as u64;
    let o = run_with(&script, &[], &[], "r", limits);
    assert_eq!(o.result, Ok(()));
}

/// The bound is exact: a run that needs exactly `max_scan_bytes` completes; one byte less stops.
#[test]
fn scan_bound_is_exact() {
    let script = b"SET A 1\nSET B 2\n"; // 16 bytes loaded, 16 bytes stepped
    let mut limits = Limits::default();
    limits.max_scan_bytes = 32;
    let o = run_with(script, &[], &[], "r", limits);
    assert_eq!(o.result, Ok(()));
    assert_eq!(o.run.scanned(), 32);
    limits.max_scan_bytes = 31;
    let o = run_with(script, &[], &[], "r", limits);
    assert_eq!(o.pairs(), [("A", "1")]);
    assert_eq!(
        o.result,
        Err(RunError::ScanLimit {
            file: 0,
            line: 2,
            max: 31
        })
    );
    assert!(o.run.scanned() <= 31);
}

// ---- the class: arbitrary scripts stay within the Limits ----

/// Lines with long tokens and padding: what makes per-step work grow with the input.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let long = |prefix: &'static [u8], suffix: &'static [u8]| {
        (0usize..3000, prop::sample::select(b"Nq x\t".to_vec())).prop_map(move |(n, b)| {
            let mut l = prefix.to_vec();
            l.extend(std::iter::repeat_n(b, n));
            l.extend_from_slice(suffix);
            l
        })
    };
    prop_oneof![
        Just(b"# L1".to_vec()),
        Just(b"# L1".to_vec()),
        Just(b"GOTO L1".to_vec()),
        Just(b"SET A 1".to_vec()),
        Just(b"GET f".to_vec()),
        long(b"GOTO L1", b"x"),
        long(b"IF $", b" SEQ 1 GOTO L1"),
        long(b"IF $M SEQ a GOTO ", b""),
        long(b"GOTO ", b""),
        long(b"# ", b""),
        long(b"SET APPNAME ", b""),
        long(b"  SET X", b""),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
}

fn script() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(line(), 0..10),
        prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\r"]),
        any::<bool>(),
    )
        .prop_map(|(lines, end, bom)| {
            let mut out = if bom {
                b"\xEF\xBB\xBF".to_vec()
            } else {
                Vec::new()
            };
            out.extend(lines.join(end));
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn bytes_read_and_warnings_kept_are_bounded(
        first in script(),
        f in script(),
        serve in any::<bool>(),
        m in prop::sample::select(vec!["a", "b"]),
        max_scan_bytes in 0u64..40_000,
        max_warnings in 0usize..40,
        max_warning_bytes in 0usize..3000,
        max_steps in 1u32..5000,
    ) {
        let mut limits = Limits::default();
        limits.max_scan_bytes = max_scan_bytes;
        limits.max_warnings = max_warnings;
        limits.max_warning_bytes = max_warning_bytes;
        limits.max_steps = max_steps;
        let mut vars = BTreeMap::new();
        vars.insert(b"M".to_vec(), m.as_bytes().to_vec());
        let mut run = Run::new(b"first", first.clone(), b"run.bin", limits);
        // Bytes of the files the run took on, measured here, not by the run.
        let mut loaded = if run.file_name(0).is_some() { first.len() as u64 } else { 0 };
        let mut calls = 0u32;
        loop {
            calls += 1;
            prop_assert!(calls <= max_steps + 2, "run did not end");
            match run.step(&vars) {
                Step::Set(_) => {}
                Step::NeedFile { .. } => {
                    let before = run.handoffs();
                    run.provide_file(serve.then(|| f.clone()));
                    if run.handoffs() > before {
                        loaded += f.len() as u64;
                    }
                }
                Step::Finished(_) => break,
            }
        }
        // Bytes read: the run's own count, and an independent lower bound of what it read
        // (every file it took on, plus at least one byte per line stepped on).
        prop_assert!(run.scanned() <= max_scan_bytes);
        prop_assert!(loaded + u64::from(run.steps()) <= run.scanned());
        // Warnings: count, bytes (summed here), and every name cut.
        prop_assert!(run.warnings().len() <= max_warnings);
        let kept: usize = run.warnings().iter().map(Warning::kept_bytes).sum();
        prop_assert_eq!(kept, run.warning_bytes());
        prop_assert!(kept <= max_warning_bytes);
        for w in run.warnings() {
            if let WarningKind::UnknownVariable(n) | WarningKind::MissingLabel(n) = &w.kind {
                prop_assert!(n.len() <= MAX_SHOWN + 3);
            }
        }
    }
}
