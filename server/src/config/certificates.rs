//! `[certificates]`: how officials are warned before their signing certificates expire.

use serde::Deserialize;

use super::document::Locator;
use super::{in_range, ConfigError};

/// `[certificates]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertificatesConfig {
    /// An official is sent one notice when their latest certificate ends within this many days.
    pub expiry_warning_days: u32,
    /// How often the server looks for certificates entering the warning window.
    pub expiry_check_seconds: u64,
}

impl Default for CertificatesConfig {
    fn default() -> Self {
        CertificatesConfig {
            expiry_warning_days: 30,
            expiry_check_seconds: 3600,
        }
    }
}

impl CertificatesConfig {
    pub(super) fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        in_range(
            at,
            "certificates.expiry_warning_days",
            self.expiry_warning_days,
            1..=365,
        )?;
        in_range(
            at,
            "certificates.expiry_check_seconds",
            self.expiry_check_seconds,
            60..=86_400,
        )
    }
}
