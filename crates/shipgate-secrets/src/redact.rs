//! The redactor: every secret value the server knows is registered here, and every text or
//! JSON document that leaves the server (its log lines, API answers, deployment events,
//! ledger details, instance logs shown through the API) passes through [`Redactor::redact`],
//! which replaces each occurrence of a value with `[secret:NAME]`.
//!
//! Values are matched as they are and JSON-escaped (a value with a `"` or a `\` appears
//! escaped inside a JSON answer), leftmost-longest, so a value that contains another is
//! replaced whole. Values are kept in memory only, for the life of the process.

use std::borrow::Cow;
use std::sync::{Arc, PoisonError, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;
use zeroize::Zeroizing;

/// Shorter values are never registered (and [`crate::name::check_value`] refuses them):
/// replacing every `ab` everywhere would make logs unreadable, and such a value is no secret.
pub const MIN_VALUE_BYTES: usize = 4;

/// The set of values to hide. Cheap to clone; clones share it.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<RwLock<Inner>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("values", &self.len()).finish()
    }
}

#[derive(Default)]
struct Inner {
    /// Value → the name it is shown as (the first name it was registered under).
    values: Vec<(Zeroizing<String>, String)>,
    /// Raw and JSON-escaped patterns, and what each is replaced with.
    matcher: Option<AhoCorasick>,
    replacements: Vec<String>,
    /// The name of each pattern's value.
    names: Vec<String>,
}

/// `[secret:NAME]`, what a value of `name` is shown as.
pub fn placeholder(name: &str) -> String {
    format!("[secret:{name}]")
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Hides `value` as `[secret:NAME]` from now on. Values shorter than [`MIN_VALUE_BYTES`]
    /// are ignored (returns false); registering a known value again changes nothing.
    pub fn register(&self, name: &str, value: &str) -> bool {
        if value.len() < MIN_VALUE_BYTES {
            return false;
        }
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.values.iter().any(|(known, _)| known.as_str() == value) {
            return true;
        }
        inner.values.push((Zeroizing::new(value.to_owned()), name.to_owned()));
        let mut patterns: Vec<Zeroizing<String>> = Vec::new();
        let mut replacements = Vec::new();
        let mut names = Vec::new();
        for (value, name) in &inner.values {
            let escaped = Zeroizing::new(json_escaped(value));
            if escaped.as_str() != value.as_str() {
                patterns.push(escaped);
                replacements.push(placeholder(name));
                names.push(name.clone());
            }
            patterns.push(value.clone());
            replacements.push(placeholder(name));
            names.push(name.clone());
        }
        match AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(patterns.iter().map(|p| p.as_str())) {
            Ok(matcher) => {
                inner.matcher = Some(matcher);
                inner.replacements = replacements;
                inner.names = names;
                true
            }
            Err(_) => {
                // Only a pattern set too large for memory fails; keep the old matcher rather
                // than none, and say so.
                false
            }
        }
    }

    /// How many values are registered.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `text` with every registered value replaced by `[secret:NAME]`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match &inner.matcher {
            Some(matcher) if matcher.is_match(text) => Cow::Owned(matcher.replace_all(text, &inner.replacements)),
            _ => Cow::Borrowed(text),
        }
    }

    /// `bytes` redacted when they are UTF-8 (JSON, log lines); other bytes are returned as
    /// they are.
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match &inner.matcher {
            Some(matcher) if matcher.is_match(bytes) => {
                let mut out = Vec::with_capacity(bytes.len());
                matcher.replace_all_with_bytes(bytes, &mut out, |found, _, out| {
                    out.extend_from_slice(inner.replacements[found.pattern().as_usize()].as_bytes());
                    true
                });
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(bytes),
        }
    }

    /// Redacts every string (keys included) of a JSON document in place.
    pub fn redact_json(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if let Cow::Owned(clean) = self.redact(text) {
                    *text = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_json(item)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    self.redact_json(&mut item);
                    map.insert(self.redact(&key).into_owned(), item);
                }
            }
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
        }
    }

    /// Where registered values occur in `text` (raw or JSON-escaped, leftmost-longest): the
    /// name of each and the byte offset where it starts. Never the value.
    pub fn find(&self, text: &str) -> Vec<(String, usize)> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let Some(matcher) = &inner.matcher else { return Vec::new() };
        matcher
            .find_iter(text)
            .filter_map(|found| Some((inner.names.get(found.pattern().as_usize())?.clone(), found.start())))
            .collect()
    }

    /// Whether any registered value occurs in `text`.
    pub fn leaks(&self, text: &[u8]) -> bool {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.matcher.as_ref().is_some_and(|matcher| matcher.is_match(text))
    }
}

/// The text of `value` inside a JSON string, without the quotes.
fn json_escaped(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_text_bytes_and_json() {
        let redactor = Redactor::new();
        assert_eq!(redactor.redact("nothing registered"), "nothing registered");
        assert!(redactor.register("DB", "hunter2-secret"));
        assert!(redactor.register("QUOTE", "pa\"ss\\word"));
        assert!(!redactor.register("SHORT", "abc"));
        let cases = [
            ("url=hunter2-secret;", "url=[secret:DB];"),
            ("hunter2-secrethunter2-secret", "[secret:DB][secret:DB]"),
            ("raw pa\"ss\\word", "raw [secret:QUOTE]"),
            ("clean text, abc", "clean text, abc"),
        ];
        for (input, expected) in cases {
            assert_eq!(redactor.redact(input), expected, "{input}");
            assert_eq!(redactor.redact_bytes(input.as_bytes()).as_ref(), expected.as_bytes(), "{input}");
        }
        // Inside serialized JSON the value is escaped; it is found all the same.
        let encoded = serde_json::json!({"message": "pa\"ss\\word"}).to_string();
        assert!(redactor.leaks(encoded.as_bytes()));
        let clean = redactor.redact(&encoded);
        assert_eq!(clean, r#"{"message":"[secret:QUOTE]"}"#);
        let mut document = serde_json::json!({"hunter2-secret": ["x hunter2-secret", 1, {"k": "pa\"ss\\word"}]});
        redactor.redact_json(&mut document);
        assert_eq!(document, serde_json::json!({"[secret:DB]": ["x [secret:DB]", 1, {"k": "[secret:QUOTE]"}]}));
        assert_eq!(redactor.len(), 2);
    }

    #[test]
    fn the_longest_value_wins() {
        let redactor = Redactor::new();
        redactor.register("SHORT", "token");
        redactor.register("LONG", "token-with-suffix");
        assert_eq!(redactor.redact("a token-with-suffix and a token"), "a [secret:LONG] and a [secret:SHORT]");
        let found = redactor.find("a token-with-suffix and a token, \"tok\\\"en\"");
        assert_eq!(found, [("LONG".to_owned(), 2), ("SHORT".to_owned(), 26)]);
        assert!(Redactor::new().find("token").is_empty());
    }

    #[test]
    fn clones_share_the_values() {
        let redactor = Redactor::new();
        let clone = redactor.clone();
        redactor.register("A", "value-a");
        assert_eq!(clone.redact("value-a"), "[secret:A]");
    }
}
