//! The one path by which a deployment's state changes: every change is a store transaction
//! that also appends the ledger entry recording it, and then wakes whoever follows the
//! deployment's events.

use std::sync::Arc;

use serde_json::{Value, json};
use shipgate_ledger::{Ledger, LedgerError, NewEntry};
use shipgate_store::{DeploymentRow, EnvironmentRow, EventRow, Store, StoreError};
use tokio::sync::broadcast;

/// What can go wrong while recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("a blocking task of the store failed: {0}")]
    Join(String),
}

/// Ledger actions of deployments.
pub mod actions {
    pub const CREATED: &str = "deployment.created";
    pub const STEP_STARTED: &str = "deployment.step-started";
    pub const STEP_DONE: &str = "deployment.step-done";
    pub const STEP_FAILED: &str = "deployment.step-failed";
    pub const PAUSED: &str = "deployment.paused";
    pub const RESUMED: &str = "deployment.resumed";
    pub const ROLLING_BACK: &str = "deployment.rolling-back";
    pub const FINISHED: &str = "deployment.finished";
    pub const INSTANCE_ORPHAN_STOPPED: &str = "instance.orphan-stopped";
    pub const TOKEN_CREATED: &str = "token.created";
    pub const TOKEN_REVOKED: &str = "token.revoked";
    pub const REFUSED: &str = "deployment.refused";
    pub const DRIFT_DETECTED: &str = "drift.detected";
    pub const DRIFT_CLEARED: &str = "drift.cleared";
    /// The agent refused to start an instance: its artifact or signature does not verify.
    pub const ARTIFACT_REFUSED: &str = "artifact.refused";
    pub const APPROVED: &str = "deployment.approved";
    pub const REJECTED: &str = "deployment.rejected";
    /// A vote refused: the author approving their own deployment, or a voter `from` excludes.
    pub const APPROVAL_REFUSED: &str = "deployment.approval-refused";
    /// Enough approvals: the deployment starts (after the `wait`).
    pub const APPROVALS_COMPLETE: &str = "deployment.approvals-complete";
    /// The plan changed while the deployment awaited approval: earlier votes no longer count.
    pub const APPROVALS_EXPIRED: &str = "deployment.approvals-expired";
    pub const CHECKLIST: &str = "deployment.checklist";
    pub const FLAG_SET: &str = "flag.set";
    pub const FLAG_RESET: &str = "flag.reset";
    pub const FLAG_KILLED: &str = "flag.killed";
    pub const SECRET_SET: &str = "secret.set";
    pub const SECRET_REMOVED: &str = "secret.removed";
    pub const SECRETS_RESTARTED: &str = "secrets.restarted";
}

/// The event kinds of a deployment's timeline (the API documents them).
pub mod kinds {
    pub const CREATED: &str = "created";
    pub const STEP_STARTED: &str = "step_started";
    pub const STEP_DONE: &str = "step_done";
    pub const STEP_FAILED: &str = "step_failed";
    pub const PROGRESS: &str = "progress";
    pub const PAUSED: &str = "paused";
    pub const RESUMED: &str = "resumed";
    pub const ROLLING_BACK: &str = "rolling_back";
    pub const APPROVED: &str = "approved";
    /// The plan was recomputed before the start and differs: the votes given expired.
    pub const APPROVALS_EXPIRED: &str = "approvals_expired";
    /// The post-deployment checklist, judged at the end (data: `{"checklist": [items]}`).
    pub const CHECKLIST: &str = "checklist";
}

/// The final statuses (also event kinds).
pub mod status {
    pub const RUNNING: &str = "running";
    /// Waits for the votes an environment's `approvals` require; no step has run.
    pub const AWAITING_APPROVAL: &str = "awaiting_approval";
    pub const PAUSED: &str = "paused";
    pub const ROLLING_BACK: &str = "rolling_back";
    pub const SUCCEEDED: &str = "succeeded";
    pub const ROLLED_BACK: &str = "rolled_back";
    pub const FAILED: &str = "failed";
    pub const ABORTED: &str = "aborted";
    /// An approver rejected it before it started.
    pub const REJECTED: &str = "rejected";

    pub fn is_final(status: &str) -> bool {
        matches!(status, SUCCEEDED | ROLLED_BACK | FAILED | ABORTED | REJECTED)
    }
}

/// A change to record: the event, and optionally the deployment row, the environment row and
/// a ledger entry, all in one transaction.
pub struct Change<'a> {
    pub deployment: &'a DeploymentRow,
    pub kind: &'a str,
    pub step_index: Option<u32>,
    pub message: String,
    pub data: Value,
    /// Write the deployment row as it is now.
    pub update_row: bool,
    pub environment: Option<EnvironmentRow>,
    /// The ledger action, when this change belongs in the ledger.
    pub ledger_action: Option<&'static str>,
    /// Sign a checkpoint in the same transaction (at the end of a deployment).
    pub checkpoint: bool,
}

impl<'a> Change<'a> {
    pub fn event(deployment: &'a DeploymentRow, kind: &'a str, message: impl Into<String>) -> Change<'a> {
        Change {
            deployment,
            kind,
            step_index: None,
            message: message.into(),
            data: json!({}),
            update_row: false,
            environment: None,
            ledger_action: None,
            checkpoint: false,
        }
    }

    pub fn step(mut self, index: u32) -> Self {
        self.step_index = Some(index);
        self
    }

    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    pub fn update_row(mut self) -> Self {
        self.update_row = true;
        self
    }

    pub fn environment(mut self, row: Option<EnvironmentRow>) -> Self {
        self.environment = row;
        self
    }

    pub fn ledger(mut self, action: &'static str) -> Self {
        self.ledger_action = Some(action);
        self
    }

    pub fn checkpoint(mut self) -> Self {
        self.checkpoint = true;
        self
    }
}

/// The recorder, shared by the executor and the API.
#[derive(Clone)]
pub struct Recorder {
    pub store: Arc<dyn Store>,
    pub ledger: Arc<Ledger>,
    events: broadcast::Sender<u64>,
    /// Replaces secret values with `[secret:NAME]` in every event and ledger entry recorded here.
    pub redactor: shipgate_secrets::Redactor,
}

pub fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl Recorder {
    pub fn new(store: Arc<dyn Store>, ledger: Arc<Ledger>) -> Recorder {
        let (events, _) = broadcast::channel(1024);
        Recorder { store, ledger, events, redactor: shipgate_secrets::Redactor::default() }
    }

    /// Wakes on every recorded event, with its deployment's id.
    pub fn subscribe(&self) -> broadcast::Receiver<u64> {
        self.events.subscribe()
    }

    /// Runs blocking store work off the async threads.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Recorder) -> Result<T, RecordError> + Send + 'static,
    ) -> Result<T, RecordError> {
        let recorder = self.clone();
        tokio::task::spawn_blocking(move || work(&recorder))
            .await
            .map_err(|error| RecordError::Join(error.to_string()))?
    }

    /// Creates a deployment: the row, its `created` event and the ledger entry together.
    /// `extra` (an object) joins the event's data, e.g. the overrides given with it.
    /// Fails with [`StoreError::Conflict`] when the environment has one in flight.
    pub async fn create(&self, row: DeploymentRow, extra: Value) -> Result<DeploymentRow, RecordError> {
        self.blocking(move |recorder| {
            let ledger = &recorder.ledger;
            recorder.store.transact(|tx| {
                let mut row = row;
                row.id = tx.insert_deployment(&row)?;
                let message = format!("deploy {} to {}", row.version, row.environment);
                let mut data = json!({"from": row.from_version, "kind": row.kind, "plan_digest": row.plan_digest});
                if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
                    data.extend(extra);
                }
                recorder.redactor.redact_json(&mut data);
                tx.append_deployment_event(&EventRow {
                    deployment: row.id,
                    seq: 0,
                    time: now(),
                    kind: kinds::CREATED.into(),
                    step_index: None,
                    message: message.clone(),
                    data: data.to_string(),
                })?;
                ledger.append(tx, entry(&row, actions::CREATED, &message, &data, None))?;
                Ok::<_, RecordError>(row)
            })
        })
        .await
        .inspect(|row| {
            let _ = self.events.send(row.id);
        })
    }

    /// Records one change; see [`Change`].
    pub async fn record(&self, change: Change<'_>) -> Result<u64, RecordError> {
        let deployment = change.deployment.clone();
        let kind = change.kind.to_owned();
        let Change { step_index, message, data, update_row, environment, ledger_action, checkpoint, .. } = change;
        let message = self.redactor.redact(&message).into_owned();
        let mut data = data;
        self.redactor.redact_json(&mut data);
        let id = deployment.id;
        let seq = self
            .blocking(move |recorder| {
                let ledger = &recorder.ledger;
                recorder.store.transact(|tx| {
                    if update_row {
                        tx.update_deployment(&deployment)?;
                    }
                    if let Some(environment) = &environment {
                        tx.upsert_environment(environment)?;
                    }
                    let seq = tx.append_deployment_event(&EventRow {
                        deployment: deployment.id,
                        seq: 0,
                        time: now(),
                        kind: kind.clone(),
                        step_index,
                        message: message.clone(),
                        data: data.to_string(),
                    })?;
                    if let Some(action) = ledger_action {
                        ledger.append(tx, entry(&deployment, action, &message, &data, step_index))?;
                    }
                    if checkpoint {
                        ledger.checkpoint_in(tx)?;
                    }
                    Ok::<_, RecordError>(seq)
                })
            })
            .await?;
        let _ = self.events.send(id);
        Ok(seq)
    }
}

fn entry(row: &DeploymentRow, action: &str, message: &str, data: &Value, step: Option<u32>) -> NewEntry {
    NewEntry::new(row.actor.clone(), action, format!("deployment/{}", row.id)).env(row.environment.clone()).details(
        json!({
            "version": row.version,
            "from": row.from_version,
            "status": row.status,
            "step": step,
            "message": message,
            "data": data,
        }),
    )
}
