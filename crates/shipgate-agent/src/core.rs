//! The agent's state: services, instances, listeners and metrics, and every change to them.
//!
//! One mutex guards the desired state; it is taken by control requests, health transitions and
//! supervisors, never by the request path, which reads the routing tables through `arc-swap`.
//! Every change rebuilds the affected routing tables and persists the desired state.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::api::{InstanceSpec, InstanceState, InstanceStatus, ServiceSpec, ServiceStatus};
use crate::error::Error;
use crate::metrics::{MetricsSnapshot, VersionMetrics};
use crate::proxy::Connections;
use crate::route::{ListenerTable, ServiceLimits, ServiceTable, Upstream, VersionTable};
use crate::runtime::{Runtime, Workload};
use crate::{Config, logs, probe, state};

pub struct Core {
    pub config: Config,
    runtime: Arc<dyn Runtime>,
    inner: Mutex<Inner>,
    pub connections: Arc<Connections>,
    /// Set once a successor agent took over: this one no longer persists, restarts or stops
    /// instances; they belong to the successor.
    pub handed_over: AtomicBool,
    /// Serialises writers of the state file.
    persisting: Mutex<()>,
    /// Seals instances' environments and secret files in the state file.
    state_key: crate::sealed::StateKey,
}

#[derive(Default)]
struct Inner {
    services: BTreeMap<String, ServiceSpec>,
    instances: BTreeMap<String, Arc<Instance>>,
    listeners: HashMap<SocketAddr, ListenerEntry>,
    metrics: HashMap<(String, String), Arc<VersionMetrics>>,
    next_id: u64,
    next_port: u16,
    /// Listening sockets received from the previous agent, not yet claimed by a service.
    inherited: HashMap<SocketAddr, std::net::TcpListener>,
    /// Plain-HTTP listeners that redirect to a TLS listener (`tls.redirect_http_from`).
    redirects: HashMap<SocketAddr, RedirectEntry>,
}

struct RedirectEntry {
    https_port: u16,
    socket: std::net::TcpListener,
    stop: watch::Sender<bool>,
}

pub struct ListenerEntry {
    pub routes: Arc<ArcSwap<ListenerTable>>,
    /// A duplicate of the listening socket, to hand over in an upgrade.
    pub socket: std::net::TcpListener,
    pub tls: Arc<crate::tls::ListenerTls>,
    stop: watch::Sender<bool>,
}

pub struct Instance {
    pub id: String,
    pub spec: InstanceSpec,
    pub port: u16,
    pub upstream: Arc<Upstream>,
    /// `spec.env` and `spec.secret_files` sealed with the agent's key: what the state file keeps
    /// of them (made once, when the instance is created). `None` when it has neither.
    sealed: Option<String>,
    /// Why the sealed environment of a restored instance could not be opened: it keeps running
    /// if it runs, but is never started again.
    unopened: Option<String>,
    status: Mutex<Status>,
    stop: watch::Sender<bool>,
}

#[derive(Debug, Clone)]
struct Status {
    state: InstanceState,
    restarts: u32,
    last_exit: Option<String>,
    workload: Option<serde_json::Value>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock is a bug already reported; the data is still consistent
    // enough to keep serving.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Instance {
    pub fn state(&self) -> InstanceState {
        lock(&self.status).state
    }

    /// Move to `to` unless the instance is being removed (draining and stopped are final).
    fn transition(&self, to: InstanceState) -> bool {
        let mut status = lock(&self.status);
        if matches!(status.state, InstanceState::Draining | InstanceState::Stopped) && to != InstanceState::Stopped {
            return false;
        }
        let changed = status.state != to;
        status.state = to;
        changed
    }

    fn status(&self) -> InstanceStatus {
        let status = lock(&self.status).clone();
        InstanceStatus {
            id: self.id.clone(),
            service: self.spec.service.clone(),
            version: self.spec.version.clone(),
            port: self.port,
            state: status.state,
            workload: status.workload,
            restarts: status.restarts,
            last_exit: status.last_exit,
            in_flight: self.upstream.in_flight.load(Ordering::Relaxed),
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.')
}

impl Core {
    pub fn new(
        config: Config,
        runtime: Arc<dyn Runtime>,
        inherited: HashMap<SocketAddr, std::net::TcpListener>,
    ) -> Arc<Core> {
        let next_port = config.port_range.0;
        let state_key = crate::sealed::StateKey::new(&config.state_dir);
        Arc::new(Core {
            state_key,
            config,
            runtime,
            inner: Mutex::new(Inner { next_port, inherited, ..Inner::default() }),
            connections: Arc::new(Connections::default()),
            handed_over: AtomicBool::new(false),
            persisting: Mutex::new(()),
        })
    }

    // ----- services -----

    pub fn services(&self) -> Vec<ServiceStatus> {
        let inner = lock(&self.inner);
        inner.services.iter().map(|(name, spec)| service_status(&inner, name, spec)).collect()
    }

    pub fn service(&self, name: &str) -> Result<ServiceStatus, Error> {
        let inner = lock(&self.inner);
        let spec = inner.services.get(name).ok_or_else(|| not_found("service", name))?;
        Ok(service_status(&inner, name, spec))
    }

    pub fn put_service(self: &Arc<Self>, name: &str, spec: ServiceSpec) -> Result<ServiceStatus, Error> {
        if !valid_name(name) {
            return Err(Error::Invalid(format!(
                "service name `{name}` must be 1 to 64 letters, digits, `-`, `_` or `.`"
            )));
        }
        validate_service(&spec)?;
        if let Some(tls) = &spec.tls {
            crate::tls::load_all(&tls.certificates)?;
        }
        {
            let mut inner = lock(&self.inner);
            check_listener_sharing(&inner, name, &spec)?;
            if !inner.listeners.contains_key(&spec.listen) {
                let entry = self.open_listener(&mut inner, spec.listen, certificate_files([&spec]))?;
                inner.listeners.insert(spec.listen, entry);
            }
            inner.services.insert(name.to_owned(), spec);
            close_unused_listeners(&mut inner);
            self.sync_redirects(&mut inner);
        }
        self.rebuild_routes();
        self.persist();
        self.service(name)
    }

    pub fn delete_service(self: &Arc<Self>, name: &str) -> Result<ServiceStatus, Error> {
        let status = self.service(name)?;
        for instance in &status.instances {
            let _ = self.stop_instance(&instance.id);
        }
        {
            let mut inner = lock(&self.inner);
            inner.services.remove(name);
            close_unused_listeners(&mut inner);
            self.sync_redirects(&mut inner);
        }
        self.rebuild_routes();
        self.persist();
        Ok(status)
    }

    /// Listen on `addr` (or take the socket inherited from the previous agent), with TLS from the
    /// first connection on when `certificates` is not empty.
    fn open_listener(
        self: &Arc<Self>,
        inner: &mut Inner,
        addr: SocketAddr,
        certificates: Vec<crate::api::CertificateFiles>,
    ) -> Result<ListenerEntry, Error> {
        let socket = match inner.inherited.remove(&addr) {
            Some(socket) => socket,
            None => bind_tcp(addr)?,
        };
        let for_serving = socket.try_clone().map_err(Error::io(format!("cannot duplicate listener `{addr}`")))?;
        for_serving.set_nonblocking(true).map_err(Error::io(format!("cannot set up listener `{addr}`")))?;
        let listener = tokio::net::TcpListener::from_std(for_serving)
            .map_err(Error::io(format!("cannot set up listener `{addr}`")))?;
        let routes = Arc::new(ArcSwap::from_pointee(ListenerTable::default()));
        let tls = Arc::new(crate::tls::ListenerTls::new()?);
        if let Err(error) = tls.set_files(certificates) {
            // Keep the agent (and the listener's other services) up; every route rebuild retries.
            tracing::error!(listen = %addr, %error, "cannot load TLS certificates");
        }
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(crate::proxy::serve(listener, routes.clone(), tls.clone(), self.connections.clone(), stop_rx));
        tracing::info!(listen = %addr, "listening");
        Ok(ListenerEntry { routes, socket, tls, stop })
    }

    /// Open the redirect listeners the services ask for, close the ones no longer asked for.
    fn sync_redirects(&self, inner: &mut Inner) {
        let wanted: HashMap<SocketAddr, u16> = inner
            .services
            .values()
            .filter_map(|spec| Some((spec.tls.as_ref()?.redirect_http_from?, spec.listen.port())))
            .collect();
        inner.redirects.retain(|addr, entry| {
            let keep = wanted.get(addr) == Some(&entry.https_port);
            if !keep {
                tracing::info!(listen = %addr, "closing redirect listener");
                let _ = entry.stop.send(true);
            }
            keep
        });
        for (addr, https_port) in wanted {
            if inner.redirects.contains_key(&addr) {
                continue;
            }
            let opened = match inner.inherited.remove(&addr) {
                Some(socket) => Ok(socket),
                None => bind_tcp(addr),
            }
            .and_then(|socket| {
                let serving = socket.try_clone().map_err(Error::io(format!("cannot duplicate listener `{addr}`")))?;
                serving.set_nonblocking(true).map_err(Error::io(format!("cannot set up listener `{addr}`")))?;
                let serving = tokio::net::TcpListener::from_std(serving)
                    .map_err(Error::io(format!("cannot set up listener `{addr}`")))?;
                Ok((socket, serving))
            });
            match opened {
                Ok((socket, serving)) => {
                    let (stop, stop_rx) = watch::channel(false);
                    tokio::spawn(crate::proxy::serve_redirect(serving, https_port, stop_rx));
                    tracing::info!(listen = %addr, https_port, "redirecting HTTP to HTTPS");
                    inner.redirects.insert(addr, RedirectEntry { https_port, socket, stop });
                }
                Err(error) => tracing::error!(listen = %addr, %error, "cannot open the HTTP redirect listener"),
            }
        }
    }

    /// Every TLS listener reloads its certificates when their files change.
    pub fn reload_certificates(&self) {
        let listeners: Vec<_> = lock(&self.inner).listeners.values().map(|l| l.tls.clone()).collect();
        for tls in listeners {
            tls.reload();
        }
    }

    /// Duplicates of every listening socket, for a successor agent.
    pub fn listener_sockets(&self) -> Vec<(SocketAddr, std::net::TcpListener)> {
        let inner = lock(&self.inner);
        let proxies = inner.listeners.iter().map(|(addr, entry)| (addr, &entry.socket));
        let redirects = inner.redirects.iter().map(|(addr, entry)| (addr, &entry.socket));
        proxies.chain(redirects).filter_map(|(addr, socket)| Some((*addr, socket.try_clone().ok()?))).collect()
    }

    /// Stop accepting on every proxy listener (the sockets stay open in a successor, if any).
    pub fn stop_accepting(&self) {
        let inner = lock(&self.inner);
        for entry in inner.listeners.values() {
            let _ = entry.stop.send(true);
        }
        for entry in inner.redirects.values() {
            let _ = entry.stop.send(true);
        }
    }

    // ----- instances -----

    pub fn instances(&self) -> Vec<InstanceStatus> {
        lock(&self.inner).instances.values().map(|i| i.status()).collect()
    }

    pub fn instance(&self, id: &str) -> Result<InstanceStatus, Error> {
        lock(&self.inner).instances.get(id).map(|i| i.status()).ok_or_else(|| not_found("instance", id))
    }

    pub fn start_instance(self: &Arc<Self>, mut spec: InstanceSpec) -> Result<InstanceStatus, Error> {
        if spec.command.is_empty() {
            return Err(Error::Invalid("`command` must name a program".into()));
        }
        if !spec.artifact_dir.is_dir() {
            return Err(Error::Invalid(format!("`artifact_dir` `{}` is not a directory", spec.artifact_dir.display())));
        }
        // Checked here too (the supervisor checks before every start), so that the caller
        // learns at once why the instance will not run.
        if let Some(check) = &spec.verify {
            let signer = crate::verify::verify(check)?;
            tracing::info!(service = %spec.service, version = %spec.version, key = %signer, "artifact verified");
        }
        if !spec.secret_files.is_empty() {
            crate::secret_files::check_memory_backed()?;
        }
        let instance = {
            let mut inner = lock(&self.inner);
            if !inner.services.contains_key(&spec.service) {
                return Err(not_found("service", &spec.service));
            }
            let id = match spec.id.clone() {
                Some(id) => id,
                None => loop {
                    inner.next_id += 1;
                    let id = format!("{}-{}-{}", spec.service, spec.version, inner.next_id);
                    if !inner.instances.contains_key(&id) {
                        break id;
                    }
                },
            };
            if !valid_name(&id) {
                return Err(Error::Invalid(format!(
                    "instance id `{id}` must be 1 to 64 letters, digits, `-`, `_` or `.`"
                )));
            }
            if inner.instances.contains_key(&id) {
                return Err(Error::Conflict(format!("instance `{id}` already exists")));
            }
            spec.id = Some(id.clone());
            let sealed = self.state_key.seal(&id, &spec)?;
            let port = self.allocate_port(&mut inner)?;
            let instance = new_instance(id, spec, port, InstanceState::Starting, None, sealed, None)?;
            inner.instances.insert(instance.id.clone(), instance.clone());
            instance
        };
        self.persist();
        tokio::spawn(supervise(self.clone(), instance.clone(), None));
        Ok(instance.status())
    }

    /// Take the instance out of rotation, let in-flight requests finish, then stop it.
    pub fn stop_instance(self: &Arc<Self>, id: &str) -> Result<InstanceStatus, Error> {
        let instance = lock(&self.inner).instances.get(id).cloned().ok_or_else(|| not_found("instance", id))?;
        instance.transition(InstanceState::Draining);
        self.rebuild_routes();
        self.persist();
        let _ = instance.stop.send(true);
        Ok(instance.status())
    }

    fn allocate_port(&self, inner: &mut Inner) -> Result<u16, Error> {
        let (low, high) = self.config.port_range;
        let span = u32::from(high - low) + 1;
        for _ in 0..span {
            let port = inner.next_port;
            inner.next_port = if port >= high { low } else { port + 1 };
            if inner.instances.values().any(|i| i.port == port) {
                continue;
            }
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
        Err(Error::Conflict(format!("no free port in the range {low}-{high}")))
    }

    fn remove_instance(&self, id: &str) {
        lock(&self.inner).instances.remove(id);
        self.persist();
    }

    // ----- routes, metrics, persistence -----

    /// Rebuild every listener's routing table from the desired state and instance health.
    pub fn rebuild_routes(&self) {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        for (addr, listener) in &inner.listeners {
            let mut services = Vec::new();
            for (name, spec) in inner.services.iter().filter(|(_, spec)| spec.listen == *addr) {
                let service_name: Arc<str> = Arc::from(name.as_str());
                let versions = spec
                    .versions
                    .iter()
                    .map(|version| {
                        let instances = inner
                            .instances
                            .values()
                            .filter(|i| {
                                i.spec.service == *name
                                    && i.spec.version == version.name
                                    && i.state() == InstanceState::Healthy
                            })
                            .map(|i| i.upstream.clone())
                            .collect();
                        let metrics = inner.metrics.entry((name.clone(), version.name.clone())).or_default().clone();
                        VersionTable::new(
                            Arc::from(version.name.as_str()),
                            version.weight,
                            version.pinnable,
                            instances,
                            metrics,
                        )
                    })
                    .collect();
                services.push(ServiceTable::new(
                    service_name,
                    spec.hosts.clone(),
                    spec.path_prefix.clone(),
                    spec.sticky,
                    versions,
                    ServiceLimits {
                        max_body_bytes: spec.limits.max_body_bytes,
                        response_header_timeout: Duration::from_millis(spec.limits.response_header_timeout_ms),
                        eject_after: spec.limits.eject_after,
                        eject_for: Duration::from_millis(spec.limits.eject_ms),
                    },
                ));
            }
            listener.routes.store(Arc::new(ListenerTable { services }));
            let files = certificate_files(inner.services.values().filter(|spec| spec.listen == *addr));
            if let Err(error) = listener.tls.set_files(files) {
                tracing::error!(listen = %addr, %error, "cannot load TLS certificates");
            }
        }
    }

    pub fn metrics(&self) -> Vec<MetricsSnapshot> {
        let inner = lock(&self.inner);
        let mut snapshots: Vec<_> =
            inner.metrics.iter().map(|((service, version), m)| m.snapshot(service, version)).collect();
        snapshots.sort_by(|a, b| (&a.service, &a.version).cmp(&(&b.service, &b.version)));
        snapshots
    }

    /// Write the desired state to the state file, atomically.
    pub fn persist(&self) {
        if self.handed_over.load(Ordering::Acquire) {
            return;
        }
        let _writer = lock(&self.persisting);
        let snapshot = {
            let inner = lock(&self.inner);
            state::Persisted {
                services: inner.services.clone(),
                instances: inner
                    .instances
                    .values()
                    .map(|i| {
                        let status = lock(&i.status);
                        state::PersistedInstance {
                            // Never in the clear: `sealed` holds them (or they are empty).
                            spec: crate::sealed::stripped(&i.spec),
                            sealed: i.sealed.clone(),
                            port: i.port,
                            state: status.state,
                            restarts: status.restarts,
                            workload: status.workload.clone(),
                        }
                    })
                    .collect(),
                next_id: inner.next_id,
            }
        };
        if let Err(error) = state::save(&self.config.state_dir, &snapshot) {
            let cause = std::error::Error::source(&error).map(|c| c.to_string()).unwrap_or_default();
            tracing::error!(%error, %cause, "cannot persist the desired state");
        }
    }

    /// Load the state file: listeners for every service, and every instance adopted (when its
    /// workload still runs) or started again.
    pub fn restore(self: &Arc<Self>, persisted: state::Persisted) -> Result<(), Error> {
        let mut to_supervise = Vec::new();
        {
            let mut inner = lock(&self.inner);
            inner.next_id = persisted.next_id;
            for (name, spec) in &persisted.services {
                if !inner.listeners.contains_key(&spec.listen) {
                    let sharing = persisted.services.values().filter(|other| other.listen == spec.listen);
                    let entry = self.open_listener(&mut inner, spec.listen, certificate_files(sharing))?;
                    inner.listeners.insert(spec.listen, entry);
                }
                inner.services.insert(name.clone(), spec.clone());
            }
            self.sync_redirects(&mut inner);
            for saved in persisted.instances {
                let Some(id) = saved.spec.id.clone() else { continue };
                let adopted = saved.workload.as_ref().and_then(|record| self.runtime.adopt(record));
                let removing = matches!(saved.state, InstanceState::Draining | InstanceState::Stopped);
                if removing && adopted.is_none() {
                    continue;
                }
                let state = match (&adopted, saved.state) {
                    (Some(_), InstanceState::Healthy) => InstanceState::Healthy,
                    (_, InstanceState::Crashloop) => InstanceState::Crashloop,
                    (_, InstanceState::Draining | InstanceState::Stopped) => InstanceState::Draining,
                    _ => InstanceState::Starting,
                };
                tracing::info!(instance = %id, adopted = adopted.is_some(), ?state, "restoring instance");
                let mut spec = saved.spec;
                let (sealed, unopened) = match saved.sealed {
                    Some(sealed) => match self.state_key.open_into(&id, &sealed, &mut spec) {
                        Ok(()) => (Some(sealed), None),
                        Err(error) => {
                            tracing::error!(instance = %id, "{error}");
                            // Kept as it was: the right key may come back.
                            (Some(sealed), Some(error.to_string()))
                        }
                    },
                    // Written in the clear by an older agent: sealed from now on.
                    None => (self.state_key.seal(&id, &spec)?, None),
                };
                let instance =
                    new_instance(id.clone(), spec, saved.port, state, saved.workload.clone(), sealed, unopened)?;
                lock(&instance.status).restarts = saved.restarts;
                if removing {
                    let _ = instance.stop.send(true);
                }
                inner.next_port = inner.next_port.max(saved.port.saturating_add(1));
                if inner.next_port > self.config.port_range.1 || inner.next_port < self.config.port_range.0 {
                    inner.next_port = self.config.port_range.0;
                }
                inner.instances.insert(id, instance.clone());
                to_supervise.push((instance, adopted, state));
            }
        }
        self.rebuild_routes();
        for (instance, adopted, state) in to_supervise {
            if state == InstanceState::Crashloop {
                tokio::spawn(wait_crashloop(self.clone(), instance));
            } else {
                tokio::spawn(supervise(self.clone(), instance, adopted));
            }
        }
        self.persist();
        Ok(())
    }
}

fn not_found(kind: &'static str, name: &str) -> Error {
    Error::NotFound { kind, name: name.to_owned() }
}

fn validate_service(spec: &ServiceSpec) -> Result<(), Error> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for version in &spec.versions {
        if !valid_name(&version.name) {
            problems.push(format!("version name `{}` must be 1 to 64 letters, digits, `-`, `_` or `.`", version.name));
        }
        if !seen.insert(&version.name) {
            problems.push(format!("version `{}` is listed twice", version.name));
        }
    }
    if let Some(prefix) = &spec.path_prefix
        && !prefix.starts_with('/')
    {
        problems.push(format!("`path_prefix` `{prefix}` must start with `/`"));
    }
    if spec.health.interval_ms == 0 || spec.health.timeout_ms == 0 {
        problems.push("`health.interval_ms` and `health.timeout_ms` must be over 0".into());
    }
    if spec.health.healthy == 0 || spec.health.unhealthy == 0 {
        problems.push("`health.healthy` and `health.unhealthy` must be at least 1".into());
    }
    if let crate::api::Probe::Http { path } = &spec.health.probe
        && (!path.starts_with('/') || path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()))
    {
        problems.push(format!("`health.probe.http.path` `{path}` must start with `/` and contain no spaces"));
    }
    if problems.is_empty() { Ok(()) } else { Err(Error::Invalid(problems.join("; "))) }
}

/// The certificate files a listener shared by these services serves.
fn certificate_files<'a>(services: impl IntoIterator<Item = &'a ServiceSpec>) -> Vec<crate::api::CertificateFiles> {
    services.into_iter().filter_map(|spec| spec.tls.as_ref()).flat_map(|tls| tls.certificates.iter().cloned()).collect()
}

/// Services sharing a listener must agree on TLS, and a redirect listener must not be a proxy
/// listener.
fn check_listener_sharing(inner: &Inner, name: &str, spec: &ServiceSpec) -> Result<(), Error> {
    for (other_name, other) in inner.services.iter().filter(|(other_name, _)| other_name.as_str() != name) {
        if other.listen == spec.listen && other.tls.is_some() != spec.tls.is_some() {
            return Err(Error::Conflict(format!(
                "service `{other_name}` also listens on `{}` but {} TLS",
                spec.listen,
                if other.tls.is_some() { "with" } else { "without" }
            )));
        }
        let redirect = other.tls.as_ref().and_then(|tls| tls.redirect_http_from);
        if redirect == Some(spec.listen) {
            return Err(Error::Conflict(format!("`{}` redirects to HTTPS for service `{other_name}`", spec.listen)));
        }
    }
    if let Some(from) = spec.tls.as_ref().and_then(|tls| tls.redirect_http_from)
        && (from == spec.listen || inner.services.values().any(|other| other.listen == from))
    {
        return Err(Error::Conflict(format!("`{from}` is a proxy listener: it cannot also redirect to HTTPS")));
    }
    Ok(())
}

fn bind_tcp(addr: SocketAddr) -> Result<std::net::TcpListener, Error> {
    use socket2::{Domain, Socket, Type};
    let context = || format!("cannot listen on `{addr}`");
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(Error::io(context()))?;
    socket.set_reuse_address(true).map_err(Error::io(context()))?;
    socket.bind(&addr.into()).map_err(Error::io(context()))?;
    socket.listen(4096).map_err(Error::io(context()))?;
    Ok(socket.into())
}

fn close_unused_listeners(inner: &mut Inner) {
    let used: std::collections::HashSet<SocketAddr> = inner.services.values().map(|s| s.listen).collect();
    inner.listeners.retain(|addr, entry| {
        let keep = used.contains(addr);
        if !keep {
            tracing::info!(listen = %addr, "closing listener");
            let _ = entry.stop.send(true);
        }
        keep
    });
}

fn service_status(inner: &Inner, name: &str, spec: &ServiceSpec) -> ServiceStatus {
    ServiceStatus {
        name: name.to_owned(),
        spec: spec.clone(),
        instances: inner.instances.values().filter(|i| i.spec.service == name).map(|i| i.status()).collect(),
    }
}

fn new_instance(
    id: String,
    spec: InstanceSpec,
    port: u16,
    state: InstanceState,
    workload: Option<serde_json::Value>,
    sealed: Option<String>,
    unopened: Option<String>,
) -> Result<Arc<Instance>, Error> {
    let upstream = Upstream::new(&id, port).map_err(|e| Error::Invalid(format!("port {port}: {e}")))?;
    Ok(Arc::new(Instance {
        id,
        spec,
        port,
        upstream: Arc::new(upstream),
        sealed,
        unopened,
        status: Mutex::new(Status { state, restarts: 0, last_exit: None, workload }),
        stop: watch::channel(false).0,
    }))
}

/// Whether the instance may start: its environment is known and its artifact verifies.
async fn startable(instance: &Instance) -> Result<(), Error> {
    if let Some(reason) = &instance.unopened {
        return Err(Error::Secrets(reason.clone()));
    }
    verify_before_start(instance).await
}

/// [`crate::verify::verify`] off the async threads (digesting reads the whole artifact).
async fn verify_before_start(instance: &Instance) -> Result<(), Error> {
    let Some(check) = instance.spec.verify.clone() else { return Ok(()) };
    match tokio::task::spawn_blocking(move || crate::verify::verify(&check)).await {
        Ok(result) => result.map(|_| ()),
        Err(error) => Err(Error::Tampered(format!("the check did not finish: {error}"))),
    }
}

/// How one run of a workload ended.
enum Ended {
    /// Asked to stop, and stopped.
    Stopped,
    Exited(String),
}

/// Keeps one instance running: start (or adopt), watch, probe, restart with backoff, give up on a
/// crash loop, and drain then stop when asked.
async fn supervise(core: Arc<Core>, instance: Arc<Instance>, mut adopted: Option<Box<dyn Workload>>) {
    let mut stop = instance.stop.subscribe();
    let mut exits: VecDeque<Instant> = VecDeque::new();
    let log = logs::log_path(&core.config.state_dir, &instance.id);
    loop {
        let service = lock(&core.inner).services.get(&instance.spec.service).cloned();
        let Some(service) = service else {
            // The service is gone: nothing to run for.
            stop_and_remove(&core, &instance, None, Duration::ZERO, Duration::from_secs(10)).await;
            return;
        };
        let drain = Duration::from_millis(service.drain_ms);
        let grace = Duration::from_millis(service.stop_grace_ms);
        let workload = match adopted.take() {
            Some(workload) => Ok(workload),
            None if *stop.borrow() => {
                stop_and_remove(&core, &instance, None, drain, grace).await;
                return;
            }
            None => match startable(&instance).await {
                Ok(()) => crate::secret_files::prepare(&core.config.state_dir, &instance.spec)
                    .and_then(|spec| core.runtime.start(&spec, instance.port, &log)),
                Err(error) => {
                    // Tampering or a lost environment does not heal by retrying: out of
                    // rotation at once.
                    tracing::error!(instance = %instance.id, "{error}");
                    lock(&instance.status).last_exit = Some(error.to_string());
                    instance.transition(InstanceState::Crashloop);
                    core.rebuild_routes();
                    core.persist();
                    wait_crashloop(core, instance).await;
                    return;
                }
            },
        };
        let ended = match workload {
            Ok(mut workload) => {
                {
                    let mut status = lock(&instance.status);
                    status.workload = Some(workload.record());
                }
                core.persist();
                let ended = run(&core, &instance, &mut *workload, &service, &mut stop).await;
                if let Ended::Stopped = ended {
                    stop_and_remove(&core, &instance, Some(workload), drain, grace).await;
                    return;
                }
                ended
            }
            Err(error) => Ended::Exited(format!("cannot start: {error}")),
        };
        if core.handed_over.load(Ordering::Acquire) {
            return;
        }
        let Ended::Exited(how) = ended else { return };
        tracing::warn!(instance = %instance.id, exit = %how, "instance exited");
        let now = Instant::now();
        let window = Duration::from_millis(service.restart.crashloop_window_ms);
        while exits.front().is_some_and(|t| now.duration_since(*t) > window) {
            exits.pop_front();
        }
        exits.push_back(now);
        let crashloop = exits.len() as u32 > service.restart.crashloop_restarts;
        {
            let mut status = lock(&instance.status);
            status.last_exit = Some(how);
            status.workload = None;
        }
        instance.transition(if crashloop { InstanceState::Crashloop } else { InstanceState::Backoff });
        core.rebuild_routes();
        core.persist();
        if crashloop {
            tracing::error!(instance = %instance.id, exits = exits.len(), "crash loop: not restarting");
            wait_crashloop(core, instance).await;
            return;
        }
        let exponent = (exits.len() as u32).saturating_sub(1).min(20);
        let backoff = Duration::from_millis(
            service.restart.backoff_initial_ms.saturating_mul(1 << exponent).min(service.restart.backoff_max_ms),
        );
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = crate::wait_true(&mut stop) => {
                stop_and_remove(&core, &instance, None, drain, grace).await;
                return;
            }
        }
        lock(&instance.status).restarts += 1;
        instance.transition(InstanceState::Starting);
    }
}

/// A crash-looping instance waits, stopped, until it is removed.
async fn wait_crashloop(core: Arc<Core>, instance: Arc<Instance>) {
    let mut stop = instance.stop.subscribe();
    let _ = crate::wait_true(&mut stop).await;
    stop_and_remove(&core, &instance, None, Duration::ZERO, Duration::ZERO).await;
}

/// Watch a running workload: exit polling, log rotation, health probes; until it exits or a
/// stop is asked for.
async fn run(
    core: &Arc<Core>,
    instance: &Arc<Instance>,
    workload: &mut dyn Workload,
    service: &ServiceSpec,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let prober = tokio::spawn(probe_loop(core.clone(), instance.clone(), service.health.clone()));
    let _abort = AbortOnDrop(prober);
    let log = logs::log_path(&core.config.state_dir, &instance.id);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut ticks = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Some(how) = workload.poll_exit() {
                    return Ended::Exited(how);
                }
                if core.handed_over.load(Ordering::Acquire) {
                    return Ended::Exited("handed over".into());
                }
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(40) {
                    let _ = logs::rotate_if_needed(&log, core.config.log_max_bytes, core.config.log_keep);
                }
            }
            _ = crate::wait_true(stop) => return Ended::Stopped,
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn probe_loop(core: Arc<Core>, instance: Arc<Instance>, health: crate::api::HealthSpec) {
    let addr = instance.upstream.addr;
    let interval = Duration::from_millis(health.interval_ms);
    let timeout = Duration::from_millis(health.timeout_ms);
    let mut successes = 0u32;
    let mut failures = 0u32;
    loop {
        let result = probe::check(&health.probe, addr, &instance.spec.artifact_dir, timeout).await;
        let state = instance.state();
        match result {
            Ok(()) => {
                successes += 1;
                failures = 0;
                if state != InstanceState::Healthy
                    && successes >= health.healthy
                    && instance.transition(InstanceState::Healthy)
                {
                    tracing::info!(instance = %instance.id, "healthy: taking traffic");
                    instance.upstream.reset();
                    core.rebuild_routes();
                    core.persist();
                }
            }
            Err(error) => {
                failures += 1;
                successes = 0;
                if state == InstanceState::Healthy
                    && failures >= health.unhealthy
                    && instance.transition(InstanceState::Unhealthy)
                {
                    tracing::warn!(instance = %instance.id, %error, "unhealthy: out of rotation");
                    core.rebuild_routes();
                    core.persist();
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Drain (wait for in-flight requests up to `drain`), stop the workload (terminate, `grace`,
/// kill), forget the instance.
async fn stop_and_remove(
    core: &Arc<Core>,
    instance: &Arc<Instance>,
    workload: Option<Box<dyn Workload>>,
    drain: Duration,
    grace: Duration,
) {
    instance.transition(InstanceState::Draining);
    core.rebuild_routes();
    let deadline = Instant::now() + drain;
    while instance.upstream.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    instance.upstream.close_idle();
    if let Some(mut workload) = workload {
        workload.terminate();
        let deadline = Instant::now() + grace;
        let mut exited = workload.poll_exit().is_some();
        while !exited && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(25)).await;
            exited = workload.poll_exit().is_some();
        }
        if !exited {
            tracing::warn!(instance = %instance.id, "did not stop within its grace period: killing");
            workload.kill();
            for _ in 0..40 {
                if workload.poll_exit().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }
    instance.transition(InstanceState::Stopped);
    tracing::info!(instance = %instance.id, "stopped");
    crate::secret_files::remove(&core.config.state_dir, &instance.id);
    core.remove_instance(&instance.id);
}

/// Paths the agent uses inside its state directory.
pub fn default_control_socket(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("control.sock")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AgentInfo {
    pub pid: u32,
    pub version: String,
    pub state_dir: PathBuf,
}
