//! In-memory views of the directory that follow its version: the LDAP tree, the SMTP
//! recipient index, the DKIM signers. A view is re-checked against the version at once
//! after a change committed by this process, and otherwise when older than its refresh
//! interval, which bounds how long changes made by `congvu-admin` or another node take to
//! show. Authentication never reads a view: it reads the latest state from the store.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::{Directory, DirectoryError, DirectorySnapshot};
use crate::clock::UnixTime;

/// Something built whole from the directory at one version.
pub trait SnapshotView: Send + Sync + 'static {
    /// The directory version the view was built from.
    fn version(&self) -> i64;

    /// When the view goes stale by time alone, without any write (a certificate it serves
    /// expires); `None` when only writes change it.
    fn stale_at(&self) -> Option<UnixTime> {
        None
    }
}

type Loading<T> = Pin<Box<dyn Future<Output = Result<T, DirectoryError>> + Send>>;
type Load<T> = Box<dyn Fn(Directory) -> Loading<T> + Send + Sync>;

/// The current `T`, rebuilt when the directory version moves.
pub struct Following<T> {
    directory: Directory,
    load: Load<T>,
    refresh: Duration,
    current: RwLock<Cached<T>>,
    /// One rebuild at a time; others keep serving the previous view meanwhile.
    rebuilding: tokio::sync::Mutex<()>,
}

impl<T> std::fmt::Debug for Following<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Following")
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

struct Cached<T> {
    view: Arc<T>,
    checked: Instant,
    /// [`Directory::local_changes`] when the version was last checked.
    local_changes: u64,
}

impl<T> Clone for Cached<T> {
    fn clone(&self) -> Self {
        Cached {
            view: Arc::clone(&self.view),
            checked: self.checked,
            local_changes: self.local_changes,
        }
    }
}

impl<T: SnapshotView> Following<T> {
    /// Follows a view built from a whole directory snapshot, the first from `first` (the
    /// server builds every view at start from one snapshot), the next ones each from a
    /// snapshot of its own read when the directory moves.
    pub fn from_snapshots(
        directory: Directory,
        refresh: Duration,
        first: &DirectorySnapshot,
        build: impl Fn(&DirectorySnapshot) -> T + Send + Sync + 'static,
    ) -> Following<T> {
        let view = Arc::new(build(first));
        let build = Arc::new(build);
        let load = move |directory: Directory| {
            let build = Arc::clone(&build);
            let loading: Loading<T> = Box::pin(async move {
                let snapshot = read_apart(directory).await?;
                Ok(build(&snapshot))
            });
            loading
        };
        Self::with_first(
            directory,
            refresh,
            Box::new(load),
            view,
            first.local_changes,
        )
    }

    /// Follows a view `load` reads from the directory; loads the first one now.
    pub async fn load(
        directory: Directory,
        refresh: Duration,
        load: impl Fn(Directory) -> Loading<T> + Send + Sync + 'static,
    ) -> Result<Following<T>, DirectoryError> {
        let local_changes = directory.local_changes();
        let view = Arc::new(load(directory.clone()).await?);
        Ok(Self::with_first(
            directory,
            refresh,
            Box::new(load),
            view,
            local_changes,
        ))
    }

    /// Follows from `view`, built when this process had made `local_changes`.
    fn with_first(
        directory: Directory,
        refresh: Duration,
        load: Load<T>,
        view: Arc<T>,
        local_changes: u64,
    ) -> Following<T> {
        Following {
            directory,
            load,
            refresh,
            current: RwLock::new(Cached {
                view,
                checked: Instant::now(),
                local_changes,
            }),
            rebuilding: tokio::sync::Mutex::new(()),
        }
    }

    /// The view to read: the cached one, after checking the version if that is due.
    pub async fn current(&self) -> Result<Arc<T>, DirectoryError> {
        let cached = self.read();
        if !self.due(&cached) {
            return Ok(cached.view);
        }
        let _one = self.rebuilding.lock().await;
        let cached = self.read();
        if !self.due(&cached) {
            return Ok(cached.view);
        }
        let local_changes = self.directory.local_changes();
        let version = self.directory.version().await?;
        let view = if version == cached.view.version() && !self.timed_out(&cached) {
            cached.view
        } else {
            let view = (self.load)(self.directory.clone()).await?;
            tracing::debug!(
                version = view.version(),
                view = std::any::type_name::<T>(),
                "directory changed; view rebuilt"
            );
            Arc::new(view)
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Cached {
            view: Arc::clone(&view),
            checked: Instant::now(),
            local_changes,
        };
        Ok(view)
    }

    fn due(&self, cached: &Cached<T>) -> bool {
        cached.local_changes != self.directory.local_changes()
            || cached.checked.elapsed() >= self.refresh
            || self.timed_out(cached)
    }

    fn timed_out(&self, cached: &Cached<T>) -> bool {
        cached
            .view
            .stale_at()
            .is_some_and(|at| self.directory.now() >= at)
    }

    fn read(&self) -> Cached<T> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Reads a snapshot on a task of its own, not the one building views from it. A snapshot
/// lives only while views are built, and a view for as long as it is current; glibc's malloc
/// keeps an arena per thread and gives freed memory back to the system only from the top of
/// one, so a snapshot read where a view is then built leaves its whole size as a hole below
/// the view once freed (about 6 MB over 10,000 officials, kept for the life of the process).
/// At start the views are built on the thread that starts the server and the snapshot is
/// read on a runtime worker, so it is freed whole from that worker's arena. A rebuild later
/// runs on a worker already and the read may land on the same one: there the task costs a
/// spawn and gains nothing, and the hole, if any, is reused by the next rebuild's snapshot.
pub async fn read_apart(directory: Directory) -> Result<DirectorySnapshot, DirectoryError> {
    let reading = tokio::spawn(async move { directory.snapshot().await });
    crate::task::finished(reading.await).unwrap_or_else(|| {
        Err(DirectoryError::Internal(
            "the directory snapshot's read stopped: the program is shutting down".into(),
        ))
    })
}
