//! The runs: S4's modes on congvu alone and S5's filtered servers taking turns, the scans
//! counted on every side, and the verdicts read back from the INBOXes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu::mailstore::MailboxRole;
use congvu::store::{Store, StoreOptions};
use congvu_tests::dns::DnsServer;

use crate::admin::Official;
use crate::figures::turns;
use crate::server::HOSTNAME;
use crate::smtp::{
    inbox_census, measure_stream, payload, smtp_source_head, Compose, Congvu, Envelope, Greeting,
    Load, Postfix, Stream, StreamRun, BENCH_ENVELOPE,
};

use super::*;

/// One run on one side.
pub(super) type Run = StreamRun;

/// What S4 measured.
#[derive(Debug, Default)]
pub(super) struct S4 {
    pub(super) off: Vec<Run>,
    pub(super) enforce: Vec<Run>,
    /// Questions the DNS server was asked in each enforce run.
    pub(super) questions: Vec<usize>,
    /// Whether every acknowledged message is in its INBOX.
    pub(super) census: String,
    /// What the sampled mailboxes' `Authentication-Results:` said.
    pub(super) verdicts: String,
}

/// Scans counted around one S5 run.
#[derive(Debug, Default, Clone)]
pub(super) struct Scans {
    /// congvu's `congvu_filter_scans_total` increase, by `engine/outcome`.
    pub(super) congvu: BTreeMap<String, f64>,
    /// rspamd's `/stat` scanned increase.
    pub(super) rspamd: u64,
    /// Clean streams clamd logged.
    pub(super) clamd: usize,
}

/// What S5 measured.
#[derive(Debug, Default)]
pub(super) struct S5 {
    pub(super) congvu: Vec<(Run, Scans)>,
    pub(super) postfix: Vec<(Run, Scans)>,
}

#[derive(Debug, Default)]
pub(super) struct Results {
    pub(super) s4: Option<S4>,
    pub(super) s5: Option<S5>,
}

pub(super) struct Bench<'a> {
    pub(super) args: &'a InboundArgs,
    pub(super) runtime: &'a tokio::runtime::Runtime,
    pub(super) officials: &'a [Official],
    pub(super) ticks: f64,
    pub(super) congvu: Congvu,
    pub(super) http_port: u16,
    /// congvu's database, read with the server stopped.
    pub(super) db: String,
}

impl Bench<'_> {
    pub(super) fn with_log(&self, e: anyhow::Error) -> anyhow::Error {
        let text = std::fs::read_to_string(&self.congvu.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        anyhow::anyhow!("{e:#}\n\ncongvu's log ends with:\n{tail}")
    }

    pub(super) fn recipients(&self) -> Arc<Vec<String>> {
        Arc::new(
            self.officials[..self.args.mailboxes]
                .iter()
                .map(|o| o.address.clone())
                .collect(),
        )
    }

    pub(super) fn start_congvu(&mut self, config: &Path) -> anyhow::Result<()> {
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
    pub(super) fn load(
        &self,
        addr: SocketAddr,
        envelope: Envelope,
        compose: Compose,
        body: Arc<Vec<u8>>,
        cpu: &dyn Fn() -> Duration,
        delivered: &mut dyn FnMut(&Load, Instant) -> anyhow::Result<Option<Instant>>,
    ) -> anyhow::Result<(Run, Load)> {
        let stream = Stream {
            addr,
            envelope,
            sessions: self.args.sessions,
            messages: self.args.messages,
            recipients: self.recipients(),
            compose,
            body,
        };
        measure_stream(self.runtime, self.ticks, stream, cpu, delivered)
    }

    /// S4: off and enforce in turns, then the INBOXes and the verdicts checked.
    pub(super) fn s4(
        &mut self,
        configs: &Configs,
        signed: &[Vec<u8>],
        dns: &DnsServer,
    ) -> anyhow::Result<S4> {
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
    pub(super) fn census(&self, expected: &[usize]) -> anyhow::Result<String> {
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
    pub(super) fn s5(&mut self, postfix: &mut Postfix, engines: &Engines) -> anyhow::Result<S5> {
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

    pub(super) fn scans(&self, engines: &Engines) -> anyhow::Result<Scans> {
        let metrics = self
            .runtime
            .block_on(crate::server::scrape_metrics(self.http_port))?;
        let mut congvu = BTreeMap::new();
        for line in metrics.lines() {
            let Some(labels) = line.strip_prefix("congvu_filter_scans_total{") else {
                continue;
            };
            let (labels, value) = labels.rsplit_once("} ").context("a malformed metric")?;
            let label = |name| crate::server::metric_label(labels, name).unwrap_or_default();
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
    pub(super) fn since(&self, before: &Scans) -> Scans {
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

    pub(super) fn show(&self) -> String {
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
pub(super) async fn verdicts(
    url: &str,
    officials: &[Official],
    enforced: &[usize],
) -> anyhow::Result<String> {
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
pub(super) fn verdict(message: &[u8]) -> Option<String> {
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
