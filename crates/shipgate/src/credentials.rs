//! The credentials file: server URL → API token, readable only by its owner.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use anyhow::{Context, anyhow};

use crate::env_vars;

/// `SHIPGATE_CREDENTIALS`, else `$XDG_CONFIG_HOME/shipgate/credentials.json`, else
/// `~/.config/shipgate/credentials.json`.
pub fn path() -> anyhow::Result<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    if let Some(path) = set(env_vars::SHIPGATE_CREDENTIALS) {
        return Ok(path);
    }
    let config = set(env_vars::XDG_CONFIG_HOME)
        .filter(|path| path.is_absolute())
        .or_else(|| set(env_vars::HOME).map(|home| home.join(".config")))
        .ok_or_else(|| anyhow!("neither XDG_CONFIG_HOME nor HOME is set"))?;
    Ok(config.join("shipgate/credentials.json"))
}

/// Records `token` for `url`, keeping other servers' entries; written atomically, mode 0600.
pub fn save_token(url: &str, token: &str) -> anyhow::Result<PathBuf> {
    let path = path()?;
    let dir = path.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create `{}`", dir.display()))?;
    let mut document: serde_json::Value = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| serde_json::json!({"servers": {}}));
    document["servers"][url.trim_end_matches('/')] = serde_json::json!({"token": token});
    let temporary = dir.join(format!(".credentials-{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
    file.write_all(serde_json::to_string_pretty(&document)?.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    Ok(path)
}
