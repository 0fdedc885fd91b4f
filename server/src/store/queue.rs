//! SQL for the outbound queue. Claims take a lease in one statement; on PostgreSQL the
//! candidate rows are locked with `FOR UPDATE SKIP LOCKED`, so nodes sharing the database
//! never claim the same entry. SQLite has one writer, which gives the same guarantee.
//!
//! What a worker does to entries it claimed (finish, defer, release) only touches rows whose
//! lease it still holds: a node whose lease ran out must not undo the work of the node that
//! took the entries over.

use sqlx::FromRow;

use super::{on_backend, Conn, Raw, StoreError};
use crate::clock::UnixTime;
use crate::model::{BodyId, MailboxId, QueueEntry, QueueEntryId, QueueSelector};

const COLUMNS: &str =
    "id, body_id, sender, recipient, recipient_domain, next_attempt_at, attempts, \
     last_error, lease_owner, lease_expires_at, created_at, held, delay_notice_at, \
     last_attempt_at, last_remote, queue_id";

/// Queue entries per multi-row statement: seven bound values a row stays well under SQLite's
/// limit on bound parameters.
const BATCH_ROWS: usize = 500;

/// Selects the entries a [`QueueSelector`] names; `$1` is the id, `$2` the domain (each NULL
/// when the selector does not restrict by it).
const SELECTED: &str = "($1 IS NULL OR id = $1) AND ($2 IS NULL OR recipient_domain = $2)";

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
    held: bool,
    delay_notice_at: Option<i64>,
    last_attempt_at: Option<i64>,
    last_remote: Option<String>,
    queue_id: Option<String>,
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
            held: r.held,
            delay_notice_at: r.delay_notice_at.map(UnixTime),
            last_attempt_at: r.last_attempt_at.map(UnixTime),
            last_remote: r.last_remote,
            queue_id: r.queue_id.unwrap_or_default(),
        }
    }
}

/// The domain of `recipient`, lowercase, as stored in `recipient_domain`.
fn domain_of(recipient: &str) -> String {
    recipient
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .to_ascii_lowercase()
}

/// The `$1`, `$2` values for [`SELECTED`].
fn selector_binds(selector: &QueueSelector) -> (Option<i64>, Option<String>) {
    match selector {
        QueueSelector::Entry(id) => (Some(id.0), None),
        QueueSelector::Domain(domain) => (None, Some(domain.to_ascii_lowercase())),
        QueueSelector::All => (None, None),
    }
}

impl Conn {
    /// Adds one entry of the message accepted as `queue_id`, due now. The caller holds a body
    /// reference for it.
    pub async fn insert_queue_entry(
        &mut self,
        body: BodyId,
        queue_id: &str,
        sender: &str,
        recipient: &str,
        now: UnixTime,
    ) -> Result<QueueEntryId, StoreError> {
        let domain = domain_of(recipient);
        let sql = "INSERT INTO queue_entries (body_id, sender, recipient, recipient_domain, next_attempt_at, created_at, queue_id) \
             VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id";
        let id: i64 = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(body.0)
            .bind(sender)
            .bind(recipient)
            .bind(&domain)
            .bind(now.0)
            .bind(queue_id)
            .fetch_one(&mut *c)
            .await)?;
        Ok(QueueEntryId(id))
    }

    /// Adds one entry per recipient of the message accepted as `queue_id`, all due now, in
    /// multi-row statements within the caller's transaction. The caller has already added one
    /// body reference per recipient (`put_body(.., holders = recipients.len(), ..)`).
    pub async fn insert_queue_entries(
        &mut self,
        body: BodyId,
        queue_id: &str,
        sender: &str,
        recipients: &[String],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        for chunk in recipients.chunks(BATCH_ROWS) {
            let rows: Vec<(&str, String)> =
                chunk.iter().map(|r| (r.as_str(), domain_of(r))).collect();
            on_backend!(self, c => {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO queue_entries (body_id, sender, recipient, recipient_domain, next_attempt_at, created_at, queue_id) ",
                );
                insert.push_values(&rows, |mut row, (recipient, domain)| {
                    row.push_bind(body.0)
                        .push_bind(sender)
                        .push_bind(*recipient)
                        .push_bind(domain.as_str())
                        .push_bind(now.0)
                        .push_bind(now.0)
                        .push_bind(queue_id);
                });
                insert.build().execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Leases up to `limit` due, unheld, unleased (or lease-expired) entries to `owner`.
    pub async fn claim_queue_entries(
        &mut self,
        owner: &str,
        now: UnixTime,
        lease_until: UnixTime,
        limit: u32,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let candidates = "SELECT id FROM queue_entries WHERE next_attempt_at <= $3 AND NOT held \
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

    /// Extends every lease `owner` holds to `lease_until`; returns how many entries it holds.
    pub async fn renew_queue_leases(
        &mut self,
        owner: &str,
        lease_until: UnixTime,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE queue_entries SET lease_expires_at = $1 WHERE lease_owner = $2";
        Ok(on_backend!(self, c => sqlx::query(sql)
            .bind(lease_until.0)
            .bind(owner)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Gives up `owner`'s leases on `ids` without recording an attempt: the entries are due
    /// again at once for any node.
    pub async fn release_queue_leases(
        &mut self,
        ids: &[QueueEntryId],
        owner: &str,
    ) -> Result<u64, StoreError> {
        let mut released = 0;
        for chunk in ids.chunks(BATCH_ROWS) {
            released += on_backend!(self, c => {
                let mut update = sqlx::QueryBuilder::new(
                    "UPDATE queue_entries SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ",
                );
                update.push_bind(owner).push(" AND id IN (");
                let mut list = update.separated(", ");
                for id in chunk {
                    list.push_bind(id.0);
                }
                update.push(")");
                update.build().execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(released)
    }

    /// Deletes the entries among `ids` that `owner` still holds; returns the body each
    /// deleted entry held (one element per entry), for the caller to release.
    pub async fn delete_leased_queue_entries(
        &mut self,
        ids: &[QueueEntryId],
        owner: &str,
    ) -> Result<Vec<BodyId>, StoreError> {
        let mut bodies = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_ROWS) {
            let deleted: Vec<i64> = on_backend!(self, c => {
                let mut delete = sqlx::QueryBuilder::new("DELETE FROM queue_entries WHERE lease_owner = ");
                delete.push_bind(owner).push(" AND id IN (");
                let mut list = delete.separated(", ");
                for id in chunk {
                    list.push_bind(id.0);
                }
                delete.push(") RETURNING body_id");
                delete.build_query_scalar().fetch_all(&mut *c).await
            })?;
            bodies.extend(deleted.into_iter().map(BodyId));
        }
        Ok(bodies)
    }

    /// Records a failed attempt on an entry `owner` holds: counts it, keeps the error and the
    /// server that gave it, sets the next attempt, and drops the lease. Returns whether the
    /// entry was still held by `owner`.
    #[allow(clippy::too_many_arguments)]
    pub async fn defer_leased_queue_entry(
        &mut self,
        id: QueueEntryId,
        owner: &str,
        next_attempt: UnixTime,
        error: &str,
        remote: Option<&str>,
        delay_notice_at: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE queue_entries SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, \
             last_remote = $3, last_attempt_at = $4, delay_notice_at = COALESCE(delay_notice_at, $5), \
             lease_owner = NULL, lease_expires_at = NULL WHERE id = $6 AND lease_owner = $7";
        let updated = on_backend!(self, c => sqlx::query(sql)
            .bind(next_attempt.0)
            .bind(error)
            .bind(remote)
            .bind(now.0)
            .bind(delay_notice_at.map(|t| t.0))
            .bind(id.0)
            .bind(owner)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(updated == 1)
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
        self.selected_queue_entries(&QueueSelector::All).await
    }

    /// The entries `selector` names, oldest first.
    pub async fn selected_queue_entries(
        &mut self,
        selector: &QueueSelector,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let (id, domain) = selector_binds(selector);
        let sql = format!("SELECT {COLUMNS} FROM queue_entries WHERE {SELECTED} ORDER BY id");
        let rows: Vec<QueueRow> = on_backend!(self, c => sqlx::query_as(&sql)
            .bind(id)
            .bind(domain.as_deref())
            .fetch_all(&mut *c)
            .await)?;
        Ok(rows.into_iter().map(QueueEntry::from).collect())
    }

    /// Sets or clears the hold on the entries `selector` names; returns them as changed.
    pub async fn set_queue_hold(
        &mut self,
        selector: &QueueSelector,
        held: bool,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let (id, domain) = selector_binds(selector);
        let sql =
            format!("UPDATE queue_entries SET held = $3 WHERE {SELECTED} RETURNING {COLUMNS}");
        let mut rows: Vec<QueueRow> = on_backend!(self, c => sqlx::query_as(&sql)
            .bind(id)
            .bind(domain.as_deref())
            .bind(held)
            .fetch_all(&mut *c)
            .await)?;
        rows.sort_by_key(|r| r.id);
        Ok(rows.into_iter().map(QueueEntry::from).collect())
    }

    /// Makes the entries `selector` names due at `now`; returns them as changed.
    pub async fn make_queue_entries_due(
        &mut self,
        selector: &QueueSelector,
        now: UnixTime,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let (id, domain) = selector_binds(selector);
        let sql = format!(
            "UPDATE queue_entries SET next_attempt_at = $3 WHERE {SELECTED} RETURNING {COLUMNS}"
        );
        let mut rows: Vec<QueueRow> = on_backend!(self, c => sqlx::query_as(&sql)
            .bind(id)
            .bind(domain.as_deref())
            .bind(now.0)
            .fetch_all(&mut *c)
            .await)?;
        rows.sort_by_key(|r| r.id);
        Ok(rows.into_iter().map(QueueEntry::from).collect())
    }

    /// Deletes the entries `selector` names; returns them as they were. The caller releases
    /// their bodies.
    pub async fn delete_selected_queue_entries(
        &mut self,
        selector: &QueueSelector,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let (id, domain) = selector_binds(selector);
        let sql = format!("DELETE FROM queue_entries WHERE {SELECTED} RETURNING {COLUMNS}");
        let mut rows: Vec<QueueRow> = on_backend!(self, c => sqlx::query_as(&sql)
            .bind(id)
            .bind(domain.as_deref())
            .fetch_all(&mut *c)
            .await)?;
        rows.sort_by_key(|r| r.id);
        Ok(rows.into_iter().map(QueueEntry::from).collect())
    }

    /// How many entries the queue holds.
    pub async fn queue_size(&mut self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM queue_entries";
        Ok(on_backend!(self, c => sqlx::query_scalar(sql).fetch_one(&mut *c).await)?)
    }

    /// How many entries the queue holds and when the oldest was queued (`None` when the
    /// queue is empty), in one pass over the table.
    pub async fn queue_summary(&mut self) -> Result<(i64, Option<UnixTime>), StoreError> {
        let sql = "SELECT COUNT(*), MIN(created_at) FROM queue_entries";
        let (count, oldest): (i64, Option<i64>) =
            on_backend!(self, c => sqlx::query_as(sql).fetch_one(&mut *c).await)?;
        Ok((count, oldest.map(UnixTime)))
    }

    /// The INBOX of the official who receives mail at `address` (lowercase), if the address
    /// belongs to an official: where a delivery status notification for a local sender goes.
    pub async fn official_inbox_at(
        &mut self,
        address: &str,
    ) -> Result<Option<MailboxId>, StoreError> {
        let sql = "SELECT m.id FROM addresses a JOIN mailboxes m ON m.official_id = a.official_id \
             WHERE a.address = $1 AND m.role = 'inbox'";
        let id: Option<i64> = on_backend!(self, c => sqlx::query_scalar(sql).bind(address).fetch_optional(&mut *c).await)?;
        Ok(id.map(MailboxId))
    }
}
