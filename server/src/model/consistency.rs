//! What the mail store's consistency check finds: the kinds of inconsistency and the rows
//! it names. The check and the repair are the mail store's; the queries are the store's.

use super::{BodyId, MailboxId};

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
    pub const REPAIR_ORDER: [Inconsistency; 6] = [
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
    /// At most as many as the check asked for, lowest ids first.
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
