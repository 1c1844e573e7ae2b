//! What a run shows and keeps: the live stage list on standard error (or JSON events on
//! standard output), and the run's log file, which gets every command's output.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::state::StageId;
use crate::cli::Format;
use crate::output::Output;

/// The run's log: `.shipgate/pipeline/logs/<run>.log`.
pub struct Log {
    file: std::fs::File,
    pub path: PathBuf,
}

/// How a command ended.
pub struct Ran {
    pub code: i32,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

impl Log {
    pub fn create(path: PathBuf) -> std::io::Result<Log> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Log { file, path })
    }

    /// Where the log ends now: a stage's report shows the log from here on.
    pub fn offset(&mut self) -> u64 {
        self.file.stream_position().unwrap_or(0)
    }

    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.file, "{text}");
    }

    /// Runs `command` with its output (both streams) appended to the log, calling `tick`
    /// about every 200 ms while it runs.
    pub fn run(&mut self, label: &str, mut command: Command, tick: &mut dyn FnMut(Duration)) -> std::io::Result<Ran> {
        command.stdout(self.file.try_clone()?);
        self.run_with_stdout(label, command, tick)
    }

    /// [`Log::run`] for a command whose standard output goes elsewhere (set by the caller).
    pub fn run_with_stdout(
        &mut self,
        label: &str,
        mut command: Command,
        tick: &mut dyn FnMut(Duration),
    ) -> std::io::Result<Ran> {
        self.line(&format!("$ {label}"));
        let started = Instant::now();
        let mut child =
            command.stdin(Stdio::null()).stderr(self.file.try_clone()?).env(crate::env_vars::NO_COLOR, "1").spawn()?;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            tick(started.elapsed());
            std::thread::sleep(Duration::from_millis(200));
        };
        // A signal has no code: report it as the shell would (128 + signal).
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().or_else(|| status.signal().map(|signal| 128 + signal)).unwrap_or(1);
        self.line(&format!("# exit status {code} after {:.1}s", started.elapsed().as_secs_f64()));
        Ok(Ran { code })
    }

    /// The last `lines` lines written since `offset`.
    pub fn tail(&self, offset: u64, lines: usize) -> Vec<String> {
        let text = std::fs::read(&self.path).unwrap_or_default();
        let start = usize::try_from(offset).unwrap_or(0).min(text.len());
        let text = String::from_utf8_lossy(&text[start..]);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].iter().map(|line| (*line).to_owned()).collect()
    }
}

/// The stage list for people, or JSON events for programs.
pub struct Reporter<'a> {
    out: &'a Output,
    format: Format,
    terminal: bool,
    stage_started: Instant,
    /// The last progress shown, so a non-terminal gets a line only when it changes.
    last: String,
}

impl<'a> Reporter<'a> {
    pub fn new(out: &'a Output, format: Format, terminal: bool) -> Self {
        Reporter { out, format, terminal, stage_started: Instant::now(), last: String::new() }
    }

    fn event(&self, event: Value) {
        let _ = self.out.data(&format!("{event}\n"));
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.out.color() { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    pub fn begin(&self, commit: &str, version: &str, route: &[String], log: &Path) {
        match self.format {
            Format::Json => self.event(json!({"event": "pipeline_started", "commit": commit, "version": version,
                                               "environments": route, "log": log})),
            Format::Human => self.out.message(&format!(
                "pipeline for commit {} as release {version}: {}\nlog: {}\n",
                commit.get(..12).unwrap_or(commit),
                route.join(" → "),
                log.display()
            )),
        }
    }

    pub fn started(&mut self, stage: StageId, label: &str) {
        self.stage_started = Instant::now();
        self.last.clear();
        match self.format {
            Format::Json => self.event(json!({"event": "stage_started", "stage": stage.key(), "label": label})),
            Format::Human if self.terminal => self.out.message(&format!("  {} {label}", self.paint("1;34", "▸"))),
            Format::Human => self.out.message(&format!("  ▸ {label}\n")),
        }
    }

    /// What the running stage is doing now. `detail` should not contain a clock, so that
    /// it changes only when something happens; elapsed time is added here.
    pub fn progress(&mut self, stage: StageId, label: &str, detail: &str) {
        let changed = detail != self.last;
        match self.format {
            Format::Json if changed => {
                self.event(json!({"event": "progress", "stage": stage.key(), "detail": detail}));
            }
            Format::Human if self.terminal => {
                let elapsed = self.stage_started.elapsed().as_secs();
                let line: String = format!("{label:<22} {elapsed:>4}s  {detail}").chars().take(150).collect();
                self.out.message(&format!("\r\x1b[2K  {} {line}", self.paint("1;34", "▸")));
            }
            Format::Human if changed => self.out.message(&format!("      {detail}\n")),
            _ => {}
        }
        self.last = detail.to_owned();
    }

    pub fn skipped(&self, stage: StageId, label: &str, why: &str) {
        match self.format {
            Format::Json => self.event(json!({"event": "stage_skipped", "stage": stage.key(), "reason": why})),
            Format::Human => self.out.message(&format!("  {} {label:<22}        {why}\n", self.paint("2", "="))),
        }
    }

    pub fn finished(
        &self,
        stage: StageId,
        label: &str,
        succeeded: bool,
        seconds: f64,
        summary: &str,
        report: &[String],
    ) {
        match self.format {
            Format::Json => self.event(json!({"event": "stage_finished", "stage": stage.key(),
                "status": if succeeded { "succeeded" } else { "failed" }, "seconds": seconds,
                "summary": summary, "report": report})),
            Format::Human => {
                let clear = if self.terminal { "\r\x1b[2K" } else { "" };
                let mark = if succeeded { self.paint("32", "✓") } else { self.paint("1;31", "✗") };
                let mut text = format!("{clear}  {mark} {label:<22} {seconds:>5.1}s  {summary}\n");
                for line in report {
                    text.push_str(&format!("      │ {line}\n"));
                }
                self.out.message(&text);
            }
        }
    }

    pub fn end(&self, succeeded: bool, stopped_at: Option<StageId>, seconds: f64, log: &Path) {
        match self.format {
            Format::Json => self.event(json!({"event": "pipeline_finished",
                "status": if succeeded { "succeeded" } else { "failed" },
                "stopped_at": stopped_at.map(StageId::key), "seconds": seconds, "log": log})),
            Format::Human if succeeded => {
                self.out.message(&format!("pipeline succeeded in {seconds:.1}s\n"));
            }
            Format::Human => {}
        }
    }
}
