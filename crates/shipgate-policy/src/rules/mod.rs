//! The implemented rules, each a pure function of the facts. One module per id group.

mod drift;
mod environment;
mod flags;
mod promotion;
mod release;
mod rollout;
mod secrets;
mod signatures;
mod windows;

#[cfg(test)]
mod tests;

use shipgate_spec::Environment;

use crate::catalog::RuleDoc;
use crate::facts::Facts;
use crate::finding::{Finding, Severity, Subject};
use crate::locate::Locator;

/// A rule check: reads the context, pushes its findings.
type Check = fn(&Context<'_>, &mut Vec<Finding>);

/// Every implemented check, grouped by id (order does not matter: `evaluate` sorts).
const CHECKS: &[Check] = &[
    release::image_reference,
    release::artifact_digest,
    release::version_label,
    release::version_label_reused,
    release::test_evidence,
    release::vulnerability_scan,
    release::vulnerable_dependency,
    release::migration_rehearsal,
    release::secret_scan,
    secrets::not_set,
    secrets::age,
    secrets::in_spec,
    promotion::unknown_environment,
    promotion::staging_first,
    promotion::config_through_staging,
    promotion::production_without_staging,
    rollout::progressive_strategy,
    rollout::health_check,
    rollout::smoke_checks,
    rollout::automated_analysis,
    flags::risky_change,
    environment::parity,
    environment::residency,
    drift::unknown_versions,
    drift::replicas,
    drift::traffic,
    drift::foreign_listeners,
    windows::freeze,
    signatures::unsigned,
    signatures::mismatch,
];

/// Runs every implemented rule. Severities are the rules' defaults for the environment, before
/// `[policy]`.
pub(crate) fn run(facts: &Facts, production: bool) -> Vec<Finding> {
    let context = Context::new(facts, production);
    let mut findings = Vec::new();
    for check in CHECKS {
        check(&context, &mut findings);
    }
    findings
}

/// The facts plus what every rule derives from them.
pub(crate) struct Context<'a> {
    pub facts: &'a Facts,
    /// The target environment's declaration; `None` when the spec does not declare it.
    pub environment: Option<&'a Environment>,
    pub production: bool,
    locator: Locator<'a>,
}

impl<'a> Context<'a> {
    fn new(facts: &'a Facts, production: bool) -> Self {
        Context {
            facts,
            environment: facts.spec.environments.get(&facts.environment),
            production,
            locator: Locator::new(&facts.spec_text),
        }
    }

    pub fn env_name(&self) -> &'a str {
        &self.facts.environment
    }

    pub fn version(&self) -> &'a str {
        &self.facts.release.version
    }

    /// The rule's default severity for the target environment; `None` when it does not apply.
    pub fn severity(&self, rule: &RuleDoc) -> Option<Severity> {
        if self.production { Some(rule.severity) } else { rule.elsewhere }
    }

    /// A subject in the spec at `path` (or its nearest declared parent).
    pub fn at(&self, path: &[&str]) -> Subject {
        let file = if self.facts.spec_path.is_empty() { shipgate_spec::FILE_NAME } else { &self.facts.spec_path };
        Subject {
            file: Some(file.to_owned()),
            line: self.locator.line(path),
            release: Some(self.facts.release.version.clone()),
            environment: Some(self.facts.environment.clone()),
        }
    }

    /// A subject at the target environment's declaration, or `key` inside it.
    pub fn at_environment(&self, key: Option<&str>) -> Subject {
        match key {
            Some(key) => self.at(&["environments", self.env_name(), key]),
            None => self.at(&["environments", self.env_name()]),
        }
    }
}

/// `` `a` ``, `` `a` and `b` ``, `` `a`, `b` and `c` ``.
pub(crate) fn quoted_all<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("`{}`", item.as_ref())).collect();
    joined(&quoted)
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn joined(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// `1 failure`, `2 failures`.
pub(crate) fn count(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// A digest shortened for messages: `sha256:3f1c2a8b9d0e…`.
pub(crate) fn short(digest: &str) -> String {
    let (prefix, hex) = digest.split_once(':').map_or(("", digest), |(algorithm, hex)| (algorithm, hex));
    let cut: String = hex.chars().take(12).collect();
    let ellipsis = if hex.chars().count() > 12 { "…" } else { "" };
    if prefix.is_empty() { format!("{cut}{ellipsis}") } else { format!("{prefix}:{cut}{ellipsis}") }
}
