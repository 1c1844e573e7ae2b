//! Which environments are production, what `[policy]` may change, and lifting findings with
//! recorded overrides.

use std::collections::BTreeMap;

use serde::Serialize;
use shipgate_spec::Spec;

use crate::catalog::{self, RuleDoc};
use crate::finding::{Finding, Severity};

/// Names that always mean production.
const PRODUCTION_NAMES: [&str; 4] = ["production", "prod", "prd", "live"];
/// Names that never mean production, whatever their place in the `requires` graph.
const NON_PRODUCTION_NAMES: [&str; 17] = [
    "dev",
    "development",
    "test",
    "testing",
    "qa",
    "ci",
    "local",
    "sandbox",
    "preview",
    "staging",
    "stage",
    "uat",
    "preprod",
    "pre-prod",
    "pre-production",
    "nonprod",
    "non-prod",
];

/// Whether `environment` is a production environment of `spec`:
///
/// 1. its name is `production`, `prod`, `prd` or `live`, or starts with `production-` or
///    `prod-` (`prod-eu`): yes;
/// 2. its name is one of the usual non-production names (`dev`, `test`, `qa`, `staging`,
///    `preview`, `uat`, `preprod`, …): no;
/// 3. otherwise, by its place in the promotion graph: it requires at least one environment and
///    no environment requires it (it is where releases end up).
pub fn is_production(spec: &Spec, environment: &str) -> bool {
    let name = environment.to_ascii_lowercase();
    if PRODUCTION_NAMES.contains(&name.as_str()) || name.starts_with("production-") || name.starts_with("prod-") {
        return true;
    }
    if NON_PRODUCTION_NAMES.contains(&name.as_str()) {
        return false;
    }
    let Some(declared) = spec.environments.get(environment) else { return false };
    !declared.requires.is_empty()
        && !spec.environments.values().any(|other| other.requires.iter().any(|required| required == environment))
}

/// Applies `[policy]` severity overrides, keyed by rule id (`SG0101`) or name
/// (`mutable-artifact`); an id entry wins over a name entry for the same rule.
///
/// `[policy]` may raise a finding to `deny` anywhere and lower it to `warn` except:
/// - in a production environment, a finding that is `deny` stays `deny`;
/// - a rule that cannot be overridden is never lowered.
///
/// `shipgate_spec::Severity` has only `deny` and `warn`: there is no `off`, so a rule can be
/// quieted at most to a warning. Keys that name no rule are ignored here; see
/// [`unknown_policy_keys`].
pub fn apply_policy(
    mut findings: Vec<Finding>,
    policy: &BTreeMap<String, shipgate_spec::Severity>,
    production: bool,
) -> Vec<Finding> {
    for finding in &mut findings {
        let Some(wanted) = policy.get(finding.rule).or_else(|| policy.get(finding.name)).copied().map(Severity::from)
        else {
            continue;
        };
        let lowering = wanted == Severity::Warn && finding.severity == Severity::Deny;
        if lowering && (production || !finding.overridable) {
            continue;
        }
        finding.severity = wanted;
    }
    findings
}

/// The `[policy]` keys that name no rule of the catalog, for `shipgate validate` to report.
pub fn unknown_policy_keys(policy: &BTreeMap<String, shipgate_spec::Severity>) -> Vec<&str> {
    policy.keys().map(String::as_str).filter(|key| catalog::rule(key).is_none()).collect()
}

/// A finding lifted by a recorded override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiftedFinding {
    pub finding: Finding,
    /// The override's written reason.
    pub reason: String,
}

/// Why an override was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The rule cannot be overridden (signatures, ledger integrity, …); its findings remain.
    NotOverridable,
    /// Overrides need a written reason.
    EmptyReason,
    /// No rule has this id or name.
    UnknownRule,
    /// The rule exists but has no finding here: nothing to lift.
    NoFinding,
}

/// An override that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedOverride {
    /// As given: a rule id or name.
    pub rule: String,
    pub reason: String,
    pub refusal: Refusal,
}

/// The result of [`lift`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lifting {
    /// Findings still in force: not named by an applied override. A gate stops when one of
    /// them is `deny`.
    pub remaining: Vec<Finding>,
    pub lifted: Vec<LiftedFinding>,
    pub refused: Vec<RefusedOverride>,
}

/// Lifts the findings named by overrides (`(rule id or name, written reason)`): every finding
/// of an overridable rule named by an override with a non-blank reason moves to `lifted`.
/// Findings of rules that cannot be overridden stay in `remaining`, and the override is
/// listed in `refused`, as are overrides with a blank reason, of unknown rules, or of rules
/// without a finding.
pub fn lift<R: AsRef<str>, W: AsRef<str>>(findings: Vec<Finding>, overrides: &[(R, W)]) -> Lifting {
    let mut applied: Vec<(&'static RuleDoc, String)> = Vec::new();
    let mut refused = Vec::new();
    for (rule, reason) in overrides {
        let (rule, reason) = (rule.as_ref(), reason.as_ref());
        let refuse = |refusal| RefusedOverride { rule: rule.to_owned(), reason: reason.to_owned(), refusal };
        let Some(doc) = catalog::rule(rule) else {
            refused.push(refuse(Refusal::UnknownRule));
            continue;
        };
        if !findings.iter().any(|finding| finding.rule == doc.id) {
            refused.push(refuse(Refusal::NoFinding));
        } else if !doc.overridable {
            refused.push(refuse(Refusal::NotOverridable));
        } else if reason.trim().is_empty() {
            refused.push(refuse(Refusal::EmptyReason));
        } else if !applied.iter().any(|(done, _)| done.id == doc.id) {
            applied.push((doc, reason.trim().to_owned()));
        }
    }
    let mut lifting = Lifting { refused, ..Lifting::default() };
    for finding in findings {
        match applied.iter().find(|(doc, _)| doc.id == finding.rule) {
            Some((_, reason)) => lifting.lifted.push(LiftedFinding { finding, reason: reason.clone() }),
            None => lifting.remaining.push(finding),
        }
    }
    lifting
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Subject;

    fn spec(environments: &str) -> Spec {
        let text = format!("[app]\nname = \"a\"\n[artifact]\npath = \"a\"\n[run]\ncommand = [\"a\"]\n{environments}");
        shipgate_spec::parse_str(&text).unwrap_or_else(|report| panic!("{:?}", report.diagnostics))
    }

    fn env(name: &str, port: u16, requires: &[&str]) -> String {
        let requires: Vec<String> = requires.iter().map(|r| format!("\"{r}\"")).collect();
        format!("[environments.{name}]\nlisten = \"127.0.0.1:{port}\"\nrequires = [{}]\n", requires.join(", "))
    }

    #[test]
    fn production_is_recognised_by_name_then_by_place() {
        let chain = spec(&[env("dev", 1, &[]), env("staging", 2, &["dev"]), env("eu", 3, &["staging"])].concat());
        let named = spec(&[env("production", 1, &[]), env("prod-eu", 2, &[]), env("live", 3, &[])].concat());
        let only_staging = spec(&[env("dev", 1, &[]), env("staging", 2, &["dev"])].concat());
        let lone = spec(&env("web", 1, &[]));
        let cases = [
            (&chain, "dev", false),
            (&chain, "staging", false),
            (&chain, "eu", true),
            (&named, "production", true),
            (&named, "prod-eu", true),
            (&named, "live", true),
            // Named production even when undeclared, so an unknown target errs on the safe side.
            (&named, "PRODUCTION", true),
            (&named, "nowhere", false),
            // A non-production name wins over the graph.
            (&only_staging, "staging", false),
            (&lone, "web", false),
        ];
        for (spec, environment, production) in cases {
            assert_eq!(is_production(spec, environment), production, "{environment}");
        }
    }

    fn finding(id: &str, severity: Severity) -> Finding {
        let doc = catalog::rule(id).unwrap_or_else(|| panic!("{id}"));
        Finding::new(doc, severity, format!("{id} fired"), "fix it", Subject::default())
    }

    fn severities(findings: &[Finding]) -> Vec<(&str, Severity)> {
        findings.iter().map(|finding| (finding.rule, finding.severity)).collect()
    }

    #[test]
    fn policy_raises_and_lowers_with_a_production_floor() {
        use Severity::{Deny, Warn};
        use shipgate_spec::Severity as Spec;
        let policy: BTreeMap<String, Spec> = [
            ("SG0108".to_owned(), Spec::Deny),           // raise a warn rule, by id
            ("mutable-artifact".to_owned(), Spec::Warn), // lower a deny rule, by name
            ("SG0201".to_owned(), Spec::Warn),           // lower, by id …
            ("staging-first".to_owned(), Spec::Deny),    // … the id wins over the name
            ("SG0103".to_owned(), Spec::Warn),           // cannot be overridden: never lowered
            ("SG0999".to_owned(), Spec::Warn),           // no such rule: ignored
        ]
        .into_iter()
        .collect();
        let findings = || {
            vec![
                finding("SG0108", Warn),
                finding("SG0101", Deny),
                finding("SG0201", Deny),
                finding("SG0103", Deny),
                finding("SG0302", Warn),
            ]
        };
        let cases = [
            (false, [("SG0108", Deny), ("SG0101", Warn), ("SG0201", Warn), ("SG0103", Deny), ("SG0302", Warn)]),
            (true, [("SG0108", Deny), ("SG0101", Deny), ("SG0201", Deny), ("SG0103", Deny), ("SG0302", Warn)]),
        ];
        for (production, expected) in cases {
            assert_eq!(severities(&apply_policy(findings(), &policy, production)), expected, "production {production}");
        }
        assert_eq!(unknown_policy_keys(&policy), ["SG0999"]);
    }

    #[test]
    fn a_warn_outside_production_may_be_raised_in_production_too() {
        let policy = [("SG0302".to_owned(), shipgate_spec::Severity::Deny)].into_iter().collect();
        let raised = apply_policy(vec![finding("SG0302", Severity::Warn)], &policy, true);
        assert_eq!(severities(&raised), [("SG0302", Severity::Deny)]);
    }

    #[test]
    fn lifting_needs_an_overridable_rule_a_reason_and_a_finding() {
        let findings = vec![
            finding("SG0201", Severity::Deny),
            finding("SG0201", Severity::Deny),
            finding("SG0103", Severity::Deny),
            finding("SG0301", Severity::Deny),
            finding("SG0108", Severity::Warn),
        ];
        let overrides = [
            ("staging-first", "hotfix for incident 42; staging is down"),
            ("SG0103", "trust me"),
            ("SG0301", "   "),
            ("SG0402", "no residency finding here"),
            ("SG9999", "typo"),
        ];
        let lifting = lift(findings, &overrides);
        let lifted: Vec<(&str, &str)> =
            lifting.lifted.iter().map(|lifted| (lifted.finding.rule, lifted.reason.as_str())).collect();
        assert_eq!(
            lifted,
            [
                ("SG0201", "hotfix for incident 42; staging is down"),
                ("SG0201", "hotfix for incident 42; staging is down")
            ]
        );
        assert_eq!(
            severities(&lifting.remaining),
            [("SG0103", Severity::Deny), ("SG0301", Severity::Deny), ("SG0108", Severity::Warn)]
        );
        let refused: Vec<(&str, Refusal)> =
            lifting.refused.iter().map(|refused| (refused.rule.as_str(), refused.refusal)).collect();
        assert_eq!(
            refused,
            [
                ("SG0103", Refusal::NotOverridable),
                ("SG0301", Refusal::EmptyReason),
                ("SG0402", Refusal::NoFinding),
                ("SG9999", Refusal::UnknownRule),
            ]
        );
        assert!(crate::denies(&lifting.remaining));
    }

    #[test]
    fn lifting_every_deny_leaves_the_gate_open() {
        let lifting =
            lift(vec![finding("SG0301", Severity::Deny)], &[("SG0301".to_owned(), "approved by CAB-17".to_owned())]);
        assert!(lifting.remaining.is_empty() && lifting.refused.is_empty());
        assert!(!crate::denies(&lifting.remaining));
    }
}
