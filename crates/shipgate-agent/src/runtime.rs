//! How an instance runs. The rest of the agent sees only [`Runtime`] and [`Workload`]; everything
//! that knows an instance is a Unix process (pids, process groups, signals, `/proc`) lives in
//! [`process`]. A container runtime would be a second implementation of the same two traits.

use std::path::Path;

use crate::api::InstanceSpec;
use crate::error::Error;

pub mod process;

/// Starts workloads, and finds ones that an earlier agent started.
pub trait Runtime: Send + Sync + 'static {
    /// Start `spec` listening on `port`, its output appended to `log`.
    fn start(&self, spec: &InstanceSpec, port: u16, log: &Path) -> Result<Box<dyn Workload>, Error>;

    /// Take over a workload from its [`Workload::record`], if it is still the same one running.
    fn adopt(&self, record: &serde_json::Value) -> Option<Box<dyn Workload>>;
}

/// One running copy of an instance.
pub trait Workload: Send + Sync {
    /// What identifies this workload across agent restarts; persisted in the state file.
    fn record(&self) -> serde_json::Value;

    /// `Some(description)` once the workload has ended. Called periodically; must not block.
    fn poll_exit(&mut self) -> Option<String>;

    /// Ask it to stop (finish in-flight work, then exit).
    fn terminate(&self);

    /// Stop it now.
    fn kill(&self);
}
