//! Each run's pulls, congvu-admin and doveadm taking turns, timed, bounded and checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use congvu_tests::dovecot::{Dovecot, MASTER_USER};

use crate::admin::Official;
use crate::machine::set_mode;

use super::*;

/// One pull of one workload.
#[derive(Debug, Clone)]
pub(super) struct Figure {
    pub(super) workload: Workload,
    pub(super) puller: Puller,
    pub(super) elapsed: Duration,
    /// Why the run is no measurement, if it is not.
    pub(super) failure: Option<String>,
}

pub(super) struct Bench<'a> {
    pub(super) args: &'a MigrateArgs,
    pub(super) plan: &'a Plan,
    pub(super) source: &'a Dovecot,
    pub(super) target: &'a Dovecot,
    pub(super) work: &'a Path,
}

impl Bench<'_> {
    pub(super) fn pull(&self, workload: Workload, puller: Puller, run: usize) -> Figure {
        let result = match puller {
            Puller::Congvu => self.congvu(workload, run),
            Puller::Doveadm => self.doveadm(workload, run),
        };
        let (elapsed, failure) = match result {
            Ok(elapsed) => (elapsed, None),
            Err(e) => (Duration::ZERO, Some(format!("{e:#}"))),
        };
        Figure {
            workload,
            puller,
            elapsed,
            failure,
        }
    }

    /// `congvu-admin migrate imap` of the workload's accounts into a fresh database.
    pub(super) fn congvu(&self, workload: Workload, run: usize) -> anyhow::Result<Duration> {
        let dir = self.work.join(format!("congvu-{}-r{run}", workload.id()));
        std::fs::create_dir_all(&dir)?;
        let config = write_admin_config(&dir)?;
        let sources = self.plan.source_logins(workload);
        let officials = crate::admin::import_province(
            &self.args.admin,
            &config,
            &dir,
            sources.len(),
            4_201 + run as u64,
            workload.id(),
        )?;
        let accounts = dir.join("accounts.csv");
        std::fs::write(&accounts, accounts_csv(&officials, &sources))?;
        let concurrency = match workload {
            Workload::G1 => 1,
            Workload::G2 => self.args.concurrency,
        };
        let arguments = migrate_arguments(
            &self.source.imaps_url(),
            &self.source.ca_file(),
            &self.source.master_password_file(),
            &accounts,
            concurrency,
        );
        let started = Instant::now();
        let output = run_bounded(
            Command::new(&self.args.admin)
                .arg("--config")
                .arg(&config)
                .args(&arguments),
        )?;
        let elapsed = started.elapsed();
        let expected = self.messages(workload);
        check_summary(&output, sources.len(), expected)?;
        // The bodies are not needed any more; the next run starts from an empty database.
        std::fs::remove_dir_all(&dir)?;
        Ok(elapsed)
    }

    /// `doveadm backup -R imapc:` of each account into a fresh user of the second Dovecot,
    /// `--concurrency` processes at once for G2.
    pub(super) fn doveadm(&self, workload: Workload, run: usize) -> anyhow::Result<Duration> {
        let pairs: Vec<(String, String)> = self
            .plan
            .source_logins(workload)
            .into_iter()
            .zip(self.plan.target_logins(workload, run))
            .collect();
        let at_once = match workload {
            Workload::G1 => 1,
            Workload::G2 => self.args.concurrency,
        };
        let next = AtomicUsize::new(0);
        let errors = Mutex::new(Vec::new());
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..at_once {
                scope.spawn(|| {
                    while let Some((source, target)) =
                        pairs.get(next.fetch_add(1, Ordering::SeqCst))
                    {
                        let arguments =
                            doveadm_arguments(&self.target.config_file(), source, target);
                        let doveadm =
                            run_bounded(Command::new(&self.args.doveadm).args(&arguments));
                        if let (Err(e), Ok(mut errors)) = (doveadm, errors.lock()) {
                            errors.push(format!("{source} → {target}: {e:#}"));
                        }
                    }
                });
            }
        });
        let elapsed = started.elapsed();
        let errors = errors.into_inner().unwrap_or_default();
        anyhow::ensure!(errors.is_empty(), "doveadm failed: {}", errors.join("; "));
        let pulled: usize = pairs
            .iter()
            .map(|(_, target)| self.target.maildir(target).message_count())
            .sum();
        let expected = self.messages(workload);
        anyhow::ensure!(
            pulled == expected,
            "doveadm left {pulled} messages in the second Dovecot, expected {expected}"
        );
        Ok(elapsed)
    }

    pub(super) fn messages(&self, workload: Workload) -> usize {
        match workload {
            Workload::G1 => self.args.messages,
            Workload::G2 => self.args.accounts * self.args.per_account,
        }
    }
}

/// congvu-admin's configuration for a fresh SQLite database under `dir`.
pub(super) fn write_admin_config(dir: &Path) -> anyhow::Result<PathBuf> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    set_mode(dir, 0o755)?;
    let config = dir.join("congvu.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhostname = \"mail.vinhphuc.gov.vn\"\nprimary_domain = \"vinhphuc.gov.vn\"\n\
             data_dir = {data:?}\n\n[database]\nurl = \"sqlite://{db}\"\n\n[tls]\nself_signed = true\n",
            data = data.display().to_string(),
            db = data.join("congvu.db").display(),
        ),
    )?;
    Ok(config)
}

/// The accounts file: each official with the old mailbox it gets, no passwords (the
/// master user signs in).
pub(super) fn accounts_csv(officials: &[Official], sources: &[String]) -> String {
    let mut out = String::from("address,source_user\n");
    for (official, source) in officials.iter().zip(sources) {
        out.push_str(&format!("{},{source}\n", official.address));
    }
    out
}

/// `migrate imap` against the old server at `url`, trusting `ca`, as the master user whose
/// password is in `master_password`.
pub(super) fn migrate_arguments(
    url: &str,
    ca: &Path,
    master_password: &Path,
    accounts: &Path,
    concurrency: usize,
) -> Vec<String> {
    [
        "migrate",
        "imap",
        "--source",
        url,
        "--ca-file",
        &ca.display().to_string(),
        "--accounts",
        &accounts.display().to_string(),
        "--master-user",
        MASTER_USER,
        "--master-password-file",
        &master_password.display().to_string(),
        "--master-style",
        "authzid",
        "--concurrency",
        &concurrency.to_string(),
        "--json",
    ]
    .map(str::to_string)
    .to_vec()
}

/// `doveadm backup -R imapc:` of old mailbox `source` into `target`.
pub(super) fn doveadm_arguments(config: &Path, source: &str, target: &str) -> Vec<String> {
    [
        "-c",
        &config.display().to_string(),
        "-o",
        &format!("imapc_user={source}"),
        "backup",
        "-R",
        "-u",
        target,
        "imapc:",
    ]
    .map(str::to_string)
    .to_vec()
}

/// Runs `command` to its end within [`STEP_TIMEOUT`]; its standard output, or an error
/// with everything it printed unless it exits 0.
pub(super) fn run_bounded(command: &mut Command) -> anyhow::Result<String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("while starting {command:?}"))?;
    // Both pipes are drained by threads, so a talkative child never blocks on them.
    let stdout = child.stdout.take().context("no stdout")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > STEP_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{command:?} ran past {STEP_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    anyhow::ensure!(
        status.success(),
        "{command:?} exited with {status}:\n{out}{err}"
    );
    Ok(out)
}

/// Checks congvu-admin's `--json` summary: every account done, every message copied.
pub(super) fn check_summary(output: &str, accounts: usize, messages: usize) -> anyhow::Result<()> {
    let summary: serde_json::Value =
        serde_json::from_str(output).with_context(|| format!("not a summary: {output}"))?;
    let totals = &summary["totals"];
    let count = |key: &str| totals[key].as_u64().unwrap_or(u64::MAX);
    anyhow::ensure!(
        count("accounts") == accounts as u64 && count("failed_accounts") == 0,
        "congvu-admin did not finish every account: {totals}"
    );
    anyhow::ensure!(
        count("copied") == messages as u64,
        "congvu-admin copied {} messages, expected {messages}: {totals}",
        count("copied")
    );
    Ok(())
}
