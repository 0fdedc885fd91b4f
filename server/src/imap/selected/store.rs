//! STORE: changing messages' flags and keywords (with CONDSTORE's UNCHANGEDSINCE), and the
//! FETCH answers that say what changed.

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::search::{self};
use crate::imap::session::{Done, Session};
use crate::imap::{flags, reply};
use crate::mailstore::{FlagChange, FlagOutcome, FlagUpdate, MailstoreError, Uid};

use super::number_set;

impl Session<'_> {
    /// Changes flags in the mail store and in the view; returns the UIDs left alone because
    /// they changed after `update.unchanged_since`.
    pub(super) async fn set_flags(
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

    pub(in crate::imap) async fn store(
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
}
