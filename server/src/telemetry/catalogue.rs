//! Every metric congvu exports on `/metrics`, in one place: its name, type and help, the
//! label values it is present with from the first scrape (at zero), the histogram buckets,
//! and the few calls protocols make to record what they did. Names follow Prometheus'
//! conventions: `congvu_` prefix, base units (`_seconds`, `_bytes`), `_total` on counters.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::directory::{DirectoryError, LoginOutcome, RefusedBecause};
use crate::net::{ListenerKind, Refusal};

/// Every listener, for the connection metrics' labels.
const LISTENERS: [ListenerKind; 9] = [
    ListenerKind::Smtp,
    ListenerKind::Submission,
    ListenerKind::Submissions,
    ListenerKind::Imap,
    ListenerKind::Imaps,
    ListenerKind::Ldap,
    ListenerKind::Ldaps,
    ListenerKind::Http,
    ListenerKind::Https,
];

/// The protocols an official or a system signs in over.
const AUTH_PROTOCOLS: [&str; 4] = ["smtp", "imap", "ldap", "portal"];

/// How a sign-in ended, as `congvu_auth_attempts_total{outcome}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthOutcome {
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
        "IMAP commands by command and result (ok, no, bad)."
    );
    describe_histogram!(
        "congvu_imap_command_duration_seconds",
        Unit::Seconds,
        "Time to answer an IMAP command, by command."
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
    }
    for command in ["LOGIN", "SELECT", "FETCH", "APPEND", "IDLE"] {
        metrics::counter!("congvu_imap_commands_total", "command" => command, "result" => "ok")
            .increment(0);
    }
    for operation in ["bind", "search"] {
        metrics::counter!("congvu_ldap_operations_total", "operation" => operation, "result" => "success").increment(0);
    }
}

fn describe_mail() {
    describe_histogram!(
        "congvu_intake_batch_messages",
        "Messages written by one group commit."
    );
    describe_gauge!("congvu_queue_entries", "Entries in the outbound queue.");
    metrics::gauge!("congvu_queue_entries").increment(0.0);
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
    describe_counter!("congvu_ldap_binds_total", "LDAP simple binds by result.");
}

/// Records how a sign-in over `protocol` ended (nothing when it could not be checked).
pub fn login_attempt(protocol: &'static str, outcome: &Result<LoginOutcome, DirectoryError>) {
    let outcome = match outcome {
        Ok(LoginOutcome::Accepted(_)) => AuthOutcome::Success,
        Ok(LoginOutcome::MustChange(_)) => AuthOutcome::MustChange,
        Ok(LoginOutcome::Refused(why)) => match why {
            RefusedBecause::UnknownName => AuthOutcome::UnknownName,
            RefusedBecause::WrongPassword => AuthOutcome::WrongPassword,
            RefusedBecause::Locked => AuthOutcome::Locked,
            RefusedBecause::Disabled => AuthOutcome::Disabled,
            RefusedBecause::Throttled => AuthOutcome::Throttled,
            RefusedBecause::Expired => AuthOutcome::Expired,
        },
        Err(_) => return,
    };
    auth_attempt(protocol, outcome);
}

/// Records one sign-in over `protocol`.
fn auth_attempt(protocol: &'static str, outcome: AuthOutcome) {
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
