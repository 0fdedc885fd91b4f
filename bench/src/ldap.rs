//! L1–L3: congvu's LDAP service against OpenLDAP slapd (back-mdb), in one run, on the same
//! machine, with the same officials, the same client and the same argon2id cost.
//!
//! congvu is seeded the way an administrator would do it, with `congvu-admin` (an HR list
//! import, a service account, then full-cost passwords for the officials the bind test
//! uses). What congvu made of the list is exported and loaded into a private slapd with
//! `slapadd`, so both directories hold the same DNs, names and addresses. Both servers are
//! pinned to the last core while this client runs on the others, and are loaded one at a
//! time, phase by phase:
//!
//! - L2: simple binds on `--connections` connections, every bind a full argon2id check;
//! - L1: `(uid=…)` searches on `--connections` connections: throughput, server CPU per
//!   search from /proc/PID/stat, and latency, which is also L3's unloaded baseline;
//! - L3: the same searches while `--flood` connections send wrong-password binds, for
//!   congvu first from many loopback addresses (each below the per-source throttle, so every
//!   bind costs a hash) and then from one address (the throttle engages); slapd, which has no
//!   per-source throttle, is flooded from one address.
//!
//! L2 runs first and the one-address flood last, because that flood gets 127.0.0.1
//! throttled by congvu for the lockout window.
//!
//! This module owns its temporary directory, the two server processes it starts and the
//! `ldap` section of the report; it never touches the system's slapd.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::directory::{Argon2Cost, PasswordCost, PasswordHash, PasswordHasher};
use ldap3::asn1::{
    parse_tag, parse_uint, ASNTag, Boolean, Enumerated, Integer, OctetString, Sequence,
    StructureTag, Tag, TagClass,
};
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

use crate::figures::times;
use crate::figures::Window;
use crate::machine::{free_port, pinned, Machine, Pinning};
use crate::report::{placement, publish, render_rows, user_arguments, Markers, Row};
use crate::server::{congvu_command, Binaries, Config, Process};

#[derive(Debug, clap::Args)]
pub struct LdapArgs {
    /// Officials in the directory.
    #[arg(long, default_value_t = 10_000)]
    officials: usize,
    /// Officials given a full-cost password for the bind test (L2).
    #[arg(long, default_value_t = 200)]
    bind_users: usize,
    /// Client connections for the searches (L1, L3) and the binds (L2).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Connections flooding wrong-password binds during L3.
    #[arg(long, default_value_t = 200)]
    flood: usize,
    /// Seconds each measurement lasts.
    #[arg(long, default_value_t = 12)]
    seconds: u64,
    /// Seconds of load before each measurement starts.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds a flood runs before L3 is measured, so the figure is its steady state.
    #[arg(long, default_value_t = 20)]
    flood_warmup: u64,
    /// The servers to measure; the report is written only when both are.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "congvu,slapd"
    )]
    servers: Vec<ServerKind>,
    /// Let servers and client share every core instead of pinning them apart.
    #[arg(long)]
    no_pin: bool,
    #[command(flatten)]
    congvu: Binaries,
    #[arg(long, default_value = "/usr/sbin/slapd")]
    slapd: PathBuf,
    #[arg(long, default_value = "/usr/sbin/slapadd")]
    slapadd: PathBuf,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ServerKind {
    Congvu,
    Slapd,
}

impl ServerKind {
    fn name(self) -> &'static str {
        match self {
            ServerKind::Congvu => "congvu",
            ServerKind::Slapd => "slapd",
        }
    }
}

const BASE: &str = "dc=vinhphuc,dc=gov,dc=vn";
const PEOPLE: &str = "ou=people,dc=vinhphuc,dc=gov,dc=vn";
/// The account searchers bind as: a congvu service account, and the same DN in slapd.
const READER: &str = "cn=bench,ou=services,dc=vinhphuc,dc=gov,dc=vn";
/// What a directory-backed application typically asks for when it looks a user up.
const ATTRIBUTES: [&str; 7] = [
    "uid",
    "cn",
    "mail",
    "displayName",
    "title",
    "telephoneNumber",
    "ou",
];
/// An operation slower than this counts as a wrong answer rather than hanging the run.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// A flooding client waits this long for its answer: a server that queues the flood's
/// binds answers late, and giving up early would only add reconnections to the load.
const FLOOD_TIMEOUT: Duration = Duration::from_secs(120);

/// One official as congvu stored it, which is also what slapd gets.
#[derive(Debug, Clone)]
struct Official {
    login: String,
    full_name: String,
    email: String,
    agency: String,
    unit: String,
    title: String,
    phone: String,
    employee_id: String,
}

impl Official {
    fn dn(&self) -> String {
        format!("uid={},{PEOPLE}", self.login)
    }
}

/// What both servers are loaded with.
#[derive(Debug)]
struct Directory {
    officials: Vec<Official>,
    /// Indexes into `officials` of those with a full-cost password from [`bind_password`].
    bind_users: Vec<usize>,
    /// The secret of the service account at [`READER`].
    reader_secret: String,
}

/// The full-cost password of a bind-test official: human-chosen length, never generated.
fn bind_password(login: &str) -> String {
    format!("Bench-{login}-2026")
}

pub fn run(args: LdapArgs) -> anyhow::Result<()> {
    check(&args)?;
    let machine = Machine::probe();
    let dir = tempfile::tempdir()?;

    println!("seeding congvu with {} officials", args.officials);
    let started = Instant::now();
    let congvu_port = free_port()?;
    let congvu_config = write_congvu_config(dir.path(), congvu_port)?;
    let directory = seed_congvu(&args, &congvu_config, dir.path(), machine.cores)?;
    println!("  {:.1} s", started.elapsed().as_secs_f64());
    let slapd = if args.servers.contains(&ServerKind::Slapd) {
        println!("seeding slapd with the same entries");
        let started = Instant::now();
        let conf = seed_slapd(&args, dir.path(), &directory)?;
        println!("  {:.1} s", started.elapsed().as_secs_f64());
        Some((conf, free_port()?))
    } else {
        None
    };
    let verify_ms = argon2_verify_ms()?;

    // Seeding used every core; from here the servers get the last core and the client the
    // rest, so neither steals the other's CPU and CPU-per-operation stays comparable.
    let pin = (!args.no_pin && machine.cores >= 2).then(|| Pinning::split(machine.cores));
    if let Some(pin) = &pin {
        pin.pin_self()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    // Both servers run from here on, but only one is loaded at a time; each phase measures
    // them one after the other, so drift on a shared machine hits both sides of a ratio alike.
    let mut servers = Vec::new();
    for &kind in &args.servers {
        let core = pin.as_ref().map(|p| p.server.as_str());
        let congvu = (congvu_config.as_path(), congvu_port);
        let server = spawn_server(&args, kind, congvu, slapd.as_ref(), core, dir.path())?;
        let target = Target::new(kind, &server, &directory, machine.ticks);
        servers.push((server, target));
    }
    let figures = runtime
        .block_on(measure(&args, &mut servers))
        .map_err(|(kind, e)| {
            let tail = servers
                .iter()
                .find(|(_, t)| t.kind == kind)
                .map(|(s, _)| s.log_tail())
                .unwrap_or_default();
            e.context(format!(
                "while measuring {}; its log ends with:\n{tail}",
                kind.name()
            ))
        })?;
    drop(servers);

    let figure = |kind| figures.iter().find(|(k, _)| *k == kind).map(|(_, f)| f);
    let report = Report {
        args: &args,
        machine: &machine,
        pinned: pin.is_some(),
        verify_ms,
        congvu: figure(ServerKind::Congvu),
        slapd: figure(ServerKind::Slapd),
    };
    let section = report.render();
    let both = report.congvu.is_some() && report.slapd.is_some();
    publish(
        &args.report,
        MARKERS,
        &section,
        (!both).then_some("it needs both servers"),
    )
}

/// Starts the server of `kind`, on the server core when pinned: congvu with its
/// configuration and port, slapd with the configuration seeded for it and its port.
fn spawn_server(
    args: &LdapArgs,
    kind: ServerKind,
    congvu: (&Path, u16),
    slapd: Option<&(PathBuf, u16)>,
    core: Option<&str>,
    dir: &Path,
) -> anyhow::Result<Server> {
    Ok(match (kind, slapd) {
        (ServerKind::Congvu, _) => {
            let command = congvu_command(&args.congvu.server, congvu.0, core);
            Server::spawn("congvu-server", command, congvu.1, dir.join("congvu.log"))?
        }
        (ServerKind::Slapd, Some((conf, port))) => {
            let mut command = pinned(&args.slapd, core);
            // -d keeps slapd in the foreground, so the child's pid is slapd's own.
            command
                .arg("-f")
                .arg(conf)
                .arg("-h")
                .arg(format!("ldap://127.0.0.1:{port}/"))
                .args(["-d", "0"]);
            Server::spawn("slapd", command, *port, dir.join("slapd.log"))?
        }
        (ServerKind::Slapd, None) => anyhow::bail!("slapd was not seeded"),
    })
}

/// Refuses arguments and missing binaries before any work starts.
fn check(args: &LdapArgs) -> anyhow::Result<()> {
    args.congvu.check()?;
    if args.servers.contains(&ServerKind::Slapd) {
        for path in [&args.slapd, &args.slapadd] {
            anyhow::ensure!(
                path.exists(),
                "{} not found: apt-get install slapd ldap-utils",
                path.display()
            );
        }
    }
    anyhow::ensure!(
        args.bind_users >= 1 && args.bind_users < args.officials,
        "--bind-users must be between 1 and --officials - 1"
    );
    anyhow::ensure!(
        args.connections >= 1 && args.flood >= 1 && args.seconds >= 1,
        "--connections, --flood and --seconds must be at least 1"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Seeding

const FAMILY: [&str; 10] = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô",
];
const MIDDLE: [&str; 8] = ["Văn", "Thị", "Đức", "Minh", "Hồng", "Quốc", "Ngọc", "Thanh"];
const GIVEN: [&str; 16] = [
    "An", "Bình", "Dũng", "Hà", "Hùng", "Hương", "Lan", "Linh", "Nam", "Phúc", "Sơn", "Thảo",
    "Trang", "Tuấn", "Yến", "Đạt",
];
const UNITS: [&str; 3] = ["Văn phòng", "Phòng Tổ chức cán bộ", "Thanh tra"];

/// A deterministic HR list of `n` officials, as the import reads it. Values hold no comma
/// or quote, so the CSV export read back by [`read_export`] needs no quoting rules.
fn hr_list(n: usize) -> String {
    let mut rng = rand::rngs::StdRng::seed_from_u64(389);
    let mut out = String::from("Họ và tên;Chức vụ;Số điện thoại;Mã cán bộ;Phòng ban\n");
    for i in 0..n {
        let name = format!(
            "{} {} {}",
            FAMILY[rng.random_range(0..FAMILY.len())],
            MIDDLE[rng.random_range(0..MIDDLE.len())],
            GIVEN[rng.random_range(0..GIVEN.len())]
        );
        let title = if i % 10 == 0 {
            "Trưởng phòng"
        } else {
            "Chuyên viên"
        };
        out.push_str(&format!(
            "{name};{title};0211 {:07};LDAP-{:06};{}\n",
            rng.random_range(0..10_000_000),
            i + 1,
            UNITS[i % UNITS.len()]
        ));
    }
    out
}

fn write_congvu_config(dir: &Path, ldap_port: u16) -> anyhow::Result<PathBuf> {
    // Every listener but LDAP on a free port nobody uses; logs at warn like slapd's
    // `loglevel 0`; connections per IP raised for flood + searchers from one address; the
    // [auth] lockout settings stay at their defaults on purpose (see L3).
    Config {
        log_level: Some("warn"),
        ldap: ldap_port,
        plaintext_ldap: true,
        ..Config::default()
    }
    .write(dir, "congvu.toml")
}

fn seed_congvu(
    args: &LdapArgs,
    config: &Path,
    dir: &Path,
    cores: usize,
) -> anyhow::Result<Directory> {
    let run = |a: &[&str]| crate::admin::run(&args.congvu.admin, config, a, None);
    crate::admin::add_province(&args.congvu.admin, config)?;
    let list = dir.join("snv.csv");
    std::fs::write(&list, hr_list(args.officials))?;
    let credentials = dir.join("snv-credentials.csv");
    run(&[
        "user",
        "import",
        "--agency",
        "snv",
        &list.display().to_string(),
        "--credentials-out",
        &credentials.display().to_string(),
    ])?;
    let added = run(&[
        "service",
        "add",
        "bench",
        "--description",
        "LDAP benchmark reader",
    ])?;
    let reader_secret = added
        .lines()
        .find(|l| l.starts_with("secret"))
        .and_then(|l| l.rsplit(": ").next())
        .map(str::trim)
        .context("`service add` printed no secret")?
        .to_string();
    let officials = read_export(&run(&["user", "export", "--format", "csv"])?)?;
    anyhow::ensure!(
        officials.len() == args.officials,
        "congvu holds {} officials, expected {}",
        officials.len(),
        args.officials
    );

    // Spread over the list so the bind users are not all from one corner of an index.
    let step = officials.len() / args.bind_users;
    let bind_users: Vec<usize> = (0..args.bind_users).map(|i| i * step).collect();
    let logins: Vec<&str> = bind_users
        .iter()
        .map(|&i| officials[i].login.as_str())
        .collect();
    set_bind_passwords(&args.congvu.admin, config, &logins, cores)?;
    Ok(Directory {
        officials,
        bind_users,
        reader_secret,
    })
}

/// Gives each of `logins` its [`bind_password`], one congvu-admin per core at a time
/// (each hashes once at the full cost).
fn set_bind_passwords(
    admin: &Path,
    config: &Path,
    logins: &[&str],
    cores: usize,
) -> anyhow::Result<()> {
    for batch in logins.chunks(cores.max(1)) {
        std::thread::scope(|scope| {
            let children: Vec<_> = batch
                .iter()
                .map(|login| {
                    scope.spawn(move || admin_passwd(admin, config, login, &bind_password(login)))
                })
                .collect();
            children.into_iter().try_for_each(|child| {
                child
                    .join()
                    .map_err(|_| anyhow::anyhow!("a passwd thread panicked"))?
            })
        })?;
    }
    Ok(())
}

/// Sets a full-cost password that need not be changed. Two of these at once can fail with
/// SQLite's "database is locked" instead of waiting for the other (seen with congvu-admin
/// on a 10,000-official database), so that one failure is retried.
fn admin_passwd(
    admin_bin: &Path,
    config: &Path,
    login: &str,
    password: &str,
) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        let result = crate::admin::run(
            admin_bin,
            config,
            &["user", "passwd", login, "--stdin", "--no-must-change"],
            Some(&format!("{password}\n")),
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

/// Reads `congvu-admin user export --format csv`.
fn read_export(csv: &str) -> anyhow::Result<Vec<Official>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().context("empty export")?.split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("export has no `{name}` column: {header:?}"))
    };
    let (login, name, email, agency, unit, title, phone, employee) = (
        column("login")?,
        column("full_name")?,
        column("email")?,
        column("agency")?,
        column("unit")?,
        column("title")?,
        column("phone")?,
        column("employee_id")?,
    );
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            anyhow::ensure!(
                !line.contains('"'),
                "quoted export line (the generated list has no commas): {line}"
            );
            let cells: Vec<&str> = line.split(',').collect();
            anyhow::ensure!(cells.len() == header.len(), "short export line: {line}");
            Ok(Official {
                login: cells[login].into(),
                full_name: cells[name].into(),
                email: cells[email].into(),
                agency: cells[agency].into(),
                unit: cells[unit].into(),
                title: cells[title].into(),
                phone: cells[phone].into(),
                employee_id: cells[employee].into(),
            })
        })
        .collect()
}

/// Writes slapd.conf and loads the same entries with slapadd; returns the config path.
fn seed_slapd(args: &LdapArgs, dir: &Path, directory: &Directory) -> anyhow::Result<PathBuf> {
    let db = dir.join("slapd-db");
    std::fs::create_dir_all(&db)?;
    let conf = dir.join("slapd.conf");
    // The ACLs give slapd the same work congvu does on every request: passwords usable
    // for binds only, entries readable by bound identities only.
    std::fs::write(
        &conf,
        format!(
            r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload argon2 m=19456 t=2 p=1
pidfile {pid}
loglevel 0

database mdb
suffix "{BASE}"
directory {db}
maxsize 4294967296
index objectClass eq
index uid,mail,cn eq
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
"#,
            pid = dir.join("slapd.pid").display(),
            db = db.display()
        ),
    )?;

    // slapd verifies {ARGON2} values with libargon2, which reads the variant and the
    // parameters from the PHC string: the same argon2id m=19456,t=2,p=1 congvu stores.
    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let mut secrets: Vec<(String, PasswordCost)> = directory
        .bind_users
        .iter()
        .map(|&i| {
            (
                bind_password(&directory.officials[i].login),
                PasswordCost::Full,
            )
        })
        .collect();
    secrets.push((directory.reader_secret.clone(), PasswordCost::Full));
    let mut hashes = hasher.hash_all(&secrets, &|_| {})?;
    let reader_hash = hashes.pop().context("no hash for the reader")?;
    let mut password_of = vec![None; directory.officials.len()];
    for (&i, hash) in directory.bind_users.iter().zip(hashes) {
        password_of[i] = Some(hash);
    }

    let ldif = dir.join("slapd.ldif");
    std::fs::write(&ldif, slapd_ldif(directory, &password_of, &reader_hash))?;
    let out = Command::new(&args.slapadd)
        .arg("-q")
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(&ldif)
        .output()
        .context("while running slapadd")?;
    anyhow::ensure!(
        out.status.success(),
        "slapadd failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(conf)
}

/// The LDIF of the whole tree. Values are raw UTF-8, which slapadd takes as is; the
/// attributes are those congvu publishes for an official (spec: docs/ldap.md).
fn slapd_ldif(
    directory: &Directory,
    password_of: &[Option<PasswordHash>],
    reader_hash: &PasswordHash,
) -> String {
    let mut out = format!(
        "dn: {BASE}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n\
         dc: vinhphuc\no: UBND tỉnh Vĩnh Phúc\n\n\
         dn: {PEOPLE}\nobjectClass: top\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=services,{BASE}\nobjectClass: top\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: {READER}\nobjectClass: top\nobjectClass: applicationProcess\n\
         objectClass: simpleSecurityObject\ncn: bench\nuserPassword: {{ARGON2}}{}\n\n",
        reader_hash.0
    );
    for (official, password) in directory.officials.iter().zip(password_of) {
        let words: Vec<&str> = official.full_name.split_whitespace().collect();
        let family = words.first().copied().unwrap_or(&official.login);
        let given = words.last().copied().unwrap_or(&official.login);
        out.push_str(&format!(
            "dn: {dn}\nobjectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n\
             objectClass: inetOrgPerson\nuid: {login}\ncn: {name}\nsn: {family}\ngivenName: {given}\n\
             displayName: {name}\nmail: {mail}\nou: {agency}\n",
            dn = official.dn(),
            login = official.login,
            name = official.full_name,
            mail = official.email,
            agency = official.agency.to_uppercase(),
        ));
        for (attribute, value) in [
            ("title", &official.title),
            ("telephoneNumber", &official.phone),
            ("departmentNumber", &official.unit),
            ("employeeNumber", &official.employee_id),
        ] {
            if !value.is_empty() {
                out.push_str(&format!("{attribute}: {value}\n"));
            }
        }
        if let Some(hash) = password {
            out.push_str(&format!("userPassword: {{ARGON2}}{}\n", hash.0));
        }
        out.push('\n');
    }
    out
}

/// Milliseconds one argon2id verification at the full cost takes on one core here.
fn argon2_verify_ms() -> anyhow::Result<f64> {
    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let hash = hasher.hash("Bench-verify-2026", PasswordCost::Full)?;
    const SAMPLES: u32 = 10;
    let started = Instant::now();
    for _ in 0..SAMPLES {
        anyhow::ensure!(hasher.verify("Bench-verify-2026", &hash), "verify failed");
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0 / f64::from(SAMPLES))
}

// ---------------------------------------------------------------------------------------
// Server processes

/// A server this benchmark started; killed when dropped.
#[derive(Debug)]
struct Server {
    process: Process,
    addr: SocketAddr,
    url: String,
}

impl Server {
    fn spawn(name: &str, command: Command, port: u16, log: PathBuf) -> anyhow::Result<Server> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        Ok(Server {
            process: Process::start(name, command, log)?,
            addr,
            url: format!("ldap://{addr}"),
        })
    }

    fn pid(&self) -> u32 {
        self.process.pid().unwrap_or(0)
    }

    /// Waits until the root DSE answers an anonymous search, or the server exits.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            self.process.check_running()?;
            match root_dse(&self.url).await {
                Ok(()) => return Ok(()),
                Err(e) => last = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::bail!(
            "{} did not answer a root DSE search within 30 s: {last}",
            self.url
        )
    }

    fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

async fn root_dse(url: &str) -> anyhow::Result<()> {
    let mut ldap = connect(url).await?;
    ldap.with_timeout(Duration::from_secs(2))
        .search("", Scope::Base, "(objectClass=*)", ["namingContexts"])
        .await?
        .success()?;
    let _ = ldap.unbind().await;
    Ok(())
}

/// User and system CPU time the process has used so far, all threads included.
fn cpu_time(pid: u32, ticks: f64) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // proc(5): the command name may hold spaces, so count fields after its closing ')';
    // utime and stime are fields 14 and 15, the 12th and 13th after it.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok(Duration::from_secs_f64((utime + stime) / ticks))
}

// ---------------------------------------------------------------------------------------
// Load

/// One server as the client sees it.
#[derive(Debug)]
struct Target {
    kind: ServerKind,
    url: String,
    addr: SocketAddr,
    pid: u32,
    ticks: f64,
    reader_secret: String,
    uids: Arc<Vec<String>>,
    /// (DN, password) of the L2 bind users.
    bind_users: Arc<Vec<(String, String)>>,
    /// Officials the flood sends wrong passwords for: the bind users, the only accounts
    /// with a full-cost hash on both servers (a slapd entry without a password answers
    /// at once). L2 runs before any flood, and the flood walks all of them, so each
    /// gets a few failures per phase, under the per-account lockout.
    flood_dns: Arc<Vec<String>>,
}

impl Target {
    fn new(kind: ServerKind, server: &Server, directory: &Directory, ticks: f64) -> Target {
        let bind_users: Vec<(String, String)> = directory
            .bind_users
            .iter()
            .map(|&i| {
                let official = &directory.officials[i];
                (official.dn(), bind_password(&official.login))
            })
            .collect();
        Target {
            kind,
            url: server.url.clone(),
            addr: server.addr,
            pid: server.pid(),
            ticks,
            reader_secret: directory.reader_secret.clone(),
            uids: Arc::new(
                directory
                    .officials
                    .iter()
                    .map(|o| o.login.clone())
                    .collect(),
            ),
            flood_dns: Arc::new(bind_users.iter().map(|(dn, _)| dn.clone()).collect()),
            bind_users: Arc::new(bind_users),
        }
    }

    fn cpu(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid, self.ticks)
    }

    /// Checks, with ldap3's ordinary client, the answers the measurements rely on, then
    /// that the lean client used for the hot loops reads the same search the same way.
    async fn preflight(&self) -> anyhow::Result<()> {
        let name = self.kind.name();
        let mut ldap = connect(&self.url).await?;
        ldap.simple_bind(READER, &self.reader_secret)
            .await?
            .success()
            .with_context(|| format!("{name} refused the reader bind as {READER}"))?;
        let uid = &self.uids[self.uids.len() / 2];
        search_once(&mut ldap, uid)
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let (dn, password) = &self.bind_users[0];
        let right = ldap.simple_bind(dn, password).await?;
        anyhow::ensure!(
            right.rc == 0,
            "{name}: bind as {dn} with its password answered {} {:?}",
            right.rc,
            right.text
        );
        let wrong = ldap.simple_bind(dn, "not-the-password").await?;
        anyhow::ensure!(
            wrong.rc == 49,
            "{name}: bind as {dn} with a wrong password answered {} {:?}, not 49",
            wrong.rc,
            wrong.text
        );
        let _ = ldap.unbind().await;
        let mut wire = Wire::bound(self.addr, READER, &self.reader_secret).await?;
        wire.search_uid(uid)
            .await
            .map_err(|e| anyhow::anyhow!("{name}, lean client: {}", e.message()))?;
        Ok(())
    }
}

/// Opens a plaintext connection with ldap3's ordinary client.
async fn connect(url: &str) -> anyhow::Result<Ldap> {
    let settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url).await?;
    tokio::spawn(async move {
        // Ends when the connection closes; an error here surfaces on the next operation.
        let _ = conn.drive().await;
    });
    Ok(ldap)
}

/// Looks `uid` up with ldap3's ordinary client and checks the one entry that comes back:
/// the pre-flight check that [`Wire::search_uid`] reads answers the same way.
async fn search_once(ldap: &mut Ldap, uid: &str) -> Result<(), String> {
    let filter = format!("(uid={})", ldap_escape(uid));
    let ldap3::SearchResult(entries, result) = ldap
        .with_timeout(OP_TIMEOUT)
        .search(PEOPLE, Scope::Subtree, &filter, ATTRIBUTES)
        .await
        .map_err(|e| format!("{filter}: {e}"))?;
    if result.rc != 0 {
        return Err(format!(
            "{filter}: result code {} {:?}",
            result.rc, result.text
        ));
    }
    let count = entries.len();
    let Some(entry) = entries.into_iter().next().filter(|_| count == 1) else {
        return Err(format!("{filter}: {count} entries, expected 1"));
    };
    let entry = SearchEntry::construct(entry);
    check_entry(uid, &entry.dn)?;
    if entry.attrs.get("mail").is_none_or(|m| m.is_empty()) {
        return Err(format!("{filter}: entry {} has no mail", entry.dn));
    }
    Ok(())
}

fn check_entry(uid: &str, dn: &str) -> Result<(), String> {
    let expected = format!("uid={uid},{PEOPLE}");
    if dn.eq_ignore_ascii_case(&expected) {
        Ok(())
    } else {
        Err(format!("(uid={uid}): entry {dn}, expected {expected}"))
    }
}

/// Why an operation on a [`Wire`] did not give the expected answer.
#[derive(Debug)]
enum Failure {
    /// The server answered, wrongly: the connection is still usable.
    Wrong(String),
    /// The connection broke, timed out or was closed by the server.
    Broken(String),
}

impl Failure {
    fn message(self) -> String {
        match self {
            Failure::Wrong(m) | Failure::Broken(m) => m,
        }
    }
}

/// A lean LDAP connection for the hot loops (searches and the flood): requests encoded and
/// responses decoded with ldap3's own BER layer (`ldap3::asn1`), one request in flight, no
/// tasks or channels. ldap3's `Ldap` handle spends about as much client CPU per search (a
/// driver task, channels, a result stream and a timer per operation) as a server spends
/// answering it, so on 2 cores it would cap the very figure L1 measures. L2's binds, where
/// argon2 dominates, and the pre-flight checks use `Ldap`.
#[derive(Debug)]
struct Wire {
    stream: BufReader<TcpStream>,
    last_id: i64,
    /// How long an answer may take before the connection counts as broken.
    timeout: Duration,
}

/// RFC 4511 §4.2, §4.5.1: application tags of the operations used here.
const BIND_REQUEST: u64 = 0;
const BIND_RESPONSE: u64 = 1;
const SEARCH_REQUEST: u64 = 3;
const SEARCH_RESULT_ENTRY: u64 = 4;
const SEARCH_RESULT_DONE: u64 = 5;
const SEARCH_RESULT_REFERENCE: u64 = 19;

impl Wire {
    /// Connects to `server`, from `source` when given (every 127/8 address is local).
    async fn open(
        server: SocketAddr,
        source: Option<Ipv4Addr>,
        timeout: Duration,
    ) -> std::io::Result<Wire> {
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = source {
            socket.bind(SocketAddr::from((source, 0)))?;
        }
        let stream = tokio::time::timeout(OP_TIMEOUT, socket.connect(server))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        stream.set_nodelay(true)?;
        Ok(Wire {
            stream: BufReader::new(stream),
            last_id: 0,
            timeout,
        })
    }

    /// A connection bound as `dn`.
    async fn bound(server: SocketAddr, dn: &str, password: &str) -> anyhow::Result<Wire> {
        let mut wire = Wire::open(server, None, OP_TIMEOUT).await?;
        match wire.bind(dn, password).await {
            Ok(0) => Ok(wire),
            Ok(rc) => anyhow::bail!("bind as {dn} answered result code {rc}"),
            Err(e) => anyhow::bail!("bind as {dn}: {}", e.message()),
        }
    }

    /// A simple bind; returns the result code.
    async fn bind(&mut self, dn: &str, password: &str) -> Result<u64, Failure> {
        let request = Tag::Sequence(Sequence {
            id: BIND_REQUEST,
            class: TagClass::Application,
            inner: vec![
                Tag::Integer(Integer {
                    inner: 3,
                    ..Default::default()
                }),
                Tag::OctetString(OctetString {
                    inner: dn.as_bytes().to_vec(),
                    ..Default::default()
                }),
                Tag::OctetString(OctetString {
                    id: 0,
                    class: TagClass::Context,
                    inner: password.as_bytes().to_vec(),
                }),
            ],
        });
        let timeout = self.timeout;
        let exchange = async {
            let id = self.send(request).await?;
            let (op, parts) = self.receive(id).await?;
            if op != BIND_RESPONSE {
                return Err(Failure::Wrong(format!("bind answered with operation {op}")));
            }
            result_code(&parts)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(Failure::Broken("bind timed out".into())))
    }

    /// The L1 search: `(uid=…)` under ou=people, which must return exactly that entry.
    async fn search_uid(&mut self, uid: &str) -> Result<(), Failure> {
        let filter = format!("(uid={})", ldap_escape(uid));
        let request = Tag::Sequence(Sequence {
            id: SEARCH_REQUEST,
            class: TagClass::Application,
            inner: vec![
                Tag::OctetString(OctetString {
                    inner: PEOPLE.as_bytes().to_vec(),
                    ..Default::default()
                }),
                Tag::Enumerated(Enumerated {
                    inner: Scope::Subtree as i64,
                    ..Default::default()
                }),
                // neverDerefAliases, no size or time limit, not types only.
                Tag::Enumerated(Enumerated::default()),
                Tag::Integer(Integer::default()),
                Tag::Integer(Integer::default()),
                Tag::Boolean(Boolean::default()),
                ldap3::parse_filter(&filter)
                    .map_err(|()| Failure::Wrong(format!("bad filter {filter}")))?,
                Tag::Sequence(Sequence {
                    inner: ATTRIBUTES
                        .iter()
                        .map(|a| {
                            Tag::OctetString(OctetString {
                                inner: a.as_bytes().to_vec(),
                                ..Default::default()
                            })
                        })
                        .collect(),
                    ..Default::default()
                }),
            ],
        });
        let timeout = self.timeout;
        let exchange = async {
            let id = self.send(request).await?;
            let mut dns = Vec::new();
            loop {
                let (op, parts) = self.receive(id).await?;
                match op {
                    SEARCH_RESULT_ENTRY => dns.push(octets(parts.first())),
                    SEARCH_RESULT_REFERENCE => {}
                    SEARCH_RESULT_DONE => {
                        let rc = result_code(&parts)?;
                        return Ok((rc, dns));
                    }
                    other => {
                        return Err(Failure::Wrong(format!(
                            "{filter}: answered with operation {other}"
                        )))
                    }
                }
            }
        };
        let (rc, dns) = tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(Failure::Broken(format!("{filter} timed out"))))?;
        match (rc, dns.as_slice()) {
            (0, [dn]) => check_entry(uid, dn).map_err(Failure::Wrong),
            (0, dns) => Err(Failure::Wrong(format!(
                "{filter}: {} entries, expected 1",
                dns.len()
            ))),
            (rc, _) => Err(Failure::Wrong(format!("{filter}: result code {rc}"))),
        }
    }

    /// Sends `op` in an LDAPMessage with the next message ID, which it returns.
    async fn send(&mut self, op: Tag) -> Result<i64, Failure> {
        self.last_id += 1;
        let message = Tag::Sequence(Sequence {
            inner: vec![
                Tag::Integer(Integer {
                    inner: self.last_id,
                    ..Default::default()
                }),
                op,
            ],
            ..Default::default()
        });
        // The buffer type is the one `encode_into` names; only its bytes are used here.
        let mut bytes = Default::default();
        ldap3::asn1::write::encode_into(&mut bytes, message.into_structure())
            .map_err(|e| Failure::Broken(format!("encoding: {e}")))?;
        self.stream
            .get_mut()
            .write_all(&bytes)
            .await
            .map_err(|e| Failure::Broken(format!("send: {e}")))?;
        Ok(self.last_id)
    }

    /// Reads the next LDAPMessage, which must answer `id`; returns the protocol operation's
    /// tag number and its parts. A Notice of Disconnection (ID 0) ends the connection.
    async fn receive(&mut self, id: i64) -> Result<(u64, Vec<StructureTag>), Failure> {
        let frame = self
            .read_frame()
            .await
            .map_err(|e| Failure::Broken(format!("receive: {e}")))?;
        let (_, message) = parse_tag(&frame)
            .map_err(|_| Failure::Broken("malformed BER from the server".into()))?;
        let mut parts = message.expect_constructed().unwrap_or_default().into_iter();
        let (Some(message_id), Some(op)) = (parts.next(), parts.next()) else {
            return Err(Failure::Broken("LDAPMessage without an operation".into()));
        };
        let answered = message_id
            .expect_primitive()
            .map_or(0, |v| parse_uint(&v).map_or(0, |(_, n)| n));
        if answered == 0 {
            return Err(Failure::Broken("notice of disconnection".into()));
        }
        if i64::try_from(answered) != Ok(id) {
            return Err(Failure::Broken(format!(
                "answer to message {answered}, expected {id}"
            )));
        }
        let tag = op.id;
        Ok((tag, op.expect_constructed().unwrap_or_default()))
    }

    /// One BER element: the tag byte, the length (short or long form), the contents.
    async fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).await?;
        let mut frame = head.to_vec();
        let length = if head[1] & 0x80 == 0 {
            usize::from(head[1])
        } else {
            let octets = usize::from(head[1] & 0x7f);
            if octets == 0 || octets > 4 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "unsupported BER length",
                ));
            }
            let mut length = [0u8; 4];
            self.stream.read_exact(&mut length[..octets]).await?;
            frame.extend_from_slice(&length[..octets]);
            length[..octets]
                .iter()
                .fold(0usize, |n, &b| (n << 8) | usize::from(b))
        };
        let start = frame.len();
        frame.resize(start + length, 0);
        self.stream.read_exact(&mut frame[start..]).await?;
        Ok(frame)
    }
}

/// The resultCode of an LDAPResult's parts (RFC 4511 §4.1.9).
fn result_code(parts: &[StructureTag]) -> Result<u64, Failure> {
    parts
        .first()
        .and_then(|t| t.clone().expect_primitive())
        .map(|v| parse_uint(&v).map_or(u64::MAX, |(_, n)| n))
        .ok_or_else(|| Failure::Broken("LDAPResult without a result code".into()))
}

/// An OCTET STRING as text.
fn octets(tag: Option<&StructureTag>) -> String {
    tag.and_then(|t| t.clone().expect_primitive())
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

/// What one worker saw inside the window.
#[derive(Debug, Default)]
struct Tally {
    /// Latency of each operation that completed correctly in the window, in µs.
    latencies_us: Vec<u32>,
    wrong: u64,
    first_wrong: Option<String>,
}

impl Tally {
    fn record(&mut self, window: &Window, started: Instant, outcome: Result<(), String>) {
        let done = Instant::now();
        if !window.contains(done) {
            return;
        }
        match outcome {
            Ok(()) => self
                .latencies_us
                .push(u32::try_from((done - started).as_micros()).unwrap_or(u32::MAX)),
            Err(e) => {
                self.wrong += 1;
                self.first_wrong.get_or_insert(e);
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.wrong += other.wrong;
        if self.first_wrong.is_none() {
            self.first_wrong = other.first_wrong;
        }
    }
}

/// Throughput, server CPU and latency of one measured stretch.
#[derive(Debug, Clone)]
struct Run {
    per_second: f64,
    cpu_us_per_op: f64,
    client_cpu_us_per_op: f64,
    /// Cores the server kept busy over the window.
    server_cores: f64,
    p50_ms: f64,
    p99_ms: f64,
    wrong: u64,
    first_wrong: Option<String>,
}

impl Run {
    fn from(mut tally: Tally, window: &Window, cpu: CpuUse) -> Run {
        tally.latencies_us.sort_unstable();
        let ops = tally.latencies_us.len();
        let percentile = |p: f64| {
            if ops == 0 {
                return f64::NAN;
            }
            let rank = ((p * ops as f64).ceil() as usize).clamp(1, ops);
            f64::from(tally.latencies_us[rank - 1]) / 1000.0
        };
        Run {
            per_second: ops as f64 / window.seconds(),
            cpu_us_per_op: cpu.server.as_secs_f64() * 1e6 / ops.max(1) as f64,
            client_cpu_us_per_op: cpu.client.as_secs_f64() * 1e6 / ops.max(1) as f64,
            server_cores: cpu.server.as_secs_f64() / window.seconds(),
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            wrong: tally.wrong,
            first_wrong: tally.first_wrong,
        }
    }
}

/// Wrong-password binds the flood got answered in the window, by outcome.
#[derive(Debug, Default)]
struct FloodCounters {
    invalid_credentials: AtomicU64,
    other: AtomicU64,
    /// Connections that broke (closed by the server, or no answer within
    /// [`FLOOD_TIMEOUT`]) and were opened again, and why the first one did.
    reconnects: AtomicU64,
    first_break: std::sync::Mutex<Option<String>>,
}

impl FloodCounters {
    fn broke(&self, why: String) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_break.lock() {
            first.get_or_insert(why);
        }
    }
}

/// Where the flood comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FloodSource {
    /// Every connection from 127.0.0.1, like one misbehaving host.
    OneAddress,
    /// Connection i from its own loopback address: a distributed guessing attack.
    ManyAddresses,
}

#[derive(Debug, Clone)]
struct FloodRun {
    /// Searches once the flood is steady.
    searches: Run,
    /// Searches over the flood's first `--flood-warmup` seconds.
    onset: Run,
    /// How long the server stayed busy after the flood's connections closed.
    drain: Duration,
    /// Correct binds from another address during the steady flood.
    bystander: Bystander,
    binds_per_second: f64,
    invalid_credentials: u64,
    other: u64,
    reconnects: u64,
    first_break: Option<String>,
}

#[derive(Debug)]
struct Figures {
    binds: Run,
    searches: Run,
    flood_one: FloodRun,
    flood_many: Option<FloodRun>,
}

/// Runs every phase against every server, phase by phase; an error names its server.
async fn measure(
    args: &LdapArgs,
    servers: &mut [(Server, Target)],
) -> Result<Vec<(ServerKind, Figures)>, (ServerKind, anyhow::Error)> {
    for (server, target) in servers.iter_mut() {
        let ready = async {
            server.wait_ready().await?;
            target.preflight().await
        };
        ready.await.map_err(|e| (target.kind, e))?;
    }
    let targets: Vec<&Target> = servers.iter().map(|(_, t)| t).collect();
    let on = |t: &Target| {
        let kind = t.kind;
        move |e: anyhow::Error| (kind, e)
    };

    let mut binds = Vec::new();
    for &target in &targets {
        let run = bind_phase(args, target).await.map_err(on(target))?;
        print_binds(target.kind, &run);
        binds.push(run);
        settle(target).await;
    }
    let mut searches = Vec::new();
    for &target in &targets {
        let run = search_phase(args, target, None)
            .await
            .map_err(on(target))?
            .steady;
        print_searches(target.kind, &run);
        searches.push(run);
        settle(target).await;
    }
    // congvu treats sources differently, so it is flooded both ways; slapd is not. The
    // one-address flood comes last: it leaves 127.0.0.1 throttled for the lockout window.
    let mut floods_many = Vec::new();
    for &target in &targets {
        floods_many.push(if target.kind == ServerKind::Congvu {
            Some(
                flood_phase(args, target, FloodSource::ManyAddresses)
                    .await
                    .map_err(on(target))?,
            )
        } else {
            None
        });
    }
    let mut floods_one = Vec::new();
    for &target in &targets {
        floods_one.push(
            flood_phase(args, target, FloodSource::OneAddress)
                .await
                .map_err(on(target))?,
        );
    }
    Ok(targets
        .iter()
        .zip(binds)
        .zip(searches)
        .zip(floods_many)
        .zip(floods_one)
        .map(|((((target, binds), searches), flood_many), flood_one)| {
            (
                target.kind,
                Figures {
                    binds,
                    searches,
                    flood_one,
                    flood_many,
                },
            )
        })
        .collect())
}

/// L2's line for one server.
fn print_binds(kind: ServerKind, run: &Run) {
    println!(
        "  {} L2 {:.1} binds/s ({} wrong), server {:.2} cores",
        kind.name(),
        run.per_second,
        run.wrong,
        run.server_cores
    );
}

/// L1's line for one server.
fn print_searches(kind: ServerKind, run: &Run) {
    println!(
        "  {} L1 {:.0} searches/s, {:.0} µs server CPU each ({:.2} cores; client {:.0} µs), \
         p99 {:.2} ms ({} wrong)",
        kind.name(),
        run.per_second,
        run.cpu_us_per_op,
        run.server_cores,
        run.client_cpu_us_per_op,
        run.p99_ms,
        run.wrong
    );
}

/// Waits until the server is idle again, so one phase's backlog (a queue of argon2
/// verifications, say) is not billed to the next; returns how long that took.
async fn settle(target: &Target) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let interval = Duration::from_millis(250);
    let Ok(mut before) = target.cpu() else {
        return Duration::ZERO;
    };
    while Instant::now() < deadline {
        tokio::time::sleep(interval).await;
        let Ok(now) = target.cpu() else { break };
        if now - before < interval / 10 {
            break;
        }
        before = now;
    }
    started.elapsed()
}

async fn bind_phase(args: &LdapArgs, target: &Target) -> anyhow::Result<Run> {
    let mut connections = Vec::new();
    for _ in 0..args.connections {
        connections.push(connect(&target.url).await?);
    }
    let window = Window::after(args.warmup, args.seconds);
    let workers: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(worker, mut ldap)| {
            let users = target.bind_users.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut next = worker;
                while Instant::now() < window.end {
                    let (dn, password) = &users[next % users.len()];
                    next += 1;
                    let started = Instant::now();
                    let outcome = match ldap
                        .with_timeout(OP_TIMEOUT)
                        .simple_bind(dn, password)
                        .await
                    {
                        Ok(r) if r.rc == 0 => Ok(()),
                        Ok(r) => Err(format!("bind {dn}: result code {} {:?}", r.rc, r.text)),
                        Err(e) => Err(format!("bind {dn}: {e}")),
                    };
                    tally.record(&window, started, outcome);
                }
                tally
            })
        })
        .collect();
    let cpu = cpu_over(target, &window).await?;
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await?);
    }
    Ok(Run::from(tally, &window, cpu))
}

/// CPU time used over a window.
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    server: Duration,
    /// This process: a client that uses its cores up caps what the server can show.
    client: Duration,
}

/// The server's and this client's CPU time over `window`, sampled at its start and end.
async fn cpu_over(target: &Target, window: &Window) -> anyhow::Result<CpuUse> {
    let mut spans = cpu_between(target, &[window.start, window.end]).await?;
    spans.pop().context("no CPU span")
}

/// The CPU time used between each pair of consecutive `instants`.
async fn cpu_between(target: &Target, instants: &[Instant]) -> anyhow::Result<Vec<CpuUse>> {
    let client = || cpu_time(std::process::id(), target.ticks);
    let mut samples = Vec::new();
    for &at in instants {
        tokio::time::sleep_until(at.into()).await;
        samples.push((target.cpu()?, client()?));
    }
    Ok(samples
        .windows(2)
        .map(|pair| CpuUse {
            server: pair[1].0 - pair[0].0,
            client: pair[1].1 - pair[0].1,
        })
        .collect())
}

/// What one search phase measured.
#[derive(Debug)]
struct SearchFigures {
    steady: Run,
    /// With a flood: the searches during its warm-up.
    onset: Option<Run>,
    /// With a flood: the correct binds a bystander made during the window.
    bystander: Option<Bystander>,
    window: Window,
}

/// The flood's workers, each binding with wrong passwords through `window`: from one
/// address, or each from its own loopback address.
fn start_flood(
    args: &LdapArgs,
    target: &Target,
    source: FloodSource,
    counters: &Arc<FloodCounters>,
    window: Window,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..args.flood)
        .map(|i| {
            tokio::spawn(flood_worker(
                target.addr,
                target.flood_dns.clone(),
                (i, args.flood),
                (source == FloodSource::ManyAddresses).then(|| flood_address(i)),
                window,
                counters.clone(),
            ))
        })
        .collect()
}

/// L1 (no flood) and L3 (with one): searches on `--connections` bound connections.
async fn search_phase(
    args: &LdapArgs,
    target: &Target,
    flood: Option<(FloodSource, Arc<FloodCounters>)>,
) -> anyhow::Result<SearchFigures> {
    // Searchers bind before any flood starts, so a throttled address cannot refuse them.
    let mut searchers = Vec::new();
    for _ in 0..args.connections {
        searchers.push(Wire::bound(target.addr, READER, &target.reader_secret).await?);
    }
    // A flood is measured once it is steady: a server that admits a burst of binds for
    // hashing before it throttles their source works that backlog off first. The onset
    // is measured too.
    let (onset, window) = match flood {
        Some(_) => (
            Some(Window::after(0, args.flood_warmup)),
            Window::after(args.flood_warmup, args.seconds),
        ),
        None => (None, Window::after(args.warmup, args.seconds)),
    };
    let flooders = match &flood {
        Some((source, counters)) => start_flood(args, target, *source, counters, window),
        None => Vec::new(),
    };
    let workers: Vec<_> = searchers
        .into_iter()
        .enumerate()
        .map(|(worker, wire)| {
            tokio::spawn(searcher(
                wire,
                target.addr,
                target.reader_secret.clone(),
                target.uids.clone(),
                worker as u64,
                [onset, Some(window)],
            ))
        })
        .collect();
    let bystander = flood.is_some().then(|| {
        tokio::spawn(bystander_binds(
            target.addr,
            target.reader_secret.clone(),
            window,
        ))
    });
    let instants: Vec<Instant> = onset
        .map(|o| o.start)
        .into_iter()
        .chain([window.start, window.end])
        .collect();
    let mut cpu = cpu_between(target, &instants).await?;
    let steady_cpu = cpu.pop().context("no CPU span")?;
    let mut tallies = [Tally::default(), Tally::default()];
    for worker in workers {
        for (total, part) in tallies.iter_mut().zip(worker.await?) {
            total.merge(part);
        }
    }
    let bystander = match bystander {
        Some(task) => Some(task.await?),
        None => None,
    };
    for flooder in flooders {
        flooder.abort();
    }
    let [onset_tally, steady_tally] = tallies;
    Ok(SearchFigures {
        bystander,
        steady: Run::from(steady_tally, &window, steady_cpu),
        onset: onset
            .zip(cpu.pop())
            .map(|(o, c)| Run::from(onset_tally, &o, c)),
        window,
    })
}

/// How a bystander's correct binds fared during a flood.
#[derive(Debug, Clone, Default)]
struct Bystander {
    /// Latency of each bind answered, in order.
    answered: Vec<Duration>,
    /// A bind still unanswered when the bystander gave up, and how long it had waited.
    gave_up_after: Option<Duration>,
    /// Answers other than success.
    refused: u64,
}

impl Bystander {
    fn summary(&self) -> String {
        let mut sorted = self.answered.clone();
        sorted.sort_unstable();
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        let mut out = match (sorted.get(sorted.len() / 2), sorted.last()) {
            (Some(median), Some(slowest)) => format!(
                "{} answered, median {:.0} ms, slowest {:.0} ms",
                sorted.len(),
                ms(median),
                ms(slowest)
            ),
            _ => "none answered".to_string(),
        };
        if let Some(waited) = self.gave_up_after {
            out.push_str(&format!(
                ", one still unanswered after {:.1} s",
                waited.as_secs_f64()
            ));
        }
        if self.refused > 0 {
            out.push_str(&format!(", {} refused", self.refused));
        }
        out
    }
}

/// How long after the window a bystander's bind may still be answered.
const BYSTANDER_GRACE: Duration = Duration::from_secs(20);

/// Binds as the service account with its right secret, one bind after another through the
/// window, from an address of its own (another client of the directory, which no
/// throttle aimed at the flood should touch): what a real login waits during the flood.
async fn bystander_binds(server: SocketAddr, secret: String, window: Window) -> Bystander {
    let mut seen = Bystander::default();
    tokio::time::sleep_until(window.start.into()).await;
    let source = Some(Ipv4Addr::new(127, 0, 200, 1));
    let patience = window.end + BYSTANDER_GRACE - Instant::now();
    let Ok(mut wire) = Wire::open(server, source, patience).await else {
        seen.refused += 1;
        return seen;
    };
    while Instant::now() < window.end {
        let started = Instant::now();
        wire.timeout = (window.end + BYSTANDER_GRACE).saturating_duration_since(started);
        match wire.bind(READER, &secret).await {
            Ok(0) => seen.answered.push(started.elapsed()),
            Ok(_) | Err(Failure::Wrong(_)) => seen.refused += 1,
            Err(Failure::Broken(_)) => {
                seen.gave_up_after = Some(started.elapsed());
                break;
            }
        }
    }
    seen
}

/// Looks random officials up until the last window ends, tallying each window apart; a
/// broken connection is opened and bound again (which a throttled address may refuse:
/// that counts as wrong too).
async fn searcher(
    mut wire: Wire,
    server: SocketAddr,
    secret: String,
    uids: Arc<Vec<String>>,
    seed: u64,
    windows: [Option<Window>; 2],
) -> [Tally; 2] {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut tallies = [Tally::default(), Tally::default()];
    let end = windows.iter().flatten().map(|w| w.end).max();
    let Some(end) = end else { return tallies };
    let record = |tallies: &mut [Tally; 2], started: Instant, outcome: Result<(), String>| {
        for (tally, window) in tallies.iter_mut().zip(&windows) {
            if let Some(window) = window {
                tally.record(window, started, outcome.clone());
            }
        }
    };
    while Instant::now() < end {
        let uid = &uids[rng.random_range(0..uids.len())];
        let started = Instant::now();
        let outcome = wire.search_uid(uid).await;
        let broken = matches!(outcome, Err(Failure::Broken(_)));
        record(&mut tallies, started, outcome.map_err(Failure::message));
        if broken {
            match Wire::bound(server, READER, &secret).await {
                Ok(fresh) => wire = fresh,
                Err(e) => {
                    record(&mut tallies, Instant::now(), Err(format!("{e:#}")));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    tallies
}

/// The loopback address of flood connection `i` when the flood is spread over addresses.
fn flood_address(i: usize) -> Ipv4Addr {
    // 127.0.0.1 stays the searchers' own address.
    Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 2 + (i % 250) as u8)
}

/// Sends wrong-password binds, each for another official, until the window ends, and
/// counts the answers that arrive within it. Worker `index` of `workers` takes every
/// `workers`-th official from `index` on, so the flood walks the whole list.
async fn flood_worker(
    server: SocketAddr,
    dns: Arc<Vec<String>>,
    (index, workers): (usize, usize),
    source: Option<Ipv4Addr>,
    counted: Window,
    counters: Arc<FloodCounters>,
) {
    let mut next = index;
    while Instant::now() < counted.end {
        let mut wire = match Wire::open(server, source, FLOOD_TIMEOUT).await {
            Ok(wire) => wire,
            Err(e) => {
                counters.broke(format!("connect: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while Instant::now() < counted.end {
            let dn = &dns[next % dns.len()];
            next += workers;
            let answer = wire.bind(dn, "wrong-password-2026").await;
            let counter = match answer {
                Ok(49) => &counters.invalid_credentials,
                Ok(_) | Err(Failure::Wrong(_)) => &counters.other,
                Err(Failure::Broken(why)) => {
                    counters.broke(why);
                    break;
                }
            };
            if counted.contains(Instant::now()) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// L3: searches while the flood runs.
async fn flood_phase(
    args: &LdapArgs,
    target: &Target,
    source: FloodSource,
) -> anyhow::Result<FloodRun> {
    let counters = Arc::new(FloodCounters::default());
    let searches = search_phase(args, target, Some((source, counters.clone()))).await?;
    let drain = settle(target).await;
    let invalid_credentials = counters.invalid_credentials.load(Ordering::Relaxed);
    let other = counters.other.load(Ordering::Relaxed);
    let run = FloodRun {
        binds_per_second: (invalid_credentials + other) as f64 / searches.window.seconds(),
        invalid_credentials,
        other,
        reconnects: counters.reconnects.load(Ordering::Relaxed),
        first_break: counters
            .first_break
            .lock()
            .ok()
            .and_then(|mut first| first.take()),
        onset: searches.onset.context("a flood phase has an onset")?,
        bystander: searches.bystander.unwrap_or_default(),
        searches: searches.steady,
        drain,
    };
    println!(
        "  {} L3 {source:?}: {:.0} searches/s, p99 {:.2} ms ({} wrong), server {:.2} cores; \
         bystander binds: {}; \
         first {} s: {:.0} searches/s, p99 {:.2} ms; flood answered {:.0}/s ({} other codes, \
         {} reconnects{}); busy {:.1} s after it",
        target.kind.name(),
        run.searches.per_second,
        run.searches.p99_ms,
        run.searches.wrong,
        run.searches.server_cores,
        run.bystander.summary(),
        args.flood_warmup,
        run.onset.per_second,
        run.onset.p99_ms,
        run.binds_per_second,
        run.other,
        run.reconnects,
        run.first_break
            .as_deref()
            .map(|why| format!(", the first: {why}"))
            .unwrap_or_default(),
        run.drain.as_secs_f64()
    );
    Ok(run)
}

// ---------------------------------------------------------------------------------------
// Report

/// This benchmark's section of docs/PERFORMANCE.md.
const MARKERS: Markers = Markers {
    begin: "<!-- ldap:begin -->",
    end: "<!-- ldap:end -->",
    after: None,
};
const PATH_OPTIONS: [&str; 4] = ["--server", "--admin", "--slapd", "--slapadd"];

/// Everything the report section says.
#[derive(Debug)]
struct Report<'a> {
    args: &'a LdapArgs,
    machine: &'a Machine,
    pinned: bool,
    verify_ms: f64,
    congvu: Option<&'a Figures>,
    slapd: Option<&'a Figures>,
}

fn per_second(run: &Run) -> String {
    if run.per_second >= 100.0 {
        format!("{:.0}/s", run.per_second)
    } else {
        format!("{:.1}/s", run.per_second)
    }
}

/// congvu's figure over the reference's.
fn ratio(ours: Option<f64>, reference: Option<f64>) -> Option<f64> {
    Some(ours? / reference?)
}

impl Report<'_> {
    fn render(&self) -> String {
        let args = self.args;
        let command = user_arguments(&PATH_OPTIONS);
        let placement = placement(
            self.pinned,
            self.machine.cores,
            ["each server", "servers"],
            "client",
        );
        let mut out = format!(
            "{begin}\n## L1–L3: LDAP against OpenLDAP slapd\n\n\
             Measured by `bench/ldap.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {load} before the run), {placement}.\n\
             Each figure is taken over {secs} s, after {warm} s of warm-up, or for L3 after the flood has\n\
             run {flood_warm} s. Both servers hold the same {n} officials: congvu from `congvu-admin user import`,\n\
             slapd the same entries loaded with `slapadd` into back-mdb (equality indexes on uid, mail, cn;\n\
             ACLs: bound identities read, passwords serve binds only). Both log warnings only and are\n\
             asked the same things over plaintext LDAP on loopback by the same client.\n\n\
             - Searches: `(uid=…)` for a random official under `{PEOPLE}`, 7 attributes, on\n  \
               {conns} connections bound as the service account `{READER}`; every answer is checked\n  \
               (result 0, exactly that entry). The search loops encode and decode with `ldap3`'s BER layer\n  \
               directly: its full client costs about as much CPU per search as a server spends answering.\n\
             - Binds: {binders} officials with chosen passwords stored as argon2id m=19456 KiB, t=2, p=1 on\n  \
               both sides (slapd: `moduleload argon2 m=19456 t=2 p=1`, `{{ARGON2}}$argon2id$…` values), bound\n  \
               in turn on {conns} connections with `ldap3`'s client.\n\
             - Flood: {flood} connections binding with wrong passwords, each bind naming the next of the\n  \
               {binders} officials, while the searches above run. Meanwhile a bystander on an address of its\n  \
               own binds as the service account with its right secret, one bind after another: what a real\n  \
               login waits during the flood.\n\n\
             | id | what | congvu | slapd (or unloaded) | ratio | target | met? |\n\
             |---|---|---|---|---|---|---|\n",
            begin = MARKERS.begin,
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            load = self.machine.load,
            secs = args.seconds,
            warm = args.warmup,
            flood_warm = args.flood_warmup,
            n = args.officials,
            conns = args.connections,
            binders = args.bind_users,
            flood = args.flood,
        );
        out.push_str(&render_rows(&self.rows(), "wrong answers"));
        out.push_str(&self.details());
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    fn rows(&self) -> Vec<Row> {
        let (c, s) = (self.congvu, self.slapd);
        let unloaded = [c.map(|f| &f.searches), s.map(|f| &f.searches)];
        let binds = [c.map(|f| &f.binds), s.map(|f| &f.binds)];
        let mut rows = Vec::new();
        let throughput = ratio(
            unloaded[0].map(|r| r.per_second),
            unloaded[1].map(|r| r.per_second),
        );
        rows.push(Row {
            id: "L1",
            what: "`(uid=…)` searches/s".into(),
            ours: unloaded[0].map(per_second),
            reference: unloaded[1].map(per_second),
            ratio: throughput.map(times),
            target: "≥ 1.3×",
            met: throughput.map(|r| r >= 1.3),
            invalid: wrong(&unloaded),
        });
        let cpu = ratio(
            unloaded[0].map(|r| r.cpu_us_per_op),
            unloaded[1].map(|r| r.cpu_us_per_op),
        );
        rows.push(Row {
            id: "L1",
            what: "server CPU per search".into(),
            ours: unloaded[0].map(|r| format!("{:.0} µs", r.cpu_us_per_op)),
            reference: unloaded[1].map(|r| format!("{:.0} µs", r.cpu_us_per_op)),
            ratio: cpu.map(times),
            target: "≤ 1.0×",
            met: cpu.map(|r| r <= 1.0),
            invalid: wrong(&unloaded),
        });
        let bind_ratio = ratio(
            binds[0].map(|r| r.per_second),
            binds[1].map(|r| r.per_second),
        );
        rows.push(Row {
            id: "L2",
            what: "simple binds/s, an argon2id verification each".into(),
            ours: binds[0].map(per_second),
            reference: binds[1].map(per_second),
            ratio: bind_ratio.map(times),
            target: "≥ 2×",
            met: bind_ratio.map(|r| r >= 2.0),
            invalid: wrong(&binds),
        });
        rows.extend(self.flood_rows());
        rows
    }

    /// L3: each flood's steady figures against the same server unloaded, and its onset.
    fn flood_rows(&self) -> Vec<Row> {
        let (c, s) = (self.congvu, self.slapd);
        let mut rows = Vec::new();
        let floods = [
            (
                "L3",
                "congvu, flood from one address",
                c,
                c.map(|f| &f.flood_one),
                true,
            ),
            (
                "L3b",
                "congvu, flood from 1 loopback address per connection",
                c,
                c.and_then(|f| f.flood_many.as_ref()),
                true,
            ),
            (
                "L3 (slapd)",
                "slapd, flood from one address",
                s,
                s.map(|f| &f.flood_one),
                false,
            ),
        ];
        for (id, label, figures, flood, targeted) in floods {
            rows.extend(self.flood_group(id, label, figures.map(|f| &f.searches), flood, targeted));
        }
        rows
    }

    /// The four rows of one flood: steady throughput kept, p99, the bystander's bind, and the
    /// flood's onset; `targeted` says whether the targets apply (congvu) or are shown in
    /// brackets (slapd).
    fn flood_group(
        &self,
        id: &'static str,
        label: &str,
        unloaded: Option<&Run>,
        flood: Option<&FloodRun>,
        targeted: bool,
    ) -> Vec<Row> {
        let mut group = Vec::with_capacity(4);
        let steady = flood.map(|f| &f.searches);
        let onset = flood.map(|f| &f.onset);
        let kept = ratio(steady.map(|r| r.per_second), unloaded.map(|r| r.per_second));
        let (target, p99_target) = if targeted {
            ("≥ 0.8×", "≤ 10 ms")
        } else {
            ("(≥ 0.8×)", "(≤ 10 ms)")
        };
        group.push(Row {
            id,
            what: format!("{label}: searches/s, steady, vs unloaded"),
            ours: steady.map(per_second),
            reference: unloaded.map(per_second),
            ratio: kept.map(times),
            target,
            met: kept.filter(|_| targeted).map(|r| r >= 0.8),
            invalid: wrong(&[steady, unloaded]),
        });
        group.push(Row {
            id,
            what: "p99 search latency, steady flood (unloaded p99)".into(),
            ours: steady.map(|r| format!("{:.2} ms", r.p99_ms)),
            reference: unloaded.map(|r| format!("{:.2} ms", r.p99_ms)),
            ratio: None,
            target: p99_target,
            met: steady.filter(|_| targeted).map(|r| r.p99_ms <= 10.0),
            invalid: wrong(&[steady]),
        });
        group.push(Row {
            id,
            what: "a correct bind from another address during the steady flood".into(),
            ours: flood.map(|f| f.bystander.summary()),
            reference: None,
            ratio: None,
            target: "—",
            met: None,
            invalid: 0,
        });
        group.push(Row {
            id,
            what: format!(
                "the flood's first {} s: searches/s (p99) vs unloaded",
                self.args.flood_warmup
            ),
            ours: onset.map(|r| format!("{} ({:.1} ms)", per_second(r), r.p99_ms)),
            reference: unloaded.map(per_second),
            ratio: ratio(onset.map(|r| r.per_second), unloaded.map(|r| r.per_second)).map(times),
            target: "—",
            met: None,
            invalid: wrong(&[onset]),
        });
        group
    }

    /// One flood against one server, in a sentence or three.
    fn flood_details(&self, f: &Figures, label: &str, flood: &FloodRun) -> String {
        let seconds = self.args.seconds as f64;
        let mut out = format!(
            " Flood {label}, steady: {:.0} wrong-password binds answered per second \
             ({} invalidCredentials, {} other results), server CPU {:.2} cores",
            flood.binds_per_second,
            flood.invalid_credentials,
            flood.other,
            flood.searches.server_cores
        );
        // What a bind answered without hashing cost: the server's CPU less its searches at
        // the unloaded price, per bind. Where binds were hashed, searches also got dearer
        // (argon2 evicts their caches), so no estimate is given.
        if flood.binds_per_second > 2000.0 / self.verify_ms {
            let flood_cpu = flood.searches.server_cores * seconds
                - flood.searches.per_second * seconds * f.searches.cpu_us_per_op / 1e6;
            out.push_str(&format!(
                ", so ≈ {:.0} µs per flood bind (estimated: the server CPU less the searches \
                 at their unloaded cost)",
                flood_cpu.max(0.0) * 1e6 / (flood.binds_per_second * seconds)
            ));
        }
        out.push_str(&format!(
            "; {} flood connections broke and were reopened{}; the server stayed busy {:.1} s \
             after the flood stopped.",
            flood.reconnects,
            flood
                .first_break
                .as_deref()
                .map(|why| format!(" (first: {why})"))
                .unwrap_or_default(),
            flood.drain.as_secs_f64()
        ));
        out
    }

    /// The figures behind the table that explain it.
    fn details(&self) -> String {
        let mut out = String::from("\n");
        for (name, figures) in [("congvu", self.congvu), ("slapd", self.slapd)] {
            let Some(f) = figures else { continue };
            out.push_str(&format!(
                "- {name}: unloaded searches p50 {:.2} ms, p99 {:.2} ms, client CPU {:.0} µs per search; \
                 L2 used {:.1} ms of server CPU per bind.",
                f.searches.p50_ms,
                f.searches.p99_ms,
                f.searches.client_cpu_us_per_op,
                f.binds.cpu_us_per_op / 1000.0
            ));
            for (label, flood) in [
                ("from one address", Some(&f.flood_one)),
                ("from many addresses", f.flood_many.as_ref()),
            ] {
                if let Some(flood) = flood {
                    out.push_str(&self.flood_details(f, label, flood));
                }
            }
            out.push('\n');
        }
        let busy: Vec<String> = [("congvu", self.congvu), ("slapd", self.slapd)]
            .into_iter()
            .filter(|_| self.pinned)
            .filter_map(|(name, f)| f.map(|f| (name, f.searches.server_cores)))
            .filter(|(_, cores)| *cores < 0.9)
            .map(|(name, cores)| format!("{name} {cores:.2}"))
            .collect();
        if !busy.is_empty() {
            out.push_str(&format!(
                "- L1 caution: the server kept fewer than 0.9 of its core busy ({}), so the client or other\n  \
                 work on the machine set that rate: the throughput ratio is not a server figure this run; CPU per search still is.\n",
                busy.join(", ")
            ));
        }
        out.push_str(&format!(
            "- One argon2id verification at m=19456 KiB, t=2, p=1 takes {:.1} ms on one core of this machine\n  \
             (the `argon2` crate congvu uses, measured in this run): one core verifies at most ≈ {:.0} binds/s.\n",
            self.verify_ms,
            1000.0 / self.verify_ms
        ));
        out.push_str(&format!(
            "- L3: congvu's per-source throttle (`[auth] lockout_source_failures`, default 50 failures within\n  \
             `lockout_window_seconds`) answers binds from a flooding address without hashing once it engages:\n  \
             that is the designed defence, and the L3 rows, with the flood from one address, show it. L3b spreads\n  \
             the same flood over {flood} loopback addresses, each below the threshold, so every wrong password costs\n  \
             congvu a full argon2id verification, as every one costs slapd, which has no such throttle. The flood\n  \
             names the {binders} bind-test officials in turn (the accounts with a full-cost hash on both servers),\n  \
             a few failures each, below the per-account lockout (`lockout_failures`, default 10).\n",
            flood = self.args.flood,
            binders = self.args.bind_users
        ));
        for (name, figures) in [("congvu", self.congvu), ("slapd", self.slapd)] {
            let Some(f) = figures else { continue };
            let mut runs = vec![
                ("L2", &f.binds),
                ("L1", &f.searches),
                ("L3", &f.flood_one.searches),
                ("L3 onset", &f.flood_one.onset),
            ];
            if let Some(many) = &f.flood_many {
                runs.extend([("L3b", &many.searches), ("L3b onset", &many.onset)]);
            }
            for (id, run) in runs {
                if let Some(first) = &run.first_wrong {
                    out.push_str(&format!(
                        "- {name} {id}: {} wrong answers, the first: {first}\n",
                        run.wrong
                    ));
                }
            }
        }
        out
    }
}

/// Wrong answers behind some runs.
fn wrong(runs: &[Option<&Run>]) -> u64 {
    runs.iter().flatten().map(|r| r.wrong).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::place_section;

    const SECTION: &str = "<!-- ldap:begin -->\n## L1–L3\n\n| a |\n<!-- ldap:end -->\n";

    #[test]
    fn section_goes_before_the_first_heading_and_is_replaced_in_place() {
        let document = "# title\n\nintro\n\n## P1/P2: import\n\ntable\n";
        let placed = place_section(document, MARKERS, SECTION);
        assert_eq!(
            placed,
            "# title\n\nintro\n\n<!-- ldap:begin -->\n## L1–L3\n\n| a |\n<!-- ldap:end -->\n\n\
             ## P1/P2: import\n\ntable\n"
        );
        let again = place_section(&placed, MARKERS, &SECTION.replace("| a |", "| b |"));
        assert_eq!(again, placed.replace("| a |", "| b |"));
    }

    #[test]
    fn section_is_appended_to_a_document_without_sections() {
        assert_eq!(
            place_section("# title\n", MARKERS, SECTION),
            "# title\n\n<!-- ldap:begin -->\n## L1–L3\n\n| a |\n<!-- ldap:end -->\n"
        );
    }
}
