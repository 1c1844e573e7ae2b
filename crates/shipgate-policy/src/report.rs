//! Output formats: stable JSON, SARIF 2.1.0, and the Markdown rule reference.

use serde_json::{Value, json};

use crate::catalog::{self, RuleDoc};
use crate::finding::{Finding, Severity};

/// `{"findings": [Finding, …], "deny": N, "warn": N}`; each finding is
/// `{"rule", "name", "severity", "message", "subject": {"file", "line", "release",
/// "environment"}, "hint", "docs", "overridable"}` with every key present (`null` when
/// unknown). Keys are only ever added, never renamed or removed.
pub fn to_json(findings: &[Finding]) -> Value {
    let deny = findings.iter().filter(|finding| finding.severity == Severity::Deny).count();
    json!({ "findings": findings, "deny": deny, "warn": findings.len() - deny })
}

/// A SARIF 2.1.0 log with one run, for GitHub code scanning and other dashboards.
///
/// The driver lists the catalog entries of the rules that have findings (with their docs as
/// help); each result has the rule's id and index, `error` for deny and `warning` for warn,
/// the message with its hint, and a location: the spec file and line when known (line 1 for
/// a finding about the whole file, as code scanning needs a line), plus logical locations
/// naming the environment and the release.
pub fn to_sarif(findings: &[Finding], tool_version: &str) -> Value {
    let mut used: Vec<&'static str> = findings.iter().map(|finding| finding.rule).collect();
    used.sort_unstable();
    used.dedup();
    let rules: Vec<Value> = used
        .iter()
        .map(|id| match catalog::rule(id) {
            Some(rule) => sarif_rule(rule),
            None => json!({ "id": id }),
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|finding| {
            let subject = &finding.subject;
            let mut location = serde_json::Map::new();
            if let Some(file) = &subject.file {
                location.insert(
                    "physicalLocation".to_owned(),
                    json!({
                        "artifactLocation": { "uri": uri(file) },
                        "region": { "startLine": subject.line.unwrap_or(1).max(1) },
                    }),
                );
            }
            let mut logical = Vec::new();
            if let Some(environment) = &subject.environment {
                logical.push(json!({
                    "name": environment,
                    "fullyQualifiedName": format!("environments.{environment}"),
                    "kind": "resource",
                }));
            }
            if let Some(release) = &subject.release {
                logical.push(json!({
                    "name": release,
                    "fullyQualifiedName": format!("releases.{release}"),
                    "kind": "resource",
                }));
            }
            if !logical.is_empty() {
                location.insert("logicalLocations".to_owned(), Value::Array(logical));
            }
            let locations = if location.is_empty() { Vec::new() } else { vec![Value::Object(location)] };
            json!({
                "ruleId": finding.rule,
                "ruleIndex": used.binary_search(&finding.rule).unwrap_or(0),
                "level": finding.severity.sarif_level(),
                "message": { "text": format!("{}\nhint: {}", finding.message, finding.hint) },
                "locations": locations,
                "properties": {
                    "name": finding.name,
                    "severity": finding.severity,
                    "overridable": finding.overridable,
                    "hint": finding.hint,
                    "environment": subject.environment,
                    "release": subject.release,
                },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "shipgate",
                    "semanticVersion": tool_version,
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": rules,
                },
            },
            "results": results,
        }],
    })
}

fn sarif_rule(rule: &RuleDoc) -> Value {
    json!({
        "id": rule.id,
        "name": rule.name,
        "shortDescription": { "text": rule.summary },
        "fullDescription": { "text": format!("{} (practice: {})", rule.summary, rule.practice) },
        "help": { "text": rule.docs, "markdown": rule.docs },
        "helpUri": rule.docs_url(),
        "defaultConfiguration": { "level": rule.severity.sarif_level() },
        "properties": {
            "tags": ["shipgate", "deployment", category(rule)],
            "overridable": rule.overridable,
        },
    })
}

fn category(rule: &RuleDoc) -> &'static str {
    match rule.id.get(2..4) {
        Some("01") => "release",
        Some("02") => "promotion",
        Some("03") => "rollout",
        Some("04") => "environment",
        Some("05") => "migrations",
        Some("06") => "secrets",
        Some("07") => "access",
        _ => "ledger",
    }
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

fn severity_cell(severity: Option<Severity>) -> &'static str {
    severity.map_or("—", Severity::as_str)
}

/// The catalog as a Markdown table (id, name, severity in production and elsewhere,
/// overridable, implemented, summary); README.md holds a copy, checked by a test.
pub fn catalog_table() -> String {
    let mut out = String::from(
        "| id | name | production | elsewhere | overridable | implemented | what it checks |\n| --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for rule in catalog::catalog() {
        out.push_str(&format!(
            "| [{id}](RULES.md#{anchor}) | `{name}` | {production} | {elsewhere} | {overridable} | {implemented} | {summary} |\n",
            id = rule.id,
            anchor = rule.id.to_ascii_lowercase(),
            name = rule.name,
            production = rule.severity.as_str(),
            elsewhere = severity_cell(rule.elsewhere),
            overridable = if rule.overridable { "yes" } else { "**no**" },
            implemented = if rule.implemented { "yes" } else { "not yet" },
            summary = rule.summary.replace('|', "\\|"),
        ));
    }
    out
}

/// The full rule reference, `RULES.md`: one section per rule, the anchor every finding's
/// `docs` link points to.
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "# shipgate rules\n\n\
         <!-- Generated from crates/shipgate-policy/src/catalog.rs by \
         `cargo run -q -p shipgate-policy --example rules_md > crates/shipgate-policy/RULES.md`; do not edit by hand. -->\n\n\
         Every rule shipgate's gates enforce. `production` is the default severity when the target is a \
         production environment, `elsewhere` in other environments (— : the rule judges only production). \
         `[policy]` in shipgate.toml may change a severity, within limits; see [README.md](README.md).\n\n",
    );
    out.push_str(&catalog_table());
    for rule in catalog::catalog() {
        out.push_str(&format!(
            "\n## {id}\n\n**`{name}`** · {production} in production, {elsewhere} elsewhere · {overridable} · {implemented}\n\n\
             {summary}.\n\n*Practice:* {practice}.\n\n{docs}\n",
            id = rule.id,
            name = rule.name,
            production = rule.severity.as_str(),
            elsewhere = match rule.elsewhere {
                Some(severity) => severity.as_str(),
                None => "not judged",
            },
            overridable = if rule.overridable { "overridable" } else { "cannot be overridden" },
            implemented = if rule.implemented { "implemented" } else { "not implemented yet (never fires)" },
            summary = capitalized(rule.summary),
            practice = capitalized(rule.practice),
            docs = rule.docs,
        ));
    }
    out
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Every way `log` breaks the SARIF 2.1.0 JSON schema (`tests/fixtures/sarif-schema-2.1.0.json`,
/// the OASIS schema), with formats checked.
#[cfg(test)]
pub(crate) fn sarif_schema_errors(log: &Value) -> Vec<String> {
    let text = include_str!("../tests/fixtures/sarif-schema-2.1.0.json");
    // The published schema's `language` pattern has a stray `]`, which strict ECMA-262
    // checking (the meta-schema's `regex` format) refuses; shipgate never emits `language`,
    // so the intended pattern is put in before the schema is compiled.
    let stray = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert_eq!(text.matches(stray).count(), 2, "the fixture is the published schema");
    let schema: Value =
        serde_json::from_str(&text.replace(stray, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#)).expect("the schema is JSON");
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).expect("the schema compiles");
    validator.iter_errors(log).map(|error| format!("{error} at {}", error.instance_path())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Subject;

    fn finding(id: &str, severity: Severity, subject: Subject) -> Finding {
        let doc = catalog::rule(id).unwrap_or_else(|| panic!("{id}"));
        Finding::new(doc, severity, format!("{id} fired"), "do this", subject)
    }

    fn findings() -> Vec<Finding> {
        vec![
            finding(
                "SG0201",
                Severity::Deny,
                Subject {
                    file: Some("deploy/ship gate.toml".into()),
                    line: Some(14),
                    release: Some("1.4.2".into()),
                    environment: Some("production".into()),
                },
            ),
            finding(
                "SG0108",
                Severity::Warn,
                Subject {
                    file: Some("shipgate.toml".into()),
                    line: None,
                    release: Some("1.4.2".into()),
                    environment: None,
                },
            ),
            finding("SG0403", Severity::Deny, Subject { environment: Some("production".into()), ..Subject::default() }),
            finding("SG0201", Severity::Warn, Subject::default()),
        ]
    }

    #[test]
    fn json_has_the_documented_shape() {
        let value = to_json(&findings());
        assert_eq!(value["deny"], 2);
        assert_eq!(value["warn"], 2);
        assert_eq!(
            value["findings"][0],
            json!({
                "rule": "SG0201",
                "name": "staging-first",
                "severity": "deny",
                "message": "SG0201 fired",
                "subject": { "file": "deploy/ship gate.toml", "line": 14, "release": "1.4.2", "environment": "production" },
                "hint": "do this",
                "docs": "https://github.com/shipgate/shipgate/blob/main/crates/shipgate-policy/RULES.md#sg0201",
                "overridable": true,
            })
        );
        assert_eq!(
            value["findings"][3]["subject"],
            json!({ "file": null, "line": null, "release": null, "environment": null })
        );
    }

    #[test]
    fn sarif_names_each_rule_once_and_points_at_files_and_environments() {
        let log = to_sarif(&findings(), "0.1.0");
        let run = &log["runs"][0];
        let rules: Vec<&str> = run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| rule["id"].as_str().unwrap())
            .collect();
        assert_eq!(rules, ["SG0108", "SG0201", "SG0403"]);
        assert_eq!(run["tool"]["driver"]["rules"][1]["helpUri"], catalog::rule("SG0201").unwrap().docs_url());
        let results = run["results"].as_array().unwrap();
        assert_eq!(results[0]["ruleIndex"], 1);
        assert_eq!(results[0]["level"], "error");
        assert_eq!(results[0]["message"]["text"], "SG0201 fired\nhint: do this");
        let location = &results[0]["locations"][0];
        assert_eq!(location["physicalLocation"]["artifactLocation"]["uri"], "deploy/ship%20gate.toml");
        assert_eq!(location["physicalLocation"]["region"]["startLine"], 14);
        assert_eq!(location["logicalLocations"][0]["fullyQualifiedName"], "environments.production");
        assert_eq!(location["logicalLocations"][1]["fullyQualifiedName"], "releases.1.4.2");
        assert_eq!(results[1]["level"], "warning");
        assert_eq!(results[1]["locations"][0]["physicalLocation"]["region"]["startLine"], 1);
        assert!(results[2]["locations"][0].get("physicalLocation").is_none());
        assert_eq!(results[2]["locations"][0]["logicalLocations"][0]["name"], "production");
        assert_eq!(results[3]["locations"], json!([]));
    }

    #[test]
    fn sarif_validates_against_the_sarif_2_1_0_schema() {
        for log in [to_sarif(&findings(), "0.1.0"), to_sarif(&[], "0.1.0")] {
            let errors = sarif_schema_errors(&log);
            assert!(errors.is_empty(), "{errors:#?}");
        }
        // The schema is strict enough to catch a mistake.
        let mut broken = to_sarif(&findings(), "0.1.0");
        broken["runs"][0]["results"][0]["level"] = json!("fatal");
        broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = json!(0);
        assert_eq!(sarif_schema_errors(&broken).len(), 2);
    }

    #[test]
    fn uris_escape_what_a_uri_reference_may_not_hold() {
        assert_eq!(uri("deploy/ship gate.toml"), "deploy/ship%20gate.toml");
        assert_eq!(uri("dir/ü#1.toml"), "dir/%C3%BC%231.toml");
        assert_eq!(uri("shipgate.toml"), "shipgate.toml");
    }

    #[test]
    fn every_rule_is_documented_in_the_markdown() {
        let markdown = rules_markdown();
        for rule in catalog::catalog() {
            assert!(markdown.contains(&format!("\n## {}\n", rule.id)), "{}", rule.id);
        }
    }

    fn crate_file(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
    }

    #[test]
    fn rules_md_is_generated_from_the_catalog() {
        let current = std::fs::read_to_string(crate_file("RULES.md")).unwrap_or_default();
        assert!(
            current == rules_markdown(),
            "RULES.md is stale: run `cargo run -q -p shipgate-policy --example rules_md > crates/shipgate-policy/RULES.md`"
        );
    }

    #[test]
    fn the_readme_holds_the_catalog_table() {
        let readme = std::fs::read_to_string(crate_file("README.md")).unwrap();
        let table = readme.split("<!-- catalog -->\n").nth(1).and_then(|rest| rest.split("<!-- /catalog -->").next());
        assert_eq!(table, Some(catalog_table().as_str()), "paste `catalog_table()` between the markers of README.md");
    }
}
