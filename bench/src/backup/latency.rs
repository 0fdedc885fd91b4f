//! B3: SMTP latency at a fixed rate while a backup runs, against the same load without one.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::admin::Official;
use crate::figures::{milliseconds, percentile, seconds, turns};
use crate::machine::Machine;
use crate::smtp::{
    payload, send_load, smtp_source_head, Compose, Congvu, Greeting, BENCH_ENVELOPE,
};

use super::*;

impl Bench<'_> {
    /// The server on the seeded database; `--runs` runs without and with a backup, taking
    /// turns.
    pub(super) fn b3(
        &self,
        machine: &Machine,
        addr: SocketAddr,
        officials: &[Official],
    ) -> anyhow::Result<Vec<LoadRun>> {
        let seed_dir = self.seed_config.parent().context("no seed directory")?;
        // Server, client and backup share every core, as they would on a small server.
        let mut server = Congvu {
            binary: self.args.server.clone(),
            config: self.seed_config.to_path_buf(),
            data_dir: seed_dir.join("congvu-data"),
            log: self.work.join("congvu.log"),
            addr,
            pin: None,
            process: None,
            ticks: machine.ticks,
        };
        server.start()?;
        if let Greeting::Refused(text) = self.runtime.block_on(server.wait_ready())? {
            anyhow::bail!("congvu-server refused SMTP: {text}");
        }
        let recipients: Vec<String> = officials.iter().map(|o| o.address.clone()).collect();
        let mut loads = Vec::new();
        for run in 0..self.args.runs {
            for with_backup in turns(run, 2).into_iter().map(|t| t == 1) {
                let load = self.load_run(addr, &recipients, run, with_backup)?;
                println!(
                    "B3 run {run} {}: p99 {} over {} messages, {} failed{}",
                    if with_backup {
                        "with a backup"
                    } else {
                        "without"
                    },
                    milliseconds(load.p99()),
                    load.measured_ms.len(),
                    load.failures,
                    load.backup_seconds
                        .map_or(String::new(), |s| format!("; backup {}", seconds(s)))
                );
                println!("  p99 of each second (ms): {}", load.timeline);
                loads.push(load);
            }
        }
        server.stop()?;
        Ok(loads)
    }

    /// One B3 run: a message due every 1/`--rate` s, each on a connection of its own, for
    /// `--load-seconds` (and, with a backup, until the backup has ended).
    pub(super) fn load_run(
        &self,
        addr: SocketAddr,
        recipients: &[String],
        run: usize,
        with_backup: bool,
    ) -> anyhow::Result<LoadRun> {
        let args = self.args;
        let start = Instant::now() + Duration::from_millis(50);
        let warm = start + Duration::from_secs(args.backup_after);
        let end = start + Duration::from_secs(args.load_seconds);
        let backing_up = Arc::new(AtomicBool::new(with_backup));
        let archive = self.work.join(format!("b3-r{run}.cvbak"));
        let backup = with_backup.then(|| {
            let mut command = match args.backup_nice {
                0 => Command::new(&args.admin),
                nice => {
                    let mut command = Command::new("nice");
                    command.arg(format!("-n{nice}")).arg(&args.admin);
                    command
                }
            };
            command
                .arg("--config")
                .arg(self.seed_config)
                .args(["backup", "create"])
                .arg(&archive);
            let backing_up = Arc::clone(&backing_up);
            std::thread::spawn(move || {
                std::thread::sleep(warm.saturating_duration_since(Instant::now()));
                let began = Instant::now();
                let done = command
                    .output()
                    .map_err(anyhow::Error::from)
                    .and_then(|out| {
                        anyhow::ensure!(
                            out.status.success(),
                            "backup create under load failed: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        Ok(())
                    });
                let ended = Instant::now();
                backing_up.store(false, Ordering::SeqCst);
                done.map(|_| (began, ended))
            })
        });
        let body = Arc::new(payload(args.length));
        let sent = self.runtime.block_on(paced_load(
            addr,
            recipients,
            args.rate,
            (start, end),
            &backing_up,
            body,
        ))?;
        let span = match backup {
            Some(thread) => Some(
                thread
                    .join()
                    .map_err(|_| anyhow::anyhow!("the backup thread panicked"))??,
            ),
            None => None,
        };
        if archive.exists() {
            std::fs::remove_file(&archive)?;
        }
        let mut load = measure(run, &sent, warm, span);
        load.timeline = timeline(&sent, start);
        Ok(load)
    }
}

/// The p99 of the messages due in each second of a run, for seeing when latency rose.
pub(super) fn timeline(sent: &[Sent], start: Instant) -> String {
    let mut seconds: Vec<Vec<f64>> = Vec::new();
    for (due, outcome) in sent {
        let second = due.saturating_duration_since(start).as_secs() as usize;
        if seconds.len() <= second {
            seconds.resize(second + 1, Vec::new());
        }
        if let Ok(took) = outcome {
            seconds[second].push(took.as_secs_f64() * 1000.0);
        }
    }
    let p99s: Vec<String> = seconds
        .iter_mut()
        .map(|ms| {
            ms.sort_by(f64::total_cmp);
            match ms.is_empty() {
                true => "-".to_string(),
                false => format!("{:.0}", percentile(ms, 0.99)),
            }
        })
        .collect();
    p99s.join(" ")
}

/// One message of a paced load: when it was due, and its DATA→250 time if it got a 250
/// (else why not).
pub(super) type Sent = (Instant, Result<Duration, String>);

/// Sends message `i` at `start + i / rate` until `window.1`, and on while `going_on` holds;
/// each on a new connection, never waiting for earlier ones.
pub(super) async fn paced_load(
    addr: SocketAddr,
    recipients: &[String],
    rate: f64,
    window: (Instant, Instant),
    going_on: &AtomicBool,
    body: Arc<Vec<u8>>,
) -> anyhow::Result<Vec<Sent>> {
    let (start, end) = window;
    let mut tasks = Vec::new();
    for i in 0usize.. {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due > end && !going_on.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let to = Arc::new(vec![recipients[i % recipients.len()].clone()]);
        let head: Compose = Arc::new(move |_, to| smtp_source_head(to, 2_000_000 + i).into_bytes());
        let one = send_load(addr, BENCH_ENVELOPE, 1, 1, to, head, Arc::clone(&body));
        tasks.push((due, tokio::spawn(one)));
    }
    let mut sent = Vec::with_capacity(tasks.len());
    for (due, task) in tasks {
        let load = task.await??;
        let outcome = match (load.data_to_250.first(), load.first_failure) {
            (Some(took), _) => Ok(*took),
            (None, failure) => Err(failure.unwrap_or_else(|| "no reply".into())),
        };
        sent.push((due, outcome));
    }
    Ok(sent)
}

/// The run's figures: latencies of the messages due while the backup ran (`span`), or after
/// the warm-up when there was none.
pub(super) fn measure(
    run: usize,
    sent: &[Sent],
    warm: Instant,
    span: Option<(Instant, Instant)>,
) -> LoadRun {
    let counts = |due: &Instant| match span {
        Some((began, ended)) => *due >= began && *due <= ended,
        None => *due >= warm,
    };
    let mut measured_ms: Vec<f64> = sent
        .iter()
        .filter(|(due, _)| counts(due))
        .filter_map(|(_, outcome)| outcome.as_ref().ok())
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    measured_ms.sort_by(f64::total_cmp);
    let failed: Vec<&String> = sent.iter().filter_map(|(_, o)| o.as_ref().err()).collect();
    LoadRun {
        run,
        measured_ms,
        backup_seconds: span.map(|(began, ended)| (ended - began).as_secs_f64()),
        sent: sent.len(),
        failures: failed.len(),
        first_failure: failed.first().map(|s| s.to_string()),
        timeline: String::new(),
    }
}
