//! The threads that verify and hash passwords. Argon2 is deliberately expensive (tens of
//! milliseconds and megabytes per check), so it runs on a fixed set of threads, never on the
//! async workers, and at a lower CPU priority: under a flood of logins, lookups (LDAP
//! searches, SMTP recipient checks, IMAP commands) keep their share of the cores while the
//! logins queue.
//!
//! The queue is fair per source address: each source has its own queue and the threads take
//! one job from each queued source in turn. With a single FIFO a flood from many addresses
//! put an official's correct login behind the whole backlog (a bind once waited 16 s); with
//! turns alone, behind one job of every flooding address (14 s behind 200 of them, each
//! below the source throttle). So the caller also says where each source stands, and the
//! turns go to trusted sources (a password from them matched recently) before unknown ones,
//! and to unknown ones before failing ones, a source's waiting jobs changing line as soon as
//! the caller's judgement of it changes ([`HashPool::restand`]): a flood, however spread
//! out, waits behind everyone once each of its addresses has failed once, and behind every
//! system and official already signed in from the start. Jobs whose caller stopped waiting
//! are dropped unrun, so an abandoned flood costs no hashes.
//!
//! This module owns only the threads and their queues; what a job computes, whether a source
//! is failing, and whether it should be heard at all (throttling, lockout), is the caller's
//! business.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use thread_priority::{ThreadPriority, ThreadPriorityValue};
use tokio::sync::oneshot;

/// A fixed pool of low-priority threads for password work, served fairly per source.
pub struct HashPool {
    shared: Arc<Shared>,
    /// Threads that started; with none, a job would wait forever.
    workers: usize,
}

/// What the pool and its threads share.
struct Shared {
    queues: Mutex<Queues>,
    /// Signalled when a job is queued or the pool closes.
    ready: Condvar,
}

/// Where a source stands when it queues a job: every trusted source is served before any
/// unknown one, and every unknown one before any failing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// A password from it matched recently: a system binding with its secret, an official
    /// already signed in.
    Trusted,
    /// Neither: an official signing in from a new place, or a flood's first attempt.
    Unknown,
    /// Wrong passwords from it recently: possibly part of a flood.
    Failing,
}

/// The waiting jobs, one queue per source, and the order in which sources are served.
#[derive(Default)]
struct Queues {
    /// Each source's jobs, oldest first, and its standing. A source with no jobs has no
    /// entry, so a flood from many one-off addresses leaves nothing behind.
    by_source: HashMap<Option<IpAddr>, (Standing, VecDeque<Queued>)>,
    /// The sources with jobs, next to be served at the front, one line per standing, best
    /// first; a line is served only when those before it are empty. A source is in exactly
    /// one line exactly while its queue is non-empty.
    turns: [VecDeque<Option<IpAddr>>; 3],
    /// Set when the pool is dropped: no caller can be waiting any more.
    closed: bool,
}

/// A job in a source's queue, with when it was queued (for the wait-time metric).
struct Queued {
    since: Instant,
    job: Box<dyn Job>,
}

/// One password check waiting for a thread.
trait Job: Send {
    /// Whether the caller stopped waiting, so the result would be thrown away.
    fn abandoned(&self) -> bool;
    fn run(self: Box<Self>);
}

struct Pending<F, T> {
    work: F,
    done: oneshot::Sender<T>,
}

impl<F: FnOnce() -> T + Send, T: Send> Job for Pending<F, T> {
    fn abandoned(&self) -> bool {
        self.done.is_closed()
    }

    fn run(self: Box<Self>) {
        // The caller may have left while the work ran; the result then has no one to go to.
        let _ = self.done.send((self.work)());
    }
}

impl Queues {
    fn push(&mut self, source: Option<IpAddr>, standing: Standing, job: Box<dyn Job>) {
        let queued = Queued {
            since: Instant::now(),
            job,
        };
        crate::telemetry::hash_job_queued();
        let Some((_, queue)) = self.by_source.get_mut(&source) else {
            self.by_source
                .insert(source, (standing, VecDeque::from([queued])));
            self.turns[standing as usize].push_back(source);
            return;
        };
        queue.push_back(queued);
        self.restand(source, standing);
    }

    /// Moves `source`'s waiting jobs, if any, to the back of the line for `standing`.
    fn restand(&mut self, source: Option<IpAddr>, standing: Standing) {
        let Some((was, _)) = self.by_source.get_mut(&source) else {
            return;
        };
        if *was != standing {
            let line = *was as usize;
            *was = standing;
            self.turns[line].retain(|s| *s != source);
            self.turns[standing as usize].push_back(source);
        }
    }

    /// The oldest job of the source whose turn it is, the best standing first.
    fn pop(&mut self) -> Option<Queued> {
        let source = self.turns.iter_mut().find_map(VecDeque::pop_front)?;
        // The lines hold exactly the sources with a non-empty queue, so the entry exists.
        let (standing, queue) = self.by_source.get_mut(&source)?;
        let line = *standing as usize;
        let job = queue.pop_front();
        if queue.is_empty() {
            self.by_source.remove(&source);
        } else {
            self.turns[line].push_back(source);
        }
        job
    }
}

/// The priority of hashing threads on the cross-platform 0–99 scale; 25 is a niceness of
/// about 9 on Linux, which leaves them roughly a tenth of a contended core.
const HASHING_PRIORITY: u8 = 25;

impl HashPool {
    /// Starts `workers` threads (at least one).
    pub fn new(workers: usize) -> HashPool {
        let shared = Arc::new(Shared {
            queues: Mutex::default(),
            ready: Condvar::new(),
        });
        let mut started = 0;
        for n in 0..workers.max(1) {
            let shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("congvu-hash-{n}"))
                .spawn(move || {
                    if let Ok(p) = ThreadPriorityValue::try_from(HASHING_PRIORITY) {
                        if let Err(e) =
                            thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(p))
                        {
                            tracing::debug!(error = ?e, "cannot lower the hashing thread's priority");
                        }
                    }
                    serve(&shared);
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start a password hashing thread"),
            }
        }
        HashPool {
            shared,
            workers: started,
        }
    }

    /// Runs `work` for `source`, which stands as `standing`, on the pool and waits for its
    /// result; `None` if the pool has no threads or `work` panicked. The job is queued when
    /// the returned future is first polled, and dropped unrun if the future is dropped before
    /// a thread reaches it.
    pub async fn run_for<T: Send + 'static>(
        &self,
        source: Option<IpAddr>,
        standing: Standing,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        if self.workers == 0 {
            return None;
        }
        let (done, result) = oneshot::channel();
        self.shared
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(source, standing, Box::new(Pending { work, done }));
        self.shared.ready.notify_one();
        result.await.ok()
    }

    /// Runs `work` on the pool and waits for its result, in the one queue shared by all
    /// callers without a source; `None` if the pool has no threads or `work` panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        self.run_for(None, Standing::Trusted, work).await
    }

    /// Moves the jobs `source` has waiting to the line for `standing`: its caller's judgement
    /// changed while they wait (a check failed or matched), and the flood's jobs queued
    /// before its first failure must not keep the place of an address not seen.
    pub fn restand(&self, source: Option<IpAddr>, standing: Standing) {
        self.shared
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .restand(source, standing);
    }

    /// Jobs waiting for a thread.
    #[cfg(test)]
    fn queued(&self) -> usize {
        let queues = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.by_source.values().map(|(_, q)| q.len()).sum()
    }
}

/// A hashing thread's life: take the next fair job until the pool closes.
fn serve(shared: &Shared) {
    loop {
        let job = {
            let mut queues = shared.queues.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if queues.closed {
                    return;
                }
                if let Some(job) = queues.pop() {
                    break job;
                }
                queues = shared.ready.wait(queues).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Queued { since, job } = job;
        // Checked after the wait for a turn, the longest part of a job's life under a flood.
        if job.abandoned() {
            crate::telemetry::hash_job_dequeued(None);
            continue;
        }
        crate::telemetry::hash_job_dequeued(Some(since.elapsed()));
        // A panicking check would otherwise end the thread and shrink the fixed pool for good;
        // its caller still learns of it, as its result sender is dropped.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job.run())).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

impl Drop for HashPool {
    /// Tells the threads to stop without joining them: one may be midway through a hash, and
    /// the pool is dropped on async threads that must not block for it.
    fn drop(&mut self) {
        let mut queues = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.closed = true;
        // Nobody will run what is left: it leaves the queue gauge now.
        for _ in queues.by_source.values().flat_map(|(_, q)| q) {
            crate::telemetry::hash_job_dequeued(None);
        }
        queues.by_source.clear();
        queues.turns.iter_mut().for_each(VecDeque::clear);
        drop(queues);
        self.shared.ready.notify_all();
    }
}

impl fmt::Debug for HashPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashPool")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    const FLOODER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OFFICIAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    /// The niceness of the calling thread, from /proc (field 19 of its stat line).
    fn own_niceness() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }

    /// Occupies the pool's only thread until the returned sender is used or dropped.
    async fn block_the_thread(pool: &Arc<HashPool>) -> std::sync::mpsc::Sender<()> {
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let blocked = Arc::clone(pool);
        tokio::spawn(async move {
            blocked
                .run(move || {
                    started.send(()).unwrap();
                    let _ = gate.recv();
                })
                .await
        });
        running.await.unwrap();
        release
    }

    /// Yields to the spawned callers until `count` jobs are queued.
    async fn until_queued(pool: &HashPool, count: usize) {
        while pool.queued() != count {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn runs_work_at_a_lower_priority() {
        let pool = HashPool::new(2);
        let here = own_niceness();
        let there = pool.run(own_niceness).await.unwrap();
        assert!(there > here, "pool thread nice {there}, caller nice {here}");
        assert_eq!(pool.run(|| 6 * 7).await, Some(42));
    }

    #[tokio::test]
    async fn a_new_source_waits_for_one_job_per_queued_source_not_the_backlog() {
        let mut jobs = vec![(FLOODER, Standing::Unknown); 50];
        jobs.push((OFFICIAL, Standing::Unknown));
        let served = served_in_order(jobs, |_| {}).await;
        let mut expected = vec![FLOODER, OFFICIAL];
        expected.extend(std::iter::repeat_n(FLOODER, 49));
        assert_eq!(served, expected);
    }

    /// Queues `jobs` (source, standing) one after another behind the pool's busy thread,
    /// does `meanwhile` to the pool, releases the thread, and gives the sources in the order
    /// their jobs ran.
    async fn served_in_order(
        jobs: Vec<(IpAddr, Standing)>,
        meanwhile: impl FnOnce(&HashPool),
    ) -> Vec<IpAddr> {
        let pool = Arc::new(HashPool::new(1));
        let release = block_the_thread(&pool).await;
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut callers = Vec::new();
        for ((source, standing), expected_queued) in jobs.into_iter().zip(1..) {
            let (caller_pool, served) = (Arc::clone(&pool), Arc::clone(&served));
            callers.push(tokio::spawn(async move {
                caller_pool
                    .run_for(Some(source), standing, move || {
                        served.lock().unwrap().push(source)
                    })
                    .await
            }));
            until_queued(&pool, expected_queued).await;
        }
        meanwhile(&pool);
        release.send(()).unwrap();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), Some(()));
        }
        let served = served.lock().unwrap().clone();
        served
    }

    fn flooder(n: u8) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, n))
    }

    #[tokio::test]
    async fn trusted_sources_go_first_then_unknown_ones_then_failing_ones() {
        const SYSTEM: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 20));
        // A flood spread over 40 addresses, 20 of them failing already and 20 trying for
        // the first time, then an official from a new address and a system already trusted.
        let mut jobs: Vec<_> = (1..=20).map(|n| (flooder(n), Standing::Failing)).collect();
        jobs.extend((21..=40).map(|n| (flooder(n), Standing::Unknown)));
        jobs.push((OFFICIAL, Standing::Unknown));
        jobs.push((SYSTEM, Standing::Trusted));
        let served = served_in_order(jobs, |_| {}).await;
        assert_eq!(served[0], SYSTEM);
        let mut unknown: Vec<_> = (21..=40).map(flooder).collect();
        unknown.push(OFFICIAL);
        assert_eq!(served[1..22], unknown[..]);
        let failing: Vec<_> = (1..=20).map(flooder).collect();
        assert_eq!(served[22..], failing[..]);
    }

    #[tokio::test]
    async fn a_source_whose_standing_changes_while_it_waits_moves_to_its_new_line() {
        let jobs = vec![
            (flooder(1), Standing::Unknown),
            (flooder(1), Standing::Unknown),
            (OFFICIAL, Standing::Unknown),
            (flooder(2), Standing::Failing),
        ];
        let served = served_in_order(jobs, |pool| {
            // flooder(1) fails and flooder(2) signs in while their jobs wait.
            pool.restand(Some(flooder(1)), Standing::Failing);
            pool.restand(Some(flooder(2)), Standing::Trusted);
            pool.restand(Some(flooder(9)), Standing::Failing);
        })
        .await;
        assert_eq!(served, [flooder(2), OFFICIAL, flooder(1), flooder(1)]);
    }

    #[tokio::test]
    async fn skips_a_job_whose_caller_left_before_its_turn() {
        let pool = Arc::new(HashPool::new(1));
        let release = block_the_thread(&pool).await;
        let runs = Arc::new(AtomicUsize::new(0));
        let (left_pool, left_runs) = (Arc::clone(&pool), Arc::clone(&runs));
        let left = tokio::spawn(async move {
            left_pool
                .run_for(Some(FLOODER), Standing::Unknown, move || {
                    left_runs.fetch_add(1, Ordering::SeqCst)
                })
                .await
        });
        until_queued(&pool, 1).await;
        left.abort();
        assert!(left.await.unwrap_err().is_cancelled());
        let (after_pool, after_runs) = (Arc::clone(&pool), Arc::clone(&runs));
        let after = tokio::spawn(async move {
            after_pool
                .run_for(Some(OFFICIAL), Standing::Unknown, move || {
                    after_runs.fetch_add(1, Ordering::SeqCst)
                })
                .await
        });
        until_queued(&pool, 2).await;
        release.send(()).unwrap();
        // The abandoned job was queued first, so it was skipped before this one ran.
        assert_eq!(after.await.unwrap(), Some(0));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(pool.queued(), 0);
    }

    #[tokio::test]
    async fn serves_many_sources_then_stops_its_threads_when_dropped() {
        let pool = Arc::new(HashPool::new(2));
        let callers: Vec<_> = (0..40u8)
            .map(|n| {
                let pool = Arc::clone(&pool);
                let source = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, n));
                tokio::spawn(async move {
                    pool.run_for(Some(source), Standing::Unknown, move || n)
                        .await
                })
            })
            .collect();
        for (n, caller) in (0..40u8).zip(callers) {
            assert_eq!(caller.await.unwrap(), Some(n));
        }
        assert_eq!(pool.run(|| 6 * 7).await, Some(42));
        {
            let queues = pool.shared.queues.lock().unwrap();
            assert!(queues.by_source.is_empty());
            assert!(queues.turns.iter().all(VecDeque::is_empty));
        }

        // The threads hold the only other references to the shared state.
        let shared = Arc::downgrade(&pool.shared);
        drop(Arc::into_inner(pool).unwrap());
        let deadline = Instant::now() + Duration::from_secs(10);
        while shared.upgrade().is_some() {
            assert!(
                Instant::now() < deadline,
                "the hashing threads outlived their pool"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}
