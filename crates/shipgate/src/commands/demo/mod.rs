//! `shipgate demo`: the whole story in about 20 seconds, on this machine, without network. In a
//! folder of its own it starts an agent and a server (this executable, as subprocesses), takes
//! two commits of the sample service through `shipgate pipeline run` (staging, then a canary to
//! production) while a load generator plays the users, releases three more directly, lets analysis roll a bad release back, shows two
//! refusals (a freeze, an unsigned release), verifies the audit ledger and prints a summary.
//! Every outcome shown comes from the server's API, and the same outcomes go to `summary.json`.

mod hooks;
mod load;
mod stack;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use self::load::{Counts, Load};
use self::stack::{Sample, Stack, find_sample};
use crate::cli::Format;
use crate::client::{Deployment, FINAL_STATUSES};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Stop the server and the agent at the end instead of leaving them running until Ctrl-C.
    #[arg(long)]
    pub exit: bool,

    /// Where to put the demo's server data, agent state, releases and logs: a new or empty
    /// folder. Default: a new folder in the system's temporary directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Keep the folder at the end (it has `summary.json`, the server's `data/` with the audit
    /// ledger, and the logs); by default it is removed.
    #[arg(long)]
    pub keep: bool,

    /// `human`: stages and live numbers on standard error, a summary table on standard
    /// output. `json`: the summary as JSON on standard output.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// The version whose instances answer 8% of requests with 500 on purpose.
const BAD: &str = "v3";

/// How one deployment ended, as the server reports it.
#[derive(Debug, Clone, Serialize)]
struct Outcome {
    version: String,
    environment: String,
    /// `succeeded`, `rolled_back`, … or `refused` (409 before it started).
    status: String,
    reason: Option<String>,
    /// The rules that refused it.
    rules: Vec<String>,
    id: Option<String>,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct Summary {
    dir: PathBuf,
    server: String,
    deployments: Vec<Outcome>,
    requests: Requests,
    ledger: Value,
    /// The post-deployment checklist of v2's deployment to production.
    checklist: Value,
    /// What the team's chat (the `[notify]` webhook) received.
    notifications: Vec<String>,
    seconds: f64,
    /// Whether everything ended as the demo means it to.
    as_expected: bool,
    surprises: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Requests {
    ok: u64,
    /// Failed requests that the deliberately broken canary did not answer: users on the stable
    /// version (and requests that no version answered).
    failed_on_stable: u64,
    /// 500s answered by the bad canary while analysis was judging it.
    failed_on_canary: u64,
    by_version: Counts,
}

pub fn run(args: DemoArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let exe =
        std::env::current_exe().map_err(|e| Failure::internal(anyhow!(e).context("cannot find shipgate itself")))?;
    let sample = find_sample(&exe).ok_or_else(|| {
        Failure::usage(anyhow!("`shipgate-sample` not found next to `{}` or on PATH", exe.display()))
            .hint("run `cargo build` first (it builds `shipgate-sample` next to `shipgate`), or `cargo run -p shipgate -- demo`")
    })?;
    let dir = prepare_dir(args.dir.as_ref())?;
    let result = Stack::start(dir.clone(), exe, sample)
        .map_err(|e| Failure::internal(e.context("cannot start the demo's server and agent")))
        .and_then(|mut stack| {
            let summary = story(&stack, &args, out)?;
            let status = finish(&summary, &args, out)?;
            if !args.exit {
                wait_for_ctrl_c(&stack, &args, out)?;
            }
            stack.stop();
            Ok(status)
        });
    if args.keep {
        out.message(&format!("kept `{}`\n", dir.display()));
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// A new folder for the demo, or the given one when it is new or empty.
fn prepare_dir(dir: Option<&PathBuf>) -> Result<PathBuf, Failure> {
    let dir = match dir {
        Some(dir) => dir.clone(),
        None => {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            std::env::temp_dir().join(format!("shipgate-demo-{}-{}", std::process::id(), nanos.subsec_nanos()))
        }
    };
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(
            Failure::usage(anyhow!("`{}` is not empty", dir.display())).hint("give `--dir` a new or empty folder")
        );
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create `{}`", dir.display()))
        .map_err(Failure::usage)?;
    // Absolute, so the agent's socket path means the same to every process.
    dir.canonicalize().map_err(|e| Failure::internal(anyhow!(e)))
}

/// Writes stages and progress to standard error.
struct Stage<'a> {
    out: &'a Output,
    human: bool,
    terminal: bool,
    started: Instant,
}

impl Stage<'_> {
    fn title(&self, text: &str) {
        if !self.human {
            return;
        }
        let (bold, reset) = if self.out.color() { ("\x1b[1m", "\x1b[0m") } else { ("", "") };
        let at = self.started.elapsed().as_secs_f64();
        self.out.message(&format!("\n{bold}==> {text}{reset}  [{at:.0}s]\n"));
    }

    fn line(&self, text: &str) {
        if self.human {
            self.out.message(&format!("    {text}\n"));
        }
    }

    /// A line refreshed in place on a terminal; printed only when it changes otherwise.
    fn live(&self, text: &str, last: &mut String, changed_part: &str) {
        if !self.human {
            return;
        }
        if self.terminal {
            let text: String = text.chars().take(150).collect();
            self.out.message(&format!("\r\x1b[2K    {text}"));
        } else if changed_part != last {
            self.out.message(&format!("    {text}\n"));
        }
        *last = changed_part.to_owned();
    }

    fn end_live(&self) {
        if self.human && self.terminal {
            self.out.message("\r\x1b[2K");
        }
    }
}

fn story(stack: &Stack, args: &DemoArgs, out: &Output) -> Result<Summary, Failure> {
    let stage = Stage {
        out,
        human: args.format == Format::Human,
        terminal: std::io::stderr().is_terminal(),
        started: Instant::now(),
    };
    let internal = |e: anyhow::Error| Failure::internal(e);
    stage.title(&format!("shipgate demo in `{}`", stack.dir.display()));
    stage.line(&format!("server   http://{} (admin token in `credentials.json`)", stack.api));
    stage.line(&format!("staging  http://{}    production  http://{}", stack.staging, stack.production));

    let freeze = "[windows]\ntimezone = \"Europe/Berlin\"\nfreeze = [ { days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"], reason = \"demo: Friday-style freeze\" } ]\n";
    let samples = [
        (Sample { version: "v1", env: ", SAMPLE_LATENCY_MS = \"2,10\"", extra: "", signed: true }, "good"),
        (Sample { version: "v2", env: ", SAMPLE_LATENCY_MS = \"2,10\"", extra: "", signed: true }, "good"),
        (
            Sample {
                version: BAD,
                env: ", SAMPLE_ERROR_RATE = \"0.08\", SAMPLE_LATENCY_MS = \"20,200\"",
                extra: "",
                signed: true,
            },
            "bad: 8% errors, slow",
        ),
        (
            Sample { version: "v4", env: ", SAMPLE_LATENCY_MS = \"2,10\"", extra: freeze, signed: true },
            "good, declares a freeze every day",
        ),
        (Sample { version: "v5", env: ", SAMPLE_LATENCY_MS = \"2,10\"", extra: "", signed: false }, "good, not signed"),
    ];
    let mut deployments = Vec::new();
    let mut surprises = Vec::new();
    stage.title("1/6 v1 through `shipgate pipeline run`: validate, build, test, security scan, staging, production");
    let (v1, _) = &samples[0];
    pipeline(stack, &stage, v1, "feat: the first version of the sample service", &mut deployments, &mut surprises)?;

    stage.title(
        "2/6 v2 through the pipeline, with users (a load generator on production from now on): \
         staging with a rollback rehearsal, then a canary 20% → 50% → 100% judged by analysis",
    );
    let load = Load::start(stack.production, 4);
    let (v2, _) = &samples[1];
    pipeline(stack, &stage, v2, "fix: answer faster", &mut deployments, &mut surprises)?;
    stage.line(&users(&load.counts()));

    stage.title("3/6 Three more releases, made directly with `shipgate release create` to show the gates at work");
    for (sample, what) in &samples[2..] {
        stack.release(sample).map_err(internal)?;
        stage.line(&format!("{:<4} {what}", sample.version));
    }

    stage.title("4/6 v3, which answers 8% of requests with errors, slowly: analysis judges the canary");
    deployments.push(deploy(stack, &stage, "staging", BAD, Some(&load))?);
    deployments.push(deploy(stack, &stage, "production", BAD, Some(&load))?);
    std::thread::sleep(Duration::from_millis(500));
    let counts = load.finish();

    stage.title("5/6 Refusals: a freeze window and an unsigned release");
    deployments.push(deploy(stack, &stage, "staging", "v4", None)?);
    deployments.push(deploy(stack, &stage, "production", "v4", None)?);
    deployments.push(deploy(stack, &stage, "staging", "v5", None)?);
    deployments.push(deploy(stack, &stage, "production", "v5", None)?);

    stage.title("6/6 v2's post-deployment checklist, the team's chat, and the audit ledger");
    let checklist = v2_checklist(stack, &deployments).map_err(internal)?;
    for item in checklist["items"].as_array().into_iter().flatten() {
        let mark = if item["status"] == "pass" { "ok  " } else { "FAIL" };
        let evidence: String = item["evidence"].as_str().unwrap_or_default().chars().take(90).collect();
        stage.line(&format!("{mark} {}: {evidence}", item["item"].as_str().unwrap_or_default()));
    }
    let notifications = stack.hooks.heard();
    stage.line(&format!(
        "the chat got {} messages from the webhook; the last ones about production:",
        notifications.len()
    ));
    let production: Vec<&String> = notifications.iter().filter(|message| message.contains("production")).collect();
    for message in production.iter().rev().take(4).rev() {
        let message: String = message.chars().take(140).collect();
        stage.line(&format!("  {message}"));
    }
    let ledger = stack.verify_ledger().map_err(internal)?;
    stage.line(&match ledger["entries"].as_u64() {
        Some(entries) if ledger["ok"] == true => format!("ok: {entries} entries, every hash chained and checked"),
        _ => format!("NOT verified: {ledger}"),
    });

    let requests = Requests {
        ok: counts.total_ok(),
        failed_on_stable: counts.failed_except(BAD),
        failed_on_canary: counts.failed.get(BAD).copied().unwrap_or(0),
        by_version: counts,
    };
    surprises.extend(self::surprises(&deployments, &requests, &ledger));
    let failed_items = checklist["findings"].as_array().map_or(0, Vec::len);
    if failed_items > 0 || checklist["items"].as_array().is_none_or(Vec::is_empty) {
        surprises.push(format!("v2's checklist in production has {failed_items} failed item(s)"));
    }
    if notifications.is_empty() {
        surprises.push("the chat heard nothing from the `[notify]` webhook".to_owned());
    }
    Ok(Summary {
        dir: stack.dir.clone(),
        server: format!("http://{}", stack.api),
        deployments,
        requests,
        ledger,
        checklist,
        notifications,
        seconds: stage.started.elapsed().as_secs_f64(),
        as_expected: surprises.is_empty(),
        surprises,
    })
}

/// Takes `sample` through `shipgate pipeline run` (its stage list shown as it goes), then
/// records how its deployments to staging and production ended, as the server tells.
fn pipeline(
    stack: &Stack,
    stage: &Stage,
    sample: &Sample,
    message: &str,
    deployments: &mut Vec<Outcome>,
    surprises: &mut Vec<String>,
) -> Result<(), Failure> {
    let started = Instant::now();
    let succeeded = stack.pipeline(sample, message, stage.human).map_err(Failure::internal)?;
    if !succeeded {
        surprises.push(format!("the pipeline for {} stopped (see `pipeline.log` or its own log)", sample.version));
    }
    for env in ["staging", "production"] {
        let (_, history) =
            stack.call("GET", &format!("/api/v1/environments/{env}/deployments"), None).map_err(Failure::internal)?;
        let newest =
            history.as_array().into_iter().flatten().find(|row| {
                row["version"] == sample.version && row["kind"].as_str().is_none_or(|kind| kind != "rollback")
            });
        deployments.push(Outcome {
            version: sample.version.to_owned(),
            environment: env.to_owned(),
            status: newest.and_then(|row| row["status"].as_str()).unwrap_or("not deployed").to_owned(),
            reason: newest.and_then(|row| row["reason"].as_str()).map(str::to_owned),
            rules: Vec::new(),
            id: newest.map(|row| row["id"].to_string()),
            seconds: newest.and_then(took).unwrap_or_else(|| started.elapsed().as_secs_f64()),
        });
    }
    Ok(())
}

/// The checklist of v2's deployment to production (`null` when there was none).
fn v2_checklist(stack: &Stack, deployments: &[Outcome]) -> anyhow::Result<Value> {
    let id = deployments.iter().find(|outcome| outcome.version == "v2" && outcome.environment == "production");
    let Some(id) = id.and_then(|outcome| outcome.id.as_deref()) else { return Ok(Value::Null) };
    Ok(stack.call("GET", &format!("/api/v1/deployments/{id}/checklist"), None)?.1)
}

/// How long a deployment took, from its record's `created` and `finished`.
fn took(row: &Value) -> Option<f64> {
    let time = |key: &str| row[key].as_str()?.parse::<jiff::Timestamp>().ok();
    Some(time("finished")?.duration_since(time("created")?).as_secs_f64())
}

/// Starts a deployment of `version` to `env` and follows it to its end, showing its current
/// step and, with `load`, what the users see.
fn deploy(stack: &Stack, stage: &Stage, env: &str, version: &str, load: Option<&Load>) -> Result<Outcome, Failure> {
    let internal = |e: anyhow::Error| Failure::internal(e);
    let started = Instant::now();
    let (status, body) = stack
        .call("POST", &format!("/api/v1/environments/{env}/deployments"), Some(json!({"version": version})))
        .map_err(internal)?;
    let mut outcome = Outcome {
        version: version.to_owned(),
        environment: env.to_owned(),
        status: String::new(),
        reason: None,
        rules: Vec::new(),
        id: None,
        seconds: 0.0,
    };
    if status == 409 {
        outcome.status = "refused".to_owned();
        let findings = body["findings"].as_array().cloned().unwrap_or_default();
        let denied = findings.iter().filter(|finding| finding["severity"] == "deny");
        for finding in denied {
            let rule = finding["rule"].as_str().unwrap_or("?");
            outcome.rules.push(rule.to_owned());
            let message = finding["message"].as_str().unwrap_or_default();
            stage.line(&format!("{env:<11} {version:<3} refused (409) {rule}: {message}"));
        }
        let messages: Vec<&str> = denied_messages(&findings);
        outcome.reason = Some(messages.join("; ")).filter(|reason| !reason.is_empty());
        outcome.seconds = started.elapsed().as_secs_f64();
        return Ok(outcome);
    }
    if status != 201 {
        return Err(Failure::internal(anyhow!(
            "deploying `{version}` to `{env}`: the server answered {status}: {body}"
        )));
    }
    let id = match &body["id"] {
        Value::Number(id) => id.to_string(),
        Value::String(id) => id.clone(),
        _ => return Err(Failure::internal(anyhow!("no deployment id in {body}"))),
    };
    let mut last = String::new();
    let deployment = loop {
        let (_, body) = stack.call("GET", &format!("/api/v1/deployments/{id}"), None).map_err(internal)?;
        let deployment: Deployment = serde_json::from_value(body)
            .map_err(|e| Failure::internal(anyhow!(e).context("unexpected deployment from the server")))?;
        if FINAL_STATUSES.contains(&deployment.status.as_str()) || deployment.status == "rejected" {
            break deployment;
        }
        let step = deployment.steps.iter().find(|step| step.state == "running");
        let doing = step.map(|step| step.description.as_str()).unwrap_or(deployment.status.as_str());
        let detail = step.and_then(|step| step.detail.as_deref()).unwrap_or_default();
        let users = load.map(|load| users(&load.counts())).unwrap_or_default();
        let text = format!("{env:<11} {version:<3} {doing}  {detail}{users}");
        stage.live(&text, &mut last, doing);
        if started.elapsed() > Duration::from_secs(120) {
            return Err(Failure::internal(anyhow!("deployment {id} did not finish within 2 minutes")));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    stage.end_live();
    outcome.status = deployment.status.clone();
    outcome.reason = deployment.reason.clone();
    outcome.id = Some(id);
    outcome.seconds = started.elapsed().as_secs_f64();
    let users = load.map(|load| users(&load.counts())).unwrap_or_default();
    let reason = deployment.reason.map(|reason| format!(": {reason}")).unwrap_or_default();
    stage.line(&format!("{env:<11} {version:<3} {} in {:.1}s{reason}{users}", deployment.status, outcome.seconds));
    Ok(outcome)
}

/// The messages of the findings that refused a deployment.
fn denied_messages(findings: &[Value]) -> Vec<&str> {
    findings
        .iter()
        .filter(|finding| finding["severity"] == "deny")
        .filter_map(|finding| finding["message"].as_str())
        .collect()
}

/// `  | users: 1234 ok, 0 failed on stable, 17 × 500 from v3`
fn users(counts: &Counts) -> String {
    let canary = counts.failed.get(BAD).copied().unwrap_or(0);
    let canary = if canary > 0 { format!(", {canary} errors from {BAD}") } else { String::new() };
    format!("  | users: {} ok, {} failed on stable{canary}", counts.total_ok(), counts.failed_except(BAD))
}

/// What did not end as the demo means it to: each deployment's expected status and refusing
/// rule, no failed request for users on stable, a verified ledger.
fn surprises(deployments: &[Outcome], requests: &Requests, ledger: &Value) -> Vec<String> {
    let mut surprises = Vec::new();
    for outcome in deployments {
        let expected = match (outcome.environment.as_str(), outcome.version.as_str()) {
            ("production", BAD) => "rolled_back",
            ("production", "v4" | "v5") => "refused",
            _ => "succeeded",
        };
        if outcome.status != expected {
            surprises.push(format!(
                "{} in {}: {} ({}), expected {expected}",
                outcome.version,
                outcome.environment,
                outcome.status,
                outcome.reason.as_deref().unwrap_or("no reason")
            ));
        }
        let rule = match (outcome.environment.as_str(), outcome.version.as_str()) {
            ("production", "v4") => Some("SG0703"),
            ("production", "v5") => Some("SG0701"),
            _ => None,
        };
        if let Some(rule) = rule
            && !outcome.rules.iter().any(|r| r == rule)
        {
            surprises.push(format!("{} in {}: not refused by {rule}", outcome.version, outcome.environment));
        }
    }
    if requests.failed_on_stable > 0 {
        surprises.push(format!(
            "{} requests failed for users on the stable version: {:?}",
            requests.failed_on_stable, requests.by_version.errors
        ));
    }
    if requests.ok == 0 {
        surprises.push("the load generator got no answer".to_owned());
    }
    if ledger["ok"] != true {
        surprises.push("the audit ledger did not verify".to_owned());
    }
    surprises
}

/// Writes `summary.json`, prints the summary, and says whether it all went as meant.
fn finish(summary: &Summary, args: &DemoArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let json = serde_json::to_string_pretty(summary).map_err(|e| Failure::internal(anyhow!(e)))?;
    std::fs::write(summary.dir.join("summary.json"), format!("{json}\n"))
        .map_err(|e| Failure::internal(anyhow!(e).context("cannot write `summary.json`")))?;
    match args.format {
        Format::Json => out.data(&format!("{json}\n"))?,
        Format::Human => out.data(&table(summary))?,
    }
    if summary.as_expected {
        return Ok(ExitStatus::Success);
    }
    Err(Failure {
        status: ExitStatus::Refused,
        error: anyhow!("the demo did not go as meant: {}", summary.surprises.join("; ")),
        hint: Some(format!("the server's and agent's logs are in `{}` with `--keep`", summary.dir.display())),
    })
}

/// The summary table, for people.
fn table(summary: &Summary) -> String {
    let mut text = String::from("\nversion  environment  outcome      time    reason\n");
    for outcome in &summary.deployments {
        let reason = match (&outcome.reason, outcome.rules.is_empty()) {
            (_, false) => outcome.rules.join(", ") + ": " + outcome.reason.as_deref().unwrap_or_default(),
            (Some(reason), true) => reason.clone(),
            (None, true) => String::new(),
        };
        let reason: String = reason.chars().take(90).collect();
        text.push_str(&format!(
            "{:<8} {:<12} {:<12} {:>5.1}s  {}\n",
            outcome.version, outcome.environment, outcome.status, outcome.seconds, reason
        ));
    }
    let requests = &summary.requests;
    text.push_str(&format!(
        "\nrequests  {} ok, {} failed for users on the stable version, {} errors from {BAD} while its canary was judged\n",
        requests.ok, requests.failed_on_stable, requests.failed_on_canary
    ));
    text.push_str(&match summary.ledger["entries"].as_u64() {
        Some(entries) if summary.ledger["ok"] == true => format!("ledger    ok: {entries} entries verified\n"),
        _ => "ledger    NOT verified\n".to_owned(),
    });
    text.push_str(&format!("time      {:.0}s\n", summary.seconds));
    text
}

/// Leaves the server running until Ctrl-C, saying how to use it meanwhile.
fn wait_for_ctrl_c(stack: &Stack, args: &DemoArgs, out: &Output) -> Result<(), Failure> {
    if args.format == Format::Human {
        let shipgate = stack.exe.display();
        out.message(&format!(
            "\nThe server keeps running; try, in another terminal:\n  \
             export SHIPGATE_SERVER=http://{} SHIPGATE_TOKEN={}\n  \
             {shipgate} status production\n  {shipgate} history production\n  \
             {shipgate} audit log --data-dir {}\n  curl http://{}/\n\
             or open the web console at http://{}/ and sign in with the token.\nCtrl-C stops it{}.\n",
            stack.api,
            stack.token,
            stack.data_dir().display(),
            stack.production,
            stack.api,
            if args.keep { "" } else { " and removes the folder" }
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal(anyhow!(e)))?;
    runtime
        .block_on(tokio::signal::ctrl_c())
        .map_err(|e| Failure::internal(anyhow!(e).context("cannot wait for Ctrl-C")))?;
    out.message("\nstopping the server and the agent\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Counts, Outcome, Requests, surprises};

    fn outcome(environment: &str, version: &str, status: &str, rules: &[&str]) -> Outcome {
        Outcome {
            version: version.to_owned(),
            environment: environment.to_owned(),
            status: status.to_owned(),
            reason: None,
            rules: rules.iter().map(|rule| (*rule).to_owned()).collect(),
            id: None,
            seconds: 0.0,
        }
    }

    #[test]
    fn every_outcome_other_than_the_intended_one_is_a_surprise() {
        let requests = |failed_on_stable| Requests {
            ok: 10,
            failed_on_stable,
            failed_on_canary: 3,
            by_version: Counts::default(),
        };
        let ok = json!({"ok": true, "entries": 3});
        let cases = [
            (outcome("production", "v2", "succeeded", &[]), requests(0), ok.clone(), 0),
            (outcome("production", "v2", "rolled_back", &[]), requests(0), ok.clone(), 1),
            (outcome("production", "v3", "rolled_back", &[]), requests(0), ok.clone(), 0),
            (outcome("production", "v3", "succeeded", &[]), requests(0), ok.clone(), 1),
            (outcome("staging", "v3", "succeeded", &[]), requests(0), ok.clone(), 0),
            (outcome("production", "v4", "refused", &["SG0703"]), requests(0), ok.clone(), 0),
            (outcome("production", "v4", "refused", &["SG0201"]), requests(0), ok.clone(), 1),
            (outcome("production", "v5", "refused", &["SG0701"]), requests(0), ok.clone(), 0),
            (outcome("production", "v5", "succeeded", &[]), requests(0), ok.clone(), 2),
            (outcome("production", "v2", "succeeded", &[]), requests(1), ok.clone(), 1),
            (outcome("production", "v2", "succeeded", &[]), requests(0), json!({"ok": false}), 1),
        ];
        for (outcome, requests, ledger, expected) in cases {
            let found = surprises(std::slice::from_ref(&outcome), &requests, &ledger);
            assert_eq!(found.len(), expected, "{outcome:?}: {found:?}");
        }
    }
}
