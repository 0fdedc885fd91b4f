//! SQL for the e-government report: per-agency aggregates of mailboxes held, officials active
//! in a period, certificates, and submitted mail by how it was signed.
//!
//! One statement per aggregate, each grouped by the official's (or the counts') agency, so the
//! report on a province of 165 agencies and 8,000 officials is five queries. Agencies with
//! nothing to count are absent from each answer; the caller fills in zeros. Days are UTC
//! `YYYY-MM-DD` text, which orders as the calendar does; times are Unix seconds.

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::AgencyId;

/// Certificates of one agency's officials: `(agency, issued from..=to, issued by to)`.
pub type CertificateIssues = (AgencyId, i64, i64);

/// Submitted mail of one agency: `(agency, sent, signed, verified)`.
pub type SubmissionTotals = (AgencyId, i64, i64, i64);

impl Conn {
    /// Officials per agency who are not disabled and hold at least one mailbox.
    pub async fn active_mailbox_holders_by_agency(
        &mut self,
    ) -> Result<Vec<(AgencyId, i64)>, StoreError> {
        let sql = "SELECT o.agency_id, COUNT(*) FROM officials o \
             WHERE o.status = 'active' \
             AND EXISTS (SELECT 1 FROM mailboxes m WHERE m.official_id = o.id) \
             GROUP BY o.agency_id";
        let rows: Vec<(i64, i64)> =
            on_backend!(self, c => sqlx::query_as(sql).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(|(a, n)| (AgencyId(a), n)).collect())
    }

    /// Distinct officials per agency with an activity day from `from` to `to` (both
    /// `YYYY-MM-DD`, both included), whatever their status now.
    pub async fn officials_active_by_agency(
        &mut self,
        from: &str,
        to: &str,
    ) -> Result<Vec<(AgencyId, i64)>, StoreError> {
        let sql = "SELECT o.agency_id, COUNT(DISTINCT d.official_id) FROM activity_days d \
             JOIN officials o ON o.id = d.official_id \
             WHERE d.day >= $1 AND d.day <= $2 GROUP BY o.agency_id";
        let rows: Vec<(i64, i64)> = on_backend!(self, c => sqlx::query_as(sql)
            .bind(from)
            .bind(to)
            .fetch_all(&mut *c)
            .await)?;
        Ok(rows.into_iter().map(|(a, n)| (AgencyId(a), n)).collect())
    }

    /// Officials per agency holding a certificate valid at `at`: begun by then, ending after
    /// it, and not revoked by then.
    pub async fn certificate_holders_by_agency(
        &mut self,
        at: UnixTime,
    ) -> Result<Vec<(AgencyId, i64)>, StoreError> {
        let sql = "SELECT o.agency_id, COUNT(DISTINCT c.official_id) FROM certificates c \
             JOIN officials o ON o.id = c.official_id \
             WHERE c.not_before <= $1 AND c.not_after > $1 \
             AND (c.revoked_at IS NULL OR c.revoked_at > $1) \
             GROUP BY o.agency_id";
        let rows: Vec<(i64, i64)> =
            on_backend!(self, c => sqlx::query_as(sql).bind(at.0).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(|(a, n)| (AgencyId(a), n)).collect())
    }

    /// Certificates per agency whose validity begins from `from` to `to` (Unix seconds, both
    /// included), and all whose validity begins by `to`; revoked ones count, they were issued.
    pub async fn certificates_issued_by_agency(
        &mut self,
        from: UnixTime,
        to: UnixTime,
    ) -> Result<Vec<CertificateIssues>, StoreError> {
        let sql = "SELECT o.agency_id, \
             CAST(SUM(CASE WHEN c.not_before >= $1 THEN 1 ELSE 0 END) AS BIGINT), \
             COUNT(*) FROM certificates c \
             JOIN officials o ON o.id = c.official_id \
             WHERE c.not_before <= $2 GROUP BY o.agency_id";
        let rows: Vec<(i64, i64, i64)> = on_backend!(self, c => sqlx::query_as(sql)
            .bind(from.0)
            .bind(to.0)
            .fetch_all(&mut *c)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(a, period, cumulative)| (AgencyId(a), period, cumulative))
            .collect())
    }

    /// Messages submitted per agency from `from` to `to` (both `YYYY-MM-DD`, both included):
    /// sent, S/MIME-signed, and signed with a signature that verified.
    pub async fn submissions_by_agency(
        &mut self,
        from: &str,
        to: &str,
    ) -> Result<Vec<SubmissionTotals>, StoreError> {
        let sql = "SELECT agency_id, CAST(SUM(sent) AS BIGINT), CAST(SUM(signed) AS BIGINT), \
             CAST(SUM(verified) AS BIGINT) FROM submission_counts \
             WHERE day >= $1 AND day <= $2 GROUP BY agency_id";
        let rows: Vec<(i64, i64, i64, i64)> = on_backend!(self, c => sqlx::query_as(sql)
            .bind(from)
            .bind(to)
            .fetch_all(&mut *c)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(a, sent, signed, verified)| (AgencyId(a), sent, signed, verified))
            .collect())
    }
}
