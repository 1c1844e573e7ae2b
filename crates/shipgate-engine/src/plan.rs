//! Planning a deployment: which steps, in which order, for which strategy.
//!
//! Every step is idempotent by construction (it names a desired state, not an action: "version
//! V has N healthy instances", "V gets weight W"), so the executor can re-run the step that was
//! interrupted by a crash. Rollback is not planned here: on any failure the executor returns
//! traffic to the stable release in one routing change, whatever step it was at.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shipgate_spec::values::{Duration, Weight};
use shipgate_spec::{Spec, Strategy};

/// A release as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    /// sha256 of the artifact.
    pub digest: String,
    /// sha256 of the `shipgate.toml` stored with the release.
    pub config_digest: String,
}

/// What the environment runs now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EnvironmentState {
    /// The release serving all traffic, if any.
    pub active: Option<Release>,
}

/// One step of a deployment. Each names the state it brings about, so re-running it is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Every gate of the catalog must pass (filled by the gates issue).
    Gates,
    /// Pending expand migrations, before the new version takes any traffic.
    MigrateExpand,
    /// `version` has `count` instances started (not yet routable).
    StartInstances { version: String, count: u32 },
    /// All `count` instances of `version` pass their health probe.
    WaitHealthy { version: String, count: u32 },
    /// The smoke checks pass against `version`, reached by version pin before it takes traffic
    /// (`before_traffic`) or after promotion.
    Smoke { version: String, before_traffic: bool },
    /// `version` receives `weight` of the traffic, the stable release the rest.
    SetWeight { version: String, weight: Weight },
    /// Stay at the current weights for `duration` while analysis watches; `pause` waits for
    /// `shipgate deploy resume` afterwards.
    Hold { duration: Duration, pause: bool },
    /// `version` runs exactly `count` instances (the rest drain and stop).
    ScaleVersion { version: String, count: u32 },
    /// `version` receives all traffic.
    Promote { version: String },
    /// Watch the promoted release for `duration` before the deployment counts as done.
    Bake { duration: Duration },
    /// The previous release stays running, without traffic, for an instant rollback.
    KeepWarm { version: String, duration: Duration },
    /// The previous release's instances drain and stop.
    StopVersion { version: String },
    /// Contract migrations shipped by the previous release, now that no running code needs the
    /// old schema.
    MigrateContract,
    /// The deployment's outcome and a ledger checkpoint are recorded.
    Record,
}

impl Step {
    /// One line for people: what the step brings about.
    pub fn describe(&self) -> String {
        match self {
            Step::Gates => "check the gates".into(),
            Step::MigrateExpand => "apply expand migrations".into(),
            Step::StartInstances { version, count } => format!("start {count} instance(s) of {version}"),
            Step::WaitHealthy { version, count } => format!("wait until {count} instance(s) of {version} are healthy"),
            Step::Smoke { version, before_traffic: true } => format!("smoke-test {version} by version pin"),
            Step::Smoke { version, before_traffic: false } => format!("smoke-test {version} with all traffic"),
            Step::SetWeight { version, weight } => format!("send {weight}% of traffic to {version}"),
            Step::Hold { duration, pause: false } => format!("hold for {duration} while analysis watches"),
            Step::Hold { duration, pause: true } => {
                format!("hold for {duration} while analysis watches, then pause for `shipgate deploy resume`")
            }
            Step::ScaleVersion { version, count } => format!("scale {version} to {count} instance(s)"),
            Step::Promote { version } => format!("send all traffic to {version}"),
            Step::Bake { duration } => format!("bake for {duration}"),
            Step::KeepWarm { version, duration } => format!("keep {version} warm for {duration} for instant rollback"),
            Step::StopVersion { version } => format!("drain and stop {version}"),
            Step::MigrateContract => "apply contract migrations".into(),
            Step::Record => "record the outcome".into(),
        }
    }

    /// A step that only waits for evidence: skipped by a cold rollback, which must restore the
    /// known-good release as fast as health allows.
    pub fn is_wait(&self) -> bool {
        matches!(self, Step::Hold { .. } | Step::Bake { .. } | Step::SetWeight { .. })
    }
}

/// The steps of one deployment of `target` to `environment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub environment: String,
    pub from: Option<Release>,
    pub to: Release,
    /// Empty when the deployment would change nothing (see [`Plan::no_op`]).
    pub steps: Vec<Step>,
    /// Why there is nothing to do, when there is nothing to do.
    pub no_op: Option<String>,
}

impl Plan {
    /// The plan of a cold rollback: the same steps without canary weights, holds and bake
    /// (health, smoke checks and promotion still run).
    pub fn without_waits(mut self) -> Plan {
        self.steps.retain(|step| !step.is_wait());
        self
    }

    /// A digest of the plan, recorded with the deployment: `deploy` executes exactly the plan
    /// `plan` showed.
    pub fn digest(&self) -> String {
        // JSON of a struct lists fields in declaration order, so the same plan always hashes the same.
        let json = serde_json::to_string(self).unwrap_or_default();
        Sha256::digest(json.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The spec has no such environment.
    UnknownEnvironment { name: String, known: Vec<String> },
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::UnknownEnvironment { name, known } => {
                write!(f, "no environment `{name}` in shipgate.toml (declared: {})", known.join(", "))
            }
        }
    }
}

impl std::error::Error for PlanError {}

/// Plans the deployment of `target` to the environment `environment` of `spec`, given what it
/// runs now. Pure: no I/O, no clock.
pub fn plan(spec: &Spec, environment: &str, state: &EnvironmentState, target: &Release) -> Result<Plan, PlanError> {
    let Some(env) = spec.environments.get(environment) else {
        return Err(PlanError::UnknownEnvironment {
            name: environment.to_owned(),
            known: spec.environments.keys().cloned().collect(),
        });
    };
    let mut plan = Plan {
        environment: environment.to_owned(),
        from: state.active.clone(),
        to: target.clone(),
        steps: Vec::new(),
        no_op: None,
    };
    if state.active.as_ref() == Some(target) {
        plan.no_op =
            Some(format!("`{environment}` already runs `{}` with the same artifact and configuration", target.version));
        return Ok(plan);
    }
    let new = target.version.clone();
    let replicas = env.replicas;
    let previous = state.active.as_ref().map(|release| release.version.clone());
    let has_migrations = spec.migrations.is_some();
    let has_smoke = !env.smoke.is_empty();

    let mut steps = vec![Step::Gates];
    if has_migrations {
        steps.push(Step::MigrateExpand);
    }
    let mut keep_warm = None;
    let mut previous = previous;
    match (&env.strategy, &previous) {
        (Strategy::Recreate, Some(old)) => {
            // The one strategy with a gap in service: nothing may run both versions at once.
            steps.push(Step::StopVersion { version: old.clone() });
            previous = None;
        }
        (Strategy::Rolling(rolling), Some(old)) => {
            let mut running = 0;
            while running < replicas {
                running = (running + rolling.batch.max(1)).min(replicas);
                steps.push(Step::StartInstances { version: new.clone(), count: running });
                steps.push(Step::WaitHealthy { version: new.clone(), count: running });
                if running == rolling.batch.max(1).min(replicas) && has_smoke {
                    steps.push(Step::Smoke { version: new.clone(), before_traffic: true });
                }
                if running < replicas {
                    if let Some(weight) = Weight::share(running, replicas) {
                        steps.push(Step::SetWeight { version: new.clone(), weight });
                    }
                    steps.push(Step::ScaleVersion { version: old.clone(), count: replicas - running });
                }
            }
        }
        _ => {}
    }
    if !matches!((&env.strategy, &previous), (Strategy::Rolling(_), Some(_))) {
        steps.push(Step::StartInstances { version: new.clone(), count: replicas });
        steps.push(Step::WaitHealthy { version: new.clone(), count: replicas });
        if has_smoke {
            steps.push(Step::Smoke { version: new.clone(), before_traffic: true });
        }
    }
    match (&env.strategy, &previous) {
        // The first release has no stable version to compare with or fall back to: it takes all
        // traffic once healthy (and smoke-tested), whatever the strategy.
        (_, None) | (Strategy::Direct | Strategy::Rolling(_) | Strategy::Recreate, Some(_)) => {
            steps.push(Step::Promote { version: new.clone() })
        }
        (Strategy::Canary(canary), Some(_)) => {
            for step in canary {
                steps.push(Step::SetWeight { version: new.clone(), weight: step.weight });
                steps.push(Step::Hold { duration: step.hold, pause: step.pause });
            }
            steps.push(Step::Promote { version: new.clone() });
        }
        (Strategy::BlueGreen(blue_green), Some(_)) => {
            // The preview: smoke already ran by pin; analysis watches the pinned traffic.
            steps.push(Step::Hold { duration: blue_green.preview, pause: !blue_green.auto_promote });
            steps.push(Step::Promote { version: new.clone() });
            keep_warm = Some(blue_green.scale_down_delay);
        }
    }
    if has_smoke {
        steps.push(Step::Smoke { version: new.clone(), before_traffic: false });
    }
    if let Some(bake) = env.bake {
        steps.push(Step::Bake { duration: bake });
    }
    if let Some(old) = previous {
        if let Some(duration) = keep_warm {
            steps.push(Step::KeepWarm { version: old.clone(), duration });
        }
        steps.push(Step::StopVersion { version: old });
        if has_migrations {
            steps.push(Step::MigrateContract);
        }
    }
    steps.push(Step::Record);
    plan.steps = steps;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(environment: &str) -> Spec {
        let text = format!(
            "[app]\nname = \"hello\"\n[artifact]\npath = \"x\"\n[run]\ncommand = [\"./x\"]\n\
             [secrets]\nDATABASE_URL = {{}}\n\
             [environments.staging]\nlisten = \"127.0.0.1:8080\"\n\
             [environments.production]\nlisten = \"127.0.0.1:8081\"\n{environment}"
        );
        shipgate_spec::parse_str(&text).unwrap_or_else(|report| panic!("{:#?}", report.diagnostics))
    }

    fn release(version: &str) -> Release {
        Release { version: version.to_owned(), digest: format!("sha-{version}"), config_digest: "cfg".to_owned() }
    }

    fn names(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .map(|step| match step {
                Step::SetWeight { weight, .. } => format!("set_weight {weight}"),
                Step::Hold { duration, pause } => format!("hold {duration}{}", if *pause { " pause" } else { "" }),
                Step::Smoke { before_traffic, .. } => {
                    format!("smoke {}", if *before_traffic { "before" } else { "after" })
                }
                other => format!("{other:?}").split([' ', '{']).next().unwrap_or_default().to_lowercase(),
            })
            .collect()
    }

    #[test]
    fn strategies_produce_their_steps() {
        let running = EnvironmentState { active: Some(release("1.0.0")) };
        let cases: Vec<(&str, EnvironmentState, Vec<&str>)> = vec![
            (
                "strategy = { canary = [ { weight = 5, hold = \"1m\" }, { weight = 50, hold = \"2m\", pause = true } ] }\nbake = \"10m\"\n",
                running.clone(),
                vec![
                    "gates",
                    "startinstances",
                    "waithealthy",
                    "set_weight 5",
                    "hold 1m",
                    "set_weight 50",
                    "hold 2m pause",
                    "promote",
                    "bake",
                    "stopversion",
                    "record",
                ],
            ),
            (
                "strategy = { blue_green = { preview = \"30s\", auto_promote = false, scale_down_delay = \"5m\" } }\nsmoke = [{ http = \"/\" }]\n",
                running.clone(),
                vec![
                    "gates",
                    "startinstances",
                    "waithealthy",
                    "smoke before",
                    "hold 30s pause",
                    "promote",
                    "smoke after",
                    "keepwarm",
                    "stopversion",
                    "record",
                ],
            ),
            ("", running.clone(), vec!["gates", "startinstances", "waithealthy", "promote", "stopversion", "record"]),
            (
                "replicas = 3\nstrategy = { rolling = { batch = 2 } }\n",
                running.clone(),
                vec![
                    "gates",
                    "startinstances",
                    "waithealthy",
                    "set_weight 66.66",
                    "scaleversion",
                    "startinstances",
                    "waithealthy",
                    "promote",
                    "stopversion",
                    "record",
                ],
            ),
            (
                "strategy = \"recreate\"\nsmoke = [{ http = \"/\" }]\n",
                running.clone(),
                vec![
                    "gates",
                    "stopversion",
                    "startinstances",
                    "waithealthy",
                    "smoke before",
                    "promote",
                    "smoke after",
                    "record",
                ],
            ),
            (
                "strategy = { canary = [ { weight = 5, hold = \"1m\" } ] }\n",
                EnvironmentState::default(),
                vec!["gates", "startinstances", "waithealthy", "promote", "record"],
            ),
        ];
        for (environment, state, expected) in cases {
            let plan = plan(&spec(environment), "production", &state, &release("2.0.0")).unwrap();
            assert_eq!(names(&plan), expected, "{environment}");
        }
    }

    #[test]
    fn migrations_wrap_the_rollout() {
        let spec = shipgate_spec::parse_str(
            "[app]\nname = \"hello\"\n[artifact]\npath = \"x\"\n[run]\ncommand = [\"./x\"]\n[secrets]\nDATABASE_URL = {}\n\
             [migrations]\ndatabase = \"DATABASE_URL\"\n[environments.production]\nlisten = \"127.0.0.1:8081\"\n",
        )
        .unwrap();
        let plan = plan(&spec, "production", &EnvironmentState { active: Some(release("1")) }, &release("2")).unwrap();
        let names = names(&plan);
        assert_eq!(names[1], "migrateexpand", "expand runs before any new instance");
        assert_eq!(names[names.len() - 2], "migratecontract", "contract runs once the previous release is gone");
    }

    #[test]
    fn the_same_release_and_config_is_a_no_op() {
        let state = EnvironmentState { active: Some(release("1.0.0")) };
        let plan = plan(&spec(""), "production", &state, &release("1.0.0")).unwrap();
        assert!(plan.steps.is_empty());
        assert!(plan.no_op.unwrap().contains("already runs `1.0.0`"));
        let mut changed = release("1.0.0");
        changed.config_digest = "other".to_owned();
        assert!(
            super::plan(&spec(""), "production", &state, &changed).unwrap().no_op.is_none(),
            "a config change deploys"
        );
    }

    #[test]
    fn unknown_environment_names_the_known_ones() {
        let error = plan(&spec(""), "prod", &EnvironmentState::default(), &release("1")).unwrap_err();
        assert_eq!(error.to_string(), "no environment `prod` in shipgate.toml (declared: production, staging)");
    }

    #[test]
    fn a_plan_survives_a_round_trip_through_json() {
        let state = EnvironmentState { active: Some(release("1")) };
        let canary =
            spec("strategy = { canary = [ { weight = 5.5, hold = \"1m30s\", pause = true } ] }\nbake = \"2m\"\n");
        let plan = plan(&canary, "production", &state, &release("2")).unwrap();
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    }

    #[test]
    fn a_cold_rollback_skips_weights_and_holds() {
        let state = EnvironmentState { active: Some(release("2")) };
        let canary = spec("strategy = { canary = [ { weight = 5, hold = \"1m\" } ] }\nbake = \"2m\"\n");
        let plan = plan(&canary, "production", &state, &release("1")).unwrap().without_waits();
        assert_eq!(names(&plan), ["gates", "startinstances", "waithealthy", "promote", "stopversion", "record"]);
    }

    #[test]
    fn the_digest_pins_the_plan() {
        let state = EnvironmentState { active: Some(release("1")) };
        let canary = spec("strategy = { canary = [ { weight = 5, hold = \"1m\" } ] }\n");
        let one = plan(&canary, "production", &state, &release("2")).unwrap();
        assert_eq!(one.digest(), plan(&canary, "production", &state, &release("2")).unwrap().digest());
        let other = spec("strategy = { canary = [ { weight = 10, hold = \"1m\" } ] }\n");
        assert_ne!(one.digest(), plan(&other, "production", &state, &release("2")).unwrap().digest());
    }
}
