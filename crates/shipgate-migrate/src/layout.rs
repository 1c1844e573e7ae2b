//! The migrations folder: `expand/NNNN_name.up.sql` (+ optional `.down.sql`) and
//! `contract/NNNN_name.up.sql`.
//!
//! Expand migrations run before the new code takes traffic and must keep the old code working.
//! Contract migrations (drops, the last step of a rename, `NOT NULL` on old columns) run in the
//! deployment of the *next* release, once no running code needs the old schema. Version numbers
//! are unique across both phases and give the order.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Expand,
    Contract,
}

impl Phase {
    pub fn folder(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Contract => "contract",
        }
    }
}

/// One migration: its up script and, optionally, its down script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: u64,
    pub name: String,
    pub phase: Phase,
    /// Path of the up script relative to the migrations folder, e.g. `expand/0001_users.up.sql`.
    pub up_path: String,
    pub up: String,
    pub down_path: Option<String>,
    pub down: Option<String>,
}

impl Migration {
    /// SHA-256 of the up script, hex: what the schema history stores to notice later edits.
    pub fn checksum(&self) -> String {
        hex(&Sha256::digest(self.up.as_bytes()))
    }
}

/// All migrations of an app, ordered by version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationSet {
    pub migrations: Vec<Migration>,
}

impl MigrationSet {
    /// The order one deployment runs them in: every expand migration (before the new code takes
    /// traffic), then every contract migration, each phase by version.
    pub fn in_deployment_order(&self) -> impl Iterator<Item = &Migration> {
        let phase = |wanted: Phase| self.migrations.iter().filter(move |migration| migration.phase == wanted);
        phase(Phase::Expand).chain(phase(Phase::Contract))
    }

    /// A digest of the whole set (versions, names, phases, scripts): rehearsal evidence is
    /// keyed by it, so any change to any migration needs a new rehearsal.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for migration in &self.migrations {
            hasher.update(
                format!("{}\0{}\0{}\0", migration.version, migration.name, migration.phase.folder()).as_bytes(),
            );
            hasher.update(migration.up.as_bytes());
            hasher.update([0]);
            hasher.update(migration.down.as_deref().unwrap_or("").as_bytes());
            hasher.update([0]);
        }
        hex(&hasher.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A file that does not fit the layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("`{path}` is not named `NNNN_name.up.sql` or `NNNN_name.down.sql`")]
    BadName { path: String },
    #[error("`{path}` is outside `expand/` and `contract/`")]
    OutsidePhase { path: String },
    #[error("version {version} is used by both `{first}` and `{second}`")]
    DuplicateVersion { version: u64, first: String, second: String },
    #[error("`{path}` has no matching `.up.sql`")]
    DownWithoutUp { path: String },
    #[error("`{path}` is a down migration in `contract/`; contract migrations are not reversible")]
    DownInContract { path: String },
    #[error("cannot read `{path}`: {message}")]
    Read { path: String, message: String },
}

impl LayoutError {
    pub fn hint(&self) -> &'static str {
        match self {
            LayoutError::BadName { .. } => "name migrations like `expand/0001_create_users.up.sql`",
            LayoutError::OutsidePhase { .. } => {
                "put migrations that keep the old code working in `expand/`, destructive ones in `contract/`"
            }
            LayoutError::DuplicateVersion { .. } => "give every migration its own version number",
            LayoutError::DownWithoutUp { .. } => "add the `.up.sql` or remove the stray `.down.sql`",
            LayoutError::DownInContract { .. } => {
                "remove it: a contract step runs only once nothing needs the old schema"
            }
            LayoutError::Read { .. } => "check the file's permissions and that it is UTF-8",
        }
    }
}

/// Splits `0001_create_users.up.sql` into (1, "create_users", is_up).
fn parse_file_name(name: &str) -> Option<(u64, String, bool)> {
    let (stem, up) = match (name.strip_suffix(".up.sql"), name.strip_suffix(".down.sql")) {
        (Some(stem), _) => (stem, true),
        (None, Some(stem)) => (stem, false),
        (None, None) => return None,
    };
    let (number, label) = stem.split_once('_')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) || label.is_empty() {
        return None;
    }
    Some((number.parse().ok()?, label.to_owned(), up))
}

/// Builds the set from `(relative path, contents)` pairs; paths use `/`.
/// Files that are not `.sql` (READMEs, editor files) are ignored.
pub fn from_files(files: Vec<(String, String)>) -> Result<MigrationSet, Vec<LayoutError>> {
    let mut errors = Vec::new();
    let mut ups: BTreeMap<u64, Migration> = BTreeMap::new();
    let mut downs: Vec<(u64, Phase, String, String)> = Vec::new();
    for (path, contents) in files {
        if !path.ends_with(".sql") {
            continue;
        }
        let (folder, file_name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        let phase = match folder {
            "expand" => Phase::Expand,
            "contract" => Phase::Contract,
            _ => {
                errors.push(LayoutError::OutsidePhase { path });
                continue;
            }
        };
        let Some((version, name, is_up)) = parse_file_name(file_name) else {
            errors.push(LayoutError::BadName { path });
            continue;
        };
        if !is_up {
            downs.push((version, phase, path, contents));
            continue;
        }
        if let Some(existing) = ups.get(&version) {
            errors.push(LayoutError::DuplicateVersion { version, first: existing.up_path.clone(), second: path });
            continue;
        }
        ups.insert(
            version,
            Migration { version, name, phase, up_path: path, up: contents, down_path: None, down: None },
        );
    }
    for (version, phase, path, contents) in downs {
        match ups.get_mut(&version) {
            Some(migration) if migration.phase == phase && phase == Phase::Contract => {
                errors.push(LayoutError::DownInContract { path })
            }
            Some(migration) if migration.phase == phase => {
                migration.down_path = Some(path);
                migration.down = Some(contents);
            }
            _ => errors.push(LayoutError::DownWithoutUp { path }),
        }
    }
    if errors.is_empty() { Ok(MigrationSet { migrations: ups.into_values().collect() }) } else { Err(errors) }
}

/// Reads `dir/expand/*.sql` and `dir/contract/*.sql` (and reports `.sql` files elsewhere).
pub fn load_dir(dir: &Path) -> Result<MigrationSet, Vec<LayoutError>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut visit = |relative: String, path: &Path| match std::fs::read_to_string(path) {
        Ok(contents) => files.push((relative, contents)),
        Err(error) => errors.push(LayoutError::Read { path: relative, message: error.to_string() }),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            return Err(vec![LayoutError::Read { path: dir.display().to_string(), message: error.to_string() }]);
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                let inner_name = inner.file_name().to_string_lossy().into_owned();
                if inner.path().is_file() {
                    visit(format!("{name}/{inner_name}"), &inner.path());
                }
            }
        } else if name.ends_with(".sql") {
            visit(name, &path);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Directory order differs between file systems; reports must not.
    files.sort();
    from_files(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[&str]) -> Vec<(String, String)> {
        list.iter().map(|path| ((*path).to_owned(), format!("-- {path}\n"))).collect()
    }

    #[test]
    fn reads_a_well_formed_folder_in_version_order() {
        let set = from_files(files(&[
            "contract/0003_drop_old.up.sql",
            "expand/0001_users.up.sql",
            "expand/0001_users.down.sql",
            "expand/0002_email.up.sql",
            "README.md",
        ]))
        .unwrap();
        let summary: Vec<(u64, Phase, bool)> =
            set.migrations.iter().map(|m| (m.version, m.phase, m.down.is_some())).collect();
        assert_eq!(summary, vec![(1, Phase::Expand, true), (2, Phase::Expand, false), (3, Phase::Contract, false)]);
    }

    #[test]
    fn layout_errors_are_all_reported() {
        let errors = from_files(files(&[
            "expand/0001_a.up.sql",
            "contract/0001_b.up.sql",
            "expand/one_a.up.sql",
            "expand/0002_x.down.sql",
            "0004_root.up.sql",
            "contract/0005_c.up.sql",
            "contract/0005_c.down.sql",
        ]))
        .unwrap_err();
        let kinds: Vec<&str> = errors
            .iter()
            .map(|error| match error {
                LayoutError::BadName { .. } => "bad-name",
                LayoutError::OutsidePhase { .. } => "outside",
                LayoutError::DuplicateVersion { .. } => "duplicate",
                LayoutError::DownWithoutUp { .. } => "down-without-up",
                LayoutError::DownInContract { .. } => "down-in-contract",
                LayoutError::Read { .. } => "read",
            })
            .collect();
        assert_eq!(kinds, vec!["duplicate", "bad-name", "outside", "down-without-up", "down-in-contract"]);
    }

    #[test]
    fn deployment_order_is_expand_then_contract() {
        let set =
            from_files(files(&["expand/0001_a.up.sql", "contract/0002_b.up.sql", "expand/0003_c.up.sql"])).unwrap();
        let order: Vec<u64> = set.in_deployment_order().map(|m| m.version).collect();
        assert_eq!(order, vec![1, 3, 2]);
    }

    #[test]
    fn digest_changes_with_any_script() {
        let one = from_files(files(&["expand/0001_a.up.sql"])).unwrap();
        let mut two = one.clone();
        two.migrations[0].up.push(' ');
        assert_ne!(one.digest(), two.digest());
        assert_eq!(one.digest(), one.clone().digest());
        assert_eq!(one.migrations[0].checksum().len(), 64);
    }
}
