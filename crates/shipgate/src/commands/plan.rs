//! `shipgate plan ENV VERSION`: the steps a deployment would take and every gate's verdict,
//! computed by the server.

use anyhow::anyhow;
use clap::Args;

use super::show::printable;
use crate::cli::Format;
use crate::client::{Client, ConnectArgs, PlanView, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The environment, e.g. `production`.
    pub env: String,
    /// The release to plan for, by version label.
    pub version: String,
    /// `human`, or `json` (the server's PlanView).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Overrides of deny findings for one deployment.
#[derive(Debug, Default, Args)]
pub struct OverrideArgs {
    /// Lift the deny finding of this rule (id like `SG0201` or name like `staging-first`) for
    /// this deployment. Repeatable; needs `--reason`. Recorded in the audit ledger with who gave
    /// it. Rules marked non-overridable (signatures, ledger integrity, …) cannot be lifted.
    #[arg(long = "override", value_name = "RULE", requires = "reason")]
    pub rules: Vec<String>,
    /// Why the overrides are justified, for the audit ledger.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

impl OverrideArgs {
    /// The overrides as the API takes them.
    pub fn json(&self) -> serde_json::Value {
        let reason = self.reason.clone().unwrap_or_default();
        self.rules.iter().map(|rule| serde_json::json!({"rule": rule, "reason": reason})).collect()
    }
}

pub fn run(args: &PlanArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let (plan, raw) = fetch(&client, &args.env, &args.version, &args.overrides)?;
    match args.format {
        Format::Json => out.data(&format!("{}\n", serde_json::to_string_pretty(&raw).unwrap_or_default()))?,
        Format::Human => out.data(&text(&plan))?,
    }
    match refusal(&plan) {
        Some(failure) => Err(failure),
        None => Ok(ExitStatus::Success),
    }
}

/// `POST /environments/{env}/plan`: the plan, and the server's JSON as it came.
pub fn fetch(
    client: &Client,
    env: &str,
    version: &str,
    overrides: &OverrideArgs,
) -> Result<(PlanView, serde_json::Value), Failure> {
    let path = format!("/environments/{}/plan", segment(env));
    let body = serde_json::json!({ "version": version, "overrides": overrides.json() });
    let raw: serde_json::Value = client.post(&path, &body, false)?;
    let plan = serde_json::from_value(raw.clone()).map_err(|error| {
        Failure::internal(anyhow!("the server's plan is not what this shipgate expects: {error}"))
            .hint("are the server and this command the same shipgate version? `shipgate --version` tells")
    })?;
    Ok((plan, raw))
}

/// The failing gates, as the reason a deployment of this plan would be refused (exit 1).
pub fn refusal(plan: &PlanView) -> Option<Failure> {
    let failing: Vec<String> = plan
        .gates
        .iter()
        .filter(|gate| gate.verdict == "fail")
        .map(|gate| match &gate.detail {
            Some(detail) => format!("`{}`: {}", printable(&gate.name), printable(detail)),
            None => format!("`{}`", printable(&gate.name)),
        })
        .collect();
    if failing.is_empty() {
        return None;
    }
    let error = anyhow!(
        "a deployment of `{}` to `{}` would be refused by {}",
        printable(&plan.to),
        printable(&plan.environment),
        failing.join("; ")
    );
    Some(Failure {
        status: ExitStatus::Refused,
        error,
        hint: Some("fix what the failing gates name, then plan again".to_owned()),
    })
}

fn from_to(plan: &PlanView) -> String {
    match &plan.from {
        Some(from) => format!("{} -> {}", printable(from), printable(&plan.to)),
        None => format!("{} (first release here)", printable(&plan.to)),
    }
}

/// The whole plan: the change, every step, every gate with its verdict, the digest.
pub fn text(plan: &PlanView) -> String {
    let mut text = format!("plan for `{}`: {}\n", printable(&plan.environment), from_to(plan));
    if let Some(reason) = &plan.no_op {
        text.push_str(&format!("nothing to do: {}\n", printable(reason)));
    }
    if !plan.steps.is_empty() {
        text.push_str("steps:\n");
        for (position, step) in plan.steps.iter().enumerate() {
            text.push_str(&format!("  {:>2}. {}\n", position + 1, printable(&step.description)));
        }
    }
    if !plan.gates.is_empty() {
        text.push_str("gates:\n");
        let width = plan.gates.iter().map(|gate| gate.name.chars().count()).max().unwrap_or(0);
        for gate in &plan.gates {
            let line = format!(
                "  {:<7} {:width$}  {}",
                printable(&gate.verdict),
                printable(&gate.name),
                gate.detail.as_deref().map(printable).unwrap_or_default()
            );
            text.push_str(line.trim_end());
            text.push('\n');
        }
    }
    text.push_str(&format!("plan digest: {}\n", printable(&plan.digest)));
    text
}

/// The plan in a few lines, before `deploy` runs it: the change, the steps, gates that did not pass.
pub fn brief(plan: &PlanView) -> String {
    let mut text = format!(
        "plan for `{}`: {}, {} step{}, digest {}\n",
        printable(&plan.environment),
        from_to(plan),
        plan.steps.len(),
        if plan.steps.len() == 1 { "" } else { "s" },
        printable(short_digest(&plan.digest)),
    );
    for (position, step) in plan.steps.iter().enumerate() {
        text.push_str(&format!("  {:>2}. {}\n", position + 1, printable(&step.description)));
    }
    for gate in plan.gates.iter().filter(|gate| gate.verdict != "pass") {
        let detail = gate.detail.as_deref().map(|detail| format!(": {}", printable(detail))).unwrap_or_default();
        text.push_str(&format!("  gate `{}` {}{detail}\n", printable(&gate.name), printable(&gate.verdict)));
    }
    text
}

/// `sha256:0123456789ab`: enough of a digest to recognise it.
pub fn short_digest(digest: &str) -> &str {
    let end = digest.find(':').map_or(0, |colon| colon + 1) + 12;
    digest.get(..end).unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn plan(gates: serde_json::Value) -> PlanView {
        serde_json::from_value(serde_json::json!({
            "environment": "production", "from": "1.1.0", "to": "1.2.0",
            "digest": "sha256:00112233445566778899", "no_op": null,
            "steps": [{"index": 0, "step": {"start_instances": {}}, "description": "start 3 instances of 1.2.0"},
                      {"index": 1, "step": "promote", "description": "promote 1.2.0"}],
            "gates": gates,
        }))
        .unwrap()
    }

    #[test]
    fn the_plan_shows_steps_gates_and_digest() {
        let plan = plan(serde_json::json!([
            {"name": "requires", "verdict": "pass", "detail": "1.2.0 succeeded in staging"},
            {"name": "window", "verdict": "fail", "detail": "inside the `weekend` freeze"},
        ]));
        assert_eq!(
            text(&plan),
            "plan for `production`: 1.1.0 -> 1.2.0\nsteps:\n   1. start 3 instances of 1.2.0\n   2. promote 1.2.0\n\
             gates:\n  pass    requires  1.2.0 succeeded in staging\n  fail    window    inside the `weekend` freeze\n\
             plan digest: sha256:00112233445566778899\n"
        );
        assert_eq!(
            brief(&plan),
            "plan for `production`: 1.1.0 -> 1.2.0, 2 steps, digest sha256:001122334455\n   1. start 3 instances of 1.2.0\n   2. promote 1.2.0\n  gate `window` fail: inside the `weekend` freeze\n"
        );
        let refused = refusal(&plan).unwrap();
        assert_eq!(refused.status, ExitStatus::Refused);
        assert!(refused.error.to_string().contains("`window`: inside the `weekend` freeze"));
    }

    #[test]
    fn passing_and_pending_gates_do_not_refuse() {
        let plan = plan(serde_json::json!([
            {"name": "requires", "verdict": "pass", "detail": null},
            {"name": "approvals", "verdict": "pending", "detail": "needs 1 approval"},
        ]));
        assert!(refusal(&plan).is_none());
    }
}
