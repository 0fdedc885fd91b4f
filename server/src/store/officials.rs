//! SQL for officials. An official's primary address lives in `addresses` with the other
//! addresses; reads join it in. A password is an argon2id hash in `password_hash` with its
//! cost class, or a hash carried over from an old directory in `legacy_password_hash`, never
//! both: [`PasswordColumns`] is the one place a [`StoredPassword`] becomes those columns.

use futures_util::TryStreamExt;
use sqlx::FromRow;

use super::agencies::prefixed;
use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{
    AgencyId, GroupId, Official, OfficialId, OfficialStatus, PasswordCost, PasswordHash,
    PersonName, StoredPassword,
};

const COLUMNS: &str = "id, uuid, login, family_name, middle_name, given_name, display_name, agency_id, \
     unit, title, phone, hr_id, status, password_hash, password_cost, must_change_password, password_set_at, \
     legacy_password_hash, quota_bytes, created_at, updated_at";

/// The password columns of one official.
pub(super) struct PasswordColumns<'a> {
    pub hash: Option<&'a str>,
    /// The cost class of `hash`; `full` when there is none, as the column may not be empty.
    pub cost: &'static str,
    pub must_change: bool,
    pub legacy: Option<&'a str>,
}

impl<'a> PasswordColumns<'a> {
    pub fn of(password: Option<&'a StoredPassword>) -> PasswordColumns<'a> {
        match password {
            Some(p) if p.cost == PasswordCost::Legacy => PasswordColumns {
                hash: None,
                cost: PasswordCost::Full.as_str(),
                must_change: p.must_change,
                legacy: Some(p.hash.0.as_str()),
            },
            Some(p) => PasswordColumns {
                hash: Some(p.hash.0.as_str()),
                cost: p.cost.as_str(),
                must_change: p.must_change,
                legacy: None,
            },
            None => PasswordColumns {
                hash: None,
                cost: PasswordCost::Full.as_str(),
                must_change: false,
                legacy: None,
            },
        }
    }
}

#[derive(FromRow)]
struct OfficialRow {
    id: i64,
    uuid: String,
    login: String,
    family_name: String,
    middle_name: String,
    given_name: String,
    display_name: String,
    agency_id: i64,
    unit: Option<String>,
    title: Option<String>,
    phone: Option<String>,
    hr_id: Option<String>,
    status: String,
    password_hash: Option<String>,
    password_cost: String,
    must_change_password: bool,
    password_set_at: Option<i64>,
    legacy_password_hash: Option<String>,
    quota_bytes: i64,
    created_at: i64,
    updated_at: i64,
    primary_address: String,
}

impl TryFrom<OfficialRow> for Official {
    type Error = StoreError;

    fn try_from(r: OfficialRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("official {}: {what}", r.login));
        let password = match (r.password_hash, r.legacy_password_hash) {
            (Some(hash), None) => Some(StoredPassword {
                hash: PasswordHash(hash),
                cost: r
                    .password_cost
                    .parse()
                    .ok()
                    .filter(|c| *c != PasswordCost::Legacy)
                    .ok_or_else(|| corrupt("password cost"))?,
                must_change: r.must_change_password,
            }),
            (None, Some(legacy)) => Some(StoredPassword {
                hash: PasswordHash(legacy),
                cost: PasswordCost::Legacy,
                must_change: r.must_change_password,
            }),
            (None, None) => None,
            (Some(_), Some(_)) => return Err(corrupt("two passwords")),
        };
        Ok(Official {
            id: OfficialId(r.id),
            uuid: r.uuid,
            name: PersonName {
                family: r.family_name,
                middle: r.middle_name,
                given: r.given_name,
            },
            display_name: r.display_name,
            primary_address: r.primary_address,
            agency_id: AgencyId(r.agency_id),
            unit: r.unit,
            title: r.title,
            phone: r.phone,
            hr_id: r.hr_id,
            status: r.status.parse().map_err(|_| corrupt("status"))?,
            password,
            password_set_at: r.password_set_at.map(UnixTime),
            quota_bytes: r.quota_bytes,
            created_at: UnixTime(r.created_at),
            updated_at: UnixTime(r.updated_at),
            login: r.login,
        })
    }
}

fn select_where(condition: &str) -> String {
    format!(
        "SELECT {cols}, a.address AS primary_address FROM officials o \
         JOIN addresses a ON a.official_id = o.id AND a.is_primary WHERE {condition}",
        cols = prefixed("o", COLUMNS)
    )
}

impl Conn {
    /// Inserts an official; `o.id` and `o.primary_address` are ignored (the caller adds the
    /// primary address with [`Conn::insert_address`] in the same transaction).
    pub async fn insert_official(&mut self, o: &Official) -> Result<OfficialId, StoreError> {
        // One statement for one official or a thousand: the columns are written in one place.
        let ids = self.insert_officials(std::slice::from_ref(o)).await?;
        ids.into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt(format!("no id returned for {}", o.login)))
    }

    /// Writes every changeable attribute of `o` (not its login, uuid or password).
    pub async fn update_official(&mut self, o: &Official) -> Result<(), StoreError> {
        let sql = "UPDATE officials SET family_name = $1, middle_name = $2, given_name = $3, display_name = $4, \
             agency_id = $5, unit = $6, title = $7, phone = $8, hr_id = $9, status = $10, quota_bytes = $11, \
             updated_at = $12 WHERE id = $13";
        on_backend!(self, c => sqlx::query(sql)
            .bind(&o.name.family)
            .bind(&o.name.middle)
            .bind(&o.name.given)
            .bind(&o.display_name)
            .bind(o.agency_id.0)
            .bind(&o.unit)
            .bind(&o.title)
            .bind(&o.phone)
            .bind(&o.hr_id)
            .bind(o.status.as_str())
            .bind(o.quota_bytes)
            .bind(o.updated_at.0)
            .bind(o.id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Replaces (or with `None`, removes) an official's password, a carried-over one
    /// included.
    pub async fn set_official_password(
        &mut self,
        id: OfficialId,
        password: Option<&StoredPassword>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE officials SET password_hash = $1, password_cost = $2, must_change_password = $3, \
             legacy_password_hash = $4, password_set_at = $5, updated_at = $5 WHERE id = $6";
        let password = PasswordColumns::of(password);
        on_backend!(self, c => sqlx::query(sql)
            .bind(password.hash)
            .bind(password.cost)
            .bind(password.must_change)
            .bind(password.legacy)
            .bind(now.0)
            .bind(id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Replaces the carried-over hash `legacy` of official `id` with `new`, the same password
    /// hashed by congvu, keeping when it was set. Returns false, changing nothing, when the
    /// official no longer has that hash (the password was changed meanwhile).
    pub async fn replace_legacy_password(
        &mut self,
        id: OfficialId,
        legacy: &PasswordHash,
        new: &StoredPassword,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE officials SET password_hash = $1, password_cost = $2, must_change_password = $3, \
             legacy_password_hash = NULL, updated_at = $4 WHERE id = $5 AND legacy_password_hash = $6";
        let columns = PasswordColumns::of(Some(new));
        let (Some(hash), None) = (columns.hash, columns.legacy) else {
            return Err(StoreError::Corrupt(
                "a carried-over hash can only be replaced by an argon2id one".into(),
            ));
        };
        let changed = on_backend!(self, c => sqlx::query(sql)
            .bind(hash)
            .bind(columns.cost)
            .bind(columns.must_change)
            .bind(now.0)
            .bind(id.0)
            .bind(&legacy.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(changed == 1)
    }

    /// Sets an official active or disabled.
    pub async fn set_official_status(
        &mut self,
        id: OfficialId,
        status: OfficialStatus,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE officials SET status = $1, updated_at = $2 WHERE id = $3";
        on_backend!(self, c => sqlx::query(sql)
            .bind(status.as_str())
            .bind(now.0)
            .bind(id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The official with login `login` (lowercase).
    pub async fn official_by_login(&mut self, login: &str) -> Result<Option<Official>, StoreError> {
        self.one_official(&select_where("o.login = $1"), login)
            .await
    }

    /// The official whose HR id is `hr_id`.
    pub async fn official_by_hr_id(&mut self, hr_id: &str) -> Result<Option<Official>, StoreError> {
        self.one_official(&select_where("o.hr_id = $1"), hr_id)
            .await
    }

    /// The official with id `id`.
    pub async fn official_by_id(&mut self, id: OfficialId) -> Result<Option<Official>, StoreError> {
        let sql = select_where("o.id = $1");
        let row: Option<OfficialRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(id.0).fetch_optional(&mut *c).await)?;
        row.map(Official::try_from).transpose()
    }

    /// Every official, by login.
    pub async fn all_officials(&mut self) -> Result<Vec<Official>, StoreError> {
        // Sized once: a list grown as it fills would double, and this one (every official)
        // is among the largest allocations of a server's start.
        let mut officials = Vec::with_capacity(self.official_count().await?);
        self.each_official(|official| officials.push(official))
            .await?;
        Ok(officials)
    }

    /// How many officials there are, active or not. Outside a transaction it may differ from
    /// what a read after it finds: a size to reserve, not a total to rely on.
    pub async fn official_count(&mut self) -> Result<usize, StoreError> {
        let sql = "SELECT COUNT(*) FROM officials";
        let count: i64 = on_backend!(self, c => sqlx::query_scalar(sql).fetch_one(&mut *c).await)?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Every official, by login, each handed to `each` as its row is read: the whole
    /// directory's officials are never held twice, as rows and as officials.
    pub async fn each_official(
        &mut self,
        mut each: impl FnMut(Official) + Send,
    ) -> Result<(), StoreError> {
        let sql = select_where("TRUE ORDER BY o.login");
        on_backend!(self, c => {
            let mut rows = sqlx::query_as::<_, OfficialRow>(&sql).fetch(&mut *c);
            while let Some(row) = rows.try_next().await? {
                each(Official::try_from(row)?);
            }
        });
        Ok(())
    }

    /// The officials of one agency, by login.
    pub async fn officials_in_agency(
        &mut self,
        agency: AgencyId,
    ) -> Result<Vec<Official>, StoreError> {
        let sql = select_where("o.agency_id = $1 ORDER BY o.login");
        let rows: Vec<OfficialRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(agency.0).fetch_all(&mut *c).await)?;
        rows.into_iter().map(Official::try_from).collect()
    }

    /// Every official in `group` or in a group nested in it, each once, by id: one query
    /// however large the list. `UNION` (not `UNION ALL`) makes the walk stop at cycles.
    pub async fn officials_in_group(
        &mut self,
        group: GroupId,
    ) -> Result<Vec<Official>, StoreError> {
        let sql = format!(
            "WITH RECURSIVE nested (id) AS ( \
                 SELECT $1 \
                 UNION \
                 SELECT m.member_group_id FROM group_members m JOIN nested n ON m.group_id = n.id \
                 WHERE m.member_group_id IS NOT NULL) {}",
            select_where(
                "o.id IN (SELECT m.official_id FROM group_members m JOIN nested n ON m.group_id = n.id \
                 WHERE m.official_id IS NOT NULL) ORDER BY o.id"
            )
        );
        let rows: Vec<OfficialRow> =
            on_backend!(self, c => sqlx::query_as(&sql).bind(group.0).fetch_all(&mut *c).await)?;
        rows.into_iter().map(Official::try_from).collect()
    }

    async fn one_official(&mut self, sql: &str, key: &str) -> Result<Option<Official>, StoreError> {
        let row: Option<OfficialRow> =
            on_backend!(self, c => sqlx::query_as(sql).bind(key).fetch_optional(&mut *c).await)?;
        row.map(Official::try_from).transpose()
    }
}
