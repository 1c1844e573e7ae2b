//! `shipgate validate` on the fixture corpus, and on inputs too odd for fixture files.

#![allow(clippy::unwrap_used)]

mod common;

use common::{fixtures, shipgate};

/// Every invalid fixture exits 2 and its human diagnostics match the snapshot.
#[test]
fn invalid_fixtures_report_every_problem() {
    insta::glob!("fixtures/invalid/*.toml", |path| {
        let relative = format!("invalid/{}", path.file_name().unwrap().to_string_lossy());
        let run = shipgate(&fixtures(), &["validate", "--file", &relative]);
        assert_eq!(run.code, 2, "{relative} should be refused:\n{}", run.transcript());
        assert!(run.stderr.contains("hint:") || run.stderr.contains("= hint"), "{relative} has no hint");
        insta::assert_snapshot!(run.transcript());
    });
}

#[test]
fn valid_fixtures_pass() {
    let mut count = 0;
    for entry in std::fs::read_dir(fixtures().join("valid")).unwrap() {
        let path = entry.unwrap().path();
        let relative = format!("valid/{}", path.file_name().unwrap().to_string_lossy());
        let run = shipgate(&fixtures(), &["validate", "--file", &relative]);
        assert_eq!(run.code, 0, "{relative}:\n{}", run.transcript());
        assert!(run.stdout.contains("is valid"), "{}", run.stdout);
        count += 1;
    }
    assert!(count >= 4, "expected the valid fixtures, found {count}");
}

#[test]
fn json_output_locates_each_problem() {
    let run = shipgate(&fixtures(), &["validate", "--file", "invalid/many-errors-at-once.toml", "--format", "json"]);
    assert_eq!(run.code, 2);
    let diagnostics: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    insta::assert_json_snapshot!(diagnostics);
}

#[test]
fn json_output_of_a_valid_file_is_an_empty_array() {
    let run = shipgate(&fixtures(), &["validate", "--file", "valid/full.toml", "--format", "json"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "[]\n"));
}

#[test]
fn missing_file_is_a_usage_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let run = shipgate(dir.path(), &["validate"]);
    insta::assert_snapshot!(run.transcript().replace(&dir.path().display().to_string(), "[TEMP]"));
}

#[test]
fn file_from_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures().join("valid/minimal.toml"), dir.path().join("other.toml")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .arg("validate")
        .current_dir(dir.path())
        .env("SHIPGATE_FILE", "other.toml")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Writes `bytes` to a spec file in a temp dir and validates it.
fn validate_bytes(bytes: &[u8]) -> common::Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shipgate.toml"), bytes).unwrap();
    shipgate(dir.path(), &["validate"])
}

#[test]
fn non_utf8_input_is_located() {
    let run = validate_bytes(b"[app]\nname = \"h\xffllo\"\n");
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn ten_megabyte_file_is_refused_without_reading_it_all() {
    let run = validate_bytes(&vec![b'#'; 10 * 1024 * 1024]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("more than the 1048576 bytes"), "{}", run.stderr);
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let depth = 10_000;
    for text in [
        format!("x = {}{}\n", "[".repeat(depth), "]".repeat(depth)),
        format!("x = {}{}\n", "{ a = ".repeat(depth), "}".repeat(depth)),
        format!("{} = 1\n", vec!["a"; depth].join(".")),
    ] {
        let run = validate_bytes(text.as_bytes());
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert!(run.stderr.contains("error["), "{}", run.stderr);
    }
}

#[test]
fn color_is_used_only_when_asked() {
    let dir = fixtures();
    let plain = shipgate(&dir, &["validate", "--file", "invalid/duplicate-key.toml"]);
    assert!(!plain.stderr.contains('\x1b'));
    let colored = shipgate(&dir, &["--color", "always", "validate", "--file", "invalid/duplicate-key.toml"]);
    assert!(colored.stderr.contains('\x1b'));
}
