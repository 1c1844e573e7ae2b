//! Baselines: the findings a team has accepted (and rotated), so that only new ones fail.
//! A baseline stores fingerprints, never secrets.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Finding};

const VERSION: u32 = 1;

/// A set of accepted findings, as written by `shipgate scan --write-baseline`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub version: u32,
    pub findings: Vec<BaselineEntry>,
}

/// One accepted finding. `rule`, `location` and `fingerprint` identify it; `line` and
/// `commit` are there for the reader.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    pub rule: String,
    /// The file, with the archives it is in (`image.tar > layer sha256:… > app/.env`).
    pub location: String,
    pub fingerprint: String,
    #[serde(default)]
    pub line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl Baseline {
    pub fn from_findings(findings: &[Finding]) -> Self {
        let mut entries: Vec<BaselineEntry> = findings
            .iter()
            .map(|finding| BaselineEntry {
                rule: finding.rule.to_owned(),
                location: finding.location.key(),
                fingerprint: finding.fingerprint.clone(),
                line: finding.location.line,
                commit: finding.location.commit.as_ref().map(|commit| commit.id.clone()),
            })
            .collect();
        entries.sort();
        entries.dedup_by(|a, b| a.rule == b.rule && a.location == b.location && a.fingerprint == b.fingerprint);
        Baseline { version: VERSION, findings: entries }
    }

    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        let baseline: Baseline =
            serde_json::from_slice(&text).map_err(|source| Error::BaselineFormat { path: path.to_owned(), source })?;
        if baseline.version != VERSION {
            return Err(Error::BaselineVersion { path: path.to_owned(), found: baseline.version, expected: VERSION });
        }
        Ok(baseline)
    }

    /// Writes the baseline as pretty JSON, one entry per finding, sorted (diff-friendly).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        std::fs::write(path, text).map_err(|source| Error::Io { path: path.to_owned(), source })
    }

    /// Splits `findings` into the new ones (returned) and the number already in the baseline.
    pub fn filter(&self, findings: Vec<Finding>) -> (Vec<Finding>, usize) {
        let known: HashSet<(&str, &str, &str)> = self
            .findings
            .iter()
            .map(|entry| (entry.rule.as_str(), entry.location.as_str(), entry.fingerprint.as_str()))
            .collect();
        let total = findings.len();
        let fresh: Vec<Finding> = findings
            .into_iter()
            .filter(|finding| {
                let location = finding.location.key();
                !known.contains(&(finding.rule, location.as_str(), finding.fingerprint.as_str()))
            })
            .collect();
        let suppressed = total - fresh.len();
        (fresh, suppressed)
    }
}
