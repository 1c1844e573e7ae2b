//! The labelled migration corpus (`tests/corpus/*/`): each case is a migrations folder, how far
//! production has applied it, and whether a careful reviewer would call its pending migrations a
//! `hazard` or `safe`. shipgate's verdict (any deny finding) must match every label. The same
//! corpus is run through squawk by `bench/migrate-lint.sh` for BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use shipgate_migrate::Severity;
use shipgate_migrate::layout::load_dir;
use shipgate_migrate::lint::{LintOptions, lint};

fn field<'a>(case: &'a str, key: &str) -> &'a str {
    case.lines()
        .find_map(|line| line.strip_prefix(key).and_then(|rest| rest.trim_start().strip_prefix('=')))
        .map(|value| value.trim().trim_matches('"'))
        .unwrap()
}

#[test]
fn every_case_gets_the_expected_verdict() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut cases: Vec<_> = std::fs::read_dir(&corpus).unwrap().map(|entry| entry.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 40, "the corpus needs at least 40 cases, has {}", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let description = std::fs::read_to_string(case.join("case.toml")).unwrap();
        let expected = field(&description, "expected");
        let applied: u64 = field(&description, "applied_through").parse().unwrap();
        let set = load_dir(&case.join("migrations")).unwrap();
        let options = LintOptions { applied_through: (applied > 0).then_some(applied) };
        let denied: Vec<String> =
            lint(&set, options).into_iter().filter(|f| f.severity == Severity::Deny).map(|f| f.rule).collect();
        let verdict = if denied.is_empty() { "safe" } else { "hazard" };
        if verdict != expected {
            wrong.push(format!(
                "{}: expected {expected}, got {verdict} {denied:?}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}
