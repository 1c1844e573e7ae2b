//! `shipgate status [ENV]` and `shipgate history ENV`: what runs where, and what was deployed.

use anyhow::anyhow;
use clap::Args;

use super::show::{self, printable};
use crate::cli::Format;
use crate::client::{Client, ConnectArgs, Deployment, EnvironmentStatus, segment};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One environment. Default: every environment the server knows.
    pub env: Option<String>,
    /// `human`, or `json` (the server's EnvironmentStatus; an array without ENV).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The environment, e.g. `production`.
    pub env: String,
    /// How many deployments to show, newest first.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// `human`, or `json` (the server's array of Deployment).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

fn unexpected(what: &str, error: serde_json::Error) -> Failure {
    Failure::internal(anyhow!("the server's {what} is not what this shipgate expects: {error}"))
        .hint("are the server and this command the same shipgate version? `shipgate --version` tells")
}

pub fn status(args: &StatusArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let raw: serde_json::Value = match &args.env {
        Some(env) => client.get(&format!("/environments/{}", segment(env)), &[])?,
        None => client.get("/environments", &[])?,
    };
    if args.format == Format::Json {
        out.data(&format!("{}\n", serde_json::to_string_pretty(&raw).unwrap_or_default()))?;
        return Ok(ExitStatus::Success);
    }
    let environments: Vec<EnvironmentStatus> = match raw {
        serde_json::Value::Array(_) => serde_json::from_value(raw),
        single => serde_json::from_value(single).map(|one| vec![one]),
    }
    .map_err(|error| unexpected("environment status", error))?;
    if environments.is_empty() {
        out.data("no environments yet; create a release with `shipgate release create --version V`\n")?;
        return Ok(ExitStatus::Success);
    }
    let text: Vec<String> = environments.iter().map(environment_text).collect();
    out.data(&text.join("\n"))?;
    Ok(ExitStatus::Success)
}

/// One environment: active and previous release, weights, instances, the deployment in flight.
pub fn environment_text(env: &EnvironmentStatus) -> String {
    let mut text = format!("{}\n", printable(&env.name));
    let active = match &env.active {
        Some(active) => format!(
            "{} ({}) since {}",
            printable(&active.version),
            printable(super::plan::short_digest(&active.digest)),
            show::time(&active.since)
        ),
        None => "nothing deployed yet".to_owned(),
    };
    text.push_str(&format!("  active      {active}\n"));
    if let Some(previous) = &env.previous {
        let warm = match &previous.warm_until {
            Some(until) => format!(", warm until {}", show::time(until)),
            None => ", cold".to_owned(),
        };
        text.push_str(&format!("  previous    {}{warm}\n", printable(&previous.version)));
    }
    if !env.weights.is_empty() {
        let weights: Vec<String> = env
            .weights
            .iter()
            .map(|weight| format!("{} {}", printable(&weight.version), show::percent(weight.weight)))
            .collect();
        text.push_str(&format!("  weights     {}\n", weights.join(", ")));
    }
    if env.instances.is_empty() {
        text.push_str("  instances   none\n");
    } else {
        text.push_str("  instances\n");
        let rows: Vec<Vec<String>> = env
            .instances
            .iter()
            .map(|instance| {
                vec![
                    printable(&instance.id),
                    printable(&instance.version),
                    printable(&instance.state),
                    instance.port.map_or("-".to_owned(), |port| port.to_string()),
                    instance.restarts.to_string(),
                ]
            })
            .collect();
        for line in show::table(&["ID", "VERSION", "STATE", "PORT", "RESTARTS"], &rows).lines() {
            text.push_str(&format!("    {line}\n"));
        }
    }
    if let Some(deployment) = &env.deployment {
        text.push_str(&format!("  deployment  {}\n", in_flight(deployment)));
    }
    text
}

/// `d-7 running 1.1.0 -> 1.2.0 by alice, step 2/3 (shift 5% of traffic to 1.2.0), for 2m10s`
fn in_flight(deployment: &Deployment) -> String {
    let from = deployment.from_version.as_deref().map(|from| format!("{} -> ", printable(from))).unwrap_or_default();
    let by = deployment.actor.as_deref().map(|actor| format!(" by {}", printable(actor))).unwrap_or_default();
    let step = deployment
        .steps
        .iter()
        .position(|step| step.state == "running" || step.state == "failed")
        .map(|position| {
            let step = &deployment.steps[position];
            let detail = step.detail.as_deref().map(|detail| format!(": {}", printable(detail))).unwrap_or_default();
            format!(", step {}/{} ({}{detail})", position + 1, deployment.steps.len(), printable(&step.description))
        })
        .unwrap_or_default();
    let elapsed =
        show::since(&deployment.created).map(|took| format!(", for {}", show::duration(took))).unwrap_or_default();
    format!(
        "{} {} {from}{}{by}{step}{elapsed}",
        printable(&deployment.id),
        printable(&deployment.status),
        printable(&deployment.version)
    )
}

pub fn history(args: &HistoryArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let client = Client::new(&args.connect)?;
    let path = format!("/environments/{}/deployments", segment(&args.env));
    let raw: serde_json::Value = client.get(&path, &[("limit", args.limit.to_string())])?;
    if args.format == Format::Json {
        out.data(&format!("{}\n", serde_json::to_string_pretty(&raw).unwrap_or_default()))?;
        return Ok(ExitStatus::Success);
    }
    let deployments: Vec<Deployment> = serde_json::from_value(raw).map_err(|error| unexpected("history", error))?;
    if deployments.is_empty() {
        out.message(&format!("no deployments of `{}` yet\n", printable(&args.env)));
        return Ok(ExitStatus::Success);
    }
    out.data(&history_table(&deployments))?;
    Ok(ExitStatus::Success)
}

/// Deployments as a table, in the order given (the server's: newest first).
pub fn history_table(deployments: &[Deployment]) -> String {
    let rows: Vec<Vec<String>> = deployments
        .iter()
        .map(|deployment| {
            let status = match deployment.kind.as_deref() {
                Some("rollback") => format!("{} (rollback)", deployment.status),
                _ => deployment.status.clone(),
            };
            let duration = deployment
                .finished
                .as_deref()
                .and_then(|finished| show::between(&deployment.created, finished))
                .map_or_else(|| "-".to_owned(), show::duration);
            vec![
                printable(&deployment.id),
                printable(&deployment.version),
                deployment.from_version.as_deref().map_or_else(|| "-".to_owned(), printable),
                printable(&status),
                deployment.actor.as_deref().map_or_else(|| "-".to_owned(), printable),
                show::time(&deployment.created),
                duration,
                deployment.reason.as_deref().map(printable).unwrap_or_default(),
            ]
        })
        .collect();
    show::table(&["ID", "VERSION", "FROM", "STATUS", "ACTOR", "CREATED", "DURATION", "REASON"], &rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn an_environment_shows_releases_weights_instances_and_the_deployment() {
        let env: EnvironmentStatus = serde_json::from_value(json!({
            "name": "production",
            "active": {"version": "1.1.0", "digest": "sha256:aabbccddeeff00112233", "since": "2026-05-04T10:00:00Z"},
            "previous": {"version": "1.0.0", "warm_until": "2026-05-04T10:30:00Z"},
            "weights": [{"version": "1.1.0", "weight": 95.0}, {"version": "1.2.0", "weight": 5.0}],
            "instances": [{"id": "i-1", "version": "1.1.0", "state": "healthy", "port": 41001, "restarts": 0},
                          {"id": "i-22", "version": "1.2.0", "state": "starting", "port": null, "restarts": 2}],
            "deployment": null,
        }))
        .unwrap();
        assert_eq!(
            environment_text(&env),
            "production\n  active      1.1.0 (sha256:aabbccddeeff) since 2026-05-04 10:00:00Z\n  \
             previous    1.0.0, warm until 2026-05-04 10:30:00Z\n  weights     1.1.0 95%, 1.2.0 5%\n  instances\n    \
             ID    VERSION  STATE     PORT   RESTARTS\n    i-1   1.1.0    healthy   41001  0\n    i-22  1.2.0    starting  -      2\n"
        );
        let empty: EnvironmentStatus = serde_json::from_value(json!({
            "name": "staging", "active": null, "previous": null, "weights": [], "instances": [], "deployment": null,
        }))
        .unwrap();
        assert_eq!(environment_text(&empty), "staging\n  active      nothing deployed yet\n  instances   none\n");
    }

    #[test]
    fn history_shows_one_row_per_deployment() {
        let deployments: Vec<Deployment> = serde_json::from_value(json!([
            {"id": "d-2", "environment": "production", "version": "1.1.0", "from_version": "1.2.0", "status": "succeeded",
             "reason": "error rate", "actor": "bob", "created": "2026-05-04T11:00:00Z", "finished": "2026-05-04T11:00:02Z",
             "plan_digest": "sha256:1", "kind": "rollback", "steps": []},
            {"id": "d-1", "environment": "production", "version": "1.2.0", "from_version": null, "status": "running",
             "reason": null, "actor": "alice", "created": "2026-05-04T10:00:00Z", "finished": null,
             "plan_digest": "sha256:0", "kind": "deploy", "steps": []},
        ]))
        .unwrap();
        assert_eq!(
            history_table(&deployments),
            "ID   VERSION  FROM   STATUS                ACTOR  CREATED               DURATION  REASON\n\
             d-2  1.1.0    1.2.0  succeeded (rollback)  bob    2026-05-04 11:00:00Z  2.0s      error rate\n\
             d-1  1.2.0    -      running               alice  2026-05-04 10:00:00Z  -\n"
        );
    }
}
