//! The selected mailbox: the session's view of it (messages in sequence order, the UIDs it
//! has told the client about), and keeping the view in step with changes other sessions and
//! deliveries commit (unsolicited EXISTS, EXPUNGE and FETCH FLAGS). The commands that work
//! on the view are one file per group: FETCH, STORE, SEARCH, COPY and MOVE, EXPUNGE and
//! CLOSE, and IDLE; and beside them, the bodies read ahead of a client fetching in order.

mod copy;
mod expunge;
mod fetch;
mod idle;
mod read_ahead;
mod search;
mod store;

use std::collections::HashSet;
use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::uidplus::{UidElement, UidSet};
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use tokio::sync::watch;

use super::session::Session;
use super::{flags, reply};
use crate::mailstore::{Mailbox, MailboxMessage, Mailstore, MailstoreError, MessageFlags, Uid};

/// The session's view of its selected mailbox.
#[derive(Debug)]
pub(super) struct Selected {
    pub mailbox: Mailbox,
    pub read_only: bool,
    /// Messages in sequence order (sequence number = index + 1), ascending UIDs.
    pub messages: Vec<MailboxMessage>,
    /// Messages that arrived while this session had the mailbox selected (`\Recent`).
    pub recent: HashSet<Uid>,
    /// The mailbox's change counter when the view was last brought up to date.
    known_modseq: u64,
    /// Wakes when a change to this mailbox commits.
    changes: watch::Receiver<u64>,
    /// Messages expunged elsewhere that the client has not been told about yet, because
    /// EXPUNGE could not be sent at the time.
    expunges_held: bool,
    /// Bodies read ahead of a client fetching this mailbox's messages in order.
    read_ahead: read_ahead::ReadAhead,
}

impl Selected {
    /// Opens `mailbox`, reading its messages.
    pub(super) async fn open(
        mailstore: &Mailstore,
        mailbox: Mailbox,
        read_only: bool,
    ) -> Result<Selected, MailstoreError> {
        // Watch first: a change committed between the read and the watch is then not missed.
        let changes = mailstore.watch(mailbox.id);
        let known_modseq = mailstore.highest_modseq(mailbox.id).await?;
        let messages = mailstore.messages(mailbox.id).await?;
        let mailbox = mailstore.mailbox(mailbox.id).await?;
        Ok(Selected {
            mailbox,
            read_only,
            messages,
            recent: HashSet::new(),
            known_modseq,
            changes,
            expunges_held: false,
            read_ahead: read_ahead::ReadAhead::default(),
        })
    }

    /// The mailbox's change counter as this view last saw it.
    pub(super) fn highest_modseq(&self) -> u64 {
        self.known_modseq
    }

    pub(super) fn exists(&self) -> u32 {
        self.messages.len() as u32
    }

    /// The sequence number of the first unseen message.
    pub(super) fn first_unseen(&self) -> Option<NonZeroU32> {
        let index = self
            .messages
            .iter()
            .position(|m| !m.flags.contains(MessageFlags::SEEN))?;
        NonZeroU32::new(index as u32 + 1)
    }

    /// Keywords used by any message, for FLAGS and PERMANENTFLAGS.
    pub(super) fn keywords_in_use(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for keyword in self.messages.iter().flat_map(|m| &m.keywords) {
            if !seen.iter().any(|k| k.eq_ignore_ascii_case(keyword)) {
                seen.push(keyword.clone());
            }
        }
        seen
    }

    /// Brings the view up to date; returns the untagged responses that tell the client.
    /// Without `expunges_allowed`, expunged messages stay in the view (and a later call
    /// reports them), so sequence numbers do not shift under the running command.
    async fn refresh(
        &mut self,
        mailstore: &Mailstore,
        expunges_allowed: bool,
        with_modseq: bool,
    ) -> Result<Vec<Data<'static>>, MailstoreError> {
        // Every committed change to the mailbox (this session's own included) wakes the
        // watch, so without a wake-up or held-back expunges there is nothing to ask for.
        let woken = self.changes.has_changed().unwrap_or(true);
        if !woken && !self.expunges_held {
            return Ok(Vec::new());
        }
        self.changes.borrow_and_update();
        let (modseq, changed) = mailstore
            .changed_since(self.mailbox.id, self.known_modseq)
            .await?;
        if modseq == self.known_modseq && !self.expunges_held {
            return Ok(Vec::new());
        }
        self.known_modseq = modseq;
        let mut updates = Vec::new();
        if !changed.is_empty() || self.expunges_held {
            let counts = mailstore.counts(self.mailbox.id).await?;
            let arrived = self.apply_changes(changed, with_modseq, &mut updates);
            if counts.messages != self.messages.len() as u64 {
                self.expunge_gone(mailstore, expunges_allowed, &mut updates)
                    .await?;
            } else {
                self.expunges_held = false;
            }
            if arrived > 0 {
                updates.push(Data::Exists(self.exists()));
                updates.push(Data::Recent(self.recent.len() as u32));
            }
        } else {
            // Only removals can raise the counter without changing or adding a message.
            self.expunge_gone(mailstore, expunges_allowed, &mut updates)
                .await?;
        }
        Ok(updates)
    }

    /// Applies changed and arrived messages to the view, queueing FETCH FLAGS for changed
    /// ones; returns how many arrived (appended at the end, not yet announced).
    fn apply_changes(
        &mut self,
        changed: Vec<MailboxMessage>,
        with_modseq: bool,
        updates: &mut Vec<Data<'static>>,
    ) -> usize {
        let last = self.messages.last().map_or(Uid(0), |m| m.uid);
        let mut arrived = 0;
        for message in changed {
            if message.uid > last {
                self.recent.insert(message.uid);
                self.messages.push(message);
                arrived += 1;
                continue;
            }
            let Ok(index) = self.messages.binary_search_by_key(&message.uid, |m| m.uid) else {
                continue;
            };
            let held = &mut self.messages[index];
            if held.flags == message.flags && held.keywords == message.keywords {
                held.modseq = message.modseq;
                continue;
            }
            *held = message;
            let recent = self.recent.contains(&held.uid);
            let flags = flags::fetched(held.flags, &held.keywords, recent);
            if let (Some(seq), Some(uid)) = (
                NonZeroU32::new(index as u32 + 1),
                NonZeroU32::new(held.uid.0),
            ) {
                let mut items = vec![MessageDataItem::Flags(flags), MessageDataItem::Uid(uid)];
                if with_modseq {
                    items.extend(NonZeroU64::new(held.modseq).map(MessageDataItem::ModSeq));
                }
                updates.push(Data::Fetch {
                    seq,
                    items: Vec1::unvalidated(items),
                });
            }
        }
        arrived
    }

    /// Finds messages expunged elsewhere and, when allowed, drops them from the view with
    /// EXPUNGE responses (highest first, so each number means what the client thinks);
    /// otherwise holds them back for a later command.
    async fn expunge_gone(
        &mut self,
        mailstore: &Mailstore,
        expunges_allowed: bool,
        updates: &mut Vec<Data<'static>>,
    ) -> Result<(), MailstoreError> {
        let present = mailstore.uids(self.mailbox.id).await?;
        let gone = gone_from(&self.messages, &present);
        if !expunges_allowed {
            self.expunges_held = !gone.is_empty();
            return Ok(());
        }
        // Highest first, so each sequence number is the message's as the client then knows it.
        for &index in gone.iter().rev() {
            self.recent.remove(&self.messages[index].uid);
            if let Some(seq) = NonZeroU32::new(index as u32 + 1) {
                updates.push(Data::Expunge(seq));
            }
        }
        let mut index = 0;
        let mut gone = gone.iter().peekable();
        self.messages.retain(|_| {
            let kept = gone.next_if_eq(&&index).is_none();
            index += 1;
            kept
        });
        self.expunges_held = false;
        Ok(())
    }
}

/// The indexes in `messages` of those whose UID is not in `present`; both ascending by UID,
/// so one walk through each finds them (a mailbox may hold 400,000).
fn gone_from(messages: &[MailboxMessage], present: &[Uid]) -> Vec<usize> {
    let mut present = present.iter().peekable();
    let mut gone = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        while present.next_if(|uid| **uid < message.uid).is_some() {}
        if present.next_if_eq(&&message.uid).is_none() {
            gone.push(index);
        }
    }
    gone
}

impl Session<'_> {
    /// Sends the updates other sessions caused since the view was last brought up to date.
    pub(super) async fn send_updates(&mut self, expunges_allowed: bool) {
        let (service, condstore) = (self.service, self.condstore);
        let Some(selected) = self.view_mut() else {
            return;
        };
        match selected
            .refresh(&service.mailstore, expunges_allowed, condstore)
            .await
        {
            Ok(updates) => updates.into_iter().for_each(|data| self.data(data)),
            Err(MailstoreError::NoSuchMailbox) => {
                // Deleted by another session: nothing more can be said about it.
                self.unselect();
                self.untagged_ok(Some(reply::code("CLOSED")), reply::BYE_MAILBOX_GONE);
            }
            Err(error) => tracing::warn!(%error, "IMAP view could not be refreshed"),
        }
    }
}

/// Numbers as a sequence set, consecutive runs as ranges.
fn number_set(numbers: impl Iterator<Item = u32>) -> Option<SequenceSet> {
    let mut runs: Vec<(NonZeroU32, NonZeroU32)> = Vec::new();
    for n in numbers.filter_map(NonZeroU32::new) {
        match runs.last_mut() {
            Some((_, end)) if end.get() + 1 == n.get() => *end = n,
            _ => runs.push((n, n)),
        }
    }
    let sequences: Vec<Sequence> = runs
        .into_iter()
        .map(|(start, end)| {
            if start == end {
                Sequence::Single(SeqOrUid::Value(start))
            } else {
                Sequence::Range(SeqOrUid::Value(start), SeqOrUid::Value(end))
            }
        })
        .collect();
    Vec1::try_from(sequences).ok().map(SequenceSet)
}

/// UIDs, in the order given, as a set with consecutive runs written as ranges.
fn uid_set(uids: impl Iterator<Item = Uid>) -> Option<UidSet> {
    let mut elements: Vec<UidElement> = Vec::new();
    for uid in uids.filter_map(|u| NonZeroU32::new(u.0)) {
        match elements.last_mut() {
            Some(UidElement::Single(start)) if start.get() + 1 == uid.get() => {
                *elements.last_mut()? = UidElement::Range(*start, uid);
            }
            Some(UidElement::Range(_, end)) if end.get() + 1 == uid.get() => *end = uid,
            _ => elements.push(UidElement::Single(uid)),
        }
    }
    Vec1::try_from(elements).ok().map(UidSet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::UnixTime;
    use crate::mailstore::{BodyId, MailboxId};

    fn view(uids: &[u32]) -> Vec<MailboxMessage> {
        uids.iter()
            .map(|&uid| MailboxMessage {
                mailbox_id: MailboxId(1),
                uid: Uid(uid),
                body_id: BodyId(i64::from(uid)),
                flags: MessageFlags::default(),
                keywords: Vec::new(),
                internal_date: UnixTime(0),
                size: 1,
                modseq: 1,
            })
            .collect()
    }

    fn uids(uids: &[u32]) -> Vec<Uid> {
        uids.iter().map(|&u| Uid(u)).collect()
    }

    #[test]
    fn the_messages_gone_are_those_whose_uid_is_no_longer_present() {
        let messages = view(&[1, 2, 3, 5, 8]);
        // 9 arrived meanwhile and is not the view's concern; 4 was never in it.
        assert_eq!(gone_from(&messages, &uids(&[2, 4, 5, 9])), vec![0, 2, 4]);
        assert_eq!(
            gone_from(&messages, &uids(&[1, 2, 3, 5, 8])),
            Vec::<usize>::new()
        );
        assert_eq!(gone_from(&messages, &[]), vec![0, 1, 2, 3, 4]);
        assert_eq!(gone_from(&[], &uids(&[1, 2])), Vec::<usize>::new());
    }
}
