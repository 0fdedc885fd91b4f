//! Typed row identities for directory entities, so an agency id cannot be passed where an
//! official id is expected.

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
