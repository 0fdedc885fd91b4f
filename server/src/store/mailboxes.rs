//! SQL for mailboxes and the messages in them.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::directory::OfficialId;
use crate::mailstore::{
    BodyId, Mailbox, MailboxId, MailboxMessage, MailboxRole, MessageFlags, Uid,
};

const COLUMNS: &str = "id, official_id, name, role, uidvalidity, uidnext, subscribed, created_at";

#[derive(FromRow)]
struct MailboxRow {
    id: i64,
    official_id: i64,
    name: String,
    role: Option<String>,
    uidvalidity: i64,
    uidnext: i64,
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
        }
    }
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
    /// deliveries (also from other nodes) never share one.
    pub async fn append_message(
        &mut self,
        mailbox: MailboxId,
        body: BodyId,
        flags: MessageFlags,
        internal_date: UnixTime,
        size: u64,
    ) -> Result<Option<Uid>, StoreError> {
        let take_uid = "UPDATE mailboxes SET uidnext = uidnext + 1, used_bytes = used_bytes + $2 \
             WHERE id = $1 RETURNING uidnext - 1";
        let insert =
            "INSERT INTO mailbox_messages (mailbox_id, uid, body_id, flags, internal_date, size) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        let uid: Option<i64> = on_backend!(self, c => {
            let uid: Option<i64> = sqlx::query_scalar(take_uid)
                .bind(mailbox.0)
                .bind(size as i64)
                .fetch_optional(&mut *c)
                .await?;
            if let Some(uid) = uid {
                sqlx::query(insert)
                    .bind(mailbox.0)
                    .bind(uid)
                    .bind(body.0)
                    .bind(i64::from(flags.0))
                    .bind(internal_date.0)
                    .bind(size as i64)
                    .execute(&mut *c)
                    .await?;
            }
            Ok::<_, StoreError>(uid)
        })?;
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
        let sql = "SELECT mailbox_id, uid, body_id, flags, keywords, internal_date, size \
             FROM mailbox_messages WHERE mailbox_id = $1 ORDER BY uid";
        let rows: Vec<MessageRow> =
            on_backend!(self, c => sqlx::query_as(sql).bind(mailbox.0).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(MailboxMessage::from).collect())
    }

    /// Sets a message's flags and keywords; returns whether the message exists.
    pub async fn set_message_flags(
        &mut self,
        mailbox: MailboxId,
        uid: Uid,
        flags: MessageFlags,
        keywords: &[String],
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE mailbox_messages SET flags = $1, keywords = $2 WHERE mailbox_id = $3 AND uid = $4";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(i64::from(flags.0))
            .bind(keywords.join(" "))
            .bind(mailbox.0)
            .bind(i64::from(uid.0))
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
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
        let release = "UPDATE mailboxes SET used_bytes = used_bytes - $1 WHERE id = $2";
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
        Ok(body.map(BodyId))
    }
}
