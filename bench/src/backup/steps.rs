//! B1 and B2: the backup and restore steps of congvu and of the references, timed from the
//! start of their processes to their exit, and the PostgreSQL databases they use.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::figures::{seconds, turns};

use super::*;

/// Runs `program args…` to its end: its wall time, or an error with what it printed.
pub(super) fn timed(program: &Path, args: &[&str]) -> anyhow::Result<f64> {
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
pub(super) fn sync_time(path: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("while syncing {}", path.display()))?;
    Ok(started.elapsed().as_secs_f64())
}

/// Puts the machine in the same state before each timed step: what earlier steps wrote on
/// the disk (`sync`) and the page cache emptied, so that neither side finds its input cached,
/// nor the other's output still being written, nor memory the other just gave back (on a
/// virtual machine, memory freed a moment ago may be handed back to the host, and the next
/// process to touch it waits for it). Emptying the cache needs root; whether it could is
/// counted in `observed` and said in the report.
pub(super) fn settle(observed: &mut Observed) {
    let synced = Command::new("sync").status().is_ok_and(|s| s.success());
    if synced && std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok() {
        observed.settled += 1;
    } else {
        observed.unsettled += 1;
    }
}

pub(super) fn size_of(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{} was not written", path.display()))?
        .len())
}

/// A congvu-admin configuration for the database at `url`, in `dir`.
pub(crate) fn admin_config(dir: &Path, url: &str) -> anyhow::Result<PathBuf> {
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
    pub(super) fn run_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.work.join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// One B1 run: both backups of the seeded database, both restores of them, then what
    /// writing the database costs SQLite itself ([`Bench::sqlite_floor`]).
    pub(super) fn b1_run(
        &self,
        run: usize,
        observed: &mut Observed,
    ) -> anyhow::Result<Vec<Timing>> {
        let dir = self.run_dir(&format!("b1-r{run}"))?;
        let archive = dir.join("congvu.cvbak");
        let copy = dir.join("copy.db");
        let packed = dir.join("copy.db.zst");
        let mut timings = RunTimings::new(run);
        for side in sides(run) {
            settle(observed);
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
            settle(observed);
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
        settle(observed);
        let floor = self.sqlite_floor(&dir)?;
        timings.record(
            Step::SqliteFloor,
            Side::Reference,
            floor,
            sync_time(&dir.join("floor.db"))?,
        );
        observed.sqlite_archive = size_of(&archive)?;
        observed.sqlite_zstd = size_of(&packed)?;
        std::fs::remove_dir_all(&dir)?;
        Ok(timings.timings)
    }

    /// SQLite's floor for a restore: `sqlite3` copying every row of the seeded database into
    /// `dir/floor.db`, a new file of the same schema built as congvu builds one (no journal,
    /// no syncs, no reference checks, a 64 MiB cache), the seeded file read into the page
    /// cache first (untimed) so that SQLite only writes. Its wall time; the file is left
    /// unsynced, as the reference's outputs are.
    pub(super) fn sqlite_floor(&self, dir: &Path) -> anyhow::Result<f64> {
        let seed = &self.seed_db;
        let schema = self.sqlite3(seed, ".schema")?;
        let script = floor_script(&schema, seed, &self.table_names()?);
        let script_path = dir.join("floor.sql");
        std::fs::write(&script_path, script)?;
        std::io::copy(&mut std::fs::File::open(seed)?, &mut std::io::sink())?;
        let floor = dir.join("floor.db");
        let took = timed(
            &self.args.sqlite3,
            &[
                "-bail",
                &floor.display().to_string(),
                &format!(".read '{}'", script_path.display()),
            ],
        )?;
        // Checked as congvu's restores are, against the messages seeded.
        let copied = self.sqlite3(&floor, "SELECT count(*) FROM mailbox_messages")?;
        let seeded = self.args.messages;
        anyhow::ensure!(
            copied.trim() == seeded.to_string(),
            "SQLite's copy holds {} messages, {seeded} were seeded",
            copied.trim()
        );
        Ok(took)
    }

    /// The seeded database's tables, less SQLite's own.
    fn table_names(&self) -> anyhow::Result<Vec<String>> {
        let names = self.sqlite3(
            &self.seed_db,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?;
        Ok(names.lines().map(str::to_owned).collect())
    }

    /// What `sqlite3 DB SQL` prints.
    fn sqlite3(&self, db: &Path, sql: &str) -> anyhow::Result<String> {
        let out = Command::new(&self.args.sqlite3).arg(db).arg(sql).output()?;
        anyhow::ensure!(
            out.status.success(),
            "sqlite3 {} {sql:?}: {}",
            db.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// `backup restore` of `archive` into the SQLite database `db`, its files' sizes sampled
    /// as it runs: its wall time, and its phases when they could be told apart.
    pub(super) fn watched_restore(
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
    pub(super) fn b2(&self, observed: &mut Observed) -> anyhow::Result<Vec<Timing>> {
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

    pub(super) fn b2_run(
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
            settle(observed);
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
            settle(observed);
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
pub(super) struct RunTimings {
    pub(super) run: usize,
    pub(super) timings: Vec<Timing>,
}

impl RunTimings {
    pub(super) fn new(run: usize) -> RunTimings {
        RunTimings {
            run,
            timings: Vec::new(),
        }
    }

    pub(super) fn record(&mut self, step: Step, side: Side, seconds: f64, sync: f64) {
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
pub(super) fn sides(run: usize) -> Vec<Side> {
    turns(run, 2)
        .into_iter()
        .map(|t| [Side::Congvu, Side::Reference][t])
        .collect()
}

/// The PostgreSQL server B2 runs on, and the databases it created there: dropped when this
/// is, whatever happened.
pub(super) struct Postgres {
    pub(super) server: String,
    /// pg_dump and pg_restore of the server's major version.
    pub(super) bin: PathBuf,
    pub(super) runtime: tokio::runtime::Runtime,
    pub(super) created: RefCell<Vec<String>>,
}

impl Postgres {
    pub(super) fn connect(server: &str, bin: Option<&Path>) -> anyhow::Result<Postgres> {
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

    pub(super) fn query_one(&self, sql: &str) -> anyhow::Result<String> {
        let url = format!("{}/postgres", self.server);
        self.runtime
            .block_on(crate::postgres::query_text(&url, sql))
    }

    /// A new empty database; its URL.
    pub(super) fn create(&self, what: &str) -> anyhow::Result<String> {
        let name = format!("congvu_bench_{}_{what}", std::process::id());
        let url = format!("{}/postgres", self.server);
        self.runtime
            .block_on(crate::postgres::create_database(&url, &name))?;
        self.created.borrow_mut().push(name.clone());
        Ok(format!("{}/{name}", self.server))
    }

    pub(super) fn drop_database(&self, url: &str) -> anyhow::Result<()> {
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        self.drop_named(&name)?;
        self.created.borrow_mut().retain(|n| *n != name);
        Ok(())
    }

    fn drop_named(&self, name: &str) -> anyhow::Result<()> {
        let url = format!("{}/postgres", self.server);
        self.runtime
            .block_on(crate::postgres::drop_database(&url, name))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        for name in self.created.take() {
            let _ = self.drop_named(&name);
        }
    }
}

/// The script [`Bench::sqlite_floor`] runs in the new file: its settings, the seeded
/// database's schema (`.schema`, less SQLite's own table), and one `INSERT … SELECT` per
/// table in one transaction.
pub(super) fn floor_script(schema: &str, seed: &Path, tables: &[String]) -> String {
    let mut script = String::from(
        "PRAGMA journal_mode = OFF;\nPRAGMA synchronous = OFF;\nPRAGMA foreign_keys = OFF;\n\
         PRAGMA cache_size = -65536;\n",
    );
    for line in schema.lines().filter(|l| !l.contains("sqlite_sequence")) {
        script.push_str(line);
        script.push('\n');
    }
    script.push_str(&format!("ATTACH '{}' AS seed;\nBEGIN;\n", seed.display()));
    for table in tables {
        script.push_str(&format!(
            "INSERT INTO main.{table} SELECT * FROM seed.{table};\n"
        ));
    }
    script.push_str("COMMIT;\n");
    script
}
