//! `phone dhcp` against real dnsmasq and real kea in the lab (needs root; see
//! examples/lab/README.md). Lab ids `dh1`..`dh9`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::Ipv4Addr;

use common::lab::{Dhcp, Lab, LabConfig, Server, StaticHost, secs};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");

/// Two SSON strings (the lab's servers send at most 255 bytes of option 242) that together
/// carry every parameter a 96x1 takes from the SSON except L2Q/L2QVLAN (tested separately):
/// the option 43 names, VLANTEST, ICMPDU, ICMPRED, LOGSRVR, DOMAIN, DNSSRVR, PHY2VLAN, SSON and
/// MCIPADD (Decision 2).
const SSONS: [&str; 2] = [
    "HTTPSRVR=@IP1@,@IP2@,HTTPDIR=p,HTTPPORT=8080,TLSSRVR=@IP1@,TLSDIR=t,TLSPORT=8443,TLSSRVRID=1,\
SIG=2,SIP_CONTROLLER_LIST=@IP1@:5061;transport=tls,@IP2@:5060,PROCSTAT=1",
    "PHY1STAT=1,PHY2STAT=1,VLANTEST=30,ICMPDU=1,ICMPRED=0,LOGSRVR=@IP2@,DOMAIN=lab.test,\
DNSSRVR=@IP1@,PHY2VLAN=5,SSON=242,MCIPADD=@IP1@,@IP2@,HTTPSRVR=@IP1@",
];

fn lines(out: &str) -> Vec<&str> {
    out.lines().map(str::trim).collect()
}

fn value<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
}

fn in_net(ip: &str, net: &str) -> bool {
    ip.parse::<Ipv4Addr>().is_ok() && ip.starts_with(&format!("{net}."))
}

fn fill(s: &str, lab: &Lab) -> String {
    s.replace("@IP1@", &lab.srv_ip1().to_string())
        .replace("@IP2@", &lab.srv_ip2().to_string())
}

/// `phone dhcp` prints the lease and every SSON parameter, the SSON parsed as phone-settings
/// parses it (Decision 2), against both servers.
#[test]
fn lease_with_every_sson_parameter() {
    let runs = [
        ("dh1", Dhcp::Dnsmasq, SSONS[0]),
        ("dh2", Dhcp::Kea, SSONS[0]),
        ("dh11", Dhcp::Dnsmasq, SSONS[1]),
        ("dh12", Dhcp::Kea, SSONS[1]),
    ];
    for (id, dhcp, sson) in runs {
        let lab = Lab::up(LabConfig {
            dhcp,
            sson: Some(sson.to_string()),
            http: false,
            scep: false,
            kam1: false,
            kam2: false,
            ..LabConfig::new(id)
        });
        let out = lab.run_cli(
            &[PHONE, "dhcp", "--iface", lab.client_if(), "--timeout", "30"],
            secs(60),
        );
        assert!(out.success(), "{dhcp:?}: {out:?}");
        let o = &out.stdout;
        let ip = value(o, "IPADD").unwrap();
        assert!(in_net(ip, lab.net()), "{ip}");
        assert_eq!(value(o, "NETMASK"), Some("255.255.255.0"));
        assert_eq!(value(o, "ROUTER"), Some(lab.srv_ip1().to_string().as_str()));
        assert_eq!(value(o, "LEASE"), Some("3600"));
        assert!(value(o, "DNSSRVR").is_some() && value(o, "DOMAIN").is_some());
        // The first six lines are the standard ones, in this order.
        let names: Vec<&str> = lines(o)
            .iter()
            .take(6)
            .map(|l| l.split('=').next().unwrap())
            .collect();
        assert_eq!(
            names,
            ["IPADD", "NETMASK", "ROUTER", "DNSSRVR", "DOMAIN", "LEASE"]
        );
        // Every pair of the SSON the server sent, validated and normalised by phone-settings.
        let sent = fill(sson, &lab);
        let (pairs, warnings) = phone_settings::parse_sson(sent.as_bytes());
        assert!(warnings.is_empty(), "test SSON must be valid: {warnings:?}");
        assert_eq!(
            pairs.len(),
            sent.split(',').filter(|t| t.contains('=')).count()
        );
        let printed = lines(o);
        for p in &pairs {
            let want = format!("{}={}", p.name, String::from_utf8_lossy(&p.value));
            assert!(
                printed.contains(&want.as_str()),
                "{dhcp:?}: missing {want} in\n{o}"
            );
        }
        // The address is really configured on the interface.
        let addr = lab.run_cli_ok(
            &["ip", "-4", "addr", "show", "dev", lab.client_if()],
            secs(5),
        );
        assert!(addr.contains(&format!("{ip}/24")), "{addr}");
    }
}

/// A second run with the stored lease does INIT-REBOOT and is ACKed without a DISCOVER; a
/// foreign stored address is NAKed and a fresh DISCOVER then succeeds.
#[test]
fn init_reboot_acked_then_foreign_address_naked() {
    for (id, dhcp) in [("dh3", Dhcp::Dnsmasq), ("dh4", Dhcp::Kea)] {
        let lab = Lab::up(LabConfig {
            dhcp,
            http: false,
            scep: false,
            kam1: false,
            kam2: false,
            ..LabConfig::new(id)
        });
        let state = lab.state_dir().join("phone-dhcp.lease");
        let st = state.to_str().unwrap();
        let args = [
            PHONE,
            "dhcp",
            "--iface",
            lab.client_if(),
            "--timeout",
            "30",
            "--state",
            st,
        ];
        let _ = std::fs::remove_file(&state);
        let first = lab.run_cli(&args, secs(60));
        assert!(first.success(), "{first:?}");
        assert!(!first.stderr.contains("INIT-REBOOT"), "{first:?}");
        let ip = value(&first.stdout, "IPADD").unwrap().to_string();
        let log_before = lab.log(Server::Dhcp).len();

        let second = lab.run_cli(&args, secs(60));
        assert!(second.success(), "{second:?}");
        assert!(
            second
                .stderr
                .contains(&format!("INIT-REBOOT with the stored address {ip}"))
        );
        assert_eq!(value(&second.stdout, "IPADD"), Some(ip.as_str()));
        assert!(!second.stderr.contains("DHCPNAK"), "{}", second.stderr);
        let log = lab.log(Server::Dhcp)[log_before..].to_string();
        // dnsmasq logs DHCPDISCOVER/DHCPREQUEST; kea logs DHCP4_LEASE_ADVERT for an offer and
        // DHCP4_INIT_REBOOT for this request.
        assert!(
            !log.contains("DISCOVER") && !log.contains("LEASE_ADVERT"),
            "{dhcp:?}: INIT-REBOOT must not DISCOVER:\n{log}"
        );
        assert!(
            log.contains("DHCPREQUEST") || log.contains("DHCP4_INIT_REBOOT"),
            "{dhcp:?}:\n{log}"
        );

        // A stored address from another network: NAK, then DISCOVER.
        std::fs::write(&state, "IPADD=192.0.2.77\n").unwrap();
        let third = lab.run_cli(&args, secs(60));
        assert!(third.success(), "{third:?}");
        assert!(
            third.stderr.contains("DHCPNAK"),
            "{dhcp:?}: {}",
            third.stderr
        );
        let again = value(&third.stdout, "IPADD").unwrap();
        assert!(in_net(again, lab.net()), "{again}");
        // The lease file now holds the new address.
        assert!(
            std::fs::read_to_string(&state)
                .unwrap()
                .contains(&format!("IPADD={again}"))
        );
        // Leave the interface clean for the next loop (different lab anyway).
        let _ = lab.run_cli(
            &[
                PHONE,
                "dhcp",
                "--iface",
                lab.client_if(),
                "--timeout",
                "30",
                "--release",
            ],
            secs(60),
        );
    }
}

/// kea with a 20 s lease: the phone renews at T1 (unicast), and when unicast to the server is
/// blocked, rebinds by broadcast at T2.
#[test]
fn renew_then_rebind_on_a_short_kea_lease() {
    let lab = Lab::up(LabConfig {
        dhcp: Dhcp::Kea,
        lease_secs: 20,
        http: false,
        scep: false,
        kam1: false,
        kam2: false,
        ..LabConfig::new("dh5")
    });
    let phone = lab.spawn_cli(
        "phone-dhcp",
        &[
            PHONE,
            "dhcp",
            "--iface",
            lab.client_if(),
            "--timeout",
            "30",
            "--hold",
            "45",
        ],
    );
    assert!(
        phone.wait_output(secs(30), |o| o.contains("RENEWED")),
        "no renewal:\n{}{}",
        phone.stdout(),
        phone.stderr()
    );
    assert_eq!(value(&phone.stdout(), "LEASE"), Some("20"));
    // Block unicast to the server: RENEWING fails, REBINDING (broadcast) must succeed.
    let srv = lab.srv_ip1().to_string();
    for cmd in [
        vec!["nft", "add", "table", "ip", "phonetest"],
        vec![
            "nft",
            "add",
            "chain",
            "ip",
            "phonetest",
            "out",
            "{ type filter hook output priority 0 ; }",
        ],
        vec![
            "nft",
            "add",
            "rule",
            "ip",
            "phonetest",
            "out",
            "ip",
            "daddr",
            srv.as_str(),
            "udp",
            "dport",
            "67",
            "drop",
        ],
    ] {
        lab.run_cli_ok(&cmd, secs(5));
    }
    assert!(
        phone.wait_output(secs(30), |o| o.contains("REBOUND")),
        "no rebind:\n{}{}",
        phone.stdout(),
        phone.stderr()
    );
    let log = lab.log(Server::Dhcp);
    assert!(
        log.contains("DHCP4_LEASE_ALLOC") || log.contains("DHCPACK"),
        "{log}"
    );
}

/// Another host answers ARP for the reserved address: the phone sends DHCPDECLINE, shows the
/// conflict, and the server logs the DECLINE. The probe takes 0.2 s now (Decision 11) and the
/// phone waits 10 s after a DECLINE before it asks again (RFC 2131 §3.1.5), so within 8 s no
/// lease can be bound; what it gets after that wait is lab_boot's `arp_conflict_*` test.
#[test]
fn conflicting_address_is_declined() {
    for (id, dhcp) in [("dh6", Dhcp::Dnsmasq), ("dh7", Dhcp::Kea)] {
        let lab = Lab::up(LabConfig {
            dhcp,
            hosts: vec![StaticHost::client("@NET@.20", None)],
            http: false,
            scep: false,
            kam1: false,
            kam2: false,
            ..LabConfig::new(id)
        });
        let taken = format!("{}.20", lab.net());
        lab.run_srv(
            &[
                "ip",
                "addr",
                "add",
                &format!("{taken}/24"),
                "dev",
                lab.env("SRV_IF"),
            ],
            secs(5),
        );
        let out = lab.run_cli(
            &[PHONE, "dhcp", "--iface", lab.client_if(), "--timeout", "8"],
            secs(60),
        );
        assert!(!out.success(), "no lease can be bound: {out:?}");
        assert!(
            out.stdout.contains(&format!("CONFLICT={taken}")),
            "{dhcp:?}: {out:?}"
        );
        assert!(out.stderr.contains("Address conflict"), "{out:?}");
        let log = lab.log(Server::Dhcp);
        assert!(
            log.contains("DECLINE"),
            "{dhcp:?}: server did not log a DECLINE:\n{log}"
        );
        // The declined address was never configured on the phone.
        let addr = lab.run_cli_ok(
            &["ip", "-4", "addr", "show", "dev", lab.client_if()],
            secs(5),
        );
        assert!(!addr.contains(&taken), "{addr}");
    }
}

/// The data subnet's SSON names the voice VLAN: the phone releases its data address and takes
/// a lease on the VLAN (real 802.1Q frames, the lab's user-space VLAN).
#[test]
fn phone_moves_to_the_voice_vlan() {
    let vid = 77u16;
    let lab = Lab::up(LabConfig {
        dhcp: Dhcp::Dnsmasq,
        vlan: Some(vid),
        sson: Some("L2Q=0,L2QVLAN=@VID@,VLANTEST=20,HTTPSRVR=@IP1@".to_string()),
        http: false,
        scep: false,
        kam1: false,
        kam2: false,
        ..LabConfig::new("dh8")
    });
    let vlan_if = lab.vlan_client_up();
    assert_eq!(vlan_if, format!("{}.{vid}", lab.client_if()));
    let out = lab.run_cli(
        &[PHONE, "dhcp", "--iface", lab.client_if(), "--timeout", "40"],
        secs(80),
    );
    assert!(out.success(), "{out:?}");
    let ip = value(&out.stdout, "IPADD").unwrap();
    assert!(
        in_net(ip, lab.vlan_net()),
        "lease on the voice VLAN expected: {out:?}"
    );
    assert_eq!(
        value(&out.stdout, "HTTPSRVR"),
        Some(lab.vlan_srv_ip().to_string().as_str())
    );
    assert!(
        out.stderr.contains(&format!("VLAN={vid}")),
        "{}",
        out.stderr
    );
    let log = lab.log(Server::Dhcp);
    assert!(
        log.contains("DHCPRELEASE"),
        "the data lease must be released:\n{log}"
    );
    let addr = lab.run_cli_ok(&["ip", "-4", "addr", "show", "dev", &vlan_if], secs(5));
    assert!(addr.contains(ip), "{addr}");
}

/// VLANTEST runs out on a dead voice VLAN: the phone falls back to untagged and gets a data
/// lease.
#[test]
fn vlan_fallback_after_vlantest() {
    let vid = 78u16;
    let lab = Lab::up(LabConfig {
        dhcp: Dhcp::Dnsmasq,
        vlan: Some(vid),
        http: false,
        scep: false,
        kam1: false,
        kam2: false,
        ..LabConfig::new("dh9")
    });
    lab.vlan_client_up();
    lab.stop(Server::Vlan);
    let vid_s = format!("L2QVLAN={vid}");
    let out = lab.run_cli(
        &[
            PHONE,
            "dhcp",
            "--iface",
            lab.client_if(),
            "--timeout",
            "40",
            "--set",
            &vid_s,
            "--set",
            "VLANTEST=6",
        ],
        secs(80),
    );
    assert!(out.success(), "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("no lease on VLAN {vid} within VLANTEST")),
        "{}",
        out.stderr
    );
    let ip = value(&out.stdout, "IPADD").unwrap();
    assert!(in_net(ip, lab.net()), "{out:?}");
}

/// No server: a clear message and a non-zero exit at the configured time.
#[test]
fn no_server_is_a_clear_error() {
    let lab = Lab::up(LabConfig {
        dhcp: Dhcp::None,
        http: false,
        scep: false,
        kam1: false,
        kam2: false,
        ..LabConfig::new("dh10")
    });
    let t0 = std::time::Instant::now();
    let out = lab.run_cli(
        &[PHONE, "dhcp", "--iface", lab.client_if(), "--timeout", "6"],
        secs(30),
    );
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("no DHCP lease"), "{}", out.stderr);
    assert!(t0.elapsed() >= secs(6) && t0.elapsed() < secs(15));
    assert!(out.stdout.is_empty());
}
