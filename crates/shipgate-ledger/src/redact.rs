//! Redaction of registered secret values, before anything is hashed or stored.
//!
//! Every string of an entry (actor, action, subject, env, and every key and string value
//! in `details`) has each occurrence of a registered secret replaced by `[secret:NAME]` when
//! it was registered with its name ([`Redactor::register_named`], as shipgate's server does,
//! the same text as everywhere else), else by [`REDACTED`]; a number whose text contains a
//! secret is replaced by that text as a whole. Then, as
//! a last line of defence, the canonical JSON of those fields is searched for every
//! secret, raw and JSON-escaped; if one is still there (a secret that spans JSON syntax,
//! say), the append is refused rather than the secret recorded.
//!
//! Secrets are kept in memory only, for the life of the process: whoever holds them
//! (shipgate-server's secrets store) registers them at start and as they change.
//!
//! This matcher is deliberately separate from `shipgate-secrets`' redactor, though both match
//! raw and JSON-escaped values with Aho-Corasick: sharing it would make the ledger (a
//! dependency-light crate whose verification needs no secrets) depend on the age crate, and
//! its rules differ (too-short values are an error, numbers are replaced whole, an entry
//! that still leaks after redaction is refused). Being independent is what makes it a last
//! line of defence.

use std::sync::{Arc, PoisonError, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::{Map, Value};

use crate::LedgerError;
use crate::entry::NewEntry;

/// What a secret registered without its name is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// What a secret registered as `name` is replaced with: `[secret:NAME]`, as in every other
/// text shipgate shows.
pub fn placeholder(name: &str) -> String {
    format!("[secret:{name}]")
}

/// Shorter values are refused: redacting every `ab` from every entry would make the
/// ledger unreadable, and such a value cannot be much of a secret.
pub const MIN_SECRET_BYTES: usize = 4;

/// The set of secret values to keep out of the ledger. Cheap to clone; clones share it.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Secrets>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("secrets", &self.len()).finish()
    }
}

#[derive(Default)]
struct Secrets {
    values: Vec<String>,
    /// What each of `values` is replaced with (the raw matcher's pattern order).
    replacements: Vec<String>,
    /// Finds raw values in decoded strings.
    raw: Option<AhoCorasick>,
    /// Finds raw and JSON-escaped values in encoded JSON.
    encoded: Option<AhoCorasick>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Adds a value that must never appear in an entry, shown as [`REDACTED`].
    pub fn register(&self, secret: &str) -> Result<(), LedgerError> {
        self.add(None, secret)
    }

    /// Adds a value that must never appear in an entry, shown as `[secret:NAME]`. A value
    /// registered before without a name takes this one.
    pub fn register_named(&self, name: &str, secret: &str) -> Result<(), LedgerError> {
        self.add(Some(name), secret)
    }

    fn add(&self, name: Option<&str>, secret: &str) -> Result<(), LedgerError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(LedgerError::SecretTooShort { min: MIN_SECRET_BYTES });
        }
        let replacement = name.map_or_else(|| REDACTED.to_owned(), placeholder);
        let mut secrets = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = secrets.values.iter().position(|known| known == secret) {
            if name.is_some() && secrets.replacements[index] == REDACTED {
                secrets.replacements[index] = replacement;
            }
            return Ok(());
        }
        // Build the new matchers first: a failure must not leave a secret half-registered.
        let mut values = secrets.values.clone();
        values.push(secret.to_owned());
        let escaped: Vec<String> = values.iter().map(|value| json_escaped(value)).collect();
        let build = |patterns: Vec<&String>| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns)
                .map_err(|error| LedgerError::Redactor(error.to_string()))
        };
        let raw = build(values.iter().collect())?;
        let encoded = build(values.iter().chain(escaped.iter()).collect())?;
        let mut replacements = std::mem::take(&mut secrets.replacements);
        replacements.push(replacement);
        *secrets = Secrets { values, replacements, raw: Some(raw), encoded: Some(encoded) };
        Ok(())
    }

    /// How many secrets are registered.
    pub fn len(&self) -> usize {
        self.secrets.read().unwrap_or_else(PoisonError::into_inner).values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry with every registered secret replaced.
    pub(crate) fn redact(&self, mut entry: NewEntry) -> NewEntry {
        let secrets = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        let Some(matcher) = &secrets.raw else { return entry };
        let replacements = &secrets.replacements;
        let clean = |text: &mut String| {
            if matcher.is_match(text.as_str()) {
                *text = matcher.replace_all(text, replacements);
            }
        };
        clean(&mut entry.actor);
        clean(&mut entry.action);
        clean(&mut entry.subject);
        if let Some(env) = &mut entry.env {
            clean(env);
        }
        redact_value(&mut entry.details, matcher, replacements);
        entry
    }

    /// Whether any secret, raw or JSON-escaped, occurs in `encoded`.
    pub(crate) fn leaks(&self, encoded: &str) -> bool {
        let secrets = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        secrets.encoded.as_ref().is_some_and(|matcher| matcher.is_match(encoded))
    }
}

fn redact_value(value: &mut Value, matcher: &AhoCorasick, replacements: &[String]) {
    match value {
        Value::String(text) => {
            if matcher.is_match(text.as_str()) {
                *text = matcher.replace_all(text, replacements);
            }
        }
        Value::Number(number) => {
            if let Some(found) = matcher.find(&number.to_string()) {
                let shown = replacements.get(found.pattern().as_usize()).map_or(REDACTED, String::as_str);
                *value = Value::String(shown.to_owned());
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact_value(item, matcher, replacements)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut redacted = Map::new();
            for (key, mut item) in old {
                redact_value(&mut item, matcher, replacements);
                let mut key = if matcher.is_match(&key) { matcher.replace_all(&key, replacements) } else { key };
                // Two keys that redact to the same text must not overwrite each other.
                while redacted.contains_key(&key) {
                    key.push('~');
                }
                redacted.insert(key, item);
            }
            *map = redacted;
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// The value as it appears inside a JSON string (without the quotes).
fn json_escaped(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_replaced_everywhere() {
        let redactor = Redactor::new();
        redactor.register("hunter2-password").unwrap();
        redactor.register("987654").unwrap();
        let entry = NewEntry::new("ci hunter2-password", "secret.set", "app/hunter2-password")
            .env("prod-hunter2-password")
            .details(json!({
                "url": "postgres://app:hunter2-password@db/app",
                "hunter2-password": "as a key",
                "nested": [{"pin": 987654}, {"pin": 9876543}, "x987654y"],
                "harmless": 98765,
            }));
        let redacted = redactor.redact(entry);
        assert_eq!(redacted.actor, "ci [REDACTED]");
        assert_eq!(redacted.subject, "app/[REDACTED]");
        assert_eq!(redacted.env.as_deref(), Some("prod-[REDACTED]"));
        assert_eq!(
            redacted.details,
            json!({
                "url": "postgres://app:[REDACTED]@db/app",
                "[REDACTED]": "as a key",
                "nested": [{"pin": "[REDACTED]"}, {"pin": "[REDACTED]"}, "x[REDACTED]y"],
                "harmless": 98765,
            })
        );
    }

    #[test]
    fn named_secrets_show_their_name() {
        let redactor = Redactor::new();
        redactor.register_named("DB_PASSWORD", "hunter2-password").unwrap();
        redactor.register("unnamed-value").unwrap();
        redactor.register_named("PIN", "987654").unwrap();
        // Registered without a name first, then with one: the name wins.
        redactor.register("late-named-value").unwrap();
        redactor.register_named("LATE", "late-named-value").unwrap();
        let cases = [
            ("postgres://app:hunter2-password@db", "postgres://app:[secret:DB_PASSWORD]@db"),
            ("x unnamed-value y", "x [REDACTED] y"),
            ("late-named-value", "[secret:LATE]"),
            ("clean", "clean"),
        ];
        for (input, expected) in cases {
            assert_eq!(redactor.redact(NewEntry::new(input, "a", "s")).actor, expected, "{input}");
        }
        let redacted = redactor.redact(NewEntry::new("a", "b", "c").details(json!({"pin": 9876543, "k": "987654"})));
        assert_eq!(redacted.details, json!({"pin": "[secret:PIN]", "k": "[secret:PIN]"}));
        assert_eq!(redactor.len(), 4);
    }

    #[test]
    fn the_longest_secret_wins() {
        let redactor = Redactor::new();
        redactor.register("abcd").unwrap();
        redactor.register("abcdefgh").unwrap();
        let redacted = redactor.redact(NewEntry::new("abcdefgh", "a", "abcd-abcdefgh"));
        assert_eq!(redacted.actor, "[REDACTED]");
        assert_eq!(redacted.subject, "[REDACTED]-[REDACTED]");
    }

    #[test]
    fn keys_that_collide_after_redaction_are_all_kept() {
        let redactor = Redactor::new();
        redactor.register("token-one").unwrap();
        redactor.register("token-two").unwrap();
        let redacted = redactor.redact(NewEntry::new("a", "b", "c").details(json!({"token-one": 1, "token-two": 2})));
        assert_eq!(redacted.details.as_object().unwrap().len(), 2);
    }

    #[test]
    fn leaks_finds_raw_and_escaped_forms() {
        let redactor = Redactor::new();
        redactor.register("quote\"in\\side").unwrap();
        assert!(redactor.leaks(r#"{"a":"quote\"in\\side"}"#));
        assert!(redactor.leaks("quote\"in\\side"));
        assert!(!redactor.leaks(r#"{"a":"quote"}"#));
        assert!(!Redactor::new().leaks("anything"));
    }

    #[test]
    fn short_secrets_are_refused_and_duplicates_ignored() {
        let redactor = Redactor::new();
        assert!(matches!(redactor.register("abc"), Err(LedgerError::SecretTooShort { min: 4 })));
        redactor.register("abcd").unwrap();
        redactor.register("abcd").unwrap();
        assert_eq!(redactor.len(), 1);
    }
}
