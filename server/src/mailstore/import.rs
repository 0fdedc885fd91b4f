//! Importing messages from elsewhere: another IMAP server (`congvu-admin migrate imap`) and
//! archives (Maildir, mbox). A message comes in with its bytes, internal date, flags and
//! keywords, past the official's quota (the mail is theirs already), with its body shared as
//! on every other way in. Import is idempotent:
//!
//! 1. a source message recorded as copied (same source folder, UIDVALIDITY and UID) is
//!    "already there", and its flags and keywords are brought up to date;
//! 2. otherwise a message with the same body hash already in the mailbox (and not already
//!    the copy of another message of the same source folder) is "already there" and is
//!    recorded as that source message's copy: the fallback when the source's UIDVALIDITY
//!    changed or the source is named differently (a host name, then its address);
//! 3. otherwise the message is stored.
//!
//! The body hash covers the whole message, header included, so it implies the same
//! Message-ID; it is the stricter of the two tests. A message and the record of its source
//! UID are written in one transaction: whenever the process dies, each source message is in
//! the mailbox exactly once, or not yet.
//!
//! This module owns no protocol: source folder names arrive already decoded to Unicode.

use std::collections::{BTreeMap, HashMap};

use super::Derived;
use super::{
    BodyHash, Mailbox, MailboxId, MailboxRole, Mailstore, MailstoreError, MessageFlags, Uid,
};
use crate::clock::UnixTime;
use crate::model::{Official, OfficialId};
use crate::store::{BulkWrites, Conn, NewImport};

pub use crate::store::CopiedMessage;

/// A folder of an account on another server: what identifies it across runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFolder<'a> {
    /// The old server's host name, lowercase.
    pub host: &'a str,
    /// The account on the old server.
    pub user: &'a str,
    /// The folder's name on the old server, as it lists it.
    pub folder: &'a str,
}

/// A source folder's id in the migration records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceFolderId(pub i64);

/// What was copied from a source folder before this run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFolderState {
    /// `None` for a folder never recorded (only from [`Mailstore::source_folder_state`]).
    pub id: Option<SourceFolderId>,
    /// Whether the source's UIDVALIDITY differs from the one recorded: the recorded UIDs
    /// were forgotten, and messages are matched by their bodies instead.
    pub uidvalidity_changed: bool,
    /// Source UID -> the message it became.
    pub copied: HashMap<u32, CopiedMessage>,
}

/// Where an imported message came from: recorded with it, so that it is copied once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub folder: SourceFolderId,
    pub uid: u32,
}

/// A message to import.
#[derive(Debug, Clone, Copy)]
pub struct ImportMessage<'a> {
    pub bytes: &'a [u8],
    pub internal_date: UnixTime,
    /// `\Seen \Answered \Flagged \Draft` (and `\Deleted`, stored as given).
    pub flags: MessageFlags,
    pub keywords: &'a [String],
    /// The source message, when there is one (IMAP); `None` for archives without stable ids.
    pub origin: Option<Origin>,
}

/// What importing one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Stored as a new message.
    Added(CopiedMessage),
    /// It was there already (copied before, or the same bytes); its flags are the source's now.
    AlreadyThere(CopiedMessage),
}

/// A copied message's flags and keywords as the source has them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagRefresh {
    pub message: CopiedMessage,
    pub flags: MessageFlags,
    pub keywords: Vec<String>,
}

/// A folder found or made for imported messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFolder {
    pub mailbox: Mailbox,
    /// Whether this call created it.
    pub created: bool,
}

/// A message's hash, structure and text, worked out before the transaction.
struct Prepared<'a> {
    body: &'a PreparedBody,
    keywords: Vec<String>,
}

/// A message's hash, structure and text, worked out ahead of its import (see
/// [`prepare_bodies`]), so that a caller can do it while the previous batch is written.
#[derive(Debug, Clone)]
pub struct PreparedBody {
    hash: BodyHash,
    derived: Derived,
}

impl PreparedBody {
    /// Hashes and parses `bytes`.
    pub fn of(bytes: &[u8]) -> PreparedBody {
        PreparedBody {
            hash: BodyHash::of(bytes),
            derived: Derived::of(bytes),
        }
    }
}

/// Hashes and parses each of `bodies`, on every core when there are several: an import's
/// batch is hundreds of messages, and this is most of the CPU it costs. Blocks the thread:
/// run it off the async threads.
pub fn prepare_bodies(bodies: &[&[u8]]) -> Vec<PreparedBody> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || bodies.len() < 2 {
        return bodies.iter().map(|b| PreparedBody::of(b)).collect();
    }
    let share = bodies.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let parts: Vec<_> = bodies
            .chunks(share)
            .map(|part| {
                scope.spawn(move || part.iter().map(|b| PreparedBody::of(b)).collect::<Vec<_>>())
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|part| match part.join() {
                Ok(prepared) => prepared,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

impl Mailstore {
    /// Begins a bulk import: until it is finished, commits on SQLite do not each wait for the
    /// disk, since what an import copied is recorded with the copy and a lost commit is copied
    /// again by the next run ([`BulkWrites`](crate::store::BulkWrites)); finishing it syncs
    /// everything committed, and has the database plan for the mailboxes' new sizes.
    pub async fn begin_bulk_import(&self) -> Result<BulkWrites, MailstoreError> {
        Ok(self.store.begin_bulk_writes().await?)
    }

    /// The official's folder for imported messages: the one with `role` if asked for and
    /// present, else the one called `name` (created with its parents when missing, and given
    /// `role` when it has none).
    pub async fn import_folder(
        &self,
        official: &Official,
        name: &str,
        role: Option<MailboxRole>,
    ) -> Result<ImportFolder, MailstoreError> {
        let mailboxes = self.mailboxes(official.id).await?;
        if let Some(role) = role {
            if let Some(mailbox) = mailboxes.into_iter().find(|m| m.role == Some(role)) {
                return Ok(ImportFolder {
                    mailbox,
                    created: false,
                });
            }
        }
        let mut created = false;
        let mut mailbox = match self.mailbox_named(official, name).await? {
            Some(found) => found,
            None => {
                match self.create_folder(official, name).await {
                    Ok(()) => created = true,
                    // Made meanwhile by another run or a mail client: the same folder.
                    Err(MailstoreError::AlreadyExists) => {}
                    Err(e) => return Err(e),
                }
                self.mailbox_named(official, name)
                    .await?
                    .ok_or(MailstoreError::NoSuchMailbox)?
            }
        };
        if let Some(role) = role.filter(|_| mailbox.role.is_none()) {
            let mut tx = self.store.begin().await?;
            if tx.give_mailbox_role(mailbox.id, role).await? {
                mailbox.role = Some(role);
            }
            tx.commit().await?;
        }
        Ok(ImportFolder { mailbox, created })
    }

    /// Starts (or resumes) copying a source folder whose UIDVALIDITY is now `uidvalidity`:
    /// records it if new, forgets its recorded UIDs if the UIDVALIDITY changed, and returns
    /// what was copied before.
    pub async fn begin_source_folder(
        &self,
        official: OfficialId,
        source: &SourceFolder<'_>,
        uidvalidity: u32,
    ) -> Result<SourceFolderState, MailstoreError> {
        let recorded = self
            .store
            .read()
            .await?
            .source_folder(official, source.host, source.user, source.folder)
            .await?;
        let now = self.clock.now();
        let (id, uidvalidity_changed) = match recorded {
            Some(row) if row.uidvalidity == uidvalidity => (row.id, false),
            Some(row) => {
                let mut tx = self.store.begin().await?;
                tx.reset_source_folder(row.id, uidvalidity, now).await?;
                tx.commit().await?;
                (row.id, true)
            }
            None => {
                let mut tx = self.store.begin().await?;
                let key = (source.host, source.user, source.folder);
                let id = tx
                    .insert_source_folder(official, key, uidvalidity, now)
                    .await?;
                tx.commit().await?;
                (id, false)
            }
        };
        let copied = self.store.read().await?.copied_source_uids(id).await?;
        Ok(SourceFolderState {
            id: Some(SourceFolderId(id)),
            uidvalidity_changed,
            copied: copied.into_iter().collect(),
        })
    }

    /// What [`Mailstore::begin_source_folder`] would find, without writing anything (for a
    /// dry run).
    pub async fn source_folder_state(
        &self,
        official: OfficialId,
        source: &SourceFolder<'_>,
        uidvalidity: u32,
    ) -> Result<SourceFolderState, MailstoreError> {
        let mut conn = self.store.read().await?;
        let recorded = conn
            .source_folder(official, source.host, source.user, source.folder)
            .await?;
        let Some(row) = recorded else {
            return Ok(SourceFolderState::default());
        };
        if row.uidvalidity != uidvalidity {
            return Ok(SourceFolderState {
                id: Some(SourceFolderId(row.id)),
                uidvalidity_changed: true,
                copied: HashMap::new(),
            });
        }
        let copied = conn.copied_source_uids(row.id).await?;
        Ok(SourceFolderState {
            id: Some(SourceFolderId(row.id)),
            uidvalidity_changed: false,
            copied: copied.into_iter().collect(),
        })
    }

    /// Imports `messages` into `mailbox`, ignoring quota, in as few transactions as it can:
    /// all together, or one by one when that fails, so that one bad message fails alone.
    /// Durable when this returns. One outcome per message, in order.
    pub async fn import(
        &self,
        mailbox: MailboxId,
        messages: &[ImportMessage<'_>],
    ) -> Result<Vec<Result<Imported, MailstoreError>>, MailstoreError> {
        // Parsing and hashing happen before the transaction, so the writer only writes.
        let bytes: Vec<&[u8]> = messages.iter().map(|m| m.bytes).collect();
        let bodies = prepare_bodies(&bytes);
        let bodies: Vec<&PreparedBody> = bodies.iter().collect();
        self.import_prepared(mailbox, messages, &bodies).await
    }

    /// [`Mailstore::import`] with each message's [`PreparedBody`] (in the same order)
    /// already worked out.
    pub async fn import_prepared(
        &self,
        mailbox: MailboxId,
        messages: &[ImportMessage<'_>],
        bodies: &[&PreparedBody],
    ) -> Result<Vec<Result<Imported, MailstoreError>>, MailstoreError> {
        debug_assert_eq!(
            messages.len(),
            bodies.len(),
            "one prepared body per message"
        );
        let target = self.mailbox(mailbox).await?;
        let prepared: Vec<Prepared<'_>> = messages
            .iter()
            .zip(bodies)
            .map(|(m, body)| Prepared {
                body,
                keywords: stored_keywords(m.keywords),
            })
            .collect();
        match self.import_together(&target, messages, &prepared).await {
            Ok(outcomes) => Ok(outcomes.into_iter().map(Ok).collect()),
            Err(error) if messages.len() == 1 => Ok(vec![Err(error)]),
            Err(error) => {
                tracing::warn!(%error, "importing a batch failed; importing one by one");
                let mut outcomes = Vec::with_capacity(messages.len());
                for (message, prepared) in messages.iter().zip(&prepared) {
                    let one = self
                        .import_together(
                            &target,
                            std::slice::from_ref(message),
                            std::slice::from_ref(prepared),
                        )
                        .await;
                    outcomes.push(one.map(|mut o| o.remove(0)));
                }
                Ok(outcomes)
            }
        }
    }

    async fn import_together(
        &self,
        target: &Mailbox,
        messages: &[ImportMessage<'_>],
        prepared: &[Prepared<'_>],
    ) -> Result<Vec<Imported>, MailstoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if let Some(outcomes) = import_all_new(&mut tx, target, messages, prepared, now).await? {
            tx.commit().await?;
            return Ok(outcomes);
        }
        let mut outcomes = Vec::with_capacity(messages.len());
        for (message, prepared) in messages.iter().zip(prepared) {
            outcomes.push(import_one(&mut tx, target, message, prepared, now).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Brings copied messages' flags and keywords up to date with the source; returns how
    /// many changed. Messages deleted or moved since they were copied are left alone, and
    /// congvu's own `\Deleted` is kept.
    pub async fn refresh_flags(&self, refreshes: &[FlagRefresh]) -> Result<usize, MailstoreError> {
        let mut by_mailbox: BTreeMap<i64, Vec<&FlagRefresh>> = BTreeMap::new();
        for refresh in refreshes {
            by_mailbox
                .entry(refresh.message.mailbox_id.0)
                .or_default()
                .push(refresh);
        }
        // Compared on a read connection first: on a re-run most flags are unchanged, and
        // then nothing is written at all.
        let mut stale = Vec::new();
        let mut conn = self.store.read().await?;
        for (mailbox, group) in by_mailbox {
            let Some(current) = conn.mailbox(MailboxId(mailbox)).await? else {
                continue;
            };
            let group: Vec<&FlagRefresh> = group
                .into_iter()
                .filter(|r| r.message.mailbox_uidvalidity == current.uidvalidity)
                .collect();
            let uids: Vec<Uid> = group.iter().map(|r| r.message.uid).collect();
            let stored = conn.messages_for_update(current.id, &uids).await?;
            let stored: HashMap<Uid, _> = stored.into_iter().map(|m| (m.uid, m)).collect();
            for refresh in group {
                let keywords = stored_keywords(&refresh.keywords);
                let differs = stored.get(&refresh.message.uid).is_some_and(|m| {
                    merged_flags(m.flags, refresh.flags) != m.flags
                        || !same_keywords(&m.keywords, &keywords)
                });
                if differs {
                    stale.push((refresh.message, refresh.flags, keywords));
                }
            }
        }
        drop(conn);
        if stale.is_empty() {
            return Ok(0);
        }
        let mut tx = self.store.begin().await?;
        let mut changed = 0;
        for (message, flags, keywords) in &stale {
            if set_source_flags(&mut tx, *message, *flags, keywords).await? {
                changed += 1;
            }
        }
        tx.commit().await?;
        Ok(changed)
    }
}

/// Imports one message in the caller's transaction (see the module header for the steps).
/// Imports a batch in a few statements when every message in it is new: all from one
/// source folder (or none), distinct bodies, none of them in the mailbox and none of their
/// source UIDs recorded. `None` when the batch needs the one-by-one path instead, before
/// anything is written.
async fn import_all_new(
    tx: &mut Conn,
    target: &Mailbox,
    messages: &[ImportMessage<'_>],
    prepared: &[Prepared<'_>],
    now: UnixTime,
) -> Result<Option<Vec<Imported>>, MailstoreError> {
    if messages.len() < 2 {
        return Ok(None);
    }
    let folder = messages[0].origin.map(|o| o.folder);
    if messages
        .iter()
        .any(|m| m.origin.map(|o| o.folder) != folder)
    {
        return Ok(None);
    }
    let hashes: Vec<&BodyHash> = prepared.iter().map(|p| &p.body.hash).collect();
    let distinct: std::collections::HashSet<&[u8; 32]> = hashes.iter().map(|h| &h.0).collect();
    if distinct.len() != hashes.len() {
        return Ok(None);
    }
    let source_uids: Vec<u32> = messages
        .iter()
        .filter_map(|m| m.origin.map(|o| o.uid))
        .collect();
    let folder = folder.map(|f| f.0);
    if tx
        .import_needs_care(target.id, folder, &source_uids, &hashes)
        .await?
    {
        return Ok(None);
    }
    let keywords: Vec<String> = prepared.iter().map(|p| p.keywords.join(" ")).collect();
    let rows: Vec<NewImport<'_>> = messages
        .iter()
        .zip(prepared)
        .zip(&keywords)
        .map(|((m, p), keywords)| NewImport {
            hash: &p.body.hash,
            bytes: m.bytes,
            derived: p.body.derived.as_stored(),
            flags: m.flags,
            keywords,
            internal_date: m.internal_date,
            source_uid: m.origin.map(|o| o.uid),
        })
        .collect();
    let uids = tx
        .import_new_messages(target.id, target.uidvalidity, folder, &rows, now)
        .await?
        .ok_or(MailstoreError::NoSuchMailbox)?;
    Ok(Some(
        uids.into_iter()
            .map(|uid| {
                Imported::Added(CopiedMessage {
                    mailbox_id: target.id,
                    mailbox_uidvalidity: target.uidvalidity,
                    uid,
                })
            })
            .collect(),
    ))
}

async fn import_one(
    tx: &mut Conn,
    target: &Mailbox,
    message: &ImportMessage<'_>,
    prepared: &Prepared<'_>,
    now: UnixTime,
) -> Result<Imported, MailstoreError> {
    let keywords = &prepared.keywords;
    if let Some(origin) = message.origin {
        if let Some(copy) = tx.copied_source_uid(origin.folder.0, origin.uid).await? {
            set_source_flags(tx, copy, message.flags, keywords).await?;
            return Ok(Imported::AlreadyThere(copy));
        }
    }
    let unclaimed = message.origin.map(|o| (o.folder.0, target.uidvalidity));
    let same = tx
        .message_with_body(target.id, &prepared.body.hash, unclaimed)
        .await?;
    let copy = |uid| CopiedMessage {
        mailbox_id: target.id,
        mailbox_uidvalidity: target.uidvalidity,
        uid,
    };
    let outcome = match same {
        Some(uid) => {
            set_source_flags(tx, copy(uid), message.flags, keywords).await?;
            Imported::AlreadyThere(copy(uid))
        }
        None => {
            let size = message.bytes.len() as u64;
            let body = tx
                .put_body(
                    &prepared.body.hash,
                    message.bytes,
                    Some(prepared.body.derived.as_stored()),
                    1,
                    now,
                )
                .await?;
            let uid = tx
                .append_message(
                    target.id,
                    body,
                    message.flags,
                    keywords,
                    message.internal_date,
                    size,
                )
                .await?
                .ok_or(MailstoreError::NoSuchMailbox)?;
            Imported::Added(copy(uid))
        }
    };
    if let Some(origin) = message.origin {
        let (Imported::Added(c) | Imported::AlreadyThere(c)) = outcome;
        tx.record_source_uid(origin.folder.0, origin.uid, c).await?;
    }
    Ok(outcome)
}

/// Sets a copied message's flags and keywords to the source's, in the caller's transaction;
/// returns whether anything changed.
async fn set_source_flags(
    tx: &mut Conn,
    message: CopiedMessage,
    flags: MessageFlags,
    keywords: &[String],
) -> Result<bool, MailstoreError> {
    let Some(mailbox) = tx.mailbox(message.mailbox_id).await? else {
        return Ok(false);
    };
    if mailbox.uidvalidity != message.mailbox_uidvalidity {
        return Ok(false);
    }
    let stored = tx.messages_for_update(mailbox.id, &[message.uid]).await?;
    let Some(stored) = stored.first() else {
        return Ok(false);
    };
    let flags = merged_flags(stored.flags, flags);
    if flags == stored.flags && same_keywords(&stored.keywords, keywords) {
        return Ok(false);
    }
    let modseq = tx
        .raise_modseq(mailbox.id)
        .await?
        .ok_or(MailstoreError::NoSuchMailbox)?;
    Ok(tx
        .set_message_flags(mailbox.id, message.uid, flags, keywords, modseq)
        .await?)
}

/// The source's flags, with congvu's own `\Deleted` kept: an official's pending deletion is
/// not the old server's business, nor the other way round.
fn merged_flags(stored: MessageFlags, source: MessageFlags) -> MessageFlags {
    let deleted = MessageFlags::DELETED.0;
    MessageFlags((stored.0 & deleted) | (source.0 & !deleted))
}

fn same_keywords(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|k| b.iter().any(|o| o.eq_ignore_ascii_case(k)))
}

/// Keywords as they can be stored (space-separated IMAP atoms, RFC 3501 §9 `flag-keyword`):
/// first-seen order, no case-insensitive repeats, and anything that is not an atom left out.
fn stored_keywords(keywords: &[String]) -> Vec<String> {
    let atom = |k: &str| {
        !k.is_empty()
            && k.bytes().all(|b| {
                b.is_ascii_graphic()
                    && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
            })
    };
    let mut kept: Vec<String> = Vec::new();
    for k in keywords.iter().filter(|k| atom(k)) {
        if !kept.iter().any(|have| have.eq_ignore_ascii_case(k)) {
            kept.push(k.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests;
