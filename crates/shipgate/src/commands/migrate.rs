//! `shipgate migrate …`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use shipgate_migrate::layout::{self, LayoutError};
use shipgate_migrate::lint::{LintOptions, lint};
use shipgate_migrate::{Finding, MigrationSet, Severity};

use crate::env_vars;
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;
use crate::render;

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Check migrations for locking, rewriting and destructive SQL.
    ///
    /// Runs squawk's rules on every pending migration, with the whole history as context, and
    /// shipgate's own: no drops or renames outside `contract/`, a down migration for every expand
    /// migration, no statement left unparsed. Exits 1 when a finding denies the migrations, 0 when
    /// only warnings (or nothing) remain.
    Lint(LintArgs),
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Migration folders (holding `expand/` and `contract/`) or single `.sql` files; a file whose
    /// folder is named `contract` is judged as a contract migration. Default: `[migrations] dir`
    /// from shipgate.toml, or `migrations`.
    pub paths: Vec<PathBuf>,

    /// Migrations up to this version have already run in production: they are context for the
    /// others, not judged themselves. Default: none has run.
    #[arg(long, value_name = "VERSION")]
    pub applied_through: Option<u64>,

    /// The shipgate.toml that names the migrations folder.
    #[arg(long, short = 'f', env = env_vars::SHIPGATE_FILE, default_value = shipgate_spec::FILE_NAME)]
    pub file: PathBuf,

    #[arg(long, value_enum, default_value_t = FindingFormat::Human)]
    pub format: FindingFormat,
}

/// How to print findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingFormat {
    /// Annotated source, to standard error.
    Human,
    /// A JSON array, to standard output.
    Json,
    /// SARIF 2.1.0, to standard output (for code-scanning dashboards).
    Sarif,
}

pub fn run(command: MigrateCommand, out: &Output) -> Result<ExitStatus, Failure> {
    match command {
        MigrateCommand::Lint(args) => run_lint(&args, out),
    }
}

/// A migration set and where its files are.
struct Target {
    /// The folder its relative paths start from.
    root: PathBuf,
    /// Set when a single file was given: the file itself, whatever its folder is called.
    single_file: Option<PathBuf>,
    set: MigrationSet,
}

impl Target {
    fn path_of(&self, relative: &str) -> PathBuf {
        self.single_file.clone().unwrap_or_else(|| self.root.join(relative))
    }
}

fn run_lint(args: &LintArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let paths = if args.paths.is_empty() { vec![default_dir(&args.file)?] } else { args.paths.clone() };
    let mut findings: Vec<(PathBuf, Finding)> = Vec::new();
    for path in &paths {
        let target = load(path)?;
        let options = LintOptions { applied_through: args.applied_through };
        findings.extend(lint(&target.set, options).into_iter().map(|finding| (target.path_of(&finding.file), finding)));
    }
    let located: Vec<render::Located> = findings
        .iter()
        .map(|(path, finding)| {
            let source = std::fs::read_to_string(path).unwrap_or_default();
            render::Located {
                path: path.display().to_string(),
                source,
                span: finding.span.clone(),
                rule_id: finding.rule_id,
                rule: finding.rule.clone(),
                deny: finding.severity == Severity::Deny,
                message: finding.message.clone(),
                hint: finding.hint.clone(),
            }
        })
        .collect();
    match args.format {
        FindingFormat::Human => out.message(&render::findings_human(&located, out.color())),
        FindingFormat::Json => out.data(&format!("{}\n", render::findings_json(&located)))?,
        FindingFormat::Sarif => {
            out.data(&format!("{}\n", render::findings_sarif(&located, "shipgate migrate lint")))?
        }
    }
    let denied = findings.iter().any(|(_, finding)| finding.severity == Severity::Deny);
    Ok(if denied { ExitStatus::Refused } else { ExitStatus::Success })
}

/// `[migrations] dir` from shipgate.toml (relative to it) when the file exists, else `migrations`.
fn default_dir(spec_path: &Path) -> Result<PathBuf, Failure> {
    if !spec_path.exists() {
        return Ok(PathBuf::from("migrations"));
    }
    let bytes = super::validate::read_spec(spec_path)?;
    let spec = shipgate_spec::parse(&bytes).map_err(|report| {
        Failure::usage(anyhow::anyhow!(
            "`{}` is not valid ({} problems)",
            spec_path.display(),
            report.diagnostics.len()
        ))
        .hint(format!("run `shipgate validate --file {}` to see them", spec_path.display()))
    })?;
    let base = spec_path.parent().unwrap_or(Path::new("."));
    Ok(base.join(spec.migrations.map_or_else(|| "migrations".to_owned(), |migrations| migrations.dir)))
}

fn load(path: &Path) -> Result<Target, Failure> {
    if path.is_dir() {
        let set = layout::load_dir(path).map_err(|errors| layout_failure(path, &errors))?;
        return Ok(Target { root: path.to_path_buf(), single_file: None, set });
    }
    // A single file: judged alone, in the phase its folder names.
    let contents = std::fs::read_to_string(path).map_err(|error| {
        Failure::usage(anyhow::Error::new(error).context(format!("cannot read `{}`", path.display())))
            .hint("pass a migrations folder or `.sql` files; the default is `[migrations] dir` from shipgate.toml")
    })?;
    let phase = if path.parent().and_then(Path::file_name).is_some_and(|name| name == "contract") {
        "contract"
    } else {
        "expand"
    };
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let set = layout::from_files(vec![(format!("{phase}/{name}"), contents)])
        .map_err(|errors| layout_failure(path, &errors))?;
    Ok(Target { root: PathBuf::new(), single_file: Some(path.to_path_buf()), set })
}

fn layout_failure(path: &Path, errors: &[LayoutError]) -> Failure {
    let Some((first, rest)) = errors.split_first() else {
        return Failure::internal(anyhow::anyhow!("migrations in `{}` were refused without a reason", path.display()));
    };
    let others = rest.iter().map(|error| format!("\n  also: {error}")).collect::<String>();
    Failure::usage(anyhow::anyhow!(
        "migrations in `{}` are not laid out as shipgate expects: {first}{others}",
        path.display()
    ))
    .hint(first.hint())
}
