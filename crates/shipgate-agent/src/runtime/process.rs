//! Instances as Unix processes: each in its own process group, with only its declared
//! environment, output appended to a log file the agent rotates, identified across agent restarts
//! by pid *and* start time (so a reused pid is never mistaken for the instance).

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rustix::process::{Pid, Signal, kill_process_group};
use serde::{Deserialize, Serialize};

use super::{Runtime, Workload};
use crate::api::InstanceSpec;
use crate::error::Error;

/// Used when the agent itself has no `PATH`.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
const DEFAULT_LANG: &str = "C.UTF-8";

pub struct ProcessRuntime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    pid: i32,
    /// Field 22 of `/proc/PID/stat`: clock ticks after boot when the process started.
    start_time: u64,
}

impl Runtime for ProcessRuntime {
    fn start(&self, spec: &InstanceSpec, port: u16, log: &Path) -> Result<Box<dyn Workload>, Error> {
        let Some((program, args)) = spec.command.split_first() else {
            return Err(Error::Invalid("`command` is empty".into()));
        };
        let port_text = port.to_string();
        let program = resolve_program(program, &spec.artifact_dir);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|source| Error::Io { context: format!("cannot open log file `{}`", log.display()), source })?;
        let stderr = file
            .try_clone()
            .map_err(|source| Error::Io { context: format!("cannot open log file `{}`", log.display()), source })?;
        let mut command = Command::new(&program);
        command
            .args(args.iter().map(|arg| arg.replace("${PORT}", &port_text)))
            .current_dir(&spec.artifact_dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()))
            .env("LANG", std::env::var_os("LANG").unwrap_or_else(|| DEFAULT_LANG.into()))
            .envs(&spec.env)
            .env("PORT", &port_text)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            // Its own process group: stopping it signals everything it started, and a Ctrl-C
            // meant for the agent's terminal does not reach it.
            .process_group(0);
        let child = command.spawn().map_err(|source| Error::Io {
            context: format!("cannot start `{}` in `{}`", program.display(), spec.artifact_dir.display()),
            source,
        })?;
        let pid = i32::try_from(child.id()).map_err(|_| Error::Invalid("pid out of range".into()))?;
        let start_time = start_time(pid).unwrap_or(0);
        Ok(Box::new(Process { record: Record { pid, start_time }, child: Some(child) }))
    }

    fn adopt(&self, record: &serde_json::Value) -> Option<Box<dyn Workload>> {
        let record: Record = serde_json::from_value(record.clone()).ok()?;
        if record.start_time == 0 || !is_running(record) {
            return None;
        }
        Some(Box::new(Process { record, child: None }))
    }
}

/// A program named with a relative path is looked up in the artifact directory; a bare name on
/// the instance's `PATH`.
fn resolve_program(program: &str, artifact_dir: &Path) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && path.components().count() > 1 { artifact_dir.join(path) } else { path.to_path_buf() }
}

struct Process {
    record: Record,
    /// `None` for an adopted process: it is not our child, so we watch `/proc` instead of waiting.
    child: Option<Child>,
}

impl Workload for Process {
    fn record(&self) -> serde_json::Value {
        serde_json::to_value(self.record).unwrap_or(serde_json::Value::Null)
    }

    fn poll_exit(&mut self) -> Option<String> {
        match &mut self.child {
            Some(child) => match child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(error) => Some(format!("cannot wait for it: {error}")),
            },
            None => (!is_running(self.record)).then(|| "exited (adopted process; status unknown)".to_owned()),
        }
    }

    fn terminate(&self) {
        self.signal(Signal::TERM);
    }

    fn kill(&self) {
        self.signal(Signal::KILL);
    }
}

impl Process {
    fn signal(&self, signal: Signal) {
        // An adopted pid is checked again right before signalling: never signal a stranger.
        if self.child.is_none() && !is_running(self.record) {
            return;
        }
        // kill(-1) would signal every process the agent may signal, kill(0) its own group: only
        // ever signal the group this instance leads.
        if !leads_own_group(self.record.pid) {
            tracing::warn!(
                pid = self.record.pid,
                ?signal,
                "not signalling: the pid does not lead its own process group"
            );
            return;
        }
        if let Some(pid) = Pid::from_raw(self.record.pid)
            && let Err(error) = kill_process_group(pid, signal)
        {
            tracing::debug!(pid = self.record.pid, ?signal, %error, "cannot signal process group");
        }
    }
}

/// Whether `pid` is a real process (not 0, 1 or negative) that leads its own process group, as
/// every instance started here does (`process_group(0)`).
fn leads_own_group(pid: i32) -> bool {
    pid > 1
        && Pid::from_raw(pid)
            .and_then(|pid| rustix::process::getpgid(Some(pid)).ok())
            .is_some_and(|group| group.as_raw_nonzero().get() == pid)
}

/// The process with this pid exists, started when recorded, and is not a zombie.
fn is_running(record: Record) -> bool {
    match stat(record.pid) {
        Some((state, start)) => start == record.start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

fn start_time(pid: i32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// `(state, start time)` from `/proc/PID/stat`.
fn stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<(char, u64)> {
    // The command name (field 2) is in parentheses and may itself contain `)` and spaces.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3 (state); start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        let line = "1234 (we ird) name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(line), Some(('S', 987_654)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) R 1 2"), None);
    }

    #[test]
    fn only_group_leaders_above_init_are_signalled() {
        for pid in [-1, 0, 1] {
            assert!(!leads_own_group(pid), "{pid}");
        }
        let mut child = Command::new("sleep").arg("5").process_group(0).spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        assert!(leads_own_group(pid));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn own_start_time_is_stable() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let first = start_time(pid).unwrap();
        assert!(first > 0);
        assert!(is_running(Record { pid, start_time: first }));
        assert!(!is_running(Record { pid, start_time: first + 1 }));
    }
}
