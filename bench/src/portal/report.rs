//! The `portal` section of docs/PERFORMANCE.md.

use std::time::Duration;

use crate::figures::{microseconds, milliseconds, per_second, percentile, times, Spread};
use crate::machine::Machine;
use crate::report::{placement, publish, render_rows, user_arguments, Markers, Row};

use super::*;

/// This benchmark's section of docs/PERFORMANCE.md, after the IMAP one when first placed.
pub(super) const MARKERS: Markers = Markers {
    begin: "<!-- portal:begin -->",
    end: "<!-- portal:end -->",
    after: Some("<!-- imap:end -->"),
};
/// The options bench/portal.sh fills in, left out of the command the report shows.
pub(super) const PATH_OPTIONS: [&str; 2] = ["--server", "--admin"];
/// The target: p99 of the pages that do not hash, in every run.
pub(super) const TARGET_P99_MS: f64 = 20.0;

#[derive(Debug)]
pub(super) struct Report<'a> {
    pub(super) args: &'a PortalArgs,
    pub(super) machine: &'a Machine,
    pub(super) pinned: bool,
    pub(super) hash_workers: usize,
    pub(super) seeding: Duration,
    pub(super) runs: &'a [RunFigures],
}

/// A row that explains the others: the figure measured, no reference, no target.
pub(super) fn info(what: impl Into<String>, measured: String) -> Row {
    Row::info("W1", what, Some(measured))
}

impl Report<'_> {
    /// Prints the report and writes it to the report file.
    pub(super) fn write(&self) -> anyhow::Result<()> {
        publish(&self.args.report, MARKERS, &self.render(), None)
    }

    /// A figure over the runs, `median [min–max]` in `unit`.
    pub(super) fn spread(
        &self,
        figure: impl Fn(&RunFigures) -> f64,
        unit: fn(f64) -> String,
    ) -> String {
        // A figure a run could not give (no sign-out completed in its window, say) is left out.
        let values: Vec<f64> = self
            .runs
            .iter()
            .map(figure)
            .filter(|v| v.is_finite())
            .collect();
        Spread::cell(&values, unit)
    }

    pub(super) fn render(&self) -> String {
        let args = self.args;
        let command = user_arguments(&PATH_OPTIONS);
        let placement = placement(
            self.pinned,
            self.machine.cores,
            ["the server", "server"],
            "client",
        );
        let mut out = format!(
            "{begin}\n## W1: the portal under {users} concurrent officials\n\n\
             Measured by `bench/portal.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {load} before the run), {placement}. {runs} run(s), each on a\n\
             freshly started server; figures are medians, ranges in brackets. The references are\n\
             the hashing floor and the same server unloaded, both measured in each run.\n\n\
             - Directory: {n} officials from `congvu-admin user import`, each then given a chosen\n  \
               password stored at the full cost, argon2id m=19456 KiB, t=2, p=1 (seeding took {seed:.0} s).\n  \
               congvu keeps its defaults (SQLite, `synchronous=FULL`, log level `info`, sessions idle\n  \
               30 min) with `[http] public_url = \"http://127.0.0.1:<port>/\"` (a loopback peer may send\n  \
               passwords over plain HTTP, as from a reverse proxy on the same machine) and\n  \
               `[auth] hash_workers = {workers}`, what the default (one per core) gives the {server_cores}.\n\
             - Load: {users} users at once, each its own HTTP client (one keep-alive connection, cookies\n  \
               kept by hand), all from 127.0.0.1. Each signs in (`GET /` for the CSRF token,\n  \
               `POST /sign-in`: one argon2id verification), opens `/account`, `/setup`, `/sessions` in\n  \
               turn without pause, and after {pages} page views signs out and in again as the next\n  \
               official; every page is checked (200, its table, the official's own login). {warm} s of\n  \
               load, then {secs} s measured.\n\
             - IMAP: meanwhile, from 127.0.0.2, a client connects over TLS every {interval} ms, logs in\n  \
               as an official no portal user signs in as, and logs out; the time from LOGIN to its OK.\n  \
               Before the load, the same for {unloaded} s on the idle server.\n\
             - Hashing floor: {workers} hashing thread(s) ÷ the time of one verification at the same\n  \
               parameters, the median of {samples} verifications timed one by one on one core of this\n  \
               machine before each run.\n\n\
             | id | what | measured | reference | ratio | target | met? |\n\
             |---|---|---|---|---|---|---|\n",
            begin = MARKERS.begin,
            users = args.users,
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            load = self.machine.load,
            runs = self.runs.len(),
            n = args.officials,
            seed = self.seeding.as_secs_f64(),
            workers = self.hash_workers,
            server_cores = if self.pinned {
                "server's one core".to_string()
            } else {
                format!("machine's {} cores", self.machine.cores)
            },
            pages = args.pages_per_sign_in,
            warm = args.warmup,
            secs = args.seconds,
            interval = args.probe_interval_ms,
            unloaded = args.unloaded_seconds,
            samples = args.hash_samples,
        );
        out.push_str(&render_rows(&self.rows(), "wrong answers"));
        out.push_str(&self.details());
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    pub(super) fn rows(&self) -> Vec<Row> {
        let runs = self.runs;
        let worst_p99 = runs
            .iter()
            .map(|r| r.page_p(0.99))
            .fold(f64::NEG_INFINITY, f64::max);
        let pages = format!(
            "p99 of the pages that do not hash (`/account`, `/setup`, `/sessions`), {} users",
            self.args.users
        );
        // Wrong answers void the one row with a target; the others only explain it.
        let wrong: u64 = runs.iter().map(|r| r.wrong).sum();
        vec![
            info(pages, self.spread(|r| r.page_p(0.99), milliseconds))
                .target(
                    "≤ 20 ms in every run",
                    (!runs.is_empty()).then_some(worst_p99 <= TARGET_P99_MS),
                )
                .invalid(wrong),
            info(
                "p50 of those pages",
                self.spread(|r| r.page_p(0.5), milliseconds),
            ),
            info(
                "those pages served per second",
                self.spread(RunFigures::pages_per_second, per_second),
            ),
            info(
                "p99 of the sign-in form (`GET /`) / of signing out (`POST /sign-out`), \
                 neither hashing",
                format!(
                    "{} / {}",
                    self.spread(|r| percentile(&r.forms, 0.99), milliseconds),
                    self.spread(|r| percentile(&r.sign_outs, 0.99), milliseconds)
                ),
            ),
            Row {
                reference: Some(format!("floor {}", self.spread(|r| r.floor, per_second))),
                ratio: Some(self.spread(RunFigures::floor_ratio, times)),
                ..info(
                    "sign-ins/s (an argon2id verification each) against the hashing floor",
                    self.spread(RunFigures::sign_ins_per_second, per_second),
                )
            },
            Row {
                reference: Some(format!(
                    "one verification {}",
                    self.spread(|r| r.t_hash_ms, milliseconds)
                )),
                ..info(
                    "sign-in time (`POST /sign-in` → 303), p50 / p99",
                    format!(
                        "{} / {}",
                        self.spread(|r| percentile(&r.sign_ins, 0.5), milliseconds),
                        self.spread(|r| percentile(&r.sign_ins, 0.99), milliseconds)
                    ),
                )
            },
            Row {
                reference: Some(self.spread(|r| r.unloaded.p(0.99), milliseconds)),
                ratio: Some(self.spread(|r| r.loaded.p(0.99) / r.unloaded.p(0.99), times)),
                ..info(
                    "IMAP LOGIN p99 during the load (reference: unloaded)",
                    self.spread(|r| r.loaded.p(0.99), milliseconds),
                )
            },
            Row {
                reference: Some(self.spread(|r| r.unloaded.p(0.5), milliseconds)),
                ratio: Some(self.spread(|r| r.loaded.p(0.5) / r.unloaded.p(0.5), times)),
                ..info(
                    "IMAP LOGIN p50 during the load (reference: unloaded)",
                    self.spread(|r| r.loaded.p(0.5), milliseconds),
                )
            },
        ]
    }

    /// The figures behind the table that explain it, run by run.
    pub(super) fn details(&self) -> String {
        let mut out = String::from("\n");
        let cores = |v: f64| format!("{v:.2}");
        out.push_str(&format!(
            "- Server CPU over the window: {} cores in all, of which the hashing threads {} ({} per\n  \
             sign-in or IMAP login answered); outside them {} per HTTP request that does not hash.\n  \
             Client: {} cores.\n",
            self.spread(|r| r.cores(r.server.total), cores),
            self.spread(|r| r.cores(r.server.hashing), cores),
            self.spread(RunFigures::hashing_ms_per_login, milliseconds),
            self.spread(RunFigures::cpu_per_request_us, microseconds),
            self.spread(|r| r.cores(r.client), cores),
        ));
        out.push_str(&format!(
            "- Where the users were, on average over the window (Little's law: rate × mean time):\n  \
             {} waiting for a sign-in's answer, {} with a page request in flight. Sign-ins pass\n  \
             no faster than the hashing threads verify, so the users queue there, and the pages\n  \
             are opened by the few who are through.\n",
            self.spread(RunFigures::users_signing_in, |v| format!("{v:.0}")),
            self.spread(RunFigures::users_on_pages, |v| format!("{v:.1}")),
        ));
        out.push_str(&format!(
            "- Against the floor: the hashing threads had {} of the server's core (the pages, which\n  \
             the server runs at a higher CPU priority than hashing, took the rest), and the IMAP\n  \
             logins used {} of the floor, which leaves sign-ins about the difference.\n",
            self.spread(|r| r.cores(r.server.hashing), |v| format!("{v:.2}")),
            self.spread(RunFigures::imap_floor_share, times),
        ));
        for (i, r) in self.runs.iter().enumerate() {
            out.push_str(&format!(
                "- Run {}: {} pages (p99 `/account` {}, `/setup` {}, `/sessions` {}; slowest {}); \
                 {} sign-ins (p50 {}, slowest {}; {} still waiting at the end), {} sign-in forms \
                 (p50 {}, p99 {}), {} sign-outs (p50 {}, p99 {}); one verification {}, floor {}; \
                 IMAP {} logins under load \
                 (slowest {}), {} unloaded (slowest {}); {} wrong answers{}.\n",
                i + 1,
                r.all_pages.len(),
                milliseconds(percentile(&r.pages[0], 0.99)),
                milliseconds(percentile(&r.pages[1], 0.99)),
                milliseconds(percentile(&r.pages[2], 0.99)),
                milliseconds(r.all_pages.last().copied().unwrap_or(f64::NAN)),
                r.sign_ins.len(),
                milliseconds(percentile(&r.sign_ins, 0.5)),
                milliseconds(r.sign_ins.last().copied().unwrap_or(f64::NAN)),
                r.waiting_at_end,
                r.forms.len(),
                milliseconds(percentile(&r.forms, 0.5)),
                milliseconds(percentile(&r.forms, 0.99)),
                r.sign_outs.len(),
                milliseconds(percentile(&r.sign_outs, 0.5)),
                milliseconds(percentile(&r.sign_outs, 0.99)),
                milliseconds(r.t_hash_ms),
                per_second(r.floor),
                r.loaded.logins_us.len(),
                milliseconds(r.loaded.p(1.0)),
                r.unloaded.logins_us.len(),
                milliseconds(r.unloaded.p(1.0)),
                r.wrong,
                r.first_wrong
                    .as_deref()
                    .map(|w| format!(", the first: {w}"))
                    .unwrap_or_default(),
            ));
        }
        out
    }
}
