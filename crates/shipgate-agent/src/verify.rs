//! The check before every start of an instance: the stored artifact still has the digest its
//! release recorded, and the release signature verifies over that digest with a trusted key.
//! Done on every start, restarts included, so an artifact changed on disk after the release was
//! created never runs, whenever it was changed.
//!
//! An archive runs from an unpacked copy, so that copy is checked too: its directory digest must
//! equal the digest of what the verified archive unpacks to. That expected digest is computed by
//! unpacking the archive into a scratch directory once per archive digest and remembered (the
//! archive's bytes are verified at every start, and the same bytes always unpack the same way).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

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
    if let Some(unpacked) = &check.unpacked {
        let expected = unpacked_digest(&check.path, &check.digest)?;
        let actual = shipgate_artifact::digest(unpacked).map_err(|error| {
            Error::Tampered(format!("cannot digest the unpacked artifact `{}`: {error}", unpacked.display()))
        })?;
        if actual.digest != expected {
            return Err(Error::Tampered(format!(
                "the unpacked artifact `{}` has digest {}, but the verified archive {} unpacks to {expected}",
                unpacked.display(),
                actual.digest,
                check.digest
            )));
        }
    }
    Ok(verified.key_id.to_string())
}

/// The directory digest of what the archive at `path` (already verified to have `digest`)
/// unpacks to; remembered per archive digest.
fn unpacked_digest(path: &Path, digest: &str) -> Result<String, Error> {
    static KNOWN: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    if let Some(tree) = known.lock().ok().and_then(|known| known.get(digest).cloned()) {
        return Ok(tree);
    }
    let scratch = Scratch::new()?;
    let unpack = |source: std::io::Error| {
        Error::Tampered(format!("cannot unpack the stored archive `{}` to check it: {source}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(unpack)?;
    tar::Archive::new(flate2::read::GzDecoder::new(file)).unpack(&scratch.0).map_err(unpack)?;
    let tree = shipgate_artifact::digest(&scratch.0)
        .map_err(|error| Error::Tampered(format!("cannot digest the unpacked archive: {error}")))?
        .digest;
    // Remembered only when the archive did not change while it was unpacked.
    if shipgate_artifact::digest(path).is_ok_and(|again| again.digest == digest)
        && let Ok(mut known) = known.lock()
    {
        known.insert(digest.to_owned(), tree.clone());
    }
    Ok(tree)
}

/// A scratch directory under the system's temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "shipgate-verify-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).map_err(|error| {
            Error::Tampered(format!("cannot make a scratch directory to check the archive: {error}"))
        })?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
