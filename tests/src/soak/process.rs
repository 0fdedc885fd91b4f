//! The soak's server and its database: a scratch database (a SQLite file in a temporary
//! directory, or a fresh schema on a PostgreSQL server) seeded with the soak's province, the
//! configuration file for the real `congvu-server` binary, and that binary as a child
//! process: started, followed through its JSON log until ready, killed with SIGKILL.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use congvu::clock::Clock;
use congvu::directory::{
    Actor, AgencyLevel, Argon2Cost, Directory, NewAgency, NewDomain, NewOfficial, OfficialId,
    PasswordCost, PasswordHasher, PersonName, StoredPassword,
};
use congvu::mailstore::Mailstore;
use congvu::store::{Store, StoreOptions};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sqlx::Connection as _;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ledger::{password, Folder, DOMAIN, IMAP_OFFICIALS, OFFICIALS};
use super::wire::HOSTNAME;
use super::SoakDatabase;

/// Log lines kept to explain a server that would not start or died on its own.
const LOG_TAIL: usize = 60;

/// argon2id parameters cheap enough for hundreds of logins a minute on two cores.
const CHEAP: Argon2Cost = Argon2Cost {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// The soak's database and working directory; a PostgreSQL schema is dropped with it unless
/// kept for inspection.
#[derive(Debug)]
pub struct Scratch {
    /// Removed with the scratch unless kept.
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    /// The database, as the checks open it.
    pub url: String,
    /// The database, as the server opens it: on PostgreSQL its connections carry an
    /// `application_name` of their own, so that the checks can wait for them to end.
    server_url: String,
    /// PostgreSQL: the server's URL and the schema created there.
    schema: Option<(String, String)>,
}

impl Scratch {
    /// A new empty database.
    pub async fn create(database: &SoakDatabase) -> anyhow::Result<Scratch> {
        let dir = tempfile::Builder::new().prefix("congvu-soak-").tempdir()?;
        match database {
            SoakDatabase::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("data/congvu.db").display());
                Ok(Scratch {
                    root: dir.path().to_path_buf(),
                    dir: Some(dir),
                    server_url: url.clone(),
                    url,
                    schema: None,
                })
            }
            SoakDatabase::Postgres { url: base } => {
                let schema = format!(
                    "congvu_soak_{}_{}",
                    std::process::id(),
                    rand::random::<u32>()
                );
                let mut conn = sqlx::PgConnection::connect(base)
                    .await
                    .with_context(|| format!("cannot reach PostgreSQL at {base}"))?;
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .await?;
                let _ = conn.close().await;
                let separator = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
                Ok(Scratch {
                    root: dir.path().to_path_buf(),
                    dir: Some(dir),
                    server_url: format!("{url}&application_name={schema}"),
                    url,
                    schema: Some((base.clone(), schema)),
                })
            }
        }
    }

    /// Keeps the directory and the schema after the soak, for a look at what went wrong;
    /// returns where they are.
    pub fn keep(&mut self) -> String {
        let path = match self.dir.take() {
            Some(dir) => dir.keep(),
            None => self.root.clone(),
        };
        match self.schema.take() {
            Some((_, schema)) => format!("{} (schema {schema}: {})", path.display(), self.url),
            None => format!("{} ({})", path.display(), self.url),
        }
    }

    /// The soak's working directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The PEM of the server's self-signed certificate, once it has started once.
    pub fn certificate(&self) -> PathBuf {
        self.root.join("data/tls/self-signed-cert.pem")
    }

    /// Waits until no connection of a server that was killed is left. A SIGKILL stops the
    /// process, not the PostgreSQL backends serving it: a backend goes on with the statement
    /// (a COMMIT included) it had been sent and ends when it finds its client gone. Until
    /// then a check could read the database as it was before that COMMIT. Returns how long
    /// that took, or `Err` past `within`. Nothing to wait for on SQLite, which dies with the
    /// process.
    pub async fn wait_for_server_connections(&self, within: Duration) -> Result<Duration, String> {
        let Some((_, schema)) = &self.schema else {
            return Ok(Duration::ZERO);
        };
        let started = Instant::now();
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .map_err(|e| format!("cannot reach PostgreSQL: {e}"))?;
        let sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1";
        loop {
            let left: i64 = sqlx::query_scalar(sql)
                .bind(schema)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| format!("cannot read pg_stat_activity: {e}"))?;
            if left == 0 {
                let _ = conn.close().await;
                return Ok(started.elapsed());
            }
            if started.elapsed() > within {
                return Err(format!(
                    "{left} connections of the killed server still open after {within:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The database opened in this process (migrated), for seeding and checking.
    pub async fn open(&self) -> anyhow::Result<Store> {
        let options = StoreOptions {
            url: self.url.clone(),
            max_connections: 2,
            busy_timeout: Duration::from_secs(10),
        };
        Store::open(&options)
            .await
            .map_err(|e| anyhow!("cannot open {}: {e}", self.url))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some((base, schema)) = self.schema.take() else {
            return;
        };
        // Drop may run inside the soak's runtime: a thread with its own runtime can block.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Seeds the province: the domain, an agency, every official with a password, and the
/// archive folder of each IMAP official. Returns each official's id.
pub async fn seed(scratch: &Scratch) -> anyhow::Result<Vec<(&'static str, OfficialId)>> {
    let store = scratch.open().await?;
    let clock = Clock::system();
    let directory = Directory::new(store.clone(), clock.clone());
    let mailstore = Mailstore::new(store.clone(), clock);
    let admin = Actor::admin("soak");
    let mut domain = NewDomain::new(DOMAIN);
    domain.is_primary = true;
    directory.add_domain(&admin, domain).await?;
    for (code, name, level, parent) in [
        (
            "vinhphuc",
            "UBND tỉnh Vĩnh Phúc",
            AgencyLevel::Province,
            None,
        ),
        (
            "snv",
            "Sở Nội vụ",
            AgencyLevel::Department,
            Some("vinhphuc"),
        ),
    ] {
        let agency = NewAgency {
            code: code.into(),
            name: name.into(),
            level,
            parent_code: parent.map(str::to_string),
            domain: None,
            mail_address: None,
        };
        directory.add_agency(&admin, agency).await?;
    }
    let hasher = PasswordHasher::new(CHEAP);
    let mut ids = Vec::new();
    for (login, full_name) in OFFICIALS {
        let official = NewOfficial {
            login: login.into(),
            name: PersonName::from_full(full_name).map_err(|e| anyhow!("{full_name}: {e}"))?,
            display_name: None,
            primary_address: format!("{login}@{DOMAIN}"),
            agency_code: "snv".into(),
            unit: None,
            title: None,
            phone: None,
            hr_id: None,
            quota_bytes: None,
            password: Some(StoredPassword {
                hash: hasher.hash(&password(login), PasswordCost::Full)?,
                cost: PasswordCost::Full,
                must_change: false,
            }),
        };
        directory.add_official(&admin, official).await?;
        let official = directory.official(login).await?;
        if IMAP_OFFICIALS.contains(&login) {
            mailstore
                .create_folder(&official, Folder::Archive.name())
                .await?;
        }
        ids.push((login, official.id));
    }
    store.close().await;
    Ok(ids)
}

/// Writes the server's configuration: the MX, submission (STARTTLS) and submissions
/// (implicit TLS) listeners and IMAPS on free loopback ports, JSON logs, a self-signed
/// certificate, cheap password hashing, and the outbound queue relaying everything to
/// `smart_host`, polling every second and with the shortest lease, so that entries a killed
/// server held are taken up again within the soak.
pub fn write_config(scratch: &Scratch, smart_host: &str) -> anyhow::Result<PathBuf> {
    let any = "['127.0.0.1:0']";
    let text = format!(
        "[server]\n\
         hostname = '{HOSTNAME}'\n\
         primary_domain = '{DOMAIN}'\n\
         data_dir = '{data}'\n\
         log_format = 'json'\n\
         shutdown_grace_seconds = 2\n\
         \n\
         [database]\n\
         url = '{url}'\n\
         \n\
         [tls]\n\
         self_signed = true\n\
         \n\
         [inbound]\n\
         authentication = 'off'\n\
         \n\
         [auth]\n\
         argon2_memory_kib = {memory}\n\
         argon2_iterations = {iterations}\n\
         \n\
         [smtp]\n\
         listen = {any}\n\
         submission_listen = {any}\n\
         submissions_listen = {any}\n\
         \n\
         [imap]\n\
         listen = []\n\
         imaps_listen = {any}\n\
         \n\
         [ldap]\n\
         listen = []\n\
         ldaps_listen = []\n\
         \n\
         [http]\n\
         listen = []\n\
         \n\
         [sieve]\n\
         managesieve_listen = []\n\
         \n\
         [queue]\n\
         smart_host = '{smart_host}'\n\
         poll_seconds = 1\n\
         lease_seconds = 10\n\
         connect_timeout_seconds = 5\n\
         command_timeout_seconds = 30\n",
        data = scratch.root.join("data").display(),
        url = scratch.server_url,
        memory = CHEAP.memory_kib,
        iterations = CHEAP.iterations,
    );
    let path = scratch.root.join("soak.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Where the server listens, from its `listening` log lines.
#[derive(Debug, Clone, Copy)]
pub struct Listeners {
    pub mx: SocketAddr,
    pub submission: SocketAddr,
    pub submissions: SocketAddr,
    pub imaps: SocketAddr,
}

/// The server binary as a child process; its log is read on a thread, so that it never
/// blocks on a full pipe.
#[derive(Debug)]
pub struct ServerChild {
    child: Child,
    log: mpsc::UnboundedReceiver<String>,
    tail: VecDeque<String>,
}

impl ServerChild {
    /// Starts `binary` with `config`, in `dir`.
    pub fn spawn(binary: &Path, config: &Path, dir: &Path) -> anyhow::Result<ServerChild> {
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(config)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow!("no stderr pipe"))?;
        let (lines, log) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(ServerChild {
            child,
            log,
            tail: VecDeque::new(),
        })
    }

    /// Waits for `congvu ready`; returns the listeners, or the log's last lines as the error.
    pub async fn ready(&mut self, within: Duration) -> Result<Listeners, String> {
        let deadline = Instant::now() + within;
        let mut found: HashMap<String, SocketAddr> = HashMap::new();
        loop {
            let line = match tokio::time::timeout_at(deadline, self.log.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => return Err(format!("the server exited; log:\n{}", self.tail())),
                Err(_) => return Err(format!("not ready in {within:?}; log:\n{}", self.tail())),
            };
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                if event["message"] == "listening" {
                    let name = event["listener"].as_str().unwrap_or_default().to_string();
                    if let Some(addr) = event["address"].as_str().and_then(|a| a.parse().ok()) {
                        found.insert(name, addr);
                    }
                }
                if event["message"] == "congvu ready" {
                    return self.listeners(&found);
                }
            }
            self.remember(line);
        }
    }

    fn listeners(&self, found: &HashMap<String, SocketAddr>) -> Result<Listeners, String> {
        let get = |name: &str| {
            found
                .get(name)
                .copied()
                .ok_or_else(|| format!("no {name} listener; log:\n{}", self.tail()))
        };
        Ok(Listeners {
            mx: get("smtp")?,
            submission: get("submission")?,
            submissions: get("submissions")?,
            imaps: get("imaps")?,
        })
    }

    fn remember(&mut self, line: String) {
        if self.tail.len() == LOG_TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    /// The last log lines read, with whatever is still waiting in the pipe.
    pub fn tail(&self) -> String {
        self.tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Takes in the log lines written since the last look (keeping the last few), so that a
    /// long round does not pile them up.
    pub fn drain_log(&mut self) {
        while let Ok(line) = self.log.try_recv() {
            self.remember(line);
        }
    }

    /// SIGKILL: no shutdown, no flush, nothing the server can do about it. `Err` with the
    /// exit status and log when the process had already ended on its own.
    pub fn kill_hard(&mut self) -> Result<(), String> {
        self.drain_log();
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(format!(
                "the server ended on its own ({status}) before the kill; log:\n{}",
                self.tail()
            ));
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        kill(pid, Signal::SIGKILL).map_err(|e| format!("cannot kill {pid}: {e}"))?;
        match self.child.wait() {
            Ok(status) if killed_by_sigkill(status) => Ok(()),
            Ok(status) => Err(format!(
                "the server ended with {status}, not by the kill; log:\n{}",
                self.tail()
            )),
            Err(e) => Err(format!("cannot wait for the server: {e}")),
        }
    }

    /// SIGTERM, then up to `grace` for a clean exit, then SIGKILL. Returns the exit status.
    pub async fn terminate(&mut self, grace: Duration) -> Result<ExitStatus, String> {
        let pid = Pid::from_raw(self.child.id() as i32);
        kill(pid, Signal::SIGTERM).map_err(|e| format!("cannot signal {pid}: {e}"))?;
        let deadline = Instant::now() + grace;
        loop {
            self.drain_log();
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(None) => {
                    let _ = self.kill_hard();
                    return Err(format!(
                        "no exit within {grace:?} of SIGTERM; log:\n{}",
                        self.tail()
                    ));
                }
                Err(e) => return Err(format!("cannot wait for the server: {e}")),
            }
        }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn killed_by_sigkill(status: ExitStatus) -> bool {
    std::os::unix::process::ExitStatusExt::signal(&status) == Some(Signal::SIGKILL as i32)
}
