//! `phone boot` end to end against the lab's real servers (dnsmasq, nginx HTTP+HTTPS,
//! scepserver, two Kamailio): the first boot flashes new firmware, restarts, enrolls a SCEP
//! certificate and registers over TLS with it; the second boot uses INIT-REBOOT, downloads no
//! software and keeps its certificate and credentials; and faults from the issue's matrix.
//! Needs root and the lab packages (`sudo examples/lab/install`); ids `bo1`..`bo9`, `bp1`..`bp9`,
//! `bq1`..`bq9`.

// Tests unwrap what they set up themselves.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::lab::{Lab, LabConfig, Server, ServerCert, StaticHost, secs};

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
    rig_with(cfg, challenge_ok)
}

fn rig_with(cfg: LabConfig, challenge_ok: bool) -> Rig {
    let id = cfg.id.clone();
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
        let args = self.boot_args(extra, true);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.lab.run_cli(&args, secs(150))
    }

    /// `phone boot` with the rig's state directory and firmware key (`trust`: the lab CA
    /// preinstalled), `--until registered`, then `extra`.
    fn boot_args(&self, extra: &[&str], trust: bool) -> Vec<String> {
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
            "--firmware-key",
            key.to_str().unwrap(),
            "--until",
            "registered",
        ];
        if trust {
            args.extend_from_slice(&["--trust", ca.to_str().unwrap()]);
        }
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect()
    }

    /// `phone boot` (trusting the lab CA) running in the background, its stdin a pipe.
    fn spawn(&self, extra: &[&str]) -> Live {
        let args = self.boot_args(extra, true);
        let mut child = self
            .lab
            .cli(&args[0])
            .args(&args[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pump = |r: Box<dyn Read + Send>| {
            let buf = Arc::new(Mutex::new(String::new()));
            let b = buf.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines() {
                    let Ok(line) = line else { return };
                    let mut b = b.lock().unwrap();
                    b.push_str(&line);
                    b.push('\n');
                }
            });
            buf
        };
        let stdout = pump(Box::new(child.stdout.take().unwrap()));
        let stderr = pump(Box::new(child.stderr.take().unwrap()));
        Live {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }

    fn state(&self) -> PathBuf {
        self.work.join("state")
    }

    fn access_log(&self) -> String {
        fs::read_to_string(self.lab.state_dir().join("logs").join("nginx-access.log"))
            .unwrap_or_default()
    }
}

/// A `phone boot` running in the background, its output collected line by line.
struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Live {
    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (at most `timeout`) until `cond` holds for the output so far.
    fn wait_for(&mut self, timeout: Duration, cond: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond(&self.stdout()) {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "phone boot ended early:\n{}\n{}",
                self.stdout(),
                self.stderr()
            );
            assert!(
                Instant::now() < deadline,
                "timed out:\n{}\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types one line at the keyboard.
    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the exit (at most `timeout`, then SIGKILL) and a moment for the pipes.
    fn finish(mut self, timeout: Duration) -> (Option<ExitStatus>, String, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break Some(st);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(300));
        (status, self.stdout(), self.stderr())
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

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn https_untrusted_auth0_falls_back_to_http_auth1_refuses() {
    let rig = rig("bo7", true, false);
    let ip = rig.lab.srv_ip1();
    let creds = ["--user", "1001", "--password", "1001pass"];
    // AUTH=0 (the default), the lab CA not preinstalled: HTTPS fails on the unknown issuer,
    // every file comes over HTTP (TRUSTCERTS brings the CA for the TLS registrar), the image
    // is flashed, and the phone registers.
    let mut args = rig.boot_args(&creds, false);
    let run = {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        rig.lab.run_cli(&a, secs(150))
    };
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    let https = out
        .find(&format!("| HTTP: 1 https://{ip}:443/96x1Supgrade.txt"))
        .unwrap_or_else(|| panic!("{out}"));
    let http = out
        .find(&format!("| HTTP: 2 http://{ip}:80/96x1Supgrade.txt"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(https < http, "{out}");
    assert!(
        out.contains(&format!("http://{ip}:80/46xxsettings.txt")),
        "{out}"
    );
    assert!(run.stderr.contains("UnknownIssuer"), "{}", run.stderr);
    assert!(out.contains("| Saving to flash 100%"), "{out}");
    assert!(registered_with(out).is_some(), "{out}");
    let log = rig.access_log();
    assert!(log.contains("GET /46xxsettings.txt"), "{log}");

    // AUTH=1: a fresh phone trusting the lab CA gets the settings over HTTPS, and they set
    // the AUTH lock (kept across reboots).
    fs::remove_dir_all(rig.state()).unwrap();
    let settings = rig.lab.docroot().join("46xxsettings.txt");
    let mut text = fs::read_to_string(&settings).unwrap();
    text.push_str("SET AUTH 1\n");
    fs::write(&settings, text).unwrap();
    let run = rig.boot(&creds);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(registered_with(&run.stdout).is_some(), "{}", run.stdout);
    // Now HTTPS becomes untrusted: nginx restarts with the lab's self-signed certificate
    // (the lab's `start` reads its config, lab.json, again; the registrars keep theirs).
    let conf = rig.lab.state_dir().join("lab.json");
    let json = fs::read_to_string(&conf).unwrap();
    let (a, b) = (
        r#""server_cert": "server""#,
        r#""server_cert": "untrusted""#,
    );
    assert!(json.contains(a), "{json}");
    fs::write(&conf, json.replace(a, b)).unwrap();
    rig.lab.stop(Server::Http);
    rig.lab.start(Server::Http);
    let served_before = rig.access_log().lines().count();
    // The locked phone refuses HTTP: no file at all is fetched. Decision 4: no server
    // answered, so the phone goes on with the settings of its last good boot and registers.
    args = rig.boot_args(&[], true);
    let run = {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        rig.lab.run_cli(&a, secs(150))
    };
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains(&format!("| HTTP: 1 https://{ip}:443/96x1Supgrade.txt")),
        "{out}"
    );
    assert!(!out.contains("http://"), "HTTP used with AUTH=1:\n{out}");
    assert!(
        run.stderr.contains("invalid peer certificate"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("stored settings"), "{}", run.stderr);
    assert_eq!(
        rig.access_log().lines().count(),
        served_before,
        "a file was served with AUTH=1"
    );
    assert!(registered_with(out).is_some(), "{out}");
}

#[test]
fn download_cut_mid_transfer_is_retried_and_flashed_whole() {
    let mut cfg = LabConfig::new("bp1");
    cfg.sson = Some("HTTPSRVR=@IP1@,TLSSRVR=@IP1@".into());
    cfg.sip_tls_verify_client = false;
    // 40 KB/s under /throttled/: the 280 KB image takes 7 s, nginx stops in the middle.
    cfg.nginx_extra = Some(
        "location /throttled/ { limit_rate 40k; rewrite ^/throttled/(.*)$ /$1 break; }".into(),
    );
    let rig = rig_with(cfg, true);
    let image = fs::read(rig.lab.docroot().join(APP)).unwrap();
    let mut live = rig.spawn(&[
        "--set",
        "HTTPDIR=throttled",
        "--user",
        "1001",
        "--password",
        "1001pass",
    ]);
    live.wait_for(secs(60), |o| o.contains(&format!("/throttled/{APP}")));
    std::thread::sleep(secs(2));
    // The download is under way and not finished: nothing flashed yet.
    assert!(!live.stdout().contains("| Saving to flash"));
    rig.lab.stop(Server::Http);
    std::thread::sleep(secs(1));
    rig.lab.start(Server::Http);
    let (status, out, err) = live.finish(secs(150));
    assert!(status.is_some_and(|s| s.success()), "{out}\n{err}");
    // Retried: the image was requested again after the cut ...
    assert!(
        count(&out, &format!("/throttled/{APP}")) >= 2,
        "{out}\n{err}"
    );
    // ... flashed once, whole, and the new slot boots and registers.
    assert_eq!(count(&out, "| Saving to flash 100%"), 1, "{out}");
    assert_eq!(fs::read(rig.state().join("slot-b.bin")).unwrap(), image);
    assert!(err.contains("power-on: slot B"), "{err}");
    assert!(registered_with(&out).is_some(), "{out}");
    let log = rig.access_log();
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("GET /throttled/{APP}"))
                && l.contains(&format!(" 200 {} ", image.len()))),
        "{log}"
    );
}

#[test]
fn sigkill_during_flash_keeps_the_old_slot_then_the_next_boot_completes() {
    let rig = rig("bp2", true, false);
    let image = fs::read(rig.lab.docroot().join(APP)).unwrap();
    let creds = ["--user", "1001", "--password", "1001pass"];
    let mut extra = vec!["--flash-ms-per-chunk", "400"];
    extra.extend_from_slice(&creds);
    let mut live = rig.spawn(&extra);
    // The image is written to slot-b.bin.part, renamed over slot-b.bin at the commit.
    let slot_b = rig.state().join("slot-b.bin");
    let part_b = rig.state().join("slot-b.bin.part");
    let deadline = Instant::now() + secs(60);
    while fs::metadata(&part_b).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(
            live.child.try_wait().unwrap().is_none(),
            "ended before the flash write:\n{}\n{}",
            live.stdout(),
            live.stderr()
        );
        assert!(Instant::now() < deadline, "flash write never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    live.child.kill().unwrap(); // SIGKILL
    let (_, out1, err1) = live.finish(secs(10));
    let written = fs::metadata(&part_b).unwrap().len();
    assert!(written < image.len() as u64, "killed too late: {written}");
    assert!(
        !slot_b.exists(),
        "the slot is not replaced before the commit"
    );
    assert!(registered_with(&out1).is_none());
    assert!(err1.contains("power-on: slot A"), "{err1}");

    // The next boot powers on from slot A (the half-written B is not active), flashes the
    // image again, restarts into B and registers.
    let run = rig.boot(&creds);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let err = &run.stderr;
    let a = err
        .find("power-on: slot A")
        .unwrap_or_else(|| panic!("{err}"));
    let b = err
        .find("power-on: slot B")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(a < b, "{err}");
    assert!(
        run.stdout.contains("| Saving to flash 100%"),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read(&slot_b).unwrap(), image);
    assert!(registered_with(&run.stdout).is_some(), "{}", run.stdout);
}

#[test]
fn wrong_password_prompts_again_then_registers() {
    let rig = rig("bp3", true, false);
    let mut live = rig.spawn(&[]);
    // Answer every prompt as it shows: the extension, a wrong password first, then the
    // right one when `Password:` shows again.
    let (mut ext, mut pw) = (0, 0);
    let deadline = Instant::now() + secs(120);
    while registered_with(&live.stdout()).is_none() {
        assert!(
            Instant::now() < deadline,
            "{}\n{}",
            live.stdout(),
            live.stderr()
        );
        assert!(
            live.child.try_wait().unwrap().is_none(),
            "{}\n{}",
            live.stdout(),
            live.stderr()
        );
        let out = live.stdout();
        if count(&out, "| Extension:") > ext {
            ext += 1;
            live.type_line("1001");
        }
        if count(&out, "| Password:") > pw {
            pw += 1;
            live.type_line(if pw == 1 { "wrong-secret" } else { "1001pass" });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, out, err) = live.finish(secs(10));
    assert!(status.is_some_and(|s| s.success()), "{out}\n{err}");
    assert!(pw >= 2, "no second password prompt:\n{out}");
    let second = out.match_indices("| Password:").nth(1).unwrap().0;
    assert!(second < out.find("REGISTERED").unwrap(), "{out}");
    // Both controllers are tried; the one the phone reports registered must hold the contact
    // (with the wrong password first, either may answer the right one first).
    let controller = registered_with(&out).unwrap();
    let server = if controller.starts_with(&format!("{}:", rig.lab.srv_ip2())) {
        Server::Kam2
    } else {
        Server::Kam1
    };
    let ul = rig.lab.kam_ul_dump(server);
    assert!(ul.contains("1001"), "{controller}: {ul}");
}

#[test]
fn first_file_server_down_the_second_is_used() {
    let mut cfg = LabConfig::new("bp4");
    // The first entry of each list is an address nobody serves.
    cfg.sson = Some("HTTPSRVR=@NET@.9,@IP1@,TLSSRVR=@NET@.9,@IP1@".into());
    cfg.sip_tls_verify_client = false;
    let rig = rig_with(cfg, true);
    let (net, ip) = (rig.lab.net().to_string(), rig.lab.srv_ip1());
    let run = rig.boot(&["--timeout", "3", "--user", "1001", "--password", "1001pass"]);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    let dead = out
        .find(&format!("| HTTP: 1 https://{net}.9:443/96x1Supgrade.txt"))
        .unwrap_or_else(|| panic!("{out}"));
    let live = out
        .find(&format!("https://{ip}:443/96x1Supgrade.txt"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(dead < live, "{out}");
    assert!(
        out.contains(&format!("https://{ip}:443/46xxsettings.txt")),
        "{out}\n{}",
        run.stderr
    );
    assert!(registered_with(out).is_some(), "{out}");
    assert!(rig.access_log().contains("GET /96x1Supgrade.txt"));
}

/// A rig whose upgrade script names no software and whose settings register over UDP with the
/// first registrar, plus `settings` (no SCEP unless they set MYCERTURL).
fn plain_rig(cfg: LabConfig, settings: &str) -> Rig {
    let rig = rig_with(cfg, true);
    let doc = rig.lab.docroot();
    fs::write(doc.join("96x1Supgrade.txt"), "GET 46xxsettings.txt\n").unwrap();
    fs::write(
        doc.join("46xxsettings.txt"),
        format!(
            "SET SIP_CONTROLLER_LIST \"{}:5060;transport=udp\"\nSET SIPDOMAIN lab.test\n{settings}",
            rig.lab.srv_ip1()
        ),
    )
    .unwrap();
    rig
}

/// The last address `phone boot` configured (its `address A/P ...` log line).
fn configured_address(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .filter_map(|l| l.split("address ").nth(1))
        .filter_map(|r| r.split('/').next().map(str::to_string))
        .next_back()
}

/// TLSSRVRID=0 (files.md §1): a file server whose certificate chains to a trusted CA but names
/// other hosts is used over HTTPS; with TLSSRVRID=1 the same server is refused on the name and
/// the phone falls back to HTTP (AUTH=0).
#[test]
fn tlssrvrid_zero_accepts_a_certificate_for_another_name_and_one_refuses_it() {
    let mut cfg = LabConfig::new("bq1");
    cfg.sson = Some("HTTPSRVR=@IP1@,TLSSRVR=@IP1@".into());
    cfg.server_cert = ServerCert::WrongName;
    cfg.scep = false;
    cfg.sip_tls = false;
    let rig = plain_rig(cfg, "");
    let ip = rig.lab.srv_ip1();
    let creds = ["--user", "1001", "--password", "1001pass"];

    let mut zero = vec!["--set", "TLSSRVRID=0"];
    zero.extend_from_slice(&creds);
    let run = rig.boot(&zero);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains(&format!("| HTTP: 1 https://{ip}:443/96x1Supgrade.txt")),
        "{out}"
    );
    assert!(
        out.contains(&format!("https://{ip}:443/46xxsettings.txt")),
        "{out}"
    );
    assert!(
        !out.contains("http://"),
        "fell back to HTTP:\n{out}\n{}",
        run.stderr
    );
    assert!(registered_with(out).is_some(), "{out}");
    assert!(rig.access_log().contains("GET /46xxsettings.txt"));

    fs::remove_dir_all(rig.state()).unwrap();
    let mut one = vec!["--set", "TLSSRVRID=1"];
    one.extend_from_slice(&creds);
    let run = rig.boot(&one);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    let https = out
        .find(&format!("| HTTP: 1 https://{ip}:443/96x1Supgrade.txt"))
        .unwrap_or_else(|| panic!("{out}"));
    let http = out
        .find(&format!("| HTTP: 2 http://{ip}:80/96x1Supgrade.txt"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(https < http, "{out}");
    assert!(
        out.contains(&format!("http://{ip}:80/46xxsettings.txt")),
        "{out}"
    );
    assert!(
        run.stderr.contains("not valid for name"),
        "the name check refused it:\n{}",
        run.stderr
    );
    assert!(registered_with(out).is_some(), "{out}");
}

/// RFC 5227 during the boot (Decision 11): another host owns the address the server reserved
/// for the phone and answers its ARP probe. The phone sends DHCPDECLINE (the server logs it),
/// shows `Address conflict` (the Program softkey offered), waits, asks again, gets another
/// address, and registers with it.
#[test]
fn arp_conflict_during_boot_declines_and_ends_with_another_address() {
    let mut cfg = LabConfig::new("bq2");
    cfg.sson = Some("HTTPSRVR=@IP1@".into());
    cfg.hosts = vec![StaticHost::client("@NET@.20", None)];
    cfg.scep = false;
    cfg.sip_tls = false;
    let rig = plain_rig(cfg, "");
    let taken = format!("{}.20", rig.lab.net());
    rig.lab.srv_ip_add(taken.parse().unwrap());
    let run = rig.boot(&["--user", "1001", "--password", "1001pass"]);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(out.contains("| [Program]"), "{out}");
    let conflict = out
        .find("| Address conflict")
        .unwrap_or_else(|| panic!("no conflict shown:\n{out}\n{}", run.stderr));
    let registered = out.find("REGISTERED").unwrap_or_else(|| panic!("{out}"));
    assert!(conflict < registered, "{out}");
    let log = rig.lab.log(Server::Dhcp);
    assert!(
        log.contains("DHCPDECLINE") && log.contains(&taken),
        "the server did not log the DECLINE:\n{log}"
    );
    let address = configured_address(&run.stderr).unwrap_or_else(|| panic!("{}", run.stderr));
    assert_ne!(address, taken, "{}", run.stderr);
    assert!(
        address.starts_with(&format!("{}.", rig.lab.net())),
        "{address}"
    );
    let addr = rig.lab.run_cli_ok(
        &["ip", "-4", "addr", "show", "dev", rig.lab.client_if()],
        secs(5),
    );
    assert!(addr.contains(&format!("{address}/24")), "{addr}");
    assert!(!addr.contains(&taken), "{addr}");
}

/// `phone boot` enrolls through HTTPPROXY with an https MYCERTURL: one CONNECT tunnel per SCEP
/// request in the proxy's log, the certificate held, registered.
#[test]
fn scep_of_the_boot_goes_through_the_proxy_with_connect() {
    let mut cfg = LabConfig::new("bq3");
    cfg.sson = Some("HTTPSRVR=@IP1@".into());
    cfg.sip_tls = false;
    cfg.proxy = true;
    let rig = rig_with(cfg, true);
    let ip1 = rig.lab.srv_ip1();
    let doc = rig.lab.docroot();
    fs::write(doc.join("96x1Supgrade.txt"), "GET 46xxsettings.txt\n").unwrap();
    fs::write(
        doc.join("46xxsettings.txt"),
        format!(
            "SET SIP_CONTROLLER_LIST \"{ip1}:5060;transport=udp\"\nSET SIPDOMAIN lab.test\n\
             SET MYCERTURL \"{}\"\nSET SCEPPASSWORD \"{}\"\nSET MYCERTKEYLEN 1024\n\
             SET HTTPPROXY \"{}\"\n",
            rig.lab.https_scep_url(),
            rig.lab.scep_challenge(),
            rig.lab.proxy()
        ),
    )
    .unwrap();
    let run = rig.boot(&["--user", "1001", "--password", "1001pass"]);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("CERTIFICATE held"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(registered_with(&run.stdout).is_some(), "{}", run.stdout);
    let log = rig.lab.log(Server::Proxy);
    let tunnels = log
        .lines()
        .filter(|l| l.contains(&format!("): CONNECT {ip1}:443 HTTP/1.1")))
        .count();
    assert!(tunnels >= 3, "one tunnel per SCEP request:\n{log}");
    assert!(!log.contains("): GET http://"), "{log}");
}

/// A CA that answers 5 s late: the boot waits on it without blocking, so the `SCEP: s secs`
/// counter goes on advancing, second by second, and the boot completes when it answers.
#[test]
fn slow_ca_the_scep_counter_advances_while_it_waits() {
    let mut cfg = LabConfig::new("bq4");
    cfg.sson = Some("HTTPSRVR=@IP1@".into());
    cfg.sip_tls = false;
    cfg.slow_ca = true;
    let rig = rig_with(cfg, true);
    let ip1 = rig.lab.srv_ip1();
    let doc = rig.lab.docroot();
    fs::write(doc.join("96x1Supgrade.txt"), "GET 46xxsettings.txt\n").unwrap();
    fs::write(
        doc.join("46xxsettings.txt"),
        format!(
            "SET SIP_CONTROLLER_LIST \"{ip1}:5060;transport=udp\"\nSET SIPDOMAIN lab.test\n\
             SET MYCERTURL \"{}\"\nSET SCEPPASSWORD \"{}\"\nSET MYCERTKEYLEN 1024\n",
            rig.lab.slow_scep_url(),
            rig.lab.scep_challenge()
        ),
    )
    .unwrap();
    let run = rig.boot(&["--user", "1001", "--password", "1001pass"]);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    let mut at = 0;
    for s in 0..=5 {
        let line = format!("| SCEP: {s} secs");
        at = out[at..]
            .find(&line)
            .map(|i| at + i)
            .unwrap_or_else(|| panic!("no {line:?} after the earlier ones:\n{out}"));
    }
    assert!(out.contains("CERTIFICATE held"), "{out}\n{}", run.stderr);
    assert!(registered_with(out).is_some(), "{out}");
    assert!(
        rig.lab.log(Server::SlowCa).contains("answer held 5"),
        "{}",
        rig.lab.log(Server::SlowCa)
    );
}

/// `phone files` and `phone boot` share one state directory (issue 11): the image `phone files`
/// flashed is the one `phone boot` powers on, the record it stored is read back, and nothing is
/// downloaded or flashed again.
#[test]
fn phone_files_then_phone_boot_share_the_state_directory() {
    let rig = rig("bq5", true, false);
    let lab = &rig.lab;
    let ip = lab.srv_ip1().to_string();
    let state = rig.state();
    let key = rig.work.join("keys").join("firmware-pub.pem");
    lab.client_static_ip(None);
    let (https, http) = (format!("TLSSRVR={ip}"), format!("HTTPSRVR={ip}"));
    let files = lab.run_cli(
        &[
            PHONE,
            "files",
            "--state-dir",
            state.to_str().unwrap(),
            "--model",
            "9611G",
            "--mac",
            lab.client_mac(),
            "--set",
            &https,
            "--set",
            &http,
            "--trust",
            lab.ca_cert().to_str().unwrap(),
            "--firmware-key",
            key.to_str().unwrap(),
        ],
        secs(120),
    );
    assert!(files.success(), "{}\n{}", files.stdout, files.stderr);
    assert!(
        files
            .stdout
            .lines()
            .any(|l| l == format!("SOFTWARE=installed {APP} slot=B")),
        "{}",
        files.stdout
    );
    let run = rig.boot(&["--user", "1001", "--password", "1001pass"]);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("power-on: slot B {APP}")),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains(&format!("/{APP}")), "{}", run.stdout);
    assert!(!run.stdout.contains("| Saving to flash"), "{}", run.stdout);
    assert!(registered_with(&run.stdout).is_some(), "{}", run.stdout);
}
