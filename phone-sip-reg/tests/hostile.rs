//! Oracles for the classes of issue 12, each catching the siblings of its example:
//!
//! - **Server-dictated delays have a floor**: a registrar answering every request with any mix
//!   of 503/Retry-After, 423/Min-Expires, tiny grants, challenges, redirects, failures and
//!   closes, after any delay including none, gets a bounded number of new requests per
//!   controller per second of virtual time (and the harness's oracles hold throughout).
//! - **Nothing from a response reaches a header raw**: whatever bytes a challenge holds, every
//!   request the phone sends has a clean header section (CRLF line ends, no other control).
//! - **An answerable challenge is answered with credentials, never without**.
//! - **The parser refuses what the RFCs refuse**: status codes of other than 3 digits,
//!   conflicting Content-Lengths, duplicate auth parameters, control characters in values.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use core::time::Duration;

use phone_sansio::harness::{Logged, Peer, Reply, Transcript};
use phone_sip_reg::digest::{AuthError, Challenge};
use phone_sip_reg::message::{self, HeaderName, Message, ParseError, Request};
use phone_sip_reg::{Client, Config, Instant, Transmit};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

/// Most new requests (distinct CSeq) one controller may receive in any one second. One
/// attempt answered at once is at most 1 + 4 challenges + 3 423s + 3 redirects + 1 transport
/// retry = 12 requests; a lost registration starts one more attempt at once, and an
/// un-REGISTER can be challenged too. Without the floors the count is unbounded (the machine
/// with a floor of 0 trips this at a single instant); 3000 cases of this file's strategy saw
/// at most 8.
const MAX_NEW_REQUESTS_PER_SECOND: usize = 40;

fn config(list: &str, simultaneous: bool) -> Config {
    let mut cfg = Config::default();
    cfg.apply_setting("SIP_CONTROLLER_LIST", list).unwrap();
    cfg.apply_setting("SIPDOMAIN", "lab.test").unwrap();
    if simultaneous {
        cfg.apply_setting("SIPREGPROXYPOLICY", "simultaneous")
            .unwrap();
    }
    cfg.user = "1001".into();
    cfg.password = Some("secret".into());
    cfg.local_host = "10.77.0.100".into();
    cfg
}

fn req(t: &Transmit) -> Request {
    match message::parse(&t.payload).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("phone sent a response"),
    }
}

/// The response head copying Via, From, To, Call-ID and CSeq, written by hand (so hostile
/// bytes go out exactly as given), then `extra` header lines and an empty body.
fn raw_response(r: &Request, status: &str, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status}\r\n").into_bytes();
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        for v in r.headers.all(&name) {
            out.extend_from_slice(format!("{}: {v}\r\n", name.as_str()).as_bytes());
        }
    }
    for e in extra {
        out.extend_from_slice(e);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

/// True when every CR is followed by LF, every LF preceded by CR, and no other control byte
/// (HTAB aside) appears in the header section.
fn clean_header_section(payload: &[u8]) -> bool {
    let end = payload
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(payload.len(), |p| p + 4);
    let head = &payload[..end];
    head.iter().enumerate().all(|(i, &b)| match b {
        b'\r' => head.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && head[i - 1] == b'\r',
        b'\t' => true,
        b => !b.is_ascii_control(),
    })
}

/// One scripted answer of the hostile registrar.
#[derive(Clone, Debug)]
enum Answer {
    Unavailable(Option<u8>),
    IntervalTooBrief(Option<u8>),
    Ok {
        contact: Option<u8>,
        header: Option<u8>,
    },
    Challenge {
        proxy: bool,
        stale: bool,
        nonce: u8,
        qop: u8,
    },
    Redirect(bool),
    Status(u16),
    Silence,
    Fail,
    Close,
}

fn small() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![
        Just(Some(0)),
        Just(Some(1)),
        Just(None),
        (2u8..4).prop_map(Some)
    ]
}

/// A script: most often one or two answers repeated for ever (a registrar stuck on one
/// answer is the loop's shape), sometimes a long mix.
fn script() -> impl Strategy<Value = Vec<(Answer, u8)>> {
    prop_oneof![
        3 => proptest::collection::vec((answer(), 0u8..4), 1..3),
        1 => proptest::collection::vec((answer(), 0u8..4), 1..24),
    ]
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        // The degenerate values (0, 1) are what broke the floors: make them likely.
        prop_oneof![Just(Some(0)), Just(None), (1u8..3).prop_map(Some)]
            .prop_map(Answer::Unavailable),
        prop_oneof![Just(Some(0)), Just(None), (1u8..4).prop_map(Some)]
            .prop_map(Answer::IntervalTooBrief),
        (small(), small()).prop_map(|(contact, header)| Answer::Ok { contact, header }),
        (any::<bool>(), any::<bool>(), 0u8..3, 0u8..4).prop_map(|(proxy, stale, nonce, qop)| {
            Answer::Challenge {
                proxy,
                stale,
                nonce,
                qop,
            }
        }),
        any::<bool>().prop_map(Answer::Redirect),
        prop_oneof![Just(408u16), Just(480), Just(500), Just(600), Just(302)]
            .prop_map(Answer::Status),
        Just(Answer::Silence),
        Just(Answer::Fail),
        Just(Answer::Close),
    ]
}

/// Plays the script, checks every transmit, and remembers the challenges it sent.
struct Hostile {
    script: Vec<(Answer, u8)>,
    next: usize,
    /// Per controller: (proxy, instant, CSeq) of a challenge just sent with no delay.
    challenged: Vec<Option<(bool, Instant, u32)>>,
    /// Every delayed reply scheduled: (controller, delivery instant).
    scheduled: Vec<(usize, Instant)>,
    /// Per controller: the CSeq of the last request and the instants of the new ones.
    requests: Vec<(Option<u32>, Vec<Instant>)>,
    /// How many immediate answers to a challenge were checked (the oracle is not vacuous).
    checked: usize,
}

impl Hostile {
    fn new(script: Vec<(Answer, u8)>, controllers: usize) -> Self {
        Hostile {
            script,
            next: 0,
            challenged: vec![None; controllers],
            scheduled: Vec::new(),
            requests: vec![(None, Vec::new()); controllers],
            checked: 0,
        }
    }
}

impl Peer<Client<ChaCha8Rng>> for Hostile {
    fn on_transmit(&mut self, now: Instant, t: &Transmit) -> Vec<Reply<usize>> {
        assert!(
            clean_header_section(&t.payload),
            "{:?}",
            String::from_utf8_lossy(&t.payload)
        );
        let r = req(t);
        let cseq = r.headers.cseq().unwrap().seq;
        // The rate oracle runs online, so a loop without time passing fails here instead of
        // spinning in the harness.
        let (last, at) = &mut self.requests[t.controller];
        if *last != Some(cseq) {
            *last = Some(cseq);
            at.push(now);
            let recent = at
                .iter()
                .rev()
                .take_while(|a| now - **a < Duration::from_secs(1))
                .count();
            assert!(
                recent <= MAX_NEW_REQUESTS_PER_SECOND,
                "controller {}: {recent} new requests within 1 s up to {now:?}",
                t.controller
            );
        }
        if let Some((proxy, at, seq)) = self.challenged[t.controller].take()
            && at == now
            && seq != cseq
        {
            // The immediate answer to a challenge carries credentials.
            assert!(
                !r.headers.credentials(proxy).unwrap().is_empty(),
                "REGISTER without credentials after a challenge: {:?}",
                String::from_utf8_lossy(&t.payload)
            );
            self.checked += 1;
        }
        let (a, delay) = self.script[self.next % self.script.len()].clone();
        self.next += 1;
        let after = match delay % 4 {
            0 | 1 => Duration::ZERO,
            2 => Duration::from_millis(100),
            _ => Duration::from_secs(3),
        };
        let peer = t.controller;
        // A delayed reply to this controller landing now may end the transaction first. (A
        // reply without delay to an earlier transmit at this instant was delivered before
        // this transmit could be taken: one transaction per controller.)
        let alone = !self.scheduled.iter().any(|&(c, at)| c == peer && at == now);
        if !matches!(a, Answer::Silence) && !after.is_zero() {
            self.scheduled.push((peer, now + after));
        }
        let bytes = match a {
            Answer::Unavailable(ra) => {
                let extra: Vec<Vec<u8>> = ra
                    .map(|s| format!("Retry-After: {s}").into_bytes())
                    .into_iter()
                    .collect();
                raw_response(&r, "503 Unavailable", &extra)
            }
            Answer::IntervalTooBrief(min) => {
                let extra: Vec<Vec<u8>> = min
                    .map(|s| format!("Min-Expires: {s}").into_bytes())
                    .into_iter()
                    .collect();
                raw_response(&r, "423 Interval Too Brief", &extra)
            }
            Answer::Ok { contact, header } => {
                let mut extra = Vec::new();
                if let Some(e) = contact {
                    let c = r.headers.get(&HeaderName::Contact).unwrap();
                    extra.push(format!("Contact: {c};expires={e}").into_bytes());
                }
                if let Some(e) = header {
                    extra.push(format!("Expires: {e}").into_bytes());
                }
                raw_response(&r, "200 OK", &extra)
            }
            Answer::Challenge {
                proxy,
                stale,
                nonce,
                qop,
            } => {
                let qop = [
                    "",
                    ", qop=\"auth\"",
                    ", qop=\"auth-int\"",
                    ", qop=\"bogus\"",
                ][usize::from(qop % 4)];
                let name = if proxy {
                    "Proxy-Authenticate"
                } else {
                    "WWW-Authenticate"
                };
                let h = format!(
                    "{name}: Digest realm=\"lab.test\", nonce=\"n{nonce}\"{qop}{}",
                    if stale { ", stale=true" } else { "" }
                );
                // Checked only when this challenge is the one the machine acts on.
                if after.is_zero() && alone {
                    self.challenged[t.controller] = Some((proxy, now, cseq));
                }
                let status = if proxy {
                    "407 Proxy Authentication Required"
                } else {
                    "401 Unauthorized"
                };
                raw_response(&r, status, &[h.into_bytes()])
            }
            Answer::Redirect(tcp) => {
                let to = if tcp {
                    "Contact: <sip:10.0.0.9:5070;transport=tcp>"
                } else {
                    "Contact: <sip:10.0.0.8>"
                };
                raw_response(&r, "302 Moved", &[to.as_bytes().to_vec()])
            }
            Answer::Status(s) => raw_response(&r, &format!("{s} Whatever"), &[]),
            Answer::Silence => return Vec::new(),
            Answer::Fail => return vec![Reply::Failed { after, peer }],
            Answer::Close => return vec![Reply::Closed { after, peer }],
        };
        vec![Reply::Receive { after, peer, bytes }]
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The floor class: no script makes the phone send new requests faster than the bound,
    /// over two minutes of virtual time; every request is clean; every immediate answer to a
    /// challenge carries credentials; the harness checks bounded outputs per input and
    /// deadlines never in the past.
    #[test]
    fn hostile_registrar_gets_a_bounded_request_rate(
        script in script(),
        seed in any::<u64>(),
        simultaneous in any::<bool>(),
    ) {
        let cfg = config(
            "10.0.0.1;transport=udp,10.0.0.2;transport=tcp,10.0.0.3;transport=udp",
            simultaneous,
        );
        let c = Client::new(cfg, ChaCha8Rng::seed_from_u64(seed), Instant::ZERO);
        let mut t = Transcript::new(c, Instant::ZERO);
        let mut peer = Hostile::new(script, 3);
        t.run(&mut peer, Instant::from_secs(120));
    }

    /// The injection class: whatever bytes a challenge's realm, nonce and opaque hold
    /// (control characters, quotes, backslashes, non-UTF-8), the phone's next requests are
    /// clean, and a challenge that parsed and is answerable is answered with its own realm.
    #[test]
    fn challenge_bytes_never_leak_into_requests(
        realm in proptest::collection::vec(any::<u8>(), 0..24),
        nonce in proptest::collection::vec(any::<u8>(), 1..24),
        opaque in proptest::collection::vec(any::<u8>(), 0..24),
        proxy in any::<bool>(),
    ) {
        let cfg = config("10.0.0.1;transport=udp", false);
        let c = Client::new(cfg, ChaCha8Rng::seed_from_u64(7), Instant::ZERO);
        let mut t = Transcript::new(c, Instant::ZERO);
        let first = t.transmits()[0].clone();
        let r = req(&first);
        let name: &[u8] = if proxy { b"Proxy-Authenticate: " } else { b"WWW-Authenticate: " };
        let mut h = name.to_vec();
        h.extend_from_slice(b"Digest realm=\"");
        h.extend_from_slice(&realm);
        h.extend_from_slice(b"\", nonce=\"");
        h.extend_from_slice(&nonce);
        h.extend_from_slice(b"\", opaque=\"");
        h.extend_from_slice(&opaque);
        h.extend_from_slice(b"\", qop=\"auth\"");
        let status = if proxy { "407 Proxy" } else { "401 Unauthorized" };
        let bytes = raw_response(&r, status, &[h]);
        let before = t.log.len();
        t.input(phone_sansio::Input::Receive(Instant::ZERO, 0, &bytes));
        let answered: Vec<Transmit> = t.log[before..]
            .iter()
            .filter_map(|l| match l {
                Logged::Transmit(_, x) => Some(x.clone()),
                Logged::Event(..) => None,
            })
            .collect();
        let parsed = match message::parse(&bytes) {
            Ok(Message::Response(resp)) => resp.headers.challenges(proxy).ok(),
            _ => None,
        };
        match parsed.as_deref() {
            Some([ch]) if ch.answerable().is_ok() => {
                prop_assert_eq!(answered.len(), 1);
                let creds = req(&answered[0]).headers.credentials(proxy).unwrap();
                prop_assert_eq!(creds.len(), 1);
                prop_assert_eq!(&creds[0].realm, &ch.realm);
                prop_assert_eq!(&creds[0].opaque, &ch.opaque);
            }
            _ => prop_assert!(answered.is_empty(), "{:?}", answered),
        }
        t.advance(Instant::from_secs(40));
        for x in t.transmits() {
            prop_assert!(clean_header_section(&x.payload));
        }
    }

    /// Status-Code is exactly three digits (RFC 3261 §7.2).
    #[test]
    fn status_code_digits(digits in "[0-9]{1,7}", reason in "( [ -~]{0,10})?") {
        let msg = format!("SIP/2.0 {digits}{reason}\r\n\r\n");
        let code: Option<u16> = digits.parse().ok();
        let valid = digits.len() == 3 && code.is_some_and(|c| (100..=699).contains(&c));
        match message::parse(msg.as_bytes()) {
            Ok(Message::Response(r)) => {
                prop_assert!(valid, "{msg:?} parsed");
                prop_assert_eq!(Some(r.status), code);
            }
            Ok(Message::Request(_)) => prop_assert!(false, "a request?"),
            Err(e) => {
                prop_assert!(!valid, "{msg:?}: {e}");
                prop_assert_eq!(e, ParseError::StartLine);
            }
        }
    }

    /// Whatever bytes a header line holds, a message that parses keeps no control character
    /// (HTAB aside) in any header value.
    #[test]
    fn parsed_header_values_hold_no_control_characters(
        value in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut msg = b"SIP/2.0 401 X\r\nWWW-Authenticate: ".to_vec();
        msg.extend_from_slice(&value);
        msg.extend_from_slice(b"\r\nX: y\r\n\r\n");
        if let Ok(Message::Response(r)) = message::parse(&msg) {
            for h in &r.headers.0 {
                prop_assert!(
                    !h.value.chars().any(|c| c.is_ascii_control() && c != '\t'),
                    "{:?}", h.value
                );
            }
            if let Ok(ch) = r.headers.challenges(false) {
                for c in ch {
                    let text = c.to_string();
                    prop_assert!(!text.chars().any(|c| c.is_ascii_control() && c != '\t'));
                    prop_assert_eq!(Challenge::parse(&text), Ok(c));
                }
            }
        }
    }

    /// Two Content-Length headers must agree, over UDP as on streams.
    #[test]
    fn content_lengths_must_agree(a in 0usize..9, b in 0usize..9, compact in any::<bool>()) {
        let second = if compact { "l" } else { "Content-Length" };
        let msg = format!("SIP/2.0 200 OK\r\nContent-Length: {a}\r\n{second}: {b}\r\n\r\n12345678");
        match message::parse(msg.as_bytes()) {
            Ok(Message::Response(r)) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!(r.body.len(), a);
            }
            Ok(Message::Request(_)) => prop_assert!(false),
            Err(e) => {
                prop_assert_ne!(a, b);
                prop_assert_eq!(e, ParseError::ContentLength);
            }
        }
    }

    /// Any parameter given twice (any case, quoted or not) is refused, naming it.
    #[test]
    fn duplicate_auth_parameters_are_refused(
        names in proptest::sample::subsequence(
            vec!["realm", "nonce", "opaque", "qop", "algorithm", "stale", "domain", "x-other"],
            1..8,
        ),
        dup in any::<proptest::sample::Index>(),
        upper in any::<bool>(),
        quoted in any::<bool>(),
    ) {
        let mut params: Vec<String> = names.iter().map(|n| format!("{n}=\"v\"")).collect();
        let d = names[dup.index(names.len())];
        let again = if upper { d.to_ascii_uppercase() } else { d.to_string() };
        params.push(if quoted { format!("{again}=\"w\"") } else { format!("{again}=w") });
        let h = format!("Digest {}", params.join(", "));
        prop_assert_eq!(Challenge::parse(&h), Err(AuthError::Duplicate(d.to_string())));
    }
}

/// The challenge oracle above is not vacuous: over a fixed set of scripts it checks answers.
#[test]
fn the_challenge_oracle_checks_something() {
    let script = vec![
        (
            Answer::Challenge {
                proxy: true,
                stale: true,
                nonce: 1,
                qop: 1,
            },
            0,
        ),
        (
            Answer::Challenge {
                proxy: false,
                stale: true,
                nonce: 2,
                qop: 0,
            },
            0,
        ),
        (
            Answer::Ok {
                contact: Some(2),
                header: None,
            },
            0,
        ),
    ];
    let cfg = config("10.0.0.1;transport=udp", false);
    let c = Client::new(cfg, ChaCha8Rng::seed_from_u64(1), Instant::ZERO);
    let mut t = Transcript::new(c, Instant::ZERO);
    let mut peer = Hostile::new(script, 1);
    t.run(&mut peer, Instant::from_secs(60));
    assert!(peer.checked >= 10, "{}", peer.checked);
}
