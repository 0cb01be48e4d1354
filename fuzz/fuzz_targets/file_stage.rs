//! phone-boot's file stage through the transcript harness: a store naming HTTPS and HTTP
//! servers (TLSSRVRID, AUTH, directories chosen by the input), then arbitrary answers on the
//! connection the stage opened last — whole files (scripts the fuzzer writes, a valid firmware
//! signature and image), raw bytes split at arbitrary points, 404s —, connects, closes,
//! transport failures (on the current or a stale connection), flash acknowledgements and
//! failures, and time steps.
//!
//! Oracles: no panic; at most 64 outputs per input and the deadline never in the past, equal
//! to `poll_timeout` (the harness); at most one `Done` and nothing after it; GETs attempted
//! within `max_gets` and per host within `max_gets_per_host`; warnings within
//! `max_warnings`, each log line bounded and free of raw CR/LF; `Tls::check_identity` is
//! TLSSRVRID on every HTTPS connect; the same seed and inputs give the same transcript.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use phone_boot::files::warning::MAX_TEXT;
use phone_boot::files::{Event, FileStage, Peer, StageConfig, Transmit};
use phone_boot::firmware::{FirmwareKey, Models, SigningKey, sign};
use phone_boot::flash::{BootRecord, SlotImage};
use phone_http::{Action, ConnId};
use phone_sansio::harness::{Logged, Transcript};
use phone_sansio::{Input, Instant};
use phone_settings::{Source, Store};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    /// A 200 with this body (a script, a settings file, a certificate...).
    File {
        body: Vec<u8>,
        cut: u16,
    },
    /// A vendor-like upgrade script that asks for `new.bin` and the settings file.
    Upgrade,
    /// The valid signature file of `new.bin`.
    Signature,
    /// The image `new.bin` signs, maybe cut short.
    Image {
        cut: Option<u16>,
    },
    /// Raw response bytes, read in pieces cut at these offsets.
    Raw {
        data: Vec<u8>,
        cuts: Vec<u16>,
    },
    NotFound,
    Connected,
    Closed,
    Failed,
    /// A fact about an older connection.
    Stale {
        back: u8,
        fail: bool,
    },
    FlashDone,
    FlashFailed,
    Wait(u16),
    WaitToDeadline,
}

#[derive(Arbitrary, Debug)]
struct Case {
    seed: u64,
    servers: u8,
    tlssrvrid: bool,
    auth: bool,
    ops: Vec<Op>,
}

const MAX_GETS: u32 = 24;
const MAX_PER_HOST: u32 = 12;
const MAX_WARNINGS: u32 = 16;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| (0..3000u32).map(|i| (i % 251) as u8).collect())
}

fn signature() -> &'static [u8] {
    static SIG: OnceLock<Vec<u8>> = OnceLock::new();
    SIG.get_or_init(|| {
        sign(&key(), "new.bin", Models::Any, image())
            .map(String::into_bytes)
            .unwrap_or_default()
    })
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

fn stage(case: &Case) -> FileStage<ChaCha8Rng> {
    let mut store = Store::new();
    let mut set = |n: &str, v: &str| {
        let _ = store.apply_set(n, v, Source::Sson, 0);
    };
    if case.servers & 1 != 0 {
        set("TLSSRVR", "tls.test,10.0.0.2");
    }
    if case.servers & 2 != 0 || case.servers & 1 == 0 {
        set("HTTPSRVR", "10.0.0.1,files.test");
    }
    if case.servers & 4 != 0 {
        set("HTTPDIR", "phones/");
    }
    set("TLSSRVRID", if case.tlssrvrid { "1" } else { "0" });
    if case.auth {
        let _ = store.apply_set("AUTH", "1", Source::SettingsFile, 0);
    }
    let record = BootRecord::factory(SlotImage::of("factory.bin", b"factory"));
    let mut config = StageConfig::new("9611G", [0, 0x24, 0xd7, 1, 2, 3], "SN1", record);
    config.firmware_key = Some(FirmwareKey::of(&key()));
    config.max_gets = MAX_GETS;
    config.max_gets_per_host = MAX_PER_HOST;
    config.max_warnings = MAX_WARNINGS;
    config.walk_rounds = 2;
    config.image_attempts = 2;
    config.script.max_steps = 20_000;
    config.flash.chunk = 1024;
    FileStage::new(
        config,
        store,
        ChaCha8Rng::seed_from_u64(case.seed),
        Instant::from_secs(1),
    )
}

/// The connections the stage opened, in order.
fn conns(t: &Transcript<FileStage<ChaCha8Rng>>) -> Vec<ConnId> {
    t.log
        .iter()
        .filter_map(|l| match l {
            Logged::Transmit(_, Transmit::Http(x))
                if matches!(x.action, Action::Connect { .. }) =>
            {
                Some(x.conn)
            }
            _ => None,
        })
        .collect()
}

fn feed(t: &mut Transcript<FileStage<ChaCha8Rng>>, conn: ConnId, bytes: &[u8], cuts: &[u16]) {
    let now = t.now;
    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) % (bytes.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut last = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        t.input(Input::Receive(now, Peer::Conn(conn), &bytes[last..c]));
        last = c;
    }
    t.input(Input::Closed(now, Peer::Conn(conn)));
}

fn play(case: &Case) -> Transcript<FileStage<ChaCha8Rng>> {
    let mut t = Transcript::new(stage(case), Instant::from_secs(1));
    t.max_outputs_per_input = 64;
    for op in case.ops.iter().take(256) {
        let now = t.now;
        let all = conns(&t);
        let conn = all.last().copied().unwrap_or(0);
        let peer = Peer::Conn(conn);
        match op {
            Op::File { body, cut } => feed(&mut t, conn, &ok(body), &[*cut]),
            Op::Upgrade => feed(
                &mut t,
                conn,
                &ok(b"SET APPNAME new.bin\nSET LANGUAGES a.xml\nSET TRUSTCERTS ca.pem\nGET 46xxsettings.txt\n"),
                &[],
            ),
            Op::Signature => feed(&mut t, conn, &ok(signature()), &[]),
            Op::Image { cut } => {
                let r = ok(image());
                let end = cut.map_or(r.len(), |c| usize::from(c) % (r.len() + 1));
                feed(&mut t, conn, &r[..end], &[700, 1400, 2100]);
            }
            Op::Raw { data, cuts } => feed(&mut t, conn, data, cuts),
            Op::NotFound => feed(
                &mut t,
                conn,
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                &[],
            ),
            Op::Connected => {
                t.input(Input::Completed(now, peer));
            }
            Op::Closed => {
                t.input(Input::Closed(now, peer));
            }
            Op::Failed => {
                t.input(Input::TransportFailed(now, peer));
            }
            Op::Stale { back, fail } => {
                let i = all.len().saturating_sub(1 + usize::from(*back));
                let old = Peer::Conn(all.get(i).copied().unwrap_or(0));
                if *fail {
                    t.input(Input::TransportFailed(now, old));
                } else {
                    t.input(Input::Receive(now, old, b"HTTP/1.1 200 OK\r\n\r\nx"));
                }
            }
            Op::FlashDone => {
                t.input(Input::Completed(now, Peer::Flash));
            }
            Op::FlashFailed => {
                t.input(Input::TransportFailed(now, Peer::Flash));
            }
            Op::Wait(ms) => {
                t.input(Input::Timeout(now + core::time::Duration::from_millis(u64::from(*ms))));
            }
            Op::WaitToDeadline => {
                if t.deadline != Instant::MAX {
                    let d = t.deadline;
                    t.input(Input::Timeout(d));
                }
            }
        }
    }
    t
}

fn check(case: &Case, t: &Transcript<FileStage<ChaCha8Rng>>) {
    let mut done = false;
    let mut warnings = 0u32;
    let mut per_host: BTreeMap<String, u32> = BTreeMap::new();
    let mut gets = 0u32;
    for l in &t.log {
        assert!(!done, "output after Done: {l:?}");
        match l {
            Logged::Transmit(_, Transmit::Http(x)) => {
                if let Action::Connect { host, tls, .. } = &x.action {
                    gets += 1;
                    *per_host.entry(host.to_ascii_lowercase()).or_default() += 1;
                    if let Some(tls) = tls {
                        assert_eq!(tls.check_identity, case.tlssrvrid, "TLSSRVRID lost");
                    }
                }
            }
            Logged::Transmit(_, Transmit::Flash(_)) => {}
            Logged::Event(_, Event::Warning(w)) => {
                warnings += 1;
                let line = w.to_string();
                assert!(line.len() <= 4 * MAX_TEXT + 256, "{} bytes", line.len());
                assert!(!line.contains('\r') && !line.contains('\n'), "{line:?}");
            }
            Logged::Event(_, Event::Done(r)) => {
                done = true;
                assert!(r.gets <= MAX_GETS);
            }
            Logged::Event(..) => {}
        }
    }
    assert!(gets <= MAX_GETS, "{gets} GETs");
    assert!(
        per_host.values().all(|&n| n <= MAX_PER_HOST),
        "{per_host:?}"
    );
    assert!(warnings <= MAX_WARNINGS);
    // A GET that cannot be put on the wire is counted without a connect.
    assert!(t.machine.gets() >= gets && t.machine.gets() <= MAX_GETS);
}

fuzz_target!(|case: Case| {
    let t = play(&case);
    check(&case, &t);
    // Determinism: the same seed and inputs give the same transcript.
    let again = play(&case);
    assert_eq!(t.log, again.log);
});
