//! Secrets of shipgate: the values an app needs at start (database URLs, API keys) that must
//! never be written down in the clear.
//!
//! - [`key`]: the server's age X25519 key (a 0600 file in the data directory, created on first
//!   use, or read from a file or a command at start) and [`key::ServerKey::seal`] /
//!   [`key::ServerKey::open`], which encrypt one secret value bound to its environment and name;
//! - [`redact`]: the [`Redactor`], which replaces every registered value with `[secret:NAME]`
//!   in text and JSON before it leaves the server (logs, API answers, events, ledger details);
//! - [`command`]: an external source, a command whose standard output is the value, run with a
//!   timeout (a password manager's or a cloud's CLI).
//!
//! The pure parts are [`redact`], [`name`] and the parsing and sealing of [`key`]; the I/O edges
//! are `key`'s file and command loaders and [`command`].

#![forbid(unsafe_code)]

pub mod command;
pub mod key;
pub mod name;
pub mod redact;

use std::path::PathBuf;
use std::time::Duration;

pub use command::{CommandSource, DEFAULT_TIMEOUT};
pub use key::{KEY_FILE_NAME, ServerKey};
pub use redact::{MIN_VALUE_BYTES, Redactor};

/// Everything that can go wrong with secrets.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the secrets key `{path}`: {source}")]
    ReadKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the secrets key `{path}`: {source}")]
    WriteKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secrets key `{path}` is readable by others (mode {mode:o}); it must be 0600")]
    KeyMode { path: PathBuf, mode: u32 },
    #[error("{origin} holds no age X25519 secret key (a line starting with `AGE-SECRET-KEY-1`)")]
    NoKey { origin: String },
    #[error("cannot encrypt the secret `{name}`: {reason}")]
    Encrypt { name: String, reason: String },
    #[error(
        "cannot decrypt the secret `{name}` of `{environment}`: {reason}; was it encrypted with another secrets key?"
    )]
    Decrypt { environment: String, name: String, reason: String },
    #[error(
        "the stored secret `{name}` of `{environment}` was encrypted for `{found}`: the row was moved or tampered with"
    )]
    Misplaced { environment: String, name: String, found: String },
    #[error("cannot start `{command}` for the secret `{name}`: {source}")]
    Spawn {
        name: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` for the secret `{name}` failed ({status}){}", stderr_suffix(.stderr))]
    CommandFailed { name: String, command: String, status: String, stderr: String },
    #[error("`{command}` for the secret `{name}` did not finish within {} s and was killed{}", .timeout.as_secs_f64(), stderr_suffix(.stderr))]
    CommandTimedOut { name: String, command: String, timeout: Duration, stderr: String },
    #[error("`{command}` for the secret `{name}` printed {problem}")]
    CommandOutput { name: String, command: String, problem: String },
    #[error("{0}")]
    InvalidValue(String),
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() { String::new() } else { format!("; its standard error: {stderr}") }
}

impl Error {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::KeyMode { path, .. } => format!("`chmod 600 {}`", path.display()),
            Error::NoKey { .. } => "create one with `age-keygen -o FILE`, or let `shipgate server` create `DATA_DIR/secrets.key`".into(),
            Error::Decrypt { .. } => {
                "start the server with the key the secrets were set with (`--secrets-key-file`), or set them again".into()
            }
            Error::CommandFailed { command, .. } | Error::Spawn { command, .. } => {
                format!("run `{command}` by hand as the user the server runs as; it must print the value and exit 0")
            }
            Error::CommandTimedOut { .. } => {
                "is the command waiting for input (a login prompt)? sign in for the server's user, or raise `timeout` in `[secrets]`".into()
            }
            _ => return None,
        })
    }
}
