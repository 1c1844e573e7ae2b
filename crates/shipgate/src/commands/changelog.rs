//! `shipgate changelog [ENV]`: the change log entry of the next release, from the commits
//! since the one an environment runs (or `--since COMMIT`); printed, or written into a
//! `CHANGELOG.md`. Grouping and Markdown are `shipgate-changelog`'s; this is the glue.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use serde::Deserialize;
use shipgate_changelog::git::{self, GitError};
use shipgate_changelog::{Entry, insert};

use super::show::printable;
use crate::client::{Client, ConnectArgs, EnvironmentStatus, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct ChangelogArgs {
    /// The environment whose running release the entry starts after.
    #[arg(default_value = "production")]
    pub env: String,

    /// Start after this commit (hash, tag or branch) instead of asking the server which
    /// release ENV runs and which commit it was built from.
    #[arg(long, value_name = "COMMIT")]
    pub since: Option<String>,

    /// The entry's title. Default: the tag on HEAD, else `Unreleased`.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,

    /// The date shown after the title (YYYY-MM-DD). Default: today, in UTC.
    #[arg(long, value_name = "DATE")]
    pub date: Option<jiff::civil::Date>,

    /// Update this Markdown file instead of printing the entry: the entry goes first, below
    /// the title (`# Changelog` in a new file); an entry of the same version is replaced, so
    /// writing it again changes nothing.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// The part of `GET /api/v1/releases/{version}` this command reads.
#[derive(Debug, Deserialize)]
struct ReleaseView {
    source_commit: Option<String>,
}

pub fn run(args: &ChangelogArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let dir =
        std::env::current_dir().map_err(|error| Failure::internal(anyhow!(error).context("no current folder")))?;
    let (since, origin) = match &args.since {
        Some(commit) => (Some(commit.clone()), format!("`{}`", printable(commit))),
        None => running_commit(args)?,
    };
    let commits = git::commits(&dir, since.as_deref()).map_err(|error| git_failure(error, &origin))?;
    if commits.is_empty() {
        return Err(Failure {
            status: ExitStatus::Refused,
            error: anyhow!("no commits since {origin}: nothing to release"),
            hint: None,
        }
        .hint("commit the changes first, or pass `--since` an older commit"));
    }
    let version = args.version.clone().or_else(|| git::tag_at_head(&dir)).unwrap_or_else(|| "Unreleased".to_owned());
    let date = args.date.unwrap_or_else(|| jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now()).date());
    let entry = Entry::new(&version, Some(&date.to_string()), &commits);
    let count = match commits.len() {
        1 => "1 commit".to_owned(),
        n => format!("{n} commits"),
    };
    out.message(&format!("{count} since {origin}\n"));
    match &args.write {
        None => out.data(&entry.render())?,
        Some(path) => {
            let changed = write(path, &entry)?;
            let what = if changed { "updated" } else { "already up to date:" };
            out.message(&format!("{what} `{}` (entry `{}`)\n", path.display(), printable(&version)));
        }
    }
    Ok(ExitStatus::Success)
}

/// The commit the release running in `args.env` was built from, and how to name it in
/// messages; `None` when the environment runs nothing yet (the whole history is new).
fn running_commit(args: &ChangelogArgs) -> Result<(Option<String>, String), Failure> {
    running_commit_in(&Client::new(&args.connect)?, &args.env)
}

/// [`running_commit`] for environment `name`, with a client at hand (`shipgate pipeline run`).
pub(crate) fn running_commit_in(client: &Client, name: &str) -> Result<(Option<String>, String), Failure> {
    let env = printable(name);
    let status: EnvironmentStatus = client.get(&format!("/environments/{}", segment(name)), &[])?;
    let Some(active) = status.active else {
        return Ok((None, format!("the first commit (`{env}` runs no release yet)")));
    };
    let release: ReleaseView = client.get(&format!("/releases/{}", segment(&active.version)), &[])?;
    let version = printable(&active.version);
    match release.source_commit {
        Some(commit) => {
            let short: String = commit.chars().take(12).collect();
            Ok((Some(commit), format!("`{short}` (release {version}, which `{env}` runs)")))
        }
        None => Err(Failure::usage(anyhow!("release `{version}`, which `{env}` runs, has no source commit recorded"))
            .hint("pass `--since COMMIT` with the commit it was built from")),
    }
}

fn git_failure(error: GitError, origin: &str) -> Failure {
    match error {
        GitError::NotInstalled(_) => Failure::usage(error).hint("install git, or put it on the PATH"),
        GitError::NotARepository(_) => {
            Failure::usage(error).hint("run `shipgate changelog` in the app's git repository (where its shipgate.toml is)")
        }
        GitError::NoCommits => {
            Failure { status: ExitStatus::Refused, error: anyhow!(error).context("nothing to release"), hint: None }
                .hint("commit the changes first")
        }
        GitError::UnknownCommit(_) => Failure::usage(anyhow!(error).context(format!("cannot list the commits since {origin}")))
            .hint("fetch it (`git fetch`, or `git fetch --unshallow` in a shallow clone), or pass `--since` a commit this clone has"),
        GitError::Failed { .. } => Failure::internal(error),
    }
}

/// Puts `entry` into the file at `path` (created when missing); false when it was already there
/// as it is. Written to a temporary file beside it and renamed, so a failure leaves the old file.
fn write(path: &Path, entry: &Entry) -> Result<bool, Failure> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => {
            return Err(Failure::usage(anyhow!(error).context(format!("cannot read `{}`", path.display()))));
        }
    };
    let updated = insert(&existing, entry);
    if updated == existing {
        return Ok(false);
    }
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.shipgate-tmp"));
    std::fs::write(&temporary, &updated)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|error| Failure::usage(anyhow!(error).context(format!("cannot write `{}`", path.display()))))?;
    Ok(true)
}
