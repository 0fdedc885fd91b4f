//! The mail store: officials' mailboxes, the messages in them with UIDs and flags, and the
//! content-addressed bodies they share. A message delivered to many mailboxes is stored
//! once. No protocol types here: IMAP and SMTP translate to and from these.

use std::fmt;

mod consistency;
mod folders;
pub mod import;
mod intake;
pub mod message;
pub mod shape;
pub mod text;
mod usual_names;

pub use consistency::{
    BodyExample, ConsistencyReport, Examined, Example, Finding, Inconsistency, MailboxExample,
    MessageExample, QueueEntryExample, RepairReport, EXAMPLES_PER_KIND,
};
pub use folders::{
    ChangedFlags, CopiedUids, FlagChange, FlagOutcome, FlagUpdate, MAX_NAME_BYTES, SEPARATOR,
};
pub use intake::{utc_day, Incoming, Intake, Stored, Submission};

use sha2::{Digest, Sha256};

use crate::clock::{Clock, UnixTime};
use crate::directory::OfficialId;
use crate::store::{Conn, Store, StoreError};

/// A stored message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BodyId(pub i64);

/// A mailbox of one official.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailboxId(pub i64);

/// A message's UID within its mailbox (RFC 3501 §2.3.1.1): strictly ascending, never reused
/// within one UIDVALIDITY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(pub u32);

/// The SHA-256 of a body's bytes: its address in the store.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BodyHash(pub [u8; 32]);

impl BodyHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> BodyHash {
        BodyHash(Sha256::digest(bytes).into())
    }
}

impl fmt::Debug for BodyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BodyHash({})", hex::encode(self.0))
    }
}

/// What a mailbox is for, where clients need to know (RFC 6154 special-use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailboxRole {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
}

impl MailboxRole {
    /// Every role, in the order new officials' mailboxes are created.
    pub const ALL: [MailboxRole; 6] = [
        MailboxRole::Inbox,
        MailboxRole::Sent,
        MailboxRole::Drafts,
        MailboxRole::Trash,
        MailboxRole::Junk,
        MailboxRole::Archive,
    ];

    /// The name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxRole::Inbox => "inbox",
            MailboxRole::Sent => "sent",
            MailboxRole::Drafts => "drafts",
            MailboxRole::Trash => "trash",
            MailboxRole::Junk => "junk",
            MailboxRole::Archive => "archive",
        }
    }

    /// The role stored as `s`.
    pub fn from_stored(s: &str) -> Option<MailboxRole> {
        MailboxRole::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The mailboxes every official gets, by name and role.
pub const DEFAULT_MAILBOXES: [(&str, MailboxRole); 5] = [
    ("INBOX", MailboxRole::Inbox),
    ("Sent", MailboxRole::Sent),
    ("Drafts", MailboxRole::Drafts),
    ("Trash", MailboxRole::Trash),
    ("Junk", MailboxRole::Junk),
];

/// A mailbox as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub id: MailboxId,
    pub official_id: OfficialId,
    /// The name as the official sees it (Unicode; IMAP encodes it in modified UTF-7).
    pub name: String,
    pub role: Option<MailboxRole>,
    pub uidvalidity: u32,
    pub uidnext: Uid,
    /// The change counter (RFC 7162 HIGHESTMODSEQ): raised by every append, flag change and
    /// expunge in this mailbox.
    pub highestmodseq: u64,
    pub subscribed: bool,
    pub created_at: UnixTime,
}

/// System flags (RFC 3501 §2.3.2) as bits; keywords are kept separately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MessageFlags(pub u8);

impl MessageFlags {
    pub const SEEN: MessageFlags = MessageFlags(1);
    pub const ANSWERED: MessageFlags = MessageFlags(1 << 1);
    pub const FLAGGED: MessageFlags = MessageFlags(1 << 2);
    pub const DELETED: MessageFlags = MessageFlags(1 << 3);
    pub const DRAFT: MessageFlags = MessageFlags(1 << 4);

    /// Whether every flag in `other` is set.
    pub fn contains(self, other: MessageFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags plus `other`.
    pub fn with(self, other: MessageFlags) -> MessageFlags {
        MessageFlags(self.0 | other.0)
    }
}

/// A message in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxMessage {
    pub mailbox_id: MailboxId,
    pub uid: Uid,
    pub body_id: BodyId,
    pub flags: MessageFlags,
    /// User keywords (`$Forwarded`, `$Label1`), in the order set.
    pub keywords: Vec<String>,
    pub internal_date: UnixTime,
    pub size: u64,
    /// The mailbox's change counter when this message last changed (RFC 7162 mod-sequence).
    pub modseq: u64,
}

/// Where a delivered copy landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveredCopy {
    pub mailbox_id: MailboxId,
    pub uid: Uid,
}

/// Why a mail store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MailstoreError {
    #[error("no such mailbox")]
    NoSuchMailbox,
    #[error("no such message")]
    NoSuchMessage,
    #[error("a mailbox with that name already exists")]
    AlreadyExists,
    #[error("INBOX cannot be deleted or renamed")]
    Protected,
    #[error("invalid mailbox name")]
    InvalidName,
    #[error("over quota")]
    OverQuota,
    #[error("the mail store is shutting down")]
    Stopped,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Mailboxes and messages over the store.
#[derive(Debug, Clone)]
pub struct Mailstore {
    store: Store,
    clock: Clock,
}

impl Mailstore {
    /// A mail store over `store`.
    pub fn new(store: Store, clock: Clock) -> Mailstore {
        Mailstore { store, clock }
    }

    /// An official's mailboxes, by name.
    pub async fn mailboxes(&self, official: OfficialId) -> Result<Vec<Mailbox>, MailstoreError> {
        Ok(self.store.read().await?.mailboxes_of(official).await?)
    }

    /// Bytes held in all of an official's mailboxes, for quota checks.
    pub async fn usage(&self, official: OfficialId) -> Result<i64, MailstoreError> {
        Ok(self.store.read().await?.mail_usage(official).await?)
    }

    /// Delivers one message to each of `mailboxes` in one transaction, storing the body once.
    /// Durable when this returns.
    pub async fn deliver(
        &self,
        mailboxes: &[MailboxId],
        message: &[u8],
        flags: MessageFlags,
    ) -> Result<Vec<DeliveredCopy>, MailstoreError> {
        let mut tx = self.store.begin().await?;
        let copies = put_copies(&mut tx, mailboxes, message, flags, self.clock.now()).await?;
        tx.commit().await?;
        Ok(copies)
    }

    /// Delivers the expiry notice for `certificate` to `inbox`, unless one was already sent.
    /// The claim and the delivery are one transaction, so the notice arrives exactly once
    /// whatever the number of nodes and wherever a crash falls. Returns whether it was sent.
    pub async fn deliver_expiry_notice(
        &self,
        inbox: MailboxId,
        certificate: crate::directory::CertificateId,
        message: &[u8],
    ) -> Result<bool, MailstoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if !tx.claim_expiry_notice(certificate, now).await? {
            return Ok(false);
        }
        put_copies(&mut tx, &[inbox], message, MessageFlags::default(), now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The messages in a mailbox, by UID.
    pub async fn messages(
        &self,
        mailbox: MailboxId,
    ) -> Result<Vec<MailboxMessage>, MailstoreError> {
        Ok(self.store.read().await?.messages_in(mailbox).await?)
    }

    /// The bytes of a stored body.
    pub async fn body(&self, body: BodyId) -> Result<Option<Vec<u8>>, MailstoreError> {
        Ok(self.store.read().await?.body_data(body).await?)
    }

    /// Removes messages from a mailbox, releasing their bodies; returns the UIDs removed.
    pub async fn expunge(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<Uid>, MailstoreError> {
        let mut tx = self.store.begin().await?;
        let mut removed = Vec::with_capacity(uids.len());
        for &uid in uids {
            if let Some(body) = tx.delete_message(mailbox, uid).await? {
                tx.release_body(body, 1).await?;
                removed.push(uid);
            }
        }
        tx.commit().await?;
        Ok(removed)
    }
}

/// Stores `message` once and a copy of it in each of `mailboxes`, in the caller's
/// transaction.
async fn put_copies(
    tx: &mut Conn,
    mailboxes: &[MailboxId],
    message: &[u8],
    flags: MessageFlags,
    now: UnixTime,
) -> Result<Vec<DeliveredCopy>, MailstoreError> {
    let shape = shape::MessageShape::of(message).to_json();
    let body = tx
        .put_body(
            &BodyHash::of(message),
            message,
            Some(&shape),
            mailboxes.len() as i64,
            now,
        )
        .await?;
    let mut copies = Vec::with_capacity(mailboxes.len());
    for &mailbox_id in mailboxes {
        let uid = tx
            .append_message(mailbox_id, body, flags, &[], now, message.len() as u64)
            .await?
            .ok_or(MailstoreError::NoSuchMailbox)?;
        copies.push(DeliveredCopy { mailbox_id, uid });
    }
    Ok(copies)
}
