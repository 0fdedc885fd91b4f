//! SQL for groups, distribution lists and their (nested) membership.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{AgencyId, Group, GroupId, GroupKind, GroupMember, OfficialId};

const COLUMNS: &str =
    "id, uuid, name, display_name, description, kind, agency_id, created_at, updated_at";

#[derive(FromRow)]
struct GroupRow {
    id: i64,
    uuid: String,
    name: String,
    display_name: String,
    description: Option<String>,
    kind: String,
    agency_id: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<GroupRow> for Group {
    type Error = StoreError;

    fn try_from(r: GroupRow) -> Result<Self, StoreError> {
        let kind = match r.kind.as_str() {
            "group" => GroupKind::Group,
            "list" => GroupKind::List,
            other => return Err(StoreError::Corrupt(format!("group kind {other:?}"))),
        };
        Ok(Group {
            id: GroupId(r.id),
            uuid: r.uuid,
            name: r.name,
            display_name: r.display_name,
            description: r.description,
            kind,
            agency_id: r.agency_id.map(AgencyId),
            created_at: UnixTime(r.created_at),
            updated_at: UnixTime(r.updated_at),
        })
    }
}

#[derive(FromRow)]
struct MemberRow {
    official_id: Option<i64>,
    member_group_id: Option<i64>,
}

fn member_ids(member: GroupMember) -> (Option<i64>, Option<i64>) {
    match member {
        GroupMember::Official(id) => (Some(id.0), None),
        GroupMember::Group(id) => (None, Some(id.0)),
    }
}

impl Conn {
    /// Inserts a group; `g.id` is ignored and the assigned id returned.
    pub async fn insert_group(&mut self, g: &Group) -> Result<GroupId, StoreError> {
        let sql = "INSERT INTO directory_groups (uuid, name, display_name, description, kind, agency_id, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        let id: i64 = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(&g.uuid)
            .bind(&g.name)
            .bind(&g.display_name)
            .bind(&g.description)
            .bind(g.kind.as_str())
            .bind(g.agency_id.map(|a| a.0))
            .bind(g.created_at.0)
            .bind(g.updated_at.0)
            .fetch_one(&mut *c)
            .await)?;
        Ok(GroupId(id))
    }

    /// The group called `name` (lowercase).
    pub async fn group_by_name(&mut self, name: &str) -> Result<Option<Group>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM directory_groups WHERE name = $1");
        let row: Option<GroupRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(name).fetch_optional(&mut *c).await)?;
        row.map(Group::try_from).transpose()
    }

    /// Every group, by name.
    pub async fn groups(&mut self) -> Result<Vec<Group>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM directory_groups ORDER BY name");
        let rows: Vec<GroupRow> =
            on_backend!(self, c => sqlx::query_as(&sql).fetch_all(&mut *c).await)?;
        rows.into_iter().map(Group::try_from).collect()
    }

    /// Adds a direct member to a group.
    pub async fn insert_group_member(
        &mut self,
        group: GroupId,
        member: GroupMember,
    ) -> Result<(), StoreError> {
        let (official, sub_group) = member_ids(member);
        let sql = "INSERT INTO group_members (group_id, official_id, member_group_id) VALUES ($1, $2, $3)";
        on_backend!(self, c => sqlx::query(sql)
            .bind(group.0)
            .bind(official)
            .bind(sub_group)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Removes a direct member; returns whether it was one.
    pub async fn delete_group_member(
        &mut self,
        group: GroupId,
        member: GroupMember,
    ) -> Result<bool, StoreError> {
        let (official, sub_group) = member_ids(member);
        let sql = "DELETE FROM group_members WHERE group_id = $1 AND (official_id = $2 OR member_group_id = $3)";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(group.0)
            .bind(official)
            .bind(sub_group)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The direct members of a group.
    pub async fn group_members(&mut self, group: GroupId) -> Result<Vec<GroupMember>, StoreError> {
        let sql = "SELECT official_id, member_group_id FROM group_members WHERE group_id = $1 \
             ORDER BY official_id, member_group_id";
        let rows: Vec<MemberRow> =
            on_backend!(self, c => sqlx::query_as(sql).bind(group.0).fetch_all(&mut *c).await)?;
        rows.into_iter()
            .map(|r| match (r.official_id, r.member_group_id) {
                (Some(o), None) => Ok(GroupMember::Official(OfficialId(o))),
                (None, Some(g)) => Ok(GroupMember::Group(GroupId(g))),
                _ => Err(StoreError::Corrupt(format!(
                    "group {} has a member row with no single member",
                    group.0
                ))),
            })
            .collect()
    }

    /// Every group that contains `member`, directly or through nesting, by name (for an
    /// official: LDAP `memberOf`; for a group: the groups it must never be made to contain).
    pub async fn groups_containing(
        &mut self,
        member: GroupMember,
    ) -> Result<Vec<Group>, StoreError> {
        let (official, group) = member_ids(member);
        let sql = format!(
            "WITH RECURSIVE containing (id) AS ( \
                 SELECT group_id FROM group_members WHERE official_id = $1 OR member_group_id = $2 \
                 UNION \
                 SELECT m.group_id FROM group_members m JOIN containing c ON m.member_group_id = c.id) \
             SELECT {cols} FROM directory_groups g JOIN containing c ON g.id = c.id ORDER BY g.name",
            cols = super::agencies::prefixed("g", COLUMNS)
        );
        let rows: Vec<GroupRow> = on_backend!(self, c => sqlx::query_as(&sql)
            .bind(official)
            .bind(group)
            .fetch_all(&mut *c)
            .await)?;
        rows.into_iter().map(Group::try_from).collect()
    }
}
