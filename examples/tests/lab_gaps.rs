//! The gaps of issue 12 item 6 against the lab's real servers: SCEP renewal at a later boot
//! (scepserver issues, the phone renews once MYCERTRENEW % of the certificate's validity has
//! passed on its wall clock), REBOOTING that keeps the stored lease when the DHCP server is
//! silent (RFC 2131 §3.2, kea), MAX_TRUSTCERTS over TRUSTCERTS files nginx serves, and an image
//! signed for a MODEL4 flashed on the full model. Needs root and the lab packages
//! (`sudo examples/lab/install`); ids `gap1`..`gap9`.

// Tests unwrap what they set up themselves.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::lab::{Dhcp, Lab, LabConfig, Server, secs};
use phone_boot::boot::record::Record;
use phone_scep::der::Decode as _;
use phone_scep::x509_cert::Certificate;

const PHONE: &str = env!("CARGO_BIN_EXE_phone");

/// A lab without TLS registrars, its upgrade script naming no software and its settings
/// registering over UDP, plus `settings`; the phone's state directory and work dir.
struct Rig {
    lab: Lab,
    work: PathBuf,
}

impl Rig {
    fn new(mut cfg: LabConfig, settings: &str) -> Rig {
        cfg.sip_tls = false;
        let id = cfg.id.clone();
        let lab = Lab::up(cfg);
        let work = std::env::temp_dir().join(format!("phone-lab-gaps-{id}"));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).unwrap();
        let doc = lab.docroot();
        fs::write(doc.join("96x1Supgrade.txt"), "GET 46xxsettings.txt\n").unwrap();
        fs::write(
            doc.join("46xxsettings.txt"),
            format!(
                "SET SIP_CONTROLLER_LIST \"{}:5060;transport=udp\"\nSET SIPDOMAIN lab.test\n{settings}",
                lab.srv_ip1()
            ),
        )
        .unwrap();
        Rig { lab, work }
    }

    fn state(&self) -> PathBuf {
        self.work.join("state")
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let state = self.state();
        let mut a = vec![
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
            "--user",
            "1001",
            "--password",
            "1001pass",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect()
    }

    /// `phone boot ... extra`, at most `timeout`.
    fn boot(&self, extra: &[&str], timeout: Duration) -> common::lab::CmdOutput {
        let args = self.args(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.lab.run_cli(&args, timeout)
    }

    /// The record the phone stored (record.bin), read as the phone reads it.
    fn record(&self) -> Record {
        let bytes = fs::read(self.state().join("record.bin")).unwrap();
        let s = Record::decode_lenient(&bytes);
        assert!(s.is_intact(), "record damaged: {:?}", s.damage);
        s.record
    }
}

/// scepserver's depot index, the lines of the phone's subject (the depot outlives a lab run).
fn depot_index(rig: &Rig) -> Vec<String> {
    let path = rig
        .lab
        .state_dir()
        .join("scep")
        .join("depot")
        .join("index.txt");
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("/CN=LAB0001"))
        .map(String::from)
        .collect()
}

fn certificate(r: &Record) -> Certificate {
    let id = r.identity.as_ref().expect("an identity in the record");
    Certificate::from_der(&id.certificate).unwrap()
}

/// The last address `phone boot` configured (its `address A/P ...` log line).
fn configured_address(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .filter_map(|l| l.split("address ").nth(1))
        .filter_map(|r| r.split('/').next().map(str::to_string))
        .next_back()
}

/// MYCERTRENEW (scep.md §7): the first boot enrolls with scepserver (365-day certificates);
/// a later boot whose wall clock has passed MYCERTRENEW % of the validity renews in the
/// background, keeps registering with the old identity meanwhile, and stores the new
/// certificate (another serial, a new key, the same subject) once scepserver issues it; a
/// boot before the point does not contact the CA.
#[test]
fn a_later_boot_past_mycertrenew_renews_the_certificate() {
    let mut cfg = LabConfig::new("gap1");
    cfg.kam2 = false;
    let challenge = cfg.scep_challenge.clone();
    let rig = Rig::new(cfg, "");
    fs::write(
        rig.lab.docroot().join("46xxsettings.txt"),
        format!(
            "SET SIP_CONTROLLER_LIST \"{}:5060;transport=udp\"\nSET SIPDOMAIN lab.test\n\
             SET MYCERTURL \"{}\"\nSET SCEPPASSWORD \"{challenge}\"\nSET MYCERTKEYLEN 1024\n\
             SET MYCERTRENEW 80\n",
            rig.lab.srv_ip1(),
            rig.lab.scep_url()
        ),
    )
    .unwrap();

    let first = rig.boot(&["--until", "registered"], secs(120));
    assert!(first.success(), "{}\n{}", first.stdout, first.stderr);
    assert!(first.stdout.contains("| SCEP: 0 secs"), "{}", first.stdout);
    assert!(
        first.stdout.contains("CERTIFICATE held"),
        "{}",
        first.stdout
    );
    let r1 = rig.record();
    let c1 = certificate(&r1);
    let key1 = r1.identity.as_ref().unwrap().key_pkcs8.clone();
    let v = c1.tbs_certificate().validity();
    let (nb, na) = (
        v.not_before.to_unix_duration(),
        v.not_after.to_unix_duration(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    // 80 % of the validity, plus a day, on the phone's wall clock.
    let due = nb + (na - nb) * 80 / 100 + Duration::from_secs(86_400);
    let ahead = (due - now).as_secs().to_string();

    let before = depot_index(&rig);
    // A boot before the point: no SCEP at all.
    let early = rig.boot(&["--until", "registered"], secs(120));
    assert!(early.success(), "{}\n{}", early.stdout, early.stderr);
    assert!(!early.stdout.contains("| SCEP:"), "{}", early.stdout);
    assert_eq!(certificate(&rig.record()), c1);

    // Past the point: registered with the old identity first (the renewal never blocks the
    // boot), then the new certificate stored.
    let mut live = rig.lab.spawn_cli(
        "phone-renew",
        &rig.args(&["--clock-offset", &ahead])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let renewed = live.wait_output(secs(120), |o| o.contains("CERTIFICATE renewed"));
    let (out, err) = (live.stdout(), live.stderr());
    live.kill();
    assert!(renewed, "no renewal:\n{out}\n{err}");
    assert!(out.contains("CERTIFICATE held"), "{out}");
    assert!(
        out.find("CERTIFICATE held") < out.find("CERTIFICATE renewed"),
        "{out}"
    );
    assert!(
        !out.contains("| SCEP:"),
        "the boot waited for the renewal:\n{out}"
    );
    let r2 = rig.record();
    let c2 = certificate(&r2);
    assert_ne!(
        c2.tbs_certificate().serial_number(),
        c1.tbs_certificate().serial_number()
    );
    assert_eq!(
        c2.tbs_certificate().subject(),
        c1.tbs_certificate().subject()
    );
    assert_ne!(r2.identity.as_ref().unwrap().key_pkcs8, key1, "same key");
    assert!(
        c2.tbs_certificate().validity().not_after.to_unix_duration() >= na,
        "not a newer certificate"
    );
    // scepserver issued one more certificate for the subject and revoked the one before
    // (its depot index: R = revoked, V = valid).
    let after = depot_index(&rig);
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    assert_eq!(
        after.iter().filter(|l| l.starts_with('V')).count(),
        1,
        "{after:?}"
    );
    assert!(after.last().unwrap().starts_with('V'), "{after:?}");
    // RFC 8894 renewal: scepserver lists Renewal in GetCACaps, so the request was a
    // RenewalReq (signed with the old certificate and key); the first boot's was a PKCSReq.
    let log = rig.lab.log(Server::Scep);
    let kinds = |k: &str| {
        log.lines()
            .filter(|l| l.contains(&format!("scep_message_type=\"{k}")))
            .count()
    };
    assert_eq!((kinds("PKCSReq"), kinds("RenewalReq")), (1, 1), "{log}");
}

/// RFC 2131 §3.2 across a reboot: the first boot's lease (kea, 600 s) is stored with its
/// expiry; the DHCP server is then stopped, and the next power-on's REBOOTING gets no answer:
/// the phone keeps the stored address, mask and router for the rest of the lease. With the
/// phone's wall clock past the lease's end, the same silence leaves it without an address.
#[test]
fn rebooting_keeps_the_stored_lease_when_the_dhcp_server_is_silent() {
    let mut cfg = LabConfig::new("gap2");
    cfg.dhcp = Dhcp::Kea;
    cfg.lease_secs = 600;
    cfg.scep = false;
    cfg.kam2 = false;
    let rig = Rig::new(cfg, "");
    let first = rig.boot(&["--until", "network"], secs(60));
    assert!(first.success(), "{}\n{}", first.stdout, first.stderr);
    let addr = configured_address(&first.stderr).expect("an address");
    let r = rig.record();
    assert_eq!(r.lease_address.map(|a| a.to_string()), Some(addr.clone()));
    let terms = r.lease_terms.clone().expect("lease terms stored");
    assert_eq!(terms.lease_secs, 600);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(terms.expires_unix.unwrap().abs_diff(now + 600) < 30);

    rig.lab.stop(Server::Dhcp);
    // REBOOTING gives up after about 30 s, before REUSETIME (60 s) would reuse the address;
    // the log line names which of the two kept it.
    let second = rig.boot(&["--until", "network"], secs(90));
    assert!(second.success(), "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stderr.contains(&format!(
            "reusing {addr}: the server is silent and the stored lease has not expired"
        )),
        "{}",
        second.stderr
    );
    assert_eq!(configured_address(&second.stderr), Some(addr.clone()));
    // The same end of lease is stored again (not a new 600 s).
    let kept = rig.record().lease_terms.unwrap();
    assert!(
        kept.expires_unix
            .unwrap()
            .abs_diff(terms.expires_unix.unwrap())
            <= 2
    );

    // The phone's wall clock an hour later: the lease has ended, nothing is kept.
    // Given up at 50 s, before REUSETIME (60 s) would reuse the address anyway.
    let late = rig.boot(&["--until", "network", "--clock-offset", "3600"], secs(50));
    assert!(!late.success(), "{}\n{}", late.stdout, late.stderr);
    assert!(
        configured_address(&late.stderr).is_none(),
        "{}",
        late.stderr
    );
}

/// MAX_TRUSTCERTS (files.md §7) over files nginx serves: three TRUSTCERTS files holding four
/// certificates, MAX_TRUSTCERTS 2: the record keeps the first two certificates in list order,
/// and the log says what was left out. (No file name starts with `/scep`: the lab's nginx
/// passes that prefix to scepserver.)
#[test]
fn max_trustcerts_bounds_what_the_phone_keeps() {
    let mut cfg = LabConfig::new("gap3");
    cfg.kam2 = false;
    let rig = Rig::new(
        cfg,
        "SET TRUSTCERTS lab-ca.pem,both.pem,ca2.pem\nSET MAX_TRUSTCERTS 2\n",
    );
    let lab_ca = fs::read(rig.lab.ca_cert()).unwrap();
    let scep_ca = fs::read(rig.lab.scep_ca()).unwrap();
    let doc = rig.lab.docroot();
    fs::write(doc.join("lab-ca.pem"), &lab_ca).unwrap();
    fs::write(doc.join("ca2.pem"), &scep_ca).unwrap();
    fs::write(
        doc.join("both.pem"),
        [scep_ca.clone(), lab_ca.clone()].concat(),
    )
    .unwrap();
    let run = rig.boot(&["--until", "registered"], secs(90));
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let r = rig.record();
    let names: Vec<&str> = r.trust_certs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["lab-ca.pem", "both.pem"]);
    assert_eq!(r.trust_certs[0].1, lab_ca);
    // both.pem keeps its first certificate only.
    assert_eq!(r.trust_certs[1].1, scep_ca);
    assert!(
        run.stderr
            .contains("both.pem: 1 certificate(s) not kept, 1 kept (MAX_TRUSTCERTS 2)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("ca2.pem: 1 certificate(s) not kept, 0 kept"),
        "{}",
        run.stderr
    );
}

/// An image signed for `9611` (a MODEL4) is for a 9611G, and RFSNAME is flashed with it:
/// `phone boot --model 9611G` fetches both from nginx (each with its signature), writes
/// `application || RFS` into slot B, restarts into it and records both names; the next boot
/// downloads nothing.
#[test]
fn an_image_signed_for_model4_is_flashed_on_the_full_model_with_its_rfs() {
    let mut cfg = LabConfig::new("gap4");
    cfg.scep = false;
    cfg.kam2 = false;
    let rig = Rig::new(cfg, "");
    let keys = rig.work.join("keys");
    let out = rig.lab.run_cli(
        &[PHONE, "firmware", "keygen", "--out", keys.to_str().unwrap()],
        secs(20),
    );
    assert!(out.success(), "{}", out.stderr);
    let doc = rig.lab.docroot();
    let app = "gap-fw-2.0.bin";
    let image = b"model4 firmware ".repeat(5_000);
    fs::write(doc.join(app), &image).unwrap();
    let out = rig.lab.run_cli(
        &[
            PHONE,
            "firmware",
            "sign",
            "--key",
            keys.join("firmware-key.pem").to_str().unwrap(),
            "--app",
            app,
            "--model",
            "9611",
            doc.join(app).to_str().unwrap(),
        ],
        secs(20),
    );
    assert!(out.success(), "{}", out.stderr);
    let sig = fs::read_to_string(doc.join(format!("{app}.sig"))).unwrap();
    assert!(sig.contains("\nmodels: 9611\n"), "{sig}");
    let rfs = "gap_lang_1.tar";
    let rfs_image = b"language tar ".repeat(3_000);
    fs::write(doc.join(rfs), &rfs_image).unwrap();
    let out = rig.lab.run_cli(
        &[
            PHONE,
            "firmware",
            "sign",
            "--key",
            keys.join("firmware-key.pem").to_str().unwrap(),
            "--app",
            rfs,
            doc.join(rfs).to_str().unwrap(),
        ],
        secs(20),
    );
    assert!(out.success(), "{}", out.stderr);
    fs::write(
        doc.join("96x1Supgrade.txt"),
        format!("SET APPNAME {app}\nSET RFSNAME {rfs}\nGET 46xxsettings.txt\n"),
    )
    .unwrap();
    let key = keys.join("firmware-pub.pem");
    let run = rig.boot(
        &[
            "--firmware-key",
            key.to_str().unwrap(),
            "--until",
            "registered",
        ],
        secs(120),
    );
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("| Saving to flash 100%"),
        "{}",
        run.stdout
    );
    assert_eq!(
        fs::read(rig.state().join("slot-b.bin")).unwrap(),
        [image, rfs_image].concat()
    );
    let r = rig.record();
    assert_eq!(r.running_app(), app);
    assert_eq!(r.slots.as_ref().unwrap().running_rfs(), rfs);
    let log = fs::read_to_string(rig.lab.state_dir().join("logs").join("nginx-access.log"))
        .unwrap_or_default();
    for f in [app, rfs] {
        assert!(log.contains(&format!("GET /{f}.sig")), "{log}");
        assert!(log.contains(&format!("GET /{f} ")), "{log}");
    }
    let again = rig.boot(
        &[
            "--firmware-key",
            key.to_str().unwrap(),
            "--until",
            "registered",
        ],
        secs(120),
    );
    assert!(again.success(), "{}\n{}", again.stdout, again.stderr);
    assert!(
        !again.stdout.contains("Saving to flash"),
        "{}",
        again.stdout
    );
}
