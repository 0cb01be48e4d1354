//! The script linter: each finding kind on a file that has it, none on clean files.

mod common;

use phone_upgrade_script::DiagnosticKind;
use phone_upgrade_script::lint::{LintKind, Severity, get_cycles, is_known_variable, lint};

fn kinds(file: &[u8]) -> Vec<(u32, LintKind)> {
    lint(file, &is_known_variable)
        .into_iter()
        .map(|l| (l.line, l.kind))
        .collect()
}

#[test]
fn vendor_scripts_are_clean() {
    let s96x1 = common::vendor_file("96x1Supgrade.txt");
    assert_eq!(kinds(&s96x1), []);
    // 96xxupgrade.txt: only warnings (trailing spaces are not even that).
    let s96xx = common::vendor_file("96xxupgrade.txt");
    assert_eq!(kinds(&s96xx), []);
}

#[test]
fn duplicate_label() {
    let k = kinds(b"GOTO A\n# A\n# a\n");
    assert_eq!(
        k,
        [(
            3,
            LintKind::DuplicateLabel {
                label: b"a".to_vec(),
                first_line: 2
            }
        )]
    );
    assert_eq!(k[0].1.severity(), Severity::Warning);
}

#[test]
fn missing_label_is_an_error() {
    let k = kinds(b"IF $MODEL4 SEQ 1 GOTO ALSO_NOWHERE\n# X\nGOTO NOWHERE\n");
    assert_eq!(
        k,
        [
            (1, LintKind::MissingLabel(b"ALSO_NOWHERE".to_vec())),
            (3, LintKind::MissingLabel(b"NOWHERE".to_vec())),
        ]
    );
    assert!(k.iter().all(|(_, k)| k.severity() == Severity::Error));
}

#[test]
fn label_matching_only_ignoring_case() {
    let k = kinds(b"goto getset\n# GETSET\n");
    assert_eq!(
        k,
        [(
            1,
            LintKind::LabelCase {
                label: b"getset".to_vec(),
                defined_line: 2
            }
        )]
    );
}

#[test]
fn unknown_variable() {
    let k = kinds(b"IF $APPNAME_IN_USE SEQ x GOTO L\nIF $model4 SEQ 1 GOTO L\n# L\n");
    assert_eq!(
        k,
        [(1, LintKind::UnknownVariable(b"APPNAME_IN_USE".to_vec()))]
    );
    assert_eq!(k[0].1.severity(), Severity::Warning);
    // The caller decides which variables exist.
    assert_eq!(lint(b"IF $X SEQ 1 GOTO L\n# L\n", &|v| v == b"X"), []);
}

#[test]
fn unknown_operator_and_malformed_if_are_errors() {
    let k = kinds(b"IF $MODEL4 SNE 9608 GOTO X\nIF $MODEL4 SEQ 9608\n# X\n");
    assert_eq!(
        k,
        [
            (1, LintKind::Line(DiagnosticKind::UnknownOperator)),
            (2, LintKind::Line(DiagnosticKind::MalformedIf)),
        ]
    );
    assert!(k.iter().all(|(_, k)| k.severity() == Severity::Error));
}

#[test]
fn unreachable_after_unconditional_goto() {
    let k = kinds(b"GOTO B\nSET A 1\nGET x\n# B\nSET C 1\n");
    assert_eq!(k, [(2, LintKind::Unreachable), (3, LintKind::Unreachable)]);
}

#[test]
fn label_never_jumped_to_after_goto_is_unreachable() {
    let k = kinds(b"GOTO END\n# ORPHAN\nSET A 1\n# END\n");
    assert_eq!(k, [(3, LintKind::Unreachable)]);
}

#[test]
fn get_and_if_fall_through() {
    assert_eq!(
        kinds(b"GET x\nSET A 1\nIF $SIG SEQ 1 GOTO L\nSET B 1\n# L\n"),
        []
    );
}

#[test]
fn line_diagnostics_pass_through() {
    let k = kinds(b"  SET L2Q 1\nSET A \"x   # y\nSET B \"1\" # c\nSET C\nSET D \x93x\x94\n");
    assert_eq!(
        k,
        [
            (1, LintKind::Line(DiagnosticKind::LeadingWhitespace)),
            (2, LintKind::Line(DiagnosticKind::UnterminatedQuote)),
            (3, LintKind::Line(DiagnosticKind::TrailingText)),
            (4, LintKind::Line(DiagnosticKind::MissingValue)),
            (5, LintKind::Line(DiagnosticKind::CurlyQuote)),
        ]
    );
    assert!(k.iter().all(|(_, k)| k.severity() == Severity::Warning));
}

#[test]
fn get_cycle_across_files() {
    let files: &[(&[u8], &[u8])] = &[
        (b"46xxsettings.txt", b"GET a.txt\nGET missing.txt\n"),
        (b"a.txt", b"SET X 1\nGET 46xxsettings.txt\n"),
    ];
    let mut resolve = |name: &[u8]| {
        files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.to_vec())
    };
    let found = get_cycles(b"up.txt", b"GET 46xxsettings.txt\n", 8, &mut resolve);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].file, b"a.txt");
    assert_eq!(found[0].lint.line, 2);
    assert_eq!(
        found[0].lint.kind,
        LintKind::GetCycle(b"46xxsettings.txt".to_vec())
    );
    assert_eq!(found[0].lint.severity(), Severity::Error);
}

#[test]
fn get_self_is_a_cycle() {
    let mut resolve = |_: &[u8]| None;
    let found = get_cycles(b"s.txt", b"GET s.txt\n", 8, &mut resolve);
    assert_eq!(found[0].lint.kind, LintKind::GetCycle(b"s.txt".to_vec()));
}

#[test]
fn get_chain_too_deep() {
    // f0 -> f1 -> ... -> f9: the 9th hand-off (f8 -> f9) is beyond the bound.
    let mut resolve = |name: &[u8]| {
        let s = std::str::from_utf8(name).ok()?;
        let i: u32 = s.strip_prefix('f')?.parse().ok()?;
        (i <= 20).then(|| format!("GET f{}\n", i + 1).into_bytes())
    };
    let found = get_cycles(b"f0", b"GET f1\n", 8, &mut resolve);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].file, b"f8");
    assert_eq!(found[0].lint.kind, LintKind::GetChainTooDeep { max: 8 });
}

#[test]
fn vendor_template_lints_without_errors() {
    let bytes = common::vendor_file("46xxsettings-template-2022.txt");
    let found = lint(&bytes, &is_known_variable);
    let errors: Vec<_> = found
        .iter()
        .filter(|l| l.severity() == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

// ---- File-level repairs (issue 12): the BOM and CR-only line ends ----

/// A file saved "UTF-8 with BOM": the BOM used to make the first statement a comment without a
/// word. It is removed, the first line reads as written, and the linter says so.
#[test]
fn utf8_bom_is_removed_with_a_warning() {
    let k = kinds(b"\xEF\xBB\xBFSET A 1\n");
    assert_eq!(k, [(1, LintKind::Line(DiagnosticKind::ByteOrderMark))]);
    assert_eq!(k[0].1.severity(), Severity::Warning);
    // Without the repair the GOTO would have been a comment and `SET A 1` reachable: it is not.
    let k = kinds(b"\xEF\xBB\xBFGOTO L\nSET A 1\n# L\n");
    assert_eq!(
        k,
        [
            (1, LintKind::Line(DiagnosticKind::ByteOrderMark)),
            (2, LintKind::Unreachable)
        ]
    );
    // A BOM anywhere but the start is bytes like any other (a comment line here).
    assert_eq!(kinds(b"## x\n\xEF\xBB\xBFSET A 1\n"), []);
}

/// CR-only line ends (classic Mac) used to make one long line, i.e. one statement or none.
#[test]
fn cr_only_line_ends_are_line_ends_with_a_warning() {
    let k = kinds(b"GOTO L\rSET A 1\r# L\r");
    assert_eq!(
        k,
        [
            (1, LintKind::Line(DiagnosticKind::CrLineEnds)),
            (2, LintKind::Unreachable)
        ]
    );
    // Both at once.
    let k = kinds(b"\xEF\xBB\xBFSET A 1\rSET B 2");
    assert_eq!(
        k,
        [
            (1, LintKind::Line(DiagnosticKind::ByteOrderMark)),
            (1, LintKind::Line(DiagnosticKind::CrLineEnds)),
        ]
    );
    // A file with any LF keeps LF line ends: its CRs are bytes (one trailing CR is removed, §1).
    assert_eq!(kinds(b"SET A 1\r\nSET B x\ry\n"), []);
    // One trailing CR and nothing else: one line, read the same either way; no warning.
    assert_eq!(kinds(b"SET A 1\r"), []);
}
