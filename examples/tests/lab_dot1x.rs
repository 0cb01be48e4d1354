//! `phone dot1x` against a real authenticator: hostapd 2.10 (`driver=wired`, its internal EAP
//! server) on one end of a veth pair, the phone on the other, each in its own network namespace
//! (../shared/lab-recipe/more-servers.md §1). hostapd does not block traffic itself, so the port
//! is enforced as the recipe does it: an nftables ingress chain on the switch side drops all but
//! EAPOL until `hostapd_cli -a` adds the station's MAC on AP-STA-CONNECTED.
//!
//! - EAP-MD5, right password: exit 0, `802.1X authorized (MD5)`, hostapd_cli all_sta shows the
//!   station AUTHORIZED with EAP type 4, and ping crosses the port that dropped it before.
//! - EAP-MD5, wrong password: exit 1, `802.1X failed`, not authorized, ping still dropped.
//! - DOT1XSTAT 1 (unicast only): hostapd sending to the PAE group address is not answered;
//!   hostapd sending to the phone's MAC (`use_pae_group_addr=0`) is, and authorizes.
//! - EAP-TLS with a client certificate from a test CA made by openssl: authorized, EAP type 13;
//!   TLS 1.2 (hostapd's default) and TLS 1.3 (`tls_flags=[ENABLE-TLSv1.3]`, RFC 9190); a server
//!   certificate from another CA is refused.
//!
//! Needs root, iproute2, nftables, hostapd and openssl (`sudo examples/lab/install`); fails,
//! never skips, without them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::lab::{CmdOutput, run_bounded, secs};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");
const SRV_IF: &str = "d1s";
const CLI_IF: &str = "d1c";
const CLI_MAC: &str = "02:d1:00:00:00:02";

/// Two namespaces joined by a veth pair, hostapd on the server side, the port enforced by
/// nftables; everything removed on drop.
struct Port {
    srv: String,
    cli: String,
    dir: tempfile::TempDir,
    procs: Vec<Child>,
    /// Other directories the servers read from (the PKI), removed with the port.
    keep: Vec<tempfile::TempDir>,
}

fn sh(args: &[&str]) -> CmdOutput {
    run_bounded(Command::new(args[0]).args(&args[1..]), secs(20))
}

fn must(args: &[&str]) -> CmdOutput {
    let out = sh(args);
    assert!(
        out.success(),
        "{}: {}{}",
        args.join(" "),
        out.stdout,
        out.stderr
    );
    out
}

/// hostapd's settings for one test.
struct Authenticator<'a> {
    /// `MD5` users (identity, password) and `TLS` identities in the eap_user file.
    users: &'a str,
    /// `use_pae_group_addr`: send EAPOL to 01:80:c2:00:00:03 (true) or to the station's MAC.
    group: bool,
    /// Extra hostapd.conf lines (the TLS server's files).
    extra: String,
}

impl Port {
    fn up(tag: &str, auth: &Authenticator<'_>) -> Port {
        for tool in ["ip", "nft", "hostapd", "hostapd_cli", "openssl"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "{tool} missing: run `sudo examples/lab/install`"
            );
        }
        let id = format!("{tag}-{}", std::process::id());
        let srv = format!("pd1x-s-{id}");
        let cli = format!("pd1x-c-{id}");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut port = Port {
            srv: srv.clone(),
            cli: cli.clone(),
            dir,
            procs: Vec::new(),
            keep: Vec::new(),
        };
        must(&["ip", "netns", "add", &srv]);
        must(&["ip", "netns", "add", &cli]);
        must(&[
            "ip", "link", "add", SRV_IF, "netns", &srv, "type", "veth", "peer", "name", CLI_IF,
            "netns", &cli, "address", CLI_MAC,
        ]);
        for (ns, ifname, addr) in [
            (&srv, SRV_IF, "10.98.0.1/24"),
            (&cli, CLI_IF, "10.98.0.2/24"),
        ] {
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            must(&["ip", "-n", ns, "addr", "add", addr, "dev", ifname]);
            must(&["ip", "-n", ns, "link", "set", ifname, "up"]);
        }
        let d = port.dir.path().to_path_buf();
        // The port: everything but EAPOL dropped until hostapd authorizes the station.
        let nft = d.join("dot1x.nft");
        write(
            &nft,
            &format!(
                "table netdev dot1x {{\n  set authorized {{ type ether_addr; }}\n  chain ingress {{\n    type filter hook ingress device \"{SRV_IF}\" priority 0; policy drop;\n    ether type 0x888e accept\n    ether saddr @authorized accept\n  }}\n}}\n"
            ),
        );
        must(&["ip", "netns", "exec", &srv, "nft", "-f", path(&nft)]);
        let action = d.join("action.sh");
        write(
            &action,
            &format!(
                "#!/bin/sh\necho \"$*\" >> {log}\ncase \"$2\" in\n  AP-STA-CONNECTED) nft add element netdev dot1x authorized \"{{ $3 }}\" ;;\n  AP-STA-DISCONNECTED) nft delete element netdev dot1x authorized \"{{ $3 }}\" 2>/dev/null ;;\nesac\nexit 0\n",
                log = path(&d.join("action.log"))
            ),
        );
        must(&["chmod", "755", path(&action)]);
        write(&d.join("eap_user"), auth.users);
        let ctrl = d.join("ctrl");
        write(
            &d.join("hostapd.conf"),
            &format!(
                "interface={SRV_IF}\ndriver=wired\nlogger_stdout=-1\nlogger_stdout_level=1\nctrl_interface={}\nieee8021x=1\neapol_version=2\nuse_pae_group_addr={}\neap_reauth_period=0\neap_server=1\neap_user_file={}\n{}",
                path(&ctrl),
                u8::from(auth.group),
                path(&d.join("eap_user")),
                auth.extra
            ),
        );
        let hostapd = port.spawn(
            &srv,
            &["hostapd", "-t", path(&d.join("hostapd.conf"))],
            "hostapd.log",
        );
        port.procs.push(hostapd);
        port.wait_log("hostapd.log", "AP-ENABLED", secs(10));
        // The action script, attached once hostapd answers on its control socket.
        let end = Instant::now() + secs(10);
        while !port.hostapd_cli(&["ping"]).stdout.contains("PONG") {
            assert!(Instant::now() < end, "hostapd_cli never reached hostapd");
            std::thread::sleep(Duration::from_millis(50));
        }
        let cli_proc = port.spawn(
            &srv,
            &[
                "hostapd_cli",
                "-p",
                path(&ctrl),
                "-i",
                SRV_IF,
                "-a",
                path(&action),
            ],
            "hostapd_cli.log",
        );
        port.procs.push(cli_proc);
        // hostapd_cli -a attaches after its own ping; give it that moment.
        std::thread::sleep(Duration::from_millis(500));
        port
    }

    fn spawn(&self, ns: &str, args: &[&str], log: &str) -> Child {
        let out = std::fs::File::create(self.dir.path().join(log))
            .unwrap_or_else(|e| panic!("{log}: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{log}: {e}"));
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")))
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    fn wait_log(&self, name: &str, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self.log(name).contains(needle) {
            assert!(
                Instant::now() < end,
                "{needle:?} not in {name}:\n{}",
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn hostapd_cli(&self, args: &[&str]) -> CmdOutput {
        let ctrl = self.dir.path().join("ctrl");
        let mut a = vec![
            "ip",
            "netns",
            "exec",
            &self.srv,
            "hostapd_cli",
            "-p",
            path(&ctrl),
            "-i",
            SRV_IF,
        ];
        a.extend_from_slice(args);
        sh(&a)
    }

    /// `phone dot1x` in the client namespace.
    fn phone(&self, args: &[&str]) -> CmdOutput {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns", "exec", &self.cli, PHONE, "dot1x", "--iface", CLI_IF,
        ])
        .args(args);
        let out = run_bounded(&mut cmd, secs(60));
        eprintln!(
            "phone dot1x {}: exit {:?}\n{}{}",
            args.join(" "),
            out.code(),
            out.stdout,
            out.stderr
        );
        out
    }

    /// Whether one ping from the phone crosses the port.
    fn ping(&self) -> bool {
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.cli,
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "10.98.0.1",
        ])
        .success()
    }

    fn ping_within(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.ping() {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
        }
    }

    fn all_sta(&self) -> String {
        self.hostapd_cli(&["all_sta"]).stdout
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for ns in [&self.srv, &self.cli] {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
        if std::thread::panicking() {
            for log in ["hostapd.log", "hostapd_cli.log", "action.log"] {
                eprintln!("--- {log}\n{}", self.log(log));
            }
        }
    }
}

fn write(p: &Path, text: &str) {
    std::fs::write(p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

fn path(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
}

const MD5_USERS: &str = "\"phone1\" MD5 \"secret1\"\n";

#[test]
fn md5_right_password_authorizes_and_opens_the_port() {
    let port = Port::up(
        "md5",
        &Authenticator {
            users: MD5_USERS,
            group: true,
            extra: String::new(),
        },
    );
    assert!(!port.ping(), "the port drops traffic before 802.1X");
    let started = Instant::now();
    let out = port.phone(&["--identity", "phone1", "--password", "secret1"]);
    eprintln!(
        "authorized in {:?} (process start to exit)",
        started.elapsed()
    );
    assert_eq!(out.code(), Some(0));
    assert!(
        out.stdout.contains("802.1X authorized (MD5)"),
        "{}",
        out.stdout
    );
    assert!(!format!("{}{}", out.stdout, out.stderr).contains("secret1"));
    let sta = port.all_sta();
    assert!(sta.contains(CLI_MAC), "{sta}");
    assert!(sta.contains("AUTHORIZED"), "{sta}");
    assert!(sta.contains("dot1xAuthSessionUserName=phone1"), "{sta}");
    assert!(sta.contains("last_eap_type_sta=4"), "{sta}");
    assert!(port.log("hostapd.log").contains("authorizing port"));
    assert!(
        port.ping_within(secs(5)),
        "the port stays shut after authorization; action.log: {}",
        port.log("action.log")
    );
}

#[test]
fn md5_wrong_password_fails() {
    let port = Port::up(
        "md5bad",
        &Authenticator {
            users: MD5_USERS,
            group: true,
            extra: String::new(),
        },
    );
    let out = port.phone(&["--identity", "phone1", "--password", "wrong"]);
    assert_eq!(out.code(), Some(1));
    assert!(out.stdout.contains("802.1X failed"), "{}", out.stdout);
    assert!(!out.stdout.contains("authorized"), "{}", out.stdout);
    assert!(!port.all_sta().contains("AUTHORIZED"), "{}", port.all_sta());
    assert!(
        port.log("hostapd.log").contains("authentication failed"),
        "{}",
        port.log("hostapd.log")
    );
    assert!(!port.ping(), "the port opened after a failure");
}

/// The password from the prompt: `802.1X Password:` on stderr, the answer on stdin.
#[test]
fn md5_password_from_the_prompt() {
    let port = Port::up(
        "md5prompt",
        &Authenticator {
            users: MD5_USERS,
            group: true,
            extra: String::new(),
        },
    );
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &port.cli,
            PHONE,
            "dot1x",
            "--iface",
            CLI_IF,
            "--identity",
            "phone1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("phone: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        let _ = stdin.write_all(b"secret1\n");
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("phone: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!("{stdout}{stderr}");
    assert!(stderr.contains("802.1X Password:"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(port.all_sta().contains("AUTHORIZED"));
}

#[test]
fn dot1xstat_1_answers_unicast_eapol_only() {
    // hostapd sends to the PAE group address: DOT1XSTAT 1 does not answer.
    let port = Port::up(
        "ucast0",
        &Authenticator {
            users: MD5_USERS,
            group: true,
            extra: String::new(),
        },
    );
    let out = port.phone(&[
        "--identity",
        "phone1",
        "--password",
        "secret1",
        "--dot1xstat",
        "1",
        "--timeout",
        "4",
    ]);
    assert_eq!(out.code(), Some(2), "{}", out.stdout);
    assert!(!port.all_sta().contains("AUTHORIZED"));
    // The request did reach the phone's interface: hostapd started the conversation.
    assert!(port.log("hostapd.log").contains("received EAPOL-Start"));
    drop(port);
    // hostapd sends to the station's own MAC: answered, authorized.
    let port = Port::up(
        "ucast1",
        &Authenticator {
            users: MD5_USERS,
            group: false,
            extra: String::new(),
        },
    );
    let out = port.phone(&[
        "--identity",
        "phone1",
        "--password",
        "secret1",
        "--dot1xstat",
        "1",
    ]);
    assert_eq!(out.code(), Some(0), "{}", out.stdout);
    assert!(port.all_sta().contains("AUTHORIZED"));
}

/// The lab recipe's PKI (mk.sh): a CA, the EAP server's certificate, the phone's client
/// certificate; and a second CA the phone may be told to trust instead.
fn make_pki(dir: &Path) {
    let script = r#"
set -e
cd "$1"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 825 -sha256 \
  -subj "/CN=802.1X Lab CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=eap.lab.test" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:eap.lab.test\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 825 -sha256 -extfile server.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=phone1" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 825 -sha256 -extfile client.ext 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 825 -sha256 \
  -subj "/CN=Some Other CA" -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
openssl verify -CAfile ca.pem server.pem client.pem
"#;
    must(&["sh", "-c", script, "sh", path(dir)]);
}

fn tls_port(tag: &str, tls13: bool) -> Port {
    let pki = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    make_pki(pki.path());
    let pki_path = pki.path().to_path_buf();
    let p = |f: &str| pki_path.join(f).display().to_string();
    let mut port = Port::up(
        tag,
        &Authenticator {
            users: "\"phone1\" TLS\n",
            group: true,
            extra: format!(
                "ca_cert={}\nserver_cert={}\nprivate_key={}\n{}",
                p("ca.pem"),
                p("server.pem"),
                p("server.key"),
                if tls13 {
                    "tls_flags=[ENABLE-TLSv1.3]\n"
                } else {
                    ""
                }
            ),
        },
    );
    for f in ["ca.pem", "client.pem", "client.key", "other.pem"] {
        std::fs::copy(pki_path.join(f), port.file(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    port.keep.push(pki);
    port
}

fn tls_args(port: &Port, ca: &str) -> Vec<String> {
    let f = |n: &str| port.file(n).display().to_string();
    vec![
        "--identity".into(),
        "phone1".into(),
        "--cert".into(),
        f("client.pem"),
        "--key".into(),
        f("client.key"),
        "--ca".into(),
        f(ca),
    ]
}

fn run_tls(port: &Port, ca: &str) -> CmdOutput {
    let args = tls_args(port, ca);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    port.phone(&refs)
}

#[test]
fn eap_tls_with_a_test_ca_certificate_is_authorized() {
    let port = tls_port("tls12", false);
    let out = run_tls(&port, "ca.pem");
    assert_eq!(out.code(), Some(0));
    assert!(
        out.stdout.contains("802.1X authorized (TLS)"),
        "{}",
        out.stdout
    );
    let sta = port.all_sta();
    assert!(sta.contains("AUTHORIZED"), "{sta}");
    assert!(sta.contains("last_eap_type_sta=13"), "{sta}");
    assert!(port.ping_within(secs(5)));
}

#[test]
fn eap_tls13_per_rfc_9190_is_authorized() {
    let port = tls_port("tls13", true);
    let out = run_tls(&port, "ca.pem");
    assert_eq!(out.code(), Some(0));
    assert!(
        out.stdout.contains("802.1X authorized (TLS)"),
        "{}",
        out.stdout
    );
    let sta = port.all_sta();
    assert!(
        sta.contains("AUTHORIZED") && sta.contains("last_eap_type_sta=13"),
        "{sta}"
    );
}

#[test]
fn eap_tls_server_from_another_ca_is_refused() {
    let port = tls_port("tlsbad", false);
    let out = run_tls(&port, "other.pem");
    assert_eq!(out.code(), Some(1), "{}", out.stdout);
    assert!(out.stdout.contains("802.1X failed"), "{}", out.stdout);
    assert!(
        out.stdout.to_lowercase().contains("certificate"),
        "{}",
        out.stdout
    );
    assert!(!port.all_sta().contains("AUTHORIZED"));
}
