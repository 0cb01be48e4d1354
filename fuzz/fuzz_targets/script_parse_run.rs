//! Parse and run arbitrary bytes with an arbitrary file provider; the run must end within its
//! bounds (Decision 5) and never panic. Printing what parsed must read back the same.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use phone_upgrade_script::{Limits, Run, Step, parse};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    script: &'a [u8],
    /// Answers to successive GETs: `Some` = obtained with these bytes, `None` = not obtained.
    files: Vec<Option<&'a [u8]>>,
    max_steps: u16,
    max_handoffs: u8,
    model: &'a [u8],
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };

    let parsed = parse(input.script);
    if let Ok(bytes) = parsed.to_bytes() {
        assert_eq!(parse(&bytes).statements, parsed.statements);
    }

    let mut limits = Limits::default();
    limits.max_steps = u32::from(input.max_steps) + 1;
    limits.max_handoffs = input.max_handoffs % 10;
    let mut vars = BTreeMap::new();
    vars.insert(b"MODEL4".to_vec(), input.model.to_vec());
    vars.insert(b"MACADDR".to_vec(), b"00:11:22:33:44:55".to_vec());

    let mut run = Run::new(b"fuzz.txt", input.script.to_vec(), b"app.bin", limits);
    let mut files = input.files.iter().cycle();
    let mut calls = 0u32;
    loop {
        calls += 1;
        assert!(calls <= limits.max_steps + 2, "run did not end");
        match run.step(&vars) {
            Step::Set(_) => {}
            Step::NeedFile { .. } => {
                let file = files.next().copied().flatten().map(<[u8]>::to_vec);
                run.provide_file(file);
            }
            Step::Finished(_) => break,
        }
    }
    assert!(run.steps() <= limits.max_steps);
    assert!(run.handoffs() <= limits.max_handoffs);
});
