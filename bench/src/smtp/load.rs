//! The workloads and what they measure: S1's parallel sessions, S2 at a fixed rate, S3's
//! circular, and the census of congvu's INBOXes afterwards.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::mailstore::MailboxRole;
use congvu::store::{Store, StoreOptions};

use crate::admin::Official;
use crate::figures::{median, percentile, turns};
use crate::machine::{field, proc_stat, CSTIME, CUTIME, STIME, UTIME};
use crate::server::DOMAIN;

use super::*;

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
pub(super) struct S2Run {
    /// Messages per second asked for.
    pub(super) rate: f64,
    /// Messages sent and acknowledged after the warm-up.
    pub(super) measured: usize,
    /// Messages per second acknowledged after the warm-up.
    pub(super) achieved: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
    /// Messages that started more than 10 ms after their time: every session was busy.
    pub(super) late: usize,
    pub(super) cpu_us_per_message: f64,
    /// Cores the client kept busy over the measured part.
    pub(super) client_cores: f64,
    pub(super) failures: usize,
    pub(super) first_failure: Option<String>,
    /// For congvu: where the wait from end of DATA to 250 went, over the measured part.
    pub(super) stages: Option<Stages>,
}

/// What one S3 run measured.
#[derive(Debug, Clone)]
pub(super) struct S3Run {
    /// From connecting until the 250 after DATA.
    pub(super) accepted: Duration,
    /// From connecting until every official could read the circular.
    pub(super) readable: Duration,
    /// Growth of the server's storage: congvu's data directory (checkpointed database),
    /// Postfix's Maildirs plus queue.
    pub(super) bytes_added: i64,
    pub(super) cpu: Duration,
    /// For congvu, what its INBOXes showed afterwards.
    pub(super) check: Option<String>,
}

/// Everything measured on one server.
#[derive(Debug)]
pub(super) struct Figures {
    pub(super) kind: ServerKind,
    pub(super) s1: Vec<S1Run>,
    /// S1 with Postfix's smtp-source, to one mailbox.
    pub(super) s1_source: Vec<S1Run>,
    pub(super) s2: Vec<S2Run>,
    pub(super) s3: Vec<S3Run>,
    /// For congvu: whether every acknowledged S1/S2 message is in its INBOX.
    pub(super) census: Option<String>,
}

impl Figures {
    pub(super) fn new(kind: ServerKind) -> Figures {
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
pub(super) struct Bench<'a> {
    pub(super) args: &'a SmtpArgs,
    pub(super) runtime: &'a tokio::runtime::Runtime,
    pub(super) officials: &'a [Official],
    /// congvu's database, for the census.
    pub(super) congvu_db: String,
    /// Clock ticks per second of /proc/PID/stat times.
    pub(super) ticks: f64,
    /// Messages congvu acknowledged per official, to be found in its INBOXes.
    pub(super) expected_congvu: HashMap<String, usize>,
    /// congvu's HTTP listener, whose `/metrics` give S2's stages.
    pub(super) congvu_http: u16,
}

impl Bench<'_> {
    /// Runs the workloads phase by phase; in each phase the servers take turns, the order
    /// flipping every run, so drift on a shared machine hits both sides of a ratio alike.
    pub(super) fn measure(&mut self, servers: &mut [Server]) -> anyhow::Result<Vec<Figures>> {
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
    pub(super) fn s1_phase(
        &mut self,
        servers: &mut [Server],
        figures: &mut [Figures],
    ) -> anyhow::Result<()> {
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
    pub(super) fn s2_phase(
        &mut self,
        servers: &mut [Server],
        figures: &mut [Figures],
    ) -> anyhow::Result<()> {
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
    pub(super) fn s1(&mut self, server: &mut Server) -> anyhow::Result<S1Run> {
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
    pub(super) fn s1_smtp_source(&mut self, server: &mut Server) -> anyhow::Result<S1Run> {
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
    pub(super) fn settle(
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
    pub(super) fn s2(&mut self, server: &mut Server, rate: f64) -> anyhow::Result<S2Run> {
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
        let mut edges = (Edge::default(), Edge::default());
        let staged = (server.kind() == ServerKind::Congvu).then_some(self.congvu_http);
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
                edges.0 = self.edge(server, staged).await?;
                let measured_from = Instant::now();
                let mut all = Vec::new();
                for task in tasks {
                    all.extend(task.await?);
                }
                edges.1 = self.edge(server, staged).await?;
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
        let (before, after) = edges;
        Ok(S2Run::from_latencies(
            rate,
            &latencies,
            measured_span,
            late,
            (
                after.server.saturating_sub(before.server),
                after.client.saturating_sub(before.client),
            ),
            (failures, first_failure),
        )
        .with_stages(after.stages.zip(before.stages).map(|(a, b)| a.since(&b))))
    }

    /// What S2 reads at each edge of its measured part: server and client CPU, and congvu's
    /// stage histograms from its HTTP listener when it has one to read.
    async fn edge(&self, server: &Server, staged: Option<u16>) -> anyhow::Result<Edge> {
        let stages = match staged {
            Some(port) => Some(Stages::parse(&crate::server::scrape_metrics(port).await?)?),
            None => None,
        };
        Ok(Edge {
            server: server.cpu(),
            client: self.client_cpu(),
            stages,
        })
    }

    /// One S3 run: the circular in one session, to the list or to every official.
    pub(super) fn s3(&mut self, server: &mut Server) -> anyhow::Result<S3Run> {
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
    pub(super) fn client_cpu(&self) -> Duration {
        client_cpu(self.ticks)
    }

    /// Every official's INBOX as congvu's store holds it; the server must be stopped.
    pub(super) fn census(&self) -> anyhow::Result<HashMap<String, Inbox>> {
        self.runtime.block_on(inbox_census(&self.congvu_db))
    }

    /// Compares the INBOXes with what congvu acknowledged in S1 and S2.
    pub(super) fn census_check(&self) -> anyhow::Result<String> {
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

/// One measured run of a message stream on one side: S1's figures and every end of DATA →
/// 250, in milliseconds, sorted.
#[derive(Debug)]
pub(crate) struct StreamRun {
    pub(crate) s1: S1Run,
    pub(crate) latencies: Vec<f64>,
}

impl StreamRun {
    pub(crate) fn p(&self, p: f64) -> f64 {
        percentile(&self.latencies, p)
    }
}

/// A [`StreamRun`]'s figures as the reports' rows and lines take them (`fn(&StreamRun) -> f64`).
pub(crate) mod stream_figures {
    use super::StreamRun;

    /// Messages per second readable in their mailboxes.
    pub(crate) fn delivered(r: &StreamRun) -> f64 {
        r.s1.delivered_per_second()
    }

    /// Messages per second answered 250.
    pub(crate) fn accepted(r: &StreamRun) -> f64 {
        r.s1.accepted_per_second()
    }

    /// Server CPU per message, in microseconds.
    pub(crate) fn cpu_per_message(r: &StreamRun) -> f64 {
        r.s1.cpu_us_per_message()
    }

    pub(crate) fn p50(r: &StreamRun) -> f64 {
        r.p(0.50)
    }

    pub(crate) fn p99(r: &StreamRun) -> f64 {
        r.p(0.99)
    }
}

/// The messages one run sends, as [`send_load`] takes them.
pub(crate) struct Stream {
    pub(crate) addr: SocketAddr,
    pub(crate) envelope: Envelope,
    pub(crate) sessions: usize,
    pub(crate) messages: usize,
    pub(crate) recipients: Arc<Vec<String>>,
    pub(crate) compose: Compose,
    pub(crate) body: Arc<Vec<u8>>,
}

/// Sends `stream` and measures it: `delivered` says when the last message could be read
/// (`None`: at its 250), `cpu` the server CPU used so far, `ticks` the clock ticks per
/// second of this process's CPU counters.
pub(crate) fn measure_stream(
    runtime: &tokio::runtime::Runtime,
    ticks: f64,
    stream: Stream,
    cpu: &dyn Fn() -> Duration,
    delivered: &mut dyn FnMut(&Load, Instant) -> anyhow::Result<Option<Instant>>,
) -> anyhow::Result<(StreamRun, Load)> {
    let messages = stream.messages;
    let cpu_before = cpu();
    let client_before = client_cpu(ticks);
    let started = Instant::now();
    let load = runtime.block_on(send_load(
        stream.addr,
        stream.envelope,
        stream.sessions,
        messages,
        stream.recipients,
        stream.compose,
        stream.body,
    ))?;
    let accepted = started.elapsed();
    let client = client_cpu(ticks).saturating_sub(client_before);
    let done = delivered(&load, started)?.map_or(accepted, |at| at - started);
    let mut latencies: Vec<f64> = load
        .data_to_250
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let s1 = S1Run {
        messages,
        accepted,
        delivered: done,
        cpu: cpu().saturating_sub(cpu_before),
        client_cores: client.as_secs_f64() / accepted.as_secs_f64(),
        failures: load.failures,
        first_failure: load.first_failure.clone(),
    };
    Ok((StreamRun { s1, latencies }, load))
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
    pub(super) fn from_latencies(
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
            stages: None,
        }
    }

    fn with_stages(self, stages: Option<Stages>) -> S2Run {
        S2Run { stages, ..self }
    }
}

/// What S2 reads at one edge of its measured part.
#[derive(Default)]
struct Edge {
    server: Duration,
    client: Duration,
    stages: Option<Stages>,
}

/// When S2's messages are due: message `i` at `start + i / rate`, `total` in all.
#[derive(Clone, Copy)]
pub(super) struct Pace {
    pub(super) start: tokio::time::Instant,
    pub(super) rate: f64,
    pub(super) total: usize,
}

/// One S2 session: takes the next message due, waits for its time, sends it to the next
/// recipient on a connection of its own. Returns (index, end of DATA to 250, whether it went
/// out more than 10 ms late) of each message it sent.
pub(super) async fn paced_session(
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
pub(super) fn check_checkpointed(url: &str) -> anyhow::Result<()> {
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
pub(super) fn circular_check(
    before: &HashMap<String, Inbox>,
    after: &HashMap<String, Inbox>,
) -> String {
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
