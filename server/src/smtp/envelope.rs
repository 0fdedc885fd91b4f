//! MAIL and RCPT: the envelope of one mail transaction. MAIL checks the sender (on
//! submission, that the official owns it) and the declared size; RCPT looks each recipient up
//! in the directory's index and keeps local recipients as officials, each once, however many
//! lists and addresses reach them.

use std::borrow::Cow;
use std::collections::HashSet;

use smtp_proto::{MailFrom, RcptTo, MAIL_SMTPUTF8};

use super::reply::{self, Reply};
use super::session::{Next, Session};
use crate::directory::{normalize_address, OfficialId, RecipientLookup};

/// One mail transaction's envelope.
#[derive(Debug, Default)]
pub struct Envelope {
    /// The reverse-path; empty for `<>`.
    pub sender: String,
    pub smtputf8: bool,
    /// The SIZE the client declared, or 0.
    pub declared_size: usize,
    /// Every accepted RCPT address, as given, for the recipient limit and trace header.
    pub recipients: Vec<String>,
    /// Local officials who receive a copy, each once, in order.
    pub local: Vec<OfficialId>,
    local_seen: HashSet<OfficialId>,
    /// Officials named directly (not through a list), with their quota, for the final quota
    /// check.
    pub direct: Vec<(OfficialId, i64)>,
    /// Recipients in other domains (submission only), each once.
    pub remote: Vec<String>,
    /// BDAT chunks received so far (CHUNKING, RFC 3030).
    pub chunks: Option<Vec<u8>>,
    /// Set once a BDAT chunk pushed the message over the size limit.
    pub chunks_too_large: bool,
}

impl Envelope {
    pub fn has_recipients(&self) -> bool {
        !self.local.is_empty() || !self.remote.is_empty()
    }

    /// Whether the message is being sent with BDAT.
    pub fn chunked(&self) -> bool {
        self.chunks.is_some()
    }

    fn add_local(&mut self, official: OfficialId) {
        if self.local_seen.insert(official) {
            self.local.push(official);
        }
    }
}

/// MAIL FROM.
pub async fn mail(session: &mut Session<'_>, from: MailFrom<Cow<'_, str>>) -> Next {
    if let Some(listed) = super::inbound::dnsbl_refusal(session).await {
        return session.respond(listed);
    }
    let refusal = sender_refusal(session, &from).await;
    if let Some(refusal) = refusal {
        return session.respond(refusal);
    }
    session.begin_transaction(Envelope {
        sender: normalize_address(&from.address),
        smtputf8: from.flags & MAIL_SMTPUTF8 != 0,
        declared_size: from.size,
        ..Envelope::default()
    });
    session.respond(reply::SENDER_OK)
}

async fn sender_refusal(session: &Session<'_>, from: &MailFrom<Cow<'_, str>>) -> Option<Reply> {
    if !from.address.is_ascii() && from.flags & MAIL_SMTPUTF8 == 0 {
        return Some(reply::NEEDS_SMTPUTF8);
    }
    if from.size > session.service.settings.max_message_bytes {
        return Some(reply::SIZE_EXCEEDED);
    }
    if let Some(official) = session.official() {
        let index = match session.service.recipients.current().await {
            Ok(index) => index,
            Err(error) => {
                tracing::error!(%error, "recipient index unavailable");
                return Some(reply::TRY_LATER);
            }
        };
        if from.address.is_empty() || !index.may_send_as(official.id, &from.address) {
            return Some(reply::SENDER_NOT_OWNED);
        }
    }
    None
}

/// RCPT TO.
pub async fn rcpt(session: &mut Session<'_>, to: RcptTo<Cow<'_, str>>) -> Next {
    match recipient_refusal(session, &to.address).await {
        Some(refusal) => session.respond(refusal),
        None => session.respond(reply::RECIPIENT_OK),
    }
}

/// Looks `address` up and adds it to the envelope, or says why not.
async fn recipient_refusal(session: &mut Session<'_>, address: &str) -> Option<Reply> {
    let settings = &session.service.settings;
    let envelope = session.envelope()?;
    if envelope.recipients.len() >= settings.max_recipients {
        return Some(reply::TOO_MANY_RECIPIENTS);
    }
    if !address.is_ascii() && !envelope.smtputf8 {
        return Some(reply::NEEDS_SMTPUTF8);
    }
    let declared = envelope.declared_size as i64;
    let index = match session.service.recipients.current().await {
        Ok(index) => index,
        Err(error) => {
            tracing::error!(%error, "recipient index unavailable");
            return Some(reply::TRY_LATER);
        }
    };
    let lookup = index.lookup(address);
    let authenticated = session.official().is_some();
    if !(lookup == RecipientLookup::Remote && authenticated) {
        if let Some(refusal) = reply::for_recipient(&lookup) {
            return Some(refusal);
        }
    }
    if let RecipientLookup::Official {
        official,
        quota_bytes,
    } = lookup
    {
        if quota_bytes > 0 {
            match session.service.mailstore.usage(official).await {
                Ok(used) if used.saturating_add(declared) >= quota_bytes => {
                    return Some(reply::MAILBOX_FULL_RCPT)
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, "cannot read mailbox usage");
                    return Some(reply::TRY_LATER);
                }
            }
        }
    }
    let envelope = session.envelope_mut()?;
    envelope.recipients.push(address.to_string());
    match lookup {
        RecipientLookup::Official {
            official,
            quota_bytes,
        } => {
            envelope.add_local(official);
            envelope.direct.push((official, quota_bytes));
        }
        RecipientLookup::Members(members) => members.iter().for_each(|&o| envelope.add_local(o)),
        RecipientLookup::Remote => {
            let remote = normalize_address(address);
            if !envelope.remote.contains(&remote) {
                envelope.remote.push(remote);
            }
        }
        RecipientLookup::Unknown | RecipientLookup::Disabled => {}
    }
    None
}
