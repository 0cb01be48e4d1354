//! `phone scep` against the real micromdm scepserver (Debian package `scep`) of the lab:
//! enrollment, the certificate checked by openssl, a wrong challenge rejected with a typed
//! failInfo and no certificate written, and a stopped server giving a clear error.
//! Needs root and `sudo examples/lab/install`; fails (never skips) without them.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::lab::{Dhcp, Lab, LabConfig, Server, secs};

const PHONE: &str = env!("CARGO_BIN_EXE_phone");

fn lab(id: &str) -> Lab {
    let lab = Lab::up(LabConfig {
        dhcp: Dhcp::None,
        sson: None,
        http: false,
        scep: true,
        kam1: false,
        kam2: false,
        sip_tls: false,
        ..LabConfig::new(id)
    });
    lab.client_static_ip(None);
    lab
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lab-scep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn phone_scep_against_scepserver() {
    let lab = lab("sc1");
    let url = lab.scep_url().to_string();
    let challenge = lab.scep_challenge().to_string();

    // 1. Enrollment with a 2048-bit key; subject from MYCERTDN + MYCERTCN with $SERIALNO.
    let out = tmpdir("ok");
    let t = Instant::now();
    let run = lab.run_cli(
        &[
            PHONE,
            "scep",
            "--url",
            &url,
            "--challenge",
            &challenge,
            "--cn",
            "phone-$SERIALNO",
            "--serialno",
            "12AB34CD",
            "--dn",
            "/C=US/O=PhoneLab",
            "--key-len",
            "2048",
            "--out",
            s(&out),
        ],
        secs(60),
    );
    let took = t.elapsed();
    assert!(run.success(), "{run:?}");
    eprintln!("enrollment with a 2048-bit key took {took:?} (debug build, incl. keygen)");
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("ISSUED "))
        .expect("ISSUED line");
    assert!(
        line.starts_with("ISSUED subject=CN=phone-12AB34CD,O=PhoneLab,C=US serial="),
        "{line}"
    );
    let cert = out.join("cert.pem");
    let key = out.join("key.pem");
    // The depot's CA accepts the certificate, and so does the ca.pem we wrote.
    let depot_ca = lab.scep_ca();
    assert!(openssl(&["verify", "-CAfile", s(&depot_ca), s(&cert)]).contains(": OK"));
    assert!(openssl(&["verify", "-CAfile", s(&out.join("ca.pem")), s(&cert)]).contains(": OK"));
    // Subject and key are the requested ones.
    let subject = openssl(&[
        "x509",
        "-in",
        s(&cert),
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert_eq!(subject.trim(), "subject=CN=phone-12AB34CD,O=PhoneLab,C=US");
    let cert_pub = openssl(&["x509", "-in", s(&cert), "-noout", "-pubkey"]);
    let key_pub = openssl(&["pkey", "-in", s(&key), "-pubout"]);
    assert_eq!(cert_pub, key_pub);
    assert!(openssl(&["pkey", "-in", s(&key), "-noout", "-text"]).contains("2048 bit"));
    // The serial printed is the certificate's.
    let serial = openssl(&["x509", "-in", s(&cert), "-noout", "-serial"]);
    let serial = serial
        .trim()
        .trim_start_matches("serial=")
        .trim_start_matches('0');
    assert!(line.ends_with(serial), "{line} vs {serial}");

    // 2. 1024-bit key, AES-256 request (SCEPENCALG=1), CN from $MACADDR via --set.
    let out2 = tmpdir("aes");
    let run = lab.run_cli(
        &[
            PHONE,
            "scep",
            "--set",
            &format!("MYCERTURL={url}"),
            "--set",
            &format!("SCEPPASSWORD={challenge}"),
            "--set",
            "MYCERTCN=$MACADDR",
            "--set",
            "MYCERTKEYLEN=1024",
            "--set",
            "SCEPENCALG=1",
            "--macaddr",
            "00aabbccddee",
            "--out",
            s(&out2),
        ],
        secs(60),
    );
    assert!(run.success(), "{run:?}");
    assert!(
        run.stdout
            .contains("ISSUED subject=CN=00aabbccddee serial="),
        "{run:?}"
    );
    assert!(
        openssl(&["verify", "-CAfile", s(&depot_ca), s(&out2.join("cert.pem"))]).contains(": OK")
    );

    // 3. A wrong challenge: a typed FAILURE (badRequest), exit 1, no certificate written.
    let bad = tmpdir("bad");
    let run = lab.run_cli(
        &[
            PHONE,
            "scep",
            "--url",
            &url,
            "--challenge",
            "WRONG",
            "--cn",
            "bad-phone",
            "--out",
            s(&bad),
        ],
        secs(60),
    );
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stdout.contains("REJECTED failInfo=badRequest"),
        "{run:?}"
    );
    assert!(!bad.join("cert.pem").exists());
    assert!(!bad.join("key.pem").exists());

    // 4. The server stopped: a clear error, exit 1, nothing written.
    lab.stop(Server::Scep);
    let down = tmpdir("down");
    let run = lab.run_cli(
        &[
            PHONE,
            "scep",
            "--url",
            &url,
            "--challenge",
            &challenge,
            "--cn",
            "x",
            "--out",
            s(&down),
        ],
        secs(60),
    );
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stdout
            .contains("ERROR: cannot connect to the SCEP server"),
        "{run:?}"
    );
    assert!(!down.join("cert.pem").exists());

    for d in [out, out2, bad, down] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Counts the proxy log's request lines whose request starts with `what` (`GET http://...` or
/// `CONNECT host:port`): `CONNECT ... Request (file descriptor N): GET http://... HTTP/1.1`.
fn proxy_requests(log: &str, what: &str) -> usize {
    log.lines()
        .filter_map(|l| {
            l.split_once("Request (file descriptor ")?
                .1
                .split_once("): ")
        })
        .filter(|(_, request)| request.starts_with(what))
        .count()
}

/// HTTPPROXY through the lab's tinyproxy (spec/scep.md §3): an http MYCERTURL goes to the proxy
/// in absolute-form, an https one through a CONNECT tunnel (TLS with the CA inside it), and a
/// host listed in HTTPEXCEPTIONDOMAINS is reached directly. The proxy's own log tells which.
#[test]
fn phone_scep_through_tinyproxy() {
    let lab = Lab::up(LabConfig {
        dhcp: Dhcp::None,
        sson: None,
        http: true,
        scep: true,
        kam1: false,
        kam2: false,
        sip_tls: false,
        proxy: true,
        ..LabConfig::new("sc2")
    });
    lab.client_static_ip(None);
    let ip1 = lab.srv_ip1().to_string();
    let proxy = format!("HTTPPROXY={}", lab.proxy());
    let challenge = lab.scep_challenge().to_string();
    let ca = lab.ca_cert();
    let enroll = |url: &str, extra: &[&str], out: &Path| {
        let mut args = vec![
            PHONE,
            "scep",
            "--url",
            url,
            "--challenge",
            &challenge,
            "--cn",
            "proxied-phone",
            "--key-len",
            "1024",
            "--set",
            &proxy,
            "--out",
            s(out),
        ];
        args.extend_from_slice(extra);
        let run = lab.run_cli(&args, secs(60));
        assert!(run.success(), "{url} {extra:?}: {run:?}");
        assert!(
            run.stdout.contains("ISSUED subject=CN=proxied-phone"),
            "{run:?}"
        );
        assert!(
            openssl(&[
                "verify",
                "-CAfile",
                s(&lab.scep_ca()),
                s(&out.join("cert.pem"))
            ])
            .contains(": OK")
        );
    };

    // 1. http MYCERTURL: every request in absolute-form through the proxy, none direct.
    let out = tmpdir("proxy-http");
    enroll(lab.scep_url(), &[], &out);
    let log = lab.log(Server::Proxy);
    let scep_http = format!("GET http://{ip1}:8080/scep?operation=GetCACaps HTTP/1.1");
    assert_eq!(proxy_requests(&log, &scep_http), 1, "{log}");
    assert!(
        proxy_requests(&log, &format!("GET http://{ip1}:8080/scep?operation="))
            + proxy_requests(&log, &format!("POST http://{ip1}:8080/scep?operation="))
            >= 3,
        "GetCACaps, GetCACert, PKIOperation through the proxy:\n{log}"
    );
    assert_eq!(proxy_requests(&log, "CONNECT "), 0, "{log}");

    // 2. https MYCERTURL (scepserver behind nginx's TLS): CONNECT to the CA, nothing in clear.
    let seen = log.len();
    let out2 = tmpdir("proxy-https");
    enroll(lab.https_scep_url(), &["--trust", s(&ca)], &out2);
    let log = lab.log(Server::Proxy)[seen..].to_string();
    assert!(
        proxy_requests(&log, &format!("CONNECT {ip1}:443 HTTP/1.1")) >= 3,
        "one tunnel per SCEP request:\n{log}"
    );
    assert_eq!(proxy_requests(&log, "GET http://"), 0, "{log}");
    assert_eq!(proxy_requests(&log, "POST http://"), 0, "{log}");
    // The requests reached the CA through nginx's HTTPS.
    let access = std::fs::read_to_string(lab.state_dir().join("logs").join("nginx-access.log"))
        .unwrap_or_default();
    assert!(access.contains("GET /scep?operation=GetCACaps"), "{access}");

    // 3. The CA's host is an exception domain: straight to it, the proxy sees nothing.
    let seen = lab.log(Server::Proxy).len();
    let out3 = tmpdir("proxy-direct");
    let except = format!("HTTPEXCEPTIONDOMAINS=other.invalid,{ip1}");
    enroll(lab.scep_url(), &["--set", &except], &out3);
    let log = lab.log(Server::Proxy)[seen..].to_string();
    assert_eq!(proxy_requests(&log, ""), 0, "the proxy was used:\n{log}");

    for d in [out, out2, out3] {
        let _ = std::fs::remove_dir_all(d);
    }
}
