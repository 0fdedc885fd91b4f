//! The `smtp` section of docs/PERFORMANCE.md: the table of S1–S3 against Postfix and the
//! figures behind it.

use std::path::Path;
use std::process::Command;

use crate::figures::{
    bytes, microseconds, milliseconds, per_second, ratio, seconds, spreads, times,
};
use crate::machine::Machine;
use crate::process::version;
use crate::report::{placement, table, unavailable, user_arguments, Markers, Row};
use crate::server::DOMAIN;

use super::*;

/// This benchmark's section of docs/PERFORMANCE.md: after the LDAP one when first placed.
pub(super) const MARKERS: Markers = Markers {
    begin: "<!-- smtp:begin -->",
    end: "<!-- smtp:end -->",
    after: Some("<!-- ldap:end -->"),
};
/// The options bench/smtp.sh fills in, left out of the command the report shows.
pub(super) const PATH_OPTIONS: [&str; 7] = [
    "--server",
    "--admin",
    "--postfix",
    "--postmap",
    "--smtp-source",
    "--work-dir",
    "--report",
];

/// Everything the report section says.
#[derive(Debug)]
pub(super) struct Report<'a> {
    pub(super) args: &'a SmtpArgs,
    pub(super) machine: &'a Machine,
    pub(super) pinned: bool,
    pub(super) figures: &'a [Figures],
    /// Servers that refused every connection, with what they said.
    pub(super) unavailable: &'a [(ServerKind, String)],
}

impl Report<'_> {
    pub(super) fn figures(&self, kind: ServerKind) -> Option<&Figures> {
        self.figures.iter().find(|f| f.kind == kind)
    }

    pub(super) fn render(&self) -> String {
        let args = self.args;
        let placement = placement(
            self.pinned,
            self.machine.cores,
            ["each server", "servers"],
            "client",
        );
        let mut out = format!(
            "{begin}\n## S1–S3: SMTP against Postfix\n\n\
             Measured by `bench/smtp.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {load} before the run), {placement}. Each workload ran {runs} time(s)\n\
             on each server, the servers taking turns; figures are medians, ranges in brackets.\n\
             Both servers hold the same {n} officials: congvu from `congvu-admin user import`, Postfix\n\
             {postfix_version} as a private instance on loopback (`virtual_mailbox_maps` in a `hash:` table, one\n\
             Maildir per official created before the runs, as congvu creates mailboxes at import; default\n\
             fsync behaviour; no content filters; `smtpd_recipient_restrictions = permit_auth_destination,\n\
             reject`). Each logs as it does by default: Postfix every message to its maillog, congvu at `info`.\n\n",
            begin = MARKERS.begin,
            command = user_arguments(&PATH_OPTIONS),
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            load = self.machine.load,
            runs = args.runs,
            n = args.officials,
            postfix_version = postfix_version(&args.programs.postfix),
        );
        out.push_str(&self.method());
        for (kind, text) in self.unavailable {
            out.push_str(&unavailable(kind.name(), "SMTP", text));
        }
        out.push_str(&table("congvu", "Postfix", &self.rows(), "failed messages"));
        out.push_str(&self.details());
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    /// How each workload that ran was measured, one bullet each.
    pub(super) fn method(&self) -> String {
        let args = self.args;
        let (messages, length, sessions) = (args.messages, args.length, args.sessions);
        let mut out = String::new();
        if args.workloads.contains(&Workload::S1) {
            out.push_str(&format!(
                "- S1: {messages} messages of {length} payload bytes on {sessions} parallel sessions, a new\n  \
                 connection per message, spread round-robin over {mailboxes} mailboxes. The session is\n  \
                 smtp-source's byte for byte (HELO, MAIL, RCPT, DATA, its four headers and payload, QUIT),\n  \
                 sent by `congvu-bench`: smtp-source names one recipient only (`-t`; `-r` and `-N` only\n  \
                 prepend numbers to it). congvu's 250 means the message is committed and synced into its\n  \
                 INBOX; Postfix answers 250 once the message is queued and delivers after, so its rate runs\n  \
                 until the last Maildir file exists (the Maildirs are looked at every {poll} ms), and its 250\n  \
                 rate is shown beside it.\n",
                mailboxes = args.mailboxes,
                poll = DELIVERY_POLL.as_millis(),
            ));
            if self.figures.iter().any(|f| !f.s1_source.is_empty()) {
                out.push_str(&format!(
                    "- S1 check: `smtp-source -s {sessions} -m {messages} -l {length} -f {SENDER} -t <one official>`\n  \
                     itself, against both servers.\n"
                ));
            }
        }
        if args.workloads.contains(&Workload::S2) {
            out.push_str(&format!(
                "- S2: the same messages, due at a fixed rate, half of each server's own S1 median (its 250\n  \
                 rate), for {} s with the first {} s left out, on up to {} sessions; the time from\n  \
                 writing the final `<CRLF>.<CRLF>` to reading the 250.\n",
                args.rate_seconds, args.rate_warmup, args.rate_sessions
            ));
            out.push_str(
                "- S2 stages (congvu): the same wait split by the server's own\n  \
                 `congvu_smtp_data_stage_seconds`, read before and after the measured part: check,\n  \
                 prepare, derive (hash, structure, text), queued (waiting for the group commit\n  \
                 before its own), commit; each as mean / p50 / p99, the quantiles as the bound of\n  \
                 their histogram bucket (steps of √2).\n",
            );
        }
        if args.workloads.contains(&Workload::S3) {
            let how = match args.circular_to {
                CircularTo::List => format!(
                    "the distribution list of every official,\n  `{LIST_NAME}@{DOMAIN}` (congvu: \
                     `group add --list` and one `group add-member` per official;\n  \
                     Postfix: one `virtual_alias_maps` entry)"
                ),
                CircularTo::Rcpt => "every official, one RCPT TO each".to_string(),
            };
            out.push_str(&format!(
                "- S3: one {} circular (a text part and a base64 attachment) in one session to {how};\n  \
                 the time from connecting until all {} officials can read it (congvu: the 250 after DATA;\n  \
                 Postfix: every Maildir file in place). Bytes added: congvu's data directory with its SQLite\n  \
                 database checkpointed (the server is stopped before and after each S3 run), Postfix's\n  \
                 Maildirs and queue, both counted as `du -sb` counts them.\n",
                bytes(args.circular_bytes as f64),
                args.officials
            ));
        }
        out.push('\n');
        out
    }

    pub(super) fn rows(&self) -> Vec<Row> {
        let c = self.figures(ServerKind::Congvu);
        let p = self.figures(ServerKind::Postfix);
        let mut rows = Vec::new();
        if self.args.workloads.contains(&Workload::S1) {
            rows.extend(self.s1_rows(c, p));
        }
        if self.args.workloads.contains(&Workload::S2) {
            rows.extend(s2_rows(c, p));
        }
        if self.args.workloads.contains(&Workload::S3) {
            rows.extend(self.s3_rows(c, p));
        }
        rows
    }

    pub(super) fn s1_rows(&self, c: Option<&Figures>, p: Option<&Figures>) -> Vec<Row> {
        fn failures(f: Option<&Figures>, runs: fn(&Figures) -> &[S1Run]) -> usize {
            f.map_or(0, |f| runs(f).iter().map(|r| r.failures).sum())
        }
        fn s1(f: &Figures) -> &[S1Run] {
            &f.s1
        }
        fn source_runs(f: &Figures) -> &[S1Run] {
            &f.s1_source
        }
        let failed = (failures(c, s1) + failures(p, s1)) as u64;
        let mut rows = Vec::new();
        let delivered = spreads(c, p, |f| {
            f.s1.iter().map(S1Run::delivered_per_second).collect()
        });
        let r = ratio(delivered[0], delivered[1]);
        let mailboxes = format!(
            "messages/s accepted and delivered into {} mailboxes",
            self.args.mailboxes
        );
        rows.push(
            Row::compare("S1", mailboxes, delivered, per_second)
                .target("≥ 3×", r.map(|r| r >= 3.0))
                .invalid(failed),
        );
        let accepted = spreads(c, p, |f| {
            f.s1.iter().map(S1Run::accepted_per_second).collect()
        });
        let queued = "messages/s answered 250 (Postfix: queued, not yet delivered)";
        rows.push(Row::compare("S1", queued, accepted, per_second).invalid(failed));
        let cpu = spreads(c, p, |f| {
            f.s1.iter().map(S1Run::cpu_us_per_message).collect()
        });
        let cpu_what = "server CPU per message, until delivered (Postfix: all its processes)";
        rows.push(Row::compare("S1", cpu_what, cpu, microseconds).invalid(failed));
        let source = spreads(c, p, |f| {
            f.s1_source
                .iter()
                .map(S1Run::delivered_per_second)
                .collect()
        });
        if source.iter().any(Option::is_some) {
            let what = "smtp-source itself, all to one mailbox: messages/s delivered";
            let failed = failures(c, source_runs) + failures(p, source_runs);
            rows.push(Row::compare("S1 check", what, source, per_second).invalid(failed as u64));
        }
        rows
    }

    pub(super) fn s3_rows(&self, c: Option<&Figures>, p: Option<&Figures>) -> Vec<Row> {
        let [ct, pt] = spreads(c, p, |f| {
            f.s3.iter().map(|r| r.readable.as_secs_f64()).collect()
        });
        let faster = ratio(pt, ct);
        let [cb, pb] = spreads(c, p, |f| {
            f.s3.iter().map(|r| r.bytes_added as f64).collect()
        });
        let share = ratio(cb, pb);
        let circular = format!(
            "{} circular to {} mailboxes: time until all can read it",
            bytes(self.args.circular_bytes as f64),
            self.args.officials
        );
        vec![
            Row {
                ratio: faster.map(|r| format!("{r:.0}× faster")),
                ..Row::compare("S3", circular, [ct, pt], seconds)
            }
            .target("≥ 50× faster", faster.map(|r| r >= 50.0)),
            Row {
                ratio: share.map(|r| {
                    if r > 0.0 {
                        format!("1/{:.0}", 1.0 / r)
                    } else {
                        times(r)
                    }
                }),
                ..Row::compare("S3", "disk bytes added", [cb, pb], bytes)
            }
            .target("≤ 1/300", share.map(|r| r <= 1.0 / 300.0)),
        ]
    }

    /// The figures behind the table that explain it.
    pub(super) fn details(&self) -> String {
        let mut out = String::from("\n");
        for f in self.figures {
            out.push_str(&server_details(f));
        }
        // With pinning the client has every core but the server's; a client that kept
        // them nearly all busy may have set the rate instead of the server.
        let client_cores = if self.pinned {
            self.machine.cores - 1
        } else {
            self.machine.cores
        } as f64;
        let saturated: Vec<String> = self
            .figures
            .iter()
            .filter(|f| {
                let s1 = f.s1.iter().chain(&f.s1_source).map(|r| r.client_cores);
                s1.chain(f.s2.iter().map(|r| r.client_cores))
                    .any(|busy| busy >= 0.9 * client_cores)
            })
            .map(|f| f.kind.name().to_string())
            .collect();
        if !saturated.is_empty() {
            out.push_str(&format!(
                "- Caution: against {} the client kept its {client_cores:.0} core(s) at least 90% busy in \
                 some run: the client, not the server, may have set that rate.\n",
                saturated.join(" and ")
            ));
        }
        out
    }
}

/// S1 runs as the details list them.
pub(super) fn s1_runs(runs: &[S1Run]) -> String {
    runs.iter()
        .map(|r| {
            format!(
                "{} delivered ({} answered 250, client {:.2} cores busy)",
                per_second(r.delivered_per_second()),
                per_second(r.accepted_per_second()),
                r.client_cores
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One server's line of figures per workload, and the first failures of its runs.
pub(super) fn server_details(f: &Figures) -> String {
    let mut out = String::new();
    let name = f.kind.name();
    let mut parts = Vec::new();
    for (label, runs) in [("S1 runs", &f.s1), ("smtp-source runs", &f.s1_source)] {
        if !runs.is_empty() {
            parts.push(format!("{label}: {}", s1_runs(runs)));
        }
    }
    if !f.s2.is_empty() {
        parts.push(format!(
            "S2 runs at {}: {}",
            per_second(f.s2[0].rate),
            f.s2.iter()
                .map(|r| format!(
                    "{} measured at {}, p50 {}, p99 {}, slowest {}, {} started late, \
                         {} of server CPU each, client {:.2} cores busy",
                    r.measured,
                    per_second(r.achieved),
                    milliseconds(r.p50_ms),
                    milliseconds(r.p99_ms),
                    milliseconds(r.max_ms),
                    r.late,
                    microseconds(r.cpu_us_per_message),
                    r.client_cores
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        let stages: Vec<String> =
            f.s2.iter()
                .filter_map(|r| r.stages.as_ref())
                .map(Stages::show)
                .collect();
        if !stages.is_empty() {
            parts.push(format!("S2 stages, run by run: {}", stages.join(" | ")));
        }
    }
    if !f.s3.is_empty() {
        parts.push(format!(
            "S3 runs: {}",
            f.s3.iter()
                .map(|r| format!(
                    "250 after {}, readable after {}, {} added, {} of server CPU{}",
                    seconds(r.accepted.as_secs_f64()),
                    seconds(r.readable.as_secs_f64()),
                    bytes(r.bytes_added as f64),
                    seconds(r.cpu.as_secs_f64()),
                    r.check
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if let Some(census) = &f.census {
        parts.push(format!("INBOXes after S1 and S2: {census}"));
    }
    out.push_str(&format!("- {name}: {}.\n", parts.join(". ")));
    let runs = f.s1.iter().chain(&f.s1_source);
    for (what, first) in runs
        .filter_map(|r| r.first_failure.as_ref().map(|e| ("S1", e)))
        .chain(
            f.s2.iter()
                .filter_map(|r| r.first_failure.as_ref().map(|e| ("S2", e))),
        )
        .take(3)
    {
        out.push_str(&format!("- {name} {what}: a message failed: {first}\n"));
    }
    out
}

pub(super) fn s2_rows(c: Option<&Figures>, p: Option<&Figures>) -> Vec<Row> {
    let rate = |f: Option<&Figures>| {
        f.and_then(|f| f.s2.first())
            .map_or_else(|| "—".to_string(), |r| per_second(r.rate))
    };
    let failures =
        |f: Option<&Figures>| f.map_or(0, |f| f.s2.iter().map(|r| r.failures).sum::<usize>());
    let failed = (failures(c) + failures(p)) as u64;
    let p99 = spreads(c, p, |f| f.s2.iter().map(|r| r.p99_ms).collect());
    let r = ratio(p99[0], p99[1]);
    let p50 = spreads(c, p, |f| f.s2.iter().map(|r| r.p50_ms).collect());
    let at_half = format!(
        "p99 end of DATA → 250, at half of S1 (congvu {}, Postfix {})",
        rate(c),
        rate(p)
    );
    vec![
        Row::compare("S2", at_half, p99, milliseconds)
            .target("≤ 0.5×", r.map(|r| r <= 0.5))
            .invalid(failed),
        Row::compare("S2", "p50 end of DATA → 250", p50, milliseconds).invalid(failed),
    ]
}

/// Postfix's version, as `postconf -d mail_version` prints it.
pub(crate) fn postfix_version(postfix: &Path) -> String {
    let mut postconf = Command::new(postfix.with_file_name("postconf"));
    postconf.args(["-d", "-h", "mail_version"]);
    version(postconf, "(version unknown)")
}
