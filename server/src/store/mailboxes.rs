//! SQL for mailboxes and the messages in them.

use futures_util::{Stream, StreamExt as _};
use sqlx::{FromRow, Row as _};

use super::{on_backend, Conn, Raw, StoreError};
use crate::clock::UnixTime;
use crate::model::{
    BodyId, Mailbox, MailboxId, MailboxMessage, MailboxRole, MessageFlags, OfficialId, Uid,
};

pub(super) const COLUMNS: &str =
    "id, official_id, name, role, uidvalidity, uidnext, highestmodseq, subscribed, created_at";

#[derive(FromRow)]
pub(super) struct MailboxRow {
    id: i64,
    official_id: i64,
    name: String,
    role: Option<String>,
    uidvalidity: i64,
    uidnext: i64,
    highestmodseq: i64,
    subscribed: bool,
    created_at: i64,
}

impl TryFrom<MailboxRow> for Mailbox {
    type Error = StoreError;

    fn try_from(r: MailboxRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("mailbox {}: {what}", r.id));
        let role = match &r.role {
            Some(s) => Some(MailboxRole::from_stored(s).ok_or_else(|| corrupt("role"))?),
            None => None,
        };
        Ok(Mailbox {
            id: MailboxId(r.id),
            official_id: OfficialId(r.official_id),
            role,
            uidvalidity: u32::try_from(r.uidvalidity).map_err(|_| corrupt("uidvalidity"))?,
            uidnext: Uid(u32::try_from(r.uidnext).map_err(|_| corrupt("uidnext"))?),
            highestmodseq: u64::try_from(r.highestmodseq).map_err(|_| corrupt("highestmodseq"))?,
            subscribed: r.subscribed,
            created_at: UnixTime(r.created_at),
            name: r.name,
        })
    }
}

#[derive(FromRow)]
struct MessageRow {
    mailbox_id: i64,
    uid: i64,
    body_id: i64,
    flags: i64,
    keywords: String,
    internal_date: i64,
    size: i64,
    modseq: i64,
}

impl From<MessageRow> for MailboxMessage {
    fn from(r: MessageRow) -> Self {
        MailboxMessage {
            mailbox_id: MailboxId(r.mailbox_id),
            uid: Uid(r.uid as u32),
            body_id: BodyId(r.body_id),
            flags: MessageFlags(r.flags as u8),
            keywords: r.keywords.split_whitespace().map(str::to_string).collect(),
            internal_date: UnixTime(r.internal_date),
            size: r.size as u64,
            modseq: r.modseq as u64,
        }
    }
}

/// Messages a mailbox's list is read in per statement on SQLite ([`sqlite_in_arrays`]).
const MESSAGES_PER_ARRAY: i64 = 10_000;

/// Reads a mailbox's messages from SQLite [`MESSAGES_PER_ARRAY`] to a statement, each batch
/// one JSON array SQLite builds, and makes each entry an item with `item`, in UID order.
/// `sql` takes the mailbox, the UID to read after and the batch's length, and builds the
/// array of the next messages by UID; `uid` says an entry's. sqlx hands SQLite's rows one at
/// a time from its worker thread, and for a mailbox of 400,000 messages (SELECT reads them
/// all) those hand-offs cost more than SQLite's reading and the array's decoding together.
async fn sqlite_in_arrays<E: serde::de::DeserializeOwned, T>(
    c: &mut sqlx::SqliteConnection,
    sql: &str,
    mailbox: MailboxId,
    uid: impl Fn(&E) -> i64,
    mut item: impl FnMut(E) -> T,
) -> Result<Vec<T>, StoreError> {
    let mut items = Vec::new();
    let mut after = 0_i64;
    loop {
        let array: String = sqlx::query_scalar(sql)
            .bind(mailbox.0)
            .bind(after)
            .bind(MESSAGES_PER_ARRAY)
            .fetch_one(&mut *c)
            .await?;
        let mut entries: Vec<E> = serde_json::from_str(&array)
            .map_err(|e| StoreError::Corrupt(format!("a mailbox's message list: {e}")))?;
        // An aggregate's input order is SQLite's choice, not a promise.
        entries.sort_unstable_by_key(&uid);
        let full = entries.len() as i64 == MESSAGES_PER_ARRAY;
        after = entries.last().map_or(after, &uid);
        items.extend(entries.into_iter().map(&mut item));
        if !full {
            return Ok(items);
        }
    }
}

/// [`Conn::messages_in`] on SQLite: `[uid, body, flags, keywords, internal date, size,
/// mod-sequence]` arrays, through [`sqlite_in_arrays`].
async fn sqlite_messages_in(
    c: &mut sqlx::SqliteConnection,
    mailbox: MailboxId,
) -> Result<Vec<MailboxMessage>, StoreError> {
    type Entry = (i64, i64, i64, String, i64, i64, i64);
    let sql = "SELECT json_group_array(json_array(uid, body_id, flags, keywords, \
                 internal_date, size, modseq)) \
               FROM (SELECT uid, body_id, flags, keywords, internal_date, size, modseq \
                     FROM mailbox_messages WHERE mailbox_id = $1 AND uid > $2 \
                     ORDER BY uid LIMIT $3)";
    let message = |(uid, body_id, flags, keywords, internal_date, size, modseq): Entry| {
        MailboxMessage::from(MessageRow {
            mailbox_id: mailbox.0,
            uid,
            body_id,
            flags,
            keywords,
            internal_date,
            size,
            modseq,
        })
    };
    sqlite_in_arrays(c, sql, mailbox, |e: &Entry| e.0, message).await
}

/// [`Conn::messages_in`] on PostgreSQL: the rows streamed and each made a message as it
/// arrives, so that congvu's work overlaps PostgreSQL's. A mailbox of 400,000 messages (SELECT
/// reads them all) spends most of its time in this loop, so two of sqlx's costs per row are
/// left out, which `perf` put at a third of it: the type check of every value against its
/// column (the columns are this schema's own `BIGINT` and `TEXT`, and a value of another
/// width still fails to decode), and entering the session's tracing span each time the
/// stream hands over a row ([`untraced_until_first`]).
async fn postgres_messages_in(
    c: &mut sqlx::PgConnection,
    mailbox: MailboxId,
) -> Result<Vec<MailboxMessage>, StoreError> {
    let sql = "SELECT uid, body_id, flags, keywords, internal_date, size, modseq \
         FROM mailbox_messages WHERE mailbox_id = $1 ORDER BY uid";
    let none = tracing::Dispatch::none();
    let mut rows =
        tracing::dispatcher::with_default(&none, || sqlx::query(sql).bind(mailbox.0).fetch(c));
    let mut messages = Vec::new();
    let mut next = untraced_until_first(&none, &mut rows).await;
    while let Some(row) = next.transpose()? {
        let value = |i: usize| row.try_get_unchecked::<i64, _>(i);
        messages.push(MailboxMessage::from(MessageRow {
            mailbox_id: mailbox.0,
            uid: value(0)?,
            body_id: value(1)?,
            flags: value(2)?,
            keywords: row.try_get_unchecked(3)?,
            internal_date: value(4)?,
            size: value(5)?,
            modseq: value(6)?,
        }));
        next = rows.next().await;
    }
    Ok(messages)
}

/// The first item of a stream sqlx made under `none`, a dispatcher that records nothing,
/// polled under it too. sqlx's streams take the tracing span current
/// when each of their stages is made (the outer one with the stream, the inner ones while it
/// is polled for its first row) and enter it every time they hand over a row; made with no
/// span current, they enter nothing. What sqlx logs before the first row is not recorded;
/// its report of the finished statement comes later and is.
async fn untraced_until_first<S: Stream + Unpin>(
    none: &tracing::Dispatch,
    rows: &mut S,
) -> Option<S::Item> {
    std::future::poll_fn(|cx| tracing::dispatcher::with_default(none, || rows.poll_next_unpin(cx)))
        .await
}

impl Conn {
    /// An official's mailboxes, by name.
    pub async fn mailboxes_of(&mut self, official: OfficialId) -> Result<Vec<Mailbox>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM mailboxes WHERE official_id = $1 ORDER BY name");
        let rows: Vec<MailboxRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(official.0).fetch_all(&mut *c).await)?;
        rows.into_iter().map(Mailbox::try_from).collect()
    }

    /// Adds a message to a mailbox under the next UID; `None` if the mailbox does not exist.
    /// The UID is taken by incrementing `uidnext` in the same statement, so concurrent
    /// deliveries (also from other nodes) never share one; the mailbox's change counter rises
    /// with it.
    pub async fn append_message(
        &mut self,
        mailbox: MailboxId,
        body: BodyId,
        flags: MessageFlags,
        keywords: &[String],
        internal_date: UnixTime,
        size: u64,
    ) -> Result<Option<Uid>, StoreError> {
        let take_uid = "UPDATE mailboxes SET uidnext = uidnext + 1, used_bytes = used_bytes + $2, \
             highestmodseq = highestmodseq + 1 WHERE id = $1 RETURNING uidnext - 1, highestmodseq";
        let insert = "INSERT INTO mailbox_messages \
             (mailbox_id, uid, body_id, flags, keywords, internal_date, size, modseq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        let uid: Option<i64> = on_backend!(self, c => {
            let taken: Option<(i64, i64)> = sqlx::query_as(take_uid)
                .bind(mailbox.0)
                .bind(size as i64)
                .fetch_optional(&mut *c)
                .await?;
            if let Some((uid, modseq)) = taken {
                sqlx::query(insert)
                    .bind(mailbox.0)
                    .bind(uid)
                    .bind(body.0)
                    .bind(i64::from(flags.0))
                    .bind(keywords.join(" "))
                    .bind(internal_date.0)
                    .bind(size as i64)
                    .bind(modseq)
                    .execute(&mut *c)
                    .await?;
            }
            Ok::<_, StoreError>(taken.map(|(uid, _)| uid))
        })?;
        if uid.is_some() {
            self.touch(mailbox);
        }
        uid.map(|u| {
            u32::try_from(u)
                .map(Uid)
                .map_err(|_| StoreError::Corrupt("UID space exhausted".into()))
        })
        .transpose()
    }

    /// The messages in a mailbox, by UID.
    pub async fn messages_in(
        &mut self,
        mailbox: MailboxId,
    ) -> Result<Vec<MailboxMessage>, StoreError> {
        match self.raw() {
            Raw::Sqlite(c) => sqlite_messages_in(c, mailbox).await,
            Raw::Postgres(c) => postgres_messages_in(c, mailbox).await,
        }
    }

    /// The messages in a mailbox that changed (or arrived) after mod-sequence `since`, by UID.
    pub async fn messages_changed_since(
        &mut self,
        mailbox: MailboxId,
        since: u64,
    ) -> Result<Vec<MailboxMessage>, StoreError> {
        let sql = "SELECT mailbox_id, uid, body_id, flags, keywords, internal_date, size, modseq \
             FROM mailbox_messages WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid";
        let rows: Vec<MessageRow> = on_backend!(self, c => sqlx::query_as(sql).bind(mailbox.0).bind(since as i64).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(MailboxMessage::from).collect())
    }

    /// Messages by UID, locked until this transaction ends (on PostgreSQL; SQLite's one
    /// writer holds the whole database), so a flag change reads what it then overwrites.
    pub async fn messages_for_update(
        &mut self,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<MailboxMessage>, StoreError> {
        let lock = match self.raw() {
            Raw::Sqlite(_) => "",
            Raw::Postgres(_) => " FOR UPDATE",
        };
        let mut found = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(500) {
            let rows: Vec<MessageRow> = on_backend!(self, c => {
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT mailbox_id, uid, body_id, flags, keywords, internal_date, size, modseq \
                     FROM mailbox_messages WHERE mailbox_id = ",
                );
                query.push_bind(mailbox.0);
                query.push(" AND uid IN (");
                let mut list = query.separated(", ");
                for uid in chunk {
                    list.push_bind(i64::from(uid.0));
                }
                query.push(") ORDER BY uid");
                query.push(lock);
                query.build_query_as().fetch_all(&mut *c).await
            })?;
            found.extend(rows.into_iter().map(MailboxMessage::from));
        }
        Ok(found)
    }

    /// The UIDs in a mailbox, ascending. A session reads them all to find what another
    /// expunged, so they come as arrays rather than a row each: on SQLite
    /// [`MESSAGES_PER_ARRAY`] to a statement ([`sqlite_in_arrays`]), on PostgreSQL all in one.
    pub async fn uids_in(&mut self, mailbox: MailboxId) -> Result<Vec<Uid>, StoreError> {
        let uids = match self.raw() {
            Raw::Sqlite(c) => {
                let sql = "SELECT json_group_array(uid) FROM (SELECT uid FROM mailbox_messages \
                           WHERE mailbox_id = $1 AND uid > $2 ORDER BY uid LIMIT $3)";
                sqlite_in_arrays(c, sql, mailbox, |uid: &i64| *uid, |uid| uid).await?
            }
            Raw::Postgres(c) => {
                let sql = "SELECT array_agg(uid) FROM mailbox_messages WHERE mailbox_id = $1";
                let uids: Option<Vec<i64>> =
                    sqlx::query_scalar(sql).bind(mailbox.0).fetch_one(c).await?;
                let mut uids = uids.unwrap_or_default();
                // An aggregate's input order is the engine's choice, not a promise.
                uids.sort_unstable();
                uids
            }
        };
        Ok(uids.into_iter().map(|u| Uid(u as u32)).collect())
    }

    /// Sets a message's flags and keywords under mod-sequence `modseq` (from
    /// [`Conn::raise_modseq`]); returns whether the message exists.
    pub async fn set_message_flags(
        &mut self,
        mailbox: MailboxId,
        uid: Uid,
        flags: MessageFlags,
        keywords: &[String],
        modseq: u64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE mailbox_messages SET flags = $1, keywords = $2, modseq = $5 \
             WHERE mailbox_id = $3 AND uid = $4";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(i64::from(flags.0))
            .bind(keywords.join(" "))
            .bind(mailbox.0)
            .bind(i64::from(uid.0))
            .bind(modseq as i64)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        self.touch(mailbox);
        Ok(n > 0)
    }

    /// Raises a mailbox's change counter and returns the new value, the mod-sequence of the
    /// change this transaction makes; `None` if the mailbox does not exist.
    pub async fn raise_modseq(&mut self, mailbox: MailboxId) -> Result<Option<u64>, StoreError> {
        let sql = "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = $1 \
             RETURNING highestmodseq";
        let modseq: Option<i64> = on_backend!(self, c => sqlx::query_scalar(sql).bind(mailbox.0).fetch_optional(&mut *c).await)?;
        self.touch(mailbox);
        Ok(modseq.map(|m| m as u64))
    }

    /// Removes one message, takes its bytes off the mailbox's usage, and returns the body it
    /// held (the caller releases it).
    pub async fn delete_message(
        &mut self,
        mailbox: MailboxId,
        uid: Uid,
    ) -> Result<Option<BodyId>, StoreError> {
        let delete = "DELETE FROM mailbox_messages WHERE mailbox_id = $1 AND uid = $2 \
             RETURNING body_id, size";
        let release = "UPDATE mailboxes SET used_bytes = used_bytes - $1, \
             highestmodseq = highestmodseq + 1 WHERE id = $2";
        let body: Option<i64> = on_backend!(self, c => {
            let row: Option<(i64, i64)> = sqlx::query_as(delete)
                .bind(mailbox.0)
                .bind(i64::from(uid.0))
                .fetch_optional(&mut *c)
                .await?;
            if let Some((_, size)) = row {
                sqlx::query(release).bind(size).bind(mailbox.0).execute(&mut *c).await?;
            }
            Ok::<_, StoreError>(row.map(|(body, _)| body))
        })?;
        if body.is_some() {
            self.touch(mailbox);
        }
        Ok(body.map(BodyId))
    }
}
