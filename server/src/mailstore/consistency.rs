//! The consistency check of the mail store: the invariants that deliveries, expunges and
//! imports keep in one transaction (body reference counts, UIDNEXT, HIGHESTMODSEQ, quota
//! usage, message sizes) checked against what the tables hold, and the repair of what can
//! be rebuilt from the database alone. Mail whose body is gone cannot be rebuilt: it is
//! reported for a restore from backup, never invented. The SQL lives in
//! `store::consistency`; printing the report is the caller's.

use serde_json::{json, Map, Value};

use super::{BodyId, MailboxId, Mailstore, MailstoreError};
use crate::directory::{Actor, AuditRecord};
use crate::store::{Conn, StoreError};

/// How many offending rows of each kind a report names; the count covers all of them.
pub const EXAMPLES_PER_KIND: u32 = 5;

/// One kind of inconsistency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Inconsistency {
    /// A body's reference count differs from the messages and queue entries holding it.
    BodyRefcount,
    /// A body nothing holds.
    OrphanBody,
    /// A mailbox's UIDNEXT is not above every UID in it.
    UidNext,
    /// A mailbox's HIGHESTMODSEQ is below one of its messages' mod-sequences.
    HighestModseq,
    /// A mailbox's quota usage differs from the bytes of its messages.
    UsedBytes,
    /// A mailbox message whose body is gone.
    MessageWithoutBody,
    /// A queue entry whose body is gone.
    QueueEntryWithoutBody,
    /// A message's recorded size differs from its body's.
    MessageSize,
}

impl Inconsistency {
    /// Every kind, in the order a report lists them.
    pub const ALL: [Inconsistency; 8] = [
        Inconsistency::BodyRefcount,
        Inconsistency::OrphanBody,
        Inconsistency::UidNext,
        Inconsistency::HighestModseq,
        Inconsistency::UsedBytes,
        Inconsistency::MessageWithoutBody,
        Inconsistency::QueueEntryWithoutBody,
        Inconsistency::MessageSize,
    ];

    /// The order repairs run in. Message sizes come before quota usage, which is summed from
    /// them; orphaned bodies go before reference counts are recounted, so nothing recounts
    /// a body about to be deleted.
    const REPAIR_ORDER: [Inconsistency; 6] = [
        Inconsistency::MessageSize,
        Inconsistency::UsedBytes,
        Inconsistency::UidNext,
        Inconsistency::HighestModseq,
        Inconsistency::OrphanBody,
        Inconsistency::BodyRefcount,
    ];

    /// The kind's name in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Inconsistency::BodyRefcount => "body-refcount",
            Inconsistency::OrphanBody => "orphaned-body",
            Inconsistency::UidNext => "uidnext",
            Inconsistency::HighestModseq => "highestmodseq",
            Inconsistency::UsedBytes => "used-bytes",
            Inconsistency::MessageWithoutBody => "message-without-body",
            Inconsistency::QueueEntryWithoutBody => "queue-entry-without-body",
            Inconsistency::MessageSize => "message-size",
        }
    }

    /// What is wrong, for people.
    pub fn description(self) -> &'static str {
        match self {
            Inconsistency::BodyRefcount => {
                "message bodies whose reference count differs from their holders"
            }
            Inconsistency::OrphanBody => "message bodies no message or queue entry holds",
            Inconsistency::UidNext => "mailboxes whose UIDNEXT is not above every UID in them",
            Inconsistency::HighestModseq => {
                "mailboxes whose HIGHESTMODSEQ is below a message's mod-sequence"
            }
            Inconsistency::UsedBytes => "mailboxes whose quota usage differs from their messages",
            Inconsistency::MessageWithoutBody => "mailbox messages whose body is gone",
            Inconsistency::QueueEntryWithoutBody => "queue entries whose body is gone",
            Inconsistency::MessageSize => "messages whose size differs from their body's",
        }
    }

    /// What the repair does about it.
    pub fn remedy(self) -> &'static str {
        match self {
            Inconsistency::BodyRefcount => "the count is set to the number of holders",
            Inconsistency::OrphanBody => "the body is deleted",
            Inconsistency::UidNext => "UIDNEXT is set one above the highest UID",
            Inconsistency::HighestModseq => "HIGHESTMODSEQ is raised to the highest mod-sequence",
            Inconsistency::UsedBytes => "the usage is set to the bytes of the messages",
            Inconsistency::MessageWithoutBody | Inconsistency::QueueEntryWithoutBody => {
                "none: the mail is lost from this database; restore it from a backup"
            }
            Inconsistency::MessageSize => "the size is set from the body",
        }
    }

    /// Whether `repair` fixes this kind from the database alone.
    pub fn repairable(self) -> bool {
        Inconsistency::REPAIR_ORDER.contains(&self)
    }
}

/// A message body named in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyExample {
    pub body: BodyId,
    /// The body's SHA-256, lowercase hex as `sha256sum` prints it.
    pub sha256: String,
    pub size: i64,
    pub refcount: i64,
    /// Mailbox messages plus queue entries holding it.
    pub holders: i64,
}

/// A mailbox whose counter (UIDNEXT, HIGHESTMODSEQ or usage) disagrees with its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxExample {
    pub mailbox: MailboxId,
    /// The official's login (empty if the official is gone).
    pub login: String,
    pub folder: String,
    /// The counter as stored.
    pub recorded: i64,
    /// What its messages say: the highest UID, the highest mod-sequence, or their bytes.
    pub actual: i64,
}

/// A mailbox message named in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExample {
    pub mailbox: MailboxId,
    pub login: String,
    pub folder: String,
    pub uid: i64,
    pub body: BodyId,
    /// The size recorded with the message.
    pub size: i64,
    /// The body's size; `None` when the body is gone.
    pub body_size: Option<i64>,
}

/// A queue entry named in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntryExample {
    /// The entry's id, as `congvu-admin queue list` shows it.
    pub entry: i64,
    pub body: BodyId,
    pub recipient: String,
}

/// One offending row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Example {
    Body(BodyExample),
    Mailbox(MailboxExample),
    Message(MessageExample),
    QueueEntry(QueueEntryExample),
}

/// The inconsistencies of one kind: how many, and the first few.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Inconsistency,
    pub total: u64,
    /// At most [`EXAMPLES_PER_KIND`], lowest ids first.
    pub examples: Vec<Example>,
}

/// How much the check looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Examined {
    pub bodies: u64,
    pub mailboxes: u64,
    pub messages: u64,
    pub queue_entries: u64,
}

/// What a check found: one finding per kind, in [`Inconsistency::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyReport {
    pub examined: Examined,
    pub findings: Vec<Finding>,
}

impl ConsistencyReport {
    /// How many inconsistencies of `kind` there are.
    pub fn count(&self, kind: Inconsistency) -> u64 {
        self.findings
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.total)
            .sum()
    }

    /// Inconsistencies of every kind together.
    pub fn problems(&self) -> u64 {
        self.findings.iter().map(|f| f.total).sum()
    }

    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems() == 0
    }

    /// `{kind name: count}` for every kind.
    pub fn counts(&self) -> Map<String, Value> {
        self.findings
            .iter()
            .map(|f| (f.kind.name().to_string(), json!(f.total)))
            .collect()
    }
}

/// What a repair found, fixed and left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The database before the repair.
    pub found: ConsistencyReport,
    /// Rows changed per kind, for the kinds that changed any, in the order repaired.
    pub fixed: Vec<(Inconsistency, u64)>,
    /// The database after the repair: clean, or only what needs a restore from backup.
    pub left: ConsistencyReport,
}

impl Mailstore {
    /// Checks the mail store's invariants; changes nothing. Each kind is read in one
    /// statement, so a server delivering meanwhile causes no false finding.
    pub async fn check(&self) -> Result<ConsistencyReport, MailstoreError> {
        let mut conn = self.store.read().await?;
        Ok(examine(&mut conn).await?)
    }

    /// Repairs what can be rebuilt from the database, in one transaction with the audit
    /// row `store.repair` by `actor`; other writers wait while it runs. A clean database
    /// is left untouched and nothing is recorded.
    pub async fn repair(&self, actor: &Actor) -> Result<RepairReport, MailstoreError> {
        let mut tx = self.store.begin().await?;
        tx.hold_off_mail_writers().await?;
        let found = examine(&mut tx).await?;
        if found.is_clean() {
            return Ok(RepairReport {
                left: found.clone(),
                found,
                fixed: Vec::new(),
            });
        }
        // Every repair runs, not only those of kinds found: fixing sizes can make a usage
        // that agreed with the wrong sizes disagree with the right ones.
        let mut fixed = Vec::new();
        for kind in Inconsistency::REPAIR_ORDER {
            let changed = tx.repair_inconsistency(kind).await?;
            if changed > 0 {
                fixed.push((kind, changed));
            }
        }
        let left = examine(&mut tx).await?;
        if !fixed.is_empty() {
            let record = repair_record(actor, &found, &fixed, &left);
            tx.record_event(&record, self.clock.now()).await?;
            tx.commit().await?;
        }
        Ok(RepairReport { found, fixed, left })
    }
}

async fn examine(conn: &mut Conn) -> Result<ConsistencyReport, StoreError> {
    let examined = conn.consistency_examined().await?;
    let mut findings = Vec::with_capacity(Inconsistency::ALL.len());
    for kind in Inconsistency::ALL {
        findings.push(conn.find_inconsistency(kind, EXAMPLES_PER_KIND).await?);
    }
    Ok(ConsistencyReport { examined, findings })
}

/// The audit row of a repair: the counts found before, what was fixed and what is left.
fn repair_record(
    actor: &Actor,
    found: &ConsistencyReport,
    fixed: &[(Inconsistency, u64)],
    left: &ConsistencyReport,
) -> AuditRecord {
    let fixed: Map<String, Value> = fixed
        .iter()
        .map(|(kind, n)| (kind.name().to_string(), json!(n)))
        .collect();
    let nonzero = |report: &ConsistencyReport| -> Map<String, Value> {
        report
            .counts()
            .into_iter()
            .filter(|(_, n)| n.as_u64() != Some(0))
            .collect()
    };
    AuditRecord {
        actor: actor.0.clone(),
        action: "store.repair".to_string(),
        target: "store".to_string(),
        before: Some(json!({ "found": nonzero(found) }).to_string()),
        after: Some(json!({ "fixed": fixed, "left": nonzero(left) }).to_string()),
    }
}
