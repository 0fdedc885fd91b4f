//! The threads that verify and hash passwords. Argon2 is deliberately expensive (tens of
//! milliseconds and megabytes per check), so it runs on a fixed set of threads, never on the
//! async workers, and at a lower CPU priority: under a flood of logins, lookups (LDAP
//! searches, SMTP recipient checks, IMAP commands) keep their share of the cores while the
//! logins queue.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use thread_priority::{ThreadPriority, ThreadPriorityValue};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of low-priority threads for password work.
#[derive(Debug)]
pub struct HashPool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// The priority of hashing threads on the cross-platform 0–99 scale; 25 is a niceness of
/// about 9 on Linux, which leaves them roughly a tenth of a contended core.
const HASHING_PRIORITY: u8 = 25;

impl HashPool {
    /// Starts `workers` threads.
    pub fn new(workers: usize) -> HashPool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..workers.max(1) {
            let queue = Arc::clone(&queue);
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
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            // The pool was dropped.
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        HashPool {
            jobs: Mutex::new(jobs),
        }
    }

    /// Runs `work` on the pool and waits for its result; `None` if the pool is gone.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        result.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The niceness of the calling thread, from /proc (field 19 of its stat line).
    fn own_niceness() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn runs_work_at_a_lower_priority() {
        let pool = HashPool::new(2);
        let here = own_niceness();
        let there = pool.run(own_niceness).await.unwrap();
        assert!(there > here, "pool thread nice {there}, caller nice {here}");
        assert_eq!(pool.run(|| 6 * 7).await, Some(42));
    }
}
