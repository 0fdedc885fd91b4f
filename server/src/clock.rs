//! The one source of wall-clock time. Everything that stores or compares a time (audit rows,
//! lockout windows, queue back-off) asks a [`Clock`], so tests can fix and advance it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as stored in both database backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// This time plus `seconds` (negative moves back).
    pub fn plus(self, seconds: i64) -> UnixTime {
        UnixTime(self.0.saturating_add(seconds))
    }

    /// This time on Vietnam's clocks (UTC+7, no daylight saving), by which every official
    /// counts hours and days.
    pub fn in_vietnam(self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(self.0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .to_offset(VIETNAM)
    }
}

/// Vietnam's offset from UTC.
pub const VIETNAM: time::UtcOffset = time::macros::offset!(+7);

/// Wall-clock time: the system clock in production, a settable one in tests.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { fixed: None }
    }

    /// A clock that stands at `at` until [`Clock::advance`] moves it.
    pub fn fixed(at: UnixTime) -> Clock {
        Clock {
            fixed: Some(Arc::new(AtomicI64::new(at.0))),
        }
    }

    /// Moves a fixed clock forward; the system clock cannot be moved.
    pub fn advance(&self, seconds: i64) {
        if let Some(fixed) = &self.fixed {
            fixed.fetch_add(seconds, Ordering::SeqCst);
        }
    }

    /// The current time.
    pub fn now(&self) -> UnixTime {
        match &self.fixed {
            Some(fixed) => UnixTime(fixed.load(Ordering::SeqCst)),
            None => UnixTime(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0),
            ),
        }
    }
}
