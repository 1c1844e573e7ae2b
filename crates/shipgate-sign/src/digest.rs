//! Signing a release through its artifact digest.
//!
//! The signed message is the digest text and a newline, `sha256:<64 lowercase hex digits>\n`
//! (72 bytes): what `echo sha256:… > msg` writes, so that `minisign -Vm msg -P <key> -x sig`
//! verifies a release signature by hand. Signing the digest rather than the artifact works the
//! same for files, directories and archives, and costs nothing more at instance start, where the
//! stored artifact's digest is computed anyway.

use crate::{Algorithm, PublicKey, SecretKey, SignError, Signature, VerifiedSignature, sign, verify, verify_with_any};

/// The message signed for the artifact with digest `digest`: `sha256:<hex>\n`.
pub fn digest_message(digest: &str) -> Result<String, SignError> {
    let valid = digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    if !valid {
        return Err(SignError::InvalidDigest { digest: digest.to_owned() });
    }
    Ok(format!("{digest}\n"))
}

/// Signs the artifact digest `digest` (prehashed, `ED`). Put what the signature is for in the
/// trusted comment, tab-separated like minisign's own (`timestamp:…\tapp:…\trelease:…`); it is
/// signed too.
pub fn sign_digest(
    secret: &SecretKey,
    digest: &str,
    trusted_comment: &str,
    untrusted_comment: &str,
) -> Result<Signature, SignError> {
    sign(secret, digest_message(digest)?.as_bytes(), trusted_comment, untrusted_comment, Algorithm::Prehashed)
}

/// Verifies a signature of the artifact digest `digest` by `public`.
pub fn verify_digest(public: &PublicKey, digest: &str, signature: &str) -> Result<VerifiedSignature, SignError> {
    verify(public, digest_message(digest)?.as_bytes(), signature)
}

/// Verifies a signature of the artifact digest `digest` by any of `trusted`; see
/// [`verify_with_any`].
pub fn verify_digest_with_any(
    trusted: &[PublicKey],
    digest: &str,
    signature: &str,
) -> Result<(usize, VerifiedSignature), SignError> {
    verify_with_any(trusted, digest_message(digest)?.as_bytes(), signature)
}
