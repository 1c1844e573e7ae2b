//! Secret material in the state file: an instance's `env` and `secret_files` are kept in
//! `state.json` only as one age file (X25519, ASCII-armored) encrypted to the agent's own key,
//! `STATE_DIR/secrets.key` (age-keygen's format, mode 0600, created at first use, refused when
//! group or others can read it). The rest of the state stays readable JSON.
//!
//! The agent cannot tell a secret variable from a plain one (the server sends one `env`), so it
//! seals the whole environment of every instance that has one. The sealed document is bound to
//! the instance's id, so a sealed blob copied to another instance's entry is refused.
//!
//! The agent needs its key, not the server's, to restart a crashed instance while the server is
//! down: that is why it keeps the values at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use shipgate_secrets::ServerKey;
use zeroize::Zeroizing;

use crate::api::InstanceSpec;
use crate::error::Error;

/// The key file's name in the agent's state directory.
pub const KEY_FILE_NAME: &str = "secrets.key";

/// What a sealed document is bound to, with the instance's id.
const PURPOSE: &str = "agent-instance";

/// The plaintext of a sealed instance environment.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Secrets {
    env: BTreeMap<String, String>,
    #[serde(default)]
    secret_files: BTreeMap<String, String>,
}

/// The agent's key, loaded (or created) at first use.
pub struct StateKey {
    path: PathBuf,
    key: Mutex<Option<Arc<ServerKey>>>,
}

impl StateKey {
    pub fn new(state_dir: &Path) -> StateKey {
        StateKey { path: state_dir.join(KEY_FILE_NAME), key: Mutex::new(None) }
    }

    fn get(&self) -> Result<Arc<ServerKey>, Error> {
        let mut slot = self.key.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = &*slot {
            return Ok(key.clone());
        }
        let (key, created) = ServerKey::load_or_create(&self.path).map_err(|error| {
            let hint = match &error {
                shipgate_secrets::Error::KeyMode { .. } => format!("; run `chmod 600 {}`", self.path.display()),
                _ => String::new(),
            };
            Error::Secrets(format!("the agent's key for secrets in its state file is unusable: {error}{hint}"))
        })?;
        if created {
            tracing::info!(path = %self.path.display(), "created the agent's key for secrets in its state file");
        }
        let key = Arc::new(key);
        *slot = Some(key.clone());
        Ok(key)
    }

    /// `spec`'s environment and secret files, sealed for instance `id`; `None` when it has
    /// neither.
    pub fn seal(&self, id: &str, spec: &InstanceSpec) -> Result<Option<String>, Error> {
        if spec.env.is_empty() && spec.secret_files.is_empty() {
            return Ok(None);
        }
        let document = Secrets { env: spec.env.clone(), secret_files: spec.secret_files.clone() };
        let plaintext = Zeroizing::new(
            serde_json::to_string(&document).map_err(|error| Error::Secrets(format!("cannot seal `{id}`: {error}")))?,
        );
        let key = self.get()?;
        key.seal(PURPOSE, id, &plaintext)
            .map(Some)
            .map_err(|error| Error::Secrets(format!("cannot seal the environment of instance `{id}`: {error}")))
    }

    /// Puts what [`seal`](Self::seal) made for instance `id` back into `spec`.
    pub fn open_into(&self, id: &str, sealed: &str, spec: &mut InstanceSpec) -> Result<(), Error> {
        let failed = |reason: String| {
            Error::Secrets(format!(
                "cannot open the sealed environment of instance `{id}` in the state file: {reason}; \
                 was `{}` replaced or lost? the instance is not started again until it is deployed anew",
                self.path.display()
            ))
        };
        let key = self.get()?;
        let plaintext = key.open(PURPOSE, id, sealed).map_err(|error| failed(error.to_string()))?;
        let document: Secrets =
            // The parser's message may quote the plaintext: only its position is shown.
            serde_json::from_str(&plaintext).map_err(|error| {
                failed(format!("unexpected content (line {}, column {})", error.line(), error.column()))
            })?;
        spec.env = document.env;
        spec.secret_files = document.secret_files;
        Ok(())
    }
}

/// `spec` without its environment and secret files: what the state file shows in the clear.
pub fn stripped(spec: &InstanceSpec) -> InstanceSpec {
    InstanceSpec { env: BTreeMap::new(), secret_files: BTreeMap::new(), ..spec.clone() }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn spec() -> InstanceSpec {
        serde_json::from_value(serde_json::json!({
            "id": "web-1", "service": "web", "version": "1", "artifact_dir": "/", "command": ["true"],
            "env": {"DB_URL": "postgres://u:Pw9xQ2zR@db/app", "PLAIN": "1"},
            "secret_files": {"TLS_KEY": "key-material-Jk3"}
        }))
        .unwrap()
    }

    #[test]
    fn seals_and_opens_with_a_private_key_made_at_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let key = StateKey::new(dir.path());
        let empty = stripped(&spec());
        assert_eq!(key.seal("web-1", &empty).unwrap(), None, "nothing to seal: no key needed");
        assert!(!dir.path().join(KEY_FILE_NAME).exists());

        let sealed = key.seal("web-1", &spec()).unwrap().unwrap();
        assert!(!sealed.contains("Pw9xQ2zR") && !sealed.contains("Jk3") && !sealed.contains("DB_URL"));
        let mode = std::fs::metadata(dir.path().join(KEY_FILE_NAME)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        // A new agent (same state directory) opens it; another instance's entry does not.
        let again = StateKey::new(dir.path());
        let mut restored = stripped(&spec());
        again.open_into("web-1", &sealed, &mut restored).unwrap();
        assert_eq!(restored, spec());
        let error = again.open_into("web-2", &sealed, &mut stripped(&spec())).unwrap_err().to_string();
        assert!(error.contains("instance `web-2`"), "{error}");

        // Another key cannot open it, and says which file to look at.
        let other = tempfile::tempdir().unwrap();
        let error = StateKey::new(other.path()).open_into("web-1", &sealed, &mut stripped(&spec())).unwrap_err();
        assert!(error.to_string().contains(KEY_FILE_NAME), "{error}");
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        StateKey::new(dir.path()).seal("web-1", &spec()).unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = StateKey::new(dir.path()).seal("web-1", &spec()).unwrap_err().to_string();
        assert!(error.contains("chmod 600") && error.contains("0600"), "{error}");
    }
}
