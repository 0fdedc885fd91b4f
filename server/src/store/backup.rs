//! The SQL of backups: one consistent read snapshot of every table, and rows written back into
//! an empty database. Rows travel as plain [`Value`]s named by column, so what one engine
//! wrote the other restores: a backup is also the way from SQLite to PostgreSQL.

use std::borrow::Cow;

use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use sqlx::Row;

use super::import_batch::{placeholders, Numbering};
use super::{on_backend, Conn, ConnInner, HeldFor, Pools, Raw, Store, StoreError};
use crate::telemetry::StoreWork;

/// Every table of the schema, in the order a restore writes them: a table comes after every
/// table it refers to. A table in the database that is missing here stops a backup, so a new
/// migration cannot be left out of backups unnoticed.
pub const TABLES: &[&str] = &[
    "domains",
    "agencies",
    "officials",
    "directory_groups",
    "group_members",
    "addresses",
    "service_accounts",
    "certificates",
    "audit_log",
    "directory_version",
    "message_bodies",
    "message_shapes",
    "message_texts",
    "mailboxes",
    "mailbox_messages",
    "queue_entries",
    "submission_counts",
    "activity_days",
    "reset_links",
    "portal_sessions",
    "migration_folders",
    "migration_messages",
    "sieve_scripts",
    "vacation_replies",
    "sieve_before_scripts",
];

/// Tables whose rows the migrations themselves insert: emptied before a restore writes them.
const SEEDED: &[&str] = &["directory_version"];

/// What a column holds, in terms both engines share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Int,
    Text,
    Bool,
    Bytes,
}

impl ColumnKind {
    /// What a value of this kind is, in words.
    pub fn described(self) -> &'static str {
        match self {
            ColumnKind::Int => "an integer",
            ColumnKind::Text => "text",
            ColumnKind::Bool => "a boolean",
            ColumnKind::Bytes => "bytes",
        }
    }

    /// The kind of a column declared as `declared` (SQLite's declared type or PostgreSQL's
    /// `data_type`).
    fn of_declared(declared: &str) -> Option<ColumnKind> {
        match declared.to_ascii_lowercase().as_str() {
            "integer" | "bigint" | "int" | "smallint" => Some(ColumnKind::Int),
            "text" => Some(ColumnKind::Text),
            "boolean" => Some(ColumnKind::Bool),
            "blob" | "bytea" => Some(ColumnKind::Bytes),
            _ => None,
        }
    }
}

/// One column of a table as the database declares it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// One row, its values in the order of its table's columns.
pub type Record = Vec<Value>;

/// A table as a snapshot reads it.
#[derive(Debug, Clone)]
pub struct TableShape {
    pub name: String,
    pub columns: Vec<Column>,
    select: String,
}

/// A read transaction over the whole database: every table read through it shows the same
/// moment, while the server goes on writing (SQLite's WAL keeps the snapshot's pages;
/// PostgreSQL's repeatable read keeps its row versions).
#[derive(Debug)]
pub struct Snapshot {
    conn: Conn,
}

impl Store {
    /// Opens a read snapshot of the whole database.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let held = HeldFor::start(StoreWork::Read);
        let inner = match &self.pools {
            // A deferred BEGIN on a read connection: the snapshot is taken by the first read.
            Pools::Sqlite { reader, .. } => ConnInner::SqliteTx(reader.begin().await?),
            Pools::Postgres(pool) => ConnInner::PostgresTx(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?,
            ),
        };
        Ok(Snapshot {
            conn: Conn {
                inner,
                commits: None,
                changes: None,
                touched: Vec::new(),
                refoldered: Vec::new(),
                _held: held,
            },
        })
    }

    /// The last schema migration the database has applied (0 for an empty database).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let mut conn = self.read().await?;
        conn.schema_version().await
    }

    /// Every reference a SQLite database's schema declares, as (table, column, referenced
    /// table), sorted: what `backup verify` must check. Both engines' migrations declare the
    /// same references.
    #[cfg(test)]
    pub(crate) async fn declared_references(
        &self,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let Pools::Sqlite { reader, .. } = &self.pools else {
            return Err(StoreError::Corrupt(
                "declared references are read from SQLite's schema".into(),
            ));
        };
        Ok(sqlx::query_as(
            "SELECT m.name, f.\"from\", f.\"table\" \
             FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f \
             WHERE m.type = 'table' ORDER BY 1, 2, 3",
        )
        .fetch_all(reader)
        .await?)
    }
}

impl Snapshot {
    /// The schema version the snapshot was taken at.
    pub async fn schema_version(&mut self) -> Result<i64, StoreError> {
        self.conn.schema_version().await
    }

    /// Every table with its columns, in [`TABLES`] order; an error names a table the
    /// database has that this build does not know to back up.
    pub async fn tables(&mut self) -> Result<Vec<TableShape>, StoreError> {
        let present = self.conn.table_names().await?;
        if let Some(unknown) = present.iter().find(|t| !TABLES.contains(&t.as_str())) {
            return Err(StoreError::Corrupt(format!(
                "table {unknown} is not one this version of congvu backs up"
            )));
        }
        let mut tables = Vec::new();
        for name in TABLES.iter().filter(|t| present.iter().any(|p| p == *t)) {
            let columns = self.conn.columns(name).await?;
            tables.push(TableShape {
                select: format!("SELECT {} FROM {name}", column_list(&columns)),
                name: name.to_string(),
                columns,
            });
        }
        Ok(tables)
    }

    /// The rows of `table`, one at a time.
    pub fn rows<'a>(
        &'a mut self,
        table: &'a TableShape,
    ) -> BoxStream<'a, Result<Record, StoreError>> {
        let columns = &table.columns;
        on_backend!(self.conn, c => sqlx::query(&table.select)
            .fetch(&mut *c)
            .map_err(StoreError::from)
            .and_then(move |row| async move { decode(&row, columns) })
            .boxed())
    }
}

/// Decodes one row by its columns' kinds (written once, expanded for both engines' rows).
macro_rules! decode_row {
    ($row:expr, $columns:expr) => {{
        let mut record = Vec::with_capacity($columns.len());
        for (i, column) in $columns.iter().enumerate() {
            let value = match column.kind {
                ColumnKind::Int => $row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
                ColumnKind::Text => $row.try_get::<Option<String>, _>(i)?.map(Value::Text),
                ColumnKind::Bool => $row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
                ColumnKind::Bytes => $row.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Bytes),
            };
            record.push(value.unwrap_or(Value::Null));
        }
        Ok(record)
    }};
}

trait DecodeRecord {
    fn record(&self, columns: &[Column]) -> Result<Record, StoreError>;
}

impl DecodeRecord for sqlx::sqlite::SqliteRow {
    fn record(&self, columns: &[Column]) -> Result<Record, StoreError> {
        decode_row!(self, columns)
    }
}

impl DecodeRecord for sqlx::postgres::PgRow {
    fn record(&self, columns: &[Column]) -> Result<Record, StoreError> {
        decode_row!(self, columns)
    }
}

fn decode(row: &impl DecodeRecord, columns: &[Column]) -> Result<Record, StoreError> {
    row.record(columns)
}

fn column_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Conn {
    async fn schema_version(&mut self) -> Result<i64, StoreError> {
        if self.has_migrations_table().await? {
            let sql = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";
            return Ok(on_backend!(self, c => sqlx::query_scalar(sql).fetch_one(&mut *c).await)?);
        }
        Ok(0)
    }

    async fn has_migrations_table(&mut self) -> Result<bool, StoreError> {
        let count: i64 = match self.raw() {
            Raw::Sqlite(c) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
                     AND name = '_sqlx_migrations'",
                )
                .fetch_one(&mut *c)
                .await?
            }
            Raw::Postgres(c) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
                )
                .fetch_one(&mut *c)
                .await?
            }
        };
        Ok(count > 0)
    }

    /// The names of congvu's tables (not the engine's, not the migrations' own).
    async fn table_names(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(match self.raw() {
            Raw::Sqlite(c) => {
                sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations'",
                )
                .fetch_all(&mut *c)
                .await?
            }
            Raw::Postgres(c) => {
                sqlx::query_scalar(
                    "SELECT table_name::TEXT FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                     AND table_name <> '_sqlx_migrations'",
                )
                .fetch_all(&mut *c)
                .await?
            }
        })
    }

    async fn columns(&mut self, table: &str) -> Result<Vec<Column>, StoreError> {
        let declared: Vec<(String, String)> =
            match self.raw() {
                Raw::Sqlite(c) => {
                    sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                        .bind(table)
                        .fetch_all(&mut *c)
                        .await?
                }
                Raw::Postgres(c) => sqlx::query_as(
                    "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 \
                     ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(&mut *c)
                .await?,
            };
        declared
            .into_iter()
            .map(
                |(name, declared)| match ColumnKind::of_declared(&declared) {
                    Some(kind) => Ok(Column { name, kind }),
                    None => Err(StoreError::Corrupt(format!(
                        "column {table}.{name} has type {declared}, which backups do not carry"
                    ))),
                },
            )
            .collect()
    }

    /// Whether every table is empty (the rows the migrations insert aside): the only kind of
    /// database a restore writes into.
    pub async fn holds_no_records(&mut self) -> Result<bool, StoreError> {
        for table in self.table_names().await? {
            if SEEDED.contains(&table.as_str()) {
                continue;
            }
            let sql = format!("SELECT EXISTS (SELECT 1 FROM {table})");
            let any: bool =
                on_backend!(self, c => sqlx::query_scalar(&sql).fetch_one(&mut *c).await)?;
            if any {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The columns of `table` in this database, for matching an archive's columns by name.
    pub async fn restore_columns(&mut self, table: &str) -> Result<Vec<Column>, StoreError> {
        self.columns(table).await
    }

    /// Removes what the migrations seeded into `table`, before its archived rows go in.
    pub async fn clear_seeded(&mut self, table: &str) -> Result<(), StoreError> {
        if SEEDED.contains(&table) {
            let sql = format!("DELETE FROM {table}");
            on_backend!(self, c => sqlx::query(&sql).execute(&mut *c).await.map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    /// Writes `records` (values in the order of `columns`) into `table` as they were,
    /// identities included, in as few statements as the engines' parameter limits allow. The
    /// values are moved into the statements, not copied: message bodies are most of a restore.
    pub async fn restore_records(
        &mut self,
        table: &str,
        columns: &[Column],
        records: Vec<Record>,
    ) -> Result<(), StoreError> {
        // Both engines take at least 32,766 parameters per statement.
        let per_statement = (30_000 / columns.len().max(1)).max(1);
        let numbering = self.numbering();
        let overriding = match numbering {
            Numbering::Dollar => " OVERRIDING SYSTEM VALUE",
            Numbering::Anonymous => "",
        };
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let chunk: Vec<Record> = records.by_ref().take(per_statement).collect();
            let sql = format!(
                "INSERT INTO {table} ({}){overriding} VALUES {}",
                column_list(columns),
                placeholders(chunk.len(), columns.len(), 1, numbering)
            );
            on_backend!(self, c => {
                let mut query = sqlx::query(&sql);
                for value in chunk.into_iter().flatten() {
                    query = match value {
                        Value::Null => query.bind(None::<i64>),
                        Value::Int(v) => query.bind(v),
                        Value::Text(v) => query.bind(v),
                        Value::Bool(v) => query.bind(v),
                        Value::Bytes(v) => query.bind(v),
                    };
                }
                query.execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Sets `column` of the row of `table` whose `id` is `id`: the self-references a restore
    /// fills in last.
    pub async fn restore_reference(
        &mut self,
        table: &str,
        column: &str,
        id: i64,
        value: i64,
    ) -> Result<(), StoreError> {
        let sql = format!("UPDATE {table} SET {column} = $1 WHERE id = $2");
        on_backend!(self, c => sqlx::query(&sql)
            .bind(value)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// After a restore, moves each identity column's sequence past the restored ids, so new
    /// rows do not collide with them. SQLite derives the next rowid from the rows themselves.
    pub async fn restart_identities(&mut self, tables: &[&str]) -> Result<(), StoreError> {
        let Raw::Postgres(c) = self.raw() else {
            return Ok(());
        };
        let with_identity: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::TEXT FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'",
        )
        .fetch_all(&mut *c)
        .await?;
        for table in tables
            .iter()
            .filter(|t| with_identity.iter().any(|w| w == *t))
        {
            let sequence: Option<String> =
                sqlx::query_scalar("SELECT pg_get_serial_sequence($1, 'id')")
                    .bind(*table)
                    .fetch_one(&mut *c)
                    .await?;
            if let Some(sequence) = sequence {
                let sql = format!(
                    "SELECT setval($1, (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                );
                sqlx::query(&sql).bind(sequence).execute(&mut *c).await?;
            }
        }
        Ok(())
    }
}

/// The migrations this build carries, up to and including `version`: a restore brings an
/// empty database to the archive's schema, writes the rows, and only then applies the rest,
/// so that data migrations run over restored rows as they would have over the originals.
pub(super) fn migrations_up_to(
    all: &sqlx::migrate::Migrator,
    version: i64,
) -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator {
        migrations: Cow::Owned(
            all.iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect(),
        ),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}
