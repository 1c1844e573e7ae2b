//! `shipgate migrate lint` through the real binary.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::shipgate;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

const FILES: &[(&str, &str)] = &[
    ("migrations/expand/0001_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"),
    ("migrations/expand/0001_users.down.sql", "DROP TABLE users;\n"),
    (
        "migrations/expand/0002_name.up.sql",
        "-- a display name\nALTER TABLE users ADD COLUMN name text NOT NULL;\nALTER TABLE users DROP COLUMN email;\n",
    ),
    ("migrations/contract/0003_drop_email.up.sql", "ALTER TABLE users DROP COLUMN email;\n"),
];

#[test]
fn lint_reports_findings_in_every_format_and_exits_1_on_deny() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), FILES);

    let human = shipgate(dir.path(), &["migrate", "lint", "--applied-through", "1"]);
    assert_eq!(human.code, 1);
    insta::assert_snapshot!(human.transcript());

    let json = shipgate(dir.path(), &["migrate", "lint", "--applied-through", "1", "--format", "json"]);
    let findings: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let rules: Vec<&str> = findings.as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, vec!["squawk/adding-required-field", "destructive-in-expand", "missing-down-migration"]);

    let sarif = shipgate(dir.path(), &["migrate", "lint", "--applied-through", "1", "--format", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 3);
    assert_eq!(sarif["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"], 3);
}

#[test]
fn lint_uses_the_folder_named_in_shipgate_toml() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("db/expand/0001_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY);\n"),
            ("db/expand/0001_users.down.sql", "DROP TABLE users;\n"),
        ],
    );
    let spec = std::fs::read_to_string(common::fixtures().join("valid/minimal.toml")).unwrap();
    std::fs::write(
        dir.path().join("shipgate.toml"),
        format!("{spec}\n[secrets]\nDATABASE_URL = {{}}\n\n[migrations]\ndir = \"db\"\ndatabase = \"DATABASE_URL\"\n"),
    )
    .unwrap();
    let run = shipgate(dir.path(), &["migrate", "lint"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stderr.contains("ok: no findings"), "{}", run.stderr);
}

#[test]
fn bad_layout_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("migrations/expand/first.sql", "SELECT 1;\n"), ("migrations/0002_x.up.sql", "SELECT 1;\n")]);
    let run = shipgate(dir.path(), &["migrate", "lint"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn a_single_file_under_contract_is_judged_as_contract() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("contract/0009_drop.up.sql", "ALTER TABLE users DROP COLUMN email;\n"),
            ("other/0009_drop.up.sql", "ALTER TABLE users DROP COLUMN email;\n"),
        ],
    );
    assert_eq!(shipgate(dir.path(), &["migrate", "lint", "contract/0009_drop.up.sql"]).code, 0);
    let expand = shipgate(dir.path(), &["migrate", "lint", "other/0009_drop.up.sql"]);
    assert_eq!(expand.code, 1);
    assert!(expand.stderr.contains("other/0009_drop.up.sql:1:19"), "{}", expand.stderr);
}
