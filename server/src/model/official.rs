//! Officials as the directory stores them: the person, their standing and their credential.
//! The rules that make them (names, logins, hashing) are the directory's.

use std::fmt;

use super::{AgencyId, OfficialId};
use crate::clock::UnixTime;

/// Whether an official may log in and receive mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfficialStatus {
    Active,
    /// Left the agency or suspended: refused at login and at RCPT, data kept.
    Disabled,
}

impl OfficialStatus {
    /// The name used in storage and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            OfficialStatus::Active => "active",
            OfficialStatus::Disabled => "disabled",
        }
    }
}

impl fmt::Display for OfficialStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Vietnamese personal name in its three parts: `Lê Thị Hồng Nhung` is family `Lê`,
/// middle `Thị Hồng`, given `Nhung`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName {
    pub family: String,
    /// Zero or more middle names, space-separated.
    pub middle: String,
    pub given: String,
}

/// An official as stored in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Official {
    pub id: OfficialId,
    /// Stable identity for other systems (LDAP `entryUUID`); never changes.
    pub uuid: String,
    /// Login name (LDAP `uid`), lowercase.
    pub login: String,
    pub name: PersonName,
    pub display_name: String,
    pub primary_address: String,
    pub agency_id: AgencyId,
    /// The unit (phòng, ban) inside the agency.
    pub unit: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    /// Identifier in the agency's HR records (`Mã cán bộ`), unique when present.
    pub hr_id: Option<String>,
    pub status: OfficialStatus,
    pub password: Option<StoredPassword>,
    /// When the current password was set: an initial password expires some days after it.
    pub password_set_at: Option<UnixTime>,
    pub quota_bytes: i64,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// A stored credential and what it obliges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPassword {
    pub hash: PasswordHash,
    pub cost: PasswordCost,
    /// Set for generated and reset passwords: the official must choose a new one.
    pub must_change: bool,
}

/// How expensive the stored hash is, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCost {
    /// Configured argon2id parameters: for every password a person chose.
    Full,
    /// Cheaper parameters, allowed only for generated secrets of at least 96 random bits,
    /// which no parameter choice makes guessable. The official must change it at first login.
    Initial,
    /// A hash carried over from another directory as it was (`{SSHA}…`): never made here,
    /// replaced by a [`PasswordCost::Full`] hash at the first successful sign-in.
    Legacy,
}

impl PasswordCost {
    /// The name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordCost::Full => "full",
            PasswordCost::Initial => "initial",
            PasswordCost::Legacy => "legacy",
        }
    }
}

/// A password hash as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    // Hashes are secrets too: never in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(…)")
    }
}

/// One official as listed and exported: what an administrator reads, the agency by code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficialListing {
    pub login: String,
    pub name: PersonName,
    pub display_name: String,
    /// The primary address.
    pub address: String,
    pub agency_code: String,
    pub unit: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub hr_id: Option<String>,
    pub status: OfficialStatus,
}

/// Failed logins and the lockout they caused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lockout {
    pub failed_logins: i64,
    /// When the first of `failed_logins` happened; failures older than the lockout window
    /// start a new count.
    pub failing_since: Option<UnixTime>,
    /// Logins are refused until this time; `None` when not locked.
    pub locked_until: Option<UnixTime>,
}

impl Lockout {
    /// Whether there is anything for `user unlock` to clear.
    pub fn is_set(&self) -> bool {
        self.failed_logins != 0 || self.locked_until.is_some()
    }
}
