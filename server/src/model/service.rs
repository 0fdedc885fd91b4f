//! Service accounts: other systems (document management, portals, Keycloak, SSSD) that bind
//! to LDAP to look officials up, each limited to what it is granted to read.

use super::{AgencyId, OfficialStatus, PasswordHash, ServiceAccountId};
use crate::clock::UnixTime;

/// A service account as stored in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub id: ServiceAccountId,
    pub uuid: String,
    /// Short name (LDAP `cn=<name>,ou=services,…`).
    pub name: String,
    pub description: Option<String>,
    pub password_hash: PasswordHash,
    /// The agency subtree it may read; `None` is the whole directory.
    pub scope_agency_id: Option<AgencyId>,
    /// May reset the passwords of officials in its scope (LDAP Password Modify).
    pub may_reset_passwords: bool,
    pub status: OfficialStatus,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// What an administrator supplies to add a service account.
#[derive(Debug, Clone)]
pub struct NewServiceAccount {
    pub name: String,
    pub description: Option<String>,
    /// Agency code whose subtree it may read; `None` for the whole directory.
    pub scope_agency_code: Option<String>,
    /// May reset the passwords of officials in its scope.
    pub may_reset_passwords: bool,
}
