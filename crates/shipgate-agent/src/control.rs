//! The control API: JSON over HTTP/1.1 on the control socket (and, when asked, on TCP with a
//! bearer token). Documented in README.md.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::sync::watch;

use crate::api::{ApiError, InstanceSpec, ServiceSpec};
use crate::core::{AgentInfo, Core};
use crate::error::Error;
use crate::metrics;

const MAX_BODY: usize = 1024 * 1024;

/// Serve the control API on connections from `accept` until `stop` turns true.
pub async fn serve<L, S>(mut accept: L, core: Arc<Core>, token: Option<Arc<str>>, mut stop: watch::Receiver<bool>)
where
    L: FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<S>> + Send>>,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    loop {
        let stream = tokio::select! {
            stream = accept() => stream,
            _ = crate::wait_true(&mut stop) => return,
        };
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "control accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let core = core.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, core.clone(), token.clone()));
            if let Err(error) =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
            {
                tracing::debug!(%error, "control connection ended with an error");
            }
        });
    }
}

type Answer = Response<Full<Bytes>>;

fn json<T: Serialize>(status: StatusCode, value: &T) -> Answer {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

fn failure(status: StatusCode, error: impl Into<String>, hint: Option<&str>) -> Answer {
    json(status, &ApiError { error: error.into(), hint: hint.map(str::to_owned) })
}

fn from_error(error: &Error) -> Answer {
    let (status, hint) = match error {
        Error::Invalid(_) => (StatusCode::BAD_REQUEST, Some("see the control API in the shipgate-agent README")),
        Error::NotFound { .. } => (StatusCode::NOT_FOUND, None),
        Error::Conflict(_) => (StatusCode::CONFLICT, None),
        Error::Tls(_) => (StatusCode::BAD_REQUEST, Some("check the certificate and key files named in `tls`")),
        Error::Tampered(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("the stored artifact changed since its release was signed, or the signature is not by a trusted key"),
        ),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
    };
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    failure(status, message, hint)
}

fn authorized(req: &Request<Incoming>, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    let Some(given) = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(given) = given.strip_prefix("Bearer ") else { return false };
    // Constant-time comparison: the token is a secret.
    given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn read_json<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, Answer> {
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return Err(failure(StatusCode::BAD_REQUEST, format!("cannot read the request body: {error}"), None));
        }
    };
    serde_json::from_slice(&bytes).map_err(|error| {
        failure(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON: {error}"),
            Some("see the control API in the shipgate-agent README"),
        )
    })
}

pub async fn handle(req: Request<Incoming>, core: Arc<Core>, token: Option<Arc<str>>) -> Result<Answer, Infallible> {
    if !authorized(&req, token.as_deref()) {
        return Ok(failure(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
            Some("send `Authorization: Bearer TOKEN` with the token from --control-token-file"),
        ));
    }
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    let answer = match (&method, segments.as_slice()) {
        (&Method::GET, ["v1", "agent"]) => json(
            StatusCode::OK,
            &AgentInfo {
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                state_dir: core.config.state_dir.clone(),
            },
        ),
        (&Method::GET, ["v1", "services"]) => json(StatusCode::OK, &core.services()),
        (&Method::GET, ["v1", "services", name]) => result(StatusCode::OK, core.service(name)),
        (&Method::PUT, ["v1", "services", name]) => match read_json::<ServiceSpec>(req).await {
            Ok(spec) => result(StatusCode::OK, core.put_service(name, spec)),
            Err(answer) => answer,
        },
        (&Method::DELETE, ["v1", "services", name]) => result(StatusCode::ACCEPTED, core.delete_service(name)),
        (&Method::GET, ["v1", "instances"]) => json(StatusCode::OK, &core.instances()),
        (&Method::POST, ["v1", "instances"]) => match read_json::<InstanceSpec>(req).await {
            Ok(spec) => result(StatusCode::CREATED, core.start_instance(spec)),
            Err(answer) => answer,
        },
        (&Method::GET, ["v1", "instances", id]) => result(StatusCode::OK, core.instance(id)),
        (&Method::DELETE, ["v1", "instances", id]) => result(StatusCode::ACCEPTED, core.stop_instance(id)),
        (&Method::GET, ["v1", "metrics"]) => json(StatusCode::OK, &core.metrics()),
        (&Method::GET, ["metrics"]) => prometheus_answer(&core),
        _ => failure(
            StatusCode::NOT_FOUND,
            format!("no endpoint `{method} {path}`"),
            Some("see the control API in the shipgate-agent README"),
        ),
    };
    Ok(answer)
}

fn result<T: Serialize>(status: StatusCode, value: Result<T, Error>) -> Answer {
    match value {
        Ok(value) => json(status, &value),
        Err(error) => from_error(&error),
    }
}

pub fn prometheus_answer(core: &Core) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(metrics::prometheus(&core.metrics()))));
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// `--metrics-listen`: Prometheus text on `GET /metrics`, nothing else.
pub async fn serve_metrics(listener: tokio::net::TcpListener, core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = crate::wait_true(&mut stop) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let core = core.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let core = core.clone();
                async move {
                    Ok::<_, Infallible>(if req.uri().path() == "/metrics" {
                        prometheus_answer(&core)
                    } else {
                        failure(StatusCode::NOT_FOUND, "only `GET /metrics` is served here", None)
                    })
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
