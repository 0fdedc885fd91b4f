//! What a migration run shows: progress bars on a terminal (one overall, one per account
//! being copied; nothing when standard error is not a terminal), then a summary table or
//! the JSON document scripts read, and the failed accounts on standard error.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use crate::output;

/// Per-message failures kept for the report, per account.
const FAILURES_SHOWN: usize = 5;

/// What happened to one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountReport {
    /// The line of the accounts file.
    pub line: u64,
    pub address: String,
    pub source_user: String,
    /// Why the account, or some of its folders, could not be copied.
    pub errors: Vec<String>,
    pub folders: u64,
    pub copied: u64,
    pub already_there: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Bytes of the messages copied.
    pub bytes: u64,
    pub over_quota: bool,
    /// The first few messages that failed, and why.
    pub failures: Vec<String>,
}

impl AccountReport {
    pub fn new(line: u64, address: &str, source_user: &str) -> AccountReport {
        AccountReport {
            line,
            address: address.to_string(),
            source_user: source_user.to_string(),
            ..AccountReport::default()
        }
    }

    /// A message that could not be copied.
    pub fn message_failed(&mut self, why: String) {
        self.failed += 1;
        if self.failures.len() < FAILURES_SHOWN {
            self.failures.push(why);
        }
    }

    /// Whether everything of the account was copied (or was there already).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty() && self.failed == 0
    }

    /// Why the account failed, in one text; `None` when it did not.
    pub fn error(&self) -> Option<String> {
        let mut parts = self.errors.clone();
        if self.failed > 0 {
            let more = self.failed as usize - self.failures.len().min(self.failed as usize);
            let mut text = format!(
                "{} could not be copied: {}",
                output::count(self.failed as i64, "message", "messages"),
                self.failures.join("; ")
            );
            if more > 0 {
                text.push_str(&format!("; and {more} more"));
            }
            parts.push(text);
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Progress bars, drawn only on a terminal.
#[derive(Debug)]
pub struct Progress {
    bars: Option<MultiProgress>,
    overall: ProgressBar,
}

impl Progress {
    pub fn new(accounts: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                bars: None,
                overall: ProgressBar::hidden(),
            };
        }
        let bars = MultiProgress::new();
        let overall = bars.add(ProgressBar::new(accounts));
        if let Ok(style) =
            ProgressStyle::with_template("accounts [{bar:40}] {pos}/{len} ({elapsed}, {eta} left)")
        {
            overall.set_style(style);
        }
        Progress {
            bars: Some(bars),
            overall,
        }
    }

    /// A bar for an account being copied: messages handled out of those found so far.
    pub fn account(&self, address: &str) -> ProgressBar {
        let Some(bars) = &self.bars else {
            return ProgressBar::hidden();
        };
        let bar = bars.add(ProgressBar::new(0));
        if let Ok(style) = ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}/{len}") {
            bar.set_style(style);
        }
        bar.set_message(address.to_string());
        bar
    }

    pub fn account_done(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        if let Some(bars) = &self.bars {
            bars.remove(bar);
        }
        self.overall.inc(1);
    }

    pub fn finish(&self) {
        self.overall.finish_and_clear();
    }
}

/// Totals over every account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    accounts: u64,
    failed_accounts: u64,
    folders: u64,
    copied: u64,
    already_there: u64,
    skipped: u64,
    failed: u64,
    bytes: u64,
}

fn totals(reports: &[AccountReport]) -> Totals {
    let mut t = Totals::default();
    for r in reports {
        t.accounts += 1;
        t.failed_accounts += u64::from(!r.is_ok());
        t.folders += r.folders;
        t.copied += r.copied;
        t.already_there += r.already_there;
        t.skipped += r.skipped;
        t.failed += r.failed;
        t.bytes += r.bytes;
    }
    t
}

/// The document `--json` prints.
pub fn json(dry_run: bool, reports: &[AccountReport]) -> serde_json::Value {
    let accounts: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            json!({
                "address": r.address,
                "source_user": r.source_user,
                "status": if r.is_ok() { "ok" } else { "failed" },
                "error": r.error(),
                "folders": r.folders,
                "copied": r.copied,
                "already_there": r.already_there,
                "skipped": r.skipped,
                "failed": r.failed,
                "bytes": r.bytes,
                "over_quota": r.over_quota,
            })
        })
        .collect();
    let t = totals(reports);
    json!({
        "dry_run": dry_run,
        "accounts": accounts,
        "totals": {
            "accounts": t.accounts,
            "failed_accounts": t.failed_accounts,
            "folders": t.folders,
            "copied": t.copied,
            "already_there": t.already_there,
            "skipped": t.skipped,
            "failed": t.failed,
            "bytes": t.bytes,
        },
        "over_quota": over_quota(reports),
    })
}

fn over_quota(reports: &[AccountReport]) -> Vec<&str> {
    let mut over: Vec<&str> = reports
        .iter()
        .filter(|r| r.over_quota)
        .map(|r| r.address.as_str())
        .collect();
    over.sort_unstable();
    over.dedup();
    over
}

/// Prints the summary for people: one row per account, the totals, the officials now over
/// quota.
pub fn table(dry_run: bool, reports: &[AccountReport]) {
    if dry_run {
        output::line("Dry run: nothing was written; the counts say what a run would do.");
    }
    let row = |name: String, user: String, status: &str, n: [u64; 5], bytes: u64| {
        let mut cells = vec![name, user, status.to_string()];
        cells.extend(n.iter().map(u64::to_string));
        cells.push(output::bytes(bytes as i64));
        cells
    };
    let mut rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let status = if r.is_ok() { "ok" } else { "failed" };
            let counts = [r.folders, r.copied, r.already_there, r.skipped, r.failed];
            row(
                r.address.clone(),
                r.source_user.clone(),
                status,
                counts,
                r.bytes,
            )
        })
        .collect();
    let t = totals(reports);
    let status = format!("{} failed", t.failed_accounts);
    let counts = [t.folders, t.copied, t.already_there, t.skipped, t.failed];
    rows.push(row(
        format!(
            "total ({})",
            output::count(t.accounts as i64, "account", "accounts")
        ),
        String::new(),
        &status,
        counts,
        t.bytes,
    ));
    output::table(
        &[
            "ACCOUNT",
            "SOURCE USER",
            "STATUS",
            "FOLDERS",
            "COPIED",
            "ALREADY THERE",
            "SKIPPED",
            "FAILED",
            "BYTES",
        ],
        &rows,
    );
    let over = over_quota(reports);
    if !over.is_empty() {
        let verb = if dry_run { "would be" } else { "are now" };
        output::line(&format!("Over quota ({verb}): {}", over.join(", ")));
    }
}

/// Names each failed account and why on standard error.
pub fn failures(reports: &[AccountReport]) {
    for r in reports.iter().filter(|r| !r.is_ok()) {
        let why = r.error().unwrap_or_default();
        eprintln!(
            "congvu-admin: account {} ({} on the source, line {}) failed: {why}",
            r.address, r.source_user, r.line
        );
    }
}

#[cfg(test)]
mod tests;
