//! `[http]`: the HTTP listeners (the officials' portal, health, metrics, autoconfiguration),
//! the portal's public address and session limits, and what mail client autoconfiguration
//! (Thunderbird's `config-v1.1.xml`, Outlook's Autodiscover, the portal's setup page) tells
//! clients: the host name and the public ports of IMAP and submission, which behind NAT or a
//! port mapping differ from the addresses the listeners bind.

use serde::Deserialize;

use super::document::Locator;
use super::{listen, loopback, ConfigError, ListenAddr};

/// `[http]`. An empty listener list disables it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Plain HTTP. The portal takes passwords over it only from loopback peers (a
    /// TLS-terminating proxy on the same machine, or development).
    #[serde(deserialize_with = "listen::one_or_many")]
    pub listen: Vec<ListenAddr>,
    /// HTTPS (implicit TLS, port 443 in production) with the mail listeners' certificate.
    #[serde(deserialize_with = "listen::one_or_many")]
    pub https_listen: Vec<ListenAddr>,
    /// The portal's address as officials reach it (`https://mail.vinhphuc.gov.vn/`), shown
    /// in refusals of initial passwords, credentials files and reset links; unset means
    /// `https://<mail_hostname>/`.
    pub public_url: Option<String>,
    /// A portal session unused this many minutes ends.
    pub session_idle_minutes: u32,
    /// A portal session ends this many hours after sign-in, however busy.
    pub session_lifetime_hours: u32,
    /// Seconds a request's headers may take to arrive once it has begun.
    pub header_timeout_seconds: u64,
    /// Seconds a request's body may take to arrive and its answer to be made.
    pub request_timeout_seconds: u64,
    /// The host name mail clients are told to connect to; unset means `server.hostname`.
    pub mail_hostname: Option<String>,
    /// Public port of IMAP over implicit TLS offered to clients; 0: not offered.
    pub imaps_port: u16,
    /// Public port of IMAP with STARTTLS offered to clients; 0: not offered.
    pub imap_port: u16,
    /// Public port of submission over implicit TLS (RFC 8314) offered to clients; 0: not
    /// offered.
    pub submissions_port: u16,
    /// Public port of submission with STARTTLS (RFC 6409) offered to clients; 0: not
    /// offered.
    pub submission_port: u16,
    /// The provider's name that clients show; unset means `server.primary_domain`.
    pub display_name: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: vec![loopback(8025)],
            https_listen: Vec::new(),
            public_url: None,
            session_idle_minutes: 30,
            session_lifetime_hours: 8,
            header_timeout_seconds: 10,
            request_timeout_seconds: 30,
            mail_hostname: None,
            imaps_port: 993,
            imap_port: 143,
            submissions_port: 465,
            submission_port: 587,
            display_name: None,
        }
    }
}

impl HttpConfig {
    /// The portal's public address, ending in `/`, given the server's host name.
    pub fn portal_url(&self, server_hostname: &str) -> String {
        match &self.public_url {
            Some(url) if url.ends_with('/') => url.clone(),
            Some(url) => format!("{url}/"),
            None => format!(
                "https://{}/",
                self.mail_hostname.as_deref().unwrap_or(server_hostname)
            ),
        }
    }

    pub(super) fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url {
            if !is_public_url(url) {
                return Err(at.error(
                    "http.public_url",
                    format!(
                        "http.public_url must be the portal's address as officials type it, http:// or https:// and a host name, with an optional port and path and no query, such as \"https://mail.vinhphuc.gov.vn/\"; got {url:?}"
                    ),
                ));
            }
        }
        if !(1..=1440).contains(&self.session_idle_minutes) {
            return Err(at.error(
                "http.session_idle_minutes",
                format!(
                    "http.session_idle_minutes must be between 1 and 1440, got {}",
                    self.session_idle_minutes
                ),
            ));
        }
        for (key, value) in [
            ("http.header_timeout_seconds", self.header_timeout_seconds),
            ("http.request_timeout_seconds", self.request_timeout_seconds),
        ] {
            if !(1..=3600).contains(&value) {
                return Err(at.error(
                    key,
                    format!("{key} must be between 1 and 3600, got {value}"),
                ));
            }
        }
        if !(1..=168).contains(&self.session_lifetime_hours) {
            return Err(at.error(
                "http.session_lifetime_hours",
                format!(
                    "http.session_lifetime_hours must be between 1 and 168, got {}",
                    self.session_lifetime_hours
                ),
            ));
        }
        if let Some(host) = &self.mail_hostname {
            if !is_host_name(host) {
                return Err(at.error(
                    "http.mail_hostname",
                    format!(
                        "http.mail_hostname must be the host name mail clients connect to, of letters, digits, '-' and '.', such as \"mail.vinhphuc.gov.vn\", or unset to use server.hostname; got {host:?}"
                    ),
                ));
            }
        }
        if let Some(name) = &self.display_name {
            // XML 1.0 cannot carry most control characters, even escaped.
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                return Err(at.error(
                    "http.display_name",
                    format!(
                        "http.display_name must be a non-empty name without control characters, such as \"Thư công vụ tỉnh Vĩnh Phúc\", or unset to use server.primary_domain; got {name:?}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `http(s)://host[:port][/path]` with nothing a page or a credentials file could
/// misrender: no spaces, controls, quotes, query or fragment.
fn is_public_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return false;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    is_host_name(host)
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~' | '%'))
}

/// A DNS name or IPv4 literal: what a client can be told to connect to.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
