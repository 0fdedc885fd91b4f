//! The outbound queue's entries as stored, and how administrators pick them.

use super::{BodyId, QueueEntryId};
use crate::clock::UnixTime;

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
    /// Attempts that failed so far.
    pub attempts: u32,
    /// The reply or problem of the last failed attempt.
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<UnixTime>,
    pub created_at: UnixTime,
    /// Held by an administrator: never claimed until released.
    pub held: bool,
    /// When the sender was told that delivery is delayed, if they were.
    pub delay_notice_at: Option<UnixTime>,
    /// When the last failed attempt ended.
    pub last_attempt_at: Option<UnixTime>,
    /// The server that gave the last error, when one answered.
    pub last_remote: Option<String>,
    /// The id the message was accepted under (see [`new_queue_id`]), shared by all its
    /// entries; empty for entries queued before ids were kept.
    pub queue_id: String,
}

impl QueueEntry {
    /// Whether a live lease (at `now`) keeps other workers off this entry.
    pub fn is_leased(&self, now: UnixTime) -> bool {
        self.lease_owner.is_some() && self.lease_expires_at.is_some_and(|t| t > now)
    }
}

/// Which entries an operation applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSelector {
    /// One entry; it must exist.
    Entry(QueueEntryId),
    /// Every entry for recipients in this domain.
    Domain(String),
    /// Every entry.
    All,
}
