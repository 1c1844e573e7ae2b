//! Whatever bytes or TOML arrive, the parser answers with a spec or diagnostics, never a
//! panic, and every diagnostic points inside the source.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

/// Keys that exist somewhere in shipgate.toml, so that random documents reach deep into
/// the decoder instead of stopping at "unknown key".
const KEYS: &[&str] = &[
    "app",
    "name",
    "artifact",
    "path",
    "image",
    "run",
    "command",
    "env",
    "health",
    "http",
    "tcp",
    "exec",
    "interval",
    "timeout",
    "healthy",
    "unhealthy",
    "drain",
    "stop_signal",
    "stop_grace",
    "pipeline",
    "build",
    "test",
    "secrets",
    "DATABASE_URL",
    "migrations",
    "database",
    "environments",
    "staging",
    "production",
    "listen",
    "replicas",
    "requires",
    "approvals",
    "required",
    "from",
    "strategy",
    "canary",
    "blue_green",
    "weight",
    "hold",
    "analysis",
    "false_positive_rate",
    "min_effect",
    "error_rate",
    "latency",
    "on_inconclusive",
    "prometheus_url",
    "metrics",
    "prometheus",
    "web",
    "select",
    "success",
    "min",
    "max",
    "error_rate_max",
    "bake",
    "smoke",
    "windows",
    "timezone",
    "freeze",
    "days",
    "to",
    "reason",
    "policy",
    "notify",
    "webhook",
    "url",
    "url_env",
    "format",
    "x",
];

const STRINGS: &[&str] = &[
    "1m",
    "-5s",
    "0s",
    "/healthz",
    "127.0.0.1:8080",
    "0.0.0.0:0",
    "staging",
    "production",
    "role:approver",
    "fri",
    "Europe/Berlin",
    "2026-12-23",
    "SIGTERM",
    "direct",
    "https://x",
    "",
    "ü",
    "${PORT}",
    "{{version}}",
    "{{",
    ">= 0.99",
    "/data/0",
];

fn leaf() -> impl Strategy<Value = toml_edit::Value> {
    prop_oneof![
        prop::sample::select(STRINGS).prop_map(toml_edit::Value::from),
        any::<String>().prop_map(toml_edit::Value::from),
        any::<i64>().prop_map(toml_edit::Value::from),
        any::<f64>().prop_map(toml_edit::Value::from),
        any::<bool>().prop_map(toml_edit::Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(KEYS).prop_map(str::to_owned), 1 => "[a-zA-Z_-]{1,8}"]
}

fn value() -> impl Strategy<Value = toml_edit::Value> {
    leaf().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| toml_edit::Value::Array(items.into_iter().collect())),
            prop::collection::vec((key(), inner), 0..5).prop_map(|entries| {
                let mut table = toml_edit::InlineTable::new();
                for (key, value) in entries {
                    table.insert(&key, value);
                }
                toml_edit::Value::InlineTable(table)
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec((key(), value()), 0..12).prop_map(|entries| {
        let mut document = toml_edit::DocumentMut::new();
        for (key, value) in entries {
            document.insert(&key, toml_edit::Item::Value(value));
        }
        document.to_string()
    })
}

fn check(bytes: &[u8]) {
    if let Err(report) = shipgate_spec::parse(bytes) {
        assert!(!report.diagnostics.is_empty());
        for diagnostic in &report.diagnostics {
            assert!(diagnostic.span.end <= report.source.len(), "span outside the source: {diagnostic:?}");
            assert!(diagnostic.span.start <= diagnostic.span.end);
            assert!(diagnostic.hint.is_some(), "no hint: {diagnostic:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn arbitrary_toml_never_panics(text in document()) {
        check(text.as_bytes());
    }

    #[test]
    fn mutated_valid_spec_never_panics(cut in 0usize..400, insert in any::<String>()) {
        let valid = include_str!("../../shipgate/tests/fixtures/valid/full.toml");
        let cut = cut.min(valid.len());
        let cut = (0..=cut).rev().find(|i| valid.is_char_boundary(*i)).unwrap_or(0);
        let text = format!("{}{insert}{}", &valid[..cut], &valid[cut..]);
        check(text.as_bytes());
    }
}
