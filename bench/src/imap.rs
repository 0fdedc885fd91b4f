//! I1 and M1: congvu's IMAP service against a private Dovecot, in one run, on the same
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
//! - M1: each server restarted, then `--idle` officials logged in with INBOX selected and
//!   (congvu only) `--ldap-idle` LDAP connections bound; resident memory of every process of
//!   the server. The reference is Dovecot alone: slapd and Postfix are not started.
//!
//! Each I1 workload runs on one server at a time, the servers taking turns. This module owns
//! its working directory, the servers it starts (congvu and `dovecot -F` as child processes
//! with their own configuration) and the `imap` section of the report; it never touches the
//! system's Dovecot.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::directory::{Argon2Cost, PasswordCost, PasswordHasher};
use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use rand::{Rng, SeedableRng};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::admin::Official;
use crate::figures::{
    bytes_roughly, microseconds, milliseconds, per_second, percentile, ratio, seconds, spreads,
    times, turns, Spread,
};
use crate::machine::{
    field, free_port, pinned, proc_stat, set_mode, Machine, Pinning, CSTIME, CUTIME, PPID, STIME,
    UTIME,
};
use crate::process::version;
use crate::report::{placement, publish, table, unavailable, user_arguments, Markers, Row};
use crate::server::{Binaries, Certificate, Config, Process, Tls, HOSTNAME};

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
    /// Workloads to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "i1,m1")]
    workloads: Vec<Workload>,
    /// Let servers and clients share every core instead of pinning them apart.
    #[arg(long)]
    no_pin: bool,
    #[command(flatten)]
    congvu: Binaries,
    #[arg(long, default_value = "/usr/sbin/dovecot")]
    dovecot: PathBuf,
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
    let (_owned, work) = crate::smtp::work_dir(args.work_dir.as_deref())?;
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
    let dovecot_config = if args.servers.contains(&ServerKind::Dovecot) {
        println!("configuring a private Dovecot with the same logins");
        let port = ports.dovecot_imaps;
        Some(write_dovecot(
            &args, &work, &cert, &officials, logins, port,
        )?)
    } else {
        None
    };
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
        args.officials >= login_count(args),
        "--officials must be at least --idle and --ldap-idle"
    );
    Ok(())
}

/// Officials who log in: the mailbox owner (the first), and for M1 one per idle connection.
fn login_count(args: &ImapArgs) -> usize {
    if args.workloads.contains(&Workload::M1) {
        args.idle.max(args.ldap_idle).max(1)
    } else {
        1
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

// ---------------------------------------------------------------------------------------
// Seeding

/// The password an official who logs in has chosen: long enough for congvu's policy,
/// and plain enough to sit unquoted in Dovecot's passwd-file and mbsync's configuration.
fn chosen_password(login: &str) -> String {
    format!("Bench-{login}-2026")
}

/// The loopback ports the servers listen on.
#[derive(Debug, Clone, Copy)]
struct Ports {
    congvu_imaps: u16,
    congvu_ldap: u16,
    dovecot_imaps: u16,
}

impl Ports {
    /// Ports free on loopback now.
    fn free() -> anyhow::Result<Ports> {
        Ok(Ports {
            congvu_imaps: free_port()?,
            congvu_ldap: free_port()?,
            dovecot_imaps: free_port()?,
        })
    }
}

fn write_congvu_config(
    args: &ImapArgs,
    dir: &Path,
    cert: &Certificate,
    ports: &Ports,
) -> anyhow::Result<PathBuf> {
    // Implicit TLS for IMAP and plaintext LDAP binds on loopback for M1; every other
    // listener on a free port nobody uses. The log level stays at its default, as Dovecot
    // logs every login by default. Connections per address and per official are raised to
    // what M1 and I1b open, the same on Dovecot.
    Config {
        tls: Tls::Certificate(cert),
        imaps: ports.congvu_imaps,
        sessions_per_official: Some(sessions_per_official(args)),
        ldap: ports.congvu_ldap,
        plaintext_ldap: true,
        connections_per_ip: connection_limit(args),
        extra: "[inbound]\nauthentication = \"off\"\n",
        ..Config::default()
    }
    .write(dir, "congvu.toml")
}

/// Connections one address may hold on both servers: everything M1 and I1 open, with room.
fn connection_limit(args: &ImapArgs) -> usize {
    args.idle + args.ldap_idle + args.sessions + 100
}

/// IMAP sessions one official may hold on both servers: I1b's, and mbsync's, with room.
fn sessions_per_official(args: &ImapArgs) -> usize {
    args.sessions + 10
}

fn seed_congvu(args: &ImapArgs, config: &Path, dir: &Path) -> anyhow::Result<Vec<Official>> {
    let officials = crate::admin::import_province(
        &args.congvu.admin,
        config,
        dir,
        args.officials,
        3501,
        "IMAP",
    )?;
    Ok(officials)
}

/// Gives each official a [`chosen_password`] that need not be changed, as after their
/// first login: one congvu-admin per core at a time, each hashing once at the full cost.
fn set_passwords(
    admin: &Path,
    config: &Path,
    officials: &[Official],
    cores: usize,
) -> anyhow::Result<()> {
    let mut done = 0;
    for batch in officials.chunks(cores.max(1)) {
        std::thread::scope(|scope| {
            let children: Vec<_> = batch
                .iter()
                .map(|o| scope.spawn(move || admin_passwd(admin, config, &o.login)))
                .collect();
            children.into_iter().try_for_each(|child| {
                child
                    .join()
                    .map_err(|_| anyhow::anyhow!("a passwd thread panicked"))?
            })
        })?;
        let before = done;
        done += batch.len();
        if done / 200 > before / 200 {
            println!("  {done} passwords");
        }
    }
    Ok(())
}

/// `user passwd --no-must-change`, retried when SQLite answers "database is locked" to
/// one of several congvu-admin processes writing at once instead of waiting its turn.
fn admin_passwd(admin: &Path, config: &Path, login: &str) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        let result = crate::admin::run(
            admin,
            config,
            &["user", "passwd", login, "--stdin", "--no-must-change"],
            Some(&format!("{}\n", chosen_password(login))),
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

/// Writes the private Dovecot's configuration, passwd-file and mail directory; returns the
/// configuration's path.
fn write_dovecot(
    args: &ImapArgs,
    dir: &Path,
    cert: &Certificate,
    officials: &[Official],
    logins: usize,
    port: u16,
) -> anyhow::Result<PathBuf> {
    let mail = dir.join("dovecot-mail");
    std::fs::create_dir_all(&mail)?;
    std::os::unix::fs::chown(&mail, Some(VMAIL_ID), Some(VMAIL_ID))?;
    let users = dir.join("dovecot-users");
    std::fs::write(&users, passwd_file(officials, logins)?)?;
    set_mode(&users, 0o644)?;
    let config = dir.join("dovecot.conf");
    // Never below Dovecot's stock default_client_limit of 1000.
    let clients = connection_limit(args).max(1000);
    // The stock settings wherever durability, caching and logging are concerned (auth cache
    // off, as congvu has none; mail_fsync = optimized). The login service runs in Dovecot's
    // high-performance mode, one process per core for every client, which is how Dovecot
    // advises serving many connections; each session keeps its own imap process.
    let dh = Path::new("/usr/share/dovecot/dh.pem");
    let dh_line = if dh.exists() {
        format!("ssl_dh = <{}\n", dh.display())
    } else {
        String::new()
    };
    std::fs::write(
        &config,
        format!(
            "base_dir = {base}\n\
             state_dir = {state}\n\
             instance_name = congvu-bench-dovecot\n\
             protocols = imap\n\
             listen = 127.0.0.1\n\
             log_path = {log}\n\
             ssl = required\n\
             ssl_cert = <{cert}\n\
             ssl_key = <{key}\n\
             {dh_line}\
             auth_mechanisms = plain login\n\
             mail_location = maildir:~/Maildir\n\
             first_valid_uid = {VMAIL_ID}\n\
             default_client_limit = {clients}\n\
             passdb {{\n  driver = passwd-file\n  args = {users}\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = {users}\n  \
               default_fields = uid={VMAIL_ID} gid={VMAIL_ID} home={mail}/%u\n}}\n\
             service imap-login {{\n  \
               inet_listener imap {{\n    port = 0\n  }}\n  \
               inet_listener imaps {{\n    port = {port}\n    ssl = yes\n  }}\n  \
               service_count = 0\n  process_min_avail = 1\n  client_limit = {clients}\n  \
               vsz_limit = 1G\n}}\n\
             service imap {{\n  process_limit = {clients}\n}}\n\
             protocol imap {{\n  mail_max_userip_connections = {per_user}\n}}\n",
            base = dir.join("dovecot-run").display(),
            state = dir.join("dovecot-state").display(),
            log = dir.join("dovecot.log").display(),
            cert = cert.cert.display(),
            key = cert.key.display(),
            users = users.display(),
            mail = mail.display(),
            per_user = sessions_per_official(args),
        ),
    )?;
    Ok(config)
}

/// Dovecot's passwd-file: the first `logins` officials with argon2id hashes of their
/// chosen passwords at congvu's full cost (libsodium reads the parameters from the PHC
/// string); everyone else with one hash at congvu's initial cost, as their generated
/// passwords are stored there.
fn passwd_file(officials: &[Official], logins: usize) -> anyhow::Result<String> {
    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let secrets: Vec<(String, PasswordCost)> = officials[..logins]
        .iter()
        .map(|o| (chosen_password(&o.login), PasswordCost::Full))
        .collect();
    let hashes = hasher.hash_all(&secrets, &|_| {})?;
    let initial = hasher.hash("generated-initial-secret", PasswordCost::Initial)?;
    let mut out = String::new();
    for (i, official) in officials.iter().enumerate() {
        let hash = hashes.get(i).unwrap_or(&initial);
        out.push_str(&format!(
            "{}:{{ARGON2ID}}{}::::::\n",
            official.login, hash.0
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The mailbox

const WORDS_VI: [&str; 72] = [
    "công", "văn", "số", "về", "việc", "triển", "khai", "kế", "hoạch", "năm", "của", "Ủy", "ban",
    "nhân", "dân", "tỉnh", "đề", "nghị", "các", "cơ", "quan", "đơn", "vị", "báo", "cáo", "kết",
    "quả", "thực", "hiện", "trước", "ngày", "hồ", "sơ", "cán", "bộ", "chức", "viên", "thẩm",
    "định", "phê", "duyệt", "dự", "án", "đầu", "tư", "xây", "dựng", "giáo", "dục", "y", "tế",
    "nông", "nghiệp", "giao", "thông", "tài", "chính", "ngân", "sách", "họp", "tuần", "trân",
    "trọng", "đồng", "chí", "lãnh", "đạo", "sở", "phòng", "huyện", "xã", "quý",
];
const WORDS_EN: [&str; 40] = [
    "the",
    "report",
    "meeting",
    "schedule",
    "please",
    "review",
    "attached",
    "document",
    "before",
    "deadline",
    "budget",
    "project",
    "province",
    "department",
    "office",
    "update",
    "training",
    "course",
    "registration",
    "confirm",
    "participants",
    "agenda",
    "minutes",
    "quarter",
    "results",
    "plan",
    "approval",
    "request",
    "information",
    "system",
    "account",
    "security",
    "notice",
    "weekly",
    "summary",
    "staff",
    "from",
    "with",
    "for",
    "and",
];
/// Who writes to the mailbox's owner: display names and addresses.
const SENDERS: [(&str, &str); 8] = [
    ("Văn phòng UBND tỉnh", "vanphong@vinhphuc.gov.vn"),
    ("Sở Tài chính", "stc@vinhphuc.gov.vn"),
    ("Nguyễn Thị Hương", "huong.nt@snv.vinhphuc.gov.vn"),
    ("Trần Quốc Tuấn", "tuan.tq@skhdt.vinhphuc.gov.vn"),
    ("Lê Minh Đạt", "dat.lm@stttt.vinhphuc.gov.vn"),
    ("Phòng Tổ chức cán bộ", "tccb@snv.vinhphuc.gov.vn"),
    ("Training Office", "training@example.org"),
    ("IT Helpdesk", "helpdesk@example.org"),
];
/// Seconds since the epoch of the first message (1 January 2026, 08:00 +07:00).
const FIRST_DATE: i64 = 1_767_229_200;

/// What a message of the mailbox is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Vietnamese text/plain, sent 8bit as many local clients do.
    VietnameseEightBit,
    /// Vietnamese text/plain, encoded the way mail-builder chooses (quoted-printable or
    /// base64).
    VietnameseEncoded,
    /// ASCII text/plain.
    English,
    /// multipart/alternative: Vietnamese text and HTML.
    Alternative,
    /// multipart/mixed: Vietnamese text and a binary attachment.
    Attachment,
}

impl Shape {
    /// Of every 20 messages: 6 Vietnamese 8bit, 6 Vietnamese encoded, 5 English, 2 HTML,
    /// 1 with an attachment.
    fn of(i: usize) -> Shape {
        match i % 20 {
            0 => Shape::Attachment,
            1 | 11 => Shape::Alternative,
            2..=6 => Shape::English,
            n if n % 2 == 1 => Shape::VietnameseEightBit,
            _ => Shape::VietnameseEncoded,
        }
    }
}

/// The messages both servers are seeded with, in APPEND order.
#[derive(Debug, Default)]
struct Corpus {
    messages: Vec<Vec<u8>>,
}

impl Corpus {
    fn generate(n: usize, owner: &Official) -> anyhow::Result<Corpus> {
        let messages: Vec<Vec<u8>> = (0..n)
            .map(|i| corpus_message(i, &owner.address))
            .collect::<anyhow::Result<_>>()?;
        // The sizing converges to within a few per cent of its target, so a message may land
        // a little outside the range; far outside means the generator is broken.
        let roughly = MESSAGE_BYTES.start() * 3 / 4..=MESSAGE_BYTES.end() * 5 / 4;
        if let Some(i) = messages.iter().position(|m| !roughly.contains(&m.len())) {
            anyhow::bail!(
                "generated message {i} has {} bytes, outside {MESSAGE_BYTES:?}",
                messages[i].len()
            );
        }
        Ok(Corpus { messages })
    }

    fn bytes(&self) -> usize {
        self.messages.iter().map(Vec::len).sum()
    }

    /// Flags message `i` is appended with: most mail has been read, some is flagged.
    fn flags(i: usize) -> &'static str {
        match i % 10 {
            0..=5 => "(\\Seen)",
            6 => "(\\Seen \\Flagged)",
            _ => "()",
        }
    }
}

/// Message `i` of the mailbox, its size drawn log-uniformly from [`MESSAGE_BYTES`]
/// (attachments from the upper half), the same `i` always giving the same shape and size.
pub(crate) fn corpus_message(i: usize, to: &str) -> anyhow::Result<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9_051 + i as u64);
    let shape = Shape::of(i);
    let (low, high) = (
        *MESSAGE_BYTES.start() as f64 * 1.1,
        *MESSAGE_BYTES.end() as f64 * 0.95,
    );
    let low = if shape == Shape::Attachment {
        high / 2.0
    } else {
        low
    };
    let target = (low * (high / low).powf(rng.random::<f64>())) as usize;
    // The encodings make the size roughly proportional to the text: a few rounds of
    // scaling the text land within a few per cent of the target.
    let mut text_bytes = target / 2;
    let mut message = Vec::new();
    for _ in 0..4 {
        message = build_message(i, shape, to, text_bytes, target, rng.clone())?;
        let overhead = 900;
        let scale = target.saturating_sub(overhead) as f64
            / message.len().saturating_sub(overhead).max(1) as f64;
        text_bytes = ((text_bytes as f64 * scale) as usize).max(64);
        if message.len().abs_diff(target) * 50 < target {
            break;
        }
    }
    Ok(message)
}

fn build_message(
    i: usize,
    shape: Shape,
    to: &str,
    text_bytes: usize,
    target: usize,
    mut rng: rand::rngs::StdRng,
) -> anyhow::Result<Vec<u8>> {
    let (sender_name, sender) = SENDERS[match shape {
        Shape::English => 6 + i % 2,
        _ => i % 6,
    }];
    let date = FIRST_DATE + i as i64 * 2_700;
    let words: &[&str] = if shape == Shape::English {
        &WORDS_EN
    } else {
        &WORDS_VI
    };
    let subject = match shape {
        Shape::English => format!("{} #{i}", sentence(&mut rng, words, 6)),
        _ => format!("V/v {} (số {}/SNV-VP)", sentence(&mut rng, words, 8), i + 1),
    };
    let received = format!(
        "from mx.example.org (mx.example.org [203.0.113.5]) by {HOSTNAME} with ESMTPS id \
         {i:08x} for <{to}>; {}",
        mail_builder::headers::date::Date::new(date + 3).to_rfc822()
    );
    let builder = MessageBuilder::new()
        .header("Received", Raw::new(received))
        .from(Address::from((sender_name.to_string(), sender.to_string())))
        .to(Address::from(to.to_string()))
        .subject(subject)
        .date(date)
        .message_id(format!("{i}.{date}@{HOSTNAME}"));
    let builder = if i % 7 == 3 && i > 0 {
        builder.in_reply_to(format!("{}.{}@{HOSTNAME}", i - 1, date - 2_700))
    } else {
        builder
    };
    let text = text(&mut rng, words, text_bytes);
    let builder = match shape {
        Shape::VietnameseEightBit => {
            builder.body(MimePart::new("text/plain", text).transfer_encoding("8bit"))
        }
        Shape::VietnameseEncoded | Shape::English => builder.text_body(text),
        Shape::Alternative => {
            let html = html(&text);
            builder.text_body(text).html_body(html)
        }
        Shape::Attachment => {
            let text = text_prefix(&text, 1_500);
            // base64 takes 4 bytes (and a line break per 76) for every 3.
            let payload = target.saturating_sub(text.len() + 1_200) * 3 / 4 * 76 / 78;
            let mut bytes = vec![0u8; payload.max(512)];
            rng.fill(bytes.as_mut_slice());
            let (kind, name) = if i % 40 == 0 {
                ("application/pdf", format!("Kế hoạch số {}.pdf", i + 1))
            } else {
                (
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    format!("bao-cao-{}.docx", i + 1),
                )
            };
            builder.text_body(text).attachment(kind, name, bytes)
        }
    };
    Ok(builder.write_to_vec()?)
}

/// `count` words, the first capitalised.
fn sentence(rng: &mut rand::rngs::StdRng, words: &[&str], count: usize) -> String {
    let mut out = String::new();
    for n in 0..count {
        let word = words[rng.random_range(0..words.len())];
        if n == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(word);
        }
    }
    out
}

/// About `bytes` bytes of paragraphs in lines of at most 76 characters, CRLF-terminated as
/// the message's 8bit form needs.
fn text(rng: &mut rand::rngs::StdRng, words: &[&str], bytes: usize) -> String {
    let mut out = String::from("Kính gửi đồng chí,\r\n\r\n");
    while out.len() < bytes {
        let mut line = 0;
        for _ in 0..rng.random_range(3..7) {
            let count = rng.random_range(8..20);
            let sentence = sentence(rng, words, count) + ".";
            for word in sentence.split(' ') {
                let width = word.chars().count();
                if line > 0 && line + 1 + width > 76 {
                    out.push_str("\r\n");
                    line = 0;
                } else if line > 0 {
                    out.push(' ');
                    line += 1;
                }
                out.push_str(word);
                line += width;
            }
        }
        out.push_str("\r\n\r\n");
    }
    out.push_str("Trân trọng./.\r\n");
    out
}

/// The first paragraphs of `text`, up to about `bytes` bytes, cut at a line end.
fn text_prefix(text: &str, bytes: usize) -> String {
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        if out.len() + line.len() > bytes && !out.is_empty() {
            break;
        }
        out.push_str(line);
    }
    out
}

/// The HTML part of an alternative message: the same paragraphs.
fn html(text: &str) -> String {
    let mut out = String::from(
        "<html><head><meta charset=\"utf-8\"></head>\r\n<body style=\"font-family: Arial\">\r\n",
    );
    for paragraph in text.split("\r\n\r\n").filter(|p| !p.is_empty()) {
        out.push_str("<p>");
        out.push_str(paragraph);
        out.push_str("</p>\r\n");
    }
    out.push_str("</body></html>\r\n");
    out
}

// ---------------------------------------------------------------------------------------
// The servers

/// What a server said when a client connected.
#[derive(Debug)]
enum Greeting {
    Ready,
    /// Anything but `* OK`, e.g. `* BYE [UNAVAILABLE] …`.
    Refused(String),
}

/// A server under test, run as a child process in the foreground; stopped when dropped.
#[derive(Debug)]
struct Server {
    kind: ServerKind,
    binary: PathBuf,
    arguments: Vec<std::ffi::OsString>,
    log: PathBuf,
    imaps: SocketAddr,
    /// congvu's LDAP listener, for M1's idle LDAP connections.
    ldap: Option<SocketAddr>,
    pin: Option<String>,
    process: Option<Process>,
    /// Clock ticks per second of /proc/PID/stat times.
    ticks: f64,
}

impl Server {
    fn start(&mut self) -> anyhow::Result<()> {
        let mut command = pinned(&self.binary, self.pin.as_deref());
        command.args(&self.arguments);
        self.process = Some(Process::start(self.kind.name(), command, self.log.clone())?);
        Ok(())
    }

    /// SIGTERM (congvu drains and closes its database; Dovecot's master stops every
    /// process it started), then SIGKILL after 60 s.
    fn stop(&mut self) -> anyhow::Result<()> {
        match self.process.take() {
            Some(mut process) => process.stop(Duration::from_secs(60)),
            None => Ok(()),
        }
    }

    fn restart(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        tls: &TlsConnector,
    ) -> anyhow::Result<()> {
        self.stop()?;
        self.start()?;
        match runtime.block_on(self.wait_ready(tls))? {
            Greeting::Ready => Ok(()),
            Greeting::Refused(text) => {
                anyhow::bail!(
                    "{} refused connections after a restart: {text}",
                    self.kind.name()
                )
            }
        }
    }

    /// Waits until the server greets an IMAP client over TLS, or gives up after a minute.
    async fn wait_ready(&mut self, tls: &TlsConnector) -> anyhow::Result<Greeting> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        while Instant::now() < deadline {
            let process = self.process.as_mut().context("the server is not running")?;
            process.check_running()?;
            match ImapSession::connect(self.imaps, tls).await {
                Ok((_, greeting)) if greeting.starts_with("* OK") => return Ok(Greeting::Ready),
                Ok((_, greeting)) => return Ok(Greeting::Refused(greeting)),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!(
            "{} did not greet on {} within 60 s: {last}",
            self.kind.name(),
            self.imaps
        )
    }

    /// taskset execs the server, so the child's pid is the server's (Dovecot: its master).
    fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// CPU time of every process of the server so far.
    fn cpu(&self) -> Duration {
        let ticks = self.pid().map_or(0, |pid| {
            process_tree(pid)
                .into_iter()
                .filter_map(proc_stat)
                .map(|s| {
                    field(&s, UTIME) + field(&s, STIME) + field(&s, CUTIME) + field(&s, CSTIME)
                })
                .sum()
        });
        Duration::from_secs_f64(ticks as f64 / self.ticks)
    }

    /// Resident memory of every process of the server.
    fn memory(&self) -> Memory {
        self.pid().map_or_else(Memory::default, tree_memory)
    }

    fn log_tail(&self) -> String {
        crate::process::log_tail(&self.log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A graceful stop, so Dovecot's master takes its processes with it; a server that
        // does not stop is killed as its process is dropped.
        let _ = self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// Processes

/// `root` and every process descended from it. Children that have exited and been waited
/// for are in their parent's CUTIME/CSTIME, so summing all four over the tree counts every
/// process once.
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(stat) = proc_stat(pid) {
                parents.push((pid, field(&stat, PPID) as u32));
            }
        }
    }
    descendants(root, &parents)
}

/// `root` and its descendants among `(pid, parent)` pairs.
fn descendants(root: u32, parents: &[(u32, u32)]) -> Vec<u32> {
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        tree.extend(
            parents
                .iter()
                .filter(|&&(pid, ppid)| ppid == parent && pid != parent)
                .map(|&(pid, _)| pid),
        );
        next += 1;
    }
    tree
}

/// Resident memory of a group of processes.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    /// Sum of VmRSS: pages shared between the processes count once per process.
    rss: u64,
    /// Sum of Pss: each shared page divided among the processes that map it.
    pss: u64,
    processes: usize,
}

fn tree_memory(root: u32) -> Memory {
    let mut memory = Memory::default();
    for pid in process_tree(root) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        memory.rss += kib_field(&status, "VmRSS:").unwrap_or(0) * 1024;
        memory.pss += kib_field(&rollup, "Pss:").unwrap_or(0) * 1024;
        memory.processes += 1;
    }
    memory
}

/// The value of a `Name:   123 kB` line of a /proc file.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

// ---------------------------------------------------------------------------------------
// The IMAP client

/// Where the first complete server response in `buffer` ends: after the CRLF of its last
/// line, past every literal its lines announce (RFC 3501 §4.3: a line ending in `{n}` is
/// followed by n octets, then the rest of the response). `None` while more bytes are needed.
fn response_end(buffer: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let newline = buffer.get(from..)?.iter().position(|&b| b == b'\n')? + from;
        let line = &buffer[from..newline];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match literal_size(line) {
            Some(size) => {
                from = (newline + 1).checked_add(size)?;
                if from > buffer.len() {
                    return None;
                }
            }
            None => return Some(newline + 1),
        }
    }
}

/// The size a line ending in `{n}` announces.
fn literal_size(line: &[u8]) -> Option<usize> {
    let inside = line.strip_suffix(b"}")?;
    let open = inside.iter().rposition(|&b| b == b'{')?;
    let digits = &inside[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The number right after the first `key` in `response`, e.g. `RFC822.SIZE 4711`.
fn number_after(response: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(response, key)? + key.len();
    let digits = response[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&response[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// n of an untagged `* n KEYWORD` response (`EXISTS`, `FETCH`).
fn untagged_number(response: &[u8], keyword: &[u8]) -> Option<u64> {
    let rest = response.strip_prefix(b"* ")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let after = rest[digits..].strip_prefix(b" ")?;
    if digits == 0 || !after.starts_with(keyword) {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The first line of a response, for messages.
fn first_line(response: &[u8]) -> String {
    let end = response
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(response.len());
    String::from_utf8_lossy(&response[..end.min(300)]).into_owned()
}

/// One IMAP session over implicit TLS. Commands go one at a time.
struct ImapSession {
    stream: TlsStream<TcpStream>,
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` already handed out as responses.
    consumed: usize,
    tags: u32,
}

impl std::fmt::Debug for ImapSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSession")
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

impl ImapSession {
    /// Connects, completes the TLS handshake and reads the greeting.
    async fn connect(
        addr: SocketAddr,
        tls: &TlsConnector,
    ) -> Result<(ImapSession, String), String> {
        let tcp = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::IpAddress(IpAddr::from(Ipv4Addr::LOCALHOST).into());
        let stream = tokio::time::timeout(STEP_TIMEOUT, tls.connect(name, tcp))
            .await
            .map_err(|_| "TLS handshake timed out".to_string())?
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let mut session = ImapSession {
            stream,
            buffer: Vec::with_capacity(64 * 1024),
            consumed: 0,
            tags: 0,
        };
        let greeting = first_line(session.response().await?);
        Ok((session, greeting))
    }

    /// The next complete response, literals included.
    async fn response(&mut self) -> Result<&[u8], String> {
        loop {
            if let Some(end) = response_end(&self.buffer[self.consumed..]) {
                let start = self.consumed;
                self.consumed += end;
                return Ok(&self.buffer[start..start + end]);
            }
            if self.consumed > 0 {
                self.buffer.drain(..self.consumed);
                self.consumed = 0;
            }
            self.buffer.reserve(64 * 1024);
            let read = tokio::time::timeout(STEP_TIMEOUT, self.stream.read_buf(&mut self.buffer))
                .await
                .map_err(|_| "no response within the step timeout".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            if read == 0 {
                return Err("the server closed the connection".into());
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(STEP_TIMEOUT, write)
            .await
            .map_err(|_| "write timed out".to_string())?
            .map_err(|e| format!("write: {e}"))
    }

    fn next_tag(&mut self) -> String {
        self.tags += 1;
        format!("b{}", self.tags)
    }

    /// Reads responses until the one tagged `tag`, handing every other to `each`; fails
    /// unless the tagged one is OK.
    async fn until_tagged(
        &mut self,
        tag: &str,
        command: &str,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), String> {
        let tagged = format!("{tag} ");
        loop {
            let response = self.response().await?;
            if let Some(status) = response.strip_prefix(tagged.as_bytes()) {
                return if status.starts_with(b"OK") {
                    Ok(())
                } else {
                    Err(format!("{command} → {}", first_line(response)))
                };
            }
            if response.starts_with(b"* BYE") {
                return Err(format!("{command} → {}", first_line(response)));
            }
            each(response);
        }
    }

    /// Sends `command`, handing each untagged response to `each`; fails unless it ends OK.
    async fn command(&mut self, command: &str, each: impl FnMut(&[u8])) -> Result<(), String> {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        self.until_tagged(&tag, command, each).await
    }

    async fn login(&mut self, login: &str, password: &str) -> Result<(), String> {
        let tag = self.next_tag();
        self.send(format!("{tag} LOGIN \"{login}\" \"{password}\"\r\n").as_bytes())
            .await?;
        self.until_tagged(&tag, "LOGIN", |_| {}).await
    }

    /// Selects INBOX; returns its EXISTS.
    async fn select_inbox(&mut self) -> Result<usize, String> {
        let mut exists = None;
        self.command("SELECT INBOX", |r| {
            if let Some(n) = untagged_number(r, b"EXISTS") {
                exists = Some(n as usize);
            }
        })
        .await?;
        exists.ok_or_else(|| "SELECT INBOX answered no EXISTS".to_string())
    }

    /// APPENDs one message to INBOX with a synchronising literal: the server's `+` before
    /// the bytes, as a client that does not rely on LITERAL+ sends it.
    async fn append(&mut self, flags: &str, message: &[u8]) -> Result<(), String> {
        let tag = self.next_tag();
        self.send(format!("{tag} APPEND INBOX {flags} {{{}}}\r\n", message.len()).as_bytes())
            .await?;
        let response = self.response().await?;
        if !response.starts_with(b"+") {
            return Err(format!("APPEND → {}", first_line(response)));
        }
        let mut literal = Vec::with_capacity(message.len() + 2);
        literal.extend_from_slice(message);
        literal.extend_from_slice(b"\r\n");
        self.send(&literal).await?;
        self.until_tagged(&tag, "APPEND", |_| {}).await
    }

    /// LOGOUT; the session is over whatever the server answers.
    async fn logout(mut self) {
        let _ = self.command("LOGOUT", |_| {}).await;
    }
}

/// Logs `official` in and selects INBOX; returns the session and INBOX's EXISTS.
async fn open_inbox(
    addr: SocketAddr,
    tls: &TlsConnector,
    login: &str,
) -> Result<(ImapSession, usize), String> {
    let (mut session, greeting) = ImapSession::connect(addr, tls).await?;
    if !greeting.starts_with("* OK") {
        return Err(format!("greeting {greeting}"));
    }
    session.login(login, &chosen_password(login)).await?;
    let exists = session.select_inbox().await?;
    Ok((session, exists))
}

// ---------------------------------------------------------------------------------------
// Measurements

/// Seeding one server's mailbox.
#[derive(Debug, Clone)]
struct SeedRun {
    elapsed: Duration,
    cpu: Duration,
    /// What the check of the stored sizes found.
    check: String,
}

/// One mbsync run.
#[derive(Debug, Clone)]
struct SyncRun {
    elapsed: Duration,
    cpu: Duration,
    /// Messages in the local Maildir afterwards.
    synced: usize,
    failure: Option<String>,
}

/// One I1b run.
#[derive(Debug, Clone)]
struct FetchRun {
    /// Every session's `UID FETCH 1:* (…)`: how long each took, and the wall time from
    /// the first sent to the last answered.
    listing: Vec<Duration>,
    listing_wall: Duration,
    listing_cpu: Duration,
    /// Messages the listings returned, over all sessions.
    listed: usize,
    /// Every `FETCH n BODY.PEEK[]`.
    bodies: Vec<Duration>,
    bodies_wall: Duration,
    bodies_cpu: Duration,
    body_bytes: u64,
    failures: usize,
    first_failure: Option<String>,
}

impl FetchRun {
    fn listed_per_second(&self) -> f64 {
        self.listed as f64 / self.listing_wall.as_secs_f64()
    }

    fn bodies_per_second(&self) -> f64 {
        self.bodies.len() as f64 / self.bodies_wall.as_secs_f64()
    }

    fn listing_p99_ms(&self) -> f64 {
        p99_ms(&self.listing)
    }

    fn body_p99_ms(&self) -> f64 {
        p99_ms(&self.bodies)
    }

    fn body_cpu_us(&self) -> f64 {
        self.bodies_cpu.as_secs_f64() * 1e6 / self.bodies.len().max(1) as f64
    }
}

fn p99_ms(durations: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = durations.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    percentile(&ms, 0.99)
}

/// M1 on one server.
#[derive(Debug, Clone)]
struct MemoryRun {
    /// Right after a restart, before any client.
    before: Memory,
    /// With the idle connections open.
    idle: Memory,
    imap_opened: usize,
    ldap_opened: usize,
    /// IMAP connections that answered NOOP after the reading.
    alive: usize,
    first_failure: Option<String>,
}

/// Everything measured on one server.
#[derive(Debug)]
struct Figures {
    kind: ServerKind,
    seed: Option<SeedRun>,
    sync: Vec<SyncRun>,
    fetch: Vec<FetchRun>,
    memory: Option<MemoryRun>,
}

/// The state of a measurement.
struct Bench<'a> {
    args: &'a ImapArgs,
    runtime: &'a tokio::runtime::Runtime,
    tls: &'a TlsConnector,
    officials: &'a [Official],
    corpus: &'a Corpus,
    work: &'a Path,
    cert: &'a Certificate,
}

impl Bench<'_> {
    /// Runs the workloads phase by phase; in each phase the servers take turns, the order
    /// flipping every run, so drift on a shared machine hits both sides of a ratio alike.
    fn measure(&self, servers: &mut [Server]) -> anyhow::Result<Vec<Figures>> {
        let mut figures: Vec<Figures> = servers
            .iter()
            .map(|s| Figures {
                kind: s.kind,
                seed: None,
                sync: Vec::new(),
                fetch: Vec::new(),
                memory: None,
            })
            .collect();
        if self.args.workloads.contains(&Workload::I1) {
            self.measure_i1(servers, &mut figures)?;
        }
        if self.args.workloads.contains(&Workload::M1) {
            self.measure_m1(servers, &mut figures)?;
        }
        Ok(figures)
    }

    /// I1: the seed over one connection, then I1a's mbsync runs and I1b's listing runs,
    /// the servers taking turns.
    fn measure_i1(&self, servers: &mut [Server], figures: &mut [Figures]) -> anyhow::Result<()> {
        for (server, f) in servers.iter().zip(figures.iter_mut()) {
            println!(
                "I1 seed: {}, {} messages over one connection",
                server.kind.name(),
                self.corpus.messages.len()
            );
            let seed = self.seed(server)?;
            println!("  {:.1} s; {}", seed.elapsed.as_secs_f64(), seed.check);
            f.seed = Some(seed);
        }
        let runs = self.args.runs;
        for run in 0..runs {
            for i in turns(run, servers.len()) {
                println!(
                    "I1a run {}/{runs}: {}, mbsync",
                    run + 1,
                    servers[i].kind.name()
                );
                let sync = self.mbsync(&servers[i], run)?;
                println!(
                    "  {:.2} s, {} messages synced{}",
                    sync.elapsed.as_secs_f64(),
                    sync.synced,
                    sync.failure
                        .as_deref()
                        .map(|f| format!(": {f}"))
                        .unwrap_or_default()
                );
                figures[i].sync.push(sync);
            }
        }
        for run in 0..runs {
            for i in turns(run, servers.len()) {
                println!(
                    "I1b run {}/{runs}: {}, {} sessions",
                    run + 1,
                    servers[i].kind.name(),
                    self.args.sessions
                );
                let fetch = self.fetch(&servers[i], run)?;
                println!(
                    "  listing {:.0} messages/s (p99 {:.0} ms), bodies {:.0}/s (p99 {:.2} ms), \
                     {} failures",
                    fetch.listed_per_second(),
                    fetch.listing_p99_ms(),
                    fetch.bodies_per_second(),
                    fetch.body_p99_ms(),
                    fetch.failures
                );
                figures[i].fetch.push(fetch);
            }
        }
        Ok(())
    }

    /// M1: each server restarted, then its memory with the idle connections open.
    fn measure_m1(&self, servers: &mut [Server], figures: &mut [Figures]) -> anyhow::Result<()> {
        for (server, f) in servers.iter_mut().zip(figures.iter_mut()) {
            println!(
                "M1: {}, restarted, {} idle IMAP connections{}",
                server.kind.name(),
                self.args.idle,
                if server.ldap.is_some() {
                    format!(" and {} idle LDAP connections", self.args.ldap_idle)
                } else {
                    String::new()
                }
            );
            let memory = self.idle_memory(server)?;
            println!(
                "  {} RSS ({} PSS) over {} processes, {} before the connections",
                bytes_roughly(memory.idle.rss as f64),
                bytes_roughly(memory.idle.pss as f64),
                memory.idle.processes,
                bytes_roughly(memory.before.rss as f64)
            );
            f.memory = Some(memory);
        }
        Ok(())
    }

    /// APPENDs the corpus to the owner's INBOX over one connection, then checks that the
    /// server holds every message at its size, in order.
    fn seed(&self, server: &Server) -> anyhow::Result<SeedRun> {
        let owner = &self.officials[0].login;
        let cpu_before = server.cpu();
        let started = Instant::now();
        let result: Result<(), String> = self.runtime.block_on(async {
            let (mut session, exists) = open_inbox(server.imaps, self.tls, owner).await?;
            if exists != 0 {
                return Err(format!("INBOX holds {exists} messages before seeding"));
            }
            for (i, message) in self.corpus.messages.iter().enumerate() {
                session.append(Corpus::flags(i), message).await?;
            }
            session.logout().await;
            Ok(())
        });
        let elapsed = started.elapsed();
        let cpu = server.cpu().saturating_sub(cpu_before);
        result.map_err(|e| anyhow::anyhow!("{}: seeding failed: {e}", server.kind.name()))?;
        let sizes = self
            .runtime
            .block_on(self.stored_sizes(server.imaps))
            .map_err(|e| anyhow::anyhow!("{}: {e}", server.kind.name()))?;
        let expected: Vec<u64> = self
            .corpus
            .messages
            .iter()
            .map(|m| m.len() as u64)
            .collect();
        anyhow::ensure!(
            sizes == expected,
            "{} holds {} messages whose sizes differ from those appended (first at #{})",
            server.kind.name(),
            sizes.len(),
            sizes
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(sizes.len().min(expected.len()))
                + 1
        );
        Ok(SeedRun {
            elapsed,
            cpu,
            check: format!(
                "all {} messages stored, each at its RFC822.SIZE",
                sizes.len()
            ),
        })
    }

    /// RFC822.SIZE of every message in the owner's INBOX, by sequence number.
    async fn stored_sizes(&self, addr: SocketAddr) -> Result<Vec<u64>, String> {
        let owner = &self.officials[0].login;
        let (mut session, exists) = open_inbox(addr, self.tls, owner).await?;
        let mut sizes = vec![0u64; exists];
        let mut stray = None;
        session
            .command("UID FETCH 1:* (RFC822.SIZE)", |r| {
                match (
                    untagged_number(r, b"FETCH"),
                    number_after(r, b"RFC822.SIZE "),
                ) {
                    (Some(seq), Some(size)) if (1..=exists as u64).contains(&seq) => {
                        sizes[seq as usize - 1] = size;
                    }
                    _ => stray = Some(first_line(r)),
                }
            })
            .await?;
        session.logout().await;
        match stray {
            Some(line) => Err(format!("unexpected response to the size check: {line}")),
            None => Ok(sizes),
        }
    }

    /// One I1a run: `mbsync` pulls INBOX into an empty Maildir.
    fn mbsync(&self, server: &Server, run: usize) -> anyhow::Result<SyncRun> {
        let dir = self
            .work
            .join("mbsync")
            .join(format!("{}-{run}", server.kind.name()));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("mbsyncrc");
        let local = dir.join("mail");
        std::fs::create_dir_all(&local)?;
        let owner = &self.officials[0].login;
        std::fs::write(
            &config,
            mbsync_config(server.imaps, owner, &self.cert.cert, &local),
        )?;
        let cpu_before = server.cpu();
        let started = Instant::now();
        let out = Command::new(&self.args.mbsync)
            .arg("-c")
            .arg(&config)
            .arg("inbox")
            .stdin(Stdio::null())
            .output()
            .context("while running mbsync")?;
        let elapsed = started.elapsed();
        let cpu = server.cpu().saturating_sub(cpu_before);
        let inbox = local.join("INBOX");
        let synced = ["new", "cur"]
            .iter()
            .map(|sub| std::fs::read_dir(inbox.join(sub)).map_or(0, |d| d.count()))
            .sum();
        let failure = if !out.status.success() {
            Some(format!(
                "mbsync exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        } else if synced != self.corpus.messages.len() {
            Some(format!(
                "{synced} of {} messages in the local Maildir",
                self.corpus.messages.len()
            ))
        } else {
            None
        };
        std::fs::remove_dir_all(&dir)?;
        Ok(SyncRun {
            elapsed,
            cpu,
            synced,
            failure,
        })
    }

    /// One I1b run: `--sessions` sessions list the mailbox at once, then fetch random
    /// whole messages for `--seconds`. The main task reads the server's CPU between the
    /// phases while the sessions wait at a barrier.
    fn fetch(&self, server: &Server, run: usize) -> anyhow::Result<FetchRun> {
        let args = self.args;
        let owner = self.officials[0].login.clone();
        let sizes: Arc<Vec<u64>> = Arc::new(
            self.corpus
                .messages
                .iter()
                .map(|m| m.len() as u64)
                .collect(),
        );
        let sessions = self.runtime.block_on(async {
            let mut sessions = Vec::new();
            for _ in 0..args.sessions {
                let (session, exists) = open_inbox(server.imaps, self.tls, &owner).await?;
                if exists != sizes.len() {
                    return Err(format!(
                        "INBOX holds {exists} messages, not {}",
                        sizes.len()
                    ));
                }
                sessions.push(session);
            }
            Ok(sessions)
        });
        let sessions = sessions.map_err(|e| anyhow::anyhow!("{}: {e}", server.kind.name()))?;
        let seconds = Duration::from_secs(args.seconds);
        self.runtime.block_on(async {
            let barrier = Arc::new(tokio::sync::Barrier::new(sessions.len() + 1));
            let tasks: Vec<_> = sessions
                .into_iter()
                .enumerate()
                .map(|(n, session)| {
                    let seed = (run * 1_000 + n) as u64;
                    tokio::spawn(fetch_session(
                        session,
                        Arc::clone(&sizes),
                        Arc::clone(&barrier),
                        seconds,
                        seed,
                    ))
                })
                .collect();
            barrier.wait().await;
            let (listing_started, cpu_start) = (Instant::now(), server.cpu());
            barrier.wait().await;
            let (listing_wall, cpu_listed) = (listing_started.elapsed(), server.cpu());
            barrier.wait().await;
            let bodies_started = Instant::now();
            let mut tallies = Vec::new();
            for task in tasks {
                tallies.push(task.await?);
            }
            let bodies_wall = bodies_started.elapsed();
            let cpu_end = server.cpu();
            let mut run = FetchRun {
                listing: Vec::new(),
                listing_wall,
                listing_cpu: cpu_listed.saturating_sub(cpu_start),
                listed: 0,
                bodies: Vec::new(),
                bodies_wall,
                bodies_cpu: cpu_end.saturating_sub(cpu_listed),
                body_bytes: 0,
                failures: 0,
                first_failure: None,
            };
            for tally in tallies {
                run.listing.extend(tally.listing);
                run.listed += tally.listed;
                run.bodies.extend(tally.bodies);
                run.body_bytes += tally.body_bytes;
                run.failures += tally.failures;
                if run.first_failure.is_none() {
                    run.first_failure = tally.first_failure;
                }
            }
            anyhow::Ok(run)
        })
    }

    /// M1 on one server: restarted, then the idle connections, then the memory.
    fn idle_memory(&self, server: &mut Server) -> anyhow::Result<MemoryRun> {
        server.restart(self.runtime, self.tls)?;
        std::thread::sleep(Duration::from_secs(2));
        let before = server.memory();
        let logins: Vec<String> = self.officials[..self.args.idle]
            .iter()
            .map(|o| o.login.clone())
            .collect();
        let (addr, ldap, tls) = (server.imaps, server.ldap, self.tls.clone());
        let ldap_logins = logins_for_ldap(self.officials, self.args.ldap_idle);
        let (imap, imap_failure) = self.runtime.block_on(open_idle_imap(addr, tls, logins));
        let (ldap, ldap_failure) = match ldap {
            Some(addr) => self.runtime.block_on(open_idle_ldap(addr, ldap_logins)),
            None => (Vec::new(), None),
        };
        std::thread::sleep(M1_SETTLE);
        let idle = server.memory();
        let (imap_opened, ldap_opened) = (imap.len(), ldap.len());
        let alive = self.runtime.block_on(still_alive(imap));
        self.runtime.block_on(async {
            for mut connection in ldap {
                let _ = connection.unbind().await;
            }
        });
        Ok(MemoryRun {
            before,
            idle,
            imap_opened,
            ldap_opened,
            alive,
            first_failure: imap_failure.or(ldap_failure),
        })
    }
}

/// isync 1.4's configuration for pulling INBOX from `addr` into `local`: the run's
/// certificate trusted, LOGIN as Dovecot and congvu both offer it, and no fsync of the local
/// Maildir, so the client's disk does not set the pace of a server comparison.
fn mbsync_config(addr: SocketAddr, login: &str, cert: &Path, local: &Path) -> String {
    format!(
        "FSync no\n\n\
         IMAPAccount bench\n\
         Host {host}\n\
         Port {port}\n\
         User {login}\n\
         Pass {password}\n\
         SSLType IMAPS\n\
         CertificateFile {cert}\n\
         AuthMechs LOGIN\n\n\
         IMAPStore far\n\
         Account bench\n\n\
         MaildirStore near\n\
         Path {local}/\n\
         Inbox {local}/INBOX\n\n\
         Channel inbox\n\
         Far :far:INBOX\n\
         Near :near:INBOX\n\
         Create Near\n\
         Sync Pull\n\
         SyncState *\n",
        host = addr.ip(),
        port = addr.port(),
        password = chosen_password(login),
        cert = cert.display(),
        local = local.display(),
    )
}

/// What one I1b session did.
#[derive(Debug, Default)]
struct SessionTally {
    listing: Vec<Duration>,
    listed: usize,
    bodies: Vec<Duration>,
    body_bytes: u64,
    failures: usize,
    first_failure: Option<String>,
}

impl SessionTally {
    fn fail(&mut self, e: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(e);
    }
}

/// One I1b session: waits at the barrier, lists the mailbox, waits twice (the main task
/// reads the server's CPU), then fetches random messages for `seconds`. Every answer is
/// checked: the listing must give each message with its envelope, structure and the size
/// it was appended with; each body must be that size. A session that fails keeps meeting
/// the barrier, so the others are not left waiting.
async fn fetch_session(
    mut session: ImapSession,
    sizes: Arc<Vec<u64>>,
    barrier: Arc<tokio::sync::Barrier>,
    seconds: Duration,
    seed: u64,
) -> SessionTally {
    let mut tally = SessionTally::default();
    barrier.wait().await;
    let started = Instant::now();
    let mut listed = 0usize;
    let mut wrong = None;
    let listing = session
        .command(
            "UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)",
            |r| {
                let seq = untagged_number(r, b"FETCH");
                let size = number_after(r, b"RFC822.SIZE ");
                let whole =
                    find(r, b"ENVELOPE (").is_some() && find(r, b"BODYSTRUCTURE (").is_some();
                match seq.zip(size) {
                    Some((seq, size))
                        if whole
                            && (seq as usize).checked_sub(1).and_then(|i| sizes.get(i))
                                == Some(&size) =>
                    {
                        listed += 1;
                    }
                    _ => {
                        wrong.get_or_insert_with(|| format!("listing: {}", first_line(r)));
                    }
                }
            },
        )
        .await;
    tally.listing.push(started.elapsed());
    tally.listed = listed;
    match (listing, wrong) {
        (Err(e), _) | (Ok(()), Some(e)) => tally.fail(e),
        (Ok(()), None) if listed != sizes.len() => {
            tally.fail(format!("listing gave {listed} of {} messages", sizes.len()));
        }
        _ => {}
    }
    barrier.wait().await;
    barrier.wait().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let deadline = Instant::now() + seconds;
    while tally.failures == 0 && Instant::now() < deadline {
        let n = rng.random_range(1..=sizes.len());
        let started = Instant::now();
        let mut body = None;
        let fetched = session
            .command(&format!("FETCH {n} BODY.PEEK[]"), |r| {
                if untagged_number(r, b"FETCH") == Some(n as u64) {
                    body = find(r, b"BODY[] {").and_then(|at| literal_size(line_at(&r[at..])));
                }
            })
            .await;
        let took = started.elapsed();
        match (fetched, body) {
            (Ok(()), Some(size)) if size as u64 == sizes[n - 1] => {
                tally.bodies.push(took);
                tally.body_bytes += size as u64;
            }
            (Ok(()), other) => tally.fail(format!(
                "FETCH {n} BODY.PEEK[] gave {other:?} bytes, not {}",
                sizes[n - 1]
            )),
            (Err(e), _) => tally.fail(e),
        }
    }
    session.logout().await;
    tally
}

/// The bytes of `text` up to its first line end.
fn line_at(text: &[u8]) -> &[u8] {
    let end = text.iter().position(|&b| b == b'\r').unwrap_or(text.len());
    &text[..end]
}

/// The officials M1's LDAP connections bind as: the first `n`.
fn logins_for_ldap(officials: &[Official], n: usize) -> Vec<String> {
    officials[..n].iter().map(|o| o.login.clone()).collect()
}

/// Opens one idle IMAP session per login, a few at a time; returns those that opened and
/// the first failure.
async fn open_idle_imap(
    addr: SocketAddr,
    tls: TlsConnector,
    logins: Vec<String>,
) -> (Vec<ImapSession>, Option<String>) {
    let gate = Arc::new(tokio::sync::Semaphore::new(OPENING_AT_ONCE));
    let tasks: Vec<_> = logins
        .into_iter()
        .map(|login| {
            let (gate, tls) = (Arc::clone(&gate), tls.clone());
            tokio::spawn(async move {
                let _turn = gate.acquire_owned().await;
                open_inbox(addr, &tls, &login)
                    .await
                    .map(|(session, _)| session)
                    .map_err(|e| format!("{login}: {e}"))
            })
        })
        .collect();
    let mut sessions = Vec::new();
    let mut first = None;
    for task in tasks {
        match task.await {
            Ok(Ok(session)) => sessions.push(session),
            Ok(Err(e)) => {
                first.get_or_insert(e);
            }
            Err(e) => {
                first.get_or_insert(format!("a login task failed: {e}"));
            }
        }
    }
    (sessions, first)
}

/// Opens one LDAP connection per login, bound as that official.
async fn open_idle_ldap(
    addr: SocketAddr,
    logins: Vec<String>,
) -> (Vec<ldap3::Ldap>, Option<String>) {
    let url = format!("ldap://{addr}");
    let gate = Arc::new(tokio::sync::Semaphore::new(OPENING_AT_ONCE));
    let tasks: Vec<_> = logins
        .into_iter()
        .map(|login| {
            let (gate, url) = (Arc::clone(&gate), url.clone());
            tokio::spawn(async move {
                let _turn = gate.acquire_owned().await;
                bound_ldap(&url, &login)
                    .await
                    .map_err(|e| format!("LDAP {login}: {e:#}"))
            })
        })
        .collect();
    let mut connections = Vec::new();
    let mut first = None;
    for task in tasks {
        match task.await {
            Ok(Ok(ldap)) => connections.push(ldap),
            Ok(Err(e)) => {
                first.get_or_insert(e);
            }
            Err(e) => {
                first.get_or_insert(format!("an LDAP task failed: {e}"));
            }
        }
    }
    (connections, first)
}

async fn bound_ldap(url: &str, login: &str) -> anyhow::Result<ldap3::Ldap> {
    let settings = ldap3::LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
    let (conn, mut ldap) = ldap3::LdapConnAsync::with_settings(settings, url).await?;
    tokio::spawn(async move {
        // Ends when the connection closes; an error here surfaces on the next operation.
        let _ = conn.drive().await;
    });
    ldap.simple_bind(&format!("uid={login},{PEOPLE}"), &chosen_password(login))
        .await?
        .success()?;
    Ok(ldap)
}

/// Sends NOOP on every session; returns how many answered OK.
async fn still_alive(sessions: Vec<ImapSession>) -> usize {
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|mut session| {
            tokio::spawn(async move { session.command("NOOP", |_| {}).await.is_ok() })
        })
        .collect();
    let mut alive = 0;
    for task in tasks {
        if matches!(task.await, Ok(true)) {
            alive += 1;
        }
    }
    alive
}

// ---------------------------------------------------------------------------------------
// Report

/// This benchmark's section of docs/PERFORMANCE.md: after the SMTP one when first placed.
const MARKERS: Markers = Markers {
    begin: "<!-- imap:begin -->",
    end: "<!-- imap:end -->",
    after: Some("<!-- smtp:end -->"),
};
/// The options bench/imap.sh fills in, left out of the command the report shows.
const PATH_OPTIONS: [&str; 6] = [
    "--server",
    "--admin",
    "--dovecot",
    "--mbsync",
    "--work-dir",
    "--report",
];

/// Everything the report section says.
#[derive(Debug)]
struct Report<'a> {
    args: &'a ImapArgs,
    machine: &'a Machine,
    pinned: bool,
    corpus: &'a Corpus,
    figures: &'a [Figures],
    /// Servers that refused every connection, with what they said.
    unavailable: &'a [(ServerKind, String)],
}

/// Dovecot's version, as `dovecot --version` prints it.
fn dovecot_version(dovecot: &Path) -> String {
    let mut command = Command::new(dovecot);
    command.arg("--version");
    version(command, "(version unknown)")
}

/// isync's version, as `mbsync --version` prints it.
fn mbsync_version(mbsync: &Path) -> String {
    let mut command = Command::new(mbsync);
    command.arg("--version");
    version(command, "isync (version unknown)")
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
            "clients",
        );
        let mut out = format!(
            "{begin}\n## I1, M1: IMAP against Dovecot\n\n\
             Measured by `bench/imap.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {load} before the run), {placement}. Each I1 workload ran {runs}\n\
             time(s) on each server, the servers taking turns; figures are medians, ranges in brackets.\n\
             Both servers hold the same {n} officials: congvu from `congvu-admin user import`, Dovecot\n\
             {version} as a private instance on loopback (a passwd-file of the same logins, mail in\n\
             Maildir, stock durability `mail_fsync = optimized`, auth cache off as congvu has none,\n\
             imap-login in high-performance mode with one process per core). Officials who log in have\n\
             chosen passwords, stored on both sides as argon2id m=19456 KiB, t=2, p=1. Both serve IMAP\n\
             over implicit TLS with the same self-signed certificate and log as they do by default.\n\
             The ratio is congvu's figure over Dovecot's; for rates, Dovecot's rate over congvu's, so\n\
             that it reads as time in every row and the I1 target is ≤ 0.7× throughout.\n\n",
            begin = MARKERS.begin,
            command = user_arguments(&PATH_OPTIONS),
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            load = self.machine.load,
            runs = args.runs,
            n = args.officials,
            version = dovecot_version(&args.dovecot),
        );
        out.push_str(&self.method());
        for (kind, text) in self.unavailable {
            out.push_str(&unavailable(kind.name(), "IMAP", text));
        }
        out.push_str(&table("congvu", "Dovecot", &self.rows(), "failures"));
        out.push_str(&self.details());
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    /// How each workload that ran was measured, one bullet each.
    fn method(&self) -> String {
        let args = self.args;
        let mut out = String::new();
        if args.workloads.contains(&Workload::I1) {
            let n = self.corpus.messages.len();
            out.push_str(&format!(
                "- Mailbox: {n} messages, {total} in all, 2–50 KiB each (sizes log-uniform), built with\n  \
                 mail-builder: of every 20, 12 Vietnamese text/plain (half sent 8bit, half quoted-printable\n  \
                 or base64), 5 English, 2 multipart/alternative with HTML, 1 multipart/mixed with a PDF or\n  \
                 DOCX attachment; 70% \\Seen. Seeded once per server by APPEND over one connection\n  \
                 (synchronising literals), the same bytes on both; every stored RFC822.SIZE is checked.\n\
                 - I1a: {mbsync} (`mbsync`, `Sync Pull`, `FSync no` so the client's disk does not set the\n  \
                 pace) pulls that INBOX into an empty Maildir; wall time of the whole run; every message\n  \
                 must arrive.\n\
                 - I1b: {k} sessions of one official at once each send `UID FETCH 1:* (FLAGS RFC822.SIZE\n  \
                 ENVELOPE BODYSTRUCTURE)` (rate: messages listed per second of wall time from the first\n  \
                 command to the last answer), then `FETCH n BODY.PEEK[]` for random n for {s} s; every\n  \
                 listing must give each message with its envelope, body structure and size, every body\n  \
                 must be its size.\n",
                total = bytes_roughly(self.corpus.bytes() as f64),
                mbsync = mbsync_version(&args.mbsync),
                k = args.sessions,
                s = args.seconds,
            ));
        }
        if args.workloads.contains(&Workload::M1) {
            out.push_str(&format!(
                "- M1: each server restarted, then {idle} officials logged in (LOGIN, SELECT INBOX; their\n  \
                 INBOXes empty but the I1 official's), and {ldap} more connections to congvu's LDAP service\n  \
                 bound as officials; after {settle} s idle, the resident memory of every process of the\n  \
                 server (congvu: one; Dovecot: its master and every process it started), then a NOOP on\n  \
                 each IMAP connection. **The reference is Dovecot alone**: slapd and Postfix, which the\n  \
                 target counts with it, are not started, and Dovecot holds no LDAP connections, so the\n  \
                 ratio is higher (harder for congvu) than the target's own reference would give.\n",
                idle = args.idle,
                ldap = args.ldap_idle,
                settle = M1_SETTLE.as_secs(),
            ));
        }
        out.push('\n');
        out
    }

    fn rows(&self) -> Vec<Row> {
        let c = self.figures(ServerKind::Congvu);
        let d = self.figures(ServerKind::Dovecot);
        let mut rows = Vec::new();
        if self.args.workloads.contains(&Workload::I1) {
            rows.extend(self.sync_rows(c, d));
            rows.extend(self.fetch_rows(c, d));
        }
        if self.args.workloads.contains(&Workload::M1) {
            rows.extend(self.memory_rows(c, d));
        }
        rows
    }

    fn sync_rows(&self, c: Option<&Figures>, d: Option<&Figures>) -> Vec<Row> {
        let n = self.corpus.messages.len();
        let failed: usize = [c, d]
            .iter()
            .flatten()
            .map(|f| f.sync.iter().filter(|r| r.failure.is_some()).count())
            .sum();
        let time = spreads(c, d, |f| {
            f.sync.iter().map(|r| r.elapsed.as_secs_f64()).collect()
        });
        let r = ratio(time[0], time[1]);
        let cpu = spreads(c, d, |f| {
            f.sync.iter().map(|r| r.cpu.as_secs_f64()).collect()
        });
        let seed = spreads(c, d, |f| {
            f.seed.iter().map(|s| s.elapsed.as_secs_f64()).collect()
        });
        let sync = format!("`mbsync` full sync of the {n}-message INBOX: wall time");
        let append = format!("APPEND of the {n} messages over one connection: wall time");
        vec![
            Row::compare("I1a", sync, time, seconds)
                .target("≤ 0.7×", r.map(|r| r <= 0.7))
                .invalid(failed as u64),
            Row::compare("I1a", "server CPU during the sync", cpu, seconds).invalid(failed as u64),
            Row::compare("I1 seed", append, seed, seconds),
        ]
    }

    fn fetch_rows(&self, c: Option<&Figures>, d: Option<&Figures>) -> Vec<Row> {
        let k = self.args.sessions;
        let failed: usize = [c, d]
            .iter()
            .flatten()
            .map(|f| f.fetch.iter().map(|r| r.failures).sum::<usize>())
            .sum();
        let figure =
            |get: fn(&FetchRun) -> f64| spreads(c, d, move |f| f.fetch.iter().map(get).collect());
        // Rates become time ratios: the reference's rate over ours.
        let time_ratio = |[ours, reference]: [Option<Spread>; 2]| ratio(reference, ours);
        let listed = figure(FetchRun::listed_per_second);
        let listed_p99 = figure(FetchRun::listing_p99_ms);
        let bodies = figure(FetchRun::bodies_per_second);
        let bodies_p99 = figure(FetchRun::body_p99_ms);
        let body_cpu = figure(FetchRun::body_cpu_us);
        let (lr, br) = (time_ratio(listed), time_ratio(bodies));
        let failed = failed as u64;
        let listing = format!(
            "`UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)`, {k} sessions at once: \
             messages/s"
        );
        let bodies_what = format!("`FETCH n BODY.PEEK[]`, random n, {k} sessions: messages/s");
        vec![
            Row {
                ratio: lr.map(times),
                ..Row::compare("I1b", listing, listed, per_second)
            }
            .target("≤ 0.7×", lr.map(|r| r <= 0.7))
            .invalid(failed),
            Row::compare("I1b", "p99 of that command", listed_p99, milliseconds).invalid(failed),
            Row {
                ratio: br.map(times),
                ..Row::compare("I1b", bodies_what, bodies, per_second)
            }
            .target("≤ 0.7×", br.map(|r| r <= 0.7))
            .invalid(failed),
            Row::compare(
                "I1b",
                "p99 per `FETCH n BODY.PEEK[]`",
                bodies_p99,
                milliseconds,
            )
            .invalid(failed),
            Row::compare(
                "I1b",
                "server CPU per `FETCH n BODY.PEEK[]`",
                body_cpu,
                microseconds,
            )
            .invalid(failed),
        ]
    }

    fn memory_rows(&self, c: Option<&Figures>, d: Option<&Figures>) -> Vec<Row> {
        let args = self.args;
        // A connection that did not open or did not answer NOOP makes the figure a
        // measurement of fewer connections than the row says.
        let failed: usize = [c, d]
            .iter()
            .flatten()
            .filter_map(|f| f.memory.as_ref().map(|m| (f.kind, m)))
            .map(|(kind, m)| {
                let ldap = if kind == ServerKind::Congvu {
                    args.ldap_idle.saturating_sub(m.ldap_opened)
                } else {
                    0
                };
                args.idle.saturating_sub(m.alive) + ldap
            })
            .sum();
        let figure = |get: fn(&MemoryRun) -> u64| {
            spreads(c, d, move |f| {
                f.memory.iter().map(|m| get(m) as f64).collect()
            })
        };
        let rss = figure(|m| m.idle.rss);
        let pss = figure(|m| m.idle.pss);
        let before = figure(|m| m.before.rss);
        let r = ratio(rss[0], rss[1]);
        let resident = format!(
            "RSS summed over the server's processes: {} officials, {} idle IMAP sessions, \
             {} idle LDAP connections (congvu only); reference Dovecot alone",
            args.officials, args.idle, args.ldap_idle
        );
        let shared = "the same as PSS (pages shared between processes counted once)";
        let restarted = "RSS right after a restart, before any connection";
        vec![
            Row::compare("M1", resident, rss, bytes_roughly)
                .target("≤ 0.5×", r.map(|r| r <= 0.5))
                .invalid(failed as u64),
            Row::compare("M1", shared, pss, bytes_roughly).invalid(failed as u64),
            Row::compare("M1", restarted, before, bytes_roughly),
        ]
    }

    /// The figures behind the table that explain it.
    fn details(&self) -> String {
        let mut out = String::from("\n");
        for f in self.figures {
            let mut parts = Vec::new();
            if let Some(seed) = &f.seed {
                parts.push(format!(
                    "seeding took {} ({}, {} of server CPU); {}",
                    seconds(seed.elapsed.as_secs_f64()),
                    per_second(self.corpus.messages.len() as f64 / seed.elapsed.as_secs_f64()),
                    seconds(seed.cpu.as_secs_f64()),
                    seed.check
                ));
            }
            if !f.sync.is_empty() {
                parts.push(format!(
                    "mbsync runs: {}",
                    f.sync
                        .iter()
                        .map(|r| format!(
                            "{} ({} synced, {} of server CPU)",
                            seconds(r.elapsed.as_secs_f64()),
                            r.synced,
                            seconds(r.cpu.as_secs_f64())
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if !f.fetch.is_empty() {
                parts.push(format!(
                    "I1b runs: {}",
                    f.fetch
                        .iter()
                        .map(|r| format!(
                            "listings {} in {} ({} of server CPU), then {} bodies at {} ({}/s), \
                             p99 {}",
                            r.listed,
                            seconds(r.listing_wall.as_secs_f64()),
                            seconds(r.listing_cpu.as_secs_f64()),
                            r.bodies.len(),
                            per_second(r.bodies_per_second()),
                            bytes_roughly(r.body_bytes as f64 / r.bodies_wall.as_secs_f64()),
                            milliseconds(r.body_p99_ms())
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            if let Some(m) = &f.memory {
                parts.push(format!(
                    "M1: {} IMAP sessions opened, {} answered NOOP after the reading, {} LDAP \
                     connections bound; {} processes ({} before the connections)",
                    m.imap_opened, m.alive, m.ldap_opened, m.idle.processes, m.before.processes
                ));
            }
            out.push_str(&format!("- {}: {}.\n", f.kind.name(), parts.join(". ")));
            let failures = f
                .sync
                .iter()
                .filter_map(|r| r.failure.as_ref().map(|e| ("I1a", e)))
                .chain(
                    f.fetch
                        .iter()
                        .filter_map(|r| r.first_failure.as_ref().map(|e| ("I1b", e))),
                )
                .chain(
                    f.memory
                        .iter()
                        .filter_map(|m| m.first_failure.as_ref().map(|e| ("M1", e))),
                );
            for (what, first) in failures.take(3) {
                out.push_str(&format!("- {} {what}: failed: {first}\n", f.kind.name()));
            }
        }
        out
    }
}
