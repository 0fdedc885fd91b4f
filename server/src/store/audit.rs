//! SQL for the audit log and the directory version counter, which always change together.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{AuditEntry, AuditRecord};

#[derive(FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    target: String,
    before_summary: Option<String>,
    after_summary: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: UnixTime(r.at),
            record: AuditRecord {
                actor: r.actor,
                action: r.action,
                target: r.target,
                before: r.before_summary,
                after: r.after_summary,
            },
        }
    }
}

impl Conn {
    /// Writes the audit row for a directory change and bumps the directory version, in
    /// this connection's transaction, so the change, its record and the version move as one.
    pub async fn record_change(
        &mut self,
        record: &AuditRecord,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        self.record_event(record, at).await?;
        let bump = "UPDATE directory_version SET version = version + 1 WHERE id = 1";
        on_backend!(self, c => sqlx::query(bump).execute(&mut *c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Writes the audit row of an action that changes nothing the in-memory views follow (a
    /// mailbox export, a queue change, a repair), leaving the directory version alone.
    pub async fn record_event(
        &mut self,
        record: &AuditRecord,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO audit_log (at, actor, action, target, before_summary, after_summary) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        on_backend!(self, c => sqlx::query(sql)
            .bind(at.0)
            .bind(&record.actor)
            .bind(&record.action)
            .bind(&record.target)
            .bind(&record.before)
            .bind(&record.after)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Audit entries about `target` (e.g. `official:annv`), oldest first; all when `None`.
    pub async fn audit_entries(
        &mut self,
        target: Option<&str>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql =
            "SELECT id, at, actor, action, target, before_summary, after_summary FROM audit_log \
             WHERE $1 IS NULL OR target = $1 ORDER BY id";
        let rows: Vec<AuditRow> =
            on_backend!(self, c => sqlx::query_as(sql).bind(target).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    /// The directory version: it grows with every committed directory change.
    pub async fn directory_version(&mut self) -> Result<i64, StoreError> {
        let sql = "SELECT version FROM directory_version WHERE id = 1";
        Ok(on_backend!(self, c => sqlx::query_scalar(sql).fetch_one(&mut *c).await)?)
    }
}
