//! SQL for what a mailbox migration has copied: per official and source folder the source's
//! UIDVALIDITY, and per copied source message the congvu message it became. The mail store's
//! import path (`mailstore::import`) writes these rows in the same transaction as the
//! messages they describe.

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{BodyHash, MailboxId, MailboxRole, OfficialId, Uid};

/// One folder of one source account, as recorded: its id and the source's UIDVALIDITY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFolderRow {
    pub id: i64,
    pub uidvalidity: u32,
}

/// The congvu message a source message became: mailbox, the mailbox's UIDVALIDITY then, UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopiedMessage {
    pub mailbox_id: MailboxId,
    pub mailbox_uidvalidity: u32,
    pub uid: Uid,
}

type CopiedRow = (i64, i64, i64, i64);

fn copied(row: CopiedRow) -> (u32, CopiedMessage) {
    let (source_uid, mailbox_id, mailbox_uidvalidity, uid) = row;
    (
        source_uid as u32,
        CopiedMessage {
            mailbox_id: MailboxId(mailbox_id),
            mailbox_uidvalidity: mailbox_uidvalidity as u32,
            uid: Uid(uid as u32),
        },
    )
}

impl Conn {
    /// The recorded state of one source folder of `official`, if any.
    pub async fn source_folder(
        &mut self,
        official: OfficialId,
        host: &str,
        user: &str,
        folder: &str,
    ) -> Result<Option<SourceFolderRow>, StoreError> {
        let sql = "SELECT id, uidvalidity FROM migration_folders \
             WHERE official_id = $1 AND source_host = $2 AND source_user = $3 AND source_folder = $4";
        let row: Option<(i64, i64)> = on_backend!(self, c => sqlx::query_as(sql)
            .bind(official.0)
            .bind(host)
            .bind(user)
            .bind(folder)
            .fetch_optional(&mut *c)
            .await)?;
        Ok(row.map(|(id, uidvalidity)| SourceFolderRow {
            id,
            uidvalidity: uidvalidity as u32,
        }))
    }

    /// Records a source folder seen for the first time, or finds the one another run has
    /// just recorded; returns its id.
    pub async fn insert_source_folder(
        &mut self,
        official: OfficialId,
        source: (&str, &str, &str),
        uidvalidity: u32,
        now: UnixTime,
    ) -> Result<i64, StoreError> {
        let (host, user, folder) = source;
        let sql = "INSERT INTO migration_folders \
             (official_id, source_host, source_user, source_folder, uidvalidity, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (official_id, source_host, source_user, source_folder) \
             DO UPDATE SET updated_at = excluded.updated_at RETURNING id";
        Ok(on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(official.0)
            .bind(host)
            .bind(user)
            .bind(folder)
            .bind(i64::from(uidvalidity))
            .bind(now.0)
            .fetch_one(&mut *c)
            .await)?)
    }

    /// Gives a source folder a new UIDVALIDITY and forgets the UIDs recorded under the old
    /// one: they now name other messages, or none (RFC 3501 §2.3.1.1).
    pub async fn reset_source_folder(
        &mut self,
        folder: i64,
        uidvalidity: u32,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let forget = "DELETE FROM migration_messages WHERE folder_id = $1";
        let update = "UPDATE migration_folders SET uidvalidity = $1, updated_at = $2 WHERE id = $3";
        on_backend!(self, c => {
            sqlx::query(forget).bind(folder).execute(&mut *c).await?;
            sqlx::query(update)
                .bind(i64::from(uidvalidity))
                .bind(now.0)
                .bind(folder)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Every source UID copied from a source folder, with the message each became.
    pub async fn copied_source_uids(
        &mut self,
        folder: i64,
    ) -> Result<Vec<(u32, CopiedMessage)>, StoreError> {
        let sql =
            "SELECT source_uid, mailbox_id, mailbox_uidvalidity, uid FROM migration_messages \
             WHERE folder_id = $1 ORDER BY source_uid";
        let rows: Vec<CopiedRow> =
            on_backend!(self, c => sqlx::query_as(sql).bind(folder).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(copied).collect())
    }

    /// The message one source UID became, if it was copied.
    pub async fn copied_source_uid(
        &mut self,
        folder: i64,
        source_uid: u32,
    ) -> Result<Option<CopiedMessage>, StoreError> {
        let sql =
            "SELECT source_uid, mailbox_id, mailbox_uidvalidity, uid FROM migration_messages \
             WHERE folder_id = $1 AND source_uid = $2";
        let row: Option<CopiedRow> = on_backend!(self, c => sqlx::query_as(sql)
            .bind(folder)
            .bind(i64::from(source_uid))
            .fetch_optional(&mut *c)
            .await)?;
        Ok(row.map(|r| copied(r).1))
    }

    /// Records that `source_uid` of a source folder became `message`.
    pub async fn record_source_uid(
        &mut self,
        folder: i64,
        source_uid: u32,
        message: CopiedMessage,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO migration_messages \
             (folder_id, source_uid, mailbox_id, mailbox_uidvalidity, uid) VALUES ($1, $2, $3, $4, $5)";
        on_backend!(self, c => sqlx::query(sql)
            .bind(folder)
            .bind(i64::from(source_uid))
            .bind(message.mailbox_id.0)
            .bind(i64::from(message.mailbox_uidvalidity))
            .bind(i64::from(message.uid.0))
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The first message in `mailbox` whose body has `hash`. With `unclaimed_by` (a source
    /// folder and the mailbox's UIDVALIDITY), only one that no other message of that source
    /// folder became, so that two identical source messages stay two messages.
    pub async fn message_with_body(
        &mut self,
        mailbox: MailboxId,
        hash: &BodyHash,
        unclaimed_by: Option<(i64, u32)>,
    ) -> Result<Option<Uid>, StoreError> {
        // `+m.mailbox_id`: the body by its hash, then its messages by body. Left to itself
        // SQLite walks the mailbox's messages in UID order for the first with that body,
        // every message of a large mailbox for each one imported again.
        let any = "SELECT m.uid FROM mailbox_messages m JOIN message_bodies b ON b.id = m.body_id \
             WHERE +m.mailbox_id = $1 AND b.sha256 = $2 ORDER BY m.uid LIMIT 1";
        let free =
            "SELECT m.uid FROM mailbox_messages m JOIN message_bodies b ON b.id = m.body_id \
             WHERE +m.mailbox_id = $1 AND b.sha256 = $2 AND NOT EXISTS (\
             SELECT 1 FROM migration_messages r WHERE r.mailbox_id = m.mailbox_id \
             AND r.uid = m.uid AND r.folder_id = $3 AND r.mailbox_uidvalidity = $4) \
             ORDER BY m.uid LIMIT 1";
        let uid: Option<i64> = match unclaimed_by {
            None => on_backend!(self, c => sqlx::query_scalar(any)
                .bind(mailbox.0)
                .bind(&hash.0[..])
                .fetch_optional(&mut *c)
                .await)?,
            Some((folder, uidvalidity)) => on_backend!(self, c => sqlx::query_scalar(free)
                .bind(mailbox.0)
                .bind(&hash.0[..])
                .bind(folder)
                .bind(i64::from(uidvalidity))
                .fetch_optional(&mut *c)
                .await)?,
        };
        Ok(uid.map(|u| Uid(u as u32)))
    }

    /// Gives a mailbox without a special role the role `role`; returns whether it took it
    /// (false when the mailbox already has a role).
    pub async fn give_mailbox_role(
        &mut self,
        mailbox: MailboxId,
        role: MailboxRole,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE mailboxes SET role = $1 WHERE id = $2 AND role IS NULL";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(role.as_str())
            .bind(mailbox.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
