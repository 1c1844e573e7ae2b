//! Which deployment events notify, and what a notification says.

use serde::Serialize;
use shipgate_spec::{Event, Webhook};

/// One event of a deployment's timeline, as much of it as the mapping needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineEvent<'a> {
    /// The event kind: `created`, `step_failed`, `succeeded`, `rolled_back`, …
    pub kind: &'a str,
    /// The deployment's kind: `deploy` or `rollback`.
    pub deployment_kind: &'a str,
    /// The event belongs to the gates step (a `step_failed` there is a refusal).
    pub gates_step: bool,
    /// The deployment was created waiting for approvals (its status is, or was,
    /// `awaiting_approval`).
    pub awaiting_approval: bool,
    /// The deployment got past its first step, so an abort had something to undo.
    pub started_steps: bool,
}

/// The notifications a timeline event triggers (none, one, or two).
///
/// A deployment's start (`created`) is `deployment.started`, followed by `approval.requested`
/// when it waits for approvals (an `awaiting_approval` event is one too). Its end is
/// `deployment.succeeded` (promoted), `deployment.rolled_back` (traffic back on the previous
/// release: an automatic rollback, an abort after the first step, or a successful
/// `shipgate rollback`) or `deployment.failed` (nothing to return to, or stopped before it
/// changed anything: rejected, or aborted at its first step). A failed gates step is
/// `gate.refused`. Progress, steps and the intermediate `rolling_back` notify nothing: the final
/// event follows.
pub fn events_for(event: TimelineEvent<'_>) -> Vec<Event> {
    let rollback = event.deployment_kind == "rollback";
    match event.kind {
        "created" if event.awaiting_approval => vec![Event::DeploymentStarted, Event::ApprovalRequested],
        "created" => vec![Event::DeploymentStarted],
        "awaiting_approval" => vec![Event::ApprovalRequested],
        "succeeded" if rollback => vec![Event::DeploymentRolledBack],
        "succeeded" => vec![Event::DeploymentSucceeded],
        "rolled_back" => vec![Event::DeploymentRolledBack],
        "aborted" if event.started_steps => vec![Event::DeploymentRolledBack],
        "aborted" | "rejected" | "failed" => vec![Event::DeploymentFailed],
        "step_failed" if event.gates_step => vec![Event::GateRefused],
        _ => Vec::new(),
    }
}

/// The event's name as written in shipgate.toml and sent in payloads: `deployment.started`, …
pub fn event_name(event: Event) -> &'static str {
    Event::ALL.iter().find(|(_, known)| *known == event).map_or("unknown", |(name, _)| name)
}

/// Whether `webhook` subscribed to `event` (an empty `events` list means all of them).
pub fn wants(webhook: &Webhook, event: Event) -> bool {
    webhook.events.is_empty() || webhook.events.contains(&event)
}

/// What one notification says; the generic JSON body is exactly this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// `deployment.started`, `deployment.succeeded`, …
    #[serde(serialize_with = "serialize_event")]
    pub event: Event,
    /// `[app] name`.
    pub app: String,
    pub environment: String,
    /// The release being deployed (for a rollback: the release returned to).
    pub version: String,
    /// The release it replaces, if the environment ran one.
    pub from_version: Option<String>,
    /// The deployment's id (`shipgate history`, `GET /api/v1/deployments/{id}`).
    pub deployment: u64,
    /// `deploy` or `rollback`.
    pub kind: String,
    /// The deployment's status when the event happened: `running`, `succeeded`, `rolled_back`,
    /// `failed`, `aborted`, `awaiting_approval`.
    pub status: String,
    /// Why it ended as it did (a rollback's or failure's reason), when known.
    pub reason: Option<String>,
    /// The timeline event's own message.
    pub message: String,
    /// When the event happened, RFC 3339 UTC.
    pub time: String,
    /// The event's sequence number in the deployment's timeline; with `deployment` and `event`
    /// it names the notification uniquely (the `x-shipgate-delivery` header), so a receiver
    /// can drop a retried duplicate.
    pub seq: u64,
}

fn serialize_event<S: serde::Serializer>(event: &Event, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(event_name(*event))
}

impl Notification {
    /// A delivery id, the same on every attempt: `DEPLOYMENT-SEQ-EVENT` (one timeline event
    /// can trigger two notifications: a start that awaits approval).
    pub fn delivery_id(&self) -> String {
        format!("{}-{}-{}", self.deployment, self.seq, event_name(self.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_events_map_to_notifications() {
        use Event::*;
        const GATES: u8 = 1;
        const AWAITING: u8 = 2;
        const STARTED: u8 = 4;
        let cases: &[(&str, &str, u8, &[Event])] = &[
            ("created", "deploy", 0, &[DeploymentStarted]),
            ("created", "deploy", AWAITING, &[DeploymentStarted, ApprovalRequested]),
            ("created", "rollback", 0, &[DeploymentStarted]),
            ("awaiting_approval", "deploy", AWAITING, &[ApprovalRequested]),
            ("succeeded", "deploy", STARTED, &[DeploymentSucceeded]),
            ("succeeded", "rollback", 0, &[DeploymentRolledBack]),
            ("rolled_back", "deploy", STARTED, &[DeploymentRolledBack]),
            ("aborted", "deploy", STARTED, &[DeploymentRolledBack]),
            ("aborted", "deploy", AWAITING, &[DeploymentFailed]),
            ("rejected", "deploy", AWAITING, &[DeploymentFailed]),
            ("failed", "deploy", STARTED, &[DeploymentFailed]),
            ("step_failed", "deploy", GATES, &[GateRefused]),
            // Quiet: a failed ordinary step is followed by the rollback's final event.
            ("step_failed", "deploy", STARTED, &[]),
            ("rolling_back", "deploy", STARTED, &[]),
            ("progress", "deploy", STARTED, &[]),
            ("step_started", "deploy", GATES, &[]),
            ("step_done", "deploy", STARTED, &[]),
            ("approved", "deploy", AWAITING, &[]),
            ("paused", "deploy", STARTED, &[]),
            ("notify_failed", "deploy", STARTED, &[]),
        ];
        for (kind, deployment_kind, flags, expected) in cases {
            let event = TimelineEvent {
                kind,
                deployment_kind,
                gates_step: flags & GATES != 0,
                awaiting_approval: flags & AWAITING != 0,
                started_steps: flags & STARTED != 0,
            };
            assert_eq!(events_for(event), *expected, "{kind} of a {deployment_kind} ({flags})");
        }
    }

    #[test]
    fn every_event_has_its_spec_name() {
        for (name, event) in Event::ALL {
            assert_eq!(event_name(event), name);
        }
    }

    #[test]
    fn an_empty_event_list_subscribes_to_everything() {
        let mut webhook = Webhook {
            url: Some("http://127.0.0.1/".into()),
            url_env: None,
            format: Default::default(),
            events: Vec::new(),
        };
        assert!(wants(&webhook, Event::DeploymentFailed));
        webhook.events = vec![Event::DeploymentRolledBack];
        assert!(wants(&webhook, Event::DeploymentRolledBack));
        assert!(!wants(&webhook, Event::DeploymentStarted));
    }
}
