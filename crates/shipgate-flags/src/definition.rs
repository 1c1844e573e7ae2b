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

/// A compiled flag: its definition and its targeting, ready to evaluate.
pub(crate) struct Compiled {
    pub flag: Flag,
    pub targeting: Option<Logic>,
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
    /// Validates and compiles `flags`. Every invalid flag is reported.
    pub fn new(flags: BTreeMap<String, Flag>) -> Result<FlagSet, Vec<DefinitionError>> {
        let engine = operators::engine();
        let mut errors = Vec::new();
        let mut compiled = BTreeMap::new();
        for (name, flag) in flags {
            if let Err(error) = flag.validate(&name) {
                errors.push(error);
                continue;
            }
            // An empty object is flagd's "no targeting".
            let targeting = match &flag.targeting {
                Some(Value::Object(rule)) if !rule.is_empty() => match engine.compile(&Value::Object(rule.clone())) {
                    Ok(logic) => Some(logic),
                    Err(error) => {
                        errors.push(DefinitionError::Targeting { flag: name, reason: error.to_string() });
                        continue;
                    }
                },
                _ => None,
            };
            compiled.insert(name, Compiled { flag, targeting });
        }
        if errors.is_empty() {
            Ok(FlagSet { engine: Arc::new(engine), flags: Arc::new(compiled) })
        } else {
            Err(errors)
        }
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
    fn a_broken_rule_is_reported_with_its_flag() {
        use crate::ErrorCode;
        // datalogic-rs compiles an unknown operator and fails when it is evaluated: the
        // evaluation's PARSE_ERROR names the flag.
        let flags = BTreeMap::from([(
            "f".to_owned(),
            flag(json!({"variants": {"on": true}, "default": "on", "targeting": {"no_such_operator": [1]}})),
        )]);
        match FlagSet::new(flags) {
            Err(errors) => {
                assert!(matches!(&errors[..], [DefinitionError::Targeting { flag, .. }] if flag == "f"), "{errors:?}")
            }
            Ok(set) => {
                let error = set.evaluate("f", &json!({}), None, 0).expect_err("fails");
                assert_eq!((error.key.as_str(), error.code), ("f", ErrorCode::ParseError), "{error}");
            }
        }
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
