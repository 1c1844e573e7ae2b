//! Feature flags over HTTP: the OpenFeature Remote Evaluation Protocol (OFREP) for the app's
//! instances, and the management API behind `shipgate flags`.
//!
//! A flag's definition comes from `shipgate.toml` of the release an environment runs (plus
//! the flags only the release being deployed to it declares, so a canary can read its new
//! flags); its run-time setting is the newest store record of kind `flag` in the
//! environment's scope. Every change to a setting is one transaction with its ledger entry.
//!
//! Instances get `SHIPGATE_FLAGS_URL` and `SHIPGATE_FLAGS_TOKEN`: a token of the role `flags`
//! (evaluate flags, nothing else) scoped to their environment, created once per environment
//! and kept in a record of kind `flag-token`, its secret sealed with the server's age key, since
//! each instance start needs it. A revoked or expired flag token is replaced at the next start.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router, middleware};
use serde::Deserialize;
use serde_json::{Value, json};
use shipgate_flags::ofrep::{self, Bulk, BulkFailure, Evaluation, EvaluationRequest, GeneralError};
use shipgate_flags::{Flag, FlagSet, Setting};
use shipgate_ledger::NewEntry;
use shipgate_store::RecordRow;

use crate::api::{ApiError, AppState};
use crate::auth::{self, Caller, Permission, Role};
use crate::record::{RecordError, Recorder, actions, now};
use crate::secrets::Vault;

/// The record kind of an environment's flag settings.
pub const RECORD_KIND: &str = "flag";
/// The record kind (scope: none, name: the environment) of the environments' flag tokens.
pub const TOKEN_RECORD_KIND: &str = "flag-token";

type Shared = State<Arc<AppState>>;

/// The routes, behind the API's authentication middleware.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/ofrep/v1/evaluate/flags", post(evaluate_all))
        .route("/ofrep/v1/evaluate/flags/{key}", post(evaluate_one))
        .route("/api/v1/environments/{env}/flags", get(list))
        .route("/api/v1/environments/{env}/flags/{name}", get(show).put(set))
        .route("/api/v1/environments/{env}/flags/{name}/kill", post(kill))
        .route("/api/v1/environments/{env}/flags/{name}/history", get(history))
        .route_layer(middleware::from_fn_with_state(state, crate::api::authenticate))
}

/// The environment an OFREP request evaluates in: the one its token is scoped to.
pub fn ofrep_environment(caller: &Caller) -> Option<String> {
    match caller.environments.as_deref() {
        Some([only]) => Some(only.clone()),
        _ => None,
    }
}

// --- what instances get ------------------------------------------------------------------

struct Access {
    url: String,
    recorder: Recorder,
    vault: Vault,
}

static ACCESS: RwLock<Option<Access>> = RwLock::new(None);

/// Makes [`instance_env`] work: the URL instances reach this server at, its store, and the
/// vault whose key seals the flag tokens' secrets.
pub fn install(url: String, recorder: Recorder, vault: Vault) {
    if let Ok(mut access) = ACCESS.write() {
        *access = Some(Access { url, recorder, vault });
    }
}

/// `SHIPGATE_FLAGS_URL` and `SHIPGATE_FLAGS_TOKEN` for an instance of `environment`; empty
/// when the server has not installed itself (e.g. in unit tests) or the token cannot be had.
pub fn instance_env(environment: &str) -> Vec<(String, String)> {
    let Ok(access) = ACCESS.read() else { return Vec::new() };
    let Some(access) = access.as_ref() else { return Vec::new() };
    match flag_token(&access.recorder, &access.vault, environment) {
        Ok(secret) => {
            vec![("SHIPGATE_FLAGS_URL".to_owned(), access.url.clone()), ("SHIPGATE_FLAGS_TOKEN".to_owned(), secret)]
        }
        Err(error) => {
            tracing::warn!(environment, error = %error, "no flag token for the instance");
            Vec::new()
        }
    }
}

/// The name a flag token's secret is sealed under (with the environment as the scope).
const TOKEN_SEAL_NAME: &str = "SHIPGATE_FLAGS_TOKEN";

/// The environment's flag token. The `flag-token` record keeps the token's id and its secret
/// sealed with the server's age key (like every stored secret, never in the clear). While that
/// token still authenticates it is reused; when there is none, or it was revoked or expired,
/// or the record cannot be opened (an older server kept the secret in the clear), a new one is
/// created with its ledger entry. This runs on a blocking thread: a small read, and a write
/// once per environment and token.
pub fn flag_token(recorder: &Recorder, vault: &Vault, environment: &str) -> Result<String, String> {
    let stored = recorder
        .store
        .read(|reader| reader.record(TOKEN_RECORD_KIND, "", environment))
        .map_err(|error| error.to_string())?;
    let seen = stored.as_ref().map(|row| row.version);
    if let Some(secret) = stored.as_ref().and_then(|row| stored_secret(vault, environment, row))
        && still_valid(recorder, environment, &secret)
    {
        return Ok(secret);
    }
    let (secret, row) =
        auth::new_token(&format!("flags-{environment}"), Role::Flags, Some(vec![environment.to_owned()]), None)
            .map_err(|error| error.to_string())?;
    let sealed = vault.seal_value(environment, TOKEN_SEAL_NAME, &secret)?;
    let ledger = &recorder.ledger;
    recorder
        .store
        .transact(|tx| {
            // Another start may have replaced it meanwhile: keep that one.
            if let Some(current) = tx.record(TOKEN_RECORD_KIND, "", environment)?
                && Some(current.version) != seen
                && let Some(theirs) = stored_secret(vault, environment, &current)
            {
                return Ok::<_, RecordError>(theirs);
            }
            auth::store_token(tx, ledger, "shipgate", &row)?;
            tx.put_record(&RecordRow {
                kind: TOKEN_RECORD_KIND.into(),
                scope: String::new(),
                name: environment.to_owned(),
                version: 0,
                value: Some(json!({"token_id": row.id, "sealed": sealed}).to_string()),
                actor: "shipgate".into(),
                created: now(),
            })?;
            Ok(secret.clone())
        })
        .map_err(|error| error.to_string())
}

/// The secret a `flag-token` record seals; `None` when it cannot be opened.
fn stored_secret(vault: &Vault, environment: &str, row: &RecordRow) -> Option<String> {
    let value: Value = serde_json::from_str(row.value.as_deref()?).ok()?;
    let sealed = value.get("sealed")?.as_str()?;
    match vault.open_value(environment, TOKEN_SEAL_NAME, sealed) {
        Ok(secret) => Some(secret.to_string()),
        Err(error) => {
            tracing::warn!(environment, error = %error, "the stored flag token cannot be opened; creating a new one");
            None
        }
    }
}

/// Whether `secret` is still a flag token of exactly `environment` that authenticates.
fn still_valid(recorder: &Recorder, environment: &str, secret: &str) -> bool {
    match auth::authenticate(recorder, secret) {
        Ok(Some(caller)) => caller.role == Role::Flags && ofrep_environment(&caller).as_deref() == Some(environment),
        Ok(None) => false,
        Err(error) => {
            tracing::warn!(environment, error = %error, "cannot check the flag token");
            false
        }
    }
}

// --- definitions and settings ----------------------------------------------------------

/// Compiled flag sets by the release versions they came from.
static COMPILED: Mutex<Option<HashMap<String, FlagSet>>> = Mutex::new(None);

/// The flags of `environment` and their settings.
struct Flags {
    set: FlagSet,
    /// The declarations, for listing.
    declared: BTreeMap<String, Flag>,
    settings: BTreeMap<String, Setting>,
}

async fn load(state: &AppState, environment: &str) -> Result<Flags, ApiError> {
    let owned = environment.to_owned();
    let (specs, records) = state
        .executor
        .recorder
        .blocking(move |recorder| {
            Ok(recorder.store.read(|reader| {
                let active = reader.environment(&owned)?.and_then(|row| row.active_version);
                let in_flight = reader
                    .deployments(&owned, 1)?
                    .into_iter()
                    .find(|row| row.finished.is_none())
                    .map(|row| row.version);
                let mut versions: Vec<String> = active.into_iter().chain(in_flight).collect();
                versions.dedup();
                let mut specs = Vec::new();
                for version in &versions {
                    if let Some(release) = reader.release(version)? {
                        specs.push((release.version, release.spec));
                    }
                }
                // Nothing deployed yet: the newest release, so flags can be set beforehand.
                if specs.is_empty()
                    && let Some(newest) = reader.releases()?.pop()
                {
                    specs.push((newest.version, newest.spec));
                }
                Ok::<_, shipgate_store::StoreError>((specs, reader.records(RECORD_KIND, &owned)?))
            })?)
        })
        .await?;
    let mut declared = BTreeMap::new();
    for (_, text) in &specs {
        if let Ok(spec) = shipgate_spec::parse_str(text) {
            for (name, flag) in spec.flags {
                declared.entry(name).or_insert(Flag {
                    variants: flag.variants,
                    default: flag.default,
                    targeting: flag.targeting,
                });
            }
        }
    }
    let cache_key = specs.iter().map(|(version, _)| version.as_str()).collect::<Vec<_>>().join("\n");
    let cached = COMPILED.lock().ok().and_then(|cache| cache.as_ref()?.get(&cache_key).cloned());
    let set = match cached {
        Some(set) => set,
        None => {
            // A flag that cannot be compiled answers PARSE_ERROR on its own; the others, the
            // listing and the kill switch keep working.
            let (set, problems) = FlagSet::lenient(declared.clone());
            for problem in &problems {
                let releases = cache_key.replace('\n', ",");
                tracing::warn!(environment, releases, error = %problem, "a flag cannot be evaluated");
            }
            if let Ok(mut cache) = COMPILED.lock() {
                cache.get_or_insert_with(HashMap::new).insert(cache_key, set.clone());
            }
            set
        }
    };
    let settings = records
        .into_iter()
        .filter_map(|row| Some((row.name, serde_json::from_str::<Setting>(&row.value?).ok()?)))
        .collect();
    Ok(Flags { set, declared, settings })
}

/// What rule SG0306 judges besides the spec: whether `release` was created with `release
/// create --risky` (its evidence says `"risky": true`), and `environment`'s flag settings now.
pub async fn facts(
    executor: &crate::executor::Executor,
    environment: &str,
    release: &shipgate_store::ReleaseRow,
) -> Result<shipgate_policy::FlagFacts, RecordError> {
    let scope = environment.to_owned();
    let rows = executor
        .recorder
        .blocking(move |recorder| Ok(recorder.store.read(|reader| reader.records(RECORD_KIND, &scope))?))
        .await?;
    let settings = rows
        .into_iter()
        .filter_map(|row| Some((row.name, serde_json::from_str::<Setting>(&row.value?).ok()?)))
        .collect();
    let risky = release
        .evidence
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .is_some_and(|evidence| evidence.get("risky") == Some(&Value::Bool(true)));
    Ok(shipgate_policy::FlagFacts { risky, settings })
}

fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

// --- OFREP ---------------------------------------------------------------------------------

/// The environment an OFREP request evaluates in. A token scoped to one environment evaluates
/// there; asking for another one (`X-Shipgate-Environment`, or `?environment=` in the URL) is
/// refused with 403 rather than quietly answered from the token's own environment. A token of
/// several environments (or all) must name one, and may evaluate only where it may act.
fn ofrep_environment_of(caller: &Caller, headers: &HeaderMap, query: Option<&str>) -> Result<String, Box<Response>> {
    let header = match headers.get("x-shipgate-environment").map(|value| value.to_str()) {
        None => None,
        Some(Ok(name)) => Some(name.trim().to_owned()),
        Some(Err(_)) => {
            return Err(Box::new(general_error(StatusCode::BAD_REQUEST, "`X-Shipgate-Environment` is not valid text")));
        }
    };
    let in_query = query.into_iter().flat_map(|query| query.split('&')).find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        matches!(name, "environment" | "env").then(|| value.to_owned())
    });
    let asked: Vec<String> = header.into_iter().chain(in_query).collect();
    if let [first, rest @ ..] = asked.as_slice()
        && rest.iter().any(|other| other != first)
    {
        return Err(Box::new(general_error(
            StatusCode::BAD_REQUEST,
            "the request names two different environments: send one `X-Shipgate-Environment`",
        )));
    }
    let named = asked.into_iter().next();
    if let Some(own) = ofrep_environment(caller) {
        return match named {
            Some(asked) if asked != own => Err(Box::new(general_error(
                StatusCode::FORBIDDEN,
                &format!(
                    "token `{}` evaluates the flags of `{own}` only, not those of `{asked}`; use a flag token of `{asked}` (its instances' SHIPGATE_FLAGS_TOKEN)",
                    caller.name
                ),
            ))),
            _ => Ok(own),
        };
    }
    let Some(environment) = named else {
        return Err(Box::new(general_error(
            StatusCode::BAD_REQUEST,
            "this token is not scoped to one environment: send `X-Shipgate-Environment`, or use the instance's SHIPGATE_FLAGS_TOKEN",
        )));
    };
    caller
        .may(Permission::EvaluateFlags, Some(&environment))
        .map_err(|message| Box::new(general_error(StatusCode::FORBIDDEN, &message)))?;
    Ok(environment)
}

fn general_error(status: StatusCode, details: &str) -> Response {
    (status, Json(GeneralError { error_details: details.to_owned() })).into_response()
}

fn context_of(body: &Bytes) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice::<EvaluationRequest>(body)
        .map(|request| request.context)
        .map_err(|error| format!("the body is not an OFREP evaluation request: {error}"))
}

async fn evaluate_one(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let environment = match ofrep_environment_of(&caller, &headers, query.as_deref()) {
        Ok(environment) => environment,
        Err(response) => return *response,
    };
    let evaluation = match context_of(&body) {
        Err(details) => Evaluation::Failure(ofrep::Failure {
            key,
            error_code: shipgate_flags::ErrorCode::InvalidContext,
            error_details: details,
        }),
        Ok(context) => match load(&state, &environment).await {
            Ok(flags) => flags.set.evaluate(&key, &context, flags.settings.get(&key), unix_now()).into(),
            Err(error) => return error.into_response(),
        },
    };
    let status = StatusCode::from_u16(evaluation.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(evaluation)).into_response()
}

async fn evaluate_all(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let environment = match ofrep_environment_of(&caller, &headers, query.as_deref()) {
        Ok(environment) => environment,
        Err(response) => return *response,
    };
    let context = match context_of(&body) {
        Ok(context) => context,
        Err(details) => {
            let failure = BulkFailure { error_code: shipgate_flags::ErrorCode::InvalidContext, error_details: details };
            return (StatusCode::BAD_REQUEST, Json(failure)).into_response();
        }
    };
    let flags = match load(&state, &environment).await {
        Ok(flags) => flags,
        Err(error) => return error.into_response(),
    };
    let now = unix_now();
    let bulk = Bulk {
        flags: flags
            .set
            .names()
            .map(|key| flags.set.evaluate(key, &context, flags.settings.get(key), now).into())
            .collect(),
        metadata: Default::default(),
    };
    let Ok(body) = serde_json::to_vec(&bulk) else {
        return general_error(StatusCode::INTERNAL_SERVER_ERROR, "the answer could not be serialized");
    };
    let etag = ofrep::etag(&body);
    let Ok(etag_header) = HeaderValue::from_str(&etag) else {
        return general_error(StatusCode::INTERNAL_SERVER_ERROR, "bad etag");
    };
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| ofrep::matches(value, &etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_header)]).into_response();
    }
    (
        StatusCode::OK,
        [(header::ETAG, etag_header), (header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

// --- management ----------------------------------------------------------------------------

fn flag_view(name: &str, flag: &Flag, setting: Option<&Setting>) -> Value {
    json!({
        "name": name,
        "variants": flag.variants,
        "default": flag.default,
        "targeting": flag.targeting,
        "off_variant": flag.off_variant(),
        "setting": setting,
        "setting_text": setting.map_or_else(|| "as declared".to_owned(), Setting::describe),
    })
}

fn unknown_flag(flags: &Flags, name: &str, environment: &str) -> ApiError {
    let known: Vec<String> = flags.declared.keys().map(|name| format!("`{name}`")).collect();
    ApiError::new(StatusCode::NOT_FOUND, "unknown_flag", format!("no flag `{name}` is declared for `{environment}`"))
        .hint(if known.is_empty() {
            "declare it under `[flags.NAME]` in shipgate.toml and create a release".to_owned()
        } else {
            format!("declared flags: {}", known.join(", "))
        })
}

async fn list(State(state): Shared, Path(env): Path<String>) -> Result<Json<Value>, ApiError> {
    let flags = load(&state, &env).await?;
    let views: Vec<Value> =
        flags.declared.iter().map(|(name, flag)| flag_view(name, flag, flags.settings.get(name))).collect();
    Ok(Json(json!({"environment": env, "flags": views})))
}

async fn show(State(state): Shared, Path((env, name)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let flags = load(&state, &env).await?;
    let flag = flags.declared.get(&name).ok_or_else(|| unknown_flag(&flags, &name, &env))?;
    Ok(Json(flag_view(&name, flag, flags.settings.get(&name))))
}

/// The body of `PUT …/flags/{name}`: exactly one of a variant, a rollout (with the variant to
/// roll out, by default the `true` variant of a boolean flag) or a reset.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRequest {
    variant: Option<String>,
    /// `10%`, `12.5` …
    rollout: Option<String>,
    #[serde(default)]
    reset: bool,
}

async fn set(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path((env, name)): Path<(String, String)>,
    Json(request): Json<SetRequest>,
) -> Result<Json<Value>, ApiError> {
    let flags = load(&state, &env).await?;
    let flag = flags.declared.get(&name).ok_or_else(|| unknown_flag(&flags, &name, &env))?;
    let bad = |code, message: String, hint: &str| ApiError::new(StatusCode::BAD_REQUEST, code, message).hint(hint);
    let check_variant = |variant: &str| {
        if flag.variants.contains_key(variant) {
            Ok(())
        } else {
            Err(bad(
                "unknown_variant",
                format!("flag `{name}` has no variant `{variant}`"),
                &format!(
                    "its variants are {}",
                    flag.variants.keys().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
                ),
            ))
        }
    };
    let setting = match (&request.variant, &request.rollout, request.reset) {
        (None, None, true) => None,
        (Some(variant), None, false) => {
            check_variant(variant)?;
            Some(Setting::Variant { variant: variant.clone() })
        }
        (variant, Some(rollout), false) => {
            let basis_points = shipgate_flags::parse_percent(rollout).map_err(|error| {
                bad("invalid_rollout", error.to_string(), "write a percentage such as `10%` or `12.5%`")
            })?;
            let variant = match variant {
                Some(variant) => variant.clone(),
                None => flag
                    .variants
                    .iter()
                    .find(|(_, value)| **value == Value::Bool(true))
                    .map(|(name, _)| name.clone())
                    .ok_or_else(|| {
                        bad(
                            "variant_required",
                            format!("flag `{name}` is not a boolean flag: say which variant to roll out"),
                            "add `--variant NAME`",
                        )
                    })?,
            };
            check_variant(&variant)?;
            Some(Setting::Rollout { variant, basis_points })
        }
        _ => {
            return Err(bad(
                "invalid_setting",
                "give exactly one of a variant, a rollout (with an optional variant) or a reset".to_owned(),
                "e.g. `shipgate flags set ENV NAME --variant on`, `--rollout 10%` or `--reset`",
            ));
        }
    };
    let action = if setting.is_some() { actions::FLAG_SET } else { actions::FLAG_RESET };
    record_setting(&state, &caller, &env, &name, setting, flags.settings.get(&name).cloned(), action).await
}

async fn kill(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Path((env, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let flags = load(&state, &env).await?;
    if !flags.declared.contains_key(&name) {
        return Err(unknown_flag(&flags, &name, &env));
    }
    record_setting(
        &state,
        &caller,
        &env,
        &name,
        Some(Setting::Killed),
        flags.settings.get(&name).cloned(),
        actions::FLAG_KILLED,
    )
    .await
}

/// Stores the setting (a tombstone for `None`) and its ledger entry in one transaction.
async fn record_setting(
    state: &AppState,
    caller: &Caller,
    environment: &str,
    name: &str,
    setting: Option<Setting>,
    previous: Option<Setting>,
    action: &'static str,
) -> Result<Json<Value>, ApiError> {
    let value = setting.as_ref().map(|setting| json!(setting).to_string());
    let row = RecordRow {
        kind: RECORD_KIND.into(),
        scope: environment.to_owned(),
        name: name.to_owned(),
        version: 0,
        value,
        actor: caller.name.clone(),
        created: now(),
    };
    let entry = NewEntry::new(caller.name.clone(), action, format!("flag/{name}"))
        .env(environment.to_owned())
        .details(json!({"flag": name, "setting": setting, "previous": previous}));
    let version = state
        .executor
        .recorder
        .blocking(move |recorder| {
            let ledger = &recorder.ledger;
            recorder.store.transact(|tx| {
                let version = tx.put_record(&row)?;
                ledger.append(tx, entry.clone())?;
                Ok::<_, RecordError>(version)
            })
        })
        .await?;
    Ok(Json(json!({
        "environment": environment,
        "flag": name,
        "version": version,
        "setting": setting,
        "setting_text": setting.as_ref().map_or_else(|| "as declared".to_owned(), Setting::describe),
    })))
}

async fn history(State(state): Shared, Path((env, name)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let (scope, flag) = (env.clone(), name.clone());
    let rows = state
        .executor
        .recorder
        .blocking(move |recorder| {
            Ok(recorder.store.read(|reader| reader.record_history(RECORD_KIND, &scope, &flag))?)
        })
        .await?;
    if rows.is_empty() {
        let flags = load(&state, &env).await?;
        if !flags.declared.contains_key(&name) {
            return Err(unknown_flag(&flags, &name, &env));
        }
    }
    let entries: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            let setting = row.value.as_deref().and_then(|value| serde_json::from_str::<Setting>(value).ok());
            json!({
                "version": row.version,
                "setting": setting,
                "setting_text": setting.as_ref().map_or_else(|| "as declared".to_owned(), Setting::describe),
                "actor": row.actor,
                "created": row.created,
            })
        })
        .collect();
    Ok(Json(json!({"environment": env, "flag": name, "history": entries})))
}
