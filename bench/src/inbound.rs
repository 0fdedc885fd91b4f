//! S4, S5: congvu's MX with inbound protection on, measured with S1's client and sessions
//! (see smtp.rs) on the same machine, in one run.
//!
//! - S4 (sender authentication): the S1 workload on congvu twice per run, the order
//!   flipping every run: with `[inbound] authentication = "off"` and with `"enforce"`, which
//!   checks SPF (HELO and MAIL FROM), DKIM and DMARC of every message through `[dns]
//!   servers`. That server runs in this process (`congvu_tests::dns`) and serves, for
//!   `hanoi.gov.vn`, an SPF record passing 127.0.0.1, a DKIM key and `_dmarc` with
//!   `p=reject`. Every mailbox's message is signed once before the runs by dkimpy's
//!   `dkimsign` (`congvu_tests::dkim`); both modes send the same bytes. Afterwards every
//!   acknowledged message is counted in its INBOX through the store, and the messages of a
//!   few mailboxes are read to see that each enforce-run copy says `dkim=pass` and
//!   `dmarc=pass` in its `Authentication-Results:`.
//! - S5 (content filters): congvu with `[filter.clamav]` and `[filter.rspamd]` against a
//!   private Postfix with `smtpd_milters` at rspamd's milter proxy, the same rspamd whose
//!   `antivirus` module asks the same clamd; congvu's own requests skip that module, since
//!   congvu asks clamd itself. The same S1 messages, both servers taking turns. Scans are
//!   counted on every side: congvu's `congvu_filter_scans_total`, rspamd's `/stat`, and
//!   clamd's log of clean streams.
//!
//! This module owns its working directory, the congvu configurations it writes, the DNS
//! server, the rspamd and clamd it starts, and the `inbound` section of the report.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::mailstore::MailboxRole;
use congvu::store::{Store, StoreOptions};
use congvu_tests::clamav::{Clamd, ClamdOptions};
use congvu_tests::dkim::{dkim_sign, DkimKey, SignOptions};
use congvu_tests::dns::DnsServer;
use congvu_tests::rspamd::{Rspamd, RspamdOptions};

use crate::admin::Official;
use crate::figures::{microseconds, milliseconds, per_second, percentile, times, turns, Spread};
use crate::machine::{free_port, Machine, Pinning};
use crate::report::{placement, publish, table, user_arguments, Markers, Row};
use crate::server::{congvu_db_url, HOSTNAME};
use crate::smtp::{
    client_cpu, inbox_census, payload, postfix_version, seed_postfix, send_load, smtp_source_head,
    work_dir, write_congvu_config, Compose, Congvu, CongvuSettings, Envelope, Greeting, Load,
    Postfix, Programs, S1Run, BENCH_ENVELOPE,
};

#[derive(Debug, clap::Args)]
pub struct InboundArgs {
    /// Officials in congvu (and in Postfix for S5).
    #[arg(long, default_value_t = 1_000)]
    officials: usize,
    /// Mailboxes the messages are spread over (the first officials); S4 signs one message
    /// for each before the runs.
    #[arg(long, default_value_t = 100)]
    mailboxes: usize,
    /// Sessions at once (smtp-source -s).
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    /// Messages per run (smtp-source -m).
    #[arg(long, default_value_t = 5_000)]
    messages: usize,
    /// Payload bytes of each message after its headers (smtp-source -l).
    #[arg(long, default_value_t = 4096)]
    length: usize,
    /// Runs of each workload on each side; a target is met only when every run meets it.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, value_enum, value_delimiter = ',', default_value = "s4,s5")]
    workloads: Vec<Workload>,
    #[command(flatten)]
    programs: Programs,
    /// Working directory for the servers' data (default: a new temporary directory, removed
    /// at the end). It must be empty or absent, and reachable by the `postfix` user.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where to write the results table.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    report: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    S4,
    S5,
}

/// The sender's domain: not one congvu serves, so DMARC decides.
const SENDER_DOMAIN: &str = "hanoi.gov.vn";
/// Its mail server: the HELO name, with an SPF record of its own.
const SENDER_HOST: &str = "mail.hanoi.gov.vn";
const SELECTOR: &str = "mail2026";
const S4_ENVELOPE: Envelope = Envelope {
    helo: SENDER_HOST,
    sender: "vanthu@hanoi.gov.vn",
};
/// `p=reject`: a message failing DMARC would be refused, not filed.
const DMARC: &str = "v=DMARC1; p=reject";
const SPF: &str = "v=spf1 ip4:127.0.0.1 -all";
/// Mailboxes whose every message is read back for its `Authentication-Results:`.
const SAMPLED_MAILBOXES: usize = 5;
/// What Postfix calls itself to the milter (`{daemon_name}`), unlike congvu's `MTA-Name`.
const POSTFIX_MILTER_NAME: &str = "postfix-bench";

/// The sender's domain as S4 publishes it: SPF passing this host for the domain and its
/// HELO name, the DKIM key, and DMARC.
async fn sender_dns(key: &DkimKey) -> DnsServer {
    DnsServer::builder()
        .txt(SENDER_DOMAIN, SPF)
        .txt(SENDER_HOST, SPF)
        .txt(
            &format!("{SELECTOR}._domainkey.{SENDER_DOMAIN}"),
            key.txt_record(),
        )
        .txt(&format!("_dmarc.{SENDER_DOMAIN}"), DMARC)
        .start()
        .await
}

/// S5's Postfix: S1's, with rspamd's milter worker in front of its queue.
fn postfix_with_milter(
    args: &InboundArgs,
    work: &Path,
    officials: &[Official],
    engines: &Engines,
) -> anyhow::Result<crate::smtp::PostfixSetup> {
    println!("configuring a private Postfix with rspamd's milter");
    let milter_port = engines
        .rspamd
        .milter_port()
        .context("rspamd has no milter worker")?;
    let milter = format!(
        "smtpd_milters = inet:127.0.0.1:{milter_port}\nmilter_default_action = tempfail\n\
         milter_macro_daemon_name = {POSTFIX_MILTER_NAME}\n"
    );
    seed_postfix(&args.programs.postmap, work, officials, 1000, &milter)
}

pub fn run(args: InboundArgs) -> anyhow::Result<()> {
    check(&args)?;
    let machine = Machine::probe();
    let (_owned, work) = work_dir(args.work_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let wants = |w| args.workloads.contains(&w);
    // rspamd and clamd serve both sides of S5 alike; started before this process is pinned,
    // they may run on every core.
    let engines = if wants(Workload::S5) {
        println!("starting clamd and rspamd (milter proxy, antivirus module)");
        Some(runtime.block_on(Engines::start()))
    } else {
        None
    };
    let key = DkimKey::generate(2048);
    let dns = runtime.block_on(sender_dns(&key));
    let (smtp_port, http_port) = (free_port()?, free_port()?);
    let configs = Configs::write(&work, smtp_port, http_port, &dns, engines.as_ref())?;

    println!("seeding congvu with {} officials", args.officials);
    let officials = crate::admin::import_province(
        &args.programs.congvu.admin,
        &configs.off,
        &work,
        args.officials,
        5321,
        "SMTP",
    )?;
    let postfix = match &engines {
        Some(engines) => Some(postfix_with_milter(&args, &work, &officials, engines)?),
        None => None,
    };
    let signed = signed_if_wanted(&args, &officials, &key)?;

    let pin = (!args.programs.no_pin && machine.cores >= 2).then(|| Pinning::split(machine.cores));
    if let Some(pin) = &pin {
        pin.pin_self()?;
    }
    let mut bench = Bench {
        args: &args,
        runtime: &runtime,
        officials: &officials,
        ticks: machine.ticks,
        congvu: Congvu::new(
            args.programs.congvu.server.clone(),
            (configs.off.clone(), &work),
            smtp_port,
            pin.as_ref().map(|p| p.server.clone()),
            machine.ticks,
        ),
        http_port,
        db: congvu_db_url(&work),
    };
    let mut results = Results::default();
    if wants(Workload::S4) {
        results.s4 = Some(
            bench
                .s4(&configs, &signed, &dns)
                .map_err(|e| bench.with_log(e))?,
        );
    }
    if let (Some(engines), Some(setup)) = (&engines, postfix) {
        let mut postfix = Postfix::new(
            args.programs.postfix.clone(),
            setup,
            pin.as_ref().map(|p| p.server.clone()),
            machine.ticks,
        );
        bench.congvu.config = configs.filters.clone();
        let s5 = bench.s5(&mut postfix, engines);
        drop(postfix);
        results.s5 = Some(s5.map_err(|e| bench.with_log(e))?);
    }
    bench.congvu.stop()?;
    drop(engines);

    write_report(&args, &machine, pin.is_some(), &results)
}

/// S4's messages, signed by dkimsign; none when S4 is not run.
fn signed_if_wanted(
    args: &InboundArgs,
    officials: &[Official],
    key: &DkimKey,
) -> anyhow::Result<Vec<Vec<u8>>> {
    if !args.workloads.contains(&Workload::S4) {
        return Ok(Vec::new());
    }
    println!("signing {} messages with dkimsign", args.mailboxes);
    sign_messages(args, officials, key)
}

/// Prints the report and writes it to the report file.
fn write_report(
    args: &InboundArgs,
    machine: &Machine,
    pinned: bool,
    results: &Results,
) -> anyhow::Result<()> {
    let report = Report {
        args,
        machine,
        load_after: Machine::probe().load,
        pinned,
        results,
    };
    publish(&args.report, MARKERS, &report.render(), None)
}

/// Refuses arguments and missing programs before any work starts.
fn check(args: &InboundArgs) -> anyhow::Result<()> {
    args.programs.congvu.check()?;
    if args.workloads.contains(&Workload::S5) {
        anyhow::ensure!(
            args.programs.postfix.exists() && args.programs.postmap.exists(),
            "{} not found: apt-get install postfix",
            args.programs.postfix.display()
        );
        anyhow::ensure!(
            nix::unistd::geteuid().is_root(),
            "a private Postfix instance must be started as root; run as root or with \
             --workloads s4"
        );
    }
    anyhow::ensure!(
        args.mailboxes >= 1 && args.mailboxes <= args.officials,
        "--mailboxes must be between 1 and --officials"
    );
    anyhow::ensure!(
        args.sessions >= 1 && args.messages >= 1 && args.runs >= 1 && args.length >= 80,
        "--sessions, --messages and --runs must be at least 1, --length at least 80"
    );
    Ok(())
}

/// The clamd and rspamd of S5.
struct Engines {
    clamd: Clamd,
    rspamd: Rspamd,
}

impl Engines {
    async fn start() -> Engines {
        let clamd = Clamd::start_with(ClamdOptions { log_clean: true }).await;
        let servers = clamd.address().trim_start_matches("tcp:").to_string();
        let rspamd = Rspamd::start_with(RspamdOptions {
            milter: true,
            clamav: Some(servers),
            antivirus_skip_mta: Some(format!("^{HOSTNAME}$")),
        })
        .await;
        Engines { clamd, rspamd }
    }

    /// Messages rspamd has scanned since it started, from its controller's `/stat`.
    async fn rspamd_scanned(&self) -> anyhow::Result<u64> {
        let url = format!("{}/stat", self.rspamd.controller_url());
        let text = reqwest::Client::builder()
            .no_proxy()
            .build()?
            .get(&url)
            .send()
            .await?
            .text()
            .await?;
        let at = text
            .find("\"scanned\":")
            .context("no `scanned` in rspamd's /stat")?;
        let digits: String = text[at + 10..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Ok(digits.parse()?)
    }
}

/// The three configurations of one congvu, sharing its data directory and ports.
struct Configs {
    off: PathBuf,
    enforce: PathBuf,
    filters: PathBuf,
}

impl Configs {
    fn write(
        work: &Path,
        smtp_port: u16,
        http_port: u16,
        dns: &DnsServer,
        engines: Option<&Engines>,
    ) -> anyhow::Result<Configs> {
        let config = |name: &str, authentication: &str, extra: &str| {
            let settings = CongvuSettings {
                smtp_port,
                http_port,
                recipients: 1000,
                authentication,
                extra,
            };
            write_congvu_config(work, name, &settings)
        };
        let resolver = format!("[dns]\nservers = [\"{}\"]\n", dns.addr());
        let filters = engines.map_or(String::new(), |e| {
            format!(
                "[filter.rspamd]\nurl = \"{}\"\ncontroller_url = \"{}\"\n\n\
                 [filter.clamav]\naddress = \"{}\"\n",
                e.rspamd.url(),
                e.rspamd.controller_url(),
                e.clamd.address()
            )
        });
        Ok(Configs {
            off: config("congvu-off.toml", "off", "")?,
            enforce: config("congvu-enforce.toml", "enforce", &resolver)?,
            filters: config("congvu-filters.toml", "off", &filters)?,
        })
    }
}

/// Each mailbox's S4 message, DKIM-signed for `hanoi.gov.vn`, without its final CRLF
/// (the terminator supplies it). Signed a few at a time: each is a `dkimsign` process.
fn sign_messages(
    args: &InboundArgs,
    officials: &[Official],
    key: &DkimKey,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let body = payload(args.length);
    let sign = |j: usize| {
        let head = format!(
            "From: <{}>\r\nTo: <{}>\r\nDate: Mon, 5 Jan 2026 08:00:00 +0700\r\n\
             Message-Id: <{j:08x}.s4@{SENDER_HOST}>\r\n\r\n",
            S4_ENVELOPE.sender, officials[j].address
        );
        let mut message = head.into_bytes();
        message.extend_from_slice(&body);
        message.extend_from_slice(b"\r\n");
        let signed = dkim_sign(
            &message,
            SENDER_DOMAIN,
            SELECTOR,
            key,
            &SignOptions::default(),
        );
        let mut signed = crlf(&signed);
        signed.truncate(signed.len() - 2);
        signed
    };
    let mut signed = vec![Vec::new(); args.mailboxes];
    std::thread::scope(|scope| {
        for (worker, chunk) in signed.chunks_mut(args.mailboxes.div_ceil(4)).enumerate() {
            let sign = &sign;
            let first = worker * args.mailboxes.div_ceil(4);
            scope.spawn(move || {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    *slot = sign(first + k);
                }
            });
        }
    });
    anyhow::ensure!(
        signed.iter().all(|m| m.ends_with(b"XX")),
        "a signed message does not end with the payload"
    );
    Ok(signed)
}

/// `bytes` with every bare LF made CRLF, as SMTP carries it.
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 64);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Load

/// One run of the S1 workload on one side.
#[derive(Debug)]
struct Run {
    s1: S1Run,
    /// End of DATA → 250, in milliseconds, sorted.
    latencies: Vec<f64>,
}

impl Run {
    fn p(&self, p: f64) -> f64 {
        percentile(&self.latencies, p)
    }
}

/// What S4 measured.
#[derive(Debug, Default)]
struct S4 {
    off: Vec<Run>,
    enforce: Vec<Run>,
    /// Questions the DNS server was asked in each enforce run.
    questions: Vec<usize>,
    /// Whether every acknowledged message is in its INBOX.
    census: String,
    /// What the sampled mailboxes' `Authentication-Results:` said.
    verdicts: String,
}

/// Scans counted around one S5 run.
#[derive(Debug, Default, Clone)]
struct Scans {
    /// congvu's `congvu_filter_scans_total` increase, by `engine/outcome`.
    congvu: BTreeMap<String, f64>,
    /// rspamd's `/stat` scanned increase.
    rspamd: u64,
    /// Clean streams clamd logged.
    clamd: usize,
}

/// What S5 measured.
#[derive(Debug, Default)]
struct S5 {
    congvu: Vec<(Run, Scans)>,
    postfix: Vec<(Run, Scans)>,
}

#[derive(Debug, Default)]
struct Results {
    s4: Option<S4>,
    s5: Option<S5>,
}

struct Bench<'a> {
    args: &'a InboundArgs,
    runtime: &'a tokio::runtime::Runtime,
    officials: &'a [Official],
    ticks: f64,
    congvu: Congvu,
    http_port: u16,
    /// congvu's database, read with the server stopped.
    db: String,
}

impl Bench<'_> {
    fn with_log(&self, e: anyhow::Error) -> anyhow::Error {
        let text = std::fs::read_to_string(&self.congvu.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        anyhow::anyhow!("{e:#}\n\ncongvu's log ends with:\n{tail}")
    }

    fn recipients(&self) -> Arc<Vec<String>> {
        Arc::new(
            self.officials[..self.args.mailboxes]
                .iter()
                .map(|o| o.address.clone())
                .collect(),
        )
    }

    fn start_congvu(&mut self, config: &Path) -> anyhow::Result<()> {
        self.congvu.stop()?;
        self.congvu.config = config.to_path_buf();
        self.congvu.start()?;
        if let Greeting::Refused(text) = self.runtime.block_on(self.congvu.wait_ready())? {
            anyhow::bail!("congvu refused connections: {text}");
        }
        Ok(())
    }

    /// One run of the workload against `addr`; `delivered` is when the last message could
    /// be read (`None`: at its 250) and `cpu` the server CPU used so far.
    fn load(
        &self,
        addr: SocketAddr,
        envelope: Envelope,
        compose: Compose,
        body: Arc<Vec<u8>>,
        cpu: &dyn Fn() -> Duration,
        delivered: &mut dyn FnMut(&Load, Instant) -> anyhow::Result<Option<Instant>>,
    ) -> anyhow::Result<(Run, Load)> {
        let args = self.args;
        let cpu_before = cpu();
        let client_before = client_cpu(self.ticks);
        let started = Instant::now();
        let load = self.runtime.block_on(send_load(
            addr,
            envelope,
            args.sessions,
            args.messages,
            self.recipients(),
            compose,
            body,
        ))?;
        let accepted = started.elapsed();
        let client = client_cpu(self.ticks).saturating_sub(client_before);
        let done = delivered(&load, started)?.map_or(accepted, |at| at - started);
        let mut latencies: Vec<f64> = load
            .data_to_250
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let s1 = S1Run {
            messages: args.messages,
            accepted,
            delivered: done,
            cpu: cpu().saturating_sub(cpu_before),
            client_cores: client.as_secs_f64() / accepted.as_secs_f64(),
            failures: load.failures,
            first_failure: load.first_failure.clone(),
        };
        Ok((Run { s1, latencies }, load))
    }

    /// S4: off and enforce in turns, then the INBOXes and the verdicts checked.
    fn s4(&mut self, configs: &Configs, signed: &[Vec<u8>], dns: &DnsServer) -> anyhow::Result<S4> {
        let signed = Arc::new(signed.to_vec());
        let mut s4 = S4::default();
        let mut expected = vec![0usize; self.args.mailboxes];
        let mut enforced = vec![0usize; self.args.mailboxes];
        for run in 0..self.args.runs {
            for mode in turns(run, 2) {
                let (name, config) = [("off", &configs.off), ("enforce", &configs.enforce)][mode];
                println!(
                    "S4 run {}/{}: authentication = {name}",
                    run + 1,
                    self.args.runs
                );
                self.start_congvu(config)?;
                let asked = dns.queries().len();
                let messages = Arc::clone(&signed);
                let compose: Compose = Arc::new(move |i, _| messages[i % messages.len()].clone());
                let cpu = || self.congvu.cpu();
                let (result, load) = self.load(
                    self.congvu.addr,
                    S4_ENVELOPE,
                    compose,
                    Arc::new(Vec::new()),
                    &cpu,
                    &mut |_, _| Ok(None),
                )?;
                self.congvu.stop()?;
                println!(
                    "  {:.0}/s, p99 {:.2} ms, {} failures{}",
                    result.s1.accepted_per_second(),
                    result.p(0.99),
                    result.s1.failures,
                    result
                        .s1
                        .first_failure
                        .as_deref()
                        .map_or(String::new(), |f| format!(" (first: {f})"))
                );
                for (j, n) in load.acknowledged.iter().enumerate() {
                    expected[j] += n;
                    if mode == 1 {
                        enforced[j] += n;
                    }
                }
                if mode == 1 {
                    s4.questions.push(dns.queries().len() - asked);
                    s4.enforce.push(result);
                } else {
                    s4.off.push(result);
                }
            }
        }
        s4.census = self.census(&expected)?;
        s4.verdicts = self
            .runtime
            .block_on(verdicts(&self.db, self.officials, &enforced))?;
        println!("  {}; {}", s4.census, s4.verdicts);
        Ok(s4)
    }

    /// Whether each of the first mailboxes' INBOX holds what was acknowledged to it.
    fn census(&self, expected: &[usize]) -> anyhow::Result<String> {
        let census = self.runtime.block_on(inbox_census(&self.db))?;
        let acknowledged: usize = expected.iter().sum();
        let mut short = Vec::new();
        for (official, &n) in self.officials.iter().zip(expected) {
            let have = census.get(&official.login).map_or(0, |i| i.messages);
            if have != n {
                short.push(format!("{} {have}/{n}", official.login));
            }
        }
        Ok(if short.is_empty() {
            format!("all {acknowledged} acknowledged messages are in their INBOXes")
        } else {
            short.truncate(5);
            format!(
                "MISMATCH: INBOXes differ from the {acknowledged} acknowledged messages (e.g. {})",
                short.join(", ")
            )
        })
    }

    /// S5: congvu with both filters and Postfix with the milter, in turns.
    fn s5(&mut self, postfix: &mut Postfix, engines: &Engines) -> anyhow::Result<S5> {
        let config = self.congvu.config.clone();
        self.start_congvu(&config)?;
        postfix.start()?;
        let mut s5 = S5::default();
        let body = Arc::new(payload(self.args.length));
        let compose: Compose = Arc::new(|i, to| smtp_source_head(to, i).into_bytes());
        for run in 0..self.args.runs {
            for side in turns(run, 2) {
                let name = ["congvu", "Postfix"][side];
                println!("S5 run {}/{}: {name}", run + 1, self.args.runs);
                let before = self.scans(engines)?;
                let outcome = if side == 0 {
                    let cpu = || self.congvu.cpu();
                    let (run, _) = self.load(
                        self.congvu.addr,
                        BENCH_ENVELOPE,
                        Arc::clone(&compose),
                        Arc::clone(&body),
                        &cpu,
                        &mut |_, _| Ok(None),
                    )?;
                    run
                } else {
                    let cpu = || postfix.cpu();
                    let mut wait = |load: &Load, started: Instant| {
                        let limit = Duration::from_secs(600).max(started.elapsed() * 20);
                        postfix.wait_delivered(&load.acknowledged, limit).map(Some)
                    };
                    let (run, _) = self.load(
                        postfix.setup.addr,
                        BENCH_ENVELOPE,
                        Arc::clone(&compose),
                        Arc::clone(&body),
                        &cpu,
                        &mut wait,
                    )?;
                    postfix.clear_maildirs()?;
                    run
                };
                let scans = self.scans(engines)?.since(&before);
                println!(
                    "  {:.0}/s delivered, p99 {:.2} ms, {} failures; {scans:?}",
                    outcome.s1.delivered_per_second(),
                    outcome.p(0.99),
                    outcome.s1.failures
                );
                [&mut s5.congvu, &mut s5.postfix][side].push((outcome, scans));
            }
        }
        postfix.stop()?;
        Ok(s5)
    }

    fn scans(&self, engines: &Engines) -> anyhow::Result<Scans> {
        let metrics = self.runtime.block_on(async {
            let url = format!("http://127.0.0.1:{}/metrics", self.http_port);
            let client = reqwest::Client::builder().no_proxy().build()?;
            anyhow::Ok(client.get(&url).send().await?.text().await?)
        })?;
        let mut congvu = BTreeMap::new();
        for line in metrics.lines() {
            let Some(labels) = line.strip_prefix("congvu_filter_scans_total{") else {
                continue;
            };
            let (labels, value) = labels.rsplit_once("} ").context("a malformed metric")?;
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            let key = format!("{}/{}", label("engine"), label("outcome"));
            *congvu.entry(key).or_insert(0.0) += value.trim().parse::<f64>()?;
        }
        Ok(Scans {
            congvu,
            rspamd: self.runtime.block_on(engines.rspamd_scanned())?,
            clamd: engines.clamd.clean_scans(),
        })
    }
}

impl Scans {
    fn since(&self, before: &Scans) -> Scans {
        let congvu = self
            .congvu
            .iter()
            .map(|(k, v)| (k.clone(), v - before.congvu.get(k).copied().unwrap_or(0.0)))
            .filter(|(_, v)| *v > 0.0)
            .collect();
        Scans {
            congvu,
            rspamd: self.rspamd - before.rspamd,
            clamd: self.clamd - before.clamd,
        }
    }

    fn show(&self) -> String {
        let mut parts: Vec<String> = self
            .congvu
            .iter()
            .map(|(k, v)| format!("congvu {k} {v:.0}"))
            .collect();
        parts.push(format!("rspamd scanned {}", self.rspamd));
        parts.push(format!("clamd clean streams {}", self.clamd));
        parts.join(", ")
    }
}

/// Reads every INBOX message of the first sampled mailboxes: how many carry an
/// `Authentication-Results:` of ours with `dkim=pass` and `dmarc=pass`, against the
/// enforce-run messages acknowledged to them.
async fn verdicts(url: &str, officials: &[Official], enforced: &[usize]) -> anyhow::Result<String> {
    let store = Store::open(&StoreOptions {
        url: url.to_string(),
        max_connections: 2,
        busy_timeout: Duration::from_secs(5),
    })
    .await?;
    let (mut passed, mut expected, mut other) = (0usize, 0usize, Vec::new());
    {
        let mut conn = store.read().await?;
        let sampled: Vec<&str> = officials
            .iter()
            .take(SAMPLED_MAILBOXES.min(enforced.len()))
            .map(|o| o.login.as_str())
            .collect();
        for official in conn.all_officials().await? {
            let Some(j) = sampled.iter().position(|l| *l == official.login) else {
                continue;
            };
            expected += enforced[j];
            let inbox = conn
                .mailboxes_of(official.id)
                .await?
                .into_iter()
                .find(|m| m.role == Some(MailboxRole::Inbox))
                .with_context(|| format!("{} has no INBOX", official.login))?;
            for message in conn.messages_in(inbox.id).await? {
                let bytes = conn.body_data(message.body_id).await?.unwrap_or_default();
                match verdict(&bytes) {
                    Some(v) if v.contains("dkim=pass") && v.contains("dmarc=pass") => passed += 1,
                    Some(v) => other.push(v),
                    None => {}
                }
            }
        }
    }
    store.close().await;
    let sampled = SAMPLED_MAILBOXES.min(enforced.len());
    Ok(if passed == expected && other.is_empty() {
        format!(
            "in {sampled} mailboxes read back, all {expected} enforce-run messages say \
             dkim=pass and dmarc=pass (and the off-run ones carry no verdict)"
        )
    } else {
        format!(
            "VERDICTS WRONG: in {sampled} mailboxes, {passed} of {expected} enforce-run \
             messages pass DKIM and DMARC; other verdicts: {:?}",
            other.iter().take(2).collect::<Vec<_>>()
        )
    })
}

/// The unfolded `Authentication-Results:` field our host put on top of `message`, if any.
fn verdict(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next()?;
    let mut fields: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        match (line.starts_with([' ', '\t']), fields.last_mut()) {
            (true, Some(field)) => field.push_str(line),
            _ => fields.push(line.to_string()),
        }
    }
    let prefix = format!("authentication-results: {HOSTNAME};");
    fields
        .into_iter()
        .find(|f| f.to_ascii_lowercase().starts_with(&prefix))
}

// ---------------------------------------------------------------------------------------
// Report

/// After the SMTP section when first placed.
const MARKERS: Markers = Markers {
    begin: "<!-- inbound:begin -->",
    end: "<!-- inbound:end -->",
    after: Some("<!-- smtp:end -->"),
};
/// The options bench/inbound.sh fills in, left out of the command the report shows.
const PATH_OPTIONS: [&str; 6] = [
    "--server",
    "--admin",
    "--postfix",
    "--postmap",
    "--work-dir",
    "--report",
];
/// S4's target: enforce at no less than this share of the rate with checks off.
const S4_TARGET: f64 = 0.7;

struct Report<'a> {
    args: &'a InboundArgs,
    machine: &'a Machine,
    load_after: String,
    pinned: bool,
    results: &'a Results,
}

/// Figures of one side over the runs.
fn spread(runs: &[&Run], figure: fn(&Run) -> f64) -> Option<Spread> {
    Spread::of(&runs.iter().map(|r| figure(r)).collect::<Vec<_>>())
}

fn delivered(r: &Run) -> f64 {
    r.s1.delivered_per_second()
}

fn accepted(r: &Run) -> f64 {
    r.s1.accepted_per_second()
}

fn cpu_per_message(r: &Run) -> f64 {
    r.s1.cpu_us_per_message()
}

fn p50(r: &Run) -> f64 {
    r.p(0.50)
}

fn p99(r: &Run) -> f64 {
    r.p(0.99)
}

/// A row comparing `ours` with `reference`, the ratio of their medians.
fn row(
    id: &'static str,
    what: String,
    ours: &[&Run],
    reference: &[&Run],
    figure: fn(&Run) -> f64,
    unit: fn(f64) -> String,
) -> Row {
    let failures: usize = ours.iter().chain(reference).map(|r| r.s1.failures).sum();
    Row::compare(
        id,
        what,
        [spread(ours, figure), spread(reference, figure)],
        unit,
    )
    .invalid(failures as u64)
}

fn run_line(r: &Run) -> String {
    format!(
        "{} delivered ({} answered 250; p50 {}, p99 {}; {} of server CPU each; client {:.2} cores busy{})",
        per_second(delivered(r)),
        per_second(accepted(r)),
        milliseconds(p50(r)),
        milliseconds(p99(r)),
        microseconds(cpu_per_message(r)),
        r.s1.client_cores,
        match r.s1.failures {
            0 => String::new(),
            n => format!(
                "; {n} FAILED, first: {}",
                r.s1.first_failure.as_deref().unwrap_or("?")
            ),
        }
    )
}

impl Report<'_> {
    fn render(&self) -> String {
        let args = self.args;
        let placement = placement(
            self.pinned,
            self.machine.cores,
            ["congvu and Postfix", "servers"],
            "client",
        );
        let mut out = format!(
            "{begin}\n## S4, S5: the MX with inbound protection on\n\n\
             Measured by `bench/inbound.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {before} before the run, {after} right after it, a figure that includes\n\
             the benchmark's own servers, rspamd and clamd), {placement}.\n\
             Each workload ran {runs} time(s) on each side, the sides taking turns (the order flipping\n\
             every run); figures are medians, ranges in brackets, and a target counts as met only when\n\
             every run's ratio clears it. congvu holds {n} officials from `congvu-admin user import`.\n\
             Both workloads are S1's (see above): {messages} messages of {length} payload bytes per run on\n\
             {sessions} parallel sessions, a new connection per message, smtp-source's session, spread\n\
             round-robin over {mailboxes} mailboxes; congvu's 250 means committed and synced into the INBOX.\n\n",
            begin = MARKERS.begin,
            command = user_arguments(&PATH_OPTIONS),
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            before = self.machine.load,
            after = self.load_after,
            runs = args.runs,
            n = args.officials,
            messages = args.messages,
            length = args.length,
            sessions = args.sessions,
            mailboxes = args.mailboxes,
        );
        let before: f64 = self.machine.load.parse().unwrap_or(0.0);
        if before > 1.0 {
            out.push_str(&format!(
                "Other work (builds, test runs) was still running on this shared machine when the run\n\
                 started (load average {before:.2} on {} cores): absolute rates are lower than on a quiet\n\
                 machine, and each run's ratio drifts with what else ran during it.\n\n",
                self.machine.cores
            ));
        }
        let mut rows = Vec::new();
        let mut details = Vec::new();
        if let Some(s4) = &self.results.s4 {
            out.push_str(&self.s4_method(s4));
            rows.extend(self.s4_rows(s4));
            details.push(self.s4_details(s4));
        }
        if let Some(s5) = &self.results.s5 {
            out.push_str(&self.s5_method());
            rows.extend(s5_rows(s5));
            details.push(s5_details(s5));
        }
        out.push('\n');
        out.push_str(&table("measured", "reference", &rows, "failed messages"));
        out.push('\n');
        for d in details {
            out.push_str(&format!("- {d}\n"));
        }
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    fn s4_method(&self, s4: &S4) -> String {
        let questions: Vec<String> = s4.questions.iter().map(usize::to_string).collect();
        format!(
            "- S4: congvu alone, restarted for each run, once with `[inbound] authentication = \"off\"` and\n  \
             once with `\"enforce\"`. Every message comes from `{sender}` (HELO `{SENDER_HOST}`, the same\n  \
             address in `From:`), its `To:` naming its mailbox; each mailbox's message was signed once before\n  \
             the runs by dkimpy's `dkimsign` (rsa-sha256, 2048-bit key, `c=relaxed/relaxed`, `s={SELECTOR}`), and\n  \
             both modes send those same bytes. With `enforce`, congvu checks SPF of the HELO name and of\n  \
             MAIL FROM, the DKIM signature and DMARC of every message, asking `[dns] servers`: a DNS server\n  \
             inside the benchmark process (so on the client's cores) serving `{SENDER_DOMAIN} TXT \"{SPF}\"`,\n  \
             the same for `{SENDER_HOST}`, the key at `{SELECTOR}._domainkey.{SENDER_DOMAIN}` and\n  \
             `_dmarc.{SENDER_DOMAIN} TXT \"{DMARC}\"`, TTL 300 s. `[dns] cache_entries` stays at its default\n  \
             (4096), so congvu's resolver caches the answers as it does in production: the DNS server was\n  \
             asked {q} question(s) in the enforce runs, one run after another, each run starting a new server\n  \
             process with an empty cache. Afterwards: {census}; {verdicts}.\n",
            sender = S4_ENVELOPE.sender,
            q = questions.join(", "),
            census = s4.census,
            verdicts = s4.verdicts,
        )
    }

    fn s5_method(&self) -> String {
        format!(
            "- S5: the same S1 messages (from `sender@example.org`, HELO `bench.example.org`), congvu\n  \
             with `[filter.clamav] address = \"tcp:127.0.0.1:PORT\"` and `[filter.rspamd] url` (ClamAV first,\n  \
             then rspamd's `/checkv2` on its normal worker; `authentication = \"off\"`, as Postfix checks no\n  \
             sender), against Postfix {version} configured as for S1 plus `smtpd_milters =\n  \
             inet:127.0.0.1:PORT` (rspamd's proxy worker in milter mode, handing each message to the same\n  \
             normal worker) and `milter_default_action = tempfail`. rspamd is Debian's 3.4 with its stock\n  \
             rules as the test kit configures it (modules that ask DNS off, Bayes on sqlite3); its `antivirus`\n  \
             module (type clamav, whole messages) asks the same clamd (Debian's, one test signature, `LogClean\n  \
             yes` so that every clean stream is counted) for Postfix's messages, and is skipped for congvu's\n  \
             requests (by their `MTA-Name`), since congvu asks clamd itself. rspamd and clamd were started\n  \
             before the client was pinned and may run on every core; their CPU is in neither server's CPU\n  \
             figure. Postfix's rate runs until the last message is a file in its Maildir; end of DATA → 250\n  \
             includes the scans on both sides (the milter answers before Postfix's 250).\n",
            version = postfix_version(&self.args.programs.postfix),
        )
    }

    fn s4_rows(&self, s4: &S4) -> Vec<Row> {
        let enforce: Vec<&Run> = s4.enforce.iter().collect();
        let off: Vec<&Run> = s4.off.iter().collect();
        let ratios = s4_ratios(s4);
        let failures: usize = enforce.iter().chain(&off).map(|r| r.s1.failures).sum();
        let mut rate = row(
            "S4",
            format!(
                "messages/s accepted and delivered into {} mailboxes, `enforce` vs `off`",
                self.args.mailboxes
            ),
            &enforce,
            &off,
            delivered,
            per_second,
        );
        rate.ratio = Spread::of(&ratios).map(|s| s.show(times));
        rate.target = "≥ 0.7×";
        rate.met = (!ratios.is_empty()).then(|| ratios.iter().all(|r| *r >= S4_TARGET));
        rate.invalid = failures as u64;
        vec![
            rate,
            row(
                "S4",
                "server CPU per message, `enforce` vs `off`".into(),
                &enforce,
                &off,
                cpu_per_message,
                microseconds,
            ),
            row(
                "S4",
                "p99 end of DATA → 250, `enforce` vs `off`".into(),
                &enforce,
                &off,
                p99,
                milliseconds,
            ),
        ]
    }

    fn s4_details(&self, s4: &S4) -> String {
        let ratios = s4_ratios(s4);
        let per_run: Vec<String> = ratios
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "run {}: {r:.3}× ({} over {})",
                    i + 1,
                    per_second(delivered(&s4.enforce[i])),
                    per_second(delivered(&s4.off[i]))
                )
            })
            .collect();
        let least = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let verdict = if least >= S4_TARGET {
            format!(
                "met in every run, the lowest run {:.1}% above the 0.7× line",
                (least / S4_TARGET - 1.0) * 100.0
            )
        } else {
            format!(
                "NOT met in every run: the lowest run is {:.1}% below the 0.7× line",
                (1.0 - least / S4_TARGET) * 100.0
            )
        };
        let lines = |runs: &[Run]| runs.iter().map(run_line).collect::<Vec<_>>().join("; ");
        format!(
            "S4 per run, enforce ÷ off: {}; the target is {verdict}. Enforce runs: {}. Off runs: {}.",
            per_run.join(", "),
            lines(&s4.enforce),
            lines(&s4.off)
        )
    }
}

/// Each run's enforce rate over the off rate of the same run.
fn s4_ratios(s4: &S4) -> Vec<f64> {
    s4.enforce
        .iter()
        .zip(&s4.off)
        .map(|(e, o)| delivered(e) / delivered(o))
        .collect()
}

/// One S5 row: what it measures, the figure of a run, and how the figure is shown.
type S5Row = (&'static str, fn(&Run) -> f64, fn(f64) -> String);

fn s5_rows(s5: &S5) -> Vec<Row> {
    let congvu: Vec<&Run> = s5.congvu.iter().map(|(r, _)| r).collect();
    let postfix: Vec<&Run> = s5.postfix.iter().map(|(r, _)| r).collect();
    let rows: [S5Row; 5] = [
        (
            "messages/s accepted and delivered, rspamd + ClamAV, congvu vs Postfix",
            delivered,
            per_second,
        ),
        (
            "messages/s answered 250 (Postfix: queued, not yet delivered)",
            accepted,
            per_second,
        ),
        ("p50 end of DATA → 250, scans included", p50, milliseconds),
        ("p99 end of DATA → 250, scans included", p99, milliseconds),
        (
            "server CPU per message (rspamd and clamd not counted)",
            cpu_per_message,
            microseconds,
        ),
    ];
    rows.into_iter()
        .map(|(what, figure, unit)| row("S5", what.into(), &congvu, &postfix, figure, unit))
        .collect()
}

fn s5_details(s5: &S5) -> String {
    let side = |runs: &[(Run, Scans)]| {
        runs.iter()
            .map(|(r, s)| format!("{} — scans: {}", run_line(r), s.show()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let ratios: Vec<String> = s5
        .congvu
        .iter()
        .zip(&s5.postfix)
        .map(|((c, _), (p, _))| times(delivered(c) / delivered(p)))
        .collect();
    format!(
        "S5 per run, congvu ÷ Postfix: {}. congvu runs: {}. Postfix runs: {}.",
        ratios.join(", "),
        side(&s5.congvu),
        side(&s5.postfix)
    )
}

#[cfg(test)]
mod tests {
    use super::{crlf, verdict};

    #[test]
    fn bare_line_feeds_become_crlf_and_crlf_stays() {
        assert_eq!(crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn the_verdict_is_our_unfolded_field_only() {
        let message = b"Authentication-Results: other.example; dkim=fail\r\n\
            Authentication-Results: mail.vinhphuc.gov.vn;\r\n\tdkim=pass header.d=hanoi.gov.vn;\r\n\
            \tdmarc=pass\r\nFrom: a@b\r\n\r\nAuthentication-Results: mail.vinhphuc.gov.vn; x\r\n";
        let found = verdict(message).unwrap();
        assert!(
            found.contains("dkim=pass") && found.ends_with("dmarc=pass"),
            "{found}"
        );
        assert_eq!(verdict(b"From: a@b\r\n\r\nbody"), None);
    }
}
