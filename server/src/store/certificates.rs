//! SQL for officials' signing certificates.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{Certificate, CertificateId, OfficialId};

const COLUMNS: &str = "id, official_id, der, serial, issuer, subject, not_before, not_after, \
     fingerprint_sha256, key_usage, revoked_at, created_at";

#[derive(FromRow)]
struct CertificateRow {
    id: i64,
    official_id: i64,
    der: Vec<u8>,
    serial: String,
    issuer: String,
    subject: String,
    not_before: i64,
    not_after: i64,
    fingerprint_sha256: String,
    key_usage: Option<String>,
    revoked_at: Option<i64>,
    created_at: i64,
}

impl From<CertificateRow> for Certificate {
    fn from(r: CertificateRow) -> Self {
        Certificate {
            id: CertificateId(r.id),
            official_id: OfficialId(r.official_id),
            der: r.der,
            serial: r.serial,
            issuer: r.issuer,
            subject: r.subject,
            not_before: UnixTime(r.not_before),
            not_after: UnixTime(r.not_after),
            fingerprint_sha256: r.fingerprint_sha256,
            key_usage: r.key_usage,
            revoked_at: r.revoked_at.map(UnixTime),
            created_at: UnixTime(r.created_at),
        }
    }
}

impl Conn {
    /// Inserts a certificate; `cert.id` is ignored and the assigned id returned.
    pub async fn insert_certificate(
        &mut self,
        cert: &Certificate,
    ) -> Result<CertificateId, StoreError> {
        let sql = "INSERT INTO certificates (official_id, der, serial, issuer, subject, not_before, not_after, \
             fingerprint_sha256, key_usage, revoked_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
        let id: i64 = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(cert.official_id.0)
            .bind(&cert.der)
            .bind(&cert.serial)
            .bind(&cert.issuer)
            .bind(&cert.subject)
            .bind(cert.not_before.0)
            .bind(cert.not_after.0)
            .bind(&cert.fingerprint_sha256)
            .bind(&cert.key_usage)
            .bind(cert.revoked_at.map(|t| t.0))
            .bind(cert.created_at.0)
            .fetch_one(&mut *c)
            .await)?;
        Ok(CertificateId(id))
    }

    /// An official's certificates, newest validity first.
    pub async fn certificates_of(
        &mut self,
        official: OfficialId,
    ) -> Result<Vec<Certificate>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM certificates WHERE official_id = $1 ORDER BY not_after DESC, id"
        );
        let rows: Vec<CertificateRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(official.0).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(Certificate::from).collect())
    }

    /// Marks a certificate revoked; returns whether it existed and was not already revoked.
    pub async fn revoke_certificate(
        &mut self,
        id: CertificateId,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE certificates SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(at.0)
            .bind(id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The certificate with this fingerprint, whoever holds it.
    pub async fn certificate_by_fingerprint(
        &mut self,
        fingerprint: &str,
    ) -> Result<Option<Certificate>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM certificates WHERE fingerprint_sha256 = $1");
        let row: Option<CertificateRow> = on_backend!(self, c => sqlx::query_as(&sql).bind(fingerprint).fetch_optional(&mut *c).await)?;
        Ok(row.map(Certificate::from))
    }

    /// Certificates whose fingerprint starts with `prefix` (lowercase hex), at most `limit`.
    pub async fn certificates_by_fingerprint_prefix(
        &mut self,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<Certificate>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM certificates WHERE fingerprint_sha256 LIKE $1 ORDER BY id LIMIT $2"
        );
        let pattern = format!("{prefix}%");
        let rows: Vec<CertificateRow> = on_backend!(self, c => sqlx::query_as(&sql).bind(&pattern).bind(limit).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(Certificate::from).collect())
    }

    /// Every certificate, by holder then newest validity first.
    pub async fn all_certificates(&mut self) -> Result<Vec<Certificate>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM certificates ORDER BY official_id, not_after DESC, id");
        let rows: Vec<CertificateRow> =
            on_backend!(self, c => sqlx::query_as(&sql).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(Certificate::from).collect())
    }

    /// Certificates of active officials that are valid at `now`, end by `until`, have not
    /// been noticed, and are their holder's latest (a holder who already has a certificate
    /// that lasts longer needs no warning).
    pub async fn certificates_due_notice(
        &mut self,
        now: UnixTime,
        until: UnixTime,
    ) -> Result<Vec<Certificate>, StoreError> {
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM certificates c JOIN officials o ON o.id = c.official_id \
             WHERE o.status = 'active' AND c.revoked_at IS NULL AND c.expiry_notice_at IS NULL \
             AND c.not_before <= $1 AND c.not_after >= $1 AND c.not_after <= $2 \
             AND NOT EXISTS (SELECT 1 FROM certificates n WHERE n.official_id = c.official_id \
                 AND n.revoked_at IS NULL AND n.not_after > c.not_after) \
             ORDER BY c.not_after, c.id"
        );
        let rows: Vec<CertificateRow> = on_backend!(self, c => sqlx::query_as(&sql).bind(now.0).bind(until.0).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(Certificate::from).collect())
    }

    /// Records that the expiry notice for `id` is being sent; false when one already was,
    /// so that of several nodes only one sends it.
    pub async fn claim_expiry_notice(
        &mut self,
        id: CertificateId,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE certificates SET expiry_notice_at = $1 \
             WHERE id = $2 AND expiry_notice_at IS NULL";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(at.0)
            .bind(id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The DER of `official`'s certificates valid at `now` and not revoked, newest first.
    pub async fn valid_certificates_of(
        &mut self,
        official: OfficialId,
        now: UnixTime,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let sql = "SELECT der FROM certificates WHERE official_id = $1 AND revoked_at IS NULL \
             AND not_before <= $2 AND not_after >= $2 ORDER BY not_after DESC, id DESC";
        Ok(
            on_backend!(self, c => sqlx::query_scalar(sql).bind(official.0).bind(now.0).fetch_all(&mut *c).await)?,
        )
    }
}
