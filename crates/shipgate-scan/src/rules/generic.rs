//! Secrets recognised by what they are assigned to rather than by their format. These
//! rules lose to any vendor rule that matches the same bytes, and are gated by entropy and
//! by the placeholder filter so that code reading a secret from somewhere is not flagged.

use super::{Confidence, GENERIC, Rule, Scope, base64_user_password};

/// The value must mix letters with digits or symbols: identifiers, words and paths do not.
fn mixed(secret: &[u8], _whole: &[u8]) -> bool {
    let letters = secret.iter().any(u8::is_ascii_alphabetic);
    let others =
        secret.iter().any(|byte| !byte.is_ascii_alphabetic() && *byte != b'_' && *byte != b'-' && *byte != b'.');
    letters && others && !looks_like_code(secret)
}

/// A value that is a reference to something else: a call, a dotted name, a file name, a
/// path or URL made of plain words (`organizations/acme/apiKeys/1`).
fn looks_like_code(secret: &[u8]) -> bool {
    let text = String::from_utf8_lossy(secret);
    let lower = text.to_ascii_lowercase();
    let plain_segments = |separator: char| {
        text.contains(separator)
            && text.split(separator).all(|segment| {
                segment.chars().all(|c| c.is_ascii_alphabetic() || c == '-' || c == '_')
                    || segment.chars().all(|c| c.is_ascii_digit())
            })
    };
    if plain_segments('/') || plain_segments('.') {
        return true;
    }
    lower.contains("()")
        || lower.starts_with("os.")
        || lower.starts_with("process.env")
        || lower.starts_with("env.")
        || lower.starts_with("config.")
        || lower.starts_with("settings.")
        || [".json", ".yaml", ".yml", ".pem", ".key", ".txt", ".crt", ".toml"]
            .iter()
            .any(|suffix| lower.ends_with(suffix))
}

/// A password mixes in a digit or a symbol, or is long and switches case often like random
/// text does (`VRPrFFKsvwbYuvqK`); identifiers such as `password_confirmation` do neither.
/// Nor is it code, a file name, or the word "password" itself.
fn password_value(secret: &[u8], _whole: &[u8]) -> bool {
    let lower = secret.to_ascii_lowercase();
    let mentions_password =
        [&b"password"[..], b"passwd"].iter().any(|word| memchr::memmem::find(&lower, word).is_some());
    let has_other = secret.iter().any(|byte| !byte.is_ascii_alphabetic() && !b"_-.".contains(byte));
    let case_switches =
        secret.windows(2).filter(|pair| pair[0].is_ascii_lowercase() && pair[1].is_ascii_uppercase()).count();
    let random_letters = secret.len() >= 12 && case_switches >= 2;
    (has_other || random_letters) && !mentions_password && !looks_like_code(secret)
}

/// Values in `.env` files: anything but a reference to another variable or a boolean.
fn env_value(secret: &[u8], _whole: &[u8]) -> bool {
    let text = String::from_utf8_lossy(secret).to_ascii_lowercase();
    !["true", "false", "yes", "no", "none", "null", "nil", "on", "off"].contains(&text.as_str())
        && !text.chars().all(|c| c.is_ascii_digit())
        && !looks_like_code(secret)
}

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "generic-secret",
        description: "Secret, token or API key assigned in code or configuration",
        keywords: &[
            "secret",
            "token",
            "api_key",
            "apikey",
            "api-key",
            "access_key",
            "accesskey",
            "auth_key",
            "authkey",
            "private_key",
            "privatekey",
            "signing_key",
            "encryption_key",
            "credential",
        ],
        pattern: r#"(?i:[\w.\-]{0,40}?(?:secret|token|api_?key|api-key|access_?key|auth_?key|private_?key|signing_?key|encryption_?key|credentials?)[\w.\-]{0,20}?)["'\]]?[ \t]*(?:=|:=|=>|:|\?=|\|\|=)[ \t]*["'`]?([A-Za-z0-9_/+=.~\-]{16,128})(?:["'`\s,;)\]}]|$)"#,
        check: Some(mixed),
        entropy: Some(3.7),
        matches: &[
            "API_TOKEN = \"%{A:32}\"",
            "client_secret: %{A:40}",
            "const apiKey = '%{A:24}9';",
            "\"signing_key\": \"%{b:44}\"",
        ],
        quiet: &[
            "token = os.environ[\"API_TOKEN\"]",
            "secret_key = get_secret_from_vault()",
            "tokens = generate_tokens(readline)",
            "SECRET_KEY = \"change-me-in-production\"",
            "api_key = \"${API_KEY}\"",
            "token_type: refresh_token_expired",
            "secret: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa11",
            "private_key_path = \"/etc/ssl/private/server.key\"",
            "token = \"your_api_token_here_123\"",
        ],
        ..GENERIC
    },
    Rule {
        id: "generic-password",
        description: "Password assigned in code or configuration",
        keywords: &["password", "passwd", "pwd", "passphrase"],
        pattern: r#"(?i:[\w.\-]{0,40}?(?:password|passwd|pwd|passphrase)[\w.\-]{0,20}?)["'\]]?[ \t]*(?:=|:=|=>|:|\?=|\|\|=)[ \t]*(?:["'`])([^"'`\s$]{8,128})["'`]"#,
        check: Some(password_value),
        entropy: Some(2.8),
        matches: &[
            "DB_PASSWORD = \"%{A:12}-%{A:4}\"",
            "password: '%{A:12}!'",
            "\"passphrase\": \"%{A:20}\"",
            "SMTP_PASSWORD = \"xKqTbZmWfRpLsVdN\"",
        ],
        quiet: &[
            "password = getpass.getpass()",
            "password = \"password\"",
            "password: \"${DB_PASSWORD}\"",
            "password=\"<your password>\"",
            "PASSWORD_FIELD = \"password_confirmation\"",
            "password = \"%(password)s\"",
        ],
        ..GENERIC
    },
    Rule {
        id: "xml-password",
        description: "Password or secret in an XML / properties element",
        keywords: &["password>", "secret>", "token>", "apikey>"],
        pattern: r"<(?i:[\w.\-]{0,30}?(?:password|secret|token|apikey))>([^<\s$]{8,128})</",
        check: Some(password_value),
        entropy: Some(3.0),
        matches: &["<add key=\"x\"/><ClientSecret>%{A:32}</ClientSecret>"],
        quiet: &["<password>${env.PASSWORD}</password>", "<tokenType>bearer</tokenType>"],
        ..GENERIC
    },
    Rule {
        id: "basic-auth-header",
        description: "HTTP Basic authorization header with credentials",
        keywords: &["basic "],
        pattern: r#"(?i:authorization)["']?\s*[:=,]\s*["']?(?i:basic)\s+([A-Za-z0-9+/]{12,}={0,2})"#,
        check: Some(base64_user_password),
        entropy: Some(3.0),
        // A template (`ZGVwbG95OnM0dEty` is base64 of `deploy:s4tKr`): the marker below keeps this file quiet.
        matches: &["curl -H \"Authorization: Basic ZGVwbG95OnM0dEty%{A:20}\" https://api.acme.io"], // shipgate:allow
        quiet: &["Authorization: Basic <credentials>", "Authorization: Basic bm90LWEtdXNlci1wYXNz"],
        ..GENERIC
    },
    Rule {
        id: "bearer-token",
        description: "HTTP Bearer authorization header with a token",
        keywords: &["bearer "],
        pattern: concat!(
            r#"(?i:authorization)["']?\s*[:=,]\s*["']?(?i:bearer)\s+([A-Za-z0-9_\-.~+/]{24,}=*)"#,
            r"(?:[^A-Za-z0-9_\-.~+/=]|$)"
        ),
        check: Some(mixed),
        entropy: Some(3.7),
        matches: &["headers = {\"Authorization\": \"Bearer %{A:40}\"}"],
        quiet: &["Authorization: Bearer $TOKEN", "\"Authorization\": f\"Bearer {token}\""],
        ..GENERIC
    },
    Rule {
        id: "curl-user-password",
        description: "Password passed to curl with `-u user:password`",
        keywords: &["curl"],
        pattern: r#"\bcurl\b[^\n]*?\s(?:-u|--user)\s*["']?[^\s:"']+:([^\s"'$]{6,128})"#,
        check: Some(password_value),
        entropy: Some(2.8),
        matches: &["curl -sS -u deploy:%{A:16} https://nexus.acme.internal/repository/"],
        quiet: &["curl -u \"$USER:$PASS\" https://api", "curl -u admin:password http://localhost"],
        ..GENERIC
    },
    Rule {
        id: "env-file-secret",
        description: "Secret value in a committed .env file",
        keywords: &[],
        pattern: r#"(?m)^[ \t]*(?:export[ \t]+)?[A-Za-z0-9_.]*(?i:key|secret|token|password|passwd|pwd|pass|credential|auth|dsn|private|salt|cookie|session|signature)[A-Za-z0-9_.]*[ \t]*=[ \t]*["']?([^\s"'#]{4,})"#,
        check: Some(env_value),
        entropy: Some(2.0),
        scope: Scope::EnvFiles,
        matches: &["DB_PASSWORD=%{A:12}", "export SESSION_SECRET='%{A:24}'"],
        quiet: &["DB_PASSWORD=", "AUTH_ENABLED=true", "API_KEY=${API_KEY}", "# SECRET=abc1234", "PORT=8080"],
        confidence: Confidence::Keyed,
        ..GENERIC
    },
    Rule {
        id: "env-file-random-value",
        description: "Random-looking value in a committed .env file",
        keywords: &[],
        pattern: r#"(?m)^[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_.]*[ \t]*=[ \t]*["']?([A-Za-z0-9_+/=.~\-]{20,})(?:["'\s#]|$)"#,
        check: Some(mixed),
        entropy: Some(4.0),
        scope: Scope::EnvFiles,
        matches: &["STRIPE_CONNECT=%{A:32}", "export UPSTREAM_VALUE=\"%{b:40}\""],
        quiet: &["GREETING=hello-world-and-welcome", "BUILD_SHA=%{h:8}", "HOME_URL=https://acme.io/home/page"],
        ..GENERIC
    },
];
