//! The labelled accuracy corpus as a regression test: every labelled secret is found, and
//! nothing else is. `bench/scan-accuracy.sh` scores the peers on the same files.

use std::path::Path;

use shipgate_scan::{Config, DirOptions, Scanner};

#[test]
fn the_corpus_is_found_exactly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets");
    let labels = std::fs::read_to_string(root.join("labels.tsv")).expect("labels.tsv; regenerate the corpus");
    let labels: Vec<(String, u64, u64, String)> = labels
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let number = |index: usize| fields.get(index).and_then(|text| text.parse().ok()).expect("a line number");
            (fields[0].to_owned(), number(1), number(2), fields.get(3).copied().unwrap_or("").to_owned())
        })
        .collect();
    assert!(labels.len() > 250, "{} labels", labels.len());

    let scanner = Scanner::new(&Config::default()).expect("rules compile");
    let report = scanner.scan_dir(&root, &DirOptions { include_ignored: true, threads: 0 }).expect("scan");
    let covers = |label: &(String, u64, u64, String), path: &str, line: u64| {
        label.0 == path && (label.1..=label.2).contains(&line)
    };
    let false_positives: Vec<String> = report
        .findings
        .iter()
        .filter(|finding| !labels.iter().any(|label| covers(label, &finding.location.path, finding.location.line)))
        .map(|finding| format!("{} {}", finding.location, finding.rule))
        .collect();
    let missed: Vec<String> = labels
        .iter()
        .filter(|label| {
            !report.findings.iter().any(|finding| covers(label, &finding.location.path, finding.location.line))
        })
        .map(|(path, first, _, rule)| format!("{path}:{first} {rule}"))
        .collect();
    assert!(
        false_positives.is_empty() && missed.is_empty(),
        "false positives: {false_positives:#?}\nmissed: {missed:#?}"
    );
}
