//! SQL for content-addressed message bodies, their reference counts and what is derived
//! from them when they are stored.

use super::{on_backend, Conn, Raw, StoreError};
use crate::clock::UnixTime;
use crate::model::{BodyHash, BodyId};

/// What is worked out from a body once, when it is stored, for the readers that need it
/// without the bytes: its structure (FETCH) and its search text (SEARCH), both JSON.
#[derive(Debug, Clone, Copy)]
pub struct BodyDerived<'a> {
    pub shape: &'a str,
    pub text: &'a str,
}

impl Conn {
    /// Stores `data` under `hash` if it is new, with what is `derived` from it (for bodies
    /// mail clients will read), and adds `holders` references to it either way; returns the
    /// body's id.
    pub async fn put_body(
        &mut self,
        hash: &BodyHash,
        data: &[u8],
        derived: Option<BodyDerived<'_>>,
        holders: i64,
        now: UnixTime,
    ) -> Result<BodyId, StoreError> {
        let sql = "INSERT INTO message_bodies (sha256, size, refcount, data, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sha256) DO UPDATE SET refcount = message_bodies.refcount + excluded.refcount \
             RETURNING id";
        let id: i64 = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(&hash.0[..])
            .bind(data.len() as i64)
            .bind(holders)
            .bind(data)
            .bind(now.0)
            .fetch_one(&mut *c)
            .await)?;
        if let Some(derived) = derived {
            self.set_body_shapes(&[(BodyId(id), derived.shape)]).await?;
            self.set_body_texts(&[(BodyId(id), derived.text)]).await?;
        }
        Ok(BodyId(id))
    }

    /// Drops `holders` references; the body is deleted when none remain.
    pub async fn release_body(&mut self, body: BodyId, holders: i64) -> Result<(), StoreError> {
        let decrement = "UPDATE message_bodies SET refcount = refcount - $1 WHERE id = $2";
        let delete_unused = "DELETE FROM message_bodies WHERE id = $1 AND refcount = 0";
        on_backend!(self, c => {
            sqlx::query(decrement).bind(holders).bind(body.0).execute(&mut *c).await?;
            sqlx::query(delete_unused).bind(body.0).execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The bytes of a body.
    pub async fn body_data(&mut self, body: BodyId) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = "SELECT data FROM message_bodies WHERE id = $1";
        Ok(
            on_backend!(self, c => sqlx::query_scalar(sql).bind(body.0).fetch_optional(&mut *c).await)?,
        )
    }

    /// The bytes of several bodies in one statement, as `(body, bytes)` in no particular
    /// order; a body that is gone is left out. For reading ahead of a client that fetches a
    /// mailbox's messages one command each: a statement per body is a round trip per body.
    /// Every id is a parameter of the statement, so callers ask for tens, not thousands.
    pub async fn bodies_data(
        &mut self,
        bodies: &[BodyId],
    ) -> Result<Vec<(BodyId, Vec<u8>)>, StoreError> {
        match bodies {
            [] => return Ok(Vec::new()),
            // One body by its key: a client fetching out of order, the common case, where
            // PostgreSQL's `= ANY($1)` for a single id made random fetches 17% slower in a run.
            [body] => {
                return Ok(self
                    .body_data(*body)
                    .await?
                    .map(|data| vec![(*body, data)])
                    .unwrap_or_default())
            }
            _ => {}
        }
        let rows: Vec<(i64, Vec<u8>)> = match self.raw() {
            Raw::Sqlite(c) => {
                let mut query =
                    sqlx::QueryBuilder::new("SELECT id, data FROM message_bodies WHERE id IN (");
                let mut list = query.separated(", ");
                for body in bodies {
                    list.push_bind(body.0);
                }
                query.push(")");
                query.build_query_as().fetch_all(c).await?
            }
            Raw::Postgres(c) => {
                let ids: Vec<i64> = bodies.iter().map(|b| b.0).collect();
                sqlx::query_as("SELECT id, data FROM message_bodies WHERE id = ANY($1)")
                    .bind(ids)
                    .fetch_all(c)
                    .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(id, data)| (BodyId(id), data))
            .collect())
    }

    /// How many holders a body has; `None` once it is gone.
    pub async fn body_refcount(&mut self, body: BodyId) -> Result<Option<i64>, StoreError> {
        let sql = "SELECT refcount FROM message_bodies WHERE id = $1";
        Ok(
            on_backend!(self, c => sqlx::query_scalar(sql).bind(body.0).fetch_optional(&mut *c).await)?,
        )
    }

    /// How many bodies are stored and their total size in bytes.
    pub async fn body_totals(&mut self) -> Result<(i64, i64), StoreError> {
        // SUM over BIGINT is NUMERIC on PostgreSQL; cast back so both backends give an i64.
        let sql = "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM message_bodies";
        Ok(on_backend!(self, c => sqlx::query_as(sql).fetch_one(&mut *c).await)?)
    }

    /// Every body whose reference count differs from the number of mailbox messages and queue
    /// entries holding it, as `(body, refcount, holders)`; empty when every count is right.
    /// A read-only audit of the invariant that `put_body`/`release_body` keep (the crash
    /// soak runs it after each kill); it counts the holders of every body, so it is not for
    /// a hot path.
    pub async fn miscounted_bodies(&mut self) -> Result<Vec<(BodyId, i64, i64)>, StoreError> {
        let sql = "SELECT id, refcount, holders FROM (\
             SELECT b.id, b.refcount, \
             (SELECT COUNT(*) FROM mailbox_messages m WHERE m.body_id = b.id) \
             + (SELECT COUNT(*) FROM queue_entries q WHERE q.body_id = b.id) AS holders \
             FROM message_bodies b) counted \
             WHERE refcount <> holders ORDER BY id";
        let rows: Vec<(i64, i64, i64)> =
            on_backend!(self, c => sqlx::query_as(sql).fetch_all(&mut *c).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, refcount, holders)| (BodyId(id), refcount, holders))
            .collect())
    }

    /// The body stored under `hash`, if any.
    pub async fn body_by_hash(&mut self, hash: &BodyHash) -> Result<Option<BodyId>, StoreError> {
        let sql = "SELECT id FROM message_bodies WHERE sha256 = $1";
        let id: Option<i64> = on_backend!(self, c => sqlx::query_scalar(sql).bind(&hash.0[..]).fetch_optional(&mut *c).await)?;
        Ok(id.map(BodyId))
    }
}
