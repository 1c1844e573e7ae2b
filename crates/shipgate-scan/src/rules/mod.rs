//! The rule set: one [`Rule`] per credential format, written for shipgate from the public
//! descriptions of each format (prefixes, alphabets, lengths, documented key names).
//!
//! Every rule carries its own test cases: `matches` must make it fire and `quiet` must not.
//! Cases are templates: `%{A:36}` stands for 36 random characters of class `A` (see
//! [`expand`]), so that the source holds no literal credential a scanner (this one included)
//! would flag, and every run of the tests draws fresh values.

mod cloud;
mod code;
mod data;
mod generic;
mod keys;
mod messaging;
mod payment;
mod registries;
mod saas;

/// How sure a match is, which decides which finding wins when two rules match the same
/// bytes: a vendor's prefixed token beats a keyed rule, which beats a generic assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    /// The format alone identifies the credential (a vendor prefix, a fixed structure).
    Exact,
    /// The value is recognised by the vendor or key name written next to it.
    Keyed,
    /// A password or secret assigned to a name that says so, gated by entropy.
    Generic,
}

/// Which files a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Any,
    /// `.env`-style files (`.env`, `.env.production`, `app.env`), not their templates.
    EnvFiles,
}

/// A rule's last word on a match: given the secret and the whole match, keep it?
pub type Check = fn(&[u8], &[u8]) -> bool;

/// One credential format.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable, kebab-case identifier, e.g. `github-pat`.
    pub id: &'static str,
    pub description: &'static str,
    /// Strings one of which must occur near a match; the regex runs only around them.
    pub keywords: &'static [&'static str],
    /// Keywords are vendor prefixes whose case is part of the format (`AKIA`, `ghp_`), so
    /// a hit in another case is not even tried.
    pub case_sensitive: bool,
    /// A `regex` crate pattern over bytes. The secret is the group named `secret`, else
    /// group 1, else the whole match.
    pub pattern: &'static str,
    /// Minimum Shannon entropy (bits per byte) of the secret.
    pub entropy: Option<f64>,
    pub confidence: Confidence,
    pub scope: Scope,
    /// The match may span lines (PEM blocks); the regex then sees up to 16 KiB after the keyword.
    pub multiline: bool,
    /// A last check given the secret and the whole match, e.g. that base64 decodes to
    /// `user:password`, or that a URL's host is not a documentation domain.
    pub check: Option<Check>,
    /// Texts this rule must find (templates, see [`expand`]).
    pub matches: &'static [&'static str],
    /// Texts this rule must stay quiet on.
    pub quiet: &'static [&'static str],
}

/// Defaults for a rule recognised by its format alone.
pub(crate) const EXACT: Rule = Rule {
    id: "",
    description: "",
    keywords: &[],
    case_sensitive: true,
    pattern: "",
    entropy: None,
    confidence: Confidence::Exact,
    scope: Scope::Any,
    multiline: false,
    check: None,
    matches: &[],
    quiet: &[],
};

/// Defaults for a rule recognised by the name written next to the value.
pub(crate) const KEYED: Rule =
    Rule { case_sensitive: false, entropy: Some(3.0), confidence: Confidence::Keyed, ..EXACT };

/// Defaults for a generic assignment rule.
pub(crate) const GENERIC: Rule =
    Rule { case_sensitive: false, entropy: Some(3.5), confidence: Confidence::Generic, ..EXACT };

/// The end of a token whose alphabet includes `-` and `_`: the next byte is not one of
/// those, nor a letter or digit (`\b` would accept a token that ends in `-`).
macro_rules! tail {
    () => {
        r"(?:[^0-9A-Za-z_\-]|$)"
    };
}

/// `NAME = "value"` in its common spellings (shell, `.env`, YAML, JSON, TOML, Python, Ruby,
/// JavaScript, Go, PHP), where NAME contains `$key` (any case) and the value matches
/// `$value` (case as written). The value is group 1.
macro_rules! keyed {
    ($key:literal, $value:literal) => {
        concat!(
            "(?i:",
            $key,
            r#")[\w.\-]{0,32}?["'\]]?[ \t]*(?:=|:=|=>|:|\?=|\|\|=)[ \t]*["'`]?("#,
            $value,
            r#")(?:["'`\s,;)\]}<&#]|$)"#
        )
    };
}

pub(crate) use {keyed, tail};

/// Every rule, in a stable order.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    [
        cloud::RULES,
        code::RULES,
        payment::RULES,
        messaging::RULES,
        data::RULES,
        registries::RULES,
        saas::RULES,
        keys::RULES,
        generic::RULES,
    ]
    .into_iter()
    .flatten()
}

/// Whether `text` decodes from base64 into `user:password` (a printable user name, a
/// colon, then anything).
pub(crate) fn base64_user_password(text: &[u8], _whole: &[u8]) -> bool {
    use base64::Engine as _;
    let trimmed: Vec<u8> =
        text.iter().copied().filter(|byte| !byte.is_ascii_whitespace() && *byte != b'=').take(88).collect();
    let usable = &trimmed[..trimmed.len() / 4 * 4];
    let Ok(decoded) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(usable) else { return false };
    match decoded.iter().position(|byte| *byte == b':') {
        Some(colon) => colon > 0 && colon + 1 < decoded.len() && decoded[..colon].iter().all(u8::is_ascii_graphic),
        None => false,
    }
}

/// Whether `text` is base64 of a PEM private key (as in kubeconfigs and CI variables).
pub(crate) fn base64_private_key(text: &[u8], _whole: &[u8]) -> bool {
    use base64::Engine as _;
    // 64 characters decode to 48 bytes, enough for any `-----BEGIN … PRIVATE KEY-----`.
    let prefix: Vec<u8> = text.iter().copied().filter(|byte| !byte.is_ascii_whitespace()).take(64).collect();
    prefix.len() == 64
        && base64::engine::general_purpose::STANDARD
            .decode(&prefix)
            .is_ok_and(|decoded| memchr::memmem::find(&decoded, b"PRIVATE KEY-----").is_some())
}

/// Expands a test-case template: `%{C:N}` becomes N random characters of class C, and
/// `%{uuid}` a random UUID. Classes: `A` letters and digits, `a` lowercase letters and
/// digits, `U` uppercase letters and digits, `L` letters, `l` lowercase letters, `h`
/// lowercase hex, `H` uppercase hex, `d` digits, `b` base64, `u` URL-safe base64, `3`
/// base32 (`A-Z2-7`), `B` bech32 (uppercase). `next` returns random numbers.
pub fn expand(template: &str, next: &mut dyn FnMut(usize) -> usize) -> String {
    const CLASSES: &[(char, &str)] = &[
        ('A', "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
        ('a', "abcdefghijklmnopqrstuvwxyz0123456789"),
        ('U', "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
        ('L', "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
        ('l', "abcdefghijklmnopqrstuvwxyz"),
        ('h', "0123456789abcdef"),
        ('H', "0123456789ABCDEF"),
        ('d', "0123456789"),
        ('b', "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
        ('u', "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"),
        ('3', "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
        ('B', "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"),
    ];
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let spec = &after[..end];
        rest = &after[end + 1..];
        if spec == "uuid" {
            let hex = expand("%{h:8}-%{h:4}-4%{h:3}-a%{h:3}-%{h:12}", next);
            out.push_str(&hex);
            continue;
        }
        let (class, count) = spec.split_once(':').unwrap_or((spec, "1"));
        let alphabet = class
            .chars()
            .next()
            .and_then(|class| CLASSES.iter().find(|(name, _)| *name == class))
            .map_or("x", |(_, alphabet)| *alphabet)
            .as_bytes();
        for _ in 0..count.parse::<usize>().unwrap_or(1) {
            out.push(char::from(alphabet[next(alphabet.len()) % alphabet.len()]));
        }
    }
    out.push_str(rest);
    out
}
