//! Per-version request metrics: counters and a latency histogram, recorded lock-free on the hot
//! path and read as cumulative snapshots (JSON) or Prometheus text.
//!
//! The histogram is hand-written rather than taken from the `hdrhistogram` crate because that
//! crate's histogram needs `&mut` to record (its `SyncHistogram` hands out per-thread recorders and
//! blocks to merge them), and proxy requests run on any runtime thread. This one is HDR-style
//! log-linear: 128 linear sub-buckets per power of two, so any value is known within 1/128
//! (< 0.8 %) of its true value; recording is one relaxed `fetch_add`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Values are microseconds; anything over 2^40 µs (12.7 days) lands in the last bucket.
const MAX_MSB: u32 = 40;
const BUCKETS: usize = (SUB as usize) * (MAX_MSB - SUB_BITS + 2) as usize;

/// A concurrent log-linear histogram of microsecond values.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

fn index_of(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let msb = (63 - value.leading_zeros()).min(MAX_MSB);
    let value = value.min((1u64 << (MAX_MSB + 1)) - 1);
    let top = value >> (msb - SUB_BITS); // in [128, 256)
    (SUB * u64::from(msb - SUB_BITS + 1) + (top - SUB)) as usize
}

/// The smallest value that falls in bucket `index`.
fn lower_bound(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let octave = index / SUB; // >= 1
    let sub = index % SUB;
    (SUB + sub) << (octave - 1)
}

/// A value that represents bucket `index`: its midpoint, within 1/256 of any value in it.
fn representative(index: usize) -> u64 {
    let low = lower_bound(index);
    let high = if index + 1 < BUCKETS { lower_bound(index + 1) } else { low + 1 };
    low + (high - low) / 2
}

impl Histogram {
    pub fn record(&self, micros: u64) {
        self.buckets[index_of(micros)].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(micros, Ordering::Relaxed);
        self.max.fetch_max(micros, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LatencySnapshot {
        let mut buckets = Vec::new();
        let mut count = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            let n = bucket.load(Ordering::Relaxed);
            if n > 0 {
                buckets.push([lower_bound(index), n]);
                count += n;
            }
        }
        let quantile = |q: f64| -> u64 {
            if count == 0 {
                return 0;
            }
            let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            for [low, n] in &buckets {
                seen += n;
                if seen >= rank {
                    return representative(index_of(*low));
                }
            }
            0
        };
        LatencySnapshot {
            count,
            sum_us: self.sum.load(Ordering::Relaxed),
            max_us: self.max.load(Ordering::Relaxed),
            p50_us: quantile(0.50),
            p90_us: quantile(0.90),
            p99_us: quantile(0.99),
            p999_us: quantile(0.999),
            buckets,
        }
    }
}

/// Counters and latency of one version of one service, since the agent started.
#[derive(Default)]
pub struct VersionMetrics {
    pub requests: AtomicU64,
    /// Responses by class: 1xx, 2xx, 3xx, 4xx, 5xx (including the proxy's own 502/503/504).
    pub responses: [AtomicU64; 5],
    pub connect_errors: AtomicU64,
    pub retries: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// From receiving the request head to sending the response head.
    pub latency: Histogram,
}

impl VersionMetrics {
    pub fn response(&self, status: u16, micros: u64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        self.latency.record(micros);
    }

    pub fn snapshot(&self, service: &str, version: &str) -> MetricsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MetricsSnapshot {
            service: service.to_owned(),
            version: version.to_owned(),
            requests: load(&self.requests),
            responses: Responses {
                informational: load(&self.responses[0]),
                success: load(&self.responses[1]),
                redirection: load(&self.responses[2]),
                client_error: load(&self.responses[3]),
                server_error: load(&self.responses[4]),
            },
            connect_errors: load(&self.connect_errors),
            retries: load(&self.retries),
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
            latency: self.latency.snapshot(),
        }
    }
}

/// Cumulative counters: the control plane subtracts two snapshots to get any window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    pub service: String,
    pub version: String,
    pub requests: u64,
    pub responses: Responses,
    pub connect_errors: u64,
    pub retries: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub latency: LatencySnapshot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Responses {
    #[serde(rename = "1xx")]
    pub informational: u64,
    #[serde(rename = "2xx")]
    pub success: u64,
    #[serde(rename = "3xx")]
    pub redirection: u64,
    #[serde(rename = "4xx")]
    pub client_error: u64,
    #[serde(rename = "5xx")]
    pub server_error: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySnapshot {
    pub count: u64,
    pub sum_us: u64,
    pub max_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    /// `[lower bound in µs, count]` of every non-empty bucket; a bucket spans 1/128 of its octave.
    pub buckets: Vec<[u64; 2]>,
}

/// Bucket bounds of the Prometheus histogram, in seconds.
const PROMETHEUS_LE: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Prometheus text exposition (version 0.0.4) of every snapshot.
pub fn prometheus(snapshots: &[MetricsSnapshot]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, body: &dyn Fn(&mut String)| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        body(&mut out);
    };
    let labels = |s: &MetricsSnapshot| format!("service=\"{}\",version=\"{}\"", escape(&s.service), escape(&s.version));
    family("shipgate_requests_total", "counter", "Requests routed to a version.", &|out| {
        for s in snapshots {
            let _ = writeln!(out, "shipgate_requests_total{{{}}} {}", labels(s), s.requests);
        }
    });
    family("shipgate_responses_total", "counter", "Responses by status class.", &|out| {
        for s in snapshots {
            let r = &s.responses;
            for (class, n) in [
                ("1xx", r.informational),
                ("2xx", r.success),
                ("3xx", r.redirection),
                ("4xx", r.client_error),
                ("5xx", r.server_error),
            ] {
                let _ = writeln!(out, "shipgate_responses_total{{{},class=\"{class}\"}} {n}", labels(s));
            }
        }
    });
    family("shipgate_upstream_connect_errors_total", "counter", "Failed connections to instances.", &|out| {
        for s in snapshots {
            let _ = writeln!(out, "shipgate_upstream_connect_errors_total{{{}}} {}", labels(s), s.connect_errors);
        }
    });
    family("shipgate_retries_total", "counter", "Requests retried on another instance.", &|out| {
        for s in snapshots {
            let _ = writeln!(out, "shipgate_retries_total{{{}}} {}", labels(s), s.retries);
        }
    });
    family("shipgate_bytes_total", "counter", "Body bytes, in from clients and out to clients.", &|out| {
        for s in snapshots {
            let _ = writeln!(out, "shipgate_bytes_total{{{},direction=\"in\"}} {}", labels(s), s.bytes_in);
            let _ = writeln!(out, "shipgate_bytes_total{{{},direction=\"out\"}} {}", labels(s), s.bytes_out);
        }
    });
    family(
        "shipgate_request_duration_seconds",
        "histogram",
        "From request head received to response head sent.",
        &|out| {
            for s in snapshots {
                let l = labels(s);
                for le in PROMETHEUS_LE {
                    let limit = (le * 1e6) as u64;
                    let n: u64 = s.latency.buckets.iter().filter(|[low, _]| *low < limit).map(|[_, n]| n).sum();
                    let _ = writeln!(out, "shipgate_request_duration_seconds_bucket{{{l},le=\"{le}\"}} {n}");
                }
                let _ =
                    writeln!(out, "shipgate_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}", s.latency.count);
                let _ = writeln!(out, "shipgate_request_duration_seconds_sum{{{l}}} {}", s.latency.sum_us as f64 / 1e6);
                let _ = writeln!(out, "shipgate_request_duration_seconds_count{{{l}}} {}", s.latency.count);
            }
        },
    );
    out
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_precise() {
        for value in [0u64, 1, 127, 128, 129, 255, 256, 1000, 12_345, 999_999, 1 << 30, (1 << 40) + 5] {
            let index = index_of(value);
            assert!(lower_bound(index) <= value, "{value}");
            if index + 1 < BUCKETS {
                assert!(value < lower_bound(index + 1), "{value}");
            }
            let rep = representative(index) as f64;
            if value > 0 && value < (1 << 41) {
                assert!(((rep - value as f64) / value as f64).abs() < 0.01, "{value} -> {rep}");
            }
        }
        assert_eq!(index_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_within_one_percent() {
        let h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 100_000);
        for (got, want) in [(s.p50_us, 50_000.0), (s.p90_us, 90_000.0), (s.p99_us, 99_000.0)] {
            assert!(((got as f64 - want) / want).abs() < 0.01, "{got} vs {want}");
        }
        assert_eq!(s.max_us, 100_000);
    }

    #[test]
    fn prometheus_text_has_families() {
        let m = VersionMetrics::default();
        m.requests.fetch_add(1, Ordering::Relaxed);
        m.response(200, 1500);
        let text = prometheus(&[m.snapshot("web", "v\"1")]);
        assert!(text.contains("shipgate_requests_total{service=\"web\",version=\"v\\\"1\"} 1"));
        assert!(
            text.contains(
                "shipgate_request_duration_seconds_bucket{service=\"web\",version=\"v\\\"1\",le=\"0.0025\"} 1"
            )
        );
        assert!(text.contains("le=\"0.001\"} 0"));
    }
}
