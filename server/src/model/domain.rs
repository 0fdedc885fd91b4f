//! The mail domains congvu serves, with their settings and DKIM keys as stored.

use std::fmt;

use super::DomainId;
use crate::clock::UnixTime;

/// A domain congvu accepts mail for, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailDomain {
    pub id: DomainId,
    pub name: String,
    /// The province's main domain: the LDAP base and new agencies default to it.
    pub is_primary: bool,
    pub default_quota_bytes: i64,
    pub max_message_bytes: i64,
    /// Template for new officials' addresses, e.g. `{given}{initials}` or `{given}.{family}`.
    pub address_rule: String,
    pub dkim_selector: Option<String>,
    pub require_tls_outbound: bool,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// A domain's stored DKIM key, as the signer loads it.
#[derive(Clone, PartialEq, Eq)]
pub struct DomainDkimKey {
    pub domain: String,
    pub selector: String,
    /// PKCS#8 PEM.
    pub private_key_pem: String,
}

impl fmt::Debug for DomainDkimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainDkimKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}
