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

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::clock::Clock;
use congvu::directory::{
    Actor, Argon2Cost, Directory, PasswordCost, PasswordHasher, StoredPassword,
};
use congvu::store::{Store, StoreOptions};
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

use crate::admin::Official;
use crate::figures::Window;
use crate::figures::{microseconds, milliseconds, per_second, percentile, times, Spread};
use crate::machine::{field, free_port, proc_stat, Machine, Pinning, STIME, UTIME};
use crate::report::{placement, publish, render_rows, user_arguments, Markers, Row};
use crate::server::{congvu_command, Binaries, Certificate, Config, Process, Tls};

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

// ---------------------------------------------------------------------------------------
// Seeding

/// The loopback ports the server listens on for this benchmark.
#[derive(Debug, Clone, Copy)]
struct Ports {
    http: u16,
    imaps: u16,
}

fn write_config(
    args: &PortalArgs,
    dir: &Path,
    cert: &Certificate,
    ports: Ports,
    hash_workers: usize,
) -> anyhow::Result<PathBuf> {
    // The portal on plain HTTP with a loopback public address, so passwords are taken over
    // it; IMAP over implicit TLS; every other listener on a free port nobody uses. The
    // argon2id cost, lockout and session settings keep their defaults (m=19456 KiB, t=2,
    // p=1), as does the log level; connections per address are raised for the users, who
    // all come from 127.0.0.1.
    let auth = format!("[auth]\nhash_workers = {hash_workers}\n");
    Config {
        tls: Tls::Certificate(cert),
        imaps: ports.imaps,
        http: ports.http,
        http_public: true,
        connections_per_ip: args.users + 100,
        extra: &auth,
        ..Config::default()
    }
    .write(dir, "congvu.toml")
}

/// Imports the officials with `congvu-admin`, then gives each a chosen password at the full
/// cost that need not be changed, hashed on every core and stored through the directory.
fn seed(args: &PortalArgs, config: &Path, dir: &Path) -> anyhow::Result<Vec<Official>> {
    let officials = crate::admin::import_province(
        &args.congvu.admin,
        config,
        dir,
        args.officials,
        1401,
        "PORTAL",
    )?;

    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let secrets: Vec<(String, PasswordCost)> = officials
        .iter()
        .map(|o| (chosen_password(&o.login), PasswordCost::Full))
        .collect();
    let hashes = hasher.hash_all(&secrets, &|_| {})?;
    let url = format!("sqlite://{}", dir.join("congvu-data/congvu.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = Store::open(&StoreOptions {
            url,
            max_connections: 2,
            busy_timeout: Duration::from_secs(10),
        })
        .await?;
        let directory = Directory::new(store, Clock::system());
        let actor = Actor("bench".into());
        for (official, hash) in officials.iter().zip(hashes) {
            let password = StoredPassword {
                hash,
                cost: PasswordCost::Full,
                must_change: false,
            };
            directory
                .set_password(&actor, &official.login, password)
                .await
                .with_context(|| format!("while setting the password of {}", official.login))?;
        }
        anyhow::Ok(())
    })?;
    Ok(officials)
}

/// Milliseconds one argon2id verification at the full cost takes on one core here: the
/// median of `samples` timed one by one, so a moment when other work on the machine has the
/// core does not count.
fn verify_ms(samples: u32) -> anyhow::Result<f64> {
    let hasher = PasswordHasher::new(Argon2Cost::FULL_DEFAULT);
    let hash = hasher.hash("Bench-verify-2026", PasswordCost::Full)?;
    let mut times = Vec::new();
    for _ in 0..samples {
        let started = Instant::now();
        anyhow::ensure!(hasher.verify("Bench-verify-2026", &hash), "verify failed");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(crate::figures::median(&times))
}

// ---------------------------------------------------------------------------------------
// The server

/// congvu-server run as a child process for one run; killed when dropped.
#[derive(Debug)]
struct Server {
    process: Process,
}

impl Server {
    fn start(
        binary: &Path,
        config: &Path,
        core: Option<&str>,
        log: PathBuf,
    ) -> anyhow::Result<Server> {
        let command = congvu_command(binary, config, core);
        Ok(Server {
            process: Process::start("congvu-server", command, log)?,
        })
    }

    fn pid(&self) -> u32 {
        self.process.pid().unwrap_or(0)
    }

    /// Waits until the sign-in page and the IMAP greeting both answer, or gives up after a
    /// minute.
    async fn wait_ready(&mut self, target: &Target) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()?;
        let mut last = String::new();
        while Instant::now() < deadline {
            self.process.check_running()?;
            let page = client.get(format!("{}/", target.base)).send().await;
            match page {
                Ok(r) if r.status() == StatusCode::OK => match imap_login(target).await {
                    Ok(_) => return Ok(()),
                    Err(e) => last = format!("IMAP: {e}"),
                },
                Ok(r) => last = format!("GET / answered {}", r.status()),
                Err(e) => last = format!("GET /: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("congvu-server was not ready within 60 s: {last}")
    }

    /// SIGTERM (congvu drains and closes its database), then SIGKILL after 30 s.
    fn stop(&mut self) -> anyhow::Result<()> {
        self.process.stop(Duration::from_secs(30))
    }

    fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// CPU time the server has used so far: all of it, and its password hashing threads'.
#[derive(Debug, Clone, Copy, Default)]
struct ServerCpu {
    total: Duration,
    hashing: Duration,
}

fn server_cpu(pid: u32, ticks: f64) -> ServerCpu {
    let seconds = |t: u64| Duration::from_secs_f64(t as f64 / ticks);
    let busy = |stat: &[u64]| field(stat, UTIME) + field(stat, STIME);
    let total = proc_stat(pid).map_or(0, |s| busy(&s));
    let mut hashing = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let path = task.path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if !name.starts_with("congvu-hash") {
                continue;
            }
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            let fields: Vec<u64> = stat
                .rsplit_once(')')
                .map(|(_, after)| {
                    after
                        .split_whitespace()
                        .map(|f| f.parse().unwrap_or(0))
                        .collect()
                })
                .unwrap_or_default();
            hashing += busy(&fields);
        }
    }
    ServerCpu {
        total: seconds(total),
        hashing: seconds(hashing),
    }
}

fn own_cpu(ticks: f64) -> Duration {
    let busy = proc_stat(std::process::id()).map_or(0, |s| field(&s, UTIME) + field(&s, STIME));
    Duration::from_secs_f64(busy as f64 / ticks)
}

// ---------------------------------------------------------------------------------------
// The load

/// The server as the client sees it during one run.
#[derive(Clone)]
struct Target {
    /// `http://127.0.0.1:port`, no trailing slash.
    base: String,
    imaps: SocketAddr,
    tls: TlsConnector,
    /// The official the IMAP client logs in as; no portal user signs in as them.
    probe_login: String,
    /// (login, password) of the officials the portal users sign in as.
    accounts: Arc<Vec<(String, String)>>,
    pid: u32,
    ticks: f64,
}

/// What one user saw inside the window: latencies in µs of what completed correctly.
#[derive(Debug, Default)]
struct UserTally {
    /// `/account`, `/setup`, `/sessions`, in the order of [`PAGES`].
    pages: [Vec<u32>; 3],
    /// `POST /sign-in` with the right password: one argon2id verification each.
    sign_ins: Vec<u32>,
    /// `GET /`: the sign-in form.
    forms: Vec<u32>,
    /// `POST /sign-out`.
    sign_outs: Vec<u32>,
    /// Sign-ins sent in the window still unanswered at its end.
    waiting_at_end: u64,
    wrong: u64,
    first_wrong: Option<String>,
}

impl UserTally {
    fn fail(&mut self, window: &Window, why: String) {
        if window.contains(Instant::now()) {
            self.wrong += 1;
            self.first_wrong.get_or_insert(why);
        }
    }

    fn merge(&mut self, other: UserTally) {
        for (mine, theirs) in self.pages.iter_mut().zip(other.pages) {
            mine.extend(theirs);
        }
        self.sign_ins.extend(other.sign_ins);
        self.forms.extend(other.forms);
        self.sign_outs.extend(other.sign_outs);
        self.waiting_at_end += other.waiting_at_end;
        self.wrong += other.wrong;
        if self.first_wrong.is_none() {
            self.first_wrong = other.first_wrong;
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// One official's browser: its own connection and cookie jar, kept by hand.
struct Browser {
    client: reqwest::Client,
    base: String,
    csrf_cookie: Option<String>,
    session: Option<String>,
}

/// What a request answered.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new(base: &str) -> anyhow::Result<Browser> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .build()?;
        Ok(Browser {
            client,
            base: base.to_string(),
            csrf_cookie: None,
            session: None,
        })
    }

    fn cookie_header(&self) -> Option<String> {
        let cookies: Vec<String> = [
            ("congvu_csrf", &self.csrf_cookie),
            ("congvu_session", &self.session),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={v}")))
        .collect();
        (!cookies.is_empty()).then(|| cookies.join("; "))
    }

    /// Keeps what `Set-Cookie` says of the two cookies the portal uses.
    fn take_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let first = text.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let cleared = value.is_empty() || text.contains("Max-Age=0");
            let slot = match name.trim() {
                "congvu_csrf" => &mut self.csrf_cookie,
                "congvu_session" => &mut self.session,
                _ => continue,
            };
            *slot = (!cleared).then(|| value.to_string());
        }
    }

    async fn request(
        &mut self,
        builder: reqwest::RequestBuilder,
        deadline: Instant,
    ) -> Result<Answer, String> {
        let builder = match self.cookie_header() {
            Some(cookies) => builder.header(COOKIE, cookies),
            None => builder,
        };
        let exchange = async {
            let response = builder.send().await.map_err(|e| format!("{e}"))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.text().await.map_err(|e| format!("{e}"))?;
            Ok::<_, String>((status, headers, body))
        };
        let (status, headers, body) = tokio::time::timeout_at(deadline.into(), exchange)
            .await
            .map_err(|_| "no answer in time".to_string())??;
        self.take_cookies(&headers);
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Answer {
            status,
            location,
            body,
        })
    }

    async fn get(&mut self, path: &str, deadline: Instant) -> Result<Answer, String> {
        let builder = self.client.get(format!("{}{path}", self.base));
        self.request(builder, deadline).await
    }

    async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<Answer, String> {
        let builder = self.client.post(format!("{}{path}", self.base)).form(form);
        self.request(builder, deadline).await
    }
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_field(body: &str) -> Option<&str> {
    const FIELD: &str = "name=\"csrf\" value=\"";
    let at = body.find(FIELD)? + FIELD.len();
    let len = body[at..].find('"')?;
    Some(&body[at..at + len])
}

/// One official after another, as user `index` of `users`: the sign-in form, signing in,
/// `--pages-per-sign-in` pages in turn without pause, signing out; until the window ends.
async fn portal_user(
    target: Target,
    index: usize,
    users: usize,
    pages_per_sign_in: usize,
    window: Window,
) -> UserTally {
    let mut tally = UserTally::default();
    let mut browser = match Browser::new(&target.base) {
        Ok(browser) => browser,
        Err(e) => {
            tally.fail(&window, format!("client: {e}"));
            return tally;
        }
    };
    let deadline = window.end + GRACE;
    let mut turn = 0;
    while Instant::now() < window.end {
        let (login, password) = &target.accounts[(index + turn * users) % target.accounts.len()];
        turn += 1;
        if let Err(e) = visit(
            &mut browser,
            login,
            password,
            pages_per_sign_in,
            window,
            deadline,
            &mut tally,
        )
        .await
        {
            tally.fail(&window, format!("{login}: {e}"));
            browser.session = None;
            // A broken step is not retried at full speed.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tally
}

/// One visit: sign in, the pages, sign out.
async fn visit(
    browser: &mut Browser,
    login: &str,
    password: &str,
    pages: usize,
    window: Window,
    deadline: Instant,
    tally: &mut UserTally,
) -> Result<(), String> {
    let record = |list: &mut Vec<u32>, started: Instant| {
        let done = Instant::now();
        if window.contains(done) {
            list.push(micros(done - started));
        }
    };
    let started = Instant::now();
    let form = browser.get("/", deadline).await?;
    if form.status != StatusCode::OK {
        return Err(format!("GET / answered {}", form.status));
    }
    let csrf = csrf_field(&form.body)
        .ok_or("the sign-in page has no csrf field")?
        .to_string();
    record(&mut tally.forms, started);
    if Instant::now() >= window.end {
        return Ok(());
    }

    let started = Instant::now();
    let signed_in = browser
        .post(
            "/sign-in",
            &[("csrf", &csrf), ("login", login), ("password", password)],
            deadline,
        )
        .await;
    if Instant::now() > window.end {
        // Answered after the window, or not at all: it waited through the window's end.
        if window.contains(started) {
            tally.waiting_at_end += 1;
        }
        return Ok(());
    }
    let signed_in = signed_in.map_err(|e| format!("POST /sign-in: {e}"))?;
    if signed_in.status != StatusCode::SEE_OTHER
        || signed_in.location.as_deref() != Some("/account")
        || browser.session.is_none()
    {
        return Err(format!(
            "POST /sign-in answered {} to {:?}",
            signed_in.status, signed_in.location
        ));
    }
    record(&mut tally.sign_ins, started);

    let mut session_csrf = None;
    for n in 0..pages {
        if Instant::now() >= window.end {
            return Ok(());
        }
        let (path, marker) = PAGES[n % PAGES.len()];
        let started = Instant::now();
        let page = browser.get(path, deadline).await?;
        check_page(path, marker, &page, login)?;
        record(&mut tally.pages[n % PAGES.len()], started);
        if session_csrf.is_none() {
            session_csrf = csrf_field(&page.body).map(str::to_string);
        }
    }

    let csrf = session_csrf.ok_or("no page had the sign-out form")?;
    let started = Instant::now();
    sign_out(browser, &csrf, deadline).await?;
    record(&mut tally.sign_outs, started);
    Ok(())
}

/// `POST /sign-out`, which must end the session with a redirect.
async fn sign_out(browser: &mut Browser, csrf: &str, deadline: Instant) -> Result<(), String> {
    let out = browser
        .post("/sign-out", &[("csrf", csrf)], deadline)
        .await?;
    if out.status != StatusCode::SEE_OTHER || browser.session.is_some() {
        return Err(format!("POST /sign-out answered {}", out.status));
    }
    Ok(())
}

/// A page as it should be: 200, its marker in it, and the account page the official's own.
fn check_page(path: &str, marker: &str, page: &Answer, login: &str) -> Result<(), String> {
    if page.status != StatusCode::OK || !page.body.contains(marker) {
        return Err(format!(
            "GET {path} answered {} {:?}",
            page.status, page.location
        ));
    }
    let own = format!("<dd id=\"login\">{login}</dd>");
    if path == "/account" && !page.body.contains(&own) {
        return Err(format!("GET /account is not {login}'s"));
    }
    Ok(())
}

/// IMAP logins, one every `--probe-interval-ms`, through the window.
#[derive(Debug, Clone, Default)]
struct Probe {
    /// Time from sending LOGIN to its tagged OK, in µs.
    logins_us: Vec<u32>,
    failed: u64,
    first_failure: Option<String>,
}

impl Probe {
    fn p(&self, p: f64) -> f64 {
        let mut sorted: Vec<f64> = self
            .logins_us
            .iter()
            .map(|&us| f64::from(us) / 1000.0)
            .collect();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, p)
    }
}

async fn imap_probe(target: Target, window: Window, interval: Duration) -> Probe {
    let mut probe = Probe::default();
    tokio::time::sleep_until(window.start.into()).await;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if Instant::now() >= window.end {
            break;
        }
        match imap_login(&target).await {
            Ok(took) => probe.logins_us.push(micros(took)),
            Err(e) => {
                probe.failed += 1;
                probe.first_failure.get_or_insert(e);
            }
        }
    }
    probe
}

/// Connects over TLS from [`PROBE_SOURCE`], logs in and out; returns how long LOGIN took.
async fn imap_login(target: &Target) -> Result<Duration, String> {
    let exchange = async {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        socket
            .bind(SocketAddr::from((PROBE_SOURCE, 0)))
            .map_err(|e| format!("bind {PROBE_SOURCE}: {e}"))?;
        let tcp = socket
            .connect(target.imaps)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::IpAddress(IpAddr::from(Ipv4Addr::LOCALHOST).into());
        let stream = target
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        stream
            .read_line(&mut line)
            .await
            .map_err(|e| format!("greeting: {e}"))?;
        if !line.starts_with("* OK") {
            return Err(format!("greeting {}", line.trim_end()));
        }
        let login = &target.probe_login;
        let command = format!("a1 LOGIN \"{login}\" \"{}\"\r\n", chosen_password(login));
        let started = Instant::now();
        stream
            .get_mut()
            .write_all(command.as_bytes())
            .await
            .map_err(|e| format!("LOGIN: {e}"))?;
        let answer = tagged(&mut stream, "a1").await?;
        let took = started.elapsed();
        if !answer.starts_with("a1 OK") {
            return Err(format!("LOGIN → {}", answer.trim_end()));
        }
        stream
            .get_mut()
            .write_all(b"a2 LOGOUT\r\n")
            .await
            .map_err(|e| format!("LOGOUT: {e}"))?;
        tagged(&mut stream, "a2").await?;
        Ok(took)
    };
    tokio::time::timeout(STEP_TIMEOUT, exchange)
        .await
        .map_err(|_| "no answer within 30 s".to_string())?
}

/// Reads lines until the one tagged `tag`, which it returns.
async fn tagged<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut BufReader<S>,
    tag: &str,
) -> Result<String, String> {
    let prefix = format!("{tag} ");
    loop {
        let mut line = String::new();
        let read = stream
            .read_line(&mut line)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err("the server closed the connection".into());
        }
        if line.starts_with(&prefix) {
            return Ok(line);
        }
    }
}

/// What one run measured.
#[derive(Debug)]
struct RunFigures {
    window_seconds: f64,
    /// Per page, sorted, in ms.
    pages: [Vec<f64>; 3],
    /// All three pages together, sorted, in ms.
    all_pages: Vec<f64>,
    sign_ins: Vec<f64>,
    forms: Vec<f64>,
    sign_outs: Vec<f64>,
    waiting_at_end: u64,
    wrong: u64,
    first_wrong: Option<String>,
    unloaded: Probe,
    loaded: Probe,
    server: ServerCpu,
    client: Duration,
    /// One verification on one core, and the sign-ins/s the hashing threads allow at it.
    t_hash_ms: f64,
    floor: f64,
}

fn sorted_ms(us: Vec<u32>) -> Vec<f64> {
    let mut ms: Vec<f64> = us.into_iter().map(|v| f64::from(v) / 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    ms
}

impl RunFigures {
    fn pages_per_second(&self) -> f64 {
        self.all_pages.len() as f64 / self.window_seconds
    }

    fn sign_ins_per_second(&self) -> f64 {
        self.sign_ins.len() as f64 / self.window_seconds
    }

    fn floor_ratio(&self) -> f64 {
        self.sign_ins_per_second() / self.floor
    }

    fn page_p(&self, p: f64) -> f64 {
        percentile(&self.all_pages, p)
    }

    fn cores(&self, d: Duration) -> f64 {
        d.as_secs_f64() / self.window_seconds
    }

    /// Server CPU outside the hashing threads per HTTP request that does not hash
    /// (pages, sign-in forms, sign-outs; the sign-in requests' own work is in it too).
    /// Users waiting for a sign-in's answer, on average (Little's law: sign-ins/s × mean
    /// sign-in time).
    fn users_signing_in(&self) -> f64 {
        self.sign_ins.iter().sum::<f64>() / 1000.0 / self.window_seconds
    }

    /// Page requests in flight, on average, likewise.
    fn users_on_pages(&self) -> f64 {
        self.all_pages.iter().sum::<f64>() / 1000.0 / self.window_seconds
    }

    /// CPU the hashing threads spent per password they were asked to check in the window
    /// (sign-ins and IMAP logins answered): about one verification each when they verify
    /// nothing else.
    fn hashing_ms_per_login(&self) -> f64 {
        let logins = self.sign_ins.len() + self.loaded.logins_us.len();
        self.server.hashing.as_secs_f64() * 1000.0 / logins.max(1) as f64
    }

    /// The share of the hashing floor the IMAP logins used.
    fn imap_floor_share(&self) -> f64 {
        self.loaded.logins_us.len() as f64 / self.window_seconds / self.floor
    }

    fn cpu_per_request_us(&self) -> f64 {
        let requests = self.all_pages.len() + self.forms.len() + self.sign_outs.len();
        (self.server.total.saturating_sub(self.server.hashing)).as_secs_f64() * 1e6
            / requests.max(1) as f64
    }

    fn summary(&self) -> String {
        format!(
            "{:.0} pages/s, p50 {:.2} ms, p99 {:.2} ms ({} wrong); {:.1} sign-ins/s (floor {:.1}/s, \
             {:.2}×), sign-in p99 {:.0} ms; IMAP LOGIN p99 {:.1} ms loaded, {:.1} ms unloaded; \
             server {:.2} cores ({:.2} hashing), client {:.2} cores",
            self.pages_per_second(),
            self.page_p(0.5),
            self.page_p(0.99),
            self.wrong,
            self.sign_ins_per_second(),
            self.floor,
            self.floor_ratio(),
            percentile(&self.sign_ins, 0.99),
            self.loaded.p(0.99),
            self.unloaded.p(0.99),
            self.cores(self.server.total),
            self.cores(self.server.hashing),
            self.cores(self.client),
        )
    }
}

/// One run: IMAP logins unloaded, then the portal load with IMAP logins beside it.
async fn measure(args: &PortalArgs, target: &Target) -> anyhow::Result<RunFigures> {
    let interval = Duration::from_millis(args.probe_interval_ms);
    let unloaded = imap_probe(
        target.clone(),
        Window::after(0, args.unloaded_seconds),
        interval,
    )
    .await;
    anyhow::ensure!(
        unloaded.failed == 0,
        "unloaded IMAP logins failed: {}",
        unloaded.first_failure.unwrap_or_default()
    );

    let window = Window::after(args.warmup, args.seconds);
    let users: Vec<_> = (0..args.users)
        .map(|i| {
            tokio::spawn(portal_user(
                target.clone(),
                i,
                args.users,
                args.pages_per_sign_in,
                window,
            ))
        })
        .collect();
    let probe = tokio::spawn(imap_probe(target.clone(), window, interval));
    tokio::time::sleep_until(window.start.into()).await;
    let (server_before, client_before) =
        (server_cpu(target.pid, target.ticks), own_cpu(target.ticks));
    tokio::time::sleep_until(window.end.into()).await;
    let (server_after, client_after) =
        (server_cpu(target.pid, target.ticks), own_cpu(target.ticks));
    let mut tally = UserTally::default();
    for user in users {
        tally.merge(user.await?);
    }
    let loaded = probe.await?;
    let [account, setup, sessions] = tally.pages;
    let mut all_pages: Vec<u32> = Vec::new();
    for list in [&account, &setup, &sessions] {
        all_pages.extend(list);
    }
    Ok(RunFigures {
        window_seconds: window.seconds(),
        pages: [sorted_ms(account), sorted_ms(setup), sorted_ms(sessions)],
        all_pages: sorted_ms(all_pages),
        sign_ins: sorted_ms(tally.sign_ins),
        forms: sorted_ms(tally.forms),
        sign_outs: sorted_ms(tally.sign_outs),
        waiting_at_end: tally.waiting_at_end,
        wrong: tally.wrong + loaded.failed,
        first_wrong: tally.first_wrong.or(loaded.first_failure.clone()),
        unloaded,
        loaded,
        server: ServerCpu {
            total: server_after.total.saturating_sub(server_before.total),
            hashing: server_after.hashing.saturating_sub(server_before.hashing),
        },
        client: client_after.saturating_sub(client_before),
        t_hash_ms: 0.0,
        floor: 0.0,
    })
}

// ---------------------------------------------------------------------------------------
// Report

/// This benchmark's section of docs/PERFORMANCE.md, after the IMAP one when first placed.
const MARKERS: Markers = Markers {
    begin: "<!-- portal:begin -->",
    end: "<!-- portal:end -->",
    after: Some("<!-- imap:end -->"),
};
/// The options bench/portal.sh fills in, left out of the command the report shows.
const PATH_OPTIONS: [&str; 2] = ["--server", "--admin"];
/// The target: p99 of the pages that do not hash, in every run.
const TARGET_P99_MS: f64 = 20.0;

#[derive(Debug)]
struct Report<'a> {
    args: &'a PortalArgs,
    machine: &'a Machine,
    pinned: bool,
    hash_workers: usize,
    seeding: Duration,
    runs: &'a [RunFigures],
}

/// A row that explains the others: the figure measured, no reference, no target.
fn info(what: impl Into<String>, measured: String) -> Row {
    Row::info("W1", what, Some(measured))
}

impl Report<'_> {
    /// Prints the report and writes it to the report file.
    fn write(&self) -> anyhow::Result<()> {
        publish(&self.args.report, MARKERS, &self.render(), None)
    }

    /// A figure over the runs, `median [min–max]` in `unit`.
    fn spread(&self, figure: impl Fn(&RunFigures) -> f64, unit: fn(f64) -> String) -> String {
        // A figure a run could not give (no sign-out completed in its window, say) is left out.
        let values: Vec<f64> = self
            .runs
            .iter()
            .map(figure)
            .filter(|v| v.is_finite())
            .collect();
        Spread::of(&values).map_or_else(|| "—".into(), |s| s.show(unit))
    }

    fn render(&self) -> String {
        let args = self.args;
        let command = user_arguments(&PATH_OPTIONS);
        let placement = placement(
            self.pinned,
            self.machine.cores,
            ["the server", "server"],
            "client",
        );
        let mut out = format!(
            "{begin}\n## W1: the portal under {users} concurrent officials\n\n\
             Measured by `bench/portal.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {load} before the run), {placement}. {runs} run(s), each on a\n\
             freshly started server; figures are medians, ranges in brackets. The references are\n\
             the hashing floor and the same server unloaded, both measured in each run.\n\n\
             - Directory: {n} officials from `congvu-admin user import`, each then given a chosen\n  \
               password stored at the full cost, argon2id m=19456 KiB, t=2, p=1 (seeding took {seed:.0} s).\n  \
               congvu keeps its defaults (SQLite, `synchronous=FULL`, log level `info`, sessions idle\n  \
               30 min) with `[http] public_url = \"http://127.0.0.1:<port>/\"` (a loopback peer may send\n  \
               passwords over plain HTTP, as from a reverse proxy on the same machine) and\n  \
               `[auth] hash_workers = {workers}`, what the default (one per core) gives the {server_cores}.\n\
             - Load: {users} users at once, each its own HTTP client (one keep-alive connection, cookies\n  \
               kept by hand), all from 127.0.0.1. Each signs in (`GET /` for the CSRF token,\n  \
               `POST /sign-in`: one argon2id verification), opens `/account`, `/setup`, `/sessions` in\n  \
               turn without pause, and after {pages} page views signs out and in again as the next\n  \
               official; every page is checked (200, its table, the official's own login). {warm} s of\n  \
               load, then {secs} s measured.\n\
             - IMAP: meanwhile, from 127.0.0.2, a client connects over TLS every {interval} ms, logs in\n  \
               as an official no portal user signs in as, and logs out; the time from LOGIN to its OK.\n  \
               Before the load, the same for {unloaded} s on the idle server.\n\
             - Hashing floor: {workers} hashing thread(s) ÷ the time of one verification at the same\n  \
               parameters, the median of {samples} verifications timed one by one on one core of this\n  \
               machine before each run.\n\n\
             | id | what | measured | reference | ratio | target | met? |\n\
             |---|---|---|---|---|---|---|\n",
            begin = MARKERS.begin,
            users = args.users,
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            load = self.machine.load,
            runs = self.runs.len(),
            n = args.officials,
            seed = self.seeding.as_secs_f64(),
            workers = self.hash_workers,
            server_cores = if self.pinned {
                "server's one core".to_string()
            } else {
                format!("machine's {} cores", self.machine.cores)
            },
            pages = args.pages_per_sign_in,
            warm = args.warmup,
            secs = args.seconds,
            interval = args.probe_interval_ms,
            unloaded = args.unloaded_seconds,
            samples = args.hash_samples,
        );
        out.push_str(&render_rows(&self.rows(), "wrong answers"));
        out.push_str(&self.details());
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    fn rows(&self) -> Vec<Row> {
        let runs = self.runs;
        let worst_p99 = runs
            .iter()
            .map(|r| r.page_p(0.99))
            .fold(f64::NEG_INFINITY, f64::max);
        let pages = format!(
            "p99 of the pages that do not hash (`/account`, `/setup`, `/sessions`), {} users",
            self.args.users
        );
        // Wrong answers void the one row with a target; the others only explain it.
        let wrong: u64 = runs.iter().map(|r| r.wrong).sum();
        vec![
            info(pages, self.spread(|r| r.page_p(0.99), milliseconds))
                .target(
                    "≤ 20 ms in every run",
                    (!runs.is_empty()).then_some(worst_p99 <= TARGET_P99_MS),
                )
                .invalid(wrong),
            info(
                "p50 of those pages",
                self.spread(|r| r.page_p(0.5), milliseconds),
            ),
            info(
                "those pages served per second",
                self.spread(RunFigures::pages_per_second, per_second),
            ),
            info(
                "p99 of the sign-in form (`GET /`) / of signing out (`POST /sign-out`), \
                 neither hashing",
                format!(
                    "{} / {}",
                    self.spread(|r| percentile(&r.forms, 0.99), milliseconds),
                    self.spread(|r| percentile(&r.sign_outs, 0.99), milliseconds)
                ),
            ),
            Row {
                reference: Some(format!("floor {}", self.spread(|r| r.floor, per_second))),
                ratio: Some(self.spread(RunFigures::floor_ratio, times)),
                ..info(
                    "sign-ins/s (an argon2id verification each) against the hashing floor",
                    self.spread(RunFigures::sign_ins_per_second, per_second),
                )
            },
            Row {
                reference: Some(format!(
                    "one verification {}",
                    self.spread(|r| r.t_hash_ms, milliseconds)
                )),
                ..info(
                    "sign-in time (`POST /sign-in` → 303), p50 / p99",
                    format!(
                        "{} / {}",
                        self.spread(|r| percentile(&r.sign_ins, 0.5), milliseconds),
                        self.spread(|r| percentile(&r.sign_ins, 0.99), milliseconds)
                    ),
                )
            },
            Row {
                reference: Some(self.spread(|r| r.unloaded.p(0.99), milliseconds)),
                ratio: Some(self.spread(|r| r.loaded.p(0.99) / r.unloaded.p(0.99), times)),
                ..info(
                    "IMAP LOGIN p99 during the load (reference: unloaded)",
                    self.spread(|r| r.loaded.p(0.99), milliseconds),
                )
            },
            Row {
                reference: Some(self.spread(|r| r.unloaded.p(0.5), milliseconds)),
                ratio: Some(self.spread(|r| r.loaded.p(0.5) / r.unloaded.p(0.5), times)),
                ..info(
                    "IMAP LOGIN p50 during the load (reference: unloaded)",
                    self.spread(|r| r.loaded.p(0.5), milliseconds),
                )
            },
        ]
    }

    /// The figures behind the table that explain it, run by run.
    fn details(&self) -> String {
        let mut out = String::from("\n");
        let cores = |v: f64| format!("{v:.2}");
        out.push_str(&format!(
            "- Server CPU over the window: {} cores in all, of which the hashing threads {} ({} per\n  \
             sign-in or IMAP login answered); outside them {} per HTTP request that does not hash.\n  \
             Client: {} cores.\n",
            self.spread(|r| r.cores(r.server.total), cores),
            self.spread(|r| r.cores(r.server.hashing), cores),
            self.spread(RunFigures::hashing_ms_per_login, milliseconds),
            self.spread(RunFigures::cpu_per_request_us, microseconds),
            self.spread(|r| r.cores(r.client), cores),
        ));
        out.push_str(&format!(
            "- Where the users were, on average over the window (Little's law: rate × mean time):\n  \
             {} waiting for a sign-in's answer, {} with a page request in flight. Sign-ins pass\n  \
             no faster than the hashing threads verify, so the users queue there, and the pages\n  \
             are opened by the few who are through.\n",
            self.spread(RunFigures::users_signing_in, |v| format!("{v:.0}")),
            self.spread(RunFigures::users_on_pages, |v| format!("{v:.1}")),
        ));
        out.push_str(&format!(
            "- Against the floor: the hashing threads had {} of the server's core (the pages, which\n  \
             the server runs at a higher CPU priority than hashing, took the rest), and the IMAP\n  \
             logins used {} of the floor, which leaves sign-ins about the difference.\n",
            self.spread(|r| r.cores(r.server.hashing), |v| format!("{v:.2}")),
            self.spread(RunFigures::imap_floor_share, times),
        ));
        for (i, r) in self.runs.iter().enumerate() {
            out.push_str(&format!(
                "- Run {}: {} pages (p99 `/account` {}, `/setup` {}, `/sessions` {}; slowest {}); \
                 {} sign-ins (p50 {}, slowest {}; {} still waiting at the end), {} sign-in forms \
                 (p50 {}, p99 {}), {} sign-outs (p50 {}, p99 {}); one verification {}, floor {}; \
                 IMAP {} logins under load \
                 (slowest {}), {} unloaded (slowest {}); {} wrong answers{}.\n",
                i + 1,
                r.all_pages.len(),
                milliseconds(percentile(&r.pages[0], 0.99)),
                milliseconds(percentile(&r.pages[1], 0.99)),
                milliseconds(percentile(&r.pages[2], 0.99)),
                milliseconds(r.all_pages.last().copied().unwrap_or(f64::NAN)),
                r.sign_ins.len(),
                milliseconds(percentile(&r.sign_ins, 0.5)),
                milliseconds(r.sign_ins.last().copied().unwrap_or(f64::NAN)),
                r.waiting_at_end,
                r.forms.len(),
                milliseconds(percentile(&r.forms, 0.5)),
                milliseconds(percentile(&r.forms, 0.99)),
                r.sign_outs.len(),
                milliseconds(percentile(&r.sign_outs, 0.5)),
                milliseconds(percentile(&r.sign_outs, 0.99)),
                milliseconds(r.t_hash_ms),
                per_second(r.floor),
                r.loaded.logins_us.len(),
                milliseconds(r.loaded.p(1.0)),
                r.unloaded.logins_us.len(),
                milliseconds(r.unloaded.p(1.0)),
                r.wrong,
                r.first_wrong
                    .as_deref()
                    .map(|w| format!(", the first: {w}"))
                    .unwrap_or_default(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
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
