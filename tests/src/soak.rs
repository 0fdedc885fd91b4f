//! The crash soak: the real `congvu-server` binary under mixed load (SMTP on the MX port
//! with DATA and with BDAT, submission with AUTH PLAIN over STARTTLS and implicit TLS to
//! officials and to other domains, IMAP APPEND and MOVE), killed with SIGKILL at a random
//! moment of every round and restarted on the same database, as many times as asked. After
//! every kill, before the restart, the database is read through congvu's own library and held
//! against what each client saw acknowledged: a message the server acknowledged is in each
//! recipient's mailbox exactly once and byte for byte, or queued for (or relayed to) each
//! remote recipient; nothing is stored in part; reference counts equal holders; UIDNEXT is
//! above every UID; a MOVE acknowledged is in its destination only, one unanswered in exactly
//! one of the two mailboxes. The same checks run once more after a last restart.
//!
//! This module owns the soak's options, its report and the round loop; `ledger` keeps what
//! the clients did, `load` runs them, `process` owns the server child and its database,
//! `check` the checks, `wire` the connections.

mod check;
mod ledger;
mod load;
mod process;
mod wire;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use self::check::Checker;
use self::ledger::{Kind, Ledger, Outcome};
use self::load::{Load, RoundContext};
use self::process::{Scratch, ServerChild};
use crate::smtp_sink::SmtpSink;

pub use self::check::after_trace;

/// Longest the server may take to start.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long the server gets to stop on SIGTERM at the end.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long PostgreSQL gets to finish what a killed server had sent it.
const BACKENDS_DEADLINE: Duration = Duration::from_secs(60);

/// Which database the soak runs on; it creates a fresh one and removes it afterwards (unless
/// a check failed: then it is kept and named in the report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoakDatabase {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A new schema on the PostgreSQL server at `url`.
    Postgres { url: String },
}

/// How many clients of each kind run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clients {
    /// MX sessions sending with DATA.
    pub mx_data: usize,
    /// MX sessions sending in BDAT chunks.
    pub mx_bdat: usize,
    /// Submission sessions (AUTH PLAIN over STARTTLS or implicit TLS).
    pub submission: usize,
    /// One IMAP session per IMAP official, APPENDing and MOVEing.
    pub imap: bool,
}

impl Default for Clients {
    fn default() -> Self {
        Clients {
            mx_data: 2,
            mx_bdat: 1,
            submission: 2,
            imap: true,
        }
    }
}

/// What the soak does.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// The `congvu-server` binary to start.
    pub server_binary: PathBuf,
    pub database: SoakDatabase,
    /// Kill-and-restart rounds.
    pub kills: usize,
    /// Seeds the messages, the recipients, the clients' choices and the kill moments. The
    /// interleaving with the server still depends on timing: a seed replays the same load,
    /// not the same race.
    pub seed: u64,
    /// The kill lands uniformly between these two times after the load starts.
    pub kill_after: (Duration, Duration),
    pub clients: Clients,
    /// After the last kill, how long the restarted server gets to relay what is queued
    /// (entries a killed server had claimed wait for their 10 s lease to lapse).
    pub drain: Duration,
    /// Print a line per round on standard error.
    pub progress: bool,
}

impl SoakOptions {
    /// 1,000 kills between 50 ms and 1.5 s into each round, the default clients, seed 1.
    pub fn new(server_binary: PathBuf, database: SoakDatabase) -> SoakOptions {
        SoakOptions {
            server_binary,
            database,
            kills: 1_000,
            seed: 1,
            kill_after: (Duration::from_millis(50), Duration::from_millis(1_500)),
            clients: Clients::default(),
            drain: Duration::from_secs(30),
            progress: false,
        }
    }
}

/// Counts by kind of operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub mx_data: u64,
    pub mx_bdat: u64,
    pub submission: u64,
    pub append: u64,
    pub moves: u64,
}

impl KindCounts {
    fn add(&mut self, kind: Kind) {
        match kind {
            Kind::MxData => self.mx_data += 1,
            Kind::MxBdat => self.mx_bdat += 1,
            Kind::Submission => self.submission += 1,
            Kind::Append => self.append += 1,
            Kind::Move => self.moves += 1,
        }
    }

    /// Every operation counted.
    pub fn total(&self) -> u64 {
        self.mx_data + self.mx_bdat + self.submission + self.append + self.moves
    }
}

/// When a check ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckPoint {
    /// After kill number n (from 1), before the restart.
    AfterKill(usize),
    /// After the last restart, a probe message and a clean stop.
    Final,
}

/// Which promise a violation broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// An acknowledged message (or a committed one) missing from a mailbox or the queue.
    Lost,
    /// More than one copy where there must be one.
    Duplicated,
    /// Bytes stored that no client sent whole, or a message stored for some of its
    /// recipients only.
    HalfPresent,
    /// A copy in a mailbox it was never sent to.
    Misplaced,
    /// A refused message, or one found absent after its kill, stored later.
    Phantom,
    /// A body whose reference count differs from its holders.
    Refcount,
    /// A mailbox whose UIDNEXT is not above its highest UID.
    Uidnext,
    /// An acknowledged UID (APPENDUID, COPYUID) that is not the stored one.
    UidChanged,
    /// The server did not come back after a kill, died on its own, or refused mail after
    /// the restarts.
    Server,
    /// The database could not be read after a kill.
    Unreadable,
}

/// One broken promise, with what is needed to find it again.
#[derive(Debug, Clone)]
pub struct Violation {
    pub at: CheckPoint,
    pub kind: ViolationKind,
    pub detail: String,
}

/// What a soak did and found.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// `SQLite` or `PostgreSQL`.
    pub backend: &'static str,
    pub seed: u64,
    /// Rounds of load, each ended by a kill.
    pub rounds: usize,
    pub kills: usize,
    /// Operations sent (messages, APPENDs, MOVEs).
    pub attempted: KindCounts,
    /// Operations the server acknowledged (`250`, tagged `OK`).
    pub acknowledged: KindCounts,
    /// Unanswered operations found done whole: the commit beat the kill.
    pub in_flight_stored: u64,
    /// Copies the acknowledged messages must have at the last check (one per local
    /// recipient, one per remote recipient, one per APPEND), and how many were there as
    /// they must be.
    pub expected: u64,
    pub found: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub half_present: u64,
    /// Distinct (message, recipient) pairs the smart host received, and how many times it
    /// received one again (at-least-once relaying after a kill mid-transfer).
    pub relayed: u64,
    pub redelivered: u64,
    /// Of those repeats, the ones made by the same server process as the first delivery:
    /// no kill between them explains them.
    pub redelivered_in_one_life: u64,
    /// Queue entries left at the last check.
    pub queued_at_end: u64,
    /// PostgreSQL: the longest a killed server's connections stayed open after the kill
    /// (each check waits for them; see `wait_for_server_connections`).
    pub backends_wait_max: Duration,
    pub elapsed: Duration,
    /// Every violation, first occurrence only.
    pub violations: Vec<Violation>,
    /// Where the database was kept because something was found.
    pub kept: Option<String>,
}

impl SoakReport {
    fn new(options: &SoakOptions) -> SoakReport {
        SoakReport {
            backend: match options.database {
                SoakDatabase::Sqlite => "SQLite",
                SoakDatabase::Postgres { .. } => "PostgreSQL",
            },
            seed: options.seed,
            rounds: 0,
            kills: 0,
            attempted: KindCounts::default(),
            acknowledged: KindCounts::default(),
            in_flight_stored: 0,
            expected: 0,
            found: 0,
            lost: 0,
            duplicated: 0,
            half_present: 0,
            relayed: 0,
            redelivered: 0,
            redelivered_in_one_life: 0,
            queued_at_end: 0,
            backends_wait_max: Duration::ZERO,
            elapsed: Duration::ZERO,
            violations: Vec::new(),
            kept: None,
        }
    }

    /// Whether every promise held.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    fn violation(&mut self, at: CheckPoint, kind: ViolationKind, detail: String) {
        self.violations.push(Violation { at, kind, detail });
    }

    /// Counts what the ledger says the clients did.
    fn tally(&mut self, ledger: &Ledger) {
        let (mut attempted, mut acknowledged) = (KindCounts::default(), KindCounts::default());
        for letter in &ledger.letters {
            attempted.add(letter.kind);
            if letter.outcome == Outcome::Acknowledged {
                acknowledged.add(letter.kind);
            }
        }
        for record in &ledger.moves {
            attempted.add(Kind::Move);
            if record.outcome == Outcome::Acknowledged {
                acknowledged.add(Kind::Move);
            }
        }
        self.attempted = attempted;
        self.acknowledged = acknowledged;
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, k) = (&self.acknowledged, &self.attempted);
        writeln!(
            f,
            "crash soak on {}, seed {}: {} kills in {} rounds, {:.1} s",
            self.backend,
            self.seed,
            self.kills,
            self.rounds,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "  acknowledged / sent:")?;
        for (name, acked, sent) in [
            ("MX DATA", a.mx_data, k.mx_data),
            ("MX BDAT", a.mx_bdat, k.mx_bdat),
            ("submission", a.submission, k.submission),
            ("IMAP APPEND", a.append, k.append),
            ("IMAP MOVE", a.moves, k.moves),
        ] {
            writeln!(f, "    {name:<12} {acked:>8} / {sent}")?;
        }
        writeln!(
            f,
            "  unanswered but stored whole: {}",
            self.in_flight_stored
        )?;
        writeln!(
            f,
            "  copies expected {}, found {}; lost {}, duplicated {}, half-present {}",
            self.expected, self.found, self.lost, self.duplicated, self.half_present
        )?;
        writeln!(
            f,
            "  relayed to the smart host {} (again: {}, of which in one server life: {}), still queued {}",
            self.relayed, self.redelivered, self.redelivered_in_one_life, self.queued_at_end
        )?;
        if self.backend == "PostgreSQL" {
            writeln!(
                f,
                "  longest wait for a killed server's PostgreSQL connections to end: {} ms",
                self.backends_wait_max.as_millis()
            )?;
        }
        writeln!(f, "  violations: {}", self.violations.len())?;
        for v in &self.violations {
            writeln!(f, "    {:?} {:?}: {}", v.at, v.kind, v.detail)?;
        }
        if let Some(kept) = &self.kept {
            writeln!(f, "  database kept at {kept}")?;
        }
        Ok(())
    }
}

/// Everything one soak holds across rounds.
struct Soak {
    options: SoakOptions,
    scratch: Scratch,
    config: PathBuf,
    sink: SmtpSink,
    ledger: Arc<Mutex<Ledger>>,
    checker: Checker,
    report: SoakReport,
}

/// Runs the soak. `Err` only when it cannot start (no database, no binary); what it finds is
/// in the report.
pub async fn run(mut options: SoakOptions) -> anyhow::Result<SoakReport> {
    let started = Instant::now();
    // The server runs in the soak's directory: a relative path would not find it there.
    options.server_binary = std::fs::canonicalize(&options.server_binary)
        .with_context(|| format!("{}", options.server_binary.display()))?;
    let scratch = Scratch::create(&options.database).await?;
    let officials = process::seed(&scratch).await?;
    let sink = SmtpSink::builder().start().await;
    let config = process::write_config(&scratch, &sink.smart_host())?;
    let mut soak = Soak {
        report: SoakReport::new(&options),
        options,
        scratch,
        config,
        sink,
        ledger: Arc::new(Mutex::new(Ledger::default())),
        checker: Checker::new(officials),
    };
    let mut rng = StdRng::seed_from_u64(soak.options.seed);
    for round in 1..=soak.options.kills {
        let (low, high) = soak.options.kill_after;
        let kill_after = rng.random_range(low..=high.max(low));
        if !soak.round(round, kill_after).await {
            break;
        }
    }
    if soak.report.is_clean() {
        soak.finish().await;
    }
    let ledger = soak.ledger.lock().unwrap_or_else(|e| e.into_inner());
    soak.report.tally(&ledger);
    drop(ledger);
    soak.report.elapsed = started.elapsed();
    if !soak.report.is_clean() {
        soak.report.kept = Some(soak.scratch.keep());
    }
    Ok(soak.report)
}

impl Soak {
    /// One round: start, load, kill after `kill_after`, check. `false` when the soak cannot
    /// go on (the server did not start, the database cannot be read).
    async fn round(&mut self, round: usize, kill_after: Duration) -> bool {
        let at = CheckPoint::AfterKill(round);
        let Some((mut server, context)) = self.start(round, at).await else {
            return false;
        };
        let load = Load::start(context, &self.options.clients);
        tokio::time::sleep(kill_after).await;
        let killed = server.kill_hard();
        load.stop().await;
        drop(server);
        self.report.rounds = round;
        if let Err(detail) = killed {
            // Still worth knowing what a server that died on its own left behind.
            self.report.violation(at, ViolationKind::Server, detail);
            self.check(at).await;
            return false;
        }
        self.report.kills = round;
        let before = self.report.violations.len();
        if !self.check(at).await {
            return false;
        }
        if self.options.progress {
            let ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
            let sent = ledger.letters.len() + ledger.moves.len();
            drop(ledger);
            eprintln!(
                "kill {round}/{} at {} ms: {sent} operations so far, {} new violations",
                self.options.kills,
                kill_after.as_millis(),
                self.report.violations.len() - before
            );
        }
        true
    }

    /// Starts the server and waits until it is ready; a server that does not come back is a
    /// violation.
    async fn start(&mut self, round: usize, at: CheckPoint) -> Option<(ServerChild, RoundContext)> {
        let binary = &self.options.server_binary;
        let mut server = match ServerChild::spawn(binary, &self.config, self.scratch.root()) {
            Ok(server) => server,
            Err(e) => {
                self.report
                    .violation(at, ViolationKind::Server, format!("{e:#}"));
                return None;
            }
        };
        let listeners = match server.ready(START_DEADLINE).await {
            Ok(listeners) => listeners,
            Err(log) => {
                let detail = format!("the server did not start for round {round}: {log}");
                self.report.violation(at, ViolationKind::Server, detail);
                return None;
            }
        };
        let tls = match wire::connector(&self.scratch.certificate()) {
            Ok(tls) => tls,
            Err(e) => {
                self.report
                    .violation(at, ViolationKind::Server, e.to_string());
                return None;
            }
        };
        let context = RoundContext {
            round,
            seed: self.options.seed,
            listeners,
            tls,
            ledger: Arc::clone(&self.ledger),
            stop: Default::default(),
        };
        Some((server, context))
    }

    /// Runs the checks with the server down; `false` when the database cannot be read.
    async fn check(&mut self, at: CheckPoint) -> bool {
        match self
            .scratch
            .wait_for_server_connections(BACKENDS_DEADLINE)
            .await
        {
            Ok(waited) => self.report.backends_wait_max = self.report.backends_wait_max.max(waited),
            Err(detail) => {
                self.report.violation(at, ViolationKind::Unreadable, detail);
                return false;
            }
        }
        let store = match self.scratch.open().await {
            Ok(store) => store,
            Err(e) => {
                self.report
                    .violation(at, ViolationKind::Unreadable, format!("{e:#}"));
                return false;
            }
        };
        // The clients have stopped: the ledger is the checks' alone until the next round.
        let mut ledger =
            std::mem::take(&mut *self.ledger.lock().unwrap_or_else(|e| e.into_inner()));
        let checked = self
            .checker
            .check(&store, &mut ledger, &self.sink, at, &mut self.report)
            .await;
        *self.ledger.lock().unwrap_or_else(|e| e.into_inner()) = ledger;
        store.close().await;
        match checked {
            Ok(()) => true,
            Err(detail) => {
                self.report.violation(at, ViolationKind::Unreadable, detail);
                false
            }
        }
    }

    /// After the last kill: restart, one probe message that must be acknowledged, time for
    /// the queue to drain into the sink, a clean stop, and the checks once more.
    async fn finish(&mut self) {
        let at = CheckPoint::Final;
        let round = self.options.kills + 1;
        let Some((mut server, context)) = self.start(round, at).await else {
            return;
        };
        match load::probe(&context).await {
            Ok(Outcome::Acknowledged) => {}
            other => {
                let detail = format!(
                    "after the restarts a message was not accepted: {other:?}; log:\n{}",
                    server.tail()
                );
                self.report.violation(at, ViolationKind::Server, detail);
            }
        }
        self.drain().await;
        if let Err(detail) = server.terminate(STOP_GRACE).await {
            self.report.violation(at, ViolationKind::Server, detail);
        }
        drop(server);
        self.check(at).await;
    }

    /// Waits (up to the drain time) until the queue is empty.
    async fn drain(&self) {
        let Ok(store) = self.scratch.open().await else {
            return;
        };
        let deadline = Instant::now() + self.options.drain;
        while Instant::now() < deadline {
            if queue_size(&store).await == Some(0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        store.close().await;
    }
}

async fn queue_size(store: &Store) -> Option<i64> {
    store.read().await.ok()?.queue_size().await.ok()
}
