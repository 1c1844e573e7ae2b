//! SG0401, SG0402: parity between environments, and data residency.

use super::{Context, joined, quoted_all, short};
use crate::catalog::{DATA_RESIDENCY, ENVIRONMENT_PARITY};
use crate::finding::Finding;

/// SG0401: the required environments run, now, the configuration being deployed.
pub(super) fn parity(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(environment) = context.environment else { return };
    let release = &context.facts.release;
    let history = &context.facts.history;
    let env = context.env_name();
    for required in &environment.requires {
        let passed =
            history.iter().any(|d| d.environment == *required && d.config_digest == release.config_digest && d.stood());
        if !passed {
            // SG0202 says so already.
            continue;
        }
        let Some(current) = history.iter().rev().find(|d| d.environment == *required && d.stood()) else { continue };
        if current.config_digest == release.config_digest {
            continue;
        }
        let Some(severity) = context.severity(&ENVIRONMENT_PARITY) else { return };
        out.push(Finding::new(
            &ENVIRONMENT_PARITY,
            severity,
            format!(
                "`{required}` now runs release `{}` with configuration `{}`, not this release's `{}`: `{env}` would run a configuration `{required}` no longer runs",
                current.version,
                short(&current.config_digest),
                short(&release.config_digest)
            ),
            format!(
                "deploy the release `{required}` runs now (`{}`) to `{env}` instead, or deploy `{}` to `{required}` again, so both run the same configuration",
                current.version, release.version
            ),
            context.at_environment(Some("requires")),
        ));
    }
}

/// Whether `region` matches an allowed entry: equal ignoring case, or a `prefix*`.
fn region_allowed(allowed: &str, region: &str) -> bool {
    let (allowed, region) = (allowed.trim().to_ascii_lowercase(), region.trim().to_ascii_lowercase());
    match allowed.strip_suffix('*') {
        Some(prefix) => region.starts_with(prefix),
        None => allowed == region,
    }
}

fn allowed_list(allowed: Option<&Vec<String>>) -> String {
    match allowed {
        Some(regions) if !regions.is_empty() => format!("allowed: {}", quoted_all(regions)),
        _ => "allowed nowhere".to_owned(),
    }
}

/// SG0402: the environment's region is allowed for every data class of the app.
pub(super) fn residency(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(residency) = &context.facts.residency else { return };
    let Some(environment) = context.environment else { return };
    if residency.data_classes.is_empty() {
        return;
    }
    let Some(severity) = context.severity(&DATA_RESIDENCY) else { return };
    let env = context.env_name();
    let classes = &residency.data_classes;
    let described = |classes: &[&String]| -> String {
        let parts: Vec<String> = classes
            .iter()
            .map(|class| format!("`{class}` ({})", allowed_list(residency.allowed_regions.get(*class))))
            .collect();
        joined(&parts)
    };
    let Some(region) = &environment.region else {
        let all: Vec<&String> = classes.iter().collect();
        out.push(Finding::new(
            &DATA_RESIDENCY,
            severity,
            format!(
                "`{env}` declares no `region`, but the app handles data of {} {}, which may be stored only in certain regions",
                if classes.len() == 1 { "class" } else { "classes" },
                described(&all)
            ),
            format!("add `region = \"…\"` to `[environments.{env}]`, a region every data class allows"),
            context.at_environment(None),
        ));
        return;
    };
    let refused: Vec<&String> = classes
        .iter()
        .filter(|class| {
            !residency
                .allowed_regions
                .get(*class)
                .is_some_and(|allowed| allowed.iter().any(|entry| region_allowed(entry, region)))
        })
        .collect();
    if refused.is_empty() {
        return;
    }
    out.push(Finding::new(
        &DATA_RESIDENCY,
        severity,
        format!(
            "`{env}` runs in region `{region}`, where data {} {} may not be stored",
            if refused.len() == 1 { "class" } else { "classes" },
            described(&refused)
        ),
        format!(
            "run `{env}` in a region every data class allows, or extend the allowed regions if the data may legally live in `{region}`"
        ),
        context.at_environment(Some("region")),
    ));
}
