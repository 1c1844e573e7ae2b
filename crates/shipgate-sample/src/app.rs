//! The HTTP routes. Everything per request stays cheap: no logging unless
//! asked for, bodies and headers built once, no locks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use http_body_util::BodyExt;
use rand::Rng;
use tokio::sync::Notify;

use crate::config::{self, Config, MAX_DELAY_MS};
use crate::delay::Delay;

pub const VERSION_HEADER: HeaderName = HeaderName::from_static("x-sample-version");

struct App {
    hello: Bytes,
    version: HeaderValue,
    unhealthy: bool,
    /// `None` when the startup delay overflows `Instant`: never ready.
    ready_at: Option<Instant>,
    error_rate: f64,
    delay: Delay,
}

/// Counts requests for `SAMPLE_CRASH_AFTER`; `crashed` fires once the last
/// allowed response has been handed to the connection and sent.
pub struct CrashCounter {
    after: u64,
    served: AtomicU64,
    pub crashed: Notify,
}

impl CrashCounter {
    pub fn new(after: u64) -> Arc<CrashCounter> {
        Arc::new(CrashCounter { after, served: AtomicU64::new(0), crashed: Notify::new() })
    }
}

/// Builds the routes; `started` is when the process started, for
/// `SAMPLE_STARTUP_MS`.
pub fn router(config: &Config, started: Instant, crash: Option<Arc<CrashCounter>>) -> Router {
    let app = App {
        hello: Bytes::from(format!("hello from shipgate-sample version {}\n", config.version)),
        // Checked by `Config::from_env`: printable ASCII only.
        version: HeaderValue::from_str(&config.version).unwrap_or_else(|_| HeaderValue::from_static("invalid")),
        unhealthy: config.unhealthy,
        ready_at: started.checked_add(config.startup),
        error_rate: config.error_rate,
        delay: Delay::new(config.latency),
    };
    let mut router = Router::new()
        .route("/", get(hello))
        .route("/healthz", get(healthz))
        .route("/slow", get(slow))
        .route("/ws", get(ws))
        .with_state(Arc::new(app));
    // Optional layers are added only when asked for, to keep the default
    // path as short as it can be.
    if config.access_log {
        router = router.layer(middleware::from_fn(access_log));
    }
    if let Some(crash) = crash {
        router = router.layer(middleware::from_fn_with_state(crash, count_for_crash));
    }
    router
}

impl App {
    fn text(&self, status: StatusCode, body: impl Into<Body>) -> Response {
        let mut response = Response::new(body.into());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        headers.insert(VERSION_HEADER, self.version.clone());
        response
    }

    /// Applies `SAMPLE_LATENCY_MS`, then `SAMPLE_ERROR_RATE`: `Some` is the
    /// injected error to answer instead.
    async fn disturb(&self) -> Option<Response> {
        if !matches!(self.delay, Delay::None) {
            let delay = self.delay.sample(&mut rand::rng());
            tokio::time::sleep(delay).await;
        }
        // `random` is in [0, 1): a rate of 0 never fires, 1 always does.
        if self.error_rate > 0.0 && rand::rng().random::<f64>() < self.error_rate {
            let body = "injected error (`SAMPLE_ERROR_RATE`)\n";
            return Some(self.text(StatusCode::INTERNAL_SERVER_ERROR, body));
        }
        None
    }
}

async fn hello(State(app): State<Arc<App>>) -> Response {
    if let Some(error) = app.disturb().await {
        return error;
    }
    app.text(StatusCode::OK, app.hello.clone())
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    if app.unhealthy {
        app.text(StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    } else if app.ready_at.is_some_and(|at| Instant::now() >= at) {
        app.text(StatusCode::OK, "ok")
    } else {
        app.text(StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn slow(State(app): State<Arc<App>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let Some(value) = query.get("ms") else {
        let body = "missing query parameter `ms`\nhint: ask for `/slow?ms=300`\n";
        return app.text(StatusCode::BAD_REQUEST, body);
    };
    let Some(delay) = config::parse_delay_ms(value) else {
        let body = format!(
            "invalid value `{value}` for `ms`\nhint: `ms` must be a whole number of milliseconds from 0 to {MAX_DELAY_MS}\n"
        );
        return app.text(StatusCode::BAD_REQUEST, body);
    };
    if let Some(error) = app.disturb().await {
        return error;
    }
    tokio::time::sleep(delay).await;
    app.text(StatusCode::OK, format!("slept {} ms\n", delay.as_millis()))
}

async fn ws(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            // The WebSocket layer answers pings and closes by itself; after
            // a close, `recv` sends the reply and then returns `None`.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

async fn access_log(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    eprintln!("access method={method} uri={uri} status={status} ms={ms:.1}");
    response
}

async fn count_for_crash(State(crash): State<Arc<CrashCounter>>, request: Request, next: Next) -> Response {
    let n = crash.served.fetch_add(1, Ordering::Relaxed) + 1;
    if n > crash.after {
        // The process is about to exit: never answer, as a crashed one would not.
        std::future::pending::<()>().await;
    }
    let response = next.run(request).await;
    if n < crash.after {
        return response;
    }
    // Fire once the body has been sent (or abandoned): the connection drops
    // the body after writing its last frame.
    let guard = NotifyOnDrop(crash);
    response.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _keep_until_sent = &guard;
            frame
        }))
    })
}

struct NotifyOnDrop(Arc<CrashCounter>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.crashed.notify_one();
    }
}
