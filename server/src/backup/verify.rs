//! Reading an archive through and saying what is wrong with it: every part's SHA-256 against
//! the manifest, every message body's bytes against its own hash, every reference (a
//! message's body, a mailbox's official, …) to a row the archive holds, every body's refcount
//! against the rows that hold it, and every count. A restore runs the same [`Checker`] over
//! the parts as it writes them (all but the bodies' own hashes), and commits nothing unless
//! it finds nothing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::archive::{self, Entry, Manifest, PartHeader, RawPart};
use super::BackupError;
use crate::store::{Record, Value, TABLES};

/// References every archive must satisfy: (table, column, the table whose `id` it names).
/// Every reference the schema declares is here (a test holds the two equal): a restore into a
/// new SQLite file writes with SQLite's own checks off and relies on these.
pub(super) const REFERENCES: &[(&str, &str, &str)] = &[
    ("agencies", "domain_id", "domains"),
    ("agencies", "parent_id", "agencies"),
    ("officials", "agency_id", "agencies"),
    ("directory_groups", "agency_id", "agencies"),
    ("group_members", "group_id", "directory_groups"),
    ("group_members", "member_group_id", "directory_groups"),
    ("group_members", "official_id", "officials"),
    ("addresses", "agency_id", "agencies"),
    ("addresses", "domain_id", "domains"),
    ("addresses", "group_id", "directory_groups"),
    ("addresses", "official_id", "officials"),
    ("service_accounts", "scope_agency_id", "agencies"),
    ("certificates", "official_id", "officials"),
    ("mailboxes", "official_id", "officials"),
    ("mailbox_messages", "mailbox_id", "mailboxes"),
    ("mailbox_messages", "body_id", "message_bodies"),
    ("queue_entries", "body_id", "message_bodies"),
    ("message_shapes", "body_id", "message_bodies"),
    ("message_texts", "body_id", "message_bodies"),
    ("submission_counts", "agency_id", "agencies"),
    ("activity_days", "official_id", "officials"),
    ("reset_links", "official_id", "officials"),
    ("portal_sessions", "official_id", "officials"),
    ("migration_folders", "official_id", "officials"),
    ("migration_messages", "folder_id", "migration_folders"),
    ("sieve_scripts", "official_id", "officials"),
    ("vacation_replies", "official_id", "officials"),
    ("sieve_before_scripts", "agency_id", "agencies"),
];

/// Tables whose rows hold a message body, each holding one reference.
const BODY_HOLDERS: &[&str] = &["mailbox_messages", "queue_entries"];

/// Problems listed at most; beyond them only their number is told.
const MAX_PROBLEMS: usize = 50;

/// What a verification found.
#[derive(Debug, Clone)]
pub struct Verified {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Rows read per table.
    pub rows: HashMap<String, u64>,
    /// Bytes of message bodies, uncompressed.
    pub body_bytes: u64,
}

/// Reads the archive at `path` through and checks it; an archive with any problem is
/// [`BackupError::Damaged`], naming what is wrong.
pub fn verify(path: &Path) -> Result<Verified, BackupError> {
    let mut checker = Checker::rehashing_bodies();
    archive::read_entries::<BackupError>(path, true, |entry| {
        checker.entry(entry);
        Ok(())
    })?;
    checker.finish(path)
}

/// Checks an archive entry by entry, in the order they are read; [`Checker::finish`] adds
/// what only the whole archive can show (the manifest against the parts, refcounts).
#[derive(Default)]
pub(super) struct Checker {
    /// Whether every body's bytes are hashed again and compared with the hash it is stored
    /// under. The parts' SHA-256 already proves each byte is what the backup wrote; this
    /// also proves the database the backup was taken from held each body whole.
    rehash_bodies: bool,
    manifest: Option<Manifest>,
    /// Parts as read: name → (SHA-256, stored bytes, rows, table).
    parts: Vec<(String, String, u64, u64, String)>,
    rows: HashMap<String, u64>,
    /// The ids of every table some reference points into.
    ids: HashMap<&'static str, HashSet<i64>>,
    /// References of a row to another of its own table, (table, column, row, value): the
    /// other may come later, so these are looked up once the whole archive is read.
    self_references: Vec<(&'static str, &'static str, Option<i64>, i64)>,
    /// Each body's refcount as archived, and the holders found.
    refcounts: HashMap<i64, (i64, i64)>,
    body_bytes: u64,
    last_table: Option<usize>,
    problems: Vec<String>,
    unlisted_problems: usize,
}

impl Checker {
    /// A checker that also hashes every body again, as `verify` does.
    pub(super) fn rehashing_bodies() -> Checker {
        Checker {
            rehash_bodies: true,
            ..Checker::default()
        }
    }

    fn problem(&mut self, problem: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.unlisted_problems += 1;
        }
    }

    /// Whether nothing is wrong so far.
    pub(super) fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }

    /// Checks `entry`; a part that could be decoded is handed back, for a restore to write.
    pub(super) fn entry(&mut self, entry: Entry) -> Option<(PartHeader, Vec<Record>)> {
        match entry {
            Entry::Manifest(manifest) => self.manifest = Some(*manifest),
            Entry::Unexpected(name) => self.problem(format!("unexpected entry {name}")),
            Entry::Part {
                name,
                sha256,
                bytes,
                contents,
            } => match contents.and_then(RawPart::decode) {
                Ok((header, records)) => {
                    self.parts.push((
                        name,
                        sha256,
                        bytes,
                        records.len() as u64,
                        header.table.clone(),
                    ));
                    self.part(&header, &records);
                    return Some((header, records));
                }
                Err(e) => {
                    self.parts
                        .push((name.clone(), sha256, bytes, 0, String::new()));
                    self.problem(format!("part {name} cannot be decoded: {e}"));
                }
            },
        }
        None
    }

    fn part(&mut self, header: &PartHeader, records: &[Record]) {
        let Some(position) = TABLES.iter().position(|t| *t == header.table) else {
            self.problem(format!("unknown table {}", header.table));
            return;
        };
        if self.last_table.is_some_and(|last| last > position) {
            self.problem(format!("table {} is out of order", header.table));
        }
        self.last_table = Some(position);
        *self.rows.entry(header.table.clone()).or_default() += records.len() as u64;
        let column = |name: &str| header.columns.iter().position(|c| c.name == name);
        if header.table == "message_bodies" {
            self.bodies(
                records,
                column("id"),
                column("sha256"),
                column("size"),
                column("data"),
                column("refcount"),
            );
        }
        self.references(header, records);
        let referenced = REFERENCES.iter().find(|r| r.2 == header.table).map(|r| r.2);
        if let (Some(table), Some(id)) = (referenced, column("id")) {
            let ids = self.ids.entry(table).or_default();
            ids.extend(records.iter().filter_map(|r| int(&r[id])));
        }
    }

    fn bodies(
        &mut self,
        records: &[Record],
        id: Option<usize>,
        sha256: Option<usize>,
        size: Option<usize>,
        data: Option<usize>,
        refcount: Option<usize>,
    ) {
        let (Some(id), Some(sha256), Some(size), Some(data), Some(refcount)) =
            (id, sha256, size, data, refcount)
        else {
            self.problem("message_bodies lacks one of id, sha256, size, data, refcount".into());
            return;
        };
        for record in records {
            let (Some(body), Value::Bytes(hash), Value::Bytes(bytes)) =
                (int(&record[id]), &record[sha256], &record[data])
            else {
                self.problem("a message body row lacks its id, hash or bytes".into());
                continue;
            };
            self.body_bytes += bytes.len() as u64;
            if self.rehash_bodies && Sha256::digest(bytes).as_slice() != hash.as_slice() {
                self.problem(format!(
                    "message body {body} (SHA-256 {}): its bytes do not match its hash",
                    hex::encode(hash)
                ));
            }
            if int(&record[size]) != Some(bytes.len() as i64) {
                self.problem(format!("message body {body}: its size is not its length"));
            }
            let count = int(&record[refcount]).unwrap_or(-1);
            self.refcounts.insert(body, (count, 0));
        }
    }

    fn references(&mut self, header: &PartHeader, records: &[Record]) {
        let table = header.table.as_str();
        let column = |name: &str| header.columns.iter().position(|c| c.name == name);
        let row_id = column("id");
        for (_, name, target) in REFERENCES.iter().filter(|r| r.0 == table) {
            let Some(at) = column(name) else { continue };
            for record in records {
                let Some(value) = int(&record[at]) else {
                    continue;
                };
                let row = row_id.and_then(|i| int(&record[i]));
                if *target == table {
                    self.self_references.push((target, name, row, value));
                } else {
                    self.missing_reference(table, name, row, value, target);
                }
            }
        }
        if let (true, Some(body)) = (BODY_HOLDERS.contains(&table), column("body_id")) {
            for record in records {
                if let Some(held) = int(&record[body]).and_then(|b| self.refcounts.get_mut(&b)) {
                    held.1 += 1;
                }
            }
        }
    }

    /// Notes a problem when `value` is not an id of `target`.
    fn missing_reference(
        &mut self,
        table: &str,
        name: &str,
        row: Option<i64>,
        value: i64,
        target: &str,
    ) {
        if !self.ids.get(target).is_some_and(|ids| ids.contains(&value)) {
            self.problem(format!(
                "{table} row {}: {name} {value} is not in {target}",
                row.map_or_else(|| "?".into(), |r| r.to_string())
            ));
        }
    }

    /// Looks up the references of rows to others of their own table, now that all are read.
    fn check_self_references(&mut self) {
        for (table, name, row, value) in std::mem::take(&mut self.self_references) {
            self.missing_reference(table, name, row, value, table);
        }
    }

    pub(super) fn finish(mut self, path: &Path) -> Result<Verified, BackupError> {
        let Some(manifest) = self.manifest.take() else {
            self.problem("the archive ends before its manifest (truncated?)".into());
            return Err(self.damaged(path));
        };
        self.check_self_references();
        self.against_manifest(&manifest);
        let mut wrong: Vec<_> = self
            .refcounts
            .iter()
            .filter(|(_, (count, holders))| count != holders)
            .map(|(body, (count, holders))| (*body, *count, *holders))
            .collect();
        wrong.sort_unstable();
        for (body, count, holders) in wrong {
            self.problem(format!(
                "message body {body}: refcount {count}, but {holders} rows hold it"
            ));
        }
        if !self.problems.is_empty() {
            return Err(self.damaged(path));
        }
        Ok(Verified {
            path: path.to_owned(),
            manifest,
            rows: self.rows,
            body_bytes: self.body_bytes,
        })
    }

    fn against_manifest(&mut self, manifest: &Manifest) {
        let parts = std::mem::take(&mut self.parts);
        for listed in &manifest.parts {
            match parts.iter().find(|p| p.0 == listed.name) {
                None => self.problem(format!("part {} is missing", listed.name)),
                Some((_, sha256, bytes, rows, _)) => {
                    if *sha256 != listed.sha256 || *bytes != listed.bytes {
                        self.problem(format!("part {} does not match its SHA-256", listed.name));
                    } else if *rows != listed.rows {
                        self.problem(format!(
                            "part {} has {rows} rows, not {}",
                            listed.name, listed.rows
                        ));
                    }
                }
            }
        }
        for (name, ..) in parts
            .iter()
            .filter(|p| !manifest.parts.iter().any(|l| l.name == p.0))
        {
            self.problem(format!("part {name} is not in the manifest"));
        }
        for table in &manifest.tables {
            let read = self.rows.get(&table.name).copied().unwrap_or(0);
            if read != table.rows {
                self.problem(format!(
                    "table {}: {read} rows read, the manifest says {}",
                    table.name, table.rows
                ));
            }
        }
    }

    fn damaged(mut self, path: &Path) -> BackupError {
        if self.unlisted_problems > 0 {
            let more = format!("and {} more problems", self.unlisted_problems);
            self.problems.push(more);
        }
        BackupError::Damaged {
            path: path.to_owned(),
            problems: self.problems,
        }
    }
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(v) => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Column, ColumnKind, Store, StoreOptions};

    #[tokio::test]
    async fn every_reference_the_schema_declares_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions::sqlite_in(dir.path()))
            .await
            .unwrap();
        let declared = store.declared_references().await.unwrap();
        let mut checked: Vec<(String, String, String)> = REFERENCES
            .iter()
            .map(|(table, column, target)| {
                (table.to_string(), column.to_string(), target.to_string())
            })
            .collect();
        checked.sort();
        assert_eq!(checked, declared);
    }

    fn part(table: &str, columns: &[&str], rows: &[&[Option<i64>]]) -> (PartHeader, Vec<Record>) {
        let header = PartHeader {
            table: table.into(),
            columns: columns
                .iter()
                .map(|name| Column {
                    name: name.to_string(),
                    kind: ColumnKind::Int,
                })
                .collect(),
        };
        let records = rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| v.map_or(Value::Null, Value::Int))
                    .collect()
            })
            .collect();
        (header, records)
    }

    #[test]
    fn a_row_may_name_one_of_its_own_table_read_after_it_but_not_one_never_read() {
        let mut checker = Checker::default();
        let (header, records) = part("domains", &["id"], &[&[Some(1)]]);
        checker.part(&header, &records);
        let columns = ["id", "domain_id", "parent_id"];
        // Agency 1's parent comes in a later part; agency 2 has none; agency 3 names 9.
        let (header, records) = part("agencies", &columns, &[&[Some(1), Some(1), Some(4)]]);
        checker.part(&header, &records);
        let (header, records) = part(
            "agencies",
            &columns,
            &[
                &[Some(2), Some(1), None],
                &[Some(3), Some(1), Some(9)],
                &[Some(4), Some(1), Some(2)],
            ],
        );
        checker.part(&header, &records);
        assert!(checker.is_sound(), "{:?}", checker.problems);
        checker.check_self_references();
        assert_eq!(
            checker.problems,
            ["agencies row 3: parent_id 9 is not in agencies"]
        );
    }

    #[test]
    fn a_reference_the_list_gained_is_checked() {
        let mut checker = Checker::default();
        let (header, records) = part("officials", &["id"], &[&[Some(7)]]);
        checker.part(&header, &records);
        let (header, records) = part(
            "vacation_replies",
            &["id", "official_id"],
            &[&[Some(1), Some(7)], &[Some(2), Some(8)]],
        );
        checker.part(&header, &records);
        assert_eq!(
            checker.problems,
            ["vacation_replies row 2: official_id 8 is not in officials"]
        );
    }
}
