//! The built-in provider: the agent's own per-version request metrics.

use super::{Provider, ProviderError, Query, Reading};
use crate::{Counts, Error};

/// The agent's `GET /v1/metrics` answer (a JSON array of per-version snapshots), for one
/// service. The caller fetches it (the server speaks to the agent); this reads it.
#[derive(Debug, Clone)]
pub struct AgentMetrics {
    service: String,
    versions: Vec<(String, Counts)>,
}

impl AgentMetrics {
    /// Reads the snapshots of `service` from the agent's answer.
    pub fn from_json(answer: &serde_json::Value, service: &str) -> Result<AgentMetrics, Error> {
        let snapshots =
            answer.as_array().ok_or_else(|| Error::Snapshot("the agent's metrics are not a JSON array".to_owned()))?;
        let mut versions = Vec::new();
        for snapshot in snapshots {
            let field = |name: &str| snapshot.get(name).and_then(|value| value.as_str());
            if field("service") != Some(service) {
                continue;
            }
            let version = field("version").ok_or_else(|| Error::Snapshot("a snapshot has no `version`".to_owned()))?;
            versions.push((version.to_owned(), Counts::from_agent_snapshot(snapshot)?));
        }
        Ok(AgentMetrics { service: service.to_owned(), versions })
    }

    /// The cumulative counts of `version`, if the agent has any.
    pub fn counts(&self, version: &str) -> Option<&Counts> {
        self.versions.iter().find(|(name, _)| name == version).map(|(_, counts)| counts)
    }
}

impl Provider for AgentMetrics {
    /// The new version's counts since the agent started; `value` is its error rate so far.
    fn read(&self, query: &Query<'_>) -> Result<Reading, ProviderError> {
        let counts = self.counts(query.version).ok_or_else(|| ProviderError::NoVersion {
            service: self.service.clone(),
            version: query.version.to_owned(),
        })?;
        Ok(Reading {
            value: (counts.requests > 0).then(|| counts.errors as f64 / counts.requests as f64),
            ok: None,
            detail: format!(
                "agent: service `{}` version `{}`: {} requests, {} errors",
                self.service, query.version, counts.requests, counts.errors
            ),
            counts: Some(counts.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::Ordering;

    use shipgate_agent::metrics::VersionMetrics;

    use super::*;
    use crate::Histogram;

    /// The agent's own snapshot type, serialized as its API does, reads back as the same
    /// counts and the same histogram layout.
    #[test]
    fn reads_the_agents_snapshots() {
        let metrics = VersionMetrics::default();
        for (status, micros) in [(200, 1_500), (200, 20_000), (503, 900), (404, 123_456), (200, 20_001)] {
            metrics.requests.fetch_add(1, Ordering::Relaxed);
            metrics.response(status, micros);
        }
        let other = VersionMetrics::default();
        other.response(200, 1);
        let answer = serde_json::to_value([
            metrics.snapshot("hello-production", "v2"),
            other.snapshot("hello-production", "v1"),
            other.snapshot("elsewhere", "v2"),
        ])
        .unwrap();
        let agent = AgentMetrics::from_json(&answer, "hello-production").unwrap();
        let counts = agent.counts("v2").unwrap();
        assert_eq!((counts.requests, counts.errors), (5, 1));
        assert_eq!(counts.latency, Histogram::of_values([1_500, 20_000, 900, 123_456, 20_001]));
        assert_eq!(agent.counts("v1").map(|counts| counts.requests), Some(1));
        let query = Query { app: "hello", environment: "production", version: "v2", at: jiff::Timestamp::UNIX_EPOCH };
        let reading = agent.read(&query).unwrap();
        assert_eq!(reading.value, Some(0.2));
        assert!(reading.detail.contains("5 requests, 1 errors"));
        let missing = Query { version: "v9", ..query };
        assert!(matches!(agent.read(&missing), Err(ProviderError::NoVersion { .. })));
        assert!(AgentMetrics::from_json(&serde_json::json!({}), "x").is_err());
    }
}
