//! Where a restore writes. A SQLite database that does not exist yet is built in a file beside
//! its place, `NAME.restoring`, with no journal, no syncs until the end and no reference
//! checks while the archive's rows go in (the restore checks them all as it reads): nothing
//! else can see that file, and a restore that fails or is killed leaves only it behind, to
//! be thrown away. Complete, it is switched to the server's WAL mode, synced and renamed
//! into place, so the configured database appears whole or not at all. Any other database
//! (an existing empty SQLite file, PostgreSQL) takes the restore in one transaction of its
//! own.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{create_parent_dir, Pools, Store, StoreBackend, StoreError, StoreOptions};

/// The database a restore writes into, opened without migrations.
#[derive(Debug)]
pub struct RestoreTarget {
    store: Store,
    building: Option<BuildingFile>,
}

/// A SQLite file being built beside its place; removed when dropped unless moved into place.
#[derive(Debug)]
struct BuildingFile {
    building: PathBuf,
    place: PathBuf,
    placed: bool,
    writeback: Option<Writeback>,
}

/// How often the file being built is synced while it grows.
const WRITEBACK_EVERY: Duration = Duration::from_millis(500);

/// Syncs the file being built every [`WRITEBACK_EVERY`] while the rows go in: with no
/// journal and no syncs of SQLite's own, the kernel would otherwise hold the whole database in
/// memory and write it all at the final sync; this way the disk writes alongside the work.
#[derive(Debug)]
struct Writeback {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Writeback {
    fn start(file: &Path) -> Option<Writeback> {
        let file = std::fs::File::open(file).ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("restore-writeback".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::park_timeout(WRITEBACK_EVERY);
                    // A failed sync here is seen again by the final one, which reports it.
                    let _ = file.sync_data();
                }
            })
            .ok()?;
        Some(Writeback {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Writeback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Store {
    /// Opens the database `options` names for a restore (see the module's header).
    pub async fn open_restore_target(options: &StoreOptions) -> Result<RestoreTarget, StoreError> {
        if StoreBackend::from_url(&options.url) == Some(StoreBackend::Sqlite) {
            let open_error = |reason: String| StoreError::Open {
                url: options.url.clone(),
                reason,
            };
            let connect = SqliteConnectOptions::from_str(&options.url)
                .map_err(|e| open_error(e.to_string()))?;
            let place = connect.get_filename().to_owned();
            let building = building_path(&place);
            // What a killed restore left.
            remove_sqlite_files(&building);
            if !place.exists() {
                create_parent_dir(&place).map_err(open_error)?;
                let mut file = BuildingFile {
                    building,
                    place,
                    placed: false,
                    writeback: None,
                };
                let store = open_new_file(connect.filename(&file.building))
                    .await
                    .map_err(|e| open_error(e.to_string()))?;
                file.writeback = Writeback::start(&file.building);
                return Ok(RestoreTarget {
                    store,
                    building: Some(file),
                });
            }
        }
        Ok(RestoreTarget {
            store: Store::open_unmigrated(options).await?,
            building: None,
        })
    }
}

impl RestoreTarget {
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether the restore creates the database, so there is nothing in it to look for.
    pub fn is_new(&self) -> bool {
        self.building.is_some()
    }

    /// Called once the archive's rows are committed: a new SQLite file took them without
    /// checking references (the archive's were checked as it was read), and checks them
    /// again from here on, for the migrations that follow.
    pub async fn rows_written(&self) -> Result<(), StoreError> {
        if let (Some(_), Pools::Sqlite { writer, .. }) = (&self.building, &self.store.pools) {
            sqlx::query("PRAGMA foreign_keys = ON")
                .execute(writer)
                .await?;
        }
        Ok(())
    }

    /// Makes the restored database the configured one: a new SQLite file is switched to WAL,
    /// synced and renamed into place (and its folder synced); anything else is closed.
    pub async fn complete(mut self) -> Result<(), StoreError> {
        let Some(mut file) = self.building.take() else {
            self.store.close().await;
            return Ok(());
        };
        if let Pools::Sqlite { writer, .. } = &self.store.pools {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
                .fetch_one(writer)
                .await?;
            if mode != "wal" {
                return Err(StoreError::Corrupt(format!(
                    "{} stayed in journal mode {mode}, not wal",
                    file.building.display()
                )));
            }
        }
        self.store.close().await;
        file.writeback = None;
        let io_error = |e: std::io::Error| {
            StoreError::Corrupt(format!("cannot finish {}: {e}", file.building.display()))
        };
        std::fs::File::open(&file.building)
            .and_then(|f| f.sync_all())
            .map_err(io_error)?;
        std::fs::rename(&file.building, &file.place).map_err(io_error)?;
        file.placed = true;
        if let Some(dir) = file.place.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error)?;
        }
        Ok(())
    }

    /// Gives the restore up: the database is closed, and a file being built is removed.
    pub async fn abandon(self) {
        self.store.close().await;
    }
}

impl Drop for BuildingFile {
    fn drop(&mut self) {
        self.writeback = None;
        if !self.placed {
            remove_sqlite_files(&self.building);
        }
    }
}

/// Pages SQLite keeps in memory while building (as `PRAGMA cache_size`, in KiB when
/// negative): the indexes stay cached instead of being read back as the bodies go by.
const BUILDING_CACHE_KIB: &str = "-65536";

/// One connection, reading and writing, to a new file nobody else opens: no journal (a
/// failure discards the whole file), no syncs (one at the end), no reference checks while
/// the archive's rows go in.
async fn open_new_file(connect: SqliteConnectOptions) -> Result<Store, sqlx::Error> {
    let connect = connect
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Off)
        .synchronous(SqliteSynchronous::Off)
        .pragma("cache_size", BUILDING_CACHE_KIB)
        // Checking each row's references made SQLite read back, for every message, pages of
        // message_bodies that the bodies streaming through had pushed out of its cache
        // (212,000 reads, 5-9% of a restore). The restore checks every reference the schema
        // declares as it reads the archive, and nothing is kept unless all hold; the checks
        // are turned on again for the migrations that follow ([`RestoreTarget::rows_written`]).
        .foreign_keys(false);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(connect)
        .await?;
    Ok(Store {
        pools: Pools::Sqlite {
            writer: pool.clone(),
            reader: pool,
        },
        commits: Arc::default(),
        changes: Arc::default(),
    })
}

/// `DIR/NAME.restoring` for the database `DIR/NAME`.
fn building_path(place: &Path) -> PathBuf {
    let mut name = place.as_os_str().to_owned();
    name.push(".restoring");
    PathBuf::from(name)
}

/// Removes a SQLite database file and the journals beside it, where they exist.
fn remove_sqlite_files(db: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn references_checked(target: &RestoreTarget) -> i64 {
        let Pools::Sqlite { writer, .. } = &target.store.pools else {
            panic!("a SQLite target");
        };
        sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(writer)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_new_file_takes_the_rows_unchecked_and_checks_references_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions::sqlite_in(dir.path());
        let target = Store::open_restore_target(&options).await.unwrap();
        assert!(target.is_new());
        assert_eq!(references_checked(&target).await, 0);
        target.rows_written().await.unwrap();
        assert_eq!(references_checked(&target).await, 1);
        target.complete().await.unwrap();
        assert!(dir.path().join("congvu.db").exists());
    }
}
