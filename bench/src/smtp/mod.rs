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
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::admin::Official;
use crate::machine::{free_port, Machine, Pinning};
use crate::report::publish;
use crate::server::{congvu_db_url, Binaries, DOMAIN};

mod client;
mod load;
mod report;
mod seed;
mod servers;
mod stages;

// inbound and backup drive the same servers, client and load, so the files' items are
// the crate's as well as the folder's.
pub(crate) use client::*;
pub(crate) use load::*;
pub(crate) use report::*;
pub(crate) use seed::*;
pub(crate) use servers::*;
use stages::Stages;

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
    let (_owned, work) = crate::machine::work_dir(args.work_dir.as_deref())?;

    println!("seeding congvu with {} officials", args.officials);
    let started = Instant::now();
    let (congvu_port, congvu_http) = (free_port()?, free_port()?);
    let congvu_config = write_congvu_config(
        &work,
        "congvu.toml",
        &CongvuSettings {
            smtp_port: congvu_port,
            http_port: congvu_http,
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
        congvu_http,
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
