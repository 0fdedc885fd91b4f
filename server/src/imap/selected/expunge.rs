//! EXPUNGE, UID EXPUNGE and CLOSE: removing the messages marked deleted.

use std::collections::HashSet;

use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::reply;
use crate::imap::search::{self};
use crate::imap::session::{Done, Session};
use crate::mailstore::{MessageFlags, Uid};

impl Session<'_> {
    /// EXPUNGE and UID EXPUNGE (RFC 4315): removes the `\Deleted` messages (in `only`, if
    /// given); the EXPUNGE responses follow from bringing the view up to date.
    pub(in crate::imap) async fn expunge(&mut self, only: Option<SequenceSet>) -> Done {
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
    pub(in crate::imap) async fn close(&mut self) -> Done {
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
}
