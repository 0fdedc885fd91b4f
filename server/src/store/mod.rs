//! The store: sqlx pools and every SQL statement congvu runs, for SQLite (the embedded
//! default) and PostgreSQL (the scale-out engine). Nothing outside this module holds SQL or
//! sqlx types; callers pass and receive domain types from `directory`, `mailstore` and
//! `queue`.
//!
//! Each query is written once and run on whichever backend is open: [`Conn`] is a pooled
//! connection or a transaction on either backend, and the `on_backend!` macro expands one
//! query body for both connection types. Placeholders are `$N`, which both backends accept.
//!
//! SQLite has one writer at a time, so writes go through a one-connection pool (no
//! `SQLITE_BUSY` between our own writers) and reads through a separate pool, in WAL mode.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

pub use crate::model::{redact_password, StoreBackend};
use crate::model::{MailboxId, OfficialId};
use crate::telemetry::StoreWork;

mod addresses;
mod admin;
mod agencies;
mod audit;
mod backup;
mod bodies;
mod bulk;
mod certificates;
mod changes;
mod consistency;
mod delivery;
mod domains;
mod egov;
mod error;
mod groups;
mod import;
mod import_batch;
mod mailboxes;
mod messages;
mod migration;
mod officials;
mod portal;
mod queue;
mod restore_target;
mod service_accounts;
mod sieve;
mod snapshot;

pub use backup::{Column, ColumnKind, Record, Snapshot, TableShape, Value, TABLES};
pub use bodies::BodyDerived;
pub use bulk::BulkWrites;
pub use changes::MailboxChanges;
pub use error::{StoreError, UniqueKey};
pub use import::{AddressHolder, HrIdHolder};
pub use import_batch::NewImport;
pub use messages::MailboxCounts;
pub use migration::{CopiedMessage, SourceFolderRow};
pub use portal::PortalSessionRow;
pub use restore_target::RestoreTarget;

/// Expands `$body` once per backend with `$c` bound to that backend's `&mut Connection`.
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn.raw() {
            $crate::store::Raw::Sqlite($c) => $body,
            $crate::store::Raw::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Connection settings the store needs, taken from `[database]`.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path` or `postgres://…`.
    pub url: String,
    pub max_connections: u32,
    pub busy_timeout: Duration,
}

#[cfg(test)]
impl StoreOptions {
    /// A SQLite database `congvu.db` in `dir`, for this crate's own tests.
    pub(crate) fn sqlite_in(dir: &std::path::Path) -> StoreOptions {
        StoreOptions {
            url: format!("sqlite://{}", dir.join("congvu.db").display()),
            max_connections: 2,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl StoreOptions {
    /// The options `[database]` describes.
    pub fn from_config(database: &crate::config::DatabaseConfig) -> StoreOptions {
        StoreOptions {
            url: database.url.clone(),
            max_connections: database.max_connections,
            busy_timeout: Duration::from_millis(database.busy_timeout_ms),
        }
    }
}

/// The open database: cheap to clone, shared by every session.
#[derive(Debug, Clone)]
pub struct Store {
    pools: Pools,
    /// Write transactions committed through this store (any clone of it): lets in-memory
    /// views notice this process's own changes at once, without asking the database.
    commits: Arc<AtomicU64>,
    /// Sessions watching mailboxes, woken when a transaction that touched one commits.
    changes: Arc<MailboxChanges>,
}

#[derive(Debug, Clone)]
enum Pools {
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// A connection from the pool, or a transaction; every query method lives on it.
#[derive(Debug)]
pub struct Conn {
    inner: ConnInner,
    /// The store's commit counter, for transactions.
    commits: Option<Arc<AtomicU64>>,
    /// Where to announce the mailboxes this transaction touched, once it commits.
    changes: Option<Arc<MailboxChanges>>,
    touched: Vec<MailboxId>,
    /// Officials whose folder list this transaction changed.
    refoldered: Vec<OfficialId>,
    /// Times the connection from the moment it was asked for until it is given back.
    _held: HeldFor,
}

/// Records in `/metrics` how long a connection was held, when dropped: after a commit, a
/// rollback or the last read, and also when its task was cancelled midway.
#[derive(Debug)]
struct HeldFor {
    work: StoreWork,
    since: Instant,
}

impl HeldFor {
    fn start(work: StoreWork) -> HeldFor {
        HeldFor {
            work,
            since: Instant::now(),
        }
    }
}

impl Drop for HeldFor {
    fn drop(&mut self) {
        crate::telemetry::store_transaction(self.work, self.since.elapsed());
    }
}

#[derive(Debug)]
enum ConnInner {
    SqliteTx(Transaction<'static, Sqlite>),
    PostgresTx(Transaction<'static, Postgres>),
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// The backend connection under a [`Conn`], for `on_backend!`.
pub(crate) enum Raw<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl Store {
    /// Opens (creating a SQLite file and its folder if needed) and migrates the database.
    pub async fn open(options: &StoreOptions) -> Result<Store, StoreError> {
        let store = Store::open_unmigrated(options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without applying migrations: a restore first brings an empty
    /// database to the schema of its archive ([`Store::migrate_up_to`]).
    pub async fn open_unmigrated(options: &StoreOptions) -> Result<Store, StoreError> {
        Ok(match StoreBackend::from_url(&options.url) {
            Some(StoreBackend::Sqlite) => open_sqlite(options).await?,
            Some(StoreBackend::Postgres) => open_postgres(options).await?,
            None => {
                return Err(StoreError::Open {
                    url: redact_password(&options.url),
                    reason: "the URL must start with sqlite: or postgres:".into(),
                })
            }
        })
    }

    /// Applies the migrations this build carries that the database lacks.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => SQLITE_MIGRATIONS.run(writer).await?,
            Pools::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Applies this build's migrations up to and including schema `version`.
    pub async fn migrate_up_to(&self, version: i64) -> Result<(), StoreError> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                backup::migrations_up_to(&SQLITE_MIGRATIONS, version)
                    .run(writer)
                    .await?
            }
            Pools::Postgres(pool) => {
                backup::migrations_up_to(&POSTGRES_MIGRATIONS, version)
                    .run(pool)
                    .await?
            }
        }
        Ok(())
    }

    /// The newest schema version this build knows.
    pub fn latest_schema_version(&self) -> i64 {
        let migrations = match &self.pools {
            Pools::Sqlite { .. } => &SQLITE_MIGRATIONS,
            Pools::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        migrations.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> StoreBackend {
        match &self.pools {
            Pools::Sqlite { .. } => StoreBackend::Sqlite,
            Pools::Postgres(_) => StoreBackend::Postgres,
        }
    }

    /// Starts a write transaction; nothing it does is visible or durable until
    /// [`Conn::commit`], and dropping it rolls back.
    pub async fn begin(&self) -> Result<Conn, StoreError> {
        // Started before the wait for the writer, which is part of what a slow database costs.
        let held = HeldFor::start(StoreWork::Write);
        let inner = match &self.pools {
            // IMMEDIATE takes the write lock at once, so a writer in another process (the
            // admin CLI beside the server) makes this one wait out the busy timeout. A
            // deferred BEGIN would read first and then fail at once with SQLITE_BUSY when it
            // tried to upgrade to writing after the other committed.
            Pools::Sqlite { writer, .. } => {
                ConnInner::SqliteTx(writer.begin_with("BEGIN IMMEDIATE").await?)
            }
            Pools::Postgres(pool) => ConnInner::PostgresTx(pool.begin().await?),
        };
        Ok(Conn {
            inner,
            commits: Some(Arc::clone(&self.commits)),
            changes: Some(Arc::clone(&self.changes)),
            touched: Vec::new(),
            refoldered: Vec::new(),
            _held: held,
        })
    }

    /// A connection for reads outside a transaction.
    pub async fn read(&self) -> Result<Conn, StoreError> {
        let held = HeldFor::start(StoreWork::Read);
        let inner = match &self.pools {
            Pools::Sqlite { reader, .. } => ConnInner::Sqlite(reader.acquire().await?),
            Pools::Postgres(pool) => ConnInner::Postgres(pool.acquire().await?),
        };
        Ok(Conn {
            inner,
            commits: None,
            changes: None,
            touched: Vec::new(),
            refoldered: Vec::new(),
            _held: held,
        })
    }

    /// How many write transactions this process has committed through this store.
    pub fn local_commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    /// Who is watching which mailbox, woken by every committed change to it.
    pub fn mailbox_changes(&self) -> &MailboxChanges {
        &self.changes
    }

    /// On PostgreSQL, follows the mailbox changes other nodes commit (LISTEN) until
    /// `shutdown`, waking this node's watchers; on SQLite, where this process is the only
    /// writer, returns at once. A lost connection is re-established after a second.
    pub async fn follow_other_nodes(&self, shutdown: tokio_util::sync::CancellationToken) {
        let Pools::Postgres(pool) = &self.pools else {
            return;
        };
        while !shutdown.is_cancelled() {
            let listener = async {
                let schema: String = sqlx::query_scalar("SELECT current_schema()")
                    .fetch_one(pool)
                    .await?;
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen(&changes::channel(&schema)).await?;
                loop {
                    let notification = listener.recv().await?;
                    let changed = changes::parse_payload(notification.payload());
                    self.changes.folders_changed(changed.folder_lists);
                    self.changes.notify(changed.mailboxes);
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                result = listener => {
                    if let Err(error) = result {
                        tracing::warn!(%error, "lost the mailbox-change listener; reconnecting");
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// How commits reach the disk, as the database reports it for a write connection:
    /// SQLite's `synchronous` (`"full"`: every commit synced before it returns) or
    /// PostgreSQL's `synchronous_commit` (`"on"`). Every acknowledgement congvu gives rests
    /// on this.
    pub async fn commit_durability(&self) -> Result<String, StoreError> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
                    .fetch_one(writer)
                    .await?;
                let name = ["off", "normal", "full", "extra"].get(level as usize);
                Ok(name.map_or_else(|| level.to_string(), |n| n.to_string()))
            }
            Pools::Postgres(pool) => Ok(sqlx::query_scalar("SHOW synchronous_commit")
                .fetch_one(pool)
                .await?),
        }
    }

    /// Brings the planner's table statistics up to date after a bulk load (a restore, a
    /// mailbox import): PostgreSQL plans each statement from them, and until they are
    /// gathered it takes a table that grew by 400,000 messages for an empty one (it then
    /// reads a mailbox's list by sorting it on disk instead of in order from the index, in
    /// 2.6 times the time, by `EXPLAIN ANALYZE`). Autovacuum gathers
    /// them only once a share of the table has changed, a while later, and never where it is
    /// turned off. SQLite's statements are written for the plans it makes without
    /// statistics, so it is left as it is.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        if let Pools::Postgres(pool) = &self.pools {
            // Named, so that only this schema's tables are read (tests share a database).
            let sql = format!("ANALYZE {}", backup::TABLES.join(", "));
            sqlx::query(&sql).execute(pool).await?;
        }
        Ok(())
    }

    /// Checks that the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.read().await?;
        on_backend!(conn, c => sqlx::query("SELECT 1").execute(&mut *c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Closes every pooled connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { writer, reader } => {
                // Readers first: the last connection to close checkpoints the WAL into the
                // database and removes it, and only the read-write one can.
                reader.close().await;
                writer.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

impl Conn {
    pub(crate) fn raw(&mut self) -> Raw<'_> {
        match &mut self.inner {
            ConnInner::SqliteTx(tx) => Raw::Sqlite(tx),
            ConnInner::PostgresTx(tx) => Raw::Postgres(tx),
            ConnInner::Sqlite(conn) => Raw::Sqlite(conn),
            ConnInner::Postgres(conn) => Raw::Postgres(conn),
        }
    }

    /// Commits a transaction (synced to disk before returning: SQLite runs with
    /// `synchronous=FULL`, PostgreSQL with `synchronous_commit=on`). On a plain connection
    /// there is nothing to commit.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.touched.sort_unstable_by_key(|m| m.0);
        self.touched.dedup();
        self.refoldered.sort_unstable_by_key(|o| o.0);
        self.refoldered.dedup();
        match self.inner {
            ConnInner::SqliteTx(tx) => tx.commit().await?,
            ConnInner::PostgresTx(mut tx) => {
                // Delivered to every listening node when (and only if) this commits.
                for payload in changes::payloads(&self.touched, &self.refoldered) {
                    sqlx::query(changes::NOTIFY_SQL)
                        .bind(payload)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?
            }
            ConnInner::Sqlite(_) | ConnInner::Postgres(_) => {}
        }
        if let Some(commits) = self.commits {
            commits.fetch_add(1, Ordering::AcqRel);
        }
        if let Some(changes) = self.changes {
            changes.folders_changed(self.refoldered);
            changes.notify(self.touched);
        }
        Ok(())
    }

    /// Notes that this transaction changed `mailbox`, so its watchers are woken on commit.
    pub(crate) fn touch(&mut self, mailbox: MailboxId) {
        self.touched.push(mailbox);
    }

    /// Notes that this transaction changed the official's folder list (made, deleted or
    /// renamed a folder), so its version is raised on every node on commit.
    pub(crate) fn refolder(&mut self, official: OfficialId) {
        self.refoldered.push(official);
    }
}

async fn open_sqlite(options: &StoreOptions) -> Result<Store, StoreError> {
    let open_error = |reason: String| StoreError::Open {
        url: options.url.clone(),
        reason,
    };
    let connect = SqliteConnectOptions::from_str(&options.url)
        .map_err(|e| open_error(e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Durable before acknowledged: every commit reaches the disk.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout);
    create_parent_dir(connect.get_filename()).map_err(open_error)?;
    // The one writer stays open for the store's life: closing the last connection to a WAL
    // database checkpoints and deletes the WAL, and the next write would pay to rebuild it.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(connect.clone())
        .await
        .map_err(|e| open_error(e.to_string()))?;
    // A reader is handed out without a round trip to its worker thread first: a connection
    // to a local file cannot go stale, and sqlx pings each one as it comes back anyway.
    let reader = SqlitePoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .test_before_acquire(false)
        .connect_with(connect.read_only(true))
        .await
        .map_err(|e| open_error(e.to_string()))?;
    Ok(Store {
        pools: Pools::Sqlite { writer, reader },
        commits: Arc::default(),
        changes: Arc::default(),
    })
}

/// Creates the folder a SQLite file goes in, readable by its owner alone, if it is missing.
fn create_parent_dir(file: &Path) -> Result<(), String> {
    match file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display())),
        None => Ok(()),
    }
}

async fn open_postgres(options: &StoreOptions) -> Result<Store, StoreError> {
    let open_error = |reason: String| StoreError::Open {
        url: redact_password(&options.url),
        reason,
    };
    let connect = PgConnectOptions::from_str(&options.url)
        .map_err(|e| open_error(e.to_string()))?
        // Durable before acknowledged, whatever the server's default.
        .options([("synchronous_commit", "on")]);
    // Connections are handed out without a round trip to test each first: that cost as much
    // as a message body's read (the I1 FETCH workload read 7,217 bodies/s with it and 8,412
    // without). sqlx still pings each as it comes back and drops one that fails, so a
    // connection PostgreSQL ended (a restart, a failover) fails the one request that meets it
    // and is replaced (tests/e2e/store_suite/pool.rs).
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(connect)
        .await
        .map_err(|e| open_error(e.to_string()))?;
    Ok(Store {
        pools: Pools::Postgres(pool),
        commits: Arc::default(),
        changes: Arc::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::{redact_password as redact, StoreBackend};

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://congvu:s3cret@db/congvu"),
            "postgres://congvu:***@db/congvu"
        );
        assert_eq!(
            redact("postgres://congvu@db/congvu"),
            "postgres://congvu@db/congvu"
        );
        assert_eq!(redact("sqlite://data/congvu.db"), "sqlite://data/congvu.db");
        assert_eq!(
            redact("postgres://congvu:s3cret@db/congvu?options=-c%20x%3Da@b"),
            "postgres://congvu:***@db/congvu?options=-c%20x%3Da@b"
        );
    }

    #[test]
    fn the_url_scheme_names_the_engine() {
        assert_eq!(
            StoreBackend::from_url("sqlite://data/congvu.db"),
            Some(StoreBackend::Sqlite)
        );
        assert_eq!(
            StoreBackend::from_url("postgresql://db/congvu"),
            Some(StoreBackend::Postgres)
        );
        assert_eq!(StoreBackend::from_url("mysql://db/congvu"), None);
    }
}
