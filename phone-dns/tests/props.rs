//! Property tests of the resolver: arbitrary datagrams from any address never panic and never
//! produce anything unless they answer a query the phone sent to that address with its ID and
//! question; the right answer after any amount of garbage still resolves the name.
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;

use phone_dns::{Command, Config, Event, Message, Name, Record, Resolver};
use phone_sansio::harness::Transcript;
use phone_sansio::{Input, Instant};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const S1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);
const SIP: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);

/// A resolver that has sent its query for sip.lab.test; the query.
fn asking(seed: u64) -> (Transcript<Resolver<ChaCha8Rng>>, Message) {
    let dns = Resolver::new(
        Config::new(&[S1], "lab.test"),
        ChaCha8Rng::seed_from_u64(seed),
        Instant::ZERO,
    );
    let mut t = Transcript::new(dns, Instant::ZERO);
    t.input(Input::Command(
        Instant::ZERO,
        Command::Resolve { name: "sip" },
    ));
    let q = Message::decode(&t.transmits()[0].payload).unwrap();
    (t, q)
}

/// A reply to `q` with the fields a spoofer may get wrong.
#[derive(Debug, Clone)]
struct Reply {
    id_xor: u16,
    from: Ipv4Addr,
    name: Option<String>,
    qtype: u16,
    response: bool,
    opcode: u8,
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    (
        prop_oneof![Just(0u16), any::<u16>()],
        prop_oneof![Just(S1), any::<[u8; 4]>().prop_map(Ipv4Addr::from)],
        proptest::option::of("[a-z]{1,8}(\\.[a-z]{1,8}){0,2}"),
        prop_oneof![Just(1u16), any::<u16>()],
        any::<bool>(),
        prop_oneof![Just(0u8), 0u8..16],
    )
        .prop_map(|(id_xor, from, name, qtype, response, opcode)| Reply {
            id_xor,
            from,
            name,
            qtype,
            response,
            opcode,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn garbage_never_matches(seed in any::<u64>(), junk in proptest::collection::vec((any::<[u8; 4]>(), proptest::collection::vec(any::<u8>(), 0..600)), 0..20)) {
        let (mut t, q) = asking(seed);
        for (i, (from, bytes)) in junk.iter().enumerate() {
            let from = if i % 2 == 0 { S1 } else { Ipv4Addr::from(*from) };
            // Garbage that happens to be the right answer is vanishingly unlikely: it would
            // need the random ID and the question.
            prop_assert!(t.input(Input::Receive(Instant::from_millis(1), from, bytes)).is_empty());
        }
        let mut a = q.clone();
        a.flags.response = true;
        a.answers.push(Record::a(Name::from_text("sip.lab.test").unwrap(), 60, SIP));
        let out = t.input(Input::Receive(Instant::from_millis(2), S1, &a.encode().unwrap()));
        prop_assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_wrong_reply_never_matches(seed in any::<u64>(), r in arb_reply()) {
        let (mut t, q) = asking(seed);
        let mut m = q.clone();
        m.id ^= r.id_xor;
        m.flags.response = r.response;
        m.flags.opcode = r.opcode;
        m.questions[0].qtype = r.qtype;
        if let Some(n) = &r.name {
            m.questions[0].name = Name::from_text(n).unwrap();
        }
        m.answers.push(Record::a(m.questions[0].name.clone(), 60, SIP));
        let right = r.id_xor == 0
            && r.from == S1
            && r.name.as_deref().is_none_or(|n| n == "sip.lab.test")
            && r.qtype == 1
            && r.response
            && r.opcode == 0;
        let out = t.input(Input::Receive(Instant::from_millis(1), r.from, &m.encode().unwrap()));
        if right {
            let resolved = matches!(out, [phone_sansio::harness::Logged::Event(_, Event::Resolved { .. })]);
            prop_assert!(resolved);
        } else {
            prop_assert!(out.is_empty(), "{:?} matched: {:?}", r, out);
        }
    }
}
