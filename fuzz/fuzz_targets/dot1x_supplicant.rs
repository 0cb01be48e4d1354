//! phone-dot1x supplicant through the shared transcript harness: EAP Requests (Identity,
//! Notification, MD5, TLS with any flags, lengths and data, other and expanded types),
//! Success and Failure with any identifier, raw bytes, frames from a second authenticator or to
//! a group address, prompt answers, Logoff/Restart, failed sends and time jumps, under any
//! DOT1XSTAT, method and credentials (EAP-TLS with a real trust anchor, so rustls runs on what
//! the fuzzer sends as the server's flight). Oracles: no panic, at most 64 outputs per input,
//! deadline never in the past and equal to poll_timeout (the harness); every frame goes to the
//! PAE group and is EAPOL v1; DOT1XSTAT 0 sends nothing; Authorized only after a Response went
//! out; the password never in Debug or Display output.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use phone_dot1x::eap::{EapType, Packet, TlsData, TlsFlags};
use phone_dot1x::eapol::{self, Eapol, PacketType};
use phone_dot1x::{Command, Config, Event, Link, Method, Mode, Secret, Supplicant, TlsConfig};
use phone_sansio::harness::{Logged, Transcript};
use phone_sansio::{Input, Instant};

/// A self-signed P-256 CA (DER), the trust anchor of the TLS runs.
const CA: &str = "3082017b30820121a0030201020214087d8f1b8541db01bff3d280b995d713a7724832300a06082a8648ce3d04030230123110300e06035504030c0766757a7a2d63613020170d3236313133303035343430305a180f32313236313130363035343430305a30123110300e06035504030c0766757a7a2d63613059301306072a8648ce3d020106082a8648ce3d03010703420004693188e60c070b515f4ceeed38e80da5038ddc9fe8c3735a98b4197974e035ddc55686653a8a25167f70781c07fb411b2574bc1b0a5dba1864fb5c45c90eea05a3533051301d0603551d0e04160414cfa26ee2a2bdd44fa280c2541f06bcf15f9740ac301f0603551d23041830168014cfa26ee2a2bdd44fa280c2541f06bcf15f9740ac300f0603551d130101ff040530030101ff300a06082a8648ce3d0403020348003045022100f1f3dd06db48723064488c43e8e8be6685a639f725f582e6791e15abebd407b902205c3071a924b83fe3904bad2b1eaf4729012bdd0666296d412b5ebf5ffab6aa62";
const PASSWORD: &str = "fuzz-secret-pw";
const AUTH: [u8; 6] = [2, 0xaa, 0, 0, 0, 1];

#[derive(Arbitrary, Debug)]
enum Op {
    Wait(u16),
    WaitToDeadline,
    Request {
        id: u8,
        kind: u8,
        data: Vec<u8>,
        other: bool,
        multicast: bool,
    },
    TlsRequest {
        id: u8,
        l: bool,
        m: bool,
        s: bool,
        len: u32,
        data: Vec<u8>,
    },
    Success(u8),
    Failure(u8),
    Raw(Vec<u8>, bool),
    Identity(String),
    Password,
    Logoff,
    Restart,
    Failed,
}

#[derive(Arbitrary, Debug)]
struct Run {
    mode: u8,
    tls: bool,
    with_identity: bool,
    with_password: bool,
    fragment: u16,
    max_message: u16,
    ops: Vec<Op>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Whether fuzzer bytes are free of the password (bytes that carry it themselves, such as a
/// Notification's text, would show it without the supplicant leaking anything).
fn clean(b: &[u8]) -> bool {
    !b.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes())
}

fuzz_target!(|run: Run| {
    let mut c = Config::new([2, 0, 0, 0, 0, 0x42]);
    c.mode = Mode::from_setting(run.mode % 3).unwrap_or_default();
    c.method = if run.tls { Method::Tls } else { Method::Md5 };
    c.identity = run.with_identity.then(|| "phone1".to_string());
    c.password = run.with_password.then(|| Secret::new(PASSWORD));
    c.tls_fragment_size = run.fragment;
    c.max_tls_message = u32::from(run.max_message);
    c.tls_only_with_cert = false;
    c.tls = Some(TlsConfig {
        trusted: vec![hex(CA)],
        unix_time_at_origin: 1_800_000_000,
        ..TlsConfig::default()
    });
    let off = c.mode == Mode::Off;
    let mut t = Transcript::new(Supplicant::new(c, Instant::ZERO), Instant::ZERO);
    t.max_outputs_per_input = 64;
    let link = |other: bool, multicast: bool| Link {
        source: if other { [2, 0xbb, 0, 0, 0, 2] } else { AUTH },
        multicast,
    };
    for op in run.ops.iter().take(256) {
        let now = t.now;
        let dirty = match op {
            Op::Request { data, .. } | Op::Raw(data, _) => !clean(data),
            Op::Identity(s) => !clean(s.as_bytes()),
            _ => false,
        };
        if dirty {
            continue;
        }
        match op {
            Op::Wait(ms) => t.advance(now + Duration::from_millis(u64::from(*ms) * 10)),
            Op::WaitToDeadline => {
                if t.deadline != Instant::MAX {
                    let d = t.deadline;
                    t.advance(d);
                }
            }
            Op::Request {
                id,
                kind,
                data,
                other,
                multicast,
            } => {
                let p = Packet::Request {
                    id: *id,
                    method: EapType::from_u8(*kind),
                    data,
                };
                let bytes = eapol::eap_packet(&p.to_bytes());
                t.input(Input::Receive(now, link(*other, *multicast), &bytes));
            }
            Op::TlsRequest {
                id,
                l,
                m,
                s,
                len,
                data,
            } => {
                let d = TlsData {
                    flags: TlsFlags {
                        length_included: *l,
                        more_fragments: *m,
                        start: *s,
                    },
                    message_length: l.then_some(*len),
                    data,
                }
                .to_bytes();
                let p = Packet::Request {
                    id: *id,
                    method: EapType::Tls,
                    data: &d,
                };
                t.input(Input::Receive(
                    now,
                    link(false, true),
                    &eapol::eap_packet(&p.to_bytes()),
                ));
            }
            Op::Success(id) => {
                let b = eapol::eap_packet(&Packet::Success { id: *id }.to_bytes());
                t.input(Input::Receive(now, link(false, true), &b));
            }
            Op::Failure(id) => {
                let b = eapol::eap_packet(&Packet::Failure { id: *id }.to_bytes());
                t.input(Input::Receive(now, link(false, true), &b));
            }
            Op::Raw(b, multicast) => {
                t.input(Input::Receive(now, link(false, *multicast), b));
            }
            Op::Identity(s) => {
                t.input(Input::Command(now, Command::Identity(s)));
            }
            Op::Password => {
                t.input(Input::Command(now, Command::Password(PASSWORD)));
            }
            Op::Logoff => {
                t.input(Input::Command(now, Command::Logoff));
            }
            Op::Restart => {
                t.input(Input::Command(now, Command::Restart));
            }
            Op::Failed => {
                t.input(Input::TransportFailed(now, link(false, false)));
            }
        }
    }
    let mut responded = false;
    for l in &t.log {
        match l {
            Logged::Transmit(_, tx) => {
                assert!(!off, "DOT1XSTAT 0 sent a frame");
                assert_eq!(tx.destination, eapol::PAE_GROUP);
                let e = Eapol::parse(&tx.payload).expect("the phone's frame parses");
                assert_eq!(e.version, eapol::VERSION);
                if e.packet_type == PacketType::EapPacket {
                    let p = Packet::parse(e.body).expect("the phone's EAP parses");
                    assert!(matches!(p, Packet::Response { .. }), "{p:?}");
                    responded = true;
                }
            }
            Logged::Event(_, ev) => {
                if let Event::Authorized { .. } = ev {
                    assert!(responded, "authorized before any response");
                }
                assert!(!ev.to_string().contains(PASSWORD));
            }
        }
    }
    let dbg = format!("{:?} {:?}", t.machine, t.log);
    assert!(!dbg.contains(PASSWORD), "the password in Debug output");
});
