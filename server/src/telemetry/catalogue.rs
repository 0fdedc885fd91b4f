//! Every metric congvu exports on `/metrics`, in one place: its name, type and help, the
//! label values it is present with from the first scrape (at zero), the histogram buckets,
//! and the few calls protocols make to record what they did. Names follow Prometheus'
//! conventions: `congvu_` prefix, base units (`_seconds`, `_bytes`), `_total` on counters.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::model::{ListenerKind, Refusal};

/// Every listener, for the connection metrics' labels.
const LISTENERS: [ListenerKind; 10] = [
    ListenerKind::Smtp,
    ListenerKind::Submission,
    ListenerKind::Submissions,
    ListenerKind::Imap,
    ListenerKind::Imaps,
    ListenerKind::Ldap,
    ListenerKind::Ldaps,
    ListenerKind::Http,
    ListenerKind::Https,
    ListenerKind::ManageSieve,
];

/// The listeners mail is submitted or relayed on, for the SMTP message metrics' labels.
const SMTP_LISTENERS: [ListenerKind; 3] = [
    ListenerKind::Smtp,
    ListenerKind::Submission,
    ListenerKind::Submissions,
];

/// The protocols an official or a system signs in over.
const AUTH_PROTOCOLS: [&str; 5] = ["smtp", "imap", "ldap", "portal", "managesieve"];

/// How a sign-in ended, as `congvu_auth_attempts_total{outcome}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Success,
    /// The right initial password: good only for choosing a new one.
    MustChange,
    WrongPassword,
    UnknownName,
    Locked,
    Disabled,
    Throttled,
    /// An initial password past its days.
    Expired,
}

impl AuthOutcome {
    const ALL: [AuthOutcome; 8] = [
        AuthOutcome::Success,
        AuthOutcome::MustChange,
        AuthOutcome::WrongPassword,
        AuthOutcome::UnknownName,
        AuthOutcome::Locked,
        AuthOutcome::Disabled,
        AuthOutcome::Throttled,
        AuthOutcome::Expired,
    ];

    /// The label value.
    fn as_str(self) -> &'static str {
        match self {
            AuthOutcome::Success => "success",
            AuthOutcome::MustChange => "must_change",
            AuthOutcome::WrongPassword => "wrong_password",
            AuthOutcome::UnknownName => "unknown_name",
            AuthOutcome::Locked => "locked",
            AuthOutcome::Disabled => "disabled",
            AuthOutcome::Throttled => "throttled",
            AuthOutcome::Expired => "expired",
        }
    }
}

/// Latency buckets, in seconds: from a cached LDAP search to a slow remote delivery.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];
/// Message sizes, in bytes: a notice to a 64 MiB scan.
const BYTES_BUCKETS: [f64; 9] = [
    1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0,
];
/// rspamd scores: from a trusted sender's negative score past the default reject (15).
const SCORE_BUCKETS: [f64; 13] = [
    -5.0, -1.0, 0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0,
];
/// The stages of one message's way from its end of DATA to the 250: from 50 µs to 0.8 s in
/// steps of √2, fine enough to read a p99 off within a sixth of its value.
const STAGE_BUCKETS: [f64; 29] = [
    0.00005, 0.0000707, 0.0001, 0.000141, 0.0002, 0.000283, 0.0004, 0.000566, 0.0008, 0.00113,
    0.0016, 0.00226, 0.0032, 0.00453, 0.0064, 0.00905, 0.0128, 0.0181, 0.0256, 0.0362, 0.0512,
    0.0724, 0.1024, 0.145, 0.2048, 0.29, 0.4096, 0.579, 0.8192,
];
/// Counts (messages in a group commit, entries in a search answer).
const COUNT_BUCKETS: [f64; 10] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 500.0, 1000.0, 10000.0,
];

/// The process-wide Prometheus recorder, every metric described and present. `metrics` has
/// one global recorder, so every server started in this process (tests start many) shares
/// it; a server of its own (a process) has exact figures.
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), &BYTES_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_messages".into()), &COUNT_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_entries".into()), &COUNT_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("congvu_smtp_data_stage_seconds".into()),
                        &STAGE_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("congvu_rspamd_score".into()),
                        &SCORE_BUCKETS,
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; metrics then go there.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

/// The text a scrape gets: the process figures read now, then every metric.
pub fn render(handle: &PrometheusHandle) -> String {
    static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();
    PROCESS
        .get_or_init(|| {
            let collector = metrics_process::Collector::default();
            collector.describe();
            collector
        })
        .collect();
    handle.render()
}

/// Describes every metric and registers the label values known in advance at zero, so the
/// first scrape shows them all.
fn describe() {
    metrics::gauge!("congvu_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    describe_gauge!(
        "congvu_build_info",
        "The running congvu's version, as a label; always 1."
    );
    describe_connections();
    describe_commands();
    describe_mail();
    describe_messages();
    describe_imap_state();
    describe_internals();
    describe_backups();
    describe_filters();
    describe_inbound();
    for protocol in AUTH_PROTOCOLS {
        for outcome in AuthOutcome::ALL {
            metrics::counter!("congvu_auth_attempts_total", "protocol" => protocol, "outcome" => outcome.as_str()).increment(0);
        }
    }
    describe_counter!(
        "congvu_auth_attempts_total",
        "Sign-ins by protocol and outcome (success, must_change, wrong_password, unknown_name, locked, disabled, throttled, expired)."
    );
    describe_counter!(
        "congvu_certificate_expiry_notices_total",
        "Notices sent to officials whose signing certificate expires soon."
    );
    metrics::counter!("congvu_certificate_expiry_notices_total").increment(0);
    describe_counter!(
        "congvu_certificate_expiry_notice_failures_total",
        "Expiry notices that could not be delivered: an official without an INBOX, or a round stopped by a database error."
    );
    metrics::counter!("congvu_certificate_expiry_notice_failures_total").increment(0);
}

fn describe_connections() {
    for kind in LISTENERS {
        let listener = kind.as_str();
        metrics::counter!("congvu_connections_total", "listener" => listener).increment(0);
        metrics::gauge!("congvu_connections_open", "listener" => listener).increment(0.0);
        for why in [Refusal::ServerBusy, Refusal::TooManyFromAddress] {
            metrics::counter!("congvu_connections_refused_total", "listener" => listener, "reason" => why.as_str()).increment(0);
        }
    }
    describe_counter!(
        "congvu_connections_total",
        "Connections accepted, by listener."
    );
    describe_gauge!(
        "congvu_connections_open",
        "Connections open now, by listener."
    );
    describe_counter!(
        "congvu_connections_refused_total",
        "Connections refused over a limit, by listener and reason."
    );
}

fn describe_commands() {
    describe_counter!(
        "congvu_smtp_commands_total",
        "SMTP commands by verb and result (the reply's class: 2xx, 3xx, 4xx, 5xx)."
    );
    describe_histogram!(
        "congvu_smtp_command_duration_seconds",
        Unit::Seconds,
        "Time from an SMTP command's line to its reply, by verb (DATA and BDAT include the message)."
    );
    describe_counter!(
        "congvu_imap_commands_total",
        "IMAP commands by command and result (ok, no, bad); IDLE counts when it completes."
    );
    describe_histogram!(
        "congvu_imap_command_duration_seconds",
        Unit::Seconds,
        "Time to answer an IMAP command, by command (not IDLE, which lasts as long as the client waits)."
    );
    describe_counter!(
        "congvu_ldap_operations_total",
        "LDAP operations by type and result code name."
    );
    describe_histogram!(
        "congvu_ldap_operation_duration_seconds",
        Unit::Seconds,
        "Time to answer an LDAP operation, by type."
    );
    describe_histogram!(
        "congvu_ldap_search_entries",
        "Entries returned by one LDAP search."
    );
    for (verb, result) in [
        ("EHLO", "2xx"),
        ("MAIL", "2xx"),
        ("RCPT", "2xx"),
        ("DATA", "2xx"),
    ] {
        metrics::counter!("congvu_smtp_commands_total", "verb" => verb, "result" => result)
            .increment(0);
        // A histogram registered without a sample is exported with empty buckets, so
        // latency panels and alerts have a series from the first scrape.
        let _ = metrics::histogram!("congvu_smtp_command_duration_seconds", "verb" => verb);
    }
    for command in ["LOGIN", "SELECT", "FETCH", "APPEND"] {
        metrics::counter!("congvu_imap_commands_total", "command" => command, "result" => "ok")
            .increment(0);
        let _ = metrics::histogram!("congvu_imap_command_duration_seconds", "command" => command);
    }
    metrics::counter!("congvu_imap_commands_total", "command" => "IDLE", "result" => "ok")
        .increment(0);
    for operation in ["bind", "search"] {
        metrics::counter!("congvu_ldap_operations_total", "operation" => operation, "result" => "success").increment(0);
        let _ =
            metrics::histogram!("congvu_ldap_operation_duration_seconds", "operation" => operation);
    }
    let _ = metrics::histogram!("congvu_ldap_search_entries");
    describe_counter!(
        "congvu_http_requests_total",
        "HTTP requests by the route they matched (its pattern; `unmatched` for none) and status class."
    );
    describe_histogram!(
        "congvu_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by route."
    );
    for route in ["/healthz", "/metrics"] {
        metrics::counter!("congvu_http_requests_total", "route" => route, "status" => "2xx")
            .increment(0);
        let _ = metrics::histogram!("congvu_http_request_duration_seconds", "route" => route);
    }
}

fn describe_mail() {
    describe_histogram!(
        "congvu_intake_batch_messages",
        "Messages written by one group commit."
    );
    let _ = metrics::histogram!("congvu_intake_batch_messages");
    describe_histogram!(
        "congvu_intake_commit_duration_seconds",
        Unit::Seconds,
        "Time to make one group commit durable (written, committed and synced); senders wait this long for their 250."
    );
    let _ = metrics::histogram!("congvu_intake_commit_duration_seconds");
    describe_histogram!(
        "congvu_smtp_data_stage_seconds",
        Unit::Seconds,
        "Where a message's wait from its end of DATA to the 250 goes, stage by stage: checks, preparing the copies, hashing and working out its structure and text, waiting for the committer, and the group commit."
    );
    for stage in DataStage::ALL {
        let _ = metrics::histogram!("congvu_smtp_data_stage_seconds", "stage" => stage.as_str());
    }
    describe_gauge!("congvu_queue_entries", "Entries in the outbound queue.");
    metrics::gauge!("congvu_queue_entries").increment(0.0);
    describe_gauge!(
        "congvu_queue_oldest_entry_age_seconds",
        Unit::Seconds,
        "Age of the oldest outbound queue entry (held ones included); 0 when the queue is empty."
    );
    metrics::gauge!("congvu_queue_oldest_entry_age_seconds").increment(0.0);
    for (name, help) in [
        (
            "congvu_queue_delivered_total",
            "Queue entries delivered to a remote server.",
        ),
        (
            "congvu_queue_deferred_total",
            "Remote delivery attempts deferred for a retry.",
        ),
        (
            "congvu_queue_bounced_total",
            "Queue entries given up on, with a bounce to the sender.",
        ),
        (
            "congvu_queue_dropped_total",
            "Queue entries given up on without a bounce (bounces of bounces).",
        ),
        (
            "congvu_queue_delay_notices_total",
            "Delay notices sent to senders.",
        ),
    ] {
        describe_counter!(name, help);
        metrics::counter!(name).increment(0);
    }
    describe_counter!(
        "congvu_queue_notifications_total",
        "Delivery status notifications, by action."
    );
    describe_counter!(
        "congvu_smtp_submissions_total",
        "Messages officials submitted, by S/MIME signing state."
    );
    for signing in ["verified", "unverified", "unsigned"] {
        metrics::counter!("congvu_smtp_submissions_total", "signing" => signing).increment(0);
    }
    describe_counter!("congvu_ldap_binds_total", "LDAP simple binds by result.");
    describe_counter!(
        "congvu_deliveries_total",
        "Deliveries by destination (local: an official's INBOX at intake; remote: an attempt on a queue entry) and outcome (delivered, deferred, failed)."
    );
    for (destination, outcome) in DELIVERY_SERIES {
        metrics::counter!("congvu_deliveries_total", "destination" => destination, "outcome" => outcome).increment(0);
    }
}

/// Every (destination, outcome) pair of `congvu_deliveries_total`: a local copy lands or its
/// official has no INBOX; a remote attempt delivers, waits for a retry, or gives up.
const DELIVERY_SERIES: [(&str, &str); 5] = [
    ("local", "delivered"),
    ("local", "failed"),
    ("remote", "delivered"),
    ("remote", "deferred"),
    ("remote", "failed"),
];

/// Messages received over SMTP, and the message bodies the store holds.
fn describe_messages() {
    describe_counter!(
        "congvu_smtp_messages_total",
        "Messages at the end of DATA or BDAT by listener and result: accepted, or why they were refused (size, quota, policy, recipient, loop, malformed, temporary)."
    );
    for kind in SMTP_LISTENERS {
        let listener = kind.as_str();
        metrics::counter!("congvu_smtp_messages_total", "listener" => listener, "result" => "accepted").increment(0);
        for refusal in MessageRefusal::ALL {
            metrics::counter!("congvu_smtp_messages_total", "listener" => listener, "result" => refusal.as_str()).increment(0);
        }
    }
    describe_histogram!(
        "congvu_smtp_message_size_bytes",
        Unit::Bytes,
        "Size of the messages accepted over SMTP, as the client sent them."
    );
    let _ = metrics::histogram!("congvu_smtp_message_size_bytes");
    describe_gauge!(
        "congvu_message_bodies",
        "Message bodies stored (each stored once however many mailboxes and queue entries hold it)."
    );
    describe_gauge!(
        "congvu_message_body_bytes",
        Unit::Bytes,
        "Total size of the stored message bodies."
    );
    metrics::gauge!("congvu_message_bodies").increment(0.0);
    metrics::gauge!("congvu_message_body_bytes").increment(0.0);
}

/// IMAP state that commands do not show: who is signed in, who waits in IDLE, what FETCH sends.
fn describe_imap_state() {
    describe_gauge!(
        "congvu_imap_sessions",
        "IMAP sessions open with an official signed in."
    );
    describe_gauge!(
        "congvu_imap_idle_sessions",
        "IMAP sessions waiting in IDLE."
    );
    describe_counter!(
        "congvu_imap_fetch_bytes_total",
        Unit::Bytes,
        "Bytes of message data (BODY[], RFC822, BINARY and their parts) sent in FETCH responses."
    );
    metrics::gauge!("congvu_imap_sessions").increment(0.0);
    metrics::gauge!("congvu_imap_idle_sessions").increment(0.0);
    metrics::counter!("congvu_imap_fetch_bytes_total").increment(0);
}

/// The password hashing threads and the database.
fn describe_internals() {
    describe_gauge!(
        "congvu_hash_pool_queued_jobs",
        "Password checks waiting for a hashing thread."
    );
    describe_histogram!(
        "congvu_hash_pool_wait_seconds",
        Unit::Seconds,
        "Time a password check waited for a hashing thread before it ran."
    );
    metrics::gauge!("congvu_hash_pool_queued_jobs").increment(0.0);
    let _ = metrics::histogram!("congvu_hash_pool_wait_seconds");
    describe_histogram!(
        "congvu_store_transaction_duration_seconds",
        Unit::Seconds,
        "Time a database connection was held, by kind: write (from BEGIN, lock wait included, to COMMIT or rollback) or read."
    );
    for kind in [StoreWork::Read, StoreWork::Write] {
        let _ = metrics::histogram!("congvu_store_transaction_duration_seconds", "kind" => kind.as_str());
    }
}

/// The server's scheduled backups (`backup::schedule`). The timestamp starts at 0 (never),
/// so an alert on its age fires for a server that has never written one.
fn describe_backups() {
    describe_gauge!(
        "congvu_backup_last_success_timestamp_seconds",
        Unit::Seconds,
        "When the last scheduled backup was written (Unix time; 0: none since the server started)."
    );
    describe_gauge!(
        "congvu_backup_last_size_bytes",
        Unit::Bytes,
        "Size of the last scheduled backup's archive."
    );
    describe_counter!(
        "congvu_backup_failures_total",
        "Scheduled backups that failed."
    );
    metrics::gauge!("congvu_backup_last_success_timestamp_seconds").set(0.0);
    metrics::gauge!("congvu_backup_last_size_bytes").set(0.0);
    metrics::counter!("congvu_backup_failures_total").increment(0);
}

/// A scheduled backup written at `at`, `bytes` long.
pub fn backup_written(at: crate::clock::UnixTime, bytes: u64) {
    metrics::gauge!("congvu_backup_last_success_timestamp_seconds").set(at.0 as f64);
    metrics::gauge!("congvu_backup_last_size_bytes").set(bytes as f64);
}

/// A scheduled backup that failed.
pub fn backup_failed() {
    metrics::counter!("congvu_backup_failures_total").increment(1);
}

/// The content-filtering engines (`filter`): scans by outcome, their time, learning, and
/// the scores rspamd gives.
fn describe_filters() {
    describe_counter!(
        "congvu_filter_scans_total",
        "Messages scanned by engine (rspamd, clamav) and outcome: rspamd's action (reject, soft_reject, rewrite_subject, add_header, greylist, no_action), clean or infected for ClamAV, error or timeout for either."
    );
    describe_histogram!(
        "congvu_filter_scan_duration_seconds",
        Unit::Seconds,
        "Time one scan took, by engine, failed ones included."
    );
    describe_counter!(
        "congvu_filter_learn_total",
        "Messages sent to rspamd to learn, by kind (spam, ham) and outcome (ok, error)."
    );
    describe_histogram!(
        "congvu_rspamd_score",
        "The score rspamd gave each message it checked."
    );
    for (engine, outcomes) in FILTER_SERIES {
        for &outcome in outcomes {
            metrics::counter!("congvu_filter_scans_total", "engine" => engine, "outcome" => outcome)
                .increment(0);
        }
        let _ = metrics::histogram!("congvu_filter_scan_duration_seconds", "engine" => engine);
    }
    for kind in ["spam", "ham"] {
        for outcome in ["ok", "error"] {
            metrics::counter!("congvu_filter_learn_total", "engine" => "rspamd", "kind" => kind, "outcome" => outcome)
                .increment(0);
        }
    }
    let _ = metrics::histogram!("congvu_rspamd_score");
}

/// Every engine and the outcomes of `congvu_filter_scans_total` it is present with.
const FILTER_SERIES: [(&str, &[&str]); 2] = [
    (
        "rspamd",
        &[
            "reject",
            "soft_reject",
            "rewrite_subject",
            "add_header",
            "greylist",
            "no_action",
            "error",
            "timeout",
        ],
    ),
    ("clamav", &["clean", "infected", "error", "timeout"]),
];

/// Records one sign-in over `protocol` (the directory says how a login's outcome counts:
/// `directory::count_login`).
pub fn login_attempt(protocol: &'static str, outcome: AuthOutcome) {
    metrics::counter!("congvu_auth_attempts_total", "protocol" => protocol, "outcome" => outcome.as_str()).increment(1);
}

/// Records one SMTP command and its reply's class.
pub fn smtp_command(verb: &'static str, reply_code: u16, took: Duration) {
    let result = match reply_code / 100 {
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    metrics::counter!("congvu_smtp_commands_total", "verb" => verb, "result" => result)
        .increment(1);
    metrics::histogram!("congvu_smtp_command_duration_seconds", "verb" => verb)
        .record(took.as_secs_f64());
}

/// Records one IMAP command and its completion (`ok`, `no`, `bad`).
pub fn imap_command(command: &'static str, result: &'static str, took: Duration) {
    metrics::counter!("congvu_imap_commands_total", "command" => command, "result" => result)
        .increment(1);
    metrics::histogram!("congvu_imap_command_duration_seconds", "command" => command)
        .record(took.as_secs_f64());
}

/// Sender authentication and blocklists on the MX.
fn describe_inbound() {
    describe_counter!(
        "congvu_inbound_verdicts_total",
        "Messages from outside by sender authentication verdict (inbox, junk, refused, deferred)."
    );
    for verdict in ["inbox", "junk", "refused", "deferred"] {
        metrics::counter!("congvu_inbound_verdicts_total", "verdict" => verdict).increment(0);
    }
    describe_counter!(
        "congvu_dnsbl_answers_total",
        "Blocklist answers by zone and answer (listed, not_listed, refused: the list's own error code, error: no answer)."
    );
}

/// Records one sender authentication verdict on the MX.
pub fn inbound_verdict(verdict: &'static str) {
    metrics::counter!("congvu_inbound_verdicts_total", "verdict" => verdict).increment(1);
}

/// Records one blocklist answer.
pub fn dnsbl_answer(zone: String, answer: &'static str) {
    metrics::counter!("congvu_dnsbl_answers_total", "zone" => zone, "answer" => answer)
        .increment(1);
}

/// Records one HTTP request: the route it matched and the class of its status.
pub fn http_request(route: String, status: u16, took: Duration) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!("congvu_http_requests_total", "route" => route.clone(), "status" => class)
        .increment(1);
    metrics::histogram!("congvu_http_request_duration_seconds", "route" => route)
        .record(took.as_secs_f64());
}

/// Records an IDLE that ended with its completion (`ok` after DONE, `bad` for anything
/// else). Its duration is how long the client chose to wait, so it is not timed.
pub fn imap_idle_completed(result: &'static str) {
    metrics::counter!("congvu_imap_commands_total", "command" => "IDLE", "result" => result)
        .increment(1);
}

/// Records one LDAP operation, its result code and, for a search, the entries returned.
pub fn ldap_operation(
    operation: &'static str,
    result: String,
    entries: Option<usize>,
    took: Duration,
) {
    metrics::counter!("congvu_ldap_operations_total", "operation" => operation, "result" => result)
        .increment(1);
    metrics::histogram!("congvu_ldap_operation_duration_seconds", "operation" => operation)
        .record(took.as_secs_f64());
    if let Some(entries) = entries {
        metrics::histogram!("congvu_ldap_search_entries").record(entries as f64);
    }
}

/// Why a message was refused at the end of DATA or BDAT, as
/// `congvu_smtp_messages_total{result}` counts it: a small fixed set, so that a dashboard can
/// tell a sender's mistake from a fault of this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRefusal {
    /// Larger than `[smtp] max_message_bytes`.
    Size,
    /// It would not fit in the recipient's quota.
    Quota,
    /// A rule of this server: a `From:` the signed-in official may not use.
    Policy,
    /// DATA or the last BDAT with no recipient accepted.
    Recipient,
    /// Too many `Received:` fields: a mail loop.
    Loop,
    /// Not a well-formed message: a bare CR or LF, a line over 1000 octets.
    Malformed,
    /// A failure here (the database, the recipient index, the DKIM keys, DNS for sender
    /// authentication): the sender retries.
    Temporary,
    /// From outside, not authenticated as its sender's domain: DMARC `p=reject`, one of our
    /// own domains forged, or an SPF failure the configuration refuses.
    Authentication,
    /// rspamd judged it spam and advised refusing it.
    Spam,
    /// ClamAV found malware in it.
    Malware,
}

impl MessageRefusal {
    const ALL: [MessageRefusal; 10] = [
        MessageRefusal::Size,
        MessageRefusal::Quota,
        MessageRefusal::Policy,
        MessageRefusal::Recipient,
        MessageRefusal::Loop,
        MessageRefusal::Malformed,
        MessageRefusal::Temporary,
        MessageRefusal::Authentication,
        MessageRefusal::Spam,
        MessageRefusal::Malware,
    ];

    /// The label value.
    fn as_str(self) -> &'static str {
        match self {
            MessageRefusal::Size => "size",
            MessageRefusal::Quota => "quota",
            MessageRefusal::Policy => "policy",
            MessageRefusal::Recipient => "recipient",
            MessageRefusal::Loop => "loop",
            MessageRefusal::Malformed => "malformed",
            MessageRefusal::Temporary => "temporary",
            MessageRefusal::Authentication => "authentication",
            MessageRefusal::Spam => "spam",
            MessageRefusal::Malware => "malware",
        }
    }
}

/// Records a message accepted on `listener`: `bytes` as the client sent it.
pub fn smtp_message_accepted(listener: ListenerKind, bytes: usize) {
    metrics::counter!("congvu_smtp_messages_total", "listener" => listener.as_str(), "result" => "accepted")
        .increment(1);
    metrics::histogram!("congvu_smtp_message_size_bytes").record(bytes as f64);
}

/// Records a message refused on `listener`, and why.
pub fn smtp_message_refused(listener: ListenerKind, why: MessageRefusal) {
    metrics::counter!("congvu_smtp_messages_total", "listener" => listener.as_str(), "result" => why.as_str())
        .increment(1);
}

/// Records one group commit: how many messages it carried and how long they waited for it.
pub fn intake_commit(messages: usize, took: Duration) {
    metrics::histogram!("congvu_intake_batch_messages").record(messages as f64);
    metrics::histogram!("congvu_intake_commit_duration_seconds").record(took.as_secs_f64());
}

/// A stage of one message's way from its end of DATA to the 250, in the order it passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStage {
    /// The inbound checks of mail from outside (SPF, DKIM, DMARC, rspamd, ClamAV).
    Check,
    /// Hop count, quota, the submitter's From, DKIM signing, trace headers, Sieve filters:
    /// everything before the message is handed to the intake.
    Prepare,
    /// Hashing the copies and working out the local copy's structure and text.
    Derive,
    /// Waiting for the committer: the group commit before this message's is still writing.
    Queued,
    /// The group commit that carries the message: written, committed and synced.
    Commit,
}

impl DataStage {
    pub const ALL: [DataStage; 5] = [
        DataStage::Check,
        DataStage::Prepare,
        DataStage::Derive,
        DataStage::Queued,
        DataStage::Commit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataStage::Check => "check",
            DataStage::Prepare => "prepare",
            DataStage::Derive => "derive",
            DataStage::Queued => "queued",
            DataStage::Commit => "commit",
        }
    }
}

/// Records how long one message spent in `stage`.
pub fn data_stage(stage: DataStage, took: Duration) {
    metrics::histogram!("congvu_smtp_data_stage_seconds", "stage" => stage.as_str())
        .record(took.as_secs_f64());
}

/// Records the local copies of one committed message: those that landed in an INBOX, and
/// those whose official had none.
pub fn local_deliveries(delivered: usize, failed: usize) {
    for (outcome, n) in [("delivered", delivered), ("failed", failed)] {
        if n > 0 {
            metrics::counter!("congvu_deliveries_total", "destination" => "local", "outcome" => outcome)
                .increment(n as u64);
        }
    }
}

/// What one remote delivery attempt did to its queue entries, one count per entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueAttempt {
    pub delivered: usize,
    pub deferred: usize,
    /// Given up, with a bounce to the sender.
    pub bounced: usize,
    /// Given up without one (the message came from `<>`).
    pub dropped: usize,
    /// Delay notices sent to senders.
    pub delay_notices: usize,
}

/// Records one remote delivery attempt: the queue counters and the remote deliveries.
pub fn queue_attempt(attempt: QueueAttempt) {
    let counts = [
        ("congvu_queue_delivered_total", attempt.delivered),
        ("congvu_queue_deferred_total", attempt.deferred),
        ("congvu_queue_bounced_total", attempt.bounced),
        ("congvu_queue_dropped_total", attempt.dropped),
        ("congvu_queue_delay_notices_total", attempt.delay_notices),
    ];
    for (name, n) in counts {
        if n > 0 {
            metrics::counter!(name).increment(n as u64);
        }
    }
    let outcomes = [
        ("delivered", attempt.delivered),
        ("deferred", attempt.deferred),
        ("failed", attempt.bounced + attempt.dropped),
    ];
    for (outcome, n) in outcomes {
        if n > 0 {
            metrics::counter!("congvu_deliveries_total", "destination" => "remote", "outcome" => outcome)
                .increment(n as u64);
        }
    }
}

/// Sets the queue gauges: its size, and the age of its oldest entry (`None` when empty).
pub fn queue_state(entries: i64, oldest_age: Option<Duration>) {
    metrics::gauge!("congvu_queue_entries").set(entries as f64);
    let age = oldest_age.map_or(0.0, |a| a.as_secs_f64());
    metrics::gauge!("congvu_queue_oldest_entry_age_seconds").set(age);
}

/// Sets the body store gauges: how many bodies, and their total size.
pub fn message_bodies(count: i64, bytes: i64) {
    metrics::gauge!("congvu_message_bodies").set(count as f64);
    metrics::gauge!("congvu_message_body_bytes").set(bytes as f64);
}

/// One in a gauge for as long as it lives: a session signed in, a client in IDLE. Dropping
/// it takes the one back, whichever way the session ends.
#[derive(Debug)]
#[must_use = "the gauge goes back down when this is dropped"]
pub struct GaugeHeld {
    name: &'static str,
}

impl GaugeHeld {
    fn new(name: &'static str) -> GaugeHeld {
        metrics::gauge!(name).increment(1.0);
        GaugeHeld { name }
    }
}

impl Drop for GaugeHeld {
    fn drop(&mut self) {
        metrics::gauge!(self.name).decrement(1.0);
    }
}

/// Counts an IMAP session with an official signed in, until the result is dropped.
pub fn imap_session_signed_in() -> GaugeHeld {
    GaugeHeld::new("congvu_imap_sessions")
}

/// Counts an IMAP session in IDLE, until the result is dropped.
pub fn imap_idle_started() -> GaugeHeld {
    GaugeHeld::new("congvu_imap_idle_sessions")
}

/// Records `bytes` of message data sent in a FETCH response.
pub fn imap_fetch_bytes(bytes: usize) {
    if bytes > 0 {
        metrics::counter!("congvu_imap_fetch_bytes_total").increment(bytes as u64);
    }
}

/// Records a password check queued for a hashing thread.
pub fn hash_job_queued() {
    metrics::gauge!("congvu_hash_pool_queued_jobs").increment(1.0);
}

/// Records a password check leaving the queue: `waited` when a thread runs it, `None` when
/// it is dropped unrun (its caller left, or the pool closed).
pub fn hash_job_dequeued(waited: Option<Duration>) {
    metrics::gauge!("congvu_hash_pool_queued_jobs").decrement(1.0);
    if let Some(waited) = waited {
        metrics::histogram!("congvu_hash_pool_wait_seconds").record(waited.as_secs_f64());
    }
}

/// What a database connection was held for, as
/// `congvu_store_transaction_duration_seconds{kind}` tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreWork {
    /// Reads outside a transaction.
    Read,
    /// A write transaction.
    Write,
}

impl StoreWork {
    /// The label value.
    fn as_str(self) -> &'static str {
        match self {
            StoreWork::Read => "read",
            StoreWork::Write => "write",
        }
    }
}

/// Records how long a database connection was held for `work`.
pub fn store_transaction(work: StoreWork, took: Duration) {
    metrics::histogram!("congvu_store_transaction_duration_seconds", "kind" => work.as_str())
        .record(took.as_secs_f64());
}

/// Records a certificate expiry notice delivered.
pub fn certificate_expiry_notice_sent() {
    metrics::counter!("congvu_certificate_expiry_notices_total").increment(1);
}

/// Records a certificate expiry notice (or a whole round of them) that failed.
pub fn certificate_expiry_notice_failed() {
    metrics::counter!("congvu_certificate_expiry_notice_failures_total").increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample `series` (name with labels, as rendered).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn every_family_is_described_and_present_before_anything_happens() {
        let text = render(&recorder());
        for (family, kind) in [
            ("congvu_smtp_messages_total", "counter"),
            ("congvu_smtp_message_size_bytes", "histogram"),
            ("congvu_intake_commit_duration_seconds", "histogram"),
            ("congvu_intake_batch_messages", "histogram"),
            ("congvu_deliveries_total", "counter"),
            ("congvu_queue_entries", "gauge"),
            ("congvu_queue_oldest_entry_age_seconds", "gauge"),
            ("congvu_imap_sessions", "gauge"),
            ("congvu_imap_idle_sessions", "gauge"),
            ("congvu_imap_fetch_bytes_total", "counter"),
            ("congvu_hash_pool_queued_jobs", "gauge"),
            ("congvu_hash_pool_wait_seconds", "histogram"),
            ("congvu_store_transaction_duration_seconds", "histogram"),
            ("congvu_message_bodies", "gauge"),
            ("congvu_message_body_bytes", "gauge"),
            ("congvu_certificate_expiry_notice_failures_total", "counter"),
            ("congvu_smtp_command_duration_seconds", "histogram"),
            ("congvu_http_requests_total", "counter"),
            ("congvu_http_request_duration_seconds", "histogram"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} {kind}\n")),
                "no {kind} {family}:\n{text}"
            );
            assert!(text.contains(&format!("# HELP {family} ")), "{family}");
        }
        for listener in ["smtp", "submission", "submissions"] {
            for result in ["accepted", "size", "quota", "policy", "recipient", "loop"] {
                let series = format!(
                    "congvu_smtp_messages_total{{listener=\"{listener}\",result=\"{result}\"}}"
                );
                assert!(sample(&text, &series).is_some(), "{series}");
            }
        }
        for (destination, outcome) in DELIVERY_SERIES {
            let series = format!(
                "congvu_deliveries_total{{destination=\"{destination}\",outcome=\"{outcome}\"}}"
            );
            assert!(sample(&text, &series).is_some(), "{series}");
        }
    }

    #[test]
    fn refusal_reasons_are_distinct_label_values() {
        let mut values: Vec<&str> = MessageRefusal::ALL.iter().map(|r| r.as_str()).collect();
        values.push("accepted");
        let count = values.len();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), count);
    }

    #[test]
    fn a_held_gauge_counts_one_until_dropped() {
        let handle = recorder();
        let name = "congvu_test_gauge_held";
        let first = GaugeHeld::new(name);
        let second = GaugeHeld::new(name);
        assert_eq!(sample(&handle.render(), name), Some(2.0));
        drop(first);
        assert_eq!(sample(&handle.render(), name), Some(1.0));
        drop(second);
        assert_eq!(sample(&handle.render(), name), Some(0.0));
    }

    #[test]
    fn a_remote_attempt_counts_given_up_entries_as_failed_deliveries() {
        let handle = recorder();
        let failed = "congvu_deliveries_total{destination=\"remote\",outcome=\"failed\"}";
        let before = sample(&handle.render(), failed).unwrap_or(0.0);
        queue_attempt(QueueAttempt {
            bounced: 2,
            dropped: 1,
            ..QueueAttempt::default()
        });
        let after = sample(&handle.render(), failed).unwrap_or(0.0);
        // Other tests of this process may attempt deliveries too; at least these three count.
        assert!(after - before >= 3.0, "{before} -> {after}");
    }
}
