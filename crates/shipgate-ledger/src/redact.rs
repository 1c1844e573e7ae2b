//! Redaction of registered secret values, before anything is hashed or stored.
//!
//! Every string of an entry (actor, action, subject, env, and every key and string value
//! in `details`) has each occurrence of a registered secret replaced by [`REDACTED`]; a
//! number whose text contains a secret is replaced by [`REDACTED`] as a whole. Then, as
//! a last line of defence, the canonical JSON of those fields is searched for every
//! secret, raw and JSON-escaped; if one is still there (a secret that spans JSON syntax,
//! say), the append is refused rather than the secret recorded.
//!
//! Secrets are kept in memory only, for the life of the process: whoever holds them
//! (the secrets store, a later issue) registers them at start and as they change.

use std::sync::{Arc, PoisonError, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::{Map, Value};

use crate::LedgerError;
use crate::entry::NewEntry;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

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
    /// Finds raw values in decoded strings.
    raw: Option<AhoCorasick>,
    /// Finds raw and JSON-escaped values in encoded JSON.
    encoded: Option<AhoCorasick>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Adds a value that must never appear in an entry.
    pub fn register(&self, secret: &str) -> Result<(), LedgerError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(LedgerError::SecretTooShort { min: MIN_SECRET_BYTES });
        }
        let mut secrets = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        if secrets.values.iter().any(|known| known == secret) {
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
        *secrets = Secrets { values, raw: Some(raw), encoded: Some(encoded) };
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
        let clean = |text: &mut String| {
            if matcher.is_match(text.as_str()) {
                *text = matcher.replace_all(text, &vec![REDACTED; secrets.values.len()]);
            }
        };
        clean(&mut entry.actor);
        clean(&mut entry.action);
        clean(&mut entry.subject);
        if let Some(env) = &mut entry.env {
            clean(env);
        }
        redact_value(&mut entry.details, matcher, secrets.values.len());
        entry
    }

    /// Whether any secret, raw or JSON-escaped, occurs in `encoded`.
    pub(crate) fn leaks(&self, encoded: &str) -> bool {
        let secrets = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        secrets.encoded.as_ref().is_some_and(|matcher| matcher.is_match(encoded))
    }
}

fn redact_value(value: &mut Value, matcher: &AhoCorasick, count: usize) {
    let replacements = vec![REDACTED; count];
    match value {
        Value::String(text) => {
            if matcher.is_match(text.as_str()) {
                *text = matcher.replace_all(text, &replacements);
            }
        }
        Value::Number(number) => {
            if matcher.is_match(&number.to_string()) {
                *value = Value::String(REDACTED.to_owned());
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact_value(item, matcher, count)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut redacted = Map::new();
            for (key, mut item) in old {
                redact_value(&mut item, matcher, count);
                let mut key = if matcher.is_match(&key) { matcher.replace_all(&key, &replacements) } else { key };
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
