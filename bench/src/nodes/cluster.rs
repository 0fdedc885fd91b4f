//! The nodes under test: each run's PostgreSQL database, the cores the nodes and the client
//! get, and the two congvu-server processes on that database with the CPU each uses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::machine::{field, free_port, proc_stat, Pinning, CSTIME, CUTIME, STIME, UTIME};
use crate::server::{congvu_command, Config, Process, Tls, DOMAIN, HOSTNAME};
use crate::smtp::{await_greeting, Greeting};

use super::*;

/// A database of its own on the PostgreSQL server, for one run.
#[derive(Debug)]
pub(super) struct Database {
    /// The URL the benchmark was given, whose database it connects to for `CREATE DATABASE`.
    server: String,
    name: String,
    /// The new database's URL, as the nodes and congvu-admin use it.
    pub(super) url: String,
}

impl Database {
    /// Creates `name` (a name the benchmark makes up, never user input) on the server at
    /// `server`.
    pub(super) async fn create(server: &str, name: &str) -> anyhow::Result<Database> {
        let url = database_url(server, name)?;
        crate::postgres::create_database(server, name).await?;
        Ok(Database {
            server: server.to_string(),
            name: name.to_string(),
            url,
        })
    }

    /// Drops the database, closing whatever connections a node left behind.
    pub(super) async fn drop_database(self) -> anyhow::Result<()> {
        crate::postgres::drop_database(&self.server, &self.name).await
    }
}

/// The PostgreSQL server's version, as `SHOW server_version` gives it.
pub(super) async fn server_version(server: &str) -> anyhow::Result<String> {
    crate::postgres::query_text(server, "SHOW server_version").await
}

/// `server` with its database replaced by `name`, its query string kept.
pub(super) fn database_url(server: &str, name: &str) -> anyhow::Result<String> {
    let after_scheme = server.find("://").context("not a URL")? + 3;
    let (base, query) = server.split_at(server.find('?').unwrap_or(server.len()));
    let authority_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |at| after_scheme + at);
    Ok(format!("{}/{name}{query}", &base[..authority_end]))
}

/// Which cores the nodes and the client run on.
#[derive(Debug)]
pub(super) struct Placement {
    pub(super) cores: usize,
    /// Node A's core and node B's, when the machine has two.
    pub(super) nodes: [Option<String>; 2],
    /// The client's cores, when the machine has any beyond the nodes'.
    pub(super) client: Option<Pinning>,
}

impl Placement {
    pub(super) fn for_cores(cores: usize) -> Placement {
        let nodes = if cores >= 2 {
            [Some("0".to_string()), Some("1".to_string())]
        } else {
            [None, None]
        };
        let client = (cores >= 3).then(|| Pinning {
            server: "0,1".into(),
            client: if cores == 3 {
                "2".into()
            } else {
                format!("2-{}", cores - 1)
            },
        });
        Placement {
            cores,
            nodes,
            client,
        }
    }
}

/// One congvu-server of the run.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) name: &'static str,
    binary: PathBuf,
    config: PathBuf,
    /// The `CONGVU_*` variables that make this node differ from the configuration file.
    env: Vec<(&'static str, String)>,
    log: PathBuf,
    core: Option<String>,
    pub(super) smtp: SocketAddr,
    pub(super) imaps: SocketAddr,
    pub(super) submissions: SocketAddr,
    process: Option<Process>,
    ticks: f64,
}

impl Node {
    pub(super) fn is_running(&self) -> bool {
        self.process.is_some()
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let mut command = congvu_command(&self.binary, &self.config, self.core.as_deref());
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        self.process = Some(Process::start(self.name, command, self.log.clone())?);
        Ok(())
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let process = self.process.as_mut().context("the node is not running")?;
        match await_greeting(self.name, self.smtp, || process.check_running()).await? {
            Greeting::Ready => Ok(()),
            Greeting::Refused(text) => anyhow::bail!("{} refused SMTP: {text}", self.name),
        }
    }

    /// SIGTERM and a graceful shutdown, which releases its queue leases.
    fn stop(&mut self) -> anyhow::Result<()> {
        match self.process.take() {
            Some(mut process) => process.stop(Duration::from_secs(60)),
            None => Ok(()),
        }
    }

    /// CPU time the server has used so far; taskset execs it, so the child is the server.
    pub(super) fn cpu(&self) -> Duration {
        let pid = self.process.as_ref().and_then(Process::pid);
        let ticks = pid
            .and_then(proc_stat)
            .map_or(0, |s| field(&s, UTIME) + field(&s, STIME));
        Duration::from_secs_f64(ticks as f64 / self.ticks)
    }
}

/// Node A and node B, configured alike on one database.
#[derive(Debug)]
pub(super) struct Cluster {
    nodes: [Node; 2],
}

impl Cluster {
    /// Writes both nodes' configurations under `dir`, each node relaying outbound mail to
    /// `smart_host`; starts neither.
    pub(super) fn new(
        bench: &Bench<'_>,
        dir: &Path,
        url: &str,
        smart_host: &str,
    ) -> anyhow::Result<Cluster> {
        let hostnames = [HOSTNAME.to_string(), format!("mail2.{DOMAIN}")];
        let mut nodes = Vec::new();
        for (i, hostname) in hostnames.into_iter().enumerate() {
            let node_dir = dir.join(["node-a", "node-b"][i]);
            std::fs::create_dir_all(node_dir.join("congvu-data"))?;
            let (smtp, imaps, submissions) = (free_port()?, free_port()?, free_port()?);
            let extra = format!(
                "[inbound]\nauthentication = \"off\"\n\n[queue]\nsmart_host = \"{smart_host}\"\n"
            );
            let config = Config {
                tls: Tls::Certificate(bench.cert),
                smtp,
                imaps,
                extra: &extra,
                ..Config::default()
            }
            .write(&node_dir, "congvu.toml")?;
            let env = vec![
                ("CONGVU_DATABASE__URL", url.to_string()),
                ("CONGVU_SERVER__HOSTNAME", hostname),
                (
                    "CONGVU_SMTP__SUBMISSIONS_LISTEN",
                    format!("127.0.0.1:{submissions}"),
                ),
            ];
            nodes.push(Node {
                name: NODE_NAMES[i],
                binary: bench.args.congvu.server.clone(),
                config,
                env,
                log: node_dir.join("congvu.log"),
                core: bench.placement.nodes[i].clone(),
                smtp: loopback(smtp),
                imaps: loopback(imaps),
                submissions: loopback(submissions),
                process: None,
                ticks: bench.machine.ticks,
            });
        }
        let nodes = <[Node; 2]>::try_from(nodes).map_err(|_| anyhow::anyhow!("two nodes"))?;
        Ok(Cluster { nodes })
    }

    pub(super) fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// The first `count` nodes, running.
    pub(super) fn running(&self, count: usize) -> &[Node] {
        &self.nodes[..count]
    }

    /// Runs the first `count` nodes and stops the others; waits until each greets.
    pub(super) fn run_nodes(
        &mut self,
        count: usize,
        runtime: &tokio::runtime::Runtime,
    ) -> anyhow::Result<()> {
        for (i, node) in self.nodes.iter_mut().enumerate() {
            match (i < count, node.is_running()) {
                (true, false) => {
                    node.start()?;
                    runtime.block_on(node.wait_ready())?;
                }
                (false, true) => node.stop()?,
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) fn stop_all(&mut self) -> anyhow::Result<()> {
        for node in &mut self.nodes {
            node.stop()?;
        }
        Ok(())
    }

    /// The end of each node's log, which says why a step failed.
    pub(super) fn log_tails(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                format!(
                    "{}'s log ends with:\n{}",
                    n.name,
                    crate::process::log_tail(&n.log)
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// CPU time of every `postgres` process so far, with what the postmaster's exited children
/// used: the database's share of a phase, whichever backend served it.
pub(super) fn postgres_cpu(ticks: f64) -> Duration {
    let mut used = 0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim_end() != "postgres" {
                continue;
            }
            if let Some(stat) = proc_stat(pid) {
                used += [UTIME, STIME, CUTIME, CSTIME]
                    .iter()
                    .map(|&f| field(&stat, f))
                    .sum::<u64>();
            }
        }
    }
    Duration::from_secs_f64(used as f64 / ticks)
}
