//! G1 and G2: `congvu-admin migrate imap` pulling mailboxes from a private Dovecot, against
//! Dovecot's own `doveadm backup -R imapc:` pulling the same mailboxes into a second private
//! Dovecot, in one run, on the same machine.
//!
//! - G1: the I1 mailbox (the IMAP benchmark's corpus, `--messages` messages in one INBOX).
//! - G2: `--accounts` accounts of `--per-account` messages each, spread over INBOX, Sent and
//!   a Vietnamese folder; congvu-admin runs with `--concurrency N`, doveadm as N processes
//!   at once.
//!
//! The old server is the test suite's Dovecot (congvu_tests::dovecot): Maildir written
//! directly, served over implicit TLS on loopback with a certificate from a CA of its own,
//! and a master user. Both pullers sign in with that master user, trust that CA, and take
//! turns run after run. congvu pulls into a fresh SQLite database each run (so no body is
//! already stored from a previous run); doveadm pulls into a fresh user of the second
//! Dovecot each run. Every run is checked: congvu's summary must count every message copied
//! and no account failed; doveadm must exit 0 and leave every message in the Maildir.
//!
//! This module owns its working directory, the two Dovecot instances it starts (through
//! the kit, in the system's temporary directory) and the `migrate` section of the report.

use std::path::PathBuf;
use std::time::Duration;

use congvu_tests::dovecot::{Dovecot, DovecotOptions};

use crate::figures::{seconds, turns};
use crate::machine::Machine;
use crate::report::{publish, Markers};

mod pull;
mod report;
mod seed;

// The files split one workload: their items are shared within the folder and with its tests.
use pull::*;
use report::*;
use seed::*;

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// G1: messages in the one mailbox (the I1 corpus).
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// G2: accounts migrated together.
    #[arg(long, default_value_t = 200)]
    accounts: usize,
    /// G2: messages in each account.
    #[arg(long, default_value_t = 200)]
    per_account: usize,
    /// G2: accounts copied at once (congvu-admin --concurrency; doveadm processes at once).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Runs of each workload by each puller; the report gives medians and ranges.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Workloads to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "g1,g2")]
    workloads: Vec<Workload>,
    /// The congvu-admin binary that migrates (build it with --release).
    #[arg(long, default_value = "target/release/congvu-admin")]
    admin: PathBuf,
    #[arg(long, default_value = "/usr/bin/doveadm")]
    doveadm: PathBuf,
    /// Working directory for congvu's databases (default: a new temporary directory,
    /// removed at the end). It must be empty or absent.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    G1,
    G2,
}

impl Workload {
    fn id(self) -> &'static str {
        match self {
            Workload::G1 => "G1",
            Workload::G2 => "G2",
        }
    }
}

/// Who pulls the mail from the old server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Puller {
    Congvu,
    Doveadm,
}

const BEGIN: &str = "<!-- migrate:begin -->";
const END: &str = "<!-- migrate:end -->";
/// This benchmark's section of docs/PERFORMANCE.md: after the IMAP one when first placed.
const MARKERS: Markers = Markers {
    begin: BEGIN,
    end: END,
    after: Some("<!-- imap:end -->"),
};
/// The options bench/migrate.sh fills in, left out of the command the report shows.
const PATH_OPTIONS: [&str; 4] = ["--admin", "--doveadm", "--work-dir", "--report"];
/// G1's target: congvu's time at most this share of doveadm's.
const G1_TARGET: f64 = 0.5;
/// A pull slower than this counts as a failure rather than hanging the run.
const STEP_TIMEOUT: Duration = Duration::from_secs(3 * 3600);
/// The old mailboxes' logins and passwords (the pullers sign in as the master user).
const SOURCE_PASSWORD: &str = "Cu-matkhau-2019";
/// G2's folders, by share of every five messages: three in INBOX, one in each other.
const G2_FOLDERS: [&str; 5] = ["INBOX", "INBOX", "INBOX", "Sent", "Công văn đến"];

pub fn run(args: MigrateArgs) -> anyhow::Result<()> {
    check(&args)?;
    let machine = Machine::probe();
    let (_owned, work) = crate::machine::work_dir(args.work_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let plan = Plan::new(&args);
    println!("starting the old server (a private Dovecot) and writing its mailboxes");
    let sources = plan.sources();
    let source_users: Vec<(&str, &str)> = sources
        .iter()
        .map(|l| (l.as_str(), SOURCE_PASSWORD))
        .collect();
    let source = runtime.block_on(Dovecot::start(&source_users));
    let mailboxes = seed_source(&args, &plan, &source)?;
    println!("starting the second Dovecot that doveadm pulls into");
    let targets = plan.targets();
    let target_users: Vec<(&str, &str)> = targets
        .iter()
        .map(|l| (l.as_str(), SOURCE_PASSWORD))
        .collect();
    let target = runtime.block_on(Dovecot::start_with(
        &target_users,
        DovecotOptions {
            extra_config: imapc_config(source.imaps_addr().port(), &source.ca_file()),
        },
    ));

    let bench = Bench {
        args: &args,
        plan: &plan,
        source: &source,
        target: &target,
        work: &work,
    };
    let mut figures = Vec::new();
    for &workload in &args.workloads {
        for run in 0..args.runs {
            for turn in turns(run, 2) {
                let puller = [Puller::Congvu, Puller::Doveadm][turn];
                let figure = bench.pull(workload, puller, run);
                match &figure.failure {
                    Some(why) => println!("{} {puller:?} run {run}: FAILED: {why}", workload.id()),
                    None => println!(
                        "{} {puller:?} run {run}: {}",
                        workload.id(),
                        seconds(figure.elapsed.as_secs_f64())
                    ),
                }
                figures.push(figure);
            }
        }
    }
    drop(target);
    drop(source);

    let report = Report {
        args: &args,
        machine: &machine,
        mailboxes: &mailboxes,
        figures: &figures,
    };
    let section = report.render();
    publish(&args.report, MARKERS, &section, None)
}

fn check(args: &MigrateArgs) -> anyhow::Result<()> {
    for (binary, hint) in [
        (
            &args.admin,
            "run `cargo build --release -p congvu-admin` first",
        ),
        (&args.doveadm, "install the Debian package dovecot-core"),
    ] {
        anyhow::ensure!(binary.exists(), "{} not found: {hint}", binary.display());
    }
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(args.messages >= 1, "--messages must be at least 1");
    anyhow::ensure!(
        args.accounts >= 1 && args.per_account >= 1,
        "--accounts and --per-account must be at least 1"
    );
    anyhow::ensure!(
        (1..=64).contains(&args.concurrency),
        "--concurrency must be 1 to 64 (congvu-admin's range)"
    );
    Ok(())
}

#[cfg(test)]
mod tests;
