//! What a lint rule says about one statement.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warn,
    Deny,
}

/// One rule's verdict about one place in one migration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id in shipgate's rule catalog, e.g. `SG0501`.
    pub rule_id: &'static str,
    /// Kebab-case name; squawk's rules keep their own name behind a `squawk/` prefix.
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// The migration file, relative to the migrations folder.
    pub file: String,
    /// Byte range of the offending text in the file.
    #[serde(skip)]
    pub span: std::ops::Range<usize>,
}
