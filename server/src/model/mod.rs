//! The bottom layer: the identities, the entities as stored and the plain values every layer
//! above names. It imports
//! nothing of the crate but the clock's time type: the store, the domain and the protocols
//! all build on it, and it on none of them.

mod address;
mod agency;
mod audit;
mod certificate;
mod consistency;
mod database;
mod day;
mod domain;
mod entity;
mod group;
mod ids;
mod listener;
mod mail;
mod official;
mod queue;
mod service;
mod sieve;
mod smart_host;
mod unique;

pub use address::{AddressEntry, AddressOwner};
pub use agency::{Agency, AgencyLevel};
pub use audit::{Actor, AuditEntry, AuditRecord};
pub use certificate::{Certificate, CertificateStanding};
pub use consistency::{
    BodyExample, Examined, Example, Finding, Inconsistency, MailboxExample, MessageExample,
    QueueEntryExample,
};
pub use database::{redact_password, StoreBackend};
pub use day::{PeriodError, UtcDay};
pub use domain::{DomainDkimKey, MailDomain};
pub use entity::EntityKind;
pub use group::{Group, GroupKind, GroupMember, NewGroup};
pub use ids::{
    AgencyId, BodyId, CertificateId, DomainId, GroupId, MailboxId, OfficialId, QueueEntryId,
    ServiceAccountId, Uid,
};
pub use listener::{ListenerKind, Refusal};
pub use mail::{
    BodyHash, Mailbox, MailboxMessage, MailboxRole, MessageFlags, Signing, DEFAULT_MAILBOXES,
};
pub use official::{
    Lockout, Official, OfficialListing, OfficialStatus, PasswordCost, PasswordHash, PersonName,
    StoredPassword,
};
pub use queue::{QueueEntry, QueueSelector};
pub use service::{NewServiceAccount, ServiceAccount};
pub use sieve::{BeforeScript, SieveScript};
pub use smart_host::{SmartHost, SmartHostError};
pub use unique::UniqueKey;
