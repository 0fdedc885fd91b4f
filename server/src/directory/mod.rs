//! The directory: the province's domains, agencies, officials, groups, service accounts and
//! certificates, with the rules that keep them valid (the agency tree, address ownership,
//! Vietnamese names, password cost classes). No sqlx and no protocol types here: LDAP, SMTP,
//! IMAP and the admin CLI all call these operations, and each write goes to the store in one
//! transaction together with its audit row and a bump of the directory version.

mod address;
mod agency;
mod attribute;
mod auth;
mod certificate;
mod dkim;
pub mod dn;
mod domain;
mod egov;
mod following;
mod hash_pool;
mod import;
mod legacy_password;
mod names;
mod official;
mod password;
mod password_policy;
mod portal;
mod recipients;
mod snapshot;

pub use crate::model::{
    Actor, AddressEntry, AddressOwner, Agency, AgencyId, AgencyLevel, AuditEntry, AuditRecord,
    Certificate, CertificateId, CertificateStanding, DomainDkimKey, DomainId, EntityKind, Group,
    GroupId, GroupKind, GroupMember, Lockout, MailDomain, NewGroup, NewServiceAccount, Official,
    OfficialId, OfficialListing, OfficialStatus, PasswordCost, PasswordHash, PeriodError,
    PersonName, ServiceAccount, ServiceAccountId, StoredPassword, UtcDay,
};
pub use address::MailAddress;
pub use agency::{normalize_agency_code, NewAgency};
pub use agency_ops::{
    AgencyDetails, AgencyImportOutcome, AgencyUsage, LevelUsage, Usage, UsageReport,
};
pub use attribute::{attribute_value, optional_attribute, required_attribute, MAX_ATTRIBUTE_CHARS};
pub use auth::{
    count_login, plain_credentials, Authenticator, LockoutPolicy, LoginName, LoginOutcome,
    PasswordChangeError, PlainRefusal, Principal, RefusedBecause,
};
pub use certificate::{
    fingerprint, read_certificate_file, CertificateFile, CertificateFileError, NewCertificate,
};
pub use certificate_ops::{
    CertificateFileOutcome, CertificateFilter, CertificateListing, ExpiryNoticeDue,
    ImportedCertificate, MIN_FINGERPRINT_PREFIX,
};
pub use dkim::{
    default_dkim_selector, normalize_dkim_selector, DkimKey, DkimKeyError, DkimRecord,
    DEFAULT_DKIM_KEY_BITS, DKIM_KEY_BITS,
};
pub use domain::{normalize_domain, NewDomain, DEFAULT_ADDRESS_RULE};
pub use egov::{
    EgovAgency, EgovCounts, EgovLevel, EgovReport, ReportPeriod, SignedShare, SignedShareTarget,
};
pub use following::{read_apart, Following, SnapshotView};
pub use group_ops::{GroupListing, MemberListing, MemberName};
pub use import::{
    ImportField, ImportOptions, ImportOutcome, ImportPlan, ImportRow, MigratedGroup,
    MigratedMember, MigratedOfficial, MigrationOutcome, MigrationPlan, PlannedCreate, PlannedGroup,
    PlannedMember, PlannedOfficial, PlannedPassword, PlannedUpdate, Rejection,
};
pub use legacy_password::{LegacyHash, LegacyHashError};
pub use names::{ascii_word, AddressAllocator, AddressRule};
pub use official::{normalize_login, NewOfficial, OfficialChanges};
pub use official_ops::{OfficialDetails, OfficialFilter, OfficialRemoval};
pub use password::{generate_initial_password, Argon2Cost, PasswordHasher};
pub use password_policy::{
    check_chosen_password, check_official_password, PasswordWeakness, MAX_PASSWORD_CHARS,
    MIN_CHOSEN_PASSWORD_CHARS,
};
pub use portal::{
    new_csrf_token, AccountOverview, OpenedSession, PortalSession, SessionPolicy, SessionPurpose,
    DEFAULT_RESET_LINK_HOURS, MAX_RESET_LINK_HOURS,
};
pub use recipients::{
    follow_recipients, normalize_address, RecipientCache, RecipientCard, RecipientIndex,
    RecipientLookup, RECIPIENT_REFRESH,
};
pub use snapshot::{
    agency_parents, agency_subtree, agency_within, AgencyParents, DirectorySnapshot, GroupCard,
    OfficialCard,
};

mod agency_ops;
mod certificate_ops;
mod domain_ops;
mod group_ops;
mod official_ops;
mod secrets;
mod service_ops;

use crate::clock::{Clock, UnixTime};
use crate::store::{Conn, Store, StoreError, UniqueKey};

/// Why a directory operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The input breaks a rule; the message says which and what would be valid.
    #[error("{0}")]
    Invalid(String),
    /// A named entity does not exist.
    #[error("{kind} \"{key}\" does not exist")]
    NotFound { kind: EntityKind, key: String },
    /// A unique value (login, address, HR id, code) belongs to someone else already.
    #[error("{what} \"{value}\" is already taken")]
    Taken { what: UniqueKey, value: String },
    /// congvu itself failed, not the input: a worker thread gone, a value in the database it
    /// cannot read, a count that does not add up. A fault to log and report, never the
    /// caller's mistake.
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(what) => DirectoryError::Taken {
                what,
                value: String::new(),
            },
            other => DirectoryError::Store(other),
        }
    }
}

/// Fills in which value was taken, from the candidates the operation tried to claim.
fn name_taken(e: DirectoryError, candidates: &[(UniqueKey, &str)]) -> DirectoryError {
    match e {
        DirectoryError::Taken { what, value } if value.is_empty() => DirectoryError::Taken {
            what,
            value: candidates
                .iter()
                .find(|(k, _)| *k == what)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default(),
        },
        other => other,
    }
}

fn not_found(kind: EntityKind, key: &str) -> DirectoryError {
    DirectoryError::NotFound {
        kind,
        key: key.to_string(),
    }
}

/// An audit record of `action` on `target` by `actor`.
fn audit_record(
    actor: &Actor,
    action: &str,
    target: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> AuditRecord {
    AuditRecord {
        actor: actor.0.clone(),
        action: action.to_string(),
        target,
        before: before.map(|v| v.to_string()),
        after: after.map(|v| v.to_string()),
    }
}

/// The directory over the store.
#[derive(Debug, Clone)]
pub struct Directory {
    store: Store,
    clock: Clock,
}

impl Directory {
    /// A directory over `store`, stamping changes with `clock`.
    pub fn new(store: Store, clock: Clock) -> Directory {
        Directory { store, clock }
    }

    /// The directory's clock reading: what validity and lockout windows are judged by.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    async fn read(&self) -> Result<Conn, DirectoryError> {
        Ok(self.store.read().await?)
    }

    /// Writes the audit row (and bumps the directory version) then commits `tx`.
    async fn commit_change(
        &self,
        mut tx: Conn,
        actor: &Actor,
        action: &str,
        target: String,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), DirectoryError> {
        let record = audit_record(actor, action, target, before, after);
        tx.record_change(&record, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The audit log about `target` (`official:annv`), or all of it.
    pub async fn audit_log(&self, target: Option<&str>) -> Result<Vec<AuditEntry>, DirectoryError> {
        Ok(self.read().await?.audit_entries(target).await?)
    }

    /// Records that `actor` exported the mail of official `login` out of congvu (format,
    /// destination, counts in `summary`): mail leaving the system is audited like a change,
    /// though nothing in the directory changed.
    pub async fn record_mailbox_export(
        &self,
        actor: &Actor,
        login: &str,
        summary: serde_json::Value,
    ) -> Result<(), DirectoryError> {
        let record = audit_record(
            actor,
            "mailbox.export",
            format!("official:{login}"),
            None,
            Some(summary),
        );
        let mut conn = self.store.begin().await?;
        conn.record_event(&record, self.now()).await?;
        conn.commit().await?;
        Ok(())
    }

    /// The directory version; it grows with every committed change.
    pub async fn version(&self) -> Result<i64, DirectoryError> {
        Ok(self.read().await?.directory_version().await?)
    }

    /// A counter of the changes committed by this process (through any clone of the
    /// store): in-memory views compare it to notice their own process's writes at once.
    pub fn local_changes(&self) -> u64 {
        self.store.local_commits()
    }

    fn new_uuid() -> String {
        uuid::Uuid::new_v4().to_string()
    }
}
