//! Clients of the content-filtering engines a province runs beside congvu: rspamd (spam,
//! over its HTTP protocol) and ClamAV's clamd (malware, over `zINSTREAM`).
//!
//! This module owns the engines' settings (`[filter.rspamd]`, `[filter.clamav]`, embedded by
//! `config`), the exchanges with them, what their answers mean (an [`rspamd::RspamdVerdict`],
//! a [`clamav::ClamVerdict`], or an [`EngineError`]) and the `congvu_filter_*` metrics. It
//! knows nothing of SMTP or IMAP: the session that asked turns a verdict or an error (through
//! the engine's [`FailPolicy`]) into its own reply. An answer that cannot be understood is an
//! error, never "clean": a broken or hostile engine must not wave mail through.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

pub mod clamav;
pub mod rspamd;

#[cfg(test)]
mod canned;

pub use clamav::{ClamAv, ClamVerdict};
pub use rspamd::{Rspamd, RspamdAction, RspamdVerdict};

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
            rspamd::endpoint("url", url)?;
        }
        if let Some(url) = &self.controller_url {
            rspamd::endpoint("controller_url", url)?;
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
    /// clean either: it is an [`EngineError`] and `fail` decides, since otherwise padding
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
            clamav::ClamdAddress::parse(address)
                .map_err(|why| SettingError::new("address", why))?;
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

/// Which engine, in errors, logs and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Rspamd,
    Clamav,
}

impl Engine {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Rspamd => "rspamd",
            Engine::Clamav => "clamav",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Rspamd => "rspamd",
            Engine::Clamav => "ClamAV",
        })
    }
}

/// An engine could not give a verdict. The caller applies the engine's [`FailPolicy`].
#[derive(Debug, thiserror::Error)]
#[error("{engine}: {failure}")]
pub struct EngineError {
    /// Which engine failed.
    pub engine: Engine,
    /// What went wrong.
    pub failure: EngineFailure,
}

/// What went wrong in an exchange with an engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineFailure {
    /// No complete answer within the configured timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The engine could not be reached or the connection broke.
    #[error("cannot talk to {address}: {reason}")]
    Connection { address: String, reason: String },
    /// The engine answered, but not with anything this client understands.
    #[error("unexpected answer: {0}")]
    BadAnswer(String),
    /// The engine understood and reported an error of its own (clamd `... ERROR`, an
    /// rspamd error status).
    #[error("engine reported an error: {0}")]
    Refused(String),
    /// The message is larger than `max_bytes`, so it was not scanned.
    #[error("message of {bytes} bytes is too large to scan (max_bytes = {max})")]
    TooLarge { bytes: u64, max: u64 },
    /// The settings name no usable endpoint (validation should have caught it).
    #[error("not configured usably: {0}")]
    Misconfigured(String),
}

impl EngineError {
    fn new(engine: Engine, failure: EngineFailure) -> EngineError {
        EngineError { engine, failure }
    }

    /// Whether the engine was too slow, as `congvu_filter_scans_total{outcome="timeout"}`
    /// counts apart from other errors.
    pub fn is_timeout(&self) -> bool {
        matches!(self.failure, EngineFailure::Timeout(_))
    }
}

/// What the receiving session knows about a message, sent to rspamd beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanFacts {
    /// The connecting client's address.
    pub client_ip: Option<std::net::IpAddr>,
    /// The client's verified reverse-DNS name, when there is one; rspamd's `Hostname`
    /// header means this, not our own name.
    pub client_hostname: Option<String>,
    /// The name the client gave in EHLO or HELO.
    pub helo: Option<String>,
    /// The envelope sender; empty for the null sender `<>`.
    pub mail_from: String,
    /// The envelope recipients.
    pub recipients: Vec<String>,
    /// The signed-in official's login, on submission only.
    pub authenticated_user: Option<String>,
    /// Our identifier of the message, for correlating logs.
    pub queue_id: Option<String>,
    /// Our own host name (`[server] hostname`), sent as rspamd's `MTA-Name`.
    pub receiving_host: String,
}

/// Records one scan: its outcome label and how long it took.
fn record_scan(engine: Engine, outcome: &'static str, took: Duration) {
    metrics::counter!("congvu_filter_scans_total", "engine" => engine.as_str(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("congvu_filter_scan_duration_seconds", "engine" => engine.as_str())
        .record(took.as_secs_f64());
}

/// The `outcome` label of a failed scan.
fn failure_outcome(error: &EngineError) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else {
        "error"
    }
}

/// The engines in use and what each does when it cannot be asked, as the MX, submission
/// and IMAP (for learning) share them.
#[derive(Debug, Clone, Default)]
pub struct Engines {
    pub rspamd: Option<(std::sync::Arc<rspamd::Rspamd>, FailPolicy)>,
    pub clamav: Option<(std::sync::Arc<clamav::ClamAv>, FailPolicy)>,
}

impl Engines {
    /// The engines the settings turn on.
    pub fn new(rspamd: &RspamdSettings, clamav: &ClamavSettings) -> Engines {
        Engines {
            rspamd: rspamd::Rspamd::new(rspamd).map(|r| (std::sync::Arc::new(r), rspamd.fail)),
            clamav: clamav::ClamAv::new(clamav).map(|c| (std::sync::Arc::new(c), clamav.fail)),
        }
    }

    /// rspamd, when it is on and asked to learn from Junk moves.
    pub fn learner(&self) -> Option<std::sync::Arc<rspamd::Rspamd>> {
        self.rspamd
            .as_ref()
            .filter(|(r, _)| r.learning_enabled())
            .map(|(r, _)| std::sync::Arc::clone(r))
    }
}
