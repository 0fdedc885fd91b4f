//! The load phases: SMTP intake and IMAP FETCH at once, spread over the running nodes, with
//! what each node, PostgreSQL and the client spent on it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rand::{Rng, SeedableRng};

use crate::figures::Window;
use crate::imap::{open_inbox, untagged_number, ImapSession};
use crate::smtp::{client_cpu, deliver, payload, smtp_source_head};

use super::*;

/// What one kind of client got done, node by node.
#[derive(Debug, Clone, Default)]
pub(super) struct Tally {
    /// Operations that succeeded on each node.
    pub(super) per_node: Vec<usize>,
    pub(super) failures: usize,
    pub(super) first_failure: Option<String>,
}

impl Tally {
    pub(super) fn new(nodes: usize) -> Tally {
        Tally {
            per_node: vec![0; nodes],
            ..Tally::default()
        }
    }

    pub(super) fn total(&self) -> usize {
        self.per_node.iter().sum()
    }

    pub(super) fn fail(&mut self, failure: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(failure);
    }

    /// Adds `other`'s counts to these.
    pub(super) fn add(&mut self, other: Tally) {
        for (mine, theirs) in self.per_node.iter_mut().zip(other.per_node) {
            *mine += theirs;
        }
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

/// CPU time used so far by each running node, PostgreSQL and this process.
#[derive(Debug, Clone)]
pub(super) struct CpuSample {
    pub(super) nodes: Vec<Duration>,
    pub(super) postgres: Duration,
    pub(super) client: Duration,
}

impl CpuSample {
    fn take(nodes: &[Node], ticks: f64) -> CpuSample {
        CpuSample {
            nodes: nodes.iter().map(Node::cpu).collect(),
            postgres: postgres_cpu(ticks),
            client: client_cpu(ticks),
        }
    }

    /// Cores kept busy between `self` and `later`, `window` apart.
    fn busy_until(&self, later: &CpuSample, window: Duration) -> Busy {
        let busy =
            |a: Duration, b: Duration| b.saturating_sub(a).as_secs_f64() / window.as_secs_f64();
        Busy {
            nodes: self
                .nodes
                .iter()
                .zip(&later.nodes)
                .map(|(a, b)| busy(*a, *b))
                .collect(),
            postgres: busy(self.postgres, later.postgres),
            client: busy(self.client, later.client),
        }
    }
}

/// Cores kept busy, as seconds of CPU per second: by each running node, PostgreSQL and
/// this process.
#[derive(Debug, Clone)]
pub(super) struct Busy {
    pub(super) nodes: Vec<f64>,
    pub(super) postgres: f64,
    pub(super) client: f64,
}

/// One load phase on one or two nodes.
#[derive(Debug, Clone)]
pub(super) struct Phase {
    pub(super) nodes: usize,
    /// The stretch of the load that counts, after its warm-up.
    pub(super) window: Duration,
    /// Messages answered 250 within the window.
    pub(super) smtp: Tally,
    /// `FETCH n BODY.PEEK[]` answered with the message within the window.
    pub(super) fetch: Tally,
    /// Cores busy during the window.
    pub(super) busy: Busy,
}

impl Phase {
    pub(super) fn smtp_per_second(&self) -> f64 {
        self.smtp.total() as f64 / self.window.as_secs_f64()
    }

    pub(super) fn fetches_per_second(&self) -> f64 {
        self.fetch.total() as f64 / self.window.as_secs_f64()
    }
}

/// What one run measured and checked.
#[derive(Debug, Clone)]
pub(super) struct RunFigures {
    pub(super) one: Phase,
    pub(super) two: Phase,
    pub(super) queue: QueueOnce,
    pub(super) idle: IdleWakes,
}

impl RunFigures {
    pub(super) fn smtp_ratio(&self) -> f64 {
        self.two.smtp_per_second() / self.one.smtp_per_second()
    }

    pub(super) fn fetch_ratio(&self) -> f64 {
        self.two.fetches_per_second() / self.one.fetches_per_second()
    }

    /// The mean of the SMTP and FETCH ratios, so each workload counts the same whatever
    /// its rate.
    pub(super) fn combined_ratio(&self) -> f64 {
        (self.smtp_ratio() + self.fetch_ratio()) / 2.0
    }
}

impl Bench<'_> {
    /// One phase: the fetching sessions logged in first, then SMTP and FETCH load at once
    /// on the first `nodes` nodes, [`WARMUP`] and then `--seconds` that count.
    pub(super) fn phase(
        &self,
        cluster: &Cluster,
        nodes: usize,
        seeded: &Seeded,
        run: usize,
    ) -> anyhow::Result<Phase> {
        let running = cluster.running(nodes);
        let smtp: Arc<Vec<SocketAddr>> = Arc::new(running.iter().map(|n| n.smtp).collect());
        let imaps: Vec<SocketAddr> = running.iter().map(|n| n.imaps).collect();
        let sessions = self
            .runtime
            .block_on(open_readers(&imaps, self.tls, &seeded.readers))?;
        let recipients: Arc<Vec<String>> =
            Arc::new(seeded.officials.iter().map(|o| o.address.clone()).collect());
        let body = Arc::new(payload(MESSAGE_BYTES));
        let ticks = self.machine.ticks;
        let window = Window::after(WARMUP.as_secs(), self.args.seconds);
        self.runtime.block_on(async {
            // Message-Ids of this phase's own, after those that filled the INBOXes.
            let next = Arc::new(AtomicUsize::new(nodes * 10_000_000));
            let senders: Vec<_> = (0..self.args.smtp_sessions)
                .map(|s| {
                    let seed = (run * 10_000 + nodes * 1_000 + s) as u64;
                    let (smtp, recipients) = (Arc::clone(&smtp), Arc::clone(&recipients));
                    let (next, body) = (Arc::clone(&next), Arc::clone(&body));
                    tokio::spawn(smtp_session(smtp, recipients, next, body, window, seed))
                })
                .collect();
            let fetchers: Vec<_> = sessions
                .into_iter()
                .enumerate()
                .map(|(s, (node, session))| {
                    let seed = (run * 10_000 + nodes * 1_000 + s) as u64;
                    let reader = Reader { node, nodes, seed };
                    tokio::spawn(fetch_session(session, reader, window))
                })
                .collect();
            tokio::time::sleep_until(window.start.into()).await;
            let before = CpuSample::take(running, ticks);
            tokio::time::sleep_until(window.end.into()).await;
            let after = CpuSample::take(running, ticks);
            let (mut smtp, mut fetch) = (Tally::new(nodes), Tally::new(nodes));
            for sender in senders {
                smtp.add(sender.await?);
            }
            for fetcher in fetchers {
                fetch.add(fetcher.await?);
            }
            let window = Duration::from_secs_f64(window.seconds());
            anyhow::Ok(Phase {
                nodes,
                window,
                smtp,
                fetch,
                busy: before.busy_until(&after, window),
            })
        })
    }

    /// [`INBOX_MESSAGES`] messages into each reader's INBOX through the MX at `addr`, a few
    /// sessions at a time.
    pub(super) fn fill_inboxes(&self, addr: SocketAddr, seeded: &Seeded) -> anyhow::Result<()> {
        let jobs: Arc<Vec<String>> = Arc::new(
            seeded
                .readers
                .iter()
                .flat_map(|r| std::iter::repeat_n(r.address.clone(), INBOX_MESSAGES))
                .collect(),
        );
        let body = Arc::new(payload(MESSAGE_BYTES));
        let next = Arc::new(AtomicUsize::new(0));
        self.runtime.block_on(async {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let (jobs, body, next) = (Arc::clone(&jobs), Arc::clone(&body), next.clone());
                    tokio::spawn(async move {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(to) = jobs.get(i) else {
                                return Ok(());
                            };
                            let head = smtp_source_head(to, i);
                            deliver(addr, &[to], head.as_bytes(), &body).await?;
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker
                    .await?
                    .map_err(|e: String| anyhow::anyhow!("filling the INBOXes: {e}"))?;
            }
            anyhow::Ok(())
        })
    }
}

/// Each reader logged in with INBOX selected, reader `i` on node `i % nodes`; checks that
/// each INBOX holds its seeded messages.
async fn open_readers(
    imaps: &[SocketAddr],
    tls: &TlsConnector,
    readers: &[Official],
) -> anyhow::Result<Vec<(usize, ImapSession)>> {
    let mut sessions = Vec::new();
    for (i, reader) in readers.iter().enumerate() {
        let node = i % imaps.len();
        let (session, exists) = open_inbox(imaps[node], tls, &reader.login)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}: {e}", NODE_NAMES[node], reader.login))?;
        anyhow::ensure!(
            exists >= INBOX_MESSAGES,
            "{}'s INBOX holds {exists} messages, fewer than the {INBOX_MESSAGES} seeded",
            reader.login
        );
        sessions.push((node, session));
    }
    Ok(sessions)
}

/// One SMTP session of the load: a message to a random official on a new connection, the
/// node taken in turn with the other sessions, until the window ends; a 250 counts when it
/// comes within the window, a failure whenever it comes.
async fn smtp_session(
    nodes: Arc<Vec<SocketAddr>>,
    recipients: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    body: Arc<Vec<u8>>,
    window: Window,
    seed: u64,
) -> Tally {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut tally = Tally::new(nodes.len());
    while Instant::now() < window.end {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let node = i % nodes.len();
        let to = &recipients[rng.random_range(0..recipients.len())];
        let head = smtp_source_head(to, i);
        match deliver(nodes[node], &[to], head.as_bytes(), &body).await {
            Ok(_) if window.contains(Instant::now()) => tally.per_node[node] += 1,
            Ok(_) => {}
            Err(e) => tally.fail(format!("{}: {e}", NODE_NAMES[node])),
        }
    }
    tally
}

/// Where a fetching session runs and how it picks its messages.
#[derive(Debug, Clone, Copy)]
struct Reader {
    node: usize,
    nodes: usize,
    seed: u64,
}

/// One IMAP session of the load: `FETCH n BODY.PEEK[]` of a random seeded message until the
/// window ends, counted as [`smtp_session`] counts; an answer without the message's bytes is
/// a failure, a broken session ends.
async fn fetch_session(mut session: ImapSession, reader: Reader, window: Window) -> Tally {
    let mut rng = rand::rngs::StdRng::seed_from_u64(reader.seed);
    let mut tally = Tally::new(reader.nodes);
    let name = NODE_NAMES[reader.node];
    while Instant::now() < window.end {
        let n = rng.random_range(1..=INBOX_MESSAGES);
        let mut answered = false;
        let command = format!("FETCH {n} BODY.PEEK[]");
        let result = session
            .command(&command, |r| {
                answered |= untagged_number(r, b"FETCH") == Some(n as u64) && has_body(r);
            })
            .await;
        match result {
            Ok(()) if answered => {
                if window.contains(Instant::now()) {
                    tally.per_node[reader.node] += 1;
                }
            }
            Ok(()) => tally.fail(format!("{name}: {command} → no message in the answer")),
            Err(e) => {
                tally.fail(format!("{name}: {e}"));
                return tally;
            }
        }
    }
    session.logout().await;
    tally
}

/// Whether a FETCH response carries a message as a literal (`BODY[] {n}`).
pub(super) fn has_body(response: &[u8]) -> bool {
    response.windows(8).any(|w| w == b"BODY[] {")
}
