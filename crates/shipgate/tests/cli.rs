//! The command line as a whole: help, usage errors, exit codes, the schema.

#![allow(clippy::unwrap_used)]

mod common;

use common::shipgate;

#[test]
fn help_lists_the_commands_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let run = shipgate(dir.path(), &["--help"]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn unknown_command_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = shipgate(dir.path(), &["deplyo"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unrecognized subcommand"), "{}", run.stderr);
}

#[test]
fn schema_matches_the_checked_in_copy() {
    let dir = tempfile::tempdir().unwrap();
    let run = shipgate(dir.path(), &["schema"]);
    assert_eq!(run.code, 0);
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema/shipgate.schema.json"))
        .unwrap_or_default();
    assert!(
        run.stdout == checked_in,
        "schema/shipgate.schema.json is stale; regenerate it with `cargo run -q -p shipgate -- schema > schema/shipgate.schema.json`"
    );
}

#[test]
fn the_example_in_the_quick_start_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run = shipgate(&root, &["validate", "--file", "examples/hello/shipgate.toml"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
}
