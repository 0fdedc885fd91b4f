//! The `backup` section of docs/PERFORMANCE.md.

use crate::figures::{median, milliseconds, per_run_ratios, ratio_cell, seconds, times, Spread};
use crate::machine::Machine;
use crate::report::user_arguments;

use super::*;

pub(super) struct Report<'a> {
    pub(super) args: &'a BackupArgs,
    pub(super) machine: &'a Machine,
    /// The 1-minute load average when the measurements ended.
    pub(super) load_after: String,
    pub(super) seeded: &'a Seeded,
    pub(super) observed: &'a Observed,
    pub(super) timings: &'a [Timing],
    pub(super) loads: &'a [LoadRun],
    /// `backup verify` of the seeded archive.
    pub(super) verify: Option<f64>,
}

impl Report<'_> {
    pub(super) fn render(&self) -> String {
        let mut out = format!(
            "{}\n## B1–B3: backup and restore\n\n{}\n\
             | id | what | congvu | reference | ratio (per run) | target | met? |\n\
             |---|---|---|---|---|---|---|\n",
            MARKERS.begin,
            self.method()
        );
        for step in STEPS {
            if self.timings.iter().any(|t| t.step == step) {
                out.push_str(&self.time_row(step));
            }
        }
        if !self.loads.is_empty() {
            out.push_str(&self.latency_row());
        }
        out.push('\n');
        out.push_str(&self.details());
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    pub(super) fn method(&self) -> String {
        let (args, seeded, m) = (self.args, self.seeded, self.machine);
        format!(
            "Measured by `bench/backup.sh{command}`, release build, on {cores} cores ({cpu}; 1-minute\n\
             load average {load} before the run and {after} at its end, other work on the machine going\n\
             on). The data: {officials}\n\
             officials and {messages} messages in their INBOXes ({bodies} of distinct bodies, 2–50 KiB,\n\
             mail-like text with one in twenty carrying a base64 attachment), seeded once in {seed}\n\
             (officials with `user import`, messages through the mail store's batched import); the\n\
             SQLite file is {db}, its congvu archive {archive}. Each step is timed from its process's\n\
             start to its exit, congvu and the reference taking turns (the order flips run by run);\n\
             figures are medians over {runs} run(s) with ranges in brackets; a target is met only when\n\
             every run clears it. Every congvu archive and restore is checked to hold every official\n\
             and message.\n",
            command = user_arguments(&PATH_OPTIONS),
            cores = m.cores,
            cpu = m.cpu,
            load = m.load,
            after = self.load_after,
            officials = args.officials,
            messages = args.messages,
            bodies = gib(seeded.body_bytes),
            seed = seconds(seeded.seconds),
            db = gib(seeded.database_bytes),
            archive = gib(seeded.archive_bytes),
            runs = args.runs,
        )
    }

    /// `step`'s timings of `side`, run by run.
    pub(super) fn runs_of(&self, step: Step, side: Side) -> Vec<&Timing> {
        let mut runs: Vec<&Timing> = self
            .timings
            .iter()
            .filter(|t| t.step == step && t.side == side)
            .collect();
        runs.sort_by_key(|t| t.run);
        runs
    }

    pub(super) fn seconds_of(&self, step: Step, side: Side) -> Vec<f64> {
        self.runs_of(step, side).iter().map(|t| t.seconds).collect()
    }

    /// Seconds until `step`'s output was on the disk: its time and the fsync after it.
    pub(super) fn durable_seconds_of(&self, step: Step, side: Side) -> Vec<f64> {
        let runs = self.runs_of(step, side);
        runs.iter().map(|t| t.seconds + t.sync).collect()
    }

    /// congvu's time over the reference's, run by run.
    pub(super) fn step_ratios(&self, step: Step) -> Vec<f64> {
        per_run_ratios(
            &self.seconds_of(step, Side::Congvu),
            &self.seconds_of(step, Side::Reference),
        )
    }

    pub(super) fn time_row(&self, step: Step) -> String {
        let show = |side| Spread::cell(&self.seconds_of(step, side), seconds);
        let ratios = self.step_ratios(step);
        format!(
            "| {} | {} | {} | {} | {} | ≤ {TIME_TARGET}× | {} |\n",
            step.id(),
            step.what(),
            show(Side::Congvu),
            show(Side::Reference),
            ratio_cell(&ratios),
            verdict(&ratios, TIME_TARGET),
        )
    }

    /// The B3 runs with a backup, each paired with the run without one in the same round.
    pub(super) fn latency_pairs(&self) -> Vec<(&LoadRun, &LoadRun)> {
        let with: Vec<&LoadRun> = self
            .loads
            .iter()
            .filter(|l| l.backup_seconds.is_some())
            .collect();
        with.into_iter()
            .filter_map(|w| {
                let without = self
                    .loads
                    .iter()
                    .find(|l| l.run == w.run && l.backup_seconds.is_none())?;
                Some((w, without))
            })
            .collect()
    }

    pub(super) fn latency_row(&self) -> String {
        let pairs = self.latency_pairs();
        let ratios: Vec<f64> = pairs.iter().map(|(w, wo)| w.p99() / wo.p99()).collect();
        let p99s = |pick: fn(&(&LoadRun, &LoadRun)) -> f64| {
            let values: Vec<f64> = pairs.iter().map(pick).collect();
            Spread::cell(&values, milliseconds)
        };
        let failures: usize = self.loads.iter().map(|l| l.failures).sum();
        let met = if failures > 0 {
            format!("invalid: {failures} messages failed")
        } else {
            verdict(&ratios, LATENCY_TARGET)
        };
        format!(
            "| B3 | SMTP p99 end of DATA → 250 at {rate}/s while `backup create` runs on the same SQLite \
             database (reference: the same load without a backup) | {} | {} | {} | ≤ {LATENCY_TARGET}× | {met} |\n",
            p99s(|(w, _)| w.p99()),
            p99s(|(_, wo)| wo.p99()),
            ratio_cell(&ratios),
            rate = self.args.rate,
        )
    }

    pub(super) fn details(&self) -> String {
        let mut out = String::new();
        let observed = self.observed;
        if self.has(Step::SqliteCreate) {
            out.push_str(&format!(
                "- Sizes: congvu's archive of the SQLite database {} against {} for the `.backup` copy\n  \
                 compressed by `zstd` (level 3, one thread) ({}).\n",
                gib(observed.sqlite_archive),
                gib(observed.sqlite_zstd),
                times(observed.sqlite_archive as f64 / observed.sqlite_zstd as f64)
            ));
        }
        if self.has(Step::PostgresCreate) {
            out.push_str(&format!(
                "- PostgreSQL: congvu's archive {} against {} for `pg_dump -Fc` ({}); the seeded archive\n  \
                 took {} to restore into the source database (a SQLite installation moving to PostgreSQL).\n",
                gib(observed.postgres_archive),
                gib(observed.pg_dump),
                times(observed.postgres_archive as f64 / observed.pg_dump as f64),
                seconds(observed.postgres_seed_seconds)
            ));
        }
        out.push_str(&self.starting_state());
        out.push_str(&self.durability());
        out.push_str(&self.restore_details());
        out.push_str(&self.floor_details());
        out.push_str(&self.load_details());
        out
    }

    /// Where congvu's restores spend their time.
    pub(super) fn restore_details(&self) -> String {
        let Some(verify) = self.verify else {
            return String::new();
        };
        let mut out = format!(
            "- Where a restore's time goes: it reads each part once, checks it (as `backup verify` does,\n  \
             less hashing every body again) and writes it (`backup verify` of the seeded archive alone:\n  \
             {}); a new SQLite file is written without a journal and synced as it grows.",
            seconds(verify)
        );
        let phases = &self.observed.phases;
        if !phases.is_empty() {
            let median_of = |pick: fn(&RestorePhases) -> f64| {
                seconds(median(&phases.iter().map(pick).collect::<Vec<_>>()))
            };
            let largest = phases.iter().map(|p| p.file_bytes).max().unwrap_or(0);
            out.push_str(&format!(
                "\n  Medians over the runs, told from the size of the new database sampled every\n  \
                 0.1 s: starting {}, reading, checking and writing the rows {}, the whole-archive checks,\n  \
                 the switch to WAL, the sync and the rename {}. The database grows to {}, written once.",
                median_of(|p| p.start),
                median_of(|p| p.rows),
                median_of(|p| p.finish),
                gib(largest),
            ));
        }
        out.push('\n');
        out
    }

    /// congvu's SQLite restore set against what writing the database costs SQLite itself,
    /// and against `zstd -d` with the sync it skipped: each side counted until its output was
    /// on the disk.
    pub(super) fn floor_details(&self) -> String {
        let floor = self.seconds_of(Step::SqliteFloor, Side::Reference);
        if floor.is_empty() {
            return String::new();
        }
        let synced_floor = self.durable_seconds_of(Step::SqliteFloor, Side::Reference);
        let restore = self.durable_seconds_of(Step::SqliteRestore, Side::Congvu);
        let unpacked = self.durable_seconds_of(Step::SqliteRestore, Side::Reference);
        let unsynced = self.seconds_of(Step::SqliteRestore, Side::Reference);
        format!(
            "- What writing the database costs SQLite itself: `sqlite3` copying every row of the\n  \
             seeded database into a new file of the same schema, built as congvu builds one (no\n  \
             journal, no syncs, no reference checks, a 64 MiB cache), the seeded file read into\n  \
             memory first and not counted, took {} ({} of `zstd -d`'s time as\n  \
             the table counts it), and {} with the fsync after it. congvu's restore,\n  \
             which also reads, decompresses and checks the archive, took {} of the\n  \
             latter, and {} of `zstd -d`'s time with the fsync it skipped.\n",
            Spread::cell(&floor, seconds),
            ratio_cell(&per_run_ratios(&floor, &unsynced)),
            Spread::cell(&synced_floor, seconds),
            ratio_cell(&per_run_ratios(&restore, &synced_floor)),
            ratio_cell(&per_run_ratios(&restore, &unpacked)),
        )
    }

    /// Whether each timed step started from the same state of the machine.
    pub(super) fn starting_state(&self) -> String {
        let Observed {
            settled, unsettled, ..
        } = *self.observed;
        match (settled, unsettled) {
            (0, 0) => String::new(),
            (_, 0) => "- Each timed step started from the same state: the disk synced and the page cache\n  \
                       emptied (`sync`, then `3` written to /proc/sys/vm/drop_caches), so both sides read\n  \
                       their input from the disk and neither meets what the other left in memory.\n"
                .into(),
            _ => format!(
                "- The page cache could not be emptied before {unsettled} of {} timed steps (it needs\n  \
                 root): those started as the step before left the machine, its output possibly still\n  \
                 being written and its input cached.\n",
                settled + unsettled
            ),
        }
    }

    pub(super) fn has(&self, step: Step) -> bool {
        self.timings.iter().any(|t| t.step == step)
    }

    /// The fsync the reference's output still needed after it exited: congvu's archive and
    /// restore are synced before they report success.
    pub(super) fn durability(&self) -> String {
        let mut parts = Vec::new();
        for step in [
            Step::SqliteCreate,
            Step::SqliteRestore,
            Step::PostgresCreate,
        ] {
            let syncs: Vec<f64> = self
                .timings
                .iter()
                .filter(|t| t.step == step && t.side == Side::Reference)
                .map(|t| t.sync)
                .collect();
            if !syncs.is_empty() {
                parts.push(format!("{:?} {}", step, seconds(median(&syncs))));
            }
        }
        if parts.is_empty() {
            return String::new();
        }
        format!(
            "- Durability: congvu syncs its archive (and SQLite its database) before it exits; `zstd` and\n  \
             `pg_dump` do not. An fsync of the reference's output right after it exited took (median,\n  \
             not included above): {}.\n",
            parts.join(", ")
        )
    }

    pub(super) fn load_details(&self) -> String {
        if self.loads.is_empty() {
            return String::new();
        }
        let args = self.args;
        let backups: Vec<f64> = self.loads.iter().filter_map(|l| l.backup_seconds).collect();
        let unloaded = self.seconds_of(Step::SqliteCreate, Side::Congvu);
        let mut out = format!(
            "- B3: `congvu-server` (release) on the seeded SQLite database, server, client and backup\n  \
             sharing both cores; a message of {length} payload bytes due every {interval:.1} ms, each on a\n  \
             connection of its own to the next official, for {secs} s; `backup create` starts {after} s in\n  \
             and the load goes on until it ends{nice}. The p99 with a backup counts the messages due while\n  \
             it ran; without, those due after the first {after} s. The backup under load took {} (unloaded,\n  \
             in B1: {}).\n",
            Spread::cell(&backups, seconds),
            Spread::cell(&unloaded, seconds),
            length = args.length,
            interval = 1000.0 / args.rate,
            secs = args.load_seconds,
            after = args.backup_after,
            nice = match args.backup_nice {
                0 => String::new(),
                n => format!(" (run as `nice -n{n} congvu-admin backup create`)"),
            },
        );
        for load in self.loads {
            out.push_str(&format!(
                "  - run {} {}: {} sent, p99 {} over {} measured, slowest {}, {} failed{}; p99 of each\n    \
                 second in ms: {}\n",
                load.run + 1,
                if load.backup_seconds.is_some() {
                    "with a backup"
                } else {
                    "without"
                },
                load.sent,
                milliseconds(load.p99()),
                load.measured_ms.len(),
                milliseconds(load.measured_ms.last().copied().unwrap_or(f64::NAN)),
                load.failures,
                load.first_failure
                    .as_ref()
                    .map_or(String::new(), |f| format!(" (first: {f})")),
                load.timeline,
            ));
        }
        out
    }
}

/// "met" when every run's ratio is at most `target`; else how far the worst run is off.
pub(super) fn verdict(ratios: &[f64], target: f64) -> String {
    let worst = ratios.iter().copied().fold(f64::NAN, f64::max);
    if !worst.is_finite() {
        "—".into()
    } else if worst <= target {
        "met".into()
    } else {
        let over = (worst / target - 1.0) * 100.0;
        format!("NOT met: worst run {} ({over:.0}% over)", times(worst))
    }
}

pub(super) fn gib(bytes: u64) -> String {
    let gib = bytes as f64 / f64::from(1u32 << 30);
    if gib >= 1.0 {
        format!("{gib:.2} GiB")
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    }
}
