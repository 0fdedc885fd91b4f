//! The servers under test: congvu as a child process and a private Postfix instance, with the
//! CPU time and storage each uses and Postfix's deliveries into its Maildirs.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::machine::{field, pinned, proc_stat, CSTIME, CUTIME, PPID, STIME, UTIME};
use crate::server::{congvu_command, Process};

use super::*;

/// Bytes of every file and directory under `path`, as `du -sb` counts them.
pub(super) fn tree_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = meta.len();
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                total += tree_bytes(&entry.path());
            }
        }
    }
    total
}

/// What a server said when a client connected.
#[derive(Debug)]
pub(crate) enum Greeting {
    Ready,
    /// Anything but 220, e.g. `421 … Service not available`.
    Refused(String),
}

/// A server under test; stopped when dropped.
#[derive(Debug)]
pub(crate) enum Server {
    Congvu(Congvu),
    Postfix(Postfix),
}

impl Server {
    pub(crate) fn kind(&self) -> ServerKind {
        match self {
            Server::Congvu(_) => ServerKind::Congvu,
            Server::Postfix(_) => ServerKind::Postfix,
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        match self {
            Server::Congvu(c) => c.addr,
            Server::Postfix(p) => p.setup.addr,
        }
    }

    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        match self {
            Server::Congvu(c) => c.start(),
            Server::Postfix(p) => p.start(),
        }
    }

    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        match self {
            Server::Congvu(c) => c.stop(),
            Server::Postfix(p) => p.stop(),
        }
    }

    /// Server CPU time used so far: the congvu process, or every Postfix process.
    pub(crate) fn cpu(&self) -> Duration {
        match self {
            Server::Congvu(c) => c.cpu(),
            Server::Postfix(p) => p.cpu(),
        }
    }

    pub(crate) fn log_tail(&self) -> String {
        let log = match self {
            Server::Congvu(c) => &c.log,
            Server::Postfix(p) => &p.setup.log,
        };
        crate::process::log_tail(log)
    }

    /// Waits until the server greets a client, or gives up after a minute.
    pub(crate) async fn wait_ready(&mut self) -> anyhow::Result<Greeting> {
        match self {
            Server::Congvu(c) => c.wait_ready().await,
            Server::Postfix(p) => await_greeting("Postfix", p.setup.addr, || Ok(())).await,
        }
    }
}

/// Waits until `addr` greets a client, checking `alive` between attempts; gives up after a
/// minute.
pub(crate) async fn await_greeting(
    name: &str,
    addr: SocketAddr,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Greeting> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        alive()?;
        match greeting(addr).await {
            Ok(Reply { code: 220, .. }) => return Ok(Greeting::Ready),
            Ok(reply) => return Ok(Greeting::Refused(reply.text)),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{name} did not greet on {addr} within 60 s: {last}")
}

/// congvu-server as a child process.
#[derive(Debug)]
pub(crate) struct Congvu {
    pub(crate) binary: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) data_dir: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) addr: SocketAddr,
    pub(crate) pin: Option<String>,
    pub(crate) process: Option<Process>,
    pub(crate) ticks: f64,
}

impl Congvu {
    /// congvu-server `binary` with its configuration, its data and log under `work`, on the
    /// SMTP `port`, not started.
    pub(crate) fn new(
        binary: PathBuf,
        (config, work): (PathBuf, &Path),
        port: u16,
        pin: Option<String>,
        ticks: f64,
    ) -> Congvu {
        Congvu {
            binary,
            config,
            data_dir: work.join("congvu-data"),
            log: work.join("congvu.log"),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            pin,
            process: None,
            ticks,
        }
    }

    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        let command = congvu_command(&self.binary, &self.config, self.pin.as_deref());
        self.process = Some(Process::start("congvu-server", command, self.log.clone())?);
        Ok(())
    }

    /// SIGTERM, then a graceful shutdown that closes the database; SIGKILL after 60 s.
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        match self.process.take() {
            Some(mut process) => process.stop(Duration::from_secs(60)),
            None => Ok(()),
        }
    }

    pub(crate) async fn wait_ready(&mut self) -> anyhow::Result<Greeting> {
        let process = self
            .process
            .as_mut()
            .context("congvu-server is not running")?;
        await_greeting("congvu", self.addr, || process.check_running()).await
    }

    pub(crate) fn cpu(&self) -> Duration {
        let pid = self.process.as_ref().and_then(Process::pid);
        let Some(stat) = pid.and_then(proc_stat) else {
            return Duration::ZERO;
        };
        Duration::from_secs_f64((field(&stat, UTIME) + field(&stat, STIME)) as f64 / self.ticks)
    }
}

/// A private Postfix instance: `postfix -c DIR start`, whose master daemonizes.
#[derive(Debug)]
pub(crate) struct Postfix {
    pub(crate) postfix: PathBuf,
    pub(crate) setup: PostfixSetup,
    pub(crate) pin: Option<String>,
    pub(crate) master: Option<u32>,
    pub(crate) ticks: f64,
    /// How much of the maillog has been looked at for delivery trouble.
    pub(crate) log_seen: std::cell::Cell<u64>,
}

impl Postfix {
    pub(crate) fn new(
        postfix: PathBuf,
        setup: PostfixSetup,
        pin: Option<String>,
        ticks: f64,
    ) -> Postfix {
        Postfix {
            postfix,
            setup,
            pin,
            master: None,
            ticks,
            log_seen: std::cell::Cell::new(0),
        }
    }

    pub(super) fn control(&self, action: &str) -> anyhow::Result<std::process::Output> {
        // The master and every daemon it starts inherit the server core.
        let mut command = pinned(&self.postfix, self.pin.as_deref());
        command
            .arg("-c")
            .arg(&self.setup.config)
            .arg(action)
            .output()
            .with_context(|| format!("while running postfix {action}"))
    }

    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        let out = self.control("start")?;
        anyhow::ensure!(
            out.status.success(),
            "postfix start failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let pid_file = self.setup.queue.join("pid/master.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("while reading {}", pid_file.display()))?;
        self.master = Some(
            pid.trim()
                .parse()
                .with_context(|| format!("{} holds {pid:?}", pid_file.display()))?,
        );
        Ok(())
    }

    /// `postfix stop`, then `postfix abort` if the master is still there after 30 s.
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        let Some(master) = self.master.take() else {
            return Ok(());
        };
        let _ = self.control("stop");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !Path::new(&format!("/proc/{master}")).exists() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.control("abort");
        anyhow::bail!("the Postfix master did not stop within 30 s")
    }

    /// The master's own and reaped children's time, plus its live daemons' time. Every
    /// Postfix process is the master's child, so nothing is missed or counted twice.
    pub(crate) fn cpu(&self) -> Duration {
        let Some(master) = self.master else {
            return Duration::ZERO;
        };
        let mut ticks = proc_stat(master).map_or(0, |s| {
            field(&s, UTIME) + field(&s, STIME) + field(&s, CUTIME) + field(&s, CSTIME)
        });
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                if let Some(stat) = proc_stat(pid) {
                    if field(&stat, PPID) == u64::from(master) {
                        ticks += field(&stat, UTIME) + field(&stat, STIME);
                    }
                }
            }
        }
        Duration::from_secs_f64(ticks as f64 / self.ticks)
    }

    /// Removes every delivered message, so the next run starts from empty Maildirs.
    pub(crate) fn clear_maildirs(&self) -> anyhow::Result<()> {
        for new in &self.setup.inboxes {
            for entry in std::fs::read_dir(new)? {
                std::fs::remove_file(entry?.path())?;
            }
        }
        Ok(())
    }

    /// Bytes of the Maildirs and the queue.
    pub(super) fn storage_bytes(&self) -> u64 {
        tree_bytes(&self.setup.maildir) + tree_bytes(&self.setup.queue)
    }

    /// Waits until each inbox `i` holds `expected[i]` messages; returns when the last
    /// arrived (to within [`DELIVERY_POLL`]), or fails after `limit`.
    pub(crate) fn wait_delivered(
        &self,
        expected: &[usize],
        limit: Duration,
    ) -> anyhow::Result<Instant> {
        let mut pending: Vec<(&Path, usize)> = self
            .setup
            .inboxes
            .iter()
            .zip(expected)
            .filter(|(_, &n)| n > 0)
            .map(|(dir, &n)| (dir.as_path(), n))
            .collect();
        let deadline = Instant::now() + limit;
        let mut poll = 0u64;
        loop {
            poll += 1;
            pending.retain(|(dir, n)| std::fs::read_dir(dir).map_or(0, |d| d.count()) < *n);
            let now = Instant::now();
            if pending.is_empty() {
                return Ok(now);
            }
            if poll % 25 == 0 {
                if let Some(trouble) = self.log_trouble() {
                    anyhow::bail!("Postfix cannot deliver: {trouble}");
                }
            }
            if now > deadline {
                let missing: usize = pending
                    .iter()
                    .map(|(dir, n)| n - std::fs::read_dir(dir).map_or(0, |d| d.count()))
                    .sum();
                anyhow::bail!(
                    "Postfix delivered all but {missing} messages within {} s (see {})",
                    limit.as_secs(),
                    self.setup.log.display()
                );
            }
            std::thread::sleep(DELIVERY_POLL);
        }
    }

    /// The first line of the maillog, since the last look, saying that mail cannot be
    /// delivered as configured: waiting for the Maildirs to fill would then be in vain.
    pub(crate) fn log_trouble(&self) -> Option<String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(&self.setup.log).ok()?;
        file.seek(SeekFrom::Start(self.log_seen.get())).ok()?;
        let mut text = String::new();
        let read = file.read_to_string(&mut text).ok()?;
        // Only whole lines count as seen, so a line being written is read again in full.
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        self.log_seen
            .set(self.log_seen.get() + whole.min(read) as u64);
        text[..whole]
            .lines()
            .find(|line| {
                [" fatal: ", " panic: ", "status=deferred", "status=bounced"]
                    .iter()
                    .any(|sign| line.contains(sign))
            })
            .map(str::to_string)
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
