//! The uniqueness rules of the directory and the mail store, named: the store reports which
//! one a write broke, and the layers above say it in their own words.

use std::fmt;

/// A uniqueness rule of the directory or mail store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueKey {
    DomainName,
    PrimaryDomain,
    AgencyCode,
    Login,
    Address,
    OfficialPrimaryAddress,
    HrId,
    GroupName,
    GroupMember,
    ServiceAccountName,
    CertificateFingerprint,
    MailboxName,
    MailboxRole,
    MessageUid,
    SieveScriptName,
    Uuid,
    Other,
}

impl fmt::Display for UniqueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UniqueKey::DomainName => "domain name",
            UniqueKey::PrimaryDomain => "primary domain",
            UniqueKey::AgencyCode => "agency code",
            UniqueKey::Login => "login",
            UniqueKey::Address => "address",
            UniqueKey::OfficialPrimaryAddress => "primary address",
            UniqueKey::HrId => "employee id",
            UniqueKey::GroupName => "group name",
            UniqueKey::GroupMember => "group membership",
            UniqueKey::ServiceAccountName => "service account name",
            UniqueKey::CertificateFingerprint => "certificate",
            UniqueKey::MailboxName => "mailbox name",
            UniqueKey::MailboxRole => "special mailbox",
            UniqueKey::MessageUid => "message UID",
            UniqueKey::SieveScriptName => "script name",
            UniqueKey::Uuid => "uuid",
            UniqueKey::Other => "value",
        })
    }
}
