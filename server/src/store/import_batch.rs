//! SQL for importing a batch of messages that are all new to their mailbox in a handful of
//! statements: the bodies in one multi-row insert, the UIDs taken in one update, the messages
//! and their source records in one insert each. A migration pulls thousands of messages, and
//! a statement per message per table costs more than the work itself. The mail store falls
//! back to one message at a time whenever [`Conn::import_needs_care`] says a batch has
//! anything already there.

use std::collections::HashMap;

use super::{on_backend, BodyDerived, Conn, Raw, StoreError};
use crate::clock::UnixTime;
use crate::model::{BodyHash, BodyId, MailboxId, MessageFlags, Uid};

/// Rows per multi-row statement at most (the mail store's batches are smaller): well under
/// both engines' limits on parameters per statement.
pub(super) const ROWS_PER_STATEMENT: usize = 256;

/// A message known to be new to its mailbox, for [`Conn::import_new_messages`].
#[derive(Debug, Clone, Copy)]
pub struct NewImport<'a> {
    pub hash: &'a BodyHash,
    pub bytes: &'a [u8],
    /// The body's structure and search text.
    pub derived: BodyDerived<'a>,
    pub flags: MessageFlags,
    /// Keywords joined by spaces, as stored.
    pub keywords: &'a str,
    pub internal_date: UnixTime,
    /// The source message's UID, recorded under the batch's source folder.
    pub source_uid: Option<u32>,
}

/// How parameters are written in a multi-row statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Numbering {
    /// `$1, $2, …`, as PostgreSQL wants them.
    Dollar,
    /// `?`: SQLite's anonymous parameters, bound in order. sqlx looks up the name of every
    /// named (`$N`) SQLite parameter as it binds, at a cost that grows with the statement's
    /// parameters; with hundreds of them, naming them costs more than the insert.
    Anonymous,
}

/// `($first, $first+1, …)` groups of `width` placeholders, one per row (`?` for SQLite,
/// which then takes every parameter of the statement in order).
pub(super) fn placeholders(
    rows: usize,
    width: usize,
    first: usize,
    numbering: Numbering,
) -> String {
    (0..rows)
        .map(|row| {
            let cells: Vec<String> = (0..width)
                .map(|col| match numbering {
                    Numbering::Dollar => format!("${}", first + row * width + col),
                    Numbering::Anonymous => "?".to_string(),
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Conn {
    pub(super) fn numbering(&mut self) -> Numbering {
        match self.raw() {
            Raw::Sqlite(_) => Numbering::Anonymous,
            Raw::Postgres(_) => Numbering::Dollar,
        }
    }

    /// Whether a batch needs the one-by-one path: one of `source_uids` of source folder
    /// `folder` is recorded already, or one of `hashes` is the body of a message in `mailbox`.
    pub async fn import_needs_care(
        &mut self,
        mailbox: MailboxId,
        folder: Option<i64>,
        source_uids: &[u32],
        hashes: &[&BodyHash],
    ) -> Result<bool, StoreError> {
        for (uids, hashes) in source_uids
            .chunks(ROWS_PER_STATEMENT)
            .map(Some)
            .chain(std::iter::repeat(None))
            .zip(hashes.chunks(ROWS_PER_STATEMENT))
        {
            if self
                .needs_care(mailbox, folder, uids.unwrap_or_default(), hashes)
                .await?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn needs_care(
        &mut self,
        mailbox: MailboxId,
        folder: Option<i64>,
        source_uids: &[u32],
        hashes: &[&BodyHash],
    ) -> Result<bool, StoreError> {
        if let (Some(folder), false) = (folder, source_uids.is_empty()) {
            let list = placeholders(1, source_uids.len(), 2, Numbering::Dollar);
            let sql = format!(
                "SELECT COUNT(*) FROM migration_messages WHERE folder_id = $1 AND source_uid IN {list}"
            );
            let recorded: i64 = on_backend!(self, c => {
                let mut query = sqlx::query_scalar(&sql).bind(folder);
                for uid in source_uids {
                    query = query.bind(i64::from(*uid));
                }
                query.fetch_one(&mut *c).await
            })?;
            if recorded > 0 {
                return Ok(true);
            }
        }
        if hashes.is_empty() {
            return Ok(false);
        }
        let present: i64 = match self.raw() {
            Raw::Sqlite(c) => {
                let list = placeholders(1, hashes.len(), 2, Numbering::Dollar);
                // `+m.mailbox_id` keeps SQLite from walking the whole mailbox by its mailbox
                // index and testing every message's body against the list, which it otherwise
                // prefers for a long list: each body is found by its hash, then its messages
                // by body.
                let sql = format!(
                    "SELECT COUNT(*) FROM mailbox_messages m \
                     JOIN message_bodies b ON b.id = m.body_id \
                     WHERE +m.mailbox_id = $1 AND b.sha256 IN {list}"
                );
                let mut query = sqlx::query_scalar(&sql).bind(mailbox.0);
                for hash in hashes {
                    query = query.bind(&hash.0[..]);
                }
                query.fetch_one(c).await?
            }
            Raw::Postgres(c) => {
                // The same, spelled so that PostgreSQL cannot do otherwise: given the join, it
                // read every message of the mailbox for each batch (a hash join over a
                // sequential scan, or each body's messages intersected with the whole
                // mailbox's index), so a batch cost more as the mailbox grew: 1-2 s at
                // 190,000 messages, against 2-10 ms this way.
                let sql = "SELECT COUNT(*) FROM message_bodies b, LATERAL (\
                     SELECT 1 FROM mailbox_messages m \
                     WHERE m.body_id = b.id AND +m.mailbox_id = $1 LIMIT 1) held \
                     WHERE b.sha256 = ANY($2)";
                let hashes: Vec<&[u8]> = hashes.iter().map(|h| &h.0[..]).collect();
                sqlx::query_scalar(sql)
                    .bind(mailbox.0)
                    .bind(hashes)
                    .fetch_one(c)
                    .await?
            }
        };
        Ok(present > 0)
    }

    /// Stores `messages` (distinct bodies, none in `mailbox` yet) as new messages of
    /// `mailbox` at consecutive UIDs, each with its own mod-sequence, and records their source
    /// UIDs under `folder`; returns the UIDs in order, or `None` if the mailbox is gone.
    pub async fn import_new_messages(
        &mut self,
        mailbox: MailboxId,
        mailbox_uidvalidity: u32,
        folder: Option<i64>,
        messages: &[NewImport<'_>],
        now: UnixTime,
    ) -> Result<Option<Vec<Uid>>, StoreError> {
        if messages.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let mut bodies = HashMap::with_capacity(messages.len());
        for chunk in messages.chunks(ROWS_PER_STATEMENT) {
            bodies.extend(self.put_new_bodies(chunk, now).await?);
        }
        let count = messages.len() as i64;
        let total: i64 = messages.iter().map(|m| m.bytes.len() as i64).sum();
        let take = "UPDATE mailboxes SET uidnext = uidnext + $2, used_bytes = used_bytes + $3, \
             highestmodseq = highestmodseq + $4 WHERE id = $1 \
             RETURNING uidnext - $5, highestmodseq - $6";
        let taken: Option<(i64, i64)> = on_backend!(self, c => sqlx::query_as(take)
            .bind(mailbox.0)
            .bind(count)
            .bind(total)
            .bind(count)
            .bind(count)
            .bind(count)
            .fetch_optional(&mut *c)
            .await)?;
        let Some((first_uid, modseq_before)) = taken else {
            return Ok(None);
        };
        for (n, chunk) in messages.chunks(ROWS_PER_STATEMENT).enumerate() {
            let first = (n * ROWS_PER_STATEMENT) as i64;
            self.insert_new_messages(
                mailbox,
                chunk,
                &bodies,
                first_uid + first,
                modseq_before + first,
            )
            .await?;
        }
        if let Some(folder) = folder {
            for (n, chunk) in messages.chunks(ROWS_PER_STATEMENT).enumerate() {
                let first = first_uid + (n * ROWS_PER_STATEMENT) as i64;
                self.record_new_source_uids(folder, mailbox, mailbox_uidvalidity, chunk, first)
                    .await?;
            }
        }
        self.touch(mailbox);
        let uids = (0..count)
            .map(|i| u32::try_from(first_uid + i).map(Uid))
            .collect::<Result<Vec<Uid>, _>>()
            .map_err(|_| StoreError::Corrupt("UID space exhausted".into()))?;
        Ok(Some(uids))
    }

    /// Inserts `messages` at UIDs from `first_uid`, with mod-sequences after `modseq_before`.
    async fn insert_new_messages(
        &mut self,
        mailbox: MailboxId,
        messages: &[NewImport<'_>],
        bodies: &HashMap<[u8; 32], i64>,
        first_uid: i64,
        modseq_before: i64,
    ) -> Result<(), StoreError> {
        let numbering = self.numbering();
        let sql = format!(
            "INSERT INTO mailbox_messages \
             (mailbox_id, uid, body_id, flags, keywords, internal_date, size, modseq) VALUES {}",
            placeholders(messages.len(), 8, 1, numbering)
        );
        on_backend!(self, c => {
            let mut query = sqlx::query(&sql);
            for (i, m) in messages.iter().enumerate() {
                query = query
                    .bind(mailbox.0)
                    .bind(first_uid + i as i64)
                    .bind(bodies[&m.hash.0])
                    .bind(i64::from(m.flags.0))
                    .bind(m.keywords)
                    .bind(m.internal_date.0)
                    .bind(m.bytes.len() as i64)
                    .bind(modseq_before + 1 + i as i64);
            }
            query.execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Inserts the bodies of `messages` (a body stored for another mailbox gains a holder);
    /// returns each body's id by its hash.
    async fn put_new_bodies(
        &mut self,
        messages: &[NewImport<'_>],
        now: UnixTime,
    ) -> Result<HashMap<[u8; 32], i64>, StoreError> {
        let numbering = self.numbering();
        let sql = format!(
            "INSERT INTO message_bodies (sha256, size, refcount, data, created_at) VALUES {} \
             ON CONFLICT (sha256) DO UPDATE SET refcount = message_bodies.refcount + excluded.refcount \
             RETURNING id, sha256",
            placeholders(messages.len(), 5, 1, numbering)
        );
        let rows: Vec<(i64, Vec<u8>)> = on_backend!(self, c => {
            let mut query = sqlx::query_as(&sql);
            for m in messages {
                query = query
                    .bind(&m.hash.0[..])
                    .bind(m.bytes.len() as i64)
                    .bind(1_i64)
                    .bind(m.bytes)
                    .bind(now.0);
            }
            query.fetch_all(&mut *c).await
        })?;
        let mut ids = HashMap::with_capacity(rows.len());
        for (id, hash) in rows {
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("a body hash is not 32 bytes".into()))?;
            ids.insert(hash, id);
        }
        if messages.iter().any(|m| !ids.contains_key(&m.hash.0)) {
            return Err(StoreError::Corrupt("a stored body returned no id".into()));
        }
        self.put_new_derived(messages, &ids).await?;
        Ok(ids)
    }

    /// Stores the structures and search texts of `messages`' bodies, `ids` by hash; a body
    /// that has them keeps them.
    async fn put_new_derived(
        &mut self,
        messages: &[NewImport<'_>],
        ids: &HashMap<[u8; 32], i64>,
    ) -> Result<(), StoreError> {
        let mut derived: Vec<(BodyId, BodyDerived<'_>)> = messages
            .iter()
            .map(|m| (BodyId(ids[&m.hash.0]), m.derived))
            .collect();
        derived.sort_unstable_by_key(|(id, _)| id.0);
        derived.dedup_by_key(|(id, _)| id.0);
        let shapes: Vec<(BodyId, &str)> = derived.iter().map(|(id, d)| (*id, d.shape)).collect();
        self.set_body_shapes(&shapes).await?;
        let texts: Vec<(BodyId, &str)> = derived.iter().map(|(id, d)| (*id, d.text)).collect();
        self.set_body_texts(&texts).await
    }

    async fn record_new_source_uids(
        &mut self,
        folder: i64,
        mailbox: MailboxId,
        mailbox_uidvalidity: u32,
        messages: &[NewImport<'_>],
        first_uid: i64,
    ) -> Result<(), StoreError> {
        let recorded: Vec<(u32, i64)> = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.source_uid.map(|uid| (uid, first_uid + i as i64)))
            .collect();
        if recorded.is_empty() {
            return Ok(());
        }
        let numbering = self.numbering();
        let sql = format!(
            "INSERT INTO migration_messages \
             (folder_id, source_uid, mailbox_id, mailbox_uidvalidity, uid) VALUES {}",
            placeholders(recorded.len(), 5, 1, numbering)
        );
        on_backend!(self, c => {
            let mut query = sqlx::query(&sql);
            for (source_uid, uid) in &recorded {
                query = query
                    .bind(folder)
                    .bind(i64::from(*source_uid))
                    .bind(mailbox.0)
                    .bind(i64::from(mailbox_uidvalidity))
                    .bind(*uid);
            }
            query.execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{placeholders, Numbering};

    #[test]
    fn placeholders_number_rows_in_order() {
        assert_eq!(
            placeholders(2, 3, 1, Numbering::Dollar),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(placeholders(1, 2, 2, Numbering::Dollar), "($2, $3)");
        assert_eq!(
            placeholders(2, 2, 1, Numbering::Anonymous),
            "(?, ?), (?, ?)"
        );
    }
}
