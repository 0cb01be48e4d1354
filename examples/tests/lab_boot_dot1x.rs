//! Stage 1, 802.1X (issue 14, link.md §2, Decision 14), composed into `phone boot` against a
//! real authenticator: hostapd 2.10 (`driver=wired`, internal EAP server, unicast EAPOL:
//! `use_pae_group_addr=0`, which DOT1XSTAT 1 answers) on the lab's server veth, the port
//! enforced as more-servers.md §1 does it: an nftables netdev ingress chain on the server veth
//! drops everything but EAPOL until `hostapd_cli -a` adds the phone's MAC on AP-STA-CONNECTED.
//!
//! Each test boots twice: the first boot (no authenticator yet) gets the settings file with
//! the DOT1X* settings and stores them; the second power-on runs 802.1X from them.
//! - x1: DOT1XSTAT 1, DOT1XWAIT 1, MD5 credentials (FORCE_DOT1XID/PSWD): hostapd_cli all_sta
//!   shows the phone AUTHORIZED; a capture on the switch port shows the phone's first DHCP
//!   message after the EAP-Success; the boot registers.
//! - x2: a wrong password: `802.1X failed` shown, no DHCP message on the wire, not authorized.
//! - x3: EAP-TLS: the first boot enrolls with scepserver (MYCERTWAIT 1); the second presents
//!   that certificate, hostapd verifying it against the lab's SCEP CA (and the phone verifying
//!   hostapd's certificate against TRUSTCERTS lab-ca.pem): authorized with EAP type 13,
//!   registers.
//!
//! Needs root and the lab packages with hostapd and nftables (`sudo examples/lab/install`);
//! ids `x1`, `x2`, `x3`.

// Tests unwrap what they set up themselves.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::lab::{BgProc, Lab, LabConfig, secs};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");

/// A lab (dnsmasq, nginx, kamailio #1; scepserver when `scep`) whose settings file is
/// `settings`, and a fresh state directory for the phone.
fn lab(id: &str, scep: bool, settings: &str) -> (Lab, PathBuf) {
    let lab = Lab::up(LabConfig {
        scep,
        kam2: false,
        ..LabConfig::new(id)
    });
    let doc = lab.docroot();
    fs::write(doc.join("96x1Supgrade.txt"), "GET 46xxsettings.txt\n").unwrap();
    fs::write(doc.join("46xxsettings.txt"), settings).unwrap();
    let state = std::env::temp_dir().join(format!("phone-lab-dot1x-{id}"));
    let _ = fs::remove_dir_all(&state);
    (lab, state)
}

/// `phone boot` in the background on the client veth.
fn spawn_boot(lab: &Lab, state: &Path, name: &str) -> BgProc {
    lab.spawn_cli(
        name,
        &[
            PHONE,
            "boot",
            "--iface",
            lab.client_if(),
            "--model",
            "9611G",
            "--mac",
            lab.client_mac(),
            "--serial",
            "DOT1X0001",
            "--state-dir",
            state.to_str().unwrap(),
            "--user",
            "1001",
            "--password",
            "1001pass",
        ],
    )
}

fn out(p: &BgProc) -> String {
    format!("{}{}", p.stdout(), p.stderr())
}

/// Waits (at most `timeout`) until the phone printed `REGISTERED controller=`.
fn wait_registered(phone: &BgProc, timeout: Duration) {
    assert!(
        phone.wait_output(timeout, |o| o.contains("REGISTERED controller=")),
        "not registered within {timeout:?}:\n{}",
        out(phone)
    );
}

/// The first power-on: no authenticator on the port yet; it stores the DOT1X* settings (and,
/// with SCEP, the identity), then the phone is switched off.
fn first_boot(lab: &Lab, state: &Path) {
    let mut phone = spawn_boot(lab, state, "phone-first");
    wait_registered(&phone, secs(90));
    phone.kill();
}

/// hostapd on the server veth with the port enforced by nftables; stopped on drop.
struct Authenticator<'a> {
    lab: &'a Lab,
    dir: PathBuf,
    procs: Vec<Child>,
}

impl<'a> Authenticator<'a> {
    /// `users`: the eap_user file; `extra`: hostapd.conf lines (the TLS server's files).
    fn up(lab: &'a Lab, users: &str, extra: &str) -> Authenticator<'a> {
        let dir = lab.state_dir().join("dot1x");
        fs::create_dir_all(&dir).unwrap();
        let port = lab.env("VETH_SRV").to_string();
        let mut a = Authenticator {
            lab,
            dir: dir.clone(),
            procs: Vec::new(),
        };
        let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
        // The port: everything but EAPOL dropped until hostapd authorizes the station.
        fs::write(
            dir.join("dot1x.nft"),
            format!(
                "table netdev dot1x {{\n  set authorized {{ type ether_addr; }}\n  chain ingress {{\n    type filter hook ingress device \"{port}\" priority 0; policy drop;\n    ether type 0x888e accept\n    ether saddr @authorized accept\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let nft = lab.run_srv(&["nft", "-f", &p("dot1x.nft")], secs(10));
        assert!(nft.success(), "nft: {nft:?}");
        fs::write(
            dir.join("action.sh"),
            format!(
                "#!/bin/sh\necho \"$(date +%s.%N) $*\" >> {log}\ncase \"$2\" in\n  AP-STA-CONNECTED) nft add element netdev dot1x authorized \"{{ $3 }}\" ;;\n  AP-STA-DISCONNECTED) nft delete element netdev dot1x authorized \"{{ $3 }}\" 2>/dev/null ;;\nesac\nexit 0\n",
                log = p("action.log")
            ),
        )
        .unwrap();
        assert!(
            std::process::Command::new("chmod")
                .args(["755", &p("action.sh")])
                .status()
                .unwrap()
                .success()
        );
        fs::write(dir.join("eap_user"), users).unwrap();
        fs::write(
            dir.join("hostapd.conf"),
            format!(
                "interface={port}\ndriver=wired\nlogger_stdout=-1\nlogger_stdout_level=1\nctrl_interface={}\nieee8021x=1\neapol_version=2\nuse_pae_group_addr=0\neap_reauth_period=0\neap_server=1\neap_user_file={}\n{extra}",
                p("ctrl"),
                p("eap_user"),
            ),
        )
        .unwrap();
        a.spawn(&["hostapd", "-t", &p("hostapd.conf")], "hostapd.log");
        a.wait_log("hostapd.log", "AP-ENABLED", secs(10));
        let end = Instant::now() + secs(10);
        while !a.cli(&["ping"]).contains("PONG") {
            assert!(Instant::now() < end, "hostapd_cli never reached hostapd");
            std::thread::sleep(Duration::from_millis(50));
        }
        a.spawn(
            &[
                "hostapd_cli",
                "-p",
                &p("ctrl"),
                "-i",
                &port,
                "-a",
                &p("action.sh"),
            ],
            "hostapd_cli.log",
        );
        // hostapd_cli -a attaches after its own ping.
        std::thread::sleep(Duration::from_millis(500));
        a
    }

    fn spawn(&mut self, args: &[&str], log: &str) {
        let f = fs::File::create(self.dir.join(log)).unwrap();
        let child = self
            .lab
            .srv(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap();
        self.procs.push(child);
    }

    fn log(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    fn wait_log(&self, name: &str, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self.log(name).contains(needle) {
            assert!(
                Instant::now() < end,
                "no {needle:?} in {name}:\n{}",
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        let ctrl = self.dir.join("ctrl");
        let port = self.lab.env("VETH_SRV").to_string();
        let mut all = vec!["hostapd_cli", "-p", ctrl.to_str().unwrap(), "-i", &port];
        all.extend_from_slice(args);
        self.lab.run_srv(&all, secs(10)).stdout
    }
}

impl Drop for Authenticator<'_> {
    fn drop(&mut self) {
        for c in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self
            .lab
            .run_srv(&["nft", "delete", "table", "netdev", "dot1x"], secs(10));
    }
}

/// The capture of EAPOL and DHCP on the switch port (before the ingress filter: what the phone
/// put on the wire), `tcpdump -tt -e -v`: each frame's first line has the time, the MACs and
/// the ethertype, an EAP packet's code (`Success (3)`) too; the only IPv4 is DHCP.
fn capture(lab: &Lab) -> common::lab::SrvCapture {
    lab.spawn_srv_capture(
        "dot1x-dhcp",
        &[
            "tcpdump",
            "-i",
            lab.env("VETH_SRV"),
            "-n",
            "-l",
            "-tt",
            "-e",
            "-v",
            "ether proto 0x888e or udp port 67",
        ],
    )
}

/// The timestamp of the first capture line that contains all of `needles`.
fn first_at(capture: &str, needles: &[&str]) -> Option<f64> {
    capture
        .lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|t| t.parse().ok())
}

fn md5_settings(password: &str) -> String {
    format!(
        "SET SIPDOMAIN lab.test\nSET DOT1XSTAT 1\nSET DOT1XWAIT 1\nSET DOT1XEAPS MD5\n\
         SET FORCE_DOT1XID phone-$SERIALNO\nSET FORCE_DOT1XPSWD {password}\n"
    )
}

#[test]
fn md5_with_dot1xwait_1_authorizes_before_dhcp_and_registers() {
    let (lab, state) = lab("x1", false, &md5_settings("secret1"));
    first_boot(&lab, &state);
    let auth = Authenticator::up(&lab, "\"phone-DOT1X0001\" MD5 \"secret1\"\n", "");
    let cap = capture(&lab);
    let t0 = Instant::now();
    let mut phone = spawn_boot(&lab, &state, "phone-md5");
    wait_registered(&phone, secs(90));
    let took = t0.elapsed();
    phone.kill();
    let text = out(&phone);
    let wire = cap.stop();
    eprintln!("registered after {took:?}\n{wire}");
    assert!(text.contains("802.1X authorized (MD5)"), "{text}");
    assert!(text.contains("802.1X: 0 secs"), "{text}");
    let sta = auth.cli(&["all_sta"]);
    let mac = lab.client_mac().to_lowercase();
    assert!(sta.contains(&mac), "{sta}");
    assert!(sta.contains("AUTHORIZED"), "{sta}");
    assert!(
        sta.contains("dot1xAuthSessionUserName=phone-DOT1X0001"),
        "{sta}"
    );
    assert!(sta.contains("last_eap_type_sta=4"), "{sta}");
    // On the wire: EAP-Success first, then the phone's first DHCP message.
    let success = first_at(&wire, &["Success (3)"]).expect("EAP-Success on the wire");
    let dhcp = first_at(&wire, &[&format!("{mac} >"), "ethertype IPv4"]).expect("DHCP on the wire");
    assert!(success < dhcp, "EAP-Success at {success}, DHCP at {dhcp}");
    assert!(
        auth.log("action.log").contains("AP-STA-CONNECTED"),
        "{}",
        auth.log("action.log")
    );
}

#[test]
fn md5_wrong_password_shows_802_1x_failed_and_no_dhcp() {
    let (lab, state) = lab("x2", false, &md5_settings("wrong-password"));
    first_boot(&lab, &state);
    let auth = Authenticator::up(&lab, "\"phone-DOT1X0001\" MD5 \"secret1\"\n", "");
    let cap = capture(&lab);
    let mut phone = spawn_boot(&lab, &state, "phone-wrong");
    assert!(
        phone.wait_output(secs(30), |o| o.contains("802.1X failed")),
        "{}",
        out(&phone)
    );
    // A few seconds more: still no DHCP (the retry comes after heldPeriod, 60 s).
    std::thread::sleep(secs(5));
    phone.kill();
    let text = out(&phone);
    let wire = cap.stop();
    eprintln!("{wire}");
    assert!(!text.contains("REGISTERED"), "{text}");
    assert!(!text.contains("DHCP: "), "{text}");
    let mac = lab.client_mac().to_lowercase();
    assert!(first_at(&wire, &["Failure (4)"]).is_some(), "{wire}");
    assert!(
        first_at(&wire, &[&format!("{mac} >"), "ethertype IPv4"]).is_none(),
        "{wire}"
    );
    let sta = auth.cli(&["all_sta"]);
    assert!(!sta.contains("AUTHORIZED"), "{sta}");
    assert!(
        auth.log("hostapd.log").contains("authentication failed"),
        "{}",
        auth.log("hostapd.log")
    );
}

#[test]
fn eap_tls_with_the_certificate_scep_issued_on_the_boot_before() {
    let (lab, state) = lab("x3", true, "");
    fs::write(
        lab.docroot().join("46xxsettings.txt"),
        format!(
            "SET SIPDOMAIN lab.test\nSET MYCERTURL \"{}\"\nSET SCEPPASSWORD \"{}\"\n\
             SET MYCERTKEYLEN 2048\nSET MYCERTWAIT 1\nSET TRUSTCERTS lab-ca.pem\n\
             SET DOT1XSTAT 1\nSET DOT1XWAIT 1\nSET DOT1XEAPS TLS\nSET FORCE_DOT1XID_TLS phone-tls\n",
            lab.scep_url(),
            lab.scep_challenge()
        ),
    )
    .unwrap();
    first_boot(&lab, &state);
    let extra = format!(
        "ca_cert={}\nserver_cert={}\nprivate_key={}\n",
        lab.scep_ca().display(),
        lab.env("SERVER_CERT"),
        lab.env("SERVER_KEY")
    );
    let auth = Authenticator::up(&lab, "\"phone-tls\" TLS\n", &extra);
    let cap = capture(&lab);
    let mut phone = spawn_boot(&lab, &state, "phone-tls");
    wait_registered(&phone, secs(90));
    phone.kill();
    let text = out(&phone);
    let wire = cap.stop();
    assert!(text.contains("802.1X authorized (TLS)"), "{text}");
    let sta = auth.cli(&["all_sta"]);
    assert!(sta.contains("AUTHORIZED"), "{sta}");
    assert!(sta.contains("last_eap_type_sta=13"), "{sta}");
    let mac = lab.client_mac().to_lowercase();
    let success = first_at(&wire, &["Success (3)"]).expect("EAP-Success on the wire");
    let dhcp = first_at(&wire, &[&format!("{mac} >"), "ethertype IPv4"]).expect("DHCP on the wire");
    assert!(success < dhcp, "EAP-Success at {success}, DHCP at {dhcp}");
}
