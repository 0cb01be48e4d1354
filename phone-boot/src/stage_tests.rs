//! Transcript tests of the file stage in virtual time, against an in-memory network of servers.

use super::*;
use crate::firmware::{Models, SigningKey, sign};
use crate::flash::{SlotImage, SlotState};
use alloc::vec;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const T0: Instant = Instant::from_secs(10);
const MAC: [u8; 6] = [0x00, 0x24, 0xd7, 0xe4, 0x2e, 0x98];

/// How a fake server answers one path.
#[derive(Clone)]
enum Answer {
    /// A 200 with this body and Content-Length.
    File(Vec<u8>),
    /// These raw bytes, then close.
    Raw(Vec<u8>),
    /// The first `n` bytes of a 200 for this body, then close (a cut download), only the
    /// first `times` times.
    Cut { body: Vec<u8>, n: usize, times: u32 },
    /// Never answers (the request times out).
    Silent,
}

#[derive(Default)]
struct Net {
    /// (scheme, host) → path → answer; a missing path is a 404.
    servers: BTreeMap<(Scheme, String), BTreeMap<String, Answer>>,
    /// Every request made, as "scheme host path".
    log: Vec<String>,
    flash_ops: usize,
    /// The flash breaks at this operation: it and every later one fail (retries included).
    fail_flash_at: Option<usize>,
}

impl Net {
    fn serve(&mut self, scheme: Scheme, host: &str, path: &str, answer: Answer) {
        self.servers
            .entry((scheme, host.into()))
            .or_default()
            .insert(path.into(), answer);
    }

    fn up(&mut self, scheme: Scheme, host: &str) {
        self.servers.entry((scheme, host.into())).or_default();
    }
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

struct Transcript {
    result: StageResult,
    events: Vec<String>,
    connects: Vec<String>,
    end: Instant,
}

fn drive(stage: &mut FileStage<ChaCha8Rng>, net: &mut Net) -> Transcript {
    let mut now = T0;
    let mut events = Vec::new();
    let mut connects = Vec::new();
    let mut current: Option<(ConnId, Server)> = None;
    for _ in 0..100_000 {
        match stage.poll_output(now) {
            Output::Connect { conn, server, .. } => {
                connects.push(server.to_string());
                if net
                    .servers
                    .contains_key(&(server.scheme, server.host.clone()))
                {
                    stage.handle_input(Input::Connected(now, conn));
                    current = Some((conn, server));
                } else {
                    stage.handle_input(Input::ConnectFailed(now, conn));
                }
            }
            Output::Transmit { conn, bytes } => {
                let (_, server) = current.clone().unwrap();
                let text = String::from_utf8(bytes).unwrap();
                let path = text.split(' ').nth(1).unwrap().to_string();
                assert!(text.contains("\r\nConnection: close\r\n"));
                net.log
                    .push(format!("{:?} {} {path}", server.scheme, server.host));
                let answer = net.servers[&(server.scheme, server.host.clone())]
                    .get(&path)
                    .cloned();
                let reply = match answer {
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                    Some(Answer::File(body)) => ok(&body),
                    Some(Answer::Raw(raw)) => raw,
                    Some(Answer::Cut { body, n, times }) => {
                        let r = ok(&body);
                        let head = r.len() - body.len();
                        if times > 0 {
                            net.serve(
                                server.scheme,
                                &server.host,
                                &path,
                                Answer::Cut {
                                    body,
                                    n,
                                    times: times - 1,
                                },
                            );
                            r[..head + n].to_vec()
                        } else {
                            r
                        }
                    }
                    Some(Answer::Silent) => continue,
                };
                // Byte-at-a-time for small replies exercises partial reads end to end.
                if reply.len() < 600 {
                    for b in reply.chunks(1) {
                        stage.handle_input(Input::Received(now, conn, b));
                    }
                } else {
                    for b in reply.chunks(1000) {
                        stage.handle_input(Input::Received(now, conn, b));
                    }
                }
                stage.handle_input(Input::Closed(now, conn));
            }
            Output::Close { .. } => current = None,
            Output::Flash(_) => {
                net.flash_ops += 1;
                if net.fail_flash_at.is_some_and(|n| net.flash_ops >= n) {
                    stage.handle_input(Input::FlashFailed(now));
                } else {
                    stage.handle_input(Input::FlashDone(now));
                }
            }
            Output::Event(e) => events.push(e.to_string()),
            Output::Done(result) => {
                return Transcript {
                    result: *result,
                    events,
                    connects,
                    end: now,
                };
            }
            Output::Timeout(t) => {
                assert!(t >= now, "timeout in the past");
                assert_ne!(t, Instant::MAX, "stalled");
                now = t;
                stage.handle_input(Input::Timeout(now));
            }
        }
    }
    panic!("stage did not finish");
}

fn store_with(sets: &[(&str, &str)]) -> Store {
    let mut store = Store::new();
    for (n, v) in sets {
        store.apply_set(n, v, Source::Sson, 0).unwrap();
    }
    store
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn config() -> StageConfig {
    let mut c = StageConfig::new(
        "9611G",
        MAC,
        "SN1",
        BootRecord::factory(SlotImage::of("factory.bin", b"factory")),
    );
    c.firmware_key = Some(FirmwareKey::of(&key()));
    c
}

fn stage(store: Store, config: StageConfig) -> FileStage<ChaCha8Rng> {
    FileStage::new(T0, store, config, ChaCha8Rng::seed_from_u64(7))
}

const UPGRADE: &[u8] = b"IF $MODEL4 SEQ 9611 GOTO SW\r\nGOTO GETSET\r\n# SW\r\nSET APPNAME new.bin\r\n# GETSET\r\nGET 46xxsettings.txt\r\n";
const SETTINGS: &[u8] = b"SET SIPDOMAIN example.com\nSET LANGUAGES Mlf_German.xml,Mlf_French.xml\nSET TRUSTCERTS labca.pem\nGET $MACADDR.txt\n";
const PER_MAC: &[u8] = b"SET SIP_CONTROLLER_LIST 192.0.2.50:5061;transport=tls\n";

fn full_server(net: &mut Net, scheme: Scheme, host: &str, dir: &str) {
    let p = |f: &str| {
        if dir.is_empty() {
            format!("/{f}")
        } else {
            format!("/{dir}/{f}")
        }
    };
    net.serve(
        scheme,
        host,
        &p("96x1Supgrade.txt"),
        Answer::File(UPGRADE.to_vec()),
    );
    net.serve(
        scheme,
        host,
        &p("46xxsettings.txt"),
        Answer::File(SETTINGS.to_vec()),
    );
    net.serve(
        scheme,
        host,
        &p("0024d7e42e98.txt"),
        Answer::File(PER_MAC.to_vec()),
    );
    net.serve(
        scheme,
        host,
        &p("Mlf_German.xml"),
        Answer::File(b"<de/>".to_vec()),
    );
    net.serve(
        scheme,
        host,
        &p("labca.pem"),
        Answer::File(b"-----BEGIN CERTIFICATE-----".to_vec()),
    );
}

fn image() -> Vec<u8> {
    (0..5000u32).map(|i| (i % 253) as u8).collect()
}

fn serve_image(net: &mut Net, host: &str, models: Models) {
    let img = image();
    let sig = sign(&key(), "new.bin", models, &img).unwrap();
    net.serve(
        Scheme::Http,
        host,
        "/new.bin.sig",
        Answer::File(sig.into_bytes()),
    );
    net.serve(Scheme::Http, host, "/new.bin", Answer::File(img));
}

#[test]
fn https_first_then_files_in_order_then_software() {
    let mut net = Net::default();
    full_server(&mut net, Scheme::Https, "tls.example", "phones");
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    serve_image(&mut net, "192.0.2.10", Models::List(vec!["9611G".into()]));
    let store = store_with(&[
        ("TLSSRVR", "tls.example"),
        ("TLSDIR", "phones"),
        ("HTTPSRVR", "192.0.2.10"),
    ]);
    let t = drive(&mut stage(store, config()), &mut net);
    assert_eq!(
        net.log,
        [
            "Https tls.example /phones/96x1Supgrade.txt",
            "Https tls.example /phones/46xxsettings.txt",
            "Https tls.example /phones/0024d7e42e98.txt",
            "Https tls.example /phones/Mlf_German.xml",
            "Https tls.example /phones/Mlf_French.xml",
            "Https tls.example /phones/labca.pem",
            // Software over HTTP only (Decision 4).
            "Http 192.0.2.10 /new.bin.sig",
            "Http 192.0.2.10 /new.bin",
        ]
    );
    let r = &t.result;
    assert_eq!(
        r.server.as_ref().unwrap().to_string(),
        "https://tls.example:443"
    );
    assert_eq!(r.upgrade_stat, 0);
    assert_eq!(r.store.str("SIPDOMAIN"), Some("example.com"));
    assert!(
        r.store
            .str("SIP_CONTROLLER_LIST")
            .unwrap()
            .starts_with("192.0.2.50")
    );
    assert_eq!(
        r.languages,
        [("Mlf_German.xml".to_string(), b"<de/>".to_vec())]
    );
    assert_eq!(r.certificates.len(), 1);
    assert_eq!(
        r.software,
        Software::Installed {
            name: "new.bin".into(),
            slot: Slot::B
        }
    );
    assert_eq!(
        t.events[0],
        "HTTP: 1 https://tls.example:443/phones/96x1Supgrade.txt"
    );
    assert_eq!(
        t.events[1],
        "HTTP: 2 https://tls.example:443/phones/46xxsettings.txt"
    );
    assert!(t.events.contains(&"new.bin / 4 KB received".to_string()));
    let tail: Vec<&str> = t.events.iter().rev().take(3).map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "Restarting...",
            "Saving to flash 100%",
            "File Obtained; please wait... 0 secs"
        ]
    );
    assert_eq!(net.flash_ops, 3, "erase, one 64 KiB chunk, commit");
}

#[test]
fn failed_servers_are_skipped_in_order() {
    let mut net = Net::default();
    // TLS server down (or untrusted: the caller reports ConnectFailed alike); first HTTP server
    // answers 503; the second works.
    net.up(Scheme::Http, "a.example");
    net.serve(
        Scheme::Http,
        "a.example",
        "/96x1Supgrade.txt",
        Answer::Raw(b"HTTP/1.1 503 Busy\r\n\r\n".to_vec()),
    );
    full_server(&mut net, Scheme::Http, "b.example", "");
    let store = store_with(&[
        ("TLSSRVR", "tls.example"),
        ("HTTPSRVR", "a.example,b.example"),
    ]);
    let t = drive(&mut stage(store, config()), &mut net);
    assert_eq!(
        t.connects[..3],
        [
            "https://tls.example:443",
            "http://a.example:80",
            "http://b.example:80"
        ]
    );
    assert_eq!(t.result.server.unwrap().host, "b.example");
    // No image served: the signature is not found, the image refused, the slot stays.
    assert_eq!(
        t.result.software,
        Software::Rejected {
            name: "new.bin".into(),
            reason: Rejected::NoSignature
        }
    );
}

#[test]
fn auth_only_refuses_http() {
    let mut net = Net::default();
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    let mut store = store_with(&[("HTTPSRVR", "192.0.2.10")]);
    store
        .apply_set("SIPDOMAIN", "stored.example", Source::SettingsFile, 0)
        .unwrap();
    store
        .apply_set("AUTH", "1", Source::SettingsFile, 0)
        .unwrap();
    let t = drive(&mut stage(store.clone(), config()), &mut net);
    assert!(net.log.is_empty());
    assert_eq!(t.result.server, None);
    assert_eq!(t.result.upgrade_stat, 2);
    assert_eq!(t.result.store, store, "stored settings go on unchanged");
}

#[test]
fn no_server_answers_backs_off_with_jitter_then_gives_up() {
    let mut net = Net::default();
    net.up(Scheme::Http, "slow.example");
    net.serve(
        Scheme::Http,
        "slow.example",
        "/96x1Supgrade.txt",
        Answer::Silent,
    );
    let store = store_with(&[("HTTPSRVR", "down.example,slow.example")]);
    let mut cfg = config();
    cfg.walk_rounds = 3;
    let t = drive(&mut stage(store.clone(), cfg), &mut net);
    assert_eq!(t.result.server, None);
    assert_eq!(t.result.store, store);
    assert_eq!(t.connects.len(), 6, "two candidates, three walks");
    // Three request timeouts of 10 s, plus back-offs of 1–2 s and 2–4 s.
    let spent = t.end - T0;
    assert!(
        spent >= Duration::from_secs(33) && spent < Duration::from_secs(36),
        "{spent:?}"
    );
    // The display counts requests up while no server answers.
    assert_eq!(
        t.events.last().unwrap(),
        "HTTP: 6 http://slow.example:80/96x1Supgrade.txt"
    );
    // Another seed, another jitter: same shape, different end time.
    let mut other = FileStage::new(
        T0,
        store_with(&[("HTTPSRVR", "down.example,slow.example")]),
        config(),
        ChaCha8Rng::seed_from_u64(8),
    );
    let t2 = drive(&mut other, &mut net);
    assert_ne!(t2.end, t.end);
}

#[test]
fn upgrade_script_not_found_everywhere_keeps_stored_settings() {
    let mut net = Net::default();
    net.up(Scheme::Http, "empty.example");
    let mut store = store_with(&[("HTTPSRVR", "empty.example")]);
    store
        .apply_set("SIPDOMAIN", "stored.example", Source::SettingsFile, 3)
        .unwrap();
    let mut cfg = config();
    cfg.walk_rounds = 1;
    let t = drive(&mut stage(store.clone(), cfg), &mut net);
    assert_eq!(t.result.store.str("SIPDOMAIN"), Some("stored.example"));
    assert_eq!(t.result.upgrade_stat, 2);
}

#[test]
fn settings_from_the_last_boot_are_replaced_not_merged() {
    let mut net = Net::default();
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    let mut store = store_with(&[("HTTPSRVR", "192.0.2.10")]);
    store
        .apply_set("SIPDOMAIN", "old.example", Source::SettingsFile, 3)
        .unwrap();
    store
        .apply_set("DSCPAUD", "40", Source::SettingsFile, 4)
        .unwrap();
    let t = drive(&mut stage(store, config()), &mut net);
    assert_eq!(t.result.store.str("SIPDOMAIN"), Some("example.com"));
    // A SET removed from the file returns to its default (Decision 6).
    assert_ne!(
        t.result.store.get("DSCPAUD").map(|e| e.source),
        Some(Source::SettingsFile)
    );
}

#[test]
fn auth_one_only_from_https() {
    let mut net = Net::default();
    net.serve(
        Scheme::Http,
        "192.0.2.10",
        "/96x1Supgrade.txt",
        Answer::File(b"SET AUTH 1\n".to_vec()),
    );
    let t = drive(
        &mut stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_ne!(t.result.store.flag("AUTH"), Some(true));
    assert!(
        t.result
            .warnings
            .iter()
            .any(|w| w.contains("AUTH 1 ignored"))
    );
    let mut net = Net::default();
    net.serve(
        Scheme::Https,
        "tls.example",
        "/96x1Supgrade.txt",
        Answer::File(b"SET AUTH 1\n".to_vec()),
    );
    let t = drive(
        &mut stage(store_with(&[("TLSSRVR", "tls.example")]), config()),
        &mut net,
    );
    assert_eq!(t.result.store.flag("AUTH"), Some(true));
}

#[test]
fn wrong_model_or_bad_signature_never_downloads_the_image() {
    for (models, signer) in [
        (Models::List(vec!["9608".into()]), key()),
        (Models::Any, SigningKey::from_bytes(&[1; 32])),
    ] {
        let mut net = Net::default();
        full_server(&mut net, Scheme::Http, "192.0.2.10", "");
        let img = image();
        let sig = sign(&signer, "new.bin", models, &img).unwrap();
        net.serve(
            Scheme::Http,
            "192.0.2.10",
            "/new.bin.sig",
            Answer::File(sig.into_bytes()),
        );
        net.serve(Scheme::Http, "192.0.2.10", "/new.bin", Answer::File(img));
        let t = drive(
            &mut stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
            &mut net,
        );
        assert!(
            matches!(t.result.software, Software::Rejected { .. }),
            "{:?}",
            t.result.software
        );
        assert!(
            !net.log.iter().any(|l| l.ends_with("/new.bin")),
            "image fetched: {:?}",
            net.log
        );
        assert_eq!(net.flash_ops, 0);
    }
}

#[test]
fn tampered_image_is_refused_before_flash() {
    let mut net = Net::default();
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    serve_image(&mut net, "192.0.2.10", Models::Any);
    let mut bad = image();
    bad[100] ^= 1;
    net.serve(Scheme::Http, "192.0.2.10", "/new.bin", Answer::File(bad));
    let t = drive(
        &mut stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_eq!(
        t.result.software,
        Software::Rejected {
            name: "new.bin".into(),
            reason: Rejected::WrongDigest
        }
    );
    assert_eq!(net.flash_ops, 0);
}

#[test]
fn cut_download_is_retried_and_never_used_half() {
    let mut net = Net::default();
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    serve_image(&mut net, "192.0.2.10", Models::Any);
    net.serve(
        Scheme::Http,
        "192.0.2.10",
        "/new.bin",
        Answer::Cut {
            body: image(),
            n: 2500,
            times: 2,
        },
    );
    let t = drive(
        &mut stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_eq!(
        t.result.software,
        Software::Installed {
            name: "new.bin".into(),
            slot: Slot::B
        }
    );
    assert_eq!(
        net.log.iter().filter(|l| l.ends_with("/new.bin")).count(),
        3
    );
    assert_eq!(net.flash_ops, 3);
    assert!(t.result.warnings.iter().any(|w| w.contains("closed early")));
}

#[test]
fn cut_download_every_time_is_refused() {
    let mut net = Net::default();
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    serve_image(&mut net, "192.0.2.10", Models::Any);
    net.serve(
        Scheme::Http,
        "192.0.2.10",
        "/new.bin",
        Answer::Cut {
            body: image(),
            n: 10,
            times: 100,
        },
    );
    let t = drive(
        &mut stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_eq!(
        t.result.software,
        Software::Rejected {
            name: "new.bin".into(),
            reason: Rejected::Download
        }
    );
    assert_eq!(net.flash_ops, 0);
}

#[test]
fn flash_failure_rejects_and_same_name_is_unchanged() {
    let mut net = Net::default();
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    serve_image(&mut net, "192.0.2.10", Models::Any);
    net.fail_flash_at = Some(2);
    let t = drive(
        &mut stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_eq!(
        t.result.software,
        Software::Rejected {
            name: "new.bin".into(),
            reason: Rejected::Flash
        }
    );
    // Running new.bin already: nothing is fetched.
    let mut cfg = config();
    let mut record = BootRecord::factory(SlotImage::of("factory.bin", b"factory"));
    record.slots[1] = Some(SlotImage::of("new.bin", &image()));
    record.active = Slot::B;
    record.state = SlotState::Confirmed;
    cfg.record = record;
    let mut net = Net::default();
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    serve_image(&mut net, "192.0.2.10", Models::Any);
    let t = drive(
        &mut stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), cfg),
        &mut net,
    );
    assert_eq!(t.result.software, Software::Unchanged);
    assert!(!net.log.iter().any(|l| l.contains("new.bin")));
}

#[test]
fn no_firmware_key_refuses() {
    let mut net = Net::default();
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    let mut cfg = config();
    cfg.firmware_key = None;
    let t = drive(
        &mut stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), cfg),
        &mut net,
    );
    assert_eq!(
        t.result.software,
        Software::Rejected {
            name: "new.bin".into(),
            reason: Rejected::NoKey
        }
    );
}

#[test]
fn full_url_entries_and_names() {
    assert_eq!(upgrade_script_name("9611G", 0), "96x1Supgrade.txt");
    assert_eq!(upgrade_script_name("9608", 1), "96x1Hupgrade.txt");
    assert_eq!(upgrade_script_name("9620", 2), "96xxupgrade.txt");
    assert_eq!(upgrade_script_name("9650C", 0), "96xxupgrade.txt");
    let (s, p) = parse_url("https://[2001:db8::1]:8443/lang/Mlf_German.xml").unwrap();
    assert_eq!(
        (s.scheme, s.host.as_str(), s.port, p.as_str()),
        (Scheme::Https, "2001:db8::1", 8443, "/lang/Mlf_German.xml")
    );
    let (s, p) = parse_url("http://files.example/ca.pem").unwrap();
    assert_eq!((s.port, p.as_str()), (80, "/ca.pem"));
    assert!(parse_url("http://:80/x").is_none());
    assert!(parse_url("http://h:99999/x").is_none());
    assert!(parse_url("Mlf_German.xml").is_none());

    let mut net = Net::default();
    net.serve(
        Scheme::Http,
        "192.0.2.10",
        "/96x1Supgrade.txt",
        Answer::File(b"SET TRUSTCERTS http://certs.example:8080/ca.pem\n".to_vec()),
    );
    net.serve(
        Scheme::Http,
        "certs.example",
        "/ca.pem",
        Answer::File(b"PEM".to_vec()),
    );
    let t = drive(
        &mut stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_eq!(
        t.result.certificates,
        [(
            "http://certs.example:8080/ca.pem".to_string(),
            b"PEM".to_vec()
        )]
    );
}
