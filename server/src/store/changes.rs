//! Which mailboxes changed. Write transactions note the mailboxes they touch; on commit every
//! session watching one of them is woken (IMAP IDLE and unsolicited EXISTS/EXPUNGE/FETCH). On
//! PostgreSQL the same ids travel to the other nodes with NOTIFY, delivered by the database only
//! if the transaction commits, and each node's listener wakes its own sessions.
//!
//! The same way, transactions note whose folder list they changed (a folder made, deleted or
//! renamed): each official's list has a version, raised on every node at such a commit, so a
//! copy of the list kept in memory knows when it is out of date.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::{MailboxId, OfficialId};
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
/// Marks an official's id in a payload: their folder list changed (a bare number is a
/// mailbox, which a node of an earlier version, reading only those, skips).
const FOLDERS_MARK: char = 'o';

/// The in-process side: one watch channel per mailbox someone is watching, and the version of
/// each official's folder list.
#[derive(Debug, Default)]
pub struct MailboxChanges {
    watched: Mutex<HashMap<MailboxId, watch::Sender<u64>>>,
    /// Officials whose folder list changed since this process started, and how many times.
    folder_lists: Mutex<HashMap<OfficialId, u64>>,
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

impl MailboxChanges {
    /// The version of the official's folder list: it changes whenever a committed
    /// transaction, on any node, changed the list. Read it before reading the list.
    pub fn folders_version(&self, official: OfficialId) -> u64 {
        let lists = self.folder_lists.lock().unwrap_or_else(|e| e.into_inner());
        lists.get(&official).copied().unwrap_or(0)
    }

    /// Raises the version of each of `officials`' folder lists.
    pub fn folders_changed(&self, officials: impl IntoIterator<Item = OfficialId>) {
        let mut lists = self.folder_lists.lock().unwrap_or_else(|e| e.into_inner());
        for official in officials {
            *lists.entry(official).or_insert(0) += 1;
        }
    }
}

/// What one committed transaction changed, as a NOTIFY payload tells another node.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Changed {
    pub mailboxes: Vec<MailboxId>,
    pub folder_lists: Vec<OfficialId>,
}

/// The ids in a NOTIFY payload; what is neither is skipped.
pub(super) fn parse_payload(payload: &str) -> Changed {
    let mut changed = Changed::default();
    for item in payload.split(',').map(str::trim) {
        match item.strip_prefix(FOLDERS_MARK) {
            Some(official) => changed
                .folder_lists
                .extend(official.parse().ok().map(OfficialId)),
            None => changed.mailboxes.extend(item.parse().ok().map(MailboxId)),
        }
    }
    changed
}

/// NOTIFY payloads for `mailboxes` and the officials whose `folder_lists` changed.
pub(super) fn payloads(mailboxes: &[MailboxId], folder_lists: &[OfficialId]) -> Vec<String> {
    let items: Vec<String> = mailboxes
        .iter()
        .map(|m| m.0.to_string())
        .chain(
            folder_lists
                .iter()
                .map(|o| format!("{FOLDERS_MARK}{}", o.0)),
        )
        .collect();
    items.chunks(IDS_PER_NOTIFY).map(|c| c.join(",")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_mailboxes_and_folder_lists_and_read_back() {
        let mailboxes: Vec<MailboxId> = (1..=700).map(MailboxId).collect();
        let officials = [OfficialId(7), OfficialId(12)];
        let sent = payloads(&mailboxes, &officials);
        assert_eq!(sent.len(), 2, "{IDS_PER_NOTIFY} ids a payload");
        assert!(sent.iter().all(|p| p.len() < 8000));
        let mut read = Changed::default();
        for payload in &sent {
            let changed = parse_payload(payload);
            read.mailboxes.extend(changed.mailboxes);
            read.folder_lists.extend(changed.folder_lists);
        }
        assert_eq!(read.mailboxes, mailboxes);
        assert_eq!(read.folder_lists, officials);
    }

    #[test]
    fn a_payload_of_bare_ids_is_mailboxes_and_anything_else_is_skipped() {
        let changed = parse_payload("3, 5,o9,x,o,,o-,17");
        assert_eq!(
            changed.mailboxes,
            [MailboxId(3), MailboxId(5), MailboxId(17)]
        );
        assert_eq!(changed.folder_lists, [OfficialId(9)]);
    }

    #[test]
    fn a_folder_list_version_rises_with_each_change_to_it_alone() {
        let changes = MailboxChanges::default();
        assert_eq!(changes.folders_version(OfficialId(1)), 0);
        changes.folders_changed([OfficialId(1), OfficialId(2)]);
        changes.folders_changed([OfficialId(1)]);
        assert_eq!(changes.folders_version(OfficialId(1)), 2);
        assert_eq!(changes.folders_version(OfficialId(2)), 1);
        assert_eq!(changes.folders_version(OfficialId(3)), 0);
    }
}
