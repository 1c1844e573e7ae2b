//! Summing a JUnit XML report into [`JunitSummary`] counts.
//!
//! JUnit XML has no single standard; the producers (Surefire, pytest, jest-junit,
//! cargo-nextest, go-junit-report, …) agree on the shape used here: a root `<testsuites>` or a
//! bare `<testsuite>`, suites that may nest, and `<testcase>` elements with a `<failure>`,
//! `<error>` or `<skipped>` child. For each count, an element's own attribute (`tests`,
//! `failures`, `errors`, `skipped`) wins; without it, the count is the sum over its child
//! suites plus its own test cases. Entities are never expanded beyond XML's predefined ones
//! (quick-xml does not read DTDs), so a hostile report cannot blow up.

use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use crate::facts::JunitSummary;

/// Why a JUnit report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error("the JUnit report is not well-formed XML at line {line}, column {column}")]
    Xml {
        line: u64,
        column: u64,
        #[source]
        source: quick_xml::Error,
    },
    #[error("the JUnit report has no `<testsuites>` or `<testsuite>` element")]
    Empty,
    #[error("the JUnit report's root element is `<{0}>`, not `<testsuites>` or `<testsuite>`")]
    UnexpectedRoot(String),
    #[error("the JUnit report has a second root element `<{0}>` after the first one ended")]
    SecondRoot(String),
    #[error("attribute `{attribute}` of `<{element}>` is `{value}`, not a whole number")]
    BadCount { element: String, attribute: &'static str, value: String },
}

const COUNTS: [&str; 4] = ["tests", "failures", "errors", "skipped"];

/// One open `<testsuites>`/`<testsuite>`: its own attributes and what its children added up to.
struct Suite {
    declared: [Option<u64>; 4],
    counted: [u64; 4],
}

impl Suite {
    fn total(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.declared[i].unwrap_or(self.counted[i]))
    }
}

/// What is open at the current position.
enum Open {
    Suite(Suite),
    /// A `<testcase>`: which of failure, error, skipped it has seen.
    Case([bool; 3]),
    Other,
}

/// Parses one JUnit XML report.
pub fn parse_junit(xml: &str) -> Result<JunitSummary, JunitError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Open> = Vec::new();
    let mut result: Option<[u64; 4]> = None;
    loop {
        let event = reader.read_event().map_err(|source| xml_error(xml, reader.error_position(), source))?;
        let (start, empty) = match &event {
            Event::Start(start) => (Some(start), false),
            Event::Empty(start) => (Some(start), true),
            _ => (None, false),
        };
        if let Some(start) = start {
            let name = start.local_name().as_ref().to_owned();
            if stack.is_empty() {
                if result.is_some() {
                    return Err(JunitError::SecondRoot(name));
                }
                if name != "testsuites" && name != "testsuite" {
                    return Err(JunitError::UnexpectedRoot(name));
                }
            }
            let open = match (name.as_str(), stack.last()) {
                ("testsuites" | "testsuite", None | Some(Open::Suite(_))) => {
                    let declared = declared_counts(start, &name, |error| {
                        xml_error(xml, reader.buffer_position(), quick_xml::Error::InvalidAttr(error))
                    })?;
                    Open::Suite(Suite { declared, counted: [0; 4] })
                }
                ("testcase", Some(Open::Suite(_))) => Open::Case([false; 3]),
                (kind @ ("failure" | "error" | "skipped"), Some(Open::Case(_))) => {
                    if let Some(Open::Case(seen)) = stack.last_mut() {
                        let index = match kind {
                            "failure" => 0,
                            "error" => 1,
                            _ => 2,
                        };
                        seen[index] = true;
                    }
                    Open::Other
                }
                _ => Open::Other,
            };
            stack.push(open);
            if empty {
                close(&mut stack, &mut result);
            }
            continue;
        }
        match event {
            Event::End(_) => close(&mut stack, &mut result),
            Event::Eof => break,
            _ => {}
        }
    }
    let [tests, failures, errors, skipped] = result.ok_or(JunitError::Empty)?;
    Ok(JunitSummary { tests, failures, errors, skipped })
}

/// Closes the innermost element, adding what it counted to its parent suite.
fn close(stack: &mut Vec<Open>, result: &mut Option<[u64; 4]>) {
    let add = match stack.pop() {
        Some(Open::Suite(suite)) => suite.total(),
        Some(Open::Case([failure, error, skipped])) => [1, u64::from(failure), u64::from(error), u64::from(skipped)],
        Some(Open::Other) | None => return,
    };
    match stack.last_mut() {
        Some(Open::Suite(parent)) => {
            for (sum, value) in parent.counted.iter_mut().zip(add) {
                *sum = sum.saturating_add(value);
            }
        }
        Some(_) => {}
        None => *result = Some(add),
    }
}

/// The counts an element declares; `malformed` turns a broken attribute into an error.
fn declared_counts(
    start: &BytesStart<'_>,
    element: &str,
    malformed: impl Fn(AttrError) -> JunitError,
) -> Result<[Option<u64>; 4], JunitError> {
    let mut declared = [None; 4];
    for attribute in start.attributes() {
        let attribute = attribute.map_err(&malformed)?;
        let key = attribute.key.local_name();
        let Some(index) = COUNTS.iter().position(|name| *name == key.as_ref()) else { continue };
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|_| attribute.value.trim().to_owned());
        match value.parse::<u64>() {
            Ok(count) => declared[index] = Some(count),
            Err(_) => {
                return Err(JunitError::BadCount { element: element.to_owned(), attribute: COUNTS[index], value });
            }
        }
    }
    Ok(declared)
}

fn xml_error(xml: &str, position: u64, source: quick_xml::Error) -> JunitError {
    let offset = usize::try_from(position).unwrap_or(usize::MAX).min(xml.len());
    let before = xml.as_bytes().get(..offset).unwrap_or_default();
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() as u64 + 1;
    JunitError::Xml { line, column, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(tests: u64, failures: u64, errors: u64, skipped: u64) -> JunitSummary {
        JunitSummary { tests, failures, errors, skipped }
    }

    #[test]
    fn reports_sum_into_counts() {
        let cases = [
            (
                "testsuites with its own totals",
                r#"<?xml version="1.0" encoding="UTF-8"?>
                <testsuites tests="10" failures="1" errors="2" skipped="3">
                  <testsuite name="a" tests="1"><testcase name="x"/></testsuite>
                </testsuites>"#,
                summary(10, 1, 2, 3),
            ),
            (
                "testsuites without totals sums its suites",
                r#"<testsuites name="all">
                  <testsuite name="a" tests="4" failures="1" errors="0" skipped="1"/>
                  <testsuite name="b" tests="6" failures="0" errors="1" skipped="0"/>
                </testsuites>"#,
                summary(10, 1, 1, 1),
            ),
            (
                "a bare testsuite",
                r#"<testsuite name="pytest" errors="0" failures="1" skipped="0" tests="7" time="0.3"/>"#,
                summary(7, 1, 0, 0),
            ),
            (
                "test cases counted when totals are absent",
                r#"<testsuite name="t">
                  <testcase name="ok"/>
                  <testcase name="slow"><system-out>…</system-out></testcase>
                  <testcase name="broken"><failure message="boom">trace</failure></testcase>
                  <testcase name="crashed"><error type="panic"/></testcase>
                  <testcase name="later"><skipped/></testcase>
                  <testcase name="flaky"><flakyFailure/><system-err/></testcase>
                </testsuite>"#,
                summary(6, 1, 1, 1),
            ),
            (
                "a missing attribute falls back to counting, the others are used",
                r#"<testsuite tests="3" failures="0">
                  <testcase name="a"/><testcase name="b"><skipped message="wip"/></testcase>
                </testsuite>"#,
                summary(3, 0, 0, 1),
            ),
            (
                "nested suites (Surefire, nextest) and namespaces",
                r#"<j:testsuites xmlns:j="urn:junit">
                  <j:testsuite name="outer">
                    <j:testsuite name="inner"><j:testcase name="a"><j:failure/></j:testcase></j:testsuite>
                    <j:testcase name="b"/>
                  </j:testsuite>
                </j:testsuites>"#,
                summary(2, 1, 0, 0),
            ),
            (
                "a failure and an error in one case count once each",
                r#"<testsuite><testcase><failure/><failure/><error/></testcase></testsuite>"#,
                summary(1, 1, 1, 0),
            ),
            ("an empty suite", r#"<testsuites/>"#, summary(0, 0, 0, 0)),
            (
                "comments, doctype, CDATA and entities in attributes are fine",
                "<!DOCTYPE x><!-- run 1 --><testsuite name=\"a &amp; b\" tests=\" 2 \"><![CDATA[<x>]]></testsuite>",
                summary(2, 0, 0, 0),
            ),
        ];
        for (name, xml, expected) in cases {
            assert_eq!(parse_junit(xml).unwrap_or_else(|error| panic!("{name}: {error}")), expected, "{name}");
        }
    }

    #[test]
    fn bad_reports_say_what_is_wrong() {
        let cases = [
            ("", "has no `<testsuites>` or `<testsuite>` element"),
            ("<?xml version=\"1.0\"?>\n<!-- nothing -->", "has no `<testsuites>`"),
            ("<html><body/></html>", "root element is `<html>`"),
            ("<testsuite tests=\"many\"/>", "attribute `tests` of `<testsuite>` is `many`, not a whole number"),
            ("<testsuite failures=\"-1\"/>", "attribute `failures` of `<testsuite>` is `-1`"),
            ("<testsuite/><testsuite/>", "second root element `<testsuite>`"),
            ("<testsuite>\n  <testcase>\n</testsuite>", "not well-formed XML at line 3, column 1"),
            ("<testsuite><testcase name=\"a></testsuite>", "not well-formed XML at line 1"),
            ("<testsuite", "not well-formed XML at line 1, column 1"),
            ("<testsuite tests=3/>", "not well-formed XML at line 1"),
        ];
        for (xml, expected) in cases {
            let error = parse_junit(xml).expect_err(xml);
            assert!(error.to_string().contains(expected), "{xml:?}: {error}");
        }
    }

    #[test]
    fn xml_errors_keep_their_cause() {
        let error = parse_junit("<testsuite></testcase>").expect_err("mismatched");
        assert!(std::error::Error::source(&error).is_some(), "{error}");
    }
}
