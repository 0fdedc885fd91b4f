//! What the officials' portal keeps: one-time reset links, and server-side sessions.
//!
//! Both are bearer tokens of 256 random bits handed out once (a link printed in a credentials
//! file, a cookie) and stored only as their SHA-256, so a copy of the database gives nobody a
//! working link or session. Sessions end when idle or old ([`SessionPolicy`]), and every
//! session and link of an official ends when any password is set for them
//! (`Directory::set_password`). No HTTP here: the portal maps these to cookies and pages.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::official_ops::official_in;
use super::{
    not_found, Actor, Agency, Certificate, CertificateStanding, Directory, DirectoryError,
    GroupMember, Official, OfficialId, OfficialStatus, StoredPassword,
};
use crate::clock::UnixTime;
use crate::model::EntityKind;
use crate::store::PortalSessionRow;

/// How long a reset link lasts unless the administrator says otherwise.
pub const DEFAULT_RESET_LINK_HOURS: u32 = 72;
/// The longest a reset link may be made to last (30 days).
pub const MAX_RESET_LINK_HOURS: u32 = 720;
/// A session's last use is written at most this often: a page view is a read, not a write.
const TOUCH_EVERY_SECONDS: i64 = 60;
/// Longest user agent kept for the sessions list.
const MAX_USER_AGENT_CHARS: usize = 200;

/// A bearer token: 256 random bits, base64url without padding (43 characters).
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh token for a form's CSRF field where there is no session yet.
pub fn new_csrf_token() -> String {
    new_token()
}

/// What is stored of a token. Tokens of the wrong shape never reach the store.
fn token_key(token: &str) -> Option<Vec<u8>> {
    let well_formed = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| Sha256::digest(token.as_bytes()).to_vec())
}

/// What a portal session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPurpose {
    /// Signed in with the official's own password: the whole portal.
    Account,
    /// Signed in with an initial password or a reset link: choosing a password and nothing
    /// else.
    ChoosePassword,
}

impl SessionPurpose {
    /// The name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionPurpose::Account => "account",
            SessionPurpose::ChoosePassword => "choose_password",
        }
    }
}

impl FromStr for SessionPurpose {
    type Err = DirectoryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "account" => Ok(SessionPurpose::Account),
            "choose_password" => Ok(SessionPurpose::ChoosePassword),
            other => Err(DirectoryError::Internal(format!(
                "unknown portal session purpose \"{other}\""
            ))),
        }
    }
}

/// When sessions end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Unused for this long, a session ends.
    pub idle_seconds: i64,
    /// This long after sign-in, a session ends however busy.
    pub lifetime_seconds: i64,
}

/// A portal session as the portal sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalSession {
    /// What the store knows it by (the SHA-256 of the cookie's token).
    key: Vec<u8>,
    pub official: OfficialId,
    pub purpose: SessionPurpose,
    /// Every form of this session carries it.
    pub csrf_token: String,
    pub started_at: UnixTime,
    pub last_seen_at: UnixTime,
    /// Where it signed in from, and with what browser.
    pub source: String,
    pub user_agent: String,
}

impl fmt::Debug for PortalSession {
    // The CSRF token is a secret of the session's pages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalSession")
            .field("official", &self.official)
            .field("purpose", &self.purpose)
            .field("started_at", &self.started_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

impl PortalSession {
    /// Whether this is the session the cookie `token` opens.
    pub fn is_opened_by(&self, token: &str) -> bool {
        token_key(token).is_some_and(|key| key == self.key)
    }

    /// A short stable name for the session in a page (the first 8 hex digits of its key),
    /// which does not open it.
    pub fn label(&self) -> String {
        hex::encode(&self.key[..4])
    }

    fn from_row(row: PortalSessionRow) -> Result<PortalSession, DirectoryError> {
        Ok(PortalSession {
            purpose: row.purpose.parse()?,
            key: row.id_sha256,
            official: OfficialId(row.official_id),
            csrf_token: row.csrf_token,
            started_at: UnixTime(row.created_at),
            last_seen_at: UnixTime(row.last_seen_at),
            source: row.source,
            user_agent: row.user_agent,
        })
    }

    fn expired(&self, now: UnixTime, policy: SessionPolicy) -> bool {
        now.0 - self.last_seen_at.0 >= policy.idle_seconds
            || now.0 - self.started_at.0 >= policy.lifetime_seconds
    }
}

/// What an official sees of their own account.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    pub official: Official,
    /// The official's agency first, then its parent, up to the province.
    pub agency_chain: Vec<Agency>,
    /// Every address, primary first.
    pub addresses: Vec<String>,
    /// Display names of the groups they belong to, directly or through nesting.
    pub groups: Vec<String>,
    /// The certificate the directory serves for them now, if any.
    pub certificate: Option<Certificate>,
    /// Their latest sign-in days (UTC), newest first.
    pub recent_days: Vec<String>,
}

/// Sign-in days shown on the account page.
const RECENT_DAYS: i64 = 10;

/// A session just opened: the token goes into the cookie, once.
#[derive(Debug)]
pub struct OpenedSession {
    pub token: String,
    pub session: PortalSession,
}

impl Directory {
    /// The official with this id as stored now, if any.
    pub async fn official_by_id(&self, id: OfficialId) -> Result<Option<Official>, DirectoryError> {
        Ok(self.read().await?.official_by_id(id).await?)
    }

    /// The account page of `official` (as the caller just read it), read in one go.
    pub async fn account_overview(
        &self,
        official: Official,
    ) -> Result<AccountOverview, DirectoryError> {
        let mut conn = self.read().await?;
        let agencies = conn.agencies().await?;
        let mut agency_chain = Vec::new();
        let mut at = Some(official.agency_id);
        // The tree's size bounds the walk; the guard stops a corrupt cycle.
        while let Some(id) = at.filter(|_| agency_chain.len() <= agencies.len()) {
            let Some(agency) = agencies.iter().find(|a| a.id == id) else {
                break;
            };
            at = agency.parent_id;
            agency_chain.push(agency.clone());
        }
        let addresses = super::official_ops::addresses_in(&mut conn, official.id).await?;
        let groups = conn
            .groups_containing(GroupMember::Official(official.id))
            .await?
            .into_iter()
            .map(|g| g.display_name)
            .collect();
        let now = self.now();
        // As LDAP serves it: valid now, and the longest-lasting of those.
        let certificate = conn
            .certificates_of(official.id)
            .await?
            .into_iter()
            .filter(|c| c.standing(now) == CertificateStanding::Valid)
            .max_by_key(|c| c.not_after);
        let recent_days = conn.recent_activity_days(official.id, RECENT_DAYS).await?;
        Ok(AccountOverview {
            official,
            agency_chain,
            addresses,
            groups,
            certificate,
            recent_days,
        })
    }

    /// Makes a one-time link for `login` to choose a password, valid for `hours`; returns its
    /// token. Audited (without the token).
    pub async fn issue_reset_link(
        &self,
        actor: &Actor,
        login: &str,
        hours: u32,
    ) -> Result<String, DirectoryError> {
        let mut issued = self
            .issue_reset_links(actor, &[login.to_string()], hours)
            .await?;
        Ok(issued.pop().map(|(_, token)| token).unwrap_or_default())
    }

    /// Makes a one-time link for each of `logins`, valid for `hours`, in one transaction with
    /// an audit row each (without the token); returns `(login, token)` in the same order.
    pub async fn issue_reset_links(
        &self,
        actor: &Actor,
        logins: &[String],
        hours: u32,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        if !(1..=MAX_RESET_LINK_HOURS).contains(&hours) {
            return Err(DirectoryError::Invalid(format!(
                "a reset link lasts 1 to {MAX_RESET_LINK_HOURS} hours, not {hours}"
            )));
        }
        let now = self.now();
        let expires_at = now.plus(i64::from(hours) * 3600);
        let mut tx = self.store.begin().await?;
        let mut issued = Vec::with_capacity(logins.len());
        for login in logins {
            let official = official_in(&mut tx, login).await?;
            if official.status != OfficialStatus::Active {
                return Err(DirectoryError::Invalid(format!(
                    "{login} is disabled: enable the official first (congvu-admin user enable {login}), then issue the link"
                )));
            }
            let token = new_token();
            let key =
                token_key(&token).ok_or_else(|| DirectoryError::Invalid("bad token".into()))?;
            tx.insert_reset_link(&key, official.id, now, expires_at)
                .await?;
            let record = super::audit_record(
                actor,
                "official.reset_link",
                format!("official:{}", official.login),
                None,
                Some(json!({ "expires_at": expires_at.0 })),
            );
            tx.record_change(&record, now).await?;
            issued.push((official.login, token));
        }
        tx.commit().await?;
        Ok(issued)
    }

    /// The active official a reset link is for, while it is unused and unexpired.
    pub async fn official_for_reset_link(
        &self,
        token: &str,
    ) -> Result<Option<Official>, DirectoryError> {
        let Some(key) = token_key(token) else {
            return Ok(None);
        };
        let mut conn = self.read().await?;
        let Some(id) = conn.reset_link_official(&key, self.now()).await? else {
            return Ok(None);
        };
        Ok(conn
            .official_by_id(id)
            .await?
            .filter(|o| o.status == OfficialStatus::Active))
    }

    /// Uses up the reset link `token` to store `password` for the official it was issued to,
    /// in one transaction; `false` (and nothing written) when the link is no longer good or
    /// is not `official`'s.
    pub async fn set_password_from_link(
        &self,
        actor: &Actor,
        token: &str,
        official: OfficialId,
        password: StoredPassword,
    ) -> Result<bool, DirectoryError> {
        let Some(key) = token_key(token) else {
            return Ok(false);
        };
        let mut tx = self.store.begin().await?;
        if tx.consume_reset_link(&key, self.now()).await? != Some(official) {
            return Ok(false);
        }
        let official = tx
            .official_by_id(official)
            .await?
            .ok_or_else(|| not_found(EntityKind::Official, &official.0.to_string()))?;
        self.commit_password(tx, actor, &official, password).await?;
        Ok(true)
    }

    /// Opens a portal session for `official`.
    pub async fn open_portal_session(
        &self,
        official: OfficialId,
        purpose: SessionPurpose,
        source: IpAddr,
        user_agent: &str,
    ) -> Result<OpenedSession, DirectoryError> {
        let token = new_token();
        let key = token_key(&token).ok_or_else(|| DirectoryError::Invalid("bad token".into()))?;
        let now = self.now();
        let user_agent: String = user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_USER_AGENT_CHARS)
            .collect();
        let row = PortalSessionRow {
            id_sha256: key,
            official_id: official.0,
            purpose: purpose.as_str().to_string(),
            csrf_token: new_token(),
            created_at: now.0,
            last_seen_at: now.0,
            source: source.to_string(),
            user_agent,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_portal_session(&row).await?;
        tx.commit().await?;
        Ok(OpenedSession {
            token,
            session: PortalSession::from_row(row)?,
        })
    }

    /// The live session a cookie's `token` opens. A session past its idle or absolute limit
    /// is ended here and reads as none.
    pub async fn portal_session(
        &self,
        token: &str,
        policy: SessionPolicy,
    ) -> Result<Option<PortalSession>, DirectoryError> {
        let Some(key) = token_key(token) else {
            return Ok(None);
        };
        let Some(row) = self.read().await?.portal_session(&key).await? else {
            return Ok(None);
        };
        let mut session = PortalSession::from_row(row)?;
        let now = self.now();
        if session.expired(now, policy) {
            let mut tx = self.store.begin().await?;
            tx.delete_portal_session(&key).await?;
            tx.commit().await?;
            return Ok(None);
        }
        if now.0 - session.last_seen_at.0 >= TOUCH_EVERY_SECONDS {
            let mut tx = self.store.begin().await?;
            tx.touch_portal_session(&key, now).await?;
            tx.commit().await?;
            session.last_seen_at = now;
        }
        Ok(Some(session))
    }

    /// Ends the session a cookie's `token` opens (signing out).
    pub async fn end_portal_session(&self, token: &str) -> Result<(), DirectoryError> {
        let Some(key) = token_key(token) else {
            return Ok(());
        };
        let mut tx = self.store.begin().await?;
        tx.delete_portal_session(&key).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends every portal session of `official` ("sign out everywhere"); audited.
    pub async fn end_portal_sessions_of(
        &self,
        actor: &Actor,
        official: &Official,
    ) -> Result<u64, DirectoryError> {
        let mut tx = self.store.begin().await?;
        let ended = tx.delete_portal_sessions_of(official.id).await?;
        self.commit_change(
            tx,
            actor,
            "official.sessions_ended",
            format!("official:{}", official.login),
            None,
            Some(json!({ "sessions": ended })),
        )
        .await?;
        Ok(ended)
    }

    /// The live sessions of `official`, the most recently used first.
    pub async fn portal_sessions_of(
        &self,
        official: OfficialId,
        policy: SessionPolicy,
    ) -> Result<Vec<PortalSession>, DirectoryError> {
        let now = self.now();
        let rows = self.read().await?.portal_sessions_of(official).await?;
        let mut sessions = Vec::with_capacity(rows.len());
        for row in rows {
            let session = PortalSession::from_row(row)?;
            if !session.expired(now, policy) {
                sessions.push(session);
            }
        }
        Ok(sessions)
    }

    /// Forgets ended sessions and expired reset links.
    pub async fn sweep_portal(&self, policy: SessionPolicy) -> Result<u64, DirectoryError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let swept = tx
            .sweep_portal(
                UnixTime(now.0 - policy.idle_seconds),
                UnixTime(now.0 - policy.lifetime_seconds),
                now,
            )
            .await?;
        tx.commit().await?;
        Ok(swept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_only_well_formed_ones_have_a_key() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_token());
        assert_eq!(token_key(&a).map(|k| k.len()), Some(32));
        assert_eq!(token_key(&a[..42]), None);
        assert_eq!(token_key(&format!("{}=", &a[..42])), None);
        assert_eq!(token_key(""), None);
    }

    #[test]
    fn sessions_end_when_idle_or_old() {
        let policy = SessionPolicy {
            idle_seconds: 1800,
            lifetime_seconds: 8 * 3600,
        };
        let t = UnixTime(1_000_000);
        let session = PortalSession {
            key: vec![0; 32],
            official: OfficialId(1),
            purpose: SessionPurpose::Account,
            csrf_token: String::new(),
            started_at: t,
            last_seen_at: t.plus(7 * 3600),
            source: String::new(),
            user_agent: String::new(),
        };
        assert!(!session.expired(t.plus(7 * 3600 + 1799), policy));
        assert!(session.expired(t.plus(7 * 3600 + 1800), policy));
        let busy = PortalSession {
            last_seen_at: t.plus(8 * 3600 - 1),
            ..session
        };
        assert!(!busy.expired(t.plus(8 * 3600 - 1), policy));
        assert!(busy.expired(t.plus(8 * 3600), policy));
    }
}
