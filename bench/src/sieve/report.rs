//! The `sieve` section of docs/PERFORMANCE.md.

use std::time::Duration;

use crate::figures::{microseconds, milliseconds, per_second, times, Spread};
use crate::machine::Machine;
use crate::report::{placement, table, user_arguments, Markers, Row};
use crate::smtp::postfix_version;

use super::*;

/// After the inbound section when first placed.
pub(super) const MARKERS: Markers = Markers {
    begin: "<!-- sieve:begin -->",
    end: "<!-- sieve:end -->",
    after: Some("<!-- inbound:end -->"),
};
/// The options bench/sieve.sh fills in, left out of the command the report shows.
pub(super) const PATH_OPTIONS: [&str; 8] = [
    "--server",
    "--admin",
    "--postfix",
    "--postmap",
    "--dovecot",
    "--sievec",
    "--work-dir",
    "--report",
];
/// V1's target: with scripts at no less than this share of the rate without.
pub(super) const TARGET: f64 = 0.8;

pub(super) struct Report<'a> {
    pub(super) args: &'a SieveArgs,
    pub(super) machine: &'a Machine,
    pub(super) load_after: String,
    pub(super) pinned: bool,
    /// How long storing every recipient's script through the library took.
    pub(super) seeded: Duration,
    pub(super) results: &'a Results,
}

pub(super) use crate::smtp::stream_figures::{accepted, cpu_per_message, delivered, p99};

/// Each run's figure of side `a` over that of side `b` in the same run.
pub(super) fn ratios(results: &Results, [a, b]: [Side; 2], figure: fn(&Run) -> f64) -> Vec<f64> {
    results
        .of(a)
        .iter()
        .zip(results.of(b))
        .map(|(x, y)| figure(x) / figure(y))
        .collect()
}

/// A row comparing side `a` with side `b`: medians of each, and the spread of the per-run
/// ratios.
pub(super) fn row(
    results: &Results,
    what: &str,
    [a, b]: [Side; 2],
    figure: fn(&Run) -> f64,
    unit: fn(f64) -> String,
) -> Row {
    let spread = |side| Spread::of(&results.of(side).iter().map(figure).collect::<Vec<_>>());
    let failures: usize = [a, b]
        .iter()
        .flat_map(|&s| results.of(s))
        .map(|r| r.s1.failures)
        .sum();
    let mut row = Row::compare("V1", what, [spread(a), spread(b)], unit).invalid(failures as u64);
    row.ratio = Spread::of(&ratios(results, [a, b], figure)).map(|s| s.show(times));
    row
}

pub(super) fn rows(results: &Results) -> Vec<Row> {
    let congvu = [Side::CongvuSieve, Side::Congvu];
    let dovecot = [Side::DovecotSieve, Side::Dovecot];
    let scripted = [Side::CongvuSieve, Side::DovecotSieve];
    let plain = [Side::Congvu, Side::Dovecot];
    let per_run = ratios(results, congvu, delivered);
    let met = (!per_run.is_empty()).then(|| per_run.iter().all(|r| *r >= TARGET));
    vec![
        row(
            results,
            "congvu: messages/s delivered, every recipient's script active vs none",
            congvu,
            delivered,
            per_second,
        )
        .target("≥ 0.8×", met),
        row(
            results,
            "congvu: server CPU per message, scripts vs none",
            congvu,
            cpu_per_message,
            microseconds,
        ),
        row(
            results,
            "congvu: p99 end of DATA → 250, scripts vs none",
            congvu,
            p99,
            milliseconds,
        ),
        row(
            results,
            "Postfix → Dovecot: messages/s delivered, Pigeonhole scripts vs none",
            dovecot,
            delivered,
            per_second,
        ),
        row(
            results,
            "Postfix → Dovecot: server CPU per message (Postfix and Dovecot), scripts vs none",
            dovecot,
            cpu_per_message,
            microseconds,
        ),
        row(
            results,
            "with scripts: messages/s delivered, congvu vs Postfix → Dovecot + Pigeonhole",
            scripted,
            delivered,
            per_second,
        ),
        row(
            results,
            "with scripts: server CPU per message, congvu vs Postfix + Dovecot",
            scripted,
            cpu_per_message,
            microseconds,
        ),
        row(
            results,
            "without scripts: messages/s delivered, congvu vs Postfix → Dovecot",
            plain,
            delivered,
            per_second,
        ),
    ]
}

pub(super) fn run_line(r: &Run) -> String {
    format!(
        "{} delivered ({} answered 250; p99 {}; {} of server CPU each; client {:.2} cores busy{})",
        per_second(delivered(r)),
        per_second(accepted(r)),
        milliseconds(p99(r)),
        microseconds(cpu_per_message(r)),
        r.s1.client_cores,
        match r.s1.failures {
            0 => String::new(),
            n => format!(
                "; {n} FAILED, first: {}",
                r.s1.first_failure.as_deref().unwrap_or("?")
            ),
        }
    )
}

/// The per-run ratios of V1's target and whether every one clears it.
pub(super) fn verdict(results: &Results) -> String {
    let per_run = ratios(results, [Side::CongvuSieve, Side::Congvu], delivered);
    let shown: Vec<String> = per_run
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "run {}: {r:.3}× ({} over {})",
                i + 1,
                per_second(delivered(&results.of(Side::CongvuSieve)[i])),
                per_second(delivered(&results.of(Side::Congvu)[i]))
            )
        })
        .collect();
    let least = per_run.iter().copied().fold(f64::INFINITY, f64::min);
    let verdict = if least >= TARGET {
        format!(
            "met in every run, the lowest run {:.1}% above the 0.8× line",
            (least / TARGET - 1.0) * 100.0
        )
    } else {
        format!(
            "NOT met in every run: the lowest run is {:.1}% below the 0.8× line",
            (1.0 - least / TARGET) * 100.0
        )
    };
    format!(
        "V1 per run, congvu with scripts ÷ without: {}; the target is {verdict}.",
        shown.join(", ")
    )
}

/// Per-run ratios of `sides`, as `0.91×, 0.88×, …`.
pub(super) fn per_run(results: &Results, sides: [Side; 2]) -> String {
    ratios(results, sides, delivered)
        .into_iter()
        .map(times)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Report<'_> {
    pub(super) fn render(&self) -> String {
        let mut out = self.heading();
        out.push_str(&self.method());
        out.push('\n');
        out.push_str(&table(
            "with",
            "against",
            &rows(self.results),
            "failed messages",
        ));
        out.push('\n');
        for line in self.details() {
            out.push_str(&format!("- {line}\n"));
        }
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    pub(super) fn heading(&self) -> String {
        let args = self.args;
        let placement = placement(
            self.pinned,
            self.machine.cores,
            ["congvu, Postfix and Dovecot", "servers"],
            "client",
        );
        let mut out = format!(
            "{begin}\n## V1: delivery with every recipient's Sieve script active\n\n\
             Measured by `bench/sieve.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {before} before the run, {after} right after it), {placement}.\n\
             Each of the four sides ran {runs} time(s), taking turns (the order reversing every run);\n\
             figures are medians, ranges in brackets (the ratio column: the median and range of the\n\
             per-run ratios), and the target counts as met only when every run's ratio clears it.\n\n",
            begin = MARKERS.begin,
            command = user_arguments(&PATH_OPTIONS),
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            before = self.machine.load,
            after = self.load_after,
            runs = args.runs,
        );
        let before: f64 = self.machine.load.parse().unwrap_or(0.0);
        if before > 1.0 {
            out.push_str(&format!(
                "Other work was still running on this shared machine when the run started (load\n\
                 average {before:.2} on {} cores): absolute rates are lower than on a quiet machine,\n\
                 and each run's ratio drifts with what else ran during it.\n\n",
                self.machine.cores
            ));
        }
        out
    }

    pub(super) fn method(&self) -> String {
        let args = self.args;
        format!(
            "- Messages: S1's (see above), the same stream on every side: {messages} per run of {length}\n  \
             payload bytes on {sessions} parallel sessions, a new connection per message, smtp-source's\n  \
             session from `sender@example.org`, spread round-robin over {mailboxes} mailboxes, with one header\n  \
             more, as smtp-source's `-S` adds it: `Subject: {SUBJECT}` (\"Trao đổi về hồ sơ dự án\"), so the\n  \
             subject tests read a real, encoded subject.\n\
             - The script (`bench/src/sieve/official.sieve`, {bytes} bytes): an official's 20 rules in\n  \
             Vietnamese, requiring `fileinto`, `mailbox`, `imap4flags`, `envelope`, `body`, `vacation`,\n  \
             `date` and `relational`: `address :is`/`:domain` tests on From, To and Cc, `header :contains`\n  \
             on Subject and List-Id, `header :is` on X-Priority and X-Spam-Flag, two `envelope` tests, two\n  \
             `body :contains` tests (each reads the whole body), `fileinto :create` into named folders (with\n  \
             `:flags` twice), three `addflag`s, and an out-of-office `vacation` inside a `currentdate` range\n  \
             that has passed (Tết 2025), so no reply is sent and no reply's cost is counted. Every rule but\n  \
             the last misses the benchmark's messages, so all 20 are evaluated; the last, `if not address\n  \
             :domain :matches \"from\" [\"*.gov.vn\", \"chinhphu.vn\"]`, files them into “{FOLDER}”,\n  \
             made by the first one. Pigeonhole's `sievec` compiles the same file before the runs.\n\
             - congvu: {officials} officials from `congvu-admin user import`; each of the {mailboxes} recipients got\n  \
             the script as `main` through the library's `Scripts::put` (which compiles it before storing\n  \
             it, as ManageSieve, the portal and `congvu-admin sieve put` do; {seeded:.1} s for all of them). Before\n  \
             each run, with the server stopped, the script was made active for every recipient, or for none\n  \
             (`Scripts::activate`); the server then started afresh, so every scripted run compiled each\n  \
             recipient's script again at its first message. 250 means committed and synced.\n\
             - Postfix → Dovecot: Postfix {postfix} configured as for S1, except `virtual_transport =\n  \
             lmtp:unix:…/dovecot-run/lmtp`, in front of a private Dovecot {dovecot} (`dovecot -F` with its own\n  \
             configuration, `base_dir` and log under the work directory; LMTP only; `mail_location =\n  \
             maildir:~/Maildir`, a static userdb with a home per address, created before the runs with an\n  \
             empty Maildir; default `mail_fsync = optimized`, so each file is synced before LMTP's 250;\n  \
             `protocol lmtp {{ mail_plugins = $mail_plugins sieve }}` with `sieve =\n  \
             file:~/sieve;active=~/.dovecot.sieve`). Every home holds the same script as `sieve/main.sieve`;\n  \
             before each run the `.dovecot.sieve` link to it was made in every home, or removed. Pigeonhole\n  \
             compiles it at its first use and keeps the binary as `~/.dovecot.svbin`, as it does by default, so\n  \
             only the first scripted run compiles (congvu compiles again in every scripted run, see above). The\n  \
             rate runs until the last message is a file in its recipient's folder (INBOX, or “{FOLDER}”,\n  \
             looked at every 20 ms); CPU is that of every Postfix and Dovecot process.\n\
             - Afterwards: {congvu}; {dovecot_census}.\n",
            messages = args.messages,
            length = args.length,
            sessions = args.sessions,
            mailboxes = args.mailboxes,
            bytes = SCRIPT.len(),
            officials = args.officials,
            seeded = self.seeded.as_secs_f64(),
            postfix = postfix_version(&args.programs.postfix),
            dovecot = dovecot_version(&args.dovecot),
            congvu = self.results.congvu_census,
            dovecot_census = self.results.dovecot_census,
        )
    }

    pub(super) fn details(&self) -> Vec<String> {
        let results = self.results;
        let mut lines = vec![
            verdict(results),
            format!(
                "Per run, Postfix → Dovecot with Pigeonhole ÷ without: {}; congvu with scripts ÷ \
                 Postfix → Dovecot with Pigeonhole: {}.",
                per_run(results, [Side::DovecotSieve, Side::Dovecot]),
                per_run(results, [Side::CongvuSieve, Side::DovecotSieve])
            ),
        ];
        for side in SIDES {
            let runs: Vec<String> = results.of(side).iter().map(run_line).collect();
            lines.push(format!("{} runs: {}.", side.name(), runs.join("; ")));
        }
        lines
    }
}

/// `dovecot --version`'s first word, e.g. `2.3.19.1`.
pub(super) fn dovecot_version(dovecot: &std::path::Path) -> String {
    let mut command = std::process::Command::new(dovecot);
    command.arg("--version");
    let version = crate::process::version(command, "(unknown version)");
    version
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
