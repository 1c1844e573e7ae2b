//! Showing spec diagnostics: annotated source for people, an array of objects for programs.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;
use shipgate_spec::{LineIndex, Report};

/// Every diagnostic with the source line and a caret, then a one-line summary.
pub fn human(path: &str, report: &Report, color: bool) -> String {
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    let mut text = String::new();
    for diagnostic in &report.diagnostics {
        let mut annotation = AnnotationKind::Primary.span(diagnostic.span.clone());
        if let Some(label) = &diagnostic.label {
            annotation = annotation.label(label.as_str());
        }
        let mut group = Level::ERROR
            .primary_title(diagnostic.message.as_str())
            .id(diagnostic.code.as_str())
            .element(Snippet::source(report.source.as_str()).path(path).annotation(annotation));
        if let Some(hint) = &diagnostic.hint {
            group = group.element(Level::HELP.with_name("hint").message(hint.as_str()));
        }
        let groups: [Group<'_>; 1] = [group];
        text.push_str(&renderer.render(&groups));
        text.push_str("\n\n");
    }
    let count = report.diagnostics.len();
    text.push_str(&format!("error: `{path}` is not valid: {count} problem{}\n", if count == 1 { "" } else { "s" }));
    text
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    code: &'static str,
    message: &'a str,
    hint: Option<&'a str>,
}

/// A JSON array of `{file, line, column, end_line, end_column, code, message, hint}`.
/// Lines and columns are 1-based; columns count characters; the end is exclusive.
pub fn json(path: &str, report: &Report) -> String {
    let index = LineIndex::new(&report.source);
    let diagnostics: Vec<JsonDiagnostic<'_>> = report
        .diagnostics
        .iter()
        .map(|diagnostic| {
            let start = index.position(diagnostic.span.start);
            let end = index.position(diagnostic.span.end);
            JsonDiagnostic {
                file: path,
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
                code: diagnostic.code.as_str(),
                message: &diagnostic.message,
                hint: diagnostic.hint.as_deref(),
            }
        })
        .collect();
    serde_json::to_string_pretty(&diagnostics).unwrap_or_else(|_| "[]".to_owned())
}

/// A finding with the file it is about, ready to show.
pub struct Located {
    pub path: String,
    pub source: String,
    pub span: std::ops::Range<usize>,
    pub rule_id: &'static str,
    pub rule: String,
    pub deny: bool,
    pub message: String,
    pub hint: String,
}

/// Findings as annotated source, then a count.
pub fn findings_human(findings: &[Located], color: bool) -> String {
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    let mut text = String::new();
    for finding in findings {
        let level = if finding.deny { Level::ERROR } else { Level::WARNING };
        let id = format!("{}/{}", finding.rule_id, finding.rule);
        let span = finding.span.start.min(finding.source.len())..finding.span.end.min(finding.source.len());
        let group = level
            .primary_title(finding.message.as_str())
            .id(id.as_str())
            .element(
                Snippet::source(finding.source.as_str())
                    .path(finding.path.as_str())
                    .annotation(AnnotationKind::Primary.span(span)),
            )
            .element(Level::HELP.with_name("hint").message(finding.hint.as_str()));
        text.push_str(&renderer.render(&[group]));
        text.push_str("\n\n");
    }
    let denied = findings.iter().filter(|finding| finding.deny).count();
    let warned = findings.len() - denied;
    text.push_str(&match (denied, warned) {
        (0, 0) => "ok: no findings\n".to_owned(),
        (0, warned) => format!("ok: {warned} warning{}, nothing denied\n", plural(warned)),
        (denied, warned) => {
            format!("error: {denied} finding{} deny, {warned} warning{}\n", plural(denied), plural(warned))
        }
    });
    text
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule_id: &'a str,
    rule: &'a str,
    severity: &'static str,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: &'a str,
    hint: &'a str,
}

fn json_findings(findings: &[Located]) -> Vec<JsonFinding<'_>> {
    findings
        .iter()
        .map(|finding| {
            let index = LineIndex::new(&finding.source);
            let (start, end) = (index.position(finding.span.start), index.position(finding.span.end));
            JsonFinding {
                rule_id: finding.rule_id,
                rule: &finding.rule,
                severity: if finding.deny { "deny" } else { "warn" },
                file: &finding.path,
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
                message: &finding.message,
                hint: &finding.hint,
            }
        })
        .collect()
}

/// A JSON array of `{rule_id, rule, severity, file, line, column, end_line, end_column, message, hint}`.
pub fn findings_json(findings: &[Located]) -> String {
    serde_json::to_string_pretty(&json_findings(findings)).unwrap_or_else(|_| "[]".to_owned())
}

/// SARIF 2.1.0 with one run whose tool is shipgate; each rule appears once in the driver.
pub fn findings_sarif(findings: &[Located], tool_command: &str) -> String {
    let mut rule_ids: Vec<String> =
        findings.iter().map(|finding| format!("{}/{}", finding.rule_id, finding.rule)).collect();
    rule_ids.sort();
    rule_ids.dedup();
    let rules: Vec<serde_json::Value> = rule_ids
        .iter()
        .map(|id| serde_json::json!({ "id": id, "name": id.split_once('/').map_or(id.as_str(), |(_, name)| name) }))
        .collect();
    let results: Vec<serde_json::Value> = json_findings(findings)
        .iter()
        .map(|finding| {
            serde_json::json!({
                "ruleId": format!("{}/{}", finding.rule_id, finding.rule),
                "level": if finding.severity == "deny" { "error" } else { "warning" },
                "message": { "text": format!("{}\nhint: {}", finding.message, finding.hint) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": finding.file },
                        "region": {
                            "startLine": finding.line,
                            "startColumn": finding.column,
                            "endLine": finding.end_line,
                            "endColumn": finding.end_column,
                        }
                    }
                }]
            })
        })
        .collect();
    let sarif = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "shipgate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/shipgate/shipgate",
                "rules": rules,
            }},
            "invocations": [{ "executionSuccessful": true, "commandLine": tool_command }],
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&sarif).unwrap_or_else(|_| "{}".to_owned())
}
