//! SQL for mail domains.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{DomainDkimKey, DomainId, MailDomain};

const COLUMNS: &str =
    "id, name, is_primary, default_quota_bytes, max_message_bytes, address_rule, \
     dkim_selector, require_tls_outbound, created_at, updated_at";

#[derive(FromRow)]
struct DomainRow {
    id: i64,
    name: String,
    is_primary: bool,
    default_quota_bytes: i64,
    max_message_bytes: i64,
    address_rule: String,
    dkim_selector: Option<String>,
    require_tls_outbound: bool,
    created_at: i64,
    updated_at: i64,
}

impl From<DomainRow> for MailDomain {
    fn from(r: DomainRow) -> Self {
        MailDomain {
            id: DomainId(r.id),
            name: r.name,
            is_primary: r.is_primary,
            default_quota_bytes: r.default_quota_bytes,
            max_message_bytes: r.max_message_bytes,
            address_rule: r.address_rule,
            dkim_selector: r.dkim_selector,
            require_tls_outbound: r.require_tls_outbound,
            created_at: UnixTime(r.created_at),
            updated_at: UnixTime(r.updated_at),
        }
    }
}

impl Conn {
    /// Inserts a domain; `d.id` is ignored and the assigned id returned.
    pub async fn insert_domain(&mut self, d: &MailDomain) -> Result<DomainId, StoreError> {
        let sql = "INSERT INTO domains (name, is_primary, default_quota_bytes, max_message_bytes, \
             address_rule, dkim_selector, require_tls_outbound, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let id: i64 = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(&d.name)
            .bind(d.is_primary)
            .bind(d.default_quota_bytes)
            .bind(d.max_message_bytes)
            .bind(&d.address_rule)
            .bind(&d.dkim_selector)
            .bind(d.require_tls_outbound)
            .bind(d.created_at.0)
            .bind(d.updated_at.0)
            .fetch_one(&mut *c)
            .await)?;
        Ok(DomainId(id))
    }

    /// Every domain, primary first, then by name.
    pub async fn domains(&mut self) -> Result<Vec<MailDomain>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM domains ORDER BY is_primary DESC, name");
        let rows: Vec<DomainRow> =
            on_backend!(self, c => sqlx::query_as(&sql).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(MailDomain::from).collect())
    }

    /// The domain called `name` (lowercase).
    pub async fn domain_by_name(&mut self, name: &str) -> Result<Option<MailDomain>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM domains WHERE name = $1");
        let row: Option<DomainRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(name).fetch_optional(&mut *c).await)?;
        Ok(row.map(MailDomain::from))
    }

    /// The domain with id `id`.
    pub async fn domain_by_id(&mut self, id: DomainId) -> Result<Option<MailDomain>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM domains WHERE id = $1");
        let row: Option<DomainRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(id.0).fetch_optional(&mut *c).await)?;
        Ok(row.map(MailDomain::from))
    }

    /// Sets the DKIM selector and private key (PKCS#8 PEM) of the domain with id `id`.
    pub async fn set_domain_dkim_key(
        &mut self,
        id: DomainId,
        selector: &str,
        private_key_pem: &str,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE domains SET dkim_selector = $1, dkim_private_key = $2, updated_at = $3 \
             WHERE id = $4";
        on_backend!(self, c => sqlx::query(sql)
            .bind(selector)
            .bind(private_key_pem)
            .bind(at.0)
            .bind(id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The DKIM key of the domain called `name` (lowercase), if it has one.
    pub async fn domain_dkim_key(
        &mut self,
        name: &str,
    ) -> Result<Option<DomainDkimKey>, StoreError> {
        let sql = "SELECT name, dkim_selector, dkim_private_key FROM domains \
             WHERE name = $1 AND dkim_selector IS NOT NULL AND dkim_private_key IS NOT NULL";
        let row: Option<(String, String, String)> =
            on_backend!(self, c => sqlx::query_as(sql).bind(name).fetch_optional(&mut *c).await)?;
        Ok(row.map(dkim_key))
    }

    /// Every domain's DKIM key, by domain name.
    pub async fn domain_dkim_keys(&mut self) -> Result<Vec<DomainDkimKey>, StoreError> {
        let sql = "SELECT name, dkim_selector, dkim_private_key FROM domains \
             WHERE dkim_selector IS NOT NULL AND dkim_private_key IS NOT NULL ORDER BY name";
        let rows: Vec<(String, String, String)> =
            on_backend!(self, c => sqlx::query_as(sql).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(dkim_key).collect())
    }

    /// The primary domain, if one is marked.
    pub async fn primary_domain(&mut self) -> Result<Option<MailDomain>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM domains WHERE is_primary");
        let row: Option<DomainRow> =
            on_backend!(self, c => sqlx::query_as(&sql).fetch_optional(&mut *c).await)?;
        Ok(row.map(MailDomain::from))
    }
}

fn dkim_key((domain, selector, private_key_pem): (String, String, String)) -> DomainDkimKey {
    DomainDkimKey {
        domain,
        selector,
        private_key_pem,
    }
}
