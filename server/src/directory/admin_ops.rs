//! Directory operations for administrators beyond single-entity CRUD: deleting officials,
//! unlocking accounts, listings and the usage report.
//!
//! Like every directory operation, each change here is written in one transaction with its
//! audit row (`commit_change`); reads that aggregate (the report, the agency tree) leave the
//! counting to the store, one query per aggregate.

use std::collections::HashMap;

use serde_json::json;

use super::official_ops::{official_in, official_summary};
use super::tree_ops::agency_in;
use super::{
    not_found, Actor, AddressOwner, Agency, AgencyId, AgencyLevel, Directory, DirectoryError,
    Group, GroupId, Official, OfficialStatus,
};
use crate::model::{BodyId, EntityKind, Lockout, OfficialListing};
use crate::store::Conn;

/// Fewest characters a password chosen by a person may have.
pub const MIN_CHOSEN_PASSWORD_CHARS: usize = 10;
/// Most characters a password may have (argon2 hashes anything, but a bound keeps the
/// hashing cost of one request bounded).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Checks a password an administrator or official chose (not a generated one): long enough
/// and free of control characters, which no login form can type.
pub fn check_chosen_password(password: &str) -> Result<(), DirectoryError> {
    let chars = password.chars().count();
    if chars < MIN_CHOSEN_PASSWORD_CHARS {
        return Err(DirectoryError::Invalid(format!(
            "the password has {chars} characters: use at least {MIN_CHOSEN_PASSWORD_CHARS}"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(DirectoryError::Invalid(format!(
            "the password is longer than {MAX_PASSWORD_CHARS} characters"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(DirectoryError::Invalid(
            "the password contains a control character: use printable characters only".into(),
        ));
    }
    Ok(())
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

/// Counts for one agency, a subtree, a level or the whole province.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub agencies: i64,
    pub officials: i64,
    pub active: i64,
    pub disabled: i64,
    /// Officials holding mailboxes, i.e. mail accounts (each has INBOX, Sent, …).
    pub mailboxes: i64,
    /// Sum of the sizes of the messages in those mailboxes.
    pub storage_bytes: i64,
}

impl Usage {
    fn add(&mut self, other: &Usage) {
        self.agencies += other.agencies;
        self.officials += other.officials;
        self.active += other.active;
        self.disabled += other.disabled;
        self.mailboxes += other.mailboxes;
        self.storage_bytes += other.storage_bytes;
    }
}

/// One agency's line in the usage report.
#[derive(Debug, Clone)]
pub struct AgencyUsage {
    pub agency: Agency,
    pub parent_code: Option<String>,
    /// 0 for the root, 1 for its children, and so on.
    pub depth: usize,
    /// The agency's own officials (`agencies` is 1).
    pub own: Usage,
    /// The agency and every agency below it.
    pub subtree: Usage,
}

/// The agencies of one level, their own counts summed.
#[derive(Debug, Clone, Copy)]
pub struct LevelUsage {
    pub level: AgencyLevel,
    pub usage: Usage,
}

/// The usage report: every agency in tree order, every level, and the total.
#[derive(Debug, Clone)]
pub struct UsageReport {
    /// Depth-first from the root, children by code.
    pub agencies: Vec<AgencyUsage>,
    /// Every level from the province down, also those with no agency.
    pub levels: Vec<LevelUsage>,
    pub total: Usage,
}

/// An agency with its place in the tree and its own counts.
#[derive(Debug, Clone)]
pub struct AgencyDetails {
    pub agency: Agency,
    pub domain: String,
    pub parent: Option<Agency>,
    /// Direct children, by code.
    pub children: Vec<Agency>,
    /// The agency's own addresses (vanthu@…).
    pub addresses: Vec<String>,
    pub usage: Usage,
}

/// A group as listed: its address, agency and number of direct members.
#[derive(Debug, Clone)]
pub struct GroupListing {
    pub group: Group,
    pub address: Option<String>,
    pub agency_code: Option<String>,
    pub members: i64,
}

/// A direct member of a group, named for people.
#[derive(Debug, Clone)]
pub enum MemberListing {
    Official(Box<OfficialListing>),
    Group { name: String, display_name: String },
}

impl Directory {
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
        let addresses = conn
            .addresses_of(AddressOwner::Official(official.id))
            .await?
            .into_iter()
            .map(|e| e.address)
            .collect();
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

    /// Officials, mailboxes and storage per agency, per level and in total.
    pub async fn usage_report(&self) -> Result<UsageReport, DirectoryError> {
        let mut conn = self.read().await?;
        let agencies = conn.agencies().await?;
        let own = own_usage(&mut conn, None).await?;
        Ok(build_report(agencies, &own))
    }

    /// The agency `code` with its parent, children, addresses and own counts.
    pub async fn agency_details(&self, code: &str) -> Result<AgencyDetails, DirectoryError> {
        let mut conn = self.read().await?;
        let agency = agency_in(&mut conn, code).await?;
        let parent = match agency.parent_id {
            Some(id) => conn.agency_by_id(id).await?,
            None => None,
        };
        let children = conn.agency_children(agency.id).await?;
        let domain = conn
            .domain_by_id(agency.domain_id)
            .await?
            .map(|d| d.name)
            .unwrap_or_default();
        let addresses = conn
            .addresses_of(AddressOwner::Agency(agency.id))
            .await?
            .into_iter()
            .map(|e| e.address)
            .collect();
        let mut usage = own_usage(&mut conn, Some(agency.id))
            .await?
            .remove(&agency.id)
            .unwrap_or_default();
        usage.agencies = 1;
        Ok(AgencyDetails {
            agency,
            domain,
            parent,
            children,
            addresses,
            usage,
        })
    }

    /// Every group with its address, agency and number of direct members, by name.
    pub async fn group_listings(&self) -> Result<Vec<GroupListing>, DirectoryError> {
        let mut conn = self.read().await?;
        let codes: HashMap<AgencyId, String> = conn
            .agencies()
            .await?
            .into_iter()
            .map(|a| (a.id, a.code))
            .collect();
        let counts: HashMap<GroupId, i64> = conn.group_member_counts().await?.into_iter().collect();
        let mut addresses: HashMap<GroupId, String> = HashMap::new();
        for (group, address) in conn.group_addresses().await? {
            addresses.entry(group).or_insert(address);
        }
        Ok(conn
            .groups()
            .await?
            .into_iter()
            .map(|group| GroupListing {
                address: addresses.remove(&group.id),
                agency_code: group.agency_id.and_then(|a| codes.get(&a).cloned()),
                members: counts.get(&group.id).copied().unwrap_or(0),
                group,
            })
            .collect())
    }

    /// The direct members of group `name`: officials by login, then groups by name.
    pub async fn group_member_listing(
        &self,
        name: &str,
    ) -> Result<Vec<MemberListing>, DirectoryError> {
        let mut conn = self.read().await?;
        let key = name.trim().to_ascii_lowercase();
        let group = conn
            .group_by_name(&key)
            .await?
            .ok_or_else(|| not_found(EntityKind::Group, &key))?;
        let mut members: Vec<MemberListing> = conn
            .member_official_listings(group.id)
            .await?
            .into_iter()
            .map(|o| MemberListing::Official(Box::new(o)))
            .collect();
        for (name, display_name) in conn.member_group_names(group.id).await? {
            members.push(MemberListing::Group { name, display_name });
        }
        Ok(members)
    }

    /// Every group, by name.
    pub async fn groups(&self) -> Result<Vec<Group>, DirectoryError> {
        Ok(self.read().await?.groups().await?)
    }
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

/// Each agency's own counts (`agencies` left 0), from one query per aggregate.
async fn own_usage(
    conn: &mut Conn,
    only: Option<AgencyId>,
) -> Result<HashMap<AgencyId, Usage>, DirectoryError> {
    let mut usage: HashMap<AgencyId, Usage> = HashMap::new();
    for (agency, active, disabled) in conn.official_counts_by_agency(only).await? {
        let u = usage.entry(agency).or_default();
        u.active = active;
        u.disabled = disabled;
        u.officials = active + disabled;
    }
    for (agency, n) in conn.mailbox_holders_by_agency(only).await? {
        usage.entry(agency).or_default().mailboxes = n;
    }
    for (agency, bytes) in conn.storage_by_agency(only).await? {
        usage.entry(agency).or_default().storage_bytes = bytes;
    }
    Ok(usage)
}

/// Orders the agencies depth-first and sums own counts into subtrees, levels and the total.
fn build_report(agencies: Vec<Agency>, own: &HashMap<AgencyId, Usage>) -> UsageReport {
    let own_of = |id: AgencyId| Usage {
        agencies: 1,
        ..own.get(&id).copied().unwrap_or_default()
    };
    let code_of: HashMap<AgencyId, String> =
        agencies.iter().map(|a| (a.id, a.code.clone())).collect();
    let ordered = super::agency::tree_order(&agencies);
    // Children come after their parent in depth-first order: walked backwards, each agency's
    // subtree is complete when it is reached, and is then added to its parent's.
    let mut subtree: HashMap<AgencyId, Usage> = HashMap::new();
    let mut below: HashMap<AgencyId, Usage> = HashMap::new();
    for (agency, _) in ordered.iter().rev() {
        let mut sum = own_of(agency.id);
        if let Some(kids) = below.remove(&agency.id) {
            sum.add(&kids);
        }
        if let Some(parent) = agency.parent_id {
            below.entry(parent).or_default().add(&sum);
        }
        subtree.insert(agency.id, sum);
    }

    let mut levels: Vec<LevelUsage> = AgencyLevel::ALL
        .into_iter()
        .map(|level| LevelUsage {
            level,
            usage: Usage::default(),
        })
        .collect();
    let mut total = Usage::default();
    for (agency, _) in &ordered {
        let own = own_of(agency.id);
        if let Some(l) = levels.iter_mut().find(|l| l.level == agency.level) {
            l.usage.add(&own);
        }
        total.add(&own);
    }

    UsageReport {
        agencies: ordered
            .into_iter()
            .map(|(agency, depth)| AgencyUsage {
                parent_code: agency.parent_id.and_then(|p| code_of.get(&p).cloned()),
                depth,
                own: own_of(agency.id),
                subtree: subtree.get(&agency.id).copied().unwrap_or_default(),
                agency: agency.clone(),
            })
            .collect(),
        levels,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::UnixTime;
    use crate::directory::DomainId;

    fn agency(id: i64, code: &str, level: AgencyLevel, parent: Option<i64>) -> Agency {
        Agency {
            id: AgencyId(id),
            uuid: String::new(),
            code: code.into(),
            name: code.into(),
            level,
            parent_id: parent.map(AgencyId),
            domain_id: DomainId(1),
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }

    #[test]
    fn report_sums_subtrees_levels_and_total() {
        let agencies = vec![
            agency(1, "vinhphuc", AgencyLevel::Province, None),
            agency(2, "vinhyen", AgencyLevel::District, Some(1)),
            agency(3, "stttt", AgencyLevel::Department, Some(1)),
            agency(4, "dongda", AgencyLevel::Commune, Some(2)),
        ];
        let mut own = HashMap::new();
        let counts = |active, disabled, storage_bytes| Usage {
            agencies: 0,
            officials: active + disabled,
            active,
            disabled,
            mailboxes: active + disabled,
            storage_bytes,
        };
        own.insert(AgencyId(2), counts(1, 1, 100));
        own.insert(AgencyId(3), counts(2, 0, 10));
        own.insert(AgencyId(4), counts(3, 0, 1));
        let report = build_report(agencies, &own);

        let order: Vec<(&str, usize)> = report
            .agencies
            .iter()
            .map(|a| (a.agency.code.as_str(), a.depth))
            .collect();
        assert_eq!(
            order,
            [("vinhphuc", 0), ("stttt", 1), ("vinhyen", 1), ("dongda", 2)]
        );
        let root = &report.agencies[0];
        assert_eq!(
            root.own,
            Usage {
                agencies: 1,
                ..Usage::default()
            }
        );
        assert_eq!(
            root.subtree,
            Usage {
                agencies: 4,
                officials: 7,
                active: 6,
                disabled: 1,
                mailboxes: 7,
                storage_bytes: 111
            }
        );
        let vinhyen = &report.agencies[2];
        assert_eq!(vinhyen.subtree.officials, 5);
        assert_eq!(vinhyen.parent_code.as_deref(), Some("vinhphuc"));
        let levels: Vec<(AgencyLevel, i64, i64)> = report
            .levels
            .iter()
            .map(|l| (l.level, l.usage.agencies, l.usage.officials))
            .collect();
        assert_eq!(
            levels,
            [
                (AgencyLevel::Province, 1, 0),
                (AgencyLevel::Department, 1, 2),
                (AgencyLevel::District, 1, 2),
                (AgencyLevel::Commune, 1, 3),
            ]
        );
        assert_eq!(report.total, root.subtree);
    }

    #[test]
    fn chosen_passwords_have_a_floor_and_a_ceiling() {
        assert!(check_chosen_password("Ngắn-123").is_err());
        assert!(
            check_chosen_password("Mười ký tự").is_ok(),
            "10 characters, not bytes"
        );
        assert!(check_chosen_password("Chín ký t").is_err(), "9 characters");
        assert!(check_chosen_password(&"a".repeat(MAX_PASSWORD_CHARS)).is_ok());
        assert!(check_chosen_password(&"a".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
        assert!(check_chosen_password("mật khẩu\tdài quá").is_err());
    }
}
