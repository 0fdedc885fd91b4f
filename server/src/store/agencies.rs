//! SQL for the agency tree.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{Agency, AgencyId, DomainId};

const COLUMNS: &str = "id, uuid, code, name, level, parent_id, domain_id, created_at, updated_at";

#[derive(FromRow)]
struct AgencyRow {
    id: i64,
    uuid: String,
    code: String,
    name: String,
    level: String,
    parent_id: Option<i64>,
    domain_id: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<AgencyRow> for Agency {
    type Error = StoreError;

    fn try_from(r: AgencyRow) -> Result<Self, StoreError> {
        Ok(Agency {
            id: AgencyId(r.id),
            uuid: r.uuid,
            code: r.code,
            name: r.name,
            level: r
                .level
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("agency level {:?}", r.level)))?,
            parent_id: r.parent_id.map(AgencyId),
            domain_id: DomainId(r.domain_id),
            created_at: UnixTime(r.created_at),
            updated_at: UnixTime(r.updated_at),
        })
    }
}

fn agencies(rows: Vec<AgencyRow>) -> Result<Vec<Agency>, StoreError> {
    rows.into_iter().map(Agency::try_from).collect()
}

impl Conn {
    /// Inserts an agency; `a.id` is ignored and the assigned id returned.
    pub async fn insert_agency(&mut self, a: &Agency) -> Result<AgencyId, StoreError> {
        let sql = "INSERT INTO agencies (uuid, code, name, level, parent_id, domain_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        let id: i64 = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(&a.uuid)
            .bind(&a.code)
            .bind(&a.name)
            .bind(a.level.as_str())
            .bind(a.parent_id.map(|p| p.0))
            .bind(a.domain_id.0)
            .bind(a.created_at.0)
            .bind(a.updated_at.0)
            .fetch_one(&mut *c)
            .await)?;
        Ok(AgencyId(id))
    }

    /// The agency with code `code` (lowercase).
    pub async fn agency_by_code(&mut self, code: &str) -> Result<Option<Agency>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM agencies WHERE code = $1");
        let row: Option<AgencyRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(code).fetch_optional(&mut *c).await)?;
        row.map(Agency::try_from).transpose()
    }

    /// The agency with id `id`.
    pub async fn agency_by_id(&mut self, id: AgencyId) -> Result<Option<Agency>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM agencies WHERE id = $1");
        let row: Option<AgencyRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(id.0).fetch_optional(&mut *c).await)?;
        row.map(Agency::try_from).transpose()
    }

    /// Every agency, in creation order.
    pub async fn agencies(&mut self) -> Result<Vec<Agency>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM agencies ORDER BY id");
        agencies(on_backend!(self, c => sqlx::query_as(&sql).fetch_all(&mut *c).await)?)
    }

    /// The agencies directly under `parent`, by code.
    pub async fn agency_children(&mut self, parent: AgencyId) -> Result<Vec<Agency>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM agencies WHERE parent_id = $1 ORDER BY code");
        agencies(
            on_backend!(self, c => sqlx::query_as(&sql).bind(parent.0).fetch_all(&mut *c).await)?,
        )
    }

    /// `root` and every agency below it, parents before children.
    pub async fn agency_subtree(&mut self, root: AgencyId) -> Result<Vec<Agency>, StoreError> {
        let sql = format!(
            "WITH RECURSIVE subtree (id, depth) AS ( \
                 SELECT id, 0 FROM agencies WHERE id = $1 \
                 UNION ALL \
                 SELECT a.id, s.depth + 1 FROM agencies a JOIN subtree s ON a.parent_id = s.id) \
             SELECT {cols} FROM agencies a JOIN subtree s ON a.id = s.id ORDER BY s.depth, a.code",
            cols = prefixed("a", COLUMNS)
        );
        agencies(
            on_backend!(self, c => sqlx::query_as(&sql).bind(root.0).fetch_all(&mut *c).await)?,
        )
    }

    /// Moves an agency under a new parent.
    pub async fn set_agency_parent(
        &mut self,
        id: AgencyId,
        parent: Option<AgencyId>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE agencies SET parent_id = $1, updated_at = $2 WHERE id = $3";
        on_backend!(self, c => sqlx::query(sql)
            .bind(parent.map(|p| p.0))
            .bind(now.0)
            .bind(id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

/// `"a, b"` with table alias `t` becomes `"t.a, t.b"`.
pub(super) fn prefixed(alias: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
