//! The server's typed configuration, loaded once at startup: built-in defaults, then the
//! TOML file, then `CONGVU_<SECTION>__<KEY>` environment variables, then validation.
//!
//! Owns the names, types, defaults and valid ranges of every setting, and the messages
//! that say `file:line: what is wrong and what would be valid`. Does not open sockets,
//! read certificates or create directories: `net` and `main` do that with these values.
//!
//! Submodules: `document` (the TOML with spans, the environment merged in, locations),
//! `schema` (which sections and keys exist), `listen` ([`ListenAddr`]).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod backup;
mod certificates;
mod document;
mod filter;
mod http;
mod inbound;
mod listen;
mod queue;
mod schema;
mod sieve;
#[cfg(test)]
mod tests;

pub use backup::BackupConfig;
pub use certificates::CertificatesConfig;
use document::Locator;
pub use filter::{
    ClamavSettings, ClamdAddress, FailPolicy, FilterConfig, RspamdSettings, SettingError,
    CLAMAV_DEFAULT_MAX_BYTES,
};
pub use http::HttpConfig;
pub use inbound::{AuthenticationMode, DnsConfig, InboundConfig, SpfFailAction};
pub use listen::{InvalidListenAddr, ListenAddr};
pub use queue::QueueConfig;
pub use sieve::{RedirectPolicy, SieveConfig};

/// A configuration problem, displayed as `{location}: {message}`.
///
/// `location` is `path:line` for anything in the file, `environment CONGVU_X__Y` for a
/// variable, or the bare path when the file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// Where the offending value was set.
    pub location: String,
    /// What is wrong, and what would be valid.
    pub message: String,
}

/// Every setting. Sections left out of the file take their defaults, except that TLS then
/// fails validation: a server must be told where its certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: identity, data directory, logging, shutdown.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[database]`: where the directory and mail metadata live.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// `[tls]`: the certificate every TLS listener and STARTTLS presents.
    #[serde(default)]
    pub tls: TlsConfig,
    /// `[smtp]`: inbound MX, submission and implicit-TLS submission.
    #[serde(default)]
    pub smtp: SmtpConfig,
    /// `[imap]`: mailbox access.
    #[serde(default)]
    pub imap: ImapConfig,
    /// `[ldap]`: the directory as seen by address books and other systems.
    #[serde(default)]
    pub ldap: LdapConfig,
    /// `[http]`: the HTTP listener.
    #[serde(default)]
    pub http: HttpConfig,
    /// `[limits]`: connection admission and request deadlines.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[auth]`: password hashing cost and lockout.
    #[serde(default)]
    pub auth: AuthConfig,
    /// `[queue]`: outbound delivery to other domains.
    #[serde(default)]
    pub queue: QueueConfig,
    /// `[certificates]`: expiry warnings for officials' signing certificates.
    #[serde(default)]
    pub certificates: CertificatesConfig,
    /// `[inbound]`: sender authentication on the MX.
    #[serde(default)]
    pub inbound: InboundConfig,
    /// `[dns]`: the resolver sender authentication asks.
    #[serde(default)]
    pub dns: DnsConfig,
    /// `[filter]`: blocklists, rspamd and ClamAV on the MX.
    #[serde(default)]
    pub filter: FilterConfig,
    /// `[backup]`: the backups the server writes itself.
    #[serde(default)]
    pub backup: BackupConfig,
    /// `[sieve]`: what officials' filters may do.
    #[serde(default)]
    pub sieve: SieveConfig,
}

impl Default for Config {
    /// Every default, with a generated development certificate so that the result
    /// passes validation as-is (tests start servers from it, with port 0 listeners).
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            tls: TlsConfig {
                self_signed: true,
                ..TlsConfig::default()
            },
            smtp: SmtpConfig::default(),
            imap: ImapConfig::default(),
            ldap: LdapConfig::default(),
            http: HttpConfig::default(),
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
            queue: QueueConfig::default(),
            certificates: CertificatesConfig::default(),
            inbound: InboundConfig::default(),
            dns: DnsConfig::default(),
            filter: FilterConfig::default(),
            backup: BackupConfig::default(),
            sieve: SieveConfig::default(),
        }
    }
}

impl Config {
    /// Reads the file, overlays `CONGVU_*` variables from the process environment,
    /// validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
            location: origin.clone(),
            message: format!("cannot read: {}", io_reason(&err)),
        })?;
        Config::from_toml(&text, &origin, process_env()?)
    }

    /// Same as [`Config::load`], from text. `origin` is the file name used in messages;
    /// `env` holds the variables to overlay (names not of the form
    /// `CONGVU_<SECTION>__<KEY>` are ignored).
    pub fn from_toml(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let overrides = document::env_overrides(env);
        let doc = document::parse(text, origin, &overrides)?;
        schema::check_known_keys(&doc.locator)?;
        let config = Config::deserialize(toml::de::Deserializer::from(doc.table))
            .map_err(|err| doc.locator.type_error(&err))?;
        config.validate(&doc.locator)?;
        Ok(config)
    }

    /// The LDAP base DN: `ldap.base_dn` if set, else derived from `server.primary_domain`
    /// ("vinhphuc.gov.vn" -> "dc=vinhphuc,dc=gov,dc=vn").
    pub fn ldap_base_dn(&self) -> String {
        match &self.ldap.base_dn {
            Some(dn) => dn.clone(),
            None => self
                .server
                .primary_domain
                .split('.')
                .map(|label| format!("dc={label}"))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Checks what types alone cannot: ranges, formats, files, and keys that depend on
    /// each other. Stops at the first problem, checking sections in declaration order.
    fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        self.server.validate(at)?;
        self.database.validate(at)?;
        self.tls.validate(at)?;
        self.smtp.validate(at)?;
        self.imap.validate(at)?;
        self.ldap.validate(at)?;
        self.http.validate(at)?;
        self.limits.validate(at)?;
        self.auth.validate(at)?;
        self.queue.validate(at)?;
        self.certificates.validate(at)?;
        self.inbound.validate(at)?;
        self.dns.validate(at)?;
        self.filter.validate(at)?;
        self.backup.validate(at)?;
        self.sieve.validate(at)?;
        self.check_listeners_distinct(at)
    }

    /// Every listener list, by key path, in declaration order.
    fn listeners(&self) -> [(&'static str, &[ListenAddr]); 10] {
        [
            ("smtp.listen", &self.smtp.listen),
            ("smtp.submission_listen", &self.smtp.submission_listen),
            ("smtp.submissions_listen", &self.smtp.submissions_listen),
            ("imap.listen", &self.imap.listen),
            ("imap.imaps_listen", &self.imap.imaps_listen),
            ("ldap.listen", &self.ldap.listen),
            ("ldap.ldaps_listen", &self.ldap.ldaps_listen),
            ("http.listen", &self.http.listen),
            ("http.https_listen", &self.http.https_listen),
            ("sieve.managesieve_listen", &self.sieve.managesieve_listen),
        ]
    }

    /// Two listeners on one address would fail at bind time with a bare "address in
    /// use"; here the message can name both keys. Port 0 is exempt: each bind gets its
    /// own free port.
    fn check_listeners_distinct(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        let mut seen: Vec<(&str, ListenAddr)> = Vec::new();
        for (path, addrs) in self.listeners() {
            for addr in addrs.iter().filter(|addr| addr.port() != 0) {
                if let Some((first, _)) = seen.iter().find(|(_, a)| a == addr) {
                    return Err(at.error(
                        path,
                        format!("{path}: {addr} is already used by {first}; each listener needs its own address"),
                    ));
                }
                seen.push((path, *addr));
            }
        }
        Ok(())
    }
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// This host's name, used in SMTP and IMAP greetings and `Received:` headers.
    pub hostname: String,
    /// The province's mail domain; also the source of the default LDAP base DN.
    pub primary_domain: String,
    /// Where the database (SQLite), message files and generated certificates live.
    pub data_dir: PathBuf,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// A `tracing` `EnvFilter` directive, e.g. `info` or `info,congvu::smtp=debug`.
    pub log_level: String,
    /// How long shutdown waits for open sessions to finish before closing them.
    pub shutdown_grace_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            hostname: "localhost".to_owned(),
            primary_domain: "example.gov.vn".to_owned(),
            data_dir: PathBuf::from("data"),
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            shutdown_grace_seconds: 30,
        }
    }
}

impl ServerConfig {
    fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        // The hostname goes into protocol greetings, where whitespace would split the line.
        if self.hostname.is_empty() || self.hostname.contains(char::is_whitespace) {
            return Err(at.error(
                "server.hostname",
                format!(
                    "server.hostname must be a host name without spaces, such as \"mail.vinhphuc.gov.vn\", got {:?}",
                    self.hostname
                ),
            ));
        }
        if !is_domain(&self.primary_domain) {
            return Err(at.error(
                "server.primary_domain",
                format!(
                    "server.primary_domain: {:?} is not a domain name: use lowercase labels of a-z, 0-9 and '-' joined by at least one dot, such as \"vinhphuc.gov.vn\"",
                    self.primary_domain
                ),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(at.error(
                "server.data_dir",
                "server.data_dir must not be empty; use a directory such as \"data\" or \"/var/lib/congvu\"",
            ));
        }
        if self.log_level.trim().is_empty() {
            return Err(at.error(
                "server.log_level",
                "server.log_level must not be empty; use a tracing filter such as \"info\" or \"info,congvu::smtp=debug\"",
            ));
        }
        in_range(
            at,
            "server.shutdown_grace_seconds",
            self.shutdown_grace_seconds,
            1..=3600,
        )
    }
}

/// Labels of a-z, 0-9 and '-' (not at either end), at least two of them.
fn is_domain(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// How log lines are written: `"text"` for people, `"json"` for a log collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[database]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (relative to the working directory) or `postgres://user@host/db`.
    pub url: String,
    /// Size of the connection pool.
    pub max_connections: u32,
    /// How long SQLite waits on a locked database before failing a statement.
    pub busy_timeout_ms: u64,
}

use crate::model::redact_password;
/// Which database engine a [`DatabaseConfig::url`] names (the store owns the rule).
pub use crate::model::StoreBackend as Backend;

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://data/congvu.db".to_owned(),
            max_connections: 16,
            busy_timeout_ms: 5000,
        }
    }
}

impl DatabaseConfig {
    /// The engine the URL names. Validation has ensured it is one of the two.
    pub fn backend(&self) -> Backend {
        Backend::from_url(&self.url).unwrap_or(Backend::Postgres)
    }

    fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        if Backend::from_url(&self.url).is_none() {
            // Name only the scheme: the rest of a URL may hold a password.
            let scheme = self.url.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(at.error(
                "database.url",
                format!(
                    "database.url must start with sqlite: (e.g. \"sqlite://data/congvu.db\") or postgres:/postgresql: (e.g. \"postgres://congvu@db.internal/congvu\"), got scheme {scheme:?}"
                ),
            ));
        }
        in_range(
            at,
            "database.max_connections",
            self.max_connections,
            1..=1000,
        )?;
        in_range(
            at,
            "database.busy_timeout_ms",
            self.busy_timeout_ms,
            1..=600_000,
        )
    }
}

/// Written by hand so that a password in the URL never reaches a log line.
impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_password(&self.url))
            .field("max_connections", &self.max_connections)
            .field("busy_timeout_ms", &self.busy_timeout_ms)
            .finish()
    }
}

/// `[tls]`: the certificate for STARTTLS and the implicit-TLS listeners.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM private key for `cert`.
    pub key: Option<PathBuf>,
    /// Generate a development certificate into the data directory instead.
    pub self_signed: bool,
}

impl TlsConfig {
    fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                if self.self_signed {
                    return Err(at.error(
                        "tls.self_signed",
                        "tls.self_signed = true conflicts with tls.cert and tls.key: remove tls.self_signed to use the files, or remove tls.cert and tls.key to generate a development certificate",
                    ));
                }
                pem_file_exists(at, "tls.cert", cert)?;
                pem_file_exists(at, "tls.key", key)
            }
            (Some(_), None) => Err(at.error(
                "tls.cert",
                "tls.cert is set but tls.key is not: set both to PEM files, or neither",
            )),
            (None, Some(_)) => Err(at.error(
                "tls.key",
                "tls.key is set but tls.cert is not: set both to PEM files, or neither",
            )),
            (None, None) if self.self_signed => Ok(()),
            (None, None) => Err(at.error(
                "tls.self_signed",
                "tls.cert and tls.key are not set: set both to PEM files, or set tls.self_signed = true to generate a development certificate in the data directory",
            )),
        }
    }
}

/// Only existence is checked here; `net::tls` reads and parses the PEM at startup.
fn pem_file_exists(at: &Locator<'_>, path: &str, file: &Path) -> Result<(), ConfigError> {
    let problem = match std::fs::metadata(file) {
        Ok(meta) if meta.is_file() => return Ok(()),
        Ok(_) => "is not a regular file; expected a PEM file",
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => "does not exist",
        Err(_) => "cannot be read",
    };
    Err(at.error(
        path,
        format!("{path}: file {:?} {problem}", file.display().to_string()),
    ))
}

/// `[smtp]`. An empty listener list disables that listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Inbound mail from other servers (MX, port 25 in production).
    #[serde(deserialize_with = "listen::one_or_many")]
    pub listen: Vec<ListenAddr>,
    /// Submission from mail clients with STARTTLS (port 587, RFC 6409).
    #[serde(deserialize_with = "listen::one_or_many")]
    pub submission_listen: Vec<ListenAddr>,
    /// Submission over implicit TLS (port 465, RFC 8314).
    #[serde(deserialize_with = "listen::one_or_many")]
    pub submissions_listen: Vec<ListenAddr>,
    /// Largest message accepted, announced in EHLO `SIZE` (RFC 1870).
    pub max_message_bytes: u64,
    /// Most RCPT TO per message.
    pub max_recipients: u32,
    /// Error replies one session may earn before it is closed with 421.
    pub max_errors: u32,
    /// Failed AUTH attempts one session may make before it is closed with 421.
    pub max_auth_failures: u32,
    /// Longest one message's data (DATA or all its BDAT chunks) may take to arrive.
    pub data_timeout_seconds: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            listen: vec![loopback(2525)],
            submission_listen: vec![loopback(2587)],
            submissions_listen: vec![loopback(2465)],
            max_message_bytes: 52_428_800,
            max_recipients: 1000,
            max_errors: 20,
            max_auth_failures: 3,
            data_timeout_seconds: 600,
        }
    }
}

impl SmtpConfig {
    fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        in_range(
            at,
            "smtp.max_message_bytes",
            self.max_message_bytes,
            1024..=2 * 1024 * 1024 * 1024, // 2 GiB
        )?;
        in_range(at, "smtp.max_recipients", self.max_recipients, 1..=100_000)?;
        in_range(at, "smtp.max_errors", self.max_errors, 1..=1000)?;
        in_range(
            at,
            "smtp.max_auth_failures",
            self.max_auth_failures,
            1..=100,
        )?;
        in_range(
            at,
            "smtp.data_timeout_seconds",
            self.data_timeout_seconds,
            10..=3600,
        )
    }
}

/// `[imap]`. An empty listener list disables that listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    /// IMAP with STARTTLS (port 143).
    #[serde(deserialize_with = "listen::one_or_many")]
    pub listen: Vec<ListenAddr>,
    /// IMAP over implicit TLS (port 993).
    #[serde(deserialize_with = "listen::one_or_many")]
    pub imaps_listen: Vec<ListenAddr>,
    /// Longest command line (the parts outside literals), in bytes.
    pub max_command_bytes: u32,
    /// Largest literal accepted (APPEND's message is one), in bytes.
    pub max_literal_bytes: u32,
    /// Open IMAP sessions one official may hold at once (phones, desktops, webmail).
    pub max_connections_per_official: u32,
    /// Failed logins one session may make before it is closed.
    pub max_auth_failures: u32,
    /// BAD replies one session may earn before it is closed.
    pub max_errors: u32,
    /// A session that sends nothing for this long is closed (RFC 3501 §5.4: at least 30
    /// minutes); a session in IDLE is not.
    pub idle_timeout_seconds: u64,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            listen: vec![loopback(2143)],
            imaps_listen: vec![loopback(2993)],
            max_command_bytes: 65_536,
            max_literal_bytes: 52_428_800,
            max_connections_per_official: 20,
            max_auth_failures: 3,
            max_errors: 20,
            idle_timeout_seconds: 1800,
        }
    }
}

impl ImapConfig {
    fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        in_range(
            at,
            "imap.max_command_bytes",
            self.max_command_bytes,
            1024..=1024 * 1024,
        )?;
        in_range(
            at,
            "imap.max_literal_bytes",
            self.max_literal_bytes,
            1024..=1024 * 1024 * 1024,
        )?;
        in_range(
            at,
            "imap.max_connections_per_official",
            self.max_connections_per_official,
            1..=1000,
        )?;
        in_range(
            at,
            "imap.max_auth_failures",
            self.max_auth_failures,
            1..=100,
        )?;
        in_range(at, "imap.max_errors", self.max_errors, 1..=1000)?;
        in_range(
            at,
            "imap.idle_timeout_seconds",
            self.idle_timeout_seconds,
            10..=86_400,
        )
    }
}

/// `[ldap]`. An empty listener list disables that listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    /// LDAP with StartTLS (port 389).
    #[serde(deserialize_with = "listen::one_or_many")]
    pub listen: Vec<ListenAddr>,
    /// LDAP over implicit TLS (port 636).
    #[serde(deserialize_with = "listen::one_or_many")]
    pub ldaps_listen: Vec<ListenAddr>,
    /// The base DN; unset means derived from `server.primary_domain`
    /// (see [`Config::ldap_base_dn`]).
    pub base_dn: Option<String>,
    /// Let unauthenticated clients search the directory.
    pub allow_anonymous_read: bool,
    /// Allow simple binds without TLS from 127.0.0.1 / ::1 (for local tools).
    pub allow_plaintext_bind_on_loopback: bool,
    /// Most entries one search (or one page of a paged search) returns.
    pub size_limit: u32,
    /// Longest one search may run.
    pub time_limit_seconds: u32,
    /// Largest request accepted before a successful bind; larger ends the connection.
    pub max_request_bytes_unbound: u32,
    /// Largest request accepted after a bind.
    pub max_request_bytes: u32,
    /// Deepest nesting of and/or/not in a search filter.
    pub max_filter_depth: u32,
    /// Requests a client may have waiting on one connection; more are answered `busy`.
    pub max_pending_requests: u32,
    /// A connection with no request for this long is told so and closed.
    pub idle_timeout_seconds: u64,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            listen: vec![loopback(3389)],
            ldaps_listen: vec![loopback(3636)],
            base_dn: None,
            allow_anonymous_read: false,
            allow_plaintext_bind_on_loopback: false,
            size_limit: 1000,
            time_limit_seconds: 30,
            max_request_bytes_unbound: 16 * 1024,
            max_request_bytes: 256 * 1024,
            max_filter_depth: 16,
            max_pending_requests: 32,
            idle_timeout_seconds: 900,
        }
    }
}

/// Attribute types accepted in `ldap.base_dn`.
const BASE_DN_ATTRIBUTES: [&str; 4] = ["dc", "ou", "o", "c"];

impl LdapConfig {
    fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        in_range(at, "ldap.size_limit", self.size_limit, 1..=1_000_000)?;
        in_range(
            at,
            "ldap.time_limit_seconds",
            self.time_limit_seconds,
            1..=3600,
        )?;
        // A bind request with a long DN and password fits in 1 KiB; TLS needs none of it.
        in_range(
            at,
            "ldap.max_request_bytes_unbound",
            self.max_request_bytes_unbound,
            1024..=self.max_request_bytes.max(1024),
        )?;
        in_range(
            at,
            "ldap.max_request_bytes",
            self.max_request_bytes,
            1024..=64 * 1024 * 1024,
        )?;
        in_range(at, "ldap.max_filter_depth", self.max_filter_depth, 1..=256)?;
        in_range(
            at,
            "ldap.max_pending_requests",
            self.max_pending_requests,
            1..=10_000,
        )?;
        in_range(
            at,
            "ldap.idle_timeout_seconds",
            self.idle_timeout_seconds,
            1..=86_400,
        )?;
        match &self.base_dn {
            Some(dn) if !is_simple_dn(dn) => Err(at.error(
                "ldap.base_dn",
                format!(
                    "ldap.base_dn: {dn:?} is not a base DN: use comma-separated attr=value pairs with attr one of dc, ou, o, c, such as \"dc=vinhphuc,dc=gov,dc=vn\", or leave it unset to derive it from server.primary_domain"
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// `dc=vinhphuc,dc=gov,dc=vn` style: no escapes, quotes or multi-valued RDNs, which a
/// base DN has no need for.
fn is_simple_dn(dn: &str) -> bool {
    dn.split(',').all(|rdn| match rdn.trim().split_once('=') {
        Some((attr, value)) => {
            BASE_DN_ATTRIBUTES.contains(&attr.trim().to_ascii_lowercase().as_str())
                && !value.trim().is_empty()
                && !value.contains(['=', '+', '\\', '"', '<', '>', ';'])
        }
        None => false,
    })
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Open connections across all listeners; more are refused.
    pub max_connections: u32,
    /// Open connections from one IP address; at most `max_connections`.
    pub max_connections_per_ip: u32,
    /// Longest one command or request may take before the session is closed.
    pub request_timeout_seconds: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: 10_000,
            max_connections_per_ip: 100,
            request_timeout_seconds: 300,
        }
    }
}

impl LimitsConfig {
    fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        in_range(
            at,
            "limits.max_connections",
            self.max_connections,
            1..=1_000_000,
        )?;
        let per_ip = self.max_connections_per_ip;
        if !(1..=self.max_connections).contains(&per_ip) {
            return Err(at.error(
                "limits.max_connections_per_ip",
                format!(
                    "limits.max_connections_per_ip must be between 1 and {} (limits.max_connections), got {per_ip}",
                    self.max_connections
                ),
            ));
        }
        in_range(
            at,
            "limits.request_timeout_seconds",
            self.request_timeout_seconds,
            1..=86_400,
        )
    }
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Argon2id memory cost in KiB (the default is OWASP's 19 MiB).
    pub argon2_memory_kib: u32,
    /// Argon2id passes over memory.
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    pub argon2_parallelism: u32,
    /// Failed logins within the window that lock an account.
    pub lockout_failures: u32,
    /// The window over which failures are counted, and how long the lock lasts.
    pub lockout_window_seconds: u64,
    /// Threads that hash passwords; 0 means one per CPU core.
    pub hash_workers: u32,
    /// Failed logins from one IP address within the window after which that address is
    /// refused without checking, for the rest of the window.
    pub lockout_source_failures: u32,
    /// Days an initial password (generated, or set by an administrator to be changed) stays
    /// good for choosing a password; after that it is refused like a wrong one.
    pub initial_password_days: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            lockout_failures: 10,
            lockout_window_seconds: 900,
            hash_workers: 0,
            lockout_source_failures: 50,
            initial_password_days: 14,
        }
    }
}

impl AuthConfig {
    fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        in_range(
            at,
            "auth.argon2_memory_kib",
            self.argon2_memory_kib,
            8..=4_194_304,
        )?;
        in_range(
            at,
            "auth.argon2_iterations",
            self.argon2_iterations,
            1..=100,
        )?;
        in_range(
            at,
            "auth.argon2_parallelism",
            self.argon2_parallelism,
            1..=64,
        )?;
        in_range(at, "auth.lockout_failures", self.lockout_failures, 1..=1000)?;
        in_range(
            at,
            "auth.lockout_window_seconds",
            self.lockout_window_seconds,
            1..=86_400,
        )?;
        in_range(
            at,
            "auth.lockout_source_failures",
            self.lockout_source_failures,
            1..=1_000_000,
        )?;
        in_range(
            at,
            "auth.initial_password_days",
            self.initial_password_days,
            1..=365,
        )?;
        in_range(at, "auth.hash_workers", self.hash_workers, 0..=256)
    }
}

fn loopback(port: u16) -> ListenAddr {
    ListenAddr(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// `path must be between lo and hi, got value`.
fn in_range<T>(
    at: &Locator<'_>,
    path: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<(), ConfigError>
where
    T: PartialOrd + fmt::Display,
{
    if range.contains(&value) {
        return Ok(());
    }
    Err(at.error(
        path,
        format!(
            "{path} must be between {} and {}, got {value}",
            range.start(),
            range.end()
        ),
    ))
}

/// The `CONGVU_<SECTION>__<KEY>` variables of this process. A value that is not UTF-8
/// is an error rather than skipped, so that a setting is never silently not applied.
fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|name| document::addresses_key(name)) else {
            continue;
        };
        let value = value.into_string().map_err(|_| ConfigError {
            location: format!("environment {name}"),
            message: "the value is not valid UTF-8".to_owned(),
        })?;
        vars.push((name.to_owned(), value));
    }
    Ok(vars)
}

/// `io::Error` renders as "No such file or directory (os error 2)"; the code adds
/// nothing for an operator.
fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => text
            .trim_end_matches(&*format!(" (os error {code})"))
            .to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod proptests;
