//! Per-instance log files: the instance writes straight into `logs/ID.log` (opened with
//! `O_APPEND`, so it keeps working across agent restarts and upgrades), and the agent rotates the
//! file by size: copy to `ID.log.1` (older copies shift to `.2`, …), then truncate in place.
//! Lines written between the copy and the truncation may be lost; that is the price of letting
//! the instance own its file descriptor.

use std::path::{Path, PathBuf};

pub fn log_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("logs")
}

pub fn log_path(state_dir: &Path, id: &str) -> PathBuf {
    log_dir(state_dir).join(format!("{id}.log"))
}

/// Rotate `path` when it is over `max_bytes`, keeping `keep` older copies.
pub fn rotate_if_needed(path: &Path, max_bytes: u64, keep: u32) -> std::io::Result<bool> {
    let size = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error),
    };
    if size <= max_bytes {
        return Ok(false);
    }
    let numbered = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
    for n in (1..keep).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(&from, numbered(n + 1))?;
        }
    }
    if keep > 0 {
        std::fs::copy(path, numbered(1))?;
    }
    std::fs::OpenOptions::new().write(true).open(path)?.set_len(0)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_over_the_limit_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        for round in 0..4 {
            std::fs::write(&path, format!("round {round} {}", "x".repeat(100))).unwrap();
            assert!(rotate_if_needed(&path, 50, 2).unwrap());
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        assert!(std::fs::read_to_string(dir.path().join("a.log.1")).unwrap().starts_with("round 3"));
        assert!(std::fs::read_to_string(dir.path().join("a.log.2")).unwrap().starts_with("round 2"));
        assert!(!dir.path().join("a.log.3").exists());
        assert!(!rotate_if_needed(&path, 50, 2).unwrap());
    }
}
