//! What an operator installs from contrib/: the Prometheus alert rules pass `promtool`, every
//! metric the Grafana dashboard and the alerts query is exported by a fresh server from its
//! first scrape, and the metrics behind them move by exactly what a server process of its
//! own was made to do (the in-process servers of other tests share one recorder).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use congvu_tests::imap::RawImap;
use congvu_tests::smtp::RawSmtp;
use congvu_tests::{Backend, TestDb};
use sqlx::Connection;

use crate::binary::{repo_root, ServerProcess};
use crate::lifecycle::free_port_env;
use crate::smtp::fixture::{self, Province, ANNV, HOSTNAME};

const DASHBOARD: &str = "contrib/grafana/congvu.json";
const ALERTS: &str = "contrib/prometheus/congvu-alerts.yml";
/// How long a metric may take to show what happened (a gauge refreshed on the queue's poll).
/// Generous: with the whole suite running on 2 cores, a freshly started server process once
/// took longer than 20 s to make its first queue pass. Nothing waits this long when it works.
const SETTLE: Duration = Duration::from_secs(60);

/// Runs `promtool check rules` on `file`; fails (not skips) when promtool is missing.
fn promtool_check_rules(file: &Path) -> String {
    let output = Command::new("promtool")
        .args(["check", "rules"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}); install the Debian package prometheus, as .ci/run does"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool check rules {}:\n{text}",
        file.display()
    );
    text
}

#[test]
fn the_alert_rules_pass_promtool() {
    let text = promtool_check_rules(&repo_root().join(ALERTS));
    let rules = alert_rules();
    assert!(rules.len() >= 8, "{rules:?}");
    assert!(
        text.contains(&format!("SUCCESS: {} rules found", rules.len())),
        "{text}"
    );
    let rules_text = std::fs::read_to_string(repo_root().join(ALERTS)).unwrap();
    for needed in [
        "up{job=\"congvu\"} == 0",
        "congvu_queue_oldest_entry_age_seconds",
        "congvu_queue_bounced_total",
        "congvu_auth_attempts_total",
        "congvu_store_transaction_duration_seconds_bucket",
        "congvu_certificate_expiry_notice_failures_total",
        "congvu_message_body_bytes",
    ] {
        assert!(
            rules_text.contains(needed),
            "no alert uses {needed}:\n{rules_text}"
        );
    }
}

/// Each alert has a `for:`, a severity and both annotations.
#[test]
fn every_alert_says_how_long_how_bad_and_what_to_do() {
    let text = std::fs::read_to_string(repo_root().join(ALERTS)).unwrap();
    let alerts: Vec<&str> = text.split("- alert: ").skip(1).collect();
    assert_eq!(alerts.len(), alert_rules().len());
    for alert in alerts {
        let name = alert.lines().next().unwrap_or_default();
        for field in ["for: ", "severity: ", "summary: ", "description: "] {
            assert!(alert.contains(field), "{name} has no {field:?}");
        }
    }
}

/// The dashboard's queries are PromQL that Prometheus accepts: checked as recording rules.
#[test]
fn the_dashboard_queries_are_valid_promql() {
    let dashboard = dashboard();
    assert_eq!(dashboard["schemaVersion"], 39);
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    let rows: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        rows,
        [
            "SMTP",
            "IMAP",
            "LDAP",
            "Portal and HTTP",
            "Store and queue",
            "Process",
            "Inbound protection"
        ]
    );
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() > 30, "{queries:?}");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, query) in queries.iter().enumerate() {
        let quoted = serde_json::to_string(query).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard_query_{n}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, rules).unwrap();
    promtool_check_rules(&file);
    for query in queries.iter().filter(|q| q.contains("histogram_quantile")) {
        assert!(
            query.contains("sum by (le") && query.contains("_bucket{") && query.contains("[5m]"),
            "{query}"
        );
    }
}

/// A fresh server of its own, before any traffic, exports every family the dashboard and
/// the alerts query, with the type their queries assume.
#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_use_is_exported_from_the_first_scrape() {
    let mut used = metric_names(&dashboard_queries(&dashboard()));
    used.extend(metric_names(&alert_rules()));
    let families: BTreeSet<&str> = used.iter().map(|name| family_of(name)).collect();
    for (family, _) in NEW_FAMILIES {
        assert!(
            families.contains(family),
            "nothing in contrib/ uses {family}"
        );
    }
    let work = tempfile::tempdir().unwrap();
    let config = repo_root().join("config/congvu.toml");
    let mut process = ServerProcess::spawn(&config, work.path(), &free_port_env());
    process.wait_for_message("congvu ready", Duration::from_secs(60));
    let first = scrape(process.listeners()["http"]).await;
    let missing: Vec<&String> = used.iter().filter(|name| !exported(&first, name)).collect();
    assert!(
        missing.is_empty(),
        "used by contrib/ but not exported: {missing:?}\n{first}"
    );
    for (family, kind) in NEW_FAMILIES {
        assert!(
            first.contains(&format!("# TYPE {family} {kind}\n")),
            "no {kind} {family} in the first scrape"
        );
        assert!(
            first.contains(&format!("# HELP {family} ")),
            "{family} is not described"
        );
    }
    let (code, _) = process.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
}

/// The families this dashboard added, with their type.
const NEW_FAMILIES: [(&str, &str); 16] = [
    ("congvu_smtp_messages_total", "counter"),
    ("congvu_smtp_message_size_bytes", "histogram"),
    ("congvu_intake_commit_duration_seconds", "histogram"),
    ("congvu_smtp_data_stage_seconds", "histogram"),
    ("congvu_deliveries_total", "counter"),
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
    ("congvu_certificate_expiry_notices_total", "counter"),
];

/// The series a histogram exports besides its family name.
const HISTOGRAM_SERIES: [&str; 3] = ["_bucket", "_count", "_sum"];

/// The family a metric name belongs to: a histogram's series without their suffix.
fn family_of(name: &str) -> &str {
    HISTOGRAM_SERIES
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}

/// Whether `name` (a family, or a histogram's `_bucket`, `_count` or `_sum` series) is in
/// the exposition `text`.
fn exported(text: &str, name: &str) -> bool {
    let family = family_of(name);
    if family != name {
        return text.contains(&format!("# TYPE {family} histogram\n"));
    }
    text.contains(&format!("# TYPE {name} "))
}

/// The dashboard, parsed.
fn dashboard() -> serde_json::Value {
    let text = std::fs::read_to_string(repo_root().join(DASHBOARD)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every `expr` anywhere in the dashboard (panels, and panels inside collapsed rows).
fn dashboard_queries(value: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    match value {
        serde_json::Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("expr", serde_json::Value::String(expr)) => found.push(expr.clone()),
                    _ => found.extend(dashboard_queries(field)),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                found.extend(dashboard_queries(item));
            }
        }
        _ => {}
    }
    found
}

/// The `expr` of every rule in the alerts file: a one-line value, or a `|`/`>` block of the
/// lines indented deeper than `expr:`.
fn alert_rules() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join(ALERTS)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut exprs = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if !value.starts_with('|') && !value.starts_with('>') {
            exprs.push(value.to_string());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let block: Vec<&str> = lines[n + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .map(|l| l.trim())
            .collect();
        exprs.push(block.join(" ").trim().to_string());
    }
    exprs
}

/// The congvu_* and process_* metric names `queries` use.
fn metric_names(queries: &[String]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for query in queries {
        let bytes = query.as_bytes();
        let is_name_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
        for start in 0..bytes.len() {
            let rest = &query[start..];
            let starts_name = rest.starts_with("congvu_") || rest.starts_with("process_");
            if !starts_name || (start > 0 && is_name_byte(bytes[start - 1])) {
                continue;
            }
            let end = rest
                .bytes()
                .position(|b| !is_name_byte(b))
                .unwrap_or(rest.len());
            names.insert(rest[..end].to_string());
        }
    }
    names
}

/// The `/metrics` text of the server whose HTTP listener is `http`.
async fn scrape(http: SocketAddr) -> String {
    let response = reqwest::get(format!("http://{http}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Every sample of an exposition, by its name with labels as written.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of one sample; 0 when the series is absent.
fn value(text: &str, series: &str) -> f64 {
    samples(text).get(series).copied().unwrap_or(0.0)
}

/// Scrapes until `done` holds for the exposition, within [`SETTLE`]; returns it.
async fn scrape_until(http: SocketAddr, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + SETTLE;
    loop {
        let text = scrape(http).await;
        if done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How much each series changed from `before` to `after`.
struct Delta {
    before: String,
    after: String,
}

impl Delta {
    fn of(&self, series: &str) -> f64 {
        value(&self.after, series) - value(&self.before, series)
    }
}

/// A configuration for the binary over the seeded province's database: MX, submission,
/// IMAPS and HTTP on free ports, a 4 KiB message limit, and a smart host that refuses
/// connections, so a remote delivery is deferred at once.
fn write_config(db: &TestDb, smart_host: SocketAddr) -> PathBuf {
    let text = format!(
        "[server]\n\
         hostname = '{HOSTNAME}'\n\
         primary_domain = 'vinhphuc.gov.vn'\n\
         data_dir = '{}'\n\
         log_format = 'json'\n\
         \n\
         [database]\n\
         url = '{}'\n\
         \n\
         [tls]\n\
         self_signed = true\n\
         \n\
         [smtp]\n\
         listen = ['127.0.0.1:0']\n\
         submission_listen = ['127.0.0.1:0']\n\
         submissions_listen = []\n\
         max_message_bytes = 4096\n\
         \n\
         [imap]\n\
         listen = []\n\
         imaps_listen = ['127.0.0.1:0']\n\
         \n\
         [ldap]\n\
         listen = []\n\
         ldaps_listen = []\n\
         \n\
         [http]\n\
         listen = ['127.0.0.1:0']\n\
         \n\
         [sieve]\n\
         managesieve_listen = []\n\
         \n\
         [inbound]\n\
         authentication = 'off'\n\
         \n\
         [auth]\n\
         argon2_memory_kib = 64\n\
         argon2_iterations = 1\n\
         \n\
         [queue]\n\
         poll_seconds = 1\n\
         smart_host = '{smart_host}'\n",
        db.dir.path().join("data").display(),
        db.url
    );
    let path = db.dir.path().join("observability.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A loopback address nothing listens on.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The seeded province with one message already stored (so the body gauges have something
/// to count), served by the binary; the in-process server that seeded it is stopped.
async fn served_province() -> (TestDb, ServerProcess) {
    served_province_relaying_to(closed_port()).await
}

/// [`served_province`] with `smart_host` taking the mail for other domains.
async fn served_province_relaying_to(smart_host: SocketAddr) -> (TestDb, ServerProcess) {
    let province = Province::start(Backend::Sqlite).await.unwrap();
    let mut mx = province.mx().await;
    let earlier = fixture::message(
        "vanthu@hanoi.gov.vn",
        "nhunglth@vinhphuc.gov.vn",
        "truoc-khi-khoi-dong",
    );
    let replies = fixture::send(
        &mut mx,
        "vanthu@hanoi.gov.vn",
        &["nhunglth@vinhphuc.gov.vn"],
        &earlier,
    )
    .await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
    let Province { server, db, .. } = province;
    server.stop().await;
    let config = write_config(&db, smart_host);
    let process = tokio::task::block_in_place(|| {
        let mut process = ServerProcess::spawn(&config, db.dir.path(), &[]);
        process.wait_for_message("congvu ready", Duration::from_secs(60));
        process
    });
    (db, process)
}

/// The bodies table as the database itself counts it: rows and bytes.
async fn stored_bodies(db: &TestDb) -> (f64, f64) {
    let mut conn = sqlx::SqliteConnection::connect(&format!("{}?mode=ro", db.url))
        .await
        .unwrap();
    let (count, bytes): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM message_bodies")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let _ = conn.close().await;
    (count as f64, bytes as f64)
}

/// One accepted message, one too large and one with no valid recipient, on the MX port of a
/// server process of its own: each counted once under its result, the accepted one's size
/// exactly, its local copy as a delivery, its group commit timed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smtp_messages_are_counted_by_result_with_their_size() {
    let (db, process) = served_province().await;
    let listeners = process.listeners();
    let http = listeners["http"];

    let (count, bytes) = stored_bodies(&db).await;
    assert_eq!(count, 1.0, "the message stored before the start");
    scrape_until(http, "counted the stored bodies", |text| {
        value(text, "congvu_message_bodies") == count
            && value(text, "congvu_message_body_bytes") == bytes
    })
    .await;

    let before = scrape(http).await;
    let (mut smtp, greeting) = RawSmtp::connect(listeners["smtp"]).await;
    assert_eq!(greeting.code, 220);
    assert_eq!(smtp.command("EHLO relay.hanoi.gov.vn").await.code, 250);
    let sender = "vanthu@hanoi.gov.vn";
    let annv = "annv@vinhphuc.gov.vn";
    let message = fixture::message(sender, annv, "cong-van-so-1");
    let replies = fixture::send(&mut smtp, sender, &[annv], &message).await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");
    // Five lines of 1000 octets: over the 4 KiB limit, every line within RFC 5321's.
    let large = format!("{message}{}", format!("{}\r\n", "x".repeat(998)).repeat(5));
    let replies = fixture::send(&mut smtp, sender, &[annv], &large).await;
    assert_eq!(replies.last().unwrap().code, 552, "{replies:?}");
    let replies = fixture::send(&mut smtp, sender, &["khong-co@vinhphuc.gov.vn"], &message).await;
    assert_eq!(replies.last().unwrap().code, 554, "{replies:?}");
    assert_eq!(smtp.command("QUIT").await.code, 221);

    let after = scrape(http).await;
    let delta = Delta { before, after };
    let messages = |result: &str| {
        delta.of(&format!(
            "congvu_smtp_messages_total{{listener=\"smtp\",result=\"{result}\"}}"
        ))
    };
    assert_eq!(messages("accepted"), 1.0, "{}", delta.after);
    assert_eq!(messages("size"), 1.0, "{}", delta.after);
    assert_eq!(messages("recipient"), 1.0, "{}", delta.after);
    assert_eq!(messages("temporary"), 0.0, "{}", delta.after);
    assert_eq!(delta.of("congvu_smtp_message_size_bytes_count"), 1.0);
    assert_eq!(
        delta.of("congvu_smtp_message_size_bytes_sum"),
        message.len() as f64
    );
    let local = "congvu_deliveries_total{destination=\"local\",outcome=\"delivered\"}";
    assert_eq!(delta.of(local), 1.0, "{}", delta.after);
    assert_eq!(delta.of("congvu_intake_commit_duration_seconds_count"), 1.0);
    assert_eq!(delta.of("congvu_intake_batch_messages_count"), 1.0);
    // The accepted message passed every stage once; the refused ones never reached them.
    for stage in ["check", "prepare", "derive", "queued", "commit"] {
        let count = format!("congvu_smtp_data_stage_seconds_count{{stage=\"{stage}\"}}");
        assert_eq!(delta.of(&count), 1.0, "{stage}: {}", delta.after);
        let sum = format!("congvu_smtp_data_stage_seconds_sum{{stage=\"{stage}\"}}");
        assert!(
            delta.of(&sum) > 0.0,
            "{stage} took no time: {}",
            delta.after
        );
    }
    let writes = "congvu_store_transaction_duration_seconds_count{kind=\"write\"}";
    assert!(delta.of(writes) >= 1.0, "{}", delta.after);
    let (code, log) = process.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", log.join("\n"));
}

/// An official signs in over IMAPS, fetches a message and waits in IDLE: the session and
/// IDLE gauges follow, FETCH counts exactly the message's bytes, the password check went
/// through the hashing pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imap_sessions_idle_and_fetched_bytes_are_counted() {
    let (db, process) = served_province().await;
    let listeners = process.listeners();
    let http = listeners["http"];
    let (mut smtp, _) = RawSmtp::connect(listeners["smtp"]).await;
    assert_eq!(smtp.command("EHLO relay.hanoi.gov.vn").await.code, 250);
    let sender = "vanthu@hanoi.gov.vn";
    let message = fixture::message(sender, "annv@vinhphuc.gov.vn", "cong-van-so-2");
    let replies = fixture::send(&mut smtp, sender, &["annv@vinhphuc.gov.vn"], &message).await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");

    let before = scrape(http).await;
    assert_eq!(value(&before, "congvu_imap_sessions"), 0.0);
    let (mut imap, greeting) = RawImap::connect_tls(listeners["imaps"], &db).await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    let login = imap
        .command("a1", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
        .await;
    assert!(login.last().unwrap().starts_with("a1 OK"), "{login:?}");
    let signed_in = scrape(http).await;
    assert_eq!(value(&signed_in, "congvu_imap_sessions"), 1.0);
    let waits = "congvu_hash_pool_wait_seconds_count";
    assert!(value(&signed_in, waits) > value(&before, waits));
    assert_eq!(value(&signed_in, "congvu_hash_pool_queued_jobs"), 0.0);

    imap.command("a2", "SELECT INBOX").await;
    let fetched = imap.command("a3", "FETCH 1 (BODY.PEEK[])").await;
    let literal = fetched
        .iter()
        .find_map(|l| {
            let at = l.find("BODY[] {")? + "BODY[] {".len();
            l[at..].split('}').next()?.parse::<f64>().ok()
        })
        .unwrap_or_else(|| panic!("no BODY[] literal: {fetched:?}"));
    assert!(
        literal > message.len() as f64,
        "the stored copy has trace headers"
    );
    let after_fetch = scrape(http).await;
    let fetch_bytes = "congvu_imap_fetch_bytes_total";
    assert_eq!(
        value(&after_fetch, fetch_bytes) - value(&before, fetch_bytes),
        literal
    );

    imap.send(b"a4 IDLE\r\n").await;
    let continuation = imap.read_line().await.unwrap();
    assert!(continuation.starts_with("+ "), "{continuation}");
    let idling = scrape(http).await;
    assert_eq!(value(&idling, "congvu_imap_idle_sessions"), 1.0);
    let idle_ok = "congvu_imap_commands_total{command=\"IDLE\",result=\"ok\"}";
    assert_eq!(
        value(&idling, idle_ok),
        0.0,
        "IDLE counts when it completes"
    );
    imap.send(b"DONE\r\n").await;
    let done = imap.until_tagged("a4").await;
    assert!(done.last().unwrap().starts_with("a4 OK"), "{done:?}");
    let idled = scrape(http).await;
    assert_eq!(value(&idled, "congvu_imap_idle_sessions"), 0.0);
    assert_eq!(value(&idled, idle_ok), 1.0);
    imap.command("a5", "LOGOUT").await;
    scrape_until(http, "signed out", |text| {
        value(text, "congvu_imap_sessions") == 0.0
    })
    .await;
    let (code, log) = process.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", log.join("\n"));
}

/// A message an official submits to another domain joins the queue; the smart host refuses
/// the connection, so the attempt is a remote deferral, and the queue gauges show the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deferred_remote_delivery_shows_in_the_queue_metrics() {
    let (db, process) = served_province().await;
    let listeners = process.listeners();
    let http = listeners["http"];
    let before = scrape(http).await;
    assert_eq!(value(&before, "congvu_queue_entries"), 0.0);

    let mut smtp = submission_as(listeners["submission"], &db, ANNV).await;
    let from = "annv@vinhphuc.gov.vn";
    let to = "vanthu@hanoi.gov.vn";
    let message = fixture::message(from, to, "cong-van-di");
    let replies = fixture::send(&mut smtp, from, &[to], &message).await;
    assert_eq!(replies.last().unwrap().code, 250, "{replies:?}");

    let deferred = "congvu_deliveries_total{destination=\"remote\",outcome=\"deferred\"}";
    let after = scrape_until(http, "deferred the remote delivery", |text| {
        value(text, deferred) == 1.0 && value(text, "congvu_queue_entries") == 1.0
    })
    .await;
    let delta = Delta { before, after };
    let submitted = "congvu_smtp_messages_total{listener=\"submission\",result=\"accepted\"}";
    assert_eq!(delta.of(submitted), 1.0);
    assert_eq!(delta.of("congvu_queue_deferred_total"), 1.0);
    let remote_delivered = "congvu_deliveries_total{destination=\"remote\",outcome=\"delivered\"}";
    assert_eq!(delta.of(remote_delivered), 0.0);
    let age = value(&delta.after, "congvu_queue_oldest_entry_age_seconds");
    assert!((0.0..120.0).contains(&age), "{age}");
    let (code, log) = process.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", log.join("\n"));
}

/// One message to a local official and two recipients elsewhere, one of whom the remote
/// server refuses: grepping the server's log for the queue id of the `250` reply finds its
/// acceptance (with its connection's span), the delivery attempt, each recipient's outcome
/// and the bounce, and nothing about any other message; the copy the remote server got
/// names the same id in its `Received:` header.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_grep_for_the_queue_id_follows_a_message_from_intake_to_its_bounce() {
    let refused = "khongco@hanoi.gov.vn";
    let remote = congvu_tests::smtp_sink::SmtpSink::builder()
        .rcpt_reply(refused, "550 5.1.1 No such user")
        .start()
        .await;
    let (db, mut process) = served_province_relaying_to(remote.addr()).await;
    let listeners = process.listeners();

    let mut smtp = submission_as(listeners["submission"], &db, ANNV).await;
    let from = "annv@vinhphuc.gov.vn";
    let accepted = "vanphong@hanoi.gov.vn";
    let local = "nhunglth@vinhphuc.gov.vn";
    let message = fixture::message(from, accepted, "cong-van-theo-doi");
    let replies = fixture::send(&mut smtp, from, &[local, accepted, refused], &message).await;
    let last = replies.last().unwrap();
    assert_eq!(last.code, 250, "{replies:?}");
    let queue_id = last
        .line()
        .rsplit_once("queued as ")
        .map(|(_, id)| id.trim().to_string())
        .unwrap_or_else(|| panic!("no queue id in {last:?}"));
    assert_eq!(smtp.command("QUIT").await.code, 221);

    tokio::task::block_in_place(|| {
        process.wait_for_message("delivery status notification", SETTLE);
    });
    let (code, log) = process.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", log.join("\n"));

    let trail: Vec<serde_json::Value> = log
        .iter()
        .filter(|line| line.contains(&queue_id))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let messages: Vec<&str> = trail
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "message accepted",
            "delivery attempt",
            "delivered",
            "not delivered",
            "delivery status notification"
        ],
        "{trail:#?}"
    );
    for event in &trail {
        assert_eq!(event["queue_id"], queue_id.as_str(), "{event}");
    }
    let acceptance = &trail[0];
    assert_eq!(acceptance["delivered"], 1);
    assert_eq!(acceptance["queued"], 2);
    assert_eq!(acceptance["span"]["name"], "connection", "{acceptance}");
    assert_eq!(acceptance["span"]["listener"], "submission", "{acceptance}");
    assert!(acceptance["span"]["id"].is_u64(), "{acceptance}");
    assert_eq!(trail[2]["recipient"], accepted);
    assert_eq!(trail[3]["recipient"], refused);
    assert_eq!(trail[3]["status"], "5.1.1");
    let notice = &trail[4];
    assert_eq!(notice["action"], "failed");
    assert_eq!(notice["to"], "inbox");
    assert_ne!(notice["notice_queue_id"], queue_id.as_str());

    let transactions = remote.transactions();
    assert_eq!(transactions.len(), 1, "{transactions:?}");
    let data = String::from_utf8_lossy(&transactions[0].data);
    assert!(
        data.contains(&format!("(congvu) with ESMTPSA id {queue_id}")),
        "{data}"
    );
}

/// HTTP requests count under the route they matched and their status class, and a path no
/// route serves counts as `unmatched`, whatever it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_requests_are_counted_by_route_and_status() {
    let (_db, process) = served_province().await;
    let http = process.listeners()["http"];
    let metrics_ok = "congvu_http_requests_total{route=\"/metrics\",status=\"2xx\"}";
    let unmatched = "congvu_http_requests_total{route=\"unmatched\",status=\"4xx\"}";
    let health = "congvu_http_requests_total{route=\"/healthz\",status=\"2xx\"}";
    let before = scrape(http).await;
    for path in ["/wp-login.php", "/.env", "/cgi-bin/test?x=1"] {
        let response = reqwest::get(format!("http://{http}{path}")).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let response = reqwest::get(format!("http://{http}/healthz"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let after = scrape(http).await;
    let delta = Delta { before, after };
    // The scrape that took `before` is counted once it answered: in `after`.
    assert_eq!(delta.of(metrics_ok), 1.0, "{}", delta.after);
    assert_eq!(delta.of(unmatched), 3.0, "{}", delta.after);
    assert_eq!(delta.of(health), 1.0, "{}", delta.after);
    let timed = "congvu_http_request_duration_seconds_count{route=\"unmatched\"}";
    assert_eq!(delta.of(timed), 3.0, "{}", delta.after);
    assert!(
        !delta.after.contains("wp-login") && !delta.after.contains(".env"),
        "a client's path became a label:\n{}",
        delta.after
    );
    let (code, log) = process.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", log.join("\n"));
}

/// A submission session on `addr` after STARTTLS, authenticated as `who`.
async fn submission_as(
    addr: SocketAddr,
    db: &TestDb,
    who: fixture::Who,
) -> RawSmtp<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let (mut smtp, _) = RawSmtp::connect(addr).await;
    assert_eq!(smtp.command("EHLO laptop").await.code, 250);
    assert_eq!(smtp.command("STARTTLS").await.code, 220);
    let (tcp, rest) = smtp.into_parts();
    assert!(rest.is_empty());
    let name = rustls::pki_types::ServerName::try_from(HOSTNAME).unwrap();
    let tls = congvu_tests::server::tls_connector(db)
        .connect(name, tcp)
        .await
        .unwrap();
    let mut smtp = RawSmtp::over(tls);
    assert_eq!(smtp.command("EHLO laptop").await.code, 250);
    let reply = smtp.command(&fixture::auth_plain(who.0, who.1)).await;
    assert_eq!(reply.code, 235, "{reply:?}");
    smtp
}
