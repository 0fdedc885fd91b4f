//! I1, I2, I3 and M1: congvu's IMAP service against a private Dovecot, in one run, on the same
//! machine, with the same officials, the same mailbox bytes and the same clients.
//!
//! congvu is seeded the way an administrator would do it, with `congvu-admin` (an HR list
//! import, then chosen passwords for the officials who log in); Dovecot gets the same logins
//! in a passwd-file, with argon2id hashes of the same passwords at the same cost, and keeps
//! its mail in Maildir. Both serve IMAP over implicit TLS on loopback with one certificate
//! made for the run, keep their default durability (congvu: SQLite `synchronous=FULL` before
//! OK; Dovecot: `mail_fsync = optimized`, which syncs each saved message), and are pinned to
//! the last core while the clients run on the others.
//!
//! - I1 seed: `--messages` generated messages (2–50 KiB, mostly Vietnamese, some HTML, a few
//!   with attachments) are appended to one official's INBOX over one connection, the same
//!   bytes on both servers; every stored size is checked afterwards.
//! - I1a: `mbsync` syncs that INBOX into a fresh local Maildir, `--runs` times per server.
//! - I1b: `--sessions` sessions at once each fetch `UID FETCH 1:* (FLAGS RFC822.SIZE
//!   ENVELOPE BODYSTRUCTURE)`, then `FETCH n BODY.PEEK[]` for random n for `--seconds`.
//! - I2 (only when named): `SEARCH TEXT "công văn 2986"` and `SEARCH BODY "ha noi"` in a
//!   `--search-messages` INBOX (50,000) of varied Vietnamese mail with both planted in known
//!   messages, written once as a Maildir the same way as I3's; congvu must find exactly the
//!   planted messages, Dovecot (no FTS, no diacritic folding) has its counts recorded. The
//!   same searches also go to a fourth official of the same Dovecot holding the same Maildir
//!   files with Debian's fts-xapian plugin loaded for that official alone, indexed first by
//!   `doveadm index`.
//! - I3 (only when named): SELECT of a `--large-messages` INBOX (400,000), written once as
//!   a Maildir that `congvu-admin mailbox import` brings into congvu and Dovecot serves as is.
//! - M1: each server restarted, then `--idle` officials logged in with INBOX selected and
//!   (congvu only) `--ldap-idle` LDAP connections bound; resident memory of every process of
//!   the server. The reference is Dovecot alone: slapd and Postfix are not started.
//!
//! Each I1 workload runs on one server at a time, the servers taking turns. This module owns
//! its working directory, the servers it starts (congvu and `dovecot -F` as child processes
//! with their own configuration) and the `imap` section of the report; it never touches the
//! system's Dovecot.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio_rustls::TlsConnector;

use crate::machine::{Machine, Pinning};
use crate::report::publish;
use crate::server::{Binaries, Certificate};

mod client;
mod corpus;
mod large;
mod load;
mod report;
mod seed;
mod servers;
mod text_search;

// The files split one workload: their items are shared within the folder and with its tests.
use client::*;
pub(crate) use client::{open_inbox, untagged_number, ImapSession};
pub(crate) use corpus::corpus_message;
use corpus::*;
use load::*;
use report::*;
use seed::*;
pub(crate) use seed::{chosen_password, set_passwords};
pub(crate) use servers::process_tree;
use servers::*;

#[cfg(test)]
mod tests;

#[derive(Debug, clap::Args)]
pub struct ImapArgs {
    /// Officials in both servers.
    #[arg(long, default_value_t = 10_000)]
    officials: usize,
    /// I1: messages in the mailbox both servers serve.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// I1: runs of each workload on each server; the report gives medians and ranges.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// I1b: sessions fetching at once.
    #[arg(long, default_value_t = 8)]
    sessions: usize,
    /// I1b: seconds each run fetches random messages for.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// M1: idle IMAP connections, each a different official, logged in with INBOX selected.
    #[arg(long, default_value_t = 1_000)]
    idle: usize,
    /// M1: idle LDAP connections to congvu, each bound as a different official.
    #[arg(long, default_value_t = 200)]
    ldap_idle: usize,
    /// I2: messages in the INBOX both servers search.
    #[arg(long, default_value_t = 50_000)]
    search_messages: usize,
    /// I3: messages in the large INBOX both servers SELECT.
    #[arg(long, default_value_t = 400_000)]
    large_messages: usize,
    /// Workloads to run (I2 and I3, the large mailboxes, only when named).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "i1,m1")]
    workloads: Vec<Workload>,
    /// Let servers and clients share every core instead of pinning them apart.
    #[arg(long)]
    no_pin: bool,
    #[command(flatten)]
    congvu: Binaries,
    #[arg(long, default_value = "/usr/sbin/dovecot")]
    dovecot: PathBuf,
    /// I2: builds the FTS official's fts-xapian index before the searches.
    #[arg(long, default_value = "/usr/bin/doveadm")]
    doveadm: PathBuf,
    #[arg(long, default_value = "/usr/bin/mbsync")]
    mbsync: PathBuf,
    /// The servers to measure; the report is written only when both are.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "congvu,dovecot"
    )]
    servers: Vec<ServerKind>,
    /// Working directory for both servers' data (default: a new temporary directory, removed
    /// at the end). It must be empty or absent, and reachable by Dovecot's mail user.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ServerKind {
    Congvu,
    Dovecot,
}

impl ServerKind {
    fn name(self) -> &'static str {
        match self {
            ServerKind::Congvu => "congvu",
            ServerKind::Dovecot => "Dovecot",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    I1,
    M1,
    I2,
    I3,
}

const PEOPLE: &str = "ou=people,dc=vinhphuc,dc=gov,dc=vn";
/// Owner of Dovecot's mail files (`uid=`/`gid=` of its userdb).
const VMAIL_ID: u32 = 5000;
/// A command slower than this counts as a failure rather than hanging the run.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);
/// Logins and selects in flight at once while M1 opens its idle connections.
const OPENING_AT_ONCE: usize = 16;
/// How long M1's connections sit idle before the memory is read.
const M1_SETTLE: Duration = Duration::from_secs(5);
/// The smallest and largest message of the mailbox.
const MESSAGE_BYTES: std::ops::RangeInclusive<usize> = 2 * 1024..=50 * 1024;

pub fn run(args: ImapArgs) -> anyhow::Result<()> {
    check(&args)?;
    let machine = Machine::probe();
    // Dovecot's mail processes (VMAIL_ID) walk into it.
    let (_owned, work) = crate::machine::work_dir(args.work_dir.as_deref())?;
    let cert = Certificate::create(&work.join("tls"))?;

    println!("seeding congvu with {} officials", args.officials);
    let started = Instant::now();
    let ports = Ports::free()?;
    let congvu_config = write_congvu_config(&args, &work, &cert, &ports)?;
    let officials = seed_congvu(&args, &congvu_config, &work)?;
    let logins = login_count(&args);
    println!("giving {logins} of them a chosen password (one congvu-admin call each)");
    set_passwords(
        &args.congvu.admin,
        &congvu_config,
        &officials[..logins],
        machine.cores,
    )?;
    println!("  {:.1} s", started.elapsed().as_secs_f64());
    let dovecot_config = dovecot_if_asked(&args, &work, &cert, &officials, logins, &ports)?;
    let search_import = text_search::prepare_if_asked(&args, &work, &congvu_config, &officials)?;
    let large_import = large::prepare_if_asked(&args, &work, &congvu_config, &officials)?;
    let corpus = if args.workloads.contains(&Workload::I1) {
        println!("generating {} messages", args.messages);
        Corpus::generate(args.messages, &officials[0])?
    } else {
        Corpus::default()
    };

    // Seeding used every core; from here the servers get the last core and the clients the
    // rest, so neither steals the other's CPU and CPU per message stays comparable.
    let pin = (!args.no_pin && machine.cores >= 2).then(|| Pinning::split(machine.cores));
    if let Some(pin) = &pin {
        pin.pin_self()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let tls = cert.connector()?;

    let launch = Launch {
        args: &args,
        work: &work,
        congvu_config: &congvu_config,
        dovecot_config: dovecot_config.as_deref(),
        ports: &ports,
        pin: pin.as_ref().map(|p| p.server.clone()),
        ticks: machine.ticks,
    };
    let (mut servers, unavailable) = launch.start_all(&runtime, &tls)?;

    let bench = Bench {
        args: &args,
        runtime: &runtime,
        tls: &tls,
        officials: &officials,
        corpus: &corpus,
        work: &work,
        cert: &cert,
        large_import,
        search_import,
        dovecot_config: dovecot_config.as_deref(),
    };
    let figures = bench.measure(&mut servers).map_err(|e| {
        let tails: Vec<String> = servers
            .iter()
            .map(|s| format!("{}'s log ends with:\n{}", s.kind.name(), s.log_tail()))
            .collect();
        anyhow::anyhow!("{e:#}\n\n{}", tails.join("\n\n"))
    })?;
    drop(servers);

    write_report(
        &args,
        &machine,
        pin.is_some(),
        &corpus,
        &figures,
        &unavailable,
    )
}

/// Prints the report, and writes it to the report file when both servers were measured.
fn write_report(
    args: &ImapArgs,
    machine: &Machine,
    pinned: bool,
    corpus: &Corpus,
    figures: &[Figures],
    unavailable: &[(ServerKind, String)],
) -> anyhow::Result<()> {
    let report = Report {
        args,
        machine,
        pinned,
        corpus,
        figures,
        unavailable,
    };
    let section = report.render();
    let measured = |kind| figures.iter().any(|f| f.kind == kind);
    let both = measured(ServerKind::Congvu) && measured(ServerKind::Dovecot);
    let withheld = (!both).then_some("it needs both servers measured");
    publish(&args.report, MARKERS, &section, withheld)
}

/// The servers that answered, and those that refused IMAP with what they said.
type Started = (Vec<Server>, Vec<(ServerKind, String)>);

/// What starting the servers under test needs.
struct Launch<'a> {
    args: &'a ImapArgs,
    work: &'a Path,
    congvu_config: &'a Path,
    dovecot_config: Option<&'a Path>,
    ports: &'a Ports,
    /// The core the servers run on, when pinned.
    pin: Option<String>,
    ticks: f64,
}

impl Launch<'_> {
    /// Starts each server asked for and waits for its greeting; a server that refuses IMAP
    /// is listed with what it said, and the run goes on without it.
    fn start_all(
        &self,
        runtime: &tokio::runtime::Runtime,
        tls: &TlsConnector,
    ) -> anyhow::Result<Started> {
        let mut servers = Vec::new();
        let mut unavailable = Vec::new();
        for &kind in &self.args.servers {
            let mut server = self.server(kind)?;
            server.start()?;
            match runtime.block_on(server.wait_ready(tls))? {
                Greeting::Ready => servers.push(server),
                Greeting::Refused(text) => {
                    println!("{}: IMAP not available: {text}", kind.name());
                    unavailable.push((kind, text));
                }
            }
        }
        Ok((servers, unavailable))
    }

    /// A server of `kind`, not started.
    fn server(&self, kind: ServerKind) -> anyhow::Result<Server> {
        let server = match kind {
            ServerKind::Congvu => Server {
                kind,
                binary: self.args.congvu.server.clone(),
                arguments: vec!["--config".into(), self.congvu_config.to_path_buf().into()],
                log: self.work.join("congvu.log"),
                imaps: loopback(self.ports.congvu_imaps),
                ldap: Some(loopback(self.ports.congvu_ldap)),
                pin: self.pin.clone(),
                process: None,
                ticks: self.ticks,
            },
            ServerKind::Dovecot => Server {
                kind,
                binary: self.args.dovecot.clone(),
                arguments: vec![
                    "-F".into(),
                    "-c".into(),
                    self.dovecot_config
                        .context("Dovecot was not configured")?
                        .to_path_buf()
                        .into(),
                ],
                log: self.work.join("dovecot.log"),
                imaps: loopback(self.ports.dovecot_imaps),
                ldap: None,
                pin: self.pin.clone(),
                process: None,
                ticks: self.ticks,
            },
        };
        Ok(server)
    }
}

/// Refuses arguments and missing programs before any work starts.
fn check(args: &ImapArgs) -> anyhow::Result<()> {
    args.congvu.check()?;
    if args.servers.contains(&ServerKind::Dovecot) {
        anyhow::ensure!(
            args.dovecot.exists(),
            "{} not found: apt-get install dovecot-imapd",
            args.dovecot.display()
        );
        anyhow::ensure!(
            nix::unistd::geteuid().is_root(),
            "a private Dovecot instance must be started as root (its processes switch to \
             their own users); run as root or with --servers congvu"
        );
    }
    if args.servers.contains(&ServerKind::Dovecot) && args.workloads.contains(&Workload::I2) {
        for (path, package) in [
            (args.doveadm.as_path(), "dovecot-core"),
            (
                Path::new(text_search::fts::FTS_XAPIAN_PLUGIN),
                "dovecot-fts-xapian",
            ),
        ] {
            anyhow::ensure!(
                path.exists(),
                "{} not found: apt-get install {package} (I2 compares with Dovecot's FTS)",
                path.display()
            );
        }
    }
    if args.workloads.contains(&Workload::I1) {
        anyhow::ensure!(
            args.mbsync.exists(),
            "{} not found: apt-get install isync",
            args.mbsync.display()
        );
    }
    anyhow::ensure!(
        args.messages >= 1 && args.runs >= 1 && args.sessions >= 1 && args.seconds >= 1,
        "--messages, --runs, --sessions and --seconds must be at least 1"
    );
    anyhow::ensure!(
        !args.workloads.contains(&Workload::I2) || args.search_messages >= 1,
        "--search-messages must be at least 1"
    );
    anyhow::ensure!(
        args.officials >= login_count(args),
        "--officials must be at least --idle and --ldap-idle, and 4 with i2 (2 with i3)"
    );
    Ok(())
}

/// Officials who log in: the mailboxes' owners (I1's the first, I3's the second, I2's the
/// third, and the fourth its copy searched through Dovecot's FTS), and for M1 one per idle
/// connection.
fn login_count(args: &ImapArgs) -> usize {
    let owners = if args.workloads.contains(&Workload::I2) {
        4
    } else if args.workloads.contains(&Workload::I3) {
        2
    } else {
        1
    };
    if args.workloads.contains(&Workload::M1) {
        args.idle.max(args.ldap_idle).max(owners)
    } else {
        owners
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}
