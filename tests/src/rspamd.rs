//! A private rspamd (Debian's `rspamd` 3.4) for one end-to-end test, on free loopback ports.
//!
//! This module owns the daemon's process, its configuration and its files. The top-level
//! configuration is ours: the stock modules, actions and scores of `/etc/rspamd`, a normal
//! worker and a controller on ports of our own (never 11332–11334 of a system instance), no
//! proxy and no fuzzy worker, and Bayes on the sqlite3 backend so that learning works
//! without redis. Tests run without network, so the modules that ask DNS (RBLs, SPF, DKIM,
//! DMARC, ARC, ASN, hfilter, …) are off and the resolver points at a dead port: their
//! timeouts would make verdicts slow and vary from run to run. congvu checks SPF, DKIM and
//! DMARC itself. The controller trusts loopback (`secure_ip`), so learning needs no
//! password.
//!
//! A benchmark may ask for more with [`Rspamd::start_with`]: a proxy worker in milter mode
//! for an MTA such as Postfix, passing messages on to the normal worker, and the
//! `antivirus` module asking a clamd about whole messages.
//!
//! rspamd compiles its regular expressions with hyperscan, which takes tens of seconds the
//! first time; the compiled cache is kept in one directory under the system's temporary
//! directory and shared by every instance, so later starts take about a second.
//!
//! A missing program is a failure, not a skip: [`Rspamd::start`] panics and names the
//! Debian package that `.ci/run` installs.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::daemon;

const RSPAMD: &str = "/usr/bin/rspamd";
const INSTALL_HINT: &str = "install the Debian package rspamd, as .ci/run does \
                            (apt-get install rspamd)";
/// How long rspamd may take to answer `/ping` on both workers.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How many daemons [`Rspamd::start_learnable`] starts before it gives up.
const LEARNABLE_ATTEMPTS: usize = 3;
/// The modules that send DNS queries, turned off (see the module header).
const DNS_MODULES: [&str; 10] = [
    "rbl",
    "asn",
    "spf",
    "dkim",
    "dmarc",
    "arc",
    "hfilter",
    "mx_check",
    "emails",
    "whitelist",
];

/// What [`Rspamd::start_with`] adds to the configuration [`Rspamd::start`] writes.
#[derive(Debug, Clone, Default)]
pub struct RspamdOptions {
    /// A proxy worker in milter mode on a free port ([`Rspamd::milter_port`]), handing each
    /// message to the normal worker.
    pub milter: bool,
    /// clamd's `HOST:PORT`: the `antivirus` module (type `clamav`) sends it every whole
    /// message, symbol `CLAM_VIRUS`.
    pub clamav: Option<String>,
    /// A regular expression: requests whose `MTA-Name` header matches it skip the antivirus
    /// check, for an MTA that asks clamd itself.
    pub antivirus_skip_mta: Option<String>,
}

/// A private rspamd. Dropping it kills the daemon and its workers.
#[derive(Debug)]
pub struct Rspamd {
    /// rspamd's main process, leader of its own process group, which its workers join.
    main: Child,
    normal_port: u16,
    controller_port: u16,
    milter_port: Option<u16>,
    /// Configuration, databases and logs, removed after the daemon has ended.
    dir: TempDir,
}

impl Rspamd {
    /// Starts rspamd and waits until both workers answer `/ping`. Panics, with the end of
    /// rspamd's log, if it is missing or does not start.
    pub async fn start() -> Rspamd {
        Rspamd::start_with(RspamdOptions::default()).await
    }

    /// [`Rspamd::start`], but a daemon whose controller can learn. On a loaded machine rspamd
    /// 3.4 now and then starts with a Bayes statfile its controller could not open (both
    /// workers create the sqlite3 files at once); such a controller leaves the statfile out of
    /// `/stat` and refuses every lesson for good, so it is replaced by a new daemon.
    pub async fn start_learnable() -> Rspamd {
        let mut failures = Vec::new();
        for _ in 0..LEARNABLE_ATTEMPTS {
            let daemon = Rspamd::start().await;
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            loop {
                match daemon.bayes_revisions().await {
                    Ok(_) => return daemon,
                    Err(last) if std::time::Instant::now() >= deadline => {
                        failures.push(format!("{last}\n{}", daemon.log()));
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
        panic!("no rspamd could learn:\n{}", failures.join("\n"));
    }

    /// How many lessons the Bayes statfiles hold, `(spam, ham)`, from the controller's
    /// `/stat`; the answer itself while it leaves either statfile out.
    pub async fn bayes_revisions(&self) -> Result<(u64, u64), String> {
        let url = format!("{}/stat", self.controller_url());
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let answer = match http.get(&url).send().await {
            Ok(response) => response.bytes().await.map_err(|e| e.to_string())?,
            Err(error) => return Err(error.to_string()),
        };
        let stat: serde_json::Value =
            serde_json::from_slice(&answer).map_err(|e| format!("{e}: {answer:?}"))?;
        let revision = |symbol: &str| {
            let statfiles = stat["statfiles"].as_array()?;
            let statfile = statfiles.iter().find(|f| f["symbol"] == symbol)?;
            statfile["revision"].as_u64()
        };
        match (revision("BAYES_SPAM"), revision("BAYES_HAM")) {
            (Some(spam), Some(ham)) => Ok((spam, ham)),
            _ => Err(stat.to_string()),
        }
    }

    /// [`Rspamd::start`] with `options`; with a milter worker it also waits until that
    /// accepts connections.
    pub async fn start_with(options: RspamdOptions) -> Rspamd {
        assert!(
            Path::new(RSPAMD).exists(),
            "{RSPAMD} is missing: {INSTALL_HINT}"
        );
        let dir = tempfile::Builder::new()
            .prefix("congvu-rspamd-")
            .tempdir()
            .unwrap();
        for sub in ["db", "run", "log", "override.d"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let (main, normal_port, controller_port, milter_port) =
            daemon::start_on_free_ports("rspamd", async || {
                let (normal_port, controller_port) = (daemon::free_port(), daemon::free_port());
                let milter_port = options.milter.then(daemon::free_port);
                write_configuration(dir.path(), normal_port, controller_port);
                write_options(dir.path(), &options, normal_port, milter_port);
                let mut main = spawn(dir.path());
                let ready = match wait_until_ready(&mut main, normal_port, controller_port).await {
                    Ok(()) => wait_for_milter(milter_port).await,
                    Err(failure) => Err(failure),
                };
                match ready {
                    Ok(()) => Ok((main, normal_port, controller_port, milter_port)),
                    Err(failure) => {
                        daemon::kill_process_group(&mut main);
                        Err(format!(
                            "ports {normal_port}/{controller_port}: {failure}\n{}",
                            log_tail(dir.path())
                        ))
                    }
                }
            })
            .await;
        Rspamd {
            main,
            normal_port,
            controller_port,
            milter_port,
            dir,
        }
    }

    /// The normal worker, for `[filter.rspamd] url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.normal_port)
    }

    /// The controller worker, for `[filter.rspamd] controller_url`.
    pub fn controller_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.controller_port)
    }

    /// The milter worker's port, for Postfix's `smtpd_milters = inet:127.0.0.1:PORT`.
    pub fn milter_port(&self) -> Option<u16> {
        self.milter_port
    }

    /// The end of rspamd's log, for a failing test's message.
    pub fn log(&self) -> String {
        log_tail(self.dir.path())
    }
}

impl Drop for Rspamd {
    fn drop(&mut self) {
        daemon::kill_process_group(&mut self.main);
    }
}

/// The directory every instance keeps its compiled hyperscan databases in.
fn hyperscan_cache() -> PathBuf {
    let dir = std::env::temp_dir().join("congvu-rspamd-hyperscan");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `rspamd.conf` and the `override.d` files under `dir`.
fn write_configuration(dir: &Path, normal_port: u16, controller_port: u16) {
    let top = format!(
        r#"# congvu's test rspamd: the stock rules, our own workers and statistics.
.include "$CONFDIR/metrics.conf"
.include "$CONFDIR/actions.conf"
.include "$CONFDIR/groups.conf"
.include "$CONFDIR/composites.conf"
.include "$CONFDIR/modules.conf"
.include "$CONFDIR/settings.conf"
lua = "$RULESDIR/rspamd.lua"
modules {{
  path = "${{PLUGINSDIR}}";
  fallback_path = "${{SHAREDIR}}/lua";
}}
classifier "bayes" {{
  tokenizer {{ name = "osb"; }}
  backend = "sqlite3";
  min_tokens = 11;
  min_learns = 200;
  cache {{ type = "sqlite3"; file = "$DBDIR/learn_cache.sqlite"; }}
  statfile {{ symbol = "BAYES_HAM"; spam = false; path = "$DBDIR/bayes.ham.sqlite"; }}
  statfile {{ symbol = "BAYES_SPAM"; spam = true; path = "$DBDIR/bayes.spam.sqlite"; }}
  learn_condition = 'return require("lua_bayes_learn").can_learn';
}}
options {{
  pidfile = "$RUNDIR/rspamd.pid";
  .include "$CONFDIR/options.inc"
  .include(priority=10) "$LOCAL_CONFDIR/override.d/options.inc"
}}
logging {{
  type = "file";
  filename = "$LOGDIR/rspamd.log";
  level = "info";
}}
worker "normal" {{
  bind_socket = "127.0.0.1:{normal_port}";
  .include "$CONFDIR/worker-normal.inc"
}}
worker "controller" {{
  bind_socket = "127.0.0.1:{controller_port}";
  .include "$CONFDIR/worker-controller.inc"
  secure_ip = "127.0.0.1";
}}
"#
    );
    std::fs::write(dir.join("rspamd.conf"), top).unwrap();
    let options = format!(
        r#"dns {{
  nameserver = ["127.0.0.1:1"];
  timeout = 0.05s;
  retransmits = 0;
}}
hs_cache_dir = "{}/";
"#,
        hyperscan_cache().display()
    );
    let overrides = dir.join("override.d");
    std::fs::write(overrides.join("options.inc"), options).unwrap();
    // fuzzy_check resolves rspamd.com's fuzzy servers while loading its configuration.
    for module in DNS_MODULES.iter().chain(&["fuzzy_check"]) {
        std::fs::write(
            overrides.join(format!("{module}.conf")),
            "enabled = false;\n",
        )
        .unwrap();
    }
}

/// Adds what `options` asks for to the configuration under `dir`: the milter worker in
/// `rspamd.conf`, the antivirus rule and the settings that skip it in `override.d`.
fn write_options(dir: &Path, options: &RspamdOptions, normal_port: u16, milter: Option<u16>) {
    if let Some(port) = milter {
        let worker = format!(
            r#"worker "rspamd_proxy" {{
  bind_socket = "127.0.0.1:{port}";
  milter = yes;
  timeout = 120s;
  count = 1;
  upstream "local" {{
    default = yes;
    hosts = "127.0.0.1:{normal_port}";
  }}
}}
"#
        );
        let mut top = std::fs::read_to_string(dir.join("rspamd.conf")).unwrap();
        top.push_str(&worker);
        std::fs::write(dir.join("rspamd.conf"), top).unwrap();
    }
    let overrides = dir.join("override.d");
    if let Some(servers) = &options.clamav {
        // Whole messages, as an MTA's own clamd client sends them, not part by part.
        let rule = format!(
            "clamav {{\n  type = \"clamav\";\n  servers = \"{servers}\";\n  \
             symbol = \"CLAM_VIRUS\";\n  action = \"reject\";\n  scan_mime_parts = false;\n  \
             timeout = 15.0;\n  retransmits = 0;\n}}\n"
        );
        std::fs::write(overrides.join("antivirus.conf"), rule).unwrap();
    }
    if let Some(mta) = &options.antivirus_skip_mta {
        let settings = format!(
            "skip_antivirus {{\n  priority = high;\n  request_header = {{ \"MTA-Name\" = \"{mta}\"; }}\n  \
             apply {{ symbols_disabled = [\"CLAM_VIRUS\"]; }}\n}}\n"
        );
        std::fs::write(overrides.join("settings.conf"), settings).unwrap();
    }
}

/// Waits until the milter worker, if there is one, accepts a connection.
async fn wait_for_milter(port: Option<u16>) -> Result<(), String> {
    let Some(port) = port else {
        return Ok(());
    };
    let deadline = tokio::time::Instant::now() + READY_WITHIN;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("the milter worker did not listen on {port}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Starts rspamd in the foreground on the configuration under `dir`.
fn spawn(dir: &Path) -> Child {
    let var = |name: &str, sub: &str| format!("--var={name}={}", dir.join(sub).display());
    let output = File::create(dir.join("log/rspamd.out")).unwrap();
    let mut command = Command::new(RSPAMD);
    command
        .arg("-f")
        .arg("-c")
        .arg(dir.join("rspamd.conf"))
        .arg(var("DBDIR", "db"))
        .arg(var("RUNDIR", "run"))
        .arg(var("LOGDIR", "log"))
        .arg("--var=CONFDIR=/etc/rspamd")
        .arg(format!("--var=LOCAL_CONFDIR={}", dir.display()));
    if running_as_root() {
        // rspamd refuses to run its workers as root unless told to, and then wants a user.
        command.args(["-i", "-u", "root", "-g", "root"]);
    }
    let spawned = command
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        // Its own process group, which the workers join: see `Drop for Rspamd`.
        .process_group(0)
        .spawn();
    match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!("{RSPAMD} is missing: {INSTALL_HINT}"),
        Err(e) => panic!("starting {RSPAMD}: {e}"),
    }
}

/// Whether this process runs as root: `/proc/self` belongs to the effective user.
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Polls both workers' `/ping` until they answer `pong`.
async fn wait_until_ready(main: &mut Child, normal: u16, controller: u16) -> Result<(), String> {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let pong = async |port: u16| {
        let url = format!("http://127.0.0.1:{port}/ping");
        match http.get(&url).send().await {
            Ok(response) => response.text().await.unwrap_or_default().trim() == "pong",
            Err(_) => false,
        }
    };
    daemon::wait_until_ready(
        main,
        "rspamd",
        READY_WITHIN,
        "pong on both workers",
        async || pong(normal).await && pong(controller).await,
    )
    .await
}

/// The last lines of what rspamd printed and of its log.
fn log_tail(dir: &Path) -> String {
    daemon::log_tail(&[dir.join("log/rspamd.out"), dir.join("log/rspamd.log")])
}
