//! Secrets in the control plane: the API (`/api/v1/environments/{env}/secrets…`), their
//! resolution when an instance starts, the facts the gates judge, and the rolling restart of
//! `secrets rotate`.
//!
//! Values are stored as versioned records (kind `secret`, scope = environment, value = the age
//! ciphertext from [`ServerKey::seal`], `None` for a removal), each write in one transaction with
//! its ledger entry, which names the secret and never holds its value. The last value each
//! `command` source printed is kept the same way under a kind of its own (`secret-command`,
//! never listed, never injected, no ledger entry: nobody set it), so that a restarted server
//! still redacts it from the logs of instances that kept running. Every value the server sees
//! (stored, set, or printed by a `command` source) is registered with the [`Redactor`]
//! (`[secret:NAME]` in API answers, events, the server's log) and with the ledger's own
//! redactor, its last line of defence.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use shipgate_agent::api::{InstanceSpec, InstanceState};
use shipgate_ledger::NewEntry;
use shipgate_policy::{SecretFinding, SecretsFacts, StoredSecret};
use shipgate_secrets::{CommandSource, Redactor, ServerKey};
use shipgate_spec::Spec;
use shipgate_store::RecordRow;
use zeroize::Zeroizing;

use crate::api::{ApiError, AppState};
use crate::auth::Caller;
use crate::executor::{Executor, StepError, is_live};
use crate::record::{RecordError, Recorder, actions, now};
use crate::service;

/// The record kind of a secret's versions.
pub const KIND: &str = "secret";
/// The record kind of the values `command` sources printed (the newest is the last one).
pub const COMMAND_KIND: &str = "secret-command";
/// One record per environment that ever had a secret (scope `""`, name = environment), so the
/// server can find every stored value at start without a store query of its own.
const INDEX_KIND: &str = "secret-environment";

/// Where the server's secrets key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `DATA_DIR/secrets.key`, created (0600) at first start.
    DataDir,
    /// An age identity file, e.g. on a mounted volume.
    File(PathBuf),
    /// A command that prints it (`sh -c`), e.g. from a password manager.
    Command(String),
}

/// The server's key and redactor. Cheap to clone. The default has no key: every use of a
/// value fails with a clear error (it exists so that an executor can be built before the key
/// is loaded).
#[derive(Clone, Default)]
pub struct Vault {
    key: Option<Arc<ServerKey>>,
    pub redactor: Redactor,
    /// One rolling restart at a time.
    restarting: Arc<tokio::sync::Mutex<()>>,
}

/// Why the server cannot use its secrets key.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct KeyError(#[from] pub shipgate_secrets::Error);

impl Vault {
    /// Loads (or creates) the key. Blocking: reads a file or runs a command.
    pub fn open(data_dir: &Path, source: &KeySource, redactor: Redactor) -> Result<Vault, KeyError> {
        let key = match source {
            KeySource::DataDir => {
                let (key, created) = ServerKey::load_or_create(&data_dir.join(shipgate_secrets::KEY_FILE_NAME))?;
                if created {
                    tracing::info!(
                        recipient = %key.recipient(),
                        "created the secrets key {}; keep a copy of it somewhere safe",
                        data_dir.join(shipgate_secrets::KEY_FILE_NAME).display()
                    );
                }
                key
            }
            KeySource::File(path) => ServerKey::from_file(path)?,
            KeySource::Command(command) => ServerKey::from_command(command, shipgate_secrets::DEFAULT_TIMEOUT)?,
        };
        Ok(Vault { key: Some(Arc::new(key)), redactor, restarting: Arc::default() })
    }

    fn key(&self) -> Result<&ServerKey, String> {
        self.key.as_deref().ok_or_else(|| "the server has no secrets key loaded".to_owned())
    }

    /// Encrypts `value` with the server's key, bound to `scope` and `name` (for values kept
    /// outside the secrets API, e.g. the environments' flag tokens).
    pub fn seal_value(&self, scope: &str, name: &str, value: &str) -> Result<String, String> {
        self.key()?.seal(scope, name, value).map_err(|error| error.to_string())
    }

    /// Decrypts what [`Vault::seal_value`] made for `scope` and `name`.
    pub fn open_value(&self, scope: &str, name: &str, sealed: &str) -> Result<Zeroizing<String>, String> {
        self.key()?.open(scope, name, sealed).map_err(|error| error.to_string())
    }

    /// Registers `value` of `name` with this redactor and the ledger's.
    fn register(&self, recorder: &Recorder, name: &str, value: &str) {
        self.redactor.register(name, value);
        let _ = recorder.ledger.redactor().register_named(name, value);
    }

    /// Decrypts every stored version of every secret, and every value a `command` source
    /// printed, and registers it for redaction (an old value may still sit in an old log, and
    /// instances started by an earlier run of the server may print theirs). Returns how many values were registered; values
    /// that do not decrypt are logged, not fatal (deployments that need them fail clearly).
    pub fn register_stored(&self, recorder: &Recorder) -> Result<usize, RecordError> {
        let Ok(key) = self.key() else { return Ok(0) };
        let rows = recorder.store.read(|reader| {
            let mut rows = Vec::new();
            for environment in reader.records(INDEX_KIND, "")? {
                for kind in [KIND, COMMAND_KIND] {
                    for latest in reader.records(kind, &environment.name)? {
                        rows.extend(reader.record_history(kind, &environment.name, &latest.name)?);
                    }
                }
            }
            Ok::<_, RecordError>(rows)
        })?;
        let mut registered = 0;
        for row in rows {
            let Some(sealed) = &row.value else { continue };
            match key.open(&row.scope, &row.name, sealed) {
                Ok(value) => {
                    self.register(recorder, &row.name, &value);
                    registered += 1;
                }
                Err(error) => {
                    tracing::warn!(environment = %row.scope, secret = %row.name, version = row.version, "{error}")
                }
            }
        }
        Ok(registered)
    }
}

// --- resolution at instance start ----------------------------------------------------------

/// The values of a release's declared secrets for one environment, ready to inject.
#[derive(Default)]
pub struct Resolved {
    /// `(name, value, as a file)`.
    values: Vec<(String, Zeroizing<String>, bool)>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.values.iter().map(|(name, _, _)| name)).finish()
    }
}

/// Adds the resolved values to an instance: as variables, or as files the agent writes on
/// tmpfs (`NAME_FILE=PATH`). Only declared names are ever resolved, so only they arrive.
pub fn inject(instance: &mut InstanceSpec, resolved: &Resolved) {
    for (name, value, file) in &resolved.values {
        if *file {
            instance.secret_files.insert(name.clone(), value.to_string());
        } else {
            instance.env.insert(name.clone(), value.to_string());
        }
    }
}

/// Resolves every secret `spec` declares for `environment`: stored values are decrypted,
/// `command` sources run (with their timeout, off the async threads). The first failure is the
/// error, naming the secret and what to do.
pub async fn resolve(executor: &Executor, spec: &Spec, environment: &str) -> Result<Resolved, String> {
    let vault = executor.secrets.clone();
    let recorder = executor.recorder.clone();
    let declared: Vec<(String, shipgate_spec::SecretDecl)> =
        spec.secrets.iter().map(|(name, decl)| (name.clone(), decl.clone())).collect();
    if declared.is_empty() {
        return Ok(Resolved::default());
    }
    let environment = environment.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut resolved = Resolved::default();
        for (name, decl) in declared {
            let value = match &decl.command {
                Some(command) => {
                    let source = CommandSource {
                        command: command.replace("${ENV}", &environment),
                        timeout: decl.timeout.map_or(shipgate_secrets::DEFAULT_TIMEOUT, |timeout| timeout.as_std()),
                    };
                    let value = source.run(&name).map_err(|error| with_hint(&error))?;
                    shipgate_secrets::name::check_value(&name, &value).map_err(|error| error.to_string())?;
                    if let Err(error) = remember_command_value(&vault, &recorder, &environment, &name, &value) {
                        // The start goes on; only a restarted server's redaction of this value is at stake.
                        tracing::warn!(environment = %environment, secret = %name, "cannot keep the value its command printed: {error}");
                    }
                    value
                }
                None => {
                    let row = recorder
                        .store
                        .read(|reader| reader.record(KIND, &environment, &name))
                        .map_err(|error| format!("cannot read the secret `{name}`: {error}"))?;
                    let Some(sealed) = row.and_then(|row| row.value) else {
                        return Err(format!(
                            "the secret `{name}` has no value in `{environment}`; set it with `shipgate secrets set {environment} {name}`"
                        ));
                    };
                    vault.key()?.open(&environment, &name, &sealed).map_err(|error| with_hint(&error))?
                }
            };
            vault.register(&recorder, &name, &value);
            resolved.values.push((name, value, decl.file));
        }
        Ok(resolved)
    })
    .await
    .map_err(|error| format!("resolving secrets failed: {error}"))?
}

/// Keeps `value`, which the `command` source of `name` printed, sealed as the newest record of
/// kind [`COMMAND_KIND`] (unless it is that record's value already), so the next start of the
/// server can register it for redaction.
fn remember_command_value(
    vault: &Vault,
    recorder: &Recorder,
    environment: &str,
    name: &str,
    value: &str,
) -> Result<(), String> {
    let key = vault.key()?;
    let last = recorder
        .store
        .read(|reader| reader.record(COMMAND_KIND, environment, name))
        .map_err(|error| error.to_string())?;
    let unchanged = last
        .and_then(|row| row.value)
        .is_some_and(|sealed| key.open(environment, name, &sealed).is_ok_and(|known| known.as_str() == value));
    if unchanged {
        return Ok(());
    }
    let sealed = key.seal(environment, name, value).map_err(|error| error.to_string())?;
    let created = now();
    recorder
        .store
        .transact(|tx| {
            if tx.record(INDEX_KIND, "", environment)?.is_none() {
                tx.put_record(&RecordRow {
                    kind: INDEX_KIND.into(),
                    scope: String::new(),
                    name: environment.to_owned(),
                    version: 0,
                    value: Some(String::new()),
                    actor: "server".into(),
                    created: created.clone(),
                })?;
            }
            tx.put_record(&RecordRow {
                kind: COMMAND_KIND.into(),
                scope: environment.to_owned(),
                name: name.to_owned(),
                version: 0,
                value: Some(sealed),
                actor: "server".into(),
                created,
            })
        })
        .map(|_| ())
        .map_err(|error: shipgate_store::StoreError| error.to_string())
}

fn with_hint(error: &shipgate_secrets::Error) -> String {
    match error.hint() {
        Some(hint) => format!("{error} (hint: {hint})"),
        None => error.to_string(),
    }
}

// --- facts for the gates -------------------------------------------------------------------

/// What the gates need: the stored secrets of `environment` (never values) and the literals in
/// the release's spec that the secret scanner takes for credentials or that are values the
/// server holds for `environment` (set, or printed by a `command` source).
pub async fn facts(
    executor: &Executor,
    environment: &str,
    spec: &Spec,
    spec_text: &str,
) -> Result<SecretsFacts, StepError> {
    let owned = environment.to_owned();
    let (rows, commands) = executor
        .recorder
        .blocking(move |recorder| {
            recorder.store.read(|reader| {
                Ok::<_, RecordError>((reader.records(KIND, &owned)?, reader.records(COMMAND_KIND, &owned)?))
            })
        })
        .await?;
    let mut spec_literals = spec_literals(spec, spec_text);
    spec_literals.extend(held_values(&executor.secrets, environment, rows.iter().chain(&commands), spec_text));
    let stored = rows
        .into_iter()
        .filter(|row| row.value.is_some())
        .filter_map(|row| {
            let set_at = row.created.parse().ok()?;
            Some((row.name, StoredSecret { version: row.version, set_at, actor: row.actor }))
        })
        .collect();
    Ok(SecretsFacts { stored, spec_literals })
}

/// Where `spec_text` holds a current value of `rows` (raw, or escaped as in a JSON or TOML
/// string), one finding per name and line; never the value.
fn held_values<'a>(
    vault: &Vault,
    environment: &str,
    rows: impl Iterator<Item = &'a RecordRow>,
    spec_text: &str,
) -> Vec<SecretFinding> {
    let Ok(key) = vault.key() else { return Vec::new() };
    let held = Redactor::new();
    for row in rows {
        let Some(sealed) = &row.value else { continue };
        if let Ok(value) = key.open(environment, &row.name, sealed) {
            held.register(&row.name, &value);
        }
    }
    let mut findings: Vec<SecretFinding> = Vec::new();
    for (name, offset) in held.find(spec_text) {
        let line = spec_text.get(..offset).map_or(0, |before| before.matches('\n').count()) as u64 + 1;
        let redacted = shipgate_secrets::redact::placeholder(&name);
        if !findings.iter().any(|known| known.line == line && known.redacted == redacted) {
            findings.push(SecretFinding {
                rule: shipgate_policy::STORED_VALUE_RULE.to_owned(),
                path: shipgate_spec::FILE_NAME.to_owned(),
                line,
                redacted,
            });
        }
    }
    findings
}

/// The scanner's findings in the spec's text, with the spec's own `[scan]` allowlists.
fn spec_literals(spec: &Spec, spec_text: &str) -> Vec<SecretFinding> {
    let config = shipgate_scan::Config {
        allow_paths: Vec::new(),
        allow_regexes: spec.scan.allow_regexes.clone(),
        stopwords: spec.scan.stopwords.clone(),
    };
    let Ok(scanner) = shipgate_scan::Scanner::new(&config) else { return Vec::new() };
    scanner
        .scan_bytes(shipgate_spec::FILE_NAME, spec_text.as_bytes())
        .into_iter()
        .map(|finding| SecretFinding {
            rule: finding.rule.to_owned(),
            path: finding.location.path,
            line: finding.location.line,
            redacted: finding.redacted,
        })
        .collect()
}

// --- the API -------------------------------------------------------------------------------

type Shared = State<Arc<AppState>>;

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!("internal error: {error}");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", error.to_string())
        .hint("see the server's log; this is a bug or a failing disk/database")
}

fn check_environment(environment: &str) -> Result<(), ApiError> {
    let valid = !environment.is_empty()
        && environment.len() <= 63
        && environment.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_environment",
            format!("`{environment}` is not an environment name"),
        )
        .hint("environment names are letters, digits, `-` and `_`, as in `[environments.NAME]`"))
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if shipgate_secrets::name::is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_secret_name", format!("`{name}` is not a secret name"))
            .hint("secret names are environment variable names: letters, digits and `_`, not starting with a digit"))
    }
}

/// `GET /environments/{env}/secrets`: names, versions, who set them and when. Never values.
pub async fn list(State(state): Shared, UrlPath(environment): UrlPath<String>) -> Result<Json<Value>, ApiError> {
    check_environment(&environment)?;
    let owned = environment.clone();
    let rows = state
        .executor
        .recorder
        .blocking(move |recorder| Ok(recorder.store.read(|reader| reader.records(KIND, &owned))?))
        .await
        .map_err(internal)?;
    let now = jiff::Timestamp::now();
    let secrets: Vec<Value> = rows
        .into_iter()
        .filter(|row| row.value.is_some())
        .map(|row| {
            let age = row.created.parse::<jiff::Timestamp>().ok().map(|set| now.duration_since(set).as_secs().max(0));
            json!({"name": row.name, "version": row.version, "set_by": row.actor, "set_at": row.created, "age_seconds": age})
        })
        .collect();
    Ok(Json(json!({"environment": environment, "secrets": secrets})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBody {
    value: String,
}

/// `PUT /environments/{env}/secrets/{name}` `{"value": …}`: stores a new version.
pub async fn set(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    UrlPath((environment, name)): UrlPath<(String, String)>,
    Json(body): Json<SetBody>,
) -> Result<Json<Value>, ApiError> {
    let value = Zeroizing::new(body.value);
    let version = store_value(&state.executor, &caller, &environment, &name, &value, actions::SECRET_SET).await?;
    Ok(Json(json!({"environment": environment, "name": name, "version": version})))
}

/// Encrypts and stores `value` as the next version of `name`, with its ledger entry, in one
/// transaction; registers it for redaction first, so nothing written afterwards shows it.
async fn store_value(
    executor: &Executor,
    caller: &Caller,
    environment: &str,
    name: &str,
    value: &str,
    action: &'static str,
) -> Result<u64, ApiError> {
    check_environment(environment)?;
    check_name(name)?;
    shipgate_secrets::name::check_value(name, value)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "invalid_secret_value", error.to_string()))?;
    let vault = executor.secrets.clone();
    let sealed = vault.key().map_err(internal)?.seal(environment, name, value).map_err(internal)?;
    vault.register(&executor.recorder, name, value);
    let row = RecordRow {
        kind: KIND.into(),
        scope: environment.to_owned(),
        name: name.to_owned(),
        version: 0,
        value: Some(sealed),
        actor: caller.name.clone(),
        created: now(),
    };
    put(executor, row, action, json!({})).await
}

/// Stores a secret's record and its ledger entry together; the entry names the environment,
/// the secret and the version, never the value.
async fn put(executor: &Executor, row: RecordRow, action: &'static str, extra: Value) -> Result<u64, ApiError> {
    executor
        .recorder
        .blocking(move |recorder| {
            let ledger = &recorder.ledger;
            recorder.store.transact(|tx| {
                if tx.record(INDEX_KIND, "", &row.scope)?.is_none() {
                    tx.put_record(&RecordRow {
                        kind: INDEX_KIND.into(),
                        scope: String::new(),
                        name: row.scope.clone(),
                        version: 0,
                        value: Some(String::new()),
                        actor: row.actor.clone(),
                        created: row.created.clone(),
                    })?;
                }
                let version = tx.put_record(&row)?;
                let mut details = json!({"name": row.name, "version": version});
                if let (Some(details), Value::Object(extra)) = (details.as_object_mut(), extra) {
                    details.extend(extra);
                }
                ledger.append(
                    tx,
                    NewEntry::new(row.actor.clone(), action, format!("secret/{}/{}", row.scope, row.name))
                        .env(row.scope.clone())
                        .details(details),
                )?;
                Ok::<_, RecordError>(version)
            })
        })
        .await
        .map_err(internal)
}

/// `DELETE /environments/{env}/secrets/{name}`: a removal (a tombstone version); later
/// deployments that declare it are refused until it is set again.
pub async fn remove(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    UrlPath((environment, name)): UrlPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_environment(&environment)?;
    check_name(&name)?;
    let (owned_env, owned_name) = (environment.clone(), name.clone());
    let current = state
        .executor
        .recorder
        .blocking(move |recorder| Ok(recorder.store.read(|reader| reader.record(KIND, &owned_env, &owned_name))?))
        .await
        .map_err(internal)?;
    if current.is_none_or(|row| row.value.is_none()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_secret",
            format!("`{environment}` has no secret `{name}`"),
        )
        .hint(format!("`shipgate secrets list {environment}` shows its secrets")));
    }
    let row = RecordRow {
        kind: KIND.into(),
        scope: environment.clone(),
        name: name.clone(),
        version: 0,
        value: None,
        actor: caller.name.clone(),
        created: now(),
    };
    let version = put(&state.executor, row, actions::SECRET_REMOVED, json!({})).await?;
    Ok(Json(json!({"environment": environment, "name": name, "version": version, "removed": true})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Rotate one secret: its new value is stored, then the instances that use it restart.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<String>,
    /// Restart every instance whose release declares any secret (after new values were set).
    #[serde(default)]
    all: bool,
}

/// `POST /environments/{env}/secrets/rotate`: `{"name", "value"}` stores a new version of one
/// secret and restarts the instances that use it; `{"all": true}` restarts every instance
/// whose release declares any secret. The restart is rolling and health-gated: one new
/// instance starts with the current values, must become healthy, then one old one drains and
/// stops. Answers when done.
pub async fn rotate(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    UrlPath(environment): UrlPath<String>,
    Json(body): Json<RotateBody>,
) -> Result<Json<Value>, ApiError> {
    check_environment(&environment)?;
    let value = body.value.map(Zeroizing::new);
    let (names, version) = match (body.all, body.name, value) {
        (true, None, None) => (None, None),
        (false, Some(name), Some(value)) => {
            let version =
                store_value(&state.executor, &caller, &environment, &name, &value, actions::SECRET_SET).await?;
            (Some(vec![name]), Some(version))
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_rotation",
                "give either `name` and `value`, or `all: true`",
            )
            .hint("`shipgate secrets rotate ENV NAME` or `shipgate secrets rotate --all ENV`"));
        }
    };
    let outcome = restart(&state.executor, &environment, names.as_deref(), &caller.name).await?;
    let mut answer = outcome;
    answer["environment"] = json!(environment);
    if let (Some(names), Some(version)) = (names, version) {
        answer["name"] = json!(names[0]);
        answer["secret_version"] = json!(version);
    }
    Ok(Json(answer))
}

/// The rolling restart of the active release's instances in `environment` that use `names`
/// (`None`: any secret). See [`rotate`].
async fn restart(
    executor: &Executor,
    environment: &str,
    names: Option<&[String]>,
    actor: &str,
) -> Result<Value, ApiError> {
    let _one_at_a_time = executor.secrets.restarting.lock().await;
    let owned = environment.to_owned();
    let (row, in_flight) = executor
        .recorder
        .blocking(move |recorder| {
            recorder.store.read(|reader| {
                let in_flight = reader.unfinished_deployments()?.into_iter().any(|row| row.environment == owned);
                Ok::<_, RecordError>((reader.environment(&owned)?, in_flight))
            })
        })
        .await
        .map_err(internal)?;
    if in_flight {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "deployment_in_progress",
            format!("a deployment of `{environment}` is in progress; its new instances get the current values"),
        )
        .hint("run the rotation again once it has finished, if the old release keeps running"));
    }
    let Some(version) = row.and_then(|row| row.active_version) else {
        return Ok(
            json!({"restarted": [], "message": format!("no release runs in `{environment}`; the next deployment uses the current values")}),
        );
    };
    let owned = version.clone();
    let release = executor
        .recorder
        .blocking(move |recorder| Ok(recorder.store.read(|reader| reader.release(&owned))?))
        .await
        .map_err(internal)?
        .ok_or_else(|| internal(format!("the active release `{version}` is missing from the store")))?;
    let spec = shipgate_spec::parse_str(&release.spec)
        .map_err(|_| internal(format!("the shipgate.toml of release `{version}` no longer validates")))?;
    let uses = match names {
        Some(names) => names.iter().any(|name| spec.secrets.contains_key(name)),
        None => !spec.secrets.is_empty(),
    };
    if !uses {
        return Ok(json!({"restarted": [], "version": version,
                         "message": format!("release `{version}` in `{environment}` declares none of these secrets; nothing to restart")}));
    }
    let resolved = resolve(executor, &spec, environment).await.map_err(|message| {
        ApiError::new(StatusCode::CONFLICT, "secret_unavailable", message)
            .hint("no instance was restarted; fix the secret and rotate again")
    })?;
    let dir =
        service::artifact_dir(&executor.data_dir, &release.digest, &release.kind, &service::artifact_file_name(&spec))
            .map_err(internal)?;
    let service_name = service::service_name(&spec, environment);
    let all = executor.agent.instances().await?;
    let mut old: Vec<String> = all
        .iter()
        .filter(|instance| instance.service == service_name && instance.version == version && is_live(instance))
        .map(|instance| instance.id.clone())
        .collect();
    old.sort();
    let startup = spec.run.health.as_ref().map_or(Duration::from_secs(60), |health| health.startup.as_std());
    // Restart ids carry the time in milliseconds, and skip any id the agent already knows.
    let stamp = jiff::Timestamp::now().as_millisecond();
    let flags_env = service::flags_env(&executor.recorder, environment).await;
    let mut next = 1;
    let mut replaced = Vec::new();
    let mut failure = None;
    for old_id in &old {
        let new_id = loop {
            let candidate = format!("{service_name}-r{stamp}-{next}");
            next += 1;
            if !all.iter().any(|instance| instance.id == candidate) {
                break candidate;
            }
        };
        let mut instance = service::instance_spec(&spec, environment, &version, new_id.clone(), &dir);
        instance.env.extend(flags_env.iter().cloned());
        inject(&mut instance, &resolved);
        instance.verify = service::artifact_check(&executor.data_dir, &release, &spec);
        if let Err(error) = executor.agent.start_instance(&instance).await {
            failure = Some(format!("cannot start `{new_id}`: {error}"));
            break;
        }
        if let Err(reason) = wait_healthy(executor, &new_id, startup).await {
            let _ = executor.agent.stop_instance(&new_id).await;
            failure = Some(reason);
            break;
        }
        executor.agent.stop_instance(old_id).await?;
        tracing::info!(environment, old = %old_id, new = %new_id, "restarted an instance with the current secrets");
        replaced.push(json!({"old": old_id, "new": new_id}));
    }
    let details = json!({"version": version, "secrets": names, "replaced": replaced, "failure": failure});
    let entry = NewEntry::new(actor.to_owned(), actions::SECRETS_RESTARTED, format!("environment/{environment}"))
        .env(environment.to_owned())
        .details(details.clone());
    executor
        .recorder
        .blocking(move |recorder| {
            let ledger = &recorder.ledger;
            recorder.store.transact(|tx| ledger.append(tx, entry).map_err(RecordError::from))
        })
        .await
        .map_err(internal)?;
    if let Some(reason) = failure {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "restart_failed",
            format!(
                "the rolling restart of `{environment}` stopped after {} of {} instance(s): {reason}",
                replaced.len(),
                old.len()
            ),
        )
        .hint("the remaining instances keep running with the values they started with; fix the cause and rotate again (`--all`)"));
    }
    Ok(json!({"restarted": replaced, "version": version}))
}

/// Waits until instance `id` is healthy; fails when it crash-loops or `startup` passes.
async fn wait_healthy(executor: &Executor, id: &str, startup: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + startup;
    loop {
        let instance =
            executor.agent.instances().await.map_err(|error| error.to_string())?.into_iter().find(|i| i.id == id);
        match instance {
            Some(instance) if instance.state == InstanceState::Healthy => return Ok(()),
            Some(instance) if instance.state == InstanceState::Crashloop || instance.restarts >= 3 => {
                return Err(format!(
                    "the new instance `{id}` does not stay up (last exit: {})",
                    instance.last_exit.as_deref().unwrap_or("unknown")
                ));
            }
            None => return Err(format!("the new instance `{id}` disappeared")),
            Some(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("the new instance `{id}` did not become healthy within {} s", startup.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
