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

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu_tests::dovecot::{Dovecot, DovecotOptions, Flag, MASTER_PASSWORD, MASTER_USER};

use crate::admin::Official;
use crate::figures::{seconds, times, turns, Spread};
use crate::machine::{set_mode, Machine};
use crate::report::{publish, user_arguments, Markers};

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
    let (_owned, work) = crate::smtp::work_dir(args.work_dir.as_deref())?;
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

/// The logins of the run: the old mailboxes, and doveadm's fresh target users, one set per
/// run so that every run pulls into empty mailboxes.
#[derive(Debug)]
struct Plan {
    accounts: usize,
    runs: usize,
}

impl Plan {
    fn new(args: &MigrateArgs) -> Plan {
        Plan {
            accounts: args.accounts,
            runs: args.runs,
        }
    }

    /// The old mailbox (login) behind each account of `workload`.
    fn source_logins(&self, workload: Workload) -> Vec<String> {
        match workload {
            Workload::G1 => vec!["nguon-g1".into()],
            Workload::G2 => (0..self.accounts)
                .map(|a| format!("nguon-g2-{a:04}"))
                .collect(),
        }
    }

    /// doveadm's target user for each account of `workload` in `run`.
    fn target_logins(&self, workload: Workload, run: usize) -> Vec<String> {
        let id = workload.id().to_lowercase();
        (0..self.source_logins(workload).len())
            .map(|a| format!("dich-{id}-r{run}-{a:04}"))
            .collect()
    }

    fn sources(&self) -> Vec<String> {
        [Workload::G1, Workload::G2]
            .iter()
            .flat_map(|w| self.source_logins(*w))
            .collect()
    }

    fn targets(&self) -> Vec<String> {
        let mut all = Vec::new();
        for run in 0..self.runs {
            for workload in [Workload::G1, Workload::G2] {
                all.extend(self.target_logins(workload, run));
            }
        }
        all
    }
}

/// What the old server holds for each workload: messages and bytes.
#[derive(Debug, Default, Clone, Copy)]
struct Mailboxes {
    g1: (usize, usize),
    g2: (usize, usize),
}

impl Mailboxes {
    fn of(&self, workload: Workload) -> (usize, usize) {
        match workload {
            Workload::G1 => self.g1,
            Workload::G2 => self.g2,
        }
    }
}

/// Writes the mailboxes of the workloads that run into the old server's Maildir: G1 the
/// I1 corpus in INBOX, G2 further corpus messages over [`G2_FOLDERS`]; 70% read, 10% also
/// flagged, received an hour apart.
fn seed_source(args: &MigrateArgs, plan: &Plan, source: &Dovecot) -> anyhow::Result<Mailboxes> {
    let mut mailboxes = Mailboxes::default();
    let write = |login: &str, i: usize, folder: &str| -> anyhow::Result<usize> {
        let to = format!("{login}@vinhphuc.gov.vn");
        let message = crate::imap::corpus_message(i, &to)?;
        let received = 1_767_229_200 + i as i64 * 3_600;
        source
            .maildir(login)
            .put(folder, &message, flags(i), &[], received);
        Ok(message.len())
    };
    if args.workloads.contains(&Workload::G1) {
        let login = &plan.source_logins(Workload::G1)[0];
        println!("  G1: {} messages", args.messages);
        for i in 0..args.messages {
            mailboxes.g1.0 += 1;
            mailboxes.g1.1 += write(login, i, "INBOX")?;
        }
    }
    if args.workloads.contains(&Workload::G2) {
        println!("  G2: {} × {} messages", args.accounts, args.per_account);
        for (a, login) in plan.source_logins(Workload::G2).iter().enumerate() {
            for n in 0..args.per_account {
                // Corpus numbers after G1's, so every account's mail is its own.
                let i = args.messages + a * args.per_account + n;
                mailboxes.g2.0 += 1;
                mailboxes.g2.1 += write(login, i, G2_FOLDERS[n % G2_FOLDERS.len()])?;
            }
        }
    }
    Ok(mailboxes)
}

/// Flags of corpus message `i`.
fn flags(i: usize) -> &'static [Flag] {
    match i % 10 {
        0..=5 => &[Flag::Seen],
        6 => &[Flag::Seen, Flag::Flagged],
        _ => &[],
    }
}

/// The settings with which the second Dovecot's `doveadm backup -R imapc:` reads the old
/// server: over implicit TLS trusting its CA, as the master user, with the features and
/// prefetch Dovecot's migration documentation advises.
fn imapc_config(port: u16, ca: &Path) -> String {
    format!(
        "imapc_host = 127.0.0.1\n\
         imapc_port = {port}\n\
         imapc_ssl = imaps\n\
         ssl_client_ca_file = {ca}\n\
         imapc_master_user = {MASTER_USER}\n\
         imapc_password = {MASTER_PASSWORD}\n\
         imapc_features = rfc822.size fetch-headers\n\
         mail_prefetch_count = 20\n",
        ca = ca.display(),
    )
}

/// One pull of one workload.
#[derive(Debug, Clone)]
struct Figure {
    workload: Workload,
    puller: Puller,
    elapsed: Duration,
    /// Why the run is no measurement, if it is not.
    failure: Option<String>,
}

struct Bench<'a> {
    args: &'a MigrateArgs,
    plan: &'a Plan,
    source: &'a Dovecot,
    target: &'a Dovecot,
    work: &'a Path,
}

impl Bench<'_> {
    fn pull(&self, workload: Workload, puller: Puller, run: usize) -> Figure {
        let result = match puller {
            Puller::Congvu => self.congvu(workload, run),
            Puller::Doveadm => self.doveadm(workload, run),
        };
        let (elapsed, failure) = match result {
            Ok(elapsed) => (elapsed, None),
            Err(e) => (Duration::ZERO, Some(format!("{e:#}"))),
        };
        Figure {
            workload,
            puller,
            elapsed,
            failure,
        }
    }

    /// `congvu-admin migrate imap` of the workload's accounts into a fresh database.
    fn congvu(&self, workload: Workload, run: usize) -> anyhow::Result<Duration> {
        let dir = self.work.join(format!("congvu-{}-r{run}", workload.id()));
        std::fs::create_dir_all(&dir)?;
        let config = write_admin_config(&dir)?;
        let sources = self.plan.source_logins(workload);
        let officials = crate::admin::import_province(
            &self.args.admin,
            &config,
            &dir,
            sources.len(),
            4_201 + run as u64,
            workload.id(),
        )?;
        let accounts = dir.join("accounts.csv");
        std::fs::write(&accounts, accounts_csv(&officials, &sources))?;
        let concurrency = match workload {
            Workload::G1 => 1,
            Workload::G2 => self.args.concurrency,
        };
        let arguments = migrate_arguments(
            &self.source.imaps_url(),
            &self.source.ca_file(),
            &self.source.master_password_file(),
            &accounts,
            concurrency,
        );
        let started = Instant::now();
        let output = run_bounded(
            Command::new(&self.args.admin)
                .arg("--config")
                .arg(&config)
                .args(&arguments),
        )?;
        let elapsed = started.elapsed();
        let expected = self.messages(workload);
        check_summary(&output, sources.len(), expected)?;
        // The bodies are not needed any more; the next run starts from an empty database.
        std::fs::remove_dir_all(&dir)?;
        Ok(elapsed)
    }

    /// `doveadm backup -R imapc:` of each account into a fresh user of the second Dovecot,
    /// `--concurrency` processes at once for G2.
    fn doveadm(&self, workload: Workload, run: usize) -> anyhow::Result<Duration> {
        let pairs: Vec<(String, String)> = self
            .plan
            .source_logins(workload)
            .into_iter()
            .zip(self.plan.target_logins(workload, run))
            .collect();
        let at_once = match workload {
            Workload::G1 => 1,
            Workload::G2 => self.args.concurrency,
        };
        let next = AtomicUsize::new(0);
        let errors = Mutex::new(Vec::new());
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..at_once {
                scope.spawn(|| {
                    while let Some((source, target)) =
                        pairs.get(next.fetch_add(1, Ordering::SeqCst))
                    {
                        let arguments =
                            doveadm_arguments(&self.target.config_file(), source, target);
                        let doveadm =
                            run_bounded(Command::new(&self.args.doveadm).args(&arguments));
                        if let (Err(e), Ok(mut errors)) = (doveadm, errors.lock()) {
                            errors.push(format!("{source} → {target}: {e:#}"));
                        }
                    }
                });
            }
        });
        let elapsed = started.elapsed();
        let errors = errors.into_inner().unwrap_or_default();
        anyhow::ensure!(errors.is_empty(), "doveadm failed: {}", errors.join("; "));
        let pulled: usize = pairs
            .iter()
            .map(|(_, target)| self.target.maildir(target).message_count())
            .sum();
        let expected = self.messages(workload);
        anyhow::ensure!(
            pulled == expected,
            "doveadm left {pulled} messages in the second Dovecot, expected {expected}"
        );
        Ok(elapsed)
    }

    fn messages(&self, workload: Workload) -> usize {
        match workload {
            Workload::G1 => self.args.messages,
            Workload::G2 => self.args.accounts * self.args.per_account,
        }
    }
}

/// congvu-admin's configuration for a fresh SQLite database under `dir`.
fn write_admin_config(dir: &Path) -> anyhow::Result<PathBuf> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    set_mode(dir, 0o755)?;
    let config = dir.join("congvu.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhostname = \"mail.vinhphuc.gov.vn\"\nprimary_domain = \"vinhphuc.gov.vn\"\n\
             data_dir = {data:?}\n\n[database]\nurl = \"sqlite://{db}\"\n\n[tls]\nself_signed = true\n",
            data = data.display().to_string(),
            db = data.join("congvu.db").display(),
        ),
    )?;
    Ok(config)
}

/// The accounts file: each official with the old mailbox it gets, no passwords (the
/// master user signs in).
fn accounts_csv(officials: &[Official], sources: &[String]) -> String {
    let mut out = String::from("address,source_user\n");
    for (official, source) in officials.iter().zip(sources) {
        out.push_str(&format!("{},{source}\n", official.address));
    }
    out
}

/// `migrate imap` against the old server at `url`, trusting `ca`, as the master user whose
/// password is in `master_password`.
fn migrate_arguments(
    url: &str,
    ca: &Path,
    master_password: &Path,
    accounts: &Path,
    concurrency: usize,
) -> Vec<String> {
    [
        "migrate",
        "imap",
        "--source",
        url,
        "--ca-file",
        &ca.display().to_string(),
        "--accounts",
        &accounts.display().to_string(),
        "--master-user",
        MASTER_USER,
        "--master-password-file",
        &master_password.display().to_string(),
        "--master-style",
        "authzid",
        "--concurrency",
        &concurrency.to_string(),
        "--json",
    ]
    .map(str::to_string)
    .to_vec()
}

/// `doveadm backup -R imapc:` of old mailbox `source` into `target`.
fn doveadm_arguments(config: &Path, source: &str, target: &str) -> Vec<String> {
    [
        "-c",
        &config.display().to_string(),
        "-o",
        &format!("imapc_user={source}"),
        "backup",
        "-R",
        "-u",
        target,
        "imapc:",
    ]
    .map(str::to_string)
    .to_vec()
}

/// Runs `command` to its end within [`STEP_TIMEOUT`]; its standard output, or an error
/// with everything it printed unless it exits 0.
fn run_bounded(command: &mut Command) -> anyhow::Result<String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("while starting {command:?}"))?;
    // Both pipes are drained by threads, so a talkative child never blocks on them.
    let stdout = child.stdout.take().context("no stdout")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > STEP_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{command:?} ran past {STEP_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    anyhow::ensure!(
        status.success(),
        "{command:?} exited with {status}:\n{out}{err}"
    );
    Ok(out)
}

/// Checks congvu-admin's `--json` summary: every account done, every message copied.
fn check_summary(output: &str, accounts: usize, messages: usize) -> anyhow::Result<()> {
    let summary: serde_json::Value =
        serde_json::from_str(output).with_context(|| format!("not a summary: {output}"))?;
    let totals = &summary["totals"];
    let count = |key: &str| totals[key].as_u64().unwrap_or(u64::MAX);
    anyhow::ensure!(
        count("accounts") == accounts as u64 && count("failed_accounts") == 0,
        "congvu-admin did not finish every account: {totals}"
    );
    anyhow::ensure!(
        count("copied") == messages as u64,
        "congvu-admin copied {} messages, expected {messages}: {totals}",
        count("copied")
    );
    Ok(())
}

/// Everything the report section says.
struct Report<'a> {
    args: &'a MigrateArgs,
    machine: &'a Machine,
    mailboxes: &'a Mailboxes,
    figures: &'a [Figure],
}

impl Report<'_> {
    fn render(&self) -> String {
        let args = self.args;
        let mut out = format!(
            "{BEGIN}\n## G1, G2: migrating mailboxes from Dovecot\n\n\
             Measured by `bench/migrate.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {load} before the run). The old server is a private Dovecot\n\
             {version} on loopback serving Maildir over implicit TLS (a certificate from a CA of its\n\
             own) with a master user. congvu-admin pulls with `migrate imap --master-user …\n\
             --master-style authzid --ca-file …` into a fresh SQLite database each run; Dovecot's own\n\
             `doveadm backup -R imapc:` pulls the same mailboxes into a fresh user of a second private\n\
             Dovecot each run (Maildir, stock `mail_fsync = optimized`; `imapc_features = rfc822.size\n\
             fetch-headers` and `mail_prefetch_count = 20` as Dovecot's migration guide advises),\n\
             signing in with the same master user and trusting the same CA. Each ran {runs} time(s), the\n\
             pullers taking turns; figures are wall times, medians with ranges in brackets; every run\n\
             is checked to have brought every message. The ratio is congvu's time over doveadm's.\n\n",
            command = user_arguments(&PATH_OPTIONS),
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            load = self.machine.load,
            version = dovecot_version(),
            runs = args.runs,
        );
        if args.workloads.contains(&Workload::G1) {
            let (n, bytes) = self.mailboxes.g1;
            out.push_str(&format!(
                "- G1: the I1 mailbox, {n} messages ({}), 2–50 KiB each, in one INBOX, 70% \\Seen.\n",
                size(bytes)
            ));
        }
        if args.workloads.contains(&Workload::G2) {
            let (n, bytes) = self.mailboxes.g2;
            out.push_str(&format!(
                "- G2: {a} accounts × {m} messages ({n} in all, {}), in INBOX, Sent and `Công văn đến`;\n  \
                 congvu-admin with `--concurrency {c}`, doveadm as {c} processes at once.\n",
                size(bytes),
                a = args.accounts,
                m = args.per_account,
                c = args.concurrency,
            ));
        }
        out.push_str(
            "\n| id | what | congvu | doveadm backup | ratio | target | met? |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for workload in [Workload::G1, Workload::G2] {
            if args.workloads.contains(&workload) {
                out.push_str(&self.row(workload));
            }
        }
        out.push('\n');
        for workload in [Workload::G1, Workload::G2] {
            if args.workloads.contains(&workload) {
                out.push_str(&self.per_run_line(workload));
            }
        }
        out.push_str(END);
        out.push('\n');
        out
    }

    /// Each run's ratio, congvu's time over doveadm's in the same run, in run order (runs
    /// where either puller failed are left out).
    fn run_ratios(&self, workload: Workload) -> Vec<f64> {
        let times = |puller: Puller| -> Vec<Option<f64>> {
            self.figures
                .iter()
                .filter(|f| f.workload == workload && f.puller == puller)
                .map(|f| f.failure.is_none().then_some(f.elapsed.as_secs_f64()))
                .collect()
        };
        times(Puller::Congvu)
            .into_iter()
            .zip(times(Puller::Doveadm))
            .filter_map(|(ours, theirs)| Some(ours? / theirs?))
            .collect()
    }

    /// The line under the table giving each run's ratio and how far the worst run is from
    /// the target.
    fn per_run_line(&self, workload: Workload) -> String {
        let ratios = self.run_ratios(workload);
        let shown: Vec<String> = ratios.iter().map(|r| times(*r)).collect();
        let mut line = format!(
            "- {} per run, congvu ÷ doveadm: {}",
            workload.id(),
            shown.join(", ")
        );
        if workload == Workload::G1 {
            let worst = ratios.iter().copied().fold(f64::NAN, f64::max);
            if worst.is_finite() && worst <= G1_TARGET {
                let margin = (G1_TARGET - worst) / G1_TARGET * 100.0;
                line.push_str(&format!(
                    "; the target is met in every run, the slowest run {margin:.1}% inside the {G1_TARGET}× line"
                ));
            } else if worst.is_finite() {
                let over = (worst - G1_TARGET) / G1_TARGET * 100.0;
                line.push_str(&format!(
                    "; the target is NOT met in every run: the slowest run is {over:.1}% above the {G1_TARGET}× line"
                ));
            }
        }
        line.push_str(".\n");
        line
    }

    /// The table row of `workload`.
    fn row(&self, workload: Workload) -> String {
        let times_of = |puller: Puller| {
            let runs: Vec<&Figure> = self
                .figures
                .iter()
                .filter(|f| f.workload == workload && f.puller == puller)
                .collect();
            let failures = runs.iter().filter(|f| f.failure.is_some()).count();
            let ok: Vec<f64> = runs
                .iter()
                .filter(|f| f.failure.is_none())
                .map(|f| f.elapsed.as_secs_f64())
                .collect();
            (Spread::of(&ok), failures)
        };
        let (ours, our_failures) = times_of(Puller::Congvu);
        let (theirs, their_failures) = times_of(Puller::Doveadm);
        let ratio = match (ours, theirs) {
            (Some(o), Some(t)) => Some(o.median / t.median),
            _ => None,
        };
        let (n, _) = self.mailboxes.of(workload);
        let (what, target) = match workload {
            Workload::G1 => (format!("one mailbox of {n} messages: wall time"), "≤ 0.5×"),
            Workload::G2 => (
                format!(
                    "{} accounts, {n} messages, {} at once: wall time",
                    self.args.accounts, self.args.concurrency
                ),
                "—",
            ),
        };
        let failures = our_failures + their_failures;
        // A target is met when every run clears it, not when the medians do.
        let every_run = {
            let ratios = self.run_ratios(workload);
            !ratios.is_empty() && ratios.iter().all(|r| *r <= G1_TARGET)
        };
        let met = match (failures, workload, ratio) {
            (0, Workload::G1, Some(_)) if every_run => "met".to_string(),
            (0, Workload::G1, Some(_)) => "NOT met".to_string(),
            (0, _, _) => "—".to_string(),
            (n, _, _) => format!("invalid: {n} failures"),
        };
        let dash = || "—".to_string();
        format!(
            "| {} | {what} | {} | {} | {} | {target} | {met} |\n",
            workload.id(),
            ours.map_or_else(dash, |s| s.show(seconds)),
            theirs.map_or_else(dash, |s| s.show(seconds)),
            ratio.map_or_else(dash, times),
        )
    }
}

/// Dovecot's version, as `dovecot --version` prints it.
fn dovecot_version() -> String {
    Command::new("/usr/sbin/dovecot")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "(version unknown)".into())
}

/// Bytes in MiB, as the report shows a mailbox's size.
fn size(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests;
