//! The verdict of one hold: a state machine fed with cumulative snapshots at each look.
//!
//! ```text
//!            observe(look) ──► any check's evidence ≥ its threshold ──► Fail (at once, any look)
//!  Pending ──┤
//!            └─ look.at ≥ hold.end ──► every check ruled out a large regression ──► Pass
//!                                      otherwise ──────────────────────────────► Inconclusive
//! ```
//!
//! A lack of data never fails: without requests no e-value moves.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::{Config, MetricRule};
use crate::counts::{Counts, Histogram};
use crate::evalue::{OneSample, Tally, TwoSample};
use crate::providers::Reading;

/// The stable version's latency share above its own p95 is 5% when both are alike.
const STABLE_QUANTILE: f64 = 0.95;

/// The stable version's running p95 is used once it rests on this many requests (so that
/// its slowest 5% is at least one request).
const MIN_STABLE_FOR_P95: u64 = 20;

/// A baseline (bake) must hold this many requests to be compared with.
const MIN_BASELINE: u64 = 100;

/// The hold being judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// What the new version is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reference {
    /// Nothing: only the absolute limits and metrics (`compare = "none"`, or no stable version).
    None,
    /// The stable version serving beside it: its snapshot at the start of the hold; each
    /// look brings its current one.
    Stable(Counts),
    /// Fixed figures: the previous release's counts over a window before the deployment, for
    /// the bake after full promotion, when no other version serves beside the new one.
    Baseline(Counts),
}

/// One look: cumulative snapshots taken now, and any metric readings taken since the last look.
#[derive(Debug, Clone, Copy)]
pub struct Look<'a> {
    pub at: Timestamp,
    pub canary: &'a Counts,
    /// The stable version's snapshot, with [`Reference::Stable`].
    pub stable: Option<&'a Counts>,
    pub metrics: &'a [MetricReading],
}

/// A metric provider's answer, by the metric's name in `shipgate.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricReading {
    pub name: String,
    pub at: Timestamp,
    /// The reading, or why there is none (a query error is no data, never a failure).
    pub result: Result<Reading, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The hold goes on.
    Pending,
    /// The hold ended and every check has its evidence that the new version is fine.
    Pass,
    /// A check found enough evidence of a regression.
    Fail,
    /// The hold ended without enough data to pass or fail.
    Inconclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Pass,
    Fail,
}

/// What a check measures in each batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Measure {
    /// Errors among requests.
    Errors,
    /// Requests slower than the stable version's p95 over the hold so far.
    SlowerThanStable,
    /// Requests slower than a fixed bound (µs).
    SlowerThan(u64),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Test {
    /// New version against the stable one: `fail` tests `p_new ≤ p_stable + min effect`,
    /// `pass` tests `p_stable ≤ p_new − margin` (the new version much worse).
    Compare { fail: TwoSample, pass: TwoSample },
    /// New version against a bound: `fail` tests `p ≤ bound`, `pass` tests
    /// `p ≥ pass_bound` (on the complement: `1 − p ≤ 1 − pass_bound`).
    Bound { fail: OneSample, pass: OneSample, bound: f64, pass_bound: f64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Check {
    name: String,
    /// What a failure of this check means, in words.
    fails_if: String,
    measure: Measure,
    test: Test,
    canary: Tally,
    reference: Option<Tally>,
    status: Status,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MetricCheck {
    rule: MetricRule,
    readings: u64,
    in_range: u64,
    last_value: Option<f64>,
    last_detail: Option<String>,
    last_error: Option<String>,
    status: Status,
}

/// Judges one hold. Serializable, so the server can store it with the deployment and carry
/// it across a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Judge {
    config: Config,
    hold: Hold,
    reference: Reference,
    canary_seen: Counts,
    stable_seen: Option<Counts>,
    /// The stable version's latency within the hold so far, for its running p95.
    stable_window: Histogram,
    checks: Vec<Check>,
    metrics: Vec<MetricCheck>,
    /// `ln(k / α)` for `k` statistical checks (Bonferroni).
    threshold: f64,
    verdict: Verdict,
    decided_at: Option<Timestamp>,
    last_look: Option<Timestamp>,
    looks: u64,
    notes: Vec<String>,
}

/// Everything the verdict rests on, for the deployment record, the ledger and people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub verdict: Verdict,
    /// One line for people.
    pub summary: String,
    pub hold: Hold,
    /// The time of the last look: the data span `hold.start..window_end`.
    pub window_end: Option<Timestamp>,
    pub decided_at: Option<Timestamp>,
    pub false_positive_rate: f64,
    pub looks: u64,
    pub checks: Vec<CheckEvidence>,
    /// Why a comparison could not run, and the like.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One check's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckEvidence {
    /// `errors_vs_stable`, `latency_vs_stable`, `errors_vs_baseline`, `latency_vs_baseline`,
    /// `error_rate_max`, `p50_max`, `p95_max`, `p99_max`, or `metric:NAME`.
    pub name: String,
    pub status: Status,
    pub fails_if: String,
    /// Events (errors or slow requests) among the new version's requests in the hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Tally>,
    /// The same for the stable version (or the baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Tally>,
    /// `ln` of the e-value against "no regression": the check fails when it reaches `threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Always-valid p-value: `min(1, 1 / largest e-value so far)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// `ln` of the e-value against "a large regression": the check passes when it reaches
    /// `threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_statistic: Option<f64>,
    /// A metric's last value, and the provider's detail (command output, query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn percent(share: f64) -> String {
    let points = share * 100.0;
    if points != 0.0 && points.abs() < 0.1 { format!("{points:.3}%") } else { format!("{points:.2}%") }
}

fn points(share: f64) -> String {
    let points = share * 100.0;
    let text = format!("{points:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} percentage point{}", if points == 1.0 { "" } else { "s" })
}

fn millis(micros: u64) -> String {
    let ms = micros as f64 / 1000.0;
    if ms >= 100.0 { format!("{ms:.0}ms") } else { format!("{ms:.1}ms") }
}

/// JSON has no infinity: an impossible event under the null is the largest finite evidence.
fn finite(value: f64) -> f64 {
    if value.is_nan() { 0.0 } else { value.clamp(-f64::MAX, f64::MAX) }
}

impl Judge {
    /// Starts judging a hold. `canary_at_start` is the new version's snapshot when the hold
    /// started; with [`Reference::Stable`] the stable version's is inside it.
    pub fn new(config: Config, hold: Hold, canary_at_start: Counts, reference: Reference) -> Judge {
        let mut notes = Vec::new();
        let mut checks = Vec::new();
        let min_effect = config.min_effect;
        let margin = config.pass_margin.max(1.0);
        let (stable_seen, reference) = match reference {
            Reference::Stable(start) if config.compare => (Some(start.clone()), Reference::Stable(start)),
            Reference::Baseline(baseline) if config.compare && baseline.requests < MIN_BASELINE => {
                notes.push(format!(
                    "no comparison with the baseline: it holds {} requests, fewer than {MIN_BASELINE}",
                    baseline.requests
                ));
                (None, Reference::None)
            }
            Reference::Baseline(baseline) if config.compare => (None, Reference::Baseline(baseline)),
            Reference::None if config.compare => {
                notes.push("no comparison: no stable version serves beside the new one".to_owned());
                (None, Reference::None)
            }
            _ => (None, Reference::None),
        };
        let compare = |shift: f64, pass_shift: f64| Test::Compare {
            fail: TwoSample::new(shift),
            pass: TwoSample::new(-pass_shift),
        };
        match &reference {
            Reference::Stable(_) => {
                checks.push(Check::new(
                    "errors_vs_stable",
                    format!(
                        "the new version's error rate is more than {} above the stable version's",
                        points(min_effect.error_rate)
                    ),
                    Measure::Errors,
                    compare(min_effect.error_rate, margin * min_effect.error_rate),
                ));
                checks.push(Check::new(
                    "latency_vs_stable",
                    format!(
                        "more of the new version's requests are slower than the stable version's p95 than of the stable version's, by over {}",
                        points(min_effect.latency)
                    ),
                    Measure::SlowerThanStable,
                    compare(min_effect.latency, margin * min_effect.latency),
                ));
            }
            Reference::Baseline(baseline) => {
                let base_rate = baseline.errors as f64 / baseline.requests as f64;
                checks.push(Check::bound(
                    "errors_vs_baseline",
                    format!(
                        "the new version's error rate is more than {} above the previous release's {} before the deployment",
                        points(min_effect.error_rate),
                        percent(base_rate)
                    ),
                    Measure::Errors,
                    base_rate + min_effect.error_rate,
                    base_rate + margin * min_effect.error_rate,
                ));
                match baseline.latency.quantile_bucket(STABLE_QUANTILE) {
                    Some(p95) if baseline.latency.count() >= MIN_STABLE_FOR_P95 => {
                        let slow = baseline.latency.count_from(p95 + 1) as f64 / baseline.latency.count() as f64;
                        checks.push(Check::bound(
                            "latency_vs_baseline",
                            format!(
                                "the share of the new version's requests slower than {} (the previous release's p95) is more than {} above the previous release's {}",
                                millis(p95),
                                points(min_effect.latency),
                                percent(slow)
                            ),
                            Measure::SlowerThan(p95 + 1),
                            slow + min_effect.latency,
                            slow + margin * min_effect.latency,
                        ));
                    }
                    _ => notes.push("no latency comparison with the baseline: it has too few requests".to_owned()),
                }
            }
            Reference::None => {}
        }
        if let Some(max) = config.error_rate_max {
            checks.push(Check::bound(
                "error_rate_max",
                format!("the new version's error rate is above {}", percent(max)),
                Measure::Errors,
                max,
                Check::pass_bound(max, min_effect.error_rate),
            ));
        }
        for limit in &config.latency_max {
            let allowed = 1.0 - limit.quantile;
            checks.push(Check::bound(
                &limit.name,
                format!(
                    "more than {} of the new version's requests take longer than {}",
                    percent(allowed),
                    millis(limit.max_us)
                ),
                Measure::SlowerThan(limit.max_us),
                allowed,
                Check::pass_bound(allowed, allowed),
            ));
        }
        let tests = checks.len().max(1) as f64;
        let alpha = config.false_positive_rate.clamp(f64::MIN_POSITIVE, 1.0);
        let metrics = config
            .metrics
            .iter()
            .map(|rule| MetricCheck {
                rule: rule.clone(),
                readings: 0,
                in_range: 0,
                last_value: None,
                last_detail: None,
                last_error: None,
                status: Status::Pending,
            })
            .collect();
        Judge {
            threshold: (tests / alpha).ln(),
            config,
            hold,
            reference,
            canary_seen: canary_at_start,
            stable_seen,
            stable_window: Histogram::default(),
            checks,
            metrics,
            verdict: Verdict::Pending,
            decided_at: None,
            last_look: None,
            looks: 0,
            notes,
        }
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    pub fn hold(&self) -> Hold {
        self.hold
    }

    /// Takes one look: the batch since the previous look updates every check. Returns the
    /// verdict, which stays fixed once it is not [`Verdict::Pending`].
    pub fn observe(&mut self, look: Look<'_>) -> Verdict {
        if self.verdict != Verdict::Pending {
            return self.verdict;
        }
        let canary = look.canary.since(&self.canary_seen);
        self.canary_seen = look.canary.clone();
        let stable = match (&self.reference, look.stable, &self.stable_seen) {
            (Reference::Stable(_), Some(now), Some(seen)) => {
                let batch = now.since(seen);
                self.stable_seen = Some(now.clone());
                Some(batch)
            }
            _ => None,
        };
        self.observe_window(look.at, &canary, stable.as_ref(), look.metrics)
    }

    /// Like [`Judge::observe`], for a caller that already has the counts of the window since
    /// its previous look (the simulator) instead of cumulative snapshots.
    pub fn observe_window(
        &mut self,
        at: Timestamp,
        canary: &Counts,
        stable: Option<&Counts>,
        metrics: &[MetricReading],
    ) -> Verdict {
        if self.verdict != Verdict::Pending {
            return self.verdict;
        }
        self.looks += 1;
        self.last_look = Some(at);
        let stable = stable.filter(|_| matches!(self.reference, Reference::Stable(_)));
        let stable_p95 = (self.stable_window.count() >= MIN_STABLE_FOR_P95)
            .then(|| self.stable_window.quantile_bucket(STABLE_QUANTILE))
            .flatten();
        for check in &mut self.checks {
            check.update(canary, stable, stable_p95);
        }
        if let Some(stable) = stable {
            self.stable_window.add(&stable.latency);
        }
        for reading in metrics {
            if let Some(metric) = self.metrics.iter_mut().find(|metric| metric.rule.name == reading.name) {
                metric.update(reading);
            }
        }
        let threshold = self.threshold;
        let mut failed = false;
        for check in &mut self.checks {
            failed |= check.decide(threshold);
        }
        failed |= self.metrics.iter().any(|metric| metric.status == Status::Fail);
        if failed {
            self.verdict = Verdict::Fail;
        } else if at >= self.hold.end {
            let all_passed = self.checks.iter().all(|check| check.status == Status::Pass)
                && self.metrics.iter().all(|metric| metric.status == Status::Pass);
            self.verdict = if all_passed { Verdict::Pass } else { Verdict::Inconclusive };
        }
        if self.verdict != Verdict::Pending {
            self.decided_at = Some(at);
        }
        self.verdict
    }

    /// The evidence so far (or the final evidence, once decided).
    pub fn evidence(&self) -> Evidence {
        let mut checks: Vec<CheckEvidence> = self.checks.iter().map(|check| check.evidence(self.threshold)).collect();
        checks.extend(self.metrics.iter().map(MetricCheck::evidence));
        Evidence {
            verdict: self.verdict,
            summary: self.summary(),
            hold: self.hold,
            window_end: self.last_look,
            decided_at: self.decided_at,
            false_positive_rate: self.config.false_positive_rate,
            looks: self.looks,
            checks,
            notes: self.notes.clone(),
        }
    }

    fn summary(&self) -> String {
        let threshold_e = self.threshold.exp();
        match self.verdict {
            Verdict::Fail => {
                let mut reasons: Vec<String> = self
                    .checks
                    .iter()
                    .filter(|check| check.status == Status::Fail)
                    .map(|check| check.describe_failure(threshold_e))
                    .collect();
                reasons.extend(
                    self.metrics
                        .iter()
                        .filter(|metric| metric.status == Status::Fail)
                        .map(|metric| format!("`metric:{}`: {}", metric.rule.name, metric.describe())),
                );
                format!("fail: {}", reasons.join("; "))
            }
            Verdict::Pass if self.checks.is_empty() && self.metrics.is_empty() => {
                "pass: nothing to judge (no comparison, no limits, no metrics)".to_owned()
            }
            Verdict::Pass => format!(
                "pass: the new version served {} requests in the hold and every check ruled out a large regression",
                self.canary_requests()
            ),
            Verdict::Inconclusive => {
                let missing: Vec<String> = self
                    .checks
                    .iter()
                    .filter(|check| check.status != Status::Pass)
                    .map(|check| format!("`{}`", check.name))
                    .chain(
                        self.metrics
                            .iter()
                            .filter(|metric| metric.status != Status::Pass)
                            .map(|metric| format!("`metric:{}`", metric.rule.name)),
                    )
                    .collect();
                format!(
                    "inconclusive: the hold ended after {} requests to the new version, too few for {}",
                    self.canary_requests(),
                    missing.join(", ")
                )
            }
            Verdict::Pending => format!("pending: {} requests to the new version so far", self.canary_requests()),
        }
    }

    fn canary_requests(&self) -> u64 {
        self.checks.iter().map(|check| check.canary.trials).max().unwrap_or(0)
    }
}

impl Check {
    fn new(name: &str, fails_if: String, measure: Measure, test: Test) -> Check {
        Check {
            name: name.to_owned(),
            fails_if,
            measure,
            test,
            canary: Tally::default(),
            reference: None,
            status: Status::Pending,
        }
    }

    fn bound(name: &str, fails_if: String, measure: Measure, bound: f64, pass_bound: f64) -> Check {
        let pass_bound = pass_bound.min(1.0);
        Check::new(
            name,
            fails_if,
            measure,
            Test::Bound { fail: OneSample::new(bound), pass: OneSample::new(1.0 - pass_bound), bound, pass_bound },
        )
    }

    /// The share a limit's pass rules out: twice the allowed share (at least `allowed +
    /// step`), and no more than halfway to 1.
    fn pass_bound(allowed: f64, step: f64) -> f64 {
        (2.0 * allowed).max(allowed + step).min((1.0 + allowed) / 2.0)
    }

    fn update(&mut self, canary: &Counts, stable: Option<&Counts>, stable_p95: Option<u64>) {
        let tally = |counts: &Counts| match self.measure {
            Measure::Errors => Some(Tally::new(counts.errors, counts.requests)),
            Measure::SlowerThan(bound) => Some(Tally::new(counts.latency.count_from(bound), counts.latency.count())),
            Measure::SlowerThanStable => {
                stable_p95.map(|p95| Tally::new(counts.latency.count_from(p95 + 1), counts.latency.count()))
            }
        };
        let Some(new) = tally(canary) else { return };
        match &mut self.test {
            Test::Compare { fail, pass } => {
                let Some(reference) = stable.and_then(tally) else { return };
                fail.update(new, reference);
                pass.update(reference, new);
                self.canary = fail.totals().0;
                self.reference = Some(fail.totals().1);
            }
            Test::Bound { fail, pass, .. } => {
                fail.update(new);
                pass.update(Tally::new(new.trials - new.events, new.trials));
                self.canary = fail.totals();
            }
        }
    }

    /// Settles the status at this look; true when the check failed.
    fn decide(&mut self, threshold: f64) -> bool {
        let (fail, pass) = self.statistics();
        if fail >= threshold {
            self.status = Status::Fail;
        } else if pass >= threshold && self.status != Status::Fail {
            self.status = Status::Pass;
        }
        self.status == Status::Fail
    }

    /// `(ln e against "no regression", ln e against "a large regression")`.
    fn statistics(&self) -> (f64, f64) {
        match &self.test {
            Test::Compare { fail, pass } => (fail.log_e(), pass.max_log_e()),
            Test::Bound { fail, pass, .. } => (fail.log_e(), pass.max_log_e()),
        }
    }

    fn max_statistic(&self) -> f64 {
        match &self.test {
            Test::Compare { fail, .. } => fail.max_log_e(),
            Test::Bound { fail, .. } => fail.max_log_e(),
        }
    }

    fn evidence(&self, threshold: f64) -> CheckEvidence {
        let (statistic, pass_statistic) = self.statistics();
        CheckEvidence {
            name: self.name.clone(),
            status: self.status,
            fails_if: self.fails_if.clone(),
            canary: Some(self.canary),
            reference: self.reference,
            statistic: Some(finite(statistic)),
            threshold: Some(threshold),
            p_value: Some((-self.max_statistic()).exp().min(1.0)),
            pass_statistic: Some(finite(pass_statistic)),
            value: None,
            detail: None,
        }
    }

    fn describe_failure(&self, threshold_e: f64) -> String {
        let (statistic, _) = self.statistics();
        let evidence = if statistic.is_finite() && statistic < 700.0 {
            format!("evidence {:.0} ≥ {:.0}, p = {:.2e}", statistic.exp(), threshold_e, (-statistic).exp())
        } else {
            format!("evidence beyond {threshold_e:.0}")
        };
        let what = match self.measure {
            Measure::Errors => "failed",
            _ => "was slow in",
        };
        let share = |tally: Tally| {
            format!("{} of {} requests ({})", tally.events, tally.trials, percent(tally.rate().unwrap_or(0.0)))
        };
        match self.reference {
            Some(reference) => format!(
                "`{}`: the new version {what} {}, the stable version {}: {} ({evidence})",
                self.name,
                share(self.canary),
                share(reference),
                self.fails_if
            ),
            None => format!(
                "`{}`: the new version {what} {}: {} ({evidence})",
                self.name,
                share(self.canary),
                self.fails_if
            ),
        }
    }
}

impl MetricCheck {
    fn update(&mut self, reading: &MetricReading) {
        match &reading.result {
            Err(error) => self.last_error = Some(error.clone()),
            Ok(reading) => {
                self.readings += 1;
                self.last_value = reading.value;
                self.last_detail = Some(reading.detail.clone());
                let below = matches!((reading.value, self.rule.min), (Some(value), Some(min)) if value < min);
                let above = matches!((reading.value, self.rule.max), (Some(value), Some(max)) if value > max);
                let ranged = self.rule.min.is_some() || self.rule.max.is_some();
                let refused = reading.ok == Some(false);
                if below || above || refused {
                    self.status = Status::Fail;
                } else if reading.ok == Some(true) || (ranged && reading.value.is_some()) {
                    self.in_range += 1;
                    if self.status == Status::Pending {
                        self.status = Status::Pass;
                    }
                }
            }
        }
    }

    fn describe(&self) -> String {
        let range = match (self.rule.min, self.rule.max) {
            (Some(min), Some(max)) => format!("outside [{min}, {max}]"),
            (Some(min), None) => format!("below {min}"),
            (None, Some(max)) => format!("above {max}"),
            (None, None) => "a failed check".to_owned(),
        };
        match self.last_value {
            Some(value) => format!("the value {value} is {range}"),
            None => format!("the check failed: {}", self.last_detail.as_deref().unwrap_or("no detail")),
        }
    }

    fn evidence(&self) -> CheckEvidence {
        let bounds = match (self.rule.min, self.rule.max) {
            (Some(min), Some(max)) => format!("the value leaves [{min}, {max}]"),
            (Some(min), None) => format!("the value falls below {min}"),
            (None, Some(max)) => format!("the value rises above {max}"),
            (None, None) => "the check reports a failure".to_owned(),
        };
        CheckEvidence {
            name: format!("metric:{}", self.rule.name),
            status: self.status,
            fails_if: bounds,
            canary: None,
            reference: None,
            statistic: None,
            threshold: None,
            p_value: None,
            pass_statistic: None,
            value: self.last_value,
            detail: match (&self.last_detail, &self.last_error) {
                (Some(detail), _) => Some(detail.clone()),
                (None, Some(error)) => Some(format!("no reading: {error}")),
                (None, None) => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::LatencyLimit;
    use crate::providers::Reading;

    fn at(secs: f64) -> Timestamp {
        Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_secs_f64(secs)
    }

    fn hold(secs: f64) -> Hold {
        Hold { start: at(0.0), end: at(secs) }
    }

    /// A window of `requests` with `errors`, latencies spread evenly over `ms` (each request
    /// at one of the given latencies, round robin).
    fn window(requests: u64, errors: u64, ms: &[u64]) -> Counts {
        let values = (0..requests).map(|i| ms[i as usize % ms.len()] * 1000);
        Counts { requests, errors, latency: Histogram::of_values(values) }
    }

    /// Twenty latencies: 19 fast, one at 100 ms, so exactly 5% are above the p95 bucket.
    const STABLE_MS: [u64; 20] = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 100];

    fn run(judge: &mut Judge, looks: u32, every: f64, canary: &Counts, stable: &Counts) -> (Verdict, u32) {
        for look in 1..=looks {
            let verdict = judge.observe_window(at(f64::from(look) * every), canary, Some(stable), &[]);
            if verdict != Verdict::Pending {
                return (verdict, look);
            }
        }
        (judge.verdict(), looks)
    }

    #[test]
    fn a_clear_regression_fails_within_seconds_with_its_evidence() {
        let mut judge =
            Judge::new(Config::default(), hold(60.0), Counts::default(), Reference::Stable(Counts::default()));
        let canary = window(50, 3, &STABLE_MS); // 6% errors
        let stable = window(950, 10, &STABLE_MS); // ~1%
        let (verdict, look) = run(&mut judge, 120, 0.5, &canary, &stable);
        assert_eq!(verdict, Verdict::Fail);
        assert!(look <= 10, "failed at look {look}");
        let evidence = judge.evidence();
        assert_eq!(evidence.verdict, Verdict::Fail);
        assert!(
            evidence.summary.starts_with("fail: `errors_vs_stable`: the new version failed"),
            "{}",
            evidence.summary
        );
        let errors = &evidence.checks[0];
        assert_eq!((errors.name.as_str(), errors.status), ("errors_vs_stable", Status::Fail));
        assert_eq!(errors.canary, Some(Tally::new(3 * u64::from(look), 50 * u64::from(look))));
        assert!(errors.statistic.unwrap() >= errors.threshold.unwrap());
        assert!((errors.threshold.unwrap() - 200f64.ln()).abs() < 1e-12, "α = 1% split over two checks");
        assert!(errors.p_value.unwrap() <= 0.005);
        assert_ne!(evidence.checks[1].status, Status::Fail, "latency is alike");
        // The evidence is stored as JSON and read back.
        let json = serde_json::to_string(&evidence).unwrap();
        assert_eq!(serde_json::from_str::<Evidence>(&json).unwrap(), evidence);
        assert_eq!(evidence.decided_at, Some(at(f64::from(look) * 0.5)));
        // Decided is decided.
        assert_eq!(judge.observe_window(at(100.0), &canary, Some(&stable), &[]), Verdict::Fail);
    }

    #[test]
    fn a_version_like_the_stable_one_passes_at_the_end_of_the_hold() {
        let mut judge =
            Judge::new(Config::default(), hold(30.0), Counts::default(), Reference::Stable(Counts::default()));
        let canary = window(100, 1, &STABLE_MS);
        let stable = window(1900, 19, &STABLE_MS);
        let (verdict, look) = run(&mut judge, 60, 0.5, &canary, &stable);
        assert_eq!((verdict, look), (Verdict::Pass, 60), "{}", judge.evidence().summary);
        assert!(judge.evidence().checks.iter().all(|check| check.status == Status::Pass));
        assert!(judge.evidence().summary.starts_with("pass: the new version served 6000 requests"));
    }

    #[test]
    fn no_data_never_fails_and_ends_inconclusive() {
        let mut judge =
            Judge::new(Config::default(), hold(60.0), Counts::default(), Reference::Stable(Counts::default()));
        let nothing = Counts::default();
        let stable = window(1900, 19, &STABLE_MS);
        let (verdict, look) = run(&mut judge, 120, 0.5, &nothing, &stable);
        assert_eq!((verdict, look), (Verdict::Inconclusive, 120));
        let summary = judge.evidence().summary;
        assert!(summary.contains("after 0 requests") && summary.contains("`errors_vs_stable`"), "{summary}");
        // One request a second, every one of them fine: still too few to rule out a regression.
        let mut judge =
            Judge::new(Config::default(), hold(60.0), Counts::default(), Reference::Stable(Counts::default()));
        let trickle = window(1, 0, &[15]);
        let (verdict, _) = run(&mut judge, 60, 1.0, &trickle, &window(19, 0, &STABLE_MS));
        assert_eq!(verdict, Verdict::Inconclusive);
    }

    /// A 0.01 percentage-point difference is inside the minimum effect: it never fails,
    /// however much data arrives.
    #[test]
    fn a_difference_below_the_minimum_effect_never_fails() {
        let mut judge =
            Judge::new(Config::default(), hold(3600.0), Counts::default(), Reference::Stable(Counts::default()));
        let canary = window(1_000_000, 10_100, &[15]); // 1.01%
        let stable = window(1_000_000, 10_000, &[15]); // 1.00%
        let (verdict, _) = run(&mut judge, 3600, 1.0, &canary, &stable);
        assert_eq!(verdict, Verdict::Pass, "{}", judge.evidence().summary);
        assert!(judge.evidence().checks[0].p_value.unwrap() == 1.0);
    }

    #[test]
    fn slower_requests_fail_the_latency_comparison() {
        let mut judge =
            Judge::new(Config::default(), hold(60.0), Counts::default(), Reference::Stable(Counts::default()));
        // A quarter of the new version's requests take 100 ms, where 5% of the stable's do.
        let canary = window(100, 0, &[10, 12, 14, 100]);
        let stable = window(1900, 0, &STABLE_MS);
        let (verdict, look) = run(&mut judge, 120, 0.5, &canary, &stable);
        assert_eq!(verdict, Verdict::Fail);
        assert!(look <= 10, "{look}");
        let evidence = judge.evidence();
        let latency = evidence.checks.iter().find(|check| check.name == "latency_vs_stable").unwrap();
        assert_eq!(latency.status, Status::Fail);
        assert!(evidence.summary.contains("was slow in"), "{}", evidence.summary);
    }

    #[test]
    fn absolute_limits_fail_and_pass() {
        let config = Config {
            compare: false,
            error_rate_max: Some(0.02),
            latency_max: vec![LatencyLimit { name: "p99_max".to_owned(), quantile: 0.99, max_us: 50_000 }],
            ..Config::default()
        };
        // 5% errors against a 2% limit.
        let mut judge = Judge::new(config.clone(), hold(60.0), Counts::default(), Reference::None);
        let (verdict, _) = run(&mut judge, 120, 0.5, &window(100, 5, &[10, 20, 30]), &Counts::default());
        assert_eq!(verdict, Verdict::Fail);
        assert!(judge.evidence().summary.contains("`error_rate_max`"), "{}", judge.evidence().summary);
        // 5% of requests at 100 ms against "p99 under 50 ms".
        let mut judge = Judge::new(config.clone(), hold(60.0), Counts::default(), Reference::None);
        let (verdict, _) = run(&mut judge, 120, 0.5, &window(100, 0, &STABLE_MS), &Counts::default());
        assert_eq!(verdict, Verdict::Fail);
        assert!(judge.evidence().summary.contains("`p99_max`"), "{}", judge.evidence().summary);
        // Within both: pass at the end.
        let mut judge = Judge::new(config, hold(60.0), Counts::default(), Reference::None);
        let (verdict, _) = run(&mut judge, 120, 0.5, &window(100, 0, &[10, 20, 30]), &Counts::default());
        assert_eq!(verdict, Verdict::Pass, "{}", judge.evidence().summary);
        assert!(judge.evidence().notes.is_empty());
    }

    #[test]
    fn without_a_stable_version_only_limits_judge() {
        let judge = Judge::new(Config::default(), hold(60.0), Counts::default(), Reference::None);
        let evidence = judge.evidence();
        assert!(evidence.checks.is_empty());
        assert_eq!(evidence.notes, ["no comparison: no stable version serves beside the new one"]);
        let mut judge = judge;
        assert_eq!(judge.observe_window(at(60.0), &window(10, 0, &[10]), None, &[]), Verdict::Pass);
        assert!(judge.evidence().summary.contains("nothing to judge"));
    }

    fn reading(name: &str, value: Option<f64>, ok: Option<bool>) -> MetricReading {
        MetricReading {
            name: name.to_owned(),
            at: at(1.0),
            result: Ok(Reading { value, ok, detail: format!("{name} read"), counts: None }),
        }
    }

    #[test]
    fn metrics_fail_out_of_range_and_need_a_reading_to_pass() {
        let config = Config {
            compare: false,
            metrics: vec![
                MetricRule { name: "success".to_owned(), min: Some(0.99), max: None },
                MetricRule { name: "smoke".to_owned(), min: None, max: None },
            ],
            ..Config::default()
        };
        let empty = Counts::default();
        let mut judge = Judge::new(config.clone(), hold(10.0), Counts::default(), Reference::None);
        judge.observe_window(
            at(1.0),
            &empty,
            None,
            &[reading("success", Some(0.995), None), reading("smoke", None, Some(true))],
        );
        assert_eq!(judge.observe_window(at(10.0), &empty, None, &[]), Verdict::Pass);
        let mut judge = Judge::new(config.clone(), hold(10.0), Counts::default(), Reference::None);
        assert_eq!(judge.observe_window(at(1.0), &empty, None, &[reading("success", Some(0.9), None)]), Verdict::Fail);
        assert!(
            judge.evidence().summary.contains("`metric:success`: the value 0.9 is below 0.99"),
            "{}",
            judge.evidence().summary
        );
        let mut judge = Judge::new(config.clone(), hold(10.0), Counts::default(), Reference::None);
        assert_eq!(judge.observe_window(at(1.0), &empty, None, &[reading("smoke", None, Some(false))]), Verdict::Fail);
        // A provider that cannot answer is no data: inconclusive, never a failure.
        let mut judge = Judge::new(config, hold(10.0), Counts::default(), Reference::None);
        let broken =
            MetricReading { name: "success".to_owned(), at: at(1.0), result: Err("connection refused".to_owned()) };
        judge.observe_window(at(1.0), &empty, None, &[broken, reading("smoke", None, Some(true))]);
        assert_eq!(judge.observe_window(at(10.0), &empty, None, &[]), Verdict::Inconclusive);
        let evidence = judge.evidence();
        assert_eq!(evidence.checks[0].detail.as_deref(), Some("no reading: connection refused"));
    }

    #[test]
    fn a_bake_compares_with_the_previous_releases_figures() {
        let baseline = window(100_000, 1_000, &STABLE_MS);
        let mut judge =
            Judge::new(Config::default(), hold(60.0), Counts::default(), Reference::Baseline(baseline.clone()));
        let names: Vec<String> = judge.evidence().checks.iter().map(|check| check.name.clone()).collect();
        assert_eq!(names, ["errors_vs_baseline", "latency_vs_baseline"]);
        let (verdict, _) = run(&mut judge, 120, 0.5, &window(200, 10, &STABLE_MS), &Counts::default());
        assert_eq!(verdict, Verdict::Fail, "5% against the baseline's 1%");
        let mut judge = Judge::new(Config::default(), hold(60.0), Counts::default(), Reference::Baseline(baseline));
        let (verdict, _) = run(&mut judge, 120, 0.5, &window(200, 2, &STABLE_MS), &Counts::default());
        assert_eq!(verdict, Verdict::Pass, "{}", judge.evidence().summary);
        let small =
            Judge::new(Config::default(), hold(60.0), Counts::default(), Reference::Baseline(window(10, 0, &[1])));
        assert!(small.evidence().checks.is_empty() && small.evidence().notes[0].contains("fewer than 100"));
    }

    /// The executor's use: cumulative snapshots, the judge stored as JSON between looks
    /// (a server restart), and an agent restart that resets the counters.
    #[test]
    fn cumulative_snapshots_survive_a_stored_judge_and_an_agent_restart() {
        let mut judge = Judge::new(
            Config::default(),
            hold(30.0),
            window(500, 5, &[10]),
            Reference::Stable(window(5000, 50, &[10])),
        );
        let (mut canary, mut stable) = (window(500, 5, &[10]), window(5000, 50, &STABLE_MS));
        for look in 1..=60 {
            if look == 30 {
                // The agent restarted: both counters start again from zero.
                canary = Counts::default();
                stable = Counts::default();
            }
            canary.add(&window(50, 3, &STABLE_MS));
            stable.add(&window(950, 9, &STABLE_MS));
            let stored = serde_json::to_string(&judge).unwrap();
            judge = serde_json::from_str(&stored).unwrap();
            let verdict = judge.observe(Look {
                at: at(f64::from(look) * 0.5),
                canary: &canary,
                stable: Some(&stable),
                metrics: &[],
            });
            if verdict != Verdict::Pending {
                break;
            }
        }
        assert_eq!(judge.verdict(), Verdict::Fail);
        let errors = &judge.evidence().checks[0];
        assert_eq!(
            errors.canary.unwrap().events * 50,
            errors.canary.unwrap().trials * 3,
            "only the hold's requests count"
        );
    }
}
