//! The rule catalog of shipgate's gates.
//!
//! Rules are pure functions of [`Facts`]: the release, its spec, the deployment history, what
//! the agent observes, and the time, all gathered by the server. [`evaluate`] runs every
//! implemented rule, applies `[policy]` ([`apply_policy`]) and sorts the [`Finding`]s deny
//! first; [`lift`] applies recorded overrides; [`to_json`] and [`to_sarif`] format the result.
//! [`catalog`] documents every rule, including those whose facts come from later issues.
//!
//! The helpers the server needs to fill the facts live here too, because they decide what
//! the rules see: [`config_digest`], [`parse_junit`], [`parse_image_reference`],
//! [`is_production`].
//!
//! This crate does no I/O: no files, no network, no clock, no environment variables.

#![forbid(unsafe_code)]

mod catalog;
mod config;
mod facts;
mod finding;
mod image;
mod junit;
mod locate;
mod policy;
mod report;
mod rules;
mod tokens;

pub use catalog::{DOCS_BASE, PRACTICES, RuleDoc, catalog, rule};
pub use config::config_digest;
pub use facts::SignatureCheck;
pub use facts::{
    DeploymentFact, DesiredState, Facts, ForeignListener, JunitSummary, MigrationEvidence, ObservedInstance,
    ObservedState, ReleaseFacts, Residency, ScannerFinding, SecretFinding, SecretScan, TestEvidence,
};
pub use facts::{FlagFacts, STORED_VALUE_RULE, SecretsFacts, StoredSecret};
pub use finding::{Finding, Severity, Subject, denies, sort_findings};
pub use image::{ImageReference, ImageReferenceError, parse_image_reference};
pub use junit::{JunitError, parse_junit};
pub use policy::{
    LiftedFinding, Lifting, Refusal, RefusedOverride, apply_policy, is_production, lift, unknown_policy_keys,
};
pub use report::{catalog_table, rules_markdown, to_json, to_sarif};
pub use tokens::{TokenFinding, TokenUsage, USAGE_WINDOW_DAYS, least_privilege};

/// Runs every implemented rule for `facts.environment`, applies the spec's `[policy]` (with
/// the production floor), and returns the findings deny first, then by rule id.
pub fn evaluate(facts: &Facts) -> Vec<Finding> {
    let production = is_production(&facts.spec, &facts.environment);
    let findings = rules::run(facts, production);
    let mut findings = apply_policy(findings, &facts.spec.policy, production);
    sort_findings(&mut findings);
    findings
}
