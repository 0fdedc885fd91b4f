//! Typed row identities, so an agency id cannot be passed where an official id is expected,
//! nor a mailbox where a body is.

macro_rules! entity_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

entity_id!(
    /// A mail domain served by congvu.
    DomainId,
    /// An agency in the province's tree.
    AgencyId,
    /// An official (a person with a login and a mailbox).
    OfficialId,
    /// A group or distribution list.
    GroupId,
    /// An account another system uses to bind to LDAP.
    ServiceAccountId,
    /// A signing certificate held by an official.
    CertificateId,
);

/// A stored message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BodyId(pub i64);

/// A mailbox of one official.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailboxId(pub i64);

/// A message's UID within its mailbox (RFC 3501 §2.3.1.1): strictly ascending, never reused
/// within one UIDVALIDITY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(pub u32);

/// A queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueEntryId(pub i64);

impl std::fmt::Display for QueueEntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
