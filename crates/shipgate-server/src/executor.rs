//! Runs a deployment's plan against the agent, one step at a time.
//!
//! Every step is recorded as started before it runs and as done after (store + ledger, in one
//! transaction each), and the row's `next_step` moves with the `done` record. A server killed
//! at any moment resumes each unfinished deployment at `next_step`, re-running the interrupted
//! step: steps name a desired state ("V has N instances", "V gets W%"), so running one twice
//! is harmless. Any failure returns traffic to the stable release in one routing change and
//! stops the new instances; rolling back is itself recorded first, so it resumes too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use shipgate_agent::api::{InstanceState, InstanceStatus};
use shipgate_analysis::providers::AgentMetrics;
use shipgate_analysis::{
    Config as AnalysisConfig, Counts, Hold, Judge, Look, MetricReading, Query, Reference, Verdict,
};
use shipgate_engine::{Plan, Step};
use shipgate_migrate::apply::{self, Phases};
use shipgate_spec::OnInconclusive;
use shipgate_spec::Spec;
use shipgate_store::{DeploymentRow, EnvironmentRow};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::agent_client::{AgentClient, AgentError};
use crate::record::{Change, RecordError, Recorder, actions, kinds, now, status};
use crate::service::{self, FULL_WEIGHT};
use crate::smoke;

/// How often the executor looks at the agent while it waits for health or holds.
const POLL: Duration = Duration::from_millis(50);
/// How often analysis looks at the metrics during a hold.
const ANALYSIS_LOOK: Duration = Duration::from_millis(500);
/// How often the analysis' state is recorded as a progress event (and on its verdict).
const ANALYSIS_REPORT: Duration = Duration::from_secs(2);
/// How long one provider query may take.
const ANALYSIS_TIMEOUT: Duration = Duration::from_secs(5);

/// A request from the API to a running deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    None,
    Resume,
    Abort {
        reason: String,
    },
    /// A new deployment with another plan replaces this one, which must still await approval:
    /// it ends as `aborted` with `reason`. Ignored once the deployment started.
    Supersede {
        reason: String,
    },
}

/// Starts and steers deployments. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    pub recorder: Recorder,
    pub agent: AgentClient,
    pub data_dir: PathBuf,
    /// A pause after each step's start is recorded (tests and demos: makes every step
    /// observable and interruptible); zero in normal operation.
    pub step_delay: Duration,
    /// The secrets key and redactor; instances get their declared secrets at start.
    pub secrets: crate::secrets::Vault,
    signals: Arc<Mutex<HashMap<u64, watch::Sender<Signal>>>>,
}

/// Why a step (or the deployment) failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Failed(String),
    #[error("aborted: {0}")]
    Aborted(String),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// What one deployment's run needs, loaded once.
struct Run {
    row: DeploymentRow,
    plan: Plan,
    /// The spec of the release being deployed (travels with the release).
    spec: Spec,
    /// The spec of the stable release, when there is one.
    stable_spec: Option<Spec>,
    service: String,
    signal: watch::Receiver<Signal>,
}

impl Executor {
    pub fn new(recorder: Recorder, agent: AgentClient, data_dir: PathBuf) -> Executor {
        Executor {
            recorder,
            agent,
            data_dir,
            step_delay: Duration::ZERO,
            secrets: crate::secrets::Vault::default(),
            signals: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Runs the deployment in the background until it reaches a final status.
    pub fn spawn(&self, id: u64) {
        let (sender, receiver) = watch::channel(Signal::None);
        if let Ok(mut signals) = self.signals.lock() {
            if signals.contains_key(&id) {
                return;
            }
            signals.insert(id, sender);
        }
        let executor = self.clone();
        tokio::spawn(async move {
            if let Err(error) = executor.run(id, receiver).await {
                tracing::error!(deployment = id, "deployment stopped: {error}");
            }
            if let Ok(mut signals) = executor.signals.lock() {
                signals.remove(&id);
            }
        });
    }

    /// Delivers `signal` to the running deployment `id`; false when it does not run here.
    pub fn signal(&self, id: u64, signal: Signal) -> bool {
        self.signals.lock().ok().and_then(|signals| signals.get(&id).map(|sender| sender.send(signal).is_ok()))
            == Some(true)
    }

    async fn run(&self, id: u64, signal: watch::Receiver<Signal>) -> Result<(), StepError> {
        let Some(mut run) = self.load(id, signal).await? else { return Ok(()) };
        if run.row.status == status::ROLLING_BACK {
            let reason = run.row.reason.clone().unwrap_or_else(|| "rolling back".into());
            return self.roll_back(&mut run, reason, status::ROLLED_BACK).await;
        }
        if run.row.status == status::AWAITING_APPROVAL && !self.await_approval(&mut run).await? {
            return Ok(());
        }
        let steps = run.plan.steps.clone();
        let first = usize::try_from(run.row.next_step).unwrap_or(usize::MAX);
        for (index, step) in steps.iter().enumerate().skip(first) {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let resumed = run.row.status == status::PAUSED;
            self.recorder
                .record(
                    Change::event(&run.row, kinds::STEP_STARTED, step.describe())
                        .step(index)
                        .data(json!({"step": step}))
                        .ledger(actions::STEP_STARTED),
                )
                .await?;
            if !self.step_delay.is_zero() {
                tokio::time::sleep(self.step_delay).await;
            }
            let outcome = loop {
                let failure = match self.step(&mut run, index, step, resumed).await {
                    Ok(outcome) => break outcome,
                    Err(error @ StepError::Record(_)) => return Err(error),
                    Err(StepError::Aborted(reason)) => {
                        self.step_failed(&run, index, &format!("aborted: {reason}")).await?;
                        return self.roll_back(&mut run, reason, status::ABORTED).await;
                    }
                    Err(StepError::Failed(reason)) => reason,
                    Err(StepError::Agent(error)) => error.to_string(),
                };
                self.step_failed(&run, index, &failure).await?;
                if !self.expand_applied(&run).await? {
                    return self.roll_back(&mut run, failure, status::ROLLED_BACK).await;
                }
                // Expand migrations ran: rolling the code back is a decision for a person.
                let reason = format!(
                    "{failure}; expand migrations were applied, so shipgate does not roll back by itself: \
                     `shipgate deploy resume {id}` retries this step, `shipgate deploy abort {id}` returns traffic \
                     to the previous release (the expanded schema stays)"
                );
                run.row.reason = Some(reason);
                match self.pause(&mut run, index).await {
                    Ok(()) => {}
                    Err(StepError::Aborted(reason)) => return self.roll_back(&mut run, reason, status::ABORTED).await,
                    Err(error) => return Err(error),
                }
            };
            run.row.next_step = index + 1;
            self.recorder
                .record(
                    Change::event(&run.row, kinds::STEP_DONE, outcome.detail)
                        .step(index)
                        .data(outcome.data)
                        .update_row()
                        .environment(outcome.environment)
                        .ledger(actions::STEP_DONE),
                )
                .await?;
        }
        self.record_checklist(&run).await?;
        // The final status, its event, the ledger entry and a checkpoint land together, so a
        // follower never sees the status without the event.
        run.row.status = status::SUCCEEDED.into();
        run.row.finished = Some(now());
        let message = format!("{} runs {}", run.row.environment, run.row.version);
        self.recorder
            .record(
                Change::event(&run.row, status::SUCCEEDED, message).update_row().ledger(actions::FINISHED).checkpoint(),
            )
            .await?;
        Ok(())
    }

    async fn load(&self, id: u64, signal: watch::Receiver<Signal>) -> Result<Option<Run>, StepError> {
        let loaded = self
            .recorder
            .blocking(move |recorder| {
                recorder.store.read(|reader| {
                    let Some(row) = reader.deployment(id)? else { return Ok(None) };
                    let release = reader.release(&row.version)?;
                    let stable = match &row.from_version {
                        Some(version) => reader.release(version)?,
                        None => None,
                    };
                    Ok::<_, RecordError>(Some((row, release, stable)))
                })
            })
            .await?;
        let Some((mut row, Some(release), mut stable)) = loaded else {
            return Err(StepError::Failed(format!("deployment {id} or its release is missing from the store")));
        };
        if status::is_final(&row.status) {
            return Ok(None);
        }
        let plan: Plan = serde_json::from_str(&row.plan)
            .map_err(|error| StepError::Failed(format!("the stored plan of deployment {id} is unreadable: {error}")))?;
        // A plan recomputed while awaiting approval may start from another release than the row
        // was created with (the row's `from_version` is not rewritten): the plan decides.
        let from = plan.from.as_ref().map(|release| release.version.clone());
        if from != row.from_version {
            let version = from.clone();
            stable = self
                .recorder
                .blocking(move |recorder| {
                    Ok(recorder.store.read(|reader| match &version {
                        Some(version) => reader.release(version),
                        None => Ok(None),
                    })?)
                })
                .await?;
            row.from_version = from;
        }
        let spec = parse_spec(&release.spec, &release.version)?;
        let stable_spec = stable.map(|stable| parse_spec(&stable.spec, &stable.version)).transpose()?;
        let service = service::service_name(&spec, &row.environment);
        Ok(Some(Run { row, plan, spec, stable_spec, service, signal }))
    }

    /// Waits until the environment's approvals are complete (then, after `wait`, records that
    /// the deployment runs and returns true) or the deployment is rejected or aborted (records
    /// the final status and returns false). The votes are read from the store every half
    /// second, so a vote through any server, or one given while this server was down, counts.
    async fn await_approval(&self, run: &mut Run) -> Result<bool, StepError> {
        let Some(rules) = run.spec.environments.get(&run.row.environment).and_then(|env| env.approvals.clone()) else {
            return Ok(true);
        };
        let wait = rules.wait.map_or(Duration::ZERO, |wait| wait.as_std());
        let mut announced = false;
        loop {
            let signal = run.signal.borrow().clone();
            if let Signal::Abort { reason } | Signal::Supersede { reason } = signal {
                self.finish_unstarted(run, status::ABORTED, reason).await?;
                return Ok(false);
            }
            if !self.plan_still_current(run).await? {
                return Ok(false);
            }
            let votes = self.votes(run).await?;
            let tally = crate::approvals::tally(&rules, &votes, &run.row.plan_digest);
            if let Some((who, comment)) = &tally.rejected_by {
                let reason = format!("rejected by {who}: {}", comment.as_deref().unwrap_or("no comment"));
                self.finish_unstarted(run, status::REJECTED, reason).await?;
                return Ok(false);
            }
            if tally.complete() {
                let approved_at = tally
                    .last_approval
                    .as_deref()
                    .and_then(|time| time.parse::<jiff::Timestamp>().ok())
                    .unwrap_or_else(jiff::Timestamp::now);
                let remaining = approved_at
                    .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or(jiff::SignedDuration::ZERO))
                    .ok()
                    .map(|start| jiff::Timestamp::now().duration_until(start))
                    .and_then(|left| Duration::try_from(left).ok())
                    .unwrap_or(Duration::ZERO);
                if remaining.is_zero() {
                    run.row.status = status::RUNNING.into();
                    let message = format!("approved by {}", tally.approved_by.join(", "));
                    self.recorder
                        .record(
                            Change::event(&run.row, kinds::APPROVED, message)
                                .data(json!({"approved_by": tally.approved_by}))
                                .update_row()
                                .ledger(actions::APPROVALS_COMPLETE),
                        )
                        .await?;
                    return Ok(true);
                }
                if !announced {
                    announced = true;
                    let message = format!(
                        "approved by {}; starts in {}s unless rejected or aborted",
                        tally.approved_by.join(", "),
                        remaining.as_secs()
                    );
                    self.recorder.record(Change::event(&run.row, kinds::PROGRESS, message)).await?;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = run.signal.changed() => {}
            }
        }
    }

    /// Recomputes the plan from the environment's state now. When its digest differs from the
    /// one the votes were given for, the votes expire: the new plan replaces the stored one (an
    /// `approvals_expired` event and ledger entry) and the deployment waits for fresh votes.
    /// Returns false when the deployment ended instead (the environment already runs the
    /// target, so there is nothing left to approve).
    /// The approval votes cast on `run` so far.
    async fn votes(&self, run: &Run) -> Result<Vec<shipgate_store::RecordRow>, StepError> {
        let scope = run.row.id.to_string();
        Ok(self
            .recorder
            .blocking(move |recorder| {
                Ok(recorder.store.read(|reader| reader.records(crate::approvals::RECORD_KIND, &scope))?)
            })
            .await?)
    }

    async fn plan_still_current(&self, run: &mut Run) -> Result<bool, StepError> {
        let environment = run.row.environment.clone();
        let version = run.row.version.clone();
        let (active, target) = self
            .recorder
            .blocking(move |recorder| {
                Ok(recorder.store.read(|reader| {
                    let active = match reader.environment(&environment)?.and_then(|row| row.active_version) {
                        Some(version) => reader.release(&version)?,
                        None => None,
                    };
                    Ok::<_, shipgate_store::StoreError>((active, reader.release(&version)?))
                })?)
            })
            .await?;
        let Some(target) = target else {
            return Err(StepError::Failed(format!("release {} is missing from the store", run.row.version)));
        };
        let state = shipgate_engine::EnvironmentState { active: active.as_ref().map(crate::api::engine_release) };
        let plan = shipgate_engine::plan(&run.spec, &run.row.environment, &state, &crate::api::engine_release(&target))
            .map_err(|error| StepError::Failed(format!("the plan cannot be made again: {error}")))?;
        if let Some(reason) = &plan.no_op {
            self.finish_unstarted(run, status::ABORTED, format!("nothing left to approve: {reason}")).await?;
            return Ok(false);
        }
        let digest = plan.digest();
        if digest == run.row.plan_digest {
            return Ok(true);
        }
        let votes = self.votes(run).await?;
        let expired: Vec<String> = votes.iter().map(|vote| vote.name.clone()).collect();
        let previous = std::mem::replace(&mut run.row.plan_digest, digest.clone());
        run.row.plan = serde_json::to_string(&plan)
            .map_err(|error| StepError::Failed(format!("the new plan cannot be stored: {error}")))?;
        run.row.from_version = plan.from.as_ref().map(|release| release.version.clone());
        run.plan = plan;
        run.stable_spec = active.as_ref().map(|row| parse_spec(&row.spec, &row.version)).transpose()?;
        let message = if expired.is_empty() {
            "the plan changed while awaiting approval; approvals are needed for the new plan".to_owned()
        } else {
            format!(
                "the plan changed while awaiting approval: the votes of {} expired; approvals are needed for the new plan",
                expired.join(", ")
            )
        };
        self.recorder
            .record(
                Change::event(&run.row, kinds::APPROVALS_EXPIRED, message)
                    .data(json!({"previous_plan_digest": previous, "plan_digest": digest, "expired": expired}))
                    .update_row()
                    .ledger(actions::APPROVALS_EXPIRED),
            )
            .await?;
        Ok(true)
    }

    /// Records the final status of a deployment that never started a step.
    async fn finish_unstarted(&self, run: &mut Run, final_status: &str, reason: String) -> Result<(), StepError> {
        run.row.status = final_status.into();
        run.row.reason = Some(reason.clone());
        run.row.finished = Some(now());
        self.recorder
            .record(Change::event(&run.row, final_status, reason).update_row().ledger(actions::FINISHED).checkpoint())
            .await?;
        Ok(())
    }

    async fn step_failed(&self, run: &Run, index: u32, reason: &str) -> Result<(), StepError> {
        self.recorder
            .record(Change::event(&run.row, kinds::STEP_FAILED, reason).step(index).ledger(actions::STEP_FAILED))
            .await?;
        Ok(())
    }

    async fn step(&self, run: &mut Run, index: u32, step: &Step, resumed_paused: bool) -> Result<Outcome, StepError> {
        let to = run.plan.to.version.clone();
        // Time-dependent gates (freeze windows) are judged again right before traffic moves.
        let first_traffic =
            run.plan.steps.iter().position(|step| matches!(step, Step::SetWeight { .. } | Step::Promote { .. }));
        if first_traffic == usize::try_from(index).ok() && run.plan.from.is_some() {
            self.gates(run).await?;
        }
        match step {
            Step::Gates => self.gates(run).await,
            Step::MigrateExpand => self.migrate(run, &run.plan.to.version.clone(), Phases::ExpandOnly).await,
            // Contract migrations shipped by the previous release: no running code needs the old
            // schema any more. Those of this release wait for the next deployment.
            Step::MigrateContract => match run.plan.from.clone() {
                Some(from) => self.migrate(run, &from.version, Phases::ContractOnly).await,
                None => Ok(Outcome::detail("no previous release, so no contract migration is due")),
            },
            Step::StartInstances { version, count } => self.start_instances(run, version, *count).await,
            Step::WaitHealthy { version, count } => self.wait_healthy(run, index, version, *count).await,
            Step::Smoke { version, before_traffic } => {
                let env = run.spec.environments.get(&run.row.environment).cloned();
                let checks = env.as_ref().map(|env| env.smoke.clone()).unwrap_or_default();
                let listen = env.map(|env| env.listen.addr());
                let Some(listen) = listen else { return Ok(Outcome::detail("no environment")) };
                smoke::run(listen, version, &checks).await.map_err(StepError::Failed)?;
                let when = if *before_traffic { "by version pin" } else { "with traffic" };
                Ok(Outcome::detail(format!("{} smoke check(s) passed {when}", checks.len())))
            }
            Step::SetWeight { version, weight } => {
                let points = u32::from(weight.basis_points());
                let mut routes = vec![(version.clone(), points)];
                if let Some(from) = &run.plan.from {
                    routes.insert(0, (from.version.clone(), FULL_WEIGHT - points));
                }
                self.route(run, &routes).await?;
                self.recorder
                    .record(
                        Change::event(&run.row, kinds::PROGRESS, format!("{version} takes {weight}% of traffic"))
                            .step(index)
                            .data(json!({"weights": weights_json(&routes)})),
                    )
                    .await?;
                Ok(Outcome::detail(format!("{version} takes {weight}%")))
            }
            Step::Hold { duration, pause } => {
                let mut outcome = Outcome::detail(format!("held {duration}; new instances stayed healthy"));
                if !resumed_paused {
                    let started = self.first_start(run.row.id, index).await?;
                    // Beside the stable release; a first release has none, and no canary hold.
                    let comparison = match &run.plan.from {
                        Some(from) => Comparison::Stable(from.version.clone()),
                        None => Comparison::Baseline(None),
                    };
                    let until = started + duration.as_std();
                    let analysis = self.hold(run, index, &to, comparison, started, until).await?;
                    if let Some((detail, evidence, inconclusive)) = analysis {
                        outcome.detail = detail;
                        outcome.data = json!({"analysis": evidence});
                        if inconclusive {
                            self.pause(run, index).await?;
                        }
                    }
                }
                if *pause {
                    self.pause(run, index).await?;
                }
                Ok(outcome)
            }
            Step::Bake { duration } => {
                let started = self.first_start(run.row.id, index).await?;
                let mut outcome = Outcome::detail(format!("baked {duration}; instances stayed healthy"));
                // After promotion nothing serves beside the new version: the previous release's
                // figures from before the deployment are the reference.
                let baseline = self.baseline(run).await?;
                if let Some((detail, evidence, inconclusive)) = self
                    .hold(run, index, &to, Comparison::Baseline(baseline), started, started + duration.as_std())
                    .await?
                {
                    outcome.detail = detail;
                    outcome.data = json!({"analysis": evidence});
                    if inconclusive {
                        self.pause(run, index).await?;
                    }
                }
                Ok(outcome)
            }
            Step::ScaleVersion { version, count } => {
                let mut live = self.live(&run.service, version).await?;
                live.sort_by(|a, b| a.id.cmp(&b.id));
                let excess = live.len().saturating_sub(*count as usize);
                for instance in live.iter().rev().take(excess) {
                    self.agent.stop_instance(&instance.id).await?;
                }
                Ok(Outcome::detail(format!("{version} runs {count} instance(s)")))
            }
            Step::Promote { version } => {
                let mut routes = vec![(version.clone(), FULL_WEIGHT)];
                if let Some(from) = &run.plan.from
                    && !self.live(&run.service, &from.version).await?.is_empty()
                {
                    routes.push((from.version.clone(), 0));
                }
                self.route(run, &routes).await?;
                let environment = EnvironmentRow {
                    name: run.row.environment.clone(),
                    active_version: Some(version.clone()),
                    active_since: Some(now()),
                    previous_version: run.plan.from.as_ref().map(|from| from.version.clone()),
                    warm_until: None,
                };
                Ok(Outcome {
                    detail: format!("{version} takes all traffic"),
                    environment: Some(environment),
                    data: json!({}),
                })
            }
            Step::KeepWarm { version, duration } => {
                let until = jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::try_from(duration.as_std()).unwrap_or_default())
                    .unwrap_or_else(|_| jiff::Timestamp::now())
                    .to_string();
                let mut environment = self.environment(&run.row.environment).await?;
                environment.previous_version = Some(version.clone());
                environment.warm_until = Some(until.clone());
                Ok(Outcome {
                    detail: format!("{version} stays warm until {until}"),
                    environment: Some(environment),
                    data: json!({}),
                })
            }
            Step::StopVersion { version } => {
                let environment = self.environment(&run.row.environment).await?;
                if environment.previous_version.as_deref() == Some(version.as_str())
                    && environment.warm_until.as_deref().is_some_and(|until| until > now().as_str())
                {
                    return Ok(Outcome::detail(format!(
                        "{version} stays warm; it is stopped once its warm period ends"
                    )));
                }
                self.stop_version(run, version).await?;
                Ok(Outcome::detail(format!("{version} drained and stopped")))
            }
            Step::Record => Ok(Outcome::detail("recorded")),
        }
    }

    /// Judges the deployment again when it starts executing (time-dependent rules may have
    /// changed their verdict since the API accepted it), with the overrides given then.
    async fn gates(&self, run: &Run) -> Result<Outcome, StepError> {
        let id = run.row.id;
        let events = self.events(id).await?;
        let overrides: Vec<crate::gates::Override> = events
            .iter()
            .find(|event| event.kind == kinds::CREATED)
            .and_then(|event| serde_json::from_str::<serde_json::Value>(&event.data).ok())
            .and_then(|data| serde_json::from_value(data.get("overrides")?.clone()).ok())
            .unwrap_or_default();
        let release = self.release(&run.row.version).await?;
        let facts = crate::gates::gather(self, &run.row.environment, &release, &run.row.actor, false).await?;
        let lifting = crate::gates::judge(&facts, &overrides);
        if crate::gates::refuses(&lifting) {
            return Err(StepError::Failed(crate::gates::refusal_reason(&lifting)));
        }
        let warnings = lifting.remaining.len();
        let mut outcome = Outcome::detail(format!(
            "no gate refuses ({warnings} warning(s), {} finding(s) overridden)",
            lifting.lifted.len()
        ));
        // The stable release's figures before anything changes: the bake compares with them.
        if let Some(from) = &run.plan.from
            && let Ok(metrics) = self.agent.metrics().await
            && let Some(counts) =
                AgentMetrics::from_json(&metrics, &run.service).ok().and_then(|all| all.counts(&from.version).cloned())
        {
            outcome.data = json!({"baseline": {"version": from.version, "counts": counts}});
        }
        Ok(outcome)
    }

    async fn start_instances(&self, run: &Run, version: &str, count: u32) -> Result<Outcome, StepError> {
        let release = self.release(version).await?;
        let spec = if version == run.plan.to.version { run.spec.clone() } else { parse_spec(&release.spec, version)? };
        let dir =
            service::artifact_dir(&self.data_dir, &release.digest, &release.kind, &service::artifact_file_name(&spec))
                .map_err(|error| StepError::Failed(error.to_string()))?;
        // The version must be in the routing table (at weight 0, pinnable) before its
        // instances start, so the agent knows the service and smoke checks can reach them.
        let mut routes = self.current_routes(&run.service).await?;
        if !routes.iter().any(|(name, _)| name == version) {
            routes.push((version.to_owned(), 0));
        }
        self.route(run, &routes).await?;
        let all = self.agent.instances().await?;
        let live: Vec<&InstanceStatus> = all
            .iter()
            .filter(|instance| instance.service == run.service && instance.version == version && is_live(instance))
            .collect();
        // Declared secrets are resolved once per step, before any instance starts: a missing value
        // or a failing `command` fails the step with the secret's name.
        let resolved = if live.len() < count as usize {
            crate::secrets::resolve(self, &spec, &run.row.environment).await.map_err(StepError::Failed)?
        } else {
            crate::secrets::Resolved::default()
        };
        let flags_env = service::flags_env(&self.recorder, &run.row.environment).await;
        let mut next = 1;
        for _ in live.len()..count as usize {
            let id = loop {
                let candidate = format!("{}-d{}-{next}", run.service, run.row.id);
                next += 1;
                if !all.iter().any(|instance| instance.id == candidate) {
                    break candidate;
                }
            };
            let mut instance = service::instance_spec(&spec, &run.row.environment, version, id, &dir);
            instance.env.extend(flags_env.iter().cloned());
            crate::secrets::inject(&mut instance, &resolved);
            instance.verify = service::artifact_check(&self.data_dir, &release, &spec);
            match self.agent.start_instance(&instance).await {
                Ok(_) => {}
                // Started by the run this one resumes; the agent already has it.
                Err(error) if error.status() == Some(409) => {}
                Err(error) if error.status() == Some(422) => {
                    return Err(self.artifact_refused(run, version, &error).await);
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(Outcome::detail(format!("{count} instance(s) of {version} running")))
    }

    /// The agent refused to start an instance because its artifact does not match the signed
    /// release (SG0702, never overridable): recorded in the ledger, and the step fails.
    async fn artifact_refused(&self, run: &Run, version: &str, error: &AgentError) -> StepError {
        let message = format!("release `{version}` refused at instance start: {error}");
        let recorded = self
            .recorder
            .record(
                Change::event(&run.row, kinds::PROGRESS, message.clone())
                    .data(json!({"rule": "SG0702", "version": version}))
                    .ledger(actions::ARTIFACT_REFUSED),
            )
            .await;
        match recorded {
            Ok(_) => StepError::Failed(message),
            Err(error) => error.into(),
        }
    }

    async fn wait_healthy(&self, run: &Run, index: u32, version: &str, count: u32) -> Result<Outcome, StepError> {
        let startup = run.spec.run.health.as_ref().map_or(Duration::from_secs(60), |health| health.startup.as_std());
        let deadline = self.first_start(run.row.id, index).await? + startup;
        let mut reported = None;
        loop {
            self.check_signal(run)?;
            let live = self.live(&run.service, version).await?;
            if let Some(bad) = live.iter().find(|instance| is_crash_looping(instance)) {
                return Err(StepError::Failed(format!(
                    "instance {} of {version} is crash-looping (restarted {} times; last exit: {})",
                    bad.id,
                    bad.restarts,
                    bad.last_exit.as_deref().unwrap_or("unknown")
                )));
            }
            let healthy = live.iter().filter(|instance| instance.state == InstanceState::Healthy).count();
            if reported != Some(healthy) {
                reported = Some(healthy);
                self.recorder
                    .record(
                        Change::event(
                            &run.row,
                            kinds::PROGRESS,
                            format!("{healthy}/{count} instance(s) of {version} healthy"),
                        )
                        .step(index)
                        .data(json!({"version": version, "healthy": healthy, "wanted": count})),
                    )
                    .await?;
            }
            if healthy >= count as usize {
                return Ok(Outcome::detail(format!("{count} instance(s) of {version} healthy")));
            }
            if Instant::now() >= deadline {
                return Err(StepError::Failed(format!(
                    "only {healthy} of {count} instance(s) of {version} became healthy within {} s (`[run.health] startup`)",
                    startup.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The stable release's counts recorded by the gates step, before the deployment changed
    /// anything.
    async fn baseline(&self, run: &Run) -> Result<Option<Counts>, StepError> {
        let id = run.row.id;
        let events = self.events(id).await?;
        Ok(events
            .iter()
            .filter(|event| event.kind == kinds::STEP_DONE)
            .filter_map(|event| serde_json::from_str::<serde_json::Value>(&event.data).ok())
            .find_map(|data| serde_json::from_value::<Counts>(data.get("baseline")?.get("counts")?.clone()).ok()))
    }

    /// A hold: until `until`, fails as soon as an instance of `version` stops being healthy and,
    /// when the environment declares `analysis`, as soon as the judge has enough evidence of a
    /// regression against the comparison (or of a limit broken). Returns the analysis' summary, its
    /// evidence and whether it ended inconclusive with `on_inconclusive = "pause"`; `None`
    /// without analysis.
    async fn hold(
        &self,
        run: &Run,
        index: u32,
        version: &str,
        comparison: Comparison,
        started: Instant,
        until: Instant,
    ) -> Result<Option<(String, serde_json::Value, bool)>, StepError> {
        let stable = match &comparison {
            Comparison::Stable(stable) => Some(stable.as_str()),
            Comparison::Baseline(_) => None,
        };
        let Some(analysis) = run.spec.environments.get(&run.row.environment).and_then(|env| env.analysis.clone())
        else {
            self.watch(run, version, until).await?;
            return Ok(None);
        };
        let stamp = |at: Instant| {
            let now = Instant::now();
            let offset = if at >= now {
                jiff::SignedDuration::try_from(at - now).unwrap_or_default()
            } else {
                -jiff::SignedDuration::try_from(now - at).unwrap_or_default()
            };
            jiff::Timestamp::now().checked_add(offset).unwrap_or_else(|_| jiff::Timestamp::now())
        };
        let counts = |metrics: &serde_json::Value, name: &str| {
            AgentMetrics::from_json(metrics, &run.service)
                .ok()
                .and_then(|all| all.counts(name).cloned())
                .unwrap_or_default()
        };
        let metrics = self.agent.metrics().await?;
        let reference = match (&comparison, analysis.compare) {
            (Comparison::Stable(stable), shipgate_spec::Compare::Stable) => Reference::Stable(counts(&metrics, stable)),
            (Comparison::Baseline(Some(baseline)), shipgate_spec::Compare::Stable) => {
                Reference::Baseline(baseline.clone())
            }
            _ => Reference::None,
        };
        let hold = Hold { start: stamp(started), end: stamp(until) };
        let mut judge = Judge::new(AnalysisConfig::from_spec(&analysis), hold, counts(&metrics, version), reference);
        let mut last_report = Instant::now();
        let mut readings_due: Vec<Instant> = vec![Instant::now(); analysis.metrics.len()];
        loop {
            self.check_signal(run)?;
            self.check_health(run, version).await?;
            let metrics = self.agent.metrics().await?;
            let (canary, stable_now) = (counts(&metrics, version), stable.map(|stable| counts(&metrics, stable)));
            let mut readings = Vec::new();
            for (metric, due) in analysis.metrics.iter().zip(readings_due.iter_mut()) {
                if Instant::now() < *due {
                    continue;
                }
                *due = Instant::now() + metric.interval.as_std();
                let provider = shipgate_analysis::providers::provider_for(metric, &analysis, ANALYSIS_TIMEOUT);
                let (app, environment, version) =
                    (run.spec.app.name.as_str().to_owned(), run.row.environment.clone(), version.to_owned());
                let result = tokio::task::spawn_blocking(move || {
                    provider
                        .read(&Query {
                            app: &app,
                            environment: &environment,
                            version: &version,
                            at: jiff::Timestamp::now(),
                        })
                        .map_err(|error| error.to_string())
                })
                .await
                .map_err(|error| StepError::Failed(error.to_string()))?;
                readings.push(MetricReading { name: metric.name.clone(), at: jiff::Timestamp::now(), result });
            }
            let verdict = judge.observe(Look {
                at: jiff::Timestamp::now(),
                canary: &canary,
                stable: stable_now.as_ref(),
                metrics: &readings,
            });
            let evidence = judge.evidence();
            if last_report.elapsed() >= ANALYSIS_REPORT || verdict != Verdict::Pending {
                last_report = Instant::now();
                self.recorder
                    .record(
                        Change::event(&run.row, kinds::PROGRESS, format!("analysis: {}", evidence.summary))
                            .step(index)
                            .data(json!({"analysis": evidence})),
                    )
                    .await?;
            }
            let value = serde_json::to_value(&evidence).unwrap_or_default();
            match verdict {
                Verdict::Pending => {}
                Verdict::Pass => return Ok(Some((format!("analysis passed: {}", evidence.summary), value, false))),
                Verdict::Fail => return Err(StepError::Failed(format!("analysis failed: {}", evidence.summary))),
                Verdict::Inconclusive => {
                    return match analysis.on_inconclusive {
                        OnInconclusive::Promote => {
                            Ok(Some((format!("analysis inconclusive, going on: {}", evidence.summary), value, false)))
                        }
                        OnInconclusive::Rollback => {
                            Err(StepError::Failed(format!("analysis inconclusive: {}", evidence.summary)))
                        }
                        OnInconclusive::Pause => {
                            Ok(Some((format!("analysis inconclusive: {}", evidence.summary), value, true)))
                        }
                    };
                }
            }
            tokio::time::sleep(ANALYSIS_LOOK.min(until.saturating_duration_since(Instant::now()).max(POLL))).await;
        }
    }

    /// Fails when an instance of `version` is not healthy.
    async fn check_health(&self, run: &Run, version: &str) -> Result<(), StepError> {
        for instance in self.live(&run.service, version).await? {
            if instance.state != InstanceState::Healthy {
                return Err(StepError::Failed(format!(
                    "instance {} of {version} became {:?}{}",
                    instance.id,
                    instance.state,
                    instance.last_exit.as_deref().map(|exit| format!(" (last exit: {exit})")).unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// Until `until`, fails as soon as an instance of `version` stops being healthy.
    async fn watch(&self, run: &Run, version: &str, until: Instant) -> Result<(), StepError> {
        loop {
            self.check_signal(run)?;
            self.check_health(run, version).await?;
            if Instant::now() >= until {
                return Ok(());
            }
            tokio::time::sleep(POLL.min(until.saturating_duration_since(Instant::now()))).await;
        }
    }

    async fn pause(&self, run: &mut Run, index: u32) -> Result<(), StepError> {
        if run.row.status != status::PAUSED {
            run.row.status = status::PAUSED.into();
            let message = match &run.row.reason {
                Some(reason) => format!("paused: {reason}"),
                None => "paused: run `shipgate deploy resume` to go on".to_owned(),
            };
            self.recorder
                .record(
                    Change::event(&run.row, kinds::PAUSED, message).step(index).update_row().ledger(actions::PAUSED),
                )
                .await?;
        }
        loop {
            let signal = run.signal.borrow_and_update().clone();
            match signal {
                Signal::Resume => break,
                Signal::Abort { reason } => return Err(StepError::Aborted(reason)),
                Signal::None | Signal::Supersede { .. } => {}
            }
            // The API may have resumed it in the store (another server, or before this run began).
            let id = run.row.id;
            let stored = self
                .recorder
                .blocking(move |recorder| Ok(recorder.store.read(|reader| reader.deployment(id))?))
                .await?;
            if stored.is_some_and(|row| row.status == status::RUNNING) {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), run.signal.changed()).await;
        }
        run.row.status = status::RUNNING.into();
        run.row.reason = None;
        Ok(())
    }

    /// Whether this deployment's expand step applied any migration.
    async fn expand_applied(&self, run: &Run) -> Result<bool, StepError> {
        let Some(index) = run.plan.steps.iter().position(|step| matches!(step, Step::MigrateExpand)) else {
            return Ok(false);
        };
        let (id, index) = (run.row.id, u32::try_from(index).unwrap_or(u32::MAX));
        let events = self.events(id).await?;
        Ok(events.iter().any(|event| {
            event.kind == kinds::STEP_DONE
                && event.step_index == Some(index)
                && serde_json::from_str::<serde_json::Value>(&event.data)
                    .is_ok_and(|data| data["applied"].as_array().is_some_and(|applied| !applied.is_empty()))
        }))
    }

    /// Applies `phases` of the migrations shipped with release `version`, from their stored
    /// copy, to the database named by `[migrations] database` (read from the server's
    /// environment until secrets storage exists).
    async fn migrate(&self, run: &Run, version: &str, phases: Phases) -> Result<Outcome, StepError> {
        let Some(migrations) = run.spec.migrations.clone() else {
            return Ok(Outcome::detail("the release declares no migrations"));
        };
        let release = self.release(version).await?;
        let stored = release
            .evidence
            .as_deref()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .and_then(|evidence| evidence["migrations"]["artifact"].as_str().map(str::to_owned));
        let Some(stored) = stored else {
            return Ok(Outcome::detail(format!("release {version} ships no migrations")));
        };
        let url = std::env::var(&migrations.database).map_err(|_| {
            StepError::Failed(format!(
                "the server has no `${}`: start `shipgate server` with the database URL named by `[migrations] database`",
                migrations.database
            ))
        })?;
        let dir = shipgate_artifact::stored_path(&self.data_dir.join("artifacts"), &stored);
        let phase = if phases == Phases::ExpandOnly { "expand" } else { "contract" };
        let applied: Vec<String> = match migrations.command {
            Some(_) if phases == Phases::ContractOnly => {
                return Ok(Outcome::detail("the migration framework's command runs every phase in the expand step"));
            }
            Some(command) => {
                let variable = migrations.database.clone();
                let run = tokio::task::spawn_blocking(move || {
                    shipgate_migrate::command::run(&command, &dir, &variable, &url)
                })
                .await
                .map_err(|error| StepError::Failed(error.to_string()))?
                .map_err(StepError::Failed)?;
                if !run.success {
                    return Err(StepError::Failed(format!("`{}` failed: {}", run.command, run.output_tail)));
                }
                vec![format!("`{}` ({} ms)", run.command, run.duration_ms)]
            }
            None => tokio::task::spawn_blocking(move || {
                let set = shipgate_migrate::layout::load_dir(&dir).map_err(|errors| {
                    format!(
                        "the stored migrations do not load: {}",
                        errors.first().map(ToString::to_string).unwrap_or_default()
                    )
                })?;
                let mut client = apply::connect(&url).map_err(|error| error.to_string())?;
                apply::apply(&mut client, &set, phases, apply::Timeouts::default()).map_err(|error| error.to_string())
            })
            .await
            .map_err(|error| StepError::Failed(error.to_string()))?
            .map_err(|error| StepError::Failed(format!("{phase} migrations failed: {error}")))?
            .into_iter()
            .map(|applied| applied.path)
            .collect(),
        };
        let detail = if applied.is_empty() {
            format!("no {phase} migration pending")
        } else {
            format!("applied {phase} migrations of {version}: {}", applied.join(", "))
        };
        Ok(Outcome { detail, environment: None, data: json!({"applied": applied}) })
    }

    fn check_signal(&self, run: &Run) -> Result<(), StepError> {
        match &*run.signal.borrow() {
            Signal::Abort { reason } => Err(StepError::Aborted(reason.clone())),
            _ => Ok(()),
        }
    }

    /// Returns traffic to the stable release in one routing change, stops the new instances
    /// and records the final status.
    async fn roll_back(&self, run: &mut Run, reason: String, final_status: &str) -> Result<(), StepError> {
        if run.row.status != status::ROLLING_BACK {
            run.row.status = status::ROLLING_BACK.into();
            run.row.reason = Some(reason.clone());
            self.recorder
                .record(
                    Change::event(&run.row, kinds::ROLLING_BACK, format!("rolling back: {reason}"))
                        .update_row()
                        .ledger(actions::ROLLING_BACK),
                )
                .await?;
        }
        let to = run.plan.to.version.clone();
        let mut environment = self.environment(&run.row.environment).await?;
        let mut final_status = final_status;
        match run.plan.from.clone() {
            Some(from) => {
                if self.live(&run.service, &from.version).await?.is_empty() {
                    // Nothing of the stable release runs (recreate stopped it): start it again.
                    let replicas = run
                        .stable_spec
                        .as_ref()
                        .and_then(|spec| spec.environments.get(&run.row.environment))
                        .map_or(1, |env| env.replicas);
                    self.start_instances(run, &from.version, replicas).await?;
                    let index = u32::try_from(run.plan.steps.len()).unwrap_or(u32::MAX);
                    self.wait_healthy(run, index, &from.version, replicas).await?;
                }
                let spec = run.stable_spec.clone().unwrap_or_else(|| run.spec.clone());
                self.route_with(&spec, run, &[(from.version.clone(), FULL_WEIGHT)]).await?;
                // Undo the promotion, if it happened; otherwise the environment (and a release
                // it keeps warm) is as it was before this deployment.
                if environment.active_version.as_deref() == Some(to.as_str()) {
                    environment.active_version = Some(from.version.clone());
                    environment.previous_version = None;
                    environment.warm_until = None;
                }
            }
            None => {
                self.route(run, &[]).await?;
                final_status = if final_status == status::ABORTED { status::ABORTED } else { status::FAILED };
            }
        }
        for instance in self.live(&run.service, &to).await? {
            self.agent.stop_instance(&instance.id).await?;
        }
        // Every deployment that ran gets its checklist, a rolled-back one too: it says what failed.
        self.record_checklist(run).await?;
        run.row.status = final_status.into();
        run.row.finished = Some(now());
        let message = match &run.plan.from {
            Some(from) => format!("{final_status}: traffic back on {}; {reason}", from.version),
            None => format!("{final_status}: {reason}"),
        };
        self.recorder
            .record(
                Change::event(&run.row, final_status, message)
                    .update_row()
                    .environment(Some(environment))
                    .ledger(actions::FINISHED)
                    .checkpoint(),
            )
            .await?;
        Ok(())
    }

    async fn stop_version(&self, run: &Run, version: &str) -> Result<(), StepError> {
        let routes: Vec<(String, u32)> =
            self.current_routes(&run.service).await?.into_iter().filter(|(name, _)| name != version).collect();
        self.route(run, &routes).await?;
        for instance in self.live(&run.service, version).await? {
            self.agent.stop_instance(&instance.id).await?;
        }
        Ok(())
    }

    async fn route(&self, run: &Run, routes: &[(String, u32)]) -> Result<(), StepError> {
        self.route_with(&run.spec, run, routes).await
    }

    async fn route_with(&self, spec: &Spec, run: &Run, routes: &[(String, u32)]) -> Result<(), StepError> {
        let Some(service) = service::service_spec(spec, &run.row.environment, routes) else {
            return Err(StepError::Failed(format!(
                "the release's shipgate.toml has no environment `{}`",
                run.row.environment
            )));
        };
        self.agent.put_service(&run.service, &service).await?;
        Ok(())
    }

    async fn current_routes(&self, service: &str) -> Result<Vec<(String, u32)>, StepError> {
        Ok(self
            .agent
            .service(service)
            .await?
            .map(|status| status.spec.versions.into_iter().map(|route| (route.name, route.weight)).collect())
            .unwrap_or_default())
    }

    /// The instances of `version` that run or will run (not draining or stopped).
    async fn live(&self, service: &str, version: &str) -> Result<Vec<InstanceStatus>, StepError> {
        Ok(self
            .agent
            .instances()
            .await?
            .into_iter()
            .filter(|instance| instance.service == service && instance.version == version && is_live(instance))
            .collect())
    }

    /// Judges the post-deployment checklist of a deployment that reached its end, and records it
    /// (event `checklist`, with a ledger entry) with each item's evidence.
    async fn record_checklist(&self, run: &Run) -> Result<(), StepError> {
        let events = self.events(run.row.id).await?;
        let version = run.plan.to.version.clone();
        let wanted_release = version.clone();
        let (history, release) = self
            .recorder
            .blocking(move |recorder| {
                Ok(recorder.store.read(|reader| {
                    let mut all = Vec::new();
                    for environment in reader.environments()? {
                        all.extend(reader.deployments(&environment.name, 10_000)?);
                    }
                    Ok::<_, shipgate_store::StoreError>((all, reader.release(&wanted_release)?))
                })?)
            })
            .await?;
        let evidence: serde_json::Value =
            release.and_then(|row| row.evidence).and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
        let healthy = self
            .live(&run.service, &version)
            .await?
            .iter()
            .filter(|instance| instance.state == InstanceState::Healthy)
            .count();
        let wanted = run.spec.environments.get(&run.row.environment).map_or(1, |env| env.replicas);
        let items = crate::checklist::evaluate(&crate::checklist::Inputs {
            spec: &run.spec,
            environment: &run.row.environment,
            steps: &run.plan.steps,
            events: &events,
            healthy: (healthy, wanted),
            history: &history,
            version: &version,
            deployment: run.row.id,
            changelog: evidence["changelog"]["markdown"].as_str(),
        });
        let count = |status| items.iter().filter(|item| item.status == status).count();
        let message = format!(
            "post-deployment checklist: {} passed, {} failed, {} unknown",
            count(crate::checklist::Status::Pass),
            count(crate::checklist::Status::Fail),
            count(crate::checklist::Status::Unknown)
        );
        self.recorder
            .record(
                Change::event(&run.row, kinds::CHECKLIST, message)
                    .data(json!({"checklist": items}))
                    .ledger(actions::CHECKLIST),
            )
            .await?;
        Ok(())
    }

    /// Every event of deployment `id`, in order.
    async fn events(&self, id: u64) -> Result<Vec<shipgate_store::EventRow>, StepError> {
        Ok(self
            .recorder
            .blocking(move |recorder| Ok(recorder.store.read(|reader| reader.deployment_events(id, 0))?))
            .await?)
    }

    /// When step `index` first started (a resumed step keeps its original clock).
    async fn first_start(&self, id: u64, index: u32) -> Result<Instant, StepError> {
        let events = self.events(id).await?;
        let started = events
            .iter()
            .find(|event| event.kind == kinds::STEP_STARTED && event.step_index == Some(index))
            .and_then(|event| event.time.parse::<jiff::Timestamp>().ok());
        let elapsed = started
            .and_then(|started| jiff::Timestamp::now().duration_since(started).try_into().ok())
            .unwrap_or(Duration::ZERO);
        Ok(Instant::now().checked_sub(elapsed).unwrap_or_else(Instant::now))
    }

    async fn environment(&self, name: &str) -> Result<EnvironmentRow, StepError> {
        let owned = name.to_owned();
        let row = self
            .recorder
            .blocking(move |recorder| Ok(recorder.store.read(|reader| reader.environment(&owned))?))
            .await?;
        Ok(row.unwrap_or_else(|| EnvironmentRow {
            name: name.to_owned(),
            active_version: None,
            active_since: None,
            previous_version: None,
            warm_until: None,
        }))
    }

    async fn release(&self, version: &str) -> Result<shipgate_store::ReleaseRow, StepError> {
        let owned = version.to_owned();
        self.recorder
            .blocking(move |recorder| Ok(recorder.store.read(|reader| reader.release(&owned))?))
            .await?
            .ok_or_else(|| StepError::Failed(format!("release {version} is not in the store")))
    }
}

/// What a hold compares the new version with.
enum Comparison {
    /// The stable version serving beside it.
    Stable(String),
    /// Fixed figures of the previous release from before the deployment (the bake), if known.
    Baseline(Option<Counts>),
}

/// What a step leaves behind.
struct Outcome {
    detail: String,
    /// The environment's new state, recorded with the step's `done`.
    environment: Option<EnvironmentRow>,
    /// Recorded with the step's `done` event (e.g. the migrations applied).
    data: serde_json::Value,
}

impl Outcome {
    fn detail(detail: impl Into<String>) -> Outcome {
        Outcome { detail: detail.into(), environment: None, data: json!({}) }
    }
}

/// How many exits before it ever became healthy make a new instance count as crash-looping:
/// a deployment need not wait for the agent's own (slower, backoff-paced) crash-loop verdict.
const STARTUP_RESTARTS: u32 = 3;

fn is_crash_looping(instance: &InstanceStatus) -> bool {
    instance.state == InstanceState::Crashloop
        || (instance.restarts >= STARTUP_RESTARTS
            && matches!(instance.state, InstanceState::Backoff | InstanceState::Starting))
}

pub fn is_live(instance: &InstanceStatus) -> bool {
    !matches!(instance.state, InstanceState::Draining | InstanceState::Stopped)
}

pub fn weights_json(routes: &[(String, u32)]) -> serde_json::Value {
    routes.iter().map(|(version, points)| json!({"version": version, "weight": f64::from(*points) / 100.0})).collect()
}

pub fn parse_spec(text: &str, version: &str) -> Result<Spec, StepError> {
    shipgate_spec::parse_str(text)
        .map_err(|_| StepError::Failed(format!("the shipgate.toml stored with release {version} no longer validates")))
}
