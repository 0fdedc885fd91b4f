//! `congvu-admin mailbox`: officials' mailboxes. `mailbox import` brings in an archive an
//! official kept (a Thunderbird mbox file, a server's Maildir) with the guarantees of
//! `migrate imap`: dates and flags kept, nothing past the quota refused, and a second run
//! adding nothing, since a message already in the folder is recognised by its bytes.
//! `mailbox export` (in `export.rs`) writes an official's mail out again.

mod archive;
mod export;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use congvu::mailstore::import::{ImportMessage, Imported};
use congvu::mailstore::{MailboxRole, MessageFlags};
use serde_json::json;

use crate::{output, Context};
use archive::{Archive, ArchivedMessage};

#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Import an mbox file or a Maildir into an official's mailbox; safe to re-run.
    Import(ImportArgs),
    /// Export an official's mail as mbox files, a Maildir or .eml files; audited.
    Export(export::ExportArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("archive").required(true).args(["maildir", "mbox"])))]
pub struct ImportArgs {
    /// The official's login.
    login: String,
    /// A Maildir (with `cur/` and `new/`); its Maildir++ subfolders (`.Name`) come along.
    #[arg(long, value_name = "DIR")]
    maildir: Option<PathBuf>,
    /// An mbox file, as Thunderbird and most Unix mail programs keep folders.
    #[arg(long, value_name = "FILE")]
    mbox: Option<PathBuf>,
    /// The folder to import into (created when missing; `/` between levels). Default: INBOX
    /// for an mbox file and a Maildir's own messages.
    #[arg(long, value_name = "NAME")]
    folder: Option<String>,
    /// Read the archive and count, without importing anything.
    #[arg(long)]
    dry_run: bool,
}

/// Messages imported in one transaction at most, and their bytes at most.
const BATCH_MESSAGES: usize = 200;
const BATCH_BYTES: usize = 32 << 20;

/// What happened to one folder's messages.
#[derive(Debug, Default, Clone)]
struct Tally {
    added: u64,
    already_there: u64,
    /// Marked deleted in the archive: left out, as the old program would have expunged them.
    skipped: u64,
    failed: u64,
    bytes: u64,
}

pub async fn run(ctx: &Context, cmd: MailboxCommand) -> anyhow::Result<()> {
    match cmd {
        MailboxCommand::Import(args) => import(ctx, args).await,
        MailboxCommand::Export(args) => export::export(ctx, args).await,
    }
}

async fn import(ctx: &Context, args: ImportArgs) -> anyhow::Result<()> {
    let official = ctx.directory.official(&args.login).await?;
    let archive = match (&args.maildir, &args.mbox) {
        (Some(dir), _) => Archive::maildir(dir)?,
        (None, Some(file)) => Archive::mbox(file)?,
        // clap requires one of them; said in words all the same.
        (None, None) => anyhow::bail!("give the mail to import: --maildir DIR or --mbox FILE"),
    };
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    // A message already in the folder is recognised by its bytes, so what a lost commit
    // dropped is imported again by the next run: commits need not each wait for the disk.
    let bulk = ctx.mailstore.begin_bulk_import().await?;
    let mut importer = Importer {
        ctx,
        official: &official,
        dry_run: args.dry_run,
        batch: Vec::new(),
        batch_bytes: 0,
        folder: None,
    };
    for item in archive {
        let message = match item {
            Ok(message) => message,
            Err(problem) => {
                failures.push(problem.to_string());
                let (name, _) = target(args.folder.as_deref(), problem.folder.as_deref());
                tallies.entry(name).or_default().failed += 1;
                continue;
            }
        };
        let (name, role) = target(args.folder.as_deref(), message.folder.as_deref());
        let tally = tallies.entry(name.clone()).or_default();
        if message.flags.contains(MessageFlags::DELETED) {
            tally.skipped += 1;
            continue;
        }
        if message.bytes.len() as u64 > ctx.max_message_bytes {
            tally.failed += 1;
            failures.push(format!(
                "{}: {} bytes, larger than the largest message congvu accepts ({} bytes, \
                 [smtp] max_message_bytes); not imported",
                message.place,
                message.bytes.len(),
                ctx.max_message_bytes
            ));
            continue;
        }
        importer
            .add((name, role), message, &mut tallies, &mut failures)
            .await?;
    }
    importer.flush(&mut tallies, &mut failures).await?;
    // Everything imported is on disk before the report says so.
    bulk.finish().await?;
    report(ctx, &args, &tallies, &failures);
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} message(s) were not imported (listed above); the rest are in place, and \
             running the same command again imports only what is missing",
            failures.len()
        )
    }
}

/// Gathers messages into batches per folder and imports them.
struct Importer<'a> {
    ctx: &'a Context,
    official: &'a congvu::directory::Official,
    dry_run: bool,
    batch: Vec<ArchivedMessage>,
    batch_bytes: usize,
    /// The folder the batch goes to: its name and role.
    folder: Option<(String, Option<MailboxRole>)>,
}

impl Importer<'_> {
    /// Adds `message`, bound for `folder` (its name and role), to the batch; a batch that
    /// is full or bound elsewhere is imported first.
    async fn add(
        &mut self,
        folder: (String, Option<MailboxRole>),
        message: ArchivedMessage,
        tallies: &mut BTreeMap<String, Tally>,
        failures: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let full = self.batch.len() >= BATCH_MESSAGES
            || self.batch_bytes + message.bytes.len() > BATCH_BYTES;
        if self.folder.as_ref().is_some_and(|(n, _)| *n != folder.0) || full {
            self.flush(tallies, failures).await?;
        }
        self.folder = Some(folder);
        self.batch_bytes += message.bytes.len();
        self.batch.push(message);
        Ok(())
    }

    async fn flush(
        &mut self,
        tallies: &mut BTreeMap<String, Tally>,
        failures: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let Some((name, role)) = self.folder.clone() else {
            return Ok(());
        };
        let tally = tallies.entry(name.clone()).or_default();
        if batch.is_empty() {
            return Ok(());
        }
        if self.dry_run {
            tally.added += batch.len() as u64;
            tally.bytes += batch.iter().map(|m| m.bytes.len() as u64).sum::<u64>();
            return Ok(());
        }
        let folder = self
            .ctx
            .mailstore
            .import_folder(self.official, &name, role)
            .await
            .with_context(|| format!("cannot open or create the folder \"{name}\""))?;
        let messages: Vec<ImportMessage<'_>> = batch
            .iter()
            .map(|m| ImportMessage {
                bytes: &m.bytes,
                internal_date: m.internal_date,
                flags: m.flags,
                keywords: &m.keywords,
                origin: None,
            })
            .collect();
        let outcomes = self
            .ctx
            .mailstore
            .import(folder.mailbox.id, &messages)
            .await?;
        for (message, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                Ok(Imported::Added(_)) => {
                    tally.added += 1;
                    tally.bytes += message.bytes.len() as u64;
                }
                Ok(Imported::AlreadyThere(_)) => tally.already_there += 1,
                Err(error) => {
                    tally.failed += 1;
                    failures.push(format!("{}: {error}", message.place));
                }
            }
        }
        Ok(())
    }
}

/// The congvu folder for an archive folder (`None`: the archive's own messages), under
/// `base` when given, and the special role its name implies when it is a top-level folder.
fn target(base: Option<&str>, folder: Option<&str>) -> (String, Option<MailboxRole>) {
    match (base, folder) {
        (Some(base), None) => (base.to_string(), None),
        (Some(base), Some(folder)) => (
            format!("{base}{}{folder}", congvu::mailstore::SEPARATOR),
            None,
        ),
        (None, None) => ("INBOX".to_string(), Some(MailboxRole::Inbox)),
        (None, Some(folder)) => {
            let role = congvu::mailstore::MailboxRole::from_usual_name(folder);
            (folder.to_string(), role)
        }
    }
}

fn report(
    ctx: &Context,
    args: &ImportArgs,
    tallies: &BTreeMap<String, Tally>,
    failures: &[String],
) {
    for failure in failures {
        eprintln!("congvu-admin: {failure}");
    }
    let total = tallies.values().fold(Tally::default(), |mut sum, t| {
        sum.added += t.added;
        sum.already_there += t.already_there;
        sum.skipped += t.skipped;
        sum.failed += t.failed;
        sum.bytes += t.bytes;
        sum
    });
    if ctx.json {
        let folders: Vec<serde_json::Value> = tallies
            .iter()
            .map(|(name, t)| {
                json!({"folder": name, "added": t.added, "already_there": t.already_there,
                       "skipped": t.skipped, "failed": t.failed, "bytes": t.bytes})
            })
            .collect();
        output::json(&json!({
            "login": args.login,
            "dry_run": args.dry_run,
            "folders": folders,
            "totals": {"added": total.added, "already_there": total.already_there,
                       "skipped": total.skipped, "failed": total.failed, "bytes": total.bytes},
            "failures": failures,
        }));
        return;
    }
    let row = |name: &str, t: &Tally| {
        vec![
            name.to_string(),
            t.added.to_string(),
            t.already_there.to_string(),
            t.skipped.to_string(),
            t.failed.to_string(),
            output::bytes(t.bytes as i64),
        ]
    };
    let mut rows: Vec<Vec<String>> = tallies.iter().map(|(n, t)| row(n, t)).collect();
    rows.push(row("total", &total));
    let added = if args.dry_run { "TO ADD" } else { "ADDED" };
    output::table(
        &[
            "FOLDER",
            added,
            "ALREADY THERE",
            "SKIPPED",
            "FAILED",
            "SIZE",
        ],
        &rows,
    );
}
