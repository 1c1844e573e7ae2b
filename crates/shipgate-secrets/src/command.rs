//! An external secret source: a command (a password manager's or a cloud's CLI, e.g.
//! `op read op://vault/db/url`, `vault kv get -field=url secret/db`, `aws secretsmanager
//! get-secret-value …`) whose standard output is the value.
//!
//! The command runs with `sh -c` in its own process group, standard input closed. It must exit
//! 0 within the timeout; otherwise the whole group is killed and the error names the secret,
//! the command, how it ended and its standard error (shown, since that is where such tools say
//! what went wrong). Its standard output is the value and never appears in an error. One
//! trailing line break is trimmed from it.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::Error;

/// How long a command may take when `[secrets]` sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this much of the command's standard error is kept for the error message.
const STDERR_LIMIT: usize = 4 * 1024;

/// A command that prints a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSource {
    pub command: String,
    pub timeout: Duration,
}

impl CommandSource {
    /// Runs the command for the secret `name` (used in errors) and returns what it printed.
    pub fn run(&self, name: &str) -> Result<Zeroizing<String>, Error> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn { name: name.to_owned(), command: self.command.clone(), source })?;
        // Both pipes are drained on their own threads, so a chatty command never blocks on a
        // full pipe while we wait for it to exit.
        let stdout = child.stdout.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut bytes = Zeroizing::new(Vec::new());
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
        });
        let stderr = child.stderr.take().map(|pipe| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.take(STDERR_LIMIT as u64).read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => break None,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(source) => {
                    kill_group(child.id());
                    let _ = child.wait();
                    return Err(Error::Spawn { name: name.to_owned(), command: self.command.clone(), source });
                }
            }
        };
        // Whatever it started in its group goes too (a timed-out command's children would
        // otherwise hold the pipes open; a finished one's leftovers have no business running).
        kill_group(child.id());
        if status.is_none() {
            let _ = child.wait();
        }
        let stderr = stderr.and_then(|thread| thread.join().ok()).unwrap_or_default();
        let stdout = stdout.and_then(|thread| thread.join().ok()).unwrap_or_default();
        let Some(status) = status else {
            return Err(Error::CommandTimedOut {
                name: name.to_owned(),
                command: self.command.clone(),
                timeout: self.timeout,
                stderr,
            });
        };
        if !status.success() {
            return Err(Error::CommandFailed {
                name: name.to_owned(),
                command: self.command.clone(),
                status: status.to_string(),
                stderr,
            });
        }
        let output = |problem: &str| Error::CommandOutput {
            name: name.to_owned(),
            command: self.command.clone(),
            problem: problem.to_owned(),
        };
        let text = std::str::from_utf8(&stdout).map_err(|_| output("bytes that are not UTF-8 text"))?;
        let value = crate::name::trim_line_break(text);
        if value.is_empty() {
            return Err(output("nothing on its standard output"));
        }
        Ok(Zeroizing::new(value.to_owned()))
    }
}

/// Kills the process group `pid` leads, if it still exists. Only a pid above 1 is signalled,
/// so a bad value can never become `kill(-1)`.
fn kill_group(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else { return };
    if raw <= 1 {
        return;
    }
    if let Some(pid) = rustix::process::Pid::from_raw(raw) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(command: &str, timeout_ms: u64) -> CommandSource {
        CommandSource { command: command.into(), timeout: Duration::from_millis(timeout_ms) }
    }

    #[test]
    fn prints_the_value() {
        let value = source("printf 'postgres://x:y@db/app\\n'", 5_000).run("DB").unwrap();
        assert_eq!(value.as_str(), "postgres://x:y@db/app");
    }

    #[test]
    fn a_failing_command_names_the_secret_and_shows_stderr_but_not_stdout() {
        let error = source("echo $((6 * 7))1234; echo 'not signed in' >&2; exit 3", 5_000).run("DB").unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, Error::CommandFailed { .. }), "{text}");
        assert!(text.contains("`DB`") && text.contains("exit status: 3") && text.contains("not signed in"), "{text}");
        assert!(!text.contains("421234"), "{text}");
        assert!(error.hint().is_some());
    }

    #[test]
    fn a_hanging_command_is_killed_at_the_timeout() {
        let started = Instant::now();
        let error = source("echo waiting >&2; sleep 30 & sleep 30", 300).run("API_KEY").unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let text = error.to_string();
        assert!(matches!(error, Error::CommandTimedOut { .. }), "{text}");
        assert!(text.contains("`API_KEY`") && text.contains("0.3 s") && text.contains("waiting"), "{text}");
    }

    #[test]
    fn empty_or_binary_output_is_refused() {
        assert!(matches!(source("true", 5_000).run("A"), Err(Error::CommandOutput { .. })));
        assert!(matches!(source("printf '\\377\\376'", 5_000).run("A"), Err(Error::CommandOutput { .. })));
    }
}
