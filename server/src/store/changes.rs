//! Which mailboxes changed. Write transactions note the mailboxes they touch; on commit every
//! session watching one of them is woken (IMAP IDLE and unsolicited EXISTS/EXPUNGE/FETCH). On
//! PostgreSQL the same ids travel to the other nodes with NOTIFY, delivered by the database only
//! if the transaction commits, and each node's listener wakes its own sessions.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::MailboxId;
use tokio::sync::watch;

/// The NOTIFY channels mailbox changes travel on between nodes: one per database schema
/// (`congvu:<schema>`, cut to PostgreSQL's 63-byte identifiers), so that deployments
/// sharing a PostgreSQL database in separate schemas never wake each other's sessions.
pub(super) const CHANNEL_PREFIX: &str = "congvu:";

/// The channel of `schema`, as [`NOTIFY_SQL`] names it in the database.
pub(super) fn channel(schema: &str) -> String {
    let mut channel = format!("{CHANNEL_PREFIX}{schema}");
    let mut end = channel.len().min(63);
    while !channel.is_char_boundary(end) {
        end -= 1;
    }
    channel.truncate(end);
    channel
}

/// Sends one payload on the current schema's channel (same name as [`channel`]).
pub(super) const NOTIFY_SQL: &str = "SELECT pg_notify(left('congvu:' || current_schema(), 63), $1)";

/// NOTIFY payloads must stay under 8000 bytes; ids are sent in chunks of this many.
pub(super) const IDS_PER_NOTIFY: usize = 500;

/// The in-process side: one watch channel per mailbox someone is watching.
#[derive(Debug, Default)]
pub struct MailboxChanges {
    watched: Mutex<HashMap<MailboxId, watch::Sender<u64>>>,
}

impl MailboxChanges {
    /// A receiver that sees a new value after every committed change to `mailbox`.
    pub fn watch(&self, mailbox: MailboxId) -> watch::Receiver<u64> {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        // Forget mailboxes nobody watches any more, now and then rather than on every call.
        if watched.len() % 256 == 255 {
            watched.retain(|_, sender| sender.receiver_count() > 0);
        }
        watched
            .entry(mailbox)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes whoever watches any of `mailboxes`.
    pub fn notify(&self, mailboxes: impl IntoIterator<Item = MailboxId>) {
        let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        if watched.is_empty() {
            return;
        }
        for mailbox in mailboxes {
            if let Some(sender) = watched.get(&mailbox) {
                sender.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }
}

/// The ids in a NOTIFY payload.
pub(super) fn parse_payload(payload: &str) -> impl Iterator<Item = MailboxId> + '_ {
    payload
        .split(',')
        .filter_map(|id| id.trim().parse().ok())
        .map(MailboxId)
}

/// NOTIFY payloads for `mailboxes`.
pub(super) fn payloads(mailboxes: &[MailboxId]) -> Vec<String> {
    mailboxes
        .chunks(IDS_PER_NOTIFY)
        .map(|chunk| {
            chunk
                .iter()
                .map(|m| m.0.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}
