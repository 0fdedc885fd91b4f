//! SQL for service accounts.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{AgencyId, PasswordHash, ServiceAccount, ServiceAccountId};

const COLUMNS: &str = "id, uuid, name, description, password_hash, scope_agency_id, \
     may_reset_passwords, status, created_at, updated_at";

#[derive(FromRow)]
struct ServiceAccountRow {
    id: i64,
    uuid: String,
    name: String,
    description: Option<String>,
    password_hash: String,
    scope_agency_id: Option<i64>,
    may_reset_passwords: bool,
    status: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ServiceAccountRow> for ServiceAccount {
    type Error = StoreError;

    fn try_from(r: ServiceAccountRow) -> Result<Self, StoreError> {
        Ok(ServiceAccount {
            id: ServiceAccountId(r.id),
            uuid: r.uuid,
            description: r.description,
            password_hash: PasswordHash(r.password_hash),
            scope_agency_id: r.scope_agency_id.map(AgencyId),
            may_reset_passwords: r.may_reset_passwords,
            status: r
                .status
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("service account {} status", r.name)))?,
            created_at: UnixTime(r.created_at),
            updated_at: UnixTime(r.updated_at),
            name: r.name,
        })
    }
}

impl Conn {
    /// Inserts a service account; `s.id` is ignored and the assigned id returned.
    pub async fn insert_service_account(
        &mut self,
        s: &ServiceAccount,
    ) -> Result<ServiceAccountId, StoreError> {
        let sql = "INSERT INTO service_accounts (uuid, name, description, password_hash, scope_agency_id, \
             may_reset_passwords, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let id: i64 = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(&s.uuid)
            .bind(&s.name)
            .bind(&s.description)
            .bind(&s.password_hash.0)
            .bind(s.scope_agency_id.map(|a| a.0))
            .bind(s.may_reset_passwords)
            .bind(s.status.as_str())
            .bind(s.created_at.0)
            .bind(s.updated_at.0)
            .fetch_one(&mut *c)
            .await)?;
        Ok(ServiceAccountId(id))
    }

    /// The service account called `name`.
    pub async fn service_account_by_name(
        &mut self,
        name: &str,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM service_accounts WHERE name = $1");
        let row: Option<ServiceAccountRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(name).fetch_optional(&mut *c).await)?;
        row.map(ServiceAccount::try_from).transpose()
    }

    /// Every service account, by name.
    pub async fn service_accounts(&mut self) -> Result<Vec<ServiceAccount>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM service_accounts ORDER BY name");
        let rows: Vec<ServiceAccountRow> =
            on_backend!(self, c => sqlx::query_as(&sql).fetch_all(&mut *c).await)?;
        rows.into_iter().map(ServiceAccount::try_from).collect()
    }

    /// Deletes a service account; returns whether it existed.
    pub async fn delete_service_account(
        &mut self,
        id: ServiceAccountId,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM service_accounts WHERE id = $1";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
