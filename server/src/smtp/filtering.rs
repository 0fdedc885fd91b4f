//! Officials' Sieve filters at local delivery, between the checks on a message and the
//! intake. Each local recipient with an active script, or under an administrators' script
//! (the province's, their agency's), has them run on the message in that order; what they
//! decide becomes copies filed into folders with flags, redirects, and out-of-office replies,
//! which go through the intake like any message. A recipient without a script, or whose
//! script or folders cannot be read, gets the usual delivery: nothing is lost to a filter.
//!
//! Redirected mail reaches a local official by the usual delivery, without their own filters
//! running on it, so two filters redirecting to each other cannot loop. A `reject` is honoured
//! only when it can still be said over SMTP, that is when every recipient is local and every
//! one's filter rejected the message; otherwise the message is kept in INBOX (no backscatter). Mail judged spam
//! keeps going to Junk when a script merely keeps it, and is never answered.

use std::sync::Arc;

use super::reply::Reply;
use super::SmtpService;
use crate::directory::{OfficialId, RecipientIndex, RecipientLookup};
use crate::mailstore::{FiledCopy, Incoming, Mailbox, MessageFlags};
use crate::sieve::scripts::Scripts;
use crate::sieve::{Answers, Copy, Delivery, Outcome};

/// What the recipients' filters made of one message.
#[derive(Debug, Default)]
pub(super) struct Filtered {
    /// Officials left to the usual delivery: those without a filter, and local redirects.
    pub plain: Vec<OfficialId>,
    pub filed: Vec<FiledCopy>,
    /// Addresses in other domains the message is redirected to.
    pub remote: Vec<String>,
    /// Out-of-office replies to send, claimed already.
    pub replies: Vec<(OfficialId, crate::sieve::Reply)>,
    /// Why the message is refused, when every recipient's filter rejected it.
    pub rejection: Option<String>,
}

impl Filtered {
    /// Every official to the usual delivery.
    pub fn unfiltered(local: Vec<OfficialId>) -> Filtered {
        Filtered {
            plain: local,
            ..Filtered::default()
        }
    }
}

/// What a run may ask about the official's world.
struct World<'a> {
    index: &'a RecipientIndex,
    /// The official's folders, for the run and for placing its copies.
    mailboxes: Arc<[Mailbox]>,
}

impl Answers for World<'_> {
    fn is_served(&self, domain: &str) -> bool {
        self.index.is_local_domain(domain)
    }

    fn folder_exists(&self, name: &str) -> bool {
        self.mailboxes.iter().any(|m| m.name == name)
    }
}

/// One message as its local copies hold it, for the filters.
pub(super) struct ToFilter<'a> {
    pub sender: &'a str,
    pub local: &'a [OfficialId],
    pub message: &'a [u8],
    /// Judged spam: kept copies go to Junk and no reply goes back.
    pub junk: bool,
}

/// Runs the filters of the message's local officials.
pub(super) async fn filter(
    service: &SmtpService,
    scripts: &Scripts,
    index: &RecipientIndex,
    mail: &ToFilter<'_>,
) -> Filtered {
    let ToFilter {
        sender,
        local,
        message,
        junk,
    } = *mail;
    let mut filtered = Filtered::default();
    let mut rejections = Vec::new();
    let cards: Vec<_> = local.iter().map(|&o| (o, index.card(o))).collect();
    let agencies: Vec<_> = cards
        .iter()
        .filter_map(|(o, card)| Some((*o, card.as_ref()?.agency)))
        .collect();
    let chains = match scripts.chains_of(&agencies).await {
        Ok(chains) => chains,
        Err(error) => {
            tracing::error!(%error, "cannot read Sieve scripts; delivering without filters");
            return Filtered::unfiltered(local.to_vec());
        }
    };
    for (official, card) in cards {
        let (Some(chain), Some(card)) = (chains.get(&official), card) else {
            filtered.plain.push(official);
            continue;
        };
        let world = World {
            index,
            mailboxes: service
                .mailstore
                .folders(official)
                .await
                .unwrap_or_else(|_| Arc::new([])),
        };
        let delivery = Delivery {
            message,
            sender,
            recipient: card.addresses.first().map_or("", String::as_str),
            addresses: &card.addresses,
            name: &card.display_name,
        };
        let mut outcome = scripts.filters().run_chain(chain, &delivery, &world);
        if junk {
            outcome.replies.clear();
        }
        if let Some(why) = &outcome.failure {
            tracing::warn!(official = official.0, %why, "Sieve script failed; kept in INBOX");
        }
        if let Some(reason) = &outcome.rejection {
            rejections.push(reason.clone());
        }
        let world = (official, junk, world.mailboxes);
        settle(service, scripts, index, world, outcome, &mut filtered).await;
    }
    if !local.is_empty() && rejections.len() == local.len() && filtered.remote.is_empty() {
        filtered.rejection = rejections.pop();
    }
    filtered
}

/// Turns one official's outcome into copies, redirects and replies.
async fn settle(
    service: &SmtpService,
    scripts: &Scripts,
    index: &RecipientIndex,
    (official, junk, mailboxes): (OfficialId, bool, Arc<[Mailbox]>),
    outcome: Outcome,
    filtered: &mut Filtered,
) {
    // A reject that SMTP may not carry out keeps the message.
    let copies = match (&outcome.rejection, outcome.copies.is_empty()) {
        (Some(_), true) => vec![Copy {
            folder: None,
            flags: Vec::new(),
            create: false,
        }],
        _ => outcome.copies,
    };
    for copy in copies {
        // A kept copy of spam goes where the usual delivery puts spam: Junk.
        if junk && copy.folder.is_none() {
            filtered.plain.push(official);
            continue;
        }
        match filed_copy(service, official, &mailboxes, copy).await {
            Some(filed) => filtered.filed.push(filed),
            None => filtered.plain.push(official),
        }
    }
    for address in outcome.refused_redirects {
        tracing::info!(official = official.0, %address, "redirect refused by [sieve] redirect");
    }
    for address in outcome.redirects {
        match index.lookup(&address) {
            RecipientLookup::Official { official, .. } => filtered.plain.push(official),
            RecipientLookup::Members(members) => filtered.plain.extend(members.iter()),
            RecipientLookup::Remote => filtered.remote.push(address),
            RecipientLookup::Unknown | RecipientLookup::Disabled => {
                tracing::info!(official = official.0, %address, "redirect to nobody here");
                // The redirect cancelled the keep; the message stays with the official.
                filtered.plain.push(official);
            }
        }
    }
    for reply in outcome.replies {
        match scripts
            .claim_reply(official, &reply.key, reply.period_seconds)
            .await
        {
            Ok(true) => filtered.replies.push((official, reply)),
            Ok(false) => {}
            Err(error) => tracing::error!(%error, "cannot record an out-of-office reply"),
        }
    }
    filtered.plain.sort_by_key(|o| o.0);
    filtered.plain.dedup();
}

/// Where one copy goes; `None` for the usual delivery (INBOX without flags), when the folder
/// cannot be found or made.
async fn filed_copy(
    service: &SmtpService,
    official: OfficialId,
    mailboxes: &[Mailbox],
    copy: Copy,
) -> Option<FiledCopy> {
    let folder = copy.folder.as_deref().unwrap_or("INBOX");
    let mailstore = &service.mailstore;
    let found = match mailstore
        .filter_folder(official, mailboxes, folder, copy.create)
        .await
    {
        Ok(Some(mailbox)) => Some(mailbox),
        Ok(None) => mailstore
            .filter_folder(official, mailboxes, "INBOX", false)
            .await
            .ok()
            .flatten(),
        Err(error) => {
            tracing::error!(%error, "cannot find the folder a filter files into");
            None
        }
    };
    let (flags, keywords) = flags_of(&copy.flags);
    Some(FiledCopy {
        official,
        mailbox: found?,
        flags,
        keywords,
    })
}

/// IMAP system flags and keywords from a filter's flag names (`imap4flags`);
/// names that are not IMAP atoms are left out.
fn flags_of(names: &[String]) -> (MessageFlags, Vec<String>) {
    let mut flags = MessageFlags::default();
    let mut keywords = Vec::new();
    for name in names {
        match name.to_ascii_lowercase().as_str() {
            "\\seen" => flags = flags.with(MessageFlags::SEEN),
            "\\answered" => flags = flags.with(MessageFlags::ANSWERED),
            "\\flagged" => flags = flags.with(MessageFlags::FLAGGED),
            "\\deleted" => flags = flags.with(MessageFlags::DELETED),
            "\\draft" => flags = flags.with(MessageFlags::DRAFT),
            _ if is_atom(name)
                && !keywords
                    .iter()
                    .any(|k: &String| k.eq_ignore_ascii_case(name)) =>
            {
                keywords.push(name.clone());
            }
            _ => {}
        }
    }
    (flags, keywords)
}

/// An IMAP keyword: an atom (RFC 3501 §9), not a system flag.
fn is_atom(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
}

/// Sends the out-of-office replies, each from its official with the null sender, DKIM-signed,
/// to a local official or through the queue; a reply that cannot be sent is logged.
pub(super) async fn send_replies(
    service: &SmtpService,
    index: &RecipientIndex,
    replies: Vec<(OfficialId, crate::sieve::Reply)>,
) {
    for (official, reply) in replies {
        let mut incoming = Incoming {
            queue_id: crate::queue::new_queue_id(),
            ..Incoming::default()
        };
        match index.lookup(&reply.to) {
            RecipientLookup::Official { official, .. } => incoming.local.push(official),
            RecipientLookup::Remote => incoming.remote.push(reply.to.clone()),
            _ => continue,
        }
        let message = match signed(service, reply.message).await {
            Ok(message) => message,
            Err(_) => continue,
        };
        if incoming.local.is_empty() {
            incoming.remote_message = message;
        } else {
            incoming.local_message = [b"Return-Path: <>\r\n".as_slice(), &message].concat();
        }
        if let Err(error) = service.intake.accept(incoming).await {
            tracing::error!(official = official.0, %error, "out-of-office reply not sent");
        }
    }
}

/// `message` with a DKIM signature of its From domain, when that domain has a key.
async fn signed(service: &SmtpService, message: Vec<u8>) -> Result<Vec<u8>, Reply> {
    Ok(
        match super::message::dkim_signature(service, &message).await? {
            Some(signature) => [signature.as_slice(), &message].concat(),
            None => message,
        },
    )
}
