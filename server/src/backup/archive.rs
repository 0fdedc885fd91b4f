//! The backup archive: a tar file whose first entry says it is a congvu backup and which
//! format, then the parts (each a zstd stream of CBOR: a header naming its table and columns,
//! then that table's rows), then the manifest (versions, time, counts, the SHA-256 of every
//! part). tar, zstd and CBOR are read by tools everywhere, so an archive outlives the program
//! that wrote it; the rows are plain values, so it does not depend on the engine either.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use ciborium_ll::{simple, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Column, ColumnKind, Record, Value};

/// The name of the first entry, and what it holds: anything else is not a congvu backup.
pub const MAGIC_ENTRY: &str = "CONGVU-BACKUP";
/// The archive format this build writes; it reads this one and every older one.
pub const FORMAT: u32 = 1;
/// The last entry.
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// Uncompressed bytes a part holds at most before the next part starts: what a reader holds
/// in memory at once is about one part.
const PART_BYTES: usize = 32 << 20;
/// zstd's default level, as the `zstd` program uses.
const ZSTD_LEVEL: i32 = 3;

/// What an archive holds, written last.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub product: String,
    pub congvu_version: String,
    /// The last schema migration of the database backed up.
    pub schema_version: i64,
    /// The engine the backup was taken from (`sqlite` or `postgres`).
    pub engine: String,
    /// Unix seconds when the snapshot was taken.
    pub created_at: i64,
    pub tables: Vec<TableEntry>,
    pub parts: Vec<PartEntry>,
}

/// One table: its columns and rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    pub columns: Vec<Column>,
    pub rows: u64,
}

/// One part as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartEntry {
    pub name: String,
    pub table: String,
    pub rows: u64,
    /// Bytes of the compressed part.
    pub bytes: u64,
    /// Bytes of its rows before compression.
    pub raw_bytes: u64,
    pub sha256: String,
}

impl Manifest {
    /// Rows of `table` in the archive (0 when it has none).
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|t| t.name == table)
            .map_or(0, |t| t.rows)
    }

    /// Bytes of the archive's parts, compressed.
    pub fn stored_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.bytes).sum()
    }
}

/// The first item of every part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartHeader {
    pub table: String,
    pub columns: Vec<Column>,
}

/// Writes an archive to a file that takes its final name only once complete and synced:
/// until then it is `NAME.partial`, removed if anything fails (a full disk included).
pub struct ArchiveWriter {
    path: PathBuf,
    partial: PathBuf,
    tar: Option<tar::Builder<File>>,
    part: Option<OpenPart>,
    next_part: usize,
    tables: Vec<TableEntry>,
    parts: Vec<PartEntry>,
}

impl std::fmt::Debug for ArchiveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("path", &self.path)
            .field("parts", &self.parts.len())
            .finish_non_exhaustive()
    }
}

struct OpenPart {
    header: PartHeader,
    encoder: zstd::Encoder<'static, Vec<u8>>,
    rows: u64,
    raw_bytes: u64,
}

impl ArchiveWriter {
    /// Starts `path` (refusing one that exists).
    pub fn create(path: &Path) -> io::Result<ArchiveWriter> {
        if path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists already", path.display()),
            ));
        }
        let partial = partial_path(path);
        let file = open_private(&partial)?;
        let mut writer = ArchiveWriter {
            path: path.to_owned(),
            partial,
            tar: Some(tar::Builder::new(file)),
            part: None,
            next_part: 0,
            tables: Vec::new(),
            parts: Vec::new(),
        };
        let magic = format!("congvu backup, format {FORMAT}\n");
        writer.append(MAGIC_ENTRY, magic.as_bytes())?;
        Ok(writer)
    }

    /// Starts the rows of `table`.
    pub fn table(&mut self, table: &str, columns: &[Column]) -> io::Result<()> {
        self.close_part()?;
        self.tables.push(TableEntry {
            name: table.to_owned(),
            columns: columns.to_vec(),
            rows: 0,
        });
        Ok(())
    }

    /// Adds a row of the current table.
    pub fn record(&mut self, record: Record) -> io::Result<()> {
        let Some(table) = self.tables.last_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a row written before its table was started",
            ));
        };
        table.rows += 1;
        let part = match &mut self.part {
            Some(part) => part,
            none @ None => none.insert(OpenPart::start(PartHeader {
                table: table.name.clone(),
                columns: table.columns.clone(),
            })?),
        };
        let mut counted = CountingWriter {
            inner: &mut part.encoder,
            bytes: 0,
        };
        ciborium::into_writer(&to_cbor(record), &mut counted).map_err(cbor_write_error)?;
        part.raw_bytes += counted.bytes;
        part.rows += 1;
        if part.raw_bytes >= PART_BYTES as u64 {
            self.close_part()?;
        }
        Ok(())
    }

    fn close_part(&mut self) -> io::Result<()> {
        let Some(part) = self.part.take() else {
            return Ok(());
        };
        let bytes = part.encoder.finish()?;
        let name = format!("parts/{:05}.{}.cbor.zst", self.next_part, part.header.table);
        self.next_part += 1;
        self.append(&name, &bytes)?;
        // Each part goes to the disk as it is written: left to the kernel, hundreds of
        // megabytes of dirty pages build up and a server beside the backup, whose every
        // commit waits for an fsync, waits behind their flush.
        self.tar()?.get_ref().sync_data()?;
        self.parts.push(PartEntry {
            name,
            table: part.header.table,
            rows: part.rows,
            bytes: bytes.len() as u64,
            raw_bytes: part.raw_bytes,
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
        Ok(())
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        self.tar()?.append_data(&mut header, name, bytes)
    }

    fn tar(&mut self) -> io::Result<&mut tar::Builder<File>> {
        self.tar.as_mut().ok_or_else(finished)
    }

    /// Writes the manifest (filling in the tables and parts written), syncs the file and gives
    /// it its name.
    pub fn finish(mut self, mut manifest: Manifest) -> io::Result<Manifest> {
        self.close_part()?;
        manifest.tables = std::mem::take(&mut self.tables);
        manifest.parts = std::mem::take(&mut self.parts);
        let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
        self.append(MANIFEST_ENTRY, &json)?;
        let file = self.tar.take().ok_or_else(finished)?.into_inner()?;
        file.sync_all()?;
        std::fs::rename(&self.partial, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(manifest)
    }
}

/// What a write after [`ArchiveWriter::finish`] meets (the tar builder is gone by then).
fn finished() -> io::Error {
    io::Error::other("the archive is already finished")
}

impl OpenPart {
    /// A part of the table `header` names: its rows compressed as they come, with zstd's
    /// checksum, so that a flipped byte fails decompression too, not only the part's hash.
    fn start(header: PartHeader) -> io::Result<OpenPart> {
        let mut encoder = zstd::Encoder::new(Vec::new(), ZSTD_LEVEL)?;
        encoder.include_checksum(true)?;
        ciborium::into_writer(&header, &mut encoder).map_err(cbor_write_error)?;
        Ok(OpenPart {
            header,
            encoder,
            rows: 0,
            raw_bytes: 0,
        })
    }
}

impl Drop for ArchiveWriter {
    /// An archive dropped before [`ArchiveWriter::finish`] succeeded leaves nothing behind.
    fn drop(&mut self) {
        if self.tar.is_some() {
            self.tar = None;
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Backups hold password hashes and every message: readable by their owner only.
fn open_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

struct CountingWriter<'a, W> {
    inner: &'a mut W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn cbor_write_error(e: ciborium::ser::Error<io::Error>) -> io::Error {
    match e {
        ciborium::ser::Error::Io(e) => e,
        ciborium::ser::Error::Value(message) => io::Error::other(message),
    }
}

fn to_cbor(record: Record) -> Vec<ciborium::Value> {
    record
        .into_iter()
        .map(|value| match value {
            Value::Null => ciborium::Value::Null,
            Value::Int(v) => ciborium::Value::Integer(v.into()),
            Value::Text(v) => ciborium::Value::Text(v),
            Value::Bool(v) => ciborium::Value::Bool(v),
            Value::Bytes(v) => ciborium::Value::Bytes(v),
        })
        .collect()
}

/// The next CBOR item's header, from the front of `reader`. The decoder reads no further than
/// the header, so the value's own bytes can then be taken from `reader` directly.
fn pull(reader: &mut &[u8]) -> Result<Header, String> {
    ciborium_ll::Decoder::from(reader)
        .pull()
        .map_err(|e| format!("not CBOR: {e:?}"))
}

/// The next `len` bytes of `reader`.
fn take<'a>(reader: &mut &'a [u8], len: usize) -> Result<&'a [u8], String> {
    if reader.len() < len {
        return Err(format!(
            "a value of {len} bytes runs past the part's end ({} bytes left)",
            reader.len()
        ));
    }
    let (value, rest) = reader.split_at(len);
    *reader = rest;
    Ok(value)
}

/// One row: a CBOR array of values, each read straight into a [`Value`] (message bodies, most
/// of an archive's bytes, are copied once, out of the part into their own buffer).
fn read_row(reader: &mut &[u8]) -> Result<Vec<Value>, String> {
    let cells = match pull(reader)? {
        Header::Array(Some(cells)) => cells,
        other => return Err(format!("a row is not a list of values but {other:?}")),
    };
    (0..cells).map(|_| read_value(reader)).collect()
}

fn read_value(reader: &mut &[u8]) -> Result<Value, String> {
    let out_of_range = |v: u64| format!("{v} is out of range");
    // A tag says how to read what follows; the values here are all plain, so tags are
    // passed over (in a loop: a run of them must not deepen the stack).
    let header = loop {
        match pull(reader)? {
            Header::Tag(_) => {}
            header => break header,
        }
    };
    match header {
        Header::Positive(v) => i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| out_of_range(v)),
        // CBOR's negative integers are stored as -1 - v.
        Header::Negative(v) => i64::try_from(v)
            .map(|v| Value::Int(-1 - v))
            .map_err(|_| out_of_range(v)),
        Header::Bytes(Some(len)) => Ok(Value::Bytes(take(reader, len)?.to_vec())),
        Header::Text(Some(len)) => simdutf8::basic::from_utf8(take(reader, len)?)
            .map(|text| Value::Text(text.to_owned()))
            .map_err(|_| "a text value is not UTF-8".to_owned()),
        Header::Simple(simple::NULL | simple::UNDEFINED) => Ok(Value::Null),
        Header::Simple(simple::TRUE) => Ok(Value::Bool(true)),
        Header::Simple(simple::FALSE) => Ok(Value::Bool(false)),
        other => Err(format!(
            "{other:?} is not null, an integer, text, a boolean or bytes"
        )),
    }
}

/// A row read back, checked against its columns' kinds.
fn checked_row(cells: Vec<Value>, columns: &[Column]) -> Result<Record, String> {
    if cells.len() != columns.len() {
        return Err(format!(
            "a row has {} values for {} columns",
            cells.len(),
            columns.len()
        ));
    }
    let fits = |value: &Value, kind| {
        matches!(
            (value, kind),
            (Value::Null, _)
                | (Value::Int(_), ColumnKind::Int)
                | (Value::Text(_), ColumnKind::Text)
                | (Value::Bool(_), ColumnKind::Bool)
                | (Value::Bytes(_), ColumnKind::Bytes)
        )
    };
    if let Some((_, column)) = cells
        .iter()
        .zip(columns)
        .find(|(cell, column)| !fits(cell, column.kind))
    {
        return Err(format!(
            "column {} does not hold {}",
            column.name,
            column.kind.described()
        ));
    }
    Ok(cells)
}

/// One entry of an archive as read back.
#[derive(Debug)]
pub enum Entry {
    /// A part: its name, the SHA-256 of its stored bytes, and its contents, decompressed.
    Part {
        name: String,
        sha256: String,
        bytes: u64,
        contents: PartContents,
    },
    Manifest(Box<Manifest>),
    /// An entry this format does not have.
    Unexpected(String),
}

/// A part decompressed, or what was wrong with it.
pub type PartContents = Result<RawPart, String>;

/// Why an archive cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is not a congvu backup (it does not start with the congvu backup header)")]
    NotABackup { path: PathBuf },
    #[error(
        "{path} is a congvu backup of format {found}, newer than this congvu reads \
         ({FORMAT}); restore it with a newer congvu"
    )]
    NewerFormat { path: PathBuf, found: u32 },
    #[error("{path} is damaged: {problem}")]
    Damaged { path: PathBuf, problem: String },
}

/// Reads the archive at `path` entry by entry, in the order it was written, handing each to
/// `visit`; `decode` says whether parts are read, hashed and decoded (a listing needs only
/// the manifest). Reading stops at the first error `visit` returns.
pub fn read_entries<E: From<ReadError>>(
    path: &Path,
    decode: bool,
    mut visit: impl FnMut(Entry) -> Result<(), E>,
) -> Result<(), E> {
    let io_error = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let damaged = |problem: String| ReadError::Damaged {
        path: path.to_owned(),
        problem,
    };
    let file = File::open(path).map_err(io_error)?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, file));
    // One buffer for the stored bytes and a few for decompressed parts, used over and over:
    // a fresh buffer of tens of MiB costs a page fault every 4 KiB, part after part.
    let mut stored = Vec::new();
    let (recycle, recycled) = mpsc::channel();
    // With seeking, entries whose data is not read are skipped rather than read through.
    let mut entries = archive.entries_with_seek().map_err(io_error)?;
    check_magic(path, entries.next())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(format!("unreadable tar entry: {e}")))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if !decode && name.starts_with("parts/") {
            visit(Entry::Part {
                sha256: String::new(),
                bytes: entry.size(),
                contents: Err("not read".into()),
                name,
            })?;
            continue;
        }
        let size = usize::try_from(entry.size())
            .map_err(|_| damaged(format!("{name} is larger than this machine can hold")))?;
        // The buffer keeps its largest length, so only growth is zero-filled, not every part.
        if stored.len() < size {
            stored.resize(size, 0);
        }
        let stored = &mut stored[..size];
        entry
            .read_exact(stored)
            .map_err(|e| damaged(format!("{name} cannot be read: {e}")))?;
        let stored = &*stored;
        let item = if name == MANIFEST_ENTRY {
            let manifest = serde_json::from_slice(stored)
                .map_err(|e| damaged(format!("the manifest cannot be read: {e}")))?;
            Entry::Manifest(Box::new(manifest))
        } else if name.starts_with("parts/") {
            let buffer = PartBuffer {
                bytes: recycled.try_recv().unwrap_or_default(),
                recycle: Some(recycle.clone()),
            };
            Entry::Part {
                sha256: hex::encode(Sha256::digest(stored)),
                bytes: stored.len() as u64,
                contents: RawPart::decompress(stored, buffer),
                name,
            }
        } else {
            Entry::Unexpected(name)
        };
        visit(item)?;
    }
    Ok(())
}

fn check_magic(
    path: &Path,
    first: Option<io::Result<tar::Entry<'_, impl Read>>>,
) -> Result<(), ReadError> {
    let not_a_backup = || ReadError::NotABackup {
        path: path.to_owned(),
    };
    let Some(Ok(mut first)) = first else {
        return Err(not_a_backup());
    };
    if first.path_bytes().as_ref() != MAGIC_ENTRY.as_bytes() {
        return Err(not_a_backup());
    }
    let mut text = String::new();
    first
        .by_ref()
        .take(256)
        .read_to_string(&mut text)
        .map_err(|_| not_a_backup())?;
    let found: u32 = text
        .trim()
        .strip_prefix("congvu backup, format ")
        .and_then(|n| n.parse().ok())
        .ok_or_else(not_a_backup)?;
    if found > FORMAT {
        return Err(ReadError::NewerFormat {
            path: path.to_owned(),
            found,
        });
    }
    Ok(())
}

/// A part as stored, decompressed (its zstd checksum checked) but not yet decoded: reading and
/// decompressing one part can go on while another thread decodes the one before. Its rows
/// are the first `len` bytes of its buffer.
#[derive(Debug)]
pub struct RawPart {
    buffer: PartBuffer,
    len: usize,
}

/// The memory a part is decompressed into; once the part is dropped, it goes back to the
/// reader for a later part, if the reader is still reading.
#[derive(Debug, Default)]
struct PartBuffer {
    bytes: Vec<u8>,
    recycle: Option<mpsc::Sender<Vec<u8>>>,
}

impl Drop for PartBuffer {
    fn drop(&mut self) {
        if let Some(recycle) = &self.recycle {
            // A reader that has finished has nothing to reuse it for; the buffer is freed.
            let _ = recycle.send(std::mem::take(&mut self.bytes));
        }
    }
}

impl RawPart {
    fn decompress(stored: &[u8], mut buffer: PartBuffer) -> Result<RawPart, String> {
        // The stored bytes are read in place, not copied through a buffer of the decoder's.
        let mut decoder =
            zstd::Decoder::with_buffer(stored).map_err(|e| format!("not zstd: {e}"))?;
        // Decompressed into the buffer as it is, zero-filled only where it grows: most parts
        // are a little over PART_BYTES, a larger one (a row bigger than a part) doubles it.
        let mut len = 0;
        loop {
            if len == buffer.bytes.len() {
                let grown = (buffer.bytes.len() * 2).max(PART_BYTES + PART_BYTES / 8);
                buffer.bytes.resize(grown, 0);
            }
            match decoder.read(&mut buffer.bytes[len..]) {
                Ok(0) => break,
                Ok(read) => len += read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("cannot be decompressed: {e}")),
            }
        }
        Ok(RawPart { buffer, len })
    }

    /// The part's header, then every row, each checked against its columns.
    pub fn decode(self) -> Result<(PartHeader, Vec<Record>), String> {
        let mut reader = &self.buffer.bytes[..self.len];
        let header: PartHeader =
            ciborium::from_reader(&mut reader).map_err(|e| format!("no part header: {e}"))?;
        let mut records = Vec::new();
        while !reader.is_empty() {
            let row = || format!("row {}", records.len() + 1);
            let cells = read_row(&mut reader).map_err(|e| format!("{}: {e}", row()))?;
            let record =
                checked_row(cells, &header.columns).map_err(|e| format!("{}: {e}", row()))?;
            records.push(record);
        }
        Ok((header, records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<Column> {
        [
            ("id", ColumnKind::Int),
            ("name", ColumnKind::Text),
            ("on", ColumnKind::Bool),
            ("data", ColumnKind::Bytes),
        ]
        .into_iter()
        .map(|(name, kind)| Column {
            name: name.into(),
            kind,
        })
        .collect()
    }

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT,
            product: "congvu".into(),
            congvu_version: "0.1.0".into(),
            schema_version: 11,
            engine: "sqlite".into(),
            created_at: 1_796_534_100,
            tables: Vec::new(),
            parts: Vec::new(),
        }
    }

    #[test]
    fn rows_come_back_as_written_part_by_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cvbak");
        let mut writer = ArchiveWriter::create(&path).unwrap();
        writer.table("domains", &columns()).unwrap();
        let big = vec![0xA5u8; PART_BYTES / 2 + 1];
        let rows: Vec<Record> = (0..3)
            .map(|i| {
                vec![
                    Value::Int(i - 1),
                    Value::Text(format!("Sở {i}")),
                    if i == 1 {
                        Value::Null
                    } else {
                        Value::Bool(i == 2)
                    },
                    Value::Bytes(big.clone()),
                ]
            })
            .collect();
        for row in &rows {
            writer.record(row.clone()).unwrap();
        }
        let written = writer.finish(manifest()).unwrap();
        // Two rows fill a part; the third starts the next.
        assert_eq!(written.parts.len(), 2);
        assert_eq!(written.tables[0].rows, 3);
        assert!(!dir.path().join("a.cvbak.partial").exists());

        let mut read = Vec::new();
        let mut seen_manifest = None;
        read_entries::<ReadError>(&path, true, |entry| {
            match entry {
                Entry::Part {
                    sha256,
                    name,
                    contents,
                    ..
                } => {
                    let listed = written.parts.iter().find(|p| p.name == name).unwrap();
                    assert_eq!(sha256, listed.sha256);
                    let (header, records) = contents.unwrap().decode().unwrap();
                    assert_eq!(header.table, "domains");
                    read.extend(records);
                }
                Entry::Manifest(m) => seen_manifest = Some(m),
                Entry::Unexpected(name) => panic!("{name}"),
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(read, rows);
        assert_eq!(seen_manifest.unwrap().schema_version, 11);
    }

    #[test]
    fn an_abandoned_archive_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.cvbak");
        let mut writer = ArchiveWriter::create(&path).unwrap();
        writer.table("domains", &columns()).unwrap();
        assert!(dir.path().join("b.cvbak.partial").exists());
        drop(writer);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(ArchiveWriter::create(&dir.path().join("b.cvbak")).is_ok());
    }

    #[test]
    fn a_row_before_its_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ArchiveWriter::create(&dir.path().join("c.cvbak")).unwrap();
        let refused = writer.record(vec![Value::Int(1)]).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
        writer.table("domains", &columns()).unwrap();
        let row = vec![Value::Int(1), Value::Null, Value::Null, Value::Null];
        writer.record(row).unwrap();
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_named() {
        let cells = [
            Value::Text("1".into()),
            Value::Null,
            Value::Null,
            Value::Null,
        ];
        assert_eq!(
            checked_row(cells.to_vec(), &columns()).unwrap_err(),
            "column id does not hold an integer"
        );
    }

    #[test]
    fn a_row_cut_short_or_not_a_row_is_named() {
        let row = vec![Value::Int(i64::MIN), Value::Bytes(vec![1, 2, 3])];
        let mut encoded = Vec::new();
        ciborium::into_writer(&to_cbor(row.clone()), &mut encoded).unwrap();
        let mut whole = encoded.as_slice();
        assert_eq!(read_row(&mut whole).unwrap(), row);
        assert!(whole.is_empty());
        let mut cut = &encoded[..encoded.len() - 1];
        let refused = read_row(&mut cut).unwrap_err();
        assert!(refused.contains("runs past the part's end"), "{refused}");
        let mut text = Vec::new();
        ciborium::into_writer(&"a row", &mut text).unwrap();
        let refused = read_row(&mut text.as_slice()).unwrap_err();
        assert!(refused.contains("not a list of values"), "{refused}");
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_and_vietnamese_text_is_kept() {
        // A list of one text value (CBOR 0x81, then 0x78 and a one-byte length) over the
        // given bytes.
        let row_of = |bytes: &[u8]| {
            let mut encoded = vec![0x81, 0x78, u8::try_from(bytes.len()).unwrap()];
            encoded.extend_from_slice(bytes);
            encoded
        };
        let vietnamese = "Công văn số 2986/UBND-NC";
        assert_eq!(
            read_row(&mut row_of(vietnamese.as_bytes()).as_slice()).unwrap(),
            vec![Value::Text(vietnamese.into())]
        );
        // "Sở" cut inside its last letter (three bytes), and a lone continuation byte.
        for bad in [&"Sở".as_bytes()[..2], b"a\x80b".as_slice()] {
            let refused = read_row(&mut row_of(bad).as_slice()).unwrap_err();
            assert_eq!(refused, "a text value is not UTF-8");
        }
    }

    #[test]
    fn rows_read_back_as_written_whatever_their_sizes() {
        let big = vec![7u8; (1 << 21) + 3];
        let rows = [
            vec![
                Value::Int(-5),
                Value::Text("Sở Nội vụ".into()),
                Value::Bool(true),
                Value::Bytes(big),
            ],
            vec![
                Value::Int(i64::MAX),
                Value::Null,
                Value::Bool(false),
                Value::Bytes(vec![]),
            ],
        ];
        let mut encoded = Vec::new();
        let mut encoder = zstd::Encoder::new(&mut encoded, ZSTD_LEVEL).unwrap();
        let header = PartHeader {
            table: "t".into(),
            columns: columns(),
        };
        ciborium::into_writer(&header, &mut encoder).unwrap();
        for row in &rows {
            ciborium::into_writer(&to_cbor(row.clone()), &mut encoder).unwrap();
        }
        encoder.finish().unwrap();
        let raw = RawPart::decompress(&encoded, PartBuffer::default()).unwrap();
        let (read, records) = raw.decode().unwrap();
        assert_eq!(read.table, "t");
        assert_eq!(records, rows);
    }
}
