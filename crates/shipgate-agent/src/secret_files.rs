//! Secrets delivered as files (`[secrets] NAME = { file = true }`): before each start of an
//! instance, every entry of [`InstanceSpec::secret_files`] is written to
//! `DIR/NAME` (mode 0400) in a per-instance directory (mode 0700) on a tmpfs, so the value never
//! reaches a disk, and `NAME_FILE=DIR/NAME` is added to the instance's environment. The
//! directory is removed when the instance is removed (stopped for good), not when it merely
//! restarts.
//!
//! The tmpfs is `$XDG_RUNTIME_DIR` when the agent has one (a systemd user session), else
//! `/dev/shm`; its filesystem is checked (`statfs`: tmpfs or ramfs) before anything is written,
//! and a disk-backed directory is refused. Under it, `shipgate-secrets-UID/AGENT/INSTANCE`, where `AGENT` tells agents with
//! different state directories apart (two agents may run instances with the same id). Every
//! directory on the way is created 0700 and must be owned by this user and not be a symlink, so
//! another user of a shared `/dev/shm` cannot plant or read anything.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::api::InstanceSpec;
use crate::error::Error;

/// The tmpfs the directories live on, and where its name came from.
fn tmpfs() -> (PathBuf, &'static str) {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() && dir.is_dir() => (dir, "`$XDG_RUNTIME_DIR`"),
        _ => (PathBuf::from("/dev/shm"), "the default"),
    }
}

/// `statfs` magic numbers of the memory-backed filesystems (linux/magic.h).
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// Whether `dir` is on a memory-backed filesystem: `Ok(())`, or what it is on.
fn memory_backed(dir: &Path) -> Result<(), String> {
    let stat = rustix::fs::statfs(dir).map_err(|error| format!("cannot tell its filesystem: {error}"))?;
    // `f_type` is a signed word on some targets: compare the low 32 bits, as the kernel sets them.
    #[allow(clippy::unnecessary_cast)]
    let kind = (stat.f_type as i64) & 0xffff_ffff;
    if kind == TMPFS_MAGIC || kind == RAMFS_MAGIC {
        Ok(())
    } else {
        Err(format!("it is not a tmpfs or ramfs (filesystem type {kind:#x}), so the files would reach a disk"))
    }
}

/// Refuses when the directory secret files would go to is not memory-backed.
pub fn check_memory_backed() -> Result<(), Error> {
    let (dir, origin) = tmpfs();
    memory_backed(&dir).map_err(|problem| {
        Error::Secrets(format!(
            "refusing to write secret files to `{}` ({origin}): {problem}; run the agent with `XDG_RUNTIME_DIR` \
             set to a tmpfs it owns (e.g. a systemd user session's `/run/user/UID`), or unset it and mount \
             `/dev/shm` as a tmpfs",
            dir.display()
        ))
    })
}

/// FNV-1a over the state directory's path: stable across agent versions (unlike std's hasher),
/// so an upgraded agent still finds the directories its predecessor made.
fn agent_key(state_dir: &Path) -> String {
    let path = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The directory of `instance`'s secret files.
pub fn instance_dir(state_dir: &Path, instance: &str) -> PathBuf {
    let uid = rustix::process::geteuid().as_raw();
    tmpfs().0.join(format!("shipgate-secrets-{uid}")).join(agent_key(state_dir)).join(instance)
}

/// Creates `dir` with mode 0700 if needed, and checks that it is a real directory of ours that
/// nobody else can enter.
fn private_dir(dir: &Path) -> Result<(), Error> {
    let context = || format!("cannot prepare the secrets directory `{}`", dir.display());
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(Error::Io { context: context(), source }),
    }
    let metadata = std::fs::symlink_metadata(dir).map_err(|source| Error::Io { context: context(), source })?;
    if !metadata.is_dir() || metadata.uid() != rustix::process::geteuid().as_raw() {
        return Err(Error::Invalid(format!(
            "`{}` is not a directory owned by the agent's user; refusing to put secrets there",
            dir.display()
        )));
    }
    if metadata.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|source| Error::Io { context: context(), source })?;
    }
    Ok(())
}

/// What the runtime starts: `spec` with its secret files written and `NAME_FILE` variables in
/// its environment (and the values themselves taken out of the spec it is given).
pub fn prepare(state_dir: &Path, spec: &InstanceSpec) -> Result<InstanceSpec, Error> {
    let mut prepared = spec.clone();
    if spec.secret_files.is_empty() {
        return Ok(prepared);
    }
    check_memory_backed()?;
    let files = std::mem::take(&mut prepared.secret_files);
    let id = spec.id.as_deref().unwrap_or("unnamed");
    let dir = instance_dir(state_dir, id);
    let mut ancestors: Vec<&Path> = dir.ancestors().take(3).collect();
    ancestors.reverse();
    for ancestor in ancestors {
        private_dir(ancestor)?;
    }
    for (name, path) in write_files(&dir, &files)? {
        prepared.env.insert(format!("{name}_FILE"), path.to_string_lossy().into_owned());
    }
    Ok(prepared)
}

fn write_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<Vec<(String, PathBuf)>, Error> {
    let mut written = Vec::new();
    for (name, value) in files {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Invalid(format!("secret file name `{name}` must be letters, digits and `_`")));
        }
        let path = dir.join(name);
        let context = || format!("cannot write the secret file `{}`", path.display());
        // A file left by an earlier start is read-only: replace it.
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&path)
            .map_err(|source| Error::Io { context: context(), source })?;
        file.write_all(value.as_bytes()).map_err(|source| Error::Io { context: context(), source })?;
        written.push((name.clone(), path));
    }
    Ok(written)
}

/// Removes `instance`'s secret files, if any.
pub fn remove(state_dir: &Path, instance: &str) {
    let dir = instance_dir(state_dir, instance);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(instance, dir = %dir.display(), %error, "cannot remove the secret files"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_private_and_removed() {
        let state = tempfile::tempdir().unwrap();
        let spec = InstanceSpec {
            id: Some("web-1".into()),
            service: "web".into(),
            version: "1".into(),
            artifact_dir: state.path().to_path_buf(),
            command: vec!["true".into()],
            env: BTreeMap::new(),
            secret_files: [("TLS_KEY".to_owned(), "-----BEGIN KEY-----".to_owned())].into_iter().collect(),
            ..serde_json::from_value(serde_json::json!({
                "service": "web", "version": "1", "artifact_dir": "/", "command": ["true"]
            }))
            .unwrap()
        };
        let prepared = prepare(state.path(), &spec).unwrap();
        assert!(prepared.secret_files.is_empty());
        let path = PathBuf::from(&prepared.env["TLS_KEY_FILE"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "-----BEGIN KEY-----");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o400);
        let dir = path.parent().unwrap();
        assert_eq!(dir, instance_dir(state.path(), "web-1"));
        assert_eq!(std::fs::metadata(dir).unwrap().mode() & 0o777, 0o700);
        // A restart writes them again over the read-only file.
        prepare(state.path(), &spec).unwrap();
        remove(state.path(), "web-1");
        assert!(!dir.exists());
        // Another agent's instance of the same id lives elsewhere.
        let other = tempfile::tempdir().unwrap();
        assert_ne!(instance_dir(other.path(), "web-1"), instance_dir(state.path(), "web-1"));
    }

    #[test]
    fn only_memory_backed_directories_take_secret_files() {
        // The source tree is on a disk (unless the whole checkout lives on a tmpfs).
        let disk = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let on_disk = rustix::fs::statfs(disk.path()).unwrap();
        #[allow(clippy::unnecessary_cast)]
        let kind = (on_disk.f_type as i64) & 0xffff_ffff;
        if kind == TMPFS_MAGIC || kind == RAMFS_MAGIC {
            eprintln!("SKIPPED the disk case: the checkout is on a tmpfs");
            return;
        }
        let problem = memory_backed(disk.path()).unwrap_err();
        assert!(problem.contains("not a tmpfs") && problem.contains(&format!("{kind:#x}")), "{problem}");
    }
}
