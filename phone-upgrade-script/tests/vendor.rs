//! The vendor upgrade scripts (read from `../shared/reference`, the project's reference tree that
//! sits beside the repository in development and in CI; not copied into the repository), run on
//! every model branch: which SETs happen and
//! whether `GET 46xxsettings.txt` is reached. Expected values are read off the scripts by hand
//! (spec/files.md §8 describes the same branches).

mod common;

use common::{run, run_with};
use phone_upgrade_script::{Limits, SoftwareNames, decide};

use std::sync::LazyLock;

static S96X1: LazyLock<Vec<u8>> = LazyLock::new(|| common::vendor_file("96x1Supgrade.txt"));
static S96XX: LazyLock<Vec<u8>> = LazyLock::new(|| common::vendor_file("96xxupgrade.txt"));

const TAR: &str = "S96x1_SALBR7_1_4_0r11_V4r83.tar";
const RFS: &str = "S96x1_UKR_V41r3618_V41r3618.tar";
const GB: &str = "S9608_11_SALKRR7_1_4_0r11.bin";
const SETTINGS: &[(&str, &[u8])] = &[("46xxsettings.txt", b"SET SIPDOMAIN example.com\n")];

#[test]
fn fixtures_keep_their_line_ends() {
    assert!(!S96X1.contains(&b'\r'), "96x1Supgrade.txt is LF");
    assert!(
        S96XX.windows(2).any(|w| w == b"\r\n"),
        "96xxupgrade.txt is CRLF"
    );
}

// ---------------- 96x1Supgrade.txt (R7.1.4) ----------------

fn run_96x1(vars: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<String>) {
    let o = run(&S96X1, vars, SETTINGS);
    assert!(o.result.is_ok());
    let sets = o
        .pairs()
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    (sets, o.gets)
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn s96x1_every_model_branch() {
    let tar_pair = pairs(&[
        ("APPNAME", TAR),
        ("RFSNAME", RFS),
        ("SIPDOMAIN", "example.com"),
    ]);
    let gb = pairs(&[("APPNAME", GB), ("SIPDOMAIN", "example.com")]);
    let none = pairs(&[("SIPDOMAIN", "example.com")]);
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a Vec<(String, String)>);
    let cases: &[Case<'_>] = &[
        (&[("MODEL4", "9601")], &tar_pair),
        (&[("MODEL4", "9608")], &tar_pair), // HWVERS unknown: the IF is a no-op
        (&[("MODEL4", "9608"), ("HWVERS", "2")], &tar_pair),
        (&[("MODEL4", "9608"), ("HWVERS", "3")], &gb),
        (&[("MODEL4", "9611"), ("HWVERS", "1")], &tar_pair),
        (&[("MODEL4", "9611"), ("HWVERS", "3")], &gb),
        (&[("MODEL4", "9621"), ("HWVERS", "3")], &tar_pair),
        (&[("MODEL4", "9641")], &tar_pair),
        (&[("MODEL4", "9620")], &none), // a 96x0 model falls to GOTO GETSET
        (&[("MODEL4", "J129")], &none),
        (&[], &none), // MODEL4 unknown: every IF is a no-op
    ];
    for (vars, want) in cases {
        let (sets, gets) = run_96x1(vars);
        assert_eq!(&sets, *want, "vars {vars:?}");
        assert_eq!(gets, ["46xxsettings.txt"], "vars {vars:?}");
    }
}

#[test]
fn s96x1_sets_come_from_the_right_lines() {
    let o = run(&S96X1, &[("MODEL4", "9611"), ("HWVERS", "3")], SETTINGS);
    // `SET APPNAME S9608_11_…` of the 9611GBSW branch is line 31; the settings SET is file 1 line 1.
    assert_eq!(o.sets[0].2, 0);
    assert_eq!(o.sets[0].3, 31);
    assert_eq!((o.sets[1].2, o.sets[1].3), (1, 1));
}

#[test]
fn s96x1_software_decision() {
    // A 9611G (HWVERS 3) running the tar image: fetch the .bin, no RFS.
    let o = run_with(
        &S96X1,
        &[("MODEL4", "9611"), ("HWVERS", "3")],
        SETTINGS,
        TAR,
        Limits::default(),
    );
    let f = decide(
        SoftwareNames {
            app: o.run.appname(),
            rfs: o.run.rfsname().unwrap_or_default(),
        },
        SoftwareNames {
            app: TAR.as_bytes(),
            rfs: RFS.as_bytes(),
        },
    );
    assert_eq!(f.app.as_deref(), Some(GB.as_bytes()));
    assert_eq!(f.rfs, None);

    // A 9641 already on R7.1.4: nothing to fetch.
    let o = run_with(
        &S96X1,
        &[("MODEL4", "9641")],
        SETTINGS,
        TAR,
        Limits::default(),
    );
    let f = decide(
        SoftwareNames {
            app: o.run.appname(),
            rfs: o.run.rfsname().unwrap_or_default(),
        },
        SoftwareNames {
            app: TAR.as_bytes(),
            rfs: RFS.as_bytes(),
        },
    );
    assert!(f.is_empty());

    // A 9621 on an older RFS: fetch the RFS only.
    let f = decide(
        SoftwareNames {
            app: o.run.appname(),
            rfs: o.run.rfsname().unwrap_or_default(),
        },
        SoftwareNames {
            app: TAR.as_bytes(),
            rfs: b"S96x1_UKR_V40.tar",
        },
    );
    assert_eq!(f.app, None);
    assert_eq!(f.rfs.as_deref(), Some(RFS.as_bytes()));
}

// ---------------- 96xxupgrade.txt (R2.6.17) ----------------

const BOOT: &str = "hb96xxua3_00.bin";
const BOOT256: &str = "hb96xxua3_00_SHA256.bin";
const APP17: &str = "SIP96xx_2_6_17_0.bin";
const APP17_256: &str = "SIP96xx_2_6_17_0_SHA256.bin";
const APP12: &str = "SIP96xx_2_6_12_1.bin";

/// (model, sha2, bootname, running app) → (APPNAME set by the script or None, settings fetched?)
fn run_96xx(
    model: &str,
    sha2: &str,
    bootname: &str,
    running: &str,
) -> (Option<String>, bool, String) {
    let model4 = &model[..4];
    let vars = [
        ("SIG", "2"),
        ("MODEL", model),
        ("MODEL4", model4),
        ("SHA2CAPABLE", sha2),
        ("BOOTNAME", bootname),
    ];
    let o = run_with(&S96XX, &vars, SETTINGS, running, Limits::default());
    assert!(o.result.is_ok());
    let app = o
        .sets
        .iter()
        .find(|s| s.0 == "APPNAME")
        .map(|s| s.1.clone());
    let got_settings = o.gets == ["46xxsettings.txt"];
    assert_eq!(got_settings, o.value("SIPDOMAIN") == Some("example.com"));
    (
        app,
        got_settings,
        String::from_utf8_lossy(o.run.appname()).into_owned(),
    )
}

#[test]
fn s96xx_sig_h323_skips_everything() {
    let o = run(&S96XX, &[("SIG", "1"), ("MODEL4", "9640")], SETTINGS);
    assert_eq!(o.pairs(), [("SIPDOMAIN", "example.com")]);
    assert_eq!(o.gets, ["46xxsettings.txt"]);
}

#[test]
fn s96xx_9610_is_skipped() {
    let (app, got, _) = run_96xx("9610D01A", "0", BOOT, "x");
    assert_eq!((app, got), (None, true));
}

#[test]
fn s96xx_sha1_models() {
    let current = [
        "9620D02L",
        "9620D03C",
        "9630GD01A",
        "9640D01A",
        "9640GD01A",
        "9650D01A",
    ];
    for model in current {
        // Old boot image: the backup image comes first.
        let (app, got, _) = run_96xx(model, "0", "hb96xxua2_00.bin", "x");
        assert_eq!((app.as_deref(), got), (Some(BOOT), true), "{model}");
        // Boot image current (either signature): the 2.6.17 application.
        for boot in [BOOT, BOOT256] {
            let (app, got, _) = run_96xx(model, "0", boot, "x");
            assert_eq!((app.as_deref(), got), (Some(APP17), true), "{model} {boot}");
        }
    }
    // End-of-manufacture-support models stay on 2.6.12, and only the SHA-1 boot image counts.
    for model in ["9620D01A", "9630D01A"] {
        let (app, got, _) = run_96xx(model, "0", BOOT, "x");
        assert_eq!((app.as_deref(), got), (Some(APP12), true), "{model}");
        let (app, got, _) = run_96xx(model, "0", BOOT256, "x");
        assert_eq!((app.as_deref(), got), (Some(BOOT), true), "{model}");
    }
}

#[test]
fn s96xx_sha1_unknown_model_ends_without_settings() {
    // `goto END` where `# END` is the last line: the GET is never reached (edge case 28).
    let (app, got, _) = run_96xx("9620X99Z", "0", BOOT, "x");
    assert_eq!((app, got), (None, false));
}

#[test]
fn s96xx_sha2_models() {
    for model in ["9620D02L", "9620D03C", "9630GD01A", "9640D01A", "9650D01A"] {
        let (app, got, _) = run_96xx(model, "1", "hb96xxua2_00.bin", "x");
        assert_eq!((app.as_deref(), got), (Some(BOOT256), true), "{model}");
        for boot in [BOOT, BOOT256] {
            // Running something else: the SHA-256 application.
            let (app, got, now) = run_96xx(model, "1", boot, "SIP96xx_2_6_14_0.bin");
            assert_eq!((app.as_deref(), got), (Some(APP17_256), true), "{model}");
            assert_eq!(
                now, APP17_256,
                "the trailing space of line 100 is not in the value"
            );
            // Already running 2.6.17 (either signature): APPNAME is left alone (Decision 10).
            for running in [APP17, APP17_256] {
                let (app, got, now) = run_96xx(model, "1", boot, running);
                assert_eq!((app, got), (None, true), "{model} {running}");
                assert_eq!(now, running);
            }
        }
    }
    // The EOMS models have no SHA-2 branch: END, no settings.
    for model in ["9620D01A", "9630D01A"] {
        let (app, got, _) = run_96xx(model, "1", BOOT, "x");
        assert_eq!((app, got), (None, false), "{model}");
    }
}

#[test]
fn s96xx_software_decision_matches_running_app() {
    // Already on 2.6.17: the run leaves APPNAME = running app, so nothing is fetched.
    let (_, _, now) = run_96xx("9640D01A", "1", BOOT, APP17);
    let f = decide(
        SoftwareNames {
            app: now.as_bytes(),
            rfs: b"",
        },
        SoftwareNames {
            app: APP17.as_bytes(),
            rfs: b"",
        },
    );
    assert!(f.is_empty());
    // Old boot image: the boot image is fetched first.
    let (_, _, now) = run_96xx("9640D01A", "1", "old.bin", APP17);
    let f = decide(
        SoftwareNames {
            app: now.as_bytes(),
            rfs: b"",
        },
        SoftwareNames {
            app: APP17.as_bytes(),
            rfs: b"",
        },
    );
    assert_eq!(f.app.as_deref(), Some(BOOT256.as_bytes()));
}
