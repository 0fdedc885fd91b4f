//! The retry schedule: exponential back-off between attempts, the age at which an entry
//! gives up (and bounces), and when the sender hears that delivery is delayed. Pure
//! arithmetic on [`UnixTime`]; the clock is the caller's.

use crate::clock::UnixTime;
use crate::config::QueueConfig;

/// When to try again, when to give up and when to warn the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; each further failure doubles it.
    pub initial_seconds: i64,
    /// The longest wait between two attempts.
    pub max_seconds: i64,
    /// Age after which a failing entry is given up and bounced.
    pub expire_seconds: i64,
    /// Age after which the sender is told, once, that delivery is delayed; 0 never tells.
    pub delay_notice_seconds: i64,
}

/// What to do with an entry after a temporary failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt(UnixTime),
    /// The entry is too old to keep trying: bounce it.
    Expired,
}

impl RetryPolicy {
    /// The schedule `[queue]` describes.
    pub fn from_config(config: &QueueConfig) -> RetryPolicy {
        let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        RetryPolicy {
            initial_seconds: secs(config.retry_initial_seconds),
            max_seconds: secs(config.retry_max_seconds),
            expire_seconds: secs(config.expire_seconds),
            delay_notice_seconds: secs(config.delay_notice_seconds),
        }
    }

    /// The wait after an entry's `failures`-th failed attempt (1 for the first):
    /// `initial`, `2 × initial`, `4 × initial`, … never more than `max`.
    pub fn backoff(&self, failures: u32) -> i64 {
        let doublings = failures.saturating_sub(1).min(62);
        self.initial_seconds
            .saturating_mul(1_i64 << doublings)
            .min(self.max_seconds)
    }

    /// The moment an entry created at `created_at` expires.
    pub fn expires_at(&self, created_at: UnixTime) -> UnixTime {
        created_at.plus(self.expire_seconds)
    }

    /// What follows a temporary failure at `now` that was the entry's `failures`-th. The last
    /// retry is moved to the expiry time, so an entry is tried once more when it expires
    /// rather than bounced a whole back-off early.
    pub fn after_failure(
        &self,
        created_at: UnixTime,
        failures: u32,
        now: UnixTime,
    ) -> AfterFailure {
        let expires = self.expires_at(created_at);
        if now >= expires {
            return AfterFailure::Expired;
        }
        AfterFailure::RetryAt(now.plus(self.backoff(failures)).min(expires))
    }

    /// Whether an entry still failing at `now` should now bring its sender a delay notice:
    /// old enough, never notified before, and notices not switched off.
    pub fn delay_notice_due(
        &self,
        created_at: UnixTime,
        notified: Option<UnixTime>,
        now: UnixTime,
    ) -> bool {
        self.delay_notice_seconds > 0
            && notified.is_none()
            && now >= created_at.plus(self.delay_notice_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: RetryPolicy = RetryPolicy {
        initial_seconds: 300,
        max_seconds: 14_400,
        expire_seconds: 432_000,
        delay_notice_seconds: 14_400,
    };

    #[test]
    fn the_wait_doubles_up_to_the_maximum() {
        let waits: Vec<i64> = (1..=9).map(|n| DEFAULTS.backoff(n)).collect();
        assert_eq!(
            waits,
            [300, 600, 1200, 2400, 4800, 9600, 14_400, 14_400, 14_400]
        );
        assert_eq!(
            DEFAULTS.backoff(0),
            300,
            "no failure yet waits the first step"
        );
        assert_eq!(DEFAULTS.backoff(u32::MAX), 14_400, "no overflow");
    }

    #[test]
    fn the_config_defaults_give_this_schedule() {
        assert_eq!(RetryPolicy::from_config(&QueueConfig::default()), DEFAULTS);
    }

    #[test]
    fn retries_stop_at_expiry_and_the_last_lands_on_it() {
        let created = UnixTime(1_000_000);
        assert_eq!(
            DEFAULTS.after_failure(created, 1, created),
            AfterFailure::RetryAt(created.plus(300))
        );
        assert_eq!(
            DEFAULTS.after_failure(created, 3, created.plus(2000)),
            AfterFailure::RetryAt(created.plus(3200))
        );
        // 10 s before expiry the next wait would overshoot: the retry moves to expiry.
        let late = created.plus(432_000 - 10);
        assert_eq!(
            DEFAULTS.after_failure(created, 20, late),
            AfterFailure::RetryAt(created.plus(432_000))
        );
        assert_eq!(
            DEFAULTS.after_failure(created, 21, created.plus(432_000)),
            AfterFailure::Expired
        );
        assert_eq!(
            DEFAULTS.after_failure(created, 21, created.plus(500_000)),
            AfterFailure::Expired
        );
    }

    #[test]
    fn one_delay_notice_after_its_age_unless_switched_off() {
        let created = UnixTime(0);
        assert!(!DEFAULTS.delay_notice_due(created, None, UnixTime(14_399)));
        assert!(DEFAULTS.delay_notice_due(created, None, UnixTime(14_400)));
        assert!(!DEFAULTS.delay_notice_due(created, Some(UnixTime(14_400)), UnixTime(20_000)));
        let off = RetryPolicy {
            delay_notice_seconds: 0,
            ..DEFAULTS
        };
        assert!(!off.delay_notice_due(created, None, UnixTime(400_000)));
    }
}
