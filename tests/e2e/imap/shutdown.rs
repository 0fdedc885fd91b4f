//! SIGTERM with an APPEND in flight, on the real `congvu-server` binary over a seeded
//! database: the message is either acknowledged with a tagged OK and then stored once and
//! whole, or refused with `* BYE` and then absent; the process exits with status 0 within
//! the grace period.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use congvu::clock::Clock;
use congvu::directory::Directory;
use congvu::mailstore::{MailboxRole, Mailstore};
use congvu_tests::imap::RawImap;
use congvu_tests::{Backend, TestDb};

use super::fixture::{Province, ANNV};
use super::imap_tests;
use crate::binary::{binary_config, ServerProcess};

imap_tests!(append_literal_in_flight_at_sigterm_is_dropped_with_bye);

/// The shutdown grace period the binary is given.
const GRACE: Duration = Duration::from_secs(2);
/// How much later than the grace period the process may exit (closing the store, ending
/// the runtime, the test's polling).
const MARGIN: Duration = Duration::from_millis(1500);
/// How long after SIGTERM the client goes on, so that the shutdown has surely begun.
const SETTLE: Duration = Duration::from_millis(300);
/// Longest the server may take to start.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A configuration for the binary over `db`: only IMAPS, [`GRACE`] to shut down.
fn write_config(db: &TestDb) -> PathBuf {
    binary_config(db, "imap-shutdown.toml", &[("imap", "imaps_listen")], GRACE)
}

/// Starts the binary and waits until it is ready; returns it and its IMAPS address.
fn start(config: &std::path::Path, db: &TestDb) -> (ServerProcess, SocketAddr) {
    tokio::task::block_in_place(|| {
        let mut server = ServerProcess::spawn(config, db.dir.path(), &[]);
        server.wait_for_message("congvu ready", START_DEADLINE);
        let imaps = server.listeners()["imaps"];
        (server, imaps)
    })
}

/// A record whose every line names it, so that any part of it is recognisable.
fn record(name: &str) -> Vec<u8> {
    let mut text = format!(
        "From: <annv@vinhphuc.gov.vn>\r\nSubject: Ban ghi {name}\r\nMessage-ID: <{name}@vinhphuc.gov.vn>\r\n\r\n"
    );
    for line in 0..150 {
        text.push_str(&format!("{name} dong {line:04}: luu truoc khi dung\r\n"));
    }
    text.into_bytes()
}

/// Every stored message in `login`'s INBOX, read in this process.
async fn inbox(db: &TestDb, login: &str) -> Vec<Vec<u8>> {
    let store = db.open_store().await;
    let directory = Directory::new(store.clone(), Clock::system());
    let mailstore = Mailstore::new(store.clone(), Clock::system());
    let official = directory.official(login).await.unwrap();
    let mailboxes = mailstore.mailboxes(official.id).await.unwrap();
    let inbox = mailboxes
        .iter()
        .find(|m| m.role == Some(MailboxRole::Inbox))
        .unwrap();
    let mut copies = Vec::new();
    for message in mailstore.messages(inbox.id).await.unwrap() {
        copies.push(mailstore.body(message.body_id).await.unwrap().unwrap());
    }
    store.close().await;
    copies
}

/// Whether the server's `stopped` log line says every session finished in time.
fn drained(log: &[String]) -> serde_json::Value {
    let stopped = log
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["message"] == "stopped")
        .unwrap_or_else(|| panic!("no `stopped` line; log:\n{}", log.join("\n")));
    stopped["drained"].clone()
}

/// APPEND with a synchronising literal in flight: `a APPEND INBOX {N}`, the server's
/// `+ Ready for literal data`, half the literal, then SIGTERM.
///
/// What the server does (server/src/imap/session.rs): reading the next command — and a
/// synchronising literal belongs to its command, so reading it too — is raced against the
/// shutdown. The half-received APPEND is therefore abandoned the moment the shutdown starts:
/// the session sends `* BYE Server shutting down, reconnect shortly` without waiting for the
/// rest of the literal and closes, the rest the client sends afterwards is never read, and
/// no tagged reply comes. Nothing of the message is stored, and with its one session ended
/// the process exits with status 0 well within the grace period (all sessions drained).
async fn append_literal_in_flight_at_sigterm_is_dropped_with_bye(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    // The seeded database, without the in-process server that seeded it.
    let Province { server, db, .. } = p;
    server.stop().await;
    let before = inbox(&db, ANNV.0).await;
    let (process, imaps) = start(&write_config(&db), &db);
    let (mut imap, _) = RawImap::connect_tls(imaps, &db).await;
    let login = imap
        .command("l", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
        .await;
    assert!(login[0].starts_with("l OK "), "{login:?}");

    let name = "append-giua-chung";
    let record = record(name);
    imap.send(format!("a APPEND INBOX {{{}}}\r\n", record.len()).as_bytes())
        .await;
    let go_ahead = imap.read_line().await;
    assert_eq!(go_ahead.as_deref(), Some("+ Ready for literal data"));
    let (head, tail) = record.split_at(record.len() / 2);
    imap.send(head).await;

    let stopping = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let (code, log) = process.terminate(GRACE + MARGIN);
        (code, log, start.elapsed())
    });
    tokio::time::sleep(SETTLE).await;
    // One write: the server is gone, and a second write would meet its reset.
    imap.send(&[tail, b"\r\n"].concat()).await;
    let answer = imap.read_line().await;
    assert_eq!(
        answer.as_deref(),
        Some("* BYE Server shutting down, reconnect shortly")
    );
    // No tagged reply after the BYE: the connection just ends.
    assert_eq!(imap.read_line().await, None);

    let (code, log, took) = stopping.await.unwrap();
    assert_eq!(code, Some(0), "log:\n{}", log.join("\n"));
    assert!(took <= GRACE + MARGIN, "exit {took:?} after SIGTERM");
    assert_eq!(drained(&log), true);
    let after = inbox(&db, ANNV.0).await;
    assert_eq!(after, before, "annv's INBOX changed");
    let marker = name.as_bytes();
    assert!(!after
        .iter()
        .any(|c| c.windows(marker.len()).any(|w| w == marker)));
}
