//! The phone lab from Rust tests: real servers (dnsmasq or kea, nginx, scepserver, two kamailio
//! registrars) in a pair of network namespaces, driven through `examples/lab/lab`.
//!
//! ```ignore
//! mod common;
//! use common::lab::{Dhcp, Lab, LabConfig, Server};
//!
//! #[test]
//! fn phone_gets_a_lease() {
//!     // A unique id per test: labs with different ids run side by side.
//!     let lab = Lab::up(LabConfig { dhcp: Dhcp::Kea, lease_secs: 30, ..LabConfig::new("d1") });
//!     let out = lab.run_cli_ok(&[env!("CARGO_BIN_EXE_phone"), "dhcp", lab.client_if()], secs(20));
//!     lab.stop(Server::Kam1);          // first registrar dead
//!     lab.start(Server::Kam1);
//! } // Drop tears the lab down (namespaces deleted, only our PIDs killed)
//! ```
//!
//! Every lab test needs root and the lab's Debian packages (`sudo examples/lab/install`): when
//! either is missing, [`Lab::up`] panics with that message. It never skips.
//! Set `PLAB_KEEP=1` to leave a lab running after its test (to look around with
//! `examples/lab/lab status --id ID`); `examples/lab/lab down --id ID` removes it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// `examples/lab/lab`, the one entry point of the lab.
pub const LAB_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/lab");

/// Default option 242 on the data subnet (`@IP1@` etc. are filled in by the lab).
pub const DEFAULT_SSON: &str = "HTTPSRVR=@IP1@,SIP_CONTROLLER_LIST=@IP1@:5060;transport=udp";
/// Default option 242 on the voice VLAN.
pub const DEFAULT_VLAN_SSON: &str = "HTTPSRVR=@VIP@,SIP_CONTROLLER_LIST=@VIP@:5060;transport=udp";

/// Shorthand for `Duration::from_secs`.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Which DHCP server the lab runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dhcp {
    /// dnsmasq 2.90 (leases shorter than 120 s are raised to 120 s by dnsmasq).
    Dnsmasq,
    /// kea-dhcp4 2.2 (any lease time; T1 = lease/2, T2 = 7/8 lease).
    Kea,
    /// No DHCP server (static addressing tests).
    None,
}

impl Dhcp {
    fn arg(self) -> &'static str {
        match self {
            Dhcp::Dnsmasq => "dnsmasq",
            Dhcp::Kea => "kea",
            Dhcp::None => "none",
        }
    }
}

/// One server of the lab, for [`Lab::stop`], [`Lab::start`], [`Lab::log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// The server side of the voice VLAN (user-space 802.1Q relay, `vlan_relay.py`): stopping
    /// it takes the whole voice VLAN down, as a switch that drops the VLAN would.
    Vlan,
    /// dnsmasq or kea on the data subnet (and the voice VLAN).
    Dhcp,
    /// nginx, HTTP :80 and HTTPS :443 on every server address.
    Http,
    /// micromdm scepserver, `http://SRV_IP1:8080/scep`.
    Scep,
    /// kamailio #1: SRV_IP1 UDP/TCP 5060, TLS 5061 (and the VLAN address).
    Kam1,
    /// kamailio #2: SRV_IP2 UDP/TCP 5060, TLS 5061 (failover registrar).
    Kam2,
    /// tinyproxy, the lab's HTTPPROXY: `SRV_IP2:3128`, absolute-form GET and CONNECT to 443 and
    /// 8080; its log has one `Request (file descriptor N): GET http://...` or `CONNECT host:port`
    /// line per request.
    Proxy,
    /// A CA that answers late: a relay in front of scepserver at `http://SRV_IP1:8081/scep` that
    /// holds every answer until 5 s after the connection was accepted.
    SlowCa,
}

impl Server {
    /// The name the lab script uses.
    pub fn name(self) -> &'static str {
        match self {
            Server::Vlan => "vlan",
            Server::Dhcp => "dhcp",
            Server::Http => "http",
            Server::Scep => "scep",
            Server::Kam1 => "kam1",
            Server::Kam2 => "kam2",
            Server::Proxy => "proxy",
            Server::SlowCa => "slowca",
        }
    }
}

/// A failure switch of a kamailio registrar ([`Lab::kam_switch`]); takes effect at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KamSwitch {
    /// 1: every REGISTER gets 503 with `Retry-After: <RetryAfter>` (no header when RetryAfter is 0).
    Fail503,
    /// Seconds for the Retry-After of `Fail503` (default 5; 0 = no header).
    RetryAfter,
    /// 1: every REGISTER gets 503 without Retry-After.
    Fail503NoRetry,
    /// 1: every REGISTER gets 500.
    Fail500,
    /// 1: every REGISTER gets 403.
    Fail403,
    /// 1: every request is silently dropped (registrar looks dead).
    Drop,
    /// 1: REGISTER is accepted without a digest challenge.
    NoAuth,
}

impl KamSwitch {
    fn key(self) -> &'static str {
        match self {
            KamSwitch::Fail503 => "fail503",
            KamSwitch::RetryAfter => "retry_after",
            KamSwitch::Fail503NoRetry => "fail503_noretry",
            KamSwitch::Fail500 => "fail500",
            KamSwitch::Fail403 => "fail403",
            KamSwitch::Drop => "drop",
            KamSwitch::NoAuth => "noauth",
        }
    }
}

/// Which certificate the lab's TLS servers (nginx HTTPS, kamailio TLS) present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCert {
    /// Signed by the lab CA, SANs = the server addresses: verifies.
    Lab,
    /// Self-signed, right SANs: fails with an unknown issuer.
    Untrusted,
    /// Signed by the lab CA but for other names (192.0.2.1, elsewhere.invalid): name mismatch.
    WrongName,
}

impl ServerCert {
    fn arg(self) -> &'static str {
        match self {
            ServerCert::Lab => "server",
            ServerCert::Untrusted => "untrusted",
            ServerCert::WrongName => "wrongname",
        }
    }
}

/// A DHCP reservation: this MAC always gets this IP (and, if set, its own option 242).
#[derive(Clone, Debug)]
pub struct StaticHost {
    /// `aa:bb:cc:dd:ee:ff`, or `client` for the client veth's MAC ([`Lab::client_mac`]).
    pub mac: String,
    /// An address in the data subnet (or the VLAN subnet) outside the pool; `@NET@` and
    /// `@VNET@` stand for the subnets' first three octets, e.g. `@NET@.20`.
    pub ip: String,
    /// Option 242 for this host only (placeholders as in [`LabConfig::sson`]).
    pub sson: Option<String>,
}

impl StaticHost {
    /// A reservation for the lab's client veth: `ip` like `@NET@.20`.
    pub fn client(ip: &str, sson: Option<&str>) -> Self {
        StaticHost {
            mac: "client".to_string(),
            ip: ip.to_string(),
            sson: sson.map(str::to_string),
        }
    }
}

/// What to bring up. Start from [`LabConfig::new`] (everything on) and change fields with
/// struct update syntax: `LabConfig { dhcp: Dhcp::Kea, ..LabConfig::new("d1") }`.
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// 1–6 characters `[a-z0-9]`, unique among labs running at the same time.
    pub id: String,
    /// Third octet N of the subnets 10.77.N.0/24 and 10.78.N.0/24; `None`: a hash of the id.
    pub net: Option<u8>,
    /// DHCP server.
    pub dhcp: Dhcp,
    /// Option 242 on the data subnet; `None` sends none. `@IP1@ @IP2@ @VIP@ @VID@ @NET@`
    /// are replaced by the lab's addresses.
    pub sson: Option<String>,
    /// Option 242 on the voice VLAN subnet (if `vlan` is set and `sson` is not `None`).
    pub vlan_sson: String,
    /// Lease time (dnsmasq raises anything below 120 s to 120 s; use kea for shorter).
    pub lease_secs: u32,
    /// Option 3 (router) on the data subnet: `"@IP1@"` by default, `"none"` for no router
    /// option, or an address nobody holds (e.g. `"@NET@.9"`) for a dead router.
    pub router: String,
    /// DHCP reservations.
    pub hosts: Vec<StaticHost>,
    /// Voice VLAN id: a second DHCP range 10.78.N.100-199 and server address 10.78.N.1 on it.
    pub vlan: Option<u16>,
    /// nginx docroot; `None`: STATE/www, a filled-in copy of examples/lab/www plus `lab-ca.pem`.
    pub www: Option<PathBuf>,
    /// Start nginx.
    pub http: bool,
    /// nginx directives added to its server block (extra `location`s: redirects, auth
    /// statuses...); written to STATE/conf/nginx-extra.conf.
    pub nginx_extra: Option<String>,
    /// Certificate of nginx HTTPS and kamailio TLS: the lab one, or a bad one for
    /// trust-failure tests.
    pub server_cert: ServerCert,
    /// Start scepserver.
    pub scep: bool,
    /// SCEP challenge password.
    pub scep_challenge: String,
    /// Start kamailio #1.
    pub kam1: bool,
    /// Start kamailio #2.
    pub kam2: bool,
    /// Digest users (user, password); default 1001/1001pass and 1002/1002pass.
    pub sip_users: Vec<(String, String)>,
    /// Offer qop=auth in the challenge (RFC 2617); false: RFC 2069 style.
    pub sip_qop: bool,
    /// Registrar min_expires: a REGISTER with a smaller Expires gets 423 + Min-Expires.
    pub min_expires: u32,
    /// Kamailio TLS listeners on :5061 (server cert from the lab CA).
    pub sip_tls: bool,
    /// Kamailio TLS requires a client certificate from the lab CA or the SCEP CA.
    pub sip_tls_verify_client: bool,
    /// Start tinyproxy ([`Server::Proxy`]).
    pub proxy: bool,
    /// Start the slow CA relay ([`Server::SlowCa`]; needs `scep`).
    pub slow_ca: bool,
}

impl LabConfig {
    /// Everything on: dnsmasq with the default option 242, 1 h lease, nginx, SCEP (challenge
    /// `secret123`), both registrars with TLS, no VLAN.
    pub fn new(id: &str) -> Self {
        LabConfig {
            id: id.to_string(),
            net: None,
            dhcp: Dhcp::Dnsmasq,
            sson: Some(DEFAULT_SSON.to_string()),
            vlan_sson: DEFAULT_VLAN_SSON.to_string(),
            lease_secs: 3600,
            router: "@IP1@".to_string(),
            hosts: Vec::new(),
            vlan: None,
            www: None,
            http: true,
            nginx_extra: None,
            server_cert: ServerCert::Lab,
            scep: true,
            scep_challenge: "secret123".to_string(),
            kam1: true,
            kam2: true,
            sip_users: vec![
                ("1001".to_string(), "1001pass".to_string()),
                ("1002".to_string(), "1002pass".to_string()),
            ],
            sip_qop: true,
            min_expires: 60,
            sip_tls: true,
            sip_tls_verify_client: false,
            proxy: false,
            slow_ca: false,
        }
    }

    fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["up".into(), "--id".into(), self.id.clone()];
        fn push(a: &mut Vec<String>, k: &str, v: String) {
            a.push(k.to_string());
            a.push(v);
        }
        if let Some(n) = self.net {
            push(&mut a, "--net", n.to_string());
        }
        push(&mut a, "--dhcp", self.dhcp.arg().to_string());
        match &self.sson {
            Some(s) => push(&mut a, "--sson", s.clone()),
            None => a.push("--no-sson".into()),
        }
        push(&mut a, "--vlan-sson", self.vlan_sson.clone());
        push(&mut a, "--lease", self.lease_secs.to_string());
        push(&mut a, "--router", self.router.clone());
        for h in &self.hosts {
            let mut v = format!("{},{}", h.mac, h.ip);
            if let Some(s) = &h.sson {
                v.push(',');
                v.push_str(s);
            }
            push(&mut a, "--host", v);
        }
        if let Some(v) = self.vlan {
            push(&mut a, "--vlan", v.to_string());
        }
        if let Some(w) = &self.www {
            push(&mut a, "--www", w.display().to_string());
        }
        push(&mut a, "--scep-challenge", self.scep_challenge.clone());
        push(&mut a, "--server-cert", self.server_cert.arg().to_string());
        if let Some(extra) = &self.nginx_extra {
            let path = std::env::temp_dir().join(format!("plab-{}-nginx-extra.conf", self.id));
            std::fs::write(&path, extra)
                .unwrap_or_else(|e| panic!("lab {}: write {}: {e}", self.id, path.display()));
            push(&mut a, "--nginx-extra", path.display().to_string());
        }
        for (u, p) in &self.sip_users {
            push(&mut a, "--sip-user", format!("{u}:{p}"));
        }
        push(
            &mut a,
            "--sip-qop",
            if self.sip_qop { "1" } else { "0" }.to_string(),
        );
        push(&mut a, "--min-expires", self.min_expires.to_string());
        let mut only = Vec::new();
        if self.dhcp != Dhcp::None {
            only.push("dhcp");
        }
        for (on, name) in [
            (self.http, "http"),
            (self.scep, "scep"),
            (self.kam1, "kam1"),
            (self.kam2, "kam2"),
            (self.proxy, "proxy"),
            (self.slow_ca, "slowca"),
        ] {
            if on {
                only.push(name);
            }
        }
        push(&mut a, "--only", only.join(","));
        if !self.sip_tls {
            a.push("--no-tls".into());
        }
        if self.sip_tls_verify_client {
            a.push("--tls-verify-client".into());
        }
        a
    }
}

/// The result of a bounded command: exit status (None when it was killed at the timeout).
#[derive(Debug)]
pub struct CmdOutput {
    /// Exit status; `None` if the command ran past its timeout and was killed.
    pub status: Option<ExitStatus>,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl CmdOutput {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
    /// Exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
}

/// Runs `cmd` with piped output, killing it after `timeout`. Never blocks longer than
/// `timeout` + 2 s (output still held by grandchildren is given up after 2 s).
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {desc}: {e}"));
    let rx_out = reader(child.stdout.take());
    let rx_err = reader(child.stderr.take());
    let end = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= end => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {desc}: {e}"),
        }
    };
    let grace = Duration::from_secs(2);
    CmdOutput {
        status,
        stdout: rx_out.recv_timeout(grace).unwrap_or_default(),
        stderr: rx_err.recv_timeout(grace).unwrap_or_default(),
    }
}

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

/// A process started in the client namespace by [`Lab::spawn_cli`]; killed on drop.
pub struct BgProc {
    name: String,
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl BgProc {
    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// Waits at most `timeout` for it to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) if Instant::now() >= end => return None,
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for {}: {e}", self.name),
            }
        }
    }
    /// Still running?
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
    /// Polls `cond(stdout + stderr)` every 50 ms for at most `timeout`; true once it holds.
    pub fn wait_output(&self, timeout: Duration, cond: impl Fn(&str) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(&format!("{}{}", self.stdout(), self.stderr())) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for BgProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A lease obtained with busybox udhcpc ([`Lab::dhcp_lease`]).
#[derive(Clone, Debug)]
pub struct Lease {
    /// Interface the lease was taken on.
    pub iface: String,
    /// Leased address (configured on the interface by the lab's udhcpc script).
    pub ip: Ipv4Addr,
    /// Router option.
    pub router: Option<Ipv4Addr>,
    /// Lease time in seconds.
    pub lease_secs: u32,
    /// Option 242 as text, if the server sent it.
    pub opt242: Option<String>,
    /// Full udhcpc output (for assertions and failure messages).
    pub output: String,
}

/// A running lab; dropping it tears the lab down.
pub struct Lab {
    id: String,
    env: BTreeMap<String, String>,
    keep: bool,
}

/// Lab ids in use by this test process (threads of one test binary).
static IN_USE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// `pid starttime` of a process, from /proc/PID/stat (field 22), to tell a live owner from a
/// reused PID.
fn proc_identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.get(stat.rfind(')')? + 2..)?;
    let start = after.split_whitespace().nth(19)?;
    Some(format!("{pid} {start}"))
}

fn owner_file(id: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/plab-{id}.owner"))
}

/// Claims lab `id` for this process; panics if another live test process or another thread of
/// this one holds it (two tests with one id would tear each other's lab down).
fn claim(id: &str) {
    let fresh = IN_USE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id.to_string());
    assert!(
        fresh,
        "lab id {id:?} is already in use by another test of this binary: give every test its own id"
    );
    let me = proc_identity(std::process::id()).unwrap_or_default();
    if let Ok(owner) = std::fs::read_to_string(owner_file(id)) {
        let owner = owner.trim();
        let alive = owner
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .and_then(proc_identity)
            .is_some_and(|now| now == owner);
        if alive && owner != me {
            IN_USE
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(id);
            panic!(
                "lab id {id:?} is in use by another live test process ({owner}, see {}):                  give every test its own id",
                owner_file(id).display()
            );
        }
    }
    let _ = std::fs::write(owner_file(id), format!("{me}\n"));
}

fn release(id: &str) {
    let _ = std::fs::remove_file(owner_file(id));
    IN_USE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(id);
}

fn is_root() -> bool {
    // effective uid: the second field of "Uid:" in /proc/self/status
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn lab_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(LAB_SCRIPT);
    c.args(args);
    c
}

/// Undoes the lab.env quoting: `'...'` with `'\''` for a quote.
fn unquote(v: &str) -> String {
    let inner = v
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(v);
    inner.replace("'\\''", "'")
}

fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), unquote(v)))
        .collect()
}

impl Lab {
    /// Brings a lab up (tearing down any old lab with the same id first). Panics, with the
    /// lab's output and server logs, if that fails, if not root, or if the lab's packages are
    /// missing. Takes about 1 s (2–3 s the first time an id is used: keys are generated).
    pub fn up(cfg: LabConfig) -> Lab {
        let args = cfg.args();
        Lab::up_argv(cfg.id, args)
    }

    fn up_argv(id: String, args: Vec<String>) -> Lab {
        assert!(
            is_root(),
            "lab tests need root (network namespaces, DHCP ports): run them as root, after \
             `sudo examples/lab/install`"
        );
        let check = run_bounded(&mut lab_cmd(&["check"]), secs(10));
        assert!(
            check.success(),
            "the lab's servers are not installed: run `sudo examples/lab/install`\n{}{}",
            check.stdout,
            check.stderr
        );
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        claim(&id);
        let out = run_bounded(&mut lab_cmd(&argv), secs(90));
        if !out.success() {
            release(&id);
            panic!(
                "lab {} did not come up ({:?}):\n{}{}",
                id, out.status, out.stdout, out.stderr
            );
        }
        let env_path = format!("/tmp/plab-{id}/lab.env");
        let text = std::fs::read_to_string(&env_path)
            .unwrap_or_else(|e| panic!("lab {id} is up but {env_path} is unreadable: {e}"));
        let lab = Lab {
            id,
            env: parse_env(&text),
            keep: std::env::var_os("PLAB_KEEP").is_some_and(|v| v == "1"),
        };
        eprintln!(
            "lab {} up: {} / {}, servers {} {}, state {}",
            lab.id,
            lab.ns_srv(),
            lab.ns_cli(),
            lab.env("SRV_IP1"),
            lab.env("SRV_IP2"),
            lab.env("LAB_STATE")
        );
        lab
    }

    /// The lab's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A value from STATE/lab.env (see examples/lab/README.md for the keys); panics if absent.
    pub fn env(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("lab {}: no {key} in lab.env", self.id))
    }

    fn ip(&self, key: &str) -> Ipv4Addr {
        self.env(key)
            .parse()
            .unwrap_or_else(|e| panic!("lab {}: {key} is not an IPv4 address: {e}", self.id))
    }

    /// Server address #1 (DHCP server, nginx, SCEP, kam1): 10.77.N.1.
    pub fn srv_ip1(&self) -> Ipv4Addr {
        self.ip("SRV_IP1")
    }
    /// Server address #2 (nginx, kam2): 10.77.N.2.
    pub fn srv_ip2(&self) -> Ipv4Addr {
        self.ip("SRV_IP2")
    }
    /// The data subnet's first three octets, e.g. `10.77.147`.
    pub fn net(&self) -> &str {
        self.env("NET")
    }
    /// Client network namespace (run things in it with [`Lab::cli`]).
    pub fn ns_cli(&self) -> &str {
        self.env("NS_CLI")
    }
    /// Server network namespace.
    pub fn ns_srv(&self) -> &str {
        self.env("NS_SRV")
    }
    /// Client interface (veth, untagged = data VLAN), no IPv4 until DHCP.
    pub fn client_if(&self) -> &str {
        self.env("VETH_CLI")
    }
    /// Client interface MAC (fixed per lab, for [`StaticHost`]).
    pub fn client_mac(&self) -> &str {
        self.env("CLIENT_MAC")
    }
    /// The lab CA certificate (PEM): trust anchor for HTTPS and SIP TLS.
    pub fn ca_cert(&self) -> PathBuf {
        PathBuf::from(self.env("CA_CERT"))
    }
    /// The SCEP CA certificate (PEM) that signs enrolled certificates.
    pub fn scep_ca(&self) -> PathBuf {
        PathBuf::from(self.env("SCEP_CA"))
    }
    /// `http://10.77.N.1:8080/scep`.
    pub fn scep_url(&self) -> &str {
        self.env("SCEP_URL")
    }
    /// `https://10.77.N.1/scep`: scepserver behind nginx's HTTPS (the lab certificate).
    pub fn https_scep_url(&self) -> &str {
        self.env("HTTPS_SCEP_URL")
    }
    /// `http://10.77.N.1:8081/scep`: scepserver behind [`Server::SlowCa`].
    pub fn slow_scep_url(&self) -> &str {
        self.env("SLOW_SCEP_URL")
    }
    /// `10.77.N.2:3128`: the HTTPPROXY of the lab ([`Server::Proxy`]).
    pub fn proxy(&self) -> &str {
        self.env("PROXY")
    }
    /// The SCEP challenge password.
    pub fn scep_challenge(&self) -> &str {
        self.env("SCEP_CHALLENGE")
    }
    /// nginx docroot (write files here, or use [`Lab::write_doc`]).
    pub fn docroot(&self) -> PathBuf {
        PathBuf::from(self.env("DOCROOT"))
    }
    /// `http://SRV_IP1/<path>`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}/{}", self.srv_ip1(), path.trim_start_matches('/'))
    }
    /// `https://SRV_IP1/<path>`.
    pub fn https_url(&self, path: &str) -> String {
        format!(
            "https://{}/{}",
            self.srv_ip1(),
            path.trim_start_matches('/')
        )
    }
    /// Option 242 as sent on the data subnet (placeholders filled in); empty when none.
    pub fn sson(&self) -> &str {
        self.env("SSON")
    }
    /// The lab's state dir `/tmp/plab-ID` (logs/, pki/, conf/, pids/).
    pub fn state_dir(&self) -> PathBuf {
        PathBuf::from(self.env("LAB_STATE"))
    }
    /// Voice VLAN id, if the lab has one.
    pub fn vlan_id(&self) -> Option<u16> {
        self.env("VLAN_ID").parse().ok().filter(|v| *v != 0)
    }
    /// Server address on the voice VLAN: 10.78.N.1.
    pub fn vlan_srv_ip(&self) -> Ipv4Addr {
        self.ip("VLAN_SRV_IP")
    }
    /// The voice VLAN subnet's first three octets, e.g. `10.78.147`.
    pub fn vlan_net(&self) -> &str {
        self.env("VLAN_NET")
    }
    /// Name of the client's VLAN interface (`VETH_CLI.VID`; exists after [`Lab::vlan_client_up`]).
    pub fn vlan_client_if(&self) -> &str {
        self.env("VLAN_CLI_IF")
    }
    /// Option 242 as sent on the voice VLAN (placeholders filled in); empty when none.
    pub fn vlan_sson(&self) -> &str {
        self.env("VLAN_SSON")
    }

    /// A `Command` that runs `program` in the client namespace.
    pub fn cli(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns_cli()]).arg(program);
        c
    }

    /// A `Command` that runs `program` in the server namespace.
    pub fn srv(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns_srv()]).arg(program);
        c
    }

    /// Runs `args` in the client namespace, killed after `timeout`.
    pub fn run_cli(&self, args: &[&str], timeout: Duration) -> CmdOutput {
        let (p, rest) = args.split_first().expect("run_cli: empty command");
        run_bounded(self.cli(p).args(rest), timeout)
    }

    /// Like [`Lab::run_cli`], but panics (with its output) unless it exits 0; returns stdout.
    pub fn run_cli_ok(&self, args: &[&str], timeout: Duration) -> String {
        let out = self.run_cli(args, timeout);
        assert!(
            out.success(),
            "lab {}: `{}` in the client namespace failed ({:?}):\n{}{}",
            self.id,
            args.join(" "),
            out.status,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// Runs `args` in the server namespace, killed after `timeout`.
    pub fn run_srv(&self, args: &[&str], timeout: Duration) -> CmdOutput {
        let (p, rest) = args.split_first().expect("run_srv: empty command");
        run_bounded(self.srv(p).args(rest), timeout)
    }

    /// Starts `args` in the client namespace in the background (e.g. the phone:
    /// `lab.spawn_cli("phone", &[env!("CARGO_BIN_EXE_phone"), "boot", ...])`), output to
    /// STATE/logs/NAME.out and NAME.err. The returned [`BgProc`] is killed when dropped; the lab
    /// teardown also kills whatever still runs in the client namespace.
    pub fn spawn_cli(&self, name: &str, args: &[&str]) -> BgProc {
        let (p, rest) = args.split_first().expect("spawn_cli: empty command");
        let logs = self.state_dir().join("logs");
        let (out, err) = (
            logs.join(format!("{name}.out")),
            logs.join(format!("{name}.err")),
        );
        let f = |path: &Path| {
            std::fs::File::create(path).unwrap_or_else(|e| {
                panic!("lab {}: cannot create {}: {e}", self.id, path.display())
            })
        };
        let child = self
            .cli(p)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(f(&out))
            .stderr(f(&err))
            .spawn()
            .unwrap_or_else(|e| panic!("lab {}: cannot start {args:?}: {e}", self.id));
        BgProc {
            name: name.to_string(),
            child,
            out,
            err,
        }
    }

    /// The registrar's in-memory location table (`kamcmd ul.dump`), e.g. to check that the
    /// phone registered: `lab.kam_ul_dump(Server::Kam1).contains("AoR: 1001")`.
    pub fn kam_ul_dump(&self, s: Server) -> String {
        assert!(
            matches!(s, Server::Kam1 | Server::Kam2),
            "kam_ul_dump: {s:?} is not a registrar"
        );
        let ctl = format!(
            "unix:{}",
            self.env(if s == Server::Kam1 {
                "KAM1_CTL"
            } else {
                "KAM2_CTL"
            })
        );
        let out = self.run_srv(&["kamcmd", "-s", &ctl, "ul.dump", "brief"], secs(10));
        assert!(
            out.success(),
            "lab {}: kamcmd ul.dump failed: {out:?}",
            self.id
        );
        out.stdout
    }

    fn lab(&self, args: &[&str], timeout: Duration) -> CmdOutput {
        let mut a = vec![args[0], "--id", &self.id];
        a.extend_from_slice(&args[1..]);
        run_bounded(&mut lab_cmd(&a), timeout)
    }

    fn lab_ok(&self, args: &[&str], timeout: Duration) -> String {
        let out = self.lab(args, timeout);
        assert!(
            out.success(),
            "lab {}: `lab {}` failed ({:?}):\n{}{}",
            self.id,
            args.join(" "),
            out.status,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// Stops one server (SIGTERM to its process group, SIGKILL after 5 s).
    pub fn stop(&self, s: Server) {
        self.lab_ok(&["stop", s.name()], secs(20));
    }

    /// Starts one server again (config as at `up`), waiting until it answers (at most 15 s).
    pub fn start(&self, s: Server) {
        self.lab_ok(&["start", s.name()], secs(30));
    }

    /// Whether the server is running (its recorded PID is alive, in our namespace).
    pub fn is_running(&self, s: Server) -> bool {
        let st = self.lab_ok(&["status"], secs(10));
        st.lines()
            .any(|l| l.starts_with(&format!("{:5} running", s.name())))
    }

    /// The server's log so far (stdout+stderr of every run of it in this lab).
    pub fn log(&self, s: Server) -> String {
        let p = self
            .state_dir()
            .join("logs")
            .join(format!("{}.log", s.name()));
        std::fs::read_to_string(&p).unwrap_or_default()
    }

    /// Sets a kamailio failure switch (e.g. `(Server::Kam1, KamSwitch::Fail503, 1)`).
    pub fn kam_switch(&self, s: Server, switch: KamSwitch, value: u32) {
        assert!(
            matches!(s, Server::Kam1 | Server::Kam2),
            "kam_switch: {s:?} is not a registrar"
        );
        self.lab_ok(
            &["kam", s.name(), switch.key(), &value.to_string()],
            secs(10),
        );
    }

    /// Takes a DHCP lease with busybox udhcpc on the client veth (or, with `vlan`, on the
    /// client's VLAN interface, see [`Lab::vlan_client_up`]) and configures the address.
    /// Panics if no lease arrives within `timeout`.
    pub fn dhcp_lease(&self, vlan: bool, timeout: Duration) -> Lease {
        let t = timeout.as_secs().max(1).to_string();
        let mut args = vec!["dhcp-client", "--timeout", &t];
        if vlan {
            args.push("--vlan-iface");
        }
        let out = self.lab(&args, timeout + secs(10));
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(out.success(), "lab {}: no DHCP lease:\n{all}", self.id);
        let bound = all
            .lines()
            .rev()
            .find(|l| l.starts_with("udhcpc: bound") || l.starts_with("udhcpc: renew"))
            .unwrap_or_else(|| panic!("lab {}: udhcpc printed no lease:\n{all}", self.id));
        let field = |k: &str| {
            bound
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{k}=")))
                .map(str::to_string)
        };
        let ip = field("ip")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("lab {}: no ip in {bound:?}", self.id));
        Lease {
            iface: field("interface").unwrap_or_default(),
            ip,
            router: field("router").and_then(|v| v.parse().ok()),
            lease_secs: field("lease").and_then(|v| v.parse().ok()).unwrap_or(0),
            opt242: all
                .lines()
                .find_map(|l| l.strip_prefix("opt242(text)="))
                .map(str::to_string),
            output: all,
        }
    }

    /// Creates the client's interface on the voice VLAN and returns its name. This kernel has no
    /// 802.1Q support, so the interface is a veth whose peer feeds a user-space relay that tags
    /// frames onto the client veth (see examples/lab/README.md, "VLAN"). It has the client
    /// veth's MAC, like a kernel VLAN device. Idempotent.
    pub fn vlan_client_up(&self) -> String {
        self.lab_ok(&["vlan-client"], secs(20)).trim().to_string()
    }

    /// Adds an address to the server's data interface (it then answers ARP and ping for it):
    /// an address-conflict host, or an extra server. Removed again by [`Lab::srv_ip_del`].
    pub fn srv_ip_add(&self, ip: Ipv4Addr) {
        self.lab_ok(&["srv-ip", "add", &ip.to_string()], secs(10));
    }

    /// Removes an address added by [`Lab::srv_ip_add`].
    pub fn srv_ip_del(&self, ip: Ipv4Addr) {
        self.lab_ok(&["srv-ip", "del", &ip.to_string()], secs(10));
    }

    /// Puts a static address (`None`: NET.50/24) on the client veth; returns it.
    pub fn client_static_ip(&self, ip: Option<Ipv4Addr>) -> Ipv4Addr {
        let a = ip.map(|i| i.to_string());
        let mut args = vec!["client-ip"];
        if let Some(a) = &a {
            args.push(a);
        }
        let out = self.lab_ok(&args, secs(10));
        out.trim()
            .split('/')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("lab {}: client-ip printed {out:?}", self.id))
    }

    /// Writes a file under the docroot (creating directories).
    pub fn write_doc(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.docroot().join(rel.trim_start_matches('/'));
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)
                .unwrap_or_else(|e| panic!("lab {}: mkdir {}: {e}", self.id, d.display()));
        }
        std::fs::write(&p, content)
            .unwrap_or_else(|e| panic!("lab {}: write {}: {e}", self.id, p.display()));
        p
    }

    /// The path of a file in the lab's state dir (e.g. `"pki/server.pem"`).
    pub fn state_path(&self, rel: &str) -> PathBuf {
        Path::new(self.env("LAB_STATE")).join(rel)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.keep {
            release(&self.id);
            eprintln!(
                "PLAB_KEEP=1: lab {} left running; `examples/lab/lab down --id {}` removes it",
                self.id, self.id
            );
            return;
        }
        let out = self.lab(&["down"], secs(60));
        release(&self.id);
        if !out.success() && !thread::panicking() {
            panic!(
                "lab {}: teardown failed ({:?}):\n{}{}",
                self.id, out.status, out.stdout, out.stderr
            );
        }
    }
}

// --- DNS (issue 14, spec/link.md §3) ------------------------------------------------------------

impl Lab {
    /// [`Lab::up`] with the lab's DNS server as well (`--only ...,dns`): a DNS-only dnsmasq on
    /// SRV_IP1:53 answering the names of `lab.test` (provisioning, scep, sip1 = SRV_IP1,
    /// sip2 = SRV_IP2, sip = both, proxy = SRV_IP2; NXDOMAIN for any other name in lab.test),
    /// and the data subnet's lease names it as DNSSRVR (option 6) with DOMAIN `lab.test`
    /// (option 15). Its log, one line per query: [`Lab::dns_log`].
    pub fn up_with_dns(cfg: LabConfig) -> Lab {
        let mut args = cfg.args();
        if let Some(i) = args.iter().position(|a| a == "--only") {
            let only = &mut args[i + 1];
            if only.is_empty() {
                only.push_str("dns");
            } else {
                only.push_str(",dns");
            }
        }
        Lab::up_argv(cfg.id, args)
    }

    /// The DNS server's log (`query[A] NAME from ADDR`, `config NAME is ADDR`, ...).
    pub fn dns_log(&self) -> String {
        std::fs::read_to_string(self.state_path("logs/dns.log")).unwrap_or_default()
    }

    /// Points the client namespace's resolver nowhere while the guard lives: `ip netns exec`
    /// bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf, so a program in the
    /// client namespace that asked the host's resolver would ask 192.0.2.1 (TEST-NET-1,
    /// unreachable) and get no answer.
    pub fn client_resolver_nowhere(&self) -> NetnsResolvConf {
        let dir = PathBuf::from(format!("/etc/netns/{}", self.ns_cli()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("lab {}: mkdir {}: {e}", self.id, dir.display()));
        let path = dir.join("resolv.conf");
        std::fs::write(&path, "nameserver 192.0.2.1\n")
            .unwrap_or_else(|e| panic!("lab {}: write {}: {e}", self.id, path.display()));
        NetnsResolvConf { dir }
    }
}

/// /etc/netns/NS/ of [`Lab::client_resolver_nowhere`]; removed on drop.
#[derive(Debug)]
pub struct NetnsResolvConf {
    dir: PathBuf,
}

impl Drop for NetnsResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- Stage 1, LLDP-MED (issue 14): lldpd as the lab's access switch (lab server `lldp`) ----

/// A capture (tcpdump) running in the server namespace, started by [`Lab::spawn_srv_capture`];
/// killed on drop.
pub struct SrvCapture {
    child: Child,
    out: PathBuf,
}

impl SrvCapture {
    /// Stops the capture and returns what it printed (one line per packet with `-l`).
    pub fn stop(mut self) -> String {
        // tcpdump -l has flushed every line; give the last one a moment.
        thread::sleep(Duration::from_millis(200));
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for SrvCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Lab {
    /// Starts lldpd in the server namespace on the server veth (a network connectivity device,
    /// one frame a second, voice policy tagged on the lab's voice VLAN with priority 5 and
    /// DSCP 46), waiting until its control socket answers.
    pub fn start_lldpd(&self) {
        self.lab_ok(&["start", "lldp"], secs(30));
    }

    /// lldpd's own control socket (`lldpcli -u` it; never the host's /run/lldpd.socket).
    pub fn lldp_socket(&self) -> PathBuf {
        self.state_dir().join("lldp").join("lldpd.sock")
    }

    /// `lldpcli -f keyvalue show neighbors details` of the lab's lldpd, as key → value (e.g.
    /// `lldp.VETH_SRV.lldp-med.inventory.serial`).
    pub fn lldp_neighbors(&self) -> BTreeMap<String, String> {
        let sock = self.lldp_socket();
        let out = self.run_srv(
            &[
                "lldpcli",
                "-u",
                sock.to_str().unwrap_or_default(),
                "-f",
                "keyvalue",
                "show",
                "neighbors",
                "details",
            ],
            secs(10),
        );
        assert!(out.success(), "lab {}: lldpcli failed: {out:?}", self.id);
        out.stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Starts a `tcpdump ... -l` (given whole in `args`) in the server namespace, its output
    /// to STATE/logs/NAME.out, and waits (at most 10 s) until it says it is listening.
    pub fn spawn_srv_capture(&self, name: &str, args: &[&str]) -> SrvCapture {
        let (p, rest) = args
            .split_first()
            .expect("spawn_srv_capture: empty command");
        let logs = self.state_dir().join("logs");
        let (out, err) = (
            logs.join(format!("{name}.out")),
            logs.join(format!("{name}.err")),
        );
        let f = |path: &Path| {
            std::fs::File::create(path).unwrap_or_else(|e| {
                panic!("lab {}: cannot create {}: {e}", self.id, path.display())
            })
        };
        let child = self
            .srv(p)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(f(&out))
            .stderr(f(&err))
            .spawn()
            .unwrap_or_else(|e| panic!("lab {}: cannot start {args:?}: {e}", self.id));
        let capture = SrvCapture { child, out };
        let end = Instant::now() + secs(10);
        while !std::fs::read_to_string(&err)
            .unwrap_or_default()
            .contains("listening on")
        {
            assert!(
                Instant::now() < end,
                "lab {}: {args:?} never listened: {}",
                self.id,
                std::fs::read_to_string(&err).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(50));
        }
        capture
    }
}
