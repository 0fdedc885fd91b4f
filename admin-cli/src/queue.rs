//! `congvu-admin queue …`: the outbound queue (mail waiting for delivery to other domains):
//! list and show entries; retry, hold, release or delete one entry, a destination domain's
//! entries (`--domain`) or every entry (`--all`).

use clap::{Args, Subcommand};
use congvu::clock::UnixTime;
use congvu::queue::{QueueEntry, QueueSelector};
use serde_json::json;

use crate::{output, Context, UsageError};

/// `congvu-admin queue …`
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List the queue, oldest first.
    List {
        /// Only entries for recipients in this domain.
        #[arg(long)]
        domain: Option<String>,
    },
    /// Show one entry.
    Show {
        /// The entry's ID, as `queue list` shows it.
        id: i64,
    },
    /// Try entries again now instead of at their next scheduled attempt.
    Retry(Target),
    /// Keep entries from being delivered until they are released.
    Hold(Target),
    /// Let held entries be delivered again.
    Release(Target),
    /// Delete entries: the mail is not delivered and its sender is not told.
    Delete {
        #[command(flatten)]
        target: Target,
        /// Confirm the deletion (it cannot be undone).
        #[arg(long)]
        yes: bool,
    },
}

/// Which entries a command changes: one ID, `--domain D` or `--all`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// The entry's ID, as `queue list` shows it.
    id: Option<i64>,
    /// Every entry for recipients in this domain.
    #[arg(long)]
    domain: Option<String>,
    /// Every entry in the queue.
    #[arg(long)]
    all: bool,
}

impl Target {
    fn selector(&self) -> QueueSelector {
        match (self.id, &self.domain) {
            (Some(id), _) => QueueSelector::Entry(congvu::queue::QueueEntryId(id)),
            (None, Some(domain)) => QueueSelector::Domain(domain.clone()),
            (None, None) => QueueSelector::All,
        }
    }

    /// The command-line words that select the same entries.
    fn args(&self) -> String {
        match (self.id, &self.domain) {
            (Some(id), _) => id.to_string(),
            (None, Some(domain)) => format!("--domain {domain}"),
            (None, None) => "--all".to_string(),
        }
    }

    /// The selection in words, for messages.
    fn described(&self) -> String {
        match (self.id, &self.domain) {
            (Some(id), _) => format!("queue entry {id}"),
            (None, Some(domain)) => format!("the queue entries for {domain}"),
            (None, None) => "every queue entry".to_string(),
        }
    }
}

/// Runs one `queue` command.
pub async fn run(ctx: &Context, cmd: QueueCommand) -> anyhow::Result<()> {
    let queue = &ctx.queue;
    match cmd {
        QueueCommand::List { domain } => {
            let selector = domain.map_or(QueueSelector::All, QueueSelector::Domain);
            let entries = queue.select(&selector).await?;
            list(ctx, &entries);
        }
        QueueCommand::Show { id } => {
            let entry = queue.entry(congvu::queue::QueueEntryId(id)).await?;
            show(ctx, &entry);
        }
        QueueCommand::Retry(target) => {
            let changed = queue.retry_now(&ctx.actor, &target.selector()).await?;
            report(ctx, "retry", &target, &changed, "due now");
        }
        QueueCommand::Hold(target) => {
            let changed = queue.hold(&ctx.actor, &target.selector()).await?;
            report(ctx, "hold", &target, &changed, "held");
        }
        QueueCommand::Release(target) => {
            let changed = queue.release(&ctx.actor, &target.selector()).await?;
            report(ctx, "release", &target, &changed, "released");
        }
        QueueCommand::Delete { target, yes } => {
            if !yes {
                return Err(UsageError(format!(
                    "refusing to delete {} without --yes: the mail is not delivered and its \
                     sender is not told; run `congvu-admin queue delete {} --yes`, or \
                     `congvu-admin queue hold {}` to keep it",
                    target.described(),
                    target.args(),
                    target.args()
                ))
                .into());
            }
            let deleted = queue.delete(&ctx.actor, &target.selector()).await?;
            report(ctx, "delete", &target, &deleted, "deleted");
        }
    }
    Ok(())
}

/// What an entry is doing at `now`, in one word.
fn state(entry: &QueueEntry, now: UnixTime) -> &'static str {
    if entry.held {
        "held"
    } else if entry.is_leased(now) {
        "sending"
    } else if entry.next_attempt_at > now {
        "waiting"
    } else {
        "due"
    }
}

fn sender(entry: &QueueEntry) -> String {
    if entry.sender.is_empty() {
        "<>".to_string()
    } else {
        entry.sender.clone()
    }
}

fn entry_json(entry: &QueueEntry, now: UnixTime) -> serde_json::Value {
    json!({
        "id": entry.id.0,
        "queue_id": entry.queue_id,
        "state": state(entry, now),
        "sender": entry.sender,
        "recipient": entry.recipient,
        "domain": entry.recipient_domain,
        "held": entry.held,
        "attempts": entry.attempts,
        "created_at": entry.created_at.0,
        "next_attempt_at": entry.next_attempt_at.0,
        "last_attempt_at": entry.last_attempt_at.map(|t| t.0),
        "last_error": entry.last_error,
        "last_remote": entry.last_remote,
        "delay_notice_at": entry.delay_notice_at.map(|t| t.0),
        "lease_owner": entry.lease_owner,
        "lease_expires_at": entry.lease_expires_at.map(|t| t.0),
    })
}

fn list(ctx: &Context, entries: &[QueueEntry]) {
    let now = ctx.queue.now();
    if ctx.json {
        let list: Vec<_> = entries.iter().map(|e| entry_json(e, now)).collect();
        output::json(&json!(list));
        return;
    }
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.queue_id.clone(),
                state(e, now).to_string(),
                e.attempts.to_string(),
                output::time(e.next_attempt_at),
                sender(e),
                e.recipient.clone(),
                output::cell(e.last_error.as_deref()),
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "QUEUE ID",
            "STATE",
            "ATTEMPTS",
            "NEXT ATTEMPT",
            "SENDER",
            "RECIPIENT",
            "LAST ERROR",
        ],
        &rows,
    );
}

fn show(ctx: &Context, e: &QueueEntry) {
    let now = ctx.queue.now();
    if ctx.json {
        output::json(&entry_json(e, now));
        return;
    }
    let time = |t: Option<UnixTime>| t.map(output::time).unwrap_or_default();
    output::fields(&[
        ("id", e.id.to_string()),
        ("queue id", e.queue_id.clone()),
        ("state", state(e, now).to_string()),
        ("sender", sender(e)),
        ("recipient", e.recipient.clone()),
        ("queued", output::time(e.created_at)),
        ("attempts", e.attempts.to_string()),
        ("next attempt", output::time(e.next_attempt_at)),
        ("last attempt", time(e.last_attempt_at)),
        ("last server", output::cell(e.last_remote.as_deref())),
        ("last error", output::cell(e.last_error.as_deref())),
        ("delay notice", time(e.delay_notice_at)),
        (
            "lease",
            match (&e.lease_owner, e.lease_expires_at) {
                (Some(owner), Some(until)) => format!("{owner} until {}", output::time(until)),
                _ => String::new(),
            },
        ),
    ]);
}

/// Prints what a change did: the entries it touched, or that there were none.
fn report(ctx: &Context, action: &str, target: &Target, changed: &[QueueEntry], done: &str) {
    let ids: Vec<i64> = changed.iter().map(|e| e.id.0).collect();
    if ctx.json {
        output::json(&json!({ "action": action, "entries": ids }));
        return;
    }
    if ids.is_empty() {
        output::line(&match (target.id, &target.domain) {
            (Some(id), _) => format!("queue entry {id} is already {done}: nothing to do"),
            (None, Some(domain)) => {
                format!("no queue entries for {domain} to change: nothing to do")
            }
            (None, None) => "no queue entries to change: nothing to do".to_string(),
        });
        return;
    }
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    output::line(&format!(
        "{}: {}",
        output::count(
            ids.len() as i64,
            &format!("entry {done}"),
            &format!("entries {done}")
        ),
        list.join(", ")
    ));
}
