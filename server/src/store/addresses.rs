//! SQL for the one namespace of local addresses (officials' primary addresses and aliases,
//! group lists, agency addresses).

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{AddressEntry, AddressOwner, AgencyId, DomainId, GroupId, OfficialId};

#[derive(FromRow)]
struct AddressRow {
    address: String,
    official_id: Option<i64>,
    group_id: Option<i64>,
    agency_id: Option<i64>,
    is_primary: bool,
}

impl TryFrom<AddressRow> for AddressEntry {
    type Error = StoreError;

    fn try_from(r: AddressRow) -> Result<Self, StoreError> {
        let owner = match (r.official_id, r.group_id, r.agency_id) {
            (Some(id), None, None) => AddressOwner::Official(OfficialId(id)),
            (None, Some(id), None) => AddressOwner::Group(GroupId(id)),
            (None, None, Some(id)) => AddressOwner::Agency(AgencyId(id)),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "address {} has no single owner",
                    r.address
                )))
            }
        };
        Ok(AddressEntry {
            address: r.address,
            owner,
            is_primary: r.is_primary,
        })
    }
}

fn owner_ids(owner: AddressOwner) -> (Option<i64>, Option<i64>, Option<i64>) {
    match owner {
        AddressOwner::Official(id) => (Some(id.0), None, None),
        AddressOwner::Group(id) => (None, Some(id.0), None),
        AddressOwner::Agency(id) => (None, None, Some(id.0)),
    }
}

const COLUMNS: &str = "address, official_id, group_id, agency_id, is_primary";

impl Conn {
    /// Claims a local address for its owner.
    pub async fn insert_address(
        &mut self,
        entry: &AddressEntry,
        domain: DomainId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let (official, group, agency) = owner_ids(entry.owner);
        let sql = "INSERT INTO addresses (address, domain_id, official_id, group_id, agency_id, is_primary, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_backend!(self, c => sqlx::query(sql)
            .bind(&entry.address)
            .bind(domain.0)
            .bind(official)
            .bind(group)
            .bind(agency)
            .bind(entry.is_primary)
            .bind(now.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Who owns `address` (lowercase), if anyone.
    pub async fn address_entry(
        &mut self,
        address: &str,
    ) -> Result<Option<AddressEntry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM addresses WHERE address = $1");
        let row: Option<AddressRow> = on_backend!(self, c => sqlx::query_as(&sql).bind(address).fetch_optional(&mut *c).await)?;
        row.map(AddressEntry::try_from).transpose()
    }

    /// Every address of `owner`, primary first.
    pub async fn addresses_of(
        &mut self,
        owner: AddressOwner,
    ) -> Result<Vec<AddressEntry>, StoreError> {
        let (official, group, agency) = owner_ids(owner);
        let sql = format!(
            "SELECT {COLUMNS} FROM addresses WHERE official_id = $1 OR group_id = $2 OR agency_id = $3 \
             ORDER BY is_primary DESC, address"
        );
        let rows: Vec<AddressRow> = on_backend!(self, c => sqlx::query_as(&sql)
            .bind(official)
            .bind(group)
            .bind(agency)
            .fetch_all(&mut *c)
            .await)?;
        rows.into_iter().map(AddressEntry::try_from).collect()
    }

    /// Releases a non-primary address; returns whether it existed.
    pub async fn delete_alias(&mut self, address: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM addresses WHERE address = $1 AND NOT is_primary";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(address)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
