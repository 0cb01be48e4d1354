//! phone-dns resolver through the shared transcript harness: names asked (valid, dotless,
//! literal, garbage), replies built from the live query (right or wrong ID, source and
//! question; any flags, RCODE and answers, CNAMEs included), raw datagrams from any address,
//! failed sends, cache flushes and time jumps. Oracles: no panic, at most 64 outputs per input,
//! deadline never in the past and equal to `poll_timeout` (the harness); every datagram is a
//! recursive A query to a configured server; a reply with a wrong ID, a wrong source or another
//! question never produces anything; answers are non-empty and bounded, TTLs capped; the same
//! seed and inputs give the same transcript.
#![no_main]

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use phone_dns::message::{CLASS_IN, TYPE_A};
use phone_dns::rand_core::TryRng;
use phone_dns::{Command, Config, Event, Message, Name, RData, Rcode, Record, Resolver, Transmit};
use phone_sansio::harness::{Logged, Transcript};
use phone_sansio::{Input, Instant};

const SERVERS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 0, 0, 53),
    Ipv4Addr::new(10, 0, 1, 53),
    Ipv4Addr::new(10, 0, 2, 53),
];
const NAMES: [&str; 8] = [
    "sip",
    "sip.lab.test",
    "files",
    "http.lab.test",
    "10.0.0.7",
    "a.b.c.d.e",
    "bad name",
    "",
];

/// A deterministic RNG from the fuzz input (splitmix64).
struct Mix(u64);

impl TryRng for Mix {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}

#[derive(Arbitrary, Debug)]
enum Owner {
    /// The question's name.
    Question,
    /// The target of the last CNAME in the answer.
    Alias,
    Other(u8),
}

#[derive(Arbitrary, Debug)]
enum Answer {
    A { owner: Owner, ttl: u32, addr: [u8; 4] },
    Cname { owner: Owner, ttl: u32, target: u8 },
    Other { owner: Owner, rtype: u16, class: u16, data: Vec<u8> },
}

#[derive(Arbitrary, Debug)]
enum Op {
    Wait(u16),
    WaitToDeadline,
    Resolve(u8),
    ResolveRaw(String),
    Reply {
        /// Which of the phone's recent queries (0 = the last).
        back: u8,
        right_id: bool,
        right_source: bool,
        right_question: bool,
        qr: bool,
        opcode: u8,
        rcode: u8,
        tc: bool,
        answers: Vec<Answer>,
    },
    Raw { server: u8, bytes: Vec<u8> },
    Failed(u8),
    Flush,
}

#[derive(Arbitrary, Debug)]
struct Run {
    seed: u64,
    servers: u8,
    domain: bool,
    tries: u8,
    retry_ms: u16,
    cache: u8,
    max_queries: u8,
    max_addrs: u8,
    ops: Vec<Op>,
}

type Log = Vec<Logged<Transmit, Event>>;

fn alias_name(i: u8) -> Name {
    Name::from_text(&format!("alias{}.lab.test", i % 4)).unwrap()
}

fn play(run: &Run) -> Log {
    let n = 1 + usize::from(run.servers % 3);
    let mut cfg = Config::new(&SERVERS[..n], if run.domain { "lab.test" } else { "" });
    cfg.tries = run.tries % 4;
    cfg.retry_interval = Duration::from_millis(u64::from(run.retry_ms % 5000));
    cfg.cache_entries = usize::from(run.cache % 8);
    cfg.max_queries = usize::from(run.max_queries % 8);
    cfg.max_addrs = usize::from(run.max_addrs % 8);
    let max_ttl = cfg.max_ttl;
    let max_addrs = cfg.max_addrs;
    let dns = Resolver::new(cfg, Mix(run.seed), Instant::ZERO);
    let mut t = Transcript::new(dns, Instant::ZERO);
    t.max_outputs_per_input = 64;
    for op in run.ops.iter().take(200) {
        let start = t.log.len();
        let now = t.now;
        let mut must_be_silent = false;
        let bytes: Vec<u8>;
        let input = match op {
            Op::Wait(ms) => Input::Timeout(now + Duration::from_millis(u64::from(*ms))),
            Op::WaitToDeadline => Input::Timeout(if t.deadline == Instant::MAX { now } else { t.deadline }),
            Op::Resolve(i) => Input::Command(now, Command::Resolve { name: NAMES[usize::from(*i) % NAMES.len()] }),
            Op::ResolveRaw(s) => Input::Command(now, Command::Resolve { name: s }),
            Op::Reply { back, right_id, right_source, right_question, qr, opcode, rcode, tc, answers } => {
                let sent: Vec<(Ipv4Addr, Message)> = t
                    .log
                    .iter()
                    .filter_map(|l| match l {
                        Logged::Transmit(_, tx) => Some((tx.server, Message::decode(&tx.payload).unwrap())),
                        Logged::Event(..) => None,
                    })
                    .collect();
                let Some((server, q)) = sent.iter().rev().nth(usize::from(*back % 4)).cloned() else { continue };
                let mut m = q.clone();
                if !right_id {
                    // An ID the phone never used.
                    m.id = (0..=u16::MAX).find(|id| !sent.iter().any(|(_, s)| s.id == *id)).unwrap_or(0);
                }
                if !right_question {
                    m.questions[0].name = Name::from_text("evil.invalid").unwrap();
                }
                m.flags.response = *qr;
                m.flags.opcode = opcode % 16;
                m.flags.rcode = Rcode::from_bits(*rcode);
                m.flags.truncated = *tc;
                let qname = q.questions[0].name.clone();
                let mut alias = qname.clone();
                for a in answers.iter().take(12) {
                    let owner = |o: &Owner| match o {
                        Owner::Question => qname.clone(),
                        Owner::Alias => alias.clone(),
                        Owner::Other(i) => alias_name(*i),
                    };
                    let r = match a {
                        Answer::A { owner: o, ttl, addr } => Record::a(owner(o), *ttl, Ipv4Addr::from(*addr)),
                        Answer::Cname { owner: o, ttl, target } => {
                            let r = Record::cname(owner(o), *ttl, alias_name(*target));
                            alias = alias_name(*target);
                            r
                        }
                        Answer::Other { owner: o, rtype, class, data } => {
                            if *class == CLASS_IN && (*rtype == TYPE_A || *rtype == 5) {
                                continue;
                            }
                            Record { name: owner(o), rtype: *rtype, class: *class, ttl: 1, data: RData::Other(data.iter().take(32).copied().collect()) }
                        }
                    };
                    m.answers.push(r);
                }
                let from = if *right_source { server } else { Ipv4Addr::new(192, 0, 2, 1) };
                must_be_silent = !right_id || !right_source || !right_question || !qr || opcode % 16 != 0;
                let Ok(b) = m.encode() else { continue };
                bytes = b;
                Input::Receive(now, from, &bytes)
            }
            Op::Raw { server, bytes } => Input::Receive(now, SERVERS[usize::from(*server) % 3], bytes),
            Op::Failed(s) => Input::TransportFailed(now, SERVERS[usize::from(*s) % 3]),
            Op::Flush => Input::Command(now, Command::FlushCache),
        };
        t.input(input);
        if must_be_silent {
            assert!(t.log.len() == start, "a wrong reply matched: {:?}", &t.log[start..]);
        }
        for l in &t.log[start..] {
            match l {
                Logged::Transmit(_, tx) => {
                    assert!(SERVERS[..n].contains(&tx.server));
                    let q = Message::decode(&tx.payload).expect("the phone's query decodes");
                    assert!(q.flags.recursion_desired && !q.flags.response);
                    assert_eq!(q.questions.len(), 1);
                    assert_eq!((q.questions[0].qtype, q.questions[0].qclass), (TYPE_A, CLASS_IN));
                }
                Logged::Event(_, Event::Resolved { addrs, ttl, .. }) => {
                    assert!(!addrs.is_empty());
                    assert!(addrs.len() <= max_addrs.max(1));
                    assert!(*ttl <= max_ttl);
                }
                Logged::Event(..) => {}
            }
        }
        assert!(t.machine.in_flight() <= 8);
        assert!(t.machine.cached() <= 8);
    }
    t.log
}

fuzz_target!(|run: Run| {
    let a = play(&run);
    let b = play(&run);
    assert!(a == b, "same seed and inputs, different transcripts");
});
