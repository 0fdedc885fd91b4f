//! `[sieve]`: what officials' filters may do, and ManageSieve (RFC 5804), where their mail
//! clients manage them.

use serde::Deserialize;

use super::document::Locator;
use super::{in_range, listen, loopback, ConfigError, ListenAddr};

/// Where a filter's `redirect` may send mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedirectPolicy {
    /// No redirects at all.
    None,
    /// Only to addresses in the domains congvu serves: official mail is not forwarded
    /// outside the government by a rule an official clicked together.
    #[default]
    ServedDomains,
    /// Anywhere.
    Any,
}

/// `[sieve]`. An empty `managesieve_listen` turns ManageSieve off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SieveConfig {
    pub redirect: RedirectPolicy,
    /// ManageSieve with STARTTLS (port 4190 in production).
    #[serde(deserialize_with = "listen::one_or_many")]
    pub managesieve_listen: Vec<ListenAddr>,
    /// Failed logins one ManageSieve session may make before it is closed.
    pub max_auth_failures: u32,
    /// Refused commands one ManageSieve session may earn before it is closed.
    pub max_errors: u32,
    /// A ManageSieve session that sends nothing for this long is closed.
    pub idle_timeout_seconds: u64,
}

impl Default for SieveConfig {
    fn default() -> Self {
        SieveConfig {
            redirect: RedirectPolicy::default(),
            managesieve_listen: vec![loopback(24190)],
            max_auth_failures: 3,
            max_errors: 20,
            idle_timeout_seconds: 1800,
        }
    }
}

impl SieveConfig {
    pub(super) fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        in_range(
            at,
            "sieve.max_auth_failures",
            self.max_auth_failures,
            1..=100,
        )?;
        in_range(at, "sieve.max_errors", self.max_errors, 1..=1000)?;
        in_range(
            at,
            "sieve.idle_timeout_seconds",
            self.idle_timeout_seconds,
            10..=86_400,
        )
    }
}
