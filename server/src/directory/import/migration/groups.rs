//! The groups of a migration: names congvu accepts made from the old `cn`, members resolved
//! to the officials and groups of the plan or of the directory, groups already there given
//! only the members they lack, and cycles of nesting refused with the groups and lines that
//! form them (congvu never lets a group contain itself).

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::{changed_since_plan, served_address, Known, MigrationPlan, OfficialFate, Rejection};
use crate::directory::{
    ascii_word, audit_record, normalize_login, optional_attribute, required_attribute, Actor,
    AddressEntry, AddressOwner, AgencyId, AuditRecord, Directory, DirectoryError, Group, GroupId,
    GroupKind, GroupMember, MailDomain, OfficialId,
};
use crate::store::Conn;

/// A group as the old directory held it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigratedGroup {
    /// Where the entry starts in the export.
    pub line: u64,
    /// The old `cn`: the display name, and the name when congvu accepts it as one.
    pub name: String,
    pub description: Option<String>,
    /// The list's address (`mail`), when mail to the group reached its members.
    pub address: Option<String>,
    /// The congvu agency the caller mapped the entry to, if any.
    pub agency_code: Option<String>,
    pub members: Vec<MigratedMember>,
}

/// A member of a migrated group, by its place in the slices handed to the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MigratedMember {
    Official(usize),
    Group(usize),
}

/// A group the migration creates, or one already there that gains members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedGroup {
    pub line: u64,
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    /// The list's address to claim (never for a group already there).
    pub address: Option<String>,
    pub agency: Option<AgencyId>,
    /// Set for a group already in the directory: only `members` are added to it.
    pub existing: Option<GroupId>,
    /// The members to add, with how the report names them (`official:annv`).
    pub members: Vec<(PlannedMember, String)>,
}

/// A member to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlannedMember {
    /// An official the plan creates, by index in `MigrationPlan::officials`.
    NewOfficial(usize),
    /// An official already in the directory.
    Official(OfficialId),
    /// A group the plan creates, by index in `MigrationPlan::groups`.
    NewGroup(usize),
    /// A group already in the directory.
    Group(GroupId),
}

/// A group of the export that passed its own checks.
struct Accepted {
    input: usize,
    planned: PlannedGroup,
    /// Direct members it already has, when it exists.
    has: HashSet<GroupMember>,
}

/// Plans `groups` into `plan`, after its officials (`fates` says where each went).
pub(super) async fn plan_groups(
    conn: &mut Conn,
    officials: &[super::MigratedOfficial],
    groups: &[MigratedGroup],
    fates: &[OfficialFate],
    known: &Known,
    claimed: &mut super::Claimed,
    plan: &mut MigrationPlan,
) -> Result<(), DirectoryError> {
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut names: HashMap<String, u64> = HashMap::new();
    for (input, group) in groups.iter().enumerate() {
        match check_group(conn, group, known, claimed, &mut names).await? {
            Ok((planned, has)) => accepted.push(Accepted {
                input,
                planned,
                has,
            }),
            Err(reason) => plan.rejected.push(Rejection {
                line: group.line,
                reason,
            }),
        }
    }
    reject_cycles(conn, groups, &mut accepted, plan).await?;
    let resolver = Resolver {
        officials,
        groups,
        fates,
        accepted: &accepted,
        slot: accepted
            .iter()
            .enumerate()
            .map(|(i, a)| (a.input, i))
            .collect(),
    };
    let members: Vec<_> = accepted
        .iter()
        .map(|a| resolver.members_to_add(a, plan))
        .collect();
    place(accepted, members, plan);
    Ok(())
}

/// Finds the members of accepted groups in the plan.
struct Resolver<'a> {
    officials: &'a [super::MigratedOfficial],
    groups: &'a [MigratedGroup],
    fates: &'a [OfficialFate],
    accepted: &'a [Accepted],
    /// Position in `accepted` of each group of the export that was accepted.
    slot: HashMap<usize, usize>,
}

impl Resolver<'_> {
    /// The members `a` lacks, each once. `NewGroup` members point into `accepted` until
    /// [`place`] renumbers them. Members that were not migrated are noted and left out.
    fn members_to_add(
        &self,
        a: &Accepted,
        plan: &mut MigrationPlan,
    ) -> Vec<(PlannedMember, String)> {
        let group = &self.groups[a.input];
        let mut list = Vec::new();
        let mut seen = HashSet::new();
        for member in &group.members {
            let resolved = match *member {
                MigratedMember::Official(i) => official_member(self.officials, self.fates, plan, i),
                MigratedMember::Group(j) => self.group_member(j),
            };
            match resolved {
                Ok((m, label)) => {
                    let already = match m {
                        PlannedMember::Official(id) => a.has.contains(&GroupMember::Official(id)),
                        PlannedMember::Group(id) => a.has.contains(&GroupMember::Group(id)),
                        _ => false,
                    };
                    if !already && seen.insert(m) {
                        list.push((m, label));
                    }
                }
                Err(what) => plan.notes.push(Rejection {
                    line: group.line,
                    reason: format!(
                        "group {}: its member {what} was not migrated, so it is left out",
                        a.planned.name
                    ),
                }),
            }
        }
        list
    }

    /// Group `j` of the export as a member, or what to call it in a note.
    fn group_member(&self, j: usize) -> Result<(PlannedMember, String), String> {
        match self.slot.get(&j) {
            Some(&k) => {
                let target = &self.accepted[k];
                let member = match target.planned.existing {
                    Some(id) => PlannedMember::Group(id),
                    None => PlannedMember::NewGroup(k),
                };
                Ok((member, format!("group:{}", target.planned.name)))
            }
            None => Err(self.groups.get(j).map_or_else(
                || "a group".to_string(),
                |g| format!("{} (line {})", g.name, g.line),
            )),
        }
    }
}

/// Puts the accepted groups in the plan: new ones, and ones already there that lack
/// members; the others are noted as present. New groups' positions are renumbered from
/// `accepted` to the plan (a new group is never left out, so each has a number).
fn place(
    accepted: Vec<Accepted>,
    members: Vec<Vec<(PlannedMember, String)>>,
    plan: &mut MigrationPlan,
) {
    let mut renumbered: HashMap<usize, usize> = HashMap::new();
    for (k, (a, list)) in accepted.into_iter().zip(members).enumerate() {
        if a.planned.existing.is_some() && list.is_empty() {
            plan.groups_present.push((a.planned.line, a.planned.name));
            continue;
        }
        renumbered.insert(k, plan.groups.len());
        plan.groups.push(PlannedGroup {
            members: list,
            ..a.planned
        });
    }
    for group in &mut plan.groups {
        for (member, _) in &mut group.members {
            if let PlannedMember::NewGroup(k) = member {
                *k = renumbered.get(k).copied().unwrap_or(*k);
            }
        }
    }
}

/// The planned member for official `i` of the export, or what to call it in a note.
fn official_member(
    officials: &[super::MigratedOfficial],
    fates: &[OfficialFate],
    plan: &MigrationPlan,
    i: usize,
) -> Result<(PlannedMember, String), String> {
    match fates.get(i) {
        Some(OfficialFate::New(k)) => Ok((
            PlannedMember::NewOfficial(*k),
            format!("official:{}", plan.officials[*k].login),
        )),
        Some(OfficialFate::Present(id, login)) => {
            Ok((PlannedMember::Official(*id), format!("official:{login}")))
        }
        _ => Err(officials.get(i).map_or_else(
            || "an official".to_string(),
            |o| format!("{} (line {})", o.login, o.line),
        )),
    }
}

/// The group's name: the old `cn` when congvu accepts it, else its words in ASCII joined by
/// `-` (`Phòng Kế toán` becomes `phong-ke-toan`).
fn group_name(cn: &str) -> Option<String> {
    if let Ok(name) = normalize_login(cn) {
        return Some(name);
    }
    let words: Vec<String> = cn
        .split(|c: char| c.is_whitespace() || matches!(c, '-' | '_' | '.' | ','))
        .map(ascii_word)
        .filter(|w| !w.is_empty())
        .collect();
    normalize_login(&words.join("-")).ok()
}

/// Checks one group on its own: its name, texts, agency and address. The inner error is the
/// reason to reject it; the outer one a failure to read the directory.
async fn check_group(
    conn: &mut Conn,
    group: &MigratedGroup,
    known: &Known,
    claimed: &mut super::Claimed,
    names: &mut HashMap<String, u64>,
) -> Result<Result<(PlannedGroup, HashSet<GroupMember>), String>, DirectoryError> {
    let Some(name) = group_name(&group.name) else {
        return Ok(Err(format!(
            "group \"{}\": no usable group name can be made from its cn",
            group.name
        )));
    };
    if let Some(first) = names.get(&name) {
        return Ok(Err(format!(
            "group \"{}\" would be named {name}, as the group on line {first} is",
            group.name
        )));
    }
    names.insert(name.clone(), group.line);
    let checked = (|| {
        let display = required_attribute("group name", &group.name)?;
        let description = optional_attribute("description", group.description.as_deref())?;
        Ok::<_, DirectoryError>((display, description))
    })();
    let (display_name, description) = match checked {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("group {name}: {e}"))),
    };
    let agency = match &group.agency_code {
        Some(code) => match known.agencies.get(code) {
            Some(a) => Some(a.id),
            None => {
                return Ok(Err(format!(
                    "group {name}: the agency {code} does not exist in congvu: add it with `congvu-admin agency add`, or map the entry to another"
                )))
            }
        },
        None => None,
    };
    let existing = conn.group_by_name(&name).await?;
    let (address, has) = match &existing {
        Some(g) => {
            let has = conn.group_members(g.id).await?.into_iter().collect();
            (None, has)
        }
        None => match &group.address {
            Some(text) => match group_address(text, group.line, known, claimed) {
                Ok(a) => (Some(a), HashSet::new()),
                Err(e) => return Ok(Err(format!("group {name}: {e}"))),
            },
            None => (None, HashSet::new()),
        },
    };
    Ok(Ok((
        PlannedGroup {
            line: group.line,
            name,
            display_name,
            description,
            address,
            agency,
            existing: existing.map(|g| g.id),
            members: Vec::new(),
        },
        has,
    )))
}

/// A new list's address: served, and held by nobody in the directory or the export.
fn group_address(
    text: &str,
    line: u64,
    known: &Known,
    claimed: &mut super::Claimed,
) -> Result<String, String> {
    let address = served_address(text, known)?;
    if let Some(first) = claimed.addresses.get(&address) {
        return Err(format!("address {address} is already on line {first}"));
    }
    if known.addresses.contains_key(&address) {
        return Err(format!(
            "address {address} already belongs to someone in congvu"
        ));
    }
    claimed.addresses.insert(address.clone(), line);
    Ok(address)
}

/// Rejects every accepted group that lies on a cycle of nesting: through the export's
/// memberships, the directory's memberships among groups already there, or (for a group
/// already there) the groups that already contain it.
async fn reject_cycles(
    conn: &mut Conn,
    groups: &[MigratedGroup],
    accepted: &mut Vec<Accepted>,
    plan: &mut MigrationPlan,
) -> Result<(), DirectoryError> {
    let edges = nesting(conn, groups, accepted).await?;
    let mut on_cycle: Vec<Vec<usize>> = strongly_connected(&edges)
        .into_iter()
        .filter(|c| c.len() > 1 || edges[c[0]].contains(&c[0]))
        .collect();
    if on_cycle.is_empty() {
        return Ok(());
    }
    let mut dropped = HashSet::new();
    for cycle in &mut on_cycle {
        cycle.sort_by_key(|&k| accepted[k].planned.line);
        let named: Vec<String> = cycle
            .iter()
            .map(|&k| {
                format!(
                    "{} (line {})",
                    accepted[k].planned.name, accepted[k].planned.line
                )
            })
            .collect();
        let reason = format!(
            "the groups {} contain each other: congvu does not let a group contain itself, so remove one of these memberships from the export",
            named.join(", ")
        );
        for &k in cycle.iter() {
            plan.rejected.push(Rejection {
                line: accepted[k].planned.line,
                reason: reason.clone(),
            });
            dropped.insert(k);
        }
    }
    let mut k = 0;
    accepted.retain(|_| {
        let keep = !dropped.contains(&k);
        k += 1;
        keep
    });
    Ok(())
}

/// The nesting among accepted groups, as adjacency lists over their positions: through the
/// export's memberships, the directory's memberships among groups already there, and the
/// groups outside the export that already contain one (which close a cycle through the
/// directory when that one is made to contain any of them).
async fn nesting(
    conn: &mut Conn,
    groups: &[MigratedGroup],
    accepted: &[Accepted],
) -> Result<Vec<Vec<usize>>, DirectoryError> {
    let position: HashMap<usize, usize> = accepted
        .iter()
        .enumerate()
        .map(|(k, a)| (a.input, k))
        .collect();
    let by_id: HashMap<GroupId, usize> = accepted
        .iter()
        .enumerate()
        .filter_map(|(k, a)| a.planned.existing.map(|id| (id, k)))
        .collect();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); accepted.len()];
    for (k, a) in accepted.iter().enumerate() {
        for member in &groups[a.input].members {
            if let MigratedMember::Group(j) = member {
                if let Some(&to) = position.get(j) {
                    edges[k].push(to);
                }
            }
        }
        for member in &a.has {
            if let GroupMember::Group(id) = member {
                if let Some(&to) = by_id.get(id) {
                    edges[k].push(to);
                }
            }
        }
        if let Some(id) = a.planned.existing {
            for outer in conn.groups_containing(GroupMember::Group(id)).await? {
                if let Some(&from) = by_id.get(&outer.id) {
                    edges[from].push(k);
                }
            }
        }
    }
    Ok(edges)
}

/// The strongly connected components of a graph given as adjacency lists (Tarjan's
/// algorithm, iterative so that a deep nesting cannot exhaust the stack).
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let (mut index, mut low) = (vec![usize::MAX; n], vec![0; n]);
    let (mut on_stack, mut stack) = (vec![false; n], Vec::new());
    let (mut next, mut components) = (0, Vec::new());
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, position in its edge list)
        let mut walk = vec![(root, 0usize)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut i)) = walk.last_mut() {
            if let Some(&w) = edges[v].get(*i) {
                *i += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    walk.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            walk.pop();
            if let Some(&(parent, _)) = walk.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

/// Creates the plan's new groups with their addresses and adds every planned member, in
/// `tx`. Returns how many groups were created and members added.
pub(super) async fn apply_groups(
    directory: &Directory,
    tx: &mut Conn,
    plan: &MigrationPlan,
    officials: &[OfficialId],
    domains: &HashMap<String, MailDomain>,
) -> Result<(usize, usize), DirectoryError> {
    let now = directory.now();
    let mut ids = Vec::with_capacity(plan.groups.len());
    let mut created = 0;
    for planned in &plan.groups {
        if let Some(id) = planned.existing {
            ids.push(id);
            continue;
        }
        let group = Group {
            id: GroupId(0),
            uuid: Directory::new_uuid(),
            name: planned.name.clone(),
            display_name: planned.display_name.clone(),
            description: planned.description.clone(),
            kind: if planned.address.is_some() {
                GroupKind::List
            } else {
                GroupKind::Group
            },
            agency_id: planned.agency,
            created_at: now,
            updated_at: now,
        };
        let id = tx
            .insert_group(&group)
            .await
            .map_err(|e| changed_since_plan(e.into()))?;
        if let Some(address) = &planned.address {
            let entry = AddressEntry {
                address: address.clone(),
                owner: AddressOwner::Group(id),
                is_primary: false,
            };
            let domain = super::domain_of(domains, address)?;
            tx.insert_address(&entry, domain.id, now)
                .await
                .map_err(|e| changed_since_plan(e.into()))?;
        }
        ids.push(id);
        created += 1;
    }
    let mut added = 0;
    for (planned, id) in plan.groups.iter().zip(&ids) {
        for (member, _) in &planned.members {
            let member = match *member {
                PlannedMember::NewOfficial(k) => GroupMember::Official(officials[k]),
                PlannedMember::Official(o) => GroupMember::Official(o),
                PlannedMember::NewGroup(k) => GroupMember::Group(ids[k]),
                PlannedMember::Group(g) => GroupMember::Group(g),
            };
            tx.insert_group_member(*id, member)
                .await
                .map_err(|e| changed_since_plan(e.into()))?;
            added += 1;
        }
    }
    Ok((created, added))
}

/// One audit row per created group, and one per group already there that gained members.
pub(super) fn audit_records(actor: &Actor, plan: &MigrationPlan) -> Vec<AuditRecord> {
    plan.groups
        .iter()
        .map(|g| {
            let members: Vec<&str> = g.members.iter().map(|(_, l)| l.as_str()).collect();
            let (action, after) = match g.existing {
                None => (
                    "group.migrate",
                    json!({ "name": g.name, "address": g.address, "members": members }),
                ),
                Some(_) => ("group.add_members", json!({ "members": members })),
            };
            audit_record(
                actor,
                action,
                format!("group:{}", g.name),
                None,
                Some(after),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_and_trees_are_not() {
        // 0 → 1 → 2 → 0 is a cycle; 3 → 0 and 4 alone are not; 5 contains itself.
        let edges = vec![vec![1], vec![2], vec![0], vec![0], vec![], vec![5]];
        let mut cycles: Vec<Vec<usize>> = strongly_connected(&edges)
            .into_iter()
            .filter(|c| c.len() > 1 || edges[c[0]].contains(&c[0]))
            .map(|mut c| {
                c.sort();
                c
            })
            .collect();
        cycles.sort();
        assert_eq!(cycles, vec![vec![0, 1, 2], vec![5]]);
    }

    #[test]
    fn a_deep_chain_does_not_exhaust_the_stack() {
        let n = 200_000;
        let edges: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        assert_eq!(strongly_connected(&edges).len(), n);
    }

    #[test]
    fn group_names_come_from_the_old_cn() {
        assert_eq!(group_name("lanhdao").as_deref(), Some("lanhdao"));
        assert_eq!(
            group_name("Phòng Kế toán").as_deref(),
            Some("phong-ke-toan")
        );
        assert_eq!(
            group_name("Đảng ủy, Công đoàn").as_deref(),
            Some("dang-uy-cong-doan")
        );
        assert_eq!(group_name("***"), None);
    }
}
