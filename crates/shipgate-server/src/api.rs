//! The HTTP API under `/api/v1` (documented in README.md and `openapi.json`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shipgate_engine::{EnvironmentState, Plan, PlanError, Release, Step};
use shipgate_store::{DeploymentRow, EnvironmentRow, EventRow, ReleaseRow, StoreError};

use crate::auth::{self, Caller, Permission, Role};
use crate::executor::{self, Executor, Signal, StepError, is_live, weights_json};
use crate::gates::{self, Override};
use crate::record::{Change, RecordError, actions, kinds, now, status};
use crate::service::{self, FULL_WEIGHT};
use shipgate_policy::Lifting;

/// The OpenAPI document, kept next to the code it describes.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    pub executor: Executor,
    pub backend: String,
    /// Directory of the agent's instance logs.
    pub agent_logs: std::path::PathBuf,
    /// Becomes true when the server shuts down: streams end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Whether the server itself terminates TLS (the console's cookies are then `Secure`).
    pub tls: bool,
}

type Shared = State<Arc<AppState>>;

/// An error answer: `{code, message, hint}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    hint: Option<String>,
    /// More fields of the answer (e.g. the findings of a refusal).
    details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), hint: None, details: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!("internal error: {error}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", error.to_string())
            .hint("see the server's log; this is a bug or a failing disk/database")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message, "hint": self.hint});
        if let (Some(body), Some(Value::Object(details))) = (body.as_object_mut(), self.details) {
            body.extend(details);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<RecordError> for ApiError {
    fn from(error: RecordError) -> ApiError {
        ApiError::internal(error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        ApiError::internal(error)
    }
}

impl From<crate::agent_client::AgentError> for ApiError {
    fn from(error: crate::agent_client::AgentError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "agent_unavailable", error.to_string())
            .hint("check that the agent runs (`shipgate server` starts one) and its log in DATA_DIR/agent/agent.log")
    }
}

type ApiResult<T> = Result<T, ApiError>;

pub fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/api/v1/releases", get(list_releases))
        .route("/api/v1/releases/{version}", get(show_release))
        .route("/api/v1/environments", get(list_environments))
        .route("/api/v1/environments/{env}", get(show_environment))
        .route("/api/v1/environments/{env}/plan", post(plan_deployment))
        .route("/api/v1/environments/{env}/deployments", post(create_deployment).get(list_deployments))
        .route("/api/v1/environments/{env}/rollback", post(roll_back))
        .route("/api/v1/environments/{env}/logs", get(logs))
        .route("/api/v1/environments/{env}/check", post(check))
        .route("/api/v1/environments/{env}/drift", get(drift))
        .route("/api/v1/environments/{env}/secrets", get(crate::secrets::list))
        .route("/api/v1/environments/{env}/secrets/rotate", post(crate::secrets::rotate))
        .route(
            "/api/v1/environments/{env}/secrets/{name}",
            axum::routing::put(crate::secrets::set).delete(crate::secrets::remove),
        )
        .route("/api/v1/deployments/{id}", get(show_deployment))
        .route("/api/v1/deployments/{id}/events", get(events_or_list))
        .route("/api/v1/deployments/{id}/resume", post(resume))
        .route("/api/v1/deployments/{id}/abort", post(abort))
        .route("/api/v1/deployments/{id}/checklist", get(checklist))
        .route("/api/v1/deployments/{id}/approve", post(approve))
        .route("/api/v1/deployments/{id}/reject", post(reject))
        .route("/api/v1/tokens", post(create_token).get(list_tokens))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .merge(crate::ledger_api::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .merge(protected)
        .merge(crate::flags::routes(state.clone()))
        // The web console authenticates by session cookie, not by bearer token.
        .merge(crate::console::routes())
        // Last: every answer, streamed ones included, passes the secrets redactor.
        .layer(middleware::from_fn_with_state(state.clone(), redact_response))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API path").hint("see /api/v1/openapi.json")
        })
        .with_state(state)
}

/// Replaces every registered secret value in the answer's body with `[secret:NAME]`, frame by
/// frame (JSON answers are one frame; the log and event streams send whole lines and events).
async fn redact_response(State(state): Shared, request: Request, next: Next) -> Response {
    use http_body_util::BodyExt;
    let response = next.run(request).await;
    let redactor = state.executor.secrets.redactor.clone();
    let (mut parts, body) = response.into_parts();
    // The length may change.
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = body.map_frame(move |frame| {
        frame.map_data(|data| match redactor.redact_bytes(&data) {
            std::borrow::Cow::Borrowed(_) => data,
            std::borrow::Cow::Owned(clean) => bytes::Bytes::from(clean),
        })
    });
    Response::from_parts(parts, axum::body::Body::new(body))
}

pub(crate) async fn authenticate(State(state): Shared, mut request: Request, next: Next) -> Response {
    let secret = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(secret) = secret else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this request needs `Authorization: Bearer TOKEN`",
        )
        .hint("the CLI reads the token from SHIPGATE_TOKEN or the credentials file written at the server's first start")
        .into_response();
    };
    let recorder = state.executor.recorder.clone();
    let caller = tokio::task::spawn_blocking(move || auth::identify(&recorder, &secret)).await;
    match caller {
        Ok(Ok(Ok(caller))) => {
            if let Err(error) = authorize(&state, &caller, request.method(), request.uri().path()).await {
                return error.into_response();
            }
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Ok(Ok(Err(why))) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why)
            .hint("use the token printed at the server's first start, or ask an admin for a new one (`shipgate token create`)")
            .into_response(),
        Ok(Err(error)) => ApiError::from(error).into_response(),
        Err(error) => ApiError::internal(error).into_response(),
    }
}

/// The permission a request needs and the environment it concerns, from its method and path.
async fn authorize(state: &AppState, caller: &Caller, method: &axum::http::Method, path: &str) -> ApiResult<()> {
    let parts: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    let writes = *method != axum::http::Method::GET;
    let (permission, environment) = match parts.as_slice() {
        ["tokens", ..] => (Permission::ManageTokens, None),
        ["environments", env, "plan" | "check"] => (Permission::Read, Some((*env).to_owned())),
        ["environments", env, "secrets", ..] => {
            (if writes { Permission::ManageSecrets } else { Permission::Read }, Some((*env).to_owned()))
        }
        ["environments", env, ..] => {
            (if writes { Permission::Deploy } else { Permission::Read }, Some((*env).to_owned()))
        }
        ["deployments", id, rest @ ..] => {
            let environment = match id.parse::<u64>() {
                Ok(id) => read(state, move |reader| reader.deployment(id)).await?.map(|row| row.environment),
                Err(_) => None,
            };
            let permission = match rest {
                ["approve" | "reject"] => Permission::Approve,
                _ if writes => Permission::Deploy,
                _ => Permission::Read,
            };
            (permission, environment)
        }
        ["", "ofrep", ..] => (Permission::EvaluateFlags, crate::flags::ofrep_environment(caller)),
        _ => (Permission::Read, None),
    };
    caller.may(permission, environment.as_deref()).map_err(|message| forbidden(message, permission))
}

fn forbidden(message: String, permission: Permission) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).hint(format!(
        "ask an admin for a token with the `{}` permission on that environment (`shipgate token create`)",
        permission.name()
    ))
}

async fn health(State(state): Shared) -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "backend": state.backend}))
}

// --- reading -------------------------------------------------------------------------------

pub(crate) async fn read<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&mut dyn shipgate_store::Reader) -> Result<T, StoreError> + Send + 'static,
) -> ApiResult<T> {
    Ok(state.executor.recorder.blocking(move |recorder| Ok(recorder.store.read(work)?)).await?)
}

#[derive(Serialize)]
struct ReleaseView {
    version: String,
    digest: String,
    kind: String,
    source_commit: Option<String>,
    creator: String,
    created: String,
    /// The signature and whether it verifies with the release's `[artifact] trusted_keys`;
    /// `null` when unsigned.
    signature: Option<Value>,
    /// What was recorded at creation: tests, migrations, the secret scan.
    evidence: Option<Value>,
}

impl From<ReleaseRow> for ReleaseView {
    fn from(row: ReleaseRow) -> Self {
        let signature = service::release_signature(&row).map(|minisig| {
            let trusted =
                shipgate_spec::parse_str(&row.spec).map(|spec| spec.artifact.trusted_keys).unwrap_or_default();
            let check = gates::check_signature(&trusted, &row.digest, &minisig);
            json!({"minisig": minisig, "check": check})
        });
        let mut evidence: Option<Value> = row.evidence.as_deref().and_then(|text| serde_json::from_str(text).ok());
        if let Some(Value::Object(fields)) = &mut evidence {
            fields.remove("signature");
        }
        ReleaseView {
            version: row.version,
            digest: row.digest,
            kind: row.kind,
            source_commit: row.source_commit,
            creator: row.creator,
            created: row.created,
            signature,
            evidence,
        }
    }
}

async fn list_releases(State(state): Shared) -> ApiResult<Json<Vec<ReleaseView>>> {
    let rows = read(&state, |reader| reader.releases()).await?;
    Ok(Json(rows.into_iter().map(ReleaseView::from).collect()))
}

async fn show_release(State(state): Shared, Path(version): Path<String>) -> ApiResult<Json<ReleaseView>> {
    find_release(&state, &version).await.map(|row| Json(row.into()))
}

async fn find_release(state: &AppState, version: &str) -> ApiResult<ReleaseRow> {
    let owned = version.to_owned();
    read(state, move |reader| reader.release(&owned)).await?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_release", format!("there is no release `{version}`"))
            .hint("create it with `shipgate release create --version V`; `shipgate release list` shows the others")
    })
}

async fn list_environments(State(state): Shared) -> ApiResult<Json<Vec<Value>>> {
    let (rows, releases) = read(&state, |reader| Ok((reader.environments()?, reader.releases()?))).await?;
    let mut names: std::collections::BTreeSet<String> = rows.iter().map(|row| row.name.clone()).collect();
    if let Some(spec) = releases.last().and_then(|release| shipgate_spec::parse_str(&release.spec).ok()) {
        names.extend(spec.environments.keys().cloned());
    }
    let mut statuses = Vec::new();
    for name in names {
        statuses.push(environment_status(&state, &name).await?);
    }
    Ok(Json(statuses))
}

async fn show_environment(State(state): Shared, Path(env): Path<String>) -> ApiResult<Json<Value>> {
    known_environment(&state, &env).await?;
    Ok(Json(environment_status(&state, &env).await?))
}

/// Refuses an environment that no release declares and that has no history.
async fn known_environment(state: &AppState, env: &str) -> ApiResult<()> {
    let owned = env.to_owned();
    let (row, releases) = read(state, move |reader| Ok((reader.environment(&owned)?, reader.releases()?))).await?;
    let declared: std::collections::BTreeSet<String> = releases
        .iter()
        .filter_map(|release| shipgate_spec::parse_str(&release.spec).ok())
        .flat_map(|spec| spec.environments.into_keys())
        .collect();
    if row.is_some() || declared.contains(env) {
        return Ok(());
    }
    let known: Vec<String> = declared.into_iter().collect();
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_environment",
        format!("no release declares an environment `{env}`"),
    )
    .hint(if known.is_empty() {
        "create a release first".to_owned()
    } else {
        format!("known: {}", known.join(", "))
    }))
}

async fn environment_status(state: &AppState, env: &str) -> ApiResult<Value> {
    let owned = env.to_owned();
    let (row, deployment, releases) = read(state, move |reader| {
        let row = reader.environment(&owned)?;
        let in_flight = reader.deployments(&owned, 1)?.into_iter().find(|row| row.finished.is_none());
        Ok((row, in_flight, reader.releases()?))
    })
    .await?;
    let row = row.unwrap_or_else(|| empty_environment(env));
    let digest_of = |version: &str| {
        releases.iter().find(|release| release.version == version).map(|release| release.digest.clone())
    };
    // The service name comes from the app name, which the newest release's spec gives.
    let spec = releases.last().and_then(|release| shipgate_spec::parse_str(&release.spec).ok());
    let (weights, instances) = match &spec {
        Some(spec) => {
            let name = service::service_name(spec, env);
            let agent = &state.executor.agent;
            let weights = agent
                .service(&name)
                .await
                .ok()
                .flatten()
                .map(|status| {
                    let routes: Vec<(String, u32)> =
                        status.spec.versions.into_iter().map(|route| (route.name, route.weight)).collect();
                    let total: u32 = routes.iter().map(|(_, weight)| weight).sum::<u32>().max(1);
                    let percent: Vec<(String, u32)> =
                        routes.into_iter().map(|(version, weight)| (version, weight * FULL_WEIGHT / total)).collect();
                    weights_json(&percent)
                })
                .unwrap_or_else(|| json!([]));
            let instances: Vec<Value> = agent
                .instances()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|instance| instance.service == name)
                .map(|instance| {
                    json!({"id": instance.id, "version": instance.version, "state": instance.state,
                           "port": instance.port, "restarts": instance.restarts, "live": is_live(&instance)})
                })
                .collect();
            (weights, instances)
        }
        None => (json!([]), Vec::new()),
    };
    let deployment = match deployment {
        Some(row) => Some(deployment_view(state, row).await?),
        None => None,
    };
    Ok(json!({
        "name": env,
        "active": row.active_version.as_ref().map(|version| json!({"version": version, "digest": digest_of(version), "since": row.active_since})),
        "previous": row.previous_version.as_ref().map(|version| json!({"version": version, "warm_until": row.warm_until})),
        "weights": weights,
        "instances": instances,
        "deployment": deployment,
    }))
}

fn empty_environment(env: &str) -> EnvironmentRow {
    EnvironmentRow {
        name: env.to_owned(),
        active_version: None,
        active_since: None,
        previous_version: None,
        warm_until: None,
    }
}

// --- planning ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct PlanRequest {
    version: String,
    #[serde(default)]
    overrides: Vec<Override>,
}

fn config_digest(spec_text: &str) -> String {
    Sha256::digest(spec_text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(crate) fn engine_release(row: &ReleaseRow) -> Release {
    Release { version: row.version.clone(), digest: row.digest.clone(), config_digest: config_digest(&row.spec) }
}

/// The plan the server would execute now for `version` in `env`.
async fn make_plan(state: &AppState, env: &str, version: &str) -> ApiResult<Plan> {
    let target = find_release(state, version).await?;
    let owned = env.to_owned();
    let active = read(state, move |reader| {
        let Some(row) = reader.environment(&owned)? else { return Ok(None) };
        match row.active_version {
            Some(version) => reader.release(&version),
            None => Ok(None),
        }
    })
    .await?;
    let spec = executor::parse_spec(&target.spec, version).map_err(ApiError::internal)?;
    let environment = EnvironmentState { active: active.as_ref().map(engine_release) };
    shipgate_engine::plan(&spec, env, &environment, &engine_release(&target)).map_err(|error| match error {
        PlanError::UnknownEnvironment { known, .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_environment",
            format!("release {version}'s shipgate.toml has no environment `{env}`"),
        )
        .hint(format!("declared: {}", known.join(", "))),
    })
}

fn steps_json(steps: &[Step]) -> Vec<Value> {
    steps
        .iter()
        .enumerate()
        .map(|(index, step)| json!({"index": index, "step": step, "description": step.describe()}))
        .collect()
}

async fn plan_deployment(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    Json(request): Json<PlanRequest>,
) -> ApiResult<Json<Value>> {
    let plan = make_plan(&state, &env, &request.version).await?;
    let lifting = judge(&state, &env, &request.version, &caller, &request.overrides).await?;
    Ok(Json(plan_view(&plan, &lifting)))
}

/// The gates' judgment of deploying `version` to `env` now.
async fn judge(
    state: &AppState,
    env: &str,
    version: &str,
    caller: &Caller,
    overrides: &[Override],
) -> ApiResult<Lifting> {
    let release = find_release(state, version).await?;
    let facts = gates::gather(&state.executor, env, &release, &caller.name, false).await.map_err(step_error)?;
    Ok(gates::judge(&facts, overrides))
}

fn step_error(error: StepError) -> ApiError {
    match error {
        StepError::Agent(error) => error.into(),
        other => ApiError::internal(other),
    }
}

fn plan_view(plan: &Plan, lifting: &Lifting) -> Value {
    json!({
        "environment": plan.environment,
        "from": plan.from.as_ref().map(|release| release.version.clone()),
        "to": plan.to.version,
        "digest": plan.digest(),
        "no_op": plan.no_op,
        "steps": steps_json(&plan.steps),
        "gates": gates::gates_json(lifting),
        "findings": lifting.remaining,
    })
}

// --- deploying -----------------------------------------------------------------------------

#[derive(Deserialize)]
struct DeployRequest {
    version: String,
    #[serde(default)]
    plan_digest: Option<String>,
    /// Deny findings to lift for this deployment, each with a reason (recorded in the ledger).
    #[serde(default)]
    overrides: Vec<Override>,
}

async fn create_deployment(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    Json(request): Json<DeployRequest>,
) -> ApiResult<Response> {
    let plan = make_plan(&state, &env, &request.version).await?;
    if let Some(reason) = &plan.no_op {
        return Ok((StatusCode::OK, Json(json!({"no_op": reason}))).into_response());
    }
    if let Some(expected) = &request.plan_digest
        && *expected != plan.digest()
    {
        return Err(ApiError::new(StatusCode::CONFLICT, "plan_changed", "the plan changed since it was shown")
            .hint("run `shipgate plan` again, check the steps, then deploy"));
    }
    if !request.overrides.is_empty() {
        caller.may(Permission::Override, Some(&env)).map_err(|message| forbidden(message, Permission::Override))?;
    }
    let lifting = judge(&state, &env, &request.version, &caller, &request.overrides).await?;
    if gates::refuses(&lifting) {
        return Err(refused(&state, &env, &request.version, &caller, &lifting).await);
    }
    let mut extra = json!({"overrides": lifted_json(&lifting)});
    if let Some(superseded) = supersede(&state, &env, &plan, &caller).await? {
        extra["supersedes"] = json!(superseded);
    }
    let row = start(&state, &env, plan, "deploy", &caller, extra).await?;
    Ok((StatusCode::CREATED, Json(deployment_view(&state, row).await?)).into_response())
}

/// A deployment of `env` still awaiting approval for another plan than `plan` is superseded by
/// the new request: it ends as `aborted` (recorded by its executor, with the ledger entry) and
/// the new deployment waits for approvals of its own plan, so no vote given for one plan ever
/// counts for another. Returns the superseded deployment's id; `None` when there was none to
/// supersede (then `start` answers 409 if the environment is busy).
async fn supersede(state: &AppState, env: &str, plan: &Plan, caller: &Caller) -> ApiResult<Option<u64>> {
    let owned = env.to_owned();
    let waiting =
        read(state, move |reader| Ok(reader.deployments(&owned, 1)?.into_iter().find(|row| row.finished.is_none())))
            .await?;
    let Some(waiting) = waiting else { return Ok(None) };
    if waiting.status != status::AWAITING_APPROVAL || waiting.kind != "deploy" || waiting.plan_digest == plan.digest() {
        return Ok(None);
    }
    let reason = format!(
        "superseded: {} deployed {} to {env}, a different plan; approvals given for this plan do not count for it",
        caller.name, plan.to.version
    );
    if !state.executor.signal(waiting.id, Signal::Supersede { reason }) {
        return Ok(None);
    }
    let mut wake = state.executor.recorder.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let current = find_deployment(state, &waiting.id.to_string()).await?;
        if current.status == status::ABORTED {
            return Ok(Some(waiting.id));
        }
        // It started meanwhile (its approvals were complete), or did not end in time.
        if status::is_final(&current.status)
            || current.status != status::AWAITING_APPROVAL
            || tokio::time::Instant::now() >= deadline
        {
            return Ok(None);
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), wake.recv()).await;
    }
}

/// The overrides that lifted findings, as recorded with the deployment (and read back by the
/// executor's `gates` step).
fn lifted_json(lifting: &Lifting) -> Value {
    lifting
        .lifted
        .iter()
        .map(|lifted| {
            json!({"rule": lifted.finding.rule, "name": lifted.finding.name, "reason": lifted.reason,
                              "message": lifted.finding.message})
        })
        .collect()
}

/// Records the refusal in the ledger and answers 409 `gates_refused` with the findings.
async fn refused(state: &AppState, env: &str, version: &str, caller: &Caller, lifting: &Lifting) -> ApiError {
    let entry = shipgate_ledger::NewEntry::new(caller.name.clone(), actions::REFUSED, format!("release/{version}"))
        .env(env.to_owned())
        .details(json!({"version": version, "findings": lifting.remaining, "refused_overrides": lifting.refused}));
    let ledger = state.executor.recorder.ledger.clone();
    if let Err(error) = state.executor.recorder.blocking(move |_| Ok(ledger.record(entry)?)).await {
        return ApiError::from(error);
    }
    let mut error = ApiError::new(StatusCode::CONFLICT, "gates_refused", gates::refusal_reason(lifting)).hint(
        "fix what the findings name and plan again; an overridable rule can be lifted for one deployment with `--override RULE --reason TEXT`",
    );
    error.details = Some(json!({"gates": gates::gates_json(lifting), "findings": lifting.remaining}));
    error
}

/// `awaiting_approval` when the target environment declares `approvals` (rollbacks never wait:
/// they are the way back), else `running`.
async fn initial_status(state: &AppState, plan: &Plan, env: &str, kind: &str) -> ApiResult<&'static str> {
    if kind != "deploy" {
        return Ok(status::RUNNING);
    }
    let release = find_release(state, &plan.to.version).await?;
    let spec = executor::parse_spec(&release.spec, &release.version).map_err(ApiError::internal)?;
    let approvals = spec.environments.get(env).and_then(|environment| environment.approvals.as_ref());
    Ok(if approvals.is_some() { status::AWAITING_APPROVAL } else { status::RUNNING })
}

/// The post-deployment checklist recorded at the end of deployment `id`.
async fn checklist(State(state): Shared, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let row = find_deployment(&state, &id).await?;
    let number = row.id;
    let events = read(&state, move |reader| reader.deployment_events(number, 0)).await?;
    let Some(event) = events.iter().rev().find(|event| event.kind == kinds::CHECKLIST) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_checklist",
            format!("deployment {number} has no checklist (status {})", row.status),
        )
        .hint("the checklist is judged when a deployment reaches its end"));
    };
    let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
    let findings = crate::checklist::findings(&data["checklist"]);
    Ok(Json(json!({"deployment": number, "version": row.version, "environment": row.environment,
                   "time": event.time, "summary": event.message, "items": data["checklist"], "findings": findings})))
}

type VoteBody = Option<Json<crate::approvals::VoteRequest>>;

async fn approve(state: Shared, caller: Extension<Caller>, id: Path<String>, body: VoteBody) -> ApiResult<Json<Value>> {
    cast_vote(state, caller, id, body, crate::approvals::Decision::Approve).await
}

async fn reject(state: Shared, caller: Extension<Caller>, id: Path<String>, body: VoteBody) -> ApiResult<Json<Value>> {
    cast_vote(state, caller, id, body, crate::approvals::Decision::Reject).await
}

async fn cast_vote(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: VoteBody,
    decision: crate::approvals::Decision,
) -> ApiResult<Json<Value>> {
    let comment = body.and_then(|Json(body)| body.comment);
    crate::approvals::vote(&state, &caller, &id, decision, comment).await.map(Json)
}

/// Records a new deployment and starts executing it.
async fn start(
    state: &AppState,
    env: &str,
    plan: Plan,
    kind: &str,
    caller: &Caller,
    extra: Value,
) -> ApiResult<DeploymentRow> {
    let row = DeploymentRow {
        id: 0,
        environment: env.to_owned(),
        version: plan.to.version.clone(),
        from_version: plan.from.as_ref().map(|release| release.version.clone()),
        kind: kind.to_owned(),
        plan: serde_json::to_string(&plan).map_err(ApiError::internal)?,
        plan_digest: plan.digest(),
        status: initial_status(state, &plan, env, kind).await?.into(),
        // A rollback says from the start why someone asked for it (history, the console).
        reason: extra["reason"].as_str().filter(|_| kind == "rollback").map(str::to_owned),
        actor: caller.name.clone(),
        created: now(),
        finished: None,
        next_step: 0,
    };
    let row = match state.executor.recorder.create(row, extra).await {
        Ok(row) => row,
        Err(RecordError::Store(StoreError::Conflict { running, .. })) => {
            return Err(in_progress(state, env, running).await);
        }
        Err(error) => return Err(error.into()),
    };
    state.executor.spawn(row.id);
    Ok(row)
}

async fn in_progress(state: &AppState, env: &str, running: u64) -> ApiError {
    let row = read(state, move |reader| reader.deployment(running)).await.ok().flatten();
    let who =
        row.map(|row| format!("deployment {running} of {} started by {} at {}", row.version, row.actor, row.created));
    ApiError::new(
        StatusCode::CONFLICT,
        "deployment_in_progress",
        format!("`{env}` already has {}", who.unwrap_or_else(|| format!("deployment {running} in flight"))),
    )
    .hint(format!("wait for it (`shipgate deploy --wait` queues), or stop it with `shipgate deploy abort {running}`"))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    limit: Option<u64>,
}

async fn list_deployments(
    State(state): Shared,
    Path(env): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    known_environment(&state, &env).await?;
    let limit = query.limit.unwrap_or(20).clamp(1, 1000);
    let rows = read(&state, move |reader| reader.deployments(&env, limit)).await?;
    let mut views = Vec::new();
    for row in rows {
        views.push(deployment_view(&state, row).await?);
    }
    Ok(Json(views))
}

pub(crate) async fn find_deployment(state: &AppState, id: &str) -> ApiResult<DeploymentRow> {
    let unknown = || {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_deployment", format!("there is no deployment `{id}`"))
            .hint("`shipgate history ENV` lists deployments with their ids")
    };
    let number: u64 = id.parse().map_err(|_| unknown())?;
    read(state, move |reader| reader.deployment(number)).await?.ok_or_else(unknown)
}

async fn show_deployment(State(state): Shared, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let row = find_deployment(&state, &id).await?;
    Ok(Json(deployment_view(&state, row).await?))
}

/// A deployment with each step's state, built from the row and its events.
async fn deployment_view(state: &AppState, row: DeploymentRow) -> ApiResult<Value> {
    let id = row.id;
    let events = read(state, move |reader| reader.deployment_events(id, 0)).await?;
    let steps: Vec<Step> = serde_json::from_str::<Plan>(&row.plan).map(|plan| plan.steps).unwrap_or_default();
    let steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let mine = |kind: &'static str| {
                events.iter().filter(move |event| event.step_index == Some(index) && event.kind == kind)
            };
            let started = mine(kinds::STEP_STARTED).next().map(|event| event.time.clone());
            let done = mine(kinds::STEP_DONE).next_back();
            let failed = mine(kinds::STEP_FAILED).next_back();
            let (step_state, finished, detail) = if index < row.next_step {
                ("done", done.map(|event| event.time.clone()), done.map(|event| event.message.clone()))
            } else if let Some(event) = failed {
                ("failed", Some(event.time.clone()), Some(event.message.clone()))
            } else if started.is_some() && !status::is_final(&row.status) {
                // What the step reports while it runs: healthy counts, weights, the analysis.
                ("running", None, mine(kinds::PROGRESS).next_back().map(|event| event.message.clone()))
            } else {
                ("pending", None, None)
            };
            json!({"index": index, "step": step, "description": step.describe(), "state": step_state,
                   "started": started, "finished": finished, "detail": detail})
        })
        .collect();
    Ok(json!({
        "id": row.id, "environment": row.environment, "version": row.version, "from_version": row.from_version,
        "status": row.status, "reason": row.reason, "actor": row.actor, "created": row.created,
        "finished": row.finished, "plan_digest": row.plan_digest, "kind": row.kind, "steps": steps,
    }))
}

fn event_json(event: &EventRow) -> Value {
    json!({
        "seq": event.seq, "deployment": event.deployment, "time": event.time, "kind": event.kind,
        "step_index": event.step_index, "message": event.message,
        "data": serde_json::from_str::<Value>(&event.data).unwrap_or(Value::Null),
    })
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: Option<u64>,
}

/// `Accept: application/json` (without `text/event-stream`): the events recorded so far as one
/// JSON array, for a client that reads them at once (the console's charts); otherwise the stream.
async fn events_or_list(
    state: Shared,
    id: Path<String>,
    query: Query<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let accept = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if accept.contains("application/json") && !accept.contains("text/event-stream") {
        return event_list(state, id, query).await.map(IntoResponse::into_response);
    }
    events(state, id, query, headers).await.map(IntoResponse::into_response)
}

/// Every event of the deployment with a `seq` above `after`, in order.
async fn event_list(
    State(state): Shared,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let row = find_deployment(&state, &id).await?;
    let (number, after) = (row.id, query.after.unwrap_or(0));
    let events = read(&state, move |reader| reader.deployment_events(number, after)).await?;
    Ok(Json(events.iter().map(event_json).collect()))
}

/// The deployment's events as Server-Sent Events: everything after `after`, then new events
/// as they are recorded, until the final one.
async fn events(
    State(state): Shared,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let row = find_deployment(&state, &id).await?;
    // A reconnecting EventSource says where it was.
    let resume_from =
        headers.get("last-event-id").and_then(|value| value.to_str().ok()).and_then(|value| value.parse().ok());
    let after = query.after.or(resume_from).unwrap_or(0);
    let wake = state.executor.recorder.subscribe();
    struct Cursor {
        state: Arc<AppState>,
        id: u64,
        after: u64,
        wake: tokio::sync::broadcast::Receiver<u64>,
        pending: std::collections::VecDeque<EventRow>,
        done: bool,
        stopping: tokio::sync::watch::Receiver<bool>,
    }
    let stopping = state.stopping.clone();
    let cursor =
        Cursor { state: state.clone(), id: row.id, after, wake, pending: Default::default(), done: false, stopping };
    let stream = stream::unfold(cursor, |mut cursor| async move {
        loop {
            if let Some(event) = cursor.pending.pop_front() {
                cursor.after = event.seq;
                if status::is_final(&event.kind) {
                    cursor.done = true;
                }
                let sse = SseEvent::default()
                    .id(event.seq.to_string())
                    .event(event.kind.clone())
                    .data(event_json(&event).to_string());
                return Some((Ok(sse), cursor));
            }
            if cursor.done || *cursor.stopping.borrow() {
                return None;
            }
            let (id, after) = (cursor.id, cursor.after);
            let fetched = read(&cursor.state, move |reader| {
                let events = reader.deployment_events(id, after)?;
                let row = reader.deployment(id)?;
                Ok((events, row))
            })
            .await;
            match fetched {
                Ok((events, row)) => {
                    if events.is_empty() && row.as_ref().is_none_or(|row| status::is_final(&row.status)) {
                        return None;
                    }
                    cursor.pending.extend(events);
                }
                Err(_) => return None,
            }
            if cursor.pending.is_empty() {
                // Woken by any recorded event; a timeout covers events recorded by another server.
                let mut stopping = cursor.stopping.clone();
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    let stopped = stopping.changed();
                    tokio::pin!(stopped);
                    loop {
                        match cursor.wake.recv().await {
                            Ok(id) if id == cursor.id => break,
                            Ok(_) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                        }
                    }
                })
                .await;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn resume(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut row = find_deployment(&state, &id).await?;
    if row.status != status::PAUSED {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_paused",
            format!("deployment {} is {}, not paused", row.id, row.status),
        )
        .hint("only a deployment waiting at a `pause = true` step can be resumed"));
    }
    row.status = status::RUNNING.into();
    state
        .executor
        .recorder
        .record(
            Change::event(&row, kinds::RESUMED, format!("resumed by {}", caller.name))
                .update_row()
                .ledger(actions::RESUMED),
        )
        .await?;
    if !state.executor.signal(row.id, Signal::Resume) {
        state.executor.spawn(row.id);
    }
    Ok(Json(deployment_view(&state, row).await?))
}

#[derive(Deserialize, Default)]
struct AbortRequest {
    #[serde(default)]
    reason: Option<String>,
}

async fn abort(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Option<Json<AbortRequest>>,
) -> ApiResult<Json<Value>> {
    let row = find_deployment(&state, &id).await?;
    if status::is_final(&row.status) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_running",
            format!("deployment {} already finished: {}", row.id, row.status),
        ));
    }
    let reason = body.and_then(|Json(body)| body.reason).unwrap_or_else(|| "no reason given".into());
    let reason = format!("{} by {}: {reason}", "aborted", caller.name);
    if !state.executor.signal(row.id, Signal::Abort { reason }) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_running",
            format!("deployment {} is not executing on this server", row.id),
        ));
    }
    // Wait (briefly) for the rollback to be recorded, so the answer shows the outcome.
    let mut wake = state.executor.recorder.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let current = find_deployment(&state, &id).await?;
        if status::is_final(&current.status) || tokio::time::Instant::now() >= deadline {
            return Ok(Json(deployment_view(&state, current).await?));
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), wake.recv()).await;
    }
}

// --- gates: check and drift ---------------------------------------------------------------

#[derive(Deserialize, Default)]
struct CheckRequest {
    /// The release to judge; default: the one the environment runs, else the newest.
    #[serde(default)]
    version: Option<String>,
    /// `json` (default) or `sarif`.
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    overrides: Vec<Override>,
}

/// Every rule that can run now, for a release in an environment (drift included).
async fn check(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    body: Option<Json<CheckRequest>>,
) -> ApiResult<Json<Value>> {
    known_environment(&state, &env).await?;
    let request = body.map(|Json(body)| body).unwrap_or_default();
    let version = match request.version {
        Some(version) => version,
        None => default_release(&state, &env).await?,
    };
    let release = find_release(&state, &version).await?;
    let facts = gates::gather(&state.executor, &env, &release, &caller.name, true).await.map_err(step_error)?;
    let lifting = gates::judge(&facts, &request.overrides);
    if request.format.as_deref() == Some("sarif") {
        return Ok(Json(shipgate_policy::to_sarif(&lifting.remaining, env!("CARGO_PKG_VERSION"))));
    }
    let mut answer = shipgate_policy::to_json(&lifting.remaining);
    answer["environment"] = json!(env);
    answer["release"] = json!(version);
    answer["lifted"] = lifted_json(&lifting);
    Ok(Json(answer))
}

/// The release `check` judges by default: the active one, else the newest.
async fn default_release(state: &AppState, env: &str) -> ApiResult<String> {
    let owned = env.to_owned();
    let (row, releases) = read(state, move |reader| Ok((reader.environment(&owned)?, reader.releases()?))).await?;
    row.and_then(|row| row.active_version)
        .or_else(|| releases.last().map(|release| release.version.clone()))
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_release", "there is no release yet")
                .hint("create one with `shipgate release create --version V`")
        })
}

/// The drift rules' findings: what runs in `env` compared with what the engine put there.
#[derive(Deserialize)]
struct DriftQuery {
    /// `json` (default) or `sarif`.
    #[serde(default)]
    format: Option<String>,
}

async fn drift(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    Query(query): Query<DriftQuery>,
) -> ApiResult<Json<Value>> {
    known_environment(&state, &env).await?;
    let version = default_release(&state, &env).await?;
    let release = find_release(&state, &version).await?;
    let findings = gates::drift(&state.executor, &env, &release, &caller.name).await.map_err(step_error)?;
    if query.format.as_deref() == Some("sarif") {
        return Ok(Json(shipgate_policy::to_sarif(&findings, env!("CARGO_PKG_VERSION"))));
    }
    let mut answer = shipgate_policy::to_json(&findings);
    answer["environment"] = json!(env);
    Ok(Json(answer))
}

// --- tokens ----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct TokenRequest {
    name: String,
    role: String,
    /// Environments the token may act on; absent or empty: every environment.
    #[serde(default)]
    environments: Vec<String>,
    /// How long the token is valid, e.g. `30d`; absent: it never expires.
    #[serde(default)]
    expires: Option<String>,
}

fn token_json(row: &shipgate_store::TokenRow) -> Value {
    json!({"id": row.id, "name": row.name, "role": row.role, "created": row.created, "expires": row.expires,
           "revoked": row.revoked,
           "environments": row.environments.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok())})
}

async fn create_token(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Json(request): Json<TokenRequest>,
) -> ApiResult<Response> {
    let invalid =
        |message: String, hint: &str| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message).hint(hint);
    let role = Role::parse(&request.role).ok_or_else(|| {
        invalid(format!("there is no role `{}`", request.role), "use viewer, deployer, approver, admin or flags")
    })?;
    if role == Role::Flags && request.environments.len() != 1 {
        let given = match request.environments.len() {
            0 => "no `--env` was".to_owned(),
            count => format!("{count} environments were"),
        };
        let message = format!("a `flags` token evaluates one environment's flags, but {given} given");
        return Err(invalid(message, "give exactly one, e.g. `shipgate token create --role flags --env staging`"));
    }
    auth::check_name(&request.name).map_err(|message| {
        invalid(message, "name the person or machine that holds the token, e.g. `alice` or `ci-staging`")
    })?;
    let expires = match &request.expires {
        None => None,
        Some(text) => {
            let duration = shipgate_spec::values::Duration::parse(text)
                .map_err(|invalid_duration| invalid(invalid_duration.message, "e.g. `30d` or `12h`"))?;
            let span = jiff::SignedDuration::try_from(duration.as_std()).unwrap_or(jiff::SignedDuration::MAX);
            Some(
                jiff::Timestamp::now()
                    .checked_add(span)
                    .map_err(|error| invalid(error.to_string(), "a shorter time"))?
                    .to_string(),
            )
        }
    };
    let environments = (!request.environments.is_empty()).then(|| request.environments.clone());
    let (secret, row) = auth::new_token(&request.name, role, environments, expires).map_err(ApiError::from)?;
    let answer = json!({"token": secret, "id": row.id, "name": row.name, "role": row.role, "expires": row.expires,
                        "environments": request.environments});
    let actor = caller.name.clone();
    state
        .executor
        .recorder
        .blocking(move |recorder| {
            let ledger = &recorder.ledger;
            recorder.store.transact(|tx| {
                auth::store_token(tx, ledger, &actor, &row)?;
                Ok::<_, RecordError>(())
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Every token, each with its least-privilege findings (SG0707) from what the ledger shows it
/// did in the last 90 days.
async fn list_tokens(State(state): Shared) -> ApiResult<Json<Vec<Value>>> {
    let now = jiff::Timestamp::now();
    let since = now
        .checked_sub(jiff::SignedDuration::from_hours(24 * shipgate_policy::USAGE_WINDOW_DAYS))
        .ok()
        .and_then(|time| shipgate_ledger::entry::format_time(time).ok());
    let (rows, usage) = read(&state, move |reader| {
        let rows = reader.tokens()?;
        let mut usage = Vec::new();
        for row in rows.iter().filter(|row| row.revoked.is_none()) {
            let query = shipgate_store::EntryQuery {
                actor: Some(row.name.clone()),
                since: since.clone(),
                ..Default::default()
            };
            usage.push(token_usage(row, &reader.ledger_query(&query)?));
        }
        Ok((rows, usage))
    })
    .await?;
    let findings = shipgate_policy::least_privilege(&usage, now);
    Ok(Json(
        rows.iter()
            .map(|row| {
                let mut view = token_json(row);
                let mine: Vec<&shipgate_policy::Finding> =
                    findings.iter().filter(|finding| finding.token == row.id).map(|finding| &finding.finding).collect();
                view["findings"] = json!(mine);
                view
            })
            .collect(),
    ))
}

/// What a token did, from its ledger entries (by the token's name, which is the entries' actor).
fn token_usage(row: &shipgate_store::TokenRow, entries: &[shipgate_store::EntryRow]) -> shipgate_policy::TokenUsage {
    let mut used = std::collections::BTreeSet::new();
    for entry in entries {
        let body: Value = serde_json::from_str(&entry.body).unwrap_or(Value::Null);
        let what = match entry.action.as_str() {
            actions::CREATED => "deploy",
            actions::APPROVED | actions::REJECTED => "approve",
            actions::TOKEN_CREATED | actions::TOKEN_REVOKED => "manage-tokens",
            _ => continue,
        };
        used.insert((what.to_owned(), entry.env.clone()));
        if what == "deploy" && body["details"]["overrides"].as_array().is_some_and(|lifted| !lifted.is_empty()) {
            used.insert(("override".to_owned(), entry.env.clone()));
        }
    }
    shipgate_policy::TokenUsage {
        id: row.id.clone(),
        name: row.name.clone(),
        role: row.role.clone(),
        environments: row.environments.as_deref().and_then(|text| serde_json::from_str(text).ok()),
        never_expires: row.expires.is_none(),
        created: row.created.parse().unwrap_or_else(|_| jiff::Timestamp::now()),
        used,
    }
}

async fn revoke_token(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let actor = caller.name.clone();
    let owned = id.clone();
    let revoked = state
        .executor
        .recorder
        .blocking(move |recorder| {
            let ledger = &recorder.ledger;
            recorder.store.transact(|tx| {
                let revoked = tx.revoke_token(&owned, &now())?;
                if revoked {
                    ledger.append(
                        tx,
                        shipgate_ledger::NewEntry::new(actor.clone(), actions::TOKEN_REVOKED, format!("token/{owned}")),
                    )?;
                }
                Ok::<_, RecordError>(revoked)
            })
        })
        .await?;
    if !revoked {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_token", format!("there is no active token `{id}`"))
            .hint("`shipgate token list` shows every token with its id"));
    }
    Ok(Json(json!({"id": id, "revoked": true})))
}

// --- rolling back --------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct RollbackRequest {
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn roll_back(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path(env): Path<String>,
    body: Option<Json<RollbackRequest>>,
) -> ApiResult<Json<Value>> {
    let accepted = tokio::time::Instant::now();
    known_environment(&state, &env).await?;
    let request = body.map(|Json(body)| body).unwrap_or_default();
    let owned = env.clone();
    let (row, in_flight) = read(&state, move |reader| {
        Ok((reader.environment(&owned)?, reader.deployments(&owned, 1)?.into_iter().find(|row| row.finished.is_none())))
    })
    .await?;
    if let Some(running) = in_flight {
        return Err(in_progress(&state, &env, running.id).await);
    }
    let row = row.unwrap_or_else(|| empty_environment(&env));
    let Some(target) = request.to.clone().or_else(|| row.previous_version.clone()) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "nothing_to_roll_back",
            format!("`{env}` has no previous release to return to"),
        )
        .hint("name one with `--to VERSION`"));
    };
    if row.active_version.as_deref() == Some(target.as_str()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "nothing_to_roll_back",
            format!("`{env}` already runs {target}"),
        ));
    }
    let release = find_release(&state, &target).await?;
    let spec = executor::parse_spec(&release.spec, &target).map_err(ApiError::internal)?;
    let service_name = service::service_name(&spec, &env);
    let warm = row.previous_version.as_deref() == Some(target.as_str())
        && row.warm_until.as_deref().is_some_and(|until| until > now().as_str())
        && state.executor.agent.instances().await?.iter().any(|instance| {
            instance.service == service_name
                && instance.version == target
                && instance.state == shipgate_agent::api::InstanceState::Healthy
        });
    if !warm {
        let plan = make_plan(&state, &env, &target).await?.without_waits();
        let deployment = start(&state, &env, plan, "rollback", &caller, json!({"reason": request.reason})).await?;
        return Ok(Json(
            json!({"mode": "cold", "version": target, "deployment": deployment_view(&state, deployment).await?}),
        ));
    }
    // Warm: one routing change moves all traffic back.
    let Some(service) = service::service_spec(&spec, &env, &[(target.clone(), FULL_WEIGHT)]) else {
        return Err(ApiError::internal(format!("release {target} has no environment `{env}`")));
    };
    state.executor.agent.put_service(&service_name, &service).await?;
    let elapsed = accepted.elapsed();
    let from = row.active_version.clone();
    let reason = request.reason.unwrap_or_else(|| "no reason given".into());
    let record = DeploymentRow {
        id: 0,
        environment: env.clone(),
        version: target.clone(),
        from_version: from.clone(),
        kind: "rollback".into(),
        plan: serde_json::to_string(&json!({"steps": []})).unwrap_or_default(),
        plan_digest: String::new(),
        status: status::RUNNING.into(),
        reason: Some(reason.clone()),
        actor: caller.name.clone(),
        created: now(),
        finished: None,
        next_step: 0,
    };
    let mut record = state.executor.recorder.create(record, json!({})).await?;
    record.status = status::SUCCEEDED.into();
    record.finished = Some(now());
    let environment = EnvironmentRow {
        name: env.clone(),
        active_version: Some(target.clone()),
        active_since: Some(now()),
        previous_version: None,
        warm_until: None,
    };
    state
        .executor
        .recorder
        .record(
            Change::event(
                &record,
                status::SUCCEEDED,
                format!("warm rollback to {target} in {} ms: {reason}", elapsed.as_millis()),
            )
            .data(json!({"elapsed_ms": elapsed.as_millis()}))
            .update_row()
            .environment(Some(environment))
            .ledger(actions::FINISHED)
            .checkpoint(),
        )
        .await?;
    // The release rolled back from takes no traffic now; its instances drain and stop.
    if let Some(from) = from {
        let agent = state.executor.agent.clone();
        tokio::spawn(async move {
            for instance in agent.instances().await.unwrap_or_default() {
                if instance.service == service_name && instance.version == from && is_live(&instance) {
                    let _ = agent.stop_instance(&instance.id).await;
                }
            }
        });
    }
    let deployment = deployment_view(&state, record).await?;
    Ok(Json(json!({"mode": "warm", "version": target, "elapsed_ms": elapsed.as_millis(), "deployment": deployment})))
}

// --- logs ----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct LogsQuery {
    #[serde(default)]
    instance: Option<String>,
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    tail: Option<usize>,
}

async fn logs(State(state): Shared, Path(env): Path<String>, Query(query): Query<LogsQuery>) -> ApiResult<Response> {
    known_environment(&state, &env).await?;
    let releases = read(&state, |reader| reader.releases()).await?;
    let Some(spec) = releases.last().and_then(|release| shipgate_spec::parse_str(&release.spec).ok()) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_environment", "no release yet"));
    };
    let service = service::service_name(&spec, &env);
    let mut ids: Vec<String> = state
        .executor
        .agent
        .instances()
        .await?
        .into_iter()
        .filter(|instance| instance.service == service)
        .map(|instance| instance.id)
        .collect();
    if let Some(wanted) = &query.instance {
        if !ids.contains(wanted) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_instance",
                format!("`{env}` has no instance `{wanted}`"),
            )
            .hint("`shipgate status ENV` lists its instances"));
        }
        ids = vec![wanted.clone()];
    }
    let files: Vec<(String, std::path::PathBuf)> =
        ids.into_iter().map(|id| (id.clone(), state.agent_logs.join(format!("{id}.log")))).collect();
    let tail = query.tail.unwrap_or(100);
    let body = crate::logs::stream(files, tail, query.follow, state.stopping.clone());
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], axum::body::Body::from_stream(body)).into_response())
}
