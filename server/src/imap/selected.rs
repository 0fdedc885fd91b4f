//! The selected mailbox: the session's view of it (messages in sequence order, the UIDs it
//! has told the client about), the commands that work on that view (FETCH, STORE, SEARCH,
//! COPY, MOVE, EXPUNGE, CLOSE) and IDLE, and keeping the view in step with changes other
//! sessions and deliveries commit (unsolicited EXISTS, EXPUNGE and FETCH FLAGS).

use std::collections::{HashMap, HashSet};
use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::imap_types::command::{FetchModifier, StoreModifier};
use imap_codec::imap_types::core::{Charset, Tag, Vec1};
use imap_codec::imap_types::extensions::uidplus::{UidElement, UidSet};
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName,
};
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::Mailbox as WireMailbox;
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use tokio::sync::watch;

use super::fetch::{self, FetchedMessage};
use super::folders::folder_name;
use super::framing::{Expect, ReadFault, Received};
use super::search::{self, SearchError, SearchScope};
use super::session::{Done, End, Session};
use super::{flags, reply};
use crate::mailstore::{
    BodyId, FlagChange, FlagOutcome, FlagUpdate, Mailbox, MailboxMessage, MailboxRole, Mailstore,
    MailstoreError, MessageFlags, Uid,
};
use crate::model::Official;

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
        let present: HashSet<Uid> = mailstore.uids(self.mailbox.id).await?.into_iter().collect();
        let gone = self.messages.iter().any(|m| !present.contains(&m.uid));
        if !expunges_allowed {
            self.expunges_held = gone;
            return Ok(());
        }
        for index in (0..self.messages.len()).rev() {
            if !present.contains(&self.messages[index].uid) {
                let message = self.messages.remove(index);
                self.recent.remove(&message.uid);
                if let Some(seq) = NonZeroU32::new(index as u32 + 1) {
                    updates.push(Data::Expunge(seq));
                }
            }
        }
        self.expunges_held = false;
        Ok(())
    }
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

    pub(super) async fn fetch(
        &mut self,
        set: SequenceSet,
        names: MacroOrMessageDataItemNames<'static>,
        uid: bool,
        modifiers: Vec<FetchModifier>,
    ) -> Result<Done, End> {
        let (mut items, changed_since) = match self.fetch_request(names, uid, modifiers) {
            Ok(request) => request,
            Err(done) => return Ok(done),
        };
        let Some(view) = self.view() else {
            return Ok(Done::bad(reply::WRONG_STATE));
        };
        let mut indexes = search::resolve(&set, &view.messages, uid);
        if let Some(since) = changed_since {
            indexes.retain(|&i| view.messages[i].modseq > since);
        }
        if fetch::marks_seen(&items) && !view.read_only {
            match self.mark_seen(&indexes).await {
                Ok(true) if !items.contains(&MessageDataItemName::Flags) => {
                    items.push(MessageDataItemName::Flags);
                }
                Ok(_) => {}
                Err(error) => return Ok(Done::refused(&error)),
            }
        }
        let needs = fetch::needs(&items);
        // Structures are read a batch at a time: one statement per batch instead of one per
        // message when a client lists a whole mailbox.
        for batch in indexes.chunks(FETCH_BATCH) {
            if let Err(error) = self.fetch_batch(batch, &items, &needs).await? {
                return Ok(Done::refused(&error));
            }
        }
        Ok(Done::ok(reply::DONE))
    }

    /// The items to send (UID added to UID FETCH, MODSEQ when mod-sequences are asked for)
    /// and CHANGEDSINCE; or the reply to a modifier not served.
    fn fetch_request(
        &mut self,
        names: MacroOrMessageDataItemNames<'static>,
        uid: bool,
        modifiers: Vec<FetchModifier>,
    ) -> Result<(Vec<MessageDataItemName<'static>>, Option<u64>), Done> {
        let mut items = fetch::item_names(names);
        if uid && !items.contains(&MessageDataItemName::Uid) {
            items.push(MessageDataItemName::Uid);
        }
        let mut changed_since = None;
        for modifier in modifiers {
            match modifier {
                FetchModifier::ChangedSince(since) => changed_since = Some(since.get()),
                FetchModifier::Vanished => return Err(Done::bad(reply::NOT_SUPPORTED)),
            }
        }
        // RFC 7162 §3.1: asking for mod-sequences turns CONDSTORE on for the session.
        if changed_since.is_some() || items.contains(&MessageDataItemName::ModSeq) {
            self.condstore = true;
            if !items.contains(&MessageDataItemName::ModSeq) {
                items.push(MessageDataItemName::ModSeq);
            }
        }
        Ok((items, changed_since))
    }

    /// Sets \Seen on the messages at `indexes` that lack it; whether any did.
    async fn mark_seen(&mut self, indexes: &[usize]) -> Result<bool, MailstoreError> {
        let Some(view) = self.view() else {
            return Ok(false);
        };
        let unseen: Vec<Uid> = indexes
            .iter()
            .map(|&i| &view.messages[i])
            .filter(|m| !m.flags.contains(MessageFlags::SEEN))
            .map(|m| m.uid)
            .collect();
        if unseen.is_empty() {
            return Ok(false);
        }
        let seen = FlagUpdate {
            change: FlagChange::Add,
            flags: MessageFlags::SEEN,
            keywords: &[],
            unchanged_since: None,
        };
        self.set_flags(&unseen, &seen).await?;
        Ok(true)
    }

    /// Sends the FETCH responses of the messages at `batch`, reading their structures in one
    /// statement. A message expunged meanwhile by another session is left out.
    async fn fetch_batch(
        &mut self,
        batch: &[usize],
        items: &[MessageDataItemName<'static>],
        needs: &fetch::Needs,
    ) -> Result<Result<(), MailstoreError>, End> {
        let mailstore = self.service.mailstore.clone();
        let shapes = match (needs.shape, self.view()) {
            (true, Some(view)) => {
                let bodies: Vec<BodyId> = batch.iter().map(|&i| view.messages[i].body_id).collect();
                match mailstore.shapes(&bodies).await {
                    Ok(shapes) => shapes,
                    Err(error) => return Ok(Err(error)),
                }
            }
            _ => HashMap::new(),
        };
        for &index in batch {
            let Some(view) = self.view() else { break };
            let Some(message) = view.messages.get(index).cloned() else {
                continue;
            };
            let recent = view.recent.contains(&message.uid);
            let shape = shapes.get(&message.body_id);
            if needs.shape && shape.is_none() {
                // Its body is gone: expunged meanwhile by another session.
                continue;
            }
            let body = if needs.body {
                match mailstore.body(message.body_id).await {
                    Ok(Some(body)) => Some(body),
                    Ok(None) => continue,
                    Err(error) => return Ok(Err(error)),
                }
            } else {
                None
            };
            let flag_list = flags::fetched(message.flags, &message.keywords, recent);
            let fetched = FetchedMessage {
                message: &message,
                flags: &flag_list,
                shape,
                body: body.as_deref(),
            };
            let data = fetch::message_items(items, &fetched);
            crate::telemetry::imap_fetch_bytes(fetch::message_data_bytes(&data));
            if let (Ok(data), Some(seq)) = (Vec1::try_from(data), NonZeroU32::new(index as u32 + 1))
            {
                self.data(Data::Fetch { seq, items: data });
            }
            self.flush_if_large().await?;
        }
        Ok(Ok(()))
    }

    /// Changes flags in the mail store and in the view; returns the UIDs left alone because
    /// they changed after `update.unchanged_since`.
    async fn set_flags(
        &mut self,
        uids: &[Uid],
        update: &FlagUpdate<'_>,
    ) -> Result<Vec<Uid>, MailstoreError> {
        let service = self.service;
        let Some(view) = self.view_mut() else {
            return Ok(Vec::new());
        };
        let FlagOutcome { changed, modified } = service
            .mailstore
            .change_flags(view.mailbox.id, uids, update)
            .await?;
        let by_uid: HashMap<Uid, usize> = view
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| (m.uid, i))
            .collect();
        for c in changed {
            if let Some(&i) = by_uid.get(&c.uid) {
                let message = &mut view.messages[i];
                message.flags = c.flags;
                message.keywords = c.keywords;
                message.modseq = c.modseq;
            }
        }
        Ok(modified)
    }

    pub(super) async fn store(
        &mut self,
        set: SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flag_list: Vec<Flag<'static>>,
        uid: bool,
        modifiers: Vec<StoreModifier>,
    ) -> Done {
        let unchanged_since = modifiers
            .into_iter()
            .map(|StoreModifier::UnchangedSince(since)| since)
            .next();
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let Some(view) = self.view() else {
            return Done::bad(reply::WRONG_STATE);
        };
        if view.read_only {
            return Done::no(Some(Code::ReadOnly), reply::READ_ONLY);
        }
        let indexes = search::resolve(&set, &view.messages, uid);
        let uids: Vec<Uid> = indexes.iter().map(|&i| view.messages[i].uid).collect();
        let (bits, keywords) = flags::split(&flag_list);
        let update = FlagUpdate {
            change: match kind {
                StoreType::Replace => FlagChange::Replace,
                StoreType::Add => FlagChange::Add,
                StoreType::Remove => FlagChange::Remove,
            },
            flags: bits,
            keywords: &keywords,
            unchanged_since,
        };
        let modified = match self.set_flags(&uids, &update).await {
            Ok(modified) => modified,
            Err(error) => return Done::refused(&error),
        };
        if response == StoreResponse::Answer {
            let answers = self.flags_answer(&indexes, &modified, uid);
            answers.into_iter().for_each(|data| self.data(data));
        }
        if modified.is_empty() {
            return Done::ok(reply::DONE);
        }
        // RFC 7162 §3.1.3: the messages left alone, by sequence number or UID.
        let Some(view) = self.view() else {
            return Done::ok(reply::DONE);
        };
        let numbers = indexes
            .iter()
            .filter(|&&i| modified.contains(&view.messages[i].uid))
            .map(|&i| {
                if uid {
                    view.messages[i].uid.0
                } else {
                    i as u32 + 1
                }
            });
        match number_set(numbers) {
            Some(set) => Done::ok_code(Code::Modified(set), reply::CONDITIONAL_STORE_FAILED),
            None => Done::ok(reply::DONE),
        }
    }

    /// The FETCH FLAGS responses STORE answers with: each message at `indexes` but those
    /// left alone, with its UID under UID STORE and its mod-sequence under CONDSTORE.
    fn flags_answer(&self, indexes: &[usize], left_alone: &[Uid], uid: bool) -> Vec<Data<'static>> {
        let Some(view) = self.view() else {
            return Vec::new();
        };
        let mut answers = Vec::with_capacity(indexes.len());
        for &index in indexes {
            let message = &view.messages[index];
            if left_alone.contains(&message.uid) {
                continue;
            }
            let mut items = vec![MessageDataItem::Flags(flags::fetched(
                message.flags,
                &message.keywords,
                view.recent.contains(&message.uid),
            ))];
            if uid {
                items.extend(NonZeroU32::new(message.uid.0).map(MessageDataItem::Uid));
            }
            if self.condstore {
                items.extend(NonZeroU64::new(message.modseq).map(MessageDataItem::ModSeq));
            }
            if let Some(seq) = NonZeroU32::new(index as u32 + 1) {
                answers.push(Data::Fetch {
                    seq,
                    items: Vec1::unvalidated(items),
                });
            }
        }
        answers
    }

    /// COPY and MOVE (RFC 6851), answering COPYUID (RFC 4315).
    pub(super) async fn copy(
        &mut self,
        official: &Official,
        set: SequenceSet,
        target: WireMailbox<'static>,
        uid: bool,
        remove_source: bool,
    ) -> Done {
        let Some(view) = self.view() else {
            return Done::bad(reply::WRONG_STATE);
        };
        if remove_source && view.read_only {
            return Done::no(Some(Code::ReadOnly), reply::READ_ONLY);
        }
        let messages: Vec<MailboxMessage> = search::resolve(&set, &view.messages, uid)
            .into_iter()
            .map(|i| view.messages[i].clone())
            .collect();
        let Some(name) = folder_name(&target) else {
            return Done::no(Some(Code::TryCreate), reply::NO_SUCH_MAILBOX);
        };
        let mailstore = self.service.mailstore.clone();
        let target = match mailstore.mailbox_named(official, &name).await {
            Ok(Some(target)) => target,
            Ok(None) => return Done::no(Some(Code::TryCreate), reply::NO_SUCH_MAILBOX),
            Err(error) => return Done::refused(&error),
        };
        if messages.is_empty() {
            return Done::ok(reply::DONE);
        }
        let (validity, copied) = match mailstore
            .copy(official, &messages, target.id, remove_source)
            .await
        {
            Ok(copied) => copied,
            Err(error) => return Done::refused(&error),
        };
        self.teach_spam_filter(view.mailbox.role, target.role, &messages);
        let code = copy_uid(validity, &copied);
        if remove_source {
            // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
            if let Some(code) = code {
                self.untagged_ok(Some(code), reply::DONE);
            }
            return Done::ok(reply::DONE);
        }
        match code {
            Some(code) => Done::ok_code(code, reply::DONE),
            None => Done::ok(reply::DONE),
        }
    }

    /// An official moving mail into Junk says it is spam; out of Junk into another folder
    /// (not Trash), that it is not. rspamd learns it in the background: the reply does not
    /// wait, and a failed lesson costs nothing but the lesson.
    fn teach_spam_filter(
        &self,
        from: Option<MailboxRole>,
        to: Option<MailboxRole>,
        messages: &[MailboxMessage],
    ) {
        let Some(rspamd) = self.service.learner.clone() else {
            return;
        };
        let junk = Some(MailboxRole::Junk);
        let as_spam = match (from, to) {
            (f, t) if f != junk && t == junk => true,
            (f, t) if f == junk && t != junk && t != Some(MailboxRole::Trash) => false,
            _ => return,
        };
        let bodies: Vec<_> = messages
            .iter()
            .take(MAX_LESSONS_PER_COMMAND)
            .map(|m| m.body_id)
            .collect();
        let mailstore = self.service.mailstore.clone();
        tokio::spawn(async move {
            for body in bodies {
                match mailstore.body(body).await {
                    Ok(Some(message)) => {
                        if let Err(error) = rspamd.learn(&message, as_spam).await {
                            tracing::warn!(%error, as_spam, "rspamd did not learn a message");
                        }
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "cannot read a message to teach rspamd"),
                }
            }
        });
    }

    /// EXPUNGE and UID EXPUNGE (RFC 4315): removes the `\Deleted` messages (in `only`, if
    /// given); the EXPUNGE responses follow from bringing the view up to date.
    pub(super) async fn expunge(&mut self, only: Option<SequenceSet>) -> Done {
        let Some(view) = self.view() else {
            return Done::bad(reply::WRONG_STATE);
        };
        if view.read_only {
            return Done::no(Some(Code::ReadOnly), reply::READ_ONLY);
        }
        let within: Option<HashSet<usize>> = only.map(|set| {
            search::resolve(&set, &view.messages, true)
                .into_iter()
                .collect()
        });
        let doomed: Vec<Uid> = view
            .messages
            .iter()
            .enumerate()
            .filter(|(i, m)| {
                m.flags.contains(MessageFlags::DELETED)
                    && within.as_ref().is_none_or(|w| w.contains(i))
            })
            .map(|(_, m)| m.uid)
            .collect();
        let mailbox = view.mailbox.id;
        if doomed.is_empty() {
            return Done::ok(reply::DONE);
        }
        match self.service.mailstore.expunge(mailbox, &doomed).await {
            Ok(_) => Done::ok(reply::DONE),
            Err(error) => Done::refused(&error),
        }
    }

    /// CLOSE: expunges silently (unless read-only) and leaves the mailbox.
    pub(super) async fn close(&mut self) -> Done {
        let Some(view) = self.unselect() else {
            return Done::bad(reply::WRONG_STATE);
        };
        if view.read_only {
            return Done::ok(reply::DONE);
        }
        let doomed: Vec<Uid> = view
            .messages
            .iter()
            .filter(|m| m.flags.contains(MessageFlags::DELETED))
            .map(|m| m.uid)
            .collect();
        if !doomed.is_empty() {
            if let Err(error) = self
                .service
                .mailstore
                .expunge(view.mailbox.id, &doomed)
                .await
            {
                return Done::refused(&error);
            }
        }
        Done::ok(reply::DONE)
    }

    pub(super) async fn search(
        &mut self,
        charset: Option<Charset<'static>>,
        criteria: Vec1<SearchKey<'static>>,
        uid: bool,
    ) -> Done {
        if let Some(charset) = charset {
            let name = charset.as_ref().to_ascii_uppercase();
            if name != "UTF-8" && name != "US-ASCII" {
                return Done::no(
                    Some(Code::BadCharset {
                        allowed: Vec::new(),
                    }),
                    reply::BAD_CHARSET,
                );
            }
        }
        let Some(view) = self.view() else {
            return Done::bad(reply::WRONG_STATE);
        };
        let scope = SearchScope {
            messages: &view.messages,
            recent: &view.recent,
        };
        let found = match search::search(&self.service.mailstore, &scope, criteria.as_ref()).await {
            Ok(found) => found,
            Err(SearchError::TooDeep) => return Done::bad(reply::SEARCH_TOO_DEEP),
            Err(SearchError::Mailstore(error)) => return Done::refused(&error),
        };
        let highest = uses_modseq(criteria.as_ref())
            .then(|| found.iter().map(|&i| view.messages[i].modseq).max())
            .flatten()
            .and_then(NonZeroU64::new);
        let numbers: Vec<NonZeroU32> = found
            .into_iter()
            .filter_map(|i| {
                let n = if uid {
                    view.messages[i].uid.0
                } else {
                    i as u32 + 1
                };
                NonZeroU32::new(n)
            })
            .collect();
        if highest.is_some() {
            self.condstore = true;
        }
        self.data(Data::Search(numbers, highest));
        Done::ok(reply::DONE)
    }

    /// IDLE (RFC 2177): updates as they commit, until DONE. A client in IDLE is waiting,
    /// not gone, so it is not closed for silence; instead it hears `* OK Still here` every
    /// [`IDLE_KEEPALIVE`], which keeps NAT mappings open and finds dead peers (the write
    /// fails).
    pub(super) async fn idle(&mut self, tag: Tag<'static>) -> Result<bool, End> {
        let _idling = crate::telemetry::imap_idle_started();
        self.send_updates(true).await;
        self.raw(b"+ ");
        self.raw(reply::IDLING.as_bytes());
        self.raw(b"\r\n");
        self.flush().await?;
        let mut changes = self.view().map(|s| s.changes.clone());
        loop {
            let mut stream = self.take_stream().ok_or(End)?;
            let shutdown = self.shutdown().clone();
            let event = tokio::select! {
                received = self.reader.next(&mut stream, Expect::IdleDone, IDLE_KEEPALIVE) => Some(received),
                _ = wait_for(&mut changes) => None,
                () = shutdown.cancelled() => {
                    self.put_stream(stream);
                    self.bye(None, reply::BYE_SHUTDOWN);
                    return Ok(true);
                }
            };
            self.put_stream(stream);
            match event {
                None => {
                    self.send_updates(true).await;
                    self.flush().await?;
                }
                Some(Ok(Received::IdleDone)) => break,
                Some(Err(ReadFault::TimedOut)) => {
                    self.untagged_ok(None, reply::STILL_HERE);
                    self.flush().await?;
                }
                Some(Ok(_)) => {
                    crate::telemetry::imap_idle_completed("bad");
                    return Ok(self.complete(tag, Done::bad(reply::PARSE_ERROR)));
                }
                Some(Err(fault)) => {
                    self.read_fault(fault);
                    return Ok(true);
                }
            }
        }
        crate::telemetry::imap_idle_completed("ok");
        Ok(self.complete(tag, Done::ok(reply::DONE)))
    }
}

/// Messages whose structures one FETCH reads in one statement.
const FETCH_BATCH: usize = 256;
/// Messages one COPY or MOVE teaches rspamd at most: an official moving a whole folder of
/// years of mail must not keep the engine busy for an hour.
const MAX_LESSONS_PER_COMMAND: usize = 100;

/// How often a client in IDLE hears that the server is still there.
const IDLE_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether the criteria mention MODSEQ anywhere (RFC 7162 §3.1.5).
fn uses_modseq(keys: &[SearchKey<'_>]) -> bool {
    keys.iter().any(|key| match key {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(keys) => uses_modseq(keys.as_ref()),
        SearchKey::Not(key) => uses_modseq(std::slice::from_ref(key)),
        SearchKey::Or(a, b) => {
            uses_modseq(std::slice::from_ref(a)) || uses_modseq(std::slice::from_ref(b))
        }
        _ => false,
    })
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

/// Waits for the next committed change; forever when there is nothing to watch.
async fn wait_for(changes: &mut Option<watch::Receiver<u64>>) {
    match changes {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// The COPYUID code for copies made.
fn copy_uid(validity: u32, copied: &[(Uid, Uid)]) -> Option<Code<'static>> {
    let uid_validity = NonZeroU32::new(validity)?;
    let source = uid_set(copied.iter().map(|(s, _)| *s))?;
    let destination = uid_set(copied.iter().map(|(_, d)| *d))?;
    Some(Code::CopyUid {
        uid_validity,
        source,
        destination,
    })
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
