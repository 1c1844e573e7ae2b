//! SG03xx: how a release rolls out (strategy, health, smoke checks, analysis).

use shipgate_spec::Strategy;

use super::{Context, quoted_all};
use crate::catalog::{MISSING_HEALTH_CHECK, MISSING_SMOKE_CHECKS, NO_AUTOMATED_ANALYSIS, PROGRESSIVE_STRATEGY};
use crate::finding::Finding;
use crate::policy::is_production;

/// SG0301: production rolls out progressively.
pub(super) fn progressive_strategy(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(environment) = context.environment else { return };
    let (name, why) = match environment.strategy {
        Strategy::Canary(_) | Strategy::BlueGreen(_) => return,
        Strategy::Direct => (
            "direct",
            "switches all traffic to the new version at once, with no step where it is judged on part of the traffic",
        ),
        Strategy::Rolling(_) => (
            "rolling",
            "moves traffic with instance counts, with no step where the new version is judged before it gets more",
        ),
        Strategy::Recreate => {
            ("recreate", "stops the old version before the new one starts: a gap in service, and nothing to return to")
        }
    };
    let Some(severity) = context.severity(&PROGRESSIVE_STRATEGY) else { return };
    let env = context.env_name();
    out.push(Finding::new(
        &PROGRESSIVE_STRATEGY,
        severity,
        format!("`{env}` uses the `{name}` strategy, which {why}"),
        "use a canary, e.g. `strategy = { canary = [ { weight = 5, hold = \"1m\" }, { weight = 50, hold = \"5m\" } ] }`, or `strategy = { blue_green = {} }`",
        context.at_environment(Some("strategy")),
    ));
}

/// SG0302: instances have a health check.
pub(super) fn health_check(context: &Context<'_>, out: &mut Vec<Finding>) {
    if context.facts.spec.run.health.is_some() {
        return;
    }
    let Some(severity) = context.severity(&MISSING_HEALTH_CHECK) else { return };
    out.push(Finding::new(
        &MISSING_HEALTH_CHECK,
        severity,
        "`[run]` declares no `health` check, so shipgate cannot tell an instance that started from one that works",
        "add a probe to `[run]`, e.g. `health = { http = \"/healthz\" }` (or `tcp = true`, or `exec = [\"…\"]`)",
        context.at(&["run", "health"]),
    ));
}

/// SG0303: production, and the environments production requires, have smoke checks.
pub(super) fn smoke_checks(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(environment) = context.environment else { return };
    if !environment.smoke.is_empty() {
        return;
    }
    let env = context.env_name();
    let (severity, message) = if context.production {
        (
            MISSING_SMOKE_CHECKS.severity,
            format!(
                "`{env}` declares no smoke checks, so nothing checks that the new version works before it takes traffic and after promotion"
            ),
        )
    } else {
        let spec = &context.facts.spec;
        let requiring: Vec<&str> = spec
            .environments
            .iter()
            .filter(|(name, other)| other.requires.iter().any(|r| r == env) && is_production(spec, name))
            .map(|(name, _)| name.as_str())
            .collect();
        let (Some(severity), false) = (MISSING_SMOKE_CHECKS.elsewhere, requiring.is_empty()) else { return };
        (
            severity,
            format!(
                "`{env}` declares no smoke checks, yet {} {} it: passing `{env}` proves only that the instances answer their health check",
                quoted_all(&requiring),
                if requiring.len() == 1 { "requires" } else { "require" }
            ),
        )
    };
    out.push(Finding::new(
        &MISSING_SMOKE_CHECKS,
        severity,
        message,
        format!(
            "add requests that prove the app works to `[environments.{env}]`, e.g. `smoke = [ {{ http = \"/\", expect = 200 }} ]`"
        ),
        context.at_environment(Some("smoke")),
    ));
}

/// SG0304: production judges releases automatically, during the rollout and after it.
pub(super) fn automated_analysis(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(environment) = context.environment else { return };
    let env = context.env_name();
    let (message, hint, key) = match (environment.analysis.is_some(), environment.bake.is_some()) {
        (true, true) => return,
        (false, false) => (
            format!(
                "`{env}` has no `analysis` limits and no `bake` period: a bad release is rolled back only if its instances fail their health checks, and nothing watches it after full promotion"
            ),
            format!(
                "add `analysis = {{ error_rate_max = 0.01, p99_max = \"300ms\" }}` and `bake = \"10m\"` to `[environments.{env}]`"
            ),
            None,
        ),
        (false, true) => (
            format!(
                "`{env}` has no `analysis` limits: a bad release is rolled back only if its instances fail their health checks"
            ),
            format!("add `analysis = {{ error_rate_max = 0.01, p99_max = \"300ms\" }}` to `[environments.{env}]`"),
            Some("bake"),
        ),
        (true, false) => (
            format!("`{env}` has no `bake` period: nothing watches the release after full promotion"),
            format!("add `bake = \"10m\"` to `[environments.{env}]`"),
            Some("analysis"),
        ),
    };
    let Some(severity) = context.severity(&NO_AUTOMATED_ANALYSIS) else { return };
    out.push(Finding::new(&NO_AUTOMATED_ANALYSIS, severity, message, hint, context.at_environment(key)));
}
