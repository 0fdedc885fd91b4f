//! Administrators' operations on the queue (`congvu-admin queue …`): list and show entries,
//! and hold, release, retry or delete one entry, a destination domain's entries or all of
//! them. Each change is written in one transaction together with one audit row per entry
//! it changed (`queue.hold` on `queue:42`, with the entry before and after).

use std::collections::HashMap;

use serde_json::json;

use super::{Queue, QueueEntry, QueueEntryId, QueueError, QueueSelector};
use crate::directory::normalize_domain;
use crate::model::{Actor, AuditRecord};
use crate::store::Conn;

/// The entry as an audit summary records it.
fn summary(entry: &QueueEntry) -> serde_json::Value {
    json!({
        "queue_id": entry.queue_id,
        "recipient": entry.recipient,
        "sender": entry.sender,
        "held": entry.held,
        "next_attempt_at": entry.next_attempt_at.0,
        "attempts": entry.attempts,
    })
}

/// What an administrator did, for the audit log.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Hold,
    Release,
    Retry,
    Delete,
}

impl Operation {
    fn action(self) -> &'static str {
        match self {
            Operation::Hold => "queue.hold",
            Operation::Release => "queue.release",
            Operation::Retry => "queue.retry",
            Operation::Delete => "queue.delete",
        }
    }
}

impl Queue {
    /// The entries `selector` names, oldest first. An [`QueueSelector::Entry`] that does not
    /// exist is an error; a domain without entries gives none.
    pub async fn select(&self, selector: &QueueSelector) -> Result<Vec<QueueEntry>, QueueError> {
        let selector = checked(selector)?;
        let entries = self
            .store
            .read()
            .await?
            .selected_queue_entries(&selector)
            .await?;
        must_exist(&selector, entries)
    }

    /// Holds the selected entries: no node claims them until they are released. An entry
    /// being delivered at this moment finishes that attempt. Returns the entries it changed
    /// (those not held already), as held.
    pub async fn hold(
        &self,
        actor: &Actor,
        selector: &QueueSelector,
    ) -> Result<Vec<QueueEntry>, QueueError> {
        self.change(actor, selector, Operation::Hold).await
    }

    /// Releases held entries; they are delivered when due. Returns the entries it changed,
    /// as released.
    pub async fn release(
        &self,
        actor: &Actor,
        selector: &QueueSelector,
    ) -> Result<Vec<QueueEntry>, QueueError> {
        self.change(actor, selector, Operation::Release).await
    }

    /// Makes the selected entries due now (held ones stay held until released). Returns
    /// the entries it changed, as changed.
    pub async fn retry_now(
        &self,
        actor: &Actor,
        selector: &QueueSelector,
    ) -> Result<Vec<QueueEntry>, QueueError> {
        self.change(actor, selector, Operation::Retry).await
    }

    /// Deletes the selected entries without telling their senders, and releases their
    /// message bodies. Returns the entries as they were.
    pub async fn delete(
        &self,
        actor: &Actor,
        selector: &QueueSelector,
    ) -> Result<Vec<QueueEntry>, QueueError> {
        self.change(actor, selector, Operation::Delete).await
    }

    async fn change(
        &self,
        actor: &Actor,
        selector: &QueueSelector,
        operation: Operation,
    ) -> Result<Vec<QueueEntry>, QueueError> {
        let selector = checked(selector)?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let before = tx.selected_queue_entries(&selector).await?;
        let before = must_exist(&selector, before)?;
        let after = match operation {
            Operation::Hold => tx.set_queue_hold(&selector, true).await?,
            Operation::Release => tx.set_queue_hold(&selector, false).await?,
            Operation::Retry => tx.make_queue_entries_due(&selector, now).await?,
            Operation::Delete => {
                let deleted = tx.delete_selected_queue_entries(&selector).await?;
                release_bodies(&mut tx, &deleted).await?;
                deleted
            }
        };
        let before_by_id: HashMap<QueueEntryId, &QueueEntry> =
            before.iter().map(|e| (e.id, e)).collect();
        let mut changed = Vec::with_capacity(after.len());
        for entry in after {
            let old = before_by_id.get(&entry.id).copied();
            let (old_summary, new_summary) = match operation {
                Operation::Delete => (Some(summary(&entry)), None),
                _ => (old.map(summary), Some(summary(&entry))),
            };
            // Holding a held entry (or releasing a free one) changes nothing: no record.
            if old_summary == new_summary {
                continue;
            }
            let record = AuditRecord {
                actor: actor.0.clone(),
                action: operation.action().to_string(),
                target: format!("queue:{}", entry.id.0),
                before: old_summary.map(|v| v.to_string()),
                after: new_summary.map(|v| v.to_string()),
            };
            tx.record_event(&record, now).await?;
            changed.push(entry);
        }
        tx.commit().await?;
        Ok(changed)
    }
}

/// The selector with its domain normalized and checked.
fn checked(selector: &QueueSelector) -> Result<QueueSelector, QueueError> {
    match selector {
        QueueSelector::Domain(domain) => normalize_domain(domain)
            .map(QueueSelector::Domain)
            .map_err(|e| QueueError::Invalid(e.to_string())),
        other => Ok(other.clone()),
    }
}

fn must_exist(
    selector: &QueueSelector,
    entries: Vec<QueueEntry>,
) -> Result<Vec<QueueEntry>, QueueError> {
    match selector {
        QueueSelector::Entry(id) if entries.is_empty() => Err(QueueError::NotFound(*id)),
        _ => Ok(entries),
    }
}

async fn release_bodies(tx: &mut Conn, deleted: &[QueueEntry]) -> Result<(), QueueError> {
    let mut holders: HashMap<_, i64> = HashMap::new();
    for entry in deleted {
        *holders.entry(entry.body_id).or_default() += 1;
    }
    for (body, count) in holders {
        tx.release_body(body, count).await?;
    }
    Ok(())
}
