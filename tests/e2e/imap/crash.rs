//! APPEND is durable before OK, proved with `kill -9`: the real `congvu-server` binary takes
//! APPENDs over IMAPS and is killed with SIGKILL the moment an OK arrives (and once more with
//! an APPEND in flight), then restarted on the same database, round after round. Every
//! message the client saw OK for must then be in the mailbox exactly once and whole; the one
//! in flight may be there or not, but never in part; and UIDs keep ascending.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use congvu_tests::imap::RawImap;
use congvu_tests::{Backend, TestDb};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::fixture::{Province, ANNV};
use super::{append, imap_tests};
use crate::binary::{binary_config, ServerProcess};

imap_tests!(appended_mail_survives_sigkill);

/// Kill-and-restart rounds.
const ROUNDS: usize = 3;
/// APPENDs acknowledged in each round before the kill.
const PER_ROUND: usize = 4;
/// Longest the server may take to start.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A configuration for the binary over `db`: only the IMAP listeners, JSON logs.
fn write_config(db: &TestDb) -> PathBuf {
    let imap = [("imap", "listen"), ("imap", "imaps_listen")];
    binary_config(db, "imap-crash.toml", &imap, Duration::from_secs(5))
}

/// Starts the binary and waits until it is ready; returns it and its IMAPS address.
fn start(config: &Path, db: &TestDb) -> (ServerProcess, SocketAddr) {
    tokio::task::block_in_place(|| {
        let mut server = ServerProcess::spawn(config, db.dir.path(), &[]);
        server.wait_for_message("congvu ready", START_DEADLINE);
        let imaps = server.listeners()["imaps"];
        (server, imaps)
    })
}

/// SIGKILL: no shutdown, no flush, nothing the server can do about it.
fn kill_hard(mut server: ServerProcess) {
    kill(Pid::from_raw(server.child.id() as i32), Signal::SIGKILL).unwrap();
    let status = server.child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(Signal::SIGKILL as i32)
    );
}

/// Message `number`: a few KiB of lines that all name it, so any part is recognisable.
fn numbered(number: usize) -> Vec<u8> {
    let mut text = format!(
        "From: <annv@vinhphuc.gov.vn>\r\nSubject: Ban ghi so {number}\r\nMessage-ID: <append-{number}@vinhphuc.gov.vn>\r\n\r\n"
    );
    for line in 0..(40 + number * 13) {
        text.push_str(&format!(
            "ban ghi {number:04} dong {line:04} luu truoc khi bao OK\r\n"
        ));
    }
    text.into_bytes()
}

/// The UID an APPENDUID completion names.
fn appended_uid(lines: &[String], tag: &str) -> u32 {
    let done = lines.last().unwrap();
    let rest = done
        .strip_prefix(&format!("{tag} OK [APPENDUID "))
        .unwrap_or_else(|| panic!("{lines:?}"));
    let uid = rest.split_whitespace().nth(1).unwrap();
    uid.trim_end_matches(']').parse().unwrap()
}

/// Every message in An's INBOX over IMAP: (UID, bytes).
async fn inbox_over_imap(imaps: SocketAddr, db: &TestDb) -> Vec<(u32, Vec<u8>)> {
    let (mut imap, _) = RawImap::connect_tls(imaps, db).await;
    imap.command("l", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
        .await;
    imap.command("s", "SELECT INBOX").await;
    let mut lines = imap.command("f", "UID FETCH 1:* (UID BODY.PEEK[])").await;
    assert_eq!(lines.pop().as_deref(), Some("f OK Completed"));
    lines
        .iter()
        .map(|line| {
            // `* n FETCH (UID u BODY[] {size}bytes)`
            let (_, rest) = line.split_once("FETCH (UID ").unwrap();
            let (uid, rest) = rest.split_once(" BODY[] {").unwrap();
            let (size, rest) = rest.split_once('}').unwrap();
            let size: usize = size.parse().unwrap();
            assert_eq!(rest.len(), size + 1, "{line}");
            (uid.parse().unwrap(), rest.as_bytes()[..size].to_vec())
        })
        .collect()
}

async fn appended_mail_survives_sigkill(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    // The seeded database, without the in-process server that seeded it.
    let Province { server, db, .. } = p;
    server.stop().await;
    let config = write_config(&db);

    let mut acknowledged: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut in_flight: Vec<Vec<u8>> = Vec::new();
    let mut number = 0;
    for round in 0..ROUNDS {
        let (server, imaps) = start(&config, &db);
        let (mut imap, _) = RawImap::connect_tls(imaps, &db).await;
        let login = imap
            .command("l", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
            .await;
        assert!(login[0].starts_with("l OK "), "{login:?}");
        for _ in 0..PER_ROUND {
            number += 1;
            let message = numbered(number);
            let lines = append(&mut imap, "a", "INBOX", "", &message).await;
            acknowledged.push((appended_uid(&lines, "a"), message));
        }
        if round == ROUNDS - 1 {
            // The last round's kill lands with an APPEND sent and not yet answered.
            number += 1;
            let message = numbered(number);
            let mut command = format!("b APPEND INBOX {{{}+}}\r\n", message.len()).into_bytes();
            command.extend_from_slice(&message);
            command.extend_from_slice(b"\r\n");
            imap.send(&command).await;
            in_flight.push(message);
        }
        kill_hard(server);
    }

    let (server, imaps) = start(&config, &db);
    let found = inbox_over_imap(imaps, &db).await;
    for (uid, message) in &acknowledged {
        let copies: Vec<&(u32, Vec<u8>)> = found.iter().filter(|(_, m)| m == message).collect();
        assert_eq!(
            copies.len(),
            1,
            "acknowledged message with UID {uid} is there {} times",
            copies.len()
        );
        assert_eq!(copies[0].0, *uid, "UID changed across the restart");
    }
    for (uid, stored) in &found {
        let known = acknowledged.iter().any(|(_, m)| m == stored) || in_flight.contains(stored);
        assert!(
            known,
            "UID {uid} holds something never sent whole: {:?}",
            String::from_utf8_lossy(&stored[..stored.len().min(200)])
        );
    }
    // After the restarts the next UID is above every one given out before.
    let highest = found.iter().map(|(uid, _)| *uid).max().unwrap();
    let (mut imap, _) = RawImap::connect_tls(imaps, &db).await;
    imap.command("l", &format!("LOGIN {} {}", ANNV.0, ANNV.1))
        .await;
    let lines = append(&mut imap, "c", "INBOX", "", &numbered(number + 1)).await;
    assert!(appended_uid(&lines, "c") > highest, "{lines:?}");
    kill_hard(server);
    eprintln!(
        "{backend:?}: {} APPENDs acknowledged, {} found after {ROUNDS} kills",
        acknowledged.len(),
        found.len()
    );
}
