//! `[sieve]`: what officials' filters may do.

use serde::Deserialize;

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

/// `[sieve]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SieveConfig {
    pub redirect: RedirectPolicy,
}
