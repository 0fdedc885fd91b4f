//! `congvu-admin check [--repair]`: the database's consistency check. Reads the report the
//! mail store makes (`Mailstore::check`, `Mailstore::repair`) and prints it: a table per
//! kind of inconsistency for people, one JSON document for scripts. Exits 1 while anything
//! is wrong, so that a cron job or a monitoring probe can run it as is.

use clap::Args;
use congvu::mailstore::{ConsistencyReport, Example, Finding, Inconsistency, RepairReport};
use serde_json::{json, Value};

use crate::{output, Context};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Fix what is safe to fix, in one transaction, audited.
    #[arg(long)]
    repair: bool,
}

/// Runs `check`, or `check --repair`.
pub async fn run(ctx: &Context, args: CheckArgs) -> anyhow::Result<()> {
    if args.repair {
        let repaired = ctx.mailstore.repair(&ctx.actor).await?;
        if ctx.json {
            output::json(&repair_json(&repaired));
        } else {
            print_repair(&repaired);
        }
        return left_over(&repaired.left);
    }
    let report = ctx.mailstore.check().await?;
    if ctx.json {
        output::json(&report_json(&report));
    } else {
        print_report(&report);
    }
    if report.is_clean() {
        return Ok(());
    }
    let mut next = Vec::new();
    let repairable = repairable(&report);
    if repairable > 0 {
        next.push(format!(
            "{repairable} can be fixed with `congvu-admin check --repair`"
        ));
    }
    let lost = report.problems() - repairable;
    if lost > 0 {
        next.push(format!(
            "{lost} (mail whose body is gone) need a restore from backup"
        ));
    }
    anyhow::bail!(
        "found {} in the database: {}",
        output::count(
            problems(report.problems()),
            "inconsistency",
            "inconsistencies"
        ),
        next.join("; ")
    )
}

/// Exit status of a repair: failure while anything is still wrong.
fn left_over(left: &ConsistencyReport) -> anyhow::Result<()> {
    if left.is_clean() {
        return Ok(());
    }
    anyhow::bail!(
        "{} left that a repair cannot fix: mail whose body is gone from the database; \
         restore it from a backup",
        output::count(
            problems(left.problems()),
            "inconsistency is",
            "inconsistencies are"
        )
    )
}

fn problems(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn repairable(report: &ConsistencyReport) -> u64 {
    report
        .findings
        .iter()
        .filter(|f| f.kind.repairable())
        .map(|f| f.total)
        .sum()
}

/// The line saying what was looked at.
fn examined_line(report: &ConsistencyReport) -> String {
    let e = report.examined;
    let n = |v: u64| problems(v);
    format!(
        "Checked {}, {}, {} and {}.",
        output::count(n(e.bodies), "message body", "message bodies"),
        output::count(n(e.mailboxes), "mailbox", "mailboxes"),
        output::count(n(e.messages), "message", "messages"),
        output::count(n(e.queue_entries), "queue entry", "queue entries"),
    )
}

fn print_report(report: &ConsistencyReport) {
    output::line(&examined_line(report));
    if report.is_clean() {
        output::line("The database is consistent.");
        return;
    }
    for finding in report.findings.iter().filter(|f| f.total > 0) {
        print_finding(finding);
    }
}

fn print_finding(finding: &Finding) {
    let kind = finding.kind;
    output::line("");
    output::line(&format!(
        "{} ({}): {}; repair: {}",
        kind.name(),
        finding.total,
        kind.description(),
        kind.remedy()
    ));
    let rows: Vec<Vec<String>> = finding.examples.iter().map(example_row).collect();
    output::table(&headers(kind), &rows);
    let more = finding.total.saturating_sub(finding.examples.len() as u64);
    if more > 0 {
        output::line(&format!("… and {more} more"));
    }
}

/// The columns of a kind's table, matching [`example_row`].
fn headers(kind: Inconsistency) -> Vec<&'static str> {
    let mailbox = |recorded, actual| vec!["MAILBOX", "LOGIN", "FOLDER", recorded, actual];
    let message = vec![
        "MAILBOX",
        "LOGIN",
        "FOLDER",
        "UID",
        "BODY",
        "SIZE",
        "BODY SIZE",
    ];
    match kind {
        Inconsistency::BodyRefcount | Inconsistency::OrphanBody => {
            vec!["BODY", "SHA-256", "SIZE", "REFCOUNT", "HOLDERS"]
        }
        Inconsistency::UidNext => mailbox("UIDNEXT", "HIGHEST UID"),
        Inconsistency::HighestModseq => mailbox("HIGHESTMODSEQ", "HIGHEST MESSAGE MODSEQ"),
        Inconsistency::UsedBytes => mailbox("USED BYTES", "MESSAGE BYTES"),
        Inconsistency::MessageWithoutBody | Inconsistency::MessageSize => message,
        Inconsistency::QueueEntryWithoutBody => vec!["QUEUE ENTRY", "BODY", "RECIPIENT"],
    }
}

fn example_row(example: &Example) -> Vec<String> {
    match example {
        Example::Body(b) => vec![
            b.body.0.to_string(),
            b.sha256.clone(),
            b.size.to_string(),
            b.refcount.to_string(),
            b.holders.to_string(),
        ],
        Example::Mailbox(m) => vec![
            m.mailbox.0.to_string(),
            m.login.clone(),
            m.folder.clone(),
            m.recorded.to_string(),
            m.actual.to_string(),
        ],
        Example::Message(m) => vec![
            m.mailbox.0.to_string(),
            m.login.clone(),
            m.folder.clone(),
            m.uid.to_string(),
            m.body.0.to_string(),
            m.size.to_string(),
            m.body_size
                .map_or_else(|| "gone".to_string(), |s| s.to_string()),
        ],
        Example::QueueEntry(q) => vec![
            q.entry.to_string(),
            q.body.0.to_string(),
            q.recipient.clone(),
        ],
    }
}

fn print_repair(repaired: &RepairReport) {
    let RepairReport { found, fixed, left } = repaired;
    output::line(&examined_line(found));
    if found.is_clean() {
        output::line("The database is consistent: nothing to repair.");
        return;
    }
    let fixed_of = |kind| {
        fixed
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    };
    let rows: Vec<Vec<String>> = Inconsistency::ALL
        .into_iter()
        .filter(|&k| found.count(k) + fixed_of(k) + left.count(k) > 0)
        .map(|k| {
            vec![
                k.name().to_string(),
                found.count(k).to_string(),
                fixed_of(k).to_string(),
                left.count(k).to_string(),
                k.remedy().to_string(),
            ]
        })
        .collect();
    output::table(&["KIND", "FOUND", "FIXED", "LEFT", "REPAIR"], &rows);
    if !fixed.is_empty() {
        output::line("The repair is recorded in the audit log as store.repair.");
    }
    if left.is_clean() {
        output::line("The database is consistent now.");
        return;
    }
    for finding in left.findings.iter().filter(|f| f.total > 0) {
        print_finding(finding);
    }
}

fn report_json(report: &ConsistencyReport) -> Value {
    let e = report.examined;
    let findings: Vec<Value> = report
        .findings
        .iter()
        .filter(|f| f.total > 0)
        .map(|f| {
            json!({
                "kind": f.kind.name(),
                "description": f.kind.description(),
                "count": f.total,
                "repairable": f.kind.repairable(),
                "repair": f.kind.remedy(),
                "examples": f.examples.iter().map(example_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "clean": report.is_clean(),
        "problems": report.problems(),
        "examined": {
            "bodies": e.bodies,
            "mailboxes": e.mailboxes,
            "messages": e.messages,
            "queue_entries": e.queue_entries,
        },
        "counts": report.counts(),
        "findings": findings,
    })
}

fn example_json(example: &Example) -> Value {
    match example {
        Example::Body(b) => json!({
            "body": b.body.0, "sha256": b.sha256, "size": b.size,
            "refcount": b.refcount, "holders": b.holders,
        }),
        Example::Mailbox(m) => json!({
            "mailbox": m.mailbox.0, "login": m.login, "folder": m.folder,
            "recorded": m.recorded, "actual": m.actual,
        }),
        Example::Message(m) => json!({
            "mailbox": m.mailbox.0, "login": m.login, "folder": m.folder, "uid": m.uid,
            "body": m.body.0, "size": m.size, "body_size": m.body_size,
        }),
        Example::QueueEntry(q) => json!({
            "queue_entry": q.entry, "body": q.body.0, "recipient": q.recipient,
        }),
    }
}

fn repair_json(repaired: &RepairReport) -> Value {
    let fixed: serde_json::Map<String, Value> = repaired
        .fixed
        .iter()
        .map(|(kind, n)| (kind.name().to_string(), json!(n)))
        .collect();
    json!({
        "clean": repaired.left.is_clean(),
        "fixed": fixed,
        "audited": !repaired.fixed.is_empty(),
        "found": report_json(&repaired.found),
        "left": report_json(&repaired.left),
    })
}
