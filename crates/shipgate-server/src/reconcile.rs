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
use shipgate_agent::api::InstanceStatus;
use shipgate_ledger::NewEntry;
use tokio::time::Instant;

use crate::executor::{Executor, is_live};
use crate::record::{actions, now};
use crate::service;

pub async fn run(executor: Executor, grace: Duration, interval: Duration) {
    let mut unowned_since: HashMap<String, Instant> = HashMap::new();
    let mut refused: Option<BTreeSet<String>> = None;
    loop {
        // One snapshot of the store and one of the agent per round, for both checks.
        match snapshot(&executor).await {
            Ok(None) => {}
            Ok(Some((settled, instances))) => {
                if let Err(error) = pass(&executor, grace, &mut unowned_since, &settled, &instances).await {
                    tracing::warn!("reconciling instances failed: {error}");
                }
                if let Err(error) = record_refusals(&executor, &mut refused, &settled, &instances).await {
                    tracing::warn!("recording refused artifacts failed: {error}");
                }
            }
            Err(error) => tracing::warn!("reconciling instances failed: {error}"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// The store's settled state and the agent's instances; `None` before any release exists (no
/// instance can be the server's then).
async fn snapshot(executor: &Executor) -> Result<Option<(Settled, Vec<InstanceStatus>)>, String> {
    let settled = settled(executor).await?;
    if settled.releases.is_empty() {
        return Ok(None);
    }
    let instances = executor.agent.instances().await.map_err(|error| error.to_string())?;
    Ok(Some((settled, instances)))
}

/// How the agent's `last_exit` begins when it refused to start an instance because its artifact
/// or signature does not verify (the agent's `Error::Tampered`).
const TAMPERED: &str = "artifact verification failed:";

/// Records an `artifact.refused` ledger entry (subject `instance/ID`) for each instance the agent
/// refused to restart because its artifact no longer verifies: the agent marks it `crashloop`
/// on its own, with no deployment step to notice. Once per instance: the instances already
/// recorded are read from the ledger the first time (so a restarted server does not repeat them).
async fn record_refusals(
    executor: &Executor,
    recorded: &mut Option<BTreeSet<String>>,
    Settled { environments, releases, .. }: &Settled,
    instances: &[InstanceStatus],
) -> Result<(), String> {
    let refused: Vec<_> = instances
        .iter()
        .filter(|instance| {
            instance.state == shipgate_agent::api::InstanceState::Crashloop
                && instance.last_exit.as_deref().is_some_and(|exit| exit.starts_with(TAMPERED))
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    if recorded.is_none() {
        let query = shipgate_store::EntryQuery {
            action: Some(shipgate_store::TextMatch::Exact(actions::ARTIFACT_REFUSED.into())),
            ..Default::default()
        };
        let entries = executor
            .recorder
            .blocking(move |recorder| Ok(recorder.store.read(|reader| reader.ledger_query(&query))?))
            .await
            .map_err(|error| error.to_string())?;
        *recorded = Some(entries.into_iter().map(|entry| entry.subject).collect());
    }
    let Some(recorded) = recorded.as_mut() else { return Ok(()) };
    for instance in refused {
        let subject = format!("instance/{}", instance.id);
        if recorded.contains(&subject) {
            continue;
        }
        // The environment whose service the instance belongs to, by the release it runs.
        let environment = releases
            .iter()
            .find(|release| release.version == instance.version)
            .and_then(|release| shipgate_spec::parse_str(&release.spec).ok())
            .and_then(|spec| {
                environments
                    .iter()
                    .map(|row| row.name.clone())
                    .chain(spec.environments.keys().cloned())
                    .find(|name| service::service_name(&spec, name) == instance.service)
            });
        let reason = instance.last_exit.clone().unwrap_or_default();
        tracing::error!(instance = %instance.id, version = %instance.version, "the agent refused to restart it: {reason}");
        let mut entry = NewEntry::new("shipgate", actions::ARTIFACT_REFUSED, subject.clone()).details(json!({
            "version": instance.version, "service": instance.service, "rule": "SG0702",
            "message": format!("release `{}` refused at a restart of instance {}: {reason}", instance.version, instance.id),
        }));
        if let Some(environment) = environment {
            entry = entry.env(environment);
        }
        let ledger = executor.recorder.ledger.clone();
        executor.recorder.blocking(move |_| Ok(ledger.record(entry)?)).await.map_err(|error| error.to_string())?;
        recorded.insert(subject);
    }
    Ok(())
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
    Settled { environments, in_flight, releases }: &Settled,
    instances: &[InstanceStatus],
) -> Result<(), String> {
    let Some(spec) = releases.last().and_then(|release| shipgate_spec::parse_str(&release.spec).ok()) else {
        return Ok(());
    };
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
