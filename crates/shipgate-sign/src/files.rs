//! The only I/O: reading and writing key files.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::{PublicKey, SecretKey, SignError};

/// Key files are a few hundred bytes; anything much larger is not one.
const MAX_KEY_FILE: u64 = 16 * 1024;

/// Writes `key` to a new file at `path` with mode 0600, unencrypted or encrypted with
/// `password`, and syncs it. Never overwrites: an existing file is an error.
pub fn create_secret_key_file(path: &Path, key: &SecretKey, password: Option<&str>) -> Result<(), SignError> {
    let text = match password {
        Some(password) => key.to_encrypted_file_text(password)?,
        None => key.to_file_text(),
    };
    let io = |source| SignError::Io { doing: "write", path: path.to_owned(), source };
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io)?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    File::open(&dir).and_then(|dir| dir.sync_all()).map_err(|source| SignError::Io { doing: "sync", path: dir, source })
}

/// Reads the secret key file at `path`, refusing one that group or others can read (like ssh).
/// `password` is needed when the key is encrypted.
pub fn read_secret_key_file(path: &Path, password: Option<&str>) -> Result<SecretKey, SignError> {
    let file = File::open(path).map_err(|source| SignError::Io { doing: "read", path: path.to_owned(), source })?;
    let metadata = file.metadata().map_err(|source| SignError::Io { doing: "read", path: path.to_owned(), source })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SignError::Permissions { path: path.to_owned(), mode });
    }
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_FILE).read_to_string(&mut text).map_err(|source| SignError::Io {
        doing: "read",
        path: path.to_owned(),
        source,
    })?;
    SecretKey::parse(&text, password).map_err(|error| in_file(path, error))
}

/// Reads a public key file (`.pub`, or a file holding the one-line form).
pub fn read_public_key_file(path: &Path) -> Result<PublicKey, SignError> {
    let file = File::open(path).map_err(|source| SignError::Io { doing: "read", path: path.to_owned(), source })?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE).read_to_string(&mut text).map_err(|source| SignError::Io {
        doing: "read",
        path: path.to_owned(),
        source,
    })?;
    PublicKey::parse(&text).map_err(|error| in_file(path, error))
}

fn in_file(path: &Path, error: SignError) -> SignError {
    SignError::File { path: path.to_owned(), source: Box::new(error) }
}
