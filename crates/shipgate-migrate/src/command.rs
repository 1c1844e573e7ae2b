//! Migrations run by another framework's command (`[migrations] command = "alembic upgrade
//! head"`, Flyway, sqlx, …): shipgate runs it as the expand step, and its rehearsal runs the same
//! command against the scratch copy. shipgate cannot see inside such a command, so the evidence
//! is its exit status, duration and output, not per-statement locks.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

/// What one run of the command did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommandRun {
    pub command: String,
    pub success: bool,
    pub duration_ms: u64,
    /// The last lines of its combined output.
    pub output_tail: String,
}

/// Runs `command` with `sh -c` in `workdir`, with the database URL in `$url_variable`.
pub fn run(command: &str, workdir: &Path, url_variable: &str, url: &str) -> Result<CommandRun, String> {
    let started = Instant::now();
    let output = Command::new("sh")
        .args(["-c", command])
        .current_dir(workdir)
        .env(url_variable, url)
        .output()
        .map_err(|error| format!("cannot run `sh -c {command}`: {error}"))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = text.lines().collect();
    Ok(CommandRun {
        command: command.to_owned(),
        success: output.status.success(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        output_tail: lines[lines.len().saturating_sub(20)..].join("\n"),
    })
}

/// A digest of every file under `dir` (paths and contents) and the command: the key of the
/// rehearsal evidence when another framework owns the migration files.
pub fn digest(dir: &Path, command: &str) -> String {
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(command.as_bytes());
    for (relative, contents) in files {
        hasher.update([0]);
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update(&contents);
    }
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(contents) = std::fs::read(&path) {
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            files.push((relative, contents));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_with_the_url_in_the_named_variable() {
        let dir = std::env::temp_dir();
        let run = run("echo \"url=$DB_URL\"; exit 3", &dir, "DB_URL", "postgres://x/y").unwrap();
        assert!(!run.success);
        assert_eq!(run.output_tail, "url=postgres://x/y");
    }

    #[test]
    fn digest_covers_files_and_command() {
        let dir = tempdir();
        std::fs::write(dir.join("a.py"), "one").unwrap();
        let first = digest(&dir, "alembic upgrade head");
        assert_eq!(first, digest(&dir, "alembic upgrade head"));
        assert_ne!(first, digest(&dir, "alembic upgrade +1"));
        std::fs::write(dir.join("a.py"), "two").unwrap();
        assert_ne!(first, digest(&dir, "alembic upgrade head"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("shipgate-migrate-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
