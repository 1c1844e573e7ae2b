//! API tokens: a random secret shown once, stored only as its sha256.

use sha2::{Digest, Sha256};
use shipgate_ledger::NewEntry;
use shipgate_store::TokenRow;

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
    let secret = format!("sgt_{}", random_hex(32)?);
    let row = TokenRow {
        id: format!("tok_{}", random_hex(6)?),
        hash: hash(&secret),
        name: "admin".into(),
        role: "admin".into(),
        created: now(),
        expires: None,
        revoked: None,
    };
    let ledger = &recorder.ledger;
    recorder.store.transact(|tx| {
        if tx.tokens()?.iter().any(|token| token.role == "admin" && token.revoked.is_none()) {
            return Ok(None);
        }
        tx.insert_token(&row)?;
        ledger.append(
            tx,
            NewEntry::new("shipgate", actions::TOKEN_CREATED, format!("token/{}", row.id))
                .details(serde_json::json!({"name": row.name, "role": row.role})),
        )?;
        Ok::<_, RecordError>(Some(secret.clone()))
    })
}

/// Who a request acts as.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    pub name: String,
    pub role: String,
}

/// The caller holding `secret`, when it is a known, unrevoked, unexpired token.
pub fn authenticate(recorder: &Recorder, secret: &str) -> Result<Option<Caller>, RecordError> {
    let hash = hash(secret);
    let token = recorder.store.read(|reader| reader.token_by_hash(&hash))?;
    let now = now();
    Ok(token
        .filter(|token| {
            token.revoked.is_none() && token.expires.as_deref().is_none_or(|expires| expires > now.as_str())
        })
        .map(|token| Caller { token_id: token.id, name: token.name, role: token.role }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hash_is_hex_sha256() {
        assert_eq!(super::hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
