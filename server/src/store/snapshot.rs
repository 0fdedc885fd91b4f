//! SQL for reading the whole directory at once (the LDAP snapshot): one statement per
//! relation, never one per entity, so a province of 10,000 officials loads in a few queries.

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{AgencyId, GroupId, GroupMember, OfficialId};

impl Conn {
    /// Every official's non-primary addresses: `(official, address)` by official, address.
    pub async fn all_official_aliases(&mut self) -> Result<Vec<(OfficialId, String)>, StoreError> {
        let sql = "SELECT official_id, address FROM addresses \
             WHERE official_id IS NOT NULL AND NOT is_primary ORDER BY official_id, address";
        let rows: Vec<(i64, String)> =
            on_backend!(self, c => sqlx::query_as(sql).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(|(o, a)| (OfficialId(o), a)).collect())
    }

    /// Every agency's own addresses: `(agency, address)` by address.
    pub async fn all_agency_addresses(&mut self) -> Result<Vec<(AgencyId, String)>, StoreError> {
        let sql =
            "SELECT agency_id, address FROM addresses WHERE agency_id IS NOT NULL ORDER BY address";
        let rows: Vec<(i64, String)> =
            on_backend!(self, c => sqlx::query_as(sql).fetch_all(&mut *c).await)?;
        Ok(rows
            .into_iter()
            .map(|(a, address)| (AgencyId(a), address))
            .collect())
    }

    /// The names of every mail domain congvu serves.
    pub async fn domain_names(&mut self) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT name FROM domains ORDER BY name";
        Ok(on_backend!(self, c => sqlx::query_scalar(sql).fetch_all(&mut *c).await)?)
    }

    /// Every direct group membership: `(group, member)`.
    pub async fn all_group_members(&mut self) -> Result<Vec<(GroupId, GroupMember)>, StoreError> {
        let sql = "SELECT group_id, official_id, member_group_id FROM group_members \
             ORDER BY group_id, official_id, member_group_id";
        let rows: Vec<(i64, Option<i64>, Option<i64>)> =
            on_backend!(self, c => sqlx::query_as(sql).fetch_all(&mut *c).await)?;
        rows.into_iter()
            .map(|(group, official, nested)| match (official, nested) {
                (Some(o), None) => Ok((GroupId(group), GroupMember::Official(OfficialId(o)))),
                (None, Some(g)) => Ok((GroupId(group), GroupMember::Group(GroupId(g)))),
                _ => Err(StoreError::Corrupt(format!(
                    "group {group} has a member row with no single member"
                ))),
            })
            .collect()
    }

    /// Each official's certificate in force at `now` (not revoked, within its validity),
    /// the one that stays valid longest when there are several: `(official, DER, not_after)`.
    pub async fn certificates_in_force(
        &mut self,
        now: UnixTime,
    ) -> Result<Vec<(OfficialId, Vec<u8>, UnixTime)>, StoreError> {
        let sql = "SELECT official_id, der, not_after FROM certificates \
             WHERE revoked_at IS NULL AND not_before <= $1 AND not_after >= $1 \
             ORDER BY official_id, not_after DESC, id DESC";
        let rows: Vec<(i64, Vec<u8>, i64)> =
            on_backend!(self, c => sqlx::query_as(sql).bind(now.0).fetch_all(&mut *c).await)?;
        let mut current: Vec<(OfficialId, Vec<u8>, UnixTime)> = Vec::new();
        for (official, der, not_after) in rows {
            if current.last().is_none_or(|(o, _, _)| o.0 != official) {
                current.push((OfficialId(official), der, UnixTime(not_after)));
            }
        }
        Ok(current)
    }

    /// The earliest start of validity after `now` among unrevoked certificates.
    pub async fn next_certificate_start(
        &mut self,
        now: UnixTime,
    ) -> Result<Option<UnixTime>, StoreError> {
        let sql =
            "SELECT MIN(not_before) FROM certificates WHERE revoked_at IS NULL AND not_before > $1";
        let at: Option<i64> =
            on_backend!(self, c => sqlx::query_scalar(sql).bind(now.0).fetch_one(&mut *c).await)?;
        Ok(at.map(UnixTime))
    }
}
