//! COPY and MOVE into another folder, answering COPYUID, and teaching the spam filter when mail
//! goes into or out of Junk.

use std::num::NonZeroU32;

use imap_codec::imap_types::mailbox::Mailbox as WireMailbox;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::folders::folder_name;
use crate::imap::reply;
use crate::imap::search::{self};
use crate::imap::session::{Done, Session};
use crate::mailstore::{MailboxMessage, MailboxRole, Uid};
use crate::model::Official;

use super::uid_set;

impl Session<'_> {
    /// COPY and MOVE (RFC 6851), answering COPYUID (RFC 4315).
    pub(in crate::imap) async fn copy(
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
}

/// Messages one COPY or MOVE teaches rspamd at most: an official moving a whole folder of
/// years of mail must not keep the engine busy for an hour.
const MAX_LESSONS_PER_COMMAND: usize = 100;

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
