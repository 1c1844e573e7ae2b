//! The configuration digest: what a release's `shipgate.toml` asks of every environment.

use serde_json::Value;
use sha2::{Digest, Sha256};
use shipgate_spec::Spec;

/// The sha256 (64 lowercase hex digits) of the spec's JSON serialization without
/// `[environments]`, with object keys sorted at every level and empty values left out (`null`,
/// `[]`, and tables holding only such values; a literal `{}` such as a secret's declaration
/// stays).
///
/// Environments may differ only in scale and delivery policy, so leaving them out gives the
/// same configuration the same digest in staging and production; everything else (`[app]`,
/// `[artifact]`, `[run]`, `[pipeline]`, `[secrets]` names, `[migrations]`, `[windows]`,
/// `[policy]`, `[notify]`, `[scan]`) counts. The digest does not depend on the file's layout,
/// comments or key order, nor on defaults being written out or not. Keys are sorted here
/// rather than relying on `serde_json`'s map order, which a `preserve_order` feature enabled
/// anywhere in the build would change; empty values are left out so that a new optional
/// section in a later shipgate does not change the digest of specs that do not use it.
///
/// The digest follows the model's serialization, so a later shipgate may compute another
/// digest for the same file (a new field with a non-empty default): compute the digests of
/// past deployments from their stored spec text when gathering facts, rather than storing
/// them.
pub fn config_digest(spec: &Spec) -> String {
    let mut value = serde_json::to_value(spec).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("environments");
    }
    let mut canonical = String::new();
    write_canonical(&value, &mut canonical);
    Sha256::digest(canonical.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => !map.is_empty() && map.values().all(is_empty),
        _ => false,
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().filter(|(_, value)| !is_empty(value)).collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[app]
name = "hello"

[artifact]
path = "target/release/hello"

[run]
command = ["./hello", "--port", "${PORT}"]
health = { http = "/healthz" }

[environments.staging]
listen = "127.0.0.1:8080"

[environments.production]
listen = "0.0.0.0:80"
replicas = 3
requires = ["staging"]
strategy = { canary = [ { weight = 10, hold = "1m" } ] }
"#;

    fn digest(text: &str) -> String {
        config_digest(&shipgate_spec::parse_str(text).unwrap_or_else(|report| panic!("{:?}", report.diagnostics)))
    }

    #[test]
    fn the_digest_is_sha256_hex() {
        let value = digest(BASE);
        assert_eq!(value.len(), 64);
        assert!(value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn environments_do_not_change_the_digest() {
        let scaled = BASE.replace("replicas = 3", "replicas = 5\nregion = \"eu-west-1\"").replace(
            "[environments.staging]\nlisten = \"127.0.0.1:8080\"",
            "[environments.staging]\nlisten = \"127.0.0.1:9090\"\nsmoke = [ { http = \"/\" } ]",
        );
        assert_eq!(digest(BASE), digest(&scaled));
    }

    #[test]
    fn layout_comments_and_written_defaults_do_not_change_the_digest() {
        let reordered =
            BASE.replace("[app]\nname = \"hello\"\n", "# the app\n[app]\nname    =   \"hello\"  # its name\n").replace(
                "health = { http = \"/healthz\" }",
                "drain = \"30s\"\nhealth = { http = \"/healthz\", interval = \"1s\" }",
            );
        assert_eq!(digest(BASE), digest(&reordered));
    }

    #[test]
    fn empty_sections_are_the_same_as_absent_ones() {
        let with_empty = format!("{BASE}\n[secrets]\n\n[scan]\nallow_paths = []\n");
        assert_eq!(digest(BASE), digest(&with_empty));
    }

    #[test]
    fn everything_outside_environments_changes_the_digest() {
        let changes = [
            ("[run] command", BASE.replace("\"--port\"", "\"--listen\"")),
            ("[run] health", BASE.replace("/healthz", "/ready")),
            ("[run] env", BASE.replace("health = ", "env = { RUST_LOG = \"debug\" }\nhealth = ")),
            ("[artifact]", BASE.replace("target/release/hello", "target/release/hello2")),
            ("[app]", BASE.replace("name = \"hello\"", "name = \"hello\"\ndescription = \"hi\"")),
            ("[policy]", format!("{BASE}\n[policy]\nSG0108 = \"deny\"\n")),
            ("[secrets]", format!("{BASE}\n[secrets]\nDATABASE_URL = {{}}\n")),
        ];
        for (what, text) in changes {
            assert_ne!(digest(BASE), digest(&text), "{what}");
        }
    }
}
