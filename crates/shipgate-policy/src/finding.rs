//! What a rule says about one fact: [`Finding`], its [`Severity`] and its [`Subject`].

use serde::Serialize;

use crate::catalog::RuleDoc;

/// How much a finding matters. `deny` stops the gate; `warn` is shown and recorded.
///
/// Ordered so that `Deny < Warn`: sorting puts the findings that stop a gate first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Deny,
    Warn,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Deny => "deny",
            Severity::Warn => "warn",
        }
    }

    /// The SARIF `level` of this severity.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Deny => "error",
            Severity::Warn => "warning",
        }
    }
}

impl From<shipgate_spec::Severity> for Severity {
    fn from(severity: shipgate_spec::Severity) -> Self {
        match severity {
            shipgate_spec::Severity::Deny => Severity::Deny,
            shipgate_spec::Severity::Warn => Severity::Warn,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about. Every field is always serialized (`null` when unknown), so the
/// JSON shape does not depend on the finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// A file relative to the repository root, usually the spec (`shipgate.toml`).
    pub file: Option<String>,
    /// The 1-based line in `file`.
    pub line: Option<u32>,
    /// The version label of the release the finding is about.
    pub release: Option<String>,
    /// The environment the finding is about.
    pub environment: Option<String>,
}

/// One rule's verdict about one fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's stable id, e.g. `SG0101`.
    pub rule: &'static str,
    /// The rule's stable kebab-case name, e.g. `mutable-artifact`.
    pub name: &'static str,
    /// After `[policy]` overrides (see [`crate::apply_policy`]).
    pub severity: Severity,
    pub message: String,
    pub subject: Subject,
    /// What to do about it.
    pub hint: String,
    /// Where the rule is documented: [`RuleDoc::docs_url`].
    pub docs: String,
    /// Whether a recorded override with a written reason may lift it (see [`crate::lift`]).
    pub overridable: bool,
}

impl Finding {
    /// A finding of `rule`; the name, docs link and overridability come from the catalog entry.
    pub fn new(
        rule: &RuleDoc,
        severity: Severity,
        message: impl Into<String>,
        hint: impl Into<String>,
        subject: Subject,
    ) -> Self {
        Finding {
            rule: rule.id,
            name: rule.name,
            severity,
            message: message.into(),
            subject,
            hint: hint.into(),
            docs: rule.docs_url(),
            overridable: rule.overridable,
        }
    }

    pub fn is_deny(&self) -> bool {
        self.severity == Severity::Deny
    }
}

/// Whether any finding stops the gate.
pub fn denies(findings: &[Finding]) -> bool {
    findings.iter().any(Finding::is_deny)
}

/// Sorts deny first, then by rule id; findings of one rule keep their order.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| (a.severity, a.rule).cmp(&(b.severity, b.rule)));
}
