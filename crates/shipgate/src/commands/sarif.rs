//! Findings from the SARIF 2.1.0 logs that declared scanners (`[pipeline] scan`, e.g.
//! `trivy fs --format sarif .`) write: the pipeline's scan stage reads them, and `release create
//! --sarif` keeps them with the release for SG0110. Only each result's tool, rule, level, message
//! and first location are read. Pure.

use serde::Serialize;
use serde_json::Value;

/// A result's level, as SARIF names it (`none` is kept as `note`): `error` stops the
/// pipeline and is an SG0110 deny in production, `warning` a warn finding, `note` only listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Error,
    Warning,
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The tool that reported it (`runs[].tool.driver.name`).
    pub tool: String,
    pub rule: String,
    pub level: Level,
    pub message: String,
    /// `path:line`, when the result has a physical location.
    pub location: Option<String>,
}

/// The findings of a SARIF log, or why the text is not one.
pub fn findings(text: &str) -> Result<Vec<Finding>, String> {
    let log: Value = serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
    let runs = log["runs"].as_array().ok_or("no `runs` array: not a SARIF log")?;
    let mut found = Vec::new();
    for run in runs {
        let tool = run["tool"]["driver"]["name"].as_str().unwrap_or("scanner").to_owned();
        for result in run["results"].as_array().into_iter().flatten() {
            found.push(Finding {
                tool: tool.clone(),
                rule: result["ruleId"].as_str().unwrap_or("-").to_owned(),
                level: level(result),
                message: message(result),
                location: location(result),
            });
        }
    }
    Ok(found)
}

/// SARIF's default level is `warning` (§3.27.10); `kind` other than `fail` is not a problem.
fn level(result: &Value) -> Level {
    if result["kind"].as_str().is_some_and(|kind| kind != "fail") {
        return Level::Note;
    }
    match result["level"].as_str() {
        Some("error") => Level::Error,
        Some("note" | "none") => Level::Note,
        _ => Level::Warning,
    }
}

fn message(result: &Value) -> String {
    let text = result["message"]["text"].as_str().or_else(|| result["message"]["markdown"].as_str());
    text.unwrap_or("(no message)").lines().next().unwrap_or_default().to_owned()
}

fn location(result: &Value) -> Option<String> {
    let physical = &result["locations"][0]["physicalLocation"];
    let uri = physical["artifactLocation"]["uri"].as_str()?;
    Some(match physical["region"]["startLine"].as_u64() {
        Some(line) => format!("{uri}:{line}"),
        None => uri.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::{Level, findings};

    #[test]
    fn levels_become_severities_with_rule_message_and_location() {
        let log = r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "trivy"}}, "results": [
            {"ruleId": "CVE-2024-1", "level": "error", "message": {"text": "openssl: overflow\nmore"},
             "locations": [{"physicalLocation": {"artifactLocation": {"uri": "Cargo.lock"}, "region": {"startLine": 12}}}]},
            {"ruleId": "CVE-2024-2", "message": {"text": "low"}},
            {"ruleId": "style", "level": "note", "message": {"text": "fyi"}},
            {"ruleId": "passed", "level": "error", "kind": "pass", "message": {"text": "ok"}}
        ]}]}"#;
        let found = findings(log).unwrap();
        let judged: Vec<_> = found.iter().map(|finding| (finding.rule.as_str(), finding.level)).collect();
        assert_eq!(
            judged,
            [
                ("CVE-2024-1", Level::Error),
                ("CVE-2024-2", Level::Warning),
                ("style", Level::Note),
                ("passed", Level::Note)
            ]
        );
        assert_eq!(found[0].tool, "trivy");
        assert_eq!(found[0].message, "openssl: overflow");
        assert_eq!(found[0].location.as_deref(), Some("Cargo.lock:12"));
        assert_eq!(found[1].location, None);
    }

    #[test]
    fn text_that_is_not_a_sarif_log_is_an_error() {
        assert!(findings("").is_err());
        assert!(findings("{\"version\": \"2.1.0\"}").unwrap_err().contains("runs"));
        assert_eq!(findings(r#"{"runs": []}"#).unwrap(), []);
    }
}
