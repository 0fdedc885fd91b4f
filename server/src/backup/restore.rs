//! Restoring an archive into an empty database of either engine: the database brought to the
//! archive's schema; every row written as it was (ids, UIDs, UIDVALIDITY, mod-sequences,
//! flags, dates, hashes) a part at a time, each part checked as verify checks it (less the
//! bodies' own hashes, see [`Checker`]) before it is written; then the migrations newer than
//! the archive. Nothing is kept unless the whole archive proved sound: the rows go in one
//! transaction, or into a new SQLite file that takes the database's place only once complete
//! ([`RestoreTarget`]), so a damaged archive, a full disk or a kill leaves the database as it
//! was.

use std::path::Path;
use std::time::{Duration, Instant};

use super::archive::{self, Entry, Manifest, PartHeader};
use super::verify::{Checker, REFERENCES};
use super::{read_manifest, BackupError, Progress, Verified};
use crate::store::{Conn, Record, RestoreTarget, Store, StoreError, StoreOptions, Value, TABLES};

/// Bytes of rows written per statement at most: with whole message bodies in them, the
/// parameter limits alone would allow hundreds of megabytes.
const STATEMENT_BYTES: u64 = 32 << 20;

/// Parts waiting between two threads of the pipeline: enough that the database, the slowest
/// stage, always has the next part ready when the others were held up for a moment.
const IN_FLIGHT: usize = 2;

/// What [`restore`] wrote.
#[derive(Debug, Clone)]
pub struct Restored {
    pub verified: Verified,
    pub took: Duration,
}

/// Restores the archive at `path` into the database `options` names, which must hold no
/// records.
pub async fn restore(
    options: &StoreOptions,
    path: &Path,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Restored, BackupError> {
    let started = Instant::now();
    let manifest = read_manifest(path)?;
    let target = Store::open_restore_target(options).await?;
    match write_all(&target, path, &manifest, progress).await {
        Ok(verified) => {
            target.complete().await?;
            Ok(Restored {
                verified,
                took: started.elapsed(),
            })
        }
        Err(e) => {
            target.abandon().await;
            Err(e)
        }
    }
}

/// Checks that `target` can take the archive `manifest` describes, brings it to its schema,
/// writes and checks every part, and commits only if the whole archive is sound.
async fn write_all(
    target: &RestoreTarget,
    path: &Path,
    manifest: &Manifest,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Verified, BackupError> {
    let store = target.store();
    let archive_schema = manifest.schema_version;
    let ours = store.latest_schema_version();
    if archive_schema > ours {
        return Err(BackupError::NewerSchema {
            archive: archive_schema,
            ours,
            version: manifest.congvu_version.clone(),
        });
    }
    let present = store.schema_version().await?;
    if !target.is_new() && present > 0 && !store.read().await?.holds_no_records().await? {
        return Err(BackupError::NotEmpty);
    }
    // An empty database already past the archive's schema takes the rows by column name.
    if present < archive_schema {
        store.migrate_up_to(archive_schema).await?;
    }
    let mut tx = store.begin().await?;
    let verified = write_parts(&mut tx, path, progress).await?;
    tx.restart_identities(TABLES).await?;
    tx.commit().await?;
    target.rows_written().await?;
    store.migrate().await?;
    store.refresh_statistics().await?;
    Ok(verified)
}

/// Reads and writes the parts in a pipeline of three threads, each part going through them in
/// turn: one reads, hashes and decompresses it, one decodes and checks it (and stops handing
/// parts on at the first problem, but reads on to name every problem), and this one writes
/// it. The archive as a whole is judged once read through, before anything commits. At most
/// a few parts are in memory at once.
async fn write_parts(
    tx: &mut Conn,
    path: &Path,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Verified, BackupError> {
    let (entries_tx, entries) = std::sync::mpsc::sync_channel::<Entry>(IN_FLIGHT);
    let (parts_tx, mut parts) = tokio::sync::mpsc::channel::<(PartHeader, Vec<Record>)>(IN_FLIGHT);
    let owned = path.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        archive::read_entries::<BackupError>(&owned, true, |entry| {
            // A closed channel means the checker stopped; its result says why.
            let _ = entries_tx.send(entry);
            Ok(())
        })
    });
    let owned = path.to_owned();
    let checker = tokio::task::spawn_blocking(move || {
        let mut checker = Checker::default();
        for entry in entries {
            let part = checker.entry(entry);
            if let Some(part) = part.filter(|_| checker.is_sound()) {
                // A closed channel means the writer failed: its error is the one reported.
                let _ = parts_tx.blocking_send(part);
            }
        }
        checker.finish(&owned)
    });
    let written = write_each(tx, &mut parts, progress).await;
    drop(parts);
    let stopped = |e: tokio::task::JoinError| StoreError::Corrupt(format!("reading stopped: {e}"));
    let read = reader.await.map_err(stopped)?;
    let verified = checker.await.map_err(stopped)?;
    // An archive that cannot be read or is damaged is what went wrong, even when the
    // database refused a row first.
    read?;
    let verified = verified?;
    written?;
    Ok(verified)
}

/// Writes each part as it comes, table by table.
async fn write_each(
    tx: &mut Conn,
    parts: &mut tokio::sync::mpsc::Receiver<(PartHeader, Vec<Record>)>,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<(), BackupError> {
    let mut writer = TableWriter::default();
    let mut done = Progress::default();
    while let Some((header, records)) = parts.recv().await {
        done.table.clone_from(&header.table);
        writer.part(tx, header, records, &mut done).await?;
        progress(&done);
    }
    writer.finish(tx).await
}

/// Writes parts table by table, holding back self-references until the table is complete.
#[derive(Default)]
struct TableWriter {
    table: Option<String>,
    /// (table, column, row id, value) of self-references held back.
    held_back: Vec<(&'static str, &'static str, i64, i64)>,
}

impl TableWriter {
    async fn part(
        &mut self,
        tx: &mut Conn,
        header: PartHeader,
        mut records: Vec<Record>,
        done: &mut Progress,
    ) -> Result<(), BackupError> {
        if self.table.as_deref() != Some(header.table.as_str()) {
            self.start_table(tx, &header).await?;
        }
        self.hold_back_self_references(&header, &mut records);
        let mut statement = Vec::new();
        let mut bytes = 0;
        for record in records {
            let size = super::record_bytes(&record);
            if !statement.is_empty() && bytes + size > STATEMENT_BYTES {
                let full = std::mem::take(&mut statement);
                tx.restore_records(&header.table, &header.columns, full)
                    .await?;
                bytes = 0;
            }
            bytes += size;
            done.rows += 1;
            done.bytes += size;
            statement.push(record);
        }
        tx.restore_records(&header.table, &header.columns, statement)
            .await?;
        Ok(())
    }

    async fn start_table(&mut self, tx: &mut Conn, header: &PartHeader) -> Result<(), BackupError> {
        let present = tx.restore_columns(&header.table).await?;
        if let Some(missing) = header
            .columns
            .iter()
            .find(|c| !present.iter().any(|p| p.name == c.name))
        {
            return Err(StoreError::Corrupt(format!(
                "the archive's column {}.{} is not in this database's schema",
                header.table, missing.name
            ))
            .into());
        }
        tx.clear_seeded(&header.table).await?;
        self.table = Some(header.table.clone());
        Ok(())
    }

    fn hold_back_self_references(&mut self, header: &PartHeader, records: &mut [Record]) {
        let column = |name: &str| header.columns.iter().position(|c| c.name == name);
        // A column that names a row of its own table (an agency's parent) is written empty
        // and filled in once every row of the table is there, whatever order they came in.
        let own = REFERENCES
            .iter()
            .filter(|(table, _, target)| table == target && *table == header.table);
        for (table, name, _) in own {
            let (Some(at), Some(id)) = (column(name), column("id")) else {
                continue;
            };
            for record in records.iter_mut() {
                if let (Value::Int(value), Value::Int(row)) = (&record[at], &record[id]) {
                    self.held_back.push((table, name, *row, *value));
                    record[at] = Value::Null;
                }
            }
        }
    }

    async fn finish(self, tx: &mut Conn) -> Result<(), BackupError> {
        for (table, column, id, value) in self.held_back {
            tx.restore_reference(table, column, id, value).await?;
        }
        Ok(())
    }
}
