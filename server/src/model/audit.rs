//! The audit log: who changed what in the directory, when, and how it looked before and after.

use crate::clock::UnixTime;

/// Who made a change: an administrator's name, or a component such as `server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    /// The local administrator running `congvu-admin` as OS user `user`.
    pub fn admin(user: &str) -> Actor {
        Actor(format!("admin:{user}"))
    }
}

/// One change, as written in the same transaction as the change itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub actor: String,
    /// Dotted verb, e.g. `official.add`, `agency.move`.
    pub action: String,
    /// What changed, e.g. `official:annv`, `agency:stttt`.
    pub target: String,
    /// JSON summaries of the entity before and after; secrets are never included.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// An audit record as read back, with its time and sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: UnixTime,
    pub record: AuditRecord,
}
