//! Directory operations on groups and distribution lists: adding them, their members
//! (officials or other groups, nested), expanding them to officials, and listing them.

use serde_json::json;

use super::agency_ops::agency_in;
use super::official_ops::official_in;
use super::{
    name_taken, normalize_login, not_found, optional_attribute, required_attribute, Actor,
    AddressOwner, AgencyId, Directory, DirectoryError, Group, GroupMember, NewGroup, Official,
    OfficialListing,
};
use crate::model::{EntityKind, GroupId};
use crate::store::{Conn, UniqueKey};
use std::collections::HashMap;

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
    /// Adds a group or distribution list, with its address when given.
    pub async fn add_group(&self, actor: &Actor, new: NewGroup) -> Result<Group, DirectoryError> {
        let name = normalize_login(&new.name).map_err(|_| {
            DirectoryError::Invalid(format!(
                "\"{}\" is not a group name: use letters, digits, '.', '-' or '_'",
                new.name
            ))
        })?;
        let mut tx = self.store.begin().await?;
        let agency_id = match &new.agency_code {
            Some(code) => Some(agency_in(&mut tx, code).await?.id),
            None => None,
        };
        let now = self.now();
        let mut group = Group {
            id: GroupId(0),
            uuid: Self::new_uuid(),
            name,
            display_name: required_attribute("group display name", &new.display_name)?,
            description: optional_attribute("description", new.description.as_deref())?,
            kind: new.kind,
            agency_id,
            created_at: now,
            updated_at: now,
        };
        group.id = tx
            .insert_group(&group)
            .await
            .map_err(|e| name_taken(e.into(), &[(UniqueKey::GroupName, &group.name)]))?;
        let address = match &new.address {
            Some(a) => Some(
                self.claim_address(&mut tx, a, AddressOwner::Group(group.id), false)
                    .await?,
            ),
            None => None,
        };
        let after = json!({ "name": group.name, "kind": group.kind.as_str(), "address": address });
        self.commit_change(
            tx,
            actor,
            "group.add",
            format!("group:{}", group.name),
            None,
            Some(after),
        )
        .await?;
        Ok(group)
    }

    /// The group called `name`.
    pub async fn group(&self, name: &str) -> Result<Group, DirectoryError> {
        group_in(&mut self.read().await?, name).await
    }

    /// Adds a direct member to a group; nesting a group inside itself (directly or through
    /// others) is refused.
    pub async fn add_group_member(
        &self,
        actor: &Actor,
        group: &str,
        member: &MemberName,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.store.begin().await?;
        let group = group_in(&mut tx, group).await?;
        let (resolved, label) = resolve_member(&mut tx, member).await?;
        if let GroupMember::Group(inner) = resolved {
            if inner == group.id
                || tx
                    .groups_containing(GroupMember::Group(group.id))
                    .await?
                    .iter()
                    .any(|g| g.id == inner)
            {
                return Err(DirectoryError::Invalid(format!(
                    "cannot add {label} to {}: it would contain itself",
                    group.name
                )));
            }
        }
        tx.insert_group_member(group.id, resolved)
            .await
            .map_err(|e| name_taken(e.into(), &[(UniqueKey::GroupMember, &label)]))?;
        let after = json!({ "member": label });
        self.commit_change(
            tx,
            actor,
            "group.add_member",
            format!("group:{}", group.name),
            None,
            Some(after),
        )
        .await
    }

    /// Removes a direct member from a group.
    pub async fn remove_group_member(
        &self,
        actor: &Actor,
        group: &str,
        member: &MemberName,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.store.begin().await?;
        let group = group_in(&mut tx, group).await?;
        let (resolved, label) = resolve_member(&mut tx, member).await?;
        if !tx.delete_group_member(group.id, resolved).await? {
            return Err(not_found(EntityKind::Member, &label));
        }
        let before = json!({ "member": label });
        self.commit_change(
            tx,
            actor,
            "group.remove_member",
            format!("group:{}", group.name),
            Some(before),
            None,
        )
        .await
    }

    /// The direct members of a group.
    pub async fn group_members(&self, group: &str) -> Result<Vec<GroupMember>, DirectoryError> {
        let mut conn = self.read().await?;
        let group = group_in(&mut conn, group).await?;
        Ok(conn.group_members(group.id).await?)
    }

    /// Every official in a group, through nested groups, each once.
    pub async fn expand_group(&self, group: &str) -> Result<Vec<Official>, DirectoryError> {
        let mut conn = self.read().await?;
        let group = group_in(&mut conn, group).await?;
        Ok(conn.officials_in_group(group.id).await?)
    }

    /// The names of every group `login` belongs to, directly or through nesting.
    pub async fn groups_of_official(&self, login: &str) -> Result<Vec<String>, DirectoryError> {
        let mut conn = self.read().await?;
        let official = official_in(&mut conn, login).await?;
        let groups = conn
            .groups_containing(GroupMember::Official(official.id))
            .await?;
        Ok(groups.into_iter().map(|g| g.name).collect())
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

/// A group member named the way administrators name them.
#[derive(Debug, Clone)]
pub enum MemberName {
    /// An official, by login.
    Official(String),
    /// A nested group, by name.
    Group(String),
}

async fn group_in(conn: &mut Conn, name: &str) -> Result<Group, DirectoryError> {
    let name = name.trim().to_ascii_lowercase();
    conn.group_by_name(&name)
        .await?
        .ok_or_else(|| not_found(EntityKind::Group, &name))
}

async fn resolve_member(
    conn: &mut Conn,
    member: &MemberName,
) -> Result<(GroupMember, String), DirectoryError> {
    Ok(match member {
        MemberName::Official(login) => {
            let o = official_in(conn, login).await?;
            (GroupMember::Official(o.id), format!("official:{}", o.login))
        }
        MemberName::Group(name) => {
            let g = group_in(conn, name).await?;
            (GroupMember::Group(g.id), format!("group:{}", g.name))
        }
    })
}
