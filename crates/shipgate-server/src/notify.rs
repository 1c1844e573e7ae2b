//! `[notify]` webhooks: a background task that follows the recorder and tells each release's
//! webhooks when its deployments start, await approval, are promoted, roll back or fail.
//!
//! It only listens: [`Recorder::subscribe`] wakes it with the id of a deployment that changed,
//! it reads that deployment's new events from the store, maps them with `shipgate-notify`, and
//! spawns one task per delivery (retries with backoff included). Nothing on the executor's
//! path waits for it, so a slow, failing or silent receiver can never delay a deployment step
//! or a rollback. A delivery that gives up is logged and recorded as a `notify_failed` event of
//! the deployment (not in the ledger: it changes nothing).
//!
//! Delivery is at most once across restarts: events recorded while no server ran, and
//! deliveries in flight when it stopped, are not sent again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shipgate_notify::{Notification, Retry, Sender, TimelineEvent, event_name, events_for, wants};
use shipgate_spec::{Event, Webhook};
use shipgate_store::{DeploymentRow, EventRow};
use tokio::sync::broadcast::error::RecvError;

use crate::record::{Change, RecordError, Recorder, status};

/// The event kind recorded when a delivery gave up.
pub const NOTIFY_FAILED: &str = "notify_failed";

/// How long a finished deployment is remembered (so that a late event of it, such as a
/// `notify_failed`, is not mistaken for a new deployment's timeline).
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// What a release says about notifications.
struct Targets {
    app: String,
    webhooks: Vec<Webhook>,
}

struct Seen {
    /// Events `1..=seq` were handled.
    seq: u64,
    finished: Option<Instant>,
}

struct Notifier {
    recorder: Recorder,
    sender: Sender,
    retry: Retry,
    seen: HashMap<u64, Seen>,
    /// Per release version (releases are immutable); `None` when it has no webhooks.
    targets: HashMap<String, Option<Arc<Targets>>>,
    started: jiff::Timestamp,
}

/// Starts the notifier. It subscribes before returning, and takes the deployments in flight as
/// they are now, so events recorded from here on (the resumed deployments' included) notify.
pub async fn start(recorder: Recorder) -> Result<(), RecordError> {
    let events = recorder.subscribe();
    let unfinished = recorder
        .blocking(|recorder| {
            recorder.store.read(|reader| {
                let mut seen = Vec::new();
                for row in reader.unfinished_deployments()? {
                    let last = reader.deployment_events(row.id, 0)?.last().map_or(0, |event| event.seq);
                    seen.push((row.id, last));
                }
                Ok::<_, RecordError>(seen)
            })
        })
        .await?;
    let retry = Retry::default();
    let notifier = Notifier {
        recorder,
        sender: Sender::new(retry.timeout),
        retry,
        seen: unfinished.into_iter().map(|(id, seq)| (id, Seen { seq, finished: None })).collect(),
        targets: HashMap::new(),
        started: jiff::Timestamp::now(),
    };
    tokio::spawn(notifier.run(events));
    Ok(())
}

impl Notifier {
    async fn run(mut self, mut events: tokio::sync::broadcast::Receiver<u64>) {
        loop {
            match events.recv().await {
                Ok(id) => self.handle(id).await,
                Err(RecvError::Lagged(missed)) => {
                    // Catch up with every deployment that may have changed meanwhile.
                    tracing::warn!(missed, "notifications fell behind the deployments' events; catching up");
                    let recorder = self.recorder.clone();
                    let unfinished = recorder
                        .blocking(|recorder| Ok(recorder.store.read(|reader| reader.unfinished_deployments())?))
                        .await
                        .unwrap_or_default();
                    let mut ids: Vec<u64> = self.seen.keys().copied().collect();
                    ids.extend(unfinished.iter().map(|row| row.id));
                    ids.sort_unstable();
                    ids.dedup();
                    for id in ids {
                        self.handle(id).await;
                    }
                }
                Err(RecvError::Closed) => return,
            }
            if self.seen.len() > 64 {
                self.seen.retain(|_, seen| seen.finished.is_none_or(|at| at.elapsed() < FORGET_AFTER));
            }
        }
    }

    /// Notifies about deployment `id`'s events since the last look.
    async fn handle(&mut self, id: u64) {
        let after = self.seen.get(&id).map(|seen| seen.seq);
        let cached: std::collections::HashSet<String> = self.targets.keys().cloned().collect();
        let read = self
            .recorder
            .blocking(move |recorder| {
                recorder.store.read(|reader| {
                    let Some(row) = reader.deployment(id)? else { return Ok(None) };
                    let events = reader.deployment_events(id, after.unwrap_or(0))?;
                    let spec = match cached.contains(&row.version) {
                        true => None,
                        false => reader.release(&row.version)?.map(|release| release.spec),
                    };
                    Ok::<_, RecordError>(Some((row, events, spec)))
                })
            })
            .await;
        let (row, events, spec) = match read {
            Ok(Some(read)) => read,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(deployment = id, error = %error, "cannot read the deployment to notify about it");
                return;
            }
        };
        if let Some(text) = spec {
            self.targets.insert(row.version.clone(), targets(&text, &row.version));
        }
        let finished = status::is_final(&row.status).then(Instant::now);
        let last = events.last().map_or(after.unwrap_or(0), |event| event.seq);
        self.seen.insert(id, Seen { seq: last, finished });
        if after.is_none() && self.predates_start(&row) {
            // A deployment finished before this server started: its old events were someone
            // else's to announce.
            return;
        }
        let Some(Some(targets)) = self.targets.get(&row.version).cloned() else { return };
        // Read in one snapshot with the events: a deployment no longer awaiting approval has
        // its `approved` (or final) event among them.
        let awaiting_approval = row.status == "awaiting_approval"
            || row.status == "rejected"
            || events.iter().any(|event| event.kind == "approved");
        for event in &events {
            let timeline = TimelineEvent {
                kind: &event.kind,
                deployment_kind: &row.kind,
                gates_step: event.step_index.is_some_and(|index| is_gates_step(&row.plan, index)),
                awaiting_approval,
                started_steps: row.next_step > 0,
            };
            for kind in events_for(timeline) {
                let notification = notification(&targets.app, &row, event, kind);
                for (index, webhook) in targets.webhooks.iter().enumerate() {
                    if wants(webhook, kind) {
                        self.spawn_delivery(row.clone(), index, webhook.clone(), notification.clone());
                    }
                }
            }
        }
    }

    fn predates_start(&self, row: &DeploymentRow) -> bool {
        row.created.parse::<jiff::Timestamp>().is_ok_and(|created| created < self.started)
    }

    /// One task per delivery: its retries and waits hold nothing else up.
    fn spawn_delivery(&self, row: DeploymentRow, index: usize, webhook: Webhook, notification: Notification) {
        let (recorder, sender, retry) = (self.recorder.clone(), self.sender.clone(), self.retry);
        tokio::spawn(async move {
            let event = event_name(notification.event);
            // A URL from the environment may be a secret: logs name the webhook by its place.
            let (url, shown) = match (&webhook.url, &webhook.url_env) {
                (Some(url), _) => (Ok(url.clone()), url.clone()),
                (None, Some(name)) => (
                    std::env::var(name).map_err(|_| format!("the server's environment variable `{name}` is not set")),
                    format!("${name}"),
                ),
                (None, None) => (Err("the webhook has no URL".to_owned()), String::new()),
            };
            let outcome = match url {
                Ok(url) => {
                    let failed = |attempt: u32, error: &shipgate_notify::AttemptError, wait: Option<Duration>| {
                        tracing::info!(
                            deployment = row.id, webhook = index, url = %shown, event, attempt, error = %error,
                            retry_in_ms = wait.map(|wait| wait.as_millis() as u64),
                            "webhook attempt failed"
                        );
                    };
                    shipgate_notify::deliver(&sender, &url, &notification, webhook.format, retry, failed)
                        .await
                        .map_err(|error| error.to_string())
                }
                Err(reason) => Err(reason),
            };
            match outcome {
                Ok(attempts) => {
                    tracing::debug!(deployment = row.id, webhook = index, url = %shown, event, attempts, "webhook delivered")
                }
                Err(reason) => {
                    tracing::warn!(deployment = row.id, webhook = index, url = %shown, event, error = %reason, "webhook not delivered");
                    let message = format!("notification `{event}` to webhook {} ({shown}) failed: {reason}", index + 1);
                    let data = json!({"event": event, "webhook": index + 1, "url": shown, "error": reason});
                    if let Err(error) = recorder.record(Change::event(&row, NOTIFY_FAILED, message).data(data)).await {
                        tracing::warn!(deployment = row.id, error = %error, "cannot record the failed notification");
                    }
                }
            }
        });
    }
}

/// The webhooks of a release's shipgate.toml; `None` when there are none (or it no longer
/// parses, which the executor reports on its own).
fn targets(spec_text: &str, version: &str) -> Option<Arc<Targets>> {
    match shipgate_spec::parse_str(spec_text) {
        Ok(spec) if !spec.notify.webhook.is_empty() => {
            Some(Arc::new(Targets { app: spec.app.name.to_string(), webhooks: spec.notify.webhook }))
        }
        Ok(_) => None,
        Err(_) => {
            tracing::warn!(version, "the shipgate.toml stored with the release no longer validates; no notifications");
            None
        }
    }
}

/// Whether step `index` of a stored plan is the gates step (the plan is opaque JSON here, so
/// steps other engineers add do not break this).
fn is_gates_step(plan: &str, index: u32) -> bool {
    serde_json::from_str::<serde_json::Value>(plan)
        .is_ok_and(|plan| plan["steps"][index as usize]["step"].as_str() == Some("gates"))
}

fn notification(app: &str, row: &DeploymentRow, event: &EventRow, kind: Event) -> Notification {
    let (status, reason) = match kind {
        Event::DeploymentStarted => {
            let reason = if row.kind == "rollback" { row.reason.clone() } else { None };
            (status::RUNNING.to_owned(), reason)
        }
        Event::ApprovalRequested => ("awaiting_approval".to_owned(), None),
        Event::GateRefused => (status::ROLLING_BACK.to_owned(), Some(event.message.clone())),
        // Final events: the event's kind is the status it ended with.
        Event::DeploymentSucceeded | Event::DeploymentRolledBack | Event::DeploymentFailed => {
            (event.kind.clone(), row.reason.clone())
        }
    };
    Notification {
        event: kind,
        app: app.to_owned(),
        environment: row.environment.clone(),
        version: row.version.clone(),
        from_version: row.from_version.clone(),
        deployment: row.id,
        kind: row.kind.clone(),
        status,
        reason,
        message: event.message.clone(),
        time: event.time.clone(),
        seq: event.seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gates_step_is_found_in_a_stored_plan() {
        let plan = r#"{"steps": [{"step": "gates"}, {"step": "start_instances", "version": "v2", "count": 1}]}"#;
        let cases = [
            (plan, 0, true),
            (plan, 1, false),
            (plan, 7, false),
            ("not json", 0, false),
            (r#"{"steps": []}"#, 0, false),
        ];
        for (plan, index, expected) in cases {
            assert_eq!(is_gates_step(plan, index), expected, "{plan} {index}");
        }
    }

    #[test]
    fn releases_without_webhooks_notify_nobody() {
        let spec = |notify: &str| {
            format!(
                "[app]\nname = \"web\"\n[artifact]\npath = \"app\"\n[run]\ncommand = [\"./web\"]\n\
                 [environments.staging]\nlisten = \"127.0.0.1:8080\"\n{notify}"
            )
        };
        assert!(targets(&spec(""), "v1").is_none());
        assert!(targets("not toml [", "v1").is_none());
        let found = targets(&spec("[[notify.webhook]]\nurl = \"http://127.0.0.1:9/\"\nformat = \"slack\"\n"), "v1");
        let found = found.expect("a webhook");
        assert_eq!((found.app.as_str(), found.webhooks.len()), ("web", 1));
    }
}
