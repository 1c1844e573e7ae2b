use std::fmt;
use std::path::PathBuf;

use crate::KeyId;

/// Which kind of minisign text an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    PublicKey,
    SecretKey,
    Signature,
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Text::PublicKey => "public key",
            Text::SecretKey => "secret key",
            Text::Signature => "signature",
        })
    }
}

/// Everything that can go wrong while reading, writing, signing or verifying. Each variant has a
/// [`hint`](SignError::hint) that says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("malformed minisign {what}: {reason}")]
    Malformed { what: Text, reason: String },
    #[error("unsupported minisign {what}: {reason}")]
    Unsupported { what: Text, reason: String },
    #[error("the signature was made with key `{signature}`, not with key `{key}`")]
    KeyIdMismatch { signature: KeyId, key: KeyId },
    #[error("the signature was made with key `{signature}`, which is not a trusted key ({})", list(trusted))]
    UntrustedKey { signature: KeyId, trusted: Vec<KeyId> },
    #[error("the signature by key `{key_id}` does not match the signed data")]
    BadSignature { key_id: KeyId },
    #[error("the trusted comment of the signature by key `{key_id}` was changed after signing")]
    BadTrustedComment { key_id: KeyId },
    #[error("the secret key is encrypted and no password was given")]
    PasswordRequired,
    #[error("wrong password for the secret key (or the key file is damaged)")]
    WrongPassword,
    #[error("the {which} comment {reason}")]
    InvalidComment { which: &'static str, reason: String },
    #[error("`{digest}` is not an artifact digest of the form `sha256:<64 lowercase hex digits>`")]
    InvalidDigest { digest: String },
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
    #[error("cannot {doing} `{}`", path.display())]
    Io {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret key file `{}` can be read by other users (mode {mode:03o})", path.display())]
    Permissions { path: PathBuf, mode: u32 },
    #[error("cannot use `{}`", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: Box<SignError>,
    },
}

fn list(keys: &[KeyId]) -> String {
    if keys.is_empty() {
        return "none are configured".to_owned();
    }
    let keys: Vec<String> = keys.iter().map(|key| format!("`{key}`")).collect();
    format!("trusted: {}", keys.join(", "))
}

impl SignError {
    /// What to do about it, in one line.
    pub fn hint(&self) -> String {
        match self {
            SignError::Malformed { what: Text::PublicKey, .. } => {
                "give the public key as minisign prints it: the 56-character `RW…` line, or the two-line `.pub` file"
                    .to_owned()
            }
            SignError::Malformed { what: Text::SecretKey, .. } => {
                "give the secret key file as minisign or `shipgate keys generate` wrote it (two lines: `untrusted comment: …` and the key)".to_owned()
            }
            SignError::Malformed { what: Text::Signature, .. } => {
                "a `.minisig` file has four lines: `untrusted comment: …`, the signature, `trusted comment: …` and the global signature; fetch the signature file again".to_owned()
            }
            SignError::Unsupported { .. } => {
                "shipgate reads Ed25519 keys and signatures (`Ed`/`ED`) and scrypt-encrypted or unencrypted secret keys, as minisign writes them".to_owned()
            }
            SignError::KeyIdMismatch { signature, .. } => {
                format!("verify with the public key whose id is `{signature}`, or sign again with this key")
            }
            SignError::UntrustedKey { signature, .. } => format!(
                "if key `{signature}` is yours, add its public key to `trusted_keys`; otherwise do not deploy this artifact"
            ),
            SignError::BadSignature { .. } => {
                "the data or the signature changed after signing: do not trust it; sign the artifact again or fetch the original signature".to_owned()
            }
            SignError::BadTrustedComment { .. } => {
                "only the first line of a `.minisig` file may be edited; fetch the original signature file".to_owned()
            }
            SignError::PasswordRequired => "give the password that protects the secret key".to_owned(),
            SignError::WrongPassword => {
                "check the password; if it is right, restore the key file from a backup".to_owned()
            }
            SignError::InvalidComment { .. } => {
                "comments are one line each: untrusted comments up to 1003 bytes, trusted comments up to 8173 bytes"
                    .to_owned()
            }
            SignError::InvalidDigest { .. } => {
                "pass the digest that `shipgate release create` printed, e.g. `sha256:9f86…`".to_owned()
            }
            SignError::Random(_) => "check that the operating system's random source is available".to_owned(),
            SignError::Io { .. } => "check that the path exists and its permissions".to_owned(),
            SignError::Permissions { path, .. } => format!("run `chmod 600 {}`", path.display()),
            SignError::File { source, .. } => source.hint(),
        }
    }
}
