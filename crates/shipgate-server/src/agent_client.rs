//! The agent's control API, spoken over its Unix socket (one short HTTP/1.1 connection per
//! call: the socket is local and calls are rare next to proxied traffic).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shipgate_agent::api::{ApiError, InstanceSpec, InstanceStatus, ServiceSpec, ServiceStatus};

/// How long one control call may take before the agent counts as unavailable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the agent does not answer on `{socket}`: {reason}")]
    Unavailable { socket: PathBuf, reason: String },
    #[error("the agent refused `{method} {path}` ({status}): {message}")]
    Refused { method: &'static str, path: String, status: u16, message: String },
    #[error("the agent's answer to `{path}` is not what shipgate expects: {reason}")]
    Malformed { path: String, reason: String },
}

impl AgentError {
    /// The status of a refused call; `None` when the agent did not answer at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            AgentError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of one agent's control socket.
#[derive(Debug, Clone)]
pub struct AgentClient {
    socket: PathBuf,
}

/// What `GET /v1/agent` says.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AgentInfo {
    pub pid: u32,
    pub version: String,
}

impl AgentClient {
    pub fn new(socket: impl Into<PathBuf>) -> AgentClient {
        AgentClient { socket: socket.into() }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub async fn info(&self) -> Result<AgentInfo, AgentError> {
        self.call("GET", "/v1/agent", None::<&()>).await
    }

    /// The service, or `None` when the agent has none of that name.
    pub async fn service(&self, name: &str) -> Result<Option<ServiceStatus>, AgentError> {
        match self.call("GET", &format!("/v1/services/{name}"), None::<&()>).await {
            Ok(status) => Ok(Some(status)),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub async fn put_service(&self, name: &str, spec: &ServiceSpec) -> Result<ServiceStatus, AgentError> {
        self.call("PUT", &format!("/v1/services/{name}"), Some(spec)).await
    }

    /// Cumulative per-version counters and latency histograms (`GET /v1/metrics`).
    pub async fn metrics(&self) -> Result<serde_json::Value, AgentError> {
        self.call("GET", "/v1/metrics", None::<&()>).await
    }

    pub async fn instances(&self) -> Result<Vec<InstanceStatus>, AgentError> {
        self.call("GET", "/v1/instances", None::<&()>).await
    }

    pub async fn start_instance(&self, spec: &InstanceSpec) -> Result<InstanceStatus, AgentError> {
        self.call("POST", "/v1/instances", Some(spec)).await
    }

    /// Drains and stops the instance; one that is already gone is not an error.
    pub async fn stop_instance(&self, id: &str) -> Result<(), AgentError> {
        match self.call::<serde_json::Value>("DELETE", &format!("/v1/instances/{id}"), None::<&()>).await {
            Ok(_) => Ok(()),
            Err(error) if error.status() == Some(404) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, AgentError> {
        let (status, bytes) = tokio::time::timeout(CALL_TIMEOUT, self.send(method, path, body))
            .await
            .map_err(|_| self.unavailable(format!("no answer within {} s", CALL_TIMEOUT.as_secs())))??;
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<ApiError>(&bytes)
                .map(|error| error.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(AgentError::Refused { method, path: path.to_owned(), status, message });
        }
        serde_json::from_slice(&bytes)
            .map_err(|error| AgentError::Malformed { path: path.to_owned(), reason: error.to_string() })
    }

    async fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(u16, Bytes), AgentError> {
        let stream =
            tokio::net::UnixStream::connect(&self.socket).await.map_err(|error| self.unavailable(error.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| self.unavailable(error.to_string()))?;
        tokio::spawn(connection);
        let body = match body {
            Some(body) => Bytes::from(
                serde_json::to_vec(body)
                    .map_err(|error| AgentError::Malformed { path: path.to_owned(), reason: error.to_string() })?,
            ),
            None => Bytes::new(),
        };
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "agent")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|error| self.unavailable(error.to_string()))?;
        let response = sender.send_request(request).await.map_err(|error| self.unavailable(error.to_string()))?;
        let status = response.status().as_u16();
        let bytes =
            response.into_body().collect().await.map_err(|error| self.unavailable(error.to_string()))?.to_bytes();
        Ok((status, bytes))
    }

    fn unavailable(&self, reason: String) -> AgentError {
        AgentError::Unavailable { socket: self.socket.clone(), reason }
    }
}
