//! Gates: gathering the facts the policy catalog (`shipgate-policy`) judges, and turning its
//! findings into a verdict. The rules are pure; this module is their I/O edge.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shipgate_policy::{
    DeploymentFact, DesiredState, Facts, Finding, Lifting, MigrationEvidence, ObservedInstance, ObservedState,
    ReleaseFacts, Residency, ScannerFinding, SecretScan, SignatureCheck, TestEvidence,
};
use shipgate_store::{DeploymentRow, EnvironmentRow, ReleaseRow};

use crate::executor::{Executor, StepError, is_live};
use crate::record::{RecordError, now};
use crate::service;

/// An override of one rule for one deployment, with the reason someone wrote for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub rule: String,
    pub reason: String,
}

/// Everything the store knows that the rules need, read in one snapshot.
struct Stored {
    releases: Vec<ReleaseRow>,
    deployments: Vec<DeploymentRow>,
    environment: Option<EnvironmentRow>,
}

/// The facts about deploying `release` to `environment` as `actor`; with `observe`, also what
/// the agent runs and who else listens on the environment's address (for the drift rules).
pub async fn gather(
    executor: &Executor,
    environment: &str,
    release: &ReleaseRow,
    actor: &str,
    observe: bool,
) -> Result<Facts, StepError> {
    let owned = environment.to_owned();
    let stored = executor
        .recorder
        .blocking(move |recorder| {
            recorder.store.read(|reader| {
                let releases = reader.releases()?;
                let mut names: Vec<String> = reader.environments()?.into_iter().map(|row| row.name).collect();
                for spec in releases.iter().filter_map(|release| shipgate_spec::parse_str(&release.spec).ok()) {
                    names.extend(spec.environments.into_keys());
                }
                names.sort();
                names.dedup();
                let mut deployments = Vec::new();
                for name in &names {
                    deployments.extend(reader.deployments(name, 10_000)?);
                }
                deployments.sort_by_key(|row| row.id);
                Ok::<_, RecordError>(Stored { releases, deployments, environment: reader.environment(&owned)? })
            })
        })
        .await?;
    let spec = crate::executor::parse_spec(&release.spec, &release.version)?;
    let config_digests: BTreeMap<&str, String> = stored
        .releases
        .iter()
        .filter_map(|row| {
            shipgate_spec::parse_str(&row.spec)
                .ok()
                .map(|spec| (row.version.as_str(), shipgate_policy::config_digest(&spec)))
        })
        .collect();
    let digests: BTreeMap<&str, &str> =
        stored.releases.iter().map(|row| (row.version.as_str(), row.digest.as_str())).collect();
    let history = history(&stored.deployments, &digests, &config_digests);
    let evidence = release.evidence.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok());
    let test_evidence =
        evidence.as_ref().and_then(|value| serde_json::from_value::<TestEvidence>(value.get("tests")?.clone()).ok());
    let secret_scan =
        evidence.as_ref().and_then(|value| serde_json::from_value::<SecretScan>(value.get("secrets")?.clone()).ok());
    let scanner_findings = evidence.as_ref().and_then(|value| {
        serde_json::from_value::<Vec<ScannerFinding>>(value.get("scanners")?.get("findings")?.clone()).ok()
    });
    let signature = crate::service::release_signature(release)
        .map(|minisig| check_signature(&spec.artifact.trusted_keys, &release.digest, &minisig));
    let migrations = evidence.as_ref().and_then(|value| {
        let migrations = value.get("migrations")?;
        Some(MigrationEvidence {
            set_digest: migrations["set_digest"].as_str()?.to_owned(),
            rehearsal_passed: migrations["rehearsal"]["passed"].as_bool(),
        })
    });
    let observed = if observe {
        Some(observe_environment(executor, &spec, environment, stored.environment.as_ref(), &stored.deployments).await?)
    } else {
        None
    };
    let secrets = Some(crate::secrets::facts(executor, environment, &spec, &release.spec).await?);
    Ok(Facts {
        environment: environment.to_owned(),
        spec_text: release.spec.clone(),
        spec_path: String::new(),
        release: ReleaseFacts {
            version: release.version.clone(),
            digest: release.digest.clone(),
            kind: release.kind.clone(),
            source_commit: release.source_commit.clone(),
            config_digest: shipgate_policy::config_digest(&spec),
            test_evidence,
            migrations,
            secret_scan,
            signature,
            scanner_findings,
        },
        history,
        now: jiff::Timestamp::now(),
        actor: actor.to_owned(),
        observed,
        residency: (!spec.app.data_classes.is_empty()).then(|| Residency {
            data_classes: spec.app.data_classes.keys().cloned().collect(),
            allowed_regions: spec.app.data_classes.clone(),
        }),
        secrets,
        flags: Some(crate::flags::facts(executor, environment, release).await?),
        spec,
    })
}

/// Verifies a release's signature over its digest with the app's trusted keys.
pub fn check_signature(trusted_keys: &[String], digest: &str, minisig: &str) -> SignatureCheck {
    let trusted: Vec<shipgate_sign::PublicKey> = shipgate_sign::PublicKey::parse_all(trusted_keys);
    if trusted.is_empty() {
        return SignatureCheck::Invalid { reason: "`[artifact] trusted_keys` is empty, so no key is trusted".into() };
    }
    match shipgate_sign::verify_digest_with_any(&trusted, digest, minisig) {
        Ok((_, verified)) => SignatureCheck::Verified { key_id: verified.key_id.to_string() },
        Err(error) => SignatureCheck::Invalid { reason: error.to_string() },
    }
}

/// Finished deployments as facts, oldest first. A deployment "was rolled back later" when a
/// later rollback in the same environment moved away from its version.
fn history(
    deployments: &[DeploymentRow],
    digests: &BTreeMap<&str, &str>,
    config_digests: &BTreeMap<&str, String>,
) -> Vec<DeploymentFact> {
    deployments
        .iter()
        .filter(|row| row.finished.is_some())
        .map(|row| {
            let rolled_back_later = deployments.iter().any(|later| {
                later.id > row.id
                    && later.environment == row.environment
                    && later.kind == "rollback"
                    && later.status == "succeeded"
                    && later.from_version.as_deref() == Some(row.version.as_str())
            });
            DeploymentFact {
                environment: row.environment.clone(),
                version: row.version.clone(),
                digest: digests.get(row.version.as_str()).map(|digest| (*digest).to_owned()).unwrap_or_default(),
                config_digest: config_digests.get(row.version.as_str()).cloned().unwrap_or_default(),
                status: row.status.clone(),
                rolled_back_later,
            }
        })
        .collect()
}

async fn observe_environment(
    executor: &Executor,
    spec: &shipgate_spec::Spec,
    environment: &str,
    row: Option<&EnvironmentRow>,
    deployments: &[DeploymentRow],
) -> Result<ObservedState, StepError> {
    let name = service::service_name(spec, environment);
    let instances = executor
        .agent
        .instances()
        .await?
        .into_iter()
        .filter(|instance| instance.service == name && is_live(instance))
        .map(|instance| ObservedInstance {
            id: instance.id,
            version: instance.version,
            state: serde_json::to_value(instance.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        })
        .collect();
    let routes: Vec<(String, u32)> = executor
        .agent
        .service(&name)
        .await?
        .map(|status| status.spec.versions.into_iter().map(|route| (route.name, route.weight)).collect())
        .unwrap_or_default();
    let total: u32 = routes.iter().map(|(_, weight)| weight).sum();
    let weights = routes
        .into_iter()
        .map(|(version, weight)| (version, if total == 0 { 0.0 } else { f64::from(weight) * 100.0 / f64::from(total) }))
        .collect();
    let agent_pid = executor.agent.info().await.ok().map(|info| info.pid);
    let listen = spec.environments.get(environment).map(|env| env.listen.addr());
    let foreign_listeners = match listen {
        Some(listen) => crate::listeners::foreign(listen.port(), agent_pid),
        None => Vec::new(),
    };
    let deploying = deployments.iter().rev().find(|row| row.environment == environment && row.finished.is_none());
    let now = now();
    let warm_versions = row
        .filter(|row| row.warm_until.as_deref().is_some_and(|until| until > now.as_str()))
        .and_then(|row| row.previous_version.clone())
        .into_iter()
        .collect();
    Ok(ObservedState {
        instances,
        weights,
        foreign_listeners,
        desired: DesiredState {
            active_version: row.and_then(|row| row.active_version.clone()),
            replicas: spec.environments.get(environment).map_or(1, |env| env.replicas),
            deploying_version: deploying.map(|row| row.version.clone()),
            warm_versions,
        },
    })
}

/// Evaluates the catalog and lifts what the overrides name.
pub fn judge(facts: &Facts, overrides: &[Override]) -> Lifting {
    let findings = shipgate_policy::evaluate(facts);
    let pairs: Vec<(&str, &str)> = overrides.iter().map(|o| (o.rule.as_str(), o.reason.as_str())).collect();
    shipgate_policy::lift(findings, &pairs)
}

/// True when a deny finding remains or an override was refused.
pub fn refuses(lifting: &Lifting) -> bool {
    shipgate_policy::denies(&lifting.remaining) || !lifting.refused.is_empty()
}

/// The gates of a plan as the API shows them: one per finding (`fail` for a deny still in
/// force, `warn`, `lifted`), one per refused override, or one `pass` when nothing fired.
pub fn gates_json(lifting: &Lifting) -> Vec<Value> {
    let mut gates: Vec<Value> = lifting
        .remaining
        .iter()
        .map(|finding| gate(finding, if finding.is_deny() { "fail" } else { "warn" }))
        .collect();
    gates.extend(lifting.lifted.iter().map(|lifted| {
        let mut gate = gate(&lifted.finding, "lifted");
        gate["detail"] = json!(format!("{} (overridden: {})", lifted.finding.message, lifted.reason));
        gate
    }));
    gates.extend(lifting.refused.iter().map(|refused| {
        json!({"name": format!("override {}", refused.rule), "verdict": "fail",
               "detail": format!("the override of `{}` is refused: {:?}", refused.rule, refused.refusal),
               "hint": "only overridable rules with a finding here can be lifted, each with a written reason"})
    }));
    if gates.is_empty() {
        gates
            .push(json!({"name": "policy", "verdict": "pass", "detail": "no rule of the catalog fires", "hint": null}));
    }
    gates
}

fn gate(finding: &Finding, verdict: &str) -> Value {
    json!({"name": format!("{} {}", finding.rule, finding.name), "verdict": verdict,
           "detail": finding.message, "hint": finding.hint, "docs": finding.docs})
}

/// A one-line summary of why the gates refuse, for a deployment's reason.
pub fn refusal_reason(lifting: &Lifting) -> String {
    let mut parts: Vec<String> = lifting
        .remaining
        .iter()
        .filter(|finding| finding.is_deny())
        .map(|finding| format!("{} {}: {}", finding.rule, finding.name, finding.message))
        .collect();
    parts.extend(
        lifting.refused.iter().map(|refused| format!("override of {} refused ({:?})", refused.rule, refused.refusal)),
    );
    format!("refused by the gates: {}", parts.join("; "))
}

/// The ids of the drift rules.
pub const DRIFT_RULES: [&str; 4] = ["SG0403", "SG0404", "SG0405", "SG0406"];

/// The drift findings of `environment`, judged against `release` (the active one).
pub async fn drift(
    executor: &Executor,
    environment: &str,
    release: &ReleaseRow,
    actor: &str,
) -> Result<Vec<Finding>, StepError> {
    let facts = gather(executor, environment, release, actor, true).await?;
    Ok(shipgate_policy::evaluate(&facts).into_iter().filter(|finding| DRIFT_RULES.contains(&finding.rule)).collect())
}
