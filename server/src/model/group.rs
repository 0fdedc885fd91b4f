//! Groups and distribution lists: members are officials or other groups, nested.

use super::{AgencyId, GroupId, OfficialId};
use crate::clock::UnixTime;

/// Whether a group exists for access control or for mail distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// A security group other systems can check membership of (`memberOf`).
    Group,
    /// A distribution list with its own address.
    List,
}

impl GroupKind {
    /// The name used in storage and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Group => "group",
            GroupKind::List => "list",
        }
    }
}

/// A group as stored in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub uuid: String,
    /// Short name, lowercase (LDAP `cn`).
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub kind: GroupKind,
    pub agency_id: Option<AgencyId>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// What an administrator supplies to add a group.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub kind: GroupKind,
    pub agency_code: Option<String>,
    /// The list's address, when mail to the group should reach its members.
    pub address: Option<String>,
}

/// A direct member of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupMember {
    Official(OfficialId),
    Group(GroupId),
}
