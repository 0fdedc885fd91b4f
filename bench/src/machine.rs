//! The machine a benchmark runs on: what it is (for the report), which cores the servers
//! and the client get, free loopback ports, and the working directory the servers share.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;

/// The machine the figures belong to.
#[derive(Debug)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    /// The 1-minute load average: other work on the machine skews every figure.
    pub load: String,
    /// Clock ticks per second of /proc/PID/stat times.
    pub ticks: f64,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let ticks = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0);
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            load,
            ticks,
        }
    }
}

/// Which cores the servers and the client run on.
#[derive(Debug)]
pub struct Pinning {
    pub server: String,
    pub client: String,
}

impl Pinning {
    /// The last core for the servers, the others for the client.
    pub fn split(cores: usize) -> Pinning {
        let last = cores - 1;
        Pinning {
            server: last.to_string(),
            client: if last == 1 {
                "0".into()
            } else {
                format!("0-{}", last - 1)
            },
        }
    }

    /// Moves this process, every thread of it, to the client cores; the programs it starts
    /// from here on inherit them.
    pub fn pin_self(&self) -> anyhow::Result<()> {
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", &self.client])
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .status()
            .context("while running taskset (util-linux) to pin the client")?;
        anyhow::ensure!(status.success(), "taskset could not pin the client");
        Ok(())
    }
}

/// `binary`, started on `core` when pinning.
pub fn pinned(binary: &Path, core: Option<&str>) -> Command {
    match core {
        Some(core) => {
            let mut command = Command::new("taskset");
            command.args(["-c", core]).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The working directory `--work-dir` names, which must be empty or absent, or a new
/// temporary one that the first value removes when dropped; the reference servers' daemons
/// (Postfix's, Dovecot's mail processes) can walk into either.
pub(crate) fn work_dir(
    asked: Option<&Path>,
) -> anyhow::Result<(Option<tempfile::TempDir>, PathBuf)> {
    let (owned, work) = match asked {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            anyhow::ensure!(
                std::fs::read_dir(dir)?.next().is_none(),
                "--work-dir {} is not empty",
                dir.display()
            );
            (None, dir.canonicalize()?)
        }
        None => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    };
    set_mode(&work, 0o755)?;
    Ok((owned, work))
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("while setting the mode of {}", path.display()))
}

/// The fields of /proc/PID/stat after the command name, which may hold spaces: index 0 is
/// field 3 of proc(5) (state), so field N is at N - 3.
pub(crate) fn proc_stat(pid: u32) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    Some(
        after
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

pub(crate) const PPID: usize = 4 - 3;

pub(crate) const UTIME: usize = 14 - 3;

pub(crate) const STIME: usize = 15 - 3;

pub(crate) const CUTIME: usize = 16 - 3;

pub(crate) const CSTIME: usize = 17 - 3;

pub(crate) fn field(stat: &[u64], index: usize) -> u64 {
    stat.get(index).copied().unwrap_or(0)
}
