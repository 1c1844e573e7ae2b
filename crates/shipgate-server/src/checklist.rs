//! The post-deployment checklist: at the end of every deployment, each item of the deployment
//! guide's checklist is judged from what the deployment recorded (its events), the release's
//! spec and the environment's history, and stored with its evidence as a `checklist` event.
//! A failed item is a finding of SG0305 (warn); an item shipgate cannot judge yet says so.
//!
//! [`evaluate`] is pure; the executor gathers its [`Inputs`] and records the result.

use serde::Serialize;
use serde_json::Value;
use shipgate_engine::Step;
use shipgate_spec::Spec;
use shipgate_store::{DeploymentRow, EventRow};

use crate::record::kinds;

/// What one item found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// shipgate has no evidence either way (said why in the evidence).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub item: &'static str,
    pub status: Status,
    pub evidence: String,
}

/// Everything the checklist is judged from.
pub struct Inputs<'a> {
    pub spec: &'a Spec,
    pub environment: &'a str,
    pub steps: &'a [Step],
    pub events: &'a [EventRow],
    /// Live, healthy instances of the deployed version now, and how many the environment wants.
    pub healthy: (usize, u32),
    /// Every deployment of every environment, for the rollback rehearsal.
    pub history: &'a [DeploymentRow],
    pub version: &'a str,
    /// The deployment being judged.
    pub deployment: u64,
    /// The change log entry recorded with the release (Markdown), if any.
    pub changelog: Option<&'a str>,
}

pub fn evaluate(inputs: &Inputs<'_>) -> Vec<Item> {
    vec![
        smoke(inputs),
        health(inputs),
        analysis_item(inputs, "error rate within threshold", |analysis| analysis.error_rate_max.is_some()),
        analysis_item(inputs, "response times within the SLA", |analysis| {
            analysis.p50_max.is_some() || analysis.p95_max.is_some() || analysis.p99_max.is_some()
        }),
        monitoring(inputs),
        rollback_rehearsed(inputs),
        changelog(inputs),
        notified(inputs),
    ]
}

/// The SG0305 finding of each failed item of a recorded checklist (its `items`, as stored).
pub fn findings(items: &Value) -> Vec<Value> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["status"] == "fail")
        .map(|item| {
            serde_json::json!({
                "rule": "SG0305", "severity": "warn",
                "message": format!("{}: {}", item["item"].as_str().unwrap_or("?"), item["evidence"].as_str().unwrap_or(""))
            })
        })
        .collect()
}

fn changelog(inputs: &Inputs<'_>) -> Item {
    match inputs.changelog {
        Some(entry) => {
            let changes = entry.lines().filter(|line| line.trim_start().starts_with("- ")).count();
            item("change log entry written", true, format!("an entry of {changes} change(s) is recorded with the release"))
        }
        None => item(
            "change log entry written",
            false,
            "none recorded with the release (`shipgate pipeline run` records one; or `release create --changelog FILE`)"
                .into(),
        ),
    }
}

fn item(item: &'static str, passed: bool, evidence: String) -> Item {
    Item { item, status: if passed { Status::Pass } else { Status::Fail }, evidence }
}

/// Indexes of the plan's steps that `matches`, and whether each was recorded done.
fn steps_done(inputs: &Inputs<'_>, matches: impl Fn(&Step) -> bool) -> (usize, usize) {
    let wanted: Vec<u32> = inputs
        .steps
        .iter()
        .enumerate()
        .filter(|(_, step)| matches(step))
        .filter_map(|(index, _)| u32::try_from(index).ok())
        .collect();
    let done = wanted
        .iter()
        .filter(|index| inputs.events.iter().any(|e| e.kind == kinds::STEP_DONE && e.step_index == Some(**index)))
        .count();
    (done, wanted.len())
}

fn smoke(inputs: &Inputs<'_>) -> Item {
    let (done, declared) = steps_done(inputs, |step| matches!(step, Step::Smoke { .. }));
    let evidence = match declared {
        0 => format!("`{}` declares no smoke checks", inputs.environment),
        _ => format!("{done} of {declared} smoke step(s) passed"),
    };
    item("smoke tests passed", declared > 0 && done == declared, evidence)
}

fn health(inputs: &Inputs<'_>) -> Item {
    let (healthy, wanted) = inputs.healthy;
    let declared = inputs.spec.run.health.is_some();
    let evidence = if declared {
        format!("{healthy} of {wanted} instance(s) of {} healthy at the end", inputs.version)
    } else {
        "`[run]` declares no health check".into()
    };
    item("health checks responding", declared && healthy >= wanted as usize, evidence)
}

/// An analysis limit: declared (`limit`) and the last analysis report passed.
fn analysis_item(inputs: &Inputs<'_>, name: &'static str, limit: impl Fn(&shipgate_spec::Analysis) -> bool) -> Item {
    let declared = inputs.spec.environments.get(inputs.environment).and_then(|env| env.analysis.as_ref());
    if !declared.is_some_and(limit) {
        return item(name, false, format!("`{}` declares no such `analysis` limit", inputs.environment));
    }
    let last = inputs.events.iter().rev().find_map(|event| analysis_of(&event.data));
    match last {
        Some((verdict, summary)) => item(name, verdict != "fail", format!("analysis {verdict}: {summary}")),
        None => Item { item: name, status: Status::Unknown, evidence: "no analysis ran (no hold or bake)".into() },
    }
}

/// `(verdict, summary)` of an analysis report event's data.
fn analysis_of(data: &str) -> Option<(String, String)> {
    let value: Value = serde_json::from_str(data).ok()?;
    let analysis = value.get("analysis")?;
    let summary = analysis.get("summary")?.as_str()?.to_owned();
    let verdict = analysis.get("verdict").and_then(Value::as_str).unwrap_or("pending").to_owned();
    Some((verdict, summary))
}

fn monitoring(inputs: &Inputs<'_>) -> Item {
    let analysis = inputs.spec.environments.get(inputs.environment).and_then(|env| env.analysis.as_ref());
    let prometheus = analysis.and_then(|analysis| analysis.prometheus_url.clone());
    let webhooks = inputs.spec.notify.webhook.len();
    let evidence = match (&prometheus, webhooks) {
        (Some(url), _) => format!("metrics queried from Prometheus at {url}"),
        (None, count) if count > 0 => format!("{count} notification webhook(s) declared"),
        _ => {
            "no Prometheus and no `[notify]` webhook declared; the agent's metrics are not watched after the deployment"
                .into()
        }
    };
    item("monitoring active", prometheus.is_some() || webhooks > 0, evidence)
}

/// Passed when the release was rolled back from somewhere before this deployment, which
/// deploys it again: its rollback path ran and the way forward after it too.
fn rollback_rehearsed(inputs: &Inputs<'_>) -> Item {
    let rolled_back = inputs.history.iter().find(|row| {
        row.kind == "rollback"
            && row.id < inputs.deployment
            && row.from_version.as_deref() == Some(inputs.version)
            && row.status == "succeeded"
    });
    match rolled_back {
        Some(rollback) => item(
            "rollback plan tested",
            true,
            format!(
                "rolled back from {} in `{}` (deployment {}) and deployed again (deployment {})",
                inputs.version, rollback.environment, rollback.id, inputs.deployment
            ),
        ),
        None => item(
            "rollback plan tested",
            false,
            format!("{} was never rolled back and deployed again in any environment", inputs.version),
        ),
    }
}

fn notified(inputs: &Inputs<'_>) -> Item {
    let webhooks = inputs.spec.notify.webhook.len();
    let failed = inputs.events.iter().filter(|event| event.kind == "notify_failed").count();
    let evidence = match (webhooks, failed) {
        (0, _) => "no `[notify]` webhook declared".to_owned(),
        (count, 0) => format!("{count} webhook(s) declared, no delivery failed so far"),
        (count, failed) => format!("{failed} delivery(ies) to {count} webhook(s) failed"),
    };
    item("stakeholders notified", webhooks > 0 && failed == 0, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(environment: &str) -> Spec {
        let text = format!(
            "[app]\nname = \"web\"\n[artifact]\npath = \"app\"\n[run]\ncommand = [\"./app\"]\n\
             health = {{ http = \"/healthz\" }}\n{environment}"
        );
        shipgate_spec::parse_str(&text).unwrap_or_else(|report| panic!("{:#?}", report.diagnostics))
    }

    fn event(kind: &str, step: Option<u32>, data: Option<&str>) -> EventRow {
        EventRow {
            deployment: 1,
            seq: 0,
            time: "2026-12-01T00:00:00Z".into(),
            kind: kind.into(),
            step_index: step,
            message: String::new(),
            data: data.unwrap_or("{}").into(),
        }
    }

    fn deployment(id: u64, kind: &str, version: &str, from: Option<&str>) -> DeploymentRow {
        DeploymentRow {
            id,
            environment: "staging".into(),
            version: version.into(),
            from_version: from.map(String::from),
            kind: kind.into(),
            plan: String::new(),
            plan_digest: String::new(),
            status: "succeeded".into(),
            reason: None,
            actor: "admin".into(),
            created: String::new(),
            finished: None,
            next_step: 0,
        }
    }

    fn statuses(items: &[Item]) -> Vec<(&'static str, Status)> {
        items.iter().map(|item| (item.item, item.status)).collect()
    }

    #[test]
    fn a_well_watched_deployment_passes_what_it_can_prove() {
        let spec = spec(
            "[environments.staging]\nlisten = \"127.0.0.1:1\"\nsmoke = [{ http = \"/\" }]\n\
             analysis = { error_rate_max = 0.01, p99_max = \"500ms\" }\n\
             [[notify.webhook]]\nurl = \"http://127.0.0.1:9/hook\"\n",
        );
        let steps = [Step::Smoke { version: "v2".into(), before_traffic: true }];
        let events = [
            event(kinds::STEP_DONE, Some(0), None),
            event(kinds::PROGRESS, Some(1), Some(r#"{"analysis": {"verdict": "pass", "summary": "errors 0.1%"}}"#)),
        ];
        let history = [deployment(1, "deploy", "v2", None), deployment(2, "rollback", "v1", Some("v2"))];
        let items = evaluate(&Inputs {
            spec: &spec,
            environment: "staging",
            steps: &steps,
            events: &events,
            healthy: (2, 2),
            history: &history,
            version: "v2",
            deployment: 3,
            changelog: Some("## v2\n\n### Features\n\n- a (abc)\n- b (def)\n"),
        });
        assert_eq!(
            statuses(&items),
            [
                ("smoke tests passed", Status::Pass),
                ("health checks responding", Status::Pass),
                ("error rate within threshold", Status::Pass),
                ("response times within the SLA", Status::Pass),
                ("monitoring active", Status::Pass),
                ("rollback plan tested", Status::Pass),
                ("change log entry written", Status::Pass),
                ("stakeholders notified", Status::Pass),
            ]
        );
    }

    #[test]
    fn missing_evidence_fails_with_the_reason() {
        let spec = spec("[environments.staging]\nlisten = \"127.0.0.1:1\"\n");
        let items = evaluate(&Inputs {
            spec: &spec,
            environment: "staging",
            steps: &[],
            events: &[],
            healthy: (1, 2),
            history: &[],
            version: "v2",
            deployment: 3,
            changelog: None,
        });
        let failed: Vec<&str> =
            items.iter().filter(|item| item.status == Status::Fail).map(|item| item.evidence.as_str()).collect();
        assert_eq!(
            failed,
            [
                "`staging` declares no smoke checks",
                "1 of 2 instance(s) of v2 healthy at the end",
                "`staging` declares no such `analysis` limit",
                "`staging` declares no such `analysis` limit",
                "no Prometheus and no `[notify]` webhook declared; the agent's metrics are not watched after the deployment",
                "v2 was never rolled back and deployed again in any environment",
                "none recorded with the release (`shipgate pipeline run` records one; or `release create --changelog FILE`)",
                "no `[notify]` webhook declared",
            ]
        );
        let recorded = serde_json::to_value(&items).unwrap();
        let findings = findings(&recorded);
        assert_eq!(findings.len(), failed.len());
        assert!(findings.iter().all(|finding| finding["rule"] == "SG0305" && finding["severity"] == "warn"));
        assert_eq!(findings[0]["message"], "smoke tests passed: `staging` declares no smoke checks");
    }
}
