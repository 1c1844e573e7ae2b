//! A Monte Carlo harness: synthetic traffic for a new and a stable version, judged by
//! shipgate's [`Judge`] and, on the very same requests, by a fixed-interval rule like
//! Flagger's (every 60 s, check the new version's error rate and p99 over the last
//! interval; roll back after 5 failed checks; an interval without data is a failed check).
//!
//! Traffic: Poisson arrivals at a fixed rate per version, each request an error with a fixed
//! probability (so errors per look are binomial), latencies lognormal given by their median
//! and p99, bucketed like the agent's histogram. The judge looks every `look_secs`.
//!
//! Runs are seeded one by one from `(seed, run)`, so a report depends on the seed only, not
//! on how many threads computed it.

use std::fmt::Write as _;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::weighted::WeightedAliasIndex;
use rand_distr::{Binomial, Distribution, Poisson};
use serde::{Deserialize, Serialize};

use crate::counts::{bucket_lower_bound, next_bucket_bound};
use crate::{Config, Counts, Histogram, Hold, Judge, Reference, Verdict};

/// One version's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Behaviour {
    /// The chance that a request fails (5xx).
    pub error_rate: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds (lognormal: `σ = ln(p99 / p50) / 2.326`).
    pub p99_ms: f64,
}

/// The fixed-interval rule the judge is compared with (Flagger's analysis with a
/// `request-success-rate` and a `request-duration` metric).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlaggerRule {
    pub interval_secs: f64,
    /// Failed checks before a rollback.
    pub threshold: u32,
    /// A check fails when the interval's error rate is above this…
    pub error_rate_max: f64,
    /// …or its p99 (ms) above this.
    pub p99_max_ms: Option<f64>,
}

/// Synthetic traffic for one hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    /// Requests per second to the new version and to the stable one.
    pub canary_rps: f64,
    pub stable_rps: f64,
    pub canary: Behaviour,
    pub stable: Behaviour,
    pub hold_secs: f64,
    /// Seconds between the judge's looks (the executor's 500 ms).
    pub look_secs: f64,
    pub config: Config,
    pub flagger: FlaggerRule,
}

/// How one rule did over all runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcomes {
    /// Runs the rule failed (rolled back).
    pub failed: u32,
    pub passed: u32,
    /// Runs that ended without a verdict (the judge only; the fixed rule passes instead).
    pub inconclusive: u32,
    /// Over the failed runs: seconds from the start of the hold to the verdict…
    pub detection_secs: Option<Spread>,
    /// …and requests the new version had received by then.
    pub detection_requests: Option<Spread>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub p95: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationReport {
    pub scenario: Scenario,
    pub runs: u32,
    pub seed: u64,
    pub shipgate: Outcomes,
    pub flagger: Outcomes,
}

const Z99: f64 = 2.326_347_874_040_841;

impl Behaviour {
    pub fn new(error_rate: f64, p50_ms: f64, p99_ms: f64) -> Behaviour {
        Behaviour { error_rate, p50_ms, p99_ms }
    }
}

impl FlaggerRule {
    /// Flagger's defaults as its documentation shows them (`interval: 1m`, `threshold: 5`),
    /// with the given limits.
    pub fn new(error_rate_max: f64, p99_max_ms: Option<f64>) -> FlaggerRule {
        FlaggerRule { interval_secs: 60.0, threshold: 5, error_rate_max, p99_max_ms }
    }
}

impl Scenario {
    /// A scenario with shipgate's default analysis, looks every 500 ms, and a Flagger rule
    /// whose limits sit above the stable version's own figures: an error rate of the stable
    /// one's plus a percentage point, a p99 of 1.5 times the stable one's.
    pub fn new(
        name: &str,
        canary_rps: f64,
        stable_rps: f64,
        canary: Behaviour,
        stable: Behaviour,
        hold: Duration,
    ) -> Scenario {
        Scenario {
            name: name.to_owned(),
            canary_rps,
            stable_rps,
            canary,
            stable,
            hold_secs: hold.as_secs_f64(),
            look_secs: 0.5,
            config: Config::default(),
            flagger: FlaggerRule::new(stable.error_rate + 0.01, Some(1.5 * stable.p99_ms)),
        }
    }
}

/// The scenarios of the targets in issue 6 (and BENCHMARKS.md), plus two that show the
/// edges: a 50/50 split and a regression smaller than the minimum effect.
pub fn standard_scenarios() -> Vec<Scenario> {
    let stable = Behaviour::new(0.01, 20.0, 100.0);
    let ten_minutes = Duration::from_secs(600);
    vec![
        Scenario::new(
            "errors 1% → 5%, 100 req/s to the canary (5% weight)",
            100.0,
            1900.0,
            Behaviour { error_rate: 0.05, ..stable },
            stable,
            ten_minutes,
        ),
        Scenario::new("canary identical to stable, 100 req/s (5% weight)", 100.0, 1900.0, stable, stable, ten_minutes),
        Scenario::new(
            "canary p99 doubled (100 → 200 ms, same median), 100 req/s",
            100.0,
            1900.0,
            Behaviour { p99_ms: 2.0 * stable.p99_ms, ..stable },
            stable,
            ten_minutes,
        ),
        Scenario::new(
            "canary identical, 1 req/s (5% weight), 2 min hold",
            1.0,
            19.0,
            stable,
            stable,
            Duration::from_secs(120),
        ),
        Scenario::new(
            "errors 1% → 5%, 100 req/s to each (50% weight)",
            100.0,
            100.0,
            Behaviour { error_rate: 0.05, ..stable },
            stable,
            ten_minutes,
        ),
        Scenario::new(
            "errors 1% → 2%, 100 req/s (5% weight)",
            100.0,
            1900.0,
            Behaviour { error_rate: 0.02, ..stable },
            stable,
            ten_minutes,
        ),
        Scenario::new(
            "errors 1% → 10%, 1 req/s (5% weight)",
            1.0,
            19.0,
            Behaviour { error_rate: 0.10, ..stable },
            stable,
            ten_minutes,
        ),
        Scenario::new(
            "errors 1% → 1.5% (exactly the minimum effect), 100 req/s",
            100.0,
            1900.0,
            Behaviour { error_rate: 0.015, ..stable },
            stable,
            ten_minutes,
        ),
        Scenario::new(
            "errors 1% → 1.01% (below the minimum effect), 100 req/s",
            100.0,
            1900.0,
            Behaviour { error_rate: 0.0101, ..stable },
            stable,
            ten_minutes,
        ),
    ]
}

/// The lognormal behaviour as a table over the agent's histogram buckets, sampled in O(1).
struct LatencyTable {
    bounds: Vec<u64>,
    alias: Option<WeightedAliasIndex<f64>>,
}

/// `P(Z > z)` for a standard normal `Z`, to about 1e-7 relative (Numerical Recipes'
/// Chebyshev fit of erfc): ample for sampling, and no crate needed for one function.
fn normal_survival(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -a * a - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    0.5 * if x >= 0.0 { erfc } else { 2.0 - erfc }
}

impl LatencyTable {
    fn new(behaviour: Behaviour) -> LatencyTable {
        let mu = (behaviour.p50_ms * 1000.0).max(1.0).ln();
        let sigma = ((behaviour.p99_ms / behaviour.p50_ms).max(1.0 + 1e-9)).ln() / Z99;
        let z = |micros: u64| ((micros.max(1) as f64).ln() - mu) / sigma;
        let first = bucket_lower_bound((mu - 7.0 * sigma).exp() as u64);
        let last = (mu + 7.0 * sigma).exp() as u64;
        let (mut bounds, mut weights) = (Vec::new(), Vec::new());
        let mut bound = first;
        while bound <= last {
            let next = next_bucket_bound(bound);
            let (low, high) = (z(bound), z(next));
            // Differences of the survival function in the upper half, of the CDF in the lower,
            // so that tail buckets keep their relative precision.
            let weight = if low >= 0.0 {
                normal_survival(low) - normal_survival(high)
            } else {
                normal_survival(-high) - normal_survival(-low)
            };
            if weight > 0.0 {
                bounds.push(bound);
                weights.push(weight);
            }
            bound = next;
        }
        if bounds.is_empty() {
            bounds.push(first);
            weights.push(1.0);
        }
        // The weights are positive and finite by construction; `None` would mean a bug, and
        // then every request lands in the first bucket.
        LatencyTable { bounds, alias: WeightedAliasIndex::new(weights).ok() }
    }

    /// A histogram of `n` sampled latencies, in bucket order.
    fn sample(&self, n: u64, rng: &mut ChaCha8Rng, scratch: &mut Vec<u64>) -> Histogram {
        let Some(alias) = &self.alias else {
            return Histogram::from_buckets(vec![[self.bounds[0], n]]);
        };
        if n == 0 {
            return Histogram::default();
        }
        if n as usize * 4 >= self.bounds.len() {
            scratch.clear();
            scratch.resize(self.bounds.len(), 0);
            for _ in 0..n {
                scratch[alias.sample(rng)] += 1;
            }
            let buckets = scratch
                .iter()
                .zip(&self.bounds)
                .filter(|(count, _)| **count > 0)
                .map(|(count, bound)| [*bound, *count])
                .collect();
            Histogram::from_sorted(buckets)
        } else {
            let mut indices: Vec<usize> = (0..n).map(|_| alias.sample(rng)).collect();
            indices.sort_unstable();
            let mut buckets: Vec<[u64; 2]> = Vec::with_capacity(indices.len());
            for index in indices {
                let bound = self.bounds[index];
                match buckets.last_mut() {
                    Some(last) if last[0] == bound => last[1] += 1,
                    _ => buckets.push([bound, 1]),
                }
            }
            Histogram::from_sorted(buckets)
        }
    }
}

/// One version's traffic generator.
struct Generator {
    arrivals: Option<Poisson<f64>>,
    error_rate: f64,
    latency: LatencyTable,
}

impl Generator {
    fn new(rps: f64, look_secs: f64, behaviour: Behaviour) -> Generator {
        Generator {
            arrivals: Poisson::new(rps * look_secs).ok(),
            error_rate: behaviour.error_rate.clamp(0.0, 1.0),
            latency: LatencyTable::new(behaviour),
        }
    }

    fn batch(&self, rng: &mut ChaCha8Rng, scratch: &mut Vec<u64>) -> Counts {
        let requests = self.arrivals.as_ref().map_or(0, |poisson| poisson.sample(rng) as u64);
        let errors = Binomial::new(requests, self.error_rate).map_or(0, |binomial| binomial.sample(rng));
        Counts { requests, errors, latency: self.latency.sample(requests, rng, scratch) }
    }
}

/// What happened in one run, per rule: the verdict and, on a failure, when.
#[derive(Debug, Clone, Copy)]
struct RunResult {
    shipgate: Verdict,
    shipgate_at: Option<(f64, u64)>,
    flagger_at: Option<(f64, u64)>,
}

fn run_once(scenario: &Scenario, canary: &Generator, stable: &Generator, rng: &mut ChaCha8Rng) -> RunResult {
    let start = Timestamp::UNIX_EPOCH;
    let at = |secs: f64| start + SignedDuration::from_secs_f64(secs);
    let hold = Hold { start, end: at(scenario.hold_secs) };
    let mut judge = Judge::new(scenario.config.clone(), hold, Counts::default(), Reference::Stable(Counts::default()));
    let mut scratch = Vec::new();
    let looks = (scenario.hold_secs / scenario.look_secs).ceil().max(1.0) as u64;
    let flagger = scenario.flagger;
    let mut interval = Counts::default();
    let mut next_check = flagger.interval_secs;
    let mut failed_checks = 0;
    let mut canary_requests = 0;
    let mut result = RunResult { shipgate: Verdict::Pending, shipgate_at: None, flagger_at: None };
    for look in 1..=looks {
        let now = (look as f64 * scenario.look_secs).min(scenario.hold_secs);
        let canary_batch = canary.batch(rng, &mut scratch);
        canary_requests += canary_batch.requests;
        if result.shipgate == Verdict::Pending {
            let stable_batch = stable.batch(rng, &mut scratch);
            result.shipgate = judge.observe_window(at(now), &canary_batch, Some(&stable_batch), &[]);
            if result.shipgate == Verdict::Fail {
                result.shipgate_at = Some((now, canary_requests));
            }
        }
        if result.flagger_at.is_none() {
            interval.add(&canary_batch);
            if now + 1e-9 >= next_check {
                let error_rate = (interval.requests > 0).then(|| interval.errors as f64 / interval.requests as f64);
                let p99_ms = interval.latency.quantile_bucket(0.99).map(|micros| micros as f64 / 1000.0);
                let failed = match (error_rate, p99_ms) {
                    (Some(rate), p99) => {
                        rate > flagger.error_rate_max
                            || matches!((p99, flagger.p99_max_ms), (Some(p99), Some(max)) if p99 > max)
                    }
                    (None, _) => true, // "no values found for metric": Flagger counts a failed check
                };
                failed_checks += u32::from(failed);
                if failed_checks >= flagger.threshold {
                    result.flagger_at = Some((now, canary_requests));
                }
                interval = Counts::default();
                next_check += flagger.interval_secs;
            }
        }
        if result.shipgate != Verdict::Pending && result.flagger_at.is_some() {
            break;
        }
    }
    result
}

/// The seed of run `run`: SplitMix64 of the pair, so neighbouring runs are unrelated.
fn run_seed(seed: u64, run: u32) -> u64 {
    let mut z = seed ^ (u64::from(run).wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `runs` independent holds of `scenario`, judged by shipgate and by the fixed-interval rule.
/// Deterministic in `seed`; spreads the runs over the machine's cores.
pub fn simulate(scenario: &Scenario, runs: u32, seed: u64) -> SimulationReport {
    let canary = Generator::new(scenario.canary_rps, scenario.look_secs, scenario.canary);
    let stable = Generator::new(scenario.stable_rps, scenario.look_secs, scenario.stable);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 64) as u32;
    let mut results: Vec<(u32, RunResult)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let (canary, stable) = (&canary, &stable);
                scope.spawn(move || {
                    (thread..runs)
                        .step_by(threads as usize)
                        .map(|run| {
                            let mut rng = ChaCha8Rng::seed_from_u64(run_seed(seed, run));
                            // Burn one draw so a run's stream differs from a plain seeded stream.
                            let _: u32 = rng.random();
                            (run, run_once(scenario, canary, stable, &mut rng))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().unwrap_or_default()).collect()
    });
    results.sort_by_key(|(run, _)| *run);
    let count = |verdict: Verdict| results.iter().filter(|(_, result)| result.shipgate == verdict).count() as u32;
    let shipgate_times: Vec<(f64, u64)> = results.iter().filter_map(|(_, result)| result.shipgate_at).collect();
    let flagger_times: Vec<(f64, u64)> = results.iter().filter_map(|(_, result)| result.flagger_at).collect();
    let flagger_failed = flagger_times.len() as u32;
    SimulationReport {
        scenario: scenario.clone(),
        runs,
        seed,
        shipgate: Outcomes {
            failed: count(Verdict::Fail),
            passed: count(Verdict::Pass),
            inconclusive: count(Verdict::Inconclusive) + count(Verdict::Pending),
            detection_secs: spread(shipgate_times.iter().map(|(secs, _)| *secs).collect()),
            detection_requests: spread(shipgate_times.iter().map(|(_, requests)| *requests as f64).collect()),
        },
        flagger: Outcomes {
            failed: flagger_failed,
            passed: runs - flagger_failed,
            inconclusive: 0,
            detection_secs: spread(flagger_times.iter().map(|(secs, _)| *secs).collect()),
            detection_requests: spread(flagger_times.iter().map(|(_, requests)| *requests as f64).collect()),
        },
    }
}

/// Median and 95th percentile (nearest rank); `None` for no values.
fn spread(mut values: Vec<f64>) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    Some(Spread { median: rank(0.5), p95: rank(0.95) })
}

fn share(part: u32, whole: u32) -> String {
    if whole == 0 { "—".to_owned() } else { format!("{:.1}%", 100.0 * f64::from(part) / f64::from(whole)) }
}

fn detection(outcomes: &Outcomes, pick: fn(&Spread) -> f64) -> String {
    match (&outcomes.detection_secs, &outcomes.detection_requests) {
        (Some(secs), Some(requests)) => format!("{:.1} s ({:.0} req)", pick(secs), pick(requests)),
        _ => "—".to_owned(),
    }
}

/// The reports as a Markdown table: one row per rule and scenario.
///
/// ```text
/// | scenario | rule | runs | failed | passed | inconclusive | median detection | p95 detection |
/// ```
pub fn render_table(reports: &[SimulationReport]) -> String {
    let mut out = String::from(
        "| scenario | rule | runs | failed (rolled back) | passed | inconclusive | median detection | p95 detection |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for report in reports {
        let flagger = &report.scenario.flagger;
        let rows = [
            (
                report.scenario.name.clone(),
                "shipgate".to_owned(),
                &report.shipgate,
                share(report.shipgate.inconclusive, report.runs),
            ),
            (
                String::new(),
                format!(
                    "fixed interval ({:.0} s × {}, errors > {}{})",
                    flagger.interval_secs,
                    flagger.threshold,
                    format_args!("{:.1}%", flagger.error_rate_max * 100.0),
                    flagger.p99_max_ms.map(|ms| format!(" or p99 > {ms:.0} ms")).unwrap_or_default()
                ),
                &report.flagger,
                "—".to_owned(),
            ),
        ];
        for (scenario, rule, outcomes, inconclusive) in rows {
            let _ = writeln!(
                out,
                "| {scenario} | {rule} | {} | {} | {} | {inconclusive} | {} | {} |",
                report.runs,
                share(outcomes.failed, report.runs),
                share(outcomes.passed, report.runs),
                detection(outcomes, |spread| spread.median),
                detection(outcomes, |spread| spread.p95),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_by_known_values() {
        for (z, expected) in [(0.0, 0.5), (1.0, 0.158_655_25), (1.644_853_6, 0.05), (Z99, 0.01), (-1.0, 0.841_344_75)] {
            assert!((normal_survival(z) - expected).abs() < 2e-7, "{z}: {}", normal_survival(z));
        }
    }

    #[test]
    fn sampled_latencies_have_the_asked_median_and_p99() {
        let table = LatencyTable::new(Behaviour::new(0.0, 20.0, 100.0));
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut histogram = Histogram::default();
        let mut scratch = Vec::new();
        for _ in 0..100 {
            histogram.add(&table.sample(2_000, &mut rng, &mut scratch));
            histogram.add(&table.sample(20, &mut rng, &mut scratch));
        }
        let p50 = histogram.quantile_bucket(0.5).unwrap_or(0) as f64 / 1000.0;
        let p99 = histogram.quantile_bucket(0.99).unwrap_or(0) as f64 / 1000.0;
        assert!((p50 - 20.0).abs() < 0.5, "p50 {p50}");
        assert!((p99 - 100.0).abs() < 4.0, "p99 {p99}");
    }

    #[test]
    fn reports_depend_on_the_seed_only() {
        let stable = Behaviour::new(0.01, 20.0, 100.0);
        let scenario = Scenario::new(
            "small",
            20.0,
            20.0,
            Behaviour { error_rate: 0.2, ..stable },
            stable,
            Duration::from_secs(60),
        );
        let a = simulate(&scenario, 20, 42);
        let b = simulate(&scenario, 20, 42);
        assert_eq!(a, b);
        assert_eq!(a.shipgate.failed, 20, "{a:?}");
        let table = render_table(&[a]);
        assert!(table.starts_with("| scenario | rule |"), "{table}");
        assert_eq!(table.lines().count(), 4);
    }

    #[test]
    fn spreads_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(spread(values), Some(Spread { median: 50.0, p95: 95.0 }));
        assert_eq!(spread(vec![]), None);
        assert_eq!(spread(vec![3.0]), Some(Spread { median: 3.0, p95: 3.0 }));
    }
}
