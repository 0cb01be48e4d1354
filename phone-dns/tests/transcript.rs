//! Transcript tests through the shared harness (`phone_sansio::harness::Transcript`): the
//! resolver against scripted DNS servers in virtual time, with the contract's oracles checked on
//! every drain. link.md §3: DOMAIN for dotless names, servers in order with 2 tries 2 s apart,
//! the TTL cache capped at 1 h, strict matching on ID, question and source; commit on take.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use phone_dns::message::{CLASS_IN, TYPE_A};
use phone_dns::resolver::{MAX_TTL, SEND_RETRY};
use phone_dns::{
    Command, Config, Error, Event, Message, Name, NameError, Rcode, Record, Resolver, ServerError,
    Transmit,
};
use phone_sansio::harness::{Logged, Peer, Reply, Transcript};
use phone_sansio::{Input, Instant, Machine, Output};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const S1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);
const S2: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 53);
const SIP: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
const SIP2: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 4);

type Dns = Resolver<ChaCha8Rng>;

fn resolver(config: Config) -> Transcript<Dns> {
    Transcript::new(
        Resolver::new(config, ChaCha8Rng::seed_from_u64(7), Instant::ZERO),
        Instant::ZERO,
    )
}

fn n(s: &str) -> Name {
    Name::from_text(s).unwrap()
}

fn ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// How a fake server answers.
#[derive(Clone)]
enum Behaviour {
    /// Never answers.
    Silent,
    /// Answers from its zone (NXDOMAIN for names it does not have) after `delay`.
    Zone { delay: Duration },
    /// Answers every query with this RCODE.
    Rcode(Rcode),
    /// Answers with TC set and no records.
    Truncated,
}

/// DNS servers on the far side of the phone's UDP socket.
struct Servers {
    behaviour: HashMap<Ipv4Addr, Behaviour>,
    zone: HashMap<Name, Vec<Record>>,
    /// Every query each server saw: (instant, ID, name).
    seen: Vec<(Instant, Ipv4Addr, u16, Name)>,
}

impl Servers {
    fn new() -> Servers {
        Servers {
            behaviour: HashMap::new(),
            zone: HashMap::new(),
            seen: Vec::new(),
        }
    }

    fn with(mut self, s: Ipv4Addr, b: Behaviour) -> Servers {
        self.behaviour.insert(s, b);
        self
    }

    fn a(mut self, name: &str, ttl: u32, addrs: &[Ipv4Addr]) -> Servers {
        let e = self.zone.entry(n(name)).or_default();
        for a in addrs {
            e.push(Record::a(n(name), ttl, *a));
        }
        self
    }

    fn cname(mut self, name: &str, ttl: u32, target: &str) -> Servers {
        self.zone
            .entry(n(name))
            .or_default()
            .push(Record::cname(n(name), ttl, n(target)));
        self
    }
}

/// The answer `query` gets from a server with this zone and RCODE.
fn answer(query: &Message, zone: &HashMap<Name, Vec<Record>>) -> Message {
    let mut m = query.clone();
    m.flags.response = true;
    m.flags.recursion_available = true;
    let mut name = query.questions[0].name.clone();
    for _ in 0..4 {
        let Some(rs) = zone.get(&name) else { break };
        m.answers.extend(rs.iter().cloned());
        match rs.iter().find_map(|r| match &r.data {
            phone_dns::RData::Cname(c) => Some(c.clone()),
            _ => None,
        }) {
            Some(c) => name = c,
            None => break,
        }
    }
    if m.answers.is_empty() {
        m.flags.rcode = Rcode::NxDomain;
    }
    m
}

impl Peer<Dns> for Servers {
    fn on_transmit(&mut self, now: Instant, t: &Transmit) -> Vec<Reply<Ipv4Addr>> {
        let q = Message::decode(&t.payload).unwrap();
        assert!(q.flags.recursion_desired && !q.flags.response);
        assert_eq!(q.questions.len(), 1);
        assert_eq!(
            (q.questions[0].qtype, q.questions[0].qclass),
            (TYPE_A, CLASS_IN)
        );
        self.seen
            .push((now, t.server, q.id, q.questions[0].name.clone()));
        let reply = |after, m: Message| {
            vec![Reply::Receive {
                after,
                peer: t.server,
                bytes: m.encode().unwrap(),
            }]
        };
        match self
            .behaviour
            .get(&t.server)
            .cloned()
            .unwrap_or(Behaviour::Silent)
        {
            Behaviour::Silent => Vec::new(),
            Behaviour::Zone { delay } => reply(delay, answer(&q, &self.zone)),
            Behaviour::Rcode(r) => {
                let mut m = q.clone();
                m.flags.response = true;
                m.flags.rcode = r;
                reply(Duration::from_millis(5), m)
            }
            Behaviour::Truncated => {
                let mut m = q.clone();
                m.flags.response = true;
                m.flags.truncated = true;
                reply(Duration::from_millis(5), m)
            }
        }
    }
}

fn resolve(t: &mut Transcript<Dns>, at: Instant, name: &str) {
    t.input(Input::Command(at, Command::Resolve { name }));
}

fn events_at(t: &Transcript<Dns>) -> Vec<(Instant, Event)> {
    t.log
        .iter()
        .filter_map(|l| match l {
            Logged::Event(at, e) => Some((*at, e.clone())),
            Logged::Transmit(..) => None,
        })
        .collect()
}

fn sent(t: &Transcript<Dns>) -> Vec<(Instant, Ipv4Addr, Message)> {
    t.log
        .iter()
        .filter_map(|l| match l {
            Logged::Transmit(at, tx) => {
                Some((*at, tx.server, Message::decode(&tx.payload).unwrap()))
            }
            Logged::Event(..) => None,
        })
        .collect()
}

fn resolved(name: &str, addrs: &[Ipv4Addr], ttl: u64) -> Event {
    Event::Resolved {
        name: name.into(),
        addrs: addrs.to_vec(),
        ttl: Duration::from_secs(ttl),
    }
}

#[test]
fn dotless_names_get_domain_and_answers_are_cached_for_their_ttl() {
    let mut servers = Servers::new()
        .with(
            S1,
            Behaviour::Zone {
                delay: Duration::from_millis(20),
            },
        )
        .a("sip.lab.test", 300, &[SIP, SIP2]);
    let mut t = resolver(Config::new(&[S1], "lab.test"));
    resolve(&mut t, Instant::ZERO, "sip");
    t.run(&mut servers, Instant::from_secs(1));
    assert_eq!(servers.seen.len(), 1);
    assert_eq!(servers.seen[0].3, n("sip.lab.test"));
    assert_eq!(
        events_at(&t),
        [(ms(20), resolved("sip", &[SIP, SIP2], 300))]
    );
    assert_eq!(t.machine.cached(), 1);

    // Asked again within the TTL: answered from the cache, with the time left, no query.
    resolve(&mut t, Instant::from_secs(100), "sip");
    assert_eq!(servers.seen.len(), 1);
    let last = events_at(&t).pop().unwrap();
    assert_eq!(
        last.1,
        Event::Resolved {
            name: "sip".into(),
            addrs: vec![SIP, SIP2],
            ttl: Duration::from_secs(300) - Duration::from_millis(100_000 - 20),
        }
    );

    // The fully qualified name is the same cache entry.
    resolve(&mut t, Instant::from_secs(101), "SIP.lab.test");
    assert_eq!(servers.seen.len(), 1);

    // A composing machine can look the answer up without asking (no side effects).
    assert_eq!(
        t.machine.lookup("sip", Instant::from_secs(102)),
        Some(vec![SIP, SIP2])
    );
    assert_eq!(
        t.machine.lookup("sip.lab.test.", Instant::from_secs(102)),
        Some(vec![SIP, SIP2])
    );
    assert_eq!(
        t.machine.lookup("10.9.8.7", Instant::from_secs(102)),
        Some(vec![Ipv4Addr::new(10, 9, 8, 7)])
    );
    assert_eq!(t.machine.lookup("other", Instant::from_secs(102)), None);
    assert_eq!(
        t.machine.lookup("sip", Instant::from_millis(300_020)),
        None,
        "expired"
    );

    // After the TTL the servers are asked again.
    resolve(&mut t, Instant::from_secs(301), "sip");
    t.run(&mut servers, Instant::from_secs(302));
    assert_eq!(servers.seen.len(), 2);
    assert_eq!(t.machine.stats().dropped, 0);
}

#[test]
fn a_name_with_a_dot_is_asked_as_it_is_and_a_literal_needs_no_server() {
    let mut servers = Servers::new()
        .with(
            S1,
            Behaviour::Zone {
                delay: Duration::from_millis(1),
            },
        )
        .a("files.other.test", 60, &[SIP]);
    let mut t = resolver(Config::new(&[S1], "lab.test"));
    resolve(&mut t, Instant::ZERO, "files.other.test");
    resolve(&mut t, Instant::ZERO, "192.168.0.10");
    t.run(&mut servers, Instant::from_secs(1));
    assert_eq!(servers.seen.len(), 1);
    assert_eq!(servers.seen[0].3, n("files.other.test"));
    assert_eq!(
        events_at(&t),
        [
            (
                Instant::ZERO,
                resolved("192.168.0.10", &[Ipv4Addr::new(192, 168, 0, 10)], 3600)
            ),
            (ms(1), resolved("files.other.test", &[SIP], 60)),
        ]
    );
}

#[test]
fn two_tries_two_seconds_apart_then_the_next_server() {
    let mut servers = Servers::new()
        .with(S1, Behaviour::Silent)
        .with(
            S2,
            Behaviour::Zone {
                delay: Duration::from_millis(30),
            },
        )
        .a("sip.lab.test", 60, &[SIP]);
    let mut t = resolver(Config::new(&[S1, S2], "lab.test"));
    resolve(&mut t, Instant::ZERO, "sip");
    t.run(&mut servers, Instant::from_secs(10));
    let tries: Vec<(Instant, Ipv4Addr)> = servers.seen.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(
        tries,
        [
            (Instant::ZERO, S1),
            (Instant::from_secs(2), S1),
            (Instant::from_secs(4), S2),
        ]
    );
    // Every try has its own ID.
    assert_ne!(servers.seen[0].2, servers.seen[1].2);
    assert_eq!(
        events_at(&t),
        [
            (
                Instant::from_secs(4),
                Event::ServerFailed {
                    name: "sip".into(),
                    server: S1,
                    error: ServerError::Timeout,
                }
            ),
            (ms(4030), resolved("sip", &[SIP], 60)),
        ]
    );
    assert_eq!(
        events_at(&t)[0].1.to_string(),
        "DNS server 10.0.0.53 for sip: no answer"
    );
}

#[test]
fn every_server_silent_fails_the_name_after_all_tries() {
    let mut servers = Servers::new();
    let mut t = resolver(Config::new(&[S1, S2], ""));
    resolve(&mut t, Instant::ZERO, "sip.lab.test");
    t.run(&mut servers, Instant::from_secs(60));
    assert_eq!(servers.seen.len(), 4);
    let ev = events_at(&t);
    assert_eq!(ev.len(), 3);
    assert_eq!(
        ev[2],
        (
            Instant::from_secs(8),
            Event::Failed {
                name: "sip.lab.test".into(),
                error: Error::AllServersFailed(ServerError::Timeout),
            }
        )
    );
    assert_eq!(
        ev[2].1.to_string(),
        "DNS: sip.lab.test failed: no DNS server answered (last: no answer)"
    );
    assert_eq!(t.machine.in_flight(), 0);
    assert_eq!(t.deadline, Instant::MAX);
}

#[test]
fn servfail_refused_and_truncation_move_on_at_once() {
    for (b, e) in [
        (
            Behaviour::Rcode(Rcode::ServFail),
            ServerError::Rcode(Rcode::ServFail),
        ),
        (
            Behaviour::Rcode(Rcode::Refused),
            ServerError::Rcode(Rcode::Refused),
        ),
        (Behaviour::Truncated, ServerError::Truncated),
    ] {
        let mut servers = Servers::new()
            .with(S1, b)
            .with(
                S2,
                Behaviour::Zone {
                    delay: Duration::from_millis(5),
                },
            )
            .a("sip.lab.test", 60, &[SIP]);
        let mut t = resolver(Config::new(&[S1, S2], "lab.test"));
        resolve(&mut t, Instant::ZERO, "sip");
        t.run(&mut servers, Instant::from_secs(10));
        let tries: Vec<(Instant, Ipv4Addr)> = servers.seen.iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(tries, [(Instant::ZERO, S1), (ms(5), S2)]);
        assert_eq!(
            events_at(&t),
            [
                (
                    ms(5),
                    Event::ServerFailed {
                        name: "sip".into(),
                        server: S1,
                        error: e
                    }
                ),
                (ms(10), resolved("sip", &[SIP], 60)),
            ]
        );
    }
}

#[test]
fn nxdomain_and_nodata_end_the_name_without_asking_further() {
    let mut servers = Servers::new()
        .with(
            S1,
            Behaviour::Zone {
                delay: Duration::from_millis(5),
            },
        )
        .with(
            S2,
            Behaviour::Zone {
                delay: Duration::from_millis(5),
            },
        );
    servers.zone.insert(
        n("mx-only.lab.test"),
        vec![Record {
            name: n("mx-only.lab.test"),
            rtype: 15,
            class: CLASS_IN,
            ttl: 60,
            data: phone_dns::RData::Other(vec![0, 10, 0]),
        }],
    );
    let mut t = resolver(Config::new(&[S1, S2], "lab.test"));
    resolve(&mut t, Instant::ZERO, "nosuch");
    resolve(&mut t, Instant::ZERO, "mx-only");
    t.run(&mut servers, Instant::from_secs(10));
    assert_eq!(servers.seen.len(), 2);
    assert!(servers.seen.iter().all(|s| s.1 == S1));
    assert_eq!(
        events_at(&t),
        [
            (
                ms(5),
                Event::Failed {
                    name: "nosuch".into(),
                    error: Error::NotFound { server: S1 }
                }
            ),
            (
                ms(5),
                Event::Failed {
                    name: "mx-only".into(),
                    error: Error::NoAddress { server: S1 }
                }
            ),
        ]
    );
    assert_eq!(t.machine.cached(), 0);
}

#[test]
fn cname_chains_are_followed_and_the_smallest_ttl_capped_at_an_hour_wins() {
    let mut servers = Servers::new()
        .with(
            S1,
            Behaviour::Zone {
                delay: Duration::from_millis(5),
            },
        )
        .cname("sip.lab.test", 7200, "pbx.lab.test")
        .cname("pbx.lab.test", 5000, "pbx1.lab.test")
        .a("pbx1.lab.test", 9000, &[SIP, SIP, SIP2])
        .cname("short.lab.test", 10, "pbx1.lab.test")
        .a("zero.lab.test", 0, &[SIP]);
    let mut t = resolver(Config::new(&[S1], "lab.test"));
    resolve(&mut t, Instant::ZERO, "sip");
    resolve(&mut t, Instant::ZERO, "short");
    resolve(&mut t, Instant::ZERO, "zero");
    t.run(&mut servers, Instant::from_secs(1));
    assert_eq!(
        events_at(&t),
        [
            (ms(5), resolved("sip", &[SIP, SIP2], MAX_TTL.as_secs())),
            (ms(5), resolved("short", &[SIP, SIP2], 10)),
            (ms(5), resolved("zero", &[SIP], 0)),
        ]
    );
    // A TTL of 0 is used once and not cached.
    assert_eq!(t.machine.cached(), 2);
    resolve(&mut t, Instant::from_secs(2), "zero");
    t.run(&mut servers, Instant::from_secs(3));
    assert_eq!(servers.seen.len(), 4);
}

/// Replies that must not match: wrong source, wrong ID, another question, not a response,
/// another opcode, garbage. None changes anything; the right one afterwards still counts.
#[test]
fn only_the_right_reply_from_the_right_server_counts() {
    let mut t = resolver(Config::new(&[S1, S2], "lab.test"));
    resolve(&mut t, Instant::ZERO, "sip");
    let (_, to, q) = sent(&t).pop().unwrap();
    assert_eq!(to, S1);
    let good = {
        let mut m = q.clone();
        m.flags.response = true;
        m.answers.push(Record::a(n("sip.lab.test"), 60, SIP));
        m
    };
    let deadline = t.deadline;
    let mut bad: Vec<(Ipv4Addr, Vec<u8>)> = Vec::new();
    bad.push((S2, good.encode().unwrap()));
    bad.push((Ipv4Addr::new(10, 9, 9, 9), good.encode().unwrap()));
    let mut m = good.clone();
    m.id ^= 1;
    bad.push((S1, m.encode().unwrap()));
    let mut m = good.clone();
    m.questions[0].name = n("evil.lab.test");
    m.answers[0].name = n("evil.lab.test");
    bad.push((S1, m.encode().unwrap()));
    let mut m = good.clone();
    m.questions[0].qtype = 28;
    bad.push((S1, m.encode().unwrap()));
    let mut m = good.clone();
    m.questions.clear();
    bad.push((S1, m.encode().unwrap()));
    let mut m = good.clone();
    m.questions.push(m.questions[0].clone());
    bad.push((S1, m.encode().unwrap()));
    let mut m = good.clone();
    m.flags.response = false;
    bad.push((S1, m.encode().unwrap()));
    let mut m = good.clone();
    m.flags.opcode = 2;
    bad.push((S1, m.encode().unwrap()));
    let mut g = good.encode().unwrap();
    g.truncate(g.len() - 1);
    bad.push((S1, g));
    bad.push((S1, vec![0xff; 600]));
    for (i, (from, b)) in bad.iter().enumerate() {
        let out = t.input(Input::Receive(ms(10 + i as u64), *from, b));
        assert!(out.is_empty(), "reply {i} matched: {out:?}");
    }
    assert_eq!(t.machine.stats().dropped, bad.len() as u64);
    assert_eq!(t.deadline, deadline);
    // An answer for another name from the right server, with the right ID, does not
    // resolve this one either: the question is checked before the answers.
    let out = t.input(Input::Receive(ms(100), S1, &good.encode().unwrap()));
    assert_eq!(out, [Logged::Event(ms(100), resolved("sip", &[SIP], 60))]);
    // The same reply again is stale: its ID is no longer waited for.
    assert!(
        t.input(Input::Receive(ms(101), S1, &good.encode().unwrap()))
            .is_empty()
    );
    assert_eq!(t.machine.stats().matched, 1);
}

#[test]
fn a_late_answer_to_an_earlier_try_still_counts() {
    // S1 answers after 3 s: the first try's answer arrives after the second try went out.
    let mut servers = Servers::new()
        .with(
            S1,
            Behaviour::Zone {
                delay: Duration::from_secs(3),
            },
        )
        .a("sip.lab.test", 60, &[SIP]);
    let mut t = resolver(Config::new(&[S1, S2], "lab.test"));
    resolve(&mut t, Instant::ZERO, "sip");
    t.run(&mut servers, Instant::from_secs(10));
    assert_eq!(servers.seen.len(), 2);
    assert_eq!(
        events_at(&t),
        [(Instant::from_secs(3), resolved("sip", &[SIP], 60))]
    );
    // The answer to the second try, at 5 s, is dropped.
    assert_eq!(t.machine.stats().dropped, 1);
}

#[test]
fn bad_names_no_servers_and_too_many_queries_fail_at_once() {
    let mut t = resolver(Config::new(&[], "lab.test"));
    resolve(&mut t, Instant::ZERO, "sip");
    resolve(&mut t, Instant::ZERO, "bad name");
    resolve(&mut t, Instant::ZERO, &"x".repeat(300));
    let ev: Vec<Event> = t.events().into_iter().cloned().collect();
    assert_eq!(
        ev[0],
        Event::Failed {
            name: "sip".into(),
            error: Error::NoServers
        }
    );
    assert_eq!(
        ev[1],
        Event::Failed {
            name: "bad name".into(),
            error: Error::InvalidName(NameError::BadCharacter(' ')),
        }
    );
    assert_eq!(
        ev[2],
        Event::Failed {
            name: "x".repeat(255),
            error: Error::InvalidName(NameError::TooLong),
        }
    );
    assert!(t.transmits().is_empty());

    let mut cfg = Config::new(&[S1, Ipv4Addr::UNSPECIFIED, S1, Ipv4Addr::BROADCAST], "");
    cfg.max_queries = 2;
    let mut t = resolver(cfg);
    assert_eq!(t.machine.servers(), [S1]);
    for name in ["a.test", "b.test", "A.TEST", "c.test"] {
        resolve(&mut t, Instant::ZERO, name);
    }
    // "A.TEST" joins "a.test"; "c.test" is one too many.
    assert_eq!(t.transmits().len(), 2);
    assert_eq!(
        t.events(),
        [&Event::Failed {
            name: "c.test".into(),
            error: Error::TooManyQueries
        }]
    );
}

#[test]
fn the_cache_is_bounded() {
    let mut cfg = Config::new(&[S1], "");
    cfg.cache_entries = 3;
    let mut servers = Servers::new().with(
        S1,
        Behaviour::Zone {
            delay: Duration::from_millis(1),
        },
    );
    for i in 0..10u8 {
        servers = servers.a(
            &format!("h{i}.test"),
            100 + u32::from(i),
            &[Ipv4Addr::new(10, 0, 0, i)],
        );
    }
    let mut t = resolver(cfg);
    for i in 0..10u8 {
        resolve(
            &mut t,
            Instant::from_secs(u64::from(i)),
            &format!("h{i}.test"),
        );
        t.run(
            &mut servers,
            Instant::from_secs(u64::from(i)) + Duration::from_millis(500),
        );
    }
    assert_eq!(t.machine.cached(), 3);
    // The last three are the ones kept (the others expire sooner).
    let before = servers.seen.len();
    resolve(&mut t, Instant::from_secs(20), "h9.test");
    resolve(&mut t, Instant::from_secs(20), "h0.test");
    t.run(&mut servers, Instant::from_secs(21));
    assert_eq!(servers.seen.len(), before + 1);
    assert_eq!(servers.seen.last().unwrap().3, n("h0.test"));
    // A flush forgets everything.
    t.input(Input::Command(Instant::from_secs(22), Command::FlushCache));
    assert_eq!(t.machine.cached(), 0);
}

#[test]
fn names_resolve_side_by_side_each_with_its_own_id() {
    let mut servers = Servers::new()
        .with(
            S1,
            Behaviour::Zone {
                delay: Duration::from_millis(50),
            },
        )
        .a("a.lab.test", 60, &[SIP])
        .a("b.lab.test", 60, &[SIP2]);
    let mut t = resolver(Config::new(&[S1], "lab.test"));
    resolve(&mut t, Instant::ZERO, "a");
    resolve(&mut t, ms(10), "b");
    t.run(&mut servers, Instant::from_secs(1));
    assert_ne!(servers.seen[0].2, servers.seen[1].2);
    assert_eq!(
        events_at(&t),
        [
            (ms(50), resolved("a", &[SIP], 60)),
            (ms(60), resolved("b", &[SIP2], 60)),
        ]
    );
}

/// Commit on take: deciding to ask moves nothing; the ID is drawn and the try counted when the
/// caller takes the datagram. A failed send was a try: the next one (fresh ID) comes
/// SEND_RETRY later, and after the server's last try the next server.
#[test]
fn commit_on_take() {
    let cfg = Config::new(&[S1, S2], "lab.test");
    let mut a = Resolver::new(cfg.clone(), ChaCha8Rng::seed_from_u64(3), Instant::ZERO);
    let mut b = Resolver::new(cfg, ChaCha8Rng::seed_from_u64(3), Instant::ZERO);

    // `a` is asked three times (the same name) and sees timeouts, but nobody polls it.
    a.handle_input(Input::Command(
        Instant::ZERO,
        Command::Resolve { name: "sip" },
    ));
    a.handle_input(Input::Command(ms(1), Command::Resolve { name: "sip" }));
    a.handle_input(Input::Timeout(Instant::from_secs(5)));
    assert_eq!(a.stats().sent, 0);
    assert_eq!(
        a.poll_timeout(),
        Some(Instant::ZERO),
        "the query is due, not lost"
    );
    // Nothing was drawn: its first query carries the ID `b` draws for its first.
    b.handle_input(Input::Command(
        Instant::from_secs(5),
        Command::Resolve { name: "sip" },
    ));
    let take = |m: &mut Dns| match m.poll_output() {
        Output::Transmit(t) => (t.server, Message::decode(&t.payload).unwrap().id),
        other => panic!("{other:?}"),
    };
    let (to_a, id_a) = take(&mut a);
    let (to_b, id_b) = take(&mut b);
    assert_eq!((to_a, id_a), (to_b, id_b));
    assert_eq!(to_a, S1);
    // Taken: counted, and the retry timer runs from the take.
    assert_eq!(a.stats().sent, 1);
    assert_eq!(a.poll_output(), Output::Timeout(Instant::from_secs(7)));

    // The send failed: the next try goes SEND_RETRY later, with a fresh ID.
    a.handle_input(Input::TransportFailed(Instant::from_secs(5), S1));
    assert_eq!(
        a.poll_output(),
        Output::Timeout(Instant::from_secs(5) + SEND_RETRY)
    );
    // A second report for the same take changes nothing.
    a.handle_input(Input::TransportFailed(Instant::from_secs(5), S1));
    assert_eq!(a.poll_timeout(), Some(Instant::from_secs(5) + SEND_RETRY));
    let t1 = Instant::from_secs(5) + SEND_RETRY;
    a.handle_input(Input::Timeout(t1));
    let (to, id2) = take(&mut a);
    assert_eq!(to, S1);
    assert_ne!(id2, id_a);
    // The answer to the failed try's ID is not waited for any more.
    let mut stale = Message::query(id_a, n("sip.lab.test"));
    stale.flags.response = true;
    stale.answers.push(Record::a(n("sip.lab.test"), 60, SIP));
    a.handle_input(Input::Receive(t1, S1, &stale.encode().unwrap()));
    assert_eq!(a.stats().dropped, 1);

    // That was S1's second try; it fails too: S1 is given up (as a failed send) SEND_RETRY
    // later, and S2 asked.
    a.handle_input(Input::TransportFailed(t1, S1));
    let t2 = t1 + SEND_RETRY;
    assert_eq!(a.poll_output(), Output::Timeout(t2));
    a.handle_input(Input::Timeout(t2));
    assert_eq!(
        a.poll_output(),
        Output::Event(Event::ServerFailed {
            name: "sip".into(),
            server: S1,
            error: ServerError::SendFailed,
        })
    );
    let (to, id3) = take(&mut a);
    assert_eq!(to, S2);
    assert_ne!(id3, id2);
    assert_eq!(a.stats().sent, 3);
    // A failure report about another server than the last take is ignored.
    a.handle_input(Input::TransportFailed(t2, S1));
    assert_eq!(a.poll_timeout(), Some(t2 + Duration::from_secs(2)));
}
