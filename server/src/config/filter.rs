//! `[filter]`: reputation and content filtering on the MX, each off until configured: DNS
//! blocklists, and the rspamd and ClamAV engines in `[filter.rspamd]` and
//! `[filter.clamav]`, with the checks of their addresses. The clients that use them are in
//! `crate::filter`.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::document::Locator;
use super::ConfigError;

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

/// What to do with a message when its engine cannot be asked (down, too slow, answering
/// garbage): defer it (`"tempfail"`, the sender retries later) or take it unscanned
/// (`"accept"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailPolicy {
    /// Answer 4xx: the sender keeps the message and retries.
    Tempfail,
    /// Take the message as if the engine had found nothing.
    Accept,
}

/// `[filter.rspamd]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RspamdSettings {
    /// The normal worker, e.g. `http://127.0.0.1:11333`; `None` leaves rspamd off.
    pub url: Option<String>,
    /// The controller worker, which alone accepts `/learnspam` and `/learnham`. `None`:
    /// `url` with port 11334, where rspamd's controller listens by default.
    pub controller_url: Option<String>,
    /// Sent as the `Password` header on learning; needed unless the controller lists our
    /// address in its `secure_ip`.
    pub controller_password: Option<String>,
    /// How long one check or one learn may take, connection included.
    pub timeout_seconds: u64,
    /// What happens to a message when rspamd cannot be asked. Spam scoring is a
    /// refinement, so mail keeps flowing by default.
    pub fail: FailPolicy,
    /// Whether moving mail into or out of Junk over IMAP teaches rspamd.
    pub learn: bool,
}

impl Default for RspamdSettings {
    fn default() -> Self {
        RspamdSettings {
            url: None,
            controller_url: None,
            controller_password: None,
            timeout_seconds: 15,
            fail: FailPolicy::Accept,
            learn: true,
        }
    }
}

/// Written by hand so that the controller password never reaches a log line.
impl fmt::Debug for RspamdSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RspamdSettings")
            .field("url", &self.url)
            .field("controller_url", &self.controller_url)
            .field(
                "controller_password",
                &self.controller_password.as_ref().map(|_| "(hidden)"),
            )
            .field("timeout_seconds", &self.timeout_seconds)
            .field("fail", &self.fail)
            .field("learn", &self.learn)
            .finish()
    }
}

impl RspamdSettings {
    /// Checks every key; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), SettingError> {
        if let Some(url) = &self.url {
            rspamd_endpoint("url", url)?;
        }
        if let Some(url) = &self.controller_url {
            rspamd_endpoint("controller_url", url)?;
        }
        if let Some(password) = &self.controller_password {
            if password.is_empty() || password.bytes().any(|b| b.is_ascii_control()) {
                return Err(SettingError::new(
                    "controller_password",
                    "must be a non-empty line of text (it is sent as an HTTP header), or left out",
                ));
            }
        }
        timeout_in_range("timeout_seconds", self.timeout_seconds)
    }
}

/// The default size cap of what is streamed to clamd, which is also Debian's default
/// `StreamMaxLength` (25M): anything larger clamd would refuse anyway.
pub const CLAMAV_DEFAULT_MAX_BYTES: u64 = 25 * 1024 * 1024;

/// `[filter.clamav]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClamavSettings {
    /// `"unix:/run/clamav/clamd.ctl"` or `"tcp:HOST:PORT"`; `None` leaves ClamAV off.
    pub address: Option<String>,
    /// How long one scan may take, connection included.
    pub timeout_seconds: u64,
    /// What happens to a message when clamd cannot be asked. Malware must not slip
    /// through while the scanner is down, so the sender retries by default.
    pub fail: FailPolicy,
    /// The largest message streamed to clamd. A larger one is not scanned and not called
    /// clean either: it is an engine error and `fail` decides, since otherwise padding
    /// an attachment past the cap would be a way around the scanner. Keep it at or below
    /// clamd's `StreamMaxLength`, which refuses longer streams itself.
    pub max_bytes: u64,
}

impl Default for ClamavSettings {
    fn default() -> Self {
        ClamavSettings {
            address: None,
            timeout_seconds: 30,
            fail: FailPolicy::Tempfail,
            max_bytes: CLAMAV_DEFAULT_MAX_BYTES,
        }
    }
}

impl ClamavSettings {
    /// Checks every key; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), SettingError> {
        if let Some(address) = &self.address {
            ClamdAddress::parse(address).map_err(|why| SettingError::new("address", why))?;
        }
        timeout_in_range("timeout_seconds", self.timeout_seconds)?;
        // clamd counts a stream's length in 32 bits.
        if !(1..=u64::from(u32::MAX)).contains(&self.max_bytes) {
            return Err(SettingError::new(
                "max_bytes",
                format!(
                    "must be between 1 and {} (clamd's largest StreamMaxLength), got {}",
                    u32::MAX,
                    self.max_bytes
                ),
            ));
        }
        Ok(())
    }
}

fn timeout_in_range(key: &'static str, seconds: u64) -> Result<(), SettingError> {
    if (1..=600).contains(&seconds) {
        Ok(())
    } else {
        Err(SettingError::new(
            key,
            format!("must be between 1 and 600 seconds, got {seconds}"),
        ))
    }
}

/// A filter setting that cannot work: which key of its section, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingError {
    /// The key inside `[filter.rspamd]` or `[filter.clamav]`, e.g. `url`.
    pub key: &'static str,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl SettingError {
    fn new(key: &'static str, message: impl Into<String>) -> SettingError {
        SettingError {
            key,
            message: message.into(),
        }
    }
}

/// Checks that `url` can name an rspamd worker: `http://HOST[:PORT][/PATH]`.
fn rspamd_endpoint(key: &'static str, url: &str) -> Result<Url, SettingError> {
    let wrong = |why: &str| {
        SettingError::new(
            key,
            format!(
                "{why}: expected an http:// URL such as \"http://127.0.0.1:11333\", got {url:?}"
            ),
        )
    };
    let parsed = Url::parse(url).map_err(|e| wrong(&format!("not a URL ({e})")))?;
    if parsed.scheme() != "http" {
        // The client is built without TLS: rspamd runs on loopback or a private network.
        return Err(wrong("only plain http:// is supported"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(wrong("no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(wrong(
            "no user or password in the URL (controller_password is the password)",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(wrong("no query or fragment"));
    }
    Ok(parsed)
}

/// Where clamd listens: `unix:/path` or `tcp:HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    /// A Unix socket (Debian's is `/run/clamav/clamd.ctl`).
    Unix(PathBuf),
    /// A TCP host (a name, an IPv4 address or a bracketed IPv6 address) and port.
    Tcp(String, u16),
}

impl ClamdAddress {
    /// Reads `unix:/absolute/path` or `tcp:HOST:PORT`; the error says what would be valid.
    pub fn parse(address: &str) -> Result<ClamdAddress, String> {
        let expected = "expected \"unix:/run/clamav/clamd.ctl\" or \"tcp:HOST:PORT\" \
                        (e.g. \"tcp:127.0.0.1:3310\")";
        if let Some(path) = address.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!(
                    "the socket path must be absolute, got {address:?}: {expected}"
                ));
            }
            return Ok(ClamdAddress::Unix(PathBuf::from(path)));
        }
        let Some((host, port)) = address
            .strip_prefix("tcp:")
            .and_then(|rest| rest.rsplit_once(':'))
        else {
            return Err(format!("{address:?}: {expected}"));
        };
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = port.parse::<u16>().ok().filter(|p| *p != 0);
        match port {
            Some(port) if !host.is_empty() && !host.contains(['[', ']', '/']) => {
                Ok(ClamdAddress::Tcp(host.to_owned(), port))
            }
            _ => Err(format!("{address:?}: {expected}")),
        }
    }
}

impl std::fmt::Display for ClamdAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClamdAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            ClamdAddress::Tcp(host, port) if host.contains(':') => {
                write!(f, "tcp:[{host}]:{port}")
            }
            ClamdAddress::Tcp(host, port) => write!(f, "tcp:{host}:{port}"),
        }
    }
}
