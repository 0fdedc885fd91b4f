//! B1–B3: `congvu-admin backup create` and `backup restore` against the engines' own tools,
//! and what a backup costs the mail that arrives while it runs.
//!
//! The data is seeded once per invocation: `--officials` officials imported from an HR list
//! with `congvu-admin user import`, then `--messages` messages (the IMAP benchmark's corpus:
//! distinct mail-like bodies of 2–50 KiB, Vietnamese and English text, some HTML, one in
//! twenty with a base64 attachment) put into the officials' INBOXes through the mail store's
//! batched import, the path `migrate imap` takes. Every run reuses that database.
//!
//! - B1, SQLite: `backup create` against `sqlite3 DB ".backup COPY"` followed by `zstd -q
//!   COPY` (the sum of both); `backup restore` into an empty SQLite database against `zstd -d`
//!   of that compressed copy into a database's place.
//! - B2, PostgreSQL: the seeded data restored once into a database of its own; then `backup
//!   create` from it against `pg_dump -Fc`, and `backup restore` against `pg_restore -d`,
//!   each into an empty database created for it (`CREATE DATABASE`) in every run.
//! - B3: the release server on the seeded SQLite database takes messages at a fixed rate on
//!   connections of their own; the p99 from the end of DATA to the 250 without a backup,
//!   and with `backup create` started `--backup-after` seconds in.
//!
//! congvu and the reference take turns within each run (the order flips run by run) and are
//! timed from the start of their processes to their exit. Every congvu step is checked
//! through its `--json` summary (every message in the archive, every message restored).
//! This module owns its working directory, the PostgreSQL databases it creates (dropped
//! when it ends), the server it starts and the `backup` section of the report.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::clock::{Clock, UnixTime};
use congvu::mailstore::import::{ImportMessage, Imported};
use congvu::mailstore::{MailboxId, MailboxRole, Mailstore, MessageFlags};
use congvu::store::{Store, StoreOptions};

use crate::admin::Official;
use crate::figures::{median, milliseconds, percentile, seconds, times, turns, Spread};
use crate::machine::{free_port, Machine};
use crate::report::{publish, user_arguments, Markers};
use crate::server::{check_binaries, congvu_db_url};
use crate::smtp::{
    payload, send_load, smtp_source_head, work_dir, write_congvu_config, Compose, Congvu,
    CongvuSettings, Greeting, BENCH_ENVELOPE,
};

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Officials in the seeded database.
    #[arg(long, default_value_t = 10_000)]
    officials: usize,
    /// Messages in the seeded database, spread evenly over the officials' INBOXes.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Runs of each workload; the report gives medians and ranges.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Workloads to run (always in the order B1, B2, B3: B3's server adds mail).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "b1,b2,b3")]
    workloads: Vec<Workload>,
    /// The congvu-admin binary that seeds, backs up and restores (build it with --release).
    #[arg(long, default_value = "target/release/congvu-admin")]
    admin: PathBuf,
    /// The congvu-server binary B3 loads (build it with --release).
    #[arg(long, default_value = "target/release/congvu-server")]
    server: PathBuf,
    #[arg(long, default_value = "/usr/bin/sqlite3")]
    sqlite3: PathBuf,
    #[arg(long, default_value = "/usr/bin/zstd")]
    zstd: PathBuf,
    /// B2: the PostgreSQL server, without a database name; the benchmark creates databases
    /// of its own there and drops them when it ends.
    #[arg(
        long,
        env = "CONGVU_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    postgres: String,
    /// B2: the directory of pg_dump and pg_restore (default: /usr/lib/postgresql/MAJOR/bin
    /// for the server's major version).
    #[arg(long)]
    pg_bin: Option<PathBuf>,
    /// B3: messages per second, each on a connection of its own.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// B3: seconds of load in each run; a run with a backup goes on until the backup ends.
    #[arg(long, default_value_t = 20)]
    load_seconds: u64,
    /// B3: seconds into the load when the backup starts; latencies before it are left out
    /// of both runs as warm-up.
    #[arg(long, default_value_t = 2)]
    backup_after: u64,
    /// B3: payload bytes of each message after its headers.
    #[arg(long, default_value_t = 4096)]
    length: usize,
    /// B3: the backup's CPU niceness (1–19 runs it through `nice -n N`, as an operator may);
    /// 0 runs it at the server's priority.
    #[arg(long, default_value_t = 0)]
    backup_nice: u8,
    /// Working directory for the databases, archives and copies (default: a new temporary
    /// directory, removed at the end). It must be empty or absent; it needs about five times
    /// the seeded database's size free.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    B1,
    B2,
    B3,
}

/// A timed step of B1 or B2: which row of the table it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    SqliteCreate,
    SqliteRestore,
    PostgresCreate,
    PostgresRestore,
}

const STEPS: [Step; 4] = [
    Step::SqliteCreate,
    Step::SqliteRestore,
    Step::PostgresCreate,
    Step::PostgresRestore,
];

impl Step {
    fn id(self) -> &'static str {
        match self {
            Step::SqliteCreate | Step::SqliteRestore => "B1",
            Step::PostgresCreate | Step::PostgresRestore => "B2",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Step::SqliteCreate => "SQLite backup: `backup create` vs `sqlite3 .backup` + `zstd -q`",
            Step::SqliteRestore => {
                "SQLite restore: `backup restore` into an empty database vs `zstd -d`"
            }
            Step::PostgresCreate => "PostgreSQL backup: `backup create` vs `pg_dump -Fc`",
            Step::PostgresRestore => {
                "PostgreSQL restore: `backup restore` vs `pg_restore -d`, each into an empty database"
            }
        }
    }
}

/// Who a timing belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Congvu,
    Reference,
}

/// One timed step of one run.
#[derive(Debug, Clone, Copy)]
struct Timing {
    step: Step,
    side: Side,
    run: usize,
    seconds: f64,
    /// Seconds an fsync of the step's output took right after it (the reference's tools do
    /// not sync what they write; congvu syncs before it exits, so this is ~0 for congvu).
    sync: f64,
}

/// One B3 run.
#[derive(Debug, Clone)]
struct LoadRun {
    run: usize,
    /// Latencies (ms, ascending) of the messages due while the backup ran, or after the
    /// warm-up when there was no backup.
    measured_ms: Vec<f64>,
    /// Wall time of the backup under load, when there was one.
    backup_seconds: Option<f64>,
    /// Messages sent and refused or failed.
    sent: usize,
    failures: usize,
    first_failure: Option<String>,
    /// The p99 of each second of the run (see [`timeline`]).
    timeline: String,
}

impl LoadRun {
    fn p99(&self) -> f64 {
        percentile(&self.measured_ms, 0.99)
    }
}

/// Where a SQLite restore's time went, told from the size of the new database over time
/// (built as `NAME.restoring`, renamed at the end): the start (the manifest, the schema)
/// until it grows, the rows (each part read, checked and written) while it grows, and the end
/// (the checks of the whole archive, the switch to WAL, the sync and the rename) once it
/// stands still.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RestorePhases {
    start: f64,
    rows: f64,
    finish: f64,
    /// The database's largest size.
    file_bytes: u64,
}

impl RestorePhases {
    /// From `(seconds, database bytes)` samples of a restore that took `total`.
    fn of(samples: &[(f64, u64)], total: f64) -> Option<RestorePhases> {
        // The migrations' own writes stay well below this.
        const GROWN: u64 = 1 << 20;
        let file_bytes = samples.iter().map(|s| s.1).max()?;
        let rows_from = samples.iter().find(|s| s.1 > GROWN)?.0;
        let full_at = samples.iter().find(|s| s.1 == file_bytes)?.0;
        Some(RestorePhases {
            start: rows_from,
            rows: full_at - rows_from,
            finish: total - full_at,
            file_bytes,
        })
    }
}

/// What the seeded database holds.
#[derive(Debug, Clone, Default)]
struct Seeded {
    officials: Vec<Official>,
    body_bytes: u64,
    /// Bytes of the SQLite database file, and of its archive (untimed warm-up backup).
    database_bytes: u64,
    archive_bytes: u64,
    seconds: f64,
}

/// What the runs showed besides their times: sizes of what each side wrote (from the last
/// run), and how congvu's SQLite restores spent theirs.
#[derive(Debug, Clone, Default)]
struct Observed {
    sqlite_archive: u64,
    sqlite_zstd: u64,
    postgres_archive: u64,
    pg_dump: u64,
    /// The untimed restore of the seeded archive into PostgreSQL that B2 starts from.
    postgres_seed_seconds: f64,
    /// Each B1 run's congvu restore, phase by phase.
    phases: Vec<RestorePhases>,
}

/// This benchmark's section, first placed after the portal's: the P1/P2 section that ends
/// the file is replaced by its heading, up to the next `## `, and would take a marker placed
/// right after it along.
const MARKERS: Markers = Markers {
    begin: "<!-- backup:begin -->",
    end: "<!-- backup:end -->",
    after: Some("<!-- portal:end -->"),
};
/// The options bench/backup.sh fills in, left out of the command the report shows.
const PATH_OPTIONS: [&str; 7] = [
    "--admin",
    "--server",
    "--sqlite3",
    "--zstd",
    "--work-dir",
    "--report",
    "--pg-bin",
];
/// B1 and B2's target: congvu's time at most this many times the reference's.
const TIME_TARGET: f64 = 1.5;
/// B3's target: the p99 with a backup at most this many times the p99 without.
const LATENCY_TARGET: f64 = 2.0;
/// Generated initial passwords are hashed at the cheap class anyway; this keeps any other
/// hashing out of the seeding time.
const CHEAP_HASHING: &str = "[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n";
/// Messages each official's batch is imported in (one transaction).
const SEED_BATCH: usize = 50;

pub fn run(args: BackupArgs) -> anyhow::Result<()> {
    check(&args)?;
    let machine = Machine::probe();
    let (_owned, work) = work_dir(args.work_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let smtp_port = free_port()?;
    let seed_dir = work.join("seed");
    std::fs::create_dir_all(seed_dir.join("congvu-data"))?;
    let config = write_congvu_config(
        &seed_dir,
        "congvu.toml",
        &CongvuSettings {
            smtp_port,
            http_port: 0,
            recipients: 1000,
            authentication: "off",
            extra: CHEAP_HASHING,
        },
    )?;
    let bench = Bench {
        args: &args,
        runtime: &runtime,
        work: &work,
        seed_config: &config,
        seed_db: seed_dir.join("congvu-data").join("congvu.db"),
        seed_archive: work.join("seed.cvbak"),
    };
    let seeded = bench.seed(&seed_dir)?;
    let mut timings = Vec::new();
    let mut observed = Observed::default();
    if args.workloads.contains(&Workload::B1) {
        for run in 0..args.runs {
            timings.extend(bench.b1_run(run, &mut observed)?);
        }
    }
    if args.workloads.contains(&Workload::B2) {
        timings.extend(bench.b2(&mut observed)?);
    }
    let loads = if args.workloads.contains(&Workload::B3) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, smtp_port));
        bench.b3(&machine, addr, &seeded.officials)?
    } else {
        Vec::new()
    };
    let verify = bench.verify_seconds()?;
    let report = Report {
        args: &args,
        machine: &machine,
        load_after: Machine::probe().load,
        seeded: &seeded,
        observed: &observed,
        timings: &timings,
        loads: &loads,
        verify,
    };
    let section = report.render();
    publish(&args.report, MARKERS, &section, None)
}

fn check(args: &BackupArgs) -> anyhow::Result<()> {
    check_binaries(&args.server, &args.admin)?;
    for (program, package) in [(&args.sqlite3, "sqlite3"), (&args.zstd, "zstd")] {
        anyhow::ensure!(
            program.exists(),
            "{} not found: apt-get install {package}",
            program.display()
        );
    }
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(
        args.officials >= 1 && args.messages >= 1,
        "--officials and --messages must be at least 1"
    );
    anyhow::ensure!(
        args.rate > 0.0 && args.backup_after < args.load_seconds,
        "--rate must be positive and --backup-after less than --load-seconds"
    );
    Ok(())
}

struct Bench<'a> {
    args: &'a BackupArgs,
    runtime: &'a tokio::runtime::Runtime,
    work: &'a Path,
    /// The seeded database's configuration (also the B3 server's).
    seed_config: &'a Path,
    seed_db: PathBuf,
    /// An untimed backup of the seeded database: B2's data, and a warm page cache for B1.
    seed_archive: PathBuf,
}

// ---------------------------------------------------------------------------------------
// Seeding

impl Bench<'_> {
    /// Officials through `congvu-admin user import`, messages through the mail store, then
    /// one untimed backup that checks the counts.
    fn seed(&self, dir: &Path) -> anyhow::Result<Seeded> {
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
    fn congvu(
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
    fn checked(&self, config: &Path, verb: &str, file: &Path) -> anyhow::Result<f64> {
        let (took, summary) = self.congvu(config, verb, file)?;
        check_counts(&summary, self.args.officials, self.args.messages)?;
        Ok(took)
    }

    /// `congvu-admin backup verify` of the seeded archive, untimed by the table: the share of
    /// a restore its first pass takes.
    fn verify_seconds(&self) -> anyhow::Result<Option<f64>> {
        if !self.seed_archive.exists() {
            return Ok(None);
        }
        let (took, _) = self.congvu(self.seed_config, "verify", &self.seed_archive)?;
        Ok(Some(took))
    }
}

/// Messages for one INBOX, each with its number in the corpus.
type SeedBatch = (MailboxId, Vec<(usize, Vec<u8>)>);

/// Puts `messages` corpus messages into the INBOXes of the `officials` officials of the
/// database at `url`, message `i` to official `i mod officials`, generated on every core
/// but one while the store imports; returns the bytes of bodies stored.
async fn seed_messages(url: &str, officials: usize, messages: usize) -> anyhow::Result<u64> {
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
async fn inboxes(store: &Store, mailstore: &Mailstore) -> anyhow::Result<Vec<(MailboxId, String)>> {
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
fn generate(
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
async fn import_batch(
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
fn check_counts(
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

// ---------------------------------------------------------------------------------------
// B1 and B2

/// Runs `program args…` to its end: its wall time, or an error with what it printed.
fn timed(program: &Path, args: &[&str]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("while starting {}", program.display()))?;
    let took = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "{} {args:?} exited with {}:\n{}{}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(took)
}

/// Seconds an fsync of `path` takes: what the step left unsynced.
fn sync_time(path: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("while syncing {}", path.display()))?;
    Ok(started.elapsed().as_secs_f64())
}

fn size_of(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{} was not written", path.display()))?
        .len())
}

/// A congvu-admin configuration for the database at `url`, in `dir`.
fn admin_config(dir: &Path, url: &str) -> anyhow::Result<PathBuf> {
    let data = dir.join("congvu-data");
    std::fs::create_dir_all(&data)?;
    let path = dir.join("congvu.toml");
    let text = format!(
        "[server]\nhostname = \"mail.vinhphuc.gov.vn\"\nprimary_domain = \"vinhphuc.gov.vn\"\n\
         data_dir = {:?}\n\n[database]\nurl = {url:?}\n\n[tls]\nself_signed = true\n\n{CHEAP_HASHING}",
        data.display().to_string()
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

impl Bench<'_> {
    fn run_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.work.join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// One B1 run: both backups of the seeded database, then both restores of them.
    fn b1_run(&self, run: usize, observed: &mut Observed) -> anyhow::Result<Vec<Timing>> {
        let dir = self.run_dir(&format!("b1-r{run}"))?;
        let archive = dir.join("congvu.cvbak");
        let copy = dir.join("copy.db");
        let packed = dir.join("copy.db.zst");
        let mut timings = RunTimings::new(run);
        for side in sides(run) {
            match side {
                Side::Congvu => {
                    let took = self.checked(self.seed_config, "create", &archive)?;
                    timings.record(Step::SqliteCreate, side, took, sync_time(&archive)?);
                }
                Side::Reference => {
                    let db = self.seed_db.display().to_string();
                    let copied = timed(
                        &self.args.sqlite3,
                        &[&db, &format!(".backup '{}'", copy.display())],
                    )?;
                    let compressed = timed(&self.args.zstd, &["-q", &copy.display().to_string()])?;
                    std::fs::remove_file(&copy)?;
                    timings.record(
                        Step::SqliteCreate,
                        side,
                        copied + compressed,
                        sync_time(&packed)?,
                    );
                }
            }
        }
        for side in sides(run) {
            let target = dir.join(format!("restored-{side:?}").to_lowercase());
            let db = target.join("congvu-data").join("congvu.db");
            match side {
                Side::Congvu => {
                    let config = admin_config(&target, &format!("sqlite://{}", db.display()))?;
                    let (took, phases) = self.watched_restore(&config, &archive, &db)?;
                    timings.record(Step::SqliteRestore, side, took, sync_time(&db)?);
                    observed.phases.extend(phases);
                }
                Side::Reference => {
                    std::fs::create_dir_all(db.parent().context("no parent")?)?;
                    let (from, to) = (packed.display().to_string(), db.display().to_string());
                    let took = timed(&self.args.zstd, &["-d", "-q", &from, "-o", &to])?;
                    timings.record(Step::SqliteRestore, side, took, sync_time(&db)?);
                }
            }
        }
        observed.sqlite_archive = size_of(&archive)?;
        observed.sqlite_zstd = size_of(&packed)?;
        std::fs::remove_dir_all(&dir)?;
        Ok(timings.timings)
    }

    /// `backup restore` of `archive` into the SQLite database `db`, its files' sizes sampled
    /// as it runs: its wall time, and its phases when they could be told apart.
    fn watched_restore(
        &self,
        config: &Path,
        archive: &Path,
        db: &Path,
    ) -> anyhow::Result<(f64, Option<RestorePhases>)> {
        let done = AtomicBool::new(false);
        let building = PathBuf::from(format!("{}.restoring", db.display()));
        let started = Instant::now();
        let (took, samples) = std::thread::scope(|scope| {
            let sampler = scope.spawn(|| {
                let mut samples = Vec::new();
                while !done.load(Ordering::SeqCst) {
                    let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
                    let bytes = size(&building).max(size(db));
                    samples.push((started.elapsed().as_secs_f64(), bytes));
                    std::thread::sleep(Duration::from_millis(100));
                }
                samples
            });
            let took = self.checked(config, "restore", archive);
            done.store(true, Ordering::SeqCst);
            (took, sampler.join().unwrap_or_default())
        });
        let took = took?;
        Ok((took, RestorePhases::of(&samples, took)))
    }

    /// B2: the seeded archive restored once into PostgreSQL, then `--runs` runs.
    fn b2(&self, observed: &mut Observed) -> anyhow::Result<Vec<Timing>> {
        let postgres = Postgres::connect(&self.args.postgres, self.args.pg_bin.as_deref())?;
        let source = postgres.create("source")?;
        let source_config = admin_config(&self.run_dir("b2-source")?, &source)?;
        println!("B2: restoring the seeded archive into PostgreSQL (untimed)");
        let took = self.checked(&source_config, "restore", &self.seed_archive)?;
        println!("  {}", seconds(took));
        observed.postgres_seed_seconds = took;
        let mut timings = Vec::new();
        for run in 0..self.args.runs {
            timings.extend(self.b2_run(&postgres, &source, &source_config, run, observed)?);
        }
        Ok(timings)
    }

    fn b2_run(
        &self,
        postgres: &Postgres,
        source: &str,
        source_config: &Path,
        run: usize,
        observed: &mut Observed,
    ) -> anyhow::Result<Vec<Timing>> {
        let dir = self.run_dir(&format!("b2-r{run}"))?;
        let archive = dir.join("congvu.cvbak");
        let dump = dir.join("dump.pgc");
        let mut timings = RunTimings::new(run);
        for side in sides(run) {
            match side {
                Side::Congvu => {
                    let took = self.checked(source_config, "create", &archive)?;
                    timings.record(Step::PostgresCreate, side, took, sync_time(&archive)?);
                }
                Side::Reference => {
                    let out = dump.display().to_string();
                    let took = timed(
                        &postgres.bin.join("pg_dump"),
                        &["-Fc", "-f", &out, "-d", source],
                    )?;
                    timings.record(Step::PostgresCreate, side, took, sync_time(&dump)?);
                }
            }
        }
        for side in sides(run) {
            let target = postgres.create(&format!("r{run}_{side:?}").to_lowercase())?;
            match side {
                Side::Congvu => {
                    let config = admin_config(&dir.join("restored"), &target)?;
                    let took = self.checked(&config, "restore", &archive)?;
                    timings.record(Step::PostgresRestore, side, took, 0.0);
                }
                Side::Reference => {
                    let from = dump.display().to_string();
                    let took = timed(&postgres.bin.join("pg_restore"), &["-d", &target, &from])?;
                    timings.record(Step::PostgresRestore, side, took, 0.0);
                }
            }
            postgres.drop_database(&target)?;
        }
        observed.postgres_archive = size_of(&archive)?;
        observed.pg_dump = size_of(&dump)?;
        std::fs::remove_dir_all(&dir)?;
        Ok(timings.timings)
    }
}

/// The timings of one run, each printed as it is taken.
struct RunTimings {
    run: usize,
    timings: Vec<Timing>,
}

impl RunTimings {
    fn new(run: usize) -> RunTimings {
        RunTimings {
            run,
            timings: Vec::new(),
        }
    }

    fn record(&mut self, step: Step, side: Side, seconds: f64, sync: f64) {
        println!(
            "{} run {} {step:?} {side:?}: {}",
            step.id(),
            self.run,
            self::seconds(seconds)
        );
        self.timings.push(Timing {
            step,
            side,
            run: self.run,
            seconds,
            sync,
        });
    }
}

/// congvu and the reference in run `run`'s order.
fn sides(run: usize) -> Vec<Side> {
    turns(run, 2)
        .into_iter()
        .map(|t| [Side::Congvu, Side::Reference][t])
        .collect()
}

/// The PostgreSQL server B2 runs on, and the databases it created there: dropped when this
/// is, whatever happened.
struct Postgres {
    server: String,
    /// pg_dump and pg_restore of the server's major version.
    bin: PathBuf,
    runtime: tokio::runtime::Runtime,
    created: RefCell<Vec<String>>,
}

impl Postgres {
    fn connect(server: &str, bin: Option<&Path>) -> anyhow::Result<Postgres> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let server = server.trim_end_matches('/').to_string();
        let mut postgres = Postgres {
            server,
            bin: PathBuf::new(),
            runtime,
            created: RefCell::new(Vec::new()),
        };
        let version: String = postgres.query_one("SHOW server_version_num")?;
        let major = version.parse::<u32>().context("server_version_num")? / 10_000;
        postgres.bin = bin.map_or_else(
            || PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")),
            Path::to_path_buf,
        );
        for tool in ["pg_dump", "pg_restore"] {
            anyhow::ensure!(
                postgres.bin.join(tool).exists(),
                "{} not found (the server is PostgreSQL {major}): apt-get install postgresql-client-{major}",
                postgres.bin.join(tool).display()
            );
        }
        Ok(postgres)
    }

    fn query_one(&self, sql: &str) -> anyhow::Result<String> {
        let url = format!("{}/postgres", self.server);
        self.runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .with_context(|| format!("cannot reach PostgreSQL at {url}"))?;
            let value: String = sqlx::query_scalar(sql).fetch_one(&mut conn).await?;
            conn.close().await?;
            Ok(value)
        })
    }

    fn execute(&self, sql: &str) -> anyhow::Result<()> {
        let url = format!("{}/postgres", self.server);
        self.runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            sqlx::query(sql).execute(&mut conn).await?;
            conn.close().await?;
            anyhow::Ok(())
        })
    }

    /// A new empty database; its URL.
    fn create(&self, what: &str) -> anyhow::Result<String> {
        let name = format!("congvu_bench_{}_{what}", std::process::id());
        self.execute(&format!("CREATE DATABASE {name}"))?;
        self.created.borrow_mut().push(name.clone());
        Ok(format!("{}/{name}", self.server))
    }

    fn drop_database(&self, url: &str) -> anyhow::Result<()> {
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        self.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        self.created.borrow_mut().retain(|n| *n != name);
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        for name in self.created.take() {
            let _ = self.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// B3

impl Bench<'_> {
    /// The server on the seeded database; `--runs` runs without and with a backup, taking
    /// turns.
    fn b3(
        &self,
        machine: &Machine,
        addr: SocketAddr,
        officials: &[Official],
    ) -> anyhow::Result<Vec<LoadRun>> {
        let seed_dir = self.seed_config.parent().context("no seed directory")?;
        // Server, client and backup share every core, as they would on a small server.
        let mut server = Congvu {
            binary: self.args.server.clone(),
            config: self.seed_config.to_path_buf(),
            data_dir: seed_dir.join("congvu-data"),
            log: self.work.join("congvu.log"),
            addr,
            pin: None,
            process: None,
            ticks: machine.ticks,
        };
        server.start()?;
        if let Greeting::Refused(text) = self.runtime.block_on(server.wait_ready())? {
            anyhow::bail!("congvu-server refused SMTP: {text}");
        }
        let recipients: Vec<String> = officials.iter().map(|o| o.address.clone()).collect();
        let mut loads = Vec::new();
        for run in 0..self.args.runs {
            for with_backup in turns(run, 2).into_iter().map(|t| t == 1) {
                let load = self.load_run(addr, &recipients, run, with_backup)?;
                println!(
                    "B3 run {run} {}: p99 {} over {} messages, {} failed{}",
                    if with_backup {
                        "with a backup"
                    } else {
                        "without"
                    },
                    milliseconds(load.p99()),
                    load.measured_ms.len(),
                    load.failures,
                    load.backup_seconds
                        .map_or(String::new(), |s| format!("; backup {}", seconds(s)))
                );
                println!("  p99 of each second (ms): {}", load.timeline);
                loads.push(load);
            }
        }
        server.stop()?;
        Ok(loads)
    }

    /// One B3 run: a message due every 1/`--rate` s, each on a connection of its own, for
    /// `--load-seconds` (and, with a backup, until the backup has ended).
    fn load_run(
        &self,
        addr: SocketAddr,
        recipients: &[String],
        run: usize,
        with_backup: bool,
    ) -> anyhow::Result<LoadRun> {
        let args = self.args;
        let start = Instant::now() + Duration::from_millis(50);
        let warm = start + Duration::from_secs(args.backup_after);
        let end = start + Duration::from_secs(args.load_seconds);
        let backing_up = Arc::new(AtomicBool::new(with_backup));
        let archive = self.work.join(format!("b3-r{run}.cvbak"));
        let backup = with_backup.then(|| {
            let mut command = match args.backup_nice {
                0 => Command::new(&args.admin),
                nice => {
                    let mut command = Command::new("nice");
                    command.arg(format!("-n{nice}")).arg(&args.admin);
                    command
                }
            };
            command
                .arg("--config")
                .arg(self.seed_config)
                .args(["backup", "create"])
                .arg(&archive);
            let backing_up = Arc::clone(&backing_up);
            std::thread::spawn(move || {
                std::thread::sleep(warm.saturating_duration_since(Instant::now()));
                let began = Instant::now();
                let done = command
                    .output()
                    .map_err(anyhow::Error::from)
                    .and_then(|out| {
                        anyhow::ensure!(
                            out.status.success(),
                            "backup create under load failed: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        Ok(())
                    });
                let ended = Instant::now();
                backing_up.store(false, Ordering::SeqCst);
                done.map(|_| (began, ended))
            })
        });
        let body = Arc::new(payload(args.length));
        let sent = self.runtime.block_on(paced_load(
            addr,
            recipients,
            args.rate,
            (start, end),
            &backing_up,
            body,
        ))?;
        let span = match backup {
            Some(thread) => Some(
                thread
                    .join()
                    .map_err(|_| anyhow::anyhow!("the backup thread panicked"))??,
            ),
            None => None,
        };
        if archive.exists() {
            std::fs::remove_file(&archive)?;
        }
        let mut load = measure(run, &sent, warm, span);
        load.timeline = timeline(&sent, start);
        Ok(load)
    }
}

/// The p99 of the messages due in each second of a run, for seeing when latency rose.
fn timeline(sent: &[Sent], start: Instant) -> String {
    let mut seconds: Vec<Vec<f64>> = Vec::new();
    for (due, outcome) in sent {
        let second = due.saturating_duration_since(start).as_secs() as usize;
        if seconds.len() <= second {
            seconds.resize(second + 1, Vec::new());
        }
        if let Ok(took) = outcome {
            seconds[second].push(took.as_secs_f64() * 1000.0);
        }
    }
    let p99s: Vec<String> = seconds
        .iter_mut()
        .map(|ms| {
            ms.sort_by(f64::total_cmp);
            match ms.is_empty() {
                true => "-".to_string(),
                false => format!("{:.0}", percentile(ms, 0.99)),
            }
        })
        .collect();
    p99s.join(" ")
}

/// One message of a paced load: when it was due, and its DATA→250 time if it got a 250
/// (else why not).
type Sent = (Instant, Result<Duration, String>);

/// Sends message `i` at `start + i / rate` until `window.1`, and on while `going_on` holds;
/// each on a new connection, never waiting for earlier ones.
async fn paced_load(
    addr: SocketAddr,
    recipients: &[String],
    rate: f64,
    window: (Instant, Instant),
    going_on: &AtomicBool,
    body: Arc<Vec<u8>>,
) -> anyhow::Result<Vec<Sent>> {
    let (start, end) = window;
    let mut tasks = Vec::new();
    for i in 0usize.. {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due > end && !going_on.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let to = Arc::new(vec![recipients[i % recipients.len()].clone()]);
        let head: Compose = Arc::new(move |_, to| smtp_source_head(to, 2_000_000 + i).into_bytes());
        let one = send_load(addr, BENCH_ENVELOPE, 1, 1, to, head, Arc::clone(&body));
        tasks.push((due, tokio::spawn(one)));
    }
    let mut sent = Vec::with_capacity(tasks.len());
    for (due, task) in tasks {
        let load = task.await??;
        let outcome = match (load.data_to_250.first(), load.first_failure) {
            (Some(took), _) => Ok(*took),
            (None, failure) => Err(failure.unwrap_or_else(|| "no reply".into())),
        };
        sent.push((due, outcome));
    }
    Ok(sent)
}

/// The run's figures: latencies of the messages due while the backup ran (`span`), or after
/// the warm-up when there was none.
fn measure(run: usize, sent: &[Sent], warm: Instant, span: Option<(Instant, Instant)>) -> LoadRun {
    let counts = |due: &Instant| match span {
        Some((began, ended)) => *due >= began && *due <= ended,
        None => *due >= warm,
    };
    let mut measured_ms: Vec<f64> = sent
        .iter()
        .filter(|(due, _)| counts(due))
        .filter_map(|(_, outcome)| outcome.as_ref().ok())
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    measured_ms.sort_by(f64::total_cmp);
    let failed: Vec<&String> = sent.iter().filter_map(|(_, o)| o.as_ref().err()).collect();
    LoadRun {
        run,
        measured_ms,
        backup_seconds: span.map(|(began, ended)| (ended - began).as_secs_f64()),
        sent: sent.len(),
        failures: failed.len(),
        first_failure: failed.first().map(|s| s.to_string()),
        timeline: String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// The report

struct Report<'a> {
    args: &'a BackupArgs,
    machine: &'a Machine,
    /// The 1-minute load average when the measurements ended.
    load_after: String,
    seeded: &'a Seeded,
    observed: &'a Observed,
    timings: &'a [Timing],
    loads: &'a [LoadRun],
    /// `backup verify` of the seeded archive.
    verify: Option<f64>,
}

impl Report<'_> {
    fn render(&self) -> String {
        let mut out = format!(
            "{}\n## B1–B3: backup and restore\n\n{}\n\
             | id | what | congvu | reference | ratio (per run) | target | met? |\n\
             |---|---|---|---|---|---|---|\n",
            MARKERS.begin,
            self.method()
        );
        for step in STEPS {
            if self.timings.iter().any(|t| t.step == step) {
                out.push_str(&self.time_row(step));
            }
        }
        if !self.loads.is_empty() {
            out.push_str(&self.latency_row());
        }
        out.push('\n');
        out.push_str(&self.details());
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    fn method(&self) -> String {
        let (args, seeded, m) = (self.args, self.seeded, self.machine);
        format!(
            "Measured by `bench/backup.sh{command}`, release build, on {cores} cores ({cpu}; 1-minute\n\
             load average {load} before the run and {after} at its end, other work on the machine going\n\
             on). The data: {officials}\n\
             officials and {messages} messages in their INBOXes ({bodies} of distinct bodies, 2–50 KiB,\n\
             mail-like text with one in twenty carrying a base64 attachment), seeded once in {seed}\n\
             (officials with `user import`, messages through the mail store's batched import); the\n\
             SQLite file is {db}, its congvu archive {archive}. Each step is timed from its process's\n\
             start to its exit, congvu and the reference taking turns (the order flips run by run);\n\
             figures are medians over {runs} run(s) with ranges in brackets; a target is met only when\n\
             every run clears it. Every congvu archive and restore is checked to hold every official\n\
             and message.\n",
            command = user_arguments(&PATH_OPTIONS),
            cores = m.cores,
            cpu = m.cpu,
            load = m.load,
            after = self.load_after,
            officials = args.officials,
            messages = args.messages,
            bodies = gib(seeded.body_bytes),
            seed = seconds(seeded.seconds),
            db = gib(seeded.database_bytes),
            archive = gib(seeded.archive_bytes),
            runs = args.runs,
        )
    }

    fn seconds_of(&self, step: Step, side: Side) -> Vec<f64> {
        let mut runs: Vec<&Timing> = self
            .timings
            .iter()
            .filter(|t| t.step == step && t.side == side)
            .collect();
        runs.sort_by_key(|t| t.run);
        runs.into_iter().map(|t| t.seconds).collect()
    }

    /// congvu's time over the reference's, run by run.
    fn step_ratios(&self, step: Step) -> Vec<f64> {
        let ours = self.seconds_of(step, Side::Congvu);
        let theirs = self.seconds_of(step, Side::Reference);
        ours.iter().zip(&theirs).map(|(o, t)| o / t).collect()
    }

    fn time_row(&self, step: Step) -> String {
        let show = |side| {
            Spread::of(&self.seconds_of(step, side)).map_or_else(|| "—".into(), |s| s.show(seconds))
        };
        let ratios = self.step_ratios(step);
        format!(
            "| {} | {} | {} | {} | {} | ≤ {TIME_TARGET}× | {} |\n",
            step.id(),
            step.what(),
            show(Side::Congvu),
            show(Side::Reference),
            ratio_cell(&ratios),
            verdict(&ratios, TIME_TARGET),
        )
    }

    /// The B3 runs with a backup, each paired with the run without one in the same round.
    fn latency_pairs(&self) -> Vec<(&LoadRun, &LoadRun)> {
        let with: Vec<&LoadRun> = self
            .loads
            .iter()
            .filter(|l| l.backup_seconds.is_some())
            .collect();
        with.into_iter()
            .filter_map(|w| {
                let without = self
                    .loads
                    .iter()
                    .find(|l| l.run == w.run && l.backup_seconds.is_none())?;
                Some((w, without))
            })
            .collect()
    }

    fn latency_row(&self) -> String {
        let pairs = self.latency_pairs();
        let ratios: Vec<f64> = pairs.iter().map(|(w, wo)| w.p99() / wo.p99()).collect();
        let p99s = |pick: fn(&(&LoadRun, &LoadRun)) -> f64| {
            let values: Vec<f64> = pairs.iter().map(pick).collect();
            Spread::of(&values).map_or_else(|| "—".into(), |s| s.show(milliseconds))
        };
        let failures: usize = self.loads.iter().map(|l| l.failures).sum();
        let met = if failures > 0 {
            format!("invalid: {failures} messages failed")
        } else {
            verdict(&ratios, LATENCY_TARGET)
        };
        format!(
            "| B3 | SMTP p99 end of DATA → 250 at {rate}/s while `backup create` runs on the same SQLite \
             database (reference: the same load without a backup) | {} | {} | {} | ≤ {LATENCY_TARGET}× | {met} |\n",
            p99s(|(w, _)| w.p99()),
            p99s(|(_, wo)| wo.p99()),
            ratio_cell(&ratios),
            rate = self.args.rate,
        )
    }

    fn details(&self) -> String {
        let mut out = String::new();
        let observed = self.observed;
        if self.has(Step::SqliteCreate) {
            out.push_str(&format!(
                "- Sizes: congvu's archive of the SQLite database {} against {} for the `.backup` copy\n  \
                 compressed by `zstd` (level 3, one thread) ({}).\n",
                gib(observed.sqlite_archive),
                gib(observed.sqlite_zstd),
                times(observed.sqlite_archive as f64 / observed.sqlite_zstd as f64)
            ));
        }
        if self.has(Step::PostgresCreate) {
            out.push_str(&format!(
                "- PostgreSQL: congvu's archive {} against {} for `pg_dump -Fc` ({}); the seeded archive\n  \
                 took {} to restore into the source database (a SQLite installation moving to PostgreSQL).\n",
                gib(observed.postgres_archive),
                gib(observed.pg_dump),
                times(observed.postgres_archive as f64 / observed.pg_dump as f64),
                seconds(observed.postgres_seed_seconds)
            ));
        }
        out.push_str(&self.durability());
        out.push_str(&self.restore_details());
        out.push_str(&self.load_details());
        out
    }

    /// Where congvu's restores spend their time.
    fn restore_details(&self) -> String {
        let Some(verify) = self.verify else {
            return String::new();
        };
        let mut out = format!(
            "- Where a restore's time goes: it reads each part once, checks it (as `backup verify` does,\n  \
             less hashing every body again) and writes it (`backup verify` of the seeded archive alone:\n  \
             {}); a new SQLite file is written without a journal and synced as it grows.",
            seconds(verify)
        );
        let phases = &self.observed.phases;
        if !phases.is_empty() {
            let median_of = |pick: fn(&RestorePhases) -> f64| {
                seconds(median(&phases.iter().map(pick).collect::<Vec<_>>()))
            };
            let largest = phases.iter().map(|p| p.file_bytes).max().unwrap_or(0);
            out.push_str(&format!(
                "\n  Medians over the runs, told from the size of the new database sampled every\n  \
                 0.1 s: starting {}, reading, checking and writing the rows {}, the whole-archive checks,\n  \
                 the switch to WAL, the sync and the rename {}. The database grows to {}, written once.",
                median_of(|p| p.start),
                median_of(|p| p.rows),
                median_of(|p| p.finish),
                gib(largest),
            ));
        }
        out.push('\n');
        out
    }

    fn has(&self, step: Step) -> bool {
        self.timings.iter().any(|t| t.step == step)
    }

    /// The fsync the reference's output still needed after it exited: congvu's archive and
    /// restore are synced before they report success.
    fn durability(&self) -> String {
        let mut parts = Vec::new();
        for step in [
            Step::SqliteCreate,
            Step::SqliteRestore,
            Step::PostgresCreate,
        ] {
            let syncs: Vec<f64> = self
                .timings
                .iter()
                .filter(|t| t.step == step && t.side == Side::Reference)
                .map(|t| t.sync)
                .collect();
            if !syncs.is_empty() {
                parts.push(format!("{:?} {}", step, seconds(median(&syncs))));
            }
        }
        if parts.is_empty() {
            return String::new();
        }
        format!(
            "- Durability: congvu syncs its archive (and SQLite its database) before it exits; `zstd` and\n  \
             `pg_dump` do not. An fsync of the reference's output right after it exited took (median,\n  \
             not included above): {}.\n",
            parts.join(", ")
        )
    }

    fn load_details(&self) -> String {
        if self.loads.is_empty() {
            return String::new();
        }
        let args = self.args;
        let backups: Vec<f64> = self.loads.iter().filter_map(|l| l.backup_seconds).collect();
        let unloaded = self.seconds_of(Step::SqliteCreate, Side::Congvu);
        let mut out = format!(
            "- B3: `congvu-server` (release) on the seeded SQLite database, server, client and backup\n  \
             sharing both cores; a message of {length} payload bytes due every {interval:.1} ms, each on a\n  \
             connection of its own to the next official, for {secs} s; `backup create` starts {after} s in\n  \
             and the load goes on until it ends{nice}. The p99 with a backup counts the messages due while\n  \
             it ran; without, those due after the first {after} s. The backup under load took {} (unloaded,\n  \
             in B1: {}).\n",
            Spread::of(&backups).map_or_else(|| "—".into(), |s| s.show(seconds)),
            Spread::of(&unloaded).map_or_else(|| "—".into(), |s| s.show(seconds)),
            length = args.length,
            interval = 1000.0 / args.rate,
            secs = args.load_seconds,
            after = args.backup_after,
            nice = match args.backup_nice {
                0 => String::new(),
                n => format!(" (run as `nice -n{n} congvu-admin backup create`)"),
            },
        );
        for load in self.loads {
            out.push_str(&format!(
                "  - run {} {}: {} sent, p99 {} over {} measured, slowest {}, {} failed{}; p99 of each\n    \
                 second in ms: {}\n",
                load.run + 1,
                if load.backup_seconds.is_some() {
                    "with a backup"
                } else {
                    "without"
                },
                load.sent,
                milliseconds(load.p99()),
                load.measured_ms.len(),
                milliseconds(load.measured_ms.last().copied().unwrap_or(f64::NAN)),
                load.failures,
                load.first_failure
                    .as_ref()
                    .map_or(String::new(), |f| format!(" (first: {f})")),
                load.timeline,
            ));
        }
        out
    }
}

/// Each run's ratio, with their median first.
fn ratio_cell(ratios: &[f64]) -> String {
    if ratios.is_empty() {
        return "—".into();
    }
    let each: Vec<String> = ratios.iter().map(|r| times(*r)).collect();
    format!("{} ({})", times(median(ratios)), each.join(", "))
}

/// "met" when every run's ratio is at most `target`; else how far the worst run is off.
fn verdict(ratios: &[f64], target: f64) -> String {
    let worst = ratios.iter().copied().fold(f64::NAN, f64::max);
    if !worst.is_finite() {
        "—".into()
    } else if worst <= target {
        "met".into()
    } else {
        let over = (worst / target - 1.0) * 100.0;
        format!("NOT met: worst run {} ({over:.0}% over)", times(worst))
    }
}

fn gib(bytes: u64) -> String {
    let gib = bytes as f64 / f64::from(1u32 << 30);
    if gib >= 1.0 {
        format!("{gib:.2} GiB")
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    }
}

#[cfg(test)]
mod tests;
