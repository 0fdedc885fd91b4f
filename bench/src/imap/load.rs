//! The workloads and what they measure: I1's seed, mbsync sync and FETCH sessions, and M1's
//! idle connections.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::{Rng, SeedableRng};
use tokio_rustls::TlsConnector;

use crate::admin::Official;
use crate::figures::{bytes_roughly, percentile, turns};
use crate::server::Certificate;

use super::*;

/// Seeding one server's mailbox.
#[derive(Debug, Clone)]
pub(super) struct SeedRun {
    pub(super) elapsed: Duration,
    pub(super) cpu: Duration,
    /// What the check of the stored sizes found.
    pub(super) check: String,
}

/// One mbsync run.
#[derive(Debug, Clone)]
pub(super) struct SyncRun {
    pub(super) elapsed: Duration,
    pub(super) cpu: Duration,
    /// mbsync's own CPU (user and system) for the run.
    pub(super) client_cpu: Duration,
    /// Messages in the local Maildir afterwards.
    pub(super) synced: usize,
    pub(super) failure: Option<String>,
}

/// One I1b run.
#[derive(Debug, Clone)]
pub(super) struct FetchRun {
    /// Every session's `UID FETCH 1:* (…)`: how long each took, and the wall time from
    /// the first sent to the last answered.
    pub(super) listing: Vec<Duration>,
    pub(super) listing_wall: Duration,
    pub(super) listing_cpu: Duration,
    /// Messages the listings returned, over all sessions.
    pub(super) listed: usize,
    /// Every `FETCH n BODY.PEEK[]`.
    pub(super) bodies: Vec<Duration>,
    pub(super) bodies_wall: Duration,
    pub(super) bodies_cpu: Duration,
    pub(super) body_bytes: u64,
    pub(super) failures: usize,
    pub(super) first_failure: Option<String>,
}

impl FetchRun {
    pub(super) fn listed_per_second(&self) -> f64 {
        self.listed as f64 / self.listing_wall.as_secs_f64()
    }

    pub(super) fn bodies_per_second(&self) -> f64 {
        self.bodies.len() as f64 / self.bodies_wall.as_secs_f64()
    }

    pub(super) fn listing_p99_ms(&self) -> f64 {
        p99_ms(&self.listing)
    }

    pub(super) fn body_p99_ms(&self) -> f64 {
        p99_ms(&self.bodies)
    }

    pub(super) fn body_cpu_us(&self) -> f64 {
        self.bodies_cpu.as_secs_f64() * 1e6 / self.bodies.len().max(1) as f64
    }
}

pub(super) fn p99_ms(durations: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = durations.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    percentile(&ms, 0.99)
}

/// M1 on one server.
#[derive(Debug, Clone)]
pub(super) struct MemoryRun {
    /// Right after a restart, before any client.
    pub(super) before: Memory,
    /// With the idle connections open.
    pub(super) idle: Memory,
    pub(super) imap_opened: usize,
    pub(super) ldap_opened: usize,
    /// IMAP connections that answered NOOP after the reading.
    pub(super) alive: usize,
    pub(super) first_failure: Option<String>,
}

/// Everything measured on one server.
#[derive(Debug)]
pub(super) struct Figures {
    pub(super) kind: ServerKind,
    pub(super) seed: Option<SeedRun>,
    pub(super) sync: Vec<SyncRun>,
    pub(super) fetch: Vec<FetchRun>,
    pub(super) memory: Option<MemoryRun>,
    pub(super) large: Option<super::large::LargeRun>,
    pub(super) text_search: Option<super::text_search::SearchRun>,
    /// Dovecot only: I2 for the official who searches through fts-xapian.
    pub(super) text_search_fts: Option<super::text_search::SearchRun>,
}

/// The state of a measurement.
pub(super) struct Bench<'a> {
    pub(super) args: &'a ImapArgs,
    pub(super) runtime: &'a tokio::runtime::Runtime,
    pub(super) tls: &'a TlsConnector,
    pub(super) officials: &'a [Official],
    pub(super) corpus: &'a Corpus,
    pub(super) work: &'a Path,
    pub(super) cert: &'a Certificate,
    /// How long `congvu-admin mailbox import` took to bring in I3's mailbox.
    pub(super) large_import: Option<Duration>,
    /// The same for I2's.
    pub(super) search_import: Option<Duration>,
    /// The private Dovecot's configuration, when it runs.
    pub(super) dovecot_config: Option<&'a Path>,
}

impl Bench<'_> {
    /// Runs the workloads phase by phase; in each phase the servers take turns, the order
    /// flipping every run, so drift on a shared machine hits both sides of a ratio alike.
    pub(super) fn measure(&self, servers: &mut [Server]) -> anyhow::Result<Vec<Figures>> {
        let mut figures: Vec<Figures> = servers
            .iter()
            .map(|s| Figures {
                kind: s.kind,
                seed: None,
                sync: Vec::new(),
                fetch: Vec::new(),
                memory: None,
                large: None,
                text_search: None,
                text_search_fts: None,
            })
            .collect();
        if self.args.workloads.contains(&Workload::I1) {
            self.measure_i1(servers, &mut figures)?;
        }
        if self.args.workloads.contains(&Workload::I2) {
            self.measure_text_search(servers, &mut figures)?;
        }
        if self.args.workloads.contains(&Workload::I3) {
            self.measure_large(servers, &mut figures)?;
        }
        if self.args.workloads.contains(&Workload::M1) {
            self.measure_m1(servers, &mut figures)?;
        }
        Ok(figures)
    }

    /// I1: the seed over one connection, then I1a's mbsync runs and I1b's listing runs,
    /// the servers taking turns.
    pub(super) fn measure_i1(
        &self,
        servers: &mut [Server],
        figures: &mut [Figures],
    ) -> anyhow::Result<()> {
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
        for server in servers.iter() {
            println!("I1b warm-up: {}, one listing", server.kind.name());
            self.warm_listing(server)?;
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
    pub(super) fn measure_m1(
        &self,
        servers: &mut [Server],
        figures: &mut [Figures],
    ) -> anyhow::Result<()> {
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
    pub(super) fn seed(&self, server: &Server) -> anyhow::Result<SeedRun> {
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
        let expected = self.corpus.sizes();
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
    pub(super) async fn stored_sizes(&self, addr: SocketAddr) -> Result<Vec<u64>, String> {
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
    pub(super) fn mbsync(&self, server: &Server, run: usize) -> anyhow::Result<SyncRun> {
        let dir = mbsync_scratch()
            .unwrap_or_else(|| self.work.to_path_buf())
            .join(format!(
                "congvu-bench-mbsync-{}-{}-{run}",
                std::process::id(),
                server.kind.name()
            ));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("mbsyncrc");
        let local = dir.join("mail");
        std::fs::create_dir_all(&local)?;
        let owner = &self.officials[0].login;
        std::fs::write(
            &config,
            mbsync_config(server.imaps, owner, &self.cert.cert, &local),
        )?;
        let (cpu_before, client_before) = (server.cpu(), children_cpu()?);
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
        // mbsync is the only child reaped meanwhile: the servers run on.
        let client_cpu = children_cpu()?.saturating_sub(client_before);
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
            client_cpu,
            synced,
            failure,
        })
    }

    /// One unmeasured listing by one session, so that every measured I1b run meets a server
    /// that has answered it before (Dovecot fills its index cache at the first).
    fn warm_listing(&self, server: &Server) -> anyhow::Result<()> {
        let owner = &self.officials[0].login;
        let sizes = self.corpus.sizes();
        let checked = self.runtime.block_on(async {
            let (mut session, _) = open_inbox(server.imaps, self.tls, owner).await?;
            let (_, problem) = list_mailbox(&mut session, &sizes).await;
            session.logout().await;
            problem.map_or(Ok(()), Err)
        });
        checked.map_err(|e| anyhow::anyhow!("{}: the warm-up listing: {e}", server.kind.name()))
    }

    /// One I1b run: `--sessions` sessions list the mailbox at once, then fetch random
    /// whole messages for `--seconds`. The main task reads the server's CPU between the
    /// phases while the sessions wait at a barrier.
    pub(super) fn fetch(&self, server: &Server, run: usize) -> anyhow::Result<FetchRun> {
        let args = self.args;
        let owner = self.officials[0].login.clone();
        let sizes = Arc::new(self.corpus.sizes());
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
    pub(super) fn idle_memory(&self, server: &mut Server) -> anyhow::Result<MemoryRun> {
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

/// I1b's listing of the whole mailbox.
pub(super) const LISTING: &str = "UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)";

/// Where mbsync's local Maildir is written: in memory (`/dev/shm`) where the machine has it
/// as tmpfs. On a disk, creating the files of one run waited for the file system's journal
/// to write out the last run's (openat took 0.6 ms each, 6 s a run, under strace), whichever
/// server was measured; `FSync no` does not avoid that.
pub(super) fn mbsync_scratch() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .any(|line| {
            line.split_whitespace()
                .take(3)
                .eq(["tmpfs", "/dev/shm", "tmpfs"])
        })
        .then(|| PathBuf::from("/dev/shm"))
}

/// CPU (user and system) of the children this process has waited for so far.
fn children_cpu() -> anyhow::Result<Duration> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("while reading children's CPU")?;
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    Ok(micros(usage.user_time()) + micros(usage.system_time()))
}

/// isync 1.4's configuration for pulling INBOX from `addr` into `local`: the run's
/// certificate trusted, LOGIN as Dovecot and congvu both offer it, and no fsync of the local
/// Maildir, so the client's disk does not set the pace of a server comparison.
pub(super) fn mbsync_config(addr: SocketAddr, login: &str, cert: &Path, local: &Path) -> String {
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
pub(super) struct SessionTally {
    pub(super) listing: Vec<Duration>,
    pub(super) listed: usize,
    pub(super) bodies: Vec<Duration>,
    pub(super) body_bytes: u64,
    pub(super) failures: usize,
    pub(super) first_failure: Option<String>,
}

impl SessionTally {
    pub(super) fn fail(&mut self, e: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(e);
    }
}

/// One I1b session: waits at the barrier, lists the mailbox, waits twice (the main task
/// reads the server's CPU), then fetches random messages for `seconds`. Every answer is
/// checked: the listing must give each message with its envelope, structure and the size
/// it was appended with; each body must be that size. A session that fails keeps meeting
/// the barrier, so the others are not left waiting.
pub(super) async fn fetch_session(
    mut session: ImapSession,
    sizes: Arc<Vec<u64>>,
    barrier: Arc<tokio::sync::Barrier>,
    seconds: Duration,
    seed: u64,
) -> SessionTally {
    let mut tally = SessionTally::default();
    barrier.wait().await;
    let started = Instant::now();
    let (listed, problem) = list_mailbox(&mut session, &sizes).await;
    tally.listing.push(started.elapsed());
    tally.listed = listed;
    if let Some(problem) = problem {
        tally.fail(problem);
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

/// I1b's listing on a session with INBOX selected: how many messages came with their
/// envelope, body structure and stored size (`sizes`, by sequence number), and the first
/// thing wrong, if any.
pub(super) async fn list_mailbox(
    session: &mut ImapSession,
    sizes: &[u64],
) -> (usize, Option<String>) {
    let mut listed = 0usize;
    let mut wrong = None;
    let listing = session
        .command(LISTING, |r| {
            let seq = untagged_number(r, b"FETCH");
            let size = number_after(r, b"RFC822.SIZE ");
            let whole = find(r, b"ENVELOPE (").is_some() && find(r, b"BODYSTRUCTURE (").is_some();
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
        })
        .await;
    let problem = match (listing, wrong) {
        (Err(e), _) | (Ok(()), Some(e)) => Some(e),
        (Ok(()), None) if listed != sizes.len() => {
            Some(format!("listing gave {listed} of {} messages", sizes.len()))
        }
        _ => None,
    };
    (listed, problem)
}

/// The bytes of `text` up to its first line end.
pub(super) fn line_at(text: &[u8]) -> &[u8] {
    let end = text.iter().position(|&b| b == b'\r').unwrap_or(text.len());
    &text[..end]
}

/// The officials M1's LDAP connections bind as: the first `n`.
pub(super) fn logins_for_ldap(officials: &[Official], n: usize) -> Vec<String> {
    officials[..n].iter().map(|o| o.login.clone()).collect()
}

/// Opens one idle IMAP session per login, a few at a time; returns those that opened and
/// the first failure.
pub(super) async fn open_idle_imap(
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
pub(super) async fn open_idle_ldap(
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

pub(super) async fn bound_ldap(url: &str, login: &str) -> anyhow::Result<ldap3::Ldap> {
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
pub(super) async fn still_alive(sessions: Vec<ImapSession>) -> usize {
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
