//! Flag definitions in flagd's shape, and a compiled set of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use datalogic_rs::{Engine, Logic};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::operators;

/// One flag as declared in `shipgate.toml` (`[flags.NAME]`), following flagd's flag
/// definition: named variants, the default variant and optional JsonLogic targeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    pub variants: BTreeMap<String, Value>,
    /// The variant served when no targeting rule and no setting decides (flagd's
    /// `defaultVariant`).
    pub default: String,
    /// A JsonLogic object that evaluates to a variant name (or `true`/`false` for variants of
    /// those names); `null` means the default variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeting: Option<Value>,
}

/// The JSON type every variant of a flag shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    Boolean,
    String,
    Number,
    Object,
}

impl ValueKind {
    pub fn of(value: &Value) -> Option<ValueKind> {
        match value {
            Value::Bool(_) => Some(ValueKind::Boolean),
            Value::String(_) => Some(ValueKind::String),
            Value::Number(_) => Some(ValueKind::Number),
            Value::Object(_) => Some(ValueKind::Object),
            Value::Null | Value::Array(_) => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueKind::Boolean => "boolean",
            ValueKind::String => "string",
            ValueKind::Number => "number",
            ValueKind::Object => "object",
        }
    }
}

/// A definition that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("flag `{flag}` has no variants")]
    NoVariants { flag: String },
    #[error("flag `{flag}`: the default variant `{default}` is not one of its variants ({known})")]
    UnknownDefault { flag: String, default: String, known: String },
    #[error(
        "flag `{flag}`: variant `{variant}` is {found}, but variants must be booleans, strings, numbers or objects"
    )]
    BadVariant { flag: String, variant: String, found: &'static str },
    #[error(
        "flag `{flag}`: variant `{variant}` is a {found}, but `{first}` is a {expected}; all variants of a flag share one type"
    )]
    MixedVariants { flag: String, variant: String, found: &'static str, first: String, expected: &'static str },
    #[error("flag `{flag}`: `targeting` must be a JsonLogic object")]
    TargetingNotObject { flag: String },
    #[error("flag `{flag}`: the targeting rule does not compile: {reason}")]
    Targeting { flag: String, reason: String },
}

impl Flag {
    /// The type shared by all variants; checked by [`Flag::validate`].
    pub fn kind(&self) -> Option<ValueKind> {
        self.variants.values().next().and_then(ValueKind::of)
    }

    /// Every rule a declaration must follow that needs no JsonLogic engine.
    pub fn validate(&self, name: &str) -> Result<(), DefinitionError> {
        let flag = name.to_owned();
        let Some((first_name, first)) = self.variants.iter().next() else {
            return Err(DefinitionError::NoVariants { flag });
        };
        let Some(expected) = ValueKind::of(first) else {
            return Err(DefinitionError::BadVariant { flag, variant: first_name.clone(), found: json_type(first) });
        };
        for (variant, value) in &self.variants {
            match ValueKind::of(value) {
                None => {
                    return Err(DefinitionError::BadVariant {
                        flag,
                        variant: variant.clone(),
                        found: json_type(value),
                    });
                }
                Some(kind) if kind != expected => {
                    return Err(DefinitionError::MixedVariants {
                        flag,
                        variant: variant.clone(),
                        found: kind.name(),
                        first: first_name.clone(),
                        expected: expected.name(),
                    });
                }
                Some(_) => {}
            }
        }
        if !self.variants.contains_key(&self.default) {
            return Err(DefinitionError::UnknownDefault {
                flag,
                default: self.default.clone(),
                known: self.variants.keys().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", "),
            });
        }
        if let Some(targeting) = &self.targeting
            && !targeting.is_object()
        {
            return Err(DefinitionError::TargetingNotObject { flag });
        }
        Ok(())
    }

    /// The variant the kill switch serves: the variant whose value is `false` for a boolean
    /// flag, otherwise the declared default.
    pub fn off_variant(&self) -> &str {
        self.variants
            .iter()
            .find(|(_, value)| **value == Value::Bool(false))
            .map_or(self.default.as_str(), |(name, _)| name.as_str())
    }

    /// Whether the flag is off for everyone when nothing was set at run time: a boolean flag
    /// whose default variant is `false` and that has no targeting rule.
    pub fn starts_off(&self) -> bool {
        self.variants.get(&self.default) == Some(&Value::Bool(false)) && self.targeting.is_none()
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A compiled flag: its definition and its targeting, ready to evaluate, or why it cannot be.
pub(crate) struct Compiled {
    pub flag: Flag,
    pub targeting: Option<Logic>,
    /// Why the flag cannot be evaluated (its evaluations answer `PARSE_ERROR`); `None` when
    /// it can.
    pub broken: Option<DefinitionError>,
}

/// The flags of one environment, compiled once and evaluated many times (cheap to clone).
#[derive(Clone)]
pub struct FlagSet {
    pub(crate) engine: Arc<Engine>,
    pub(crate) flags: Arc<BTreeMap<String, Compiled>>,
}

impl std::fmt::Debug for FlagSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlagSet").field("flags", &self.flags.keys().collect::<Vec<_>>()).finish()
    }
}

impl FlagSet {
    /// Validates and compiles `flags`; every invalid flag is reported, and any makes it fail.
    /// For a release being created (`shipgate validate`, `release create`).
    pub fn new(flags: BTreeMap<String, Flag>) -> Result<FlagSet, Vec<DefinitionError>> {
        let (set, errors) = FlagSet::lenient(flags);
        if errors.is_empty() { Ok(set) } else { Err(errors) }
    }

    /// Validates and compiles `flags`, keeping the ones that fail: each of those answers
    /// `PARSE_ERROR` (or its off variant once killed) while the others evaluate as usual. For
    /// serving flags of a release that is already stored. Returns the problems too.
    pub fn lenient(flags: BTreeMap<String, Flag>) -> (FlagSet, Vec<DefinitionError>) {
        let engine = operators::engine();
        let mut errors = Vec::new();
        let mut compiled = BTreeMap::new();
        for (name, flag) in flags {
            let outcome =
                flag.validate(&name).and_then(|()| compile_targeting(&engine, &name, flag.targeting.as_ref()));
            let (targeting, broken) = match outcome {
                Ok(targeting) => (targeting, None),
                Err(error) => {
                    errors.push(error.clone());
                    (None, Some(error))
                }
            };
            compiled.insert(name, Compiled { flag, targeting, broken });
        }
        (FlagSet { engine: Arc::new(engine), flags: Arc::new(compiled) }, errors)
    }

    /// An empty set (an environment that runs no release yet).
    pub fn empty() -> FlagSet {
        FlagSet { engine: Arc::new(operators::engine()), flags: Arc::new(BTreeMap::new()) }
    }

    pub fn get(&self, name: &str) -> Option<&Flag> {
        self.flags.get(name).map(|compiled| &compiled.flag)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.flags.keys().map(String::as_str)
    }
}

/// Compiles a targeting rule; `None` for no rule (absent or `{}`, flagd's "no targeting").
/// An operator the engine does not know is refused here: datalogic-rs would compile it and
/// fail only when a request reaches it.
fn compile_targeting(engine: &Engine, name: &str, targeting: Option<&Value>) -> Result<Option<Logic>, DefinitionError> {
    let rule = match targeting {
        Some(Value::Object(rule)) if !rule.is_empty() => rule,
        _ => return Ok(None),
    };
    let failed = |reason: String| DefinitionError::Targeting { flag: name.to_owned(), reason };
    let rule = Value::Object(rule.clone());
    if let Some(operator) = unknown_operator(engine, &rule) {
        return Err(failed(format!(
            "unknown operator `{operator}` (flagd's are `fractional`, `sem_ver`, `starts_with` and `ends_with`, besides JsonLogic's)"
        )));
    }
    engine.compile(&rule).map(Some).map_err(|error| failed(error.to_string()))
}

/// The first operator in `rule` that is neither built into the engine nor added to it.
fn unknown_operator(engine: &Engine, rule: &Value) -> Option<String> {
    match rule {
        Value::Object(map) if map.len() == 1 => {
            let (operator, arguments) = map.iter().next()?;
            let known =
                engine.builtin_operator_names().any(|name| name == operator) || engine.has_custom_operator(operator);
            if !known {
                return Some(operator.clone());
            }
            // `preserve` holds data, not logic.
            if operator == "preserve" { None } else { unknown_operator(engine, arguments) }
        }
        Value::Object(map) => map.values().find_map(|value| unknown_operator(engine, value)),
        Value::Array(items) => items.iter().find_map(|value| unknown_operator(engine, value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flag(value: Value) -> Flag {
        serde_json::from_value(value).expect("a flag")
    }

    #[test]
    fn validation() {
        let cases: &[(Value, Option<&str>)] = &[
            (json!({"variants": {"on": true, "off": false}, "default": "off"}), None),
            (json!({"variants": {"a": "x", "b": "y"}, "default": "a", "targeting": {}}), None),
            (json!({"variants": {}, "default": "off"}), Some("has no variants")),
            (json!({"variants": {"on": true, "off": false}, "default": "of"}), Some("is not one of its variants")),
            (json!({"variants": {"on": true, "off": "no"}, "default": "on"}), Some("share one type")),
            (json!({"variants": {"on": [1]}, "default": "on"}), Some("is an array")),
            (json!({"variants": {"on": null}, "default": "on"}), Some("is null")),
            (json!({"variants": {"on": true}, "default": "on", "targeting": "x"}), Some("must be a JsonLogic object")),
        ];
        for (input, expected) in cases {
            let result = flag(input.clone()).validate("f");
            match expected {
                None => assert_eq!(result, Ok(()), "{input}"),
                Some(text) => {
                    let message = result.expect_err("refused").to_string();
                    assert!(message.contains(text), "{input}: {message}");
                }
            }
        }
    }

    #[test]
    fn a_broken_rule_is_reported_with_its_flag_and_breaks_only_that_flag() {
        use crate::{ErrorCode, Reason, Setting};
        let flags = BTreeMap::from([
            (
                "unknown-operator".to_owned(),
                flag(
                    json!({"variants": {"on": true, "off": false}, "default": "on", "targeting": {"if": [{"no_such_operator": [1]}, "on", null]}}),
                ),
            ),
            (
                "two-keys".to_owned(),
                flag(
                    json!({"variants": {"on": true, "off": false}, "default": "on", "targeting": {"if": [true, "on", null], "var": "x"}}),
                ),
            ),
            (
                "fine".to_owned(),
                flag(
                    json!({"variants": {"on": true, "off": false}, "default": "on", "targeting": {"fractional": [["on", 50], ["off", 50]]}}),
                ),
            ),
        ]);
        let errors = FlagSet::new(flags.clone()).expect_err("refused");
        let named: Vec<String> = errors
            .iter()
            .map(|error| match error {
                DefinitionError::Targeting { flag, .. } => flag.clone(),
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(named, ["two-keys", "unknown-operator"], "{errors:?}");
        assert!(errors[1].to_string().contains("unknown operator `no_such_operator`"), "{}", errors[1]);
        let (set, problems) = FlagSet::lenient(flags);
        assert_eq!(problems, errors);
        for broken in ["unknown-operator", "two-keys"] {
            let error = set.evaluate(broken, &json!({}), None, 0).expect_err("fails");
            assert_eq!((error.key.as_str(), error.code), (broken, ErrorCode::ParseError), "{error}");
            let killed = set.evaluate(broken, &json!({}), Some(&Setting::Killed), 0).expect("the kill serves off");
            assert_eq!((killed.variant.as_str(), killed.reason), ("off", Reason::Disabled));
        }
        let fine = set.evaluate("fine", &json!({"targetingKey": "k"}), None, 0).expect("evaluates");
        assert_eq!(fine.reason, Reason::TargetingMatch);
    }

    #[test]
    fn off_variants_and_starting_off() {
        let boolean = flag(json!({"variants": {"on": true, "off": false}, "default": "on"}));
        assert_eq!(boolean.off_variant(), "off");
        assert!(!boolean.starts_off());
        let off = flag(json!({"variants": {"on": true, "off": false}, "default": "off"}));
        assert!(off.starts_off());
        let targeted = flag(
            json!({"variants": {"on": true, "off": false}, "default": "off", "targeting": {"if": [true, "on", null]}}),
        );
        assert!(!targeted.starts_off());
        let text = flag(json!({"variants": {"a": "x", "b": "y"}, "default": "b"}));
        assert_eq!(text.off_variant(), "b");
    }
}
