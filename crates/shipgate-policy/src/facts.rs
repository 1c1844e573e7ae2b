//! The facts the rules judge. The server gathers them (store, agent, files); this crate only
//! reads them. Everything the rules need, including the time, arrives here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shipgate_spec::Spec;

/// Everything known about one proposed deployment of a release to an environment.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// The target environment.
    pub environment: String,
    /// The release's `shipgate.toml`, parsed.
    pub spec: Spec,
    /// Its text, to point findings at lines.
    pub spec_text: String,
    /// The spec's path relative to the repository root (SARIF `artifactLocation.uri`);
    /// `shipgate.toml` when empty.
    pub spec_path: String,
    pub release: ReleaseFacts,
    /// Every finished deployment, all environments, oldest first.
    pub history: Vec<DeploymentFact>,
    pub now: jiff::Timestamp,
    /// Who asks for the deployment (`user:NAME` or a token's name).
    pub actor: String,
    /// What the environment looks like now; `None` when not gathered (the drift rules stay quiet).
    pub observed: Option<ObservedState>,
    /// Where the app's data may live; `None` until the spec declares data classes.
    pub residency: Option<Residency>,
    /// What the server's secrets store holds for the target environment, and the literals in
    /// the spec that look like credentials; `None` when not gathered (the secret rules stay quiet).
    #[serde(default)]
    pub secrets: Option<SecretsFacts>,
    /// What rule SG0306 needs beyond the spec: `release create --risky`, and the target
    /// environment's run-time flag settings; `None` when not gathered (settings then count as
    /// none).
    #[serde(default)]
    pub flags: Option<FlagFacts>,
}

/// The release's risk marking from its creation and the environment's flag settings now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagFacts {
    /// The release was created with `shipgate release create --risky`.
    pub risky: bool,
    /// The target environment's settings (`shipgate flags set|kill`), by flag name.
    pub settings: BTreeMap<String, shipgate_flags::Setting>,
}

/// The scanner rule a [`SecretFinding`] names when the spec holds a value the server holds for
/// the environment (its `redacted` is then `[secret:NAME]`); SG0605 words those findings after it.
pub const STORED_VALUE_RULE: &str = "stored-secret";

/// The secrets of the target environment as the server knows them. Never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsFacts {
    /// Names with a value stored for the environment (removed ones are absent), by name.
    pub stored: BTreeMap<String, StoredSecret>,
    /// Literals in the release's `shipgate.toml` that the secret scanner takes for credentials
    /// (`path` is the spec file; `redacted` shows only the first characters).
    pub spec_literals: Vec<SecretFinding>,
}

/// One stored secret's newest version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSecret {
    pub version: u64,
    /// When this version was set.
    pub set_at: jiff::Timestamp,
    /// Who set it.
    pub actor: String,
}

/// The release being deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseFacts {
    /// The version label, e.g. `1.4.2`.
    pub version: String,
    /// The artifact's digest, `sha256:<64 lowercase hex>`.
    pub digest: String,
    /// The artifact's kind as the store records it: `file`, `directory` or `archive`.
    pub kind: String,
    pub source_commit: Option<String>,
    /// [`crate::config_digest`] of the release's spec.
    pub config_digest: String,
    pub test_evidence: Option<TestEvidence>,
    /// The migrations shipped with the release, when the spec declares `[migrations]`.
    #[serde(default)]
    pub migrations: Option<MigrationEvidence>,
    /// The secret scan run when the release was created; `None` when none was recorded.
    #[serde(default)]
    pub secret_scan: Option<SecretScan>,
    /// The release's signature checked against `[artifact] trusted_keys`; `None` when the
    /// release is unsigned.
    #[serde(default)]
    pub signature: Option<SignatureCheck>,
    /// The results of the scanners' SARIF logs kept with the release (`release create
    /// --sarif`); `None` when none was kept.
    #[serde(default)]
    pub scanner_findings: Option<Vec<ScannerFinding>>,
}

/// One result of a scanner's SARIF log, as the release keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerFinding {
    /// The tool that reported it, e.g. `trivy`.
    pub tool: String,
    pub rule: String,
    /// SARIF's level: `error`, `warning` or `note`.
    pub level: String,
    pub message: String,
    /// `path:line`, when the result has one.
    #[serde(default)]
    pub location: Option<String>,
}

/// What checking a release's signature found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureCheck {
    /// It verifies over the release's digest with the trusted key `key_id`.
    Verified { key_id: String },
    /// It does not verify with any trusted key; `reason` says why (an unknown key, a signature
    /// over another digest, a malformed signature).
    Invalid { reason: String },
}

/// What the secret scan of a release found: redacted, never the secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretScan {
    /// What was scanned as the source, e.g. `commit 0123abc` or `the working tree`.
    pub scanned: String,
    pub source: Vec<SecretFinding>,
    pub artifact: Vec<SecretFinding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretFinding {
    /// The scanner's rule, e.g. `github-pat`.
    pub rule: String,
    pub path: String,
    pub line: u64,
    /// The first characters and a mask, e.g. `ghp_********`.
    pub redacted: String,
}

/// The release's migration set and what its rehearsal showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationEvidence {
    /// The digest of the migration set (`shipgate migrate rehearse` keys evidence by it).
    pub set_digest: String,
    /// `Some(passed)` when a rehearsal of exactly this set was recorded with the release.
    pub rehearsal_passed: Option<bool>,
}

/// What running the tests left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestEvidence {
    pub exit_code: i32,
    /// The JUnit XML reports, summed ([`crate::parse_junit`]); `None` when there were none.
    pub junit: Option<JunitSummary>,
    /// The test command as run.
    pub command: Vec<String>,
}

/// Counts from JUnit XML reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JunitSummary {
    pub tests: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
}

impl std::ops::Add for JunitSummary {
    type Output = JunitSummary;

    fn add(self, other: JunitSummary) -> JunitSummary {
        JunitSummary {
            tests: self.tests.saturating_add(other.tests),
            failures: self.failures.saturating_add(other.failures),
            errors: self.errors.saturating_add(other.errors),
            skipped: self.skipped.saturating_add(other.skipped),
        }
    }
}

/// One finished deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentFact {
    pub environment: String,
    pub version: String,
    pub digest: String,
    pub config_digest: String,
    /// `succeeded`, `rolled_back`, `failed` or `aborted`.
    pub status: String,
    /// A later rollback moved the environment away from this release.
    pub rolled_back_later: bool,
}

impl DeploymentFact {
    /// Succeeded, and no rollback moved the environment away from it afterwards.
    pub fn stood(&self) -> bool {
        self.status == "succeeded" && !self.rolled_back_later
    }
}

/// What the agent reports about the target environment, and what shipgate wants there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedState {
    pub instances: Vec<ObservedInstance>,
    /// Traffic per version, in percent (0 to 100). A version not listed gets none.
    pub weights: Vec<(String, f64)>,
    /// Processes that are not shipgate's, listening on some address.
    pub foreign_listeners: Vec<ForeignListener>,
    pub desired: DesiredState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedInstance {
    pub id: String,
    pub version: String,
    /// The agent's state: `starting`, `healthy`, `unhealthy`, `backoff`, `crashloop`,
    /// `draining` or `stopped`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignListener {
    /// `IP:PORT` (`[IPv6]:PORT`); `*:PORT` means every address.
    pub address: String,
    pub pid: Option<u32>,
    pub command: Option<String>,
}

/// What the engine last put in the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    /// The release that serves all traffic outside a deployment.
    pub active_version: Option<String>,
    /// Declared `replicas` of the environment.
    pub replicas: u32,
    /// The target of the deployment running now, if one is.
    pub deploying_version: Option<String>,
    /// Releases kept running without traffic for an instant rollback (`KeepWarm`).
    pub warm_versions: Vec<String>,
}

/// Where an app's data may be stored: its data classes and, per class, the regions allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Residency {
    /// e.g. `personal`, `payment`.
    pub data_classes: Vec<String>,
    /// Data class to allowed regions. A region ending in `*` is a prefix (`eu-*`). A class
    /// without an entry is allowed nowhere.
    pub allowed_regions: BTreeMap<String, Vec<String>>,
}
