//! Polling a PENDING request (Decision 7): jittered exponential back-off starting at 30 s,
//! never above 30 min, within a configurable total wait.

use core::time::Duration;

use rand_core::Rng;

/// The first poll interval (Decision 7).
pub const INITIAL_POLL: Duration = Duration::from_secs(30);
/// The largest poll interval (Decision 7).
pub const MAX_POLL: Duration = Duration::from_secs(30 * 60);
/// The default total wait for a pending request. The sources give none (spec/scep.md §5); a
/// working day lets an administrator approve a request made at boot.
pub const DEFAULT_TOTAL_WAIT: Duration = Duration::from_secs(8 * 3600);

/// The polling schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollBackoff {
    /// First interval.
    pub initial: Duration,
    /// Cap on any interval.
    pub max_interval: Duration,
    /// Total time from the first PENDING after which polling stops.
    pub total_wait: Duration,
}

impl Default for PollBackoff {
    fn default() -> Self {
        PollBackoff {
            initial: INITIAL_POLL,
            max_interval: MAX_POLL,
            total_wait: DEFAULT_TOTAL_WAIT,
        }
    }
}

impl PollBackoff {
    /// A schedule with another total wait.
    #[must_use]
    pub fn with_total_wait(total_wait: Duration) -> Self {
        PollBackoff {
            total_wait,
            ..Self::default()
        }
    }

    /// The nominal interval before poll number `attempt` (0-based): `initial · 2^attempt`,
    /// capped at `max_interval`.
    #[must_use]
    pub fn nominal(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max_interval)
    }

    /// The jittered interval: uniform in `[nominal, min(1.25 · nominal, max_interval)]`, so it
    /// never starts below 30 s nor exceeds 30 min, and spreads a fleet of phones that went
    /// pending together.
    pub fn interval<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let nominal = self.nominal(attempt);
        let top = (nominal + nominal / 4).min(self.max_interval.max(nominal));
        let span = u64::try_from(top.saturating_sub(nominal).as_micros()).unwrap_or(u64::MAX);
        if span == 0 {
            return nominal;
        }
        let jitter = rng.next_u64() % (span + 1);
        nominal + Duration::from_micros(jitter)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn schedule_over_many_seeds() {
        let b = PollBackoff::default();
        for seed in 0..500u64 {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mut total = Duration::ZERO;
            let mut prev_nominal = Duration::ZERO;
            for attempt in 0..40 {
                let i = b.interval(attempt, &mut rng);
                assert!(i >= INITIAL_POLL, "seed {seed} attempt {attempt}: {i:?}");
                assert!(i <= MAX_POLL, "seed {seed} attempt {attempt}: {i:?}");
                assert!(i >= b.nominal(attempt) && i <= b.nominal(attempt) * 5 / 4);
                assert!(b.nominal(attempt) >= prev_nominal);
                prev_nominal = b.nominal(attempt);
                total += i;
            }
            assert_eq!(b.nominal(0), Duration::from_secs(30));
            assert_eq!(b.nominal(1), Duration::from_secs(60));
            assert_eq!(b.nominal(6), MAX_POLL);
            assert_eq!(b.nominal(39), MAX_POLL);
            assert!(total > Duration::from_secs(30 * 60 * 30));
        }
    }

    #[test]
    fn jitter_actually_varies() {
        let b = PollBackoff::default();
        let firsts: alloc::collections::BTreeSet<Duration> = (0..50u64)
            .map(|s| b.interval(0, &mut ChaCha20Rng::seed_from_u64(s)))
            .collect();
        assert!(firsts.len() > 40);
        assert!(
            firsts
                .iter()
                .all(|d| *d >= Duration::from_secs(30) && *d <= Duration::from_millis(37_500))
        );
    }
}
