//! The shapes of the control API (JSON over HTTP on the control socket), documented in README.md.
//!
//! These are the agent's own types: the control plane translates `shipgate.toml` into them. Every
//! duration is an integer number of milliseconds (`*_ms`), so the API has one unambiguous unit.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One service: where it listens, which requests are its own, how traffic splits between its
/// versions, how its instances are probed, restarted and drained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The address of the listener; several services may share one, told apart by `hosts`.
    pub listen: SocketAddr,
    /// Host names (without port) this service answers for; empty: any host not claimed by another
    /// service on the same listener.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Only requests whose path starts with this prefix (the longest matching prefix wins).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// The versions and their weights. A version without healthy instances takes no traffic; its
    /// share goes to the others.
    #[serde(default)]
    pub versions: Vec<VersionRoute>,
    /// Keep a client on the version it first got (cookie `shipgate-sticky`) while that version
    /// still takes traffic.
    #[serde(default)]
    pub sticky: bool,
    #[serde(default)]
    pub health: HealthSpec,
    #[serde(default)]
    pub restart: RestartSpec,
    #[serde(default)]
    pub limits: Limits,
    /// How long removed instances may finish in-flight requests and open WebSockets.
    #[serde(default = "defaults::drain_ms")]
    pub drain_ms: u64,
    /// Between SIGTERM (or the runtime's equivalent) and SIGKILL.
    #[serde(default = "defaults::stop_grace_ms")]
    pub stop_grace_ms: u64,
    /// Terminate TLS on `listen`. Every service on a TLS listener must have `tls`; the listener
    /// serves the certificates of all of them, chosen by SNI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// PEM files; reloaded without a restart when they change.
    pub certificates: Vec<CertificateFiles>,
    /// Also listen here for plain HTTP and answer every request with a 308 to `https://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_http_from: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRoute {
    pub name: String,
    /// Relative weight; 0 takes no weighted traffic.
    #[serde(default)]
    pub weight: u32,
    /// Requests with `x-shipgate-version: NAME` or cookie `shipgate-version=NAME` reach this
    /// version even at weight 0 (smoke tests before it takes traffic).
    #[serde(default)]
    pub pinnable: bool,
}

/// Active health probe of each instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    #[serde(default)]
    pub probe: Probe,
    #[serde(default = "defaults::interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "defaults::probe_timeout_ms")]
    pub timeout_ms: u64,
    /// Consecutive successes before an instance takes traffic.
    #[serde(default = "defaults::healthy")]
    pub healthy: u32,
    /// Consecutive failures before it stops taking traffic.
    #[serde(default = "defaults::unhealthy")]
    pub unhealthy: u32,
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec {
            probe: Probe::default(),
            interval_ms: defaults::interval_ms(),
            timeout_ms: defaults::probe_timeout_ms(),
            healthy: defaults::healthy(),
            unhealthy: defaults::unhealthy(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Probe {
    /// `GET PATH` on the instance; any 2xx is healthy.
    Http { path: String },
    /// A TCP connect to the instance's port.
    #[default]
    Tcp,
    /// Run a command in the artifact directory (with `PORT` set); exit 0 is healthy.
    Exec { command: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartSpec {
    /// First wait before restarting an instance that exited; doubles each time.
    #[serde(default = "defaults::backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// This many restarts within `crashloop_window_ms` mark the instance `crashloop`: it is not
    /// restarted again and takes no traffic.
    #[serde(default = "defaults::crashloop_restarts")]
    pub crashloop_restarts: u32,
    #[serde(default = "defaults::crashloop_window_ms")]
    pub crashloop_window_ms: u64,
}

impl Default for RestartSpec {
    fn default() -> Self {
        RestartSpec {
            backoff_initial_ms: defaults::backoff_initial_ms(),
            backoff_max_ms: defaults::backoff_max_ms(),
            crashloop_restarts: defaults::crashloop_restarts(),
            crashloop_window_ms: defaults::crashloop_window_ms(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Request bodies larger than this are refused with 413.
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: u64,
    /// From sending the request to receiving the response head; over it: 504.
    #[serde(default = "defaults::response_header_timeout_ms")]
    pub response_header_timeout_ms: u64,
    /// Consecutive connect failures after which an instance is ejected for `eject_ms`.
    #[serde(default = "defaults::eject_after")]
    pub eject_after: u32,
    #[serde(default = "defaults::eject_ms")]
    pub eject_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: defaults::max_body_bytes(),
            response_header_timeout_ms: defaults::response_header_timeout_ms(),
            eject_after: defaults::eject_after(),
            eject_ms: defaults::eject_ms(),
        }
    }
}

/// A request to start one instance of a service's version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    /// Chosen by the agent when absent (`SERVICE-VERSION-N`).
    #[serde(default)]
    pub id: Option<String>,
    pub service: String,
    pub version: String,
    /// The working directory of the instance.
    pub artifact_dir: PathBuf,
    /// Program and arguments; `${PORT}` in an argument is replaced by the port.
    pub command: Vec<String>,
    /// The instance's whole environment, with `PATH`, `LANG` and `PORT` added by the agent.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secrets delivered as files, by name: written before each start to a private directory on
    /// tmpfs (0700; files 0400), with `NAME_FILE=PATH` added to `env`; removed with the instance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_files: BTreeMap<String, String>,
    /// When set, the agent digests the stored artifact and verifies the release signature
    /// before every start of the instance (restarts included), and refuses to start it when
    /// either check fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<ArtifactCheck>,
}

/// What an instance's artifact must be: the stored copy at `path` has digest `digest`, and
/// `signature` (minisign text) verifies over that digest with one of `trusted_keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactCheck {
    /// The release's stored artifact (file, directory or archive) in the content-addressed store.
    pub path: PathBuf,
    /// `sha256:<hex>`, as recorded with the release.
    pub digest: String,
    /// The release's `.minisig` text.
    pub signature: String,
    /// Minisign public keys in the one-line form.
    pub trusted_keys: Vec<String>,
    /// For an archive: the directory it was unpacked to, where the instance runs. Its tree must
    /// be exactly what the verified archive unpacks to (compared by directory digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpacked: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Running, not yet healthy: takes no traffic.
    Starting,
    Healthy,
    /// Was healthy, now fails its probe: takes no traffic.
    Unhealthy,
    /// Exited; waits for its backoff before the next start.
    Backoff,
    /// Restarted too often: left stopped, takes no traffic, until stopped and started again.
    Crashloop,
    /// Removed: takes no new requests, finishes the ones in flight.
    Draining,
    Stopped,
}

/// What the agent reports about an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub id: String,
    pub service: String,
    pub version: String,
    pub port: u16,
    pub state: InstanceState,
    /// Runtime-specific identity (for processes: `pid` and `start_time`).
    pub workload: Option<serde_json::Value>,
    pub restarts: u32,
    pub last_exit: Option<String>,
    pub in_flight: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub spec: ServiceSpec,
    pub instances: Vec<InstanceStatus>,
}

/// An error answer of the control API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
    #[serde(default)]
    pub hint: Option<String>,
}

pub mod defaults {
    pub fn drain_ms() -> u64 {
        30_000
    }
    pub fn stop_grace_ms() -> u64 {
        10_000
    }
    pub fn interval_ms() -> u64 {
        1_000
    }
    pub fn probe_timeout_ms() -> u64 {
        2_000
    }
    pub fn healthy() -> u32 {
        1
    }
    pub fn unhealthy() -> u32 {
        3
    }
    pub fn backoff_initial_ms() -> u64 {
        200
    }
    pub fn backoff_max_ms() -> u64 {
        30_000
    }
    pub fn crashloop_restarts() -> u32 {
        5
    }
    pub fn crashloop_window_ms() -> u64 {
        60_000
    }
    pub fn max_body_bytes() -> u64 {
        100 * 1024 * 1024
    }
    pub fn response_header_timeout_ms() -> u64 {
        60_000
    }
    pub fn eject_after() -> u32 {
        3
    }
    pub fn eject_ms() -> u64 {
        10_000
    }
}
