//! Backups of the whole database: [`create`] writes one consistent snapshot to an archive
//! while the server goes on serving mail, [`verify`] reads an archive through and checks every
//! hash, reference and count, [`restore`] writes an archive, checked as it goes, into an empty
//! database of either engine, and [`schedule`] has the server write them itself. What an
//! archive looks like is [`archive`]'s business; which tables and how they are read and
//! written is the store's.

pub mod archive;
mod restore;
pub mod schedule;
mod verify;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;

use crate::clock::Clock;
use crate::store::{Record, Store, StoreBackend, StoreError};
use archive::{ArchiveWriter, Manifest, ReadError, FORMAT};

pub use restore::restore;
pub use verify::{verify, Verified};

/// Why a backup, a verification or a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path} is damaged: {}", problems.join("; "))]
    Damaged {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error(
        "the archive's schema ({archive}) is newer than this congvu's ({ours}); restore it \
         with the congvu version that wrote it ({version}) or a newer one"
    )]
    NewerSchema {
        archive: i64,
        ours: i64,
        version: String,
    },
    #[error(
        "the database is not empty; a restore writes only into an empty database (create a \
         new one, or drop and re-create this one, and run the restore again)"
    )]
    NotEmpty,
}

/// How far a long operation has come, for a progress bar.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The table being read or written.
    pub table: String,
    /// Rows done so far, over every table.
    pub rows: u64,
    /// Bytes of rows done so far (uncompressed), over every table.
    pub bytes: u64,
}

/// What [`create`] wrote.
#[derive(Debug, Clone)]
pub struct Created {
    pub manifest: Manifest,
    /// Bytes of the archive file.
    pub file_bytes: u64,
    pub took: Duration,
}

/// Rows handed from the snapshot reader to the archive writer at most at once in flight:
/// the reader runs ahead of compression by this much and no more.
const IN_FLIGHT: usize = 256;

enum ToWriter {
    Table(crate::store::TableShape),
    Record(Record),
}

/// Writes a backup of everything in `store` to `path` (which must not exist): the
/// database is read in one snapshot while rows are compressed and written on a blocking
/// thread. On failure nothing is left at `path`.
pub async fn create(
    store: &Store,
    path: &Path,
    clock: &Clock,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Created, BackupError> {
    let started = Instant::now();
    let write_error = |source| BackupError::Write {
        path: path.to_owned(),
        source,
    };
    let writer = ArchiveWriter::create(path).map_err(write_error)?;
    let mut snapshot = store.snapshot().await?;
    let schema_version = snapshot.schema_version().await?;
    let tables = snapshot.tables().await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ToWriter>(IN_FLIGHT);
    let written = compressor(move || {
        let mut writer = writer;
        while let Some(item) = rx.blocking_recv() {
            match item {
                ToWriter::Table(t) => writer.table(&t.name, &t.columns)?,
                ToWriter::Record(r) => writer.record(r)?,
            }
        }
        Ok::<_, std::io::Error>(writer)
    });
    let mut done = Progress::default();
    let read = async {
        for table in &tables {
            done.table.clone_from(&table.name);
            if tx.send(ToWriter::Table(table.clone())).await.is_err() {
                return Ok(());
            }
            let mut rows = snapshot.rows(table);
            while let Some(record) = rows.try_next().await? {
                done.rows += 1;
                done.bytes += record_bytes(&record);
                if done.rows % 1024 == 0 {
                    progress(&done);
                }
                if tx.send(ToWriter::Record(record)).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok::<_, StoreError>(())
    };
    let read_result = read.await;
    drop(tx);
    drop(snapshot);
    progress(&done);
    let writer = written
        .await
        .map_err(|_| write_error(std::io::Error::other("the compressing thread stopped")))?
        .map_err(write_error)?;
    read_result?;
    let manifest = Manifest {
        format: FORMAT,
        product: "congvu".into(),
        congvu_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        engine: engine_name(store.backend()).into(),
        created_at: clock.now().0,
        tables: Vec::new(),
        parts: Vec::new(),
    };
    let path_owned = path.to_owned();
    let manifest = tokio::task::spawn_blocking(move || writer.finish(manifest))
        .await
        .map_err(|e| write_error(std::io::Error::other(e)))?
        .map_err(write_error)?;
    let file_bytes = std::fs::metadata(&path_owned).map_err(write_error)?.len();
    Ok(Created {
        manifest,
        file_bytes,
        took: started.elapsed(),
    })
}

/// The cross-platform priority (0–99) of the thread that compresses a backup: about a
/// niceness of 9 on Linux, so that on a busy machine the server's sessions come first and the
/// backup takes what is left.
const COMPRESSING_PRIORITY: u8 = 25;

/// Lowers the calling thread to [`COMPRESSING_PRIORITY`]; threads it starts afterwards
/// inherit it. `congvu-admin backup create` calls it first thing, so that the whole process
/// yields to the server it runs beside.
pub fn yield_to_the_server() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    if let Ok(p) = ThreadPriorityValue::try_from(COMPRESSING_PRIORITY) {
        if let Err(error) =
            thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(p))
        {
            tracing::debug!(?error, "cannot lower the backup's priority");
        }
    }
}

/// Runs `work` on a thread of its own at [`COMPRESSING_PRIORITY`] (not on the runtime's
/// blocking pool, whose threads are reused and would keep the lowered priority).
fn compressor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("congvu-backup".into())
        .spawn(move || {
            yield_to_the_server();
            let _ = done.send(work());
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the backup's compressing thread");
    }
    result
}

/// Bytes a row holds, roughly: what progress is counted in.
fn record_bytes(record: &Record) -> u64 {
    use crate::store::Value;
    record
        .iter()
        .map(|v| match v {
            Value::Text(t) => t.len() as u64,
            Value::Bytes(b) => b.len() as u64,
            _ => 8,
        })
        .sum()
}

fn engine_name(backend: StoreBackend) -> &'static str {
    match backend {
        StoreBackend::Sqlite => "sqlite",
        StoreBackend::Postgres => "postgres",
    }
}

/// One archive of a backup directory, as `backup list` shows it.
#[derive(Debug)]
pub struct Listed {
    pub path: PathBuf,
    pub file_bytes: u64,
    /// The manifest, or why it could not be read.
    pub manifest: Result<Manifest, String>,
}

/// The archives in `dir` (files ending in [`schedule::EXTENSION`]), oldest first, each with
/// its manifest read (the parts are skipped, not checked: that is [`verify`]'s work).
pub fn list(dir: &Path) -> Result<Vec<Listed>, BackupError> {
    let read_error = |source| {
        BackupError::Read(ReadError::Io {
            path: dir.to_owned(),
            source,
        })
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == schedule::EXTENSION))
        .collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|path| Listed {
            file_bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            manifest: read_manifest(&path).map_err(|e| e.to_string()),
            path,
        })
        .collect())
}

/// The manifest at the end of the archive at `path`.
pub fn read_manifest(path: &Path) -> Result<Manifest, BackupError> {
    let mut found = None;
    archive::read_entries::<BackupError>(path, false, |entry| {
        if let archive::Entry::Manifest(manifest) = entry {
            found = Some(*manifest);
        }
        Ok(())
    })?;
    found.ok_or_else(|| BackupError::Damaged {
        path: path.to_owned(),
        problems: vec!["the archive ends before its manifest (truncated?)".into()],
    })
}
