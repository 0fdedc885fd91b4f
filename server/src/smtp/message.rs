//! DATA and BDAT: reading the message (bounded, within a deadline), the checks made on the
//! whole message, the trace headers, and handing it to the intake. `250` is sent only once
//! the intake says the message is committed and synced.

use std::fmt::Write as _;

use tokio::time::Instant;

use super::envelope::Envelope;
use super::filtering::{self, Filtered, ToFilter};
use super::framing::DataReader;
use super::inbound::Placement;
use super::reply::{self, Reply};
use super::session::{End, Next, Session};
use super::SmtpService;
use crate::directory::{OfficialId, RecipientIndex};
use crate::mailstore::message::{header_facts, Signing};
use crate::mailstore::{Incoming, Submission};
use crate::telemetry::{DataStage, MessageRefusal};

/// RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with CRLF.
pub(crate) const MAX_TEXT_LINE: usize = 1000;
/// RFC 5321 §6.3: a message that has passed this many hosts is looping.
const MAX_HOPS: usize = 50;

/// DATA: 354, the message up to `CRLF.CRLF`, then the verdict.
pub async fn data(session: &mut Session<'_>) -> Result<Next, End> {
    session.respond(reply::START_DATA);
    let settings = &session.service.settings;
    let deadline = Instant::now() + settings.data_timeout;
    let mut reader = DataReader::new(settings.max_message_bytes, MAX_TEXT_LINE);
    loop {
        match reader.feed(session.input()) {
            Some(used) => {
                let _ = session.input().split_to(used);
                break;
            }
            None => {
                session.input().clear();
                session.read_more(deadline, false).await?;
            }
        }
    }
    match reader.finish() {
        Ok(message) => Ok(finish(session, message).await),
        Err(fault) => {
            session.end_transaction();
            let verdict = reply::for_data_fault(fault);
            count_refusal(session, &verdict);
            Ok(session.respond(verdict))
        }
    }
}

/// BDAT (RFC 3030): a chunk of exactly `size` bytes; the last one ends the message.
pub async fn bdat(session: &mut Session<'_>, size: usize, last: bool) -> Result<Next, End> {
    let deadline = Instant::now() + session.service.settings.data_timeout;
    let request = smtp_proto::Request::<String>::Bdat {
        chunk_size: size,
        is_last: last,
    };
    if let Some(refusal) = session.gate(&request) {
        session.skip(size, deadline).await?;
        if last {
            refused_before_data(session, &refusal);
        }
        return Ok(session.respond(refusal));
    }
    let max = session.service.settings.max_message_bytes;
    // The gate lets BDAT through only within a transaction.
    let Some(envelope) = session.envelope_mut() else {
        session.skip(size, deadline).await?;
        return Ok(session.respond(reply::NEED_MAIL));
    };
    let held = envelope.chunks.get_or_insert_with(Vec::new).len();
    let fits = !envelope.chunks_too_large && held + size <= max;
    if fits {
        let mut chunk = Vec::with_capacity(size.min(1 << 20));
        while chunk.len() < size {
            if session.input().is_empty() {
                session.read_more(deadline, false).await?;
            }
            let input = session.input();
            let take = (size - chunk.len()).min(input.len());
            chunk.extend_from_slice(&input.split_to(take));
        }
        if let Some(envelope) = session.envelope_mut() {
            envelope
                .chunks
                .get_or_insert_with(Vec::new)
                .extend_from_slice(&chunk);
        }
    } else {
        envelope.chunks_too_large = true;
        envelope.chunks = Some(Vec::new());
        session.skip(size, deadline).await?;
    }
    if !last {
        return Ok(session.respond(reply::chunk_received(size)));
    }
    let Some(envelope) = session.envelope_mut() else {
        return Ok(session.respond(reply::NEED_MAIL));
    };
    if envelope.chunks_too_large {
        session.end_transaction();
        count_refusal(session, &reply::SIZE_EXCEEDED);
        return Ok(session.respond(reply::SIZE_EXCEEDED));
    }
    let message = envelope.chunks.take().unwrap_or_default();
    Ok(finish(session, message).await)
}

/// How a signed submission is signed: checked against the sender's valid directory
/// certificates, off the async threads (the digest covers the whole message).
async fn signature_class(
    session: &Session<'_>,
    official: OfficialId,
    message: &[u8],
) -> Result<Signing, Reply> {
    let directory = session.service.authenticator.directory();
    let certificates = match directory.signing_certificates(official).await {
        Ok(certificates) => certificates,
        Err(error) => {
            tracing::error!(%error, "cannot read the sender's certificates");
            return Err(reply::TRY_LATER);
        }
    };
    if certificates.is_empty() {
        return Ok(Signing::Unverified);
    }
    let message = message.to_vec();
    tokio::task::spawn_blocking(move || {
        let certificates: Vec<&[u8]> = certificates.iter().map(Vec::as_slice).collect();
        crate::smime::classify(&message, &certificates)
    })
    .await
    .map_err(|error| {
        tracing::error!(%error, "signature check failed");
        reply::TRY_LATER
    })
}

fn signing_label(signing: Signing) -> &'static str {
    match signing {
        Signing::Verified => "verified",
        Signing::Unverified => "unverified",
        Signing::Unsigned => "unsigned",
    }
}

/// Checks the whole message, adds the trace headers and stores it; ends the transaction.
async fn finish(session: &mut Session<'_>, message: Vec<u8>) -> Next {
    let size = message.len();
    let checking = Instant::now();
    let checked = super::inbound::check(session, message).await;
    crate::telemetry::data_stage(DataStage::Check, checking.elapsed());
    let placement = match checked {
        Ok(placement) => placement,
        Err((refusal, why)) => {
            session.end_transaction();
            crate::telemetry::smtp_message_refused(session.listener(), why);
            return session.respond(refusal);
        }
    };
    let verdict = store(session, placement).await;
    session.end_transaction();
    if verdict.code / 100 == 2 {
        crate::telemetry::smtp_message_accepted(session.listener(), size);
    } else {
        count_refusal(session, &verdict);
    }
    session.respond(verdict)
}

/// Counts a message refused with `verdict` at the end of DATA or BDAT.
fn count_refusal(session: &Session<'_>, verdict: &Reply) {
    crate::telemetry::smtp_message_refused(session.listener(), refusal_of(verdict));
}

/// Counts DATA (or the last BDAT chunk) refused before the message was read; only a
/// transaction without recipients counts as a message refused, the other refusals are
/// commands out of order.
pub(super) fn refused_before_data(session: &Session<'_>, refusal: &Reply) {
    if *refusal == reply::NEED_RCPT {
        count_refusal(session, refusal);
    }
}

/// Why a message was refused, from the reply that refused it. Every 4xx is this server's
/// own trouble; a 5xx names the sender's problem.
fn refusal_of(verdict: &Reply) -> MessageRefusal {
    if verdict.code < 500 {
        MessageRefusal::Temporary
    } else if *verdict == reply::SIZE_EXCEEDED {
        MessageRefusal::Size
    } else if *verdict == reply::MAILBOX_FULL {
        MessageRefusal::Quota
    } else if *verdict == reply::TOO_MANY_HOPS {
        MessageRefusal::Loop
    } else if *verdict == reply::NEED_RCPT {
        MessageRefusal::Recipient
    } else if *verdict == reply::BARE_NEWLINE_IN_DATA || *verdict == reply::DATA_LINE_TOO_LONG {
        MessageRefusal::Malformed
    } else {
        MessageRefusal::Policy
    }
}

async fn store(session: &mut Session<'_>, placement: Placement) -> Reply {
    let preparing = Instant::now();
    let Placement {
        queue_id: id,
        headers,
        junk,
        message,
    } = placement;
    let Some(envelope) = session.envelope() else {
        return reply::NEED_MAIL;
    };
    if hops(&message) > MAX_HOPS {
        return reply::TOO_MANY_HOPS;
    }
    let service = session.service;
    let submission = match submission(session, &message).await {
        Ok(submission) => submission,
        Err(refused) => return refused,
    };
    if let Err(refused) = fits_quota(session, envelope, message.len()).await {
        return refused;
    }
    let mut trace = headers;
    trace.push_str(&received(session, &id, &envelope.recipients));
    if submission.is_some() {
        // Signed as submitted, below the trace header, so every copy carries the signature.
        match dkim_signature(service, &message).await {
            Ok(Some(signature)) => trace.push_str(&String::from_utf8_lossy(&signature)),
            Ok(None) => {}
            Err(refused) => return refused,
        }
    }
    let local_message = local_copy(envelope, &trace, &message);
    let Ok(index) = service.recipients.current().await else {
        return reply::TRY_LATER;
    };
    let filtered = filter(service, &index, envelope, &local_message, junk).await;
    // With recipients elsewhere the message must be accepted: the rejecting ones keep it.
    if let Some(reason) = filtered
        .rejection
        .as_ref()
        .filter(|_| envelope.remote.is_empty())
    {
        return reply::rejected_by_filter(reason);
    }
    let remote = remote_recipients(&envelope.remote, &filtered.remote);
    let remote_message = remote_copy(&remote, &trace, &message);
    let incoming = Incoming {
        queue_id: id.clone(),
        sender: envelope.sender.clone(),
        local: filtered.plain,
        filed: filtered.filed,
        local_message,
        junk,
        remote,
        remote_message,
        submission,
    };
    crate::telemetry::data_stage(DataStage::Prepare, preparing.elapsed());
    let verdict = hand_over(service, incoming, message.len()).await;
    filtering::send_replies(service, &index, filtered.replies).await;
    verdict
}

/// What the local recipients' Sieve filters make of the message (as its local copies hold
/// it); with filters off, the usual delivery for every one.
async fn filter(
    service: &SmtpService,
    index: &RecipientIndex,
    envelope: &Envelope,
    local_message: &[u8],
    junk: bool,
) -> Filtered {
    let Some(scripts) = &service.scripts else {
        return Filtered::unfiltered(envelope.local.clone());
    };
    let mail = ToFilter {
        sender: &envelope.sender,
        local: &envelope.local,
        message: local_message,
        junk,
    };
    filtering::filter(service, scripts, index, &mail).await
}

/// The DKIM signature header for `message`'s From domain, when that domain has a key; when
/// the keys cannot be read, the reply that defers the message.
pub(super) async fn dkim_signature(
    service: &SmtpService,
    message: &[u8],
) -> Result<Option<Vec<u8>>, Reply> {
    match service.dkim.current().await {
        Ok(signers) => Ok(signers.sign(message)),
        Err(error) => {
            tracing::error!(%error, "DKIM keys unavailable");
            Err(reply::TRY_LATER)
        }
    }
}

/// Hands the message to the intake; the reply once it is stored, or why not.
async fn hand_over(service: &SmtpService, incoming: Incoming, size: usize) -> Reply {
    let (id, sender) = (incoming.queue_id.clone(), incoming.sender.clone());
    match service.intake.accept(incoming).await {
        Ok(stored) => {
            tracing::info!(
                queue_id = %id, %sender, size,
                delivered = stored.delivered, queued = stored.queued, "message accepted"
            );
            reply::accepted(&id)
        }
        Err(error) => {
            tracing::error!(%error, queue_id = %id, "message could not be stored");
            reply::TRY_LATER
        }
    }
}

/// For mail an official submits: its From must be the official's own address, and an S/MIME
/// signature is classed against their certificates. `None` for mail from outside.
async fn submission(session: &Session<'_>, message: &[u8]) -> Result<Option<Submission>, Reply> {
    let Some(official) = session.official() else {
        return Ok(None);
    };
    let index = session
        .service
        .recipients
        .current()
        .await
        .map_err(|error| {
            tracing::error!(%error, "recipient index unavailable");
            reply::TRY_LATER
        })?;
    let facts = header_facts(message);
    let owned =
        !facts.from.is_empty() && facts.from.iter().all(|a| index.may_send_as(official.id, a));
    if !owned {
        return Err(reply::FROM_NOT_OWNED);
    }
    let signing = if facts.smime_signed {
        signature_class(session, official.id, message).await?
    } else {
        Signing::Unsigned
    };
    metrics::counter!("congvu_smtp_submissions_total", "signing" => signing_label(signing))
        .increment(1);
    Ok(index.agency_of(official.id).map(|agency| Submission {
        agency,
        official: official.id,
        signing,
    }))
}

/// A message to one official that would not fit is refused whole (RFC 5321 §4.2.5: 552).
async fn fits_quota(session: &Session<'_>, envelope: &Envelope, size: usize) -> Result<(), Reply> {
    let ([(official, quota)], []) = (envelope.direct.as_slice(), envelope.remote.as_slice()) else {
        return Ok(());
    };
    if envelope.local.len() != 1 || *quota <= 0 {
        return Ok(());
    }
    match session.service.mailstore.usage(*official).await {
        Ok(used) if used + size as i64 > *quota => Err(reply::MAILBOX_FULL),
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::error!(%error, "cannot read mailbox usage");
            Err(reply::TRY_LATER)
        }
    }
}

/// The bytes of the local copies: `Return-Path:` and `trace` on top of the message; empty
/// when the envelope has no local recipient.
fn local_copy(envelope: &Envelope, trace: &str, message: &[u8]) -> Vec<u8> {
    let mut local = Vec::new();
    if !envelope.local.is_empty() {
        let return_path = format!("Return-Path: <{}>\r\n", envelope.sender);
        local.reserve(return_path.len() + trace.len() + message.len());
        local.extend_from_slice(return_path.as_bytes());
        local.extend_from_slice(trace.as_bytes());
        local.extend_from_slice(message);
    }
    local
}

/// The bytes the queue sends: `trace` on top of the message; empty without remote recipients.
fn remote_copy(remote: &[String], trace: &str, message: &[u8]) -> Vec<u8> {
    match remote.is_empty() {
        true => Vec::new(),
        false => [trace.as_bytes(), message].concat(),
    }
}

/// `Received:` (RFC 5321 §4.4), with the protocol named as in RFC 3848.
fn received(session: &Session<'_>, id: &str, recipients: &[String]) -> String {
    let helo = session.greeting().map_or("unknown", |g| g.name.as_str());
    let extended = session.greeting().is_some_and(|g| g.extended);
    let protocol = match (extended, session.is_tls(), session.official().is_some()) {
        (false, _, _) => "SMTP",
        (true, false, false) => "ESMTP",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "ESMTPA",
        (true, true, true) => "ESMTPSA",
    };
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let mut header = format!(
        "Received: from {} ([{}])\r\n\tby {} (congvu) with {protocol} id {id}",
        sanitize(helo),
        session.peer.ip(),
        session.service.settings.hostname
    );
    // Naming the recipient is useful for one, and would disclose a list's members for many.
    if let [one] = recipients {
        let _ = write!(header, "\r\n\tfor <{}>", sanitize(one));
    }
    let _ = write!(header, "; {now}\r\n");
    header
}

/// A value from the client made safe for a header: printable, no line breaks, bounded.
fn sanitize(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(255)
        .collect()
}

/// How many `Received:` fields the header block holds.
fn hops(message: &[u8]) -> usize {
    let header_end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    message[..header_end]
        .split(|&b| b == b'\n')
        .filter(|line| line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:"))
        .count()
}

/// The envelope's remote recipients, then the addresses filters redirected to, each once
/// whatever its case: a redirect to an address the sender also wrote goes out once.
fn remote_recipients(envelope: &[String], redirected: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    envelope
        .iter()
        .chain(redirected)
        .filter(|address| seen.insert(address.to_ascii_lowercase()))
        .cloned()
        .collect()
}
