//! `congvu-admin backup`: backups of the whole database. `create` takes one while the server
//! serves mail, `verify` reads one through and says what is wrong, `restore` writes one into
//! an empty database of either engine (the way from SQLite to PostgreSQL), `list` shows what
//! the server's scheduled backups hold.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use congvu::backup::{self, archive::Manifest, Progress};
use congvu::clock::{Clock, UnixTime};
use congvu::config::Config;
use congvu::store::{Store, StoreOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::output;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write a backup of the whole database to FILE, while the server goes on serving mail.
    Create {
        /// The archive to write (must not exist); `.cvbak` by convention.
        file: PathBuf,
    },
    /// Read a backup through and check every hash, reference and count.
    Verify { file: PathBuf },
    /// Restore a backup into the configured database, which must be empty (of either
    /// engine: this is how a SQLite installation moves to PostgreSQL).
    Restore { file: PathBuf },
    /// List the backups in DIR (the server's `[backup] dir`) with what each holds.
    List { dir: PathBuf },
}

/// Runs a backup command. Unlike the other commands it opens the database itself: a restore
/// must find it as it is, before any migration.
pub async fn run(config: &Config, json: bool, cmd: BackupCommand) -> anyhow::Result<()> {
    let options = StoreOptions::from_config(&config.database);
    match cmd {
        BackupCommand::Create { file } => {
            let store = Store::open(&options).await?;
            let result = create(&store, &file, json).await;
            store.close().await;
            result
        }
        BackupCommand::Verify { file } => verify(&file, json).await,
        BackupCommand::Restore { file } => restore(&options, &file, json).await,
        BackupCommand::List { dir } => list(&dir, json),
    }
}

async fn create(store: &Store, file: &Path, json: bool) -> anyhow::Result<()> {
    let bar = bar("backing up");
    let show = |p: &Progress| show_progress(&bar, p);
    let created = backup::create(store, file, &Clock::system(), &show).await;
    bar.finish_and_clear();
    let created = created?;
    summary(
        json,
        "written",
        file,
        &created.manifest,
        Some(created.file_bytes),
        created.took,
    );
    Ok(())
}

async fn verify(file: &Path, json: bool) -> anyhow::Result<()> {
    let bar = bar("verifying");
    let owned = file.to_owned();
    let started = std::time::Instant::now();
    let verified = tokio::task::spawn_blocking(move || backup::verify(&owned)).await?;
    bar.finish_and_clear();
    let verified = verified?;
    let file_bytes = std::fs::metadata(file).map(|m| m.len()).ok();
    summary(
        json,
        "verified",
        file,
        &verified.manifest,
        file_bytes,
        started.elapsed(),
    );
    Ok(())
}

async fn restore(options: &StoreOptions, file: &Path, json: bool) -> anyhow::Result<()> {
    let bar = bar("restoring");
    let show = |p: &Progress| show_progress(&bar, p);
    let restored = backup::restore(options, file, &show).await;
    bar.finish_and_clear();
    let restored = restored?;
    summary(
        json,
        "restored",
        file,
        &restored.verified.manifest,
        std::fs::metadata(file).map(|m| m.len()).ok(),
        restored.took,
    );
    Ok(())
}

fn list(dir: &Path, json: bool) -> anyhow::Result<()> {
    let archives = backup::list(dir)?;
    if json {
        let items: Vec<_> = archives
            .iter()
            .map(|a| match &a.manifest {
                Ok(m) => json!({
                    "file": a.path.display().to_string(),
                    "bytes": a.file_bytes,
                    "created_at": m.created_at,
                    "schema_version": m.schema_version,
                    "congvu_version": m.congvu_version,
                    "engine": m.engine,
                    "officials": m.rows("officials"),
                    "messages": m.rows("mailbox_messages"),
                }),
                Err(problem) => json!({
                    "file": a.path.display().to_string(),
                    "bytes": a.file_bytes,
                    "problem": problem,
                }),
            })
            .collect();
        output::json(&json!(items));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = archives
        .iter()
        .map(|a| {
            let name = a
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            match &a.manifest {
                Ok(m) => vec![
                    name,
                    output::time(UnixTime(m.created_at)),
                    output::bytes(a.file_bytes as i64),
                    m.rows("officials").to_string(),
                    m.rows("mailbox_messages").to_string(),
                    format!("{} (schema {})", m.congvu_version, m.schema_version),
                ],
                Err(problem) => vec![
                    name,
                    "-".into(),
                    output::bytes(a.file_bytes as i64),
                    "-".into(),
                    "-".into(),
                    format!("unreadable: {problem}"),
                ],
            }
        })
        .collect();
    if rows.is_empty() {
        output::line(&format!("no backups in {}", dir.display()));
    } else {
        output::table(
            &["FILE", "TAKEN", "SIZE", "OFFICIALS", "MESSAGES", "CONGVU"],
            &rows,
        );
    }
    Ok(())
}

/// The counts a summary shows: (label, table).
const COUNTED: &[(&str, &str)] = &[
    ("officials", "officials"),
    ("agencies", "agencies"),
    ("groups", "directory_groups"),
    ("certificates", "certificates"),
    ("mailboxes", "mailboxes"),
    ("messages", "mailbox_messages"),
    ("message bodies", "message_bodies"),
    ("queued", "queue_entries"),
    ("audit records", "audit_log"),
];

fn summary(
    json: bool,
    what: &str,
    file: &Path,
    manifest: &Manifest,
    file_bytes: Option<u64>,
    took: Duration,
) {
    if json {
        let counts: serde_json::Map<_, _> = manifest
            .tables
            .iter()
            .map(|t| (t.name.clone(), json!(t.rows)))
            .collect();
        output::json(&json!({
            "file": file.display().to_string(),
            what: true,
            "schema_version": manifest.schema_version,
            "congvu_version": manifest.congvu_version,
            "engine": manifest.engine,
            "created_at": manifest.created_at,
            "rows": counts,
            "bytes": file_bytes,
            "seconds": took.as_secs_f64(),
        }));
        return;
    }
    let mut fields = vec![
        ("file", format!("{} ({what})", file.display())),
        ("taken", output::time(UnixTime(manifest.created_at))),
        (
            "from",
            format!(
                "congvu {} on {}, schema {}",
                manifest.congvu_version, manifest.engine, manifest.schema_version
            ),
        ),
    ];
    for (label, table) in COUNTED {
        fields.push((label, manifest.rows(table).to_string()));
    }
    if let Some(bytes) = file_bytes {
        fields.push(("size", output::bytes(bytes as i64)));
    }
    fields.push(("time", format!("{:.1} s", took.as_secs_f64())));
    output::fields(&fields);
}

/// A spinner with rows and bytes on a terminal; hidden otherwise.
fn bar(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn show_progress(bar: &ProgressBar, progress: &Progress) {
    bar.set_message(format!(
        "{}: {} rows, {}",
        progress.table,
        progress.rows,
        output::bytes(progress.bytes as i64)
    ));
}
