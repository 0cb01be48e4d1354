//! `phone settings eval|lint` end to end: the built binary on fixture files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/script")
}

fn phone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phone"))
        .args(["settings"])
        .args(args)
        .output()
        .expect("run phone")
}

fn fx(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn eval_follows_the_chain_with_httpdir_and_macaddr() {
    let o = phone(&[
        "eval",
        "--var",
        "MODEL4=9611",
        "--var",
        "MACADDR=00:1B:4F:AA:BB:CC",
        "--sson",
        "HTTPPORT=81,L2QVLAN=7",
        &fx("web/upgrade.txt"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // 46xxsettings.txt is read from <root>/phones/ because the upgrade script SET HTTPDIR;
    // it hands over to 001b4faabbcc.txt (second hand-off). The file values outrank the SSON.
    assert_eq!(
        stdout(&o),
        "APPNAME=S96x1_SALBR7_1_4_0r11_V4r83.tar\n\
         HTTPDIR=phones\n\
         HTTPPORT=8080\n\
         L2QVLAN=20\n\
         PHONEKEY=Line 1\n\
         RFSNAME=S96x1_UKR_V41r3618_V41r3618.tar\n\
         SIPDOMAIN=example.com\n"
    );
    let err = stderr(&o);
    // The invalid L2QVLAN of 46xxsettings.txt line 2 is a warning with file:line.
    assert!(
        err.contains("46xxsettings.txt:2: warning: L2QVLAN ignored"),
        "{err}"
    );
}

#[test]
fn eval_missing_file_is_not_obtained() {
    let o = phone(&["eval", "--var", "MODEL4=9611", &fx("web/upgrade.txt")]);
    // Without MACADDR the GET $MACADDR.txt is not found: the run goes on after it.
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("AFTER_MISSING=1\n"), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("GET $MACADDR.txt: not obtained"), "{err}");
    assert!(err.contains("MACADDR is unknown"), "{err}");
}

#[test]
fn eval_json() {
    let o = phone(&[
        "eval",
        "--json",
        "--var",
        "MODEL4=9608",
        &fx("web/upgrade.txt"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["HTTPDIR"], "phones");
    assert_eq!(v["SIPDOMAIN"], "example.com");
    assert!(v.get("APPNAME").is_none(), "9608 branch sets no APPNAME");
}

#[test]
fn eval_sson_sig_is_visible_to_if() {
    let o = phone(&["eval", "--sson", "SIG=1", &fx("sig.txt")]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("H323SIDE=1\n"), "{}", stdout(&o));
    let o = phone(&["eval", &fx("sig.txt")]);
    assert!(stdout(&o).contains("SIPSIDE=1\n"), "{}", stdout(&o));
}

#[test]
fn eval_step_limit_exits_1_and_keeps_values() {
    let o = phone(&["eval", &fx("loop.txt")]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "A=1\n");
    assert!(stderr(&o).contains("loop.txt:3: error: "), "{}", stderr(&o));
}

#[test]
fn eval_get_chain_too_deep_exits_1() {
    let o = phone(&["eval", &fx("self.txt")]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "N=1\n");
    assert!(stderr(&o).contains("GET chain too deep"), "{}", stderr(&o));
}

#[test]
fn eval_bad_usage_exits_2() {
    assert_eq!(phone(&["eval"]).status.code(), Some(2));
    assert_eq!(
        phone(&["eval", "--var", "NOEQUALS", &fx("sig.txt")])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        phone(&["eval", &fx("does-not-exist.txt")]).status.code(),
        Some(2)
    );
    assert_eq!(phone(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn lint_reports_each_kind_with_file_and_line() {
    let o = phone(&["lint", &fx("bad.txt")]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let f = fx("bad.txt");
    for (line, needle) in [
        (
            2,
            "warning: unknown parameter HTTPSRVER (did you mean HTTPSRVR?)",
        ),
        (3, "error: invalid value `5000` for L2QVLAN"),
        (4, "warning: line starts with whitespace"),
        (5, "warning: text after the statement is ignored"),
        (6, "warning: unterminated quote"),
        (7, "error: IF operator is not SEQ"),
        (8, "warning: IF on unknown variable `$FOO`"),
        (9, "error: IF line is not"),
        (10, "error: GOTO to missing label `NOWHERE`"),
        (11, "warning: unreachable statement"),
        (
            13,
            "warning: label `X` defined again; the one on line 12 counts",
        ),
        (
            14,
            "warning: label `y` matches the label on line 15 only when case is ignored",
        ),
        (
            16,
            "error: GET `bad.txt` leads back to a file already in the chain",
        ),
    ] {
        let want = format!("{f}:{line}: {needle}");
        assert!(out.contains(&want), "missing `{want}` in\n{out}");
    }
}

#[test]
fn lint_clean_files_exit_0() {
    let o = phone(&["lint", &fx("web/upgrade.txt"), &fx("sig.txt")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn lint_vendor_template_has_no_errors() {
    let template = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/46xxsettings-template-2022.txt");
    assert!(
        template.exists(),
        "{}: the reference tree ../shared must sit beside the repository",
        template.display()
    );
    let o = phone(&["lint", &template.display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stderr(&o).starts_with("0 error(s)"), "{}", stderr(&o));
}

#[test]
fn lint_demo_files_are_clean() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let files: Vec<String> = ["96x1Supgrade.txt", "46xxsettings.txt", "001b4faabbcc.txt"]
        .iter()
        .map(|f| demo.join(f).display().to_string())
        .collect();
    let args: Vec<&str> = std::iter::once("lint")
        .chain(files.iter().map(String::as_str))
        .collect();
    let o = phone(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o), "", "demo files lint without warnings");
}

#[test]
fn demo_eval() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let o = phone(&[
        "eval",
        "--root",
        &demo.display().to_string(),
        "--var",
        "MODEL4=9611",
        "--var",
        "HWVERS=3",
        "--var",
        "MACADDR=00:1b:4f:aa:bb:cc",
        "--var",
        "SIG_IN_USE=SIP",
        &demo.join("96x1Supgrade.txt").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        "APPNAME=S9608_11_SALKRR7_1_4_0r11.bin\n",
        "BRURI=http://10.0.0.5/background.jpg\n",
        "FORCE_SIP_EXTENSION=2001\n",
        "L2QVLAN=20\n",
        "SIPDOMAIN=example.com\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains("RFSNAME"), "HWVERS 3 gets no RFS");
}
