//! Host names resolved by the phone itself (issue 14, spec/link.md §3, Decision 12): `phone
//! boot` against the lab with its DNS server (a DNS-only dnsmasq on SRV_IP1:53 for lab.test),
//! named by the lease's option 6 with DOMAIN lab.test in option 15. The file server (TLSSRVR),
//! the SCEP URL (MYCERTURL) and the SIP controllers (SIP_CONTROLLER_LIST) are given as names;
//! the client namespace's resolv.conf points nowhere (192.0.2.1) for the whole test, so every
//! name that works went through the phone's own resolver (the DNS server's log shows each
//! query from the phone's address). A name that does not resolve fails over to the next
//! server with a warning.
//! Needs root and the lab packages (`sudo examples/lab/install`); ids `dn1`..`dn9`.

// Tests unwrap what they set up themselves.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use common::lab::{Lab, LabConfig, secs};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");

/// `phone boot --until registered` on a fresh state directory, trusting the lab CA.
fn boot(lab: &Lab, work: &std::path::Path) -> common::lab::CmdOutput {
    let state = work.join("state");
    let ca = lab.ca_cert();
    lab.run_cli(
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
            "LABDNS1",
            "--state-dir",
            state.to_str().unwrap(),
            "--trust",
            ca.to_str().unwrap(),
            "--until",
            "registered",
            "--user",
            "1001",
            "--password",
            "1001pass",
            "--log",
            "debug",
        ],
        secs(120),
    )
}

fn work_dir(id: &str) -> std::path::PathBuf {
    let work = std::env::temp_dir().join(format!("phone-lab-dns-{id}"));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).unwrap();
    work
}

/// The client namespace has no working resolver: the host library could not have answered.
fn resolver_is_nowhere(lab: &Lab) {
    let out = lab.run_cli(&["cat", "/etc/resolv.conf"], secs(5));
    assert_eq!(out.stdout.trim(), "nameserver 192.0.2.1", "{out:?}");
    let out = lab.run_cli(&["getent", "ahostsv4", "provisioning.lab.test"], secs(20));
    assert!(
        !out.success(),
        "the host's resolver answered in the client namespace: {out:?}"
    );
}

/// HTTPS file server, SCEP and SIP controllers by name, each with a name that does not resolve
/// before it: the boot registers, with a warning for each missing name, and every name was
/// asked of the lease's DNS server by the phone.
#[test]
fn names_resolve_through_the_lease_dns_and_the_boot_registers() {
    let mut cfg = LabConfig::new("dn1");
    // HTTPS by name, first a name that does not exist (the next server is used). The FQDN is
    // the server certificate's SAN: TLS verifies the name (TLSSRVRID 1), not the address.
    cfg.sson = Some("TLSSRVR=nowhere.lab.test,provisioning.lab.test".into());
    cfg.sip_tls = true;
    let lab = Lab::up_with_dns(cfg);
    let _nowhere = lab.client_resolver_nowhere();
    resolver_is_nowhere(&lab);
    let work = work_dir("dn1");
    let doc = lab.docroot();
    fs::write(doc.join("96x1Supgrade.txt"), "GET 46xxsettings.txt\n").unwrap();
    // Dotless names get DOMAIN (lab.test) appended; `nosuch` does not exist, sip1 is kam1.
    fs::write(
        doc.join("46xxsettings.txt"),
        format!(
            "SET SIP_CONTROLLER_LIST \"nosuch:5060;transport=udp,sip1:5060;transport=udp\"\n\
             SET SIPDOMAIN lab.test\nSET ENABLE_AVAYA_ENVIRONMENT 0\n\
             SET MYCERTURL \"http://scep.lab.test:{}/scep\"\nSET MYCERTCN $SERIALNO\n\
             SET SCEPPASSWORD \"{}\"\nSET MYCERTKEYLEN 2048\nSET TLSSRVRID 1\n",
            lab.env("SCEP_PORT"),
            lab.scep_challenge()
        ),
    )
    .unwrap();
    let out = boot(&lab, &work);
    let all = format!("{}\n{}", out.stdout, out.stderr);
    let dns = lab.dns_log();
    assert!(
        out.success(),
        "phone boot failed\n{all}\n---- dns.log ----\n{dns}"
    );
    let ip1 = lab.srv_ip1();
    assert!(
        out.stdout
            .contains(&format!("REGISTERED controller={ip1}:5060")),
        "{all}"
    );
    assert!(out.stdout.contains("CERTIFICATE held"), "{all}");
    // The names that do not exist: a warning each, and the boot went on to the next one.
    for missing in ["nowhere.lab.test", "nosuch"] {
        assert!(
            all.contains(&format!(
                "DNS: {missing} failed: no such name (DNS server {ip1})"
            )),
            "no warning for {missing}\n{all}"
        );
    }
    // Every name asked of the lease's DNS server, from the phone's address, DOMAIN appended to
    // the dotless ones.
    let phone_ip = all
        .lines()
        .filter(|l| l.contains(" routers "))
        .find_map(|l| l.split("address ").nth(1))
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address line\n{all}"))
        .to_string();
    for name in [
        "nowhere.lab.test",
        "provisioning.lab.test",
        "scep.lab.test",
        "nosuch.lab.test",
        "sip1.lab.test",
    ] {
        assert!(
            dns.contains(&format!("query[A] {name} from {phone_ip}")),
            "{name} not asked by {phone_ip}\n{dns}"
        );
    }
    // The phone asks for A records only.
    assert!(
        !dns.contains(&format!(
            "query[AAAA] provisioning.lab.test from {phone_ip}"
        )),
        "{dns}"
    );
    // Kamailio has the contact.
    let ul = lab.kam_ul_dump(common::lab::Server::Kam1);
    assert!(ul.contains("1001"), "{ul}");
}

/// A controller named by a name with two A records expands in place into two controllers;
/// the phone registers with one of the name's addresses.
#[test]
fn a_named_controller_with_two_addresses_registers() {
    let mut cfg = LabConfig::new("dn2");
    cfg.sson = Some("HTTPSRVR=provisioning,SIP_CONTROLLER_LIST=sip:5060;transport=udp".into());
    cfg.scep = false;
    let lab = Lab::up_with_dns(cfg);
    let _nowhere = lab.client_resolver_nowhere();
    resolver_is_nowhere(&lab);
    let work = work_dir("dn2");
    let doc = lab.docroot();
    fs::write(doc.join("96x1Supgrade.txt"), "GET 46xxsettings.txt\n").unwrap();
    fs::write(
        doc.join("46xxsettings.txt"),
        "SET SIPDOMAIN lab.test\nSET ENABLE_AVAYA_ENVIRONMENT 0\n",
    )
    .unwrap();
    let out = boot(&lab, &work);
    let all = format!("{}\n{}", out.stdout, out.stderr);
    let dns = lab.dns_log();
    assert!(out.success(), "{all}\n---- dns.log ----\n{dns}");
    // Both A records became controllers (SIPREGPROXYPOLICY simultaneous, the 96x1 default,
    // registers with each; `--until registered` stops at the first): the one reported is one
    // of the two addresses the name had, and its registrar has the contact.
    let answer: Vec<String> = dns
        .lines()
        .filter_map(|l| l.split("config sip.lab.test is ").nth(1))
        .map(|a| a.trim().to_string())
        .collect();
    assert_eq!(answer.len(), 2, "{dns}");
    let registered = answer
        .iter()
        .find(|a| {
            out.stdout
                .contains(&format!("REGISTERED controller={a}:5060"))
        })
        .unwrap_or_else(|| panic!("registered with neither of {answer:?}\n{all}"));
    let kam = if *registered == lab.srv_ip1().to_string() {
        common::lab::Server::Kam1
    } else {
        common::lab::Server::Kam2
    };
    let ul = lab.kam_ul_dump(kam);
    assert!(ul.contains("1001"), "{ul}");
}
