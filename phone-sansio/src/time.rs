//! Monotonic time for the Sans-IO machines.
//!
//! No crate in this workspace reads a clock (ARCHITECTURE.md): the caller passes an [`Instant`]
//! into every `handle_input`, and machines answer with the [`Instant`] of their next deadline.
//! The origin is arbitrary (power-on in the reference phone); only differences mean anything.
//! Every stage crate uses this one type, so phone-boot drives them all with the same clock.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point on the caller's monotonic clock, in microseconds since an arbitrary origin.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The origin of the clock.
    pub const ZERO: Instant = Instant { micros: 0 };
    /// The last representable instant: "never".
    pub const MAX: Instant = Instant { micros: u64::MAX };

    /// An instant this many microseconds after the origin.
    #[must_use]
    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }

    /// An instant this many milliseconds after the origin (saturating).
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            micros: millis.saturating_mul(1_000),
        }
    }

    /// An instant this many seconds after the origin (saturating).
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Instant {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// Microseconds since the origin.
    #[must_use]
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Time since the origin.
    #[must_use]
    pub const fn since_origin(self) -> Duration {
        Duration::from_micros(self.micros)
    }

    /// `self + d`, saturating at [`Instant::MAX`] (a lease of 0xFFFFFFFF seconds is "never").
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        let add = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant {
            micros: self.micros.saturating_add(add),
        }
    }

    /// `self - earlier`, or zero when `earlier` is later (a timeout delivered early).
    #[must_use]
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = self.saturating_add(rhs);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Instant::MAX {
            return f.write_str("Instant(never)");
        }
        write!(
            f,
            "Instant({}.{:06}s)",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_secs(10);
        assert_eq!(
            t + Duration::from_millis(1500),
            Instant::from_millis(11_500)
        );
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(
            Instant::from_secs(1) - Instant::from_secs(5),
            Duration::ZERO
        );
        assert_eq!(
            Instant::from_secs(5) - Instant::from_secs(1),
            Duration::from_secs(4)
        );
        assert_eq!(format!("{t:?}"), "Instant(10.000000s)");
    }
}
