//! `.minisig` signatures: signing, parsing, verifying.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::{Blake2b512, Digest};

use crate::{
    ALG_ED25519, ALG_PREHASHED, KeyId, PublicKey, SecretKey, SignError, TRUSTED_PREFIX, Text, UNTRUSTED_PREFIX, lines,
};

/// The longest untrusted comment minisign reads back: its line, `untrusted comment: ` included,
/// must fit in 1024 bytes with its newline and C's terminating zero.
pub const MAX_UNTRUSTED_COMMENT: usize = 1024 - 2 - UNTRUSTED_PREFIX.len();

/// The longest trusted comment minisign reads back (its buffer is 8192 bytes).
pub const MAX_TRUSTED_COMMENT: usize = 8192 - 2 - TRUSTED_PREFIX.len();

/// What the Ed25519 signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// `ED`: BLAKE2b-512 of the message. minisign's default since 0.10, and what shipgate writes.
    #[default]
    Prehashed,
    /// `Ed`: the message itself, as `minisign -S -l` writes (and `minisign -V -H` refuses).
    Legacy,
}

impl Algorithm {
    fn id(self) -> [u8; 2] {
        match self {
            Algorithm::Prehashed => ALG_PREHASHED,
            Algorithm::Legacy => ALG_ED25519,
        }
    }

    /// The bytes that Ed25519 signs for `message`.
    fn signed_bytes(self, message: &[u8]) -> Cow<'_, [u8]> {
        match self {
            Algorithm::Prehashed => Cow::Owned(Blake2b512::digest(message).to_vec()),
            Algorithm::Legacy => Cow::Borrowed(message),
        }
    }
}

/// A parsed `.minisig` signature. Its `Display` is the file text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    untrusted_comment: String,
    algorithm: Algorithm,
    key_id: KeyId,
    signature: [u8; 64],
    trusted_comment: String,
    global_signature: [u8; 64],
}

/// What a good signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Signed along with the message: it can be trusted as much as the key.
    pub trusted_comment: String,
    pub key_id: KeyId,
    pub algorithm: Algorithm,
}

impl Signature {
    /// The first line, after `untrusted comment: `. Anyone can change it.
    pub fn untrusted_comment(&self) -> &str {
        &self.untrusted_comment
    }

    /// The third line, after `trusted comment: `. Trust it only after [`Signature::verify`].
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The `.minisig` file text, four lines each ending with a newline.
    pub fn to_text(&self) -> String {
        let mut bytes = Vec::with_capacity(2 + 8 + 64);
        bytes.extend_from_slice(&self.algorithm.id());
        bytes.extend_from_slice(&self.key_id.to_bytes());
        bytes.extend_from_slice(&self.signature);
        format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            BASE64.encode(bytes),
            self.trusted_comment,
            BASE64.encode(self.global_signature)
        )
    }

    /// Reads a `.minisig` file. A `\r` before each newline is accepted, as minisign does.
    pub fn parse(text: &str) -> Result<Signature, SignError> {
        let malformed = |reason: String| SignError::Malformed { what: Text::Signature, reason };
        let lines = lines(text.trim_start());
        let [untrusted, signature, trusted, global] = lines.as_slice() else {
            return Err(malformed(format!("it has {} lines, not 4", lines.len())));
        };
        let untrusted_comment = untrusted
            .strip_prefix(UNTRUSTED_PREFIX)
            .ok_or_else(|| malformed("its first line does not start with `untrusted comment: `".to_owned()))?;
        let trusted_comment = trusted
            .strip_prefix(TRUSTED_PREFIX)
            .ok_or_else(|| malformed("its third line does not start with `trusted comment: `".to_owned()))?;
        let bytes =
            BASE64.decode(signature.trim()).map_err(|_| malformed("its second line is not base64".to_owned()))?;
        if bytes.len() != 2 + 8 + 64 {
            return Err(malformed(format!("its signature is {} bytes, not 74", bytes.len())));
        }
        let algorithm = match [bytes[0], bytes[1]] {
            ALG_PREHASHED => Algorithm::Prehashed,
            ALG_ED25519 => Algorithm::Legacy,
            other => {
                return Err(SignError::Unsupported {
                    what: Text::Signature,
                    reason: format!(
                        "its algorithm is `{}`, not `ED` or `Ed` (Ed25519)",
                        String::from_utf8_lossy(&other).escape_debug()
                    ),
                });
            }
        };
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&bytes[2..10]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&bytes[10..]);
        let global = BASE64.decode(global.trim()).map_err(|_| malformed("its fourth line is not base64".to_owned()))?;
        let global_signature: [u8; 64] = global
            .try_into()
            .map_err(|global: Vec<u8>| malformed(format!("its global signature is {} bytes, not 64", global.len())))?;
        Ok(Signature {
            untrusted_comment: untrusted_comment.to_owned(),
            algorithm,
            key_id: KeyId::from_bytes(key_id),
            signature,
            trusted_comment: trusted_comment.to_owned(),
            global_signature,
        })
    }

    /// Checks, in minisign's order, that `public` made this signature (key ids match), that it
    /// covers `message`, and that the trusted comment is the one signed.
    pub fn verify(&self, public: &PublicKey, message: &[u8]) -> Result<VerifiedSignature, SignError> {
        if self.key_id != public.id {
            return Err(SignError::KeyIdMismatch { signature: self.key_id, key: public.id });
        }
        let key_id = self.key_id;
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        public
            .key
            .verify_strict(&self.algorithm.signed_bytes(message), &signature)
            .map_err(|_| SignError::BadSignature { key_id })?;
        let global = ed25519_dalek::Signature::from_bytes(&self.global_signature);
        public
            .key
            .verify_strict(&global_message(&self.signature, &self.trusted_comment), &global)
            .map_err(|_| SignError::BadTrustedComment { key_id })?;
        Ok(VerifiedSignature { trusted_comment: self.trusted_comment.clone(), key_id, algorithm: self.algorithm })
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// What the global signature covers: the signature, then the trusted comment.
fn global_message(signature: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64 + trusted_comment.len());
    bytes.extend_from_slice(signature);
    bytes.extend_from_slice(trusted_comment.as_bytes());
    bytes
}

/// Signs `message` with `secret`. Both comments must be one line each (see
/// [`MAX_TRUSTED_COMMENT`] and [`MAX_UNTRUSTED_COMMENT`]); only the trusted one is signed.
/// Use [`Algorithm::Prehashed`] unless a verifier older than minisign 0.10 must read it.
pub fn sign(
    secret: &SecretKey,
    message: &[u8],
    trusted_comment: &str,
    untrusted_comment: &str,
    algorithm: Algorithm,
) -> Result<Signature, SignError> {
    check_untrusted_comment(untrusted_comment)?;
    check_comment("trusted", trusted_comment, MAX_TRUSTED_COMMENT)?;
    let signature = secret.sign_bytes(&algorithm.signed_bytes(message));
    let global_signature = secret.sign_bytes(&global_message(&signature, trusted_comment));
    Ok(Signature {
        untrusted_comment: untrusted_comment.to_owned(),
        algorithm,
        key_id: secret.key_id(),
        signature,
        trusted_comment: trusted_comment.to_owned(),
        global_signature,
    })
}

/// Parses `signature` (a `.minisig` text) and verifies it against `public` and `message`.
pub fn verify(public: &PublicKey, message: &[u8], signature: &str) -> Result<VerifiedSignature, SignError> {
    Signature::parse(signature)?.verify(public, message)
}

/// Verifies `signature` with whichever of `trusted` has its key id, and says which one (its
/// index) did. A signature by any other key is [`SignError::UntrustedKey`].
pub fn verify_with_any(
    trusted: &[PublicKey],
    message: &[u8],
    signature: &str,
) -> Result<(usize, VerifiedSignature), SignError> {
    let signature = Signature::parse(signature)?;
    let mut last_error = None;
    // Key ids are random, so two trusted keys share one only by mistake; try each that matches.
    for (index, key) in trusted.iter().enumerate().filter(|(_, key)| key.id == signature.key_id) {
        match signature.verify(key, message) {
            Ok(verified) => return Ok((index, verified)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| SignError::UntrustedKey {
        signature: signature.key_id,
        trusted: trusted.iter().map(PublicKey::key_id).collect(),
    }))
}

pub(crate) fn check_untrusted_comment(comment: &str) -> Result<(), SignError> {
    check_comment("untrusted", comment, MAX_UNTRUSTED_COMMENT)
}

fn check_comment(which: &'static str, comment: &str, max: usize) -> Result<(), SignError> {
    let invalid = |reason: String| SignError::InvalidComment { which, reason };
    if let Some(c) = comment.chars().find(|&c| matches!(c, '\n' | '\r' | '\0')) {
        return Err(invalid(format!("contains {}, but must be one line", c.escape_debug())));
    }
    if comment.len() > max {
        return Err(invalid(format!("is {} bytes long, more than minisign reads ({max})", comment.len())));
    }
    Ok(())
}
