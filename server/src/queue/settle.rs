//! Applying an attempt's outcome to its entries: delivered entries go (with their body
//! references), failed and expired ones go with a delivery status notification to their
//! sender, the rest wait for their next attempt, and a sender whose message has waited long
//! enough hears once that it is delayed.
//!
//! A notification for a local sender lands in their INBOX; one for a sender elsewhere joins
//! the queue from `<>`; nothing is ever sent about a message from `<>` (RFC 3464 §2: no
//! bounce for a bounce). A notification is written before the entries it reports on are
//! changed, so a crash in between repeats it rather than losing it.

use std::collections::HashMap;

use super::dsn::{build_dsn, DsnAction, DsnRecipient, DsnReport};
use super::schedule::AfterFailure;
use super::transfer::{Failure, RecipientOutcome};
use super::worker::DeliveryAgent;
use super::{QueueEntry, QueueEntryId, QueueError};
use crate::clock::UnixTime;
use crate::mailstore::{BodyHash, MessageFlags};
use crate::store::Conn;

/// What became of one attempt's entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Settled {
    pub delivered: usize,
    pub deferred: usize,
    /// Given up, with a notification to the sender.
    pub bounced: usize,
    /// Given up without one: the message came from `<>`.
    pub dropped: usize,
    /// Delay notices sent.
    pub delay_notices: usize,
}

/// Where a notification goes.
enum NoticeRoute {
    /// The INBOX of a local official.
    Inbox(crate::mailstore::MailboxId),
    /// The outbound queue, from `<>`.
    Remote,
    /// Nowhere: logged and dropped.
    Nowhere,
}

impl NoticeRoute {
    /// Where the notification went, for the log.
    fn as_str(&self) -> &'static str {
        match self {
            NoticeRoute::Inbox(_) => "inbox",
            NoticeRoute::Remote => "queue",
            NoticeRoute::Nowhere => "nowhere",
        }
    }
}

/// An entry that waits for its next attempt.
struct Retry<'a> {
    entry: &'a QueueEntry,
    failure: Failure,
    at: UnixTime,
    notify: bool,
}

impl Sorted<'_> {
    /// What the attempt settled. Nothing is sent about a message from `<>`: its given-up
    /// entries are dropped with a warning, and no delay notice is due for it.
    fn count(&mut self, sender: &str, queue_id: &str) -> Settled {
        let mut settled = Settled {
            delivered: self.delivered.len(),
            deferred: self.retries.len(),
            ..Settled::default()
        };
        if sender.is_empty() {
            for (entry, failure) in &self.given_up {
                tracing::warn!(
                    queue_id,
                    entry = entry.id.0,
                    recipient = %entry.recipient,
                    problem = %failure.detail,
                    "dropping an undeliverable message from <> (no notification about a notification)"
                );
            }
            settled.dropped = self.given_up.len();
            for retry in &mut self.retries {
                retry.notify = false;
            }
        } else {
            settled.bounced = self.given_up.len();
            settled.delay_notices = self.retries.iter().filter(|r| r.notify).count();
        }
        settled
    }
}

/// An attempt's entries sorted by what becomes of them.
struct Sorted<'a> {
    delivered: Vec<QueueEntryId>,
    given_up: Vec<(&'a QueueEntry, Failure)>,
    retries: Vec<Retry<'a>>,
}

impl DeliveryAgent {
    /// Applies `outcomes` (one per entry of `entries`, all one message to one domain) and
    /// sends the notification they call for.
    pub(crate) async fn settle(
        &self,
        entries: &[QueueEntry],
        message: &[u8],
        outcomes: Vec<RecipientOutcome>,
    ) -> Result<Settled, QueueError> {
        let now = self.clock.now();
        let mut sorted = self.sort(entries, outcomes, now);
        let sender = entries.first().map_or("", |e| e.sender.as_str());
        let queue_id = entries.first().map_or("", |e| e.queue_id.as_str());
        let settled = sorted.count(sender, queue_id);
        let notice = self.notice(entries, message, &sorted.given_up, &sorted.retries, now);
        let route = match &notice {
            Some(_) => self.notice_route(sender).await?,
            None => NoticeRoute::Nowhere,
        };
        if let (Some(notice), NoticeRoute::Inbox(inbox)) = (&notice, &route) {
            self.mailstore
                .deliver(&[*inbox], notice, MessageFlags::default())
                .await?;
        }
        let remote_notice = notice
            .as_deref()
            .filter(|_| matches!(route, NoticeRoute::Remote));
        let notice_id = self.record(&sorted, remote_notice, sender, now).await?;
        if notice.is_some() {
            let action = if sorted.given_up.is_empty() {
                "delayed"
            } else {
                "failed"
            };
            metrics::counter!("congvu_queue_notifications_total", "action" => action).increment(1);
            tracing::info!(queue_id, action, %sender, to = route.as_str(), notice_queue_id = %notice_id, "delivery status notification");
        }
        Ok(settled)
    }

    /// Delivered, given up (failed, or deferred past the queue's lifetime), or waiting for
    /// the next attempt, with whether a delay notice is due.
    fn sort<'a>(
        &self,
        entries: &'a [QueueEntry],
        outcomes: Vec<RecipientOutcome>,
        now: UnixTime,
    ) -> Sorted<'a> {
        let mut sorted = Sorted {
            delivered: Vec::new(),
            given_up: Vec::new(),
            retries: Vec::new(),
        };
        for (entry, outcome) in entries.iter().zip(outcomes) {
            let failure = match outcome {
                RecipientOutcome::Delivered { .. } => {
                    sorted.delivered.push(entry.id);
                    continue;
                }
                RecipientOutcome::Failed(failure) => {
                    sorted.given_up.push((entry, failure));
                    continue;
                }
                RecipientOutcome::Deferred(failure) => failure,
            };
            let failures = entry.attempts.saturating_add(1);
            match self.retry.after_failure(entry.created_at, failures, now) {
                AfterFailure::Expired => {
                    let failure = Failure {
                        detail: format!(
                            "{} (given up after {failures} attempts over {} seconds)",
                            failure.detail, self.retry.expire_seconds
                        ),
                        ..failure
                    };
                    sorted.given_up.push((entry, failure))
                }
                AfterFailure::RetryAt(at) => sorted.retries.push(Retry {
                    entry,
                    notify: self.retry.delay_notice_due(
                        entry.created_at,
                        entry.delay_notice_at,
                        now,
                    ),
                    failure,
                    at,
                }),
            }
        }
        sorted
    }

    /// In one transaction: the notification queued (when it goes to a remote sender), the
    /// finished entries released and the others deferred. Returns the notification's queue id.
    async fn record(
        &self,
        sorted: &Sorted<'_>,
        remote_notice: Option<&[u8]>,
        sender: &str,
        now: UnixTime,
    ) -> Result<String, QueueError> {
        // The notification is a message of its own, with its own queue id.
        let notice_id = super::new_queue_id();
        let mut tx = self.store.begin().await?;
        if let Some(notice) = remote_notice {
            let body = tx
                .put_body(&BodyHash::of(notice), notice, None, 1, now)
                .await?;
            tx.insert_queue_entry(body, &notice_id, "", sender, now)
                .await?;
        }
        let finished: Vec<_> = sorted
            .delivered
            .iter()
            .copied()
            .chain(sorted.given_up.iter().map(|(e, _)| e.id))
            .collect();
        release_finished(&mut tx, &finished, &self.lease.owner).await?;
        for retry in &sorted.retries {
            tx.defer_leased_queue_entry(
                retry.entry.id,
                &self.lease.owner,
                retry.at,
                &retry.failure.last_error(),
                retry.failure.remote.as_deref(),
                retry.notify.then_some(now),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(notice_id)
    }

    /// The one notification this attempt calls for, if any: the failed recipients and those
    /// whose delay notice is due. Nothing is ever sent about a message from `<>`.
    fn notice(
        &self,
        entries: &[QueueEntry],
        message: &[u8],
        given_up: &[(&QueueEntry, Failure)],
        retries: &[Retry<'_>],
        now: UnixTime,
    ) -> Option<Vec<u8>> {
        let sender = entries.first().map_or("", |e| e.sender.as_str());
        if sender.is_empty() {
            return None;
        }
        let mut report: Vec<DsnRecipient> = given_up
            .iter()
            .map(|(entry, failure)| DsnRecipient {
                recipient: entry.recipient.clone(),
                action: DsnAction::Failed,
                failure: failure.clone(),
                last_attempt: now,
                will_retry_until: None,
            })
            .collect();
        report.extend(retries.iter().filter(|r| r.notify).map(|r| DsnRecipient {
            recipient: r.entry.recipient.clone(),
            action: DsnAction::Delayed,
            failure: r.failure.clone(),
            last_attempt: now,
            will_retry_until: Some(self.retry.expires_at(r.entry.created_at)),
        }));
        if report.is_empty() {
            return None;
        }
        let arrival = entries.iter().map(|e| e.created_at).min().unwrap_or(now);
        let unique = uuid::Uuid::new_v4().to_string();
        Some(build_dsn(&DsnReport {
            reporting_mta: &self.hostname,
            original_sender: sender,
            arrival,
            now,
            unique: &unique,
            recipients: report,
            original: message,
        }))
    }

    /// Where a notification to `sender` goes: a local official's INBOX when the sender's
    /// domain is one of ours, the queue otherwise.
    async fn notice_route(&self, sender: &str) -> Result<NoticeRoute, QueueError> {
        let address = sender.to_lowercase();
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        let mut conn = self.store.read().await?;
        if conn.domain_by_name(domain).await?.is_none() {
            return Ok(NoticeRoute::Remote);
        }
        match conn.official_inbox_at(&address).await? {
            Some(inbox) => Ok(NoticeRoute::Inbox(inbox)),
            None => {
                tracing::warn!(
                    sender = %sender,
                    "no local official receives mail at the sender address; the delivery status notification is dropped"
                );
                Ok(NoticeRoute::Nowhere)
            }
        }
    }
}

/// Deletes the entries this node still holds among `ids` and releases their bodies, in the
/// caller's transaction.
async fn release_finished(
    tx: &mut Conn,
    ids: &[super::QueueEntryId],
    owner: &str,
) -> Result<(), QueueError> {
    if ids.is_empty() {
        return Ok(());
    }
    let bodies = tx.delete_leased_queue_entries(ids, owner).await?;
    let mut holders: HashMap<_, i64> = HashMap::new();
    for body in bodies {
        *holders.entry(body).or_default() += 1;
    }
    for (body, count) in holders {
        tx.release_body(body, count).await?;
    }
    Ok(())
}
