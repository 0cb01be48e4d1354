//! The file stage (`phone files`) against real nginx in the lab (issue 6, "Done when").
//! Needs root and the lab packages (`sudo examples/lab/install`). Lab ids f1–f3.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::lab::{CmdOutput, Dhcp, Lab, LabConfig, Server, secs};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");
const MAC: &str = "02:00:00:00:00:01";

fn lab(id: &str, nginx_extra: Option<&str>) -> Lab {
    let lab = Lab::up(LabConfig {
        dhcp: Dhcp::None,
        sson: None,
        scep: false,
        kam1: false,
        kam2: false,
        nginx_extra: nginx_extra.map(String::from),
        ..LabConfig::new(id)
    });
    lab.client_static_ip(None);
    lab
}

struct Setup {
    dir: PathBuf,
    key_pub: PathBuf,
}

/// Keys, an image signed for 9611G, an upgrade script that names it, a settings file and a
/// per-MAC file in the lab's docroot.
fn setup(lab: &Lab, image_len: usize) -> Setup {
    let dir = std::env::temp_dir().join(format!("lab-files-{}", lab.id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys");
    run_ok(&[PHONE, "firmware", "keygen", "--out", keys.to_str().unwrap()]);
    let www = lab.docroot();
    let image: Vec<u8> = (0..image_len).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(www.join("new.bin"), &image).unwrap();
    let key = keys.join("firmware-key.pem");
    run_ok(&[
        PHONE,
        "firmware",
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--model",
        "9611G",
        www.join("new.bin").to_str().unwrap(),
    ]);
    // Same image signed for another model, and one with a signature by a foreign key.
    std::fs::write(www.join("other.bin"), &image).unwrap();
    run_ok(&[
        PHONE,
        "firmware",
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--model",
        "9608",
        www.join("other.bin").to_str().unwrap(),
    ]);
    let evil = dir.join("evil");
    run_ok(&[PHONE, "firmware", "keygen", "--out", evil.to_str().unwrap()]);
    std::fs::write(www.join("forged.bin"), &image).unwrap();
    run_ok(&[
        PHONE,
        "firmware",
        "sign",
        "--key",
        evil.join("firmware-key.pem").to_str().unwrap(),
        www.join("forged.bin").to_str().unwrap(),
    ]);
    write_script(lab, "new.bin");
    std::fs::write(
        www.join("46xxsettings.txt"),
        "SET SIPDOMAIN lab.test\nGET $MACADDR.txt\n",
    )
    .unwrap();
    std::fs::write(
        www.join("020000000001.txt"),
        format!(
            "SET SIP_CONTROLLER_LIST {}:5061;transport=tls\n",
            lab.srv_ip1()
        ),
    )
    .unwrap();
    Setup {
        key_pub: keys.join("firmware-pub.pem"),
        dir,
    }
}

fn write_script(lab: &Lab, app: &str) {
    let script = format!(
        "IF $MODEL4 SEQ 9611 GOTO SW\nGOTO GETSET\n# SW\nSET APPNAME {app}\n# GETSET\nGET 46xxsettings.txt\n"
    );
    std::fs::write(lab.docroot().join("96x1Supgrade.txt"), script).unwrap();
}

fn run_ok(args: &[&str]) {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn files(lab: &Lab, state: &Path, extra: &[&str]) -> CmdOutput {
    let mut args = vec![
        PHONE,
        "files",
        "--state-dir",
        state.to_str().unwrap(),
        "--model",
        "9611G",
        "--mac",
        MAC,
        "--walk-rounds",
        "1",
        "--timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    lab.run_cli(&args, secs(120))
}

fn stdout(o: &CmdOutput) -> String {
    o.stdout.clone()
}

fn has_line(o: &CmdOutput, line: &str) -> bool {
    o.stdout.lines().any(|l| l == line)
}

/// The slot record in the state directory's one record (`record.bin`, shared with `phone
/// boot`), in its text form (`active: B`, `state: confirmed`, ...).
fn slot_record(state: &Path) -> String {
    let bytes = std::fs::read(state.join("record.bin")).unwrap();
    let record = phone_boot::boot::record::Record::decode(&bytes).unwrap();
    record.slots.unwrap().encode()
}

fn active_slot(state: &Path) -> String {
    let rec = slot_record(state);
    rec.lines()
        .find_map(|l| l.strip_prefix("active: "))
        .unwrap()
        .to_string()
}

#[test]
fn https_trust_fallback_auth_failover_and_firmware_checks() {
    let lab = lab("f1", None);
    let s = setup(&lab, 200_000);
    let ip = lab.srv_ip1().to_string();
    let ca = lab.ca_cert();
    let tls = format!("TLSSRVR={ip}");
    let http = format!("HTTPSRVR={ip}");
    let key = s.key_pub.to_str().unwrap();

    // HTTPS with the lab CA trusted: every file over HTTPS, the image over HTTP, installed.
    let st = s.dir.join("state-trusted");
    let o = files(
        &lab,
        &st,
        &[
            "--set",
            &tls,
            "--set",
            &http,
            "--trust",
            ca.to_str().unwrap(),
            "--firmware-key",
            key,
        ],
    );
    assert!(o.success(), "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains(&format!("HTTP: 1 https://{ip}:443/96x1Supgrade.txt")),
        "{}",
        stdout(&o)
    );
    assert!(
        o.stdout
            .contains(&format!("HTTP: 3 https://{ip}:443/020000000001.txt"))
    );
    assert!(o.stdout.contains(&format!("http://{ip}:80/new.bin")));
    assert!(has_line(&o, &format!("TLSUSED={ip}")));
    assert!(has_line(&o, "SIPDOMAIN=lab.test"));
    assert!(
        has_line(&o, "SOFTWARE=installed new.bin slot=B"),
        "{}",
        stdout(&o)
    );
    assert!(o.stdout.contains("File Obtained; please wait... 0 secs"));
    assert!(o.stdout.contains("Saving to flash 100%"));
    assert_eq!(active_slot(&st), "B");
    // The second run with the same state directory downloads no software.
    let o = files(&lab, &st, &["--set", &tls, "--set", &http]);
    assert!(o.success(), "{}", o.stderr);
    assert!(o.stdout.contains("boot: slot B new.bin"), "{}", stdout(&o));
    assert!(has_line(&o, "SOFTWARE=unchanged"));
    assert!(!o.stdout.contains("/new.bin"), "{}", stdout(&o));
    let rec = slot_record(&st);
    assert!(rec.contains("state: confirmed"), "{rec}");

    // The lab CA untrusted: HTTPS fails, HTTP is used.
    let su = s.dir.join("state-untrusted");
    let o = files(
        &lab,
        &su,
        &["--set", &tls, "--set", &http, "--firmware-key", key],
    );
    assert!(o.success(), "{}", o.stderr);
    assert!(
        o.stdout
            .contains(&format!("HTTP: 2 http://{ip}:80/96x1Supgrade.txt")),
        "{}",
        stdout(&o)
    );
    assert!(has_line(&o, &format!("HTTPUSED={ip}")));
    assert!(has_line(&o, "TLSUSED=0.0.0.0"));
    // ... and with AUTH=1 the phone refuses HTTP: no server, stored settings, non-zero exit.
    let sa = s.dir.join("state-auth");
    let o = files(
        &lab,
        &sa,
        &["--set", &tls, "--set", &http, "--set", "AUTH=1"],
    );
    assert!(!o.success());
    assert!(
        o.stderr.contains("no file server could be used"),
        "{}",
        o.stderr
    );
    assert!(!o.stdout.contains("http://"), "{}", stdout(&o));

    // The first server down: the second answers.
    let sd = s.dir.join("state-down");
    let two = format!("HTTPSRVR={}.9,{ip}", lab.net());
    let o = files(&lab, &sd, &["--set", &two]);
    assert!(o.success(), "{}", o.stderr);
    assert!(o.stdout.contains(&format!(
        "HTTP: 1 http://{}.9:80/96x1Supgrade.txt",
        lab.net()
    )));
    assert!(
        o.stdout
            .contains(&format!("HTTP: 2 http://{ip}:80/96x1Supgrade.txt"))
    );
    assert!(has_line(&o, &format!("HTTPUSED={ip}")));

    // Another model's image, and a forged signature: refused, never downloaded, slot stays.
    for (app, reason) in [
        ("other.bin", "image is not for model 9611G"),
        ("forged.bin", "signed with an untrusted key"),
    ] {
        write_script(&lab, app);
        let sr = s.dir.join(format!("state-{app}"));
        let o = files(&lab, &sr, &["--set", &http, "--firmware-key", key]);
        assert!(o.success(), "{}", o.stderr);
        assert!(
            has_line(&o, &format!("SOFTWARE=rejected {app}: {reason}")),
            "{}",
            stdout(&o)
        );
        assert!(
            !o.stdout.contains(&format!("http://{ip}:80/{app}\n")),
            "{}",
            stdout(&o)
        );
        assert_eq!(active_slot(&sr), "A");
    }
}

#[test]
fn download_cut_by_stopping_the_server_is_retried() {
    // A throttled copy of the docroot: 40 KB/s, so the download is still running when nginx stops.
    let lab = lab(
        "f2",
        Some("location /throttled/ { limit_rate 40k; rewrite ^/throttled/(.*)$ /$1 break; }"),
    );
    let s = setup(&lab, 400_000);
    let ip = lab.srv_ip1().to_string();
    let state = s.dir.join("state");
    let mut child = lab
        .cli(PHONE)
        .args([
            "files",
            "--state-dir",
            state.to_str().unwrap(),
            "--model",
            "9611G",
            "--mac",
            MAC,
        ])
        .args([
            "--set",
            &format!("HTTPSRVR={ip}"),
            "--set",
            "HTTPDIR=throttled",
            "--firmware-key",
            s.key_pub.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    lab.stop(Server::Http);
    std::thread::sleep(Duration::from_secs(1));
    lab.start(Server::Http);
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "phone files did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l == "SOFTWARE=installed new.bin slot=B"),
        "{stdout}\n{stderr}"
    );
    // The cut download was seen and retried; the slot holds exactly the signed image.
    assert!(stderr.contains("new.bin (attempt 1)"), "{stderr}");
    assert_eq!(
        std::fs::read(state.join("slot-b.bin")).unwrap(),
        std::fs::read(lab.docroot().join("new.bin")).unwrap()
    );
}

#[test]
fn sigkill_during_flash_write_keeps_the_old_slot_and_the_next_run_completes() {
    let lab = lab("f3", None);
    let s = setup(&lab, 600_000);
    let ip = lab.srv_ip1().to_string();
    let state = s.dir.join("state");
    let http = format!("HTTPSRVR={ip}");
    // A slow flash (16 KiB chunks, 150 ms each: about 6 s of writing).
    let mut child = lab
        .cli(PHONE)
        .args([
            "files",
            "--state-dir",
            state.to_str().unwrap(),
            "--model",
            "9611G",
            "--mac",
            MAC,
        ])
        .args([
            "--set",
            &http,
            "--firmware-key",
            s.key_pub.to_str().unwrap(),
        ])
        .args(["--flash-chunk", "16384", "--flash-ms-per-chunk", "150"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The image is written to slot-b.bin.part, renamed over slot-b.bin at the commit.
    let slot_b = state.join("slot-b.bin");
    let part_b = state.join("slot-b.bin.part");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&part_b).map(|m| m.len()).unwrap_or(0) < 100_000 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "phone files ended before the flash write"
        );
        assert!(Instant::now() < deadline, "flash write never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        std::fs::metadata(&part_b).unwrap().len() < 600_000,
        "killed too late"
    );
    assert!(
        !slot_b.exists(),
        "the slot is not replaced before the commit"
    );
    assert_eq!(
        active_slot(&state),
        "A",
        "the half-written slot must not be active"
    );

    let o = files(&lab, &state, &["--set", &http]);
    assert!(o.success(), "{}", o.stderr);
    assert!(
        o.stdout.contains("boot: slot A factory.bin"),
        "{}",
        o.stdout
    );
    assert!(
        has_line(&o, "SOFTWARE=installed new.bin slot=B"),
        "{}",
        o.stdout
    );
    assert_eq!(active_slot(&state), "B");
    assert_eq!(
        std::fs::read(&slot_b).unwrap(),
        std::fs::read(lab.docroot().join("new.bin")).unwrap()
    );
}
