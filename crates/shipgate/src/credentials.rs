//! API tokens for shipgate servers: from `SHIPGATE_TOKEN`, or from the credentials file.
//!
//! The file is JSON, `{"servers": {"http://127.0.0.1:7300": {"token": "…"}}}`, keyed by server
//! URL without a trailing slash. Its path is `$SHIPGATE_CREDENTIALS`, else
//! `$XDG_CONFIG_HOME/shipgate/credentials.json`, else `~/.config/shipgate/credentials.json`. It is
//! written owner-only (0600, in a 0700 folder) and refused when others could read it.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};

use crate::env_vars;
use crate::exit::Failure;

/// A URL as a key of the credentials file: no trailing slash.
pub fn url_key(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Where the credentials file is, given a way to read the environment.
fn path_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|value| !value.is_empty());
    if let Some(path) = set(env_vars::SHIPGATE_CREDENTIALS) {
        return Some(PathBuf::from(path));
    }
    // The XDG spec says to ignore a relative `XDG_CONFIG_HOME`.
    let config = set(env_vars::XDG_CONFIG_HOME)
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| set(env_vars::HOME).map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("shipgate").join("credentials.json"))
}

/// Where the credentials file is for this process; `None` when neither `HOME` nor any of the
/// variables naming it is set.
pub fn path() -> Option<PathBuf> {
    path_from(|name| std::env::var_os(name))
}

/// Where a token was found, so a refusal can say which one to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Env,
    File(PathBuf),
    /// None was found; the path is where one would have been looked for.
    Missing(Option<PathBuf>),
}

/// The token to send to `url`, and where it came from.
pub fn token_for(url: &str) -> Result<(Option<String>, TokenSource), Failure> {
    if let Some(token) = std::env::var(env_vars::SHIPGATE_TOKEN).ok().filter(|token| !token.is_empty()) {
        return Ok((Some(token), TokenSource::Env));
    }
    let path = path();
    let Some(file) = &path else { return Ok((None, TokenSource::Missing(None))) };
    match read_token(file, url)? {
        Some(token) => Ok((Some(token), TokenSource::File(file.clone()))),
        None => Ok((None, TokenSource::Missing(path))),
    }
}

/// The token for `url` in the file at `path`; `None` when the file or the entry does not exist.
/// A file that others could read is refused: the token in it is no longer a secret.
fn read_token(path: &Path, url: &str) -> Result<Option<String>, Failure> {
    let shown = path.display();
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(Failure::usage(anyhow::Error::new(error).context(format!("cannot read `{shown}`"))));
        }
    };
    check_private(path)?;
    let file: serde_json::Value =
        serde_json::from_str(&text)
            .with_context(|| format!("`{shown}` is not valid JSON"))
            .map_err(|error| Failure::usage(error).hint(format!("it should look like {EXAMPLE}")))?;
    Ok(file
        .get("servers")
        .and_then(|servers| servers.get(url_key(url)))
        .and_then(|entry| entry.get("token"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned))
}

const EXAMPLE: &str = r#"`{"servers": {"http://127.0.0.1:7300": {"token": "…"}}}`"#;

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|error| {
            Failure::usage(anyhow::Error::new(error).context(format!("cannot read `{}`", path.display())))
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Failure::usage(anyhow!(
            "`{}` can be read by other users (mode {:o}); refusing to use the tokens in it",
            path.display(),
            mode & 0o777
        ))
        .hint(format!("`chmod 600 {}`, and replace the tokens if others could have read them", path.display())));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), Failure> {
    Ok(())
}

/// Record `token` for the server at `url` in this user's credentials file, keeping every other
/// entry, and return the file's path. The folder is created 0700; the file is replaced
/// atomically by a 0600 temporary file in the same folder, synced before the rename.
pub fn save_token(url: &str, token: &str) -> anyhow::Result<PathBuf> {
    let path = path().ok_or_else(|| {
        anyhow!("cannot tell where to keep the API token: neither `HOME` nor `XDG_CONFIG_HOME` is set")
    })?;
    save_token_at(&path, url, token)?;
    Ok(path)
}

fn save_token_at(path: &Path, url: &str, token: &str) -> anyhow::Result<()> {
    let shown = path.display();
    let folder = path.parent().filter(|folder| !folder.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(folder).with_context(|| format!("cannot create `{}`", folder.display()))?;
    let mut file = match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
            .with_context(|| format!("`{shown}` is not valid JSON; not overwriting it"))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(error) => return Err(anyhow::Error::new(error).context(format!("cannot read `{shown}`"))),
    };
    let Some(root) = file.as_object_mut() else { bail!("`{shown}` does not hold a JSON object; not overwriting it") };
    let servers = root.entry("servers").or_insert_with(|| serde_json::json!({}));
    let Some(servers) = servers.as_object_mut() else { bail!("`servers` in `{shown}` is not an object") };
    let entry = servers.entry(url_key(url)).or_insert_with(|| serde_json::json!({}));
    match entry.as_object_mut() {
        Some(entry) => {
            entry.insert("token".to_owned(), token.into());
        }
        None => *entry = serde_json::json!({ "token": token }),
    }
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    write_atomically(path, folder, text.as_bytes()).with_context(|| format!("cannot write `{shown}`"))
}

#[cfg(unix)]
fn create_private_dir(folder: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(folder)
}

#[cfg(not(unix))]
fn create_private_dir(folder: &Path) -> std::io::Result<()> {
    fs::create_dir_all(folder)
}

/// Write to a new 0600 file beside `path`, sync it, rename it over `path`, and sync the folder,
/// so a reader sees the old file or the new one, never a part of either.
fn write_atomically(path: &Path, folder: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_nanos());
    let temporary = folder.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    });
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    // The rename is durable once the folder is; a failure here loses nothing already written.
    if let Ok(dir) = fs::File::open(folder) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_path_comes_from_the_first_variable_set() {
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Vars<'_>, Option<&str>); 6] = [
            (
                &[("SHIPGATE_CREDENTIALS", "/x/creds.json"), ("XDG_CONFIG_HOME", "/cfg"), ("HOME", "/home/a")],
                Some("/x/creds.json"),
            ),
            (&[("XDG_CONFIG_HOME", "/cfg"), ("HOME", "/home/a")], Some("/cfg/shipgate/credentials.json")),
            (&[("HOME", "/home/a")], Some("/home/a/.config/shipgate/credentials.json")),
            (
                &[("SHIPGATE_CREDENTIALS", ""), ("XDG_CONFIG_HOME", "relative"), ("HOME", "/home/a")],
                Some("/home/a/.config/shipgate/credentials.json"),
            ),
            (&[("XDG_CONFIG_HOME", "/cfg")], Some("/cfg/shipgate/credentials.json")),
            (&[], None),
        ];
        for (vars, expected) in cases {
            let found =
                path_from(|name| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| OsString::from(value)));
            assert_eq!(found, expected.map(PathBuf::from), "{vars:?}");
        }
    }

    #[test]
    fn save_token_merges_into_a_private_file_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/shipgate/credentials.json");

        save_token_at(&path, "http://127.0.0.1:7300/", "first").unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(read_token(&path, "http://127.0.0.1:7300").unwrap().as_deref(), Some("first"));

        // Another server's entry, and fields shipgate does not know, survive a save.
        let mut file: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        file["servers"]["https://deploy.example"] = serde_json::json!({ "token": "other", "note": "kept" });
        file["comment"] = "kept too".into();
        fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();

        save_token_at(&path, "http://127.0.0.1:7300", "second").unwrap();
        let saved: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            saved,
            serde_json::json!({
                "comment": "kept too",
                "servers": {
                    "http://127.0.0.1:7300": { "token": "second" },
                    "https://deploy.example": { "token": "other", "note": "kept" },
                }
            })
        );
        assert_eq!(mode(&path), 0o600);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(leftovers, ["credentials.json"], "no temporary file is left behind");

        // A file that is not what it should be is never overwritten.
        fs::write(&path, "not json").unwrap();
        let error = save_token_at(&path, "http://127.0.0.1:7300", "third").unwrap_err();
        assert!(error.to_string().contains("not valid JSON"), "{error}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "not json");
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        save_token_at(&path, "http://h:1", "secret").unwrap();
        for (mode, refused) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true), (0o660, true)] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let outcome = read_token(&path, "http://h:1");
            assert_eq!(outcome.is_err(), refused, "mode {mode:o}");
            if let Err(failure) = outcome {
                assert_eq!(
                    failure.hint.unwrap(),
                    format!("`chmod 600 {}`, and replace the tokens if others could have read them", path.display())
                );
            }
        }
        assert_eq!(read_token(&dir.path().join("absent.json"), "http://h:1").unwrap(), None);
    }
}
