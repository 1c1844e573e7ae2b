//! `shipgate init`.

#![allow(clippy::unwrap_used)]

mod common;

use common::shipgate;

#[test]
fn init_writes_a_file_that_validates_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("hello-svc");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("Cargo.toml"), "[package]\nname = \"hello-svc\"\nversion = \"0.1.0\"\n").unwrap();

    let first = shipgate(&project, &["init"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    insta::assert_snapshot!(first.transcript());
    let written = std::fs::read_to_string(project.join("shipgate.toml")).unwrap();
    assert!(written.contains("build = [\"cargo build --release --locked\"]"));
    assert!(written.contains("path = \"target/release/hello-svc\""));

    let validate = shipgate(&project, &["validate"]);
    assert_eq!(validate.code, 0, "{}", validate.transcript());

    std::fs::write(project.join("shipgate.toml"), "# mine\n").unwrap();
    let again = shipgate(&project, &["init"]);
    assert_eq!(again.code, 2);
    insta::assert_snapshot!(again.transcript());
    assert_eq!(std::fs::read_to_string(project.join("shipgate.toml")).unwrap(), "# mine\n", "must not clobber");

    let forced = shipgate(&project, &["init", "--force"]);
    assert_eq!(forced.code, 0);
    assert_eq!(std::fs::read_to_string(project.join("shipgate.toml")).unwrap(), written);
}
