//! Every rule fires on each of its `matches` cases and stays quiet on each of its `quiet`
//! cases, through the whole scanner (keyword prefilter, windows, filters, overlaps).

use shipgate_scan::rules::{self, Scope, expand};
use shipgate_scan::{Config, Scanner};

fn scanner() -> Scanner {
    Scanner::new(&Config::default()).expect("the built-in rules compile")
}

fn path_for(scope: Scope) -> &'static str {
    match scope {
        Scope::Any => "config/settings.txt",
        Scope::EnvFiles => "deploy/.env",
    }
}

#[test]
fn there_are_at_least_120_rules_with_unique_kebab_case_ids() {
    let ids: Vec<&str> = rules::all().map(|rule| rule.id).collect();
    assert!(ids.len() >= 120, "only {} rules", ids.len());
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "duplicate rule ids");
    for rule in rules::all() {
        assert!(
            rule.id.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-'),
            "{} is not kebab-case",
            rule.id
        );
        assert!(!rule.description.is_empty(), "{} has no description", rule.id);
        assert!(!rule.matches.is_empty(), "{} has no firing case", rule.id);
        assert!(!rule.quiet.is_empty(), "{} has no quiet case", rule.id);
        assert!(rule.scope != Scope::Any || !rule.keywords.is_empty(), "{} needs keywords", rule.id);
    }
}

#[test]
fn every_rule_fires_on_its_cases_and_stays_quiet_on_its_decoys() {
    let scanner = scanner();
    let mut failures = Vec::new();
    for seed in 0..4 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut next = |bound: usize| rng.usize(..bound);
        for rule in rules::all() {
            let path = path_for(rule.scope);
            for template in rule.matches {
                let text = expand(template, &mut next);
                let findings = scanner.scan_bytes(path, text.as_bytes());
                if !findings.iter().any(|finding| finding.rule == rule.id) {
                    let found: Vec<&str> = findings.iter().map(|finding| finding.rule).collect();
                    failures.push(format!("{} did not fire (seed {seed}) on {text:?}; found {found:?}", rule.id));
                }
            }
            for template in rule.quiet {
                let text = expand(template, &mut next);
                let findings = scanner.scan_bytes(path, text.as_bytes());
                if findings.iter().any(|finding| finding.rule == rule.id) {
                    failures.push(format!("{} fired (seed {seed}) on its decoy {text:?}", rule.id));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn an_inline_allow_comment_silences_its_line_only() {
    let scanner = scanner();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut next = |bound: usize| rng.usize(..bound);
    let token = expand("ghp_%{A:36}", &mut next);
    let text = format!("a = \"{token}\"  # shipgate:allow test fixture\nb = \"{token}\"\n");
    let findings = scanner.scan_bytes("x.py", text.as_bytes());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].location.line, 2);
}

#[test]
fn findings_report_line_and_column() {
    let scanner = scanner();
    let mut rng = fastrand::Rng::with_seed(8);
    let mut next = |bound: usize| rng.usize(..bound);
    let token = expand("glpat-%{u:20}", &mut next);
    let text = format!("one\ntwo\n  token: {token}\n");
    let findings = scanner.scan_bytes("ci.yml", text.as_bytes());
    assert_eq!(findings.len(), 1);
    assert_eq!((findings[0].location.line, findings[0].location.column), (3, 10));
    assert_eq!(findings[0].redacted, "glpa********");
}
