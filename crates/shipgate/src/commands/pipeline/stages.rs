//! The seven stages. Each runs commands (the project's own, and shipgate's subcommands, so
//! that the pipeline does exactly what a person running them would) with their output in the
//! run's log, talks to the server for deployments, and ends with a one-line summary and the
//! outputs later stages need, or with why it stopped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shipgate_spec::Spec;

use super::report::{Log, Ran};
use super::route::Route;
use super::state::{RunState, StageId, StageRecord, StageStatus};
use crate::client::{Client, Deployment, Rollback, segment};
use crate::commands::show::printable;
use crate::commands::{plan, sarif};
use crate::exit::Failure;

/// What every stage works with.
pub struct Context<'a> {
    pub args: &'a super::RunArgs,
    pub exe: PathBuf,
    /// shipgate.toml, absolute.
    pub file: PathBuf,
    /// Its folder: commands run here.
    pub folder: PathBuf,
    /// Valid once the source stage succeeded.
    pub spec: Option<Spec>,
    pub route: Option<Route>,
    pub commit: String,
    pub version: String,
    pub client: Client,
    pub log: Log,
    pub run: String,
    pub state_path: PathBuf,
}

/// A stage that succeeded.
pub struct Done {
    pub summary: String,
    pub output: Value,
}

/// A stage that stopped the pipeline.
pub struct Stopped {
    pub summary: String,
    /// Lines that explain it; when empty, the end of the stage's log is shown instead.
    pub report: Vec<String>,
    pub output: Value,
}

impl Stopped {
    pub fn new(summary: impl Into<String>) -> Self {
        Stopped { summary: summary.into(), report: Vec::new(), output: Value::Null }
    }

    fn report(mut self, report: Vec<String>) -> Self {
        self.report = report;
        self
    }

    /// The failure's first line in the summary; its other lines and its hint in the report.
    fn from_failure(context: &str, failure: Failure) -> Self {
        let error = failure.error.to_string();
        let mut lines = error.lines();
        let first = lines.next().unwrap_or_default().to_owned();
        let mut report: Vec<String> = lines.map(str::to_owned).collect();
        report.extend(failure.hint.map(|hint| format!("hint: {hint}")));
        Stopped::new(format!("{context}: {first}")).report(report)
    }
}

pub type Progress<'p> = &'p mut dyn FnMut(&str);

/// Runs one stage.
pub fn run(stage: StageId, cx: &mut Context, state: &mut RunState, progress: Progress) -> Result<Done, Stopped> {
    match stage {
        StageId::Source => source(cx, progress),
        StageId::Build => build(cx, progress),
        StageId::Test => test(cx, progress),
        StageId::Scan => scan(cx, state, progress),
        StageId::Stage => stage_environments(cx, state, progress),
        StageId::Approve => approve(cx, state, progress),
        StageId::Production => production(cx, state, progress),
    }
}

impl Context<'_> {
    fn spec(&self) -> &Spec {
        self.spec.as_ref().expect("the spec is loaded once the source stage succeeded")
    }

    fn route(&self) -> &Route {
        self.route.as_ref().expect("the route is known once the source stage succeeded")
    }

    /// A shell command of the project's, run in its folder.
    fn shell(&self, command: &str) -> Command {
        let mut shell = Command::new("sh");
        shell.args(["-c", command]).current_dir(&self.folder);
        shell
    }

    /// One of shipgate's own commands.
    fn shipgate<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut own = Command::new(&self.exe);
        own.args(args).current_dir(&self.folder);
        own
    }

    /// Runs a command with its output in the log, showing `label` and its elapsed time.
    fn execute(&mut self, label: &str, command: Command, progress: Progress) -> Result<Ran, Stopped> {
        let mut tick = |_: Duration| progress(label);
        self.log.run(label, command, &mut tick).map_err(|error| Stopped::new(format!("cannot run `{label}`: {error}")))
    }

    /// Runs each of `commands` in turn; stops at the first that fails.
    fn each(&mut self, commands: &[String], what: &str, progress: Progress) -> Result<(), Stopped> {
        for command in commands {
            let ran = self.execute(command, self.shell(command), progress)?;
            if !ran.success() {
                return Err(Stopped::new(format!("{what} command `{command}` exited with {}", ran.code)));
            }
        }
        Ok(())
    }

    fn file_arg(&self) -> [std::ffi::OsString; 2] {
        ["--file".into(), self.file.clone().into_os_string()]
    }
}

fn source(cx: &mut Context, progress: Progress) -> Result<Done, Stopped> {
    let mut validate = vec!["validate".into()];
    validate.extend(cx.file_arg());
    let ran = cx.execute("shipgate validate", cx.shipgate(validate), progress)?;
    if !ran.success() {
        return Err(Stopped::new(format!("`{}` is not valid", cx.file.display())));
    }
    let lint = cx.spec.as_ref().map(|spec| spec.pipeline.lint.clone()).unwrap_or_default();
    cx.each(&lint, "lint", progress)?;
    Ok(Done { summary: format!("shipgate.toml valid, {} lint command(s) passed", lint.len()), output: json!({}) })
}

fn build(cx: &mut Context, progress: Progress) -> Result<Done, Stopped> {
    let commands = cx.spec().pipeline.build.clone();
    cx.each(&commands, "build", progress)?;
    let artifact = match &cx.spec().artifact.source {
        shipgate_spec::ArtifactSource::Path(path) => cx.folder.join(path),
        shipgate_spec::ArtifactSource::Image(image) => {
            return Err(Stopped::new(format!(
                "the artifact is the container image `{image}`, which the pipeline cannot release yet"
            )));
        }
    };
    progress("digesting the artifact");
    let digest = shipgate_artifact::digest(&artifact).map_err(|error| {
        Stopped::new(format!("the artifact `{}` is not there after the build: {error}", artifact.display())).report(
            vec![format!(
                "`[artifact] path` names it; `[pipeline] build` should make it ({} command(s) ran)",
                commands.len()
            )],
        )
    })?;
    // The key is checked now (readable, trusted) so that a bad one stops the build, not the release.
    let key = crate::commands::release::signing_key(&cx.args.signing, cx.spec())
        .map_err(|failure| Stopped::from_failure("the signing key cannot sign this release", failure))?;
    let signed = match &key {
        Some(key) => format!("to be signed by {}", key.key_id()),
        None => "not signed: production refuses unsigned releases (pass `--sign KEY`)".to_owned(),
    };
    let short = digest.digest.get(..19).unwrap_or(&digest.digest);
    Ok(Done {
        summary: format!("{} command(s); artifact {short}…, {signed}", commands.len()),
        output: json!({"artifact": artifact, "digest": digest.digest, "key_id": key.map(|key| key.key_id().to_string())}),
    })
}

fn test(cx: &mut Context, progress: Progress) -> Result<Done, Stopped> {
    let commands = cx.spec().pipeline.test.clone();
    if commands.is_empty() {
        return Ok(Done {
            summary: "no `[pipeline] test` declared: production's gates refuse a release without test evidence".into(),
            output: json!({"exit_code": null, "junit": []}),
        });
    }
    // Only reports this run writes count: older ones describe other code. File times are
    // coarser than the clock, so "written since the start" is judged by comparing each
    // report's modification time before and after the run, not with the start time.
    let before = report_times(cx)?;
    let mut exit_code = 0;
    let mut failed = None;
    for command in &commands {
        let ran = cx.execute(command, cx.shell(command), progress)?;
        if !ran.success() {
            (exit_code, failed) = (ran.code, Some(command.clone()));
            break;
        }
    }
    let reports: Vec<PathBuf> = report_times(cx)?
        .into_iter()
        .filter(|(path, modified)| before.get(path) != Some(modified))
        .map(|(path, _)| path)
        .collect();
    let junit = junit_summary(&reports)?;
    let output = json!({"exit_code": exit_code, "junit": reports});
    match failed {
        Some(command) => {
            Err(Stopped { summary: format!("`{command}` exited with {exit_code}{junit}"), report: Vec::new(), output })
        }
        None => Ok(Done { summary: format!("{} command(s) passed{junit}", commands.len()), output }),
    }
}

/// The JUnit reports matching `[pipeline] junit` now, with their modification times.
fn report_times(cx: &Context) -> Result<std::collections::BTreeMap<PathBuf, std::time::SystemTime>, Stopped> {
    let Some(pattern) = &cx.spec().pipeline.junit else { return Ok(Default::default()) };
    let reports = crate::commands::release::find_reports(&cx.folder, pattern)
        .map_err(|failure| Stopped::from_failure("the JUnit reports cannot be found", failure))?;
    Ok(reports
        .into_iter()
        .filter_map(|path| {
            let modified = std::fs::metadata(&path).and_then(|meta| meta.modified()).ok()?;
            Some((path, modified))
        })
        .collect())
}

/// `; JUnit: 120 tests, 2 failures, 0 errors, 1 skipped`, or nothing without reports.
fn junit_summary(reports: &[PathBuf]) -> Result<String, Stopped> {
    let mut sum: Option<shipgate_policy::JunitSummary> = None;
    for report in reports {
        let text = std::fs::read_to_string(report).unwrap_or_default();
        let summary = shipgate_policy::parse_junit(&text)
            .map_err(|error| Stopped::new(format!("`{}` is not a JUnit XML report: {error}", report.display())))?;
        sum = Some(sum.map_or(summary, |total| total + summary));
    }
    Ok(sum.map_or_else(String::new, |sum| {
        format!(
            "; JUnit: {} tests, {} failures, {} errors, {} skipped",
            sum.tests, sum.failures, sum.errors, sum.skipped
        )
    }))
}

fn scan(cx: &mut Context, state: &RunState, progress: Progress) -> Result<Done, Stopped> {
    let artifact = artifact_of(state)?;
    let mut secret_scan = vec!["scan".into(), cx.folder.clone().into_os_string(), "--artifact".into(), artifact.into()];
    secret_scan.extend(cx.file_arg());
    let ran = cx.execute("shipgate scan (source and artifact)", cx.shipgate(secret_scan), progress)?;
    match ran.code {
        0 => {}
        1 => return Err(Stopped::new("the secret scan found secrets (SG0601/SG0602 refuse the release)")),
        code => return Err(Stopped::new(format!("the secret scan could not run (exit status {code})"))),
    }
    let mut parts = vec!["no secrets".to_owned()];
    if cx.spec().migrations.is_some() {
        let mut lint = vec!["migrate".into(), "lint".into()];
        lint.extend(cx.file_arg());
        let ran = cx.execute("shipgate migrate lint", cx.shipgate(lint), progress)?;
        if !ran.success() {
            return Err(Stopped::new("the migration lint found problems"));
        }
        parts.push("migrations lint clean".to_owned());
    }
    let scanners = cx.spec().pipeline.scan.clone();
    let mut findings = Vec::new();
    let mut logs = Vec::new();
    for (index, command) in scanners.iter().enumerate() {
        let (found, log) = run_scanner(cx, index, command, progress)?;
        findings.extend(found);
        logs.push(log);
    }
    let count = |level| findings.iter().filter(|finding: &&sarif::Finding| finding.level == level).count();
    let (denied, warned) = (count(sarif::Level::Error), count(sarif::Level::Warning));
    // The SARIF logs go with the release (`release create --sarif`), for SG0110.
    let output = json!({"findings": findings, "sarif": logs});
    if !scanners.is_empty() {
        parts.push(format!("{} scanner(s): {denied} error(s), {warned} warning(s)", scanners.len()));
    }
    if denied > 0 {
        let report = findings
            .iter()
            .filter(|finding| finding.level == sarif::Level::Error)
            .take(20)
            .map(|finding| {
                let at = finding.location.as_deref().map(|at| format!(" at {at}")).unwrap_or_default();
                format!("{} {}{at}: {}", finding.tool, finding.rule, printable(&finding.message))
            })
            .collect();
        return Err(Stopped { summary: format!("scanners reported {denied} error(s)"), report, output });
    }
    Ok(Done { summary: parts.join("; "), output })
}

/// Runs a declared scanner with its standard output kept as a SARIF file beside the log.
fn run_scanner(
    cx: &mut Context,
    index: usize,
    command: &str,
    progress: Progress,
) -> Result<(Vec<sarif::Finding>, PathBuf), Stopped> {
    let sarif_path = cx.log.path.with_extension(format!("scan-{}.sarif", index + 1));
    let file = std::fs::File::create(&sarif_path)
        .map_err(|error| Stopped::new(format!("cannot create `{}`: {error}", sarif_path.display())))?;
    let mut scanner = cx.shell(command);
    scanner.stdout(file);
    let mut tick = |_: Duration| progress(command);
    let ran = cx
        .log
        .run_with_stdout(command, scanner, &mut tick)
        .map_err(|error| Stopped::new(format!("cannot run `{command}`: {error}")))?;
    let text = std::fs::read_to_string(&sarif_path).unwrap_or_default();
    cx.log.line(&format!("# SARIF output in {}", sarif_path.display()));
    // Scanners often exit non-zero when they find something: the SARIF log is what counts.
    let findings = sarif::findings(&text).map_err(|why| {
        let status = if ran.success() { String::new() } else { format!(" (it exited with {})", ran.code) };
        Stopped::new(format!("scanner `{command}` wrote no SARIF log to standard output{status}: {why}"))
    })?;
    Ok((findings, sarif_path))
}

fn artifact_of(state: &RunState) -> Result<String, Stopped> {
    state.output(StageId::Build)["artifact"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Stopped::new("the build stage recorded no artifact: run without `--resume`"))
}

fn stage_environments(cx: &mut Context, state: &mut RunState, progress: Progress) -> Result<Done, Stopped> {
    let mut notes = Vec::new();
    if cx.spec().migrations.is_some() {
        notes.push(rehearse_migrations(cx, progress)?);
    }
    let changelog = changelog_entry(cx);
    create_release(cx, state, changelog.as_deref(), progress)?;
    notes.insert(0, format!("release {} recorded", cx.version));
    let mut environments = Vec::new();
    for env in cx.route().before.clone() {
        let deployed = deploy(cx, &env, progress)?;
        let rehearsal = match &deployed {
            Some(deployment) => rehearse_rollback(cx, &env, deployment, progress)?,
            None => json!({"skipped": format!("`{env}` already ran {}", cx.version)}),
        };
        let said = match (&rehearsal["rolled_back_to"], &rehearsal["skipped"]) {
            (Value::String(to), _) => format!("{env}: deployed, rolled back to {to} and deployed again"),
            (_, Value::String(why)) => format!("{env}: deployed (no rollback rehearsal: {why})"),
            _ => format!("{env}: deployed"),
        };
        notes.push(said);
        environments.push(json!({"environment": env, "deployment": deployed.map(|d| d.id), "rehearsal": rehearsal}));
    }
    if cx.route().before.is_empty() {
        notes.push(format!("no environment comes before `{}`", cx.route().target));
    }
    Ok(Done { summary: notes.join("; "), output: json!({"release": cx.version, "environments": environments}) })
}

fn rehearse_migrations(cx: &mut Context, progress: Progress) -> Result<String, Stopped> {
    let Some(database) = cx.args.rehearse_database.clone() else {
        return Ok("migrations not rehearsed here (no `--rehearse-database`)".to_owned());
    };
    let mut rehearse = vec!["migrate".into(), "rehearse".into(), "--database".into(), database.into()];
    rehearse.extend(cx.file_arg());
    let ran = cx.execute("shipgate migrate rehearse", cx.shipgate(rehearse), progress)?;
    if !ran.success() {
        return Err(Stopped::new("the migration rehearsal failed"));
    }
    Ok("migrations rehearsed".to_owned())
}

/// The change log entry of this release (the commits since the one the target runs), in a
/// file for `release create --changelog`; `None` (said in the log) when there is none.
fn changelog_entry(cx: &mut Context) -> Option<PathBuf> {
    let target = cx.route().target.clone();
    let since = match crate::commands::changelog::running_commit_in(&cx.client, &target) {
        Ok((since, _)) => since,
        Err(failure) => {
            cx.log.line(&format!("# no change log entry: {}", failure.error));
            return None;
        }
    };
    let commits = match shipgate_changelog::git::commits(&cx.folder, since.as_deref()) {
        Ok(commits) if !commits.is_empty() => commits,
        Ok(_) => {
            cx.log.line("# no change log entry: no commits since the release the target runs");
            return None;
        }
        Err(error) => {
            cx.log.line(&format!("# no change log entry: {error}"));
            return None;
        }
    };
    let date = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now()).date().to_string();
    let entry = shipgate_changelog::Entry::new(&cx.version, Some(&date), &commits);
    let path = cx.state_path.with_extension("changelog.md");
    let text = entry.render();
    cx.log.line(&format!("# change log entry ({} commit(s)):\n{text}", commits.len()));
    std::fs::write(&path, text).ok().map(|()| path)
}

/// `shipgate release create` with what the earlier stages found, then a check that the
/// release holds the artifact the build stage digested.
fn create_release(
    cx: &mut Context,
    state: &RunState,
    changelog: Option<&Path>,
    progress: Progress,
) -> Result<(), Stopped> {
    let artifact = artifact_of(state)?;
    let mut create: Vec<std::ffi::OsString> =
        ["release", "create", "--version", &cx.version, "--commit", &cx.commit].into_iter().map(Into::into).collect();
    create.extend(cx.file_arg());
    create.extend(["--artifact".into(), artifact.into()]);
    let tests = state.output(StageId::Test);
    match tests["exit_code"].as_i64() {
        Some(code) => {
            create.extend(["--test-exit".into(), code.to_string().into()]);
            for report in tests["junit"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                create.extend(["--junit".into(), report.into()]);
            }
        }
        None => create.push("--no-tests".into()),
    }
    if let Some(key) = &cx.args.signing.sign {
        create.extend(["--sign".into(), key.clone().into_os_string()]);
    }
    if let Some(password) = &cx.args.signing.password_file {
        create.extend(["--password-file".into(), password.clone().into_os_string()]);
    }
    if let Some(path) = changelog {
        create.extend(["--changelog".into(), path.as_os_str().to_owned()]);
    }
    for log in state.output(StageId::Scan)["sarif"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        create.extend(["--sarif".into(), log.into()]);
    }
    if let Some(dir) = &cx.args.store.data_dir {
        create.extend(["--data-dir".into(), dir.clone().into_os_string()]);
    }
    if let Some(database) = &cx.args.store.database {
        create.extend(["--database".into(), database.into()]);
    }
    let ran = cx.execute("shipgate release create", cx.shipgate(create), progress)?;
    if !ran.success() {
        return Err(Stopped::new(format!("`shipgate release create` for {} failed", cx.version)));
    }
    let built = state.output(StageId::Build)["digest"].as_str().unwrap_or_default().to_owned();
    let release: Value = cx
        .client
        .get(&format!("/releases/{}", segment(&cx.version)), &[])
        .map_err(|error| Stopped::from_failure("the server does not show the new release", error.into()))?;
    if release["digest"].as_str() != Some(built.as_str()) {
        return Err(Stopped::new(format!(
            "release {} holds {} but the build stage made {built}: the artifact changed in between",
            cx.version, release["digest"]
        ))
        .report(vec!["run the pipeline again without `--resume`, or give the build a new `--version`".into()]));
    }
    Ok(())
}

/// Plans and starts a deployment of this release to `env`; `None` when `env` already runs it.
fn start_deployment(cx: &mut Context, env: &str) -> Result<Option<Deployment>, Stopped> {
    let (plan, _) = plan::fetch(&cx.client, env, &cx.version, &plan::OverrideArgs::default())
        .map_err(|failure| Stopped::from_failure(&format!("cannot plan the deployment to `{env}`"), failure))?;
    if plan.no_op.is_some() {
        return Ok(None);
    }
    if let Some(refusal) = plan::refusal(&plan) {
        return Err(Stopped::from_failure(&format!("`{env}` refuses {}", cx.version), refusal));
    }
    let body = json!({"version": cx.version, "plan_digest": plan.digest, "overrides": []});
    let answer: Value = cx
        .client
        .post(&format!("/environments/{}/deployments", segment(env)), &body, false)
        .map_err(|error| Stopped::from_failure(&format!("`{env}` refuses {}", cx.version), error.into()))?;
    if answer.get("no_op").is_some() {
        return Ok(None);
    }
    let deployment: Deployment = serde_json::from_value(answer)
        .map_err(|error| Stopped::new(format!("the server's answer is not a deployment: {error}")))?;
    cx.log.line(&format!("# deployment {} of {} to {env} started", deployment.id, cx.version));
    Ok(Some(deployment))
}

/// Deploys to `env` and waits for the end; stops unless it succeeded.
fn deploy(cx: &mut Context, env: &str, progress: Progress) -> Result<Option<Deployment>, Stopped> {
    let Some(deployment) = start_deployment(cx, env)? else {
        cx.log.line(&format!("# `{env}` already runs {}", cx.version));
        return Ok(None);
    };
    let ended = wait(cx, &deployment.id, Until::End, progress)?;
    succeeded(cx, &ended)?;
    Ok(Some(ended))
}

fn succeeded(cx: &mut Context, deployment: &Deployment) -> Result<(), Stopped> {
    if deployment.status == "succeeded" { Ok(()) } else { Err(unsuccessful(cx, deployment)) }
}

/// Why a deployment that ended otherwise than `succeeded` stops the pipeline.
fn unsuccessful(cx: &mut Context, deployment: &Deployment) -> Stopped {
    let reason = deployment.reason.as_deref().map(|reason| format!(": {}", printable(reason))).unwrap_or_default();
    let mut report: Vec<String> = deployment
        .steps
        .iter()
        .filter(|step| step.state == "failed")
        .map(|step| {
            format!("step {} `{}` failed: {}", step.index, step.description, step.detail.as_deref().unwrap_or("-"))
        })
        .collect();
    report.push(format!(
        "`shipgate checklist {}` and `shipgate history {}` show more",
        deployment.id, deployment.environment
    ));
    cx.log.line(&format!("# deployment {} {}{reason}", deployment.id, deployment.status));
    Stopped {
        summary: format!(
            "deployment {} of {} to `{}` {}{reason}",
            deployment.id, deployment.version, deployment.environment, deployment.status
        ),
        report,
        output: json!({"deployment": deployment.id}),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Until {
    /// The deployment has ended.
    End,
    /// It no longer waits for approval.
    Approved,
}

/// Polls the deployment until `until`, showing its current step.
fn wait(cx: &mut Context, id: &str, until: Until, progress: Progress) -> Result<Deployment, Stopped> {
    let path = format!("/deployments/{}", segment(id));
    let started = Instant::now();
    let mut unreachable_since: Option<Instant> = None;
    loop {
        match cx.client.get::<Deployment>(&path, &[]) {
            Ok(deployment) => {
                unreachable_since = None;
                let waiting = deployment.status == "awaiting_approval";
                if deployment.is_final() || deployment.status == "rejected" || (until == Until::Approved && !waiting) {
                    return Ok(deployment);
                }
                if waiting && started.elapsed() > cx.args.approval_timeout {
                    return Err(Stopped::new(format!(
                        "deployment {id} was not approved within {}s; it still waits",
                        cx.args.approval_timeout.as_secs()
                    ))
                    .report(vec![format!("`shipgate approve {id}`, then `shipgate pipeline run --resume` goes on")]));
                }
                progress(&describe(&deployment));
            }
            Err(error) if error.is_transient() => {
                if unreachable_since.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(60) {
                    return Err(Stopped::from_failure("lost the server", error.into()));
                }
                progress("the server does not answer; trying again");
            }
            Err(error) => return Err(Stopped::from_failure(&format!("cannot follow deployment {id}"), error.into())),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `staging: step 3/7 shift traffic — 20% → v2`
fn describe(deployment: &Deployment) -> String {
    if deployment.status == "awaiting_approval" {
        return format!(
            "{}: deployment {} awaits approval (`shipgate approve {}`)",
            deployment.environment, deployment.id, deployment.id
        );
    }
    match deployment.steps.iter().find(|step| step.state == "running") {
        Some(step) => format!(
            "{}: step {}/{} {}  {}",
            deployment.environment,
            step.index + 1,
            deployment.steps.len(),
            step.description,
            step.detail.as_deref().unwrap_or_default()
        ),
        None => format!("{}: deployment {} {}", deployment.environment, deployment.id, deployment.status),
    }
}

/// Rolls `env` back from this release and deploys it again: proof that the rollback path
/// works, which the post-deployment checklist looks for later.
fn rehearse_rollback(cx: &mut Context, env: &str, deployed: &Deployment, progress: Progress) -> Result<Value, Stopped> {
    let Some(previous) = deployed.from_version.clone() else {
        return Ok(json!({"skipped": format!("`{env}` ran nothing before")}));
    };
    progress(&format!("{env}: rollback rehearsal, back to {previous}"));
    let body = json!({"reason": format!("pipeline: rollback rehearsal of {}", cx.version)});
    let rollback: Rollback =
        cx.client.post(&format!("/environments/{}/rollback", segment(env)), &body, false).map_err(|error| {
            Stopped::from_failure(&format!("the rollback rehearsal in `{env}` was refused"), error.into())
        })?;
    if let Some(deployment) = &rollback.deployment {
        let ended = wait(cx, &deployment.id, Until::End, progress)?;
        succeeded(cx, &ended).map_err(|stopped| Stopped {
            summary: format!("the rollback rehearsal in `{env}` failed: {}", stopped.summary),
            ..stopped
        })?;
    }
    cx.log.line(&format!("# rolled `{env}` back to {previous} ({})", rollback.mode));
    progress(&format!("{env}: rolled back to {previous}; deploying {} again", cx.version));
    let again = deploy(cx, env, progress)?;
    Ok(json!({"rolled_back_to": previous, "mode": rollback.mode, "elapsed_ms": rollback.elapsed_ms,
              "redeployed": again.map(|deployment| deployment.id)}))
}

fn approve(cx: &mut Context, state: &mut RunState, progress: Progress) -> Result<Done, Stopped> {
    let target = cx.route().target.clone();
    let started = Instant::now();
    let deployment = match pending_deployment(cx, state) {
        Some(deployment) => deployment,
        None => match start_deployment(cx, &target)? {
            Some(deployment) => deployment,
            None => {
                return Ok(Done {
                    summary: format!("`{target}` already runs {}: nothing to approve", cx.version),
                    output: json!({"no_op": true}),
                });
            }
        },
    };
    // Kept now, so that an interrupted run resumes waiting for this deployment.
    state.record(StageRecord {
        stage: StageId::Approve,
        status: StageStatus::Failed,
        run: cx.run.clone(),
        seconds: 0.0,
        summary: format!("waiting for deployment {}", deployment.id),
        output: json!({"deployment": deployment.id}),
    });
    let _ = state.save(&cx.state_path);
    let needed = deployment.status == "awaiting_approval";
    let now = wait(cx, &deployment.id, Until::Approved, progress)
        .map_err(|stopped| Stopped { output: json!({"deployment": deployment.id}), ..stopped })?;
    let output = json!({"deployment": now.id});
    match now.status.as_str() {
        "rejected" => Err(Stopped {
            summary: format!(
                "deployment {} was rejected: {}",
                now.id,
                now.reason.as_deref().map(printable).unwrap_or_default()
            ),
            report: Vec::new(),
            output,
        }),
        _ if now.is_final() && now.status != "succeeded" => Err(unsuccessful(cx, &now)),
        _ if needed => Ok(Done {
            summary: format!(
                "deployment {} approved after {:.0}s; windows open",
                now.id,
                started.elapsed().as_secs_f64()
            ),
            output,
        }),
        _ => Ok(Done { summary: format!("no approval required for `{target}`; windows open"), output }),
    }
}

/// The deployment an interrupted approve stage was waiting for, while it has not ended.
fn pending_deployment(cx: &Context, state: &RunState) -> Option<Deployment> {
    let id = state.output(StageId::Approve)["deployment"].as_str()?.to_owned();
    let deployment: Deployment = cx.client.get(&format!("/deployments/{}", segment(&id)), &[]).ok()?;
    (!deployment.is_final() && deployment.status != "rejected").then_some(deployment)
}

fn production(cx: &mut Context, state: &mut RunState, progress: Progress) -> Result<Done, Stopped> {
    let approved = state.output(StageId::Approve).clone();
    if approved["no_op"] == true {
        return Ok(Done {
            summary: format!("`{}` already runs {}", cx.route().target, cx.version),
            output: json!({"no_op": true}),
        });
    }
    let Some(id) = approved["deployment"].as_str().map(str::to_owned) else {
        return Err(Stopped::new("the approve stage recorded no deployment: run without `--resume`"));
    };
    let ended = wait(cx, &id, Until::End, progress)?;
    succeeded(cx, &ended)?;
    let checklist: Value = cx.client.get(&format!("/deployments/{}/checklist", segment(&id)), &[]).unwrap_or_default();
    let summary = checklist["summary"].as_str().map(|summary| format!("; {summary}")).unwrap_or_default();
    Ok(Done {
        summary: format!("{} runs in `{}` (deployment {id}){summary}", cx.version, ended.environment),
        output: json!({"deployment": id, "checklist": checklist["items"]}),
    })
}
