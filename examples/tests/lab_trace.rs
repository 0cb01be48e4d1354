//! Issue 15 end to end: `phone boot --record` records a first boot against the lab's real
//! servers (DHCP → HTTPS files → flash → restart → SCEP → TLS REGISTER), `phone replay` runs it
//! again with no network at all (an empty network namespace) and every output matches, a copy
//! with one byte of one recorded input changed fails at the first divergence and names it, and
//! `phone timeline` draws every stage and every request.
//! Needs root and the lab packages (`sudo examples/lab/install`); ids `tr1`..`tr9`.

// Tests unwrap what they set up themselves.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::lab::{Lab, LabConfig, secs};
use phone_boot::boot::{Peer, Transmit};
use phone_boot::trace::{Entry, InputRecord, OutputRecord, Trace};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");
const APP: &str = "demo-fw-1.0.bin";
const PASSWORD: &str = "1001pass";

/// The lab of `lab_boot`'s first boot: HTTPS files with a signed image, SCEP, two TLS
/// registrars that require the SCEP certificate.
struct Rig {
    lab: Lab,
    work: PathBuf,
}

fn rig(id: &str) -> Rig {
    let mut cfg = LabConfig::new(id);
    cfg.sson = Some("HTTPSRVR=@IP1@,TLSSRVR=@IP1@".into());
    cfg.sip_tls_verify_client = true;
    let lab = Lab::up(cfg);
    let work = std::env::temp_dir().join(format!("phone-lab-trace-{id}"));
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
    let out = lab.run_cli(
        &[
            PHONE,
            "firmware",
            "sign",
            "--key",
            keys.join("firmware-key.pem").to_str().unwrap(),
            "--app",
            APP,
            doc.join(APP).to_str().unwrap(),
        ],
        secs(20),
    );
    assert!(out.success(), "{}", out.stderr);
    fs::write(
        doc.join("96x1Supgrade.txt"),
        format!("SET APPNAME {APP}\nGET 46xxsettings.txt\n"),
    )
    .unwrap();
    let (ip1, ip2) = (lab.srv_ip1(), lab.srv_ip2());
    fs::write(
        doc.join("46xxsettings.txt"),
        format!(
            "SET SIP_CONTROLLER_LIST \"{ip1}:5061;transport=tls,{ip2}:5061;transport=tls\"\n\
             SET SIPDOMAIN lab.test\nSET MYCERTURL \"{}\"\nSET SCEPPASSWORD \"{}\"\n\
             SET MYCERTKEYLEN 2048\nSET TRUSTCERTS lab-ca.pem\nSET TLSSRVRID 1\n",
            lab.scep_url(),
            lab.scep_challenge()
        ),
    )
    .unwrap();
    Rig { lab, work }
}

/// `phone ARGS` outside the lab, in a network namespace of its own with nothing in it (no
/// interface but a down loopback): whatever it does, it does without a network.
fn offline(args: &[&str]) -> Output {
    let out = Command::new("unshare")
        .arg("--net")
        .arg(PHONE)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("phone {}:\n{text}{err}", args.join(" "));
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn copy_with_secrets(from: &Path, to: &Path, trace: &[u8]) {
    fs::write(to, trace).unwrap();
    let s = PathBuf::from(format!("{}.secrets", from.display()));
    fs::copy(&s, format!("{}.secrets", to.display())).unwrap();
}

#[test]
fn a_recorded_first_boot_replays_offline_and_draws_its_timeline() {
    let rig = rig("tr1");
    let file = rig.work.join("first-boot.trace");
    let secrets = PathBuf::from(format!("{}.secrets", file.display()));
    let state = rig.work.join("state");
    let ca = rig.lab.ca_cert();
    let key = rig.work.join("keys").join("firmware-pub.pem");
    let boot = rig.lab.run_cli(
        &[
            PHONE,
            "boot",
            "--iface",
            rig.lab.client_if(),
            "--model",
            "9611G",
            "--mac",
            rig.lab.client_mac(),
            "--serial",
            "LAB0001",
            "--state-dir",
            state.to_str().unwrap(),
            "--firmware-key",
            key.to_str().unwrap(),
            "--trust",
            ca.to_str().unwrap(),
            "--until",
            "registered",
            "--user",
            "1001",
            "--password",
            PASSWORD,
            "--record",
            file.to_str().unwrap(),
        ],
        secs(150),
    );
    assert!(boot.success(), "{}\n{}", boot.stdout, boot.stderr);
    assert!(
        boot.stdout.contains("| Saving to flash 100%"),
        "{}",
        boot.stdout
    );
    assert!(boot.stdout.contains("CERTIFICATE held"), "{}", boot.stdout);
    assert!(
        boot.stdout.contains("REGISTERED controller="),
        "{}",
        boot.stdout
    );

    // The trace and its secrets: the password, the challenge and the SCEP key are only in the
    // secrets file, which only its owner may read.
    let bytes = fs::read(&file).unwrap();
    let secret_bytes = fs::read(&secrets).unwrap();
    assert_eq!(
        fs::metadata(&secrets).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for s in [PASSWORD, rig.lab.scep_challenge()] {
        assert!(!contains(&bytes, s.as_bytes()), "{s} in the trace");
        assert!(
            contains(&secret_bytes, s.as_bytes()),
            "{s} not in the secrets"
        );
    }
    let trace = Trace::decode(&bytes, Some(&secret_bytes)).unwrap();
    assert_eq!(trace.power_ons.len(), 2, "flash, restart, second power-on");
    assert!(trace.power_ons[1].made_identity, "SCEP ran in power-on 2");
    let key_der = {
        let rec = fs::read(state.join("record.bin")).unwrap();
        let rec = phone_boot::boot::record::Record::decode(&rec).unwrap();
        rec.identity.unwrap().key_pkcs8
    };
    assert!(!contains(&bytes, &key_der[..64]));

    // Replay with no network: every output matches.
    let out = offline(&["replay", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("REPLAY OK power-ons=2"), "{stdout}");

    // One byte of one recorded input changed (the xid of the first DHCP answer): replay names
    // the first divergence and shows both sides.
    let mut damaged = trace.clone();
    let (p, i) = damaged
        .power_ons
        .iter()
        .enumerate()
        .find_map(|(p, po)| {
            po.entries
                .iter()
                .position(|e| {
                    matches!(
                        e,
                        Entry::Input(InputRecord::Receive(
                            _,
                            Peer::Dhcp(phone_dhcp::Link::Udp),
                            _
                        ))
                    )
                })
                .map(|i| (p, i))
        })
        .unwrap();
    if let Entry::Input(InputRecord::Receive(_, _, b)) = &mut damaged.power_ons[p].entries[i] {
        b[4] ^= 0x01;
    }
    let copy = rig.work.join("damaged.trace");
    let encoded = damaged.encode();
    // Exactly one byte differs from the recorded file.
    assert_eq!(encoded.trace.len(), bytes.len());
    assert_eq!(
        encoded
            .trace
            .iter()
            .zip(&bytes)
            .filter(|(a, b)| a != b)
            .count(),
        1
    );
    copy_with_secrets(&file, &copy, &encoded.trace);
    let out = offline(&["replay", copy.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("REPLAY DIVERGED"), "{stdout}");
    assert!(stdout.contains(&format!("power-on {}", p + 1)), "{stdout}");
    assert!(
        stdout.contains("recorded:") && stdout.contains("replayed:"),
        "{stdout}"
    );
    assert!(stdout.contains("DHCP"), "{stdout}");

    // Without its secrets file the trace still draws, but does not replay.
    let bare = rig.work.join("bare.trace");
    fs::write(&bare, &bytes).unwrap();
    let out = offline(&["replay", bare.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));

    // The timeline: every stage, every request (URI and status), every SCEP operation,
    // every DHCP message and REGISTER with its answer.
    let svg_path = rig.work.join("first-boot.svg");
    let out = offline(&[
        "timeline",
        bare.to_str().unwrap(),
        "--out",
        svg_path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let svg = fs::read_to_string(&svg_path).unwrap();
    for stage in [
        "network",
        "files",
        "software",
        "certificate",
        "registration",
    ] {
        assert!(
            svg.contains(&format!("data-stage=\"{stage}\"")),
            "no {stage}"
        );
    }
    let ip1 = rig.lab.srv_ip1();
    for needle in [
        format!("GET https://{ip1}:443/96x1Supgrade.txt → 200"),
        format!("GET https://{ip1}:443/46xxsettings.txt → 200"),
        format!("GET https://{ip1}:443/lab-ca.pem → 200"),
        format!("/{APP}.sig → 200"),
        format!("/{APP} → 200"),
        "GetCACaps → 200".into(),
        "GetCACert → 200".into(),
        "PKIOperation → 200".into(),
        "→ DHCPDISCOVER".into(),
        "← DHCPACK".into(),
        "REGISTER to ".into(),
        ") → 401 Unauthorized".into(),
        ") → 200 OK".into(),
        "flash slot B".into(),
        "reached registered".into(),
    ] {
        assert!(
            svg.contains(&needle),
            "{needle} not drawn ({})",
            svg_path.display()
        );
    }
    let requests = trace
        .power_ons
        .iter()
        .flat_map(|p| &p.entries)
        .filter(|e| {
            matches!(
                e,
                Entry::Output(OutputRecord::Transmit(Transmit::Files(h) | Transmit::Scep(h)))
                    if matches!(h.action, phone_http::Action::Connect { .. })
            )
        })
        .count();
    assert_eq!(
        svg.matches("class=\"mark http").count() + svg.matches("class=\"mark scep").count(),
        requests
    );
    eprintln!("timeline: {}", svg_path.display());
}
