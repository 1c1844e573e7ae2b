//! What a scan reports. A [`Finding`] never holds the secret: only a redacted prefix and a
//! fingerprint, so that no output format can print it by mistake.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One secret found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's id, e.g. `github-pat`.
    pub rule: &'static str,
    pub description: &'static str,
    pub location: Location,
    /// The first characters of the secret, then a mask (`ghp_********`).
    pub redacted: String,
    /// A stable identifier of this secret in this place, for baselines and SARIF: a
    /// truncated SHA-256 of the rule, the location (without line) and the secret.
    pub fingerprint: String,
}

/// Where a secret is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// The archives and image layers the file is inside, outermost first; empty for a
    /// file on disk or in git history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container: Vec<String>,
    /// The file's path: relative to the scanned folder, the repository, or the archive.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in bytes.
    pub column: u64,
    /// For git history: the commit that added the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
}

/// A commit that introduced a secret. The message is left out: it may hold the secret too.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Commit {
    pub id: String,
    pub author: String,
    pub email: String,
    /// Author date, ISO 8601.
    pub date: String,
}

impl Location {
    /// The location without line and column: what a baseline compares.
    pub fn key(&self) -> String {
        let mut key = String::new();
        for container in &self.container {
            key.push_str(container);
            key.push_str(" > ");
        }
        key.push_str(&self.path);
        key
    }
}

impl fmt::Display for Location {
    /// `image.tar > layer sha256:0123456789ab > app/.env:3:7 (commit 0123456789ab)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.key(), self.line, self.column)?;
        if let Some(commit) = &self.commit {
            write!(f, " (commit {})", commit.id.get(..12).unwrap_or(&commit.id))?;
        }
        Ok(())
    }
}

/// The first characters of `secret` (four, or a quarter of a short one), then `********`.
pub fn redact(secret: &[u8]) -> String {
    let text = String::from_utf8_lossy(secret);
    let count = text.chars().count();
    let shown = (count / 4).min(4);
    let mut redacted: String = text.chars().take(shown).collect();
    redacted.push_str("********");
    redacted
}

/// The fingerprint of `secret` found by `rule` at `location` (line and column excluded, so
/// that edits elsewhere in the file keep it).
pub fn fingerprint(rule: &str, location: &Location, secret: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"shipgate-scan/v1\0");
    hasher.update(rule.as_bytes());
    hasher.update(b"\0");
    hasher.update(location.key().as_bytes());
    hasher.update(b"\0");
    hasher.update(secret);
    let digest = hasher.finalize();
    digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_shows_at_most_four_characters() {
        assert_eq!(redact(b"ghp_abcdefghijklmnopqrstuvwxyz0123456789"), "ghp_********");
        assert_eq!(redact(b"hunter42"), "hu********");
        assert_eq!(redact(b"abc"), "********");
        assert_eq!(redact("pässwörd-ünïcødé".as_bytes()), "päss********");
    }

    #[test]
    fn fingerprints_ignore_line_but_not_path_or_secret() {
        let at =
            |path: &str, line| Location { container: Vec::new(), path: path.to_owned(), line, column: 1, commit: None };
        let one = fingerprint("r", &at("a", 1), b"s1");
        assert_eq!(one.len(), 32);
        assert_eq!(one, fingerprint("r", &at("a", 9), b"s1"));
        assert_ne!(one, fingerprint("r", &at("b", 1), b"s1"));
        assert_ne!(one, fingerprint("r", &at("a", 1), b"s2"));
        assert_ne!(one, fingerprint("q", &at("a", 1), b"s1"));
    }
}
