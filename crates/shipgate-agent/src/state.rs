//! The desired state on disk: `STATE_DIR/state.json`, replaced atomically (write a temporary
//! file, fsync it, rename it over the old one, fsync the directory), owner-only.
//!
//! An instance's `env` and `secret_files` are never in it in the clear: its `spec` has them
//! empty and `sealed` holds them, encrypted to the agent's key ([`crate::sealed`]). A state file
//! from an agent that kept them in the clear is still read; they are sealed at its next write.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::{InstanceSpec, InstanceState, ServiceSpec};
use crate::error::Error;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persisted {
    pub services: BTreeMap<String, ServiceSpec>,
    pub instances: Vec<PersistedInstance>,
    #[serde(default)]
    pub next_id: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistedInstance {
    /// Without `env` and `secret_files` when `sealed` is set.
    pub spec: InstanceSpec,
    /// `env` and `secret_files`, age-encrypted to `STATE_DIR/secrets.key` for this instance's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    pub port: u16,
    pub state: InstanceState,
    #[serde(default)]
    pub restarts: u32,
    /// The runtime's identity of the running workload (pid and start time for processes).
    pub workload: Option<serde_json::Value>,
}

pub fn state_file(state_dir: &Path) -> PathBuf {
    state_dir.join("state.json")
}

pub fn load(state_dir: &Path) -> Result<Option<Persisted>, Error> {
    let path = state_file(state_dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Io { context: format!("cannot read `{}`", path.display()), source }),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|source| Error::State { path, source })
}

pub fn save(state_dir: &Path, state: &Persisted) -> Result<(), Error> {
    let path = state_file(state_dir);
    let tmp = state_dir.join(format!(".state.json.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| Error::Invalid(e.to_string()))?;
    let context = || format!("cannot write `{}`", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(Error::io(context()))?;
    file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(Error::io(context()))?;
    std::fs::rename(&tmp, &path).map_err(Error::io(context()))?;
    if let Ok(dir) = std::fs::File::open(state_dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let state = Persisted { next_id: 7, ..Persisted::default() };
        save(dir.path(), &state).unwrap();
        assert_eq!(load(dir.path()).unwrap().unwrap().next_id, 7);
        std::fs::write(state_file(dir.path()), "{").unwrap();
        assert!(matches!(load(dir.path()), Err(Error::State { .. })));
    }
}
