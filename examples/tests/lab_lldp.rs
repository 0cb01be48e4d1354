//! Stage 1, LLDP-MED (issue 14, link.md §1), against a real switch agent: lldpd 1.0.16 in the
//! lab's server namespace as a network connectivity device announcing a voice policy (VLAN 30
//! tagged, priority 5, DSCP 46; examples/lab `lldp`, more-servers.md §2).
//!
//! `phone boot` learns VLAN 30 from it, runs DHCP again on VLAN 30 (this kernel has no 802.1Q:
//! the lab's user-space VLAN relay carries the tagged frames) and registers with the controller
//! the VLAN's lease names; lldpd sees the phone as an LLDP-MED Class III endpoint with its
//! inventory. With LLDP_ENABLED 0 (from the settings file of the boot before) the phone sends no
//! LLDP frame at all while the switch keeps talking.
//! Needs root and the lab packages (`sudo examples/lab/install`); ids `lp1`, `lp2`.

// Tests unwrap what they set up themselves.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::lab::{BgProc, Lab, LabConfig, Server, secs};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");
const VID: u16 = 30;
const SERIAL: &str = "LLDP0001";

/// A lab with the voice VLAN 30, dnsmasq on both VLANs, nginx and kamailio #1, and lldpd;
/// the docroot's upgrade script fetches only the settings file (`settings`), so the boot
/// goes from the files straight to SIP. The data VLAN's SSON names SRV_IP1 as file server
/// and controller, the voice VLAN's the VLAN address.
fn lab(id: &str, settings: &str) -> (Lab, PathBuf) {
    let lab = Lab::up(LabConfig {
        vlan: Some(VID),
        scep: false,
        kam2: false,
        ..LabConfig::new(id)
    });
    assert_eq!(lab.vlan_client_up(), lab.vlan_client_if());
    let doc = lab.docroot();
    fs::write(doc.join("96x1Supgrade.txt"), "GET 46xxsettings.txt\n").unwrap();
    fs::write(doc.join("46xxsettings.txt"), settings).unwrap();
    lab.start_lldpd();
    let state = std::env::temp_dir().join(format!("phone-lab-lldp-{id}"));
    let _ = fs::remove_dir_all(&state);
    (lab, state)
}

/// `phone boot` in the background on the client veth with the lab's identity.
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
            SERIAL,
            "--state-dir",
            state.to_str().unwrap(),
            "--user",
            "1001",
            "--password",
            "1001pass",
        ],
    )
}

/// Waits (at most `timeout`) until the phone printed `REGISTERED controller=ADDR:5060`.
fn wait_registered(phone: &BgProc, at: std::net::Ipv4Addr, timeout: Duration) {
    let want = format!("REGISTERED controller={at}:5060");
    assert!(
        phone.wait_output(timeout, |o| o.contains(&want)),
        "no {want:?} within {timeout:?}:\n{}\n{}",
        phone.stdout(),
        phone.stderr()
    );
}

#[test]
fn phone_learns_vlan_30_from_lldp_takes_a_lease_there_and_registers() {
    let (lab, state) = lab("lp1", "SET SIPDOMAIN lab.test\n");
    let vip = lab.vlan_srv_ip();
    let t0 = Instant::now();
    let mut phone = spawn_boot(&lab, &state, "phone-lldp");
    wait_registered(&phone, vip, secs(90));
    let took = t0.elapsed();
    // Let a frame carrying the phone's address on the VLAN reach the switch (1 s apart).
    std::thread::sleep(secs(2));
    phone.kill();
    let out = format!("{}{}", phone.stdout(), phone.stderr());
    eprintln!("registered on VLAN {VID} after {took:?}");

    // The switch's policy, as the phone logged it, moved DHCP to the VLAN.
    assert!(
        out.contains(&format!(
            "LLDP voice policy: VLAN {VID} tagged, priority 5, DSCP 46"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("| VLAN ID = {VID}")), "{out}");
    // DHCP again on VLAN 30: dnsmasq acknowledged a lease on its voice interface, and that is
    // where the phone's address is now.
    let dhcp = lab.log(Server::Dhcp);
    let vlan_srv_if = lab.env("VLAN_SRV_IF").to_string();
    assert!(
        dhcp.lines()
            .any(|l| l.contains(&format!("DHCPACK({vlan_srv_if})"))
                && l.contains(&format!(" {}.", lab.vlan_net()))),
        "no lease on the voice VLAN:\n{dhcp}"
    );
    let addr = lab.run_cli_ok(
        &["ip", "-4", "addr", "show", "dev", lab.vlan_client_if()],
        secs(5),
    );
    assert!(
        addr.contains(&format!("inet {}.", lab.vlan_net())),
        "{addr}"
    );
    // Registered there: the contact kamailio holds is on the voice VLAN.
    assert!(lab.kam_ul_dump(Server::Kam1).contains("AoR: 1001"));
    let ctl = format!("unix:{}", lab.env("KAM1_CTL"));
    let contact = lab.run_srv(
        &["kamcmd", "-s", &ctl, "ul.lookup", "location", "s:1001"],
        secs(10),
    );
    assert!(
        contact.stdout.contains(&format!("@{}.", lab.vlan_net())),
        "{contact:?}"
    );

    // The switch sees the phone's MED inventory (model, serial, firmware = the running app).
    let n = lab.lldp_neighbors();
    let iface = lab.env("VETH_SRV").to_string();
    let key = |k: &str| format!("lldp.{iface}.{k}");
    let get = |k: &str| n.get(&key(k)).map(String::as_str);
    assert_eq!(
        get("chassis.mac"),
        Some(lab.client_mac()),
        "neighbours: {n:#?}"
    );
    assert_eq!(
        get("lldp-med.device-type"),
        Some("Communication Device Endpoint (Class III)"),
        "{n:#?}"
    );
    assert_eq!(get("lldp-med.inventory.model"), Some("9611G"), "{n:#?}");
    assert_eq!(get("lldp-med.inventory.serial"), Some(SERIAL), "{n:#?}");
    assert_eq!(
        get("lldp-med.inventory.firmware"),
        Some("factory.bin"),
        "{n:#?}"
    );
    // Its last frame gave its address on the voice VLAN.
    assert!(
        get("chassis.mgmt-ip").is_some_and(|ip| ip.starts_with(&format!("{}.", lab.vlan_net()))),
        "{n:#?}"
    );
    let _ = fs::remove_dir_all(&state);
}

#[test]
fn lldp_enabled_0_sends_nothing() {
    let (lab, state) = lab("lp2", "SET SIPDOMAIN lab.test\nSET LLDP_ENABLED 0\n");
    // Boot 1 starts from the factory settings (LLDP_ENABLED 2) and stores the settings file's
    // LLDP_ENABLED 0. Its agent stops when the file stage is over: if it had answered the
    // switch by then, its TTL 0 frame made the switch forget it.
    let mut phone = spawn_boot(&lab, &state, "phone-lldp-1");
    assert!(
        phone.wait_output(secs(90), |o| o.contains("REGISTERED controller=")),
        "boot 1 did not register:\n{}\n{}",
        phone.stdout(),
        phone.stderr()
    );
    phone.kill();
    std::thread::sleep(secs(1));
    let n = lab.lldp_neighbors();
    assert!(
        !n.keys().any(|k| k.contains("lldp-med.inventory")),
        "the switch still lists the phone: {n:#?}"
    );

    // Boot 2 starts from the stored settings: LLDP_ENABLED 0 from power-on. The file server is
    // down, so the file stage walks its servers for seconds (the switch talks once a second all
    // the while) before the boot goes on with the stored settings. Everything LLDP on the
    // server's veth is captured while the phone boots and for 3 s after it registered.
    lab.stop(Server::Http);
    let dump = lab.spawn_srv_capture(
        "lldp-dump",
        &[
            "tcpdump",
            "-i",
            lab.env("VETH_SRV"),
            "-n",
            "-e",
            "-l",
            "ether",
            "proto",
            "0x88cc",
        ],
    );
    let t0 = Instant::now();
    let mut phone = spawn_boot(&lab, &state, "phone-lldp-2");
    // Without LLDP the phone stays on the data VLAN: registered with SRV_IP1.
    wait_registered(&phone, lab.srv_ip1(), secs(90));
    std::thread::sleep(secs(3));
    phone.kill();
    let span = t0.elapsed();
    let frames = dump.stop();
    let out = format!("{}{}", phone.stdout(), phone.stderr());
    let from_phone: Vec<&str> = frames
        .lines()
        .filter(|l| l.contains(&format!(" {} > ", lab.client_mac())))
        .collect();
    let from_switch = frames.lines().filter(|l| l.contains("LLDP")).count() - from_phone.len();
    eprintln!(
        "{from_switch} switch frames in {span:?}, {} from the phone",
        from_phone.len()
    );
    assert!(
        from_switch >= 4,
        "the switch must keep talking during the boot:\n{frames}"
    );
    assert!(
        from_phone.is_empty(),
        "LLDP_ENABLED 0 sent:\n{from_phone:#?}"
    );
    assert!(!out.contains("LLDP voice policy"), "{out}");
    assert!(!out.contains(&format!("| VLAN ID = {VID}")), "{out}");
    let _ = fs::remove_dir_all(&state);
}
