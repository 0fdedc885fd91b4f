//! `sieve-connect` (Debian package sieve-connect) as a real ManageSieve client of the test's
//! congvu: STARTTLS trusting only the server's self-signed certificate, then AUTHENTICATE
//! PLAIN with the password on standard input, then one action (upload, list, activate…).
//!
//! Never skipped: where sieve-connect is missing, [`require`] fails the test and says how to
//! install it, as `.ci/run` does.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Fails the test, saying how to install it, where sieve-connect cannot run.
pub fn require() {
    let found = Command::new("sieve-connect")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "sieve-connect is not installed: apt-get install sieve-connect (.ci/run installs it)"
    );
}

/// Who signs in, to which server, trusting which certificate.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    pub addr: SocketAddr,
    /// The name the server's certificate carries.
    pub hostname: &'a str,
    /// The server's self-signed certificate, the only one trusted.
    pub certificate: &'a Path,
    pub user: &'a str,
    pub password: &'a str,
}

pub use crate::program::Run;

/// Runs sieve-connect for `account` with the action `args` (`["--list"]`, `["--upload",
/// "--localsieve", FILE, "--remotesieve", NAME]`…), in `dir`, on a thread of its own so the
/// test's server keeps serving.
pub async fn run(account: Account<'_>, dir: &Path, args: &[&str]) -> Run {
    let mut command = Command::new("sieve-connect");
    command
        .current_dir(dir)
        .args(["--server", &account.addr.ip().to_string()])
        .args(["--port", &account.addr.port().to_string()])
        .args(["--nosrv", "--noclearauth", "--authmech", "PLAIN"])
        .args(["--tlshostname", account.hostname])
        .arg("--tlscafile")
        .arg(account.certificate)
        .args(["--user", account.user, "--passwordfd", "0"])
        .args(args);
    let input = format!("{}\n", account.password);
    let output: Output = tokio::task::spawn_blocking(move || {
        crate::program::output_with_stdin(&mut command, input.as_bytes())
    })
    .await
    .unwrap();
    Run::from(output)
}
