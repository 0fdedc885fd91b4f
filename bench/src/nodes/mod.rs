//! N1: two congvu nodes on one PostgreSQL database against one node on the same database,
//! with SMTP intake and IMAP FETCH load spread over the nodes, and the two promises several
//! nodes make checked while both run: each queue entry delivered once, and IDLE woken on
//! one node by mail that arrived through the other.
//!
//! Each run gets a PostgreSQL database of its own (`CREATE DATABASE`, dropped at the end of
//! the run), seeded the way an administrator would do it: `--officials` officials imported
//! with `congvu-admin user import` and chosen passwords for the officials who log in (hashed
//! at the backup benchmark's cheap cost, so seeding does not wait on argon2), then
//! [`INBOX_MESSAGES`] messages delivered by SMTP into each fetching official's INBOX. Both
//! nodes run the configuration every benchmark writes ([`crate::server::Config`]); what
//! differs between them (host name, submission port) and the database they share come from
//! `CONGVU_<SECTION>__<KEY>` variables, as docs/configuration.md has per-host values given.
//! Their outbound queue relays everything to an SMTP sink in this process
//! (`[queue] smart_host`). Node A runs on core 0 and node B on core 1 (`taskset`) wherever
//! the machine has two cores; the client runs on the others when there are any, and
//! PostgreSQL, the system's service, stays where the system put it.
//!
//! - Load, once with node A alone and once with both nodes (the order flips run by run):
//!   `--smtp-sessions` sessions deliver small messages to random officials, each on a new
//!   connection, round-robin over the nodes' MX ports, while `--imap-sessions` sessions, each
//!   logged in as its own official, `FETCH n BODY.PEEK[]` random messages of their INBOX,
//!   spread over the nodes' IMAP ports, for `--seconds` after a warm-up: throughput, and
//!   the CPU of each node, of PostgreSQL and of the client.
//! - Queue: [`QUEUE_MESSAGES`] messages for another domain submitted through both nodes'
//!   submission ports (AUTH PLAIN over implicit TLS); the sink counts each Message-ID.
//! - IDLE: a session on node B in IDLE; [`IDLE_MESSAGES`] messages delivered through node A
//!   one at a time; the time from node A's 250 to node B's `* n EXISTS`.
//!
//! This module owns its working directory, the databases it creates, the nodes and the sink
//! it starts, and the `nodes` section of the report.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use congvu_tests::smtp_sink::SmtpSink;
use tokio_rustls::TlsConnector;

use crate::admin::Official;
use crate::machine::Machine;
use crate::report::publish;
use crate::server::{Binaries, Certificate};

mod checks;
mod cluster;
mod load;
mod report;
mod submission;

// The files split one workload: their items are shared within the folder and with its tests.
use checks::*;
use cluster::*;
use load::*;
use report::*;

#[cfg(test)]
mod tests;

#[derive(Debug, clap::Args)]
pub struct NodesArgs {
    /// The PostgreSQL server, as a URL naming a database the benchmark may connect to; each
    /// run creates a database of its own on that server and drops it at the end.
    #[arg(
        long,
        env = "CONGVU_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Officials in each run's database; SMTP load goes to all of them at random.
    #[arg(long, default_value_t = 2_000)]
    officials: usize,
    /// Seconds each load phase (one node, two nodes) runs for.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Runs, each on a fresh database; the report gives medians and ranges.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// SMTP sessions delivering at once, each message on a new connection.
    #[arg(long, default_value_t = 16)]
    smtp_sessions: usize,
    /// IMAP sessions fetching at once, each logged in as an official of its own.
    #[arg(long, default_value_t = 8)]
    imap_sessions: usize,
    #[command(flatten)]
    congvu: Binaries,
    /// Working directory for the nodes' configurations and logs (default: a new temporary
    /// directory, removed at the end). It must be empty or absent.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

/// Messages delivered into each fetching official's INBOX before a run's load.
const INBOX_MESSAGES: usize = 100;
/// Load before each phase's window starts: node B has just started in one of them.
const WARMUP: Duration = Duration::from_secs(1);
/// Payload bytes of every message the load and the checks deliver.
const MESSAGE_BYTES: usize = 2048;
/// Messages for another domain the queue check submits.
const QUEUE_MESSAGES: usize = 500;
/// Submission sessions of the queue check, taking turns over the nodes.
const QUEUE_SESSIONS: usize = 8;
/// How long the queue check waits for the sink to receive every message.
const QUEUE_WAIT: Duration = Duration::from_secs(120);
/// How long the sink keeps listening once it has every message, for a second copy.
const QUEUE_LINGER: Duration = Duration::from_secs(3);
/// Messages the IDLE check delivers, one at a time.
const IDLE_MESSAGES: usize = 50;
/// Longest node B may take to wake its IDLE session before the wake counts as missing.
const WAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The IDLE check's target as the report states it, [`WAKE_TIMEOUT`] included.
const WAKE_TARGET: &str = "every wake, within 10 s";
/// The combined ratio two nodes must reach in every run.
const TARGET: f64 = 1.7;
/// What the report and errors call the nodes.
const NODE_NAMES: [&str; 2] = ["node A", "node B"];

pub fn run(args: NodesArgs) -> anyhow::Result<()> {
    check(&args)?;
    let machine = Machine::probe();
    let (_owned, work) = crate::machine::work_dir(args.work_dir.as_deref())?;
    let cert = Certificate::create(&work.join("tls"))?;
    let placement = Placement::for_cores(machine.cores);
    if let Some(client) = &placement.client {
        client.pin_self()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let tls = cert.connector()?;
    let postgres_version = runtime.block_on(server_version(&args.postgres))?;
    let bench = Bench {
        args: &args,
        runtime: &runtime,
        tls: &tls,
        cert: &cert,
        work: &work,
        placement: &placement,
        machine: &machine,
    };
    let mut runs = Vec::new();
    for run in 0..args.runs {
        println!("run {} of {}", run + 1, args.runs);
        let figures = bench.run_once(run)?;
        println!("  {}", run_line(&figures));
        runs.push(figures);
    }
    let report = Report {
        args: &args,
        machine: &machine,
        placement: &placement,
        postgres_version: &postgres_version,
        runs: &runs,
    };
    publish(&args.report, MARKERS, &report.render(), None)?;
    let broken = broken_promises(&runs);
    anyhow::ensure!(
        broken.is_empty(),
        "two nodes broke what several nodes promise (the report shows it):\n{}",
        broken.join("\n")
    );
    Ok(())
}

/// Refuses arguments and missing programs before any work starts.
fn check(args: &NodesArgs) -> anyhow::Result<()> {
    args.congvu.check()?;
    anyhow::ensure!(
        args.runs >= 1 && args.seconds >= 1,
        "--runs and --seconds must be at least 1"
    );
    anyhow::ensure!(
        args.smtp_sessions >= 1 && args.imap_sessions >= 1,
        "--smtp-sessions and --imap-sessions must be at least 1"
    );
    anyhow::ensure!(
        args.officials >= logins(args),
        "--officials must be at least --imap-sessions + 2 (the IDLE watcher and the submitter)"
    );
    anyhow::ensure!(
        args.postgres.starts_with("postgres://") || args.postgres.starts_with("postgresql://"),
        "--postgres must be a postgres:// URL"
    );
    Ok(())
}

/// Officials who log in: one per fetching session, the IDLE watcher and the submitter.
fn logins(args: &NodesArgs) -> usize {
    args.imap_sessions + 2
}

/// The officials of one run's database, and the roles the first of them play.
#[derive(Debug)]
struct Seeded {
    officials: Vec<Official>,
    /// Each fetching session's official, with [`INBOX_MESSAGES`] in their INBOX.
    readers: Vec<Official>,
    /// Whose INBOX the IDLE check watches on node B.
    watcher: Official,
    /// Who submits the queue check's mail.
    submitter: Official,
}

/// What every step of a run needs.
struct Bench<'a> {
    args: &'a NodesArgs,
    runtime: &'a tokio::runtime::Runtime,
    tls: &'a TlsConnector,
    cert: &'a Certificate,
    work: &'a Path,
    placement: &'a Placement,
    machine: &'a Machine,
}

impl Bench<'_> {
    /// One run on a database of its own, dropped afterwards whatever happened.
    fn run_once(&self, run: usize) -> anyhow::Result<RunFigures> {
        let name = format!("congvu_n1_{}_{run}", std::process::id());
        let database = self
            .runtime
            .block_on(Database::create(&self.args.postgres, &name))?;
        let result = self.on_database(run, &database);
        let dropped = self.runtime.block_on(database.drop_database());
        let figures = result?;
        dropped?;
        Ok(figures)
    }

    fn on_database(&self, run: usize, database: &Database) -> anyhow::Result<RunFigures> {
        let dir = self.work.join(format!("run-{run}"));
        std::fs::create_dir_all(&dir)?;
        let sink = self.runtime.block_on(SmtpSink::builder().start());
        let started = Instant::now();
        let seeded = self.seed(&dir, &database.url, run)?;
        let mut cluster = Cluster::new(self, &dir, &database.url, &sink.smart_host())?;
        cluster.run_nodes(1, self.runtime)?;
        self.fill_inboxes(cluster.node(0).smtp, &seeded)?;
        println!("  seeded in {:.1} s", started.elapsed().as_secs_f64());
        let figures = self.measure(run, &mut cluster, &seeded, &sink);
        let figures = figures.map_err(|e| anyhow::anyhow!("{e:#}\n\n{}", cluster.log_tails()))?;
        cluster.stop_all()?;
        Ok(figures)
    }

    /// Both load phases in this run's order, then the checks with both nodes up.
    fn measure(
        &self,
        run: usize,
        cluster: &mut Cluster,
        seeded: &Seeded,
        sink: &SmtpSink,
    ) -> anyhow::Result<RunFigures> {
        let mut phases: [Option<Phase>; 2] = [None, None];
        for turn in crate::figures::turns(run, 2) {
            let nodes = turn + 1;
            cluster.run_nodes(nodes, self.runtime)?;
            let phase = self.phase(cluster, nodes, seeded, run)?;
            println!("  {}", phase_line(&phase));
            phases[turn] = Some(phase);
        }
        cluster.run_nodes(2, self.runtime)?;
        let queue = self.queue_once(cluster, seeded, sink, run)?;
        let idle = self.idle_across(cluster, seeded)?;
        let [Some(one), Some(two)] = phases else {
            anyhow::bail!("a load phase did not run");
        };
        Ok(RunFigures {
            one,
            two,
            queue,
            idle,
        })
    }

    /// The run's officials from an HR list, and chosen passwords for those who log in.
    fn seed(&self, dir: &Path, url: &str, run: usize) -> anyhow::Result<Seeded> {
        let admin_dir = dir.join("admin");
        std::fs::create_dir_all(&admin_dir)?;
        let config = crate::backup::admin_config(&admin_dir, url)?;
        let admin = &self.args.congvu.admin;
        let officials = crate::admin::import_province(
            admin,
            &config,
            &admin_dir,
            self.args.officials,
            1700 + run as u64,
            "N1",
        )?;
        let logins = &officials[..logins(self.args)];
        crate::imap::set_passwords(admin, &config, logins, self.machine.cores)?;
        let readers = logins[..self.args.imap_sessions].to_vec();
        let [watcher, submitter] = [&logins[logins.len() - 2], &logins[logins.len() - 1]];
        Ok(Seeded {
            watcher: watcher.clone(),
            submitter: submitter.clone(),
            readers,
            officials,
        })
    }
}

/// `127.0.0.1:port`.
fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}
