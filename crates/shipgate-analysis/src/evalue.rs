//! The sequential tests: e-processes for proportions, valid at every look.
//!
//! Each look brings a batch of Bernoulli trials (a request failed or not; a request was slow
//! or not). For each batch the test multiplies its running product by an *e-value*: a
//! non-negative number whose expectation is at most 1 whatever the truth inside the null
//! hypothesis. The product is then a non-negative supermartingale under the null, and by
//! Ville's inequality it exceeds `1/α` at *any* look with probability at most `α`. That is
//! what lets the judge look every 500 ms and stop at the first look the evidence suffices.
//!
//! Two tests, derived in the crate README:
//!
//! - [`TwoSample`]: `H0: p_a ≤ p_b + shift` for two streams observed side by side (the new
//!   version `a` against the stable one `b`). Each batch bets on an alternative `(p_a, p_b)`
//!   estimated from earlier batches only; the e-value is the likelihood ratio of that
//!   alternative against its *reverse information projection* onto the null, the null point
//!   closest in batch-weighted Kullback–Leibler divergence. For this null that ratio has
//!   expectation at most 1 under every null point, so the common rate (a nuisance) needs no
//!   estimate and no penalty (Turner, Ly and Grünwald 2024; Grünwald, de Heide and Koolen
//!   2024). With a negative `shift` and the streams swapped it tests the other way, which is
//!   how a hold gathers evidence that the new version is *not* much worse.
//! - [`OneSample`]: `H0: p ≤ bound` for one stream (absolute limits), the same construction
//!   with a known null point.

use serde::{Deserialize, Serialize};

/// Probabilities bet on stay this far from 0 and 1, so every logarithm is finite.
const EDGE: f64 = 1e-9;

/// Events among trials: errors among requests, slow requests among requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub events: u64,
    pub trials: u64,
}

impl Tally {
    pub fn new(events: u64, trials: u64) -> Tally {
        Tally { events: events.min(trials), trials }
    }

    /// The observed share, `None` without trials.
    pub fn rate(self) -> Option<f64> {
        (self.trials > 0).then(|| self.events as f64 / self.trials as f64)
    }

    /// The Krichevsky–Trofimov estimate `(events + ½) / (trials + 1)`: never exactly 0 or 1.
    fn estimate(self) -> f64 {
        (self.events as f64 + 0.5) / (self.trials as f64 + 1.0)
    }

    fn add(&mut self, other: Tally) {
        self.events += other.events;
        self.trials += other.trials;
    }
}

/// `ln( p^x (1-p)^(n-x) / (q^x (1-q)^(n-x)) )` for `x` events in `n` trials.
pub fn log_likelihood_ratio(tally: Tally, p: f64, q: f64) -> f64 {
    let (x, misses) = (tally.events as f64, (tally.trials - tally.events) as f64);
    let mut sum = 0.0;
    if tally.events > 0 {
        sum += x * (p.ln() - q.ln());
    }
    if misses > 0.0 {
        sum += misses * ((-p).ln_1p() - (-q).ln_1p());
    }
    sum
}

/// `(p - r) / (r (1 - r))`: minus the derivative of `KL(p ‖ r)` in `r`; decreasing in `r`.
fn score(p: f64, r: f64) -> f64 {
    (p - r) / (r * (1.0 - r))
}

fn score_slope(p: f64, r: f64) -> f64 {
    let v = r * (1.0 - r);
    -(v + (p - r) * (1.0 - 2.0 * r)) / (v * v)
}

/// The point `(q + shift, q)` of the null's boundary closest to the alternative `(p_a, p_b)`:
/// the `q` minimising `n_a KL(p_a ‖ q + shift) + n_b KL(p_b ‖ q)`, where the derivative
/// `n_a score(p_a, q + shift) + n_b score(p_b, q)` crosses zero. The derivative falls from
/// `+∞` to `-∞` over the boundary, so the root is unique; Newton steps kept inside a
/// shrinking bracket find it.
pub fn null_projection(p_a: f64, p_b: f64, n_a: f64, n_b: f64, shift: f64) -> (f64, f64) {
    let f = |q: f64| n_a * score(p_a, q + shift) + n_b * score(p_b, q);
    let slope = |q: f64| n_a * score_slope(p_a, q + shift) + n_b * score_slope(p_b, q);
    let (mut low, mut high) = ((-shift).max(0.0), (1.0 - shift).min(1.0));
    let pooled = (n_a * (p_a - shift) + n_b * p_b) / (n_a + n_b);
    let inside = |q: f64, low: f64, high: f64| q > low && q < high;
    let mut q = if inside(pooled, low, high) { pooled } else { low + (high - low) / 2.0 };
    for _ in 0..200 {
        let value = f(q);
        if value > 0.0 {
            low = q;
        } else if value < 0.0 {
            high = q;
        } else {
            break;
        }
        let newton = q - value / slope(q);
        let next = if newton.is_finite() && inside(newton, low, high) { newton } else { low + (high - low) / 2.0 };
        if (next - q).abs() <= 1e-14 * q.max(1e-300) || high - low <= 1e-300 {
            q = next;
            break;
        }
        q = next;
    }
    (q + shift, q)
}

/// The log e-value of one batch for `H0: p_a ≤ p_b + shift`, betting on `(alt_a, alt_b)`.
/// Zero (e-value 1: no bet) when the alternative lies inside the null or a stream is empty.
pub fn two_sample_log_e(a: Tally, b: Tally, alt_a: f64, alt_b: f64, shift: f64) -> f64 {
    if a.trials == 0 || b.trials == 0 {
        return 0.0;
    }
    let (alt_a, alt_b) = (alt_a.clamp(EDGE, 1.0 - EDGE), alt_b.clamp(EDGE, 1.0 - EDGE));
    if alt_a <= alt_b + shift + EDGE {
        return 0.0;
    }
    let (null_a, null_b) = null_projection(alt_a, alt_b, a.trials as f64, b.trials as f64, shift);
    if !(0.0..=1.0).contains(&null_a) || !(0.0..=1.0).contains(&null_b) {
        return 0.0;
    }
    log_likelihood_ratio(a, alt_a, null_a) + log_likelihood_ratio(b, alt_b, null_b)
}

/// The log e-value of one batch for `H0: p ≤ bound`, betting on `alt`.
pub fn one_sample_log_e(tally: Tally, alt: f64, bound: f64) -> f64 {
    if tally.trials == 0 || bound >= 1.0 {
        return 0.0;
    }
    let alt = alt.clamp(EDGE, 1.0 - EDGE);
    if alt <= bound {
        return 0.0;
    }
    if bound <= 0.0 {
        // Under `p = 0` a single event is impossible: infinite evidence.
        return if tally.events > 0 { f64::INFINITY } else { tally.trials as f64 * (-alt).ln_1p() };
    }
    log_likelihood_ratio(tally, alt, bound)
}

/// The running e-process for `H0: p_a ≤ p_b + shift`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TwoSample {
    shift: f64,
    log_e: f64,
    max_log_e: f64,
    a: Tally,
    b: Tally,
}

impl TwoSample {
    pub fn new(shift: f64) -> TwoSample {
        TwoSample { shift, log_e: 0.0, max_log_e: 0.0, a: Tally::default(), b: Tally::default() }
    }

    /// Multiplies in one batch's e-value, betting on estimates from the earlier batches.
    pub fn update(&mut self, a: Tally, b: Tally) {
        if self.a.trials > 0 && self.b.trials > 0 {
            let alt_b = self.b.estimate();
            let alt_a = self.a.estimate().max(alt_b + self.shift);
            self.log_e += two_sample_log_e(a, b, alt_a, alt_b, self.shift);
            self.max_log_e = self.max_log_e.max(self.log_e);
        }
        self.a.add(a);
        self.b.add(b);
    }

    /// The natural logarithm of the current e-value.
    pub fn log_e(&self) -> f64 {
        self.log_e
    }

    /// The largest `log_e` so far; the always-valid p-value is `exp(-max_log_e)`.
    pub fn max_log_e(&self) -> f64 {
        self.max_log_e
    }

    pub fn totals(&self) -> (Tally, Tally) {
        (self.a, self.b)
    }
}

/// The running e-process for `H0: p ≤ bound`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneSample {
    bound: f64,
    log_e: f64,
    max_log_e: f64,
    tally: Tally,
}

impl OneSample {
    pub fn new(bound: f64) -> OneSample {
        OneSample { bound, log_e: 0.0, max_log_e: 0.0, tally: Tally::default() }
    }

    pub fn update(&mut self, tally: Tally) {
        if self.tally.trials > 0 {
            self.log_e += one_sample_log_e(tally, self.tally.estimate(), self.bound);
            self.max_log_e = self.max_log_e.max(self.log_e);
        }
        self.tally.add(tally);
    }

    pub fn log_e(&self) -> f64 {
        self.log_e
    }

    pub fn max_log_e(&self) -> f64 {
        self.max_log_e
    }

    pub fn totals(&self) -> Tally {
        self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binomial_pmf(k: u64, n: u64, p: f64) -> f64 {
        if p <= 0.0 || p >= 1.0 {
            let certain = if p <= 0.0 { 0 } else { n };
            return if k == certain { 1.0 } else { 0.0 };
        }
        let mut log = 0.0;
        for i in 0..k {
            log += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
        }
        (log + k as f64 * p.ln() + (n - k) as f64 * (-p).ln_1p()).exp()
    }

    /// `E[e]` under true rates `(q_a, q_b)`, summed exactly over every outcome of the batch.
    fn expected_e(n_a: u64, n_b: u64, alt: (f64, f64), shift: f64, truth: (f64, f64)) -> f64 {
        let mut sum = 0.0;
        for x_a in 0..=n_a {
            for x_b in 0..=n_b {
                let e = two_sample_log_e(Tally::new(x_a, n_a), Tally::new(x_b, n_b), alt.0, alt.1, shift).exp();
                sum += binomial_pmf(x_a, n_a, truth.0) * binomial_pmf(x_b, n_b, truth.1) * e;
            }
        }
        sum
    }

    #[test]
    fn log_likelihood_ratio_by_hand() {
        // 3 events in 10 trials, 0.3 against 0.1: 3 ln 3 + 7 ln(0.7/0.9).
        let by_hand = 3.0 * 3f64.ln() + 7.0 * (0.7f64 / 0.9).ln();
        assert!((log_likelihood_ratio(Tally::new(3, 10), 0.3, 0.1) - by_hand).abs() < 1e-12);
        assert_eq!(log_likelihood_ratio(Tally::new(0, 0), 0.3, 0.1), 0.0);
    }

    #[test]
    fn projection_without_shift_is_the_weighted_average() {
        // For `p_a = p_b` (shift 0) the closest null point is the trial-weighted mean rate
        // (Turner, Ly and Grünwald): (50·0.05 + 950·0.01) / 1000 = 0.012.
        let (a, b) = null_projection(0.05, 0.01, 50.0, 950.0, 0.0);
        assert!((a - 0.012).abs() < 1e-12 && (b - 0.012).abs() < 1e-12, "{a} {b}");
    }

    #[test]
    fn projection_lies_on_the_shifted_boundary_and_zeroes_the_derivative() {
        for (p_a, p_b, n_a, n_b, shift) in [
            (0.05, 0.01, 50.0, 950.0, 0.005),
            (0.5, 0.001, 3.0, 10_000.0, 0.005),
            (0.02, 0.02, 1_000.0, 1_000.0, -0.02),
            (0.9, 0.85, 10.0, 10.0, 0.05),
            (1e-6, 1e-7, 1e6, 1e7, 1e-7),
        ] {
            let (a, b) = null_projection(p_a, p_b, n_a, n_b, shift);
            assert!((a - b - shift).abs() < 1e-12, "{a} {b}");
            let derivative = n_a * score(p_a, a) + n_b * score(p_b, b);
            let scale = n_a * score(p_a, a).abs() + 1.0;
            assert!(derivative.abs() < 1e-6 * scale, "{p_a} {p_b}: {derivative}");
            assert!((0.0..=1.0).contains(&a) && (0.0..=1.0).contains(&b));
        }
    }

    /// The defining property: an e-value's expectation is at most 1 at every point of the
    /// null, and exactly 1 at the projection (so no smaller bet would do).
    #[test]
    fn two_sample_e_values_have_expectation_at_most_one_under_the_null() {
        for (n_a, n_b, alt, shift) in
            [(8, 12, (0.3, 0.1), 0.0), (5, 20, (0.4, 0.05), 0.05), (10, 10, (0.2, 0.3), -0.2), (1, 30, (0.9, 0.2), 0.1)]
        {
            let (null_a, null_b) = null_projection(alt.0, alt.1, n_a as f64, n_b as f64, shift);
            let at_projection = expected_e(n_a, n_b, alt, shift, (null_a, null_b));
            assert!((at_projection - 1.0).abs() < 1e-9, "{at_projection}");
            for q_b in [0.0, 0.01, 0.1, 0.3, 0.5, 0.7, 0.95] {
                for excess in [-0.3, -0.1, 0.0] {
                    let q_a = q_b + shift + excess;
                    if !(0.0..=1.0).contains(&q_a) {
                        continue;
                    }
                    let expectation = expected_e(n_a, n_b, alt, shift, (q_a, q_b));
                    assert!(
                        expectation <= 1.0 + 1e-9,
                        "{n_a} {n_b} {alt:?} {shift}: E = {expectation} at {q_a}, {q_b}"
                    );
                }
            }
        }
    }

    #[test]
    fn two_sample_e_value_by_hand() {
        // Batch: 5 errors in 50 (new), 10 in 950 (stable); bet on (0.05, 0.01) against
        // `p_a ≤ p_b`: the null point is (0.012, 0.012), so
        // ln e = 5 ln(0.05/0.012) + 45 ln(0.95/0.988) + 10 ln(0.01/0.012) + 940 ln(0.99/0.988).
        let by_hand = 5.0 * (0.05f64 / 0.012).ln()
            + 45.0 * (0.95f64 / 0.988).ln()
            + 10.0 * (0.01f64 / 0.012).ln()
            + 940.0 * (0.99f64 / 0.988).ln();
        let log_e = two_sample_log_e(Tally::new(5, 50), Tally::new(10, 950), 0.05, 0.01, 0.0);
        assert!((log_e - by_hand).abs() < 1e-9, "{log_e} vs {by_hand}");
        // No bet when the alternative is inside the null or a stream is empty.
        assert_eq!(two_sample_log_e(Tally::new(5, 50), Tally::new(10, 950), 0.012, 0.01, 0.005), 0.0);
        assert_eq!(two_sample_log_e(Tally::new(5, 50), Tally::new(0, 0), 0.05, 0.01, 0.0), 0.0);
    }

    #[test]
    fn one_sample_e_values() {
        // 4 events in 20, betting 0.2 against p ≤ 0.05: 4 ln 4 + 16 ln(0.8/0.95).
        let by_hand = 4.0 * 4f64.ln() + 16.0 * (0.8f64 / 0.95).ln();
        assert!((one_sample_log_e(Tally::new(4, 20), 0.2, 0.05) - by_hand).abs() < 1e-12);
        assert_eq!(one_sample_log_e(Tally::new(4, 20), 0.04, 0.05), 0.0);
        assert_eq!(one_sample_log_e(Tally::new(1, 20), 0.2, 0.0), f64::INFINITY);
        // Expectation at most 1 for p ≤ bound.
        for truth in [0.0, 0.01, 0.05] {
            let expectation: f64 = (0..=20)
                .map(|x| binomial_pmf(x, 20, truth) * one_sample_log_e(Tally::new(x, 20), 0.2, 0.05).exp())
                .sum();
            assert!(expectation <= 1.0 + 1e-12, "{truth}: {expectation}");
        }
    }

    #[test]
    fn processes_bet_only_on_what_earlier_batches_showed() {
        let mut test = TwoSample::new(0.005);
        test.update(Tally::new(10, 50), Tally::new(10, 950));
        assert_eq!(test.log_e(), 0.0, "the first batch only informs the bet");
        for _ in 0..10 {
            test.update(Tally::new(3, 50), Tally::new(10, 950));
        }
        assert!(test.log_e() > 10.0, "{}", test.log_e());
        assert_eq!(test.totals(), (Tally::new(40, 550), Tally::new(110, 10_450)));
        let mut quiet = TwoSample::new(0.005);
        for _ in 0..20 {
            quiet.update(Tally::new(1, 100), Tally::new(19, 1_900));
        }
        assert!(quiet.log_e() <= 0.0 && quiet.max_log_e() < 1.0, "{}", quiet.log_e());
        let mut limit = OneSample::new(0.01);
        limit.update(Tally::new(5, 100));
        limit.update(Tally::new(5, 100));
        assert!(limit.log_e() > 2.0 && limit.totals() == Tally::new(10, 200));
    }
}
