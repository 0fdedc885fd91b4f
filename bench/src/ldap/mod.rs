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

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::machine::{free_port, pinned, Machine, Pinning};
use crate::report::publish;
use crate::server::{congvu_command, Binaries};

mod load;
mod report;
mod seed;
mod servers;

// The files split one workload: their items are shared within the folder and with its tests.
use load::*;
use report::*;
use seed::*;
use servers::*;

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
