//! Officials' folder lists kept in memory for delivery: a filter that files into a folder by
//! name needs the official's list at every message, and the list changes seldom (a folder
//! made, deleted or renamed), so it is read from the database only when it changed.
//!
//! A kept list is used while its version (`store::MailboxChanges::folders_version`, raised
//! by every committed change on this node and, through NOTIFY, on the other PostgreSQL
//! nodes) is the one it was read under, and for [`FRESH_FOR`] at most: the bound for changes
//! no node announces, such as a `congvu-admin` process writing to the same SQLite file.
//! Delivery stays correct on a list out of date: a copy for a folder deleted meanwhile lands
//! in INBOX, and `:create` looks at the database before it makes a folder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::{Mailbox, OfficialId};

/// How long a kept list serves at most, changes unannounced.
pub const FRESH_FOR: Duration = Duration::from_secs(60);
/// Officials whose list is kept.
const KEPT_OFFICIALS: usize = 16_384;

/// One official's list as read, with the version it was read under.
#[derive(Clone)]
struct Kept {
    version: u64,
    read_at: Instant,
    mailboxes: Arc<[Mailbox]>,
}

/// The kept lists, by official.
#[derive(Clone)]
pub(super) struct FolderLists {
    kept: Arc<quick_cache::sync::Cache<OfficialId, Kept>>,
}

impl std::fmt::Debug for FolderLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderLists")
            .field("kept", &self.kept.len())
            .finish()
    }
}

impl FolderLists {
    pub fn new() -> FolderLists {
        FolderLists {
            kept: Arc::new(quick_cache::sync::Cache::new(KEPT_OFFICIALS)),
        }
    }

    /// The official's list if one is kept under `version` and still fresh.
    pub fn get(&self, official: OfficialId, version: u64) -> Option<Arc<[Mailbox]>> {
        self.kept
            .get(&official)
            .filter(|k| k.version == version && k.read_at.elapsed() < FRESH_FOR)
            .map(|k| k.mailboxes)
    }

    /// Keeps `mailboxes`, read after `version` was taken.
    pub fn keep(&self, official: OfficialId, version: u64, mailboxes: Arc<[Mailbox]>) {
        let kept = Kept {
            version,
            read_at: Instant::now(),
            mailboxes,
        };
        self.kept.insert(official, kept);
    }
}
