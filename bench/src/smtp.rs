//! S1–S3: congvu's SMTP service against a private Postfix that delivers to Maildir, in one
//! run, on the same machine, with the same officials, the same messages and the same client.
//!
//! congvu is seeded the way an administrator would do it, with `congvu-admin` (an HR list
//! import and, for S3, a distribution list holding every official); Postfix gets the same
//! addresses as virtual mailboxes (`virtual_mailbox_maps`, one Maildir each, created up front
//! as congvu's mailboxes are) and the list as a virtual alias. Both listen on loopback, keep
//! their default durability (congvu: SQLite `synchronous=FULL` before 250; Postfix: fsync of
//! the queue file before 250 and of each Maildir file before it is delivered), and are pinned
//! to the last core while this client runs on the others. Each workload runs `--runs` times
//! on each server, the servers alternating:
//!
//! - S1: `--sessions` parallel sessions send `--messages` messages of `--length` payload
//!   bytes, each on a new connection, spread round-robin over the first `--mailboxes`
//!   officials. The session is smtp-source's, byte for byte (HELO, MAIL, RCPT, DATA, the same
//!   four headers and payload, QUIT); smtp-source itself cannot spread recipients (`-t` names
//!   one address; `-r` and `-N` only prepend numbers to it), so this client sends them. For
//!   Postfix, whose 250 comes before delivery, the run also waits until every message is a
//!   file in its Maildir. A cross-check runs Postfix's own `smtp-source` with the same
//!   parameters against one mailbox on both servers.
//! - S2: the same messages at a fixed rate, half of the server's own S1 median, recording the
//!   time from the final `<CRLF>.<CRLF>` to the 250.
//! - S3: one 1 MiB circular to every official in one session; the time from connecting until
//!   every official can read it (congvu: the 250 after DATA; Postfix: every Maildir file in
//!   place) and the bytes the servers' storage grew by.
//!
//! congvu's acknowledged messages are counted in its INBOXes through the store afterwards.
//! This module owns its working directory, the servers it starts (congvu as a child process,
//! Postfix as a private instance with its own configuration, queue and data directories) and
//! the `smtp` section of the report; it never touches the system's Postfix.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::mailstore::MailboxRole;
use congvu::store::{Store, StoreOptions};
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::admin::Official;
use crate::figures::{
    bytes, median, microseconds, milliseconds, per_second, percentile, ratio, seconds, spreads,
    times, turns,
};
use crate::machine::{
    field, free_port, pinned, proc_stat, set_mode, Machine, Pinning, CSTIME, CUTIME, PPID, STIME,
    UTIME,
};
use crate::process::version;
use crate::report::{placement, publish, table, unavailable, user_arguments, Markers, Row};
use crate::server::{congvu_command, congvu_db_url, Binaries, Config, Process, DOMAIN, HOSTNAME};

#[derive(Debug, clap::Args)]
pub struct SmtpArgs {
    /// Officials in both servers; S3's circular goes to every one of them.
    #[arg(long, default_value_t = 8_300)]
    officials: usize,
    /// Mailboxes S1 and S2 spread their messages over (the first officials).
    #[arg(long, default_value_t = 1_000)]
    mailboxes: usize,
    /// S1: sessions at once (smtp-source -s).
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    /// S1: messages per run (smtp-source -m).
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// S1, S2: payload bytes of each message after its headers (smtp-source -l).
    #[arg(long, default_value_t = 4096)]
    length: usize,
    /// Runs of each workload on each server; the report gives medians and ranges.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// S2: seconds each fixed-rate run sends for.
    #[arg(long, default_value_t = 20)]
    rate_seconds: u64,
    /// S2: seconds at the start of each run left out of the latencies.
    #[arg(long, default_value_t = 2)]
    rate_warmup: u64,
    /// S2: sessions that may be open at once; a message due while all are busy starts late.
    #[arg(long, default_value_t = 100)]
    rate_sessions: usize,
    /// S3: size of the circular in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    circular_bytes: usize,
    /// S3: how the circular reaches every official, the same way on both servers: one
    /// distribution list address, or one RCPT TO per official.
    #[arg(long, value_enum, default_value = "list")]
    circular_to: CircularTo,
    /// Workloads to run; S2 needs S1's rate from the same run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "s1,s2,s3")]
    workloads: Vec<Workload>,
    /// The servers to measure; the report is written only when both are.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "congvu,postfix"
    )]
    servers: Vec<ServerKind>,
    /// Skip S1's cross-check with Postfix's smtp-source.
    #[arg(long)]
    no_smtp_source: bool,
    #[command(flatten)]
    programs: Programs,
    #[arg(long, default_value = "/usr/sbin/smtp-source")]
    smtp_source: PathBuf,
    /// Working directory for both servers' data (default: a new temporary directory, removed
    /// at the end). It must be empty or absent, and reachable by the `postfix` user.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

/// The programs an SMTP benchmark runs, and where they run.
#[derive(Debug, clap::Args)]
pub(crate) struct Programs {
    /// Let servers and client share every core instead of pinning them apart.
    #[arg(long)]
    pub(crate) no_pin: bool,
    #[command(flatten)]
    pub(crate) congvu: Binaries,
    #[arg(long, default_value = "/usr/sbin/postfix")]
    pub(crate) postfix: PathBuf,
    #[arg(long, default_value = "/usr/sbin/postmap")]
    pub(crate) postmap: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ServerKind {
    Congvu,
    Postfix,
}

impl ServerKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ServerKind::Congvu => "congvu",
            ServerKind::Postfix => "Postfix",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    S1,
    S2,
    S3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CircularTo {
    /// One RCPT TO naming a distribution list of every official.
    List,
    /// One RCPT TO per official.
    Rcpt,
}

/// The envelope and header sender of every message: mail from outside, as an MX receives it.
pub(crate) const SENDER: &str = "sender@example.org";
/// What the client calls itself in HELO.
pub(crate) const CLIENT_NAME: &str = "bench.example.org";
/// The distribution list holding every official, on both servers.
const LIST_NAME: &str = "toanthe";
/// Owner of the Maildir files Postfix's virtual(8) writes (`virtual_uid_maps = static:…`).
const VMAIL_ID: u32 = 5000;
/// A session step slower than this counts as a failure rather than hanging the run.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the Maildirs are looked at while waiting for Postfix to deliver.
const DELIVERY_POLL: Duration = Duration::from_millis(20);

pub fn run(args: SmtpArgs) -> anyhow::Result<()> {
    check(&args)?;
    let machine = Machine::probe();
    let (_owned, work) = work_dir(args.work_dir.as_deref())?;

    println!("seeding congvu with {} officials", args.officials);
    let started = Instant::now();
    let congvu_port = free_port()?;
    let congvu_config = write_congvu_config(
        &work,
        "congvu.toml",
        &CongvuSettings {
            smtp_port: congvu_port,
            http_port: 0,
            recipients: recipient_limit(&args),
            authentication: "off",
            extra: "",
        },
    )?;
    let officials = seed_congvu(&args, &congvu_config, &work)?;
    println!("  {:.1} s", started.elapsed().as_secs_f64());
    seed_list_if_wanted(&args, &congvu_config, &officials)?;
    let postfix_setup = if args.servers.contains(&ServerKind::Postfix) {
        println!("configuring a private Postfix with the same addresses");
        Some(seed_postfix(
            &args.programs.postmap,
            &work,
            &officials,
            recipient_limit(&args),
            "",
        )?)
    } else {
        None
    };

    // Seeding used every core; from here the servers get the last core and the client the
    // rest, so neither steals the other's CPU and CPU per message stays comparable.
    let pin = (!args.programs.no_pin && machine.cores >= 2).then(|| Pinning::split(machine.cores));
    if let Some(pin) = &pin {
        pin.pin_self()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let congvu = Congvu::new(
        args.programs.congvu.server.clone(),
        (congvu_config.clone(), &work),
        congvu_port,
        pin.as_ref().map(|p| p.server.clone()),
        machine.ticks,
    );
    let postfix = postfix_setup.map(|setup| {
        let core = pin.as_ref().map(|p| p.server.clone());
        Postfix::new(args.programs.postfix.clone(), setup, core, machine.ticks)
    });
    let (mut servers, unavailable) = start_servers(&args.servers, Some(congvu), postfix, &runtime)?;

    let mut bench = Bench {
        args: &args,
        runtime: &runtime,
        officials: &officials,
        congvu_db: congvu_db_url(&work),
        ticks: machine.ticks,
        expected_congvu: HashMap::new(),
    };
    let figures = bench.measure(&mut servers).map_err(|e| {
        let tails: Vec<String> = servers
            .iter()
            .map(|s| format!("{}'s log ends with:\n{}", s.kind().name(), s.log_tail()))
            .collect();
        anyhow::anyhow!("{e:#}\n\n{}", tails.join("\n\n"))
    })?;
    drop(servers);

    write_report(&args, &machine, pin.is_some(), &figures, &unavailable)
}

/// S3 to a list: congvu's list of every official, made once before the runs.
fn seed_list_if_wanted(
    args: &SmtpArgs,
    congvu_config: &Path,
    officials: &[Official],
) -> anyhow::Result<()> {
    let wants_list = args.workloads.contains(&Workload::S3)
        && args.circular_to == CircularTo::List
        && args.servers.contains(&ServerKind::Congvu);
    if wants_list {
        println!(
            "adding the {} officials to the list {LIST_NAME}@{DOMAIN} (one congvu-admin call each)",
            officials.len()
        );
        let started = Instant::now();
        seed_congvu_list(args, congvu_config, officials)?;
        println!("  {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The servers that answered, and those that refused SMTP with what they said.
type Started = (Vec<Server>, Vec<(ServerKind, String)>);

/// Starts each server of `kinds` and waits for its greeting; a server that refuses SMTP is
/// listed with what it said, and the run goes on without it.
fn start_servers(
    kinds: &[ServerKind],
    mut congvu: Option<Congvu>,
    mut postfix: Option<Postfix>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Started> {
    let mut servers = Vec::new();
    let mut unavailable = Vec::new();
    for &kind in kinds {
        let mut server = match kind {
            ServerKind::Congvu => Server::Congvu(congvu.take().context("congvu listed twice")?),
            ServerKind::Postfix => {
                Server::Postfix(postfix.take().context("Postfix was not configured")?)
            }
        };
        server.start()?;
        match runtime.block_on(server.wait_ready())? {
            Greeting::Ready => servers.push(server),
            Greeting::Refused(text) => {
                println!("{}: SMTP not available: {text}", kind.name());
                unavailable.push((kind, text));
            }
        }
    }
    Ok((servers, unavailable))
}

/// Prints the report, and writes it to the report file when both servers were measured.
fn write_report(
    args: &SmtpArgs,
    machine: &Machine,
    pinned: bool,
    figures: &[Figures],
    unavailable: &[(ServerKind, String)],
) -> anyhow::Result<()> {
    let report = Report {
        args,
        machine,
        pinned,
        figures,
        unavailable,
    };
    let section = report.render();
    let measured = |kind| figures.iter().any(|f| f.kind == kind);
    let both = measured(ServerKind::Congvu) && measured(ServerKind::Postfix);
    let withheld = (!both).then_some("it needs both servers measured");
    publish(&args.report, MARKERS, &section, withheld)
}

/// Refuses to start without the congvu binaries a benchmark runs.
/// Refuses arguments and missing programs before any work starts.
fn check(args: &SmtpArgs) -> anyhow::Result<()> {
    args.programs.congvu.check()?;
    if args.servers.contains(&ServerKind::Postfix) {
        for path in [&args.programs.postfix, &args.programs.postmap] {
            anyhow::ensure!(
                path.exists(),
                "{} not found: apt-get install postfix",
                path.display()
            );
        }
        anyhow::ensure!(
            nix::unistd::geteuid().is_root(),
            "a private Postfix instance must be started as root (its daemons switch to the \
             postfix user); run as root or with --servers congvu"
        );
    }
    anyhow::ensure!(
        args.mailboxes >= 1 && args.mailboxes <= args.officials,
        "--mailboxes must be between 1 and --officials"
    );
    anyhow::ensure!(
        args.sessions >= 1 && args.messages >= 1 && args.runs >= 1 && args.rate_sessions >= 1,
        "--sessions, --messages, --runs and --rate-sessions must be at least 1"
    );
    anyhow::ensure!(
        args.rate_seconds > args.rate_warmup,
        "--rate-seconds must be longer than --rate-warmup"
    );
    anyhow::ensure!(
        !args.workloads.contains(&Workload::S2) || args.workloads.contains(&Workload::S1),
        "S2 runs at half of S1's rate measured in the same run: add s1 to --workloads"
    );
    anyhow::ensure!(
        args.length >= 80 && args.circular_bytes >= 4096,
        "--length must be at least 80 and --circular-bytes at least 4096"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The machine

/// The working directory `--work-dir` names, which must be empty or absent, or a new
/// temporary one that the first value removes when dropped; the reference servers' daemons
/// (Postfix's, Dovecot's mail processes) can walk into either.
pub(crate) fn work_dir(
    asked: Option<&Path>,
) -> anyhow::Result<(Option<tempfile::TempDir>, PathBuf)> {
    let (owned, work) = match asked {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            anyhow::ensure!(
                std::fs::read_dir(dir)?.next().is_none(),
                "--work-dir {} is not empty",
                dir.display()
            );
            (None, dir.canonicalize()?)
        }
        None => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    };
    set_mode(&work, 0o755)?;
    Ok((owned, work))
}

/// Bytes of every file and directory under `path`, as `du -sb` counts them.
fn tree_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = meta.len();
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                total += tree_bytes(&entry.path());
            }
        }
    }
    total
}

// ---------------------------------------------------------------------------------------
// Seeding

/// What differs between the congvu configurations the benchmarks start.
pub(crate) struct CongvuSettings<'a> {
    pub(crate) smtp_port: u16,
    /// The HTTP listener (`/metrics`); 0 for any free port.
    pub(crate) http_port: u16,
    /// Recipients one message may have.
    pub(crate) recipients: usize,
    /// `[inbound] authentication`: `"off"` or `"enforce"`.
    pub(crate) authentication: &'a str,
    /// Further sections, appended as they are (`[dns]`, `[filter.…]`).
    pub(crate) extra: &'a str,
}

/// Writes `name` under `dir`: a configuration whose data directory is `dir/congvu-data`,
/// shared by every configuration written under the same `dir`.
pub(crate) fn write_congvu_config(
    dir: &Path,
    name: &str,
    settings: &CongvuSettings<'_>,
) -> anyhow::Result<PathBuf> {
    let CongvuSettings {
        smtp_port,
        http_port,
        recipients,
        authentication,
        extra,
    } = settings;
    // Every listener but the MX one on a free port nobody uses. The log level stays at its
    // default, as Postfix logs every message to its maillog. Recipients per message and
    // connections per address are raised to what the workloads need, the same on Postfix.
    let extra = format!("[inbound]\nauthentication = \"{authentication}\"\n\n{extra}");
    Config {
        smtp: *smtp_port,
        max_recipients: Some(*recipients),
        http: *http_port,
        extra: &extra,
        ..Config::default()
    }
    .write(dir, name)
}

/// Recipients one message may have on both servers: the default 1000, or every official
/// when S3 names each of them.
fn recipient_limit(args: &SmtpArgs) -> usize {
    args.officials.max(1000)
}

fn seed_congvu(args: &SmtpArgs, config: &Path, dir: &Path) -> anyhow::Result<Vec<Official>> {
    let officials = crate::admin::import_province(
        &args.programs.congvu.admin,
        config,
        dir,
        args.officials,
        5321,
        "SMTP",
    )?;
    Ok(officials)
}

/// The distribution list of every official, as an administrator adds it: the list, then
/// one `group add-member` per official, a few at a time (each call spends most of its time
/// starting up and waiting for its commit, not on a core).
fn seed_congvu_list(args: &SmtpArgs, config: &Path, officials: &[Official]) -> anyhow::Result<()> {
    let address = format!("{LIST_NAME}@{DOMAIN}");
    crate::admin::run(
        &args.programs.congvu.admin,
        config,
        &[
            "group",
            "add",
            LIST_NAME,
            "--display-name",
            "Toàn thể cán bộ",
            "--list",
            "--address",
            &address,
        ],
        None,
    )?;
    let next = AtomicUsize::new(0);
    let added = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(official) = officials.get(i) else {
                        return anyhow::Ok(());
                    };
                    add_member(args, config, &official.login)?;
                    let n = added.fetch_add(1, Ordering::Relaxed) + 1;
                    if n % 1000 == 0 {
                        println!("  {n} members");
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a group add-member thread panicked"))?
        })
    })
}

/// `group add-member`, retried when SQLite answers "database is locked" to one of several
/// congvu-admin processes writing at once instead of waiting its turn.
fn add_member(args: &SmtpArgs, config: &Path, login: &str) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        let result = crate::admin::run(
            &args.programs.congvu.admin,
            config,
            &["group", "add-member", LIST_NAME, "--user", login],
            None,
        );
        match result {
            Err(e) if attempts < 20 && format!("{e}").contains("database is locked") => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20 * attempts));
            }
            other => return other.map(drop),
        }
    }
}

/// Where the private Postfix instance keeps everything.
#[derive(Debug, Clone)]
pub(crate) struct PostfixSetup {
    /// `config_directory`: main.cf, master.cf and the lookup tables.
    pub(crate) config: PathBuf,
    pub(crate) queue: PathBuf,
    /// `virtual_mailbox_base`: one `LOGIN/Maildir/` per official.
    pub(crate) maildir: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) addr: SocketAddr,
    /// The Maildir `new/` folder of each official, in the order of the officials.
    pub(crate) inboxes: Vec<PathBuf>,
}

/// A private Postfix's configuration under `dir` with a virtual mailbox per official;
/// `extra` is appended to main.cf as it is (e.g. milters).
pub(crate) fn seed_postfix(
    postmap: &Path,
    dir: &Path,
    officials: &[Official],
    limit: usize,
    extra: &str,
) -> anyhow::Result<PostfixSetup> {
    let config = dir.join("postfix");
    let queue = dir.join("postfix-queue");
    let data = dir.join("postfix-data");
    let maildir = dir.join("maildir");
    let log = dir.join("postfix.log");
    for d in [&config, &queue, &data, &maildir] {
        std::fs::create_dir_all(d)?;
        set_mode(d, 0o755)?;
    }
    let postfix_user = nix::unistd::User::from_name("postfix")?
        .context("no `postfix` user: apt-get install postfix")?;
    std::os::unix::fs::chown(&data, Some(postfix_user.uid.as_raw()), None)?;
    std::os::unix::fs::chown(&maildir, Some(VMAIL_ID), Some(VMAIL_ID))?;
    let port = free_port()?;
    let paths = PostfixPaths {
        dir,
        config: &config,
        queue: &queue,
        data: &data,
        maildir: &maildir,
        log: &log,
    };
    std::fs::write(
        config.join("main.cf"),
        postfix_main_cf(&paths, limit, extra),
    )?;
    // Postfix's stock services with chroot off (a chroot would need copies of /etc files),
    // and smtpd on a loopback port of its own.
    std::fs::write(config.join("master.cf"), postfix_master_cf(port))?;
    let inboxes = postfix_mailboxes(postmap, &config, &maildir, officials)?;
    Ok(PostfixSetup {
        config,
        queue,
        maildir,
        log,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        inboxes,
    })
}

/// Where a private Postfix keeps its configuration, queue, data, mail and log.
struct PostfixPaths<'a> {
    dir: &'a Path,
    config: &'a Path,
    queue: &'a Path,
    data: &'a Path,
    maildir: &'a Path,
    log: &'a Path,
}

/// main.cf: defaults everywhere durability and delivery are concerned; only paths, the
/// listener, the virtual domain and the limits the workloads need (the same on congvu) are
/// set.
fn postfix_main_cf(paths: &PostfixPaths<'_>, limit: usize, extra: &str) -> String {
    format!(
        "compatibility_level = 3.6\n\
         queue_directory = {queue}\n\
         data_directory = {data}\n\
         mail_owner = postfix\n\
         setgid_group = postdrop\n\
         myhostname = {HOSTNAME}\n\
         mydestination =\n\
         inet_interfaces = loopback-only\n\
         inet_protocols = ipv4\n\
         mynetworks = 127.0.0.0/8\n\
         alias_maps =\n\
         alias_database =\n\
         biff = no\n\
         maillog_file = {log}\n\
         maillog_file_prefixes = {dir}\n\
         virtual_mailbox_domains = {DOMAIN}\n\
         virtual_mailbox_maps = hash:{config}/vmailbox\n\
         virtual_alias_maps = hash:{config}/valias\n\
         virtual_mailbox_base = {maildir}\n\
         virtual_uid_maps = static:{VMAIL_ID}\n\
         virtual_gid_maps = static:{VMAIL_ID}\n\
         smtpd_relay_restrictions = reject_unauth_destination\n\
         smtpd_recipient_restrictions = permit_auth_destination, reject\n\
         smtpd_client_connection_count_limit = 1000\n\
         smtpd_recipient_limit = {limit}\n\
         virtual_alias_expansion_limit = {limit}\n\
         message_size_limit = 52428800\n\
         virtual_mailbox_limit = 52428800\n\
         {extra}",
        queue = paths.queue.display(),
        data = paths.data.display(),
        log = paths.log.display(),
        dir = paths.dir.display(),
        config = paths.config.display(),
        maildir = paths.maildir.display(),
    )
}

/// master.cf: Postfix's stock services with chroot off, and smtpd on `port`.
fn postfix_master_cf(port: u16) -> String {
    format!(
        "127.0.0.1:{port} inet n - n - - smtpd\n\
         pickup     unix  n - n 60 1 pickup\n\
         cleanup    unix  n - n - 0 cleanup\n\
         qmgr       unix  n - n 300 1 qmgr\n\
         tlsmgr     unix  - - n 1000? 1 tlsmgr\n\
         rewrite    unix  - - n - - trivial-rewrite\n\
         bounce     unix  - - n - 0 bounce\n\
         defer      unix  - - n - 0 bounce\n\
         trace      unix  - - n - 0 bounce\n\
         verify     unix  - - n - 1 verify\n\
         flush      unix  n - n 1000? 0 flush\n\
         proxymap   unix  - - n - - proxymap\n\
         proxywrite unix  - - n - 1 proxymap\n\
         smtp       unix  - - n - - smtp\n\
         relay      unix  - - n - - smtp\n\
         showq      unix  n - n - - showq\n\
         error      unix  - - n - - error\n\
         retry      unix  - - n - - error\n\
         discard    unix  - - n - - discard\n\
         local      unix  - n n - - local\n\
         virtual    unix  - n n - - virtual\n\
         lmtp       unix  - - n - - lmtp\n\
         anvil      unix  - - n - 1 anvil\n\
         scache     unix  - - n - 1 scache\n\
         postlog    unix-dgram n - n - 1 postlogd\n"
    )
}

/// A Maildir per official, the virtual mailbox and alias maps, compiled with `postmap`;
/// returns each official's `new/` folder.
fn postfix_mailboxes(
    postmap: &Path,
    config: &Path,
    maildir: &Path,
    officials: &[Official],
) -> anyhow::Result<Vec<PathBuf>> {
    let mut vmailbox = String::new();
    let mut members = Vec::with_capacity(officials.len());
    let mut inboxes = Vec::with_capacity(officials.len());
    for official in officials {
        vmailbox.push_str(&format!(
            "{} {}/Maildir/\n",
            official.address, official.login
        ));
        members.push(official.address.as_str());
        // congvu creates every official's mailboxes at import; Postfix's Maildirs are
        // created up front too, so neither pays for it during a run.
        let home = maildir.join(&official.login).join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            let d = home.join(sub);
            std::fs::create_dir_all(&d)?;
            std::os::unix::fs::chown(&d, Some(VMAIL_ID), Some(VMAIL_ID))?;
        }
        for d in [&home, &maildir.join(&official.login)] {
            std::os::unix::fs::chown(d, Some(VMAIL_ID), Some(VMAIL_ID))?;
            set_mode(d, 0o700)?;
        }
        inboxes.push(home.join("new"));
    }
    std::fs::write(config.join("vmailbox"), vmailbox)?;
    std::fs::write(
        config.join("valias"),
        format!("{LIST_NAME}@{DOMAIN} {}\n", members.join(",")),
    )?;
    for table in ["vmailbox", "valias"] {
        let out = Command::new(postmap)
            .arg("-c")
            .arg(config)
            .arg(format!("hash:{}", config.join(table).display()))
            .output()
            .context("while running postmap")?;
        anyhow::ensure!(
            out.status.success(),
            "postmap {table} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(inboxes)
}

// ---------------------------------------------------------------------------------------
// The servers

/// What a server said when a client connected.
#[derive(Debug)]
pub(crate) enum Greeting {
    Ready,
    /// Anything but 220, e.g. `421 … Service not available`.
    Refused(String),
}

/// A server under test; stopped when dropped.
#[derive(Debug)]
pub(crate) enum Server {
    Congvu(Congvu),
    Postfix(Postfix),
}

impl Server {
    pub(crate) fn kind(&self) -> ServerKind {
        match self {
            Server::Congvu(_) => ServerKind::Congvu,
            Server::Postfix(_) => ServerKind::Postfix,
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        match self {
            Server::Congvu(c) => c.addr,
            Server::Postfix(p) => p.setup.addr,
        }
    }

    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        match self {
            Server::Congvu(c) => c.start(),
            Server::Postfix(p) => p.start(),
        }
    }

    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        match self {
            Server::Congvu(c) => c.stop(),
            Server::Postfix(p) => p.stop(),
        }
    }

    /// Server CPU time used so far: the congvu process, or every Postfix process.
    pub(crate) fn cpu(&self) -> Duration {
        match self {
            Server::Congvu(c) => c.cpu(),
            Server::Postfix(p) => p.cpu(),
        }
    }

    pub(crate) fn log_tail(&self) -> String {
        let log = match self {
            Server::Congvu(c) => &c.log,
            Server::Postfix(p) => &p.setup.log,
        };
        crate::process::log_tail(log)
    }

    /// Waits until the server greets a client, or gives up after a minute.
    pub(crate) async fn wait_ready(&mut self) -> anyhow::Result<Greeting> {
        match self {
            Server::Congvu(c) => c.wait_ready().await,
            Server::Postfix(p) => await_greeting("Postfix", p.setup.addr, || Ok(())).await,
        }
    }
}

/// Waits until `addr` greets a client, checking `alive` between attempts; gives up after a
/// minute.
async fn await_greeting(
    name: &str,
    addr: SocketAddr,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Greeting> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        alive()?;
        match greeting(addr).await {
            Ok(Reply { code: 220, .. }) => return Ok(Greeting::Ready),
            Ok(reply) => return Ok(Greeting::Refused(reply.text)),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{name} did not greet on {addr} within 60 s: {last}")
}

/// congvu-server as a child process.
#[derive(Debug)]
pub(crate) struct Congvu {
    pub(crate) binary: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) data_dir: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) addr: SocketAddr,
    pub(crate) pin: Option<String>,
    pub(crate) process: Option<Process>,
    pub(crate) ticks: f64,
}

impl Congvu {
    /// congvu-server `binary` with its configuration, its data and log under `work`, on the
    /// SMTP `port`, not started.
    pub(crate) fn new(
        binary: PathBuf,
        (config, work): (PathBuf, &Path),
        port: u16,
        pin: Option<String>,
        ticks: f64,
    ) -> Congvu {
        Congvu {
            binary,
            config,
            data_dir: work.join("congvu-data"),
            log: work.join("congvu.log"),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            pin,
            process: None,
            ticks,
        }
    }

    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        let command = congvu_command(&self.binary, &self.config, self.pin.as_deref());
        self.process = Some(Process::start("congvu-server", command, self.log.clone())?);
        Ok(())
    }

    /// SIGTERM, then a graceful shutdown that closes the database; SIGKILL after 60 s.
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        match self.process.take() {
            Some(mut process) => process.stop(Duration::from_secs(60)),
            None => Ok(()),
        }
    }

    pub(crate) async fn wait_ready(&mut self) -> anyhow::Result<Greeting> {
        let process = self
            .process
            .as_mut()
            .context("congvu-server is not running")?;
        await_greeting("congvu", self.addr, || process.check_running()).await
    }

    pub(crate) fn cpu(&self) -> Duration {
        let pid = self.process.as_ref().and_then(Process::pid);
        let Some(stat) = pid.and_then(proc_stat) else {
            return Duration::ZERO;
        };
        Duration::from_secs_f64((field(&stat, UTIME) + field(&stat, STIME)) as f64 / self.ticks)
    }
}

/// A private Postfix instance: `postfix -c DIR start`, whose master daemonizes.
#[derive(Debug)]
pub(crate) struct Postfix {
    pub(crate) postfix: PathBuf,
    pub(crate) setup: PostfixSetup,
    pub(crate) pin: Option<String>,
    pub(crate) master: Option<u32>,
    pub(crate) ticks: f64,
    /// How much of the maillog has been looked at for delivery trouble.
    pub(crate) log_seen: std::cell::Cell<u64>,
}

impl Postfix {
    pub(crate) fn new(
        postfix: PathBuf,
        setup: PostfixSetup,
        pin: Option<String>,
        ticks: f64,
    ) -> Postfix {
        Postfix {
            postfix,
            setup,
            pin,
            master: None,
            ticks,
            log_seen: std::cell::Cell::new(0),
        }
    }

    fn control(&self, action: &str) -> anyhow::Result<std::process::Output> {
        // The master and every daemon it starts inherit the server core.
        let mut command = pinned(&self.postfix, self.pin.as_deref());
        command
            .arg("-c")
            .arg(&self.setup.config)
            .arg(action)
            .output()
            .with_context(|| format!("while running postfix {action}"))
    }

    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        let out = self.control("start")?;
        anyhow::ensure!(
            out.status.success(),
            "postfix start failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let pid_file = self.setup.queue.join("pid/master.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("while reading {}", pid_file.display()))?;
        self.master = Some(
            pid.trim()
                .parse()
                .with_context(|| format!("{} holds {pid:?}", pid_file.display()))?,
        );
        Ok(())
    }

    /// `postfix stop`, then `postfix abort` if the master is still there after 30 s.
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        let Some(master) = self.master.take() else {
            return Ok(());
        };
        let _ = self.control("stop");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !Path::new(&format!("/proc/{master}")).exists() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.control("abort");
        anyhow::bail!("the Postfix master did not stop within 30 s")
    }

    /// The master's own and reaped children's time, plus its live daemons' time. Every
    /// Postfix process is the master's child, so nothing is missed or counted twice.
    pub(crate) fn cpu(&self) -> Duration {
        let Some(master) = self.master else {
            return Duration::ZERO;
        };
        let mut ticks = proc_stat(master).map_or(0, |s| {
            field(&s, UTIME) + field(&s, STIME) + field(&s, CUTIME) + field(&s, CSTIME)
        });
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                if let Some(stat) = proc_stat(pid) {
                    if field(&stat, PPID) == u64::from(master) {
                        ticks += field(&stat, UTIME) + field(&stat, STIME);
                    }
                }
            }
        }
        Duration::from_secs_f64(ticks as f64 / self.ticks)
    }

    /// Removes every delivered message, so the next run starts from empty Maildirs.
    pub(crate) fn clear_maildirs(&self) -> anyhow::Result<()> {
        for new in &self.setup.inboxes {
            for entry in std::fs::read_dir(new)? {
                std::fs::remove_file(entry?.path())?;
            }
        }
        Ok(())
    }

    /// Bytes of the Maildirs and the queue.
    fn storage_bytes(&self) -> u64 {
        tree_bytes(&self.setup.maildir) + tree_bytes(&self.setup.queue)
    }

    /// Waits until each inbox `i` holds `expected[i]` messages; returns when the last
    /// arrived (to within [`DELIVERY_POLL`]), or fails after `limit`.
    pub(crate) fn wait_delivered(
        &self,
        expected: &[usize],
        limit: Duration,
    ) -> anyhow::Result<Instant> {
        let mut pending: Vec<(&Path, usize)> = self
            .setup
            .inboxes
            .iter()
            .zip(expected)
            .filter(|(_, &n)| n > 0)
            .map(|(dir, &n)| (dir.as_path(), n))
            .collect();
        let deadline = Instant::now() + limit;
        let mut poll = 0u64;
        loop {
            poll += 1;
            pending.retain(|(dir, n)| std::fs::read_dir(dir).map_or(0, |d| d.count()) < *n);
            let now = Instant::now();
            if pending.is_empty() {
                return Ok(now);
            }
            if poll % 25 == 0 {
                if let Some(trouble) = self.log_trouble() {
                    anyhow::bail!("Postfix cannot deliver: {trouble}");
                }
            }
            if now > deadline {
                let missing: usize = pending
                    .iter()
                    .map(|(dir, n)| n - std::fs::read_dir(dir).map_or(0, |d| d.count()))
                    .sum();
                anyhow::bail!(
                    "Postfix delivered all but {missing} messages within {} s (see {})",
                    limit.as_secs(),
                    self.setup.log.display()
                );
            }
            std::thread::sleep(DELIVERY_POLL);
        }
    }

    /// The first line of the maillog, since the last look, saying that mail cannot be
    /// delivered as configured: waiting for the Maildirs to fill would then be in vain.
    fn log_trouble(&self) -> Option<String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(&self.setup.log).ok()?;
        file.seek(SeekFrom::Start(self.log_seen.get())).ok()?;
        let mut text = String::new();
        let read = file.read_to_string(&mut text).ok()?;
        // Only whole lines count as seen, so a line being written is read again in full.
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        self.log_seen
            .set(self.log_seen.get() + whole.min(read) as u64);
        text[..whole]
            .lines()
            .find(|line| {
                [" fatal: ", " panic: ", "status=deferred", "status=bounced"]
                    .iter()
                    .any(|sign| line.contains(sign))
            })
            .map(str::to_string)
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// The client

/// One SMTP reply: its code and its lines joined.
#[derive(Debug)]
pub(crate) struct Reply {
    code: u16,
    text: String,
}

/// One SMTP connection. Commands go one at a time, without pipelining, like smtp-source.
struct Session {
    stream: BufReader<TcpStream>,
    line: String,
}

impl Session {
    async fn connect(addr: SocketAddr) -> Result<Session, String> {
        let stream = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        // As smtp-source does: the close resets the connection instead of leaving 20,000
        // client ports in TIME_WAIT per run.
        let _ = stream.set_zero_linger();
        Ok(Session {
            stream: BufReader::new(stream),
            line: String::new(),
        })
    }

    async fn reply(&mut self) -> Result<Reply, String> {
        let mut text = String::new();
        loop {
            self.line.clear();
            let n = tokio::time::timeout(STEP_TIMEOUT, self.stream.read_line(&mut self.line))
                .await
                .map_err(|_| "no reply within the step timeout".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err(if text.is_empty() {
                    "the server closed the connection".into()
                } else {
                    format!("the server closed the connection after {text:?}")
                });
            }
            let line = self.line.trim_end();
            let code = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("malformed reply line {line:?}"))?;
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(line);
            // RFC 5321 §4.2.1: "NNN-" continues a reply, "NNN " (or "NNN") ends it.
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, text });
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        tokio::time::timeout(STEP_TIMEOUT, self.stream.get_mut().write_all(bytes))
            .await
            .map_err(|_| "write timed out".to_string())?
            .map_err(|e| format!("write: {e}"))
    }

    /// Sends `command` and expects a reply with code `expect`.
    async fn command(&mut self, command: &str, expect: u16) -> Result<(), String> {
        self.send(format!("{command}\r\n").as_bytes()).await?;
        let reply = self.reply().await?;
        if reply.code == expect {
            Ok(())
        } else {
            Err(format!("{command} → {}", reply.text))
        }
    }
}

/// Connects and reads the greeting.
async fn greeting(addr: SocketAddr) -> Result<Reply, String> {
    let mut session = Session::connect(addr).await?;
    let reply = session.reply().await?;
    let _ = session.send(b"QUIT\r\n").await;
    Ok(reply)
}

/// What one delivered message took.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    /// From the final `<CRLF>.<CRLF>` written to the 250 read.
    data_to_250: Duration,
}

/// One message on a new connection: greeting, HELO, MAIL, RCPT for each recipient, DATA,
/// `head` then `body` then `<CRLF>.<CRLF>`, QUIT. `body` must not end with CRLF: the
/// terminator supplies it.
pub(crate) async fn deliver(
    addr: SocketAddr,
    recipients: &[&str],
    head: &[u8],
    body: &[u8],
) -> Result<Sent, String> {
    deliver_as(addr, BENCH_ENVELOPE, recipients, head, body).await
}

/// Who the client says it is: its HELO name and its envelope sender.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope {
    pub(crate) helo: &'static str,
    pub(crate) sender: &'static str,
}

/// smtp-source's: [`CLIENT_NAME`] and [`SENDER`].
pub(crate) const BENCH_ENVELOPE: Envelope = Envelope {
    helo: CLIENT_NAME,
    sender: SENDER,
};

/// [`deliver`], saying HELO and MAIL FROM as `envelope` gives them.
pub(crate) async fn deliver_as(
    addr: SocketAddr,
    envelope: Envelope,
    recipients: &[&str],
    head: &[u8],
    body: &[u8],
) -> Result<Sent, String> {
    let mut session = Session::connect(addr).await?;
    let greeting = session.reply().await?;
    if greeting.code != 220 {
        return Err(format!("greeting {}", greeting.text));
    }
    session
        .command(&format!("HELO {}", envelope.helo), 250)
        .await?;
    session
        .command(&format!("MAIL FROM:<{}>", envelope.sender), 250)
        .await?;
    for recipient in recipients {
        session
            .command(&format!("RCPT TO:<{recipient}>"), 250)
            .await?;
    }
    session.command("DATA", 354).await?;
    session.send(head).await?;
    session.send(body).await?;
    let written = Instant::now();
    session.send(b"\r\n.\r\n").await?;
    let reply = session.reply().await?;
    let data_to_250 = written.elapsed();
    if reply.code != 250 {
        return Err(format!("end of DATA → {}", reply.text));
    }
    // The message is accepted; a failing QUIT does not undo that.
    let _ = session.command("QUIT", 221).await;
    Ok(Sent { data_to_250 })
}

/// smtp-source's payload for `-l length`: `X`s in 80-byte lines, each starting with a
/// digit and ending with CRLF, the last line without one (the sender adds it).
pub(crate) fn payload(length: usize) -> Vec<u8> {
    let mut data = vec![b'X'; length];
    let mut i = 80;
    while i < length {
        data[i - 80] = b"0123456789"[(i / 80) % 10];
        data[i - 2] = b'\r';
        data[i - 1] = b'\n';
        i += 80;
    }
    data
}

/// smtp-source's headers for one message, with a unique Message-Id.
pub(crate) fn smtp_source_head(recipient: &str, id: usize) -> String {
    format!(
        "From: <{SENDER}>\r\nTo: <{recipient}>\r\nDate: Mon, 5 Jan 2026 08:00:00 +0700\r\n\
         Message-Id: <{id:08x}.{:04x}@{CLIENT_NAME}>\r\n\r\n",
        std::process::id() & 0xffff
    )
}

/// A circular of exactly `size` bytes (a text part and a base64 attachment), without its
/// final CRLF, which the terminator supplies.
fn circular(size: usize) -> Vec<u8> {
    let boundary = "=_congvan_2026_01";
    let head = format!(
        "From: \"Văn phòng UBND tỉnh\" <{SENDER}>\r\n\
         To: \"Toàn thể cán bộ\" <{LIST_NAME}@{DOMAIN}>\r\n\
         Subject: =?UTF-8?B?VGjDtG5nIGLDoW8gbOG7i2NoIG5naOG7iSBU4bq/dA==?=\r\n\
         Date: Mon, 5 Jan 2026 08:00:00 +0700\r\n\
         Message-Id: <circular.2026.01@{CLIENT_NAME}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Kính gửi các cơ quan, đơn vị: Văn phòng UBND tỉnh gửi kèm thông báo lịch nghỉ Tết.\r\n\r\n\
         --{boundary}\r\n\
         Content-Type: application/pdf; name=\"thong-bao.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"thong-bao.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    );
    let tail = format!("--{boundary}--");
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::rngs::StdRng::seed_from_u64(1_048_576);
    let mut out = head.into_bytes();
    // Lines of 76 base64 characters and a shorter last one, so the total comes out exact;
    // one line of 77 where 76 would leave a single byte over.
    let mut left = size.saturating_sub(out.len() + tail.len());
    while left >= 2 {
        let line = if left == 79 { 77 } else { (left - 2).min(76) };
        out.extend((0..line).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]));
        out.extend_from_slice(b"\r\n");
        left -= line + 2;
    }
    out.extend_from_slice(tail.as_bytes());
    out
}

// ---------------------------------------------------------------------------------------
// Load

/// What one S1 run measured.
#[derive(Debug, Clone)]
pub(crate) struct S1Run {
    pub(crate) messages: usize,
    /// From the first connection until the last 250.
    pub(crate) accepted: Duration,
    /// From the first connection until the last message was readable in its mailbox;
    /// the same as `accepted` for congvu.
    pub(crate) delivered: Duration,
    /// Server CPU over `delivered`.
    pub(crate) cpu: Duration,
    /// Cores the client (this process, or smtp-source) kept busy while sending.
    pub(crate) client_cores: f64,
    pub(crate) failures: usize,
    pub(crate) first_failure: Option<String>,
}

impl S1Run {
    pub(crate) fn accepted_per_second(&self) -> f64 {
        self.messages as f64 / self.accepted.as_secs_f64()
    }

    pub(crate) fn delivered_per_second(&self) -> f64 {
        self.messages as f64 / self.delivered.as_secs_f64()
    }

    pub(crate) fn cpu_us_per_message(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.messages as f64
    }
}

/// What one S2 run measured.
#[derive(Debug, Clone)]
struct S2Run {
    /// Messages per second asked for.
    rate: f64,
    /// Messages sent and acknowledged after the warm-up.
    measured: usize,
    /// Messages per second acknowledged after the warm-up.
    achieved: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Messages that started more than 10 ms after their time: every session was busy.
    late: usize,
    cpu_us_per_message: f64,
    /// Cores the client kept busy over the measured part.
    client_cores: f64,
    failures: usize,
    first_failure: Option<String>,
}

/// What one S3 run measured.
#[derive(Debug, Clone)]
struct S3Run {
    /// From connecting until the 250 after DATA.
    accepted: Duration,
    /// From connecting until every official could read the circular.
    readable: Duration,
    /// Growth of the server's storage: congvu's data directory (checkpointed database),
    /// Postfix's Maildirs plus queue.
    bytes_added: i64,
    cpu: Duration,
    /// For congvu, what its INBOXes showed afterwards.
    check: Option<String>,
}

/// Everything measured on one server.
#[derive(Debug)]
struct Figures {
    kind: ServerKind,
    s1: Vec<S1Run>,
    /// S1 with Postfix's smtp-source, to one mailbox.
    s1_source: Vec<S1Run>,
    s2: Vec<S2Run>,
    s3: Vec<S3Run>,
    /// For congvu: whether every acknowledged S1/S2 message is in its INBOX.
    census: Option<String>,
}

impl Figures {
    fn new(kind: ServerKind) -> Figures {
        Figures {
            kind,
            s1: Vec::new(),
            s1_source: Vec::new(),
            s2: Vec::new(),
            s3: Vec::new(),
            census: None,
        }
    }
}

/// The state of a measurement.
struct Bench<'a> {
    args: &'a SmtpArgs,
    runtime: &'a tokio::runtime::Runtime,
    officials: &'a [Official],
    /// congvu's database, for the census.
    congvu_db: String,
    /// Clock ticks per second of /proc/PID/stat times.
    ticks: f64,
    /// Messages congvu acknowledged per official, to be found in its INBOXes.
    expected_congvu: HashMap<String, usize>,
}

impl Bench<'_> {
    /// Runs the workloads phase by phase; in each phase the servers take turns, the order
    /// flipping every run, so drift on a shared machine hits both sides of a ratio alike.
    fn measure(&mut self, servers: &mut [Server]) -> anyhow::Result<Vec<Figures>> {
        let mut figures: Vec<Figures> = servers.iter().map(|s| Figures::new(s.kind())).collect();
        if self.args.workloads.contains(&Workload::S1) {
            self.s1_phase(servers, &mut figures)?;
        }
        if self.args.workloads.contains(&Workload::S2) {
            self.s2_phase(servers, &mut figures)?;
        }
        // congvu's INBOXes are counted with the server stopped, through the store.
        for (server, f) in servers.iter_mut().zip(figures.iter_mut()) {
            if let Server::Congvu(_) = server {
                server.stop()?;
                if !self.expected_congvu.is_empty() {
                    f.census = Some(self.census_check()?);
                }
            }
        }
        if self.args.workloads.contains(&Workload::S3) {
            for run in 0..self.args.runs {
                for i in turns(run, servers.len()) {
                    println!(
                        "S3 run {}/{}: {}",
                        run + 1,
                        self.args.runs,
                        servers[i].kind().name()
                    );
                    let result = self.s3(&mut servers[i])?;
                    println!(
                        "  readable after {:.3} s (250 after {:.3} s), {} bytes added",
                        result.readable.as_secs_f64(),
                        result.accepted.as_secs_f64(),
                        result.bytes_added
                    );
                    figures[i].s3.push(result);
                }
            }
        }
        Ok(figures)
    }

    /// S1 with this client, each run followed by the smtp-source check on the same server.
    fn s1_phase(&mut self, servers: &mut [Server], figures: &mut [Figures]) -> anyhow::Result<()> {
        let runs = self.args.runs;
        for run in 0..runs {
            for i in turns(run, servers.len()) {
                let name = servers[i].kind().name();
                println!("S1 run {}/{runs}: {name}", run + 1);
                let result = self.s1(&mut servers[i])?;
                println!(
                    "  {:.0} accepted/s, {:.0} delivered/s, {} failures",
                    result.accepted_per_second(),
                    result.delivered_per_second(),
                    result.failures
                );
                figures[i].s1.push(result);
                if !self.args.no_smtp_source && self.args.smtp_source.exists() {
                    println!("S1 run {}/{runs}: {name}, smtp-source", run + 1);
                    let result = self.s1_smtp_source(&mut servers[i])?;
                    println!(
                        "  {:.0} accepted/s, {:.0} delivered/s",
                        result.accepted_per_second(),
                        result.delivered_per_second()
                    );
                    figures[i].s1_source.push(result);
                }
            }
        }
        Ok(())
    }

    /// S2, each server at half of its own S1 median 250 rate.
    fn s2_phase(&mut self, servers: &mut [Server], figures: &mut [Figures]) -> anyhow::Result<()> {
        let runs = self.args.runs;
        let rates: Vec<f64> = figures
            .iter()
            .map(|f| {
                let accepted: Vec<f64> = f.s1.iter().map(S1Run::accepted_per_second).collect();
                median(&accepted) / 2.0
            })
            .collect();
        for run in 0..runs {
            for i in turns(run, servers.len()) {
                println!(
                    "S2 run {}/{runs}: {}, {:.0} messages/s",
                    run + 1,
                    servers[i].kind().name(),
                    rates[i]
                );
                let result = self.s2(&mut servers[i], rates[i])?;
                println!(
                    "  p50 {:.2} ms, p99 {:.2} ms, {:.0}/s achieved, {} late, {} failures",
                    result.p50_ms, result.p99_ms, result.achieved, result.late, result.failures
                );
                figures[i].s2.push(result);
            }
        }
        Ok(())
    }

    /// One S1 run with this client: `--messages` messages over `--sessions` sessions,
    /// message `i` to official `i mod --mailboxes`.
    fn s1(&mut self, server: &mut Server) -> anyhow::Result<S1Run> {
        let args = self.args;
        let addr = server.addr();
        let recipients: Arc<Vec<String>> = Arc::new(
            self.officials[..args.mailboxes]
                .iter()
                .map(|o| o.address.clone())
                .collect(),
        );
        let body = Arc::new(payload(args.length));
        let cpu_before = server.cpu();
        let client_before = self.client_cpu();
        let started = Instant::now();
        let compose: Compose = Arc::new(|i, to| smtp_source_head(to, i).into_bytes());
        let load = self.runtime.block_on(send_load(
            addr,
            BENCH_ENVELOPE,
            args.sessions,
            args.messages,
            recipients,
            compose,
            body,
        ))?;
        let accepted = started.elapsed();
        let client_cores = self
            .client_cpu()
            .saturating_sub(client_before)
            .as_secs_f64()
            / accepted.as_secs_f64();
        let delivered = self.settle(server, &load.acknowledged, started, true)?;
        Ok(S1Run {
            messages: args.messages,
            accepted,
            delivered: delivered.unwrap_or(accepted),
            cpu: server.cpu().saturating_sub(cpu_before),
            client_cores,
            failures: load.failures,
            first_failure: load.first_failure,
        })
    }

    /// One S1 run with Postfix's smtp-source, to the first official only (it cannot spread).
    fn s1_smtp_source(&mut self, server: &mut Server) -> anyhow::Result<S1Run> {
        let args = self.args;
        let to = &self.officials[0].address;
        let cpu_before = server.cpu();
        let client_before = self.client_cpu();
        let started = Instant::now();
        let out = Command::new(&args.smtp_source)
            .args(["-s", &args.sessions.to_string()])
            .args(["-m", &args.messages.to_string()])
            .args(["-l", &args.length.to_string()])
            .args(["-f", SENDER, "-t", to])
            .arg(server.addr().to_string())
            .output()
            .context("while running smtp-source")?;
        let accepted = started.elapsed();
        // smtp-source has been waited for, so its time is this process's children's time.
        let client_cores = self
            .client_cpu()
            .saturating_sub(client_before)
            .as_secs_f64()
            / accepted.as_secs_f64();
        let (failures, first_failure) = if out.status.success() {
            (0, None)
        } else {
            (
                1,
                Some(format!(
                    "smtp-source stopped: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
            )
        };
        let mut expected = vec![0usize; self.officials.len()];
        expected[0] = args.messages;
        let delivered = self.settle(server, &expected, started, failures == 0)?;
        Ok(S1Run {
            messages: args.messages,
            accepted,
            delivered: delivered.unwrap_or(accepted),
            cpu: server.cpu().saturating_sub(cpu_before),
            client_cores,
            failures,
            first_failure,
        })
    }

    /// After a run that sent `expected[i]` messages to official `i`: for Postfix, waits
    /// until they are all delivered and returns how long that took from `started` (when
    /// `wait` is set), then empties the Maildirs; for congvu, whose 250 means delivered,
    /// notes them for the census.
    fn settle(
        &mut self,
        server: &mut Server,
        expected: &[usize],
        started: Instant,
        wait: bool,
    ) -> anyhow::Result<Option<Duration>> {
        match server {
            Server::Congvu(_) => {
                for (official, &n) in self.officials.iter().zip(expected) {
                    if n > 0 {
                        *self
                            .expected_congvu
                            .entry(official.login.clone())
                            .or_default() += n;
                    }
                }
                Ok(None)
            }
            Server::Postfix(postfix) => {
                let delivered = if wait {
                    let limit = Duration::from_secs(600).max(started.elapsed() * 20);
                    Some(postfix.wait_delivered(expected, limit)? - started)
                } else {
                    None
                };
                postfix.clear_maildirs()?;
                Ok(delivered)
            }
        }
    }

    /// One S2 run: messages due at a fixed `rate` for `--rate-seconds`, each on a new
    /// connection to the next of `--mailboxes` officials, on up to `--rate-sessions`
    /// sessions at once.
    fn s2(&mut self, server: &mut Server, rate: f64) -> anyhow::Result<S2Run> {
        let args = self.args;
        anyhow::ensure!(rate > 0.0, "{}: S1 measured no rate", server.kind().name());
        let addr = server.addr();
        let total = (rate * args.rate_seconds as f64).round() as usize;
        let warm = (rate * args.rate_warmup as f64).round() as usize;
        let recipients: Arc<Vec<String>> = Arc::new(
            self.officials[..args.mailboxes]
                .iter()
                .map(|o| o.address.clone())
                .collect(),
        );
        let body = Arc::new(payload(args.length));
        let mut cpu_window = (Duration::ZERO, Duration::ZERO);
        let mut client_window = (Duration::ZERO, Duration::ZERO);
        let started = Instant::now();
        let (officials, mailboxes) = (self.officials.len(), args.mailboxes);
        let (latencies, late, failures, first_failure, measured_span, acknowledged) =
            self.runtime.block_on(async {
                let next = Arc::new(AtomicUsize::new(0));
                let failures = Arc::new(Mutex::new((0usize, None::<String>)));
                let start = tokio::time::Instant::now() + Duration::from_millis(50);
                let mut tasks = Vec::new();
                for _ in 0..args.rate_sessions {
                    let (next, failures) = (Arc::clone(&next), Arc::clone(&failures));
                    let (recipients, body) = (Arc::clone(&recipients), Arc::clone(&body));
                    let pace = Pace { start, rate, total };
                    let sending = paced_session(addr, pace, next, failures, recipients, body);
                    tasks.push(tokio::spawn(sending));
                }
                // Server CPU over the measured part: from the first measured message due
                // to the end of the run.
                let warm_due = start + Duration::from_secs_f64(warm as f64 / rate);
                tokio::time::sleep_until(warm_due).await;
                cpu_window.0 = server.cpu();
                client_window.0 = self.client_cpu();
                let measured_from = Instant::now();
                let mut all = Vec::new();
                for task in tasks {
                    all.extend(task.await?);
                }
                cpu_window.1 = server.cpu();
                client_window.1 = self.client_cpu();
                let span = measured_from.elapsed();
                let (n, first) = failures
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .clone();
                let mut acknowledged = vec![0usize; officials];
                for (i, _, _) in &all {
                    acknowledged[i % mailboxes] += 1;
                }
                let measured: Vec<(Duration, bool)> = all
                    .into_iter()
                    .filter(|(i, _, _)| *i >= warm)
                    .map(|(_, d, late)| (d, late))
                    .collect();
                let late = measured.iter().filter(|(_, late)| *late).count();
                let latencies: Vec<Duration> = measured.into_iter().map(|(d, _)| d).collect();
                anyhow::Ok((latencies, late, n, first, span, acknowledged))
            })?;
        // Postfix gets to deliver its backlog before anything else is measured.
        self.settle(server, &acknowledged, started, true)?;
        Ok(S2Run::from_latencies(
            rate,
            &latencies,
            measured_span,
            late,
            (
                cpu_window.1.saturating_sub(cpu_window.0),
                client_window.1.saturating_sub(client_window.0),
            ),
            (failures, first_failure),
        ))
    }

    /// One S3 run: the circular in one session, to the list or to every official.
    fn s3(&mut self, server: &mut Server) -> anyhow::Result<S3Run> {
        let message = circular(self.args.circular_bytes);
        let list = format!("{LIST_NAME}@{DOMAIN}");
        let recipients: Vec<&str> = match self.args.circular_to {
            CircularTo::List => vec![list.as_str()],
            CircularTo::Rcpt => self.officials.iter().map(|o| o.address.as_str()).collect(),
        };
        let addr = server.addr();
        match server {
            Server::Postfix(postfix) => {
                let before = postfix.storage_bytes();
                let cpu_before = postfix.cpu();
                let started = Instant::now();
                self.runtime
                    .block_on(deliver(addr, &recipients, b"", &message))
                    .map_err(|e| anyhow::anyhow!("Postfix refused the circular: {e}"))?;
                let accepted = started.elapsed();
                let expected = vec![1usize; self.officials.len()];
                let limit = Duration::from_secs(3600);
                let readable = postfix.wait_delivered(&expected, limit)? - started;
                let cpu = postfix.cpu().saturating_sub(cpu_before);
                let bytes_added = postfix.storage_bytes() as i64 - before as i64;
                postfix.clear_maildirs()?;
                Ok(S3Run {
                    accepted,
                    readable,
                    bytes_added,
                    cpu,
                    check: None,
                })
            }
            Server::Congvu(congvu) => {
                // The server is stopped and the census ends with a checkpoint, so the data
                // directory holds the database without a WAL, before and after.
                let census_before = self.census()?;
                let before = tree_bytes(&congvu.data_dir);
                congvu.start()?;
                if let Greeting::Refused(text) = self.runtime.block_on(congvu.wait_ready())? {
                    anyhow::bail!("congvu refused connections after a restart: {text}");
                }
                let cpu_before = congvu.cpu();
                let started = Instant::now();
                let sent = self
                    .runtime
                    .block_on(deliver(addr, &recipients, b"", &message));
                let accepted = started.elapsed();
                let cpu = congvu.cpu().saturating_sub(cpu_before);
                congvu.stop()?;
                sent.map_err(|e| anyhow::anyhow!("congvu refused the circular: {e}"))?;
                let census_after = self.census()?;
                let bytes_added = tree_bytes(&congvu.data_dir) as i64 - before as i64;
                Ok(S3Run {
                    accepted,
                    readable: accepted,
                    bytes_added,
                    cpu,
                    check: Some(circular_check(&census_before, &census_after)),
                })
            }
        }
    }

    /// CPU time this process and the children it waited for (smtp-source) have used.
    fn client_cpu(&self) -> Duration {
        client_cpu(self.ticks)
    }

    /// Every official's INBOX as congvu's store holds it; the server must be stopped.
    fn census(&self) -> anyhow::Result<HashMap<String, Inbox>> {
        self.runtime.block_on(inbox_census(&self.congvu_db))
    }

    /// Compares the INBOXes with what congvu acknowledged in S1 and S2.
    fn census_check(&self) -> anyhow::Result<String> {
        let census = self.census()?;
        let acknowledged: usize = self.expected_congvu.values().sum();
        let mut found = 0;
        let mut short = Vec::new();
        for (login, &n) in &self.expected_congvu {
            let have = census.get(login).map_or(0, |i| i.messages);
            found += have.min(n);
            if have < n {
                short.push(format!("{login} {have}/{n}"));
            }
        }
        Ok(if short.is_empty() {
            format!("all {acknowledged} acknowledged messages are in their INBOXes")
        } else {
            short.truncate(5);
            format!(
                "MISSING: {} of {acknowledged} acknowledged messages are not in their INBOXes \
                 (e.g. {})",
                acknowledged - found,
                short.join(", ")
            )
        })
    }
}

/// CPU time this process and the children it waited for have used, at `ticks` clock
/// ticks per second.
pub(crate) fn client_cpu(ticks: f64) -> Duration {
    let used = proc_stat(std::process::id()).map_or(0, |s| {
        field(&s, UTIME) + field(&s, STIME) + field(&s, CUTIME) + field(&s, CSTIME)
    });
    Duration::from_secs_f64(used as f64 / ticks)
}

/// Message `i`'s bytes before the shared body, given its recipient.
pub(crate) type Compose = Arc<dyn Fn(usize, &str) -> Vec<u8> + Send + Sync>;

/// What a load of messages on parallel sessions came to.
pub(crate) struct Load {
    /// Per recipient, the messages it got a 250 for.
    pub(crate) acknowledged: Vec<usize>,
    /// From the final `<CRLF>.<CRLF>` to the 250, of every acknowledged message.
    pub(crate) data_to_250: Vec<Duration>,
    pub(crate) failures: usize,
    pub(crate) first_failure: Option<String>,
}

/// `messages` messages on `sessions` parallel sessions, each on a new connection: message
/// `i` goes to `recipients[i mod len]` as `compose(i, to)` followed by `body`.
pub(crate) async fn send_load(
    addr: SocketAddr,
    envelope: Envelope,
    sessions: usize,
    messages: usize,
    recipients: Arc<Vec<String>>,
    compose: Compose,
    body: Arc<Vec<u8>>,
) -> anyhow::Result<Load> {
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new((0usize, None::<String>)));
    let mut tasks = Vec::new();
    for _ in 0..sessions {
        let (next, failures) = (Arc::clone(&next), Arc::clone(&failures));
        let (recipients, body) = (Arc::clone(&recipients), Arc::clone(&body));
        let compose = Arc::clone(&compose);
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= messages {
                    break;
                }
                let to = &recipients[i % recipients.len()];
                let head = compose(i, to);
                match deliver_as(addr, envelope, &[to], &head, &body).await {
                    Ok(sent) => acknowledged.push((i % recipients.len(), sent.data_to_250)),
                    Err(e) => record_failure(&failures, e),
                }
            }
            acknowledged
        }));
    }
    let mut acknowledged = vec![0usize; recipients.len()];
    let mut data_to_250 = Vec::with_capacity(messages);
    for task in tasks {
        for (recipient, took) in task.await? {
            acknowledged[recipient] += 1;
            data_to_250.push(took);
        }
    }
    let (failures, first_failure) = failures
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    Ok(Load {
        acknowledged,
        data_to_250,
        failures,
        first_failure,
    })
}

impl S2Run {
    /// The figures of one S2 run from its measured latencies, over `span`; `cpu` is the
    /// server's and the client's CPU over it.
    fn from_latencies(
        rate: f64,
        latencies: &[Duration],
        span: Duration,
        late: usize,
        (server_cpu, client_cpu): (Duration, Duration),
        (failures, first_failure): (usize, Option<String>),
    ) -> S2Run {
        let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let measured = ms.len();
        S2Run {
            rate,
            measured,
            achieved: measured as f64 / span.as_secs_f64(),
            p50_ms: percentile(&ms, 0.50),
            p99_ms: percentile(&ms, 0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
            late,
            cpu_us_per_message: server_cpu.as_secs_f64() * 1e6 / measured.max(1) as f64,
            client_cores: client_cpu.as_secs_f64() / span.as_secs_f64(),
            failures,
            first_failure,
        }
    }
}

/// When S2's messages are due: message `i` at `start + i / rate`, `total` in all.
#[derive(Clone, Copy)]
struct Pace {
    start: tokio::time::Instant,
    rate: f64,
    total: usize,
}

/// One S2 session: takes the next message due, waits for its time, sends it to the next
/// recipient on a connection of its own. Returns (index, end of DATA to 250, whether it went
/// out more than 10 ms late) of each message it sent.
async fn paced_session(
    addr: SocketAddr,
    pace: Pace,
    next: Arc<AtomicUsize>,
    failures: Arc<Mutex<(usize, Option<String>)>>,
    recipients: Arc<Vec<String>>,
    body: Arc<Vec<u8>>,
) -> Vec<(usize, Duration, bool)> {
    let mut mine = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= pace.total {
            break;
        }
        let due = pace.start + Duration::from_secs_f64(i as f64 / pace.rate);
        tokio::time::sleep_until(due).await;
        let late = due.elapsed() > Duration::from_millis(10);
        let to = &recipients[i % recipients.len()];
        let head = smtp_source_head(to, 1_000_000 + i);
        match deliver(addr, &[to], head.as_bytes(), &body).await {
            Ok(sent) => mine.push((i, sent.data_to_250, late)),
            Err(e) => record_failure(&failures, e),
        }
    }
    mine
}

pub(crate) fn record_failure(failures: &Mutex<(usize, Option<String>)>, e: String) {
    if let Ok(mut f) = failures.lock() {
        f.0 += 1;
        f.1.get_or_insert(e);
    }
}

/// One official's INBOX.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inbox {
    pub(crate) messages: usize,
    /// The body of the newest message.
    pub(crate) newest_body: Option<i64>,
}

pub(crate) async fn inbox_census(url: &str) -> anyhow::Result<HashMap<String, Inbox>> {
    let store = Store::open(&StoreOptions {
        url: url.to_string(),
        max_connections: 2,
        busy_timeout: Duration::from_secs(5),
    })
    .await?;
    let mut census = HashMap::new();
    {
        let mut conn = store.read().await?;
        for official in conn.all_officials().await? {
            let inbox = conn
                .mailboxes_of(official.id)
                .await?
                .into_iter()
                .find(|m| m.role == Some(MailboxRole::Inbox))
                .with_context(|| format!("{} has no INBOX", official.login))?;
            let messages = conn.messages_in(inbox.id).await?;
            census.insert(
                official.login,
                Inbox {
                    messages: messages.len(),
                    newest_body: messages.last().map(|m| m.body_id.0),
                },
            );
        }
    }
    store.close().await;
    check_checkpointed(url)?;
    Ok(census)
}

/// Checks that the WAL was folded into the database file, so that the data directory's size
/// is what the data takes: closing the store does that when nobody else holds it open.
fn check_checkpointed(url: &str) -> anyhow::Result<()> {
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
    let wal = PathBuf::from(format!("{}-wal", options.get_filename().display()));
    anyhow::ensure!(
        !wal.exists(),
        "{} is still there: another process holds the database open",
        wal.display()
    );
    Ok(())
}

/// Whether every official got exactly one more message, all sharing one stored body.
fn circular_check(before: &HashMap<String, Inbox>, after: &HashMap<String, Inbox>) -> String {
    let mut got = 0;
    let mut bodies = std::collections::HashSet::new();
    for (login, inbox) in after {
        let had = before.get(login).map_or(0, |i| i.messages);
        if inbox.messages == had + 1 {
            got += 1;
            bodies.extend(inbox.newest_body);
        }
    }
    format!(
        "{got} of {} officials got one copy; {} stored bod{}",
        after.len(),
        bodies.len(),
        if bodies.len() == 1 { "y" } else { "ies" }
    )
}

// ---------------------------------------------------------------------------------------
// Report

/// This benchmark's section of docs/PERFORMANCE.md: after the LDAP one when first placed.
const MARKERS: Markers = Markers {
    begin: "<!-- smtp:begin -->",
    end: "<!-- smtp:end -->",
    after: Some("<!-- ldap:end -->"),
};
/// The options bench/smtp.sh fills in, left out of the command the report shows.
const PATH_OPTIONS: [&str; 7] = [
    "--server",
    "--admin",
    "--postfix",
    "--postmap",
    "--smtp-source",
    "--work-dir",
    "--report",
];

/// Everything the report section says.
#[derive(Debug)]
struct Report<'a> {
    args: &'a SmtpArgs,
    machine: &'a Machine,
    pinned: bool,
    figures: &'a [Figures],
    /// Servers that refused every connection, with what they said.
    unavailable: &'a [(ServerKind, String)],
}

impl Report<'_> {
    fn figures(&self, kind: ServerKind) -> Option<&Figures> {
        self.figures.iter().find(|f| f.kind == kind)
    }

    fn render(&self) -> String {
        let args = self.args;
        let placement = placement(
            self.pinned,
            self.machine.cores,
            ["each server", "servers"],
            "client",
        );
        let mut out = format!(
            "{begin}\n## S1–S3: SMTP against Postfix\n\n\
             Measured by `bench/smtp.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {load} before the run), {placement}. Each workload ran {runs} time(s)\n\
             on each server, the servers taking turns; figures are medians, ranges in brackets.\n\
             Both servers hold the same {n} officials: congvu from `congvu-admin user import`, Postfix\n\
             {postfix_version} as a private instance on loopback (`virtual_mailbox_maps` in a `hash:` table, one\n\
             Maildir per official created before the runs, as congvu creates mailboxes at import; default\n\
             fsync behaviour; no content filters; `smtpd_recipient_restrictions = permit_auth_destination,\n\
             reject`). Each logs as it does by default: Postfix every message to its maillog, congvu at `info`.\n\n",
            begin = MARKERS.begin,
            command = user_arguments(&PATH_OPTIONS),
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            load = self.machine.load,
            runs = args.runs,
            n = args.officials,
            postfix_version = postfix_version(&args.programs.postfix),
        );
        out.push_str(&self.method());
        for (kind, text) in self.unavailable {
            out.push_str(&unavailable(kind.name(), "SMTP", text));
        }
        out.push_str(&table("congvu", "Postfix", &self.rows(), "failed messages"));
        out.push_str(&self.details());
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    /// How each workload that ran was measured, one bullet each.
    fn method(&self) -> String {
        let args = self.args;
        let (messages, length, sessions) = (args.messages, args.length, args.sessions);
        let mut out = String::new();
        if args.workloads.contains(&Workload::S1) {
            out.push_str(&format!(
                "- S1: {messages} messages of {length} payload bytes on {sessions} parallel sessions, a new\n  \
                 connection per message, spread round-robin over {mailboxes} mailboxes. The session is\n  \
                 smtp-source's byte for byte (HELO, MAIL, RCPT, DATA, its four headers and payload, QUIT),\n  \
                 sent by `congvu-bench`: smtp-source names one recipient only (`-t`; `-r` and `-N` only\n  \
                 prepend numbers to it). congvu's 250 means the message is committed and synced into its\n  \
                 INBOX; Postfix answers 250 once the message is queued and delivers after, so its rate runs\n  \
                 until the last Maildir file exists (the Maildirs are looked at every {poll} ms), and its 250\n  \
                 rate is shown beside it.\n",
                mailboxes = args.mailboxes,
                poll = DELIVERY_POLL.as_millis(),
            ));
            if self.figures.iter().any(|f| !f.s1_source.is_empty()) {
                out.push_str(&format!(
                    "- S1 check: `smtp-source -s {sessions} -m {messages} -l {length} -f {SENDER} -t <one official>`\n  \
                     itself, against both servers.\n"
                ));
            }
        }
        if args.workloads.contains(&Workload::S2) {
            out.push_str(&format!(
                "- S2: the same messages, due at a fixed rate, half of each server's own S1 median (its 250\n  \
                 rate), for {} s with the first {} s left out, on up to {} sessions; the time from\n  \
                 writing the final `<CRLF>.<CRLF>` to reading the 250.\n",
                args.rate_seconds, args.rate_warmup, args.rate_sessions
            ));
        }
        if args.workloads.contains(&Workload::S3) {
            let how = match args.circular_to {
                CircularTo::List => format!(
                    "the distribution list of every official,\n  `{LIST_NAME}@{DOMAIN}` (congvu: \
                     `group add --list` and one `group add-member` per official;\n  \
                     Postfix: one `virtual_alias_maps` entry)"
                ),
                CircularTo::Rcpt => "every official, one RCPT TO each".to_string(),
            };
            out.push_str(&format!(
                "- S3: one {} circular (a text part and a base64 attachment) in one session to {how};\n  \
                 the time from connecting until all {} officials can read it (congvu: the 250 after DATA;\n  \
                 Postfix: every Maildir file in place). Bytes added: congvu's data directory with its SQLite\n  \
                 database checkpointed (the server is stopped before and after each S3 run), Postfix's\n  \
                 Maildirs and queue, both counted as `du -sb` counts them.\n",
                bytes(args.circular_bytes as f64),
                args.officials
            ));
        }
        out.push('\n');
        out
    }

    fn rows(&self) -> Vec<Row> {
        let c = self.figures(ServerKind::Congvu);
        let p = self.figures(ServerKind::Postfix);
        let mut rows = Vec::new();
        if self.args.workloads.contains(&Workload::S1) {
            rows.extend(self.s1_rows(c, p));
        }
        if self.args.workloads.contains(&Workload::S2) {
            rows.extend(s2_rows(c, p));
        }
        if self.args.workloads.contains(&Workload::S3) {
            rows.extend(self.s3_rows(c, p));
        }
        rows
    }

    fn s1_rows(&self, c: Option<&Figures>, p: Option<&Figures>) -> Vec<Row> {
        fn failures(f: Option<&Figures>, runs: fn(&Figures) -> &[S1Run]) -> usize {
            f.map_or(0, |f| runs(f).iter().map(|r| r.failures).sum())
        }
        fn s1(f: &Figures) -> &[S1Run] {
            &f.s1
        }
        fn source_runs(f: &Figures) -> &[S1Run] {
            &f.s1_source
        }
        let failed = (failures(c, s1) + failures(p, s1)) as u64;
        let mut rows = Vec::new();
        let delivered = spreads(c, p, |f| {
            f.s1.iter().map(S1Run::delivered_per_second).collect()
        });
        let r = ratio(delivered[0], delivered[1]);
        let mailboxes = format!(
            "messages/s accepted and delivered into {} mailboxes",
            self.args.mailboxes
        );
        rows.push(
            Row::compare("S1", mailboxes, delivered, per_second)
                .target("≥ 3×", r.map(|r| r >= 3.0))
                .invalid(failed),
        );
        let accepted = spreads(c, p, |f| {
            f.s1.iter().map(S1Run::accepted_per_second).collect()
        });
        let queued = "messages/s answered 250 (Postfix: queued, not yet delivered)";
        rows.push(Row::compare("S1", queued, accepted, per_second).invalid(failed));
        let cpu = spreads(c, p, |f| {
            f.s1.iter().map(S1Run::cpu_us_per_message).collect()
        });
        let cpu_what = "server CPU per message, until delivered (Postfix: all its processes)";
        rows.push(Row::compare("S1", cpu_what, cpu, microseconds).invalid(failed));
        let source = spreads(c, p, |f| {
            f.s1_source
                .iter()
                .map(S1Run::delivered_per_second)
                .collect()
        });
        if source.iter().any(Option::is_some) {
            let what = "smtp-source itself, all to one mailbox: messages/s delivered";
            let failed = failures(c, source_runs) + failures(p, source_runs);
            rows.push(Row::compare("S1 check", what, source, per_second).invalid(failed as u64));
        }
        rows
    }

    fn s3_rows(&self, c: Option<&Figures>, p: Option<&Figures>) -> Vec<Row> {
        let [ct, pt] = spreads(c, p, |f| {
            f.s3.iter().map(|r| r.readable.as_secs_f64()).collect()
        });
        let faster = ratio(pt, ct);
        let [cb, pb] = spreads(c, p, |f| {
            f.s3.iter().map(|r| r.bytes_added as f64).collect()
        });
        let share = ratio(cb, pb);
        let circular = format!(
            "{} circular to {} mailboxes: time until all can read it",
            bytes(self.args.circular_bytes as f64),
            self.args.officials
        );
        vec![
            Row {
                ratio: faster.map(|r| format!("{r:.0}× faster")),
                ..Row::compare("S3", circular, [ct, pt], seconds)
            }
            .target("≥ 50× faster", faster.map(|r| r >= 50.0)),
            Row {
                ratio: share.map(|r| {
                    if r > 0.0 {
                        format!("1/{:.0}", 1.0 / r)
                    } else {
                        times(r)
                    }
                }),
                ..Row::compare("S3", "disk bytes added", [cb, pb], bytes)
            }
            .target("≤ 1/300", share.map(|r| r <= 1.0 / 300.0)),
        ]
    }

    /// The figures behind the table that explain it.
    fn details(&self) -> String {
        let mut out = String::from("\n");
        for f in self.figures {
            out.push_str(&server_details(f));
        }
        // With pinning the client has every core but the server's; a client that kept
        // them nearly all busy may have set the rate instead of the server.
        let client_cores = if self.pinned {
            self.machine.cores - 1
        } else {
            self.machine.cores
        } as f64;
        let saturated: Vec<String> = self
            .figures
            .iter()
            .filter(|f| {
                let s1 = f.s1.iter().chain(&f.s1_source).map(|r| r.client_cores);
                s1.chain(f.s2.iter().map(|r| r.client_cores))
                    .any(|busy| busy >= 0.9 * client_cores)
            })
            .map(|f| f.kind.name().to_string())
            .collect();
        if !saturated.is_empty() {
            out.push_str(&format!(
                "- Caution: against {} the client kept its {client_cores:.0} core(s) at least 90% busy in \
                 some run: the client, not the server, may have set that rate.\n",
                saturated.join(" and ")
            ));
        }
        out
    }
}

/// S1 runs as the details list them.
fn s1_runs(runs: &[S1Run]) -> String {
    runs.iter()
        .map(|r| {
            format!(
                "{} delivered ({} answered 250, client {:.2} cores busy)",
                per_second(r.delivered_per_second()),
                per_second(r.accepted_per_second()),
                r.client_cores
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One server's line of figures per workload, and the first failures of its runs.
fn server_details(f: &Figures) -> String {
    let mut out = String::new();
    let name = f.kind.name();
    let mut parts = Vec::new();
    for (label, runs) in [("S1 runs", &f.s1), ("smtp-source runs", &f.s1_source)] {
        if !runs.is_empty() {
            parts.push(format!("{label}: {}", s1_runs(runs)));
        }
    }
    if !f.s2.is_empty() {
        parts.push(format!(
            "S2 runs at {}: {}",
            per_second(f.s2[0].rate),
            f.s2.iter()
                .map(|r| format!(
                    "{} measured at {}, p50 {}, p99 {}, slowest {}, {} started late, \
                         {} of server CPU each, client {:.2} cores busy",
                    r.measured,
                    per_second(r.achieved),
                    milliseconds(r.p50_ms),
                    milliseconds(r.p99_ms),
                    milliseconds(r.max_ms),
                    r.late,
                    microseconds(r.cpu_us_per_message),
                    r.client_cores
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if !f.s3.is_empty() {
        parts.push(format!(
            "S3 runs: {}",
            f.s3.iter()
                .map(|r| format!(
                    "250 after {}, readable after {}, {} added, {} of server CPU{}",
                    seconds(r.accepted.as_secs_f64()),
                    seconds(r.readable.as_secs_f64()),
                    bytes(r.bytes_added as f64),
                    seconds(r.cpu.as_secs_f64()),
                    r.check
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if let Some(census) = &f.census {
        parts.push(format!("INBOXes after S1 and S2: {census}"));
    }
    out.push_str(&format!("- {name}: {}.\n", parts.join(". ")));
    let runs = f.s1.iter().chain(&f.s1_source);
    for (what, first) in runs
        .filter_map(|r| r.first_failure.as_ref().map(|e| ("S1", e)))
        .chain(
            f.s2.iter()
                .filter_map(|r| r.first_failure.as_ref().map(|e| ("S2", e))),
        )
        .take(3)
    {
        out.push_str(&format!("- {name} {what}: a message failed: {first}\n"));
    }
    out
}

fn s2_rows(c: Option<&Figures>, p: Option<&Figures>) -> Vec<Row> {
    let rate = |f: Option<&Figures>| {
        f.and_then(|f| f.s2.first())
            .map_or_else(|| "—".to_string(), |r| per_second(r.rate))
    };
    let failures =
        |f: Option<&Figures>| f.map_or(0, |f| f.s2.iter().map(|r| r.failures).sum::<usize>());
    let failed = (failures(c) + failures(p)) as u64;
    let p99 = spreads(c, p, |f| f.s2.iter().map(|r| r.p99_ms).collect());
    let r = ratio(p99[0], p99[1]);
    let p50 = spreads(c, p, |f| f.s2.iter().map(|r| r.p50_ms).collect());
    let at_half = format!(
        "p99 end of DATA → 250, at half of S1 (congvu {}, Postfix {})",
        rate(c),
        rate(p)
    );
    vec![
        Row::compare("S2", at_half, p99, milliseconds)
            .target("≤ 0.5×", r.map(|r| r <= 0.5))
            .invalid(failed),
        Row::compare("S2", "p50 end of DATA → 250", p50, milliseconds).invalid(failed),
    ]
}

/// Postfix's version, as `postconf -d mail_version` prints it.
pub(crate) fn postfix_version(postfix: &Path) -> String {
    let mut postconf = Command::new(postfix.with_file_name("postconf"));
    postconf.args(["-d", "-h", "mail_version"]);
    version(postconf, "(version unknown)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::place_section;

    const SECTION: &str = "<!-- smtp:begin -->\n## S1–S3\n\n| a |\n<!-- smtp:end -->\n";

    #[test]
    fn section_goes_after_the_ldap_section_and_is_replaced_in_place() {
        let document = "# title\n\nintro\n\n<!-- ldap:begin -->\n## L1\n<!-- ldap:end -->\n\n\
                        ## P1/P2: import\n\ntable\n";
        let placed = place_section(document, MARKERS, SECTION);
        assert_eq!(
            placed,
            "# title\n\nintro\n\n<!-- ldap:begin -->\n## L1\n<!-- ldap:end -->\n\n\
             <!-- smtp:begin -->\n## S1–S3\n\n| a |\n<!-- smtp:end -->\n\n\
             ## P1/P2: import\n\ntable\n"
        );
        let again = place_section(&placed, MARKERS, &SECTION.replace("| a |", "| b |"));
        assert_eq!(again, placed.replace("| a |", "| b |"));
    }

    #[test]
    fn section_goes_before_the_first_heading_without_an_ldap_section() {
        assert_eq!(
            place_section("# title\n\n## P1/P2: import\n", MARKERS, SECTION),
            "# title\n\n<!-- smtp:begin -->\n## S1–S3\n\n| a |\n<!-- smtp:end -->\n\n\
             ## P1/P2: import\n"
        );
        assert_eq!(
            place_section("# title\n", MARKERS, SECTION),
            "# title\n\n<!-- smtp:begin -->\n## S1–S3\n\n| a |\n<!-- smtp:end -->\n"
        );
    }

    #[test]
    fn payload_is_smtp_source_s() {
        let data = payload(200);
        assert_eq!(data.len(), 200);
        assert_eq!(&data[..2], b"1X");
        assert_eq!(&data[78..82], b"\r\n2X");
        assert_eq!(&data[158..160], b"\r\n");
        assert!(data[160..].iter().all(|&b| b == b'X'));
    }

    #[test]
    fn circular_has_the_asked_size_and_no_line_a_server_would_refuse() {
        for size in [4096, 1 << 20, (1 << 20) + 1, (1 << 20) + 77] {
            let message = circular(size);
            assert_eq!(message.len(), size, "size {size}");
            let text = std::str::from_utf8(&message).expect("UTF-8");
            for line in text.split("\r\n") {
                assert!(line.len() <= 998, "long line in size {size}");
                assert!(!line.starts_with('.'), "a line needs dot-stuffing");
                assert!(
                    !line.contains('\n') && !line.contains('\r'),
                    "bare CR or LF"
                );
            }
            assert!(!text.ends_with("\r\n"));
        }
    }
}
