//! The HTTP client of shipgate's control-plane API (`crates/shipgate-server/README.md`): where the
//! server is, which token to send, the shapes it answers with, and what its errors mean for the
//! exit status.

use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::credentials::{self, TokenSource};
use crate::env_vars;
use crate::exit::{ExitStatus, Failure};

/// Where the server is when neither `--server` nor `SHIPGATE_SERVER` says.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7300";

/// How the commands that talk to a server find it.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// The shipgate server's URL.
    #[arg(long, value_name = "URL", env = env_vars::SHIPGATE_SERVER, default_value = DEFAULT_SERVER)]
    pub server: String,
}

/// How long to wait for a TCP connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an ordinary request may take to be answered.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Client {
    base: String,
    token: Option<String>,
    token_source: TokenSource,
    agent: ureq::Agent,
}

/// A request the server answered with an error of the API (`{code, message, hint}`), one that
/// did not get through (no server, a broken connection), or a failure that already knows its
/// exit status (a refused token, a garbled answer).
#[derive(Debug)]
pub enum ApiError {
    Status { status: u16, code: String, message: String, hint: Option<String> },
    Transport(Failure),
    Failed(Failure),
}

impl ApiError {
    pub fn is(&self, wanted: &str) -> bool {
        matches!(self, ApiError::Status { code, .. } if code == wanted)
    }

    /// Worth asking again in a moment: the server is restarting, or something in between is.
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Transport(_) | ApiError::Status { status: 502..=504, .. })
    }
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        ApiError::Failed(failure)
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Failed(failure) | ApiError::Transport(failure) => failure,
            ApiError::Status { status, code, message, hint } => {
                let exit = match status {
                    // The request named something that does not exist, or was malformed.
                    400 | 404 | 422 => ExitStatus::Usage,
                    // The server understood and said no.
                    403 | 409 => ExitStatus::Refused,
                    _ => ExitStatus::Internal,
                };
                let message =
                    if message.is_empty() { format!("the server answered {status} `{code}`") } else { message };
                Failure { status: exit, error: anyhow!(message), hint }
            }
        }
    }
}

impl Client {
    /// The client for `--server`/`SHIPGATE_SERVER` with the token for it. Nothing is sent yet.
    pub fn new(args: &ConnectArgs) -> Result<Client, Failure> {
        let base = credentials::url_key(args.server.trim()).to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() <= "https://".len() {
            return Err(Failure::usage(anyhow!("`{}` is not a server URL", args.server))
                .hint(format!("give one like `{DEFAULT_SERVER}` with `--server` or `SHIPGATE_SERVER`")));
        }
        let (token, token_source) = credentials::token_for(&base)?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(ANSWER_TIMEOUT))
            .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Client { base, token, token_source, agent })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ApiError> {
        let mut request = self.agent.get(self.endpoint(path)).header("accept", "application/json");
        for (key, value) in query {
            request = request.query(*key, value);
        }
        let response = self.send(path, self.authorize(request).call())?;
        self.read_json(path, response)
    }

    /// DELETE a resource.
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let request = self.agent.delete(self.endpoint(path)).header("accept", "application/json");
        let response = self.send(path, self.authorize(request).call())?;
        self.read_json(path, response)
    }

    /// POST a JSON body. `patient` waits as long as the server takes to answer (an abort answers
    /// once the rollback is done).
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
        patient: bool,
    ) -> Result<T, ApiError> {
        let mut request = self.agent.post(self.endpoint(path)).header("accept", "application/json");
        if patient {
            request = request.config().timeout_recv_response(None).build();
        }
        let response =
            self.send(path, self.authorize(request).content_type("application/json").send(body.to_string()))?;
        self.read_json(path, response)
    }

    /// PUT a JSON body.
    pub fn put<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> Result<T, ApiError> {
        let request = self.agent.put(self.endpoint(path)).header("accept", "application/json");
        let response =
            self.send(path, self.authorize(request).content_type("application/json").send(body.to_string()))?;
        self.read_json(path, response)
    }

    /// A streamed body (events, logs): the reader stays open as long as the server writes. With
    /// `idle`, a read that waits longer than that fails, so a connection that died without a
    /// word is noticed (the event stream sends a keep-alive comment every 15 s).
    pub fn stream(
        &self,
        path: &str,
        query: &[(&str, String)],
        accept: &str,
        idle: Option<Duration>,
    ) -> Result<ureq::BodyReader<'static>, ApiError> {
        let mut request =
            self.agent.get(self.endpoint(path)).header("accept", accept).config().timeout_per_read(idle).build();
        for (key, value) in query {
            request = request.query(*key, value);
        }
        let response = self.send(path, self.authorize(request).call())?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(self.error_answer(path, status, response));
        }
        Ok(response.into_body().into_reader())
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn send(
        &self,
        path: &str,
        outcome: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, ApiError> {
        outcome.map_err(|error| ApiError::Transport(self.transport_failure(path, error)))
    }

    fn read_json<T: DeserializeOwned>(
        &self,
        path: &str,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<T, ApiError> {
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(self.error_answer(path, status, response));
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|error| ApiError::Transport(self.transport_failure(path, error)))?;
        let body = serde_json::from_str(&text).map_err(|error| {
            Failure::internal(anyhow!("the server's answer to `{path}` is not what this shipgate expects: {error}"))
                .hint("are the server and this command the same shipgate version? `shipgate --version` tells")
        })?;
        Ok(body)
    }

    /// An error status: the API's `{code, message, hint}`, a refused token, or something that
    /// is not a shipgate server.
    fn error_answer(&self, path: &str, status: u16, mut response: ureq::http::Response<ureq::Body>) -> ApiError {
        #[derive(Deserialize)]
        struct Body {
            code: String,
            #[serde(default)]
            message: String,
            hint: Option<String>,
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if status == 401 {
            // The server says why (unknown, revoked or expired, and when): shown as the cause.
            let why = serde_json::from_str::<Body>(&text).ok().map(|body| body.message).filter(|why| !why.is_empty());
            return ApiError::Failed(self.unauthorized(why));
        }
        match serde_json::from_str::<Body>(&text) {
            Ok(Body { code, message, hint }) => ApiError::Status { status, code, message, hint },
            Err(_) => {
                let excerpt: String = text.trim().chars().take(200).collect();
                let error = if excerpt.is_empty() {
                    anyhow!("`{}` answered {status} to `{path}`", self.base)
                } else {
                    anyhow!("`{}` answered {status} to `{path}`: {excerpt}", self.base)
                };
                if (502..=504).contains(&status) {
                    // A proxy in front of a server that is restarting, most likely.
                    return ApiError::Transport(
                        Failure::internal(error).hint("the server may be restarting; try again in a moment"),
                    );
                }
                ApiError::Failed(
                    Failure::internal(error)
                        .hint("is this a shipgate server? point `--server` or `SHIPGATE_SERVER` at one"),
                )
            }
        }
    }

    fn unauthorized(&self, why: Option<String>) -> Failure {
        let url = &self.base;
        let (error, hint) = match &self.token_source {
            TokenSource::Env => (
                format!("`{url}` refused the token in `SHIPGATE_TOKEN`"),
                "set `SHIPGATE_TOKEN` to a token of this server, or unset it to use the credentials file".to_owned(),
            ),
            TokenSource::File(path) => (
                format!("`{url}` refused the token for it in `{}`", path.display()),
                format!(
                    "set `SHIPGATE_TOKEN` to a token of this server, or replace the entry for `{url}` in `{}`",
                    path.display()
                ),
            ),
            TokenSource::Missing(path) => (
                format!("`{url}` needs an API token and none was found"),
                match path {
                    Some(path) => format!(
                        "set `SHIPGATE_TOKEN`, or add `{url}` to `{}` (`shipgate server` writes it there at first start)",
                        path.display()
                    ),
                    None => "set `SHIPGATE_TOKEN`, or `SHIPGATE_CREDENTIALS` to the credentials file".to_owned(),
                },
            ),
        };
        let error = match why {
            Some(why) => anyhow!(why).context(error),
            None => anyhow!(error),
        };
        Failure::usage(error).hint(hint)
    }

    fn transport_failure(&self, path: &str, error: ureq::Error) -> Failure {
        if is_unreachable(&error) {
            return self.unreachable(Some(error));
        }
        match error {
            ureq::Error::Timeout(_) => Failure::internal(anyhow!(
                "`{}` did not answer `{path}` within {}s",
                self.base,
                ANSWER_TIMEOUT.as_secs()
            ))
            .hint("the server may be overloaded or stuck; its log says more"),
            error => Failure::internal(anyhow::Error::new(error).context(format!("request to `{}` failed", self.base))),
        }
    }

    /// `no shipgate server answers at URL`, with how to start one.
    pub fn unreachable(&self, cause: Option<ureq::Error>) -> Failure {
        let error = anyhow!("no shipgate server answers at {}", self.base);
        let error = match cause {
            Some(cause) => anyhow::Error::new(cause).context(error.to_string()),
            None => error,
        };
        Failure::internal(error)
            .hint("start one with `shipgate server --data-dir DIR`, or point --server / SHIPGATE_SERVER at yours")
    }
}

/// Nothing listens at the address, or nothing answered the connection in time.
pub fn is_unreachable(error: &ureq::Error) -> bool {
    use std::io::ErrorKind;
    match error {
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::TimedOut
                | ErrorKind::AddrNotAvailable
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::NotFound
        ),
        ureq::Error::Timeout(timeout) => {
            matches!(timeout, ureq::Timeout::Connect | ureq::Timeout::Resolve)
        }
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        _ => false,
    }
}

/// One path segment, percent-encoded (environment names, versions and ids are plain today, but
/// a `/` or `?` typed by mistake must not change which resource is asked for).
pub fn segment(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

// The shapes of the API, as far as the CLI reads them. Unknown fields are ignored, so a newer
// server does not break an older CLI.

#[derive(Debug, Clone, Deserialize)]
pub struct PlanView {
    pub environment: String,
    pub from: Option<String>,
    pub to: String,
    pub digest: String,
    pub no_op: Option<String>,
    #[serde(default)]
    pub steps: Vec<PlanStep>,
    #[serde(default)]
    pub gates: Vec<Gate>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlanStep {
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Gate {
    pub name: String,
    pub verdict: String,
    #[serde(default)]
    pub detail: Option<String>,
}

/// An id the server may write as a number or a string.
fn id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(match Id::deserialize(deserializer)? {
        Id::Text(text) => text,
        Id::Number(number) => number.to_string(),
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    #[serde(deserialize_with = "id")]
    pub id: String,
    pub environment: String,
    pub version: String,
    pub from_version: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub actor: Option<String>,
    pub created: String,
    pub finished: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub steps: Vec<DeploymentStep>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentStep {
    pub index: u32,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub state: String,
    /// What the step reported: its latest progress while it runs (health, weights, the
    /// analysis' summary), its outcome once done or failed.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Statuses after which a deployment changes no more.
pub const FINAL_STATUSES: [&str; 4] = ["succeeded", "rolled_back", "failed", "aborted"];

impl Deployment {
    pub fn is_final(&self) -> bool {
        FINAL_STATUSES.contains(&self.status.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub time: String,
    pub kind: String,
    pub step_index: Option<u32>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvironmentStatus {
    pub name: String,
    pub active: Option<Active>,
    pub previous: Option<Previous>,
    #[serde(default)]
    pub weights: Vec<Weight>,
    #[serde(default)]
    pub instances: Vec<Instance>,
    pub deployment: Option<Deployment>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Active {
    pub version: String,
    pub digest: String,
    pub since: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Previous {
    pub version: String,
    pub warm_until: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Weight {
    pub version: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Instance {
    #[serde(deserialize_with = "id")]
    pub id: String,
    pub version: String,
    pub state: String,
    pub port: Option<u16>,
    #[serde(default)]
    pub restarts: u32,
}

/// The answer to a rollback.
#[derive(Debug, Clone, Deserialize)]
pub struct Rollback {
    pub mode: String,
    pub version: String,
    pub elapsed_ms: Option<u64>,
    pub deployment: Option<Deployment>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_percent_encoded() {
        for (raw, encoded) in [("production", "production"), ("1.2.0+b1", "1.2.0%2Bb1"), ("a/b?c", "a%2Fb%3Fc")] {
            assert_eq!(super::segment(raw), encoded);
        }
    }
}
