//! What an official does to their own folders and the messages in them: create, rename,
//! delete and subscribe; append, copy, move, flag and expunge. Each operation is one
//! transaction, durable when it returns, and wakes the sessions watching the mailboxes it
//! changed. Quota is checked here, so every way in (IMAP APPEND, COPY, delivery) obeys it.

use std::collections::HashMap;

use super::shape::MessageShape;
use super::text::MessageText;
use super::{
    BodyHash, BodyId, Mailbox, MailboxId, MailboxMessage, MailboxRole, Mailstore, MailstoreError,
    MessageFlags, Uid,
};
use crate::clock::UnixTime;
use crate::model::{Official, OfficialId};
use crate::store::{MailboxCounts, StoreError, UniqueKey};

/// The hierarchy separator in mailbox names (`Công văn/2024`).
pub const SEPARATOR: char = '/';

/// Longest mailbox name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 512;

/// How a flag change applies (RFC 3501 STORE `FLAGS`, `+FLAGS`, `-FLAGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    Replace,
    Add,
    Remove,
}

/// A message's flags after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFlags {
    pub uid: Uid,
    pub flags: MessageFlags,
    pub keywords: Vec<String>,
    pub modseq: u64,
}

/// A flag change asked for by a client.
#[derive(Debug, Clone, Copy)]
pub struct FlagUpdate<'a> {
    pub change: FlagChange,
    pub flags: MessageFlags,
    pub keywords: &'a [String],
    /// RFC 7162 UNCHANGEDSINCE: messages changed after this mod-sequence are left alone.
    pub unchanged_since: Option<u64>,
}

/// What a flag change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagOutcome {
    /// Messages whose flags changed, with their new flags.
    pub changed: Vec<ChangedFlags>,
    /// Messages left alone because they changed after `unchanged_since`.
    pub modified: Vec<Uid>,
}

/// Where copies landed: (source UID, new UID), in source order.
pub type CopiedUids = Vec<(Uid, Uid)>;

impl Mailstore {
    /// One of an official's mailboxes by name; `INBOX` in any case names the inbox.
    pub async fn mailbox_named(
        &self,
        official: &Official,
        name: &str,
    ) -> Result<Option<Mailbox>, MailstoreError> {
        let mailboxes = self.mailboxes(official.id).await?;
        Ok(find_named(&mailboxes, name).cloned())
    }

    /// A mailbox's message and unseen counts.
    pub async fn counts(&self, mailbox: MailboxId) -> Result<MailboxCounts, MailstoreError> {
        Ok(self.store.read().await?.mailbox_counts(mailbox).await?)
    }

    /// A mailbox as it is now; `NoSuchMailbox` once deleted.
    pub async fn mailbox(&self, mailbox: MailboxId) -> Result<Mailbox, MailstoreError> {
        self.store
            .read()
            .await?
            .mailbox(mailbox)
            .await?
            .ok_or(MailstoreError::NoSuchMailbox)
    }

    /// A mailbox's change counter and the messages that changed or arrived after
    /// mod-sequence `since`, read together.
    pub async fn changed_since(
        &self,
        mailbox: MailboxId,
        since: u64,
    ) -> Result<(u64, Vec<MailboxMessage>), MailstoreError> {
        let mut conn = self.store.read().await?;
        let modseq = conn
            .highest_modseq(mailbox)
            .await?
            .ok_or(MailstoreError::NoSuchMailbox)?;
        if modseq <= since {
            return Ok((modseq, Vec::new()));
        }
        Ok((modseq, conn.messages_changed_since(mailbox, since).await?))
    }

    /// The UIDs in a mailbox, ascending.
    pub async fn uids(&self, mailbox: MailboxId) -> Result<Vec<Uid>, MailstoreError> {
        Ok(self.store.read().await?.uids_in(mailbox).await?)
    }

    /// A mailbox's change counter, to tell cheaply whether anything changed.
    pub async fn highest_modseq(&self, mailbox: MailboxId) -> Result<u64, MailstoreError> {
        self.store
            .read()
            .await?
            .highest_modseq(mailbox)
            .await?
            .ok_or(MailstoreError::NoSuchMailbox)
    }

    /// Creates a folder (and any missing parents, RFC 3501 §6.3.3).
    pub async fn create_folder(
        &self,
        official: &Official,
        name: &str,
    ) -> Result<(), MailstoreError> {
        self.create_folder_of(official.id, name).await
    }

    /// The folder a filter files into: among the official's `mailboxes` (as just read), the
    /// one called `name` (INBOX by any spelling); made with its parents when missing and
    /// `create` is set. `None` when it is missing and not to be made, or cannot be (an
    /// invalid name): the message then goes to INBOX.
    pub async fn filter_folder(
        &self,
        official: OfficialId,
        mailboxes: &[Mailbox],
        name: &str,
        create: bool,
    ) -> Result<Option<MailboxId>, MailstoreError> {
        if let Some(found) = find_named(mailboxes, name) {
            return Ok(Some(found.id));
        }
        if !create {
            return Ok(None);
        }
        match self.create_folder_of(official, name).await {
            // Made meanwhile by another delivery or a mail client: the same folder.
            Ok(()) | Err(MailstoreError::AlreadyExists) => {}
            Err(MailstoreError::InvalidName) => return Ok(None),
            Err(e) => return Err(e),
        }
        Ok(find_named(&self.mailboxes(official).await?, name).map(|m| m.id))
    }

    async fn create_folder_of(
        &self,
        official: OfficialId,
        name: &str,
    ) -> Result<(), MailstoreError> {
        let name = valid_name(name)?;
        let existing = self.mailboxes(official).await?;
        if find_named(&existing, &name).is_some() {
            return Err(MailstoreError::AlreadyExists);
        }
        let now = self.clock.now();
        // A recreated name must not reuse an earlier UIDVALIDITY: at least the time, more
        // than any mailbox the official has, and more than any given before (kept by the store).
        let at_least = existing
            .iter()
            .map(|m| m.uidvalidity)
            .max()
            .unwrap_or(0)
            .saturating_add(1)
            .max(u32::try_from(now.0).unwrap_or(u32::MAX));
        let mut tx = self.store.begin().await?;
        let mut prefix = String::new();
        for (i, segment) in name.split(SEPARATOR).enumerate() {
            if i > 0 {
                prefix.push(SEPARATOR);
            }
            prefix.push_str(segment);
            if find_named(&existing, &prefix).is_none() {
                let uidvalidity = tx.take_uidvalidity(official, at_least).await?;
                tx.create_mailbox(official, &prefix, uidvalidity, now)
                    .await
                    .map_err(exists_if_taken)?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a folder and its messages. INBOX cannot be deleted.
    pub async fn delete_folder(
        &self,
        official: &Official,
        name: &str,
    ) -> Result<(), MailstoreError> {
        let mailbox = self
            .mailbox_named(official, name)
            .await?
            .ok_or(MailstoreError::NoSuchMailbox)?;
        if mailbox.role == Some(MailboxRole::Inbox) {
            return Err(MailstoreError::Protected);
        }
        let mut tx = self.store.begin().await?;
        for body in tx.delete_mailbox(mailbox.id).await? {
            tx.release_body(body, 1).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Renames a folder and every folder under it. INBOX cannot be renamed.
    pub async fn rename_folder(
        &self,
        official: &Official,
        from: &str,
        to: &str,
    ) -> Result<(), MailstoreError> {
        let to = valid_name(to)?;
        let mailboxes = self.mailboxes(official.id).await?;
        let source = find_named(&mailboxes, from)
            .cloned()
            .ok_or(MailstoreError::NoSuchMailbox)?;
        if source.role == Some(MailboxRole::Inbox) {
            return Err(MailstoreError::Protected);
        }
        if find_named(&mailboxes, &to).is_some() {
            return Err(MailstoreError::AlreadyExists);
        }
        let children = format!("{}{SEPARATOR}", source.name);
        let mut tx = self.store.begin().await?;
        for mailbox in &mailboxes {
            let renamed = if mailbox.id == source.id {
                to.clone()
            } else if let Some(rest) = mailbox.name.strip_prefix(&children) {
                format!("{to}{SEPARATOR}{rest}")
            } else {
                continue;
            };
            tx.rename_mailbox(mailbox.id, &renamed)
                .await
                .map_err(exists_if_taken)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Subscribes to a folder or unsubscribes from it.
    pub async fn subscribe(
        &self,
        official: &Official,
        name: &str,
        subscribed: bool,
    ) -> Result<(), MailstoreError> {
        let mailbox = self
            .mailbox_named(official, name)
            .await?
            .ok_or(MailstoreError::NoSuchMailbox)?;
        let mut tx = self.store.begin().await?;
        tx.set_subscribed(mailbox.id, subscribed).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends a message to one of the official's mailboxes, storing the body once (shared
    /// with every other copy of the same bytes). Durable when this returns; refused when it
    /// would take the official over quota.
    pub async fn append(
        &self,
        official: &Official,
        mailbox: MailboxId,
        message: &[u8],
        flags: MessageFlags,
        keywords: &[String],
        internal_date: Option<UnixTime>,
    ) -> Result<(u32, Uid), MailstoreError> {
        self.check_quota(official, message.len() as u64).await?;
        let target = self.mailbox(mailbox).await?;
        if target.official_id != official.id {
            return Err(MailstoreError::NoSuchMailbox);
        }
        // Parsing happens before the transaction, so the writer only writes.
        let derived = super::Derived::of(message);
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let body = tx
            .put_body(
                &BodyHash::of(message),
                message,
                Some(derived.as_stored()),
                1,
                now,
            )
            .await?;
        let uid = tx
            .append_message(
                mailbox,
                body,
                flags,
                keywords,
                internal_date.unwrap_or(now),
                message.len() as u64,
            )
            .await?
            .ok_or(MailstoreError::NoSuchMailbox)?;
        tx.commit().await?;
        Ok((target.uidvalidity, uid))
    }

    /// Changes the flags of `uids` in `mailbox`; returns the messages whose flags changed,
    /// with their new flags, and those left alone because they changed after
    /// `update.unchanged_since`.
    pub async fn change_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        update: &FlagUpdate<'_>,
    ) -> Result<FlagOutcome, MailstoreError> {
        let mut tx = self.store.begin().await?;
        let current = tx.messages_for_update(mailbox, uids).await?;
        let mut modseq = None;
        let mut changed = Vec::new();
        let mut modified = Vec::new();
        for message in &current {
            if update
                .unchanged_since
                .is_some_and(|since| message.modseq > since)
            {
                modified.push(message.uid);
                continue;
            }
            let (new_flags, new_keywords) =
                apply(update.change, message, update.flags, update.keywords);
            if new_flags == message.flags && new_keywords == message.keywords {
                continue;
            }
            let modseq = match modseq {
                Some(m) => m,
                None => *modseq.insert(
                    tx.raise_modseq(mailbox)
                        .await?
                        .ok_or(MailstoreError::NoSuchMailbox)?,
                ),
            };
            if tx
                .set_message_flags(mailbox, message.uid, new_flags, &new_keywords, modseq)
                .await?
            {
                changed.push(ChangedFlags {
                    uid: message.uid,
                    flags: new_flags,
                    keywords: new_keywords,
                    modseq,
                });
            }
        }
        tx.commit().await?;
        Ok(FlagOutcome { changed, modified })
    }

    /// Copies messages to another of the official's mailboxes, sharing their bodies; with
    /// `remove_source`, removes them from the source in the same transaction (MOVE).
    pub async fn copy(
        &self,
        official: &Official,
        messages: &[MailboxMessage],
        to: MailboxId,
        remove_source: bool,
    ) -> Result<(u32, CopiedUids), MailstoreError> {
        let target = self.mailbox(to).await?;
        if target.official_id != official.id {
            return Err(MailstoreError::NoSuchMailbox);
        }
        if !remove_source {
            let bytes = messages.iter().map(|m| m.size).sum();
            self.check_quota(official, bytes).await?;
        }
        let mut tx = self.store.begin().await?;
        let mut copied = Vec::with_capacity(messages.len());
        for message in messages {
            let uid = tx
                .copy_message(message, to)
                .await?
                .ok_or(MailstoreError::NoSuchMailbox)?;
            if remove_source {
                if let Some(body) = tx.delete_message(message.mailbox_id, message.uid).await? {
                    tx.release_body(body, 1).await?;
                }
            }
            copied.push((message.uid, uid));
        }
        tx.commit().await?;
        Ok((target.uidvalidity, copied))
    }

    /// The structure of a stored body: kept since it was stored, or worked out now (and kept)
    /// for bodies stored before structures were.
    pub async fn shape(&self, body: BodyId) -> Result<MessageShape, MailstoreError> {
        if let Some(json) = self.store.read().await?.body_shape(body).await? {
            if let Some(shape) = MessageShape::from_json(&json) {
                return Ok(shape);
            }
        }
        let bytes = self
            .body(body)
            .await?
            .ok_or(MailstoreError::NoSuchMessage)?;
        let shape = MessageShape::of(&bytes);
        let mut tx = self.store.begin().await?;
        tx.set_body_shapes(&[(body, &shape.to_json())]).await?;
        tx.commit().await?;
        Ok(shape)
    }

    /// The structures of many bodies at once (FETCH over a range), read in few statements.
    pub async fn shapes(
        &self,
        bodies: &[BodyId],
    ) -> Result<std::collections::HashMap<BodyId, MessageShape>, MailstoreError> {
        let arrays = self.store.read().await?.body_shapes(bodies).await?;
        let mut shapes = std::collections::HashMap::with_capacity(bodies.len());
        for array in arrays {
            // An array that does not read (a damaged structure in it) leaves its bodies to
            // be read one by one below.
            if let Some(pairs) = MessageShape::pairs_from_json(&array) {
                shapes.extend(pairs.into_iter().map(|(id, shape)| (BodyId(id), shape)));
            }
        }
        // Bodies stored before structures were kept, or whose structure does not read: worked
        // out (and kept) one by one.
        let missing: Vec<BodyId> = bodies
            .iter()
            .copied()
            .filter(|b| !shapes.contains_key(b))
            .collect();
        for body in missing {
            if let Ok(shape) = self.shape(body).await {
                shapes.insert(body, shape);
            }
        }
        Ok(shapes)
    }

    /// The search texts of many bodies at once, read in few statements. A body stored
    /// before texts were kept, or whose kept text does not read, is worked out from its
    /// bytes and its text kept for the next search. A body that is gone has none.
    pub async fn texts(
        &self,
        bodies: &[BodyId],
    ) -> Result<HashMap<BodyId, MessageText>, MailstoreError> {
        let arrays = self.store.read().await?.body_texts(bodies).await?;
        let mut texts = HashMap::with_capacity(bodies.len());
        let mut unreadable = false;
        for array in arrays {
            match MessageText::pairs_from_json(&array) {
                Some(pairs) => texts.extend(pairs.into_iter().map(|(id, t)| (BodyId(id), t))),
                None => unreadable = true,
            }
        }
        let mut worked_out = Vec::new();
        for &body in bodies {
            if texts.contains_key(&body) {
                continue;
            }
            // An array that did not read (a damaged text in it): the texts it held are read
            // one by one before any is worked out again.
            if unreadable {
                if let Some(text) = self.kept_text(body).await? {
                    texts.insert(body, text);
                    continue;
                }
            }
            if let Some(bytes) = self.body(body).await? {
                let text = MessageText::of(&bytes);
                worked_out.push((body, text.to_json()));
                texts.insert(body, text);
            }
        }
        if !worked_out.is_empty() {
            let rows: Vec<(BodyId, &str)> =
                worked_out.iter().map(|(b, t)| (*b, t.as_str())).collect();
            let mut tx = self.store.begin().await?;
            tx.set_body_texts(&rows).await?;
            tx.commit().await?;
        }
        Ok(texts)
    }

    /// One body's kept text, if it has one that reads.
    async fn kept_text(&self, body: BodyId) -> Result<Option<MessageText>, MailstoreError> {
        let arrays = self.store.read().await?.body_texts(&[body]).await?;
        Ok(arrays
            .iter()
            .filter_map(|a| MessageText::pairs_from_json(a))
            .flatten()
            .map(|(_, text)| text)
            .next())
    }

    /// Refuses `adding` more bytes when they would take the official over quota (0 means
    /// unlimited).
    pub async fn check_quota(
        &self,
        official: &Official,
        adding: u64,
    ) -> Result<(), MailstoreError> {
        if official.quota_bytes <= 0 {
            return Ok(());
        }
        let used = self.usage(official.id).await?;
        if used.saturating_add(adding as i64) > official.quota_bytes {
            return Err(MailstoreError::OverQuota);
        }
        Ok(())
    }

    /// Wakes with a new value whenever a change to `mailbox` commits (on any node, on
    /// PostgreSQL).
    pub fn watch(&self, mailbox: MailboxId) -> tokio::sync::watch::Receiver<u64> {
        self.store.mailbox_changes().watch(mailbox)
    }
}

/// The mailbox called `name` (in any Unicode normal form: names are stored in NFC);
/// `INBOX` is case-insensitive (RFC 3501 §5.1).
fn find_named<'a>(mailboxes: &'a [Mailbox], name: &str) -> Option<&'a Mailbox> {
    use unicode_normalization::UnicodeNormalization;
    if name.eq_ignore_ascii_case("INBOX") {
        return mailboxes
            .iter()
            .find(|m| m.role == Some(MailboxRole::Inbox));
    }
    let name: String = name.nfc().collect();
    mailboxes.iter().find(|m| m.name == name)
}

/// `name` as stored: NFC, without a trailing separator; refuses empty segments, control
/// characters and over-long names.
fn valid_name(name: &str) -> Result<String, MailstoreError> {
    use unicode_normalization::UnicodeNormalization;
    let name: String = name.trim_end_matches(SEPARATOR).nfc().collect();
    let bad = name.is_empty()
        || name.len() > MAX_NAME_BYTES
        || name.eq_ignore_ascii_case("INBOX")
        || name.split(SEPARATOR).any(|s| s.is_empty())
        || name.chars().any(|c| c.is_control() || c == '*' || c == '%');
    if bad {
        return Err(MailstoreError::InvalidName);
    }
    Ok(name)
}

fn exists_if_taken(error: StoreError) -> MailstoreError {
    match error {
        StoreError::Duplicate(UniqueKey::MailboxName) => MailstoreError::AlreadyExists,
        other => MailstoreError::Store(other),
    }
}

/// A message's flags and keywords after `change`.
fn apply(
    change: FlagChange,
    message: &MailboxMessage,
    flags: MessageFlags,
    keywords: &[String],
) -> (MessageFlags, Vec<String>) {
    match change {
        FlagChange::Replace => (flags, dedup(keywords.iter().cloned())),
        FlagChange::Add => (
            message.flags.with(flags),
            dedup(message.keywords.iter().chain(keywords).cloned()),
        ),
        FlagChange::Remove => (
            MessageFlags(message.flags.0 & !flags.0),
            message
                .keywords
                .iter()
                .filter(|k| !keywords.iter().any(|r| r.eq_ignore_ascii_case(k)))
                .cloned()
                .collect(),
        ),
    }
}

/// Keywords in first-seen order, without case-insensitive repeats.
fn dedup(keywords: impl Iterator<Item = String>) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for k in keywords {
        if !kept.iter().any(|have| have.eq_ignore_ascii_case(&k)) {
            kept.push(k);
        }
    }
    kept
}
