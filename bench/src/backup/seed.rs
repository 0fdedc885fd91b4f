//! Seeding the database every step backs up: officials through `congvu-admin`, messages
//! through the store's import, in batches.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::clock::{Clock, UnixTime};
use congvu::mailstore::import::{ImportMessage, Imported};
use congvu::mailstore::{MailboxId, MailboxRole, Mailstore, MessageFlags};
use congvu::store::{Store, StoreOptions};

use crate::figures::seconds;
use crate::server::congvu_db_url;

use super::*;

impl Bench<'_> {
    /// Officials through `congvu-admin user import`, messages through the mail store, then
    /// one untimed backup that checks the counts.
    pub(super) fn seed(&self, dir: &Path) -> anyhow::Result<Seeded> {
        let args = self.args;
        let started = Instant::now();
        println!("seeding {} officials", args.officials);
        let officials = crate::admin::import_province(
            &args.admin,
            self.seed_config,
            dir,
            args.officials,
            2_718,
            "BK",
        )?;
        println!(
            "seeding {} messages ({:.1} s so far)",
            args.messages,
            started.elapsed().as_secs_f64()
        );
        let body_bytes = self.runtime.block_on(seed_messages(
            &congvu_db_url(dir),
            args.officials,
            args.messages,
        ))?;
        let seconds = started.elapsed().as_secs_f64();
        println!("seeded in {seconds:.1} s; {} of bodies", gib(body_bytes));
        let took = self.checked(self.seed_config, "create", &self.seed_archive)?;
        println!("untimed backup of the seed: {}", self::seconds(took));
        Ok(Seeded {
            officials,
            body_bytes,
            database_bytes: std::fs::metadata(&self.seed_db)?.len(),
            archive_bytes: std::fs::metadata(&self.seed_archive)?.len(),
            seconds,
        })
    }

    /// Runs `congvu-admin --json backup VERB FILE` with `config`: its wall time and summary.
    pub(super) fn congvu(
        &self,
        config: &Path,
        verb: &str,
        file: &Path,
    ) -> anyhow::Result<(f64, serde_json::Value)> {
        let file = file.display().to_string();
        let started = Instant::now();
        let out = crate::admin::run(
            &self.args.admin,
            config,
            &["--json", "backup", verb, &file],
            None,
        )?;
        let took = started.elapsed().as_secs_f64();
        let summary = serde_json::from_str(&out)
            .with_context(|| format!("backup {verb} printed no summary: {out}"))?;
        Ok((took, summary))
    }

    /// [`Bench::congvu`] whose summary must count every official and message: its wall time.
    pub(super) fn checked(&self, config: &Path, verb: &str, file: &Path) -> anyhow::Result<f64> {
        let (took, summary) = self.congvu(config, verb, file)?;
        check_counts(&summary, self.args.officials, self.args.messages)?;
        Ok(took)
    }

    /// `congvu-admin backup verify` of the seeded archive, untimed by the table: the share of
    /// a restore its first pass takes.
    pub(super) fn verify_seconds(&self) -> anyhow::Result<Option<f64>> {
        if !self.seed_archive.exists() {
            return Ok(None);
        }
        let (took, _) = self.congvu(self.seed_config, "verify", &self.seed_archive)?;
        Ok(Some(took))
    }
}

/// Messages for one INBOX, each with its number in the corpus.
pub(super) type SeedBatch = (MailboxId, Vec<(usize, Vec<u8>)>);

/// Puts `messages` corpus messages into the INBOXes of the `officials` officials of the
/// database at `url`, message `i` to official `i mod officials`, generated on every core
/// but one while the store imports; returns the bytes of bodies stored.
pub(super) async fn seed_messages(
    url: &str,
    officials: usize,
    messages: usize,
) -> anyhow::Result<u64> {
    let store = Store::open(&StoreOptions {
        url: url.to_string(),
        max_connections: 4,
        busy_timeout: Duration::from_secs(30),
    })
    .await?;
    let mailstore = Mailstore::new(store.clone(), Clock::system());
    let inboxes = inboxes(&store, &mailstore).await?;
    anyhow::ensure!(
        inboxes.len() == officials,
        "{} INBOXes for {officials} officials",
        inboxes.len()
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel::<SeedBatch>(16);
    let generators = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1);
    let plan = Arc::new(inboxes);
    let threads: Vec<_> = (0..generators)
        .map(|g| {
            let (tx, plan) = (tx.clone(), Arc::clone(&plan));
            std::thread::spawn(move || generate(&plan, g, generators, messages, &tx))
        })
        .collect();
    drop(tx);
    let (mut stored, mut bytes, mut shown) = (0usize, 0u64, 0usize);
    while let Some((inbox, batch)) = rx.recv().await {
        bytes += import_batch(&mailstore, inbox, &batch).await?;
        stored += batch.len();
        if stored * 10 / messages > shown {
            shown = stored * 10 / messages;
            println!("  {stored} messages");
        }
    }
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a generator panicked"))??;
    }
    store.close().await;
    anyhow::ensure!(stored == messages, "stored {stored} of {messages} messages");
    Ok(bytes)
}

/// Each official's INBOX, as an import finds it, and address.
pub(super) async fn inboxes(
    store: &Store,
    mailstore: &Mailstore,
) -> anyhow::Result<Vec<(MailboxId, String)>> {
    let officials = store.read().await?.all_officials().await?;
    let mut inboxes = Vec::with_capacity(officials.len());
    for official in officials {
        let inbox = mailstore
            .import_folder(&official, "INBOX", Some(MailboxRole::Inbox))
            .await?;
        inboxes.push((inbox.mailbox.id, official.primary_address));
    }
    Ok(inboxes)
}

/// Generator `g` of `of`: the messages of every `of`-th official from the `g`-th, in
/// batches of [`SEED_BATCH`].
pub(super) fn generate(
    plan: &[(MailboxId, String)],
    g: usize,
    of: usize,
    messages: usize,
    tx: &tokio::sync::mpsc::Sender<SeedBatch>,
) -> anyhow::Result<()> {
    for k in (g..plan.len()).step_by(of) {
        let (inbox, address) = &plan[k];
        let mine: Vec<usize> = (k..messages).step_by(plan.len()).collect();
        for chunk in mine.chunks(SEED_BATCH) {
            let batch = chunk
                .iter()
                .map(|&i| Ok((i, crate::imap::corpus_message(i, address)?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if tx.blocking_send((*inbox, batch)).is_err() {
                // The importer stopped; its error is the one reported.
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Imports one batch into `inbox` as a migration would: 70% read, received 45 minutes apart.
pub(super) async fn import_batch(
    mailstore: &Mailstore,
    inbox: MailboxId,
    batch: &[(usize, Vec<u8>)],
) -> anyhow::Result<u64> {
    let messages: Vec<ImportMessage<'_>> = batch
        .iter()
        .map(|(i, bytes)| ImportMessage {
            bytes,
            internal_date: UnixTime(1_767_229_200 + *i as i64 * 2_700),
            flags: if i % 10 < 7 {
                MessageFlags::SEEN
            } else {
                MessageFlags::default()
            },
            keywords: &[],
            origin: None,
        })
        .collect();
    for outcome in mailstore.import(inbox, &messages).await? {
        anyhow::ensure!(
            matches!(outcome, Ok(Imported::Added(_))),
            "a seed message was not added: {outcome:?}"
        );
    }
    Ok(batch.iter().map(|(_, b)| b.len() as u64).sum())
}

/// Checks a `--json` summary's officials and messages.
pub(super) fn check_counts(
    summary: &serde_json::Value,
    officials: usize,
    messages: usize,
) -> anyhow::Result<()> {
    let rows = |table: &str| summary["rows"][table].as_u64().unwrap_or(u64::MAX);
    anyhow::ensure!(
        rows("officials") == officials as u64 && rows("mailbox_messages") == messages as u64,
        "the archive holds {} officials and {} messages, expected {officials} and {messages}",
        rows("officials"),
        rows("mailbox_messages")
    );
    Ok(())
}
