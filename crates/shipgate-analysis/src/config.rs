//! What the judge checks and how sure it must be: the analysis section of `shipgate.toml`
//! in the judge's terms.

use serde::{Deserialize, Serialize};
use shipgate_spec::{Analysis, Compare};

/// The judge's settings. [`Config::from_spec`] reads them from `shipgate.toml`; the defaults
/// are those of an empty `[environments.NAME.analysis]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The largest chance, per hold, of failing a new version that is as good as the stable
    /// one and within every limit. Split evenly between the statistical checks.
    pub false_positive_rate: f64,
    pub min_effect: MinEffect,
    /// Compare the new version with the stable one (or, in a bake, with a baseline).
    pub compare: bool,
    /// The largest error rate of the new version.
    pub error_rate_max: Option<f64>,
    /// Latency limits: at least `quantile` of requests faster than `max_us`.
    pub latency_max: Vec<LatencyLimit>,
    /// Outside metrics and the range each must stay in.
    pub metrics: Vec<MetricRule>,
    /// A hold passes once the data rule out a regression `pass_margin` times the smallest
    /// effect (and, for a limit, twice the allowed share); without that evidence it is
    /// inconclusive. 4 means: not 2 percentage points more errors, with the defaults.
    pub pass_margin: f64,
}

/// The smallest regressions worth failing for, as differences of shares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MinEffect {
    /// Error rate of the new version minus the stable one's.
    pub error_rate: f64,
    /// Share of the new version's requests slower than the stable version's running p95,
    /// minus the stable version's own share of such requests (about 5%).
    pub latency: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyLimit {
    /// `p50_max`, `p95_max` or `p99_max`.
    pub name: String,
    pub quantile: f64,
    pub max_us: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRule {
    pub name: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Config {
    pub fn from_spec(analysis: &Analysis) -> Config {
        let latency_max = [
            ("p50_max", 0.50, analysis.p50_max),
            ("p95_max", 0.95, analysis.p95_max),
            ("p99_max", 0.99, analysis.p99_max),
        ]
        .into_iter()
        .filter_map(|(name, quantile, max)| {
            let micros = u64::try_from(max?.as_std().as_micros()).unwrap_or(u64::MAX);
            Some(LatencyLimit { name: name.to_owned(), quantile, max_us: micros })
        })
        .collect();
        Config {
            false_positive_rate: analysis.false_positive_rate.get(),
            min_effect: MinEffect {
                error_rate: analysis.min_effect.error_rate.get(),
                latency: analysis.min_effect.latency.get(),
            },
            compare: analysis.compare == Compare::Stable,
            error_rate_max: analysis.error_rate_max.map(|fraction| fraction.get()),
            latency_max,
            metrics: analysis
                .metrics
                .iter()
                .map(|metric| MetricRule { name: metric.name.clone(), min: metric.min, max: metric.max })
                .collect(),
            pass_margin: 4.0,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::from_spec(&Analysis::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_spec() {
        let config = Config::default();
        assert_eq!(config.false_positive_rate, 0.01);
        assert_eq!(config.min_effect, MinEffect { error_rate: 0.005, latency: 0.025 });
        assert!(config.compare && config.error_rate_max.is_none() && config.latency_max.is_empty());
    }

    #[test]
    fn limits_are_read_in_microseconds() {
        let spec = shipgate_spec::parse_str(
            "[app]\nname = \"a\"\n[artifact]\npath = \"a\"\n[run]\ncommand = [\"./a\"]\n[environments.production]\nlisten = \"127.0.0.1:8080\"\nanalysis = { error_rate_max = 0.02, p99_max = \"300ms\", p50_max = \"20ms\", compare = \"none\", metrics = [ { name = \"q\", command = [\"./q\"], max = 5 } ] }\n",
        )
        .map_err(|report| report.diagnostics)
        .expect("valid");
        let config = Config::from_spec(spec.environments["production"].analysis.as_ref().expect("analysis"));
        assert!(!config.compare);
        assert_eq!(config.error_rate_max, Some(0.02));
        let limits: Vec<(&str, f64, u64)> =
            config.latency_max.iter().map(|limit| (limit.name.as_str(), limit.quantile, limit.max_us)).collect();
        assert_eq!(limits, [("p50_max", 0.5, 20_000), ("p99_max", 0.99, 300_000)]);
        assert_eq!(config.metrics, [MetricRule { name: "q".to_owned(), min: None, max: Some(5.0) }]);
    }
}
