//! Command: run a program; exit status 0 is a success, its output is kept as evidence and,
//! when the metric has `min` or `max`, the last line of standard output is its value.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{Provider, ProviderError, Query, Reading, render_template, truncate_detail};

#[derive(Debug, Clone)]
pub struct Command {
    argv: Vec<String>,
    numeric: bool,
    timeout: Duration,
}

impl Command {
    /// `numeric`: read the last line of the output as the metric's value.
    pub fn new(argv: Vec<String>, numeric: bool, timeout: Duration) -> Command {
        Command { argv, numeric, timeout }
    }
}

/// Reads a pipe to its end on another thread, so that a chatty child never blocks on a
/// full pipe while we wait for it to exit.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

impl Provider for Command {
    /// Runs the command with `SHIPGATE_APP`, `SHIPGATE_ENV` and `SHIPGATE_VERSION` set and the
    /// placeholders in its arguments filled; kills it after the timeout.
    fn read(&self, query: &Query<'_>) -> Result<Reading, ProviderError> {
        let argv: Vec<String> = self.argv.iter().map(|word| render_template(word, query)).collect();
        let Some((program, args)) = argv.split_first() else {
            return Err(ProviderError::Spawn {
                program: String::new(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
            });
        };
        let mut child = std::process::Command::new(program)
            .args(args)
            .env("SHIPGATE_APP", query.app)
            .env("SHIPGATE_ENV", query.environment)
            .env("SHIPGATE_VERSION", query.version)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ProviderError::Spawn { program: program.clone(), source })?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() < self.timeout => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ProviderError::Timeout {
                        program: program.clone(),
                        seconds: self.timeout.as_secs_f64(),
                    });
                }
                Err(source) => return Err(ProviderError::Spawn { program: program.clone(), source }),
            }
        };
        let stdout = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
        let value = if self.numeric {
            stdout.lines().rev().find(|line| !line.trim().is_empty()).and_then(|line| line.trim().parse::<f64>().ok())
        } else {
            None
        };
        let exit = status.code().map_or_else(|| "killed by a signal".to_owned(), |code| format!("exit status {code}"));
        let mut detail = format!("command: {}: {exit}", argv.join(" "));
        for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            if !text.trim().is_empty() {
                detail.push_str(&format!("\n{name}:\n{}", text.trim_end()));
            }
        }
        Ok(Reading { value, ok: Some(status.success()), detail: truncate_detail(&detail), counts: None })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn query() -> Query<'static> {
        Query { app: "hello", environment: "production", version: "v2", at: jiff::Timestamp::UNIX_EPOCH }
    }

    fn sh(script: &str, numeric: bool, timeout: Duration) -> Command {
        Command::new(
            vec!["sh".into(), "-c".into(), script.into(), "check".into(), "{{version}}".into()],
            numeric,
            timeout,
        )
    }

    #[test]
    fn exit_status_output_and_value() {
        let reading = sh("echo checking $1 for $SHIPGATE_APP/$SHIPGATE_ENV; echo 0.97", true, Duration::from_secs(10))
            .read(&query())
            .unwrap();
        assert_eq!((reading.ok, reading.value), (Some(true), Some(0.97)));
        assert!(reading.detail.contains("checking v2 for hello/production"), "{}", reading.detail);
        let failing = sh("echo broken >&2; exit 3", false, Duration::from_secs(10)).read(&query()).unwrap();
        assert_eq!((failing.ok, failing.value), (Some(false), None));
        assert!(failing.detail.contains("exit status 3") && failing.detail.contains("broken"), "{}", failing.detail);
    }

    #[test]
    fn a_slow_command_is_killed_and_is_no_data() {
        let started = Instant::now();
        let error = sh("sleep 30", false, Duration::from_millis(300)).read(&query()).unwrap_err();
        assert!(matches!(error, ProviderError::Timeout { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let missing = Command::new(vec!["/nonexistent/check".into()], false, Duration::from_secs(1)).read(&query());
        assert!(matches!(missing, Err(ProviderError::Spawn { .. })));
    }
}
