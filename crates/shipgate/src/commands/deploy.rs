//! `shipgate deploy ENV VERSION`, `deploy resume ID`, `deploy abort ID`: start a deployment of
//! exactly the plan shown, and follow it live until it ends.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde_json::json;

use super::plan;
use super::show::{self, printable};
use crate::cli::Format;
use crate::client::{ApiError, Client, ConnectArgs, Deployment, Event, FINAL_STATUSES, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;
use crate::sse;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub command: Option<DeployCommand>,
    /// The environment, e.g. `production`.
    #[arg(required = true)]
    pub env: Option<String>,
    /// The release to deploy, by version label.
    #[arg(required = true)]
    pub version: Option<String>,
    /// When another deployment of ENV is running, wait for it to end (checking every 500 ms),
    /// then plan again and deploy, instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// `human` (progress on standard error), or `json`: each event as one JSON line on
    /// standard output.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub overrides: plan::OverrideArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Continue a paused deployment (a manual promotion step), and follow it to its end.
    ///
    /// Exits 0 when the deployment then succeeds, 1 when it is rolled back, fails or is aborted,
    /// or when it was not paused.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Resume(ResumeArgs),
    /// Stop a running or paused deployment: traffic goes back to the stable release, the new
    /// instances are stopped.
    ///
    /// Waits until the rollback is done. Exits 0 once the deployment is aborted.
    #[command(after_help = crate::cli::CLIENT_AFTER_HELP)]
    Abort(AbortArgs),
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The deployment's id, as `deploy`, `status` and `history` show it.
    pub id: String,
    /// `human`, or `json`: each event as one JSON line on standard output.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct AbortArgs {
    /// The deployment's id, as `deploy`, `status` and `history` show it.
    pub id: String,
    /// Why, for the deployment's record and the audit ledger.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(args: DeployArgs, out: &Output) -> Result<ExitStatus, Failure> {
    match args.command {
        Some(DeployCommand::Resume(resume_args)) => resume(&resume_args, out),
        Some(DeployCommand::Abort(abort_args)) => abort(&abort_args, out),
        None => match (&args.env, &args.version) {
            (Some(env), Some(version)) => start(&args, env, version, out),
            _ => Err(Failure::usage(anyhow!("`shipgate deploy` needs an environment and a version"))
                .hint("`shipgate deploy ENV VERSION`, or `shipgate deploy resume|abort ID`")),
        },
    }
}

/// How many times a plan that changed between `plan` and `deploy` is made again under `--wait`.
const REPLANS: u32 = 3;

fn start(args: &DeployArgs, env: &str, version: &str, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let mut shown_digest: Option<String> = None;
    let mut queued_behind: Option<String> = None;
    let mut replans = 0;
    loop {
        let (plan, _) = plan::fetch(&client, env, version, &args.overrides)?;
        if shown_digest.as_deref() != Some(plan.digest.as_str()) {
            out.message(&plan::brief(&plan));
            shown_digest = Some(plan.digest.clone());
        }
        if let Some(refusal) = plan::refusal(&plan) {
            return Err(refusal);
        }
        let path = format!("/environments/{}/deployments", segment(env));
        let body = json!({ "version": version, "plan_digest": plan.digest, "overrides": args.overrides.json() });
        match client.post::<serde_json::Value>(&path, &body, false) {
            Ok(answer) => {
                if let Some(reason) = answer.get("no_op").and_then(serde_json::Value::as_str) {
                    match args.format {
                        Format::Json => out.data(&format!("{}\n", answer))?,
                        Format::Human => out.data(&format!("nothing to do: {}\n", printable(reason)))?,
                    }
                    return Ok(ExitStatus::Success);
                }
                let deployment = deployment_from(answer)?;
                out.message(&format!("started deployment {}\n", printable(&deployment.id)));
                return follow(&client, out, args.format, &deployment);
            }
            Err(error) if error.is("deployment_in_progress") && args.wait => {
                wait_for_running(&client, env, &mut queued_behind, out)?;
            }
            Err(error) if error.is("plan_changed") && args.wait && replans < REPLANS => replans += 1,
            Err(error) => return Err(deploy_failure(error, env, version)),
        }
    }
}

fn deploy_failure(error: ApiError, env: &str, version: &str) -> Failure {
    let default_hint = if error.is("deployment_in_progress") {
        Some(format!(
            "wait for it with `shipgate deploy {env} {version} --wait`, or watch it with `shipgate status {env}`"
        ))
    } else if error.is("plan_changed") {
        Some(format!("`{env}` changed since the plan was made: run the command again to see the new plan"))
    } else {
        None
    };
    let mut failure = Failure::from(error);
    if failure.hint.is_none() {
        failure.hint = default_hint;
    }
    failure
}

fn deployment_from(body: serde_json::Value) -> Result<Deployment, Failure> {
    serde_json::from_value(body).map_err(|error| {
        Failure::internal(anyhow!("the server's deployment is not what this shipgate expects: {error}"))
            .hint("are the server and this command the same shipgate version? `shipgate --version` tells")
    })
}

/// How often a waiting command asks the server again.
const POLL: Duration = Duration::from_millis(500);
/// How long an event stream may stay silent before it is taken for dead and opened again (the
/// server sends a keep-alive comment every 15 s; reopening costs nothing, it resumes after the
/// last event seen).
const STREAM_IDLE: Duration = Duration::from_secs(60);
/// How long a lost server may take to come back before a command gives up on it.
const RECONNECT_WINDOW: Duration = Duration::from_secs(60);

/// Call `request` until it answers, retrying while the server is unreachable or restarting, for
/// up to a minute.
fn patiently<T>(mut request: impl FnMut() -> Result<T, ApiError>) -> Result<T, ApiError> {
    let began = Instant::now();
    loop {
        match request() {
            Err(error) if error.is_transient() && began.elapsed() < RECONNECT_WINDOW => std::thread::sleep(POLL),
            outcome => return outcome,
        }
    }
}

/// Wait until the deployment running in `env` ends, saying once what we wait behind.
fn wait_for_running(
    client: &Client,
    env: &str,
    queued_behind: &mut Option<String>,
    out: &Output,
) -> Result<(), Failure> {
    let path = format!("/environments/{}", segment(env));
    let status: crate::client::EnvironmentStatus = patiently(|| client.get(&path, &[]))?;
    let Some(running) = status.deployment else {
        // It ended between our request and this one: try again.
        std::thread::sleep(POLL);
        return Ok(());
    };
    if queued_behind.as_deref() != Some(running.id.as_str()) {
        out.message(&format!(
            "queued behind deployment {} ({} of `{}`, started by {}); waiting for it to end\n",
            printable(&running.id),
            printable(&running.version),
            printable(&running.environment),
            printable(running.actor.as_deref().unwrap_or("unknown")),
        ));
        *queued_behind = Some(running.id.clone());
    }
    let path = format!("/deployments/{}", segment(&running.id));
    loop {
        let deployment: Deployment = patiently(|| client.get(&path, &[]))?;
        if deployment.is_final() {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

fn resume(args: &ResumeArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let path = format!("/deployments/{}/resume", segment(&args.id));
    let deployment = match client.post::<serde_json::Value>(&path, &json!({}), false) {
        Ok(answer) => deployment_from(answer)?,
        Err(error) => {
            let not_paused = error.is("not_paused");
            let mut failure = Failure::from(error);
            if not_paused && failure.hint.is_none() {
                failure.hint =
                    Some("only a paused deployment can be resumed; `shipgate status` shows each one's state".into());
            }
            return Err(failure);
        }
    };
    out.message(&format!("resumed deployment {}\n", printable(&deployment.id)));
    follow(&client, out, args.format, &deployment)
}

fn abort(args: &AbortArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let path = format!("/deployments/{}", segment(&args.id));
    let current: Deployment = client.get(&path, &[])?;
    let (id, env) = (printable(&current.id), printable(&current.environment));
    if current.is_final() {
        return Err(Failure {
            status: ExitStatus::Refused,
            error: anyhow!("deployment {id} has already ended: {}", printable(&current.status)),
            hint: Some(format!("`shipgate rollback {}` returns `{env}` to the release before", current.environment)),
        });
    }
    let back_to = current.from_version.as_deref().map_or_else(|| "nothing".to_owned(), printable);
    out.message(&format!(
        "aborting deployment {id} of {} to `{env}`: waiting until traffic is back on {back_to}\n",
        printable(&current.version)
    ));
    let body = match &args.reason {
        Some(reason) => json!({ "reason": reason }),
        None => json!({}),
    };
    let answer = client.post::<serde_json::Value>(&format!("{path}/abort"), &body, true)?;
    let mut deployment = deployment_from(answer)?;
    // The server answers once the rollback is recorded, or after a while with the deployment
    // still rolling back: then wait for it here.
    while !deployment.is_final() {
        std::thread::sleep(POLL);
        deployment = patiently(|| client.get(&path, &[]))?;
    }
    if deployment.status != "aborted" {
        return Err(Failure {
            status: ExitStatus::Refused,
            error: anyhow!("deployment {id} ended {} before it could be aborted", printable(&deployment.status)),
            hint: Some(format!("`shipgate history {}` shows how it ended", current.environment)),
        });
    }
    out.data(&format!("aborted deployment {id}: `{env}` runs {back_to} again\n"))?;
    Ok(ExitStatus::Success)
}

/// Follow a deployment's events to its end, reconnecting for up to a minute when the stream
/// breaks, and exit 0 only when it succeeded.
pub fn follow(client: &Client, out: &Output, format: Format, deployment: &Deployment) -> Result<ExitStatus, Failure> {
    let mut display = Display::new(out, format, deployment);
    let events = format!("/deployments/{}/events", segment(&deployment.id));
    let record = format!("/deployments/{}", segment(&deployment.id));
    let mut last_seq = 0;
    // Since when the server has not answered, and whether the reader was told.
    let mut stuck_since: Option<Instant> = None;
    let mut told_lost = false;
    let mut looked_again = false;
    let last = loop {
        match client.stream(&events, &[("after", last_seq.to_string())], "text/event-stream", Some(STREAM_IDLE)) {
            Ok(reader) => {
                // The server answers: only time without one counts towards giving up.
                stuck_since = None;
                if std::mem::take(&mut told_lost) {
                    display.note(&format!("reconnected to {}", client.url()));
                }
                let mut stream = sse::Stream::new(reader);
                let before = last_seq;
                let mut last = None;
                // Until the final event, or the stream's end: the server stopped, or closed it early.
                while let Ok(Some(message)) = stream.next_message() {
                    let Ok(event) = serde_json::from_str::<Event>(&message.data) else { continue };
                    if event.seq <= last_seq {
                        continue; // seen before a reconnect
                    }
                    last_seq = event.seq;
                    display.event(&event, &message.data)?;
                    if FINAL_STATUSES.contains(&event.kind.as_str()) {
                        last = Some(event);
                        break;
                    }
                }
                if last.is_some() {
                    break last;
                }
                if last_seq > before {
                    continue; // ask again at once
                }
                // Nothing new: maybe it has ended. Then one more look picks up a final event
                // recorded just after the stream closed; without one, its record tells.
                if let Ok(current) = client.get::<Deployment>(&record, &[])
                    && current.is_final()
                {
                    if std::mem::replace(&mut looked_again, true) {
                        break None;
                    }
                    continue;
                }
            }
            Err(error) if error.is_transient() => {
                if !told_lost {
                    display.note(&format!(
                        "lost the connection to {} while following deployment {}; reconnecting for up to {}s",
                        client.url(),
                        printable(&deployment.id),
                        RECONNECT_WINDOW.as_secs()
                    ));
                    told_lost = true;
                }
            }
            Err(error) => {
                display.clear();
                return Err(error.into());
            }
        }
        if stuck_since.get_or_insert_with(Instant::now).elapsed() >= RECONNECT_WINDOW {
            display.clear();
            return Err(client.unreachable(None).hint(format!(
                "the deployment goes on without this command; `shipgate status {}` shows it once the server is back",
                deployment.environment
            )));
        }
        std::thread::sleep(POLL);
    };
    display.clear();
    // The deployment's record has the reason and the times; the final event stands in for it
    // if the server cannot be asked again.
    let finished = patiently(|| client.get::<Deployment>(&record, &[])).ok();
    outcome(out, format, deployment, finished.as_ref(), last.as_ref())
}

/// The exit status (and, for people, the summary) of a deployment that has ended.
fn outcome(
    out: &Output,
    format: Format,
    started: &Deployment,
    finished: Option<&Deployment>,
    last: Option<&Event>,
) -> Result<ExitStatus, Failure> {
    let status = match (finished, last) {
        (Some(deployment), _) if deployment.is_final() => deployment.status.as_str(),
        (_, Some(event)) => event.kind.as_str(),
        (Some(deployment), None) => deployment.status.as_str(),
        (None, None) => "unknown",
    };
    let reason = finished
        .and_then(|deployment| deployment.reason.clone())
        .filter(|reason| !reason.is_empty())
        .or_else(|| last.map(|event| event.message.clone()))
        .unwrap_or_default();
    let took = finished
        .and_then(|deployment| show::between(&deployment.created, deployment.finished.as_deref()?))
        .map(|took| format!(" in {}", show::duration(took)))
        .unwrap_or_default();
    let (id, env) = (printable(&started.id), printable(&started.environment));
    let because = if reason.is_empty() { String::new() } else { format!(": {}", printable(&reason)) };
    let refused = |error: String, hint: String| {
        Err(Failure { status: ExitStatus::Refused, error: anyhow!(error), hint: Some(hint) })
    };
    let history = format!("`shipgate history {}` lists it", started.environment);
    match status {
        "succeeded" => {
            if format == Format::Human {
                out.data(&format!("deployment {id} succeeded{took}: `{env}` runs {}\n", printable(&started.version)))?;
            }
            Ok(ExitStatus::Success)
        }
        "rolled_back" => refused(
            format!("deployment {id} was rolled back{took}{because}"),
            format!(
                "`{env}` runs {} again; {history}",
                started.from_version.as_deref().map_or("the previous release".into(), printable)
            ),
        ),
        "failed" => refused(
            format!("deployment {id} failed{took}{because}"),
            format!("there was no stable release to return to, so the new instances were stopped; {history}"),
        ),
        "aborted" => refused(format!("deployment {id} was aborted{took}{because}"), history),
        other => {
            Err(Failure::internal(anyhow!("deployment {id} ended with the unknown status `{}`", printable(other)))
                .hint("are the server and this command the same shipgate version? `shipgate --version` tells"))
        }
    }
}

/// What a person sees of a deployment in progress, distilled from its events.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Progress {
    steps: Vec<(u32, String)>,
    current: Option<u32>,
    weights: Vec<(String, f64)>,
    healthy: Option<(u64, Option<u64>)>,
    state: String,
}

impl Progress {
    pub fn new(deployment: &Deployment) -> Self {
        Progress {
            steps: deployment.steps.iter().map(|step| (step.index, step.description.clone())).collect(),
            current: deployment.steps.iter().find(|step| step.state == "running").map(|step| step.index),
            state: deployment.status.clone(),
            ..Progress::default()
        }
    }

    /// Take in one event.
    pub fn apply(&mut self, event: &Event) {
        if let Some(index) = event.step_index {
            self.current = Some(index);
        }
        match event.kind.as_str() {
            "paused" => "paused".clone_into(&mut self.state),
            "rolling_back" => "rolling back".clone_into(&mut self.state),
            "resumed" | "step_started" if self.state != "rolling back" => "running".clone_into(&mut self.state),
            _ => {}
        }
        let data = &event.data;
        match data.get("weights") {
            Some(serde_json::Value::Array(weights)) => {
                self.weights = weights
                    .iter()
                    .filter_map(|weight| {
                        Some((weight.get("version")?.as_str()?.to_owned(), weight.get("weight")?.as_f64()?))
                    })
                    .collect();
            }
            Some(serde_json::Value::Object(weights)) => {
                self.weights =
                    weights.iter().filter_map(|(version, weight)| Some((version.clone(), weight.as_f64()?))).collect();
            }
            _ => {
                if let (Some(version), Some(weight)) =
                    (data.get("version").and_then(|v| v.as_str()), data.get("weight").and_then(|w| w.as_f64()))
                {
                    match self.weights.iter_mut().find(|(known, _)| known == version) {
                        Some(entry) => entry.1 = weight,
                        None => self.weights.push((version.to_owned(), weight)),
                    }
                }
            }
        }
        if let Some(healthy) = data.get("healthy").and_then(serde_json::Value::as_u64) {
            let of = ["wanted", "desired", "total", "count", "replicas"]
                .iter()
                .find_map(|key| data.get(*key).and_then(serde_json::Value::as_u64));
            self.healthy = Some((healthy, of));
        }
    }

    fn description(&self, index: u32) -> Option<&str> {
        self.steps.iter().find(|(known, _)| *known == index).map(|(_, description)| description.as_str())
    }

    /// A step's place in the deployment, counted from 1 for people; the API's indexes count
    /// from 0 (as the server's do) when the step list does not say.
    fn ordinal(&self, index: u32) -> usize {
        self.steps.iter().position(|(known, _)| *known == index).unwrap_or(index as usize) + 1
    }

    /// `step 3/9 shift 5% of traffic to 1.2.0 · 1.2.0 5%, 1.1.0 95% · 2/3 healthy`
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(index) = self.current {
            let of = if self.steps.is_empty() { String::new() } else { format!("/{}", self.steps.len()) };
            let description = self.description(index).map(|text| format!(" {}", printable(text))).unwrap_or_default();
            parts.push(format!("step {}{of}{description}", self.ordinal(index)));
        }
        if !self.weights.is_empty() {
            let weights: Vec<String> = self
                .weights
                .iter()
                .map(|(version, weight)| format!("{} {}", printable(version), show::percent(*weight)))
                .collect();
            parts.push(weights.join(", "));
        }
        if let Some((healthy, of)) = self.healthy {
            parts.push(match of {
                Some(of) => format!("{healthy}/{of} healthy"),
                None => format!("{healthy} healthy"),
            });
        }
        if self.state != "running" && !self.state.is_empty() {
            parts.push(self.state.clone());
        }
        parts.join(" · ")
    }
}

/// One plain line per event: `12:03:04 step_started  step 3: shift 5% of traffic to 1.2.0`.
pub fn plain_line(event: &Event, progress: &Progress) -> String {
    let step = event.step_index.map(|index| format!(" step {}:", progress.ordinal(index))).unwrap_or_default();
    let message = if event.message.is_empty() {
        event.step_index.and_then(|index| progress.description(index)).unwrap_or_default().to_owned()
    } else {
        event.message.clone()
    };
    format!("{} {:<13}{step} {}", show::clock(&event.time), event.kind, printable(&message)).trim_end().to_owned()
}

/// Where the events go: JSON lines on standard output, a live status line on a terminal, or one
/// plain line per event on standard error.
struct Display<'a> {
    out: &'a Output,
    format: Format,
    progress: Progress,
    bar: Option<indicatif::ProgressBar>,
    id: String,
}

impl<'a> Display<'a> {
    fn new(out: &'a Output, format: Format, deployment: &Deployment) -> Self {
        let bar = (format == Format::Human && std::io::stderr().is_terminal()).then(|| {
            let style = indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
                .with_style(style)
                .with_elapsed(show::since(&deployment.created).unwrap_or_default());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let progress = Progress::new(deployment);
        if let Some(bar) = &bar {
            bar.set_message(progress.line());
        }
        Display { out, format, progress, bar, id: deployment.id.clone() }
    }

    fn event(&mut self, event: &Event, raw: &str) -> Result<(), Failure> {
        self.progress.apply(event);
        if self.format == Format::Json {
            let line = serde_json::from_str::<serde_json::Value>(raw)
                .map_or_else(|_| raw.replace('\n', " "), |value| value.to_string());
            return self.out.data(&format!("{line}\n"));
        }
        let Some(bar) = &self.bar else {
            self.out.message(&format!("{}\n", plain_line(event, &self.progress)));
            if event.kind == "paused" {
                self.out.message(&format!("{}\n", self.paused_hint()));
            }
            return Ok(());
        };
        // On a terminal, lasting lines for what a person needs to have seen; the rest only
        // moves the status line.
        match event.kind.as_str() {
            "progress" | "step_started" | "resumed" => {}
            "paused" => {
                bar.println(plain_line(event, &self.progress));
                bar.println(self.paused_hint());
            }
            _ => bar.println(plain_line(event, &self.progress)),
        }
        bar.set_message(self.progress.line());
        Ok(())
    }

    fn paused_hint(&self) -> String {
        let id = printable(&self.id);
        format!("  continue with `shipgate deploy resume {id}`, or stop with `shipgate deploy abort {id}`")
    }

    fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => self.out.message(&format!("{text}\n")),
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn deployment() -> Deployment {
        serde_json::from_value(json!({
            "id": "d-7", "environment": "production", "version": "1.2.0", "from_version": "1.1.0",
            "status": "running", "reason": null, "actor": "alice", "created": "2026-05-04T12:00:00Z",
            "finished": null, "plan_digest": "sha256:00", "kind": "deploy",
            "steps": [
                {"index": 0, "step": {}, "description": "start 3 instances of 1.2.0", "state": "done", "started": null, "finished": null, "detail": null},
                {"index": 1, "step": {}, "description": "shift 5% of traffic to 1.2.0", "state": "running", "started": null, "finished": null, "detail": null},
                {"index": 2, "step": {}, "description": "promote 1.2.0", "state": "pending", "started": null, "finished": null, "detail": null},
            ],
        }))
        .unwrap()
    }

    fn event(kind: &str, step: Option<u32>, message: &str, data: serde_json::Value) -> Event {
        serde_json::from_value(json!({
            "seq": 1, "deployment": "d-7", "time": "2026-05-04T12:03:04Z", "kind": kind,
            "step_index": step, "message": message, "data": data,
        }))
        .unwrap()
    }

    #[test]
    fn progress_follows_steps_weights_and_health() {
        let cases: Vec<(&str, Vec<Event>, &str)> = vec![
            ("the running step comes from the deployment", vec![], "step 2/3 shift 5% of traffic to 1.2.0"),
            (
                "weights as a list and health with its target",
                vec![event(
                    "progress",
                    Some(1),
                    "",
                    json!({"weights": [{"version": "1.2.0", "weight": 5.0}, {"version": "1.1.0", "weight": 95.0}], "healthy": 2, "wanted": 3}),
                )],
                "step 2/3 shift 5% of traffic to 1.2.0 · 1.2.0 5%, 1.1.0 95% · 2/3 healthy",
            ),
            (
                "weights as a map, a single weight update, health alone",
                vec![
                    event("progress", None, "", json!({"weights": {"1.2.0": 5, "1.1.0": 95}})),
                    event("step_started", Some(2), "", json!({"version": "1.2.0", "weight": 100})),
                    event("progress", None, "", json!({"healthy": 3})),
                ],
                "step 3/3 promote 1.2.0 · 1.1.0 95%, 1.2.0 100% · 3 healthy",
            ),
            (
                "a pause and a rollback show in the line",
                vec![event("paused", Some(1), "waiting for promotion", json!(null))],
                "step 2/3 shift 5% of traffic to 1.2.0 · paused",
            ),
            (
                "a step started while rolling back does not hide the rollback",
                vec![
                    event("rolling_back", None, "error rate", json!({})),
                    event("step_started", Some(0), "", json!({})),
                ],
                "step 1/3 start 3 instances of 1.2.0 · rolling back",
            ),
            (
                "data that is not understood is ignored",
                vec![event("progress", None, "", json!({"weights": 5, "healthy": "all"}))],
                "step 2/3 shift 5% of traffic to 1.2.0",
            ),
        ];
        for (name, events, line) in cases {
            let mut progress = Progress::new(&deployment());
            for event in &events {
                progress.apply(event);
            }
            assert_eq!(progress.line(), line, "{name}");
        }
    }

    #[test]
    fn plain_lines_name_time_kind_step_and_message() {
        let progress = Progress::new(&deployment());
        let cases = [
            (
                event("step_started", Some(1), "", json!({})),
                "12:03:04 step_started  step 2: shift 5% of traffic to 1.2.0",
            ),
            (
                event("succeeded", None, "production runs 1.2.0", json!({})),
                "12:03:04 succeeded     production runs 1.2.0",
            ),
            (event("progress", Some(1), "bad\u{1b}[2J", json!({})), "12:03:04 progress      step 2: bad\\u{1b}[2J"),
        ];
        for (event, line) in cases {
            assert_eq!(plain_line(&event, &progress), line);
        }
    }
}
