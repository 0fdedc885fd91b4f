//! The directory information tree as LDAP entries, built from a directory snapshot and
//! kept in memory: searches read it without touching the database. The cache follows the
//! directory version, checking it at most once per `refresh` interval, so a change made by
//! `congvu-admin` (or another node) shows within that interval.

use std::collections::{HashMap, HashSet};
use std::hash::RandomState;
use std::time::Duration;

use time::OffsetDateTime;

use super::attributes::{self as at, AttributeType};
use super::dn;
use crate::clock::UnixTime;
use crate::directory::{
    agency_parents, agency_subtree, Agency, AgencyId, AgencyParents, Directory, DirectorySnapshot,
    Following, GroupCard, GroupId, GroupMember, OfficialCard, OfficialId, OfficialStatus,
    ServiceAccount, ServiceAccountId, SnapshotView,
};
use entry::Packer;
pub use entry::{strings, values, Attribute, Entry, NewAttribute};
use index::HashIndex;

mod entry;
mod index;

/// What an entry stands for, as far as access rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// The base entry and the `ou=people`-style containers.
    Structure,
    Official {
        id: OfficialId,
        agency: AgencyId,
    },
    Agency(AgencyId),
    Group,
    Service(ServiceAccountId),
}

/// Attributes with an equality index: what address books and login lookups search by.
const INDEXED: [&AttributeType; 4] = [&at::UID, &at::MAIL, &at::MAIL_ALTERNATE, &at::CN];

/// The whole tree at one directory version.
#[derive(Debug)]
pub struct Tree {
    pub version: i64,
    /// When a served certificate expires or a stored one starts: the tree is rebuilt then.
    pub stale_at: Option<UnixTime>,
    /// The base DN's comparable form.
    pub base: String,
    pub entries: Vec<Entry>,
    /// Entries by their comparable DN.
    by_key: HashIndex,
    /// Entries by each normalized value of an [`INDEXED`] attribute.
    index: Vec<(&'static AttributeType, HashIndex)>,
    agency_parents: AgencyParents,
}

impl Tree {
    /// The entry whose comparable DN is `key`.
    pub fn get(&self, key: &str) -> Option<(usize, &Entry)> {
        self.by_key
            .candidates(key)
            .map(|i| (i, &self.entries[i]))
            .find(|(_, e)| e.key() == key)
    }

    /// Entries that may have a `kind` value equal to normalized `value`, in tree order: every
    /// one that has, and rarely one whose value only shares its hash, which the search's own
    /// filter then turns away (it tests every candidate, so testing here would do it twice).
    /// `None` when the attribute has no index.
    pub fn lookup(&self, kind: &AttributeType, value: &str) -> Option<Vec<usize>> {
        let (_, index) = self.index.iter().find(|(k, _)| std::ptr::eq(*k, kind))?;
        Some(index.candidates(value).collect())
    }

    /// `scope` and every agency below it.
    pub fn agencies_within(&self, scope: AgencyId) -> HashSet<AgencyId> {
        agency_subtree(&self.agency_parents, scope)
    }

    /// Builds the tree under `base_dn` from `snapshot`.
    pub fn build(snapshot: &DirectorySnapshot, base_dn: &str) -> Tree {
        let base_key = dn::normalize(base_dn).unwrap_or_else(|| base_dn.to_ascii_lowercase());
        let mut builder = Builder::new(snapshot, base_dn);
        builder.structure();
        for card in &snapshot.officials {
            builder.official(card);
        }
        for agency in &snapshot.agencies {
            builder.agency(agency);
        }
        for card in &snapshot.groups {
            builder.group(card);
        }
        for service in &snapshot.services {
            builder.service(service);
        }
        let mut tree = builder.finish(
            snapshot.version,
            base_key,
            agency_parents(&snapshot.agencies),
        );
        tree.stale_at = snapshot.certificates_change_at;
        tree
    }
}

/// Entries as they are built, one kind at a time, with the names the entries refer to each
/// other by.
struct Builder<'s> {
    entries: Vec<Entry>,
    packer: Packer,
    base_dn: &'s str,
    agencies: HashMap<AgencyId, &'s str>,
    groups: HashMap<GroupId, &'s str>,
    /// Active officials only: a group lists no inactive member.
    logins: HashMap<OfficialId, &'s str>,
}

impl<'s> Builder<'s> {
    fn new(snapshot: &'s DirectorySnapshot, base_dn: &'s str) -> Builder<'s> {
        Builder {
            entries: Vec::with_capacity(snapshot.officials.len() + snapshot.groups.len() + 64),
            packer: Packer::default(),
            base_dn,
            agencies: snapshot
                .agencies
                .iter()
                .map(|a| (a.id, a.code.as_str()))
                .collect(),
            groups: snapshot
                .groups
                .iter()
                .map(|g| (g.group.id, g.group.name.as_str()))
                .collect(),
            logins: snapshot
                .officials
                .iter()
                .filter(|c| c.official.status == OfficialStatus::Active)
                .map(|c| (c.official.id, c.official.login.as_str()))
                .collect(),
        }
    }

    /// The base entry and the containers under it.
    fn structure(&mut self) {
        let first_label = self
            .base_dn
            .split(',')
            .next()
            .and_then(|rdn| rdn.split_once('='))
            .map_or("", |(_, v)| v.trim());
        self.push(
            self.base_dn.to_string(),
            EntryKind::Structure,
            vec![
                strings(&at::OBJECT_CLASS, ["top", "domain", "dcObject"]),
                strings(&at::DC, [first_label]),
            ],
        );
        for ou in ["people", "agencies", "groups", "services"] {
            self.push(
                format!("ou={ou},{}", self.base_dn),
                EntryKind::Structure,
                vec![
                    strings(&at::OBJECT_CLASS, ["top", "organizationalUnit"]),
                    strings(&at::OU, [ou]),
                ],
            );
        }
    }

    /// An active official as an inetOrgPerson; others are not in the tree.
    fn official(&mut self, card: &OfficialCard) {
        let o = &card.official;
        if o.status != OfficialStatus::Active {
            return;
        }
        let dn = dn::official(&o.login, self.base_dn);
        let surname = if o.name.family.is_empty() {
            &o.name.given
        } else {
            &o.name.family
        };
        let member_of: Vec<String> = card
            .member_of
            .iter()
            .filter_map(|g| self.groups.get(g))
            .map(|name| dn::group(name, self.base_dn))
            .collect();
        let full_name = o.name.full();
        let mut attrs = vec![
            // congvuOfficial allows mailAlternateAddress and memberOf (schema/congvu.schema).
            strings(
                &at::OBJECT_CLASS,
                [
                    "top",
                    "person",
                    "organizationalPerson",
                    "inetOrgPerson",
                    "congvuOfficial",
                ],
            ),
            strings(&at::UID, [o.login.as_str()]),
            strings(&at::CN, [full_name.as_str()]),
            strings(&at::SN, [surname.as_str()]),
            strings(&at::GIVEN_NAME, [o.name.given.as_str()]),
            strings(&at::DISPLAY_NAME, [o.display_name.as_str()]),
            strings(&at::MAIL, [o.primary_address.as_str()]),
            strings(&at::MAIL_ALTERNATE, card.aliases.iter().map(String::as_str)),
            strings(&at::TITLE, o.title.as_deref()),
            strings(&at::TELEPHONE, o.phone.as_deref()),
            strings(&at::OU, self.agencies.get(&o.agency_id).copied()),
            strings(&at::DEPARTMENT, o.unit.as_deref()),
            strings(&at::EMPLOYEE_NUMBER, o.hr_id.as_deref()).private(),
            strings(&at::MEMBER_OF, member_of.iter().map(String::as_str)),
            values(&at::CERTIFICATE, card.certificate.as_deref()),
        ];
        attrs.extend(operational(
            &o.uuid,
            o.created_at,
            o.updated_at,
            "inetOrgPerson",
        ));
        let kind = EntryKind::Official {
            id: o.id,
            agency: o.agency_id,
        };
        self.push(dn, kind, attrs);
    }

    /// An agency as an organizationalUnit, pointing at its parent with seeAlso.
    fn agency(&mut self, a: &Agency) {
        let dn = dn::agency(&a.code, self.base_dn);
        let parent = a
            .parent_id
            .and_then(|p| self.agencies.get(&p))
            .map(|code| dn::agency(code, self.base_dn));
        let mut attrs = vec![
            strings(&at::OBJECT_CLASS, ["top", "organizationalUnit"]),
            strings(&at::OU, [a.code.as_str()]),
            strings(&at::DESCRIPTION, [a.name.as_str()]),
            strings(&at::BUSINESS_CATEGORY, [a.level.as_str()]),
            strings(&at::SEE_ALSO, parent.as_deref()),
        ];
        attrs.extend(operational(
            &a.uuid,
            a.created_at,
            a.updated_at,
            "organizationalUnit",
        ));
        self.push(dn, EntryKind::Agency(a.id), attrs);
    }

    /// A group as a groupOfNames, a distribution list also as a congvuMailList.
    fn group(&mut self, card: &GroupCard) {
        let g = &card.group;
        let dn = dn::group(&g.name, self.base_dn);
        let members: Vec<String> = card
            .members
            .iter()
            .filter_map(|m| match m {
                GroupMember::Official(id) => {
                    self.logins.get(id).map(|l| dn::official(l, self.base_dn))
                }
                GroupMember::Group(id) => self.groups.get(id).map(|n| dn::group(n, self.base_dn)),
            })
            .collect();
        // groupOfNames has no mail; congvuMailList adds it to a distribution list.
        let list = card.address.as_ref().map(|_| "congvuMailList");
        let mut attrs = vec![
            strings(
                &at::OBJECT_CLASS,
                ["top", "groupOfNames"].into_iter().chain(list),
            ),
            strings(&at::CN, [g.name.as_str()]),
            strings(
                &at::DESCRIPTION,
                g.description.as_deref().or(Some(g.display_name.as_str())),
            ),
            strings(&at::MAIL, card.address.as_deref()),
            strings(&at::MEMBER, members.iter().map(String::as_str)),
        ];
        attrs.extend(operational(
            &g.uuid,
            g.created_at,
            g.updated_at,
            "groupOfNames",
        ));
        self.push(dn, EntryKind::Group, attrs);
    }

    /// An active service account as an applicationProcess.
    fn service(&mut self, s: &ServiceAccount) {
        if s.status != OfficialStatus::Active {
            return;
        }
        let dn = dn::service(&s.name, self.base_dn);
        let mut attrs = vec![
            strings(&at::OBJECT_CLASS, ["top", "applicationProcess"]),
            strings(&at::CN, [s.name.as_str()]),
            strings(&at::DESCRIPTION, s.description.as_deref()),
        ];
        attrs.extend(operational(
            &s.uuid,
            s.created_at,
            s.updated_at,
            "applicationProcess",
        ));
        self.push(dn, EntryKind::Service(s.id), attrs);
    }

    fn push(&mut self, dn: String, kind: EntryKind, attributes: Vec<NewAttribute<'_>>) {
        let entry = self.packer.entry(&dn, kind, &attributes);
        self.entries.push(entry);
    }

    fn finish(mut self, version: i64, base: String, agency_parents: AgencyParents) -> Tree {
        // hasSubordinates: every entry that is some other entry's parent, the parents
        // borrowed from the entries' own keys rather than copied.
        let has_subordinates: Vec<bool> = {
            let parents: HashSet<&str> = self.entries.iter().map(|e| dn::parent(e.key())).collect();
            self.entries
                .iter()
                .map(|e| parents.contains(e.key()))
                .collect()
        };
        for (e, has) in self.entries.iter_mut().zip(has_subordinates) {
            e.join_tree(has);
        }
        let hasher = RandomState::new();
        let entries = &self.entries;
        let by_key = HashIndex::new(&hasher, entries.iter().map(Entry::key).enumerate());
        let index = INDEXED
            .into_iter()
            .map(|kind| {
                let values = entries.iter().enumerate().flat_map(|(i, e)| {
                    e.attribute(kind)
                        .into_iter()
                        .flat_map(|a| a.normalized())
                        .map(move |v| (i, v))
                });
                (kind, HashIndex::new(&hasher, values))
            })
            .collect();
        Tree {
            version,
            stale_at: None,
            base,
            entries: self.entries,
            by_key,
            index,
            agency_parents,
        }
    }
}

/// The operational attributes every stored entity carries, besides those an entry makes up
/// when read (entryDN, subschemaSubentry, hasSubordinates).
fn operational<'a>(
    uuid: &'a str,
    created: UnixTime,
    modified: UnixTime,
    structural: &'static str,
) -> [NewAttribute<'a>; 4] {
    [
        strings(&at::ENTRY_UUID, [uuid]),
        values(
            &at::CREATE_TIMESTAMP,
            [generalized_time(created).into_bytes()],
        ),
        values(
            &at::MODIFY_TIMESTAMP,
            [generalized_time(modified).into_bytes()],
        ),
        strings(&at::STRUCTURAL_OBJECT_CLASS, [structural]),
    ]
}

/// GeneralizedTime in UTC: `20261127080000Z`.
pub fn generalized_time(t: UnixTime) -> String {
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    OffsetDateTime::from_unix_timestamp(t.0)
        .ok()
        .and_then(|dt| dt.format(&format).ok())
        .unwrap_or_else(|| "19700101000000Z".into())
}

impl SnapshotView for Tree {
    fn version(&self) -> i64 {
        self.version
    }

    fn stale_at(&self) -> Option<UnixTime> {
        self.stale_at
    }
}

/// The current tree, rebuilt when the directory version moves.
pub type TreeCache = Following<Tree>;

/// The tree for `base_dn`, built first from `first`, following the directory (see
/// [`Following`]).
pub fn follow_tree(
    directory: Directory,
    base_dn: String,
    refresh: Duration,
    first: &DirectorySnapshot,
) -> TreeCache {
    Following::from_snapshots(directory, refresh, first, move |snapshot| {
        Tree::build(snapshot, &base_dn)
    })
}
