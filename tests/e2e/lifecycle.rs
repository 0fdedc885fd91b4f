//! The server's lifecycle, in-process and as the real binary: listeners, `/healthz`,
//! `/metrics`, TLS, SIGTERM, and the exit status and message for every start-up failure.

use std::sync::Arc;
use std::time::Duration;

use crate::binary::{repo_root, run_to_exit, Finished, ServerProcess};
use congvu::net::ListenerKind;
use congvu_tests::{server, Backend, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::store_suite::on_both_backends;

on_both_backends!(healthz_answers_when_the_database_does);

async fn healthz_answers_when_the_database_does(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let running = server::start(&db).await;
    let http = running.local_addr(ListenerKind::Http).unwrap();
    let response = reqwest::get(format!("http://{http}/healthz"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok\n");
    assert!(running.stop().await, "sessions drained");
}

/// The first line a server sends, with its CRLF.
async fn read_greeting(stream: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        buf.push(byte[0]);
    }
    String::from_utf8(buf).unwrap()
}

#[tokio::test]
async fn listeners_greet() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let running = server::start(&db).await;
    let kinds: Vec<_> = running.listeners().iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds.len(),
        9,
        "every configured listener is bound: {kinds:?}"
    );
    let sieve = running.local_addr(ListenerKind::ManageSieve).unwrap();
    let mut sieve = tokio::net::TcpStream::connect(sieve).await.unwrap();
    assert_eq!(
        read_greeting(&mut sieve).await,
        "\"IMPLEMENTATION\" \"congvu\"\r\n"
    );

    let mut smtp = tokio::net::TcpStream::connect(running.local_addr(ListenerKind::Smtp).unwrap())
        .await
        .unwrap();
    assert_eq!(
        read_greeting(&mut smtp).await,
        "220 mail.vinhphuc.gov.vn ESMTP congvu\r\n"
    );
    let mut imap = tokio::net::TcpStream::connect(running.local_addr(ListenerKind::Imap).unwrap())
        .await
        .unwrap();
    assert_eq!(
        read_greeting(&mut imap).await,
        "* OK [CAPABILITY IMAP4REV1 STARTTLS LOGINDISABLED LITERAL+ IDLE ID NAMESPACE ENABLE \
         UNSELECT UIDPLUS MOVE QUOTA CONDSTORE SPECIAL-USE] congvu IMAP ready\r\n"
    );
    running.stop().await;
}

/// The value of the sample `name` (with its labels) in a Prometheus text exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The metrics of a server process of its own, so that no other test's traffic counts:
/// exactly the connections this test made.
#[tokio::test]
async fn metrics_count_exactly_this_servers_connections() {
    let work = tempfile::tempdir().unwrap();
    let config = repo_root().join("config/congvu.toml");
    let mut process = ServerProcess::spawn(&config, work.path(), &free_port_env());
    process.wait_for_message("congvu ready", Duration::from_secs(60));
    let listeners = process.listeners();
    for _ in 0..3 {
        let mut smtp = tokio::net::TcpStream::connect(listeners["smtp"])
            .await
            .unwrap();
        assert!(read_greeting(&mut smtp).await.starts_with("220 "));
    }
    let mut imap = tokio::net::TcpStream::connect(listeners["imap"])
        .await
        .unwrap();
    assert!(read_greeting(&mut imap).await.starts_with("* OK "));

    let response = reqwest::get(format!("http://{}/metrics", listeners["http"]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    let count = |listener: &str| {
        sample(
            &text,
            &format!("congvu_connections_total{{listener=\"{listener}\"}}"),
        )
    };
    assert_eq!(count("smtp"), Some(3.0), "{text}");
    assert_eq!(count("imap"), Some(1.0), "{text}");
    assert_eq!(
        count("ldap").unwrap_or(0.0),
        0.0,
        "no LDAP connection was made: {text}"
    );
    let (code, _) = process.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
}

/// Families every fresh server exports before any traffic, with their type.
const FIRST_SCRAPE: [(&str, &str); 14] = [
    ("congvu_build_info", "gauge"),
    ("congvu_connections_total", "counter"),
    ("congvu_connections_open", "gauge"),
    ("congvu_connections_refused_total", "counter"),
    ("congvu_auth_attempts_total", "counter"),
    ("congvu_smtp_commands_total", "counter"),
    ("congvu_imap_commands_total", "counter"),
    ("congvu_ldap_operations_total", "counter"),
    ("congvu_queue_entries", "gauge"),
    ("congvu_queue_delivered_total", "counter"),
    ("congvu_certificate_expiry_notices_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_cpu_seconds_total", "counter"),
    ("process_open_fds", "gauge"),
];

/// A server process of its own: its first scrape has every family (at zero), then counts
/// exactly this test's SMTP commands, LDAP operations and sign-ins.
#[tokio::test]
async fn metrics_are_there_from_the_first_scrape_and_count_commands() {
    let work = tempfile::tempdir().unwrap();
    let config = repo_root().join("config/congvu.toml");
    let mut env = free_port_env();
    env.push(("CONGVU_LDAP__ALLOW_PLAINTEXT_BIND_ON_LOOPBACK", "true"));
    let mut process = ServerProcess::spawn(&config, work.path(), &env);
    process.wait_for_message("congvu ready", Duration::from_secs(60));
    let listeners = process.listeners();
    let scrape = || async {
        let url = format!("http://{}/metrics", listeners["http"]);
        reqwest::get(url).await.unwrap().text().await.unwrap()
    };
    let first = scrape().await;
    for (family, kind) in FIRST_SCRAPE {
        assert!(
            first.contains(&format!("# TYPE {family} {kind}\n")),
            "no {kind} {family} in the first scrape:\n{first}"
        );
    }
    let version = concat!(
        "congvu_build_info{version=\"",
        env!("CARGO_PKG_VERSION"),
        "\"}"
    );
    assert_eq!(sample(&first, version), Some(1.0), "{first}");
    let wrong = "congvu_auth_attempts_total{protocol=\"ldap\",outcome=\"unknown_name\"}";
    assert_eq!(sample(&first, wrong), Some(0.0), "{first}");

    let mut smtp = tokio::net::TcpStream::connect(listeners["smtp"])
        .await
        .unwrap();
    read_greeting(&mut smtp).await;
    // EHLO, then QUIT once it is answered: RFC 2920 has EHLO end a pipelined group.
    smtp.write_all(b"EHLO client.example.org\r\n")
        .await
        .unwrap();
    let mut ehlo = [0u8; 512];
    let _ = smtp.read(&mut ehlo).await.unwrap();
    smtp.write_all(b"QUIT\r\n").await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), smtp.read_to_end(&mut rest)).await;
    let ldap = congvu_tests::ldap::connect(listeners["ldap"], congvu_tests::ldap::Transport::Plain);
    let mut ldap = ldap.await;
    let bound = ldap
        .simple_bind("uid=nobody,dc=example,dc=org", "sai-mat-khau")
        .await;
    assert_eq!(bound.unwrap().rc, 49, "invalid credentials");
    // The root DSE, readable by anyone: one entry, counted in the search's entries.
    let (entries, _) = ldap
        .search(
            "",
            ldap3::Scope::Base,
            "(objectClass=*)",
            vec!["namingContexts"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(entries.len(), 1);
    let _ = ldap.unbind().await;

    let after = scrape().await;
    let smtp_count = |verb: &str| {
        let name = format!("congvu_smtp_commands_total{{verb=\"{verb}\",result=\"2xx\"}}");
        sample(&after, &name)
    };
    assert_eq!(smtp_count("EHLO"), Some(1.0), "{after}");
    assert_eq!(smtp_count("QUIT"), Some(1.0), "{after}");
    let ehlo_timed = "congvu_smtp_command_duration_seconds_count{verb=\"EHLO\"}";
    assert_eq!(sample(&after, ehlo_timed), Some(1.0), "{after}");
    assert_eq!(sample(&after, wrong), Some(1.0), "{after}");
    let refused_bind =
        "congvu_ldap_operations_total{operation=\"bind\",result=\"invalid_credentials\"}";
    assert_eq!(sample(&after, refused_bind), Some(1.0), "{after}");
    assert_eq!(
        sample(&after, "congvu_ldap_search_entries_count"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "congvu_ldap_search_entries_sum"),
        Some(1.0),
        "{after}"
    );
    let (code, _) = process.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
}

/// Every log line of a connection carries the connection's id, listener and peer, so one
/// grep follows one client; two connections have two ids.
#[tokio::test]
async fn log_lines_carry_their_connection() {
    let work = tempfile::tempdir().unwrap();
    let config = repo_root().join("config/congvu.toml");
    let mut process = ServerProcess::spawn(&config, work.path(), &free_port_env());
    process.wait_for_message("congvu ready", Duration::from_secs(60));
    let smtp = process.listeners()["smtp"];
    for _ in 0..2 {
        let mut client = tokio::net::TcpStream::connect(smtp).await.unwrap();
        read_greeting(&mut client).await;
        // EHLO must end a pipelined group (RFC 2920): the server logs the offence.
        client
            .write_all(b"EHLO client.example.org\r\nNOOP\r\n")
            .await
            .unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut rest)).await;
    }
    let (_, log) = tokio::task::spawn_blocking(move || process.terminate(Duration::from_secs(30)))
        .await
        .unwrap();
    let spans: Vec<serde_json::Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["message"] == "SMTP client pipelined where RFC 2920 forbids it")
        .map(|e| e["span"].clone())
        .collect();
    assert_eq!(spans.len(), 2, "log:\n{}", log.join("\n"));
    for span in &spans {
        assert_eq!(span["name"], "connection", "{span}");
        assert_eq!(span["listener"], "smtp", "{span}");
        assert!(span["id"].as_u64().is_some(), "{span}");
        assert!(
            span["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{span}"
        );
    }
    assert_ne!(spans[0]["id"], spans[1]["id"], "two connections, one id");
}

#[tokio::test]
async fn implicit_tls_ports_complete_a_handshake_with_the_generated_certificate() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let config = server::test_config(&db);
    let running = congvu::server::RunningServer::start(&config).await.unwrap();
    let cert_path = config.server.data_dir.join("tls/self-signed-cert.pem");
    let pem = std::fs::read(&cert_path).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    for kind in [ListenerKind::Submissions, ListenerKind::Imaps] {
        let tcp = tokio::net::TcpStream::connect(running.local_addr(kind).unwrap())
            .await
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("mail.vinhphuc.gov.vn").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let greeting = read_greeting(&mut tls).await;
        let expected = if kind == ListenerKind::Submissions {
            "220 mail.vinhphuc.gov.vn ESMTP"
        } else {
            "* OK [CAPABILITY IMAP4REV1 AUTH=PLAIN SASL-IR "
        };
        assert!(greeting.starts_with(expected), "{kind}: {greeting:?}");
    }
    // Plain bytes on a TLS port get no protocol greeting.
    let mut plain =
        tokio::net::TcpStream::connect(running.local_addr(ListenerKind::Imaps).unwrap())
            .await
            .unwrap();
    plain.write_all(b"a1 CAPABILITY\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut buf))
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&buf).contains("CAPABILITY"),
        "plaintext answered on a TLS port"
    );
    running.stop().await;
}

/// Environment that moves every listener of `config/congvu.toml` to a free port and logs JSON.
pub(crate) fn free_port_env() -> Vec<(&'static str, &'static str)> {
    let any = "[\"127.0.0.1:0\"]";
    vec![
        ("CONGVU_SMTP__LISTEN", any),
        ("CONGVU_SMTP__SUBMISSION_LISTEN", any),
        ("CONGVU_SMTP__SUBMISSIONS_LISTEN", any),
        ("CONGVU_IMAP__LISTEN", any),
        ("CONGVU_IMAP__IMAPS_LISTEN", any),
        ("CONGVU_LDAP__LISTEN", any),
        ("CONGVU_LDAP__LDAPS_LISTEN", any),
        ("CONGVU_HTTP__LISTEN", any),
        ("CONGVU_SIEVE__MANAGESIEVE_LISTEN", any),
        ("CONGVU_SERVER__LOG_FORMAT", "json"),
    ]
}

#[tokio::test]
async fn the_shipped_config_runs_creates_a_migrated_database_and_stops_on_sigterm() {
    let work = tempfile::tempdir().unwrap();
    let config = repo_root().join("config/congvu.toml");
    let mut process = ServerProcess::spawn(&config, work.path(), &free_port_env());
    process.wait_for_message("congvu ready", Duration::from_secs(60));
    let listeners = process.listeners();
    assert_eq!(listeners.len(), 9, "{listeners:?}");

    let response = reqwest::get(format!("http://{}/healthz", listeners["http"]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let db_path = work.path().join("data/congvu.db");
    assert!(db_path.exists(), "no database at {}", db_path.display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}?mode=ro",
        db_path.display()
    ))
    .await
    .unwrap();
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let mut shipped: Vec<(i64, bool)> = std::fs::read_dir(repo_root().join("migrations/sqlite"))
        .unwrap()
        .map(|e| {
            e.unwrap().file_name().to_string_lossy()[..4]
                .parse()
                .unwrap()
        })
        .map(|version| (version, true))
        .collect();
    shipped.sort();
    assert!(!shipped.is_empty());
    assert_eq!(
        applied, shipped,
        "every migration the repository ships is applied"
    );
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    drop(conn);

    // A connection open during shutdown does not keep the server from exiting cleanly.
    let _idle = tokio::net::TcpStream::connect(listeners["ldap"])
        .await
        .unwrap();
    let (code, log) =
        tokio::task::spawn_blocking(move || process.terminate(Duration::from_secs(30)))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "log:\n{}", log.join("\n"));
    assert!(
        log.iter().any(|l| l.contains("\"signal\":\"SIGTERM\"")),
        "log:\n{}",
        log.join("\n")
    );
    assert!(log.iter().any(|l| l.contains("\"message\":\"stopped\"")));
}

#[test]
fn a_taken_port_stops_start_up_with_status_1_naming_the_address() {
    let work = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let listen = format!("[\"{address}\"]");
    let mut env = free_port_env();
    env.retain(|(k, _)| *k != "CONGVU_SMTP__LISTEN");
    env.push(("CONGVU_SMTP__LISTEN", &listen));
    let config = repo_root().join("config/congvu.toml");
    let done = run_to_exit(&["--config", config.to_str().unwrap()], work.path(), &env);
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr
            .contains(&format!("cannot listen on {address} for smtp"))
            && done.stderr.contains("another program uses this port"),
        "{}",
        done.stderr
    );
}

#[test]
fn an_unopenable_database_stops_start_up_with_status_1() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("not-a-dir"), "").unwrap();
    let mut env = free_port_env();
    env.push(("CONGVU_DATABASE__URL", "sqlite://not-a-dir/congvu.db"));
    let config = repo_root().join("config/congvu.toml");
    let done = run_to_exit(&["--config", config.to_str().unwrap()], work.path(), &env);
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("cannot open database sqlite://not-a-dir/congvu.db"),
        "{}",
        done.stderr
    );
}

/// Writes `text` as `bad.toml` in a fresh directory and runs the server on it.
fn run_with_config(text: &str) -> Finished {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("bad.toml"), text).unwrap();
    run_to_exit(&["--config", "bad.toml"], work.path(), &[])
}

#[test]
fn an_unknown_key_is_reported_with_its_line_and_status_2() {
    let done = run_with_config(
        "[server]\nhostname = \"mail.vinhphuc.gov.vn\"\n\n[smtp]\nlisen = [\"127.0.0.1:2525\"]\n",
    );
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(
        done.stderr.contains("bad.toml:5:") && done.stderr.contains("lisen"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("listen"),
        "valid keys are suggested: {}",
        done.stderr
    );
}

#[test]
fn a_bad_port_is_reported_with_its_line_and_status_2() {
    let done =
        run_with_config("[tls]\nself_signed = true\n\n[imap]\nlisten = [\"127.0.0.1:70000\"]\n");
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(
        done.stderr.contains("bad.toml:5:") && done.stderr.contains("70000"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("1-65535"), "{}", done.stderr);
}

#[test]
fn a_missing_certificate_file_is_reported_with_status_2() {
    let done = run_with_config("[tls]\ncert = \"/etc/congvu/tls/missing.pem\"\nkey = \"/etc/congvu/tls/missing-key.pem\"\n");
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(
        done.stderr.contains("bad.toml:2:") && done.stderr.contains("/etc/congvu/tls/missing.pem"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("does not exist"), "{}", done.stderr);
}
