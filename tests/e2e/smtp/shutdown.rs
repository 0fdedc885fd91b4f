//! SIGTERM with mail in flight, on the real `congvu-server` binary over a seeded database:
//! a message the server acknowledged with `250` is stored exactly once and byte-identical,
//! a message it did not acknowledge is absent (never stored in part), the listener stops
//! taking connections, and the process exits with status 0 within the grace period.
//!
//! What the server does, read from server/src/smtp: only the wait *between* commands is
//! raced against shutdown, shutdown first. A DATA body or a BDAT chunk being read is read to
//! its end and the transaction finished; as soon as the session is back between commands it
//! says `421 4.3.2`, whether or not the next command has arrived, and closes. A message begun in BDAT chunks whose LAST chunk has not
//! started is therefore refused with that `421` and dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use congvu::clock::Clock;
use congvu::directory::Directory;
use congvu::mailstore::{MailboxRole, Mailstore};
use congvu_tests::smtp::{RawSmtp, SmtpReply};
use congvu_tests::{Backend, TestDb};
use tokio::task::JoinHandle;

use super::fixture::Province;
use super::smtp_tests;
use crate::binary::{binary_config, ServerProcess};

smtp_tests!(
    data_in_flight_at_sigterm_is_finished_then_421,
    last_bdat_chunk_in_flight_at_sigterm_is_acknowledged_or_refused,
    bdat_between_chunks_at_sigterm_is_refused_and_dropped,
    data_never_finished_is_dropped_when_the_grace_period_ends,
);

/// Grace when the client finishes its message: long enough that a slow commit on a busy
/// machine is not what the test measures.
const GRACE: Duration = Duration::from_secs(5);
/// Grace when the client never finishes: the server must give up on it after this.
const SHORT_GRACE: Duration = Duration::from_secs(2);
/// How much later than the grace period the process may exit (closing the store, ending
/// the runtime, the test's polling).
const MARGIN: Duration = Duration::from_millis(1500);
/// How long after SIGTERM the client goes on, so that the shutdown has surely begun.
const SETTLE: Duration = Duration::from_millis(300);
/// Longest the server may take to start.
const START_DEADLINE: Duration = Duration::from_secs(30);

const SENDER: &str = "sender@example.org";
/// An official of the seeded province.
const ANNV: &str = "annv";
const REFUSED: &str = "421 4.3.2 Server shutting down; try again later";

/// The database of the seeded province, served by the binary on its MX port.
struct Served {
    db: TestDb,
    mx: SocketAddr,
    grace: Duration,
    /// annv's INBOX before any test mail.
    inbox_before: Vec<Vec<u8>>,
}

/// How the process ended after SIGTERM.
#[derive(Debug)]
struct Stopped {
    code: Option<i32>,
    log: Vec<String>,
    /// From SIGTERM to the exit.
    took: Duration,
    grace: Duration,
}

impl Stopped {
    /// Exit status 0 within the grace period (plus [`MARGIN`]); `drained` says whether
    /// every session finished in time, as the server's `stopped` log line reports it.
    fn assert_clean(&self, drained: bool) {
        assert_eq!(self.code, Some(0), "log:\n{}", self.log.join("\n"));
        assert!(
            self.took <= self.grace + MARGIN,
            "exit {:?} after SIGTERM, grace {:?}",
            self.took,
            self.grace
        );
        let stopped = self
            .log
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["message"] == "stopped")
            .unwrap_or_else(|| panic!("no `stopped` line; log:\n{}", self.log.join("\n")));
        assert_eq!(stopped["drained"], drained, "{stopped}");
    }
}

/// A configuration for the binary over `db`: only the MX listener, `grace` to shut down.
fn write_config(db: &TestDb, grace: Duration) -> PathBuf {
    binary_config(db, "smtp-shutdown.toml", &[("smtp", "listen")], grace)
}

/// Seeds the province, stops the in-process server that seeded it, and starts the binary
/// on the same database with `grace`.
async fn serve(backend: Backend, grace: Duration) -> Option<(Served, ServerProcess)> {
    let Province { server, db, .. } = Province::start(backend).await?;
    server.stop().await;
    let inbox_before = inbox(&db, ANNV).await;
    let config = write_config(&db, grace);
    let (process, mx) = tokio::task::block_in_place(|| {
        let mut process = ServerProcess::spawn(&config, db.dir.path(), &[]);
        process.wait_for_message("congvu ready", START_DEADLINE);
        let mx = process.listeners()["smtp"];
        (process, mx)
    });
    let served = Served {
        db,
        mx,
        grace,
        inbox_before,
    };
    Some((served, process))
}

/// Sends SIGTERM now, from a blocking thread that then waits for the exit.
fn sigterm(process: ServerProcess, grace: Duration) -> JoinHandle<Stopped> {
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let (code, log) = process.terminate(grace + MARGIN);
        Stopped {
            code,
            log,
            took: start.elapsed(),
            grace,
        }
    })
}

/// Waits [`SETTLE`], then checks that the listener no longer takes connections.
async fn settle_and_check_not_accepting(mx: SocketAddr) {
    tokio::time::sleep(SETTLE).await;
    let connected = tokio::net::TcpStream::connect(mx).await;
    assert!(
        connected.is_err(),
        "a new connection was accepted after SIGTERM"
    );
}

/// A raw session on the MX port after EHLO, with a transaction from [`SENDER`] to annv.
async fn transaction(mx: SocketAddr) -> RawSmtp {
    let (mut smtp, greeting) = RawSmtp::connect(mx).await;
    assert_eq!(greeting.code, 220, "{greeting:?}");
    let ehlo = smtp.command("EHLO relay.example.org").await;
    assert!(ehlo.lines.iter().any(|l| l == "CHUNKING"), "{ehlo:?}");
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{SENDER}>")).await.line(),
        "250 2.1.0 Sender ok"
    );
    assert_eq!(
        smtp.command(&format!("RCPT TO:<{ANNV}@vinhphuc.gov.vn>"))
            .await
            .line(),
        "250 2.1.5 Recipient ok"
    );
    smtp
}

/// A letter named `name`: headers, then lines that all name it (none starting with a dot),
/// so that any part of it is recognisable in a mailbox.
fn letter(name: &str) -> Vec<u8> {
    let mut text = format!(
        "From: <{SENDER}>\r\nTo: <{ANNV}@vinhphuc.gov.vn>\r\nSubject: Cong van {name}\r\nMessage-ID: <{name}@example.org>\r\n\r\n"
    );
    for line in 0..120 {
        text.push_str(&format!(
            "{name} dong {line:04}: cong van gui truoc khi may chu dung\r\n"
        ));
    }
    text.into_bytes()
}

/// What a stored copy holds after the `Return-Path:` and `Received:` fields the server adds.
fn after_trace(stored: &[u8]) -> &[u8] {
    let mut at = 0;
    loop {
        let rest = &stored[at..];
        let ours = rest.starts_with(b"Return-Path: ")
            || rest.starts_with(b"Received: ")
            || rest.starts_with(b"\t");
        if !ours {
            return rest;
        }
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        at += end + 2;
    }
}

/// Every stored copy in `login`'s INBOX, read in this process.
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

/// After the exit: annv's INBOX holds what it held before plus `letter` exactly once and
/// byte-identical after the trace fields.
async fn assert_stored_once(served: &Served, letter: &[u8]) {
    let after = inbox(&served.db, ANNV).await;
    let new: Vec<&Vec<u8>> = after
        .iter()
        .filter(|c| !served.inbox_before.contains(c))
        .collect();
    assert_eq!(new.len(), 1, "{} new copies", new.len());
    assert!(new[0].starts_with(format!("Return-Path: <{SENDER}>\r\n").as_bytes()));
    assert_eq!(
        after_trace(new[0]),
        letter,
        "stored:\n{}",
        String::from_utf8_lossy(new[0])
    );
}

/// After the exit: annv's INBOX is as it was, nothing of the letter `name` in it.
async fn assert_absent(served: &Served, name: &str) {
    let after = inbox(&served.db, ANNV).await;
    assert_eq!(after, served.inbox_before, "annv's INBOX changed");
    let marker = name.as_bytes();
    assert!(!after
        .iter()
        .any(|c| c.windows(marker.len()).any(|w| w == marker)));
}

/// The reply after the message is `250`; then, the session being between commands, the
/// server says `421 4.3.2` and closes: a command the client sends at once, which may reach
/// the server before it is back between commands, gets that 421 and nothing else.
async fn assert_accepted_then_refused(smtp: &mut RawSmtp) {
    let verdict = smtp.reply().await.expect("closed before the verdict");
    assert!(
        verdict.line().starts_with("250 2.0.0 Ok: queued as "),
        "{verdict:?}"
    );
    smtp.send(b"NOOP\r\n").await;
    let next = smtp.reply().await.map(|r| r.line());
    assert_eq!(next.as_deref(), Some(REFUSED));
    let after = smtp.reply().await;
    assert!(after.is_none(), "answered after 421: {after:?}");
}

/// `BDAT size[ LAST]` with `chunk` after it, as one write.
fn bdat(chunk: &[u8], last: bool) -> Vec<u8> {
    let mut bytes = format!(
        "BDAT {}{}\r\n",
        chunk.len(),
        if last { " LAST" } else { "" }
    )
    .into_bytes();
    bytes.extend_from_slice(chunk);
    bytes
}

/// Sends the first half of `letter` as a BDAT chunk; asserts it was taken.
async fn first_chunk(smtp: &mut RawSmtp, letter: &[u8]) {
    let first = &letter[..letter.len() / 2];
    smtp.send(&bdat(first, false)).await;
    let reply = smtp.reply().await.map(|r| r.line());
    let expected = format!("250 2.0.0 {} octets received", first.len());
    assert_eq!(reply, Some(expected));
}

/// DATA in flight: half the message is sent, SIGTERM lands, the rest and the dot follow.
/// The server reads the message to its end, stores it and answers `250`; then comes
/// `421 4.3.2` and the close; every session having ended, the process exits with status 0
/// without using up the grace period. The message is in annv's INBOX once, byte-identical.
async fn data_in_flight_at_sigterm_is_finished_then_421(backend: Backend) {
    let Some((served, process)) = serve(backend, GRACE).await else {
        return;
    };
    let mut smtp = transaction(served.mx).await;
    assert_eq!(smtp.command("DATA").await.code, 354);
    let letter = letter("data-giua-chung");
    let (head, tail) = letter.split_at(letter.len() / 2);
    smtp.send(head).await;

    let stopping = sigterm(process, served.grace);
    settle_and_check_not_accepting(served.mx).await;
    smtp.send(tail).await;
    smtp.send(b".\r\n").await;
    assert_accepted_then_refused(&mut smtp).await;

    stopping.await.unwrap().assert_clean(true);
    assert_stored_once(&served, &letter).await;
}

/// The LAST BDAT chunk half sent when SIGTERM lands. No reply tells the client whether the
/// server had begun to read the chunk (it may still be waiting between commands, where
/// shutdown wins), so either is right, and nothing else: `250`, then `421`, and the message
/// stored once; or `421` (or the connection closed) and the message absent.
async fn last_bdat_chunk_in_flight_at_sigterm_is_acknowledged_or_refused(backend: Backend) {
    let Some((served, process)) = serve(backend, GRACE).await else {
        return;
    };
    let mut smtp = transaction(served.mx).await;
    let name = "bdat-chunk-cuoi";
    let letter = letter(name);
    first_chunk(&mut smtp, &letter).await;
    let last = bdat(&letter[letter.len() / 2..], true);
    let (head, tail) = last.split_at(last.len() / 2);
    smtp.send(head).await;

    let stopping = sigterm(process, served.grace);
    settle_and_check_not_accepting(served.mx).await;
    let sent = smtp.try_send(tail).await;
    let verdict = smtp.reply().await.map(|r| r.line());
    stopping.await.unwrap().assert_clean(true);
    match verdict.as_deref() {
        Some(line) if line.starts_with("250 2.0.0 Ok: queued as ") => {
            assert!(sent.is_ok(), "acknowledged a chunk it did not read whole");
            assert_stored_once(&served, &letter).await;
        }
        Some(REFUSED) | None => assert_absent(&served, name).await,
        Some(other) => panic!("neither 250 nor 421: {other}"),
    }
}

/// BDAT between chunks when SIGTERM lands: `BDAT n` was answered, `BDAT m LAST` not yet
/// sent. Between two commands the session is idle as far as the server is concerned, so it
/// says `421 4.3.2` at once and closes; the chunk-250 acknowledged only the chunk, and the
/// half message is dropped, not stored. The client's `BDAT m LAST` meets that `421`.
async fn bdat_between_chunks_at_sigterm_is_refused_and_dropped(backend: Backend) {
    let Some((served, process)) = serve(backend, GRACE).await else {
        return;
    };
    let mut smtp = transaction(served.mx).await;
    let name = "bdat-giua-hai-chunk";
    let letter = letter(name);
    first_chunk(&mut smtp, &letter).await;

    let stopping = sigterm(process, served.grace);
    settle_and_check_not_accepting(served.mx).await;
    smtp.send(&bdat(&letter[letter.len() / 2..], true)).await;
    let reply = smtp.reply().await.map(|r| r.line());
    assert_eq!(reply.as_deref(), Some(REFUSED));
    assert!(smtp.closed().await, "the connection stayed open after 421");

    stopping.await.unwrap().assert_clean(true);
    assert_absent(&served, name).await;
}

/// DATA in flight and the client never finishes: the server waits for the session through
/// the grace period (2 s), then exits with status 0, logging that sessions were still open;
/// the client's connection closes without a `250`, and nothing of the message is stored.
async fn data_never_finished_is_dropped_when_the_grace_period_ends(backend: Backend) {
    let Some((served, process)) = serve(backend, SHORT_GRACE).await else {
        return;
    };
    let mut smtp = transaction(served.mx).await;
    assert_eq!(smtp.command("DATA").await.code, 354);
    let name = "data-bo-do";
    let letter = letter(name);
    smtp.send(&letter[..letter.len() / 2]).await;

    let stopping = sigterm(process, served.grace);
    settle_and_check_not_accepting(served.mx).await;
    let stopped = stopping.await.unwrap();
    stopped.assert_clean(false);
    assert!(
        stopped.took >= served.grace,
        "exit {:?} after SIGTERM: the open session did not get its grace period",
        stopped.took
    );
    let last: Option<SmtpReply> = smtp.reply().await;
    assert!(
        last.as_ref().is_none_or(|r| r.code == 421),
        "unfinished message answered {last:?}"
    );
    assert_absent(&served, name).await;
}
