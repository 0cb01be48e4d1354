//! Transcript tests of the file stage in virtual time (`phone_sansio::harness::Transcript`),
//! against an in-memory network of servers and a flash ([`net`]).

mod net;

use super::*;
use crate::firmware::{Models, SigningKey, sign};
use crate::flash::{SlotImage, SlotState};
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use phone_http::Action;
use phone_sansio::harness::{self, Logged};
use phone_settings::Source;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const T0: Instant = Instant::from_secs(10);
const MAC: [u8; 6] = [0x00, 0x24, 0xd7, 0xe4, 0x2e, 0x98];

use net::{Answer, Net, drive};

fn assert_installed(software: &Software, app: &str, at: Slot) {
    match software {
        Software::Installed { name, slot, record } => {
            assert_eq!((name.as_str(), *slot), (app, at));
            assert_eq!(record.active, at);
            assert_eq!(record.running().unwrap().app, app);
            assert_eq!(record.state, SlotState::Trial { boots_left: 3 });
        }
        other => panic!("not installed: {other:?}"),
    }
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
    FileStage::new(config, store, ChaCha8Rng::seed_from_u64(7), T0)
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
    let t = drive(stage(store, config()), &mut net);
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
    assert_installed(&r.software, "new.bin", Slot::B);
    assert_eq!(
        t.events[0],
        "HTTP: 1 https://tls.example:443/phones/96x1Supgrade.txt"
    );
    assert_eq!(
        t.events[1],
        "HTTP: 2 https://tls.example:443/phones/46xxsettings.txt"
    );
    assert!(t.events.contains(&"new.bin / 4 KB received".to_string()));
    // Progress only when body bytes arrived (issue 11): no `0 KB received` line, and every
    // progress line before `File Obtained`.
    assert!(
        !t.events.iter().any(|e| e.ends_with(" 0 KB received")),
        "{:?}",
        t.events
    );
    let obtained = t
        .events
        .iter()
        .position(|e| e.starts_with("File Obtained"))
        .unwrap();
    assert!(
        t.events[obtained..]
            .iter()
            .all(|e| !e.contains("KB received"))
    );
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
    let t = drive(stage(store, config()), &mut net);
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
    let t = drive(stage(store.clone(), config()), &mut net);
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
    let t = drive(stage(store.clone(), cfg), &mut net);
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
    let other = FileStage::new(
        config(),
        store_with(&[("HTTPSRVR", "down.example,slow.example")]),
        ChaCha8Rng::seed_from_u64(8),
        T0,
    );
    let t2 = drive(other, &mut net);
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
    let t = drive(stage(store.clone(), cfg), &mut net);
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
    let t = drive(stage(store, config()), &mut net);
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
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_ne!(t.result.store.flag("AUTH"), Some(true));
    assert!(t.warnings.iter().any(|w| {
        matches!(w, FileWarning::AuthNotOverHttps { file: 0, line: 1 })
            && w.to_string().contains("AUTH 1 ignored")
    }));
    let mut net = Net::default();
    net.serve(
        Scheme::Https,
        "tls.example",
        "/96x1Supgrade.txt",
        Answer::File(b"SET AUTH 1\n".to_vec()),
    );
    let t = drive(
        stage(store_with(&[("TLSSRVR", "tls.example")]), config()),
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
            stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
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

/// An image signed for a MODEL4 (`9611`) is for the 9611G (issue 12 item 6); one signed for
/// another model's MODEL4 is not, and is never downloaded.
#[test]
fn an_image_signed_for_model4_installs_on_the_full_model() {
    let mut net = Net::default();
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    serve_image(&mut net, "192.0.2.10", Models::List(vec!["9611".into()]));
    let t = drive(
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_installed(&t.result.software, "new.bin", Slot::B);

    let mut net = Net::default();
    full_server(&mut net, Scheme::Http, "192.0.2.10", "");
    serve_image(&mut net, "192.0.2.10", Models::List(vec!["9641".into()]));
    let t = drive(
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_eq!(
        t.result.software,
        Software::Rejected {
            name: "new.bin".into(),
            reason: Rejected::WrongModel("9611G".into())
        }
    );
    assert!(!net.log.iter().any(|l| l.ends_with("/new.bin")));
}

fn rfs_bytes() -> Vec<u8> {
    b"root file system tar ".repeat(300)
}

/// An upgrade script naming APPNAME and RFSNAME, both images signed (each under its own
/// name) and served; `rfs_sig` = false serves no RFS signature.
fn rfs_server(net: &mut Net, rfs_name: &str, rfs_sig: bool) {
    full_server(net, Scheme::Http, "192.0.2.10", "");
    net.serve(
        Scheme::Http,
        "192.0.2.10",
        "/96x1Supgrade.txt",
        Answer::File(
            format!("SET APPNAME new.bin\nSET RFSNAME {rfs_name}\nGET 46xxsettings.txt\n")
                .into_bytes(),
        ),
    );
    serve_image(net, "192.0.2.10", Models::List(vec!["9611".into()]));
    let rfs = rfs_bytes();
    if rfs_sig {
        let sig = sign(&key(), rfs_name, Models::Any, &rfs).unwrap();
        net.serve(
            Scheme::Http,
            "192.0.2.10",
            &format!("/{rfs_name}.sig"),
            Answer::File(sig.into_bytes()),
        );
    }
    net.serve(
        Scheme::Http,
        "192.0.2.10",
        &format!("/{rfs_name}"),
        Answer::File(rfs),
    );
}

/// RFSNAME (files.md §8): fetched after the application, each with its signature, written
/// with it into the inactive slot (`application || RFS`) and recorded; a second run with the
/// same names downloads nothing; a new RFSNAME alone fetches both again into the other slot.
#[test]
fn rfsname_is_fetched_verified_and_flashed_with_the_application() {
    let mut net = Net::default();
    rfs_server(&mut net, "lang1.tar", true);
    let t = drive(
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    let sw: Vec<&str> = net
        .log
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains(".bin") || l.contains(".tar"))
        .collect();
    assert_eq!(
        sw,
        [
            "Http 192.0.2.10 /new.bin.sig",
            "Http 192.0.2.10 /new.bin",
            "Http 192.0.2.10 /lang1.tar.sig",
            "Http 192.0.2.10 /lang1.tar",
        ]
    );
    assert_installed(&t.result.software, "new.bin", Slot::B);
    let Software::Installed { record, .. } = &t.result.software else {
        unreachable!()
    };
    let b = record.slot(Slot::B).unwrap();
    assert_eq!(record.running_rfs(), "lang1.tar");
    let mut content = image();
    content.extend_from_slice(&rfs_bytes());
    assert!(b.matches(&content));
    assert!(!b.matches(&image()));
    // Stored and read back: the RFS survives the record's text form.
    assert_eq!(BootRecord::decode(&record.encode()).as_ref(), Ok(record));

    // The next boot runs the new slot: nothing to fetch.
    let mut cfg = config();
    cfg.record = record.confirmed();
    let mut net2 = Net::default();
    rfs_server(&mut net2, "lang1.tar", true);
    let t2 = drive(
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), cfg.clone()),
        &mut net2,
    );
    assert_eq!(t2.result.software, Software::Unchanged);
    assert!(
        !net2
            .log
            .iter()
            .any(|l| l.contains(".bin") || l.contains(".tar"))
    );

    // A new RFSNAME alone: both again, into slot A.
    let mut net3 = Net::default();
    rfs_server(&mut net3, "lang2.tar", true);
    let t3 = drive(
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), cfg),
        &mut net3,
    );
    assert_installed(&t3.result.software, "new.bin", Slot::A);
    let Software::Installed { record, .. } = &t3.result.software else {
        unreachable!()
    };
    assert_eq!(record.running_rfs(), "lang2.tar");
    assert!(net3.log.iter().any(|l| l.ends_with("/new.bin")));
}

/// An RFS without its signature file: nothing is flashed, the running slot stays, and the
/// refusal names the RFS.
#[test]
fn an_rfs_that_is_not_signed_flashes_nothing() {
    let mut net = Net::default();
    rfs_server(&mut net, "lang1.tar", false);
    let t = drive(
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_eq!(
        t.result.software,
        Software::Rejected {
            name: "lang1.tar".into(),
            reason: Rejected::NoSignature
        }
    );
    assert_eq!(net.flash_ops, 0);
    assert!(!net.log.iter().any(|l| l.ends_with("/lang1.tar")));
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
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
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
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
        &mut net,
    );
    assert_installed(&t.result.software, "new.bin", Slot::B);
    assert_eq!(
        net.log.iter().filter(|l| l.ends_with("/new.bin")).count(),
        3
    );
    assert_eq!(net.flash_ops, 3);
    assert!(t.warnings.iter().any(|w| {
        matches!(
            w,
            FileWarning::Get {
                kind: warning::FileKind::Image { attempt: 1 },
                error: FetchError::Http(phone_http::Failure::EarlyClose { .. }),
                ..
            }
        ) && w.to_string().contains("closed early")
    }));
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
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
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
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
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
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), cfg),
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
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), cfg),
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
    let parse_url = |e: &str| server::entry_url(e);
    let (s, p) = parse_url("https://[2001:db8::1]:8443/lang/Mlf_German.xml")
        .unwrap()
        .unwrap();
    assert_eq!(
        (s.scheme, s.host.as_str(), s.port, p.as_str()),
        (Scheme::Https, "2001:db8::1", 8443, "/lang/Mlf_German.xml")
    );
    let (s, p) = parse_url("http://files.example/ca.pem").unwrap().unwrap();
    assert_eq!((s.port, p.as_str()), (80, "/ca.pem"));
    assert!(parse_url("http://:80/x").unwrap().is_err());
    assert!(parse_url("http://h:99999/x").unwrap().is_err());
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
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), config()),
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

#[test]
fn tlssrvrid_reaches_the_transmit() {
    for (value, expected) in [(None, true), (Some("1"), true), (Some("0"), false)] {
        let mut net = Net::default();
        full_server(&mut net, Scheme::Https, "tls.example", "");
        let mut sets = vec![("TLSSRVR", "tls.example")];
        if let Some(v) = value {
            sets.push(("TLSSRVRID", v));
        }
        let t = drive(stage(store_with(&sets), config()), &mut net);
        assert!(t.result.server.is_some());
        assert!(!net.check_identity.is_empty());
        assert!(
            net.check_identity.iter().all(|c| *c == expected),
            "TLSSRVRID={value:?}: {:?}",
            net.check_identity
        );
    }
}

/// Issue 12: a served script `# L` / `GET nofile.txt` / `GOTO L` is bounded in connections
/// (a GET not obtained counts), and so is one naming another host in a loop.
#[test]
fn failed_gets_in_a_loop_are_bounded() {
    for (script, host) in [
        (&b"# L\nGET nofile.txt\nGOTO L\n"[..], "192.0.2.10"),
        (
            &b"# L\nGET http://victim.example/x\nGOTO L\n"[..],
            "victim.example",
        ),
    ] {
        let mut net = Net::default();
        net.serve(
            Scheme::Http,
            "192.0.2.10",
            "/96x1Supgrade.txt",
            Answer::File(script.to_vec()),
        );
        net.up(Scheme::Http, "victim.example");
        let mut cfg = config();
        // Enough steps for many times the bound; fewer than the default keep the test quick.
        cfg.script.max_steps = 30_000;
        let per_host = cfg.max_gets_per_host as usize;
        let t = drive(
            stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), cfg),
            &mut net,
        );
        let to_host = net.log.iter().filter(|l| l.contains(host)).count();
        assert!(to_host <= per_host, "{to_host} requests to {host}");
        assert!(net.connects.len() <= per_host + 1, "{}", net.connects.len());
        assert!(t.result.gets as usize <= per_host + 1);
        // The script ran to its own bound; the stage went on and finished.
        assert_eq!(t.result.upgrade_stat, 1);
        assert!(t.warnings.iter().any(|w| matches!(
            w,
            FileWarning::Get {
                error: FetchError::HostBudget,
                ..
            }
        )));
    }
    // The total bound holds across hosts.
    let mut script = Vec::new();
    for i in 0..300 {
        script.extend_from_slice(format!("GET http://h{i}.example/x\n").as_bytes());
    }
    let mut net = Net::default();
    net.serve(
        Scheme::Http,
        "192.0.2.10",
        "/96x1Supgrade.txt",
        Answer::File(script),
    );
    let mut cfg = config();
    cfg.max_gets = 40;
    let t = drive(
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), cfg),
        &mut net,
    );
    assert_eq!(net.connects.len(), 40);
    assert_eq!(t.result.gets, 40);
}

/// Issue 12: warnings are bounded in count (the rest counted) and in bytes (long names cut,
/// control characters escaped).
#[test]
fn warnings_are_bounded_in_count_and_bytes() {
    let long = "N".repeat(4 * 1024);
    let mut script = Vec::new();
    script.extend_from_slice(b"# L\n");
    script.extend_from_slice(format!("SET {long} 1\n").as_bytes());
    script.extend_from_slice(b"SET L2QVLAN 99999\nGOTO L\n");
    let mut net = Net::default();
    net.serve(
        Scheme::Http,
        "192.0.2.10",
        "/96x1Supgrade.txt",
        Answer::File(script),
    );
    let mut cfg = config();
    cfg.script.max_steps = 4000;
    let max = cfg.max_warnings as usize;
    let t = drive(
        stage(store_with(&[("HTTPSRVR", "192.0.2.10")]), cfg),
        &mut net,
    );
    assert_eq!(t.warnings.len(), max);
    assert!(t.result.warnings_dropped > 0);
    for w in &t.warnings {
        let line = w.to_string();
        assert!(
            line.len() < 2 * warning::MAX_TEXT + 200,
            "{} bytes",
            line.len()
        );
        assert!(!line.contains('\r') && !line.contains('\n'));
    }
    assert!(warning::truncated("a\r\nb") == "a\\r\\nb");
}

/// Commit on take: the stage plans its first GET but starts nothing (no connection id, no
/// request counted) until the caller polls; a connection reported failed moves the walk on
/// with the right counters.
#[test]
fn commit_on_take() {
    let store = store_with(&[("HTTPSRVR", "a.example,b.example")]);
    let mut s = stage(store, config());
    for i in 1..4 {
        s.handle_input(Input::Timeout(T0 + Duration::from_millis(i)));
        s.handle_input(Input::TransportFailed(T0, Peer::Conn(1)));
    }
    assert_eq!(s.gets(), 0, "nothing started without a poll");
    assert_eq!(s.poll_timeout(), Some(T0 + Duration::from_millis(3)));
    let mut t = harness::Transcript::new(s, T0 + Duration::from_millis(3));
    assert_eq!(t.machine.gets(), 1);
    let connects: Vec<_> = t
        .transmits()
        .into_iter()
        .filter_map(|x| match x {
            Transmit::Http(phone_http::Transmit {
                conn,
                action: Action::Connect { host, .. },
            }) => Some((*conn, host.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(connects, [(1, "a.example".to_string())]);
    // The connection fails: closed, and the next candidate on a new connection, counted.
    let now = t.now;
    let log = t.input(Input::TransportFailed(now, Peer::Conn(1))).to_vec();
    let http: Vec<_> = log
        .iter()
        .filter_map(|l| match l {
            Logged::Transmit(_, Transmit::Http(x)) => Some(x.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(http[0].conn, 1);
    assert_eq!(http[0].action, Action::Close);
    assert_eq!(http[1].conn, 2);
    assert!(matches!(&http[1].action, Action::Connect { host, .. } if host == "b.example"));
    assert_eq!(t.machine.gets(), 2);
    assert!(log.iter().any(|l| matches!(
        l,
        Logged::Event(_, Event::Display(DisplayEvent::Http { n: 2, .. }))
    )));
    // A stale report about connection 1 changes nothing.
    let log = t.input(Input::TransportFailed(now, Peer::Conn(1))).to_vec();
    assert!(log.is_empty());
    assert_eq!(t.machine.gets(), 2);
}

/// Same seed and inputs give the same outputs.
#[test]
fn deterministic() {
    let run = || {
        let mut net = Net::default();
        net.up(Scheme::Http, "slow.example");
        net.serve(
            Scheme::Http,
            "slow.example",
            "/96x1Supgrade.txt",
            Answer::Silent,
        );
        let t = drive(
            stage(
                store_with(&[("HTTPSRVR", "down.example,slow.example")]),
                config(),
            ),
            &mut net,
        );
        (t.events, t.end, net.connects)
    };
    assert_eq!(run(), run());
}
