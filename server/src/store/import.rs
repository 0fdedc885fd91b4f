//! SQL for bulk import: what the planner needs about the whole directory, read in a few
//! queries instead of one per row.

use std::collections::HashMap;

use sqlx::FromRow;

use super::officials::PasswordColumns;
use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{
    AddressEntry, AddressOwner, AgencyId, AuditRecord, DomainId, Mailbox, MailboxRole, Official,
    OfficialId,
};

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

/// Rows per multi-row INSERT: well under SQLite's 32,766 bound parameters at 20 columns.
const BATCH_ROWS: usize = 1000;

impl Conn {
    /// Inserts many officials with few statements; returns their ids in the same order.
    /// Ids, primary addresses and mailboxes of the given values are ignored, as in
    /// [`Conn::insert_official`].
    pub async fn insert_officials(
        &mut self,
        officials: &[Official],
    ) -> Result<Vec<OfficialId>, StoreError> {
        let mut ids = HashMap::with_capacity(officials.len());
        for chunk in officials.chunks(BATCH_ROWS) {
            let rows: Vec<(i64, String)> = on_backend!(self, c => {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO officials (uuid, login, family_name, middle_name, given_name, display_name, \
                     agency_id, unit, title, phone, hr_id, status, password_hash, password_cost, \
                     must_change_password, password_set_at, quota_bytes, created_at, updated_at, \
                     legacy_password_hash) ",
                );
                insert.push_values(chunk, |mut row, o| {
                    let password = PasswordColumns::of(o.password.as_ref());
                    row.push_bind(&o.uuid)
                        .push_bind(&o.login)
                        .push_bind(&o.name.family)
                        .push_bind(&o.name.middle)
                        .push_bind(&o.name.given)
                        .push_bind(&o.display_name)
                        .push_bind(o.agency_id.0)
                        .push_bind(&o.unit)
                        .push_bind(&o.title)
                        .push_bind(&o.phone)
                        .push_bind(&o.hr_id)
                        .push_bind(o.status.as_str())
                        .push_bind(password.hash)
                        .push_bind(password.cost)
                        .push_bind(password.must_change)
                        .push_bind(o.password_set_at.map(|t| t.0))
                        .push_bind(o.quota_bytes)
                        .push_bind(o.created_at.0)
                        .push_bind(o.updated_at.0)
                        .push_bind(password.legacy);
                });
                insert.push(" RETURNING id, login");
                insert.build_query_as().fetch_all(&mut *c).await
            })?;
            ids.extend(rows.into_iter().map(|(id, login)| (login, OfficialId(id))));
        }
        officials
            .iter()
            .map(|o| {
                ids.get(&o.login)
                    .copied()
                    .ok_or_else(|| StoreError::Corrupt(format!("no id returned for {}", o.login)))
            })
            .collect()
    }

    /// Claims many addresses in `domain` with few statements.
    pub async fn insert_addresses(
        &mut self,
        entries: &[AddressEntry],
        domain: DomainId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        for chunk in entries.chunks(BATCH_ROWS) {
            on_backend!(self, c => {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO addresses (address, domain_id, official_id, group_id, agency_id, is_primary, created_at) ",
                );
                insert.push_values(chunk, |mut row, e| {
                    let (official, group, agency) = match e.owner {
                        AddressOwner::Official(id) => (Some(id.0), None, None),
                        AddressOwner::Group(id) => (None, Some(id.0), None),
                        AddressOwner::Agency(id) => (None, None, Some(id.0)),
                    };
                    row.push_bind(&e.address)
                        .push_bind(domain.0)
                        .push_bind(official)
                        .push_bind(group)
                        .push_bind(agency)
                        .push_bind(e.is_primary)
                        .push_bind(now.0);
                });
                insert.build().execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Creates many mailboxes with few statements.
    pub async fn insert_mailboxes(&mut self, mailboxes: &[Mailbox]) -> Result<(), StoreError> {
        for chunk in mailboxes.chunks(BATCH_ROWS) {
            on_backend!(self, c => {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO mailboxes (official_id, name, role, uidvalidity, uidnext, subscribed, created_at) ",
                );
                insert.push_values(chunk, |mut row, m| {
                    row.push_bind(m.official_id.0)
                        .push_bind(&m.name)
                        .push_bind(m.role.map(MailboxRole::as_str))
                        .push_bind(i64::from(m.uidvalidity))
                        .push_bind(i64::from(m.uidnext.0))
                        .push_bind(m.subscribed)
                        .push_bind(m.created_at.0);
                });
                insert.build().execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        for mailbox in mailboxes {
            self.refolder(mailbox.official_id);
        }
        Ok(())
    }

    /// Writes many audit rows and bumps the directory version once, in this transaction.
    pub async fn record_changes(
        &mut self,
        records: &[AuditRecord],
        at: UnixTime,
    ) -> Result<(), StoreError> {
        for chunk in records.chunks(BATCH_ROWS) {
            on_backend!(self, c => {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO audit_log (at, actor, action, target, before_summary, after_summary) ",
                );
                insert.push_values(chunk, |mut row, r| {
                    row.push_bind(at.0)
                        .push_bind(&r.actor)
                        .push_bind(&r.action)
                        .push_bind(&r.target)
                        .push_bind(&r.before)
                        .push_bind(&r.after);
                });
                insert.build().execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        let bump = "UPDATE directory_version SET version = version + 1 WHERE id = 1";
        on_backend!(self, c => sqlx::query(bump).execute(&mut *c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}

impl Conn {
    /// Gives every official with id `first` or above who has no mailboxes yet the mailboxes
    /// in `defaults` (name, role), in one statement generated by the database: for a bulk
    /// import, those are exactly the officials this transaction just created, since every
    /// official gets mailboxes in the transaction that creates them.
    pub async fn insert_missing_default_mailboxes(
        &mut self,
        first: OfficialId,
        defaults: &[(&str, MailboxRole)],
        uidvalidity: u32,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let mut insert = String::from(
            "INSERT INTO mailboxes (official_id, name, role, uidvalidity, uidnext, subscribed, created_at) \
             SELECT o.id, d.name, d.role, $1, 1, $2, $3 FROM officials o CROSS JOIN (",
        );
        for i in 0..defaults.len() {
            if i > 0 {
                insert.push_str(" UNION ALL ");
            }
            insert.push_str(&format!(
                "SELECT ${} AS name, ${} AS role",
                5 + 2 * i,
                6 + 2 * i
            ));
        }
        insert.push_str(
            ") d WHERE o.id >= $4 AND NOT EXISTS (SELECT 1 FROM mailboxes m WHERE m.official_id = o.id)",
        );
        let n = on_backend!(self, c => {
            let mut query = sqlx::query(&insert).bind(i64::from(uidvalidity)).bind(true).bind(now.0).bind(first.0);
            for (name, role) in defaults {
                query = query.bind(*name).bind(role.as_str());
            }
            query.execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}
