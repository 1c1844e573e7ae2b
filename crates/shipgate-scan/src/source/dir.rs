//! Directory trees: a parallel walk (the `ignore` crate, as ripgrep's) that honours
//! `.gitignore` unless asked not to, plus the tracked files that `.gitignore` would hide.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use ignore::{WalkBuilder, WalkState};

use super::{CHUNK, FileContext, OVERLAP, count, scan_stream};
use crate::{Error, Report, Scanner, Stats, is_env_file};

/// How to walk a directory.
#[derive(Debug, Clone, Default)]
pub struct DirOptions {
    /// Scan files that `.gitignore`, `.ignore` and git's excludes leave out.
    pub include_ignored: bool,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
}

struct Shared {
    report: Mutex<Report>,
}

impl Shared {
    fn add(&self, findings: Vec<crate::Finding>, stats: &Stats, warning: Option<String>) {
        if let Ok(mut report) = self.report.lock() {
            report.findings.extend(findings);
            report.stats.add(stats);
            report.warnings.extend(warning);
        }
    }
}

pub(crate) fn scan(scanner: &Scanner, root: &Path, options: &DirOptions) -> Result<Report, Error> {
    let metadata = std::fs::metadata(root).map_err(|source| Error::Io { path: root.to_owned(), source })?;
    if metadata.is_file() {
        let name =
            root.file_name().map_or_else(|| root.display().to_string(), |name| name.to_string_lossy().into_owned());
        let mut report = Report::default();
        scan_file(scanner, root, &name, &mut Vec::new(), &mut report);
        return Ok(report);
    }
    let threads = if options.threads == 0 {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    } else {
        options.threads
    };
    let respect = !options.include_ignored;
    let walker = WalkBuilder::new(root)
        .hidden(false)
        .ignore(respect)
        .git_ignore(respect)
        .git_global(respect)
        .git_exclude(respect)
        .parents(respect)
        .require_git(false)
        .follow_links(false)
        .threads(threads)
        .filter_entry(|entry| entry.file_name() != ".git")
        .build_parallel();
    let shared = Shared { report: Mutex::new(Report::default()) };
    walker.run(|| {
        let shared = &shared;
        let mut buffer = Vec::with_capacity(CHUNK + OVERLAP);
        Box::new(move |entry| {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    shared.add(Vec::new(), &Stats::default(), Some(format!("cannot walk: {error}")));
                    return WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|kind| kind.is_file()) {
                return WalkState::Continue;
            }
            let relative = relative_path(root, entry.path());
            let mut local = Report::default();
            scan_file(scanner, entry.path(), &relative, &mut buffer, &mut local);
            if !local.findings.is_empty() || !local.warnings.is_empty() || local.stats != Stats::default() {
                shared.add(local.findings, &local.stats, local.warnings.into_iter().next());
            }
            WalkState::Continue
        })
    });
    let mut report = shared.report.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    if respect {
        for relative in tracked_but_ignored(root) {
            scan_file(scanner, &root.join(&relative), &relative, &mut Vec::new(), &mut report);
        }
    }
    report.sort();
    Ok(report)
}

/// `path` relative to `root`, with `/` separators.
fn relative_path(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let text = relative.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' { text.into_owned() } else { text.replace(std::path::MAIN_SEPARATOR, "/") }
}

fn scan_file(scanner: &Scanner, path: &Path, relative: &str, buffer: &mut Vec<u8>, report: &mut Report) {
    if scanner.is_allowed_path(relative) {
        report.stats.allowed += 1;
        return;
    }
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) => {
            report.warnings.push(format!("cannot read `{relative}`: {error}"));
            return;
        }
    };
    let context = FileContext { container: &[], path: relative, commit: None, env_file: is_env_file(relative) };
    match scan_stream(scanner, &mut file, &context, buffer, &mut report.findings) {
        Ok(outcome) => count(&mut report.stats, outcome),
        Err(error) => report.warnings.push(format!("cannot read `{relative}`: {error}")),
    }
}

/// Files that git tracks although `.gitignore` matches them (added before the rule, or
/// with `git add -f`): they are committed, so they are scanned. Empty outside a work tree
/// or without git.
fn tracked_but_ignored(root: &Path) -> Vec<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z", "--cached", "--ignored", "--exclude-standard"])
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(output) if output.status.success() => output
            .stdout
            .split(|byte| *byte == 0)
            .filter(|path| !path.is_empty())
            .map(|path| String::from_utf8_lossy(path).into_owned())
            .collect(),
        _ => Vec::new(),
    }
}
