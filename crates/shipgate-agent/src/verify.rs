//! The check before every start of an instance: the stored artifact still has the digest its
//! release recorded, and the release signature verifies over that digest with a trusted key.
//! Done on every start, restarts included, so an artifact changed on disk after the release was
//! created never runs, whenever it was changed.

use crate::api::ArtifactCheck;
use crate::error::Error;

/// The id of the key that signed, or why the artifact must not run.
pub(crate) fn verify(check: &ArtifactCheck) -> Result<String, Error> {
    let actual = shipgate_artifact::digest(&check.path)
        .map_err(|error| Error::Tampered(format!("cannot digest the stored artifact: {error}")))?;
    if actual.digest != check.digest {
        return Err(Error::Tampered(format!(
            "the stored artifact `{}` has digest {}, but its release recorded {}",
            check.path.display(),
            actual.digest,
            check.digest
        )));
    }
    let trusted: Vec<shipgate_sign::PublicKey> = shipgate_sign::PublicKey::parse_all(&check.trusted_keys);
    if trusted.is_empty() {
        return Err(Error::Tampered("no trusted key to verify the signature with".into()));
    }
    let (_, verified) = shipgate_sign::verify_digest_with_any(&trusted, &check.digest, &check.signature)
        .map_err(|error| Error::Tampered(format!("the release signature does not verify: {error}")))?;
    Ok(verified.key_id.to_string())
}
