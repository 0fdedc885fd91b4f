//! SQL for the officials' portal: one-time reset links and server-side portal sessions. Both
//! are keyed by the SHA-256 of a random token; the tokens themselves are never stored.

use sqlx::FromRow;

use super::{on_backend, Conn, StoreError};
use crate::clock::UnixTime;
use crate::model::OfficialId;

/// A portal session as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PortalSessionRow {
    pub id_sha256: Vec<u8>,
    pub official_id: i64,
    /// `account` or `choose_password`.
    pub purpose: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub source: String,
    pub user_agent: String,
}

const SESSION_COLUMNS: &str =
    "id_sha256, official_id, purpose, csrf_token, created_at, last_seen_at, source, user_agent";

impl Conn {
    /// Stores a reset link for `official`, valid until `expires_at`.
    pub async fn insert_reset_link(
        &mut self,
        token_sha256: &[u8],
        official: OfficialId,
        created_at: UnixTime,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO reset_links (token_sha256, official_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)";
        on_backend!(self, c => sqlx::query(sql)
            .bind(token_sha256)
            .bind(official.0)
            .bind(created_at.0)
            .bind(expires_at.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The official a reset link is for, if it exists and has not expired at `now`.
    pub async fn reset_link_official(
        &mut self,
        token_sha256: &[u8],
        now: UnixTime,
    ) -> Result<Option<OfficialId>, StoreError> {
        let sql = "SELECT official_id FROM reset_links WHERE token_sha256 = $1 AND expires_at > $2";
        let id: Option<i64> = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(token_sha256)
            .bind(now.0)
            .fetch_optional(&mut *c)
            .await)?;
        Ok(id.map(OfficialId))
    }

    /// Uses up a reset link: removes it and returns whom it was for, if it existed and had
    /// not expired at `now`. Of two uses at once, one gets the official.
    pub async fn consume_reset_link(
        &mut self,
        token_sha256: &[u8],
        now: UnixTime,
    ) -> Result<Option<OfficialId>, StoreError> {
        let sql = "DELETE FROM reset_links WHERE token_sha256 = $1 AND expires_at > $2 \
             RETURNING official_id";
        let id: Option<i64> = on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(token_sha256)
            .bind(now.0)
            .fetch_optional(&mut *c)
            .await)?;
        Ok(id.map(OfficialId))
    }

    /// Removes every reset link of `official`; returns how many there were.
    pub async fn delete_reset_links(&mut self, official: OfficialId) -> Result<u64, StoreError> {
        let sql = "DELETE FROM reset_links WHERE official_id = $1";
        Ok(on_backend!(self, c => sqlx::query(sql)
            .bind(official.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Stores a new portal session.
    pub async fn insert_portal_session(
        &mut self,
        session: &PortalSessionRow,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO portal_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        on_backend!(self, c => sqlx::query(&sql)
            .bind(&session.id_sha256)
            .bind(session.official_id)
            .bind(&session.purpose)
            .bind(&session.csrf_token)
            .bind(session.created_at)
            .bind(session.last_seen_at)
            .bind(&session.source)
            .bind(&session.user_agent)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The session with this id hash, if any.
    pub async fn portal_session(
        &mut self,
        id_sha256: &[u8],
    ) -> Result<Option<PortalSessionRow>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM portal_sessions WHERE id_sha256 = $1");
        Ok(on_backend!(self, c => sqlx::query_as(&sql)
            .bind(id_sha256)
            .fetch_optional(&mut *c)
            .await)?)
    }

    /// Every session of `official`, the most recently used first.
    pub async fn portal_sessions_of(
        &mut self,
        official: OfficialId,
    ) -> Result<Vec<PortalSessionRow>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM portal_sessions WHERE official_id = $1 \
             ORDER BY last_seen_at DESC"
        );
        Ok(on_backend!(self, c => sqlx::query_as(&sql)
            .bind(official.0)
            .fetch_all(&mut *c)
            .await)?)
    }

    /// Records that a session was used at `now`.
    pub async fn touch_portal_session(
        &mut self,
        id_sha256: &[u8],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE portal_sessions SET last_seen_at = $1 WHERE id_sha256 = $2";
        on_backend!(self, c => sqlx::query(sql)
            .bind(now.0)
            .bind(id_sha256)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Ends one session.
    pub async fn delete_portal_session(&mut self, id_sha256: &[u8]) -> Result<(), StoreError> {
        let sql = "DELETE FROM portal_sessions WHERE id_sha256 = $1";
        on_backend!(self, c => sqlx::query(sql)
            .bind(id_sha256)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Ends every session of `official`; returns how many there were.
    pub async fn delete_portal_sessions_of(
        &mut self,
        official: OfficialId,
    ) -> Result<u64, StoreError> {
        let sql = "DELETE FROM portal_sessions WHERE official_id = $1";
        Ok(on_backend!(self, c => sqlx::query(sql)
            .bind(official.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// The latest `limit` days (UTC, YYYY-MM-DD) on which `official` signed in, newest first.
    pub async fn recent_activity_days(
        &mut self,
        official: OfficialId,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT day FROM activity_days WHERE official_id = $1 ORDER BY day DESC LIMIT $2";
        Ok(on_backend!(self, c => sqlx::query_scalar(sql)
            .bind(official.0)
            .bind(limit)
            .fetch_all(&mut *c)
            .await)?)
    }

    /// Forgets sessions idle since before `idle_before` or started before `started_before`,
    /// and reset links that expired before `now`.
    pub async fn sweep_portal(
        &mut self,
        idle_before: UnixTime,
        started_before: UnixTime,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let sessions = "DELETE FROM portal_sessions WHERE last_seen_at < $1 OR created_at < $2";
        let links = "DELETE FROM reset_links WHERE expires_at <= $1";
        Ok(on_backend!(self, c => {
            let a = sqlx::query(sessions)
                .bind(idle_before.0)
                .bind(started_before.0)
                .execute(&mut *c)
                .await?
                .rows_affected();
            sqlx::query(links)
                .bind(now.0)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected() + a)
        })?)
    }
}
