//! The `inbound` section of docs/PERFORMANCE.md.

use crate::figures::{microseconds, milliseconds, per_second, times, Spread};
use crate::machine::Machine;
use crate::report::{placement, table, user_arguments, Markers, Row};
use crate::smtp::postfix_version;

use super::*;

/// After the SMTP section when first placed.
pub(super) const MARKERS: Markers = Markers {
    begin: "<!-- inbound:begin -->",
    end: "<!-- inbound:end -->",
    after: Some("<!-- smtp:end -->"),
};
/// The options bench/inbound.sh fills in, left out of the command the report shows.
pub(super) const PATH_OPTIONS: [&str; 6] = [
    "--server",
    "--admin",
    "--postfix",
    "--postmap",
    "--work-dir",
    "--report",
];
/// S4's target: enforce at no less than this share of the rate with checks off.
pub(super) const S4_TARGET: f64 = 0.7;

pub(super) struct Report<'a> {
    pub(super) args: &'a InboundArgs,
    pub(super) machine: &'a Machine,
    pub(super) load_after: String,
    pub(super) pinned: bool,
    pub(super) results: &'a Results,
}

/// Figures of one side over the runs.
pub(super) fn spread(runs: &[&Run], figure: fn(&Run) -> f64) -> Option<Spread> {
    Spread::of(&runs.iter().map(|r| figure(r)).collect::<Vec<_>>())
}

pub(super) use crate::smtp::stream_figures::{accepted, cpu_per_message, delivered, p50, p99};

/// A row comparing `ours` with `reference`, the ratio of their medians.
pub(super) fn row(
    id: &'static str,
    what: String,
    ours: &[&Run],
    reference: &[&Run],
    figure: fn(&Run) -> f64,
    unit: fn(f64) -> String,
) -> Row {
    let failures: usize = ours.iter().chain(reference).map(|r| r.s1.failures).sum();
    Row::compare(
        id,
        what,
        [spread(ours, figure), spread(reference, figure)],
        unit,
    )
    .invalid(failures as u64)
}

pub(super) fn run_line(r: &Run) -> String {
    format!(
        "{} delivered ({} answered 250; p50 {}, p99 {}; {} of server CPU each; client {:.2} cores busy{})",
        per_second(delivered(r)),
        per_second(accepted(r)),
        milliseconds(p50(r)),
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

impl Report<'_> {
    pub(super) fn render(&self) -> String {
        let args = self.args;
        let placement = placement(
            self.pinned,
            self.machine.cores,
            ["congvu and Postfix", "servers"],
            "client",
        );
        let mut out = format!(
            "{begin}\n## S4, S5: the MX with inbound protection on\n\n\
             Measured by `bench/inbound.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {before} before the run, {after} right after it, a figure that includes\n\
             the benchmark's own servers, rspamd and clamd), {placement}.\n\
             Each workload ran {runs} time(s) on each side, the sides taking turns (the order flipping\n\
             every run); figures are medians, ranges in brackets, and a target counts as met only when\n\
             every run's ratio clears it. congvu holds {n} officials from `congvu-admin user import`.\n\
             Both workloads are S1's (see above): {messages} messages of {length} payload bytes per run on\n\
             {sessions} parallel sessions, a new connection per message, smtp-source's session, spread\n\
             round-robin over {mailboxes} mailboxes; congvu's 250 means committed and synced into the INBOX.\n\n",
            begin = MARKERS.begin,
            command = user_arguments(&PATH_OPTIONS),
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            before = self.machine.load,
            after = self.load_after,
            runs = args.runs,
            n = args.officials,
            messages = args.messages,
            length = args.length,
            sessions = args.sessions,
            mailboxes = args.mailboxes,
        );
        let before: f64 = self.machine.load.parse().unwrap_or(0.0);
        if before > 1.0 {
            out.push_str(&format!(
                "Other work (builds, test runs) was still running on this shared machine when the run\n\
                 started (load average {before:.2} on {} cores): absolute rates are lower than on a quiet\n\
                 machine, and each run's ratio drifts with what else ran during it.\n\n",
                self.machine.cores
            ));
        }
        let mut rows = Vec::new();
        let mut details = Vec::new();
        if let Some(s4) = &self.results.s4 {
            out.push_str(&self.s4_method(s4));
            rows.extend(self.s4_rows(s4));
            details.push(self.s4_details(s4));
        }
        if let Some(s5) = &self.results.s5 {
            out.push_str(&self.s5_method());
            rows.extend(s5_rows(s5));
            details.push(s5_details(s5));
        }
        out.push('\n');
        out.push_str(&table("measured", "reference", &rows, "failed messages"));
        out.push('\n');
        for d in details {
            out.push_str(&format!("- {d}\n"));
        }
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    pub(super) fn s4_method(&self, s4: &S4) -> String {
        let questions: Vec<String> = s4.questions.iter().map(usize::to_string).collect();
        format!(
            "- S4: congvu alone, restarted for each run, once with `[inbound] authentication = \"off\"` and\n  \
             once with `\"enforce\"`. Every message comes from `{sender}` (HELO `{SENDER_HOST}`, the same\n  \
             address in `From:`), its `To:` naming its mailbox; each mailbox's message was signed once before\n  \
             the runs by dkimpy's `dkimsign` (rsa-sha256, 2048-bit key, `c=relaxed/relaxed`, `s={SELECTOR}`), and\n  \
             both modes send those same bytes. With `enforce`, congvu checks SPF of the HELO name and of\n  \
             MAIL FROM, the DKIM signature and DMARC of every message, asking `[dns] servers`: a DNS server\n  \
             inside the benchmark process (so on the client's cores) serving `{SENDER_DOMAIN} TXT \"{SPF}\"`,\n  \
             the same for `{SENDER_HOST}`, the key at `{SELECTOR}._domainkey.{SENDER_DOMAIN}` and\n  \
             `_dmarc.{SENDER_DOMAIN} TXT \"{DMARC}\"`, TTL 300 s. `[dns] cache_entries` stays at its default\n  \
             (4096), so congvu's resolver caches the answers as it does in production: the DNS server was\n  \
             asked {q} question(s) in the enforce runs, one run after another, each run starting a new server\n  \
             process with an empty cache. Afterwards: {census}; {verdicts}.\n",
            sender = S4_ENVELOPE.sender,
            q = questions.join(", "),
            census = s4.census,
            verdicts = s4.verdicts,
        )
    }

    pub(super) fn s5_method(&self) -> String {
        format!(
            "- S5: the same S1 messages (from `sender@example.org`, HELO `bench.example.org`), congvu\n  \
             with `[filter.clamav] address = \"tcp:127.0.0.1:PORT\"` and `[filter.rspamd] url` (ClamAV first,\n  \
             then rspamd's `/checkv2` on its normal worker; `authentication = \"off\"`, as Postfix checks no\n  \
             sender), against Postfix {version} configured as for S1 plus `smtpd_milters =\n  \
             inet:127.0.0.1:PORT` (rspamd's proxy worker in milter mode, handing each message to the same\n  \
             normal worker) and `milter_default_action = tempfail`. rspamd is Debian's 3.4 with its stock\n  \
             rules as the test kit configures it (modules that ask DNS off, Bayes on sqlite3); its `antivirus`\n  \
             module (type clamav, whole messages) asks the same clamd (Debian's, one test signature, `LogClean\n  \
             yes` so that every clean stream is counted) for Postfix's messages, and is skipped for congvu's\n  \
             requests (by their `MTA-Name`), since congvu asks clamd itself. rspamd and clamd were started\n  \
             before the client was pinned and may run on every core; their CPU is in neither server's CPU\n  \
             figure. Postfix's rate runs until the last message is a file in its Maildir; end of DATA → 250\n  \
             includes the scans on both sides (the milter answers before Postfix's 250).\n",
            version = postfix_version(&self.args.programs.postfix),
        )
    }

    pub(super) fn s4_rows(&self, s4: &S4) -> Vec<Row> {
        let enforce: Vec<&Run> = s4.enforce.iter().collect();
        let off: Vec<&Run> = s4.off.iter().collect();
        let ratios = s4_ratios(s4);
        let failures: usize = enforce.iter().chain(&off).map(|r| r.s1.failures).sum();
        let mut rate = row(
            "S4",
            format!(
                "messages/s accepted and delivered into {} mailboxes, `enforce` vs `off`",
                self.args.mailboxes
            ),
            &enforce,
            &off,
            delivered,
            per_second,
        );
        rate.ratio = Spread::of(&ratios).map(|s| s.show(times));
        rate.target = "≥ 0.7×";
        rate.met = (!ratios.is_empty()).then(|| ratios.iter().all(|r| *r >= S4_TARGET));
        rate.invalid = failures as u64;
        vec![
            rate,
            row(
                "S4",
                "server CPU per message, `enforce` vs `off`".into(),
                &enforce,
                &off,
                cpu_per_message,
                microseconds,
            ),
            row(
                "S4",
                "p99 end of DATA → 250, `enforce` vs `off`".into(),
                &enforce,
                &off,
                p99,
                milliseconds,
            ),
        ]
    }

    pub(super) fn s4_details(&self, s4: &S4) -> String {
        let ratios = s4_ratios(s4);
        let per_run: Vec<String> = ratios
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "run {}: {r:.3}× ({} over {})",
                    i + 1,
                    per_second(delivered(&s4.enforce[i])),
                    per_second(delivered(&s4.off[i]))
                )
            })
            .collect();
        let least = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let verdict = if least >= S4_TARGET {
            format!(
                "met in every run, the lowest run {:.1}% above the 0.7× line",
                (least / S4_TARGET - 1.0) * 100.0
            )
        } else {
            format!(
                "NOT met in every run: the lowest run is {:.1}% below the 0.7× line",
                (1.0 - least / S4_TARGET) * 100.0
            )
        };
        let lines = |runs: &[Run]| runs.iter().map(run_line).collect::<Vec<_>>().join("; ");
        format!(
            "S4 per run, enforce ÷ off: {}; the target is {verdict}. Enforce runs: {}. Off runs: {}.",
            per_run.join(", "),
            lines(&s4.enforce),
            lines(&s4.off)
        )
    }
}

/// Each run's enforce rate over the off rate of the same run.
pub(super) fn s4_ratios(s4: &S4) -> Vec<f64> {
    s4.enforce
        .iter()
        .zip(&s4.off)
        .map(|(e, o)| delivered(e) / delivered(o))
        .collect()
}

/// One S5 row: what it measures, the figure of a run, and how the figure is shown.
pub(super) type S5Row = (&'static str, fn(&Run) -> f64, fn(f64) -> String);

pub(super) fn s5_rows(s5: &S5) -> Vec<Row> {
    let congvu: Vec<&Run> = s5.congvu.iter().map(|(r, _)| r).collect();
    let postfix: Vec<&Run> = s5.postfix.iter().map(|(r, _)| r).collect();
    let rows: [S5Row; 5] = [
        (
            "messages/s accepted and delivered, rspamd + ClamAV, congvu vs Postfix",
            delivered,
            per_second,
        ),
        (
            "messages/s answered 250 (Postfix: queued, not yet delivered)",
            accepted,
            per_second,
        ),
        ("p50 end of DATA → 250, scans included", p50, milliseconds),
        ("p99 end of DATA → 250, scans included", p99, milliseconds),
        (
            "server CPU per message (rspamd and clamd not counted)",
            cpu_per_message,
            microseconds,
        ),
    ];
    rows.into_iter()
        .map(|(what, figure, unit)| row("S5", what.into(), &congvu, &postfix, figure, unit))
        .collect()
}

pub(super) fn s5_details(s5: &S5) -> String {
    let side = |runs: &[(Run, Scans)]| {
        runs.iter()
            .map(|(r, s)| format!("{} — scans: {}", run_line(r), s.show()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let ratios: Vec<String> = s5
        .congvu
        .iter()
        .zip(&s5.postfix)
        .map(|((c, _), (p, _))| times(delivered(c) / delivered(p)))
        .collect();
    format!(
        "S5 per run, congvu ÷ Postfix: {}. congvu runs: {}. Postfix runs: {}.",
        ratios.join(", "),
        side(&s5.congvu),
        side(&s5.postfix)
    )
}
