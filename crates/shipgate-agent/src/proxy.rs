//! The reverse proxy. Per request: find the service (Host, path prefix), choose the version (pin
//! header or cookie, sticky cookie, weights), choose an instance (round-robin, ejected ones last),
//! forward over a pooled keep-alive HTTP/1.1 connection with both bodies streamed, and answer the
//! proxy's own failures with a status and a body that say who failed: the client, the upstream
//! instance, or shipgate.
//!
//! The upstream connection pool is our own (a LIFO stack of idle `SendRequest`s per instance)
//! rather than hyper-util's legacy client, because retrying "when connecting fails before any
//! byte was sent" needs to know exactly when the connect happened, with the request still in hand.

use std::convert::Infallible;
use std::fmt::Display;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, SET_COOKIE, UPGRADE};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::metrics::VersionMetrics;
use crate::route::{Idle, ListenerTable, PIN_COOKIE, PIN_HEADER, STICKY_COOKIE, ServiceTable, Upstream, cookie};

/// Connecting to an instance.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A downstream connection idle this long between requests is closed; so is a pooled upstream one.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_IDLE_PER_UPSTREAM: usize = 1024;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_SHIPGATE_ERROR: HeaderName = HeaderName::from_static("x-shipgate-error");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// What every request on one downstream connection shares.
pub struct ConnCtx {
    pub routes: Arc<ArcSwap<ListenerTable>>,
    pub peer_ip: HeaderValue,
    pub https: bool,
}

/// Live downstream connections, and the signal that asks them to finish.
pub struct Connections {
    pub live: AtomicUsize,
    pub shutdown: watch::Sender<bool>,
}

impl Default for Connections {
    fn default() -> Self {
        Connections { live: AtomicUsize::new(0), shutdown: watch::channel(false).0 }
    }
}

impl Connections {
    /// Ask every connection to finish its current request and close, then wait up to `timeout`.
    pub async fn drain(&self, timeout: Duration) {
        let _ = self.shutdown.send(true);
        let deadline = Instant::now() + timeout;
        while self.live.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn server_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(IDLE_TIMEOUT).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// Accept connections until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    routes: Arc<ArcSwap<ListenerTable>>,
    tls: Arc<crate::tls::ListenerTls>,
    connections: Arc<Connections>,
    mut stop: watch::Receiver<bool>,
) {
    let builder = Arc::new(server_builder());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = crate::wait_true(&mut stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match tls.acceptor() {
            None => {
                let ctx = Arc::new(ConnCtx { routes: routes.clone(), peer_ip: ip_header(peer), https: false });
                tokio::spawn(serve_connection(TokioIo::new(stream), ctx, builder.clone(), connections.clone()));
            }
            Some(acceptor) => {
                let ctx = Arc::new(ConnCtx { routes: routes.clone(), peer_ip: ip_header(peer), https: true });
                let (builder, connections) = (builder.clone(), connections.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(TokioIo::new(stream), ctx, builder, connections).await,
                        Ok(Err(error)) => tracing::debug!(%error, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

/// A client must finish the TLS handshake within this time.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Plain HTTP that only redirects: every request gets a 308 to the same host and path over
/// `https://` on `https_port`.
pub async fn serve_redirect(listener: TcpListener, https_port: u16, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = crate::wait_true(&mut stop) => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let service = hyper::service::service_fn(move |req: Request<Incoming>| async move {
            Ok::<_, Infallible>(redirect_to_https(&req, https_port))
        });
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(IDLE_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = conn.await;
        });
    }
}

fn redirect_to_https(req: &Request<Incoming>, https_port: u16) -> Response<ProxyBody> {
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok()).or(req.uri().host()).unwrap_or("");
    // Drop the port (an IPv6 literal keeps its brackets).
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() => name,
        _ => host,
    };
    let path = req.uri().path_and_query().map_or("/", PathAndQuery::as_str);
    let location =
        if https_port == 443 { format!("https://{host}{path}") } else { format!("https://{host}:{https_port}{path}") };
    match HeaderValue::try_from(location) {
        Ok(location) if !host.is_empty() => {
            let mut response = Response::new(ProxyBody::Full(Some(Bytes::new())));
            *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
            response.headers_mut().insert(http::header::LOCATION, location);
            response
        }
        _ => error_response(StatusCode::BAD_REQUEST, Origin::Client, "no valid `Host` to redirect to"),
    }
}

pub fn ip_header(peer: SocketAddr) -> HeaderValue {
    HeaderValue::try_from(peer.ip().to_string()).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Serve one downstream connection (plain or TLS) until it closes or shutdown asks it to.
pub async fn serve_connection<I>(
    io: I,
    ctx: Arc<ConnCtx>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    connections: Arc<Connections>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    connections.live.fetch_add(1, Ordering::AcqRel);
    let mut shutdown = connections.shutdown.subscribe();
    let service = hyper::service::service_fn(move |req| handle(req, ctx.clone()));
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = crate::wait_true(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "downstream connection ended with an error");
    }
    connections.live.fetch_sub(1, Ordering::AcqRel);
}

/// Who failed, for the status code, the body and the `x-shipgate-error` header.
#[derive(Clone, Copy)]
enum Origin {
    Client,
    Upstream,
    Shipgate,
}

impl Origin {
    fn name(self) -> &'static str {
        match self {
            Origin::Client => "client",
            Origin::Upstream => "upstream",
            Origin::Shipgate => "shipgate",
        }
    }
}

fn error_response(status: StatusCode, origin: Origin, message: impl Display) -> Response<ProxyBody> {
    let text = format!(
        "{} {}: {} failed: {message}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        origin.name()
    );
    let mut response = Response::new(ProxyBody::Full(Some(Bytes::from(text))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(X_SHIPGATE_ERROR.clone(), HeaderValue::from_static(origin.name()));
    response
}

/// The host a request is for, without port.
fn request_host<B>(req: &Request<B>) -> Option<&str> {
    let raw = match req.headers().get(HOST) {
        Some(value) => value.to_str().ok()?,
        None => req.uri().authority()?.as_str(),
    };
    Some(strip_port(raw))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

enum Choice {
    Version(usize, bool),
    Refuse(Response<ProxyBody>),
}

/// The version for this request: an explicit pin header, then a pin cookie, then the sticky
/// cookie, then the weights. The bool says whether to set the sticky cookie.
fn choose_version(service: &ServiceTable, headers: &HeaderMap) -> Choice {
    let routable = |index: usize| {
        let version = &service.versions[index];
        !version.instances.is_empty() && (version.pinnable || service.takes_weighted_traffic(index))
    };
    if let Some(pin) = headers.get(PIN_HEADER) {
        return match service.version(pin.as_bytes()) {
            Some(index) if routable(index) => Choice::Version(index, false),
            _ => Choice::Refuse(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                Origin::Shipgate,
                format_args!(
                    "version `{}` of service `{}` is not routable by pin (unknown, not pinnable, or no healthy instance)",
                    String::from_utf8_lossy(pin.as_bytes()),
                    service.name
                ),
            )),
        };
    }
    let mut sticky = None;
    for header in headers.get_all(COOKIE) {
        let bytes = header.as_bytes();
        if let Some(pin) = cookie(bytes, PIN_COOKIE)
            && let Some(index) = service.version(pin)
            && routable(index)
        {
            return Choice::Version(index, false);
        }
        if service.sticky
            && let Some(name) = cookie(bytes, STICKY_COOKIE)
            && let Some(index) = service.version(name)
            && service.takes_weighted_traffic(index)
        {
            sticky = Some(index);
        }
    }
    if let Some(index) = sticky {
        return Choice::Version(index, false);
    }
    match service.weighted(fastrand::f64()) {
        Some(index) => Choice::Version(index, service.sticky),
        None => Choice::Refuse(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            Origin::Shipgate,
            format_args!("service `{}` has no healthy instance taking traffic", service.name),
        )),
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(UPGRADE)
        && req.headers().get_all(CONNECTION).iter().any(|value| {
            value.to_str().is_ok_and(|v| v.split(',').any(|token| token.trim().eq_ignore_ascii_case("upgrade")))
        })
}

/// Remove hop-by-hop headers (RFC 9110 §7.6.1); an upgrade keeps `Connection` and `Upgrade`.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    if !upgrade
        && let Some(connection) = headers.remove(CONNECTION)
        && let Ok(listed) = connection.to_str()
    {
        for name in listed.split(',') {
            let name = name.trim();
            if !name.is_empty() && !name.eq_ignore_ascii_case("close") && !name.eq_ignore_ascii_case("keep-alive") {
                headers.remove(name);
            }
        }
    }
    if headers.contains_key(&KEEP_ALIVE) {
        headers.remove(&KEEP_ALIVE);
    }
    if headers.contains_key(&PROXY_CONNECTION) {
        headers.remove(&PROXY_CONNECTION);
    }
    if !upgrade && headers.contains_key(UPGRADE) {
        headers.remove(UPGRADE);
    }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
}

/// The per-request entry point of the proxy.
pub async fn handle(mut req: Request<Incoming>, ctx: Arc<ConnCtx>) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let table = ctx.routes.load_full();
    let Some(service) = table.find(request_host(&req), req.uri().path()) else {
        let host = request_host(&req).unwrap_or("").to_owned();
        return Ok(error_response(
            StatusCode::NOT_FOUND,
            Origin::Client,
            format_args!("no service on this listener answers for host `{host}` and path `{}`", req.uri().path()),
        ));
    };
    let (index, set_sticky) = match choose_version(service, req.headers()) {
        Choice::Version(index, set_sticky) => (index, set_sticky),
        Choice::Refuse(response) => return Ok(response),
    };
    let version = &service.versions[index];
    let metrics = &version.metrics;
    metrics.requests.fetch_add(1, Ordering::Relaxed);
    let finish = |response: Response<ProxyBody>| {
        metrics.response(response.status().as_u16(), started.elapsed().as_micros() as u64);
        Ok(response)
    };

    if content_length(req.headers()).is_some_and(|length| length > service.max_body_bytes) {
        return finish(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            Origin::Client,
            format_args!("the request body is over the limit of {} bytes", service.max_body_bytes),
        ));
    }

    let upgrade = is_upgrade(&req);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let host_value = parts.headers.get(HOST).cloned();
    strip_hop_by_hop(&mut parts.headers, upgrade);
    if host_value.is_none()
        && let Some(authority) = parts.uri.authority()
        && let Ok(value) = HeaderValue::from_str(authority.as_str())
    {
        // HTTP/2 carries the host in `:authority`; HTTP/1.1 upstreams need `Host`.
        parts.headers.insert(HOST, value);
    }
    let forwarded_for = match parts.headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(existing) => HeaderValue::try_from(format!("{existing}, {}", ctx.peer_ip.to_str().unwrap_or("unknown")))
            .unwrap_or_else(|_| ctx.peer_ip.clone()),
        None => ctx.peer_ip.clone(),
    };
    parts.headers.insert(X_FORWARDED_FOR.clone(), forwarded_for);
    parts.headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(if ctx.https { "https" } else { "http" }));
    if !parts.headers.contains_key(&X_FORWARDED_HOST)
        && let Some(host) = host_value.or_else(|| parts.headers.get(HOST).cloned())
    {
        parts.headers.insert(X_FORWARDED_HOST.clone(), host);
    }
    parts.version = Version::HTTP_11;
    let path_and_query = parts.uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));

    let empty = body.is_end_stream();
    // A request without a body to an idempotent method can be sent again when the instance
    // closed the connection without answering (it crashed with the request in flight). It goes to
    // another instance, so with a single one there is nothing to keep a copy of the headers for.
    let retryable = empty && !upgrade && version.instances.len() > 1 && is_idempotent(&parts.method);
    let mut replay = retryable.then(|| (parts.method.clone(), parts.headers.clone()));
    let body = if empty { ReqBody::Empty } else { ReqBody::stream(body, service.max_body_bytes, metrics.clone()) };
    let mut request = Request::from_parts(parts, body);

    let Some(first) = version.pick(None) else {
        return finish(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            Origin::Shipgate,
            format_args!("version `{}` of service `{}` has no healthy instance", version.name, service.name),
        ));
    };
    let mut upstream = first.clone();
    let mut retried = false;
    let mut stale_connections = 0;
    loop {
        *request.uri_mut() = upstream_uri(&upstream, &path_and_query);
        let mut sender = match checkout(&upstream).await {
            Ok(sender) => sender,
            Err(error) => {
                metrics.connect_errors.fetch_add(1, Ordering::Relaxed);
                if upstream.connect_failed(service.eject_after, service.eject_for) {
                    tracing::warn!(instance = %upstream.id, service = %service.name, "instance ejected after consecutive connect failures");
                }
                if !retried && let Some(next) = version.pick(Some(&upstream)) {
                    retried = true;
                    metrics.retries.fetch_add(1, Ordering::Relaxed);
                    upstream = next.clone();
                    continue;
                }
                return finish(error_response(
                    StatusCode::BAD_GATEWAY,
                    Origin::Upstream,
                    format_args!(
                        "cannot connect to instance `{}` (service `{}`, version `{}`): {error}",
                        upstream.id, service.name, version.name
                    ),
                ));
            }
        };
        upstream.connected();
        let guard = InFlight::new(upstream.clone());
        let sent = tokio::time::timeout(service.response_header_timeout, sender.try_send_request(request)).await;
        match sent {
            Err(_) => {
                return finish(error_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    Origin::Upstream,
                    format_args!(
                        "instance `{}` (service `{}`, version `{}`) sent no response head within {} ms",
                        upstream.id,
                        service.name,
                        version.name,
                        service.response_header_timeout.as_millis()
                    ),
                ));
            }
            Ok(Ok(response)) => {
                return finish(respond(
                    response,
                    sender,
                    guard,
                    metrics.clone(),
                    client_upgrade,
                    set_sticky.then(|| &*version.name),
                ));
            }
            Ok(Err(mut error)) => {
                if let Some(unsent) = error.take_message() {
                    // The pooled connection closed before the request went out: nothing was sent.
                    stale_connections += 1;
                    if stale_connections <= 3 {
                        request = unsent;
                        continue;
                    }
                }
                let error = error.into_error();
                if let Some(body_error) = find_source::<BodyError>(&error) {
                    return finish(match body_error {
                        BodyError::TooLarge(limit) => error_response(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            Origin::Client,
                            format_args!("the request body is over the limit of {limit} bytes"),
                        ),
                        BodyError::Client(cause) => error_response(
                            StatusCode::BAD_REQUEST,
                            Origin::Client,
                            format_args!("the request body could not be read: {cause}"),
                        ),
                    });
                }
                if !retried
                    && (error.is_incomplete_message() || error.is_canceled() || error.is_closed())
                    && let Some(next) = version.pick(Some(&upstream))
                    && let Some((method, headers)) = replay.take()
                {
                    retried = true;
                    metrics.retries.fetch_add(1, Ordering::Relaxed);
                    upstream = next.clone();
                    let mut again = Request::new(ReqBody::Empty);
                    *again.method_mut() = method;
                    *again.headers_mut() = headers;
                    request = again;
                    continue;
                }
                return finish(error_response(
                    StatusCode::BAD_GATEWAY,
                    Origin::Upstream,
                    format_args!(
                        "instance `{}` (service `{}`, version `{}`) failed: {error}",
                        upstream.id, service.name, version.name
                    ),
                ));
            }
        }
    }
}

fn upstream_uri(upstream: &Upstream, path_and_query: &PathAndQuery) -> Uri {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(upstream.authority.clone());
    parts.path_and_query = Some(path_and_query.clone());
    Uri::from_parts(parts).unwrap_or_default()
}

fn find_source<'a, E: std::error::Error + 'static>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a E> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

fn respond(
    response: Response<Incoming>,
    sender: SendRequest<ReqBody>,
    guard: InFlight,
    metrics: Arc<VersionMetrics>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    sticky: Option<&str>,
) -> Response<ProxyBody> {
    let mut response = response;
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if switching && let Some(client_upgrade) = client_upgrade {
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            // The guard keeps the instance "in flight" while the tunnel is open, so draining
            // waits for open WebSockets.
            let _guard = guard;
            let _sender = sender;
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let mut client = TokioIo::new(client);
                    let mut upstream = TokioIo::new(upstream);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                Err(error) => tracing::debug!(%error, "upgrade failed"),
            }
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, ProxyBody::Full(None));
    }
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    if let Some(version) = sticky
        && let Ok(value) = HeaderValue::try_from(format!("{STICKY_COOKIE}={version}; Path=/; HttpOnly; SameSite=Lax"))
    {
        parts.headers.append(SET_COOKIE, value);
    }
    let mut upstream_body = UpstreamBody { inner: body, sender: Some(sender), guard, metrics, bytes: 0 };
    if upstream_body.inner.is_end_stream() {
        upstream_body.release();
    }
    Response::from_parts(parts, ProxyBody::Upstream(upstream_body))
}

/// An idle pooled connection to `upstream`, or a new one.
async fn checkout(upstream: &Upstream) -> Result<SendRequest<ReqBody>, String> {
    loop {
        let idle = match upstream.idle.lock() {
            Ok(mut idle) => idle.pop(),
            Err(_) => None,
        };
        let Some(idle) = idle else { break };
        if idle.sender.is_closed() || idle.since.elapsed() > IDLE_TIMEOUT {
            continue;
        }
        let mut sender = idle.sender;
        if sender.ready().await.is_ok() {
            return Ok(sender);
        }
    }
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(error.to_string()),
        Err(_) => return Err(format!("no connection within {} ms", CONNECT_TIMEOUT.as_millis())),
    };
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake::<_, ReqBody>(TokioIo::new(stream))
        .await
        .map_err(|error| error.to_string())?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

fn checkin(upstream: &Upstream, sender: SendRequest<ReqBody>) {
    if sender.is_closed() {
        return;
    }
    if let Ok(mut idle) = upstream.idle.lock()
        && idle.len() < MAX_IDLE_PER_UPSTREAM
    {
        idle.push(Idle { sender, since: Instant::now() });
    }
}

/// Counts a request in flight on an instance until dropped (draining waits for zero).
pub struct InFlight(Arc<Upstream>);

impl InFlight {
    fn new(upstream: Arc<Upstream>) -> Self {
        upstream.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(upstream)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a request body could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is over the limit of {0} bytes")]
    TooLarge(u64),
    #[error("the client failed while sending the request body: {0}")]
    Client(#[source] hyper::Error),
}

/// The body sent upstream: the client's, streamed, with the size limit enforced on the way.
pub enum ReqBody {
    Empty,
    Stream { inner: Incoming, seen: u64, limit: u64, metrics: Arc<VersionMetrics> },
}

impl ReqBody {
    fn stream(inner: Incoming, limit: u64, metrics: Arc<VersionMetrics>) -> Self {
        ReqBody::Stream { inner, seen: 0, limit, metrics }
    }
}

impl Drop for ReqBody {
    fn drop(&mut self) {
        if let ReqBody::Stream { seen, metrics, .. } = self {
            metrics.bytes_in.fetch_add(*seen, Ordering::Relaxed);
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Stream { inner, seen, limit, .. } => match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        *seen += data.len() as u64;
                        if *seen > *limit {
                            return Poll::Ready(Some(Err(BodyError::TooLarge(*limit))));
                        }
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(BodyError::Client(error)))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Stream { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Stream { inner, .. } => inner.size_hint(),
        }
    }
}

/// The body sent to the client: the proxy's own message, or the instance's response, streamed.
pub enum ProxyBody {
    Full(Option<Bytes>),
    Upstream(UpstreamBody),
}

pub struct UpstreamBody {
    inner: Incoming,
    /// Goes back to the pool once the body has been read to its end.
    sender: Option<SendRequest<ReqBody>>,
    guard: InFlight,
    metrics: Arc<VersionMetrics>,
    bytes: u64,
}

impl UpstreamBody {
    fn release(&mut self) {
        if let Some(sender) = self.sender.take() {
            checkin(&self.guard.0, sender);
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        self.metrics.bytes_out.fetch_add(self.bytes, Ordering::Relaxed);
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ProxyBody::Full(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            ProxyBody::Upstream(body) => match Pin::new(&mut body.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        body.bytes += data.len() as u64;
                    }
                    if body.inner.is_end_stream() {
                        body.release();
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(None) => {
                    body.release();
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Err(error))) => {
                    body.sender = None;
                    Poll::Ready(Some(Err(error)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(bytes) => bytes.is_none(),
            ProxyBody::Upstream(body) => body.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            ProxyBody::Full(None) => SizeHint::with_exact(0),
            ProxyBody::Upstream(body) => body.inner.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ports() {
        for (input, want) in [
            ("example.com:8080", "example.com"),
            ("example.com", "example.com"),
            ("[::1]:80", "[::1]"),
            ("[::1]", "[::1]"),
            ("::1", "::1"),
        ] {
            assert_eq!(strip_port(input), want);
        }
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("close, x-secret"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers, false);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }
}
