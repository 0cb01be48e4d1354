//! `phone fleet` (issue 13) against the lab's fleet profile (`lab up --fleet`: kea with a
//! 32,766-address pool held as an AnyIP local route, nginx HTTPS, scepserver, two Kamailios
//! with the numeric users 200000.. and password USERpass): about 50 phones boot to registered,
//! each from its own address, and the report says so.
//! Needs root and `sudo examples/lab/install`; fails (never skips) without them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::lab::{run_bounded, secs};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");
const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/lab");
const FLEET_CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/fleet-check");
const ID: &str = "flt1";
const COUNT: usize = 50;

/// The fleet lab, taken down when dropped; its owner file keeps `lab down-all` away.
struct FleetLab {
    env: BTreeMap<String, String>,
}

fn lab(args: &[&str]) -> String {
    let out = run_bounded(Command::new(LAB).args(args), secs(120));
    assert!(
        out.success(),
        "lab {args:?} failed:\n{}{}",
        out.stdout,
        out.stderr
    );
    out.stdout
}

impl FleetLab {
    fn up() -> FleetLab {
        let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
        let start = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(19))
            .expect("start time")
            .to_string();
        std::fs::write(
            format!("/tmp/plab-{ID}.owner"),
            format!("{} {start}\n", std::process::id()),
        )
        .expect("owner file");
        lab(&["up", "--id", ID, "--fleet"]);
        let env = lab(&["env", "--id", ID])
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once('=')?;
                Some((k.to_string(), v.trim_matches('\'').to_string()))
            })
            .collect();
        FleetLab { env }
    }

    fn get(&self, k: &str) -> &str {
        self.env.get(k).map_or("", String::as_str)
    }

    fn state(&self, rel: &str) -> PathBuf {
        Path::new(self.get("LAB_STATE")).join(rel)
    }
}

impl Drop for FleetLab {
    fn drop(&mut self) {
        if std::env::var_os("PLAB_KEEP").is_none() {
            let _ = run_bounded(Command::new(LAB).args(["down", "--id", ID]), secs(60));
        }
        let _ = std::fs::remove_file(format!("/tmp/plab-{ID}.owner"));
    }
}

#[test]
fn fifty_phones_boot_to_registered() {
    let lab = FleetLab::up();
    let report = std::env::temp_dir().join(format!("lab-fleet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&report);
    let count = COUNT.to_string();
    let out = run_bounded(
        Command::new("ip").args([
            "netns",
            "exec",
            lab.get("NS_CLI"),
            PHONE,
            "fleet",
            "--iface",
            lab.get("VETH_CLI"),
            "--count",
            &count,
            "--rate",
            "25",
            "--until",
            "registered",
            "--trust",
            lab.get("CA_CERT"),
            "--user-first",
            lab.get("FLEET_USER_FIRST"),
            "--deadline",
            "240",
            "--report",
            report.to_str().expect("utf-8"),
        ]),
        secs(300),
    );
    let result = out
        .stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line:\n{}{}", out.stdout, out.stderr))
        .to_string();
    assert!(
        out.success(),
        "phone fleet failed: {result}\n{}",
        out.stderr
    );
    assert!(
        result.contains(&format!("reached={COUNT} failed=0")),
        "{result}"
    );

    // The report: every phone registered, its stages in order, its own MAC, user and address.
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(report.join("fleet-report.json")).expect("fleet-report.json"),
    )
    .expect("JSON");
    assert_eq!(json["count"], COUNT);
    assert_eq!(json["reached"], COUNT);
    assert_eq!(json["failed"], 0);
    assert_eq!(json["stages"]["registered"]["reached"], COUNT);
    assert!(json["stages"]["registered"]["p99_s"].as_f64().is_some());
    assert!(json["peak_rss_kib"].as_u64().unwrap_or(0) > 0);
    let pool_start: Ipv4Addr = lab.get("FLEET_POOL_START").parse().expect("pool start");
    let pool_end: Ipv4Addr = lab.get("FLEET_POOL_END").parse().expect("pool end");
    let phones = json["phones"].as_array().expect("phones");
    assert_eq!(phones.len(), COUNT);
    let (mut macs, mut users, mut addrs) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut per_controller: BTreeMap<String, u64> = BTreeMap::new();
    for p in phones {
        assert_eq!(p["reached"], true, "{p}");
        assert!(p["failure"].is_null(), "{p}");
        let t = &p["times"];
        let stages = [
            "start_s",
            "network_s",
            "files_s",
            "certificate_s",
            "registered_s",
        ];
        let times: Vec<f64> = stages
            .iter()
            .map(|s| t[s].as_f64().unwrap_or_else(|| panic!("{s} missing: {p}")))
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "stages out of order: {p}"
        );
        let addr: Ipv4Addr = p["address"]
            .as_str()
            .expect("address")
            .parse()
            .expect("IPv4");
        assert!(
            addr >= pool_start && addr <= pool_end,
            "{addr} outside the pool"
        );
        macs.insert(p["mac"].as_str().expect("mac").to_string());
        users.insert(p["user"].as_str().expect("user").to_string());
        addrs.insert(addr);
        *per_controller
            .entry(p["controller"].as_str().expect("controller").to_string())
            .or_default() += 1;
    }
    assert_eq!(macs.len(), COUNT, "distinct MACs");
    assert_eq!(users.len(), COUNT, "distinct SIP users");
    assert_eq!(addrs.len(), COUNT, "distinct addresses");

    // The servers agree: Kamailio's location tables hold every phone, user by user, with a
    // contact at the phone's own address on the controller it reports, and nginx served each
    // phone from its own address.
    assert_eq!(per_controller.values().sum::<u64>(), COUNT as u64);
    let check = run_bounded(
        Command::new(FLEET_CHECK).args([
            "--id",
            ID,
            report.join("fleet-report.json").to_str().expect("utf-8"),
        ]),
        secs(120),
    );
    assert!(
        check.success()
            && check
                .stdout
                .contains(&format!("checked={COUNT} ok={COUNT} ")),
        "fleet-check: {}{}",
        check.stdout,
        check.stderr
    );
    let access = std::fs::read_to_string(lab.state("logs/nginx-access.log")).expect("access log");
    let clients: BTreeSet<&str> = access
        .lines()
        .filter(|l| l.contains("GET /46xxsettings.txt"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for a in &addrs {
        assert!(
            clients.contains(a.to_string().as_str()),
            "nginx never saw {a}"
        );
    }

    // The picture: one self-contained page with its SVGs.
    let html = std::fs::read_to_string(report.join("fleet.html")).expect("fleet.html");
    assert!(
        html.contains("<svg") && html.contains("registered"),
        "fleet.html"
    );
    for stage in ["network", "files", "certificate", "registered"] {
        assert!(
            html.contains(&format!(">{stage} (n={COUNT},")),
            "fleet.html has no histogram of {stage} over all {COUNT} phones"
        );
    }

    // `phone timeline` on the report draws the same page again, from the JSON alone.
    let again = report.join("again.html");
    let out = run_bounded(
        Command::new(PHONE).args([
            "timeline",
            report.join("fleet-report.json").to_str().expect("utf-8"),
            "--out",
            again.to_str().expect("utf-8"),
        ]),
        secs(60),
    );
    assert!(
        out.success(),
        "phone timeline: {}{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("TIMELINE "), "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(&again).expect("again.html"),
        html,
        "phone timeline on fleet-report.json drew a different page than the fleet did"
    );
    let _ = std::fs::remove_dir_all(&report);
}
