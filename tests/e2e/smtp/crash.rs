//! Durable before acknowledged, proved with `kill -9`: the real `congvu-server` binary over a
//! seeded database takes numbered messages from several concurrent SMTP clients and is
//! killed with SIGKILL at a random moment of the load, then restarted on the same database,
//! round after round. Every message a client saw `250` for must then be in each recipient's
//! INBOX exactly once and whole; a message without `250` may be there or not, but never in
//! part.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use congvu::clock::Clock;
use congvu::directory::Directory;
use congvu::mailstore::{MailboxRole, Mailstore};
use congvu_tests::{Backend, TestDb};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rand::Rng;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::fixture::Province;
use super::smtp_tests;
use crate::binary::{binary_config, server_binary};

smtp_tests!(acknowledged_mail_survives_sigkill_at_random_moments);

/// Kill-and-restart rounds.
const ROUNDS: usize = 3;
/// SMTP clients sending at the same time.
const CLIENTS: u64 = 4;
/// Who the messages go to.
const OFFICIALS: [&str; 3] = ["annv", "nhunglth", "vanlt"];
/// Longest the server may take to start.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// Longest one SMTP exchange may take before the client gives up on it.
const EXCHANGE_DEADLINE: Duration = Duration::from_secs(20);

/// One numbered message a client tried to send, and whether it saw `250` for it.
#[derive(Debug)]
struct Attempt {
    number: u64,
    recipients: Vec<&'static str>,
    content: Vec<u8>,
    acknowledged: bool,
}

/// The server binary as a child process, its log read on a thread so that it never blocks
/// on a full pipe.
struct ServerChild {
    child: Child,
    log: mpsc::UnboundedReceiver<String>,
}

impl ServerChild {
    fn spawn(config: &Path) -> ServerChild {
        let mut child = Command::new(server_binary())
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines, log) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        ServerChild { child, log }
    }

    /// Waits for `congvu ready`; returns the MX listener's address.
    async fn ready(&mut self) -> SocketAddr {
        let deadline = Instant::now() + START_DEADLINE;
        let mut seen = Vec::new();
        let mut smtp = None;
        loop {
            let line = tokio::time::timeout_at(deadline, self.log.recv())
                .await
                .unwrap_or_else(|_| panic!("not ready in time; log:\n{}", seen.join("\n")))
                .unwrap_or_else(|| panic!("the server exited; log:\n{}", seen.join("\n")));
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                if event["message"] == "listening" && event["listener"] == "smtp" {
                    smtp = event["address"].as_str().and_then(|a| a.parse().ok());
                }
                if event["message"] == "congvu ready" {
                    return smtp
                        .unwrap_or_else(|| panic!("no smtp listener; log:\n{}", seen.join("\n")));
                }
            }
            seen.push(line);
        }
    }

    /// SIGKILL: no shutdown, no flush, nothing the server can do about it.
    fn kill_hard(&mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL).unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(Signal::SIGKILL as i32)
        );
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration for the binary over `db`: only the MX listener, JSON logs.
fn write_config(db: &TestDb) -> PathBuf {
    binary_config(
        db,
        "crash.toml",
        &[("smtp", "listen")],
        Duration::from_secs(5),
    )
}

/// Who message `number` goes to: one official, every third message two.
fn recipients(number: u64) -> Vec<&'static str> {
    let first = OFFICIALS[(number % 3) as usize];
    let mut to = vec![first];
    if number % 3 == 0 {
        to.push(OFFICIALS[((number / 3) % 3) as usize]);
        to.dedup();
    }
    to
}

/// Message `number`: headers naming it, then 1 to 48 KiB of lines that name it too, so any
/// part of it is recognisable and no two messages share a line.
fn content(number: u64, to: &[&str]) -> Vec<u8> {
    let mut text = format!(
        "From: <sender@example.org>\r\nTo: <{}@vinhphuc.gov.vn>\r\nSubject: thu so {number}\r\nMessage-ID: <crash-{number}@example.org>\r\n\r\n",
        to[0]
    );
    let lines = 12 + (number * 7919) % 600;
    for line in 0..lines {
        text.push_str(&format!(
            "thu {number:06} dong {line:04} noi dung cong van so {number} gui cac don vi\r\n"
        ));
    }
    text.into_bytes()
}

/// Reads one reply; returns its code.
async fn reply(reader: &mut AsyncBufReader<OwnedReadHalf>) -> std::io::Result<u16> {
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let code = std::str::from_utf8(line.get(..3).unwrap_or_default())
            .ok()
            .and_then(|c| c.parse().ok())
            .ok_or(std::io::ErrorKind::InvalidData)?;
        if line.get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
}

/// Sends one message in its own session; `Ok(true)` when the server answered `250` after
/// the data. An error is a server that went away.
async fn deliver(addr: SocketAddr, to: &[&str], content: &[u8]) -> std::io::Result<bool> {
    let (read, mut write) = TcpStream::connect(addr).await?.into_split();
    let mut read = AsyncBufReader::new(read);
    let mut step = async |line: String, read: &mut AsyncBufReader<OwnedReadHalf>| {
        write.write_all(line.as_bytes()).await?;
        reply(read).await
    };
    if reply(&mut read).await? != 220
        || step("EHLO loadgen.example.org\r\n".into(), &mut read).await? != 250
    {
        return Ok(false);
    }
    if step("MAIL FROM:<sender@example.org>\r\n".into(), &mut read).await? != 250 {
        return Ok(false);
    }
    for login in to {
        if step(format!("RCPT TO:<{login}@vinhphuc.gov.vn>\r\n"), &mut read).await? != 250 {
            return Ok(false);
        }
    }
    if step("DATA\r\n".into(), &mut read).await? != 354 {
        return Ok(false);
    }
    write.write_all(content).await?;
    write.write_all(b".\r\n").await?;
    let verdict = reply(&mut read).await?;
    let _ = write.write_all(b"QUIT\r\n").await;
    Ok(verdict == 250)
}

/// Sends numbered messages one after another until `stop` or until the server is gone.
async fn client(
    addr: SocketAddr,
    numbers: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
) {
    while !stop.load(Ordering::SeqCst) {
        let number = numbers.fetch_add(1, Ordering::SeqCst);
        let to = recipients(number);
        let content = content(number, &to);
        let outcome = tokio::time::timeout(EXCHANGE_DEADLINE, deliver(addr, &to, &content)).await;
        let acknowledged = matches!(outcome, Ok(Ok(true)));
        attempts.lock().unwrap().push(Attempt {
            number,
            recipients: to,
            content,
            acknowledged,
        });
        if !matches!(outcome, Ok(Ok(_))) {
            return;
        }
    }
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

/// Every stored copy in each official's INBOX, read in this process.
async fn inboxes(db: &TestDb) -> HashMap<&'static str, Vec<Vec<u8>>> {
    let store = db.open_store().await;
    let directory = Directory::new(store.clone(), Clock::system());
    let mailstore = Mailstore::new(store.clone(), Clock::system());
    let mut all = HashMap::new();
    for login in OFFICIALS {
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
        all.insert(login, copies);
    }
    store.close().await;
    all
}

async fn acknowledged_mail_survives_sigkill_at_random_moments(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    // The seeded database, without the in-process server that seeded it.
    let Province { server, db, .. } = p;
    server.stop().await;
    let config = write_config(&db);

    let numbers = Arc::new(AtomicU64::new(0));
    let attempts = Arc::new(Mutex::new(Vec::<Attempt>::new()));
    let acknowledged = || {
        attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.acknowledged)
            .count()
    };
    for round in 0..ROUNDS {
        let mut child = ServerChild::spawn(&config);
        let addr = child.ready().await;
        let before = acknowledged();
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                tokio::spawn(client(
                    addr,
                    Arc::clone(&numbers),
                    Arc::clone(&stop),
                    Arc::clone(&attempts),
                ))
            })
            .collect();
        // The load runs until a first message is acknowledged (a server just restarted over
        // a busy machine can take longer than a short random while to answer its first),
        // then for a random while more; the kill lands wherever the sessions are.
        let first = tokio::time::timeout(Duration::from_secs(30), async {
            while acknowledged() == before {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let load = Duration::from_millis(rand::rng().random_range(0..=500));
        tokio::time::sleep(load).await;
        child.kill_hard();
        stop.store(true, Ordering::SeqCst);
        for client in clients {
            client.await.unwrap();
        }
        let after = acknowledged();
        assert!(
            first.is_ok() && after > before,
            "round {round}: no message was acknowledged within 30 s of the server's start"
        );
    }

    // The server starts again over what the last kill left, and takes mail.
    let mut child = ServerChild::spawn(&config);
    let addr = child.ready().await;
    let number = numbers.fetch_add(1, Ordering::SeqCst);
    let to = recipients(number);
    let content = content(number, &to);
    let delivered = deliver(addr, &to, &content).await;
    assert!(
        matches!(delivered, Ok(true)),
        "after the last restart: {delivered:?}"
    );
    attempts.lock().unwrap().push(Attempt {
        number,
        recipients: to,
        content,
        acknowledged: true,
    });
    child.kill_hard();

    let attempts = std::mem::take(&mut *attempts.lock().unwrap());
    let by_content: HashMap<&[u8], &Attempt> =
        attempts.iter().map(|a| (a.content.as_slice(), a)).collect();
    let mut copies: HashMap<(u64, &str), usize> = HashMap::new();
    for (login, stored) in inboxes(&db).await {
        for copy in &stored {
            let sent = after_trace(copy);
            let Some(attempt) = by_content.get(sent) else {
                panic!(
                    "{login}'s INBOX holds a message that was never sent whole:\n{}",
                    String::from_utf8_lossy(&copy[..copy.len().min(600)])
                );
            };
            assert!(
                attempt.recipients.contains(&login),
                "message {} reached {login}, not a recipient",
                attempt.number
            );
            *copies.entry((attempt.number, login)).or_default() += 1;
        }
    }
    for ((number, login), n) in &copies {
        assert_eq!(*n, 1, "message {number} is in {login}'s INBOX {n} times");
    }
    let acknowledged: Vec<&Attempt> = attempts.iter().filter(|a| a.acknowledged).collect();
    for attempt in &acknowledged {
        for login in &attempt.recipients {
            assert!(
                copies.contains_key(&(attempt.number, *login)),
                "message {} was acknowledged but is not in {login}'s INBOX",
                attempt.number
            );
        }
    }
    eprintln!(
        "{backend:?}: {} messages sent, {} acknowledged, {} copies stored",
        attempts.len(),
        acknowledged.len(),
        copies.len()
    );
}
