//! What an environment changed about a flag at run time (`shipgate flags set|kill`), stored as
//! JSON in the store's versioned records (kind `flag`, scope the environment).

use serde::{Deserialize, Serialize};

/// One environment's run-time setting of a flag. Without one, the flag evaluates as declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Setting {
    /// Everyone gets `variant` (reason `STATIC`).
    Variant { variant: String },
    /// `basis_points` / 100 percent of targeting keys get `variant` (reason `SPLIT`); the rest
    /// evaluate as declared. Buckets are flagd's `fractional` over `flagKey + targetingKey`, and
    /// the rollout's share is the first band, so raising the percentage only adds keys.
    Rollout { variant: String, basis_points: u32 },
    /// The off switch: everyone gets the flag's off variant (reason `DISABLED`).
    Killed,
}

impl Setting {
    /// A short human description, e.g. `rollout of `on` to 10%`.
    pub fn describe(&self) -> String {
        match self {
            Setting::Variant { variant } => format!("everyone gets `{variant}`"),
            Setting::Rollout { variant, basis_points } => {
                format!("`{variant}` for {} of targeting keys", format_percent(*basis_points))
            }
            Setting::Killed => "killed".to_owned(),
        }
    }
}

/// `1000` → `10%`, `1250` → `12.5%`.
pub fn format_percent(basis_points: u32) -> String {
    let whole = basis_points / 100;
    let fraction = basis_points % 100;
    match fraction {
        0 => format!("{whole}%"),
        _ if fraction.is_multiple_of(10) => format!("{whole}.{}%", fraction / 10),
        _ => format!("{whole}.{fraction:02}%"),
    }
}

/// Why a percentage was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a percentage from 0% to 100% with at most two decimals")]
pub struct PercentError {
    pub input: String,
}

/// Parses `10%`, `10`, `12.5%` or `0.25%` into basis points (1/100 of a percent).
pub fn parse_percent(input: &str) -> Result<u32, PercentError> {
    let error = || PercentError { input: input.to_owned() };
    let text = input.trim();
    let text = text.strip_suffix('%').unwrap_or(text).trim_end();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || whole.len() > 3 || !digits(whole) || fraction.len() > 2 || !digits(fraction) {
        return Err(error());
    }
    if text.ends_with('.') {
        return Err(error());
    }
    let whole: u32 = whole.parse().map_err(|_| error())?;
    let fraction: u32 = if fraction.is_empty() { 0 } else { format!("{fraction:0<2}").parse().map_err(|_| error())? };
    let basis_points = whole * 100 + fraction;
    if basis_points > 10_000 {
        return Err(error());
    }
    Ok(basis_points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        let cases: &[(&str, Option<u32>)] = &[
            ("10%", Some(1000)),
            ("10", Some(1000)),
            ("0%", Some(0)),
            ("100%", Some(10_000)),
            ("12.5%", Some(1250)),
            ("0.25%", Some(25)),
            (" 7 % ", Some(700)),
            ("101%", None),
            ("100.01%", None),
            ("-1%", None),
            ("1.234%", None),
            ("ten", None),
            ("", None),
            ("%", None),
            ("5.%", None),
            (".5%", None),
            ("1e2", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_percent(input).ok(), *expected, "{input:?}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for basis_points in [0, 1, 10, 25, 100, 1000, 1250, 9999, 10_000] {
            assert_eq!(parse_percent(&format_percent(basis_points)), Ok(basis_points));
        }
    }

    #[test]
    fn settings_are_tagged_json() {
        let setting = Setting::Rollout { variant: "on".into(), basis_points: 1000 };
        let json = serde_json::to_string(&setting).expect("serializes");
        assert_eq!(json, r#"{"mode":"rollout","variant":"on","basis_points":1000}"#);
        assert_eq!(serde_json::from_str::<Setting>(&json).expect("parses"), setting);
        assert_eq!(serde_json::from_str::<Setting>(r#"{"mode":"killed"}"#).expect("parses"), Setting::Killed);
    }
}
