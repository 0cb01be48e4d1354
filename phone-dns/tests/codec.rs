//! Codec tests: the query the phone sends, compression with its bounds (loops, forward
//! pointers, pointer count, expanded length), RDATA checks, message bounds, round trips
//! (proptest) and cross-checks against simple-dns both ways.
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;

use phone_dns::message::{CLASS_IN, MAX_ANSWERS, MAX_MESSAGE_LEN, Question, TYPE_A, TYPE_CNAME};
use phone_dns::name::{MAX_POINTERS, NameReadError};
use phone_dns::{DecodeError, Flags, Message, Name, NameError, RData, Rcode, Record};
use proptest::prelude::*;

fn name(s: &str) -> Name {
    Name::from_text(s).unwrap()
}

/// A response header with `qd` questions and `an` answers.
fn header(id: u16, qd: u16, an: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&[0x81, 0x80]);
    b.extend_from_slice(&qd.to_be_bytes());
    b.extend_from_slice(&an.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b
}

#[test]
fn the_query_the_phone_sends() {
    let q = Message::query(0xbeef, name("HTTP.lab.TEST."));
    let b = q.encode().unwrap();
    assert_eq!(
        b,
        b"\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04http\x03lab\x04test\x00\x00\x01\x00\x01"
    );
    let back = Message::decode(&b).unwrap();
    assert_eq!(back, q);
    assert!(back.flags.recursion_desired && !back.flags.response);
}

#[test]
fn names_from_text_are_host_names() {
    assert_eq!(Name::from_text(""), Err(NameError::Empty));
    assert_eq!(Name::from_text("."), Err(NameError::Empty));
    assert_eq!(Name::from_text("a..b"), Err(NameError::EmptyLabel));
    assert_eq!(Name::from_text(".a"), Err(NameError::EmptyLabel));
    assert_eq!(Name::from_text("a b"), Err(NameError::BadCharacter(' ')));
    assert_eq!(Name::from_text("é.com"), Err(NameError::BadCharacter('é')));
    assert_eq!(
        Name::from_text(&"a".repeat(64)),
        Err(NameError::LabelTooLong)
    );
    assert!(Name::from_text(&"a".repeat(63)).is_ok());
    // 127 labels "a." make 254 octets of wire form with the root: fits; one more does not.
    let ok = vec!["a"; 127].join(".");
    assert_eq!(Name::from_text(&ok).unwrap().wire().len(), 255);
    let long = vec!["a"; 128].join(".");
    assert_eq!(Name::from_text(&long), Err(NameError::TooLong));
    assert_eq!(
        name("_sip._udp.x-1.Example").to_string(),
        "_sip._udp.x-1.example"
    );
}

#[test]
fn compression_pointers_are_followed_backwards() {
    // Question lab.test at 12; answer 1: "www" + pointer to 12; answer 2's name points to the
    // start of answer 1's name (a pointer to a name that itself ends in a pointer).
    let mut b = header(7, 1, 2);
    b.extend_from_slice(b"\x03lab\x04test\x00\x00\x01\x00\x01");
    let www = b.len();
    b.extend_from_slice(b"\x03www\xc0\x0c");
    b.extend_from_slice(&[0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]);
    b.extend_from_slice(&[0xc0, www as u8]);
    b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
    let m = Message::decode(&b).unwrap();
    assert_eq!(m.questions[0].name, name("lab.test"));
    assert_eq!(m.answers[0].name, name("www.lab.test"));
    assert_eq!(m.answers[0].data, RData::Cname(name("lab.test")));
    assert_eq!(m.answers[1].name, name("www.lab.test"));
    assert_eq!(m.answers[1].data, RData::A(Ipv4Addr::new(10, 1, 2, 3)));
}

#[test]
fn a_pointer_loop_is_refused() {
    // The question's name is a pointer to itself.
    let mut b = header(1, 1, 0);
    b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::Name {
            at: 12,
            error: NameReadError::BadPointer(12)
        })
    );
    // Two names pointing at each other: the first is at 12, the second at 14 points to 12,
    // which points forward to 14.
    let mut b = header(1, 2, 0);
    b.extend_from_slice(&[0xc0, 14]);
    b.extend_from_slice(&[0, 1, 0, 1]);
    b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert!(matches!(
        Message::decode(&b),
        Err(DecodeError::Name {
            error: NameReadError::BadPointer(14),
            ..
        })
    ));
    // A label then a pointer back into the same name.
    let mut b = header(1, 1, 0);
    b.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
    assert!(matches!(
        Message::decode(&b),
        Err(DecodeError::Name {
            error: NameReadError::BadPointer(12),
            ..
        })
    ));
}

#[test]
fn pointers_into_the_header_or_past_the_end_are_refused() {
    let mut b = header(1, 1, 0);
    b.extend_from_slice(&[0xc0, 2, 0, 1, 0, 1]);
    assert!(matches!(
        Message::decode(&b),
        Err(DecodeError::Name {
            error: NameReadError::BadPointer(2),
            ..
        })
    ));
    let mut b = header(1, 1, 0);
    b.extend_from_slice(&[0xc0]);
    assert!(matches!(
        Message::decode(&b),
        Err(DecodeError::Name {
            error: NameReadError::Truncated,
            ..
        })
    ));
}

#[test]
fn the_pointers_of_one_name_are_counted() {
    // A chain of labels, each followed by a pointer to the previous one: the last name has
    // MAX_POINTERS + 1 pointers.
    let build = |links: usize| {
        let mut b = header(1, 1, 0);
        let mut body = vec![0u8]; // root at 12
        let mut prev = 12usize;
        for _ in 0..links {
            let here = 12 + body.len();
            body.extend_from_slice(&[1, b'x', 0xc0 | (prev >> 8) as u8, prev as u8]);
            prev = here;
        }
        // The question: a pointer to the last link.
        let q = 12 + body.len();
        body.extend_from_slice(&[0xc0 | (prev >> 8) as u8, prev as u8, 0, 1, 0, 1]);
        b.extend_from_slice(&body);
        (b, q)
    };
    // The question is read at 12 (the root label) here, so use the raw name reader.
    let (b, q) = build(MAX_POINTERS - 1);
    let (n, end) = Name::read(&b, q).unwrap();
    assert_eq!(n.labels().count(), MAX_POINTERS - 1);
    assert_eq!(end, q + 2);
    let (b, q) = build(MAX_POINTERS);
    assert_eq!(Name::read(&b, q), Err(NameReadError::TooManyPointers));
}

#[test]
fn expanded_names_are_bounded() {
    // 4 labels of 63 octets = 256 octets: one too many, whichever way it is spelled.
    let mut b = header(1, 1, 0);
    let first = b.len();
    for _ in 0..2 {
        b.push(63);
        b.extend_from_slice(&[b'a'; 63]);
    }
    b.push(0);
    let second = b.len();
    for _ in 0..2 {
        b.push(63);
        b.extend_from_slice(&[b'b'; 63]);
    }
    b.extend_from_slice(&[0xc0, first as u8]);
    assert_eq!(Name::read(&b, second), Err(NameReadError::TooLong));
    // Label types 01 and 10 are not names.
    assert_eq!(
        Name::read(&[0x40, 0], 0),
        Err(NameReadError::BadLabelType(0x40))
    );
    assert_eq!(
        Name::read(&[0x80, 0], 0),
        Err(NameReadError::BadLabelType(0x80))
    );
}

#[test]
fn message_bounds() {
    assert_eq!(Message::decode(&[0; 11]), Err(DecodeError::TooShort(11)));
    assert_eq!(
        Message::decode(&[0; MAX_MESSAGE_LEN + 1]),
        Err(DecodeError::TooLong(MAX_MESSAGE_LEN + 1))
    );
    assert_eq!(
        Message::decode(&header(1, 5, 0)),
        Err(DecodeError::TooManyQuestions(5))
    );
    assert_eq!(
        Message::decode(&header(1, 1, MAX_ANSWERS as u16 + 1)),
        Err(DecodeError::TooManyAnswers(MAX_ANSWERS as u16 + 1))
    );
    // Counted answers that are not there.
    let mut b = header(1, 1, 1);
    b.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::Name {
            at: 19,
            error: NameReadError::Truncated
        })
    );
    // RDLENGTH past the end.
    let mut c = b.clone();
    c.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 9, 1, 2, 3, 4]);
    assert_eq!(Message::decode(&c), Err(DecodeError::Truncated));
    // An A record of 5 bytes.
    let mut d = b.clone();
    d.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5]);
    assert_eq!(
        Message::decode(&d),
        Err(DecodeError::BadRdata { rtype: TYPE_A })
    );
    // A CNAME whose name ends before its RDATA does.
    let mut e = b.clone();
    e.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 1, 0, 3, 0xc0, 12, 0]);
    assert_eq!(
        Message::decode(&e),
        Err(DecodeError::BadRdata { rtype: TYPE_CNAME })
    );
    // An A record of another class is kept raw.
    let mut f = b.clone();
    f.extend_from_slice(&[0xc0, 12, 0, 1, 0, 3, 0, 0, 0, 1, 0, 2, 7, 7]);
    let m = Message::decode(&f).unwrap();
    assert_eq!(m.answers[0].data, RData::Other(vec![7, 7]));
}

#[test]
fn flags_round_trip() {
    let mut b = header(9, 0, 0);
    b[2] = 0b1001_0111; // QR, opcode 2, AA, TC, RD
    b[3] = 0b1000_0101; // RA, REFUSED
    let m = Message::decode(&b).unwrap();
    assert_eq!(
        m.flags,
        Flags {
            response: true,
            opcode: 2,
            authoritative: true,
            truncated: true,
            recursion_desired: true,
            recursion_available: true,
            rcode: Rcode::Refused,
        }
    );
    assert_eq!(m.encode().unwrap(), b);
}

#[test]
fn names_display_escaped() {
    let n = Name::from_labels([&b"a.b"[..], b"\n\x1b", b"ok"]).unwrap();
    assert_eq!(n.to_string(), "a\\046b.\\010\\027.ok");
    assert_eq!(Name::root().to_string(), ".");
}

// ---- property tests -------------------------------------------------------------------------

fn arb_label() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z0-9_-]{1,20}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>().prop_map(|b| b.to_ascii_lowercase()), 1..64),
    ]
}

fn arb_name() -> impl Strategy<Value = Name> {
    proptest::collection::vec(arb_label(), 0..5).prop_filter_map("too long", |ls| {
        Name::from_labels(ls.iter().map(Vec::as_slice)).ok()
    })
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        arb_name(),
        any::<u32>(),
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| (TYPE_A, CLASS_IN, RData::A(Ipv4Addr::from(o)))),
            arb_name().prop_map(|n| (TYPE_CNAME, CLASS_IN, RData::Cname(n))),
            (
                any::<u16>(),
                any::<u16>(),
                proptest::collection::vec(any::<u8>(), 0..40)
            )
                .prop_filter_map("typed", |(t, c, d)| {
                    (c != CLASS_IN || (t != TYPE_A && t != TYPE_CNAME)).then_some((
                        t,
                        c,
                        RData::Other(d),
                    ))
                }),
        ],
    )
        .prop_map(|(name, ttl, (rtype, class, data))| Record {
            name,
            rtype,
            class,
            ttl,
            data,
        })
}

fn arb_message() -> impl Strategy<Value = Message> {
    (
        any::<u16>(),
        any::<(bool, bool, bool, bool, bool)>(),
        0u8..16,
        0u8..16,
        proptest::collection::vec((arb_name(), any::<u16>(), any::<u16>()), 0..3),
        proptest::collection::vec(arb_record(), 0..6),
    )
        .prop_map(
            |(id, (qr, aa, tc, rd, ra), opcode, rcode, qs, answers)| Message {
                id,
                flags: Flags {
                    response: qr,
                    opcode,
                    authoritative: aa,
                    truncated: tc,
                    recursion_desired: rd,
                    recursion_available: ra,
                    rcode: Rcode::from_bits(rcode),
                },
                questions: qs
                    .into_iter()
                    .map(|(name, qtype, qclass)| Question {
                        name,
                        qtype,
                        qclass,
                    })
                    .collect(),
                answers,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// decode(encode(m)) == m for every message that fits in 512 bytes.
    #[test]
    fn round_trip(m in arb_message()) {
        let Ok(b) = m.encode() else { return Ok(()) };
        prop_assert!(b.len() <= MAX_MESSAGE_LEN);
        prop_assert_eq!(Message::decode(&b).unwrap(), m);
    }

    /// Arbitrary bytes never panic; whatever decodes encodes (when it fits) and decodes again
    /// to the same message.
    #[test]
    fn arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::decode(&b)
            && let Ok(again) = m.encode()
        {
            prop_assert_eq!(Message::decode(&again).unwrap(), m);
        }
    }

    /// Mutations of a real reply (with compression) never panic, and a name read never takes
    /// more octets than the bound.
    #[test]
    fn mutated_replies(flips in proptest::collection::vec((0usize..64, any::<u8>()), 1..6)) {
        let mut b = header(7, 1, 2);
        b.extend_from_slice(b"\x03lab\x04test\x00\x00\x01\x00\x01");
        b.extend_from_slice(b"\x03www\xc0\x0c");
        b.extend_from_slice(&[0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]);
        b.extend_from_slice(&[0xc0, 29, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
        for (i, v) in flips {
            let n = b.len();
            b[i % n] = v;
        }
        if let Ok(m) = Message::decode(&b) {
            for q in &m.questions {
                prop_assert!(q.name.wire().len() <= 255);
            }
        }
    }

    /// What we encode, simple-dns reads the same (a second implementation agrees).
    #[test]
    fn simple_dns_reads_ours(m in arb_message()) {
        // simple-dns refuses unknown QTYPE/QCLASS values and some RDATA it knows better; keep
        // to what both sides read.
        let m = Message {
            questions: m.questions.into_iter().map(|q| Question { qtype: TYPE_A, qclass: CLASS_IN, ..q }).collect(),
            answers: m.answers.into_iter().filter(|r| r.class == CLASS_IN && matches!(r.data, RData::A(_) | RData::Cname(_))).collect(),
            flags: Flags { opcode: 0, rcode: Rcode::from_bits(m.flags.rcode.bits() % 6), ..m.flags },
            ..m
        };
        let Ok(b) = m.encode() else { return Ok(()) };
        let p = simple_dns::Packet::parse(&b).unwrap();
        prop_assert_eq!(p.id(), m.id);
        prop_assert_eq!(p.questions.len(), m.questions.len());
        for (theirs, ours) in p.questions.iter().zip(&m.questions) {
            let theirs: Vec<Vec<u8>> = theirs.qname.as_bytes().map(<[u8]>::to_ascii_lowercase).collect();
            let ours: Vec<Vec<u8>> = ours.name.labels().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(theirs, ours);
        }
        prop_assert_eq!(p.answers.len(), m.answers.len());
        for (theirs, ours) in p.answers.iter().zip(&m.answers) {
            prop_assert_eq!(theirs.ttl, ours.ttl);
            match (&theirs.rdata, &ours.data) {
                (simple_dns::rdata::RData::A(a), RData::A(o)) => prop_assert_eq!(Ipv4Addr::from(a.address), *o),
                (simple_dns::rdata::RData::CNAME(_), RData::Cname(_)) => {}
                (t, o) => prop_assert!(false, "{:?} vs {:?}", t, o),
            }
        }
    }

    /// What simple-dns writes, compressed, we read the same.
    #[test]
    fn we_read_simple_dns(
        id in any::<u16>(),
        labels in proptest::collection::vec("[a-z0-9]{1,10}", 1..4),
        addrs in proptest::collection::vec(any::<[u8; 4]>(), 0..8),
        alias in proptest::option::of("[a-z]{1,8}"),
        ttl in any::<u32>(),
    ) {
        use simple_dns::{CLASS, Name as SName, Packet, QCLASS, QTYPE, Question as SQ, ResourceRecord, TYPE};
        let text = labels.join(".");
        let mut p = Packet::new_reply(id);
        p.questions.push(SQ::new(SName::new_unchecked(&text), QTYPE::TYPE(TYPE::A), QCLASS::CLASS(CLASS::IN), false));
        let target = alias.as_ref().map(|a| format!("{a}.{text}"));
        if let Some(t) = &target {
            p.answers.push(ResourceRecord::new(SName::new_unchecked(&text), CLASS::IN, ttl, simple_dns::rdata::RData::CNAME(simple_dns::rdata::CNAME(SName::new_unchecked(t)))));
        }
        let owner = target.clone().unwrap_or_else(|| text.clone());
        for a in &addrs {
            p.answers.push(ResourceRecord::new(SName::new_unchecked(&owner), CLASS::IN, ttl, simple_dns::rdata::RData::A(simple_dns::rdata::A { address: u32::from_be_bytes(*a) })));
        }
        let b = p.build_bytes_vec_compressed().unwrap();
        let m = Message::decode(&b).unwrap();
        prop_assert_eq!(m.id, id);
        prop_assert!(m.flags.response);
        prop_assert_eq!(&m.questions[0].name, &name(&text));
        let mut got = Vec::new();
        for r in &m.answers {
            match &r.data {
                RData::A(a) => { prop_assert_eq!(&r.name, &name(&owner)); got.push(a.octets()); }
                RData::Cname(c) => prop_assert_eq!(c, &name(target.as_deref().unwrap())),
                RData::Other(_) => prop_assert!(false),
            }
            prop_assert_eq!(r.ttl, ttl);
        }
        prop_assert_eq!(got, addrs);
    }
}
