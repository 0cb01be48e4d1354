//! Polling a PENDING request (Decision 7): jittered exponential back-off starting at 30 s,
//! never above 30 min, within a configurable total wait; and retrying a request the transport
//! or a busy server refused ([`RetryPolicy`]).
//!
//! Every delay has a floor (issue 12): neither a configuration nor a server (`Retry-After: 0`)
//! can make the machine send in a tight loop.

use core::time::Duration;

use rand_core::Rng;

/// The first poll interval (Decision 7).
pub const INITIAL_POLL: Duration = Duration::from_secs(30);
/// The largest poll interval (Decision 7).
pub const MAX_POLL: Duration = Duration::from_secs(30 * 60);
/// The shortest poll interval, whatever [`PollBackoff::initial`] says.
pub const MIN_POLL: Duration = Duration::from_secs(5);
/// The shortest delay before a retry, whatever [`RetryPolicy`] or a server's `Retry-After`
/// says.
pub const MIN_RETRY_DELAY: Duration = Duration::from_secs(1);
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
    /// capped at `max_interval`, never below [`MIN_POLL`].
    #[must_use]
    pub fn nominal(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .saturating_mul(factor)
            .min(self.max_interval)
            .max(MIN_POLL)
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

    /// The interval before poll number `attempt` when the server's answer carried
    /// `Retry-After`: the server may lengthen the wait up to `max_interval`, never shorten it
    /// below our own schedule ([`PollBackoff::interval`]).
    pub fn interval_after<R: Rng + ?Sized>(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut R,
    ) -> Duration {
        let own = self.interval(attempt, rng);
        let cap = self.max_interval.max(MIN_POLL);
        retry_after.map_or(own, |server| own.max(server.min(cap)))
    }
}

/// Retrying one request whose exchange failed in transport (could not connect, reset, timed
/// out, closed early) or that a busy server turned away (429, 502, 503, 504). Delays double
/// from `initial`, are capped at `max_delay`, follow a longer `Retry-After` up to `max_delay`,
/// and are never below [`MIN_RETRY_DELAY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Exchanges per request, the first included (at least 1).
    pub attempts: u32,
    /// Delay before the first retry.
    pub initial: Duration,
    /// Cap on any delay, a server's `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Three exchanges, 2 s then 4 s apart, at most 60 s: a CA that is down costs the boot a
    /// few seconds more than one attempt, then the boot goes on (spec/scep.md §6).
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            initial: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retry: one exchange per request.
    #[must_use]
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 1,
            ..Self::default()
        }
    }

    /// Whether exchange number `attempt` (0-based) may be followed by another.
    #[must_use]
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt.saturating_add(1) < self.attempts.max(1)
    }

    /// The delay before retry number `retry` (1-based), given the server's `Retry-After`.
    #[must_use]
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self.max_delay.max(MIN_RETRY_DELAY);
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        let own = self
            .initial
            .saturating_mul(factor)
            .min(cap)
            .max(MIN_RETRY_DELAY);
        retry_after.map_or(own, |server| own.max(server.min(cap)))
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
    fn floors_hold_whatever_the_configuration_or_the_server_says() {
        let b = PollBackoff {
            initial: Duration::ZERO,
            max_interval: Duration::ZERO,
            ..PollBackoff::default()
        };
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for attempt in 0..40 {
            assert_eq!(b.nominal(attempt), MIN_POLL);
            assert!(b.interval(attempt, &mut rng) >= MIN_POLL);
            assert!(b.interval_after(attempt, Some(Duration::ZERO), &mut rng) >= MIN_POLL);
        }
        // Retry-After lengthens our own schedule, up to the cap, and never shortens it.
        let b = PollBackoff::default();
        let i = b.interval_after(0, Some(Duration::ZERO), &mut rng);
        assert!(i >= INITIAL_POLL);
        let i = b.interval_after(0, Some(Duration::from_secs(600)), &mut rng);
        assert_eq!(i, Duration::from_secs(600));
        let i = b.interval_after(0, Some(Duration::from_secs(86_400)), &mut rng);
        assert_eq!(i, MAX_POLL);

        let r = RetryPolicy::default();
        assert_eq!(r.delay(1, None), Duration::from_secs(2));
        assert_eq!(r.delay(2, None), Duration::from_secs(4));
        assert_eq!(r.delay(30, None), Duration::from_secs(60));
        assert_eq!(r.delay(1, Some(Duration::ZERO)), Duration::from_secs(2));
        assert_eq!(
            r.delay(1, Some(Duration::from_secs(10))),
            Duration::from_secs(10)
        );
        assert_eq!(
            r.delay(1, Some(Duration::from_secs(1 << 40))),
            Duration::from_secs(60)
        );
        assert!(r.allows_another(0) && r.allows_another(1) && !r.allows_another(2));
        let mut z = RetryPolicy::none();
        z.initial = Duration::ZERO;
        z.max_delay = Duration::ZERO;
        assert!(!z.allows_another(0));
        assert_eq!(z.delay(1, Some(Duration::ZERO)), MIN_RETRY_DELAY);
        assert_eq!(z.delay(u32::MAX, None), MIN_RETRY_DELAY);
        z.attempts = 0;
        assert!(!z.allows_another(0));
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
