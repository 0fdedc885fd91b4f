//! Roundcube (Debian packages roundcube-core and roundcube-plugins) as the webmail of the
//! test's congvu: `contrib/roundcube/check.php` runs Roundcube's own IMAP, SMTP, LDAP and
//! ManageSieve code under `php` with the shipped `contrib/roundcube/config.inc.php`, the
//! host, ports, CA file and secrets substituted.
//!
//! This module owns finding what the check needs and running it; what the check printed is
//! for the test to judge. Never skipped: where something is missing, [`require`] fails the
//! test and says how to install it, as `.ci/run` does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The Debian packages of everything the check runs.
const PACKAGES: &str = "php-cli roundcube-core roundcube-sqlite3 roundcube-plugins php-net-sieve php-net-ldap3 php-ldap php-mbstring";

/// What must be there for the check to run: each with what it is.
const NEEDED: [(&str, &str); 5] = [
    (
        "/var/lib/roundcube/program/include/clisetup.php",
        "Roundcube",
    ),
    (
        "/var/lib/roundcube/plugins/managesieve/managesieve.php",
        "the managesieve plugin",
    ),
    ("/usr/share/php/Net/Sieve.php", "Net_Sieve"),
    ("/usr/share/php/Net/LDAP3.php", "Net_LDAP3"),
    ("/etc/roundcube/defaults.inc.php", "Roundcube's defaults"),
];

/// Fails the test, saying how to install it, where the check cannot run.
pub fn require() {
    let php = Command::new("php")
        .args(["-r", "exit(extension_loaded('ldap') && extension_loaded('mbstring') && extension_loaded('pdo_sqlite') ? 0 : 3);"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        php.is_ok_and(|s| s.success()),
        "php with its ldap, mbstring and sqlite3 extensions is not installed: apt-get install {PACKAGES} (.ci/run installs them)"
    );
    for (path, what) in NEEDED {
        assert!(
            Path::new(path).exists(),
            "{what} is not installed ({path} is missing): apt-get install {PACKAGES} (.ci/run installs them)"
        );
    }
}

/// The repository's `contrib/roundcube/` directory: the shipped config and the check.
pub fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/roundcube")
}

/// Where congvu listens, for the substitutions the check makes.
#[derive(Debug, Clone)]
pub struct Target {
    /// A name the server's certificate carries and that resolves to its listeners.
    pub host: String,
    pub imap_port: u16,
    pub smtp_port: u16,
    pub ldap_port: u16,
    pub sieve_port: u16,
    /// The server's certificate, the only one trusted.
    pub cafile: PathBuf,
    /// The secret of the service account the address book binds as.
    pub ldap_secret: String,
}

/// Who signs in to the webmail, and what the check does as them.
#[derive(Debug, Clone, Copy)]
pub struct Official<'a> {
    pub user: &'a str,
    pub password: &'a str,
    /// The colleague the check writes to.
    pub to: &'a str,
    /// What the check types into the address book's search.
    pub search: &'a str,
}

pub use crate::program::Run;

impl Run {
    /// What the check printed after `ok STEP: ` for `step`; fails the test if the step did
    /// not succeed.
    pub fn step(&self, step: &str) -> &str {
        let prefix = format!("ok {step}: ");
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no \"{prefix}\" line: {self:?}"))
    }
}

/// Runs `check.php` for `official` against `target`, with Roundcube's database, logs and
/// temporary files under `workdir`, on a thread of its own so the test's server keeps serving.
pub async fn run(target: &Target, official: Official<'_>, workdir: &Path) -> Run {
    let mut command = Command::new("php");
    command
        .arg(contrib().join("check.php"))
        .arg("--config")
        .arg(contrib().join("config.inc.php"))
        .arg("--workdir")
        .arg(workdir)
        .args(["--host", &target.host])
        .args(["--imap-port", &target.imap_port.to_string()])
        .args(["--smtp-port", &target.smtp_port.to_string()])
        .args(["--ldap-port", &target.ldap_port.to_string()])
        .args(["--sieve-port", &target.sieve_port.to_string()])
        .arg("--cafile")
        .arg(&target.cafile)
        .args(["--user", official.user, "--to", official.to])
        .args(["--search", official.search])
        .env("CONGVU_CHECK_PASSWORD", official.password)
        .env("CONGVU_CHECK_LDAP_SECRET", &target.ldap_secret)
        .stdin(Stdio::null());
    let output: Output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    Run::from(output)
}
