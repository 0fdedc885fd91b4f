//! The bottom layer: the identities and plain values every layer above names. It imports
//! nothing of the crate but the clock's time type: the store, the domain and the protocols
//! all build on it, and it on none of them.

mod database;
mod entity;
mod ids;
mod mail;
mod unique;

pub use database::{redact_password, StoreBackend};
pub use entity::EntityKind;
pub use ids::{
    AgencyId, BodyId, CertificateId, DomainId, GroupId, MailboxId, OfficialId, QueueEntryId,
    ServiceAccountId, Uid,
};
pub use mail::{BodyHash, Mailbox, MailboxMessage, MailboxRole, MessageFlags};
pub use unique::UniqueKey;
