//! The ledger's Ed25519 signing key and the public keys that verify its checkpoints.
//!
//! Keys use the formats of the C2SP signed-note ecosystem (Go's `sumdb/note`):
//!
//! - a verifier key, printed by `shipgate audit pubkey` and given to `--pubkey`, is
//!   `<name>+<key id as 8 hex digits>+<base64(0x01 ‖ 32-byte public key)>`;
//! - the signing key file holds `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`.
//!
//! The key id is the first four bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), and
//! the name is the ledger's origin. The key file is created with mode 0600 and refused
//! when group or others can read it.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer as _;
use zeroize::Zeroizing;

use crate::LedgerError;

/// The signature type of Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;

/// The key file's name in the data directory.
pub const KEY_FILE_NAME: &str = "ledger.key";

/// Where a rotation writes the next key before the ledger records it.
pub const NEXT_KEY_FILE_NAME: &str = "ledger.key.next";

/// The ledger's private key.
pub struct SigningKey {
    name: String,
    id: u32,
    key: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}+{:08x})", self.name, self.id)
    }
}

impl SigningKey {
    /// A new random key named `name` (the ledger's origin).
    pub fn generate(name: &str) -> Result<SigningKey, LedgerError> {
        check_name(name)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|error| LedgerError::Random(error.to_string()))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        Ok(SigningKey::from_parts(name, key))
    }

    fn from_parts(name: &str, key: ed25519_dalek::SigningKey) -> SigningKey {
        let id = key_id(name, &key.verifying_key().to_bytes());
        SigningKey { name: name.to_owned(), id, key }
    }

    /// Reads the `PRIVATE+KEY+…` text form.
    pub fn parse(text: &str) -> Result<SigningKey, String> {
        // The base64 key may itself contain `+`: it is whatever follows the fourth one.
        let parts: Vec<&str> = text.trim().splitn(5, '+').collect();
        let [private, key_word, name, id, data] = parts.as_slice() else {
            return Err("it is not of the form PRIVATE+KEY+<name>+<id>+<key>".into());
        };
        if *private != "PRIVATE" || *key_word != "KEY" {
            return Err("it does not start with PRIVATE+KEY".into());
        }
        check_name(name).map_err(|error| error.to_string())?;
        let data = Zeroizing::new(BASE64.decode(data).map_err(|_| "its key is not base64".to_owned())?);
        let Some((&ALG_ED25519, seed)) = data.split_first() else {
            return Err("it is not an Ed25519 key".into());
        };
        let seed: &[u8; 32] = seed.try_into().map_err(|_| "its Ed25519 seed is not 32 bytes".to_owned())?;
        let key = SigningKey::from_parts(name, ed25519_dalek::SigningKey::from_bytes(seed));
        if format!("{:08x}", key.id) != *id {
            return Err("its key id does not match the key".into());
        }
        Ok(key)
    }

    /// The `PRIVATE+KEY+…` text form.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut data = Zeroizing::new(vec![ALG_ED25519]);
        data.extend_from_slice(self.key.as_bytes());
        Zeroizing::new(format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.id, BASE64.encode(&*data)))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// The public half.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey::from_parts(&self.name, self.key.verifying_key())
    }
}

impl signed_note::Signer for SigningKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// A public key that verifies checkpoints: `<name>+<id>+<base64>`.
#[derive(Clone)]
pub struct VerifierKey {
    text: String,
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl VerifierKey {
    fn from_parts(name: &str, key: ed25519_dalek::VerifyingKey) -> VerifierKey {
        let id = key_id(name, &key.to_bytes());
        let mut data = vec![ALG_ED25519];
        data.extend_from_slice(&key.to_bytes());
        VerifierKey { text: format!("{name}+{id:08x}+{}", BASE64.encode(&data)), name: name.to_owned(), id, key }
    }

    /// Reads the `<name>+<id>+<base64(0x01 ‖ key)>` form.
    pub fn parse(text: &str) -> Result<VerifierKey, LedgerError> {
        let bad = |reason: &'static str| LedgerError::BadPublicKey { key: text.to_owned(), reason };
        // The base64 key may itself contain `+`: it is whatever follows the second one.
        let parts: Vec<&str> = text.trim().splitn(3, '+').collect();
        let [name, id, data] = parts.as_slice() else {
            return Err(bad("it is not of the form <name>+<key id>+<base64 key>"));
        };
        check_name(name).map_err(|_| bad("its name is empty or has a space or a `+`"))?;
        let data = BASE64.decode(data).map_err(|_| bad("its key is not base64"))?;
        let Some((&ALG_ED25519, key)) = data.split_first() else { return Err(bad("it is not an Ed25519 key")) };
        let key: &[u8; 32] = key.try_into().map_err(|_| bad("its Ed25519 key is not 32 bytes"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(key).map_err(|_| bad("it is not a valid Ed25519 key"))?;
        let parsed = VerifierKey::from_parts(name, key);
        if format!("{:08x}", parsed.id) != *id {
            return Err(bad("its key id does not match the key"));
        }
        Ok(parsed)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// `name+id`, how a signature line names its key.
    pub fn short(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for VerifierKey {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.key == other.key
    }
}

impl Eq for VerifierKey {}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({})", self.text)
    }
}

impl signed_note::Verifier for VerifierKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else { return false };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

/// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4], big-endian.
fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut encoded = vec![ALG_ED25519];
    encoded.extend_from_slice(public);
    signed_note::key_id(name, &encoded)
}

fn check_name(name: &str) -> Result<(), LedgerError> {
    if signed_note::is_key_name_valid(name) { Ok(()) } else { Err(LedgerError::BadOrigin { origin: name.to_owned() }) }
}

/// Reads the key at `path`: `None` when there is no file.
pub fn read_key_file(path: &Path) -> Result<Option<SigningKey>, LedgerError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LedgerError::KeyFile { path: path.to_owned(), source }),
    };
    let metadata = file.metadata().map_err(|source| LedgerError::KeyFile { path: path.to_owned(), source })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(LedgerError::KeyPermissions { path: path.to_owned(), mode });
    }
    let mut text = Zeroizing::new(String::new());
    file.take(4096)
        .read_to_string(&mut text)
        .map_err(|source| LedgerError::KeyFile { path: path.to_owned(), source })?;
    SigningKey::parse(&text).map(Some).map_err(|reason| LedgerError::KeyMalformed { path: path.to_owned(), reason })
}

/// Writes `key` to a new file at `path`, mode 0600, durably. Fails if the file exists.
pub fn create_key_file(path: &Path, key: &SigningKey) -> Result<(), LedgerError> {
    let failed = |source| LedgerError::KeyFile { path: path.to_owned(), source };
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(failed)?;
    let mut text = key.to_text();
    text.push('\n');
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(failed)?;
    sync_dir(path)
}

/// Moves `from` over `to` and makes the rename durable.
pub fn replace_key_file(from: &Path, to: &Path) -> Result<(), LedgerError> {
    std::fs::rename(from, to).map_err(|source| LedgerError::KeyFile { path: to.to_owned(), source })?;
    sync_dir(to)
}

fn sync_dir(path: &Path) -> Result<(), LedgerError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    File::open(&dir).and_then(|dir| dir.sync_all()).map_err(|source| LedgerError::KeyFile { path: dir, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text() {
        // Many keys, so that base64 text with `+` and `/` in it is among them.
        for _ in 0..64 {
            let key = SigningKey::generate("shipgate/ledger/test").unwrap();
            assert_eq!(SigningKey::parse(&key.to_text()).unwrap().verifier(), key.verifier());
            assert_eq!(VerifierKey::parse(key.verifier().as_str()).unwrap(), key.verifier());
        }
        let key = SigningKey::generate("shipgate/ledger/test").unwrap();
        let again = SigningKey::parse(&key.to_text()).unwrap();
        assert_eq!(again.verifier(), key.verifier());
        assert_eq!(again.id(), key.id());
        let public = VerifierKey::parse(key.verifier().as_str()).unwrap();
        assert_eq!(public, key.verifier());
        assert_eq!(public.short(), format!("shipgate/ledger/test+{:08x}", key.id()));
    }

    /// The key id follows c2sp.org/signed-note, as computed by the `signed_note` crate
    /// (a port of Go's reference implementation), and its verifier-key text matches.
    #[test]
    fn key_ids_and_texts_match_the_reference() {
        let key = SigningKey::generate("example.com/log").unwrap();
        let verifier = key.verifier();
        let reference = signed_note::StandardVerifier::new(verifier.as_str()).unwrap();
        assert_eq!(signed_note::Verifier::key_id(&reference), key.id());
        let signer = signed_note::StandardSigner::new(&key.to_text()).unwrap();
        assert_eq!(signed_note::Signer::key_id(&signer), key.id());
    }

    #[test]
    fn bad_public_keys_are_refused() {
        let good = SigningKey::generate("origin").unwrap().verifier().as_str().to_owned();
        let other = SigningKey::generate("origin").unwrap().verifier().as_str().to_owned();
        let (name_id, _) = good.rsplit_once('+').unwrap();
        let (_, other_data) = other.rsplit_once('+').unwrap();
        for text in [
            "".to_owned(),
            "origin".to_owned(),
            format!("{name_id}+notbase64!"),
            format!("{name_id}+{other_data}"),
            good.replacen("origin", "or igin", 1),
            format!("{name_id}+{}", BASE64.encode([2u8; 33])),
            format!("{name_id}+{}", BASE64.encode([1u8; 12])),
        ] {
            assert!(VerifierKey::parse(&text).is_err(), "{text}");
        }
    }

    #[test]
    fn key_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        assert!(read_key_file(&path).unwrap().is_none());
        let key = SigningKey::generate("origin").unwrap();
        create_key_file(&path, &key).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_key_file(&path).unwrap().unwrap().verifier(), key.verifier());
        assert!(create_key_file(&path, &key).is_err(), "never overwritten");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_key_file(&path), Err(LedgerError::KeyPermissions { mode: 0o644, .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "PRIVATE+KEY+origin+00000000+AAAA").unwrap();
        assert!(matches!(read_key_file(&path), Err(LedgerError::KeyMalformed { .. })));
    }
}
