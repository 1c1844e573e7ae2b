//! SG0603 secret-not-set, SG0604 secret-age, SG0605 secret-in-spec: the secrets a release
//! declares, as the server's store holds them for the target environment.

use crate::catalog::{SECRET_AGE, SECRET_IN_SPEC, SECRET_NOT_SET};
use crate::finding::Finding;
use crate::rules::{Context, count};

/// SG0603: every declared secret without a `command` has a stored value.
pub(super) fn not_set(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(secrets) = &context.facts.secrets else { return };
    let Some(severity) = context.severity(&SECRET_NOT_SET) else { return };
    let environment = context.env_name();
    for (name, _) in context.facts.spec.secrets.iter().filter(|(_, decl)| decl.command.is_none()) {
        if secrets.stored.contains_key(name) {
            continue;
        }
        out.push(Finding::new(
            &SECRET_NOT_SET,
            severity,
            format!("the secret `{name}` has no value in `{environment}`; instances would start without it"),
            format!("`shipgate secrets set {environment} {name}` (the value is read from standard input or a prompt)"),
            context.at(&["secrets", name]),
        ));
    }
}

/// SG0604: a stored value older than its secret's `max_age`.
pub(super) fn age(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(secrets) = &context.facts.secrets else { return };
    let Some(severity) = context.severity(&SECRET_AGE) else { return };
    let environment = context.env_name();
    for (name, decl) in &context.facts.spec.secrets {
        let (Some(max_age), Some(stored)) = (decl.max_age, secrets.stored.get(name)) else { continue };
        if decl.command.is_some() {
            continue;
        }
        let age = context.facts.now.duration_since(stored.set_at);
        let Ok(max) = jiff::SignedDuration::try_from(max_age.as_std()) else { continue };
        if age <= max {
            continue;
        }
        let days = age.as_secs() / 86_400;
        out.push(Finding::new(
            &SECRET_AGE,
            severity,
            format!(
                "the secret `{name}` of `{environment}` was set {} ago (version {}, by {}); its `max_age` is {max_age}",
                count(u64::try_from(days).unwrap_or(0), "day"),
                stored.version,
                stored.actor
            ),
            format!("`shipgate secrets rotate {environment} {name}`: a new value, then a rolling restart"),
            context.at(&["secrets", name]),
        ));
    }
}

/// SG0605: literals in the spec that the scanner takes for credentials, or that are values the
/// server holds for the environment.
pub(super) fn in_spec(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(secrets) = &context.facts.secrets else { return };
    let Some(severity) = context.severity(&SECRET_IN_SPEC) else { return };
    for literal in &secrets.spec_literals {
        let mut subject = context.at(&[]);
        subject.line = u32::try_from(literal.line).ok();
        let what = if literal.rule == crate::facts::STORED_VALUE_RULE {
            format!("the value of a secret of `{}` at line {} ({})", context.env_name(), literal.line, literal.redacted)
        } else {
            format!("what looks like a credential at line {} (`{}`: {})", literal.line, literal.rule, literal.redacted)
        };
        out.push(Finding::new(
            &SECRET_IN_SPEC,
            severity,
            format!("`shipgate.toml` of release `{}` holds {what}", context.version()),
            "declare the name under `[secrets]`, set it with `shipgate secrets set ENV NAME`, remove the literal, rotate the credential and create a new release",
            subject,
        ));
    }
}
