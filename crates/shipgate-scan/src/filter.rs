//! Telling a secret from a stand-in for one: entropy, placeholders and the example keys
//! that vendors publish in their documentation.

/// Shannon entropy of `bytes`, in bits per byte.
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for byte in bytes {
        counts[usize::from(*byte)] += 1;
    }
    let total = bytes.len() as f64;
    counts
        .iter()
        .filter(|count| **count > 0)
        .map(|count| {
            let p = f64::from(*count) / total;
            -p * p.log2()
        })
        .sum()
}

/// Keys published in vendors' documentation and tutorials: they appear in countless
/// repositories and are not secrets.
const DOCUMENTED_EXAMPLES: &[&str] = &[
    // AWS
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    // jwt.io
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    // Stripe
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    "sk_test_26PHem9AhJZvU623DfE1x4sd",
    // PagerDuty
    "y_NbAkKc66ryYTWUXYEu",
];

/// Substrings (compared in lowercase) that only stand-ins contain.
const PLACEHOLDER_MARKERS: &[&str] = &[
    "example",
    "xxxx",
    "****",
    "....",
    "…",
    "<",
    ">",
    "${",
    "{{",
    "}}",
    "%(",
    "your_",
    "your-",
    "yourkey",
    "yourtoken",
    "yoursecret",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "redacted",
    "dummy",
    "sample",
    "replace_me",
    "replaceme",
    "insert_",
    "not-a-real",
    "notarealtoken",
    "fake_",
    "0000000000",
    "1234567890",
    "abcdefghij",
    "abcdef123456",
];

/// Whether `secret` is a placeholder: a documented example, a template variable, a run of
/// one character, or text that says it is a stand-in.
pub fn is_placeholder(secret: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(secret) else { return false };
    if DOCUMENTED_EXAMPLES.contains(&text) {
        return true;
    }
    // `$VAR`, `%VAR%`, `@VAR@`, `{name}` (format strings): references, not values.
    if text.starts_with('$')
        || text.starts_with('%')
        || (text.starts_with('@') && text.ends_with('@'))
        || (text.starts_with('{') && text.ends_with('}'))
    {
        return true;
    }
    let lower = text.to_ascii_lowercase();
    if PLACEHOLDER_MARKERS.iter().any(|marker| lower.contains(marker)) {
        return true;
    }
    // `aaaa…`, `abababab…`: too few distinct characters for the length.
    let mut seen = [false; 256];
    let mut distinct = 0;
    for byte in secret {
        if !seen[usize::from(*byte)] {
            seen[usize::from(*byte)] = true;
            distinct += 1;
        }
    }
    distinct <= 2 || (secret.len() >= 16 && distinct < 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert!(entropy(b"q8ZP3vT1xLm9Wd2KfR7sYb4Nc6Hj0GtU") > 4.5);
    }

    #[test]
    fn placeholders_are_recognised_and_random_values_are_not() {
        for placeholder in [
            "AKIAIOSFODNN7EXAMPLE",
            "${GITHUB_TOKEN}",
            "$TOKEN",
            "<your-token>",
            "xxxxxxxxxxxxxxxxxxxx",
            "ghp_************************************",
            "{{ .Values.token }}",
            "your_api_key_here",
            "aaaaaaaaaaaaaaaaaaaaaaa",
            "abababababababababab",
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
            "@API_TOKEN@",
            "{db_password}",
        ] {
            assert!(is_placeholder(placeholder.as_bytes()), "{placeholder}");
        }
        // Made-up values that must not count as placeholders (the marker keeps this file quiet).
        let secrets = ["q8ZP3vT1xLm9Wd2KfR7sYb4Nc6Hj0GtU", "ghp_q8ZP3vT1xLm9Wd2KfR7sYb4Nc6Hj0GtUaaaa", "s3cr3t-Pa55"]; // shipgate:allow
        for secret in secrets {
            assert!(!is_placeholder(secret.as_bytes()), "{secret}");
        }
    }
}
