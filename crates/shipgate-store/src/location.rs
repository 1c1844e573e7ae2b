//! Where a store lives: a SQLite file or a PostgreSQL database, named by a URL.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// The file name of the SQLite database inside the data directory.
pub const SQLITE_FILE_NAME: &str = "shipgate.db";

/// Where a store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file (created, with mode 0600, when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, `postgres://user:password@host:port/database?options`.
    Postgres(String),
}

impl Location {
    /// Parses `sqlite:///absolute/path`, `sqlite://relative/path`, `sqlite:path`,
    /// `postgres://…` or `postgresql://…`.
    pub fn parse(url: &str) -> Result<Location, StoreError> {
        let bad = |reason: &'static str| StoreError::BadLocation { location: redact_password(url), reason };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if url.parse::<postgres::Config>().is_err() {
                return Err(bad("it is not a valid PostgreSQL connection URL"));
            }
            return Ok(Location::Postgres(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            // `sqlite:///abs` → `/abs`, `sqlite://rel` → `rel`, `sqlite:rel` → `rel`.
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("it names no file"));
            }
            if path.contains('?') {
                return Err(bad("SQLite options in the URL are not supported"));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        Err(bad("it starts with neither `sqlite:` nor `postgres://`"))
    }

    /// The default: `shipgate.db` in the data directory.
    pub fn sqlite_in(data_dir: &Path) -> Location {
        Location::Sqlite(data_dir.join(SQLITE_FILE_NAME))
    }

    /// The URL with any password replaced by `***`, safe to print and log.
    pub fn redacted(&self) -> String {
        match self {
            Location::Sqlite(path) => format!("sqlite://{}", path.display()),
            Location::Postgres(url) => redact_password(url),
        }
    }
}

/// Shows the redacted form, so a `Location` can go into any message.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({})", self.redacted())
    }
}

/// Replaces the password in `scheme://user:password@host…` and in a `password=` query
/// parameter with `***`.
fn redact_password(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end =
            out[authority_start..].find(['/', '?']).map_or(out.len(), |offset| authority_start + offset);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = &out[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(authority_start + colon + 1..authority_start + at, "***");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_forms() {
        let cases: &[(&str, Location)] = &[
            ("sqlite:///var/lib/shipgate/shipgate.db", Location::Sqlite("/var/lib/shipgate/shipgate.db".into())),
            ("sqlite://data/shipgate.db", Location::Sqlite("data/shipgate.db".into())),
            ("sqlite:shipgate.db", Location::Sqlite("shipgate.db".into())),
            (
                "postgres://postgres@127.0.0.1:5432/shipgate",
                Location::Postgres("postgres://postgres@127.0.0.1:5432/shipgate".into()),
            ),
            ("postgresql://u:p@db/shipgate", Location::Postgres("postgresql://u:p@db/shipgate".into())),
        ];
        for (url, expected) in cases {
            assert_eq!(&Location::parse(url).unwrap(), expected, "{url}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for url in
            ["mysql://localhost/db", "sqlite:", "sqlite://", "/var/lib/shipgate.db", "sqlite:///x.db?mode=ro", ""]
        {
            assert!(matches!(Location::parse(url), Err(StoreError::BadLocation { .. })), "{url}");
        }
    }

    #[test]
    fn never_shows_a_password() {
        let cases = [
            ("postgres://user:secret@host:5432/db", "postgres://user:***@host:5432/db"),
            ("postgres://user@host/db", "postgres://user@host/db"),
            (
                "postgres://host/db?user=u&password=secret&sslmode=disable",
                "postgres://host/db?user=u&password=***&sslmode=disable",
            ),
            ("postgres://u:p%40ss@host/db", "postgres://u:***@host/db"),
        ];
        for (url, expected) in cases {
            assert_eq!(Location::Postgres(url.into()).to_string(), expected);
        }
        let error = Location::parse("mysql://user:secret@host/db").unwrap_err().to_string();
        assert!(!error.contains("secret"), "{error}");
    }
}
