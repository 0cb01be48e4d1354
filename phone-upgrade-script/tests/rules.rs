//! One test per rule of spec/script.md (section numbers in the names), each failing if the rule
//! broke. The edge-case table of §11 is covered row by row (`e01`…`e28`).

mod common;

use common::{run, run_with};
use phone_upgrade_script::{
    DiagnosticKind, Limits, Operator, RunError, Statement, WarningKind, parse, parse_line,
};

fn stmt(line: &[u8]) -> Option<Statement<'_>> {
    parse_line(line).statement
}

fn diag(line: &[u8], kind: DiagnosticKind) -> bool {
    parse_line(line).diagnostics.contains(kind)
}

// ---- §1 Input ----

#[test]
fn s1_bytes_not_utf8_are_accepted() {
    let file = b"## \xcf\xf0\xe8\xec\xe5\xf0 \xff\xfe\r\nSET A \xe9t\xe9\r\n";
    let o = run(file, &[], &[]);
    assert_eq!(o.sets.len(), 1);
    assert_eq!(o.sets[0].1.as_bytes(), "\u{FFFD}t\u{FFFD}".as_bytes());
    assert_eq!(parse(file).statements.len(), 1);
}

#[test]
fn s1_last_line_without_line_end_counts() {
    let o = run(b"SET A 1\nSET B 2", &[], &[]);
    assert_eq!(o.pairs(), [("A", "1"), ("B", "2")]);
}

#[test]
fn s1_only_one_trailing_cr_is_removed_and_line_numbers_count_lf() {
    let s = parse(b"SET A x\r\r\nSET B y\n\nSET C z\r\n");
    assert_eq!(
        s.statements[0].statement,
        Statement::Set {
            name: b"A",
            value: b"x\r"
        }
    );
    assert_eq!(s.statements[1].line, 2);
    assert_eq!(s.statements[2].line, 4);
    assert_eq!(s.line_count, 4);
}

#[test]
fn s1_tabs_and_several_spaces_separate_tokens() {
    assert_eq!(
        stmt(b"SET\tL2Q \t  1"),
        Some(Statement::Set {
            name: b"L2Q",
            value: b"1"
        })
    );
}

#[test]
fn s1_very_long_line_is_fine() {
    let mut line = b"SET LANGUAGES ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 200_000));
    let o = run(&line, &[], &[]);
    assert_eq!(o.sets[0].1.len(), 200_000);
}

// ---- §2 Which lines are statements ----

#[test]
fn s2_keyword_needs_space_or_tab_after_it() {
    assert_eq!(stmt(b"SETX 1"), None);
    assert_eq!(stmt(b"GOTOX"), None);
    assert_eq!(stmt(b"GETfile"), None);
    assert!(stmt(b"GET\tfile").is_some());
}

#[test]
fn s2_keywords_any_case() {
    assert!(matches!(stmt(b"sEt a 1"), Some(Statement::Set { .. })));
    assert!(matches!(stmt(b"get f"), Some(Statement::Get { .. })));
    assert!(matches!(stmt(b"Goto L"), Some(Statement::Goto { .. })));
    assert!(matches!(
        stmt(b"if $A seq 1 goto L"),
        Some(Statement::If {
            op: Operator::Seq,
            ..
        })
    ));
}

#[test]
fn s2_hash_then_space_or_tab_is_label_else_comment() {
    assert_eq!(stmt(b"# L1"), Some(Statement::Label { name: b"L1" }));
    assert_eq!(stmt(b"#\tL1"), Some(Statement::Label { name: b"L1" }));
    assert_eq!(stmt(b"#"), None);
    assert_eq!(stmt(b"#   "), None);
}

// ---- §4 SET ----

#[test]
fn s4_name_kept_as_written() {
    assert_eq!(
        stmt(b"set l2q 1"),
        Some(Statement::Set {
            name: b"l2q",
            value: b"1"
        })
    );
}

#[test]
fn s4_quoted_value_runs_to_next_quote_no_escape() {
    assert_eq!(
        stmt(br#"SET A "x \"y""#),
        Some(Statement::Set {
            name: b"A",
            value: b"x \\"
        })
    );
    assert!(diag(br#"SET A "x \"y""#, DiagnosticKind::TrailingText));
}

#[test]
fn s4_quote_inside_unquoted_value_is_a_byte() {
    assert_eq!(
        stmt(br#"SET A x"y"#),
        Some(Statement::Set {
            name: b"A",
            value: br#"x"y"#
        })
    );
}

#[test]
fn s4_unterminated_quote_runs_to_end_of_line() {
    assert_eq!(
        stmt(br#"SET A "x y  "#),
        Some(Statement::Set {
            name: b"A",
            value: b"x y"
        })
    );
    assert!(diag(br#"SET A "x y"#, DiagnosticKind::UnterminatedQuote));
}

#[test]
fn s4_empty_quoted_value() {
    assert_eq!(
        stmt(br#"SET A """#),
        Some(Statement::Set {
            name: b"A",
            value: b""
        })
    );
    assert!(parse_line(br#"SET A """#).diagnostics.is_empty());
}

#[test]
fn s4_set_without_name_is_noop() {
    assert_eq!(stmt(b"SET   "), None);
    assert!(diag(b"SET  \t", DiagnosticKind::MalformedSet));
    assert!(
        !diag(b"SET", DiagnosticKind::MalformedSet),
        "no space after SET: a comment"
    );
    assert!(diag(b"SET \x01", DiagnosticKind::MissingValue));
}

#[test]
fn s4_set_before_get_stays_after_handoff() {
    let o = run(
        b"SET HTTPDIR J100\nGET s.txt\nSET NEVER 1\n",
        &[],
        &[("s.txt", b"SET X 1\n")],
    );
    assert_eq!(o.pairs(), [("HTTPDIR", "J100"), ("X", "1")]);
    assert_eq!(o.sets[1].2, 1, "second SET comes from file 1");
}

#[test]
fn s4_serialno_and_macaddr_not_expanded_at_set() {
    let o = run(
        b"SET MYCERTCN $SERIALNO-$MACADDR\n",
        &[("MACADDR", "00:11:22:33:44:55")],
        &[],
    );
    assert_eq!(o.value("MYCERTCN"), Some("$SERIALNO-$MACADDR"));
}

#[test]
fn s4_later_set_overrides_earlier_across_files() {
    let o = run(b"SET A 1\nGET s\n", &[], &[("s", b"SET A 2\n")]);
    assert_eq!(o.value("A"), Some("2"));
}

// ---- §5 GET ----

#[test]
fn s5_get_name_follows_quoting_rule() {
    assert_eq!(
        stmt(br#"GET "my file.txt""#),
        Some(Statement::Get {
            file: b"my file.txt"
        })
    );
    assert_eq!(stmt(b"GET   "), None);
    assert!(diag(b"GET ", DiagnosticKind::MalformedGet));
    assert_eq!(stmt(b"GOTO \t"), None);
    assert!(diag(b"GOTO \t", DiagnosticKind::MalformedGoto));
}

#[test]
fn s5_macaddr_expanded_lower_case_without_separators() {
    let o = run(
        b"GET $MACADDR.txt\n",
        &[("MACADDR", "00:1B:4F:AA:BB:CC")],
        &[],
    );
    assert_eq!(o.gets, ["001b4faabbcc.txt"]);
}

#[test]
fn s5_unknown_mac_keeps_the_name_and_warns() {
    let o = run(b"GET $MACADDR.txt\n", &[], &[]);
    assert_eq!(o.gets, ["$MACADDR.txt"]);
    assert!(
        o.warnings
            .iter()
            .any(|w| w.kind == WarningKind::UnknownMacAddr)
    );
}

#[test]
fn s5_obtained_hands_over_for_good() {
    let o = run(b"GET a\nSET AFTER 1\n", &[], &[("a", b"SET IN_A 1\n")]);
    assert_eq!(o.pairs(), [("IN_A", "1")]);
    assert!(o.result.is_ok());
    assert_eq!(o.run.file_name(1), Some(&b"a"[..]));
}

#[test]
fn s5_obtained_empty_body_ends_the_run() {
    let o = run(b"GET a\nSET AFTER 1\n", &[], &[("a", b"")]);
    assert!(o.sets.is_empty());
    assert!(o.result.is_ok());
}

#[test]
fn s5_handoff_bound_is_eight() {
    // Files f1..f8 each GET the next; f8 GETs f9, which would be the 9th hand-off.
    let bodies: Vec<(String, Vec<u8>)> = (1..=9)
        .map(|i| {
            (
                format!("f{i}"),
                format!("SET F{i} 1\nGET f{}\n", i + 1).into_bytes(),
            )
        })
        .collect();
    let files: Vec<(&str, &[u8])> = bodies
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let o = run(b"SET F0 1\nGET f1\n", &[], &files);
    assert_eq!(o.sets.len(), 9, "SETs of the 9 files stay");
    assert_eq!(o.gets.len(), 8);
    assert_eq!(
        o.result,
        Err(RunError::GetChainTooDeep {
            file: 8,
            line: 2,
            max: 8
        })
    );
}

#[test]
fn s5_not_obtained_gets_do_not_count_as_handoffs() {
    let script: Vec<u8> = (0..20)
        .flat_map(|i| format!("GET missing{i}\n").into_bytes())
        .collect();
    let o = run(&script, &[], &[]);
    assert_eq!(o.gets.len(), 20);
    assert!(o.result.is_ok());
}

// ---- §6 IF ----

#[test]
fn s6_true_test_jumps_false_goes_on() {
    let script = b"IF $M SEQ a GOTO L\nSET NOJUMP 1\n# L\nSET END 1\n";
    assert_eq!(run(script, &[("M", "a")], &[]).pairs(), [("END", "1")]);
    assert_eq!(
        run(script, &[("M", "b")], &[]).pairs(),
        [("NOJUMP", "1"), ("END", "1")]
    );
}

#[test]
fn s6_value_follows_quoting_rule() {
    let script = b"IF $M SEQ \"a b\" GOTO L\nSET NOJUMP 1\n# L\n";
    assert!(run(script, &[("M", "a b")], &[]).sets.is_empty());
}

#[test]
fn s6_variable_names_are_case_insensitive() {
    let o = run(
        b"IF $model4 SEQ 9611 GOTO L\nSET NOJUMP 1\n# L\n",
        &[("MODEL4", "9611")],
        &[],
    );
    assert!(o.sets.is_empty());
}

#[test]
fn s6_bad_shapes_are_noops() {
    for line in [
        &b"IF MODEL4 SEQ 9608 GOTO X"[..],
        b"IF $ SEQ 9608 GOTO X",
        b"IF $MODEL4 SEQ 9608 GOTOX",
        b"IF $MODEL4 SEQ 9608 JUMP X",
        b"IF $MODEL4 SEQ",
        b"IF $MODEL4 SEQ \"9608 GOTO X",
    ] {
        assert_eq!(stmt(line), None, "{}", String::from_utf8_lossy(line));
        assert!(diag(line, DiagnosticKind::MalformedIf));
    }
}

// ---- §7 Variables ----

#[test]
fn s7_appname_starts_as_running_app_and_follows_sets() {
    let script = b"IF $APPNAME SEQ run.bin GOTO SAME\nSET DIFFERENT 1\n# SAME\n\
                   SET APPNAME new.bin\nIF $APPNAME SEQ new.bin GOTO NEW\nSET NOTNEW 1\n# NEW\n";
    let o = run_with(script, &[], &[], "run.bin", Limits::default());
    assert_eq!(o.pairs(), [("APPNAME", "new.bin")]);
    let o = run_with(script, &[], &[], "other.bin", Limits::default());
    assert_eq!(o.pairs(), [("DIFFERENT", "1"), ("APPNAME", "new.bin")]);
    assert_eq!(o.run.appname(), b"new.bin");
}

#[test]
fn s7_appname_is_not_taken_from_the_caller() {
    // Decision 10: the run, not the lookup, owns $APPNAME.
    let o = run(
        b"IF $APPNAME SEQ x GOTO L\nSET NOJUMP 1\n# L\n",
        &[("APPNAME", "x")],
        &[],
    );
    assert_eq!(o.pairs(), [("NOJUMP", "1")]);
}

#[test]
fn s7_rfsname_is_tracked() {
    let o = run(b"SET rfsname r.tar\n", &[], &[]);
    assert_eq!(o.run.rfsname(), Some(&b"r.tar"[..]));
    assert_eq!(run(b"", &[], &[]).run.rfsname(), None);
}

// ---- §8 GOTO and labels ----

#[test]
fn s8_backward_jump() {
    let o = run(
        b"GOTO B\n# A\nSET A 1\nGOTO END\n# B\nSET B 1\nGOTO A\n# END\n",
        &[],
        &[],
    );
    assert_eq!(o.pairs(), [("B", "1"), ("A", "1")]);
}

#[test]
fn s8_label_compare_ignores_case() {
    let o = run(b"goto getset\nSET SKIPPED 1\n# GetSet\nSET X 1\n", &[], &[]);
    assert_eq!(o.pairs(), [("X", "1")]);
}

#[test]
fn s8_first_of_duplicate_labels_counts() {
    let o = run(
        b"GOTO L\n# L\nSET FIRST 1\nGOTO END\n# L\nSET SECOND 1\n# END\n",
        &[],
        &[],
    );
    assert_eq!(o.pairs(), [("FIRST", "1")]);
}

#[test]
fn s8_label_text_after_first_token_ignored() {
    assert_eq!(
        stmt(b"# L1 this is ignored"),
        Some(Statement::Label { name: b"L1" })
    );
    assert!(diag(b"# L1 this is ignored", DiagnosticKind::TrailingText));
    let o = run(
        b"GOTO L1\nSET SKIPPED 1\n# L1 this is ignored\nSET X 1\n",
        &[],
        &[],
    );
    assert_eq!(o.pairs(), [("X", "1")]);
}

#[test]
fn s8_missing_label_in_if_ends_the_file() {
    let o = run(b"IF $A SEQ 1 GOTO NOWHERE\nSET X 1\n", &[("A", "1")], &[]);
    assert!(o.sets.is_empty());
    assert!(o.result.is_ok());
    assert!(matches!(&o.warnings[0].kind, WarningKind::MissingLabel(l) if l == b"NOWHERE"));
}

#[test]
fn s8_missing_label_in_handed_over_file_ends_the_run() {
    let o = run(
        b"GET s\nSET NOT_RESUMED 1\n",
        &[],
        &[("s", b"GOTO NOWHERE\nSET X 1\n")],
    );
    assert!(o.sets.is_empty());
}

#[test]
fn s8_step_limit_counts_every_line_and_sets_before_stay() {
    let mut limits = Limits::default();
    limits.max_steps = 10;
    // Lines 1-6 are 6 steps; then the jump goes on after the label, so only line 6 repeats.
    let o = run_with(b"##\n##\n\nSET A 1\n# L\nGOTO L\n", &[], &[], "r", limits);
    assert_eq!(o.pairs(), [("A", "1")]);
    assert_eq!(
        o.result,
        Err(RunError::StepLimit {
            file: 0,
            line: 6,
            max: 10
        })
    );
    assert_eq!(o.run.steps(), 10);
}

#[test]
fn s8_steps_count_across_files() {
    let mut limits = Limits::default();
    limits.max_steps = 3;
    let o = run_with(b"##\nGET s\n", &[], &[("s", b"SET A 1\n##\n")], "r", limits);
    assert_eq!(o.pairs(), [("A", "1")]);
    assert_eq!(
        o.result,
        Err(RunError::StepLimit {
            file: 1,
            line: 2,
            max: 3
        })
    );
}

#[test]
fn finished_is_sticky() {
    use phone_upgrade_script::{Run, Step};
    let vars = std::collections::BTreeMap::<Vec<u8>, Vec<u8>>::new();
    let mut r = Run::new(b"f", b"SET A 1\n".to_vec(), b"", Limits::default());
    assert!(matches!(r.step(&vars), Step::Set(_)));
    assert_eq!(r.step(&vars), Step::Finished(Ok(())));
    assert_eq!(r.step(&vars), Step::Finished(Ok(())));
    r.provide_file(Some(b"SET B 1\n".to_vec()));
    assert_eq!(
        r.step(&vars),
        Step::Finished(Ok(())),
        "unasked file is ignored"
    );
}

#[test]
fn need_file_repeats_until_answered() {
    use phone_upgrade_script::{Run, Step};
    let vars = std::collections::BTreeMap::<Vec<u8>, Vec<u8>>::new();
    let mut r = Run::new(b"f", b"GET x\nSET A 1\n".to_vec(), b"", Limits::default());
    for _ in 0..3 {
        assert!(matches!(
            r.step(&vars),
            Step::NeedFile {
                name: b"x",
                line: 1,
                ..
            }
        ));
    }
    r.provide_file(None);
    assert!(matches!(r.step(&vars), Step::Set(s) if s.line == 2));
}

#[test]
fn too_large_file_is_not_obtained() {
    let mut limits = Limits::default();
    limits.max_file_bytes = 4;
    let o = run_with(
        b"GET big\nSET X 1\n",
        &[],
        &[("big", b"SET A 1\n")],
        "r",
        limits,
    );
    assert_eq!(o.pairs(), [("X", "1")]);
    assert!(matches!(o.warnings[0].kind, WarningKind::FileTooLarge(8)));
}

#[test]
fn warnings_are_capped() {
    let mut limits = Limits::default();
    limits.max_warnings = 2;
    let o = run_with(b"# L\nIF $U SEQ 1 GOTO L\nGOTO L\n", &[], &[], "r", limits);
    assert_eq!(o.warnings.len(), 2);
    assert!(o.run.dropped_warnings() > 0);
}

// ---- §11 edge cases, row by row ----

#[test]
fn e01_hash_comments() {
    for l in [
        &b"## comment"[..],
        b"#PBX",
        b"#SET APPNAME x",
        b"#3    0    Hide",
    ] {
        assert_eq!(stmt(l), None);
        assert!(parse_line(l).diagnostics.is_empty());
    }
}

#[test]
fn e02_blank_lines() {
    assert_eq!(stmt(b""), None);
    assert_eq!(stmt(b" \t "), None);
    assert!(parse_line(b" \t ").diagnostics.is_empty());
}

#[test]
fn e03_leading_whitespace_is_comment_with_lint() {
    assert_eq!(stmt(b"   SET L2Q 1"), None);
    assert!(diag(b"   SET L2Q 1", DiagnosticKind::LeadingWhitespace));
    assert!(diag(b"\t# LABEL", DiagnosticKind::LeadingWhitespace));
    assert!(!diag(b"   just words", DiagnosticKind::LeadingWhitespace));
    assert!(run(b"   SET L2Q 1\n", &[], &[]).sets.is_empty());
}

#[test]
fn e04_lower_case_set() {
    assert_eq!(run(b"set l2q 1\n", &[], &[]).pairs(), [("l2q", "1")]);
}

#[test]
fn e05_several_spaces_lower_goto() {
    assert_eq!(
        stmt(b"IF $MODEL  SEQ 9620D01A  goto SHA1BACKUPAPP96XXEOMS"),
        Some(Statement::If {
            var: b"MODEL",
            op: Operator::Seq,
            value: b"9620D01A",
            label: b"SHA1BACKUPAPP96XXEOMS"
        })
    );
}

#[test]
fn e06_label_trailing_spaces() {
    assert_eq!(
        stmt(b"# BACKUPAPP96XX  "),
        Some(Statement::Label {
            name: b"BACKUPAPP96XX"
        })
    );
    assert!(parse_line(b"# BACKUPAPP96XX  ").diagnostics.is_empty());
}

#[test]
fn e07_value_trailing_space() {
    assert_eq!(
        stmt(b"SET APPNAME SIP96xx_2_6_17_0_SHA256.bin "),
        Some(Statement::Set {
            name: b"APPNAME",
            value: b"SIP96xx_2_6_17_0_SHA256.bin"
        })
    );
}

#[test]
fn e08_quoted_number() {
    assert_eq!(
        run(b"SET HTTPPORT \"80\"\n", &[], &[]).value("HTTPPORT"),
        Some("80")
    );
}

#[test]
fn e09_value_with_spaces_keeps_macaddr() {
    let o = run(
        b"SET MYCERTCN \"Avaya telephone with MAC address $MACADDR\"\n",
        &[("MACADDR", "aa")],
        &[],
    );
    assert_eq!(
        o.value("MYCERTCN"),
        Some("Avaya telephone with MAC address $MACADDR")
    );
}

#[test]
fn e10_trailing_text_ignored_with_lint() {
    let l = b"SET FORCE_SIP_USERNAME \"14087803999\"   # Username";
    assert_eq!(
        stmt(l),
        Some(Statement::Set {
            name: b"FORCE_SIP_USERNAME",
            value: b"14087803999"
        })
    );
    assert!(diag(l, DiagnosticKind::TrailingText));
    assert!(diag(b"SET A b c", DiagnosticKind::TrailingText));
    assert!(diag(b"GOTO A b", DiagnosticKind::TrailingText));
    assert!(diag(b"GET a b", DiagnosticKind::TrailingText));
    assert!(diag(b"IF $A SEQ 1 GOTO L x", DiagnosticKind::TrailingText));
    assert!(!diag(b"SET A b", DiagnosticKind::TrailingText));
}

#[test]
fn e11_set_without_value_then_value_line() {
    let s = parse(b"SET OBSCURE_PREFERENCES\r\n\"A,B\"\r\n");
    assert_eq!(s.statements.len(), 1);
    assert_eq!(
        s.statements[0].statement,
        Statement::Set {
            name: b"OBSCURE_PREFERENCES",
            value: b""
        }
    );
    assert_eq!(s.diagnostics[0].kind, DiagnosticKind::MissingValue);
    // Line 1 ends right after the name: `SET NAME` with nothing after the keyword's space.
    assert_eq!(
        stmt(b"SET OBSCURE_PREFERENCES   "),
        Some(Statement::Set {
            name: b"OBSCURE_PREFERENCES",
            value: b""
        })
    );
}

#[test]
fn e12_curly_quotes_are_bytes() {
    let utf8 = "SET MYCERTCN \u{201C}x\u{201D}".as_bytes();
    assert_eq!(
        stmt(utf8),
        Some(Statement::Set {
            name: b"MYCERTCN",
            value: "\u{201C}x\u{201D}".as_bytes()
        })
    );
    assert!(diag(utf8, DiagnosticKind::CurlyQuote));
    assert!(diag(b"SET MYCERTCN \x93x\x94", DiagnosticKind::CurlyQuote));
    assert!(!diag(b"SET MYCERTCN \"x\"", DiagnosticKind::CurlyQuote));
}

#[test]
fn e13_crlf_and_lf_identical() {
    let lf = b"IF $A SEQ 1 GOTO L\nSET X 1 \n# L  \nSET Y \"2\"\nGET f\n";
    let crlf: Vec<u8> = lf
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    assert_eq!(parse(lf), parse(&crlf));
    let files: &[(&str, &[u8])] = &[("f", b"SET Z 3\n")];
    assert_eq!(
        run(lf, &[("A", "1")], files).pairs(),
        run(&crlf, &[("A", "1")], files).pairs()
    );
}

/// A UTF-8 BOM at the start is removed: the first statement runs (issue 12), with a warning.
#[test]
fn s1_utf8_bom_is_removed_with_a_warning() {
    let o = run(b"\xEF\xBB\xBFSET A 1\r\nSET B 2\r\n", &[], &[]);
    assert_eq!(o.pairs(), [("A", "1"), ("B", "2")]);
    assert_eq!(o.sets[0].3, 1);
    assert_eq!(
        o.warnings
            .iter()
            .map(|w| (w.file, w.line, w.kind.clone()))
            .collect::<Vec<_>>(),
        [(0, 1, WarningKind::Line(DiagnosticKind::ByteOrderMark))]
    );
    // In a handed-over file too, warned against that file.
    let o = run(b"GET s\n", &[], &[("s", b"\xEF\xBB\xBF# L\nSET C 3\n")]);
    assert_eq!(o.pairs(), [("C", "3")]);
    assert_eq!(
        (o.warnings[0].file, o.warnings[0].line),
        (1, 1),
        "{:?}",
        o.warnings
    );
    // A jump lands after a label on the BOM's line as on any other.
    let o = run(b"\xEF\xBB\xBF# L\nSET A 1\nGOTO L\n", &[], &[]);
    assert!(matches!(o.result, Err(RunError::StepLimit { .. })));
    assert!(o.sets.iter().all(|s| s.3 == 2));
}

/// CR-only line ends are line ends (issue 12), with a warning; line numbers count CRs.
#[test]
fn s1_cr_only_line_ends_are_line_ends_with_a_warning() {
    let o = run(
        b"IF $A SEQ 1 GOTO L\rSET X 1\r# L\rSET Y 2\r",
        &[("A", "1")],
        &[],
    );
    assert_eq!(o.pairs(), [("Y", "2")]);
    assert_eq!(o.sets[0].3, 4);
    assert_eq!(
        o.warnings[0].kind,
        WarningKind::Line(DiagnosticKind::CrLineEnds)
    );
    let s = parse(b"SET A 1\rSET B 2\r\rSET C 3");
    assert_eq!(
        s.statements.iter().map(|l| l.line).collect::<Vec<_>>(),
        [1, 2, 4]
    );
    assert_eq!(s.line_count, 4);
    // The same statements as the LF file.
    assert_eq!(
        parse(b"SET A 1\rSET B 2\r\rSET C 3").statements,
        parse(b"SET A 1\nSET B 2\n\nSET C 3").statements
    );
}

#[test]
fn e14_cp1251_comments_ignored() {
    let s = parse(b"## \xc7\xe0\xec\xe5\xf2\xea\xe0\r\n\xc0\xc1\xc2\r\nSET A 1\r\n");
    assert!(s.diagnostics.is_empty());
    assert_eq!(s.statements.len(), 1);
}

#[test]
fn e15_seq_case_insensitive() {
    let o = run(
        b"IF $MODEL4 SEQ aca GOTO X\nSET NOJUMP 1\n# X\n",
        &[("MODEL4", "ACA1")],
        &[],
    );
    assert_eq!(o.pairs(), [("NOJUMP", "1")], "ACA1 != aca");
    let o = run(
        b"IF $MODEL4 SEQ aca GOTO X\nSET NOJUMP 1\n# X\n",
        &[("MODEL4", "ACA")],
        &[],
    );
    assert!(o.sets.is_empty());
}

#[test]
fn e16_sig_in_use_h323_on_sip() {
    let o = run(
        b"IF $SIG_IN_USE SEQ H323 GOTO SETTINGS96X1H323\nSET SIP 1\n# SETTINGS96X1H323\n",
        &[("SIG_IN_USE", "SIP")],
        &[],
    );
    assert_eq!(o.pairs(), [("SIP", "1")]);
}

#[test]
fn e17_unknown_variable_noop() {
    let o = run(b"IF $FOO SEQ 1 GOTO X\nSET A 1\n", &[], &[]);
    assert_eq!(o.pairs(), [("A", "1")]);
    assert!(matches!(&o.warnings[0].kind, WarningKind::UnknownVariable(v) if v == b"FOO"));
}

#[test]
fn e18_other_operator_noop() {
    let l = b"IF $MODEL4 SNE 9608 GOTO X";
    assert!(matches!(
        stmt(l),
        Some(Statement::If {
            op: Operator::Other(b"SNE"),
            ..
        })
    ));
    assert!(diag(l, DiagnosticKind::UnknownOperator));
    let o = run(
        b"IF $MODEL4 SNE 9608 GOTO X\nSET A 1\n# X\n",
        &[("MODEL4", "9611")],
        &[],
    );
    assert_eq!(o.pairs(), [("A", "1")]);
}

#[test]
fn e19_if_without_goto_noop() {
    assert_eq!(stmt(b"IF $MODEL4 SEQ 9608"), None);
    assert!(diag(b"IF $MODEL4 SEQ 9608", DiagnosticKind::MalformedIf));
    let o = run(
        b"IF $MODEL4 SEQ 9608\nSET A 1\n",
        &[("MODEL4", "9608")],
        &[],
    );
    assert_eq!(o.pairs(), [("A", "1")]);
}

#[test]
fn e20_goto_nowhere_ignores_rest() {
    let o = run(
        b"SET A 1\nGOTO NOWHERE\nSET B 1\n# ELSEWHERE\nSET C 1\n",
        &[],
        &[],
    );
    assert_eq!(o.pairs(), [("A", "1")]);
    assert!(o.result.is_ok());
}

#[test]
fn e21_endless_loop_stops_at_one_million_lines() {
    let o = run(b"SET A 1\n# L\nGOTO L\n", &[], &[]);
    assert_eq!(
        o.result,
        Err(RunError::StepLimit {
            file: 0,
            line: 3,
            max: 1_000_000
        })
    );
    assert_eq!(o.run.steps(), 1_000_000);
    assert_eq!(o.pairs(), [("A", "1")]);
}

#[test]
fn e22_settings_getting_itself_stops_at_ninth_file() {
    let settings = b"SET N 1\nGET 46xxsettings.txt\n";
    let o = run(
        b"GET 46xxsettings.txt\n",
        &[],
        &[("46xxsettings.txt", settings)],
    );
    assert_eq!(o.gets.len(), 8);
    assert_eq!(o.sets.len(), 8);
    assert_eq!(
        o.result,
        Err(RunError::GetChainTooDeep {
            file: 8,
            line: 2,
            max: 8
        })
    );
}

#[test]
fn e23_missing_file_falls_through() {
    let o = run(b"GET missing.txt\nSET X 1\n", &[], &[]);
    assert_eq!(o.gets, ["missing.txt"]);
    assert_eq!(o.pairs(), [("X", "1")]);
}

#[test]
fn e26_add_is_comment() {
    assert_eq!(stmt(b"ADD SOMETHING 1"), None);
    assert!(parse_line(b"ADD SOMETHING 1").diagnostics.is_empty());
}

#[test]
fn e27_group_defaults_to_zero() {
    let script = b"IF $GROUP SEQ 1 GOTO GROUP_1\nIF $GROUP SEQ 0 GOTO GROUP_0\n# GROUP_1\nSET G 1\n# GROUP_0\nSET G 0\n";
    let o = run(script, &[], &[]);
    assert_eq!(o.pairs(), [("G", "0")]);
    assert!(o.warnings.is_empty());
    let o = run(script, &[("GROUP", "1")], &[]);
    assert_eq!(o.pairs(), [("G", "1"), ("G", "0")]);
}

#[test]
fn e28_goto_end_as_last_line() {
    let o = run(
        b"goto END\r\n# GETSET\r\nGET 46xxsettings.txt\r\n\r\n\r\n# END",
        &[],
        &[],
    );
    assert!(o.gets.is_empty());
    assert!(o.result.is_ok());
}
