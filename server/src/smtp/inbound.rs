//! The checks on a whole message at the end of DATA or the last BDAT, before it is stored:
//! ClamAV (the MX and submission: a compromised official's account must not spread
//! malware), sender authentication (the MX only: a submission's sender signed in) and
//! rspamd; what the session knows handed to them, and their answers turned into a reply or
//! into where and how the message is stored.
//!
//! Blocklists are asked earlier: as an MX client connects (see `ask_blocklists`), the answer
//! awaited at its first MAIL FROM.

use std::sync::Arc;

use super::reply::{self, Reply};
use super::session::Session;
use super::SmtpService;
use crate::filter::{ClamVerdict, EngineError, FailPolicy, RspamdAction, ScanFacts};
use crate::inbound::{self, Delivery, Listing, SenderFacts, Verdict};
use crate::mailstore::MailboxRole;
use crate::net::ListenerKind;
use crate::telemetry::MessageRefusal;

/// How an accepted message is stored.
pub(super) struct Placement {
    /// The id it is accepted under (`250 … queued as`).
    pub queue_id: String,
    /// Header fields for the top of every copy (`Authentication-Results:`, rspamd's).
    pub headers: String,
    /// Local copies go to Junk.
    pub junk: bool,
    /// The message, with forged verdicts removed.
    pub message: Vec<u8>,
}

impl std::fmt::Debug for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placement")
            .field("queue_id", &self.queue_id)
            .field("headers", &self.headers)
            .field("junk", &self.junk)
            .finish_non_exhaustive()
    }
}

/// A refusal: its reply and the reason it is counted under.
type Refused = (Reply, MessageRefusal);

/// Runs every check on `message`.
pub(super) async fn check(session: &Session<'_>, message: Vec<u8>) -> Result<Placement, Refused> {
    let mut placement = Placement {
        queue_id: crate::queue::new_queue_id(),
        headers: String::new(),
        junk: false,
        message,
    };
    scan_for_malware(session, &placement).await?;
    let from_outside = session.listener() == ListenerKind::Smtp && session.official().is_none();
    if from_outside {
        authenticate_sender(session, &mut placement).await?;
    }
    score_spam(session, &mut placement).await?;
    Ok(placement)
}

async fn scan_for_malware(session: &Session<'_>, placement: &Placement) -> Result<(), Refused> {
    let Some((clamav, fail)) = &session.service.engines.clamav else {
        return Ok(());
    };
    match clamav.scan(&placement.message).await {
        Ok(ClamVerdict::Clean) => Ok(()),
        Ok(ClamVerdict::Infected(signature)) => {
            tracing::info!(queue_id = %placement.queue_id, %signature, "message refused: malware");
            Err((reply::malware(&signature), MessageRefusal::Malware))
        }
        Err(error) => engine_failed(&error, *fail, &placement.queue_id),
    }
}

async fn authenticate_sender(
    session: &Session<'_>,
    placement: &mut Placement,
) -> Result<(), Refused> {
    let service = session.service;
    // A verdict claiming this host is a forgery whether or not this host checks anything.
    if let std::borrow::Cow::Owned(cleaned) =
        inbound::remove_forged_results(&placement.message, &service.settings.hostname)
    {
        placement.message = cleaned;
    }
    let Some(sender_check) = service.sender_check.as_ref().filter(|c| c.is_on()) else {
        return Ok(());
    };
    let Some(envelope) = session.envelope() else {
        return Ok(());
    };
    let facts = SenderFacts {
        ip: session.peer.ip(),
        helo: session.greeting().map_or("", |g| g.name.as_str()),
        mail_from: &envelope.sender,
    };
    let index = service.recipients.current().await.ok();
    let served = |domain: &str| index.as_ref().is_some_and(|i| i.is_local_domain(domain));
    match sender_check.check(facts, &placement.message, &served).await {
        Verdict::Deliver(Delivery { folder, headers }) => {
            let junk = folder == MailboxRole::Junk;
            crate::telemetry::inbound_verdict(if junk { "junk" } else { "inbox" });
            placement.headers.push_str(&headers);
            placement.junk |= junk;
            Ok(())
        }
        Verdict::Refuse(refusal) => {
            crate::telemetry::inbound_verdict("refused");
            tracing::info!(queue_id = %placement.queue_id, sender = %envelope.sender, ?refusal, "message refused: sender not authenticated");
            Err((
                reply::inbound_refusal(&refusal),
                MessageRefusal::Authentication,
            ))
        }
        Verdict::Defer(_) => {
            crate::telemetry::inbound_verdict("deferred");
            Err((reply::AUTHENTICATION_DEFERRED, MessageRefusal::Temporary))
        }
    }
}

async fn score_spam(session: &Session<'_>, placement: &mut Placement) -> Result<(), Refused> {
    let Some((rspamd, fail)) = &session.service.engines.rspamd else {
        return Ok(());
    };
    let Some(envelope) = session.envelope() else {
        return Ok(());
    };
    let facts = ScanFacts {
        client_ip: Some(session.peer.ip()),
        client_hostname: None,
        helo: session.greeting().map(|g| g.name.clone()),
        mail_from: envelope.sender.clone(),
        recipients: envelope.recipients.clone(),
        authenticated_user: session.official().map(|o| o.login.clone()),
        queue_id: Some(placement.queue_id.clone()),
        receiving_host: session.service.settings.hostname.clone(),
    };
    let verdict = match rspamd.check(&placement.message, &facts).await {
        Ok(verdict) => verdict,
        Err(error) => return engine_failed(&error, *fail, &placement.queue_id),
    };
    tracing::debug!(
        queue_id = %placement.queue_id, action = verdict.action.as_str(), score = verdict.score,
        symbols = ?verdict.symbols, "rspamd verdict"
    );
    match verdict.action {
        RspamdAction::Reject => {
            tracing::info!(queue_id = %placement.queue_id, score = verdict.score, "message refused: spam");
            return Err((reply::SPAM, MessageRefusal::Spam));
        }
        RspamdAction::SoftReject | RspamdAction::Greylist => {
            return Err((reply::SPAM_LATER, MessageRefusal::Temporary));
        }
        RspamdAction::RewriteSubject(_) | RspamdAction::AddHeader => placement.junk = true,
        RspamdAction::NoAction => {}
    }
    for (name, value) in &verdict.headers {
        placement.headers.push_str(&format!("{name}: {value}\r\n"));
    }
    Ok(())
}

/// What a message gets when an engine could not be asked: its fail policy.
fn engine_failed(error: &EngineError, fail: FailPolicy, queue_id: &str) -> Result<(), Refused> {
    tracing::warn!(%queue_id, %error, ?fail, "content filter unavailable");
    match fail {
        FailPolicy::Accept => Ok(()),
        FailPolicy::Tempfail => Err((reply::FILTER_UNAVAILABLE, MessageRefusal::Temporary)),
    }
}

/// The blocklists' answer about an MX client: asked as it connects, so the lookups overlap
/// the greeting and EHLO, and awaited when it first names a sender.
pub(super) enum Blocklisting {
    Asking(tokio::task::JoinHandle<Option<Listing>>),
    Known(Option<Arc<Listing>>),
}

/// Starts asking the blocklists about a client of `listener` at `peer`: MX clients only,
/// when blocklists are configured.
pub(super) fn ask_blocklists(
    service: &SmtpService,
    listener: ListenerKind,
    peer: std::net::SocketAddr,
) -> Option<Blocklisting> {
    if listener != ListenerKind::Smtp {
        return None;
    }
    let blocklists = service.blocklists.clone()?;
    // An IPv4 client of a dual-stack listener (`[::]:25`) arrives as ::ffff:a.b.c.d; the
    // lists know it by its IPv4 name (RFC 5782 §2.1), not by the nibbles of that address.
    let ip = peer.ip().to_canonical();
    Some(Blocklisting::Asking(tokio::spawn(async move {
        blocklists.listing(ip).await
    })))
}

/// The reply refusing the session's client if a blocklist lists it. An official who
/// authenticated on the MX is never refused by a list.
pub(super) async fn dnsbl_refusal(session: &mut Session<'_>) -> Option<Reply> {
    if session.official().is_some() {
        return None;
    }
    let listing = match session.blocklisting.take()? {
        Blocklisting::Known(known) => known,
        // A lookup task that panicked lists nobody: a blocklist is a filter, not a reason
        // to lose mail.
        Blocklisting::Asking(task) => task.await.ok().flatten().map(Arc::new),
    };
    session.blocklisting = Some(Blocklisting::Known(listing.clone()));
    let listing = listing?;
    let ip = session.peer.ip().to_canonical();
    tracing::info!(zone = %listing.zone, answer = %listing.answer, "client refused: listed by a blocklist");
    Some(reply::blocklisted(ip, &listing.zone))
}
