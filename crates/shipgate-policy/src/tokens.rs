//! SG0707: API tokens broader than their use. Unlike the deployment rules this judges tokens,
//! not a release: the server gathers each token's role, scope and expiry and what the audit
//! ledger shows it did in the last [`USAGE_WINDOW_DAYS`] days, and `shipgate token list`
//! shows the findings.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::catalog::TOKEN_TOO_BROAD;
use crate::finding::{Finding, Subject};

/// How far back the ledger is read for a token's use.
pub const USAGE_WINDOW_DAYS: i64 = 90;

/// One token and what it was used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub id: String,
    pub name: String,
    /// `viewer`, `deployer`, `approver`, `admin` (or a role the rule does not judge).
    pub role: String,
    /// The environments it may act on; `None` for every one.
    pub environments: Option<Vec<String>>,
    pub never_expires: bool,
    /// When it was created (RFC 3339), so a new token is not called unused.
    pub created: jiff::Timestamp,
    /// What the ledger shows it did: `(use, environment)`, e.g. `("deploy", Some("staging"))`.
    /// Uses are `deploy`, `approve`, `override`, `manage-tokens`.
    pub used: BTreeSet<(String, Option<String>)>,
}

/// One SG0707 finding and the token it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenFinding {
    /// The token's id (`tok_…`): findings attach to a token by id, never by its name (several
    /// tokens may share one name, the identity of the person or machine holding them).
    pub token: String,
    pub finding: Finding,
}

/// The SG0707 findings of every token, at `now`.
///
/// A token's use is its holder's: the ledger's actor is the token's name, so every token of one
/// name is judged by what that name did.
pub fn least_privilege(tokens: &[TokenUsage], now: jiff::Timestamp) -> Vec<TokenFinding> {
    let mut findings = Vec::new();
    for token in tokens {
        let mut push = |message: String, hint: String| {
            let subject = Subject { file: None, line: None, release: None, environment: None };
            let finding = Finding::new(&TOKEN_TOO_BROAD, TOKEN_TOO_BROAD.severity, message, hint, subject);
            findings.push(TokenFinding { token: token.id.clone(), finding });
        };
        let name = &token.name;
        let uses: BTreeSet<&str> = token.used.iter().map(|(what, _)| what.as_str()).collect();
        let environments: BTreeSet<&str> = token.used.iter().filter_map(|(_, env)| env.as_deref()).collect();
        let scope = environments.iter().map(|env| format!(" --env {env}")).collect::<String>();
        let old_enough = now.duration_since(token.created).as_hours() >= 24 * USAGE_WINDOW_DAYS;
        if token.used.is_empty() && old_enough {
            push(
                format!("token `{name}` ({}) did nothing in the last {USAGE_WINDOW_DAYS} days", token.role),
                format!("revoke it: `shipgate token revoke {}`", token.id),
            );
            continue;
        }
        if token.role == "admin" && !token.used.is_empty() && uses.iter().all(|what| *what == "deploy") {
            push(
                format!(
                    "admin token `{name}` was only used to deploy ({}), yet it may also override gates and manage tokens",
                    environments.iter().copied().collect::<Vec<_>>().join(", ")
                ),
                format!(
                    "give it a narrower token: `shipgate token create --role deployer{scope} --expires 90d --name {name}`, then revoke this one"
                ),
            );
        } else if token.role == "deployer" && token.environments.is_none() && !environments.is_empty() {
            push(
                format!(
                    "deployer token `{name}` may deploy to every environment but deployed only to {}",
                    environments.iter().copied().collect::<Vec<_>>().join(", ")
                ),
                format!(
                    "scope it: `shipgate token create --role deployer{scope} --expires 90d --name {name}`, then revoke this one"
                ),
            );
        }
        if token.never_expires {
            push(
                format!("token `{name}` ({}) never expires", token.role),
                format!("create one that expires (`--expires 90d`) and revoke `{}` once it is replaced", token.id),
            );
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, role: &str, environments: Option<&[&str]>, used: &[(&str, Option<&str>)]) -> TokenUsage {
        TokenUsage {
            id: format!("tok_{name}"),
            name: name.into(),
            role: role.into(),
            environments: environments.map(|names| names.iter().map(|name| (*name).to_owned()).collect()),
            never_expires: false,
            created: "2026-01-01T00:00:00Z".parse().unwrap(),
            used: used.iter().map(|(what, env)| ((*what).to_owned(), env.map(str::to_owned))).collect(),
        }
    }

    fn messages(tokens: &[TokenUsage]) -> Vec<String> {
        least_privilege(tokens, "2026-11-30T00:00:00Z".parse().unwrap())
            .into_iter()
            .map(|f| f.finding.message)
            .collect()
    }

    #[test]
    fn broad_tokens_are_named_with_what_they_did() {
        let found = messages(&[
            token("ci-admin", "admin", None, &[("deploy", Some("staging"))]),
            token("ci", "deployer", None, &[("deploy", Some("staging")), ("deploy", Some("qa"))]),
            TokenUsage { never_expires: true, ..token("ops", "admin", None, &[("manage-tokens", None)]) },
            token("idle", "viewer", None, &[]),
        ]);
        assert_eq!(
            found,
            [
                "admin token `ci-admin` was only used to deploy (staging), yet it may also override gates and manage tokens",
                "deployer token `ci` may deploy to every environment but deployed only to qa, staging",
                "token `ops` (admin) never expires",
                "token `idle` (viewer) did nothing in the last 90 days",
            ]
        );
    }

    #[test]
    fn findings_name_the_token_they_are_about_by_id() {
        // Two tokens of one holder: only the broad one is flagged, by its id.
        let tokens = [
            TokenUsage {
                id: "tok_narrow".into(),
                ..token("ci", "deployer", Some(&["staging"]), &[("deploy", Some("staging"))])
            },
            TokenUsage { id: "tok_broad".into(), ..token("ci", "deployer", None, &[("deploy", Some("staging"))]) },
        ];
        let found = least_privilege(&tokens, "2026-11-30T00:00:00Z".parse().unwrap());
        let ids: Vec<&str> = found.iter().map(|finding| finding.token.as_str()).collect();
        assert_eq!(ids, ["tok_broad"]);
    }

    #[test]
    fn tokens_that_fit_their_use_are_quiet() {
        let fitting = [
            token("ci", "deployer", Some(&["staging"]), &[("deploy", Some("staging"))]),
            token("ops", "admin", None, &[("deploy", Some("production")), ("override", Some("production"))]),
            TokenUsage { created: "2026-11-29T00:00:00Z".parse().unwrap(), ..token("new", "viewer", None, &[]) },
        ];
        assert_eq!(messages(&fitting), Vec::<String>::new());
    }
}
