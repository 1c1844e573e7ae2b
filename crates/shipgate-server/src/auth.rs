//! API tokens: a random secret shown once, stored only as its sha256.

use sha2::{Digest, Sha256};
use shipgate_ledger::{Ledger, NewEntry};
use shipgate_store::{TokenRow, Transaction};

use crate::record::{RecordError, Recorder, actions, now};

/// The hex sha256 under which a token's secret is stored.
pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn random_hex(bytes: usize) -> Result<String, RecordError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|error| RecordError::Join(format!("no randomness: {error}")))?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Creates the first admin token when the store has no usable admin token, and returns its
/// secret (the only time it exists outside the caller's hands); `None` when one exists.
pub fn ensure_admin_token(recorder: &Recorder) -> Result<Option<String>, RecordError> {
    let (secret, row) = new_token("admin", Role::Admin, None, None)?;
    let ledger = &recorder.ledger;
    recorder.store.transact(|tx| {
        if tx.tokens()?.iter().any(|token| token.role == Role::Admin.name() && token.revoked.is_none()) {
            return Ok(None);
        }
        store_token(tx, ledger, "shipgate", &row)?;
        Ok::<_, RecordError>(Some(secret.clone()))
    })
}

/// Stores a token with the ledger entry that records who created it, in `tx`.
pub fn store_token(tx: &mut dyn Transaction, ledger: &Ledger, actor: &str, row: &TokenRow) -> Result<(), RecordError> {
    tx.insert_token(row)?;
    ledger.append(
        tx,
        NewEntry::new(actor, actions::TOKEN_CREATED, format!("token/{}", row.id)).details(serde_json::json!({
            "name": row.name, "role": row.role, "environments": row.environments, "expires": row.expires,
        })),
    )?;
    Ok(())
}

/// Who a request acts as.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    pub name: String,
    pub role: Role,
    /// The environments the token may act on; `None` for every one.
    pub environments: Option<Vec<String>>,
}

/// What a token may do. Each role includes `read`; `admin` holds every permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read: releases, environments, deployments, plans, checks, drift, logs.
    Viewer,
    /// Read, deploy, roll back, resume and abort.
    Deployer,
    /// Read, approve and reject.
    Approver,
    /// Everything, including overriding gates, managing tokens and setting secrets.
    Admin,
    /// Evaluate feature flags over OFREP, and nothing else: the token instances get.
    Flags,
}

/// One thing a request may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Deploy,
    Approve,
    /// Lift a gate's deny finding for one deployment (`--override`).
    Override,
    ManageTokens,
    /// Set, remove and rotate secrets (listing their names needs only `Read`).
    ManageSecrets,
    /// Evaluate feature flags (OFREP).
    EvaluateFlags,
}

impl Permission {
    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Deploy => "deploy",
            Permission::Approve => "approve",
            Permission::Override => "override",
            Permission::ManageTokens => "manage-tokens",
            Permission::ManageSecrets => "manage-secrets",
            Permission::EvaluateFlags => "evaluate-flags",
        }
    }
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Approver => "approver",
            Role::Admin => "admin",
            Role::Flags => "flags",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        if self == Role::Flags {
            return permission == Permission::EvaluateFlags;
        }
        matches!(
            (self, permission),
            (Role::Admin, _)
                | (_, Permission::Read | Permission::EvaluateFlags)
                | (Role::Deployer, Permission::Deploy)
                | (Role::Approver, Permission::Approve)
        )
    }
}

impl Caller {
    /// Whether the token may use `permission` on `environment` (`None`: not about one).
    pub fn may(&self, permission: Permission, environment: Option<&str>) -> Result<(), String> {
        if !self.role.allows(permission) {
            return Err(format!(
                "token `{}` has the role `{}`, which lacks the `{}` permission",
                self.name,
                self.role.name(),
                permission.name()
            ));
        }
        match (environment, &self.environments) {
            (Some(environment), Some(allowed)) if !allowed.iter().any(|name| name == environment) => Err(format!(
                "token `{}` may act on {} only, not on `{environment}`",
                self.name,
                allowed.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
            )),
            _ => Ok(()),
        }
    }
}

/// The caller holding `secret`, when it is a known, unrevoked, unexpired token.
pub fn authenticate(recorder: &Recorder, secret: &str) -> Result<Option<Caller>, RecordError> {
    Ok(identify(recorder, secret)?.ok())
}

/// The caller holding `secret`, or why it is refused: unknown, revoked (when) or expired (when).
pub fn identify(recorder: &Recorder, secret: &str) -> Result<Result<Caller, String>, RecordError> {
    let hash = hash(secret);
    let Some(token) = recorder.store.read(|reader| reader.token_by_hash(&hash))? else {
        return Ok(Err("the token is unknown".into()));
    };
    if let Some(revoked) = &token.revoked {
        return Ok(Err(format!("token `{}` ({}) was revoked at {revoked}", token.id, token.name)));
    }
    if let Some(expires) = &token.expires {
        // Compared as instants, not as text: RFC 3339 strings with and without fractions do not
        // sort in time order.
        let expired = match expires.parse::<jiff::Timestamp>() {
            Ok(at) => at <= jiff::Timestamp::now(),
            Err(_) => true,
        };
        if expired {
            return Ok(Err(format!("token `{}` ({}) expired at {expires}", token.id, token.name)));
        }
    }
    let environments = token.environments.as_deref().and_then(|text| serde_json::from_str(text).ok());
    let Some(role) = Role::parse(&token.role) else {
        return Ok(Err(format!("token `{}` has the unknown role `{}`", token.id, token.role)));
    };
    Ok(Ok(Caller { token_id: token.id, name: token.name, role, environments }))
}

/// Checks a token's name: it names the person or machine holding the token (`alice`,
/// `ci-staging`), and every token with one name is one identity for approvals and the ledger.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("a token's name must have 1 to 64 characters, not {}", name.len()));
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@');
    if let Some(bad) = name.chars().find(|c| !valid(*c)) {
        return Err(format!(
            "a token's name may hold letters, digits, `-`, `_`, `.` and `@`, not `{bad}` (in `{name}`)"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("a token's name must start with a letter or a digit: `{name}`"));
    }
    Ok(())
}

/// A new token's secret and its stored row.
pub fn new_token(
    name: &str,
    role: Role,
    environments: Option<Vec<String>>,
    expires: Option<String>,
) -> Result<(String, TokenRow), RecordError> {
    let secret = format!("sgt_{}", random_hex(32)?);
    let row = TokenRow {
        id: format!("tok_{}", random_hex(6)?),
        hash: hash(&secret),
        name: name.to_owned(),
        role: role.name().to_owned(),
        created: now(),
        expires,
        revoked: None,
        environments: environments.map(|names| serde_json::json!(names).to_string()),
    };
    Ok((secret, row))
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_names_are_checked() {
        for good in ["alice", "ci-staging", "release.manager", "bob@example.com", "a_1"] {
            assert_eq!(super::check_name(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("", "1 to 64"),
            (" alice", "not ` `"),
            ("alice smith", "not ` `"),
            ("-x", "start with"),
            ("é", "not `é`"),
            (&"x".repeat(65), "not 65"),
        ] {
            let message = super::check_name(bad).unwrap_err();
            assert!(message.contains(says), "{bad:?}: {message}");
        }
    }

    #[test]
    fn the_hash_is_hex_sha256() {
        assert_eq!(super::hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
