//! SQL for the outbound queue. Claims take a lease in one statement; on PostgreSQL the
//! candidate rows are locked with `FOR UPDATE SKIP LOCKED`, so nodes sharing the database
//! never claim the same entry. SQLite has one writer, which gives the same guarantee.

use sqlx::FromRow;

use super::{on_backend, Conn, Raw, StoreError};
use crate::clock::UnixTime;
use crate::mailstore::BodyId;
use crate::queue::{QueueEntry, QueueEntryId};

const COLUMNS: &str =
    "id, body_id, sender, recipient, recipient_domain, next_attempt_at, attempts, \
     last_error, lease_owner, lease_expires_at, created_at";

#[derive(FromRow)]
struct QueueRow {
    id: i64,
    body_id: i64,
    sender: String,
    recipient: String,
    recipient_domain: String,
    next_attempt_at: i64,
    attempts: i64,
    last_error: Option<String>,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
    created_at: i64,
}

impl From<QueueRow> for QueueEntry {
    fn from(r: QueueRow) -> Self {
        QueueEntry {
            id: QueueEntryId(r.id),
            body_id: BodyId(r.body_id),
            sender: r.sender,
            recipient: r.recipient,
            recipient_domain: r.recipient_domain,
            next_attempt_at: UnixTime(r.next_attempt_at),
            attempts: r.attempts.clamp(0, i64::from(u32::MAX)) as u32,
            last_error: r.last_error,
            lease_owner: r.lease_owner,
            lease_expires_at: r.lease_expires_at.map(UnixTime),
            created_at: UnixTime(r.created_at),
        }
    }
}

impl Conn {
    /// Adds one entry, due now. The caller holds a body reference for it.
    pub async fn insert_queue_entry(
        &mut self,
        body: BodyId,
        sender: &str,
        recipient: &str,
        now: UnixTime,
    ) -> Result<QueueEntryId, StoreError> {
        let domain = recipient
            .rsplit_once('@')
            .map_or("", |(_, d)| d)
            .to_ascii_lowercase();
        let sql = "INSERT INTO queue_entries (body_id, sender, recipient, recipient_domain, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id";
        let id: i64 = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(body.0)
            .bind(sender)
            .bind(recipient)
            .bind(&domain)
            .bind(now.0)
            .fetch_one(&mut *c)
            .await)?;
        Ok(QueueEntryId(id))
    }

    /// Leases up to `limit` due, unleased (or lease-expired) entries to `owner`.
    pub async fn claim_queue_entries(
        &mut self,
        owner: &str,
        now: UnixTime,
        lease_until: UnixTime,
        limit: u32,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let candidates = "SELECT id FROM queue_entries WHERE next_attempt_at <= $3 \
             AND (lease_expires_at IS NULL OR lease_expires_at <= $3) ORDER BY next_attempt_at, id LIMIT $4";
        let lock = match self.raw() {
            Raw::Sqlite(_) => "",
            Raw::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE queue_entries SET lease_owner = $1, lease_expires_at = $2 \
             WHERE id IN ({candidates}{lock}) RETURNING {COLUMNS}"
        );
        let mut rows: Vec<QueueRow> = on_backend!(self, c => sqlx::query_as(&sql)
            .bind(owner)
            .bind(lease_until.0)
            .bind(now.0)
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await)?;
        rows.sort_by_key(|r| (r.next_attempt_at, r.id));
        Ok(rows.into_iter().map(QueueEntry::from).collect())
    }

    /// Deletes an entry; returns the body it held.
    pub async fn delete_queue_entry(
        &mut self,
        id: QueueEntryId,
    ) -> Result<Option<BodyId>, StoreError> {
        let sql = "DELETE FROM queue_entries WHERE id = $1 RETURNING body_id";
        let body: Option<i64> = on_backend!(self, c => sqlx::query_scalar(sql).bind(id.0).fetch_optional(&mut *c).await)?;
        Ok(body.map(BodyId))
    }

    /// Records a failed attempt, sets the next one, and drops the lease.
    pub async fn reschedule_queue_entry(
        &mut self,
        id: QueueEntryId,
        next_attempt: UnixTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE queue_entries SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, \
             lease_owner = NULL, lease_expires_at = NULL WHERE id = $3";
        on_backend!(self, c => sqlx::query(sql)
            .bind(next_attempt.0)
            .bind(error)
            .bind(id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Every queue entry, oldest first.
    pub async fn queue_entries(&mut self) -> Result<Vec<QueueEntry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM queue_entries ORDER BY id");
        let rows: Vec<QueueRow> =
            on_backend!(self, c => sqlx::query_as(&sql).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(QueueEntry::from).collect())
    }
}
