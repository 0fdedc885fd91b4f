//! A bulk import's writes on SQLite. An import acknowledges nothing to anyone while it runs
//! and records what it copied in the same transactions as the copies, so a commit lost to a
//! power cut is copied again by the next run. While it runs:
//!
//! - commits wait only for checkpoints (`synchronous=NORMAL`, which in WAL mode never
//!   corrupts the database);
//! - the writer keeps [`BULK_CACHE_KIB`] of pages, so that a batch of bodies does not push
//!   the indexes out of the cache and spill half-written pages mid-transaction;
//! - a connection of its own checkpoints the WAL beside the writer every [`CHECKPOINT_EVERY`]
//!   (SQLite's advice for write-heavy work), so copying the WAL into the database and waiting
//!   for the disk overlap the import instead of holding up its commits; the writer's own
//!   commits checkpoint only past [`BULK_CHECKPOINT_PAGES`], should the other fall behind,
//!   which bounds the WAL.
//!
//! Finishing gives the writer back its server settings (every commit synced, SQLite's default
//! cache and checkpoints) and checkpoints what was committed meanwhile, which syncs it.
//! PostgreSQL keeps `synchronous_commit=on` throughout and needs none of this; finishing
//! there gathers the planner's statistics for the tables the import grew
//! ([`Store::refresh_statistics`]).

use std::time::Duration;

use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio_util::sync::CancellationToken;

use super::{Pools, Store, StoreError};

/// The writer's page cache during a bulk import, as `PRAGMA cache_size` (KiB when negative):
/// several batches of bodies and every index they touch.
const BULK_CACHE_KIB: i64 = -65536;
/// The WAL's length, in pages, past which the writer's commits checkpoint it themselves during
/// a bulk import: 64 MiB.
const BULK_CHECKPOINT_PAGES: i64 = 16_384;
/// SQLite's own defaults, which the server runs with.
const SQLITE_DEFAULT_CACHE_KIB: i64 = -2000;
const SQLITE_DEFAULT_CHECKPOINT_PAGES: i64 = 1000;
/// How often the WAL is checkpointed beside a bulk import.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// A bulk import under way (see the module's header); [`BulkWrites::finish`] ends it. Dropped
/// unfinished (an import that failed), it stops checkpointing; the writer's settings stay
/// relaxed until the process ends, which a failed import's does.
#[derive(Debug)]
pub struct BulkWrites {
    store: Store,
    /// The checkpointer beside SQLite's writer; `None` on PostgreSQL.
    checkpointer: Option<Checkpointer>,
}

impl Store {
    /// Begins a bulk import (see the module's header).
    pub async fn begin_bulk_writes(&self) -> Result<BulkWrites, StoreError> {
        let Pools::Sqlite { writer, .. } = &self.pools else {
            return Ok(BulkWrites {
                store: self.clone(),
                checkpointer: None,
            });
        };
        set_writer(writer, "NORMAL", BULK_CACHE_KIB, BULK_CHECKPOINT_PAGES).await?;
        let checkpointer = Checkpointer::start(writer).await?;
        Ok(BulkWrites {
            store: self.clone(),
            checkpointer: Some(checkpointer),
        })
    }
}

impl BulkWrites {
    /// Ends the import: the writer syncs every commit again, and what was committed meanwhile
    /// is checkpointed and so synced; on PostgreSQL, the tables' statistics are gathered.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        let (Some(checkpointer), Pools::Sqlite { writer, .. }) =
            (self.checkpointer.take(), &self.store.pools)
        else {
            return self.store.refresh_statistics().await;
        };
        checkpointer.stop().await;
        set_writer(
            writer,
            "FULL",
            SQLITE_DEFAULT_CACHE_KIB,
            SQLITE_DEFAULT_CHECKPOINT_PAGES,
        )
        .await?;
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(writer)
            .await?;
        Ok(())
    }
}

async fn set_writer(
    writer: &SqlitePool,
    synchronous: &str,
    cache_kib: i64,
    checkpoint_pages: i64,
) -> Result<(), StoreError> {
    for pragma in [
        format!("PRAGMA synchronous = {synchronous}"),
        format!("PRAGMA cache_size = {cache_kib}"),
        format!("PRAGMA wal_autocheckpoint = {checkpoint_pages}"),
    ] {
        sqlx::query(&pragma).execute(writer).await?;
    }
    Ok(())
}

/// Checkpoints the WAL on a connection of its own until stopped.
#[derive(Debug)]
struct Checkpointer {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Checkpointer {
    async fn start(writer: &SqlitePool) -> Result<Checkpointer, StoreError> {
        let mut connection = SqliteConnection::connect_with(&writer.connect_options()).await?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
                }
                // PASSIVE: copies what it can without waiting for the writer or readers.
                let checkpoint = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)");
                if let Err(error) = checkpoint.execute(&mut connection).await {
                    tracing::warn!(%error, "a checkpoint beside the bulk import failed");
                }
            }
            let _ = connection.close().await;
        });
        Ok(Checkpointer { stop, task })
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

impl Drop for BulkWrites {
    fn drop(&mut self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop.cancel();
        }
    }
}
