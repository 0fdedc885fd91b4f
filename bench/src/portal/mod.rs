//! W1: the officials' portal under load. `--users` officials at once sign in, open their
//! account pages without pause, and sign out and in again every `--pages-per-sign-in` page
//! views, while another client logs in over IMAP from an address of its own.
//!
//! The references are not another server: a sign-in costs one argon2id verification, so
//! sign-ins/s are set against the hashing floor (the server's hashing threads ÷ the time of
//! one verification, measured in the same run on one core of this machine), and the IMAP
//! login time under the load against the same login on the same server unloaded, measured
//! first in each run. What the target is about is the pages that do not hash.
//!
//! congvu is seeded as an administrator would seed it (`congvu-admin user import`), then
//! every official is given a chosen password at the full cost, as after their first sign-in,
//! through the directory API in this process (one `congvu-admin user passwd` per official
//! would spend most of its time starting up). The server is started from the release binary
//! for each run, pinned to the last core while this client runs on the others.
//!
//! This module owns its temporary directory, the server it starts and the `portal` section
//! of the report.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::machine::{free_port, Machine, Pinning};
use crate::server::{Binaries, Certificate};

mod load;
mod report;
mod seed;
mod server;

// The files split one workload: their items are shared within the folder and with its tests.
use load::*;
use report::*;
use seed::*;
use server::*;

#[derive(Debug, clap::Args)]
pub struct PortalArgs {
    /// Officials in the directory, each with a chosen password at the full cost.
    #[arg(long, default_value_t = 1_000)]
    officials: usize,
    /// Officials using the portal at once, each its own browser (cookies, connection).
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Page views between one sign-in and the next: a user signs out and in again after
    /// this many, so sign-ins keep flowing through the load.
    #[arg(long, default_value_t = 20)]
    pages_per_sign_in: usize,
    /// Runs; the report gives medians and ranges, and the target is met only if every run
    /// meets it.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds of load each run measures.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seconds of load before the measurement starts (every user's first sign-in).
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// Seconds of IMAP logins on the unloaded server at the start of each run.
    #[arg(long, default_value_t = 10)]
    unloaded_seconds: u64,
    /// Milliseconds between the starts of two IMAP logins.
    #[arg(long, default_value_t = 200)]
    probe_interval_ms: u64,
    /// argon2id verifications timed on one core for the hashing floor.
    #[arg(long, default_value_t = 20)]
    hash_samples: u32,
    /// Let the server and the client share every core instead of pinning them apart.
    #[arg(long)]
    no_pin: bool,
    #[command(flatten)]
    congvu: Binaries,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

/// The pages a signed-in official opens in turn, with what each must contain.
const PAGES: [(&str, &str); 3] = [
    ("/account", "<dd id=\"login\">"),
    ("/setup", "<table id=\"settings\">"),
    ("/sessions", "id=\"sessions\""),
];
/// Where the IMAP client connects from: not 127.0.0.1, where every portal user comes from
/// (as through a reverse proxy on the same machine).
const PROBE_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// How long past the window a request may still run before it is abandoned.
const GRACE: Duration = Duration::from_secs(10);
/// A step slower than this counts as a failure rather than hanging the run.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The password each official has chosen, stored as it would be after their first sign-in.
fn chosen_password(login: &str) -> String {
    format!("Bench-{login}-2026")
}

pub fn run(args: PortalArgs) -> anyhow::Result<()> {
    check(&args)?;
    let machine = Machine::probe();
    let dir = tempfile::tempdir()?;
    let cert = Certificate::create(dir.path())?;
    let pin = (!args.no_pin && machine.cores >= 2).then(|| Pinning::split(machine.cores));
    // Pinned, the server has one core, and hashes on one thread, as `hash_workers = 0` (one
    // per core) gives it there; the figure is written out so the floor's numerator is known.
    let hash_workers = if pin.is_some() { 1 } else { machine.cores };
    let ports = Ports {
        http: free_port()?,
        imaps: free_port()?,
    };
    let config = write_config(&args, dir.path(), &cert, ports, hash_workers)?;

    println!(
        "seeding congvu with {} officials, each with a chosen password at the full cost",
        args.officials
    );
    let started = Instant::now();
    let officials = seed(&args, &config, dir.path())?;
    let seeding = started.elapsed();
    println!("  {:.1} s", seeding.as_secs_f64());

    // Seeding used every core; from here the server gets the last core and the client the
    // rest.
    if let Some(pin) = &pin {
        pin.pin_self()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let tls = cert.connector()?;
    let (probe_official, users) = officials.split_last().context("no officials were seeded")?;
    let accounts: Arc<Vec<(String, String)>> = Arc::new(
        users
            .iter()
            .map(|o| (o.login.clone(), chosen_password(&o.login)))
            .collect(),
    );

    let mut runs = Vec::new();
    for run in 0..args.runs {
        println!("run {}/{}", run + 1, args.runs);
        let t_hash_ms = verify_ms(args.hash_samples)?;
        println!("  one argon2id verification: {t_hash_ms:.1} ms");
        let target = Target {
            base: format!("http://127.0.0.1:{}", ports.http),
            imaps: SocketAddr::from((Ipv4Addr::LOCALHOST, ports.imaps)),
            tls: tls.clone(),
            probe_login: probe_official.login.clone(),
            accounts: accounts.clone(),
            pid: 0,
            ticks: machine.ticks,
        };
        let core = pin.as_ref().map(|p| p.server.as_str());
        let log = dir.path().join("congvu.log");
        let mut figures = one_run(&args, &runtime, (&config, core, log), target, run)?;
        figures.t_hash_ms = t_hash_ms;
        figures.floor = hash_workers as f64 * 1000.0 / t_hash_ms;
        println!("  {}", figures.summary());
        runs.push(figures);
    }

    let report = Report {
        args: &args,
        machine: &machine,
        pinned: pin.is_some(),
        hash_workers,
        seeding,
        runs: &runs,
    };
    report.write()
}

/// One run: the server started (`config`, its core, its log), measured through `target`
/// with the server's pid filled in, and stopped.
fn one_run(
    args: &PortalArgs,
    runtime: &tokio::runtime::Runtime,
    (config, core, log): (&Path, Option<&str>, PathBuf),
    mut target: Target,
    run: usize,
) -> anyhow::Result<RunFigures> {
    let mut server = Server::start(&args.congvu.server, config, core, log)?;
    target.pid = server.pid();
    let measured = runtime.block_on(async {
        server.wait_ready(&target).await?;
        measure(args, &target).await
    });
    let stopped = server.stop();
    let figures = measured.with_context(|| {
        format!(
            "while measuring run {}; the server's log ends with:\n{}",
            run + 1,
            server.log_tail()
        )
    })?;
    stopped?;
    Ok(figures)
}

/// Refuses arguments and missing binaries before any work starts.
fn check(args: &PortalArgs) -> anyhow::Result<()> {
    args.congvu.check()?;
    anyhow::ensure!(
        args.officials >= 2 && args.users >= 1,
        "--officials must be at least 2 (one logs in over IMAP) and --users at least 1"
    );
    anyhow::ensure!(
        args.runs >= 1
            && args.seconds >= 1
            && args.unloaded_seconds >= 1
            && args.pages_per_sign_in >= 1
            && args.probe_interval_ms >= 1
            && args.hash_samples >= 1,
        "--runs, --seconds, --unloaded-seconds, --pages-per-sign-in, --probe-interval-ms and \
         --hash-samples must be at least 1"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, SET_COOKIE};

    use super::*;

    #[test]
    fn the_csrf_field_is_read_from_a_form() {
        let page =
            "<form><input type=\"hidden\" name=\"csrf\" value=\"abc-_1\"><input name=\"login\">";
        assert_eq!(csrf_field(page), Some("abc-_1"));
        assert_eq!(csrf_field("<form></form>"), None);
    }

    #[test]
    fn cookies_are_kept_and_cleared_as_set() {
        let mut browser = Browser::new("http://127.0.0.1:1").unwrap();
        let mut headers = HeaderMap::new();
        headers.append(
            SET_COOKIE,
            "congvu_session=s3ss; HttpOnly; SameSite=Strict; Path=/"
                .parse()
                .unwrap(),
        );
        headers.append(SET_COOKIE, "congvu_csrf=c5rf; Path=/".parse().unwrap());
        browser.take_cookies(&headers);
        assert_eq!(
            browser.cookie_header().as_deref(),
            Some("congvu_csrf=c5rf; congvu_session=s3ss")
        );
        let mut cleared = HeaderMap::new();
        cleared.append(
            SET_COOKIE,
            "congvu_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
                .parse()
                .unwrap(),
        );
        browser.take_cookies(&cleared);
        assert_eq!(browser.cookie_header().as_deref(), Some("congvu_csrf=c5rf"));
    }

    #[test]
    fn the_section_follows_the_imap_section() {
        let document = "# t\n\n<!-- imap:begin -->\nI\n<!-- imap:end -->\n\n## P1/P2\n";
        let placed = crate::report::place_section(
            document,
            MARKERS,
            "<!-- portal:begin -->\n## W1\n<!-- portal:end -->\n",
        );
        assert_eq!(
            placed,
            "# t\n\n<!-- imap:begin -->\nI\n<!-- imap:end -->\n\n\
             <!-- portal:begin -->\n## W1\n<!-- portal:end -->\n\n## P1/P2\n"
        );
    }
}
