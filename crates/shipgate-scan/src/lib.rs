//! Secret scanning for shipgate: directory trees, git history and artifacts (tar, tar.gz,
//! zip, OCI image layouts and `docker save` tarballs).
//!
//! [`Scanner`] holds the compiled rules and the allowlists. Its `scan_*` methods read a
//! source and return a [`Report`] of [`Finding`]s. A finding never carries the secret
//! itself, only a redacted prefix and a fingerprint, so no output can leak it.
//!
//! The matching itself ([`Scanner::scan_bytes`]) is a pure function of bytes; only the
//! `source` modules touch the file system or run `git`.

#![forbid(unsafe_code)]

mod baseline;
mod engine;
mod filter;
mod finding;
pub mod gate;
pub mod report;
pub mod rules;
mod source;

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

pub use baseline::{Baseline, BaselineEntry};
pub use engine::ALLOW_MARKER;
pub use filter::{entropy, is_placeholder};
pub use finding::{Commit, Finding, Location, fingerprint, redact};
pub use rules::{Confidence, Rule, Scope};
pub use source::archive::ArchiveKind;
pub use source::dir::DirOptions;

/// Everything that can go wrong while scanning.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid glob `{glob}` in `allow_paths`")]
    AllowPath {
        glob: String,
        #[source]
        source: Box<globset::Error>,
    },
    #[error("invalid regular expression `{pattern}` in `allow_regexes`")]
    AllowRegex {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("rule `{rule}` does not compile")]
    Rule {
        rule: &'static str,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("cannot build the keyword automaton")]
    Keywords(#[source] Box<aho_corasick::BuildError>),
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run `git`")]
    GitNotFound(#[source] std::io::Error),
    #[error("`git {command}` failed in `{repo}`: {stderr}")]
    Git { command: String, repo: PathBuf, stderr: String },
    #[error("cannot read archive `{path}`")]
    Archive {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read baseline `{path}`")]
    BaselineFormat {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("baseline `{path}` has version {found}, this shipgate reads version {expected}")]
    BaselineVersion { path: PathBuf, found: u32, expected: u32 },
}

/// What the user allows, as written in the `[scan]` section of `shipgate.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Globs over paths relative to the scanned root (`tests/fixtures/**`); matching files
    /// are not read. In archives and git history the glob is matched against the path
    /// inside the archive or repository.
    pub allow_paths: Vec<String>,
    /// Regular expressions; a secret any of them matches is not reported.
    pub allow_regexes: Vec<String>,
    /// Words; a secret containing any of them (in any case) is not reported.
    pub stopwords: Vec<String>,
}

/// Counters for the summary line and the benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Files (or archive entries, or file changes in commits) scanned.
    pub files: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Files skipped because they are binary.
    pub binary: u64,
    /// Files skipped by `allow_paths`.
    pub allowed: u64,
    /// Commits read (git history only).
    pub commits: u64,
}

impl Stats {
    pub fn add(&mut self, other: &Stats) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.binary += other.binary;
        self.allowed += other.allowed;
        self.commits += other.commits;
    }
}

/// The result of one scan.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Sorted by location, then rule.
    pub findings: Vec<Finding>,
    pub stats: Stats,
    /// Things that could not be scanned (unreadable files, unsupported compression), each
    /// a sentence. The scan goes on without them.
    pub warnings: Vec<String>,
}

impl Report {
    pub fn merge(&mut self, other: Report) {
        self.findings.extend(other.findings);
        self.stats.add(&other.stats);
        self.warnings.extend(other.warnings);
        self.sort();
    }

    pub(crate) fn sort(&mut self) {
        self.findings.sort_by(|a, b| a.location.cmp(&b.location).then_with(|| a.rule.cmp(b.rule)));
        self.findings.dedup();
    }
}

/// The compiled rules and allowlists. Build one per run and share it between threads.
pub struct Scanner {
    engine: engine::Engine,
    allow_paths: GlobSet,
}

impl Scanner {
    /// Compiles every built-in rule and the user's allowlists.
    pub fn new(config: &Config) -> Result<Self, Error> {
        let mut paths = GlobSetBuilder::new();
        for glob in &config.allow_paths {
            let compiled =
                Glob::new(glob).map_err(|source| Error::AllowPath { glob: glob.clone(), source: Box::new(source) })?;
            paths.add(compiled);
        }
        let allow_paths = paths
            .build()
            .map_err(|source| Error::AllowPath { glob: config.allow_paths.join(", "), source: Box::new(source) })?;
        let regexes = config
            .allow_regexes
            .iter()
            .map(|pattern| {
                regex::bytes::Regex::new(pattern)
                    .map_err(|source| Error::AllowRegex { pattern: pattern.clone(), source: Box::new(source) })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stopwords = config
            .stopwords
            .iter()
            .filter(|word| !word.is_empty())
            .map(|word| word.to_ascii_lowercase().into_bytes())
            .collect();
        let engine = engine::Engine::new(rules::all(), engine::Allow { regexes, stopwords })?;
        Ok(Scanner { engine, allow_paths })
    }

    /// Whether `allow_paths` excludes `path` (relative, `/`-separated).
    pub fn is_allowed_path(&self, path: &str) -> bool {
        !self.allow_paths.is_empty() && self.allow_paths.is_match(path)
    }

    /// Scans one buffer as the content of the file at `path` (used for its name only: it
    /// decides whether `.env` rules apply and whether `allow_paths` skips it).
    pub fn scan_bytes(&self, path: &str, data: &[u8]) -> Vec<Finding> {
        if self.is_allowed_path(path) {
            return Vec::new();
        }
        let context = source::FileContext { container: &[], path, commit: None, env_file: is_env_file(path) };
        let mut findings = Vec::new();
        source::findings_in(self, data, &context, source::Origin::START, data.len(), &mut findings);
        findings
    }

    /// Scans a directory tree (or a single file) in parallel, honouring `.gitignore`
    /// unless told otherwise.
    pub fn scan_dir(&self, root: &Path, options: &DirOptions) -> Result<Report, Error> {
        source::dir::scan(self, root, options)
    }

    /// Scans every line added by every commit reachable from `refs` (all refs when empty),
    /// naming the commit that added each secret.
    pub fn scan_git(&self, repo: &Path, refs: &[String]) -> Result<Report, Error> {
        source::git::scan_history(self, repo, refs)
    }

    /// Scans the files of one commit (`git archive`), as the release gate does.
    pub fn scan_git_tree(&self, repo: &Path, revision: &str) -> Result<Report, Error> {
        source::git::scan_tree(self, repo, revision)
    }

    /// Scans an artifact: a tar, tar.gz, zip, OCI image layout or `docker save` tarball
    /// (layer by layer, archives within archives), a directory, or a plain file.
    pub fn scan_artifact(&self, path: &Path) -> Result<Report, Error> {
        source::archive::scan_path(self, path)
    }

    pub(crate) fn engine(&self) -> &engine::Engine {
        &self.engine
    }
}

/// Whether `path` names a `.env`-style file that holds real values: `.env`,
/// `.env.production`, `prod.env`, `.envrc`, but not `.env.example` and other templates.
pub fn is_env_file(path: &str) -> bool {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path).to_ascii_lowercase();
    const TEMPLATES: &[&str] =
        &["example", "sample", "template", "dist", "defaults", "default", "schema", "tpl", "test"];
    let is_template = |word: &str| TEMPLATES.contains(&word);
    if name == ".env" || name == ".envrc" {
        return true;
    }
    if let Some(suffix) = name.strip_prefix(".env.") {
        return !suffix.split('.').any(is_template);
    }
    if let Some(stem) = name.strip_suffix(".env") {
        return !stem.is_empty() && !stem.split(['.', '-', '_']).any(is_template);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_are_recognised_but_not_their_templates() {
        for path in [".env", "app/.env", ".env.production", ".env.local", "prod.env", "deploy/.envrc"] {
            assert!(is_env_file(path), "{path}");
        }
        for path in [".env.example", ".env.sample", "example.env", ".env.template", "env.rs", ".environment", "x.envy"]
        {
            assert!(!is_env_file(path), "{path}");
        }
    }
}
