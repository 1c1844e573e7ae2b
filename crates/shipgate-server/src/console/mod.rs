//! The web console at `/`: server-rendered pages with a little hand-written JavaScript.
//!
//! A user signs in with an API token. The console keeps the token in an in-memory session
//! (sessions do not survive a server restart) and answers with a random session id in an
//! `HttpOnly`, `SameSite=Strict` cookie. Every page reads, and every button acts, by calling the
//! HTTP API under `/api/v1` in-process with that token: the console has no state-changing path
//! of its own, so the API's authentication, authorization and ledger entries apply unchanged.
//! Every form carries the session's CSRF token; the sign-in form a double-submit one.

mod charts;
mod pages;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::api::AppState;
use crate::auth::{self, Caller, Permission};
use crate::ledger_api::ListQuery;
use crate::record::{kinds, status};

type Shared = State<Arc<AppState>>;

/// The session cookie's name.
const SESSION_COOKIE: &str = "shipgate_session";
/// The sign-in form's double-submit CSRF cookie.
const SIGN_IN_COOKIE: &str = "shipgate_sign_in";
/// How long a session lasts without being renewed.
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// A signed-in user.
#[derive(Clone)]
struct Session {
    /// The API token, used for every API call the console makes on the user's behalf.
    secret: String,
    caller: Caller,
    csrf: String,
    expires: Instant,
}

/// Session id → session. In memory only: a restart signs everyone out.
static SESSIONS: LazyLock<Mutex<HashMap<String, Session>>> = LazyLock::new(Default::default);

fn random_hex(bytes: usize) -> Option<String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).ok()?;
    Some(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn session(headers: &HeaderMap) -> Option<Session> {
    let id = cookie(headers, SESSION_COOKIE)?;
    let mut sessions = SESSIONS.lock().ok()?;
    let now = Instant::now();
    sessions.retain(|_, session| session.expires > now);
    sessions.get(&id).cloned()
}

/// The session of a form post whose CSRF token is the session's; else what to answer (sign in
/// again, or 403 for a missing or stale token). Every state-changing form goes through it.
fn form_session(headers: &HeaderMap, csrf: &str) -> Result<Session, Box<Response>> {
    let Some(session) = session(headers) else { return Err(Box::new(to_sign_in())) };
    if !same_secret(&session.csrf, csrf) {
        return Err(Box::new(
            (StatusCode::FORBIDDEN, "the form's CSRF token is missing or stale; reload the page").into_response(),
        ));
    }
    Ok(session)
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, and `Secure` when served over TLS.
fn set_cookie(state: &AppState, name: &str, value: &str, max_age: u64) -> String {
    let secure = if state.tls { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/environments") }))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/environments", get(environments))
        .route("/environments/{env}/rollback", post(environment_rollback))
        .route("/ledger", get(ledger))
        .route("/ledger/verify", post(ledger_verify))
        .route("/ledger/checkpoint", get(ledger_checkpoint))
        .route("/releases", get(releases))
        .route("/deployments/{id}", get(deployment))
        .route("/deployments/{id}/live", get(deployment_live))
        .route("/deployments/{id}/events", get(deployment_events))
        .route("/deployments/{id}/{action}", post(deployment_action))
        .route("/console.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], pages::CSS) }))
        .route("/console.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], pages::JS) }))
}

/// Calls the API in-process as the session's token; answers the status and the JSON body.
async fn api(
    state: &Arc<AppState>,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let response = api_request(state, session, method, path, body, "application/json").await;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024).await.unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Calls the API in-process as the session's token and answers its response as it is (an event
/// stream, a file), for the browser to read.
async fn api_response(
    state: &Arc<AppState>,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    api_request(state, session, method, path, body, "*/*").await
}

async fn api_request(
    state: &Arc<AppState>,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
    accept: &str,
) -> Response {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header(header::ACCEPT, accept)
        .header(header::AUTHORIZATION, format!("Bearer {}", session.secret))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.map(|body| body.to_string()).unwrap_or_default()));
    match request {
        Ok(request) => match crate::api::router(state.clone()).oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

fn to_sign_in() -> Response {
    Redirect::to("/sign-in").into_response()
}

#[derive(Deserialize)]
struct MessageQuery {
    #[serde(default)]
    message: Option<String>,
}

async fn sign_in_page(State(state): Shared, Query(query): Query<MessageQuery>) -> Response {
    let Some(csrf) = random_hex(16) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness").into_response();
    };
    (
        [(header::SET_COOKIE, set_cookie(&state, SIGN_IN_COOKIE, &csrf, 3600))],
        Html(pages::sign_in(&csrf, query.message.as_deref())),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SignInForm {
    token: String,
    csrf: String,
}

async fn sign_in(State(state): Shared, headers: HeaderMap, Form(form): Form<SignInForm>) -> Response {
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(&expected, &form.csrf) {
        return Redirect::to("/sign-in?message=the+form+expired%3B+try+again").into_response();
    }
    let recorder = state.executor.recorder.clone();
    let secret = form.token.trim().to_owned();
    let checked = secret.clone();
    let caller = tokio::task::spawn_blocking(move || auth::authenticate(&recorder, &checked)).await;
    let caller = match caller {
        Ok(Ok(Some(caller))) if caller.role.allows(Permission::Read) => caller,
        Ok(Ok(_)) => {
            return Redirect::to("/sign-in?message=the+token+is+unknown%2C+revoked+or+expired").into_response();
        }
        Ok(Err(error)) => return crate::api::ApiError::from(error).into_response(),
        Err(error) => return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    };
    let (Some(id), Some(csrf)) = (random_hex(32), random_hex(16)) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness").into_response();
    };
    tracing::info!(token = %caller.token_id, name = %caller.name, "console sign-in");
    let session = Session { secret, caller, csrf, expires: Instant::now() + SESSION_LIFETIME };
    if let Ok(mut sessions) = SESSIONS.lock() {
        sessions.insert(id.clone(), session);
    }
    let mut response = Redirect::to("/environments").into_response();
    let headers = response.headers_mut();
    for value in
        [set_cookie(&state, SESSION_COOKIE, &id, SESSION_LIFETIME.as_secs()), set_cookie(&state, SIGN_IN_COOKIE, "", 0)]
    {
        if let Ok(value) = value.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn sign_out(State(state): Shared, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if let (Some(id), Some(session)) = (cookie(&headers, SESSION_COOKIE), session(&headers))
        && same_secret(&session.csrf, &form.csrf)
        && let Ok(mut sessions) = SESSIONS.lock()
    {
        sessions.remove(&id);
    }
    ([(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", 0))], Redirect::to("/sign-in")).into_response()
}

async fn environments(State(state): Shared, headers: HeaderMap, Query(query): Query<MessageQuery>) -> Response {
    let Some(session) = session(&headers) else { return to_sign_in() };
    let (status, list) = api(&state, &session, Method::GET, "/api/v1/environments", None).await;
    if !status.is_success() {
        return error_page(&session, status, &list);
    }
    let mut recent = HashMap::new();
    let mut findings = HashMap::new();
    for env in list.as_array().into_iter().flatten() {
        if let Some(name) = env["name"].as_str() {
            let path = format!("/api/v1/environments/{}/deployments?limit=5", urlencode(name));
            let (_, deployments) = api(&state, &session, Method::GET, &path, None).await;
            recent.insert(name.to_owned(), deployments);
            // Open findings: the drift rules' (see `pages::open_findings`).
            let path = format!("/api/v1/environments/{}/drift", urlencode(name));
            let (status, drift) = api(&state, &session, Method::GET, &path, None).await;
            let found = if status.is_success() {
                Ok(drift)
            } else {
                Err(drift["message"].as_str().unwrap_or("the drift check failed").to_owned())
            };
            findings.insert(name.to_owned(), found);
        }
    }
    let who = pages::Who::of(&session);
    Html(pages::environments(&who, &list, &recent, &findings, query.message.as_deref())).into_response()
}

/// `text` as one URL path segment or query value.
fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn releases(State(state): Shared, headers: HeaderMap) -> Response {
    let Some(session) = session(&headers) else { return to_sign_in() };
    let (status, list) = api(&state, &session, Method::GET, "/api/v1/releases", None).await;
    if !status.is_success() {
        return error_page(&session, status, &list);
    }
    // Where each release runs; without it the page still lists them.
    let (_, environments) = api(&state, &session, Method::GET, "/api/v1/environments", None).await;
    Html(pages::releases(&pages::Who::of(&session), &list, &environments)).into_response()
}

fn error_page(session: &Session, status: StatusCode, body: &Value) -> Response {
    (status, Html(pages::error(&pages::Who::of(session), body))).into_response()
}

/// The deployment, its environment's status and its record (events, checklist, the gates'
/// judgment while it awaits approval), as the API answers them.
async fn deployment_data(
    state: &Arc<AppState>,
    session: &Session,
    id: u64,
) -> Result<(Value, Value, pages::Record), Response> {
    let (status, deployment) = api(state, session, Method::GET, &format!("/api/v1/deployments/{id}"), None).await;
    if !status.is_success() {
        return Err(error_page(session, status, &deployment));
    }
    let env = deployment["environment"].as_str().unwrap_or_default();
    let (_, environment) =
        api(state, session, Method::GET, &format!("/api/v1/environments/{}", urlencode(env)), None).await;
    let (_, events) = api(state, session, Method::GET, &format!("/api/v1/deployments/{id}/events"), None).await;
    let has_checklist = events.as_array().into_iter().flatten().any(|event| event["kind"] == kinds::CHECKLIST);
    let checklist = if has_checklist {
        let (status, checklist) =
            api(state, session, Method::GET, &format!("/api/v1/deployments/{id}/checklist"), None).await;
        status.is_success().then_some(checklist)
    } else {
        None
    };
    let plan = if deployment["status"] == status::AWAITING_APPROVAL {
        let path = format!("/api/v1/environments/{}/plan", urlencode(env));
        let body = json!({"version": deployment["version"]});
        let (status, plan) = api(state, session, Method::POST, &path, Some(body)).await;
        status.is_success().then_some(plan)
    } else {
        None
    };
    Ok((deployment, environment, pages::Record { events, checklist, plan }))
}

async fn deployment(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Query(query): Query<MessageQuery>,
) -> Response {
    let Some(session) = session(&headers) else { return to_sign_in() };
    match deployment_data(&state, &session, id).await {
        Ok((deployment, environment, record)) => {
            let who = pages::Who::of(&session);
            Html(pages::deployment(&who, &deployment, &environment, &record, query.message.as_deref())).into_response()
        }
        Err(response) => response,
    }
}

/// The live part of the deployment page, which the page's script fetches on every event.
async fn deployment_live(State(state): Shared, headers: HeaderMap, Path(id): Path<u64>) -> Response {
    let Some(session) = session(&headers) else { return StatusCode::UNAUTHORIZED.into_response() };
    match deployment_data(&state, &session, id).await {
        Ok((deployment, environment, record)) => {
            Html(pages::deployment_live(&pages::Who::of(&session), &deployment, &environment, &record)).into_response()
        }
        Err(response) => response,
    }
}

/// The API's event stream of the deployment, for the page's `EventSource`.
async fn deployment_events(State(state): Shared, headers: HeaderMap, Path(id): Path<u64>) -> Response {
    let Some(session) = session(&headers) else { return StatusCode::UNAUTHORIZED.into_response() };
    let mut path = format!("/api/v1/deployments/{id}/events");
    if let Some(after) = headers.get("last-event-id").and_then(|value| value.to_str().ok())
        && let Ok(after) = after.parse::<u64>()
    {
        path = format!("{path}?after={after}");
    }
    api_response(&state, &session, Method::GET, &path, None).await
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    #[serde(default)]
    reason: Option<String>,
}

/// Approve, reject, resume or abort: the API's endpoint with the form's reason.
async fn deployment_action(
    State(state): Shared,
    headers: HeaderMap,
    Path((id, action)): Path<(u64, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let session = match form_session(&headers, &form.csrf) {
        Ok(session) => session,
        Err(response) => return *response,
    };
    let reason = form.reason.filter(|reason| !reason.trim().is_empty());
    let body = match action.as_str() {
        "approve" | "reject" => json!({"comment": reason}),
        "abort" => json!({"reason": reason}),
        // The API's resume takes no body.
        "resume" => json!({}),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let (status, answer) =
        api(&state, &session, Method::POST, &format!("/api/v1/deployments/{id}/{action}"), Some(body)).await;
    let message = if status.is_success() {
        format!("{action}: done")
    } else {
        format!("{action} refused: {}", answer["message"].as_str().unwrap_or("unknown error"))
    };
    Redirect::to(&format!("/deployments/{id}?message={}", urlencode(&message))).into_response()
}

/// Roll back: the API's rollback of the environment to its previous release, with the form's
/// reason, which the console (unlike the CLI) requires. A warm rollback lands on its
/// (finished) record, a cold one on the deployment that restarts the previous release.
async fn environment_rollback(
    State(state): Shared,
    headers: HeaderMap,
    Path(env): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let session = match form_session(&headers, &form.csrf) {
        Ok(session) => session,
        Err(response) => return *response,
    };
    let back = |message: &str| Redirect::to(&format!("/environments?message={}", urlencode(message))).into_response();
    let Some(reason) = form.reason.map(|reason| reason.trim().to_owned()).filter(|reason| !reason.is_empty()) else {
        return back("rollback refused: say why in the reason field; it goes to the audit ledger");
    };
    let path = format!("/api/v1/environments/{}/rollback", urlencode(&env));
    let (status, answer) = api(&state, &session, Method::POST, &path, Some(json!({"reason": reason}))).await;
    match answer["deployment"]["id"].as_u64() {
        Some(id) if status.is_success() => {
            let message = rollback_message(&env, &answer);
            Redirect::to(&format!("/deployments/{id}?message={}", urlencode(&message))).into_response()
        }
        _ => back(&format!("rollback refused: {}", answer["message"].as_str().unwrap_or("unknown error"))),
    }
}

/// What a rollback did, from the API's answer.
fn rollback_message(env: &str, answer: &Value) -> String {
    let version = answer["version"].as_str().unwrap_or("?");
    match (answer["mode"].as_str(), answer["elapsed_ms"].as_u64()) {
        (Some("warm"), Some(ms)) => {
            format!("rolled back {env} to {version} in {ms} ms (warm: its instances still ran; one routing change)")
        }
        (Some("warm"), None) => format!("rolled back {env} to {version} (warm: one routing change)"),
        _ => format!("rolling back {env} to {version}: it was not running any more, so it starts again without holds"),
    }
}

/// The query's non-blank parameters as a query string (without `?`), escaped.
fn ledger_query_string(query: &ListQuery) -> String {
    let parameters: Vec<String> = [
        ("action", &query.action),
        ("actor", &query.actor),
        ("subject", &query.subject),
        ("env", &query.env),
        ("limit", &query.limit),
        ("before", &query.before),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        let value = value.as_deref().map(str::trim).filter(|value| !value.is_empty())?;
        Some(format!("{name}={}", urlencode(value)))
    })
    .collect();
    parameters.join("&")
}

/// The API path of a ledger page.
fn ledger_api_path(query: &ListQuery) -> String {
    match ledger_query_string(query) {
        parameters if parameters.is_empty() => "/api/v1/ledger".to_owned(),
        parameters => format!("/api/v1/ledger?{parameters}"),
    }
}

/// The ledger page's entries, or the API's refusal of the filter (shown on the page).
async fn ledger_entries(
    state: &Arc<AppState>,
    session: &Session,
    query: &ListQuery,
) -> Result<Result<Value, String>, Response> {
    let (status, answer) = api(state, session, Method::GET, &ledger_api_path(query), None).await;
    if status == StatusCode::BAD_REQUEST {
        return Ok(Err(answer["message"].as_str().unwrap_or("the filter is not valid").to_owned()));
    }
    if !status.is_success() {
        return Err(error_page(session, status, &answer));
    }
    Ok(Ok(answer))
}

async fn ledger(State(state): Shared, headers: HeaderMap, Query(query): Query<ListQuery>) -> Response {
    let Some(session) = session(&headers) else { return to_sign_in() };
    match ledger_entries(&state, &session, &query).await {
        Ok(entries) => Html(pages::ledger(&pages::Who::of(&session), &query, &entries, None)).into_response(),
        Err(response) => response,
    }
}

/// Verify: runs the API's full verification and shows its verdict above the newest entries.
async fn ledger_verify(State(state): Shared, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    let session = match form_session(&headers, &form.csrf) {
        Ok(session) => session,
        Err(response) => return *response,
    };
    let (status, verdict) = api(&state, &session, Method::POST, "/api/v1/ledger/verify", None).await;
    if !status.is_success() {
        return error_page(&session, status, &verdict);
    }
    let query = ListQuery::default();
    match ledger_entries(&state, &session, &query).await {
        Ok(entries) => Html(pages::ledger(&pages::Who::of(&session), &query, &entries, Some(&verdict))).into_response(),
        Err(response) => response,
    }
}

/// The signed checkpoint as a file, straight from the API (`Content-Disposition` included).
async fn ledger_checkpoint(State(state): Shared, headers: HeaderMap) -> Response {
    let Some(session) = session(&headers) else { return to_sign_in() };
    api_response(&state, &session, Method::GET, "/api/v1/ledger/checkpoint", None).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let cases = [
            ("shipgate_session=abc", Some("abc")),
            ("a=1; shipgate_session=abc; b=2", Some("abc")),
            ("xshipgate_session=abc", None),
            ("shipgate_session_x=abc", None),
            ("", None),
        ];
        for (header, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, HeaderValue::from_static(header));
            assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), expected, "{header}");
        }
    }

    #[test]
    fn secrets_compare_whole() {
        let cases = [("abc", "abc", true), ("abc", "abd", false), ("abc", "ab", false), ("", "", true)];
        for (a, b, expected) in cases {
            assert_eq!(same_secret(a, b), expected, "{a} {b}");
        }
    }

    #[test]
    fn the_ledger_page_asks_the_api_for_its_non_blank_filters() {
        let query = ListQuery::from_pairs;
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[], "/api/v1/ledger"),
            (&[("action", ""), ("actor", " "), ("subject", "")], "/api/v1/ledger"),
            (&[("action", "deployment.*"), ("actor", "alice")], "/api/v1/ledger?action=deployment%2E%2A&actor=alice"),
            (
                &[("subject", "deployment/3&x=1"), ("before", "9")],
                "/api/v1/ledger?subject=deployment%2F3%26x%3D1&before=9",
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(ledger_api_path(&query(pairs)), expected, "{pairs:?}");
        }
    }

    #[test]
    fn a_rollback_says_whether_it_was_warm() {
        let cases = [
            (json!({"mode": "warm", "version": "v1", "elapsed_ms": 4}), "rolled back staging to v1 in 4 ms (warm"),
            (json!({"mode": "cold", "version": "v1"}), "rolling back staging to v1: it was not running any more"),
        ];
        for (answer, expected) in cases {
            let message = rollback_message("staging", &answer);
            assert!(message.starts_with(expected), "{message}");
        }
    }

    #[test]
    fn urlencode_escapes_every_special_byte() {
        assert_eq!(urlencode("staging1"), "staging1");
        assert_eq!(urlencode("a b/é"), "a%20b%2F%C3%A9");
    }
}
