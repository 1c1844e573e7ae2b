//! Exit statuses and the failures that lead to them.
//!
//! | status | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | a gate or check refused, or a deployment failed (and was rolled back) |
//! | 2 | usage or configuration error: bad arguments, an invalid `shipgate.toml`, a missing file |
//! | 3 | internal error: a bug in shipgate, or the machine failed it (disk full, …) |

use std::fmt;

/// The process exit status. The numbers are stable and documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    Refused = 1,
    Usage = 2,
    Internal = 3,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status as u8)
    }
}

/// A command that could not do its job: what went wrong, why, and what to do next.
#[derive(Debug)]
pub struct Failure {
    pub status: ExitStatus,
    pub error: anyhow::Error,
    pub hint: Option<String>,
}

impl Failure {
    /// The user asked for something that cannot be done as asked (exit 2).
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure { status: ExitStatus::Usage, error: error.into(), hint: None }
    }

    /// Something failed that should not have (exit 3).
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Failure { status: ExitStatus::Internal, error: error.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)
    }
}

/// A panic is a bug: say so, ask for a report, and exit 3 rather than Rust's 101.
pub fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        eprintln!("error: internal error: shipgate panicked; this is a bug");
        eprintln!("hint: please report it with the command you ran and the message above");
        std::process::exit(ExitStatus::Internal as i32);
    }));
}
