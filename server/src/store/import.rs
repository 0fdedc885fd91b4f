//! SQL for bulk import: what the planner needs about the whole directory, read in a few
//! queries instead of one per row.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::directory::{AgencyId, DomainId};

/// Who holds an HR id.
#[derive(Debug, Clone, FromRow)]
pub struct HrIdHolder {
    pub hr_id: String,
    pub login: String,
    pub agency_id: i64,
}

/// Who holds an address: an official (with login and agency) or something else.
#[derive(Debug, Clone, FromRow)]
pub struct AddressHolder {
    pub address: String,
    pub login: Option<String>,
    pub agency_id: Option<i64>,
}

impl HrIdHolder {
    /// The holder's agency.
    pub fn agency(&self) -> AgencyId {
        AgencyId(self.agency_id)
    }
}

impl Conn {
    /// Every login in the directory.
    pub async fn all_logins(&mut self) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT login FROM officials";
        Ok(on_backend!(self, c => sqlx::query_scalar(sql).fetch_all(&mut *c).await)?)
    }

    /// Every address in `domain`, with its official (if an official holds it).
    pub async fn address_holders(
        &mut self,
        domain: DomainId,
    ) -> Result<Vec<AddressHolder>, StoreError> {
        let sql = "SELECT a.address, o.login, o.agency_id FROM addresses a \
             LEFT JOIN officials o ON o.id = a.official_id WHERE a.domain_id = $1";
        Ok(on_backend!(self, c => sqlx::query_as(sql).bind(domain.0).fetch_all(&mut *c).await)?)
    }

    /// Every HR id in the directory and who holds it.
    pub async fn hr_id_holders(&mut self) -> Result<Vec<HrIdHolder>, StoreError> {
        let sql = "SELECT hr_id, login, agency_id FROM officials WHERE hr_id IS NOT NULL";
        Ok(on_backend!(self, c => sqlx::query_as(sql).fetch_all(&mut *c).await)?)
    }
}
