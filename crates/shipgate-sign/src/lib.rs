//! minisign-compatible Ed25519 signatures for shipgate's release artifacts.
//!
//! The formats are those of [minisign](https://jedisct1.github.io/minisign/), so the real
//! `minisign` tool verifies what shipgate signs and shipgate verifies what `minisign` signs:
//!
//! - a public key is `base64("Ed" ‖ key id ‖ Ed25519 public key)`, alone on one line or after an
//!   `untrusted comment:` line in a `.pub` file ([`PublicKey`]);
//! - a secret key file is `base64("Ed" ‖ KDF ‖ "B2" ‖ salt ‖ opslimit ‖ memlimit ‖ keynum_sk)`,
//!   unencrypted (KDF `\0\0`, as `minisign -G -W` writes) or scrypt-encrypted (`Sc`)
//!   ([`SecretKey`]);
//! - a `.minisig` signature has four lines: an untrusted comment, `base64(alg ‖ key id ‖
//!   signature)`, `trusted comment: …` and `base64(global signature)`, where the signature is
//!   Ed25519 over BLAKE2b-512(message) (`ED`, the default) or over the message itself (`Ed`,
//!   legacy), and the global signature is Ed25519 over signature ‖ trusted comment
//!   ([`Signature`]).
//!
//! A release is signed through its artifact digest: the message is the digest text followed by a
//! newline, `sha256:<64 hex digits>\n` ([`digest_message`], [`sign_digest`], [`verify_digest`]).
//!
//! Everything here is pure (no I/O, no clock) except [`generate`] and encryption, which draw
//! random bytes, and the three file helpers ([`create_secret_key_file`], [`read_secret_key_file`],
//! [`read_public_key_file`]).
//!
//! The formats are implemented here over ed25519-dalek, blake2 and scrypt rather than through the
//! `minisign` crate, which carries its own copies of Ed25519, SHA-512 and BLAKE2b and prompts for
//! passwords on the terminal; what these few byte layouts need is small and tested against the
//! real tool (`tests/minisign.rs`).

#![forbid(unsafe_code)]

mod digest;
mod error;
mod files;
mod keys;
mod secret_key;
mod signature;

pub use digest::{digest_message, sign_digest, verify_digest, verify_digest_with_any};
pub use error::{SignError, Text};
pub use files::{create_secret_key_file, read_public_key_file, read_secret_key_file};
pub use keys::{KeyId, PublicKey, generate};
pub use secret_key::SecretKey;
pub use signature::{
    Algorithm, MAX_TRUSTED_COMMENT, MAX_UNTRUSTED_COMMENT, Signature, VerifiedSignature, sign, verify, verify_with_any,
};

/// The prefix of the first line of every minisign file.
const UNTRUSTED_PREFIX: &str = "untrusted comment: ";

/// The prefix of the third line of a signature.
const TRUSTED_PREFIX: &str = "trusted comment: ";

/// The signature algorithm of keys, and of legacy signatures.
const ALG_ED25519: [u8; 2] = *b"Ed";

/// The signature algorithm of signatures over BLAKE2b-512 of the message.
const ALG_PREHASHED: [u8; 2] = *b"ED";

/// Splits `text` into lines the way minisign reads them: a `\r` before a `\n` is not part of the
/// line, and blank lines at the end do not count.
fn lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line)).collect();
    while lines.last().is_some_and(|line| line.trim().is_empty()) {
        lines.pop();
    }
    lines
}
