//! The bodies webhooks receive: shipgate's generic JSON, or a Slack-compatible message.

use serde_json::{Value, json};
use shipgate_spec::{Event, WebhookFormat};

use crate::event::{Notification, event_name};

/// The body for a webhook of `format`.
pub fn body(notification: &Notification, format: WebhookFormat) -> Value {
    match format {
        WebhookFormat::Json => json_body(notification),
        WebhookFormat::Slack => slack_body(notification),
    }
}

/// The generic body: every field of [`Notification`], `null` where unknown.
pub fn json_body(notification: &Notification) -> Value {
    serde_json::to_value(notification).unwrap_or_else(|_| json!({"event": event_name(notification.event)}))
}

/// A Slack incoming-webhook message (also accepted by Mattermost, Rocket.Chat and others):
/// `text` is one human line (the fallback shown in notifications), `blocks` the same line
/// with a context line of deployment, status and time. No links: shipgate does not know the
/// URL it is reached at.
pub fn slack_body(notification: &Notification) -> Value {
    // Slack reads both `text` and the blocks as mrkdwn, where `&`, `<` and `>` are markup.
    let line = escape(&summary(notification));
    let context = format!(
        "deployment {} · {} · {} · {}",
        notification.deployment, notification.kind, notification.status, notification.time
    );
    json!({
        "text": line,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": line}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(&context)}]},
        ],
    })
}

/// One line a person reads: app, environment, version, what happened and why.
pub fn summary(n: &Notification) -> String {
    let (app, env, version) = (&n.app, &n.environment, &n.version);
    let from = n.from_version.as_deref();
    let because = n.reason.as_deref().map(|reason| format!(": {reason}")).unwrap_or_default();
    match n.event {
        Event::DeploymentStarted if n.kind == "rollback" => {
            format!(
                "{app}: rolling {env} back to {version}{}",
                from.map(|from| format!(" from {from}")).unwrap_or_default()
            )
        }
        Event::DeploymentStarted => {
            format!(
                "{app}: deploying {version} to {env}{}",
                from.map(|from| format!(" (replacing {from})")).unwrap_or_default()
            )
        }
        Event::DeploymentSucceeded => {
            format!(
                "{app}: {version} is live in {env}{}",
                from.map(|from| format!(" (replaced {from})")).unwrap_or_default()
            )
        }
        Event::DeploymentRolledBack if n.kind == "rollback" => {
            format!("{app}: {env} was rolled back to {version}{because}")
        }
        Event::DeploymentRolledBack => match from {
            Some(from) => format!("{app}: {version} was rolled back in {env}, {from} serves again{because}"),
            None => format!("{app}: {version} was rolled back in {env}{because}"),
        },
        Event::DeploymentFailed => format!("{app}: deploying {version} to {env} failed{because}"),
        Event::ApprovalRequested => {
            format!("{app}: deploying {version} to {env} awaits approval (`shipgate approve {}`)", n.deployment)
        }
        Event::GateRefused => format!("{app}: the gates refused {version} for {env}: {}", n.message),
    }
}

/// Slack's mrkdwn gives `&`, `<` and `>` meaning; everything else is literal.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(event: Event, kind: &str) -> Notification {
        Notification {
            event,
            app: "web".into(),
            environment: "production".into(),
            version: "v2".into(),
            from_version: Some("v1".into()),
            deployment: 7,
            kind: kind.into(),
            status: "rolled_back".into(),
            reason: Some("analysis failed: error rate 5% > 1%".into()),
            message: "rolled_back: traffic back on v1".into(),
            time: "2026-05-01T10:00:00Z".into(),
            seq: 12,
        }
    }

    #[test]
    fn the_generic_body_names_the_event_and_every_field() {
        let body = json_body(&notification(Event::DeploymentRolledBack, "deploy"));
        assert_eq!(
            body,
            json!({
                "event": "deployment.rolled_back", "app": "web", "environment": "production",
                "version": "v2", "from_version": "v1", "deployment": 7, "kind": "deploy",
                "status": "rolled_back", "reason": "analysis failed: error rate 5% > 1%",
                "message": "rolled_back: traffic back on v1", "time": "2026-05-01T10:00:00Z", "seq": 12,
            })
        );
    }

    #[test]
    fn slack_messages_say_what_happened_in_one_line() {
        let cases = [
            (Event::DeploymentStarted, "deploy", "web: deploying v2 to production (replacing v1)"),
            (Event::DeploymentStarted, "rollback", "web: rolling production back to v2 from v1"),
            (Event::DeploymentSucceeded, "deploy", "web: v2 is live in production (replaced v1)"),
            (
                Event::DeploymentRolledBack,
                "deploy",
                "web: v2 was rolled back in production, v1 serves again: analysis failed: error rate 5% > 1%",
            ),
            (
                Event::DeploymentRolledBack,
                "rollback",
                "web: production was rolled back to v2: analysis failed: error rate 5% > 1%",
            ),
            (
                Event::DeploymentFailed,
                "deploy",
                "web: deploying v2 to production failed: analysis failed: error rate 5% > 1%",
            ),
            (
                Event::ApprovalRequested,
                "deploy",
                "web: deploying v2 to production awaits approval (`shipgate approve 7`)",
            ),
            (Event::GateRefused, "deploy", "web: the gates refused v2 for production: rolled_back: traffic back on v1"),
        ];
        for (event, kind, expected) in cases {
            let body = slack_body(&notification(event, kind));
            let expected = expected.replace('>', "&gt;");
            assert_eq!(summary(&notification(event, kind)).replace('>', "&gt;"), expected);
            assert_eq!(body["text"], expected, "{event:?} of a {kind}");
            assert_eq!(body["blocks"][0]["text"]["text"], expected);
            assert_eq!(
                body["blocks"][1]["elements"][0]["text"],
                format!("deployment 7 · {kind} · rolled_back · 2026-05-01T10:00:00Z")
            );
        }
    }

    #[test]
    fn slack_blocks_escape_mrkdwn_control_characters() {
        let mut n = notification(Event::DeploymentFailed, "deploy");
        n.reason = Some("<script> & co".into());
        let body = slack_body(&n);
        assert!(body["text"].as_str().unwrap_or_default().ends_with("&lt;script&gt; &amp; co"));
        assert!(body["blocks"][0]["text"]["text"].as_str().unwrap_or_default().ends_with("&lt;script&gt; &amp; co"));
    }

    #[test]
    fn the_format_chooses_the_body() {
        let n = notification(Event::DeploymentSucceeded, "deploy");
        assert_eq!(body(&n, WebhookFormat::Json)["event"], "deployment.succeeded");
        assert!(body(&n, WebhookFormat::Slack)["blocks"].is_array());
    }
}
