//! SQL for officials' Sieve scripts and the out-of-office replies they sent.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::{AgencyId, BeforeScript, OfficialId, SieveScript};

#[derive(FromRow)]
struct ScriptRow {
    name: String,
    script: String,
    active: bool,
    updated_at: i64,
}

impl From<ScriptRow> for SieveScript {
    fn from(r: ScriptRow) -> SieveScript {
        SieveScript {
            name: r.name,
            text: r.script,
            active: r.active,
            updated_at: UnixTime(r.updated_at),
        }
    }
}

impl Conn {
    /// The official's scripts, by name.
    pub async fn sieve_scripts(
        &mut self,
        official: OfficialId,
    ) -> Result<Vec<SieveScript>, StoreError> {
        let sql = "SELECT name, script, active, updated_at FROM sieve_scripts \
                   WHERE official_id = $1 ORDER BY name";
        let rows: Vec<ScriptRow> =
            on_backend!(self, c => sqlx::query_as(sql).bind(official.0).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(SieveScript::from).collect())
    }

    /// The official's script called `name`.
    pub async fn sieve_script(
        &mut self,
        official: OfficialId,
        name: &str,
    ) -> Result<Option<SieveScript>, StoreError> {
        let sql = "SELECT name, script, active, updated_at FROM sieve_scripts \
                   WHERE official_id = $1 AND name = $2";
        let row: Option<ScriptRow> = on_backend!(self, c => sqlx::query_as(sql)
            .bind(official.0)
            .bind(name)
            .fetch_optional(&mut *c)
            .await)?;
        Ok(row.map(SieveScript::from))
    }

    /// The active scripts of those of `officials` who have one: (official, text).
    /// One statement per thousand officials, so a circular's delivery asks once.
    pub async fn active_sieve_scripts(
        &mut self,
        officials: &[OfficialId],
    ) -> Result<Vec<(OfficialId, String)>, StoreError> {
        let mut found = Vec::new();
        for chunk in officials.chunks(1000) {
            let rows: Vec<(i64, String)> = on_backend!(self, c => {
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT official_id, script FROM sieve_scripts WHERE active AND official_id IN (",
                );
                let mut ids = query.separated(", ");
                for official in chunk {
                    ids.push_bind(official.0);
                }
                query.push(")");
                query.build_query_as().fetch_all(&mut *c).await
            })?;
            found.extend(rows.into_iter().map(|(o, text)| (OfficialId(o), text)));
        }
        Ok(found)
    }

    /// Stores `text` as the official's script `name`, replacing one of that name (which
    /// stays active if it was).
    pub async fn put_sieve_script(
        &mut self,
        official: OfficialId,
        name: &str,
        text: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO sieve_scripts (official_id, name, script, active, updated_at) \
                   VALUES ($1, $2, $3, FALSE, $4) \
                   ON CONFLICT (official_id, name) DO UPDATE \
                   SET script = excluded.script, updated_at = excluded.updated_at";
        on_backend!(self, c => sqlx::query(sql)
            .bind(official.0)
            .bind(name)
            .bind(text)
            .bind(now.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Makes `name` the official's active script, or, with `None`, leaves none active;
    /// whether a script of that name exists (always true for `None`).
    pub async fn activate_sieve_script(
        &mut self,
        official: OfficialId,
        name: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let off = "UPDATE sieve_scripts SET active = FALSE WHERE official_id = $1 AND active";
        on_backend!(self, c => sqlx::query(off)
            .bind(official.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        let Some(name) = name else {
            return Ok(true);
        };
        let on = "UPDATE sieve_scripts SET active = TRUE, updated_at = $3 \
                  WHERE official_id = $1 AND name = $2";
        let n = on_backend!(self, c => sqlx::query(on)
            .bind(official.0)
            .bind(name)
            .bind(now.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Renames the official's script `from` to `to`; whether it existed. A script already
    /// called `to` makes this fail with a unique violation.
    pub async fn rename_sieve_script(
        &mut self,
        official: OfficialId,
        from: &str,
        to: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE sieve_scripts SET name = $3, updated_at = $4 \
                   WHERE official_id = $1 AND name = $2";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(official.0)
            .bind(from)
            .bind(to)
            .bind(now.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Deletes the official's script `name`; whether it existed.
    pub async fn delete_sieve_script(
        &mut self,
        official: OfficialId,
        name: &str,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM sieve_scripts WHERE official_id = $1 AND name = $2";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(official.0)
            .bind(name)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Claims the sending of the official's reply called `key`: whether it may go now,
    /// none having gone since `since`, in which case it is recorded as sent `now`. One
    /// statement, so two deliveries at once (on two nodes) cannot both send it.
    pub async fn claim_vacation_reply(
        &mut self,
        official: OfficialId,
        key: &str,
        since: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO vacation_replies (official_id, reply_key, sent_at) \
                   VALUES ($1, $2, $3) \
                   ON CONFLICT (official_id, reply_key) DO UPDATE SET sent_at = excluded.sent_at \
                   WHERE vacation_replies.sent_at < $4";
        let claimed = on_backend!(self, c => sqlx::query(sql)
            .bind(official.0)
            .bind(key)
            .bind(now.0)
            .bind(since.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(claimed > 0)
    }

    /// Every script run before officials' own: the province's and the agencies'.
    pub async fn before_sieve_scripts(&mut self) -> Result<Vec<BeforeScript>, StoreError> {
        let sql = "SELECT agency_id, script, updated_at FROM sieve_before_scripts \
                   ORDER BY COALESCE(agency_id, 0)";
        let rows: Vec<(Option<i64>, String, i64)> =
            on_backend!(self, c => sqlx::query_as(sql).fetch_all(&mut *c).await)?;
        Ok(rows
            .into_iter()
            .map(|(agency, text, updated_at)| BeforeScript {
                agency: agency.map(AgencyId),
                text,
                updated_at: UnixTime(updated_at),
            })
            .collect())
    }

    /// Stores `text` as the script run before the filters of `agency`'s officials (`None`:
    /// every official's), replacing the one there was.
    pub async fn put_before_sieve_script(
        &mut self,
        agency: Option<AgencyId>,
        text: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.delete_before_sieve_script(agency).await?;
        let sql = "INSERT INTO sieve_before_scripts (agency_id, script, updated_at) \
                   VALUES ($1, $2, $3)";
        on_backend!(self, c => sqlx::query(sql)
            .bind(agency.map(|a| a.0))
            .bind(text)
            .bind(now.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Deletes the script run before `agency`'s officials' filters (`None`: the province's);
    /// whether there was one.
    pub async fn delete_before_sieve_script(
        &mut self,
        agency: Option<AgencyId>,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM sieve_before_scripts WHERE COALESCE(agency_id, 0) = $1";
        let n = on_backend!(self, c => sqlx::query(sql)
            .bind(agency.map_or(0, |a| a.0))
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
