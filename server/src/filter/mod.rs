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

pub mod clamav;
pub mod rspamd;

#[cfg(test)]
mod canned;

pub use clamav::{ClamAv, ClamVerdict};
pub use rspamd::{Rspamd, RspamdAction, RspamdVerdict};

pub use crate::config::{
    ClamavSettings, ClamdAddress, FailPolicy, RspamdSettings, SettingError,
    CLAMAV_DEFAULT_MAX_BYTES,
};

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
