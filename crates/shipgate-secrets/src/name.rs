//! Secret names and values: what may be stored and how a value reaches an instance.

use crate::Error;
use crate::redact::MIN_VALUE_BYTES;

/// The longest value accepted: secrets are credentials and small files (certificates, keys),
/// not data.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Whether `name` can be an environment variable (and so a secret's name): a letter or `_`,
/// then letters, digits and `_`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128
}

/// Checks a value before it is stored or injected: long enough to redact safely, short enough
/// to be a credential, and without NUL (which no environment variable can hold).
pub fn check_value(name: &str, value: &str) -> Result<(), Error> {
    if value.len() < MIN_VALUE_BYTES {
        return Err(Error::InvalidValue(format!(
            "the value of `{name}` is {} byte(s) long; a secret must have at least {MIN_VALUE_BYTES}, \
             or redacting it would blank out ordinary text",
            value.len()
        )));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::InvalidValue(format!(
            "the value of `{name}` is {} bytes long; at most {MAX_VALUE_BYTES} are accepted",
            value.len()
        )));
    }
    if value.contains('\0') {
        return Err(Error::InvalidValue(format!("the value of `{name}` contains a NUL byte")));
    }
    Ok(())
}

/// A value as typed or piped: one trailing line break (`\n` or `\r\n`) is not part of it.
pub fn trim_line_break(value: &str) -> &str {
    value.strip_suffix('\n').map(|rest| rest.strip_suffix('\r').unwrap_or(rest)).unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (name, valid) in [
            ("DATABASE_URL", true),
            ("_X", true),
            ("a1", true),
            ("1A", false),
            ("", false),
            ("A-B", false),
            ("A B", false),
            ("É", false),
        ] {
            assert_eq!(is_valid_name(name), valid, "{name}");
        }
    }

    #[test]
    fn values() {
        for (value, ok) in [("abcd", true), ("abc", false), ("ab\0cd", false), ("postgres://u:p@h/db", true)] {
            assert_eq!(check_value("X", value).is_ok(), ok, "{value:?}");
        }
        assert!(check_value("X", &"a".repeat(MAX_VALUE_BYTES + 1)).is_err());
    }

    #[test]
    fn one_line_break_is_trimmed() {
        for (input, expected) in [("v\n", "v"), ("v\r\n", "v"), ("v", "v"), ("v\n\n", "v\n"), ("", "")] {
            assert_eq!(trim_line_break(input), expected, "{input:?}");
        }
    }
}
