//! `shipgate scan`: secrets in the source tree, git history and artifacts.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use shipgate_scan::{Baseline, Config, DirOptions, Finding, Report, Scanner};

use crate::env_vars;
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The folder or file to scan; with `--git`, the repository. Default: the current folder,
    /// unless only `--artifact` is given.
    pub path: Option<PathBuf>,

    /// Scan git history instead of the working tree: every line added by every commit
    /// reachable from REFS (default: all refs), each finding naming the commit that added it.
    /// Give PATH before `--git`, since what follows it are refs.
    #[arg(long, num_args = 0.., value_name = "REFS")]
    pub git: Option<Vec<String>>,

    /// Scan an artifact: a tar, tar.gz, zip, OCI image layout or `docker save` tarball (layer by
    /// layer, archives within archives), a folder, or a file. May be repeated.
    #[arg(long, value_name = "FILE")]
    pub artifact: Vec<PathBuf>,

    /// How to print findings: `human` (to standard error), `json` or `sarif` (to standard output).
    /// No format ever shows a whole secret: only its first characters, then a mask.
    #[arg(long, value_enum, default_value_t = ScanFormat::Human)]
    pub format: ScanFormat,

    /// Report only findings that are not in this baseline file.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Write every current finding to FILE as the accepted baseline, and exit 0. Rotate the
    /// secrets it lists: a baseline hides them from the scan, not from attackers.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,

    /// Also scan files that `.gitignore`, `.ignore` and git's excludes leave out. Tracked files
    /// are always scanned, ignored or not.
    #[arg(long)]
    pub include_ignored: bool,

    /// The shipgate.toml whose `[scan]` section lists what to allow. Default: `shipgate.toml` in
    /// the scanned folder (or the current one), if there is one.
    #[arg(long, short = 'f', env = env_vars::SHIPGATE_FILE, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// One finding per line, to standard error, then a summary.
    Human,
    /// A JSON array of findings, to standard output.
    Json,
    /// SARIF 2.1.0, to standard output (for code-scanning dashboards).
    Sarif,
}

pub fn run(args: &ScanArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let started = Instant::now();
    let tree_or_repo = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let config = load_config(args.file.as_deref(), &tree_or_repo)?;
    let scanner = Scanner::new(&config).map_err(|error| {
        Failure::usage(anyhow::Error::new(error).context("the `[scan]` allowlists are not valid"))
            .hint("fix the entry named above in shipgate.toml; globs use `*`, `**` and `{a,b}`, regexes Rust syntax")
    })?;

    let mut report = Report::default();
    let scan_tree = args.git.is_none() && (args.path.is_some() || args.artifact.is_empty());
    if scan_tree {
        let options = DirOptions { include_ignored: args.include_ignored, threads: 0 };
        report.merge(scanner.scan_dir(&tree_or_repo, &options).map_err(|error| {
            Failure::usage(error).hint("pass a folder or file that exists, e.g. `shipgate scan .`")
        })?);
    }
    if let Some(refs) = &args.git {
        report.merge(scanner.scan_git(&tree_or_repo, refs).map_err(git_failure)?);
    }
    for artifact in &args.artifact {
        report.merge(scanner.scan_artifact(artifact).map_err(|error| match error {
            shipgate_scan::Error::Io { .. } => {
                Failure::usage(error).hint("pass the artifact's path: a tar, tar.gz, zip, image layout or folder")
            }
            other => Failure::usage(other).hint("the artifact is damaged or not an archive shipgate reads"),
        })?);
    }
    for warning in &report.warnings {
        out.message(&format!("warning: {warning}\n"));
    }

    if let Some(path) = &args.write_baseline {
        Baseline::from_findings(&report.findings)
            .save(path)
            .map_err(|error| Failure::usage(error).hint("check that the folder exists and is writable"))?;
        let count = report.findings.len();
        out.message(&format!(
            "wrote `{}` with {count} finding{}; rotate them: a baseline hides secrets from the scan, not from attackers\n",
            path.display(),
            plural(count)
        ));
        return Ok(ExitStatus::Success);
    }

    let total = report.findings.len();
    let (findings, suppressed) = match &args.baseline {
        Some(path) => {
            let baseline = Baseline::load(path)
                .map_err(|error| Failure::usage(error).hint("write one with `shipgate scan --write-baseline FILE`"))?;
            baseline.filter(std::mem::take(&mut report.findings))
        }
        None => (std::mem::take(&mut report.findings), 0),
    };
    match args.format {
        ScanFormat::Human => {
            out.message(&human(&findings, out.color()));
            out.message(&summary(&findings, total, suppressed, &report, started.elapsed().as_secs_f64()));
        }
        ScanFormat::Json => out.data(&format!("{}\n", shipgate_scan::report::json(&findings)))?,
        ScanFormat::Sarif => {
            out.data(&format!("{}\n", shipgate_scan::report::sarif(&findings, env!("CARGO_PKG_VERSION"))))?;
        }
    }
    Ok(if findings.is_empty() { ExitStatus::Success } else { ExitStatus::Refused })
}

/// The `[scan]` allowlists: from `--file` (which must exist), else from `shipgate.toml` in the
/// scanned folder or the current one when there is one, else none.
fn load_config(explicit: Option<&Path>, scanned: &Path) -> Result<Config, Failure> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let folder = if scanned.is_dir() { scanned } else { Path::new(".") };
            let candidate = folder.join(shipgate_spec::FILE_NAME);
            if !candidate.is_file() {
                return Ok(Config::default());
            }
            candidate
        }
    };
    let bytes = super::validate::read_spec(&path)?;
    let spec = shipgate_spec::parse(&bytes).map_err(|report| {
        Failure::usage(anyhow::anyhow!(
            "`{}` is not valid ({} problem{})",
            path.display(),
            report.diagnostics.len(),
            plural(report.diagnostics.len())
        ))
        .hint(format!("run `shipgate validate --file {}` to see them", path.display()))
    })?;
    Ok(Config {
        allow_paths: spec.scan.allow_paths,
        allow_regexes: spec.scan.allow_regexes,
        stopwords: spec.scan.stopwords,
    })
}

fn git_failure(error: shipgate_scan::Error) -> Failure {
    match error {
        shipgate_scan::Error::GitNotFound(_) => {
            Failure::usage(error).hint("install git, or scan the working tree without `--git`")
        }
        shipgate_scan::Error::Git { .. } => {
            Failure::usage(error).hint("pass a git repository as PATH (before `--git`) and refs that exist in it")
        }
        other => Failure::internal(anyhow::Error::new(other).context("scanning git history failed")),
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// `path:line:col: rule-id: description `redacted`` per finding, with the commit when known.
fn human(findings: &[Finding], color: bool) -> String {
    let (bold, red, dim, reset) =
        if color { ("\x1b[1m", "\x1b[1;31m", "\x1b[2m", "\x1b[0m") } else { ("", "", "", "") };
    let mut text = String::new();
    for finding in findings {
        let location = &finding.location;
        text.push_str(&format!(
            "{bold}{}:{}:{}{reset}: {red}{}{reset}: {} `{}`\n",
            location.key(),
            location.line,
            location.column,
            finding.rule,
            finding.description,
            finding.redacted
        ));
        if let Some(commit) = &location.commit {
            text.push_str(&format!(
                "  {dim}added in commit {} by {} <{}> on {}{reset}\n",
                commit.id, commit.author, commit.email, commit.date
            ));
        }
    }
    text
}

fn summary(findings: &[Finding], total: usize, suppressed: usize, report: &Report, seconds: f64) -> String {
    let stats = &report.stats;
    let megabytes = stats.bytes as f64 / 1_000_000.0;
    let mut scanned = format!("{} file{}, {megabytes:.1} MB", stats.files, plural(stats.files as usize));
    if stats.commits > 0 {
        scanned.push_str(&format!(" in {} commit{}", stats.commits, plural(stats.commits as usize)));
    }
    scanned.push_str(&format!(" in {seconds:.2}s"));
    let baseline =
        if suppressed > 0 { format!("; {suppressed} of {total} already in the baseline") } else { String::new() };
    if findings.is_empty() {
        return format!("no secrets found (scanned {scanned}){baseline}\n");
    }
    let files: std::collections::BTreeSet<String> = findings.iter().map(|finding| finding.location.key()).collect();
    format!(
        "error: found {} secret{} in {} file{} (scanned {scanned}){baseline}\nhint: {}\n",
        findings.len(),
        plural(findings.len()),
        files.len(),
        plural(files.len()),
        shipgate_scan::report::HINT
    )
}
