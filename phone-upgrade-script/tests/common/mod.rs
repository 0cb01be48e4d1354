//! Shared helper: run a script chain against in-memory files and variables.
#![allow(dead_code)]

use std::collections::BTreeMap;

use phone_upgrade_script::{Limits, Run, RunError, Step, Warning};

/// Everything a run did, in a form tests can compare.
pub struct Outcome {
    /// SETs in order: (name, value, file index, line).
    pub sets: Vec<(String, String, u8, u32)>,
    /// GET requests in order (after `$MACADDR` expansion), obtained or not.
    pub gets: Vec<String>,
    /// How the run ended.
    pub result: Result<(), RunError>,
    /// Runtime warnings.
    pub warnings: Vec<Warning>,
    /// The finished run.
    pub run: Run,
}

impl Outcome {
    /// The last value SET for `name` (case-insensitive), like a store would hold it.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.sets
            .iter()
            .rev()
            .find(|s| s.0.eq_ignore_ascii_case(name))
            .map(|s| s.1.as_str())
    }

    /// Just (name, value) pairs.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.sets
            .iter()
            .map(|s| (s.0.as_str(), s.1.as_str()))
            .collect()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run `script` with `vars` (name upper case without `$`) and `files` served by name.
pub fn run_with(
    script: &[u8],
    vars: &[(&str, &str)],
    files: &[(&str, &[u8])],
    running_app: &str,
    limits: Limits,
) -> Outcome {
    let vars: BTreeMap<Vec<u8>, Vec<u8>> = vars
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    let mut run = Run::new(
        b"first.txt",
        script.to_vec(),
        running_app.as_bytes(),
        limits,
    );
    let mut sets = Vec::new();
    let mut gets = Vec::new();
    let mut guard = 0u32;
    let result = loop {
        guard += 1;
        assert!(guard < 5_000_000, "run did not end");
        match run.step(&vars) {
            Step::Set(s) => sets.push((text(s.name), text(s.value), s.file, s.line)),
            Step::NeedFile { name, .. } => {
                let name = text(name);
                let body = files
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, b)| b.to_vec());
                gets.push(name);
                run.provide_file(body);
            }
            Step::Finished(r) => break r,
        }
    };
    Outcome {
        sets,
        gets,
        result,
        warnings: run.warnings().to_vec(),
        run,
    }
}

/// [`run_with`] with default limits and running application `running.bin`.
pub fn run(script: &[u8], vars: &[(&str, &str)], files: &[(&str, &[u8])]) -> Outcome {
    run_with(script, vars, files, "running.bin", Limits::default())
}

/// A file of the vendor reference tree (`../shared/reference`, beside the repository in
/// development and CI). Missing is a test failure, not a skip: a test that cannot fail is a defect.
#[allow(dead_code)] // not every test binary that includes this module reads vendor files
pub fn vendor_file(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the reference tree ../shared must sit beside the repository",
            path.display()
        )
    })
}
