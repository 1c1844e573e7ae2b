//! Metric providers: the I/O edge of the analysis, one trait for every source.
//!
//! - [`AgentMetrics`]: the agent's per-version counters and latency histograms (the caller
//!   fetches the agent's `GET /v1/metrics` answer; this reads it);
//! - [`Prometheus`]: instant and range queries over Prometheus's HTTP API;
//! - [`Web`]: an HTTP GET returning JSON, a JSON Pointer and a success condition;
//! - [`Command`]: a command's exit status, with its output kept as evidence.
//!
//! Reads block (network or a child process, each bounded by a timeout): from async code,
//! call [`Provider::read`] inside `tokio::task::spawn_blocking`.

mod builtin;
mod command;
mod prometheus;
mod web;

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use shipgate_spec::{Analysis, Metric, MetricSource};

pub use builtin::AgentMetrics;
pub use command::Command;
pub use prometheus::{Prometheus, Sample, Series};
pub use web::Web;

use crate::Counts;

/// How long one read may take before it counts as no data.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this much of a command's output or a web answer is kept as evidence.
pub const MAX_DETAIL_BYTES: usize = 4096;

/// What a provider read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// A number, when the source gives one: a PromQL result, a selected JSON number, the last
    /// line of a command's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// A verdict, when the source gives one: a web check's `success` condition, a command's
    /// exit status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// What was asked and answered, kept as evidence (query, selected JSON, output; at most
    /// [`MAX_DETAIL_BYTES`]).
    pub detail: String,
    /// The version's cumulative counts ([`AgentMetrics`] only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
}

/// What a reading is about; fills the `{{app}}`, `{{env}}` and `{{version}}` placeholders.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub app: &'a str,
    pub environment: &'a str,
    /// The new version's label.
    pub version: &'a str,
    pub at: Timestamp,
}

/// Why a provider has no reading. Never a failure of the new version: the judge records it
/// and counts the metric as without data.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("`{url}` did not answer: {source}")]
    Http {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("`{url}` answered with status {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("`{url}` answered with something that is not what was expected: {why}")]
    Answer { url: String, why: String },
    #[error("Prometheus refused the query `{query}`: {message}")]
    Prometheus { query: String, message: String },
    #[error(
        "the query `{query}` returned {series} series; it must return one number (aggregate it, e.g. with `sum(...)`)"
    )]
    NotOneNumber { query: String, series: usize },
    #[error("the query `{query}` returned no data")]
    NoData { query: String },
    #[error("could not run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` did not finish within {seconds:.0}s and was killed")]
    Timeout { program: String, seconds: f64 },
    #[error("the agent's metrics have no version `{version}` of service `{service}`")]
    NoVersion { service: String, version: String },
    #[error(transparent)]
    Snapshot(#[from] crate::Error),
}

/// A source of readings.
pub trait Provider: Send + Sync {
    /// Reads the metric now. Blocks for at most the provider's timeout.
    fn read(&self, query: &Query<'_>) -> Result<Reading, ProviderError>;
}

/// Replaces `{{app}}`, `{{env}}` and `{{version}}` (spaces inside the braces allowed).
pub fn render_template(text: &str, query: &Query<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        match after[..close].trim() {
            "app" => out.push_str(query.app),
            "env" => out.push_str(query.environment),
            "version" => out.push_str(query.version),
            _ => out.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// The provider for one `[[environments.NAME.analysis.metrics]]` entry.
pub fn provider_for(metric: &Metric, analysis: &Analysis, timeout: Duration) -> Box<dyn Provider> {
    match &metric.source {
        MetricSource::Prometheus(query) => Box::new(Prometheus::new(
            analysis.prometheus_url.as_deref().unwrap_or("http://127.0.0.1:9090"),
            query,
            timeout,
        )),
        MetricSource::Web(web) => Box::new(Web::new(&web.url, &web.select, web.success.clone(), timeout)),
        MetricSource::Command(argv) => {
            Box::new(Command::new(argv.clone(), metric.min.is_some() || metric.max.is_some(), timeout))
        }
    }
}

/// Cuts `text` to at most [`MAX_DETAIL_BYTES`] on a character boundary, saying so.
pub(crate) fn truncate_detail(text: &str) -> String {
    if text.len() <= MAX_DETAIL_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_DETAIL_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

pub(crate) fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// GETs `url` with `query` pairs and returns the body of a 2xx answer.
pub(crate) fn get_text(
    agent: &ureq::Agent,
    url: &str,
    query: &[(&str, String)],
) -> Result<(u16, String), ProviderError> {
    let mut request = agent.get(url).header("accept", "application/json");
    for (key, value) in query {
        request = request.query(*key, value);
    }
    let mut response =
        request.call().map_err(|source| ProviderError::Http { url: url.to_owned(), source: Box::new(source) })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_string()
        .map_err(|source| ProviderError::Http { url: url.to_owned(), source: Box::new(source) })?;
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_known_placeholders_only() {
        let query = Query { app: "hello", environment: "production", version: "v2", at: Timestamp::UNIX_EPOCH };
        assert_eq!(
            render_template("x{app=\"{{app}}\",env=\"{{ env }}\",version=\"{{version}}\"}", &query),
            "x{app=\"hello\",env=\"production\",version=\"v2\"}"
        );
        assert_eq!(render_template("{{other}} {{app", &query), "{{other}} {{app");
        assert_eq!(render_template("plain", &query), "plain");
    }

    #[test]
    fn details_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_DETAIL_BYTES);
        let cut = truncate_detail(&long);
        assert!(cut.len() < long.len() && cut.ends_with("bytes in all)"));
        assert_eq!(truncate_detail("short"), "short");
    }
}
