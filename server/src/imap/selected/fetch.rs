//! FETCH over the selected mailbox: which messages a request names, what must be loaded for
//! them, marking them seen, and the answers a batch at a time.

use std::collections::HashMap;
use std::num::NonZeroU32;

use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName};
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::sequence::SequenceSet;

use super::read_ahead::Plan;
use crate::imap::fetch::{self, FetchedMessage};
use crate::imap::search::{self};
use crate::imap::session::{Done, End, Session};
use crate::imap::{flags, reply};
use crate::mailstore::{
    BodyId, FlagChange, FlagUpdate, Mailstore, MailstoreError, MessageFlags, Uid,
};

impl Session<'_> {
    pub(in crate::imap) async fn fetch(
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
        // A listing's answers are written straight from the structures.
        let direct = fetch::wire::writes_all(items);
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
                match self.message_body(&mailstore, index).await {
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
            let Some(seq) = NonZeroU32::new(index as u32 + 1) else {
                continue;
            };
            if direct {
                fetch::wire::write_fetch(self.output(), seq, items, &fetched);
            } else {
                let data = fetch::message_items(items, &fetched);
                crate::telemetry::imap_fetch_bytes(fetch::message_data_bytes(&data));
                if let Ok(data) = Vec1::try_from(data) {
                    self.data(Data::Fetch { seq, items: data });
                }
            }
            self.flush_if_large().await?;
        }
        Ok(Ok(()))
    }

    /// The bytes of the message at `index` in the view, read ahead with the next ones when
    /// the client goes through the mailbox in order; `None` when its body is gone (expunged
    /// meanwhile by another session).
    async fn message_body(
        &mut self,
        mailstore: &Mailstore,
        index: usize,
    ) -> Result<Option<Vec<u8>>, MailstoreError> {
        let Some(view) = self.view_mut() else {
            return Ok(None);
        };
        let wanted = match view.read_ahead.plan(&view.messages, index) {
            Plan::Kept(body) => return Ok(Some(body)),
            Plan::Read(wanted) => wanted,
        };
        let read = mailstore.bodies(&wanted).await?;
        Ok(self
            .view_mut()
            .and_then(|view| view.read_ahead.keep(&wanted, read)))
    }
}

/// Messages whose structures one FETCH reads in one statement.
const FETCH_BATCH: usize = 256;
