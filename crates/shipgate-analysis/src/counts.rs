//! The input: cumulative counters and latency histograms of one version, as the agent
//! exposes them. Subtracting an earlier snapshot from a later one gives any window.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Cumulative counters of one version since some start (the agent's, usually).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Completed requests: responses of any status.
    pub requests: u64,
    /// Requests answered with a 5xx status, including the proxy's own 502, 503 and 504.
    pub errors: u64,
    /// Latency of the completed requests, in microseconds.
    pub latency: Histogram,
}

impl Counts {
    /// The requests between `earlier` and `self`. When a counter went down (the agent
    /// restarted and counts from zero again), the window is `self` alone: what was counted
    /// since the restart.
    pub fn since(&self, earlier: &Counts) -> Counts {
        let latency = self.latency.since(&earlier.latency);
        match (self.requests.checked_sub(earlier.requests), self.errors.checked_sub(earlier.errors), latency) {
            (Some(requests), Some(errors), Some(latency)) => Counts { requests, errors, latency },
            _ => self.clone(),
        }
    }

    /// Adds another window's counts to these.
    pub fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latency.add(&other.latency);
    }

    /// Reads one version's snapshot as the agent's metrics endpoint returns it (a JSON object
    /// with `responses` by status class and `latency.buckets` as `[lower bound in µs, count]`).
    pub fn from_agent_snapshot(snapshot: &serde_json::Value) -> Result<Counts, Error> {
        #[derive(Deserialize)]
        struct Snapshot {
            responses: Responses,
            latency: Latency,
        }
        #[derive(Deserialize)]
        struct Responses {
            #[serde(rename = "1xx", default)]
            informational: u64,
            #[serde(rename = "2xx", default)]
            success: u64,
            #[serde(rename = "3xx", default)]
            redirection: u64,
            #[serde(rename = "4xx", default)]
            client_error: u64,
            #[serde(rename = "5xx", default)]
            server_error: u64,
        }
        #[derive(Deserialize)]
        struct Latency {
            buckets: Vec<[u64; 2]>,
        }
        let snapshot = Snapshot::deserialize(snapshot).map_err(|error| Error::Snapshot(error.to_string()))?;
        let r = &snapshot.responses;
        let requests = [r.informational, r.success, r.redirection, r.client_error, r.server_error]
            .iter()
            .try_fold(0u64, |sum, n| sum.checked_add(*n))
            .ok_or_else(|| Error::Snapshot("response counters overflow".to_owned()))?;
        Ok(Counts { requests, errors: r.server_error, latency: Histogram::from_buckets(snapshot.latency.buckets) })
    }
}

/// A latency histogram: `[lower bound in µs, count]` per non-empty bucket, sorted by bound.
///
/// The analysis does not depend on the bucket layout; [`bucket_lower_bound`] is the agent's
/// (log-linear, 128 buckets per power of two, so any value is known within 0.8%), used by
/// the simulator and tests to build histograms like the agent's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram {
    buckets: Vec<[u64; 2]>,
}

const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
const MAX_MSB: u32 = 40;

/// The lower bound of the agent's histogram bucket that holds `micros`.
pub fn bucket_lower_bound(micros: u64) -> u64 {
    if micros < SUB {
        return micros;
    }
    let msb = (63 - micros.leading_zeros()).min(MAX_MSB);
    let value = micros.min((1u64 << (MAX_MSB + 1)) - 1);
    let shift = msb - SUB_BITS;
    (value >> shift) << shift
}

/// The lower bound of the agent's bucket after the one starting at `bound`.
pub(crate) fn next_bucket_bound(bound: u64) -> u64 {
    if bound < SUB {
        return bound + 1;
    }
    let msb = (63 - bound.leading_zeros()).min(MAX_MSB);
    bound.saturating_add(1u64 << (msb - SUB_BITS))
}

impl Histogram {
    /// A histogram from sorted, distinct `[lower bound, count]` pairs with no empty bucket
    /// (not checked beyond a debug assertion: for callers that build them in order).
    pub(crate) fn from_sorted(buckets: Vec<[u64; 2]>) -> Histogram {
        debug_assert!(buckets.windows(2).all(|pair| pair[0][0] < pair[1][0]));
        debug_assert!(buckets.iter().all(|[_, count]| *count > 0));
        Histogram { buckets }
    }

    /// A histogram from `[lower bound, count]` pairs in any order; repeated bounds are added
    /// up and empty buckets dropped.
    pub fn from_buckets(mut buckets: Vec<[u64; 2]>) -> Histogram {
        buckets.sort_unstable_by_key(|[bound, _]| *bound);
        let mut merged: Vec<[u64; 2]> = Vec::with_capacity(buckets.len());
        for [bound, count] in buckets {
            match merged.last_mut() {
                Some(last) if last[0] == bound => last[1] = last[1].saturating_add(count),
                _ => merged.push([bound, count]),
            }
        }
        merged.retain(|[_, count]| *count > 0);
        Histogram { buckets: merged }
    }

    /// A histogram of the given values in microseconds, bucketed like the agent's.
    pub fn of_values(values: impl IntoIterator<Item = u64>) -> Histogram {
        Histogram::from_buckets(values.into_iter().map(|micros| [bucket_lower_bound(micros), 1]).collect())
    }

    pub fn buckets(&self) -> &[[u64; 2]] {
        &self.buckets
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|[_, count]| count).sum()
    }

    /// The values recorded since `earlier`; `None` when a bucket went down (a reset).
    pub fn since(&self, earlier: &Histogram) -> Option<Histogram> {
        let mut out = Vec::with_capacity(self.buckets.len());
        let mut before = earlier.buckets.iter().peekable();
        for &[bound, count] in &self.buckets {
            let mut previous = 0;
            while let Some(&&[earlier_bound, earlier_count]) = before.peek() {
                if earlier_bound < bound {
                    if earlier_count > 0 {
                        return None; // a bucket that existed has vanished
                    }
                    before.next();
                } else {
                    if earlier_bound == bound {
                        previous = earlier_count;
                        before.next();
                    }
                    break;
                }
            }
            let delta = count.checked_sub(previous)?;
            if delta > 0 {
                out.push([bound, delta]);
            }
        }
        if before.any(|[_, count]| *count > 0) {
            return None;
        }
        Some(Histogram { buckets: out })
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Histogram) {
        if other.buckets.is_empty() {
            return;
        }
        let mut merged = Vec::with_capacity(self.buckets.len() + other.buckets.len());
        let (mut a, mut b) = (self.buckets.iter().peekable(), other.buckets.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&[x, m]), Some(&&[y, n])) => {
                    if x == y {
                        merged.push([x, m.saturating_add(n)]);
                        a.next();
                        b.next();
                    } else if x < y {
                        merged.push([x, m]);
                        a.next();
                    } else {
                        merged.push([y, n]);
                        b.next();
                    }
                }
                (Some(&&bucket), None) => {
                    merged.push(bucket);
                    a.next();
                }
                (None, Some(&&bucket)) => {
                    merged.push(bucket);
                    b.next();
                }
                (None, None) => break,
            }
        }
        self.buckets = merged;
    }

    /// How many values lie in buckets whose lower bound is at least `bound` (µs): values
    /// known to be `bound` or slower.
    pub fn count_from(&self, bound: u64) -> u64 {
        let start = self.buckets.partition_point(|[lower, _]| *lower < bound);
        self.buckets[start..].iter().map(|[_, count]| count).sum()
    }

    /// The lower bound of the bucket that holds the `q` quantile (rank `ceil(q × count)`);
    /// `None` when empty.
    pub fn quantile_bucket(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // Rounding a rank up to a whole request is what the definition asks for.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for &[bound, count] in &self.buckets {
            seen += count;
            if seen >= rank {
                return Some(bound);
            }
        }
        self.buckets.last().map(|[bound, _]| *bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_differences_and_resets_restart_the_count() {
        let early = Counts { requests: 10, errors: 1, latency: Histogram::of_values([100, 200, 200]) };
        let late = Counts { requests: 15, errors: 3, latency: Histogram::of_values([100, 200, 200, 200, 5_000]) };
        let window = late.since(&early);
        assert_eq!((window.requests, window.errors), (5, 2));
        assert_eq!(window.latency.buckets(), &[[200, 1], [bucket_lower_bound(5_000), 1]]);
        // The agent restarted: counters went down, so the window is what it counted since.
        let restarted = Counts { requests: 4, errors: 0, latency: Histogram::of_values([300]) };
        assert_eq!(restarted.since(&late), restarted);
        // A bucket vanished (also a restart).
        let other = Counts { requests: 20, errors: 3, latency: Histogram::of_values([200, 200, 200, 5_000]) };
        assert_eq!(other.since(&late), other);
    }

    #[test]
    fn histograms_add_count_and_find_quantiles() {
        let mut histogram = Histogram::of_values((1..=100).map(|ms| ms * 1_000));
        assert_eq!(histogram.count(), 100);
        let p95 = histogram.quantile_bucket(0.95).unwrap();
        assert!((94_000..=95_000).contains(&p95), "{p95}");
        assert_eq!(histogram.count_from(bucket_lower_bound(96_000)), 5);
        assert_eq!(histogram.count_from(0), 100);
        assert_eq!(histogram.count_from(u64::MAX), 0);
        histogram.add(&Histogram::of_values([1_000, 1_000_000]));
        assert_eq!(histogram.count(), 102);
        assert_eq!(histogram.buckets().first(), Some(&[1_000, 2]));
        assert_eq!(Histogram::default().quantile_bucket(0.5), None);
        assert_eq!(Histogram::from_buckets(vec![[5, 0], [3, 1], [3, 2]]).buckets(), &[[3, 3]]);
    }

    #[test]
    fn bucket_bounds_are_within_one_percent() {
        for micros in [0, 1, 127, 128, 129, 255, 256, 1_000, 12_345, 999_999, 1 << 30] {
            let bound = bucket_lower_bound(micros);
            assert!(bound <= micros);
            assert!((micros - bound) as f64 <= micros as f64 / 128.0, "{micros} -> {bound}");
            assert_eq!(bucket_lower_bound(bound), bound, "a bound is in its own bucket");
            let next = next_bucket_bound(bound);
            assert!(next > micros || micros == bound && next > bound, "{micros}: {bound} -> {next}");
            assert_eq!(bucket_lower_bound(next - 1), bound, "{micros}: the bucket ends just before {next}");
        }
    }
}
