//! The one harness for CLI tests: run the real `shipgate` binary in a folder, capture
//! what it prints, and make the output stable enough to snapshot.

#![allow(dead_code, clippy::unwrap_used)]

pub mod cluster;
pub mod load;

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a run of the binary left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit status and both streams, as one text to snapshot.
    pub fn transcript(&self) -> String {
        format!("exit: {}\n----- stdout -----\n{}----- stderr -----\n{}", self.code, self.stdout, self.stderr)
    }
}

/// `shipgate ARGS` run in `dir`, with a clean environment: no colour, no inherited
/// `SHIPGATE_*` settings.
pub fn shipgate(dir: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate"));
    command.args(args).current_dir(dir).env("NO_COLOR", "1");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SHIPGATE_") {
            command.env_remove(name);
        }
    }
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The folder holding `valid/` and `invalid/` spec fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A PostgreSQL database of its own for one test, dropped at the end. `None` (after a loud
/// message) when no server is reachable, unless `SHIPGATE_REQUIRE_ALL=1`, which fails instead.
pub struct TestDb {
    admin_url: String,
    pub name: String,
}

impl TestDb {
    pub fn create(test: &str) -> Option<TestDb> {
        let admin_url = std::env::var("SHIPGATE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let run = |sql: &str| {
            Command::new("psql")
                .args(["--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", &admin_url, "-c", sql])
                .output()
        };
        let name = format!("shipgate_cli_{test}_{}", std::process::id());
        match run(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")) {
            Ok(output) if output.status.success() => {}
            outcome => {
                let why = match outcome {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
                    Err(error) => format!("cannot run psql: {error}"),
                };
                assert!(
                    std::env::var("SHIPGATE_REQUIRE_ALL").as_deref() != Ok("1"),
                    "PostgreSQL is required (SHIPGATE_REQUIRE_ALL=1) but not reachable at {admin_url}: {why}"
                );
                eprintln!("SKIPPED {test}: PostgreSQL not reachable at {admin_url}: {why}");
                return None;
            }
        }
        assert!(run(&format!("CREATE DATABASE {name}")).unwrap().status.success());
        Some(TestDb { admin_url, name })
    }

    pub fn url(&self) -> String {
        let base = self.admin_url.rsplit_once('/').map_or(self.admin_url.as_str(), |(base, _)| base);
        format!("{base}/{}", self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = Command::new("psql").args(["--quiet", "--no-psqlrc", &self.admin_url, "-c", &sql]).output();
    }
}
