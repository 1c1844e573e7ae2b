//! Key ids, public keys and key generation.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroizing;

use crate::{ALG_ED25519, SecretKey, SignError, Text, UNTRUSTED_PREFIX, lines};

/// The 8 bytes that name a key pair in every minisign key and signature.
///
/// Shown as minisign shows it: the bytes read as a little-endian integer, in 16 uppercase hex
/// digits (`minisign public key D8E83DBC56DC68E5`). minisign 0.11 drops leading zeros
/// (`5A87CA5B701B39D`); later versions, like shipgate, keep them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    pub const fn from_bytes(bytes: [u8; 8]) -> KeyId {
        KeyId(bytes)
    }

    pub const fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// A new random id.
    pub fn random() -> Result<KeyId, SignError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|error| SignError::Random(error.to_string()))?;
        Ok(KeyId(bytes))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A minisign public key: a key id and an Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub(crate) id: KeyId,
    pub(crate) key: ed25519_dalek::VerifyingKey,
}

/// The length of a decoded public key: algorithm, key id, Ed25519 key.
const PUBLIC_KEY_LEN: usize = 2 + 8 + 32;

impl PublicKey {
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The one-line form, as `minisign -P` takes it (`RW…`, 56 characters).
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::with_capacity(PUBLIC_KEY_LEN);
        bytes.extend_from_slice(&ALG_ED25519);
        bytes.extend_from_slice(&self.id.0);
        bytes.extend_from_slice(self.key.as_bytes());
        BASE64.encode(bytes)
    }

    /// The `.pub` file as `minisign -G` writes it:
    /// `untrusted comment: minisign public key <ID>`, then the one-line form.
    pub fn to_file_text(&self) -> String {
        format!("{UNTRUSTED_PREFIX}minisign public key {}\n{}\n", self.id, self.to_base64())
    }

    /// The `.pub` file with a comment of one's own on its first line (minisign ignores it).
    pub fn to_file_text_with_comment(&self, comment: &str) -> Result<String, SignError> {
        crate::signature::check_untrusted_comment(comment)?;
        Ok(format!("{UNTRUSTED_PREFIX}{comment}\n{}\n", self.to_base64()))
    }

    /// The keys of `texts` (one-line or `.pub` forms) that parse, in order; the others are left
    /// out (a spec checks its `trusted_keys` when it is read, so a bad one was reported there).
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Vec<PublicKey> {
        texts.iter().filter_map(|text| PublicKey::parse(text.as_ref()).ok()).collect()
    }

    /// Reads either form: the one-line base64, or the two-line `.pub` file.
    pub fn parse(text: &str) -> Result<PublicKey, SignError> {
        let malformed = |reason: &str| SignError::Malformed { what: Text::PublicKey, reason: reason.to_owned() };
        let lines = lines(text.trim_start());
        let data = match lines.as_slice() {
            [line] if !line.starts_with(UNTRUSTED_PREFIX) => line.trim(),
            [comment, line] if comment.starts_with(UNTRUSTED_PREFIX) => line.trim(),
            [] => return Err(malformed("it is empty")),
            [comment, ..] if !comment.starts_with(UNTRUSTED_PREFIX) => {
                return Err(malformed("it is neither one base64 line nor starts with `untrusted comment: `"));
            }
            _ => return Err(malformed("a public key file has two lines: the comment and the key")),
        };
        let bytes = BASE64.decode(data).map_err(|_| malformed("the key is not base64"))?;
        let bytes: [u8; PUBLIC_KEY_LEN] = bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| malformed(&format!("the key is {} bytes, not {PUBLIC_KEY_LEN}", bytes.len())))?;
        let (alg, rest) = bytes.split_at(2);
        let (id, key) = rest.split_at(8);
        if alg != ALG_ED25519 {
            return Err(SignError::Unsupported {
                what: Text::PublicKey,
                reason: format!(
                    "its algorithm is `{}`, not `Ed` (Ed25519)",
                    String::from_utf8_lossy(alg).escape_debug()
                ),
            });
        }
        let id = KeyId(id.try_into().map_err(|_| malformed("its key id is not 8 bytes"))?);
        PublicKey::from_parts(id, key.try_into().map_err(|_| malformed("its Ed25519 key is not 32 bytes"))?)
    }

    /// The public key with id `id` and Ed25519 key `key`.
    pub fn from_parts(id: KeyId, key: [u8; 32]) -> Result<PublicKey, SignError> {
        let malformed = |reason: &str| SignError::Malformed { what: Text::PublicKey, reason: reason.to_owned() };
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
            .map_err(|_| malformed("its Ed25519 key is not a point on the curve"))?;
        if key.is_weak() {
            return Err(malformed("its Ed25519 key is a weak (small-order) key"));
        }
        Ok(PublicKey { id, key })
    }

    /// The 32 bytes of the Ed25519 key.
    pub fn ed25519_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl fmt::Display for PublicKey {
    /// The one-line form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.id, self.to_base64())
    }
}

impl FromStr for PublicKey {
    type Err = SignError;

    fn from_str(text: &str) -> Result<PublicKey, SignError> {
        PublicKey::parse(text)
    }
}

/// A new key pair. The key id is `key_id` when given (minisign always draws it at random, as
/// this does without one).
pub fn generate(key_id: Option<KeyId>) -> Result<(SecretKey, PublicKey), SignError> {
    let id = match key_id {
        Some(id) => id,
        None => KeyId::random()?,
    };
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|error| SignError::Random(error.to_string()))?;
    let secret = SecretKey::from_seed(id, &seed);
    let public = secret.public_key();
    Ok((secret, public))
}
