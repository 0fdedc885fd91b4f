//! The runs: the four sides taking turns on one message stream, the scripts switched on and
//! off between them, and every acknowledged message found where its side files it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::clock::Clock;
use congvu::mailstore::MailboxRole;
use congvu::sieve::scripts::Scripts;
use congvu::sieve::{Filters, RedirectPolicy};
use congvu::store::{Store, StoreOptions};

use crate::admin::Official;
use crate::figures::turns;
use crate::server::HOSTNAME;
use crate::smtp::{measure_stream, payload, Compose, Load, Stream, StreamRun, BENCH_ENVELOPE};

use super::*;

/// The four sides of V1, in the order the first run takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Congvu,
    CongvuSieve,
    Dovecot,
    DovecotSieve,
}

pub(super) const SIDES: [Side; 4] = [
    Side::Congvu,
    Side::CongvuSieve,
    Side::Dovecot,
    Side::DovecotSieve,
];

impl Side {
    pub(super) fn name(self) -> &'static str {
        match self {
            Side::Congvu => "congvu without scripts",
            Side::CongvuSieve => "congvu with scripts",
            Side::Dovecot => "Postfix → Dovecot without scripts",
            Side::DovecotSieve => "Postfix → Dovecot with Pigeonhole",
        }
    }

    pub(super) fn scripts(self) -> bool {
        matches!(self, Side::CongvuSieve | Side::DovecotSieve)
    }

    /// Where the side's messages go: INBOX, or the script's folder.
    pub(super) fn folder(self) -> Option<&'static str> {
        self.scripts().then_some(FOLDER)
    }
}

/// One run on one side.
pub(super) type Run = StreamRun;

/// What V1 measured: each side's runs, in run order, and where the messages were found.
#[derive(Debug, Default)]
pub(super) struct Results {
    pub(super) runs: [Vec<Run>; 4],
    /// congvu's INBOXes and folders against what was acknowledged.
    pub(super) congvu_census: String,
    /// Dovecot's Maildir folders against what was acknowledged.
    pub(super) dovecot_census: String,
}

impl Results {
    pub(super) fn of(&self, side: Side) -> &[Run] {
        &self.runs[side as usize]
    }
}

/// Messages each recipient was acknowledged, into INBOX and into the script's folder.
#[derive(Debug, Clone)]
pub(super) struct Expected {
    pub(super) inbox: Vec<usize>,
    pub(super) folder: Vec<usize>,
}

impl Expected {
    fn new(recipients: usize) -> Expected {
        Expected {
            inbox: vec![0; recipients],
            folder: vec![0; recipients],
        }
    }

    fn add(&mut self, side: Side, load: &Load) {
        let counts = if side.scripts() {
            &mut self.folder
        } else {
            &mut self.inbox
        };
        for (count, n) in counts.iter_mut().zip(&load.acknowledged) {
            *count += n;
        }
    }

    fn of(&self, side: Side) -> &[usize] {
        if side.scripts() {
            &self.folder
        } else {
            &self.inbox
        }
    }
}

pub(super) struct Bench<'a> {
    pub(super) args: &'a SieveArgs,
    pub(super) runtime: &'a tokio::runtime::Runtime,
    pub(super) recipients: &'a [Official],
    pub(super) ticks: f64,
    /// congvu's database, written and read with the server stopped.
    pub(super) db: String,
    pub(super) congvu: Congvu,
    pub(super) postfix: Postfix,
    pub(super) dovecot: Dovecot,
}

impl Bench<'_> {
    pub(super) fn with_logs(&self, e: anyhow::Error) -> anyhow::Error {
        let tail = crate::process::log_tail;
        anyhow::anyhow!(
            "{e:#}\n\ncongvu's log ends with:\n{}\n\nPostfix's log ends with:\n{}\n\n\
             Dovecot's log ends with:\n{}",
            tail(&self.congvu.log),
            tail(&self.postfix.setup.log),
            tail(&self.dovecot.setup.log)
        )
    }

    /// Every run of every side, the sides taking turns, then the census of both servers.
    pub(super) fn measure(&mut self) -> anyhow::Result<Results> {
        self.dovecot.start()?;
        self.postfix.start()?;
        let mut results = Results::default();
        let mut congvu = Expected::new(self.recipients.len());
        let mut dovecot = Expected::new(self.recipients.len());
        for run in 0..self.args.runs {
            for turn in turns(run, SIDES.len()) {
                let side = SIDES[turn];
                println!("V1 run {}/{}: {}", run + 1, self.args.runs, side.name());
                let outcome = match side {
                    Side::Congvu | Side::CongvuSieve => self.congvu_run(side, &mut congvu)?,
                    Side::Dovecot | Side::DovecotSieve => self.dovecot_run(side, &mut dovecot)?,
                };
                println!(
                    "  {:.0}/s delivered ({:.0}/s answered 250), p99 {:.2} ms, {:.0} µs of \
                     server CPU each, {} failures",
                    outcome.s1.delivered_per_second(),
                    outcome.s1.accepted_per_second(),
                    outcome.p(0.99),
                    outcome.s1.cpu_us_per_message(),
                    outcome.s1.failures
                );
                results.runs[side as usize].push(outcome);
            }
        }
        self.postfix.stop()?;
        self.dovecot.stop()?;
        results.dovecot_census =
            dovecot_census(&self.dovecot.setup.homes, self.recipients, &dovecot);
        results.congvu_census =
            self.runtime
                .block_on(congvu_census(&self.db, self.recipients, &congvu))?;
        println!("  {}\n  {}", results.congvu_census, results.dovecot_census);
        Ok(results)
    }

    /// One congvu run: the scripts switched with the server stopped, then a fresh server.
    fn congvu_run(&mut self, side: Side, expected: &mut Expected) -> anyhow::Result<Run> {
        self.runtime
            .block_on(activate_scripts(&self.db, self.recipients, side.scripts()))?;
        self.congvu.start()?;
        if let crate::smtp::Greeting::Refused(text) =
            self.runtime.block_on(self.congvu.wait_ready())?
        {
            anyhow::bail!("congvu refused connections: {text}");
        }
        let cpu = || self.congvu.cpu();
        let (run, load) = self.load(self.congvu.addr, &cpu, &mut |_, _| Ok(None))?;
        self.congvu.stop()?;
        expected.add(side, &load);
        Ok(run)
    }

    /// One run through Postfix into Dovecot, timed until every message is in its folder.
    fn dovecot_run(&mut self, side: Side, expected: &mut Expected) -> anyhow::Result<Run> {
        switch_scripts(&self.dovecot.setup.homes, side.scripts())?;
        let log_from = self.dovecot.log_length();
        let before = expected.clone();
        let cpu = || self.postfix.cpu() + self.dovecot.cpu();
        let mut wait = |load: &Load, started: Instant| {
            let mut after = before.clone();
            after.add(side, load);
            let limit = Duration::from_secs(600).max(started.elapsed() * 20);
            self.wait_in_folders(side, after.of(side), log_from, limit)
                .map(Some)
        };
        let (run, load) = self.load(self.postfix.setup.addr, &cpu, &mut wait)?;
        expected.add(side, &load);
        Ok(run)
    }

    /// Waits until each recipient's folder of `side` holds `expected` messages; returns when
    /// the last arrived (to within the polling interval), or fails after `limit` or as soon
    /// as a log says delivery went wrong.
    fn wait_in_folders(
        &self,
        side: Side,
        expected: &[usize],
        log_from: u64,
        limit: Duration,
    ) -> anyhow::Result<Instant> {
        let mut pending: Vec<(&Path, usize)> = self
            .dovecot
            .setup
            .homes
            .iter()
            .zip(expected)
            .map(|(home, &n)| (home.as_path(), n))
            .collect();
        let deadline = Instant::now() + limit;
        let mut poll = 0u64;
        loop {
            poll += 1;
            pending.retain(|(home, n)| messages_in(home, side.folder()) < *n);
            let now = Instant::now();
            if pending.is_empty() {
                return Ok(now);
            }
            if poll % 25 == 0 {
                if let Some(trouble) = self.postfix.log_trouble() {
                    anyhow::bail!("Postfix cannot deliver: {trouble}");
                }
                if let Some(trouble) = self.dovecot.trouble(log_from) {
                    anyhow::bail!("Dovecot: {trouble}");
                }
            }
            anyhow::ensure!(
                now < deadline,
                "{} of {} recipients' folders short after {} s",
                pending.len(),
                expected.len(),
                limit.as_secs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One run of the message stream against `addr`; `delivered` is when the last message
    /// could be read (`None`: at its 250) and `cpu` the server CPU used so far.
    fn load(
        &self,
        addr: std::net::SocketAddr,
        cpu: &dyn Fn() -> Duration,
        delivered: &mut dyn FnMut(&Load, Instant) -> anyhow::Result<Option<Instant>>,
    ) -> anyhow::Result<(Run, Load)> {
        let compose: Compose = Arc::new(|i, to| head(to, i));
        let recipients = Arc::new(self.recipients.iter().map(|o| o.address.clone()).collect());
        let stream = Stream {
            addr,
            envelope: BENCH_ENVELOPE,
            sessions: self.args.sessions,
            messages: self.args.messages,
            recipients,
            compose,
            body: Arc::new(payload(self.args.length)),
        };
        measure_stream(self.runtime, self.ticks, stream, cpu, delivered)
    }
}

async fn open_store(url: &str) -> anyhow::Result<Store> {
    Ok(Store::open(&StoreOptions {
        url: url.to_string(),
        max_connections: 2,
        busy_timeout: Duration::from_secs(5),
    })
    .await?)
}

/// The library's script keeper, as the server builds it for `[sieve] redirect`'s default.
fn scripts(store: &Store) -> Scripts {
    let filters = Filters::new(HOSTNAME, RedirectPolicy::default());
    Scripts::new(store.clone(), Clock::system(), Arc::new(filters))
}

/// The ids of `officials`, in their order.
async fn ids_of(
    store: &Store,
    officials: &[Official],
) -> anyhow::Result<Vec<congvu::model::OfficialId>> {
    let all = store.read().await?.all_officials().await?;
    officials
        .iter()
        .map(|o| {
            all.iter()
                .find(|a| a.login == o.login)
                .map(|a| a.id)
                .with_context(|| format!("{} is not in the store", o.login))
        })
        .collect()
}

/// Stores [`SCRIPT`] as every recipient's `main`, inactive; returns how long it took.
pub(super) async fn put_scripts(url: &str, recipients: &[Official]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let store = open_store(url).await?;
    let scripts = scripts(&store);
    for id in ids_of(&store, recipients).await? {
        scripts.put(id, SCRIPT_NAME, SCRIPT).await?;
    }
    store.close().await;
    Ok(started.elapsed())
}

/// Makes every recipient's `main` active, or leaves none active.
pub(super) async fn activate_scripts(
    url: &str,
    recipients: &[Official],
    active: bool,
) -> anyhow::Result<()> {
    let store = open_store(url).await?;
    let scripts = scripts(&store);
    for id in ids_of(&store, recipients).await? {
        scripts.activate(id, active.then_some(SCRIPT_NAME)).await?;
    }
    store.close().await;
    Ok(())
}

/// Whether each recipient's INBOX and script folder hold what was acknowledged into them.
pub(super) async fn congvu_census(
    url: &str,
    recipients: &[Official],
    expected: &Expected,
) -> anyhow::Result<String> {
    let store = open_store(url).await?;
    let ids = ids_of(&store, recipients).await?;
    let mut found = Expected::new(recipients.len());
    {
        let mut conn = store.read().await?;
        for (j, id) in ids.into_iter().enumerate() {
            for mailbox in conn.mailboxes_of(id).await? {
                let count = if mailbox.role == Some(MailboxRole::Inbox) {
                    &mut found.inbox[j]
                } else if mailbox.name == FOLDER {
                    &mut found.folder[j]
                } else {
                    continue;
                };
                *count = conn.messages_in(mailbox.id).await?.len();
            }
        }
    }
    store.close().await;
    Ok(census_line(
        "congvu",
        "in the store",
        recipients,
        expected,
        &found,
    ))
}

/// Whether each Dovecot home's INBOX and script folder hold what was acknowledged into them.
pub(super) fn dovecot_census(
    homes: &[PathBuf],
    recipients: &[Official],
    expected: &Expected,
) -> String {
    let found = Expected {
        inbox: homes.iter().map(|h| messages_in(h, None)).collect(),
        folder: homes.iter().map(|h| messages_in(h, Some(FOLDER))).collect(),
    };
    census_line("Dovecot", "as Maildir files", recipients, expected, &found)
}

/// One line saying whether `found` is `expected`, naming a few recipients where not.
fn census_line(
    server: &str,
    how: &str,
    recipients: &[Official],
    expected: &Expected,
    found: &Expected,
) -> String {
    let total = |e: &Expected| {
        (
            e.inbox.iter().sum::<usize>(),
            e.folder.iter().sum::<usize>(),
        )
    };
    let (inbox, folder) = total(expected);
    let short: Vec<String> = recipients
        .iter()
        .enumerate()
        .filter(|&(j, _)| {
            found.inbox[j] != expected.inbox[j] || found.folder[j] != expected.folder[j]
        })
        .take(5)
        .map(|(j, o)| {
            format!(
                "{} INBOX {}/{}, folder {}/{}",
                o.login, found.inbox[j], expected.inbox[j], found.folder[j], expected.folder[j]
            )
        })
        .collect();
    if short.is_empty() {
        format!(
            "{server}: all {inbox} messages acknowledged without scripts are in their INBOXes \
             and all {folder} acknowledged with scripts in “{FOLDER}”, counted {how}"
        )
    } else {
        format!("{server}: MISMATCH, e.g. {}", short.join("; "))
    }
}
