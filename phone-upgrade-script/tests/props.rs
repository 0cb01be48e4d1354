//! Property tests: printed scripts parse back to the same statements on the same lines, parsing
//! never panics on arbitrary bytes, and every run ends within its bounds (GET loops included).

use std::collections::BTreeMap;

use phone_upgrade_script::{
    Limits, Located, Operator, Run, RunError, Script, Statement, Step, parse,
};
use proptest::prelude::*;

/// Token bytes: anything but space, tab, LF (CR and bytes ≥ 0x80 included on purpose).
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(b"ABCXYZabcz0189_$#.\"-:".to_vec()),
            1 => Just(b'\r'),
            1 => 0x80u8..=0xff,
        ],
        1..8,
    )
}

/// Values: tokens, or quoted strings with spaces (no quote inside), or empty.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        token().prop_filter("no leading quote unless quotable", |v| v[0] != b'"'
            || !v.contains(&b' ')),
        prop::collection::vec(prop::sample::select(b"ab 9\t\r\xe9#$".to_vec()), 0..12),
        Just(Vec::new()),
    ]
    .prop_filter("representable", |v| {
        let needs = v.is_empty() || v[0] == b'"' || v.iter().any(|b| *b == b' ' || *b == b'\t');
        !(needs && v.contains(&b'"'))
    })
}

#[derive(Clone, Debug)]
enum Owned {
    Set(Vec<u8>, Vec<u8>),
    Get(Vec<u8>),
    If(Vec<u8>, Option<Vec<u8>>, Vec<u8>, Vec<u8>),
    Goto(Vec<u8>),
    Label(Vec<u8>),
}

fn owned() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (token(), value()).prop_map(|(n, v)| Owned::Set(n, v)),
        value()
            .prop_filter("GET needs a name", |v| !v.is_empty())
            .prop_map(Owned::Get),
        (
            token(),
            prop::option::of(token().prop_filter("not SEQ", |o| !o.eq_ignore_ascii_case(b"SEQ"))),
            value(),
            token()
        )
            .prop_map(|(v, o, x, l)| Owned::If(v, o, x, l)),
        token().prop_map(Owned::Goto),
        token().prop_map(Owned::Label),
    ]
}

fn borrow(o: &Owned) -> Statement<'_> {
    match o {
        Owned::Set(n, v) => Statement::Set { name: n, value: v },
        Owned::Get(f) => Statement::Get { file: f },
        Owned::If(v, o, x, l) => Statement::If {
            var: v,
            op: o.as_deref().map_or(Operator::Seq, Operator::Other),
            value: x,
            label: l,
        },
        Owned::Goto(l) => Statement::Goto { label: l },
        Owned::Label(l) => Statement::Label { name: l },
    }
}

/// Small script bytes made of plausible lines, for the run properties.
fn script_bytes() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just(b"SET A 1".to_vec()),
        Just(b"SET APPNAME x.bin".to_vec()),
        Just(b"GET f1".to_vec()),
        Just(b"GET f2".to_vec()),
        Just(b"GET $MACADDR.txt".to_vec()),
        Just(b"GOTO L1".to_vec()),
        Just(b"GOTO L2".to_vec()),
        Just(b"# L1".to_vec()),
        Just(b"# L2".to_vec()),
        Just(b"IF $M SEQ a GOTO L1".to_vec()),
        Just(b"IF $APPNAME SEQ x.bin GOTO L2".to_vec()),
        Just(b"## comment".to_vec()),
        prop::collection::vec(any::<u8>(), 0..20),
    ];
    prop::collection::vec(line, 0..12).prop_map(|ls| ls.join(&b"\n"[..]))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn print_then_parse_is_identity(
        stmts in prop::collection::vec((owned(), 1u32..4), 0..20)
    ) {
        let mut line = 0u32;
        let mut located = Vec::new();
        for (o, gap) in &stmts {
            line += gap;
            located.push(Located { line, statement: borrow(o) });
        }
        let script = Script { statements: located, diagnostics: Vec::new(), line_count: line };
        let bytes = script.to_bytes().expect("generated statements are printable");
        let back = parse(&bytes);
        prop_assert_eq!(&back.statements, &script.statements);
        prop_assert_eq!(back.line_count, line);
    }

    #[test]
    fn parse_never_panics_and_lines_increase(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let s = parse(&bytes);
        prop_assert!(s.statements.windows(2).all(|w| w[0].line < w[1].line));
        prop_assert!(s.statements.iter().all(|l| l.line >= 1 && l.line <= s.line_count));
    }

    #[test]
    fn parsed_scripts_reprint_to_the_same_statements(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        // Whatever parses, and can be printed, parses back the same.
        let s = parse(&bytes);
        if let Ok(out) = s.to_bytes() {
            prop_assert_eq!(parse(&out).statements, s.statements);
        }
    }

    #[test]
    fn runs_end_within_bounds(
        first in script_bytes(),
        f1 in script_bytes(),
        f2 in script_bytes(),
        serve in any::<[bool; 3]>(),
        m in prop::sample::select(vec!["a", "b"]),
        max_steps in 1u32..300,
        max_handoffs in 0u8..5,
    ) {
        let mut limits = Limits::default();
        limits.max_steps = max_steps;
        limits.max_handoffs = max_handoffs;
        let mut vars = BTreeMap::new();
        vars.insert(b"M".to_vec(), m.as_bytes().to_vec());
        vars.insert(b"MACADDR".to_vec(), b"00:11:22:AA:BB:CC".to_vec());
        let mut run = Run::new(b"first", first, b"run.bin", limits);
        let mut calls = 0u32;
        let mut obtained = 0u32;
        let result = loop {
            calls += 1;
            // Each step() call executes at least one line, so the run must end by then.
            prop_assert!(calls <= max_steps + 2, "run did not end");
            match run.step(&vars) {
                Step::Set(_) => {}
                Step::NeedFile { name, .. } => {
                    let body = match name {
                        b"f1" if serve[0] => Some(f1.clone()),
                        b"f2" if serve[1] => Some(f2.clone()),
                        b"001122aabbcc.txt" if serve[2] => Some(f1.clone()),
                        _ => None,
                    };
                    obtained += u32::from(body.is_some());
                    run.provide_file(body);
                }
                Step::Finished(r) => break r,
            }
        };
        prop_assert!(run.steps() <= max_steps);
        prop_assert!(run.handoffs() <= max_handoffs);
        prop_assert_eq!(u32::from(run.handoffs()), obtained);
        match result {
            Err(RunError::StepLimit { .. }) => prop_assert_eq!(run.steps(), max_steps),
            Err(RunError::GetChainTooDeep { .. }) => prop_assert_eq!(run.handoffs(), max_handoffs),
            Ok(()) => {}
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }
}
