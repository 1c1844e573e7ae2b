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

    /// Apply pending migrations to a database.
    ///
    /// Records each in `shipgate_schema_history` with its checksum (an applied migration edited
    /// later is an error), takes an advisory lock so two appliers never race, and runs each
    /// migration in its own transaction with `lock_timeout` and `statement_timeout` set.
    /// By default only expand migrations run: contract migrations belong to the deployment of
    /// the next release, once no running code needs the old schema.
    Apply(ApplyArgs),

    /// Rehearse pending migrations on a copy of a database, measured.
    ///
    /// Copies the database into a scratch database on the same server, applies the pending
    /// migrations statement by statement (timing each, and recording the table locks it took and
    /// the tables it rewrote), runs the down migrations, then the ups again, and drops the copy.
    /// Writes the result as evidence keyed by the digest of the migration set. Exits 1 when the
    /// rehearsal failed, or when a statement was slow while holding a lock that blocks traffic.
    Rehearse(RehearseArgs),
}

/// Where the migrations and the database are.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// The database URL (`postgres://user@host/db`). Default: the environment variable named by
    /// `[migrations] database` in shipgate.toml (e.g. `$DATABASE_URL`), which keeps the password
    /// out of the process list.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,

    /// The migrations folder. Default: `[migrations] dir` from shipgate.toml, or `migrations`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// The shipgate.toml that names the folder and the database secret.
    #[arg(long, short = 'f', env = env_vars::SHIPGATE_FILE, default_value = shipgate_spec::FILE_NAME)]
    pub file: PathBuf,

    /// Give up on a statement that waits this long for a lock.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,

    /// Give up on a statement that runs this long.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub statement_timeout: std::time::Duration,
}

pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    shipgate_spec::values::Duration::parse(text).map(|duration| duration.as_std()).map_err(|invalid| invalid.message)
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Which migrations to apply.
    #[arg(long, value_enum, default_value_t = PhaseChoice::Expand)]
    pub phase: PhaseChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PhaseChoice {
    Expand,
    Contract,
    All,
}

#[derive(Debug, Args)]
pub struct RehearseArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Report a statement as slow from this duration on.
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub slow: std::time::Duration,

    /// Where to write the evidence. Default: `.shipgate/rehearsals/<digest>.json` beside shipgate.toml.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
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
        MigrateCommand::Apply(args) => run_apply(&args, out),
        MigrateCommand::Rehearse(args) => run_rehearse(&args, out),
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
    let paths = if args.paths.is_empty() {
        vec![migrations_dir(None, migrations_config(&args.file)?.as_ref())]
    } else {
        args.paths.clone()
    };
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

/// The `[migrations]` section of shipgate.toml when the file exists, with the folder it is in.
fn migrations_config(spec_path: &Path) -> Result<Option<(PathBuf, shipgate_spec::Migrations)>, Failure> {
    if !spec_path.exists() {
        return Ok(None);
    }
    let loaded = super::validate::load_spec(spec_path)?;
    Ok(loaded.spec.migrations.map(|migrations| (loaded.folder, migrations)))
}

/// The migrations folder: the one given, else `[migrations] dir` (relative to shipgate.toml),
/// else `migrations`.
fn migrations_dir(explicit: Option<&Path>, config: Option<&(PathBuf, shipgate_spec::Migrations)>) -> PathBuf {
    match (explicit, config) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some((base, migrations))) => base.join(&migrations.dir),
        (None, None) => PathBuf::from("migrations"),
    }
}

/// What applies the migrations: shipgate itself, or another framework's command.
enum Runner {
    Own(MigrationSet),
    Command { command: String, workdir: PathBuf, url_variable: String, dir: PathBuf },
}

/// The runner and database URL for `apply` and `rehearse`.
fn runner_and_url(args: &DatabaseArgs) -> Result<(Runner, String), Failure> {
    let config = migrations_config(&args.file)?;
    let dir = migrations_dir(args.dir.as_deref(), config.as_ref());
    let url = match (&args.database, &config) {
        (Some(url), _) => url.clone(),
        (None, Some((_, migrations))) => std::env::var(&migrations.database).map_err(|_| {
            Failure::usage(anyhow::anyhow!("no database given, and `${}` is not set", migrations.database)).hint(
                format!(
                    "export `{}` (the secret named by `[migrations] database`) or pass `--database URL`",
                    migrations.database
                ),
            )
        })?,
        (None, None) => {
            return Err(Failure::usage(anyhow::anyhow!("no database given"))
                .hint("pass `--database URL`, or declare `[migrations] database` in shipgate.toml"));
        }
    };
    let runner = match config {
        Some((base, shipgate_spec::Migrations { command: Some(command), database, .. })) => {
            Runner::Command { command, workdir: base, url_variable: database, dir }
        }
        _ => Runner::Own(load(&dir)?.set),
    };
    Ok((runner, url))
}

fn timeouts(args: &DatabaseArgs) -> shipgate_migrate::apply::Timeouts {
    shipgate_migrate::apply::Timeouts { lock: args.lock_timeout, statement: args.statement_timeout }
}

fn run_apply(args: &ApplyArgs, out: &Output) -> Result<ExitStatus, Failure> {
    use shipgate_migrate::apply::{self, ApplyError, Phases};
    let (runner, url) = runner_and_url(&args.database)?;
    let set = match runner {
        Runner::Own(set) => set,
        Runner::Command { command, workdir, url_variable, .. } => {
            return run_framework_command(&command, &workdir, &url_variable, &url, out);
        }
    };
    let phases = match args.phase {
        PhaseChoice::Expand => Phases::ExpandOnly,
        PhaseChoice::Contract => Phases::ContractOnly,
        PhaseChoice::All => Phases::All,
    };
    let applied = apply::connect(&url)
        .and_then(|mut client| apply::apply(&mut client, &set, phases, timeouts(&args.database)))
        .map_err(|error| {
            let hint = error.hint();
            // A migration that fails or was edited is a refusal; a bad URL is a usage error.
            let status = match error {
                ApplyError::Migration { .. }
                | ApplyError::ChecksumMismatch { .. }
                | ApplyError::UnknownApplied { .. } => ExitStatus::Refused,
                ApplyError::Connect(_) | ApplyError::Database { .. } => ExitStatus::Usage,
            };
            Failure { status, error: anyhow::Error::new(error), hint: Some(hint) }
        })?;
    if applied.is_empty() {
        out.data("up to date: no pending migrations\n")?;
    }
    for migration in &applied {
        out.data(&format!("applied {} in {} ms\n", migration.path, migration.duration_ms))?;
    }
    Ok(ExitStatus::Success)
}

fn run_rehearse(args: &RehearseArgs, out: &Output) -> Result<ExitStatus, Failure> {
    use shipgate_migrate::rehearse::{RehearsalOptions, rehearse};
    let (runner, url) = runner_and_url(&args.database)?;
    let options = RehearsalOptions { timeouts: timeouts(&args.database), slow: args.slow };
    let cannot = |error: shipgate_migrate::rehearse::RehearseError| {
        Failure::usage(error).hint("check the URL and that this user may create databases")
    };
    let rehearsal = match runner {
        Runner::Own(set) => rehearse(&url, &set, options).map_err(cannot)?,
        Runner::Command { command, workdir, url_variable, dir } => {
            let digest = shipgate_migrate::command::digest(&dir, &command);
            shipgate_migrate::rehearse::rehearse_command(&url, &command, &workdir, &url_variable, digest)
                .map_err(cannot)?
                .0
        }
    };
    let path = args.out.clone().unwrap_or_else(|| {
        let base = args.database.file.parent().unwrap_or(Path::new("."));
        base.join(".shipgate/rehearsals").join(format!("{}.json", rehearsal.digest))
    });
    write_evidence(&path, &rehearsal)?;
    out.data(&rehearsal_report(&rehearsal, &path))?;
    let hazards = rehearsal.statements.iter().any(|statement| statement.hazardous());
    Ok(if rehearsal.passed && !hazards { ExitStatus::Success } else { ExitStatus::Refused })
}

/// `[migrations] command`: another framework applies the migrations; shipgate runs it.
fn run_framework_command(
    command: &str,
    workdir: &Path,
    url_variable: &str,
    url: &str,
    out: &Output,
) -> Result<ExitStatus, Failure> {
    let run = shipgate_migrate::command::run(command, workdir, url_variable, url)
        .map_err(|error| Failure::usage(anyhow::anyhow!(error)))?;
    if !run.success {
        return Err(Failure {
            status: ExitStatus::Refused,
            error: anyhow::anyhow!("`{command}` failed:\n{}", run.output_tail),
            hint: Some("fix the migration; rehearse it first with `shipgate migrate rehearse`".to_owned()),
        });
    }
    out.data(&format!("applied with `{command}` in {} ms\n", run.duration_ms))?;
    Ok(ExitStatus::Success)
}

fn write_evidence(path: &Path, rehearsal: &shipgate_migrate::rehearse::Rehearsal) -> Result<(), Failure> {
    let json = serde_json::to_string_pretty(rehearsal).map_err(Failure::internal)?;
    let cannot = |error: std::io::Error| {
        Failure::usage(anyhow::Error::new(error).context(format!("cannot write `{}`", path.display())))
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(cannot)?;
    }
    std::fs::write(path, format!("{json}\n")).map_err(cannot)
}

fn rehearsal_report(rehearsal: &shipgate_migrate::rehearse::Rehearsal, evidence: &Path) -> String {
    let mut report = format!("rehearsal of migration set {} (copied by {})\n", &rehearsal.digest[..12], rehearsal.copy);
    for statement in &rehearsal.statements {
        let mut notes = Vec::new();
        if statement.hazardous() {
            notes.push("HAZARD: slow while blocking traffic".to_owned());
        } else if statement.slow {
            notes.push("slow".to_owned());
        }
        if !statement.rewrites.is_empty() {
            notes.push(format!("rewrites {}", statement.rewrites.join(", ")));
        }
        notes.extend(statement.locks.iter().map(|lock| format!("{} on {}", lock.mode, lock.table)));
        report.push_str(&format!(
            "  {:>7} ms  {}  {}\n           {}\n",
            statement.duration_ms,
            statement.migration,
            notes.join("; "),
            statement.statement
        ));
    }
    for path in &rehearsal.without_down {
        report.push_str(&format!("  note: `{path}` has no down migration; its rollback is untested\n"));
    }
    if !rehearsal.round_tripped.is_empty() {
        report.push_str(&format!("  down, then up again: {}\n", rehearsal.round_tripped.join(", ")));
    }
    let hazards = rehearsal.statements.iter().filter(|statement| statement.hazardous()).count();
    report.push_str(&match (&rehearsal.failure, hazards) {
        (Some(failure), _) => format!("failed: {failure}\n"),
        (None, 0) => "passed\n".to_owned(),
        (None, hazards) => {
            format!("refused: {hazards} statement(s) held a traffic-blocking lock while slow; production would stall\n")
        }
    });
    report.push_str(&format!("evidence: {}\n", evidence.display()));
    report
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
