//! `[queue]`: outbound delivery to other domains: retry schedule, expiry, smart host and
//! TLS policy.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::document::Locator;
use super::{in_range, is_domain, pem_file_exists, ConfigError};
use crate::model::SmartHost;

/// `[queue]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Delivery workers running at once on this node (SMTP transactions in flight).
    pub workers: u32,
    /// How often an idle node looks for entries that became due.
    pub poll_seconds: u64,
    /// How long a claimed entry stays reserved for the node that claimed it; the node
    /// renews it while it works, and a crashed node's entries are retried once it lapses.
    pub lease_seconds: u64,
    /// The wait after the first failed attempt; each further failure doubles it.
    pub retry_initial_seconds: u64,
    /// The longest wait between two attempts.
    pub retry_max_seconds: u64,
    /// How long a failing message is retried before it is returned to its sender.
    pub expire_seconds: u64,
    /// Age at which the sender is told, once, that a message is delayed; 0: never.
    pub delay_notice_seconds: u64,
    /// `host:port` of a relay that takes all outbound mail instead of the recipients' MX.
    pub smart_host: Option<String>,
    /// SMTP AUTH user name at the smart host (with `smart_host_password`).
    pub smart_host_username: Option<String>,
    /// SMTP AUTH password at the smart host; best given as CONGVU_QUEUE__SMART_HOST_PASSWORD.
    pub smart_host_password: Option<String>,
    /// Require STARTTLS with a verified certificate for every delivery.
    pub require_tls: bool,
    /// Require STARTTLS with a verified certificate for mail to these domains.
    pub require_tls_domains: Vec<String>,
    /// PEM file of CA certificates trusted, besides the public roots, when a certificate
    /// must verify (e.g. a government relay with its own CA).
    pub tls_ca_file: Option<PathBuf>,
    /// How long connecting to a server may take.
    pub connect_timeout_seconds: u64,
    /// How long a server may take to answer one command.
    pub command_timeout_seconds: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            workers: 4,
            poll_seconds: 5,
            lease_seconds: 300,
            retry_initial_seconds: 300,
            retry_max_seconds: 14_400,
            expire_seconds: 432_000,
            delay_notice_seconds: 14_400,
            smart_host: None,
            smart_host_username: None,
            smart_host_password: None,
            require_tls: false,
            require_tls_domains: Vec::new(),
            tls_ca_file: None,
            connect_timeout_seconds: 30,
            command_timeout_seconds: 300,
        }
    }
}

/// Written by hand so that the smart host password never reaches a log line.
impl fmt::Debug for QueueConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueConfig")
            .field("workers", &self.workers)
            .field("poll_seconds", &self.poll_seconds)
            .field("lease_seconds", &self.lease_seconds)
            .field("retry_initial_seconds", &self.retry_initial_seconds)
            .field("retry_max_seconds", &self.retry_max_seconds)
            .field("expire_seconds", &self.expire_seconds)
            .field("delay_notice_seconds", &self.delay_notice_seconds)
            .field("smart_host", &self.smart_host)
            .field("smart_host_username", &self.smart_host_username)
            .field(
                "smart_host_password",
                &self.smart_host_password.as_ref().map(|_| "***"),
            )
            .field("require_tls", &self.require_tls)
            .field("require_tls_domains", &self.require_tls_domains)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("connect_timeout_seconds", &self.connect_timeout_seconds)
            .field("command_timeout_seconds", &self.command_timeout_seconds)
            .finish()
    }
}

impl QueueConfig {
    /// The smart host, once validated.
    pub fn smart_host(&self) -> Option<SmartHost> {
        self.smart_host.as_deref().and_then(|s| s.parse().ok())
    }

    /// Whether mail to `domain` must go over verified TLS.
    pub fn requires_tls(&self, domain: &str) -> bool {
        self.require_tls
            || self
                .require_tls_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain))
    }

    pub(super) fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        self.validate_schedule(at)?;
        self.validate_smart_host(at)?;
        if let Some(bad) = self.require_tls_domains.iter().find(|d| !is_domain(d)) {
            return Err(at.error(
                "queue.require_tls_domains",
                format!(
                    "queue.require_tls_domains: {bad:?} is not a domain name: use lowercase labels of a-z, 0-9 and '-' joined by dots, such as \"hanoi.gov.vn\""
                ),
            ));
        }
        if let Some(file) = &self.tls_ca_file {
            pem_file_exists(at, "queue.tls_ca_file", file)?;
        }
        in_range(
            at,
            "queue.connect_timeout_seconds",
            self.connect_timeout_seconds,
            1..=300,
        )?;
        in_range(
            at,
            "queue.command_timeout_seconds",
            self.command_timeout_seconds,
            1..=3600,
        )
    }

    /// Workers, leases, and the retry and expiry schedule.
    fn validate_schedule(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        in_range(at, "queue.workers", self.workers, 1..=256)?;
        in_range(at, "queue.poll_seconds", self.poll_seconds, 1..=3600)?;
        in_range(at, "queue.lease_seconds", self.lease_seconds, 10..=86_400)?;
        in_range(
            at,
            "queue.retry_initial_seconds",
            self.retry_initial_seconds,
            1..=86_400,
        )?;
        let initial = self.retry_initial_seconds;
        if !(initial..=604_800).contains(&self.retry_max_seconds) {
            return Err(at.error(
                "queue.retry_max_seconds",
                format!(
                    "queue.retry_max_seconds must be between {initial} (queue.retry_initial_seconds) and 604800, got {}",
                    self.retry_max_seconds
                ),
            ));
        }
        in_range(
            at,
            "queue.expire_seconds",
            self.expire_seconds,
            60..=2_592_000,
        )?;
        if self.delay_notice_seconds >= self.expire_seconds {
            return Err(at.error(
                "queue.delay_notice_seconds",
                format!(
                    "queue.delay_notice_seconds must be 0 (no delay notices) or less than queue.expire_seconds ({}), got {}",
                    self.expire_seconds, self.delay_notice_seconds
                ),
            ));
        }
        Ok(())
    }

    /// The smart host and its credentials: both or neither, and only with a relay.
    fn validate_smart_host(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        if let Some(relay) = &self.smart_host {
            if let Err(e) = relay.parse::<SmartHost>() {
                return Err(at.error("queue.smart_host", format!("queue.smart_host: {e}")));
            }
        }
        match (&self.smart_host_username, &self.smart_host_password) {
            (Some(_), None) => {
                return Err(at.error(
                    "queue.smart_host_username",
                    "queue.smart_host_username is set but queue.smart_host_password is not: set both, or neither",
                ))
            }
            (None, Some(_)) => {
                return Err(at.error(
                    "queue.smart_host_password",
                    "queue.smart_host_password is set but queue.smart_host_username is not: set both, or neither",
                ))
            }
            (Some(_), Some(_)) if self.smart_host.is_none() => {
                return Err(at.error(
                    "queue.smart_host_username",
                    "queue.smart_host_username and queue.smart_host_password need queue.smart_host: set the relay they log in to",
                ))
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::Config;
    use super::QueueConfig;

    fn load(queue: &str, env: &[(&str, &str)]) -> Result<QueueConfig, String> {
        let text = format!("[queue]\n{queue}\n[tls]\nself_signed = true\n");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_toml(&text, "test.toml", env)
            .map(|c| c.queue)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_reads_and_the_defaults_match_the_documentation() {
        let defaults = load("", &[]).unwrap();
        assert_eq!(defaults, QueueConfig::default());
        assert_eq!(
            (
                defaults.retry_initial_seconds,
                defaults.retry_max_seconds,
                defaults.expire_seconds,
                defaults.delay_notice_seconds,
                defaults.lease_seconds,
            ),
            (300, 14_400, 432_000, 14_400, 300)
        );
        let set = load(
            "workers = 8\npoll_seconds = 2\nlease_seconds = 60\nretry_initial_seconds = 60\n\
             retry_max_seconds = 3600\nexpire_seconds = 86400\ndelay_notice_seconds = 0\n\
             smart_host = \"relay.gov.vn:587\"\nsmart_host_username = \"vinhphuc\"\n\
             require_tls_domains = [\"hanoi.gov.vn\"]\nconnect_timeout_seconds = 10\n\
             command_timeout_seconds = 60\n",
            &[("CONGVU_QUEUE__SMART_HOST_PASSWORD", "s3cret")],
        )
        .unwrap();
        assert_eq!(set.smart_host().unwrap().to_string(), "relay.gov.vn:587");
        assert_eq!(set.smart_host_password.as_deref(), Some("s3cret"));
        assert!(set.requires_tls("Hanoi.gov.vn"));
        assert!(!set.requires_tls("mic.gov.vn"));
        assert!(!format!("{set:?}").contains("s3cret"), "{set:?}");
    }

    #[test]
    fn bad_values_say_what_would_be_valid() {
        assert_eq!(
            load("retry_initial_seconds = 600\nretry_max_seconds = 300\n", &[]).unwrap_err(),
            "test.toml:3: queue.retry_max_seconds must be between 600 (queue.retry_initial_seconds) and 604800, got 300"
        );
        assert_eq!(
            load("expire_seconds = 3600\ndelay_notice_seconds = 3600\n", &[]).unwrap_err(),
            "test.toml:3: queue.delay_notice_seconds must be 0 (no delay notices) or less than queue.expire_seconds (3600), got 3600"
        );
        assert_eq!(
            load("smart_host = \"relay.gov.vn\"\n", &[]).unwrap_err(),
            "test.toml:2: queue.smart_host: \"relay.gov.vn\" is not host:port: use a host name or IP address and a port, e.g. \"relay.gov.vn:587\" or \"[2001:db8::1]:25\""
        );
        assert_eq!(
            load("smart_host = \"relay.gov.vn:25\"\nsmart_host_username = \"u\"\n", &[]).unwrap_err(),
            "test.toml:3: queue.smart_host_username is set but queue.smart_host_password is not: set both, or neither"
        );
        assert_eq!(
            load("smart_host_username = \"u\"\nsmart_host_password = \"p\"\n", &[]).unwrap_err(),
            "test.toml:2: queue.smart_host_username and queue.smart_host_password need queue.smart_host: set the relay they log in to"
        );
        assert_eq!(
            load("require_tls_domains = [\"Hanoi.gov.vn\"]\n", &[]).unwrap_err(),
            "test.toml:2: queue.require_tls_domains: \"Hanoi.gov.vn\" is not a domain name: use lowercase labels of a-z, 0-9 and '-' joined by dots, such as \"hanoi.gov.vn\""
        );
        assert_eq!(
            load("tls_ca_file = \"/nonexistent/ca.pem\"\n", &[]).unwrap_err(),
            "test.toml:2: queue.tls_ca_file: file \"/nonexistent/ca.pem\" does not exist"
        );
    }

    #[test]
    fn every_range_is_enforced_at_both_ends() {
        let limits: [(&str, u64, u64); 7] = [
            ("workers", 1, 256),
            ("poll_seconds", 1, 3600),
            ("lease_seconds", 10, 86_400),
            ("retry_initial_seconds", 1, 86_400),
            ("expire_seconds", 60, 2_592_000),
            ("connect_timeout_seconds", 1, 300),
            ("command_timeout_seconds", 1, 3600),
        ];
        for (key, low, high) in limits {
            // Keep the keys that depend on these out of the way.
            let text = |v: u64| {
                format!("retry_max_seconds = 604800\ndelay_notice_seconds = 0\n{key} = {v}\n")
            };
            for ok in [low, high] {
                assert!(load(&text(ok), &[]).is_ok(), "queue.{key} = {ok} refused");
            }
            for bad in [low - 1, high + 1] {
                assert_eq!(
                    load(&text(bad), &[]).unwrap_err(),
                    format!("test.toml:4: queue.{key} must be between {low} and {high}, got {bad}")
                );
            }
        }
    }
}
