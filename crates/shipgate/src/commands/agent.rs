//! `shipgate agent`: run the data plane (glue over `shipgate-agent`), and `shipgate agent logs`.

use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::env_vars;
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: Option<AgentCommand>,

    /// Desired state, instance logs and the default sockets (created with mode 0700).
    #[arg(long, global = true, env = env_vars::SHIPGATE_AGENT_STATE_DIR, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The control socket (mode 0600) [default: DIR/control.sock].
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,

    /// Serve Prometheus metrics on `http://ADDR/metrics`.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Also serve the control API on TCP; needs --control-token-file.
    #[arg(long, value_name = "ADDR", requires = "control_token_file")]
    pub control_listen: Option<SocketAddr>,

    /// A file holding the bearer token that TCP control requests must carry.
    #[arg(long, value_name = "FILE", requires = "control_listen")]
    pub control_token_file: Option<PathBuf>,

    /// Ports handed to instances as `PORT`, e.g. `20000-29999`.
    #[arg(long, value_name = "LOW-HIGH", default_value = "20000-29999", value_parser = parse_range)]
    pub port_range: (u16, u16),

    /// Take over from the agent whose upgrade socket is PATH (usually DIR/upgrade.sock): receive
    /// its listening sockets, re-adopt its instances; it drains and exits. No request fails.
    #[arg(long, value_name = "PATH")]
    pub upgrade_from: Option<PathBuf>,

    /// On SIGTERM/SIGINT, also drain and stop every instance (by default they keep running and
    /// the next agent re-adopts them).
    #[arg(long)]
    pub stop_instances_on_exit: bool,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Print an instance's log (stdout and stderr), or follow it with `-f`.
    Logs {
        /// The instance id, as `GET /v1/instances` shows it.
        id: String,
        /// Keep printing what the instance writes, across rotations, until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let (low, high) = text.split_once('-').ok_or("expected `LOW-HIGH`, such as `20000-29999`")?;
    let low: u16 = low.trim().parse().map_err(|e| format!("`{low}`: {e}"))?;
    let high: u16 = high.trim().parse().map_err(|e| format!("`{high}`: {e}"))?;
    if low == 0 || low > high {
        return Err(format!("`{text}` is empty or starts at 0"));
    }
    Ok((low, high))
}

pub fn run(args: AgentArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let Some(state_dir) = args.state_dir.clone() else {
        return Err(Failure::usage(anyhow::anyhow!("the agent needs a state directory"))
            .hint(format!("pass `--state-dir DIR` or set `{}`", env_vars::SHIPGATE_AGENT_STATE_DIR)));
    };
    match args.command {
        Some(AgentCommand::Logs { id, follow }) => logs(&state_dir, &id, follow, out),
        None => serve(args, state_dir, out),
    }
}

fn serve(args: AgentArgs, state_dir: PathBuf, out: &Output) -> Result<ExitStatus, Failure> {
    init_tracing(out);
    let mut config = shipgate_agent::Config::new(state_dir);
    config.control_socket = args.control_socket;
    config.metrics_listen = args.metrics_listen;
    config.port_range = args.port_range;
    config.upgrade_from = args.upgrade_from;
    config.notify_socket = std::env::var(env_vars::NOTIFY_SOCKET).ok().filter(|socket| !socket.is_empty());
    if let (Some(addr), Some(file)) = (args.control_listen, &args.control_token_file) {
        let token = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the control token file `{}`", file.display()))
            .map_err(Failure::usage)?;
        let token = token.trim().to_owned();
        if token.len() < 16 {
            return Err(Failure::usage(anyhow::anyhow!("the control token in `{}` is too short", file.display()))
                .hint("use at least 16 random characters, e.g. `openssl rand -hex 32`"));
        }
        config.control_listen = Some((addr, token));
    }
    // Confined to one CPU (taskset, a cpuset), work stealing has no other worker to steal from and
    // only adds cross-thread hand-offs: a current-thread runtime serves the same load with less
    // CPU per request.
    let mut runtime = if std::thread::available_parallelism().is_ok_and(|cpus| cpus.get() == 1) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = runtime.enable_all().build().context("cannot start the async runtime").map_err(Failure::internal)?;
    runtime.block_on(async move {
        let agent = shipgate_agent::Agent::start(config).await.map_err(|error| {
            let hint = match &error {
                shipgate_agent::Error::Conflict(_) => {
                    "stop the other agent, or use `--upgrade-from` to take over from it"
                }
                shipgate_agent::Error::Upgrade(_) => "check that the running agent's upgrade socket path is right",
                _ => "check the state directory and the addresses given",
            };
            Failure::usage(error).hint(hint)
        })?;
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot handle SIGTERM")
            .map_err(Failure::internal)?;
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .context("cannot handle SIGINT")
            .map_err(Failure::internal)?;
        tokio::select! {
            () = agent.handed_over() => return Ok(ExitStatus::Success),
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!(stop_instances = args.stop_instances_on_exit, "stopping");
        agent.shutdown(args.stop_instances_on_exit, Duration::from_secs(30)).await;
        Ok(ExitStatus::Success)
    })
}

pub(crate) fn init_tracing(out: &Output) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env_vars::SHIPGATE_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(out.color())
        .try_init();
}

fn logs(state_dir: &Path, id: &str, follow: bool, out: &Output) -> Result<ExitStatus, Failure> {
    let path = shipgate_agent::logs::log_path(state_dir, id);
    let mut file = std::fs::File::open(&path)
        .with_context(|| format!("no log for instance `{id}` at `{}`", path.display()))
        .map_err(|e| Failure::usage(e).hint("list instances with `GET /v1/instances` on the control socket"))?;
    let mut offset = 0u64;
    loop {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < offset {
            // Rotated (truncated in place): start again from the top.
            offset = 0;
        }
        if len > offset {
            file.seek(SeekFrom::Start(offset)).context("cannot read the log").map_err(Failure::internal)?;
            let mut chunk = Vec::with_capacity((len - offset) as usize);
            (&mut file)
                .take(len - offset)
                .read_to_end(&mut chunk)
                .context("cannot read the log")
                .map_err(Failure::internal)?;
            offset += chunk.len() as u64;
            out.data(&String::from_utf8_lossy(&chunk))?;
        }
        if !follow {
            return Ok(ExitStatus::Success);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
