//! Authentication shared by every protocol: checking an official's or a service account's
//! password against the latest stored state, account lockout after repeated failures,
//! throttling of the source address, and password changes made by officials themselves or
//! by a service account allowed to reset them.
//!
//! Every refusal looks the same from outside: an unknown name, a wrong password, a disabled
//! or locked account, an expired initial password all answer [`LoginOutcome::Refused`] (its
//! reason is for operators only), and
//! an unknown name is checked against a decoy hash so it costs the same time as a wrong
//! password.
//!
//! A hash carried over from an old directory (`migrate ldif`) is checked with its own scheme,
//! and the decoy is checked as well, so that a wrong password costs at least what it costs
//! for an official with an argon2id hash and the timing tells nobody which accounts still
//! have an old hash. At the first sign-in it lets through, the password is hashed again at
//! the full cost and replaces it.
//!
//! An initial password (generated, reset, or set by an administrator to be changed) opens
//! nothing but the choice of a new one: a correct one answers [`LoginOutcome::MustChange`],
//! which every protocol turns into its own "change your password first" refusal, and the
//! portal into its "choose your password" page.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::hash_pool::{HashPool, Standing};
use super::official_ops::official_by_address_in;
use super::password_policy::check_chosen_password;
use super::password_policy::{check_official_password, PasswordWeakness};
use super::{
    generate_initial_password, normalize_login, Actor, Argon2Cost, Directory, DirectoryError,
    LegacyHash, Official, OfficialId, OfficialStatus, PasswordCost, PasswordHash, PasswordHasher,
    ServiceAccount, StoredPassword,
};
use crate::clock::UnixTime;
use crate::config::AuthConfig;
use crate::model::Lockout;

/// How a client named the official logging in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    Login(String),
    /// A primary address or an alias.
    Address(String),
}

impl LoginName {
    /// `annv` is a login, `annv@vinhphuc.gov.vn` an address.
    pub fn parse(text: &str) -> LoginName {
        if text.contains('@') {
            LoginName::Address(text.trim().to_lowercase())
        } else {
            LoginName::Login(text.trim().to_ascii_lowercase())
        }
    }
}

/// Who a successful login is. Made once per login and moved, never stored in bulk, so the
/// size difference between the variants costs nothing worth a box.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Principal {
    Official(Official),
    Service(ServiceAccount),
}

/// The answer to a login attempt.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    Accepted(Box<Principal>),
    /// The right initial password, still within its days: good only for choosing a new one.
    MustChange(Box<Official>),
    /// Unknown name, wrong password, disabled, locked or throttled: deliberately one answer
    /// to the client; the reason is only for operators (logs and metrics).
    Refused(RefusedBecause),
}

/// Why a login was refused. Never told to the client, to whom every refusal looks the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedBecause {
    UnknownName,
    WrongPassword,
    Locked,
    Disabled,
    /// The source address failed too often: refused unchecked.
    Throttled,
    /// The right initial password, past its days.
    Expired,
}

/// The lockout rules from `[auth]`.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures within the window that lock an account.
    pub failures: i64,
    pub window_seconds: i64,
    /// Failures from one address within the window after which it is refused unchecked.
    pub source_failures: u32,
}

impl From<&AuthConfig> for LockoutPolicy {
    fn from(auth: &AuthConfig) -> Self {
        LockoutPolicy {
            failures: i64::from(auth.lockout_failures),
            window_seconds: i64::try_from(auth.lockout_window_seconds).unwrap_or(i64::MAX),
            source_failures: auth.lockout_source_failures,
        }
    }
}

impl Lockout {
    /// Whether logins are refused at `now`.
    pub fn is_locked(&self, now: UnixTime) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// The state after one more failure at `now`: a new count when the previous ones fell
    /// out of the window, and a lock (with the count reset) when it reaches the limit.
    pub fn after_failure(self, now: UnixTime, policy: LockoutPolicy) -> Lockout {
        let recent = self
            .failing_since
            .is_some_and(|since| now.0 - since.0 < policy.window_seconds);
        let (count, since) = if recent {
            (self.failed_logins + 1, self.failing_since)
        } else {
            (1, Some(now))
        };
        if count >= policy.failures {
            Lockout {
                failed_logins: 0,
                failing_since: None,
                locked_until: Some(now.plus(policy.window_seconds)),
            }
        } else {
            Lockout {
                failed_logins: count,
                failing_since: since,
                locked_until: self.locked_until.filter(|until| *until > now),
            }
        }
    }
}

/// Why a password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    /// The old password is wrong (counted as a failed login).
    #[error("invalid credentials")]
    WrongPassword,
    /// The caller may not change this official's password.
    #[error("{0}")]
    NotAllowed(String),
    /// The new password breaks the policy; the message says how.
    #[error("{0}")]
    Policy(String),
    /// The password an official chose for themselves is refused, for this reason.
    #[error("{0}")]
    Weak(PasswordWeakness),
    /// The reset link was used, expired or revoked while the password was being chosen.
    #[error("the reset link is no longer valid")]
    LinkSpent,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Failures counted against one source address, and when a password from it last matched.
#[derive(Debug, Clone, Copy)]
struct SourceRecord {
    failures: u32,
    since: UnixTime,
    matched: Option<UnixTime>,
}

impl SourceRecord {
    /// Its failures within the window that ends `now`: none once the window has passed.
    fn recent_failures(&self, now: UnixTime, window: i64) -> u32 {
        if now.0 - self.since.0 < window {
            self.failures
        } else {
            0
        }
    }

    fn matched_recently(&self, now: UnixTime, window: i64) -> bool {
        self.matched.is_some_and(|at| now.0 - at.0 < window)
    }

    /// Where the source stands in the hashing queue: trusted when a password from it
    /// matched within the window (an agency behind one address where someone mistyped stays
    /// trusted; its failures still count towards the throttle), failing when it has only
    /// failed within it, so that a flood spread over many addresses, each below the
    /// throttle, waits behind everyone else once each address has failed once; unknown
    /// otherwise.
    fn standing(&self, now: UnixTime, window: i64) -> Standing {
        if self.matched_recently(now, window) {
            Standing::Trusted
        } else if self.recent_failures(now, window) > 0 {
            Standing::Failing
        } else {
            Standing::Unknown
        }
    }
}

/// Checks passwords for every protocol, with lockout and source throttling.
#[derive(Debug)]
pub struct Authenticator {
    directory: Directory,
    hasher: PasswordHasher,
    policy: LockoutPolicy,
    /// How long an initial password stays good for choosing a password.
    initial_valid_seconds: i64,
    /// Verified instead of a real hash when the name is unknown.
    decoy: PasswordHash,
    /// Where argon2 runs: bounded, off the async threads, at a lower priority.
    pool: HashPool,
    sources: Arc<Mutex<HashMap<IpAddr, SourceRecord>>>,
    /// The last day (UTC) each official was recorded active by this process, so that a
    /// day's activity is written once, not at every login.
    active_on: Mutex<HashMap<OfficialId, String>>,
}

/// The result of one password check on the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verified {
    Match,
    Mismatch,
    /// The source became throttled while the check waited its turn: not computed.
    Skipped,
}

/// What a password is checked against on the pool.
#[derive(Debug, Clone)]
enum Against {
    /// An argon2 PHC string: an official's, a service account's, or the decoy.
    Argon2(PasswordHash),
    /// A hash carried over from an old directory, checked together with the decoy.
    Legacy {
        hash: PasswordHash,
        decoy: PasswordHash,
    },
}

impl Against {
    /// What `stored` is checked as; `decoy` pads a carried-over hash's check.
    fn stored(stored: &StoredPassword, decoy: &PasswordHash) -> Against {
        match stored.cost {
            PasswordCost::Legacy => Against::Legacy {
                hash: stored.hash.clone(),
                decoy: decoy.clone(),
            },
            PasswordCost::Full | PasswordCost::Initial => Against::Argon2(stored.hash.clone()),
        }
    }

    /// Whether `password` matches. Blocking: run it on the pool.
    fn matches(&self, hasher: &PasswordHasher, password: &str) -> bool {
        match self {
            Against::Argon2(hash) => hasher.verify(password, hash),
            Against::Legacy { hash, decoy } => {
                // A hash beyond the bounds (never let in by `migrate ldif`) is not computed.
                let matched = LegacyHash::parse(&hash.0).is_ok_and(|h| h.verify(password));
                // Always run, whatever the outcome: its time is what hides the old hash.
                std::hint::black_box(hasher.verify(password, decoy));
                matched
            }
        }
    }
}

/// Where an initial password stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InitialStanding {
    Valid,
    Expired,
}

/// Source records kept before expired ones are swept.
const SOURCE_SWEEP_AT: usize = 10_000;

/// How long a throttled source waits for its refusal. Long enough that a flood from one
/// address costs next to nothing (each of its connections gets one answer a second), and
/// it reveals nothing: the answer is the same whether the name or password was right.
const THROTTLED_ANSWER_DELAY: Duration = Duration::from_secs(1);

impl Authenticator {
    /// An authenticator over `directory` with the `[auth]` settings. Hashes the decoy, so it
    /// takes one password hash's time.
    pub async fn new(
        directory: Directory,
        auth: &AuthConfig,
    ) -> Result<Arc<Authenticator>, DirectoryError> {
        let hasher = PasswordHasher::from_config(auth);
        let pool = HashPool::new(hasher.workers());
        let decoy = {
            let hasher = hasher.clone();
            let secret = generate_initial_password();
            pool.run(move || hasher.hash(&secret, PasswordCost::Full))
                .await
                .ok_or_else(|| DirectoryError::Internal("the hashing threads are gone".into()))??
        };
        let initial_valid_seconds = i64::from(auth.initial_password_days) * 86_400;
        Ok(Arc::new(Authenticator {
            directory,
            pool,
            hasher,
            policy: LockoutPolicy::from(auth),
            initial_valid_seconds,
            decoy,
            sources: Arc::default(),
            active_on: Mutex::default(),
        }))
    }

    /// The directory it authenticates against.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The hasher new passwords are hashed with.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Checks an official's password.
    pub async fn login_official(
        &self,
        name: &LoginName,
        password: &str,
        source: IpAddr,
    ) -> Result<LoginOutcome, DirectoryError> {
        if self.source_throttled(source) {
            self.throttled_answer().await;
            return Ok(LoginOutcome::Refused(RefusedBecause::Throttled));
        }
        let now = self.directory.now();
        let found = self.directory.login_state(name).await?;
        let against = match found.as_ref().and_then(|(o, _)| o.password.as_ref()) {
            Some(stored) => Against::stored(stored, &self.decoy),
            None => Against::Argon2(self.decoy.clone()),
        };
        let verified = self.verify(password, against, source).await;
        if verified == Verified::Skipped {
            self.throttled_answer().await;
            return Ok(LoginOutcome::Refused(RefusedBecause::Throttled));
        }
        let matches = verified == Verified::Match && stored_is_set(found.as_ref());
        let Some((mut official, lockout)) = found else {
            self.note_source_failure(source);
            return Ok(LoginOutcome::Refused(RefusedBecause::UnknownName));
        };
        let usable = official.status == OfficialStatus::Active && !lockout.is_locked(now);
        // An expired initial password counts as a wrong one, failure and all.
        let standing = self.initial_standing(&official, now);
        if matches && usable && standing != Some(InitialStanding::Expired) {
            if lockout.failed_logins > 0 {
                self.directory.clear_failed_logins(&official).await?;
            }
            if standing == Some(InitialStanding::Valid) {
                return Ok(LoginOutcome::MustChange(Box::new(official)));
            }
            self.replace_legacy_hash(&mut official, password, source)
                .await;
            self.note_active(official.id, now).await;
            return Ok(LoginOutcome::Accepted(Box::new(Principal::Official(
                official,
            ))));
        }
        self.note_source_failure(source);
        let because = if official.status != OfficialStatus::Active {
            RefusedBecause::Disabled
        } else if lockout.is_locked(now) {
            RefusedBecause::Locked
        } else if matches {
            RefusedBecause::Expired
        } else {
            RefusedBecause::WrongPassword
        };
        if official.status == OfficialStatus::Active && !lockout.is_locked(now) {
            self.directory
                .record_failed_login(&official, self.policy)
                .await?;
        }
        Ok(LoginOutcome::Refused(because))
    }

    /// After `password` matched `official`'s carried-over hash, hashes it at the full cost
    /// and stores that instead; the old hash is gone. A failure is logged and the login still
    /// succeeds: the old hash stays until the next sign-in tries again.
    async fn replace_legacy_hash(&self, official: &mut Official, password: &str, source: IpAddr) {
        let Some(legacy) = official
            .password
            .as_ref()
            .filter(|p| p.cost == PasswordCost::Legacy)
            .map(|p| p.hash.clone())
        else {
            return;
        };
        let login = official.login.clone();
        let new = match self.stored_password(password, false, Some(source)).await {
            Ok(new) => new,
            Err(error) => {
                tracing::warn!(%error, %login, "cannot hash a carried-over password again");
                return;
            }
        };
        match self
            .directory
            .replace_legacy_password(official, &legacy, new.clone())
            .await
        {
            Ok(true) => official.password = Some(new),
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, %login, "cannot replace a carried-over hash"),
        }
    }

    /// Whether the official's password is an initial one, and if so whether it has expired
    /// at `now`. A password without a recorded time counts as set long ago.
    fn initial_standing(&self, official: &Official, now: UnixTime) -> Option<InitialStanding> {
        official.password.as_ref().filter(|p| p.must_change)?;
        let set_at = official.password_set_at.unwrap_or(UnixTime(0));
        Some(if now.0 - set_at.0 >= self.initial_valid_seconds {
            InitialStanding::Expired
        } else {
            InitialStanding::Valid
        })
    }

    /// Records that `official` was active today, once per day per process. A failure is
    /// logged, never turned into a refused login: the report loses a day, nobody loses access.
    async fn note_active(&self, official: OfficialId, now: UnixTime) {
        let day = crate::model::UtcDay::of(now).to_string();
        let seen = {
            let active = self.active_on.lock().unwrap_or_else(|e| e.into_inner());
            active.get(&official) == Some(&day)
        };
        if seen {
            return;
        }
        match self.directory.record_activity(official, &day).await {
            Ok(()) => {
                self.active_on
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(official, day);
            }
            Err(error) => tracing::warn!(%error, "cannot record an official's activity"),
        }
    }

    /// Checks a service account's secret. Service accounts are not locked out (that would
    /// let anyone cut a system off); their failures count against the source address.
    pub async fn login_service(
        &self,
        name: &str,
        password: &str,
        source: IpAddr,
    ) -> Result<LoginOutcome, DirectoryError> {
        if self.source_throttled(source) {
            self.throttled_answer().await;
            return Ok(LoginOutcome::Refused(RefusedBecause::Throttled));
        }
        let account = self.directory.service_account(name).await?;
        let stored = account
            .as_ref()
            .map_or_else(|| self.decoy.clone(), |a| a.password_hash.clone());
        let verified = self.verify(password, Against::Argon2(stored), source).await;
        if verified == Verified::Skipped {
            self.throttled_answer().await;
            return Ok(LoginOutcome::Refused(RefusedBecause::Throttled));
        }
        let matches = verified == Verified::Match;
        let because = match account {
            Some(account) if matches && account.status == OfficialStatus::Active => {
                return Ok(LoginOutcome::Accepted(Box::new(Principal::Service(
                    account,
                ))))
            }
            None => RefusedBecause::UnknownName,
            Some(account) if account.status != OfficialStatus::Active => RefusedBecause::Disabled,
            Some(_) => RefusedBecause::WrongPassword,
        };
        self.note_source_failure(source);
        Ok(LoginOutcome::Refused(because))
    }

    /// The official `login` as stored now (for a password change by a bound session).
    pub async fn official_for_change(&self, login: &str) -> Result<Official, DirectoryError> {
        self.directory.official(login).await
    }

    /// Service account `name` as stored now, if it is still active.
    pub async fn service_for_reset(
        &self,
        name: &str,
    ) -> Result<Option<ServiceAccount>, DirectoryError> {
        Ok(self
            .directory
            .service_account(name)
            .await?
            .filter(|s| s.status == OfficialStatus::Active))
    }

    /// An official changes their own password, proving the old one (an initial password
    /// proves it too: changing it is what it is for).
    pub async fn change_own_password(
        &self,
        official: &Official,
        old: &str,
        new: &str,
        source: IpAddr,
    ) -> Result<(), PasswordChangeError> {
        let name = LoginName::Login(official.login.clone());
        let current = match self.login_official(&name, old, source).await? {
            LoginOutcome::Accepted(principal) => match *principal {
                Principal::Official(current) => current,
                Principal::Service(_) => return Err(PasswordChangeError::WrongPassword),
            },
            LoginOutcome::MustChange(current) => *current,
            LoginOutcome::Refused(_) => return Err(PasswordChangeError::WrongPassword),
        };
        check_official_password(new, &current).map_err(PasswordChangeError::Weak)?;
        if old == new {
            return Err(PasswordChangeError::Weak(PasswordWeakness::SameAsCurrent));
        }
        self.store_chosen_password(&current, new, source).await
    }

    /// An official who proved who they are another way (an initial password at sign-in, or
    /// the reset link `link`, which this uses up) chooses a password. It must differ from the
    /// password it replaces.
    pub async fn choose_password(
        &self,
        official: &Official,
        new: &str,
        source: IpAddr,
        link: Option<&str>,
    ) -> Result<(), PasswordChangeError> {
        check_official_password(new, official).map_err(PasswordChangeError::Weak)?;
        if let Some(current) = &official.password {
            let (hasher, against, candidate) = (
                self.hasher.clone(),
                Against::stored(current, &self.decoy),
                new.to_string(),
            );
            let same = self
                .pool
                .run_for(Some(source), self.standing(Some(source)), move || {
                    against.matches(&hasher, &candidate)
                })
                .await
                .unwrap_or(false);
            if same {
                return Err(PasswordChangeError::Weak(PasswordWeakness::SameAsCurrent));
            }
        }
        let Some(link) = link else {
            return self.store_chosen_password(official, new, source).await;
        };
        let stored = self.stored_password(new, false, Some(source)).await?;
        let actor = Actor(format!("official:{}", official.login));
        match self
            .directory
            .set_password_from_link(&actor, link, official.id, stored)
            .await?
        {
            true => Ok(()),
            false => Err(PasswordChangeError::LinkSpent),
        }
    }

    /// Hashes a password the official chose at the full cost and stores it; every portal
    /// session and reset link of theirs ends.
    async fn store_chosen_password(
        &self,
        official: &Official,
        new: &str,
        source: IpAddr,
    ) -> Result<(), PasswordChangeError> {
        let stored = self.stored_password(new, false, Some(source)).await?;
        let actor = Actor(format!("official:{}", official.login));
        self.directory
            .set_password(&actor, &official.login, stored)
            .await?;
        Ok(())
    }

    /// A service account allowed to reset passwords sets `login`'s password, or generates
    /// one when `new` is `None` (returned; the official must change it at next login).
    pub async fn reset_password(
        &self,
        service: &ServiceAccount,
        login: &str,
        new: Option<&str>,
    ) -> Result<Option<String>, PasswordChangeError> {
        let official = self.directory.official(login).await?;
        let in_scope = match service.scope_agency_id {
            None => true,
            Some(scope) => {
                let agencies = self.directory.agencies().await?;
                super::snapshot::agency_within(
                    &super::snapshot::agency_parents(&agencies),
                    official.agency_id,
                    scope,
                )
            }
        };
        if !service.may_reset_passwords || !in_scope {
            return Err(PasswordChangeError::NotAllowed(format!(
                "service account {} may not reset the password of {}",
                service.name, official.login
            )));
        }
        let (password, generated) = match new {
            Some(p) => {
                check_chosen_password(p).map_err(|e| PasswordChangeError::Policy(e.to_string()))?;
                (p.to_string(), None)
            }
            None => {
                let p = generate_initial_password();
                (p.clone(), Some(p))
            }
        };
        let stored = self
            .stored_password(&password, generated.is_some(), None)
            .await?;
        let actor = Actor(format!("service:{}", service.name));
        self.directory
            .set_password(&actor, &official.login, stored)
            .await?;
        Ok(generated)
    }

    async fn stored_password(
        &self,
        password: &str,
        must_change: bool,
        source: Option<IpAddr>,
    ) -> Result<StoredPassword, DirectoryError> {
        let hasher = self.hasher.clone();
        let secret = password.to_string();
        let hash = self
            .pool
            .run_for(source, self.standing(source), move || {
                hasher.hash(&secret, PasswordCost::Full)
            })
            .await
            .ok_or_else(|| DirectoryError::Internal("the hashing threads are gone".into()))??;
        Ok(StoredPassword {
            hash,
            cost: PasswordCost::Full,
            must_change,
        })
    }

    /// Verifies on the hashing pool. Checks queue behind each other under load, so the
    /// source throttle is looked at again when the check's turn comes: a flood from one
    /// address stops costing hashes as soon as the throttle engages.
    async fn verify(&self, password: &str, against: Against, source: IpAddr) -> Verified {
        let hasher = self.hasher.clone();
        let password = password.to_string();
        let sources = Arc::clone(&self.sources);
        let (policy, now) = (self.policy, self.directory.now());
        let standing = self.standing(Some(source));
        let verified = self
            .pool
            .run_for(Some(source), standing, move || {
                if throttled(&sources, source, policy, now) {
                    Verified::Skipped
                } else if against.matches(&hasher, &password) {
                    Verified::Match
                } else {
                    Verified::Mismatch
                }
            })
            .await
            .unwrap_or(Verified::Mismatch);
        if verified == Verified::Match {
            self.note_source_match(source);
        }
        verified
    }

    async fn throttled_answer(&self) {
        tokio::time::sleep(THROTTLED_ANSWER_DELAY).await;
    }

    fn source_throttled(&self, source: IpAddr) -> bool {
        throttled(&self.sources, source, self.policy, self.directory.now())
    }

    /// Where `source` stands in the hashing queue ([`SourceRecord::standing`]); the checks
    /// with no source are the server's own.
    fn standing(&self, source: Option<IpAddr>) -> Standing {
        let Some(source) = source else {
            return Standing::Trusted;
        };
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.get(&source).map_or(Standing::Unknown, |record| {
            record.standing(self.directory.now(), self.policy.window_seconds)
        })
    }

    fn note_source_failure(&self, source: IpAddr) {
        let standing = self.with_source_record(source, |record| {
            record.failures = record.failures.saturating_add(1);
        });
        self.pool.restand(Some(source), standing);
    }

    fn note_source_match(&self, source: IpAddr) {
        let now = self.directory.now();
        let standing = self.with_source_record(source, |record| record.matched = Some(now));
        self.pool.restand(Some(source), standing);
    }

    /// Changes `source`'s record, its failures started afresh when their window has passed,
    /// and gives where the source stands after it; records with nothing left in the window
    /// are swept once there are many.
    fn with_source_record(
        &self,
        source: IpAddr,
        change: impl FnOnce(&mut SourceRecord),
    ) -> Standing {
        let now = self.directory.now();
        let window = self.policy.window_seconds;
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.len() >= SOURCE_SWEEP_AT {
            sources.retain(|_, r| now.0 - r.since.0 < window || r.matched_recently(now, window));
        }
        let fresh = SourceRecord {
            failures: 0,
            since: now,
            matched: None,
        };
        let record = sources.entry(source).or_insert(fresh);
        if now.0 - record.since.0 >= window {
            *record = SourceRecord {
                matched: record.matched,
                ..fresh
            };
        }
        change(record);
        record.standing(now, window)
    }
}

/// Whether `source` has failed too often within the window.
fn throttled(
    sources: &Mutex<HashMap<IpAddr, SourceRecord>>,
    source: IpAddr,
    policy: LockoutPolicy,
    now: UnixTime,
) -> bool {
    let sources = sources.lock().unwrap_or_else(|e| e.into_inner());
    sources
        .get(&source)
        .is_some_and(|r| r.recent_failures(now, policy.window_seconds) >= policy.source_failures)
}

/// Whether the official found has a password at all (one without cannot log in, though
/// the decoy was checked to take the same time).
fn stored_is_set(found: Option<&(Official, Lockout)>) -> bool {
    found.is_some_and(|(o, _)| o.password.is_some())
}

impl PasswordHasher {
    /// The hasher for the `[auth]` settings.
    pub fn from_config(auth: &AuthConfig) -> PasswordHasher {
        PasswordHasher::new(Argon2Cost {
            memory_kib: auth.argon2_memory_kib,
            iterations: auth.argon2_iterations,
            parallelism: auth.argon2_parallelism,
        })
        .with_workers(auth.hash_workers as usize)
    }
}

impl Directory {
    /// The official `name` refers to, with their lockout state: the latest committed state,
    /// never a snapshot.
    pub async fn login_state(
        &self,
        name: &LoginName,
    ) -> Result<Option<(Official, Lockout)>, DirectoryError> {
        let mut conn = self.read().await?;
        let official = match name {
            LoginName::Login(login) => match normalize_login(login) {
                Ok(login) => conn.official_by_login(&login).await?,
                Err(_) => None,
            },
            LoginName::Address(address) => official_by_address_in(&mut conn, address).await?,
        };
        match official {
            Some(official) => {
                let lockout = conn.lockout_of(official.id).await?;
                Ok(Some((official, lockout)))
            }
            None => Ok(None),
        }
    }

    /// Counts a failed login; locks the account (with an audit row) when it reaches the
    /// policy's limit.
    pub async fn record_failed_login(
        &self,
        official: &Official,
        policy: LockoutPolicy,
    ) -> Result<(), DirectoryError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let before = tx.lockout_of(official.id).await?;
        let after = before.after_failure(now, policy);
        tx.set_lockout(official.id, after).await?;
        if after.locked_until.is_some() && !before.is_locked(now) {
            let summary = json!({ "locked_until": after.locked_until.map(|t| t.0) });
            self.commit_change(
                tx,
                &Actor("system:lockout".into()),
                "official.locked",
                format!("official:{}", official.login),
                None,
                Some(summary),
            )
            .await
        } else {
            tx.commit().await?;
            Ok(())
        }
    }

    /// Records that `official` signed in on `day` (YYYY-MM-DD, UTC).
    pub async fn record_activity(
        &self,
        official: OfficialId,
        day: &str,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.store.begin().await?;
        tx.record_activity(official, day).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets an official's failed logins after a successful one.
    pub async fn clear_failed_logins(&self, official: &Official) -> Result<(), DirectoryError> {
        let mut tx = self.store.begin().await?;
        tx.set_lockout(official.id, Lockout::default()).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Why a SASL PLAIN response (RFC 4616) was not accepted as credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainRefusal {
    /// Not `authzid NUL authcid NUL passwd` in UTF-8.
    Malformed,
    /// An authorisation identity other than the login's own: acting for someone else is not
    /// offered.
    ActingForOther,
}

/// The login name and password in a decoded SASL PLAIN response, for every protocol that
/// offers PLAIN (SMTP AUTH, IMAP AUTHENTICATE).
pub fn plain_credentials(response: &[u8]) -> Result<(String, String), PlainRefusal> {
    let mut parts = response.split(|&b| b == 0);
    let (Some(authz), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PlainRefusal::Malformed);
    };
    if !authz.is_empty() && authz != user {
        return Err(PlainRefusal::ActingForOther);
    }
    match (std::str::from_utf8(user), std::str::from_utf8(password)) {
        (Ok(user), Ok(password)) => Ok((user.to_owned(), password.to_owned())),
        _ => Err(PlainRefusal::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LockoutPolicy = LockoutPolicy {
        failures: 3,
        window_seconds: 900,
        source_failures: 50,
    };

    /// An authenticator over a fresh SQLite directory whose clock the test moves.
    async fn authenticator(dir: &std::path::Path) -> (Arc<Authenticator>, crate::clock::Clock) {
        let store = crate::store::Store::open(&crate::store::StoreOptions::sqlite_in(dir))
            .await
            .unwrap();
        let clock = crate::clock::Clock::fixed(UnixTime(1_800_000_000));
        let directory = Directory::new(store, clock.clone());
        let auth = AuthConfig {
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            ..AuthConfig::default()
        };
        (Authenticator::new(directory, &auth).await.unwrap(), clock)
    }

    #[tokio::test]
    async fn a_source_is_trusted_after_a_match_and_failing_after_only_failures_in_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let (auth, clock) = authenticator(dir.path()).await;
        let window = auth.policy.window_seconds;
        let source: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(auth.standing(Some(source)), Standing::Unknown);
        assert_eq!(auth.standing(None), Standing::Trusted);

        let secret = auth.hasher.hash("Bí-mật-2026", PasswordCost::Full).unwrap();
        let against = || Against::Argon2(secret.clone());
        assert_eq!(
            auth.verify("Bí-mật-2026", against(), source).await,
            Verified::Match
        );
        assert_eq!(auth.standing(Some(source)), Standing::Trusted);

        // A service account nobody has: a failure, which a match in the window outweighs
        // (many officials behind one address, one of them mistyping).
        let refused = auth.login_service("khongco", "sai", source).await.unwrap();
        assert!(
            matches!(refused, LoginOutcome::Refused(RefusedBecause::UnknownName)),
            "{refused:?}"
        );
        assert_eq!(auth.standing(Some(source)), Standing::Trusted);
        let elsewhere: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(auth.standing(Some(elsewhere)), Standing::Unknown);
        auth.login_service("khongco", "sai", elsewhere)
            .await
            .unwrap();
        assert_eq!(auth.standing(Some(elsewhere)), Standing::Failing);

        // Once the window has passed, the failures and the match are forgotten.
        clock.advance(window);
        assert_eq!(auth.standing(Some(source)), Standing::Unknown);
        assert_eq!(auth.standing(Some(elsewhere)), Standing::Unknown);
        auth.login_service("khongco", "sai", source).await.unwrap();
        assert_eq!(auth.standing(Some(source)), Standing::Failing);
        let matched = auth.verify("Bí-mật-2026", against(), source).await;
        assert_eq!(matched, Verified::Match);
        assert_eq!(auth.standing(Some(source)), Standing::Trusted);
    }

    #[test]
    fn locks_after_the_limit_within_the_window() {
        let t = UnixTime(1_000_000);
        let one = Lockout::default().after_failure(t, POLICY);
        let two = one.after_failure(t.plus(10), POLICY);
        assert_eq!((two.failed_logins, two.locked_until), (2, None));
        let three = two.after_failure(t.plus(20), POLICY);
        assert_eq!(three.locked_until, Some(t.plus(920)));
        assert!(three.is_locked(t.plus(919)));
        assert!(!three.is_locked(t.plus(920)));
    }

    #[test]
    fn old_failures_start_a_new_count() {
        let t = UnixTime(1_000_000);
        let two = Lockout::default()
            .after_failure(t, POLICY)
            .after_failure(t.plus(1), POLICY);
        let later = two.after_failure(t.plus(901), POLICY);
        assert_eq!((later.failed_logins, later.locked_until), (1, None));
        assert_eq!(later.failing_since, Some(t.plus(901)));
    }

    #[test]
    fn addresses_and_logins_are_told_apart() {
        assert_eq!(LoginName::parse(" AnNV "), LoginName::Login("annv".into()));
        assert_eq!(
            LoginName::parse("AnNV@VinhPhuc.gov.vn"),
            LoginName::Address("annv@vinhphuc.gov.vn".into())
        );
    }
}

#[cfg(test)]
mod proptests;

/// Counts how a sign-in over `protocol` ended in `congvu_auth_attempts_total`; a login that
/// could not be checked (the database failed) is not counted.
pub fn count_login(protocol: &'static str, outcome: &Result<LoginOutcome, DirectoryError>) {
    use crate::telemetry::AuthOutcome;
    let counted = match outcome {
        Ok(LoginOutcome::Accepted(_)) => AuthOutcome::Success,
        Ok(LoginOutcome::MustChange(_)) => AuthOutcome::MustChange,
        Ok(LoginOutcome::Refused(why)) => match why {
            RefusedBecause::UnknownName => AuthOutcome::UnknownName,
            RefusedBecause::WrongPassword => AuthOutcome::WrongPassword,
            RefusedBecause::Locked => AuthOutcome::Locked,
            RefusedBecause::Disabled => AuthOutcome::Disabled,
            RefusedBecause::Throttled => AuthOutcome::Throttled,
            RefusedBecause::Expired => AuthOutcome::Expired,
        },
        Err(_) => return,
    };
    crate::telemetry::login_attempt(protocol, counted);
}
