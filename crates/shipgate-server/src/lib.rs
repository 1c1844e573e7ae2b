//! The control plane of shipgate, run as `shipgate server` (see README.md).
//!
//! [`Server::start`] opens the store and the ledger, binds the API listener, makes sure a
//! local agent runs (starting a detached one when none answers, so that stopping or crashing
//! the server never touches traffic) and creates the first admin token. [`Server::serve`] then
//! resumes every deployment a previous server left unfinished, runs the reconciler and serves
//! the API until shutdown.

#![forbid(unsafe_code)]

pub mod agent_client;
pub mod api;
pub mod approvals;
pub mod auth;
pub mod checklist;
pub mod console;
pub mod executor;
pub mod flags;
pub mod gates;
pub mod ledger_api;
mod listeners;
mod logs;
pub mod notify;
mod reconcile;
pub mod record;
pub mod secrets;
pub mod service;
mod smoke;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shipgate_ledger::{KEY_FILE_NAME, Ledger, LedgerConfig, LedgerError};
use shipgate_store::{Location, StoreError};

use crate::agent_client::AgentClient;
use crate::executor::Executor;
use crate::record::{RecordError, Recorder};

/// How `shipgate server` runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database: Location,
    pub listen: SocketAddr,
    /// Use the agent on this control socket instead of `DATA_DIR/agent/control.sock`.
    pub agent_socket: Option<PathBuf>,
    /// The `shipgate` binary, to start an agent with (`shipgate agent`).
    pub program: PathBuf,
    /// How long an instance no deployment owns may run before it is stopped.
    pub orphan_grace: Duration,
    /// Certificate chain and key (PEM) to serve the API over HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Serve plain HTTP on a non-loopback address anyway.
    pub insecure_http: bool,
    /// See [`Executor::step_delay`].
    pub step_delay: Duration,
    /// How often environments are checked for drift (recorded in the ledger when it changes).
    pub drift_interval: Duration,
    /// Where the secrets key comes from (default: `DATA_DIR/secrets.key`, created 0600).
    pub secrets_key: secrets::KeySource,
    /// Secret values are registered here as the server learns them; whoever writes the server's
    /// log passes its lines through it too.
    pub redactor: shipgate_secrets::Redactor,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing to serve the API over plain HTTP on the non-loopback address {0}")]
    PlainHttpOnNetwork(SocketAddr),
    #[error("cannot start an agent with `{program}`: {reason}")]
    AgentStart { program: PathBuf, reason: String },
    #[error("cannot load the TLS certificate: {0}")]
    Tls(String),
    #[error("cannot create `{path}`: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("serving the API failed: {0}")]
    Serve(std::io::Error),
    #[error("another shipgate server already runs on the data directory `{0}`")]
    AlreadyRunning(PathBuf),
    #[error("cannot load the secrets key")]
    SecretsKey(#[from] secrets::KeyError),
}

impl ServerError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ServerError::Bind { .. } => "another process uses that address; pass `--listen` with a free one".into(),
            ServerError::PlainHttpOnNetwork(_) => {
                "pass `--tls-cert` and `--tls-key`, or `--insecure-http` if a trusted proxy terminates TLS".into()
            }
            ServerError::AgentStart { .. } => {
                "see DATA_DIR/agent/agent.log, or run `shipgate agent` yourself and pass `--agent-socket`".into()
            }
            ServerError::Tls(_) => "pass a PEM certificate chain and its PKCS#8, PKCS#1 or SEC1 key".into(),
            ServerError::SecretsKey(error) => return error.0.hint(),
            ServerError::AlreadyRunning(_) => {
                "one server executes an environment's deployments; stop the other one first, or use another `--data-dir`".into()
            }
            _ => return None,
        })
    }
}

/// A server that has started but does not serve yet.
pub struct Server {
    config: Config,
    executor: Executor,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    backend: String,
    agent_state_dir: PathBuf,
    /// Held (flock) while this server runs: two servers executing the same deployments would
    /// fight over the agent.
    _lock: std::fs::File,
    /// The first admin token, when this start created it: shown once, never stored.
    pub admin_token: Option<String>,
}

/// The agent's state directory under the data directory.
pub fn agent_state_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("agent")
}

impl Server {
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        let tls =
            config.tls.as_ref().map(|(cert, key)| tls::acceptor(cert, key)).transpose().map_err(ServerError::Tls)?;
        if tls.is_none() && !config.listen.ip().is_loopback() && !config.insecure_http {
            return Err(ServerError::PlainHttpOnNetwork(config.listen));
        }
        create_private_dir(&config.data_dir)?;
        let lock = lock_data_dir(&config.data_dir)?;
        let database = config.database.clone();
        let key_path = config.data_dir.join(KEY_FILE_NAME);
        let (store, ledger) = tokio::task::spawn_blocking(move || {
            let store = shipgate_store::open(&database)?;
            let ledger = Ledger::open(store.clone(), key_path, LedgerConfig::default())?;
            Ok::<_, ServerError>((store, ledger))
        })
        .await
        .map_err(|error| ServerError::Record(RecordError::Join(error.to_string())))??;
        let backend = store.backend().to_string();
        let mut recorder = Recorder::new(store, Arc::new(ledger));
        let (data_dir, key_source, redactor) =
            (config.data_dir.clone(), config.secrets_key.clone(), config.redactor.clone());
        let vault = tokio::task::spawn_blocking(move || secrets::Vault::open(&data_dir, &key_source, redactor))
            .await
            .map_err(|error| ServerError::Record(RecordError::Join(error.to_string())))??;
        recorder.redactor = vault.redactor.clone();
        let registering = (vault.clone(), recorder.clone());
        let registered = tokio::task::spawn_blocking(move || registering.0.register_stored(&registering.1))
            .await
            .map_err(|error| ServerError::Record(RecordError::Join(error.to_string())))??;
        tracing::info!(values = registered, "secret values registered for redaction");
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind { address: config.listen, source })?;
        let agent_state_dir = match &config.agent_socket {
            Some(socket) => socket.parent().map(Path::to_path_buf).unwrap_or_default(),
            None => agent_state_dir(&config.data_dir),
        };
        let socket = config.agent_socket.clone().unwrap_or_else(|| agent_state_dir.join("control.sock"));
        let agent = AgentClient::new(socket);
        if agent.info().await.is_err() {
            if config.agent_socket.is_some() {
                return Err(ServerError::AgentStart {
                    program: config.program.clone(),
                    reason: format!("no agent answers on `{}`", agent.socket().display()),
                });
            }
            start_agent(&config.program, &agent_state_dir, &agent).await?;
        }
        let token_recorder = recorder.clone();
        let admin_token = tokio::task::spawn_blocking(move || auth::ensure_admin_token(&token_recorder))
            .await
            .map_err(|error| ServerError::Record(RecordError::Join(error.to_string())))??;
        let mut executor = Executor::new(recorder, agent, config.data_dir.clone());
        executor.step_delay = config.step_delay;
        executor.secrets = vault;
        Ok(Server { config, executor, listener, tls, backend, agent_state_dir, _lock: lock, admin_token })
    }

    /// The address the API listens on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// The URL clients use.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr())
    }

    /// The URL instances reach the OFREP endpoints at (`SHIPGATE_FLAGS_URL`): the API's
    /// address, with a loopback address for a wildcard one.
    pub fn flags_url(&self) -> String {
        let mut address = self.local_addr();
        if address.ip().is_unspecified() {
            address.set_ip(if address.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{address}")
    }

    /// Resumes unfinished deployments, reconciles instances, and serves until `shutdown`.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        // Before anything resumes, so the resumed deployments' events notify too.
        notify::start(self.executor.recorder.clone()).await?;
        let unfinished = self
            .executor
            .recorder
            .blocking(|recorder| Ok(recorder.store.read(|reader| reader.unfinished_deployments())?))
            .await?;
        for row in unfinished {
            tracing::info!(deployment = row.id, environment = %row.environment, "resuming deployment {} at step {}", row.id, row.next_step);
            self.executor.spawn(row.id);
        }
        tokio::spawn(reconcile::run(self.executor.clone(), self.config.orphan_grace, Duration::from_secs(2)));
        tokio::spawn(reconcile::watch_drift(self.executor.clone(), self.config.drift_interval));
        // Event and log streams end when the server stops, so a follower cannot hold it open.
        let (stopping_sender, stopping) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            let _ = stopping_sender.send(true);
        };
        let state = Arc::new(api::AppState {
            executor: self.executor.clone(),
            backend: self.backend.clone(),
            agent_logs: shipgate_agent::logs::log_dir(&self.agent_state_dir),
            stopping,
            tls: self.tls.is_some(),
        });
        flags::install(self.flags_url(), self.executor.recorder.clone(), self.executor.secrets.clone());
        let router = api::router(state);
        match self.tls {
            Some(acceptor) => tls::serve(self.listener, acceptor, router, shutdown).await.map_err(ServerError::Serve),
            None => {
                axum::serve(self.listener, router).with_graceful_shutdown(shutdown).await.map_err(ServerError::Serve)
            }
        }
    }
}

/// Takes the data directory's server lock, or says that another server holds it.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, ServerError> {
    let path = data_dir.join("server.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServerError::Create { path: path.clone(), source })?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|_| ServerError::AlreadyRunning(data_dir.to_path_buf()))?;
    Ok(file)
}

fn create_private_dir(path: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| ServerError::Create { path: path.to_path_buf(), source })
}

/// Starts `shipgate agent` as a detached process (its own process group, no terminal, output
/// to `agent.log`), so it outlives this server, and waits until it answers.
async fn start_agent(program: &Path, state_dir: &Path, agent: &AgentClient) -> Result<(), ServerError> {
    use std::os::unix::process::CommandExt;
    create_private_dir(state_dir)?;
    let failed = |reason: String| ServerError::AgentStart { program: program.to_path_buf(), reason };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join("agent.log"))
        .map_err(|error| failed(error.to_string()))?;
    let mut child = std::process::Command::new(program)
        .arg("agent")
        .arg("--state-dir")
        .arg(state_dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|error| failed(error.to_string()))?;
    tracing::info!(pid = child.id(), "started a local agent");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if agent.info().await.is_ok() {
            // Reap it in the background should it exit while this server runs.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failed(format!("it exited with {status}")));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(failed("it did not answer within 15 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
