//! From a release's `shipgate.toml` to what the agent runs: the service (listener, probe,
//! drain, routes) and the instances. The agent knows nothing of shipgate.toml; this module
//! is the one place that translates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use shipgate_agent::api::{HealthSpec, InstanceSpec, Probe, ServiceSpec, VersionRoute};
use shipgate_spec::Spec;

/// The agent's name for an app's environment: one service per (app, environment).
pub fn service_name(spec: &Spec, environment: &str) -> String {
    format!("{}-{environment}", spec.app.name.as_str())
}

/// Weights as the agent takes them: relative integers. shipgate weights are percentages with
/// two decimals, so basis points (1/100 %) carry them exactly.
pub const FULL_WEIGHT: u32 = 10_000;

/// The service for `environment`, routing by `routes` (version name → basis points).
/// Every listed version stays pinnable, so smoke checks reach it by `x-shipgate-version`.
pub fn service_spec(spec: &Spec, environment: &str, routes: &[(String, u32)]) -> Option<ServiceSpec> {
    let env = spec.environments.get(environment)?;
    let health = spec.run.health.as_ref().map(|health| HealthSpec {
        probe: match &health.probe {
            shipgate_spec::Probe::Http(path) => Probe::Http { path: path.clone() },
            shipgate_spec::Probe::Tcp(_) => Probe::Tcp,
            shipgate_spec::Probe::Exec(command) => Probe::Exec { command: command.clone() },
        },
        interval_ms: millis(health.interval.as_std()),
        timeout_ms: millis(health.timeout.as_std()),
        healthy: health.healthy,
        unhealthy: health.unhealthy,
    });
    Some(ServiceSpec {
        listen: env.listen.addr(),
        hosts: Vec::new(),
        path_prefix: None,
        versions: routes
            .iter()
            .map(|(name, weight)| VersionRoute { name: name.clone(), weight: *weight, pinnable: true })
            .collect(),
        sticky: false,
        health: health.unwrap_or_default(),
        restart: Default::default(),
        limits: Default::default(),
        drain_ms: millis(spec.run.drain.as_std()),
        stop_grace_ms: millis(spec.run.stop_grace.as_std()),
        tls: None,
    })
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// One instance of `version`, run from `artifact_dir` (the release's stored copy).
pub fn instance_spec(spec: &Spec, environment: &str, version: &str, id: String, artifact_dir: &Path) -> InstanceSpec {
    let mut env: BTreeMap<String, String> = spec.run.env.clone();
    env.insert("SHIPGATE_APP".into(), spec.app.name.as_str().to_owned());
    env.insert("SHIPGATE_ENV".into(), environment.to_owned());
    env.insert("SHIPGATE_VERSION".into(), version.to_owned());
    let workdir = match &spec.run.workdir {
        Some(workdir) => artifact_dir.join(workdir),
        None => artifact_dir.to_path_buf(),
    };
    InstanceSpec {
        id: Some(id),
        service: service_name(spec, environment),
        version: version.to_owned(),
        artifact_dir: workdir,
        command: spec.run.command.clone(),
        env,
        // Filled from the secrets store at start (`secrets::inject`).
        secret_files: BTreeMap::new(),
        // Filled from the release's signature at start (`artifact_check`).
        verify: None,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("the artifact `{digest}` is not in `{root}`; was the release created with another data directory?")]
    Missing { digest: String, root: PathBuf },
    #[error("cannot prepare the artifact `{digest}` to run: {source}")]
    Io {
        digest: String,
        #[source]
        source: std::io::Error,
    },
}

/// The directory instances of a release run in, prepared once per digest under
/// `data_dir/run/<hex>`: a stored directory is used as is; a file is linked into a directory
/// of its own under its original name (`file_name`); an archive is unpacked.
pub fn artifact_dir(data_dir: &Path, digest: &str, kind: &str, file_name: &str) -> Result<PathBuf, UnpackError> {
    let stored = shipgate_artifact::stored_path(&data_dir.join("artifacts"), digest);
    if !stored.exists() {
        return Err(UnpackError::Missing { digest: digest.to_owned(), root: data_dir.join("artifacts") });
    }
    if kind == "directory" {
        return Ok(stored);
    }
    let hex = digest.trim_start_matches("sha256:");
    let target = data_dir.join("run").join(hex);
    if target.exists() {
        return Ok(target);
    }
    let io = |source| UnpackError::Io { digest: digest.to_owned(), source };
    let parent = data_dir.join("run");
    std::fs::create_dir_all(&parent).map_err(io)?;
    // Prepared in a temporary directory and renamed, so a crash never leaves half an artifact
    // where an instance would run it.
    let temporary = parent.join(format!(".incoming-{}-{hex}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temporary);
    std::fs::create_dir(&temporary).map_err(io)?;
    let prepared = if kind == "archive" {
        std::fs::File::open(&stored)
            .and_then(|file| tar::Archive::new(flate2::read::GzDecoder::new(file)).unpack(&temporary))
    } else {
        std::os::unix::fs::symlink(&stored, temporary.join(file_name))
    };
    match prepared.and_then(|()| std::fs::rename(&temporary, &target)) {
        Ok(()) => Ok(target),
        Err(_) if target.exists() => {
            // Another deployment prepared it at the same time.
            let _ = std::fs::remove_dir_all(&temporary);
            Ok(target)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&temporary);
            Err(io(error))
        }
    }
}

/// The name a single-file artifact is run under: the last component of `[artifact] path`.
pub fn artifact_file_name(spec: &Spec) -> String {
    match &spec.artifact.source {
        shipgate_spec::ArtifactSource::Path(path) => {
            Path::new(path).file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| "app".into())
        }
        shipgate_spec::ArtifactSource::Image(_) => "app".into(),
    }
}

/// What the agent checks before every start of an instance of `release`: the stored artifact's
/// digest and the release signature over it, and for an archive the unpacked copy's tree. `None` for an unsigned release (production's gate
/// refuses those, SG0701).
pub fn artifact_check(
    data_dir: &Path,
    release: &shipgate_store::ReleaseRow,
    spec: &Spec,
) -> Option<shipgate_agent::api::ArtifactCheck> {
    let signature = release_signature(release)?;
    // An archive runs from its unpacked copy (see `artifact_dir`): the agent checks that too.
    let unpacked =
        (release.kind == "archive").then(|| data_dir.join("run").join(release.digest.trim_start_matches("sha256:")));
    Some(shipgate_agent::api::ArtifactCheck {
        path: shipgate_artifact::stored_path(&data_dir.join("artifacts"), &release.digest),
        digest: release.digest.clone(),
        signature,
        trusted_keys: spec.artifact.trusted_keys.clone(),
        unpacked,
    })
}

/// The release's `.minisig` text, from its evidence; `None` when it is unsigned.
pub fn release_signature(release: &shipgate_store::ReleaseRow) -> Option<String> {
    let evidence: serde_json::Value = serde_json::from_str(release.evidence.as_deref()?).ok()?;
    evidence.get("signature")?.get("minisig")?.as_str().map(str::to_owned)
}

/// `SHIPGATE_FLAGS_URL` and `SHIPGATE_FLAGS_TOKEN` (the environment's read-only flag token) for
/// an instance. The token may have to be read or created in the store, which is synchronous: this
/// runs it off the async threads (a blocking call there panics the PostgreSQL client).
pub async fn flags_env(recorder: &crate::record::Recorder, environment: &str) -> Vec<(String, String)> {
    let environment = environment.to_owned();
    recorder.blocking(move |_| Ok(crate::flags::instance_env(&environment))).await.unwrap_or_default()
}
