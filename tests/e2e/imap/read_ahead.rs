//! Bodies fetched as synchronising clients fetch them: one `UID FETCH n (BODY.PEEK[])` per
//! message, in order, pipelined. The server reads the next bodies ahead with the one asked
//! for; every answer must still be the message at that UID, byte for byte, through batches
//! bounded by size, a body two messages share, a client that jumps back, and a message
//! expunged by another session after it was read ahead.

use congvu_tests::imap::RawImap;
use congvu_tests::Backend;

use super::fixture::{Province, ANNV};
use super::{append, imap_tests, logged_in, selected, stored};

imap_tests!(bodies_fetched_in_order_one_command_each_are_each_the_message_asked_for);

/// The `n`th message: sizes from a few hundred bytes to about 60 KiB, so that reading ahead
/// stops at its byte bound as well as its count; the 10th and 11th are the same bytes.
fn message(n: usize) -> String {
    let n = if n == 11 { 10 } else { n };
    let lines = [3, 40, 700, 1200][n % 4] + n;
    let mut message = format!(
        "From: <vanthu.snv@vinhphuc.gov.vn>\r\nSubject: Cong van so {n}\r\nMessage-ID: <cv-{n}@vinhphuc.gov.vn>\r\n\r\n"
    );
    for line in 0..lines {
        message.push_str(&format!("Dong {line} cua cong van {n}: noi dung.\r\n"));
    }
    message
}

/// Sends `UID FETCH uid (BODY.PEEK[])` for each of `uids` in one write, then reads every
/// answer: for each UID, the body it came with (`None` when none came), after asserting
/// each command completed OK.
async fn fetch_pipelined(imap: &mut RawImap, uids: &[usize]) -> Vec<Option<String>> {
    let mut commands = String::new();
    for uid in uids {
        commands.push_str(&format!("f{uid} UID FETCH {uid} (BODY.PEEK[])\r\n"));
    }
    imap.send(commands.as_bytes()).await;
    let mut bodies = Vec::new();
    for uid in uids {
        let lines = imap.until_tagged(&format!("f{uid}")).await;
        assert!(
            lines.last().unwrap().starts_with(&format!("f{uid} OK ")),
            "{lines:?}"
        );
        let fetched = lines
            .iter()
            .find(|l| l.contains(" FETCH (") && l.contains(&format!("UID {uid})")));
        bodies.push(fetched.map(|line| body_of(line)));
    }
    bodies
}

/// The literal after `BODY[] ` in a FETCH line as the raw client gives it back.
fn body_of(line: &str) -> String {
    let start = line.find("BODY[] {").unwrap() + "BODY[] {".len();
    let close = start + line[start..].find('}').unwrap();
    let length: usize = line[start..close].parse().unwrap();
    line[close + 1..close + 1 + length].to_string()
}

async fn bodies_fetched_in_order_one_command_each_are_each_the_message_asked_for(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut writer = logged_in(&p, ANNV).await;
    for n in 1..=60 {
        let lines = append(&mut writer, "A", "INBOX", "", message(n).as_bytes()).await;
        assert!(lines.last().unwrap().starts_with("A OK "), "{lines:?}");
    }
    let stored: Vec<String> = stored(&p, ANNV.0, "INBOX")
        .await
        .iter()
        .map(|b| String::from_utf8(b.clone()).unwrap())
        .collect();
    assert_eq!(stored.len(), 60);
    let expected = |uid: usize| Some(stored[uid - 1].clone());

    let (mut reader, _) = selected(&p, ANNV, "INBOX").await;
    // In order from the first: read ahead from the second on, in batches.
    let first: Vec<usize> = (1..=30).collect();
    let bodies = fetch_pipelined(&mut reader, &first).await;
    for (uid, body) in first.iter().zip(&bodies) {
        assert_eq!(*body, expected(*uid), "UID {uid}");
    }
    assert_eq!(
        bodies[9], bodies[10],
        "the 10th and 11th are the same bytes"
    );

    // Another session expunges a message this one has read ahead, and this one goes on.
    let (mut other, _) = selected(&p, ANNV, "INBOX").await;
    let bodies = fetch_pipelined(&mut reader, &[31]).await;
    assert_eq!(bodies, [expected(31)]);
    let lines = other
        .command("E", "UID STORE 33 +FLAGS.SILENT (\\Deleted)")
        .await;
    assert!(lines.last().unwrap().starts_with("E OK "), "{lines:?}");
    let lines = other.command("X", "EXPUNGE").await;
    assert!(lines.last().unwrap().starts_with("X OK "), "{lines:?}");
    let rest: Vec<usize> = (32..=45).collect();
    let bodies = fetch_pipelined(&mut reader, &rest).await;
    for (uid, body) in rest.iter().zip(&bodies) {
        if *uid == 33 {
            // Either told as expunged, or answered as the view still held it.
            assert!(body.is_none() || *body == expected(33), "{body:?}");
        } else {
            assert_eq!(*body, expected(*uid), "UID {uid}");
        }
    }

    // A jump back, then in order again past the end of the mailbox.
    let back: Vec<usize> = [5, 6, 7].into_iter().chain(50..=60).collect();
    let bodies = fetch_pipelined(&mut reader, &back).await;
    for (uid, body) in back.iter().zip(&bodies) {
        assert_eq!(*body, expected(*uid), "UID {uid}");
    }
}
