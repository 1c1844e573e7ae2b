//! `[environments.NAME.analysis]`: what it reads, its defaults, and its diagnostics, each
//! invalid fixture snapshotted with the line, column, code, message and hint of every problem.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use shipgate_spec::{Compare, Condition, LineIndex, MetricSource, OnInconclusive, Operator};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/analysis"))
}

/// Each diagnostic as `line:column code: message` and its hint, one block per problem.
fn render(report: &shipgate_spec::Report) -> String {
    let index = LineIndex::new(&report.source);
    let mut out = String::new();
    for diagnostic in &report.diagnostics {
        let at = index.position(diagnostic.span.start);
        let source_line = report.source.lines().nth(at.line - 1).unwrap_or("");
        out.push_str(&format!("{}:{} {}: {}\n", at.line, at.column, diagnostic.code, diagnostic.message));
        out.push_str(&format!("  | {source_line}\n"));
        if let Some(label) = &diagnostic.label {
            out.push_str(&format!("  label: {label}\n"));
        }
        out.push_str(&format!("  hint: {}\n", diagnostic.hint.as_deref().unwrap_or("(none)")));
    }
    out
}

#[test]
fn invalid_analysis_fixtures_report_every_problem() {
    insta::glob!("fixtures/analysis/invalid/*.toml", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let report = shipgate_spec::parse_str(&source).expect_err("an invalid fixture must be refused");
        assert!(
            report.diagnostics.iter().all(|diagnostic| diagnostic.hint.is_some()),
            "{path:?} has a problem without a hint"
        );
        insta::assert_snapshot!(render(&report));
    });
}

#[test]
fn every_analysis_key_is_read() {
    let source = std::fs::read_to_string(fixtures().join("valid/full.toml")).unwrap();
    let spec = shipgate_spec::parse_str(&source).map_err(|report| render(&report)).unwrap();
    let analysis = spec.environments["production"].analysis.clone().unwrap();
    assert_eq!(analysis.error_rate_max.map(|fraction| fraction.get()), Some(0.02));
    assert_eq!(analysis.p99_max.map(|duration| duration.to_string()), Some("300ms".to_owned()));
    assert_eq!(analysis.compare, Compare::Stable);
    assert_eq!(analysis.false_positive_rate.get(), 0.001);
    assert_eq!(analysis.min_effect.error_rate.get(), 0.002);
    assert_eq!(analysis.min_effect.latency.get(), 0.1);
    assert_eq!(analysis.on_inconclusive, OnInconclusive::Promote);
    assert_eq!(analysis.prometheus_url.as_deref(), Some("http://127.0.0.1:9090"));
    let names: Vec<&str> = analysis.metrics.iter().map(|metric| metric.name.as_str()).collect();
    assert_eq!(names, ["checkout-success", "status", "queue_depth"]);
    assert!(matches!(&analysis.metrics[0].source, MetricSource::Prometheus(query) if query.contains("{{version}}")));
    assert_eq!((analysis.metrics[0].min, analysis.metrics[0].interval.to_string().as_str()), (Some(0.99), "30s"));
    let MetricSource::Web(web) = &analysis.metrics[1].source else { panic!("a web metric") };
    assert_eq!(web.select, "/checks/0/state");
    assert_eq!(web.success, Some(Condition { operator: Operator::Eq, value: serde_json::json!("ok") }));
    assert_eq!(analysis.metrics[1].interval.to_string(), "10s");
    assert!(matches!(&analysis.metrics[2].source, MetricSource::Command(words) if words[2] == "{{env}}"));
    assert_eq!(analysis.metrics[2].max, Some(100.0));

    let json = serde_json::to_value(&analysis).unwrap();
    assert_eq!(json["metrics"][1]["web"]["success"], "== \"ok\"");
    assert_eq!(json["on_inconclusive"], "promote");
}

#[test]
fn analysis_defaults() {
    let source = std::fs::read_to_string(fixtures().join("valid/full.toml")).unwrap();
    let head = &source[..source.find("\n[environments.production.analysis]").unwrap()];
    let spec = shipgate_spec::parse_str(&format!("{head}analysis = {{ error_rate_max = 0.01 }}\n"))
        .map_err(|report| render(&report))
        .unwrap();
    let analysis = spec.environments["production"].analysis.clone().unwrap();
    assert_eq!(analysis.false_positive_rate.get(), 0.01);
    assert_eq!(analysis.min_effect.error_rate.get(), 0.005);
    assert_eq!(analysis.min_effect.latency.get(), 0.025);
    assert_eq!(analysis.on_inconclusive, OnInconclusive::Pause);
    assert_eq!(analysis.compare, Compare::Stable);
    assert!(analysis.metrics.is_empty() && analysis.prometheus_url.is_none());
    let default = shipgate_spec::Analysis::default();
    assert_eq!(
        (default.false_positive_rate, default.min_effect, default.on_inconclusive),
        (analysis.false_positive_rate, analysis.min_effect, analysis.on_inconclusive)
    );
}

#[test]
fn conditions_parse_and_print() {
    let cases = [
        (">= 0.99", Operator::Ge, serde_json::json!(0.99), ">= 0.99"),
        ("==\"ok\"", Operator::Eq, serde_json::json!("ok"), "== \"ok\""),
        (" != null", Operator::Ne, serde_json::json!(null), "!= null"),
        ("< -3", Operator::Lt, serde_json::json!(-3), "< -3"),
        ("> 1e3", Operator::Gt, serde_json::json!(1000.0), "> 1000.0"),
        ("<= 5", Operator::Le, serde_json::json!(5), "<= 5"),
        ("== true", Operator::Eq, serde_json::json!(true), "== true"),
    ];
    for (text, operator, value, shown) in cases {
        let condition = Condition::parse(text).unwrap_or_else(|invalid| panic!("{text}: {invalid:?}"));
        assert_eq!((condition.operator, &condition.value), (operator, &value), "{text}");
        assert_eq!(condition.to_string(), shown, "{text}");
    }
    for (text, why) in [
        ("0.99", "does not start with an operator"),
        (">=", "is not a JSON number"),
        ("== ok", "is not a JSON number"),
        ("> \"a\"", "compares numbers"),
        ("== [1]", "is not a JSON number"),
        ("=> 1", "does not start with an operator"),
    ] {
        let invalid = Condition::parse(text).expect_err(text);
        assert!(invalid.message.contains(why), "{text}: {}", invalid.message);
        assert!(invalid.hint.is_some(), "{text}");
    }
}
