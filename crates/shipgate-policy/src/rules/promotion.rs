//! SG02xx: promotion through environments (staging first, for code and configuration).

use super::{Context, joined, quoted_all, short};
use crate::catalog::{CONFIG_THROUGH_STAGING, PRODUCTION_WITHOUT_STAGING, STAGING_FIRST, UNKNOWN_ENVIRONMENT};
use crate::facts::DeploymentFact;
use crate::finding::Finding;

/// SG0205: the target environment is declared by the release's spec.
pub(super) fn unknown_environment(context: &Context<'_>, out: &mut Vec<Finding>) {
    if context.environment.is_some() {
        return;
    }
    let Some(severity) = context.severity(&UNKNOWN_ENVIRONMENT) else { return };
    let declared: Vec<&str> = context.facts.spec.environments.keys().map(String::as_str).collect();
    let env = context.env_name();
    out.push(Finding::new(
        &UNKNOWN_ENVIRONMENT,
        severity,
        format!(
            "`{env}` is not an environment of release `{}`: its shipgate.toml declares {}",
            context.version(),
            quoted_all(&declared)
        ),
        format!("deploy to one of those, or add `[environments.{env}]` to shipgate.toml and create a new release"),
        context.at(&["environments"]),
    ));
}

/// Which required environments have no stood deployment matching `matches`, each with a note
/// about the last deployment there of the same release, if any.
fn missing<'a>(
    context: &Context<'a>,
    matches: impl Fn(&DeploymentFact) -> bool,
) -> Option<(Vec<String>, Vec<&'a str>)> {
    let environment = context.environment?;
    let mut described = Vec::new();
    let mut names = Vec::new();
    for required in &environment.requires {
        let there: Vec<&DeploymentFact> =
            context.facts.history.iter().filter(|d| d.environment == *required && matches(d)).collect();
        if there.iter().any(|deployment| deployment.stood()) {
            continue;
        }
        let note = there.last().map(|last| match last.status.as_str() {
            "succeeded" => "a rollback there moved away from it",
            "rolled_back" => "its deployment there was rolled back",
            "failed" => "its deployment there failed",
            "aborted" => "its deployment there was aborted",
            _ => "its deployment there did not succeed",
        });
        described.push(match note {
            Some(note) => format!("`{required}` ({note})"),
            None => format!("`{required}`"),
        });
        names.push(required.as_str());
    }
    (!names.is_empty()).then_some((described, names))
}

/// SG0201: the exact artifact succeeded in every required environment.
pub(super) fn staging_first(context: &Context<'_>, out: &mut Vec<Finding>) {
    let release = &context.facts.release;
    let Some((described, names)) = missing(context, |d| d.digest == release.digest) else { return };
    let Some(severity) = context.severity(&STAGING_FIRST) else { return };
    let env = context.env_name();
    out.push(Finding::new(
        &STAGING_FIRST,
        severity,
        format!(
            "release `{}` (`{}`) has not succeeded in {}, which `{env}` requires",
            release.version,
            short(&release.digest),
            joined(&described)
        ),
        format!(
            "deploy it to {} first (`shipgate deploy {} {}`), then to `{env}`",
            quoted_all(&names),
            names[0],
            release.version
        ),
        context.at_environment(Some("requires")),
    ));
}

/// SG0202: the configuration ran successfully in every required environment.
pub(super) fn config_through_staging(context: &Context<'_>, out: &mut Vec<Finding>) {
    let release = &context.facts.release;
    let Some((described, names)) = missing(context, |d| d.config_digest == release.config_digest) else { return };
    let Some(severity) = context.severity(&CONFIG_THROUGH_STAGING) else { return };
    let env = context.env_name();
    out.push(Finding::new(
        &CONFIG_THROUGH_STAGING,
        severity,
        format!(
            "the configuration of release `{}` (`{}`) has not run successfully in {}, which `{env}` requires",
            release.version,
            short(&release.config_digest),
            joined(&described)
        ),
        format!(
            "deploy a release with this shipgate.toml to {} first: configuration changes pass the required environments like code",
            quoted_all(&names)
        ),
        context.at_environment(Some("requires")),
    ));
}

/// SG0203: production requires some other environment.
pub(super) fn production_without_staging(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(environment) = context.environment else { return };
    if !environment.requires.is_empty() {
        return;
    }
    let Some(severity) = context.severity(&PRODUCTION_WITHOUT_STAGING) else { return };
    let env = context.env_name();
    out.push(Finding::new(
        &PRODUCTION_WITHOUT_STAGING,
        severity,
        format!(
            "`{env}` is a production environment but requires no other environment, so releases reach it without passing staging"
        ),
        format!("add `requires = [\"staging\"]` to `[environments.{env}]`, with a staging environment to require"),
        context.at_environment(None),
    ));
}
