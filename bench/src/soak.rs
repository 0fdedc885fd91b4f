//! `congvu-bench soak`: the crash soak at full length. The engine is the suite's
//! (`congvu_tests::soak`): the real `congvu-server` binary under mixed SMTP and IMAP load,
//! killed with SIGKILL at a random moment of every round and restarted on the same database,
//! the database checked against every acknowledged message after each kill and once more at
//! the end. This module owns the command line and the printed report; bench/soak.sh builds
//! in release and runs it.

use std::path::PathBuf;
use std::time::Duration;

use congvu_tests::soak::{self, SoakDatabase, SoakOptions};

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// Kill-and-restart rounds.
    #[arg(long, default_value_t = 1_000)]
    kills: usize,
    /// Run on a new schema of this PostgreSQL server (dropped afterwards unless something
    /// was found) instead of a SQLite file.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Seeds the messages, recipients, client choices and kill moments; random if not given.
    #[arg(long)]
    seed: Option<u64>,
    /// Earliest kill, in milliseconds after the load starts.
    #[arg(long, default_value_t = 50)]
    kill_min_ms: u64,
    /// Latest kill, in milliseconds after the load starts.
    #[arg(long, default_value_t = 1_500)]
    kill_max_ms: u64,
    /// The congvu-server binary (build it with --release).
    #[arg(long, default_value = "target/release/congvu-server")]
    server: PathBuf,
    /// No line per round on standard error.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.server.exists(),
        "{} not found: run `cargo build --release -p congvu-server` first",
        args.server.display()
    );
    anyhow::ensure!(args.kills >= 1, "--kills must be at least 1");
    anyhow::ensure!(
        args.kill_min_ms <= args.kill_max_ms,
        "--kill-min-ms must not be above --kill-max-ms"
    );
    let database = match args.postgres {
        Some(url) => SoakDatabase::Postgres { url },
        None => SoakDatabase::Sqlite,
    };
    let mut options = SoakOptions::new(args.server, database);
    options.kills = args.kills;
    options.seed = args.seed.unwrap_or_else(rand::random);
    options.kill_after = (
        Duration::from_millis(args.kill_min_ms),
        Duration::from_millis(args.kill_max_ms),
    );
    options.progress = !args.quiet;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(soak::run(options))?;
    println!("{report}");
    anyhow::ensure!(
        report.is_clean(),
        "the soak broke {} promises (seed {})",
        report.violations.len(),
        report.seed
    );
    Ok(())
}
