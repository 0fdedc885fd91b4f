//! The real `congvu-server` binary (see tests/Cargo.toml), started as a child process with a config file, and
//! followed through its JSON log lines on standard error.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use congvu_tests::TestDb;

/// The path of the `congvu-server` binary built for this test run.
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_e2e-congvu-server"))
}

/// The repository root (for `config/congvu.toml`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A running `congvu-server` child process.
#[derive(Debug)]
pub struct ServerProcess {
    pub child: Child,
    stderr: BufReader<ChildStderr>,
    /// Every log line read so far.
    pub log: Vec<String>,
}

/// How a process run to completion ended.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stderr: String,
}

/// Runs the server with `args` in `dir` and `env`, expecting it to exit on its own.
pub fn run_to_exit(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Finished {
    let output = Command::new(server_binary())
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Finished {
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl ServerProcess {
    /// Starts the server with `--config config_path` in `dir`, with `env` added.
    pub fn spawn(config_path: &Path, dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let mut child = Command::new(server_binary())
            .arg("--config")
            .arg(config_path)
            .current_dir(dir)
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        ServerProcess {
            child,
            stderr,
            log: Vec::new(),
        }
    }

    /// Reads log lines until one whose message is `message`; panics on exit or timeout.
    pub fn wait_for_message(&mut self, message: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            assert!(
                Instant::now() < deadline,
                "no {message:?} in time; log so far:\n{}",
                self.log.join("\n")
            );
            let mut line = String::new();
            let n = self.stderr.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "server exited before {message:?}; log:\n{}",
                self.log.join("\n")
            );
            self.log.push(line.trim_end().to_string());
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                if event["message"] == message {
                    return event;
                }
            }
        }
    }

    /// The addresses the server logged as `listening`, by listener name.
    pub fn listeners(&self) -> HashMap<String, SocketAddr> {
        self.log
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["message"] == "listening")
            .map(|e| {
                (
                    e["listener"].as_str().unwrap().to_string(),
                    e["address"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the exit; returns the exit code and
    /// the rest of the log.
    pub fn terminate(mut self, timeout: Duration) -> (Option<i32>, Vec<String>) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stderr, &mut rest);
        self.log.extend(rest.lines().map(str::to_string));
        (status.code(), std::mem::take(&mut self.log))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every listener section and key of the configuration, for [`binary_config`].
const LISTENERS: [(&str, &str); 9] = [
    ("smtp", "listen"),
    ("smtp", "submission_listen"),
    ("smtp", "submissions_listen"),
    ("imap", "listen"),
    ("imap", "imaps_listen"),
    ("ldap", "listen"),
    ("ldap", "ldaps_listen"),
    ("http", "listen"),
    ("sieve", "managesieve_listen"),
];

/// Writes `name` in the test's directory: a configuration for the server binary over `db`
/// with JSON logs, a self-signed certificate, cheap password hashing, `grace` to shut down,
/// and only the listeners in `open` (as `(section, key)`), each on a free loopback port.
pub fn binary_config(db: &TestDb, name: &str, open: &[(&str, &str)], grace: Duration) -> PathBuf {
    let mut text = format!(
        "[server]\n\
         hostname = 'mail.vinhphuc.gov.vn'\n\
         primary_domain = 'vinhphuc.gov.vn'\n\
         data_dir = '{}'\n\
         log_format = 'json'\n\
         shutdown_grace_seconds = {}\n\
         \n\
         [database]\n\
         url = '{}'\n\
         \n\
         [tls]\n\
         self_signed = true\n\
         \n\
         [inbound]\n\
         authentication = 'off'\n\
         \n\
         [auth]\n\
         argon2_memory_kib = 64\n\
         argon2_iterations = 1\n",
        db.dir.path().join("data").display(),
        grace.as_secs(),
        db.url
    );
    for section in ["smtp", "imap", "ldap", "http", "sieve"] {
        text.push_str(&format!("\n[{section}]\n"));
        for (_, key) in LISTENERS.iter().filter(|(s, _)| *s == section) {
            let value = if open.contains(&(section, *key)) {
                "['127.0.0.1:0']"
            } else {
                "[]"
            };
            text.push_str(&format!("{key} = {value}\n"));
        }
    }
    let path = db.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}
