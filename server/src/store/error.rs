//! Store errors, with database constraint violations translated into the domain facts they
//! stand for (which unique key was taken) so callers never parse driver messages.

pub use crate::model::UniqueKey;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}: {reason}")]
    Open { url: String, reason: String },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} is already taken")]
    Duplicate(UniqueKey),
    #[error("still referenced by other records")]
    InUse,
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    // PostgreSQL names the constraint; SQLite lists "table.column, …".
                    let key = db
                        .constraint()
                        .map(unique_key_by_constraint)
                        .unwrap_or_else(|| unique_key_by_sqlite_message(db.message()));
                    return StoreError::Duplicate(key);
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => return StoreError::InUse,
                _ => {}
            }
        }
        StoreError::Database(e)
    }
}

/// Constraint names are the same in both migrations; these are PostgreSQL's spellings.
fn unique_key_by_constraint(name: &str) -> UniqueKey {
    match name {
        "domains_name_key" => UniqueKey::DomainName,
        "domains_one_primary" => UniqueKey::PrimaryDomain,
        "agencies_code_key" => UniqueKey::AgencyCode,
        "officials_login_key" => UniqueKey::Login,
        "officials_hr_id_key" => UniqueKey::HrId,
        "addresses_pkey" => UniqueKey::Address,
        "addresses_one_primary" => UniqueKey::OfficialPrimaryAddress,
        "directory_groups_name_key" => UniqueKey::GroupName,
        "group_members_official_key" | "group_members_group_key" => UniqueKey::GroupMember,
        "service_accounts_name_key" => UniqueKey::ServiceAccountName,
        "certificates_fingerprint_key" => UniqueKey::CertificateFingerprint,
        "mailboxes_name_key" => UniqueKey::MailboxName,
        "mailboxes_one_role" => UniqueKey::MailboxRole,
        "mailbox_messages_uid_key" => UniqueKey::MessageUid,
        "sieve_scripts_name_key" => UniqueKey::SieveScriptName,
        n if n.ends_with("_uuid_key") => UniqueKey::Uuid,
        _ => UniqueKey::Other,
    }
}

/// SQLite reports `UNIQUE constraint failed: officials.login` (or a column list).
fn unique_key_by_sqlite_message(message: &str) -> UniqueKey {
    let columns = message.rsplit(": ").next().unwrap_or("");
    match columns {
        "domains.name" => UniqueKey::DomainName,
        "domains.is_primary" => UniqueKey::PrimaryDomain,
        "agencies.code" => UniqueKey::AgencyCode,
        "officials.login" => UniqueKey::Login,
        "officials.hr_id" => UniqueKey::HrId,
        "addresses.address" => UniqueKey::Address,
        "addresses.official_id" => UniqueKey::OfficialPrimaryAddress,
        "directory_groups.name" => UniqueKey::GroupName,
        "group_members.group_id, group_members.official_id"
        | "group_members.group_id, group_members.member_group_id" => UniqueKey::GroupMember,
        "service_accounts.name" => UniqueKey::ServiceAccountName,
        "certificates.fingerprint_sha256" => UniqueKey::CertificateFingerprint,
        "mailboxes.official_id, mailboxes.name" => UniqueKey::MailboxName,
        "mailboxes.official_id, mailboxes.role" => UniqueKey::MailboxRole,
        "mailbox_messages.mailbox_id, mailbox_messages.uid" => UniqueKey::MessageUid,
        "sieve_scripts.official_id, sieve_scripts.name" => UniqueKey::SieveScriptName,
        c if c.ends_with(".uuid") => UniqueKey::Uuid,
        _ => UniqueKey::Other,
    }
}
