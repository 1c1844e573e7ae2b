//! Web: an HTTP GET returning JSON, a JSON Pointer to the value, and a success condition.

use std::time::Duration;

use shipgate_spec::{Condition, Operator};

use super::{Provider, ProviderError, Query, Reading, get_text, http_agent, render_template, truncate_detail};

#[derive(Debug)]
pub struct Web {
    url: String,
    select: String,
    success: Option<Condition>,
    agent: ureq::Agent,
}

/// A JSON number, or a string holding one (APIs often quote their numbers).
fn as_number(value: &serde_json::Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
}

/// Whether `value` meets `condition`; `None` when an ordering compares something that is
/// not a number.
pub fn holds(condition: &Condition, value: &serde_json::Value) -> Option<bool> {
    let equal = match (as_number(value), condition.value.as_f64()) {
        (Some(left), Some(right)) if value.is_number() || condition.value.is_number() => left == right,
        _ => *value == condition.value,
    };
    let ordered = || Some((as_number(value)?, condition.value.as_f64()?));
    Some(match condition.operator {
        Operator::Eq => equal,
        Operator::Ne => !equal,
        Operator::Lt => ordered().map(|(l, r)| l < r)?,
        Operator::Le => ordered().map(|(l, r)| l <= r)?,
        Operator::Gt => ordered().map(|(l, r)| l > r)?,
        Operator::Ge => ordered().map(|(l, r)| l >= r)?,
    })
}

impl Web {
    pub fn new(url: &str, select: &str, success: Option<Condition>, timeout: Duration) -> Web {
        Web { url: url.to_owned(), select: select.to_owned(), success, agent: http_agent(timeout) }
    }
}

impl Provider for Web {
    fn read(&self, query: &Query<'_>) -> Result<Reading, ProviderError> {
        let url = render_template(&self.url, query);
        let (status, body) = get_text(&self.agent, &url, &[])?;
        if !(200..300).contains(&status) {
            return Err(ProviderError::Status { url, status, body: truncate_detail(&body) });
        }
        let document: serde_json::Value = serde_json::from_str(&body)
            .map_err(|error| ProviderError::Answer { url: url.clone(), why: format!("not JSON: {error}") })?;
        let selected = document
            .pointer(&self.select)
            .ok_or_else(|| ProviderError::Answer { url: url.clone(), why: format!("no value at `{}`", self.select) })?;
        let ok = match &self.success {
            Some(condition) => Some(holds(condition, selected).ok_or_else(|| ProviderError::Answer {
                url: url.clone(),
                why: format!("`{selected}` at `{}` is not a number, so `{condition}` cannot compare it", self.select),
            })?),
            None => None,
        };
        let condition =
            self.success.as_ref().map(|condition| format!(" ({condition}: {})", ok == Some(true))).unwrap_or_default();
        Ok(Reading {
            value: as_number(selected),
            ok,
            detail: truncate_detail(&format!("web: GET {url} → `{}` = {selected}{condition}", self.select)),
            counts: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn conditions_compare_json_values() {
        let cases = [
            (">= 0.99", json!(0.995), Some(true)),
            (">= 0.99", json!(0.5), Some(false)),
            (">= 0.99", json!("0.995"), Some(true)),
            ("< 10", json!(10), Some(false)),
            ("<= 10", json!(10.0), Some(true)),
            ("> 1", json!("many"), None),
            ("== \"ok\"", json!("ok"), Some(true)),
            ("== \"ok\"", json!("degraded"), Some(false)),
            ("!= \"ok\"", json!("degraded"), Some(true)),
            ("== 1", json!(1.0), Some(true)),
            ("== true", json!(true), Some(true)),
            ("== true", json!("true"), Some(false)),
            ("!= null", json!(null), Some(false)),
        ];
        for (text, value, expected) in cases {
            let condition = Condition::parse(text).unwrap();
            assert_eq!(holds(&condition, &value), expected, "{text} on {value}");
        }
    }
}
