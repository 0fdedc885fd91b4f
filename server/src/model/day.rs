//! Calendar days in UTC: the unit every day-keyed count is kept in, and how they are written.

use std::fmt;
use std::str::FromStr;

use crate::clock::UnixTime;

const SECONDS_PER_DAY: i64 = 86_400;

/// Why a report period could not be formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// The text is not a calendar date written `YYYY-MM-DD`.
    #[error("not a calendar date written YYYY-MM-DD, e.g. 2026-01-31")]
    NotADay(String),
    /// The first day comes after the last.
    #[error("the period would start on {from}, after it ends on {to}")]
    Reversed { from: UtcDay, to: UtcDay },
}

/// A calendar day in UTC, the unit every day-keyed count (`submission_counts`,
/// `activity_days`) is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDay(time::Date);

impl UtcDay {
    /// The UTC day `t` falls on.
    pub fn of(t: UnixTime) -> UtcDay {
        let at = time::OffsetDateTime::from_unix_timestamp(t.0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        UtcDay(at.date())
    }

    /// 1 January of this day's year.
    pub fn first_of_year(self) -> UtcDay {
        // Invariant: 1 January exists in every year `time::Date` can hold.
        UtcDay(self.0.replace_ordinal(1).unwrap_or(self.0))
    }

    /// The day's first second (00:00:00 UTC).
    pub fn start(self) -> UnixTime {
        UnixTime(self.0.midnight().assume_utc().unix_timestamp())
    }

    /// The day's last second (23:59:59 UTC).
    pub fn end(self) -> UnixTime {
        self.start().plus(SECONDS_PER_DAY - 1)
    }
}

impl FromStr for UtcDay {
    type Err = PeriodError;

    /// Reads `YYYY-MM-DD` exactly: four-digit year, two-digit month and day, a real date.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let not_a_day = || PeriodError::NotADay(s.to_string());
        let b = s.as_bytes();
        let shaped = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shaped {
            return Err(not_a_day());
        }
        let number =
            |range: std::ops::Range<usize>| s[range].parse::<u16>().map_err(|_| not_a_day());
        let year = i32::from(number(0..4)?);
        let month = u8::try_from(number(5..7)?).map_err(|_| not_a_day())?;
        let day = u8::try_from(number(8..10)?).map_err(|_| not_a_day())?;
        let month = time::Month::try_from(month).map_err(|_| not_a_day())?;
        time::Date::from_calendar_date(year, month, day)
            .map(UtcDay)
            .map_err(|_| not_a_day())
    }
}

impl fmt::Display for UtcDay {
    /// `YYYY-MM-DD`, as the day-keyed tables store it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}
