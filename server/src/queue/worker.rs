//! The delivery workers of one node. A dispatcher claims due entries under this node's
//! lease, groups them into one SMTP transaction per message and destination domain, and
//! hands each group to a worker; at most `[queue] workers` transactions run at once. A
//! second task renews the node's leases while it works, so that only a node that stopped
//! (crashed, lost the database) loses its entries to another.
//!
//! The dispatcher looks for due entries every `[queue] poll_seconds`, and at once when woken
//! through [`QueueHandle::wake`] (SMTP intake does this after queueing mail) or when a
//! worker finishes. On shutdown nothing new starts, running transfers are abandoned and
//! their entries released, so the next node or the next start takes them up at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::transport::smtp::client::Certificate;
use tokio::sync::{watch, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::route::{Route, Router};
use super::schedule::RetryPolicy;
use super::settle::Settled;
use super::transfer::{transfer, Envelope, RecipientOutcome, TlsPolicy, TransferSettings};
use super::{Lease, Queue, QueueEntry, QueueEntryId};
use crate::clock::Clock;
use crate::config::{Config, QueueConfig};
use crate::mailstore::Mailstore;
use crate::store::Store;

/// How often the body store gauges are refreshed. Summing the bodies' sizes reads a page
/// of `message_bodies` per body on SQLite (the size sits beside the inline data), far too
/// much for every poll; the store's size moves slowly, so every few minutes tells enough.
const BODY_GAUGES_EVERY: Duration = Duration::from_secs(300);

/// Entries claimed per free worker in one pass: one domain's share of a circular fits, and
/// a pass never takes much more than the workers can start on soon.
const ENTRIES_PER_WORKER: usize = 200;

/// The workers' progress, for [`QueueHandle::wait_idle`].
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// Passes begun and ended by the dispatcher.
    passes_started: u64,
    passes_finished: u64,
    /// Entries claimed by all passes so far.
    claimed: u64,
    /// Passes that did not look at the whole queue: no worker was free, or the database
    /// could not be asked.
    inconclusive: u64,
    /// Groups handed to workers and not yet settled.
    in_flight: u64,
}

/// A handle on this node's delivery workers.
#[derive(Debug, Clone)]
pub struct QueueHandle {
    wake: Arc<Notify>,
    progress: watch::Receiver<Progress>,
}

impl QueueHandle {
    /// Looks for due entries now rather than at the next poll; call after queueing mail.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Wakes the workers and returns once they are idle: a pass begun after this call looked
    /// at the queue and found nothing to claim, and no delivery is running. Returns at once if
    /// the workers stopped.
    ///
    /// For tests and tools that need the queue to have done what it can at this moment.
    pub async fn wait_idle(&self) {
        let mut progress = self.progress.clone();
        loop {
            let before = *progress.borrow_and_update();
            self.wake();
            let done = progress
                .wait_for(|p| p.passes_finished > before.passes_started && p.in_flight == 0)
                .await;
            let Ok(after) = done.map(|p| *p) else {
                return;
            };
            if after.claimed == before.claimed && after.inconclusive == before.inconclusive {
                return;
            }
        }
    }
}

/// Everything a worker needs to deliver one group and record what happened.
pub(crate) struct DeliveryAgent {
    pub(super) queue: Queue,
    pub(super) store: Store,
    pub(super) mailstore: Mailstore,
    pub(super) clock: Clock,
    pub(super) router: Router,
    pub(super) transfer: TransferSettings,
    pub(super) retry: RetryPolicy,
    /// This host's name: `Reporting-MTA` of notifications.
    pub(super) hostname: String,
    pub(super) lease: Lease,
    config: QueueConfig,
}

/// Starts this node's delivery workers; they stop when `shutdown` is cancelled, as tasks of
/// `tracker`.
pub fn start(
    config: &Config,
    store: Store,
    clock: Clock,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> QueueHandle {
    let queue_config = config.queue.clone();
    let hostname = config.server.hostname.clone();
    let owner = format!("{hostname}/{}", uuid::Uuid::new_v4());
    let credentials = match (
        &queue_config.smart_host_username,
        &queue_config.smart_host_password,
    ) {
        (Some(user), Some(password)) => Some((user.clone(), password.clone())),
        _ => None,
    };
    let agent = Arc::new(DeliveryAgent {
        queue: Queue::new(store.clone(), clock.clone()),
        mailstore: Mailstore::new(store.clone(), clock.clone()),
        store,
        clock,
        router: Router::new(queue_config.smart_host(), &hostname),
        transfer: TransferSettings {
            hello: hostname.clone(),
            connect_timeout: Duration::from_secs(queue_config.connect_timeout_seconds),
            command_timeout: Duration::from_secs(queue_config.command_timeout_seconds),
            credentials,
            extra_roots: extra_roots(&queue_config),
        },
        retry: RetryPolicy::from_config(&queue_config),
        hostname,
        lease: Lease {
            owner,
            seconds: i64::try_from(queue_config.lease_seconds).unwrap_or(300),
        },
        config: queue_config,
    });
    let wake = Arc::new(Notify::new());
    let (progress, watcher) = watch::channel(Progress::default());
    let dispatcher = Dispatcher {
        agent: Arc::clone(&agent),
        wake: Arc::clone(&wake),
        progress: Arc::new(progress),
        workers: Arc::new(Semaphore::new(agent.config.workers as usize)),
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
    };
    tracing::info!(
        owner = %agent.lease.owner,
        workers = agent.config.workers,
        smart_host = agent.router.smart_host().map(|h| h.to_string()),
        "outbound queue started"
    );
    tracker.spawn(dispatcher.run());
    tracker.spawn(renew_leases(agent, shutdown));
    QueueHandle {
        wake,
        progress: watcher,
    }
}

/// The CA certificates of `[queue] tls_ca_file`. Config validation checked that the file
/// exists; one that cannot be read or parsed leaves only the public roots, loudly.
fn extra_roots(config: &QueueConfig) -> Vec<Certificate> {
    let Some(path) = &config.tls_ca_file else {
        return Vec::new();
    };
    let parsed = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|pem| Certificate::from_pem(&pem).map_err(|e| e.to_string()));
    match parsed {
        Ok(certificate) => vec![certificate],
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "cannot use queue.tls_ca_file; only the public CA roots are trusted");
            Vec::new()
        }
    }
}

/// Keeps this node's leases alive: every third of the lease, so two renewals can fail
/// before another node may take the entries.
async fn renew_leases(agent: Arc<DeliveryAgent>, shutdown: CancellationToken) {
    let every = Duration::from_secs((agent.config.lease_seconds / 3).max(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = agent.queue.renew_leases(&agent.lease).await {
            tracing::warn!(error = %e, "cannot renew queue leases");
        }
    }
}

struct Dispatcher {
    agent: Arc<DeliveryAgent>,
    wake: Arc<Notify>,
    progress: Arc<watch::Sender<Progress>>,
    workers: Arc<Semaphore>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Dispatcher {
    async fn run(self) {
        let poll = Duration::from_secs(self.agent.config.poll_seconds);
        let mut gauge_updated: Option<Instant> = None;
        let mut bodies_updated: Option<Instant> = None;
        loop {
            self.progress.send_modify(|p| p.passes_started += 1);
            let claimed = self.pass().await;
            let inconclusive = u64::from(claimed.is_none());
            let claimed = claimed.unwrap_or(0);
            if gauge_updated.is_none_or(|t| t.elapsed() >= poll) {
                self.agent.update_queue_gauges().await;
                gauge_updated = Some(Instant::now());
            }
            if bodies_updated.is_none_or(|t| t.elapsed() >= BODY_GAUGES_EVERY) {
                self.agent.update_body_gauges().await;
                bodies_updated = Some(Instant::now());
            }
            self.progress.send_modify(|p| {
                p.passes_finished += 1;
                p.claimed += claimed as u64;
                p.inconclusive += inconclusive;
            });
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        tracing::info!("outbound queue stopped");
    }

    /// Claims what the free workers can take and starts them; returns the entries claimed,
    /// `None` when no worker was free or the database could not be asked.
    async fn pass(&self) -> Option<usize> {
        let free = self.workers.available_permits();
        if free == 0 {
            return None;
        }
        let limit = u32::try_from(free * ENTRIES_PER_WORKER).unwrap_or(u32::MAX);
        let entries = match self.agent.queue.claim_due(&self.agent.lease, limit).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim queue entries");
                return None;
            }
        };
        let claimed = entries.len();
        for group in group_by_transaction(entries) {
            self.progress.send_modify(|p| p.in_flight += 1);
            let worker = Worker {
                agent: Arc::clone(&self.agent),
                workers: Arc::clone(&self.workers),
                shutdown: self.shutdown.clone(),
                progress: Arc::clone(&self.progress),
                wake: Arc::clone(&self.wake),
            };
            self.tracker.spawn(worker.run(group));
        }
        Some(claimed)
    }
}

/// Splits claimed entries into transactions: one per message (body and sender) and
/// destination domain, in the order the entries were claimed.
fn group_by_transaction(entries: Vec<QueueEntry>) -> Vec<Vec<QueueEntry>> {
    let mut groups: Vec<Vec<QueueEntry>> = Vec::new();
    let mut index: HashMap<(String, i64, String), usize> = HashMap::new();
    for entry in entries {
        let key = (
            entry.recipient_domain.clone(),
            entry.body_id.0,
            entry.sender.clone(),
        );
        match index.get(&key) {
            Some(&i) => groups[i].push(entry),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![entry]);
            }
        }
    }
    groups
}

/// One group's delivery, from waiting for a worker slot to recording the outcome.
struct Worker {
    agent: Arc<DeliveryAgent>,
    workers: Arc<Semaphore>,
    shutdown: CancellationToken,
    progress: Arc<watch::Sender<Progress>>,
    wake: Arc<Notify>,
}

/// Counts a group in flight until dropped, also when its worker panics, so that
/// [`QueueHandle::wait_idle`] never waits for a task that is gone.
struct InFlight {
    progress: Arc<watch::Sender<Progress>>,
    wake: Arc<Notify>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.progress.send_modify(|p| p.in_flight -= 1);
        // A worker is free: look for more now.
        self.wake.notify_one();
    }
}

impl Worker {
    async fn run(self, group: Vec<QueueEntry>) {
        let _in_flight = InFlight {
            progress: Arc::clone(&self.progress),
            wake: Arc::clone(&self.wake),
        };
        let ids: Vec<QueueEntryId> = group.iter().map(|e| e.id).collect();
        let permit = tokio::select! {
            permit = Arc::clone(&self.workers).acquire_owned() => permit.ok(),
            _ = self.shutdown.cancelled() => None,
        };
        if permit.is_some() {
            let attempt = tokio::select! {
                outcomes = self.agent.attempt(&group) => Some(outcomes),
                _ = self.shutdown.cancelled() => None,
            };
            match attempt {
                Some((message, outcomes)) => {
                    match self.agent.settle(&group, &message, outcomes).await {
                        Ok(settled) => record_metrics(&settled),
                        Err(e) => {
                            tracing::error!(error = %e, entries = ?ids, "cannot record a delivery attempt; the entries are retried when their lease expires")
                        }
                    }
                }
                None => self.release(&ids).await,
            }
        } else {
            self.release(&ids).await;
        }
        drop(permit);
    }

    /// Shutdown came first: the entries are due again for any node.
    async fn release(&self, ids: &[QueueEntryId]) {
        if let Err(e) = self
            .agent
            .queue
            .release_leases(ids, &self.agent.lease.owner)
            .await
        {
            tracing::warn!(error = %e, "cannot release queue leases at shutdown; they expire by themselves");
        }
    }
}

/// Counts what an attempt did, per entry (`/metrics`).
fn record_metrics(settled: &Settled) {
    crate::telemetry::queue_attempt(crate::telemetry::QueueAttempt {
        delivered: settled.delivered,
        deferred: settled.deferred,
        bounced: settled.bounced,
        dropped: settled.dropped,
        delay_notices: settled.delay_notices,
    });
}

impl DeliveryAgent {
    /// Sets the queue's size and oldest-entry gauges from one query.
    async fn update_queue_gauges(&self) {
        let summary = match self.store.read().await {
            Ok(mut conn) => conn.queue_summary().await,
            Err(e) => Err(e),
        };
        match summary {
            Ok((entries, oldest)) => {
                let now = self.clock.now();
                let age =
                    oldest.map(|t| Duration::from_secs(now.0.saturating_sub(t.0).max(0) as u64));
                crate::telemetry::queue_state(entries, age);
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the queue's size"),
        }
    }

    /// Sets the gauges of the message bodies stored.
    async fn update_body_gauges(&self) {
        let totals = match self.store.read().await {
            Ok(mut conn) => conn.body_totals().await,
            Err(e) => Err(e),
        };
        match totals {
            Ok((count, bytes)) => crate::telemetry::message_bodies(count, bytes),
            Err(e) => tracing::debug!(error = %e, "cannot count the stored message bodies"),
        }
    }

    /// The TLS policy for mail to `domain`.
    fn tls_policy(&self, domain: &str) -> TlsPolicy {
        if self.config.requires_tls(domain) {
            TlsPolicy::Required
        } else {
            TlsPolicy::Opportunistic
        }
    }

    /// One attempt for one group: its message and one outcome per entry.
    async fn attempt(&self, group: &[QueueEntry]) -> (Vec<u8>, Vec<RecipientOutcome>) {
        let Some(first) = group.first() else {
            return (Vec::new(), Vec::new());
        };
        let domain = first.recipient_domain.as_str();
        let message = match self.queue.body(first.body_id).await {
            Ok(Some(message)) => message,
            Ok(None) => {
                let failure = super::Failure::local(
                    "5.3.0",
                    format!("the stored message {} is missing", first.body_id.0),
                    None,
                );
                tracing::error!(queue_id = %first.queue_id, body = first.body_id.0, "queued message body missing");
                return (
                    Vec::new(),
                    vec![RecipientOutcome::Failed(failure); group.len()],
                );
            }
            Err(e) => {
                let failure = super::Failure::local(
                    "4.3.0",
                    format!("cannot read the stored message: {e}"),
                    None,
                );
                return (
                    Vec::new(),
                    vec![RecipientOutcome::Deferred(failure); group.len()],
                );
            }
        };
        let recipients: Vec<String> = group.iter().map(|e| e.recipient.clone()).collect();
        let outcomes = match self.router.route(domain).await {
            Route::Hops(hops) => {
                let envelope = Envelope {
                    sender: &first.sender,
                    recipients: &recipients,
                    message: &message,
                };
                transfer(&hops, self.tls_policy(domain), &self.transfer, &envelope).await
            }
            Route::Unavailable(failure) => vec![RecipientOutcome::Deferred(failure); group.len()],
            Route::Undeliverable(failure) => vec![RecipientOutcome::Failed(failure); group.len()],
        };
        let count = |f: fn(&RecipientOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
        tracing::info!(
            queue_id = %first.queue_id,
            domain,
            body = first.body_id.0,
            sender = %first.sender,
            recipients = group.len(),
            delivered = count(|o| matches!(o, RecipientOutcome::Delivered { .. })),
            deferred = count(|o| matches!(o, RecipientOutcome::Deferred(_))),
            failed = count(|o| matches!(o, RecipientOutcome::Failed(_))),
            "delivery attempt"
        );
        for (entry, outcome) in group.iter().zip(&outcomes) {
            match outcome {
                RecipientOutcome::Delivered { remote } => {
                    tracing::info!(queue_id = %entry.queue_id, entry = entry.id.0, recipient = %entry.recipient, %remote, "delivered")
                }
                RecipientOutcome::Deferred(f) | RecipientOutcome::Failed(f) => {
                    tracing::info!(queue_id = %entry.queue_id, entry = entry.id.0, recipient = %entry.recipient, status = %f.status, problem = %f.detail, "not delivered")
                }
            }
        }
        (message, outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::UnixTime;
    use crate::mailstore::BodyId;

    fn entry(id: i64, body: i64, sender: &str, recipient: &str) -> QueueEntry {
        QueueEntry {
            id: QueueEntryId(id),
            body_id: BodyId(body),
            sender: sender.into(),
            recipient: recipient.into(),
            recipient_domain: recipient.rsplit_once('@').unwrap().1.into(),
            next_attempt_at: UnixTime(0),
            attempts: 0,
            last_error: None,
            lease_owner: None,
            lease_expires_at: None,
            created_at: UnixTime(0),
            held: false,
            delay_notice_at: None,
            last_attempt_at: None,
            last_remote: None,
            queue_id: String::new(),
        }
    }

    #[test]
    fn one_transaction_per_message_and_domain() {
        let groups = group_by_transaction(vec![
            entry(1, 10, "a@x.vn", "p@hanoi.gov.vn"),
            entry(2, 10, "a@x.vn", "q@mic.gov.vn"),
            entry(3, 10, "a@x.vn", "r@hanoi.gov.vn"),
            entry(4, 11, "a@x.vn", "s@hanoi.gov.vn"),
            entry(5, 10, "", "t@hanoi.gov.vn"),
        ]);
        let ids: Vec<Vec<i64>> = groups
            .iter()
            .map(|g| g.iter().map(|e| e.id.0).collect())
            .collect();
        assert_eq!(ids, [vec![1, 3], vec![2], vec![4], vec![5]]);
    }
}
