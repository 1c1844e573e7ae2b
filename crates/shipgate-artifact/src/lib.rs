//! Content-addressed storage of release artifacts.
//!
//! An artifact is a file, a directory or a `.tar.gz` archive. Its identity is a sha256 digest:
//! of the bytes for a file or an archive; for a directory, of a manifest listing every entry in
//! byte order of its path (directories, files with their executable bit and content digest,
//! symlinks with their target), so the same tree gives the same digest on any machine.
//! `store` copies it to `ROOT/sha256/<hex>` through a temporary name and an atomic rename, and
//! checks the copy's digest before the rename, so a file changed while it was copied is never
//! stored under the wrong name. Instances run from the stored copy, never from the working tree.

#![forbid(unsafe_code)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` changed while it was copied (digest {expected} before, {actual} after)")]
    Changed { path: PathBuf, expected: String, actual: String },
    #[error("`{path}` is neither a file nor a directory")]
    Unsupported { path: PathBuf },
}

/// What kind of thing the artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    /// A `.tar.gz` / `.tgz`, stored as is.
    Archive,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Directory => "directory",
            Kind::Archive => "archive",
        }
    }
}

/// An artifact's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `sha256:<64 hex digits>`.
    pub digest: String,
    pub kind: Kind,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Read { path: path.to_path_buf(), source }
}

fn file_digest(path: &Path) -> Result<String, ArtifactError> {
    let mut file = fs::File::open(path).map_err(read_error(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(read_error(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

fn is_archive(path: &Path) -> bool {
    let name = path.file_name().map(|name| name.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// The manifest of a directory: one line per entry, sorted by path bytes.
fn manifest(root: &Path) -> Result<String, ArtifactError> {
    let mut lines = Vec::new();
    walk(root, root, &mut lines)?;
    lines.sort();
    Ok(lines.concat())
}

fn walk(root: &Path, dir: &Path, lines: &mut Vec<String>) -> Result<(), ArtifactError> {
    for entry in fs::read_dir(dir).map_err(read_error(dir))? {
        let entry = entry.map_err(read_error(dir))?;
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        let metadata = fs::symlink_metadata(&path).map_err(read_error(&path))?;
        if metadata.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(read_error(&path))?;
            lines.push(format!("L {relative}\0{}\n", target.to_string_lossy()));
        } else if metadata.is_dir() {
            lines.push(format!("D {relative}\n"));
            walk(root, &path, lines)?;
        } else if metadata.is_file() {
            let executable = metadata.permissions().mode() & 0o111 != 0;
            lines.push(format!("F {relative}\0{}\0{}\n", u8::from(executable), file_digest(&path)?));
        } else {
            return Err(ArtifactError::Unsupported { path });
        }
    }
    Ok(())
}

/// The artifact at `path`, digested without copying it.
pub fn digest(path: &Path) -> Result<Artifact, ArtifactError> {
    let metadata = fs::metadata(path).map_err(read_error(path))?;
    if metadata.is_dir() {
        let manifest = manifest(path)?;
        return Ok(Artifact {
            digest: format!("sha256:{}", hex(&Sha256::digest(manifest.as_bytes()))),
            kind: Kind::Directory,
        });
    }
    if !metadata.is_file() {
        return Err(ArtifactError::Unsupported { path: path.to_path_buf() });
    }
    let kind = if is_archive(path) { Kind::Archive } else { Kind::File };
    Ok(Artifact { digest: format!("sha256:{}", file_digest(path)?), kind })
}

/// Where the artifact with `digest` lives under `root`.
pub fn stored_path(root: &Path, digest: &str) -> PathBuf {
    root.join("sha256").join(digest.trim_start_matches("sha256:"))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), ArtifactError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArtifactError::Write { path, source }
    };
    let metadata = fs::symlink_metadata(from).map_err(read_error(from))?;
    if metadata.file_type().is_symlink() {
        let target = fs::read_link(from).map_err(read_error(from))?;
        std::os::unix::fs::symlink(target, to).map_err(write_error(to))
    } else if metadata.is_dir() {
        fs::create_dir(to).map_err(write_error(to))?;
        for entry in fs::read_dir(from).map_err(read_error(from))? {
            let entry = entry.map_err(read_error(from))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        fs::copy(from, to).map_err(write_error(to))?;
        // Read-only copies: nothing should edit a stored artifact in place.
        let mode = if metadata.permissions().mode() & 0o111 != 0 { 0o555 } else { 0o444 };
        fs::set_permissions(to, fs::Permissions::from_mode(mode)).map_err(write_error(to))
    }
}

/// Copies the artifact at `path` into `root` under its digest (a no-op when already there).
pub fn store(path: &Path, root: &Path) -> Result<Artifact, ArtifactError> {
    let artifact = digest(path)?;
    let destination = stored_path(root, &artifact.digest);
    if destination.exists() {
        return Ok(artifact);
    }
    let parent = destination.parent().unwrap_or(root);
    fs::create_dir_all(parent).map_err(|source| ArtifactError::Write { path: parent.to_path_buf(), source })?;
    let temporary =
        parent.join(format!(".incoming-{}-{}", std::process::id(), artifact.digest.trim_start_matches("sha256:")));
    let _ = fs::remove_dir_all(&temporary);
    let _ = fs::remove_file(&temporary);
    let result = copy_tree(path, &temporary).and_then(|()| {
        let copied = digest(&temporary)?;
        if copied.digest != artifact.digest {
            return Err(ArtifactError::Changed {
                path: path.to_path_buf(),
                expected: artifact.digest.clone(),
                actual: copied.digest,
            });
        }
        fs::rename(&temporary, &destination)
            .map_err(|source| ArtifactError::Write { path: destination.clone(), source })
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&temporary);
        let _ = fs::remove_file(&temporary);
    }
    result.map(|()| artifact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unwrap_used)]
    fn tree(root: &Path) {
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("bin/server"), "#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(root.join("bin/server"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(root.join("config.txt"), "x=1\n").unwrap();
        std::os::unix::fs::symlink("bin/server", root.join("run")).unwrap();
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_directory_digest_depends_on_content_names_and_modes_only() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        tree(&one);
        tree(&two);
        let first = digest(&one).unwrap();
        assert_eq!(first.kind, Kind::Directory);
        assert_eq!(first, digest(&two).unwrap(), "same tree elsewhere, same digest");
        fs::set_permissions(two.join("config.txt"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(first, digest(&two).unwrap(), "the executable bit counts");
        fs::set_permissions(two.join("config.txt"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(two.join("config.txt"), "x=2\n").unwrap();
        assert_ne!(first, digest(&two).unwrap(), "content counts");
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn store_copies_read_only_under_the_digest_once() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("app");
        tree(&source);
        let root = dir.path().join("cas");
        let stored = store(&source, &root).unwrap();
        let path = stored_path(&root, &stored.digest);
        assert_eq!(digest(&path).unwrap(), stored);
        assert!(fs::metadata(path.join("config.txt")).unwrap().permissions().readonly());
        assert_eq!(store(&source, &root).unwrap(), stored, "storing again is a no-op");

        let archive = dir.path().join("app.tar.gz");
        fs::write(&archive, b"\x1f\x8b not really gzip").unwrap();
        let stored_archive = store(&archive, &root).unwrap();
        assert_eq!(stored_archive.kind, Kind::Archive);
        assert_eq!(fs::read(stored_path(&root, &stored_archive.digest)).unwrap(), fs::read(&archive).unwrap());
        assert!(digest(&dir.path().join("missing")).is_err());
    }
}
