//! Intake: makes accepted mail durable. Every SMTP session hands its message here and waits;
//! one committer task writes whatever has arrived meanwhile (many sessions' messages) in one
//! transaction, so one fsync acknowledges them all (group commit). Nothing is acknowledged
//! before its transaction is committed and synced, and nothing is skipped to go faster.
//!
//! A message's local copies share one stored body and cost one row per recipient, written
//! with multi-row statements; its remote recipients become queue entries sharing one body.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::message::Signing;
use super::{BodyHash, BodyId, MailboxId, MailboxRole, MailstoreError, MessageFlags};
use crate::clock::{Clock, UnixTime};
use crate::model::{AgencyId, OfficialId, UtcDay};
use crate::store::{Conn, Store, StoreError};
use crate::telemetry::DataStage;

/// Messages one transaction may carry at most.
const MAX_BATCH_MESSAGES: usize = 256;
/// Body bytes one transaction may carry at most (a batch always takes at least one message).
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// Messages waiting for the committer before senders wait for room.
const QUEUE_DEPTH: usize = 1024;

/// A message ready to be stored: who gets it and the bytes each kind of copy holds.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// The id the message was accepted under, kept with its queue entries (see
    /// `queue::new_queue_id`).
    pub queue_id: String,
    /// The envelope sender; empty for the null sender `<>`.
    pub sender: String,
    /// Officials who get a copy in their INBOX, each listed once.
    pub local: Vec<OfficialId>,
    /// Copies officials' Sieve filters placed (an official with a filter is in `local` only
    /// when the filter left the message to the usual delivery).
    pub filed: Vec<FiledCopy>,
    /// What local copies hold: the message with `Return-Path:` and trace headers.
    pub local_message: Vec<u8>,
    /// Local copies go to each official's Junk folder instead of INBOX (the sender's domain
    /// asked for quarantine, or a filter judged it spam); to INBOX for one without Junk.
    pub junk: bool,
    /// Recipients in other domains, for the outbound queue.
    pub remote: Vec<String>,
    /// What the queue sends: the message with trace headers, without `Return-Path:`.
    pub remote_message: Vec<u8>,
    /// Set when an official submitted the message: counted for their agency.
    pub submission: Option<Submission>,
}

/// A copy an official's filter placed: in one of their folders, with flags and keywords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledCopy {
    pub official: OfficialId,
    /// The folder, found (or made) before the message is stored; a folder deleted meanwhile
    /// means INBOX.
    pub mailbox: MailboxId,
    pub flags: MessageFlags,
    pub keywords: Vec<String>,
}

/// A submitted message, as the e-government report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submission {
    pub agency: AgencyId,
    /// The official who submitted it: the submission day counts as a day they were active.
    pub official: OfficialId,
    pub signing: Signing,
}

/// Where a message went, once durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    /// Local copies written.
    pub delivered: usize,
    /// Local recipients who got no copy: their official has no INBOX.
    pub undelivered: usize,
    /// Queue entries written.
    pub queued: usize,
}

/// A message with its bodies hashed, waiting for the committer.
struct Job {
    incoming: Incoming,
    local_hash: Option<BodyHash>,
    /// The local copy's structure and text, worked out once for every recipient's FETCH and
    /// SEARCH.
    local_derived: Option<super::Derived>,
    remote_hash: Option<BodyHash>,
    reply: oneshot::Sender<Result<Stored, MailstoreError>>,
    /// When the job was handed to the committer: the start of its wait for a group commit.
    handed: Instant,
}

impl Job {
    fn bytes(&self) -> usize {
        self.incoming.local_message.len() + self.incoming.remote_message.len()
    }
}

/// Hands accepted mail to the committer.
#[derive(Clone)]
pub struct Intake {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").finish_non_exhaustive()
    }
}

impl Intake {
    /// Starts the committer over `store`. `queued` is called after each commit that added
    /// queue entries, so that outbound delivery starts at once.
    pub fn start(store: Store, clock: Clock, queued: Arc<dyn Fn() + Send + Sync>) -> Intake {
        let (jobs, receiver) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(commit_loop(store, clock, receiver, queued));
        Intake { jobs }
    }

    /// Stores `incoming`; returns once it is committed and synced.
    pub async fn accept(&self, incoming: Incoming) -> Result<Stored, MailstoreError> {
        // Hashing here, in the session's task, keeps the committer's work to the writing.
        let deriving = Instant::now();
        let any_local = !incoming.local.is_empty() || !incoming.filed.is_empty();
        let local_hash = any_local.then(|| BodyHash::of(&incoming.local_message));
        let local_derived = any_local.then(|| super::Derived::of(&incoming.local_message));
        let remote_hash =
            (!incoming.remote.is_empty()).then(|| BodyHash::of(&incoming.remote_message));
        let (reply, answer) = oneshot::channel();
        let handed = Instant::now();
        crate::telemetry::data_stage(DataStage::Derive, handed - deriving);
        let job = Job {
            incoming,
            local_hash,
            local_derived,
            remote_hash,
            reply,
            handed,
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| MailstoreError::Stopped)?;
        answer.await.map_err(|_| MailstoreError::Stopped)?
    }
}

async fn commit_loop(
    store: Store,
    clock: Clock,
    mut receiver: mpsc::Receiver<Job>,
    queued: Arc<dyn Fn() + Send + Sync>,
) {
    while let Some(first) = receiver.recv().await {
        let mut bytes = first.bytes();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_MESSAGES && bytes < MAX_BATCH_BYTES {
            match receiver.try_recv() {
                Ok(job) => {
                    bytes += job.bytes();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        for job in &batch {
            crate::telemetry::data_stage(DataStage::Queued, started - job.handed);
        }
        let outcomes = match commit(&store, clock.now(), &batch).await {
            Ok(stored) => stored.into_iter().map(Ok).collect(),
            // One bad message must not fail the others: retry each in its own transaction.
            Err(error) if batch.len() > 1 => {
                let queue_ids: Vec<&str> =
                    batch.iter().map(|j| j.incoming.queue_id.as_str()).collect();
                tracing::warn!(%error, ?queue_ids, "group commit failed; committing one by one");
                let mut outcomes = Vec::with_capacity(batch.len());
                for job in &batch {
                    let one = commit(&store, clock.now(), std::slice::from_ref(job)).await;
                    outcomes.push(one.map(|mut s| s.remove(0)).map_err(MailstoreError::from));
                }
                outcomes
            }
            Err(error) => vec![Err(MailstoreError::from(error))],
        };
        let took = started.elapsed();
        crate::telemetry::intake_commit(batch.len(), took);
        let mut any_queued = false;
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            crate::telemetry::data_stage(DataStage::Commit, took);
            if let Ok(stored) = &outcome {
                crate::telemetry::local_deliveries(stored.delivered, stored.undelivered);
            }
            any_queued |= matches!(&outcome, Ok(s) if s.queued > 0);
            let _ = job.reply.send(outcome);
        }
        if any_queued {
            queued();
        }
    }
}

/// Writes every job of `batch` in one transaction.
async fn commit(store: &Store, now: UnixTime, batch: &[Job]) -> Result<Vec<Stored>, StoreError> {
    let mut tx = store.begin().await?;
    let mut stored = Vec::with_capacity(batch.len());
    for job in batch {
        stored.push(write(&mut tx, now, job).await?);
    }
    tx.commit().await?;
    Ok(stored)
}

async fn write(tx: &mut Conn, now: UnixTime, job: &Job) -> Result<Stored, StoreError> {
    let incoming = &job.incoming;
    let mut stored = Stored::default();
    if let Some(hash) = &job.local_hash {
        let message = &incoming.local_message;
        let holders = (incoming.local.len() + incoming.filed.len()) as i64;
        let derived = job.local_derived.as_ref().map(super::Derived::as_stored);
        let body = tx.put_body(hash, message, derived, holders, now).await?;
        let size = message.len() as u64;
        let flags = MessageFlags::default();
        let mut landed = Vec::new();
        let mut unplaced = incoming.local.clone();
        if incoming.junk {
            landed = tx
                .deliver_to_folders(body, &unplaced, MailboxRole::Junk, flags, size, now)
                .await?;
            unplaced.retain(|official| !landed.iter().any(|(o, _, _)| o == official));
        }
        landed.extend(
            tx.deliver_to_folders(body, &unplaced, MailboxRole::Inbox, flags, size, now)
                .await?,
        );
        let filed = write_filed(tx, body, &incoming.filed, size, now).await?;
        // An official without an INBOX gets nothing; give back the references held for them.
        let missing = holders - (landed.len() + filed) as i64;
        if missing > 0 {
            tx.release_body(body, missing).await?;
        }
        stored.delivered = landed.len() + filed;
        stored.undelivered = usize::try_from(missing).unwrap_or(0);
    }
    if let Some(hash) = &job.remote_hash {
        let message = &incoming.remote_message;
        let body = tx
            .put_body(hash, message, None, incoming.remote.len() as i64, now)
            .await?;
        tx.insert_queue_entries(
            body,
            &incoming.queue_id,
            &incoming.sender,
            &incoming.remote,
            now,
        )
        .await?;
        stored.queued = incoming.remote.len();
    }
    if let Some(submission) = incoming.submission {
        let day = UtcDay::of(now).to_string();
        tx.count_submission(submission.agency, &day, submission.signing)
            .await?;
        tx.record_activity(submission.official, &day).await?;
    }
    Ok(stored)
}

/// Writes the copies filters placed; returns how many landed. A copy whose folder was deleted
/// since it was found goes to the official's INBOX, with its flags (keywords need the folder).
async fn write_filed(
    tx: &mut Conn,
    body: BodyId,
    filed: &[FiledCopy],
    size: u64,
    now: UnixTime,
) -> Result<usize, StoreError> {
    let mut landed = 0;
    for copy in filed {
        let placed = tx
            .append_message(copy.mailbox, body, copy.flags, &copy.keywords, now, size)
            .await?;
        landed += match placed {
            Some(_) => 1,
            None => tx
                .deliver_to_folders(
                    body,
                    &[copy.official],
                    MailboxRole::Inbox,
                    copy.flags,
                    size,
                    now,
                )
                .await?
                .len(),
        };
    }
    Ok(landed)
}
