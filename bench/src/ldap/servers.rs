//! The servers under test as child processes, ready once the root DSE answers, and the CPU
//! time each has used.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ldap3::Scope;

use crate::server::Process;

use super::*;

/// A server this benchmark started; killed when dropped.
#[derive(Debug)]
pub(super) struct Server {
    pub(super) process: Process,
    pub(super) addr: SocketAddr,
    pub(super) url: String,
}

impl Server {
    pub(super) fn spawn(
        name: &str,
        command: Command,
        port: u16,
        log: PathBuf,
    ) -> anyhow::Result<Server> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        Ok(Server {
            process: Process::start(name, command, log)?,
            addr,
            url: format!("ldap://{addr}"),
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.process.pid().unwrap_or(0)
    }

    /// Waits until the root DSE answers an anonymous search, or the server exits.
    pub(super) async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            self.process.check_running()?;
            match root_dse(&self.url).await {
                Ok(()) => return Ok(()),
                Err(e) => last = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::bail!(
            "{} did not answer a root DSE search within 30 s: {last}",
            self.url
        )
    }

    pub(super) fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

pub(super) async fn root_dse(url: &str) -> anyhow::Result<()> {
    let mut ldap = connect(url).await?;
    ldap.with_timeout(Duration::from_secs(2))
        .search("", Scope::Base, "(objectClass=*)", ["namingContexts"])
        .await?
        .success()?;
    let _ = ldap.unbind().await;
    Ok(())
}

/// User and system CPU time the process has used so far, all threads included.
pub(super) fn cpu_time(pid: u32, ticks: f64) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // proc(5): the command name may hold spaces, so count fields after its closing ')';
    // utime and stime are fields 14 and 15, the 12th and 13th after it.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok(Duration::from_secs_f64((utime + stime) / ticks))
}
