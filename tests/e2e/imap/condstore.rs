//! CONDSTORE (RFC 7162 §3.1): mod-sequences in STATUS, SELECT and FETCH, STORE with
//! UNCHANGEDSINCE refusing what changed meanwhile (MODIFIED), FETCH CHANGEDSINCE and SEARCH
//! MODSEQ. Every number asserted is the one the mail store holds.

use congvu_tests::Backend;

use super::fixture::{Province, ANNV};
use super::{append, imap_tests, logged_in, mailbox, messages};

imap_tests!(mod_sequences_guard_flag_changes);

/// Each message's mod-sequence in An's INBOX, by UID.
async fn modseqs(p: &Province) -> Vec<u64> {
    messages(p, ANNV.0, "INBOX")
        .await
        .iter()
        .map(|m| m.modseq)
        .collect()
}

async fn mod_sequences_guard_flag_changes(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut imap = logged_in(&p, ANNV).await;
    for n in 1..=3 {
        let message = format!("Subject: so {n}\r\n\r\nx\r\n");
        append(&mut imap, "a", "INBOX", "", message.as_bytes()).await;
    }
    let highest = mailbox(&p, ANNV.0, "INBOX").await.highestmodseq;
    assert_eq!(
        imap.command("b", "STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
            .await,
        [
            format!("* STATUS INBOX (HIGHESTMODSEQ {highest} MESSAGES 3)"),
            "b OK Completed".into()
        ]
    );
    let select = imap.command("c", "SELECT INBOX (CONDSTORE)").await;
    assert!(
        select.contains(&format!("* OK [HIGHESTMODSEQ {highest}] Highest")),
        "{select:#?}"
    );
    assert_eq!(select.last().unwrap(), "c OK [READ-WRITE] Mailbox selected");

    let before = modseqs(&p).await;
    assert_eq!(before.iter().max(), Some(&highest));
    assert_eq!(
        imap.command("d", "FETCH 1:3 (MODSEQ)").await,
        [
            format!("* 1 FETCH (MODSEQ ({}))", before[0]),
            format!("* 2 FETCH (MODSEQ ({}))", before[1]),
            format!("* 3 FETCH (MODSEQ ({}))", before[2]),
            "d OK Completed".into()
        ]
    );
    // Unchanged since the value given: the change is made, and its new mod-sequence told.
    let store = imap
        .command(
            "e",
            &format!("STORE 2 (UNCHANGEDSINCE {}) +FLAGS (\\Seen)", before[1]),
        )
        .await;
    let after = modseqs(&p).await;
    assert!(after[1] > highest, "{after:?}");
    assert_eq!(
        store,
        [
            format!("* 2 FETCH (FLAGS (\\Seen) MODSEQ ({}))", after[1]),
            "e OK Completed".into()
        ]
    );
    // Changed since: left alone and named in MODIFIED; the others are still changed.
    let store = imap
        .command(
            "f",
            &format!(
                "STORE 1:2 (UNCHANGEDSINCE {}) +FLAGS (\\Flagged)",
                before[1]
            ),
        )
        .await;
    let last = modseqs(&p).await;
    assert_eq!(last[1], after[1], "message 2 must be left alone");
    assert_eq!(
        store,
        [
            format!("* 1 FETCH (FLAGS (\\Flagged) MODSEQ ({}))", last[0]),
            "f OK [MODIFIED 2] Conditional STORE failed for some messages".into()
        ]
    );
    // What changed since the mailbox was selected, and nothing else.
    assert_eq!(
        imap.command(
            "g",
            &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
        )
        .await,
        [
            format!("* 1 FETCH (FLAGS (\\Flagged) UID 1 MODSEQ ({}))", last[0]),
            format!("* 2 FETCH (FLAGS (\\Seen) UID 2 MODSEQ ({}))", last[1]),
            "g OK Completed".into()
        ]
    );
    // SEARCH MODSEQ answers the highest mod-sequence of what it found (RFC 7162 §3.1.5).
    assert_eq!(
        imap.command("h", &format!("SEARCH MODSEQ {}", after[1]))
            .await,
        [
            format!("* SEARCH 1 2 (MODSEQ {})", last[0].max(last[1])),
            "h OK Completed".into()
        ]
    );
    assert_eq!(
        imap.command("i", &format!("SEARCH MODSEQ {}", last[0] + 1))
            .await,
        ["* SEARCH", "i OK Completed"]
    );
}
