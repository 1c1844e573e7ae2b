//! Turns `SAMPLE_LATENCY_MS` into a delay per request.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal};

use crate::config::{Latency, MAX_DELAY_MS};

/// The standard normal quantile at 0.99: a log-normal's p99 is
/// `exp(mu + Z99 * sigma)`, so `sigma = ln(p99 / p50) / Z99`.
const Z99: f64 = 2.326_347_874_040_841;

/// A log-normal needs a positive median; a requested median of 0 ms (with a
/// non-zero p99) uses this one instead, so half the requests wait at most 1 ms.
const MIN_MEDIAN_MS: f64 = 1.0;

#[derive(Debug, Clone, Copy)]
pub enum Delay {
    None,
    Fixed(Duration),
    /// Over milliseconds; samples are capped at [`MAX_DELAY_MS`].
    LogNormal(LogNormal<f64>),
}

impl Delay {
    pub fn new(latency: Latency) -> Delay {
        match latency {
            Latency::None => Delay::None,
            Latency::Fixed(d) if d.is_zero() => Delay::None,
            Latency::Fixed(d) => Delay::Fixed(d),
            Latency::Random { p99, .. } if p99.is_zero() => Delay::None,
            Latency::Random { p50, p99 } if p50 == p99 => Delay::Fixed(p50),
            Latency::Random { p50, p99 } => {
                let p50 = (p50.as_secs_f64() * 1000.0).max(MIN_MEDIAN_MS);
                let p99 = (p99.as_secs_f64() * 1000.0).max(p50);
                let sigma = (p99 / p50).ln() / Z99;
                match LogNormal::new(p50.ln(), sigma) {
                    Ok(dist) => Delay::LogNormal(dist),
                    // Unreachable for finite, positive inputs; fall back to the median.
                    Err(_) => Delay::Fixed(Duration::from_secs_f64(p50 / 1000.0)),
                }
            }
        }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match self {
            Delay::None => Duration::ZERO,
            Delay::Fixed(d) => *d,
            Delay::LogNormal(dist) => {
                let ms = dist.sample(rng).min(MAX_DELAY_MS as f64);
                Duration::from_secs_f64(ms / 1000.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The sample's 50th and 99th percentiles, in milliseconds.
    fn percentiles(delay: Delay) -> (f64, f64) {
        let mut rng = StdRng::seed_from_u64(7);
        let mut samples: Vec<f64> = (0..20_000).map(|_| delay.sample(&mut rng).as_secs_f64() * 1000.0).collect();
        samples.sort_by(f64::total_cmp);
        (samples[10_000], samples[19_800])
    }

    #[test]
    fn shapes() {
        let cases = [
            (Latency::None, ms(0)),
            (Latency::Fixed(ms(0)), ms(0)),
            (Latency::Fixed(ms(200)), ms(200)),
            (Latency::Random { p50: ms(0), p99: ms(0) }, ms(0)),
            (Latency::Random { p50: ms(30), p99: ms(30) }, ms(30)),
        ];
        let mut rng = StdRng::seed_from_u64(1);
        for (latency, expected) in cases {
            assert_eq!(Delay::new(latency).sample(&mut rng), expected, "{latency:?}");
        }
    }

    #[test]
    fn log_normal_percentiles() {
        // (p50, p99) asked for → the sample's percentiles, within 10%.
        let cases = [((50, 200), (50.0, 200.0)), ((10, 1000), (10.0, 1000.0)), ((0, 100), (1.0, 100.0))];
        for ((p50, p99), (want50, want99)) in cases {
            let latency = Latency::Random { p50: ms(p50), p99: ms(p99) };
            let (got50, got99) = percentiles(Delay::new(latency));
            assert!((got50 / want50 - 1.0).abs() < 0.1, "{latency:?}: p50 {got50}");
            assert!((got99 / want99 - 1.0).abs() < 0.1, "{latency:?}: p99 {got99}");
        }
    }

    #[test]
    fn samples_are_capped() {
        // p99 is the cap itself, so about one sample in a hundred is cut to it.
        let latency = Latency::Random { p50: ms(1), p99: ms(MAX_DELAY_MS) };
        let delay = Delay::new(latency);
        let mut rng = StdRng::seed_from_u64(3);
        let max = (0..20_000).map(|_| delay.sample(&mut rng)).max();
        assert_eq!(max, Some(ms(MAX_DELAY_MS)));
    }
}
