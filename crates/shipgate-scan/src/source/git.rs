//! Git: the history (`git log -p`, streamed, every added line of every commit) and the
//! tree of one commit (`git archive`, streamed as a tar).
//!
//! Shelling out to `git` keeps exact git semantics (refs, packs, renames, `.mailmap`
//! aside) for free and streams: the history of a large repository never sits in memory.
//! One thread parses the log; the others scan each file change as it arrives.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use crossbeam_channel::bounded;

use super::{FileContext, Origin, findings_mapped};
use crate::finding::Commit;
use crate::{Error, Report, Scanner, is_env_file};

/// A file change flushes to a worker once its added lines exceed this size; the last
/// `super::OVERLAP` bytes are carried into the next part so matches are not cut.
const PART: usize = super::CHUNK;

/// The added lines of one file in one commit (or part of them).
struct Change {
    commit: Arc<Commit>,
    path: Arc<str>,
    text: Vec<u8>,
    /// The file line of each line of `text`.
    lines: Vec<u64>,
    /// Findings starting at or after this offset are left to the next part, which holds
    /// those bytes again with what follows them.
    limit: Option<usize>,
    /// A later part of a change already counted.
    continued: bool,
}

const RECORD: u8 = 0x1e;
const FIELD: char = '\u{1f}';

fn git(repo: &Path) -> Command {
    let mut command = Command::new("git");
    command.arg("-C").arg(repo).args(["-c", "core.quotePath=off", "-c", "diff.noprefix=false"]);
    command
}

fn spawn(mut command: Command) -> Result<Child, Error> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(Error::GitNotFound)
}

fn finish(mut child: Child, repo: &Path, what: &str) -> Result<(), Error> {
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(Error::GitNotFound)?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Git { command: what.to_owned(), repo: repo.to_owned(), stderr: stderr.trim().to_owned() })
    }
}

pub(crate) fn scan_history(scanner: &Scanner, repo: &Path, refs: &[String]) -> Result<Report, Error> {
    let mut command = git(repo);
    command.args([
        "log",
        "-p",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--full-history",
        "--format=%x1e%H%x1f%an%x1f%ae%x1f%aI",
    ]);
    if refs.is_empty() {
        command.arg("--all");
    } else {
        command.args(refs);
    }
    command.arg("--");
    let mut child = spawn(command)?;
    let Some(stdout) = child.stdout.take() else {
        return Err(Error::Git { command: "log".into(), repo: repo.to_owned(), stderr: "no output".into() });
    };
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let (sender, receiver) = bounded::<Change>(threads * 4);
    let mut report = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let receiver = receiver.clone();
                scope.spawn(move || {
                    let mut report = Report::default();
                    for change in receiver {
                        scan_change(scanner, &change, &mut report);
                    }
                    report
                })
            })
            .collect();
        drop(receiver);
        let mut report = Report::default();
        let parsed = parse_log(BufReader::with_capacity(256 * 1024, stdout), scanner, &mut |change| {
            // A closed channel means every worker is gone; nothing more can be done.
            let _ = sender.send(change);
        });
        drop(sender);
        match parsed {
            Ok(commits) => report.stats.commits = commits,
            Err(error) => report.warnings.push(format!("reading `git log` failed: {error}")),
        }
        for worker in workers {
            match worker.join() {
                Ok(part) => report.merge(part),
                Err(_) => report.warnings.push("a scanning thread panicked".to_owned()),
            }
        }
        report
    });
    finish(child, repo, "log")?;
    report.sort();
    Ok(report)
}

fn scan_change(scanner: &Scanner, change: &Change, report: &mut Report) {
    let context = FileContext {
        container: &[],
        path: &change.path,
        commit: Some(&change.commit),
        env_file: is_env_file(&change.path),
    };
    let line_of = |line: u64| {
        usize::try_from(line).ok().and_then(|line| change.lines.get(line.wrapping_sub(1))).copied().unwrap_or(line)
    };
    let limit = change.limit.unwrap_or(change.text.len());
    findings_mapped(scanner, &change.text, &context, Origin::START, limit, &line_of, &mut report.findings);
    report.stats.files += u64::from(!change.continued);
    report.stats.bytes += limit as u64;
}

/// Parses `git log -p -U0` output, calling `emit` for each file change with added lines.
/// Returns the number of commits.
fn parse_log(mut reader: impl BufRead, scanner: &Scanner, emit: &mut dyn FnMut(Change)) -> std::io::Result<u64> {
    let mut commits = 0;
    let mut commit: Option<Arc<Commit>> = None;
    let mut current: Option<Change> = None;
    let mut in_header = false;
    let mut next_line: u64 = 0;
    let mut line = Vec::with_capacity(4096);
    let flush = |current: &mut Option<Change>, emit: &mut dyn FnMut(Change)| {
        if let Some(change) = current.take().filter(|change| !change.text.is_empty()) {
            emit(change);
        }
    };
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        if content.first() == Some(&RECORD) {
            flush(&mut current, emit);
            commits += 1;
            let header = String::from_utf8_lossy(&content[1..]);
            let mut fields = header.split(FIELD).map(str::to_owned);
            commit = Some(Arc::new(Commit {
                id: fields.next().unwrap_or_default(),
                author: fields.next().unwrap_or_default(),
                email: fields.next().unwrap_or_default(),
                date: fields.next().unwrap_or_default(),
            }));
            in_header = false;
            continue;
        }
        if content.starts_with(b"diff --git ") {
            flush(&mut current, emit);
            in_header = true;
            continue;
        }
        if in_header {
            if let Some(path) = content.strip_prefix(b"+++ ") {
                let path = String::from_utf8_lossy(path);
                let path = path.strip_prefix("b/").unwrap_or(&path);
                let path = unquote(path);
                // Deleted files and allowed paths add nothing to scan.
                let wanted = path != "/dev/null" && !scanner.is_allowed_path(&path);
                if let Some(commit) = commit.as_ref().filter(|_| wanted) {
                    current = Some(Change {
                        commit: Arc::clone(commit),
                        path: Arc::from(path.as_str()),
                        text: Vec::new(),
                        lines: Vec::new(),
                        limit: None,
                        continued: false,
                    });
                }
            } else if content.starts_with(b"@@") {
                in_header = false;
                next_line = hunk_start(content);
            }
            continue;
        }
        if content.starts_with(b"@@") {
            next_line = hunk_start(content);
            continue;
        }
        match content.first() {
            Some(b'+') => {
                if let Some(change) = current.as_mut() {
                    change.text.extend_from_slice(&content[1..]);
                    change.text.push(b'\n');
                    change.lines.push(next_line);
                    if change.text.len() > PART {
                        let carried = carry_over(change);
                        if let Some(full) = current.replace(carried) {
                            emit(full);
                        }
                    }
                }
                next_line += 1;
            }
            Some(b' ') => next_line += 1,
            _ => {}
        }
    }
    flush(&mut current, emit);
    Ok(commits)
}

/// Ends this part of a large change where its last `OVERLAP` bytes begin (at a line
/// start), and starts the next part with those lines, so that no match is cut in two.
fn carry_over(change: &mut Change) -> Change {
    let mut start = change.text.len().saturating_sub(super::OVERLAP);
    while start > 0 && change.text[start - 1] != b'\n' {
        start -= 1;
    }
    change.limit = Some(start);
    let lines_before = change.text[..start].iter().filter(|byte| **byte == b'\n').count();
    Change {
        commit: Arc::clone(&change.commit),
        path: Arc::clone(&change.path),
        text: change.text[start..].to_vec(),
        lines: change.lines[lines_before..].to_vec(),
        limit: None,
        continued: true,
    }
}

/// The first new-file line of a hunk: `@@ -12,3 +14,5 @@` gives 14.
fn hunk_start(header: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(header);
    text.split_whitespace()
        .find_map(|part| part.strip_prefix('+'))
        .and_then(|range| range.split(',').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(1)
}

/// Undoes git's quoting of unusual paths (`"a\tb"`), for the common escapes.
fn unquote(path: &str) -> String {
    let Some(inner) = path.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) else {
        return path.to_owned();
    };
    let inner = inner.strip_prefix("b/").unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

pub(crate) fn scan_tree(scanner: &Scanner, repo: &Path, revision: &str) -> Result<Report, Error> {
    let mut command = git(repo);
    command.args(["archive", "--format=tar", revision]);
    let mut child = spawn(command)?;
    let Some(stdout) = child.stdout.take() else {
        return Err(Error::Git { command: "archive".into(), repo: repo.to_owned(), stderr: "no output".into() });
    };
    let label = format!("commit {}", revision);
    let result = super::archive::scan_reader(scanner, Box::new(stdout), &label, false);
    // Let git finish (or fail) before judging the stream: a bad revision shows as git's error.
    finish(child, repo, "archive")?;
    let mut report = result?;
    report.sort();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunk_headers_give_the_first_new_line() {
        assert_eq!(hunk_start(b"@@ -12,3 +14,5 @@ fn main()"), 14);
        assert_eq!(hunk_start(b"@@ -0,0 +1 @@"), 1);
        assert_eq!(hunk_start(b"@@ garbage"), 1);
    }

    #[test]
    fn quoted_paths_are_unquoted() {
        assert_eq!(unquote("plain/path"), "plain/path");
        assert_eq!(unquote("\"b/a\\tb\""), "a\tb");
    }

    #[test]
    fn log_parsing_attributes_added_lines_to_commits_and_lines() {
        let scanner = match Scanner::new(&crate::Config::default()) {
            Ok(scanner) => scanner,
            Err(error) => panic!("{error}"),
        };
        let log = b"\x1eabc123\x1fAda\x1fada@example.org\x1f2026-01-01T00:00:00+00:00\n\
\n\
diff --git a/app.py b/app.py\n\
new file mode 100644\n\
--- /dev/null\n\
+++ b/app.py\n\
@@ -0,0 +1,2 @@\n\
+first\n\
++++ second starts with pluses\n\
diff --git a/gone.txt b/gone.txt\n\
deleted file mode 100644\n\
--- a/gone.txt\n\
+++ /dev/null\n\
@@ -1 +0,0 @@\n\
-bye\n\
\x1edef456\x1fBo\x1fbo@example.org\x1f2026-01-02T00:00:00+00:00\n\
diff --git a/app.py b/app.py\n\
--- a/app.py\n\
+++ b/app.py\n\
@@ -7,0 +8 @@\n\
+eighth\n";
        let mut changes = Vec::new();
        let commits = parse_log(&log[..], &scanner, &mut |change| changes.push(change)).unwrap_or(0);
        assert_eq!(commits, 2);
        assert_eq!(changes.len(), 2);
        assert_eq!(&*changes[0].path, "app.py");
        assert_eq!(changes[0].commit.id, "abc123");
        assert_eq!(changes[0].text, b"first\n+++ second starts with pluses\n");
        assert_eq!(changes[0].lines, vec![1, 2]);
        assert_eq!(changes[1].commit.author, "Bo");
        assert_eq!(changes[1].lines, vec![8]);
    }
}
