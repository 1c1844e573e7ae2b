//! Machine-readable reports: JSON and SARIF 2.1.0. Both are built from [`Finding`]s, which
//! hold no secret, so neither can print one.

use serde_json::{Value, json};

use crate::{Finding, rules};

/// What to do about a finding.
pub const HINT: &str = "revoke or rotate the credential where it was issued, then remove it from the file (and from \
     git history if it was committed); if it is not a secret, add `shipgate:allow` to its line or an entry under \
     `[scan]` in shipgate.toml";

/// The findings as a JSON array (pretty-printed).
pub fn json(findings: &[Finding]) -> String {
    serde_json::to_string_pretty(findings).unwrap_or_else(|_| "[]".to_owned())
}

/// The findings as a SARIF 2.1.0 log with one run, for code-scanning dashboards.
pub fn sarif(findings: &[Finding], tool_version: &str) -> String {
    let mut used: Vec<&'static str> = findings.iter().map(|finding| finding.rule).collect();
    used.sort_unstable();
    used.dedup();
    let sarif_rules: Vec<Value> = used
        .iter()
        .map(|id| {
            let description = rules::all().find(|rule| rule.id == *id).map_or("", |rule| rule.description);
            json!({
                "id": id,
                "name": id,
                "shortDescription": { "text": description },
                "fullDescription": { "text": format!("{description} committed to source, history or an artifact") },
                "help": { "text": HINT },
                "defaultConfiguration": { "level": "error" },
                "properties": { "tags": ["security", "secret"], "precision": "high" },
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|finding| {
            let location = &finding.location;
            let mut properties = serde_json::Map::new();
            if !location.container.is_empty() {
                properties.insert("container".to_owned(), json!(location.container));
            }
            if let Some(commit) = &location.commit {
                properties.insert("commit".to_owned(), json!(commit));
            }
            properties.insert("redacted".to_owned(), json!(finding.redacted));
            json!({
                "ruleId": finding.rule,
                "ruleIndex": used.binary_search(&finding.rule).unwrap_or(0),
                "level": "error",
                "message": { "text": format!("{} `{}` in {}", finding.description, finding.redacted, location) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&location.path) },
                        "region": { "startLine": location.line, "startColumn": location.column },
                    },
                }],
                "partialFingerprints": { "shipgateSecret/v1": finding.fingerprint },
                "properties": properties,
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "shipgate",
                    "semanticVersion": tool_version,
                    "informationUri": "https://github.com/shipgate/shipgate",
                    "rules": sarif_rules,
                },
            },
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_else(|_| "{}".to_owned())
}

/// A relative URI reference for a path: `%`-escapes what a URI may not hold.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_spaces_and_unicode() {
        assert_eq!(uri("src/a b/ü.txt"), "src/a%20b/%C3%BC.txt");
        assert_eq!(uri("ok/path_1.rs"), "ok/path_1.rs");
    }
}
