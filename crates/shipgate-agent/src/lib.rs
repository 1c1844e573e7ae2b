//! `shipgate-agent`: the data plane of one host. A reverse proxy with weighted versions, pins and
//! stickiness; a supervisor that starts, probes, restarts and drains instances; per-version
//! metrics; desired state persisted and re-adopted across restarts; graceful upgrade by handing
//! listening sockets to a successor. Controlled over a Unix socket with a JSON API (README.md).
//!
//! Only [`runtime::process`] knows that instances are processes.

#![forbid(unsafe_code)]

pub mod api;
mod control;
mod core;
mod error;
pub mod logs;
pub mod metrics;
mod probe;
mod proxy;
mod route;
pub mod runtime;
mod sealed;
mod secret_files;
mod state;
mod tls;
mod upgrade;
mod verify;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use crate::error::Error;
use crate::runtime::process::ProcessRuntime;

/// How the agent is run; the command line of `shipgate agent` maps onto it.
#[derive(Debug, Clone)]
pub struct Config {
    /// Desired state, instance logs and the default sockets live here (created 0700).
    pub state_dir: PathBuf,
    /// The control socket (mode 0600); default `STATE_DIR/control.sock`.
    pub control_socket: Option<PathBuf>,
    /// Also serve the control API on TCP, requiring `Authorization: Bearer TOKEN`.
    pub control_listen: Option<(SocketAddr, String)>,
    /// Serve Prometheus text on `GET /metrics` here.
    pub metrics_listen: Option<SocketAddr>,
    /// Instances get a free port from this range (inclusive), as `PORT`.
    pub port_range: (u16, u16),
    /// Instance logs are rotated past this size…
    pub log_max_bytes: u64,
    /// …keeping this many older files.
    pub log_keep: u32,
    /// Take over the listening sockets of the agent whose upgrade socket is here.
    pub upgrade_from: Option<PathBuf>,
    /// systemd's notification socket (`$NOTIFY_SOCKET`: a path, or `@name` in the abstract
    /// namespace); `READY=1` is sent there once the agent serves.
    pub notify_socket: Option<String>,
}

impl Config {
    pub fn new(state_dir: impl Into<PathBuf>) -> Config {
        Config {
            state_dir: state_dir.into(),
            control_socket: None,
            control_listen: None,
            metrics_listen: None,
            port_range: (20_000, 29_999),
            log_max_bytes: 10 * 1024 * 1024,
            log_keep: 3,
            upgrade_from: None,
            notify_socket: None,
        }
    }

    pub fn control_socket_path(&self) -> PathBuf {
        self.control_socket.clone().unwrap_or_else(|| core::default_control_socket(&self.state_dir))
    }

    pub fn upgrade_socket_path(&self) -> PathBuf {
        self.state_dir.join("upgrade.sock")
    }
}

/// A running agent.
pub struct Agent {
    core: Arc<core::Core>,
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
}

impl Agent {
    /// Set everything up and start serving: restore the desired state (adopting instances that
    /// still run), listen, then tell systemd (`READY=1`) when `NOTIFY_SOCKET` is set.
    pub async fn start(config: Config) -> Result<Agent, Error> {
        let started = Instant::now();
        create_private_dir(&config.state_dir)?;
        create_private_dir(&logs::log_dir(&config.state_dir))?;
        let (upgrade_stream, inherited) = match &config.upgrade_from {
            Some(path) => {
                let path = path.clone();
                let (stream, inherited) = tokio::task::spawn_blocking(move || upgrade::request(&path))
                    .await
                    .map_err(|e| Error::Upgrade(e.to_string()))??;
                (Some(stream), inherited)
            }
            None => (None, upgrade::Inherited::default()),
        };
        let core = core::Core::new(config.clone(), Arc::new(ProcessRuntime), inherited.proxy);
        if let Some(persisted) = state::load(&config.state_dir)? {
            core.restore(persisted)?;
        }
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = watch::channel(false);
        tokio::spawn(watch_certificates(core.clone(), stop_rx.clone()));

        let control_path = config.control_socket_path();
        let control = match inherited.control {
            Some(listener) => listener,
            None => bind_unix(&control_path)?,
        };
        let control_dup = control.try_clone().map_err(Error::io("cannot duplicate the control socket"))?;
        let control = to_tokio_unix(control)?;
        tokio::spawn(control::serve(
            move || {
                let control = control.clone();
                Box::pin(async move { control.accept().await.map(|(stream, _)| stream) })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
            },
            core.clone(),
            None,
            stop_rx.clone(),
        ));

        if let Some((addr, token)) = &config.control_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(Error::io(format!("cannot listen on `{addr}` for control")))?;
            let listener = Arc::new(listener);
            tokio::spawn(control::serve(
                move || {
                    let listener = listener.clone();
                    Box::pin(async move { listener.accept().await.map(|(stream, _)| stream) })
                        as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
                },
                core.clone(),
                Some(Arc::from(token.as_str())),
                stop_rx.clone(),
            ));
        }

        let metrics_dup = match (inherited.metrics, config.metrics_listen) {
            (Some(listener), _) => Some(listener),
            (None, Some(addr)) => Some(
                std::net::TcpListener::bind(addr)
                    .map_err(Error::io(format!("cannot listen on `{addr}` for metrics")))?,
            ),
            (None, None) => None,
        };
        let metrics_dup = match metrics_dup {
            Some(listener) => {
                let dup = listener.try_clone().map_err(Error::io("cannot duplicate the metrics listener"))?;
                listener.set_nonblocking(true).map_err(Error::io("cannot set up the metrics listener"))?;
                let listener = tokio::net::TcpListener::from_std(listener)
                    .map_err(Error::io("cannot set up the metrics listener"))?;
                tokio::spawn(control::serve_metrics(listener, core.clone(), stop_rx.clone()));
                Some(dup)
            }
            None => None,
        };

        let upgrade_listener = match inherited.upgrade {
            Some(listener) => listener,
            None => bind_unix(&config.upgrade_socket_path())?,
        };
        let handover_parts = HandoverParts { control: control_dup, metrics: metrics_dup, upgrade: upgrade_listener };
        tokio::spawn(serve_upgrades(core.clone(), handover_parts, stop.clone(), done_tx));

        if let Some(stream) = upgrade_stream {
            tokio::task::spawn_blocking(move || upgrade::confirm(stream))
                .await
                .map_err(|e| Error::Upgrade(e.to_string()))??;
            tracing::info!(ms = started.elapsed().as_millis() as u64, "took over from the previous agent");
        }
        if let Some(target) = &config.notify_socket {
            notify_ready(target);
        }
        tracing::info!(
            control = %control_path.display(),
            state_dir = %config.state_dir.display(),
            ms = started.elapsed().as_millis() as u64,
            "agent ready"
        );
        Ok(Agent { core, stop, done })
    }

    pub fn control_socket(&self) -> PathBuf {
        self.core.config.control_socket_path()
    }

    /// Resolves once a successor agent took over and this one has drained: time to exit.
    pub async fn handed_over(&self) {
        let mut done = self.done.clone();
        let _ = crate::wait_true(&mut done).await;
    }

    /// Stop serving: stop accepting, let in-flight requests finish (up to `drain`). With
    /// `stop_instances`, drain and stop every instance too; without, they keep running and the
    /// next agent re-adopts them.
    pub async fn shutdown(self, stop_instances: bool, drain: Duration) {
        let _ = self.stop.send(true);
        self.core.stop_accepting();
        if stop_instances {
            for instance in self.core.instances() {
                let _ = self.core.stop_instance(&instance.id);
            }
            let deadline = Instant::now() + drain + Duration::from_secs(15);
            while !self.core.instances().is_empty() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        self.core.connections.drain(drain).await;
    }
}

/// Certificate files are polled: cheap (two `stat`s per file per second) and, unlike inotify,
/// it sees files replaced by a rename or changed through a symlink (how certbot and Kubernetes
/// secrets update them).
async fn watch_certificates(core: Arc<core::Core>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(CERTIFICATE_POLL) => core.reload_certificates(),
            _ = crate::wait_true(&mut stop) => return,
        }
    }
}

const CERTIFICATE_POLL: Duration = Duration::from_secs(1);

/// Resolves when the flag turns true (or its sender is gone); holds no borrow across awaits.
pub(crate) async fn wait_true(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|value| *value).await;
}

struct HandoverParts {
    control: std::os::unix::net::UnixListener,
    metrics: Option<std::net::TcpListener>,
    upgrade: std::os::unix::net::UnixListener,
}

/// Wait for a successor on the upgrade socket; after a successful hand-over, stop accepting,
/// drain, and report `done`.
async fn serve_upgrades(
    core: Arc<core::Core>,
    parts: HandoverParts,
    stop: watch::Sender<bool>,
    done: watch::Sender<bool>,
) {
    let listener = match parts.upgrade.try_clone().and_then(|l| {
        l.set_nonblocking(true)?;
        tokio::net::UnixListener::from_std(l)
    }) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot serve the upgrade socket");
            return;
        }
    };
    let mut stopped = stop.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = crate::wait_true(&mut stopped) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let Ok(stream) = stream.into_std().and_then(|s| s.set_nonblocking(false).map(|()| s)) else { continue };
        let core_for_handover = core.clone();
        let dups =
            (parts.control.try_clone(), parts.metrics.as_ref().map(|m| m.try_clone()), parts.upgrade.try_clone());
        let result = tokio::task::spawn_blocking(move || {
            upgrade::hand_over(stream, move || {
                core_for_handover.persist();
                core_for_handover.handed_over.store(true, Ordering::Release);
                let (control, metrics, upgrade) = dups;
                upgrade::Handover {
                    proxy: core_for_handover.listener_sockets(),
                    control: control.ok(),
                    metrics: metrics.and_then(Result::ok),
                    upgrade: upgrade.ok(),
                }
            })
        })
        .await;
        match result {
            Ok(Ok(())) => {
                tracing::info!("a successor took over: draining and exiting");
                core.stop_accepting();
                let _ = stop.send(true);
                core.connections.drain(Duration::from_secs(30)).await;
                let _ = done.send(true);
                return;
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "upgrade failed: this agent keeps serving");
                core.handed_over.store(false, Ordering::Release);
                core.persist();
            }
            Err(error) => tracing::error!(%error, "upgrade task failed"),
        }
    }
}

fn create_private_dir(path: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(Error::io(format!("cannot create `{}`", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(Error::io(format!("cannot restrict `{}` to its owner", path.display())))
}

/// Bind a Unix socket readable and writable by the owner only. A stale socket file (nobody
/// accepting on it) is replaced; a live one is an error: another agent runs there.
fn bind_unix(path: &Path) -> Result<std::os::unix::net::UnixListener, Error> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Error::Conflict(format!(
                "another agent is listening on `{}` (to replace it without downtime use --upgrade-from)",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(Error::io(format!("cannot remove stale socket `{}`", path.display())))?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io(format!("cannot create `{}`", parent.display())))?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .map_err(Error::io(format!("cannot listen on `{}`", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(Error::io(format!("cannot restrict `{}` to its owner", path.display())))?;
    Ok(listener)
}

fn to_tokio_unix(listener: std::os::unix::net::UnixListener) -> Result<Arc<tokio::net::UnixListener>, Error> {
    listener.set_nonblocking(true).map_err(Error::io("cannot set up the control socket"))?;
    Ok(Arc::new(tokio::net::UnixListener::from_std(listener).map_err(Error::io("cannot set up the control socket"))?))
}

/// `READY=1` to systemd's notification socket (a path, or `@name` for the abstract namespace).
fn notify_ready(target: &str) {
    let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() else { return };
    let result = if let Some(name) = target.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .and_then(|addr| socket.send_to_addr(b"READY=1", &addr))
    } else {
        socket.send_to(b"READY=1", target)
    };
    if let Err(error) = result {
        tracing::warn!(%error, socket = %target, "cannot notify systemd");
    }
}
