//! Instances that no deployment owns are stopped after a grace period, and the fact recorded.
//!
//! An environment owns the instances of its active release, of its previous release while that
//! is warm, and of both releases of a deployment in flight (whose executor is in charge: the
//! reconciler leaves such environments alone). Anything else in the environment's service (a
//! deployment's leftovers after a crash, a warm release past its time, an instance started by
//! hand) is stopped once it has been seen unowned for the whole grace period.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::json;
use shipgate_ledger::NewEntry;
use tokio::time::Instant;

use crate::executor::{Executor, is_live};
use crate::record::{actions, now};
use crate::service;

pub async fn run(executor: Executor, grace: Duration, interval: Duration) {
    let mut unowned_since: HashMap<String, Instant> = HashMap::new();
    loop {
        if let Err(error) = pass(&executor, grace, &mut unowned_since).await {
            tracing::warn!("reconciling instances failed: {error}");
        }
        tokio::time::sleep(interval).await;
    }
}

/// What the background checks need, read in one snapshot: every environment, those with a
/// deployment in flight (whose executor is in charge: the checks leave them alone), the releases.
struct Settled {
    environments: Vec<shipgate_store::EnvironmentRow>,
    in_flight: BTreeSet<String>,
    releases: Vec<shipgate_store::ReleaseRow>,
}

async fn settled(executor: &Executor) -> Result<Settled, String> {
    executor
        .recorder
        .blocking(|recorder| {
            Ok(recorder.store.read(|reader| {
                let in_flight = reader.unfinished_deployments()?.into_iter().map(|row| row.environment).collect();
                Ok::<_, shipgate_store::StoreError>(Settled {
                    environments: reader.environments()?,
                    in_flight,
                    releases: reader.releases()?,
                })
            })?)
        })
        .await
        .map_err(|error| error.to_string())
}

async fn pass(
    executor: &Executor,
    grace: Duration,
    unowned_since: &mut HashMap<String, Instant>,
) -> Result<(), String> {
    let Settled { environments, in_flight, releases } = settled(executor).await?;
    let Some(spec) = releases.last().and_then(|release| shipgate_spec::parse_str(&release.spec).ok()) else {
        return Ok(());
    };
    let instances = executor.agent.instances().await.map_err(|error| error.to_string())?;
    let now_text = now();
    let mut seen = BTreeSet::new();
    for environment in environments.iter().filter(|row| !in_flight.contains(&row.name)) {
        let service_name = service::service_name(&spec, &environment.name);
        let mut owned: BTreeSet<&str> = environment.active_version.iter().map(String::as_str).collect();
        if environment.warm_until.as_deref().is_some_and(|until| until > now_text.as_str()) {
            owned.extend(environment.previous_version.as_deref());
        }
        for instance in instances.iter().filter(|instance| instance.service == service_name && is_live(instance)) {
            if owned.contains(instance.version.as_str()) {
                continue;
            }
            seen.insert(instance.id.clone());
            let since = *unowned_since.entry(instance.id.clone()).or_insert_with(Instant::now);
            if since.elapsed() < grace {
                continue;
            }
            executor.agent.stop_instance(&instance.id).await.map_err(|error| error.to_string())?;
            tracing::info!(instance = %instance.id, version = %instance.version, "stopped an instance no deployment owns");
            let entry =
                NewEntry::new("shipgate", actions::INSTANCE_ORPHAN_STOPPED, format!("instance/{}", instance.id))
                    .env(environment.name.clone())
                    .details(json!({"version": instance.version, "grace_ms": grace.as_millis()}));
            let ledger = executor.recorder.ledger.clone();
            executor.recorder.blocking(move |_| Ok(ledger.record(entry)?)).await.map_err(|error| error.to_string())?;
        }
    }
    unowned_since.retain(|id, _| seen.contains(id));
    Ok(())
}

/// Checks every environment that has an active release and no deployment in flight for drift
/// every `interval`, and records in the ledger when its drift findings change (`drift.detected`
/// with the findings, or `drift.cleared`).
pub async fn watch_drift(executor: Executor, interval: Duration) {
    let mut last: HashMap<String, String> = HashMap::new();
    loop {
        tokio::time::sleep(interval).await;
        if let Err(error) = drift_pass(&executor, &mut last).await {
            tracing::warn!("checking for drift failed: {error}");
        }
    }
}

async fn drift_pass(executor: &Executor, last: &mut HashMap<String, String>) -> Result<(), String> {
    let Settled { environments, in_flight, releases } = settled(executor).await?;
    for environment in environments.iter().filter(|row| !in_flight.contains(&row.name)) {
        let Some(active) = &environment.active_version else { continue };
        let Some(release) = releases.iter().find(|release| &release.version == active) else { continue };
        let findings = crate::gates::drift(executor, &environment.name, release, "shipgate")
            .await
            .map_err(|error| error.to_string())?;
        let signature: String =
            findings.iter().map(|finding| format!("{} {}\n", finding.rule, finding.message)).collect();
        let previous = last.insert(environment.name.clone(), signature.clone()).unwrap_or_default();
        if previous == signature {
            continue;
        }
        let (action, details) = if findings.is_empty() {
            (actions::DRIFT_CLEARED, json!({}))
        } else {
            (actions::DRIFT_DETECTED, json!({"findings": findings}))
        };
        tracing::warn!(environment = %environment.name, "drift: {} finding(s)", findings.len());
        let entry = NewEntry::new("shipgate", action, format!("environment/{}", environment.name))
            .env(environment.name.clone())
            .details(details);
        let ledger = executor.recorder.ledger.clone();
        executor.recorder.blocking(move |_| Ok(ledger.record(entry)?)).await.map_err(|error| error.to_string())?;
    }
    Ok(())
}
