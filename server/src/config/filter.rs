//! `[filter]`: reputation and content filtering on the MX, each off until configured: DNS
//! blocklists, and the rspamd and ClamAV engines in `[filter.rspamd]` and
//! `[filter.clamav]` (their settings live with their clients in `crate::filter`).

use serde::Deserialize;

use super::document::Locator;
use super::ConfigError;
use crate::filter::{ClamavSettings, RspamdSettings, SettingError};

/// `[filter]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// DNS blocklist zones the MX asks about each connecting address (e.g.
    /// `zen.spamhaus.org`); a listed client is refused at MAIL FROM.
    pub dnsbl: Vec<String>,
    pub rspamd: RspamdSettings,
    pub clamav: ClamavSettings,
}

impl FilterConfig {
    pub(super) fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        for zone in &self.dnsbl {
            let name = zone.trim_end_matches('.');
            let valid = !name.is_empty()
                && name.split('.').count() >= 2
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !valid {
                return Err(at.error(
                    "filter.dnsbl",
                    format!("filter.dnsbl: {zone:?} is not a DNS zone (e.g. \"zen.spamhaus.org\")"),
                ));
            }
        }
        let located = |section: &str, error: SettingError| {
            let path = format!("filter.{section}.{}", error.key);
            at.error(&path, format!("{path}: {}", error.message))
        };
        self.rspamd.validate().map_err(|e| located("rspamd", e))?;
        self.clamav.validate().map_err(|e| located("clamav", e))
    }
}
