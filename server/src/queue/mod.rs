//! The outbound queue: messages waiting for delivery to other domains. Each entry is one
//! recipient of one stored body; a worker claims due entries under a lease, so that an entry
//! whose worker died is taken up again when the lease expires, by this node or another.

use crate::clock::{Clock, UnixTime};
use crate::mailstore::{BodyHash, BodyId};
use crate::store::{Store, StoreError};

/// A queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueEntryId(pub i64);

/// One recipient of one message, waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: QueueEntryId,
    pub body_id: BodyId,
    /// Envelope sender; empty for bounces (`MAIL FROM:<>`).
    pub sender: String,
    pub recipient: String,
    pub recipient_domain: String,
    pub next_attempt_at: UnixTime,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<UnixTime>,
    pub created_at: UnixTime,
}

/// A lease on claimed entries: who holds it and until when.
#[derive(Debug, Clone)]
pub struct Lease {
    pub owner: String,
    pub seconds: i64,
}

/// The outbound queue over the store.
#[derive(Debug, Clone)]
pub struct Queue {
    store: Store,
    clock: Clock,
}

impl Queue {
    /// A queue over `store`.
    pub fn new(store: Store, clock: Clock) -> Queue {
        Queue { store, clock }
    }

    /// Queues `message` for each recipient, storing the body once; durable when this returns.
    pub async fn enqueue(
        &self,
        sender: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Vec<QueueEntryId>, StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let body = tx
            .put_body(
                &BodyHash::of(message),
                message,
                recipients.len() as i64,
                now,
            )
            .await?;
        let mut ids = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            ids.push(tx.insert_queue_entry(body, sender, recipient, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Claims up to `limit` due entries that nobody holds (or whose lease expired).
    pub async fn claim_due(
        &self,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let claimed = tx
            .claim_queue_entries(&lease.owner, now, now.plus(lease.seconds), limit)
            .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Removes a delivered (or bounced) entry and releases its body.
    pub async fn finish(&self, id: QueueEntryId) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        if let Some(body) = tx.delete_queue_entry(id).await? {
            tx.release_body(body, 1).await?;
        }
        tx.commit().await
    }

    /// Records a failed attempt and when to try again; the lease is given up.
    pub async fn retry_later(
        &self,
        id: QueueEntryId,
        at: UnixTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        tx.reschedule_queue_entry(id, at, error).await?;
        tx.commit().await
    }

    /// Every entry, oldest first (for the admin CLI and tests).
    pub async fn entries(&self) -> Result<Vec<QueueEntry>, StoreError> {
        self.store.read().await?.queue_entries().await
    }
}
