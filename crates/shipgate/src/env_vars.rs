//! Every environment variable shipgate reads, declared once with its meaning.

/// When set to anything but the empty string, no colour is used (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// The `shipgate.toml` to use when `--file` is not given.
pub const SHIPGATE_FILE: &str = "SHIPGATE_FILE";

/// The agent's state directory when `shipgate agent --state-dir` is not given.
pub const SHIPGATE_AGENT_STATE_DIR: &str = "SHIPGATE_AGENT_STATE_DIR";

/// Log filter of long-running commands (`shipgate agent`), in `tracing` `EnvFilter` syntax;
/// default `info`.
pub const SHIPGATE_LOG: &str = "SHIPGATE_LOG";

/// Set by systemd for `Type=notify` services: the agent sends `READY=1` there once it serves.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
