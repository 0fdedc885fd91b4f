//! A whole-directory snapshot: every agency, official, group and service account with what
//! lookups need beside the entity (aliases, nested group membership, the certificate in
//! force), read in a handful of queries. The LDAP service searches it in memory and reloads
//! it when the directory version moves; authentication never uses it (it reads the latest
//! state from the store).

use std::collections::{HashMap, HashSet};

use crate::clock::UnixTime;

use super::{
    Agency, AgencyId, Directory, DirectoryError, Group, GroupId, GroupMember, Official, OfficialId,
    ServiceAccount,
};

/// The directory as of one version.
#[derive(Debug, Clone, Default)]
pub struct DirectorySnapshot {
    /// The directory version the snapshot was read at (read before the entities, so a
    /// change committed during the read makes the next check reload).
    pub version: i64,
    /// [`Directory::local_changes`] before the version was read, for the same reason.
    pub local_changes: u64,
    pub agencies: Vec<Agency>,
    /// Every official, active and disabled, by login.
    pub officials: Vec<OfficialCard>,
    pub groups: Vec<GroupCard>,
    pub services: Vec<ServiceAccount>,
    /// Each agency's own addresses (`vanthu@…`).
    pub agency_addresses: Vec<(AgencyId, String)>,
    /// The mail domains served, lowercase.
    pub domains: Vec<String>,
    /// When the certificates in force next change by time alone (one expires or one starts):
    /// a view built from this snapshot is stale from then on, even if nothing was written.
    pub certificates_change_at: Option<UnixTime>,
}

/// An official with their lookups.
#[derive(Debug, Clone)]
pub struct OfficialCard {
    pub official: Official,
    /// Addresses besides the primary one.
    pub aliases: Vec<String>,
    /// Every group containing the official, directly or through nesting.
    pub member_of: Vec<GroupId>,
    /// DER of the certificate in force, if any.
    pub certificate: Option<Vec<u8>>,
}

/// A group with its direct members.
#[derive(Debug, Clone)]
pub struct GroupCard {
    pub group: Group,
    /// The list address, for distribution lists that have one.
    pub address: Option<String>,
    pub members: Vec<GroupMember>,
}

/// Each agency's parent: the agency tree, for scope checks.
pub type AgencyParents = HashMap<AgencyId, Option<AgencyId>>;

/// The parent map of `agencies`.
pub fn agency_parents(agencies: &[Agency]) -> AgencyParents {
    agencies.iter().map(|a| (a.id, a.parent_id)).collect()
}

/// Whether `agency` is `scope` or below it.
pub fn agency_within(parents: &AgencyParents, agency: AgencyId, scope: AgencyId) -> bool {
    let mut at = Some(agency);
    // The tree's depth bounds the walk; the guard stops a corrupt cycle.
    for _ in 0..=parents.len() {
        match at {
            Some(id) if id == scope => return true,
            Some(id) => at = parents.get(&id).copied().flatten(),
            None => return false,
        }
    }
    false
}

/// `scope` and every agency below it.
pub fn agency_subtree(parents: &AgencyParents, scope: AgencyId) -> HashSet<AgencyId> {
    parents
        .keys()
        .copied()
        .filter(|&a| agency_within(parents, a, scope))
        .collect()
}

impl Directory {
    /// Reads the whole directory.
    pub async fn snapshot(&self) -> Result<DirectorySnapshot, DirectoryError> {
        let mut conn = self.read().await?;
        let local_changes = self.local_changes();
        let version = conn.directory_version().await?;
        let agencies = conn.agencies().await?;
        let aliases = conn.all_official_aliases().await?;
        let groups = conn.groups().await?;
        let memberships = conn.all_group_members().await?;
        let group_addresses = conn.group_addresses().await?;
        let now = self.now();
        let certificates = conn.certificates_in_force(now).await?;
        let next_start = conn.next_certificate_start(now).await?;
        let services = conn.service_accounts().await?;
        let agency_addresses = conn.all_agency_addresses().await?;
        let domains = conn.domain_names().await?;

        let mut aliases_of: HashMap<OfficialId, Vec<String>> = HashMap::new();
        for (official, address) in aliases {
            aliases_of.entry(official).or_default().push(address);
        }
        // A certificate valid through `not_after` is out of force one second later.
        let certificates_change_at = certificates
            .iter()
            .map(|(_, _, not_after)| not_after.plus(1))
            .chain(next_start)
            .min();
        let mut certificate_of: HashMap<OfficialId, Vec<u8>> = certificates
            .into_iter()
            .map(|(official, der, _)| (official, der))
            .collect();
        let member_of = nested_membership(&memberships);
        // Each official becomes a card as its row is read, into a list sized once: the
        // officials are the largest part of a snapshot, and are never held twice.
        let mut officials = Vec::with_capacity(conn.official_count().await?);
        conn.each_official(|official| {
            // The views never read credentials, a tenth of an official's size.
            let official = Official {
                password: None,
                ..official
            };
            officials.push(OfficialCard {
                aliases: aliases_of.remove(&official.id).unwrap_or_default(),
                member_of: member_of.get(&official.id).cloned().unwrap_or_default(),
                certificate: certificate_of.remove(&official.id),
                official,
            });
        })
        .await?;
        let mut members_of: HashMap<GroupId, Vec<GroupMember>> = HashMap::new();
        for (group, member) in memberships {
            members_of.entry(group).or_default().push(member);
        }
        let mut address_of: HashMap<GroupId, String> = HashMap::new();
        for (group, address) in group_addresses {
            address_of.entry(group).or_insert(address);
        }
        Ok(DirectorySnapshot {
            version,
            local_changes,
            agencies,
            officials,
            groups: groups
                .into_iter()
                .map(|group| GroupCard {
                    address: address_of.remove(&group.id),
                    members: members_of.remove(&group.id).unwrap_or_default(),
                    group,
                })
                .collect(),
            services,
            agency_addresses,
            domains,
            certificates_change_at,
        })
    }
}

/// For each official, every group containing them directly or through nested groups, in
/// memory from the direct memberships (the walk remembers what it has seen, so a cycle
/// cannot loop).
fn nested_membership(memberships: &[(GroupId, GroupMember)]) -> HashMap<OfficialId, Vec<GroupId>> {
    let mut parents: HashMap<GroupId, Vec<GroupId>> = HashMap::new();
    let mut direct: HashMap<OfficialId, Vec<GroupId>> = HashMap::new();
    for (group, member) in memberships {
        match member {
            GroupMember::Official(o) => direct.entry(*o).or_default().push(*group),
            GroupMember::Group(g) => parents.entry(*g).or_default().push(*group),
        }
    }
    direct
        .into_iter()
        .map(|(official, groups)| {
            let mut seen: HashSet<GroupId> = HashSet::new();
            let mut pending = groups;
            while let Some(group) = pending.pop() {
                if seen.insert(group) {
                    pending.extend(parents.get(&group).into_iter().flatten().copied());
                }
            }
            let mut all: Vec<GroupId> = seen.into_iter().collect();
            all.sort_by_key(|g| g.0);
            (official, all)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_follows_nesting_and_survives_cycles() {
        let (a, b, c) = (GroupId(1), GroupId(2), GroupId(3));
        let memberships = vec![
            (a, GroupMember::Group(b)),
            (b, GroupMember::Group(c)),
            (c, GroupMember::Group(a)),
            (c, GroupMember::Official(OfficialId(7))),
            (b, GroupMember::Official(OfficialId(8))),
        ];
        let nested = nested_membership(&memberships);
        assert_eq!(nested[&OfficialId(7)], vec![a, b, c]);
        assert_eq!(nested[&OfficialId(8)], vec![a, b, c]);
        let no_cycle = nested_membership(&[
            (a, GroupMember::Group(b)),
            (b, GroupMember::Official(OfficialId(8))),
        ]);
        assert_eq!(no_cycle[&OfficialId(8)], vec![a, b]);
    }
}
