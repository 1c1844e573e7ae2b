//! `[flags.NAME]` and `[app] risky`: declarations that decode, and every mistake reported at
//! its own place.

use serde_json::json;

const BASE: &str = r#"
[app]
name = "hello"
risky = true

[artifact]
path = "x"

[run]
command = ["./x"]

[environments.staging]
listen = "127.0.0.1:8080"
"#;

#[test]
fn flags_decode_from_tables_and_json_strings() {
    let source = format!(
        "{BASE}
[flags.new-checkout]
variants = {{ on = true, off = false }}
default = \"off\"
targeting = {{ if = [ {{ ends_with = [ {{ var = \"email\" }}, \"@example.com\" ] }}, \"on\", \"off\" ] }}

[flags.color]
variants = {{ red = \"#f00\", blue = \"#00f\" }}
default = \"red\"
targeting = '{{\"fractional\": [[\"red\", 50], [\"blue\", 50]]}}'
"
    );
    let spec = shipgate_spec::parse_str(&source).unwrap_or_else(|report| panic!("{:?}", report.diagnostics));
    assert!(spec.app.risky);
    let checkout = &spec.flags["new-checkout"];
    assert_eq!(checkout.variants["on"], json!(true));
    assert_eq!(checkout.default, "off");
    assert_eq!(
        checkout.targeting,
        Some(json!({"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on", "off"]}))
    );
    assert_eq!(spec.flags["color"].targeting, Some(json!({"fractional": [["red", 50], ["blue", 50]]})));
}

#[test]
fn flag_mistakes_are_each_reported() {
    let cases: &[(&str, &str)] = &[
        ("variants = { on = true, off = \"no\" }\ndefault = \"on\"", "all variants of a flag share one type"),
        ("variants = { on = true, off = false }\ndefault = \"of\"", "did you mean `off`?"),
        ("variants = { on = true, off = false }", "default"),
        ("default = \"on\"", "variants"),
        ("variants = {}\ndefault = \"on\"", "declares no variant"),
        ("variants = { on = [1], off = [2] }\ndefault = \"on\"", "a boolean, string, number or table"),
        ("variants = { on = true }\ndefault = \"on\"\ntargeting = \"[1]\"", "must be a JsonLogic object"),
        ("variants = { on = true }\ndefault = \"on\"\ntargeting = \"{not json\"", "is not JSON"),
        ("variants = { on = true }\ndefault = \"on\"\nstate = \"ENABLED\"", "unknown key `state`"),
    ];
    for (body, expected) in cases {
        let source = format!("{BASE}\n[flags.f]\n{body}\n");
        let report = shipgate_spec::parse_str(&source).expect_err(body);
        let text: Vec<String> = report
            .diagnostics
            .iter()
            .map(|diagnostic| format!("{} {}", diagnostic.message, diagnostic.hint.clone().unwrap_or_default()))
            .collect();
        assert!(text.iter().any(|line| line.contains(expected)), "{body}: {text:?}");
    }
}
