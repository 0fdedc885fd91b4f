//! The servers under test as child processes (congvu and `dovecot -F`), and the CPU time and
//! resident memory of every process of each.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio_rustls::TlsConnector;

use crate::machine::{field, pinned, proc_stat, CSTIME, CUTIME, PPID, STIME, UTIME};
use crate::server::Process;

use super::*;

/// What a server said when a client connected.
#[derive(Debug)]
pub(super) enum Greeting {
    Ready,
    /// Anything but `* OK`, e.g. `* BYE [UNAVAILABLE] …`.
    Refused(String),
}

/// A server under test, run as a child process in the foreground; stopped when dropped.
#[derive(Debug)]
pub(super) struct Server {
    pub(super) kind: ServerKind,
    pub(super) binary: PathBuf,
    pub(super) arguments: Vec<std::ffi::OsString>,
    pub(super) log: PathBuf,
    pub(super) imaps: SocketAddr,
    /// congvu's LDAP listener, for M1's idle LDAP connections.
    pub(super) ldap: Option<SocketAddr>,
    pub(super) pin: Option<String>,
    pub(super) process: Option<Process>,
    /// Clock ticks per second of /proc/PID/stat times.
    pub(super) ticks: f64,
}

impl Server {
    pub(super) fn start(&mut self) -> anyhow::Result<()> {
        let mut command = pinned(&self.binary, self.pin.as_deref());
        command.args(&self.arguments);
        self.process = Some(Process::start(self.kind.name(), command, self.log.clone())?);
        Ok(())
    }

    /// SIGTERM (congvu drains and closes its database; Dovecot's master stops every
    /// process it started), then SIGKILL after 60 s.
    pub(super) fn stop(&mut self) -> anyhow::Result<()> {
        match self.process.take() {
            Some(mut process) => process.stop(Duration::from_secs(60)),
            None => Ok(()),
        }
    }

    pub(super) fn restart(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        tls: &TlsConnector,
    ) -> anyhow::Result<()> {
        self.stop()?;
        self.start()?;
        match runtime.block_on(self.wait_ready(tls))? {
            Greeting::Ready => Ok(()),
            Greeting::Refused(text) => {
                anyhow::bail!(
                    "{} refused connections after a restart: {text}",
                    self.kind.name()
                )
            }
        }
    }

    /// Waits until the server greets an IMAP client over TLS, or gives up after a minute.
    pub(super) async fn wait_ready(&mut self, tls: &TlsConnector) -> anyhow::Result<Greeting> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        while Instant::now() < deadline {
            let process = self.process.as_mut().context("the server is not running")?;
            process.check_running()?;
            match ImapSession::connect(self.imaps, tls).await {
                Ok((_, greeting)) if greeting.starts_with("* OK") => return Ok(Greeting::Ready),
                Ok((_, greeting)) => return Ok(Greeting::Refused(greeting)),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!(
            "{} did not greet on {} within 60 s: {last}",
            self.kind.name(),
            self.imaps
        )
    }

    /// taskset execs the server, so the child's pid is the server's (Dovecot: its master).
    pub(super) fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// CPU time of every process of the server so far.
    pub(super) fn cpu(&self) -> Duration {
        let ticks = self.pid().map_or(0, |pid| {
            process_tree(pid)
                .into_iter()
                .filter_map(proc_stat)
                .map(|s| {
                    field(&s, UTIME) + field(&s, STIME) + field(&s, CUTIME) + field(&s, CSTIME)
                })
                .sum()
        });
        Duration::from_secs_f64(ticks as f64 / self.ticks)
    }

    /// Resident memory of every process of the server.
    pub(super) fn memory(&self) -> Memory {
        self.pid().map_or_else(Memory::default, tree_memory)
    }

    pub(super) fn log_tail(&self) -> String {
        crate::process::log_tail(&self.log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A graceful stop, so Dovecot's master takes its processes with it; a server that
        // does not stop is killed as its process is dropped.
        let _ = self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// Processes

/// `root` and every process descended from it. Children that have exited and been waited
/// for are in their parent's CUTIME/CSTIME, so summing all four over the tree counts every
/// process once.
pub(crate) fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(stat) = proc_stat(pid) {
                parents.push((pid, field(&stat, PPID) as u32));
            }
        }
    }
    descendants(root, &parents)
}

/// `root` and its descendants among `(pid, parent)` pairs.
pub(super) fn descendants(root: u32, parents: &[(u32, u32)]) -> Vec<u32> {
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        tree.extend(
            parents
                .iter()
                .filter(|&&(pid, ppid)| ppid == parent && pid != parent)
                .map(|&(pid, _)| pid),
        );
        next += 1;
    }
    tree
}

/// Resident memory of a group of processes.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Memory {
    /// Sum of VmRSS: pages shared between the processes count once per process.
    pub(super) rss: u64,
    /// Sum of Pss: each shared page divided among the processes that map it.
    pub(super) pss: u64,
    pub(super) processes: usize,
}

pub(super) fn tree_memory(root: u32) -> Memory {
    let mut memory = Memory::default();
    for pid in process_tree(root) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        memory.rss += kib_field(&status, "VmRSS:").unwrap_or(0) * 1024;
        memory.pss += kib_field(&rollup, "Pss:").unwrap_or(0) * 1024;
        memory.processes += 1;
    }
    memory
}

/// The value of a `Name:   123 kB` line of a /proc file.
pub(super) fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
