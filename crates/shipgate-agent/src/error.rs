//! The agent's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("{kind} `{name}` does not exist")]
    NotFound { kind: &'static str, name: String },
    #[error("{0}")]
    Conflict(String),
    #[error("cannot read the state file `{path}`")]
    State {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("graceful upgrade failed: {0}")]
    Upgrade(String),
    #[error("TLS: {0}")]
    Tls(String),
    /// The instance's artifact is not what its release signed: never started.
    #[error("artifact verification failed: {0}")]
    Tampered(String),
    /// The agent's key, the sealing of an instance's secrets in the state file, or where secret
    /// files may be written.
    #[error("{0}")]
    Secrets(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
