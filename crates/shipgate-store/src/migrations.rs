//! Versioned schema migrations for shipgate's own tables.
//!
//! Each migration has one script per backend. They run in order at open, all pending
//! ones in one transaction, and each applied version is recorded in `shipgate_schema`.
//! A database whose recorded version is newer than [`SCHEMA_VERSION`] was written by a
//! newer shipgate; it is refused rather than misread.
//!
//! To change the schema, append a migration: never edit one that has shipped.

/// One schema change.
#[derive(Debug)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Every migration, oldest first; versions are 1, 2, 3, … without gaps.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "audit ledger",
        sqlite: include_str!("migrations/0001_ledger.sqlite.sql"),
        postgres: include_str!("migrations/0001_ledger.postgres.sql"),
    },
    Migration {
        version: 2,
        name: "releases",
        sqlite: include_str!("migrations/0002_releases.sqlite.sql"),
        postgres: include_str!("migrations/0002_releases.postgres.sql"),
    },
    Migration {
        version: 3,
        name: "deployments",
        sqlite: include_str!("migrations/0003_deployments.sqlite.sql"),
        postgres: include_str!("migrations/0003_deployments.postgres.sql"),
    },
    Migration {
        version: 4,
        name: "release evidence",
        sqlite: include_str!("migrations/0004_release_evidence.sqlite.sql"),
        postgres: include_str!("migrations/0004_release_evidence.postgres.sql"),
    },
    Migration {
        version: 5,
        name: "token scopes",
        sqlite: include_str!("migrations/0005_token_scopes.sqlite.sql"),
        postgres: include_str!("migrations/0005_token_scopes.postgres.sql"),
    },
    Migration {
        version: 6,
        name: "records",
        sqlite: include_str!("migrations/0006_records.sqlite.sql"),
        postgres: include_str!("migrations/0006_records.postgres.sql"),
    },
];

/// The schema version this build brings a database to.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The table that records applied versions; the same on both backends.
pub(crate) const SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS shipgate_schema (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// The migrations a database at `current` still needs.
pub(crate) fn pending(current: u32) -> impl Iterator<Item = &'static Migration> {
    MIGRATIONS.iter().filter(move |migration| migration.version > current)
}

pub(crate) fn now() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1, "{}", migration.name);
        }
        assert_eq!(SCHEMA_VERSION as usize, MIGRATIONS.len());
    }

    #[test]
    fn pending_skips_applied_versions() {
        assert_eq!(pending(0).count(), MIGRATIONS.len());
        assert_eq!(pending(SCHEMA_VERSION).count(), 0);
    }
}
