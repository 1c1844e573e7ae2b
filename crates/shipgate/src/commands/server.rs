//! `shipgate server`: the control plane (glue over `shipgate-server`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use shipgate_server::{Config, Server, ServerError};

use super::audit::{StoreArgs, data_dir, location};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Where the API listens. A non-loopback address needs `--tls-cert`/`--tls-key` (or
    /// `--insecure-http`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7300")]
    pub listen: SocketAddr,

    /// Use the agent on this control socket. Default: `DATA_DIR/agent/control.sock`; when no
    /// agent answers there, the server starts one (`shipgate agent --state-dir DATA_DIR/agent`)
    /// as a detached process that keeps serving traffic when the server stops.
    #[arg(long, value_name = "PATH")]
    pub agent_socket: Option<PathBuf>,

    /// How long an instance that no deployment owns may run before it is stopped (e.g. `30s`).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub orphan_grace: Duration,

    /// How often each environment is checked for drift (instances, versions, weights, foreign
    /// processes on its port); changes are recorded in the audit ledger.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub drift_interval: Duration,

    /// Serve the API over HTTPS with this PEM certificate chain (needs `--tls-key`).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Allow plain HTTP on a non-loopback address (behind a proxy that terminates TLS).
    #[arg(long)]
    pub insecure_http: bool,

    /// Read the secrets key (an age X25519 identity, as `age-keygen` writes it; mode 0600) from
    /// this file. Default: `DATA_DIR/secrets.key`, created at first start. Keep a copy: without
    /// it the stored secrets cannot be decrypted.
    #[arg(long, value_name = "FILE", conflicts_with = "secrets_key_command")]
    pub secrets_key_file: Option<PathBuf>,

    /// Run this command (`sh -c`, 10 s timeout) at start and read the secrets key from its
    /// output, e.g. `op read op://ops/shipgate/secrets-key`.
    #[arg(long, value_name = "CMD")]
    pub secrets_key_command: Option<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    shipgate_spec::values::Duration::parse(text).map(|duration| duration.as_std()).map_err(|invalid| invalid.message)
}

pub fn run(args: ServerArgs, out: &Output) -> Result<ExitStatus, Failure> {
    // The server's log passes the secrets redactor: a value that reaches a log line is shown
    // as `[secret:NAME]`.
    let redactor = shipgate_secrets::Redactor::new();
    init_redacted_tracing(out, redactor.clone());
    let dir = data_dir(&args.store)?;
    let config = Config {
        database: location(&args.store, &dir)?,
        data_dir: dir,
        listen: args.listen,
        agent_socket: args.agent_socket,
        program: std::env::current_exe().context("cannot find the shipgate binary").map_err(Failure::internal)?,
        orphan_grace: args.orphan_grace,
        tls: args.tls_cert.zip(args.tls_key),
        insecure_http: args.insecure_http,
        drift_interval: args.drift_interval.max(Duration::from_millis(100)),
        secrets_key: match (args.secrets_key_file, args.secrets_key_command) {
            (Some(file), _) => shipgate_server::secrets::KeySource::File(file),
            (None, Some(command)) => shipgate_server::secrets::KeySource::Command(command),
            (None, None) => shipgate_server::secrets::KeySource::DataDir,
        },
        redactor: redactor.clone(),
        step_delay: std::env::var(crate::env_vars::SHIPGATE_STEP_DELAY_MS)
            .ok()
            .and_then(|millis| millis.parse().ok())
            .map_or(Duration::ZERO, Duration::from_millis),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::internal)?;
    runtime.block_on(async move {
        let server = Server::start(config).await.map_err(server_failure)?;
        let url = server.url();
        if let Some(token) = &server.admin_token {
            let saved = crate::credentials::save_token(&url, token)
                .map(|path| format!("saved for this user in {}", path.display()))
                .unwrap_or_else(|error| format!("could not save it for this user: {error:#}"));
            out.data(&format!("admin token (shown once, {saved}):\n{token}\n"))?;
        }
        tracing::info!("serving the API on {url}");
        server.serve(shutdown_signal()).await.map_err(server_failure)?;
        Ok(ExitStatus::Success)
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut terminate), Ok(mut interrupt)) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

fn server_failure(error: ServerError) -> Failure {
    let hint = error.hint();
    let status = match error {
        ServerError::Bind { .. }
        | ServerError::PlainHttpOnNetwork(_)
        | ServerError::Tls(_)
        | ServerError::AlreadyRunning(_)
        | ServerError::SecretsKey(_) => ExitStatus::Usage,
        _ => ExitStatus::Internal,
    };
    let failure = Failure { status, error: anyhow!(error), hint: None };
    match hint {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}

/// Like the agent's tracing setup, with every line written through `redactor`.
fn init_redacted_tracing(out: &Output, redactor: shipgate_secrets::Redactor) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(crate::env_vars::SHIPGATE_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || RedactingWriter { redactor: redactor.clone(), inner: std::io::stderr() })
        .with_ansi(out.color())
        .try_init();
}

/// Standard error through the redactor. tracing writes each event with one `write_all`, so a
/// value never straddles two writes.
struct RedactingWriter {
    redactor: shipgate_secrets::Redactor,
    inner: std::io::Stderr,
}

impl std::io::Write for RedactingWriter {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.inner.write_all(&self.redactor.redact_bytes(buffer))?;
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
