//! Automated analysis of a new version while it holds a share of traffic.
//!
//! - [`evalue`]: the statistics, pure: e-processes for proportions that are valid at every
//!   look (the false-positive rate holds however often and whenever the judge looks).
//! - [`Judge`]: one hold's verdict (`fail` at the first look with enough evidence, `pass` or
//!   `inconclusive` at the end), fed with cumulative per-version [`Counts`], with its
//!   [`Evidence`] for the deployment record and the ledger.
//! - [`providers`]: the I/O edge: the agent's metrics, Prometheus, web and command checks.
//! - [`mod@simulate`]: a Monte Carlo harness comparing the judge with a fixed-interval rule
//!   like Flagger's on synthetic traffic.
//!
//! Nothing here reads a clock: time arrives as arguments. The crate README derives the
//! method and states its assumptions.

#![forbid(unsafe_code)]

mod config;
mod counts;
pub mod evalue;
mod judge;
pub mod providers;
pub mod simulate;

pub use config::{Config, LatencyLimit, MetricRule, MinEffect};
pub use counts::{Counts, Histogram, bucket_lower_bound};
pub use evalue::Tally;
pub use judge::{CheckEvidence, Evidence, Hold, Judge, Look, MetricReading, Reference, Status, Verdict};
pub use providers::{Provider, ProviderError, Query, Reading};
pub use simulate::{Scenario, SimulationReport, simulate};

/// Errors of the analysis crate outside the providers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the agent's metrics snapshot cannot be read: {0}")]
    Snapshot(String),
}
