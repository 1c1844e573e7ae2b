//! `shipgate release` through the real binary: content-addressed, immutable, in the ledger.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::shipgate;

fn project(dir: &Path) {
    let spec = std::fs::read_to_string(common::fixtures().join("valid/minimal.toml")).unwrap();
    std::fs::write(dir.join("shipgate.toml"), spec.replace("target/release/hello", "dist")).unwrap();
    std::fs::create_dir(dir.join("dist")).unwrap();
    std::fs::write(dir.join("dist/hello"), "#!/bin/sh\necho hello\n").unwrap();
}

#[test]
fn releases_are_stored_by_digest_immutable_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();

    let first =
        shipgate(dir.path(), &["release", "--data-dir", data, "create", "--version", "1.0.0", "--commit", "abc123"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    let digest = first.stdout.split(['(', ',']).nth(1).unwrap().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{}", first.stdout);
    let stored = Path::new(data).join("artifacts/sha256").join(digest.trim_start_matches("sha256:"));
    assert_eq!(
        std::fs::read_to_string(stored.join("hello")).unwrap(),
        "#!/bin/sh\necho hello\n",
        "run from the stored copy"
    );

    let again =
        shipgate(dir.path(), &["release", "--data-dir", data, "create", "--version", "1.0.0", "--commit", "abc123"]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);

    std::fs::write(dir.path().join("dist/hello"), "#!/bin/sh\necho changed\n").unwrap();
    let moved = shipgate(dir.path(), &["release", "--data-dir", data, "create", "--version", "1.0.0"]);
    assert_eq!(moved.code, 1, "{}", moved.transcript());
    assert!(
        moved.stderr.contains("already exists with another artifact") && moved.stderr.contains("labels are immutable")
    );
    assert_eq!(shipgate(dir.path(), &["release", "--data-dir", data, "create", "--version", "1.0.1"]).code, 0);

    let list = shipgate(dir.path(), &["release", "--data-dir", data, "list"]);
    let versions: Vec<&str> = list.stdout.lines().map(|line| line.split_whitespace().next().unwrap()).collect();
    assert_eq!(versions, ["1.0.0", "1.0.1"]);
    let show = shipgate(dir.path(), &["release", "--data-dir", data, "show", "1.0.0"]);
    assert!(
        show.stdout.contains("source commit: abc123") && show.stdout.contains("--- shipgate.toml\n[app]"),
        "{}",
        show.stdout
    );

    let log = shipgate(dir.path(), &["audit", "--data-dir", data, "log", "--action", "release.*", "--format", "json"]);
    let entries: serde_json::Value = serde_json::from_str(&log.stdout).unwrap();
    assert_eq!(
        entries.as_array().unwrap().len(),
        2,
        "one entry per created release, none for the no-op or the refusal"
    );
    assert_eq!(shipgate(dir.path(), &["audit", "--data-dir", data, "verify"]).code, 0);
}

#[test]
fn mutable_or_malformed_labels_and_missing_artifacts_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    for (version, why) in [("latest", "moving target"), ("1.0 beta", "not a valid version label")] {
        let run = shipgate(dir.path(), &["release", "--data-dir", "data", "create", "--version", version]);
        assert_eq!(run.code, 2, "{version}");
        assert!(run.stderr.contains(why), "{}", run.stderr);
    }
    let run =
        shipgate(dir.path(), &["release", "--data-dir", "data", "create", "--version", "1", "--artifact", "nope"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot store the artifact `nope`") && run.stderr.contains("hint:"), "{}", run.stderr);
}
