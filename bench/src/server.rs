//! The congvu server as every benchmark runs it: the binaries named on the command line, the
//! configuration a workload writes for it, the certificate it presents, and the child process
//! it runs as (also used for the reference servers that stay in the foreground).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls::pki_types::CertificateDer;
use tokio_rustls::TlsConnector;

use crate::machine::{pinned, set_mode};

/// The province every benchmark seeds.
pub(crate) const DOMAIN: &str = "vinhphuc.gov.vn";
pub(crate) const HOSTNAME: &str = "mail.vinhphuc.gov.vn";

/// The congvu binaries a benchmark runs: the server under test and the CLI that seeds it as
/// an administrator would.
#[derive(Debug, clap::Args)]
pub struct Binaries {
    /// The congvu-server binary (build it with --release).
    #[arg(long, default_value = "target/release/congvu-server")]
    pub(crate) server: PathBuf,
    /// The congvu-admin binary that seeds congvu.
    #[arg(long, default_value = "target/release/congvu-admin")]
    pub(crate) admin: PathBuf,
}

impl Binaries {
    /// Fails, saying how to build them, when either binary is missing.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        check_binaries(&self.server, &self.admin)
    }
}

/// Fails, saying how to build them, when congvu-server or congvu-admin is missing.
pub(crate) fn check_binaries(server: &Path, admin: &Path) -> anyhow::Result<()> {
    for (what, path) in [("congvu-server", server), ("congvu-admin", admin)] {
        anyhow::ensure!(
            path.exists(),
            "{} not found: run `cargo build --release -p {what}` first",
            path.display()
        );
    }
    Ok(())
}

/// The database of the configurations written under `work`.
pub(crate) fn congvu_db_url(work: &Path) -> String {
    format!(
        "sqlite://{}",
        work.join("congvu-data").join("congvu.db").display()
    )
}

/// How the server presents TLS.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) enum Tls<'a> {
    /// A certificate congvu makes for itself.
    #[default]
    SelfSigned,
    /// The run's own certificate, which the clients trust ([`Certificate`]).
    Certificate(&'a Certificate),
}

/// What a workload sets in congvu's configuration. A listener left at port 0 is on a free
/// port nobody uses; everything not named here keeps congvu's default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config<'a> {
    /// `[server] log_level`, when not the default.
    pub(crate) log_level: Option<&'a str>,
    pub(crate) tls: Tls<'a>,
    pub(crate) smtp: u16,
    /// `[smtp] max_recipients`, when raised.
    pub(crate) max_recipients: Option<usize>,
    pub(crate) imaps: u16,
    /// `[imap] max_connections_per_official`, when raised.
    pub(crate) sessions_per_official: Option<usize>,
    pub(crate) ldap: u16,
    /// `[ldap] allow_plaintext_bind_on_loopback`, so the client need not pay for TLS.
    pub(crate) plaintext_ldap: bool,
    pub(crate) http: u16,
    /// `[http] public_url` on loopback, so the portal takes passwords over plain HTTP.
    pub(crate) http_public: bool,
    /// `[limits] max_connections_per_ip`.
    pub(crate) connections_per_ip: usize,
    /// Further sections, appended as they are (`[auth]`, `[inbound]`, `[dns]`, …).
    pub(crate) extra: &'a str,
}

impl Default for Config<'_> {
    fn default() -> Self {
        Config {
            log_level: None,
            tls: Tls::SelfSigned,
            smtp: 0,
            max_recipients: None,
            imaps: 0,
            sessions_per_official: None,
            ldap: 0,
            plaintext_ldap: false,
            http: 0,
            http_public: false,
            connections_per_ip: 1000,
            extra: "",
        }
    }
}

impl Config<'_> {
    /// Writes the configuration as `dir/name`, its data directory `dir/congvu-data`, shared
    /// by every configuration written under the same `dir`.
    pub(crate) fn write(&self, dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, self.render(dir))?;
        Ok(path)
    }

    fn render(&self, dir: &Path) -> String {
        let line = |set: bool, text: String| if set { text + "\n" } else { String::new() };
        let tls = match self.tls {
            Tls::SelfSigned => "self_signed = true\n".to_string(),
            Tls::Certificate(c) => format!(
                "cert = {:?}\nkey = {:?}\n",
                c.cert.display().to_string(),
                c.key.display().to_string()
            ),
        };
        format!(
            "[server]\nhostname = \"{HOSTNAME}\"\nprimary_domain = \"{DOMAIN}\"\ndata_dir = {data:?}\n\
             {log_level}\n\
             [database]\nurl = \"{db}\"\n\n\
             [tls]\n{tls}\n\
             [smtp]\nlisten = [\"127.0.0.1:{smtp}\"]\nsubmission_listen = [\"127.0.0.1:0\"]\n\
             submissions_listen = [\"127.0.0.1:0\"]\n{recipients}\n\
             [imap]\nlisten = [\"127.0.0.1:0\"]\nimaps_listen = [\"127.0.0.1:{imaps}\"]\n{sessions}\n\
             [ldap]\nlisten = [\"127.0.0.1:{ldap}\"]\nldaps_listen = [\"127.0.0.1:0\"]\n{plaintext}\n\
             [http]\nlisten = [\"127.0.0.1:{http}\"]\n{public}\n\
             [sieve]\nmanagesieve_listen = []\n\n\
             [limits]\nmax_connections_per_ip = {per_ip}\n\n{extra}",
            data = dir.join("congvu-data").display().to_string(),
            log_level = line(
                self.log_level.is_some(),
                format!("log_level = \"{}\"", self.log_level.unwrap_or_default())
            ),
            db = congvu_db_url(dir),
            smtp = self.smtp,
            recipients = line(
                self.max_recipients.is_some(),
                format!("max_recipients = {}", self.max_recipients.unwrap_or_default())
            ),
            imaps = self.imaps,
            sessions = line(
                self.sessions_per_official.is_some(),
                format!(
                    "max_connections_per_official = {}",
                    self.sessions_per_official.unwrap_or_default()
                )
            ),
            ldap = self.ldap,
            plaintext = line(
                self.plaintext_ldap,
                "allow_plaintext_bind_on_loopback = true".into()
            ),
            http = self.http,
            public = line(
                self.http_public,
                format!("public_url = \"http://127.0.0.1:{}/\"", self.http)
            ),
            per_ip = self.connections_per_ip,
            extra = self.extra,
        )
    }
}

/// One self-signed certificate for the run, presented by the servers and trusted by the
/// clients, so every side pays for the same TLS.
#[derive(Debug)]
pub(crate) struct Certificate {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    der: CertificateDer<'static>,
}

impl Certificate {
    /// A certificate for the mail host and loopback, written into `dir`.
    pub(crate) fn create(dir: &Path) -> anyhow::Result<Certificate> {
        let names = vec![HOSTNAME.to_string(), "localhost".into(), "127.0.0.1".into()];
        let made = rcgen::generate_simple_self_signed(names)?;
        std::fs::create_dir_all(dir)?;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem())?;
        std::fs::write(&key, made.key_pair.serialize_pem())?;
        set_mode(&key, 0o600)?;
        Ok(Certificate {
            cert,
            key,
            der: made.cert.der().clone(),
        })
    }

    /// A TLS client that trusts this certificate and nothing else.
    pub(crate) fn connector(&self) -> anyhow::Result<TlsConnector> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// congvu-server `binary` with `config`, started on `core` when pinning.
pub(crate) fn congvu_command(binary: &Path, config: &Path, core: Option<&str>) -> Command {
    let mut command = pinned(binary, core);
    command.arg("--config").arg(config);
    command
}

/// A server run as a child process in the foreground, its output appended to its log;
/// killed when dropped.
#[derive(Debug)]
pub(crate) struct Process {
    /// What errors call it.
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    pub(crate) fn start(
        name: impl Into<String>,
        mut command: Command,
        log: PathBuf,
    ) -> anyhow::Result<Process> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("while starting {command:?}"))?;
        Ok(Process {
            name: name.into(),
            child: Some(child),
            log,
        })
    }

    /// taskset execs the server, so the child's pid is the server's.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails once the server has exited: waiting for it to answer would be in vain.
    pub(crate) fn check_running(&mut self) -> anyhow::Result<()> {
        let child = self
            .child
            .as_mut()
            .with_context(|| format!("{} is not running", self.name))?;
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "{} exited with {status} before answering; see {}",
                self.name,
                self.log.display()
            );
        }
        Ok(())
    }

    /// SIGTERM, so the server shuts down gracefully (congvu closes its database, Dovecot's
    /// master stops every process it started), then SIGKILL after `grace`.
    pub(crate) fn stop(&mut self, grace: Duration) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        anyhow::bail!(
            "{} did not stop within {} s of SIGTERM",
            self.name,
            grace.as_secs()
        )
    }

    pub(crate) fn log_tail(&self) -> String {
        crate::process::log_tail(&self.log)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of label `name` among a series' labels as `/metrics` writes them
/// (`engine="rspamd",outcome="clean"`).
pub(crate) fn metric_label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels
        .split(',')
        .find_map(|l| l.strip_prefix(name)?.strip_prefix("=\""))
        .map(|v| v.trim_end_matches('"'))
}

/// The text of a congvu server's `/metrics` on the loopback HTTP `port`.
pub(crate) async fn scrape_metrics(port: u16) -> anyhow::Result<String> {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let client = reqwest::Client::builder().no_proxy().build()?;
    let response = client.get(&url).send().await?.error_for_status()?;
    Ok(response.text().await?)
}

#[cfg(test)]
mod tests {
    use super::{Config, DOMAIN, HOSTNAME};
    use std::path::Path;

    #[test]
    fn an_mx_configuration_names_every_listener_and_appends_its_sections() {
        let dir = Path::new("/work");
        let config = Config {
            smtp: 2525,
            max_recipients: Some(1000),
            extra: "[inbound]\nauthentication = \"off\"\n",
            ..Config::default()
        };
        let expected = format!(
            r#"[server]
hostname = "{HOSTNAME}"
primary_domain = "{DOMAIN}"
data_dir = "/work/congvu-data"

[database]
url = "sqlite:///work/congvu-data/congvu.db"

[tls]
self_signed = true

[smtp]
listen = ["127.0.0.1:2525"]
submission_listen = ["127.0.0.1:0"]
submissions_listen = ["127.0.0.1:0"]
max_recipients = 1000

[imap]
listen = ["127.0.0.1:0"]
imaps_listen = ["127.0.0.1:0"]

[ldap]
listen = ["127.0.0.1:0"]
ldaps_listen = ["127.0.0.1:0"]

[http]
listen = ["127.0.0.1:0"]

[sieve]
managesieve_listen = []

[limits]
max_connections_per_ip = 1000

[inbound]
authentication = "off"
"#
        );
        assert_eq!(config.render(dir), expected);
    }

    #[test]
    fn optional_settings_go_under_their_sections() {
        let config = Config {
            log_level: Some("warn"),
            ldap: 389,
            plaintext_ldap: true,
            http: 8080,
            http_public: true,
            ..Config::default()
        };
        let text = config.render(Path::new("/work"));
        assert!(
            text.contains("data_dir = \"/work/congvu-data\"\nlog_level = \"warn\"\n\n[database]")
        );
        assert!(text.contains(
            "listen = [\"127.0.0.1:389\"]\nldaps_listen = [\"127.0.0.1:0\"]\n\
             allow_plaintext_bind_on_loopback = true\n\n[http]"
        ));
        assert!(text.contains("public_url = \"http://127.0.0.1:8080/\"\n\n[sieve]"));
    }
}
