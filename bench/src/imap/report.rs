//! The `imap` section of docs/PERFORMANCE.md: the table of I1, I2, I3 and M1 against Dovecot
//! and the figures behind it.

use std::path::Path;
use std::process::Command;

use crate::figures::{
    bytes_roughly, microseconds, milliseconds, paired_ratios, per_second, ratio, seconds, spreads,
};
use crate::machine::Machine;
use crate::process::version;
use crate::report::{placement, table, unavailable, user_arguments, Markers, Row};

use super::*;

/// This benchmark's section of docs/PERFORMANCE.md: after the SMTP one when first placed.
pub(super) const MARKERS: Markers = Markers {
    begin: "<!-- imap:begin -->",
    end: "<!-- imap:end -->",
    after: Some("<!-- smtp:end -->"),
};
/// The options bench/imap.sh fills in, left out of the command the report shows.
pub(super) const PATH_OPTIONS: [&str; 7] = [
    "--server",
    "--admin",
    "--dovecot",
    "--doveadm",
    "--mbsync",
    "--work-dir",
    "--report",
];

/// Everything the report section says.
#[derive(Debug)]
pub(super) struct Report<'a> {
    pub(super) args: &'a ImapArgs,
    pub(super) machine: &'a Machine,
    pub(super) pinned: bool,
    pub(super) corpus: &'a Corpus,
    pub(super) figures: &'a [Figures],
    /// Servers that refused every connection, with what they said.
    pub(super) unavailable: &'a [(ServerKind, String)],
}

/// Dovecot's version, as `dovecot --version` prints it.
pub(super) fn dovecot_version(dovecot: &Path) -> String {
    let mut command = Command::new(dovecot);
    command.arg("--version");
    version(command, "(version unknown)")
}

/// isync's version, as `mbsync --version` prints it.
pub(super) fn mbsync_version(mbsync: &Path) -> String {
    let mut command = Command::new(mbsync);
    command.arg("--version");
    version(command, "isync (version unknown)")
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
            "clients",
        );
        let mut out = format!(
            "{begin}\n## I1, I2, I3, M1: IMAP against Dovecot\n\n\
             Measured by `bench/imap.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {load} before the run), {placement}. Each I1 workload ran {runs}\n\
             time(s) on each server, the servers taking turns; figures are medians, ranges in brackets.\n\
             Both servers hold the same {n} officials: congvu from `congvu-admin user import`, Dovecot\n\
             {version} as a private instance on loopback (a passwd-file of the same logins, mail in\n\
             Maildir, stock durability `mail_fsync = optimized`, auth cache off as congvu has none,\n\
             imap-login in high-performance mode with one process per core). Officials who log in have\n\
             chosen passwords, stored on both sides as argon2id m=19456 KiB, t=2, p=1. Both serve IMAP\n\
             over implicit TLS with the same self-signed certificate and log as they do by default.\n\
             The ratio is congvu's figure over Dovecot's; for rates, Dovecot's rate over congvu's, so\n\
             that it reads as time in every row and the I1 target is ≤ 0.7× throughout.\n\n",
            begin = MARKERS.begin,
            command = user_arguments(&PATH_OPTIONS),
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            load = self.machine.load,
            runs = args.runs,
            n = args.officials,
            version = dovecot_version(&args.dovecot),
        );
        out.push_str(&self.method());
        for (kind, text) in self.unavailable {
            out.push_str(&unavailable(kind.name(), "IMAP", text));
        }
        out.push_str(&table("congvu", "Dovecot", &self.rows(), "failures"));
        out.push_str(&self.details());
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    /// How each workload that ran was measured, one bullet each.
    pub(super) fn method(&self) -> String {
        let args = self.args;
        let mut out = String::new();
        if args.workloads.contains(&Workload::I1) {
            let n = self.corpus.messages.len();
            out.push_str(&format!(
                "- Mailbox: {n} messages, {total} in all, 2–50 KiB each (sizes log-uniform), built with\n  \
                 mail-builder: of every 20, 12 Vietnamese text/plain (half sent 8bit, half quoted-printable\n  \
                 or base64), 5 English, 2 multipart/alternative with HTML, 1 multipart/mixed with a PDF or\n  \
                 DOCX attachment; 70% \\Seen. Seeded once per server by APPEND over one connection\n  \
                 (synchronising literals), the same bytes on both; every stored RFC822.SIZE is checked.\n\
                 - I1a: {mbsync} (`mbsync`, `Sync Pull`, `FSync no`) pulls that INBOX into an empty Maildir\n  \
                 {local}. Wall time of the whole run, and mbsync's own CPU; every message must arrive.\n\
                 - I1b: {k} sessions of one official at once each send `UID FETCH 1:* (FLAGS RFC822.SIZE\n  \
                 ENVELOPE BODYSTRUCTURE)` (rate: messages listed per second of wall time from the first\n  \
                 command to the last answer; one session's listing on each server before the first run,\n  \
                 unmeasured, so that every run meets a warm server), then `FETCH n BODY.PEEK[]` for\n  \
                 random n for {s} s; every listing must give each message with its envelope, body\n  \
                 structure and size, every body must be its size.\n",
                total = bytes_roughly(self.corpus.bytes() as f64),
                mbsync = mbsync_version(&args.mbsync),
                local = match load::mbsync_scratch() {
                    Some(dir) => format!(
                        "held in memory ({}, tmpfs) so that the client's file system does not\n  \
                         set the pace",
                        dir.display()
                    ),
                    None => "on the work directory's file system (no tmpfs at /dev/shm)".into(),
                },
                k = args.sessions,
                s = args.seconds,
            ));
        }
        if args.workloads.contains(&Workload::I2) {
            out.push_str(&self.text_search_method());
        }
        if args.workloads.contains(&Workload::I3) {
            out.push_str(&self.large_method());
        }
        if args.workloads.contains(&Workload::M1) {
            out.push_str(&format!(
                "- M1: each server restarted, then {idle} officials logged in (LOGIN, SELECT INBOX; their\n  \
                 INBOXes empty but the I1 official's), and {ldap} more connections to congvu's LDAP service\n  \
                 bound as officials; after {settle} s idle, the resident memory of every process of the\n  \
                 server (congvu: one; Dovecot: its master and every process it started), then a NOOP on\n  \
                 each IMAP connection. **The reference is Dovecot alone**: slapd and Postfix, which the\n  \
                 target counts with it, are not started, and Dovecot holds no LDAP connections, so the\n  \
                 ratio is higher (harder for congvu) than the target's own reference would give.\n",
                idle = args.idle,
                ldap = args.ldap_idle,
                settle = M1_SETTLE.as_secs(),
            ));
        }
        out.push('\n');
        out
    }

    pub(super) fn rows(&self) -> Vec<Row> {
        let c = self.figures(ServerKind::Congvu);
        let d = self.figures(ServerKind::Dovecot);
        let mut rows = Vec::new();
        if self.args.workloads.contains(&Workload::I1) {
            rows.extend(self.sync_rows(c, d));
            rows.extend(self.fetch_rows(c, d));
        }
        if self.args.workloads.contains(&Workload::I2) {
            rows.extend(self.text_search_rows(c, d));
        }
        if self.args.workloads.contains(&Workload::I3) {
            rows.extend(self.large_rows(c, d));
        }
        if self.args.workloads.contains(&Workload::M1) {
            rows.extend(self.memory_rows(c, d));
        }
        rows
    }

    pub(super) fn sync_rows(&self, c: Option<&Figures>, d: Option<&Figures>) -> Vec<Row> {
        let n = self.corpus.messages.len();
        let failed: usize = [c, d]
            .iter()
            .flatten()
            .map(|f| f.sync.iter().filter(|r| r.failure.is_some()).count())
            .sum();
        let wall = |f: &Figures| f.sync.iter().map(|r| r.elapsed.as_secs_f64()).collect();
        let time = spreads(c, d, wall);
        let each = paired_ratios(c, d, wall);
        let cpu = spreads(c, d, |f| {
            f.sync.iter().map(|r| r.cpu.as_secs_f64()).collect()
        });
        let client = spreads(c, d, |f| {
            f.sync.iter().map(|r| r.client_cpu.as_secs_f64()).collect()
        });
        let seed = spreads(c, d, |f| {
            f.seed.iter().map(|s| s.elapsed.as_secs_f64()).collect()
        });
        let sync = format!("`mbsync` full sync of the {n}-message INBOX: wall time");
        let append = format!("APPEND of the {n} messages over one connection: wall time");
        vec![
            Row::compare("I1a", sync, time, seconds)
                .every_run_at_most("≤ 0.7× in every run", &each, 0.7)
                .invalid(failed as u64),
            Row::compare("I1a", "server CPU during the sync", cpu, seconds).invalid(failed as u64),
            Row::compare("I1a", "mbsync's own CPU during the sync", client, seconds)
                .invalid(failed as u64),
            Row::compare("I1 seed", append, seed, seconds),
        ]
    }

    pub(super) fn fetch_rows(&self, c: Option<&Figures>, d: Option<&Figures>) -> Vec<Row> {
        let k = self.args.sessions;
        let failed: usize = [c, d]
            .iter()
            .flatten()
            .map(|f| f.fetch.iter().map(|r| r.failures).sum::<usize>())
            .sum();
        let figure =
            |get: fn(&FetchRun) -> f64| spreads(c, d, move |f| f.fetch.iter().map(get).collect());
        let listed = figure(FetchRun::listed_per_second);
        let listed_p99 = figure(FetchRun::listing_p99_ms);
        let bodies = figure(FetchRun::bodies_per_second);
        let bodies_p99 = figure(FetchRun::body_p99_ms);
        let body_cpu = figure(FetchRun::body_cpu_us);
        // Each run's rates as a time ratio: the reference's rate over ours, in run order.
        let each = |get: fn(&FetchRun) -> f64| {
            paired_ratios(d, c, move |f: &Figures| f.fetch.iter().map(get).collect())
        };
        let (lr, br) = (
            each(FetchRun::listed_per_second),
            each(FetchRun::bodies_per_second),
        );
        let failed = failed as u64;
        let listing = format!(
            "`UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)`, {k} sessions at once: \
             messages/s"
        );
        let bodies_what = format!("`FETCH n BODY.PEEK[]`, random n, {k} sessions: messages/s");
        vec![
            Row::compare("I1b", listing, listed, per_second)
                .every_run_at_most("≤ 0.7× in every run", &lr, 0.7)
                .invalid(failed),
            Row::compare("I1b", "p99 of that command", listed_p99, milliseconds).invalid(failed),
            Row::compare("I1b", bodies_what, bodies, per_second)
                .every_run_at_most("≤ 0.7× in every run", &br, 0.7)
                .invalid(failed),
            Row::compare(
                "I1b",
                "p99 per `FETCH n BODY.PEEK[]`",
                bodies_p99,
                milliseconds,
            )
            .invalid(failed),
            Row::compare(
                "I1b",
                "server CPU per `FETCH n BODY.PEEK[]`",
                body_cpu,
                microseconds,
            )
            .invalid(failed),
        ]
    }

    pub(super) fn memory_rows(&self, c: Option<&Figures>, d: Option<&Figures>) -> Vec<Row> {
        let args = self.args;
        // A connection that did not open or did not answer NOOP makes the figure a
        // measurement of fewer connections than the row says.
        let failed: usize = [c, d]
            .iter()
            .flatten()
            .filter_map(|f| f.memory.as_ref().map(|m| (f.kind, m)))
            .map(|(kind, m)| {
                let ldap = if kind == ServerKind::Congvu {
                    args.ldap_idle.saturating_sub(m.ldap_opened)
                } else {
                    0
                };
                args.idle.saturating_sub(m.alive) + ldap
            })
            .sum();
        let figure = |get: fn(&MemoryRun) -> u64| {
            spreads(c, d, move |f| {
                f.memory.iter().map(|m| get(m) as f64).collect()
            })
        };
        let rss = figure(|m| m.idle.rss);
        let pss = figure(|m| m.idle.pss);
        let before = figure(|m| m.before.rss);
        let r = ratio(rss[0], rss[1]);
        let resident = format!(
            "RSS summed over the server's processes: {} officials, {} idle IMAP sessions, \
             {} idle LDAP connections (congvu only); reference Dovecot alone",
            args.officials, args.idle, args.ldap_idle
        );
        let shared = "the same as PSS (pages shared between processes counted once)";
        let restarted = "RSS right after a restart, before any connection";
        vec![
            Row::compare("M1", resident, rss, bytes_roughly)
                .target("≤ 0.5×", r.map(|r| r <= 0.5))
                .invalid(failed as u64),
            Row::compare("M1", shared, pss, bytes_roughly).invalid(failed as u64),
            Row::compare("M1", restarted, before, bytes_roughly),
        ]
    }

    /// The figures behind the table that explain it.
    pub(super) fn details(&self) -> String {
        let mut out = String::from("\n");
        for f in self.figures {
            let mut parts = self.i1_details(f);
            if let Some(search) = &f.text_search {
                parts.push(search.describe(self.args.search_messages, "I2"));
            }
            if let Some(fts) = &f.text_search_fts {
                parts.push(fts.describe(self.args.search_messages, "I2 with fts-xapian"));
            }
            if let Some(large) = &f.large {
                parts.push(large.describe());
            }
            if let Some(m) = &f.memory {
                parts.push(format!(
                    "M1: {} IMAP sessions opened, {} answered NOOP after the reading, {} LDAP \
                     connections bound; {} processes ({} before the connections)",
                    m.imap_opened, m.alive, m.ldap_opened, m.idle.processes, m.before.processes
                ));
            }
            out.push_str(&format!("- {}: {}.\n", f.kind.name(), parts.join(". ")));
            let failures = f
                .sync
                .iter()
                .filter_map(|r| r.failure.as_ref().map(|e| ("I1a", e)))
                .chain(
                    f.fetch
                        .iter()
                        .filter_map(|r| r.first_failure.as_ref().map(|e| ("I1b", e))),
                )
                .chain(
                    f.memory
                        .iter()
                        .filter_map(|m| m.first_failure.as_ref().map(|e| ("M1", e))),
                );
            for (what, first) in failures.take(3) {
                out.push_str(&format!("- {} {what}: failed: {first}\n", f.kind.name()));
            }
        }
        out
    }

    /// What explains I1's rows on one server: the seed, each mbsync run, each I1b run.
    fn i1_details(&self, f: &Figures) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(seed) = &f.seed {
            parts.push(format!(
                "seeding took {} ({}, {} of server CPU); {}",
                seconds(seed.elapsed.as_secs_f64()),
                per_second(self.corpus.messages.len() as f64 / seed.elapsed.as_secs_f64()),
                seconds(seed.cpu.as_secs_f64()),
                seed.check
            ));
        }
        if !f.sync.is_empty() {
            parts.push(format!(
                "mbsync runs: {}",
                f.sync
                    .iter()
                    .map(|r| format!(
                        "{} ({} synced, {} of server CPU, {} of mbsync's)",
                        seconds(r.elapsed.as_secs_f64()),
                        r.synced,
                        seconds(r.cpu.as_secs_f64()),
                        seconds(r.client_cpu.as_secs_f64())
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !f.fetch.is_empty() {
            parts.push(format!(
                "I1b runs: {}",
                f.fetch
                    .iter()
                    .map(|r| format!(
                        "listings {} in {} ({} of server CPU), then {} bodies at {} ({}/s), \
                         p99 {}",
                        r.listed,
                        seconds(r.listing_wall.as_secs_f64()),
                        seconds(r.listing_cpu.as_secs_f64()),
                        r.bodies.len(),
                        per_second(r.bodies_per_second()),
                        bytes_roughly(r.body_bytes as f64 / r.bodies_wall.as_secs_f64()),
                        milliseconds(r.body_p99_ms())
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        parts
    }
}
