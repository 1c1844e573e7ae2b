//! Ledger entries and their canonical encoding.
//!
//! An entry is `{seq, time, actor, action, subject, env?, details}`. What is hashed (and
//! stored, byte for byte) is its RFC 8785 canonical JSON: keys sorted by UTF-16 code
//! units, no insignificant whitespace, numbers in their shortest round-trip form. The
//! same entry therefore hashes the same on any machine and any database.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::LedgerError;
use crate::merkle::{self, Hash};

/// Entry times are RFC 3339 UTC with exactly six fractional digits, so that text order
/// is time order (the store filters `--since` by comparing text).
pub const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// The longest `actor`, `action`, `subject` or `env`, in bytes.
pub const MAX_FIELD_BYTES: usize = 1024;

/// The longest canonical entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;

/// What the engine asks the ledger to record. The ledger adds `seq` and `time`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// Who acted: a user, a token's name, or `shipgate` for the engine itself.
    pub actor: String,
    /// What happened, as a dotted name: `deploy.started`, `approval.granted`, ….
    pub action: String,
    /// What it happened to: an app, a release, a deployment id.
    pub subject: String,
    /// The environment the action concerns, if any (`audit log --env` filters on it).
    pub env: Option<String>,
    /// Anything else worth keeping, as JSON. Registered secrets are redacted from it.
    pub details: Value,
}

impl NewEntry {
    pub fn new(actor: impl Into<String>, action: impl Into<String>, subject: impl Into<String>) -> NewEntry {
        NewEntry {
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            env: None,
            details: Value::Object(serde_json::Map::new()),
        }
    }

    pub fn env(mut self, env: impl Into<String>) -> NewEntry {
        self.env = Some(env.into());
        self
    }

    pub fn details(mut self, details: Value) -> NewEntry {
        self.details = details;
        self
    }

    /// Refuses empty or oversized fields and control characters (which would let an
    /// entry rewrite the terminal of whoever reads `audit log`).
    pub(crate) fn validate(&self) -> Result<(), LedgerError> {
        let fields = [
            ("actor", Some(&self.actor)),
            ("action", Some(&self.action)),
            ("subject", Some(&self.subject)),
            ("env", self.env.as_ref()),
        ];
        for (field, value) in fields {
            let Some(value) = value else { continue };
            let reason = if value.is_empty() {
                "it is empty"
            } else if value.len() > MAX_FIELD_BYTES {
                "it is longer than 1024 bytes"
            } else if value.chars().any(char::is_control) {
                "it contains a control character"
            } else {
                continue;
            };
            return Err(LedgerError::InvalidEntry { field, reason });
        }
        Ok(())
    }
}

/// A recorded entry: exactly the fields that are hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1 for the first entry; entry `seq` is leaf `seq - 1` of the Merkle tree.
    pub seq: u64,
    /// When it was recorded, in [`TIME_FORMAT`].
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    pub details: Value,
}

/// The entry's fields in RFC 8785 key order, for the fast path of [`Entry::canonical_json`].
#[derive(Serialize)]
struct SortedFields<'a> {
    action: &'a str,
    actor: &'a str,
    details: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<&'a str>,
    seq: u64,
    subject: &'a str,
    time: &'a str,
}

impl Entry {
    /// The RFC 8785 canonical JSON text: what is stored and hashed.
    ///
    /// `serde_json_canonicalizer` is the reference, but it re-parses every object key to
    /// sort it and costs ~9 µs for a typical entry, which would dominate both appending
    /// (inside the write lock) and verifying a million entries. So when `details` holds
    /// only integers of at most 2^53 and its keys already iterate in UTF-16 order, the entry is written by
    /// serde_json's compact writer instead (<1 µs): for such values its output is exactly
    /// the RFC 8785 text (same string escaping, small integers as written, no whitespace), which
    /// a property test checks against the reference. Everything else (floats, keys whose
    /// byte order differs from UTF-16 order) goes through the reference.
    pub fn canonical_json(&self) -> Result<String, LedgerError> {
        if writes_canonically(&self.details) {
            let fields = SortedFields {
                action: &self.action,
                actor: &self.actor,
                details: &self.details,
                env: self.env.as_deref(),
                seq: self.seq,
                subject: &self.subject,
                time: &self.time,
            };
            serde_json::to_string(&fields).map_err(LedgerError::Encode)
        } else {
            serde_json_canonicalizer::to_string(self).map_err(LedgerError::Encode)
        }
    }

    /// SHA-256(0x00 ‖ canonical JSON).
    pub fn leaf_hash(&self) -> Result<Hash, LedgerError> {
        Ok(merkle::leaf_hash(self.canonical_json()?.as_bytes()))
    }

    /// Reads a stored entry, checking that the text is exactly its own canonical
    /// encoding (no reordered keys, no extra spaces, no duplicate or unknown fields).
    pub fn from_canonical(text: &str) -> Result<Entry, EntryDefect> {
        let entry: Entry = serde_json::from_str(text).map_err(|error| EntryDefect::NotAnEntry(error.to_string()))?;
        match entry.canonical_json() {
            Ok(canonical) if canonical == text => {}
            _ => return Err(EntryDefect::NotCanonical),
        }
        if parse_time(&entry.time).is_none() {
            return Err(EntryDefect::BadTime(entry.time));
        }
        Ok(entry)
    }
}

/// 2^53: every integer up to this is exactly a double.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// Whether serde_json's compact writer emits `value` exactly as RFC 8785 would: no
/// floating-point numbers (whose ECMAScript form differs from serde_json's), and every
/// object's keys iterating in strictly increasing UTF-16 order (true of serde_json's
/// sorted maps unless a key mixes characters above U+E000 with supplementary ones, or a
/// crate enabled serde_json's `preserve_order`).
fn writes_canonically(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        // RFC 8785 numbers are IEEE-754 doubles: only integers a double holds exactly are
        // written the same way by both.
        Value::Number(number) => {
            number.as_i64().is_some_and(|n| n.unsigned_abs() <= MAX_EXACT_INTEGER)
                || number.as_u64().is_some_and(|n| n <= MAX_EXACT_INTEGER)
        }
        Value::Array(items) => items.iter().all(writes_canonically),
        Value::Object(map) => {
            let mut previous: Option<&String> = None;
            for (key, item) in map {
                if previous.is_some_and(|previous| previous.encode_utf16().cmp(key.encode_utf16()).is_ge()) {
                    return false;
                }
                if !writes_canonically(item) {
                    return false;
                }
                previous = Some(key);
            }
            true
        }
    }
}

/// What is wrong with a stored entry's text; reported by verification, not raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryDefect {
    NotAnEntry(String),
    NotCanonical,
    BadTime(String),
}

impl std::fmt::Display for EntryDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryDefect::NotAnEntry(error) => write!(f, "it is not a ledger entry ({error})"),
            EntryDefect::NotCanonical => {
                f.write_str("it is not in canonical JSON form, so it was not written by shipgate")
            }
            EntryDefect::BadTime(time) => {
                write!(f, "its time `{time}` is not an RFC 3339 UTC time in the ledger's format")
            }
        }
    }
}

/// Formats a time the way entries carry it.
pub fn format_time(time: jiff::Timestamp) -> Result<String, LedgerError> {
    jiff::fmt::strtime::format(TIME_FORMAT, time).map_err(|error| LedgerError::Time(error.to_string()))
}

/// Parses an entry time, accepting only the exact [`TIME_FORMAT`] form.
pub fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    let time: jiff::Timestamp = text.parse().ok()?;
    (format_time(time).ok()? == text).then_some(time)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(details: Value) -> Entry {
        Entry {
            seq: 7,
            time: "2026-03-01T12:00:00.123456Z".into(),
            actor: "alice".into(),
            action: "deploy.started".into(),
            subject: "hello".into(),
            env: Some("production".into()),
            details,
        }
    }

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        let text =
            entry(json!({"z": 1, "a": [true, null, 1.5e3], "é": "x", "b": {"y": 2, "x": 1}})).canonical_json().unwrap();
        assert_eq!(
            text,
            r#"{"action":"deploy.started","actor":"alice","details":{"a":[true,null,1500],"b":{"x":1,"y":2},"z":1,"é":"x"},"env":"production","seq":7,"subject":"hello","time":"2026-03-01T12:00:00.123456Z"}"#
        );
    }

    #[test]
    fn no_env_means_no_env_key() {
        let text = Entry { env: None, ..entry(json!({})) }.canonical_json().unwrap();
        assert!(!text.contains("env"), "{text}");
    }

    #[test]
    fn the_same_entry_hashes_the_same_however_it_was_written() {
        let a = entry(serde_json::from_str(r#"{"b": 2, "a": 1.0, "c": "\u00e9"}"#).unwrap());
        let b = entry(serde_json::from_str(r#"{"c":"é","a":1,"b":2}"#).unwrap());
        assert_eq!(a.leaf_hash().unwrap(), b.leaf_hash().unwrap());
    }

    #[test]
    fn canonical_text_round_trips() {
        for details in [
            json!({}),
            json!({"n": -0.0, "big": 18446744073709551615u64, "f": 1e21, "small": 5e-7, "s": "tab\tquote\"\u{1}"}),
            json!([1, "two", {"three": 3}]),
            json!(null),
        ] {
            let text = entry(details).canonical_json().unwrap();
            let back = Entry::from_canonical(&text).unwrap();
            assert_eq!(back.canonical_json().unwrap(), text);
        }
    }

    #[test]
    fn non_canonical_or_foreign_text_is_a_defect() {
        let text = entry(json!({"a": 1})).canonical_json().unwrap();
        type Expect = fn(&EntryDefect) -> bool;
        let cases: &[(String, Expect)] = &[
            (text.replace(":", ": "), |defect| *defect == EntryDefect::NotCanonical),
            (text.replace(r#""actor":"alice","#, ""), |defect| matches!(defect, EntryDefect::NotAnEntry(_))),
            (text.replacen('{', r#"{"extra":1,"#, 1), |defect| matches!(defect, EntryDefect::NotAnEntry(_))),
            (text.replace("\"a\":1", "\"a\":1,\"a\":1"), |defect| *defect == EntryDefect::NotCanonical),
            (text.replace(r#""seq":7,"#, r#""env":null,"seq":7,"#).replace(r#""env":"production","#, ""), |defect| {
                *defect == EntryDefect::NotCanonical
            }),
            (text.replace("12:00:00.123456Z", "12:00:00Z"), |defect| matches!(defect, EntryDefect::BadTime(_))),
            (text.replace("12:00:00.123456Z", "12:00:00.123456+01:00"), |defect| {
                matches!(defect, EntryDefect::BadTime(_))
            }),
            ("not json".into(), |defect| matches!(defect, EntryDefect::NotAnEntry(_))),
        ];
        for (text, expected) in cases {
            let defect = Entry::from_canonical(text).unwrap_err();
            assert!(expected(&defect), "{text}: {defect:?}");
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        // Keys and strings mixing ASCII, control characters, quotes, and the characters
        // whose UTF-8 and UTF-16 orders differ (U+E000.., and supplementary ones).
        let text = "[a-c\"\\\\\\x00-\\x1f\\x7f\u{e9}\u{2028}\u{e000}\u{ffff}\u{10000}\u{1f680}]{0,4}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(|f| json!(f)),
            prop::sample::select(vec![0.0, -0.0, 1.0, 1e21, 1e-7, 123.456, 5e-324]).prop_map(|f| json!(f)),
            text.prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(text, inner, 0..5).prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The fast path and the reference canonicalizer agree on every value.
        #[test]
        fn canonical_json_matches_the_reference(details in json_value(), actor in "[a-z\"\\\\\u{e000}\u{10000}]{1,5}") {
            let entry = Entry { actor, ..entry(details) };
            let reference = serde_json_canonicalizer::to_string(&entry).unwrap();
            proptest::prop_assert_eq!(entry.canonical_json().unwrap(), reference);
        }
    }

    #[test]
    fn keys_whose_byte_and_utf16_orders_differ_take_the_reference_path() {
        let details = json!({"\u{10000}": 1, "\u{e000}": 2, "a": 3.5});
        assert!(!writes_canonically(&details));
        let entry = entry(details);
        assert_eq!(entry.canonical_json().unwrap(), serde_json_canonicalizer::to_string(&entry).unwrap());
        assert!(writes_canonically(&json!({"a": [1, -2, {"b": null}], "é": "x"})));
        assert!(!writes_canonically(&json!({"a": 1.0})));
    }

    #[test]
    fn times_have_a_fixed_width() {
        let time: jiff::Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(format_time(time).unwrap(), "2026-03-01T12:00:00.000000Z");
        assert_eq!(parse_time("2026-03-01T12:00:00.000000Z"), Some(time));
        assert_eq!(parse_time("2026-03-01T12:00:00Z"), None);
    }

    #[test]
    fn new_entries_are_validated() {
        let ok = NewEntry::new("alice", "deploy.started", "hello").env("staging");
        assert!(ok.validate().is_ok());
        let cases = [
            (NewEntry::new("", "a", "s"), "actor"),
            (NewEntry::new("a", "", "s"), "action"),
            (NewEntry::new("a", "a", ""), "subject"),
            (NewEntry::new("a", "a", "s").env(""), "env"),
            (NewEntry::new("a\u{1b}[2J", "a", "s"), "actor"),
            (NewEntry::new("a", "a", "x".repeat(MAX_FIELD_BYTES + 1)), "subject"),
        ];
        for (entry, field) in cases {
            match entry.validate() {
                Err(LedgerError::InvalidEntry { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{entry:?}: {other:?}"),
            }
        }
    }
}
