//! `[http]`: the HTTP listener, and what mail client autoconfiguration (Thunderbird's
//! `config-v1.1.xml`, Outlook's Autodiscover) tells clients: the host name and the public
//! ports of IMAP and submission, which behind NAT or a port mapping differ from the
//! addresses the listeners bind.

use serde::Deserialize;

use super::document::Locator;
use super::{listen, loopback, ConfigError, ListenAddr};

/// `[http]`. An empty listener list disables it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Plain HTTP; put a TLS-terminating proxy in front of it in production.
    #[serde(deserialize_with = "listen::one_or_many")]
    pub listen: Vec<ListenAddr>,
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
    pub(super) fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
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
