//! An official's scripts as ManageSieve, the portal and the admin CLI manage them: stored only
//! once they compile, a bounded number per official, at most one active; and the active one
//! compiled once and kept, per official, until it changes (on any node: the stored text,
//! read at every delivery, is compared with the text the cached script came from).

use std::collections::HashMap;
use std::sync::Arc;

use super::{Chain, Filters, Script, ScriptError, MAX_SCRIPT_BYTES};
use crate::clock::{Clock, UnixTime};
use crate::model::{AgencyId, BeforeScript, OfficialId, SieveScript};
use crate::store::{Store, StoreError, UniqueKey};

/// Scripts one official may keep.
pub const MAX_SCRIPTS: usize = 16;
/// Characters in a script's name at most.
pub const MAX_NAME_CHARS: usize = 128;
/// Officials whose compiled active script is kept in memory.
const CACHED_OFFICIALS: usize = 16_384;
/// Agencies whose administrators' compiled script is kept in memory.
const CACHED_AGENCIES: usize = 1_024;
/// How long administrators' scripts as read serve deliveries before they are read again: a
/// change holds on every node within this.
pub const BEFORE_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ScriptsError {
    #[error("the script does not compile: {0}")]
    Invalid(#[from] ScriptError),
    #[error(
        "a script name must be 1 to {MAX_NAME_CHARS} characters, without control characters \
         or slashes"
    )]
    BadName,
    #[error("there is no script called {0:?}")]
    NoSuchScript(String),
    #[error("a script called {0:?} already exists")]
    Exists(String),
    #[error("{0:?} is the active script; make another active, or none, first")]
    Active(String),
    #[error("an official may keep at most {MAX_SCRIPTS} scripts")]
    TooMany,
    #[error("the script is {0} bytes; a script may be at most {MAX_SCRIPT_BYTES} bytes")]
    TooLarge(u64),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ScriptsError {
    fn from(e: StoreError) -> ScriptsError {
        ScriptsError::Store(e)
    }
}

/// A compiled active script and the text it was compiled from.
#[derive(Debug, Clone)]
struct Compiled {
    text: Arc<str>,
    script: Script,
}

/// Officials' scripts.
#[derive(Clone)]
pub struct Scripts {
    store: Store,
    clock: Clock,
    filters: Arc<Filters>,
    compiled: Arc<quick_cache::sync::Cache<OfficialId, Compiled>>,
    /// Administrators' scripts, compiled, by agency (`None`: the province's).
    before: Arc<quick_cache::sync::Cache<Option<AgencyId>, Compiled>>,
    /// The administrators' scripts as last read, and when: read again once older than
    /// [`BEFORE_FRESH`], so a delivery does not ask the database for them every time.
    before_read: Arc<std::sync::Mutex<Option<BeforeRead>>>,
}

/// Administrators' scripts as read, and when.
type BeforeRead = (std::time::Instant, Arc<BeforeSet>);

/// Administrators' compiled scripts by agency (`None`: the province's).
type BeforeSet = HashMap<Option<AgencyId>, Script>;

impl std::fmt::Debug for Scripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripts")
            .field("cached", &self.compiled.len())
            .finish_non_exhaustive()
    }
}

impl Scripts {
    pub fn new(store: Store, clock: Clock, filters: Arc<Filters>) -> Scripts {
        Scripts {
            store,
            clock,
            filters,
            compiled: Arc::new(quick_cache::sync::Cache::new(CACHED_OFFICIALS)),
            before: Arc::new(quick_cache::sync::Cache::new(CACHED_AGENCIES)),
            before_read: Arc::default(),
        }
    }

    pub fn filters(&self) -> &Filters {
        &self.filters
    }

    /// The official's scripts, by name.
    pub async fn list(&self, official: OfficialId) -> Result<Vec<SieveScript>, ScriptsError> {
        Ok(self.store.read().await?.sieve_scripts(official).await?)
    }

    /// The official's script `name`.
    pub async fn get(&self, official: OfficialId, name: &str) -> Result<SieveScript, ScriptsError> {
        self.store
            .read()
            .await?
            .sieve_script(official, name)
            .await?
            .ok_or_else(|| ScriptsError::NoSuchScript(name.to_owned()))
    }

    /// Checks `text` as a script without storing it.
    pub fn check(&self, text: &str) -> Result<(), ScriptsError> {
        check_size(text.len() as u64)?;
        self.filters.compile(text.as_bytes())?;
        Ok(())
    }

    /// Whether a script `name` of `bytes` could be stored for the official now (ManageSieve's
    /// HAVESPACE): the name is valid, the size within the limit, and a new name within the
    /// number of scripts allowed.
    pub async fn has_space(
        &self,
        official: OfficialId,
        name: &str,
        bytes: u64,
    ) -> Result<(), ScriptsError> {
        check_name(name)?;
        check_size(bytes)?;
        let scripts = self.list(official).await?;
        if scripts.len() >= MAX_SCRIPTS && !scripts.iter().any(|s| s.name == name) {
            return Err(ScriptsError::TooMany);
        }
        Ok(())
    }

    /// Stores `text` as the official's script `name` once it compiles, replacing one of that
    /// name.
    pub async fn put(
        &self,
        official: OfficialId,
        name: &str,
        text: &str,
    ) -> Result<(), ScriptsError> {
        check_name(name)?;
        self.check(text)?;
        let mut tx = self.store.begin().await?;
        let scripts = tx.sieve_scripts(official).await?;
        if scripts.len() >= MAX_SCRIPTS && !scripts.iter().any(|s| s.name == name) {
            return Err(ScriptsError::TooMany);
        }
        tx.put_sieve_script(official, name, text, self.clock.now())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `name` the official's active script, or, with `None`, leaves none active.
    pub async fn activate(
        &self,
        official: OfficialId,
        name: Option<&str>,
    ) -> Result<(), ScriptsError> {
        let mut tx = self.store.begin().await?;
        if !tx
            .activate_sieve_script(official, name, self.clock.now())
            .await?
        {
            return Err(ScriptsError::NoSuchScript(name.unwrap_or("").to_owned()));
        }
        tx.commit().await?;
        self.compiled.remove(&official);
        Ok(())
    }

    /// Renames the official's script `from` to `to`.
    pub async fn rename(
        &self,
        official: OfficialId,
        from: &str,
        to: &str,
    ) -> Result<(), ScriptsError> {
        check_name(to)?;
        let mut tx = self.store.begin().await?;
        match tx
            .rename_sieve_script(official, from, to, self.clock.now())
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(ScriptsError::NoSuchScript(from.to_owned())),
            Err(StoreError::Duplicate(UniqueKey::SieveScriptName)) => {
                return Err(ScriptsError::Exists(to.to_owned()))
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        self.compiled.remove(&official);
        Ok(())
    }

    /// Deletes the official's script `name`, which must not be the active one (RFC 5804
    /// §2.10).
    pub async fn delete(&self, official: OfficialId, name: &str) -> Result<(), ScriptsError> {
        let mut tx = self.store.begin().await?;
        match tx.sieve_script(official, name).await? {
            None => return Err(ScriptsError::NoSuchScript(name.to_owned())),
            Some(script) if script.active => return Err(ScriptsError::Active(name.to_owned())),
            Some(_) => {}
        }
        tx.delete_sieve_script(official, name).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The official's active script, compiled; `None` when they have none. A stored script
    /// that no longer compiles (a newer congvu refusing what an older one took) counts as
    /// none, and is logged.
    pub async fn active(&self, official: OfficialId) -> Result<Option<Script>, ScriptsError> {
        Ok(self.active_of(&[official]).await?.remove(&official))
    }

    /// The compiled active scripts of those of `officials` who have one, read in one
    /// statement; a script that no longer compiles counts as none, and is logged.
    pub async fn active_of(
        &self,
        officials: &[OfficialId],
    ) -> Result<HashMap<OfficialId, Script>, ScriptsError> {
        let stored = self
            .store
            .read()
            .await?
            .active_sieve_scripts(officials)
            .await?;
        let mut scripts = HashMap::with_capacity(stored.len());
        for (official, text) in stored {
            if let Some(script) = self.compiled_from(official, &text) {
                scripts.insert(official, script);
            }
        }
        Ok(scripts)
    }

    /// What runs at a delivery to each of `officials` (with their agencies): the
    /// province's and their agency's administrators' scripts, then their own active one;
    /// only those with something to run are returned. One statement for the officials' own
    /// scripts whatever their number; the administrators' as read within [`BEFORE_FRESH`].
    pub async fn chains_of(
        &self,
        officials: &[(OfficialId, AgencyId)],
    ) -> Result<HashMap<OfficialId, Chain>, ScriptsError> {
        let ids: Vec<OfficialId> = officials.iter().map(|(o, _)| *o).collect();
        let before = self.before_set().await?;
        let mut own = self.active_of(&ids).await?;
        let mut chains = HashMap::new();
        for &(official, agency) in officials {
            let chain = Chain {
                province: before.get(&None).cloned(),
                agency: before.get(&Some(agency)).cloned(),
                own: own.remove(&official),
            };
            if !chain.is_empty() {
                chains.insert(official, chain);
            }
        }
        Ok(chains)
    }

    /// The administrators' scripts compiled, as read within [`BEFORE_FRESH`].
    async fn before_set(&self) -> Result<Arc<BeforeSet>, ScriptsError> {
        let fresh = |read: &Option<BeforeRead>| {
            read.as_ref()
                .filter(|(at, _)| at.elapsed() < BEFORE_FRESH)
                .map(|(_, set)| Arc::clone(set))
        };
        if let Some(set) = fresh(&self.before_read.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(set);
        }
        let stored = self.store.read().await?.before_sieve_scripts().await?;
        let set: Arc<BeforeSet> = Arc::new(
            stored
                .into_iter()
                .filter_map(|b| Some((b.agency, self.before_from(b.agency, &b.text)?)))
                .collect(),
        );
        let now = std::time::Instant::now();
        *self.before_read.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, Arc::clone(&set)));
        Ok(set)
    }

    /// The administrators' scripts: the province's first, then the agencies'.
    pub async fn before_scripts(&self) -> Result<Vec<BeforeScript>, ScriptsError> {
        Ok(self.store.read().await?.before_sieve_scripts().await?)
    }

    /// Sets the script run before the filters of `agency`'s officials (`None`: every
    /// official's) once it compiles.
    pub async fn put_before(
        &self,
        agency: Option<AgencyId>,
        text: &str,
    ) -> Result<(), ScriptsError> {
        self.check(text)?;
        let mut tx = self.store.begin().await?;
        tx.put_before_sieve_script(agency, text, self.clock.now())
            .await?;
        tx.commit().await?;
        self.forget_before();
        Ok(())
    }

    /// Removes the script run before `agency`'s officials' filters (`None`: the
    /// province's); whether there was one.
    pub async fn delete_before(&self, agency: Option<AgencyId>) -> Result<bool, ScriptsError> {
        let mut tx = self.store.begin().await?;
        let deleted = tx.delete_before_sieve_script(agency).await?;
        tx.commit().await?;
        self.forget_before();
        Ok(deleted)
    }

    /// Makes the next delivery read the administrators' scripts again (on this node; other
    /// nodes within [`BEFORE_FRESH`]).
    fn forget_before(&self) {
        *self.before_read.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// An administrators' script compiled from `text`, cached like officials' own.
    fn before_from(&self, agency: Option<AgencyId>, text: &str) -> Option<Script> {
        compiled(&self.before, agency, text, &self.filters)
            .map_err(|error| {
                tracing::error!(agency = agency.map(|a| a.0), %error,
                    "an administrators' Sieve script no longer compiles; skipping it");
            })
            .ok()
    }

    /// The official's script compiled from `text`: the cached one when it came from the same
    /// text, else compiled now and cached.
    fn compiled_from(&self, official: OfficialId, text: &str) -> Option<Script> {
        compiled(&self.compiled, official, text, &self.filters)
            .map_err(|error| {
                tracing::error!(official = official.0, %error,
                    "the active Sieve script no longer compiles; delivering as if none");
            })
            .ok()
    }

    /// Whether the reply `key` of the official may go now (none went within
    /// `period_seconds`); if so, it is recorded as sent.
    pub async fn claim_reply(
        &self,
        official: OfficialId,
        key: &str,
        period_seconds: u64,
    ) -> Result<bool, ScriptsError> {
        let now = self.clock.now();
        let since = UnixTime(
            now.0
                .saturating_sub(i64::try_from(period_seconds).unwrap_or(i64::MAX)),
        );
        let mut tx = self.store.begin().await?;
        let claimed = tx.claim_vacation_reply(official, key, since, now).await?;
        tx.commit().await?;
        Ok(claimed)
    }
}

/// The script `text` compiled: `cache`'s under `key` when it came from the same text (on any
/// node the stored text is what counts), else compiled now and cached.
fn compiled<K: Eq + std::hash::Hash + Clone>(
    cache: &quick_cache::sync::Cache<K, Compiled>,
    key: K,
    text: &str,
    filters: &Filters,
) -> Result<Script, ScriptError> {
    if let Some(hit) = cache.get(&key) {
        if *hit.text == *text {
            return Ok(hit.script);
        }
    }
    let script = filters.compile(text.as_bytes())?;
    let entry = Compiled {
        text: text.into(),
        script: script.clone(),
    };
    cache.insert(key, entry);
    Ok(script)
}

fn check_size(bytes: u64) -> Result<(), ScriptsError> {
    match bytes <= MAX_SCRIPT_BYTES as u64 {
        true => Ok(()),
        false => Err(ScriptsError::TooLarge(bytes)),
    }
}

/// A name ManageSieve clients and file systems both take.
fn check_name(name: &str) -> Result<(), ScriptsError> {
    let chars = name.chars().count();
    let fits = (1..=MAX_NAME_CHARS).contains(&chars)
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\');
    match fits {
        true => Ok(()),
        false => Err(ScriptsError::BadName),
    }
}
