//! `phone register` against real Kamailio registrars in the lab (examples/lab). Needs root and
//! the lab packages (`sudo examples/lab/install`). Each test brings up its own lab (ids `sa`..).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::lab::{BgProc, KamSwitch, Lab, LabConfig, Server, secs};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");

fn sip_lab(id: &str, min_expires: u32) -> Lab {
    let lab = Lab::up(LabConfig {
        dhcp: common::lab::Dhcp::None,
        http: false,
        scep: false,
        min_expires,
        ..LabConfig::new(id)
    });
    lab.client_static_ip(None);
    lab
}

/// A `phone register` running in the background, with its output in the lab's log files.
struct Running {
    proc: BgProc,
    started: Instant,
}

impl Running {
    fn spawn(lab: &Lab, name: &str, args: &[&str]) -> Running {
        let mut all = vec![PHONE, "register", "--domain", "lab.test", "--user", "1001"];
        all.extend_from_slice(args);
        let started = Instant::now();
        let proc = lab.spawn_cli(name, &all);
        Running { proc, started }
    }

    fn stdout(&self) -> String {
        self.proc.stdout()
    }

    fn stderr(&self) -> String {
        self.proc.stderr()
    }

    /// Wait for a stdout line containing `want` after `skip` earlier matches; the time since start.
    fn wait_line(&self, want: &str, nth: usize, timeout: Duration) -> Duration {
        let end = Instant::now() + timeout;
        loop {
            if self.stdout().lines().filter(|l| l.contains(want)).count() > nth {
                return self.started.elapsed();
            }
            assert!(
                Instant::now() < end,
                "no line {want:?} (#{nth}) within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_err(&self, want: &str, timeout: Duration) -> Duration {
        let end = Instant::now() + timeout;
        loop {
            if self.stderr().contains(want) {
                return self.started.elapsed();
            }
            assert!(
                Instant::now() < end,
                "no stderr {want:?} within {timeout:?}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGINT, then the exit code (the phone un-registers first).
    fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = self.proc.pid().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status();
        match self.proc.wait_timeout(secs(40)) {
            Some(st) => (st.code(), self.stdout()),
            None => panic!(
                "phone did not exit after SIGINT\n{}\n{}",
                self.stdout(),
                self.stderr()
            ),
        }
    }
}

/// Kamailio's own user location table (`kamcmd ul.dump`).
fn ul_dump(lab: &Lab, kam: &str) -> String {
    let ctl = format!("unix:{}", lab.state_path(&format!("{kam}/ctl")).display());
    let out = lab.run_srv(&["kamcmd", "-s", &ctl, "ul.dump"], secs(10));
    assert!(
        out.success(),
        "kamcmd ul.dump: {}{}",
        out.stdout,
        out.stderr
    );
    out.stdout
}

#[test]
fn registers_over_udp_tcp_and_tls_and_kamailio_holds_the_contact() {
    let lab = sip_lab("sa", 60);
    let ip1 = lab.srv_ip1().to_string();
    let ca = lab.ca_cert().display().to_string();
    for (transport, port) in [("udp", 5060), ("tcp", 5060), ("tls", 5061)] {
        let list = format!("{ip1};transport={transport}");
        let run = Running::spawn(
            &lab,
            &format!("reg-{transport}"),
            &[
                "--controllers",
                &list,
                "--password",
                "1001pass",
                "--trust",
                &ca,
            ],
        );
        run.wait_line(
            &format!("REGISTERED controller={ip1}:{port} transport={transport} expires=900"),
            0,
            secs(15),
        );
        let dump = ul_dump(&lab, "kam1");
        assert!(dump.contains("AoR: 1001"), "{dump}");
        let client = "10.77.";
        let contact = dump
            .lines()
            .find(|l| l.contains("Address:") && l.contains("sip:1001@"))
            .unwrap_or_else(|| panic!("{dump}"));
        assert!(contact.contains(client), "{contact}");
        if transport != "udp" {
            assert!(
                contact.contains(&format!("transport={transport}")),
                "{contact}"
            );
        }
        let (code, out) = run.interrupt();
        assert_eq!(code, Some(0), "{out}");
        assert!(
            out.contains(&format!(
                "UNREGISTERED controller={ip1}:{port} transport={transport}"
            )),
            "{out}"
        );
        let dump = ul_dump(&lab, "kam1");
        assert!(
            !dump.contains("sip:1001@"),
            "contact removed by the un-REGISTER:\n{dump}"
        );
    }
    // --once: register, un-register, exit 0.
    let out = lab.run_cli(
        &[
            PHONE,
            "register",
            "--controllers",
            &format!("{ip1};transport=tcp"),
            "--domain",
            "lab.test",
            "--user",
            "1002",
            "--password",
            "1002pass",
            "--once",
        ],
        secs(20),
    );
    assert_eq!(out.code(), Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("REGISTERED") && out.stdout.contains("UNREGISTERED"),
        "{}",
        out.stdout
    );
}

#[test]
fn wrong_password_is_a_clear_error() {
    let lab = sip_lab("sb", 60);
    let list = format!("{};transport=udp", lab.srv_ip1());
    let out = lab.run_cli(
        &[
            PHONE,
            "register",
            "--controllers",
            &list,
            "--domain",
            "lab.test",
            "--user",
            "1001",
            "--password",
            "nope",
            "--once",
        ],
        secs(20),
    );
    assert_eq!(out.code(), Some(3), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("credentials rejected"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("realm lab.test"), "{}", out.stderr);
    assert!(!out.stdout.contains("REGISTERED"), "{}", out.stdout);
    // No password at all: the credential prompt event, exit 3 as well.
    let out = lab.run_cli(
        &[
            PHONE,
            "register",
            "--controllers",
            &list,
            "--domain",
            "lab.test",
            "--user",
            "1001",
            "--once",
        ],
        secs(20),
    );
    assert_eq!(out.code(), Some(3), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("asks for credentials"),
        "{}",
        out.stderr
    );
    // No controller answers: a clear message and exit 1.
    lab.kam_switch(Server::Kam1, KamSwitch::Drop, 1);
    let out = lab.run_cli(
        &[
            PHONE,
            "register",
            "--controllers",
            &list,
            "--domain",
            "lab.test",
            "--user",
            "1001",
            "--password",
            "1001pass",
            "--set",
            "WAIT_FOR_REGISTRATION_TIMER=4",
            "--once",
        ],
        secs(20),
    );
    assert_eq!(out.code(), Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("no controller answered"),
        "{}",
        out.stderr
    );
}

#[test]
fn interval_too_brief_registers_with_min_expires() {
    let lab = sip_lab("sc", 120);
    let list = format!("{};transport=udp", lab.srv_ip1());
    let run = Running::spawn(
        &lab,
        "reg-423",
        &[
            "--controllers",
            &list,
            "--password",
            "1001pass",
            "--set",
            "REGISTERWAIT=60",
        ],
    );
    run.wait_line("REGISTERED", 0, secs(15));
    assert!(run.stdout().contains("expires=120"), "{}", run.stdout());
    // Kamailio holds the binding for Min-Expires, and the CSeq shows the extra round trip:
    // 1 → 401, 2 → 423, 3 → 200 (without the 423 it would be 2).
    let dump = ul_dump(&lab, "kam1");
    let cseq: u32 = dump
        .lines()
        .find_map(|l| l.trim().strip_prefix("CSeq: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{dump}"));
    assert!(cseq >= 3, "CSeq {cseq}:\n{dump}");
    let (code, _) = run.interrupt();
    assert_eq!(code, Some(0));
}

#[test]
fn service_unavailable_retry_after_is_honoured() {
    let lab = sip_lab("sd", 60);
    lab.kam_switch(Server::Kam1, KamSwitch::RetryAfter, 5);
    lab.kam_switch(Server::Kam1, KamSwitch::Fail503, 1);
    let list = format!("{};transport=udp", lab.srv_ip1());
    let run = Running::spawn(
        &lab,
        "reg-503",
        &["--controllers", &list, "--password", "1001pass"],
    );
    let t503 = run.wait_err("503 Service Unavailable, Retry-After 5 s", secs(10));
    lab.kam_switch(Server::Kam1, KamSwitch::Fail503, 0);
    let treg = run.wait_line("REGISTERED", 0, secs(20));
    let waited = treg - t503;
    // Retried when Retry-After ran out, not before, and not at the recovery search (30–54 s).
    assert!(
        waited >= Duration::from_millis(4800) && waited <= secs(8),
        "waited {waited:?}"
    );
    let (code, _) = run.interrupt();
    assert_eq!(code, Some(0));
}

#[test]
fn fails_over_within_wait_for_registration_timer_and_fails_back() {
    let lab = sip_lab("se", 30);
    let (ip1, ip2) = (lab.srv_ip1().to_string(), lab.srv_ip2().to_string());
    lab.kam_switch(Server::Kam1, KamSwitch::Drop, 1);
    let list = format!("{ip1};transport=udp,{ip2};transport=udp");
    let run = Running::spawn(
        &lab,
        "reg-failover",
        &[
            "--controllers",
            &list,
            "--password",
            "1001pass",
            "--set",
            "WAIT_FOR_REGISTRATION_TIMER=8",
            "--set",
            "REGISTERWAIT=30",
        ],
    );
    // The first controller is dead: the second takes the registration well within the timer.
    let t = run.wait_line(&format!("REGISTERED controller={ip2}:5060"), 0, secs(8));
    assert!(t < secs(8), "{t:?}");
    assert!(
        run.stdout()
            .contains(&format!("ACTIVE controller={ip2}:5060"))
    );
    assert!(ul_dump(&lab, "kam2").contains("sip:1001@"));
    run.wait_err(
        &format!("controller={ip1}:5060 transport=udp: no answer"),
        secs(12),
    );
    // The first comes back: at the next refresh (60–90 % of 30 s) it is probed and taken back.
    lab.kam_switch(Server::Kam1, KamSwitch::Drop, 0);
    run.wait_line(&format!("ACTIVE controller={ip1}:5060"), 0, secs(40));
    run.wait_line(&format!("UNREGISTERED controller={ip2}:5060"), 0, secs(5));
    assert!(ul_dump(&lab, "kam1").contains("sip:1001@"));
    assert!(
        !ul_dump(&lab, "kam2").contains("sip:1001@"),
        "the second registration was removed"
    );
    // Now the first drops while registered: its refresh times out, and the search registers
    // with the second.
    lab.kam_switch(Server::Kam1, KamSwitch::Drop, 1);
    run.wait_line(
        &format!("ACTIVE controller={ip2}:5060"),
        1,
        secs(30 + 8 + 5),
    );
    let (code, out) = run.interrupt();
    assert_eq!(code, Some(0), "{out}");
}
