//! Prometheus: instant and range queries over its HTTP API (`/api/v1/query`,
//! `/api/v1/query_range`).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use super::{Provider, ProviderError, Query, Reading, get_text, http_agent, render_template};

/// A Prometheus server and one PromQL template.
#[derive(Debug)]
pub struct Prometheus {
    base: String,
    query: String,
    agent: ureq::Agent,
}

/// One series of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub values: Vec<(Timestamp, f64)>,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorEntry>),
    Matrix(Vec<MatrixEntry>),
    Scalar((f64, String)),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct VectorEntry {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixEntry {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// Prometheus's time parameter: Unix seconds with milliseconds.
fn unix_seconds(at: Timestamp) -> String {
    format!("{:.3}", at.as_millisecond() as f64 / 1000.0)
}

fn parse_value(text: &str) -> Option<f64> {
    text.parse::<f64>().ok()
}

fn timestamp(seconds: f64) -> Timestamp {
    // Prometheus times are within jiff's range; the epoch stands in for anything absurd.
    Timestamp::from_millisecond((seconds * 1000.0).round() as i64).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl Prometheus {
    /// `base` is the server's URL (`http://127.0.0.1:9090`); `query` a PromQL template.
    pub fn new(base: &str, query: &str, timeout: Duration) -> Prometheus {
        Prometheus { base: base.trim_end_matches('/').to_owned(), query: query.to_owned(), agent: http_agent(timeout) }
    }

    fn ask(&self, path: &str, promql: &str, params: &[(&str, String)]) -> Result<Data, ProviderError> {
        let url = format!("{}{path}", self.base);
        let mut query = vec![("query", promql.to_owned())];
        query.extend(params.iter().cloned());
        let (status, body) = get_text(&self.agent, &url, &query)?;
        let answer: Answer = serde_json::from_str(&body).map_err(|_| {
            if (200..300).contains(&status) {
                ProviderError::Answer { url: url.clone(), why: "not Prometheus's JSON".to_owned() }
            } else {
                ProviderError::Status { url: url.clone(), status, body: super::truncate_detail(&body) }
            }
        })?;
        if answer.status != "success" {
            return Err(ProviderError::Prometheus {
                query: promql.to_owned(),
                message: answer.error.unwrap_or_else(|| format!("status `{}`", answer.status)),
            });
        }
        answer.data.ok_or_else(|| ProviderError::Answer { url, why: "no `data`".to_owned() })
    }

    /// An instant query at `at` (now when `None`): every series with its value.
    pub fn instant(&self, promql: &str, at: Option<Timestamp>) -> Result<Vec<Sample>, ProviderError> {
        let params: Vec<(&str, String)> = at.map(|at| ("time", unix_seconds(at))).into_iter().collect();
        let bad = |why: &str| ProviderError::Answer { url: format!("{}/api/v1/query", self.base), why: why.to_owned() };
        match self.ask("/api/v1/query", promql, &params)? {
            Data::Vector(entries) => entries
                .into_iter()
                .map(|entry| {
                    let value = parse_value(&entry.value.1).ok_or_else(|| bad("a value is not a number"))?;
                    Ok(Sample { labels: entry.metric, value })
                })
                .collect(),
            Data::Scalar((_, value)) => Ok(vec![Sample {
                labels: BTreeMap::new(),
                value: parse_value(&value).ok_or_else(|| bad("a value is not a number"))?,
            }]),
            Data::Matrix(_) | Data::String(_) => Err(bad("an instant query must return a vector or a scalar")),
        }
    }

    /// A range query from `start` to `end`, one point per `step`.
    pub fn range(
        &self,
        promql: &str,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<Vec<Series>, ProviderError> {
        let params = [
            ("start", unix_seconds(start)),
            ("end", unix_seconds(end)),
            ("step", format!("{:.3}", step.as_secs_f64().max(0.001))),
        ];
        let bad =
            |why: &str| ProviderError::Answer { url: format!("{}/api/v1/query_range", self.base), why: why.to_owned() };
        match self.ask("/api/v1/query_range", promql, &params)? {
            Data::Matrix(entries) => entries
                .into_iter()
                .map(|entry| {
                    let values = entry
                        .values
                        .into_iter()
                        .map(|(at, value)| {
                            Ok((timestamp(at), parse_value(&value).ok_or_else(|| bad("a value is not a number"))?))
                        })
                        .collect::<Result<Vec<_>, ProviderError>>()?;
                    Ok(Series { labels: entry.metric, values })
                })
                .collect(),
            _ => Err(bad("a range query must return a matrix")),
        }
    }
}

impl Provider for Prometheus {
    /// The template, filled, as an instant query at `query.at`: it must give one number.
    fn read(&self, query: &Query<'_>) -> Result<Reading, ProviderError> {
        let promql = render_template(&self.query, query);
        let samples = self.instant(&promql, Some(query.at))?;
        match samples.as_slice() {
            [] => Err(ProviderError::NoData { query: promql }),
            [sample] if sample.value.is_nan() => Err(ProviderError::NoData { query: promql }),
            [sample] => Ok(Reading {
                value: Some(sample.value),
                ok: None,
                detail: format!("prometheus: `{promql}` = {}", sample.value),
                counts: None,
            }),
            many => Err(ProviderError::NotOneNumber { query: promql, series: many.len() }),
        }
    }
}
