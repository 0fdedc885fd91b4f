//! `congvu-admin mailbox export`: one official's mail written out for a mail client or an
//! archive, as mbox files, a Maildir++ tree or one `.eml` file per message. This module
//! owns the three layouts and nothing else: it reads through the mail store, one message
//! at a time (memory holds one message, never a folder), and records the export in the
//! audit log, since mail leaving congvu is something an auditor asks about.
//!
//! The output directory must be new or empty; it is made with mode 0700 (an existing empty
//! one is set to 0700), messages are written 0600. Folder names stay UTF-8 as stored (NFC);
//! `/` is congvu's separator, so it never occurs inside a level. Within a level, `%` is
//! written `%25`, and a `.` that would be misread is written `%2E`: every `.` in a Maildir++
//! name (where `.` separates levels), and in the mbox and eml layouts a leading `.` (no
//! hidden files, no `..`) and the `.` of a trailing `.mbox` or `.eml` (which would collide
//! with a sibling folder's file).
//!
//! Layouts, all under the output directory DIR:
//!
//! - `mbox`: `DIR/INBOX.mbox`, `DIR/Sent.mbox`, and a nested folder `Dự án/2026` as
//!   `DIR/Dự án/2026.mbox` next to `DIR/Dự án.mbox`: plain files that mutt opens with `-f`
//!   and Thunderbird's ImportExportTools imports (one by one, or a directory of them). The
//!   format is mboxrd: a `From SENDER asctime(internal date)` separator, where SENDER is the
//!   `Return-Path:` congvu recorded at delivery or `MAILER-DAEMON`; a line matching
//!   `^>*From ` gets one more `>`; an empty line after each message. Line ends are LF, as
//!   Unix mail programs expect (stored CRLF becomes LF). Flags travel the way mutt and pine
//!   read them: `Status: RO` for a seen message, `X-Status:` with `A` answered, `F` flagged,
//!   `T` draft, `D` deleted, added at the end of the header; `Status:`/`X-Status:` fields
//!   already in the stored message (left by an earlier mail program) are dropped, as they
//!   describe another mailbox's state. Keywords are not carried.
//! - `maildir`: a Maildir++ tree: INBOX is DIR itself (`cur/ new/ tmp/`), every other folder
//!   `DIR/.Level1.Level2` with a `maildirfolder` file. Each message is a file in `cur/` named
//!   `DATE.UID_UIDVALIDITY.HOST:2,FLAGS` (D draft, F flagged, R answered, S seen, T deleted,
//!   in ASCII order), with the internal date as its modification time. Keywords are carried
//!   as Dovecot does: lowercase letters after the flags, named in the folder's
//!   `dovecot-keywords` file; Dovecot has 26 letters, so a folder's 27th and later keywords
//!   are not carried. Line ends are LF.
//! - `eml`: `DIR/INBOX/UID.eml`, `DIR/Dự án/2026/UID.eml`: the bytes exactly as stored
//!   (CRLF), the internal date as the file's modification time.

use std::collections::BTreeSet;
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use congvu::clock::UnixTime;
use congvu::directory::Official;
use congvu::mailstore::{Mailbox, MailboxMessage, MailboxRole, MessageFlags, SEPARATOR};
use serde_json::json;

use crate::{output, Context};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The official's login.
    login: String,
    /// mbox: one mboxrd file per folder; maildir: a Maildir++ tree; eml: one file per message.
    #[arg(long, value_enum)]
    format: Format,
    /// A new or empty directory to write into; it is made readable by its owner alone.
    #[arg(long, value_name = "DIR")]
    output: PathBuf,
    /// Only this folder (`/` between levels); default: every folder.
    #[arg(long, value_name = "NAME")]
    folder: Option<String>,
}

/// How the mail is laid out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Mbox,
    Maildir,
    Eml,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Mbox => "mbox",
            Format::Maildir => "maildir",
            Format::Eml => "eml",
        }
    }
}

/// What was written for one folder.
#[derive(Debug)]
struct Written {
    folder: String,
    /// Where it went, relative to the output directory.
    path: PathBuf,
    messages: u64,
    bytes: u64,
}

pub async fn export(ctx: &Context, args: ExportArgs) -> anyhow::Result<()> {
    let official = ctx.directory.official(&args.login).await?;
    let folders = chosen_folders(ctx, &official, args.folder.as_deref()).await?;
    prepare_output(&args.output)?;
    let root = fs::canonicalize(&args.output)
        .with_context(|| format!("{}: cannot resolve the path", args.output.display()))?;
    let mut written = Vec::new();
    let outcome = write_folders(ctx, args.format, &root, &folders, &mut written).await;
    let totals = totals(&written);
    // Recorded even when the export stopped part-way: some mail may have left already.
    let audited = ctx
        .directory
        .record_mailbox_export(
            &ctx.actor,
            &official.login,
            json!({"format": args.format.as_str(), "output": root.display().to_string(),
                   "folders": written.len(), "messages": totals.messages,
                   "bytes": totals.bytes, "completed": outcome.is_ok()}),
        )
        .await;
    outcome?;
    audited.context("the export is written, but recording it in the audit log failed")?;
    report(ctx, &args, &root, &written);
    Ok(())
}

/// The official's folders to export, INBOX first: all of them, or the one named `only`.
async fn chosen_folders(
    ctx: &Context,
    official: &Official,
    only: Option<&str>,
) -> anyhow::Result<Vec<Mailbox>> {
    let mut folders = ctx.mailstore.mailboxes(official.id).await?;
    // Sorted here, not by the database, whose collation differs between the engines.
    folders.sort_by(|a, b| {
        let key = |m: &Mailbox| (m.role != Some(MailboxRole::Inbox), m.name.clone());
        key(a).cmp(&key(b))
    });
    let Some(name) = only else {
        return Ok(folders);
    };
    match ctx.mailstore.mailbox_named(official, name).await? {
        Some(mailbox) => Ok(vec![mailbox]),
        None => {
            let names: Vec<String> = folders.iter().map(folder_name).collect();
            anyhow::bail!(
                "{} has no folder \"{name}\"; the folders are: {}",
                official.login,
                names.join(", ")
            )
        }
    }
}

/// The folder's name as the official sees it; the inbox is always `INBOX`.
fn folder_name(mailbox: &Mailbox) -> String {
    if mailbox.role == Some(MailboxRole::Inbox) {
        "INBOX".to_string()
    } else {
        mailbox.name.clone()
    }
}

/// Makes `dir` (mode 0700), or takes it when it exists and is empty; refuses anything else,
/// so that an export never mixes with, or overwrites, other files.
fn prepare_output(dir: &Path) -> anyhow::Result<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                anyhow::bail!(
                    "{}: the directory is not empty; export into a new or empty directory \
                     (give another --output, or move what is in it elsewhere)",
                    dir.display()
                );
            }
            fs::set_permissions(dir, Permissions::from_mode(0o700))
                .with_context(|| format!("{}: cannot make it private (mode 0700)", dir.display()))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => private_dir(dir)
            .with_context(|| format!("{}: cannot create the directory", dir.display())),
        Err(_) if dir.exists() => anyhow::bail!(
            "{}: exists and is not a directory; give a new or empty directory as --output",
            dir.display()
        ),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read the directory", dir.display())),
    }
}

/// Creates `dir` and its missing parents, readable by the owner alone.
fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// A new file at `path`, readable by the owner alone; never replaces one.
fn private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Writes each folder in turn, adding what was written to `written` as it goes.
async fn write_folders(
    ctx: &Context,
    format: Format,
    root: &Path,
    folders: &[Mailbox],
    written: &mut Vec<Written>,
) -> anyhow::Result<()> {
    let host = maildir_host();
    for mailbox in folders {
        let name = folder_name(mailbox);
        let messages = ctx.mailstore.messages(mailbox.id).await?;
        let mut target = FolderTarget::open(format, root, &name, mailbox, &messages, &host)
            .with_context(|| format!("cannot start writing the folder \"{name}\""))?;
        let index = written.len();
        written.push(Written {
            folder: name,
            path: target.relative(root),
            messages: 0,
            bytes: 0,
        });
        for message in &messages {
            // `None`: expunged since the folder was listed; there is nothing left to export.
            let Some(bytes) = ctx.mailstore.body(message.body_id).await? else {
                continue;
            };
            target.put(message, &bytes).with_context(|| {
                format!(
                    "{}: cannot write message {}",
                    target.path.display(),
                    message.uid.0
                )
            })?;
            written[index].messages += 1;
            written[index].bytes += bytes.len() as u64;
        }
        target
            .finish()
            .with_context(|| format!("{}: cannot finish writing", target.path.display()))?;
    }
    Ok(())
}

/// Where one folder's messages go, in the chosen layout.
struct FolderTarget {
    /// The mbox file, the Maildir folder or the eml directory.
    path: PathBuf,
    kind: TargetKind,
}

enum TargetKind {
    Mbox(BufWriter<File>),
    Maildir {
        uidvalidity: u32,
        host: String,
        /// The folder's keywords, by letter: `a` is the first.
        keywords: Vec<String>,
    },
    Eml,
}

impl FolderTarget {
    /// Creates the folder's file or directories under `root`.
    fn open(
        format: Format,
        root: &Path,
        name: &str,
        mailbox: &Mailbox,
        messages: &[MailboxMessage],
        host: &str,
    ) -> io::Result<FolderTarget> {
        let levels: Vec<String> = name
            .split(SEPARATOR)
            .map(|level| escape_level(level, format))
            .collect();
        match format {
            Format::Mbox => {
                // `split` yields at least one level, even of an empty name.
                let Some((last, parents)) = levels.split_last() else {
                    return Err(io::Error::other(format!(
                        "the folder name {name:?} is empty"
                    )));
                };
                let dir = parents.iter().fold(root.to_path_buf(), |d, l| d.join(l));
                private_dir(&dir)?;
                let path = dir.join(format!("{last}.mbox"));
                let file = BufWriter::new(private_file(&path)?);
                Ok(FolderTarget {
                    path,
                    kind: TargetKind::Mbox(file),
                })
            }
            Format::Maildir => {
                let inbox = mailbox.role == Some(MailboxRole::Inbox);
                let keywords = folder_keywords(messages);
                let own_levels: &[String] = if inbox { &[] } else { &levels };
                let path = open_maildir(root, own_levels)?;
                write_keywords_file(&path, &keywords)?;
                Ok(FolderTarget {
                    path,
                    kind: TargetKind::Maildir {
                        uidvalidity: mailbox.uidvalidity,
                        host: host.to_string(),
                        keywords,
                    },
                })
            }
            Format::Eml => {
                let path = levels.iter().fold(root.to_path_buf(), |d, l| d.join(l));
                private_dir(&path)?;
                Ok(FolderTarget {
                    path,
                    kind: TargetKind::Eml,
                })
            }
        }
    }

    /// The target's path relative to `root` (`.` for a Maildir's INBOX).
    fn relative(&self, root: &Path) -> PathBuf {
        match self.path.strip_prefix(root) {
            Ok(p) if p.as_os_str().is_empty() => PathBuf::from("."),
            Ok(p) => p.to_path_buf(),
            Err(_) => self.path.clone(),
        }
    }

    /// Writes one message with the stored `bytes`.
    fn put(&mut self, message: &MailboxMessage, bytes: &[u8]) -> io::Result<()> {
        match &mut self.kind {
            TargetKind::Mbox(out) => write_mbox_message(out, message, bytes),
            TargetKind::Maildir {
                uidvalidity,
                host,
                keywords,
            } => {
                let letters = keyword_letters(&message.keywords, keywords);
                let name = format!(
                    "{}.{}_{}.{host}:2,{}",
                    message.internal_date.0,
                    message.uid.0,
                    uidvalidity,
                    maildir_info(message.flags, &letters)
                );
                // Written in tmp/ and moved into cur/, so that a reader never sees half a file.
                let fresh = self.path.join("tmp").join(&name);
                write_dated(&fresh, &with_lf(bytes), message.internal_date)?;
                fs::rename(&fresh, self.path.join("cur").join(&name))
            }
            TargetKind::Eml => {
                let path = self.path.join(format!("{}.eml", message.uid.0));
                write_dated(&path, bytes, message.internal_date)
            }
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match &mut self.kind {
            TargetKind::Mbox(out) => {
                out.flush()?;
                out.get_ref().sync_all()
            }
            TargetKind::Maildir { .. } | TargetKind::Eml => Ok(()),
        }
    }
}

/// Creates the Maildir folder for `levels` under `root` (`root` itself for none) with its
/// `cur/ new/ tmp/`, and marks a subfolder with Maildir++'s `maildirfolder` file.
fn open_maildir(root: &Path, levels: &[String]) -> io::Result<PathBuf> {
    let path = if levels.is_empty() {
        root.to_path_buf()
    } else {
        root.join(format!(".{}", levels.join(".")))
    };
    for sub in ["cur", "new", "tmp"] {
        private_dir(&path.join(sub))?;
    }
    // The root is a Maildir even when only another folder is exported: readers expect it.
    for sub in ["cur", "new", "tmp"] {
        private_dir(&root.join(sub))?;
    }
    if !levels.is_empty() {
        let marker = path.join("maildirfolder");
        if !marker.exists() {
            private_file(&marker)?;
        }
    }
    Ok(path)
}

/// Writes `bytes` to a new file at `path` whose modification time is `date`.
fn write_dated(path: &Path, bytes: &[u8], date: UnixTime) -> io::Result<()> {
    let mut file = private_file(path)?;
    file.write_all(bytes)?;
    file.set_modified(system_time(date))?;
    file.sync_all()
}

fn system_time(t: UnixTime) -> SystemTime {
    let magnitude = Duration::from_secs(t.0.unsigned_abs());
    if t.0 >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// One level of a folder name as a file name part in `format` (see the module header).
fn escape_level(level: &str, format: Format) -> String {
    let reserved_suffix = match format {
        Format::Mbox => ".mbox",
        Format::Eml => ".eml",
        Format::Maildir => "",
    };
    let mut out = String::with_capacity(level.len());
    for (i, c) in level.char_indices() {
        let escaped = match c {
            '%' => true,
            '.' => {
                format == Format::Maildir
                    || i == 0
                    || (!reserved_suffix.is_empty() && level[i..] == *reserved_suffix)
            }
            _ => false,
        };
        if escaped {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// This machine's name as a Maildir file name part: its first label, with anything but
/// letters, digits, `-` and `_` replaced (a `/` or `:` would break the name).
fn maildir_host() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let label: String = name
        .trim()
        .split('.')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if label.is_empty() {
        "congvu".to_string()
    } else {
        label
    }
}

/// The keywords used in a folder, in order of first use; Dovecot's letters run out at 26.
fn folder_keywords(messages: &[MailboxMessage]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut keywords = Vec::new();
    for keyword in messages.iter().flat_map(|m| &m.keywords) {
        if keywords.len() < 26 && seen.insert(keyword.as_str()) {
            keywords.push(keyword.clone());
        }
    }
    keywords
}

/// Dovecot's `dovecot-keywords` file: `0 Name` lines, letter `a` for 0.
fn write_keywords_file(dir: &Path, keywords: &[String]) -> io::Result<()> {
    if keywords.is_empty() {
        return Ok(());
    }
    let text: String = keywords
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{i} {k}\n"))
        .collect();
    private_file(&dir.join("dovecot-keywords"))?.write_all(text.as_bytes())
}

/// The letters of a message's keywords among the folder's `known` ones.
fn keyword_letters(keywords: &[String], known: &[String]) -> String {
    let mut letters: Vec<char> = keywords
        .iter()
        .filter_map(|k| known.iter().position(|n| n == k))
        .map(|i| char::from(b'a' + i as u8))
        .collect();
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().collect()
}

/// The Maildir info flags (after `:2,`): system flags in ASCII order, then keyword letters.
fn maildir_info(flags: MessageFlags, keyword_letters: &str) -> String {
    let mut info: String = [
        (MessageFlags::DRAFT, 'D'),
        (MessageFlags::FLAGGED, 'F'),
        (MessageFlags::ANSWERED, 'R'),
        (MessageFlags::SEEN, 'S'),
        (MessageFlags::DELETED, 'T'),
    ]
    .into_iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .map(|(_, letter)| letter)
    .collect();
    info.push_str(keyword_letters);
    info
}

/// `bytes` with every CRLF turned into LF; a lone CR stays.
fn with_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// Writes one message in mboxrd form: separator, header with the flag fields, quoted lines,
/// and the empty line that ends it.
fn write_mbox_message(
    out: &mut impl Write,
    message: &MailboxMessage,
    bytes: &[u8],
) -> io::Result<()> {
    let text = with_lf(bytes);
    let header_end = text
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(text.len(), |p| p + 1);
    let (header, body) = if text.first() == Some(&b'\n') {
        (&text[..0], &text[..])
    } else {
        text.split_at(header_end)
    };
    writeln!(
        out,
        "From {} {}",
        envelope_sender(header),
        asctime(message.internal_date)
    )?;
    let mut kept = without_status_fields(header);
    if !kept.is_empty() && !kept.ends_with(b"\n") {
        kept.push(b'\n');
    }
    kept.extend_from_slice(status_fields(message.flags).as_bytes());
    write_quoted(out, &kept)?;
    write_quoted(out, body)?;
    if !body.is_empty() && !body.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

/// Writes `text`, giving each line that matches `^>*From ` one more `>` (mboxrd).
fn write_quoted(out: &mut impl Write, text: &[u8]) -> io::Result<()> {
    for line in text.split_inclusive(|&b| b == b'\n') {
        let quotes = line.iter().take_while(|&&b| b == b'>').count();
        if line[quotes..].starts_with(b"From ") {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
    }
    Ok(())
}

/// The header without its `Status:` and `X-Status:` fields (and their folded lines).
fn without_status_fields(header: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(header.len());
    let mut dropping = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line.split(|&b| b == b':').next().unwrap_or(b"");
            dropping =
                name.eq_ignore_ascii_case(b"status") || name.eq_ignore_ascii_case(b"x-status");
        }
        if !dropping {
            kept.extend_from_slice(line);
        }
    }
    kept
}

/// The `Status:`/`X-Status:` lines for `flags`, as mutt writes and reads them.
fn status_fields(flags: MessageFlags) -> String {
    let mut fields = String::new();
    if flags.contains(MessageFlags::SEEN) {
        fields.push_str("Status: RO\n");
    }
    let letters: String = [
        (MessageFlags::ANSWERED, 'A'),
        (MessageFlags::FLAGGED, 'F'),
        (MessageFlags::DRAFT, 'T'),
        (MessageFlags::DELETED, 'D'),
    ]
    .into_iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .map(|(_, letter)| letter)
    .collect();
    if !letters.is_empty() {
        fields.push_str(&format!("X-Status: {letters}\n"));
    }
    fields
}

/// The envelope sender congvu recorded at delivery (the first `Return-Path:`), or
/// `MAILER-DAEMON` for a null sender or a message that has none.
fn envelope_sender(header: &[u8]) -> String {
    let text = String::from_utf8_lossy(header);
    let value = text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("return-path")
            .then(|| value.trim())
    });
    let address = value
        .map(|v| v.trim_start_matches('<').trim_end_matches('>').trim())
        .unwrap_or("");
    if address.is_empty() || address.contains(char::is_whitespace) {
        "MAILER-DAEMON".to_string()
    } else {
        address.to_string()
    }
}

/// `t` as C's `asctime` writes it, in UTC: `Mon Jan 15 08:30:00 2018`, `Tue Feb  6 …`.
fn asctime(t: UnixTime) -> String {
    chrono::DateTime::from_timestamp(t.0, 0)
        .unwrap_or_default()
        .format("%a %b %e %H:%M:%S %Y")
        .to_string()
}

/// Sums over every folder.
fn totals(written: &[Written]) -> Written {
    Written {
        folder: "total".to_string(),
        path: PathBuf::new(),
        messages: written.iter().map(|w| w.messages).sum(),
        bytes: written.iter().map(|w| w.bytes).sum(),
    }
}

fn report(ctx: &Context, args: &ExportArgs, root: &Path, written: &[Written]) {
    let total = totals(written);
    if ctx.json {
        let folders: Vec<serde_json::Value> = written
            .iter()
            .map(|w| {
                json!({"folder": w.folder, "path": w.path.display().to_string(),
                       "messages": w.messages, "bytes": w.bytes})
            })
            .collect();
        output::json(&json!({
            "login": args.login,
            "format": args.format.as_str(),
            "output": root.display().to_string(),
            "folders": folders,
            "totals": {"folders": written.len(), "messages": total.messages, "bytes": total.bytes},
        }));
        return;
    }
    let row = |w: &Written| {
        vec![
            w.folder.clone(),
            w.messages.to_string(),
            output::bytes(w.bytes as i64),
            w.path.display().to_string(),
        ]
    };
    let mut rows: Vec<Vec<String>> = written.iter().map(row).collect();
    rows.push(row(&total));
    output::table(&["FOLDER", "MESSAGES", "SIZE", "WRITTEN TO"], &rows);
    output::line(&format!(
        "{} exported to {}",
        output::count(written.len() as i64, "folder", "folders"),
        root.display()
    ));
}

#[cfg(test)]
mod tests {
    use congvu::mailstore::{BodyId, MailboxId, Uid};

    use super::*;

    fn message(flags: MessageFlags, date: i64) -> MailboxMessage {
        MailboxMessage {
            mailbox_id: MailboxId(1),
            uid: Uid(7),
            body_id: BodyId(1),
            flags,
            keywords: Vec::new(),
            internal_date: UnixTime(date),
            size: 0,
            modseq: 1,
        }
    }

    fn mbox(flags: MessageFlags, bytes: &[u8]) -> String {
        let mut out = Vec::new();
        write_mbox_message(&mut out, &message(flags, 1_517_911_200), bytes).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn mbox_messages_are_mboxrd_with_lf_and_mutt_flags() {
        let stored = b"Return-Path: <vanphong@vinhphuc.gov.vn>\r\nSubject: x\r\n\r\nFrom here\r\n>From there\r\n>>From afar\r\nFromage\r\n";
        let seen_flagged = MessageFlags::SEEN.with(MessageFlags::FLAGGED);
        assert_eq!(
            mbox(seen_flagged, stored),
            "From vanphong@vinhphuc.gov.vn Tue Feb  6 10:00:00 2018\n\
             Return-Path: <vanphong@vinhphuc.gov.vn>\nSubject: x\nStatus: RO\nX-Status: F\n\n\
             >From here\n>>From there\n>>>From afar\nFromage\n\n"
        );
    }

    #[test]
    fn stale_status_fields_are_replaced_and_a_null_sender_is_mailer_daemon() {
        let stored =
            b"Return-Path: <>\r\nStatus: RO\r\nX-Status: A\r\n  folded\r\nSubject: y\r\n\r\nbody";
        assert_eq!(
            mbox(MessageFlags::DRAFT.with(MessageFlags::DELETED), stored),
            "From MAILER-DAEMON Tue Feb  6 10:00:00 2018\n\
             Return-Path: <>\nSubject: y\nX-Status: TD\n\nbody\n\n"
        );
        assert_eq!(
            mbox(MessageFlags::default(), b"Subject: z"),
            "From MAILER-DAEMON Tue Feb  6 10:00:00 2018\nSubject: z\n\n"
        );
    }

    #[test]
    fn maildir_info_is_in_ascii_order_with_keyword_letters_last() {
        let all = MessageFlags::SEEN
            .with(MessageFlags::ANSWERED)
            .with(MessageFlags::FLAGGED)
            .with(MessageFlags::DELETED)
            .with(MessageFlags::DRAFT);
        assert_eq!(maildir_info(all, "ab"), "DFRSTab");
        assert_eq!(maildir_info(MessageFlags::default(), ""), "");
        let known = ["$Important".to_string(), "$Label1".to_string()];
        assert_eq!(
            keyword_letters(&["$Label1".into(), "$Important".into()], &known),
            "ab"
        );
    }

    #[test]
    fn folder_levels_are_escaped_only_where_they_would_be_misread() {
        assert_eq!(
            escape_level("Công văn đến", Format::Maildir),
            "Công văn đến"
        );
        assert_eq!(escape_level("v1.2", Format::Maildir), "v1%2E2");
        assert_eq!(escape_level("v1.2", Format::Mbox), "v1.2");
        assert_eq!(escape_level("..", Format::Eml), "%2E.");
        assert_eq!(escape_level("50%", Format::Eml), "50%25");
        assert_eq!(escape_level("Cũ.mbox", Format::Mbox), "Cũ%2Embox");
        assert_eq!(escape_level("3.eml", Format::Eml), "3%2Eeml");
        assert_eq!(escape_level("3.eml", Format::Mbox), "3.eml");
    }

    #[test]
    fn asctime_pads_the_day_with_a_space() {
        assert_eq!(asctime(UnixTime(1_516_005_000)), "Mon Jan 15 08:30:00 2018");
        assert_eq!(asctime(UnixTime(1_517_911_200)), "Tue Feb  6 10:00:00 2018");
    }

    #[test]
    fn line_ends_become_lf_and_a_lone_cr_stays() {
        assert_eq!(with_lf(b"a\r\nb\rc\n\r\n"), b"a\nb\rc\n\n");
    }
}
