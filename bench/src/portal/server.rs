//! congvu-server as a child process for one run, and the CPU time it and its hashing threads
//! use.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::machine::{field, proc_stat, STIME, UTIME};
use crate::server::{congvu_command, Process};

use super::*;

/// congvu-server run as a child process for one run; killed when dropped.
#[derive(Debug)]
pub(super) struct Server {
    pub(super) process: Process,
}

impl Server {
    pub(super) fn start(
        binary: &Path,
        config: &Path,
        core: Option<&str>,
        log: PathBuf,
    ) -> anyhow::Result<Server> {
        let command = congvu_command(binary, config, core);
        Ok(Server {
            process: Process::start("congvu-server", command, log)?,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.process.pid().unwrap_or(0)
    }

    /// Waits until the sign-in page and the IMAP greeting both answer, or gives up after a
    /// minute.
    pub(super) async fn wait_ready(&mut self, target: &Target) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()?;
        let mut last = String::new();
        while Instant::now() < deadline {
            self.process.check_running()?;
            let page = client.get(format!("{}/", target.base)).send().await;
            match page {
                Ok(r) if r.status() == StatusCode::OK => match imap_login(target).await {
                    Ok(_) => return Ok(()),
                    Err(e) => last = format!("IMAP: {e}"),
                },
                Ok(r) => last = format!("GET / answered {}", r.status()),
                Err(e) => last = format!("GET /: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("congvu-server was not ready within 60 s: {last}")
    }

    /// SIGTERM (congvu drains and closes its database), then SIGKILL after 30 s.
    pub(super) fn stop(&mut self) -> anyhow::Result<()> {
        self.process.stop(Duration::from_secs(30))
    }

    pub(super) fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// CPU time the server has used so far: all of it, and its password hashing threads'.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ServerCpu {
    pub(super) total: Duration,
    pub(super) hashing: Duration,
}

pub(super) fn server_cpu(pid: u32, ticks: f64) -> ServerCpu {
    let seconds = |t: u64| Duration::from_secs_f64(t as f64 / ticks);
    let busy = |stat: &[u64]| field(stat, UTIME) + field(stat, STIME);
    let total = proc_stat(pid).map_or(0, |s| busy(&s));
    let mut hashing = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let path = task.path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if !name.starts_with("congvu-hash") {
                continue;
            }
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            let fields: Vec<u64> = stat
                .rsplit_once(')')
                .map(|(_, after)| {
                    after
                        .split_whitespace()
                        .map(|f| f.parse().unwrap_or(0))
                        .collect()
                })
                .unwrap_or_default();
            hashing += busy(&fields);
        }
    }
    ServerCpu {
        total: seconds(total),
        hashing: seconds(hashing),
    }
}

pub(super) fn own_cpu(ticks: f64) -> Duration {
    let busy = proc_stat(std::process::id()).map_or(0, |s| field(&s, UTIME) + field(&s, STIME));
    Duration::from_secs_f64(busy as f64 / ticks)
}
