//! `[[notify.webhook]]`: `url` or `url_env`, `format`, `events`, and their diagnostics.

#![allow(clippy::unwrap_used)]

use shipgate_spec::{Event, WebhookFormat};

fn spec(webhook: &str) -> String {
    format!(
        "[app]\nname = \"web\"\n[artifact]\npath = \"app\"\n[run]\ncommand = [\"./web\"]\n\
         [environments.staging]\nlisten = \"127.0.0.1:8080\"\n[[notify.webhook]]\n{webhook}"
    )
}

/// The webhook's text, then its `url`, `url_env`, `format` and `events` as read.
type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, WebhookFormat, &'a [Event]);

#[test]
fn webhooks_are_read() {
    let cases: &[Case] = &[
        (
            "url = \"https://hooks.example.com/d\"\n",
            Some("https://hooks.example.com/d"),
            None,
            WebhookFormat::Json,
            &[],
        ),
        (
            "url_env = \"SLACK_WEBHOOK_URL\"\nformat = \"slack\"\nevents = [\"deployment.rolled_back\"]\n",
            None,
            Some("SLACK_WEBHOOK_URL"),
            WebhookFormat::Slack,
            &[Event::DeploymentRolledBack],
        ),
        (
            "url = \"http://127.0.0.1:9/\"\nformat = \"json\"\n",
            Some("http://127.0.0.1:9/"),
            None,
            WebhookFormat::Json,
            &[],
        ),
    ];
    for (text, url, url_env, format, events) in cases {
        let spec = shipgate_spec::parse_str(&spec(text)).unwrap();
        let webhook = &spec.notify.webhook[0];
        assert_eq!(webhook.url.as_deref(), *url, "{text}");
        assert_eq!(webhook.url_env.as_deref(), *url_env, "{text}");
        assert_eq!(webhook.format, *format, "{text}");
        assert_eq!(webhook.events, *events, "{text}");
    }
}

#[test]
fn bad_webhooks_are_reported_with_a_hint() {
    let cases = [
        ("events = []\n", "missing `url`", "add `url = "),
        ("url = \"http://a/\"\nurl_env = \"URL\"\n", "has both `url` and `url_env`", "keep one"),
        ("url = \"ftp://a/\"\n", "is not an http(s) URL", "write the full URL"),
        ("url_env = \"1-URL\"\n", "`1-URL` is not an environment variable name", "`SLACK_WEBHOOK_URL`"),
        ("url = \"http://a/\"\nformat = \"teams\"\n", "unknown webhook format `teams`", "use `json` or `slack`"),
        ("url = \"http://a/\"\nformats = \"slack\"\n", "formats", "format"),
    ];
    for (text, message, hint) in cases {
        let report = shipgate_spec::parse_str(&spec(text)).expect_err(text);
        let found = report.diagnostics.iter().any(|diagnostic| {
            diagnostic.message.contains(message) && diagnostic.hint.as_deref().is_some_and(|h| h.contains(hint))
        });
        assert!(found, "{text}: {:#?}", report.diagnostics);
    }
}
