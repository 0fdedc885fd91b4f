//! The IMAP service as officials' mail clients see it: the real server on `127.0.0.1:0` over
//! the SMTP tests' seeded province, spoken to with a raw client (exact responses, hostile
//! input), with `async-imap`, and with `mbsync`.
//!
//! Every test runs on SQLite and on PostgreSQL, each with its own database and server.

mod condstore;
mod crash;
mod folders;
mod limits;
mod mbsync;
mod messages;
mod protocol;
mod read_ahead;
mod sessions;
mod shutdown;

// The province the SMTP tests seed.
pub(crate) use crate::smtp::fixture;

pub(crate) use crate::backend_tests as imap_tests;

use congvu::mailstore::{Mailbox, MailboxMessage};
use congvu::net::ListenerKind;
use congvu_tests::imap::RawImap;

use fixture::{Province, Who};

/// The capabilities every session offers, whatever its state.
pub const COMMON_CAPABILITIES: &str =
    "LITERAL+ IDLE ID NAMESPACE ENABLE UNSELECT UIDPLUS MOVE QUOTA CONDSTORE SPECIAL-USE";

/// A raw session on the implicit-TLS port, logged in as `who`.
pub async fn logged_in(p: &Province, who: Who) -> RawImap {
    let (mut imap, greeting) = RawImap::connect_tls(p.addr(ListenerKind::Imaps), &p.db).await;
    assert!(greeting.starts_with("* OK "), "{greeting}");
    let login = imap
        .command("L", &format!("LOGIN {} {}", who.0, who.1))
        .await;
    assert_eq!(
        login,
        [format!(
            "L OK [CAPABILITY IMAP4REV1 {COMMON_CAPABILITIES}] Logged in"
        )]
    );
    imap
}

/// A raw session logged in as `who` with `mailbox` selected; returns it and the SELECT
/// response lines.
pub async fn selected(p: &Province, who: Who, mailbox: &str) -> (RawImap, Vec<String>) {
    let mut imap = logged_in(p, who).await;
    let lines = imap.command("S", &format!("SELECT {mailbox}")).await;
    assert_eq!(
        lines.last().map(String::as_str),
        Some("S OK [READ-WRITE] Mailbox selected"),
        "{lines:#?}"
    );
    (imap, lines)
}

/// APPENDs `message` to `mailbox` with a non-synchronising literal (LITERAL+); `options`
/// are the flag list and date, if any, each followed by a space. Returns the response lines.
pub async fn append(
    imap: &mut RawImap,
    tag: &str,
    mailbox: &str,
    options: &str,
    message: &[u8],
) -> Vec<String> {
    let mut command =
        format!("{tag} APPEND {mailbox} {options}{{{}+}}\r\n", message.len()).into_bytes();
    command.extend_from_slice(message);
    command.extend_from_slice(b"\r\n");
    imap.send(&command).await;
    imap.until_tagged(tag).await
}

/// Delivers `message` over the MX port from `sender@example.org` to each login at the
/// primary domain; asserts it was accepted.
pub async fn deliver(p: &Province, to: &[&str], message: &str) {
    let mut smtp = p.mx().await;
    let addresses: Vec<String> = to.iter().map(|l| format!("{l}@vinhphuc.gov.vn")).collect();
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let replies = fixture::send(&mut smtp, "sender@example.org", &addresses, message).await;
    let last = replies.last().unwrap();
    assert_eq!(last.code, 250, "{replies:?}");
}

/// One of `login`'s mailboxes by name, as the mail store holds it.
pub async fn mailbox(p: &Province, login: &str, name: &str) -> Mailbox {
    let official = p.directory().official(login).await.unwrap();
    let mailboxes = p.server.services().mailstore.mailboxes(official.id).await;
    let mailboxes = mailboxes.unwrap();
    let found = mailboxes.iter().find(|m| m.name == name);
    found
        .unwrap_or_else(|| panic!("{login} has no {name:?}: {mailboxes:#?}"))
        .clone()
}

/// The messages in one of `login`'s mailboxes, by UID, as the mail store holds them.
pub async fn messages(p: &Province, login: &str, name: &str) -> Vec<MailboxMessage> {
    let id = mailbox(p, login, name).await.id;
    p.server.services().mailstore.messages(id).await.unwrap()
}

/// The stored bytes of every message in one of `login`'s mailboxes, by UID.
pub async fn stored(p: &Province, login: &str, name: &str) -> Vec<Vec<u8>> {
    let mailstore = &p.server.services().mailstore;
    let mut bodies = Vec::new();
    for message in messages(p, login, name).await {
        bodies.push(mailstore.body(message.body_id).await.unwrap().unwrap());
    }
    bodies
}
