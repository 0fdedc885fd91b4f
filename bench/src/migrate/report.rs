//! The `migrate` section of docs/PERFORMANCE.md.

use std::process::Command;

use crate::figures::{seconds, times, Spread};
use crate::machine::Machine;
use crate::report::user_arguments;

use super::*;

/// Everything the report section says.
pub(super) struct Report<'a> {
    pub(super) args: &'a MigrateArgs,
    pub(super) machine: &'a Machine,
    pub(super) mailboxes: &'a Mailboxes,
    pub(super) figures: &'a [Figure],
}

impl Report<'_> {
    pub(super) fn render(&self) -> String {
        let args = self.args;
        let mut out = format!(
            "{BEGIN}\n## G1, G2: migrating mailboxes from Dovecot\n\n\
             Measured by `bench/migrate.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {load} before the run). The old server is a private Dovecot\n\
             {version} on loopback serving Maildir over implicit TLS (a certificate from a CA of its\n\
             own) with a master user. congvu-admin pulls with `migrate imap --master-user …\n\
             --master-style authzid --ca-file …` into a fresh SQLite database each run; Dovecot's own\n\
             `doveadm backup -R imapc:` pulls the same mailboxes into a fresh user of a second private\n\
             Dovecot each run (Maildir, stock `mail_fsync = optimized`; `imapc_features = rfc822.size\n\
             fetch-headers` and `mail_prefetch_count = 20` as Dovecot's migration guide advises),\n\
             signing in with the same master user and trusting the same CA. Each ran {runs} time(s), the\n\
             pullers taking turns; figures are wall times, medians with ranges in brackets; every run\n\
             is checked to have brought every message. The ratio is congvu's time over doveadm's.\n\n",
            command = user_arguments(&PATH_OPTIONS),
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            load = self.machine.load,
            version = dovecot_version(),
            runs = args.runs,
        );
        if args.workloads.contains(&Workload::G1) {
            let (n, bytes) = self.mailboxes.g1;
            out.push_str(&format!(
                "- G1: the I1 mailbox, {n} messages ({}), 2–50 KiB each, in one INBOX, 70% \\Seen.\n",
                size(bytes)
            ));
        }
        if args.workloads.contains(&Workload::G2) {
            let (n, bytes) = self.mailboxes.g2;
            out.push_str(&format!(
                "- G2: {a} accounts × {m} messages ({n} in all, {}), in INBOX, Sent and `Công văn đến`;\n  \
                 congvu-admin with `--concurrency {c}`, doveadm as {c} processes at once.\n",
                size(bytes),
                a = args.accounts,
                m = args.per_account,
                c = args.concurrency,
            ));
        }
        out.push_str(
            "\n| id | what | congvu | doveadm backup | ratio | target | met? |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for workload in [Workload::G1, Workload::G2] {
            if args.workloads.contains(&workload) {
                out.push_str(&self.row(workload));
            }
        }
        out.push('\n');
        for workload in [Workload::G1, Workload::G2] {
            if args.workloads.contains(&workload) {
                out.push_str(&self.per_run_line(workload));
            }
        }
        out.push_str(END);
        out.push('\n');
        out
    }

    /// Each run's ratio, congvu's time over doveadm's in the same run, in run order (runs
    /// where either puller failed are left out).
    pub(super) fn run_ratios(&self, workload: Workload) -> Vec<f64> {
        let times = |puller: Puller| -> Vec<Option<f64>> {
            self.figures
                .iter()
                .filter(|f| f.workload == workload && f.puller == puller)
                .map(|f| f.failure.is_none().then_some(f.elapsed.as_secs_f64()))
                .collect()
        };
        times(Puller::Congvu)
            .into_iter()
            .zip(times(Puller::Doveadm))
            .filter_map(|(ours, theirs)| Some(ours? / theirs?))
            .collect()
    }

    /// The line under the table giving each run's ratio and how far the worst run is from
    /// the target.
    pub(super) fn per_run_line(&self, workload: Workload) -> String {
        let ratios = self.run_ratios(workload);
        let shown: Vec<String> = ratios.iter().map(|r| times(*r)).collect();
        let mut line = format!(
            "- {} per run, congvu ÷ doveadm: {}",
            workload.id(),
            shown.join(", ")
        );
        if workload == Workload::G1 {
            let worst = ratios.iter().copied().fold(f64::NAN, f64::max);
            if worst.is_finite() && worst <= G1_TARGET {
                let margin = (G1_TARGET - worst) / G1_TARGET * 100.0;
                line.push_str(&format!(
                    "; the target is met in every run, the slowest run {margin:.1}% inside the {G1_TARGET}× line"
                ));
            } else if worst.is_finite() {
                let over = (worst - G1_TARGET) / G1_TARGET * 100.0;
                line.push_str(&format!(
                    "; the target is NOT met in every run: the slowest run is {over:.1}% above the {G1_TARGET}× line"
                ));
            }
        }
        line.push_str(".\n");
        line
    }

    /// The table row of `workload`.
    pub(super) fn row(&self, workload: Workload) -> String {
        let times_of = |puller: Puller| {
            let runs: Vec<&Figure> = self
                .figures
                .iter()
                .filter(|f| f.workload == workload && f.puller == puller)
                .collect();
            let failures = runs.iter().filter(|f| f.failure.is_some()).count();
            let ok: Vec<f64> = runs
                .iter()
                .filter(|f| f.failure.is_none())
                .map(|f| f.elapsed.as_secs_f64())
                .collect();
            (Spread::of(&ok), failures)
        };
        let (ours, our_failures) = times_of(Puller::Congvu);
        let (theirs, their_failures) = times_of(Puller::Doveadm);
        let ratio = match (ours, theirs) {
            (Some(o), Some(t)) => Some(o.median / t.median),
            _ => None,
        };
        let (n, _) = self.mailboxes.of(workload);
        let (what, target) = match workload {
            Workload::G1 => (format!("one mailbox of {n} messages: wall time"), "≤ 0.5×"),
            Workload::G2 => (
                format!(
                    "{} accounts, {n} messages, {} at once: wall time",
                    self.args.accounts, self.args.concurrency
                ),
                "—",
            ),
        };
        let failures = our_failures + their_failures;
        // A target is met when every run clears it, not when the medians do.
        let every_run = {
            let ratios = self.run_ratios(workload);
            !ratios.is_empty() && ratios.iter().all(|r| *r <= G1_TARGET)
        };
        let met = match (failures, workload, ratio) {
            (0, Workload::G1, Some(_)) if every_run => "met".to_string(),
            (0, Workload::G1, Some(_)) => "NOT met".to_string(),
            (0, _, _) => "—".to_string(),
            (n, _, _) => format!("invalid: {n} failures"),
        };
        let dash = || "—".to_string();
        format!(
            "| {} | {what} | {} | {} | {} | {target} | {met} |\n",
            workload.id(),
            ours.map_or_else(dash, |s| s.show(seconds)),
            theirs.map_or_else(dash, |s| s.show(seconds)),
            ratio.map_or_else(dash, times),
        )
    }
}

/// Dovecot's version, as `dovecot --version` prints it.
pub(super) fn dovecot_version() -> String {
    let mut command = Command::new("/usr/sbin/dovecot");
    command.arg("--version");
    crate::process::version(command, "(version unknown)")
}

/// Bytes in MiB, as the report shows a mailbox's size.
pub(super) fn size(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
