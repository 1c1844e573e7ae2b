//! The server's secrets key: one age X25519 identity. Values are encrypted to its recipient
//! (ASCII-armored age files, so `age -d -i secrets.key` opens one by hand) and stored; the key
//! itself stays in the data directory (`secrets.key`, mode 0600, in age-keygen's format) or
//! comes from a file or a command at the server's start, and is never stored in the database.
//!
//! What is encrypted is a small JSON document binding the value to its environment and name,
//! so a ciphertext copied to another row (another environment's `DATABASE_URL`) is refused
//! instead of silently injected.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use age::secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Error;

/// The key file's name in the server's data directory.
pub const KEY_FILE_NAME: &str = "secrets.key";

/// The server's age identity. Its `Debug` shows the public recipient only.
pub struct ServerKey {
    identity: age::x25519::Identity,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey").field("recipient", &self.recipient()).finish()
    }
}

/// The plaintext of a sealed value, as written.
#[derive(Serialize)]
struct Sealed<'a> {
    environment: &'a str,
    name: &'a str,
    value: &'a str,
}

/// The plaintext of a sealed value, as read: owned, since a value with a `"` or a `\` is
/// escaped in the JSON and cannot be borrowed from it.
#[derive(Deserialize)]
struct Opened {
    environment: String,
    name: String,
    value: String,
}

impl ServerKey {
    /// A fresh random key.
    pub fn generate() -> ServerKey {
        ServerKey { identity: age::x25519::Identity::generate() }
    }

    /// The key in `text`: the first line starting with `AGE-SECRET-KEY-1` (comments and blank
    /// lines, as age-keygen writes them, are skipped). `origin` names where it came from.
    pub fn parse(text: &str, origin: &str) -> Result<ServerKey, Error> {
        text.lines()
            .map(str::trim)
            .find(|line| line.starts_with("AGE-SECRET-KEY-1"))
            .and_then(|line| age::x25519::Identity::from_str(line).ok())
            .map(|identity| ServerKey { identity })
            .ok_or_else(|| Error::NoKey { origin: origin.to_owned() })
    }

    /// The public half (`age1…`), which anyone may know.
    pub fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    /// The key file's text, in age-keygen's format.
    fn file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# shipgate secrets key: keep it secret, keep a copy somewhere safe\n# public key: {}\n{}\n",
            self.recipient(),
            self.identity.to_string().expose_secret()
        ))
    }

    /// The key in `path`, created (0600, with `create_new`, so a concurrent start never
    /// overwrites one) when there is none. Returns whether it was created. A key file readable
    /// by group or others is refused.
    pub fn load_or_create(path: &Path) -> Result<(ServerKey, bool), Error> {
        match ServerKey::from_file(path) {
            Err(Error::ReadKey { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            other => return other.map(|key| (key, false)),
        }
        let key = ServerKey::generate();
        let write = |source| Error::WriteKey { path: path.to_path_buf(), source };
        let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(file) => file,
            // Another process created it first: use that one.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return ServerKey::from_file(path).map(|key| (key, false));
            }
            Err(error) => return Err(write(error)),
        };
        file.write_all(key.file_text().as_bytes()).and_then(|()| file.sync_all()).map_err(write)?;
        Ok((key, true))
    }

    /// The key in `path`, which must not be readable by group or others.
    pub fn from_file(path: &Path) -> Result<ServerKey, Error> {
        let read = |source| Error::ReadKey { path: path.to_path_buf(), source };
        let metadata = std::fs::metadata(path).map_err(read)?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::KeyMode { path: path.to_path_buf(), mode });
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(read)?);
        ServerKey::parse(&text, &format!("`{}`", path.display()))
    }

    /// The key printed by `command` (run with `sh -c`, e.g. `op read op://ops/shipgate/key`).
    pub fn from_command(command: &str, timeout: Duration) -> Result<ServerKey, Error> {
        let text = crate::command::CommandSource { command: command.to_owned(), timeout }.run("secrets key")?;
        ServerKey::parse(&text, &format!("the output of `{command}`"))
    }

    /// Encrypts `value` as the secret `name` of `environment`: an ASCII-armored age file.
    pub fn seal(&self, environment: &str, name: &str, value: &str) -> Result<String, Error> {
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&Sealed { environment, name, value })
                .map_err(|error| Error::Encrypt { name: name.to_owned(), reason: error.to_string() })?,
        );
        age::encrypt_and_armor(&self.identity.to_public(), &plaintext)
            .map_err(|error| Error::Encrypt { name: name.to_owned(), reason: error.to_string() })
    }

    /// Decrypts what [`seal`](Self::seal) made for `environment` and `name`.
    pub fn open(&self, environment: &str, name: &str, armored: &str) -> Result<Zeroizing<String>, Error> {
        let failed =
            |reason: String| Error::Decrypt { environment: environment.to_owned(), name: name.to_owned(), reason };
        let plaintext = Zeroizing::new(
            age::decrypt(&self.identity, armored.as_bytes()).map_err(|error| failed(error.to_string()))?,
        );
        // The parser's message may quote the plaintext: only its position is shown.
        let sealed: Opened = serde_json::from_slice(&plaintext).map_err(|error| {
            failed(format!("unexpected content (line {}, column {})", error.line(), error.column()))
        })?;
        if sealed.environment != environment || sealed.name != name {
            return Err(Error::Misplaced {
                environment: environment.to_owned(),
                name: name.to_owned(),
                found: format!("{}/{}", sealed.environment, sealed.name),
            });
        }
        Ok(Zeroizing::new(sealed.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        let key = ServerKey::generate();
        let value = "postgres://app:s3cr3t-p4ss@db/app";
        let sealed = key.seal("production", "DATABASE_URL", value).unwrap();
        assert!(sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{sealed}");
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(key.open("production", "DATABASE_URL", &sealed).unwrap().as_str(), value);
        // Every seal is fresh (a new ephemeral key): equal values do not look equal.
        assert_ne!(sealed, key.seal("production", "DATABASE_URL", value).unwrap());
    }

    #[test]
    fn regression_values_with_quotes_or_backslashes_open() {
        let key = ServerKey::generate();
        for value in ["pa\"ss\\word", "{\"json\":\"inside\"}", "line one\nline two", "tab\there"] {
            let sealed = key.seal("staging", "A", value).unwrap();
            assert_eq!(key.open("staging", "A", &sealed).unwrap().as_str(), value);
        }
    }

    #[test]
    fn a_moved_ciphertext_is_refused() {
        let key = ServerKey::generate();
        let sealed = key.seal("staging", "DATABASE_URL", "value-1").unwrap();
        assert!(matches!(key.open("production", "DATABASE_URL", &sealed), Err(Error::Misplaced { .. })));
        assert!(matches!(key.open("staging", "OTHER", &sealed), Err(Error::Misplaced { .. })));
    }

    #[test]
    fn another_key_cannot_open() {
        let sealed = ServerKey::generate().seal("staging", "A", "value-1").unwrap();
        let error = ServerKey::generate().open("staging", "A", &sealed).unwrap_err();
        assert!(matches!(error, Error::Decrypt { .. }), "{error}");
        assert!(error.hint().is_some());
    }

    #[test]
    fn key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let (key, created) = ServerKey::load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (again, created) = ServerKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(key.recipient(), again.recipient());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&format!("# public key: {}", key.recipient())));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(ServerKey::from_file(&path), Err(Error::KeyMode { mode: 0o644, .. })));
    }

    #[test]
    fn parse_finds_the_key_line() {
        let key = ServerKey::generate();
        let text = key.file_text();
        assert_eq!(ServerKey::parse(&text, "x").unwrap().recipient(), key.recipient());
        assert!(matches!(ServerKey::parse("# nothing\n", "x"), Err(Error::NoKey { .. })));
        assert!(matches!(ServerKey::parse("AGE-SECRET-KEY-1NOTAKEY", "x"), Err(Error::NoKey { .. })));
    }

    #[test]
    fn key_from_a_command() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (key, _) = ServerKey::load_or_create(&path).unwrap();
        let loaded = ServerKey::from_command(&format!("cat {}", path.display()), Duration::from_secs(5)).unwrap();
        assert_eq!(loaded.recipient(), key.recipient());
        assert!(matches!(ServerKey::from_command("true", Duration::from_secs(5)), Err(Error::CommandOutput { .. })));
        assert!(matches!(ServerKey::from_command("echo no key", Duration::from_secs(5)), Err(Error::NoKey { .. })));
    }
}
