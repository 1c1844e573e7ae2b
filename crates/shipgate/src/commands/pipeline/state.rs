//! What a pipeline run remembers about a commit: which stages succeeded, with what outputs.
//! Kept in `.shipgate/pipeline/<commit>.json` beside shipgate.toml, rewritten (atomically)
//! after every stage, so that `--resume` can skip what already succeeded for that commit.
//!
//! Everything here is pure except [`RunState::load`] and [`RunState::save`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The stages, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum StageId {
    Source,
    Build,
    Test,
    Scan,
    Stage,
    Approve,
    Production,
}

impl StageId {
    pub const ALL: [StageId; 7] = [
        StageId::Source,
        StageId::Build,
        StageId::Test,
        StageId::Scan,
        StageId::Stage,
        StageId::Approve,
        StageId::Production,
    ];

    /// The name in events, state files and `--format json`.
    pub fn key(self) -> &'static str {
        match self {
            StageId::Source => "source",
            StageId::Build => "build",
            StageId::Test => "test",
            StageId::Scan => "scan",
            StageId::Stage => "stage",
            StageId::Approve => "approve",
            StageId::Production => "production",
        }
    }

    /// The name people read.
    pub fn title(self) -> &'static str {
        match self {
            StageId::Scan => "security scan",
            other => other.key(),
        }
    }

    /// Whether what the stage did depends on the environments deployed to, not only on the
    /// commit: such a stage is repeated when `--to` names another environment.
    fn depends_on_target(self) -> bool {
        matches!(self, StageId::Stage | StageId::Approve | StageId::Production)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Succeeded,
    Failed,
}

/// How one stage ended, and what later stages (and a resumed run) need from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: StageId,
    pub status: StageStatus,
    /// The run that did it (its log is `logs/<run>.log`).
    pub run: String,
    pub seconds: f64,
    /// One line: what it did, or why it failed.
    pub summary: String,
    /// What later stages need (the artifact's digest, the release, the deployment, …).
    #[serde(default)]
    pub output: Value,
}

/// Everything recorded for one commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub commit: String,
    pub version: String,
    /// The environment the stages that depend on it were run for.
    pub target: String,
    pub stages: Vec<StageRecord>,
}

impl RunState {
    pub fn new(commit: &str, version: &str, target: &str) -> RunState {
        RunState {
            commit: commit.to_owned(),
            version: version.to_owned(),
            target: target.to_owned(),
            stages: Vec::new(),
        }
    }

    /// The state a run starts from: a fresh one, or with `resume` what was recorded for the
    /// same commit and version, minus what depended on another target.
    pub fn start(previous: Option<RunState>, resume: bool, commit: &str, version: &str, target: &str) -> RunState {
        let fresh = RunState::new(commit, version, target);
        let Some(mut previous) = previous.filter(|state| resume && state.commit == commit && state.version == version)
        else {
            return fresh;
        };
        if previous.target != target {
            previous.stages.retain(|record| !record.stage.depends_on_target());
            previous.target = target.to_owned();
        }
        previous
    }

    /// The stage's record, if it succeeded.
    pub fn succeeded(&self, stage: StageId) -> Option<&StageRecord> {
        self.stages.iter().find(|record| record.stage == stage && record.status == StageStatus::Succeeded)
    }

    /// The output a stage recorded, whether it succeeded or not (`Null` when it never ran).
    pub fn output(&self, stage: StageId) -> &Value {
        self.stages.iter().find(|record| record.stage == stage).map_or(&Value::Null, |record| &record.output)
    }

    /// Replaces the stage's record. A failed stage invalidates what came after it: those
    /// stages must run again once it succeeds.
    pub fn record(&mut self, record: StageRecord) {
        let stage = record.stage;
        let failed = record.status == StageStatus::Failed;
        self.stages.retain(|existing| existing.stage != stage && !(failed && existing.stage > stage));
        self.stages.push(record);
        self.stages.sort_by_key(|record| record.stage);
    }

    /// `.shipgate/pipeline/<commit>.json` under `folder`.
    pub fn path(folder: &Path, commit: &str) -> PathBuf {
        folder.join(".shipgate").join("pipeline").join(format!("{commit}.json"))
    }

    /// The recorded state, `None` when there is none or it cannot be read (then every stage
    /// runs again, which is always safe).
    pub fn load(path: &Path) -> Option<RunState> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Writes the state next to its final name, then renames it over: never half-written.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&temporary, format!("{text}\n"))?;
        std::fs::rename(&temporary, path)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{RunState, StageId, StageRecord, StageStatus};

    fn record(stage: StageId, status: StageStatus) -> StageRecord {
        StageRecord { stage, status, run: "r1".into(), seconds: 1.0, summary: String::new(), output: json!({}) }
    }

    fn with(stages: &[(StageId, StageStatus)]) -> RunState {
        let mut state = RunState::new("abc", "g-abc", "production");
        for (stage, status) in stages {
            state.record(record(*stage, *status));
        }
        state
    }

    #[test]
    fn resume_keeps_what_succeeded_for_the_same_commit_only() {
        let previous = with(&[(StageId::Source, StageStatus::Succeeded), (StageId::Build, StageStatus::Succeeded)]);
        let resumed = RunState::start(Some(previous.clone()), true, "abc", "g-abc", "production");
        assert!(resumed.succeeded(StageId::Build).is_some());
        for (resume, commit, version) in [(false, "abc", "g-abc"), (true, "def", "g-abc"), (true, "abc", "other")] {
            let state = RunState::start(Some(previous.clone()), resume, commit, version, "production");
            assert!(state.stages.is_empty(), "{resume} {commit} {version}");
        }
    }

    #[test]
    fn another_target_repeats_the_stages_that_deploy() {
        let previous = with(&[
            (StageId::Scan, StageStatus::Succeeded),
            (StageId::Stage, StageStatus::Succeeded),
            (StageId::Approve, StageStatus::Succeeded),
        ]);
        let resumed = RunState::start(Some(previous), true, "abc", "g-abc", "staging");
        assert!(resumed.succeeded(StageId::Scan).is_some());
        assert!(resumed.succeeded(StageId::Stage).is_none());
        assert!(resumed.succeeded(StageId::Approve).is_none());
        assert_eq!(resumed.target, "staging");
    }

    #[test]
    fn a_failed_stage_invalidates_the_stages_after_it() {
        let mut state = with(&[
            (StageId::Source, StageStatus::Succeeded),
            (StageId::Build, StageStatus::Succeeded),
            (StageId::Test, StageStatus::Succeeded),
        ]);
        state.record(record(StageId::Build, StageStatus::Failed));
        assert!(state.succeeded(StageId::Source).is_some());
        assert!(state.succeeded(StageId::Build).is_none());
        assert!(state.stages.iter().all(|record| record.stage != StageId::Test));
        state.record(record(StageId::Build, StageStatus::Succeeded));
        assert_eq!(state.stages.iter().filter(|record| record.stage == StageId::Build).count(), 1);
    }

    #[test]
    fn saved_state_loads_back_and_a_damaged_file_is_no_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = RunState::path(dir.path(), "abc");
        let state = with(&[(StageId::Source, StageStatus::Succeeded)]);
        state.save(&path).unwrap();
        assert_eq!(RunState::load(&path), Some(state));
        std::fs::write(&path, "{ half").unwrap();
        assert_eq!(RunState::load(&path), None);
    }
}
