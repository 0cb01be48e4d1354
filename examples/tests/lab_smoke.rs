//! Proves the lab works: every server answers real clients from the client namespace, servers
//! stop and start on demand, failure switches act, and labs with different ids run at once.
//! Needs root and `sudo examples/lab/install`; fails (never skips) without them.

mod common;

use common::lab::{
    Dhcp, KamSwitch, Lab, LabConfig, Server, ServerCert, StaticHost, run_bounded, secs,
};
use std::net::Ipv4Addr;

const SIP_CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/sip_register.py");

fn curl(lab: &Lab, args: &[&str]) -> common::lab::CmdOutput {
    let mut a = vec!["curl", "-sS", "--max-time", "5"];
    a.extend_from_slice(args);
    lab.run_cli(&a, secs(10))
}

fn http_code(lab: &Lab, url: &str) -> String {
    let out = curl(lab, &["-o", "/dev/null", "-w", "%{http_code}", url]);
    out.stdout
}

/// sipsak OPTIONS (`sip:ping@IP`) over udp or tcp; kamailio answers 200 → exit 0.
fn sipsak_ok(lab: &Lab, ip: Ipv4Addr, transport: &str) -> bool {
    lab.run_cli(
        &[
            "sipsak",
            "-s",
            &format!("sip:ping@{ip}"),
            &format!("--transport={transport}"),
        ],
        secs(15),
    )
    .success()
}

/// Our stdlib SIP client: REGISTER (or OPTIONS) over udp/tcp/tls; returns its output.
fn sip(lab: &Lab, ip: Ipv4Addr, transport: &str, extra: &[&str]) -> common::lab::CmdOutput {
    let ca = lab.ca_cert();
    let ip = ip.to_string();
    let mut a = vec![
        "python3",
        SIP_CLIENT,
        &ip,
        "1001",
        "1001pass",
        "--transport",
        transport,
        "--cacert",
        ca.to_str().expect("utf-8 path"),
    ];
    a.extend_from_slice(extra);
    lab.run_cli(&a, secs(15))
}

fn check_lab_answers(lab: &Lab) {
    let (ip1, ip2) = (lab.srv_ip1(), lab.srv_ip2());
    let ca = lab.ca_cert();
    let ca = ca.to_str().expect("utf-8 path");

    // DHCP: a real lease with option 242 as configured.
    let lease = lab.dhcp_lease(false, secs(10));
    assert_eq!(
        lease.opt242.as_deref(),
        Some(lab.sson()),
        "{}",
        lease.output
    );
    assert_eq!(lease.router, Some(ip1));
    assert!(
        lease.ip.to_string().starts_with(&format!("{}.", lab.net())),
        "{lease:?}"
    );

    // HTTP and HTTPS (verified against the lab CA; refused without it).
    let body = curl(lab, &["-f", &lab.http_url("46xxsettings.txt")]);
    assert!(body.success(), "{body:?}");
    assert!(
        body.stdout.contains(&format!("{ip1}:5060;transport=udp")),
        "{body:?}"
    );
    let https = curl(
        lab,
        &["-f", "--cacert", ca, &lab.https_url("96x1Supgrade.txt")],
    );
    assert!(
        https.success() && https.stdout.contains("GET 46xxsettings.txt"),
        "{https:?}"
    );
    let https2 = curl(
        lab,
        &["-f", "--cacert", ca, &format!("https://{ip2}/lab-ca.pem")],
    );
    assert!(
        https2.success() && https2.stdout.contains("BEGIN CERTIFICATE"),
        "{https2:?}"
    );
    assert!(!curl(lab, &["-f", &lab.https_url("46xxsettings.txt")]).success());
    assert_eq!(http_code(lab, &lab.http_url("nope.txt")), "404");
    assert_eq!(http_code(lab, &lab.http_url("status/503")), "503");

    // SCEP GetCACaps and GetCACert.
    let caps = curl(
        lab,
        &["-f", &format!("{}?operation=GetCACaps", lab.scep_url())],
    );
    assert!(caps.success(), "{caps:?}");
    for cap in ["POSTPKIOperation", "SHA-256", "AES"] {
        assert!(
            caps.stdout.lines().any(|l| l == cap),
            "{cap} missing: {caps:?}"
        );
    }

    // Both registrars: OPTIONS over UDP and TCP (sipsak), REGISTER with digest over UDP, TCP
    // and TLS (server cert checked against the lab CA).
    for ip in [ip1, ip2] {
        for t in ["udp", "tcp"] {
            assert!(sipsak_ok(lab, ip, t), "sipsak OPTIONS {t} to {ip}");
        }
        for t in ["udp", "tcp", "tls"] {
            let r = sip(lab, ip, t, &[]);
            assert!(
                r.success() && r.stdout.contains("200 OK"),
                "REGISTER {t} {ip}: {r:?}"
            );
        }
    }
}

#[test]
fn full_lab_with_dnsmasq_every_server_answers() {
    let lab = Lab::up(LabConfig::new("smk1"));
    check_lab_answers(&lab);
    // TLS without the lab CA is refused by our client (exit 2: no connection).
    let no_ca = lab.run_cli(
        &[
            "python3",
            SIP_CLIENT,
            &lab.srv_ip1().to_string(),
            "1001",
            "1001pass",
            "--transport",
            "tls",
        ],
        secs(10),
    );
    assert_eq!(no_ca.code(), Some(2), "{no_ca:?}");
    // openssl s_client: the TLS listener presents the server cert from the lab CA.
    let s_client = lab.run_cli(
        &[
            "openssl",
            "s_client",
            "-connect",
            &format!("{}:5061", lab.srv_ip2()),
            "-CAfile",
            lab.ca_cert().to_str().expect("utf-8"),
            "-verify_return_error",
            "-brief",
        ],
        secs(10),
    );
    assert!(
        s_client.stderr.contains("Verification: OK"),
        "openssl s_client: {s_client:?}"
    );
}

#[test]
fn kea_short_lease_and_static_host() {
    let cfg = LabConfig {
        dhcp: Dhcp::Kea,
        lease_secs: 30,
        sson: Some("L2Q=1,L2QVLAN=0,MCIPADD=@IP1@,HTTPSRVR=@IP1@".into()),
        kam2: false,
        ..LabConfig::new("smk2")
    };
    let lab = Lab::up(cfg);
    let lease = lab.dhcp_lease(false, secs(10));
    assert_eq!(lease.lease_secs, 30, "{}", lease.output);
    let want = format!("L2Q=1,L2QVLAN=0,MCIPADD={0},HTTPSRVR={0}", lab.srv_ip1());
    assert_eq!(lease.opt242.as_deref(), Some(want.as_str()));
    check_only_kam1(&lab);
    drop(lab);

    // No router option; then a conflict host: an extra server address answers ARP.
    let lab = Lab::up(LabConfig {
        router: "none".into(),
        http: false,
        scep: false,
        kam1: false,
        kam2: false,
        ..LabConfig::new("smk2")
    });
    let lease = lab.dhcp_lease(false, secs(10));
    assert_eq!(lease.router, None, "{}", lease.output);
    let other: Ipv4Addr = format!("{}.150", lab.net()).parse().expect("ip");
    let arping = |lab: &Lab| {
        let ip = other.to_string();
        lab.run_cli(
            &["arping", "-c", "1", "-w", "2", "-I", lab.client_if(), &ip],
            secs(10),
        )
    };
    assert!(!arping(&lab).success());
    lab.srv_ip_add(other);
    assert!(arping(&lab).success());
    lab.srv_ip_del(other);
    drop(lab);

    // The same id again, now with a reservation for the client's MAC and its own option 242.
    for dhcp in [Dhcp::Kea, Dhcp::Dnsmasq] {
        let lab = Lab::up(LabConfig {
            dhcp,
            hosts: vec![StaticHost::client("@NET@.20", Some("HOST=@IP2@"))],
            http: false,
            scep: false,
            kam1: false,
            kam2: false,
            ..LabConfig::new("smk2")
        });
        let lease = lab.dhcp_lease(false, secs(10));
        let fixed: Ipv4Addr = format!("{}.20", lab.net()).parse().expect("ip");
        assert_eq!(lease.ip, fixed, "{dhcp:?}: {}", lease.output);
        let want = format!("HOST={}", lab.srv_ip2());
        assert_eq!(
            lease.opt242.as_deref(),
            Some(want.as_str()),
            "{dhcp:?}: {}",
            lease.output
        );
    }
}

fn check_only_kam1(lab: &Lab) {
    assert!(lab.is_running(Server::Kam1));
    assert!(!lab.is_running(Server::Kam2));
    assert!(sipsak_ok(lab, lab.srv_ip1(), "udp"));
}

#[test]
fn servers_stop_start_and_fail_on_demand() {
    let lab = Lab::up(LabConfig::new("smk3"));
    lab.client_static_ip(None);
    let ip1 = lab.srv_ip1();

    // First registrar dead, then back.
    lab.stop(Server::Kam1);
    assert!(!lab.is_running(Server::Kam1));
    let dead = sip(&lab, ip1, "udp", &["--timeout", "1"]);
    assert_eq!(
        dead.code(),
        Some(2),
        "kam1 stopped must not answer: {dead:?}"
    );
    assert!(
        sip(&lab, lab.srv_ip2(), "udp", &[]).success(),
        "kam2 must still answer"
    );
    lab.start(Server::Kam1);
    assert!(sip(&lab, ip1, "udp", &[]).success());

    // File server down, then back.
    lab.stop(Server::Http);
    assert!(!curl(&lab, &["-f", &lab.http_url("46xxsettings.txt")]).success());
    lab.start(Server::Http);
    assert!(curl(&lab, &["-f", &lab.http_url("46xxsettings.txt")]).success());
    lab.write_doc("sub/new.txt", "fresh\n");
    assert_eq!(
        curl(&lab, &["-f", &lab.http_url("sub/new.txt")]).stdout,
        "fresh\n"
    );

    // Failure switches.
    lab.kam_switch(Server::Kam1, KamSwitch::Fail503, 1);
    let r = sip(&lab, ip1, "udp", &[]);
    assert!(
        r.stdout.contains("503 Service Unavailable") && r.stdout.contains("Retry-After: 5"),
        "{r:?}"
    );
    lab.kam_switch(Server::Kam1, KamSwitch::RetryAfter, 0);
    let r = sip(&lab, ip1, "udp", &[]);
    assert!(
        r.stdout.contains("503") && !r.stdout.contains("Retry-After"),
        "{r:?}"
    );
    lab.kam_switch(Server::Kam1, KamSwitch::Fail503, 0);
    lab.kam_switch(Server::Kam1, KamSwitch::Drop, 1);
    assert_eq!(sip(&lab, ip1, "tcp", &["--timeout", "1"]).code(), Some(2));
    lab.kam_switch(Server::Kam1, KamSwitch::Drop, 0);
    let r = sip(&lab, ip1, "udp", &["--expires", "30"]);
    assert!(
        r.stdout.contains("423 Interval Too Brief") && r.stdout.contains("Min-Expires: 60"),
        "{r:?}"
    );
    assert!(sip(&lab, ip1, "tls", &[]).success());
    assert!(lab.log(Server::Kam1).contains("REGISTER from"));
}

#[test]
fn two_labs_run_at_the_same_time() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            Lab::up(LabConfig {
                kam2: false,
                ..LabConfig::new("smc1")
            })
        });
        let b = s.spawn(|| {
            Lab::up(LabConfig {
                dhcp: Dhcp::Kea,
                kam2: false,
                ..LabConfig::new("smc2")
            })
        });
        (a.join().expect("lab smc1"), b.join().expect("lab smc2"))
    });
    assert_ne!(a.ns_cli(), b.ns_cli());
    assert_ne!(a.net(), b.net());
    for lab in [&a, &b] {
        let lease = lab.dhcp_lease(false, secs(10));
        assert_eq!(lease.opt242.as_deref(), Some(lab.sson()));
        assert!(curl(lab, &["-f", &lab.http_url("46xxsettings.txt")]).success());
        check_only_kam1(lab);
    }
    // The same id twice at once is refused, loudly, and leaves the running lab alone.
    let again = std::panic::catch_unwind(|| Lab::up(LabConfig::new("smc2")));
    let msg = again
        .err()
        .and_then(|e| e.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(msg.contains("already in use"), "{msg:?}");
    // Tearing one down leaves the other working.
    drop(a);
    assert!(sipsak_ok(&b, b.srv_ip1(), "tcp"));
    assert!(curl(&b, &["-f", &b.http_url("96x1Supgrade.txt")]).success());
}

#[test]
fn voice_vlan_tagged_dhcp_https_and_sip() {
    let lab = Lab::up(LabConfig {
        vlan: Some(100),
        sson: Some("L2Q=1,L2QVLAN=@VID@,VLANTEST=60".into()),
        ..LabConfig::new("smv1")
    });
    assert_eq!(lab.vlan_id(), Some(100));
    let probe = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/dhcp_tagged_probe.py");
    // A DISCOVER tagged VID 100, built in user space on the untagged veth (the way a phone's raw
    // DHCP client does it), is answered on the voice subnet, tagged 100; priority-tagged (VID 0)
    // on the data subnet, untagged; another VID not at all.
    let out = lab.run_cli_ok(&["python3", probe, lab.client_if(), "100"], secs(10));
    assert!(
        out.contains(&format!("yiaddr={}.", lab.vlan_net())) && out.contains("vid=100"),
        "{out}"
    );
    assert!(
        out.contains(&format!("opt242={}", lab.vlan_sson())),
        "{out}"
    );
    let out = lab.run_cli_ok(&["python3", probe, lab.client_if(), "0"], secs(10));
    assert!(
        out.contains(&format!("yiaddr={}.", lab.net())) && out.contains("vid=None"),
        "{out}"
    );
    assert!(
        out.contains("opt242=L2Q=1,L2QVLAN=100,VLANTEST=60"),
        "{out}"
    );
    let none = lab.run_cli(
        &["python3", probe, lab.client_if(), "101", "--timeout", "2"],
        secs(10),
    );
    assert_eq!(none.code(), Some(1), "{none:?}");

    // The client's VLAN interface: lease, HTTPS and SIP over TLS on the voice VLAN.
    assert_eq!(lab.vlan_client_up(), lab.vlan_client_if());
    let lease = lab.dhcp_lease(true, secs(10));
    assert_eq!(lease.iface, lab.vlan_client_if());
    assert!(
        lease
            .ip
            .to_string()
            .starts_with(&format!("{}.", lab.vlan_net())),
        "{lease:?}"
    );
    assert_eq!(lease.router, Some(lab.vlan_srv_ip()));
    let ca = lab.ca_cert();
    let url = format!("https://{}/46xxsettings.txt", lab.vlan_srv_ip());
    assert!(curl(&lab, &["-f", "--cacert", ca.to_str().expect("utf-8"), &url]).success());
    assert!(sip(&lab, lab.vlan_srv_ip(), "tls", &[]).success());

    // Voice VLAN down (the relay stopped): no lease there; back up: lease again.
    lab.stop(Server::Vlan);
    let gone = lab.run_cli(
        &["python3", probe, lab.client_if(), "100", "--timeout", "2"],
        secs(10),
    );
    assert_eq!(gone.code(), Some(1), "{gone:?}");
    lab.start(Server::Vlan);
    lab.run_cli_ok(&["python3", probe, lab.client_if(), "100"], secs(10));
}

#[test]
fn scep_enrollment_then_mutual_tls_registration() {
    let lab = Lab::up(LabConfig {
        sip_tls_verify_client: true,
        kam2: false,
        dhcp: Dhcp::None,
        ..LabConfig::new("smt1")
    });
    lab.client_static_ip(None);
    let dir = lab.state_path("enroll");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (key, cert) = (dir.join("k.pem"), dir.join("c.pem"));
    let p = |x: &std::path::Path| x.to_str().expect("utf-8").to_string();
    // scepclient writes csr.pem into its working directory: run it in a fresh one.
    let out = run_bounded(
        lab.cli("scepclient").current_dir(&dir).args([
            "-server-url",
            lab.scep_url(),
            "-challenge",
            lab.scep_challenge(),
            "-private-key",
            &p(&key),
            "-certificate",
            &p(&cert),
            "-cn",
            "phone-0001",
        ]),
        secs(30),
    );
    assert!(out.success() && cert.exists(), "scepclient: {out:?}");
    let verify = run_bounded(
        std::process::Command::new("openssl").args([
            "verify",
            "-CAfile",
            &p(&lab.scep_ca()),
            &p(&cert),
        ]),
        secs(10),
    );
    assert!(verify.stdout.contains(": OK"), "{verify:?}");

    // TLS with client-certificate checking: refused without a cert, 200 with the enrolled one.
    let ip = lab.srv_ip1();
    let without = sip(&lab, ip, "tls", &[]);
    assert!(
        !without.success() && !without.stdout.contains("200 OK"),
        "{without:?}"
    );
    let with = sip(&lab, ip, "tls", &["--cert", &p(&cert), "--key", &p(&key)]);
    assert!(with.success(), "{with:?}");
    assert!(lab.kam_ul_dump(Server::Kam1).contains("AoR: 1001"));

    // A background client in the client namespace, waited on with a bound.
    let ip = ip.to_string();
    let mut bg = lab.spawn_cli("reg", &["python3", SIP_CLIENT, &ip, "1002", "1002pass"]);
    assert!(
        bg.wait_timeout(secs(15)).is_some_and(|s| s.success()),
        "{}",
        bg.stdout()
    );
    assert!(bg.stdout().contains("200 OK"));
}

#[test]
fn bad_server_certificates_and_extra_nginx_locations() {
    for (cert, why) in [
        (ServerCert::Untrusted, "self-signed certificate"),
        (ServerCert::WrongName, "IP address mismatch"),
    ] {
        let lab = Lab::up(LabConfig {
            server_cert: cert,
            nginx_extra: Some("location = /moved { return 301 /46xxsettings.txt; }\n".into()),
            dhcp: Dhcp::None,
            scep: false,
            kam2: false,
            ..LabConfig::new("smb1")
        });
        lab.client_static_ip(None);
        let ca = lab.ca_cert();
        let ca = ca.to_str().expect("utf-8");
        // HTTPS and SIP TLS are refused against the lab CA; plain HTTP still works.
        let https = curl(
            &lab,
            &["-f", "--cacert", ca, &lab.https_url("46xxsettings.txt")],
        );
        assert!(!https.success(), "{cert:?}: {https:?}");
        let tls = sip(&lab, lab.srv_ip1(), "tls", &[]);
        assert!(
            tls.code() == Some(2) && tls.stdout.contains(why),
            "{cert:?}: {tls:?}"
        );
        let moved = curl(
            &lab,
            &[
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{redirect_url}",
                &lab.http_url("moved"),
            ],
        );
        assert_eq!(
            moved.stdout,
            format!("301 {}", lab.http_url("46xxsettings.txt"))
        );
    }
}
