//! Mail values every layer names: a body's hash, a mailbox's role, the system flags, and a
//! mailbox and a message as stored. What is done with them is the mail store's.

use std::fmt;

use sha2::{Digest, Sha256};

use super::ids::{BodyId, MailboxId, OfficialId, Uid};
use crate::clock::UnixTime;

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

/// How a submitted message is signed, as the e-government report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// No S/MIME signature at the top level.
    Unsigned,
    /// S/MIME-signed, but the signature does not verify or the signer is not one of the
    /// sender's certificates in the directory.
    Unverified,
    /// S/MIME-signed by one of the sender's valid directory certificates, and it verifies.
    Verified,
}

/// The mailboxes every official gets, by name and role.
pub const DEFAULT_MAILBOXES: [(&str, MailboxRole); 5] = [
    ("INBOX", MailboxRole::Inbox),
    ("Sent", MailboxRole::Sent),
    ("Drafts", MailboxRole::Drafts),
    ("Trash", MailboxRole::Trash),
    ("Junk", MailboxRole::Junk),
];
