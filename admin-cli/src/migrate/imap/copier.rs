//! Copying one account: list its folders, then for each folder read what is on the source
//! in windows of messages (UID, flags, internal date, size), bring the flags of messages
//! copied before up to date, and fetch and import the new ones in batches. What was copied
//! is recorded with each message, so a folder interrupted by a dropped connection is simply
//! started again after reconnecting (with exponential backoff, a bounded number of times),
//! and only what is still missing is fetched.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use congvu::clock::UnixTime;
use congvu::directory::Official;
use congvu::mailstore::import::{
    prepare_bodies, FlagRefresh, ImportMessage, Imported, Origin, PreparedBody, SourceFolder,
    SourceFolderId, SourceFolderState,
};
use congvu::mailstore::{MailboxId, Mailstore, MailstoreError, MessageFlags};
use indicatif::ProgressBar;
use tokio::sync::Mutex;
use tokio::time::{Interval, MissedTickBehavior};

use super::folders::{self, PlannedFolder};
use super::guard::Violation;
use super::report::AccountReport;
use super::source::{Connector, Credentials, MessageInfo, SourceError, SourceSession};

/// Messages listed per FETCH of UID, flags, date and size at most. Copying lists a batch's
/// worth ahead of fetching, and more at a time while what it lists is already there.
const WINDOW: u32 = 10_000;
/// Messages fetched and stored together at most, and their bytes (a larger message goes alone).
const BATCH_MESSAGES: usize = 256;
const BATCH_BYTES: u64 = 16 * 1024 * 1024;
/// Connection failures in a row, without anything copied in between, before an account
/// is given up.
const MAX_FAILURES_IN_A_ROW: u32 = 3;

/// A limit on messages per second shared by every account.
#[derive(Debug)]
pub struct Pace {
    per_second: u32,
    ticks: Mutex<Interval>,
}

impl Pace {
    pub fn per_second(n: u32) -> Pace {
        let mut ticks = tokio::time::interval(Duration::from_secs(1) / n.max(1));
        // After a pause, no burst to catch up: the rate is a ceiling, not an average.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Pace {
            per_second: n.max(1),
            ticks: Mutex::new(ticks),
        }
    }

    /// Waits until `n` more messages may be fetched.
    async fn take(&self, n: usize) {
        let mut ticks = self.ticks.lock().await;
        for _ in 0..n {
            ticks.tick().await;
        }
    }
}

/// What every account's copy shares.
#[derive(Debug)]
pub struct Migration {
    pub mailstore: Mailstore,
    pub connector: Connector,
    /// The source's host, which with the source user names the source in the records.
    pub source_host: String,
    pub dry_run: bool,
    /// The largest message congvu accepts (`smtp.max_message_bytes`).
    pub max_message: u64,
    pub pace: Option<Pace>,
}

impl Migration {
    fn batch_messages(&self) -> usize {
        // Under a rate limit a batch is about a second's worth, so progress is committed
        // (and visible) as it is made.
        match &self.pace {
            Some(pace) => BATCH_MESSAGES.min(pace.per_second as usize),
            None => BATCH_MESSAGES,
        }
    }
}

/// One account to copy.
#[derive(Debug)]
pub struct Account {
    pub line: u64,
    pub address: String,
    pub source_user: String,
    pub official: Official,
    pub credentials: Credentials,
}

/// Why copying a folder stopped.
#[derive(Debug)]
enum Stop {
    Source(SourceError),
    Store(MailstoreError),
}

impl From<SourceError> for Stop {
    fn from(e: SourceError) -> Stop {
        Stop::Source(e)
    }
}

impl From<MailstoreError> for Stop {
    fn from(e: MailstoreError) -> Stop {
        Stop::Store(e)
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Source(e) => e.fmt(f),
            Stop::Store(e) => write!(f, "congvu could not store it: {e}"),
        }
    }
}

/// The session to the source, opened again when it breaks.
struct Link<'a> {
    connector: &'a Connector,
    credentials: &'a Credentials,
    session: Option<SourceSession>,
    failures_in_a_row: u32,
}

impl<'a> Link<'a> {
    fn new(connector: &'a Connector, credentials: &'a Credentials) -> Link<'a> {
        Link {
            connector,
            credentials,
            session: None,
            failures_in_a_row: 0,
        }
    }

    /// The open session, or a new one (retried with exponential backoff while the failure
    /// is one that may pass).
    async fn session(&mut self) -> Result<&mut SourceSession, SourceError> {
        if self.session.as_ref().is_some_and(SourceSession::is_broken) {
            self.session = None;
        }
        let session = match self.session.take() {
            Some(session) => session,
            None => {
                let (connector, credentials) = (self.connector, self.credentials);
                let backoff = ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(250))
                    .with_max_delay(Duration::from_secs(5))
                    .with_max_times(3)
                    .with_jitter();
                (|| connector.open(credentials))
                    .retry(backoff)
                    .when(SourceError::is_transient)
                    .await?
            }
        };
        Ok(self.session.insert(session))
    }

    /// Notes a failure; whether it is worth reconnecting and trying again.
    fn may_retry(&mut self, error: &SourceError) -> bool {
        self.failures_in_a_row += 1;
        error.is_transient() && self.failures_in_a_row < MAX_FAILURES_IN_A_ROW
    }

    fn progressed(&mut self) {
        self.failures_in_a_row = 0;
    }

    async fn close(self) {
        if let Some(session) = self.session {
            session.logout().await;
        }
    }
}

/// What happened to each message of a folder in this run, so that a folder started again
/// after a dropped connection counts each message once.
#[derive(Debug, Default)]
struct Tally {
    outcomes: HashMap<u32, Outcome>,
    /// Messages to fetch alone: their batch broke a limit.
    alone: HashSet<u32>,
    failures: Vec<String>,
    /// Whether the folder's size was added to the progress bar.
    counted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Copied(u64),
    AlreadyThere,
    Skipped,
    Failed,
}

impl Tally {
    fn record(&mut self, uid: u32, outcome: Outcome, bar: &ProgressBar) {
        if self.outcomes.insert(uid, outcome).is_none() {
            bar.inc(1);
        }
    }

    fn fail(&mut self, uid: u32, why: String, bar: &ProgressBar) {
        self.record(uid, Outcome::Failed, bar);
        self.failures.push(why);
    }

    /// Something this attempt can show for itself: a message handled or set apart.
    fn size(&self) -> usize {
        self.outcomes.len() + self.alone.len()
    }

    fn add_to(self, report: &mut AccountReport) {
        for outcome in self.outcomes.values() {
            match outcome {
                Outcome::Copied(bytes) => {
                    report.copied += 1;
                    report.bytes += bytes;
                }
                Outcome::AlreadyThere => report.already_there += 1,
                Outcome::Skipped => report.skipped += 1,
                Outcome::Failed => {}
            }
        }
        for why in self.failures {
            report.message_failed(why);
        }
    }
}

/// Copies one account; whatever happens, a report.
pub async fn copy_account(
    migration: &Migration,
    account: &Account,
    bar: &ProgressBar,
) -> AccountReport {
    let mut report = AccountReport::new(account.line, &account.address, &account.source_user);
    let mut link = Link::new(&migration.connector, &account.credentials);
    let listing = loop {
        let listed = match link.session().await {
            Ok(session) => session.list().await,
            Err(e) => Err(e),
        };
        match listed {
            Ok(listing) => break listing,
            Err(e) if link.may_retry(&e) => continue,
            Err(e) => {
                report.errors.push(e.to_string());
                link.close().await;
                return report;
            }
        }
    };
    let plan = folders::plan(&listing);
    report.errors.extend(plan.problems);
    for folder in &plan.folders {
        bar.set_message(format!("{} {}", account.address, folder.shown));
        if let Err(e) =
            copy_folder_again(migration, account, &mut link, folder, &mut report, bar).await
        {
            // Past these, the next folder would meet the same wall.
            let gave_up = matches!(&e, Stop::Source(s) if s.is_transient()
                || matches!(s, SourceError::Login(_) | SourceError::Insecure(_)));
            report
                .errors
                .push(format!("folder {:?}: {e}", folder.shown));
            if gave_up {
                break;
            }
        }
    }
    link.close().await;
    report.over_quota = over_quota(migration, &account.official, report.bytes).await;
    report
}

/// Copies a folder, starting it again after a dropped connection while that may help.
async fn copy_folder_again(
    migration: &Migration,
    account: &Account,
    link: &mut Link<'_>,
    folder: &PlannedFolder,
    report: &mut AccountReport,
    bar: &ProgressBar,
) -> Result<(), Stop> {
    let target = match migration.dry_run {
        true => None,
        false => Some(target_mailbox(migration, account, folder).await?),
    };
    let mut tally = Tally::default();
    let outcome = loop {
        let before = tally.size();
        let attempt = copy_folder(migration, account, link, folder, target, &mut tally, bar).await;
        let progressed = tally.size() > before;
        if progressed {
            link.progressed();
        }
        match attempt {
            Ok(()) => break Ok(()),
            // A limit broken by one batch: its messages are now fetched one by one, or the
            // one message is failed; the rest of the folder goes on.
            Err(Stop::Source(SourceError::Limit(_))) if progressed => continue,
            Err(Stop::Source(e)) if link.may_retry(&e) => continue,
            Err(e) => break Err(e),
        }
    };
    report.folders += u64::from(outcome.is_ok());
    tally.add_to(report);
    outcome
}

/// The congvu folder a source folder's messages go to, made if needed; a folder made here
/// follows the source's subscription.
async fn target_mailbox(
    migration: &Migration,
    account: &Account,
    folder: &PlannedFolder,
) -> Result<MailboxId, MailstoreError> {
    let mailstore = &migration.mailstore;
    let made = mailstore
        .import_folder(&account.official, &folder.name, folder.role)
        .await?;
    if made.created && folder.role.is_none() && !folder.subscribed {
        mailstore
            .subscribe(&account.official, &made.mailbox.name, false)
            .await?;
    }
    Ok(made.mailbox.id)
}

/// One attempt at a folder: EXAMINE, then listing and copying at once.
async fn copy_folder(
    migration: &Migration,
    account: &Account,
    link: &mut Link<'_>,
    folder: &PlannedFolder,
    target: Option<MailboxId>,
    tally: &mut Tally,
    bar: &ProgressBar,
) -> Result<(), Stop> {
    let session = link.session().await?;
    let examined = session.examine(&folder.wire).await?;
    if !tally.counted {
        bar.inc_length(u64::from(examined.exists));
        tally.counted = true;
    }
    let source = SourceFolder {
        host: &migration.source_host,
        user: &account.source_user,
        folder: &folder.wire,
    };
    let official = account.official.id;
    let mailstore = &migration.mailstore;
    // No target is a dry run.
    let Some(target) = target else {
        let state = mailstore
            .source_folder_state(official, &source, examined.uidvalidity)
            .await?;
        return dry_run(
            migration,
            session,
            folder,
            &state,
            examined.exists,
            tally,
            bar,
        )
        .await;
    };
    let state = mailstore
        .begin_source_folder(official, &source, examined.uidvalidity)
        .await?;
    let Some(source_folder) = state.id else {
        return Ok(());
    };
    let copy = BatchCopy {
        migration,
        folder,
        state: &state,
        target,
        source_folder,
    };
    let cursor = Cursor::new(examined.exists, migration.batch_messages() as u32);
    copy.pipelined(session, cursor, tally, bar).await
}

/// A dry run of a folder: what would be fetched is counted as copied.
async fn dry_run(
    migration: &Migration,
    session: &mut SourceSession,
    folder: &PlannedFolder,
    state: &SourceFolderState,
    exists: u32,
    tally: &mut Tally,
    bar: &ProgressBar,
) -> Result<(), Stop> {
    let mut cursor = Cursor::new(exists, WINDOW);
    while let Some((first, last)) = cursor.next_window() {
        let infos = session.message_infos(first, last).await?;
        for info in sort_window(migration, folder, state, infos, None, tally, bar).await? {
            tally.record(info.uid, Outcome::Copied(u64::from(info.size)), bar);
        }
    }
    Ok(())
}

/// How far listing a folder has got. The source numbers its messages `1..=exists`; they are
/// listed a window at a time, just ahead of fetching, so fetching starts at once and the
/// listing of the rest overlaps the copying.
#[derive(Debug)]
struct Cursor {
    next: u64,
    exists: u32,
    window: u32,
}

impl Cursor {
    fn new(exists: u32, window: u32) -> Cursor {
        Cursor {
            next: 1,
            exists,
            window: window.clamp(1, WINDOW),
        }
    }

    /// The next messages to list, by sequence number; `None` once all are listed.
    fn next_window(&mut self) -> Option<(u32, u32)> {
        let first = u32::try_from(self.next)
            .ok()
            .filter(|n| *n <= self.exists)?;
        let last = self.exists.min(first.saturating_add(self.window - 1));
        self.next = u64::from(last) + 1;
        Some((first, last))
    }

    /// Lists more at a time, up to [`WINDOW`]: the last window left less than a batch to
    /// fetch, as in a folder copied before, where most messages are already there.
    fn widen(&mut self) {
        self.window = self.window.saturating_mul(2).min(WINDOW);
    }
}

/// Sorts one window of listed messages: `\Deleted` ones are skipped, those copied before
/// get their flags brought up to date, those too large fail; returns the ones to fetch.
async fn sort_window(
    migration: &Migration,
    folder: &PlannedFolder,
    state: &SourceFolderState,
    infos: Vec<MessageInfo>,
    target: Option<MailboxId>,
    tally: &mut Tally,
    bar: &ProgressBar,
) -> Result<Vec<MessageInfo>, Stop> {
    let mut refreshes = Vec::new();
    let mut to_copy = Vec::new();
    for info in infos {
        if tally.outcomes.contains_key(&info.uid) {
            continue;
        }
        if info.flags.contains(MessageFlags::DELETED) {
            tally.record(info.uid, Outcome::Skipped, bar);
        } else if let Some(copy) = state.copied.get(&info.uid) {
            refreshes.push(FlagRefresh {
                message: *copy,
                flags: info.flags,
                keywords: info.keywords,
            });
            tally.record(info.uid, Outcome::AlreadyThere, bar);
        } else if u64::from(info.size) > migration.max_message {
            let why = format!(
                "{:?} UID {}: {} bytes, larger than the largest message congvu accepts ({} \
                 bytes, smtp.max_message_bytes)",
                folder.shown, info.uid, info.size, migration.max_message
            );
            tally.fail(info.uid, why, bar);
        } else {
            to_copy.push(info);
        }
    }
    if target.is_some() && !refreshes.is_empty() {
        migration.mailstore.refresh_flags(&refreshes).await?;
    }
    Ok(to_copy)
}

/// Each fetched message's hash and structure, when they could be worked out beside the fetch.
type Prepared = Option<HashMap<u32, PreparedBody>>;

/// A batch fetched and waiting to be prepared: its messages and their bodies by UID.
type FetchedBatch = (Vec<MessageInfo>, HashMap<u32, Vec<u8>>);

/// A batch prepared and waiting to be stored: its messages, their bodies by UID, and what
/// was worked out from them.
type PreparedBatch = (Vec<MessageInfo>, HashMap<u32, Vec<u8>>, Prepared);

/// What one step asked of the source: a batch's bodies, and the next window's listing.
type SourceAnswers = (
    Option<Result<HashMap<u32, Vec<u8>>, SourceError>>,
    Option<Result<Vec<MessageInfo>, SourceError>>,
);

/// Hashes and parses a fetched batch's bodies on the blocking threads: the copier runs this
/// while it fetches the next batch and writes the one before.
async fn prepare(fetched: Option<FetchedBatch>) -> Option<PreparedBatch> {
    let (batch, bodies) = fetched?;
    let work = tokio::task::spawn_blocking(move || {
        let order: Vec<u32> = bodies.keys().copied().collect();
        let bytes: Vec<&[u8]> = order.iter().map(|uid| bodies[uid].as_slice()).collect();
        let prepared: HashMap<u32, PreparedBody> =
            order.iter().copied().zip(prepare_bodies(&bytes)).collect();
        (bodies, prepared)
    });
    match work.await {
        Ok((bodies, prepared)) => Some((batch, bodies, Some(prepared))),
        // Only a panic in parsing gets here (the runtime outlives the copier): it is raised
        // again rather than the batch being stored half-checked.
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// Fetches `batch` (when it holds anything), then lists `window` (when there is one and the
/// connection still stands): one step's work on the source.
async fn fetch_and_list(
    session: &mut SourceSession,
    batch: &[MessageInfo],
    window: Option<(u32, u32)>,
) -> SourceAnswers {
    let answer = match batch {
        [] => None,
        _ => {
            let uids: Vec<u32> = batch.iter().map(|i| i.uid).collect();
            Some(session.bodies(&uids).await)
        }
    };
    let listed = match window {
        Some((first, last)) if !session.is_broken() => {
            Some(session.message_infos(first, last).await)
        }
        _ => None,
    };
    (answer, listed)
}

/// Takes the next batch to fetch off the front of `waiting`: up to `count` messages and
/// [`BATCH_BYTES`] bytes together; a larger message, or one set apart, alone.
fn next_batch(
    waiting: &mut VecDeque<MessageInfo>,
    alone: &HashSet<u32>,
    count: usize,
) -> Vec<MessageInfo> {
    let solitary =
        |info: &MessageInfo| alone.contains(&info.uid) || u64::from(info.size) >= BATCH_BYTES;
    let mut bytes = 0u64;
    let mut taken = 0;
    for info in waiting.iter() {
        let size = u64::from(info.size);
        let full = taken >= count || bytes + size > BATCH_BYTES;
        if taken > 0 && (solitary(info) || full) {
            break;
        }
        taken += 1;
        bytes += size;
        if solitary(info) {
            break;
        }
    }
    waiting.drain(..taken).collect()
}

/// Fetching and storing batches of one folder.
struct BatchCopy<'a> {
    migration: &'a Migration,
    folder: &'a PlannedFolder,
    state: &'a SourceFolderState,
    target: MailboxId,
    source_folder: SourceFolderId,
}

impl BatchCopy<'_> {
    /// Copies the folder in steps whose three stages run at once: on the source, fetching a
    /// batch and then listing the next messages; preparing (hashing and parsing) the batch
    /// fetched the step before; and writing the one prepared before that. The source's work
    /// and the wire overlap congvu's, and the source is kept busy. A batch the source refuses
    /// is copied again one by one, after what came before it, so messages keep the source's
    /// order.
    async fn pipelined(
        &self,
        session: &mut SourceSession,
        mut cursor: Cursor,
        tally: &mut Tally,
        bar: &ProgressBar,
    ) -> Result<(), Stop> {
        let count = self.migration.batch_messages();
        let mut waiting = VecDeque::new();
        let mut fetched: Option<FetchedBatch> = None;
        let mut prepared: Option<PreparedBatch> = None;
        loop {
            let batch = next_batch(&mut waiting, &tally.alone, count);
            let window = match waiting.len() < count {
                true => cursor.next_window(),
                false => None,
            };
            if batch.is_empty() && window.is_none() {
                break;
            }
            if let Some(pace) = &self.migration.pace {
                pace.take(batch.len()).await;
            }
            let to_store = prepared.take();
            let ((answer, listed), ready, stored) = tokio::join!(
                fetch_and_list(session, &batch, window),
                prepare(fetched.take()),
                self.store_prepared(to_store, tally, bar)
            );
            stored?;
            prepared = ready;
            if let Some(answer) = answer {
                fetched = self
                    .settle_batch(session, batch, answer, &mut prepared, tally, bar)
                    .await?;
            }
            if let Some(listed) = listed {
                let to_copy = sort_window(
                    self.migration,
                    self.folder,
                    self.state,
                    listed?,
                    Some(self.target),
                    tally,
                    bar,
                )
                .await?;
                if to_copy.len() < count {
                    cursor.widen();
                }
                waiting.extend(to_copy);
            }
        }
        self.store_prepared(prepared, tally, bar).await?;
        self.store_prepared(prepare(fetched).await, tally, bar)
            .await
    }

    /// What becomes of a batch the source answered: fetched and waiting to be prepared, or,
    /// when the source refused it, copied one by one now, after the batch before it.
    async fn settle_batch(
        &self,
        session: &mut SourceSession,
        batch: Vec<MessageInfo>,
        answer: Result<HashMap<u32, Vec<u8>>, SourceError>,
        prepared: &mut Option<PreparedBatch>,
        tally: &mut Tally,
        bar: &ProgressBar,
    ) -> Result<Option<FetchedBatch>, Stop> {
        if let Some(bodies) = self.settle_fetch(&batch, answer, tally, bar)? {
            return Ok(Some((batch, bodies)));
        }
        self.store_prepared(prepared.take(), tally, bar).await?;
        for info in &batch {
            self.run(session, std::slice::from_ref(info), tally, bar)
                .await?;
        }
        Ok(None)
    }

    /// Stores a prepared batch, if there is one.
    async fn store_prepared(
        &self,
        prepared: Option<PreparedBatch>,
        tally: &mut Tally,
        bar: &ProgressBar,
    ) -> Result<(), Stop> {
        match prepared {
            Some((batch, bodies, prepared)) => {
                self.store(&batch, &bodies, prepared.as_ref(), tally, bar)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Fetches one message and stores it (a message the source refuses fails).
    async fn run(
        &self,
        session: &mut SourceSession,
        batch: &[MessageInfo],
        tally: &mut Tally,
        bar: &ProgressBar,
    ) -> Result<(), Stop> {
        if let Some(pace) = &self.migration.pace {
            pace.take(batch.len()).await;
        }
        if let Some(bodies) = self.fetch(session, batch, tally, bar).await? {
            self.store(batch, &bodies, None, tally, bar).await?;
        }
        Ok(())
    }

    /// The batch's bodies; `None` when the source refused a batch of several messages. A
    /// message the source refuses alone, or whose answer breaks a limit alone, fails.
    async fn fetch(
        &self,
        session: &mut SourceSession,
        batch: &[MessageInfo],
        tally: &mut Tally,
        bar: &ProgressBar,
    ) -> Result<Option<HashMap<u32, Vec<u8>>>, Stop> {
        let uids: Vec<u32> = batch.iter().map(|i| i.uid).collect();
        let answer = session.bodies(&uids).await;
        self.settle_fetch(batch, answer, tally, bar)
    }

    /// What the source's answer to fetching `batch` means: its bodies; `None` when it refused
    /// a batch of several messages; a message it refuses alone, or whose answer breaks a limit
    /// alone, fails.
    fn settle_fetch(
        &self,
        batch: &[MessageInfo],
        answer: Result<HashMap<u32, Vec<u8>>, SourceError>,
        tally: &mut Tally,
        bar: &ProgressBar,
    ) -> Result<Option<HashMap<u32, Vec<u8>>>, Stop> {
        let error = match answer {
            Ok(bodies) => return Ok(Some(bodies)),
            Err(error) => error,
        };
        let uids: Vec<u32> = batch.iter().map(|i| i.uid).collect();
        match (&error, uids.as_slice()) {
            (SourceError::Refused { .. }, [_, _, ..]) => Ok(None),
            (SourceError::Refused { text, .. }, [uid]) => {
                let why = format!(
                    "{:?} UID {uid}: the source refused it: {text}",
                    self.folder.shown
                );
                tally.fail(*uid, why, bar);
                Ok(Some(HashMap::new()))
            }
            (SourceError::Limit(violation), uids)
                if !matches!(violation, Violation::Silent { .. }) =>
            {
                // The connection is gone; the folder starts again, this batch one by one.
                match uids {
                    [uid] => {
                        let why = format!("{:?} UID {uid}: {violation}", self.folder.shown);
                        tally.fail(*uid, why, bar);
                    }
                    _ => tally.alone.extend(uids),
                }
                Err(error.into())
            }
            _ => Err(error.into()),
        }
    }

    /// Imports the fetched messages of `batch`; one the source no longer returned was
    /// expunged there meanwhile, and is skipped.
    async fn store(
        &self,
        batch: &[MessageInfo],
        bodies: &HashMap<u32, Vec<u8>>,
        prepared: Option<&HashMap<u32, PreparedBody>>,
        tally: &mut Tally,
        bar: &ProgressBar,
    ) -> Result<(), Stop> {
        let now = UnixTime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        );
        let mut messages = Vec::with_capacity(batch.len());
        let mut infos = Vec::with_capacity(batch.len());
        let pending: Vec<&MessageInfo> = batch
            .iter()
            .filter(|i| !tally.outcomes.contains_key(&i.uid))
            .collect();
        for info in pending {
            match bodies.get(&info.uid) {
                Some(bytes) if bytes.len() as u64 > self.migration.max_message => {
                    let why = format!(
                        "{:?} UID {}: {} bytes, larger than the largest message congvu accepts",
                        self.folder.shown,
                        info.uid,
                        bytes.len()
                    );
                    tally.fail(info.uid, why, bar);
                }
                Some(bytes) => {
                    messages.push(ImportMessage {
                        bytes,
                        internal_date: info.internal_date.unwrap_or(now),
                        flags: info.flags,
                        keywords: &info.keywords,
                        origin: Some(Origin {
                            folder: self.source_folder,
                            uid: info.uid,
                        }),
                    });
                    infos.push(info);
                }
                None => tally.record(info.uid, Outcome::Skipped, bar),
            }
        }
        if messages.is_empty() {
            return Ok(());
        }
        let ready: Option<Vec<&PreparedBody>> =
            prepared.and_then(|p| infos.iter().map(|info| p.get(&info.uid)).collect());
        let mailstore = &self.migration.mailstore;
        let outcomes = match ready {
            Some(ready) => {
                mailstore
                    .import_prepared(self.target, &messages, &ready)
                    .await?
            }
            None => mailstore.import(self.target, &messages).await?,
        };
        for ((info, message), outcome) in infos.iter().zip(&messages).zip(outcomes) {
            let outcome = match outcome {
                Ok(Imported::Added(_)) => Outcome::Copied(message.bytes.len() as u64),
                Ok(Imported::AlreadyThere(_)) => Outcome::AlreadyThere,
                Err(e) => {
                    let why = format!(
                        "{:?} UID {}: congvu could not store it: {e}",
                        self.folder.shown, info.uid
                    );
                    tally.fail(info.uid, why, bar);
                    continue;
                }
            };
            tally.record(info.uid, outcome, bar);
        }
        Ok(())
    }
}

/// Whether the official's mail (after a dry run: with what it would add) exceeds their quota.
async fn over_quota(migration: &Migration, official: &Official, adding: u64) -> bool {
    if official.quota_bytes <= 0 {
        return false;
    }
    let Ok(used) = migration.mailstore.usage(official.id).await else {
        return false;
    };
    let adding = if migration.dry_run { adding as i64 } else { 0 };
    used.saturating_add(adding) > official.quota_bytes
}

#[cfg(test)]
mod tests;
