//! `[backup]`: the backups the server writes itself.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::document::Locator;
use super::{in_range, ConfigError};

/// `[backup]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Where the server writes its backups; none are written when unset.
    pub dir: Option<PathBuf>,
    /// Hours between backups (fractions allowed: 0.5 is every half hour).
    #[serde(deserialize_with = "hours")]
    pub every_hours: Duration,
    /// Backups kept in `dir`; the oldest beyond this are removed after each new one.
    pub keep: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            dir: None,
            every_hours: Duration::from_secs(24 * 3600),
            keep: 7,
        }
    }
}

fn hours<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let hours = f64::deserialize(deserializer)?;
    if !(hours > 0.0 && hours <= 24.0 * 366.0) {
        return Err(serde::de::Error::custom(
            "must be a number of hours above 0 and at most a year (8784)",
        ));
    }
    Ok(Duration::from_secs_f64(hours * 3600.0))
}

impl BackupConfig {
    pub(super) fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        in_range(at, "backup.keep", self.keep, 1..=10_000)
    }
}
