//! `shipgate pipeline run`: the current commit through every stage of the deployment guide,
//! in order, stopping at the first failure: source, build, test, security scan, stage (the
//! environments before the target, with a rollback rehearsal), approve, production.
//!
//! What succeeded is recorded per commit ([`state`]), so `--resume` skips it; every command's
//! output goes to the run's log ([`report::Log`]); the stages themselves are in [`stages`].

mod report;
mod route;
mod stages;
mod state;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use clap::{Args, Subcommand};

use self::report::{Log, Reporter};
use self::stages::{Context, Stopped};
use self::state::{RunState, StageId, StageRecord, StageStatus};
use super::audit::StoreArgs;
use crate::cli::Format;
use crate::client::{Client, ConnectArgs};
use crate::env_vars;
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct PipelineArgs {
    #[command(subcommand)]
    pub command: PipelineCommand,
}

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Take the current commit through every stage to production, stopping at the first failure.
    ///
    /// The stages, in order:
    ///   source      `shipgate validate`, then the `[pipeline] lint` commands
    ///   build       the `[pipeline] build` commands; the artifact is digested, the key checked
    ///   test        the `[pipeline] test` commands; JUnit reports (`[pipeline] junit`) summed
    ///   scan        secret scan of the source and the artifact, `shipgate migrate lint`, and
    ///               the `[pipeline] scan` commands, whose SARIF output becomes findings
    ///               (`error` results stop the pipeline)
    ///   stage       migration rehearsal (with `--rehearse-database`), the release recorded
    ///               (signed, with its evidence and change log entry), then each environment
    ///               the target requires: deployed, rolled back and deployed again
    ///   approve     the target's deployment is started: gates and windows, then the wait
    ///               for its approvals
    ///   production  the progressive rollout with analysis, bake and automatic rollback
    ///
    /// Commands run in shipgate.toml's folder; their output goes to the run's log,
    /// `.shipgate/pipeline/logs/RUN.log`, and what succeeded to `.shipgate/pipeline/COMMIT.json`.
    /// On a failure the end of the stage's log is shown. The working tree must be clean
    /// (committed), since the release is recorded as built from the commit.
    ///
    /// Exits 0 when every stage succeeded, 1 when a stage stopped the pipeline, 2 on a usage
    /// error (not in a git repository, uncommitted changes, unknown `--to`).
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP, disable_version_flag = true, verbatim_doc_comment)]
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The last environment to deploy to. Default: `production`, else the environment that no
    /// other requires. The environments it requires (directly or not) are the `stage` stage's.
    #[arg(long, value_name = "ENV")]
    pub to: Option<String>,
    /// Skip the stages that already succeeded for this commit and version (a deployment that
    /// was waiting for approval is waited for again, not started again).
    #[arg(long)]
    pub resume: bool,
    /// The release's version label. Default: the tag on HEAD, else `git-` and the commit's
    /// first 12 hex digits.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// The project's shipgate.toml, in a git repository; commands run in its folder.
    #[arg(long, short = 'f', env = env_vars::SHIPGATE_FILE, default_value = shipgate_spec::FILE_NAME)]
    pub file: PathBuf,
    #[command(flatten)]
    pub signing: super::release::SignArgs,
    /// Rehearse the migrations against this database (a copy of production's) before the
    /// release is recorded; production refuses migrations without a rehearsal (SG0501).
    #[arg(long, value_name = "URL")]
    pub rehearse_database: Option<String>,
    /// How long the approve stage (or a staging environment) waits for approvals.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = super::migrate::parse_duration)]
    pub approval_timeout: std::time::Duration,
    /// Run although the working tree has uncommitted changes: the release gets a version of
    /// its own (`…-dirty.SECONDS`) and nothing can be resumed.
    #[arg(long, conflicts_with = "resume")]
    pub allow_dirty: bool,
    /// `human`: the stage list on standard error. `json`: one JSON event per line on standard
    /// output (`pipeline_started`, `stage_started`, `progress`, `stage_skipped`,
    /// `stage_finished`, `pipeline_finished`).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(args: PipelineArgs, out: &Output) -> Result<ExitStatus, Failure> {
    match args.command {
        PipelineCommand::Run(run_args) => run_pipeline(&run_args, out),
    }
}

fn run_pipeline(args: &RunArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let mut cx = context(args)?;
    let previous = RunState::load(&cx.state_path);
    let target = cx.route.as_ref().map_or_else(|| args.to.clone().unwrap_or_default(), |route| route.target.clone());
    let mut state = RunState::start(previous, args.resume && !args.allow_dirty, &cx.commit, &cx.version, &target);
    let mut reporter = Reporter::new(out, args.format, std::io::stderr().is_terminal());
    let path: Vec<String> = cx
        .route
        .as_ref()
        .map_or_else(Vec::new, |route| route.before.iter().chain(std::iter::once(&route.target)).cloned().collect());
    reporter.begin(&cx.commit, &cx.version, &path, &cx.log.path);
    let started = Instant::now();
    for stage in StageId::ALL {
        let label = label(stage, cx.route.as_ref());
        if let Some(done) = state.succeeded(stage).filter(|_| args.resume) {
            reporter.skipped(stage, &label, &format!("done in run {}: {}", done.run, done.summary));
            continue;
        }
        if stage != StageId::Source && cx.spec.is_none() {
            // Did not load before the run (the source stage has reported why, unless it was
            // skipped on resume): loading it now stops with the reason.
            let loaded = super::validate::load_spec(&cx.file)?;
            use_spec(&mut cx, loaded)?;
        }
        reporter.started(stage, &label);
        cx.log.line(&format!("\n== {label} =="));
        let offset = cx.log.offset();
        let stage_started = Instant::now();
        let result = stages::run(stage, &mut cx, &mut state, &mut |detail| reporter.progress(stage, &label, detail));
        let seconds = stage_started.elapsed().as_secs_f64();
        let (status, summary, output, report) = match result {
            Ok(done) => (StageStatus::Succeeded, done.summary, done.output, Vec::new()),
            Err(Stopped { summary, mut report, output }) => {
                if report.is_empty() {
                    report = cx.log.tail(offset, 15);
                }
                (StageStatus::Failed, summary, output, report)
            }
        };
        cx.log.line(&format!("== {label}: {status:?} after {seconds:.1}s: {summary}"));
        let succeeded = status == StageStatus::Succeeded;
        reporter.finished(stage, &label, succeeded, seconds, &summary, &report);
        state.record(StageRecord { stage, status, run: cx.run.clone(), seconds, summary: summary.clone(), output });
        save(&state, &cx.state_path, out);
        if !succeeded {
            reporter.end(false, Some(stage), started.elapsed().as_secs_f64(), &cx.log.path);
            return Err(stopped_at(stage, &summary, &cx.log.path));
        }
    }
    reporter.end(true, None, started.elapsed().as_secs_f64(), &cx.log.path);
    Ok(ExitStatus::Success)
}

/// Everything known before the first stage: the commit, the version, the run's log and,
/// when shipgate.toml is valid, the environments to go through.
fn context(args: &RunArgs) -> Result<Context<'_>, Failure> {
    let exe =
        std::env::current_exe().map_err(|error| Failure::internal(anyhow!(error).context("cannot find shipgate")))?;
    let file = std::path::absolute(&args.file)
        .map_err(|error| Failure::usage(anyhow!("`{}`: {error}", args.file.display())))?;
    let folder = file.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let commit = super::release::git_head(&folder).ok_or_else(|| {
        Failure::usage(anyhow!("`{}` is not in a git repository with a commit", folder.display()))
            .hint("the pipeline releases a commit: `git init`, add and commit the project first")
    })?;
    let dirty = uncommitted_changes(&folder);
    if dirty && !args.allow_dirty {
        return Err(Failure::usage(anyhow!("the working tree in `{}` has uncommitted changes", folder.display()))
            .hint("commit them (the release is recorded as built from the commit), or pass `--allow-dirty`"));
    }
    let short = &commit[..commit.len().min(12)];
    let version = match (&args.version, dirty) {
        (Some(version), _) => version.clone(),
        (None, false) => shipgate_changelog::git::tag_at_head(&folder).unwrap_or_else(|| format!("git-{short}")),
        (None, true) => format!("git-{short}-dirty.{}", jiff::Timestamp::now().as_second()),
    };
    super::release::check_version(&version)?;
    let client = Client::new(&args.connect)?;
    let run = format!("{}-{short}", jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"));
    let state_path = RunState::path(&folder, &commit);
    let log_path = folder.join(".shipgate").join("pipeline").join("logs").join(format!("{run}.log"));
    let log = Log::create(log_path.clone())
        .map_err(|error| Failure::usage(anyhow!("cannot create the log `{}`: {error}", log_path.display())))?;
    let mut cx =
        Context { args, exe, file, folder, spec: None, route: None, commit, version, client, log, run, state_path };
    // An invalid shipgate.toml is the source stage's to report, with every problem.
    if let Ok(loaded) = super::validate::load_spec(&cx.file) {
        use_spec(&mut cx, loaded)?;
    }
    Ok(cx)
}

/// Keeps the valid spec and the route through its environments.
fn use_spec(cx: &mut Context, loaded: super::validate::LoadedSpec) -> Result<(), Failure> {
    let route = route::route(&loaded.spec.environments, cx.args.to.as_deref()).map_err(|error| {
        Failure::usage(anyhow!("{error}")).hint("pass `--to ENV` with one of the `[environments.*]` in shipgate.toml")
    })?;
    cx.spec = Some(loaded.spec);
    cx.route = Some(route);
    Ok(())
}

/// Tracked files changed and not committed (untracked files are not part of the commit, and
/// build outputs usually are untracked).
fn uncommitted_changes(folder: &Path) -> bool {
    std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(folder)
        .output()
        .is_ok_and(|output| output.status.success() && !output.stdout.is_empty())
}

/// `stage (staging, qa)`, `production (live)`.
fn label(stage: StageId, route: Option<&self::route::Route>) -> String {
    match (stage, route) {
        (StageId::Stage, Some(route)) if !route.before.is_empty() => format!("stage ({})", route.before.join(", ")),
        (StageId::Approve | StageId::Production, Some(route)) if route.target != "production" => {
            format!("{} ({})", stage.title(), route.target)
        }
        _ => stage.title().to_owned(),
    }
}

fn save(state: &RunState, path: &Path, out: &Output) {
    if let Err(error) = state.save(path) {
        out.message(&format!(
            "warning: cannot record the run in `{}`: {error}; `--resume` will redo it\n",
            path.display()
        ));
    }
}

fn stopped_at(stage: StageId, summary: &str, log: &Path) -> Failure {
    let resume = match stage {
        StageId::Source | StageId::Build | StageId::Test | StageId::Scan => {
            "fix it and commit, then run the pipeline again"
        }
        _ => "once the cause is fixed, `shipgate pipeline run --resume` goes on from this stage",
    };
    Failure {
        status: ExitStatus::Refused,
        error: anyhow!("the pipeline stopped at the {} stage: {summary}", stage.title()),
        hint: Some(format!("{resume}; the whole output is in `{}`", log.display())),
    }
}
