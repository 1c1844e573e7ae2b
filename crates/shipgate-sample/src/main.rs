//! `shipgate-sample`: a small HTTP service whose behaviour is set by
//! environment variables, for shipgate's tests, benchmarks and demo.
//! See README.md for the endpoints, variables and exit codes.

mod app;
mod config;
mod delay;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::app::CrashCounter;
use crate::config::Config;

/// `SAMPLE_CRASH_AFTER` was reached, or the server could not start.
const EXIT_FAILURE: u8 = 1;
/// An environment variable is missing or invalid.
const EXIT_USAGE: u8 = 2;

/// How long a crash waits for the last response to leave the process.
const CRASH_FLUSH: Duration = Duration::from_millis(50);

fn main() -> ExitCode {
    let started = Instant::now();
    let config = match Config::from_env(|var| std::env::var_os(var).map(|value| value.to_string_lossy().into_owned())) {
        Ok(config) => config,
        Err(errors) => {
            for error in errors {
                eprintln!("error: {error}");
                eprintln!("hint: {}", error.hint());
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    warn_unknown_vars();
    if config.crash_after == Some(0) {
        eprintln!("error: crashing at start, as `{}=0` asks", config::SAMPLE_CRASH_AFTER);
        return ExitCode::from(EXIT_FAILURE);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime\ncaused by: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    runtime.block_on(serve(config, started))
}

fn warn_unknown_vars() {
    let names: Vec<String> = std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()).collect();
    let unknown = config::unknown_vars(names.iter().map(String::as_str));
    for name in &unknown {
        eprintln!("warning: ignoring unknown variable `{name}`");
    }
    if !unknown.is_empty() {
        eprintln!("hint: known variables are `{}`", config::ALL.join("`, `"));
    }
}

async fn serve(config: Config, started: Instant) -> ExitCode {
    // Before listening, so a SIGTERM sent as soon as the port accepts
    // still shuts down gracefully instead of killing the process.
    let (mut terminate, mut interrupt) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("error: cannot install signal handlers\ncaused by: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let listener = match TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on `{}`\ncaused by: {error}", config.listen);
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let addr = listener.local_addr().unwrap_or(config.listen);
    let crash = config.crash_after.map(CrashCounter::new);
    let router = app::router(&config, started, crash.clone());
    eprintln!("shipgate-sample v{} listening on {addr}", config.version);

    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        eprintln!("shipgate-sample: shutting down, finishing in-flight requests");
    };
    let listener = listener.tap_io(|tcp| {
        // Small responses: send them now rather than wait to coalesce.
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, router).with_graceful_shutdown(shutdown);
    let crashed = async {
        match &crash {
            Some(crash) => crash.crashed.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = server => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: the server stopped\ncaused by: {error}");
                ExitCode::from(EXIT_FAILURE)
            }
        },
        () = crashed => {
            tokio::time::sleep(CRASH_FLUSH).await;
            eprintln!(
                "error: crashing after {} requests, as `{}` asks",
                config.crash_after.unwrap_or_default(),
                config::SAMPLE_CRASH_AFTER
            );
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
