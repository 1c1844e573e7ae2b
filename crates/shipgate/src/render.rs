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
