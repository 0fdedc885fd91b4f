//! The mail store: officials' mailboxes, the messages in them with UIDs and flags, and the
//! content-addressed bodies they share. A message delivered to many mailboxes is stored
//! once. No protocol types here: IMAP and SMTP translate to and from these.

mod consistency;
mod folder_lists;
mod folders;
pub mod import;
mod intake;
pub mod message;
pub mod shape;
pub mod text;
mod usual_names;

pub use consistency::{ConsistencyReport, RepairReport, EXAMPLES_PER_KIND};
pub use folders::{
    ChangedFlags, CopiedUids, FlagChange, FlagOutcome, FlagUpdate, MAX_NAME_BYTES, SEPARATOR,
};
pub use intake::{FiledCopy, Incoming, Intake, Stored, Submission};

use std::sync::Arc;

use crate::clock::{Clock, UnixTime};
use crate::model::OfficialId;
pub use crate::model::{
    BodyExample, BodyHash, BodyId, Examined, Example, Finding, Inconsistency, Mailbox,
    MailboxExample, MailboxId, MailboxMessage, MailboxRole, MessageExample, MessageFlags,
    QueueEntryExample, Uid, DEFAULT_MAILBOXES,
};
use crate::store::{BodyDerived, Conn, Store, StoreError};

/// What is worked out from a message's bytes once, when its body is stored: the structure
/// FETCH answers from and the text SEARCH matches, as the JSON they are kept as.
#[derive(Debug, Clone)]
pub(crate) struct Derived {
    shape: String,
    text: String,
}

impl Derived {
    pub(crate) fn of(message: &[u8]) -> Derived {
        Derived {
            shape: shape::MessageShape::of(message).to_json(),
            text: text::MessageText::of(message).to_json(),
        }
    }

    pub(crate) fn as_stored(&self) -> BodyDerived<'_> {
        BodyDerived {
            shape: &self.shape,
            text: &self.text,
        }
    }
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
    /// Officials' folder lists as delivery last read them.
    folder_lists: folder_lists::FolderLists,
}

impl Mailstore {
    /// A mail store over `store`.
    pub fn new(store: Store, clock: Clock) -> Mailstore {
        Mailstore {
            store,
            clock,
            folder_lists: folder_lists::FolderLists::new(),
        }
    }

    /// An official's folders for delivery to place copies by name: the names, ids and roles
    /// are those committed (see `folder_lists` for how a kept list follows changes), while
    /// the counters (UIDNEXT, HIGHESTMODSEQ) may be behind.
    pub async fn folders(&self, official: OfficialId) -> Result<Arc<[Mailbox]>, MailstoreError> {
        // Taken before the read: a change committed meanwhile makes the list kept stale.
        let version = self.store.mailbox_changes().folders_version(official);
        if let Some(kept) = self.folder_lists.get(official, version) {
            return Ok(kept);
        }
        let mailboxes: Arc<[Mailbox]> = self.mailboxes(official).await?.into();
        self.folder_lists
            .keep(official, version, Arc::clone(&mailboxes));
        Ok(mailboxes)
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
        certificate: crate::model::CertificateId,
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

    /// The bytes of several stored bodies, read together; a body that is gone is left out.
    pub async fn bodies(
        &self,
        bodies: &[BodyId],
    ) -> Result<Vec<(BodyId, Vec<u8>)>, MailstoreError> {
        Ok(self.store.read().await?.bodies_data(bodies).await?)
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
    let derived = Derived::of(message);
    let body = tx
        .put_body(
            &BodyHash::of(message),
            message,
            Some(derived.as_stored()),
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
