//! One evaluation: a flag's definition, the environment's setting and the caller's context.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::definition::{Compiled, FlagSet};
use crate::setting::Setting;

/// Why a value was chosen (OFREP's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// No targeting rule: the default variant, or a variant forced with `flags set --variant`.
    Static,
    /// The targeting rule returned nothing: the default variant.
    Default,
    /// The targeting rule chose the variant.
    TargetingMatch,
    /// A percentage rollout (`flags set --rollout`) chose the variant.
    Split,
    /// The flag was killed: the off variant.
    Disabled,
}

/// OFREP's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    FlagNotFound,
    ParseError,
    TargetingKeyMissing,
    InvalidContext,
    General,
}

/// A successful evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolution {
    pub key: String,
    pub variant: String,
    pub value: Value,
    pub reason: Reason,
}

/// A failed evaluation; the SDK then serves the caller's default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {details}")]
pub struct EvaluationError {
    pub key: String,
    pub code: ErrorCode,
    pub details: String,
}

impl FlagSet {
    /// Evaluates flag `key` for `context` (an OFREP evaluation context: an object, optionally
    /// with a string `targetingKey`), under the environment's `setting`. `now` (Unix seconds)
    /// becomes `$flagd.timestamp`.
    pub fn evaluate(
        &self,
        key: &str,
        context: &Value,
        setting: Option<&Setting>,
        now: i64,
    ) -> Result<Resolution, EvaluationError> {
        let error = |code, details: String| EvaluationError { key: key.to_owned(), code, details };
        let Some(compiled) = self.flags.get(key) else {
            return Err(error(ErrorCode::FlagNotFound, format!("flag `{key}` is not declared")));
        };
        if let Some(problem) = &compiled.broken {
            // The kill switch works on a flag whose rule is broken, when its variants are sound.
            if setting == Some(&Setting::Killed) && compiled.flag.validate(key).is_ok() {
                return resolution(key, compiled, compiled.flag.off_variant(), Reason::Disabled);
            }
            return Err(error(ErrorCode::ParseError, format!("the flag cannot be evaluated: {problem}")));
        }
        let data = evaluation_data(key, context, now).map_err(|details| error(ErrorCode::InvalidContext, details))?;
        let resolve = |variant: &str, reason| resolution(key, compiled, variant, reason);
        match setting {
            Some(Setting::Killed) => return resolve(compiled.flag.off_variant(), Reason::Disabled),
            Some(Setting::Variant { variant }) if compiled.flag.variants.contains_key(variant) => {
                return resolve(variant, Reason::Static);
            }
            Some(Setting::Rollout { variant, basis_points }) if compiled.flag.variants.contains_key(variant) => {
                let has_key = data.get("targetingKey").and_then(Value::as_str).is_some_and(|key| !key.is_empty());
                if !has_key {
                    return Err(error(
                        ErrorCode::TargetingKeyMissing,
                        format!(
                            "flag `{key}` is rolled out to a percentage of targeting keys; send `targetingKey` in the context"
                        ),
                    ));
                }
                if self.in_rollout(&data, *basis_points).map_err(|details| error(ErrorCode::General, details))? {
                    return resolve(variant, Reason::Split);
                }
            }
            // A setting naming a variant a later release no longer declares is ignored.
            _ => {}
        }
        let Some(logic) = &compiled.targeting else {
            return resolve(&compiled.flag.default, Reason::Static);
        };
        let mut session = self.engine.session();
        let result: Value = session
            .eval_into(logic, &data)
            .map_err(|failure| error(ErrorCode::ParseError, format!("the targeting rule failed: {failure}")))?;
        let variant = match result {
            Value::Null => return resolve(&compiled.flag.default, Reason::Default),
            Value::String(variant) => variant,
            Value::Bool(boolean) => boolean.to_string(),
            other => {
                return Err(error(
                    ErrorCode::General,
                    format!("the targeting rule returned `{other}`, not the name of a variant"),
                ));
            }
        };
        resolve(&variant, Reason::TargetingMatch)
    }

    /// Whether the targeting key in `data` falls in the first `basis_points` of 10,000 buckets
    /// of flagd's `fractional` over `flagKey + targetingKey`.
    fn in_rollout(&self, data: &Value, basis_points: u32) -> Result<bool, String> {
        let rule = json!({"fractional": [["in", basis_points], ["out", 10_000 - basis_points.min(10_000)]]});
        let logic = self.engine.compile(&rule).map_err(|error| error.to_string())?;
        let mut session = self.engine.session();
        let result: Value = session.eval_into(&logic, data).map_err(|error| error.to_string())?;
        Ok(result == Value::String("in".into()))
    }
}

fn resolution(key: &str, compiled: &Compiled, variant: &str, reason: Reason) -> Result<Resolution, EvaluationError> {
    match compiled.flag.variants.get(variant) {
        Some(value) => {
            Ok(Resolution { key: key.to_owned(), variant: variant.to_owned(), value: value.clone(), reason })
        }
        None => Err(EvaluationError {
            key: key.to_owned(),
            code: ErrorCode::General,
            details: format!("the targeting rule chose `{variant}`, which is not a variant of flag `{key}`"),
        }),
    }
}

/// The data JsonLogic sees: the context's fields, `targetingKey`, and `$flagd` with the flag's
/// key and the time, as flagd builds it.
fn evaluation_data(key: &str, context: &Value, now: i64) -> Result<Value, String> {
    let mut data = match context {
        Value::Null => Map::new(),
        Value::Object(fields) => fields.clone(),
        _ => return Err("the evaluation context must be a JSON object".to_owned()),
    };
    match data.get("targetingKey") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => return Err("`targetingKey` must be a string".to_owned()),
    }
    data.insert("$flagd".to_owned(), json!({"flagKey": key, "timestamp": now}));
    Ok(Value::Object(data))
}
