//! The one harness for CLI tests: run the real `shipgate` binary in a folder, capture
//! what it prints, and make the output stable enough to snapshot.

#![allow(dead_code, clippy::unwrap_used)]

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
