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

/// shipgate's data directory (SQLite database, ledger key) when `--data-dir` is not given.
pub const SHIPGATE_DATA_DIR: &str = "SHIPGATE_DATA_DIR";

/// The database URL (`sqlite:///path` or `postgres://…`) when `--database` is not given.
pub const SHIPGATE_DATABASE: &str = "SHIPGATE_DATABASE";

/// XDG base directory for user data; the default data directory is `$XDG_DATA_HOME/shipgate`.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";

/// The user's home; without `XDG_DATA_HOME` the data directory is `~/.local/share/shipgate`.
pub const HOME: &str = "HOME";

/// Who runs the command: the actor recorded by `shipgate audit rotate-key` without `--actor`.
pub const USER: &str = "USER";

/// Milliseconds `shipgate server` waits after recording the start of each deployment step
/// (default 0). For tests and demonstrations: it makes every step observable and
/// interruptible; never set it in production.
pub const SHIPGATE_STEP_DELAY_MS: &str = "SHIPGATE_STEP_DELAY_MS";

/// The API token the CLI sends to the server; wins over the credentials file.
pub const SHIPGATE_TOKEN: &str = "SHIPGATE_TOKEN";

/// The credentials file (server URL → token) the CLI reads and `shipgate server` writes at its
/// first start. Default: `$XDG_CONFIG_HOME/shipgate/credentials.json`, else
/// `~/.config/shipgate/credentials.json`.
pub const SHIPGATE_CREDENTIALS: &str = "SHIPGATE_CREDENTIALS";

/// XDG base directory for user configuration (the credentials file).
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";

/// The shipgate server the CLI talks to when `--server` is not given; default
/// `http://127.0.0.1:7300`.
pub const SHIPGATE_SERVER: &str = "SHIPGATE_SERVER";

/// The secret key `shipgate release create --sign` signs with, when `--sign` is not given.
pub const SHIPGATE_SIGNING_KEY: &str = "SHIPGATE_SIGNING_KEY";

/// The password of an encrypted secret key (`keys generate` encrypts with it, `release create
/// --sign` decrypts with it). Prefer `--password-file` where the environment is visible to others.
pub const SHIPGATE_KEY_PASSWORD: &str = "SHIPGATE_KEY_PASSWORD";
