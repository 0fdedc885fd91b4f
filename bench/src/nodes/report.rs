//! The `nodes` section of docs/PERFORMANCE.md: N1's throughput on two nodes against one,
//! the queue and IDLE checks, and what the machine allowed.

use crate::figures::{median, milliseconds, per_second, percentile, times, Spread};
use crate::report::{table, user_arguments, Markers, Row};

use super::*;

/// This benchmark's section of docs/PERFORMANCE.md: after the backup one when first placed.
pub(super) const MARKERS: Markers = Markers {
    begin: "<!-- nodes:begin -->",
    end: "<!-- nodes:end -->",
    after: Some("<!-- backup:end -->"),
};
/// The options bench/nodes.sh fills in, left out of the command the report shows.
pub(super) const PATH_OPTIONS: [&str; 4] = ["--server", "--admin", "--work-dir", "--report"];

/// Everything the report section says.
#[derive(Debug)]
pub(super) struct Report<'a> {
    pub(super) args: &'a NodesArgs,
    pub(super) machine: &'a Machine,
    pub(super) placement: &'a Placement,
    pub(super) postgres_version: &'a str,
    pub(super) runs: &'a [RunFigures],
}

impl Report<'_> {
    pub(super) fn render(&self) -> String {
        let mut out = format!(
            "{}\n## N1: two congvu nodes on one PostgreSQL\n\n{}",
            MARKERS.begin,
            self.method()
        );
        out.push_str(&table("two nodes", "one node", &self.rows(), "failures"));
        out.push('\n');
        for (run, figures) in self.runs.iter().enumerate() {
            out.push_str(&format!("- Run {}: {}\n", run + 1, run_line(figures)));
        }
        out.push_str(&failures(self.runs));
        out.push_str(&format!(
            "\n{}\n\n{}\n",
            SQLITE_NOTE,
            placement_note(self.placement)
        ));
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    fn method(&self) -> String {
        let (args, m) = (self.args, self.machine);
        format!(
            "Measured by `bench/nodes.sh{command}`, release build, on {cores} cores ({cpu}; 1-minute\n\
             load average {load} before the run), PostgreSQL {pg} on the same machine. Each of {runs}\n\
             run(s) has a database of its own with {officials} officials from `congvu-admin user import`;\n\
             both nodes run the same configuration (their own host name and ports) with the queue\n\
             relaying to an SMTP sink in the benchmark. Figures are medians over the runs, ranges in\n\
             brackets; a target is met only when every run clears it.\n\n\
             - Load, for {seconds} s with node A alone and {seconds} s with both nodes (the order flips\n  \
             run by run): {smtp} SMTP sessions deliver messages of {bytes} payload bytes to random\n  \
             officials, each on a new connection, round-robin over the nodes; at the same time {imap}\n  \
             IMAP sessions, each logged in as an official of its own with {inbox} messages in INBOX and\n  \
             spread over the nodes, `FETCH n BODY.PEEK[]` random messages. The load runs {warmup} s\n  \
             before the {seconds} s that count (node B has just started in one of the phases); a\n  \
             message or fetch counts when its answer comes within them. The combined ratio is the\n  \
             mean of the SMTP and FETCH ratios, so each workload counts the same whatever its rate.\n  \
             CPU is seconds of CPU per second counted, from /proc: each node's server, every\n  \
             `postgres` process of the machine, and this client.\n\
             - Queue: {queue} messages to addresses in other domains submitted with AUTH PLAIN over\n  \
             implicit TLS, {sessions} sessions taking the nodes in turn; the sink counts each\n  \
             Message-ID after it has them all (or {wait} s), and listens {linger} s longer for copies.\n\
             - IDLE: a session on node B in IDLE on an official's INBOX while node A takes {idle}\n  \
             messages for that official, one at a time; the time from node A's 250 to node B's\n  \
             `* n EXISTS` as the client reads them, a wake missing after {wake} s counted as such.\n\n",
            command = user_arguments(&PATH_OPTIONS),
            cores = m.cores,
            cpu = m.cpu,
            load = m.load,
            pg = self.postgres_version,
            runs = args.runs,
            officials = args.officials,
            seconds = args.seconds,
            warmup = WARMUP.as_secs(),
            smtp = args.smtp_sessions,
            bytes = MESSAGE_BYTES,
            imap = args.imap_sessions,
            inbox = INBOX_MESSAGES,
            queue = QUEUE_MESSAGES,
            sessions = QUEUE_SESSIONS,
            wait = QUEUE_WAIT.as_secs(),
            linger = QUEUE_LINGER.as_secs(),
            idle = IDLE_MESSAGES,
            wake = WAKE_TIMEOUT.as_secs(),
        )
    }

    fn rows(&self) -> Vec<Row> {
        let (args, runs) = (self.args, self.runs);
        let failed = |f: fn(&Phase) -> usize| -> u64 {
            runs.iter().map(|r| (f(&r.one) + f(&r.two)) as u64).sum()
        };
        let smtp_failed = failed(|p| p.smtp.failures);
        let fetch_failed = failed(|p| p.fetch.failures);
        let smtp_what = format!(
            "SMTP intake: messages/s answered 250, {} sessions round-robin over the nodes",
            args.smtp_sessions
        );
        let fetch_what = format!(
            "IMAP `FETCH n BODY.PEEK[]`/s, {} sessions spread over the nodes",
            args.imap_sessions
        );
        let combined = ratios(runs, RunFigures::combined_ratio);
        vec![
            throughput_row(
                smtp_what,
                runs,
                Phase::smtp_per_second,
                RunFigures::smtp_ratio,
            )
            .invalid(smtp_failed),
            throughput_row(
                fetch_what,
                runs,
                Phase::fetches_per_second,
                RunFigures::fetch_ratio,
            )
            .invalid(fetch_failed),
            Row {
                ratio: Spread::of(&combined).map(|s| s.show(times)),
                ..Row::info("N1", "combined: mean of the SMTP and FETCH ratios", None)
            }
            .target("≥ 1.7× in every run", met_in_every_run(&combined, TARGET))
            .invalid(smtp_failed + fetch_failed),
            cpu_row(runs),
            Row::compare(
                "N1",
                "PostgreSQL CPU, cores busy",
                busy(runs, |c| c.postgres),
                cores,
            ),
            Row::compare(
                "N1",
                "client CPU (this benchmark), cores busy",
                busy(runs, |c| c.client),
                cores,
            ),
            queue_row(runs),
            idle_row(runs),
        ]
    }
}

/// What N1 means on the embedded database.
pub(super) const SQLITE_NOTE: &str =
    "On SQLite, N1 is not applicable: one congvu process owns the database file, so there is \
     no second node to add; the figure exists only on PostgreSQL.";

/// How the nodes, PostgreSQL and the client shared the machine, said plainly where the
/// machine has fewer cores than N1 asks for.
pub(super) fn placement_note(placement: &Placement) -> String {
    let cores = placement.cores;
    if placement.nodes[0].is_none() {
        return format!(
            "**This machine has {cores} core: the nodes could not be pinned apart, and the ratio \
             says nothing about two nodes.**"
        );
    }
    let client = match &placement.client {
        Some(pinning) => format!("the client ran on cores {}", pinning.client),
        None => "the client shared those two cores with them".to_string(),
    };
    let shortfall = if cores >= 4 {
        String::new()
    } else {
        format!(
            "**This machine has {cores} cores, fewer than N1 asks for (a core for each node and \
             another for the database, besides the client's), so it does not allow the pinning \
             the target is stated for.** "
        )
    };
    format!(
        "{shortfall}Node A ran pinned to core 0 and node B to core 1 (`taskset`); PostgreSQL, \
         the system's service, was not moved and ran on whichever core the system gave it; \
         {client}. The one-node baseline is node A alone on core 0, so each node has one core \
         in both measurements{}.",
        if cores >= 4 {
            ""
        } else {
            "; with two nodes, PostgreSQL and the client take their CPU from the nodes' cores \
             instead of the core node B leaves idle in the baseline, so the ratio here is lower \
             than on a machine that gives the database a core of its own"
        }
    )
}

/// Whether every run's `ratios` reached `target`; `None` before any run.
pub(super) fn met_in_every_run(ratios: &[f64], target: f64) -> Option<bool> {
    (!ratios.is_empty()).then(|| ratios.iter().all(|r| r.is_finite() && *r >= target))
}

fn ratios(runs: &[RunFigures], ratio: fn(&RunFigures) -> f64) -> Vec<f64> {
    runs.iter().map(ratio).collect()
}

/// A throughput row: two nodes against one, with the ratio of each run.
fn throughput_row(
    what: String,
    runs: &[RunFigures],
    rate: fn(&Phase) -> f64,
    ratio: fn(&RunFigures) -> f64,
) -> Row {
    let of = |phase: fn(&RunFigures) -> &Phase| {
        Spread::of(&runs.iter().map(|r| rate(phase(r))).collect::<Vec<_>>())
    };
    let figures = [of(|r| &r.two), of(|r| &r.one)];
    Row {
        ratio: Spread::of(&ratios(runs, ratio)).map(|s| s.show(times)),
        ..Row::compare("N1", what, figures, per_second)
    }
}

/// One CPU figure of the two-node and the one-node phases.
fn busy(runs: &[RunFigures], of: fn(&Busy) -> f64) -> [Option<Spread>; 2] {
    let spread = |phase: fn(&RunFigures) -> &Phase| {
        let values: Vec<f64> = runs.iter().map(|r| of(&phase(r).busy)).collect();
        Spread::of(&values)
    };
    [spread(|r| &r.two), spread(|r| &r.one)]
}

/// Cores busy, as seconds of CPU per second.
pub(super) fn cores(v: f64) -> String {
    format!("{v:.2}")
}

/// Each node's server CPU: the medians of node A and node B with two nodes, node A alone.
fn cpu_row(runs: &[RunFigures]) -> Row {
    let node = |phase: fn(&RunFigures) -> &Phase, i: usize| {
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|r| phase(r).busy.nodes.get(i).copied())
            .collect();
        (!values.is_empty()).then(|| cores(median(&values)))
    };
    let two = match (node(|r| &r.two, 0), node(|r| &r.two, 1)) {
        (Some(a), Some(b)) => Some(format!("A {a} + B {b}")),
        _ => None,
    };
    Row {
        reference: node(|r| &r.one, 0).map(|a| format!("A {a}")),
        ..Row::info("N1", "server CPU per node, cores busy", two)
    }
}

/// Every run's queue check, summed.
fn queue_row(runs: &[RunFigures]) -> Row {
    let sum = |f: fn(&QueueOnce) -> usize| runs.iter().map(|r| f(&r.queue)).sum::<usize>();
    let mut outcome = format!(
        "{} of {} acknowledged arrived; {} missing, {} duplicate copies",
        sum(|q| q.once.delivered),
        sum(|q| q.accepted),
        sum(|q| q.once.missing),
        sum(|q| q.once.duplicates),
    );
    for (count, what) in [
        (sum(|q| q.once.unexpected), "unexpected"),
        (sum(|q| q.refused), "refused at submission"),
    ] {
        if count > 0 {
            outcome.push_str(&format!(", {count} {what}"));
        }
    }
    let what = format!(
        "queue: {QUEUE_MESSAGES} messages to other domains submitted through both nodes, \
         delivered to the sink"
    );
    let met = (!runs.is_empty()).then(|| runs.iter().all(|r| r.queue.passed()));
    Row::info("N1", what, Some(outcome)).target("each exactly once", met)
}

/// Every run's IDLE check: the median of the runs' p50s, and the slowest wake of all.
fn idle_row(runs: &[RunFigures]) -> Row {
    let p50s: Vec<f64> = runs
        .iter()
        .filter(|r| !r.idle.wakes.is_empty())
        .map(|r| percentile(&wake_ms(&r.idle), 0.5))
        .collect();
    let slowest = runs
        .iter()
        .flat_map(|r| wake_ms(&r.idle))
        .fold(None, |max: Option<f64>, v| {
            Some(max.map_or(v, |m| m.max(v)))
        });
    let missing: usize = runs.iter().map(|r| r.idle.missing).sum();
    let mut outcome = match (Spread::of(&p50s), slowest) {
        (Some(p50), Some(max)) => format!(
            "p50 {}, slowest {}",
            p50.show(milliseconds),
            milliseconds(max)
        ),
        _ => "no wake".to_string(),
    };
    if missing > 0 {
        outcome.push_str(&format!(", {missing} missing"));
    }
    let what = format!(
        "IDLE across nodes: node A's 250 → node B's `* n EXISTS`, {IDLE_MESSAGES} messages one \
         at a time"
    );
    let met = (!runs.is_empty()).then(|| runs.iter().all(|r| r.idle.passed()));
    Row::info("N1", what, Some(outcome)).target(WAKE_TARGET, met)
}

/// The wakes of one IDLE check in milliseconds, sorted.
fn wake_ms(idle: &IdleWakes) -> Vec<f64> {
    let mut ms: Vec<f64> = idle.wakes.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    ms
}

/// One phase as the progress lines and the details give it.
pub(super) fn phase_line(phase: &Phase) -> String {
    let per_node = |tally: &Tally| {
        if tally.per_node.len() < 2 {
            return String::new();
        }
        let parts: Vec<String> = tally
            .per_node
            .iter()
            .zip(["A", "B"])
            .map(|(n, node)| format!("{node} {n}"))
            .collect();
        format!(" ({})", parts.join(", "))
    };
    let nodes: Vec<String> = phase
        .busy
        .nodes
        .iter()
        .zip(["node A", "node B"])
        .map(|(busy, node)| format!("{node} {}", cores(*busy)))
        .collect();
    format!(
        "{}: SMTP {}{}, FETCH {}{}; cores busy: {}, PostgreSQL {}, client {}",
        if phase.nodes == 1 {
            "one node"
        } else {
            "two nodes"
        },
        per_second(phase.smtp_per_second()),
        per_node(&phase.smtp),
        per_second(phase.fetches_per_second()),
        per_node(&phase.fetch),
        nodes.join(", "),
        cores(phase.busy.postgres),
        cores(phase.busy.client),
    )
}

/// One run as the details give it.
pub(super) fn run_line(run: &RunFigures) -> String {
    let q = &run.queue;
    let queue = format!(
        "queue: {} of {} acknowledged arrived, {} missing, {} duplicate copies, {} unexpected, \
         {} refused at submission; waited {} for the sink after the last submission",
        q.once.delivered,
        q.accepted,
        q.once.missing,
        q.once.duplicates,
        q.once.unexpected,
        q.refused,
        crate::figures::seconds(q.waited.as_secs_f64())
    );
    let ms = wake_ms(&run.idle);
    let idle = match (ms.first(), ms.last()) {
        (Some(_), Some(max)) => format!(
            "IDLE: {} of {} delivered woke node B, p50 {}, slowest {}",
            ms.len(),
            run.idle.delivered,
            milliseconds(percentile(&ms, 0.5)),
            milliseconds(*max)
        ),
        _ => format!("IDLE: none of {} delivered woke node B", run.idle.delivered),
    };
    format!(
        "{}. {}. Ratios: SMTP {}, FETCH {}, combined {}. {queue}. {idle}.",
        phase_line(&run.one),
        phase_line(&run.two),
        times(run.smtp_ratio()),
        times(run.fetch_ratio()),
        times(run.combined_ratio()),
    )
}

/// The first failures behind the figures, a few at most.
fn failures(runs: &[RunFigures]) -> String {
    let mut out = String::new();
    for (run, r) in runs.iter().enumerate() {
        let found = [
            ("one node, SMTP", r.one.smtp.first_failure.as_ref()),
            ("one node, FETCH", r.one.fetch.first_failure.as_ref()),
            ("two nodes, SMTP", r.two.smtp.first_failure.as_ref()),
            ("two nodes, FETCH", r.two.fetch.first_failure.as_ref()),
            ("queue", r.queue.first_refusal.as_ref()),
            ("IDLE", r.idle.failure.as_ref()),
        ];
        for (what, failure) in found {
            if let Some(failure) = failure {
                out.push_str(&format!("- Run {} {what}: {failure}\n", run + 1));
            }
        }
    }
    out
}
