//! Who receives mail sent to a local address, and who may send as one: every official's
//! primary address and aliases, distribution lists (expanded through nested groups to their
//! current active members, each once), and agencies' own addresses. Built in memory from a
//! directory snapshot, so recipient checks cost no query; it follows the directory version
//! (see [`Following`]).
//!
//! An agency's own address (`vanthu.stttt@…`) is delivered to the agency's mail officers: the
//! active members of the group named `vanthu-<agency code>`. While an agency has no such group
//! or it has no active member, the address is delivered to every active official of the agency
//! itself, so that mail to an agency is never refused for want of an officer. Mail officers,
//! and only they, may send as the agency's address; members of a list may send as the list.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::{
    AgencyId, DirectorySnapshot, Following, GroupId, OfficialId, OfficialStatus, SnapshotView,
};

/// How long a change made outside this process may take to reach recipient checks.
pub const RECIPIENT_REFRESH: Duration = Duration::from_secs(1);

/// The answer for one recipient address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientLookup {
    /// An active official's address.
    Official {
        official: OfficialId,
        quota_bytes: i64,
    },
    /// A list's or an agency's address: the officials who receive it, each once. Empty when
    /// nobody active would receive it.
    Members(Arc<[OfficialId]>),
    /// A disabled official's address.
    Disabled,
    /// An address in a local domain that nobody holds.
    Unknown,
    /// An address in a domain congvu does not serve.
    Remote,
}

#[derive(Debug, Clone)]
enum Holder {
    Official {
        id: OfficialId,
        active: bool,
        quota_bytes: i64,
    },
    Members {
        receivers: Arc<[OfficialId]>,
        senders: Arc<HashSet<OfficialId>>,
    },
}

/// Every local address and who is behind it, at one directory version.
#[derive(Debug, Clone, Default)]
pub struct RecipientIndex {
    version: i64,
    domains: HashSet<String>,
    holders: HashMap<String, Holder>,
    agency_of: HashMap<OfficialId, AgencyId>,
    cards: HashMap<OfficialId, Arc<RecipientCard>>,
}

/// What a delivery needs to know of the official it is for: every address (the primary
/// first) and the name replies go out under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientCard {
    pub addresses: Vec<String>,
    pub display_name: String,
    /// The official's agency, whose administrators' filter runs before the official's own.
    pub agency: AgencyId,
}

impl SnapshotView for RecipientIndex {
    fn version(&self) -> i64 {
        self.version
    }
}

/// An address as compared: trimmed and lowercased (local parts are case-insensitive here, as
/// every address congvu issues is lowercase).
pub fn normalize_address(address: &str) -> String {
    address.trim().to_lowercase()
}

impl RecipientIndex {
    /// The index of `snapshot`.
    pub fn build(snapshot: &DirectorySnapshot) -> RecipientIndex {
        let mut holders = HashMap::new();
        let mut agency_of = HashMap::new();
        let mut members_of: HashMap<GroupId, Vec<OfficialId>> = HashMap::new();
        let mut active_in_agency: HashMap<AgencyId, Vec<OfficialId>> = HashMap::new();
        for card in &snapshot.officials {
            let official = &card.official;
            let active = official.status == OfficialStatus::Active;
            agency_of.insert(official.id, official.agency_id);
            let holder = Holder::Official {
                id: official.id,
                active,
                quota_bytes: official.quota_bytes,
            };
            for address in std::iter::once(&official.primary_address).chain(&card.aliases) {
                holders.insert(normalize_address(address), holder.clone());
            }
            if active {
                active_in_agency
                    .entry(official.agency_id)
                    .or_default()
                    .push(official.id);
                for group in &card.member_of {
                    members_of.entry(*group).or_default().push(official.id);
                }
            }
        }
        let group_named: HashMap<&str, GroupId> = snapshot
            .groups
            .iter()
            .map(|g| (g.group.name.as_str(), g.group.id))
            .collect();
        for card in &snapshot.groups {
            if let Some(address) = &card.address {
                let members = members_of.get(&card.group.id).cloned().unwrap_or_default();
                holders.insert(
                    normalize_address(address),
                    members_holder(members.clone(), members),
                );
            }
        }
        for (agency, address) in &snapshot.agency_addresses {
            let code = snapshot
                .agencies
                .iter()
                .find(|a| a.id == *agency)
                .map_or("", |a| a.code.as_str());
            let officers = group_named
                .get(format!("vanthu-{code}").as_str())
                .and_then(|g| members_of.get(g))
                .cloned()
                .unwrap_or_default();
            let receivers = if officers.is_empty() {
                active_in_agency.get(agency).cloned().unwrap_or_default()
            } else {
                officers.clone()
            };
            holders.insert(
                normalize_address(address),
                members_holder(receivers, officers),
            );
        }
        RecipientIndex {
            version: snapshot.version,
            domains: snapshot.domains.iter().map(|d| d.to_lowercase()).collect(),
            holders,
            agency_of,
            cards: cards_of(snapshot),
        }
    }

    /// The addresses and name of an official, for their filters.
    pub fn card(&self, official: OfficialId) -> Option<Arc<RecipientCard>> {
        self.cards.get(&official).cloned()
    }

    /// Whether `domain` is one congvu serves.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.domains.contains(&domain.to_lowercase())
    }

    /// Who receives mail sent to `address`. Only an exact address in a local domain is
    /// local: source routes, `%` and `!` forms and quoted local parts name nobody here.
    pub fn lookup(&self, address: &str) -> RecipientLookup {
        let address = normalize_address(address);
        let Some((_, domain)) = address.rsplit_once('@') else {
            return RecipientLookup::Unknown;
        };
        if !self.domains.contains(domain) {
            return RecipientLookup::Remote;
        }
        match self.holders.get(&address) {
            None => RecipientLookup::Unknown,
            Some(Holder::Official { active: false, .. }) => RecipientLookup::Disabled,
            Some(Holder::Official {
                id, quota_bytes, ..
            }) => RecipientLookup::Official {
                official: *id,
                quota_bytes: *quota_bytes,
            },
            Some(Holder::Members { receivers, .. }) => RecipientLookup::Members(receivers.clone()),
        }
    }

    /// Whether `official` may use `address` as a sender: their own addresses, lists they
    /// belong to, and the agency addresses they are mail officers of.
    pub fn may_send_as(&self, official: OfficialId, address: &str) -> bool {
        match self.holders.get(&normalize_address(address)) {
            Some(Holder::Official { id, active, .. }) => *id == official && *active,
            Some(Holder::Members { senders, .. }) => senders.contains(&official),
            None => false,
        }
    }

    /// The agency an official belongs to.
    pub fn agency_of(&self, official: OfficialId) -> Option<AgencyId> {
        self.agency_of.get(&official).copied()
    }
}

/// Each official's addresses (the primary first) and display name.
fn cards_of(snapshot: &DirectorySnapshot) -> HashMap<OfficialId, Arc<RecipientCard>> {
    snapshot
        .officials
        .iter()
        .map(|card| {
            let official = &card.official;
            let addresses = std::iter::once(&official.primary_address)
                .chain(&card.aliases)
                .map(|a| normalize_address(a))
                .collect();
            let display_name = official.display_name.clone();
            let recipient = RecipientCard {
                addresses,
                display_name,
                agency: official.agency_id,
            };
            (official.id, Arc::new(recipient))
        })
        .collect()
}

fn members_holder(receivers: Vec<OfficialId>, senders: Vec<OfficialId>) -> Holder {
    let mut seen = HashSet::new();
    let receivers: Vec<OfficialId> = receivers.into_iter().filter(|o| seen.insert(*o)).collect();
    Holder::Members {
        receivers: receivers.into(),
        senders: Arc::new(senders.into_iter().collect()),
    }
}

/// The recipient index, following the directory.
pub type RecipientCache = Following<RecipientIndex>;

/// The recipient index, built first from `first` (see [`RecipientCache`]).
pub fn follow_recipients(directory: super::Directory, first: &DirectorySnapshot) -> RecipientCache {
    Following::from_snapshots(directory, RECIPIENT_REFRESH, first, RecipientIndex::build)
}
