//! SQL for what mail clients do to their mailboxes: create, rename, delete and subscribe to
//! folders, count what is in them, copy messages between them, and read and keep what is
//! worked out from a body (its structure and its search text).

use super::import_batch::{placeholders, ROWS_PER_STATEMENT};
use super::{on_backend, Conn, Raw, StoreError};
use crate::clock::UnixTime;
use crate::model::{BodyId, Mailbox, MailboxId, MailboxMessage, OfficialId, Uid};

/// Messages in a mailbox and how many of them are unseen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxCounts {
    pub messages: u64,
    pub unseen: u64,
}

impl Conn {
    /// One of an official's mailboxes, by its exact name.
    pub async fn mailbox_named(
        &mut self,
        official: OfficialId,
        name: &str,
    ) -> Result<Option<Mailbox>, StoreError> {
        Ok(self
            .mailboxes_of(official)
            .await?
            .into_iter()
            .find(|m| m.name == name))
    }

    /// A mailbox by id.
    pub async fn mailbox(&mut self, mailbox: MailboxId) -> Result<Option<Mailbox>, StoreError> {
        let sql = format!(
            "SELECT {} FROM mailboxes WHERE id = $1",
            super::mailboxes::COLUMNS
        );
        let row: Option<super::mailboxes::MailboxRow> = on_backend!(self, c => sqlx::query_as(&sql).bind(mailbox.0).fetch_optional(&mut *c).await)?;
        row.map(Mailbox::try_from).transpose()
    }

    /// Creates a mailbox without a special role.
    pub async fn create_mailbox(
        &mut self,
        official: OfficialId,
        name: &str,
        uidvalidity: u32,
        now: UnixTime,
    ) -> Result<MailboxId, StoreError> {
        let sql = "INSERT INTO mailboxes (official_id, name, role, uidvalidity, uidnext, subscribed, created_at) \
             VALUES ($1, $2, NULL, $3, 1, $4, $5) RETURNING id";
        let id: i64 = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(official.0)
            .bind(name)
            .bind(i64::from(uidvalidity))
            .bind(true)
            .bind(now.0)
            .fetch_one(&mut *c)
            .await)?;
        self.refolder(official);
        Ok(MailboxId(id))
    }

    /// Takes the next UIDVALIDITY for one of an official's new mailboxes: `at_least`, or one
    /// more than the last one given, whichever is larger. Taken in one statement, so two
    /// mailboxes (also on two nodes) never share one.
    pub async fn take_uidvalidity(
        &mut self,
        official: OfficialId,
        at_least: u32,
    ) -> Result<u32, StoreError> {
        let sql = "UPDATE officials SET last_uidvalidity = CASE \
             WHEN last_uidvalidity + 1 > $2 THEN last_uidvalidity + 1 ELSE $2 END \
             WHERE id = $1 RETURNING last_uidvalidity";
        let taken: i64 = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(official.0)
            .bind(i64::from(at_least))
            .fetch_one(&mut *c)
            .await)?;
        u32::try_from(taken).map_err(|_| StoreError::Corrupt("UIDVALIDITY space exhausted".into()))
    }

    /// Deletes a mailbox and the messages in it; returns the bodies they held, each once
    /// per message (the caller releases them).
    pub async fn delete_mailbox(&mut self, mailbox: MailboxId) -> Result<Vec<BodyId>, StoreError> {
        let messages = "DELETE FROM mailbox_messages WHERE mailbox_id = $1 RETURNING body_id";
        let mailbox_row = "DELETE FROM mailboxes WHERE id = $1 RETURNING official_id";
        let (bodies, official): (Vec<i64>, Option<i64>) = on_backend!(self, c => {
            let bodies: Vec<i64> = sqlx::query_scalar(messages).bind(mailbox.0).fetch_all(&mut *c).await?;
            let official = sqlx::query_scalar(mailbox_row).bind(mailbox.0).fetch_optional(&mut *c).await?;
            Ok::<_, StoreError>((bodies, official))
        })?;
        self.touch(mailbox);
        if let Some(official) = official {
            self.refolder(OfficialId(official));
        }
        Ok(bodies.into_iter().map(BodyId).collect())
    }

    /// Gives a mailbox a new name.
    pub async fn rename_mailbox(
        &mut self,
        mailbox: MailboxId,
        name: &str,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE mailboxes SET name = $1 WHERE id = $2 RETURNING official_id";
        let official: Option<i64> = on_backend!(self, c => sqlx::query_scalar(sql).bind(name).bind(mailbox.0).fetch_optional(&mut *c).await)?;
        if let Some(official) = official {
            self.refolder(OfficialId(official));
        }
        Ok(())
    }

    /// Subscribes to a mailbox or unsubscribes from it.
    pub async fn set_subscribed(
        &mut self,
        mailbox: MailboxId,
        subscribed: bool,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE mailboxes SET subscribed = $1 WHERE id = $2";
        on_backend!(self, c => sqlx::query(sql).bind(subscribed).bind(mailbox.0).execute(&mut *c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// How many messages a mailbox holds and how many are unseen.
    pub async fn mailbox_counts(
        &mut self,
        mailbox: MailboxId,
    ) -> Result<MailboxCounts, StoreError> {
        let sql = "SELECT CAST(COUNT(*) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN flags % 2 = 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM mailbox_messages WHERE mailbox_id = $1";
        let (messages, unseen): (i64, i64) =
            on_backend!(self, c => sqlx::query_as(sql).bind(mailbox.0).fetch_one(&mut *c).await)?;
        Ok(MailboxCounts {
            messages: messages as u64,
            unseen: unseen as u64,
        })
    }

    /// A mailbox's change counter; `None` if it no longer exists.
    pub async fn highest_modseq(&mut self, mailbox: MailboxId) -> Result<Option<u64>, StoreError> {
        let sql = "SELECT highestmodseq FROM mailboxes WHERE id = $1";
        let modseq: Option<i64> = on_backend!(self, c => sqlx::query_scalar(sql).bind(mailbox.0).fetch_optional(&mut *c).await)?;
        Ok(modseq.map(|m| m as u64))
    }

    /// Copies one message into `to` under a new UID, sharing its body; `None` if `to` is gone.
    pub async fn copy_message(
        &mut self,
        message: &MailboxMessage,
        to: MailboxId,
    ) -> Result<Option<Uid>, StoreError> {
        self.hold_body(message.body_id, 1).await?;
        self.append_message(
            to,
            message.body_id,
            message.flags,
            &message.keywords,
            message.internal_date,
            message.size,
        )
        .await
    }

    /// Adds `holders` references to a stored body.
    pub async fn hold_body(&mut self, body: BodyId, holders: i64) -> Result<(), StoreError> {
        let sql = "UPDATE message_bodies SET refcount = refcount + $1 WHERE id = $2";
        on_backend!(self, c => sqlx::query(sql).bind(holders).bind(body.0).execute(&mut *c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The stored structures of many bodies as JSON arrays of `[body id, structure]` pairs,
    /// one per 500 bodies, as bytes for the caller to check as UTF-8 (see
    /// [`Conn::body_texts`]); bodies without one are left out.
    pub async fn body_shapes(&mut self, bodies: &[BodyId]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.json_pairs(KeptTable::Shapes, bodies, 500).await
    }

    /// The stored search texts of many bodies as JSON arrays of `[body id, text]` pairs, one
    /// per 128 bodies (a text can be long); bodies without one are left out.
    ///
    /// The arrays come as bytes, for the caller to check as UTF-8: a search reads every text
    /// of a mailbox, and checking hundreds of megabytes character by character, as decoding
    /// a `String` does, cost a third of a search.
    pub async fn body_texts(&mut self, bodies: &[BodyId]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.json_pairs(KeptTable::Texts, bodies, 128).await
    }

    /// What `table` keeps of `bodies`, as JSON arrays of `[body id, value]` pairs, one array
    /// per `per_array` bodies.
    async fn json_pairs(
        &mut self,
        table: KeptTable,
        bodies: &[BodyId],
        per_array: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut arrays = Vec::with_capacity(bodies.len().div_ceil(per_array));
        for chunk in bodies.chunks(per_array) {
            let array = match self.raw() {
                Raw::Sqlite(c) => sqlite_pairs(c, table, chunk).await?,
                Raw::Postgres(c) => postgres_pairs(c, table, chunk).await?,
            };
            arrays.extend(array);
        }
        Ok(arrays)
    }

    /// Stores bodies' search texts (JSON), each unless the body has one: when the body is
    /// stored, or after the fact for bodies stored before texts were kept.
    pub async fn set_body_texts(&mut self, texts: &[(BodyId, &str)]) -> Result<(), StoreError> {
        self.keep(KeptTable::Texts, texts).await
    }

    /// Stores bodies' structures (JSON), each unless the body has one: when the body is
    /// stored, or after the fact for bodies stored before structures were kept.
    pub async fn set_body_shapes(&mut self, shapes: &[(BodyId, &str)]) -> Result<(), StoreError> {
        self.keep(KeptTable::Shapes, shapes).await
    }

    /// Writes `rows` into `table`, many to a statement; a body that has a row keeps it.
    async fn keep(&mut self, table: KeptTable, rows: &[(BodyId, &str)]) -> Result<(), StoreError> {
        let (table, column) = table.name_and_column();
        let numbering = self.numbering();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO {table} (body_id, {column}) VALUES {} \
                 ON CONFLICT (body_id) DO NOTHING",
                placeholders(chunk.len(), 2, 1, numbering)
            );
            on_backend!(self, c => {
                let mut query = sqlx::query(&sql);
                for (body, value) in chunk {
                    query = query.bind(body.0).bind(*value);
                }
                query.execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// A body's stored structure (JSON), if it was computed when the body was stored.
    pub async fn body_shape(&mut self, body: BodyId) -> Result<Option<String>, StoreError> {
        let sql = "SELECT shape FROM message_shapes WHERE body_id = $1";
        Ok(
            on_backend!(self, c => sqlx::query_scalar(sql).bind(body.0).fetch_optional(&mut *c).await)?,
        )
    }
}

/// One statement's pairs on SQLite, joined into one array by the database: sqlx hands
/// SQLite's rows one at a time from its worker thread to the async side, and a whole-mailbox
/// FETCH spent more on those hand-offs than on reading. The values are stored JSON, so the
/// database only joins them, and hands the array over as a BLOB, undecoded.
async fn sqlite_pairs(
    c: &mut sqlx::SqliteConnection,
    table: KeptTable,
    chunk: &[BodyId],
) -> Result<Option<Vec<u8>>, StoreError> {
    let (table, column) = table.name_and_column();
    let mut query = sqlx::QueryBuilder::new(format!(
        "SELECT CAST('[' || group_concat('[' || body_id || ',' || {column} || ']', ',') || ']' AS BLOB) \
         FROM {table} WHERE body_id IN ("
    ));
    let mut list = query.separated(", ");
    for body in chunk {
        list.push_bind(body.0);
    }
    query.push(")");
    Ok(query.build_query_scalar().fetch_one(c).await?)
}

/// One statement's pairs on PostgreSQL, a row each, joined here: rows stream over its
/// protocol at no cost per row, where joining them in the database (`string_agg`, then a
/// conversion to bytes) cost PostgreSQL more than reading them (2.3 s of its CPU against
/// 1.0 s for a search through 50,000 texts). Each value is taken as the bytes that came,
/// for the caller to check as UTF-8 once.
async fn postgres_pairs(
    c: &mut sqlx::PgConnection,
    table: KeptTable,
    chunk: &[BodyId],
) -> Result<Option<Vec<u8>>, StoreError> {
    use futures_util::TryStreamExt;
    use sqlx::Row;
    let (table, column) = table.name_and_column();
    let sql = format!("SELECT body_id, {column} FROM {table} WHERE body_id = ANY($1)");
    let ids: Vec<i64> = chunk.iter().map(|b| b.0).collect();
    // Each row is appended as it comes, so a batch is held once, not as rows and array.
    let mut rows = sqlx::query(&sql).bind(ids).fetch(c);
    let mut array = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let id: i64 = row.try_get(0)?;
        let value = row.try_get_raw(1)?;
        let value = value.as_bytes().map_err(sqlx::Error::Decode)?;
        array.push(if array.is_empty() { b'[' } else { b',' });
        array.push(b'[');
        array.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
        array.push(b',');
        array.extend_from_slice(value);
        array.push(b']');
    }
    if array.is_empty() {
        return Ok(None);
    }
    array.push(b']');
    Ok(Some(array))
}

/// A table of what is worked out from each body once and kept beside it, as JSON.
#[derive(Debug, Clone, Copy)]
enum KeptTable {
    /// `message_shapes`: the MIME structure FETCH answers from.
    Shapes,
    /// `message_texts`: the decoded text SEARCH matches.
    Texts,
}

impl KeptTable {
    fn name_and_column(self) -> (&'static str, &'static str) {
        match self {
            KeptTable::Shapes => ("message_shapes", "shape"),
            KeptTable::Texts => ("message_texts", "text"),
        }
    }
}
