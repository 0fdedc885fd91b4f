//! `[inbound]`: what the MX checks about who sent a message from outside (SPF, DKIM, ARC,
//! DMARC) and what it does with the answer; `[dns]`: the resolver those checks and the
//! blocklists ask.

use std::net::SocketAddr;

use serde::Deserialize;

use super::document::Locator;
use super::{in_range, ConfigError};

/// How the MX uses sender authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthenticationMode {
    /// Check, record the results in `Authentication-Results:`, and apply DMARC policies:
    /// refuse, file into Junk, or deliver; a temporary DNS failure defers the message.
    Enforce,
    /// Check and record the results only; every message goes where it would without checks.
    Report,
    /// Check nothing (a laptop without DNS).
    Off,
}

/// Where a message goes whose sender's SPF record fails it outright (`-all`) when the
/// domain publishes no DMARC policy to say what it wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpfFailAction {
    Inbox,
    Junk,
    Reject,
}

/// `[inbound]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    pub authentication: AuthenticationMode,
    /// What an SPF `fail` does for a domain without DMARC.
    pub spf_fail: SpfFailAction,
    /// DKIM signatures verified per message; further ones are ignored, so a message with
    /// hundreds of signatures costs no more than one with this many.
    pub max_dkim_signatures: u32,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            authentication: AuthenticationMode::Enforce,
            spf_fail: SpfFailAction::Junk,
            max_dkim_signatures: 10,
        }
    }
}

impl InboundConfig {
    pub(super) fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        in_range(
            at,
            "inbound.max_dkim_signatures",
            self.max_dkim_signatures,
            1..=50,
        )
    }
}

/// `[dns]`. Without `servers`, the system's resolvers (`/etc/resolv.conf`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Resolvers to ask instead of the system's, as `IP:PORT`, each over UDP and TCP.
    pub servers: Vec<String>,
    /// Seconds to wait for one answer.
    pub timeout_seconds: u64,
    /// How many times a question is asked of each server before it counts as failed.
    pub attempts: u32,
    /// Answers remembered (for their TTL); 0 disables the cache.
    pub cache_entries: u32,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            timeout_seconds: 5,
            attempts: 2,
            cache_entries: 4096,
        }
    }
}

impl DnsConfig {
    /// The configured servers; validation has checked they parse.
    pub fn server_addrs(&self) -> Vec<SocketAddr> {
        self.servers.iter().filter_map(|s| s.parse().ok()).collect()
    }

    pub(super) fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        for server in &self.servers {
            if server.parse::<SocketAddr>().is_err() {
                return Err(at.error(
                    "dns.servers",
                    format!("dns.servers: {server:?} is not IP:PORT (e.g. \"10.0.0.53:53\")"),
                ));
            }
        }
        in_range(at, "dns.timeout_seconds", self.timeout_seconds, 1..=60)?;
        in_range(at, "dns.attempts", self.attempts, 1..=5)?;
        in_range(at, "dns.cache_entries", self.cache_entries, 0..=1_000_000)
    }
}
