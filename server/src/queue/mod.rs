//! The outbound queue: messages waiting for delivery to other domains. Each entry is one
//! recipient of one stored body; a worker claims due entries under a lease, so that an entry
//! whose worker died is taken up again when the lease expires, by this node or another.
//!
//! What happens to an entry after it is queued lives here: delivery over SMTP with lettre
//! (`transfer`), where a domain's mail goes (`route`), the retry schedule (`schedule`),
//! delivery status notifications (`dsn`), applying an attempt's outcome (`settle`), the
//! delivery workers (`worker`) and the administrators' operations (`admin`). No SQL here
//! (that is `store/queue.rs`) and no SMTP server types.

mod admin;
mod dsn;
mod route;
mod schedule;
mod settle;
mod transfer;
mod worker;

pub use dsn::{build_dsn, DsnAction, DsnRecipient, DsnReport};
pub use schedule::RetryPolicy;
pub use transfer::{Failure, TlsPolicy};
pub use worker::{start, QueueHandle};

use crate::clock::{Clock, UnixTime};
use crate::mailstore::{BodyHash, BodyId, MailstoreError};
use crate::store::{Store, StoreError};

pub use crate::model::{QueueEntry, QueueEntryId, QueueSelector, SmartHost, SmartHostError};

/// A new queue id: twelve random hex digits naming one accepted message in its `250` reply,
/// its `Received:` header, its queue entries and every log line about it, so that the
/// message's path from intake through delivery to its bounce is one grep.
pub fn new_queue_id() -> String {
    format!("{:012X}", rand::random::<u64>() & 0xFFFF_FFFF_FFFF)
}

/// A lease on claimed entries: who holds it and until when.
#[derive(Debug, Clone)]
pub struct Lease {
    pub owner: String,
    pub seconds: i64,
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue entry {0} does not exist")]
    NotFound(QueueEntryId),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mailstore(#[from] MailstoreError),
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
                None,
                recipients.len() as i64,
                now,
            )
            .await?;
        let queue_id = new_queue_id();
        let mut ids = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            ids.push(
                tx.insert_queue_entry(body, &queue_id, sender, recipient, now)
                    .await?,
            );
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Claims up to `limit` due entries that nobody holds (or whose lease expired) and that
    /// no administrator has held.
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

    /// Extends every lease `lease.owner` holds by `lease.seconds` from now; returns how many
    /// entries it holds.
    pub async fn renew_leases(&self, lease: &Lease) -> Result<u64, StoreError> {
        let mut tx = self.store.begin().await?;
        let held = tx
            .renew_queue_leases(&lease.owner, self.clock.now().plus(lease.seconds))
            .await?;
        tx.commit().await?;
        Ok(held)
    }

    /// Gives up `owner`'s leases on `ids` without counting an attempt.
    pub async fn release_leases(
        &self,
        ids: &[QueueEntryId],
        owner: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.store.begin().await?;
        let released = tx.release_queue_leases(ids, owner).await?;
        tx.commit().await?;
        Ok(released)
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

    /// One entry.
    pub async fn entry(&self, id: QueueEntryId) -> Result<QueueEntry, QueueError> {
        let mut found = self
            .store
            .read()
            .await?
            .selected_queue_entries(&QueueSelector::Entry(id))
            .await?;
        found.pop().ok_or(QueueError::NotFound(id))
    }

    /// The stored message an entry carries.
    pub async fn body(&self, body: BodyId) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.read().await?.body_data(body).await
    }

    /// How many entries the queue holds.
    pub async fn size(&self) -> Result<i64, StoreError> {
        self.store.read().await?.queue_size().await
    }

    /// The current time on this queue's clock.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }
}
