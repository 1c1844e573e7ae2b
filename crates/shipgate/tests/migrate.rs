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

#[test]
fn apply_then_rehearse_through_the_binary() {
    let Some(db) = common::TestDb::create("migrate_cli") else { return };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &FILES[..2]);
    let url = db.url();

    let first = shipgate(dir.path(), &["migrate", "apply", "--database", &url]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    assert!(first.stdout.starts_with("applied expand/0001_users.up.sql in "), "{}", first.stdout);
    let again = shipgate(dir.path(), &["migrate", "apply", "--database", &url]);
    assert_eq!((again.code, again.stdout.as_str()), (0, "up to date: no pending migrations\n"));

    write(
        dir.path(),
        &[
            ("migrations/expand/0002_name.up.sql", "ALTER TABLE users ADD COLUMN name text;\n"),
            ("migrations/expand/0002_name.down.sql", "ALTER TABLE users DROP COLUMN name;\n"),
        ],
    );
    let rehearsal = shipgate(dir.path(), &["migrate", "rehearse", "--database", &url]);
    assert_eq!(rehearsal.code, 0, "{}", rehearsal.transcript());
    assert!(
        rehearsal.stdout.contains("down, then up again: expand/0002_name.up.sql")
            && rehearsal.stdout.contains("passed"),
        "{}",
        rehearsal.stdout
    );
    let evidence = std::fs::read_dir(dir.path().join(".shipgate/rehearsals")).unwrap().count();
    assert_eq!(evidence, 1);

    write(
        dir.path(),
        &[(
            "migrations/expand/0001_users.up.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY, email text, extra int);\n",
        )],
    );
    let edited = shipgate(dir.path(), &["migrate", "apply", "--database", &url]);
    assert_eq!(edited.code, 1, "{}", edited.transcript());
    assert!(
        edited.stderr.contains("was changed after it was applied")
            && edited.stderr.contains("hint: never edit an applied migration"),
        "{}",
        edited.stderr
    );
}

#[test]
fn apply_without_a_database_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &FILES[..2]);
    let run = shipgate(dir.path(), &["migrate", "apply"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn another_frameworks_command_applies_and_rehearses() {
    let Some(db) = common::TestDb::create("migrate_command") else { return };
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(common::fixtures().join("valid/minimal.toml")).unwrap();
    // A stand-in for `alembic upgrade head`: it migrates whatever `$DATABASE_URL` names.
    let command = r#"psql --quiet --no-psqlrc -v ON_ERROR_STOP=1 \"$DATABASE_URL\" -c 'CREATE TABLE IF NOT EXISTS framework_made (id int)'"#;
    std::fs::write(
        dir.path().join("shipgate.toml"),
        format!("{spec}\n[secrets]\nDATABASE_URL = {{}}\n\n[migrations]\ndatabase = \"DATABASE_URL\"\ncommand = \"{command}\"\n"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    let with_url = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .args(args)
            .current_dir(dir.path())
            .env("DATABASE_URL", db.url())
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = with_url(&["migrate", "rehearse"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("passed"), "{stdout}");
    let (code, stdout, stderr) = with_url(&["migrate", "apply"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("applied with `psql"), "{stdout}");
}
