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
//!   of that compressed copy into a database's place. Beside them, what writing the database
//!   costs SQLite itself: the seeded database's rows copied by `sqlite3` into a new file of
//!   the same schema, read from memory, as congvu builds its new file (no journal, no syncs,
//!   no reference checks).
//! - B2, PostgreSQL: the seeded data restored once into a database of its own; then `backup
//!   create` from it against `pg_dump -Fc`, and `backup restore` against `pg_restore -d`,
//!   each into an empty database created for it (`CREATE DATABASE`) in every run.
//! - B3: the release server on the seeded SQLite database takes messages at a fixed rate on
//!   connections of their own; the p99 from the end of DATA to the 250 without a backup,
//!   and with `backup create` started `--backup-after` seconds in.
//!
//! congvu and the reference take turns within each run (the order flips run by run) and are
//! timed from the start of their processes to their exit, each B1 and B2 step from the same
//! state: the disk synced and the page cache emptied ([`steps::settle`]). Every congvu step
//! is checked through its `--json` summary (every message in the archive, every message
//! restored).
//! This module owns its working directory, the PostgreSQL databases it creates (dropped
//! when it ends), the server it starts and the `backup` section of the report.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::admin::Official;
use crate::figures::percentile;
use crate::machine::{free_port, Machine};
use crate::report::{publish, Markers};
use crate::server::check_binaries;
use crate::smtp::{write_congvu_config, CongvuSettings};

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

/// A timed step of B1 or B2: which row of the table it belongs to (the targets' rows,
/// [`STEPS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    SqliteCreate,
    SqliteRestore,
    /// SQLite writing the seeded database's rows into a new file, reading them from memory:
    /// what writing the database costs SQLite itself, the floor of any restore into SQLite. A
    /// reference only, with no row of its own in the table.
    SqliteFloor,
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
            Step::SqliteCreate | Step::SqliteRestore | Step::SqliteFloor => "B1",
            Step::PostgresCreate | Step::PostgresRestore => "B2",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Step::SqliteCreate => "SQLite backup: `backup create` vs `sqlite3 .backup` + `zstd -q`",
            Step::SqliteRestore => {
                "SQLite restore: `backup restore` into an empty database vs `zstd -d`"
            }
            Step::SqliteFloor => "SQLite writing the rows from memory into a new file",
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
    /// Timed steps of B1 and B2 started with the page cache emptied, and those that could
    /// not be (see [`steps::settle`]).
    settled: usize,
    unsettled: usize,
}

/// This benchmark's section, first placed after the portal's: the P1/P2 section that ends
/// the file is replaced by its heading, up to the next `## `, and would take a marker placed
/// right after it along.
const MARKERS: Markers = Markers {
    begin: "<!-- backup:begin -->",
    end: "<!-- backup:end -->",
    after: Some("<!-- portal:end -->"),
};

mod latency;
mod report;
mod seed;
mod steps;

// The files split one workload: their items are shared within the folder and with its tests.
use report::*;
pub(crate) use steps::admin_config;

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
    let (_owned, work) = crate::machine::work_dir(args.work_dir.as_deref())?;
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

#[cfg(test)]
mod tests;
