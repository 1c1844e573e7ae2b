//! The I/O edge: the commits of a repository, from the `git` command (no libgit2: `git log`
//! with unit and record separators is all this needs).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::commit::Commit;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run `git`")]
    NotInstalled(#[source] std::io::Error),
    #[error("`{}` is not in a git repository", .0.display())]
    NotARepository(PathBuf),
    #[error("the repository has no commits yet")]
    NoCommits,
    #[error("commit `{0}` is not in this repository")]
    UnknownCommit(String),
    #[error("`git {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
}

/// Separates a commit's fields, and commits, in `git log`'s output: ASCII unit and record
/// separators, which commit messages do not contain.
const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

/// The commits after `since` up to `HEAD` (all of `HEAD`'s history when `since` is `None`),
/// newest first, merges left out. `since` is resolved first, so a commit this clone does not
/// have is [`GitError::UnknownCommit`] rather than a `git log` failure.
pub fn commits(dir: &Path, since: Option<&str>) -> Result<Vec<Commit>, GitError> {
    let head = resolve(dir, "HEAD").map_err(|error| match error {
        GitError::UnknownCommit(_) => GitError::NoCommits,
        other => other,
    })?;
    let range = match since {
        Some(since) => format!("{}..{head}", resolve(dir, since)?),
        None => head,
    };
    let format = format!("--format=%H{FIELD}%s{FIELD}%b{RECORD}");
    let output = git(dir, &["log", "--no-merges", "--no-color", &format, &range, "--"])?;
    Ok(output
        .split(RECORD)
        .filter_map(|record| {
            let mut fields = record.trim_start_matches('\n').splitn(3, FIELD);
            let hash = fields.next()?.trim();
            if hash.is_empty() {
                return None;
            }
            Some(Commit {
                hash: hash.to_owned(),
                subject: fields.next().unwrap_or_default().to_owned(),
                body: fields.next().unwrap_or_default().trim_end().to_owned(),
            })
        })
        .collect())
}

/// The full hash of `rev` (a hash, a prefix of one, a tag, a branch).
pub fn resolve(dir: &Path, rev: &str) -> Result<String, GitError> {
    if rev.starts_with('-') {
        return Err(GitError::UnknownCommit(rev.to_owned()));
    }
    match git(dir, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")]) {
        Ok(hash) => Ok(hash.trim().to_owned()),
        Err(GitError::Failed { .. }) => Err(GitError::UnknownCommit(rev.to_owned())),
        Err(other) => Err(other),
    }
}

/// The tag on `HEAD`, if exactly one names it (`git describe --tags --exact-match`).
pub fn tag_at_head(dir: &Path) -> Option<String> {
    git(dir, &["describe", "--tags", "--exact-match", "HEAD"]).ok().map(|tag| tag.trim().to_owned())
}

fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(GitError::NotInstalled)?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if stderr.contains("not a git repository") {
        return Err(GitError::NotARepository(dir.to_path_buf()));
    }
    Err(GitError::Failed { args: args.join(" "), stderr })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn commits_are_read_with_their_bodies_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        run(repo, &["init", "-q", "-b", "main"]);
        assert!(matches!(commits(repo, None), Err(GitError::NoCommits)));
        run(repo, &["commit", "-q", "--allow-empty", "-m", "chore: start"]);
        let first = resolve(repo, "HEAD").unwrap();
        run(repo, &["commit", "-q", "--allow-empty", "-m", "feat!: new API\n\nBREAKING CHANGE: v0 is gone\nfor good"]);
        run(repo, &["commit", "-q", "--allow-empty", "-m", "Subject with \u{1f}odd: chars"]);
        let found = commits(repo, Some(&first[..8])).unwrap();
        let subjects: Vec<&str> = found.iter().map(|commit| commit.subject.as_str()).collect();
        assert_eq!(subjects.len(), 2, "{found:?}");
        assert_eq!(found[1].subject, "feat!: new API");
        assert_eq!(found[1].body, "BREAKING CHANGE: v0 is gone\nfor good");
        assert_eq!(commits(repo, None).unwrap().len(), 3);
        assert!(matches!(commits(repo, Some("0123abc")), Err(GitError::UnknownCommit(rev)) if rev == "0123abc"));
        assert!(matches!(commits(repo, Some("--all")), Err(GitError::UnknownCommit(_))));
        assert_eq!(tag_at_head(repo), None);
        run(repo, &["tag", "v1.0.0"]);
        assert_eq!(tag_at_head(repo).as_deref(), Some("v1.0.0"));
        let elsewhere = tempfile::tempdir().unwrap();
        assert!(matches!(commits(elsewhere.path(), None), Err(GitError::NotARepository(_))));
    }
}
