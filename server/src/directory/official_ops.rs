//! Directory operations on officials: add, update, status, password, aliases, lookups.

use serde_json::json;

use super::agency_ops::agency_in;
use super::{
    name_taken, normalize_login, not_found, optional_attribute, required_attribute, Actor,
    AddressOwner, Agency, Directory, DirectoryError, Lockout, MailAddress, NewOfficial, Official,
    OfficialChanges, OfficialId, OfficialListing, OfficialStatus, PasswordHash, PersonName,
    StoredPassword,
};
use crate::clock::UnixTime;
use crate::model::{BodyId, EntityKind, Mailbox, MailboxId, Uid, DEFAULT_MAILBOXES};
use crate::store::{Conn, UniqueKey};
use std::collections::HashMap;

/// Every address of the official `official`, primary first.
pub(super) async fn addresses_in(
    conn: &mut Conn,
    official: OfficialId,
) -> Result<Vec<String>, DirectoryError> {
    let entries = conn.addresses_of(AddressOwner::Official(official)).await?;
    Ok(entries.into_iter().map(|e| e.address).collect())
}

/// What the audit log keeps about an official: never the password hash.
pub(super) fn official_summary(o: &Official) -> serde_json::Value {
    json!({
        "login": o.login, "name": o.name.full(), "display_name": o.display_name,
        "address": o.primary_address, "agency_id": o.agency_id.0, "unit": o.unit,
        "title": o.title, "phone": o.phone, "hr_id": o.hr_id, "status": o.status.as_str(),
        "quota_bytes": o.quota_bytes,
    })
}

pub(super) fn checked_name(name: &PersonName) -> Result<PersonName, DirectoryError> {
    Ok(PersonName {
        family: super::attribute_value("family name", &name.family)?,
        middle: super::attribute_value("middle name", &name.middle)?,
        given: required_attribute("given name", &name.given)?,
    })
}

/// Which officials to list; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct OfficialFilter {
    /// Only officials of this agency (not of the agencies below it).
    pub agency_code: Option<String>,
    pub status: Option<OfficialStatus>,
}

/// An official with what administrators read beside the entity: agency, addresses, lockout.
#[derive(Debug, Clone)]
pub struct OfficialDetails {
    pub official: Official,
    pub agency: Agency,
    /// Every address, primary first.
    pub addresses: Vec<String>,
    pub lockout: Lockout,
}

/// What deleting an official removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficialRemoval {
    pub login: String,
    pub address: String,
    pub mailboxes: u64,
    pub messages: u64,
    /// Message bodies deleted because the official held their last reference.
    pub bodies_freed: u64,
    pub certificates: u64,
    /// Addresses released, primary included.
    pub addresses: u64,
    pub memberships: u64,
}

impl Directory {
    /// Adds an official with a primary address and the default mailboxes.
    pub async fn add_official(
        &self,
        actor: &Actor,
        new: NewOfficial,
    ) -> Result<Official, DirectoryError> {
        let login = normalize_login(&new.login)?;
        let name = checked_name(&new.name)?;
        let display_name = match &new.display_name {
            Some(d) => required_attribute("display name", d)?,
            None => name.full(),
        };
        let address = MailAddress::parse(&new.primary_address)?.full();
        let hr_id = optional_attribute("employee id", new.hr_id.as_deref())?;
        let mut tx = self.store.begin().await?;
        let agency = agency_in(&mut tx, &new.agency_code).await?;
        let quota_bytes = match new.quota_bytes {
            Some(q) if q > 0 => q,
            Some(_) => return Err(DirectoryError::Invalid("the quota must be positive".into())),
            None => tx
                .domain_by_id(agency.domain_id)
                .await?
                .map_or(2 << 30, |d| d.default_quota_bytes),
        };
        let now = self.now();
        let mut official = Official {
            id: OfficialId(0),
            uuid: Self::new_uuid(),
            login,
            name,
            display_name,
            primary_address: address,
            agency_id: agency.id,
            unit: optional_attribute("unit", new.unit.as_deref())?,
            title: optional_attribute("title", new.title.as_deref())?,
            phone: optional_attribute("phone", new.phone.as_deref())?,
            hr_id,
            status: OfficialStatus::Active,
            password_set_at: new.password.as_ref().map(|_| now),
            password: new.password,
            quota_bytes,
            created_at: now,
            updated_at: now,
        };
        let taken = [
            (UniqueKey::Login, official.login.as_str()),
            (UniqueKey::HrId, official.hr_id.as_deref().unwrap_or("")),
        ];
        official.id = tx
            .insert_official(&official)
            .await
            .map_err(|e| name_taken(e.into(), &taken))?;
        self.claim_address(
            &mut tx,
            &official.primary_address,
            AddressOwner::Official(official.id),
            true,
        )
        .await?;
        create_default_mailboxes(&mut tx, &official).await?;
        let after = official_summary(&official);
        self.commit_change(
            tx,
            actor,
            "official.add",
            format!("official:{}", official.login),
            None,
            Some(after),
        )
        .await?;
        Ok(official)
    }

    /// The official with `login`.
    pub async fn official(&self, login: &str) -> Result<Official, DirectoryError> {
        official_in(&mut self.read().await?, login).await
    }

    /// The official with HR id `hr_id`, if any.
    pub async fn official_by_hr_id(&self, hr_id: &str) -> Result<Option<Official>, DirectoryError> {
        Ok(self.read().await?.official_by_hr_id(hr_id.trim()).await?)
    }

    /// The official who owns `address` (primary or alias), if any.
    pub async fn official_by_address(
        &self,
        address: &str,
    ) -> Result<Option<Official>, DirectoryError> {
        let mut conn = self.read().await?;
        official_by_address_in(&mut conn, address).await
    }

    /// The officials of agency `code`, by login.
    pub async fn officials_in_agency(&self, code: &str) -> Result<Vec<Official>, DirectoryError> {
        let mut conn = self.read().await?;
        let agency = agency_in(&mut conn, code).await?;
        Ok(conn.officials_in_agency(agency.id).await?)
    }

    /// Applies `changes` to the official with `login`.
    pub async fn update_official(
        &self,
        actor: &Actor,
        login: &str,
        changes: OfficialChanges,
    ) -> Result<Official, DirectoryError> {
        let mut tx = self.store.begin().await?;
        let mut official = official_in(&mut tx, login).await?;
        let before = official_summary(&official);
        apply_changes(&mut tx, &mut official, &changes).await?;
        official.updated_at = self.now();
        let hr_id = official.hr_id.clone().unwrap_or_default();
        tx.update_official(&official)
            .await
            .map_err(|e| name_taken(e.into(), &[(UniqueKey::HrId, &hr_id)]))?;
        let after = official_summary(&official);
        self.commit_change(
            tx,
            actor,
            "official.update",
            format!("official:{}", official.login),
            Some(before),
            Some(after),
        )
        .await?;
        Ok(official)
    }

    /// Enables or disables an official. A disabled official keeps mail and data but cannot
    /// log in or receive mail.
    pub async fn set_official_status(
        &self,
        actor: &Actor,
        login: &str,
        status: OfficialStatus,
    ) -> Result<Official, DirectoryError> {
        let mut tx = self.store.begin().await?;
        let mut official = official_in(&mut tx, login).await?;
        let before = json!({ "status": official.status.as_str() });
        official.status = status;
        official.updated_at = self.now();
        tx.set_official_status(official.id, status, official.updated_at)
            .await?;
        let action = match status {
            OfficialStatus::Active => "official.enable",
            OfficialStatus::Disabled => "official.disable",
        };
        let after = json!({ "status": status.as_str() });
        self.commit_change(
            tx,
            actor,
            action,
            format!("official:{}", official.login),
            Some(before),
            Some(after),
        )
        .await?;
        Ok(official)
    }

    /// Stores a new (already hashed) password for `login`. Every reset link and portal
    /// session of the official ends with the old password: whoever held them proved
    /// something that is no longer true. The audit row records the cost class and the
    /// must-change flag, never the hash.
    pub async fn set_password(
        &self,
        actor: &Actor,
        login: &str,
        password: StoredPassword,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.store.begin().await?;
        let official = official_in(&mut tx, login).await?;
        self.commit_password(tx, actor, &official, password).await
    }

    /// Writes `password` for `official` in `tx`, ends their reset links and portal sessions,
    /// and commits with the audit row.
    pub(super) async fn commit_password(
        &self,
        mut tx: Conn,
        actor: &Actor,
        official: &Official,
        password: StoredPassword,
    ) -> Result<(), DirectoryError> {
        tx.set_official_password(official.id, Some(&password), self.now())
            .await?;
        tx.delete_reset_links(official.id).await?;
        tx.delete_portal_sessions_of(official.id).await?;
        let after = json!({ "cost": password.cost.as_str(), "must_change": password.must_change });
        self.commit_change(
            tx,
            actor,
            "official.password",
            format!("official:{}", official.login),
            None,
            Some(after),
        )
        .await
    }

    /// Replaces `official`'s carried-over hash `legacy` with `new`, the same password hashed
    /// at congvu's full cost, at the first sign-in it let through. The password does not
    /// change, so reset links and portal sessions stay. Returns false, changing nothing, when
    /// the official's password changed since `legacy` was read.
    pub async fn replace_legacy_password(
        &self,
        official: &Official,
        legacy: &PasswordHash,
        new: StoredPassword,
    ) -> Result<bool, DirectoryError> {
        let mut tx = self.store.begin().await?;
        if !tx
            .replace_legacy_password(official.id, legacy, &new, self.now())
            .await?
        {
            return Ok(false);
        }
        let after = json!({ "cost": new.cost.as_str(), "replaced": "legacy" });
        self.commit_change(
            tx,
            &Actor("system:rehash".into()),
            "official.password_rehash",
            format!("official:{}", official.login),
            None,
            Some(after),
        )
        .await?;
        Ok(true)
    }

    /// Gives `login` an additional address.
    pub async fn add_alias(
        &self,
        actor: &Actor,
        login: &str,
        address: &str,
    ) -> Result<String, DirectoryError> {
        let mut tx = self.store.begin().await?;
        let official = official_in(&mut tx, login).await?;
        let alias = self
            .claim_address(&mut tx, address, AddressOwner::Official(official.id), false)
            .await?;
        let after = json!({ "alias": alias });
        self.commit_change(
            tx,
            actor,
            "alias.add",
            format!("official:{}", official.login),
            None,
            Some(after),
        )
        .await?;
        Ok(alias)
    }

    /// Removes one of `login`'s aliases (never the primary address).
    pub async fn remove_alias(
        &self,
        actor: &Actor,
        login: &str,
        address: &str,
    ) -> Result<(), DirectoryError> {
        let alias = MailAddress::parse(address)?.full();
        let mut tx = self.store.begin().await?;
        let official = official_in(&mut tx, login).await?;
        let owned = tx.addresses_of(AddressOwner::Official(official.id)).await?;
        if !owned.iter().any(|a| a.address == alias && !a.is_primary) {
            return Err(not_found(EntityKind::Alias, &alias));
        }
        tx.delete_alias(&alias).await?;
        let before = json!({ "alias": alias });
        self.commit_change(
            tx,
            actor,
            "alias.remove",
            format!("official:{}", official.login),
            Some(before),
            None,
        )
        .await
    }

    /// Every address of `login`, primary first.
    pub async fn addresses_of_official(&self, login: &str) -> Result<Vec<String>, DirectoryError> {
        let mut conn = self.read().await?;
        let official = official_in(&mut conn, login).await?;
        addresses_in(&mut conn, official.id).await
    }

    /// Officials matching `filter`, by login.
    pub async fn list_officials(
        &self,
        filter: &OfficialFilter,
    ) -> Result<Vec<OfficialListing>, DirectoryError> {
        let mut conn = self.read().await?;
        let agency = match &filter.agency_code {
            Some(code) => Some(agency_in(&mut conn, code).await?.id),
            None => None,
        };
        Ok(conn.official_listings(agency, filter.status).await?)
    }

    /// The official `login` with agency, addresses and lockout state.
    pub async fn official_details(&self, login: &str) -> Result<OfficialDetails, DirectoryError> {
        let mut conn = self.read().await?;
        let official = official_in(&mut conn, login).await?;
        let agency = conn
            .agency_by_id(official.agency_id)
            .await?
            .ok_or_else(|| not_found(EntityKind::Agency, &official.agency_id.to_string()))?;
        let addresses = addresses_in(&mut conn, official.id).await?;
        let lockout = conn.lockout_of(official.id).await?;
        Ok(OfficialDetails {
            official,
            agency,
            addresses,
            lockout,
        })
    }

    /// Clears `login`'s failed logins and lockout. Returns what was cleared, or `None` (and
    /// writes nothing) when there was nothing to clear.
    pub async fn unlock_official(
        &self,
        actor: &Actor,
        login: &str,
    ) -> Result<Option<Lockout>, DirectoryError> {
        let mut tx = self.store.begin().await?;
        let official = official_in(&mut tx, login).await?;
        let before = tx.lockout_of(official.id).await?;
        if !before.is_set() {
            return Ok(None);
        }
        tx.set_lockout(official.id, Lockout::default()).await?;
        self.commit_change(
            tx,
            actor,
            "official.unlock",
            format!("official:{}", official.login),
            Some(lockout_summary(&before)),
            Some(lockout_summary(&Lockout::default())),
        )
        .await?;
        Ok(Some(before))
    }

    /// Deletes `login` for good: their messages (releasing each body reference, so bodies
    /// nobody else holds are freed), mailboxes, certificates, group memberships and
    /// addresses, then the official. One transaction with its audit row.
    pub async fn delete_official(
        &self,
        actor: &Actor,
        login: &str,
    ) -> Result<OfficialRemoval, DirectoryError> {
        let mut tx = self.store.begin().await?;
        let official = official_in(&mut tx, login).await?;
        let agency_code = tx.agency_by_id(official.agency_id).await?.map(|a| a.code);
        let held = tx.delete_messages_of_official(official.id).await?;
        let messages = held.len() as u64;
        let bodies_freed = release_bodies(&mut tx, held).await?;
        let removal = OfficialRemoval {
            mailboxes: tx.delete_mailboxes_of_official(official.id).await?,
            certificates: tx.delete_certificates_of_official(official.id).await?,
            memberships: tx.delete_memberships_of_official(official.id).await?,
            addresses: tx.delete_addresses_of_official(official.id).await?,
            login: official.login.clone(),
            address: official.primary_address.clone(),
            messages,
            bodies_freed,
        };
        if !tx.delete_official_row(official.id).await? {
            return Err(not_found(EntityKind::Official, &official.login));
        }
        let mut before = official_summary(&official);
        before["agency"] = json!(agency_code);
        before["removed"] = json!({
            "mailboxes": removal.mailboxes, "messages": removal.messages,
            "certificates": removal.certificates, "addresses": removal.addresses,
            "memberships": removal.memberships,
        });
        self.commit_change(
            tx,
            actor,
            "official.delete",
            format!("official:{}", official.login),
            Some(before),
            None,
        )
        .await?;
        Ok(removal)
    }
}

/// Validates `changes` and applies them to `official` (in memory; the caller writes it).
pub(super) async fn apply_changes(
    conn: &mut Conn,
    official: &mut Official,
    changes: &OfficialChanges,
) -> Result<(), DirectoryError> {
    if let Some(name) = &changes.name {
        official.name = checked_name(name)?;
    }
    if let Some(display) = &changes.display_name {
        official.display_name = required_attribute("display name", display)?;
    }
    if let Some(code) = &changes.agency_code {
        official.agency_id = agency_in(conn, code).await?.id;
    }
    if let Some(unit) = &changes.unit {
        official.unit = optional_attribute("unit", unit.as_deref())?;
    }
    if let Some(title) = &changes.title {
        official.title = optional_attribute("title", title.as_deref())?;
    }
    if let Some(phone) = &changes.phone {
        official.phone = optional_attribute("phone", phone.as_deref())?;
    }
    if let Some(hr_id) = &changes.hr_id {
        official.hr_id = optional_attribute("employee id", hr_id.as_deref())?;
    }
    if let Some(quota) = changes.quota_bytes {
        if quota <= 0 {
            return Err(DirectoryError::Invalid("the quota must be positive".into()));
        }
        official.quota_bytes = quota;
    }
    Ok(())
}

/// The official with `login` as seen by `conn`.
/// The official owning `address` (primary or alias); `None` for an unknown or malformed
/// address, or one that belongs to a group or an agency.
pub(super) async fn official_by_address_in(
    conn: &mut Conn,
    address: &str,
) -> Result<Option<Official>, DirectoryError> {
    let Ok(parsed) = MailAddress::parse(address) else {
        return Ok(None);
    };
    match conn.address_entry(&parsed.full()).await? {
        Some(entry) => match entry.owner {
            AddressOwner::Official(id) => Ok(conn.official_by_id(id).await?),
            AddressOwner::Group(_) | AddressOwner::Agency(_) => Ok(None),
        },
        None => Ok(None),
    }
}

pub(super) async fn official_in(conn: &mut Conn, login: &str) -> Result<Official, DirectoryError> {
    let login = normalize_login(login)?;
    conn.official_by_login(&login)
        .await?
        .ok_or_else(|| not_found(EntityKind::Official, &login))
}

pub(super) async fn create_default_mailboxes(
    tx: &mut Conn,
    official: &Official,
) -> Result<(), DirectoryError> {
    tx.insert_mailboxes(&default_mailboxes(official)).await?;
    Ok(())
}

/// The UIDVALIDITY of a mailbox created at `created_at`. RFC 3501 §2.3.1.1: a creation time
/// in seconds never repeats for a mailbox name that is deleted and recreated later.
pub(super) fn initial_uidvalidity(created_at: UnixTime) -> u32 {
    u32::try_from(created_at.0).unwrap_or(1).max(1)
}

/// The mailboxes every new official starts with (INBOX, Sent, Drafts, Trash, Junk).
pub(super) fn default_mailboxes(official: &Official) -> Vec<Mailbox> {
    let uidvalidity = initial_uidvalidity(official.created_at);
    DEFAULT_MAILBOXES
        .iter()
        .map(|(name, role)| Mailbox {
            id: MailboxId(0),
            official_id: official.id,
            name: name.to_string(),
            role: Some(*role),
            uidvalidity,
            uidnext: Uid(1),
            highestmodseq: 1,
            subscribed: true,
            created_at: official.created_at,
        })
        .collect()
}

fn lockout_summary(l: &Lockout) -> serde_json::Value {
    json!({ "failed_logins": l.failed_logins, "locked_until": l.locked_until.map(|t| t.0) })
}

/// Releases one reference per entry of `held`, grouped by body; returns how many bodies
/// lost their last holder and were deleted.
async fn release_bodies(tx: &mut Conn, held: Vec<BodyId>) -> Result<u64, DirectoryError> {
    let mut per_body: HashMap<BodyId, i64> = HashMap::new();
    for body in held {
        *per_body.entry(body).or_default() += 1;
    }
    let mut freed = 0;
    for (body, holders) in per_body {
        tx.release_body(body, holders).await?;
        if tx.body_refcount(body).await?.is_none() {
            freed += 1;
        }
    }
    Ok(freed)
}
