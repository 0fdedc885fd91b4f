//! What congvu tells its operators: structured logs with `tracing`, as text or JSON lines on
//! standard error (`RUST_LOG`, when set, overrides the configured level), and the metrics
//! served on `/metrics` ([`catalogue`]).

mod catalogue;

pub use catalogue::{
    backup_failed, backup_written, certificate_expiry_notice_failed,
    certificate_expiry_notice_sent, data_stage, dnsbl_answer, hash_job_dequeued, hash_job_queued,
    http_request, imap_command, imap_fetch_bytes, imap_idle_completed, imap_idle_started,
    imap_session_signed_in, inbound_verdict, intake_commit, ldap_operation, local_deliveries,
    login_attempt, message_bodies, queue_attempt, queue_state, recorder, render, smtp_command,
    smtp_message_accepted, smtp_message_refused, store_transaction, GaugeHeld, MessageRefusal,
    QueueAttempt, StoreWork,
};
pub use catalogue::{AuthOutcome, DataStage};

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the process-wide log subscriber. Call once, from a binary's `main`.
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
