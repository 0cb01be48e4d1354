//! `phone boot` end to end against the lab's real servers (dnsmasq, nginx HTTP+HTTPS,
//! scepserver, two Kamailio): the first boot flashes new firmware, restarts, enrolls a SCEP
//! certificate and registers over TLS with it; the second boot uses INIT-REBOOT, downloads no
//! software and keeps its certificate and credentials; and faults from the matrix.
//! Needs root and the lab packages (`sudo examples/lab/install`); ids `bo1`..`bo9`.

// Tests unwrap what they set up themselves.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::lab::{Lab, LabConfig, Server, secs};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");
const APP: &str = "demo-fw-1.0.bin";

/// A lab with HTTPS + TLS registrars (client certificates required), its docroot filled with
/// an upgrade script naming a signed image, and a settings file for TLS, SCEP and TRUSTCERTS.
struct Rig {
    lab: Lab,
    work: PathBuf,
}

fn rig(id: &str, challenge_ok: bool, verify_client: bool) -> Rig {
    let mut cfg = LabConfig::new(id);
    cfg.sson = Some("HTTPSRVR=@IP1@,TLSSRVR=@IP1@".into());
    cfg.sip_tls_verify_client = verify_client;
    let lab = Lab::up(cfg);
    let work = std::env::temp_dir().join(format!("phone-lab-boot-{id}"));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).unwrap();
    let keys = work.join("keys");
    let out = lab.run_cli(
        &[PHONE, "firmware", "keygen", "--out", keys.to_str().unwrap()],
        secs(20),
    );
    assert!(out.success(), "{}", out.stderr);
    let doc = lab.docroot();
    fs::write(doc.join(APP), b"demo firmware ".repeat(20_000)).unwrap();
    sign(&lab, &keys, &doc.join(APP));
    fs::write(
        doc.join("96x1Supgrade.txt"),
        format!("IF $MODEL4 SEQ 9611 GOTO SW\nGOTO GETSET\n# SW\nSET APPNAME {APP}\n# GETSET\nGET 46xxsettings.txt\n"),
    )
    .unwrap();
    let (ip1, ip2) = (lab.srv_ip1(), lab.srv_ip2());
    let challenge = if challenge_ok {
        lab.scep_challenge().to_string()
    } else {
        "wrong-challenge".to_string()
    };
    fs::write(
        doc.join("46xxsettings.txt"),
        format!(
            "SET SIP_CONTROLLER_LIST \"{ip1}:5061;transport=tls,{ip2}:5061;transport=tls\"\n\
             SET SIPDOMAIN lab.test\nSET MYCERTURL \"{}\"\nSET SCEPPASSWORD \"{challenge}\"\n\
             SET MYCERTKEYLEN 2048\nSET TRUSTCERTS lab-ca.pem\nSET TLSSRVRID 1\n",
            lab.scep_url()
        ),
    )
    .unwrap();
    Rig { lab, work }
}

fn sign(lab: &Lab, keys: &Path, image: &Path) {
    let out = lab.run_cli(
        &[
            PHONE,
            "firmware",
            "sign",
            "--key",
            keys.join("firmware-key.pem").to_str().unwrap(),
            "--app",
            APP,
            image.to_str().unwrap(),
        ],
        secs(20),
    );
    assert!(out.success(), "{}", out.stderr);
}

impl Rig {
    fn boot(&self, extra: &[&str]) -> common::lab::CmdOutput {
        let state = self.work.join("state");
        let ca = self.lab.ca_cert();
        let key = self.work.join("keys").join("firmware-pub.pem");
        let mut args = vec![
            PHONE,
            "boot",
            "--iface",
            self.lab.client_if(),
            "--model",
            "9611G",
            "--mac",
            self.lab.client_mac(),
            "--serial",
            "LAB0001",
            "--state-dir",
            state.to_str().unwrap(),
            "--trust",
            ca.to_str().unwrap(),
            "--firmware-key",
            key.to_str().unwrap(),
            "--until",
            "registered",
        ];
        args.extend_from_slice(extra);
        self.lab.run_cli(&args, secs(150))
    }
}

fn registered_with(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("REGISTERED controller="))
        .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
}

#[test]
fn first_boot_flashes_enrolls_registers_then_second_boot_reuses_all() {
    let rig = rig("bo1", true, true);
    let first = rig.boot(&["--user", "1001", "--password", "1001pass"]);
    let out = &first.stdout;
    assert!(
        first.success(),
        "first boot failed:\n{out}\n{}",
        first.stderr
    );
    // Display order: DHCP, HTTPS files, the image, flash, restart, DHCP again, SCEP, SIP.
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing:\n{out}"))
    };
    assert!(at("| DHCP: 0 secs") < at("| HTTP: 1 https://"));
    assert!(at("| HTTP: 1 https://") < at("| File Obtained; please wait..."));
    assert!(at("| File Obtained; please wait...") < at("| Saving to flash 100%"));
    let after_flash = &out[at("| Saving to flash 100%")..];
    assert!(after_flash.contains("| Initializing"), "no restart:\n{out}");
    assert!(after_flash.contains("| SCEP: 0 secs"));
    assert!(after_flash.contains("CERTIFICATE held"));
    assert!(
        registered_with(out).is_some_and(|c| c.ends_with(":5061")),
        "{out}"
    );
    // The slot now running is the new image.
    let slot_b = fs::read(rig.work.join("state").join("slot-b.bin")).unwrap();
    assert_eq!(slot_b, fs::read(rig.lab.docroot().join(APP)).unwrap());

    // Second boot: nothing given on the command line; INIT-REBOOT (the same address), no
    // download, no enrollment, the stored credentials and certificate (kamailio requires it).
    let second = rig.boot(&[]);
    let out2 = &second.stdout;
    assert!(
        second.success(),
        "second boot failed:\n{out2}\n{}",
        second.stderr
    );
    assert!(!out2.contains(APP), "software downloaded again:\n{out2}");
    assert!(!out2.contains("| SCEP:"), "enrolled again:\n{out2}");
    assert!(!out2.contains("| Extension:"));
    assert!(out2.contains("CERTIFICATE held"));
    assert!(registered_with(out2).is_some());
    // INIT-REBOOT asked for the address of the last lease, and got it.
    let addr = |log: &str| {
        log.lines()
            .filter_map(|l| l.split("address ").nth(1))
            .filter_map(|r| r.split('/').next().map(str::to_string))
            .next_back()
    };
    assert!(addr(&first.stderr).is_some());
    assert_eq!(addr(&first.stderr), addr(&second.stderr));
}

#[test]
fn scep_wrong_challenge_goes_on_without_a_certificate() {
    let rig = rig("bo2", false, false);
    let run = rig.boot(&["--user", "1001", "--password", "1001pass"]);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("CERTIFICATE none"), "{}", run.stdout);
    assert!(registered_with(&run.stdout).is_some());
}

#[test]
fn first_registrar_dead_registers_with_the_second() {
    let rig = rig("bo3", true, true);
    rig.lab.stop(Server::Kam1);
    let run = rig.boot(&["--user", "1001", "--password", "1001pass"]);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        registered_with(&run.stdout),
        Some(format!("{}:5061", rig.lab.srv_ip2()))
    );
}

#[test]
fn no_file_server_on_the_second_boot_uses_the_stored_settings() {
    let rig = rig("bo4", true, true);
    let first = rig.boot(&["--user", "1001", "--password", "1001pass"]);
    assert!(first.success(), "{}\n{}", first.stdout, first.stderr);
    rig.lab.stop(Server::Http);
    let second = rig.boot(&[]);
    assert!(second.success(), "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stderr.contains("stored settings"),
        "{}",
        second.stderr
    );
    assert!(registered_with(&second.stdout).is_some());
}

#[test]
fn bad_firmware_signature_keeps_the_running_image_and_boots_on() {
    let rig = rig("bo5", true, true);
    // Re-sign the image with another key: the phone trusts only the first.
    let other = rig.work.join("other-keys");
    let out = rig.lab.run_cli(
        &[
            PHONE,
            "firmware",
            "keygen",
            "--out",
            other.to_str().unwrap(),
        ],
        secs(20),
    );
    assert!(out.success());
    sign(&rig.lab, &other, &rig.lab.docroot().join(APP));
    let run = rig.boot(&["--user", "1001", "--password", "1001pass"]);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("| Saving to flash"), "{}", run.stdout);
    assert!(run.stderr.contains("rejected"), "{}", run.stderr);
    assert!(registered_with(&run.stdout).is_some());
}

#[test]
fn dhcp_server_starting_late() {
    let rig = rig("bo6", true, false);
    rig.lab.stop(Server::Dhcp);
    let run = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(secs(6));
            rig.lab.start(Server::Dhcp);
        });
        rig.boot(&["--user", "1001", "--password", "1001pass"])
    });
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    // The counter ran while no server answered.
    assert!(run.stdout.contains("| DHCP: 5 secs"), "{}", run.stdout);
    assert!(registered_with(&run.stdout).is_some());
}
