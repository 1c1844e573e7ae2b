//! The retry schedule of a delivery.

use std::time::Duration;

/// How a delivery retries: up to `attempts` attempts, each given `timeout`, waiting
/// `first_delay` before the second and doubling up to `max_delay` after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub timeout: Duration,
}

impl Default for Retry {
    /// 5 attempts, 0.5 s → 1 s → 2 s → 4 s apart (at most 8 s), 5 s each: a receiver that
    /// never answers is given up on after about 32 s.
    fn default() -> Self {
        Retry {
            attempts: 5,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            timeout: Duration::from_secs(5),
        }
    }
}

impl Retry {
    /// The wait before attempt `attempt` (1-based): none before the first.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let doublings = (attempt - 2).min(31);
        self.first_delay.saturating_mul(1 << doublings).min(self.max_delay)
    }

    /// Whether an answer with this status may succeed when sent again: timeouts, rate limits
    /// and server errors may; other client errors (a wrong URL, a refused body) will not.
    pub fn retryable_status(status: u16) -> bool {
        matches!(status, 408 | 425 | 429) || status >= 500
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_its_cap() {
        let retry = Retry::default();
        let delays: Vec<u64> = (1..=7).map(|attempt| retry.delay_before(attempt).as_millis() as u64).collect();
        assert_eq!(delays, [0, 500, 1000, 2000, 4000, 8000, 8000]);
        assert_eq!(retry.delay_before(u32::MAX), Duration::from_secs(8));
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        let cases =
            [(500, true), (502, true), (503, true), (429, true), (408, true), (400, false), (404, false), (410, false)];
        for (status, expected) in cases {
            assert_eq!(Retry::retryable_status(status), expected, "{status}");
        }
    }
}
