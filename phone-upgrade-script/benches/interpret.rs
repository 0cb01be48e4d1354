//! Interpreting a 1 MB settings file shaped like the vendor template (issue 2: target ≥ 500 MB/s).
//!
//! Two inputs: the vendor template itself when `../../shared/reference` is there, and a synthetic
//! 1 MB file with the template's shape (mostly `##` comment blocks, commented-out `## SET`
//! examples, model labels and a few live SETs and IFs), so the bench runs without it.
//! Run: `cargo bench -p phone-upgrade-script`. divan prints bytes/s.

use std::collections::BTreeMap;

use divan::counter::BytesCount;
use phone_upgrade_script::{Limits, Run, Step};

fn main() {
    divan::main();
}

/// A synthetic settings file of about `size` bytes, CRLF, in the template's proportions.
fn synthetic(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 4096);
    let mut block = 0u32;
    out.extend_from_slice(b"IF $SIG_IN_USE SEQ H323 GOTO SETTINGS96X1H323\r\n");
    // Not this model: the run steps through every line, as the template does for most models.
    out.extend_from_slice(b"IF $MODEL4 SEQ 9641 GOTO SETTINGS9641\r\n");
    while out.len() < size {
        block += 1;
        out.extend_from_slice(b"################### PARAMETER BLOCK #########################\r\n");
        for i in 0..12 {
            out.extend_from_slice(
                format!("## Description line {i} of block {block}: the parameter does this and that.\r\n")
                    .as_bytes(),
            );
        }
        out.extend_from_slice(format!("## SET PARAM{block} \"value {block}\"\r\n").as_bytes());
        out.extend_from_slice(b"##\xcf\xf0\xe8\xec\xe5\xf0 cp1251 comment\r\n\r\n");
        if block.is_multiple_of(10) {
            out.extend_from_slice(format!("SET LIVE{block} {block}\r\n").as_bytes());
        }
        if block.is_multiple_of(50) {
            out.extend_from_slice(
                format!("IF $MODEL4 SEQ 96{block} GOTO SETTINGS9611\r\n").as_bytes(),
            );
        }
    }
    out.extend_from_slice(
        b"# SETTINGS9611\r\nSET SIPDOMAIN example.com\r\n# SETTINGS9641\r\n# SETTINGS96X1H323\r\n",
    );
    out
}

fn template() -> Option<Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/reference/46xxsettings-template-2022.txt"
    );
    std::fs::read(path).ok()
}

/// Run `file` to the end as a 9611 on SIP; returns the number of SETs and lines executed.
fn interpret(file: &[u8]) -> (usize, u32) {
    let mut vars = BTreeMap::new();
    vars.insert(b"MODEL4".to_vec(), b"9611".to_vec());
    vars.insert(b"SIG_IN_USE".to_vec(), b"SIP".to_vec());
    let mut run = Run::new(
        b"46xxsettings.txt",
        file.to_vec(),
        b"app.bin",
        Limits::default(),
    );
    let mut sets = 0;
    loop {
        match run.step(&vars) {
            Step::Set(_) => sets += 1,
            Step::NeedFile { .. } => run.provide_file(None),
            Step::Finished(_) => return (sets, run.steps()),
        }
    }
}

#[divan::bench]
fn synthetic_1mb(bencher: divan::Bencher) {
    let file = synthetic(1_000_000);
    // The run must step through (nearly) every line, or the figure would flatter us.
    let lines = u32::try_from(file.split(|b| *b == b'\n').count()).unwrap_or(u32::MAX);
    assert!(interpret(&file).1 + 10 >= lines);
    bencher
        .counter(BytesCount::of_slice(&file))
        .bench(|| interpret(divan::black_box(&file)));
}

#[divan::bench]
fn vendor_template(bencher: divan::Bencher) {
    let Some(file) = template() else {
        eprintln!("vendor template not found; skipped");
        return;
    };
    bencher
        .counter(BytesCount::of_slice(&file))
        .bench(|| interpret(divan::black_box(&file)));
}

#[divan::bench]
fn parse_only_synthetic_1mb(bencher: divan::Bencher) {
    let file = synthetic(1_000_000);
    bencher.counter(BytesCount::of_slice(&file)).bench(|| {
        phone_upgrade_script::parse(divan::black_box(&file))
            .statements
            .len()
    });
}
