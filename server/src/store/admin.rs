//! SQL for administrative operations beyond single-entity CRUD: deleting an official with
//! their mail, lockout state, and the aggregates behind `congvu-admin report`.
//!
//! Aggregates are computed here, one statement per aggregate over all agencies, so a report
//! on a province of 8,000 officials is a handful of queries, never one per agency.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{
    AgencyId, BodyId, GroupId, Lockout, OfficialId, OfficialListing, OfficialStatus, PersonName,
};

#[derive(FromRow)]
struct ListingRow {
    login: String,
    family_name: String,
    middle_name: String,
    given_name: String,
    display_name: String,
    address: String,
    agency_code: String,
    unit: Option<String>,
    title: Option<String>,
    phone: Option<String>,
    hr_id: Option<String>,
    status: String,
}

impl TryFrom<ListingRow> for OfficialListing {
    type Error = StoreError;

    fn try_from(r: ListingRow) -> Result<Self, StoreError> {
        Ok(OfficialListing {
            status: r
                .status
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("official {}: status", r.login)))?,
            login: r.login,
            name: PersonName {
                family: r.family_name,
                middle: r.middle_name,
                given: r.given_name,
            },
            display_name: r.display_name,
            address: r.address,
            agency_code: r.agency_code,
            unit: r.unit,
            title: r.title,
            phone: r.phone,
            hr_id: r.hr_id,
        })
    }
}

/// Officials matching `condition`, with their primary address and agency code, by login.
fn listing_sql(condition: &str) -> String {
    format!(
        "SELECT o.login, o.family_name, o.middle_name, o.given_name, o.display_name, \
         a.address, g.code AS agency_code, o.unit, o.title, o.phone, o.hr_id, o.status \
         FROM officials o \
         JOIN addresses a ON a.official_id = o.id AND a.is_primary \
         JOIN agencies g ON g.id = o.agency_id \
         WHERE {condition} ORDER BY o.login"
    )
}

fn listings(rows: Vec<ListingRow>) -> Result<Vec<OfficialListing>, StoreError> {
    rows.into_iter().map(OfficialListing::try_from).collect()
}

/// Officials per agency: `(agency, active, disabled)`.
pub type OfficialCounts = (AgencyId, i64, i64);

impl Conn {
    /// Officials of `agency` (all agencies when `None`) with `status` (any when `None`), by
    /// login, in one statement.
    pub async fn official_listings(
        &mut self,
        agency: Option<AgencyId>,
        status: Option<OfficialStatus>,
    ) -> Result<Vec<OfficialListing>, StoreError> {
        let sql = listing_sql("($1 IS NULL OR o.agency_id = $1) AND ($2 IS NULL OR o.status = $2)");
        let rows: Vec<ListingRow> = on_backend!(self, c => sqlx::query_as(&sql)
            .bind(agency.map(|a| a.0))
            .bind(status.map(OfficialStatus::as_str))
            .fetch_all(&mut *c)
            .await)?;
        listings(rows)
    }

    /// The officials who are direct members of `group`, by login.
    pub async fn member_official_listings(
        &mut self,
        group: GroupId,
    ) -> Result<Vec<OfficialListing>, StoreError> {
        let sql = listing_sql(
            "o.id IN (SELECT official_id FROM group_members WHERE group_id = $1 \
             AND official_id IS NOT NULL)",
        );
        let rows: Vec<ListingRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(group.0).fetch_all(&mut *c).await)?;
        listings(rows)
    }

    /// The groups nested directly in `group`: `(name, display name)`, by name.
    pub async fn member_group_names(
        &mut self,
        group: GroupId,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let sql = "SELECT g.name, g.display_name FROM group_members m \
             JOIN directory_groups g ON g.id = m.member_group_id \
             WHERE m.group_id = $1 ORDER BY g.name";
        Ok(on_backend!(self, c => sqlx::query_as(sql).bind(group.0).fetch_all(&mut *c).await)?)
    }

    /// How many direct members each group with members has.
    pub async fn group_member_counts(&mut self) -> Result<Vec<(GroupId, i64)>, StoreError> {
        let sql = "SELECT group_id, COUNT(*) FROM group_members GROUP BY group_id";
        let rows: Vec<(i64, i64)> =
            on_backend!(self, c => sqlx::query_as(sql).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(|(g, n)| (GroupId(g), n)).collect())
    }

    /// Every group's addresses, by address.
    pub async fn group_addresses(&mut self) -> Result<Vec<(GroupId, String)>, StoreError> {
        let sql =
            "SELECT group_id, address FROM addresses WHERE group_id IS NOT NULL ORDER BY address";
        let rows: Vec<(i64, String)> =
            on_backend!(self, c => sqlx::query_as(sql).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(|(g, a)| (GroupId(g), a)).collect())
    }

    /// Active and disabled officials per agency, for `only` or for every agency that has any.
    pub async fn official_counts_by_agency(
        &mut self,
        only: Option<AgencyId>,
    ) -> Result<Vec<OfficialCounts>, StoreError> {
        let sql = "SELECT agency_id, \
             CAST(SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN status = 'disabled' THEN 1 ELSE 0 END) AS BIGINT) \
             FROM officials WHERE ($1 IS NULL OR agency_id = $1) GROUP BY agency_id";
        let rows: Vec<(i64, i64, i64)> = on_backend!(self, c => sqlx::query_as(sql)
            .bind(only.map(|a| a.0))
            .fetch_all(&mut *c)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(a, active, disabled)| (AgencyId(a), active, disabled))
            .collect())
    }

    /// Officials holding mailboxes (mail accounts) per agency.
    pub async fn mailbox_holders_by_agency(
        &mut self,
        only: Option<AgencyId>,
    ) -> Result<Vec<(AgencyId, i64)>, StoreError> {
        let sql = "SELECT o.agency_id, COUNT(DISTINCT m.official_id) FROM mailboxes m \
             JOIN officials o ON o.id = m.official_id \
             WHERE ($1 IS NULL OR o.agency_id = $1) GROUP BY o.agency_id";
        let rows: Vec<(i64, i64)> = on_backend!(self, c => sqlx::query_as(sql)
            .bind(only.map(|a| a.0))
            .fetch_all(&mut *c)
            .await)?;
        Ok(rows.into_iter().map(|(a, n)| (AgencyId(a), n)).collect())
    }

    /// Bytes of the messages in officials' mailboxes per agency (each copy counted, as the
    /// official's quota counts it).
    pub async fn storage_by_agency(
        &mut self,
        only: Option<AgencyId>,
    ) -> Result<Vec<(AgencyId, i64)>, StoreError> {
        let sql = "SELECT o.agency_id, CAST(COALESCE(SUM(mm.size), 0) AS BIGINT) \
             FROM mailbox_messages mm \
             JOIN mailboxes m ON m.id = mm.mailbox_id \
             JOIN officials o ON o.id = m.official_id \
             WHERE ($1 IS NULL OR o.agency_id = $1) GROUP BY o.agency_id";
        let rows: Vec<(i64, i64)> = on_backend!(self, c => sqlx::query_as(sql)
            .bind(only.map(|a| a.0))
            .fetch_all(&mut *c)
            .await)?;
        Ok(rows.into_iter().map(|(a, n)| (AgencyId(a), n)).collect())
    }

    /// An official's failed-login count and lockout.
    pub async fn lockout_of(&mut self, official: OfficialId) -> Result<Lockout, StoreError> {
        let sql = "SELECT failed_logins, failing_since, locked_until FROM officials WHERE id = $1";
        let row: Option<(i64, Option<i64>, Option<i64>)> = on_backend!(self, c => sqlx::query_as(sql)
            .bind(official.0)
            .fetch_optional(&mut *c)
            .await)?;
        Ok(
            row.map_or(Lockout::default(), |(failed_logins, since, until)| {
                Lockout {
                    failed_logins,
                    failing_since: since.map(UnixTime),
                    locked_until: until.map(UnixTime),
                }
            }),
        )
    }

    /// Sets an official's failed-login count and lockout (for the login code, and tests).
    pub async fn set_lockout(
        &mut self,
        official: OfficialId,
        lockout: Lockout,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE officials SET failed_logins = $1, failing_since = $2, locked_until = $3 \
             WHERE id = $4";
        on_backend!(self, c => sqlx::query(sql)
            .bind(lockout.failed_logins)
            .bind(lockout.failing_since.map(|t| t.0))
            .bind(lockout.locked_until.map(|t| t.0))
            .bind(official.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Deletes every message in an official's mailboxes; returns the body each one held
    /// (one entry per message: the caller releases them).
    pub async fn delete_messages_of_official(
        &mut self,
        official: OfficialId,
    ) -> Result<Vec<BodyId>, StoreError> {
        let sql = "DELETE FROM mailbox_messages \
             WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE official_id = $1) RETURNING body_id";
        let bodies: Vec<i64> = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(official.0)
            .fetch_all(&mut *c)
            .await)?;
        Ok(bodies.into_iter().map(BodyId).collect())
    }

    /// Deletes an official's (emptied) mailboxes; returns how many.
    pub async fn delete_mailboxes_of_official(
        &mut self,
        official: OfficialId,
    ) -> Result<u64, StoreError> {
        self.refolder(official);
        self.delete_by_official("DELETE FROM mailboxes WHERE official_id = $1", official)
            .await
    }

    /// Deletes an official's certificates; returns how many.
    pub async fn delete_certificates_of_official(
        &mut self,
        official: OfficialId,
    ) -> Result<u64, StoreError> {
        self.delete_by_official("DELETE FROM certificates WHERE official_id = $1", official)
            .await
    }

    /// Removes an official from every group; returns from how many.
    pub async fn delete_memberships_of_official(
        &mut self,
        official: OfficialId,
    ) -> Result<u64, StoreError> {
        self.delete_by_official("DELETE FROM group_members WHERE official_id = $1", official)
            .await
    }

    /// Releases every address of an official, primary included; returns how many.
    pub async fn delete_addresses_of_official(
        &mut self,
        official: OfficialId,
    ) -> Result<u64, StoreError> {
        self.delete_by_official("DELETE FROM addresses WHERE official_id = $1", official)
            .await
    }

    /// Deletes the official's own row (after everything that refers to it); returns
    /// whether it existed.
    pub async fn delete_official_row(&mut self, official: OfficialId) -> Result<bool, StoreError> {
        let n = self
            .delete_by_official("DELETE FROM officials WHERE id = $1", official)
            .await?;
        Ok(n > 0)
    }

    async fn delete_by_official(
        &mut self,
        sql: &str,
        official: OfficialId,
    ) -> Result<u64, StoreError> {
        Ok(on_backend!(self, c => sqlx::query(sql)
            .bind(official.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
