//! Restoring an archive into an empty database of either engine: verified through first, so a
//! damaged archive writes nothing; the database brought to the archive's schema; every row
//! written as it was (ids, UIDs, UIDVALIDITY, mod-sequences, flags, dates, hashes) in one
//! transaction, a part at a time; then the migrations newer than the archive.

use std::path::Path;
use std::time::{Duration, Instant};

use super::archive::{self, Entry, PartHeader};
use super::{verify, BackupError, Progress, Verified};
use crate::store::{Conn, Record, Store, StoreError, Value, SELF_REFERENCES, TABLES};

/// Bytes of rows written per statement at most: with whole message bodies in them, the
/// parameter limits alone would allow hundreds of megabytes.
const STATEMENT_BYTES: u64 = 8 << 20;

/// What [`restore`] wrote.
#[derive(Debug, Clone)]
pub struct Restored {
    pub verified: Verified,
    pub took: Duration,
}

/// Restores the archive at `path` into `store`, which must hold no records; `store` is
/// opened without migrations ([`Store::open_unmigrated`]), since the archive decides which
/// schema the rows go into.
pub async fn restore(
    store: &Store,
    path: &Path,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Restored, BackupError> {
    let started = Instant::now();
    let owned = path.to_owned();
    let verified = tokio::task::spawn_blocking(move || verify(&owned))
        .await
        .map_err(|e| StoreError::Corrupt(format!("verification stopped: {e}")))??;
    let archive_schema = verified.manifest.schema_version;
    let ours = store.latest_schema_version();
    if archive_schema > ours {
        return Err(BackupError::NewerSchema {
            archive: archive_schema,
            ours,
            version: verified.manifest.congvu_version.clone(),
        });
    }
    let present = store.schema_version().await?;
    if present > 0 && !store.read().await?.holds_no_records().await? {
        return Err(BackupError::NotEmpty);
    }
    // An empty database already past the archive's schema takes the rows by column name.
    if present < archive_schema {
        store.migrate_up_to(archive_schema).await?;
    }
    let mut tx = store.begin().await?;
    write_parts(&mut tx, path, progress).await?;
    tx.restart_identities(TABLES).await?;
    tx.commit().await?;
    store.migrate().await?;
    Ok(Restored {
        verified,
        took: started.elapsed(),
    })
}

/// Reads the parts on a blocking thread, two at most in memory, and writes them.
async fn write_parts(
    tx: &mut Conn,
    path: &Path,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<(), BackupError> {
    let (parts_tx, mut parts) = tokio::sync::mpsc::channel::<(PartHeader, Vec<Record>)>(1);
    let owned = path.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        archive::read_entries::<BackupError>(&owned, true, |entry| {
            if let Entry::Part { name, contents, .. } = entry {
                let part = contents.map_err(|problem| BackupError::Damaged {
                    path: owned.clone(),
                    problems: vec![format!("part {name}: {problem}")],
                })?;
                // A closed channel means the writer failed; its error is the one reported.
                let _ = parts_tx.blocking_send(part);
            }
            Ok(())
        })
    });
    let mut writer = TableWriter::default();
    let mut done = Progress::default();
    let written = async {
        while let Some((header, records)) = parts.recv().await {
            done.table.clone_from(&header.table);
            writer.part(tx, header, records, &mut done).await?;
            progress(&done);
        }
        writer.finish(tx).await
    }
    .await;
    drop(parts);
    reader
        .await
        .map_err(|e| StoreError::Corrupt(format!("reading stopped: {e}")))??;
    written
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
        let mut start = 0;
        let mut bytes = 0;
        for (i, record) in records.iter().enumerate() {
            let size = super::record_bytes(record);
            if i > start && bytes + size > STATEMENT_BYTES {
                tx.restore_records(&header.table, &header.columns, &records[start..i])
                    .await?;
                start = i;
                bytes = 0;
            }
            bytes += size;
            done.rows += 1;
            done.bytes += size;
        }
        tx.restore_records(&header.table, &header.columns, &records[start..])
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
        for (table, name) in SELF_REFERENCES.iter().filter(|r| r.0 == header.table) {
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
