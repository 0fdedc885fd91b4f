//! SQL for delivering accepted mail: taking UIDs for many inboxes at once, inserting their
//! message rows in multi-row statements, quota usage, and the per-agency submission counts.
//! A circular to thousands of officials costs a few statements per few hundred recipients,
//! all in the caller's one transaction.

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{
    AgencyId, BodyId, MailboxId, MailboxRole, MessageFlags, OfficialId, Signing, Uid,
};

/// Recipients per statement: well under SQLite's bound-parameter limit with six per row.
const BATCH_ROWS: usize = 500;

impl Conn {
    /// Adds one message (`body`, `size` bytes) to the mailbox of role `folder` (INBOX, or
    /// Junk for quarantined mail) of each of `officials`, taking each mailbox's next UID and
    /// counting the bytes against its usage. Officials without such a mailbox are skipped;
    /// returns who got a copy and where it landed.
    pub async fn deliver_to_folders(
        &mut self,
        body: BodyId,
        officials: &[OfficialId],
        folder: MailboxRole,
        flags: MessageFlags,
        size: u64,
        now: UnixTime,
    ) -> Result<Vec<(OfficialId, MailboxId, Uid)>, StoreError> {
        let size = i64::try_from(size).map_err(|_| StoreError::Corrupt("message size".into()))?;
        let mut landed = Vec::with_capacity(officials.len());
        for chunk in officials.chunks(BATCH_ROWS) {
            let taken: Vec<(i64, i64, i64, i64)> = on_backend!(self, c => {
                let mut take = sqlx::QueryBuilder::new(
                    "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1, \
                     used_bytes = used_bytes + ",
                );
                take.push_bind(size);
                take.push(" WHERE role = ");
                take.push_bind(folder.as_str());
                take.push(" AND official_id IN (");
                let mut ids = take.separated(", ");
                for official in chunk {
                    ids.push_bind(official.0);
                }
                take.push(") RETURNING official_id, id, uidnext - 1, highestmodseq");
                take.build_query_as().fetch_all(&mut *c).await
            })?;
            if taken.is_empty() {
                continue;
            }
            on_backend!(self, c => {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO mailbox_messages \
                     (mailbox_id, uid, body_id, flags, internal_date, size, modseq) ",
                );
                insert.push_values(&taken, |mut row, (_, mailbox, uid, modseq)| {
                    row.push_bind(*mailbox)
                        .push_bind(*uid)
                        .push_bind(body.0)
                        .push_bind(i64::from(flags.0))
                        .push_bind(now.0)
                        .push_bind(size)
                        .push_bind(*modseq);
                });
                insert.build().execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
            for (official, mailbox, uid, _) in taken {
                let uid = u32::try_from(uid)
                    .map_err(|_| StoreError::Corrupt("UID space exhausted".into()))?;
                self.touch(MailboxId(mailbox));
                landed.push((OfficialId(official), MailboxId(mailbox), Uid(uid)));
            }
        }
        Ok(landed)
    }

    /// Bytes held in all of an official's mailboxes.
    pub async fn mail_usage(&mut self, official: OfficialId) -> Result<i64, StoreError> {
        let sql = "SELECT CAST(COALESCE(SUM(used_bytes), 0) AS BIGINT) FROM mailboxes WHERE official_id = $1";
        let used: i64 = on_backend!(self, c => sqlx::query_scalar(sql).bind(official.0).fetch_one(&mut *c).await)?;
        Ok(used)
    }

    /// Counts one submitted message for `agency` on `day` (YYYY-MM-DD), by how it was signed.
    pub async fn count_submission(
        &mut self,
        agency: AgencyId,
        day: &str,
        signing: Signing,
    ) -> Result<(), StoreError> {
        let (signed, verified) = match signing {
            Signing::Unsigned => (0_i64, 0_i64),
            Signing::Unverified => (1, 0),
            Signing::Verified => (1, 1),
        };
        let sql = "INSERT INTO submission_counts (agency_id, day, sent, signed, verified) \
             VALUES ($1, $2, 1, $3, $4) \
             ON CONFLICT (agency_id, day) DO UPDATE SET sent = submission_counts.sent + 1, \
             signed = submission_counts.signed + excluded.signed, \
             verified = submission_counts.verified + excluded.verified";
        on_backend!(self, c => sqlx::query(sql)
            .bind(agency.0)
            .bind(day)
            .bind(signed)
            .bind(verified)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Notes that `official` was active on `day` (YYYY-MM-DD); once per day is kept.
    pub async fn record_activity(
        &mut self,
        official: OfficialId,
        day: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO activity_days (official_id, day) VALUES ($1, $2) \
             ON CONFLICT (official_id, day) DO NOTHING";
        on_backend!(self, c => sqlx::query(sql)
            .bind(official.0)
            .bind(day)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Submitted, signed and verified-signed counts of one agency on one day.
    pub async fn submission_count(
        &mut self,
        agency: AgencyId,
        day: &str,
    ) -> Result<(i64, i64, i64), StoreError> {
        let sql = "SELECT sent, signed, verified FROM submission_counts WHERE agency_id = $1 AND day = $2";
        let row: Option<(i64, i64, i64)> = on_backend!(self, c => sqlx::query_as(sql).bind(agency.0).bind(day).fetch_optional(&mut *c).await)?;
        Ok(row.unwrap_or((0, 0, 0)))
    }
}
